// The cluster actor (actors/cluster_actor.h): local questions, the behaviour and spawning.
// Its state and the other parts are in actors/cluster/ (cluster_state.h says which).
#include "actors/cluster_actor.h"

#include <cstdlib>
#include <string_view>

#include "actors/cluster/cluster_state.h"

namespace ami::cluster_impl {

caf::result<std::string> ClusterState::Members() {
  auto promise = self->make_response_promise<std::string>();
  self->request(ctx.store, kPeerRequestTimeout, repl_state_atom_v).then([this, promise](ReplState& state) mutable {
    self->request(ctx.store, kPeerRequestTimeout, repl_digest_atom_v)
        .then([this, promise, state](uint64_t digest) mutable {
          const int64_t now = SteadyMs();
          json nodes = json::array();
          nodes.push_back({{"id", self_id},
                           {"address", cluster() ? json(cluster()->listen) : json(nullptr)},
                           {"state", "self"},
                           {"lastSeenMsAgo", 0},
                           {"incarnation", incarnation},
                           {"lastVersionstamp", state.last_versionstamp},
                           {"digest", std::to_string(digest)}});
          for (const auto& p : peers) {
            json n{{"id", p.node.empty() ? json(nullptr) : json(p.node)},
                   {"address", p.address},
                   {"state", StateOf(p, now)},
                   {"lastSeenMsAgo", p.last_heard ? json(now - p.last_heard) : json(nullptr)},
                   {"incarnation", p.incarnation}};
            if (auto it = cursors.find(p.node); it != cursors.end()) {
              n["replicatedUpTo"] = it->second.cursor;
              n["pulling"] = it->second.pulling;  // a pull from it is in flight
            }
            nodes.push_back(std::move(n));
          }
          const size_t size = peers.size() + 1;
          json out{{"self", self_id},
                   {"cluster", ctx.network},
                   {"size", size},
                   {"majority", size / 2 + 1},
                   {"nodes", std::move(nodes)}};
          if (!dropped.empty()) out["dropping"] = dropped;
          promise.deliver(out.dump());
        },
        [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
  }, [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
  return promise;
}

caf::result<std::string> ClusterState::ClusterStats() {
  auto promise = self->make_response_promise<std::string>();
  auto result = std::make_shared<json>();
  (*result)["nodes"][self_id] = ctx.stats->SummaryJson(WallMillis());
  (*result)["unreachable"] = json::array();
  auto waiting = std::make_shared<size_t>(0);
  for (const auto& p : peers) {
    if (Reachable(p)) ++*waiting;
    else (*result)["unreachable"].push_back(p.node.empty() ? p.address : p.node);
  }
  if (*waiting == 0) {
    promise.deliver(result->dump());
    return promise;
  }
  for (auto& p : peers) {
    if (!Reachable(p)) continue;
    const std::string id = p.node;
    auto done = [promise, result, waiting]() mutable {
      if (--*waiting == 0) promise.deliver(result->dump());
    };
    self->request(p.handle, std::chrono::seconds(3), peer_stats_atom_v)
        .then(
            [result, id, done](const std::string& text) mutable {
              auto j = json::parse(text, nullptr, false);
              if (j.is_discarded()) (*result)["unreachable"].push_back(id);
              else (*result)["nodes"][id] = std::move(j);
              done();
            },
            [result, id, done](caf::error&) mutable {
              (*result)["unreachable"].push_back(id);
              done();
            });
  }
  return promise;
}

std::string ClusterState::Faults(const std::string& text) {
  if (!cluster() || !cluster()->fault_injection)
    return json{{"ok", false}, {"error", "fault injection is off (set cluster.fault_injection: true)"}}.dump();
  auto j = json::parse(text, nullptr, false);
  // The knobs (handshake.cpp, replication.cpp), alone or beside "drop"; each in ms from
  // 0 (off) to 600000. All are checked before any is set.
  const std::pair<const char*, void (ClusterState::*)(int64_t)> setters[] = {
      {"reconnect_hold_ms", &ClusterState::HoldReconnects},
      {"pull_hold_ms", &ClusterState::HoldPullAnswers},
      {"pull_timeout_ms", &ClusterState::SetPullTimeout}};
  json knobs = json::object();
  for (const auto& [name, set] : setters) {
    if (!j.is_object() || !j.contains(name)) continue;
    const json& ms = j[name];
    if (!ms.is_number_integer() || ms.get<int64_t>() < 0 || ms.get<int64_t>() > 600'000)
      return json{{"ok", false}, {"error", std::string(name) + ": expected milliseconds from 0 to 600000"}}.dump();
    knobs[name] = ms;
  }
  for (const auto& [name, set] : setters)
    if (knobs.contains(name)) (this->*set)(knobs[name].get<int64_t>());
  if (!knobs.empty() && !j.contains("drop")) {
    knobs["ok"] = true;
    return knobs.dump();
  }
  if (!j.is_object() || !j.contains("drop") || !j["drop"].is_array())
    return json{{"ok", false}, {"error", "expected {\"drop\": [node ids]}"}}.dump();
  std::set<std::string> next;
  for (const auto& id : j["drop"]) {
    if (!id.is_string()) return json{{"ok", false}, {"error", "drop: node ids are strings"}}.dump();
    next.insert(id.get<std::string>());
  }
  const bool healed = std::any_of(dropped.begin(), dropped.end(), [&](const std::string& id) { return !next.count(id); });
  dropped = std::move(next);
  for (const auto& id : dropped) AbandonPull(id);  // its answer is dropped too: free the cursor now
  spdlog::warn("cluster: fault injection: dropping all traffic with [{}]", fmt::join(dropped, ", "));
  UpdatePeers();
  if (healed) SendHeartbeats();  // the healed peers learn at once what to pull
  json answer = knobs;
  answer["ok"] = true;
  answer["drop"] = dropped;
  return answer.dump();
}

caf::result<bool> ClusterState::Shutdown() {
  for (auto& p : peers) p.next_connect = INT64_MAX;  // no reconnects while going away
  // The node actor stopped every worker before this, so releasing is safe now.
  leases->ResignAll(LeaseNow());
  for (auto& out : leases->TakeOutgoing()) {
    if (dropped.count(out.to)) continue;
    if (Peer* p = PeerByNode(out.to)) self->send(p->handle, lease_atom_v, out.msg);
  }
  auto events = leases->TakeEvents();
  auto promise = self->make_response_promise<bool>();
  auto left = std::make_shared<size_t>(0);
  for (const auto& ev : events)
    if (!ev.held) ++*left;
  if (*left == 0) {
    promise.deliver(true);
    return promise;
  }
  for (const auto& ev : events) {
    if (ev.held) continue;
    self->request(ctx.store, kPeerRequestTimeout, kv_atom_v, LeaderRecordWrite(ev.sid, ev.term, WallMillis(), true))
        .then([promise, left](kv::Reply&) mutable {
                if (--*left == 0) promise.deliver(true);
              },
              [promise, left](caf::error&) mutable {
                if (--*left == 0) promise.deliver(true);
              });
  }
  return promise;
}

caf::behavior ClusterState::make_behavior() {
  Init();
  // Bench hook (store_actor.h): the replication trace, only on a node with fault
  // injection on and AMI_BENCH_REPL_TRACE=1 in its environment (bench_cluster sets both).
  if (const char* trace = std::getenv("AMI_BENCH_REPL_TRACE");
      trace && std::string_view(trace) == "1" && cluster() && cluster()->fault_injection) {
    SetReplicationTrace(true);
    spdlog::warn("cluster: replication trace on (AMI_BENCH_REPL_TRACE, fault injection): a line per replicated row");
  }
  self->set_down_handler([this](caf::down_msg& down) { OnDown(down); });
  // Every write to the network space made here is pushed to the peers at once (the
  // store's replication feed, store_actor.h).
  self->send(ctx.store, watch_atom_v, caf::actor_cast<ReplFeed>(self));
  self->request(ctx.store, kPeerRequestTimeout, repl_state_atom_v)
      .then(
          [this](ReplState& state) {
            last_pushed = std::max(last_pushed, state.last_versionstamp);
            if (repl_state) state.last_versionstamp = std::max(state.last_versionstamp, repl_state->last_versionstamp);
            repl_state = state;
          },
          LogError("reading the replication state"));
  // Peers learn this actor's address from its messages, so it is RemoteGuarded (exit,
  // error and forged down messages from other processes never reach it) and every
  // command meant for this node checks that its sender is local (Local()).
  self->set_error_handler([](caf::error& err) { spdlog::warn("cluster: {}", caf::to_string(err)); });
  self->set_default_handler(caf::drop);  // unknown messages: an error to requests, no stderr output
  ScheduleTick(SteadyMs());
  return {
      // --- local (refused from other processes)
      [this](attach_atom, LeaseListener n) {
        if (Local("cattach")) node = std::move(n);
      },
      [this](want_lease_atom, const std::string& sid, bool want) {
        if (Local("wantlease")) OnWant(sid, want);
      },
      // The store's replication feed: a wire type, so the sender must be local.
      [this](repl_changes_atom, wire::ReplBatch& batch) {
        if (Local("replchg")) OnFeed(batch);
      },
      [this](tick_atom, uint64_t seq) {
        if (!Local("ctick") || seq != tick_seq) return;  // a superseded timer
        tick_due = INT64_MAX;
        Tick();
        ScheduleTick(NextTickAt());
      },
      [this](members_atom) -> caf::result<std::string> {
        if (!Local("members")) return caf::sec::unexpected_message;
        return Members();
      },
      [this](cluster_stats_atom) -> caf::result<std::string> {
        if (!Local("cstatsall")) return caf::sec::unexpected_message;
        return ClusterStats();
      },
      [this](faults_atom, const std::string& text) -> caf::result<std::string> {
        if (!Local("faults")) return caf::sec::unexpected_message;
        return Faults(text);
      },
      [this](shutdown_atom) -> caf::result<bool> {
        if (!Local("shutdown")) return caf::sec::unexpected_message;
        return Shutdown();
      },
      // --- peers: handshake first
      [this](hello_atom, const wire::Hello& hello) -> wire::HelloReply {
        if (!cluster()) return {};
        return OnHello(hello);
      },
      [this](auth_atom, const wire::Auth& auth) -> bool { return cluster() && OnAuth(auth); },
      // --- peers: only after the handshake
      [this](heartbeat_atom, const wire::Heartbeat& beat) {
        if (auto from = Sender()) OnHeartbeat(*from, beat);
      },
      [this](repl_push_atom, wire::ReplBatch& batch) {
        auto from = Sender();
        if (!from) return;
        if (batch.node != *from) return Warn("cluster: rows from {} claim to come from {}; ignored", *from, Shown(batch.node));
        ReplCursor& c = cursors[*from];
        if (!c.loaded) return;  // the first heartbeat loads the cursor and pulls
        Apply(*from, std::move(batch));
      },
      [this](repl_pull_atom, uint64_t after) -> caf::result<wire::ReplBatch> {
        if (!Sender()) return wire::ReplBatch{};
        auto promise = self->make_response_promise<wire::ReplBatch>();
        if (pull_hold_ms > 0) {  // fault injection: the answer stays in flight
          held_pulls.emplace_back(SteadyMs() + pull_hold_ms, promise);
          ScheduleTick(held_pulls.back().first);
          return promise;
        }
        self->request(ctx.store, kPeerRequestTimeout, repl_changes_atom_v, after, kReplBatchRows)
            .then([promise](wire::ReplBatch& batch) mutable { promise.deliver(std::move(batch)); },
                  [promise](caf::error& err) mutable { promise.deliver(std::move(err)); });
        return promise;
      },
      [this](lease_atom, const cluster::LeaseMsg& msg) {
        auto from = Sender();
        if (!from) return;
        if (msg.from != *from) return Warn("cluster: lease message from {} claims to come from {}; ignored", *from, Shown(msg.from));
        leases->OnMessage(msg, LeaseNow());
        FlushLeases();
      },
      [this](peer_stats_atom) -> std::string {
        if (!Sender()) return "null";
        return ctx.stats->SummaryJson(WallMillis()).dump();
      },
  };
}

caf::behavior ClusterBehavior(ClusterSelf* self, ClusterContext context) {
  self->state.self = self;
  self->state.ctx = std::move(context);
  return self->state.make_behavior();
}

}  // namespace ami::cluster_impl

namespace ami {

using cluster_impl::ClusterBehavior;

ClusterContext MakeClusterContext(const Config& config, const WorkerEnvironment& env, StoreActor store) {
  return ClusterContext{config, env.node.network, env.services.clock, env.services.stats, env.services.members,
                        std::move(store), env.services.cluster_gauges};
}

ClusterActor SpawnClusterActor(caf::actor_system& system, ClusterContext context) {
  return caf::actor_cast<ClusterActor>(system.spawn(ClusterBehavior, std::move(context)));
}

caf::actor PeerFacing(const ClusterActor& cluster) { return caf::actor_cast<caf::actor>(cluster); }

}  // namespace ami
