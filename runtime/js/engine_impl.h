// Internal to runtime/js: the state behind one Engine (the isolate and everything tied
// to it), shared by engine.cpp (entries, settling, failures) and host_bindings.cpp (the
// native functions scripts reach through prelude.js). Not part of the engine's API.
#pragma once

#include <v8.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/js/array_buffer_budget.h"
#include "runtime/js/engine.h"
#include "runtime/js/isolate_pool.h"

namespace ami::js {

struct Engine::Impl {
  // What a pending promise waits for; the caps count each kind.
  enum class Kind { kTimer, kCall };
  struct Pending {
    v8::Global<v8::Promise::Resolver> resolver;
    Kind kind = Kind::kCall;
    bool filter_reserved = false;  // a KV list spanning ["ami", …]: filter its reply
  };

  EngineOptions options;
  Host* host = nullptr;
  v8::Isolate* isolate = nullptr;
  std::unique_ptr<ArrayBufferBudget> allocator;
  v8::Global<v8::Context> context;
  v8::Global<v8::Object> control;        // {abort, classify, describe, …} from prelude.js
  v8::Global<v8::Function> script_fn;
  v8::Global<v8::Promise> call_promise;  // the call in flight, if any
  std::optional<CallOutcome> outcome;
  uint64_t next_request = 1;
  std::unordered_map<uint64_t, Pending> pending;
  int pending_timers = 0;                // of `pending`, by kind
  int pending_calls = 0;
  std::vector<v8::Global<v8::Promise>> unhandled;  // rejections nobody handled (yet)
  std::atomic<bool> heap_exceeded{false};
  std::atomic<bool> terminate_requested{false};  // Engine::Terminate() was called
  bool broken = false;
  bool from_pool = false;                        // the isolate came from the IsolatePool
  bool from_snapshot = false;                    // the context came from the startup snapshot
  std::optional<std::string> leader_update;      // SetLeader() text, applied at the next entry

  // Script log rate: lines accepted in the current one-second window, lines dropped
  // since the last report, and in all.
  int64_t log_window = -1;
  int log_lines_in_window = 0;
  uint64_t log_dropped_unreported = 0;
  int64_t log_dropped_window = -1;       // the window the unreported drops happened in
  uint64_t log_dropped_total = 0;

  ~Impl();

  // engine.cpp: entries and their bookkeeping (see the definitions).
  bool PastHardDeadline() const;
  template <class Body>
  void Run(Body&& body, bool user_code = true);
  template <class Make>
  void Settle(uint64_t id, const Status& status, Make&& make);
  void FailCall(ScriptError::Cause cause);
  void CheckOutcome(v8::Local<v8::Context> ctx);
  v8::MaybeLocal<v8::Value> CallControl(v8::Local<v8::Context> ctx, const char* name, v8::Local<v8::Value> arg);
  std::string GetString(v8::Local<v8::Context> ctx, v8::Local<v8::Object> obj, const char* key);
  ScriptError ErrorFrom(v8::Local<v8::Context> ctx, v8::Local<v8::Value> thrown);
  void ReportUnhandled(v8::Local<v8::Context> ctx);
  static void OnPromiseReject(v8::PromiseRejectMessage message);
  static size_t OnNearHeapLimit(void* data, size_t current_limit, size_t initial_limit);

  // A new promise the host settles later through Settle(id, …). Empty (with an
  // exception pending or execution terminating) when V8 refuses.
  v8::MaybeLocal<v8::Promise> NewPending(v8::Local<v8::Context> ctx, Kind kind, uint64_t* id,
                                         bool filter_reserved = false);
  // Fails the current call when `kind` is at its cap: throws a RangeError naming the cap
  // and returns false.
  bool UnderCap(Kind kind);

  // A line the script (or its unhandled rejections) logs: rate limited to
  // options.max_log_lines_per_sec; excess lines are dropped and counted.
  void ScriptLog(LogLevel level, std::string message);
  // Writes "N log lines dropped …" once the second the drops happened in is over.
  void ReportDroppedLogs();
};

// host_bindings.cpp: the `host` object prelude.js builds the script API on, and the facts
// it reads once. Empty when V8 refuses (only when memory runs out). The host object's
// natives find their engine through the isolate's data slot 0 (so they can live in the
// startup snapshot); HostExternalReferences() lists them, null-terminated, for V8's
// snapshot creator and for every isolate made from the snapshot.
v8::MaybeLocal<v8::Object> MakeHostObject(v8::Local<v8::Context> ctx);
v8::MaybeLocal<v8::Object> MakeFacts(Engine::Impl* self, v8::Local<v8::Context> ctx);
const intptr_t* HostExternalReferences();

// engine.cpp: compiles `script` as a worker body (the async-function wrapper, line
// numbers the user's) without running it; on a syntax error fills *error (when given).
// Engine::Load and the syntax checker (syntax_checker.h) both compile through it, so a
// check reports exactly what loading the script would.
v8::MaybeLocal<v8::Script> CompileWorker(v8::Isolate* isolate, v8::Local<v8::Context> ctx, std::string_view script,
                                         ScriptError* error);

// engine.cpp: call before making an isolate with this heap limit. Makes V8 place the
// isolate's code range without reading /proc/self/maps (see the definition), which
// otherwise makes each new isolate cost O(isolates alive). Thread-safe; cheap after the
// first call for a limit.
void SeedCodeRangeHint(uint64_t heap_limit);

// An isolate nobody has entered yet and its ArrayBuffer allocator (which must outlive it).
struct FreshIsolate {
  v8::Isolate* isolate = nullptr;
  std::unique_ptr<ArrayBufferBudget> allocator;
  bool from_snapshot = false;  // made from the engine's startup snapshot
};

// engine.cpp: a new isolate with this heap limit and an ArrayBufferBudget of the same
// size, as every engine's isolate is made (the isolate pool makes its ahead of time
// with it): from the startup snapshot once there is one (and it is on). Null isolate
// when V8 refuses. Thread-safe.
FreshIsolate MakeIsolate(uint64_t heap_limit);

}  // namespace ami::js
