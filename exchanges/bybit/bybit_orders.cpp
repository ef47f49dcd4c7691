// The bybit connector's order methods: createOrder (with the ambiguous-timeout rule),
// cancelOrder, cancelAllOrders, fetchOrder, fetch*Orders, fetchMyTrades. See
// bybit_connector.h for the rules.
#include <algorithm>
#include <cctype>
#include <random>
#include <set>

#include "ami/plugin/errors.h"
#include "ami/plugin/net/precision.h"
#include "ami/plugin/net/signing.h"
#include "bybit_connector.h"

namespace ami::exchanges::bybit {

using plugin::CcxtError;
namespace errc = plugin::errc;
namespace net = plugin::net;

namespace {

constexpr std::size_t kMaxRememberedIds = 10000;

bool IsDuplicateLinkId(const std::string& code) {
  return code == "110072" || code == "30001" || code == "12141";
}

std::string Capitalize(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<std::string> ParamText(const Json& params, const char* key) {
  if (!params.contains(key) || params[key].is_null()) return std::nullopt;
  if (params[key].is_string()) return params[key].get<std::string>();
  return params[key].dump();
}

bool ParamTrue(const Json& params, const char* key) {
  return params.contains(key) && (params[key] == true || params[key] == "true");
}

}  // namespace

std::string BybitConnector::OrderLinkIdFor(const std::string& client_order_id) {
  const bool valid = !client_order_id.empty() && client_order_id.size() <= 36 &&
                     std::all_of(client_order_id.begin(), client_order_id.end(), [](char c) {
                       return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
                     });
  if (valid) return client_order_id;
  return "ami-h-" + net::Sha256Hex(client_order_id).substr(0, 30);
}

void BybitConnector::RememberClientId(const std::string& link, const std::string& original) {
  if (link == original) return;
  std::lock_guard<std::mutex> lock(ids_mu_);
  if (original_ids_.emplace(link, original).second) id_order_.push_back(link);
  while (id_order_.size() > kMaxRememberedIds) {
    original_ids_.erase(id_order_.front());
    id_order_.pop_front();
  }
}

Json BybitConnector::ParseOrderFor(const Json& raw, const Markets& markets, const std::string& category) {
  Json order = ParseOrder(raw, markets, category);
  if (order["clientOrderId"].is_string()) {
    std::lock_guard<std::mutex> lock(ids_mu_);
    auto it = original_ids_.find(order["clientOrderId"].get<std::string>());
    if (it != original_ids_.end()) order["clientOrderId"] = it->second;
  }
  return order;
}

Json BybitConnector::FindOrder(const Ctx& ctx, const Markets& markets, const std::string& category,
                               const std::optional<std::string>& market_id, const std::string& id_key,
                               const std::string& id_value) {
  for (const char* path : {"v5/order/realtime", "v5/order/history"}) {
    OJson request;
    if (market_id) request["symbol"] = *market_id;
    else if (category == "linear") request["settleCoin"] = "USDT";
    request[id_key] = id_value;
    request["category"] = category;
    const Json body = PrivateGet(ctx, path, std::move(request), category);
    const Json list = body.value("result", Json::object()).value("list", Json::array());
    if (!list.empty()) return ParseOrderFor(list[0], markets, category);
  }
  return nullptr;
}

Json BybitConnector::createOrder(const Ctx& ctx, const std::string& symbol, const std::string& type_in,
                                 const std::string& side_in, double amount, std::optional<double> price,
                                 const Json& params) {
  auto markets = LoadMarketsSnapshot(false);
  const Market& m = Need(*markets, symbol);
  const std::string type = Lower(type_in), side = Lower(side_in);
  if (type != "limit" && type != "market")
    throw CcxtError(errc::kInvalidOrder, options_.exchange_id + ": order type must be limit or market, got " + type_in);
  if (side != "buy" && side != "sell")
    throw CcxtError(errc::kInvalidOrder, options_.exchange_id + ": order side must be buy or sell, got " + side_in);
  if (type == "limit" && !price)
    throw CcxtError(errc::kArgumentsRequired, options_.exchange_id + " createOrder requires a price argument for limit orders");
  if (!(amount > 0))
    throw CcxtError(errc::kInvalidOrder, options_.exchange_id + ": amount must be positive, got " + net::DecimalText(amount));
  const std::string qty = m.amount_step.empty() ? net::DecimalText(amount) : net::AmountToPrecision(amount, m.amount_step);
  if (qty == "0")
    throw CcxtError(errc::kInvalidOrder, options_.exchange_id + " amount of " + symbol +
                                             " must be greater than minimum amount precision of " + m.amount_step);
  std::string price_text;
  if (price) {
    if (!(*price > 0))
      throw CcxtError(errc::kInvalidOrder, options_.exchange_id + ": price must be positive, got " + net::DecimalText(*price));
    price_text = m.price_tick.empty() ? net::DecimalText(*price) : net::PriceToPrecision(*price, m.price_tick);
  }
  // CCXT's handlePostOnly: params.postOnly or timeInForce "PO".
  const std::string tif = Lower(ParamText(params, "timeInForce").value_or(""));
  const bool post_only = ParamTrue(params, "postOnly") || tif == "po" || tif == "postonly";
  if (post_only && type == "market")
    throw CcxtError(errc::kInvalidOrder, options_.exchange_id + " createOrder() does not support postOnly market orders");
  // The runtime always gives a clientOrderId; a caller that does not still gets one, so
  // the ambiguous-timeout rule below can always look the order up.
  std::string client_id = ParamText(params, "clientOrderId").value_or(ParamText(params, "orderLinkId").value_or(""));
  if (client_id.empty()) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    client_id = "ami-x-" + net::Sha256Hex(std::to_string(rng())).substr(0, 24);
  }
  const std::string link = OrderLinkIdFor(client_id);
  RememberClientId(link, client_id);

  OJson request = {{"symbol", m.id}, {"side", Capitalize(side)}, {"orderType", Capitalize(type)}};
  if (post_only) request["timeInForce"] = "PostOnly";
  else if (tif == "gtc") request["timeInForce"] = "GTC";
  else if (tif == "fok") request["timeInForce"] = "FOK";
  else if (tif == "ioc") request["timeInForce"] = "IOC";
  request["orderLinkId"] = link;
  if (type == "limit") request["price"] = price_text;
  request["category"] = m.category;
  const auto cost = ParamText(params, "cost");
  // CCXT's costToPrecision: a quote amount truncated to the price's precision.
  auto cost_text = [&](double c) {
    return net::ToPrecision(c, m.price_tick.empty() ? "0.00000001" : m.price_tick, net::Rounding::kTruncate);
  };
  if (m.category == "spot" && type == "market") {
    if (cost) {
      const auto c = plugin::ParseNumber(params["cost"]);
      if (!c || !(*c > 0))
        throw CcxtError(errc::kBadRequest, options_.exchange_id + ": params.cost must be a positive number, got " + *cost);
      request["marketUnit"] = "quoteCoin";
      request["qty"] = cost_text(*c);
    } else if (side == "buy" && price) {
      // CCXT: a market buy with a price spends amount * price of the quote currency.
      request["qty"] = cost_text(std::stod(qty) * std::stod(price_text));
    } else {
      request["marketUnit"] = "baseCoin";
      request["qty"] = qty;
    }
  } else {
    request["qty"] = qty;
  }
  Extend(request, params, {"timeInForce", "postOnly", "clientOrderId", "orderLinkId", "cost", "type", "category"});

  const RestOutcome out = rest_->Perform({"private", "POST", "v5/order/create", request, m.category}, ctx.credentials);
  if (out.ok) {
    const Json result = out.body.value("result", Json::object());
    Json order = ParseOrderFor(result, *markets, m.category);
    // Bybit answers only {orderId, orderLinkId}: what we asked for fills the rest (status
    // stays unknown, as CCXT leaves it).
    const Json time = out.body.contains("time") ? out.body["time"] : Json(nullptr);
    order["symbol"] = m.symbol;
    order["type"] = type;
    order["side"] = side;
    order["amount"] = std::stod(qty);
    order["price"] = type == "limit" ? Json(std::stod(price_text)) : Json(nullptr);
    order["timestamp"] = time;
    order["datetime"] = DatetimeOrNull(time);
    order["timeInForce"] = post_only ? "PO" : tif == "gtc" ? "GTC" : tif == "fok" ? "FOK" : tif == "ioc" ? "IOC"
                         : type == "market" ? "IOC" : "GTC";
    order["postOnly"] = post_only;
    order["reduceOnly"] = ParamTrue(params, "reduceOnly");
    order["clientOrderId"] = client_id;
    return order;
  }
  if (out.ambiguous || IsDuplicateLinkId(out.ret_code)) {
    // The order may exist (a lost answer), or does (Bybit knows the id): look it up by the
    // id we sent. Never send a second order with another id.
    Json found;
    try {
      found = FindOrder(ctx, *markets, m.category, m.id, "orderLinkId", link);
    } catch (const CcxtError& e) {
      throw CcxtError(errc::kRequestTimeout,
                      out.message + "; looking the order up by orderLinkId " + link + " failed too (" + e.what() +
                          "): it may or may not exist — send it again with the same clientOrderId");
    }
    if (!found.is_null()) return found;
    if (out.ambiguous)
      throw CcxtError(errc::kRequestTimeout, out.message + "; no order with orderLinkId " + link +
                                                 " exists: not placed — send it again with the same clientOrderId");
  }
  throw CcxtError(out.error_class, out.message);
}

Json BybitConnector::cancelOrder(const Ctx& ctx, const std::string& id, const std::optional<std::string>& symbol,
                                 const Json& params) {
  auto markets = LoadMarketsSnapshot(false);
  const auto client_id = ParamText(params, "clientOrderId");
  const std::string id_key = id.empty() && client_id ? "orderLinkId" : "orderId";
  const std::string id_value = id_key == "orderId" ? id : OrderLinkIdFor(*client_id);
  const Market* m = symbol ? &Need(*markets, *symbol) : nullptr;
  if (!m) {
    // Bybit cancels by symbol: find the order's market first.
    Json none = Json::object();
    for (const auto& category : Categories(std::nullopt, *markets, none)) {
      const Json found = FindOrder(ctx, *markets, category, std::nullopt, id_key, id_value);
      if (found.is_null() || !found["symbol"].is_string()) continue;
      m = markets->BySymbol(found["symbol"].get<std::string>());
      if (m) break;
    }
    if (!m) throw CcxtError(errc::kOrderNotFound, options_.exchange_id + ": order " + id_value + " not found");
  }
  OJson request = {{"symbol", m->id}};
  if (m->category == "spot") request["orderFilter"] = "Order";
  request[id_key] = id_value;
  request["category"] = m->category;
  Extend(request, params, {"clientOrderId", "type", "category"});
  const Json body = rest_->Call({"private", "POST", "v5/order/cancel", request, m->category}, ctx.credentials);
  Json order = ParseOrderFor(body.value("result", Json::object()), *markets, m->category);
  order["symbol"] = m->symbol;
  return order;
}

Json BybitConnector::cancelAllOrders(const Ctx& ctx, const std::optional<std::string>& symbol, const Json& params_in) {
  auto markets = LoadMarketsSnapshot(false);
  Json params = params_in;
  Json out = Json::array();
  for (const auto& category : Categories(symbol, *markets, params)) {
    OJson request;
    if (symbol) request["symbol"] = Need(*markets, *symbol).id;
    request["category"] = category;
    if (category == "linear" && !symbol && !params.contains("baseCoin"))
      request["settleCoin"] = params.value("settleCoin", std::string("USDT"));
    Extend(request, params);
    const Json body = rest_->Call({"private", "POST", "v5/order/cancel-all", request, category}, ctx.credentials);
    for (const auto& raw : body.value("result", Json::object()).value("list", Json::array())) {
      Json order = ParseOrderFor(raw, *markets, category);
      if (symbol) order["symbol"] = *symbol;
      out.push_back(std::move(order));
    }
  }
  return out;
}

Json BybitConnector::fetchOrder(const Ctx& ctx, const std::string& id, const std::optional<std::string>& symbol,
                                const Json& params_in) {
  auto markets = LoadMarketsSnapshot(false);
  Json params = params_in;
  auto client_id = ParamText(params, "clientOrderId");
  if (!client_id) client_id = ParamText(params, "orderLinkId");
  const bool by_link = client_id && !client_id->empty();
  const std::string id_key = by_link ? "orderLinkId" : "orderId";
  const std::string id_value = by_link ? OrderLinkIdFor(*client_id) : id;
  for (const auto& category : Categories(symbol, *markets, params)) {
    const std::optional<std::string> market_id = symbol ? std::optional<std::string>(Need(*markets, *symbol).id) : std::nullopt;
    Json found = FindOrder(ctx, *markets, category, market_id, id_key, id_value);
    if (!found.is_null()) return found;
  }
  throw CcxtError(errc::kOrderNotFound, "Order " + (by_link ? *client_id : id) + " was not found on " +
                                            options_.exchange_id + (symbol ? " for " + *symbol : std::string()));
}

Json BybitConnector::OrdersIn(const Ctx& ctx, const Markets& markets, const std::string& path,
                              const std::optional<std::string>& symbol, const std::string& category, OJson extra,
                              std::optional<std::int64_t> limit, Json params) {
  OJson request;
  if (symbol) request["symbol"] = Need(markets, *symbol).id;
  else if (category == "linear" && path == "v5/order/realtime" && !params.contains("baseCoin"))
    request["settleCoin"] = params.value("settleCoin", std::string("USDT"));
  request["category"] = category;
  for (auto& [k, v] : extra.items()) request[k] = v;
  request["limit"] = std::min<std::int64_t>(limit.value_or(50), 50);
  Extend(request, params, {"until"});
  if (params.contains("until")) request["endTime"] = params["until"];
  // Without a limit: every page (bounded), so a grid of 60 orders is seen whole.
  const Json raw = PagedList(ctx, path, std::move(request), category, limit ? 1 : 10);
  Json out = Json::array();
  for (const auto& item : raw) out.push_back(ParseOrderFor(item, markets, category));
  return out;
}

Json BybitConnector::fetchOpenOrders(const Ctx& ctx, const std::optional<std::string>& symbol,
                                     std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                                     const Json& params_in) {
  auto markets = LoadMarketsSnapshot(false);
  Json params = params_in;
  Json all = Json::array();
  for (const auto& category : Categories(symbol, *markets, params))
    for (auto& o : OrdersIn(ctx, *markets, "v5/order/realtime", symbol, category, {}, limit, params)) all.push_back(o);
  return FilterSinceLimit(std::move(all), since, limit);
}

Json BybitConnector::fetchClosedOrders(const Ctx& ctx, const std::optional<std::string>& symbol,
                                       std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                                       const Json& params_in) {
  auto markets = LoadMarketsSnapshot(false);
  Json params = params_in;
  OJson extra = {{"orderStatus", params.value("orderStatus", std::string("Filled"))}};
  params.erase("orderStatus");
  if (since) extra["startTime"] = *since;
  Json all = Json::array();
  for (const auto& category : Categories(symbol, *markets, params))
    for (auto& o : OrdersIn(ctx, *markets, "v5/order/history", symbol, category, extra, limit, params)) all.push_back(o);
  return FilterSinceLimit(std::move(all), since, limit);
}

Json BybitConnector::fetchOrders(const Ctx& ctx, const std::optional<std::string>& symbol,
                                 std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                                 const Json& params_in) {
  // Open orders and the history (every closed status), one entry per order id.
  auto markets = LoadMarketsSnapshot(false);
  Json params = params_in;
  OJson extra;
  if (since) extra["startTime"] = *since;
  Json all = Json::array();
  std::set<std::string> seen;
  for (const auto& category : Categories(symbol, *markets, params)) {
    for (const char* path : {"v5/order/realtime", "v5/order/history"})
      for (auto& o : OrdersIn(ctx, *markets, path, symbol, category, std::string(path) == "v5/order/history" ? extra : OJson(),
                              limit, params))
        if (o["id"].is_string() && seen.insert(o["id"].get<std::string>()).second) all.push_back(o);
  }
  return FilterSinceLimit(std::move(all), since, limit);
}

Json BybitConnector::fetchMyTrades(const Ctx& ctx, const std::optional<std::string>& symbol,
                                   std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                                   const Json& params_in) {
  auto markets = LoadMarketsSnapshot(false);
  Json params = params_in;
  Json all = Json::array();
  for (const auto& category : Categories(symbol, *markets, params)) {
    OJson request = {{"execType", "Trade"}};
    if (symbol) request["symbol"] = Need(*markets, *symbol).id;
    request["category"] = category;
    if (limit) request["limit"] = std::min<std::int64_t>(*limit, 100);
    if (since) request["startTime"] = *since;
    Extend(request, params, {"until"});
    if (params.contains("until")) request["endTime"] = params["until"];
    const Json body = PrivateGet(ctx, "v5/execution/list", std::move(request), category);
    for (const auto& raw : body.value("result", Json::object()).value("list", Json::array()))
      all.push_back(ParseTrade(raw, *markets, category));
  }
  return FilterSinceLimit(std::move(all), since, limit);
}

}  // namespace ami::exchanges::bybit
