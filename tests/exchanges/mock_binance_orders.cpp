// The loopback Binance's order store (mock_binance.h): place, query, cancel, list, and my
// trades, answering in the documented shapes (spot FULL replies, USDⓈ-M RESULT replies).
// Market orders fill at once at the symbol's last price; a limit order that crosses it
// fills at its own price; others rest. LIMIT_MAKER / GTX orders that would cross are
// refused as Binance does.
#include <algorithm>

#include "tests/exchanges/mock_binance_impl.h"

namespace ami::test {

using Json = nlohmann::json;

namespace {

double Number(const MockParams& p, const char* key) {
  auto it = p.find(key);
  if (it == p.end()) return 0;
  try {
    return std::stod(it->second);
  } catch (...) {
    return 0;
  }
}

std::string Param(const MockParams& p, const char* key) {
  auto it = p.find(key);
  return it == p.end() ? "" : it->second;
}

bool Open(const MockBinance::Order& o) { return o.status == "NEW" || o.status == "PARTIALLY_FILLED"; }

}  // namespace

Json MockBinance::Impl::OrderJson(const Order& o, bool with_fills, const Json& fills) const {
  if (o.futures) {
    const double filled = std::stod(o.executed), cum = std::stod(o.cum_quote);
    return {{"clientOrderId", o.client_id}, {"cumQty", o.executed}, {"cumQuote", o.cum_quote},
            {"executedQty", o.executed}, {"orderId", o.id},
            {"avgPrice", MockDecimal(filled > 0 ? cum / filled : 0)}, {"origQty", o.quantity},
            {"price", o.price}, {"reduceOnly", o.reduce_only}, {"side", o.side}, {"positionSide", "BOTH"},
            {"status", o.status}, {"stopPrice", "0"}, {"closePosition", false}, {"symbol", o.symbol},
            {"time", o.time}, {"timeInForce", o.time_in_force}, {"type", o.type}, {"origType", o.type},
            {"updateTime", o.update_time}, {"workingType", "CONTRACT_PRICE"}, {"priceProtect", false}};
  }
  Json j = {{"symbol", o.symbol}, {"orderId", o.id}, {"orderListId", -1}, {"clientOrderId", o.client_id},
            {"price", o.price}, {"origQty", o.quantity}, {"executedQty", o.executed},
            {"origQuoteOrderQty", "0.000000"}, {"cummulativeQuoteQty", o.cum_quote}, {"status", o.status},
            {"timeInForce", o.time_in_force}, {"type", o.type}, {"side", o.side},
            {"workingTime", o.time}, {"selfTradePreventionMode", "NONE"}};
  if (with_fills) {
    j["transactTime"] = o.time;
    j["fills"] = fills;
  } else {
    j["time"] = o.time;
    j["updateTime"] = o.update_time;
    j["isWorking"] = true;
  }
  return j;
}

MockReply MockBinance::Impl::Orders(const std::string& method, const std::string& ep, const MockParams& p,
                                    bool futures) {
  const auto& known = futures ? futures_symbols : spot_symbols;
  const std::string symbol = Param(p, "symbol");
  if (!symbol.empty() && !known.count(symbol)) return MockError(400, -1121, "Invalid symbol.");
  auto find = [&]() -> Order* {
    const std::string id = Param(p, "orderId"), client = Param(p, "origClientOrderId");
    for (auto it = orders.rbegin(); it != orders.rend(); ++it)
      if (it->futures == futures && it->symbol == symbol &&
          ((!id.empty() && std::to_string(it->id) == id) || (id.empty() && !client.empty() && it->client_id == client)))
        return &*it;
    return nullptr;
  };
  const auto now = Now();

  if (ep == "order" && method == "POST") {
    if (symbol.empty()) return MockError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.");
    Order o;
    o.futures = futures;
    o.symbol = symbol;
    o.side = Param(p, "side");
    o.type = Param(p, "type");
    o.time_in_force = Param(p, "timeInForce");
    o.quantity = MockDecimal(Number(p, "quantity"));
    o.price = MockDecimal(Number(p, "price"));
    o.reduce_only = Param(p, "reduceOnly") == "true";
    o.client_id = Param(p, "newClientOrderId");
    o.time = o.update_time = now;
    if (o.client_id.empty()) o.client_id = "mock" + std::to_string(next_order_id);
    if (Number(p, "quantity") <= 0) return MockError(400, -1013, "Invalid quantity.");
    for (const auto& other : orders)
      if (other.futures == futures && other.client_id == o.client_id && Open(other))
        return MockError(400, -2010, "Duplicate order sent.");
    const double last = last_price.count(symbol) ? last_price[symbol] : 1.0;
    const double qty = Number(p, "quantity"), price = Number(p, "price");
    const bool buy = o.side == "BUY";
    const bool crosses = o.type == "MARKET" || (buy ? price >= last : price <= last);
    if (crosses && (o.type == "LIMIT_MAKER" || o.time_in_force == "GTX")) {
      if (futures)
        return MockError(400, -5022, "Due to the order could not be executed as maker, the Post Only order will be rejected. The order will not be recorded in the order history");
      return MockError(400, -2010, "Order would immediately match and take.");
    }
    o.id = next_order_id++;
    Json fills = Json::array();
    if (crosses) {
      const double fill = o.type == "MARKET" ? last : price;
      o.status = "FILLED";
      o.executed = MockDecimal(qty);
      o.cum_quote = MockDecimal(qty * fill);
      const auto tid = next_trade_id++;
      const double fee = qty * fill * 0.001;
      fills.push_back({{"price", MockDecimal(fill)}, {"qty", MockDecimal(qty)}, {"commission", MockDecimal(fee)},
                       {"commissionAsset", "USDT"}, {"tradeId", tid}});
      Json t = {{"symbol", symbol}, {"id", tid}, {"orderId", o.id}, {"price", MockDecimal(fill)},
                {"qty", MockDecimal(qty)}, {"quoteQty", MockDecimal(qty * fill)}, {"commission", MockDecimal(fee)},
                {"commissionAsset", "USDT"}, {"time", now}, {"_futures", futures}};
      if (futures) {
        t["side"] = o.side;
        t["buyer"] = buy;
        t["maker"] = false;
        t["positionSide"] = "BOTH";
        t["realizedPnl"] = "0";
      } else {
        t["orderListId"] = -1;
        t["isBuyer"] = buy;
        t["isMaker"] = false;
        t["isBestMatch"] = true;
      }
      trades.push_back(t);
    }
    orders.push_back(o);
    return {200, OrderJson(o, !futures, fills)};
  }
  if (ep == "order" && method == "GET") {
    Order* o = find();
    if (!o) return MockError(400, -2013, "Order does not exist.");
    return {200, OrderJson(*o, false, nullptr)};
  }
  if (ep == "order" && method == "DELETE") {
    Order* o = find();
    if (!o || !Open(*o)) return MockError(400, -2011, "Unknown order sent.");
    o->status = "CANCELED";
    o->update_time = now;
    Json j = OrderJson(*o, false, nullptr);
    if (!futures) {
      j.erase("time");
      j.erase("updateTime");
      j.erase("isWorking");
      j.erase("workingTime");
      j["origClientOrderId"] = o->client_id;
      j["clientOrderId"] = "cancel" + std::to_string(o->id);
      j["transactTime"] = now;
    }
    return {200, j};
  }
  if (ep == "openOrders" && method == "GET") {
    Json out = Json::array();
    for (const auto& o : orders)
      if (o.futures == futures && Open(o) && (symbol.empty() || o.symbol == symbol))
        out.push_back(OrderJson(o, false, nullptr));
    return {200, out};
  }
  if ((ep == "openOrders" || ep == "allOpenOrders") && method == "DELETE") {
    Json out = Json::array();
    for (auto& o : orders)
      if (o.futures == futures && Open(o) && o.symbol == symbol) {
        o.status = "CANCELED";
        o.update_time = now;
        Json j = OrderJson(o, false, nullptr);
        j["origClientOrderId"] = o.client_id;
        out.push_back(j);
      }
    if (futures) return {200, Json{{"code", 200}, {"msg", "The operation of cancel all open order is done."}}};
    if (out.empty()) return MockError(400, -2011, "Unknown order sent.");
    return {200, out};
  }
  if (ep == "allOrders" && method == "GET") {
    if (symbol.empty()) return MockError(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.");
    const double start = Number(p, "startTime");
    Json out = Json::array();
    for (const auto& o : orders)
      if (o.futures == futures && o.symbol == symbol && o.time >= start) out.push_back(OrderJson(o, false, nullptr));
    return {200, out};
  }
  if ((ep == "myTrades" || ep == "userTrades") && method == "GET") {
    Json out = Json::array();
    for (auto t : trades)
      if (t["_futures"] == futures && t["symbol"] == symbol) {
        t.erase("_futures");
        out.push_back(t);
      }
    return {200, out};
  }
  return MockError(404, -1, "Not found: " + method + " " + ep);
}

}  // namespace ami::test
