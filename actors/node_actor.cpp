#include "actors/node_actor.h"

#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "actors/messages.h"

namespace ami {
namespace {

// How long the catalog may take to set a failed worker inactive before the node logs
// that it did not (the catalog's own store round trips time out well before).
constexpr std::chrono::seconds kCatalogTimeout{120};

// Whether a worker's (wfailed) message is its error budget being spent rather than a
// script that cannot start (the wording is shared: kBudgetSpent, worker_actor.h).
bool IsBudgetStop(const std::string& reason) { return reason.find(kBudgetSpent) != std::string::npos; }

struct RunningWorker {
  WorkerActor actor;
  std::shared_ptr<js::StopSwitch> stop_switch;
  WorkerRecord record;
  std::string stop_reason;    // why the node asked it to stop ("" = it was not asked)
  bool end_reported = false;  // its end was published already (wfailed came first)
};

struct NodeState {
  NodeActor::stateful_pointer<NodeState> self = nullptr;
  std::shared_ptr<const WorkerEnvironment> env;
  CatalogActor catalog;                             // the records, and the budget stop
  ClusterActor cluster;                             // leases and membership
  std::map<std::string, StoredWorker> records;      // the record in force of every worker, by sid
  std::map<std::string, RunningWorker> running;     // worker actors alive, by sid
  std::map<caf::actor_addr, std::string> sid_of;    // for down messages
  std::map<std::string, LeaderGrant> grants;        // leases this node holds, by sid
  std::set<std::string> wanted;                     // sids whose lease we asked the cluster for
  std::set<std::string> down_nodes;                 // peers the cluster reports down
  bool shutting_down = false;
  caf::typed_response_promise<bool> shutdown_reply;

  static inline const char* name = "ami.node";

  Placement Decide(const std::string& sid) const {
    auto rec = records.find(sid);
    auto run = running.find(sid);
    PlacementFacts facts;
    facts.record = rec != records.end() ? &rec->second.record : nullptr;
    facts.running = run != running.end() ? &run->second.record : nullptr;
    facts.holds_lease = grants.count(sid) > 0;
    facts.wants_lease = wanted.count(sid) > 0;
    facts.shutting_down = shutting_down;
    facts.node_id = env->node.id;
    facts.down_nodes = &down_nodes;
    return DecidePlacement(facts);
  }

  // Status events for live watchers (runtime/node/worker_events.h). The feed's sinks
  // only queue the event, so this never blocks the node.
  void Publish(std::string kind, const std::string& sid, std::string detail = "", int64_t term = 0) {
    if (!env->services.events) return;
    env->services.events->Publish(
        WorkerEvent{std::move(kind), sid, env->node.id, term, std::move(detail), WallMillis()});
  }

  // Why Reconcile stops the worker `sid` (the "stopped" event's detail).
  std::string WhyStop(const std::string& sid) const {
    auto rec = records.find(sid);
    if (rec == records.end()) return "deleted";
    if (shutting_down) return "node stopping";
    const WorkerRecord& record = rec->second.record;
    if (!record.active) return "deactivated";
    if (record.execution_mode == ExecutionMode::kLeader && grants.count(sid) == 0) return "lease lost";
    return "moved";
  }

  void SendLeaseWish(const std::string& sid, const Placement& placement) {
    if (!placement.lease_wish) return;
    if (*placement.lease_wish) wanted.insert(sid);
    else wanted.erase(sid);
    self->send(cluster, want_lease_atom_v, sid, *placement.lease_wish);
  }

  void Reconcile(const std::string& sid) {
    const Placement placement = Decide(sid);
    SendLeaseWish(sid, placement);
    if (!placement.waiting.empty()) {
      env->services.stats->Update(sid, [&](WorkerStats& s) {
        s.is_running = false;
        s.status = placement.waiting;
      });
    }
    auto rec = records.find(sid);
    auto run = running.find(sid);
    switch (placement.action) {
      case WorkerAction::kSpawn: Spawn(rec->second.record); break;
      case WorkerAction::kStop: Stop(run->second, WhyStop(sid)); break;
      case WorkerAction::kReload:
        run->second.record = rec->second.record;
        run->second.stop_switch->RequestStop(env->settings.limits.stop_grace);
        self->send(run->second.actor, reload_atom_v, rec->second.record);
        break;
      case WorkerAction::kNothing: break;
    }
    if (placement.forget_stats) env->services.stats->Remove(sid);
  }

  void Spawn(const WorkerRecord& record) {
    auto stop_switch = std::make_shared<js::StopSwitch>();
    std::optional<LeaderGrant> grant;
    if (auto g = grants.find(record.sid); g != grants.end()) grant = g->second;
    WorkerActor worker = SpawnWorker(self->system(), env, record, caf::actor_cast<WorkerSupervisor>(self),
                                     stop_switch, std::move(grant));
    self->monitor(worker);
    sid_of[worker.address()] = record.sid;
    running[record.sid] = RunningWorker{worker, stop_switch, record, "", false};
    spdlog::info("worker {} started ({} {} {})", record.sid, ToString(record.execution_mode),
                 ToString(record.priority), ToString(record.mode));
    auto g = grants.find(record.sid);
    Publish("started", record.sid, "", g != grants.end() ? static_cast<int64_t>(g->second.term) : 0);
  }

  // `why`: the "stopped" event's detail, published once the actor is gone. A second
  // request while it is stopping keeps the first reason (the cause).
  void Stop(RunningWorker& worker, const std::string& why) {
    if (worker.stop_reason.empty()) worker.stop_reason = why;
    worker.stop_switch->RequestStop(env->settings.limits.stop_grace);
    self->send(worker.actor, stop_atom_v);
  }

  void OnChange(const WorkerChange& change) {
    auto known = records.find(change.sid);
    const bool existed = known != records.end();
    if (change.current) {
      // The catalog also sends every record once at subscription: those are "updated"
      // too (first seen here), which a watcher connected later never sees anyway.
      const bool differs = !existed || !(known->second == *change.current);
      records[change.sid] = *change.current;
      if (differs) Publish("updated", change.sid, existed ? "" : "new here");
    } else if (existed) {
      records.erase(known);
      Publish("deleted", change.sid);
    }
    Reconcile(change.sid);
  }

  // A worker stopped by itself: the catalog sets whatever record is in force inactive
  // (an edit that reached the store after our copy is kept) and tells us as a change.
  void Deactivate(const std::string& sid, const std::string& reason) {
    spdlog::error("worker {} set inactive: {}", sid, reason);
    // Its end is published now, with the reason (the down message that follows adds none).
    if (auto run = running.find(sid); run != running.end()) run->second.end_reported = true;
    if (IsBudgetStop(reason)) Publish("budget_exhausted", sid, reason);
    else Publish("stopped", sid, "error: " + reason);
    self->request(catalog, kCatalogTimeout, cat_deactivate_atom_v, sid, reason)
        .then(
            [sid](const WorkerReply& reply) {
              if (!reply.status.ok())
                spdlog::error("node: deactivating worker {}: {}", sid, reply.status.message());
            },
            [sid](caf::error& err) {
              spdlog::error("node: deactivating worker {}: the catalog did not answer: {}", sid, caf::to_string(err));
            });
  }

  void OnLease(const std::string& sid, bool held, const LeaderGrant& grant) {
    if (held) {
      auto held_before = grants.find(sid);
      const bool renewal = held_before != grants.end();
      // A grant with another term while holding one is a new leadership, not a renewal.
      const bool new_term = !renewal || held_before->second.term != grant.term;
      grants[sid] = grant;
      auto run = running.find(sid);
      if (renewal && run != running.end()) self->send(run->second.actor, grant_atom_v, grant);
      if (!renewal) spdlog::info("lease for worker {} acquired (term {})", sid, grant.term);
      if (new_term) Publish("leader_acquired", sid, "", static_cast<int64_t>(grant.term));
    } else if (auto lost = grants.find(sid); lost != grants.end()) {
      const int64_t term = static_cast<int64_t>(lost->second.term);
      grants.erase(lost);
      spdlog::info("lease for worker {} lost or released", sid);
      Publish("leader_lost", sid, shutting_down ? "node stopping" : "", term);
    }
    Reconcile(sid);
  }

  void OnDown(const caf::down_msg& down) {
    auto it = sid_of.find(down.source);
    if (it == sid_of.end()) return;
    const std::string sid = it->second;
    sid_of.erase(it);
    if (auto run = running.find(sid); run != running.end()) {
      if (!run->second.end_reported) {
        std::string why = run->second.stop_reason;
        if (why.empty()) why = down.reason ? "error: " + caf::to_string(down.reason) : "finished";
        Publish("stopped", sid, why);
      }
      running.erase(run);
    }
    if (down.reason && !shutting_down) spdlog::error("worker {} actor died: {}", sid, caf::to_string(down.reason));
    // Not a full reconcile: a worker that ended by itself (failed, single mode finished)
    // is not started again until its record changes. The lease wish may go now, and a
    // deleted worker's stats go once its actor is gone.
    const Placement placement = Decide(sid);
    SendLeaseWish(sid, placement);
    if (placement.forget_stats) env->services.stats->Remove(sid);
    if (shutting_down && running.empty()) FinishShutdown();
  }

  void FinishShutdown() {
    auto summary = env->services.stats->SummaryJson(WallMillis());
    spdlog::info("node {} stopped; worker stats: {}", env->node.id, summary.dump());
    shutdown_reply.deliver(true);
  }
};

NodeActor::behavior_type NodeBehavior(NodeActor::stateful_pointer<NodeState> self,
                                      std::shared_ptr<const WorkerEnvironment> env, CatalogActor catalog,
                                      ClusterActor cluster) {
  NodeState& st = self->state;
  st.self = self;
  st.env = std::move(env);
  st.catalog = std::move(catalog);
  st.cluster = std::move(cluster);
  self->set_down_handler([self](caf::down_msg& down) { self->state.OnDown(down); });
  // A message the node does not know, or an error sent back for one of its own (CAF
  // answers refused messages with one), is logged: by default either would stop the
  // node, and with it every worker.
  self->set_default_handler([](caf::scheduled_actor*, caf::message_view& msg) -> caf::result<caf::message> {
    spdlog::warn("node: unexpected message dropped: {}", caf::to_string(msg.content()));
    return caf::sec::unexpected_message;
  });
  self->set_error_handler([](caf::scheduled_actor*, caf::error& err) {
    spdlog::warn("node: error message: {}", caf::to_string(err));
  });
  // Not anonymous: the cluster actor takes node-only commands from local senders only.
  self->send(st.cluster, attach_atom_v, caf::actor_cast<LeaseListener>(self));
  self->send(st.catalog, cat_subscribe_atom_v, caf::actor_cast<WorkerChangeSink>(self));
  return {
      [self](worker_changed_atom, const WorkerChange& change) { self->state.OnChange(change); },
      [self](failed_atom, const std::string& sid, const std::string& reason) { self->state.Deactivate(sid, reason); },
      [self](lease_changed_atom, const std::string& sid, bool held, const LeaderGrant& grant) {
        self->state.OnLease(sid, held, grant);
      },
      [self](node_status_atom, const std::string& node, bool up) {
        NodeState& st = self->state;
        if (up) st.down_nodes.erase(node);
        else st.down_nodes.insert(node);
        for (const auto& [sid, known] : st.records)
          if (known.record.execution_mode == ExecutionMode::kExclusive && known.record.assigned_node == node)
            st.Reconcile(sid);
      },
      [self](started_atom) -> int { return static_cast<int>(self->state.running.size()); },
      [self](shutdown_atom) -> caf::result<bool> {
        NodeState& st = self->state;
        st.shutdown_reply = self->make_response_promise<bool>();
        st.shutting_down = true;  // leases: see DecidePlacement
        if (st.running.empty()) {
          st.FinishShutdown();
          return st.shutdown_reply;
        }
        spdlog::info("stopping {} workers", st.running.size());
        for (auto& [sid, worker] : st.running) st.Stop(worker, "node stopping");
        return st.shutdown_reply;
      },
  };
}

}  // namespace

NodeActor SpawnNode(caf::actor_system& system, std::shared_ptr<const WorkerEnvironment> env, CatalogActor catalog,
                    ClusterActor cluster) {
  return system.spawn(NodeBehavior, std::move(env), std::move(catalog), std::move(cluster));
}

}  // namespace ami
