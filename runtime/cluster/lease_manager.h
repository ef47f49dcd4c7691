// LeaseManager: the PaxosLease logic of leader leases, one independent instance per
// resource (a leader-mode worker, named by its sid). Every node runs one manager and
// plays both roles for every sid: proposer (for the sids it wants) and acceptor.
//
// Pure and deterministic: no CAF, no threads, no clock, no I/O. Time comes in as `now_ms`
// (this node's monotonic clock, milliseconds), randomness from `seed`. The cluster actor
// feeds it peer messages (OnMessage) and timer ticks (Tick, at NextWakeup or more often),
// sends what TakeOutgoing returns, and applies what TakeEvents returns. Messages from this
// node to itself never leave the manager.
//
// Protocol (PaxosLease, Trencseni et al.), per sid:
//   Acceptor: `promised` ballot; `accepted` lease {holder, term, expires_at by its own clock}.
//     Prepare(b)  refused (kReject, highest_counter) if b.counter < promised.counter, or the
//                 counter is the same but the node differs (a counter is promised to one
//                 node only, so the counter a lease was won with is a unique term);
//                 otherwise promised = b and kPromise reports the unexpired lease, if any.
//     Propose(b)  refused by the same rule; otherwise accepted = {b.node, term, now + lease_ms},
//                 promised = b, kAccept. The acceptor times the lease itself.
//     Release     from the holder of the accepted lease (same term): forget it now.
//   Proposer: counter = max(any counter seen, min_term, own last) + 1, ballot {counter, self}.
//     1. kPrepare to all. A majority (of cluster_size, not of the connected peers) of
//        kPromise for this ballot, none reporting another node's unexpired lease → 2.
//        A foreign lease → wait for it (capped, see below) and retry.
//     2. t0 = now, *then* kPropose(term, lease_ms = ttl) to all. term = the held term when
//        renewing, else the ballot's counter. Starting the timer before sending means the
//        proposer's lease ends before any acceptor's.
//     3. A majority of kAccept → held until lease_end = t0 + ttl; the worker may execute
//        until valid_until = lease_end - margin. Renew (1–3 again) at t0 + renew_ms.
//     Any kReject or attempt_timeout without a majority → retry after retry_ms ±50 %.
//     A holder that has not renewed by valid_until loses the lease (and keeps trying).
//
// Safety — at no moment do two nodes hold a lease they consider valid — rests on:
//   - Majorities: any two majorities of cluster_size share an acceptor. cluster_size is the
//     configured membership; it must be the same on every node.
//   - Acceptor memory: an acceptor that restarts has forgotten the leases it granted, so it
//     answers nothing for startup_silence_ms (≥ ttl, one maximum lease). A cluster of one
//     has no silence: its only proposer is this process, and its old lease died with it.
//   - Bounded clock drift: a holder's lease must end, by true time, before the acceptors'
//     timers do. Measured by true time the holder stops after (ttl - margin) / rate_holder,
//     an acceptor forgets after ttl / rate_acceptor; safe while rate_acceptor / rate_holder
//     < ttl / (ttl - margin), roughly while relative drift < margin / ttl (10 % by default).
//     Message delay only shortens the holder's lease relative to the acceptors'.
//   - Release is honest: a node releases only a lease it has stopped using (the glue
//     stops the worker first), and never renews a released term.
//   Terms only grow from one holder to the next while acceptors keep their state. An
//   acceptor restart forgets promised counters, so a later holder could reuse a lower
//   counter: pass the highest term known from elsewhere (the leader record in the
//   replicated KV) as SetWanted's min_term.
//
// Liveness measures (never needed for safety):
//   - A node's first attempt for a sid is delayed by its rank among itself and its current
//     peers (ordered by a hash of sid and node id, the same order on every node) × retry_ms,
//     because the glue calls SetWanted on every node at about the same time and
//     simultaneous proposers refuse each other. Set the peers before wanting.
//   - A proposer whose own acceptor, or a promise, reports another node's lease waits for
//     min(remaining, renew_ms / 2) — not the full remaining time, because the lease may end
//     early by a Release this node did not receive. A Release it does receive ends the
//     wait at once (plus the rank delay), and promises still reporting that released lease
//     are treated as empty, so a planned handover takes about one round trip.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "runtime/base/status.h"
#include "runtime/cluster/lease_protocol.h"

namespace ami::cluster {

struct LeaseOptions {
  std::string self;                    // this node's id
  size_t cluster_size = 1;             // configured nodes including this one; majority = size/2 + 1
  int64_t ttl_ms = 60000;              // lease length
  int64_t renew_ms = 30000;            // the holder re-runs the protocol this often (TTL/2)
  int64_t margin_ms = 6000;            // the holder stops executing this long before its lease end
  int64_t attempt_timeout_ms = 1000;   // a phase without a majority of answers is abandoned
  int64_t retry_ms = 200;              // base delay before another attempt (randomised 50–150 %)
  int64_t startup_silence_ms = 60000;  // the acceptor answers nothing this long after construction
  uint64_t seed = 1;
};

// OK, or what is wrong: empty self, cluster_size 0, non-positive times, margin ≥ ttl,
// renew_ms ≥ ttl - margin (the holder would stop before renewing), silence < ttl.
Status CheckLeaseOptions(const LeaseOptions& options);

// A change of this node's lease for `sid`: acquired, renewed (same term, later ends),
// lost or resigned (held = false, the last term and times). Times are in now_ms units.
struct LeaseEvent {
  std::string sid;
  bool held = false;
  uint64_t term = 0;
  int64_t lease_end_ms = 0;
  int64_t valid_until_ms = 0;  // do not execute at or after this time
};

struct Outgoing {
  std::string to;  // a node id; never this node
  LeaseMsg msg;
};

class LeaseManager {
 public:
  static constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

  // Options are used as given after clamping nonsense (see CheckLeaseOptions for the
  // message); `now_ms` starts the acceptor's startup silence.
  LeaseManager(LeaseOptions options, int64_t now_ms);

  // The nodes messages are sent to: the currently connected peers (self is ignored). The
  // majority is always counted of cluster_size, never of this list.
  void SetPeers(std::vector<std::string> node_ids);

  // Start or stop wanting sid's lease. Wanting starts attempts (the first after the rank
  // delay); counters start above min_term. Not wanting releases a held lease at once: call
  // it only after this node's worker has stopped executing.
  void SetWanted(const std::string& sid, bool wanted, uint64_t min_term, int64_t now_ms);

  // A message from a peer. Malformed input (unknown kind, empty sid, self as sender,
  // answers to old ballots) is ignored.
  void OnMessage(const LeaseMsg& msg, int64_t now_ms);

  // Timers: attempt timeouts, retries, renewals, losing a lease at valid_until.
  void Tick(int64_t now_ms);

  // Graceful shutdown: release every held lease and stop wanting all sids. As with
  // SetWanted(false), the workers must have stopped first.
  void ResignAll(int64_t now_ms);

  // Messages to send and lease changes since the last call, in order.
  std::vector<Outgoing> TakeOutgoing();
  std::vector<LeaseEvent> TakeEvents();

  // When Tick should run next (≤ now_ms if overdue), or kNever. Ticking more often is fine.
  int64_t NextWakeup(int64_t now_ms) const;

  // What this node knows of sid's lease, for the admin service: its own lease, else the
  // unexpired lease its acceptor granted (holder "" if none). nullopt for an unknown sid.
  struct View {
    std::string holder;
    uint64_t term = 0;
    int64_t remaining_ms = 0;  // until the lease end
    bool held_here = false;    // this node holds it and may execute (before valid_until)
  };
  std::optional<View> Describe(const std::string& sid, int64_t now_ms) const;

 private:
  struct Acceptor {
    Ballot promised;
    std::string holder;       // "" = no lease accepted (or forgotten)
    uint64_t term = 0;
    int64_t expires_at = 0;
  };
  enum class Phase { kIdle, kPreparing, kProposing };
  struct Proposer {
    bool wanted = false;
    uint64_t min_term = 0;
    uint64_t last_counter = 0;
    Phase phase = Phase::kIdle;
    Ballot ballot;                   // of the attempt in flight
    int64_t deadline = 0;            // of the phase in flight
    std::vector<std::string> answered;  // distinct nodes that promised / accepted `ballot`
    uint64_t proposed_term = 0;
    int64_t t0 = 0;                  // when the proposal was sent
    int64_t next_attempt = kNever;   // when idle and wanted
    bool held = false;
    uint64_t term = 0;
    int64_t lease_end = 0;
    int64_t valid_until = 0;
  };
  struct Instance {
    Acceptor acceptor;
    Proposer proposer;
    uint64_t highest_seen = 0;       // highest counter or term seen in any message
    std::string released_holder;     // the last Release this node received …
    uint64_t released_term = 0;      // … and its term
  };

  Instance& Get(const std::string& sid);
  void Dispatch(const LeaseMsg& msg, int64_t now);
  void DrainLocal(int64_t now);
  void Send(const std::string& to, LeaseMsg msg);
  void Broadcast(const LeaseMsg& msg);

  // Acceptor role.
  bool Silent(int64_t now) const { return now < silent_until_; }
  bool Refuses(const Acceptor& a, const Ballot& b) const;
  LeaseMsg Answer(const Acceptor& a, const LeaseMsg& msg) const;
  void OnPrepare(Instance& in, const LeaseMsg& msg, int64_t now);
  void OnPropose(Instance& in, const LeaseMsg& msg, int64_t now);
  void OnRelease(Instance& in, const LeaseMsg& msg, int64_t now);

  // Proposer role.
  void Step(const std::string& sid, Instance& in, int64_t now);
  void StartAttempt(const std::string& sid, Instance& in, int64_t now);
  void Abandon(Instance& in, int64_t retry_at);
  void OnPromise(const std::string& sid, Instance& in, const LeaseMsg& msg, int64_t now);
  void OnAccept(const std::string& sid, Instance& in, const LeaseMsg& msg, int64_t now);
  void OnReject(Instance& in, const LeaseMsg& msg, int64_t now);
  void Release(const std::string& sid, Instance& in, int64_t now);
  void Emit(const std::string& sid, const Proposer& p);
  // A lease another node holds that this proposer must wait for (not released to us).
  bool Foreign(const Instance& in, const std::string& holder, uint64_t term) const;
  int64_t ForeignWait(int64_t remaining_ms);
  int64_t RankDelay(const std::string& sid, const std::string& excluded) const;
  int64_t Jitter(int64_t base);
  size_t Majority() const { return options_.cluster_size / 2 + 1; }

  LeaseOptions options_;
  int64_t silent_until_ = 0;
  std::vector<std::string> peers_;
  std::map<std::string, Instance> sids_;
  std::vector<LeaseMsg> local_;  // messages to this node itself, not yet handled
  std::vector<Outgoing> outgoing_;
  std::vector<LeaseEvent> events_;
  std::mt19937_64 rng_;
};

}  // namespace ami::cluster
