// The native functions of the `host` object prelude.js builds the script API on, and
// the facts it reads once (see prelude.js for what scripts see).
//
// Every function here runs inside a script's call and takes script-made values, so each
// V8 call may fail (a throwing getter, termination, a string too long): a failure
// returns with the exception pending — the script sees it as a throw or a rejected
// promise — and nothing crashes (runtime/js/convert.h). KV requests pass the keyspace
// guard (kv_guard.h) here, the one place script KV requests are built, and every
// request counts against the engine's caps (timers, calls in flight).
#include <unistd.h>
#include <v8.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>

#include "runtime/js/convert.h"
#include "runtime/js/engine_impl.h"
#include "runtime/js/kv_guard.h"

namespace ami::js {
namespace {

using Impl = Engine::Impl;

// The engine that owns the isolate (Engine::Create sets slot 0 before any script runs).
// Not the function's data: the natives may come from the startup snapshot, which cannot
// hold a pointer to an engine that does not exist yet.
Impl* Self(const v8::FunctionCallbackInfo<v8::Value>& info) {
  return static_cast<Impl*>(info.GetIsolate()->GetData(0));
}

uint64_t ProcessRssBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

bool ToSpace(v8::Isolate* isolate, v8::Local<v8::Value> v, kv::Space* out) {
  if (!v->IsInt32()) {
    ThrowTypeError(isolate, "internal: bad key space");
    return false;
  }
  *out = v.As<v8::Int32>()->Value() == 1 ? kv::Space::kNetwork : kv::Space::kLocal;
  return true;
}

// Checks `req` against the keyspace guard and the caps, and hands it to the host; the
// script gets a promise of the reply.
void SubmitKv(const v8::FunctionCallbackInfo<v8::Value>& info, kv::Request req) {
  Impl* self = Self(info);
  v8::Isolate* isolate = info.GetIsolate();
  GuardedKv guard = GuardScriptKv(&req, static_cast<size_t>(std::max(0, self->options.max_list_results)));
  if (!guard.status.ok()) return ThrowTypeError(isolate, guard.status.message());
  if (!self->UnderCap(Impl::Kind::kCall)) return;
  uint64_t id = 0;
  v8::Local<v8::Promise> promise;
  if (!self->NewPending(isolate->GetCurrentContext(), Impl::Kind::kCall, &id, guard.filter_reply).ToLocal(&promise))
    return;
  self->host->StartKv(id, std::move(req));
  info.GetReturnValue().Set(promise);
}

// ---- natives of the `host` object --------------------------------------------------
void NativeLog(const v8::FunctionCallbackInfo<v8::Value>& info) {
  Impl* self = Self(info);
  v8::Isolate* isolate = info.GetIsolate();
  auto ctx = isolate->GetCurrentContext();
  const int level = info[0]->Int32Value(ctx).FromMaybe(1);
  const LogLevel l = level <= 0 ? LogLevel::kDebug : level == 1 ? LogLevel::kInfo
                   : level == 2 ? LogLevel::kWarn : LogLevel::kError;
  // Only the first max_log_line bytes are copied out of the isolate, so a 64 MB message
  // costs no 64 MB copy.
  const uint64_t cap = self->options.max_log_line ? std::min<uint64_t>(self->options.max_log_line, 1u << 30) : (1u << 30);
  std::string message;
  const int64_t total = ReadBoundedUtf8(ctx, info[1], static_cast<size_t>(cap), &message);
  if (total < 0) return;  // its toString threw
  if (total > static_cast<int64_t>(message.size()))
    message += "… [" + std::to_string(total - static_cast<int64_t>(message.size())) +
               " bytes dropped: limits.max_log_line is " + std::to_string(cap) + "]";
  self->ScriptLog(l, std::move(message));
}

void NativeTimer(const v8::FunctionCallbackInfo<v8::Value>& info) {
  Impl* self = Self(info);
  v8::Isolate* isolate = info.GetIsolate();
  auto ctx = isolate->GetCurrentContext();
  double ms = 0;
  if (!info[0]->NumberValue(ctx).To(&ms)) return;
  if (!(ms >= 0)) ms = 0;  // NaN and negatives: at once, as in browsers
  if (ms > static_cast<double>(kMaxTimerDelayMs))
    return ThrowRangeError(isolate, "timer delay of " + std::to_string(static_cast<long long>(std::min(ms, 9e18))) +
                                        " ms is longer than the maximum of " + std::to_string(kMaxTimerDelayMs) +
                                        " ms (about 24.8 days)");
  if (!self->UnderCap(Impl::Kind::kTimer)) return;
  uint64_t id = 0;
  v8::Local<v8::Promise> promise;
  if (!self->NewPending(ctx, Impl::Kind::kTimer, &id).ToLocal(&promise)) return;
  self->host->StartTimer(id, std::chrono::milliseconds(static_cast<int64_t>(ms)));
  info.GetReturnValue().Set(promise);
}

void NativeKvGet(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  auto ctx = isolate->GetCurrentContext();
  kv::Request req;
  req.op = kv::Request::Op::kGet;
  if (!ToSpace(isolate, info[0], &req.space) || !ToKey(ctx, info[1], "get", &req.key)) return;
  SubmitKv(info, std::move(req));
}

void NativeKvList(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  auto ctx = isolate->GetCurrentContext();
  kv::Request req;
  req.op = kv::Request::Op::kList;
  if (!ToSpace(isolate, info[0], &req.space)) return;
  if (!info[1]->IsNull() && !ToKey(ctx, info[1], "list prefix", &req.list.prefix)) return;
  if (!info[2]->IsNull()) {
    kv::Key start;
    if (!ToKey(ctx, info[2], "list start", &start)) return;
    req.list.start = std::move(start);
  }
  if (!info[3]->IsNull()) {
    kv::Key end;
    if (!ToKey(ctx, info[3], "list end", &end)) return;
    req.list.end = std::move(end);
  }
  double limit = 0;
  if (!info[4]->NumberValue(ctx).To(&limit)) return;
  // 0, missing or nonsense: the cap (GuardScriptKv clamps to max_list_results).
  req.list.limit = limit >= 1 && limit < 1e15 ? static_cast<size_t>(limit) : 0;
  req.list.reverse = info[5]->IsTrue();
  SubmitKv(info, std::move(req));
}

// An element of an array the prelude built from script values; false (with an exception
// pending) when a getter threw or it is not an array.
bool GetArray(v8::Local<v8::Context> ctx, v8::Local<v8::Array> array, uint32_t i, v8::Local<v8::Array>* out) {
  v8::Local<v8::Value> v;
  if (!array->Get(ctx, i).ToLocal(&v)) return false;
  if (!v->IsArray()) {
    ThrowTypeError(ctx->GetIsolate(), "internal: bad commit");
    return false;
  }
  *out = v.As<v8::Array>();
  return true;
}

// kvCommit(space, [[key, versionstamp|null]…], [[kind, key, json|null, expireIn|null]…])
void NativeKvCommit(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  auto ctx = isolate->GetCurrentContext();
  kv::Request req;
  req.op = kv::Request::Op::kCommit;
  if (!ToSpace(isolate, info[0], &req.space)) return;
  if (!info[1]->IsArray() || !info[2]->IsArray()) return ThrowTypeError(isolate, "internal: bad commit");
  auto checks = info[1].As<v8::Array>();
  for (uint32_t i = 0; i < checks->Length(); ++i) {
    v8::Local<v8::Array> pair;
    v8::Local<v8::Value> key, vs;
    if (!GetArray(ctx, checks, i, &pair) || !pair->Get(ctx, 0).ToLocal(&key) || !pair->Get(ctx, 1).ToLocal(&vs)) return;
    kv::Check check;
    if (!ToKey(ctx, key, "atomic().check", &check.key)) return;
    if (!vs->IsNull()) {
      auto parsed = kv::ParseVersionstamp(ToStdString(isolate, vs));
      if (!parsed.ok()) return ThrowTypeError(isolate, "atomic().check: " + parsed.status().message());
      check.versionstamp = *parsed;
    }
    req.checks.push_back(std::move(check));
  }
  auto mutations = info[2].As<v8::Array>();
  for (uint32_t i = 0; i < mutations->Length(); ++i) {
    v8::Local<v8::Array> m;
    v8::Local<v8::Value> kind_value, key, value, expire;
    if (!GetArray(ctx, mutations, i, &m) || !m->Get(ctx, 0).ToLocal(&kind_value) || !m->Get(ctx, 1).ToLocal(&key) ||
        !m->Get(ctx, 2).ToLocal(&value) || !m->Get(ctx, 3).ToLocal(&expire))
      return;
    kv::Mutation mutation;
    const std::string kind = ToStdString(isolate, kind_value);
    mutation.kind = kind == "delete" ? kv::Mutation::Kind::kDelete : kv::Mutation::Kind::kSet;
    if (!ToKey(ctx, key, kind, &mutation.key)) return;
    if (!value->IsNull()) {
      // Refused before it is copied: the store's limit is kMaxValueBytes of JSON.
      std::string text;
      const int64_t total = ReadBoundedUtf8(ctx, value, kv::kMaxValueBytes, &text);
      if (total < 0) return;
      if (total > static_cast<int64_t>(kv::kMaxValueBytes))
        return ThrowTypeError(isolate, kind + ": the value is " + std::to_string(total) +
                                           " bytes of JSON; the limit is " + std::to_string(kv::kMaxValueBytes));
      mutation.value = std::move(text);
    }
    if (!expire->IsNull()) {
      const double ms = expire->NumberValue(ctx).FromMaybe(-1);
      if (!(ms >= 0) || ms > 9e15) return ThrowTypeError(isolate, "set: expireIn must be a number of milliseconds >= 0");
      mutation.expire_in_ms = static_cast<int64_t>(ms);
    }
    req.mutations.push_back(std::move(mutation));
  }
  SubmitKv(info, std::move(req));
}

// cexCall(exchange, method, argsJson, optionsJson) -> Promise<{ok, json, errorClass, message}>
void NativeCexCall(const v8::FunctionCallbackInfo<v8::Value>& info) {
  Impl* self = Self(info);
  v8::Isolate* isolate = info.GetIsolate();
  auto ctx = isolate->GetCurrentContext();
  ExchangeCall call;
  std::string* fields[] = {&call.exchange, &call.method, &call.args_json, &call.options_json};
  const char* names[] = {"exchange id", "method", "arguments", "options"};
  for (int i = 0; i < 4; ++i) {
    const int64_t total = ReadBoundedUtf8(ctx, info[i], kMaxExchangeArgsBytes, fields[i]);
    if (total < 0) return;
    if (total > static_cast<int64_t>(kMaxExchangeArgsBytes))
      return ThrowTypeError(isolate, std::string("exchange call: the ") + names[i] + " are " + std::to_string(total) +
                                         " bytes of JSON; the limit is " + std::to_string(kMaxExchangeArgsBytes));
  }
  if (!self->UnderCap(Impl::Kind::kCall)) return;
  uint64_t id = 0;
  v8::Local<v8::Promise> promise;
  if (!self->NewPending(ctx, Impl::Kind::kCall, &id).ToLocal(&promise)) return;
  self->host->StartExchangeCall(id, std::move(call));
  info.GetReturnValue().Set(promise);
}

void NativeHybridTimestamp(const v8::FunctionCallbackInfo<v8::Value>& info) {
  info.GetReturnValue().Set(Self(info)->host->HybridTimestamp());
}

void NativeMemoryUsage(const v8::FunctionCallbackInfo<v8::Value>& info) {
  Impl* self = Self(info);
  Converter conv(info.GetIsolate()->GetCurrentContext());
  v8::HeapStatistics hs;
  info.GetIsolate()->GetHeapStatistics(&hs);
  v8::Local<v8::Value> obj;
  if (!conv.Object({{"rss", conv.Number(static_cast<double>(ProcessRssBytes()))},
                    {"heapTotal", conv.Number(static_cast<double>(hs.total_heap_size()))},
                    {"heapUsed", conv.Number(static_cast<double>(hs.used_heap_size()))},
                    {"external", conv.Number(static_cast<double>(hs.external_memory()))},
                    {"arrayBuffers", conv.Number(static_cast<double>(self->allocator->used()))}})
           .ToLocal(&obj))
    return;
  info.GetReturnValue().Set(obj);
}

void NativeLoadavg(const v8::FunctionCallbackInfo<v8::Value>& info) {
  Converter conv(info.GetIsolate()->GetCurrentContext());
  double loads[3] = {0, 0, 0};
  if (getloadavg(loads, 3) != 3) loads[0] = loads[1] = loads[2] = 0;
  v8::Local<v8::Value> array;
  if (!conv.Array({conv.Number(loads[0]), conv.Number(loads[1]), conv.Number(loads[2])}).ToLocal(&array)) return;
  info.GetReturnValue().Set(array);
}

void NativeHostname(const v8::FunctionCallbackInfo<v8::Value>& info) {
  char name[256] = {0};
  gethostname(name, sizeof name - 1);
  info.GetReturnValue().Set(Name(info.GetIsolate(), name));
}

// The natives, in one list for the host object and the snapshot's external references.
constexpr std::pair<const char*, v8::FunctionCallback> kNatives[] = {
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

}  // namespace

v8::MaybeLocal<v8::Object> MakeHostObject(v8::Local<v8::Context> ctx) {
  std::vector<std::pair<std::string_view, v8::Local<v8::Value>>> fields;
  for (const auto& [name, fn] : kNatives) {
    v8::Local<v8::Function> f;
    if (!v8::Function::New(ctx, fn).ToLocal(&f)) return {};
    fields.emplace_back(name, f);
  }
  v8::Local<v8::Value> obj;
  if (!Converter(ctx).Object(fields).ToLocal(&obj)) return {};
  return obj.As<v8::Object>();
}

const intptr_t* HostExternalReferences() {
  static const auto refs = [] {
    std::array<intptr_t, std::size(kNatives) + 1> r{};
    for (size_t i = 0; i < std::size(kNatives); ++i) r[i] = reinterpret_cast<intptr_t>(kNatives[i].second);
    return r;  // null-terminated
  }();
  return refs.data();
}

v8::MaybeLocal<v8::Object> MakeFacts(Impl* self, v8::Local<v8::Context> ctx) {
  Converter conv(ctx);
  const EngineOptions& o = self->options;
  v8::Local<v8::Value> config, leader, sid, nid, exchanges, error_classes, obj;
  if (!conv.String(o.config_json).ToLocal(&config) || !conv.String(o.leader_json).ToLocal(&leader) ||
      !conv.String(o.sid).ToLocal(&sid) || !conv.String(o.node_id).ToLocal(&nid) ||
      !conv.String(o.exchanges_json).ToLocal(&exchanges) ||
      !conv.String(o.error_classes_json).ToLocal(&error_classes))
    return {};
  if (!conv.Object({{"config", config},
                    {"leader", leader},
                    {"sid", sid},
                    {"nid", nid},
                    {"startTime", conv.Number(o.start_time_ms)},
                    {"exchanges", exchanges},
                    {"errorClasses", error_classes}})
           .ToLocal(&obj))
    return {};
  return obj.As<v8::Object>();
}

}  // namespace ami::js
