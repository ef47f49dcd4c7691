// The binance connector's streams (CCXT Pro): watchTicker, watchOrderBook, watchTrades,
// over ONE WebSocket per connector instance (so per exchange of a node, shared by all its
// workers): <ws_url>/ws with SUBSCRIBE method frames, e.g.
//   {"method":"SUBSCRIBE","params":["btcusdt@depth@100ms"],"id":3}
// Streams: <id>@ticker (24hrTicker), <id>@depth@100ms (diff depth), <id>@trade (spot) /
// <id>@aggTrade (futures: USDⓈ-M has no raw trade stream). New subscriptions are sent at
// most 4 frames a second (Binance closes a socket sending more than 5 messages/s); after a
// reconnect every stream is subscribed again in one frame.
//
// Order books follow Binance's "how to manage a local order book": diff events are
// buffered, a REST snapshot (depth limit 1000) is taken on a stream thread (never on the
// socket's), buffered events older than the snapshot dropped and the rest applied. Spot:
// each event must start at the previous u + 1 (U); futures: its pu must equal the previous
// u. A gap — or a reconnect — resyncs from a new snapshot; 5 failed resyncs in a row fail
// the waiting watchers with ExchangeError (they may simply call again).
//
// Waiting is net::StreamHub's (keys "ticker:<symbol>", "book:<symbol>|<limit>",
// "trades:<symbol>"): no host thread is held; a worker that stops gets
// ExchangeClosedByUser (CancelWorker). watchOrders (user data stream) is not offered.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "ami/plugin/connector_base.h"
#include "ami/plugin/net/order_book.h"
#include "ami/plugin/net/stream_hub.h"
#include "ami/plugin/net/ws_client.h"
#include "binance_options.h"
#include "binance_parse.h"

namespace ami::exchanges::binance {

struct StreamDeps {
  std::function<std::shared_ptr<const MarketTable>()> markets;   // throws CcxtError
  std::function<nlohmann::json(const Market&)> depth_snapshot;    // GET depth limit 1000; throws
};

class BinanceStreams {
 public:
  BinanceStreams(const BinanceOptions& options, StreamDeps deps);
  ~BinanceStreams();   // stops the socket and the stream thread; waiters get ExchangeClosedByUser
  BinanceStreams(const BinanceStreams&) = delete;
  BinanceStreams& operator=(const BinanceStreams&) = delete;

  void Watch(const plugin::CallContext& ctx, const std::string& method, const plugin::CallArgs& args,
             plugin::CallCompletion done);
  void CancelWorker(const std::string& worker_sid);

  // For tests and benchmarks.
  std::uint64_t snapshots() const;      // order book snapshots applied
  std::uint64_t resyncs() const;        // gaps that forced a new snapshot
  std::uint64_t connects() const;       // socket connections made
  std::size_t waiting() const;

 private:
  struct Book;
  struct Task {
    std::string market_id;
    std::uint64_t epoch = 0;
    std::chrono::steady_clock::time_point due;
  };

  void EnsureSocket();                                   // under mu_
  void QueueSubscribe(const std::string& stream);        // under mu_
  void OnOpen();
  void OnMessage(const std::string& text);
  void OnClose();
  void OnDepth(const nlohmann::json& ev, const Market& m);
  bool ApplyEvent(Book& b, const nlohmann::json& ev);     // false on a gap
  void Resync(Book& b, const std::string& market_id, std::chrono::milliseconds delay);  // under mu_
  void RunSnapshot(const Task& task);
  void Loop();
  std::vector<std::pair<std::string, nlohmann::json>> BookUpdates(const Book& b) const;

  const BinanceOptions options_;
  StreamDeps deps_;
  plugin::net::StreamHub hub_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::unique_ptr<plugin::net::WsClient> ws_;
  std::set<std::string> streams_;                 // every stream subscribed so far
  std::vector<std::string> pending_subscribe_;    // waiting for the next frame
  std::map<std::string, std::unique_ptr<Book>> books_;   // by market id
  std::deque<Task> tasks_;
  std::uint64_t next_frame_id_ = 1;
  std::uint64_t snapshots_ = 0, resyncs_ = 0;
  std::thread thread_;
};

}  // namespace ami::exchanges::binance
