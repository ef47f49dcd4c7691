// Options of one bybit exchange instance, from the node config (`exchanges.<id>:
// {connector: bybit, ...}`; the host strips connector/timeout/threads and adds
// exchange_id and data_dir). Values may arrive as strings ("true", "5000", "10s").
// Unknown keys are refused, naming the key.
//
//   testnet       bool, false   api-testnet.bybit.com / stream-testnet.bybit.com
//   base_url      URL           REST origin override (tests, proxies): http://127.0.0.1:9100
//   ws_url        URL           stream origin override: <ws_url>/v5/public/spot,
//                               <ws_url>/v5/public/linear, <ws_url>/v5/private
//   recv_window   ms, 5000      X-BAPI-RECV-WINDOW (1..60000)
//   verify_tls    bool, true    false only for loopback tests
//   http_timeout  duration, 10s one REST request (keep it below the exchange's `timeout`)
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

namespace ami::exchanges::bybit {

inline constexpr const char* kMainnetRest = "https://api.bybit.com";
inline constexpr const char* kTestnetRest = "https://api-testnet.bybit.com";
inline constexpr const char* kMainnetWs = "wss://stream.bybit.com";
inline constexpr const char* kTestnetWs = "wss://stream-testnet.bybit.com";

struct BybitOptions {
  std::string exchange_id = "bybit";
  bool testnet = false;
  std::string base_url;                 // resolved: never empty after ParseOptions
  std::string ws_url;                   // resolved likewise
  int recv_window_ms = 5000;
  bool verify_tls = true;
  std::chrono::milliseconds http_timeout{10000};
};

// Parses `options`; on error returns false and sets `error` ("bybit option <key>: <why>").
bool ParseOptions(const nlohmann::json& options, BybitOptions& out, std::string& error);

// "1500" / 1500 → 1500 ms, "1.5s", "250ms", "2m"; -1 when not a duration.
long long ParseDurationMs(const nlohmann::json& value);

}  // namespace ami::exchanges::bybit
