// The bybit connector: description, markets, market data, balance, streams
// (orders are in bybit_orders.cpp). See bybit_connector.h.
#include "bybit_connector.h"

#include <algorithm>

#include "ami/plugin/errors.h"
#include "bybit_streams.h"

namespace ami::exchanges::bybit {

using plugin::CcxtError;
namespace errc = plugin::errc;

namespace {

// CCXT's bybit timeframes: unified → Bybit's `interval`.
const std::vector<std::pair<std::string, std::string>> kTimeframes = {
    {"1m", "1"},    {"3m", "3"},    {"5m", "5"},     {"15m", "15"},  {"30m", "30"},
    {"1h", "60"},   {"2h", "120"},  {"4h", "240"},   {"6h", "360"},  {"12h", "720"},
    {"1d", "D"},    {"1w", "W"},    {"1M", "M"}};

Json ResultList(const Json& body) {
  return body.value("result", Json::object()).value("list", Json::array());
}

std::int64_t TimeframeMs(const std::string& tf) {
  const char unit = tf.back();
  const std::int64_t n = std::stoll(tf.substr(0, tf.size() - 1));
  switch (unit) {
    case 'm': return n * 60000;
    case 'h': return n * 3600000;
    case 'd': return n * 86400000;
    case 'w': return n * 7 * 86400000;
    case 'M': return n * 30 * 86400000LL;
  }
  return 60000;
}

}  // namespace

BybitConnector::BybitConnector(BybitOptions options)
    : options_(std::move(options)), rest_(std::make_unique<BybitRest>(options_)) {
  BybitStreams::Hooks hooks;
  hooks.markets = [this] {
    std::lock_guard<std::mutex> lock(markets_mu_);
    return markets_;
  };
  hooks.server_now_ms = [this] { return rest_->clock().NowMs(); };
  hooks.parse_order = [this](const Json& raw, const Markets& m, const std::string& category) {
    return ParseOrderFor(raw, m, category);
  };
  streams_ = std::make_unique<BybitStreams>(options_, std::move(hooks));
}

BybitConnector::~BybitConnector() { streams_.reset(); }

void BybitConnector::CancelWorker(const std::string& worker_sid) { streams_->CancelWorker(worker_sid); }

Json BybitConnector::has() const {
  Json h = {{"spot", true},      {"margin", false},  {"swap", true},        {"future", true},
            {"option", false},   {"publicAPI", true}, {"privateAPI", true}, {"sandbox", true},
            {"ws", true}};
  for (const char* m :
       {"loadMarkets", "fetchMarkets", "fetchTicker", "fetchTickers", "fetchOrderBook", "fetchTrades",
        "fetchOHLCV", "fetchBalance", "createOrder", "cancelOrder", "cancelAllOrders", "fetchOrder",
        "fetchOrders", "fetchOpenOrders", "fetchClosedOrders", "fetchMyTrades", "watchTicker",
        "watchOrderBook", "watchTrades", "watchOrders"})
    h[m] = true;
  return h;
}

Json BybitConnector::describeExtra() const {
  Json tf = Json::object();
  for (const auto& [unified, bybit] : kTimeframes) tf[unified] = bybit;
  return {{"precisionMode", 4},   // TICK_SIZE: precision values are step sizes
          {"timeframes", tf},
          {"urls", {{"api", options_.base_url}, {"ws", options_.ws_url}, {"testnet", options_.testnet}}},
          {"options", {{"recvWindow", options_.recv_window_ms},
                       {"httpTimeout", options_.http_timeout.count()},
                       {"verifyTls", options_.verify_tls}}}};
}

void BybitConnector::beforeCall(const Ctx& ctx, const std::string& method) {
  const plugin::MethodSpec* spec = plugin::FindCcxtMethod(method);
  if (spec && spec->is_private && (ctx.credentials.api_key.empty() || ctx.credentials.secret.empty()))
    throw CcxtError(errc::kAuthenticationError,
                    options_.exchange_id + ": " + method +
                        "() needs an account: give the worker an accountId whose account has api_key and secret; "
                        "nothing was sent");
}

// ---- markets ----------------------------------------------------------------------

std::shared_ptr<const Markets> BybitConnector::LoadMarketsSnapshot(bool reload) {
  {
    std::lock_guard<std::mutex> lock(markets_mu_);
    if (markets_ && !reload) return markets_;
  }
  std::lock_guard<std::mutex> loading(load_mu_);
  if (!reload) {
    std::lock_guard<std::mutex> lock(markets_mu_);
    if (markets_) return markets_;   // another call loaded them meanwhile
  }
  auto fresh = std::make_shared<Markets>();
  const Json spot = rest_->Call({"public", "GET", "v5/market/instruments-info", {{"category", "spot"}}, "spot"});
  for (const auto& raw : ResultList(spot))
    if (auto m = ParseSpotMarket(raw)) fresh->Add(std::move(*m));
  OJson params = {{"category", "linear"}, {"limit", 1000}};
  for (int page = 0; page < 20; ++page) {   // linear pages; 20 000 instruments is plenty
    const Json linear = rest_->Call({"public", "GET", "v5/market/instruments-info", params, "linear"});
    const Json result = linear.value("result", Json::object());
    for (const auto& raw : result.value("list", Json::array()))
      if (auto m = ParseLinearMarket(raw)) fresh->Add(std::move(*m));
    const std::string cursor = TextField(result, "nextPageCursor");
    if (cursor.empty() || result.value("list", Json::array()).empty()) break;
    params["cursor"] = cursor;
  }
  std::lock_guard<std::mutex> lock(markets_mu_);
  markets_ = std::move(fresh);
  return markets_;
}

const Market& BybitConnector::Need(const Markets& markets, const std::string& symbol) const {
  const Market* m = markets.BySymbol(symbol);
  if (!m) throw CcxtError(errc::kBadSymbol, options_.exchange_id + " does not have market symbol " + symbol);
  return *m;
}

std::vector<std::string> BybitConnector::Categories(const std::optional<std::string>& symbol,
                                                    const Markets& markets, Json& params) const {
  if (symbol) return {Need(markets, *symbol).category};
  std::string given;
  for (const char* key : {"category", "type"}) {
    if (params.contains(key) && params[key].is_string()) given = params[key].get<std::string>();
    params.erase(key);
  }
  if (given.empty()) return {"spot", "linear"};
  if (given == "spot") return {"spot"};
  if (given == "linear" || given == "swap" || given == "future") return {"linear"};
  throw CcxtError(errc::kNotSupported, options_.exchange_id + " serves spot and linear markets, not '" + given + "'");
}

void BybitConnector::Extend(OJson& request, const Json& params, std::initializer_list<const char*> omit) {
  if (!params.is_object()) return;
  for (const auto& [k, v] : params.items()) {
    bool skip = false;
    for (const char* o : omit) skip = skip || k == o;
    if (!skip) request[k] = v;
  }
}

Json BybitConnector::PublicGet(const std::string& path, OJson params, const std::string& category) {
  return rest_->Call({"public", "GET", path, std::move(params), category});
}

Json BybitConnector::PrivateGet(const Ctx& ctx, const std::string& path, OJson params, const std::string& category) {
  return rest_->Call({"private", "GET", path, std::move(params), category}, ctx.credentials);
}

Json BybitConnector::PagedList(const Ctx& ctx, const std::string& path, OJson params, const std::string& category,
                               int max_pages) {
  Json all = Json::array();
  for (int page = 0; page < max_pages; ++page) {
    const Json body = PrivateGet(ctx, path, params, category);
    const Json result = body.value("result", Json::object());
    for (const auto& item : result.value("list", Json::array())) all.push_back(item);
    const std::string cursor = TextField(result, "nextPageCursor");
    if (cursor.empty() || result.value("list", Json::array()).empty()) break;
    params["cursor"] = cursor;
  }
  return all;
}

Json BybitConnector::loadMarkets(const Ctx&, bool reload, const Json&) {
  auto markets = LoadMarketsSnapshot(reload);
  Json out = Json::object();
  for (const auto& m : markets->all()) out[m.symbol] = m.ccxt;
  return out;
}

Json BybitConnector::fetchMarkets(const Ctx&, const Json&) {
  auto markets = LoadMarketsSnapshot(true);
  Json out = Json::array();
  for (const auto& m : markets->all()) out.push_back(m.ccxt);
  return out;
}

// ---- market data ------------------------------------------------------------------

Json BybitConnector::fetchTicker(const Ctx&, const std::string& symbol, const Json& params) {
  auto markets = LoadMarketsSnapshot(false);
  const Market& m = Need(*markets, symbol);
  OJson request = {{"symbol", m.id}, {"category", m.category}};
  Extend(request, params);
  const Json body = PublicGet("v5/market/tickers", std::move(request), m.category);
  const Json list = ResultList(body);
  if (list.empty()) throw CcxtError("BadResponse", options_.exchange_id + ": no ticker for " + symbol);
  Json ticker = list[0];
  if (!ticker.contains("time") && body.contains("time")) ticker["time"] = body["time"];
  Json out = ParseTicker(ticker, *markets, m.category);
  out["info"] = list[0];
  return out;
}

Json BybitConnector::fetchTickers(const Ctx&, const std::optional<std::vector<std::string>>& symbols,
                                  const Json& params_in) {
  auto markets = LoadMarketsSnapshot(false);
  Json params = params_in;
  std::vector<std::string> categories;
  if (symbols) {
    for (const auto& s : *symbols) {
      const std::string c = Need(*markets, s).category;
      if (std::find(categories.begin(), categories.end(), c) == categories.end()) categories.push_back(c);
    }
  } else {
    categories = Categories(std::nullopt, *markets, params);
  }
  Json out = Json::object();
  for (const auto& category : categories) {
    OJson request = {{"category", category}};
    Extend(request, params);
    const Json body = PublicGet("v5/market/tickers", std::move(request), category);
    for (const auto& raw : ResultList(body)) {
      Json ticker = raw;
      if (!ticker.contains("time") && body.contains("time")) ticker["time"] = body["time"];
      Json t = ParseTicker(ticker, *markets, category);
      t["info"] = raw;
      const std::string symbol = t["symbol"].get<std::string>();
      if (!markets->BySymbol(symbol)) continue;   // instruments not loaded (pre-launch, options)
      if (symbols && std::find(symbols->begin(), symbols->end(), symbol) == symbols->end()) continue;
      out[symbol] = std::move(t);
    }
  }
  return out;
}

Json BybitConnector::fetchOrderBook(const Ctx&, const std::string& symbol, std::optional<std::int64_t> limit,
                                    const Json& params) {
  auto markets = LoadMarketsSnapshot(false);
  const Market& m = Need(*markets, symbol);
  OJson request = {{"symbol", m.id}, {"category", m.category}, {"limit", limit.value_or(m.category == "spot" ? 50 : 25)}};
  Extend(request, params);
  const Json body = PublicGet("v5/market/orderbook", std::move(request), m.category);
  return ParseOrderBook(body.value("result", Json::object()), m.symbol);
}

Json BybitConnector::fetchTrades(const Ctx&, const std::string& symbol, std::optional<std::int64_t> since,
                                 std::optional<std::int64_t> limit, const Json& params) {
  auto markets = LoadMarketsSnapshot(false);
  const Market& m = Need(*markets, symbol);
  OJson request = {{"symbol", m.id}};
  if (limit) request["limit"] = *limit;
  request["category"] = m.category;
  Extend(request, params);
  const Json body = PublicGet("v5/market/recent-trade", std::move(request), m.category);
  Json trades = Json::array();
  for (const auto& raw : ResultList(body))
    trades.push_back(ParseTrade(raw, *markets, m.category));
  return FilterSinceLimit(std::move(trades), since, limit);
}

Json BybitConnector::fetchOHLCV(const Ctx&, const std::string& symbol, const std::string& timeframe,
                                std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                                const Json& params) {
  auto markets = LoadMarketsSnapshot(false);
  const Market& m = Need(*markets, symbol);
  auto tf = std::find_if(kTimeframes.begin(), kTimeframes.end(), [&](const auto& p) { return p.first == timeframe; });
  if (tf == kTimeframes.end())
    throw CcxtError(errc::kBadRequest, options_.exchange_id + ": fetchOHLCV timeframe " + timeframe + " is not one of 1m 3m 5m 15m 30m 1h 2h 4h 6h 12h 1d 1w 1M");
  OJson request = {{"symbol", m.id}};
  if (since) {
    // As CCXT: the first whole candle at or after `since`.
    const std::int64_t d = TimeframeMs(timeframe);
    const std::int64_t rounded = *since / d * d;
    request["start"] = rounded == *since ? *since : rounded + d;
  }
  request["limit"] = limit.value_or(200);
  request["interval"] = tf->second;
  request["category"] = m.category;
  Extend(request, params, {"until"});
  if (params.contains("until")) request["end"] = params["until"];
  const Json body = PublicGet("v5/market/kline", std::move(request), m.category);
  Json rows = Json::array();
  for (const auto& raw : ResultList(body)) rows.push_back(ParseOHLCV(raw));
  return FilterSinceLimit(std::move(rows), since, limit, true);
}

Json BybitConnector::fetchBalance(const Ctx& ctx, const Json& params) {
  OJson request = {{"accountType", "UNIFIED"}};
  Extend(request, params);
  return ParseBalance(PrivateGet(ctx, "v5/account/wallet-balance", std::move(request), ""));
}

// ---- streams ----------------------------------------------------------------------

void BybitConnector::Watch(const Ctx& ctx, const std::string& method, const plugin::CallArgs& args,
                           plugin::CallCompletion done) {
  auto markets = LoadMarketsSnapshot(false);
  if (method == "watchOrders") {
    const auto symbol = args.opt_str(0);
    const Market* m = symbol ? &Need(*markets, *symbol) : nullptr;
    return streams_->WatchOrders(ctx, m, std::move(done));
  }
  const Market& m = Need(*markets, args.str(0));
  if (method == "watchTicker") return streams_->WatchTicker(ctx, m, std::move(done));
  if (method == "watchOrderBook") return streams_->WatchOrderBook(ctx, m, args.opt_int(1), std::move(done));
  if (method == "watchTrades") return streams_->WatchTrades(ctx, m, std::move(done));
  Unsupported(method);
}

}  // namespace ami::exchanges::bybit
