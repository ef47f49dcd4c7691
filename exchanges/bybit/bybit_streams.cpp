// The bybit connector's streams (see bybit_streams.h).
#include "bybit_streams.h"

#include <chrono>

#include "ami/plugin/errors.h"
#include "ami/plugin/net/signing.h"
#include "bybit_sign.h"

namespace ami::exchanges::bybit {

namespace net = plugin::net;
using Kind = net::StreamHub::Kind;

namespace {

std::string Slot(const std::string& category, const std::string& name) { return category + "|" + name; }

std::vector<net::OrderBook::Level> Levels(const Json& side) {
  if (!side.is_array()) return {};
  return net::OrderBook::ParseLevels(side);
}

std::string KeyHash(const plugin::Credentials& c) { return net::Sha256Hex(c.api_key).substr(0, 16); }

}  // namespace

BybitStreams::BybitStreams(const BybitOptions& options, Hooks hooks)
    : options_(options), hooks_(std::move(hooks)), hub_([&] {
        net::StreamHub::Options o;
        o.exchange_id = options.exchange_id;
        o.max_wait = std::chrono::minutes(5);
        return o;
      }()) {
  housekeeper_ = std::thread([this] { Housekeeping(); });
}

BybitStreams::~BybitStreams() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (housekeeper_.joinable()) housekeeper_.join();
  // Stop the sockets outside mu_: their callbacks take it.
  std::vector<std::unique_ptr<net::WsClient>> sockets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [_, s] : public_) sockets.push_back(std::move(s.ws));
    for (auto& [_, s] : private_) sockets.push_back(std::move(s.ws));
  }
  for (auto& s : sockets)
    if (s) s->Stop();
  // hub_'s destructor completes the waiters left with ExchangeClosedByUser.
}

void BybitStreams::Housekeeping() {
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_) break;
    lock.unlock();
    hub_.Sweep();
    lock.lock();
  }
}

int BybitStreams::DepthFor(std::optional<std::int64_t> limit) {
  if (!limit) return 50;
  for (int d : {1, 50, 200, 1000})
    if (*limit <= d) return d;
  return 1000;
}

std::uint64_t BybitStreams::connects(const std::string& socket) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (socket == "private") {
    std::uint64_t n = 0;
    for (const auto& [_, s] : private_) n += s.ws ? s.ws->connects() : 0;
    return n;
  }
  auto it = public_.find(socket);
  return it != public_.end() && it->second.ws ? it->second.ws->connects() : 0;
}

bool BybitStreams::connected(const std::string& socket) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (socket == "private") {
    for (const auto& [_, s] : private_)
      if (s.ws && s.ws->connected()) return true;
    return false;
  }
  auto it = public_.find(socket);
  return it != public_.end() && it->second.ws && it->second.ws->connected();
}

// ---- public streams ---------------------------------------------------------------

void BybitStreams::WatchTicker(const plugin::CallContext& ctx, const Market& m, plugin::CallCompletion done) {
  const std::string key = "ticker:" + m.symbol;
  const std::string topic = "tickers." + m.id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    topic_keys_[Slot(m.category, topic)] = key;
  }
  if (hub_.Wait(key, Kind::kLatest, ctx.worker_sid, std::move(done))) Subscribe(m.category, topic);
}

void BybitStreams::WatchOrderBook(const plugin::CallContext& ctx, const Market& m,
                                  std::optional<std::int64_t> limit, plugin::CallCompletion done) {
  const int depth = DepthFor(limit);
  const std::string key = "book:" + m.symbol + ":" + std::to_string(depth);
  const std::string topic = "orderbook." + std::to_string(depth) + "." + m.id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    topic_keys_[Slot(m.category, topic)] = key;
    Book& b = books_[Slot(m.category, topic)];
    if (!b.book) {
      b.category = m.category;
      b.symbol = m.symbol;
      b.hub_key = key;
      b.topic = topic;
      b.depth = depth;
      b.book = std::make_unique<net::OrderBook>(m.symbol);
    }
  }
  if (hub_.Wait(key, Kind::kLatest, ctx.worker_sid, std::move(done))) Subscribe(m.category, topic);
}

void BybitStreams::WatchTrades(const plugin::CallContext& ctx, const Market& m, plugin::CallCompletion done) {
  const std::string key = "trades:" + m.symbol;
  const std::string topic = "publicTrade." + m.id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    topic_keys_[Slot(m.category, topic)] = key;
  }
  if (hub_.Wait(key, Kind::kAppend, ctx.worker_sid, std::move(done))) Subscribe(m.category, topic);
}

void BybitStreams::Subscribe(const std::string& category, const std::string& topic) {
  std::lock_guard<std::mutex> lock(mu_);
  PublicSocket& s = public_[category];
  if (!s.topics.insert(topic).second && s.ws) return;
  if (!s.ws) {
    net::WsClientOptions o;
    o.url = options_.ws_url + "/v5/public/" + category;
    o.verify_tls = options_.verify_tls;
    o.ping_text = R"({"op":"ping"})";
    o.ping_interval = std::chrono::seconds(20);
    o.name = options_.exchange_id + " public " + category;
    net::WsCallbacks cb;
    cb.on_open = [this, category] { OnPublicOpen(category); };
    cb.on_message = [this, category](const std::string& text) { OnPublicMessage(category, text); };
    cb.on_close = [this, category](const std::string&) { OnPublicClose(category); };
    s.ws = std::make_unique<net::WsClient>(std::move(o), std::move(cb));
    s.ws->Start();   // on_open sends every topic, this one included
    return;
  }
  if (s.ws->connected()) SendLocked(s, "subscribe", {topic});
}

void BybitStreams::SendLocked(PublicSocket& s, const std::string& op, const std::vector<std::string>& topics) {
  if (topics.empty() || !s.ws) return;
  // Spot takes at most 10 topics per request (Bybit's "args limits").
  for (std::size_t i = 0; i < topics.size(); i += 10) {
    std::vector<std::string> part(topics.begin() + static_cast<std::ptrdiff_t>(i),
                                  topics.begin() + static_cast<std::ptrdiff_t>(std::min(topics.size(), i + 10)));
    const std::string req_id = std::to_string(next_req_++);
    if (op == "subscribe") pending_[req_id] = part;
    s.ws->Send(nlohmann::json{{"req_id", req_id}, {"op", op}, {"args", part}}.dump());
  }
}

void BybitStreams::OnPublicOpen(const std::string& category) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = public_.find(category);
  if (it == public_.end()) return;
  SendLocked(it->second, "subscribe", {it->second.topics.begin(), it->second.topics.end()});
}

void BybitStreams::OnPublicClose(const std::string& category) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [_, b] : books_)
    if (b.category == category && b.book) b.book->MarkOutOfSync();   // the next snapshot restarts it
}

std::string BybitStreams::HubKeyOfTopic(const std::string& category, const std::string& topic) const {
  auto it = topic_keys_.find(Slot(category, topic));
  return it == topic_keys_.end() ? "" : it->second;
}

void BybitStreams::OnPublicMessage(const std::string& category, const std::string& text) {
  const Json msg = Json::parse(text, nullptr, false);
  if (msg.is_discarded() || !msg.is_object()) return;
  if (msg.contains("op")) {
    // {"success":false,"ret_msg":"...","op":"subscribe","req_id":"7"}: a refused topic.
    if (msg.value("op", "") != "subscribe" || msg.value("success", true)) return;
    const std::string why = msg.value("ret_msg", std::string("refused"));
    if (why.find("already") != std::string::npos) return;
    std::vector<std::string> keys;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = pending_.find(msg.value("req_id", ""));
      if (it == pending_.end()) return;
      for (const auto& topic : it->second) {
        const std::string key = HubKeyOfTopic(category, topic);
        if (!key.empty()) keys.push_back(key);
        public_[category].topics.erase(topic);
      }
      pending_.erase(it);
    }
    const std::string cls = why.find("symbol") != std::string::npos || why.find("topic") != std::string::npos
                                ? plugin::errc::kBadSymbol : plugin::errc::kExchangeError;
    for (const auto& key : keys)
      hub_.Fail(key, cls, options_.exchange_id + ": stream subscription refused: " + why);
    return;
  }
  const std::string topic = msg.value("topic", "");
  if (topic.rfind("orderbook.", 0) == 0) return HandleBook(category, msg);
  auto markets = hooks_.markets();
  if (!markets) return;
  if (topic.rfind("tickers.", 0) == 0 && msg.contains("data") && msg["data"].is_object()) {
    const std::string id = msg["data"].value("symbol", topic.substr(8));
    Json merged;
    std::string key;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Json& t = tickers_[Slot(category, id)];
      if (msg.value("type", "") == "snapshot" || !t.is_object()) t = Json::object();
      for (const auto& [k, v] : msg["data"].items()) t[k] = v;
      merged = t;
      key = HubKeyOfTopic(category, topic);
    }
    if (msg.contains("ts")) merged["time"] = msg["ts"];
    if (!key.empty()) hub_.Publish(key, ParseTicker(merged, *markets, category));
    return;
  }
  if (topic.rfind("publicTrade.", 0) == 0 && msg.contains("data") && msg["data"].is_array()) {
    std::string key;
    {
      std::lock_guard<std::mutex> lock(mu_);
      key = HubKeyOfTopic(category, topic);
    }
    if (key.empty()) return;
    std::vector<Json> trades;
    for (const auto& t : msg["data"]) trades.push_back(ParsePublicStreamTrade(t, *markets, category));
    hub_.Append(key, trades);
  }
}

void BybitStreams::HandleBook(const std::string& category, const Json& msg) {
  const std::string topic = msg.value("topic", "");
  const Json data = msg.value("data", Json::object());
  if (!data.is_object()) return;
  const std::int64_t ts = msg.contains("ts") && msg["ts"].is_number() ? msg["ts"].get<std::int64_t>() : 0;
  const std::uint64_t u = data.contains("u") && data["u"].is_number() ? data["u"].get<std::uint64_t>() : 0;
  Json publish;
  std::string key;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = books_.find(Slot(category, topic));
    if (it == books_.end() || !it->second.book) return;
    Book& b = it->second;
    const bool snapshot = msg.value("type", "") == "snapshot";
    try {
      if (snapshot) {
        b.book->Snapshot(Levels(data.value("b", Json::array())), Levels(data.value("a", Json::array())), u, ts);
      } else {
        if (!b.book->synced()) return;   // waiting for the snapshot a resync asked for
        if (!b.book->Apply(Levels(data.value("b", Json::array())), Levels(data.value("a", Json::array())), u, u, ts)) {
          // A gap: this book misses updates. Ask for a fresh snapshot; publish nothing meanwhile.
          b.book->MarkOutOfSync();
          resyncs_.fetch_add(1);
          auto s = public_.find(category);
          if (s != public_.end()) {
            SendLocked(s->second, "unsubscribe", {topic});
            SendLocked(s->second, "subscribe", {topic});
          }
          return;
        }
      }
    } catch (const std::exception&) {
      b.book->MarkOutOfSync();
      return;
    }
    publish = b.book->ToJson(static_cast<std::size_t>(b.depth));
    key = b.hub_key;
  }
  hub_.Publish(key, publish);
}

// ---- private stream ---------------------------------------------------------------

void BybitStreams::WatchOrders(const plugin::CallContext& ctx, const Market* m, plugin::CallCompletion done) {
  const std::string kh = KeyHash(ctx.credentials);
  const std::string key = "orders:" + kh + ":" + (m ? m->symbol : "*");
  // The auth message carries the server's time: measure it here, on the caller's thread,
  // not on the socket's (whose callbacks must not block).
  if (hooks_.server_now_ms) hooks_.server_now_ms();
  bool start = false, retry_auth = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    PrivateSocket& s = private_[kh];
    if (s.ws && s.auth_failed) {
      s.credentials = ctx.credentials;
      s.auth_failed = false;
      retry_auth = true;
    }
    if (!s.ws) {
      s.credentials = ctx.credentials;
      s.key_hash = kh;
      net::WsClientOptions o;
      o.url = options_.ws_url + "/v5/private";
      o.verify_tls = options_.verify_tls;
      o.ping_text = R"({"op":"ping"})";
      o.ping_interval = std::chrono::seconds(20);
      o.name = options_.exchange_id + " private";
      net::WsCallbacks cb;
      cb.on_open = [this, kh] { OnPrivateOpen(kh); };
      cb.on_message = [this, kh](const std::string& text) { OnPrivateMessage(kh, text); };
      s.ws = std::make_unique<net::WsClient>(std::move(o), std::move(cb));
      start = true;
    }
  }
  hub_.Wait(key, Kind::kAppend, ctx.worker_sid, std::move(done));
  if (start) {
    std::lock_guard<std::mutex> lock(mu_);
    private_[kh].ws->Start();
  } else if (retry_auth) {
    OnPrivateOpen(kh);   // authenticate again on the open socket
  }
}

void BybitStreams::OnPrivateOpen(const std::string& kh) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = private_.find(kh);
  if (it == private_.end() || !it->second.ws) return;
  const std::int64_t expires = (hooks_.server_now_ms ? hooks_.server_now_ms() : 0) + 10000;
  it->second.ws->Send(WsAuthMessage(it->second.credentials, expires));
}

void BybitStreams::OnPrivateMessage(const std::string& kh, const std::string& text) {
  const Json msg = Json::parse(text, nullptr, false);
  if (msg.is_discarded() || !msg.is_object()) return;
  const std::string op = msg.value("op", "");
  if (op == "auth") {
    if (msg.value("success", false)) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = private_.find(kh);
      if (it != private_.end() && it->second.ws)
        it->second.ws->Send(R"({"req_id":"order","op":"subscribe","args":["order"]})");
      return;
    }
    const std::string why = msg.value("ret_msg", std::string("refused"));
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = private_.find(kh);
      if (it != private_.end()) it->second.auth_failed = true;
    }
    for (const auto& key : hub_.Keys())
      if (key.rfind("orders:" + kh + ":", 0) == 0)
        hub_.Fail(key, plugin::errc::kAuthenticationError,
                  options_.exchange_id + ": private stream authentication failed: " + why);
    return;
  }
  if (msg.value("topic", "").rfind("order", 0) != 0 || !msg.contains("data") || !msg["data"].is_array()) return;
  auto markets = hooks_.markets();
  if (!markets) return;
  std::map<std::string, std::vector<Json>> by_key;
  for (const auto& raw : msg["data"]) {
    const std::string category = raw.value("category", std::string("spot"));
    Json order = hooks_.parse_order ? hooks_.parse_order(raw, *markets, category) : ParseOrder(raw, *markets, category);
    const std::string symbol = order["symbol"].is_string() ? order["symbol"].get<std::string>() : "";
    by_key["orders:" + kh + ":*"].push_back(order);
    if (!symbol.empty()) by_key["orders:" + kh + ":" + symbol].push_back(order);
  }
  for (const auto& [key, items] : by_key) hub_.Append(key, items);
}

void BybitStreams::CancelWorker(const std::string& worker_sid) { hub_.CancelWorker(worker_sid); }

}  // namespace ami::exchanges::bybit
