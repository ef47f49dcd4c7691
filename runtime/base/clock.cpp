#include "runtime/base/clock.h"

#include <chrono>
#include <ctime>
#include <string>

namespace ami {

int64_t WallMillis() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string IsoTime(int64_t epoch_ms) {
  std::time_t secs = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(epoch_ms % 1000));
  return buf;
}

uint64_t HybridClock::Now() {
  const uint64_t wall = static_cast<uint64_t>(WallMillis()) << 16;
  std::lock_guard<std::mutex> lock(mu_);
  last_ = wall > last_ ? wall : last_ + 1;
  return last_;
}

void HybridClock::Observe(uint64_t remote) {
  std::lock_guard<std::mutex> lock(mu_);
  if (remote > last_) last_ = remote;
}

int64_t HybridClock::AheadMs(uint64_t stamp) { return WallPart(stamp) - WallMillis(); }

bool HybridClock::ObserveWithin(uint64_t remote, int64_t max_ahead_ms) {
  if (AheadMs(remote) > max_ahead_ms) return false;
  Observe(remote);
  return true;
}

}  // namespace ami
