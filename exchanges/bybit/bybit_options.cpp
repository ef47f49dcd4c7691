// Parsing of the bybit connector's options (see bybit_options.h).
#include "bybit_options.h"

#include <cmath>
#include <optional>

namespace ami::exchanges::bybit {
namespace {

std::optional<bool> ParseBool(const nlohmann::json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "true" || s == "yes" || s == "1") return true;
    if (s == "false" || s == "no" || s == "0") return false;
  }
  return std::nullopt;
}

std::optional<std::string> ParseUrl(const nlohmann::json& v, const char* const schemes[2]) {
  if (!v.is_string()) return std::nullopt;
  std::string s = v.get<std::string>();
  while (!s.empty() && s.back() == '/') s.pop_back();
  for (int i = 0; i < 2; ++i) {
    const std::string prefix = std::string(schemes[i]) + "://";
    if (s.size() > prefix.size() && s.compare(0, prefix.size(), prefix) == 0) return s;
  }
  return std::nullopt;
}

}  // namespace

long long ParseDurationMs(const nlohmann::json& value) {
  if (value.is_number()) {
    const double d = value.get<double>();
    return std::isfinite(d) && d >= 0 ? static_cast<long long>(d) : -1;
  }
  if (!value.is_string()) return -1;
  const std::string s = value.get<std::string>();
  std::size_t used = 0;
  double number = 0;
  try {
    number = std::stod(s, &used);
  } catch (...) {
    return -1;
  }
  if (!std::isfinite(number) || number < 0) return -1;
  const std::string unit = s.substr(used);
  double ms = 0;
  if (unit.empty() || unit == "ms") ms = number;
  else if (unit == "s") ms = number * 1000;
  else if (unit == "m") ms = number * 60000;
  else return -1;
  return static_cast<long long>(std::llround(ms));
}

bool ParseOptions(const nlohmann::json& options, BybitOptions& out, std::string& error) {
  static const char* const kHttp[2] = {"http", "https"};
  static const char* const kWs[2] = {"ws", "wss"};
  if (!options.is_object()) {
    error = "bybit options must be an object";
    return false;
  }
  auto fail = [&](const std::string& key, const std::string& why) {
    error = "bybit option " + key + ": " + why;
    return false;
  };
  std::string base_url, ws_url;
  for (const auto& [key, v] : options.items()) {
    if (key == "exchange_id") {
      if (!v.is_string() || v.get<std::string>().empty()) return fail(key, "must be a non-empty string");
      out.exchange_id = v.get<std::string>();
    } else if (key == "data_dir") {
      // Added by the host for connectors that keep state; bybit keeps none on disk.
    } else if (key == "testnet") {
      auto b = ParseBool(v);
      if (!b) return fail(key, "must be true or false, got " + v.dump());
      out.testnet = *b;
    } else if (key == "verify_tls") {
      auto b = ParseBool(v);
      if (!b) return fail(key, "must be true or false, got " + v.dump());
      out.verify_tls = *b;
    } else if (key == "base_url") {
      auto u = ParseUrl(v, kHttp);
      if (!u) return fail(key, "must be an http:// or https:// URL, got " + v.dump());
      base_url = *u;
    } else if (key == "ws_url") {
      auto u = ParseUrl(v, kWs);
      if (!u) return fail(key, "must be a ws:// or wss:// URL, got " + v.dump());
      ws_url = *u;
    } else if (key == "recv_window") {
      const long long ms = ParseDurationMs(v);
      if (ms < 1 || ms > 60000) return fail(key, "must be 1..60000 ms, got " + v.dump());
      out.recv_window_ms = static_cast<int>(ms);
    } else if (key == "http_timeout") {
      const long long ms = ParseDurationMs(v);
      if (ms < 1 || ms > 600000) return fail(key, "must be a duration of 1 ms..10 min, got " + v.dump());
      out.http_timeout = std::chrono::milliseconds(ms);
    } else {
      return fail(key, "unknown key (known: testnet, base_url, ws_url, recv_window, verify_tls, http_timeout)");
    }
  }
  out.base_url = !base_url.empty() ? base_url : out.testnet ? kTestnetRest : kMainnetRest;
  out.ws_url = !ws_url.empty() ? ws_url : out.testnet ? kTestnetWs : kMainnetWs;
  return true;
}

}  // namespace ami::exchanges::bybit
