// ami-exchange-sim's configuration (docs/exchange-sim.md "Config"): one YAML or JSON file
// (JSON is YAML) naming the accounts that may sign requests, the markets and the price
// process. Unknown keys are refused so that a typo is not silently ignored; every error
// names the file, the line:column and the key path ("sim.yaml:7:5: accounts[1].secret:
// missing").
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ami::exchange_sim {

struct SimAccount {
  std::string name;                        // journal / order owner ("" in the file = the api key)
  std::string api_key;
  std::string secret;
  std::map<std::string, double> balances;  // starting balances per coin
};

struct SimMarketSpec {
  std::string base, quote;                 // "BTC", "USDT" → Bybit id BTCUSDT, symbol BTC/USDT
  double price = 0;                        // base price the process moves around
  std::string price_tick = "0.01";         // decimal text (Bybit priceFilter.tickSize)
  std::string amount_step = "0.000001";    // decimal text (Bybit lotSizeFilter.basePrecision)
  double min_qty = 0;                      // lotSizeFilter.minOrderQty
  double min_cost = 5;                     // lotSizeFilter.minOrderAmt (quote)
  double daily_volume = 1000;              // simulated 24 h volume in base units
};

struct SimConfig {
  std::vector<SimAccount> accounts;
  std::vector<SimMarketSpec> markets;      // defaults: BTC/USDT, ETH/USDT, SOL/USDT (as paper)
  std::uint64_t seed = 1;                  // price paths: same seed → same prices as paper
  double volatility = 0.02;                // ≈ daily σ of the log price; 0 = constant
  std::int64_t tick_ms = 1000;             // price step, resting-order sweep, stream pushes
  double spread = 0.0005;                  // full bid/ask spread, fraction of mid
  double maker_fee = 0.001, taker_fee = 0.001;
  std::int64_t recv_window_max_ms = 60000; // largest X-BAPI-RECV-WINDOW accepted
  std::int64_t fsync_delay_ms = 0;         // added before every journal fsync (slow-disk trials)
};

std::vector<SimMarketSpec> DefaultSimMarkets();

// Reads and checks `file`. false with `error` set ("<file>:<line>:<col>: <path>: <why>").
bool LoadSimConfig(const std::string& file, SimConfig& out, std::string& error);

}  // namespace ami::exchange_sim
