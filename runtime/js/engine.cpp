// V8 implementation of ami::js::Engine. See engine.h for the contract.
//
// Layout: process-wide V8 setup; Impl (engine_impl.h) — the Run() helper every entry
// goes through, settling promises, failures, the script log's rate; making isolates
// cheaply (the code-range hint, the prelude's code cache, the startup snapshot; the
// pool of ready isolates is isolate_pool.cpp); Engine. The native functions
// scripts reach are in host_bindings.cpp; conversions between C++ and V8 values (which
// never crash on a V8 refusal) in convert.cpp; the CPU watchdog in watchdog.h; script
// checks before a record is stored in syntax_checker.cpp.
// Over 600 lines: the Impl's Run() and the settling of calls belong together, and
// making an engine (isolate, snapshot, API) is one story.
#include "runtime/js/engine.h"

#include <libplatform/libplatform.h>
#include <v8.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstdlib>
#include <mutex>
#include <regex>
#include <set>

#include "runtime/js/convert.h"
#include "runtime/js/engine_impl.h"
#include "runtime/js/kv_guard.h"
#include "runtime/js/syntax_checker.h"
#include "runtime/js/watchdog.h"

extern const char ami_prelude_js[];

namespace ami::js {
namespace {

std::unique_ptr<v8::Platform> g_platform;
std::once_flag g_init_once;

constexpr const char* kScriptName = "worker.js";
constexpr const char* kPreludeName = "ami:prelude";
// The user's script becomes the body of this function; the header is one line, so the
// script origin's line offset of -1 makes V8 report the user's own line numbers.
constexpr const char* kWrapHead = "(async function () {\n";
constexpr const char* kWrapTail = "\n})";


}  // namespace

void StopSwitch::RequestStop(std::chrono::milliseconds grace) {
  const auto at = std::chrono::steady_clock::now() + grace;
  deadline_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
  Watchdog::Instance().Wake();
}

void StopSwitch::Clear() { deadline_ns_ = INT64_MAX; }

namespace {

// time_point::max()/min() stored as INT64_MAX/INT64_MIN, other points as nanoseconds.
int64_t ToNanos(StopSwitch::TimePoint at) {
  if (at == StopSwitch::TimePoint::max()) return INT64_MAX;
  if (at == StopSwitch::TimePoint::min()) return INT64_MIN;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
}

StopSwitch::TimePoint FromNanos(int64_t ns) {
  if (ns == INT64_MAX) return StopSwitch::TimePoint::max();
  if (ns == INT64_MIN) return StopSwitch::TimePoint::min();
  return StopSwitch::TimePoint(std::chrono::duration_cast<StopSwitch::TimePoint::duration>(std::chrono::nanoseconds(ns)));
}

}  // namespace

StopSwitch::TimePoint StopSwitch::deadline() const { return FromNanos(deadline_ns_.load()); }

void StopSwitch::SetHardDeadline(TimePoint at) {
  hard_deadline_ns_ = ToNanos(at);
  Watchdog::Instance().Wake();  // it may be earlier than what the watchdog waits for
}

StopSwitch::TimePoint StopSwitch::hard_deadline() const { return FromNanos(hard_deadline_ns_.load()); }

void InitializeV8() {
  std::call_once(g_init_once, [] {
    // Workers are plain scripts; nothing needs WebAssembly's code-generation paths.
    // Checking the built-in snapshot's checksum on every new isolate (adler32 over a few
    // MB, ~0.3 ms per worker start) guards against a corrupt binary, not against input.
    v8::V8::SetFlagsFromString("--no-expose-wasm --no-verify-snapshot-checksum");
    g_platform = v8::platform::NewDefaultPlatform();
    v8::V8::InitializePlatform(g_platform.get());
    v8::V8::Initialize();
  });
}

std::string ScriptError::Describe() const {
  std::string text = name.empty() ? "Error" : name;
  if (!message.empty()) text += ": " + message;
  if (line > 0) text += " (line " + std::to_string(line) + ")";
  return text;
}

// ---- Impl ---------------------------------------------------------------------------
Engine::Impl::~Impl() {
  if (!isolate) return;
  {
    v8::Locker locker(isolate);
    v8::Isolate::Scope isolate_scope(isolate);
    pending.clear();
    unhandled.clear();
    call_promise.Reset();
    script_fn.Reset();
    control.Reset();
    context.Reset();
  }
  isolate->Dispose();
  // `allocator` goes after the isolate: it must outlive every backing store.
}

bool Engine::Impl::PastHardDeadline() const {
  return options.stop_switch && std::chrono::steady_clock::now() >= options.stop_switch->hard_deadline();
}

// Runs `body` as one synchronous entry: lock, scopes, watchdog, microtask checkpoint,
// and the bookkeeping after a limit was hit. `body` gets the context. Entries that may
// run the user's code (`user_code`) are refused at or after the hard deadline: the
// call fails with kLeaseEnded and nothing runs.
template <class Body>
void Engine::Impl::Run(Body&& body, bool user_code) {
  v8::Locker locker(isolate);
  v8::Isolate::Scope isolate_scope(isolate);
  v8::HandleScope handle_scope(isolate);
  if (user_code && PastHardDeadline()) {
    FailCall(ScriptError::Cause::kLeaseEnded);
    return;
  }
  v8::Local<v8::Context> ctx = context.Get(isolate);
  v8::Context::Scope context_scope(ctx);
  const uint64_t token = Watchdog::Instance().Arm(
      isolate, std::chrono::steady_clock::now() + options.cpu_per_run, options.stop_switch.get());
  {
    v8::TryCatch try_catch(isolate);
    if (leader_update) {
      CallControl(ctx, "setLeader", Name(isolate, *leader_update));
      leader_update.reset();
    }
    body(ctx);
    if (!isolate->IsExecutionTerminating()) isolate->PerformMicrotaskCheckpoint();
  }
  const Watchdog::Fired fired = Watchdog::Instance().Disarm(token);
  const bool terminated = terminate_requested.exchange(false);
  if (fired != Watchdog::Fired::kNo || heap_exceeded.load() || terminated) {
    isolate->CancelTerminateExecution();
    FailCall(heap_exceeded.load()                        ? ScriptError::Cause::kHeapLimit
             : fired == Watchdog::Fired::kCpuLimit       ? ScriptError::Cause::kCpuLimit
             : fired == Watchdog::Fired::kLeaseEnded     ? ScriptError::Cause::kLeaseEnded
                                                         : ScriptError::Cause::kTerminated);
    if (heap_exceeded.load()) broken = true;
  } else {
    CheckOutcome(ctx);
  }
  ReportUnhandled(ctx);
  ReportDroppedLogs();
  while (v8::platform::PumpMessageLoop(g_platform.get(), isolate)) {
  }
}

// Settles request `id` with the value `make(converter)` gives, or rejects it with
// `status`'s message. (Resolve/Reject fail only while terminating, which Run() reports,
// so their results are not needed.) When the value cannot be made (a string longer than V8 allows,
// memory) the promise rejects with an error saying so: the call fails, not the process.
template <class Make>
void Engine::Impl::Settle(uint64_t id, const Status& status, Make&& make) {
  auto it = pending.find(id);
  if (it == pending.end()) return;
  Pending p = std::move(it->second);
  pending.erase(it);
  (p.kind == Kind::kTimer ? pending_timers : pending_calls) -= 1;
  Run([&](v8::Local<v8::Context> ctx) {
    auto r = p.resolver.Get(isolate);
    if (status.ok()) {
      Converter conv(ctx);
      v8::Local<v8::Value> value;
      if (make(conv, p).ToLocal(&value)) {
        r->Resolve(ctx, value).IsNothing();
        return;
      }
      if (isolate->IsExecutionTerminating()) return;
      const std::string why = "the reply could not be handed to the script: " +
                              (conv.failure().empty() ? std::string("V8 refused it") : conv.failure());
      r->Reject(ctx, v8::Exception::Error(Name(isolate, why))).IsNothing();
    } else {
      v8::Local<v8::Value> message;
      if (!Converter(ctx).String(status.message()).ToLocal(&message)) message = Name(isolate, "request failed");
      r->Reject(ctx, v8::Exception::Error(message.As<v8::String>())).IsNothing();
    }
  });
}

void Engine::Impl::FailCall(ScriptError::Cause cause) {
  ScriptError error;
  error.cause = cause;
  error.error_class = ErrorClass::kCritical;
  if (cause == ScriptError::Cause::kHeapLimit) {
    error.name = "RangeError";
    error.message = "heap limit of " + std::to_string(options.heap_limit_bytes >> 20) +
                    " MB exceeded; the worker's isolate was discarded";
  } else if (cause == ScriptError::Cause::kTerminated) {
    error.name = "TerminatedError";
    error.message = "terminated: the script did not stop within its grace period";
  } else if (cause == ScriptError::Cause::kLeaseEnded) {
    error.name = "LeaseEndedError";
    error.message = "terminated: the worker's leader lease ended; it may not run without one";
  } else {
    error.name = "TimeoutError";
    error.message = "script ran for more than " + std::to_string(options.cpu_per_run.count()) +
                    " ms without yielding (CPU limit per run)";
  }
  // Pending replies belong to the call that just died; drop them.
  pending.clear();
  pending_timers = pending_calls = 0;
  call_promise.Reset();
  outcome = CallOutcome{false, error};
}

void Engine::Impl::CheckOutcome(v8::Local<v8::Context> ctx) {
  if (call_promise.IsEmpty()) return;
  v8::Local<v8::Promise> promise = call_promise.Get(isolate);
  switch (promise->State()) {
    case v8::Promise::kPending:
      return;
    case v8::Promise::kFulfilled:
      outcome = CallOutcome{true, {}};
      break;
    case v8::Promise::kRejected:
      outcome = CallOutcome{false, ErrorFrom(ctx, promise->Result())};
      break;
  }
  call_promise.Reset();
}

// Calls control.<name>(arg); empty on failure.
v8::MaybeLocal<v8::Value> Engine::Impl::CallControl(v8::Local<v8::Context> ctx, const char* name,
                                                    v8::Local<v8::Value> arg) {
  v8::Local<v8::Value> fn;
  if (!control.Get(isolate)->Get(ctx, Name(isolate, name)).ToLocal(&fn) || !fn->IsFunction()) return {};
  return fn.As<v8::Function>()->Call(ctx, v8::Undefined(isolate), 1, &arg);
}

std::string Engine::Impl::GetString(v8::Local<v8::Context> ctx, v8::Local<v8::Object> obj, const char* key) {
  v8::Local<v8::Value> v;
  if (!obj->Get(ctx, Name(isolate, key)).ToLocal(&v) || v->IsUndefined()) return {};
  // A script's error can carry a message of any size; the node keeps it in stats and
  // logs, so it is cut at the log line cap.
  std::string out;
  const size_t cap = std::clamp<uint64_t>(options.max_log_line ? options.max_log_line : (16u << 10), 64, 1u << 30);
  const int64_t total = ReadBoundedUtf8(ctx, v, cap, &out);
  if (total > static_cast<int64_t>(out.size()))
    out += "… [" + std::to_string(total - static_cast<int64_t>(out.size())) + " bytes dropped]";
  return out;
}

ScriptError Engine::Impl::ErrorFrom(v8::Local<v8::Context> ctx, v8::Local<v8::Value> thrown) {
  v8::TryCatch try_catch(isolate);
  ScriptError error;
  v8::Local<v8::Value> described;
  if (CallControl(ctx, "describe", thrown).ToLocal(&described) && described->IsObject()) {
    auto obj = described.As<v8::Object>();
    error.name = GetString(ctx, obj, "name");
    error.message = GetString(ctx, obj, "message");
    error.stack = GetString(ctx, obj, "stack");
  } else {
    error.name = "Error";
    error.message = isolate->IsExecutionTerminating() ? "terminated" : ToStdString(isolate, thrown);
  }
  v8::Local<v8::Value> klass;
  if (CallControl(ctx, "classify", thrown).ToLocal(&klass) &&
      ToStdString(isolate, klass) == "network") {
    error.error_class = ErrorClass::kNetwork;
  }
  // The first frame in the user's script gives the line the user should look at.
  static const std::regex frame(R"(worker\.js:(\d+):(\d+))");
  std::smatch m;
  if (std::regex_search(error.stack, m, frame)) {
    error.line = std::stoi(m[1]);
    error.column = std::stoi(m[2]);
  }
  return error;
}

void Engine::Impl::ReportUnhandled(v8::Local<v8::Context> ctx) {
  if (unhandled.empty()) return;
  std::vector<v8::Global<v8::Promise>> list;
  list.swap(unhandled);
  for (auto& p : list) {
    v8::Local<v8::Promise> promise = p.Get(isolate);
    if (promise->HasHandler()) continue;
    ScriptError e = ErrorFrom(ctx, promise->Result());
    ScriptLog(LogLevel::kWarn, "unhandled promise rejection: " + e.Describe());
  }
}

void Engine::Impl::OnPromiseReject(v8::PromiseRejectMessage message) {
  v8::Isolate* isolate = message.GetPromise()->GetIsolate();
  auto* self = static_cast<Impl*>(isolate->GetData(0));
  if (!self) return;
  if (message.GetEvent() == v8::kPromiseRejectWithNoHandler) {
    // The worker's own call promise is watched by CheckOutcome, not reported here.
    if (!self->call_promise.IsEmpty() && self->call_promise.Get(isolate) == message.GetPromise()) return;
    // A script rejecting promises in a loop must not grow this without bound; past the
    // cap (per entry) further ones are not reported.
    if (self->unhandled.size() >= 1000) return;
    self->unhandled.emplace_back(isolate, message.GetPromise());
  }
}

size_t Engine::Impl::OnNearHeapLimit(void* data, size_t current_limit, size_t initial_limit) {
  auto* self = static_cast<Impl*>(data);
  self->heap_exceeded = true;
  self->isolate->TerminateExecution();
  // Room for the termination to unwind; the isolate is discarded afterwards. The room is
  // measured from what the heap holds now, not from the old limit: one operation that
  // checks no interrupts (JSON.stringify of a 256 MB string) can take the heap well past
  // the limit, and a new limit still below it makes V8 abort the whole process ("Reached
  // heap limit"). V8 calls this again if that operation goes on growing.
  v8::HeapStatistics hs;
  self->isolate->GetHeapStatistics(&hs);
  const size_t held = std::max<size_t>(current_limit, hs.total_heap_size());
  return held + std::max<size_t>(held / 2, 64u << 20);
}

v8::MaybeLocal<v8::Promise> Engine::Impl::NewPending(v8::Local<v8::Context> ctx, Kind kind, uint64_t* id,
                                                     bool filter_reserved) {
  v8::Local<v8::Promise::Resolver> resolver;
  if (!v8::Promise::Resolver::New(ctx).ToLocal(&resolver)) return {};
  *id = next_request++;
  pending.emplace(*id, Pending{v8::Global<v8::Promise::Resolver>(isolate, resolver), kind, filter_reserved});
  (kind == Kind::kTimer ? pending_timers : pending_calls) += 1;
  return resolver->GetPromise();
}

bool Engine::Impl::UnderCap(Kind kind) {
  const bool timer = kind == Kind::kTimer;
  const int cap = timer ? options.max_timers : options.max_pending_calls;
  const int now = timer ? pending_timers : pending_calls;
  if (cap <= 0 || now < cap) return true;
  ThrowRangeError(isolate, timer ? "too many pending timers: " + std::to_string(now) +
                                       " (limits.max_timers); await or clear some first"
                                 : "too many KV and exchange calls in flight: " + std::to_string(now) +
                                       " (limits.max_pending_calls); await some first");
  return false;
}

namespace {
int64_t SecondsNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

void Engine::Impl::ScriptLog(LogLevel level, std::string message) {
  const int64_t now = SecondsNow();
  if (now != log_window) {
    log_window = now;
    log_lines_in_window = 0;
  }
  const int cap = options.max_log_lines_per_sec;
  if (cap > 0 && log_lines_in_window >= cap) {
    ++log_dropped_unreported;
    log_dropped_window = now;
    ++log_dropped_total;
    return;
  }
  ReportDroppedLogs();
  ++log_lines_in_window;
  host->Log(level, std::move(message));
}

void Engine::Impl::ReportDroppedLogs() {
  if (log_dropped_unreported == 0 || SecondsNow() == log_dropped_window) return;
  host->Log(LogLevel::kWarn, std::to_string(log_dropped_unreported) + " log lines dropped (more than " +
                                 std::to_string(options.max_log_lines_per_sec) +
                                 " a second, limits.max_log_lines_per_sec)");
  log_dropped_unreported = 0;
}

// Compiles the wrapped user script in `ctx`. On a syntax error fills *error. (Also the
// syntax checker's compile: engine_impl.h.)
v8::MaybeLocal<v8::Script> CompileWorker(v8::Isolate* isolate, v8::Local<v8::Context> ctx,
                                         std::string_view script, ScriptError* error) {
  std::string source;
  source.reserve(script.size() + 32);
  source.append(kWrapHead).append(script).append(kWrapTail);
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Value> source_text;
  if (!Converter(ctx).String(source).ToLocal(&source_text)) {
    if (error) {
      *error = ScriptError{};
      error->cause = ScriptError::Cause::kSyntax;
      error->name = "SyntaxError";
      error->message = "the script (" + std::to_string(script.size()) + " bytes) is longer than V8 allows";
    }
    return {};
  }
  v8::ScriptOrigin origin(isolate, Name(isolate, kScriptName), /*line offset*/ -1, 0);
  v8::Local<v8::Script> compiled;
  if (v8::Script::Compile(ctx, source_text.As<v8::String>(), &origin).ToLocal(&compiled)) return compiled;
  if (error) {
    error->cause = ScriptError::Cause::kSyntax;
    error->error_class = ErrorClass::kCritical;
    error->name = "SyntaxError";
    std::string text = ToStdString(isolate, try_catch.Exception());
    const std::string prefix = "SyntaxError: ";
    error->message = text.rfind(prefix, 0) == 0 ? text.substr(prefix.size()) : text;
    v8::Local<v8::Message> message = try_catch.Message();
    if (!message.IsEmpty()) {
      error->line = message->GetLineNumber(ctx).FromMaybe(0);
      error->column = message->GetStartColumn(ctx).FromMaybe(-1) + 1;
      // An unbalanced brace is reported on the wrapper's closing line.
      const int user_lines = 1 + static_cast<int>(std::count(script.begin(), script.end(), '\n'));
      if (error->line > user_lines) error->line = user_lines;
    }
  }
  return {};
}

// Every isolate reserves a code range (min(heap limit, 128 MB)), and to place it V8
// (this version) reads all of /proc/self/maps looking for room near its built-in code —
// unless an isolate with a range of that size was disposed before: then it takes that
// range's address as the hint and reads nothing (it keeps offering the same address, a
// hint only; where the range really goes is the kernel's choice, as it was anyway for
// every isolate past the first few dozen, when the near region had no room left). With
// N workers the map has ~12·N lines, so without this starting the N-th worker cost O(N):
// 7 ms per isolate on average (11 ms at the end) starting 800 in a row, 1.4 ms with it.
// So the first isolate of each range size is preceded by one made and disposed at once.
void SeedCodeRangeHint(uint64_t heap_limit) {
  static std::mutex mu;
  static std::set<uint64_t> seeded;
  const uint64_t range = std::min<uint64_t>(heap_limit, uint64_t{128} << 20);
  std::lock_guard<std::mutex> lock(mu);
  if (!seeded.insert(range).second) return;
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = allocator.get();
  params.constraints.ConfigureDefaultsFromHeapSize(0, heap_limit);
  if (v8::Isolate* isolate = v8::Isolate::New(params)) isolate->Dispose();
}

namespace {

// V8's code cache of prelude.js, made by the first engine of the process after the API
// was installed (so the functions that ran then are in it). Every later engine compiles
// the prelude from it instead of from source: ~1.4 ms less per worker start. The buffer
// is made once and never freed, so Sources may point at it without copying.
class PreludeCache {
 public:
  // A CachedData for a ScriptCompiler::Source (which owns and deletes the wrapper, not
  // the bytes), or null while there is no cache yet.
  static v8::ScriptCompiler::CachedData* Use() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!data_) return nullptr;
    return new v8::ScriptCompiler::CachedData(data_->data, data_->length,
                                              v8::ScriptCompiler::CachedData::BufferNotOwned);
  }
  static void Keep(v8::Local<v8::Script> prelude) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (data_ || making_) return;
      making_ = true;  // one engine makes it; others starting meanwhile compile from source
    }
    v8::ScriptCompiler::CachedData* made = v8::ScriptCompiler::CreateCodeCache(prelude->GetUnboundScript());
    std::lock_guard<std::mutex> lock(mu_);
    data_ = made;  // null if V8 declined: every engine keeps compiling from source
  }

 private:
  static inline std::mutex mu_;
  static inline const v8::ScriptCompiler::CachedData* data_ = nullptr;
  static inline bool making_ = false;
};

}  // namespace

namespace {

// The first step of prelude.js in `ctx`: the host object, then the prelude compiled (from
// the code cache when `cached` and there is one) and called with it. Gives `install`,
// the second step, which takes the worker's facts.
v8::MaybeLocal<v8::Function> PrepareApi(v8::Isolate* isolate, v8::Local<v8::Context> ctx,
                                        const std::string& expected_error_classes, bool cached,
                                        v8::Local<v8::Script>* compiled) {
  v8::Local<v8::Object> host_object;
  v8::Local<v8::Value> expected, factory, install;
  if (!MakeHostObject(ctx).ToLocal(&host_object) || !Converter(ctx).String(expected_error_classes).ToLocal(&expected))
    return {};
  v8::ScriptOrigin origin(isolate, Name(isolate, kPreludeName));
  v8::ScriptCompiler::Source source(Name(isolate, ami_prelude_js), origin, cached ? PreludeCache::Use() : nullptr);
  const auto compile_options =
      source.GetCachedData() ? v8::ScriptCompiler::kConsumeCodeCache : v8::ScriptCompiler::kNoCompileOptions;
  v8::Local<v8::Value> args[] = {host_object, expected};
  if (!v8::ScriptCompiler::Compile(ctx, &source, compile_options).ToLocal(compiled) ||
      !(*compiled)->Run(ctx).ToLocal(&factory) || !factory->IsFunction() ||
      !factory.As<v8::Function>()->Call(ctx, v8::Undefined(isolate), 2, args).ToLocal(&install) ||
      !install->IsFunction())
    return {};
  if (cached && !source.GetCachedData()) PreludeCache::Keep(*compiled);
  return install.As<v8::Function>();
}

// ---- startup snapshot ----------------------------------------------------------------
// The context after prelude.js's first step (every global's machinery, the expected CCXT
// classes; see prelude.js on what makes it snapshot-safe) serialized once per process by
// V8's SnapshotCreator, at the first Engine::Create, with that engine's CCXT hierarchy
// (the node gives every worker the same one; a worker with another builds its own in
// install()). Isolates are then made from the blob, and Context::New on one gives that
// context ready: Context::New + the first step (~1.3 ms with the code cache) become a
// deserialization. The natives are the only external references (HostExternalReferences);
// nothing in the context points at an engine (the natives use the isolate's data slot).
// AMI_SNAPSHOT=0 in the environment, or Engine::UseStartupSnapshot(false), turns it off.
class StartupSnapshot {
 public:
  static StartupSnapshot& Process() {
    static StartupSnapshot* s = new StartupSnapshot();  // never freed: isolates use the blob
    return *s;
  }

  // Builds the blob at the first call while on (others wait for it, once).
  void Ensure(const std::string& error_classes_json) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!enabled_ || tried_) return;
    tried_ = true;
    v8::StartupData blob{nullptr, 0};
    if (Build(error_classes_json, &blob)) blob_ = blob;
    else delete[] blob.data;  // V8 gave nothing usable: every engine builds its context
  }

  // The blob for new isolates, or null (off, not built, or failed).
  v8::StartupData* blob() {
    std::lock_guard<std::mutex> lock(mu_);
    return enabled_ && blob_.data ? &blob_ : nullptr;
  }

  void SetEnabled(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    enabled_ = on;
  }

 private:
  StartupSnapshot() {
    const char* env = std::getenv("AMI_SNAPSHOT");
    enabled_ = !(env && std::string(env) == "0");
  }

  static bool Build(const std::string& error_classes_json, v8::StartupData* out) {
    v8::SnapshotCreator creator(HostExternalReferences());
    v8::Isolate* isolate = creator.GetIsolate();
    {
      v8::HandleScope handle_scope(isolate);
      v8::Local<v8::Context> ctx = v8::Context::New(isolate);
      if (ctx.IsEmpty()) return false;
      v8::Context::Scope context_scope(ctx);
      v8::TryCatch try_catch(isolate);
      v8::Local<v8::Script> compiled;
      v8::Local<v8::Function> install;
      if (!PrepareApi(isolate, ctx, error_classes_json, /*cached=*/false, &compiled).ToLocal(&install)) return false;
      if (creator.AddData(ctx, install) != kInstallIndex) return false;
      creator.SetDefaultContext(ctx);
    }
    *out = creator.CreateBlob(v8::SnapshotCreator::FunctionCodeHandling::kKeep);
    return out->data != nullptr && out->raw_size > 0;
  }

 public:
  static constexpr size_t kInstallIndex = 0;  // `install` in the context's snapshot data

 private:
  std::mutex mu_;
  bool enabled_ = true;
  bool tried_ = false;
  v8::StartupData blob_{nullptr, 0};
};

}  // namespace

FreshIsolate MakeIsolate(uint64_t heap_limit) {
  SeedCodeRangeHint(heap_limit);
  FreshIsolate made;
  made.allocator = std::make_unique<ArrayBufferBudget>(heap_limit);
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = made.allocator.get();
  params.constraints.ConfigureDefaultsFromHeapSize(0, heap_limit);
  if (v8::StartupData* blob = StartupSnapshot::Process().blob()) {
    params.snapshot_blob = blob;
    params.external_references = HostExternalReferences();
    made.from_snapshot = true;
  }
  made.isolate = v8::Isolate::New(params);
  return made;
}

// ---- Engine ------------------------------------------------------------------------
Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options, Host* host) {
  InitializeV8();
  StartupSnapshot::Process().Ensure(options.error_classes_json);
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->host = host;
  // A pooled isolate is one nobody has used, made exactly as MakeIsolate makes one here.
  FreshIsolate fresh;
  impl->from_pool = IsolatePool::Process().Take(options.heap_limit_bytes, &fresh);
  if (!impl->from_pool) fresh = MakeIsolate(options.heap_limit_bytes);
  impl->allocator = std::move(fresh.allocator);
  impl->isolate = fresh.isolate;
  impl->from_snapshot = fresh.from_snapshot;
  if (!impl->isolate) return Status::Internal("could not create a V8 isolate");
  v8::Isolate* isolate = impl->isolate;
  isolate->SetData(0, impl.get());

  v8::Locker locker(isolate);
  v8::Isolate::Scope isolate_scope(isolate);
  v8::HandleScope handle_scope(isolate);
  isolate->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
  isolate->AddNearHeapLimitCallback(&Impl::OnNearHeapLimit, impl.get());
  isolate->SetPromiseRejectCallback(&Impl::OnPromiseReject);
  // Atomics.wait would block the scheduler thread the worker runs on; scripts get a
  // TypeError instead.
  isolate->SetAllowAtomicsWait(false);

  // From the snapshot, the context comes with prelude.js's first step done; otherwise it
  // is done here. Either way install(facts) finishes the API for this worker.
  v8::Local<v8::Context> ctx = v8::Context::New(isolate);
  if (ctx.IsEmpty()) return Status::Internal("could not create a V8 context (out of memory?)");
  impl->context.Reset(isolate, ctx);
  v8::Context::Scope context_scope(ctx);
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Function> install;
  v8::Local<v8::Script> compiled;
  const bool prepared =
      impl->from_snapshot
          ? ctx->GetDataFromSnapshotOnce<v8::Function>(StartupSnapshot::kInstallIndex).ToLocal(&install)
          : PrepareApi(isolate, ctx, options.error_classes_json, /*cached=*/true, &compiled).ToLocal(&install);
  if (!prepared) {
    return Status::Internal("script API setup failed: " +
                            (try_catch.HasCaught() ? ToStdString(isolate, try_catch.Exception())
                                                   : std::string("the engine's objects could not be made (out of memory?)")));
  }
  v8::Local<v8::Object> facts;
  v8::Local<v8::Value> control;
  if (!MakeFacts(impl.get(), ctx).ToLocal(&facts))
    return Status::Internal("script API setup failed: the engine's objects could not be made (out of memory?)");
  v8::Local<v8::Value> fact_arg = facts;
  if (!install->Call(ctx, v8::Undefined(isolate), 1, &fact_arg).ToLocal(&control) || !control->IsObject()) {
    // Only a bad config_json/leader_json/exchanges_json can get here.
    return Status::Internal("script API setup failed: " + ToStdString(isolate, try_catch.Exception()));
  }
  impl->control.Reset(isolate, control.As<v8::Object>());
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

void Engine::UseStartupSnapshot(bool on) { StartupSnapshot::Process().SetEnabled(on); }

Status Engine::Load(std::string_view script, ScriptError* error) {
  Impl& d = *impl_;
  ScriptError local_error;
  ScriptError* err = error ? error : &local_error;
  Status status;
  d.Run([&](v8::Local<v8::Context> ctx) {
    v8::Local<v8::Script> compiled;
    if (!CompileWorker(d.isolate, ctx, script, err).ToLocal(&compiled)) {
      status = Status::ScriptError(err->Describe());
      return;
    }
    v8::TryCatch try_catch(d.isolate);
    v8::Local<v8::Value> fn, body;
    if (!compiled->Run(ctx).ToLocal(&fn) || !fn->IsFunction() || !Converter(ctx).String(script).ToLocal(&body) ||
        d.CallControl(ctx, "checkBody", body).IsEmpty()) {
      *err = ScriptError{};
      err->name = "SyntaxError";
      err->message = "the script must be the body of a function (does it close a brace it did not open?)";
      status = Status::ScriptError(err->Describe());
      return;
    }
    d.script_fn.Reset(d.isolate, fn.As<v8::Function>());
  }, /*user_code=*/false);  // compiling runs none of the user's code
  return status;
}

void Engine::StartCall() {
  Impl& d = *impl_;
  assert(!d.script_fn.IsEmpty() && d.call_promise.IsEmpty());
  d.outcome.reset();
  d.Run([&](v8::Local<v8::Context> ctx) {
    v8::Local<v8::Value> result;
    if (!d.script_fn.Get(d.isolate)->Call(ctx, ctx->Global(), 0, nullptr).ToLocal(&result) ||
        !result->IsPromise()) {
      return;  // only termination gets here; Run() records the failure
    }
    auto promise = result.As<v8::Promise>();
    promise->MarkAsHandled();  // CheckOutcome() handles it
    d.call_promise.Reset(d.isolate, promise);
  });
}

void Engine::CompleteTimer(uint64_t request_id) {
  impl_->Settle(request_id, Status::OK(), [&](Converter& conv, const Impl::Pending&) -> v8::MaybeLocal<v8::Value> {
    return v8::Undefined(conv.isolate());
  });
}

void Engine::CompleteKv(uint64_t request_id, kv::Reply reply) {
  impl_->Settle(request_id, reply.status, [&](Converter& conv, const Impl::Pending& p) -> v8::MaybeLocal<v8::Value> {
    switch (reply.op) {
      case kv::Request::Op::kGet:
        if (!reply.entry) return v8::Null(conv.isolate());
        return conv.Entry(*reply.entry);
      case kv::Request::Op::kList: {
        if (p.filter_reserved) FilterReserved(&reply.entries);
        std::vector<v8::Local<v8::Value>> entries;
        entries.reserve(reply.entries.size());
        for (const kv::Entry& e : reply.entries) {
          v8::Local<v8::Value> v;
          if (!conv.Entry(e).ToLocal(&v)) return {};
          entries.push_back(v);
        }
        return conv.Array(std::move(entries));
      }
      case kv::Request::Op::kCommit: {
        if (!reply.commit.ok) return conv.Object({{"ok", conv.Boolean(false)}});
        v8::Local<v8::Value> vs;
        if (!conv.String(kv::FormatVersionstamp(reply.commit.versionstamp)).ToLocal(&vs)) return {};
        return conv.Object({{"ok", conv.Boolean(true)}, {"versionstamp", vs}});
      }
    }
    return v8::Undefined(conv.isolate());
  });
}

void Engine::CompleteExchangeCall(uint64_t request_id, ExchangeReply reply) {
  // Errors travel as values and become CCXT error instances in prelude.js, so the
  // promise itself always resolves.
  impl_->Settle(request_id, Status::OK(), [&](Converter& conv, const Impl::Pending&) -> v8::MaybeLocal<v8::Value> {
    v8::Local<v8::Value> json, error_class, message;
    if (!conv.String(reply.json).ToLocal(&json) || !conv.String(reply.error_class).ToLocal(&error_class) ||
        !conv.String(reply.message).ToLocal(&message))
      return {};
    return conv.Object({{"ok", conv.Boolean(reply.ok)},
                        {"json", json},
                        {"errorClass", error_class},
                        {"message", message}});
  });
}

void Engine::Abort() {
  Impl& d = *impl_;
  d.Run([&](v8::Local<v8::Context> ctx) {
    d.CallControl(ctx, "abort", v8::Undefined(d.isolate));
  });
}

void Engine::SetLeader(std::string leader_json) { impl_->leader_update = std::move(leader_json); }

bool Engine::call_in_flight() const { return !impl_->call_promise.IsEmpty(); }

std::optional<CallOutcome> Engine::TakeOutcome() {
  std::optional<CallOutcome> out;
  out.swap(impl_->outcome);
  return out;
}

bool Engine::broken() const { return impl_->broken; }

bool Engine::from_pool() const { return impl_->from_pool; }

bool Engine::from_snapshot() const { return impl_->from_snapshot; }

const void* Engine::isolate_id() const { return impl_->isolate; }

uint64_t Engine::dropped_log_lines() const { return impl_->log_dropped_total; }

void Engine::Terminate() {
  impl_->terminate_requested = true;
  impl_->isolate->TerminateExecution();
}

HeapUsage Engine::heap_usage() {
  v8::Locker locker(impl_->isolate);
  v8::HeapStatistics hs;
  impl_->isolate->GetHeapStatistics(&hs);
  return HeapUsage{hs.used_heap_size(), hs.total_heap_size(), hs.heap_size_limit()};
}

Status Engine::CheckSyntax(std::string_view script, ScriptError* error) {
  return SyntaxChecker::Process().Check(script, error);
}

void StartSyntaxChecker() { SyntaxChecker::Process(); }

Status CheckScriptSyntax(const std::string& script) {
  ScriptError error;
  Status checked = Engine::CheckSyntax(script, &error);
  if (checked.ok()) return Status::OK();
  if (checked.code() == Status::Code::kAborted) return checked;  // the checker was busy, not the script's fault
  return Status::InvalidArgument("script: " + error.Describe());
}

}  // namespace ami::js
