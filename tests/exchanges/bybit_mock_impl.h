// Inside of MockBybit (mock_bybit.h), shared by its REST part (mock_bybit.cpp) and its
// stream part (bybit_mock_ws.cpp). Everything under `mu`.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gateway/http_message.h"
#include "gateway/http_server.h"
#include "tests/exchanges/mock_bybit.h"

namespace ami::test::bybit {

struct MockMarket {
  std::string category, id, base, quote;
  double last = 0;
  std::string tick, step;           // decimal text
  std::uint64_t u = 1000;           // order book update id
  std::uint64_t seq = 7961638000;
  std::uint64_t pushes = 0;
  std::map<double, double> bids, asks;
};

struct MockOrder {
  std::string account, category;
  Json j;                           // Bybit's order item
};

struct MockPeer {
  std::shared_ptr<gateway::WebSocketPeer> peer;
  std::string path;                 // /v5/public/spot, /v5/public/linear, /v5/private
  std::set<std::string> topics;
  bool authed = false;
  std::string account;
};

struct MockBybit::Impl {
  Options options;
  std::unique_ptr<gateway::HttpServer> server;
  std::map<std::string, Json> fixtures;   // file stem → "response"
  Json error_codes;

  mutable std::mutex mu;
  std::int64_t clock_offset_ms = 0;
  std::map<std::string, MockMarket> markets;   // "<category>:<id>"
  struct FaultSlot {
    std::string path;
    Fault fault;
    int count;
  };
  std::vector<FaultSlot> faults;
  std::map<std::string, int> requests;
  int total_requests = 0, private_requests = 0, signature_failures = 0, limit_violations = 0;
  std::map<std::string, std::deque<std::int64_t>> windows;   // "<account>|<path>|<category>" → arrival times
  std::map<std::string, int> max_per_second;                 // path → most in 1 s
  std::vector<MockOrder> orders;
  std::vector<std::pair<std::string, Json>> executions;      // account, item
  std::uint64_t next_order_id = 1700000000000000001ULL;
  std::uint64_t next_exec_id = 1;

  std::map<int, MockPeer> peers;
  int next_peer = 1;
  std::map<std::string, int> connections;   // path → opened
  std::map<std::string, int> subscribes;    // topic → subscribe requests

  // Answers held back (slow replies), sent by `delayer`.
  struct Delayed {
    std::int64_t due_ms;
    std::function<void()> send;
  };
  std::vector<Delayed> delayed;
  std::condition_variable delayed_cv;
  bool stopping = false;
  std::thread delayer, pusher;

  std::int64_t Now() const;          // the mock's clock (ms), offset included; needs no lock
  MockMarket* Market(const std::string& category, const std::string& id);
  std::string ErrorMessage(int code) const;

  // REST (mock_bybit.cpp).
  void Handle(gateway::HttpRequest request, gateway::Respond respond);
  // Streams (bybit_mock_ws.cpp).
  std::shared_ptr<gateway::WebSocketAccept> Accept(const std::string& path);
  void OnMessage(int peer, const std::string& text);
  void SendBookSnapshotLocked(MockPeer& p, MockMarket& m, int depth);
  void PushBookDeltaLocked(MockMarket& m, bool gap);
  void PushTradeLocked(MockMarket& m);
  void PushTickerLocked(MockMarket& m);
  void PushOrderLocked(const MockOrder& o);
  Json TickerItemLocked(const MockMarket& m) const;
  void ResetBookLocked(MockMarket& m);
  void Broadcast(const std::string& path, const std::string& topic, const Json& msg);
};

// Decimal text of `v` with as many places as `step` has ("0.01" → 2).
std::string MockDecimal(double v, const std::string& step);

}  // namespace ami::test::bybit
