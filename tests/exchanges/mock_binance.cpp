// The loopback Binance (mock_binance.h): server, keys and signatures, weights, faults,
// REST market data and the stream socket's handshake. Orders are in
// mock_binance_orders.cpp, stream events and RawCloser in mock_binance_streams.cpp.
#include "tests/exchanges/mock_binance.h"


#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <optional>
#include <stdexcept>

#include "ami/plugin/net/signing.h"
#include "tests/exchanges/mock_binance_impl.h"
#include "tests/support/test_support.h"

namespace ami::test {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string MockDecimal(double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.8f", value);
  return buf;
}

std::int64_t MockNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

MockReply MockError(int status, int code, const std::string& msg) {
  return {status, Json{{"code", code}, {"msg", msg}}};
}

Json BinanceFixture(const std::string& name) {
  return Json::parse(ReadFile(SourceDir() / "tests" / "exchanges" / "fixtures" / "binance" / name));
}

namespace {

// The documented messages of the codes `mockError` can ask for (errors.md).
std::string DocumentedMessage(int code) {
  switch (code) {
    case -1000: return "An unknown error occurred while processing the request.";
    case -1001: return "Internal error; unable to process your request. Please try again.";
    case -1002: return "You are not authorized to execute this request.";
    case -1003: return "Too many requests queued.";
    case -1007: return "Timeout waiting for response from backend server. Send status unknown; execution status unknown.";
    case -1013: return "Invalid quantity.";
    case -1015: return "Too many new orders.";
    case -1021: return "Timestamp for this request is outside of the recvWindow.";
    case -1022: return "Signature for this request is not valid.";
    case -1100: return "Illegal characters found in a parameter.";
    case -1102: return "A mandatory parameter was not sent, was empty/null, or malformed.";
    case -1121: return "Invalid symbol.";
    case -2010: return "Account has insufficient balance for requested action.";
    case -2011: return "Unknown order sent.";
    case -2013: return "Order does not exist.";
    case -2014: return "API-key format invalid.";
    case -2015: return "Invalid API-key, IP, or permissions for action.";
    default: return "Mock error " + std::to_string(code) + ".";
  }
}

bool IsPrivate(const std::string& prefix, const std::string& ep) {
  if (prefix == "/fapi/v2/") return true;
  static const std::set<std::string> spot = {"account", "order", "openOrders", "allOrders", "myTrades"};
  static const std::set<std::string> fut = {"order", "openOrders", "allOpenOrders", "allOrders", "userTrades"};
  return prefix == "/api/v3/" ? spot.count(ep) > 0 : fut.count(ep) > 0;
}

double ParamNumber(const MockParams& p, const char* key, double fallback) {
  auto it = p.find(key);
  if (it == p.end()) return fallback;
  try {
    return std::stod(it->second);
  } catch (...) {
    return fallback;
  }
}

// Binance's published REQUEST_WEIGHT of each endpoint the mock serves.
double Weight(bool futures, const std::string& method, const std::string& ep, const MockParams& p) {
  const bool has_symbol = p.count("symbol") > 0;
  if (ep == "time") return 1;
  if (futures) {
    if (ep == "exchangeInfo") return 1;
    if (ep == "ticker/24hr") return has_symbol ? 1 : 40;
    if (ep == "depth") {
      const double l = ParamNumber(p, "limit", 500);
      return l <= 50 ? 2 : l <= 100 ? 5 : l <= 500 ? 10 : 20;
    }
    if (ep == "trades" || ep == "balance" || ep == "allOrders" || ep == "userTrades") return 5;
    if (ep == "klines") {
      const double l = ParamNumber(p, "limit", 500);
      return l < 100 ? 1 : l < 500 ? 2 : l <= 1000 ? 5 : 10;
    }
    if (ep == "order") return method == "POST" ? 0 : 1;
    if (ep == "openOrders") return has_symbol ? 1 : 40;
    return 1;
  }
  if (ep == "exchangeInfo" || ep == "account" || ep == "allOrders") return 20;
  if (ep == "ticker/24hr") {
    if (has_symbol) return 2;
    auto it = p.find("symbols");
    if (it == p.end()) return 80;
    const auto n = std::count(it->second.begin(), it->second.end(), ',') + 1;
    return n <= 20 ? 2 : n <= 100 ? 40 : 80;
  }
  if (ep == "depth") {
    const double l = ParamNumber(p, "limit", 100);
    return l <= 100 ? 5 : l <= 500 ? 25 : l <= 1000 ? 50 : 250;
  }
  if (ep == "trades") return 25;
  if (ep == "klines") return 2;
  if (ep == "order") return method == "GET" ? 4 : 1;
  if (ep == "openOrders") return method == "DELETE" ? 1 : (has_symbol ? 6 : 80);
  if (ep == "myTrades") return p.count("orderId") ? 5 : 20;
  return 1;
}

Json Levels(const auto& side, std::size_t limit) {
  Json out = Json::array();
  for (const auto& [price, amount] : side) {
    if (out.size() >= limit) break;
    out.push_back({MockDecimal(price), MockDecimal(amount)});
  }
  return out;
}

}  // namespace

// ---- requests ---------------------------------------------------------------------------

void MockBinance::Impl::Handle(gateway::HttpRequest req, gateway::Respond respond) {
  if (req.path == "/ws" && req.websocket_upgrade) {
    auto peer = std::make_shared<Peer>();
    int id = 0;
    {
      std::lock_guard<std::mutex> lock(mu);
      id = next_peer++;
    }
    auto accept = std::make_shared<gateway::WebSocketAccept>();
    accept->on_open = [this, peer, id](std::shared_ptr<gateway::WebSocketPeer> socket) {
      std::lock_guard<std::mutex> lock(mu);
      peer->socket = std::move(socket);
      peers[id] = peer;
      ++sockets_opened;
    };
    accept->on_message = [this, peer](std::string text) {
      const Json frame = Json::parse(text, nullptr, false);
      if (!frame.is_object() || !frame.contains("params") || !frame["params"].is_array()) return;
      std::lock_guard<std::mutex> lock(mu);
      const bool subscribe = frame.value("method", "") == "SUBSCRIBE";
      for (const auto& s : frame["params"]) {
        if (!s.is_string()) continue;
        if (subscribe) {
          peer->streams.insert(s.get<std::string>());
          subscriptions.insert(s.get<std::string>());
        } else {
          peer->streams.erase(s.get<std::string>());
        }
      }
      if (peer->socket) peer->socket->Send(Json{{"result", nullptr}, {"id", frame.value("id", Json())}}.dump());
    };
    accept->on_close = [this, peer, id] {
      std::lock_guard<std::mutex> lock(mu);
      peer->open = false;
      peers.erase(id);
    };
    gateway::HttpResponse r;
    r.websocket = accept;
    return respond(std::move(r));
  }

  std::string prefix;
  for (const char* p : {"/api/v3/", "/fapi/v1/", "/fapi/v2/"})
    if (req.path.rfind(p, 0) == 0) prefix = p;
  const bool futures = prefix.rfind("/fapi/", 0) == 0;
  const std::string ep = prefix.empty() ? "" : req.path.substr(prefix.size());
  MockParams params, body_params;
  std::string bad;
  gateway::ParseQuery(req.query, &params, &bad);
  gateway::ParseQuery(req.body, &body_params, &bad);
  params.insert(body_params.begin(), body_params.end());

  std::unique_lock<std::mutex> lock(mu);
  ++total;
  ++requests[req.method + " " + req.path];
  auto send = [&](MockReply reply, std::vector<std::pair<std::string, std::string>> headers) {
    gateway::HttpResponse r;
    r.status = reply.status;
    r.headers = std::move(headers);
    r.SetHeader("Content-Type", "application/json");
    r.body = reply.body.dump();
    respond(std::move(r));
  };
  std::vector<std::pair<std::string, std::string>> headers;
  if (prefix.empty()) return send(MockError(404, -1, "Not found"), headers);

  // REQUEST_WEIGHT in fixed windows; a request during a Retry-After is banned (418).
  // Windows are aligned to the exchange's clock (a minute starts at :00, as Binance's).
  const auto now = Clock::now();
  const std::int64_t window_ms = options.window.count();
  const std::int64_t server_now = Now();
  const std::int64_t index = server_now / window_ms;
  if (index != window_index) {
    window_index = index;
    window_used = 0;
  }
  const auto window_end = now + std::chrono::milliseconds((index + 1) * window_ms - server_now);
  const auto retry_secs = [&](Clock::time_point until) {
    return std::to_string(std::max<long long>(1, std::chrono::ceil<std::chrono::seconds>(until - now).count()));
  };
  if (now < retry_after) {
    ++banned;
    headers.emplace_back("Retry-After", retry_secs(retry_after));
    return send(MockError(418, -1003, "Way too much request weight used; IP banned until " +
                                          std::to_string(Now() + 120000) + "."), headers);
  }
  const double weight = Weight(futures, req.method, ep, params);
  if (window_used + weight > options.weight_cap) {
    ++rate_limited;
    retry_after = window_end;
    headers.emplace_back("X-MBX-USED-WEIGHT-1M", std::to_string(static_cast<long long>(window_used)));
    headers.emplace_back("Retry-After", retry_secs(window_end));
    return send(MockError(429, -1003, "Too much request weight used; current limit is " +
                                          std::to_string(static_cast<long long>(options.weight_cap)) +
                                          " request weight per 1 MINUTE. Please use WebSocket Streams for live "
                                          "updates to avoid polling the API."), headers);
  }
  window_used += weight;
  max_window_weight = std::max(max_window_weight, window_used);
  headers.emplace_back("X-MBX-USED-WEIGHT-1M", std::to_string(static_cast<long long>(window_used)));

  // Signed endpoints: key, signature (last, over query + body), timestamp.
  if (IsPrivate(prefix, ep)) {
    const std::string key(req.Header("x-mbx-apikey"));
    if (key.empty()) {
      ++unauthenticated;
      return send(MockError(401, -2014, DocumentedMessage(-2014)), headers);
    }
    auto account = accounts.find(key);
    if (account == accounts.end()) {
      ++unauthenticated;
      return send(MockError(401, -2015, DocumentedMessage(-2015)), headers);
    }
    const std::string total_params = req.query + req.body;
    const std::string marker = "signature=";
    const auto at = total_params.rfind(marker);
    const bool last_param = at != std::string::npos && (at == 0 || total_params[at - 1] == '&');
    const std::string payload = last_param ? total_params.substr(0, at == 0 ? 0 : at - 1) : "";
    const std::string signature = last_param ? total_params.substr(at + marker.size()) : "";
    if (!last_param || plugin::net::HmacSha256Hex(account->second, payload) != signature) {
      ++bad_signatures;
      return send(MockError(400, -1022, DocumentedMessage(-1022)), headers);
    }
    ++verified;
    const double ts = ParamNumber(params, "timestamp", 0);
    const double recv = ParamNumber(params, "recvWindow", options.recv_window_default_ms);
    const double server = static_cast<double>(Now());
    if (ts <= 0 || ts > server + 1000 || server - ts > recv)
      return send(MockError(400, -1021, DocumentedMessage(-1021)), headers);
  }

  if (auto it = params.find("mockError"); it != params.end()) {
    const int code = std::stoi(it->second);
    const int status = static_cast<int>(ParamNumber(params, "mockStatus", code == -1003 ? 429 : 400));
    auto msg = params.count("mockMsg") ? params["mockMsg"] : DocumentedMessage(code);
    if (status == 429 || status == 418) {
      retry_after = now + std::chrono::seconds(1);
      headers.emplace_back("Retry-After", "1");
    }
    return send(MockError(status, code, msg), headers);
  }
  if (auto it = params.find("mockStatus"); it != params.end()) {
    const int status = std::stoi(it->second);
    if (status == 429 || status == 418) {
      retry_after = now + std::chrono::seconds(1);
      headers.emplace_back("Retry-After", "1");
    }
    return send(MockReply{status, status >= 500 ? Json(nullptr) : Json{{"code", -1000}, {"msg", "mock"}}}, headers);
  }

  // Faults by method + path.
  std::optional<Fault> fault;
  for (auto f = faults.begin(); f != faults.end(); ++f) {
    if (f->method != req.method || f->path != req.path) continue;
    fault = *f;
    if (--f->count <= 0) faults.erase(f);
    break;
  }

  MockReply reply;
  if (fault && !fault->execute) {
    reply = MockError(504, -1007, DocumentedMessage(-1007));
  } else if (fault && fault->status != 0) {
    reply = MockError(fault->status, fault->code, fault->msg);
  } else if (ep == "time") {
    reply.body = {{"serverTime", Now()}};
  } else if (ep == "exchangeInfo") {
    reply.body = futures ? futures_info : spot_info;
    reply.body["serverTime"] = Now();
  } else if (ep == "ticker/24hr") {
    Json tpl = BinanceFixture(futures ? "futures_ticker_24hr.json" : "spot_ticker_24hr.json");
    auto one = [&](const std::string& id) {
      Json t = tpl;
      t["symbol"] = id;
      if (auto lp = last_price.find(id); lp != last_price.end()) t["lastPrice"] = MockDecimal(lp->second);
      return t;
    };
    const auto& known = futures ? futures_symbols : spot_symbols;
    if (params.count("symbol")) {
      if (!known.count(params["symbol"])) reply = MockError(400, -1121, DocumentedMessage(-1121));
      else reply.body = one(params["symbol"]);
    } else {
      reply.body = Json::array();
      Json wanted = params.count("symbols") ? Json::parse(params["symbols"], nullptr, false) : Json();
      for (const auto& id : known)
        if (!wanted.is_array() || std::find(wanted.begin(), wanted.end(), Json(id)) != wanted.end())
          reply.body.push_back(one(id));
    }
  } else if (ep == "depth") {
    const std::string id = params["symbol"];
    if (!(futures ? futures_symbols : spot_symbols).count(id)) {
      reply = MockError(400, -1121, DocumentedMessage(-1121));
    } else {
      const auto limit = static_cast<std::size_t>(ParamNumber(params, "limit", futures ? 500 : 100));
      Book& b = books[id];
      ++depth_snapshots[id];
      reply.body = {{"lastUpdateId", b.update_id}, {"bids", Levels(b.bids, limit)}, {"asks", Levels(b.asks, limit)}};
      if (futures) reply.body["E"] = reply.body["T"] = Now();
    }
  } else if (ep == "trades") {
    reply.body = BinanceFixture("spot_trades.json");
  } else if (ep == "klines") {
    reply.body = BinanceFixture("spot_klines.json");
  } else if (ep == "account") {
    reply.body = BinanceFixture("spot_account.json");
  } else if (ep == "balance" && futures) {
    reply.body = BinanceFixture("futures_balance.json");
  } else {
    reply = Orders(req.method, ep, params, futures);
  }

  if (fault && fault->delay.count() > 0) {
    gateway::HttpResponse r;
    r.status = reply.status;
    r.headers = headers;
    r.SetHeader("Content-Type", "application/json");
    r.body = reply.body.dump();
    delayed.emplace_back(Clock::now() + fault->delay,
                         [respond = std::move(respond), r = std::move(r)]() mutable { respond(std::move(r)); });
    cv.notify_all();
    return;
  }
  send(std::move(reply), headers);
}

// ---- the public face ----------------------------------------------------------------------

MockBinance::MockBinance() : MockBinance(Options{}) {}

MockBinance::MockBinance(Options options) : impl_(std::make_shared<Impl>()) {
  impl_->options = options;
  impl_->spot_info = BinanceFixture("spot_exchangeInfo.json");
  impl_->futures_info = BinanceFixture("futures_exchangeInfo.json");
  for (const auto& s : impl_->spot_info["symbols"]) impl_->spot_symbols.insert(s["symbol"].get<std::string>());
  for (const auto& s : impl_->futures_info["symbols"]) impl_->futures_symbols.insert(s["symbol"].get<std::string>());
  impl_->last_price = {{"BTCUSDT", 50000}, {"ETHUSDT", 3000}, {"ETHBTC", 0.05}, {"BLZUSDT", 0.1},
                       {"BTCUSDT_250627", 51000}};
  const Json depth = BinanceFixture("spot_depth.json");
  for (const auto& id : impl_->spot_symbols) {
    Impl::Book b;
    for (const auto& l : depth["bids"]) b.bids[std::stod(l[0].get<std::string>())] = std::stod(l[1].get<std::string>());
    for (const auto& l : depth["asks"]) b.asks[std::stod(l[0].get<std::string>())] = std::stod(l[1].get<std::string>());
    b.update_id = b.last_u = depth["lastUpdateId"].get<std::uint64_t>();
    impl_->books[id] = b;
  }
  for (const auto& id : impl_->futures_symbols)
    if (!impl_->books.count(id)) impl_->books[id] = impl_->books.begin()->second;
  Impl* impl = impl_.get();
  impl_->delay_thread = std::thread([impl] {
    std::unique_lock<std::mutex> lock(impl->mu);
    while (!impl->stopping) {
      auto due = Clock::time_point::max();
      for (const auto& d : impl->delayed) due = std::min(due, d.first);
      if (due == Clock::time_point::max()) {
        impl->cv.wait(lock);
        continue;
      }
      if (impl->cv.wait_until(lock, due) == std::cv_status::no_timeout) continue;
      const auto now = Clock::now();
      std::vector<std::function<void()>> ready;
      for (auto it = impl->delayed.begin(); it != impl->delayed.end();)
        if (it->first <= now) {
          ready.push_back(std::move(it->second));
          it = impl->delayed.erase(it);
        } else {
          ++it;
        }
      lock.unlock();
      for (auto& f : ready) f();
      lock.lock();
    }
  });
  gateway::ServerOptions so;
  so.host = "127.0.0.1";
  so.port = 0;
  so.threads = 2;
  so.websocket_ping = std::chrono::seconds(60);
  auto started = gateway::HttpServer::Start(std::move(so), [impl](gateway::HttpRequest r, gateway::Respond respond) {
    impl->Handle(std::move(r), std::move(respond));
  });
  if (!started.ok()) throw std::runtime_error("mock binance: " + started.status().message());
  impl_->server = std::move(*started);
}

MockBinance::~MockBinance() {
  impl_->server->Stop();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stopping = true;
    impl_->delayed.clear();
  }
  impl_->cv.notify_all();
  impl_->delay_thread.join();
}

std::uint16_t MockBinance::port() const { return impl_->server->port(); }
std::string MockBinance::http_url() const { return "http://127.0.0.1:" + std::to_string(port()); }
std::string MockBinance::ws_url() const { return "ws://127.0.0.1:" + std::to_string(port()); }

void MockBinance::AddAccount(const std::string& key, const std::string& secret) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->accounts[key] = secret;
}
void MockBinance::SetClockOffset(std::int64_t ms) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->clock_offset = ms;
}
void MockBinance::SetUsedWeight(double used) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->window_index = impl_->Now() / impl_->options.window.count();
  impl_->window_used = used;
  impl_->max_window_weight = std::max(impl_->max_window_weight, used);
}
void MockBinance::SetWeightCap(double cap) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->options.weight_cap = cap;
}
void MockBinance::AddFault(Fault fault) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->faults.push_back(std::move(fault));
}
void MockBinance::SetLastPrice(const std::string& id, double price) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->last_price[id] = price;
}

int MockBinance::Requests(const std::string& method, const std::string& path) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->requests.find(method + " " + path);
  return it == impl_->requests.end() ? 0 : it->second;
}
#define AMI_MOCK_COUNTER(name, field)                  \
  int MockBinance::name() const {                      \
    std::lock_guard<std::mutex> lock(impl_->mu);       \
    return impl_->field;                               \
  }
AMI_MOCK_COUNTER(TotalRequests, total)
AMI_MOCK_COUNTER(VerifiedSignatures, verified)
AMI_MOCK_COUNTER(BadSignatures, bad_signatures)
AMI_MOCK_COUNTER(UnauthenticatedPrivate, unauthenticated)
AMI_MOCK_COUNTER(RateLimited, rate_limited)
AMI_MOCK_COUNTER(Banned, banned)
AMI_MOCK_COUNTER(SocketsOpened, sockets_opened)
#undef AMI_MOCK_COUNTER

double MockBinance::MaxWindowWeight() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->max_window_weight;
}
std::vector<MockBinance::Order> MockBinance::Orders() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->orders;
}
int MockBinance::OrdersWithClientId(const std::string& client_id) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return static_cast<int>(std::count_if(impl_->orders.begin(), impl_->orders.end(),
                                        [&](const Order& o) { return o.client_id == client_id; }));
}

}  // namespace ami::test
