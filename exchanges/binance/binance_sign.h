// How the binance connector signs a request (HMAC-SHA256 of the query/body, signature
// appended), as a pure function so the signature parity test can compare it byte for
// byte with CCXT's `binance.sign()`.
//
// The arguments are CCXT's: `api` "public" | "private" (spot, /api/v3), "fapiPublic" |
// "fapiPrivate" (USDⓈ-M futures, /fapi/v1) or "fapiPrivateV2" (/fapi/v2, the futures
// balance), `path` relative to that API ("order", "ticker/24hr"), `method` GET | POST |
// DELETE | PUT, `params` in the caller's order. What comes back is exactly what is sent:
// URL (with query), headers (X-MBX-APIKEY, Content-Type) and body.
//
// As CCXT does it:
//   - public: `<base>/<path>` plus `?<query>` when there are params; no headers;
//   - private: {timestamp, ...params} (a `timestamp` in params keeps the first place),
//     then `recvWindow` (recv_window_ms when > 0, overridden in place by
//     params.recvWindow), url-encoded like the `qs` package CCXT uses (RFC 3986: only
//     A-Z a-z 0-9 - . _ ~ stay as they are), `&signature=<hex HMAC-SHA256(secret,
//     query)>` appended; GET/DELETE carry it in the URL, POST/PUT in the body with
//     Content-Type application/x-www-form-urlencoded; header X-MBX-APIKEY.
//   - CCXT invents a broker `newClientOrderId` for a POST order without one; we never
//     do (the runtime always gives one), so the parity table always passes it.
// Throws std::invalid_argument for an unknown `api`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ami/plugin/call.h"
#include "ami/plugin/net/http_client.h"

namespace ami::exchanges::binance {

struct SignInput {
  std::string spot_base_url;         // "https://api.binance.com"
  std::string futures_base_url;      // "https://fapi.binance.com"
  std::string api;                   // public | private | fapiPublic | fapiPrivate | fapiPrivateV2
  std::string path;                  // "order"
  std::string method = "GET";
  nlohmann::ordered_json params = nlohmann::ordered_json::object();
  plugin::Credentials credentials;   // private only
  std::int64_t timestamp_ms = 0;     // the server clock's now (private only)
  int recv_window_ms = 0;            // 0 = not sent
};

plugin::net::HttpRequest SignRequest(const SignInput& in);

// True for the signed APIs (private, fapiPrivate, fapiPrivateV2).
bool IsPrivateApi(std::string_view api);

// `qs.stringify(params)` as CCXT's `urlencode` does it (nested values in bracket form).
std::string QsStringify(const nlohmann::ordered_json& params);

}  // namespace ami::exchanges::binance
