#include "actors/admin/request.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

#include "runtime/model/worker_record.h"
#include "runtime/store/kv_key.h"

namespace ami::admin {

// ---- replies ----

Status Unavailable(std::string message) { return Status::Aborted(std::move(message)); }

const char* ErrorCode(const Status& s) {
  switch (s.code()) {
    case Status::Code::kInvalidArgument:
    case Status::Code::kScriptError:
    case Status::Code::kLimitExceeded: return "invalid";
    case Status::Code::kNotFound: return "not_found";
    case Status::Code::kConflict: return "conflict";
    case Status::Code::kAborted: return "unavailable";
    default: return "internal";
  }
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string ErrorReply(const char* code, const std::string& message) {
  return Dump(json{{"ok", false}, {"error", {{"code", code}, {"message", message}}}});
}

std::string ReplyText(const Result<json>& r) {
  if (r.ok()) return Dump(json{{"ok", true}, {"result", *r}});
  return ErrorReply(ErrorCode(r.status()), r.status().message());
}

Done ResultOnce(std::function<void(Result<json>)> f) {
  auto answered = std::make_shared<bool>(false);
  return [answered, f = std::move(f)](Result<json> r) {
    if (*answered) return;
    *answered = true;
    f(std::move(r));
  };
}

Done AnswerOnce(std::function<void(std::string)> deliver) {
  return ResultOnce([deliver = std::move(deliver)](Result<json> r) { deliver(ReplyText(r)); });
}

void Guard(const Done& done, const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    spdlog::error("admin: internal error: {}", e.what());
    done(Status::Internal(std::string("admin service: ") + e.what()));
  }
}

// ---- text ----

std::string Quoted(std::string_view s) { return Dump(json(std::string(s))); }

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// ---- arguments ----

Status Invalid(const std::string& field, const std::string& what) {
  return Status::InvalidArgument(field + ": " + what);
}

Status OnlyKnown(const json& obj, const std::vector<std::string>& known, const std::string& prefix,
                 const std::string& where) {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    if (known.empty()) return Invalid(prefix + key, "unknown field; " + where + " takes no arguments");
    return Invalid(prefix + key, "unknown field for " + where + "; known: " + Join(known));
  }
  return Status::OK();
}

const json* Arg(const json& args, const char* name) {
  auto it = args.find(name);
  if (it == args.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::string> RequiredString(const json& args, const char* name) {
  const json* v = Arg(args, name);
  if (!v) return Invalid(name, "required");
  if (!v->is_string()) return Invalid(name, std::string("expected a string, got ") + v->type_name());
  return v->get<std::string>();
}

Result<std::string> RequiredSid(const json& args) {
  auto sid = RequiredString(args, "sid");
  if (!sid.ok()) return sid;
  if (!IsUuid(*sid)) return Invalid("sid", Quoted(sid->substr(0, 64)) + " is not a worker id (a UUID)");
  return sid;
}

Result<std::optional<int64_t>> OptionalInt(const json& args, const char* name, int64_t min, int64_t max) {
  const json* v = Arg(args, name);
  if (!v) return std::optional<int64_t>();
  const std::string want = "expected an integer between " + std::to_string(min) + " and " + std::to_string(max);
  int64_t n = 0;
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) return Invalid(name, want);
    n = static_cast<int64_t>(u);
  } else if (v->is_number_integer()) {
    n = v->get<int64_t>();
  } else if (const double d = v->is_number_float() ? v->get<double>() : 0.5;
             d > -9e18 && d < 9e18 && d == static_cast<double>(static_cast<int64_t>(d))) {
    n = static_cast<int64_t>(d);  // 50.0 from a client that only has doubles
  } else {
    return Invalid(name, want);
  }
  if (n < min || n > max) return Invalid(name, want);
  return std::optional<int64_t>(n);
}

Result<bool> OptionalBool(const json& args, const char* name, bool fallback) {
  const json* v = Arg(args, name);
  if (!v) return fallback;
  if (!v->is_boolean()) return Invalid(name, "expected true or false");
  return v->get<bool>();
}

Result<std::optional<uint64_t>> OptionalVersionstamp(const json& args) {
  const json* v = Arg(args, "versionstamp");
  if (!v) return std::optional<uint64_t>();
  if (v->is_number_unsigned()) return std::optional<uint64_t>(v->get<uint64_t>());
  if (v->is_string()) {
    auto parsed = kv::ParseVersionstamp(v->get<std::string>());
    if (!parsed.ok()) return Invalid("versionstamp", parsed.status().message());
    return std::optional<uint64_t>(*parsed);
  }
  return Invalid("versionstamp", "expected 20 hex digits like \"00000000000000070000\" (or that number)");
}

Result<kv::Space> RequiredSpace(const json& args) {
  auto text = RequiredString(args, "space");
  if (!text.ok()) return text.status();
  if (*text == "local") return kv::Space::kLocal;
  if (*text == "network") return kv::Space::kNetwork;
  return Invalid("space", Quoted(text->substr(0, 64)) + " is not one of local|network");
}

Result<kv::Key> KeyArg(const json& args, const char* name, bool allow_empty) {
  const json* v = Arg(args, name);
  if (!v) return Invalid(name, "required (a key as a JSON array, e.g. [\"prices\",\"BTC\"])");
  auto key = kv::KeyFromJson(*v);
  if (!key.ok()) {
    std::string message = key.status().message();
    if (message.rfind("key", 0) == 0) message = name + message.substr(3);
    return Status::InvalidArgument(message);
  }
  if (Status s = kv::ValidateKey(*key); !s.ok()) return Invalid(name, s.message());
  if (!allow_empty && key->empty()) return Invalid(name, "must not be empty");
  return key;
}

}  // namespace ami::admin
