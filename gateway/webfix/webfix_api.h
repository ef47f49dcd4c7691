// WebFIX 1.0 over HTTP (docs/webfix.md): the API the STELS web editor speaks.
//
// Every POST whose path is not under /api/v1/ (and is not /metrics) carries one envelope
// {"webfix":"1.0","method":M,"params":[…],"body":{…}}:
//   - `connectionNode` logs a wallet in (gateway/webfix/wallet_login.h) and answers a
//     session (gateway/webfix/sessions.h);
//   - the editor methods (gateway/webfix/webfix_methods.h) need that session in the
//     `stels-session` header; each becomes one admin request sent with the node's admin
//     token (never logged, never in a reply) once the wallet's role allows it:
//     http.wallets.developers may write, http.wallets.viewers may only read;
//   - `requestDeveloperAccess` answers that access is the operator's to grant.
// Errors are {"webfix":"1.0","error":{"code":N,"message":"…"}} with N the HTTP status
// (13 for an unknown method, as the reference server).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "gateway/access.h"
#include "gateway/http_message.h"
#include "runtime/config/http_section.h"

namespace ami::gateway {

class AdminBridge;

namespace webfix {
class SessionStore;
}

struct WebFixSettings {
  std::string network;                      // what a login must be for (Backend::network)
  std::string node_id;                      // info.nid, info.title
  std::string admin_token;                  // a secret: the admin requests carry it
  HttpWallets wallets;                      // roles, looked up at every request
  std::filesystem::path sessions_file;      // "" = sessions in memory only
  std::chrono::milliseconds session_ttl{std::chrono::hours(12)};
  std::function<int64_t()> now;             // wall clock in ms; empty = system clock (tests set it)
};

class WebFix {
 public:
  // `bridge` must outlive this object. Problems loading the sessions file are logged
  // (the node still starts; wallets log in again).
  WebFix(WebFixSettings settings, AdminBridge& bridge);
  ~WebFix();
  WebFix(const WebFix&) = delete;
  WebFix& operator=(const WebFix&) = delete;

  // A WebFIX envelope: a POST whose path is not under /api/v1/ and is not /metrics.
  static bool IsEnvelope(const HttpRequest& request);

  // Answers one envelope (calls `respond` exactly once, maybe on a CAF thread).
  void Handle(const HttpRequest& request, Respond respond);

  // The caller of a request with a live session (`stels-session` header, or `session`
  // query parameter where a browser cannot set headers) of a wallet still in
  // http.wallets: {"wallet <address>", may_write: developer}. Thread-safe.
  std::optional<Caller> Authenticate(const HttpRequest& request) const;

  // A session for the holder of the admin token (POST /api/v1/session): the web editor
  // signs in with the token but needs a session for the WebSocket and for SSE, where a
  // browser cannot send an Authorization header. It may do what the token may (write),
  // lasts http.sessions.ttl like a wallet's, and is bound to the token: a node started
  // with another admin token no longer knows it. Returns the id; *expires_at in ms.
  std::string CreateTokenSession(int64_t* expires_at);

 private:
  enum class Role { kNone, kViewer, kDeveloper };
  Role RoleOf(const std::string& address) const;
  int64_t Now() const;
  void Login(const HttpRequest& request, const nlohmann::json& body, Respond respond);
  void DeveloperAccess(const std::string& address, Role role, Respond respond);

  WebFixSettings settings_;
  // The "wallet" a token session names: never a base58 address (it has a ':'), and it
  // carries a digest of the token so that another token does not inherit the session.
  std::string token_holder_;
  AdminBridge& bridge_;
  std::unique_ptr<webfix::SessionStore> sessions_;
  mutable std::mutex mu_;
  std::map<std::string, int64_t> used_logins_;        // tx hash -> when it may be forgotten; guarded by mu_
  std::map<std::string, int64_t> access_requests_;    // wallet -> last logged request; guarded by mu_
};

}  // namespace ami::gateway
