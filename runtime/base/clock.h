// Time sources. Wall time for records and logs, a hybrid logical clock (HLC) for
// ordering writes across nodes.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

namespace ami {

// Milliseconds since the Unix epoch.
int64_t WallMillis();
// "2026-11-29T02:05:30.123Z"
std::string IsoTime(int64_t epoch_ms);

// A hybrid logical clock: 48 bits of wall milliseconds, 16 bits of logical counter.
// Now() never goes backwards and never returns the same value twice; Observe() folds
// in a stamp seen from another node. Thread-safe.
class HybridClock {
 public:
  uint64_t Now();
  void Observe(uint64_t remote);
  // Observe(), unless `remote` is more than `max_ahead_ms` ahead of the local wall clock:
  // then nothing changes and it returns false. One node with a fast clock (or a forged
  // stamp) must not drag every clock forward for good (cluster.max_clock_skew).
  bool ObserveWithin(uint64_t remote, int64_t max_ahead_ms);
  // How many ms the wall part of `stamp` is ahead of the local wall clock (<= 0: not ahead).
  static int64_t AheadMs(uint64_t stamp);
  static int64_t WallPart(uint64_t stamp) { return static_cast<int64_t>(stamp >> 16); }
  static uint32_t LogicalPart(uint64_t stamp) { return static_cast<uint32_t>(stamp & 0xffff); }

 private:
  std::mutex mu_;
  uint64_t last_ = 0;  // guarded by mu_
};

}  // namespace ami
