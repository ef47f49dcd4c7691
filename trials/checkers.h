// The judges of a fault trial (docs/reliability.md): each reads a History and returns
// its violations, one clear sentence each naming the nodes, terms, ids, keys and times
// involved. No violations = the property held in this trial.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "trials/history.h"

namespace ami::trials {

struct Violation {
  std::string checker;  // "leases", "orders", "kv", "liveness"
  // leases: "overlap", "term_went_back"; orders: "duplicate_order", "stale_order_accepted",
  // "grid_level_doubled", "untraceable_order", "term_shared"; kv: "acked_write_lost",
  // "digest_mismatch", "digests_late", "no_final_state"; liveness: "no_heal", "no_leader_after_heal".
  std::string kind;
  std::string message;
  std::optional<int64_t> at = {};  // wall ms where it shows on the timeline, when it has one
  bool operator==(const Violation&) const = default;
};

struct CheckOptions {
  int64_t leader_grace_ms = 1'000;   // liveness: a leader runs within TTL + this after the last heal
  int64_t digest_window_ms = 1'000;  // kv: all digests equal within this of the last heal
};

// Leases of one worker: no two spans of different nodes overlap in time; terms only grow
// (once a node ran with term T, no other node runs later with a term <= T). Messages:
// "overlap: n1 term 3 [100, 140] and n2 term 4 [120, 160]", "term went back: … then …"
// (tests/cluster's CheckSpans returns these messages); times as "t=1.250s" after
// `origin` when it is not 0. One violation per overlapping pair of (node, term)
// leaderships and per stale (node, term), each counting its further spans, so one
// incident is one violation however many iterations it lasted.
std::vector<Violation> CheckLeases(std::vector<Span> spans, int64_t origin = 0);
// Every worker's spans, times after history.started_at; messages start with "worker <sid>: ".
std::vector<Violation> CheckLeases(const History& history);

// Orders from the simulator's journal, in time order:
//   - no client order id is placed twice;
//   - no order is accepted with a term lower than one already seen (placed or refused)
//     for that worker;
//   - no grid level (worker, symbol, level) has two live orders at once (live = placed and
//     no terminal status yet; status events find their order by client or exchange id);
//   - every placed order names its worker, a term > 0 and a node, and a runtime-made id
//     ("ami-<sid 8>-<term>-…", actors/exchange_access.h) agrees with them;
//   - a worker's term is used by one node only (terms are unique per lease holder).
std::vector<Violation> CheckOrders(const History& history);

// KV: for every key, the last acknowledged write by (hlc, origin) is on every node, or a
// later one is; all nodes end with the same digest, and the digests were equal within
// digest_window_ms of the last heal.
std::vector<Violation> CheckKv(const History& history, const CheckOptions& options = {});

// Liveness: after the last heal every leader-mode worker runs (a span or a leader run
// starts, or a span still going) within TTL + leader_grace_ms.
std::vector<Violation> CheckLiveness(const History& history, const CheckOptions& options = {});

// All four, in that order.
std::vector<Violation> CheckAll(const History& history, const CheckOptions& options = {});

// How many of `violations` are of `kind`.
size_t Count(const std::vector<Violation>& violations, const std::string& kind);

}  // namespace ami::trials
