// The bybit connector's REST transport: sign (bybit_sign.h), rate-limit, send (libcurl
// through net::HttpClient), read Bybit's usage headers, classify errors (CCXT's table).
//
// Contract of Perform():
//   - A private request without api_key/secret fails with AuthenticationError before
//     anything is sent (and before the limiter is touched).
//   - The limiter (Bybit's published limits, see kEndpointLimits in the .cpp) is asked
//     first: per IP (600 requests / 5 s) and, for private calls, per account and endpoint
//     (e.g. order/create 20/s spot, 10/s linear). Buckets are sized so that no rolling
//     1-second window can exceed the published limit (burst 15 %, refill 75 % of it). A
//     wait longer than `max_wait` fails with RateLimitExceeded, nothing sent.
//     X-Bapi-Limit / X-Bapi-Limit-Status lower the bucket to what Bybit says is left;
//     10006 with X-Bapi-Limit-Reset-Timestamp and HTTP 429 with Retry-After block it.
//   - Private requests are stamped with the server clock (v5/market/time, refreshed every
//     5 min); retCode 10002 (timestamp outside recv_window) invalidates the clock and the
//     request is signed and sent once more (the exchange refused it: nothing happened).
//   - The outcome says whether the request may have reached the exchange without an
//     answer (`ambiguous`: a timeout or a lost connection after sending) — the
//     createOrder rule needs that (see BybitConnector::createOrder).
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "ami/plugin/call.h"
#include "ami/plugin/net/http_client.h"
#include "ami/plugin/net/rate_limiter.h"
#include "ami/plugin/net/server_clock.h"
#include "bybit_options.h"

namespace ami::exchanges::bybit {

struct RestRequest {
  std::string api = "public";        // public | private
  std::string method = "GET";        // GET | POST
  std::string path;                  // "v5/order/create"
  nlohmann::ordered_json params = nlohmann::ordered_json::object();
  std::string category;              // "spot" | "linear" | "" — picks the per-account limit
};

struct RestOutcome {
  bool ok = false;
  nlohmann::json body;               // the parsed answer when ok (retCode 0)
  std::string error_class;           // a CCXT class when !ok
  std::string message;
  std::string ret_code;              // Bybit's retCode when it answered with one ("" else)
  bool ambiguous = false;            // may have reached the exchange; the answer was lost
  bool sent = false;                 // anything left this process
};

class BybitRest {
 public:
  explicit BybitRest(const BybitOptions& options);
  ~BybitRest();
  BybitRest(const BybitRest&) = delete;
  BybitRest& operator=(const BybitRest&) = delete;

  RestOutcome Perform(const RestRequest& request, const plugin::Credentials& credentials);
  // Perform(), throwing CcxtError on failure; returns the whole response body.
  nlohmann::json Call(const RestRequest& request, const plugin::Credentials& credentials = {});

  plugin::net::ServerClock& clock() { return *clock_; }
  plugin::net::RateLimiter& limiter() { return limiter_; }
  std::uint64_t requests_sent() const { return sent_.load(); }
  std::uint64_t connections_opened() const { return http_.connections_opened(); }

  // The limiter key of a request (for tests): "ip" or "uid:<key hash>:<endpoint>[:<category>]".
  std::string AccountBucket(const RestRequest& request, const plugin::Credentials& credentials);

 private:
  RestOutcome Once(const RestRequest& request, const plugin::Credentials& credentials,
                   const std::string& bucket);
  std::optional<std::int64_t> FetchServerTime();

  BybitOptions options_;
  plugin::net::HttpClient http_;
  plugin::net::RateLimiter limiter_;
  std::unique_ptr<plugin::net::ServerClock> clock_;
  std::mutex defined_mu_;
  std::set<std::string> defined_;    // account buckets declared so far
  std::atomic<std::uint64_t> sent_{0};
};

}  // namespace ami::exchanges::bybit
