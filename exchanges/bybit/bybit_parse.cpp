// Bybit v5 → CCXT unified structures (see bybit_parse.h).
#include "bybit_parse.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "ami/plugin/net/order_book.h"

namespace ami::exchanges::bybit {
namespace {

// A string or number field as text; "" when absent, null or "".
std::string Text(const Json& o, const char* key) {
  if (!o.is_object()) return "";
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<long long>());
  if (it->is_number()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", it->get<double>());
    return buf;
  }
  if (it->is_boolean()) return it->get<bool>() ? "true" : "false";
  return "";
}

std::optional<double> Num(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0' || !std::isfinite(d)) return std::nullopt;
  return d;
}
std::optional<double> Num(const Json& o, const char* key) { return Num(Text(o, key)); }

Json J(std::optional<double> v) { return v ? Json(*v) : Json(nullptr); }
// CCXT's omitZero: 0 is "not given".
std::optional<double> NonZero(std::optional<double> v) {
  return v && *v != 0 ? v : std::nullopt;
}

std::optional<std::int64_t> Int(const Json& o, const char* key) {
  auto d = Num(o, key);
  if (!d) return std::nullopt;
  return static_cast<std::int64_t>(std::llround(*d));
}

int Decimals(const std::string& s) {
  const auto dot = s.find('.');
  if (dot == std::string::npos) return 0;
  std::size_t end = s.find_first_of("eE", dot);
  if (end == std::string::npos) end = s.size();
  return static_cast<int>(end - dot - 1);
}

// `v` rounded to `decimals` places: the exact result of adding or scaling decimal texts
// that had at most that many places, without binary floating point noise.
double Clean(double v, int decimals) {
  if (decimals < 0) decimals = 0;
  if (decimals > 17) return v;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return std::strtod(buf, nullptr);
}

double TruncateTo(double v, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::trunc(v * scale + (v >= 0 ? 1e-9 : -1e-9)) / scale;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Json Timestamp(std::optional<std::int64_t> ms) { return ms ? Json(*ms) : Json(nullptr); }

const Market* Find(const Markets& markets, const std::string& category, const std::string& id) {
  return markets.ById(category, id);
}

Json FeeJson(const Json& cost, const Json& currency, const Json& rate) {
  return {{"cost", cost}, {"currency", currency}, {"rate", rate}};
}

}  // namespace

Json NumberField(const Json& object, const char* key) { return J(Num(object, key)); }
std::string TextField(const Json& object, const char* key) { return Text(object, key); }
Json DatetimeOrNull(const Json& timestamp) {
  return timestamp.is_number() ? Json(plugin::net::Iso8601(timestamp.get<std::int64_t>())) : Json(nullptr);
}

// ---- markets ----------------------------------------------------------------------

void Markets::Add(Market m) {
  const std::size_t i = markets_.size();
  by_symbol_[m.symbol] = i;
  by_id_[m.category + ":" + m.id] = i;
  markets_.push_back(std::move(m));
}

const Market* Markets::BySymbol(const std::string& symbol) const {
  auto it = by_symbol_.find(symbol);
  return it == by_symbol_.end() ? nullptr : &markets_[it->second];
}

const Market* Markets::ById(const std::string& category, const std::string& id) const {
  auto it = by_id_.find(category + ":" + id);
  return it == by_id_.end() ? nullptr : &markets_[it->second];
}

std::string SymbolOf(const Markets& markets, const std::string& category, const std::string& id) {
  const Market* m = markets.ById(category, id);
  return m ? m->symbol : id;
}

std::optional<Market> ParseSpotMarket(const Json& raw) {
  Market m;
  m.id = Text(raw, "symbol");
  m.base = Text(raw, "baseCoin");
  m.quote = Text(raw, "quoteCoin");
  if (m.id.empty() || m.base.empty() || m.quote.empty()) return std::nullopt;
  m.category = "spot";
  m.symbol = m.base + "/" + m.quote;
  m.active = Text(raw, "status") == "Trading";
  const Json lot = raw.value("lotSizeFilter", Json::object());
  const Json price = raw.value("priceFilter", Json::object());
  m.amount_step = Text(lot, "basePrecision");
  m.price_tick = Text(price, "tickSize");
  if (m.price_tick.empty()) m.price_tick = Text(lot, "quotePrecision");
  const std::string margin = Text(raw, "marginTrading");
  m.ccxt = {{"id", m.id}, {"symbol", m.symbol}, {"base", m.base}, {"quote", m.quote},
            {"settle", nullptr}, {"baseId", m.base}, {"quoteId", m.quote}, {"settleId", nullptr},
            {"type", "spot"}, {"spot", true}, {"margin", !margin.empty() && margin != "none"},
            {"swap", false}, {"future", false}, {"option", false}, {"active", m.active},
            {"contract", false}, {"linear", nullptr}, {"inverse", nullptr},
            {"taker", 0.001}, {"maker", 0.001}, {"contractSize", nullptr}, {"expiry", nullptr},
            {"expiryDatetime", nullptr}, {"strike", nullptr}, {"optionType", nullptr},
            {"precision", {{"amount", J(Num(m.amount_step))}, {"price", J(Num(m.price_tick))}}},
            {"limits",
             {{"leverage", {{"min", 1}, {"max", nullptr}}},
              {"amount", {{"min", J(Num(lot, "minOrderQty"))}, {"max", J(Num(lot, "maxOrderQty"))}}},
              {"price", {{"min", nullptr}, {"max", nullptr}}},
              {"cost", {{"min", J(Num(lot, "minOrderAmt"))}, {"max", J(Num(lot, "maxOrderAmt"))}}}}},
            {"created", nullptr}, {"info", raw}};
  return m;
}

std::optional<Market> ParseLinearMarket(const Json& raw) {
  const std::string contract_type = Text(raw, "contractType");
  const bool swap = contract_type == "LinearPerpetual";
  const bool future = contract_type == "LinearFutures";
  if (!swap && !future) return std::nullopt;
  Market m;
  m.id = Text(raw, "symbol");
  m.base = Text(raw, "baseCoin");
  m.quote = Text(raw, "quoteCoin");
  std::string settle_id = Text(raw, "settleCoin");
  if (settle_id.empty()) settle_id = m.quote;
  if (m.id.empty() || m.base.empty() || m.quote.empty()) return std::nullopt;
  m.category = "linear";
  m.settle = swap && settle_id == "USD" ? "USDC" : settle_id;   // as CCXT: USDC perpetuals
  m.symbol = m.base + "/" + m.quote + ":" + m.settle;
  std::optional<std::int64_t> expiry;
  if (!swap) {
    expiry = Int(raw, "deliveryTime");
    if (expiry && *expiry == 0) expiry.reset();
  }
  if (expiry) {
    const std::string iso = plugin::net::Iso8601(*expiry);   // 2025-12-26T...
    m.symbol += "-" + iso.substr(2, 2) + iso.substr(5, 2) + iso.substr(8, 2);
  }
  m.active = Text(raw, "status") == "Trading";
  const Json lot = raw.value("lotSizeFilter", Json::object());
  const Json price = raw.value("priceFilter", Json::object());
  const Json lev = raw.value("leverageFilter", Json::object());
  m.amount_step = Text(lot, "qtyStep");
  m.price_tick = Text(price, "tickSize");
  m.contract_size = 1;
  auto first = [&](const char* a, const char* b) { auto v = Num(lot, a); return v ? v : Num(lot, b); };
  const auto taker = Num(raw, "takerFee"), maker = Num(raw, "makerFee");
  m.ccxt = {{"id", m.id}, {"symbol", m.symbol}, {"base", m.base}, {"quote", m.quote},
            {"settle", m.settle}, {"baseId", m.base}, {"quoteId", m.quote}, {"settleId", settle_id},
            {"type", swap ? "swap" : "future"}, {"spot", false}, {"margin", nullptr},
            {"swap", swap}, {"future", future}, {"option", false}, {"active", m.active},
            {"contract", true}, {"linear", true}, {"inverse", false},
            {"taker", taker.value_or(0.0006)}, {"maker", maker.value_or(0.0001)},
            {"contractSize", 1}, {"expiry", Timestamp(expiry)},
            {"expiryDatetime", expiry ? Json(plugin::net::Iso8601(*expiry)) : Json(nullptr)},
            {"strike", nullptr}, {"optionType", nullptr},
            {"precision", {{"amount", J(Num(m.amount_step))}, {"price", J(Num(m.price_tick))}}},
            {"limits",
             {{"leverage", {{"min", J(Num(lev, "minLeverage"))}, {"max", J(Num(lev, "maxLeverage"))}}},
              {"amount", {{"min", J(first("minTradingQty", "minOrderQty"))},
                          {"max", J(first("maxTradingQty", "maxOrderQty"))}}},
              {"price", {{"min", J(Num(price, "minPrice"))}, {"max", J(Num(price, "maxPrice"))}}},
              {"cost", {{"min", J(Num(lot, "minNotionalValue"))}, {"max", nullptr}}}}},
            {"created", Timestamp(Int(raw, "launchTime"))}, {"info", raw}};
  return m;
}

// ---- tickers, books, trades, candles ---------------------------------------------

Json ParseTicker(const Json& t, const Markets& markets, const std::string& category) {
  const std::string id = Text(t, "symbol");
  const Market* m = Find(markets, category, id);
  const auto ts = Int(t, "time");
  const std::string last_s = Text(t, "lastPrice"), open_s = Text(t, "prevPrice24h");
  const std::string pct_s = Text(t, "price24hPcnt");
  std::optional<double> close = NonZero(Num(last_s)), open = NonZero(Num(open_s));
  std::optional<double> percentage;
  if (auto p = Num(pct_s)) percentage = NonZero(Clean(*p * 100, Decimals(pct_s) - 2));
  const auto base_volume = Num(t, "volume24h"), quote_volume = Num(t, "turnover24h");
  std::optional<double> vwap;
  if (NonZero(quote_volume) && base_volume && *base_volume != 0) vwap = *quote_volume / *base_volume;
  std::optional<double> change, average;
  if (close && open) {
    change = Clean(*close - *open, std::max(Decimals(last_s), Decimals(open_s)));
    const int decimals = m ? Decimals(m->price_tick) : 18;
    average = NonZero(TruncateTo((*open + *close) / 2, decimals));
  } else if (close && percentage) {
    change = *percentage / 100 * (*close / 100);   // CCXT's formula, kept as it is
  }
  auto side_size = [&](const char* a, const char* b) { auto v = Num(t, a); return v ? v : Num(t, b); };
  return {{"symbol", m ? m->symbol : id},
          {"timestamp", Timestamp(ts)},
          {"datetime", ts ? Json(plugin::net::Iso8601(*ts)) : Json(nullptr)},
          {"high", J(NonZero(Num(t, "highPrice24h")))},
          {"low", J(NonZero(Num(t, "lowPrice24h")))},
          {"bid", J(NonZero(Num(t, "bid1Price")))},
          {"bidVolume", J(side_size("bidSize", "bid1Size"))},
          {"ask", J(NonZero(Num(t, "ask1Price")))},
          {"askVolume", J(side_size("askSize", "ask1Size"))},
          {"vwap", J(vwap)},
          {"open", J(open)},
          {"close", J(close)},
          {"last", J(close)},
          {"previousClose", nullptr},
          {"change", J(change)},
          {"percentage", J(percentage)},
          {"average", J(average)},
          {"baseVolume", J(base_volume)},
          {"quoteVolume", J(quote_volume)},
          {"markPrice", J(Num(t, "markPrice"))},
          {"indexPrice", J(Num(t, "indexPrice"))},
          {"info", t}};
}

Json ParseOrderBook(const Json& result, const std::string& symbol, std::size_t limit) {
  auto side = [&](const char* key, bool descending) {
    std::vector<std::pair<double, double>> levels;
    if (result.contains(key) && result[key].is_array())
      for (const auto& l : result[key]) {
        if (!l.is_array() || l.size() < 2) continue;
        auto p = Num(l[0].is_string() ? l[0].get<std::string>() : l[0].dump());
        auto a = Num(l[1].is_string() ? l[1].get<std::string>() : l[1].dump());
        if (p && a) levels.emplace_back(*p, *a);
      }
    std::sort(levels.begin(), levels.end(),
              [&](const auto& x, const auto& y) { return descending ? x.first > y.first : x.first < y.first; });
    if (limit > 0 && levels.size() > limit) levels.resize(limit);
    Json out = Json::array();
    for (const auto& [p, a] : levels) out.push_back({p, a});
    return out;
  };
  const auto ts = Int(result, "ts");
  return {{"symbol", symbol},
          {"bids", side("b", true)},
          {"asks", side("a", false)},
          {"timestamp", Timestamp(ts)},
          {"datetime", ts ? Json(plugin::net::Iso8601(*ts)) : Json(nullptr)},
          {"nonce", nullptr}};
}

Json ParseTrade(const Json& t, const Markets& markets, const std::string& category_hint) {
  std::string category = Text(t, "category");
  if (category.empty()) category = category_hint;
  const std::string id_s = Text(t, "symbol");
  const Market* m = Find(markets, category, id_s);
  std::string id = Text(t, "execId");
  if (id.empty()) id = Text(t, "id");
  if (id.empty()) id = Text(t, "tradeId");
  auto first = [&](std::initializer_list<const char*> keys) {
    for (const char* k : keys)
      if (auto v = Num(t, k)) return v;
    return std::optional<double>();
  };
  const auto amount = first({"execQty", "orderQty", "size"});
  const auto price = first({"execPrice", "orderPrice", "price"});
  std::optional<std::int64_t> ts;
  for (const char* k : {"time", "execTime", "tradeTime"})
    if (!ts) ts = Int(t, k);
  std::string side = Lower(Text(t, "side"));
  Json taker_or_maker = nullptr;
  if (t.contains("isMaker") && t["isMaker"].is_boolean()) taker_or_maker = t["isMaker"].get<bool>() ? "maker" : "taker";
  std::string type = Lower(Text(t, "orderType"));
  Json fee = nullptr;
  const auto fee_cost = Num(t, "execFee");
  if (fee_cost) {
    Json currency = nullptr;
    const bool spot = m ? m->category == "spot" : category == "spot";
    if (m) {
      if (spot) currency = (*fee_cost > 0) == (side == "buy") ? m->base : m->quote;
      else currency = m->settle;
    }
    const std::string fee_coin = Text(t, "feeCoin");
    if (!fee_coin.empty()) currency = fee_coin;
    fee = FeeJson(*fee_cost, currency, J(Num(t, "feeRate")));
  }
  std::optional<double> cost = Num(t, "execValue");
  if (!cost && price && amount) cost = *price * *amount * (m ? m->contract_size : 1);
  return {{"id", id.empty() ? Json(nullptr) : Json(id)},
          {"info", t},
          {"timestamp", Timestamp(ts)},
          {"datetime", ts ? Json(plugin::net::Iso8601(*ts)) : Json(nullptr)},
          {"symbol", m ? m->symbol : id_s},
          {"order", Text(t, "orderId").empty() ? Json(nullptr) : Json(Text(t, "orderId"))},
          {"type", type.empty() || type == "unknown" ? Json(nullptr) : Json(type)},
          {"side", side.empty() ? Json(nullptr) : Json(side)},
          {"takerOrMaker", taker_or_maker},
          {"price", J(price)},
          {"amount", J(amount)},
          {"cost", J(cost)},
          {"fee", fee},
          {"fees", fee.is_null() ? Json::array() : Json::array({fee})}};
}

Json ParsePublicStreamTrade(const Json& t, const Markets& markets, const std::string& category) {
  // {T, s, S, v, p, i}: the REST fields under CCXT Pro's names.
  Json rest = {{"execId", t.value("i", "")}, {"symbol", t.value("s", "")}, {"side", t.value("S", "")},
               {"size", t.contains("v") ? t["v"] : Json("")}, {"price", t.contains("p") ? t["p"] : Json("")},
               {"time", t.contains("T") ? t["T"] : Json(nullptr)}};
  Json out = ParseTrade(rest, markets, category);
  out["info"] = t;
  return out;
}

Json ParseOHLCV(const Json& row) {
  if (!row.is_array() || row.size() < 6) return Json::array();
  auto at = [&](std::size_t i) {
    return Num(row[i].is_string() ? row[i].get<std::string>() : row[i].dump());
  };
  const auto ts = at(0);
  return Json::array({ts ? Json(static_cast<std::int64_t>(*ts)) : Json(nullptr), J(at(1)), J(at(2)),
                      J(at(3)), J(at(4)), J(at(5))});
}

// ---- orders, balances -------------------------------------------------------------

std::string OrderStatus(const std::string& s) {
  static const std::map<std::string, std::string> kStatuses = {
      {"Created", "open"},   {"New", "open"},          {"Rejected", "rejected"},
      {"PartiallyFilled", "open"}, {"PartiallyFilledCanceled", "closed"},
      {"Filled", "closed"},  {"PendingCancel", "open"}, {"Cancelled", "canceled"},
      {"Untriggered", "open"}, {"Deactivated", "canceled"}, {"Triggered", "open"},
      {"Active", "open"}};
  auto it = kStatuses.find(s);
  return it == kStatuses.end() ? s : it->second;
}

std::string TimeInForce(const std::string& s) {
  if (s == "GoodTillCancel") return "GTC";
  if (s == "ImmediateOrCancel") return "IOC";
  if (s == "FillOrKill") return "FOK";
  if (s == "PostOnly") return "PO";
  return s;
}

Json ParseOrder(const Json& o, const Markets& markets, const std::string& category_hint) {
  std::string category = Text(o, "category");
  if (category.empty()) category = category_hint;
  const std::string market_id = Text(o, "symbol");
  const Market* m = Find(markets, category, market_id);
  const bool spot = m ? m->category == "spot" : category == "spot";
  auto ts = Int(o, "createdTime");
  if (!ts) ts = Int(o, "createdAt");
  const std::string type = Lower(Text(o, "orderType"));
  const std::string side = Lower(Text(o, "side"));
  const std::string market_unit = Text(o, "marketUnit");
  const bool qty_is_quote =
      spot && type == "market" && (market_unit == "quoteCoin" || (market_unit.empty() && side == "buy"));
  std::optional<double> amount = qty_is_quote ? std::nullopt : Num(o, "qty");
  std::optional<double> cost = Num(o, "cumExecValue");
  std::optional<double> filled = Num(o, "cumExecQty");
  std::optional<double> remaining = Num(o, "leavesQty");
  std::optional<double> average = NonZero(Num(o, "avgPrice"));
  auto updated = Int(o, "updatedTime");
  if (!updated) updated = Int(o, "updatedAt");
  const std::string raw_status = Text(o, "orderStatus");
  const std::string status = OrderStatus(raw_status);
  Json fee = nullptr;
  if (o.contains("cumFeeDetail") && o["cumFeeDetail"].is_object() && !o["cumFeeDetail"].empty()) {
    const auto& [coin, value] = *o["cumFeeDetail"].items().begin();
    fee = FeeJson(J(Num(value.is_string() ? value.get<std::string>() : value.dump())), coin, nullptr);
  }
  std::string client_id = Text(o, "orderLinkId");
  std::string tif = TimeInForce(Text(o, "timeInForce"));
  // The base class's safeOrder: what follows from what was given.
  if (!amount && filled && remaining) amount = *filled + *remaining;
  if (amount && filled && !remaining && status != "open") remaining = std::max(0.0, *amount - *filled);
  if (amount && remaining && !filled) filled = std::max(0.0, *amount - *remaining);
  if (amount && filled && status == "open" && !remaining) remaining = std::max(0.0, *amount - *filled);
  if (!average && cost && filled && *filled > 0) average = *cost / *filled / (m ? m->contract_size : 1);
  if (!cost && average && filled) cost = *average * *filled * (m ? m->contract_size : 1);
  if (tif.empty() && type == "market") tif = "IOC";
  const auto trigger = NonZero(Num(o, "triggerPrice"));
  Json reduce_only = o.contains("reduceOnly") && o["reduceOnly"].is_boolean() ? o["reduceOnly"] : Json(nullptr);
  return {{"id", Text(o, "orderId").empty() ? Json(nullptr) : Json(Text(o, "orderId"))},
          {"clientOrderId", client_id.empty() ? Json(nullptr) : Json(client_id)},
          {"timestamp", Timestamp(ts)},
          {"datetime", ts ? Json(plugin::net::Iso8601(*ts)) : Json(nullptr)},
          {"lastTradeTimestamp", Timestamp(updated)},
          {"lastUpdateTimestamp", Timestamp(updated)},
          {"symbol", m ? Json(m->symbol) : market_id.empty() ? Json(nullptr) : Json(market_id)},
          {"type", type.empty() ? Json(nullptr) : Json(type)},
          {"timeInForce", tif.empty() ? Json(nullptr) : Json(tif)},
          {"postOnly", tif.empty() ? Json(nullptr) : Json(tif == "PO")},
          {"reduceOnly", reduce_only},
          {"side", side.empty() ? Json(nullptr) : Json(side)},
          {"price", J(NonZero(Num(o, "price")))},
          {"triggerPrice", J(trigger)},
          {"stopPrice", J(trigger)},
          {"takeProfitPrice", J(NonZero(Num(o, "takeProfit")))},
          {"stopLossPrice", J(NonZero(Num(o, "stopLoss")))},
          {"amount", J(amount)},
          {"cost", J(cost)},
          {"average", J(average)},
          {"filled", J(filled)},
          {"remaining", J(remaining)},
          {"status", status.empty() ? Json(nullptr) : Json(status)},
          {"fee", fee},
          {"fees", fee.is_null() ? Json::array() : Json::array({fee})},
          {"trades", Json::array()},
          {"info", o}};
}

Json ParseBalance(const Json& response) {
  const auto ts = Int(response, "time");
  Json out = {{"info", response},
              {"timestamp", Timestamp(ts)},
              {"datetime", ts ? Json(plugin::net::Iso8601(*ts)) : Json(nullptr)}};
  Json free = Json::object(), used = Json::object(), total = Json::object();
  const Json result = response.value("result", Json::object());
  const Json list = result.value("list", Json::array());
  for (const auto& entry : list) {
    const std::string type = Text(entry, "accountType");
    if (type != "UNIFIED" && type != "CONTRACT" && type != "SPOT") continue;
    for (const auto& coin : entry.value("coin", Json::array())) {
      const std::string code = Text(coin, "coin");
      if (code.empty()) continue;
      std::optional<double> t = Num(coin, "walletBalance"), f = Num(coin, "availableToWithdraw"), u;
      if (!f) f = Num(coin, "free");
      if (!f) {
        u = Num(coin, "locked").value_or(0) + Num(coin, "totalPositionIM").value_or(0) +
            Num(coin, "totalOrderIM").value_or(0);
      }
      // safeBalance: the missing one of free/used from total.
      if (t && f && !u) u = Clean(*t - *f, 12);
      if (t && u && !f) f = Clean(*t - *u, 12);
      out[code] = {{"free", J(f)}, {"used", J(u)}, {"total", J(t)}};
      free[code] = J(f);
      used[code] = J(u);
      total[code] = J(t);
    }
  }
  out["free"] = free;
  out["used"] = used;
  out["total"] = total;
  return out;
}

Json FilterSinceLimit(Json list, std::optional<std::int64_t> since, std::optional<std::int64_t> limit, bool ohlcv) {
  auto time_of = [&](const Json& item) -> std::int64_t {
    const Json& v = ohlcv ? item[0] : item["timestamp"];
    return v.is_number() ? v.get<std::int64_t>() : 0;
  };
  std::stable_sort(list.begin(), list.end(), [&](const Json& a, const Json& b) { return time_of(a) < time_of(b); });
  Json out = Json::array();
  for (auto& item : list)
    if (!since || time_of(item) >= *since) out.push_back(std::move(item));
  if (limit && *limit >= 0 && out.size() > static_cast<std::size_t>(*limit)) {
    const auto keep = static_cast<std::ptrdiff_t>(*limit);
    if (since) out.erase(out.begin() + keep, out.end());                 // the first `limit` from since
    else out.erase(out.begin(), out.end() - keep);                       // the newest `limit`
  }
  return out;
}

}  // namespace ami::exchanges::bybit
