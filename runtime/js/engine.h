// The JavaScript engine of one worker: a V8 isolate with one context, the script API
// installed, and the worker's script compiled as the body of an async function.
//
// Threading: an Engine is used by one owner (its worker actor) at a time, but that owner
// may run on any thread; every entry takes the isolate's v8::Locker. Only Terminate()
// may be called from another thread.
//
// Asynchrony: the engine never blocks. When a script awaits something the host must do
// (a timer, a KV operation), the engine calls the Host with a request id and returns;
// the host later calls the matching Complete*() with the reply, which resolves the
// promise and runs the microtask checkpoint. When the call's promise settles,
// TakeOutcome() reports success or the error.
//
// Limits: every entry (StartCall, Complete*, Abort) runs under a CPU watchdog
// (EngineOptions::cpu_per_run) and the isolate has a heap cap enforced with V8's
// near-heap-limit callback; breaking either fails the current call with a clear error
// and never takes the process down. After a heap-limit failure the engine is broken():
// throw it away and create a new one. ArrayBuffer memory is counted by a per-isolate
// allocator against a budget of heap_limit_bytes of its own (past it `new
// ArrayBuffer(n)` throws a RangeError), so an isolate holds at most twice its heap limit. The per-worker caps of EngineOptions (timers, calls in flight, list size,
// log line size and rate) fail the script call that would break them with a clear
// error (docs/execution.md, "Limits").
//
// Hostile scripts: no V8 call on a path a script can influence is allowed to crash the
// process (no Check()/ToLocalChecked()); a failed V8 call fails that call (the promise
// rejects, or the iteration fails). Objects the engine hands to scripts have null
// prototypes (runtime/js/convert.h). Scripts never reach the ["ami", …] keyspace
// (runtime/js/kv_guard.h). Atomics.wait is disabled (it would block a scheduler thread).
//
// Start-up: Create takes a ready isolate from the process's pool (isolate_pool.h) when
// there is one, and its context from the process's startup snapshot (engine.cpp) when
// on; an engine made either way is the same as one built from scratch (same globals,
// same limits), and its isolate is its own.
//
// Hard deadline: a StopSwitch may carry a point in time (a leader's lease end) at or
// after which no JavaScript runs — the engine does not enter the isolate, and the
// watchdog terminates a run still going then; either way the call fails with kLeaseEnded.
#pragma once

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/status.h"
#include "runtime/js/stop_switch.h"
#include "runtime/js/v8_process.h"
#include "runtime/log/log_level.h"
#include "runtime/stats/worker_stats.h"
#include "runtime/store/kv_protocol.h"
#include "runtime/store/store.h"

namespace ami::js {

struct EngineOptions {
  uint64_t heap_limit_bytes = 128ull << 20;
  std::chrono::milliseconds cpu_per_run{10000};
  std::string sid;
  std::string node_id;
  std::string config_json = "{}";   // `config` and `Stels.config`
  std::string leader_json = "null"; // `Stels.leader`: {node, term, expiresAt} in leader mode
  double start_time_ms = 0;         // `Stels.startTime`
  std::shared_ptr<StopSwitch> stop_switch;  // optional
  // Stels.runtime.cex: [{"id": "bybit", "describe": <the connector's Describe() JSON>}…]
  std::string exchanges_json = "[]";
  // The CCXT error hierarchy as [[name, parent|null]…], parents first.
  std::string error_classes_json = "[]";

  // Per-worker caps (LimitsSection; defaults are the same). 0 = no cap.
  int max_timers = 1000;              // pending Stels.sleep/setTimeout/setInterval timers
  int max_pending_calls = 256;        // KV and exchange calls in flight
  int max_list_results = 1000;        // entries one list returns; also its default limit
  uint64_t max_log_line = 16ull << 10;  // bytes of one log message; the rest is cut
  int max_log_lines_per_sec = 200;    // more are dropped and counted
};

// The longest delay Stels.sleep/setTimeout/setInterval accept (2^31-1 ms, ~24.8 days,
// the bound browsers and Node use); a longer one is a RangeError.
constexpr int64_t kMaxTimerDelayMs = 2147483647;
// The most JSON a script may send as one exchange call's arguments (or options).
constexpr size_t kMaxExchangeArgsBytes = 1u << 20;

// A JavaScript failure, made plain.
struct ScriptError {
  // kLeaseEnded: the StopSwitch's hard deadline passed (a leader's lease ended).
  enum class Cause { kThrown, kSyntax, kCpuLimit, kHeapLimit, kTerminated, kLeaseEnded };
  Cause cause = Cause::kThrown;
  std::string name;                 // "TypeError", "NetworkError", "SyntaxError", …
  std::string message;
  int line = 0;                     // 1-based line in the user's script; 0 when unknown
  int column = 0;
  std::string stack;
  ErrorClass error_class = ErrorClass::kCritical;
  // "TypeError: x is not a function (line 3)"
  std::string Describe() const;
};

// The settled result of one call of the script function.
struct CallOutcome {
  bool ok = true;
  ScriptError error;                // when !ok
};

// A call a script made on Stels.runtime.cex.<exchange>.
struct ExchangeCall {
  std::string exchange;             // the exchange id from the node config ("bybit")
  std::string method;               // CCXT name ("createOrder")
  std::string args_json;            // JSON array of positional arguments (null = not given)
  std::string options_json;         // the options the script passed to the constructor
};

// Its outcome: a JSON result, or an error with a CCXT class name that the script gets
// as an instance of that class.
struct ExchangeReply {
  bool ok = true;
  std::string json = "null";
  std::string error_class;          // "InsufficientFunds", "NetworkError", …
  std::string message;
};

// What the engine needs from the worker that owns it. Called on the owner's thread
// during an entry; implementations must not block and must not re-enter the engine.
class Host {
 public:
  virtual ~Host() = default;
  virtual void Log(LogLevel level, std::string message) = 0;
  virtual void StartTimer(uint64_t request_id, std::chrono::milliseconds delay) = 0;
  virtual void StartKv(uint64_t request_id, kv::Request request) = 0;
  virtual void StartExchangeCall(uint64_t request_id, ExchangeCall call) = 0;
  virtual double HybridTimestamp() = 0;
};

struct HeapUsage {
  uint64_t used = 0;
  uint64_t total = 0;
  uint64_t limit = 0;
};

class Engine {
 public:
  // Makes the isolate and context and installs the script API. `host` must outlive it.
  static Result<std::unique_ptr<Engine>> Create(const EngineOptions& options, Host* host);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Compiles `script` as the body of an async function (top-level await and return
  // work; line numbers in errors are the user's). Once per engine. A syntax error
  // returns kScriptError and fills *error when given.
  Status Load(std::string_view script, ScriptError* error = nullptr);

  // Calls the script function once; it runs until its first pending await.
  // Requires a loaded script and no call in flight.
  void StartCall();
  // Delivers the reply to a request made through the Host. Unknown ids (e.g. from a
  // call that was aborted) are ignored.
  void CompleteTimer(uint64_t request_id);
  void CompleteKv(uint64_t request_id, kv::Reply reply);
  void CompleteExchangeCall(uint64_t request_id, ExchangeReply reply);
  // Aborts `signal`: shouldStop() turns true, abort listeners run, pending
  // Stels.sleep() calls reject with AbortError.
  void Abort();
  // Replaces `Stels.leader` (JSON text, e.g. a renewed lease's {node, term, expiresAt}).
  // Does not enter the isolate: scripts see the new value from the next entry on.
  void SetLeader(std::string leader_json);

  bool call_in_flight() const;
  // The outcome once the current call's promise has settled (then no call is in flight).
  std::optional<CallOutcome> TakeOutcome();
  // True after a heap-limit failure: the isolate must not be used again.
  bool broken() const;
  // Whether the isolate came ready from the process's isolate pool (isolate_pool.h), and
  // which isolate it is (an identity only: two live engines never have the same one).
  bool from_pool() const;
  const void* isolate_id() const;
  // Whether the context came from the process's startup snapshot (the script API's
  // worker-independent part already built; engine.cpp).
  bool from_snapshot() const;
  // Whether engines made from now on start from the startup snapshot (default on, unless
  // AMI_SNAPSHOT=0 is in the environment); for benches and tests. Isolates already in
  // the pool keep what they were made with.
  static void UseStartupSnapshot(bool on);
  // Script log lines dropped so far for going over max_log_lines_per_sec. Each run of
  // drops is also reported in the log itself ("N log lines dropped …") once lines are
  // accepted again.
  uint64_t dropped_log_lines() const;

  // Thread-safe: stops whatever JavaScript is running now; the current call fails with
  // kTerminated. If nothing is running, the next entry fails instead. (Stops with a grace
  // period go through StopSwitch, which only ends runs still going at the deadline.)
  void Terminate();
  HeapUsage heap_usage();

  // Compiles `script` as a worker body without running it — in the process's syntax
  // checker (syntax_checker.h: one long-lived isolate on its own thread), not in an
  // isolate of its own — for validating records before they are stored. kScriptError
  // with *error as Load would fill it; kAborted when the checker was too busy.
  static Status CheckSyntax(std::string_view script, ScriptError* error = nullptr);

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ami::js
