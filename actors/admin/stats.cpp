// stats (docs/admin-api.md, "stats"): this node's registry, one worker's counters, or
// the cluster actor's view of every node's, with totals.
#include "actors/admin/admin.h"
#include "runtime/base/clock.h"
#include "runtime/stats/worker_stats.h"

namespace ami::admin {

namespace {

// {sid?, nodes, unreachable, totals} from the cluster actor's {nodes:{id: Summary}, unreachable}.
Result<json> ClusterTotals(const std::optional<std::string>& sid, json answer) {
  if (!answer.is_object() || !answer.contains("nodes") || !answer["nodes"].is_object())
    return Status::Internal("the cluster actor's stats have no \"nodes\" object");
  const char* kSums[] = {"totalWorkers", "runningWorkers", "stoppedWorkers", "totalExecutions",
                         "totalErrors", "totalNetworkErrors", "totalCriticalErrors"};
  json totals = json::object();
  for (const char* k : kSums) totals[k] = 0;
  json nodes = json::object();
  uint64_t count = 0;
  auto add = [&](const char* field, uint64_t v) { totals[field] = totals[field].get<uint64_t>() + v; };
  auto number = [](const json& j, const char* field) {
    return j.contains(field) && j[field].is_number_unsigned() ? j[field].get<uint64_t>() : uint64_t{0};
  };
  for (auto& [id, summary] : answer["nodes"].items()) {
    if (!summary.is_object()) continue;
    if (sid) {
      // Only that worker, from the nodes that have it; totals are its own.
      if (!summary.contains("workers") || !summary["workers"].is_array()) continue;
      for (const auto& w : summary["workers"]) {
        if (!w.is_object() || w.value("sid", "") != *sid) continue;
        nodes[id] = w;
        ++count;
        add("totalWorkers", 1);
        add(w.value("isRunning", false) ? "runningWorkers" : "stoppedWorkers", 1);
        add("totalExecutions", number(w, "executions"));
        add("totalErrors", number(w, "errors"));
        add("totalNetworkErrors", number(w, "networkErrors"));
        add("totalCriticalErrors", number(w, "criticalErrors"));
      }
      continue;
    }
    nodes[id] = summary;
    ++count;
    for (const char* k : kSums) add(k, number(summary, k));
  }
  totals["nodes"] = count;
  totals["errorRate"] = ErrorRate(totals["totalErrors"].get<uint64_t>(), totals["totalExecutions"].get<uint64_t>());
  json out = json::object();
  if (sid) out["sid"] = *sid;
  out["nodes"] = std::move(nodes);
  out["unreachable"] =
      answer.contains("unreachable") && answer["unreachable"].is_array() ? answer["unreachable"] : json::array();
  out["totals"] = std::move(totals);
  return out;
}

void Stats(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {"sid", "cluster"}, "", "stats"); !s.ok()) return done(s);
  auto cluster = OptionalBool(args, "cluster", false);
  if (!cluster.ok()) return done(cluster.status());
  std::optional<std::string> sid;
  if (Arg(args, "sid")) {
    auto s = RequiredSid(args);
    if (!s.ok()) return done(s.status());
    sid = *s;
  }
  const auto& env = *admin.ctx.env;
  if (*cluster)
    return admin.AskCluster(cluster_stats_atom_v, done, [sid, done](json answer) { done(ClusterTotals(sid, answer)); });
  if (!sid) {
    json summary = env.services.stats->SummaryJson(WallMillis());
    summary["node"] = env.node.id;
    return done(std::move(summary));
  }
  if (auto s = env.services.stats->Get(*sid)) {
    json out = StatsToJson(*s, WallMillis());
    out["node"] = env.node.id;
    return done(std::move(out));
  }
  // No stats here: a worker that exists gets zero counters.
  admin.GetWorker(*sid, done, [&admin, sid = *sid, done](const StoredWorker& worker) {
    WorkerStats zero;
    zero.sid = sid;
    zero.script_hash = ScriptHash(worker.record.script);
    zero.status = worker.record.active ? "starting" : "stopped";
    json out = StatsToJson(zero, WallMillis());
    out["node"] = admin.ctx.env->node.id;
    done(std::move(out));
  });
}

}  // namespace

Ops StatsOps() { return {{"stats", Stats}}; }

}  // namespace ami::admin
