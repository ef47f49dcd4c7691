// The connector SDK's stream side (plugins/include/ami/plugin/net): WsClient against a
// loopback WebSocket server built on the gateway's own HttpServer (plain and TLS), the
// StreamHub's watch* semantics, the OrderBook's sequence checks, and ConnectorBase's
// asynchronous path (CallAsync -> Watch) with a small connector completing from its own
// thread.
// Longer than the usual 600 lines: the four parts share the loopback server and the
// completion recorder, and sdk.cmake keeps one test binary per side of the SDK.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>

#include "ami/plugin/connector_base.h"
#include "ami/plugin/net/order_book.h"
#include "ami/plugin/net/stream_hub.h"
#include "ami/plugin/net/ws_client.h"
#include "gateway/http_server.h"
#include "tests/support/test_support.h"
#include "transport/credentials.h"

using namespace ami;
using namespace std::chrono_literals;
using ami::test::Eventually;
using ami::test::StaysFalse;
namespace pl = ami::plugin;
namespace pn = ami::plugin::net;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// ---- a loopback WebSocket server -------------------------------------------------------

struct ServerSide {
  std::mutex mu;
  std::vector<std::shared_ptr<gateway::WebSocketPeer>> peers;   // guarded by mu
  std::vector<std::string> messages;                            // guarded by mu
  std::vector<std::string> targets;                             // guarded by mu
  std::atomic<int> opens{0};
  std::atomic<int> closes{0};
  std::atomic<bool> drop_on_open{false};   // close every socket as soon as it opens

  std::shared_ptr<gateway::WebSocketPeer> last_peer() {
    std::lock_guard lock(mu);
    return peers.empty() ? nullptr : peers.back();
  }
  int count(const std::string& text) {
    std::lock_guard lock(mu);
    return static_cast<int>(std::count(messages.begin(), messages.end(), text));
  }
};

class WsServer {
 public:
  explicit WsServer(gateway::ServerOptions options = {}) {
    options.host = "127.0.0.1";
    options.websocket_ping = 60s;   // the server stays silent unless a test speaks
    auto side = side_;
    auto started = gateway::HttpServer::Start(std::move(options), [side](gateway::HttpRequest request, gateway::Respond respond) {
      gateway::HttpResponse reply;
      if (!request.websocket_upgrade) {
        reply.status = 404;
        return respond(std::move(reply));
      }
      {
        std::lock_guard lock(side->mu);
        side->targets.push_back(request.target);
      }
      auto accept = std::make_shared<gateway::WebSocketAccept>();
      accept->on_open = [side](std::shared_ptr<gateway::WebSocketPeer> peer) {
        {
          std::lock_guard lock(side->mu);
          side->peers.push_back(peer);
        }
        ++side->opens;
        if (side->drop_on_open) peer->Close(1001, "going away");
      };
      accept->on_message = [side](std::string text) {
        std::lock_guard lock(side->mu);
        side->messages.push_back(std::move(text));
      };
      accept->on_close = [side] { ++side->closes; };
      reply.websocket = accept;
      respond(std::move(reply));
    });
    INFO(started.status().message());
    REQUIRE(started.ok());
    server_ = std::move(*started);
  }
  uint16_t port() const { return server_->port(); }
  std::string url(const std::string& path = "/stream") const {
    return std::string(server_->tls() ? "wss" : "ws") + "://127.0.0.1:" + std::to_string(port()) + path;
  }
  ServerSide& side() { return *side_; }
  void Stop() { server_->Stop(); }

 private:
  std::shared_ptr<ServerSide> side_ = std::make_shared<ServerSide>();
  std::unique_ptr<gateway::HttpServer> server_;
};

// ---- what a WsClient's callbacks saw ---------------------------------------------------

struct ClientEvents {
  std::mutex mu;
  std::vector<std::string> messages;          // guarded by mu
  std::vector<std::string> closes;            // guarded by mu
  std::vector<Clock::time_point> open_times;  // guarded by mu
  std::vector<Clock::time_point> close_times; // guarded by mu
  std::atomic<int> opens{0};
  std::atomic<int> close_count{0};
  std::atomic<int> message_count{0};

  pn::WsCallbacks Callbacks(std::function<void()> also_on_open = nullptr) {
    pn::WsCallbacks cb;
    cb.on_open = [this, also_on_open] {
      {
        std::lock_guard lock(mu);
        open_times.push_back(Clock::now());
      }
      ++opens;
      if (also_on_open) also_on_open();
    };
    cb.on_message = [this](const std::string& text) {
      std::lock_guard lock(mu);
      messages.push_back(text);
      ++message_count;
    };
    cb.on_close = [this](const std::string& why) {
      std::lock_guard lock(mu);
      closes.push_back(why);
      close_times.push_back(Clock::now());
      ++close_count;
    };
    return cb;
  }
  bool got(const std::string& text) {
    std::lock_guard lock(mu);
    return std::find(messages.begin(), messages.end(), text) != messages.end();
  }
  std::string close_reasons() {
    std::lock_guard lock(mu);
    std::string out;
    for (const auto& c : closes) out += c + "\n";
    return out;
  }
};

pn::WsClientOptions Options(const std::string& url) {
  pn::WsClientOptions o;
  o.url = url;
  o.initial_backoff = 20ms;
  o.max_backoff = 160ms;
  o.name = "test";
  return o;
}

// Each delay after the k-th consecutive failure (k from 0) is at least half its step,
// min(initial * 2^k, max): equal jitter never goes below that.
void CheckBackoffGaps(const std::vector<Clock::time_point>& times) {
  for (std::size_t k = 0; k + 1 < times.size(); ++k) {
    const auto step = std::min<std::int64_t>(20 << std::min<std::size_t>(k, 10), 160);
    const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(times[k + 1] - times[k]).count();
    INFO("gap " << k << " = " << gap << " ms, step " << step);
    CHECK(gap >= step / 2);
  }
}

}  // namespace

// ======================================================================================
// WsClient
// ======================================================================================

TEST_CASE("WsClient: messages both ways, Send from any thread, the URL's path and query reach the server", "[sdk][ws]") {
  WsServer server;
  ClientEvents events;
  pn::WsClient* self = nullptr;
  pn::WsClient client(Options(server.url("/v5/public/spot?x=1")), events.Callbacks([&] { self->Send("subscribe"); }));
  self = &client;
  CHECK_FALSE(client.Send("too early"));   // not connected: dropped, said so
  CHECK_FALSE(client.connected());
  client.Start();
  REQUIRE(Eventually([&] { return server.side().count("subscribe") == 1; }));
  CHECK(client.connected());
  CHECK(client.connects() == 1);
  {
    std::lock_guard lock(server.side().mu);
    CHECK(server.side().targets == std::vector<std::string>{"/v5/public/spot?x=1"});
  }
  auto peer = server.side().last_peer();
  REQUIRE(peer);
  CHECK(peer->Send(R"({"topic":"tickers.BTCUSDT"})"));
  CHECK(peer->Send("second"));
  REQUIRE(Eventually([&] { return events.message_count == 2; }));
  {
    std::lock_guard lock(events.mu);
    CHECK(events.messages == std::vector<std::string>{R"({"topic":"tickers.BTCUSDT"})", "second"});
  }
  CHECK(client.Send("from the test thread"));
  std::thread other([&] { CHECK(client.Send("from another thread")); });
  other.join();
  CHECK(Eventually([&] {
    return server.side().count("from the test thread") == 1 && server.side().count("from another thread") == 1;
  }));
  CHECK(events.close_count == 0);
  CHECK(server.side().opens == 1);
}

TEST_CASE("WsClient: reconnects after the server drops the socket; on_open runs again", "[sdk][ws]") {
  auto server = std::make_unique<WsServer>();
  ClientEvents events;
  pn::WsClient* self = nullptr;
  pn::WsClient client(Options(server->url()), events.Callbacks([&] { self->Send("subscribe"); }));
  self = &client;
  client.Start();
  REQUIRE(Eventually([&] { return server->side().count("subscribe") == 1; }));

  // A closing handshake from the server.
  server->side().last_peer()->Close(1001, "restarting");
  REQUIRE(Eventually([&] { return server->side().count("subscribe") == 2; }));
  CHECK(client.connects() == 2);
  CHECK(events.opens == 2);
  CHECK(events.close_count == 1);
  CHECK_THAT(events.close_reasons(), Catch::Contains("test: closed by the server (1001 restarting)"));
  CHECK(client.connected());

  // No handshake at all: the server goes away, then comes back on the same port.
  const uint16_t port = server->port();
  server.reset();
  REQUIRE(Eventually([&] { return events.close_count == 2; }));
  CHECK_FALSE(client.connected());
  gateway::ServerOptions same_port;
  same_port.port = port;
  server = std::make_unique<WsServer>(same_port);
  REQUIRE(Eventually([&] { return server->side().count("subscribe") == 1; }));
  CHECK(client.connects() == 3);
  CHECK(client.connected());
}

TEST_CASE("WsClient: the back-off grows while the server keeps dropping, and for a refused port", "[sdk][ws]") {
  SECTION("accepted, then dropped at once") {
    WsServer server;
    server.side().drop_on_open = true;
    ClientEvents events;
    pn::WsClient client(Options(server.url()), events.Callbacks());
    client.Start();
    REQUIRE(Eventually([&] { return events.opens >= 7; }));
    client.Stop();
    std::lock_guard lock(events.mu);
    CheckBackoffGaps(events.open_times);
  }
  SECTION("connection refused") {
    uint16_t port = 0;
    {
      WsServer gone;   // a port that was just free, and is again
      port = gone.port();
    }
    ClientEvents events;
    pn::WsClient client(Options("ws://127.0.0.1:" + std::to_string(port) + "/"), events.Callbacks());
    client.Start();
    REQUIRE(Eventually([&] { return events.close_count >= 7; }));
    client.Stop();
    CHECK(client.connects() == 0);
    CHECK(events.opens == 0);
    CHECK_THAT(events.close_reasons(), Catch::Contains("test: connect 127.0.0.1:" + std::to_string(port)));
    std::lock_guard lock(events.mu);
    CheckBackoffGaps(events.close_times);
  }
}

TEST_CASE("WsClient: keep-alive by ping text or ping frames; a silent link is dropped", "[sdk][ws]") {
  WsServer server;
  SECTION("ping text") {
    auto options = Options(server.url());
    options.ping_interval = 30ms;
    options.ping_text = R"({"op":"ping"})";
    ClientEvents events;
    pn::WsClient client(options, events.Callbacks());
    client.Start();
    CHECK(Eventually([&] { return server.side().count(R"({"op":"ping"})") >= 3; }));
  }
  SECTION("ping frames: the server's pongs count as signs of life") {
    auto options = Options(server.url());
    options.ping_interval = 40ms;
    options.idle_timeout = 300ms;   // the server sends no message at all
    ClientEvents events;
    pn::WsClient client(options, events.Callbacks());
    client.Start();
    REQUIRE(Eventually([&] { return client.connected(); }));
    CHECK(StaysFalse([&] { return events.close_count > 0; }, 1500ms));
    CHECK(client.connects() == 1);
    CHECK(server.side().count("") == 0);   // frames, not text messages
  }
  SECTION("no pings, silence: dropped after idle_timeout, then reconnected") {
    auto options = Options(server.url());
    options.ping_interval = 0ms;
    options.idle_timeout = 200ms;
    ClientEvents events;
    pn::WsClient client(options, events.Callbacks());
    client.Start();
    REQUIRE(Eventually([&] { return client.connects() >= 2; }));
    CHECK_THAT(events.close_reasons(), Catch::Contains("test: nothing received for 200 ms"));
  }
}

TEST_CASE("WsClient: Stop closes and joins; no callback runs after it", "[sdk][ws]") {
  WsServer server;
  ClientEvents events;
  pn::WsClient client(Options(server.url()), events.Callbacks());
  client.Start();
  REQUIRE(Eventually([&] { return client.connected() && server.side().opens == 1; }));
  auto peer = server.side().last_peer();
  client.Stop();
  CHECK_FALSE(client.connected());
  CHECK_FALSE(client.Send("after stop"));
  const int messages = events.message_count, closes = events.close_count, opens = events.opens;
  CHECK(Eventually([&] { return server.side().closes == 1; }));   // the socket really closed
  peer->Send("late");
  CHECK(StaysFalse([&] {
    return events.message_count != messages || events.close_count != closes || events.opens != opens;
  }, 300ms));
  CHECK(closes == 0);   // Stop is not a drop: on_close is for drops
  client.Stop();        // idempotent
  client.Start();       // and final: no restart
  CHECK(StaysFalse([&] { return server.side().opens > 1; }, 300ms));

  SECTION("Stop during a long back-off returns at once") {
    auto options = Options("ws://127.0.0.1:1/");
    options.initial_backoff = 60s;
    ClientEvents waiting;
    pn::WsClient retrying(options, waiting.Callbacks());
    retrying.Start();
    REQUIRE(Eventually([&] { return waiting.close_count == 1; }));
    const auto t0 = Clock::now();
    retrying.Stop();
    CHECK(Clock::now() - t0 < 2s);
  }
  SECTION("the destructor stops, and Stop from a callback does not deadlock") {
    ClientEvents inner;
    auto holder = std::make_unique<pn::WsClient*>(nullptr);
    auto stopping = std::make_unique<pn::WsClient>(Options(server.url()), inner.Callbacks([&] { (*holder)->Stop(); }));
    *holder = stopping.get();
    stopping->Start();
    REQUIRE(Eventually([&] { return inner.opens == 1; }));
    CHECK(Eventually([&] { return !stopping->connected(); }));
    stopping.reset();
  }
  SECTION("Stop from a callback while another thread is in Stop: both return") {
    std::atomic<bool> in_callback{false}, main_stopping{false}, stopped{false};
    pn::WsClient* racing_ptr = nullptr;
    pn::WsCallbacks cb;
    cb.on_message = [&](const std::string&) {
      in_callback = true;
      Eventually([&] { return main_stopping.load(); }, 10s);
      std::this_thread::sleep_for(50ms);   // widen the window: the test thread is joining now
      racing_ptr->Stop();
    };
    pn::WsClient racing(Options(server.url()), cb);
    racing_ptr = &racing;
    racing.Start();
    REQUIRE(Eventually([&] { return server.side().opens == 2; }));
    server.side().last_peer()->Send("go");
    REQUIRE(Eventually([&] { return in_callback.load(); }));
    std::thread stopper([&] {
      main_stopping = true;
      racing.Stop();
      stopped = true;
    });
    const bool returned = Eventually([&] { return stopped.load(); }, 10s);
    if (returned) stopper.join();
    else stopper.detach();   // a deadlock: fail rather than hang
    REQUIRE(returned);
  }
}

TEST_CASE("WsClient: wss verifies the certificate by default; verify_tls false skips it", "[sdk][ws]") {
  test::TempDir dir;
  REQUIRE(transport::MakeLocalCredentials(dir / "tls", "s-0001").ok());
  const auto files = transport::NodeFilesIn(dir / "tls");
  gateway::ServerOptions tls;
  tls.tls_cert_file = files.cert_file;
  tls.tls_key_file = files.key_file;
  WsServer server(tls);
  REQUIRE(server.url().rfind("wss://", 0) == 0);

  SECTION("an unknown CA is refused") {
    ClientEvents events;
    pn::WsClient client(Options(server.url()), events.Callbacks());
    client.Start();
    REQUIRE(Eventually([&] { return events.close_count >= 1; }));
    CHECK_THAT(events.close_reasons(), Catch::Contains("TLS handshake") && Catch::Contains("certificate verify failed"));
    CHECK(client.connects() == 0);
  }
  SECTION("verify_tls: false connects and talks") {
    auto options = Options(server.url());
    options.verify_tls = false;
    ClientEvents events;
    pn::WsClient* self = nullptr;
    pn::WsClient client(options, events.Callbacks([&] { self->Send("over tls"); }));
    self = &client;
    client.Start();
    REQUIRE(Eventually([&] { return server.side().count("over tls") == 1; }));
    server.side().last_peer()->Send("back");
    CHECK(Eventually([&] { return events.got("back"); }));
  }
  SECTION("a trusted CA and a matching host name (SNI, name check) connect") {
    // The default verify paths honour SSL_CERT_FILE, read when the client is made.
    const char* old = std::getenv("SSL_CERT_FILE");
    const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
    setenv("SSL_CERT_FILE", files.ca_file.c_str(), 1);
    ClientEvents events;
    pn::WsClient client(Options("wss://localhost:" + std::to_string(server.port()) + "/stream"), events.Callbacks());
    if (saved) setenv("SSL_CERT_FILE", saved->c_str(), 1);
    else unsetenv("SSL_CERT_FILE");
    client.Start();
    INFO(events.close_reasons());
    CHECK(Eventually([&] { return client.connects() == 1; }));
  }
}

TEST_CASE("WsClient: a URL it cannot use is refused when made", "[sdk][ws]") {
  pn::WsCallbacks none;
  for (const char* bad : {"http://127.0.0.1/", "ws://", "ws://host:0/", "ws://host:99999/", "wss://user@host/", "ws://[::1/"})
    CHECK_THROWS_AS(pn::WsClient(Options(bad), none), std::invalid_argument);
  CHECK_NOTHROW(pn::WsClient(Options("WSS://[::1]:9443?x=1"), none));
}

// ======================================================================================
// StreamHub
// ======================================================================================

namespace {

// Completions a test collects: a counter plus the last result.
struct Got {
  std::mutex mu;
  std::vector<pl::CallResult> results;
  std::vector<std::thread::id> threads;
  pl::CallCompletion done() {
    return [this](pl::CallResult r) {
      std::lock_guard lock(mu);
      results.push_back(std::move(r));
      threads.push_back(std::this_thread::get_id());
    };
  }
  std::size_t size() {
    std::lock_guard lock(mu);
    return results.size();
  }
  pl::CallResult at(std::size_t i) {
    std::lock_guard lock(mu);
    return results.at(i);
  }
  Json json(std::size_t i) { return Json::parse(at(i).json); }
};

}  // namespace

TEST_CASE("StreamHub: latest keeps the newest value, per worker", "[sdk][hub]") {
  Got a, a2, b;   // before the hub: its destructor completes what still waits
  pn::StreamHub hub({10, 60s, "bybit"});
  CHECK(hub.Wait("ticker:BTC/USDT", pn::StreamHub::Kind::kLatest, "w-a", a.done()));   // first: subscribe
  CHECK(a.size() == 0);
  CHECK(hub.Keys() == std::vector<std::string>{"ticker:BTC/USDT"});
  hub.Publish("ticker:ETH/USDT", {{"last", 1}});   // nobody listens: dropped
  CHECK(hub.Keys().size() == 1);
  hub.Publish("ticker:BTC/USDT", {{"last", 100}});
  REQUIRE(a.size() == 1);
  CHECK(a.json(0) == Json{{"last", 100}});
  // Nothing newer than what w-a received: it waits, and two updates fold into the newest.
  CHECK_FALSE(hub.Wait("ticker:BTC/USDT", pn::StreamHub::Kind::kLatest, "w-a", a.done()));
  CHECK(a.size() == 1);
  CHECK(hub.waiting() == 1);
  hub.Publish("ticker:BTC/USDT", {{"last", 101}});
  hub.Publish("ticker:BTC/USDT", {{"last", 102}});
  REQUIRE(a.size() == 2);
  CHECK(a.json(1) == Json{{"last", 101}});
  hub.Wait("ticker:BTC/USDT", pn::StreamHub::Kind::kLatest, "w-a", a2.done());
  REQUIRE(a2.size() == 1);   // 102 arrived after its last delivery: at once
  CHECK(a2.json(0) == Json{{"last", 102}});
  // A newcomer gets the current value at once.
  hub.Wait("ticker:BTC/USDT", pn::StreamHub::Kind::kLatest, "w-b", b.done());
  REQUIRE(b.size() == 1);
  CHECK(b.json(0) == Json{{"last", 102}});
  // Two calls of one worker in flight get the same update.
  Got c1, c2;
  hub.Wait("ticker:BTC/USDT", pn::StreamHub::Kind::kLatest, "w-b", c1.done());
  hub.Wait("ticker:BTC/USDT", pn::StreamHub::Kind::kLatest, "w-b", c2.done());
  hub.Publish("ticker:BTC/USDT", {{"last", 103}});
  REQUIRE((c1.size() == 1 && c2.size() == 1));
  CHECK((c1.json(0) == Json{{"last", 103}} && c2.json(0) == Json{{"last", 103}}));
  CHECK(hub.waiting() == 0);
}

TEST_CASE("StreamHub: append delivers everything since the worker's last call, oldest dropped past max_items", "[sdk][hub]") {
  Got a;
  pn::StreamHub hub({3, 60s, "bybit"});
  const std::string key = "trades:BTC/USDT";
  CHECK(hub.Wait(key, pn::StreamHub::Kind::kAppend, "w-a", a.done()));
  hub.Append(key, {Json{{"id", 1}}, Json{{"id", 2}}});
  REQUIRE(a.size() == 1);
  CHECK(a.json(0) == Json::parse(R"([{"id":1},{"id":2}])"));
  // Items that arrive between two calls are kept for the next one.
  hub.Append(key, {Json{{"id", 3}}});
  hub.Append(key, {Json{{"id", 4}}});
  CHECK_FALSE(hub.Wait(key, pn::StreamHub::Kind::kAppend, "w-a", a.done()));
  REQUIRE(a.size() == 2);
  CHECK(a.json(1) == Json::parse(R"([{"id":3},{"id":4}])"));
  // A newcomer starts from now on.
  Got b;
  hub.Wait(key, pn::StreamHub::Kind::kAppend, "w-b", b.done());
  CHECK(b.size() == 0);
  hub.Append(key, {Json{{"id", 5}}});
  REQUIRE(b.size() == 1);
  CHECK(b.json(0) == Json::parse(R"([{"id":5}])"));
  // w-a was away for five items: it gets the newest three.
  hub.Append(key, {Json{{"id", 6}}, Json{{"id", 7}}, Json{{"id", 8}}, Json{{"id", 9}}});
  hub.Wait(key, pn::StreamHub::Kind::kAppend, "w-a", a.done());
  REQUIRE(a.size() == 3);
  CHECK(a.json(2) == Json::parse(R"([{"id":7},{"id":8},{"id":9}])"));
  // A key waited on as the other kind is a connector bug, answered as such.
  Got wrong;
  hub.Wait(key, pn::StreamHub::Kind::kLatest, "w-c", wrong.done());
  REQUIRE(wrong.size() == 1);
  CHECK(wrong.at(0).error_class == "ExchangeError");
}

TEST_CASE("StreamHub: CancelWorker ends that worker's waits with ExchangeClosedByUser and forgets it", "[sdk][hub]") {
  Got a1, a2, b;
  pn::StreamHub hub({10, 60s, "bybit"});
  hub.Wait("ticker:BTC/USDT", pn::StreamHub::Kind::kLatest, "w-a", a1.done());
  hub.Wait("orders:main", pn::StreamHub::Kind::kAppend, "w-a", a2.done());
  hub.Wait("ticker:BTC/USDT", pn::StreamHub::Kind::kLatest, "w-b", b.done());
  hub.CancelWorker("w-a");
  REQUIRE((a1.size() == 1 && a2.size() == 1));
  CHECK(a1.at(0).error_class == "ExchangeClosedByUser");
  CHECK(a2.at(0).error_class == "ExchangeClosedByUser");
  CHECK_THAT(a1.at(0).message, Catch::Contains("bybit") && Catch::Contains("ticker:BTC/USDT"));
  CHECK(b.size() == 0);                                                // others keep waiting
  CHECK(hub.Keys() == std::vector<std::string>{"ticker:BTC/USDT"});    // orders:main lost its last subscriber
  CHECK(hub.Wait("orders:main", pn::StreamHub::Kind::kAppend, "w-c", b.done()));   // subscribe again
  hub.Publish("ticker:BTC/USDT", {{"last", 1}});
  CHECK(b.size() == 1);
  CHECK(a1.size() == 1);   // completed once, never again
}

TEST_CASE("StreamHub: Sweep times out old waits (RequestTimeout); Fail ends a key's waits", "[sdk][hub]") {
  Got old, young;
  pn::StreamHub hub({10, 500ms, "bybit"});
  hub.Wait("book:BTC/USDT", pn::StreamHub::Kind::kLatest, "w-a", old.done());
  hub.Sweep();
  CHECK(old.size() == 0);   // not old enough yet
  REQUIRE(Eventually([&] {
    hub.Sweep();
    return old.size() == 1;
  }));
  hub.Wait("book:BTC/USDT", pn::StreamHub::Kind::kLatest, "w-b", young.done());
  hub.Sweep();
  CHECK(young.size() == 0);
  CHECK(old.at(0).error_class == "RequestTimeout");
  CHECK(pl::IsNetworkErrorClass(old.at(0).error_class));   // the worker backs off, no error budget

  hub.Fail("book:BTC/USDT", "ExchangeNotAvailable", "bybit: resync of BTC/USDT failed");
  REQUIRE(young.size() == 1);
  CHECK(young.at(0).error_class == "ExchangeNotAvailable");
  CHECK(young.at(0).message == "bybit: resync of BTC/USDT failed");
  CHECK(hub.Keys().size() == 1);   // subscribers stay subscribed
}

TEST_CASE("StreamHub: completions run outside the lock (may wait again); the destructor ends every wait", "[sdk][hub]") {
  Got last;
  int rounds = 0;
  {
    pn::StreamHub hub({10, 60s, ""});
    std::function<void(pl::CallResult)> again = [&](pl::CallResult r) {
      if (++rounds < 3) hub.Wait("k", pn::StreamHub::Kind::kLatest, "w", again);
      else hub.Wait("k", pn::StreamHub::Kind::kLatest, "w", last.done());
    };
    hub.Wait("k", pn::StreamHub::Kind::kLatest, "w", again);
    for (int i = 0; i < 3; ++i) hub.Publish("k", i);
    CHECK(rounds == 3);
    CHECK(hub.waiting() == 1);
  }
  REQUIRE(last.size() == 1);
  CHECK(last.at(0).error_class == "ExchangeClosedByUser");
}

// ======================================================================================
// OrderBook
// ======================================================================================

TEST_CASE("OrderBook: snapshot, deltas, a zero amount deletes, ToJson best first with a limit", "[sdk][book]") {
  using L = pn::OrderBook::Level;
  pn::OrderBook book("BTC/USDT");
  CHECK_FALSE(book.synced());
  CHECK_FALSE(book.Apply({{100, 1}}, {}, 1, 1, 0));   // nothing to apply it to
  book.Snapshot({L{99, 1}, L{100, 2}, L{98, 3}}, {L{102, 1}, L{101, 5}}, 10, 1700000000123);
  CHECK(book.synced());
  CHECK(book.update_id() == 10);
  CHECK(book.Apply({L{100, 0}, L{99.5, 4}}, {L{101, 6}, L{103, 1}}, 11, 11, 1700000000200));
  const Json j = book.ToJson();
  CHECK(j["symbol"] == "BTC/USDT");
  CHECK(j["bids"] == Json::parse("[[99.5,4.0],[99.0,1.0],[98.0,3.0]]"));
  CHECK(j["asks"] == Json::parse("[[101.0,6.0],[102.0,1.0],[103.0,1.0]]"));
  CHECK(j["nonce"] == 11);
  CHECK(j["timestamp"] == 1700000000200);
  CHECK(j["datetime"] == "2023-11-14T22:13:20.200Z");
  const Json top = book.ToJson(2);
  CHECK(top["bids"] == Json::parse("[[99.5,4.0],[99.0,1.0]]"));
  CHECK(top["asks"] == Json::parse("[[101.0,6.0],[102.0,1.0]]"));
  CHECK(book.Apply({L{42, 0}}, {}, 12, 12, 0));   // deleting an absent price is harmless
  CHECK(book.ToJson()["bids"].size() == 3);
}

TEST_CASE("OrderBook: a gap fails and leaves the book out of sync; old deltas are ignored", "[sdk][book]") {
  using L = pn::OrderBook::Level;
  pn::OrderBook book("BTC/USDT");
  book.Snapshot({L{100, 1}}, {L{101, 1}}, 100, 1);
  // Binance's first event after a snapshot overlaps it (U <= lastUpdateId+1 <= u): applied.
  CHECK(book.Apply({L{100, 2}}, {}, 95, 105, 2));
  CHECK(book.update_id() == 105);
  // Entirely older: ignored, and it changes nothing.
  CHECK(book.Apply({L{100, 9}}, {}, 90, 104, 3));
  CHECK(book.ToJson()["bids"] == Json::parse("[[100.0,2.0]]"));
  CHECK(book.update_id() == 105);
  // Next in sequence, then a gap (107 missing).
  CHECK(book.Apply({}, {L{101, 3}}, 106, 106, 4));
  CHECK_FALSE(book.Apply({}, {L{101, 4}}, 108, 108, 5));
  CHECK_FALSE(book.synced());
  CHECK(book.ToJson()["asks"] == Json::parse("[[101.0,3.0]]"));   // the gapped delta was not applied
  CHECK_FALSE(book.Apply({}, {L{101, 5}}, 109, 109, 6));           // nor any after it
  book.Snapshot({L{100, 7}}, {}, 200, 7);                          // resync
  CHECK(book.synced());
  CHECK(book.Apply({L{100, 8}}, {}, 201, 201, 8));
  book.MarkOutOfSync();
  CHECK_FALSE(book.Apply({L{100, 9}}, {}, 202, 202, 9));
}

TEST_CASE("OrderBook: ParseLevels takes numbers and numeric strings; Iso8601", "[sdk][book]") {
  const auto levels = pn::OrderBook::ParseLevels(Json::parse(R"([["65000.5","0.25"],[64999,1],["1e-3","2",7]])"));
  REQUIRE(levels.size() == 3);
  CHECK(levels[0].price == 65000.5);
  CHECK(levels[0].amount == 0.25);
  CHECK(levels[1].price == 64999);
  CHECK(levels[2].price == 0.001);
  CHECK(pn::OrderBook::ParseLevels(Json::array()).empty());
  for (const char* bad : {R"({"a":1})", R"([["1"]])", R"([["x","1"]])", R"([["1","2x"]])", R"([[null,1]])", R"([5])"})
    CHECK_THROWS_AS(pn::OrderBook::ParseLevels(Json::parse(bad)), std::invalid_argument);
  CHECK(pn::Iso8601(0) == "1970-01-01T00:00:00.000Z");
  CHECK(pn::Iso8601(1704164645678) == "2024-01-02T03:04:05.678Z");
  CHECK(pn::Iso8601(-1) == "1969-12-31T23:59:59.999Z");
}

// ======================================================================================
// ConnectorBase: the asynchronous watch* path
// ======================================================================================

namespace {

// Streams tickers from its own thread: every 5 ms it publishes a ticker for each symbol a
// worker subscribed to. watchOrderBook registers, then throws (a connector bug).
class StreamingConnector final : public pl::ConnectorBase {
 public:
  StreamingConnector() : hub_({100, 60s, "stream-test"}) {
    feed_ = std::thread([this] {
      while (!stop_) {
        for (const auto& key : hub_.Keys())
          if (key.rfind("ticker:", 0) == 0) hub_.Publish(key, {{"symbol", key.substr(7)}, {"last", ++tick_}});
          else hub_.Publish(key, {{"bids", Json::array()}});
        std::this_thread::sleep_for(5ms);   // the exchange's pace, not a test wait
      }
    });
  }
  ~StreamingConnector() override {
    stop_ = true;
    feed_.join();
  }
  void CancelWorker(const std::string& sid) override { hub_.CancelWorker(sid); }
  std::thread::id feed_thread() const { return feed_.get_id(); }
  std::atomic<int> watches{0};
  std::atomic<int> subscribes{0};

 protected:
  std::string id() const override { return "stream-test"; }
  Json has() const override { return {{"fetchTicker", true}, {"watchTicker", true}, {"watchOrderBook", true}}; }
  void beforeCall(const Ctx& ctx, const std::string& method) override {
    if (ctx.term == 99) throw pl::CcxtError("PermissionDenied", "fenced");
  }
  Json fetchTicker(const Ctx&, const std::string& symbol, const Json&) override { return {{"symbol", symbol}}; }
  void Watch(const Ctx& ctx, const std::string& method, const pl::CallArgs& args, pl::CallCompletion done) override {
    ++watches;
    if (method == "watchTicker") {
      if (hub_.Wait("ticker:" + args.str(0), pn::StreamHub::Kind::kLatest, ctx.worker_sid, std::move(done))) ++subscribes;
      return;
    }
    if (method != "watchOrderBook") return ConnectorBase::Watch(ctx, method, args, std::move(done));
    hub_.Wait("book:" + args.str(0), pn::StreamHub::Kind::kLatest, ctx.worker_sid, std::move(done));
    throw pl::CcxtError("ExchangeNotAvailable", "book stream broke");
  }

 private:
  pn::StreamHub hub_;
  std::atomic<bool> stop_{false};
  std::atomic<int> tick_{0};
  std::thread feed_;
};

pl::CallContext Worker(const std::string& sid, std::uint64_t term = 0) {
  pl::CallContext ctx;
  ctx.worker_sid = sid;
  ctx.term = term;
  return ctx;
}

}  // namespace

TEST_CASE("ConnectorBase: watchTicker completes from the connector's own thread", "[sdk][connector]") {
  StreamingConnector connector;
  Got got;
  connector.CallAsync(Worker("w-1"), "watchTicker", R"(["BTC/USDT", {}])", got.done());
  REQUIRE(Eventually([&] { return got.size() == 1; }));
  INFO(got.at(0).message);
  REQUIRE(got.at(0).ok);
  CHECK(got.json(0)["symbol"] == "BTC/USDT");
  CHECK(got.threads.at(0) == connector.feed_thread());
  CHECK(got.threads.at(0) != std::this_thread::get_id());
  // The next call gets a newer ticker; the stream was subscribed once.
  connector.CallAsync(Worker("w-1"), "watchTicker", R"(["BTC/USDT"])", got.done());
  REQUIRE(Eventually([&] { return got.size() == 2; }));
  CHECK(got.json(1)["last"].get<int>() > got.json(0)["last"].get<int>());
  CHECK(connector.subscribes == 1);

  // Stopping the worker ends its wait with an error the script can catch. The feed may
  // answer first; either way the call completes exactly once.
  Got cancelled;
  connector.CallAsync(Worker("w-2"), "watchTicker", R"(["ETH/USDT"])", [&](pl::CallResult r) {
    cancelled.done()(std::move(r));
    connector.CancelWorker("w-2");   // from inside a completion: no deadlock
  });
  connector.CancelWorker("w-2");
  REQUIRE(Eventually([&] { return cancelled.size() == 1; }));
  CHECK(StaysFalse([&] { return cancelled.size() > 1; }, 100ms));
}

TEST_CASE("ConnectorBase: a CancelWorker while waiting gives ExchangeClosedByUser", "[sdk][connector]") {
  // A hub the feed never publishes to (no "ticker:" prefix is asked): cancel is the only way out.
  pn::StreamHub hub({10, 60s, "x"});
  struct Quiet final : pl::ConnectorBase {
    explicit Quiet(pn::StreamHub& h) : hub(h) {}
    pn::StreamHub& hub;
    std::string id() const override { return "quiet"; }
    Json has() const override { return {{"watchTrades", true}}; }
    void Watch(const Ctx& ctx, const std::string&, const pl::CallArgs& args, pl::CallCompletion done) override {
      hub.Wait("trades:" + args.str(0), pn::StreamHub::Kind::kAppend, ctx.worker_sid, std::move(done));
    }
    void CancelWorker(const std::string& sid) override { hub.CancelWorker(sid); }
  } quiet(hub);
  Got got;
  quiet.CallAsync(Worker("w-1"), "watchTrades", R"(["BTC/USDT", null, 10])", got.done());
  CHECK(got.size() == 0);
  quiet.CancelWorker("w-1");
  REQUIRE(got.size() == 1);
  CHECK(got.at(0).error_class == "ExchangeClosedByUser");
}

TEST_CASE("ConnectorBase: watch* argument checks, beforeCall, exceptions and the sync path", "[sdk][connector]") {
  StreamingConnector connector;
  auto call = [&](const pl::CallContext& ctx, const std::string& method, const std::string& args) {
    Got got;
    connector.CallAsync(ctx, method, args, got.done());
    REQUIRE(got.size() == 1);   // these all answer before CallAsync returns
    return got.at(0);
  };
  auto missing = call(Worker("w"), "watchTicker", "[]");
  CHECK(missing.error_class == "ArgumentsRequired");
  CHECK_THAT(missing.message, Catch::Contains("'symbol'"));
  CHECK(call(Worker("w"), "watchTicker", "[42]").error_class == "BadRequest");
  CHECK(call(Worker("w"), "watchTicker", R"(["BTC/USDT", 5])").error_class == "BadRequest");
  CHECK(call(Worker("w"), "watchOrderBook", R"(["BTC/USDT", 1.5])").error_class == "BadRequest");
  CHECK(call(Worker("w"), "watchTicker", "{}").error_class == "BadRequest");
  CHECK(call(Worker("w"), "watchTicker", "[oops").error_class == "BadRequest");
  CHECK(call(Worker("w", 99), "watchTicker", R"(["BTC/USDT"])").error_class == "PermissionDenied");
  CHECK(connector.watches == 0);   // none of those reached Watch
  // Not offered: the default Watch answers NotSupported.
  auto unsupported = call(Worker("w"), "watchTrades", R"(["BTC/USDT"])");
  CHECK(unsupported.error_class == "NotSupported");
  CHECK_THAT(unsupported.message, Catch::Contains("watchTrades"));
  // Everything else keeps the synchronous path, answered inline.
  auto ticker = call(Worker("w"), "fetchTicker", R"(["BTC/USDT"])");
  CHECK(ticker.ok);
  CHECK(call(Worker("w"), "fetchTicker", "[]").error_class == "ArgumentsRequired");
  // A stream through the synchronous entry point is refused, not blocked on.
  auto sync = connector.Call(Worker("w"), "watchTicker", R"(["BTC/USDT"])");
  CHECK(sync.error_class == "NotSupported");
  CHECK_THAT(sync.message, Catch::Contains("CallAsync"));

  // Watch registered `done`, then threw: one error completion, and the feed's later
  // update for that key finds the completion spent.
  Got book;
  connector.CallAsync(Worker("w"), "watchOrderBook", R"(["BTC/USDT", 10])", book.done());
  REQUIRE(book.size() == 1);
  CHECK(book.at(0).error_class == "ExchangeNotAvailable");
  CHECK(StaysFalse([&] { return book.size() > 1; }, 200ms));
}

TEST_CASE("ConnectorBase: Describe lists the watch methods a connector has, with their arguments", "[sdk][connector]") {
  StreamingConnector connector;
  const Json d = Json::parse(connector.Describe());
  CHECK(d["has"]["watchTicker"] == true);
  CHECK(d["has"]["watchOrderBook"] == true);
  CHECK(d["has"]["watchTrades"] == false);
  CHECK(d["has"]["watchOrders"] == false);
  Json watch_ticker, watch_trades;
  for (const auto& m : d["methods"]) {
    if (m["name"] == "watchTicker") watch_ticker = m;
    if (m["name"] == "watchTrades") watch_trades = m;
  }
  CHECK(watch_ticker == Json::parse(R"({"name":"watchTicker","args":["symbol","params"],"required":1,"private":false})"));
  CHECK(watch_trades.is_null());
  // The table itself: watchOrders is private, and they are the stream methods.
  const auto* orders = pl::FindCcxtMethod("watchOrders");
  REQUIRE(orders);
  CHECK(orders->is_private);
  CHECK(pl::IsCcxtStreamMethod("watchOrderBook"));
  CHECK_FALSE(pl::IsCcxtStreamMethod("fetchTicker"));
  CHECK_FALSE(pl::IsCcxtStreamMethod("watchSomethingElse"));
}
