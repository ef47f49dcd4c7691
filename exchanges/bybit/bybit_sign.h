// How the bybit connector signs a request (Bybit v5 HMAC-SHA256), as a pure function so
// the signature parity test can compare it byte for byte with CCXT's `bybit.sign()`.
//
// The arguments are CCXT's: `api` "public" | "private", `path` relative to the base URL
// ("v5/market/tickers", "v5/order/create"), `method` GET | POST, `params` in the order
// the caller built them. What comes back is exactly what is sent: URL (with query), headers
// (X-BAPI-API-KEY, X-BAPI-TIMESTAMP, X-BAPI-RECV-WINDOW, X-BAPI-SIGN, Content-Type) and body.
//
// As CCXT does it (v5 unified account):
//   - public: `<base>/<path>`, plus `?<query>` when there are params; no headers, no body.
//   - private: headers Content-Type: application/json, X-BAPI-API-KEY, X-BAPI-TIMESTAMP,
//     X-BAPI-RECV-WINDOW, X-BAPI-SIGN = hex HMAC-SHA256(secret, timestamp + api_key +
//     recv_window + payload) where payload is the JSON body (POST: JSON.stringify(params),
//     sent as the body) or the raw query (every other method: `key=value&…` NOT
//     percent-encoded, CCXT's `rawencode`; the URL always gets `?<query>`, even an empty one).
//   - query values: strings as they are, numbers as JavaScript prints them, booleans
//     true/false, null as an empty value.
//   - POST: CCXT also adds `Referer: <brokerId>` (its own broker id "CCXT" unless told
//     otherwise). We send that header only when `referer` is given: AMI does not claim
//     CCXT's broker id. The parity test compares every other header and leaves Referer out.
// Throws std::invalid_argument for an unknown `api` or a private call without credentials.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "ami/plugin/call.h"
#include "ami/plugin/net/http_client.h"

namespace ami::exchanges::bybit {

struct SignInput {
  std::string base_url;              // "https://api.bybit.com" (no trailing slash)
  std::string api;                   // "public" | "private"
  std::string path;                  // "v5/order/create"
  std::string method = "GET";
  nlohmann::ordered_json params = nlohmann::ordered_json::object();
  plugin::Credentials credentials;   // private only
  std::int64_t timestamp_ms = 0;     // the server clock's now (private only)
  int recv_window_ms = 5000;
  std::string referer;               // POST only: the `Referer` (broker id) header; "" = none
};

plugin::net::HttpRequest SignRequest(const SignInput& in);

// CCXT's `rawencode` of a flat object: "k1=v1&k2=v2" in order, nothing percent-encoded.
std::string RawEncode(const nlohmann::ordered_json& params);

// The private WebSocket's auth message {"op":"auth","args":[key, expires, signature]}
// where signature = hex HMAC-SHA256(secret, "GET/realtime" + expires).
std::string WsAuthMessage(const plugin::Credentials& credentials, std::int64_t expires_ms);

}  // namespace ami::exchanges::bybit
