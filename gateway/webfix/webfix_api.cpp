#include "gateway/webfix/webfix_api.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "gateway/admin_bridge.h"
#include "gateway/webfix/sessions.h"
#include "gateway/webfix/wallet_login.h"
#include "gateway/webfix/webfix_methods.h"
#include "runtime/base/digest.h"
#include "runtime/base/json_depth.h"

namespace ami::gateway {

namespace {

using json = nlohmann::json;

constexpr int kMaxJsonDepth = 64;
constexpr int kMethodNotFound = 13;  // the reference server's code for an unknown method
constexpr int64_t kAccessRequestLogEvery = 10 * 60 * 1000;

HttpResponse JsonReply(int status, const json& body) {
  HttpResponse r;
  r.status = status;
  r.SetHeader("Content-Type", "application/json");
  // Replies name sessions and worker scripts: no cache may keep them.
  r.SetHeader("Cache-Control", "no-store");
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse WebFixError(int status, int code, std::string_view message) {
  return JsonReply(status, json{{"webfix", "1.0"}, {"error", {{"code", code}, {"message", message}}}});
}

HttpResponse WebFixError(int status, std::string_view message) { return WebFixError(status, status, message); }

// The admin error code's HTTP status (webfix-gateway.md: invalid 400, not_found 404,
// conflict 409, unavailable 503). `unauthorized` means the gateway's own token was
// refused: the node's fault, not the caller's.
int AdminStatus(const std::string& code) {
  if (code == "invalid") return 400;
  if (code == "not_found") return 404;
  if (code == "conflict") return 409;
  if (code == "unavailable") return 503;
  return 500;
}

// The session id a request carries: the stels-session header, else ?session=.
std::string SessionIdOf(const HttpRequest& request) {
  std::string_view header = request.Header("stels-session");
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
  if (!header.empty()) return std::string(header);
  if (request.query.empty()) return "";
  std::map<std::string, std::string> query;
  std::string bad;
  if (!ParseQuery(request.query, &query, &bad)) return "";
  auto it = query.find("session");
  return it == query.end() ? "" : it->second;
}

// host[:port] as a browser sends it in Host; anything else could smuggle text into the
// URLs of the login reply.
bool PlausibleHost(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' ||
           c == '_';
  });
}

}  // namespace

WebFix::WebFix(WebFixSettings settings, AdminBridge& bridge)
    : settings_(std::move(settings)),
      token_holder_(settings_.admin_token.empty() ? "" : "admin-token:" + Sha256Hex(settings_.admin_token).substr(0, 16)),
      bridge_(bridge) {
  webfix::SessionStore::Options options;
  options.file = settings_.sessions_file;
  options.ttl = settings_.session_ttl;
  options.now = settings_.now;
  std::string warning;
  sessions_ = webfix::SessionStore::Open(std::move(options), &warning);
  if (!warning.empty()) spdlog::warn("webfix: {}", warning);
}

WebFix::~WebFix() = default;

bool WebFix::IsEnvelope(const HttpRequest& request) {
  if (request.method != "POST") return false;
  if (request.path == "/metrics" || request.path == "/api/v1" || request.path.rfind("/api/v1/", 0) == 0) return false;
  return true;
}

int64_t WebFix::Now() const {
  if (settings_.now) return settings_.now();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

WebFix::Role WebFix::RoleOf(const std::string& address) const {
  if (!token_holder_.empty() && address == token_holder_) return Role::kDeveloper;
  const auto& w = settings_.wallets;
  if (std::find(w.developers.begin(), w.developers.end(), address) != w.developers.end()) return Role::kDeveloper;
  if (std::find(w.viewers.begin(), w.viewers.end(), address) != w.viewers.end()) return Role::kViewer;
  return Role::kNone;
}

std::optional<Caller> WebFix::Authenticate(const HttpRequest& request) const {
  const std::string id = SessionIdOf(request);
  if (id.empty()) return std::nullopt;
  auto session = sessions_->Find(id);
  if (!session) return std::nullopt;
  const Role role = RoleOf(session->wallet);
  if (role == Role::kNone) return std::nullopt;  // removed from http.wallets since the login
  if (session->wallet == token_holder_) return Caller{"admin token (session)", true};
  return Caller{"wallet " + session->wallet, role == Role::kDeveloper};
}

std::string WebFix::CreateTokenSession(int64_t* expires_at) {
  webfix::SessionStore::Session created;
  std::string id = sessions_->Create(token_holder_, &created);
  if (expires_at) *expires_at = created.expires_at;
  return id;
}

void WebFix::Handle(const HttpRequest& request, Respond respond) {
  // ---- the envelope
  if (JsonNestingDepth(request.body, kMaxJsonDepth) > kMaxJsonDepth)
    return respond(WebFixError(400, "WebFIX envelope: nested deeper than 64 levels"));
  const json envelope = json::parse(request.body, nullptr, false);
  if (!envelope.is_object())
    return respond(WebFixError(400, "WebFIX envelope: expected a JSON object {\"webfix\":\"1.0\",\"method\",\"body\"}"));
  if (envelope.value("webfix", json()) != "1.0")
    return respond(WebFixError(400, "WebFIX envelope: webfix must be \"1.0\""));
  if (!envelope.contains("method") || !envelope["method"].is_string() || envelope["method"].get<std::string>().empty())
    return respond(WebFixError(400, "WebFIX envelope: method must be a method name"));
  if (envelope.contains("params") && !envelope["params"].is_array() && !envelope["params"].is_null())
    return respond(WebFixError(400, "WebFIX envelope: params must be an array"));
  json body = envelope.value("body", json::object());
  if (body.is_null()) body = json::object();
  if (!body.is_object()) return respond(WebFixError(400, "WebFIX envelope: body must be an object"));
  const std::string method = envelope["method"];

  if (method == "connectionNode") return Login(request, body, std::move(respond));
  const webfix::Method* spec = webfix::FindMethod(method);
  if (!spec && method != "requestDeveloperAccess")
    return respond(WebFixError(400, kMethodNotFound, "WebFIX method not found"));

  // ---- the session and the wallet's role
  const std::string id = SessionIdOf(request);
  if (id.empty())
    return respond(WebFixError(401, "session: missing; log in with connectionNode and send its session in the "
                                    "stels-session header"));
  auto session = sessions_->Find(id);
  if (!session) return respond(WebFixError(401, "session: invalid or expired; log in again (connectionNode)"));
  const Role role = RoleOf(session->wallet);
  if (role == Role::kNone)
    return respond(WebFixError(403, "session: wallet " + session->wallet +
                                        " is no longer in this node's http.wallets; ask the node's operator"));
  if (!spec) return DeveloperAccess(session->wallet, role, std::move(respond));
  if (spec->access == webfix::Access::kWrite && role != Role::kDeveloper)
    return respond(WebFixError(403, method + ": wallet " + session->wallet +
                                        " may only read on this node (http.wallets.viewers); writing needs a wallet "
                                        "in http.wallets.developers"));

  // ---- one admin request
  webfix::AdminCall call;
  if (std::string bad = spec->build(body, &call); !bad.empty()) return respond(WebFixError(400, method + ": " + bad));
  const std::string request_json = json{{"op", call.op}, {"args", call.args}}.dump();
  bridge_.Ask(settings_.admin_token, request_json,
              [spec, call = std::move(call), method, respond = std::move(respond)](AdminAnswer answer) {
                if (!answer.delivered)
                  return respond(WebFixError(503, method + ": the admin service did not answer: " + answer.error));
                const json reply = json::parse(answer.reply_json, nullptr, false);
                if (!reply.is_object())
                  return respond(WebFixError(500, method + ": the admin service sent a reply that is not JSON"));
                if (reply.value("ok", false)) {
                  webfix::Reply out = spec->shape(reply.value("result", json()), call);
                  return respond(JsonReply(out.status, out.body));
                }
                const json error = reply.contains("error") && reply["error"].is_object() ? reply["error"] : json::object();
                const std::string code = error.value("code", "internal");
                std::string message = error.value("message", "");
                if (code == "unauthorized") message = "the node's admin service refused the gateway's token";
                respond(WebFixError(AdminStatus(code), method + ": " + message));
              });
}

void WebFix::Login(const HttpRequest& request, const json& body, Respond respond) {
  const int64_t now = Now();
  webfix::LoginCheck check = webfix::CheckLogin(body, settings_.network, now);
  if (check.status != 0) return respond(WebFixError(check.status, "connectionNode: " + check.message));
  const Role role = RoleOf(check.address);
  if (role == Role::kNone)
    return respond(WebFixError(403, "connectionNode: wallet " + check.address +
                                        " is not allowed on this node; its operator lists wallets in http.wallets "
                                        "(developers, viewers)"));
  const std::string host(request.Header("host"));
  if (!PlausibleHost(host))
    return respond(WebFixError(400, "connectionNode: a Host header (host[:port]) is required; the reply names URLs on it"));
  {
    // A login transaction is good once: a copy replayed within the clock window gets nothing.
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = used_logins_.begin(); it != used_logins_.end();)
      it = it->second <= now ? used_logins_.erase(it) : std::next(it);
    if (!used_logins_.emplace(check.hash, now + 2 * webfix::kLoginClockSkew.count()).second)
      return respond(WebFixError(401, "connectionNode: this login transaction was used already; sign a new one"));
  }
  const std::string session = sessions_->Create(check.address);
  const std::string scheme = request.tls ? "https" : "http";
  const std::string api = scheme + "://" + host + (request.path.empty() ? "/" : request.path);
  const std::string socket = std::string(request.tls ? "wss" : "ws") + "://" + host + "/ws";
  spdlog::info("webfix: wallet {} logged in ({})", check.address, role == Role::kDeveloper ? "developer" : "viewer");
  // token: the frontend requires one and stores it beside the session; it is the session
  // id again (one secret, not two), and only `session` is ever read back.
  respond(JsonReply(200, json{{"raw",
                               {{"session", session},
                                {"token", session},
                                {"info",
                                 {{"network", settings_.network},
                                  {"title", "AMI " + settings_.node_id},
                                  {"nid", settings_.node_id},
                                  {"api", api},
                                  {"connector", {{"socket", socket}}},
                                  {"developer", role == Role::kDeveloper}}}}}}));
}

void WebFix::DeveloperAccess(const std::string& address, Role role, Respond respond) {
  if (role == Role::kDeveloper)
    return respond(JsonReply(200, json{{"requested", false},
                                       {"developer", true},
                                       {"wallet", address},
                                       {"message", "wallet " + address + " is a developer on this node already"}}));
  bool log = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now = Now();
    auto [it, fresh] = access_requests_.emplace(address, now);
    if (fresh || now - it->second >= kAccessRequestLogEvery) {
      it->second = now;
      log = true;
    }
  }
  // The node's log is where the operator sees it (rate-limited per wallet).
  if (log) spdlog::info("webfix: wallet {} asks for developer access (grant it in http.wallets.developers)", address);
  respond(JsonReply(200, json{{"requested", true},
                              {"developer", false},
                              {"wallet", address},
                              {"message", "This node grants developer access only through its operator: ask them to "
                                          "add " + address + " to http.wallets.developers in the node's config "
                                          "(your request is in the node's log). Then log in again."}}));
}

}  // namespace ami::gateway
