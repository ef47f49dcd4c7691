// V8 implementation of ami::js::Engine. See engine.h for the contract.
//
// Layout of this file: process-wide V8 setup and the CPU watchdog; Impl (the isolate
// and everything tied to it); the Run() helper every entry goes through; key and entry
// conversion; the native functions of the `host` object handed to prelude.js; Engine.
#include "runtime/js/engine.h"

#include <libplatform/libplatform.h>
#include <unistd.h>
#include <v8.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <thread>
#include <unordered_map>

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

v8::Local<v8::String> Str(v8::Isolate* isolate, std::string_view text) {
  return v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal,
                                 static_cast<int>(text.size()))
      .ToLocalChecked();
}

std::string ToStdString(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  v8::String::Utf8Value utf8(isolate, value);
  return *utf8 ? std::string(*utf8, utf8.length()) : std::string();
}

uint64_t ProcessRssBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

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
    v8::V8::SetFlagsFromString("--no-expose-wasm");
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
struct Engine::Impl {
  EngineOptions options;
  Host* host = nullptr;
  v8::Isolate* isolate = nullptr;
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator;
  v8::Global<v8::Context> context;
  v8::Global<v8::Object> control;        // {abort, classify, describe} from prelude.js
  v8::Global<v8::Function> script_fn;
  v8::Global<v8::Promise> call_promise;  // the call in flight, if any
  std::optional<CallOutcome> outcome;
  uint64_t next_request = 1;
  std::unordered_map<uint64_t, v8::Global<v8::Promise::Resolver>> pending;
  std::vector<v8::Global<v8::Promise>> unhandled;  // rejections nobody handled (yet)
  std::atomic<bool> heap_exceeded{false};
  std::atomic<bool> terminate_requested{false};  // Engine::Terminate() was called
  bool broken = false;
  std::optional<std::string> leader_update;      // SetLeader() text, applied at the next entry

  ~Impl() {
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
  }

  bool PastHardDeadline() const {
    return options.stop_switch && std::chrono::steady_clock::now() >= options.stop_switch->hard_deadline();
  }

  // Runs `body` as one synchronous entry: lock, scopes, watchdog, microtask checkpoint,
  // and the bookkeeping after a limit was hit. `body` gets the context. Entries that may
  // run the user's code (`user_code`) are refused at or after the hard deadline: the
  // call fails with kLeaseEnded and nothing runs.
  template <class Body>
  void Run(Body&& body, bool user_code = true) {
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
        CallControl(ctx, "setLeader", Str(isolate, *leader_update));
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
    while (v8::platform::PumpMessageLoop(g_platform.get(), isolate)) {
    }
  }

  void FailCall(ScriptError::Cause cause) {
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
    call_promise.Reset();
    outcome = CallOutcome{false, error};
  }

  void CheckOutcome(v8::Local<v8::Context> ctx) {
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
  v8::MaybeLocal<v8::Value> CallControl(v8::Local<v8::Context> ctx, const char* name,
                                        v8::Local<v8::Value> arg) {
    v8::Local<v8::Value> fn;
    if (!control.Get(isolate)->Get(ctx, Str(isolate, name)).ToLocal(&fn) || !fn->IsFunction()) return {};
    return fn.As<v8::Function>()->Call(ctx, v8::Undefined(isolate), 1, &arg);
  }

  std::string GetString(v8::Local<v8::Context> ctx, v8::Local<v8::Object> obj, const char* key) {
    v8::Local<v8::Value> v;
    if (!obj->Get(ctx, Str(isolate, key)).ToLocal(&v) || v->IsUndefined()) return {};
    return ToStdString(isolate, v);
  }

  ScriptError ErrorFrom(v8::Local<v8::Context> ctx, v8::Local<v8::Value> thrown) {
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
      error.message = ToStdString(isolate, thrown);
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

  void ReportUnhandled(v8::Local<v8::Context> ctx) {
    if (unhandled.empty()) return;
    std::vector<v8::Global<v8::Promise>> list;
    list.swap(unhandled);
    for (auto& p : list) {
      v8::Local<v8::Promise> promise = p.Get(isolate);
      if (promise->HasHandler()) continue;
      ScriptError e = ErrorFrom(ctx, promise->Result());
      host->Log(LogLevel::kWarn, "unhandled promise rejection: " + e.Describe());
    }
  }

  static void OnPromiseReject(v8::PromiseRejectMessage message) {
    v8::Isolate* isolate = message.GetPromise()->GetIsolate();
    auto* self = static_cast<Impl*>(isolate->GetData(0));
    if (!self) return;
    if (message.GetEvent() == v8::kPromiseRejectWithNoHandler) {
      // The worker's own call promise is watched by CheckOutcome, not reported here.
      if (!self->call_promise.IsEmpty() && self->call_promise.Get(isolate) == message.GetPromise()) return;
      self->unhandled.emplace_back(isolate, message.GetPromise());
    }
  }

  static size_t OnNearHeapLimit(void* data, size_t current_limit, size_t initial_limit) {
    auto* self = static_cast<Impl*>(data);
    self->heap_exceeded = true;
    self->isolate->TerminateExecution();
    // Room for the termination to unwind; the isolate is discarded afterwards.
    return current_limit + std::max<size_t>(current_limit / 2, 32u << 20);
  }

  // Resolver bookkeeping for promises the host will settle later.
  std::pair<uint64_t, v8::Local<v8::Promise>> NewPending(v8::Local<v8::Context> ctx) {
    auto resolver = v8::Promise::Resolver::New(ctx).ToLocalChecked();
    const uint64_t id = next_request++;
    pending.emplace(id, v8::Global<v8::Promise::Resolver>(isolate, resolver));
    return {id, resolver->GetPromise()};
  }

  // Settles request `id` with the value `make(ctx)` gives, or rejects with `error`.
  template <class Make>
  void Settle(uint64_t id, const Status& status, Make&& make) {
    auto it = pending.find(id);
    if (it == pending.end()) return;
    v8::Global<v8::Promise::Resolver> resolver = std::move(it->second);
    pending.erase(it);
    Run([&](v8::Local<v8::Context> ctx) {
      auto r = resolver.Get(isolate);
      if (status.ok()) {
        r->Resolve(ctx, make(ctx)).Check();
      } else {
        auto err = v8::Exception::Error(Str(isolate, status.message())).As<v8::Object>();
        r->Reject(ctx, err).Check();
      }
    });
  }
};

namespace {

using Impl = Engine::Impl;

Impl* Self(const v8::FunctionCallbackInfo<v8::Value>& info) {
  return static_cast<Impl*>(info.Data().As<v8::External>()->Value());
}

void ThrowType(v8::Isolate* isolate, const std::string& message) {
  isolate->ThrowException(v8::Exception::TypeError(Str(isolate, message)));
}

// ---- keys and entries ----------------------------------------------------------------
bool ToKey(v8::Isolate* isolate, v8::Local<v8::Context> ctx, v8::Local<v8::Value> value,
           const char* what, kv::Key* out) {
  if (!value->IsArray()) {
    ThrowType(isolate, std::string(what) + ": a key is an array, e.g. [\"prices\", \"BTC\"]");
    return false;
  }
  auto array = value.As<v8::Array>();
  out->clear();
  for (uint32_t i = 0; i < array->Length(); ++i) {
    v8::Local<v8::Value> part;
    if (!array->Get(ctx, i).ToLocal(&part)) return false;
    if (part->IsString()) {
      out->push_back(kv::KeyPart::String(ToStdString(isolate, part)));
    } else if (part->IsNumber()) {
      const double d = part.As<v8::Number>()->Value();
      if (std::isnan(d)) {
        ThrowType(isolate, std::string(what) + ": key part " + std::to_string(i) + " is NaN");
        return false;
      }
      out->push_back(kv::KeyPart::Number(d));
    } else if (part->IsBigInt()) {
      bool lossless = true;
      const int64_t n = part.As<v8::BigInt>()->Int64Value(&lossless);
      if (!lossless) {
        ThrowType(isolate, std::string(what) + ": key part " + std::to_string(i) + " is a BigInt outside 64 bits");
        return false;
      }
      out->push_back(kv::KeyPart::BigInt(n));
    } else if (part->IsBoolean()) {
      out->push_back(kv::KeyPart::Bool(part->IsTrue()));
    } else if (part->IsUint8Array()) {
      auto bytes = part.As<v8::Uint8Array>();
      std::string data(bytes->ByteLength(), '\0');
      bytes->CopyContents(data.data(), data.size());
      out->push_back(kv::KeyPart::Bytes(std::move(data)));
    } else {
      ThrowType(isolate, std::string(what) + ": key part " + std::to_string(i) +
                             " must be a string, number, bigint, boolean or Uint8Array");
      return false;
    }
  }
  return true;
}

v8::Local<v8::Value> FromKey(v8::Isolate* isolate, const kv::Key& key) {
  auto array = v8::Array::New(isolate, static_cast<int>(key.size()));
  auto ctx = isolate->GetCurrentContext();
  for (size_t i = 0; i < key.size(); ++i) {
    const kv::KeyPart& p = key[i];
    v8::Local<v8::Value> v;
    switch (p.type) {
      case kv::KeyPart::Type::kString: v = Str(isolate, p.text); break;
      case kv::KeyPart::Type::kNumber: v = v8::Number::New(isolate, p.number); break;
      case kv::KeyPart::Type::kBigInt: v = v8::BigInt::New(isolate, p.bigint); break;
      case kv::KeyPart::Type::kFalse: v = v8::False(isolate); break;
      case kv::KeyPart::Type::kTrue: v = v8::True(isolate); break;
      case kv::KeyPart::Type::kBytes: {
        auto buffer = v8::ArrayBuffer::New(isolate, p.text.size());
        if (!p.text.empty()) std::memcpy(buffer->GetBackingStore()->Data(), p.text.data(), p.text.size());
        v = v8::Uint8Array::New(buffer, 0, p.text.size());
        break;
      }
    }
    array->Set(ctx, static_cast<uint32_t>(i), v).Check();
  }
  return array;
}

// {key, value: <JSON text>, versionstamp: "0000…"} — prelude.js parses the value.
v8::Local<v8::Value> FromEntry(v8::Isolate* isolate, const kv::Entry& entry) {
  auto ctx = isolate->GetCurrentContext();
  auto obj = v8::Object::New(isolate);
  obj->Set(ctx, Str(isolate, "key"), FromKey(isolate, entry.key)).Check();
  obj->Set(ctx, Str(isolate, "value"), Str(isolate, entry.value)).Check();
  obj->Set(ctx, Str(isolate, "versionstamp"), Str(isolate, kv::FormatVersionstamp(entry.versionstamp))).Check();
  return obj;
}

bool ToSpace(v8::Isolate* isolate, v8::Local<v8::Value> v, kv::Space* out) {
  if (!v->IsInt32()) {
    ThrowType(isolate, "internal: bad key space");
    return false;
  }
  *out = v.As<v8::Int32>()->Value() == 1 ? kv::Space::kNetwork : kv::Space::kLocal;
  return true;
}

// ---- natives of the `host` object --------------------------------------------------
void NativeLog(const v8::FunctionCallbackInfo<v8::Value>& info) {
  Impl* self = Self(info);
  const int level = info[0]->Int32Value(info.GetIsolate()->GetCurrentContext()).FromMaybe(1);
  const LogLevel l = level <= 0 ? LogLevel::kDebug : level == 1 ? LogLevel::kInfo
                   : level == 2 ? LogLevel::kWarn : LogLevel::kError;
  self->host->Log(l, ToStdString(info.GetIsolate(), info[1]));
}

void NativeTimer(const v8::FunctionCallbackInfo<v8::Value>& info) {
  Impl* self = Self(info);
  auto ctx = info.GetIsolate()->GetCurrentContext();
  double ms = info[0]->NumberValue(ctx).FromMaybe(0);
  if (!(ms >= 0)) ms = 0;
  auto [id, promise] = self->NewPending(ctx);
  self->host->StartTimer(id, std::chrono::milliseconds(static_cast<int64_t>(std::min(ms, 1e12))));
  info.GetReturnValue().Set(promise);
}

void NativeKvGet(const v8::FunctionCallbackInfo<v8::Value>& info) {
  Impl* self = Self(info);
  v8::Isolate* isolate = info.GetIsolate();
  auto ctx = isolate->GetCurrentContext();
  KvRequest req;
  req.op = KvRequest::Op::kGet;
  if (!ToSpace(isolate, info[0], &req.space) || !ToKey(isolate, ctx, info[1], "get", &req.key)) return;
  auto [id, promise] = self->NewPending(ctx);
  self->host->StartKv(id, std::move(req));
  info.GetReturnValue().Set(promise);
}

void NativeKvList(const v8::FunctionCallbackInfo<v8::Value>& info) {
  Impl* self = Self(info);
  v8::Isolate* isolate = info.GetIsolate();
  auto ctx = isolate->GetCurrentContext();
  KvRequest req;
  req.op = KvRequest::Op::kList;
  if (!ToSpace(isolate, info[0], &req.space)) return;
  if (!info[1]->IsNull() && !ToKey(isolate, ctx, info[1], "list prefix", &req.list.prefix)) return;
  if (!info[2]->IsNull()) {
    kv::Key start;
    if (!ToKey(isolate, ctx, info[2], "list start", &start)) return;
    req.list.start = std::move(start);
  }
  if (!info[3]->IsNull()) {
    kv::Key end;
    if (!ToKey(isolate, ctx, info[3], "list end", &end)) return;
    req.list.end = std::move(end);
  }
  const double limit = info[4]->NumberValue(ctx).FromMaybe(0);
  req.list.limit = limit > 0 ? static_cast<size_t>(limit) : 0;
  req.list.reverse = info[5]->IsTrue();
  auto [id, promise] = self->NewPending(ctx);
  self->host->StartKv(id, std::move(req));
  info.GetReturnValue().Set(promise);
}

// kvCommit(space, [[key, versionstamp|null]…], [[kind, key, json|null, expireIn|null]…])
void NativeKvCommit(const v8::FunctionCallbackInfo<v8::Value>& info) {
  Impl* self = Self(info);
  v8::Isolate* isolate = info.GetIsolate();
  auto ctx = isolate->GetCurrentContext();
  KvRequest req;
  req.op = KvRequest::Op::kCommit;
  if (!ToSpace(isolate, info[0], &req.space)) return;
  if (!info[1]->IsArray() || !info[2]->IsArray()) return ThrowType(isolate, "internal: bad commit");
  auto checks = info[1].As<v8::Array>();
  for (uint32_t i = 0; i < checks->Length(); ++i) {
    auto pair = checks->Get(ctx, i).ToLocalChecked().As<v8::Array>();
    kv::Check check;
    if (!ToKey(isolate, ctx, pair->Get(ctx, 0).ToLocalChecked(), "atomic().check", &check.key)) return;
    auto vs = pair->Get(ctx, 1).ToLocalChecked();
    if (!vs->IsNull()) {
      auto parsed = kv::ParseVersionstamp(ToStdString(isolate, vs));
      if (!parsed.ok()) return ThrowType(isolate, "atomic().check: " + parsed.status().message());
      check.versionstamp = *parsed;
    }
    req.checks.push_back(std::move(check));
  }
  auto mutations = info[2].As<v8::Array>();
  for (uint32_t i = 0; i < mutations->Length(); ++i) {
    auto m = mutations->Get(ctx, i).ToLocalChecked().As<v8::Array>();
    kv::Mutation mutation;
    const std::string kind = ToStdString(isolate, m->Get(ctx, 0).ToLocalChecked());
    mutation.kind = kind == "delete" ? kv::Mutation::Kind::kDelete : kv::Mutation::Kind::kSet;
    if (!ToKey(isolate, ctx, m->Get(ctx, 1).ToLocalChecked(), kind.c_str(), &mutation.key)) return;
    auto value = m->Get(ctx, 2).ToLocalChecked();
    if (!value->IsNull()) mutation.value = ToStdString(isolate, value);
    auto expire = m->Get(ctx, 3).ToLocalChecked();
    if (!expire->IsNull()) {
      const double ms = expire->NumberValue(ctx).FromMaybe(-1);
      if (!(ms >= 0)) return ThrowType(isolate, "set: expireIn must be a number of milliseconds >= 0");
      mutation.expire_in_ms = static_cast<int64_t>(ms);
    }
    req.mutations.push_back(std::move(mutation));
  }
  auto [id, promise] = self->NewPending(ctx);
  self->host->StartKv(id, std::move(req));
  info.GetReturnValue().Set(promise);
}

// cexCall(exchange, method, argsJson, optionsJson) -> Promise<{ok, json, errorClass, message}>
void NativeCexCall(const v8::FunctionCallbackInfo<v8::Value>& info) {
  Impl* self = Self(info);
  v8::Isolate* isolate = info.GetIsolate();
  auto ctx = isolate->GetCurrentContext();
  ExchangeCall call{ToStdString(isolate, info[0]), ToStdString(isolate, info[1]),
                    ToStdString(isolate, info[2]), ToStdString(isolate, info[3])};
  auto [id, promise] = self->NewPending(ctx);
  self->host->StartExchangeCall(id, std::move(call));
  info.GetReturnValue().Set(promise);
}

void NativeHybridTimestamp(const v8::FunctionCallbackInfo<v8::Value>& info) {
  info.GetReturnValue().Set(Self(info)->host->HybridTimestamp());
}

void NativeMemoryUsage(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  auto ctx = isolate->GetCurrentContext();
  v8::HeapStatistics hs;
  isolate->GetHeapStatistics(&hs);
  auto obj = v8::Object::New(isolate);
  auto set = [&](const char* k, double v) { obj->Set(ctx, Str(isolate, k), v8::Number::New(isolate, v)).Check(); };
  set("rss", static_cast<double>(ProcessRssBytes()));
  set("heapTotal", static_cast<double>(hs.total_heap_size()));
  set("heapUsed", static_cast<double>(hs.used_heap_size()));
  set("external", static_cast<double>(hs.external_memory()));
  info.GetReturnValue().Set(obj);
}

void NativeLoadavg(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  double loads[3] = {0, 0, 0};
  if (getloadavg(loads, 3) != 3) loads[0] = loads[1] = loads[2] = 0;
  auto array = v8::Array::New(isolate, 3);
  for (uint32_t i = 0; i < 3; ++i)
    array->Set(isolate->GetCurrentContext(), i, v8::Number::New(isolate, loads[i])).Check();
  info.GetReturnValue().Set(array);
}

void NativeHostname(const v8::FunctionCallbackInfo<v8::Value>& info) {
  char name[256] = {0};
  gethostname(name, sizeof name - 1);
  info.GetReturnValue().Set(Str(info.GetIsolate(), name));
}

v8::Local<v8::Object> MakeHostObject(Impl* self, v8::Local<v8::Context> ctx) {
  v8::Isolate* isolate = self->isolate;
  auto data = v8::External::New(isolate, self);
  auto obj = v8::Object::New(isolate);
  const std::pair<const char*, v8::FunctionCallback> natives[] = {
      {"log", NativeLog},
      {"timer", NativeTimer},
      {"kvGet", NativeKvGet},
      {"kvList", NativeKvList},
      {"kvCommit", NativeKvCommit},
      {"cexCall", NativeCexCall},
      {"hybridTimestamp", NativeHybridTimestamp},
      {"memoryUsage", NativeMemoryUsage},
      {"loadavg", NativeLoadavg},
      {"hostname", NativeHostname},
  };
  for (const auto& [name, fn] : natives) {
    auto f = v8::Function::New(ctx, fn, data).ToLocalChecked();
    obj->Set(ctx, Str(isolate, name), f).Check();
  }
  return obj;
}

v8::Local<v8::Object> MakeFacts(Impl* self, v8::Local<v8::Context> ctx) {
  v8::Isolate* isolate = self->isolate;
  auto obj = v8::Object::New(isolate);
  obj->Set(ctx, Str(isolate, "config"), Str(isolate, self->options.config_json)).Check();
  obj->Set(ctx, Str(isolate, "leader"), Str(isolate, self->options.leader_json)).Check();
  obj->Set(ctx, Str(isolate, "sid"), Str(isolate, self->options.sid)).Check();
  obj->Set(ctx, Str(isolate, "nid"), Str(isolate, self->options.node_id)).Check();
  obj->Set(ctx, Str(isolate, "startTime"), v8::Number::New(isolate, self->options.start_time_ms)).Check();
  obj->Set(ctx, Str(isolate, "exchanges"), Str(isolate, self->options.exchanges_json)).Check();
  obj->Set(ctx, Str(isolate, "errorClasses"), Str(isolate, self->options.error_classes_json)).Check();
  return obj;
}

// Compiles the wrapped user script in `ctx`. On a syntax error fills *error.
v8::MaybeLocal<v8::Script> CompileWorker(v8::Isolate* isolate, v8::Local<v8::Context> ctx,
                                         std::string_view script, ScriptError* error) {
  std::string source;
  source.reserve(script.size() + 32);
  source.append(kWrapHead).append(script).append(kWrapTail);
  v8::ScriptOrigin origin(isolate, Str(isolate, kScriptName), /*line offset*/ -1, 0);
  v8::TryCatch try_catch(isolate);
  v8::Local<v8::Script> compiled;
  if (v8::Script::Compile(ctx, Str(isolate, source), &origin).ToLocal(&compiled)) return compiled;
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

v8::Isolate* NewIsolate(uint64_t heap_limit, v8::ArrayBuffer::Allocator* allocator) {
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = allocator;
  params.constraints.ConfigureDefaultsFromHeapSize(0, heap_limit);
  return v8::Isolate::New(params);
}

}  // namespace

// ---- Engine ------------------------------------------------------------------------
Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options, Host* host) {
  InitializeV8();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->host = host;
  impl->allocator.reset(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
  impl->isolate = NewIsolate(options.heap_limit_bytes, impl->allocator.get());
  if (!impl->isolate) return Status::Internal("could not create a V8 isolate");
  v8::Isolate* isolate = impl->isolate;
  isolate->SetData(0, impl.get());

  v8::Locker locker(isolate);
  v8::Isolate::Scope isolate_scope(isolate);
  v8::HandleScope handle_scope(isolate);
  isolate->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
  isolate->AddNearHeapLimitCallback(&Impl::OnNearHeapLimit, impl.get());
  isolate->SetPromiseRejectCallback(&Impl::OnPromiseReject);

  v8::Local<v8::Context> ctx = v8::Context::New(isolate);
  impl->context.Reset(isolate, ctx);
  v8::Context::Scope context_scope(ctx);
  v8::TryCatch try_catch(isolate);
  v8::ScriptOrigin origin(isolate, Str(isolate, kPreludeName));
  v8::Local<v8::Script> prelude;
  v8::Local<v8::Value> factory, control;
  v8::Local<v8::Value> args[] = {MakeHostObject(impl.get(), ctx), MakeFacts(impl.get(), ctx)};
  if (!v8::Script::Compile(ctx, Str(isolate, ami_prelude_js), &origin).ToLocal(&prelude) ||
      !prelude->Run(ctx).ToLocal(&factory) || !factory->IsFunction() ||
      !factory.As<v8::Function>()->Call(ctx, v8::Undefined(isolate), 2, args).ToLocal(&control) ||
      !control->IsObject()) {
    // Only a bad config_json/leader_json can get here.
    return Status::Internal("script API setup failed: " + ToStdString(isolate, try_catch.Exception()));
  }
  impl->control.Reset(isolate, control.As<v8::Object>());
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

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
    v8::Local<v8::Value> fn;
    if (!compiled->Run(ctx).ToLocal(&fn) || !fn->IsFunction() ||
        d.CallControl(ctx, "checkBody", Str(d.isolate, script)).IsEmpty()) {
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
  impl_->Settle(request_id, Status::OK(), [&](v8::Local<v8::Context>) -> v8::Local<v8::Value> {
    return v8::Undefined(impl_->isolate);
  });
}

void Engine::CompleteKv(uint64_t request_id, KvReply reply) {
  v8::Isolate* isolate = impl_->isolate;
  impl_->Settle(request_id, reply.status, [&](v8::Local<v8::Context> ctx) -> v8::Local<v8::Value> {
    switch (reply.op) {
      case KvRequest::Op::kGet:
        return reply.entry ? FromEntry(isolate, *reply.entry) : v8::Null(isolate).As<v8::Value>();
      case KvRequest::Op::kList: {
        auto array = v8::Array::New(isolate, static_cast<int>(reply.entries.size()));
        for (size_t i = 0; i < reply.entries.size(); ++i)
          array->Set(ctx, static_cast<uint32_t>(i), FromEntry(isolate, reply.entries[i])).Check();
        return array;
      }
      case KvRequest::Op::kCommit: {
        auto obj = v8::Object::New(isolate);
        obj->Set(ctx, Str(isolate, "ok"), v8::Boolean::New(isolate, reply.commit.ok)).Check();
        if (reply.commit.ok)
          obj->Set(ctx, Str(isolate, "versionstamp"),
                   Str(isolate, kv::FormatVersionstamp(reply.commit.versionstamp))).Check();
        return obj;
      }
    }
    return v8::Undefined(isolate);
  });
}

void Engine::CompleteExchangeCall(uint64_t request_id, ExchangeReply reply) {
  v8::Isolate* isolate = impl_->isolate;
  // Errors travel as values and become CCXT error instances in prelude.js, so the
  // promise itself always resolves.
  impl_->Settle(request_id, Status::OK(), [&](v8::Local<v8::Context> ctx) -> v8::Local<v8::Value> {
    auto obj = v8::Object::New(isolate);
    obj->Set(ctx, Str(isolate, "ok"), v8::Boolean::New(isolate, reply.ok)).Check();
    obj->Set(ctx, Str(isolate, "json"), Str(isolate, reply.json)).Check();
    obj->Set(ctx, Str(isolate, "errorClass"), Str(isolate, reply.error_class)).Check();
    obj->Set(ctx, Str(isolate, "message"), Str(isolate, reply.message)).Check();
    return obj;
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
  InitializeV8();
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
  v8::Isolate* isolate = NewIsolate(64ull << 20, allocator.get());
  Status status;
  {
    v8::Locker locker(isolate);
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    v8::Local<v8::Context> ctx = v8::Context::New(isolate);
    v8::Context::Scope context_scope(ctx);
    ScriptError local_error;
    ScriptError* err = error ? error : &local_error;
    if (CompileWorker(isolate, ctx, script, err).IsEmpty()) status = Status::ScriptError(err->Describe());
  }
  isolate->Dispose();
  return status;
}

}  // namespace ami::js
