// Options of one binance connector instance, from the node config's
// `exchanges.<id>: {connector: binance, ...}` (values may arrive as strings from YAML).
// Unknown keys are refused, naming the key. See docs/exchanges.md "binance".
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

namespace ami::exchanges::binance {

enum class MarketKind { kSpot, kFuture };   // spot /api/v3 | USDⓈ-M futures /fapi/v1

struct BinanceOptions {
  std::string exchange_id = "binance";     // the config key (messages)
  MarketKind market = MarketKind::kSpot;
  bool testnet = false;
  std::string rest_base;                    // scheme://host[:port], no trailing slash
  std::string ws_base;                      // the stream socket is <ws_base>/ws
  int recv_window_ms = 0;                   // 0 = not sent (Binance's default 5000 applies)
  bool verify_tls = true;
  std::chrono::milliseconds http_timeout{10000};
  int weight_limit = 0;                     // REQUEST_WEIGHT per minute; 0 = Binance's (6000 / 2400)
  std::string proxy;                        // curl proxy syntax; "" = environment

  bool futures() const { return market == MarketKind::kFuture; }
  int EffectiveWeightLimit() const { return weight_limit > 0 ? weight_limit : (futures() ? 2400 : 6000); }
};

// Parses `options`; false with `error` = "option <key>: <why>" on a bad or unknown key.
bool ParseOptions(const nlohmann::json& options, BinanceOptions& out, std::string& error);

}  // namespace ami::exchanges::binance
