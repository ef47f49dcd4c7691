// A loopback Bybit v5 for the bybit connector's tests: REST (the v5 subset the connector
// uses) and the public/private WebSockets, on the project's own gateway::HttpServer.
// Response bodies are built from the documentation's examples in
// tests/exchanges/fixtures/bybit/ (see the README there).
//
// What it checks and keeps:
//   - EVERY private request's signature (X-BAPI-* headers, HMAC-SHA256 of timestamp + key
//     + recv_window + query/body) and timestamp window, as Bybit does: unknown key 10003,
//     bad signature 10004, timestamp out of window 10002 (its clock may be offset);
//     private stream auth likewise.
//   - Bybit's published per-second limits per account and endpoint (order/create 20/s
//     spot, 10/s linear, reads 50/s ...), in a rolling 1 s window: past them 10006, with
//     X-Bapi-Limit / -Status / -Reset-Timestamp headers on every private answer.
//   - A tiny exchange: spot BTCUSDT/ETHUSDT/SOLUSDT and linear BTCUSDT/ETHUSDT at set
//     prices; orders per account (limit orders rest unless they cross, market orders
//     fill at the last price), orderLinkId unique per account (110072), executions.
//   - Order books per market with an update id `u`; subscribed sockets get a snapshot,
//     then deltas (PushBookDelta; `gap` skips an id), trades (PushTrade), tickers.
//
// Faults on demand: FailNext(path, fault) — a retCode (with the documented message), an
// HTTP status, a slow answer (optionally one whose request did NOT take effect) — or, for
// tests that go through a script, the same through request parameters the connector
// passes on: mockRetCode (+ mockRetMsg), mockHttpStatus, mockDelayMs (+ mockApply=false);
// the signature is still checked first. DropStreams() closes every socket. DroppingServer answers nothing: it reads the
// request and closes the connection (a connection lost after sending).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace ami::test::bybit {

using Json = nlohmann::json;

struct Fault {
  int ret_code = 0;          // answer this Bybit error (0: none)
  std::string ret_msg;       // "" = the documented message
  int http_status = 0;       // answer this HTTP status with a plain body (0: none)
  int delay_ms = 0;          // answer this late
  bool apply = true;         // whether the request still takes effect (a lost answer) or not
  std::map<std::string, std::string> headers;   // extra answer headers (Retry-After, ...)
};

class MockBybit {
 public:
  struct Options {
    std::map<std::string, std::string> accounts = {{"test-key", "test-secret"}};   // api key → secret
    std::int64_t clock_offset_ms = 0;      // the mock's clock minus the local clock
    bool enforce_limits = true;            // answer 10006 past the published limits
    int auto_stream_ms = 0;                // > 0: push a book delta, a trade and a ticker for
                                           // every subscribed market this often
  };

  explicit MockBybit(Options options);
  MockBybit() : MockBybit(Options{}) {}
  ~MockBybit();
  MockBybit(const MockBybit&) = delete;
  MockBybit& operator=(const MockBybit&) = delete;

  std::uint16_t port() const;
  std::string base_url() const;   // http://127.0.0.1:<port>
  std::string ws_url() const;     // ws://127.0.0.1:<port>

  // The next `count` requests to `path` ("/v5/order/create"; "" = any) get `fault`.
  void FailNext(const std::string& path, Fault fault, int count = 1);
  void SetPrice(const std::string& category, const std::string& id, double last);
  void SetClockOffset(std::int64_t ms);

  // What arrived.
  int Requests(const std::string& path) const;            // requests to `path` ("" = all)
  int PrivateRequests() const;
  int SignatureFailures() const;                          // 10002/10003/10004 answers
  int LimitViolations() const;                            // 10006 answers of the limiter
  // The most requests one account made to `path` within any 1 s window (accepted or not).
  int MaxPerSecond(const std::string& path) const;
  std::vector<Json> Orders() const;                       // every order, Bybit's shape
  int OrdersWithLinkId(const std::string& order_link_id) const;

  // Streams.
  void PushBookDelta(const std::string& category, const std::string& id, bool gap = false);
  void PushTrade(const std::string& category, const std::string& id);
  void PushTicker(const std::string& category, const std::string& id);
  void DropStreams();
  int StreamConnections(const std::string& path) const;  // "/v5/public/spot", "/v5/private"; opened so far
  int Subscribes(const std::string& topic) const;         // subscribe requests naming `topic`
  int OpenSockets() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Accepts connections, reads what the client sends, and closes without answering.
class DroppingServer {
 public:
  DroppingServer();
  ~DroppingServer();
  std::uint16_t port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

}  // namespace ami::test::bybit
