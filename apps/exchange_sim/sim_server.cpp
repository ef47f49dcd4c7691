// SimServer (sim_server.h): routing, signatures, streams and the sweeper.
#include "apps/exchange_sim/sim_server.h"

#include <chrono>

#include "ami/plugin/net/signing.h"

namespace ami::exchange_sim {

std::int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

Json Body(int code, const std::string& msg, Json result, std::int64_t now) {
  return {{"retCode", code}, {"retMsg", msg}, {"result", std::move(result)}, {"retExtInfo", Json::object()}, {"time", now}};
}

bool IsPrivate(const std::string& path) {
  return path.rfind("/v5/order/", 0) == 0 || path == "/v5/execution/list" || path == "/v5/account/wallet-balance";
}

bool AllDigits(const std::string& s) {
  return !s.empty() && s.size() < 19 && s.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

SimServer::SimServer(SimEngine& engine, Journal& journal) : engine_(engine), journal_(journal) {}

SimServer::~SimServer() { Stop(); }

bool SimServer::Start(const std::string& host, std::uint16_t port, std::string& error) {
  gateway::ServerOptions so;
  so.host = host;
  so.port = port;
  so.threads = 2;
  so.max_connections = 4096;
  auto started = gateway::HttpServer::Start(
      std::move(so), [this](gateway::HttpRequest r, gateway::Respond respond) { Handle(std::move(r), std::move(respond)); });
  if (!started.ok()) {
    error = started.status().message();
    return false;
  }
  server_ = std::move(*started);
  sweeper_ = std::thread([this] { SweepLoop(); });
  return true;
}

void SimServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
  if (server_) server_->Stop();
  std::lock_guard<std::mutex> lock(mu_);
  peers_.clear();
}

std::uint16_t SimServer::port() const { return server_ ? server_->port() : 0; }

const SimAccount* SimServer::AccountByKey(const std::string& key) const {
  for (const auto& a : engine_.config().accounts)
    if (a.api_key == key) return &a;
  return nullptr;
}

std::string SimServer::CheckSignature(const gateway::HttpRequest& request, std::string& account, std::int64_t now) {
  const std::string key(request.Header("x-bapi-api-key")), ts(request.Header("x-bapi-timestamp")),
      recv(request.Header("x-bapi-recv-window")), sign(request.Header("x-bapi-sign"));
  const SimAccount* a = AccountByKey(key);
  if (!a) return Body(10003, "API key is invalid.", Json::object(), now).dump();
  const std::string payload = ts + key + recv + (request.method == "POST" ? request.body : request.query);
  if (plugin::net::HmacSha256Hex(a->secret, payload) != sign)
    return Body(10004, "error sign! origin_string[" + payload + "]", Json::object(), now).dump();
  const std::int64_t window = AllDigits(recv) ? std::stoll(recv) : 5000;
  const std::int64_t t = AllDigits(ts) ? std::stoll(ts) : 0;
  if (window > engine_.config().recv_window_max_ms || !(now - window <= t && t < now + 1000))
    return Body(10002,
                "invalid request, please check your server timestamp or recv_window param. req_timestamp[" + ts +
                    "],server_timestamp[" + std::to_string(now) + "],recv_window[" + recv + "]",
                Json::object(), now)
        .dump();
  account = a->name;
  return "";
}

void SimServer::Handle(gateway::HttpRequest request, gateway::Respond respond) {
  if (request.websocket_upgrade) {
    gateway::HttpResponse r;
    if (auto accept = Accept(request.path)) r.websocket = accept;
    else r.status = 404;
    return respond(std::move(r));
  }
  const std::string path = request.path;
  const std::int64_t now = WallMs();
  gateway::HttpResponse reply;
  reply.SetHeader("Content-Type", "application/json");
  Json params = Json::object();
  if (request.method == "POST") {
    params = Json::parse(request.body.empty() ? "{}" : request.body, nullptr, false);
    if (params.is_discarded() || !params.is_object()) {
      reply.body = Body(10001, "request body is not a JSON object", Json::object(), now).dump();
      return respond(std::move(reply));
    }
  } else {
    std::map<std::string, std::string> q;
    std::string bad;
    if (!gateway::ParseQuery(request.query, &q, &bad)) {
      reply.body = Body(10001, "bad query parameter " + bad, Json::object(), now).dump();
      return respond(std::move(reply));
    }
    for (const auto& [k, v] : q) params[k] = v;
  }
  std::string account;
  if (IsPrivate(path)) {
    std::string refused = CheckSignature(request, account, now);
    if (!refused.empty()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++signature_failures_;
      }
      reply.body = std::move(refused);
      return respond(std::move(reply));
    }
  }
  const bool mutation = path == "/v5/order/create" || path == "/v5/order/cancel" || path == "/v5/order/cancel-all";
  if (mutation && request.method != "POST") {
    reply.status = 405;
    reply.body = Body(10001, path + " takes POST", Json::object(), now).dump();
    return respond(std::move(reply));
  }
  Reply r;
  bool found = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Json> events;
    if (path == "/v5/market/time")
      r.result = {{"timeSecond", std::to_string(now / 1000)}, {"timeNano", std::to_string(now) + "000000"}};
    else if (path == "/v5/market/instruments-info") r = engine_.Instruments(params);
    else if (path == "/v5/market/tickers") r = engine_.Tickers(params, now);
    else if (path == "/v5/market/orderbook") r = engine_.OrderBook(params, now);
    else if (path == "/v5/market/recent-trade") r = engine_.RecentTrades(params, now);
    else if (path == "/v5/market/kline") r = engine_.Kline(params, now);
    else if (path == "/v5/order/create") r = engine_.Create(account, params, now, events);
    else if (path == "/v5/order/cancel") r = engine_.Cancel(account, params, now, events);
    else if (path == "/v5/order/cancel-all") r = engine_.CancelAll(account, params, now, events);
    else if (path == "/v5/order/realtime") r = engine_.Orders(account, params, true);
    else if (path == "/v5/order/history") r = engine_.Orders(account, params, false);
    else if (path == "/v5/execution/list") r = engine_.Executions(account, params);
    else if (path == "/v5/account/wallet-balance") r = engine_.Wallet(account);
    else if (path == "/sim/stats") {
      const SimStats& s = engine_.stats();
      r.result = {{"accepted", s.accepted}, {"refused_stale", s.refused_stale}, {"refused_other", s.refused_other},
                  {"fills", s.fills}, {"cancels", s.cancels}, {"duplicates", s.duplicates},
                  {"signature_failures", signature_failures_}, {"journal_lines", journal_.lines()},
                  {"journal_fsyncs", journal_.fsyncs()}};
    } else found = false;
    PublishLocked(events);
  }
  if (!found) {
    reply.status = 404;
    reply.body = Body(10017, "Route not found.", Json::object(), now).dump();
    return respond(std::move(reply));
  }
  reply.body = Body(r.code, r.msg, std::move(r.result), now).dump();
  if (!mutation) return respond(std::move(reply));
  // Acknowledge only what is on disk: this request's events and everything before them.
  auto shared = std::make_shared<gateway::HttpResponse>(std::move(reply));
  journal_.AfterDurable([respond = std::move(respond), shared]() mutable { respond(std::move(*shared)); });
}

void SimServer::PublishLocked(const std::vector<Json>& events) {
  std::set<std::string> changed;
  for (const auto& e : events) {
    journal_.Append(e);
    if (e.contains("order_id")) changed.insert(e["order_id"].get<std::string>());
  }
  for (const auto& id : changed) {
    Json item = engine_.OrderItem(id);
    const std::string account = engine_.OrderAccount(id);
    const std::string text = Json{{"id", "sim-" + id + "-" + item.value("updatedTime", "")},
                                  {"topic", "order"},
                                  {"creationTime", WallMs()},
                                  {"data", Json::array({item})}}
                                 .dump();
    for (auto& [_, p] : peers_)
      if (p.path == "/v5/private" && p.account == account && (p.topics.count("order") || p.topics.count("order.spot")))
        p.socket->Send(text);
  }
}

std::shared_ptr<gateway::WebSocketAccept> SimServer::Accept(const std::string& path) {
  if (path != "/v5/public/spot" && path != "/v5/public/linear" && path != "/v5/private") return nullptr;
  int id = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = next_peer_++;
  }
  auto accept = std::make_shared<gateway::WebSocketAccept>();
  accept->on_open = [this, id, path](std::shared_ptr<gateway::WebSocketPeer> socket) {
    std::lock_guard<std::mutex> lock(mu_);
    peers_[id] = Peer{std::move(socket), path, {}, ""};
  };
  accept->on_message = [this, id](std::string text) { OnMessage(id, text); };
  accept->on_close = [this, id] {
    std::lock_guard<std::mutex> lock(mu_);
    peers_.erase(id);
  };
  return accept;
}

void SimServer::OnMessage(int id, const std::string& text) {
  const Json msg = Json::parse(text, nullptr, false);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = peers_.find(id);
  if (it == peers_.end() || msg.is_discarded() || !msg.is_object()) return;
  Peer& p = it->second;
  const std::string op = msg.value("op", "");
  const Json req_id = msg.contains("req_id") ? msg["req_id"] : Json("");
  const std::string conn_id = "sim-" + std::to_string(id);
  const std::int64_t now = WallMs();
  auto answer = [&](bool ok, const std::string& ret_msg) {
    p.socket->Send(Json{{"success", ok}, {"ret_msg", ret_msg}, {"conn_id", conn_id}, {"req_id", req_id}, {"op", op}}.dump());
  };
  if (op == "ping") {
    if (p.path == "/v5/private")
      p.socket->Send(Json{{"req_id", req_id}, {"op", "pong"}, {"args", {std::to_string(now)}}, {"conn_id", conn_id}}.dump());
    else answer(true, "pong");
    return;
  }
  if (op == "auth") {
    const Json args = msg.value("args", Json::array());
    bool ok = false;
    if (p.path == "/v5/private" && args.is_array() && args.size() == 3 && args[0].is_string() &&
        args[1].is_number_integer() && args[2].is_string()) {
      const SimAccount* a = AccountByKey(args[0].get<std::string>());
      const std::int64_t expires = args[1].get<std::int64_t>();
      ok = a && expires > now &&
           plugin::net::HmacSha256Hex(a->secret, "GET/realtime" + std::to_string(expires)) == args[2].get<std::string>();
      if (ok) p.account = a->name;
    }
    if (!ok) ++signature_failures_;
    return answer(ok, ok ? "" : "Request not authorized");
  }
  if (op != "subscribe" && op != "unsubscribe") return answer(false, "Unknown op");
  const Json args = msg.value("args", Json::array());
  std::vector<std::string> accepted;
  for (const auto& a : args) {
    if (!a.is_string()) return answer(false, "Invalid topic");
    const std::string topic = a.get<std::string>();
    if (op == "unsubscribe") {
      p.topics.erase(topic);
      continue;
    }
    bool known = false;
    if (p.path == "/v5/private") {
      if (p.account.empty()) return answer(false, "Request not authorized");
      known = topic == "order" || topic == "order.spot" || topic == "order.linear";
    } else if (p.path == "/v5/public/spot") {
      const auto dot = topic.rfind('.');
      const std::string kind = topic.substr(0, topic.find('.'));
      known = dot != std::string::npos && engine_.HasMarket(topic.substr(dot + 1)) &&
              (kind == "tickers" || kind == "publicTrade" || kind == "orderbook");
    }
    if (!known) return answer(false, "Invalid symbol :[" + topic + "]");
    accepted.push_back(topic);
  }
  answer(true, "");
  for (const auto& topic : accepted) {
    p.topics.insert(topic);
    if (p.path != "/v5/public/spot") continue;
    const std::string market = topic.substr(topic.rfind('.') + 1);
    if (topic.rfind("orderbook.", 0) == 0) {
      const std::string depth = topic.substr(10, topic.find('.', 10) - 10);
      p.socket->Send(Json{{"topic", topic}, {"type", "snapshot"}, {"ts", now},
                          {"data", engine_.BookData(market, AllDigits(depth) ? std::min(200, std::stoi(depth)) : 50, now)},
                          {"cts", now}}
                         .dump());
    } else if (topic.rfind("tickers.", 0) == 0) {
      p.socket->Send(Json{{"topic", topic}, {"type", "snapshot"}, {"data", engine_.TickerItem(market, now)},
                          {"cs", now / engine_.config().tick_ms}, {"ts", now}}
                         .dump());
    }
  }
}

void SimServer::SweepLoop() {
  std::unique_lock<std::mutex> stop_lock(stop_mu_);
  while (!stopping_) {
    const std::int64_t tick = engine_.config().tick_ms;
    stop_cv_.wait_for(stop_lock, std::chrono::milliseconds(tick - WallMs() % tick));
    if (stopping_) break;
    const std::int64_t now = WallMs();
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Json> events;
    engine_.Sweep(now, events);
    PublishLocked(events);
    for (auto& [_, p] : peers_) {
      if (p.path != "/v5/public/spot") continue;
      for (const auto& topic : p.topics) {
        const std::string market = topic.substr(topic.rfind('.') + 1);
        Json msg;
        if (topic.rfind("orderbook.", 0) == 0) {
          const std::string depth = topic.substr(10, topic.find('.', 10) - 10);
          msg = {{"topic", topic}, {"type", "snapshot"}, {"ts", now},
                 {"data", engine_.BookData(market, AllDigits(depth) ? std::min(200, std::stoi(depth)) : 50, now)},
                 {"cts", now}};
        } else if (topic.rfind("tickers.", 0) == 0) {
          msg = {{"topic", topic}, {"type", "snapshot"}, {"data", engine_.TickerItem(market, now)},
                 {"cs", now / tick}, {"ts", now}};
        } else if (topic.rfind("publicTrade.", 0) == 0) {
          msg = {{"topic", topic}, {"type", "snapshot"}, {"ts", now}, {"data", Json::array({engine_.TradeItem(market, now)})}};
        }
        if (!msg.is_null()) p.socket->Send(msg.dump());
      }
    }
  }
}

}  // namespace ami::exchange_sim
