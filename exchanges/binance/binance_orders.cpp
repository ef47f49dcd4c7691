// The binance connector's private methods: balance is in binance_connector.cpp; here
// orders and my trades, with the ambiguous-createOrder resolution by client order id.
#include <algorithm>
#include <cctype>

#include "ami/plugin/net/precision.h"
#include "binance_connector.h"
#include "binance_internal.h"

namespace ami::exchanges::binance {

using plugin::CcxtError;
namespace errc = plugin::errc;
using ojson = nlohmann::ordered_json;

namespace {

std::string Upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

std::string ParamString(const nlohmann::json& params, const char* key) {
  if (!params.is_object() || !params.contains(key)) return "";
  const auto& v = params[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  return "";
}

bool ParamBool(const nlohmann::json& params, const char* key) {
  if (!params.is_object() || !params.contains(key)) return false;
  const auto& v = params[key];
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) return v.get<std::string>() == "true";
  return false;
}

// orderId for a numeric id, origClientOrderId otherwise (or params.clientOrderId).
void PutOrderRef(ojson& req, const std::string& id, const nlohmann::json& params) {
  const std::string client = ParamString(params, "clientOrderId");
  if (!client.empty()) req["origClientOrderId"] = client;
  else if (AllDigits(id)) req["orderId"] = std::stoll(id);
  else req["origClientOrderId"] = id;
}

}  // namespace

void BinanceConnector::MarkAmbiguous(const std::string& client_id, bool ambiguous) {
  std::lock_guard<std::mutex> lock(state_mu_);
  if (ambiguous) {
    if (ambiguous_ids_.size() > 10000) ambiguous_ids_.clear();   // bounded; a lookup is only an optimisation
    ambiguous_ids_.insert(client_id);
  } else {
    ambiguous_ids_.erase(client_id);
  }
}

bool BinanceConnector::WasAmbiguous(const std::string& client_id) {
  std::lock_guard<std::mutex> lock(state_mu_);
  return ambiguous_ids_.count(client_id) > 0;
}

std::optional<Json> BinanceConnector::FindByClientId(const Ctx& ctx, const Market& m,
                                                     const std::string& client_id) {
  ojson req = {{"symbol", m.id}, {"origClientOrderId", client_id}};
  try {
    return ParseOrder(rest_.Send({rest_.PrivateApi(), "order", "GET", req, futures() ? 1.0 : 4.0}, &ctx), m);
  } catch (const RestError& e) {
    if (e.code() == "-2013" || e.error_class() == errc::kOrderNotFound) return std::nullopt;
    throw;
  }
}

Json BinanceConnector::createOrder(const Ctx& ctx, const std::string& symbol, const std::string& type_in,
                                   const std::string& side_in, double amount, std::optional<double> price,
                                   const Json& params) {
  auto table = Markets();
  const Market& m = MarketOf(table, symbol);
  const std::string& ex = options_.exchange_id;
  const std::string type = Lower(type_in), side = Lower(side_in);
  if (type != "limit" && type != "market")
    throw CcxtError(errc::kInvalidOrder, ex + " createOrder: unsupported order type '" + type_in + "' (limit or market)");
  if (side != "buy" && side != "sell")
    throw CcxtError(errc::kInvalidOrder, ex + " createOrder: side must be buy or sell, got '" + side_in + "'");
  if (!(amount > 0)) throw CcxtError(errc::kInvalidOrder, ex + " createOrder: amount must be positive");
  std::string client_id = ParamString(params, "clientOrderId");
  if (client_id.empty()) client_id = ParamString(params, "newClientOrderId");
  std::string tif = Upper(ParamString(params, "timeInForce"));
  bool post_only = ParamBool(params, "postOnly");
  if (tif == "PO" || tif == "GTX") {
    post_only = true;
    tif.clear();
  }
  const bool reduce_only = ParamBool(params, "reduceOnly");
  if (reduce_only && !futures())
    throw CcxtError(errc::kInvalidOrder, ex + " createOrder: reduceOnly is for futures (market: future)");
  if (post_only && type == "market")
    throw CcxtError(errc::kInvalidOrder, ex + " createOrder: a postOnly order must be a limit order");

  const std::string quantity = plugin::net::AmountToPrecision(amount, m.amount_step);
  if (quantity == "0")
    throw CcxtError(errc::kInvalidOrder, ex + " createOrder: amount " + plugin::net::DecimalText(amount) +
                                             " is below the amount step " + m.amount_step + " of " + m.symbol);
  ojson req = {{"symbol", m.id}, {"side", Upper(side)}};
  if (type == "limit") {
    if (!price || !(*price > 0))
      throw CcxtError(errc::kInvalidOrder, ex + " createOrder: a limit order needs a positive price");
    const bool maker_type = post_only && !futures();
    req["type"] = maker_type ? "LIMIT_MAKER" : "LIMIT";
    if (!maker_type) req["timeInForce"] = post_only ? "GTX" : (tif.empty() ? "GTC" : tif);
    req["quantity"] = quantity;
    req["price"] = plugin::net::PriceToPrecision(*price, m.price_tick);
  } else {
    req["type"] = "MARKET";
    req["quantity"] = quantity;
  }
  if (!client_id.empty()) req["newClientOrderId"] = client_id;
  if (reduce_only) req["reduceOnly"] = "true";
  req["newOrderRespType"] = futures() ? "RESULT" : "FULL";
  MergeParams(req, params, {"clientOrderId", "newClientOrderId", "timeInForce", "postOnly", "reduceOnly", "type"});

  // A resend of an id whose first attempt got no answer: it may exist already.
  if (!client_id.empty() && WasAmbiguous(client_id)) {
    if (auto existing = FindByClientId(ctx, m, client_id)) {
      MarkAmbiguous(client_id, false);
      return *existing;
    }
  }
  try {
    Json reply = rest_.Send({rest_.PrivateApi(), "order", "POST", req, futures() ? 0.0 : 1.0, true}, &ctx);
    if (!client_id.empty()) MarkAmbiguous(client_id, false);
    return ParseOrder(reply, m);
  } catch (const RestError& e) {
    if (client_id.empty()) throw;
    if (e.exchange_msg() == "Duplicate order sent.") {   // the id is taken by an open order: ours
      if (auto existing = FindByClientId(ctx, m, client_id)) return *existing;
      throw;
    }
    if (!e.ambiguous()) throw;
    MarkAmbiguous(client_id, true);
    std::optional<Json> found;
    try {
      found = FindByClientId(ctx, m, client_id);
    } catch (const CcxtError& lookup) {
      throw CcxtError(errc::kRequestTimeout,
                      std::string(e.what()) + "; the order with clientOrderId " + client_id +
                          " could not be looked up (" + lookup.what() + "): resend with the same clientOrderId");
    }
    if (found) {
      MarkAmbiguous(client_id, false);
      return *found;
    }
    throw CcxtError(errc::kRequestTimeout,
                    std::string(e.what()) + "; no order with clientOrderId " + client_id +
                        " exists, so none was placed: resend with the same clientOrderId");
  }
}

Json BinanceConnector::cancelOrder(const Ctx& ctx, const std::string& id, const std::optional<std::string>& symbol,
                                   const Json& params) {
  if (!symbol) throw CcxtError(errc::kArgumentsRequired, options_.exchange_id + " cancelOrder() requires a symbol argument");
  auto table = Markets();
  const Market& m = MarketOf(table, *symbol);
  ojson req = {{"symbol", m.id}};
  PutOrderRef(req, id, params);
  MergeParams(req, params, {"clientOrderId"});
  return ParseOrder(rest_.Send({rest_.PrivateApi(), "order", "DELETE", req, 1}, &ctx), m);
}

Json BinanceConnector::cancelAllOrders(const Ctx& ctx, const std::optional<std::string>& symbol, const Json& params) {
  if (!symbol)
    throw CcxtError(errc::kArgumentsRequired, options_.exchange_id + " cancelAllOrders() requires a symbol argument");
  auto table = Markets();
  const Market& m = MarketOf(table, *symbol);
  ojson req = {{"symbol", m.id}};
  MergeParams(req, params, {});
  Json out = Json::array();
  if (futures()) {
    // DELETE allOpenOrders answers only {"code":200}: list them first to return them.
    Json open = rest_.Send({"fapiPrivate", "openOrders", "GET", req, 1}, &ctx);
    rest_.Send({"fapiPrivate", "allOpenOrders", "DELETE", req, 1}, &ctx);
    if (open.is_array())
      for (const auto& o : open) {
        Json order = ParseOrder(o, m);
        order["status"] = "canceled";
        out.push_back(std::move(order));
      }
    return out;
  }
  Json reply;
  try {
    reply = rest_.Send({"private", "openOrders", "DELETE", req, 1}, &ctx);
  } catch (const RestError& e) {
    if (e.code() == "-2011") return out;   // "Unknown order sent.": nothing was open
    throw;
  }
  if (reply.is_array())
    for (const auto& o : reply)
      if (o.contains("orderId")) out.push_back(ParseOrder(o, m));   // order lists are skipped
  return out;
}

Json BinanceConnector::fetchOrder(const Ctx& ctx, const std::string& id, const std::optional<std::string>& symbol,
                                  const Json& params) {
  if (!symbol) throw CcxtError(errc::kArgumentsRequired, options_.exchange_id + " fetchOrder() requires a symbol argument");
  auto table = Markets();
  const Market& m = MarketOf(table, *symbol);
  ojson req = {{"symbol", m.id}};
  PutOrderRef(req, id, params);
  MergeParams(req, params, {"clientOrderId"});
  return ParseOrder(rest_.Send({rest_.PrivateApi(), "order", "GET", req, futures() ? 1.0 : 4.0}, &ctx), m);
}

Json BinanceConnector::fetchOpenOrders(const Ctx& ctx, const std::optional<std::string>& symbol,
                                       std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                                       const Json& params) {
  auto table = Markets();
  const Market* m = symbol ? &MarketOf(table, *symbol) : nullptr;
  ojson req = ojson::object();
  if (m) req["symbol"] = m->id;
  MergeParams(req, params, {});
  const double weight = futures() ? (m ? 1 : 40) : (m ? 6 : 80);
  Json reply = rest_.Send({rest_.PrivateApi(), "openOrders", "GET", req, weight}, &ctx);
  Json out = Json::array();
  if (reply.is_array())
    for (const auto& o : reply) {
      const Market* om = m ? m : table->FindId(o.value("symbol", ""));
      if (om) out.push_back(ParseOrder(o, *om));
    }
  return FilterSinceLimit(std::move(out), since, limit);
}

Json BinanceConnector::AllOrders(const Ctx& ctx, const std::string& method, const std::optional<std::string>& symbol,
                                 std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                                 const Json& params, const char* status_filter) {
  if (!symbol)
    throw CcxtError(errc::kArgumentsRequired, options_.exchange_id + " " + method + "() requires a symbol argument");
  auto table = Markets();
  const Market& m = MarketOf(table, *symbol);
  ojson req = {{"symbol", m.id}};
  if (since) req["startTime"] = *since;
  if (limit && !status_filter) req["limit"] = std::clamp<std::int64_t>(*limit, 1, 1000);
  MergeParams(req, params, {});
  Json reply = rest_.Send({rest_.PrivateApi(), "allOrders", "GET", req, futures() ? 5.0 : 20.0}, &ctx);
  Json out = Json::array();
  if (reply.is_array())
    for (const auto& o : reply) {
      Json order = ParseOrder(o, m);
      if (status_filter && order["status"] != status_filter) continue;
      out.push_back(std::move(order));
    }
  return FilterSinceLimit(std::move(out), since, limit);
}

Json BinanceConnector::fetchOrders(const Ctx& ctx, const std::optional<std::string>& symbol,
                                   std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                                   const Json& params) {
  return AllOrders(ctx, "fetchOrders", symbol, since, limit, params, nullptr);
}

Json BinanceConnector::fetchClosedOrders(const Ctx& ctx, const std::optional<std::string>& symbol,
                                         std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                                         const Json& params) {
  return AllOrders(ctx, "fetchClosedOrders", symbol, since, limit, params, "closed");
}

Json BinanceConnector::fetchMyTrades(const Ctx& ctx, const std::optional<std::string>& symbol,
                                     std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                                     const Json& params) {
  if (!symbol)
    throw CcxtError(errc::kArgumentsRequired, options_.exchange_id + " fetchMyTrades() requires a symbol argument");
  auto table = Markets();
  const Market& m = MarketOf(table, *symbol);
  ojson req = {{"symbol", m.id}};
  if (since) req["startTime"] = *since;
  if (limit) req["limit"] = std::clamp<std::int64_t>(*limit, 1, 1000);
  MergeParams(req, params, {});
  const bool by_order = params.is_object() && params.contains("orderId");
  const double weight = futures() ? 5 : (by_order ? 5 : 20);
  Json reply = rest_.Send({rest_.PrivateApi(), futures() ? "userTrades" : "myTrades", "GET", req, weight}, &ctx);
  Json out = Json::array();
  if (reply.is_array())
    for (const auto& t : reply) out.push_back(ParseMyTrade(t, m));
  return FilterSinceLimit(std::move(out), since, limit);
}

}  // namespace ami::exchanges::binance
