// Who is asking: the one check every gateway route that is not public makes.
//
// Two kinds of credentials reach the gateway (docs/http-api.md "Token", docs/webfix.md
// "Sessions"):
//   - `Authorization: Bearer <admin token>` — an operator or script using the REST API;
//     may do everything the admin service allows;
//   - a WebFIX session (header `stels-session`, or `?session=` on a WebSocket upgrade,
//     where browsers cannot set headers) from a wallet login; what it may do comes from
//     the wallet's place in http.wallets *now* (a wallet removed from the config loses
//     its sessions at once).
// REST requests themselves are checked by the admin service (the token travels with
// them); routes that do not become one admin request — log streams, the WebSocket — ask
// the gateway's Authenticate.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "gateway/http_message.h"

namespace ami::gateway {

struct Caller {
  std::string who;         // "admin token" or "wallet <address>" (for logs; never a secret)
  bool may_write = false;  // create/edit/start/stop workers (admin token, http.wallets.developers)
};

// nullopt: no valid credentials (missing, unknown, expired). Thread-safe.
using Authenticate = std::function<std::optional<Caller>(const HttpRequest&)>;

// The token of `Authorization: Bearer <token>` (scheme case-insensitive), or nullopt.
std::optional<std::string> BearerToken(const HttpRequest& request);

// The admin token check alone (constant time). The WebFIX layer wraps it with sessions.
std::optional<Caller> CheckBearer(const HttpRequest& request, const std::string& admin_token);

}  // namespace ami::gateway
