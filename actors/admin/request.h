// What every admin operation shares (docs/admin-api.md, "Request / reply"): how its
// arguments are read and checked, and how its answer becomes a reply.
//
// Each request carries a `Done` callback that answers it exactly once; a step that fails
// calls it with a Status whose code picks the error code of the reply (ErrorCode). The
// argument readers return InvalidArgument whose message starts with the field as the
// request names it ("sid: \"abc\" is not a worker id (a UUID)").
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/base/status.h"
#include "runtime/store/store.h"

namespace ami::admin {

using json = nlohmann::json;
using Done = std::function<void(Result<json>)>;

// ---- replies ----

// kAborted is what a request that got no answer in time becomes: "unavailable".
Status Unavailable(std::string message);

// The reply's error code for a failed step: invalid, not_found, conflict, unavailable,
// internal (docs/admin-api.md's table).
const char* ErrorCode(const Status& s);

// JSON text; bytes that are not UTF-8 (a log line, a stored value) become U+FFFD
// instead of throwing.
std::string Dump(const json& j);
std::string ErrorReply(const char* code, const std::string& message);
std::string ReplyText(const Result<json>& r);

// A Done that answers through `deliver` once; later calls (a bug) are ignored rather
// than answering twice.
Done AnswerOnce(std::function<void(std::string reply)> deliver);
// The same for an inner step whose result is consumed here, not sent to the client.
Done ResultOnce(std::function<void(Result<json>)> f);

// Runs `f`; an exception (a bug: nlohmann throws on misuse) answers `internal` instead of
// ending the actor.
void Guard(const Done& done, const std::function<void()>& f);

// ---- text ----

std::string Quoted(std::string_view s);  // as a JSON string: "abc"
std::string Join(const std::vector<std::string>& names);  // "a, b, c"

// ---- arguments ----

Status Invalid(const std::string& field, const std::string& what);  // "field: what"

// `obj` holds only keys from `known`; `prefix` names where it is ("changes."), `where`
// the operation ("workers.update").
Status OnlyKnown(const json& obj, const std::vector<std::string>& known, const std::string& prefix,
                 const std::string& where);

// The value of `name`, or nullptr when absent or null (optional arguments).
const json* Arg(const json& args, const char* name);

Result<std::string> RequiredString(const json& args, const char* name);
Result<std::string> RequiredSid(const json& args);  // a UUID
Result<std::optional<int64_t>> OptionalInt(const json& args, const char* name, int64_t min, int64_t max);
Result<bool> OptionalBool(const json& args, const char* name, bool fallback);
// `versionstamp`: 20 hex digits, or the number they stand for.
Result<std::optional<uint64_t>> OptionalVersionstamp(const json& args);
Result<kv::Space> RequiredSpace(const json& args);  // `space`: local | network
// A key argument (kv::KeyFromJson); its messages say `name`, not "key".
Result<kv::Key> KeyArg(const json& args, const char* name, bool allow_empty);

}  // namespace ami::admin
