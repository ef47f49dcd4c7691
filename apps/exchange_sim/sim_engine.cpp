// SimEngine (sim_engine.h): events, matching and the Bybit-shaped reads. Reads that are
// pure functions of the price process (book, trades, klines) are computed on demand.
// Somewhat over 600 lines: it is one small exchange, and splitting the Bybit shapes from
// the state they render would only spread one set of private types over two files.
#include "apps/exchange_sim/sim_engine.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace ami::exchange_sim {

namespace {

constexpr std::int64_t kDayMs = 86400000;
constexpr double kEps = 1e-12;

std::string Str(const Json& p, const char* key) {
  auto it = p.find(key);
  if (it == p.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

double Num(const std::string& s, bool* ok = nullptr) {
  try {
    std::size_t used = 0;
    const double v = std::stod(s, &used);
    if (ok) *ok = used == s.size() && std::isfinite(v);
    return v;
  } catch (...) {
    if (ok) *ok = false;
    return 0;
  }
}

double FloorTo(double v, double step) { return std::floor(v / step + 1e-9) * step; }
double CeilTo(double v, double step) { return std::ceil(v / step - 1e-9) * step; }
double RoundTo(double v, double step) { return std::round(v / step) * step; }

bool Digits(const std::string& s) {
  return !s.empty() && s.size() < 19 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::size_t PageLimit(const Json& p, std::size_t def, std::size_t max) {
  const std::string l = Str(p, "limit");
  if (!Digits(l)) return def;
  return std::clamp<std::size_t>(std::stoul(l), 1, max);
}

}  // namespace

std::string Fixed(double v, const std::string& step) {
  const auto dot = step.find('.');
  const int decimals = dot == std::string::npos ? 0 : static_cast<int>(step.size() - dot - 1);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string Trim(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10f", v);
  std::string s = buf;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

Fence ParseFence(const std::string& id) {
  // ami-<sid8>-<term>-<start36>-<seq> (leader mode); sid8 is the first 8 characters of a
  // UUID, so it never contains '-'.
  std::vector<std::string> parts;
  std::size_t from = 0;
  for (;;) {
    const auto dash = id.find('-', from);
    parts.push_back(id.substr(from, dash - from));
    if (dash == std::string::npos) break;
    from = dash + 1;
  }
  Fence f;
  if (parts.size() == 5 && parts[0] == "ami" && parts[1].size() == 8 && Digits(parts[2]) && Digits(parts[4])) {
    f.sid8 = parts[1];
    f.term = std::stoull(parts[2]);
  }
  return f;
}

SimEngine::SimEngine(SimConfig config) : config_(std::move(config)) {
  for (const auto& s : config_.markets) {
    const std::string symbol = s.base + "/" + s.quote;   // paper's key for the price path
    Market m{s, s.base + s.quote, Num(s.price_tick), Num(s.amount_step),
             paper::PriceProcess(config_.seed, symbol, config_.volatility, config_.tick_ms)};
    markets_.emplace(m.id, std::move(m));
  }
  for (const auto& a : config_.accounts) balances_[a.name] = a.balances;
}

// ---- prices -------------------------------------------------------------------------

const SimEngine::Market* SimEngine::FindMarket(const std::string& id) const {
  auto it = markets_.find(id);
  return it == markets_.end() ? nullptr : &it->second;
}

double SimEngine::MidAt(const Market& m, std::int64_t step) const {
  return m.spec.price * std::exp(m.process.LogDeviation(step));
}

SimEngine::Quote SimEngine::QuoteAt(const Market& m, std::int64_t now) const {
  const double mid = MidAt(m, now / config_.tick_ms);
  Quote q;
  q.bid = std::max(m.tick, FloorTo(mid * (1 - config_.spread / 2), m.tick));
  q.ask = std::max(q.bid, CeilTo(mid * (1 + config_.spread / 2), m.tick));
  q.last = std::max(m.tick, RoundTo(mid, m.tick));
  return q;
}

std::vector<std::string> SimEngine::MarketIds() const {
  std::vector<std::string> out;
  for (const auto& [id, _] : markets_) out.push_back(id);
  return out;
}

// ---- balances -----------------------------------------------------------------------

double SimEngine::Locked(const std::string& account, const std::string& coin) const {
  double locked = 0;
  for (const auto& [_, o] : orders_) {
    if (o.account != account || !o.open() || o.type != "Limit") continue;
    const Market* m = FindMarket(o.symbol);
    if (!m) continue;
    if (o.side == "Buy" && m->spec.quote == coin) locked += o.price * (o.qty - o.filled);
    if (o.side == "Sell" && m->spec.base == coin) locked += o.qty - o.filled;
  }
  return locked;
}

double SimEngine::Free(const std::string& account, const std::string& coin) const {
  auto a = balances_.find(account);
  double total = 0;
  if (a != balances_.end()) {
    auto c = a->second.find(coin);
    if (c != a->second.end()) total = c->second;
  }
  return total - Locked(account, coin);
}

// ---- events -------------------------------------------------------------------------

Json SimEngine::Event(const char* kind, const Order& o, std::int64_t t) const {
  return {{"t", t},          {"event", kind},       {"client_order_id", o.link}, {"order_id", o.order_id},
          {"account", o.account}, {"sid8", o.sid8},     {"term", o.term},            {"symbol", o.symbol},
          {"side", o.side},  {"type", o.type},      {"tif", o.tif},              {"price", o.price},
          {"qty", o.qty},    {"status", o.status},  {"refused_stale", false}};
}

void SimEngine::Apply(const Json& e) {
  const std::string kind = e.at("event").get<std::string>();
  const std::string id = e.value("order_id", "");
  if (kind == "refused") {
    ++(e.value("refused_stale", false) ? stats_.refused_stale : stats_.refused_other);
    return;
  }
  if (kind == "accepted") {
    Order o;
    o.order_id = id;
    o.link = e.at("client_order_id").get<std::string>();
    o.account = e.at("account").get<std::string>();
    o.sid8 = e.value("sid8", "");
    o.term = e.value("term", std::uint64_t{0});
    o.symbol = e.at("symbol").get<std::string>();
    o.side = e.at("side").get<std::string>();
    o.type = e.at("type").get<std::string>();
    o.tif = e.value("tif", "GTC");
    o.price = e.at("price").get<double>();
    o.qty = e.at("qty").get<double>();
    o.created = o.updated = e.at("t").get<std::int64_t>();
    if (orders_.count(id)) throw std::runtime_error("order " + id + " accepted twice");
    orders_[id] = o;
    order_seq_.push_back(id);
    if (!o.link.empty()) links_[o.account + "|" + o.link] = id;
    if (o.term > 0) terms_[o.sid8] = std::max(terms_[o.sid8], o.term);
    next_order_ = std::max<std::uint64_t>(next_order_, std::stoull(id) + 1);
    ++stats_.accepted;
    return;
  }
  auto it = orders_.find(id);
  if (it == orders_.end()) throw std::runtime_error(kind + " of unknown order " + id);
  Order& o = it->second;
  const std::int64_t t = e.at("t").get<std::int64_t>();
  if (kind == "filled") {
    const Market* m = FindMarket(o.symbol);
    if (!m) throw std::runtime_error("fill in unknown market " + o.symbol);
    Exec x;
    x.exec_id = e.at("exec_id").get<std::string>();
    x.order_id = id;
    x.account = o.account;
    x.symbol = o.symbol;
    x.price = e.at("fill_price").get<double>();
    x.qty = e.at("fill_qty").get<double>();
    x.fee = e.at("fee").get<double>();
    x.fee_coin = e.at("fee_coin").get<std::string>();
    x.fee_rate = e.value("fee_rate", 0.0);
    x.maker = e.value("maker", false);
    x.time = t;
    auto& bal = balances_[o.account];
    if (o.side == "Buy") {
      bal[m->spec.quote] -= x.price * x.qty;
      bal[m->spec.base] += x.qty - x.fee;
    } else {
      bal[m->spec.base] -= x.qty;
      bal[m->spec.quote] += x.price * x.qty - x.fee;
    }
    o.filled += x.qty;
    o.value += x.price * x.qty;
    o.fee += x.fee;
    o.fee_coin = x.fee_coin;
    o.status = o.filled >= o.qty - kEps ? "Filled" : "PartiallyFilled";
    o.updated = t;
    execs_.push_back(x);
    next_exec_ = std::max<std::uint64_t>(next_exec_, std::stoull(x.exec_id.substr(1)) + 1);
    ++stats_.fills;
  } else if (kind == "cancelled") {
    o.status = "Cancelled";
    o.cancel_type = e.value("cancel_type", "CancelByUser");
    o.reject_reason = e.value("reason", "EC_NoError");
    o.updated = t;
    ++stats_.cancels;
  } else {
    throw std::runtime_error("unknown event \"" + kind + "\"");
  }
}

void SimEngine::FillEvent(const Order& o, double price, bool maker, std::int64_t t, std::vector<Json>& events) {
  const Market& m = *FindMarket(o.symbol);
  const double qty = o.qty - o.filled;
  const double rate = maker ? config_.maker_fee : config_.taker_fee;
  Json e = Event("filled", o, t);
  e["exec_id"] = "e" + std::to_string(next_exec_);
  e["fill_price"] = price;
  e["fill_qty"] = qty;
  e["fee_rate"] = rate;
  e["fee"] = o.side == "Buy" ? qty * rate : qty * price * rate;
  e["fee_coin"] = o.side == "Buy" ? m.spec.base : m.spec.quote;
  e["maker"] = maker;
  Apply(e);
  e["status"] = orders_.at(o.order_id).status;
  events.push_back(std::move(e));
}

void SimEngine::CancelEvent(const Order& o, const std::string& reason, std::int64_t t, std::vector<Json>& events) {
  Json e = Event("cancelled", o, t);
  e["cancel_type"] = reason == "EC_NoError" ? "CancelByUser" : "UNKNOWN";
  e["reason"] = reason;
  Apply(e);
  e["status"] = "Cancelled";
  events.push_back(std::move(e));
}

// ---- orders -------------------------------------------------------------------------

Reply SimEngine::Create(const std::string& account, const Json& p, std::int64_t now, std::vector<Json>& events) {
  const std::string category = Str(p, "category"), id = Str(p, "symbol"), side = Str(p, "side");
  const std::string type = Str(p, "orderType"), link = Str(p, "orderLinkId"), unit = Str(p, "marketUnit");
  std::string tif = Str(p, "timeInForce");
  bool qty_ok = false, price_ok = type == "Market";
  const double qty_in = Num(Str(p, "qty"), &qty_ok);
  const double price_in = type == "Limit" ? Num(Str(p, "price"), &price_ok) : 0;
  const Market* m = FindMarket(id);
  if (category != "spot") return {10001, category == "linear" ? "the simulator trades spot only" : "Illegal category"};
  if (!m) return {10001, "Not supported symbols"};
  if (side != "Buy" && side != "Sell") return {10001, "Side invalid"};
  if (type != "Limit" && type != "Market") return {10001, "OrderType invalid"};
  if (!qty_ok || !(qty_in > 0)) return {10001, "Qty invalid"};
  if (!price_ok || (type == "Limit" && !(price_in > 0))) return {10001, "Price invalid"};
  if (link.size() > 36) return {10001, "orderLinkId is too long"};
  if (tif.empty()) tif = type == "Market" ? "IOC" : "GTC";
  if (tif != "GTC" && tif != "IOC" && tif != "FOK" && tif != "PostOnly") return {10001, "TimeInForce invalid"};
  if (!link.empty()) {
    auto dup = links_.find(account + "|" + link);
    if (dup != links_.end()) {
      ++stats_.duplicates;
      return {110072, "OrderLinkedID is duplicate"};
    }
  }
  Order o;
  o.order_id = std::to_string(next_order_);
  o.link = link;
  o.account = account;
  o.symbol = id;
  o.side = side;
  o.type = type;
  o.tif = tif;
  o.price = type == "Limit" ? RoundTo(price_in, m->tick) : 0;
  const Fence fence = ParseFence(link);
  o.sid8 = fence.sid8;
  o.term = fence.term;
  const Quote q = QuoteAt(*m, now);
  // A market buy's qty is quote currency unless marketUnit says baseCoin (Bybit's rule).
  const bool quote_qty = type == "Market" && side == "Buy" && unit != "baseCoin";
  o.qty = quote_qty ? FloorTo(qty_in / q.ask, m->step) : FloorTo(qty_in + m->step * 1e-6, m->step);
  auto refuse = [&](int code, std::string msg, bool stale) -> Reply {
    Json e = Event("refused", o, now);
    e.erase("order_id");
    e["status"] = "Rejected";
    e["refused_stale"] = stale;
    e["ret_code"] = code;
    e["reason"] = msg;
    Apply(e);
    events.push_back(std::move(e));
    return {code, std::move(msg)};
  };
  if (o.term > 0) {
    auto seen = terms_.find(o.sid8);
    if (seen != terms_.end() && o.term < seen->second)
      return refuse(10005, "Permission denied: fenced: term " + std::to_string(o.term) + " < " +
                               std::to_string(seen->second) + " for worker " + o.sid8,
                    true);
  }
  const double ref_price = type == "Limit" ? o.price : (side == "Buy" ? q.ask : q.bid);
  if (!(o.qty > 0) || o.qty < m->spec.min_qty - kEps)
    return refuse(170136, "Order quantity below the lower limit " + Trim(m->spec.min_qty), false);
  if (o.qty * ref_price < m->spec.min_cost - kEps)
    return refuse(170140, "Order value exceeded lower limit " + Trim(m->spec.min_cost), false);
  const bool crosses = type == "Market" || (side == "Buy" ? o.price >= q.ask : o.price <= q.bid);
  const double fill_price = side == "Buy" ? (type == "Limit" && !crosses ? o.price : q.ask) : (type == "Limit" && !crosses ? o.price : q.bid);
  if (side == "Buy") {
    const double need = o.qty * fill_price;
    const double free = Free(account, m->spec.quote);
    if (need > free + kEps)
      return refuse(170131, "Insufficient balance: need " + Trim(need) + " " + m->spec.quote + ", free " + Trim(free), false);
  } else {
    const double free = Free(account, m->spec.base);
    if (o.qty > free + kEps)
      return refuse(170131, "Insufficient balance: need " + Trim(o.qty) + " " + m->spec.base + ", free " + Trim(free), false);
  }
  ++next_order_;
  Json accepted = Event("accepted", o, now);
  Apply(accepted);
  events.push_back(std::move(accepted));
  const Order& placed = orders_.at(o.order_id);
  if (crosses && tif == "PostOnly") CancelEvent(placed, "EC_PostOnlyWillTakeLiquidity", now, events);
  else if (crosses) FillEvent(placed, fill_price, false, now, events);
  else if (tif == "IOC" || tif == "FOK") CancelEvent(placed, "EC_NoImmediateQtyToFill", now, events);
  return {0, "OK", {{"orderId", o.order_id}, {"orderLinkId", link}}};
}

Reply SimEngine::Cancel(const std::string& account, const Json& p, std::int64_t now, std::vector<Json>& events) {
  const std::string id = Str(p, "orderId"), link = Str(p, "orderLinkId"), symbol = Str(p, "symbol");
  if (Str(p, "category") != "spot") return {110001, "Order does not exist"};
  if (id.empty() && link.empty()) return {10001, "orderId or orderLinkId is required"};
  std::string oid = id;
  if (oid.empty()) {
    auto it = links_.find(account + "|" + link);
    if (it == links_.end()) return {110001, "Order does not exist"};
    oid = it->second;
  }
  auto it = orders_.find(oid);
  if (it == orders_.end() || it->second.account != account || (!symbol.empty() && it->second.symbol != symbol))
    return {110001, "Order does not exist"};
  if (!it->second.open()) return {110001, "Order does not exist"};   // Bybit: filled/cancelled orders are gone
  CancelEvent(it->second, "EC_NoError", now, events);
  return {0, "OK", {{"orderId", oid}, {"orderLinkId", it->second.link}}};
}

Reply SimEngine::CancelAll(const std::string& account, const Json& p, std::int64_t now, std::vector<Json>& events) {
  const std::string symbol = Str(p, "symbol");
  Json list = Json::array();
  if (Str(p, "category") == "spot")
    for (const auto& oid : order_seq_) {
      const Order& o = orders_.at(oid);
      if (o.account != account || !o.open() || (!symbol.empty() && o.symbol != symbol)) continue;
      CancelEvent(o, "EC_NoError", now, events);
      list.push_back({{"orderId", o.order_id}, {"orderLinkId", o.link}});
    }
  return {0, "OK", {{"list", list}, {"success", "1"}}};
}

void SimEngine::Sweep(std::int64_t now, std::vector<Json>& events) {
  for (const auto& oid : order_seq_) {
    const Order& o = orders_.at(oid);
    if (!o.open() || o.type != "Limit") continue;
    const Quote q = QuoteAt(*FindMarket(o.symbol), now);
    if (o.side == "Buy" ? q.last <= o.price : q.last >= o.price) FillEvent(o, o.price, true, now, events);
  }
}

// ---- Bybit shapes -------------------------------------------------------------------

Json SimEngine::OrderJson(const Order& o) const {
  const Market* m = FindMarket(o.symbol);
  const std::string tick = m ? m->spec.price_tick : "0.01", step = m ? m->spec.amount_step : "0.000001";
  const double leaves = o.open() ? o.qty - o.filled : 0;
  Json fee_detail = Json::object();
  if (o.fee > 0) fee_detail[o.fee_coin] = Trim(o.fee);
  return {{"orderId", o.order_id}, {"orderLinkId", o.link}, {"blockTradeId", ""}, {"symbol", o.symbol},
          {"price", o.type == "Limit" ? Fixed(o.price, tick) : "0"}, {"qty", Fixed(o.qty, step)},
          {"side", o.side}, {"isLeverage", "0"}, {"positionIdx", 0}, {"orderStatus", o.status},
          {"cancelType", o.cancel_type}, {"rejectReason", o.reject_reason},
          {"avgPrice", o.filled > 0 ? Trim(o.value / o.filled) : ""}, {"leavesQty", Fixed(leaves, step)},
          {"leavesValue", Trim(leaves * o.price)}, {"cumExecQty", Fixed(o.filled, step)},
          {"cumExecValue", Trim(o.value)}, {"cumExecFee", Trim(o.fee)}, {"timeInForce", o.tif},
          {"orderType", o.type}, {"stopOrderType", ""}, {"orderIv", ""}, {"marketUnit", o.type == "Market" ? "baseCoin" : ""},
          {"triggerPrice", ""}, {"takeProfit", ""}, {"stopLoss", ""}, {"tpTriggerBy", ""}, {"slTriggerBy", ""},
          {"triggerDirection", 0}, {"triggerBy", ""}, {"lastPriceOnCreated", ""}, {"reduceOnly", false},
          {"closeOnTrigger", false}, {"smpType", "None"}, {"smpGroup", 0}, {"smpOrderId", ""}, {"placeType", ""},
          {"createdTime", std::to_string(o.created)}, {"updatedTime", std::to_string(o.updated)},
          {"cumFeeDetail", fee_detail}};
}

Json SimEngine::ExecJson(const Exec& e) const {
  const Order& o = orders_.at(e.order_id);
  const Market* m = FindMarket(e.symbol);
  const std::string tick = m ? m->spec.price_tick : "0.01", step = m ? m->spec.amount_step : "0.000001";
  return {{"symbol", e.symbol}, {"orderType", o.type}, {"underlyingPrice", ""}, {"orderLinkId", o.link},
          {"side", o.side}, {"indexPrice", ""}, {"orderId", e.order_id}, {"stopOrderType", "UNKNOWN"},
          {"leavesQty", Fixed(o.open() ? o.qty - o.filled : 0, step)}, {"execTime", std::to_string(e.time)},
          {"feeCurrency", e.fee_coin}, {"isMaker", e.maker}, {"execFee", Trim(e.fee)}, {"feeRate", Trim(e.fee_rate)},
          {"execId", e.exec_id}, {"tradeIv", ""}, {"blockTradeId", ""}, {"markPrice", ""},
          {"execPrice", Fixed(e.price, tick)}, {"markIv", ""}, {"orderQty", Fixed(o.qty, step)},
          {"orderPrice", o.type == "Limit" ? Fixed(o.price, tick) : "0"}, {"execValue", Trim(e.price * e.qty)},
          {"execType", "Trade"}, {"execQty", Fixed(e.qty, step)}, {"closedSize", ""}, {"extraFees", ""},
          {"seq", std::stoll(e.exec_id.substr(1))}};
}

Json SimEngine::OrderItem(const std::string& order_id) const {
  auto it = orders_.find(order_id);
  if (it == orders_.end()) return nullptr;
  Json j = OrderJson(it->second);
  j["category"] = "spot";
  return j;
}

std::string SimEngine::OrderAccount(const std::string& order_id) const {
  auto it = orders_.find(order_id);
  return it == orders_.end() ? "" : it->second.account;
}

Reply SimEngine::Instruments(const Json& p) const {
  const std::string category = Str(p, "category"), symbol = Str(p, "symbol");
  if (category != "spot" && category != "linear") return {10001, "Illegal category"};
  Json list = Json::array();
  if (category == "spot")
    for (const auto& [id, m] : markets_) {
      if (!symbol.empty() && symbol != id) continue;
      list.push_back({{"symbol", id}, {"baseCoin", m.spec.base}, {"quoteCoin", m.spec.quote}, {"innovation", "0"},
                      {"status", "Trading"}, {"marginTrading", "none"}, {"stTag", "0"},
                      {"lotSizeFilter", {{"basePrecision", m.spec.amount_step}, {"quotePrecision", "0.00000001"},
                                         {"minOrderQty", Trim(m.spec.min_qty)}, {"maxOrderQty", "1000000"},
                                         {"minOrderAmt", Trim(m.spec.min_cost)}, {"maxOrderAmt", "100000000"}}},
                      {"priceFilter", {{"tickSize", m.spec.price_tick}}},
                      {"riskParameters", {{"priceLimitRatioX", "0.05"}, {"priceLimitRatioY", "0.1"}}},
                      {"symbolType", ""}});
    }
  return {0, "OK", {{"category", category}, {"list", list}, {"nextPageCursor", ""}}};
}

Json SimEngine::TickerItem(const std::string& id, std::int64_t now) const {
  const Market& m = *FindMarket(id);
  const Quote q = QuoteAt(m, now);
  const Quote prev = QuoteAt(m, now - kDayMs);
  double hi = q.last, lo = q.last;
  for (int i = 1; i <= 96; ++i) {   // every 15 minutes of the last day
    const double v = QuoteAt(m, now - i * kDayMs / 96).last;
    hi = std::max(hi, v);
    lo = std::min(lo, v);
  }
  const std::int64_t step = now / config_.tick_ms;
  return {{"symbol", id},
          {"bid1Price", Fixed(q.bid, m.spec.price_tick)},
          {"bid1Size", Fixed(0.5 + 2 * m.process.Uniform(step, 11), m.spec.amount_step)},
          {"ask1Price", Fixed(q.ask, m.spec.price_tick)},
          {"ask1Size", Fixed(0.5 + 2 * m.process.Uniform(step, 12), m.spec.amount_step)},
          {"lastPrice", Fixed(q.last, m.spec.price_tick)},
          {"prevPrice24h", Fixed(prev.last, m.spec.price_tick)},
          {"price24hPcnt", Fixed(q.last / prev.last - 1, "0.0001")},
          {"highPrice24h", Fixed(hi, m.spec.price_tick)},
          {"lowPrice24h", Fixed(lo, m.spec.price_tick)},
          {"turnover24h", Trim(m.spec.daily_volume * q.last)},
          {"volume24h", Trim(m.spec.daily_volume)},
          {"usdIndexPrice", ""}};
}

Reply SimEngine::Tickers(const Json& p, std::int64_t now) const {
  const std::string category = Str(p, "category"), symbol = Str(p, "symbol");
  if (category != "spot" && category != "linear") return {10001, "Illegal category"};
  Json list = Json::array();
  if (category == "spot")
    for (const auto& [id, _] : markets_)
      if (symbol.empty() || symbol == id) list.push_back(TickerItem(id, now));
  if (!symbol.empty() && list.empty()) return {10001, "Not supported symbols"};
  return {0, "OK", {{"category", category}, {"list", list}}};
}

Json SimEngine::BookData(const std::string& id, int depth, std::int64_t now) const {
  const Market& m = *FindMarket(id);
  const Quote q = QuoteAt(m, now);
  const std::int64_t step = now / config_.tick_ms;
  Json b = Json::array(), a = Json::array();
  for (int k = 0; k < depth; ++k) {
    b.push_back({Fixed(q.bid - k * m.tick, m.spec.price_tick),
                 Fixed(0.01 + m.process.Uniform(step, 100 + k), m.spec.amount_step)});
    a.push_back({Fixed(q.ask + k * m.tick, m.spec.price_tick),
                 Fixed(0.01 + m.process.Uniform(step, 400 + k), m.spec.amount_step)});
  }
  // The update id moves with the price step, so every snapshot is newer than the last.
  return {{"s", id}, {"b", b}, {"a", a}, {"u", static_cast<std::uint64_t>(step)}, {"seq", static_cast<std::uint64_t>(step)}};
}

Reply SimEngine::OrderBook(const Json& p, std::int64_t now) const {
  const std::string id = Str(p, "symbol");
  if (Str(p, "category") != "spot" || !FindMarket(id)) return {10001, "Not supported symbols"};
  const int depth = static_cast<int>(PageLimit(p, 1, 200));
  Json d = BookData(id, depth, now);
  d["ts"] = now;
  d["cts"] = now;
  return {0, "OK", d};
}

Json SimEngine::TradeItem(const std::string& id, std::int64_t now) const {
  const Market& m = *FindMarket(id);
  const std::int64_t step = now / config_.tick_ms;
  const Quote q = QuoteAt(m, now);
  const bool buy = m.process.Uniform(step, 7) < 0.5;
  return {{"T", now}, {"s", id}, {"S", buy ? "Buy" : "Sell"},
          {"v", Fixed(0.001 + m.process.Uniform(step, 8), m.spec.amount_step)},
          {"p", Fixed(buy ? q.ask : q.bid, m.spec.price_tick)}, {"L", "ZeroPlusTick"},
          {"i", id + "-" + std::to_string(step)}, {"BT", false}, {"seq", step}};
}

Reply SimEngine::RecentTrades(const Json& p, std::int64_t now) const {
  const std::string id = Str(p, "symbol");
  if (Str(p, "category") != "spot" || !FindMarket(id)) return {10001, "Not supported symbols"};
  const std::size_t limit = PageLimit(p, 60, 1000);
  Json list = Json::array();
  for (std::size_t i = 0; i < limit; ++i) {   // one simulated trade per price step, newest first
    const std::int64_t t = (now / config_.tick_ms - static_cast<std::int64_t>(i)) * config_.tick_ms;
    const Json s = TradeItem(id, t);
    list.push_back({{"execId", s["i"]}, {"symbol", id}, {"price", s["p"]}, {"size", s["v"]}, {"side", s["S"]},
                    {"time", std::to_string(t)}, {"isBlockTrade", false}, {"isRPITrade", false}});
  }
  return {0, "OK", {{"category", "spot"}, {"list", list}}};
}

Reply SimEngine::Kline(const Json& p, std::int64_t now) const {
  const std::string id = Str(p, "symbol"), interval = Str(p, "interval");
  const Market* m = FindMarket(id);
  if (Str(p, "category") != "spot" || !m) return {10001, "Not supported symbols"};
  std::int64_t iv = 0;
  if (interval == "D") iv = kDayMs;
  else if (interval == "W") iv = 7 * kDayMs;
  else if (interval == "M") iv = 30 * kDayMs;
  else if (Digits(interval)) iv = std::stoll(interval) * 60000;
  if (iv <= 0) return {10001, "Invalid period"};
  const std::size_t limit = PageLimit(p, 200, 1000);
  std::int64_t end = now;
  if (Digits(Str(p, "end"))) end = std::min<std::int64_t>(end, std::stoll(Str(p, "end")));
  std::int64_t start = 0;
  if (Digits(Str(p, "start"))) start = static_cast<std::int64_t>(std::stoll(Str(p, "start")));
  Json list = Json::array();
  const std::string& tick = m->spec.price_tick;
  for (std::int64_t open = end / iv * iv; list.size() < limit && open + iv > start; open -= iv) {
    double o = QuoteAt(*m, open).last, c = QuoteAt(*m, std::min(open + iv - 1, now)).last, hi = std::max(o, c),
           lo = std::min(o, c);
    for (int k = 1; k < 12; ++k) {
      const double v = QuoteAt(*m, std::min(open + iv * k / 12, now)).last;
      hi = std::max(hi, v);
      lo = std::min(lo, v);
    }
    const double vol = m->spec.daily_volume * static_cast<double>(iv) / kDayMs;
    list.push_back({std::to_string(open), Fixed(o, tick), Fixed(hi, tick), Fixed(lo, tick), Fixed(c, tick),
                    Trim(vol), Trim(vol * c)});
  }
  return {0, "OK", {{"symbol", id}, {"category", "spot"}, {"list", list}}};
}

Reply SimEngine::Orders(const std::string& account, const Json& p, bool realtime) const {
  const std::string category = Str(p, "category"), symbol = Str(p, "symbol"), id = Str(p, "orderId"),
                    link = Str(p, "orderLinkId"), status = Str(p, "orderStatus");
  if (category != "spot" && category != "linear") return {10001, "Illegal category"};
  const bool by_id = !id.empty() || !link.empty();
  Json list = Json::array();
  if (category == "spot")
    for (auto it = order_seq_.rbegin(); it != order_seq_.rend(); ++it) {   // newest first
      const Order& o = orders_.at(*it);
      if (o.account != account || (!symbol.empty() && o.symbol != symbol)) continue;
      if ((!id.empty() && o.order_id != id) || (!link.empty() && o.link != link)) continue;
      // realtime: open orders (openOnly=1: recently closed); by id: any state.
      if (realtime && !by_id && (Str(p, "openOnly") == "1") == o.open()) continue;
      if (!realtime && o.open()) continue;
      if (!status.empty() && o.status != status) continue;
      list.push_back(OrderJson(o));
    }
  const std::size_t limit = PageLimit(p, 20, 50);
  const std::string cursor = Str(p, "cursor");
  const std::size_t from = Digits(cursor) ? std::stoul(cursor) : 0;
  Json page = Json::array();
  for (std::size_t i = from; i < list.size() && i < from + limit; ++i) page.push_back(list[i]);
  const std::string next = from + limit < list.size() ? std::to_string(from + limit) : "";
  return {0, "OK", {{"category", category}, {"list", page}, {"nextPageCursor", next}}};
}

Reply SimEngine::Executions(const std::string& account, const Json& p) const {
  const std::string category = Str(p, "category"), symbol = Str(p, "symbol"), id = Str(p, "orderId");
  Json list = Json::array();
  if (category == "spot")
    for (auto it = execs_.rbegin(); it != execs_.rend(); ++it) {
      if (it->account != account || (!symbol.empty() && it->symbol != symbol) || (!id.empty() && it->order_id != id))
        continue;
      list.push_back(ExecJson(*it));
    }
  const std::size_t limit = PageLimit(p, 50, 100);
  const std::string cursor = Str(p, "cursor");
  const std::size_t from = Digits(cursor) ? std::stoul(cursor) : 0;
  Json page = Json::array();
  for (std::size_t i = from; i < list.size() && i < from + limit; ++i) page.push_back(list[i]);
  const std::string next = from + limit < list.size() ? std::to_string(from + limit) : "";
  return {0, "OK", {{"category", category}, {"list", page}, {"nextPageCursor", next}}};
}

Reply SimEngine::Wallet(const std::string& account) const {
  Json coins = Json::array();
  auto a = balances_.find(account);
  if (a != balances_.end())
    for (const auto& [coin, total] : a->second) {
      const double locked = Locked(account, coin);
      coins.push_back({{"coin", coin}, {"equity", Trim(total)}, {"usdValue", ""}, {"walletBalance", Trim(total)},
                       {"locked", Trim(locked)}, {"availableToWithdraw", ""}, {"availableToBorrow", ""},
                       {"borrowAmount", "0"}, {"accruedInterest", "0"}, {"totalOrderIM", "0"},
                       {"totalPositionIM", "0"}, {"totalPositionMM", "0"}, {"unrealisedPnl", "0"},
                       {"cumRealisedPnl", "0"}, {"bonus", "0"}, {"marginCollateral", true},
                       {"collateralSwitch", true}, {"spotBorrow", "0"}});
    }
  Json entry = {{"accountType", "UNIFIED"}, {"totalEquity", ""}, {"totalWalletBalance", ""},
                {"totalAvailableBalance", ""}, {"totalMarginBalance", ""}, {"totalInitialMargin", "0"},
                {"totalMaintenanceMargin", "0"}, {"totalPerpUPL", "0"}, {"accountIMRate", "0"},
                {"accountMMRate", "0"}, {"accountLTV", "0"}, {"coin", coins}};
  return {0, "OK", {{"list", Json::array({entry})}}};
}

}  // namespace ami::exchange_sim
