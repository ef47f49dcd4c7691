#include "gateway/rest_api.h"

#include "runtime/base/json_depth.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

#include "gateway/access.h"
#include "gateway/admin_bridge.h"

namespace ami::gateway {

namespace {

using json = nlohmann::json;

// The admin API refuses deeper requests; checking before parsing keeps a 1 MiB body of
// "[[[[…" from costing a deep parse first.
constexpr int kMaxJsonDepth = 64;

enum class BodyUse { kNone, kObject };
enum class IfMatchUse { kRefused, kVersionstamp };

struct Input {
  const HttpRequest& request;
  const PathParams& params;
  std::map<std::string, std::string> query;
  json body = json::object();
};

// Fills the admin `args` of a route from its input; a message is a 400 ("field: why").
using Build = std::string (*)(const Input&, json* args);

struct Spec {
  const char* method;
  const char* pattern;
  const char* op;
  std::vector<std::string> query;   // the query parameters this route knows
  BodyUse body = BodyUse::kNone;
  IfMatchUse if_match = IfMatchUse::kRefused;
  int success = 200;
  bool worker_reply = false;        // the result is a Worker: send its ETag
  bool created = false;             // 201 with Location: /api/v1/workers/<sid>
  Build build = nullptr;
};

// ---- query and body readers (they return a message on failure, "" on success)

std::string QueryInt(const Input& in, const std::string& name, json* args) {
  auto it = in.query.find(name);
  if (it == in.query.end()) return "";
  int64_t value = 0;
  const std::string& text = it->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    return name + ": expected an integer, got \"" + text + "\"";
  (*args)[name] = value;
  return "";
}

std::string QueryBool(const Input& in, const std::string& name, json* args) {
  auto it = in.query.find(name);
  if (it == in.query.end()) return "";
  if (it->second == "true" || it->second == "1") (*args)[name] = true;
  else if (it->second == "false" || it->second == "0") (*args)[name] = false;
  else return name + ": expected true or false, got \"" + it->second + "\"";
  return "";
}

// A KV key in the query: the admin's JSON array form, e.g. key=["app","config"].
std::string QueryKey(const Input& in, const std::string& name, json* args, bool required) {
  auto it = in.query.find(name);
  if (it == in.query.end()) return required ? name + ": required query parameter (a JSON array like [\"app\",1])" : "";
  json key = json::parse(it->second, nullptr, false);
  if (!key.is_array()) return name + ": expected a JSON array like [\"app\",1], got \"" + it->second + "\"";
  (*args)[name] = std::move(key);
  return "";
}

std::string Sid(const Input& in, json* args) {
  (*args)["sid"] = in.params.at("sid");
  return "";
}

bool IsBlank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

// ---- the routes: one per admin operation (docs/admin-api.md "Operations")

const std::vector<Spec>& Specs() {
  static const std::vector<Spec> specs = {
      {"GET", "/api/v1/workers", "workers.list", {}, BodyUse::kNone, IfMatchUse::kRefused, 200, false, false,
       [](const Input&, json*) { return std::string(); }},
      {"POST", "/api/v1/workers", "workers.create", {}, BodyUse::kObject, IfMatchUse::kRefused, 201, true, true,
       [](const Input& in, json* args) {
         *args = in.body;
         return std::string();
       }},
      {"POST", "/api/v1/workers/stop-all", "workers.stopAll", {}, BodyUse::kNone, IfMatchUse::kRefused, 200, false,
       false, [](const Input&, json*) { return std::string(); }},
      {"POST", "/api/v1/workers/batch", "workers.createBatch", {}, BodyUse::kObject, IfMatchUse::kRefused, 200, false,
       false,
       [](const Input& in, json* args) {
         *args = in.body;
         return std::string();
       }},
      {"GET", "/api/v1/workers/{sid}", "workers.get", {}, BodyUse::kNone, IfMatchUse::kRefused, 200, true, false, Sid},
      {"PATCH", "/api/v1/workers/{sid}", "workers.update", {}, BodyUse::kObject, IfMatchUse::kVersionstamp, 200, true,
       false,
       [](const Input& in, json* args) {
         Sid(in, args);
         (*args)["changes"] = in.body;
         return std::string();
       }},
      {"DELETE", "/api/v1/workers/{sid}", "workers.delete", {}, BodyUse::kNone, IfMatchUse::kVersionstamp, 200, false,
       false, Sid},
      {"POST", "/api/v1/workers/{sid}/start", "workers.start", {}, BodyUse::kNone, IfMatchUse::kRefused, 200, true,
       false, Sid},
      {"POST", "/api/v1/workers/{sid}/stop", "workers.stop", {}, BodyUse::kNone, IfMatchUse::kRefused, 200, true,
       false, Sid},
      {"GET", "/api/v1/workers/{sid}/leader", "leader.info", {}, BodyUse::kNone, IfMatchUse::kRefused, 200, false,
       false, Sid},
      {"GET", "/api/v1/workers/{sid}/stats", "stats", {"cluster"}, BodyUse::kNone, IfMatchUse::kRefused, 200, false,
       false,
       [](const Input& in, json* args) {
         Sid(in, args);
         return QueryBool(in, "cluster", args);
       }},
      // With ?follow=… AddRestRoutes hands the request to the log streams instead.
      {"GET", "/api/v1/workers/{sid}/logs", "logs.tail", {"lines", "cursor"}, BodyUse::kNone, IfMatchUse::kRefused,
       200, false, false,
       [](const Input& in, json* args) {
         Sid(in, args);
         if (auto it = in.query.find("cursor"); it != in.query.end()) (*args)["cursor"] = it->second;
         return QueryInt(in, "lines", args);
       }},
      {"GET", "/api/v1/templates", "templates.list", {}, BodyUse::kNone, IfMatchUse::kRefused, 200, false, false,
       [](const Input&, json*) { return std::string(); }},
      {"GET", "/api/v1/templates/{id}", "templates.get", {}, BodyUse::kNone, IfMatchUse::kRefused, 200, false, false,
       [](const Input& in, json* args) {
         (*args)["id"] = in.params.at("id");
         return std::string();
       }},
      {"POST", "/api/v1/templates/{id}/workers", "templates.create", {}, BodyUse::kObject, IfMatchUse::kRefused, 201,
       true, true,
       [](const Input& in, json* args) {
         (*args)["template"] = in.params.at("id");
         if (!in.body.empty()) (*args)["overrides"] = in.body;
         return std::string();
       }},
      {"GET", "/api/v1/stats", "stats", {"cluster"}, BodyUse::kNone, IfMatchUse::kRefused, 200, false, false,
       [](const Input& in, json* args) { return QueryBool(in, "cluster", args); }},
      {"GET", "/api/v1/nodes", "nodes.list", {}, BodyUse::kNone, IfMatchUse::kRefused, 200, false, false,
       [](const Input&, json*) { return std::string(); }},
      {"GET", "/api/v1/node", "node.info", {}, BodyUse::kNone, IfMatchUse::kRefused, 200, false, false,
       [](const Input&, json*) { return std::string(); }},
      {"GET", "/api/v1/plugins", "plugins.list", {}, BodyUse::kNone, IfMatchUse::kRefused, 200, false, false,
       [](const Input&, json*) { return std::string(); }},
      {"GET", "/api/v1/kv/{space}/entries", "kv.list", {"prefix", "limit"}, BodyUse::kNone, IfMatchUse::kRefused, 200,
       false, false,
       [](const Input& in, json* args) {
         (*args)["space"] = in.params.at("space");
         (*args)["prefix"] = json::array();  // default: the whole space
         if (std::string bad = QueryKey(in, "prefix", args, false); !bad.empty()) return bad;
         return QueryInt(in, "limit", args);
       }},
      {"GET", "/api/v1/kv/{space}/entry", "kv.get", {"key"}, BodyUse::kNone, IfMatchUse::kRefused, 200, false, false,
       [](const Input& in, json* args) {
         (*args)["space"] = in.params.at("space");
         return QueryKey(in, "key", args, true);
       }},
      {"PUT", "/api/v1/kv/{space}/entry", "kv.set", {"key"}, BodyUse::kObject, IfMatchUse::kRefused, 200, false,
       false,
       [](const Input& in, json* args) {
         (*args)["space"] = in.params.at("space");
         for (const auto& [name, value] : in.body.items()) {
           if (name != "value" && name != "expireIn")
             return "request body: unknown field \"" + name + "\"; known: value, expireIn";
           (*args)[name] = value;
         }
         return QueryKey(in, "key", args, true);
       }},
      {"DELETE", "/api/v1/kv/{space}/entry", "kv.delete", {"key"}, BodyUse::kNone, IfMatchUse::kRefused, 200, false,
       false,
       [](const Input& in, json* args) {
         (*args)["space"] = in.params.at("space");
         return QueryKey(in, "key", args, true);
       }},
  };
  return specs;
}

// ---- translation

HttpResponse Unauthorized(std::string_view message) {
  HttpResponse r = ErrorResponse(401, "unauthorized", message);
  r.SetHeader("WWW-Authenticate", "Bearer realm=\"ami\"");
  return r;
}

struct IfMatch {
  bool given = false;
  std::optional<std::string> versionstamp;   // nullopt for "*" (any current record)
  int error_status = 0;                      // non-zero: answer this at once
  std::string error;
};

// One strong ETag ("…") or "*". A weak one never matches for If-Match (RFC 9110 13.1.1),
// so it is 412 without asking; a list is not supported (one record, one version).
IfMatch ParseIfMatch(const HttpRequest& request) {
  IfMatch out;
  if (!request.HasHeader("if-match")) return out;
  out.given = true;
  std::string_view value = request.Header("if-match");
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value == "*") return out;
  if (value.substr(0, 2) == "W/") {
    out.error_status = 412;
    out.error = "If-Match: a weak ETag never matches";
  } else if (value.size() < 2 || value.front() != '"' || value.back() != '"' ||
             value.substr(1, value.size() - 2).find('"') != std::string_view::npos) {
    out.error_status = 400;
    out.error = "If-Match: expected one ETag like \"00000000000000070000\" (from a worker reply) or *";
  } else {
    out.versionstamp = std::string(value.substr(1, value.size() - 2));
  }
  return out;
}

HttpResponse Translate(const Spec& spec, const AdminAnswer& answer, bool if_match) {
  if (!answer.delivered) return ErrorResponse(503, "unavailable", "the admin service did not answer: " + answer.error);
  json reply = json::parse(answer.reply_json, nullptr, false);
  if (!reply.is_object()) return ErrorResponse(500, "internal", "the admin service sent a reply that is not JSON");
  if (reply.value("ok", false)) {
    const json& result = reply["result"];
    HttpResponse r;
    r.status = spec.success;
    r.SetHeader("Content-Type", "application/json");
    if (spec.worker_reply && result.is_object() && result.contains("versionstamp") && result["versionstamp"].is_string())
      r.SetHeader("ETag", "\"" + result["versionstamp"].get<std::string>() + "\"");
    if (spec.created && result.is_object() && result.contains("sid") && result["sid"].is_string())
      r.SetHeader("Location", "/api/v1/workers/" + result["sid"].get<std::string>());
    r.body = result.dump();
    return r;
  }
  const json error = reply.contains("error") && reply["error"].is_object() ? reply["error"] : json::object();
  const std::string code = error.value("code", "internal");
  const std::string message = error.value("message", "");
  const int status = ErrorStatus(code, if_match);
  if (status == 401) return Unauthorized(message);
  return ErrorResponse(status, code, message);
}

void Handle(const Spec& spec, AdminBridge& bridge, const HttpRequest& request, const PathParams& params,
            Respond respond) {
  const std::string route = std::string(spec.method) + " " + spec.pattern;
  auto token = BearerToken(request);
  if (!token) return respond(Unauthorized("Authorization: Bearer <admin token> is required"));

  Input in{request, params, {}, json::object()};
  std::string bad;
  if (!ParseQuery(request.query, &in.query, &bad)) return respond(ErrorResponse(400, "invalid", "query: " + bad));
  for (const auto& [name, value] : in.query) {
    if (std::find(spec.query.begin(), spec.query.end(), name) != spec.query.end()) continue;
    std::string known;
    for (const auto& q : spec.query) known += (known.empty() ? "" : ", ") + q;
    return respond(ErrorResponse(400, "invalid",
                                 name + ": unknown query parameter for " + route +
                                     (known.empty() ? " (it takes none)" : "; known: " + known)));
  }
  if (spec.body == BodyUse::kObject && !IsBlank(request.body)) {
    if (JsonNestingDepth(request.body, kMaxJsonDepth) > kMaxJsonDepth)
      return respond(ErrorResponse(400, "invalid", "request body: nested deeper than 64 levels"));
    in.body = json::parse(request.body, nullptr, false);
    if (in.body.is_discarded()) return respond(ErrorResponse(400, "invalid", "request body: not valid JSON"));
    if (!in.body.is_object()) return respond(ErrorResponse(400, "invalid", "request body: expected a JSON object"));
  } else if (spec.body == BodyUse::kNone && !IsBlank(request.body) && request.body != "{}") {
    return respond(ErrorResponse(400, "invalid", "request body: " + route + " takes none"));
  }
  IfMatch if_match = ParseIfMatch(request);
  if (if_match.given && spec.if_match == IfMatchUse::kRefused)
    return respond(ErrorResponse(400, "invalid", "If-Match: not supported by " + route));
  if (if_match.error_status != 0)
    return respond(ErrorResponse(if_match.error_status, if_match.error_status == 412 ? "conflict" : "invalid",
                                 if_match.error));

  json args = json::object();
  if (std::string problem = spec.build(in, &args); !problem.empty())
    return respond(ErrorResponse(400, "invalid", problem));
  if (if_match.versionstamp) args["versionstamp"] = *if_match.versionstamp;
  const bool conditional = if_match.given;
  bridge.Ask(std::move(*token), json{{"op", spec.op}, {"args", std::move(args)}}.dump(),
             [&spec, conditional, respond = std::move(respond)](AdminAnswer answer) {
               respond(Translate(spec, answer, conditional));
             });
}

}  // namespace

int ErrorStatus(std::string_view code, bool if_match) {
  if (code == "invalid" || code == "invalid_argument") return 400;
  if (code == "unauthorized") return 401;
  if (code == "not_found") return 404;
  if (code == "conflict") return if_match ? 412 : 409;
  if (code == "unavailable") return 503;
  return 500;
}

HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.SetHeader("Content-Type", "application/json");
  r.body = json{{"error", {{"code", code}, {"message", message}}}}.dump();
  return r;
}

void AddRestRoutes(Router& router, AdminBridge& bridge, RouteHandler follow_logs) {
  for (const Spec& spec : Specs()) {
    router.Add(spec.method, spec.pattern,
               [&spec, &bridge, follow_logs](const HttpRequest& request, const PathParams& params, Respond respond) {
                 std::map<std::string, std::string> query;
                 std::string bad;
                 if (follow_logs && std::string_view(spec.op) == "logs.tail" &&
                     ParseQuery(request.query, &query, &bad) && query.count("follow"))
                   return follow_logs(request, params, std::move(respond));
                 Handle(spec, bridge, request, params, std::move(respond));
               });
  }
}

}  // namespace ami::gateway
