// The REST side of the binance connector: one HTTP client (kept-alive connections), the
// weight-based rate limiter with Binance's published limits, the server clock, signing
// and the error table. Thread-safe; every connector call goes through Send().
//
// Limits (rate limiter keys):
//   "ip"                      REQUEST_WEIGHT per minute: 6000 spot, 2400 futures (or the
//                             `weight_limit` option), corrected by X-MBX-USED-WEIGHT-1M;
//   "orders:10s:<account>"    ORDERS: 100 / 10 s spot, 300 / 10 s futures, corrected by
//                             X-MBX-ORDER-COUNT-10S (order placements only).
// Binance counts REQUEST_WEIGHT per calendar minute (X-MBX-USED-WEIGHT-1M is this
// minute's total for the IP, other programs included) while a token bucket refills
// evenly; so in front of the bucket a window guard keeps this minute's total — the
// larger of what we sent and what Binance reported — within the limit, waiting for the
// next minute when it would not be. A call that would wait longer than `http_timeout`
// (bucket or window) fails with RateLimitExceeded before anything is sent. 429 / 418 block the "ip" key for
// Retry-After seconds (1 s / 120 s when absent) and answer RateLimitExceeded /
// DDoSProtection.
//
// Clock: signed requests carry the server's time (ServerClock over /api/v3/time or
// /fapi/v1/time, refreshed every 5 min). A -1021 (timestamp outside recvWindow) was
// refused, not executed: the clock is re-measured and the request sent once more.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "ami/plugin/call.h"
#include "ami/plugin/connector_base.h"
#include "ami/plugin/net/http_client.h"
#include "ami/plugin/net/rate_limiter.h"
#include "ami/plugin/net/server_clock.h"
#include "binance_options.h"

namespace ami::exchanges::binance {

// A failed request, with a CCXT class. `ambiguous`: the request may have been executed
// (transport timeout or connection lost after sending, HTTP 5xx, -1006, -1007).
class RestError : public plugin::CcxtError {
 public:
  RestError(std::string error_class, const std::string& message, bool ambiguous,
            std::string code = "", std::string exchange_msg = "")
      : CcxtError(std::move(error_class), message),
        ambiguous_(ambiguous),
        code_(std::move(code)),
        exchange_msg_(std::move(exchange_msg)) {}
  bool ambiguous() const { return ambiguous_; }
  const std::string& code() const { return code_; }
  const std::string& exchange_msg() const { return exchange_msg_; }

 private:
  bool ambiguous_;
  std::string code_;
  std::string exchange_msg_;
};

struct RestRequest {
  std::string api;           // public | private | fapiPublic | fapiPrivate | fapiPrivateV2
  std::string path;          // "order"
  std::string method = "GET";
  nlohmann::ordered_json params = nlohmann::ordered_json::object();
  double weight = 1;         // Binance's published REQUEST_WEIGHT of this call
  bool places_order = false; // counts against ORDERS
};

class BinanceRest {
 public:
  explicit BinanceRest(const BinanceOptions& options);
  ~BinanceRest();

  // The parsed JSON reply; throws RestError. `ctx` supplies credentials for private
  // APIs (empty ones fail with AuthenticationError before anything is sent).
  nlohmann::json Send(const RestRequest& request, const plugin::CallContext* ctx = nullptr);

  // "public"/"private" for spot, "fapiPublic"/"fapiPrivate" for futures.
  std::string PublicApi() const { return options_.futures() ? "fapiPublic" : "public"; }
  std::string PrivateApi() const { return options_.futures() ? "fapiPrivate" : "private"; }

  plugin::net::RateLimiter& limiter() { return limiter_; }
  plugin::net::ServerClock& clock() { return *clock_; }
  std::uint64_t requests_sent() const { return sent_.load(); }
  const BinanceOptions& options() const { return options_; }

 private:
  void Observe(const plugin::net::HttpResponse& r, const std::string& order_key);
  // The minute window: reserve `weight` in the current minute (waiting for the next one
  // up to `max_wait`); record the used weight Binance reported.
  bool ReserveWindow(double weight, std::chrono::milliseconds max_wait);
  void ObserveWindow(double used);
  std::int64_t ServerMinute(std::int64_t* now_ms = nullptr) const;
  std::optional<std::int64_t> FetchServerTime();

  BinanceOptions options_;
  plugin::net::HttpClient http_;
  plugin::net::RateLimiter limiter_;
  std::unique_ptr<plugin::net::ServerClock> clock_;
  std::atomic<std::uint64_t> sent_{0};
  std::mutex window_mu_;
  std::atomic<std::int64_t> offset_cache_{0};   // server - local ms, as of the last signed call
  std::int64_t window_minute_ = -1;    // server minute the counts below belong to
  double window_used_ = 0;             // max(reserved by us, reported by Binance)
  std::mutex keys_mu_;
  std::set<std::string> order_keys_;   // order buckets declared so far (under keys_mu_)
};

}  // namespace ami::exchanges::binance
