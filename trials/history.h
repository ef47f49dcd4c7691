// What one fault trial records (docs/reliability.md), for the checkers and the report.
// The runner fills a History from the nodes' worker logs, the exchange simulator's
// journal and its KV writers; nothing here reads files or talks to processes.
//
// Times are wall-clock milliseconds since the epoch (Date.now() in scripts, the runner's
// system_clock), all taken on one machine, so they compare across nodes.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "trials/schedule.h"

namespace ami::trials {

// One leader-mode iteration as a worker logged it ("SPAN <node> <term> <start> <end>",
// tests/cluster/cluster_harness.h): the lease checker's input.
struct Span {
  std::string node;
  uint64_t term = 0;
  int64_t start = 0;
  int64_t end = 0;
  bool operator==(const Span&) const = default;
};

// One entry of the exchange simulator's journal about an order.
enum class OrderEventKind {
  kPlaced,        // the exchange accepted a new order
  kRefusedStale,  // fencing refused it: its term was lower than one seen for the worker
  kStatus,        // a later status change of a placed order (`status`)
};
const char* OrderEventName(OrderEventKind kind);  // "placed", "refused_stale", "status"

struct OrderEvent {
  int64_t t = 0;
  OrderEventKind kind = OrderEventKind::kPlaced;
  std::string client_order_id;
  std::string order_id;  // the exchange's; empty for kRefusedStale
  std::string worker;    // sid
  uint64_t term = 0;
  std::string node;
  std::string symbol;
  std::string side;      // "buy" / "sell"
  double price = 0;
  std::optional<int64_t> grid_level;  // set by a grid worker's orders
  // kStatus: "open", "partially_filled", "filled", "cancelled", "rejected", "expired".
  std::string status;
  bool operator==(const OrderEvent&) const = default;
};
// Whether an order in this status is over (no longer live on the book).
bool IsTerminalStatus(const std::string& status);

// A Stels.net write the writer saw acknowledged. `value` nullopt = a delete.
struct KvWrite {
  std::string key;
  std::optional<std::string> value;
  uint64_t hlc = 0;
  std::string node;  // where it was written (its origin)
  int64_t acked_at = 0;
  bool operator==(const KvWrite&) const = default;
};

// A key's row on a node at the end: last writer wins by (hlc, origin).
struct KvValue {
  std::optional<std::string> value;  // nullopt = a tombstone
  uint64_t hlc = 0;
  std::string origin;
  bool operator==(const KvValue&) const = default;
};

// A node's replica at the end of the trial (the keys the writers used) and its digest.
struct NodeFinal {
  std::string node;
  std::string digest;
  std::map<std::string, KvValue> values;
  bool operator==(const NodeFinal&) const = default;
};

// A fault as the runner applied it.
struct AppliedFault {
  Fault fault;
  int64_t at = 0;     // wall ms when applied
  std::string error;  // empty when applied; else why not
  bool operator==(const AppliedFault&) const = default;
};

// A leader-mode worker's run starting, as seen after the last heal.
struct LeaderRun {
  std::string worker;
  std::string node;
  int64_t at = 0;
  bool operator==(const LeaderRun&) const = default;
};

struct History {
  Schedule schedule;   // its options hold the seed, node count and TTL
  int64_t started_at = 0;  // wall ms of the schedule's 0
  int64_t ended_at = 0;
  std::string replay;  // the command that replays this trial; "" = the report makes one
  std::vector<AppliedFault> faults;
  std::map<std::string, std::vector<Span>> spans;  // by leader-mode worker sid
  std::vector<OrderEvent> orders;
  std::vector<KvWrite> kv_writes;
  std::vector<NodeFinal> kv_final;
  // First time after the last heal when every node's digest was the same; nullopt = never seen.
  std::optional<int64_t> digests_equal_at;
  std::vector<LeaderRun> leader_runs;  // after the last heal (spans count too)
  bool operator==(const History&) const = default;
};

// When the last heal (heal_all, else heal) was applied; nullopt when none was.
std::optional<int64_t> LastHealAt(const History& history);

// A change of leader of one worker: `from` ran last before `to` took over.
struct Failover {
  std::string worker;
  std::string from, to;
  uint64_t from_term = 0, to_term = 0;
  int64_t lost_at = 0;   // the fault that took `from` out, else the end of its last span
  int64_t started_at = 0;  // `to`'s first span
  std::string cause;     // "kill9 n1", … or "lease ended"
  // Never below 0: a new leader that started before the old one's loss is an overlap,
  // which the lease checker reports; it is no negative failover time.
  int64_t ms() const { return started_at > lost_at ? started_at - lost_at : 0; }
};
// Every failover in the spans; the cause is the last applied fault that hit the old
// leader's node (kill9, stop, restart, clock_drift, or a partition leaving it
// outside the largest group) between the first span of its last term and the new
// leader's start, if the old leader stopped leading within two TTLs of it (a fault it
// survived is no cause). Hand-overs once the trial ended (ended_at: the runner stops
// the nodes) are not failovers.
std::vector<Failover> FindFailovers(const History& history);

// Consecutive spans of one node and term at most `max_gap_ms` apart, joined (for drawing).
std::vector<Span> MergeSpans(std::vector<Span> spans, int64_t max_gap_ms);

nlohmann::json ToJson(const Span& span);
nlohmann::json ToJson(const OrderEvent& event);
nlohmann::json ToJson(const History& history);
// Inverse of ToJson(History); throws std::invalid_argument for malformed input.
History HistoryFromJson(const nlohmann::json& j);

}  // namespace ami::trials
