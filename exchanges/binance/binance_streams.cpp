#include "binance_streams.h"

#include <algorithm>
#include <cctype>

#include "ami/plugin/errors.h"

namespace ami::exchanges::binance {

using plugin::CallResult;
using plugin::CcxtError;
using plugin::net::OrderBook;
using plugin::net::StreamHub;
using Json = nlohmann::json;
namespace errc = plugin::errc;

namespace {

constexpr int kMaxResyncFailures = 5;
constexpr std::size_t kMaxBuffered = 5000;

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::uint64_t U64(const Json& ev, const char* key) {
  if (!ev.contains(key)) return 0;
  const Json& v = ev[key];
  if (v.is_number_unsigned() || v.is_number_integer()) return v.get<std::uint64_t>();
  return 0;
}

std::int64_t EventTime(const Json& ev) {
  if (ev.contains("T") && ev["T"].is_number()) return ev["T"].get<std::int64_t>();
  if (ev.contains("E") && ev["E"].is_number()) return ev["E"].get<std::int64_t>();
  return 0;
}

std::string BookKey(const std::string& symbol, std::int64_t limit) {
  return "book:" + symbol + "|" + std::to_string(limit);
}

// Keeps the items of a JSON array result that are at/after `since`, then the newest `limit`.
CallResult TrimTrades(CallResult r, std::optional<std::int64_t> since, std::optional<std::int64_t> limit) {
  if (!r.ok || (!since && !limit)) return r;
  Json a = Json::parse(r.json, nullptr, false);
  if (!a.is_array()) return r;
  Json out = Json::array();
  for (auto& t : a)
    if (!since || (t.contains("timestamp") && t["timestamp"].is_number() &&
                   t["timestamp"].get<std::int64_t>() >= *since))
      out.push_back(std::move(t));
  if (limit && *limit > 0 && out.size() > static_cast<std::size_t>(*limit))
    out.erase(out.begin(), out.end() - *limit);
  r.json = out.dump();
  return r;
}

}  // namespace

struct BinanceStreams::Book {
  explicit Book(const std::string& symbol) : book(symbol), symbol(symbol) {}
  OrderBook book;
  std::string symbol;
  std::set<std::int64_t> limits;      // watchers' limits (0 = whole book)
  bool synced = false;
  bool snapshot_pending = false;
  std::uint64_t epoch = 0;            // bumped by every resync; stale snapshots are dropped
  std::deque<Json> buffer;            // events waiting for the snapshot
  bool have_last = false;             // futures: u of the last applied event (pu check)
  std::uint64_t last_u = 0;
  int failures = 0;
};

BinanceStreams::BinanceStreams(const BinanceOptions& options, StreamDeps deps)
    : options_(options),
      deps_(std::move(deps)),
      hub_(StreamHub::Options{1000, std::chrono::milliseconds(300000), options.exchange_id}) {
  thread_ = std::thread([this] { Loop(); });
}

BinanceStreams::~BinanceStreams() {
  std::unique_ptr<plugin::net::WsClient> ws;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    ws = std::move(ws_);
  }
  cv_.notify_all();
  if (ws) ws->Stop();   // outside mu_: its callbacks take mu_
  if (thread_.joinable()) thread_.join();
}

std::uint64_t BinanceStreams::snapshots() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshots_;
}
std::uint64_t BinanceStreams::resyncs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return resyncs_;
}
std::uint64_t BinanceStreams::connects() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ws_ ? ws_->connects() : 0;
}
std::size_t BinanceStreams::waiting() const { return hub_.waiting(); }

void BinanceStreams::CancelWorker(const std::string& worker_sid) { hub_.CancelWorker(worker_sid); }

void BinanceStreams::Watch(const plugin::CallContext& ctx, const std::string& method,
                           const plugin::CallArgs& args, plugin::CallCompletion done) {
  try {
    auto table = deps_.markets();
    const std::string symbol = args.str(0);
    const Market* m = table->Find(symbol);
    if (!m) m = table->FindId(symbol);
    if (!m) throw CcxtError(errc::kBadSymbol, options_.exchange_id + " does not have market symbol " + symbol);
    const std::string id = Lower(m->id);
    std::string key, stream;
    StreamHub::Kind kind = StreamHub::Kind::kLatest;
    if (method == "watchTicker") {
      key = "ticker:" + m->symbol;
      stream = id + "@ticker";
    } else if (method == "watchOrderBook") {
      const std::int64_t limit = args.opt_int(1).value_or(0);
      if (limit < 0) throw CcxtError(errc::kBadRequest, "watchOrderBook: limit must be positive");
      key = BookKey(m->symbol, limit);
      stream = id + "@depth@100ms";
      std::lock_guard<std::mutex> lock(mu_);
      auto& b = books_[m->id];
      if (!b) b = std::make_unique<Book>(m->symbol);
      b->limits.insert(limit);
    } else if (method == "watchTrades") {
      key = "trades:" + m->symbol;
      stream = id + (options_.futures() ? "@aggTrade" : "@trade");
      kind = StreamHub::Kind::kAppend;
      const auto since = args.opt_int(1);
      const auto limit = args.opt_int(2);
      done = [inner = std::move(done), since, limit](CallResult r) { inner(TrimTrades(std::move(r), since, limit)); };
    } else {
      throw CcxtError(errc::kNotSupported, options_.exchange_id + " does not support " + method + "()");
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) throw CcxtError("ExchangeClosedByUser", options_.exchange_id + ": connector is closing");
      EnsureSocket();
      if (streams_.insert(stream).second) QueueSubscribe(stream);
    }
    hub_.Wait(key, kind, ctx.worker_sid, std::move(done));
  } catch (const CcxtError& e) {
    done(CallResult::Error(e.error_class(), e.what()));
  } catch (const std::exception& e) {
    done(CallResult::Error(errc::kExchangeError, method + ": " + e.what()));
  }
}

void BinanceStreams::EnsureSocket() {
  if (ws_) return;
  plugin::net::WsClientOptions o;
  o.url = options_.ws_base + "/ws";
  o.verify_tls = options_.verify_tls;
  o.name = options_.exchange_id + " streams";
  plugin::net::WsCallbacks cb;
  cb.on_open = [this] { OnOpen(); };
  cb.on_message = [this](const std::string& text) { OnMessage(text); };
  cb.on_close = [this](const std::string&) { OnClose(); };
  ws_ = std::make_unique<plugin::net::WsClient>(std::move(o), std::move(cb));
  ws_->Start();
}

void BinanceStreams::QueueSubscribe(const std::string& stream) {
  pending_subscribe_.push_back(stream);
  cv_.notify_all();
}

void BinanceStreams::OnOpen() {
  std::lock_guard<std::mutex> lock(mu_);
  // A new connection: every stream again, in one frame (the loop sends it), and every
  // book from a new snapshot once its first events arrive.
  pending_subscribe_.assign(streams_.begin(), streams_.end());
  for (auto& [id, b] : books_) {
    b->synced = false;
    b->snapshot_pending = false;
    b->buffer.clear();
    ++b->epoch;
  }
  cv_.notify_all();
}

void BinanceStreams::OnClose() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, b] : books_) {
    b->synced = false;
    b->snapshot_pending = false;
    b->buffer.clear();
    ++b->epoch;
  }
}

void BinanceStreams::OnMessage(const std::string& text) {
  Json msg = Json::parse(text, nullptr, false);
  if (!msg.is_object()) return;
  if (msg.contains("stream") && msg.contains("data")) msg = msg["data"];   // combined-stream form
  if (!msg.is_object() || !msg.contains("e") || !msg["e"].is_string()) return;   // {"result":null,"id":n}
  std::shared_ptr<const MarketTable> table;
  try {
    table = deps_.markets();   // cached after the first watch: no request here
  } catch (...) {
    return;
  }
  const Market* m = table->FindId(msg.value("s", ""));
  if (!m) return;
  const std::string event = msg["e"].get<std::string>();
  try {
    if (event == "24hrTicker") {
      hub_.Publish("ticker:" + m->symbol, ParseWsTicker(msg, *m));
    } else if (event == "trade" || event == "aggTrade") {
      hub_.Append("trades:" + m->symbol, {ParsePublicTrade(msg, *m)});
    } else if (event == "depthUpdate") {
      OnDepth(msg, *m);
    }
  } catch (const std::exception&) {
    // A malformed event is dropped; a book that misses it resyncs on the next gap.
  }
}

bool BinanceStreams::ApplyEvent(Book& b, const Json& ev) {
  const std::uint64_t first = U64(ev, "U"), last = U64(ev, "u");
  if (last <= b.book.update_id()) return true;   // older than the book
  std::uint64_t from = first;
  if (options_.futures()) {
    if (b.have_last && U64(ev, "pu") != b.last_u) return false;
    from = std::min<std::uint64_t>(first, b.book.update_id() + 1);
  }
  const auto bids = OrderBook::ParseLevels(ev.contains("b") ? ev["b"] : Json::array());
  const auto asks = OrderBook::ParseLevels(ev.contains("a") ? ev["a"] : Json::array());
  if (!b.book.Apply(bids, asks, from, last, EventTime(ev))) return false;
  b.have_last = true;
  b.last_u = last;
  return true;
}

std::vector<std::pair<std::string, Json>> BinanceStreams::BookUpdates(const Book& b) const {
  std::vector<std::pair<std::string, Json>> out;
  for (std::int64_t limit : b.limits)
    out.emplace_back(BookKey(b.symbol, limit), b.book.ToJson(static_cast<std::size_t>(limit)));
  return out;
}

void BinanceStreams::Resync(Book& b, const std::string& market_id, std::chrono::milliseconds delay) {
  b.synced = false;
  b.have_last = false;
  b.book.MarkOutOfSync();
  b.snapshot_pending = true;
  ++b.epoch;
  tasks_.push_back({market_id, b.epoch, std::chrono::steady_clock::now() + delay});
  cv_.notify_all();
}

void BinanceStreams::OnDepth(const Json& ev, const Market& m) {
  std::vector<std::pair<std::string, Json>> updates;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = books_.find(m.id);
    if (it == books_.end()) return;
    Book& b = *it->second;
    if (!b.synced) {
      b.buffer.push_back(ev);
      if (b.buffer.size() > kMaxBuffered) b.buffer.pop_front();
      if (!b.snapshot_pending) Resync(b, m.id, std::chrono::milliseconds(0));   // keeps the buffer
      return;
    }
    if (!ApplyEvent(b, ev)) {   // a gap: start over from a snapshot, keeping this event
      ++resyncs_;
      Resync(b, m.id, std::chrono::milliseconds(0));
      b.buffer.clear();
      b.buffer.push_back(ev);
      return;
    }
    updates = BookUpdates(b);
  }
  for (auto& [key, value] : updates) hub_.Publish(key, value);
}

void BinanceStreams::RunSnapshot(const Task& task) {
  std::shared_ptr<const MarketTable> table;
  Json depth;
  std::string error_class, error;
  const Market* m = nullptr;
  try {
    table = deps_.markets();
    m = table->FindId(task.market_id);
    if (!m) return;
    depth = deps_.depth_snapshot(*m);
  } catch (const CcxtError& e) {
    error_class = e.error_class();
    error = e.what();
  } catch (const std::exception& e) {
    error_class = errc::kExchangeError;
    error = e.what();
  }
  std::vector<std::pair<std::string, Json>> updates;
  std::vector<std::string> failed_keys;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = books_.find(task.market_id);
    if (it == books_.end() || stopping_) return;
    Book& b = *it->second;
    if (b.epoch != task.epoch) return;   // superseded by a reconnect or a newer resync
    bool ok = error.empty();
    if (ok) {
      try {
        const std::uint64_t last_update = depth.value("lastUpdateId", std::uint64_t{0});
        b.book.Snapshot(OrderBook::ParseLevels(depth.value("bids", Json::array())),
                        OrderBook::ParseLevels(depth.value("asks", Json::array())), last_update,
                        EventTime(depth));
        b.have_last = false;
        std::deque<Json> buffered = std::move(b.buffer);
        b.buffer.clear();
        for (const auto& ev : buffered) {
          if (U64(ev, "u") <= last_update) continue;   // already in the snapshot
          if (!ApplyEvent(b, ev)) {
            ok = false;
            error_class = errc::kExchangeError;
            error = options_.exchange_id + ": order book " + b.symbol + ": the snapshot (lastUpdateId " +
                    std::to_string(last_update) + ") does not meet the buffered updates";
            break;
          }
        }
      } catch (const std::exception& e) {
        ok = false;
        error_class = "BadResponse";
        error = options_.exchange_id + ": order book snapshot for " + b.symbol + ": " + e.what();
      }
    }
    if (ok) {
      b.synced = true;
      b.snapshot_pending = false;
      b.failures = 0;
      ++snapshots_;
      updates = BookUpdates(b);
    } else if (++b.failures >= kMaxResyncFailures) {
      b.failures = 0;
      b.synced = false;
      b.snapshot_pending = false;   // the next event starts over
      b.buffer.clear();
      for (std::int64_t limit : b.limits) failed_keys.push_back(BookKey(b.symbol, limit));
    } else {
      Resync(b, task.market_id, std::chrono::milliseconds(200 * b.failures));
    }
  }
  for (auto& [key, value] : updates) hub_.Publish(key, value);
  for (const auto& key : failed_keys)
    hub_.Fail(key, error_class.empty() ? errc::kExchangeError : error_class,
              error + " (gave up after " + std::to_string(kMaxResyncFailures) + " attempts)");
}

void BinanceStreams::Loop() {
  using Clock = std::chrono::steady_clock;
  auto next_sweep = Clock::now() + std::chrono::seconds(1);
  auto next_frame = Clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    const auto now = Clock::now();
    // 1. A SUBSCRIBE frame, at most 4 a second.
    if (!pending_subscribe_.empty() && ws_ && ws_->connected() && now >= next_frame) {
      Json frame = {{"method", "SUBSCRIBE"}, {"params", pending_subscribe_}, {"id", next_frame_id_++}};
      pending_subscribe_.clear();
      plugin::net::WsClient* ws = ws_.get();
      lock.unlock();
      ws->Send(frame.dump());   // dropped when the socket just closed: on_open sends all again
      lock.lock();
      next_frame = Clock::now() + std::chrono::milliseconds(250);
      continue;
    }
    // 2. A due snapshot.
    auto due = std::find_if(tasks_.begin(), tasks_.end(), [&](const Task& t) { return t.due <= now; });
    if (due != tasks_.end()) {
      Task task = *due;
      tasks_.erase(due);
      lock.unlock();
      RunSnapshot(task);
      lock.lock();
      continue;
    }
    // 3. Waiters past the hub's max wait.
    if (now >= next_sweep) {
      lock.unlock();
      hub_.Sweep();
      lock.lock();
      next_sweep = Clock::now() + std::chrono::seconds(1);
      continue;
    }
    auto wake = next_sweep;
    for (const auto& t : tasks_) wake = std::min(wake, t.due);
    if (!pending_subscribe_.empty()) wake = std::min(wake, std::max(next_frame, now + std::chrono::milliseconds(20)));
    cv_.wait_until(lock, wake);
  }
}

}  // namespace ami::exchanges::binance
