// The bybit connector: Bybit's v5 unified API (spot and linear USDT/USDC perpetuals and
// futures) behind the CCXT interface. Markets come from v5/market/instruments-info; a
// symbol's market decides the `category` of every request ("BTC/USDT" → spot,
// "BTC/USDT:USDT" → linear). Results are CCXT's unified shapes (bybit_parse.h).
//
// Methods and endpoints (docs/exchanges.md lists them with their limits):
//   loadMarkets/fetchMarkets   GET v5/market/instruments-info (spot; linear paged)
//   fetchTicker(s)             GET v5/market/tickers          fetchOrderBook  GET v5/market/orderbook
//   fetchTrades                GET v5/market/recent-trade     fetchOHLCV      GET v5/market/kline
//   fetchBalance               GET v5/account/wallet-balance (accountType UNIFIED)
//   createOrder                POST v5/order/create           cancelOrder     POST v5/order/cancel
//   cancelAllOrders            POST v5/order/cancel-all
//   fetchOrder                 GET v5/order/realtime, then v5/order/history
//   fetchOpenOrders            GET v5/order/realtime          fetchClosedOrders GET v5/order/history (Filled)
//   fetchOrders                both of the above              fetchMyTrades   GET v5/execution/list
//   watchTicker / watchOrderBook / watchTrades (public streams), watchOrders (private)
//
// Rules beyond CCXT's own (each because a runtime worker relies on it):
//   - Private methods without credentials fail with AuthenticationError before anything
//     is sent (beforeCall).
//   - createOrder always sends an orderLinkId: params.clientOrderId (the runtime always
//     gives one), mapped to a valid Bybit id when it is not one (longer than 36 or other
//     characters than [A-Za-z0-9_-]: "ami-h-" + 30 hex digits of its SHA-256, the same
//     every time, so a retry still deduplicates; orders read back show the original id
//     while this process remembers it).
//   - Ambiguous createOrder (timeout or lost connection after sending): the order is looked
//     up by orderLinkId; found → returned; not found → RequestTimeout, and the runtime
//     sends the SAME clientOrderId again. An orderLinkId Bybit reports as a duplicate
//     (110072, 30001, 12141) is looked up and returned: creation is idempotent per id.
//   - Calls without a symbol (open orders, cancel all, my trades, fetchOrder, tickers)
//     cover both categories unless params.category / params.type says which.
// Thread-safe: the host calls from several threads; markets are an immutable snapshot.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ami/plugin/connector_base.h"
#include "bybit_options.h"
#include "bybit_parse.h"
#include "bybit_rest.h"

namespace ami::exchanges::bybit {

inline constexpr const char* kBybitVersion = "1.0.0";

class BybitStreams;

class BybitConnector final : public plugin::ConnectorBase {
 public:
  explicit BybitConnector(BybitOptions options);
  ~BybitConnector() override;

  void CancelWorker(const std::string& worker_sid) override;

  // For tests and benchmarks.
  BybitRest& rest() { return *rest_; }
  BybitStreams& streams() { return *streams_; }
  // The orderLinkId sent for a clientOrderId (see the rules above).
  static std::string OrderLinkIdFor(const std::string& client_order_id);

  // The markets, loaded on first use (reload = fetch again). Throws CcxtError.
  std::shared_ptr<const Markets> LoadMarketsSnapshot(bool reload);
  // Parses orders the way every method does (restores long clientOrderIds).
  Json ParseOrderFor(const Json& raw, const Markets& markets, const std::string& category);

 protected:
  std::string id() const override { return "bybit"; }
  std::string name() const override { return "Bybit"; }
  std::string version() const override { return kBybitVersion; }
  std::vector<std::string> countries() const override { return {"VG"}; }
  Json has() const override;
  Json describeExtra() const override;
  void beforeCall(const Ctx& ctx, const std::string& method) override;

  Json loadMarkets(const Ctx&, bool reload, const Json& params) override;
  Json fetchMarkets(const Ctx&, const Json& params) override;
  Json fetchTicker(const Ctx&, const std::string& symbol, const Json& params) override;
  Json fetchTickers(const Ctx&, const std::optional<std::vector<std::string>>& symbols,
                    const Json& params) override;
  Json fetchOrderBook(const Ctx&, const std::string& symbol, std::optional<std::int64_t> limit,
                      const Json& params) override;
  Json fetchTrades(const Ctx&, const std::string& symbol, std::optional<std::int64_t> since,
                   std::optional<std::int64_t> limit, const Json& params) override;
  Json fetchOHLCV(const Ctx&, const std::string& symbol, const std::string& timeframe,
                  std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                  const Json& params) override;
  Json fetchBalance(const Ctx&, const Json& params) override;
  Json createOrder(const Ctx&, const std::string& symbol, const std::string& type,
                   const std::string& side, double amount, std::optional<double> price,
                   const Json& params) override;
  Json cancelOrder(const Ctx&, const std::string& id, const std::optional<std::string>& symbol,
                   const Json& params) override;
  Json cancelAllOrders(const Ctx&, const std::optional<std::string>& symbol,
                       const Json& params) override;
  Json fetchOrder(const Ctx&, const std::string& id, const std::optional<std::string>& symbol,
                  const Json& params) override;
  Json fetchOrders(const Ctx&, const std::optional<std::string>& symbol,
                   std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                   const Json& params) override;
  Json fetchOpenOrders(const Ctx&, const std::optional<std::string>& symbol,
                       std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                       const Json& params) override;
  Json fetchClosedOrders(const Ctx&, const std::optional<std::string>& symbol,
                         std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                         const Json& params) override;
  Json fetchMyTrades(const Ctx&, const std::optional<std::string>& symbol,
                     std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                     const Json& params) override;
  void Watch(const Ctx&, const std::string& method, const plugin::CallArgs& args,
             plugin::CallCompletion done) override;

 private:
  using OJson = nlohmann::ordered_json;
  struct Found {
    Json order;   // null when not found
  };

  const Market& Need(const Markets& markets, const std::string& symbol) const;   // BadSymbol
  // The categories a call without a symbol covers; removes category/type from params.
  std::vector<std::string> Categories(const std::optional<std::string>& symbol, const Markets& markets,
                                      Json& params) const;
  // Appends params (minus `omit`) to `request`, as CCXT's extend(request, params).
  static void Extend(OJson& request, const Json& params, std::initializer_list<const char*> omit = {});
  Json PublicGet(const std::string& path, OJson params, const std::string& category = "");
  Json PrivateGet(const Ctx& ctx, const std::string& path, OJson params, const std::string& category);
  // GET list endpoints, following nextPageCursor up to `max_pages`.
  Json PagedList(const Ctx& ctx, const std::string& path, OJson params, const std::string& category,
                 int max_pages);
  // An order by orderId or orderLinkId in `category` (realtime, then history); null if none.
  Json FindOrder(const Ctx& ctx, const Markets& markets, const std::string& category,
                 const std::optional<std::string>& market_id, const std::string& id_key,
                 const std::string& id_value);
  Json OrdersIn(const Ctx& ctx, const Markets& markets, const std::string& path,
                const std::optional<std::string>& symbol, const std::string& category, OJson extra,
                std::optional<std::int64_t> limit, Json params);
  void RememberClientId(const std::string& link, const std::string& original);

  BybitOptions options_;
  std::unique_ptr<BybitRest> rest_;
  std::unique_ptr<BybitStreams> streams_;

  std::mutex load_mu_;                           // held while loading (one load at a time)
  mutable std::mutex markets_mu_;                // short: guards markets_ only (stream threads read it)
  std::shared_ptr<const Markets> markets_;

  std::mutex ids_mu_;
  std::map<std::string, std::string> original_ids_;   // orderLinkId → clientOrderId (mapped ones)
  std::deque<std::string> id_order_;                  // oldest first, bounded
};

}  // namespace ami::exchanges::bybit
