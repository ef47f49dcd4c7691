// MockBybit's streams (see mock_bybit.h): /v5/public/spot, /v5/public/linear and the
// authenticated /v5/private, with Bybit's op messages (ping, auth, subscribe,
// unsubscribe) and topics tickers.*, orderbook.<depth>.*, publicTrade.*, order.
#include <chrono>

#include "ami/plugin/net/signing.h"
#include "tests/exchanges/bybit_mock_impl.h"

namespace ami::test::bybit {

namespace {

std::string CategoryOf(const std::string& path) {
  if (path == "/v5/public/spot") return "spot";
  if (path == "/v5/public/linear") return "linear";
  return "";
}

std::string PathOf(const std::string& category) { return "/v5/public/" + category; }

}  // namespace

void MockBybit::Impl::ResetBookLocked(MockMarket& m) {
  m.bids.clear();
  m.asks.clear();
  const double tick = std::stod(m.tick);
  for (int k = 1; k <= 5; ++k) {
    m.bids[m.last - tick * k] = 0.5 * k;
    m.asks[m.last + tick * k] = 0.4 * k;
  }
}

Json MockBybit::Impl::TickerItemLocked(const MockMarket& m) const {
  Json t = m.category == "spot" ? fixtures.at("tickers_spot")["result"]["list"][0] : fixtures.at("ws_ticker_linear")["data"];
  const double tick = std::stod(m.tick);
  t["symbol"] = m.id;
  t["lastPrice"] = MockDecimal(m.last, m.tick);
  t["bid1Price"] = MockDecimal(m.last - tick, m.tick);
  t["ask1Price"] = MockDecimal(m.last + tick, m.tick);
  t["prevPrice24h"] = MockDecimal(m.last * 0.98, m.tick);
  t["highPrice24h"] = MockDecimal(m.last * 1.01, m.tick);
  t["lowPrice24h"] = MockDecimal(m.last * 0.97, m.tick);
  t["price24hPcnt"] = "0.0204";
  return t;
}

std::shared_ptr<gateway::WebSocketAccept> MockBybit::Impl::Accept(const std::string& path) {
  if (path != "/v5/public/spot" && path != "/v5/public/linear" && path != "/v5/private") return nullptr;
  int id = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    id = next_peer++;
  }
  auto accept = std::make_shared<gateway::WebSocketAccept>();
  accept->on_open = [this, id, path](std::shared_ptr<gateway::WebSocketPeer> peer) {
    std::lock_guard<std::mutex> lock(mu);
    peers[id] = MockPeer{std::move(peer), path, {}, false, ""};
    ++connections[path];
  };
  accept->on_message = [this, id](std::string text) { OnMessage(id, text); };
  accept->on_close = [this, id] {
    std::lock_guard<std::mutex> lock(mu);
    peers.erase(id);
  };
  return accept;
}

void MockBybit::Impl::OnMessage(int id, const std::string& text) {
  const Json msg = Json::parse(text, nullptr, false);
  std::lock_guard<std::mutex> lock(mu);
  auto it = peers.find(id);
  if (it == peers.end() || msg.is_discarded() || !msg.is_object()) return;
  MockPeer& p = it->second;
  const std::string op = msg.value("op", "");
  const Json req_id = msg.contains("req_id") ? msg["req_id"] : Json("");
  const std::string conn_id = "mock-" + std::to_string(id);
  auto answer = [&](bool ok, const std::string& ret_msg) {
    p.peer->Send(Json{{"success", ok}, {"ret_msg", ret_msg}, {"conn_id", conn_id}, {"req_id", req_id}, {"op", op}}.dump());
  };
  if (op == "ping") {
    if (p.path == "/v5/private") p.peer->Send(Json{{"req_id", req_id}, {"op", "pong"}, {"args", {std::to_string(Now())}}, {"conn_id", conn_id}}.dump());
    else answer(true, "pong");
    return;
  }
  if (op == "auth") {
    const Json args = msg.value("args", Json::array());
    bool ok = false;
    if (p.path == "/v5/private" && args.is_array() && args.size() == 3 && args[0].is_string() && args[1].is_number() &&
        args[2].is_string()) {
      auto secret = options.accounts.find(args[0].get<std::string>());
      const std::int64_t expires = args[1].get<std::int64_t>();
      ok = secret != options.accounts.end() && expires > Now() &&
           plugin::net::HmacSha256Hex(secret->second, "GET/realtime" + std::to_string(expires)) == args[2].get<std::string>();
      if (ok) p.account = secret->first;
      if (!ok) ++signature_failures;
    }
    p.authed = ok;
    return answer(ok, ok ? "" : "Request not authorized");
  }
  if (op != "subscribe" && op != "unsubscribe") return answer(false, "Unknown op");
  const Json args = msg.value("args", Json::array());
  const std::string category = CategoryOf(p.path);
  std::vector<std::string> accepted;
  for (const auto& a : args) {
    if (!a.is_string()) return answer(false, "Invalid topic");
    const std::string topic = a.get<std::string>();
    if (op == "unsubscribe") {
      p.topics.erase(topic);
      continue;
    }
    ++subscribes[topic];
    bool known = false;
    if (p.path == "/v5/private") {
      if (!p.authed) return answer(false, "Request not authorized");
      known = topic == "order" || topic == "order.spot" || topic == "order.linear";
    } else {
      const auto dot = topic.rfind('.');
      const std::string id_part = dot == std::string::npos ? "" : topic.substr(dot + 1);
      const std::string kind = topic.substr(0, topic.find('.'));
      known = Market(category, id_part) && (kind == "tickers" || kind == "publicTrade" || kind == "orderbook");
    }
    if (!known) return answer(false, "Invalid symbol :[" + topic + "]");
    accepted.push_back(topic);
  }
  answer(true, "");
  for (const auto& topic : accepted) {
    p.topics.insert(topic);
    const auto dot = topic.rfind('.');
    MockMarket* m = p.path == "/v5/private" ? nullptr : Market(category, topic.substr(dot + 1));
    if (!m) continue;
    if (topic.rfind("orderbook.", 0) == 0) SendBookSnapshotLocked(p, *m, std::stoi(topic.substr(10, topic.find('.', 10) - 10)));
    if (topic.rfind("tickers.", 0) == 0)
      p.peer->Send(Json{{"topic", topic}, {"type", "snapshot"}, {"data", TickerItemLocked(*m)}, {"cs", m->seq}, {"ts", Now()}}.dump());
  }
}

void MockBybit::Impl::SendBookSnapshotLocked(MockPeer& p, MockMarket& m, int depth) {
  Json b = Json::array(), a = Json::array();
  int n = 0;
  for (auto it = m.bids.rbegin(); it != m.bids.rend() && n < depth; ++it, ++n)
    b.push_back({MockDecimal(it->first, m.tick), MockDecimal(it->second, m.step)});
  n = 0;
  for (auto it = m.asks.begin(); it != m.asks.end() && n < depth; ++it, ++n)
    a.push_back({MockDecimal(it->first, m.tick), MockDecimal(it->second, m.step)});
  Json msg = fixtures.at("ws_orderbook_snapshot");
  msg["topic"] = "orderbook." + std::to_string(depth) + "." + m.id;
  msg["ts"] = Now();
  msg["data"] = {{"s", m.id}, {"b", b}, {"a", a}, {"u", m.u}, {"seq", m.seq}};
  msg["cts"] = Now();
  p.peer->Send(msg.dump());
}

void MockBybit::Impl::Broadcast(const std::string& path, const std::string& topic, const Json& msg) {
  const std::string text = msg.dump();
  for (auto& [_, p] : peers)
    if (p.path == path && p.topics.count(topic)) p.peer->Send(text);
}

void MockBybit::Impl::PushBookDeltaLocked(MockMarket& m, bool gap) {
  ++m.pushes;
  const double tick = std::stod(m.tick);
  // Change one bid and one ask level; every 3rd update removes the best bid and adds a level below.
  const double bid = m.bids.rbegin()->first, ask = m.asks.begin()->first;
  Json b = Json::array(), a = Json::array();
  if (m.pushes % 3 == 0 && m.bids.size() > 2) {
    m.bids.erase(bid);
    b.push_back({MockDecimal(bid, m.tick), "0"});
    const double lower = m.bids.begin()->first - tick;
    m.bids[lower] = 1.0;
    b.push_back({MockDecimal(lower, m.tick), MockDecimal(1.0, m.step)});
  } else {
    m.bids[bid] += 0.1;
    b.push_back({MockDecimal(bid, m.tick), MockDecimal(m.bids[bid], m.step)});
  }
  m.asks[ask] += 0.2;
  a.push_back({MockDecimal(ask, m.tick), MockDecimal(m.asks[ask], m.step)});
  m.u += gap ? 2 : 1;
  m.seq += 3;
  for (int depth : {1, 50, 200, 1000}) {
    const std::string topic = "orderbook." + std::to_string(depth) + "." + m.id;
    Json msg = fixtures.at("ws_orderbook_delta");
    msg["topic"] = topic;
    msg["ts"] = Now();
    msg["data"] = {{"s", m.id}, {"b", b}, {"a", a}, {"u", m.u}, {"seq", m.seq}};
    msg["cts"] = Now();
    Broadcast(PathOf(m.category), topic, msg);
  }
}

void MockBybit::Impl::PushTradeLocked(MockMarket& m) {
  Json msg = fixtures.at("ws_trade");
  msg["topic"] = "publicTrade." + m.id;
  msg["ts"] = Now();
  Json t = msg["data"][0];
  t["T"] = Now();
  t["s"] = m.id;
  t["S"] = m.pushes % 2 ? "Sell" : "Buy";
  t["v"] = MockDecimal(0.001 * (1 + m.pushes % 5), m.step);
  t["p"] = MockDecimal(m.last, m.tick);
  t["i"] = m.id + "-" + std::to_string(++m.seq);
  t["seq"] = m.seq;
  msg["data"] = Json::array({t});
  Broadcast(PathOf(m.category), msg["topic"], msg);
}

void MockBybit::Impl::PushTickerLocked(MockMarket& m) {
  const std::string topic = "tickers." + m.id;
  if (m.category == "spot") {
    Broadcast(PathOf(m.category), topic, Json{{"topic", topic}, {"type", "snapshot"}, {"data", TickerItemLocked(m)}, {"cs", m.seq}, {"ts", Now()}});
    return;
  }
  // Linear tickers send only what changed ("delta").
  const double tick = std::stod(m.tick);
  Broadcast(PathOf(m.category), topic,
            Json{{"topic", topic}, {"type", "delta"},
                 {"data", {{"symbol", m.id}, {"bid1Price", MockDecimal(m.last - tick, m.tick)},
                           {"ask1Price", MockDecimal(m.last + tick, m.tick)}, {"lastPrice", MockDecimal(m.last, m.tick)}}},
                 {"cs", m.seq}, {"ts", Now()}});
}

void MockBybit::Impl::PushOrderLocked(const MockOrder& o) {
  Json item = o.j;
  item["category"] = o.category;
  Json msg = fixtures.at("ws_order");
  msg["id"] = "mock-" + std::to_string(Now());
  msg["creationTime"] = Now();
  msg["data"] = Json::array({item});
  const std::string text = msg.dump();
  for (auto& [_, p] : peers)
    if (p.path == "/v5/private" && p.authed && p.account == o.account &&
        (p.topics.count("order") || p.topics.count("order." + o.category)))
      p.peer->Send(text);
}

// ---- the public face --------------------------------------------------------------

void MockBybit::PushBookDelta(const std::string& category, const std::string& id, bool gap) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (MockMarket* m = impl_->Market(category, id)) impl_->PushBookDeltaLocked(*m, gap);
}

void MockBybit::PushTrade(const std::string& category, const std::string& id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (MockMarket* m = impl_->Market(category, id)) impl_->PushTradeLocked(*m);
}

void MockBybit::PushTicker(const std::string& category, const std::string& id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (MockMarket* m = impl_->Market(category, id)) impl_->PushTickerLocked(*m);
}

void MockBybit::DropStreams() {
  std::vector<std::shared_ptr<gateway::WebSocketPeer>> all;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    for (auto& [_, p] : impl_->peers) all.push_back(p.peer);
  }
  for (auto& p : all) p->Close(1001, "going away");
}

int MockBybit::StreamConnections(const std::string& path) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->connections.find(path);
  return it == impl_->connections.end() ? 0 : it->second;
}

int MockBybit::Subscribes(const std::string& topic) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->subscribes.find(topic);
  return it == impl_->subscribes.end() ? 0 : it->second;
}

int MockBybit::OpenSockets() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return static_cast<int>(impl_->peers.size());
}

}  // namespace ami::test::bybit
