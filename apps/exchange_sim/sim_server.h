// ami-exchange-sim's network face: Bybit v5 REST and WebSocket (the subset the bybit
// connector uses — docs/exchange-sim.md "API") over gateway::HttpServer, in front of one
// SimEngine and its Journal.
//
//   - Every private request's signature is checked as Bybit does (X-BAPI-API-KEY,
//     -TIMESTAMP, -RECV-WINDOW, -SIGN = HMAC-SHA256(secret, timestamp + key + recv_window +
//     query|body)): unknown key 10003, bad signature 10004, timestamp outside
//     [now - recv_window, now + 1000) 10002. The private stream's auth likewise.
//   - A request that changes state (order/create, order/cancel, order/cancel-all) is
//     answered only after the journal's fsync covering its events (and every event before).
//   - A sweeper thread, once per tick_ms, fills resting orders and pushes the public
//     streams (orderbook snapshots, a trade, a ticker) to subscribed sockets.
//   - GET /sim/stats (unsigned): counters for operators and the trials.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "apps/exchange_sim/sim_engine.h"
#include "apps/exchange_sim/sim_journal.h"
#include "gateway/http_server.h"

namespace ami::exchange_sim {

class SimServer {
 public:
  // `engine` already holds the replayed journal. Binds host:port (0 = any free port).
  SimServer(SimEngine& engine, Journal& journal);
  ~SimServer();
  bool Start(const std::string& host, std::uint16_t port, std::string& error);
  void Stop();
  std::uint16_t port() const;

 private:
  struct Peer {
    std::shared_ptr<gateway::WebSocketPeer> socket;
    std::string path;              // /v5/public/spot, /v5/public/linear, /v5/private
    std::set<std::string> topics;
    std::string account;           // set by a successful auth (private)
  };

  void Handle(gateway::HttpRequest request, gateway::Respond respond);
  // "" when the request is properly signed (then `account` is set), else the error body.
  std::string CheckSignature(const gateway::HttpRequest& request, std::string& account, std::int64_t now);
  std::shared_ptr<gateway::WebSocketAccept> Accept(const std::string& path);
  void OnMessage(int peer, const std::string& text);
  // Journals `events` and pushes their orders to private streams; needs mu_.
  void PublishLocked(const std::vector<Json>& events);
  void SweepLoop();
  const SimAccount* AccountByKey(const std::string& key) const;

  SimEngine& engine_;
  Journal& journal_;
  std::unique_ptr<gateway::HttpServer> server_;

  std::mutex mu_;                  // the engine, the peers
  std::map<int, Peer> peers_;
  int next_peer_ = 1;
  std::uint64_t signature_failures_ = 0;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread sweeper_;
};

std::int64_t WallMs();

}  // namespace ami::exchange_sim
