// Binance payloads → CCXT unified structures (markets, tickers, order books, trades,
// OHLCV, balances, orders), as pure functions over nlohmann::json so they are tested
// against the API documentation's examples without a server. Numbers arrive as decimal
// strings ("0.00100000") and leave as JSON numbers, like CCXT's safeNumber.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ami::exchanges::binance {

using Json = nlohmann::json;

struct Market {
  std::string id;            // "BTCUSDT"
  std::string symbol;        // "BTC/USDT", "BTC/USDT:USDT", "BTC/USDT:USDT-240628"
  std::string base, quote, settle;
  std::string type;          // spot | swap | future
  bool active = true;
  std::string amount_step;   // LOT_SIZE stepSize as sent ("0.00001000")
  std::string price_tick;    // PRICE_FILTER tickSize
  double min_amount = 0, max_amount = 0, min_price = 0, max_price = 0, min_cost = 0;
  Json json;                 // the CCXT market
};

struct MarketTable {
  std::vector<Market> list;
  std::map<std::string, std::size_t> by_symbol;
  std::map<std::string, std::size_t> by_id;

  const Market* Find(const std::string& symbol) const;
  const Market* FindId(const std::string& id) const;
};

// exchangeInfo → markets. Spot keeps the symbols that allow SPOT trading; futures keeps
// PERPETUAL (swap, "BTC/USDT:USDT") and delivery contracts (future, "…:USDT-YYMMDD").
std::shared_ptr<const MarketTable> ParseMarkets(const Json& exchange_info, bool futures);

// A decimal string or number → double; nullopt for absent/null/unparseable.
std::optional<double> Num(const Json& object, const char* key);
Json NumOrNull(const Json& object, const char* key);
std::optional<double> NumValue(const Json& value);

Json ParseTicker(const Json& t, const Market& m);          // REST 24hr
Json ParseWsTicker(const Json& t, const Market& m);        // stream 24hrTicker
Json ParseOrderBook(const Json& depth, const Market& m, std::optional<std::int64_t> limit);
Json ParsePublicTrade(const Json& t, const Market& m);     // REST trades, stream trade/aggTrade
Json ParseMyTrade(const Json& t, const Market& m);         // myTrades / userTrades
Json ParseOhlcv(const Json& kline);
Json ParseBalance(const Json& reply, bool futures);        // account / fapi v2 balance
Json ParseOrder(const Json& o, const Market& m);
std::string OrderStatus(const std::string& binance_status);

std::string Iso(std::int64_t ms);   // "" → null handled by callers; CCXT iso8601

}  // namespace ami::exchanges::binance
