// The bybit connector's REST transport (see bybit_rest.h).
#include "bybit_rest.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "ami/plugin/connector_base.h"
#include "ami/plugin/errors.h"
#include "ami/plugin/net/error_map.h"
#include "ami/plugin/net/signing.h"
#include "bybit_errors.h"
#include "bybit_sign.h"

namespace ami::exchanges::bybit {

namespace net = plugin::net;
using Clock = std::chrono::steady_clock;

namespace {

// Bybit's published per-account limits (docs/v5/rate-limit/rate-limit.mdx, UTA 2.0 Pro),
// requests per second. Endpoints not listed share only the IP limit.
struct EndpointLimit {
  const char* path;
  double spot, linear;   // per category; the same number when the limit is shared
  bool per_category;
};
constexpr EndpointLimit kEndpointLimits[] = {
    {"v5/order/create", 20, 10, true},
    {"v5/order/cancel", 20, 10, true},
    {"v5/order/cancel-all", 20, 10, true},
    {"v5/order/realtime", 50, 50, false},
    {"v5/order/history", 50, 50, false},
    {"v5/execution/list", 50, 50, false},
    {"v5/account/wallet-balance", 50, 50, false},
};
constexpr double kIpLimit = 600;              // requests per 5 s per IP
constexpr std::chrono::milliseconds kIpWindow{5000};

// A bucket that never lets a rolling window of `window` see more than `limit`: at most
// `burst` at once plus `rate` per window (burst + rate <= 0.9 limit, a margin for the
// arrival jitter the exchange sees).
net::RateLimiter::Bucket SafeBucket(double limit, std::chrono::milliseconds window) {
  const double burst = std::max(1.0, std::floor(0.15 * limit));
  const double rate = 0.75 * limit;   // per window
  const auto refill = std::chrono::milliseconds(
      std::max<long long>(1, static_cast<long long>(burst / rate * static_cast<double>(window.count()))));
  return {burst, refill};
}

std::string Header(const net::HttpResponse& r, const char* name) { return r.Header(name); }

std::optional<double> HeaderNumber(const net::HttpResponse& r, const char* name) {
  const std::string v = Header(r, name);
  if (v.empty()) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (end == v.c_str()) return std::nullopt;
  return d;
}

std::string RetCodeText(const nlohmann::json& body) {
  for (const char* key : {"retCode", "ret_code"}) {
    if (!body.is_object() || !body.contains(key)) continue;
    const auto& v = body[key];
    if (v.is_number_integer()) return std::to_string(v.get<long long>());
    if (v.is_string()) return v.get<std::string>();
  }
  return "";
}

std::string RetMsg(const nlohmann::json& body) {
  for (const char* key : {"retMsg", "ret_msg"})
    if (body.is_object() && body.contains(key) && body[key].is_string()) return body[key].get<std::string>();
  return "";
}

}  // namespace

BybitRest::BybitRest(const BybitOptions& options)
    : options_(options), http_([&] {
        net::HttpClientOptions o;
        o.verify_tls = options.verify_tls;
        o.user_agent = "ami-bybit/1";
        return o;
      }()) {
  limiter_.Define("ip", SafeBucket(kIpLimit, kIpWindow));
  clock_ = std::make_unique<net::ServerClock>([this] { return FetchServerTime(); });
}

BybitRest::~BybitRest() = default;

std::optional<std::int64_t> BybitRest::FetchServerTime() {
  RestRequest r;
  r.path = "v5/market/time";
  RestOutcome out = Once(r, {}, "");
  if (!out.ok) return std::nullopt;
  const auto& t = out.body.contains("time") ? out.body["time"] : nlohmann::json();
  if (t.is_number()) return t.get<std::int64_t>();
  // Older answers carry only result.timeSecond / timeNano.
  const auto result = out.body.value("result", nlohmann::json::object());
  if (result.contains("timeNano") && result["timeNano"].is_string())
    return std::stoll(result["timeNano"].get<std::string>()) / 1000000;
  return std::nullopt;
}

std::string BybitRest::AccountBucket(const RestRequest& request, const plugin::Credentials& credentials) {
  if (request.api != "private" || credentials.api_key.empty()) return "";
  for (const auto& e : kEndpointLimits) {
    if (request.path != e.path) continue;
    std::string key = "uid:" + net::Sha256Hex(credentials.api_key).substr(0, 12) + ":" + e.path;
    double limit = e.spot;
    if (e.per_category) {
      key += ":" + request.category;
      limit = request.category == "spot" ? e.spot : e.linear;
    }
    std::lock_guard<std::mutex> lock(defined_mu_);
    if (defined_.insert(key).second) limiter_.Define(key, SafeBucket(limit, std::chrono::milliseconds(1000)));
    return key;
  }
  return "";
}

RestOutcome BybitRest::Perform(const RestRequest& request, const plugin::Credentials& credentials) {
  if (request.api == "private" && (credentials.api_key.empty() || credentials.secret.empty())) {
    RestOutcome out;
    out.error_class = plugin::errc::kAuthenticationError;
    out.message = options_.exchange_id + ": " + request.path +
                  " is private: the worker needs an account (accountId) with api_key and secret; nothing was sent";
    return out;
  }
  const std::string bucket = AccountBucket(request, credentials);
  RestOutcome out = Once(request, credentials, bucket);
  if (!out.ok && out.ret_code == "10002") {
    // The exchange refused the timestamp: measure the offset again and try once more.
    clock_->Invalidate();
    out = Once(request, credentials, bucket);
  }
  return out;
}

RestOutcome BybitRest::Once(const RestRequest& request, const plugin::Credentials& credentials,
                            const std::string& bucket) {
  RestOutcome out;
  const auto max_wait = std::min<std::chrono::milliseconds>(options_.http_timeout, std::chrono::seconds(5));
  for (const std::string& key : {std::string("ip"), bucket}) {
    if (key.empty()) continue;
    if (!limiter_.Acquire(key, 1, max_wait)) {
      out.error_class = plugin::errc::kRateLimitExceeded;
      out.message = options_.exchange_id + ": " + request.path + ": rate limit (" + (key == "ip" ? "per IP" : "per account") +
                    ") would need a wait over " + std::to_string(max_wait.count()) + " ms; nothing was sent";
      return out;
    }
  }
  SignInput in;
  in.base_url = options_.base_url;
  in.api = request.api;
  in.path = request.path;
  in.method = request.method;
  in.params = request.params;
  in.recv_window_ms = options_.recv_window_ms;
  if (request.api == "private") {
    in.credentials = credentials;
    in.timestamp_ms = clock_->NowMs();
  }
  net::HttpRequest http = SignRequest(in);
  http.timeout = options_.http_timeout;
  sent_.fetch_add(1);
  const net::HttpResponse resp = http_.Perform(http);
  out.sent = resp.sent;
  const std::string where = options_.exchange_id + " " + request.method + " " + request.path;
  if (!resp.ok()) {
    out.error_class = resp.error_class;
    out.message = where + ": " + resp.error;
    out.ambiguous = resp.sent && (resp.error_class == plugin::errc::kRequestTimeout ||
                                  resp.error_class == plugin::errc::kNetworkError);
    return out;
  }
  // What Bybit says is left of this endpoint's limit.
  if (!bucket.empty()) {
    const auto limit = HeaderNumber(resp, "X-Bapi-Limit");
    const auto left = HeaderNumber(resp, "X-Bapi-Limit-Status");
    if (limit && left && *limit > 0) limiter_.ObserveUsed(bucket, *limit - *left, *limit);
  }
  nlohmann::json body = nlohmann::json::parse(resp.body, nullptr, false);
  const std::string code = body.is_discarded() ? "" : RetCodeText(body);
  if (resp.status == 429 || resp.status == 403) {
    // 429: system protection; 403 "access too frequent": the IP limit (Bybit's docs).
    if (auto after = HeaderNumber(resp, "Retry-After"))
      limiter_.BlockUntil("ip", Clock::now() + std::chrono::milliseconds(static_cast<long long>(*after * 1000)));
  }
  if (code.empty() || resp.status < 200 || resp.status >= 300) {
    if (code.empty() || code == "0") {
      std::string cls = net::ErrorMap::ForHttpStatus(resp.status);
      if (resp.status == 403) cls = plugin::errc::kRateLimitExceeded;
      if (cls.empty()) cls = "BadResponse";   // 2xx without a retCode
      out.error_class = cls;
      out.message = where + ": HTTP " + std::to_string(resp.status) + ": " + resp.body.substr(0, 300);
      return out;
    }
  }
  out.ret_code = code;
  if (code == "0") {
    out.ok = true;
    out.body = std::move(body);
    return out;
  }
  if (code == "10006") {
    if (auto reset = HeaderNumber(resp, "X-Bapi-Limit-Reset-Timestamp")) {
      const long long wait = static_cast<long long>(*reset) - clock_->NowMs();
      if (wait > 0 && wait < 60000)
        limiter_.BlockUntil(bucket.empty() ? "ip" : bucket, Clock::now() + std::chrono::milliseconds(wait));
    }
  }
  // As CCXT's handleErrors: the broad rules on the whole body first, then the exact code.
  std::string cls = BybitErrors().Classify("", resp.body, "");
  if (cls.empty()) cls = BybitErrors().Classify(code, RetMsg(body));
  out.error_class = cls;
  out.message = where + ": retCode " + code + " " + RetMsg(body);
  return out;
}

nlohmann::json BybitRest::Call(const RestRequest& request, const plugin::Credentials& credentials) {
  RestOutcome out = Perform(request, credentials);
  if (!out.ok) throw plugin::CcxtError(out.error_class, out.message);
  return std::move(out.body);
}

}  // namespace ami::exchanges::bybit
