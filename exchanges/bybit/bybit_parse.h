// Bybit v5 responses → CCXT unified structures, as pure functions (no I/O) so they can be
// unit-tested against the documentation's examples. Each follows what CCXT's bybit
// parse* method (ccxt 4.5, ts/src/bybit.ts) plus the base class's safe* helper makes of
// the same input: numbers from Bybit's decimal strings, "" treated as absent, the derived
// fields CCXT fills in (ticker change/average/vwap, order remaining/average/cost, balance
// used/free, trade cost and fees).
//
// Only spot and linear (USDT/USDC-settled perpetuals and futures) markets are parsed.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ami::exchanges::bybit {

using Json = nlohmann::json;

// One market, as the connector needs it, plus its CCXT shape (`ccxt`).
struct Market {
  std::string symbol;        // "BTC/USDT" (spot) or "BTC/USDT:USDT" (linear perpetual)
  std::string id;            // "BTCUSDT"
  std::string category;      // "spot" | "linear"
  std::string base, quote, settle;
  std::string amount_step;   // decimal text: spot basePrecision, linear qtyStep
  std::string price_tick;    // priceFilter.tickSize
  double contract_size = 1;
  bool active = true;
  Json ccxt;                 // the unified market structure
};

// The markets of one load, looked up by symbol or by (category, id).
class Markets {
 public:
  void Add(Market m);
  const Market* BySymbol(const std::string& symbol) const;
  const Market* ById(const std::string& category, const std::string& id) const;
  const std::vector<Market>& all() const { return markets_; }
  bool empty() const { return markets_.empty(); }

 private:
  std::vector<Market> markets_;
  std::map<std::string, std::size_t> by_symbol_;
  std::map<std::string, std::size_t> by_id_;   // "<category>:<id>"
};

// v5/market/instruments-info list items. nullopt for items that are not spot / linear.
std::optional<Market> ParseSpotMarket(const Json& raw);
std::optional<Market> ParseLinearMarket(const Json& raw);

// Symbol for a market id CCXT-style: the market's symbol, or the id itself when unknown.
std::string SymbolOf(const Markets& markets, const std::string& category, const std::string& id);

// v5/market/tickers item (or a merged tickers.* stream snapshot). `category` "spot"|"linear".
Json ParseTicker(const Json& raw, const Markets& markets, const std::string& category);
// v5/market/orderbook result {s, b, a, ts, u}: CCXT order book (nonce null, as CCXT).
Json ParseOrderBook(const Json& result, const std::string& symbol, std::size_t limit = 0);
// v5/market/recent-trade / v5/execution/list items, publicTrade stream items ({T,s,S,v,p,i}).
Json ParseTrade(const Json& raw, const Markets& markets, const std::string& category);
Json ParsePublicStreamTrade(const Json& raw, const Markets& markets, const std::string& category);
// v5/market/kline list row [start, open, high, low, close, volume, turnover].
Json ParseOHLCV(const Json& row);
// v5/order/* items and order stream items; `category` when the item has none.
Json ParseOrder(const Json& raw, const Markets& markets, const std::string& category);
// The whole v5/account/wallet-balance response.
Json ParseBalance(const Json& response);

// CCXT's filterBySinceLimit, after sorting by `timestamp` (or [0] for OHLCV rows): items
// at or after `since`; then the first `limit` of them when `since` was given, else the last.
Json FilterSinceLimit(Json list, std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                      bool ohlcv = false);

// Bybit's enum texts ↔ CCXT's.
std::string OrderStatus(const std::string& bybit_status);   // "New" → "open", ...
std::string TimeInForce(const std::string& bybit_tif);      // "GoodTillCancel" → "GTC", ...

// Helpers shared with the connector: a decimal string / number field as a JSON number
// (null when absent or ""), and as text ("" when absent).
Json NumberField(const Json& object, const char* key);
std::string TextField(const Json& object, const char* key);
Json DatetimeOrNull(const Json& timestamp);   // ISO 8601 of a ms timestamp, null for null

}  // namespace ami::exchanges::bybit
