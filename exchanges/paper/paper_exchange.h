// The paper exchange: a simulated spot exchange behind the CCXT interface.
//
// - Markets BTC/USDT, ETH/USDT, SOL/USDT (more via options) with tick-size precision
//   and min amount / min cost limits. Prices follow PriceProcess (deterministic in
//   seed and time); bid/ask = mid ∓ spread/2, rounded outward to the price tick.
// - Market orders fill at once at the ask (buy) or bid (sell), taker fee. Limit orders
//   that cross the book on arrival fill the same way; others rest (reserving funds) and
//   fill at their limit price, maker fee, on the first tick whose last price reaches
//   them — also ticks that passed while the exchange was not running. Fills are whole.
// - Fees are charged in the currency received (base on buys, quote on sells).
// - Balances per account (CallContext::account_id, "" = "default") start from
//   `starting_balances`; `used` is what open orders reserve.
// - params.clientOrderId makes createOrder idempotent per account; fetchOrder and
//   cancelOrder also find orders by params.clientOrderId.
// - Fencing: a call whose term is lower than the highest seen for its worker fails with
//   PermissionDenied "<exchange>: fenced: term A < B for worker <sid> ..." and does
//   nothing; term 0 is unfenced. The highest terms are part of the persisted state.
// - State: every call that changes something appends one line (what it changed) to the
//   journal <data_dir>/paper-<exchange_id>.jsonl (paper_state.h, ami/plugin/journal.h);
//   calls share fsyncs, and a call is answered only once the fsync holding its line
//   (and every line before it) has returned — MakeDurable() below — so kill -9 loses no
//   acknowledged order. Start-up replays the journal (a torn last line is dropped; a
//   damaged line stops Create with "journal <file>:<line>: …"); when it has grown past
//   `compact_bytes` (and 4 × the last snapshot) it is replaced by one snapshot line,
//   crash-safely. A former paper-<id>.json state file starts the journal.
// - Faults: latency_ms, network_error_rate (NetworkError, nothing happened) and
//   timeout_rate (RequestTimeout, but the call DID take effect — as a lost response).
//   With test_controls, paperInjectFault(kind, count, method?) makes the next `count`
//   calls (of `method`, or of any method) fail the same way, deterministically: kind
//   "network" before the call takes effect, "timeout" after it ("ambiguous").
// - Thread-safe: one mutex around the state; latency, fsyncs and the text of the hot
//   calls' answers (Answer) are spent outside it.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ami/plugin/connector_base.h"
#include "ami/plugin/journal.h"
#include "paper_options.h"
#include "paper_state.h"
#include "price_process.h"

namespace ami::paper {

inline constexpr const char* kPaperVersion = "1.0.0";

class PaperExchange final : public plugin::ConnectorBase {
 public:
  // nullptr (and `error`) when the journal (or a former state file) cannot be read.
  static std::unique_ptr<PaperExchange> Create(PaperOptions options, std::string& error);
  // The exchange as the host sees it: every answer waits for the journal's fsync that
  // holds the call's changes (CallAsync: without holding the caller's thread, so the
  // calls of many workers share one fsync; Call: blocking). A journal that failed turns
  // every later answer into ExchangeError. Memory-only (no data_dir): answers at once.
  // Either way calls go through Answer (its fast path).
  static std::unique_ptr<plugin::ExchangeConnector> MakeDurable(std::unique_ptr<PaperExchange> x);

  plugin::JournalFile* journal() const { return journal_.get(); }   // null: memory only

  // One call as the host makes it (what MakeDurable's connector forwards). createOrder,
  // cancelOrder and fetchOrder — a trading loop's calls — skip the nlohmann object: the
  // order is copied under the lock and written as text after it (paper_json.h), the
  // bytes ConnectorBase::Call would give, with the same argument checks, faults and
  // errors. Every other method goes through ConnectorBase::Call.
  plugin::CallResult Answer(const Ctx& ctx, const std::string& method, const std::string& args_json);

 protected:
  std::string id() const override { return "paper"; }
  std::string name() const override;
  std::string version() const override { return kPaperVersion; }
  Json has() const override;
  std::vector<plugin::ExtensionMethod> extensions() const override;
  Json describeExtra() const override;
  void beforeCall(const Ctx& ctx, const std::string& method) override;
  void afterCall(const Ctx& ctx, const std::string& method, Json& result) override;

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
  Json CallExtension(const Ctx&, const std::string& method,
                     const plugin::CallArgs& args) override;

 private:
  struct Market {
    MarketSpec spec;
    PriceProcess process;
  };
  struct Quote {
    double bid, ask, last;
  };
  class Txn;   // holds the lock for one call; enters (fencing, fills) and persists
  // An order as answered, copied under the lock so its text is written outside it.
  struct OrderCopy {
    Order order;
    std::vector<Trade> trades;   // its kept fills
    std::vector<const Trade*> TradePointers() const;
  };

  explicit PaperExchange(PaperOptions options);

  // All *Locked members need mu_ held (a Txn).
  void EnterLocked(const Ctx& ctx);
  std::string OpenJournal();                             // Create: replay or start the journal
  void CommitLocked();                                   // journals changes_; compacts when due
  void SetStatusLocked(Order& o, const char* status);    // keeps index_ in step
  std::int64_t NowLocked() const;
  std::int64_t StepOf(std::int64_t ms) const;
  const Market& FindMarket(const std::string& symbol) const;   // BadSymbol
  double MidLocked(const Market& m, std::int64_t step) const;
  Quote QuoteLocked(const Market& m, std::int64_t step) const;
  void AdvanceLocked();                                 // fills resting orders up to now_
  void FillRestingLocked(const Market& m, std::int64_t step, double last);
  void FillLocked(Order& o, double price, bool taker, std::int64_t ts);
  std::string AccountKey(const Ctx& ctx) const;
  Account& AccountLocked(const Ctx& ctx);               // creates with starting balances
  double UsedLocked(const std::string& account, const std::string& currency) const;
  double FreeLocked(const std::string& account, const std::string& currency) const;
  Order* FindOrderLocked(const std::string& account, const std::string& id,
                         const Json& params);
  void TrimLocked(const std::string& account);
  std::vector<const Order*> SelectOrdersLocked(const std::string& account,
                                               const std::optional<std::string>& symbol,
                                               const char* status_filter) const;
  double Roll();                                        // deterministic fault dice
  // Consumes one armed paperInjectFault of `kind` matching `method`, if any.
  bool TakeInjectedFault(const std::string& kind, const std::string& method);

  // The bodies of createOrder, cancelOrder and fetchOrder (each one Txn), shared by
  // ConnectorBase's path and Answer's.
  OrderCopy PlaceOrder(const Ctx& ctx, const std::string& symbol, const std::string& type,
                       const std::string& side, double amount, std::optional<double> price,
                       const Json& params);
  OrderCopy CancelOne(const Ctx& ctx, const std::string& id, const std::optional<std::string>& symbol,
                      const Json& params);
  OrderCopy FetchOne(const Ctx& ctx, const std::string& id, const std::optional<std::string>& symbol,
                     const Json& params);
  OrderCopy CopyLocked(const Order& o) const;

  Json MarketJson(const Market& m) const;
  Json TickerJsonLocked(const Market& m) const;
  Json OrderJsonLocked(const Order& o) const;
  Json BalanceJsonLocked(const std::string& account) const;
  Json OrderListLocked(std::vector<const Order*> orders, std::optional<std::int64_t> since,
                       std::optional<std::int64_t> limit) const;

  PaperOptions options_;
  std::vector<Market> markets_;
  std::map<std::string, std::size_t, std::less<>> market_index_;
  std::filesystem::path journal_file_;   // empty: memory only

  mutable std::mutex mu_;
  State state_;
  Index index_;
  Changes changes_;                        // of the current call (under mu_)
  std::unique_ptr<plugin::JournalFile> journal_;
  std::uint64_t snapshot_bytes_ = 0;       // size of the journal's last snapshot
  std::int64_t now_ = 0;   // time of the current call (under mu_)
  std::atomic<std::uint64_t> fault_counter_{0};

  struct InjectedFault {
    std::string kind;     // "network" | "timeout"
    std::string method;   // "" = any method
    std::int64_t remaining = 0;
  };
  std::mutex faults_mu_;                  // separate from mu_: faults happen outside a Txn
  std::vector<InjectedFault> injected_;   // guarded by faults_mu_
};

}  // namespace ami::paper
