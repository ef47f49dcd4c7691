#include "trials/history.h"

#include <algorithm>
#include <stdexcept>

namespace ami::trials {

using nlohmann::json;

const char* OrderEventName(OrderEventKind kind) {
  switch (kind) {
    case OrderEventKind::kPlaced: return "placed";
    case OrderEventKind::kRefusedStale: return "refused_stale";
    case OrderEventKind::kStatus: return "status";
  }
  return "?";
}

namespace {
OrderEventKind OrderEventFromName(const std::string& name) {
  for (auto k : {OrderEventKind::kPlaced, OrderEventKind::kRefusedStale, OrderEventKind::kStatus})
    if (name == OrderEventName(k)) return k;
  throw std::invalid_argument("order event: unknown event \"" + name + "\"");
}

// Does `fault` take `node` out (so that it may lose a lease)?
bool Hits(const Fault& fault, const std::string& node) {
  switch (fault.kind) {
    case FaultKind::kKill9:
    case FaultKind::kStop:
    case FaultKind::kRestart:
    case FaultKind::kClockDrift:  // applied by a restart
      return std::find(fault.nodes.begin(), fault.nodes.end(), node) != fault.nodes.end();
    case FaultKind::kPartition:
      for (size_t g = 0; g < fault.groups.size(); ++g) {
        if (std::find(fault.groups[g].begin(), fault.groups[g].end(), node) == fault.groups[g].end()) continue;
        size_t largest = 0;
        for (const auto& other : fault.groups) largest = std::max(largest, other.size());
        // Outside the largest group, or in a tie: no majority to be sure of.
        return fault.groups[g].size() < largest ||
               std::count_if(fault.groups.begin(), fault.groups.end(),
                             [&](const auto& other) { return other.size() == largest; }) > 1;
      }
      return false;
    default:
      return false;
  }
}

template <typename T>
T Get(const json& j, const char* key, const char* where) {
  if (!j.is_object() || !j.contains(key)) throw std::invalid_argument(std::string(where) + ": needs " + key);
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    throw std::invalid_argument(std::string(where) + "." + key + ": wrong type (" + j.at(key).dump() + ")");
  }
}
template <typename T>
T GetOr(const json& j, const char* key, T fallback, const char* where) {
  return j.is_object() && j.contains(key) ? Get<T>(j, key, where) : fallback;
}
json OptionalString(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }
std::optional<std::string> OptionalStringFrom(const json& j, const char* key, const char* where) {
  if (!j.contains(key) || j.at(key).is_null()) return std::nullopt;
  return Get<std::string>(j, key, where);
}
}  // namespace

bool IsTerminalStatus(const std::string& status) {
  return status == "filled" || status == "cancelled" || status == "canceled" || status == "rejected" ||
         status == "expired" || status == "closed";
}

std::optional<int64_t> LastHealAt(const History& h) {
  std::optional<int64_t> heal_all, heal;
  for (const auto& a : h.faults) {
    if (!a.error.empty()) continue;
    if (a.fault.kind == FaultKind::kHealAll) heal_all = std::max(heal_all.value_or(a.at), a.at);
    if (a.fault.kind == FaultKind::kHeal) heal = std::max(heal.value_or(a.at), a.at);
  }
  return heal_all ? heal_all : heal;
}

std::vector<Failover> FindFailovers(const History& h) {
  std::vector<Failover> out;
  for (auto [worker, spans] : h.spans) {
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.start < b.start; });
    size_t tenure = 0;  // first span of the current leader's term
    for (size_t i = 1; i < spans.size(); ++i) {
      if (spans[i].node == spans[i - 1].node) {
        // The same node leading under a new term got the lease again (after a restart,
        // say): the faults before that were survived and did not cause a later hand-over.
        if (spans[i].term != spans[i - 1].term) tenure = i;
        continue;
      }
      const Span& last = spans[i - 1];
      // Nodes stopped one by one at the end of the trial hand leases on: no failover.
      if (h.ended_at > 0 && spans[i].start >= h.ended_at) break;
      Failover f{worker, last.node, spans[i].node, last.term, spans[i].term, last.end, spans[i].start, "lease ended"};
      // A fault is the cause only if the old leader stopped leading within two TTLs of it;
      // a leader still running later survived it (seeds 5033, 5052: a partition or a stop
      // shorter than the lease, then a hand-over 8-9 s later at the end of the trial).
      const int64_t survived_after = 2 * h.schedule.options.ttl_ms;
      bool found = false;
      for (const auto& a : h.faults)
        if (a.error.empty() && a.at >= spans[tenure].start && a.at <= spans[i].start && Hits(a.fault, last.node) &&
            last.end <= a.at + survived_after && (!found || a.at >= f.lost_at)) {
          f.lost_at = a.at;
          f.cause = DescribeFault(a.fault);
          found = true;
        }
      out.push_back(f);
      tenure = i;
    }
  }
  return out;
}

std::vector<Span> MergeSpans(std::vector<Span> spans, int64_t max_gap_ms) {
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.start < b.start; });
  std::vector<Span> out;
  for (const auto& s : spans) {
    if (!out.empty() && out.back().node == s.node && out.back().term == s.term && s.start - out.back().end <= max_gap_ms) {
      out.back().end = std::max(out.back().end, s.end);
      continue;
    }
    out.push_back(s);
  }
  return out;
}

// ------------------------------------------------------------------ JSON
json ToJson(const Span& s) { return {{"node", s.node}, {"term", s.term}, {"start", s.start}, {"end", s.end}}; }

json ToJson(const OrderEvent& e) {
  json j{{"t", e.t},         {"event", OrderEventName(e.kind)}, {"client_order_id", e.client_order_id},
         {"order_id", e.order_id}, {"worker", e.worker},        {"term", e.term},
         {"node", e.node},   {"symbol", e.symbol},            {"side", e.side},
         {"price", e.price}};
  if (e.grid_level) j["grid_level"] = *e.grid_level;
  if (!e.status.empty()) j["status"] = e.status;
  return j;
}

json ToJson(const History& h) {
  json faults = json::array(), spans = json::object(), orders = json::array(), writes = json::array(),
       finals = json::array(), runs = json::array();
  for (const auto& a : h.faults) {
    json j{{"at", a.at}, {"fault", ToJson(a.fault)}};
    if (!a.error.empty()) j["error"] = a.error;
    faults.push_back(j);
  }
  for (const auto& [worker, list] : h.spans) {
    spans[worker] = json::array();
    for (const auto& s : list) spans[worker].push_back(ToJson(s));
  }
  for (const auto& e : h.orders) orders.push_back(ToJson(e));
  for (const auto& w : h.kv_writes)
    writes.push_back({{"key", w.key}, {"value", OptionalString(w.value)}, {"hlc", w.hlc}, {"node", w.node}, {"acked_at", w.acked_at}});
  for (const auto& n : h.kv_final) {
    json values = json::object();
    for (const auto& [key, v] : n.values) values[key] = {{"value", OptionalString(v.value)}, {"hlc", v.hlc}, {"origin", v.origin}};
    finals.push_back({{"node", n.node}, {"digest", n.digest}, {"values", values}});
  }
  for (const auto& r : h.leader_runs) runs.push_back({{"worker", r.worker}, {"node", r.node}, {"at", r.at}});
  return {{"schedule", ToJson(h.schedule)},
          {"started_at", h.started_at},
          {"ended_at", h.ended_at},
          {"replay", h.replay},
          {"faults", faults},
          {"spans", spans},
          {"orders", orders},
          {"kv_writes", writes},
          {"kv_final", finals},
          {"digests_equal_at", h.digests_equal_at ? json(*h.digests_equal_at) : json(nullptr)},
          {"leader_runs", runs}};
}

History HistoryFromJson(const json& j) {
  if (!j.is_object()) throw std::invalid_argument("history: not an object");
  History h;
  h.schedule = ScheduleFromJson(Get<json>(j, "schedule", "history"));
  h.started_at = GetOr<int64_t>(j, "started_at", 0, "history");
  h.ended_at = GetOr<int64_t>(j, "ended_at", 0, "history");
  h.replay = GetOr<std::string>(j, "replay", "", "history");
  for (const auto& a : GetOr<json>(j, "faults", json::array(), "history"))
    h.faults.push_back({FaultFromJson(Get<json>(a, "fault", "faults[]")), Get<int64_t>(a, "at", "faults[]"),
                        GetOr<std::string>(a, "error", "", "faults[]")});
  const json spans = GetOr<json>(j, "spans", json::object(), "history");  // items() must not outlive it
  for (const auto& [worker, list] : spans.items())
    for (const auto& s : list)
      h.spans[worker].push_back({Get<std::string>(s, "node", "span"), Get<uint64_t>(s, "term", "span"),
                                 Get<int64_t>(s, "start", "span"), Get<int64_t>(s, "end", "span")});
  for (const auto& o : GetOr<json>(j, "orders", json::array(), "history")) {
    const char* w = "order";
    OrderEvent e;
    e.t = Get<int64_t>(o, "t", w);
    e.kind = OrderEventFromName(Get<std::string>(o, "event", w));
    e.client_order_id = GetOr<std::string>(o, "client_order_id", "", w);
    e.order_id = GetOr<std::string>(o, "order_id", "", w);
    e.worker = GetOr<std::string>(o, "worker", "", w);
    e.term = GetOr<uint64_t>(o, "term", 0, w);
    e.node = GetOr<std::string>(o, "node", "", w);
    e.symbol = GetOr<std::string>(o, "symbol", "", w);
    e.side = GetOr<std::string>(o, "side", "", w);
    e.price = GetOr<double>(o, "price", 0, w);
    if (o.contains("grid_level") && !o["grid_level"].is_null()) e.grid_level = Get<int64_t>(o, "grid_level", w);
    e.status = GetOr<std::string>(o, "status", "", w);
    h.orders.push_back(e);
  }
  for (const auto& w : GetOr<json>(j, "kv_writes", json::array(), "history"))
    h.kv_writes.push_back({Get<std::string>(w, "key", "kv_write"), OptionalStringFrom(w, "value", "kv_write"),
                           Get<uint64_t>(w, "hlc", "kv_write"), GetOr<std::string>(w, "node", "", "kv_write"),
                           GetOr<int64_t>(w, "acked_at", 0, "kv_write")});
  for (const auto& n : GetOr<json>(j, "kv_final", json::array(), "history")) {
    NodeFinal f{Get<std::string>(n, "node", "kv_final"), GetOr<std::string>(n, "digest", "", "kv_final"), {}};
    const json values = GetOr<json>(n, "values", json::object(), "kv_final");
    for (const auto& [key, v] : values.items())
      f.values[key] = {OptionalStringFrom(v, "value", "kv_final.values"), GetOr<uint64_t>(v, "hlc", 0, "kv_final.values"),
                       GetOr<std::string>(v, "origin", "", "kv_final.values")};
    h.kv_final.push_back(std::move(f));
  }
  if (j.contains("digests_equal_at") && !j["digests_equal_at"].is_null())
    h.digests_equal_at = Get<int64_t>(j, "digests_equal_at", "history");
  for (const auto& r : GetOr<json>(j, "leader_runs", json::array(), "history"))
    h.leader_runs.push_back({GetOr<std::string>(r, "worker", "", "leader_run"), GetOr<std::string>(r, "node", "", "leader_run"),
                             Get<int64_t>(r, "at", "leader_run")});
  return h;
}

}  // namespace ami::trials
