// The conversion layer between C++ values and the V8 values the engine hands to or takes
// from scripts — in the spirit of workerd's jsg: one place knows how V8 can refuse, and
// every refusal becomes a failure of the one call that needed it, never a crash.
//
// Any V8 call that makes or reads a JS value can fail while a script is around: an
// exception is pending (a script's setter or getter threw), execution is terminating (CPU
// limit, stop), a string is longer than V8 allows, the heap is exhausted. So nothing here
// uses Check()/ToLocalChecked()/FromJust(): functions return an empty MaybeLocal (or
// false) and the Converter remembers why, for the error the caller turns it into.
//
// Objects handed to scripts are made with a null prototype and their properties given at
// creation (v8::Object::New with names and values); arrays get their elements at
// creation. Nothing a script put on Object.prototype or Array.prototype — setters,
// getters, a `then` that would make a result thenable — runs or applies while the engine
// builds them, and no property lookup on them reaches a prototype.
//
// JS → C++ readers (ToKey, ReadString) throw a TypeError into the isolate on bad input
// and return false; the native function then returns and the script sees the throw.
#pragma once

#include <v8.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/store/store.h"

namespace ami::js {

// A name for a property or a message: short, known text. Never fails in practice (only
// above v8::String::kMaxLength); falls back to the empty string rather than crashing.
v8::Local<v8::String> Name(v8::Isolate* isolate, std::string_view text);

// The UTF-8 text of `value` (converted with ToString; empty when that throws).
std::string ToStdString(v8::Isolate* isolate, v8::Local<v8::Value> value);

// Throws a TypeError/RangeError with `message` into the isolate.
void ThrowTypeError(v8::Isolate* isolate, std::string_view message);
void ThrowRangeError(v8::Isolate* isolate, std::string_view message);

class Converter {
 public:
  explicit Converter(v8::Local<v8::Context> ctx) : ctx_(ctx), isolate_(ctx->GetIsolate()) {}

  v8::Isolate* isolate() const { return isolate_; }
  v8::Local<v8::Context> context() const { return ctx_; }
  // Why the last conversion failed, e.g. "a string of 600000000 bytes is longer than V8
  // allows"; empty while nothing failed.
  const std::string& failure() const { return failure_; }

  v8::MaybeLocal<v8::Value> String(std::string_view text);
  v8::Local<v8::Value> Number(double value);
  v8::Local<v8::Value> Boolean(bool value);
  // A kv::Key as a JS array (bytes parts become Uint8Arrays).
  v8::MaybeLocal<v8::Value> Key(const kv::Key& key);
  // {key, value: <JSON text>, versionstamp: "0000…"} — prelude.js parses the value.
  v8::MaybeLocal<v8::Value> Entry(const kv::Entry& entry);
  // A null-prototype object with these own data properties, in this order.
  v8::MaybeLocal<v8::Value> Object(const std::vector<std::pair<std::string_view, v8::Local<v8::Value>>>& fields);
  v8::MaybeLocal<v8::Value> Array(std::vector<v8::Local<v8::Value>> elements);

 private:
  v8::MaybeLocal<v8::Value> Fail(std::string why);

  v8::Local<v8::Context> ctx_;
  v8::Isolate* isolate_;
  std::string failure_;
};

// Reads a script's key (a JS array of parts) into *out. On bad input throws a TypeError
// naming `what` and the part, and returns false. A string or bytes part longer than the
// store's key limit is refused before it is copied.
bool ToKey(v8::Local<v8::Context> ctx, v8::Local<v8::Value> value, std::string_view what, kv::Key* out);

// Reads `value` (converted with ToString) as UTF-8 into *out, at most `max_bytes` of it;
// never splits a character. Returns the string's whole UTF-8 length (so the caller knows
// how much was cut), or -1 when the conversion threw (the exception is left pending).
int64_t ReadBoundedUtf8(v8::Local<v8::Context> ctx, v8::Local<v8::Value> value, size_t max_bytes,
                        std::string* out);

}  // namespace ami::js
