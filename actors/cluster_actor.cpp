// Over 600 lines on purpose: one actor's state machine (handshake, heartbeats,
// anti-entropy, leases) whose parts share the peer table and cursors. What stands apart
// is split out: the published gate (actors/peer_gate.h), the membership view
// (runtime/cluster/membership.h) and the lease logic (runtime/cluster/lease_manager.h).
#include "actors/cluster_actor.h"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>

#include "actors/messages.h"
#include "actors/remote_guard.h"
#include "runtime/base/digest.h"
#include "runtime/cluster/lease_manager.h"
#include "runtime/cluster/lease_wish.h"
#include "runtime/cluster/membership.h"
#include "transport/caf_tls.h"

namespace ami {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr uint32_t kReplBatchRows = 500;          // rows per push / pull reply
constexpr size_t kMaxQueuedBatches = 8;           // per peer; beyond, rely on the next pull
constexpr auto kPeerRequestTimeout = std::chrono::seconds(5);
constexpr int kSuspectBeats = 3;                  // unheard for 3 heartbeats: suspect
constexpr int kDownBeats = 6;                     // … for 6: down
constexpr int64_t kTickMs = 25;                   // lease timers and heartbeats are checked this often
// Terms are ballot counters: they grow by a few per election. A recorded term beyond this
// did not come from an election (a forged or corrupt ["ami","leader",sid]); starting
// above it could exhaust the counter and stop the lease from ever being granted.
constexpr uint64_t kMaxRecordedTerm = uint64_t{1} << 40;

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

// HMAC-SHA256 of the parts joined by '|', as hex. Proves knowledge of the cluster secret
// without sending it.
std::string Mac(const std::string& secret, std::initializer_list<std::string_view> parts) {
  std::string data;
  for (auto p : parts) {
    data.append(p);
    data += '|';
  }
  return HmacSha256Hex(secret, data);
}

// A string a peer chose, fit for a log line: control bytes escaped (no forged lines),
// at most 64 bytes shown.
std::string Shown(std::string_view text) {
  std::string out;
  for (unsigned char c : text.substr(0, 64)) {
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += HexOf(&c, 1);
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > 64) out += "…";
  return out;
}

bool SameMac(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// One configured peer address and what we know of the node behind it.
struct Peer {
  std::string address;               // "host:port" from the config
  enum class Link { kIdle, kConnecting, kHandshaking, kReady } link = Link::kIdle;
  caf::actor handle;                 // its published cluster actor, once connected
  std::string node;                  // node id, learned in the handshake
  std::string incarnation;           // of its process
  std::string nonce;                 // ours, during the handshake
  int64_t last_heard = 0;            // steady ms of the last heartbeat from it
  int64_t next_connect = 0;          // steady ms
  int64_t backoff_ms = 200;
  bool up = false;                   // as last told to the node actor
};

// Replication progress for one peer node: everything of its store up to `cursor` is here.
struct ReplCursor {
  bool loaded = false;               // read from meta yet
  std::string store_incarnation;
  uint64_t cursor = 0;
  uint64_t remote_last = 0;          // from its last heartbeat
  bool busy = false;                 // a pull or apply is in flight
  std::deque<wire::ReplBatch> queued;  // pushes that arrived while busy
};

struct ClusterState;
using ClusterSelf = caf::stateful_actor<ClusterState, RemoteGuarded>;

struct ClusterState {
  ClusterSelf* self = nullptr;
  ClusterContext ctx;
  std::string self_id;
  wire::View view;                   // what every peer must agree on (runtime/cluster/membership.h)
  std::map<std::string, std::string> acks_written;  // peer → last PeerAckName() value stored
  std::string incarnation = RandomHex(8);
  caf::actor node;
  std::vector<Peer> peers;
  // Inbound senders that completed the handshake: their proxy address → node id.
  std::map<caf::actor_addr, std::string> authed;
  // Inbound handshakes in progress: sender → (claimed node, our nonce, their nonce).
  struct PendingAuth { std::string node, our_nonce, their_nonce; };
  std::map<caf::actor_addr, PendingAuth> pending_auth;
  std::set<std::string> dropped;     // fault injection: nodes we neither send to nor hear
  std::map<std::string, ReplCursor> cursors;   // by peer node id
  uint64_t last_pushed = 0;          // our versionstamp pushed to peers so far
  std::optional<ReplState> repl_state;  // what heartbeats announce …
  bool repl_state_stale = true;      // … and whether a network write happened since it was read
  bool push_running = false, push_again = false;
  std::unique_ptr<cluster::LeaseManager> leases;
  std::set<std::string> resigning;   // sids whose next "not held" event is a resign
  cluster::LeaseWishes wishes;       // (wantlease) wishes whose leader-record read is in flight
  std::map<std::string, int64_t> acquired_at;  // sid → wall ms of acquisition
  int64_t next_heartbeat = 0;
  int64_t warn_budget_reset = 0;
  int warnings = 0;
  static inline const char* name = "ami.cluster";

  // Lease time: the steady clock, unless fault injection makes this node's clock drift.
  double clock_rate = 1.0;
  int64_t clock_origin = SteadyMs();
  int64_t LeaseNow() const {
    return clock_origin + static_cast<int64_t>(static_cast<double>(SteadyMs() - clock_origin) * clock_rate);
  }
  int64_t ToSteady(int64_t lease_ms) const {
    if (lease_ms == cluster::LeaseManager::kNever) return lease_ms;
    return clock_origin + static_cast<int64_t>(static_cast<double>(lease_ms - clock_origin) / clock_rate);
  }

  const ClusterSection* cluster() const { return ctx.config.cluster ? &*ctx.config.cluster : nullptr; }
  int64_t HeartbeatMs() const { return cluster() ? cluster()->heartbeat.count() : 500; }

  // An error handler for a request whose failure is only worth a log line. (Without a
  // handler, CAF 0.17 would stop this actor on the first failed request.)
  static auto LogError(const char* what) {
    return [what](caf::error& err) { spdlog::error("cluster: {}: {}", what, caf::to_string(err)); };
  }

  // Peer input is untrusted: complain, but not in a flood.
  template <class... Args>
  void Warn(spdlog::format_string_t<Args...> fmt, Args&&... args) {
    const int64_t now = SteadyMs();
    if (now > warn_budget_reset) {
      warn_budget_reset = now + 10000;
      warnings = 0;
    }
    if (++warnings <= 20) spdlog::warn(fmt, std::forward<Args>(args)...);
  }

  // ---------------------------------------------------------------- set-up
  void Init() {
    self_id = ctx.env->node_id;
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

  // ---------------------------------------------------------------- membership
  Peer* PeerByNode(const std::string& node_id) {
    for (auto& p : peers)
      if (p.link == Peer::Link::kReady && p.node == node_id) return &p;
    return nullptr;
  }

  bool Reachable(const Peer& p) const { return p.link == Peer::Link::kReady && !dropped.count(p.node); }

  // The one place that opens a connection to a peer's published gate: over mutual TLS
  // (transport/caf_tls.h), with this node's certificate.
  auto ConnectTo(const std::string& host, uint16_t port) {
    auto mm = transport::Connector(self->system());
    return self->request(mm, std::chrono::seconds(10), caf::connect_atom_v, host, port);
  }

  void Connect(Peer& p) {
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
              if (Peer* p = FindPeer(address)) ConnectFailed(*p, self->system().render(err));
            });
  }

  Peer* FindPeer(const std::string& address) {
    for (auto& p : peers)
      if (p.address == address) return &p;
    return nullptr;
  }

  void ConnectFailed(Peer& p, const std::string& why) {
    if (p.backoff_ms >= 3200) spdlog::debug("cluster: peer {} unreachable: {}", p.address, why);
    p.link = Peer::Link::kIdle;
    p.handle = nullptr;
    p.next_connect = SteadyMs() + p.backoff_ms;
    p.backoff_ms = std::min<int64_t>(p.backoff_ms * 2, 5000);
  }

  // Why `theirs` is not our view, for the log; empty when the views agree.
  std::string ViewMismatch(const wire::View& theirs) const {
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

  // Another live node already known under `node_id` (reached at another address, or
  // authenticated with another incarnation): two nodes share an id. Empty when not.
  std::string DuplicateOf(const std::string& node_id, const std::string& incarnation, const std::string& address) {
    const int64_t now = SteadyMs();
    for (const auto& p : peers) {
      if (p.link != Peer::Link::kReady || p.node != node_id || StateOf(p, now) != "up") continue;
      if (!address.empty() && p.address != address) return "it is already connected at " + p.address;
      if (!incarnation.empty() && p.incarnation != incarnation)
        return "a node with that id and another incarnation is up at " + p.address;
    }
    return "";
  }

  void Handshake(Peer& p) {
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

  wire::HelloReply OnHello(const wire::Hello& hello) {
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

  bool OnAuth(const wire::Auth& auth) {
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
    return true;
  }

  // Whether the current message comes from this process; logs (rate-limited) when not.
  bool Local(const char* what) {
    if (IsLocalSender(self)) return true;
    Warn("cluster: refused '{}' from another process: it is a command for this node only", what);
    return false;
  }

  // The node id of an authenticated sender that is not cut off, or nullopt (drop the message).
  std::optional<std::string> Sender() {
    auto it = authed.find(caf::actor_cast<caf::actor_addr>(self->current_sender()));
    if (it == authed.end()) {
      Warn("cluster: message from an unauthenticated sender dropped");
      return std::nullopt;
    }
    if (dropped.count(it->second)) return std::nullopt;
    return it->second;
  }

  void OnDown(const caf::down_msg& down) {
    authed.erase(down.source);
    pending_auth.erase(down.source);
    for (auto& p : peers) {
      if (p.handle && p.handle.address() == down.source) {
        spdlog::info("cluster: lost the connection to {} ({})", p.node.empty() ? p.address : p.node,
                     caf::to_string(down.reason));
        ConnectFailed(p, "connection lost");
        p.backoff_ms = 200;
        p.next_connect = SteadyMs() + 100;
      }
    }
    UpdatePeers();
  }

  // up: heard within kSuspectBeats heartbeats (and not cut off by fault injection).
  std::string StateOf(const Peer& p, int64_t now) const {
    if (p.link != Peer::Link::kReady) return p.node.empty() ? "unknown" : "down";
    if (dropped.count(p.node)) return "down";
    const int64_t silent = now - p.last_heard;
    if (silent <= kSuspectBeats * HeartbeatMs()) return "up";
    if (silent <= kDownBeats * HeartbeatMs()) return "suspect";
    return "down";
  }

  // Tells the lease manager whom to talk to and the node actor who is up.
  void UpdatePeers() {
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
    if (ctx.env->members) {
      json members = json::array();
      members.push_back({{"id", self_id}, {"address", cluster() ? json(cluster()->listen) : json(nullptr)}, {"state", "self"}});
      for (const auto& p : peers)
        members.push_back({{"id", p.node.empty() ? json(nullptr) : json(p.node)}, {"address", p.address},
                           {"state", StateOf(p, now)}});
      ctx.env->members->Set(std::move(members));
    }
  }

  // ---------------------------------------------------------------- heartbeats and anti-entropy
  // The store's replication state changes only with a write to the network space (local
  // or replicated), so it is read again only after one, not every heartbeat.
  void SendHeartbeats() {
    if (repl_state && !repl_state_stale) return Beat(*repl_state);
    repl_state_stale = false;  // a change while the read is in flight marks it stale again
    self->request(ctx.store, kPeerRequestTimeout, repl_state_atom_v)
        .then(
            [this](ReplState& state) {
              repl_state = state;
              Beat(state);
            },
            [this](caf::error& err) {
              repl_state_stale = true;
              LogError("reading the replication state")(err);
            });
  }

  void Beat(const ReplState& state) {
    wire::Heartbeat beat{self_id, incarnation, state.store_incarnation, state.last_versionstamp, ctx.env->clock->Now(),
                         "", 0};
    for (auto& p : peers) {
      if (!Reachable(p)) continue;
      // Tell each peer how far we have applied its store (it sweeps tombstones by that).
      beat.acked_store.clear();
      beat.acked = 0;
      if (auto it = cursors.find(p.node); it != cursors.end() && it->second.loaded) {
        beat.acked_store = it->second.store_incarnation;
        beat.acked = it->second.cursor;
      }
      self->send(p.handle, heartbeat_atom_v, beat);
    }
  }

  int64_t MaxSkewMs() const { return cluster() ? cluster()->max_clock_skew.count() : 5000; }

  // Stores how far `from` has applied our store, when that changed (one small write).
  void RecordAck(const std::string& from, const wire::Heartbeat& beat) {
    if (beat.acked_store.empty() || !repl_state || beat.acked_store != repl_state->store_incarnation) return;
    std::string value = beat.acked_store + ":" + std::to_string(beat.acked);
    auto& written = acks_written[from];
    if (written == value) return;
    written = value;
    self->request(ctx.store, kPeerRequestTimeout, meta_atom_v, kv::PeerAckName(from), std::move(value))
        .then([](bool) {}, LogError("storing a peer's replication progress"));
  }

  void OnHeartbeat(const std::string& from, const wire::Heartbeat& beat) {
    if (beat.node != from) return Warn("cluster: heartbeat from {} claims to be {}; ignored", from, Shown(beat.node));
    Peer* p = PeerByNode(from);
    if (!p) return;
    if (!ctx.env->clock->ObserveWithin(beat.hlc, MaxSkewMs())) {
      return Warn("cluster: refused a heartbeat from {}: its clock stamp is {} ms ahead of ours "
                  "(cluster.max_clock_skew {} ms)", from, HybridClock::AheadMs(beat.hlc), MaxSkewMs());
    }
    p->last_heard = SteadyMs();
    RecordAck(from, beat);
    ReplCursor& c = cursors[from];
    c.remote_last = beat.last_versionstamp;
    if (!c.loaded) return LoadCursor(from, beat.store_incarnation);
    if (c.store_incarnation != beat.store_incarnation) {
      spdlog::info("cluster: {} has a new store; replicating it from the start", from);
      c.store_incarnation = beat.store_incarnation;
      c.cursor = 0;
    }
    MaybePull(from);
  }

  static std::string CursorMeta(const std::string& node_id) { return "repl.cursor." + node_id; }

  void LoadCursor(const std::string& from, const std::string& store_incarnation) {
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

  void MaybePull(const std::string& from) {
    ReplCursor& c = cursors[from];
    if (!c.loaded || c.busy) return;
    if (!c.queued.empty()) {
      wire::ReplBatch batch = std::move(c.queued.front());
      c.queued.pop_front();
      return Apply(from, std::move(batch));
    }
    if (c.remote_last <= c.cursor) return;
    Peer* p = PeerByNode(from);
    if (!p || dropped.count(from)) return;
    c.busy = true;
    self->request(p->handle, kPeerRequestTimeout, repl_pull_atom_v, c.cursor)
        .then(
            [this, from](wire::ReplBatch& batch) {
              cursors[from].busy = false;
              batch.node = from;
              Apply(from, std::move(batch));
            },
            [this, from](caf::error&) { cursors[from].busy = false; });
  }

  // Drops rows stamped too far in the future (cluster.max_clock_skew), with a log line:
  // applying them would drag our clock (and every later write) ahead for good. The
  // store refuses them as well; here the line can name the peer.
  void DropFutureRows(const std::string& from, wire::ReplBatch& batch) {
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

  // Applies a batch from `from`; the cursor advances only over a contiguous range.
  void Apply(const std::string& from, wire::ReplBatch batch) {
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

  // Pushes our new network-space rows to every reachable peer, batch after batch.
  void Push() {
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

  // ---------------------------------------------------------------- leases
  void Tick() {
    const int64_t now = SteadyMs();
    for (auto& p : peers)
      if (p.link == Peer::Link::kIdle && now >= p.next_connect) Connect(p);
    if (now >= next_heartbeat) {
      next_heartbeat = now + HeartbeatMs();
      SendHeartbeats();
      UpdatePeers();
    }
    leases->Tick(LeaseNow());
    FlushLeases();
  }

  void FlushLeases() {
    for (auto& out : leases->TakeOutgoing()) {
      if (dropped.count(out.to)) continue;
      if (Peer* p = PeerByNode(out.to)) self->send(p->handle, lease_atom_v, out.msg);
    }
    for (auto& ev : leases->TakeEvents()) OnLeaseEvent(ev);
  }

  void OnLeaseEvent(const cluster::LeaseEvent& ev) {
    const int64_t now_steady = SteadyMs();
    const int64_t now_wall = WallMillis();
    LeaderGrant grant;
    grant.node = self_id;
    grant.term = ev.term;
    grant.expires_at_ms = now_wall + (ToSteady(ev.lease_end_ms) - now_steady);
    grant.valid_until = Clock::time_point(std::chrono::milliseconds(ToSteady(ev.valid_until_ms)));
    if (node) self->send(node, lease_changed_atom_v, ev.sid, ev.held, grant);
    if (ev.held) {
      if (!acquired_at.count(ev.sid)) acquired_at[ev.sid] = now_wall;
      WriteLeaderRecord(ev.sid, ev.term, grant.expires_at_ms, false);
    } else {
      acquired_at.erase(ev.sid);
      if (resigning.erase(ev.sid)) WriteLeaderRecord(ev.sid, ev.term, now_wall, true);
    }
  }

  // ["ami","leader",sid] in the network space: who leads, for getLeaderInfo on any node,
  // and the highest term so far, so terms keep growing even across full restarts.
  js::KvRequest LeaderRecordWrite(const std::string& sid, uint64_t term, int64_t expires_at, bool resigned) const {
    const int64_t now = WallMillis();
    auto acquired = acquired_at.find(sid);
    json value{{"leader", self_id},
               {"workerId", sid},
               {"term", term},
               {"timestamp", acquired != acquired_at.end() ? acquired->second : now},
               {"expiresAt", expires_at},
               {"renewedAt", now}};
    if (resigned) value["resigned"] = true;
    js::KvRequest put;
    put.op = js::KvRequest::Op::kCommit;
    put.space = kv::Space::kNetwork;
    put.mutations.push_back(
        kv::Mutation{kv::Mutation::Kind::kSet, kv::MakeKey({"ami", "leader", sid}), value.dump(), std::nullopt});
    return put;
  }

  void WriteLeaderRecord(const std::string& sid, uint64_t term, int64_t expires_at, bool resigned) {
    self->request(ctx.store, kPeerRequestTimeout, kv_atom_v, LeaderRecordWrite(sid, term, expires_at, resigned))
        .then(
            [sid](js::KvReply& reply) {
              if (!reply.status.ok())
                spdlog::error("cluster: writing the leader record of {}: {}", sid, reply.status.message());
            },
            LogError("writing a leader record"));
  }

  // A want starts with an asynchronous read of the leader record; `wishes` drops the
  // answer when a later wish for the same sid (a want=false, or a newer want) came in
  // between, so the lease follows the last wish (runtime/cluster/lease_wish.h).
  void OnWant(const std::string& sid, bool want) {
    const uint64_t ticket = wishes.Record(sid, want);
    if (!want) {
      resigning.insert(sid);
      leases->SetWanted(sid, false, 0, LeaseNow());
      FlushLeases();
      resigning.erase(sid);  // no event came: nothing was held
      return;
    }
    // Start above the highest term the cluster has recorded for this worker.
    js::KvRequest get;
    get.op = js::KvRequest::Op::kGet;
    get.space = kv::Space::kNetwork;
    get.key = kv::MakeKey({"ami", "leader", sid});
    auto on_read = [this, sid, ticket](js::KvReply& reply) {
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

  // ---------------------------------------------------------------- local questions
  caf::result<std::string> Members() {
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
              if (auto it = cursors.find(p.node); it != cursors.end()) n["replicatedUpTo"] = it->second.cursor;
              nodes.push_back(std::move(n));
            }
            const size_t size = peers.size() + 1;
            json out{{"self", self_id},
                     {"cluster", ctx.env->network},
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

  caf::result<std::string> ClusterStats() {
    auto promise = self->make_response_promise<std::string>();
    auto result = std::make_shared<json>();
    (*result)["nodes"][self_id] = ctx.env->stats->SummaryJson(WallMillis());
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

  std::string Faults(const std::string& text) {
    if (!cluster() || !cluster()->fault_injection)
      return json{{"ok", false}, {"error", "fault injection is off (set cluster.fault_injection: true)"}}.dump();
    auto j = json::parse(text, nullptr, false);
    if (!j.is_object() || !j.contains("drop") || !j["drop"].is_array())
      return json{{"ok", false}, {"error", "expected {\"drop\": [node ids]}"}}.dump();
    std::set<std::string> next;
    for (const auto& id : j["drop"]) {
      if (!id.is_string()) return json{{"ok", false}, {"error", "drop: node ids are strings"}}.dump();
      next.insert(id.get<std::string>());
    }
    dropped = std::move(next);
    spdlog::warn("cluster: fault injection: dropping all traffic with [{}]", fmt::join(dropped, ", "));
    UpdatePeers();
    return json{{"ok", true}, {"drop", dropped}}.dump();
  }

  caf::result<bool> Shutdown() {
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
          .then([promise, left](js::KvReply&) mutable {
                  if (--*left == 0) promise.deliver(true);
                },
                [promise, left](caf::error&) mutable {
                  if (--*left == 0) promise.deliver(true);
                });
    }
    return promise;
  }

  // ---------------------------------------------------------------- behaviour
  caf::behavior make_behavior() {
    Init();
    self->set_down_handler([this](caf::down_msg& down) { OnDown(down); });
    // Every write to the network space made here is pushed to the peers at once.
    self->send(ctx.store, watch_atom_v, kv::Space::kNetwork, kv::Key{}, caf::actor_cast<caf::actor>(self));
    self->request(ctx.store, kPeerRequestTimeout, repl_state_atom_v)
        .then([this](ReplState& state) { last_pushed = std::max(last_pushed, state.last_versionstamp); },
              LogError("reading the replication state"));
    // Peers learn this actor's address from its messages, so it is RemoteGuarded (exit,
    // error and forged down messages from other processes never reach it) and every
    // command meant for this node checks that its sender is local (Local()).
    self->set_error_handler([](caf::error& err) { spdlog::warn("cluster: {}", caf::to_string(err)); });
    self->set_default_handler(caf::drop);  // unknown messages: an error to requests, no stderr output
    self->send(self, tick_atom_v);
    return {
        // --- local (refused from other processes)
        [this](attach_atom, caf::actor n) {
          if (Local("cattach")) node = std::move(n);
        },
        [this](want_lease_atom, const std::string& sid, bool want) {
          if (Local("wantlease")) OnWant(sid, want);
        },
        // KvChange is a local-only type: no other process can send it.
        [this](changed_atom, const KvChange& change) {
          repl_state_stale = true;
          if (!change.remote && !peers.empty()) Push();
        },
        [this](tick_atom) {
          if (!Local("ctick")) return;
          Tick();
          self->delayed_send(self, std::chrono::milliseconds(kTickMs), tick_atom_v);
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
          return ctx.env->stats->SummaryJson(WallMillis()).dump();
        },
    };
  }
};

caf::behavior ClusterActor(ClusterSelf* self, ClusterContext context) {
  self->state.self = self;
  self->state.ctx = std::move(context);
  return self->state.make_behavior();
}

}  // namespace

caf::actor SpawnClusterActor(caf::actor_system& system, ClusterContext context) {
  return system.spawn(ClusterActor, std::move(context));
}

}  // namespace ami
