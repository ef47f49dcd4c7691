// A loopback Binance for the connector's tests: spot /api/v3 and USDⓈ-M /fapi/v1 (+ the
// /fapi/v2/balance) REST subset the connector uses, and the market stream socket at /ws
// (SUBSCRIBE frames; 24hrTicker, depthUpdate, trade/aggTrade events), on the project's
// own gateway::HttpServer. Bodies come from tests/exchanges/fixtures/binance/ (copied from
// Binance's documentation, see its README) or, for orders, from a tiny order store in
// the documented shapes.
//
// What it checks and can do:
//   - every signed request: X-MBX-APIKEY known, HMAC-SHA256 signature of the query/body
//     right and last, timestamp within recvWindow of its (offsettable) clock — else the
//     documented -2015 / -1022 / -1021 replies; counted;
//   - REQUEST_WEIGHT with Binance's published weights in fixed windows: every reply has
//     X-MBX-USED-WEIGHT-1M; over the cap → 429 + Retry-After; a request before that time
//     has passed → 418 (the IP ban Binance hands out for ignoring 429s), counted;
//   - any request param `mockError=<code>` (and optional `mockStatus`, `mockMsg`) answers
//     that documented error instead;
//   - faults by method+path: a late reply (after executing the request or without it),
//     an error status/code, for the next `count` matching requests;
//   - streams: depth updates with U/u (and pu for futures) from its own book, lost
//     updates (gaps), tickers, trades, and dropping every socket.
// RawCloser is a listener that reads a request and closes the connection: a dropped
// connection for the client. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ami::test {

class MockBinance {
 public:
  struct Options {
    double weight_cap = 6000;                        // REQUEST_WEIGHT per window
    std::chrono::milliseconds window{60000};
    int recv_window_default_ms = 5000;
  };
  struct Fault {
    std::string method;                              // "POST"
    std::string path;                                // "/api/v3/order"
    int count = 1;
    std::chrono::milliseconds delay{0};              // answer this late
    bool execute = true;                             // do the work before the (late) answer
    int status = 0;                                  // non-zero: answer this status ...
    int code = 0;                                    // ... with {"code": code, "msg": msg}
    std::string msg;

    // The next matching request answered `delay` late, done (`execute`) or not.
    static Fault Late(std::string method, std::string path, std::chrono::milliseconds delay, bool execute) {
      Fault f;
      f.method = std::move(method);
      f.path = std::move(path);
      f.delay = delay;
      f.execute = execute;
      return f;
    }
    // The next matching request answered with `status` and {"code": code, "msg": msg}.
    static Fault Error(std::string method, std::string path, int status, int code, std::string msg) {
      Fault f;
      f.method = std::move(method);
      f.path = std::move(path);
      f.status = status;
      f.code = code;
      f.msg = std::move(msg);
      return f;
    }
  };
  struct Order {
    std::int64_t id = 0;
    bool futures = false;
    std::string symbol, client_id, side, type, time_in_force, price, quantity;
    std::string executed = "0", cum_quote = "0", status = "NEW";
    bool reduce_only = false;
    std::int64_t time = 0, update_time = 0;
  };

  MockBinance();
  explicit MockBinance(Options options);
  ~MockBinance();
  MockBinance(const MockBinance&) = delete;
  MockBinance& operator=(const MockBinance&) = delete;

  std::uint16_t port() const;
  std::string http_url() const;   // http://127.0.0.1:<port>
  std::string ws_url() const;     // ws://127.0.0.1:<port>   (the socket is <ws_url>/ws)

  void AddAccount(const std::string& api_key, const std::string& secret);
  void SetClockOffset(std::int64_t ms);               // the mock's time = now + ms
  void SetUsedWeight(double used);                    // preload the current window
  void SetWeightCap(double cap);
  void AddFault(Fault fault);
  void SetLastPrice(const std::string& symbol_id, double price);   // market fills

  // Counters.
  int Requests(const std::string& method, const std::string& path) const;
  int TotalRequests() const;
  int VerifiedSignatures() const;
  int BadSignatures() const;        // -1022 answers
  int UnauthenticatedPrivate() const;   // private requests without a key (-2014/-2015)
  int RateLimited() const;          // 429 answers
  int Banned() const;               // 418 answers (requests sent during a Retry-After)
  double MaxWindowWeight() const;   // highest weight accepted in any window (incl. preload)
  std::vector<Order> Orders() const;
  int OrdersWithClientId(const std::string& client_id) const;

  // Order book and streams. Symbols are exchange ids ("BTCUSDT", lower-case in streams).
  void SetBook(const std::string& symbol_id, const std::vector<std::pair<double, double>>& bids,
               const std::vector<std::pair<double, double>>& asks, std::uint64_t last_update_id);
  // Applies levels to the book (amount 0 removes) as the next update; `lost` keeps it from
  // the sockets (a gap for whoever follows the stream). Returns the update's u.
  std::uint64_t Depth(const std::string& symbol_id, const std::vector<std::pair<double, double>>& bids,
                      const std::vector<std::pair<double, double>>& asks, bool lost = false);
  int DepthSnapshots(const std::string& symbol_id) const;
  void PushTicker(const std::string& symbol_id, double last);
  void PushTrade(const std::string& symbol_id, double price, double amount, bool buyer_maker);
  std::set<std::string> Subscriptions() const;       // streams some socket subscribed
  int SocketsOpened() const;
  int SocketsOpen() const;
  void DropSockets();                                 // close 1001 "going away", all of them

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// A listener that accepts, reads one request and closes the connection without a reply.
class RawCloser {
 public:
  RawCloser();
  ~RawCloser();
  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int accepted() const;

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  struct State;
  std::shared_ptr<State> state_;
};

// A fixture file's JSON (tests/exchanges/fixtures/binance/<name>).
nlohmann::json BinanceFixture(const std::string& name);

}  // namespace ami::test
