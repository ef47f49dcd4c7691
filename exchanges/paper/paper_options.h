// Options of one paper exchange instance, parsed from the JSON object the node config
// gives (`exchanges.<name>: {connector: paper, options...}`). Values may be JSON numbers
// or booleans, or strings holding them ("seed": "42"), since YAML options often arrive
// as strings. Unknown keys are refused so that typos do not go unnoticed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ami::paper {

struct MarketSpec {
  std::string symbol;        // "BTC/USDT"
  std::string base;          // "BTC"
  std::string quote;         // "USDT"
  double price = 0;          // base price the simulated process moves around
  double amount_step = 0;    // precision.amount (tick size)
  double price_tick = 0;     // precision.price (tick size)
  double min_amount = 0;     // limits.amount.min
  double min_cost = 0;       // limits.cost.min (in quote)
  double daily_volume = 0;   // simulated 24 h volume in base units
};

struct PaperOptions {
  std::string exchange_id = "paper";  // display name and state file name (paper-<id>.json)
  std::filesystem::path data_dir;     // state directory; empty = in memory only
  std::uint64_t seed = 1;             // price process and injected faults
  double spread = 0.0005;             // full bid/ask spread as a fraction of the mid price
  double maker_fee = 0.001;           // fraction of the traded amount
  double taker_fee = 0.001;
  std::map<std::string, double> starting_balances = {{"USDT", 10000.0}, {"BTC", 0.1}};
  std::int64_t latency_ms = 0;        // added to every call
  double network_error_rate = 0;      // P(NetworkError before the call takes effect)
  double timeout_rate = 0;            // P(RequestTimeout after the call took effect)
  double volatility = 0.02;           // approximate daily volatility of the log price
  std::int64_t tick_ms = 1000;        // the price changes once per tick
  bool manual_clock = false;          // time moves only with paperAdvanceTime (tests)
  std::int64_t start_time_ms = 1704067200000;  // manual clock start (2024-01-01)
  bool test_controls = false;         // enables paperSetPrice / paperAdvanceTime / paperSetBalance
  bool require_credentials = false;   // private calls need an api key (AuthenticationError)
  std::size_t max_closed_orders = 1000;  // per account; older closed/canceled orders are dropped
  std::int64_t compact_bytes = 8 << 20;  // journal size past which it is rewritten as one snapshot
  std::int64_t fsync_delay_ms = 0;       // added before every journal fsync (slow-disk trials)
  std::vector<MarketSpec> markets;    // defaults: BTC/USDT, ETH/USDT, SOL/USDT
};

std::vector<MarketSpec> DefaultMarkets();

// Parses `options`; on error returns false and sets `error` to "option <key>: <why>".
bool ParseOptions(const nlohmann::json& options, PaperOptions& out, std::string& error);

// A JSON summary of the options (for Describe()).
nlohmann::json OptionsSummary(const PaperOptions& o);

}  // namespace ami::paper
