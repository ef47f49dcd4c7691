// The priority-tuned run queue: how "critical runs first" is enforced on a node.
//
// CAF has no actor priorities, and a worker's JavaScript runs on whatever scheduler
// thread picks up its actor. So every entry into a worker's isolate (starting a call,
// resuming it after a reply) first takes a *run slot* from this queue. There are as
// many slots as cores. With a slot free, Acquire() grants it at once — no message, a
// mutex and a counter. With all slots taken, the request waits in one FIFO per
// priority; when a slot is released it goes straight to the oldest waiter of the
// highest priority, delivered through the waiter's callback (the worker actor sends
// itself a message). With `priority_order` off, all priorities share one FIFO: the
// baseline the benchmark compares against.
//
// Starvation: a waiter older than `max_wait` is served before newer higher-priority
// ones, so a node saturated by critical workers still lets low ones run now and then —
// but at most every other grant goes by age, so on an overloaded node, where every
// waiter is soon that old, critical workers still wait for one run, not for all.
//
// Slots are RAII: a Slot releases itself when destroyed, so a grant that is dropped
// (e.g. its message reached an actor that had already stopped) never leaks a slot.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "runtime/model/worker_record.h"
#include "runtime/stats/histogram.h"

namespace ami {

class RunQueue : public std::enable_shared_from_this<RunQueue> {
 public:
  class Slot {
   public:
    ~Slot();
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    friend class RunQueue;
    explicit Slot(std::shared_ptr<RunQueue> queue) : queue_(std::move(queue)) {}
    std::shared_ptr<RunQueue> queue_;
  };
  using SlotPtr = std::shared_ptr<Slot>;
  // Receives a granted slot. Called with no lock held, on the releasing thread; it
  // must only hand the slot on (e.g. send it in a message), not run JavaScript.
  using Grant = std::function<void(SlotPtr)>;

  struct Options {
    int slots = 2;
    bool priority_order = true;
    std::chrono::milliseconds max_wait{2000};
  };

  static std::shared_ptr<RunQueue> Create(Options options);

  // Returns a slot now if one is free and nobody of equal or higher rank is waiting;
  // otherwise queues the request, calls `grant` later, and returns null.
  SlotPtr Acquire(Priority priority, Grant grant);

  struct Counters {
    uint64_t immediate = 0;   // grants without waiting
    uint64_t queued = 0;      // grants after waiting
    uint64_t aged = 0;        // of those, served out of order because they waited > max_wait
    int in_use = 0;
    size_t waiting = 0;
  };
  Counters counters() const;
  int slots() const { return options_.slots; }
  // How long grants waited, per priority (index = Priority): immediate grants count as
  // 0 s. For /metrics; a copy.
  std::array<Histogram, 4> wait_seconds() const;

 private:
  explicit RunQueue(Options options);
  struct Waiter {
    Grant grant;
    std::chrono::steady_clock::time_point since;
    Priority priority = Priority::kNormal;  // its own, even when all share one FIFO
  };
  void Release();
  // Pops the next waiter to serve; requires mu_ held and a non-empty queue.
  Waiter PopNext();
  size_t QueueIndex(Priority p) const { return options_.priority_order ? static_cast<size_t>(p) : 0; }

  const Options options_;
  mutable std::mutex mu_;
  int in_use_ = 0;                          // guarded by mu_
  std::array<std::deque<Waiter>, 4> waiting_;  // guarded by mu_, index = priority
  Counters counters_;                       // guarded by mu_
  bool last_grant_aged_ = false;            // guarded by mu_: the last queued grant went by age
  std::array<Histogram, 4> waits_;          // guarded by mu_, index = priority
};

}  // namespace ami
