// The switch a node uses to end a worker's JavaScript on time (implemented with the
// engine's watchdog in engine.cpp). Its own header so that the node actor can hold one
// without including the V8 engine.
#pragma once

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>

namespace ami::js {

// Lets the node end a worker's JavaScript when a stop or reload outlives its grace
// period, even while the worker's actor is busy inside a long synchronous run. The node
// calls RequestStop(grace) when it asks a worker to stop; the engine's watchdog then
// terminates any run still going at the deadline (the call fails with kTerminated).
// The worker calls Clear() once the stop or reload is done. Thread-safe.
//
// It also carries the hard deadline of a leader-mode worker: the end of its lease (minus
// the safety margin). From that instant on the engine does not enter the isolate at all,
// and the watchdog terminates a run still going (the call fails with kLeaseEnded). The
// worker sets it from each grant; a renewal moves it later. Clear() leaves it alone.
class StopSwitch {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  void RequestStop(std::chrono::milliseconds grace);
  void Clear();
  // The stop deadline, or time_point::max() when no stop is pending.
  TimePoint deadline() const;

  // TimePoint::max() (the default) = no hard deadline; TimePoint::min() = none may run.
  void SetHardDeadline(TimePoint at);
  TimePoint hard_deadline() const;

 private:
  std::atomic<int64_t> deadline_ns_{INT64_MAX};
  std::atomic<int64_t> hard_deadline_ns_{INT64_MAX};
};

}  // namespace ami::js
