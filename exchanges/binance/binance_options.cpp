#include "binance_options.h"

#include <cmath>
#include <set>
#include <stdexcept>

#include "ami/plugin/connector_base.h"

namespace ami::exchanges::binance {

namespace {

using json = nlohmann::json;

struct OptionError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void Fail(const std::string& key, const std::string& why) {
  throw OptionError("option " + key + ": " + why);
}

std::string Text(const json& v, const std::string& key) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return v.dump();
  Fail(key, "expected a string, got " + v.dump());
}

bool Bool(const json& v, const std::string& key) {
  if (v.is_boolean()) return v.get<bool>();
  const std::string s = Text(v, key);
  if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  Fail(key, "expected true or false, got " + v.dump());
}

long long Integer(const json& v, const std::string& key, long long lo, long long hi) {
  auto d = plugin::ParseNumber(v);
  if (!d || !std::isfinite(*d) || *d != std::floor(*d) || *d < lo || *d > hi)
    Fail(key, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                  "], got " + v.dump());
  return static_cast<long long>(*d);
}

// "10s", "1500ms", "1m", or a number of milliseconds.
std::chrono::milliseconds Duration(const json& v, const std::string& key) {
  if (auto d = plugin::ParseNumber(v)) {
    if (*d >= 1 && *d <= 600000) return std::chrono::milliseconds(static_cast<long long>(*d));
    Fail(key, "expected 1ms..10m, got " + v.dump());
  }
  const std::string s = Text(v, key);
  std::size_t used = 0;
  double n = 0;
  try {
    n = std::stod(s, &used);
  } catch (...) {
    Fail(key, "expected a duration such as 10s or 1500ms, got " + v.dump());
  }
  const std::string unit = s.substr(used);
  double ms = 0;
  if (unit == "ms") ms = n;
  else if (unit == "s") ms = n * 1000;
  else if (unit == "m") ms = n * 60000;
  else Fail(key, "expected a duration such as 10s or 1500ms, got " + v.dump());
  if (!(ms >= 1 && ms <= 600000)) Fail(key, "expected 1ms..10m, got " + v.dump());
  return std::chrono::milliseconds(static_cast<long long>(ms));
}

std::string Url(const json& v, const std::string& key, std::initializer_list<const char*> schemes) {
  std::string s = Text(v, key);
  while (!s.empty() && s.back() == '/') s.pop_back();
  for (const char* scheme : schemes)
    if (s.rfind(scheme, 0) == 0 && s.size() > std::string(scheme).size()) return s;
  std::string list;
  for (const char* scheme : schemes) list += (list.empty() ? "" : " or ") + std::string(scheme);
  Fail(key, "expected a URL starting with " + list + ", got " + v.dump());
}

}  // namespace

bool ParseOptions(const json& options, BinanceOptions& out, std::string& error) {
  try {
    if (!options.is_null() && !options.is_object()) throw OptionError("options must be an object");
    std::string base_url, ws_url;
    if (options.is_object()) {
      for (const auto& [key, v] : options.items()) {
        if (key == "exchange_id") out.exchange_id = Text(v, key);
        else if (key == "data_dir") (void)Text(v, key);   // stateless: nothing is kept on disk
        else if (key == "market") {
          const std::string m = Text(v, key);
          if (m == "spot") out.market = MarketKind::kSpot;
          else if (m == "future" || m == "futures" || m == "swap") out.market = MarketKind::kFuture;
          else Fail(key, "expected spot or future, got " + v.dump());
        } else if (key == "testnet") out.testnet = Bool(v, key);
        else if (key == "base_url") base_url = Url(v, key, {"http://", "https://"});
        else if (key == "ws_url") ws_url = Url(v, key, {"ws://", "wss://"});
        else if (key == "recv_window") out.recv_window_ms = static_cast<int>(Integer(v, key, 1, 60000));
        else if (key == "verify_tls") out.verify_tls = Bool(v, key);
        else if (key == "http_timeout") out.http_timeout = Duration(v, key);
        else if (key == "weight_limit") out.weight_limit = static_cast<int>(Integer(v, key, 1, 1000000));
        else if (key == "proxy") out.proxy = Text(v, key);
        else Fail(key, "unknown option (known: market, testnet, base_url, ws_url, recv_window, "
                       "verify_tls, http_timeout, weight_limit, proxy)");
      }
    }
    const bool fut = out.futures();
    if (!base_url.empty()) out.rest_base = base_url;
    else if (out.testnet) out.rest_base = fut ? "https://testnet.binancefuture.com" : "https://testnet.binance.vision";
    else out.rest_base = fut ? "https://fapi.binance.com" : "https://api.binance.com";
    if (!ws_url.empty()) out.ws_base = ws_url;
    else if (out.testnet) out.ws_base = fut ? "wss://stream.binancefuture.com" : "wss://stream.testnet.binance.vision";
    else out.ws_base = fut ? "wss://fstream.binance.com" : "wss://stream.binance.com:9443";
    return true;
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
}

}  // namespace ami::exchanges::binance
