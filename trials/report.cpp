// The report's JSON and files; the HTML page is in report_html.cpp.
#include "trials/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace ami::trials {

using nlohmann::json;

TrialRecord Judge(History history, const CheckOptions& options) {
  auto violations = CheckAll(history, options);
  return {std::move(history), std::move(violations)};
}

std::string ReplayCommand(const History& h) {
  if (!h.replay.empty()) return h.replay;
  const auto& o = h.schedule.options;
  char minutes[32];
  std::snprintf(minutes, sizeof minutes, "%g", static_cast<double>(o.duration_ms) / 60000.0);
  return "scripts/trials --trials 1 --nodes " + std::to_string(o.nodes) + " --seed " + std::to_string(o.seed) +
         " --minutes " + minutes;
}

int64_t Percentile(std::vector<int64_t> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

namespace {

json FaultCounts(const History& h) {
  json counts = json::object();
  for (FaultKind k : InjectionKinds()) counts[KindName(k)] = 0;
  for (const auto& a : h.faults)
    if (a.error.empty() && IsInjection(a.fault.kind)) counts[KindName(a.fault.kind)] = counts[KindName(a.fault.kind)].get<int>() + 1;
  return counts;
}

size_t Placed(const History& h, OrderEventKind kind) {
  return static_cast<size_t>(
      std::count_if(h.orders.begin(), h.orders.end(), [&](const OrderEvent& e) { return e.kind == kind; }));
}

json ViolationJson(const Violation& v) {
  json j{{"checker", v.checker}, {"kind", v.kind}, {"message", v.message}};
  if (v.at) j["at"] = *v.at;
  return j;
}

}  // namespace

json ReportJson(const std::vector<TrialRecord>& trials) {
  json entries = json::array();
  json faults = json::object();
  for (FaultKind k : InjectionKinds()) faults[KindName(k)] = 0;
  std::vector<int64_t> failover_ms;
  size_t passed = 0, failovers = 0, refused = 0, placed = 0, writes = 0, not_applied = 0;
  std::vector<Violation> all;
  for (const auto& t : trials) {
    const History& h = t.history;
    passed += t.passed();
    json trial_faults = FaultCounts(h);
    for (auto& [kind, n] : trial_faults.items()) faults[kind] = faults[kind].get<int>() + n.get<int>();
    for (const auto& a : h.faults) not_applied += !a.error.empty();
    json fo = json::array();
    for (const auto& f : FindFailovers(h)) {
      fo.push_back({{"worker", f.worker}, {"from", f.from}, {"to", f.to}, {"ms", f.ms()}, {"cause", f.cause}});
      failover_ms.push_back(f.ms());
      ++failovers;
    }
    const size_t trial_refused = Placed(h, OrderEventKind::kRefusedStale);
    refused += trial_refused;
    placed += Placed(h, OrderEventKind::kPlaced);
    writes += h.kv_writes.size();
    json violations = json::array();
    for (const auto& v : t.violations) violations.push_back(ViolationJson(v));
    all.insert(all.end(), t.violations.begin(), t.violations.end());
    json schedule = json::array();
    for (const auto& x : h.schedule.faults) schedule.push_back(FormatFault(x));
    entries.push_back({{"seed", h.schedule.options.seed},
                       {"nodes", h.schedule.options.nodes},
                       {"duration_ms", h.schedule.options.duration_ms},
                       {"ttl_ms", h.schedule.options.ttl_ms},
                       {"result", t.passed() ? "pass" : "fail"},
                       {"violations", violations},
                       {"replay", ReplayCommand(h)},
                       {"faults", trial_faults},
                       {"failovers", fo},
                       {"orders_placed", Placed(h, OrderEventKind::kPlaced)},
                       {"stale_orders_refused", trial_refused},
                       {"acked_writes", h.kv_writes.size()},
                       {"schedule", schedule}});
  }
  json percentiles = nullptr;
  if (!failover_ms.empty())
    percentiles = {{"p50", Percentile(failover_ms, 50)},
                   {"p99", Percentile(failover_ms, 99)},
                   {"max", *std::max_element(failover_ms.begin(), failover_ms.end())}};
  json totals{{"trials", trials.size()},
              {"passed", passed},
              {"failed", trials.size() - passed},
              {"faults", faults},
              {"faults_not_applied", not_applied},
              {"failovers", failovers},
              {"failover_ms", percentiles},
              {"overlaps", Count(all, "overlap")},
              {"term_regressions", Count(all, "term_went_back")},
              {"duplicate_orders", Count(all, "duplicate_order")},
              {"stale_orders_accepted", Count(all, "stale_order_accepted")},
              {"stale_orders_refused", refused},
              {"grid_levels_doubled", Count(all, "grid_level_doubled")},
              {"untraceable_orders", Count(all, "untraceable_order") + Count(all, "term_shared")},
              {"orders_placed", placed},
              {"acked_writes", writes},
              {"acked_writes_lost", Count(all, "acked_write_lost")},
              {"digest_mismatches", Count(all, "digest_mismatch")},
              {"digests_late", Count(all, "digests_late") + Count(all, "no_final_state")},
              {"liveness_failures", Count(all, "no_leader_after_heal") + Count(all, "no_heal")}};
  return {{"totals", totals}, {"trials", entries}};
}

std::string EscapeHtml(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

void WriteReport(const std::filesystem::path& dir, const std::vector<TrialRecord>& trials) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) throw std::runtime_error("cannot write " + (dir / name).string());
  };
  write("trials-report.json", ReportJson(trials).dump(2) + "\n");
  // Every trial's whole history, one JSON line each (HistoryFromJson reads it back): a
  // campaign can be judged again after a checker or a measure changes.
  std::string histories;
  for (const auto& t : trials) histories += ToJson(t.history).dump() + "\n";
  write("trials-histories.jsonl", histories);
  write("trials-report.html", ReportHtml(trials));
}

}  // namespace ami::trials
