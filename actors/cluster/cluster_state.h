// The cluster actor's state, shared by the files that implement it (internal to
// actors/; the interface is actors/cluster_actor.h). One actor's state machine whose parts
// share the peer table and cursors, split by concern:
//   handshake.cpp    set-up, connecting to peers, the HMAC handshake, peer liveness
//   replication.cpp  heartbeats and anti-entropy of the network KV space
//   leases.cpp       PaxosLease timers and events, lease wishes, leader records
//   ../cluster_actor.cpp  local questions, the behaviour, spawning
#pragma once

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

#include "actors/cluster_actor.h"
#include "actors/messages.h"
#include "actors/remote_guard.h"
#include "runtime/base/digest.h"
#include "runtime/cluster/lease_manager.h"
#include "runtime/cluster/lease_wish.h"
#include "runtime/cluster/membership.h"
#include "transport/caf_tls.h"

namespace ami::cluster_impl {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr uint32_t kReplBatchRows = 500;          // rows per push / pull reply
constexpr size_t kMaxQueuedBatches = 8;           // per peer; beyond, rely on the next pull
constexpr auto kPeerRequestTimeout = std::chrono::seconds(5);
constexpr int kSuspectBeats = 3;                  // unheard for 3 heartbeats: suspect
constexpr int kDownBeats = 6;                     // … for 6: down
constexpr int kSpuriousRetries = 3;               // immediate retries after CAF's spurious timeouts
// The actor's timer runs when something is due — the next heartbeat, a reconnect, a lease
// timer (LeaseManager::NextWakeup) — not on a fixed beat, so an idle node wakes about
// twice a heartbeat, not 40 times a second.
// Terms are ballot counters: they grow by a few per election. A recorded term beyond this
// did not come from an election (a forged or corrupt ["ami","leader",sid]); starting
// above it could exhaust the counter and stop the lease from ever being granted.
constexpr uint64_t kMaxRecordedTerm = uint64_t{1} << 40;

inline int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

// HMAC-SHA256 of the parts joined by '|', as hex. Proves knowledge of the cluster secret
// without sending it.
inline std::string Mac(const std::string& secret, std::initializer_list<std::string_view> parts) {
  std::string data;
  for (auto p : parts) {
    data.append(p);
    data += '|';
  }
  return HmacSha256Hex(secret, data);
}

// A string a peer chose, fit for a log line: control bytes escaped (no forged lines),
// at most 64 bytes shown.
inline std::string Shown(std::string_view text) {
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

inline bool SameMac(const std::string& a, const std::string& b) {
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
  // It proved itself on a connection of its own while our link was not idle (an attempt
  // under way, or a link to its previous process not yet seen dead): when our link
  // fails, reconnect at once instead of after the back-off (ClusterState::OnAuth).
  bool retry_at_once = false;
  // Attempts in a row that CAF closed before the peer's first answer (ConnectFailed).
  int spurious_failures = 0;
};

// Replication progress for one peer node: everything of its store up to `cursor` is here.
struct ReplCursor {
  bool loaded = false;               // read from meta yet
  std::string store_incarnation;
  uint64_t cursor = 0;
  // The part of `cursor` a (replsync) has made durable here: what heartbeats acknowledge
  // (applies are not fsynced one by one; the peer sweeps tombstones by our acks).
  uint64_t synced = 0;
  uint64_t remote_last = 0;          // from its last heartbeat
  bool busy = false;                 // a pull or apply is in flight
  // The pull in flight, if any (its id): a pull whose connection is lost is abandoned at
  // once (OnDown), not left to time out — until then `busy` would stop every other pull
  // from that peer for kPeerRequestTimeout (fault trial seed 1001: digests equal 4.6 s late).
  bool pulling = false;
  uint64_t pull_id = 0;
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
  LeaseListener node;
  std::vector<Peer> peers;
  // Inbound senders that completed the handshake: their proxy address → node id.
  std::map<caf::actor_addr, std::string> authed;
  // Inbound handshakes in progress: sender → (claimed node, our nonce, their nonce).
  struct PendingAuth { std::string node, our_nonce, their_nonce; };
  std::map<caf::actor_addr, PendingAuth> pending_auth;
  std::set<std::string> dropped;     // fault injection: nodes we neither send to nor hear
  // Fault injection (faults.set reconnect_hold_ms; 0 = off): a link to a peer that is down
  // waits this long before its next connect attempt instead of the back-off, so a test can
  // hold our outbound link down for good and see that only OnAuth brings it back.
  int64_t reconnect_hold_ms = 0;
  // Fault injection (faults.set pull_hold_ms / pull_timeout_ms; 0 = off), for the regression
  // test of fault-trial seed 1001: answers to peers' pulls are held that long (then
  // answered with an error), and our own pulls time out after pull_timeout_ms instead of
  // kPeerRequestTimeout — so a pull can be kept in flight while its connection dies.
  int64_t pull_hold_ms = 0;
  int64_t pull_timeout_ms = 0;
  std::vector<std::pair<int64_t, caf::response_promise>> held_pulls;  // (release at, answer)
  std::map<std::string, ReplCursor> cursors;   // by peer node id
  uint64_t last_pushed = 0;          // our versionstamp pushed to peers so far
  // What heartbeats announce: read once, then kept current by the store's replication
  // feed (every network commit and apply tells its versionstamp), so a heartbeat costs
  // the store nothing.
  std::optional<ReplState> repl_state;
  bool repl_state_reading = false;
  bool push_running = false, push_again = false;
  bool sync_running = false;         // a (replsync) for the acks is in flight
  std::unique_ptr<cluster::LeaseManager> leases;
  std::set<std::string> resigning;   // sids whose next "not held" event is a resign
  cluster::LeaseWishes wishes;       // (wantlease) wishes whose leader-record read is in flight
  std::map<std::string, int64_t> acquired_at;  // sid → wall ms of acquisition
  int64_t next_heartbeat = 0;
  int64_t tick_due = INT64_MAX;      // steady ms the pending (ctick) is for
  uint64_t tick_seq = 0;             // only the latest scheduled (ctick, seq) runs
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
  void Init();


  // ---------------------------------------------------------------- membership
  Peer* PeerByNode(const std::string& node_id);

  bool Reachable(const Peer& p) const { return p.link == Peer::Link::kReady && !dropped.count(p.node); }

  // The one place that opens a connection to a peer's published gate: over mutual TLS
  // (transport/caf_tls.h), with this node's certificate.
  auto ConnectTo(const std::string& host, uint16_t port) {
    auto mm = transport::Connector(self->system());
    return self->request(mm, std::chrono::seconds(10), caf::connect_atom_v, host, port);
  }

  void Connect(Peer& p);

  Peer* FindPeer(const std::string& address);

  // An attempt or a ready link failed: the link goes idle and reconnects after its back-off
  // (at once after `spurious`: CAF closed a new connection by its own defect, see there).
  void ConnectFailed(Peer& p, const std::string& why, bool spurious = false);

  // Whether node `node_id` is authenticated on a connection of its own to us.
  bool AuthedInbound(const std::string& node_id) const;

  // How long a failed link waits before its next attempt: its back-off, or the
  // fault-injected reconnect_hold_ms for a peer that is down.
  int64_t ReconnectDelay(const Peer& p) const;

  // Fault injection (values checked by Faults): sets reconnect_hold_ms and re-times the
  // idle links by it; sets pull_hold_ms, where 0 releases the held answers at once.
  void HoldReconnects(int64_t ms);
  void HoldPullAnswers(int64_t ms);
  void SetPullTimeout(int64_t ms) {
    pull_timeout_ms = ms;
    spdlog::warn("cluster: fault injection: pulls time out after {} ms", PullTimeout().count());
  }
  void ReleaseHeldPulls(int64_t now);  // those due by `now`: answered with an error

  std::chrono::milliseconds PullTimeout() const {
    return pull_timeout_ms > 0 ? std::chrono::milliseconds(pull_timeout_ms) : kPeerRequestTimeout;
  }

  // Why `theirs` is not our view, for the log; empty when the views agree.
  std::string ViewMismatch(const wire::View& theirs) const;

  // Another live node already known under `node_id` (reached at another address, or
  // authenticated with another incarnation): two nodes share an id. Empty when not.
  std::string DuplicateOf(const std::string& node_id, const std::string& incarnation, const std::string& address);

  void Handshake(Peer& p);

  wire::HelloReply OnHello(const wire::Hello& hello);

  bool OnAuth(const wire::Auth& auth);

  // Whether the current message comes from this process; logs (rate-limited) when not.
  bool Local(const char* what);

  // The node id of an authenticated sender that is not cut off, or nullopt (drop the message).
  std::optional<std::string> Sender();

  void OnDown(const caf::down_msg& down);

  // up: heard within kSuspectBeats heartbeats (and not cut off by fault injection).
  std::string StateOf(const Peer& p, int64_t now) const;

  // Tells the lease manager whom to talk to and the node actor who is up.
  void UpdatePeers();


  // ---------------------------------------------------------------- heartbeats and anti-entropy
  // Heartbeats send what the feed keeps in repl_state; the store is asked only before
  // the first answer (or after a failed read).
  void SendHeartbeats();

  // When applies moved a cursor past what is durable, asks the store to sync them, then
  // acknowledges the new cursors in later heartbeats. Nothing to do on an idle cluster.
  void SyncAcks();

  // The store's replication feed (store_actor.h): local rows are pushed to the peers as
  // they are, without reading them back, when they continue what was pushed before;
  // otherwise Push() reads the gap. Applied rows only advance repl_state.
  void OnFeed(wire::ReplBatch& batch);

  void Beat(const ReplState& state);
  void BeatTo(const Peer& p, const ReplState& state);

  int64_t MaxSkewMs() const { return cluster() ? cluster()->max_clock_skew.count() : 5000; }

  // Stores how far `from` has applied our store, when that changed (one small write).
  void RecordAck(const std::string& from, const wire::Heartbeat& beat);

  void OnHeartbeat(const std::string& from, const wire::Heartbeat& beat);

  static std::string CursorMeta(const std::string& node_id) { return "repl.cursor." + node_id; }

  void LoadCursor(const std::string& from, const std::string& store_incarnation);

  void MaybePull(const std::string& from);
  void AbandonPull(const std::string& from);  // the connection to `from` is gone: free its cursor

  // Drops rows stamped too far in the future (cluster.max_clock_skew), with a log line:
  // applying them would drag our clock (and every later write) ahead for good. The
  // store refuses them as well; here the line can name the peer.
  void DropFutureRows(const std::string& from, wire::ReplBatch& batch);

  // Applies a batch from `from`; the cursor advances only over a contiguous range.
  void Apply(const std::string& from, wire::ReplBatch batch);

  // Pushes our new network-space rows to every reachable peer, batch after batch.
  void Push();


  // ---------------------------------------------------------------- leases
  void Tick();

  // When Tick is next due: the next heartbeat, reconnect or lease timer.
  int64_t NextTickAt();

  // Makes sure a (ctick) comes at `at` (steady ms) or earlier.
  void ScheduleTick(int64_t at);

  void FlushLeases();

  void OnLeaseEvent(const cluster::LeaseEvent& ev);

  // ["ami","leader",sid] in the network space: who leads, for getLeaderInfo on any node,
  // and the highest term so far, so terms keep growing even across full restarts.
  kv::Request LeaderRecordWrite(const std::string& sid, uint64_t term, int64_t expires_at, bool resigned) const;

  void WriteLeaderRecord(const std::string& sid, uint64_t term, int64_t expires_at, bool resigned);

  // A want starts with an asynchronous read of the leader record; `wishes` drops the
  // answer when a later wish for the same sid (a want=false, or a newer want) came in
  // between, so the lease follows the last wish (runtime/cluster/lease_wish.h).
  void OnWant(const std::string& sid, bool want);


  // ---------------------------------------------------------------- local questions
  caf::result<std::string> Members();

  caf::result<std::string> ClusterStats();

  std::string Faults(const std::string& text);

  caf::result<bool> Shutdown();


  // ---------------------------------------------------------------- behaviour
  caf::behavior make_behavior();
};

}  // namespace ami::cluster_impl
