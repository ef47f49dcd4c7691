// Checks worker scripts' syntax in one long-lived V8 isolate on a thread of its own, so a
// check costs a compile (tens of µs for a small script) instead of making and disposing
// a whole isolate (several ms) as each check did before.
//
// Callers on any thread hand a script to the checker's small queue and block until it
// is compiled (never run) as a worker body, exactly as Engine::Load compiles it: the
// same wrapper, so the same error text, line and column (see Engine::CheckSyntax).
//
// Hostile scripts cannot take the checker down or make it grow without bound:
//   - a script longer than Options::max_script_bytes is refused before V8 sees it (a
//     record's script is at most 61440 bytes; the bound is far above it);
//   - the isolate has a heap cap; reaching it, or `recycle_heap_bytes` of live heap
//     after a check, or `recycle_every` checks, replaces the isolate with a fresh one;
//   - a compile still running `compile_limit` after it started is abandoned: its caller
//     gets an error, a new thread with a new isolate takes the queue over, and the old
//     thread disposes its isolate and ends as soon as V8 returns. A request that could
//     not even start within `queue_wait` (everything ahead of it was slow) gets Aborted.
//
// Thread-safe. The process-wide instance (Process()) lives until the process ends.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "runtime/base/status.h"
#include "runtime/js/engine.h"

namespace ami::js {

class SyntaxChecker {
 public:
  struct Options {
    size_t max_script_bytes = 1u << 20;
    uint64_t heap_limit_bytes = 64ull << 20;
    uint64_t recycle_heap_bytes = 32ull << 20;
    uint64_t recycle_every = 2000;
    size_t max_queued = 64;  // callers beyond this wait for room (within queue_wait)
    std::chrono::milliseconds compile_limit{5000};
    std::chrono::milliseconds queue_wait{10000};
  };

  struct Stats {
    uint64_t checks = 0;             // compiles finished
    uint64_t isolates_created = 0;
    uint64_t abandoned = 0;          // compiles that ran past compile_limit
    uint64_t refused_too_long = 0;
    uint64_t heap_used_bytes = 0;    // of the current isolate, after its last check
  };

  // Starts the thread and makes its isolate right away, so the first check is fast.
  explicit SyntaxChecker(Options options);
  // Waits (up to ~30 s) for its threads to end, including abandoned ones.
  ~SyntaxChecker();
  SyntaxChecker(const SyntaxChecker&) = delete;
  SyntaxChecker& operator=(const SyntaxChecker&) = delete;

  // The one every CheckSyntax in the process uses (default options). Its threads are
  // stopped at process exit (std::atexit), so none is inside V8 while V8 is torn down.
  static SyntaxChecker& Process();

  // OK; or kScriptError with *error filled (a syntax error, a script over the size
  // bound, or one whose compile ran past compile_limit); or kAborted when the request
  // could not start within queue_wait. Blocking.
  Status Check(std::string_view script, ScriptError* error = nullptr);

  Stats stats() const;

  struct Shared;

 private:
  // Ends the threads (each disposes its isolate), waiting up to `wait` for them; checks
  // asked afterwards wait out queue_wait and are answered "busy".
  void StopThreads(std::chrono::milliseconds wait);

  std::shared_ptr<Shared> shared_;
};

}  // namespace ami::js
