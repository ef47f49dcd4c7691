// The binance connector: setup, markets and public market data. Private methods are in
// binance_orders.cpp, streams in binance_streams.cpp.
#include "binance_connector.h"

#include <algorithm>

#include "ami/plugin/ccxt.h"
#include "binance_internal.h"
#include "binance_streams.h"

namespace ami::exchanges::binance {

using plugin::CcxtError;
namespace errc = plugin::errc;

namespace {

const std::vector<std::string>& Timeframes() {
  static const std::vector<std::string> tf = {"1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h",
                                              "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"};
  return tf;
}

double DepthWeight(bool futures, std::int64_t limit) {
  if (futures) {
    if (limit <= 50) return 2;
    if (limit <= 100) return 5;
    if (limit <= 500) return 10;
    return 20;
  }
  if (limit <= 100) return 5;
  if (limit <= 500) return 25;
  if (limit <= 1000) return 50;
  return 250;
}

}  // namespace

void MergeParams(nlohmann::ordered_json& request, const nlohmann::json& params,
                 std::initializer_list<const char*> unified) {
  if (!params.is_object()) return;
  for (const auto& [k, v] : params.items()) {
    if (std::find_if(unified.begin(), unified.end(), [&](const char* u) { return k == u; }) != unified.end())
      continue;
    if (v.is_null() || v.is_object() || v.is_array()) continue;
    request[k] = nlohmann::ordered_json::parse(v.dump());
  }
}

std::optional<std::int64_t> SinceFilter(const nlohmann::json& item) {
  if (item.contains("timestamp") && item["timestamp"].is_number()) return item["timestamp"].get<std::int64_t>();
  return std::nullopt;
}

nlohmann::json FilterSinceLimit(nlohmann::json list, std::optional<std::int64_t> since,
                                std::optional<std::int64_t> limit) {
  nlohmann::json out = nlohmann::json::array();
  for (auto& item : list) {
    if (since) {
      auto ts = SinceFilter(item);
      if (!ts || *ts < *since) continue;
    }
    out.push_back(std::move(item));
  }
  std::stable_sort(out.begin(), out.end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    return SinceFilter(a).value_or(0) < SinceFilter(b).value_or(0);
  });
  if (limit && *limit >= 0 && out.size() > static_cast<std::size_t>(*limit)) {
    // CCXT keeps the first `limit` from `since`, the newest `limit` without it.
    if (since) out.erase(out.begin() + *limit, out.end());
    else out.erase(out.begin(), out.end() - *limit);
  }
  return out;
}

BinanceConnector::BinanceConnector(BinanceOptions options)
    : options_(std::move(options)), rest_(options_) {
  StreamDeps deps;
  deps.markets = [this] { return Markets(false); };
  deps.depth_snapshot = [this](const Market& m) {
    RestRequest r{rest_.PublicApi(), "depth", "GET", {{"symbol", m.id}, {"limit", 1000}},
                  DepthWeight(futures(), 1000)};
    return rest_.Send(r);
  };
  streams_ = std::make_unique<BinanceStreams>(options_, std::move(deps));
}

BinanceConnector::~BinanceConnector() {
  streams_.reset();   // stops the socket and the stream thread before the REST side goes
}

std::string BinanceConnector::name() const {
  return std::string(futures() ? "Binance USDⓈ-M" : "Binance") +
         (options_.testnet ? " (testnet)" : "") +
         (options_.exchange_id == "binance" ? "" : " [" + options_.exchange_id + "]");
}

Json BinanceConnector::has() const {
  Json h = {{"spot", !futures()}, {"margin", false}, {"swap", futures()}, {"future", futures()},
            {"option", false},    {"publicAPI", true}, {"privateAPI", true},
            {"sandbox", true},    {"ws", true}};
  for (const char* m :
       {"loadMarkets", "fetchMarkets", "fetchTicker", "fetchTickers", "fetchOrderBook",
        "fetchTrades", "fetchOHLCV", "fetchBalance", "createOrder", "cancelOrder",
        "cancelAllOrders", "fetchOrder", "fetchOrders", "fetchOpenOrders",
        "fetchClosedOrders", "fetchMyTrades", "watchTicker", "watchOrderBook", "watchTrades"})
    h[m] = true;
  h["watchOrders"] = false;
  return h;
}

Json BinanceConnector::describeExtra() const {
  Json tf = Json::object();
  for (const auto& t : Timeframes()) tf[t] = t;
  return {{"precisionMode", 4},   // TICK_SIZE: precision.amount / .price are step sizes
          {"timeframes", tf},
          {"options", {{"defaultType", futures() ? "future" : "spot"}, {"testnet", options_.testnet}}},
          {"urls", {{"api", options_.rest_base}, {"ws", options_.ws_base + "/ws"}}}};
}

void BinanceConnector::beforeCall(const Ctx& ctx, const std::string& method) {
  const plugin::MethodSpec* spec = plugin::FindCcxtMethod(method);
  if (!spec || !spec->is_private) return;
  if (ctx.credentials.api_key.empty() || ctx.credentials.secret.empty())
    throw CcxtError(errc::kAuthenticationError,
                    options_.exchange_id + ": " + method + "() needs an account with api_key and secret "
                    "(the worker's accountId, accounts: in the node config); nothing was sent");
  if (ctx.term == 0 || ctx.worker_sid.empty()) return;
  std::lock_guard<std::mutex> lock(state_mu_);
  std::uint64_t& highest = terms_[ctx.worker_sid];
  if (ctx.term < highest)
    throw CcxtError(errc::kPermissionDenied,
                    options_.exchange_id + ": fenced: term " + std::to_string(ctx.term) + " < " +
                        std::to_string(highest) + " for worker " + ctx.worker_sid + "; nothing was sent");
  highest = ctx.term;
}

void BinanceConnector::CancelWorker(const std::string& worker_sid) { streams_->CancelWorker(worker_sid); }

std::shared_ptr<const MarketTable> BinanceConnector::Markets(bool reload) {
  {
    std::lock_guard<std::mutex> lock(markets_mu_);
    if (markets_ && !reload) return markets_;
  }
  // Loaded outside the lock: two first calls may both load; the later one wins.
  RestRequest r{rest_.PublicApi(), "exchangeInfo", "GET", nlohmann::ordered_json::object(),
                futures() ? 1.0 : 20.0};
  auto table = ParseMarkets(rest_.Send(r), futures());
  if (table->list.empty())
    throw CcxtError("BadResponse", options_.exchange_id + ": exchangeInfo listed no markets");
  std::lock_guard<std::mutex> lock(markets_mu_);
  markets_ = table;
  return markets_;
}

const Market& BinanceConnector::MarketOf(const std::shared_ptr<const MarketTable>& table,
                                         const std::string& symbol) const {
  if (const Market* m = table->Find(symbol)) return *m;
  if (const Market* m = table->FindId(symbol)) return *m;   // "BTCUSDT" as CCXT allows
  std::string hint;
  if (futures() && symbol.find(':') == std::string::npos) hint = " (futures symbols look like BTC/USDT:USDT)";
  if (!futures() && symbol.find(':') != std::string::npos) hint = " (this exchange is spot: market: future serves contracts)";
  throw CcxtError(errc::kBadSymbol, options_.exchange_id + " does not have market symbol " + symbol + hint);
}

Json BinanceConnector::loadMarkets(const Ctx&, bool reload, const Json&) {
  auto table = Markets(reload);
  Json out = Json::object();
  for (const auto& m : table->list) out[m.symbol] = m.json;
  return out;
}

Json BinanceConnector::fetchMarkets(const Ctx&, const Json&) {
  auto table = Markets(true);
  Json out = Json::array();
  for (const auto& m : table->list) out.push_back(m.json);
  return out;
}

Json BinanceConnector::fetchTicker(const Ctx&, const std::string& symbol, const Json& params) {
  auto table = Markets();
  const Market& m = MarketOf(table, symbol);
  nlohmann::ordered_json req = {{"symbol", m.id}};
  MergeParams(req, params, {});
  return ParseTicker(rest_.Send({rest_.PublicApi(), "ticker/24hr", "GET", req, futures() ? 1.0 : 2.0}), m);
}

Json BinanceConnector::fetchTickers(const Ctx&, const std::optional<std::vector<std::string>>& symbols,
                                    const Json& params) {
  auto table = Markets();
  std::vector<const Market*> wanted;
  if (symbols)
    for (const auto& s : *symbols) wanted.push_back(&MarketOf(table, s));
  nlohmann::ordered_json req = nlohmann::ordered_json::object();
  double weight = futures() ? 40 : 80;
  if (!futures() && !wanted.empty()) {
    // Spot takes the list: symbols=["BTCUSDT","ETHUSDT"] (2 / 40 / 80 by count).
    nlohmann::json ids = nlohmann::json::array();
    for (const Market* m : wanted) ids.push_back(m->id);
    req["symbols"] = ids.dump();
    weight = wanted.size() <= 20 ? 2 : wanted.size() <= 100 ? 40 : 80;
  }
  MergeParams(req, params, {});
  Json reply = rest_.Send({rest_.PublicApi(), "ticker/24hr", "GET", req, weight});
  Json out = Json::object();
  if (!reply.is_array()) return out;
  for (const auto& t : reply) {
    const Market* m = table->FindId(t.value("symbol", ""));
    if (!m) continue;
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), m) == wanted.end()) continue;
    out[m->symbol] = ParseTicker(t, *m);
  }
  return out;
}

Json BinanceConnector::fetchOrderBook(const Ctx&, const std::string& symbol,
                                      std::optional<std::int64_t> limit, const Json& params) {
  auto table = Markets();
  const Market& m = MarketOf(table, symbol);
  nlohmann::ordered_json req = {{"symbol", m.id}};
  std::int64_t sent_limit = futures() ? 500 : 100;   // Binance's defaults
  if (limit) {
    if (*limit <= 0) throw CcxtError(errc::kBadRequest, "fetchOrderBook: limit must be positive");
    sent_limit = *limit;
    if (futures()) {   // USDⓈ-M accepts 5, 10, 20, 50, 100, 500, 1000: ask for the next one up
      sent_limit = 1000;
      for (std::int64_t v : {5, 10, 20, 50, 100, 500, 1000})
        if (*limit <= v) { sent_limit = v; break; }
    } else {
      sent_limit = std::min<std::int64_t>(*limit, 5000);
    }
    req["limit"] = sent_limit;
  }
  MergeParams(req, params, {});
  Json depth = rest_.Send({rest_.PublicApi(), "depth", "GET", req, DepthWeight(futures(), sent_limit)});
  return ParseOrderBook(depth, m, limit);
}

Json BinanceConnector::fetchTrades(const Ctx&, const std::string& symbol, std::optional<std::int64_t> since,
                                   std::optional<std::int64_t> limit, const Json& params) {
  auto table = Markets();
  const Market& m = MarketOf(table, symbol);
  nlohmann::ordered_json req = {{"symbol", m.id}};
  if (limit) req["limit"] = std::clamp<std::int64_t>(*limit, 1, 1000);
  MergeParams(req, params, {});
  Json reply = rest_.Send({rest_.PublicApi(), "trades", "GET", req, futures() ? 5.0 : 25.0});
  Json out = Json::array();
  if (reply.is_array())
    for (const auto& t : reply) out.push_back(ParsePublicTrade(t, m));
  return FilterSinceLimit(std::move(out), since, limit);
}

Json BinanceConnector::fetchOHLCV(const Ctx&, const std::string& symbol, const std::string& timeframe,
                                  std::optional<std::int64_t> since, std::optional<std::int64_t> limit,
                                  const Json& params) {
  auto table = Markets();
  const Market& m = MarketOf(table, symbol);
  const auto& tfs = Timeframes();
  if (std::find(tfs.begin(), tfs.end(), timeframe) == tfs.end() || (futures() && timeframe == "1s"))
    throw CcxtError(errc::kBadRequest, options_.exchange_id + " fetchOHLCV: unknown timeframe '" + timeframe + "'");
  nlohmann::ordered_json req = {{"symbol", m.id}, {"interval", timeframe}};
  if (since) req["startTime"] = *since;
  std::int64_t sent_limit = 500;
  if (limit) {
    sent_limit = std::clamp<std::int64_t>(*limit, 1, futures() ? 1500 : 1000);
    req["limit"] = sent_limit;
  }
  MergeParams(req, params, {});
  double weight = 2;
  if (futures()) weight = sent_limit < 100 ? 1 : sent_limit < 500 ? 2 : sent_limit <= 1000 ? 5 : 10;
  Json reply = rest_.Send({rest_.PublicApi(), "klines", "GET", req, weight});
  Json out = Json::array();
  if (reply.is_array())
    for (const auto& k : reply) {
      Json c = ParseOhlcv(k);
      if (!c.empty()) out.push_back(std::move(c));
    }
  return out;
}

Json BinanceConnector::fetchBalance(const Ctx& ctx, const Json& params) {
  nlohmann::ordered_json req = nlohmann::ordered_json::object();
  MergeParams(req, params, {"type"});
  if (futures()) return ParseBalance(rest_.Send({"fapiPrivateV2", "balance", "GET", req, 5}, &ctx), true);
  return ParseBalance(rest_.Send({"private", "account", "GET", req, 20}, &ctx), false);
}

void BinanceConnector::Watch(const Ctx& ctx, const std::string& method, const plugin::CallArgs& args,
                             plugin::CallCompletion done) {
  streams_->Watch(ctx, method, args, std::move(done));
}

plugin::CallResult CreateBinanceConnector(const std::string& options_json,
                                          std::unique_ptr<plugin::ExchangeConnector>& out) {
  try {
    const auto options = nlohmann::json::parse(options_json.empty() ? "{}" : options_json);
    BinanceOptions parsed;
    std::string error;
    if (!ParseOptions(options, parsed, error)) return plugin::CallResult::Error(errc::kBadRequest, "binance: " + error);
    out = std::make_unique<BinanceConnector>(std::move(parsed));
    return plugin::CallResult::Ok("null");
  } catch (const std::exception& e) {
    return plugin::CallResult::Error(errc::kBadRequest, std::string("binance: bad options: ") + e.what());
  }
}

}  // namespace ami::exchanges::binance
