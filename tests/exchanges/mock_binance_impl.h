// Internal to mock_binance*.cpp: the mock's state, shared by the server side
// (mock_binance.cpp: routing, keys and signatures, weights, faults, market data, sockets)
// and the order store (mock_binance_orders.cpp).
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/http_message.h"
#include "gateway/http_server.h"
#include "tests/exchanges/mock_binance.h"

namespace ami::test {

using MockJson = nlohmann::json;
using MockParams = std::map<std::string, std::string>;

// A reply: HTTP status and JSON body.
struct MockReply {
  int status = 200;
  MockJson body;
};

std::string MockDecimal(double value);          // "%.8f"
std::int64_t MockNowMs();
MockReply MockError(int status, int code, const std::string& msg);

struct MockBinance::Impl {
  struct Book {
    std::map<double, double, std::greater<double>> bids;
    std::map<double, double> asks;
    std::uint64_t update_id = 0;
    std::uint64_t last_u = 0;     // u of the last event made (sent or lost): futures' pu
  };
  struct Peer {
    std::shared_ptr<gateway::WebSocketPeer> socket;
    std::set<std::string> streams;
    bool open = true;
  };

  Options options;
  mutable std::mutex mu;
  std::map<std::string, std::string> accounts;    // api key -> secret
  std::int64_t clock_offset = 0;

  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::int64_t window_index = 0;
  double window_used = 0;
  double max_window_weight = 0;
  std::chrono::steady_clock::time_point retry_after{};
  std::vector<Fault> faults;

  std::map<std::string, int> requests;             // "GET /api/v3/account"
  int total = 0, verified = 0, bad_signatures = 0, unauthenticated = 0, rate_limited = 0, banned = 0;

  std::map<std::string, double> last_price;        // symbol id -> fill price
  std::vector<Order> orders;
  std::vector<MockJson> trades;                    // my trades (with "_futures")
  std::int64_t next_order_id = 1000, next_trade_id = 5000;

  std::map<std::string, Book> books;
  std::map<std::string, int> depth_snapshots;
  std::map<int, std::shared_ptr<Peer>> peers;
  int next_peer = 0, sockets_opened = 0;
  std::set<std::string> subscriptions;

  MockJson spot_info, futures_info;
  std::set<std::string> spot_symbols, futures_symbols;

  // Late replies, sent by their own thread.
  std::condition_variable cv;
  bool stopping = false;
  std::vector<std::pair<std::chrono::steady_clock::time_point, std::function<void()>>> delayed;
  std::thread delay_thread;

  std::unique_ptr<gateway::HttpServer> server;

  std::int64_t Now() const { return MockNowMs() + clock_offset; }   // under mu
  void Handle(gateway::HttpRequest request, gateway::Respond respond);
  // Order store endpoints (mock_binance_orders.cpp); under mu.
  MockReply Orders(const std::string& method, const std::string& endpoint, const MockParams& p, bool futures);
  MockJson OrderJson(const Order& o, bool with_fills, const MockJson& fills) const;
  void Broadcast(const std::string& stream, const MockJson& event);   // under mu
};

}  // namespace ami::test
