// Internal to runtime/js: the CPU watchdog every engine entry is armed with.
#pragma once

#include <v8.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>

#include "runtime/js/engine.h"

namespace ami::js {

// ---- CPU watchdog -----------------------------------------------------------------
// One thread for the whole process. An entry arms it with a deadline; if the entry is
// still running at the deadline — or at its StopSwitch's stop or hard deadline — the
// watchdog terminates the isolate's JavaScript.
class Watchdog {
 public:
  static Watchdog& Instance() {
    static Watchdog* w = new Watchdog();  // never destroyed: outlives every engine
    return *w;
  }

  enum class Fired { kNo, kCpuLimit, kStopped, kLeaseEnded };

  uint64_t Arm(v8::Isolate* isolate, std::chrono::steady_clock::time_point deadline,
               const StopSwitch* stop_switch) {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t token = next_token_++;
    armed_[token] = Slot{isolate, deadline, stop_switch, Fired::kNo};
    // Wake the thread only when this run's earliest deadline comes before the one it
    // sleeps towards: most runs end long before their deadline, and a wake-up per entry
    // costs more than the entry.
    auto earliest = deadline;
    if (stop_switch) earliest = std::min({earliest, stop_switch->deadline(), stop_switch->hard_deadline()});
    if (earliest < wake_at_) cv_.notify_one();
    return token;
  }

  // Says whether the deadline passed and the isolate was terminated, and why.
  Fired Disarm(uint64_t token) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = armed_.find(token);
    if (it == armed_.end()) return Fired::kNo;
    const Fired fired = it->second.fired;
    armed_.erase(it);
    return fired;
  }

  // A stop or hard deadline moved: re-evaluate the armed runs now.
  void Wake() {
    std::lock_guard<std::mutex> lock(mu_);
    wake_at_ = std::chrono::steady_clock::time_point::min();
    cv_.notify_one();
  }

 private:
  struct Slot {
    v8::Isolate* isolate;
    std::chrono::steady_clock::time_point deadline;  // CPU limit of this run
    const StopSwitch* stop_switch;                   // may be null
    Fired fired;
  };

  Watchdog() : thread_([this] { Loop(); }) { thread_.detach(); }

  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      auto next = std::chrono::steady_clock::time_point::max();
      const auto now = std::chrono::steady_clock::now();
      for (auto& [token, slot] : armed_) {
        if (slot.fired != Fired::kNo) continue;
        const auto never = std::chrono::steady_clock::time_point::max();
        const auto stop_at = slot.stop_switch ? slot.stop_switch->deadline() : never;
        const auto hard_at = slot.stop_switch ? slot.stop_switch->hard_deadline() : never;
        if (slot.deadline <= now || stop_at <= now || hard_at <= now) {
          slot.fired = hard_at <= now   ? Fired::kLeaseEnded
                       : stop_at <= now ? Fired::kStopped
                                        : Fired::kCpuLimit;
          slot.isolate->TerminateExecution();  // safe from any thread, without the lock
        } else {
          next = std::min({next, slot.deadline, stop_at, hard_at});
        }
      }
      wake_at_ = next;
      if (next == std::chrono::steady_clock::time_point::max()) cv_.wait(lock);
      else cv_.wait_until(lock, next);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Slot> armed_;  // guarded by mu_
  uint64_t next_token_ = 1;         // guarded by mu_
  // When the thread will next look, unprompted; guarded by mu_.
  std::chrono::steady_clock::time_point wake_at_ = std::chrono::steady_clock::time_point::max();
  std::thread thread_;
};

}  // namespace ami::js
