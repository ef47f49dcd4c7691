// (Over 600 lines: one class's CCXT methods with their JSON shapes; its persistence is in
// paper_journal.cpp, its state and journal lines in paper_state.cpp.)
#include "paper_exchange.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "paper_json.h"

namespace ami::paper {

using Json = nlohmann::json;
using plugin::CcxtError;
namespace errc = plugin::errc;

namespace {

constexpr std::int64_t kDayMs = 86400000;
constexpr std::int64_t kMaxScanSteps = 7 * 86400;    // catch-up window for resting orders

double FloorTo(double x, double step) { return Clean(std::floor(x / step + 1e-9) * step); }
double CeilTo(double x, double step) { return Clean(std::ceil(x / step - 1e-9) * step); }
double RoundTo(double x, double step) { return Clean(std::round(x / step) * step); }

const std::vector<std::pair<std::string, std::int64_t>>& Timeframes() {
  static const std::vector<std::pair<std::string, std::int64_t>> tf = {
      {"1m", 60000},      {"3m", 180000},     {"5m", 300000},     {"15m", 900000},
      {"30m", 1800000},   {"1h", 3600000},    {"2h", 7200000},    {"4h", 14400000},
      {"6h", 21600000},   {"12h", 43200000},  {"1d", 86400000},   {"1w", 604800000}};
  return tf;
}

std::string ClientOrderIdParam(const Json& params) {
  if (!params.contains("clientOrderId")) return "";
  const Json& v = params["clientOrderId"];
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return v.dump();
  throw CcxtError(errc::kBadRequest, "params.clientOrderId must be a string, got " + v.dump());
}

std::int64_t Limit(std::optional<std::int64_t> limit, std::int64_t fallback, std::int64_t max) {
  if (!limit) return fallback;
  if (*limit <= 0) throw CcxtError(errc::kBadRequest, "limit must be positive");
  return std::min(*limit, max);
}

}  // namespace

// ---------------------------------------------------------------------------------
// Txn: one call's critical section.

class PaperExchange::Txn {
 public:
  Txn(PaperExchange& x, const Ctx& ctx) : x_(x), lock_(x.mu_) {
    x_.changes_ = Changes{};
    x_.EnterLocked(ctx);
  }
  // Also when the call failed: a term seen or a fill made on the way stays.
  ~Txn() {
    try {
      x_.CommitLocked();
    } catch (...) {
      // The journal failed: MakeDurable answers this call with the error.
    }
  }
  void Commit() { x_.CommitLocked(); }

 private:
  PaperExchange& x_;
  std::unique_lock<std::mutex> lock_;
};

// ---------------------------------------------------------------------------------
// Construction and plumbing.

PaperExchange::PaperExchange(PaperOptions options) : options_(std::move(options)) {
  for (const auto& spec : options_.markets) {
    market_index_[spec.symbol] = markets_.size();
    markets_.push_back(
        Market{spec, PriceProcess(options_.seed, spec.symbol, options_.volatility,
                                  options_.tick_ms)});
  }
  if (!options_.data_dir.empty())
    journal_file_ = options_.data_dir / ("paper-" + options_.exchange_id + ".jsonl");
}

std::unique_ptr<PaperExchange> PaperExchange::Create(PaperOptions options, std::string& error) {
  std::unique_ptr<PaperExchange> x(new PaperExchange(std::move(options)));
  if (!x->journal_file_.empty()) {
    error = x->OpenJournal();
    if (!error.empty()) return nullptr;
  }
  if (x->state_.manual_now == 0) x->state_.manual_now = x->options_.start_time_ms;
  x->index_.Rebuild(x->state_);
  return x;
}

std::string PaperExchange::name() const {
  return options_.exchange_id == "paper" ? "Paper Exchange"
                                         : "Paper Exchange (" + options_.exchange_id + ")";
}

Json PaperExchange::has() const {
  Json h = {{"spot", true},          {"margin", false},       {"swap", false},
            {"future", false},       {"option", false},       {"publicAPI", true},
            {"privateAPI", true},    {"sandbox", false},      {"ws", false}};
  for (const char* m :
       {"loadMarkets", "fetchMarkets", "fetchTicker", "fetchTickers", "fetchOrderBook",
        "fetchTrades", "fetchOHLCV", "fetchBalance", "createOrder", "cancelOrder",
        "cancelAllOrders", "fetchOrder", "fetchOrders", "fetchOpenOrders",
        "fetchClosedOrders", "fetchMyTrades"})
    h[m] = true;
  return h;
}

std::vector<plugin::ExtensionMethod> PaperExchange::extensions() const {
  if (!options_.test_controls) return {};
  return {{"paperSetPrice", {"symbol", "price"}, 2, false},
          {"paperAdvanceTime", {"ms"}, 1, false},
          {"paperSetBalance", {"currency", "amount"}, 2, true},
          {"paperInjectFault", {"kind", "count", "method"}, 2, false}};
}

Json PaperExchange::describeExtra() const {
  Json tf = Json::object();
  for (const auto& [name, ms] : Timeframes()) tf[name] = name;
  return {{"precisionMode", 4},   // CCXT TICK_SIZE: precision values are step sizes
          {"timeframes", tf},
          {"fees", {{"trading", {{"maker", options_.maker_fee}, {"taker", options_.taker_fee}}}}},
          {"symbols", [&] {
             Json s = Json::array();
             for (const auto& m : markets_) s.push_back(m.spec.symbol);
             return s;
           }()},
          {"paper", OptionsSummary(options_)}};
}

double PaperExchange::Roll() {
  const std::uint64_t n = fault_counter_.fetch_add(1);
  return static_cast<double>(Mix64(options_.seed * 0x9e3779b97f4a7c15ULL ^ Mix64(n)) >> 11) *
         0x1.0p-53;
}

bool PaperExchange::TakeInjectedFault(const std::string& kind, const std::string& method) {
  std::lock_guard<std::mutex> lock(faults_mu_);
  for (auto it = injected_.begin(); it != injected_.end(); ++it) {
    if (it->kind != kind || (!it->method.empty() && it->method != method)) continue;
    if (--it->remaining <= 0) injected_.erase(it);
    return true;
  }
  return false;
}

void PaperExchange::beforeCall(const Ctx&, const std::string& method) {
  if (method.rfind("paper", 0) == 0) return;   // test controls: no faults
  if (options_.latency_ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(options_.latency_ms));
  if (TakeInjectedFault("network", method))
    throw CcxtError(errc::kNetworkError,
                    options_.exchange_id + ": injected network error on " + method +
                        " (paperInjectFault); the request did not reach the exchange");
  if (options_.network_error_rate > 0 && Roll() < options_.network_error_rate)
    throw CcxtError(errc::kNetworkError,
                    options_.exchange_id + ": injected network error on " + method +
                        " (network_error_rate); the request did not reach the exchange");
}

void PaperExchange::afterCall(const Ctx&, const std::string& method, Json&) {
  if (method.rfind("paper", 0) == 0) return;
  if (TakeInjectedFault("timeout", method))
    throw CcxtError(errc::kRequestTimeout,
                    options_.exchange_id + ": injected timeout on " + method +
                        " (paperInjectFault); the request was processed but the response was lost");
  if (options_.timeout_rate > 0 && Roll() < options_.timeout_rate)
    throw CcxtError(errc::kRequestTimeout,
                    options_.exchange_id + ": injected timeout on " + method +
                        " (timeout_rate); the request was processed but the response was lost");
}

void PaperExchange::EnterLocked(const Ctx& ctx) {
  if (ctx.term > 0 && !ctx.worker_sid.empty()) {
    auto it = state_.terms.find(ctx.worker_sid);
    const std::uint64_t highest = it == state_.terms.end() ? 0 : it->second;
    if (ctx.term < highest)
      throw CcxtError(errc::kPermissionDenied,
                      options_.exchange_id + ": fenced: term " + std::to_string(ctx.term) + " < " +
                          std::to_string(highest) + " for worker " + ctx.worker_sid +
                          ": a newer leader holds this worker's lease; nothing was done",
                      Json{{"term", ctx.term}, {"highestTerm", highest}});
    if (ctx.term > highest) {
      state_.terms[ctx.worker_sid] = ctx.term;
      changes_.terms.insert(ctx.worker_sid);
    }
  }
  now_ = NowLocked();
  AdvanceLocked();
}

void PaperExchange::SetStatusLocked(Order& o, const char* status) {
  index_.Remove(o);
  o.status = status;
  index_.Add(o);
  changes_.orders.insert(o.seq);
}

std::int64_t PaperExchange::NowLocked() const {
  if (options_.manual_clock) return state_.manual_now;
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t PaperExchange::StepOf(std::int64_t ms) const {
  std::int64_t q = ms / options_.tick_ms;
  if (ms % options_.tick_ms != 0 && ms < 0) --q;
  return q;
}

const PaperExchange::Market& PaperExchange::FindMarket(const std::string& symbol) const {
  auto it = market_index_.find(symbol);
  if (it == market_index_.end())
    throw CcxtError(errc::kBadSymbol, options_.exchange_id + " does not have market symbol " + symbol);
  return markets_[it->second];
}

double PaperExchange::MidLocked(const Market& m, std::int64_t step) const {
  auto it = state_.offsets.find(m.spec.symbol);
  const double offset = it == state_.offsets.end() ? 0.0 : it->second;
  return m.spec.price * std::exp(offset + m.process.LogDeviation(step));
}

PaperExchange::Quote PaperExchange::QuoteLocked(const Market& m, std::int64_t step) const {
  const double mid = MidLocked(m, step);
  const double tick = m.spec.price_tick;
  Quote q;
  q.last = std::max(tick, RoundTo(mid, tick));
  q.bid = std::max(tick, FloorTo(mid * (1 - options_.spread / 2), tick));
  q.ask = std::max(q.bid, CeilTo(mid * (1 + options_.spread / 2), tick));
  return q;
}

// ---------------------------------------------------------------------------------
// Matching.

void PaperExchange::AdvanceLocked() {
  const std::int64_t now_step = StepOf(now_);
  for (const auto& m : markets_) {
    const std::string& sym = m.spec.symbol;
    auto it = state_.last_scan.find(sym);
    const std::int64_t from = std::max(it == state_.last_scan.end() ? now_step + 1 : it->second + 1,
                                       now_step - kMaxScanSteps);
    std::vector<Order*> open;
    if (auto idx = index_.open.find(sym); idx != index_.open.end())
      for (std::int64_t seq : idx->second) open.push_back(&state_.orders.at(seq));
    for (std::int64_t s = from; s <= now_step && !open.empty(); ++s) {
      double max_buy = -1, min_sell = -1;
      for (const Order* o : open) {
        if (o->side == "buy") max_buy = std::max(max_buy, o->price);
        else if (min_sell < 0 || o->price < min_sell) min_sell = o->price;
      }
      const double last = QuoteLocked(m, s).last;
      if (!(last <= max_buy || (min_sell >= 0 && last >= min_sell))) continue;
      const std::int64_t ts = s * options_.tick_ms;
      for (Order* o : open) {
        const bool crosses = o->side == "buy" ? last <= o->price : last >= o->price;
        if (crosses) FillLocked(*o, o->price, /*taker=*/false, std::max(ts, o->timestamp));
      }
      open.erase(std::remove_if(open.begin(), open.end(),
                                [](const Order* o) { return o->status != "open"; }),
                 open.end());
    }
    // Moving the scan position alone does not need a save: after a restart, ticks are
    // simply scanned again (nothing rested on them, or they would have filled).
    if (it == state_.last_scan.end() || it->second < now_step) state_.last_scan[sym] = now_step;
  }
}

void PaperExchange::FillRestingLocked(const Market& m, std::int64_t step, double last) {
  const std::int64_t ts = step * options_.tick_ms;
  auto idx = index_.open.find(m.spec.symbol);
  if (idx == index_.open.end()) return;
  const std::vector<std::int64_t> open(idx->second.begin(), idx->second.end());   // fills change the set
  for (std::int64_t seq : open) {
    Order& o = state_.orders.at(seq);
    const bool crosses = o.side == "buy" ? last <= o.price : last >= o.price;
    if (crosses) FillLocked(o, o.price, /*taker=*/false, std::max(ts, o.timestamp));
  }
}

void PaperExchange::FillLocked(Order& o, double price, bool taker, std::int64_t ts) {
  const Market& m = FindMarket(o.symbol);
  Account& acc = state_.accounts[o.account];
  const double amount = o.amount - o.filled;
  const double rate = taker ? options_.taker_fee : options_.maker_fee;
  const double cost = Clean(amount * price);
  Trade t;
  t.seq = state_.next_seq++;
  t.order = o.seq;
  t.account = o.account;
  t.symbol = o.symbol;
  t.type = o.type;
  t.side = o.side;
  t.taker_or_maker = taker ? "taker" : "maker";
  t.price = price;
  t.amount = amount;
  t.cost = cost;
  t.fee_rate = rate;
  t.timestamp = ts;
  auto& base = acc.total[m.spec.base];
  auto& quote = acc.total[m.spec.quote];
  if (o.side == "buy") {
    t.fee_cost = Clean(amount * rate);
    t.fee_currency = m.spec.base;
    quote = Clean(quote - cost);
    base = Clean(base + amount - t.fee_cost);
  } else {
    t.fee_cost = Clean(cost * rate);
    t.fee_currency = m.spec.quote;
    base = Clean(base - amount);
    quote = Clean(quote + cost - t.fee_cost);
  }
  o.filled = Clean(o.filled + amount);
  o.cost = Clean(o.cost + cost);
  o.average = o.filled > 0 ? Clean(o.cost / o.filled) : 0;
  o.fee_cost = Clean(o.fee_cost + t.fee_cost);
  o.fee_currency = t.fee_currency;
  o.fee_rate = rate;
  SetStatusLocked(o, "closed");
  o.last_trade_timestamp = ts;
  o.last_update_timestamp = ts;
  if (o.type == "market") o.price = o.average;
  o.trades.push_back(t.seq);
  changes_.trades.insert(t.seq);
  changes_.accounts.insert(o.account);
  state_.trades[t.seq] = std::move(t);
}

// ---------------------------------------------------------------------------------
// Accounts.

std::string PaperExchange::AccountKey(const Ctx& ctx) const {
  return ctx.account_id.empty() ? "default" : ctx.account_id;
}

Account& PaperExchange::AccountLocked(const Ctx& ctx) {
  if (options_.require_credentials && ctx.credentials.api_key.empty())
    throw CcxtError(errc::kAuthenticationError,
                    options_.exchange_id + " requires \"apiKey\" credential (account '" + AccountKey(ctx) +
                        "' has no api key configured)");
  const std::string key = AccountKey(ctx);
  auto it = state_.accounts.find(key);
  if (it != state_.accounts.end()) return it->second;
  Account& acc = state_.accounts[key];
  acc.total = options_.starting_balances;
  changes_.accounts.insert(key);
  return acc;
}

double PaperExchange::UsedLocked(const std::string& account, const std::string& ccy) const {
  double used = 0;
  for (const auto& [symbol, seqs] : index_.open) {
    auto mi = market_index_.find(symbol);
    if (mi == market_index_.end()) continue;   // market no longer configured
    const MarketSpec& spec = markets_[mi->second].spec;
    for (std::int64_t seq : seqs) {
      const Order& o = state_.orders.at(seq);
      if (o.account != account) continue;
      const double remaining = o.amount - o.filled;
      if (o.side == "buy" && spec.quote == ccy) used += remaining * o.price;
      if (o.side == "sell" && spec.base == ccy) used += remaining;
    }
  }
  return Clean(used);
}

double PaperExchange::FreeLocked(const std::string& account, const std::string& ccy) const {
  auto a = state_.accounts.find(account);
  if (a == state_.accounts.end()) return 0;
  auto t = a->second.total.find(ccy);
  const double total = t == a->second.total.end() ? 0 : t->second;
  return Clean(total - UsedLocked(account, ccy));
}

Order* PaperExchange::FindOrderLocked(const std::string& account, const std::string& id,
                                      const Json& params) {
  const std::string coid = ClientOrderIdParam(params);
  if (!coid.empty()) {
    auto it = index_.client_ids.find({account, coid});
    return it == index_.client_ids.end() ? nullptr : &state_.orders.at(it->second);
  }
  if (id.empty() || id.size() > 18 || id.find_first_not_of("0123456789") != std::string::npos)
    return nullptr;
  auto it = state_.orders.find(std::stoll(id));
  if (it == state_.orders.end() || it->second.account != account) return nullptr;
  return &it->second;
}

void PaperExchange::TrimLocked(const std::string& account) {
  auto done = index_.done.find(account);
  if (done == index_.done.end()) return;
  while (done->second.size() > options_.max_closed_orders) {
    auto it = state_.orders.find(*done->second.begin());   // the oldest closed or canceled
    index_.Remove(it->second);
    for (std::int64_t t : it->second.trades) {
      state_.trades.erase(t);
      changes_.trades.erase(t);
      changes_.dropped_trades.insert(t);
    }
    changes_.orders.erase(it->first);
    changes_.dropped_orders.insert(it->first);
    state_.orders.erase(it);
  }
}

std::vector<const Order*> PaperExchange::SelectOrdersLocked(
    const std::string& account, const std::optional<std::string>& symbol,
    const char* status_filter) const {
  if (symbol) FindMarket(*symbol);
  std::vector<const Order*> out;
  if (status_filter && std::string(status_filter) == "open") {   // the index: open orders are few
    std::vector<std::int64_t> seqs;
    for (const auto& [sym, open] : index_.open)
      if (!symbol || sym == *symbol) seqs.insert(seqs.end(), open.begin(), open.end());
    std::sort(seqs.begin(), seqs.end());
    for (std::int64_t seq : seqs)
      if (const Order& o = state_.orders.at(seq); o.account == account) out.push_back(&o);
    return out;
  }
  for (const auto& [seq, o] : state_.orders) {
    if (o.account != account) continue;
    if (symbol && o.symbol != *symbol) continue;
    if (status_filter) {
      const std::string f = status_filter;
      if (f == "open" && o.status != "open") continue;
      if (f == "done" && o.status == "open") continue;
    }
    out.push_back(&o);
  }
  return out;
}

// ---------------------------------------------------------------------------------
// JSON shapes (CCXT unified structures).

Json PaperExchange::MarketJson(const Market& m) const {
  const auto& s = m.spec;
  return {{"id", s.base + s.quote},
          {"symbol", s.symbol},
          {"base", s.base},
          {"quote", s.quote},
          {"settle", nullptr},
          {"baseId", s.base},
          {"quoteId", s.quote},
          {"settleId", nullptr},
          {"type", "spot"},
          {"spot", true},
          {"margin", false},
          {"swap", false},
          {"future", false},
          {"option", false},
          {"active", true},
          {"contract", false},
          {"linear", nullptr},
          {"inverse", nullptr},
          {"contractSize", nullptr},
          {"expiry", nullptr},
          {"expiryDatetime", nullptr},
          {"strike", nullptr},
          {"optionType", nullptr},
          {"taker", options_.taker_fee},
          {"maker", options_.maker_fee},
          {"percentage", true},
          {"tierBased", false},
          {"feeSide", "get"},
          {"precision", {{"amount", s.amount_step}, {"price", s.price_tick}}},
          {"limits",
           {{"amount", {{"min", s.min_amount}, {"max", nullptr}}},
            {"price", {{"min", s.price_tick}, {"max", nullptr}}},
            {"cost", {{"min", s.min_cost}, {"max", nullptr}}},
            {"leverage", {{"min", nullptr}, {"max", nullptr}}}}},
          {"created", nullptr},
          {"info", {{"symbol", s.base + s.quote}, {"status", "Trading"}}}};
}

Json PaperExchange::TickerJsonLocked(const Market& m) const {
  const std::int64_t step = StepOf(now_);
  const Quote q = QuoteLocked(m, step);
  const std::int64_t steps_per_day = std::max<std::int64_t>(1, kDayMs / options_.tick_ms);
  const double open = QuoteLocked(m, step - steps_per_day).last;
  double high = std::max(open, q.last), low = std::min(open, q.last);
  const std::int64_t stride = std::max<std::int64_t>(1, steps_per_day / 1440);
  for (std::int64_t s = step - steps_per_day; s <= step; s += stride) {
    const double p = QuoteLocked(m, s).last;
    high = std::max(high, p);
    low = std::min(low, p);
  }
  const std::int64_t day = now_ / kDayMs;
  const double base_volume =
      Clean(m.spec.daily_volume * (0.75 + 0.5 * m.process.Uniform(day, 0xb01u)));
  const double average = Clean((open + q.last) / 2);
  const double quote_volume = Clean(base_volume * average);
  const double change = Clean(q.last - open);
  return {{"symbol", m.spec.symbol},
          {"timestamp", now_},
          {"datetime", Iso8601(now_)},
          {"high", high},
          {"low", low},
          {"bid", q.bid},
          {"bidVolume", Clean(FloorTo(m.spec.min_amount * (1 + 20 * m.process.Uniform(step, 1)), m.spec.amount_step))},
          {"ask", q.ask},
          {"askVolume", Clean(FloorTo(m.spec.min_amount * (1 + 20 * m.process.Uniform(step, 2)), m.spec.amount_step))},
          {"vwap", average},
          {"open", open},
          {"close", q.last},
          {"last", q.last},
          {"previousClose", nullptr},
          {"change", change},
          {"percentage", open > 0 ? Clean(change / open * 100) : 0.0},
          {"average", average},
          {"baseVolume", base_volume},
          {"quoteVolume", quote_volume},
          {"info", {{"symbol", m.spec.base + m.spec.quote}, {"lastPrice", q.last}}}};
}

std::vector<const Trade*> PaperExchange::OrderCopy::TradePointers() const {
  std::vector<const Trade*> out;
  out.reserve(trades.size());
  for (const Trade& t : trades) out.push_back(&t);
  return out;
}

PaperExchange::OrderCopy PaperExchange::CopyLocked(const Order& o) const {
  OrderCopy c{o, {}};
  for (std::int64_t seq : o.trades)
    if (auto it = state_.trades.find(seq); it != state_.trades.end()) c.trades.push_back(it->second);
  return c;
}

Json PaperExchange::OrderJsonLocked(const Order& o) const {
  std::vector<const Trade*> trades;
  for (std::int64_t seq : o.trades)
    if (auto it = state_.trades.find(seq); it != state_.trades.end()) trades.push_back(&it->second);
  return OrderJson(o, trades);
}

Json PaperExchange::BalanceJsonLocked(const std::string& account) const {
  Json out = Json::object();
  Json free = Json::object(), used = Json::object(), total = Json::object();
  Json coins = Json::array();
  double equity = 0, available = 0;
  auto str = [](double d) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.8f", d);
    return std::string(buf);
  };
  auto a = state_.accounts.find(account);
  if (a != state_.accounts.end()) {
    for (const auto& [ccy, tot] : a->second.total) {
      const double u = UsedLocked(account, ccy);
      const double f = Clean(tot - u);
      free[ccy] = f;
      used[ccy] = u;
      total[ccy] = tot;
      out[ccy] = {{"free", f}, {"used", u}, {"total", tot}};
      double usd = 0;
      if (ccy == "USDT" || ccy == "USD" || ccy == "USDC") {
        usd = 1;
      } else {
        auto mi = market_index_.find(ccy + "/USDT");
        if (mi != market_index_.end()) usd = QuoteLocked(markets_[mi->second], StepOf(now_)).last;
      }
      equity += tot * usd;
      available += f * usd;
      coins.push_back({{"coin", ccy},
                       {"walletBalance", str(tot)},
                       {"locked", str(u)},
                       {"free", str(f)},
                       {"usdValue", str(tot * usd)}});
    }
  }
  // `info` mimics Bybit's unified-account wallet balance, which STELS templates read
  // (info.result.list[0].totalEquity).
  out["info"] = {{"retCode", 0},
                 {"retMsg", "OK"},
                 {"result",
                  {{"list", Json::array({{{"accountType", "UNIFIED"},
                                          {"totalEquity", str(equity)},
                                          {"totalWalletBalance", str(equity)},
                                          {"totalAvailableBalance", str(available)},
                                          {"coin", coins}}})}}}};
  out["timestamp"] = now_;
  out["datetime"] = Iso8601(now_);
  out["free"] = free;
  out["used"] = used;
  out["total"] = total;
  return out;
}

Json PaperExchange::OrderListLocked(std::vector<const Order*> orders,
                                    std::optional<std::int64_t> since,
                                    std::optional<std::int64_t> limit) const {
  if (since)
    orders.erase(std::remove_if(orders.begin(), orders.end(),
                                [&](const Order* o) { return o->timestamp < *since; }),
                 orders.end());
  if (limit && *limit <= 0) throw CcxtError(errc::kBadRequest, "limit must be positive");
  if (limit && static_cast<std::size_t>(*limit) < orders.size()) {
    if (since)
      orders.resize(static_cast<std::size_t>(*limit));
    else
      orders.erase(orders.begin(), orders.end() - *limit);
  }
  Json out = Json::array();
  for (const Order* o : orders) out.push_back(OrderJsonLocked(*o));
  return out;
}

// ---------------------------------------------------------------------------------
// Public methods.

Json PaperExchange::loadMarkets(const Ctx& ctx, bool, const Json&) {
  Txn t(*this, ctx);
  Json out = Json::object();
  for (const auto& m : markets_) out[m.spec.symbol] = MarketJson(m);
  t.Commit();
  return out;
}

Json PaperExchange::fetchMarkets(const Ctx& ctx, const Json&) {
  Txn t(*this, ctx);
  Json out = Json::array();
  for (const auto& m : markets_) out.push_back(MarketJson(m));
  t.Commit();
  return out;
}

Json PaperExchange::fetchTicker(const Ctx& ctx, const std::string& symbol, const Json&) {
  Txn t(*this, ctx);
  Json out = TickerJsonLocked(FindMarket(symbol));
  t.Commit();
  return out;
}

Json PaperExchange::fetchTickers(const Ctx& ctx,
                                 const std::optional<std::vector<std::string>>& symbols,
                                 const Json&) {
  Txn t(*this, ctx);
  Json out = Json::object();
  if (symbols) {
    for (const auto& s : *symbols) out[s] = TickerJsonLocked(FindMarket(s));
  } else {
    for (const auto& m : markets_) out[m.spec.symbol] = TickerJsonLocked(m);
  }
  t.Commit();
  return out;
}

Json PaperExchange::fetchOrderBook(const Ctx& ctx, const std::string& symbol,
                                   std::optional<std::int64_t> limit, const Json&) {
  Txn t(*this, ctx);
  const Market& m = FindMarket(symbol);
  const std::int64_t n = Limit(limit, 25, 1000);
  const std::int64_t step = StepOf(now_);
  const Quote q = QuoteLocked(m, step);
  const double gap = std::max(m.spec.price_tick, RoundTo(q.last * 0.0002, m.spec.price_tick));
  Json bids = Json::array(), asks = Json::array();
  for (std::int64_t i = 0; i < n; ++i) {
    const double bid = Clean(q.bid - static_cast<double>(i) * gap);
    const double ask = Clean(q.ask + static_cast<double>(i) * gap);
    auto size = [&](std::uint64_t salt) {
      return FloorTo(m.spec.min_amount * (1 + 40 * m.process.Uniform(step, salt)),
                     m.spec.amount_step);
    };
    if (bid > 0) bids.push_back({bid, size(1000 + static_cast<std::uint64_t>(i))});
    asks.push_back({ask, size(5000 + static_cast<std::uint64_t>(i))});
  }
  t.Commit();
  return {{"symbol", symbol}, {"bids", bids},           {"asks", asks},
          {"timestamp", now_}, {"datetime", Iso8601(now_)}, {"nonce", step}};
}

Json PaperExchange::fetchTrades(const Ctx& ctx, const std::string& symbol,
                                std::optional<std::int64_t> since,
                                std::optional<std::int64_t> limit, const Json&) {
  Txn t(*this, ctx);
  const Market& m = FindMarket(symbol);
  const std::int64_t n = Limit(limit, 50, 1000);
  const std::int64_t now_step = StepOf(now_);
  std::int64_t first = since ? StepOf(*since + options_.tick_ms - 1) : now_step - n + 1;
  const std::int64_t last = std::min(now_step, first + n - 1);
  Json out = Json::array();
  for (std::int64_t s = first; s <= last; ++s) {
    const double price = QuoteLocked(m, s).last;
    const double amount =
        FloorTo(m.spec.min_amount * (1 + 20 * m.process.Uniform(s, 7)), m.spec.amount_step);
    const std::int64_t ts = s * options_.tick_ms;
    out.push_back({{"id", std::to_string(s)},
                   {"order", nullptr},
                   {"timestamp", ts},
                   {"datetime", Iso8601(ts)},
                   {"symbol", symbol},
                   {"type", nullptr},
                   {"side", m.process.Uniform(s, 8) < 0.5 ? "buy" : "sell"},
                   {"takerOrMaker", nullptr},
                   {"price", price},
                   {"amount", amount},
                   {"cost", Clean(price * amount)},
                   {"fee", nullptr},
                   {"fees", Json::array()},
                   {"info", Json::object()}});
  }
  t.Commit();
  return out;
}

Json PaperExchange::fetchOHLCV(const Ctx& ctx, const std::string& symbol,
                               const std::string& timeframe, std::optional<std::int64_t> since,
                               std::optional<std::int64_t> limit, const Json&) {
  Txn t(*this, ctx);
  const Market& m = FindMarket(symbol);
  std::int64_t tf = 0;
  std::string names;
  for (const auto& [name, ms] : Timeframes()) {
    if (name == timeframe) tf = ms;
    names += (names.empty() ? "" : ", ") + name;
  }
  if (!tf)
    throw CcxtError(errc::kBadRequest,
                    options_.exchange_id + " does not support timeframe '" + timeframe + "' (" + names + ")");
  const std::int64_t n = Limit(limit, 100, 1000);
  const std::int64_t current = (now_ / tf) * tf;
  std::int64_t start = since ? ((*since + tf - 1) / tf) * tf : current - (n - 1) * tf;
  Json out = Json::array();
  for (std::int64_t c = start, i = 0; c <= current && i < n; c += tf, ++i) {
    const std::int64_t s0 = StepOf(c);
    const std::int64_t s1 = std::min(StepOf(c + tf - 1), StepOf(now_));
    const std::int64_t stride = std::max<std::int64_t>(1, (s1 - s0 + 1) / 60);
    double o = QuoteLocked(m, s0).last, h = o, l = o, cl = o;
    for (std::int64_t s = s0; s <= s1; s += stride) {
      cl = QuoteLocked(m, s).last;
      h = std::max(h, cl);
      l = std::min(l, cl);
    }
    cl = QuoteLocked(m, s1).last;
    h = std::max(h, cl);
    l = std::min(l, cl);
    const double volume =
        Clean(m.spec.daily_volume * static_cast<double>(tf) / kDayMs *
              (0.5 + m.process.Uniform(c / tf, 9)));
    out.push_back({c, o, h, l, cl, volume});
  }
  t.Commit();
  return out;
}

// ---------------------------------------------------------------------------------
// Private methods.

Json PaperExchange::fetchBalance(const Ctx& ctx, const Json&) {
  Txn t(*this, ctx);
  AccountLocked(ctx);
  Json out = BalanceJsonLocked(AccountKey(ctx));
  t.Commit();
  return out;
}

Json PaperExchange::createOrder(const Ctx& ctx, const std::string& symbol,
                                const std::string& type, const std::string& side,
                                double amount, std::optional<double> price,
                                const Json& params) {
  const OrderCopy o = PlaceOrder(ctx, symbol, type, side, amount, price, params);
  return OrderJson(o.order, o.TradePointers());
}

PaperExchange::OrderCopy PaperExchange::PlaceOrder(const Ctx& ctx, const std::string& symbol,
                                                   const std::string& type, const std::string& side,
                                                   double amount, std::optional<double> price,
                                                   const Json& params) {
  Txn t(*this, ctx);
  AccountLocked(ctx);
  const std::string account = AccountKey(ctx);
  const std::string coid = ClientOrderIdParam(params);
  if (!coid.empty()) {
    if (auto it = index_.client_ids.find({account, coid}); it != index_.client_ids.end()) {
      OrderCopy out = CopyLocked(state_.orders.at(it->second));   // idempotent: the order made the first time
      t.Commit();
      return out;
    }
  }
  const Market& m = FindMarket(symbol);
  if (type != "limit" && type != "market")
    throw CcxtError(errc::kInvalidOrder, options_.exchange_id + ": unsupported order type '" + type +
                                             "' (use 'limit' or 'market')");
  if (side != "buy" && side != "sell")
    throw CcxtError(errc::kInvalidOrder,
                    options_.exchange_id + ": invalid order side '" + side + "' (use 'buy' or 'sell')");
  if (!std::isfinite(amount) || amount <= 0)
    throw CcxtError(errc::kInvalidOrder, options_.exchange_id + ": order amount must be a positive number, got " +
                                             Json(amount).dump());
  const double amt = FloorTo(amount, m.spec.amount_step);
  if (amt < m.spec.min_amount || amt <= 0)
    throw CcxtError(errc::kInvalidOrder,
                    options_.exchange_id + ": amount of " + symbol + " must be greater than minimum amount precision of " +
                        Json(m.spec.min_amount).dump() + ", got " + Json(amount).dump());
  const Quote q = QuoteLocked(m, StepOf(now_));
  double px = 0;
  if (type == "limit") {
    if (!price || !std::isfinite(*price) || *price <= 0)
      throw CcxtError(errc::kInvalidOrder,
                      options_.exchange_id + ": a limit order needs a positive price, got " +
                          (price ? Json(*price).dump() : std::string("none")));
    px = RoundTo(*price, m.spec.price_tick);
    if (px <= 0)
      throw CcxtError(errc::kInvalidOrder, options_.exchange_id + ": price " + Json(*price).dump() +
                                               " is below the price tick " +
                                               Json(m.spec.price_tick).dump());
  }
  const bool buy = side == "buy";
  const bool marketable = type == "market" || (buy ? px >= q.ask : px <= q.bid);
  const double exec_px = type == "market" ? (buy ? q.ask : q.bid) : (marketable ? (buy ? q.ask : q.bid) : px);
  const double notional = Clean(amt * (type == "limit" ? px : exec_px));
  if (notional < m.spec.min_cost)
    throw CcxtError(errc::kInvalidOrder, options_.exchange_id + ": cost of " + symbol + " must be at least " +
                                             Json(m.spec.min_cost).dump() + " " + m.spec.quote +
                                             ", got " + Json(notional).dump());
  if (params.value("postOnly", false) == true) {
    if (type == "market")
      throw CcxtError(errc::kInvalidOrder, options_.exchange_id + ": postOnly needs a limit order");
    if (marketable)
      throw CcxtError("OrderImmediatelyFillable",
                      options_.exchange_id + ": postOnly order at " + Json(px).dump() + " would take liquidity");
  }
  const std::string& pay_ccy = buy ? m.spec.quote : m.spec.base;
  const double need = buy ? notional : amt;
  const double have = FreeLocked(account, pay_ccy);
  if (have + 1e-12 < need)
    throw CcxtError(errc::kInsufficientFunds,
                    options_.exchange_id + ": insufficient " + pay_ccy + " balance in account '" + account +
                        "': need " + Json(need).dump() + ", free " + Json(have).dump(),
                    Json{{"currency", pay_ccy}, {"required", need}, {"free", have}});

  Order o;
  o.seq = state_.next_seq++;
  o.account = account;
  o.client_order_id = coid;
  o.symbol = symbol;
  o.type = type;
  o.side = side;
  o.price = type == "limit" ? px : 0;
  o.amount = amt;
  o.timestamp = now_;
  o.last_update_timestamp = now_;
  o.worker_sid = ctx.worker_sid;
  o.term = ctx.term;
  const std::int64_t seq = o.seq;
  Order& stored = state_.orders[seq];
  stored = std::move(o);
  index_.Add(stored);
  changes_.orders.insert(seq);
  if (marketable) FillLocked(stored, exec_px, /*taker=*/true, now_);
  OrderCopy out = CopyLocked(stored);
  TrimLocked(account);
  t.Commit();
  return out;
}

Json PaperExchange::cancelOrder(const Ctx& ctx, const std::string& id,
                                const std::optional<std::string>& symbol, const Json& params) {
  const OrderCopy o = CancelOne(ctx, id, symbol, params);
  return OrderJson(o.order, o.TradePointers());
}

PaperExchange::OrderCopy PaperExchange::CancelOne(const Ctx& ctx, const std::string& id,
                                                  const std::optional<std::string>& symbol,
                                                  const Json& params) {
  Txn t(*this, ctx);
  AccountLocked(ctx);
  const std::string account = AccountKey(ctx);
  if (symbol) FindMarket(*symbol);
  Order* o = FindOrderLocked(account, id, params);
  if (!o || (symbol && o->symbol != *symbol))
    throw CcxtError(errc::kOrderNotFound, options_.exchange_id + ": order " + id + " not found");
  if (o->status != "open")
    throw CcxtError(errc::kOrderNotFound,
                    options_.exchange_id + ": order " + id + " is " + o->status + " and cannot be canceled");
  SetStatusLocked(*o, "canceled");
  o->last_update_timestamp = now_;
  OrderCopy out = CopyLocked(*o);
  TrimLocked(account);
  t.Commit();
  return out;
}

Json PaperExchange::cancelAllOrders(const Ctx& ctx, const std::optional<std::string>& symbol,
                                    const Json&) {
  Txn t(*this, ctx);
  AccountLocked(ctx);
  const std::string account = AccountKey(ctx);
  Json out = Json::array();
  for (const Order* c : SelectOrdersLocked(account, symbol, "open")) {
    Order& o = state_.orders.at(c->seq);
    SetStatusLocked(o, "canceled");
    o.last_update_timestamp = now_;
    out.push_back(OrderJsonLocked(o));
  }
  TrimLocked(account);
  t.Commit();
  return out;
}

Json PaperExchange::fetchOrder(const Ctx& ctx, const std::string& id,
                               const std::optional<std::string>& symbol, const Json& params) {
  const OrderCopy o = FetchOne(ctx, id, symbol, params);
  return OrderJson(o.order, o.TradePointers());
}

PaperExchange::OrderCopy PaperExchange::FetchOne(const Ctx& ctx, const std::string& id,
                                                 const std::optional<std::string>& symbol,
                                                 const Json& params) {
  Txn t(*this, ctx);
  AccountLocked(ctx);
  if (symbol) FindMarket(*symbol);
  const Order* o = FindOrderLocked(AccountKey(ctx), id, params);
  if (!o || (symbol && o->symbol != *symbol))
    throw CcxtError(errc::kOrderNotFound, options_.exchange_id + ": order " + id + " not found");
  OrderCopy out = CopyLocked(*o);
  t.Commit();
  return out;
}

Json PaperExchange::fetchOrders(const Ctx& ctx, const std::optional<std::string>& symbol,
                                std::optional<std::int64_t> since,
                                std::optional<std::int64_t> limit, const Json&) {
  Txn t(*this, ctx);
  AccountLocked(ctx);
  Json out = OrderListLocked(SelectOrdersLocked(AccountKey(ctx), symbol, nullptr), since, limit);
  t.Commit();
  return out;
}

Json PaperExchange::fetchOpenOrders(const Ctx& ctx, const std::optional<std::string>& symbol,
                                    std::optional<std::int64_t> since,
                                    std::optional<std::int64_t> limit, const Json&) {
  Txn t(*this, ctx);
  AccountLocked(ctx);
  Json out = OrderListLocked(SelectOrdersLocked(AccountKey(ctx), symbol, "open"), since, limit);
  t.Commit();
  return out;
}

Json PaperExchange::fetchClosedOrders(const Ctx& ctx, const std::optional<std::string>& symbol,
                                      std::optional<std::int64_t> since,
                                      std::optional<std::int64_t> limit, const Json&) {
  Txn t(*this, ctx);
  AccountLocked(ctx);
  Json out = OrderListLocked(SelectOrdersLocked(AccountKey(ctx), symbol, "done"), since, limit);
  t.Commit();
  return out;
}

Json PaperExchange::fetchMyTrades(const Ctx& ctx, const std::optional<std::string>& symbol,
                                  std::optional<std::int64_t> since,
                                  std::optional<std::int64_t> limit, const Json&) {
  Txn t(*this, ctx);
  AccountLocked(ctx);
  if (symbol) FindMarket(*symbol);
  const std::string account = AccountKey(ctx);
  std::vector<const Trade*> trades;
  for (const auto& [seq, tr] : state_.trades) {
    if (tr.account != account || (symbol && tr.symbol != *symbol)) continue;
    if (since && tr.timestamp < *since) continue;
    trades.push_back(&tr);
  }
  std::stable_sort(trades.begin(), trades.end(),
                   [](const Trade* a, const Trade* b) { return a->timestamp < b->timestamp; });
  if (limit && *limit <= 0) throw CcxtError(errc::kBadRequest, "limit must be positive");
  if (limit && static_cast<std::size_t>(*limit) < trades.size()) {
    if (since)
      trades.resize(static_cast<std::size_t>(*limit));
    else
      trades.erase(trades.begin(), trades.end() - *limit);
  }
  Json out = Json::array();
  for (const Trade* tr : trades) out.push_back(TradeJson(*tr));
  t.Commit();
  return out;
}

// ---------------------------------------------------------------------------------
// Test controls (only with option test_controls: true).

Json PaperExchange::CallExtension(const Ctx& ctx, const std::string& method,
                                  const plugin::CallArgs& args) {
  Txn t(*this, ctx);
  Json out;
  if (method == "paperSetPrice") {
    const Market& m = FindMarket(args.str(0));
    const double price = args.number(1);
    if (!std::isfinite(price) || price <= 0)
      throw CcxtError(errc::kBadRequest, "paperSetPrice: price must be positive");
    const std::int64_t step = StepOf(now_);
    state_.offsets[m.spec.symbol] =
        std::log(price / m.spec.price) - m.process.LogDeviation(step);
    changes_.offsets.insert(m.spec.symbol);
    FillRestingLocked(m, step, QuoteLocked(m, step).last);
    out = TickerJsonLocked(m);
  } else if (method == "paperAdvanceTime") {
    if (!options_.manual_clock)
      throw CcxtError(errc::kNotSupported, "paperAdvanceTime needs option clock: manual");
    const auto ms = args.opt_int(0).value_or(0);
    if (ms < 0) throw CcxtError(errc::kBadRequest, "paperAdvanceTime: ms must be >= 0");
    state_.manual_now += ms;
    now_ = state_.manual_now;
    changes_.clock = true;
    AdvanceLocked();
    out = {{"timestamp", now_}, {"datetime", Iso8601(now_)}};
  } else if (method == "paperInjectFault") {
    // Not persisted: faults are for the running process only.
    const std::string kind = args.str(0);
    if (kind != "timeout" && kind != "network")
      throw CcxtError(errc::kBadRequest, "paperInjectFault: kind must be \"timeout\" or \"network\", got \"" + kind + "\"");
    const auto count = args.opt_int(1).value_or(0);
    if (count < 1 || count > 1000000) throw CcxtError(errc::kBadRequest, "paperInjectFault: count must be 1 or more");
    const std::string target = args.opt_str(2).value_or("");
    {
      std::lock_guard<std::mutex> lock(faults_mu_);
      injected_.push_back(InjectedFault{kind, target, count});
    }
    out = {{"kind", kind}, {"count", count}, {"method", target.empty() ? Json(nullptr) : Json(target)}};
  } else if (method == "paperSetBalance") {
    Account& acc = AccountLocked(ctx);
    const std::string ccy = args.str(0);
    const double amount = args.number(1);
    if (!std::isfinite(amount) || amount < 0)
      throw CcxtError(errc::kBadRequest, "paperSetBalance: amount must be >= 0");
    acc.total[ccy] = Clean(amount);
    changes_.accounts.insert(AccountKey(ctx));
    out = BalanceJsonLocked(AccountKey(ctx));
  } else {
    Unsupported(method);
  }
  t.Commit();
  return out;
}

}  // namespace ami::paper
