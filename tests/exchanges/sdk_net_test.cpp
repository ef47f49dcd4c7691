// The connector SDK's HTTP side (plugins/sdk, net/*.h), each part alone: the HTTP client
// against a loopback gateway::HttpServer (and a raw socket that drops requests), signing
// and text formats (RFC 4231, Binance's documented example, JavaScript's own output), the
// rate limiter, the server clock with a fake fetch and local clock, the error map, and
// rounding to a step against CCXT's own decimalToPrecision cases.
// Longer than our usual ~600 lines: six small units share one binary; each "----" section
// stands alone and could move to its own file unchanged.
#include <catch2/catch.hpp>

#include <boost/asio.hpp>

#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "ami/plugin/net/error_map.h"
#include "ami/plugin/net/http_client.h"
#include "ami/plugin/net/precision.h"
#include "ami/plugin/net/rate_limiter.h"
#include "ami/plugin/net/server_clock.h"
#include "ami/plugin/net/signing.h"
#include "gateway/http_server.h"
#include "tests/support/test_support.h"

using namespace ami::plugin::net;
using namespace std::chrono_literals;
using ami::test::Eventually;

namespace {

// A loopback HTTP server: /echo answers what it received as JSON (with rate-limit style
// headers), /slow never answers by itself, /big?n=N answers N bytes, /status?code=N
// answers that status.
struct LoopbackServer {
  std::mutex mu;
  std::vector<ami::gateway::Respond> held;  // /slow replies, guarded by mu
  std::unique_ptr<ami::gateway::HttpServer> server;

  LoopbackServer() {
    ami::gateway::ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.threads = 2;
    auto started = ami::gateway::HttpServer::Start(
        std::move(options), [this](ami::gateway::HttpRequest request, ami::gateway::Respond respond) {
          Handle(std::move(request), std::move(respond));
        });
    INFO(started.status().message());
    REQUIRE(started.ok());
    server = std::move(*started);
  }
  ~LoopbackServer() {
    server->Stop();
    std::lock_guard lock(mu);
    held.clear();
  }

  std::string Url(const std::string& target) const {
    return "http://127.0.0.1:" + std::to_string(server->port()) + target;
  }
  std::uint64_t accepted() const { return server->counters()->accepted.load(); }
  std::size_t held_count() {
    std::lock_guard lock(mu);
    return held.size();
  }

  void Handle(ami::gateway::HttpRequest request, ami::gateway::Respond respond) {
    ami::gateway::HttpResponse reply;
    std::map<std::string, std::string> query;
    std::string bad;
    ami::gateway::ParseQuery(request.query, &query, &bad);
    if (request.path == "/slow") {
      std::lock_guard lock(mu);
      held.push_back(std::move(respond));
      return;
    }
    if (request.path == "/big") {
      reply.body.assign(std::stoul(query["n"]), 'x');
    } else if (request.path == "/status") {
      reply.status = std::stoi(query["code"]);
      reply.body = "{}";
    } else {
      nlohmann::json seen{{"method", request.method},
                          {"target", request.target},
                          {"body", request.body},
                          {"headers", request.headers}};
      reply.body = seen.dump();
      reply.SetHeader("X-Bapi-Limit-Status", "42");
      reply.SetHeader("X-MBX-USED-WEIGHT-1M", "7");
    }
    respond(std::move(reply));
  }
};

// A TCP listener that reads each request's header block and closes the connection
// without a reply: a request that reached the server and was lost.
struct DroppingServer {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor{io, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  const std::uint16_t port = acceptor.local_endpoint().port();
  std::atomic<bool> stopping{false};
  std::atomic<int> dropped{0};
  std::thread thread;

  DroppingServer() {
    thread = std::thread([this] {
      while (true) {
        boost::asio::ip::tcp::socket socket(io);
        boost::system::error_code ec;
        acceptor.accept(socket, ec);
        if (ec || stopping) return;
        boost::asio::streambuf buffer;
        boost::asio::read_until(socket, buffer, "\r\n\r\n", ec);
        socket.close(ec);
        ++dropped;
      }
    });
  }
  ~DroppingServer() {
    // Wake the blocking accept() with one last connection, then let the thread end.
    stopping = true;
    boost::system::error_code ec;
    boost::asio::io_context poke_io;
    boost::asio::ip::tcp::socket poke(poke_io);
    poke.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
    thread.join();
  }
};

nlohmann::json Seen(const HttpResponse& response) {
  INFO(response.error);
  REQUIRE(response.ok());
  return nlohmann::json::parse(response.body);
}

std::string SeenHeader(const nlohmann::json& seen, const std::string& lower_name) {
  for (const auto& pair : seen["headers"])
    if (pair[0] == lower_name) return pair[1];
  return "<absent>";
}

}  // namespace

// ---- HttpClient ---------------------------------------------------------------------

TEST_CASE("HttpClient reuses one keep-alive connection for sequential requests", "[sdk][http]") {
  LoopbackServer server;
  HttpClient client;
  for (int i = 0; i < 20; ++i) {
    HttpRequest request;
    request.url = server.Url("/echo?i=" + std::to_string(i));
    const auto response = client.Perform(request);
    INFO(response.error);
    REQUIRE(response.ok());
    REQUIRE(response.status == 200);
    REQUIRE(response.sent);
    REQUIRE(Seen(response)["target"] == "/echo?i=" + std::to_string(i));
  }
  CHECK(client.connections_opened() == 1);
  CHECK(server.accepted() == 1);

  // With no easy handle kept, every call uses a new handle: the connection still
  // carries over, through the shared connection cache.
  HttpClientOptions no_pool;
  no_pool.max_idle_handles = 0;
  HttpClient fresh_handles(no_pool);
  for (int i = 0; i < 5; ++i) {
    HttpRequest request;
    request.url = server.Url("/echo");
    REQUIRE(fresh_handles.Perform(request).status == 200);
  }
  CHECK(fresh_handles.connections_opened() == 1);
  CHECK(server.accepted() == 2);
}

TEST_CASE("HttpClient shares connections between threads", "[sdk][http]") {
  LoopbackServer server;
  HttpClient client;
  // More callers than curl's default cache of 5 idle connections (CURLOPT_MAXCONNECTS):
  // the client raises it, so none of them is closed and reopened.
  constexpr int kThreads = 12;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        HttpRequest request;
        request.url = server.Url("/echo");
        if (client.Perform(request).status == 200) ++ok;
      }
    });
  for (auto& thread : threads) thread.join();
  CHECK(ok == kThreads * 10);
  // At most one connection per concurrent caller, each reused for its next calls.
  CHECK(client.connections_opened() <= kThreads);
  CHECK(server.accepted() <= static_cast<std::uint64_t>(kThreads));
  // A later call on this thread picks up a connection another thread opened.
  HttpRequest request;
  request.url = server.Url("/echo");
  REQUIRE(client.Perform(request).ok());
  CHECK(client.connections_opened() <= kThreads);
}

TEST_CASE("HttpClient sends method, headers and body as given", "[sdk][http]") {
  LoopbackServer server;
  HttpClient client;

  HttpRequest post;
  post.method = "POST";
  post.url = server.Url("/echo");
  post.headers = {{"X-BAPI-SIGN", "abc123"}, {"Content-Type", "application/json"}};
  post.body = R"({"category":"spot","qty":"0.01"})";
  auto seen = Seen(client.Perform(post));
  CHECK(seen["method"] == "POST");
  CHECK(seen["body"] == post.body);
  CHECK(SeenHeader(seen, "x-bapi-sign") == "abc123");
  CHECK(SeenHeader(seen, "content-type") == "application/json");
  CHECK(SeenHeader(seen, "expect") == "<absent>");

  // No Content-Type of our own when the caller gave none (curl would add a form type).
  HttpRequest form = post;
  form.headers = {{"X-MBX-APIKEY", "key"}};
  form.body = "symbol=BTCUSDT&signature=ff";
  seen = Seen(client.Perform(form));
  CHECK(seen["body"] == form.body);
  CHECK(SeenHeader(seen, "content-type") == "<absent>");
  CHECK(SeenHeader(seen, "x-mbx-apikey") == "key");

  HttpRequest del;
  del.method = "DELETE";
  del.url = server.Url("/echo?orderId=1");
  seen = Seen(client.Perform(del));
  CHECK(seen["method"] == "DELETE");
  CHECK(seen["target"] == "/echo?orderId=1");
  CHECK(seen["body"] == "");

  HttpRequest put;
  put.method = "PUT";
  put.url = server.Url("/echo");
  put.body = "listenKey=abc";
  seen = Seen(client.Perform(put));
  CHECK(seen["method"] == "PUT");
  CHECK(seen["body"] == "listenKey=abc");
  CHECK(client.connections_opened() == 1);
}

TEST_CASE("HttpClient response headers are found whatever their case", "[sdk][http]") {
  LoopbackServer server;
  HttpClient client;
  HttpRequest request;
  request.url = server.Url("/echo");
  const auto response = client.Perform(request);
  REQUIRE(response.ok());
  CHECK(response.Header("x-bapi-limit-status") == "42");
  CHECK(response.Header("X-BAPI-LIMIT-STATUS") == "42");
  CHECK(response.Header("x-mbx-used-weight-1m") == "7");
  CHECK(response.Header("X-Absent") == "");
}

TEST_CASE("HttpClient passes HTTP error statuses through as transport successes", "[sdk][http]") {
  LoopbackServer server;
  HttpClient client;
  HttpRequest request;
  request.url = server.Url("/status?code=429");
  const auto response = client.Perform(request);
  CHECK(response.ok());
  CHECK(response.status == 429);
  CHECK(response.body == "{}");
  request.url = server.Url("/status?code=503");
  CHECK(client.Perform(request).status == 503);
}

TEST_CASE("HttpClient timeout is RequestTimeout and may have been sent", "[sdk][http]") {
  LoopbackServer server;
  HttpClient client;
  HttpRequest request;
  request.url = server.Url("/slow");
  request.timeout = 300ms;
  const auto response = client.Perform(request);
  CHECK(response.error_class == "RequestTimeout");
  CHECK(response.sent);
  CHECK(response.status == 0);
  CHECK(response.error.find("127.0.0.1") != std::string::npos);
  CHECK(response.error.find("/slow") != std::string::npos);
  CHECK(server.held_count() == 1);  // the server did receive it
  CHECK(response.elapsed < 10s);    // bounded, not hung
}

TEST_CASE("HttpClient connect refused is ExchangeNotAvailable, not sent", "[sdk][http]") {
  std::uint16_t closed_port = 0;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    closed_port = acceptor.local_endpoint().port();
  }
  HttpClient client;
  HttpRequest request;
  request.url = "http://127.0.0.1:" + std::to_string(closed_port) + "/v5/order/create?x=secret";
  const auto response = client.Perform(request);
  CHECK(response.error_class == "ExchangeNotAvailable");
  CHECK_FALSE(response.sent);
  CHECK(response.error.find("/v5/order/create") != std::string::npos);
  CHECK(response.error.find("secret") == std::string::npos);  // no query in messages
  CHECK(client.connections_opened() == 0);
}

TEST_CASE("HttpClient connection dropped after sending is NetworkError, sent", "[sdk][http]") {
  DroppingServer dropping;
  HttpClient client;
  HttpRequest request;
  request.method = "POST";
  request.url = "http://127.0.0.1:" + std::to_string(dropping.port) + "/v5/order/create";
  request.body = "{}";
  const auto response = client.Perform(request);
  CHECK(response.error_class == "NetworkError");
  CHECK(response.sent);
  CHECK(dropping.dropped >= 1);
}

TEST_CASE("HttpClient refuses bodies over the limit and unusable URLs", "[sdk][http]") {
  LoopbackServer server;
  HttpClientOptions options;
  options.max_response_bytes = 16 * 1024;
  HttpClient client(options);
  HttpRequest request;
  request.url = server.Url("/big?n=1000");
  auto response = client.Perform(request);
  REQUIRE(response.ok());
  CHECK(response.body.size() == 1000);

  request.url = server.Url("/big?n=65536");
  response = client.Perform(request);
  CHECK(response.error_class == "BadResponse");
  CHECK(response.sent);
  CHECK(response.body.empty());

  request.url = "bogus://127.0.0.1/x";
  response = client.Perform(request);
  CHECK(response.error_class == "BadRequest");
  CHECK_FALSE(response.sent);
}

// ---- signing ------------------------------------------------------------------------

TEST_CASE("HMAC-SHA256 and SHA-256 match the published vectors", "[sdk][signing]") {
  // RFC 4231 section 4 (HMAC-SHA-256 results).
  CHECK(HmacSha256Hex(std::string(20, '\x0b'), "Hi There") ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(HmacSha256Hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(HmacSha256Hex(std::string(20, '\xaa'), std::string(50, '\xdd')) ==
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  std::string key4;
  for (char c = 1; c <= 25; ++c) key4 += c;
  CHECK(HmacSha256Hex(key4, std::string(50, '\xcd')) ==
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  CHECK(HmacSha256Hex(std::string(131, '\xaa'),
                      "Test Using Larger Than Block-Size Key - Hash Key First") ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  CHECK(HmacSha256Hex(std::string(131, '\xaa'),
                      "This is a test using a larger than block-size key and a larger than "
                      "block-size data. The key needs to be hashed before being used by the "
                      "HMAC algorithm.") ==
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
  // Binance's documented example (binance-spot-api-docs, "SIGNED Endpoint Examples").
  CHECK(HmacSha256Hex("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
                      "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&"
                      "recvWindow=5000&timestamp=1499827319559") ==
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71");
  CHECK(HmacSha256Hex("", "") ==
        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  // FIPS 180-2 "abc", and the empty message.
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("URL encoding like encodeURIComponent and like CCXT's urlencode", "[sdk][signing]") {
  const std::string text = "a b!'()*~-_.é/&=+:";
  // encodeURIComponent("a b!'()*~-_.é/&=+:") in JavaScript.
  CHECK(EncodeUriComponent(text) == "a%20b!'()*~-_.%C3%A9%2F%26%3D%2B%3A");
  // qs.stringify (CCXT's urlencode): RFC 3986 unreserved characters only.
  CHECK(UrlEncode(text) == "a%20b%21%27%28%29%2A~-_.%C3%A9%2F%26%3D%2B%3A");
  CHECK(BuildQuery({{"symbol", "BTC/USDT"}, {"qty", "0.01"}, {"a b", "x&y"}}) ==
        "symbol=BTC%2FUSDT&qty=0.01&a%20b=x%26y");
  CHECK(BuildQuery({{"symbol", "BTC/USDT"}, {"qty", "0.01"}}, false) == "symbol=BTC/USDT&qty=0.01");
  CHECK(BuildQuery({}) == "");
}

TEST_CASE("ScalarText and JsonStringify write numbers as JavaScript does", "[sdk][signing]") {
  using nlohmann::json;
  // Expected values printed by Node: String(x) and JSON.stringify(...).
  CHECK(ScalarText(json(0.1)) == "0.1");
  CHECK(ScalarText(json(1e-7)) == "1e-7");
  CHECK(ScalarText(json(1.5e-7)) == "1.5e-7");
  CHECK(ScalarText(json(0.000001)) == "0.000001");
  CHECK(ScalarText(json(65000.0)) == "65000");
  CHECK(ScalarText(json(0.1 + 0.2)) == "0.30000000000000004");
  CHECK(ScalarText(json(1e21)) == "1e+21");
  CHECK(ScalarText(json(123456789012345680000.0)) == "123456789012345680000");
  CHECK(ScalarText(json(-1.5e300)) == "-1.5e+300");
  CHECK(ScalarText(json(-0.0)) == "0");
  CHECK(ScalarText(json(42)) == "42");
  CHECK(ScalarText(json(-7)) == "-7");
  CHECK(ScalarText(json(true)) == "true");
  CHECK(ScalarText(json("BTCUSDT")) == "BTCUSDT");
  CHECK(ScalarText(json(nullptr)) == "");

  nlohmann::ordered_json body;
  body["b"] = 1.5;
  body["a"] = nlohmann::ordered_json::array({1e-7, "x\x01\"\\\n"});
  body["c"] = nullptr;
  body["d"] = true;
  body["e"] = 1e21;
  CHECK(JsonStringify(body) == R"({"b":1.5,"a":[1e-7,"x\u0001\"\\\n"],"c":null,"d":true,"e":1e+21})");

  nlohmann::ordered_json params;
  params["symbol"] = "BTCUSDT";
  params["qty"] = 0.01;
  params["reduceOnly"] = false;
  params["orders"] = nlohmann::ordered_json::array({nlohmann::ordered_json{{"p", 1}}});
  const Params expected{{"symbol", "BTCUSDT"}, {"qty", "0.01"}, {"reduceOnly", "false"},
                        {"orders", R"([{"p":1}])"}};
  CHECK(ToParams(params) == expected);
}

// ---- RateLimiter --------------------------------------------------------------------

TEST_CASE("RateLimiter takes weight, waits for refill, refuses past max_wait", "[sdk][limits]") {
  RateLimiter limiter;
  limiter.Define("ip", {10, 1000ms});
  for (int i = 0; i < 10; ++i) REQUIRE(limiter.Acquire("ip", 1, 0ms));
  CHECK(limiter.waits() == 0);
  CHECK(limiter.Available("ip") < 1);
  CHECK_FALSE(limiter.Acquire("ip", 1, 0ms));  // empty and not allowed to wait
  CHECK(limiter.refusals() == 1);
  CHECK_FALSE(limiter.Acquire("ip", 5, 100ms));  // needs ~500 ms of refill
  CHECK(limiter.refusals() == 2);
  CHECK(limiter.Acquire("ip", 2, 20s));  // waits ~200 ms for its share
  CHECK(limiter.waits() == 1);
  CHECK(limiter.refusals() == 2);
  // Undeclared keys are unlimited.
  for (int i = 0; i < 100; ++i) REQUIRE(limiter.Acquire("other", 1000, 0ms));
  CHECK(std::isinf(limiter.Available("other")));
}

TEST_CASE("RateLimiter serves waiters in arrival order", "[sdk][limits]") {
  RateLimiter limiter;
  limiter.Define("orders", {1, 250ms});
  REQUIRE(limiter.Acquire("orders", 1, 0ms));
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      if (limiter.Acquire("orders", 1, 30s)) {
        std::lock_guard lock(mu);
        order.push_back(i);
      }
    });
    // The next caller arrives only once this one has queued (counted as a wait).
    REQUIRE(Eventually([&] { return limiter.waits() == static_cast<std::uint64_t>(i + 1); }));
  }
  for (auto& thread : threads) thread.join();
  CHECK(order == std::vector<int>{0, 1, 2, 3});
}

TEST_CASE("RateLimiter ObserveUsed lowers the bucket, never raises it", "[sdk][limits]") {
  RateLimiter limiter;
  limiter.Define("weight", {1200, 60000ms});
  REQUIRE(limiter.Available("weight") > 1199);
  limiter.ObserveUsed("weight", 1195, 1200);  // the exchange counted more than we did
  CHECK(limiter.Available("weight") < 6);
  CHECK_FALSE(limiter.Acquire("weight", 10, 0ms));
  CHECK(limiter.Acquire("weight", 5, 0ms));
  const double before = limiter.Available("weight");
  limiter.ObserveUsed("weight", 0, 1200);  // a lower count does not hand out more
  CHECK(limiter.Available("weight") <= before + 1);
  limiter.ObserveUsed("undeclared", 10, 20);  // ignored
  CHECK(std::isinf(limiter.Available("undeclared")));
}

TEST_CASE("RateLimiter BlockUntil holds every caller of the key until then", "[sdk][limits]") {
  RateLimiter limiter;
  limiter.Define("ip", {100, 1000ms});
  const auto until = RateLimiter::Clock::now() + 300ms;
  limiter.BlockUntil("ip", until);
  CHECK(limiter.Available("ip") == 0);
  CHECK_FALSE(limiter.Acquire("ip", 1, 0ms));
  CHECK(limiter.Acquire("ip", 1, 20s));
  CHECK(RateLimiter::Clock::now() >= until);

  // Undeclared keys can be blocked too (a 429 on a key with no published limit).
  const auto later = RateLimiter::Clock::now() + 200ms;
  limiter.BlockUntil("misc", later);
  CHECK_FALSE(limiter.Acquire("misc", 1, 0ms));
  CHECK(limiter.Acquire("misc", 1, 20s));
  CHECK(RateLimiter::Clock::now() >= later);
}

TEST_CASE("RateLimiter BlockUntil reaches callers already waiting", "[sdk][limits]") {
  RateLimiter limiter;
  limiter.Define("ip", {1, 1000ms});
  REQUIRE(limiter.Acquire("ip", 1, 0ms));
  std::atomic<bool> done{false};
  RateLimiter::Clock::time_point returned_at;
  std::thread waiter([&] {
    REQUIRE(limiter.Acquire("ip", 1, 30s));
    returned_at = RateLimiter::Clock::now();
    done = true;
  });
  REQUIRE(Eventually([&] { return limiter.waits() == 1; }));
  // Its turn comes ~1 s after it queued; the block ends later than that.
  const auto until = RateLimiter::Clock::now() + 1500ms;
  limiter.BlockUntil("ip", until);
  waiter.join();
  CHECK(done);
  CHECK(returned_at >= until);

  // A block past a waiter's max_wait refuses it (and gives its weight back).
  limiter.Define("slow", {1, 10000ms});
  REQUIRE(limiter.Acquire("slow", 1, 0ms));
  std::atomic<int> refused{0};
  std::thread impatient([&] {
    if (!limiter.Acquire("slow", 1, 20s)) ++refused;
  });
  REQUIRE(Eventually([&] { return limiter.waits() == 2; }));
  limiter.BlockUntil("slow", RateLimiter::Clock::now() + 60s);
  impatient.join();
  CHECK(refused == 1);
  CHECK(limiter.refusals() == 1);
}

// ---- ServerClock --------------------------------------------------------------------

TEST_CASE("ServerClock measures once, then refreshes in the background", "[sdk][clock]") {
  std::atomic<std::int64_t> local{1'700'000'000'000};
  std::atomic<std::int64_t> server_ahead{5000};
  std::atomic<std::int64_t> round_trip{100};
  std::atomic<int> fetches{0};
  ServerClock clock(
      [&]() -> std::optional<std::int64_t> {
        ++fetches;
        // The server reads its clock halfway through the round trip.
        const std::int64_t sent = local;
        local += round_trip;
        return sent + round_trip / 2 + server_ahead;
      },
      std::chrono::seconds(300), [&] { return local.load(); });

  const std::int64_t first = clock.NowMs();  // the first call measures synchronously
  CHECK(first == local + 5000);
  CHECK(fetches == 1);
  CHECK(clock.offset_ms() == 5000);
  for (int i = 0; i < 10; ++i) clock.NowMs();
  CHECK(fetches == 1);

  server_ahead = -2000;
  round_trip = 0;    // local stays still while the background fetch runs
  local += 300'000;  // the refresh is due
  const std::int64_t answer = clock.NowMs();
  CHECK((answer == local + 5000 || answer == local - 2000));  // the caller did not wait
  REQUIRE(Eventually([&] { return clock.offset_ms() == -2000; }));
  CHECK(fetches == 2);
  const std::int64_t refreshed = clock.NowMs();
  CHECK(refreshed == local - 2000);
  CHECK(fetches == 2);
}

TEST_CASE("ServerClock Invalidate measures again before answering", "[sdk][clock]") {
  std::atomic<std::int64_t> local{1'000'000};
  std::atomic<std::int64_t> server_ahead{700};
  std::atomic<int> fetches{0};
  ServerClock clock(
      [&]() -> std::optional<std::int64_t> {
        ++fetches;
        return local + server_ahead;
      },
      std::chrono::seconds(300), [&] { return local.load(); });
  const std::int64_t first = clock.NowMs();
  CHECK(first == local + 700);
  server_ahead = 1500;  // the exchange says our timestamp is out of its window
  clock.Invalidate();
  const std::int64_t again = clock.NowMs();
  CHECK(again == local + 1500);
  CHECK(fetches == 2);
}

TEST_CASE("ServerClock survives failed fetches and honours a fixed offset", "[sdk][clock]") {
  std::atomic<std::int64_t> local{1'000'000};
  std::atomic<bool> up{false};
  std::atomic<int> fetches{0};
  ServerClock clock(
      [&]() -> std::optional<std::int64_t> {
        ++fetches;
        if (!up) return std::nullopt;
        return local + 250;
      },
      std::chrono::seconds(300), [&] { return local.load(); });
  CHECK(clock.NowMs() == local);  // no offset known: local time
  CHECK(fetches == 1);
  CHECK(clock.NowMs() == local);  // no second synchronous wait
  CHECK(fetches == 1);
  up = true;
  local += 10'000;  // retried sooner than a full refresh after a failure
  clock.NowMs();
  REQUIRE(Eventually([&] { return clock.offset_ms() == 250; }));

  std::atomic<int> never{0};
  ServerClock fixed([&]() -> std::optional<std::int64_t> { ++never; return 0; },
                    std::chrono::seconds(1), [&] { return local.load(); });
  fixed.SetFixedOffset(-30);
  CHECK(fixed.NowMs() == local - 30);
  local += 100'000;
  CHECK(fixed.NowMs() == local - 30);
  fixed.Invalidate();
  CHECK(fixed.NowMs() == local - 30);
  CHECK(never == 0);
}

// ---- ErrorMap -----------------------------------------------------------------------

TEST_CASE("ErrorMap classifies by exact code, exact message, then broad text", "[sdk][errors]") {
  const ErrorMap map({{"10003", "AuthenticationError"},
                      {"110001", "OrderNotFound"},
                      {"Order does not exist", "OrderNotFound"}},
                     {{"Too many visits", "RateLimitExceeded"},
                      {"Insufficient", "InsufficientFunds"},
                      {"Insufficient balance", "ExchangeError"}});
  CHECK(map.Classify("10003", "API key is invalid.") == "AuthenticationError");
  CHECK(map.Classify("110001", "Too many visits") == "OrderNotFound");  // code wins
  CHECK(map.Classify("99999", "Order does not exist") == "OrderNotFound");
  CHECK(map.Classify("99999", "Too many visits! Slow down") == "RateLimitExceeded");
  CHECK(map.Classify("", "Insufficient balance") == "InsufficientFunds");  // first broad rule
  CHECK(map.Classify("12345", "something else") == "ExchangeError");
  CHECK(map.Classify("12345", "something else", "BadRequest") == "BadRequest");
  CHECK(map.Classify("", "") == "ExchangeError");

  CHECK(ErrorMap::ForHttpStatus(200) == "");
  CHECK(ErrorMap::ForHttpStatus(302) == "");
  CHECK(ErrorMap::ForHttpStatus(429) == "RateLimitExceeded");
  CHECK(ErrorMap::ForHttpStatus(418) == "DDoSProtection");
  CHECK(ErrorMap::ForHttpStatus(401) == "AuthenticationError");
  CHECK(ErrorMap::ForHttpStatus(403) == "PermissionDenied");
  CHECK(ErrorMap::ForHttpStatus(404) == "BadRequest");
  CHECK(ErrorMap::ForHttpStatus(408) == "RequestTimeout");
  CHECK(ErrorMap::ForHttpStatus(504) == "RequestTimeout");
  CHECK(ErrorMap::ForHttpStatus(500) == "ExchangeNotAvailable");
  CHECK(ErrorMap::ForHttpStatus(503) == "ExchangeNotAvailable");
  CHECK(ErrorMap::ForHttpStatus(400) == "BadRequest");
  CHECK(ErrorMap::ForHttpStatus(422) == "BadRequest");
}

// ---- precision ----------------------------------------------------------------------

TEST_CASE("ToPrecision matches CCXT's decimalToPrecision in TICK_SIZE mode", "[sdk][precision]") {
  struct Case {
    const char* value;
    Rounding rounding;
    const char* step;
    const char* expected;
  };
  // ccxt/ccxt ts/src/test/base/functions/test.number.ts, "testDecimalToPrecisionRounding-
  // ToTickSize" (NO_PADDING; the two PAD_WITH_ZERO cases without their padding).
  const Rounding R = Rounding::kRound, T = Rounding::kTruncate;
  const Case cases[] = {
      {"0.000123456700", R, "0.00012", "0.00012"},
      {"0.0001234567", R, "0.00013", "0.00013"},
      {"0.0001234567", T, "0.00013", "0"},
      {"101.000123456700", R, "100", "100"},
      {"0.000123456700", R, "100", "0"},
      {"165", T, "110", "110"},
      {"3210", T, "1110", "2220"},
      {"165", R, "110", "220"},
      {"0.000123456789", R, "0.00000012", "0.00012348"},
      {"0.000123456789", T, "0.00000012", "0.00012336"},
      {"0.000273398", R, "1e-7", "0.0002734"},
      {"0.00005714", T, "0.00000001", "0.00005714"},
      {"0.01", R, "0.0001", "0.01"},
      {"0.01", T, "0.0001", "0.01"},
      {"-0.000123456789", R, "0.00000012", "-0.00012348"},
      {"-0.000123456789", T, "0.00000012", "-0.00012336"},
      {"-165", T, "110", "-110"},
      {"-165", R, "110", "-220"},
      {"-1650", T, "1100", "-1100"},
      {"-1650", R, "1100", "-2200"},
      {"0.0006", T, "0.0001", "0.0006"},
      {"-0.0006", T, "0.0001", "-0.0006"},
      {"0.6", T, "0.2", "0.6"},
      {"-0.6", T, "0.2", "-0.6"},
      {"1.2", R, "0.4", "1.2"},
      {"-1.2", R, "0.4", "-1.2"},
      {"1.2", R, "0.02", "1.2"},
      {"-1.2", R, "0.02", "-1.2"},
      {"44", R, "4.4", "44"},
      {"-44", R, "4.4", "-44"},
      {"44.00000001", R, "4.4", "44"},
      {"-44.00000001", R, "4.4", "-44"},
      {"20", T, "0.00000001", "20"},
  };
  for (const auto& c : cases) {
    INFO(c.value << (c.rounding == R ? " ROUND " : " TRUNCATE ") << c.step);
    CHECK(ToPrecision(std::stod(c.value), c.step, c.rounding) == c.expected);
  }
}

TEST_CASE("Amounts truncate and prices round to the step, float noise absorbed", "[sdk][precision]") {
  CHECK(AmountToPrecision(1.23456789, "0.001") == "1.234");
  CHECK(AmountToPrecision(0.3 - 0.1, "0.1") == "0.2");  // 0.19999999999999998
  CHECK(AmountToPrecision(0.1 * 3, "0.1") == "0.3");    // 0.30000000000000004
  CHECK(AmountToPrecision(0.0009, "0.001") == "0");
  CHECK(AmountToPrecision(12, "5") == "10");
  CHECK(AmountToPrecision(1e-7, "1e-8") == "0.0000001");
  CHECK(PriceToPrecision(65000.05, "0.1") == "65000.1");  // half away from zero
  CHECK(PriceToPrecision(65000.04, "0.1") == "65000");
  CHECK(PriceToPrecision(0.1 + 0.2, "0.01") == "0.3");
  CHECK(PriceToPrecision(27123.456, "0.50") == "27123.5");
  CHECK(PriceToPrecision(0, "0.01") == "0");
}

TEST_CASE("DecimalText and StepDecimals never use exponents", "[sdk][precision]") {
  // ccxt/ccxt test.number.ts numberToString cases.
  CHECK(DecimalText(-7.8e-7) == "-0.00000078");
  CHECK(DecimalText(7.8e-7) == "0.00000078");
  CHECK(DecimalText(-17.805e-7) == "-0.0000017805");
  CHECK(DecimalText(7.0005e27) == "7000500000000000000000000000");
  CHECK(DecimalText(-7.9e27) == "-7900000000000000000000000000");
  CHECK(DecimalText(7.35946e21) == "7359460000000000000000");
  CHECK(DecimalText(-12.345) == "-12.345");
  CHECK(DecimalText(0) == "0");
  CHECK(DecimalText(-0.0) == "0");
  CHECK(DecimalText(1e-7) == "0.0000001");
  CHECK(DecimalText(0.00000001) == "0.00000001");
  CHECK(DecimalText(65000) == "65000");
  CHECK(DecimalText(0.1 + 0.2) == "0.30000000000000004");

  CHECK(StepDecimals("0.001") == 3);
  CHECK(StepDecimals("0.00100") == 3);
  CHECK(StepDecimals("1") == 0);
  CHECK(StepDecimals("5") == 0);
  CHECK(StepDecimals("10") == 0);
  CHECK(StepDecimals("1e-8") == 8);
  CHECK(StepDecimals("1.5e-7") == 8);
  CHECK(StepDecimals("0.5") == 1);
}
