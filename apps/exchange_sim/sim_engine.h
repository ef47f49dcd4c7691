// The simulator's exchange: ONE set of books, orders and balances for every node that
// connects, spot markets only, in Bybit v5's shapes. Prices come from the paper
// exchange's PriceProcess (exchanges/paper/price_process.h) with the paper exchange's
// quote rule (bid/ask = mid ∓ spread/2 rounded outward to the tick), so a sim and a paper
// exchange with the same seed see the same prices at the same instant.
//
// Event sourced: every change of state is an event (a JSON object: accepted, refused,
// filled, cancelled — docs/exchange-sim.md "Journal") applied by Apply(). Live requests
// build their events, apply them and hand them back for the journal; on start the
// journal's events are applied again, so the state after a restart is exactly the
// state the journal describes (nothing else is persisted).
//
// Rules beyond plain matching (each one because a runtime or a trial checker relies on it):
//   - orderLinkId is unique per account, forever: a second create answers 110072 and the
//     first order stays findable by orderLinkId (the connector's ambiguous-timeout lookup);
//   - fencing: the runtime's leader-mode ids are ami-<sid8>-<term>-<start36>-<seq>; a create
//     whose term is lower than the highest accepted for that sid8 is refused with retCode
//     10005 (permission denied → PermissionDenied in the connector), journaled with
//     refused_stale true and counted. Other ids are unfenced.
//   - market orders and limit orders crossing on arrival fill whole at the ask/bid (taker);
//     resting limit orders fill whole at their price (maker) on the first Sweep() whose
//     last price reaches them. Fees are charged in the currency received.
// Not thread-safe: the server holds one mutex around every call.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/exchange_sim/sim_config.h"
#include "exchanges/paper/price_process.h"

namespace ami::exchange_sim {

using Json = nlohmann::json;

// A Bybit answer: retCode/retMsg and the `result` object.
struct Reply {
  int code = 0;
  std::string msg = "OK";
  Json result = Json::object();
};

struct SimStats {
  std::uint64_t accepted = 0, refused_stale = 0, refused_other = 0, fills = 0, cancels = 0, duplicates = 0;
};

// The fencing fields of a runtime clientOrderId; term 0 = unfenced.
struct Fence {
  std::string sid8;
  std::uint64_t term = 0;
};
Fence ParseFence(const std::string& client_order_id);

class SimEngine {
 public:
  explicit SimEngine(SimConfig config);

  // Applies one event (live or replayed). Throws std::runtime_error on a malformed one.
  void Apply(const Json& event);

  // Mutations: append the events they applied to `events` (to be journaled).
  Reply Create(const std::string& account, const Json& params, std::int64_t now, std::vector<Json>& events);
  Reply Cancel(const std::string& account, const Json& params, std::int64_t now, std::vector<Json>& events);
  Reply CancelAll(const std::string& account, const Json& params, std::int64_t now, std::vector<Json>& events);
  // Fills the resting limit orders the current last price reaches.
  void Sweep(std::int64_t now, std::vector<Json>& events);

  // Reads.
  Reply Instruments(const Json& params) const;
  Reply Tickers(const Json& params, std::int64_t now) const;
  Reply OrderBook(const Json& params, std::int64_t now) const;
  Reply RecentTrades(const Json& params, std::int64_t now) const;
  Reply Kline(const Json& params, std::int64_t now) const;
  Reply Orders(const std::string& account, const Json& params, bool realtime) const;
  Reply Executions(const std::string& account, const Json& params) const;
  Reply Wallet(const std::string& account) const;

  // For the streams.
  bool HasMarket(const std::string& id) const { return markets_.count(id) > 0; }
  std::vector<std::string> MarketIds() const;
  Json TickerItem(const std::string& id, std::int64_t now) const;
  Json BookData(const std::string& id, int depth, std::int64_t now) const;   // {s, b, a, u, seq}
  Json TradeItem(const std::string& id, std::int64_t now) const;             // publicTrade item
  Json OrderItem(const std::string& order_id) const;                         // null when unknown
  std::string OrderAccount(const std::string& order_id) const;

  const SimConfig& config() const { return config_; }
  const SimStats& stats() const { return stats_; }

 private:
  struct Market {
    SimMarketSpec spec;
    std::string id;          // BTCUSDT
    double tick = 0, step = 0;
    paper::PriceProcess process;
  };
  struct Quote {
    double bid, ask, last;
  };
  struct Order {
    std::string order_id, link, account, sid8, symbol, side, type, tif, status = "New";
    std::string cancel_type = "UNKNOWN", reject_reason = "EC_NoError";
    std::uint64_t term = 0;
    double price = 0, qty = 0, filled = 0, value = 0, fee = 0;
    std::string fee_coin;
    std::int64_t created = 0, updated = 0;
    bool open() const { return status == "New" || status == "PartiallyFilled"; }
  };
  struct Exec {
    std::string exec_id, order_id, account, symbol;
    double price = 0, qty = 0, fee = 0, fee_rate = 0;
    std::string fee_coin;
    bool maker = false;
    std::int64_t time = 0;
  };

  const Market* FindMarket(const std::string& id) const;
  Quote QuoteAt(const Market& m, std::int64_t now) const;
  double MidAt(const Market& m, std::int64_t step) const;
  double Locked(const std::string& account, const std::string& coin) const;
  double Free(const std::string& account, const std::string& coin) const;
  Json OrderJson(const Order& o) const;
  Json ExecJson(const Exec& e) const;
  Json Event(const char* kind, const Order& o, std::int64_t t) const;
  void FillEvent(const Order& o, double price, bool maker, std::int64_t t, std::vector<Json>& events);
  void CancelEvent(const Order& o, const std::string& reason, std::int64_t t, std::vector<Json>& events);

  SimConfig config_;
  std::map<std::string, Market> markets_;                       // by Bybit id
  std::map<std::string, std::map<std::string, double>> balances_;   // account → coin → total
  std::map<std::string, Order> orders_;                         // by order id
  std::vector<std::string> order_seq_;                          // order ids, oldest first
  std::map<std::string, std::string> links_;                    // "<account>|<orderLinkId>" → order id
  std::vector<Exec> execs_;                                     // oldest first
  std::map<std::string, std::uint64_t> terms_;                  // sid8 → highest accepted term
  std::uint64_t next_order_ = 1000000001, next_exec_ = 1;
  SimStats stats_;
};

// Decimal text of `v` with as many places as `step` has ("0.01" → 2).
std::string Fixed(double v, const std::string& step);
// Decimal text with up to 10 places, trailing zeros removed ("119.015").
std::string Trim(double v);

}  // namespace ami::exchange_sim
