// The trials report (docs/reliability.md, "Reading the report"): trials-report.json with
// the totals and one entry per trial, and trials-report.html — a self-contained page (no
// scripts, no network) with the totals table and a timeline picture per trial.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "trials/checkers.h"
#include "trials/history.h"

namespace ami::trials {

// A judged trial.
struct TrialRecord {
  History history;
  std::vector<Violation> violations;
  bool passed() const { return violations.empty(); }
};
// Runs CheckAll on `history`.
TrialRecord Judge(History history, const CheckOptions& options = {});

// history.replay, else "scripts/trials --trials 1 --nodes N --seed S --minutes M".
std::string ReplayCommand(const History& history);

// Nearest-rank percentile (p in (0, 100]) of `values`; 0 for none.
int64_t Percentile(std::vector<int64_t> values, double p);

// {"totals": {...}, "trials": [...]}. totals: trials, passed, failed, faults {kind: count}
// (applied injections, every kind listed), faults_not_applied, failovers, failover_ms
// {p50, p99, max} (null without failovers), overlaps, term_regressions, duplicate_orders,
// stale_orders_accepted, stale_orders_refused, grid_levels_doubled, untraceable_orders,
// orders_placed, acked_writes, acked_writes_lost, digest_mismatches, digests_late,
// liveness_failures. Each trial: seed, nodes, duration_ms, ttl_ms, result ("pass"/"fail"),
// violations [{checker, kind, message, at?}], replay, faults {kind: count}, failovers
// [{worker, from, to, ms, cause}], orders_placed, stale_orders_refused, acked_writes,
// schedule (FormatSchedule lines).
nlohmann::json ReportJson(const std::vector<TrialRecord>& trials);

// The HTML page: heading, totals table, legend, then per trial a <section> holding one
// <svg class="timeline"> (a row per node: leader spans per worker, down/frozen/cut-off
// stretches, slow disk, restarts, orders; heals as green lines; violations as red marks
// with their sentence on hover), its violations and its schedule. Well-formed XML.
std::string ReportHtml(const std::vector<TrialRecord>& trials);

// Writes `dir`/trials-report.json, `dir`/trials-report.html and the histories behind them,
// `dir`/trials-histories.jsonl (one trial's ToJson(History) a line), creating `dir`; throws
// std::runtime_error when a file cannot be written.
void WriteReport(const std::filesystem::path& dir, const std::vector<TrialRecord>& trials);

// Text for HTML content and attribute values.
std::string EscapeHtml(const std::string& text);

}  // namespace ami::trials
