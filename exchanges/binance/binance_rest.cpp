#include "binance_rest.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "binance_errors.h"
#include "binance_sign.h"

namespace ami::exchanges::binance {

namespace {

using plugin::net::HttpRequest;
using plugin::net::HttpResponse;
using plugin::net::RateLimiter;

plugin::net::HttpClientOptions ClientOptions(const BinanceOptions& o) {
  plugin::net::HttpClientOptions c;
  c.verify_tls = o.verify_tls;
  c.proxy = o.proxy;
  c.user_agent = "ami-binance/1";
  c.connect_timeout = std::min<std::chrono::milliseconds>(o.http_timeout, std::chrono::milliseconds(5000));
  return c;
}

std::optional<double> HeaderNumber(const HttpResponse& r, const char* name) {
  const std::string v = r.Header(name);
  if (v.empty()) return std::nullopt;
  try {
    return std::stod(v);
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace

BinanceRest::BinanceRest(const BinanceOptions& options)
    : options_(options), http_(ClientOptions(options)) {
  limiter_.Define("ip", {static_cast<double>(options_.EffectiveWeightLimit()), std::chrono::milliseconds(60000)});
  clock_ = std::make_unique<plugin::net::ServerClock>([this] { return FetchServerTime(); });
}

BinanceRest::~BinanceRest() = default;

std::optional<std::int64_t> BinanceRest::FetchServerTime() {
  HttpRequest req;
  req.url = options_.rest_base + (options_.futures() ? "/fapi/v1/time" : "/api/v3/time");
  req.timeout = options_.http_timeout;
  if (!limiter_.Acquire("ip", 1, options_.http_timeout)) return std::nullopt;
  HttpResponse r = http_.Perform(req);
  ++sent_;
  if (!r.ok()) return std::nullopt;
  Observe(r, "");
  if (r.status != 200) return std::nullopt;
  const auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("serverTime") || !j["serverTime"].is_number()) return std::nullopt;
  return j["serverTime"].get<std::int64_t>();
}

std::int64_t BinanceRest::ServerMinute(std::int64_t* now_ms) const {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count() +
                           offset_cache_.load();
  if (now_ms) *now_ms = now;
  return now / 60000;
}

bool BinanceRest::ReserveWindow(double weight, std::chrono::milliseconds max_wait) {
  const double limit = options_.EffectiveWeightLimit();
  const auto deadline = std::chrono::steady_clock::now() + max_wait;
  std::unique_lock<std::mutex> lock(window_mu_);
  for (;;) {
    std::int64_t now = 0;
    const std::int64_t minute = ServerMinute(&now);
    if (minute != window_minute_) {   // Binance starts every minute from zero
      window_minute_ = minute;
      window_used_ = 0;
    }
    if (window_used_ + weight <= limit || weight <= 0) {
      window_used_ += weight;
      return true;
    }
    const auto next_minute = std::chrono::steady_clock::now() +
                             std::chrono::milliseconds((minute + 1) * 60000 - now + 5);
    if (next_minute > deadline) return false;
    lock.unlock();
    std::this_thread::sleep_until(next_minute);
    lock.lock();
  }
}

void BinanceRest::ObserveWindow(double used) {
  std::lock_guard<std::mutex> lock(window_mu_);
  const std::int64_t minute = ServerMinute();
  if (minute != window_minute_) {
    window_minute_ = minute;
    window_used_ = 0;
  }
  window_used_ = std::max(window_used_, used);
}

void BinanceRest::Observe(const HttpResponse& r, const std::string& order_key) {
  if (auto used = HeaderNumber(r, "X-MBX-USED-WEIGHT-1M")) {
    limiter_.ObserveUsed("ip", *used, options_.EffectiveWeightLimit());
    ObserveWindow(*used);
  }
  if (!order_key.empty())
    if (auto used = HeaderNumber(r, "X-MBX-ORDER-COUNT-10S"))
      limiter_.ObserveUsed(order_key, *used, options_.futures() ? 300 : 100);
  if (r.status == 429 || r.status == 418) {
    const double secs = HeaderNumber(r, "Retry-After").value_or(r.status == 418 ? 120 : 1);
    limiter_.BlockUntil("ip", RateLimiter::Clock::now() +
                                  std::chrono::milliseconds(static_cast<long long>(std::max(0.0, secs) * 1000)));
  }
}

nlohmann::json BinanceRest::Send(const RestRequest& r, const plugin::CallContext* ctx) {
  const std::string& id = options_.exchange_id;
  const bool is_private = IsPrivateApi(r.api);
  const std::string what = r.method + " " + r.path;
  if (is_private && (!ctx || ctx->credentials.api_key.empty() || ctx->credentials.secret.empty()))
    throw RestError(plugin::errc::kAuthenticationError,
                    id + ": " + what + " needs an account with api_key and secret "
                         "(accounts: in the node config); nothing was sent", false);
  std::string order_key;
  if (r.places_order) {
    order_key = "orders:10s:" + (ctx ? ctx->account_id : std::string());
    std::lock_guard<std::mutex> lock(keys_mu_);
    if (order_keys_.insert(order_key).second)
      limiter_.Define(order_key, {options_.futures() ? 300.0 : 100.0, std::chrono::milliseconds(10000)});
  }
  for (int attempt = 0;; ++attempt) {
    if (!ReserveWindow(r.weight, options_.http_timeout) || !limiter_.Acquire("ip", r.weight, options_.http_timeout))
      throw RestError(plugin::errc::kRateLimitExceeded,
                      id + ": request weight limit (" + std::to_string(options_.EffectiveWeightLimit()) +
                          "/min) reached; " + what + " was not sent", false);
    if (!order_key.empty() && !limiter_.Acquire(order_key, 1, options_.http_timeout))
      throw RestError(plugin::errc::kRateLimitExceeded,
                      id + ": order rate limit reached for this account; " + what + " was not sent", false);
    SignInput in;
    in.spot_base_url = options_.rest_base;
    in.futures_base_url = options_.rest_base;
    in.api = r.api;
    in.path = r.path;
    in.method = r.method;
    in.params = r.params;
    if (is_private) {
      in.credentials = ctx->credentials;
      in.timestamp_ms = clock_->NowMs();
      offset_cache_ = in.timestamp_ms - std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch()).count();
      in.recv_window_ms = options_.recv_window_ms;
    }
    HttpRequest req = SignRequest(in);
    req.timeout = options_.http_timeout;
    HttpResponse resp = http_.Perform(req);
    if (resp.sent) ++sent_;
    if (!resp.ok()) {
      const bool ambiguous = resp.sent && (resp.error_class == plugin::errc::kRequestTimeout ||
                                           resp.error_class == plugin::errc::kNetworkError);
      throw RestError(resp.error_class, id + ": " + what + ": " + resp.error, ambiguous);
    }
    Observe(resp, order_key);
    if (auto err = ClassifyReply(resp.status, resp.body, options_.futures(), id)) {
      if (err->code == "-1021" && attempt == 0) {   // refused, not executed: re-sync, resend
        clock_->Invalidate();
        continue;
      }
      throw RestError(err->error_class, err->message + " [" + what + "]", err->ambiguous, err->code, err->msg);
    }
    auto j = nlohmann::json::parse(resp.body, nullptr, false);
    if (j.is_discarded())
      throw RestError("BadResponse", id + ": " + what + ": reply is not JSON: " + resp.body.substr(0, 200), false);
    return j;
  }
}

}  // namespace ami::exchanges::binance
