// The cluster actor (actors/cluster_actor.h), part: Set-up, connecting to peers, the HMAC handshake (docs/cluster.md) and peer liveness.
#include "actors/cluster/cluster_state.h"

namespace ami::cluster_impl {

void ClusterState::Init() {
  self_id = ctx.config.node.id;
  cluster::LeaseOptions lo;
  lo.self = self_id;
  if (const auto* c = cluster()) {
    if (c->fault_injection && c->lease_clock_rate != 1.0) {
      clock_rate = c->lease_clock_rate;
      spdlog::warn("cluster: fault injection: lease clock runs at {}x real time", clock_rate);
    }
    auto members = cluster::MakeView(c->listen, c->peers, c->lease.ttl.count(), c->lease.margin.count(),
                                     cluster::LocalAddresses());
    for (const auto& note : members.notes) spdlog::warn("cluster: {}", note);
    for (const auto& own : members.dropped)
      spdlog::info("cluster: peer entry {} is this node (listen {}); not a peer", own, c->listen);
    view.hash = members.hash;
    view.members = static_cast<uint32_t>(members.members.size());
    view.lease_ttl_ms = members.ttl_ms;
    view.lease_margin_ms = members.margin_ms;
    for (const auto& address : members.peers) {
      Peer p;
      p.address = address;
      peers.push_back(std::move(p));
    }
    lo.cluster_size = peers.size() + 1;
    lo.ttl_ms = c->lease.ttl.count();
    lo.renew_ms = c->lease.renew.count();
    lo.margin_ms = c->lease.margin.count();
  } else {
    lo.cluster_size = 1;
    lo.ttl_ms = 60000;
    lo.renew_ms = 30000;
    lo.margin_ms = 6000;
  }
  lo.attempt_timeout_ms = std::clamp<int64_t>(lo.ttl_ms / 4, 100, 1000);
  lo.retry_ms = std::clamp<int64_t>(lo.ttl_ms / 20, 20, 500);
  // A cluster of one has nothing to wait for (see LeaseOptions); otherwise one lease time.
  lo.startup_silence_ms = lo.cluster_size == 1 ? 0 : lo.ttl_ms;
  uint64_t seed = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed);
  lo.seed = seed;
  if (Status ok = cluster::CheckLeaseOptions(lo); !ok.ok())
    spdlog::warn("cluster: lease settings adjusted: {}", ok.message());
  leases = std::make_unique<cluster::LeaseManager>(lo, LeaseNow());
  UpdatePeers();  // publishes the member list before any worker starts
  if (lo.cluster_size > 1)
    spdlog::info("cluster {}: {} nodes, majority {}; leases wait {} ms after start (acceptor silence)",
                 cluster()->name, lo.cluster_size, lo.cluster_size / 2 + 1, lo.startup_silence_ms);
}

Peer* ClusterState::PeerByNode(const std::string& node_id) {
  for (auto& p : peers)
    if (p.link == Peer::Link::kReady && p.node == node_id) return &p;
  return nullptr;
}

void ClusterState::Connect(Peer& p) {
  p.link = Peer::Link::kConnecting;
  std::string host;
  uint16_t port = 0;
  if (!cluster::SplitAddress(p.address, &host, &port)) return ConnectFailed(p, "not host:port");
  const std::string address = p.address;
  ConnectTo(host, port)
      .then(
          [this, address](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            Peer* p = FindPeer(address);
            if (!p) return;
            if (!ptr) return ConnectFailed(*p, "nothing published there");
            p->handle = caf::actor_cast<caf::actor>(ptr);
            self->monitor(p->handle);
            Handshake(*p);
          },
          [this, address](caf::error& err) {
            if (Peer* p = FindPeer(address))
              ConnectFailed(*p, self->system().render(err), err == caf::sec::connection_timeout);
          });
}

Peer* ClusterState::FindPeer(const std::string& address) {
  for (auto& p : peers)
    if (p.address == address) return &p;
  return nullptr;
}

void ClusterState::ConnectFailed(Peer& p, const std::string& why, bool spurious) {
  if (p.backoff_ms >= 3200) spdlog::debug("cluster: peer {} unreachable: {}", p.address, why);
  p.link = Peer::Link::kIdle;
  p.handle = nullptr;
  // CAF 0.17.5/0.17.6 defect: a new outbound BASP connection has no "last seen" time
  // until the peer's first bytes arrive, so a BASP heartbeat tick in that window (the
  // TLS and BASP handshakes, a few ms per heartbeat interval) closes it at once with
  // connection_timeout. Such an attempt says nothing about the peer: try again at once,
  // a few times in a row (a peer that truly never answers — frozen — fails every time
  // and then waits the back-off like any other failure).
  p.spurious_failures = spurious ? p.spurious_failures + 1 : 0;
  const bool retry_spurious = spurious && p.spurious_failures <= kSpuriousRetries;
  if (retry_spurious)
    spdlog::info("cluster: CAF closed the new connection to {} before it answered (a CAF 0.17 defect, "
                 "docs/cluster.md); trying again at once", p.address);
  if (p.retry_at_once || retry_spurious) {
    p.retry_at_once = false;
    p.backoff_ms = 200;
    p.next_connect = SteadyMs();
  } else {
    p.next_connect = SteadyMs() + ReconnectDelay(p);
    p.backoff_ms = std::min<int64_t>(p.backoff_ms * 2, 5000);
  }
  ScheduleTick(p.next_connect);
}

bool ClusterState::AuthedInbound(const std::string& node_id) const {
  if (node_id.empty()) return false;
  for (const auto& [addr, id] : authed)
    if (id == node_id) return true;
  return false;
}

int64_t ClusterState::ReconnectDelay(const Peer& p) const {
  // The fault-injected hold is for peers that are down; one that has proved itself on
  // its own connection to us is up, and our link to it follows at the normal pace.
  if (reconnect_hold_ms > 0 && !AuthedInbound(p.node)) return reconnect_hold_ms;
  return p.backoff_ms;
}

void ClusterState::HoldReconnects(int64_t ms) {
  reconnect_hold_ms = ms;
  spdlog::warn("cluster: fault injection: reconnects to peers that are down wait {} ms{}", reconnect_hold_ms,
               reconnect_hold_ms > 0 ? "" : " (off: the normal back-off)");
  // Links already waiting in their back-off wait the hold from now (or, turned off, their back-off).
  const int64_t now = SteadyMs();
  for (auto& p : peers)
    if (p.link == Peer::Link::kIdle && p.next_connect != INT64_MAX)
      p.next_connect = now + ReconnectDelay(p);
  ScheduleTick(NextTickAt());
}

std::string ClusterState::ViewMismatch(const wire::View& theirs) const {
  if (theirs.hash == view.hash) return "";
  if (theirs.hash.empty()) return "it sent no membership view";
  if (theirs.members != view.members)
    return "it counts " + std::to_string(theirs.members) + " members, we count " + std::to_string(view.members) +
           " (cluster.peers differ)";
  if (theirs.lease_ttl_ms != view.lease_ttl_ms || theirs.lease_margin_ms != view.lease_margin_ms)
    return "its lease ttl/margin are " + std::to_string(theirs.lease_ttl_ms) + "/" +
           std::to_string(theirs.lease_margin_ms) + " ms, ours " + std::to_string(view.lease_ttl_ms) + "/" +
           std::to_string(view.lease_margin_ms) + " ms";
  return "its member addresses differ from ours (cluster.peers must name the same nodes on every node)";
}

std::string ClusterState::DuplicateOf(const std::string& node_id, const std::string& incarnation, const std::string& address) {
  const int64_t now = SteadyMs();
  for (const auto& p : peers) {
    if (p.link != Peer::Link::kReady || p.node != node_id || StateOf(p, now) != "up") continue;
    if (!address.empty() && p.address != address) return "it is already connected at " + p.address;
    if (!incarnation.empty() && p.incarnation != incarnation)
      return "a node with that id and another incarnation is up at " + p.address;
  }
  return "";
}

void ClusterState::Handshake(Peer& p) {
  p.link = Peer::Link::kHandshaking;
  p.nonce = RandomHex(16);
  const std::string address = p.address;
  wire::Hello hello{cluster()->name, self_id, incarnation, p.nonce, view};
  self->request(p.handle, kPeerRequestTimeout, hello_atom_v, hello)
      .then(
          [this, address](wire::HelloReply& reply) {
            Peer* p = FindPeer(address);
            if (!p || p->link != Peer::Link::kHandshaking) return;
            const auto& c = *cluster();
            if (reply.node == self_id) {
              Warn("cluster: refused the node at {}: it has our own node id '{}' (two nodes share one id)", address,
                   self_id);
              return ConnectFailed(*p, "duplicate node id");
            }
            if (auto why = ViewMismatch(reply.view); !why.empty()) {
              Warn("cluster: refused node '{}' at {}: different membership view: {}", Shown(reply.node), address, why);
              return ConnectFailed(*p, "membership view");
            }
            if (reply.node.empty() ||
                !SameMac(reply.mac, Mac(c.secret, {"ami-hello", c.name, reply.node, p->nonce, reply.nonce,
                                                    reply.view.hash, view.hash}))) {
              Warn("cluster: peer {} failed the handshake (wrong cluster secret, or it refused us: see its log)",
                   address);
              return ConnectFailed(*p, "handshake");
            }
            if (auto why = DuplicateOf(reply.node, "", address); !why.empty()) {
              Warn("cluster: refused the node at {}: it claims node id '{}', but {} (two nodes share one id)",
                   address, Shown(reply.node), why);
              return ConnectFailed(*p, "duplicate node id");
            }
            wire::Auth auth{self_id, Mac(c.secret, {"ami-auth", c.name, self_id, reply.nonce, p->nonce, view.hash})};
            const std::string node_id = reply.node, inc = reply.incarnation;
            self->request(p->handle, kPeerRequestTimeout, auth_atom_v, auth)
                .then(
                    [this, address, node_id, inc](bool ok) {
                      Peer* p = FindPeer(address);
                      if (!p || p->link != Peer::Link::kHandshaking) return;
                      if (!ok) return ConnectFailed(*p, "auth refused");
                      // Checked again: another handshake for the same id may have finished meanwhile.
                      if (auto why = DuplicateOf(node_id, "", address); !why.empty()) {
                        Warn("cluster: refused the node at {}: it claims node id '{}', but {} (two nodes share "
                             "one id)", address, node_id, why);
                        return ConnectFailed(*p, "duplicate node id");
                      }
                      p->link = Peer::Link::kReady;
                      p->node = node_id;
                      p->incarnation = inc;
                      p->backoff_ms = 200;
                      p->spurious_failures = 0;
                      p->last_heard = SteadyMs();
                      spdlog::info("cluster: connected to {} at {}", node_id, address);
                      UpdatePeers();
                      SendHeartbeats();
                    },
                    [this, address](caf::error& err) {
                      if (Peer* p = FindPeer(address)) ConnectFailed(*p, self->system().render(err));
                    });
          },
          [this, address](caf::error& err) {
            Peer* p = FindPeer(address);
            if (!p) return;
            if (err == caf::sec::unexpected_message || err == caf::sec::unexpected_response)
              Warn("cluster: {} refused our hello (different cluster name?)", address);
            ConnectFailed(*p, self->system().render(err));
          });
}

wire::HelloReply ClusterState::OnHello(const wire::Hello& hello) {
  const auto& c = *cluster();
  auto sender = self->current_sender();
  wire::HelloReply refusal;
  refusal.view = view;  // no mac: the sender refuses it, and can log what differs
  if (hello.cluster != c.name || hello.node.empty() || hello.nonce.size() != 32 || !sender) {
    Warn("cluster: hello from {} for cluster '{}' refused", Shown(hello.node), Shown(hello.cluster));
    return refusal;
  }
  if (hello.node == self_id) {
    Warn("cluster: refused a hello from node id '{}': that is our own id (two nodes share one id)", Shown(hello.node));
    return refusal;
  }
  if (auto why = ViewMismatch(hello.view); !why.empty()) {
    Warn("cluster: refused node '{}': different membership view: {}", Shown(hello.node), why);
    return refusal;
  }
  if (auto why = DuplicateOf(hello.node, hello.incarnation, ""); !why.empty()) {
    Warn("cluster: refused a hello from node id '{}': {} (two nodes share one id)", Shown(hello.node), why);
    return refusal;
  }
  PendingAuth pending{hello.node, RandomHex(16), hello.nonce};
  wire::HelloReply reply{self_id, incarnation, pending.our_nonce,
                         Mac(c.secret, {"ami-hello", c.name, self_id, hello.nonce, pending.our_nonce, view.hash,
                                        hello.view.hash}),
                         view};
  pending_auth[caf::actor_cast<caf::actor_addr>(sender)] = std::move(pending);
  return reply;
}

bool ClusterState::OnAuth(const wire::Auth& auth) {
  const auto& c = *cluster();
  auto addr = caf::actor_cast<caf::actor_addr>(self->current_sender());
  auto it = pending_auth.find(addr);
  if (it == pending_auth.end()) return false;
  PendingAuth pending = it->second;
  pending_auth.erase(it);
  // The MAC covers our view: the hello's view was equal to it, or we refused it.
  if (auth.node != pending.node ||
      !SameMac(auth.mac, Mac(c.secret, {"ami-auth", c.name, pending.node, pending.our_nonce, pending.their_nonce,
                                        view.hash}))) {
    Warn("cluster: node '{}' failed authentication (wrong cluster secret?); ignored", Shown(auth.node));
    return false;
  }
  authed[addr] = pending.node;
  self->monitor(caf::actor_cast<caf::actor>(self->current_sender()));
  // A peer that just proved itself is up: if our own link to it waits in its reconnect
  // back-off (up to 5 s after it was down a while), connect now. Otherwise it hears
  // nothing from us until then, declares us down and misses our replication (fault
  // trial seed 1107: a node restarted after kill -9 was cut off for 7 s). Overrides the
  // fault-injected reconnect_hold_ms too: tests/cluster/restart_reconnect_test.cpp.
  // Any other link of ours may yet fail: an attempt under way (it can have started
  // before the restarted peer listened), or a "ready" link to the peer's previous process
  // whose death we have not noticed yet (its connection times out later). Its failure
  // then retries at once instead of waiting the back-off.
  const int64_t now = SteadyMs();
  for (auto& p : peers) {
    if (p.node != pending.node) continue;
    if (p.link == Peer::Link::kIdle && p.next_connect != INT64_MAX && p.next_connect > now) {
      p.backoff_ms = 200;
      p.next_connect = now;
      ScheduleTick(now);
    } else if (p.link != Peer::Link::kIdle) {
      p.retry_at_once = true;
    }
  }
  return true;
}

bool ClusterState::Local(const char* what) {
  if (IsLocalSender(self)) return true;
  Warn("cluster: refused '{}' from another process: it is a command for this node only", what);
  return false;
}

std::optional<std::string> ClusterState::Sender() {
  auto it = authed.find(caf::actor_cast<caf::actor_addr>(self->current_sender()));
  if (it == authed.end()) {
    Warn("cluster: message from an unauthenticated sender dropped");
    return std::nullopt;
  }
  if (dropped.count(it->second)) return std::nullopt;
  return it->second;
}

void ClusterState::OnDown(const caf::down_msg& down) {
  authed.erase(down.source);
  pending_auth.erase(down.source);
  for (auto& p : peers) {
    if (p.handle && p.handle.address() == down.source) {
      spdlog::info("cluster: lost the connection to {} ({})", p.node.empty() ? p.address : p.node,
                   caf::to_string(down.reason));
      const bool at_once = p.retry_at_once;
      ConnectFailed(p, "connection lost");
      if (!p.node.empty()) AbandonPull(p.node);  // its answer cannot come any more
      p.backoff_ms = 200;
      if (!at_once) p.next_connect = SteadyMs() + (reconnect_hold_ms > 0 ? ReconnectDelay(p) : 100);
    }
  }
  UpdatePeers();
  ScheduleTick(NextTickAt());  // the reconnect
}

std::string ClusterState::StateOf(const Peer& p, int64_t now) const {
  if (p.link != Peer::Link::kReady) return p.node.empty() ? "unknown" : "down";
  if (dropped.count(p.node)) return "down";
  const int64_t silent = now - p.last_heard;
  if (silent <= kSuspectBeats * HeartbeatMs()) return "up";
  if (silent <= kDownBeats * HeartbeatMs()) return "suspect";
  return "down";
}

void ClusterState::UpdatePeers() {
  const int64_t now = SteadyMs();
  std::vector<std::string> live;
  for (auto& p : peers) {
    const std::string state = StateOf(p, now);
    if (Reachable(p)) live.push_back(p.node);
    const bool up = state == "up" || state == "suspect";
    if (!p.node.empty() && up != p.up) {
      p.up = up;
      if (!up) spdlog::warn("cluster: node {} is down", p.node);
      if (node) self->send(node, node_status_atom_v, p.node, up);
    }
  }
  leases->SetPeers(live);
  if (ctx.gauges) {
    std::vector<cluster::PeerGauge> gauges;
    for (const auto& p : peers) {
      cluster::PeerGauge g{p.address, p.node, StateOf(p, now), std::nullopt};
      if (auto c = cursors.find(p.node); !p.node.empty() && c != cursors.end() && c->second.loaded)
        g.lag_versionstamps = c->second.remote_last > c->second.cursor ? c->second.remote_last - c->second.cursor : 0;
      gauges.push_back(std::move(g));
    }
    ctx.gauges->SetPeers(std::move(gauges));
  }
  if (ctx.members) {
    json members = json::array();
    members.push_back({{"id", self_id}, {"address", cluster() ? json(cluster()->listen) : json(nullptr)}, {"state", "self"}});
    for (const auto& p : peers)
      members.push_back({{"id", p.node.empty() ? json(nullptr) : json(p.node)}, {"address", p.address},
                         {"state", StateOf(p, now)}});
    ctx.members->Set(std::move(members));
  }
}

}  // namespace ami::cluster_impl
