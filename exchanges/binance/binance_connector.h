// The binance connector: Binance spot (/api/v3) or USDⓈ-M futures (/fapi/v1), chosen by
// the `market` option, behind the CCXT interface (ConnectorBase). Every method `has()`
// lists maps to one Binance endpoint (docs/exchanges.md "binance" has the table with the
// weights); results are CCXT's unified shapes (binance_parse.h).
//
// - Markets come from exchangeInfo, loaded on the first call that needs them and kept
//   until loadMarkets(true) / fetchMarkets. Amounts are truncated to LOT_SIZE stepSize and
//   prices rounded to PRICE_FILTER tickSize (net/precision.h) before they are sent.
// - Private calls need the account's api_key and secret (CallContext::credentials):
//   without them they fail with AuthenticationError before anything is sent. Fencing
//   terms are checked in memory per worker (PermissionDenied for a stale term).
// - createOrder always sends the runtime's params.clientOrderId as newClientOrderId.
//   When its answer is lost (timeout / connection lost after sending / 5xx / -1007) the
//   order is looked up by origClientOrderId: found → that order is the result; not found
//   → RequestTimeout, and the host resends the SAME id. A resend of an id whose first
//   attempt was ambiguous looks it up before placing anything, and "Duplicate order
//   sent." is answered with the order that holds the id — never a second order.
// - Streams (watchTicker, watchOrderBook, watchTrades) are in binance_streams.h.
// Thread-safe: the host calls from several threads at once.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ami/plugin/connector_base.h"
#include "binance_options.h"
#include "binance_parse.h"
#include "binance_rest.h"

namespace ami::exchanges::binance {

inline constexpr const char* kBinanceVersion = "1.0.0";

class BinanceStreams;

class BinanceConnector final : public plugin::ConnectorBase {
 public:
  explicit BinanceConnector(BinanceOptions options);
  ~BinanceConnector() override;

  // For tests and benchmarks.
  BinanceRest& rest() { return rest_; }
  BinanceStreams& streams() { return *streams_; }

  // Host calls (ABI 2): a stopped worker's waiting streams end with ExchangeClosedByUser.
  void CancelWorker(const std::string& worker_sid) override;

  // The market table (loads it on first use; throws like a REST call).
  std::shared_ptr<const MarketTable> Markets(bool reload = false);
  const Market& MarketOf(const std::shared_ptr<const MarketTable>& table, const std::string& symbol) const;

 protected:
  std::string id() const override { return "binance"; }
  std::string name() const override;
  std::string version() const override { return kBinanceVersion; }
  std::vector<std::string> countries() const override { return {"JP", "MT"}; }
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
  void Watch(const Ctx& ctx, const std::string& method, const plugin::CallArgs& args,
             plugin::CallCompletion done) override;

 private:
  bool futures() const { return options_.futures(); }
  // The order with this client id, or nullopt when Binance says there is none
  // (-2013); other failures throw.
  std::optional<Json> FindByClientId(const Ctx& ctx, const Market& m, const std::string& client_id);
  Json AllOrders(const Ctx& ctx, const std::string& method, const std::optional<std::string>& symbol,
                 std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                 const Json& params, const char* status_filter);
  void MarkAmbiguous(const std::string& client_id, bool ambiguous);
  bool WasAmbiguous(const std::string& client_id);

  BinanceOptions options_;
  BinanceRest rest_;

  std::mutex markets_mu_;
  std::shared_ptr<const MarketTable> markets_;   // null until loaded

  std::mutex state_mu_;
  std::map<std::string, std::uint64_t> terms_;   // highest fencing term per worker
  std::set<std::string> ambiguous_ids_;          // client ids whose create is unresolved

  std::unique_ptr<BinanceStreams> streams_;
};

// ConnectorFactory::Create's work: options → connector, or a BadRequest message.
plugin::CallResult CreateBinanceConnector(const std::string& options_json,
                                          std::unique_ptr<plugin::ExchangeConnector>& out);

}  // namespace ami::exchanges::binance
