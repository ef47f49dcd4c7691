// The HTTP gateway's own cost (issue 11; docs/benchmarks.md "Gateway").
//
//   1. Requests/s and latency at `--connections` concurrent keep-alive connections for
//        GET /metrics                 (the baseline: no admin request behind it),
//        GET /api/v1/workers          (REST: one admin request, workers.list),
//        POST /api  listWorkers       (WebFIX with a wallet session: the same admin request
//                                      plus the session check and the STELS entry shape).
//   2. Log fan-out: one worker writing ~`--lines-per-sec` lines to `--followers` SSE
//      streams (GET /api/worker/logs/stream?follow=true): lines delivered per second over
//      all followers, and the delay from the worker's Date.now() in the line to the moment
//      a follower reads it.
//
// The node runs in this process (LocalNode with an `http:` section on 127.0.0.1) with
// `--workers` idle workers so that a list has something to carry. Clients are blocking
// Beast connections, one thread each: on a 2-core machine they compete with the node for
// the CPU, so the numbers are a floor for what a separate client machine would see.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <mutex>

#include "bench/bench_util.h"
#include "tests/gateway/stels_wallet.h"

namespace ami::bench {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct Target {
  std::string label;
  http::verb method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct LoadResult {
  double requests_per_sec = 0;
  Summary latency_ms;
  uint64_t failures = 0;
};

// `connections` threads, each with one keep-alive connection, send `target` in a loop for
// `seconds`; every reply must be 200.
LoadResult RunLoad(uint16_t port, const Target& target, int connections, double seconds) {
  std::mutex mu;
  std::vector<double> latencies;
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> done{0};
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&] {
      std::vector<double> mine;
      net::io_context ioc;
      beast::tcp_stream stream(ioc);
      beast::error_code ec;
      stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
      if (ec) {
        ++failures;
        return;
      }
      beast::flat_buffer buffer;
      while (Clock::now() < end) {
        http::request<http::string_body> req{target.method, target.path, 11};
        req.set(http::field::host, "127.0.0.1");
        req.keep_alive(true);
        for (const auto& [k, v] : target.headers) req.set(k, v);
        req.body() = target.body;
        req.prepare_payload();
        const auto t0 = Clock::now();
        stream.expires_after(std::chrono::seconds(30));
        http::write(stream, req, ec);
        http::response<http::string_body> res;
        if (!ec) http::read(stream, buffer, res, ec);
        if (ec || res.result_int() != 200) {
          ++failures;
          if (ec) return;
          continue;
        }
        mine.push_back(MsSince(t0));
        ++done;
      }
      std::lock_guard<std::mutex> lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  LoadResult r;
  r.requests_per_sec = static_cast<double>(done.load()) / (MsSince(start) / 1000.0);
  r.latency_ms = Summarize(std::move(latencies));
  r.failures = failures.load();
  return r;
}

// One SSE follower: reads `data:` events until `stop`; for each log line with "t=<ms>"
// records the delay to now.
void Follow(uint16_t port, const std::string& path, const std::string& session, const std::atomic<bool>& stop,
            std::vector<double>* delays, uint64_t* lines, std::atomic<int>* connected) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  beast::error_code ec;
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return;
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nstels-session: " + session + "\r\n\r\n";
  net::write(socket, net::buffer(request), ec);
  if (ec) return;
  // A receive timeout lets the loop see `stop` even when nothing arrives.
  timeval tv{0, 200000};
  setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string pending;
  bool headers_done = false;
  char buf[16384];
  while (!stop.load()) {
    const ssize_t n = ::recv(socket.native_handle(), buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      break;
    }
    const double now_ms = static_cast<double>(WallMillis());
    pending.append(buf, static_cast<size_t>(n));
    if (!headers_done) {
      const size_t h = pending.find("\r\n\r\n");
      if (h == std::string::npos) continue;
      headers_done = true;
      if (pending.rfind("HTTP/1.1 200", 0) != 0) Die("log stream refused: " + pending.substr(0, pending.find("\r\n")));
      ++*connected;
      pending.erase(0, h + 4);
    }
    size_t pos;
    while ((pos = pending.find("\n\n")) != std::string::npos) {
      std::string event = pending.substr(0, pos);
      pending.erase(0, pos + 2);
      if (event.rfind("data: ", 0) != 0) continue;
      auto j = json::parse(event.substr(6), nullptr, false);
      if (!j.is_object() || j.value("type", "") != "log") continue;
      const std::string content = j.value("content", "");
      const size_t t = content.find("t=");
      if (t == std::string::npos) continue;
      ++*lines;
      delays->push_back(now_ms - std::strtod(content.c_str() + t + 2, nullptr));
    }
  }
}

}  // namespace
}  // namespace ami::bench

int main(int argc, char** argv) {
  using namespace ami;
  using namespace ami::bench;
  Args args(argc, argv,
            "bench_gateway [--connections=64] [--seconds=5] [--workers=100] [--followers=100]\n"
            "              [--lines-per-sec=1000] [--fanout-seconds=10]");
  const int connections = args.Int("connections", 64);
  const double seconds = args.Num("seconds", 5);
  const int workers = args.Int("workers", 100);
  const int followers = args.Int("followers", 100);
  const int lines_per_sec = args.Int("lines-per-sec", 1000);
  const double fanout_seconds = args.Num("fanout-seconds", 10);
  args.CheckKnown({"connections", "seconds", "workers", "followers", "lines-per-sec", "fanout-seconds"});
  RaiseFileLimit();
  PrintMachine();

  test::StelsWallet wallet;  // a fresh key
  BenchNode node("http:\n  listen: 127.0.0.1:0\n  max_connections: 4096\n  wallets:\n    developers: [" +
                 wallet.address() + "]\nlimits:\n  max_log_lines_per_sec: " + std::to_string(lines_per_sec * 2) +
                 "\n");
  const uint16_t port = node->http_port();
  std::string token;
  {
    std::ifstream in(node.dir() / "data" / "admin.token");
    std::getline(in, token);
  }
  for (int i = 0; i < workers; ++i) node.Put("return;", Priority::kNormal, WorkerMode::kLoop, /*active=*/false);

  // A WebFIX session, as the STELS frontend gets one.
  std::string session;
  {
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> req{http::verb::post, "/api", 11};
    req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
    req.set(http::field::content_type, "application/json");
    req.body() = wallet.LoginEnvelope("local", test::NowMs()).dump();
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    auto j = json::parse(res.body(), nullptr, false);
    if (res.result_int() != 200 || !j.contains("raw")) Die("WebFIX login failed: " + res.body());
    session = j["raw"]["session"].get<std::string>();
  }

  std::printf("request load: %d keep-alive connections, %.0f s each, %d workers listed\n", connections, seconds, workers);
  const std::vector<Target> targets = {
      {"GET /metrics", http::verb::get, "/metrics", {}, ""},
      {"GET /api/v1/workers", http::verb::get, "/api/v1/workers", {{"Authorization", "Bearer " + token}}, ""},
      {"WebFIX listWorkers", http::verb::post, "/api",
       {{"stels-session", session}, {"Content-Type", "application/json"}},
       R"({"webfix":"1.0","method":"listWorkers","params":[],"body":{}})"},
  };
  json loads = json::array();
  for (const auto& target : targets) {
    LoadResult r = RunLoad(port, target, connections, seconds);
    std::printf("  %-24s %9.0f req/s  failures %llu\n", target.label.c_str(), r.requests_per_sec,
                static_cast<unsigned long long>(r.failures));
    PrintSummary("  latency " + target.label, r.latency_ms);
    loads.push_back({{"target", target.label},
                     {"requests_per_sec", Round(r.requests_per_sec, 0)},
                     {"latency_ms", ToJson(r.latency_ms)},
                     {"failures", r.failures}});
  }

  // Log fan-out: ~lines_per_sec lines in batches of 10 every 10 ms (rounded).
  const int batches_per_sec = 100;
  const int per_batch = std::max(1, lines_per_sec / batches_per_sec);
  const std::string script = "for (let i = 0; !shouldStop(); i++) {\n  for (let k = 0; k < " + std::to_string(per_batch) +
                             "; k++) logger.info('line ' + i + '.' + k + ' t=' + Date.now());\n"
                             "  await Stels.sleep(" + std::to_string(1000 / batches_per_sec) + ");\n}\n";
  auto writer = node.Put(script, Priority::kNormal, WorkerMode::kSingle, /*active=*/false);
  std::atomic<bool> stop{false};
  std::atomic<int> connected{0};
  std::vector<std::vector<double>> delays(static_cast<size_t>(followers));
  std::vector<uint64_t> lines(static_cast<size_t>(followers), 0);
  std::vector<std::thread> threads;
  const std::string path = "/api/worker/logs/stream?sid=" + writer.sid + "&follow=true&lines=1";
  for (int f = 0; f < followers; ++f)
    threads.emplace_back(Follow, port, path, session, std::cref(stop), &delays[static_cast<size_t>(f)],
                         &lines[static_cast<size_t>(f)], &connected);
  const auto wait_until = Clock::now() + std::chrono::seconds(30);
  while (connected.load() < followers && Clock::now() < wait_until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (connected.load() < followers) Die("only " + std::to_string(connected.load()) + " followers connected");
  writer.active = true;
  node.Put(writer);
  const auto fan_start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(fanout_seconds));
  const double elapsed = MsSince(fan_start) / 1000.0;
  stop = true;
  for (auto& t : threads) t.join();
  std::vector<double> all;
  uint64_t delivered = 0;
  uint64_t min_lines = UINT64_MAX;
  for (size_t f = 0; f < delays.size(); ++f) {
    all.insert(all.end(), delays[f].begin(), delays[f].end());
    delivered += lines[f];
    min_lines = std::min(min_lines, lines[f]);
  }
  const Summary delay = Summarize(all);
  std::printf("log fan-out: 1 worker, %d followers, %.1f s: %.0f lines/s delivered in all (%.0f per follower; "
              "fewest lines of one follower: %llu)\n",
              followers, elapsed, static_cast<double>(delivered) / elapsed,
              static_cast<double>(delivered) / elapsed / followers, static_cast<unsigned long long>(min_lines));
  PrintSummary("delay write -> follower", delay);
  PrintResult({{"bench", "gateway"},
               {"machine", MachineJson()},
               {"connections", connections},
               {"workers", workers},
               {"load", loads},
               {"fanout",
                {{"followers", followers},
                 {"seconds", Round(elapsed, 1)},
                 {"delivered_lines_per_sec", Round(static_cast<double>(delivered) / elapsed, 0)},
                 {"per_follower_lines_per_sec", Round(static_cast<double>(delivered) / elapsed / followers, 0)},
                 {"delay_ms", ToJson(delay)}}}});
  return 0;
}
