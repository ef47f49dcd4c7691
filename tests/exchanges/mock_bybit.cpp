// MockBybit's REST side and its life cycle (see mock_bybit.h). Longer than most files: it
// is one small exchange (signatures, limits, faults, markets, orders) in one place.
#include "tests/exchanges/mock_bybit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "ami/plugin/net/signing.h"
#include "tests/exchanges/bybit_mock_impl.h"
#include "tests/support/test_support.h"

namespace ami::test::bybit {

namespace {

std::int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Json LoadFixture(const std::string& name) {
  const auto file = SourceDir() / "tests" / "exchanges" / "fixtures" / "bybit" / (name + ".json");
  std::ifstream in(file);
  if (!in) throw std::runtime_error("mock bybit: missing fixture " + file.string());
  return Json::parse(in)["response"];
}

// Bybit's per-second limits per account (docs/v5/rate-limit): {path, spot, linear}.
struct Limit {
  const char* path;
  int spot, linear;
};
constexpr Limit kLimits[] = {
    {"/v5/order/create", 20, 10},   {"/v5/order/cancel", 20, 10},   {"/v5/order/cancel-all", 20, 10},
    {"/v5/order/realtime", 50, 50}, {"/v5/order/history", 50, 50},  {"/v5/execution/list", 50, 50},
    {"/v5/account/wallet-balance", 50, 50}};

bool IsPrivate(const std::string& path) {
  return path.rfind("/v5/order/", 0) == 0 || path == "/v5/execution/list" || path == "/v5/account/wallet-balance";
}

std::string Str(const Json& params, const char* key) {
  if (!params.contains(key)) return "";
  const Json& v = params[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

double Num(const std::string& s) {
  try {
    return s.empty() ? 0 : std::stod(s);
  } catch (...) {
    return 0;
  }
}

Json Ok(Json result, std::int64_t now) {
  return {{"retCode", 0}, {"retMsg", "OK"}, {"result", std::move(result)}, {"retExtInfo", Json::object()}, {"time", now}};
}

bool Open(const Json& order) {
  const std::string s = order.value("orderStatus", "");
  return s == "New" || s == "PartiallyFilled" || s == "Untriggered";
}

}  // namespace

std::string MockDecimal(double v, const std::string& step) {
  const auto dot = step.find('.');
  const int decimals = dot == std::string::npos ? 0 : static_cast<int>(step.size() - dot - 1);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::int64_t MockBybit::Impl::Now() const { return WallMs() + clock_offset_ms; }

MockMarket* MockBybit::Impl::Market(const std::string& category, const std::string& id) {
  auto it = markets.find(category + ":" + id);
  return it == markets.end() ? nullptr : &it->second;
}

std::string MockBybit::Impl::ErrorMessage(int code) const {
  const std::string key = std::to_string(code);
  return error_codes.contains(key) ? error_codes[key].get<std::string>() : "error " + key;
}

// ---- life cycle -------------------------------------------------------------------

MockBybit::MockBybit(Options options) : impl_(std::make_shared<Impl>()) {
  Impl& m = *impl_;
  m.options = std::move(options);
  m.clock_offset_ms = m.options.clock_offset_ms;
  for (const char* name : {"time", "instruments_spot", "instruments_linear", "tickers_spot", "ws_ticker_linear",
                           "orderbook", "recent_trade", "kline", "wallet_balance", "create_order", "cancel_order",
                           "cancel_all", "open_order", "order_history", "execution", "ws_orderbook_snapshot",
                           "ws_orderbook_delta", "ws_trade", "ws_order", "ws_auth"})
    m.fixtures[name] = LoadFixture(name);
  m.error_codes = LoadFixture("error_codes");
  struct Seed {
    const char* category;
    const char* id;
    const char* base;
    double price;
    const char* tick;
    const char* step;
  };
  for (const Seed& s : {Seed{"spot", "BTCUSDT", "BTC", 65000, "0.1", "0.000001"},
                        Seed{"spot", "ETHUSDT", "ETH", 3000, "0.01", "0.00001"},
                        Seed{"spot", "SOLUSDT", "SOL", 150, "0.01", "0.001"},
                        Seed{"linear", "BTCUSDT", "BTC", 65000, "0.10", "0.001"},
                        Seed{"linear", "ETHUSDT", "ETH", 3000, "0.01", "0.01"}}) {
    MockMarket mk;
    mk.category = s.category;
    mk.id = s.id;
    mk.base = s.base;
    mk.quote = "USDT";
    mk.last = s.price;
    mk.tick = s.tick;
    mk.step = s.step;
    m.ResetBookLocked(mk);
    m.markets[mk.category + ":" + mk.id] = std::move(mk);
  }
  gateway::ServerOptions so;
  so.host = "127.0.0.1";
  so.port = 0;
  so.threads = 2;
  so.max_connections = 4096;
  Impl* raw = impl_.get();
  auto started = gateway::HttpServer::Start(
      std::move(so), [raw](gateway::HttpRequest r, gateway::Respond respond) { raw->Handle(std::move(r), std::move(respond)); });
  if (!started.ok()) throw std::runtime_error("mock bybit: " + started.status().message());
  m.server = std::move(*started);
  m.delayer = std::thread([raw] {
    std::unique_lock<std::mutex> lock(raw->mu);
    while (!raw->stopping) {
      const std::int64_t now = WallMs();
      std::vector<std::function<void()>> due;
      std::int64_t next = now + 1000;
      for (auto it = raw->delayed.begin(); it != raw->delayed.end();) {
        if (it->due_ms <= now) {
          due.push_back(std::move(it->send));
          it = raw->delayed.erase(it);
        } else {
          next = std::min(next, it->due_ms);
          ++it;
        }
      }
      if (!due.empty()) {
        lock.unlock();
        for (auto& f : due) f();
        lock.lock();
        continue;
      }
      raw->delayed_cv.wait_for(lock, std::chrono::milliseconds(std::max<std::int64_t>(1, next - now)));
    }
  });
  if (m.options.auto_stream_ms > 0) {
    m.pusher = std::thread([raw] {
      std::unique_lock<std::mutex> lock(raw->mu);
      while (!raw->stopping) {
        raw->delayed_cv.wait_for(lock, std::chrono::milliseconds(raw->options.auto_stream_ms));
        if (raw->stopping) break;
        for (auto& [_, mk] : raw->markets) {
          bool subscribed = false;
          for (const auto& [__, p] : raw->peers)
            for (const auto& t : p.topics) subscribed = subscribed || t.find(mk.id) != std::string::npos;
          if (!subscribed) continue;
          raw->PushBookDeltaLocked(mk, false);
          raw->PushTradeLocked(mk);
          raw->PushTickerLocked(mk);
        }
      }
    });
  }
}

MockBybit::~MockBybit() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->delayed_cv.notify_all();
  if (impl_->delayer.joinable()) impl_->delayer.join();
  if (impl_->pusher.joinable()) impl_->pusher.join();
  impl_->server->Stop();
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->peers.clear();
}

std::uint16_t MockBybit::port() const { return impl_->server->port(); }
std::string MockBybit::base_url() const { return "http://127.0.0.1:" + std::to_string(port()); }
std::string MockBybit::ws_url() const { return "ws://127.0.0.1:" + std::to_string(port()); }

void MockBybit::FailNext(const std::string& path, Fault fault, int count) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->faults.push_back({path, std::move(fault), count});
}

void MockBybit::SetPrice(const std::string& category, const std::string& id, double last) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (MockMarket* mk = impl_->Market(category, id)) {
    mk->last = last;
    impl_->ResetBookLocked(*mk);
  }
}

void MockBybit::SetClockOffset(std::int64_t ms) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->clock_offset_ms = ms;
}

int MockBybit::Requests(const std::string& path) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (path.empty()) return impl_->total_requests;
  auto it = impl_->requests.find(path);
  return it == impl_->requests.end() ? 0 : it->second;
}
int MockBybit::PrivateRequests() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->private_requests;
}
int MockBybit::SignatureFailures() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->signature_failures;
}
int MockBybit::LimitViolations() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->limit_violations;
}
int MockBybit::MaxPerSecond(const std::string& path) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->max_per_second.find(path);
  return it == impl_->max_per_second.end() ? 0 : it->second;
}
std::vector<Json> MockBybit::Orders() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<Json> out;
  for (const auto& o : impl_->orders) out.push_back(o.j);
  return out;
}
int MockBybit::OrdersWithLinkId(const std::string& link) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return static_cast<int>(std::count_if(impl_->orders.begin(), impl_->orders.end(),
                                        [&](const MockOrder& o) { return o.j.value("orderLinkId", "") == link; }));
}

// ---- REST -------------------------------------------------------------------------

void MockBybit::Impl::Handle(gateway::HttpRequest request, gateway::Respond respond) {
  if (request.websocket_upgrade) {
    gateway::HttpResponse r;
    if (auto accept = Accept(request.path)) r.websocket = accept;
    else r.status = 404;
    return respond(std::move(r));
  }
  const std::string path = request.path;
  Json params = Json::object();
  if (request.method == "POST") {
    params = Json::parse(request.body.empty() ? "{}" : request.body, nullptr, false);
    if (params.is_discarded() || !params.is_object()) params = Json::object();
  } else {
    std::map<std::string, std::string> q;
    std::string bad;
    if (gateway::ParseQuery(request.query, &q, &bad))
      for (const auto& [k, v] : q) params[k] = v;
  }
  std::unique_lock<std::mutex> lock(mu);
  const std::int64_t now = Now();
  ++total_requests;
  ++requests[path];
  gateway::HttpResponse reply;
  reply.SetHeader("Content-Type", "application/json");
  auto error = [&](int code, std::string msg = "") {
    if (msg.empty()) msg = ErrorMessage(code);
    return Json{{"retCode", code}, {"retMsg", msg}, {"result", Json::object()}, {"retExtInfo", Json::object()}, {"time", now}};
  };
  Json body;
  int delay_ms = 0;
  bool apply = true;
  std::string account;
  const std::string category = Str(params, "category");
  // 1. Signatures (private only), exactly as Bybit checks them.
  if (IsPrivate(path)) {
    ++private_requests;
    account = std::string(request.Header("x-bapi-api-key"));
    const std::string ts = std::string(request.Header("x-bapi-timestamp"));
    const std::string recv = std::string(request.Header("x-bapi-recv-window"));
    const std::string sign = std::string(request.Header("x-bapi-sign"));
    auto secret = options.accounts.find(account);
    if (account.empty() || secret == options.accounts.end()) {
      body = error(10003);
    } else {
      const std::string payload = ts + account + recv + (request.method == "POST" ? request.body : request.query);
      const std::int64_t t = ts.empty() ? 0 : std::stoll(ts);
      const std::int64_t window = recv.empty() ? 5000 : std::stoll(recv);
      if (plugin::net::HmacSha256Hex(secret->second, payload) != sign)
        body = error(10004, "error sign! origin_string[" + payload + "]");
      else if (!(now - window <= t && t < now + 1000))
        body = error(10002, "invalid request, please check your server timestamp or recv_window param. req_timestamp[" +
                                ts + "],server_timestamp[" + std::to_string(now) + "],recv_window[" + recv + "]");
    }
    if (!body.is_null()) ++signature_failures;
  }
  // 2. The per-account limits, in a rolling 1 s window; headers on every private answer.
  if (body.is_null() && IsPrivate(path)) {
    for (const Limit& l : kLimits) {
      if (path != l.path) continue;
      const int limit = category == "linear" ? l.linear : l.spot;
      auto& w = windows[account + "|" + path + "|" + category];
      const std::int64_t wall = WallMs();
      while (!w.empty() && w.front() <= wall - 1000) w.pop_front();
      w.push_back(wall);
      max_per_second[path] = std::max<int>(max_per_second[path], static_cast<int>(w.size()));
      const int left = std::max(0, limit - static_cast<int>(w.size()));
      reply.SetHeader("X-Bapi-Limit", std::to_string(limit));
      reply.SetHeader("X-Bapi-Limit-Status", std::to_string(left));
      reply.SetHeader("X-Bapi-Limit-Reset-Timestamp", std::to_string(static_cast<std::int64_t>(w.size()) > limit ? w.front() + 1000 + clock_offset_ms : now));
      if (options.enforce_limits && static_cast<int>(w.size()) > limit) {
        ++limit_violations;
        body = error(10006, "Too many visits!");
      }
    }
  }
  // 3. Faults: armed ones, then those the request asks for.
  Fault fault;
  bool faulted = false;
  if (body.is_null()) {
    for (auto it = faults.begin(); it != faults.end(); ++it) {
      if (!it->path.empty() && it->path != path) continue;
      fault = it->fault;
      faulted = true;
      if (--it->count <= 0) faults.erase(it);
      break;
    }
    if (!faulted) {
      if (params.contains("mockRetCode")) fault.ret_code = std::stoi(Str(params, "mockRetCode")), faulted = true;
      if (params.contains("mockRetMsg")) fault.ret_msg = Str(params, "mockRetMsg");
      if (params.contains("mockHttpStatus")) fault.http_status = std::stoi(Str(params, "mockHttpStatus")), faulted = true;
      if (params.contains("mockDelayMs")) fault.delay_ms = std::stoi(Str(params, "mockDelayMs")), faulted = true;
      if (params.contains("mockApply")) fault.apply = Str(params, "mockApply") != "false";
    }
  }
  if (faulted) {
    delay_ms = fault.delay_ms;
    apply = fault.apply;
    for (const auto& [k, v] : fault.headers) reply.SetHeader(k, v);
    if (fault.http_status) {
      reply.status = fault.http_status;
      reply.body = fault.http_status == 403 ? "access too frequent" : "<html>" + std::to_string(fault.http_status) + "</html>";
      reply.SetHeader("Content-Type", "text/html");
      body = Json();   // plain body already set
    } else if (fault.ret_code) {
      body = error(fault.ret_code, fault.ret_msg);
    } else if (!apply) {
      body = error(10016);   // never seen: the client gave up before
    }
  }
  // 4. The exchange.
  if (body.is_null() && reply.body.empty()) {
    if (path == "/v5/market/time") {
      body = Ok({{"timeSecond", std::to_string(now / 1000)}, {"timeNano", std::to_string(now) + "000000"}}, now);
    } else if (path == "/v5/market/instruments-info") {
      Json list = Json::array();
      for (auto& [_, mk] : markets) {
        if (mk.category != category) continue;
        Json item = fixtures[category == "spot" ? "instruments_spot" : "instruments_linear"]["result"]["list"][0];
        item["symbol"] = mk.id;
        item["baseCoin"] = mk.base;
        item["priceFilter"]["tickSize"] = mk.tick;
        if (category == "spot") item["lotSizeFilter"]["basePrecision"] = mk.step;
        else item["lotSizeFilter"]["qtyStep"] = mk.step, item["lotSizeFilter"]["minOrderQty"] = mk.step;
        list.push_back(item);
      }
      if (category != "spot" && category != "linear") body = error(10001, "Illegal category");
      else body = Ok({{"category", category}, {"list", list}, {"nextPageCursor", ""}}, now);
    } else if (path == "/v5/market/tickers") {
      Json list = Json::array();
      const std::string symbol = Str(params, "symbol");
      for (auto& [_, mk] : markets)
        if (mk.category == category && (symbol.empty() || symbol == mk.id)) list.push_back(TickerItemLocked(mk));
      body = !symbol.empty() && list.empty() ? error(10001, "Not supported symbols")
                                             : Ok({{"category", category}, {"list", list}}, now);
    } else if (path == "/v5/market/orderbook" || path == "/v5/market/recent-trade" || path == "/v5/market/kline") {
      MockMarket* mk = Market(category, Str(params, "symbol"));
      if (!mk) {
        body = error(10001, "Not supported symbols");
      } else if (path == "/v5/market/orderbook") {
        Json b = Json::array(), a = Json::array();
        for (auto it = mk->bids.rbegin(); it != mk->bids.rend(); ++it) b.push_back({MockDecimal(it->first, mk->tick), MockDecimal(it->second, mk->step)});
        for (auto& [p, q] : mk->asks) a.push_back({MockDecimal(p, mk->tick), MockDecimal(q, mk->step)});
        body = Ok({{"s", mk->id}, {"b", b}, {"a", a}, {"ts", now}, {"u", mk->u}, {"seq", mk->seq}, {"cts", now}}, now);
      } else if (path == "/v5/market/recent-trade") {
        Json list = Json::array();
        for (int i = 0; i < 3; ++i) {
          Json t = fixtures["recent_trade"]["result"]["list"][0];
          t["execId"] = std::to_string(2100000000007764263LL + i);
          t["symbol"] = mk->id;
          t["price"] = MockDecimal(mk->last + i * Num(mk->tick), mk->tick);
          t["size"] = MockDecimal(0.001 * (i + 1), mk->step);
          t["side"] = i % 2 ? "Sell" : "Buy";
          t["time"] = std::to_string(now - 1000 * (3 - i));
          list.push_back(t);
        }
        body = Ok({{"category", category}, {"list", list}}, now);
      } else {
        const std::int64_t minute = now / 60000 * 60000;
        Json list = Json::array();
        for (int i = 0; i < 3; ++i) {   // newest first, as Bybit
          const double o = mk->last - i;
          list.push_back({std::to_string(minute - 60000LL * i), MockDecimal(o, mk->tick), MockDecimal(o + 5, mk->tick),
                          MockDecimal(o - 5, mk->tick), MockDecimal(o + 1, mk->tick), "12.5", "812500"});
        }
        body = Ok({{"symbol", mk->id}, {"category", category}, {"list", list}}, now);
      }
    } else if (path == "/v5/account/wallet-balance") {
      Json r = fixtures["wallet_balance"];
      Json& entry = r["result"]["list"][0];
      Json btc = entry["coin"][0];
      btc["walletBalance"] = "1";
      btc["equity"] = "1";
      btc["availableToWithdraw"] = "";
      Json usdt = btc;
      usdt["coin"] = "USDT";
      usdt["walletBalance"] = "10000";
      usdt["equity"] = "10000";
      double locked = 0;
      for (const auto& o : orders)
        if (o.account == account && Open(o.j) && o.j.value("side", "") == "Buy")
          locked += Num(Str(o.j, "price")) * Num(Str(o.j, "leavesQty"));
      usdt["locked"] = MockDecimal(locked, "0.01");
      entry["coin"] = Json::array({btc, usdt});
      const double equity = 10000 + Market("spot", "BTCUSDT")->last;
      entry["totalEquity"] = MockDecimal(equity, "0.01");
      entry["totalWalletBalance"] = MockDecimal(equity, "0.01");
      entry["totalAvailableBalance"] = MockDecimal(equity - locked, "0.01");
      r["time"] = now;
      body = r;
    } else if (path == "/v5/order/create") {
      MockMarket* mk = Market(category, Str(params, "symbol"));
      const std::string side = Str(params, "side"), type = Str(params, "orderType"), link = Str(params, "orderLinkId");
      const double qty = Num(Str(params, "qty")), price = Num(Str(params, "price"));
      if (category != "spot" && category != "linear") body = error(10001, "Illegal category");
      else if (!mk) body = error(10001, "Not supported symbols");
      else if (side != "Buy" && side != "Sell") body = error(10001, "Side invalid");
      else if (type != "Limit" && type != "Market") body = error(10001, "OrderType invalid");
      else if (!(qty > 0)) body = error(10001, "Qty invalid");
      else if (type == "Limit" && !(price > 0)) body = error(10001, "Price invalid");
      else if (link.size() > 36) body = error(10001, "orderLinkId is too long");
      else if (!link.empty() && std::any_of(orders.begin(), orders.end(), [&](const MockOrder& o) {
                 return o.account == account && o.j.value("orderLinkId", "") == link;
               }))
        body = error(110072);
      else if (apply) {
        MockOrder o{account, category, fixtures["open_order"]["result"]["list"][0]};
        Json& j = o.j;
        const std::string id = std::to_string(next_order_id++);
        const bool crosses = type == "Market" || (side == "Buy" ? price >= mk->last : price <= mk->last);
        const bool post_only = Str(params, "timeInForce") == "PostOnly";
        const double fill = type == "Market" ? mk->last : price;
        j["orderId"] = id;
        j["orderLinkId"] = link;
        j["symbol"] = mk->id;
        j["price"] = type == "Limit" ? MockDecimal(price, mk->tick) : "0";
        j["qty"] = Str(params, "qty");
        j["side"] = side;
        j["orderType"] = type;
        j["timeInForce"] = params.contains("timeInForce") ? Str(params, "timeInForce") : type == "Market" ? "IOC" : "GTC";
        j["positionIdx"] = 0;
        j["takeProfit"] = "";
        j["stopLoss"] = "";
        j["triggerPrice"] = "";
        j["tpTriggerBy"] = "";
        j["slTriggerBy"] = "";
        if (category == "spot") j.erase("tpslMode");
        else j["tpslMode"] = "";
        j["reduceOnly"] = params.value("reduceOnly", false);
        j["createdTime"] = std::to_string(now);
        j["updatedTime"] = std::to_string(now);
        j["cumFeeDetail"] = Json::object();
        if (crosses && post_only) {
          j["orderStatus"] = "Cancelled";
          j["rejectReason"] = "EC_PostOnlyWillTakeLiquidity";
          j["leavesQty"] = "0";
          j["cumExecQty"] = "0";
          j["cumExecValue"] = "0";
          j["avgPrice"] = "";
        } else if (crosses) {
          j["orderStatus"] = "Filled";
          j["leavesQty"] = "0";
          j["leavesValue"] = "0";
          j["cumExecQty"] = Str(params, "qty");
          j["cumExecValue"] = MockDecimal(qty * fill, "0.00000001");
          j["avgPrice"] = MockDecimal(fill, mk->tick);
          const std::string fee_coin = category == "spot" && side == "Buy" ? mk->base : "USDT";
          const double fee = category == "spot" && side == "Buy" ? qty * 0.001 : qty * fill * 0.001;
          j["cumExecFee"] = MockDecimal(fee, "0.00000001");
          j["cumFeeDetail"] = {{fee_coin, MockDecimal(fee, "0.00000001")}};
          Json e = fixtures["execution"]["result"]["list"][0];
          e["symbol"] = mk->id;
          e["orderType"] = type;
          e["orderLinkId"] = link;
          e["side"] = side;
          e["orderId"] = id;
          e["execTime"] = std::to_string(now);
          e["execFee"] = MockDecimal(fee, "0.00000001");
          e["feeRate"] = "0.001";
          e["feeCurrency"] = fee_coin;
          e["execId"] = "e-" + std::to_string(next_exec_id++);
          e["execPrice"] = MockDecimal(fill, mk->tick);
          e["orderQty"] = Str(params, "qty");
          e["orderPrice"] = j["price"];
          e["execValue"] = j["cumExecValue"];
          e["execQty"] = Str(params, "qty");
          e["category"] = category;
          executions.emplace_back(account, e);
        } else {
          j["orderStatus"] = "New";
          j["leavesQty"] = Str(params, "qty");
          j["leavesValue"] = MockDecimal(qty * price, "0.01");
          j["cumExecQty"] = "0";
          j["cumExecValue"] = "0";
          j["cumExecFee"] = "0";
          j["avgPrice"] = "";
        }
        orders.push_back(o);
        PushOrderLocked(orders.back());
        body = Ok({{"orderId", id}, {"orderLinkId", link}}, now);
      }
    } else if (path == "/v5/order/cancel" || path == "/v5/order/cancel-all") {
      const bool all = path == "/v5/order/cancel-all";
      const std::string symbol = Str(params, "symbol"), id = Str(params, "orderId"), link = Str(params, "orderLinkId");
      Json list = Json::array();
      for (auto& o : orders) {
        if (o.account != account || o.category != category || !Open(o.j)) continue;
        if (!symbol.empty() && o.j.value("symbol", "") != symbol) continue;
        if (!all && !(id.empty() ? o.j.value("orderLinkId", "") == link : o.j.value("orderId", "") == id)) continue;
        if (apply) {
          o.j["orderStatus"] = "Cancelled";
          o.j["cancelType"] = "CancelByUser";
          o.j["leavesQty"] = "0";
          o.j["updatedTime"] = std::to_string(now);
          PushOrderLocked(o);
        }
        list.push_back({{"orderId", o.j["orderId"]}, {"orderLinkId", o.j["orderLinkId"]}});
      }
      if (all) body = Ok({{"list", list}, {"success", "1"}}, now);
      else if (list.empty()) body = error(110001);
      else body = Ok(list[0], now);
    } else if (path == "/v5/order/realtime" || path == "/v5/order/history") {
      const bool realtime = path == "/v5/order/realtime";
      const std::string symbol = Str(params, "symbol"), id = Str(params, "orderId"), link = Str(params, "orderLinkId");
      const std::string status = Str(params, "orderStatus");
      if (category == "linear" && realtime && symbol.empty() && Str(params, "settleCoin").empty() && Str(params, "baseCoin").empty())
        body = error(10001, "symbol or settleCoin or baseCoin is required");
      Json list = Json::array();
      for (auto it = orders.rbegin(); it != orders.rend(); ++it) {   // newest first
        const MockOrder& o = *it;
        if (o.account != account || o.category != category) continue;
        if (!symbol.empty() && o.j.value("symbol", "") != symbol) continue;
        if (!id.empty() && o.j.value("orderId", "") != id) continue;
        if (!link.empty() && o.j.value("orderLinkId", "") != link) continue;
        const bool by_id = !id.empty() || !link.empty();
        if (realtime && !by_id && (Str(params, "openOnly") == "1") == Open(o.j)) continue;
        if (!realtime && Open(o.j)) continue;
        if (!status.empty() && o.j.value("orderStatus", "") != status) continue;
        list.push_back(o.j);
      }
      const std::size_t limit = std::clamp<std::size_t>(params.contains("limit") ? std::stoul(Str(params, "limit")) : 20, 1, 50);
      const std::size_t from = params.contains("cursor") ? std::stoul(Str(params, "cursor")) : 0;
      Json page = Json::array();
      for (std::size_t i = from; i < list.size() && i < from + limit; ++i) page.push_back(list[i]);
      const std::string next = from + limit < list.size() ? std::to_string(from + limit) : "";
      if (body.is_null()) body = Ok({{"category", category}, {"list", page}, {"nextPageCursor", next}}, now);
    } else if (path == "/v5/execution/list") {
      const std::string symbol = Str(params, "symbol");
      Json list = Json::array();
      for (auto it = executions.rbegin(); it != executions.rend(); ++it)
        if (it->first == account && it->second.value("category", "") == category &&
            (symbol.empty() || it->second.value("symbol", "") == symbol))
          list.push_back(it->second);
      body = Ok({{"category", category}, {"list", list}, {"nextPageCursor", ""}}, now);
    } else {
      reply.status = 404;
      reply.body = "{\"retCode\":10017,\"retMsg\":\"route not found\"}";
    }
  }
  if (reply.body.empty()) reply.body = body.dump();
  if (delay_ms <= 0) {
    lock.unlock();
    return respond(std::move(reply));
  }
  delayed.push_back({WallMs() + delay_ms, [respond = std::move(respond), reply = std::move(reply)]() mutable {
                       respond(std::move(reply));
                     }});
  delayed_cv.notify_all();
}

// ---- a server that drops every connection -----------------------------------------

DroppingServer::DroppingServer() {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 64) != 0)
    throw std::runtime_error("DroppingServer: cannot listen");
  socklen_t len = sizeof addr;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      ++connections_;
      // Read the request (whatever arrives within a moment), then close: the client
      // sent it and never hears back.
      char buf[4096];
      pollfd q{c, POLLIN, 0};
      if (::poll(&q, 1, 500) > 0) (void)::recv(c, buf, sizeof buf, 0);
      ::close(c);
    }
  });
}

DroppingServer::~DroppingServer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace ami::test::bybit
