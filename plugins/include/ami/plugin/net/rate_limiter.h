// A weight-based rate limiter that follows an exchange's published limits and corrects
// itself from the usage the exchange reports. Part of the connector SDK (net/).
//
// Model: a token bucket per key ("ip", "uid:order", "orders:10s", …) with `capacity`
// weight units refilled evenly over `window`. Acquire() takes `weight` units, waiting
// when the bucket is empty (never longer than `max_wait`: then it answers false and the
// connector fails the call with RateLimitExceeded before sending anything). Thread-safe;
// waiters are served in arrival order per key.
//
// Self-correction from the exchange's headers:
//   - ObserveUsed(key, used, limit): "used" units of "limit" are spent in the current
//     window (Binance X-MBX-USED-WEIGHT-1M; Bybit X-Bapi-Limit minus
//     X-Bapi-Limit-Status): the bucket is lowered to limit - used when that is lower.
//   - BlockUntil(key, t): a 429/418 or an exchange rate-limit error with Retry-After /
//     X-Bapi-Limit-Reset-Timestamp — nothing is sent for that key before t.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace ami::plugin::net {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  struct Bucket {
    double capacity = 1200;                  // weight units per window
    std::chrono::milliseconds window{60000};
  };

  RateLimiter();
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Declares (or changes) a bucket. Keys never declared are unlimited.
  void Define(const std::string& key, Bucket bucket);

  // Takes `weight` units from `key`; waits up to `max_wait`. False: the wait would be
  // longer (nothing taken).
  bool Acquire(const std::string& key, double weight, std::chrono::milliseconds max_wait);

  void ObserveUsed(const std::string& key, double used, double limit);
  void BlockUntil(const std::string& key, Clock::time_point until);

  // Units available now (for tests and metrics): 0 while blocked, infinity for a key
  // never declared.
  double Available(const std::string& key) const;
  // How many Acquire() calls had to wait, and how many were refused.
  std::uint64_t waits() const;
  std::uint64_t refusals() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ami::plugin::net
