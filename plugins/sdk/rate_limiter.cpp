// The weight-based limiter (net/rate_limiter.h).
//
// Each bucket is a balance that refills continuously at capacity / window and that an
// Acquire() debits at once, even into the negative: a caller that drove it below zero
// waits until the refill has paid its part back. Debiting on arrival is what serves
// callers in arrival order (each one's ready time is fixed by the debts before it) and
// lets a caller know at once whether its wait would exceed max_wait. Weight that is
// debited but not yet sent is "pending"; the exchange's usage headers do not count it,
// so ObserveUsed subtracts it again.
#include "ami/plugin/net/rate_limiter.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>

namespace ami::plugin::net {

namespace {

struct BucketState {
  bool limited = false;               // false: only BlockUntil applies (an undeclared key)
  double capacity = 0;
  double per_ms = 0;                  // refill rate
  double balance = 0;                 // may be negative: owed by queued callers
  double pending = 0;                 // debited, not yet released to send
  RateLimiter::Clock::time_point refilled_at;
  RateLimiter::Clock::time_point blocked_until;

  double BalanceAt(RateLimiter::Clock::time_point now) const {
    if (!limited) return std::numeric_limits<double>::infinity();
    const double elapsed_ms =
        std::chrono::duration<double, std::milli>(now - refilled_at).count();
    return std::min(capacity, balance + std::max(0.0, elapsed_ms) * per_ms);
  }
  void Refill(RateLimiter::Clock::time_point now) {
    if (!limited) return;
    balance = BalanceAt(now);
    refilled_at = now;
  }
};

// now + span, saturating (a max_wait of "forever" must not wrap around).
RateLimiter::Clock::time_point Later(RateLimiter::Clock::time_point now,
                                     std::chrono::duration<double, std::milli> span) {
  const auto room = std::chrono::duration<double, std::milli>(RateLimiter::Clock::time_point::max() - now);
  if (span >= room) return RateLimiter::Clock::time_point::max();
  return now + std::chrono::duration_cast<RateLimiter::Clock::duration>(std::max(span, {}));
}

}  // namespace

struct RateLimiter::Impl {
  mutable std::mutex mu;
  std::condition_variable changed;    // a block was added: sleepers look again
  std::map<std::string, BucketState> buckets;  // node-based: references stay valid
  std::atomic<std::uint64_t> waits{0};
  std::atomic<std::uint64_t> refusals{0};
};

RateLimiter::RateLimiter() : impl_(std::make_unique<Impl>()) {}
RateLimiter::~RateLimiter() = default;

void RateLimiter::Define(const std::string& key, Bucket bucket) {
  std::lock_guard lock(impl_->mu);
  const auto now = Clock::now();
  auto [it, inserted] = impl_->buckets.try_emplace(key);
  BucketState& state = it->second;
  const bool was_limited = state.limited;
  state.Refill(now);
  state.limited = true;
  state.capacity = std::max(bucket.capacity, 0.0);
  const double window_ms = std::max<double>(1.0, static_cast<double>(bucket.window.count()));
  state.per_ms = state.capacity / window_ms;
  state.balance = was_limited ? std::min(state.balance, state.capacity) : state.capacity;
  state.refilled_at = now;
}

bool RateLimiter::Acquire(const std::string& key, double weight,
                          std::chrono::milliseconds max_wait) {
  std::unique_lock lock(impl_->mu);
  auto it = impl_->buckets.find(key);
  if (it == impl_->buckets.end()) return true;
  BucketState& state = it->second;
  const auto now = Clock::now();
  const auto deadline = Later(now, std::chrono::duration<double, std::milli>(max_wait));
  state.Refill(now);

  auto ready = now;
  if (state.limited && state.balance - weight < 0) {
    ready = state.per_ms > 0
                ? Later(now, std::chrono::duration<double, std::milli>(
                                 (weight - state.balance) / state.per_ms))
                : Clock::time_point::max();
  }
  ready = std::max(ready, state.blocked_until);
  if (ready > deadline) {
    ++impl_->refusals;
    return false;
  }
  if (state.limited) state.balance -= weight;
  state.pending += weight;
  if (ready > now) ++impl_->waits;

  // Sleep until our turn; a BlockUntil meanwhile may push it later (or past the deadline).
  while (true) {
    const auto turn = std::max(ready, state.blocked_until);
    if (turn > deadline) {
      if (state.limited) state.balance += weight;
      state.pending -= weight;
      ++impl_->refusals;
      return false;
    }
    if (Clock::now() >= turn) break;
    impl_->changed.wait_until(lock, turn);
  }
  state.pending -= weight;
  return true;
}

void RateLimiter::ObserveUsed(const std::string& key, double used, double limit) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->buckets.find(key);
  if (it == impl_->buckets.end() || !it->second.limited) return;
  BucketState& state = it->second;
  state.Refill(Clock::now());
  state.balance = std::min(state.balance, limit - used - state.pending);
}

void RateLimiter::BlockUntil(const std::string& key, Clock::time_point until) {
  {
    std::lock_guard lock(impl_->mu);
    BucketState& state = impl_->buckets[key];  // an undeclared key gets an unlimited entry
    state.blocked_until = std::max(state.blocked_until, until);
  }
  impl_->changed.notify_all();
}

double RateLimiter::Available(const std::string& key) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->buckets.find(key);
  if (it == impl_->buckets.end()) return std::numeric_limits<double>::infinity();
  const auto now = Clock::now();
  if (it->second.blocked_until > now) return 0;
  return std::max(0.0, it->second.BalanceAt(now));
}

std::uint64_t RateLimiter::waits() const { return impl_->waits.load(); }
std::uint64_t RateLimiter::refusals() const { return impl_->refusals.load(); }

}  // namespace ami::plugin::net
