// The cluster actor (actors/cluster_actor.h), part: Heartbeats and anti-entropy: replication of the network KV space between peers.
#include "actors/cluster/cluster_state.h"

namespace ami::cluster_impl {

void ClusterState::SendHeartbeats() {
  SyncAcks();
  if (repl_state) return Beat(*repl_state);
  if (repl_state_reading) return;
  repl_state_reading = true;
  self->request(ctx.store, kPeerRequestTimeout, repl_state_atom_v)
      .then(
          [this](ReplState& state) {
            repl_state_reading = false;
            // The feed may have told a later versionstamp meanwhile.
            if (repl_state) state.last_versionstamp = std::max(state.last_versionstamp, repl_state->last_versionstamp);
            repl_state = state;
            Beat(*repl_state);
          },
          [this](caf::error& err) {
            repl_state_reading = false;
            LogError("reading the replication state")(err);
          });
}

void ClusterState::SyncAcks() {
  if (sync_running) return;
  std::map<std::string, std::pair<std::string, uint64_t>> moved;  // node → (store incarnation, cursor)
  for (const auto& [node_id, c] : cursors)
    if (c.loaded && c.cursor != c.synced) moved[node_id] = {c.store_incarnation, c.cursor};
  if (moved.empty()) return;
  sync_running = true;
  self->request(ctx.store, kPeerRequestTimeout, repl_sync_atom_v)
      .then(
          [this, moved](bool durable) {
            sync_running = false;
            if (!durable) return;
            for (const auto& [node_id, at] : moved) {
              auto it = cursors.find(node_id);
              // A cursor reset meanwhile (a new store of that peer) is not acknowledged.
              if (it != cursors.end() && it->second.store_incarnation == at.first && it->second.cursor >= at.second)
                it->second.synced = at.second;
            }
          },
          [this](caf::error& err) {
            sync_running = false;
            LogError("syncing replicated rows")(err);
          });
}

void ClusterState::OnFeed(wire::ReplBatch& batch) {
  if (repl_state) repl_state->last_versionstamp = std::max(repl_state->last_versionstamp, batch.upto);
  if (!batch.node.empty()) return;  // rows applied from a peer: peers pull them (anti-entropy)
  if (peers.empty() || batch.upto <= last_pushed) return;
  if (push_running || batch.after > last_pushed) return Push();  // a gap (applied rows): read it
  last_pushed = batch.upto;
  batch.node = self_id;
  for (auto& p : peers)
    if (Reachable(p)) self->send(p.handle, repl_push_atom_v, batch);
}

void ClusterState::Beat(const ReplState& state) {
  for (auto& p : peers)
    if (Reachable(p)) BeatTo(p, state);
}

void ClusterState::BeatTo(const Peer& p, const ReplState& state) {
  wire::Heartbeat beat{self_id, incarnation, state.store_incarnation, state.last_versionstamp, ctx.clock->Now(),
                       "", 0};
  // Tell the peer how far we have durably applied its store (it sweeps tombstones by that).
  if (auto it = cursors.find(p.node); it != cursors.end() && it->second.loaded && it->second.synced > 0) {
    beat.acked_store = it->second.store_incarnation;
    beat.acked = it->second.synced;
  }
  self->send(p.handle, heartbeat_atom_v, beat);
}

void ClusterState::RecordAck(const std::string& from, const wire::Heartbeat& beat) {
  if (beat.acked_store.empty() || !repl_state || beat.acked_store != repl_state->store_incarnation) return;
  std::string value = beat.acked_store + ":" + std::to_string(beat.acked);
  auto& written = acks_written[from];
  if (written == value) return;
  written = value;
  self->request(ctx.store, kPeerRequestTimeout, meta_atom_v, kv::PeerAckName(from), std::move(value))
      .then([](bool) {}, LogError("storing a peer's replication progress"));
}

void ClusterState::OnHeartbeat(const std::string& from, const wire::Heartbeat& beat) {
  if (beat.node != from) return Warn("cluster: heartbeat from {} claims to be {}; ignored", from, Shown(beat.node));
  Peer* p = PeerByNode(from);
  if (!p) return;
  if (!ctx.clock->ObserveWithin(beat.hlc, MaxSkewMs())) {
    return Warn("cluster: refused a heartbeat from {}: its clock stamp is {} ms ahead of ours "
                "(cluster.max_clock_skew {} ms)", from, HybridClock::AheadMs(beat.hlc), MaxSkewMs());
  }
  const int64_t now = SteadyMs();
  // A peer heard again after a silence (a healed partition, a restart): it learns at once
  // how far we are, instead of at our next heartbeat, so both sides pull without delay.
  const bool was_quiet = p->last_heard == 0 || now - p->last_heard > 2 * HeartbeatMs();
  p->last_heard = now;
  if (was_quiet && repl_state && Reachable(*p)) BeatTo(*p, *repl_state);
  RecordAck(from, beat);
  ReplCursor& c = cursors[from];
  c.remote_last = beat.last_versionstamp;
  if (!c.loaded) return LoadCursor(from, beat.store_incarnation);
  if (c.store_incarnation != beat.store_incarnation) {
    spdlog::info("cluster: {} has a new store; replicating it from the start", from);
    c.store_incarnation = beat.store_incarnation;
    c.cursor = 0;
    c.synced = 0;
  }
  MaybePull(from);
}

void ClusterState::LoadCursor(const std::string& from, const std::string& store_incarnation) {
  ReplCursor& c = cursors[from];
  if (c.busy) return;
  c.busy = true;
  self->request(ctx.store, kPeerRequestTimeout, meta_atom_v, CursorMeta(from))
      .then([this, from, store_incarnation](const std::string& value) {
        ReplCursor& c = cursors[from];
        c.busy = false;
        c.loaded = true;
        // "<store incarnation>:<versionstamp>"
        const auto colon = value.rfind(':');
        if (colon != std::string::npos && value.substr(0, colon) == store_incarnation) {
          c.store_incarnation = store_incarnation;
          c.cursor = std::strtoull(value.c_str() + colon + 1, nullptr, 10);
        } else {
          c.store_incarnation = store_incarnation;
          c.cursor = 0;
        }
        MaybePull(from);
      },
      [this, from](caf::error& err) {
        cursors[from].busy = false;
        LogError("reading a replication cursor")(err);
      });
}

void ClusterState::MaybePull(const std::string& from) {
  ReplCursor& c = cursors[from];
  if (!c.loaded || c.busy) return;
  if (!c.queued.empty()) {
    wire::ReplBatch batch = std::move(c.queued.front());
    c.queued.pop_front();
    return Apply(from, std::move(batch));
  }
  if (c.remote_last <= c.cursor) return;
  // Only over our own link once it is ready: heartbeats may come in over the peer's
  // connection while ours is still down, and a request on a dead handle is never answered.
  Peer* p = PeerByNode(from);
  if (!p || !Reachable(*p)) return;
  c.busy = true;
  c.pulling = true;
  const uint64_t id = ++c.pull_id;
  // Both handlers ignore a pull that OnDown abandoned (a newer one may be in flight).
  self->request(p->handle, PullTimeout(), repl_pull_atom_v, c.cursor)
      .then(
          [this, from, id](wire::ReplBatch& batch) {
            ReplCursor& c = cursors[from];
            if (!c.pulling || c.pull_id != id) return;
            c.pulling = false;
            c.busy = false;
            batch.node = from;
            Apply(from, std::move(batch));
          },
          [this, from, id](caf::error&) {
            ReplCursor& c = cursors[from];
            if (!c.pulling || c.pull_id != id) return;
            c.pulling = false;
            c.busy = false;
          });
}

void ClusterState::HoldPullAnswers(int64_t ms) {
  pull_hold_ms = ms;
  spdlog::warn("cluster: fault injection: answers to peers' pulls are held {} ms", pull_hold_ms);
  if (pull_hold_ms == 0) ReleaseHeldPulls(INT64_MAX);
}

void ClusterState::ReleaseHeldPulls(int64_t now) {
  auto due = [now](const auto& held) { return held.first <= now; };
  for (auto& [at, promise] : held_pulls)
    if (at <= now) promise.deliver(caf::make_error(caf::sec::request_timeout));
  held_pulls.erase(std::remove_if(held_pulls.begin(), held_pulls.end(), due), held_pulls.end());
}

void ClusterState::AbandonPull(const std::string& from) {
  auto it = cursors.find(from);
  if (it == cursors.end() || !it->second.pulling) return;
  it->second.pulling = false;
  it->second.busy = false;
}

void ClusterState::DropFutureRows(const std::string& from, wire::ReplBatch& batch) {
  const int64_t max_skew = MaxSkewMs();
  size_t dropped_rows = 0;
  int64_t worst = 0;
  auto future = [&](const wire::ReplRow& r) {
    const int64_t ahead = HybridClock::AheadMs(r.hlc);
    if (ahead <= max_skew) return false;
    ++dropped_rows;
    worst = std::max(worst, ahead);
    return true;
  };
  batch.rows.erase(std::remove_if(batch.rows.begin(), batch.rows.end(), future), batch.rows.end());
  if (dropped_rows > 0)
    Warn("cluster: refused {} replicated rows from {}: clock stamps up to {} ms ahead of ours "
         "(cluster.max_clock_skew {} ms)", dropped_rows, from, worst, max_skew);
}

void ClusterState::Apply(const std::string& from, wire::ReplBatch batch) {
  ReplCursor& c = cursors[from];
  if (c.busy) {
    if (c.queued.size() < kMaxQueuedBatches) c.queued.push_back(std::move(batch));
    return;
  }
  DropFutureRows(from, batch);
  if (batch.store_incarnation != c.store_incarnation) {
    // A push from a store we have not synced with (or a stale one): apply the rows (last
    // writer wins makes that safe) but do not move the cursor; the next pull repairs.
    batch.after = UINT64_MAX;
  }
  const bool contiguous = batch.after <= c.cursor && batch.upto > c.cursor;
  const uint64_t new_cursor = contiguous ? batch.upto : c.cursor;
  std::string meta_name, meta_value;
  if (contiguous) {
    meta_name = CursorMeta(from);
    meta_value = c.store_incarnation + ":" + std::to_string(new_cursor);
  }
  if (batch.rows.empty() && !contiguous) return;  // nothing to do; the next heartbeat pulls
  c.busy = true;
  const bool more = batch.more;
  self->request(ctx.store, caf::infinite, repl_apply_atom_v, std::move(batch), meta_name, meta_value)
      .then(
          [this, from, new_cursor, more](uint64_t) {
            ReplCursor& c = cursors[from];
            c.busy = false;
            c.cursor = std::max(c.cursor, new_cursor);
            if (more) c.remote_last = std::max(c.remote_last, c.cursor + 1);
            MaybePull(from);
          },
          [this, from](caf::error& err) {
            cursors[from].busy = false;
            spdlog::error("cluster: applying rows from {}: {}", from, caf::to_string(err));
          });
}

void ClusterState::Push() {
  if (push_running) {
    push_again = true;
    return;
  }
  push_running = true;
  push_again = false;
  self->request(ctx.store, kPeerRequestTimeout, repl_changes_atom_v, last_pushed, kReplBatchRows)
      .then(
          [this](wire::ReplBatch& batch) {
            push_running = false;
            if (batch.upto <= last_pushed) return;
            last_pushed = batch.upto;
            batch.node = self_id;
            for (auto& p : peers)
              if (Reachable(p)) self->send(p.handle, repl_push_atom_v, batch);
            if (batch.more || push_again) Push();
          },
          [this](caf::error&) { push_running = false; });
}

}  // namespace ami::cluster_impl
