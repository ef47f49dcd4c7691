#include "binance_parse.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>

#include "ami/plugin/net/order_book.h"

namespace ami::exchanges::binance {

namespace {

std::string Str(const Json& o, const char* key, const std::string& fallback = "") {
  if (!o.is_object() || !o.contains(key)) return fallback;
  const Json& v = o[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) return v.dump();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return fallback;
}

std::optional<std::int64_t> Int(const Json& o, const char* key) {
  if (!o.is_object() || !o.contains(key)) return std::nullopt;
  const Json& v = o[key];
  if (v.is_number()) return v.get<std::int64_t>();
  if (v.is_string()) {
    try {
      return std::stoll(v.get<std::string>());
    } catch (...) {
    }
  }
  return std::nullopt;
}

bool Bool(const Json& o, const char* key) {
  return o.is_object() && o.contains(key) && o[key].is_boolean() && o[key].get<bool>();
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Json Timestamped(Json j, std::optional<std::int64_t> ts) {
  j["timestamp"] = ts ? Json(*ts) : Json(nullptr);
  j["datetime"] = ts ? Json(Iso(*ts)) : Json(nullptr);
  return j;
}

Json Opt(std::optional<double> v) { return v ? Json(*v) : Json(nullptr); }

const Json* Filter(const Json& symbol, const char* type) {
  if (!symbol.contains("filters") || !symbol["filters"].is_array()) return nullptr;
  for (const auto& f : symbol["filters"])
    if (f.value("filterType", "") == type) return &f;
  return nullptr;
}

std::string Yymmdd(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%y%m%d", &tm);
  return buf;
}

}  // namespace

std::string Iso(std::int64_t ms) { return plugin::net::Iso8601(ms); }

std::optional<double> Num(const Json& o, const char* key) {
  if (!o.is_object() || !o.contains(key)) return std::nullopt;
  return NumValue(o[key]);
}

std::optional<double> NumValue(const Json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    try {
      std::size_t used = 0;
      const std::string s = v.get<std::string>();
      const double d = std::stod(s, &used);
      if (used == s.size() && std::isfinite(d)) return d;
    } catch (...) {
    }
  }
  return std::nullopt;
}

Json NumOrNull(const Json& o, const char* key) { return Opt(Num(o, key)); }

const Market* MarketTable::Find(const std::string& symbol) const {
  auto it = by_symbol.find(symbol);
  return it == by_symbol.end() ? nullptr : &list[it->second];
}

const Market* MarketTable::FindId(const std::string& id) const {
  auto it = by_id.find(id);
  return it == by_id.end() ? nullptr : &list[it->second];
}

std::shared_ptr<const MarketTable> ParseMarkets(const Json& info, bool futures) {
  auto table = std::make_shared<MarketTable>();
  if (!info.is_object() || !info.contains("symbols") || !info["symbols"].is_array()) return table;
  for (const auto& s : info["symbols"]) {
    Market m;
    m.id = Str(s, "symbol");
    m.base = Str(s, "baseAsset");
    m.quote = Str(s, "quoteAsset");
    if (m.id.empty() || m.base.empty() || m.quote.empty()) continue;
    std::optional<std::int64_t> expiry;
    if (futures) {
      const std::string contract = Str(s, "contractType");
      m.settle = Str(s, "marginAsset", m.quote);
      if (contract == "PERPETUAL") {
        m.type = "swap";
        m.symbol = m.base + "/" + m.quote + ":" + m.settle;
      } else if (contract == "CURRENT_QUARTER" || contract == "NEXT_QUARTER" ||
                 contract == "CURRENT_MONTH" || contract == "NEXT_MONTH") {
        m.type = "future";
        expiry = Int(s, "deliveryDate");
        if (!expiry) continue;
        m.symbol = m.base + "/" + m.quote + ":" + m.settle + "-" + Yymmdd(*expiry);
      } else {
        continue;   // settling / unknown contract types
      }
      m.active = Str(s, "status") == "TRADING";
    } else {
      if (s.contains("isSpotTradingAllowed") && !Bool(s, "isSpotTradingAllowed")) continue;
      m.type = "spot";
      m.symbol = m.base + "/" + m.quote;
      m.active = Str(s, "status") == "TRADING";
    }
    if (const Json* f = Filter(s, "PRICE_FILTER")) {
      m.price_tick = Str(*f, "tickSize");
      m.min_price = Num(*f, "minPrice").value_or(0);
      m.max_price = Num(*f, "maxPrice").value_or(0);
    }
    if (const Json* f = Filter(s, "LOT_SIZE")) {
      m.amount_step = Str(*f, "stepSize");
      m.min_amount = Num(*f, "minQty").value_or(0);
      m.max_amount = Num(*f, "maxQty").value_or(0);
    }
    if (const Json* f = Filter(s, "NOTIONAL")) m.min_cost = Num(*f, "minNotional").value_or(0);
    else if (const Json* f2 = Filter(s, "MIN_NOTIONAL"))
      m.min_cost = Num(*f2, "minNotional").value_or(Num(*f2, "notional").value_or(0));
    // Steps that are zero would make rounding impossible: fall back to the precisions.
    if (NumValue(m.amount_step).value_or(0) <= 0) {
      const int p = static_cast<int>(Int(s, futures ? "quantityPrecision" : "baseAssetPrecision").value_or(8));
      m.amount_step = p <= 0 ? "1" : "0." + std::string(static_cast<std::size_t>(p - 1), '0') + "1";
    }
    if (NumValue(m.price_tick).value_or(0) <= 0) {
      const int p = static_cast<int>(Int(s, futures ? "pricePrecision" : "quotePrecision").value_or(8));
      m.price_tick = p <= 0 ? "1" : "0." + std::string(static_cast<std::size_t>(p - 1), '0') + "1";
    }
    auto nz = [](double v) { return v > 0 ? Json(v) : Json(nullptr); };
    const bool contract = futures;
    m.json = {
        {"id", m.id},
        {"symbol", m.symbol},
        {"base", m.base},
        {"quote", m.quote},
        {"settle", contract ? Json(m.settle) : Json(nullptr)},
        {"baseId", m.base},
        {"quoteId", m.quote},
        {"settleId", contract ? Json(m.settle) : Json(nullptr)},
        {"type", m.type},
        {"spot", m.type == "spot"},
        {"margin", !contract && Bool(s, "isMarginTradingAllowed")},
        {"swap", m.type == "swap"},
        {"future", m.type == "future"},
        {"option", false},
        {"active", m.active},
        {"contract", contract},
        {"linear", contract ? Json(true) : Json(nullptr)},
        {"inverse", contract ? Json(false) : Json(nullptr)},
        {"taker", contract ? 0.0005 : 0.001},
        {"maker", contract ? 0.0002 : 0.001},
        {"contractSize", contract ? Json(1) : Json(nullptr)},
        {"expiry", expiry ? Json(*expiry) : Json(nullptr)},
        {"expiryDatetime", expiry ? Json(Iso(*expiry)) : Json(nullptr)},
        {"strike", nullptr},
        {"optionType", nullptr},
        {"precision",
         {{"amount", NumValue(m.amount_step).value_or(0)},
          {"price", NumValue(m.price_tick).value_or(0)}}},
        {"limits",
         {{"leverage", {{"min", nullptr}, {"max", nullptr}}},
          {"amount", {{"min", nz(m.min_amount)}, {"max", nz(m.max_amount)}}},
          {"price", {{"min", nz(m.min_price)}, {"max", nz(m.max_price)}}},
          {"cost", {{"min", nz(m.min_cost)}, {"max", nullptr}}},
          {"market", {{"min", nullptr}, {"max", nullptr}}}}},
        {"created", contract ? Json(Int(s, "onboardDate") ? Json(*Int(s, "onboardDate")) : Json(nullptr)) : Json(nullptr)},
        {"info", s},
    };
    table->by_symbol[m.symbol] = table->list.size();
    table->by_id.emplace(m.id, table->list.size());
    table->list.push_back(std::move(m));
  }
  return table;
}

Json ParseTicker(const Json& t, const Market& m) {
  const auto open = Num(t, "openPrice"), last = Num(t, "lastPrice");
  Json j = {{"symbol", m.symbol},
            {"high", NumOrNull(t, "highPrice")},
            {"low", NumOrNull(t, "lowPrice")},
            {"bid", NumOrNull(t, "bidPrice")},
            {"bidVolume", NumOrNull(t, "bidQty")},
            {"ask", NumOrNull(t, "askPrice")},
            {"askVolume", NumOrNull(t, "askQty")},
            {"vwap", NumOrNull(t, "weightedAvgPrice")},
            {"open", Opt(open)},
            {"close", Opt(last)},
            {"last", Opt(last)},
            {"previousClose", NumOrNull(t, "prevClosePrice")},
            {"change", NumOrNull(t, "priceChange")},
            {"percentage", NumOrNull(t, "priceChangePercent")},
            {"average", open && last ? Json((*open + *last) / 2) : Json(nullptr)},
            {"baseVolume", NumOrNull(t, "volume")},
            {"quoteVolume", NumOrNull(t, "quoteVolume")},
            {"info", t}};
  return Timestamped(std::move(j), Int(t, "closeTime"));
}

Json ParseWsTicker(const Json& t, const Market& m) {
  const auto open = Num(t, "o"), last = Num(t, "c");
  Json j = {{"symbol", m.symbol},
            {"high", NumOrNull(t, "h")},
            {"low", NumOrNull(t, "l")},
            {"bid", NumOrNull(t, "b")},
            {"bidVolume", NumOrNull(t, "B")},
            {"ask", NumOrNull(t, "a")},
            {"askVolume", NumOrNull(t, "A")},
            {"vwap", NumOrNull(t, "w")},
            {"open", Opt(open)},
            {"close", Opt(last)},
            {"last", Opt(last)},
            {"previousClose", NumOrNull(t, "x")},
            {"change", NumOrNull(t, "p")},
            {"percentage", NumOrNull(t, "P")},
            {"average", open && last ? Json((*open + *last) / 2) : Json(nullptr)},
            {"baseVolume", NumOrNull(t, "v")},
            {"quoteVolume", NumOrNull(t, "q")},
            {"info", t}};
  auto ts = Int(t, "C");
  if (!ts) ts = Int(t, "E");
  return Timestamped(std::move(j), ts);
}

Json ParseOrderBook(const Json& depth, const Market& m, std::optional<std::int64_t> limit) {
  auto side = [&](const char* key) {
    Json out = Json::array();
    if (!depth.contains(key) || !depth[key].is_array()) return out;
    for (const auto& lvl : depth[key]) {
      if (limit && static_cast<std::int64_t>(out.size()) >= *limit) break;
      if (!lvl.is_array() || lvl.size() < 2) continue;
      auto p = NumValue(lvl[0]), a = NumValue(lvl[1]);
      if (p && a) out.push_back({*p, *a});
    }
    return out;
  };
  Json j = {{"symbol", m.symbol}, {"bids", side("bids")}, {"asks", side("asks")},
            {"nonce", depth.contains("lastUpdateId") ? depth["lastUpdateId"] : Json(nullptr)}};
  auto ts = Int(depth, "T");
  if (!ts) ts = Int(depth, "E");
  return Timestamped(std::move(j), ts);
}

Json ParsePublicTrade(const Json& t, const Market& m) {
  // REST {id, price, qty, quoteQty, time, isBuyerMaker}; stream trade {t, p, q, T, m};
  // stream aggTrade {a, p, q, T, m}.
  std::string id = Str(t, "id");
  if (id.empty()) id = Str(t, "t");
  if (id.empty()) id = Str(t, "a");
  const auto price = t.contains("price") ? Num(t, "price") : Num(t, "p");
  const auto amount = t.contains("qty") ? Num(t, "qty") : Num(t, "q");
  auto ts = Int(t, "time");
  if (!ts) ts = Int(t, "T");
  const bool buyer_maker = t.contains("isBuyerMaker") ? Bool(t, "isBuyerMaker") : Bool(t, "m");
  std::optional<double> cost = Num(t, "quoteQty");
  if (!cost && price && amount) cost = *price * *amount;
  Json j = {{"id", id},
            {"order", nullptr},
            {"symbol", m.symbol},
            {"type", nullptr},
            {"side", buyer_maker ? "sell" : "buy"},
            {"takerOrMaker", nullptr},
            {"price", Opt(price)},
            {"amount", Opt(amount)},
            {"cost", Opt(cost)},
            {"fee", nullptr},
            {"info", t}};
  return Timestamped(std::move(j), ts);
}

Json ParseMyTrade(const Json& t, const Market& m) {
  const auto price = Num(t, "price"), amount = Num(t, "qty");
  std::optional<double> cost = Num(t, "quoteQty");
  if (!cost && price && amount) cost = *price * *amount;
  std::string side = Lower(Str(t, "side"));
  if (side.empty()) side = (Bool(t, "isBuyer") || Bool(t, "buyer")) ? "buy" : "sell";
  const bool maker = t.contains("isMaker") ? Bool(t, "isMaker") : Bool(t, "maker");
  Json fee = nullptr;
  if (auto c = Num(t, "commission"))
    fee = {{"cost", *c}, {"currency", Str(t, "commissionAsset")}, {"rate", nullptr}};
  Json j = {{"id", Str(t, "id")},
            {"order", Str(t, "orderId")},
            {"symbol", m.symbol},
            {"type", nullptr},
            {"side", side},
            {"takerOrMaker", maker ? "maker" : "taker"},
            {"price", Opt(price)},
            {"amount", Opt(amount)},
            {"cost", Opt(cost)},
            {"fee", fee},
            {"info", t}};
  return Timestamped(std::move(j), Int(t, "time"));
}

Json ParseOhlcv(const Json& k) {
  if (!k.is_array() || k.size() < 6) return Json::array();
  Json out = Json::array();
  out.push_back(k[0].is_number() ? k[0] : Json(nullptr));
  for (int i = 1; i <= 5; ++i) out.push_back(Opt(NumValue(k[i])));
  return out;
}

Json ParseBalance(const Json& reply, bool futures) {
  Json out = {{"info", reply}, {"free", Json::object()}, {"used", Json::object()}, {"total", Json::object()}};
  auto put = [&](const std::string& ccy, double free, double total) {
    const double used = std::max(0.0, total - free);
    out["free"][ccy] = free;
    out["used"][ccy] = used;
    out["total"][ccy] = total;
    out[ccy] = {{"free", free}, {"used", used}, {"total", total}};
  };
  std::optional<std::int64_t> ts;
  if (futures) {
    if (reply.is_array())
      for (const auto& b : reply) {
        const std::string ccy = Str(b, "asset");
        if (ccy.empty()) continue;
        const double total = Num(b, "balance").value_or(0);
        put(ccy, Num(b, "availableBalance").value_or(total), total);
        if (auto t = Int(b, "updateTime")) ts = std::max(ts.value_or(0), *t);
      }
  } else if (reply.is_object() && reply.contains("balances") && reply["balances"].is_array()) {
    for (const auto& b : reply["balances"]) {
      const std::string ccy = Str(b, "asset");
      if (ccy.empty()) continue;
      const double free = Num(b, "free").value_or(0), locked = Num(b, "locked").value_or(0);
      put(ccy, free, free + locked);
    }
    ts = Int(reply, "updateTime");
  }
  return Timestamped(std::move(out), ts);
}

std::string OrderStatus(const std::string& s) {
  if (s == "NEW" || s == "PARTIALLY_FILLED" || s == "PENDING_NEW") return "open";
  if (s == "FILLED") return "closed";
  if (s == "CANCELED") return "canceled";
  if (s == "PENDING_CANCEL") return "canceling";
  if (s == "REJECTED") return "rejected";
  if (s == "EXPIRED" || s == "EXPIRED_IN_MATCH") return "expired";
  return Lower(s);
}

Json ParseOrder(const Json& o, const Market& m) {
  const std::string raw_type = Str(o, "type");
  const std::string tif = Str(o, "timeInForce");
  std::string type = raw_type == "LIMIT_MAKER" ? "limit" : Lower(raw_type);
  const auto amount = Num(o, "origQty");
  const auto filled = Num(o, "executedQty");
  std::optional<double> cost = Num(o, "cummulativeQuoteQty");
  if (!cost) cost = Num(o, "cumQuote");
  std::optional<double> price = Num(o, "price");
  if (price && *price == 0) price.reset();   // market orders carry "0.00000000"
  std::optional<double> average = Num(o, "avgPrice");
  if (average && *average == 0) average.reset();
  if (!average && cost && filled && *filled > 0) average = *cost / *filled;
  std::optional<std::int64_t> ts;
  for (const char* k : {"time", "workingTime", "transactTime", "updateTime"})
    if ((ts = Int(o, k))) break;
  std::string client_id = Str(o, "origClientOrderId");
  if (client_id.empty()) client_id = Str(o, "clientOrderId");
  const std::string id = Str(o, "orderId");

  // FULL spot replies list their fills: trades and the fee.
  Json trades = Json::array();
  Json fee = {{"cost", nullptr}, {"currency", nullptr}, {"rate", nullptr}};
  if (o.contains("fills") && o["fills"].is_array()) {
    double fee_cost = 0;
    std::string fee_ccy;
    bool one_ccy = true;
    for (const auto& f : o["fills"]) {
      const auto fp = Num(f, "price"), fq = Num(f, "qty"), fc = Num(f, "commission");
      const std::string ccy = Str(f, "commissionAsset");
      if (fc) {
        if (!fee_ccy.empty() && ccy != fee_ccy) one_ccy = false;
        fee_ccy = ccy;
        fee_cost += *fc;
      }
      Json tr = {{"id", Str(f, "tradeId")},
                 {"order", id},
                 {"symbol", m.symbol},
                 {"type", type},
                 {"side", Lower(Str(o, "side"))},
                 {"takerOrMaker", nullptr},
                 {"price", Opt(fp)},
                 {"amount", Opt(fq)},
                 {"cost", fp && fq ? Json(*fp * *fq) : Json(nullptr)},
                 {"fee", fc ? Json{{"cost", *fc}, {"currency", ccy}, {"rate", nullptr}} : Json(nullptr)},
                 {"info", f}};
      trades.push_back(Timestamped(std::move(tr), ts));
    }
    if (!fee_ccy.empty() && one_ccy) fee = {{"cost", fee_cost}, {"currency", fee_ccy}, {"rate", nullptr}};
  }
  const std::string status = OrderStatus(Str(o, "status"));
  Json j = {{"id", id},
            {"clientOrderId", client_id.empty() ? Json(nullptr) : Json(client_id)},
            {"lastTradeTimestamp", nullptr},
            {"lastUpdateTimestamp", Int(o, "updateTime") ? Json(*Int(o, "updateTime")) : Json(nullptr)},
            {"symbol", m.symbol},
            {"type", type},
            {"timeInForce", tif == "GTX" ? Json("PO") : (tif.empty() ? Json(nullptr) : Json(tif))},
            {"postOnly", raw_type == "LIMIT_MAKER" || tif == "GTX"},
            {"reduceOnly", o.contains("reduceOnly") ? Json(Bool(o, "reduceOnly")) : Json(nullptr)},
            {"side", Lower(Str(o, "side"))},
            {"price", Opt(price)},
            {"triggerPrice", nullptr},
            {"amount", Opt(amount)},
            {"filled", Opt(filled)},
            {"remaining", amount && filled ? Json(std::max(0.0, *amount - *filled)) : Json(nullptr)},
            {"cost", Opt(cost)},
            {"average", Opt(average)},
            {"status", status},
            {"fee", fee},
            {"trades", trades},
            {"info", o}};
  return Timestamped(std::move(j), ts);
}

}  // namespace ami::exchanges::binance
