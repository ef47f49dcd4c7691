// The HTTP gateway's limits against a real amid process over loopback (issue 11, "limits
// leave the node serving"): 1,000 keep-alive connections held open and served at once,
// while a fresh client still gets the REST API and /metrics, a slowloris half request is
// closed after idle_timeout, and an oversized body gets 413 — and the node keeps serving.
//
// The 1,000 connections are plain non-blocking sockets driven by one poll() loop on a
// thread of their own (an Asio client each would cost four descriptors per connection).
// Each sends a preflight request (OPTIONS: answered by the gateway alone, no body) every
// 200 ms, well inside the node's 1 s idle_timeout, so the server has no reason to close
// any of them: a connection it closes is a failure.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "tests/gateway/http_client.h"
#include "tests/support/test_support.h"

using namespace ami;
using namespace std::chrono_literals;
using ami::test::Eventually;
using ami::test::Fetch;
using ami::test::HttpConnection;
using ami::test::Must;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kToken = "gateway-limits-test-token";
const test::Headers kAuth = {{"Authorization", "Bearer " + kToken}};
constexpr int kHeld = 1000;

// The soft descriptor limit raised to the hard one (1,000 sockets here, as many in amid,
// which inherits it and raises its own); returns the soft limit in force.
uint64_t RaiseFileLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  getrlimit(RLIMIT_NOFILE, &lim);
  return static_cast<uint64_t>(lim.rlim_cur);
}

// amid with the limits under test; killed (if still running) when it goes away.
class LimitsNode {
 public:
  LimitsNode() {
    test::WriteFile(dir_ / "node.yaml",
                    "node: { id: limits-node, data_dir: ./data }\n"
                    "admin: { listen: \"127.0.0.1:0\", token: " + kToken + " }\n"
                    "http: { listen: \"127.0.0.1:0\", max_connections: 1100, idle_timeout: 1s, max_body: 64KB }\n"
                    "limits: { stop_grace: 500ms }\n");
    process_ = std::make_unique<test::ChildProcess>((test::BinaryDir() / "apps" / "amid").string(),
                                                    std::vector<std::string>{"--config", (dir_ / "node.yaml").string()},
                                                    dir_ / "amid.out");
    std::smatch m;
    const std::regex port_line(R"(http gateway listening on port (\d+))");
    const bool up = Eventually([&] {
      output_ = process_->Output();
      return std::regex_search(output_, m, port_line);
    }, 60s);
    INFO(output_);
    REQUIRE(up);
    port_ = static_cast<uint16_t>(std::stoi(m[1].str()));
  }
  uint16_t port() const { return port_; }
  const std::string& startup_output() const { return output_; }

 private:
  test::TempDir dir_;
  std::unique_ptr<test::ChildProcess> process_;
  std::string output_;
  uint16_t port_ = 0;
};


// kHeld keep-alive connections, each sending a preflight every `interval` and counting
// the replies (a 204 has no body, so each reply ends at its first blank line).
class HeldConnections {
 public:
  HeldConnections(uint16_t port, std::chrono::milliseconds interval) : port_(port), interval_(interval) {
    thread_ = std::thread([this] { Run(); });
  }
  ~HeldConnections() {
    stop();
    for (auto& c : conns_)
      if (c.fd >= 0) close(c.fd);
  }

  int connected() const { return connected_; }
  int closed_by_server() const { return closed_; }
  int min_replies() const { return min_replies_; }
  const std::string& error() const { return error_; }  // after stop()
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Conn {
    int fd = -1;
    bool connected = false;
    bool waiting = false;   // a request is out, its reply not yet read
    bool closed = false;
    int replies = 0;
    std::string tail;       // the last bytes read, for a blank line split across reads
    Clock::time_point sent;
  };

  void Run() {
    const std::string request = "OPTIONS /api/v1/node HTTP/1.1\r\nHost: limits\r\n\r\n";
    conns_.resize(kHeld);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port_);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (auto& c : conns_) {
      c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.fd < 0) {
        error_ = std::string("socket: ") + strerror(errno);
        return;
      }
      if (connect(c.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 && errno != EINPROGRESS) {
        error_ = std::string("connect: ") + strerror(errno);
        return;
      }
    }
    std::vector<pollfd> fds(kHeld);
    char buffer[4096];
    while (!stop_) {
      for (int i = 0; i < kHeld; ++i) {
        fds[i].fd = conns_[i].closed ? -1 : conns_[i].fd;
        fds[i].events = conns_[i].connected ? POLLIN : POLLOUT;
        fds[i].revents = 0;
      }
      poll(fds.data(), fds.size(), 10);
      const auto now = Clock::now();
      int least = 1 << 30;
      for (int i = 0; i < kHeld; ++i) {
        Conn& c = conns_[i];
        if (c.closed) continue;
        if (!c.connected && (fds[i].revents & (POLLOUT | POLLERR | POLLHUP))) {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) {
            error_ = std::string("connect: ") + strerror(err);
            c.closed = true;
            ++closed_;
            continue;
          }
          c.connected = true;
          ++connected_;
        }
        if (c.connected && (fds[i].revents & (POLLIN | POLLERR | POLLHUP))) {
          for (;;) {
            const ssize_t n = recv(c.fd, buffer, sizeof buffer, 0);
            if (n > 0) {
              std::string seen = c.tail + std::string(buffer, static_cast<size_t>(n));
              for (size_t at = 0; (at = seen.find("\r\n\r\n", at)) != std::string::npos; at += 4) {
                ++c.replies;
                c.waiting = false;
              }
              c.tail = seen.substr(seen.size() >= 3 ? seen.size() - 3 : 0);
              continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            c.closed = true;  // EOF or reset: the server let it go
            ++closed_;
            break;
          }
        }
        if (c.connected && !c.closed && !c.waiting && now - c.sent >= interval_) {
          if (send(c.fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
            c.waiting = true;
            c.sent = now;
          }
        }
        least = std::min(least, c.replies);
      }
      min_replies_ = least;
    }
  }

  uint16_t port_;
  std::chrono::milliseconds interval_;
  std::thread thread_;
  std::vector<Conn> conns_;              // the driver thread's only
  std::atomic<bool> stop_{false};
  std::atomic<int> connected_{0};
  std::atomic<int> closed_{0};
  std::atomic<int> min_replies_{0};
  std::string error_;
};

}  // namespace

TEST_CASE("gateway limits: 1,000 connections held open, a slowloris and a 413 leave amid serving", "[gateway]") {
  const uint64_t limit = RaiseFileLimit();
  INFO("RLIMIT_NOFILE " << limit);
  REQUIRE(limit >= 2 * kHeld + 200);  // this process's sockets and amid's
  LimitsNode node;
  const uint16_t port = node.port();
  {
    std::smatch m;
    const std::string out = node.startup_output();
    REQUIRE(std::regex_search(out, m, std::regex(R"(open file limit \(RLIMIT_NOFILE\): (\d+))")));
    CHECK(std::stoull(m[1].str()) >= 1100);
  }

  HeldConnections held(port, 200ms);
  REQUIRE(Eventually([&] { return held.connected() == kHeld || held.closed_by_server() > 0; }, 30s));
  REQUIRE(held.closed_by_server() == 0);
  REQUIRE(Eventually([&] { return held.min_replies() >= 1 || held.closed_by_server() > 0; }, 30s));
  const auto all_served = Clock::now();

  // A fresh client gets the REST API and /metrics meanwhile.
  auto info = Must(Fetch(port, "GET", "/api/v1/node", kAuth));
  CHECK(info.status == 200);
  CHECK(json::parse(info.body, nullptr, false).value("node", "") == "limits-node");
  auto metrics = Must(Fetch(port, "GET", "/metrics"));
  CHECK(metrics.status == 200);
  CHECK(test::MetricSample(metrics.body, "ami_http_connections_open") >= kHeld + 1);

  // A slowloris half request is closed after idle_timeout (1 s), not before.
  const auto slow_start = Clock::now();
  HttpConnection half(port);
  REQUIRE(half.connected());
  REQUIRE(half.SendRaw("GET /api/v1/node HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "));
  CHECK(Must(Fetch(port, "GET", "/api/v1/node", kAuth)).status == 200);  // served meanwhile
  CHECK(half.WaitClosed(20s));
  CHECK(Clock::now() - slow_start >= 900ms);

  // An oversized body: 413 from Content-Length alone, and the connection closed.
  HttpConnection big(port);
  REQUIRE(big.SendRaw("POST /api/v1/workers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kToken +
                      "\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n{\"note\":\""));
  auto refused = big.ReadReply();
  REQUIRE(refused);
  CHECK(refused->status == 413);
  CHECK(big.WaitClosed(20s));
  CHECK(Must(Fetch(port, "GET", "/api/v1/node", kAuth)).status == 200);

  // Held for at least three idle timeouts, none closed by the server.
  CHECK(Eventually([&] { return Clock::now() - all_served >= 3s || held.closed_by_server() > 0; }, 30s));
  held.stop();
  INFO(held.error());
  CHECK(held.closed_by_server() == 0);
  CHECK(held.min_replies() >= 5);

  auto after = Must(Fetch(port, "GET", "/metrics")).body;
  CHECK(test::MetricSample(after, "ami_http_connections_rejected_total") == 0);
  CHECK(test::MetricSample(after, "ami_http_connections_closed_total{reason=\"idle_timeout\"}") >= 1);
  CHECK(test::MetricSample(after, "ami_http_connections_closed_total{reason=\"body_too_large\"}") == 1);
  CHECK(Must(Fetch(port, "POST", "/api/v1/workers", kAuth, R"({"note":"after the storm"})")).status == 201);
}
