// The bybit connector's streams (CCXT Pro's watch*), over net::WsClient and net::StreamHub.
//
// Sockets, each opened on first use and kept for the life of the connector (so for the
// whole node: the host makes one connector per configured exchange):
//   - one public socket per category: <ws_url>/v5/public/spot, <ws_url>/v5/public/linear;
//   - one private socket per account key: <ws_url>/v5/private, authenticated with
//     {"op":"auth","args":[key, expires, HMAC("GET/realtime"+expires)]}, then "order".
// Every (re)connection sends the subscriptions again (WsClient's on_open), so a dropped
// socket resumes by itself; order books then start over from the new snapshot.
//
// Topics → hub keys (StreamHub kinds):
//   tickers.<id>            "ticker:<symbol>"          latest (snapshot + delta merged)
//   orderbook.<d>.<id>      "book:<symbol>:<d>"        latest; snapshot + deltas, `u` must
//                           grow by one: a gap marks the book out of sync and resubscribes
//                           (unsubscribe + subscribe → a fresh snapshot); nothing is
//                           published until the book is whole again
//   publicTrade.<id>        "trades:<symbol>"          append
//   order (private)         "orders:<key>:*" and "orders:<key>:<symbol>"  append
// Depths: 1, 50, 200 or 1000 — the smallest at least the `limit` asked (default 50).
// A subscription Bybit refuses fails its waiters (BadSymbol / ExchangeError); a private
// auth refusal fails the account's waiters with AuthenticationError. Waiters are swept
// with RequestTimeout after 5 minutes (the host's deadline usually ends them earlier).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ami/plugin/call.h"
#include "ami/plugin/exchange_connector.h"
#include "ami/plugin/net/order_book.h"
#include "ami/plugin/net/stream_hub.h"
#include "ami/plugin/net/ws_client.h"
#include "bybit_options.h"
#include "bybit_parse.h"

namespace ami::exchanges::bybit {

class BybitStreams {
 public:
  struct Hooks {
    std::function<std::shared_ptr<const Markets>()> markets;   // the loaded markets
    std::function<std::int64_t()> server_now_ms;               // for the auth `expires`
    std::function<Json(const Json& raw, const Markets&, const std::string& category)> parse_order;
  };

  BybitStreams(const BybitOptions& options, Hooks hooks);
  ~BybitStreams();   // closes every socket, then fails the waiters (ExchangeClosedByUser)
  BybitStreams(const BybitStreams&) = delete;
  BybitStreams& operator=(const BybitStreams&) = delete;

  void WatchTicker(const plugin::CallContext& ctx, const Market& m, plugin::CallCompletion done);
  void WatchOrderBook(const plugin::CallContext& ctx, const Market& m, std::optional<std::int64_t> limit,
                      plugin::CallCompletion done);
  void WatchTrades(const plugin::CallContext& ctx, const Market& m, plugin::CallCompletion done);
  // `m` null: every symbol of the account.
  void WatchOrders(const plugin::CallContext& ctx, const Market* m, plugin::CallCompletion done);
  void CancelWorker(const std::string& worker_sid);

  // For tests: order book resyncs started after a gap; connections made per socket name
  // ("spot", "linear", "private"); whether that socket is connected now.
  std::uint64_t resyncs() const { return resyncs_.load(); }
  std::uint64_t connects(const std::string& socket) const;
  bool connected(const std::string& socket) const;

  static int DepthFor(std::optional<std::int64_t> limit);

 private:
  struct PublicSocket {
    std::unique_ptr<plugin::net::WsClient> ws;
    std::set<std::string> topics;
  };
  struct PrivateSocket {
    std::unique_ptr<plugin::net::WsClient> ws;
    plugin::Credentials credentials;   // kept to authenticate again after a reconnect
    std::string key_hash;
    bool auth_failed = false;          // the last auth was refused: the next watch tries again
  };
  struct Book {
    std::string category, symbol, hub_key, topic;
    int depth = 50;
    std::unique_ptr<plugin::net::OrderBook> book;
  };

  void Subscribe(const std::string& category, const std::string& topic);
  void OnPublicOpen(const std::string& category);
  void OnPublicMessage(const std::string& category, const std::string& text);
  void OnPublicClose(const std::string& category);
  void OnPrivateOpen(const std::string& key_hash);
  void OnPrivateMessage(const std::string& key_hash, const std::string& text);
  void HandleBook(const std::string& category, const Json& msg);
  void SendLocked(PublicSocket& s, const std::string& op, const std::vector<std::string>& topics);
  std::string HubKeyOfTopic(const std::string& category, const std::string& topic) const;
  void Housekeeping();

  BybitOptions options_;
  Hooks hooks_;
  plugin::net::StreamHub hub_;

  mutable std::mutex mu_;
  std::map<std::string, PublicSocket> public_;          // by category
  std::map<std::string, PrivateSocket> private_;        // by key hash
  std::map<std::string, std::string> topic_keys_;       // "<category>|<topic>" → hub key
  std::map<std::string, Book> books_;                   // "<category>|<topic>"
  std::map<std::string, Json> tickers_;                 // "<category>|<id>" merged fields
  std::map<std::string, std::vector<std::string>> pending_;   // req_id → topics
  std::uint64_t next_req_ = 1;
  std::atomic<std::uint64_t> resyncs_{0};

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread housekeeper_;
};

}  // namespace ami::exchanges::bybit
