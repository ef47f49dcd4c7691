// The exchange's clock (net/server_clock.h).
//
// A measurement is needed synchronously only when there is no usable offset: the first
// call, or after Invalidate() (the exchange just said our time is out of its window, so
// the old offset is known to be wrong). Periodic refreshes run on one background thread
// at a time, owned here and joined by the destructor, so a plugin is never unloaded
// under a running fetch.
#include "ami/plugin/net/server_clock.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace ami::plugin::net {

namespace {
// After a failed measurement, try again this soon rather than after a full refresh.
constexpr std::int64_t kRetryAfterFailureMs = 10'000;

std::int64_t WallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

struct ServerClock::Impl {
  Fetch fetch;
  std::int64_t refresh_ms;
  LocalNow local_now;

  std::mutex mu;
  std::condition_variable fetched;    // a fetch finished (fetching went false)
  std::int64_t offset = 0;
  bool fixed = false;
  bool need_sync = true;              // the next NowMs() must measure before answering
  bool fetching = false;
  std::int64_t next_due_ms = 0;       // local time of the next background refresh
  std::int64_t measured_at_ms = 0;    // local time of the last attempt
  std::thread refresher;

  // Measures once (called without the lock held) and records the result. A synchronous
  // attempt clears need_sync even when it failed (callers do not wait twice in a row).
  void Measure(bool sync) {
    const std::int64_t sent = local_now();
    const auto server = fetch ? fetch() : std::nullopt;
    const std::int64_t received = local_now();
    std::lock_guard lock(mu);
    measured_at_ms = received;
    if (server && !fixed) {
      // The server read its clock somewhere in the round trip: assume the middle.
      offset = *server - (sent + received) / 2;
      need_sync = false;
      next_due_ms = received + refresh_ms;
    } else {
      next_due_ms = received + std::min(refresh_ms, kRetryAfterFailureMs);
    }
    if (sync) need_sync = false;
    fetching = false;
    fetched.notify_all();
  }
};

ServerClock::ServerClock(Fetch fetch, std::chrono::seconds refresh, LocalNow local_now)
    : impl_(std::make_unique<Impl>()) {
  impl_->fetch = std::move(fetch);
  impl_->refresh_ms = std::max<std::int64_t>(1, refresh.count()) * 1000;
  impl_->local_now = local_now ? std::move(local_now) : LocalNow(WallNowMs);
}

ServerClock::~ServerClock() {
  if (impl_->refresher.joinable()) impl_->refresher.join();
}

std::int64_t ServerClock::NowMs() {
  Impl& s = *impl_;
  std::unique_lock lock(s.mu);
  if (!s.fixed && !s.need_sync && !s.fetching) {
    const std::int64_t local = s.local_now();
    // Due, or the local clock went backwards past the last measurement.
    if (local >= s.next_due_ms || local < s.measured_at_ms) {
      if (s.refresher.joinable()) s.refresher.join();  // it has finished: fetching was false
      s.fetching = true;
      s.refresher = std::thread([&s] { s.Measure(/*sync=*/false); });
    }
  }
  // No usable offset: wait for a fetch under way, else measure here. One attempt per
  // call: a failed synchronous one keeps the old offset and clears need_sync.
  while (s.need_sync && !s.fixed) {
    if (s.fetching) {
      s.fetched.wait(lock);
      continue;
    }
    s.fetching = true;
    lock.unlock();
    s.Measure(/*sync=*/true);
    lock.lock();
  }
  return s.local_now() + s.offset;
}

std::int64_t ServerClock::offset_ms() const {
  std::lock_guard lock(impl_->mu);
  return impl_->offset;
}

void ServerClock::Invalidate() {
  std::lock_guard lock(impl_->mu);
  if (!impl_->fixed) impl_->need_sync = true;
}

void ServerClock::SetFixedOffset(std::int64_t offset_ms) {
  std::lock_guard lock(impl_->mu);
  impl_->fixed = true;
  impl_->need_sync = false;
  impl_->offset = offset_ms;
}

}  // namespace ami::plugin::net
