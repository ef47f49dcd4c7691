// The CCXT unified methods a connector may implement: names, positional argument
// order and which leading arguments are required. The host binding and ConnectorBase
// both use this table, so `Stels.runtime.cex.<id>.createOrder(symbol, type, side,
// amount, price, params)` maps 1:1 onto ExchangeConnector::Call("createOrder",
// [symbol, type, side, amount, price, params]). Part of the plugin SDK.
#pragma once

#include <string_view>

namespace ami::plugin {

struct MethodSpec {
  const char* name;        // CCXT camelCase name
  const char* args[7];     // argument names in CCXT order; unused slots are nullptr
  int required;            // how many leading arguments must be present (not null)
  bool is_private;         // needs an account (balances, orders, my trades)
};

// Result shapes (CCXT unified structures, as JSON):
//   loadMarkets           -> {symbol: market}          fetchMarkets  -> [market]
//   fetchTicker           -> ticker                    fetchTickers  -> {symbol: ticker}
//   fetchOrderBook        -> {symbol, bids:[[price, amount]], asks, timestamp, datetime, nonce}
//   fetchTrades/MyTrades  -> [trade]                   fetchOHLCV    -> [[ts, o, h, l, c, v]]
//   fetchBalance          -> {info, timestamp, datetime, free:{}, used:{}, total:{}, <CCY>:{free, used, total}}
//   create*Order, cancelOrder, fetchOrder                -> order
//   cancelAllOrders, fetchOrders, fetchOpenOrders, fetchClosedOrders -> [order]
// CCXT Pro streams (asynchronous: ExchangeConnector::CallAsync, ConnectorBase::Watch).
// Each call completes with the next update the calling worker has not seen yet:
//   watchTicker -> ticker      watchOrderBook -> order book (as fetchOrderBook)
//   watchTrades -> [trade]     watchOrders    -> [order]   (what arrived since its last call)
inline constexpr MethodSpec kCcxtMethods[] = {
    {"loadMarkets", {"reload", "params"}, 0, false},
    {"fetchMarkets", {"params"}, 0, false},
    {"fetchTicker", {"symbol", "params"}, 1, false},
    {"fetchTickers", {"symbols", "params"}, 0, false},
    {"fetchOrderBook", {"symbol", "limit", "params"}, 1, false},
    {"fetchTrades", {"symbol", "since", "limit", "params"}, 1, false},
    {"fetchOHLCV", {"symbol", "timeframe", "since", "limit", "params"}, 1, false},
    {"fetchBalance", {"params"}, 0, true},
    {"createOrder", {"symbol", "type", "side", "amount", "price", "params"}, 4, true},
    {"createLimitOrder", {"symbol", "side", "amount", "price", "params"}, 4, true},
    {"createMarketOrder", {"symbol", "side", "amount", "price", "params"}, 3, true},
    {"createLimitBuyOrder", {"symbol", "amount", "price", "params"}, 3, true},
    {"createLimitSellOrder", {"symbol", "amount", "price", "params"}, 3, true},
    {"createMarketBuyOrder", {"symbol", "amount", "params"}, 2, true},
    {"createMarketSellOrder", {"symbol", "amount", "params"}, 2, true},
    {"cancelOrder", {"id", "symbol", "params"}, 1, true},
    {"cancelAllOrders", {"symbol", "params"}, 0, true},
    {"fetchOrder", {"id", "symbol", "params"}, 1, true},
    {"fetchOrders", {"symbol", "since", "limit", "params"}, 0, true},
    {"fetchOpenOrders", {"symbol", "since", "limit", "params"}, 0, true},
    {"fetchClosedOrders", {"symbol", "since", "limit", "params"}, 0, true},
    {"fetchMyTrades", {"symbol", "since", "limit", "params"}, 0, true},
    {"watchTicker", {"symbol", "params"}, 1, false},
    {"watchOrderBook", {"symbol", "limit", "params"}, 1, false},
    {"watchTrades", {"symbol", "since", "limit", "params"}, 1, false},
    {"watchOrders", {"symbol", "since", "limit", "params"}, 0, true},
};

// The spec of a CCXT method, nullptr when `name` is not one.
constexpr const MethodSpec* FindCcxtMethod(std::string_view name) {
  for (const auto& m : kCcxtMethods)
    if (name == m.name) return &m;
  return nullptr;
}

// A CCXT Pro stream method (watch*): answered asynchronously, when an update arrives.
constexpr bool IsCcxtStreamMethod(std::string_view name) {
  return name.substr(0, 5) == "watch" && FindCcxtMethod(name) != nullptr;
}

}  // namespace ami::plugin
