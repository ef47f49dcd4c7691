// The cluster actor (actors/cluster_actor.h), part: Leader leases: PaxosLease timers and events, lease wishes, leader records.
#include "actors/cluster/cluster_state.h"

namespace ami::cluster_impl {

void ClusterState::Tick() {
  const int64_t now = SteadyMs();
  for (auto& p : peers)
    if (p.link == Peer::Link::kIdle && now >= p.next_connect) Connect(p);
  if (!held_pulls.empty()) ReleaseHeldPulls(now);
  if (now >= next_heartbeat) {
    next_heartbeat = now + HeartbeatMs();
    SendHeartbeats();
    UpdatePeers();
  }
  leases->Tick(LeaseNow());
  FlushLeases();
}

int64_t ClusterState::NextTickAt() {
  int64_t next = next_heartbeat;
  for (const auto& p : peers)
    if (p.link == Peer::Link::kIdle) next = std::min(next, p.next_connect);
  for (const auto& held : held_pulls) next = std::min(next, held.first);
  const int64_t lease_next = leases->NextWakeup(LeaseNow());
  if (lease_next != cluster::LeaseManager::kNever) next = std::min(next, ToSteady(lease_next));
  return next;
}

void ClusterState::ScheduleTick(int64_t at) {
  if (at >= tick_due) return;  // one for then or earlier is pending
  const int64_t now = SteadyMs();
  tick_due = at;
  // At least 1 ms: a lease time converted between clocks may round to just before it is due.
  const int64_t delay = std::clamp<int64_t>(at - now, 1, HeartbeatMs());
  self->delayed_send(self, std::chrono::milliseconds(delay), tick_atom_v, ++tick_seq);
}

void ClusterState::FlushLeases() {
  for (auto& out : leases->TakeOutgoing()) {
    if (dropped.count(out.to)) continue;
    if (Peer* p = PeerByNode(out.to)) self->send(p->handle, lease_atom_v, out.msg);
  }
  for (auto& ev : leases->TakeEvents()) OnLeaseEvent(ev);
  ScheduleTick(NextTickAt());  // a lease message or wish may have moved a lease timer
}

void ClusterState::OnLeaseEvent(const cluster::LeaseEvent& ev) {
  const int64_t now_steady = SteadyMs();
  const int64_t now_wall = WallMillis();
  LeaderGrant grant;
  grant.node = self_id;
  grant.term = ev.term;
  grant.expires_at_ms = now_wall + (ToSteady(ev.lease_end_ms) - now_steady);
  grant.valid_until = Clock::time_point(std::chrono::milliseconds(ToSteady(ev.valid_until_ms)));
  if (node) self->send(node, lease_changed_atom_v, ev.sid, ev.held, grant);
  if (ctx.gauges) ctx.gauges->LeaseChanged(ev.sid, ev.held, ev.term);
  if (ev.held) {
    if (!acquired_at.count(ev.sid)) acquired_at[ev.sid] = now_wall;
    WriteLeaderRecord(ev.sid, ev.term, grant.expires_at_ms, false);
  } else {
    acquired_at.erase(ev.sid);
    if (resigning.erase(ev.sid)) WriteLeaderRecord(ev.sid, ev.term, now_wall, true);
  }
}

kv::Request ClusterState::LeaderRecordWrite(const std::string& sid, uint64_t term, int64_t expires_at, bool resigned) const {
  const int64_t now = WallMillis();
  auto acquired = acquired_at.find(sid);
  json value{{"leader", self_id},
             {"workerId", sid},
             {"term", term},
             {"timestamp", acquired != acquired_at.end() ? acquired->second : now},
             {"expiresAt", expires_at},
             {"renewedAt", now}};
  if (resigned) value["resigned"] = true;
  kv::Request put;
  put.op = kv::Request::Op::kCommit;
  put.space = kv::Space::kNetwork;
  put.mutations.push_back(
      kv::Mutation{kv::Mutation::Kind::kSet, kv::MakeKey({"ami", "leader", sid}), value.dump(), std::nullopt});
  return put;
}

void ClusterState::WriteLeaderRecord(const std::string& sid, uint64_t term, int64_t expires_at, bool resigned) {
  self->request(ctx.store, kPeerRequestTimeout, kv_atom_v, LeaderRecordWrite(sid, term, expires_at, resigned))
      .then(
          [sid](kv::Reply& reply) {
            if (!reply.status.ok())
              spdlog::error("cluster: writing the leader record of {}: {}", sid, reply.status.message());
          },
          LogError("writing a leader record"));
}

void ClusterState::OnWant(const std::string& sid, bool want) {
  const uint64_t ticket = wishes.Record(sid, want);
  if (!want) {
    resigning.insert(sid);
    leases->SetWanted(sid, false, 0, LeaseNow());
    FlushLeases();
    resigning.erase(sid);  // no event came: nothing was held
    if (ctx.gauges) ctx.gauges->DropLease(sid);
    return;
  }
  if (ctx.gauges) ctx.gauges->WantLease(sid);
  // Start above the highest term the cluster has recorded for this worker.
  kv::Request get;
  get.op = kv::Request::Op::kGet;
  get.space = kv::Space::kNetwork;
  get.key = kv::MakeKey({"ami", "leader", sid});
  auto on_read = [this, sid, ticket](kv::Reply& reply) {
    if (!wishes.IsLatestWant(sid, ticket)) return;  // replaced by a later wish
    wishes.Settle(sid, ticket);
    uint64_t min_term = 0;
    if (reply.entry) {
      auto j = json::parse(reply.entry->value, nullptr, false);
      if (j.is_object() && j.contains("term") && j["term"].is_number_unsigned()) min_term = j["term"].get<uint64_t>();
      if (min_term > kMaxRecordedTerm) {
        spdlog::warn("cluster: the leader record of {} holds term {}, above any election's ({}); ignored", sid,
                     min_term, kMaxRecordedTerm);
        min_term = 0;
      }
    }
    leases->SetWanted(sid, true, min_term, LeaseNow());
    FlushLeases();
  };
  auto on_error = [this, sid, ticket](caf::error& err) {
    if (!wishes.IsLatestWant(sid, ticket)) return;
    wishes.Settle(sid, ticket);
    // Without the recorded term, counters start from what the acceptors report.
    LogError("reading a leader record")(err);
    leases->SetWanted(sid, true, 0, LeaseNow());
    FlushLeases();
  };
  self->request(ctx.store, kPeerRequestTimeout, kv_atom_v, std::move(get)).then(on_read, on_error);
}

}  // namespace ami::cluster_impl
