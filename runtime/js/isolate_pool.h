// A few V8 isolates made ahead of time, so a worker start does not pay Isolate::New
// (~1.8 ms of snapshot deserialization) on its own thread.
//
// Per heap limit (isolates are made with their limit and cannot change it) the pool keeps
// up to size() isolates ready; a background thread makes them, and makes another each
// time one is taken. A limit gets a pool when an engine first asks for it (at most
// kMaxHeapLimits different limits are pooled; engines with others make their own).
//
// Ownership: Take() hands an isolate over for good — it leaves the pool and is never
// offered again, and nothing gives a used isolate back (engines dispose theirs), so no two
// engines ever share one. A pooled isolate is made by the same function as an engine's
// own (MakeIsolate, engine_impl.h): same heap constraints, its own ArrayBufferBudget;
// the engine then sets its callbacks (heap limit, promise rejection, Atomics.wait) on it
// as on any other. The pool never enters or locks the isolates it holds.
//
// Size: AMI_ISOLATE_POOL in the environment (0 = off; default 4), or SetSize(). Cost: each
// ready isolate holds ~1 MB. The thread sleeps when every pool is full (no polling).
//
// Process exit: an atexit handler (registered after V8's platform exists, so it runs
// before the platform is destroyed) stops the thread, waits for an isolate being made,
// and disposes the ready ones; later Take() calls get nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace ami::js {

// An isolate nobody has entered yet and its allocator (engine_impl.h; this header stays
// free of V8's so tests and benches can size the pool).
struct FreshIsolate;

class IsolatePool {
 public:
  static constexpr int kDefaultSize = 4;
  static constexpr size_t kMaxHeapLimits = 4;

  // The process's pool (made at the first call, with V8 initialised).
  static IsolatePool& Process();

  // Moves a ready isolate made for `heap_limit` into *out and returns true, or returns
  // false (pool off, empty, or shut down). Either way the refill thread is asked to keep
  // size() ready for this limit. With a null `out` it only does the latter (a bench
  // fills the pool for a limit before its first engine).
  bool Take(uint64_t heap_limit, FreshIsolate* out);

  // Changes how many isolates each limit keeps ready; 0 turns the pool off and disposes
  // what it holds. Thread-safe.
  void SetSize(int size);
  int size() const;
  // Isolates ready now for `heap_limit` (tests and benches wait for a full pool).
  size_t ready(uint64_t heap_limit) const;
  // Isolates handed out by Take() so far.
  uint64_t taken() const;

  // Stops the refill thread and disposes the ready isolates; Take() returns nothing after.
  void Shutdown();

  struct State;

 private:
  IsolatePool();
  std::unique_ptr<State> state_;
};

}  // namespace ami::js
