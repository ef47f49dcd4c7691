#include "runtime/cluster/lease_manager.h"

#include <algorithm>

namespace ami::cluster {

namespace {

// Counters and terms above this are garbage: nobody counts that far, and +1 must not wrap.
constexpr uint64_t kMaxCounter = uint64_t{1} << 62;
// A proposed lease longer than a day is garbage too; it would also risk overflowing now + lease.
constexpr int64_t kMaxLeaseMs = 24LL * 3600 * 1000;

bool KnownKind(uint8_t kind) { return kind >= LeaseMsg::kPrepare && kind <= LeaseMsg::kRelease; }

// FNV-1a: the rank order must be the same in every process, which std::hash does not promise.
uint64_t Fnv1a(const std::string& a, const std::string& b) {
  uint64_t h = 14695981039346656037ull;
  auto mix = [&h](unsigned char c) { h = (h ^ c) * 1099511628211ull; };
  for (unsigned char c : a) mix(c);
  mix(0);
  for (unsigned char c : b) mix(c);
  return h;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

Status CheckLeaseOptions(const LeaseOptions& o) {
  auto bad = [](std::string m) { return Status::InvalidArgument("lease: " + std::move(m)); };
  if (o.self.empty()) return bad("node id is empty");
  if (o.cluster_size < 1) return bad("cluster size must be at least 1");
  if (o.ttl_ms <= 0 || o.renew_ms <= 0 || o.attempt_timeout_ms <= 0 || o.retry_ms <= 0)
    return bad("ttl, renew, attempt timeout and retry must be positive");
  if (o.margin_ms < 0 || o.margin_ms >= o.ttl_ms)
    return bad("margin (" + std::to_string(o.margin_ms) + " ms) must be in [0, ttl)");
  if (o.renew_ms >= o.ttl_ms - o.margin_ms)
    return bad("renew (" + std::to_string(o.renew_ms) + " ms) must be shorter than ttl - margin (" +
               std::to_string(o.ttl_ms - o.margin_ms) + " ms), or the holder stops before renewing");
  if (o.cluster_size > 1 && o.startup_silence_ms < o.ttl_ms)
    return bad("startup silence (" + std::to_string(o.startup_silence_ms) +
               " ms) must be at least ttl: a restarted acceptor may have granted a lease it forgot");
  return Status::OK();
}

LeaseManager::LeaseManager(LeaseOptions options, int64_t now_ms)
    : options_(std::move(options)), rng_(options_.seed) {
  LeaseOptions& o = options_;
  o.cluster_size = std::max<size_t>(o.cluster_size, 1);
  o.ttl_ms = std::clamp<int64_t>(o.ttl_ms, 2, kMaxLeaseMs);
  o.margin_ms = std::clamp<int64_t>(o.margin_ms, 0, o.ttl_ms - 1);
  o.renew_ms = std::clamp<int64_t>(o.renew_ms, 1, o.ttl_ms);
  o.attempt_timeout_ms = std::max<int64_t>(o.attempt_timeout_ms, 1);
  o.retry_ms = std::max<int64_t>(o.retry_ms, 1);
  o.startup_silence_ms = std::clamp<int64_t>(o.startup_silence_ms, 0, kMaxLeaseMs);
  // A cluster of one has no other proposer: whatever lease this acceptor granted before a
  // restart was this process's own, and it ended with the process.
  if (o.cluster_size == 1) o.startup_silence_ms = 0;
  silent_until_ = now_ms + o.startup_silence_ms;
}

void LeaseManager::SetPeers(std::vector<std::string> node_ids) {
  std::sort(node_ids.begin(), node_ids.end());
  node_ids.erase(std::unique(node_ids.begin(), node_ids.end()), node_ids.end());
  std::erase(node_ids, options_.self);
  std::erase(node_ids, std::string());
  peers_ = std::move(node_ids);
}

void LeaseManager::SetWanted(const std::string& sid, bool wanted, uint64_t min_term, int64_t now_ms) {
  if (sid.empty()) return;
  Instance& in = Get(sid);
  Proposer& p = in.proposer;
  p.min_term = std::max(p.min_term, std::min(min_term, kMaxCounter));
  if (wanted && !p.wanted) {
    p.wanted = true;
    p.next_attempt = now_ms + RankDelay(sid, "");
  } else if (!wanted && p.wanted) {
    p.wanted = false;
    Release(sid, in, now_ms);
  }
  Step(sid, in, now_ms);
  DrainLocal(now_ms);
}

void LeaseManager::OnMessage(const LeaseMsg& msg, int64_t now_ms) {
  // Our own messages never leave this object; one that claims to is not ours.
  if (msg.from == options_.self) return;
  Dispatch(msg, now_ms);
  DrainLocal(now_ms);
}

void LeaseManager::Tick(int64_t now_ms) {
  for (auto& [sid, in] : sids_) Step(sid, in, now_ms);
  DrainLocal(now_ms);
}

void LeaseManager::ResignAll(int64_t now_ms) {
  for (auto& [sid, in] : sids_) {
    in.proposer.wanted = false;
    Release(sid, in, now_ms);
  }
  DrainLocal(now_ms);
}

std::vector<Outgoing> LeaseManager::TakeOutgoing() { return std::exchange(outgoing_, {}); }
std::vector<LeaseEvent> LeaseManager::TakeEvents() { return std::exchange(events_, {}); }

int64_t LeaseManager::NextWakeup(int64_t now_ms) const {
  int64_t next = kNever;
  for (const auto& [sid, in] : sids_) {
    const Proposer& p = in.proposer;
    if (p.phase != Phase::kIdle) next = std::min(next, p.deadline);
    else if (p.wanted) next = std::min(next, p.next_attempt);
    if (p.held) next = std::min(next, p.valid_until);
  }
  return next;
}

std::optional<LeaseManager::View> LeaseManager::Describe(const std::string& sid, int64_t now_ms) const {
  auto it = sids_.find(sid);
  if (it == sids_.end()) return std::nullopt;
  const Proposer& p = it->second.proposer;
  const Acceptor& a = it->second.acceptor;
  View v;
  if (p.held && now_ms < p.valid_until) {
    v.holder = options_.self;
    v.term = p.term;
    v.remaining_ms = p.lease_end - now_ms;
    v.held_here = true;
  } else if (!a.holder.empty() && now_ms < a.expires_at) {
    v.holder = a.holder;
    v.term = a.term;
    v.remaining_ms = a.expires_at - now_ms;
  }
  return v;
}

LeaseManager::Instance& LeaseManager::Get(const std::string& sid) { return sids_[sid]; }

void LeaseManager::Send(const std::string& to, LeaseMsg msg) {
  if (to == options_.self) local_.push_back(std::move(msg));
  else outgoing_.push_back(Outgoing{to, std::move(msg)});
}

void LeaseManager::Broadcast(const LeaseMsg& msg) {
  for (const auto& peer : peers_) Send(peer, msg);
  Send(options_.self, msg);
}

// Self-addressed messages are queued and handled here, after the handler that sent them
// has returned, so no handler runs inside another (a cluster of one acquires in one call).
void LeaseManager::DrainLocal(int64_t now) {
  while (!local_.empty()) {
    auto batch = std::exchange(local_, {});
    for (const auto& msg : batch) Dispatch(msg, now);
  }
}

void LeaseManager::Dispatch(const LeaseMsg& msg, int64_t now) {
  if (!KnownKind(msg.kind) || msg.sid.empty() || msg.from.empty()) return;
  if (msg.ballot.counter > kMaxCounter || msg.highest_counter > kMaxCounter || msg.term > kMaxCounter)
    return;
  // Only the proposer itself asks with its ballot.
  const bool request = msg.kind == LeaseMsg::kPrepare || msg.kind == LeaseMsg::kPropose;
  if (request && msg.ballot.node != msg.from) return;
  Instance& in = Get(msg.sid);
  in.highest_seen = std::max({in.highest_seen, msg.ballot.counter, msg.highest_counter, msg.term});
  Step(msg.sid, in, now);  // a lease past valid_until is gone before anything builds on it
  switch (msg.kind) {
    case LeaseMsg::kPrepare: OnPrepare(in, msg, now); break;
    case LeaseMsg::kPropose: OnPropose(in, msg, now); break;
    case LeaseMsg::kRelease: OnRelease(in, msg, now); break;
    case LeaseMsg::kPromise:
      if (msg.ballot.node == options_.self) OnPromise(msg.sid, in, msg, now);
      break;
    case LeaseMsg::kAccept:
      if (msg.ballot.node == options_.self) OnAccept(msg.sid, in, msg, now);
      break;
    case LeaseMsg::kReject:
      if (msg.ballot.node == options_.self) OnReject(in, msg, now);
      break;
  }
  Step(msg.sid, in, now);
}

// ---- Acceptor ------------------------------------------------------------------------

bool LeaseManager::Refuses(const Acceptor& a, const Ballot& b) const {
  return b.counter < a.promised.counter || (b.counter == a.promised.counter && b.node != a.promised.node);
}

// An acceptor's answer to `msg`: a kReject naming the counter to beat when it refuses
// the ballot; otherwise the caller fills in the kind.
LeaseMsg LeaseManager::Answer(const Acceptor& a, const LeaseMsg& msg) const {
  LeaseMsg r;
  r.sid = msg.sid;
  r.from = options_.self;
  r.ballot = msg.ballot;
  if (Refuses(a, msg.ballot)) {
    r.kind = LeaseMsg::kReject;
    r.highest_counter = a.promised.counter;
  }
  return r;
}

void LeaseManager::OnPrepare(Instance& in, const LeaseMsg& msg, int64_t now) {
  if (Silent(now)) return;
  Acceptor& a = in.acceptor;
  LeaseMsg r = Answer(a, msg);
  if (r.kind != LeaseMsg::kReject) {
    a.promised = msg.ballot;
    r.kind = LeaseMsg::kPromise;
    r.highest_counter = a.promised.counter;
    if (!a.holder.empty() && now < a.expires_at) {
      r.holder = a.holder;
      r.term = a.term;
      r.remaining_ms = a.expires_at - now;
    }
  }
  Send(msg.from, std::move(r));
}

void LeaseManager::OnPropose(Instance& in, const LeaseMsg& msg, int64_t now) {
  if (Silent(now) || msg.lease_ms <= 0 || msg.lease_ms > kMaxLeaseMs) return;
  Acceptor& a = in.acceptor;
  LeaseMsg r = Answer(a, msg);
  if (r.kind != LeaseMsg::kReject) {
    a.promised = msg.ballot;
    a.holder = msg.ballot.node;
    a.term = msg.term;
    a.expires_at = now + msg.lease_ms;  // our own timer, started after the proposer's
    r.kind = LeaseMsg::kAccept;
    r.term = msg.term;
    r.lease_ms = msg.lease_ms;
    r.highest_counter = a.promised.counter;
  }
  Send(msg.from, std::move(r));
}

void LeaseManager::OnRelease(Instance& in, const LeaseMsg& msg, int64_t now) {
  Acceptor& a = in.acceptor;
  // The term must match: a Release delayed past a re-acquisition must not end the new lease.
  if (!Silent(now) && a.holder == msg.from && a.term == msg.term) {
    a.holder.clear();
    a.term = 0;
    a.expires_at = 0;
  }
  if (msg.from == options_.self) return;
  // The proposer half: acceptors cannot tell waiting proposers that a lease ended early,
  // but the holder's Release reaches every node, so a waiting proposer hears it directly.
  in.released_holder = msg.from;
  in.released_term = msg.term;
  Proposer& p = in.proposer;
  if (p.wanted && !p.held && p.phase == Phase::kIdle)
    p.next_attempt = std::min(p.next_attempt, now + RankDelay(msg.sid, msg.from));
}

// ---- Proposer ------------------------------------------------------------------------

bool LeaseManager::Foreign(const Instance& in, const std::string& holder, uint64_t term) const {
  if (holder.empty() || holder == options_.self) return false;
  // A lease whose holder told us it released it is over, even if an acceptor has not heard.
  return !(holder == in.released_holder && term == in.released_term);
}

int64_t LeaseManager::ForeignWait(int64_t remaining_ms) {
  // Capped: the lease may end early by a Release that did not reach us.
  const int64_t cap = std::max<int64_t>(options_.renew_ms / 2, 1);
  return std::clamp<int64_t>(remaining_ms, 0, cap) + Jitter(options_.retry_ms);
}

int64_t LeaseManager::RankDelay(const std::string& sid, const std::string& excluded) const {
  const auto key = [&sid](const std::string& node) { return std::make_pair(Fnv1a(sid, node), node); };
  const auto mine = key(options_.self);
  int64_t rank = 0;
  for (const auto& peer : peers_)
    if (peer != excluded && key(peer) < mine) ++rank;
  return rank * options_.retry_ms;
}

int64_t LeaseManager::Jitter(int64_t base) {
  return base / 2 + static_cast<int64_t>(rng_() % static_cast<uint64_t>(base + 1));
}

void LeaseManager::Emit(const std::string& sid, const Proposer& p) {
  events_.push_back(LeaseEvent{sid, p.held, p.term, p.lease_end, p.valid_until});
}

void LeaseManager::Abandon(Instance& in, int64_t retry_at) {
  Proposer& p = in.proposer;
  p.phase = Phase::kIdle;
  p.answered.clear();
  p.next_attempt = retry_at;
}

void LeaseManager::Step(const std::string& sid, Instance& in, int64_t now) {
  Proposer& p = in.proposer;
  if (p.held && now >= p.valid_until) {
    p.held = false;
    Emit(sid, p);
    // An attempt in flight was a renewal of the lost term; start over as an acquisition.
    if (p.phase != Phase::kIdle) Abandon(in, now + Jitter(options_.retry_ms));
  }
  if (p.phase != Phase::kIdle && now >= p.deadline) Abandon(in, now + Jitter(options_.retry_ms));
  if (p.wanted && p.phase == Phase::kIdle && now >= p.next_attempt) StartAttempt(sid, in, now);
}

void LeaseManager::StartAttempt(const std::string& sid, Instance& in, int64_t now) {
  Proposer& p = in.proposer;
  const Acceptor& a = in.acceptor;
  // Our own acceptor knows of another node's lease: wait for it without asking anyone.
  if (now < a.expires_at && Foreign(in, a.holder, a.term)) {
    p.next_attempt = now + ForeignWait(a.expires_at - now);
    return;
  }
  const uint64_t counter = std::max({in.highest_seen, p.min_term, p.last_counter}) + 1;
  p.last_counter = counter;
  p.ballot = Ballot{counter, options_.self};
  p.phase = Phase::kPreparing;
  p.answered.clear();
  p.deadline = now + options_.attempt_timeout_ms;
  p.next_attempt = kNever;
  LeaseMsg m;
  m.kind = LeaseMsg::kPrepare;
  m.sid = sid;
  m.from = options_.self;
  m.ballot = p.ballot;
  Broadcast(m);
}

void LeaseManager::OnPromise(const std::string& sid, Instance& in, const LeaseMsg& msg, int64_t now) {
  Proposer& p = in.proposer;
  if (p.phase != Phase::kPreparing || msg.ballot != p.ballot || Contains(p.answered, msg.from)) return;
  if (Foreign(in, msg.holder, msg.term)) {
    Abandon(in, now + ForeignWait(msg.remaining_ms));
    return;
  }
  p.answered.push_back(msg.from);
  if (p.answered.size() < Majority()) return;
  // A majority knows no other holder. Renewing keeps the term; acquiring takes the
  // ballot's counter, which no other node can have been promised.
  p.proposed_term = p.held ? p.term : p.ballot.counter;
  p.t0 = now;  // before sending: our lease ends before any acceptor's
  p.phase = Phase::kProposing;
  p.answered.clear();
  p.deadline = now + options_.attempt_timeout_ms;
  LeaseMsg m;
  m.kind = LeaseMsg::kPropose;
  m.sid = sid;
  m.from = options_.self;
  m.ballot = p.ballot;
  m.term = p.proposed_term;
  m.lease_ms = options_.ttl_ms;
  Broadcast(m);
}

void LeaseManager::OnAccept(const std::string& sid, Instance& in, const LeaseMsg& msg, int64_t now) {
  Proposer& p = in.proposer;
  if (p.phase != Phase::kProposing || msg.ballot != p.ballot || msg.term != p.proposed_term ||
      Contains(p.answered, msg.from))
    return;
  p.answered.push_back(msg.from);
  if (p.answered.size() < Majority()) return;
  const int64_t lease_end = p.t0 + options_.ttl_ms;
  const int64_t valid_until = lease_end - options_.margin_ms;
  Abandon(in, p.t0 + options_.renew_ms);
  if (now >= valid_until) {  // answers so late the lease is already unusable
    p.next_attempt = now + Jitter(options_.retry_ms);
    return;
  }
  p.held = true;
  p.term = p.proposed_term;
  p.lease_end = lease_end;
  p.valid_until = valid_until;
  Emit(sid, p);
}

void LeaseManager::OnReject(Instance& in, const LeaseMsg& msg, int64_t now) {
  Proposer& p = in.proposer;
  if (p.phase == Phase::kIdle || msg.ballot != p.ballot) return;
  // highest_counter is already folded into highest_seen: the next ballot beats it.
  Abandon(in, now + Jitter(options_.retry_ms));
}

void LeaseManager::Release(const std::string& sid, Instance& in, int64_t now) {
  Proposer& p = in.proposer;
  bool send = false;
  uint64_t term = 0;
  if (p.held) {
    send = true;
    term = p.term;
    p.held = false;
    Emit(sid, p);
  } else if (p.phase == Phase::kProposing) {
    // Acceptors may already time a lease for this proposal; free them too.
    send = true;
    term = p.proposed_term;
  }
  Abandon(in, kNever);
  if (!send) return;
  LeaseMsg m;
  m.kind = LeaseMsg::kRelease;
  m.sid = sid;
  m.from = options_.self;
  m.ballot = p.ballot;
  m.term = term;
  Broadcast(m);
}

}  // namespace ami::cluster
