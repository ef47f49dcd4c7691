#include "actors/node_actor.h"

#include <spdlog/spdlog.h>

#include <map>
#include <set>
#include <nlohmann/json.hpp>

#include "actors/messages.h"

namespace ami {

bool RunsHere(const WorkerRecord& record, const std::string& node_id, bool holds_lease) {
  switch (record.execution_mode) {
    case ExecutionMode::kParallel: return true;
    case ExecutionMode::kExclusive: return record.assigned_node && *record.assigned_node == node_id;
    case ExecutionMode::kLeader: return holds_lease;
  }
  return false;
}

namespace {

struct RunningWorker {
  caf::actor actor;
  std::shared_ptr<js::StopSwitch> stop_switch;
  WorkerRecord record;
};

struct NodeState {
  caf::stateful_actor<NodeState>* self = nullptr;
  std::shared_ptr<const WorkerEnvironment> env;
  caf::actor cluster;                               // leases and membership
  std::map<std::string, StoredWorker> records;      // every known record (and its versionstamp), by sid
  std::map<std::string, RunningWorker> running;     // worker actors alive, by sid
  std::map<caf::actor_addr, std::string> sid_of;    // for down messages
  std::map<std::string, LeaderGrant> grants;        // leases this node holds, by sid
  std::set<std::string> wanted;                     // sids whose lease we asked the cluster for
  std::set<std::string> down_nodes;                 // peers the cluster reports down
  bool shutting_down = false;
  caf::response_promise shutdown_reply;

  static inline const char* name = "ami.node";

  bool Runs(const WorkerRecord& record) const {
    return RunsHere(record, env->node_id, grants.count(record.sid) > 0);
  }

  // Why an active record is not running here, for stats.
  std::string WaitingReason(const WorkerRecord& record) const {
    if (record.execution_mode == ExecutionMode::kLeader) return "waiting: another node holds the lease";
    const std::string target = record.assigned_node.value_or("?");
    if (down_nodes.count(target)) return "waiting: exclusive to " + target + ", which is down";
    return "waiting: exclusive to " + target;
  }

  // Leader-mode workers need a lease: ask the cluster while the record is active here.
  // Giving a lease up waits until the worker actor is gone, so the next holder can never
  // overlap with a run still ending here; at shutdown the cluster actor resigns them all
  // after every worker stopped.
  void UpdateWanted(const std::string& sid) {
    auto rec = records.find(sid);
    const bool want = !shutting_down && rec != records.end() && rec->second.record.active &&
                      rec->second.record.execution_mode == ExecutionMode::kLeader;
    if (want == (wanted.count(sid) > 0)) return;
    if (!want && (shutting_down || running.count(sid))) return;
    if (want) wanted.insert(sid);
    else wanted.erase(sid);
    self->send(cluster, want_lease_atom_v, sid, want);
  }

  void Reconcile(const std::string& sid) {
    UpdateWanted(sid);
    auto rec = records.find(sid);
    auto run = running.find(sid);
    const WorkerRecord* record = rec != records.end() ? &rec->second.record : nullptr;
    const bool should_run = !shutting_down && record && record->active && Runs(*record);
    if (record && record->active && !Runs(*record)) {
      const std::string reason = WaitingReason(*record);
      env->stats->Update(sid, [&](WorkerStats& s) {
        s.is_running = false;
        s.status = reason;
      });
    }
    if (should_run && run == running.end()) {
      Spawn(*record);
    } else if (!should_run && run != running.end()) {
      Stop(run->second);
    } else if (should_run && !(run->second.record == *record)) {
      run->second.record = *record;
      run->second.stop_switch->RequestStop(env->limits.stop_grace);
      self->send(run->second.actor, reload_atom_v, *record);
    }
    if (!record && run == running.end()) env->stats->Remove(sid);
  }

  void Spawn(const WorkerRecord& record) {
    auto stop_switch = std::make_shared<js::StopSwitch>();
    std::optional<LeaderGrant> grant;
    if (auto g = grants.find(record.sid); g != grants.end()) grant = g->second;
    caf::actor worker =
        SpawnWorker(self->system(), env, record, caf::actor_cast<caf::actor>(self), stop_switch, std::move(grant));
    self->monitor(worker);
    sid_of[worker.address()] = record.sid;
    running[record.sid] = RunningWorker{worker, stop_switch, record};
    spdlog::info("worker {} started ({} {} {})", record.sid, ToString(record.execution_mode),
                 ToString(record.priority), ToString(record.mode));
  }

  void Stop(RunningWorker& worker) {
    worker.stop_switch->RequestStop(env->limits.stop_grace);
    self->send(worker.actor, stop_atom_v);
  }

  void OnRecordRead(const std::string& sid, const js::KvReply& reply) {
    if (!reply.status.ok()) {
      spdlog::error("node: reading worker {}: {}", sid, reply.status.message());
      return;
    }
    if (!reply.entry) {
      // Deleted — unless it still exists in the other space (a scope move).
      records.erase(sid);
    } else {
      // Validated before anything runs it; raw.sid must be the key's sid.
      auto record = ReadStoredRecord(sid, reply.entry->value);
      if (!record.ok()) {
        spdlog::warn("node: worker record {} ignored: {}", sid, record.status().message());
        return;
      }
      records[sid] = StoredWorker{std::move(*record), reply.entry->versionstamp};
    }
    Reconcile(sid);
  }

  // A failed store request is logged; without a handler CAF would stop this actor.
  static auto StoreError(const std::string& sid) {
    return [sid](caf::error& err) { spdlog::error("node: store request for worker {}: {}", sid, caf::to_string(err)); };
  }

  // Reads sid's record from the local space, else from the network space (a local copy
  // wins), and calls done(space it came from, reply); a failed local read is not retried
  // in the network space.
  template <class Done>
  void ReadRecord(const std::string& sid, Done done) {
    js::KvRequest get;
    get.op = js::KvRequest::Op::kGet;
    get.key = WorkerKey(sid);
    get.space = kv::Space::kLocal;
    js::KvRequest get_net = get;
    get_net.space = kv::Space::kNetwork;
    self->request(*env->store, caf::infinite, kv_atom_v, get).then([this, sid, get_net, done](js::KvReply& local) {
      if (local.entry || !local.status.ok()) return done(kv::Space::kLocal, local);
      self->request(*env->store, caf::infinite, kv_atom_v, get_net)
          .then([done](js::KvReply& net) { done(kv::Space::kNetwork, net); }, StoreError(sid));
    }, StoreError(sid));
  }

  // Reads the record behind a changed key from both spaces (local first) and reconciles.
  void Refresh(const std::string& sid) {
    ReadRecord(sid, [this, sid](kv::Space, js::KvReply& reply) { OnRecordRead(sid, reply); });
  }

  // A worker stopped by itself: set its record inactive, keeping every other field. The
  // write is a compare-and-set on the versionstamp this node last read, so an edit that
  // reached the store after that read (an admin update just before the budget ran out)
  // is never overwritten: on a conflict the current record is read again and deactivated
  // instead, at most kDeactivateAttempts times.
  static constexpr int kDeactivateAttempts = 5;

  void Deactivate(const std::string& sid, const std::string& reason) {
    auto it = records.find(sid);
    if (it == records.end()) return;
    spdlog::error("worker {} set inactive: {}", sid, reason);
    const StoredWorker& known = it->second;
    WriteInactive(sid, known.record, SpaceOf(known.record), known.versionstamp, 1);
  }

  void WriteInactive(const std::string& sid, WorkerRecord record, kv::Space space, uint64_t versionstamp,
                     int attempt) {
    if (!record.active) return;  // already stopped by someone else: nothing to write
    record.active = false;
    record.timestamp = WallMillis();
    js::KvRequest put;
    put.op = js::KvRequest::Op::kCommit;
    put.space = space;
    put.checks.push_back(kv::Check{WorkerKey(sid), versionstamp});
    put.mutations.push_back(
        kv::Mutation{kv::Mutation::Kind::kSet, WorkerKey(sid), RecordToStoredValue(record).dump(), std::nullopt});
    self->request(*env->store, caf::infinite, kv_atom_v, std::move(put))
        .then(
            [this, sid, attempt](js::KvReply& reply) {
              if (!reply.status.ok())
                return spdlog::error("node: deactivating worker {}: {}", sid, reply.status.message());
              if (reply.commit.ok) return;
              if (attempt >= kDeactivateAttempts)
                return spdlog::error("node: deactivating worker {}: its record kept changing, gave up after {} tries",
                                     sid, attempt);
              RereadAndDeactivate(sid, attempt + 1);
            },
            StoreError(sid));
  }

  // Reads the current record (local space first, as Refresh does) and deactivates that.
  void RereadAndDeactivate(const std::string& sid, int attempt) {
    ReadRecord(sid, [this, sid, attempt](kv::Space space, const js::KvReply& reply) {
      if (!reply.status.ok())
        return spdlog::error("node: re-reading worker {} to deactivate it: {}", sid, reply.status.message());
      if (!reply.entry) return;  // deleted meanwhile: nothing left to deactivate
      auto record = ReadStoredRecord(sid, reply.entry->value);
      if (!record.ok())
        return spdlog::error("node: worker {} not deactivated, its record is invalid: {}", sid,
                             record.status().message());
      WriteInactive(sid, std::move(*record), space, reply.entry->versionstamp, attempt);
    });
  }

  void OnLease(const std::string& sid, bool held, const LeaderGrant& grant) {
    if (held) {
      const bool renewal = grants.count(sid) > 0;
      grants[sid] = grant;
      auto run = running.find(sid);
      if (renewal && run != running.end()) self->send(run->second.actor, grant_atom_v, grant);
      if (!renewal) spdlog::info("lease for worker {} acquired (term {})", sid, grant.term);
    } else if (grants.erase(sid)) {
      spdlog::info("lease for worker {} lost or released", sid);
    }
    Reconcile(sid);
  }

  void OnDown(const caf::down_msg& down) {
    auto it = sid_of.find(down.source);
    if (it == sid_of.end()) return;
    const std::string sid = it->second;
    sid_of.erase(it);
    running.erase(sid);
    UpdateWanted(sid);
    // A deleted worker's stats go once its actor is gone (Reconcile saw it still stopping).
    if (records.find(sid) == records.end()) env->stats->Remove(sid);
    if (down.reason && !shutting_down) {
      spdlog::error("worker {} actor died: {}", sid, caf::to_string(down.reason));
    }
    if (shutting_down && running.empty()) FinishShutdown();
  }

  void FinishShutdown() {
    auto summary = env->stats->SummaryJson(WallMillis());
    spdlog::info("node {} stopped; worker stats: {}", env->node_id, summary.dump());
    shutdown_reply.deliver(true);
  }

  caf::behavior make_behavior() {
    self->set_down_handler([this](caf::down_msg& down) { OnDown(down); });
    const auto prefix = kv::MakeKey({"ami", "worker"});
    self->send(*env->store, watch_atom_v, kv::Space::kLocal, prefix, caf::actor_cast<caf::actor>(self));
    self->send(*env->store, watch_atom_v, kv::Space::kNetwork, prefix, caf::actor_cast<caf::actor>(self));
    for (const auto& entry : records) Reconcile(entry.first);
    return {
        [this](changed_atom, const KvChange& change) {
          if (auto sid = SidOfWorkerKey(change.key)) Refresh(*sid);  // ["ami","worker",<sid>]
        },
        [this](failed_atom, const std::string& sid, const std::string& reason) { Deactivate(sid, reason); },
        [this](lease_changed_atom, const std::string& sid, bool held, const LeaderGrant& grant) {
          OnLease(sid, held, grant);
        },
        [this](node_status_atom, const std::string& node, bool up) {
          if (up) down_nodes.erase(node);
          else down_nodes.insert(node);
          for (const auto& [sid, known] : records)
            if (known.record.execution_mode == ExecutionMode::kExclusive && known.record.assigned_node == node)
              Reconcile(sid);
        },
        [this](started_atom) -> int { return static_cast<int>(running.size()); },
        [this](shutdown_atom) -> caf::result<bool> {
          shutdown_reply = self->make_response_promise();
          shutting_down = true;  // leases: see UpdateWanted
          if (running.empty()) {
            FinishShutdown();
            return shutdown_reply;
          }
          spdlog::info("stopping {} workers", running.size());
          for (auto& [sid, worker] : running) Stop(worker);
          return shutdown_reply;
        },
    };
  }
};

caf::behavior NodeActor(caf::stateful_actor<NodeState>* self, std::shared_ptr<const WorkerEnvironment> env,
                        std::vector<StoredWorker> initial, caf::actor cluster) {
  NodeState& st = self->state;
  st.self = self;
  st.env = std::move(env);
  st.cluster = std::move(cluster);
  for (auto& w : initial) {  // checked by LoadWorkerRecords
    const std::string sid = w.record.sid;
    st.records[sid] = std::move(w);
  }
  return st.make_behavior();
}

}  // namespace

caf::actor SpawnNode(caf::actor_system& system, std::shared_ptr<const WorkerEnvironment> env,
                     std::vector<StoredWorker> initial, caf::actor cluster) {
  return system.spawn(NodeActor, std::move(env), std::move(initial), std::move(cluster));
}

}  // namespace ami
