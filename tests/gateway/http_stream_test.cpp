// The HTTP server's replies that outlive one write — Server-Sent Events streams and
// WebSockets — against a scripted handler (no gateway routes, no admin service): order,
// ends, clients leaving, slow clients dropped, close codes, pings, and Stop with streams
// and sockets open. Part of test_gateway (gateway_server_test.cpp tests the routes).
#include <catch2/catch.hpp>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <future>
#include <mutex>

#include "gateway/http_server.h"
#include "tests/gateway/http_client.h"
#include "tests/support/test_support.h"
#include "transport/credentials.h"

using namespace ami;
using namespace std::chrono_literals;
using ami::test::Eventually;
using ami::test::Must;
using gateway::HttpRequest;
using gateway::HttpResponse;
using gateway::StreamWriter;
using gateway::WebSocketPeer;

namespace {

// What the scripted handler handed out and saw.
struct Script {
  std::mutex mu;
  std::vector<std::shared_ptr<StreamWriter>> writers;   // guarded by mu
  std::vector<std::shared_ptr<WebSocketPeer>> peers;    // guarded by mu
  std::vector<std::string> messages;                    // guarded by mu
  std::atomic<int> stream_closes{0};
  std::atomic<int> socket_closes{0};

  size_t writer_count() {
    std::lock_guard<std::mutex> lock(mu);
    return writers.size();
  }
  std::shared_ptr<StreamWriter> writer(size_t i) {
    std::lock_guard<std::mutex> lock(mu);
    return writers.at(i);
  }
  size_t peer_count() {
    std::lock_guard<std::mutex> lock(mu);
    return peers.size();
  }
  std::shared_ptr<WebSocketPeer> peer(size_t i) {
    std::lock_guard<std::mutex> lock(mu);
    return peers.at(i);
  }
};

// /sse: a stream whose writer goes to the script. /ws: a WebSocket echoing "echo:<text>",
// choosing "webfix" when offered. /ws-refused: 401. Anything else: 200 "ok".
void Handle(const std::shared_ptr<Script>& script, HttpRequest request, gateway::Respond respond) {
  HttpResponse r;
  if (request.path == "/sse") {
    r.SetHeader("Content-Type", "text/event-stream");
    r.SetHeader("Cache-Control", "no-cache");
    r.stream = [script](std::shared_ptr<StreamWriter> writer) {
      writer->OnClose([script] { ++script->stream_closes; });
      std::lock_guard<std::mutex> lock(script->mu);
      script->writers.push_back(std::move(writer));
    };
  } else if (request.path == "/ws" && request.websocket_upgrade) {
    auto accept = std::make_shared<gateway::WebSocketAccept>();
    if (std::string(request.Header("sec-websocket-protocol")).find("webfix") != std::string::npos)
      accept->subprotocol = "webfix";
    auto peer = std::make_shared<std::shared_ptr<WebSocketPeer>>();
    accept->on_open = [script, peer](std::shared_ptr<WebSocketPeer> p) {
      *peer = p;
      std::lock_guard<std::mutex> lock(script->mu);
      script->peers.push_back(std::move(p));
    };
    accept->on_message = [script, peer](std::string text) {
      {
        std::lock_guard<std::mutex> lock(script->mu);
        script->messages.push_back(text);
      }
      (*peer)->Send("echo:" + text);
    };
    accept->on_close = [script] { ++script->socket_closes; };
    r.websocket = accept;
  } else if (request.path == "/ws-refused") {
    r.status = 401;
    r.body = "{\"error\":\"no session\"}";
  } else {
    r.body = "ok";
  }
  respond(std::move(r));
}

struct Server {
  explicit Server(gateway::ServerOptions options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    auto started = gateway::HttpServer::Start(
        std::move(options), [s = script](HttpRequest request, gateway::Respond respond) {
          Handle(s, std::move(request), std::move(respond));
        });
    INFO(started.status().message());
    REQUIRE(started.ok());
    server = std::move(*started);
  }
  uint16_t port() const { return server->port(); }
  const gateway::ServerCounters& counters() const { return *server->counters(); }

  std::shared_ptr<Script> script = std::make_shared<Script>();
  std::unique_ptr<gateway::HttpServer> server;
};

bool Serves(uint16_t port) {
  auto reply = test::Fetch(port, "GET", "/plain");
  return reply && reply->status == 200 && reply->body == "ok";
}

}  // namespace

TEST_CASE("gateway transport: an SSE stream gets its writes in order, and End closes it", "[gateway]") {
  Server server;
  test::SseStream stream(server.port());
  auto head = Must(stream.Open("/sse"));
  CHECK(head.status == 200);
  CHECK(head.Header("Content-Type") == "text/event-stream");
  CHECK(head.Header("Cache-Control") == "no-cache");
  CHECK(head.Header("Content-Length").empty());
  CHECK(head.Header("Connection") == "close");
  REQUIRE(Eventually([&] { return server.script->writer_count() == 1; }));
  auto writer = server.script->writer(0);
  CHECK(server.counters().streams_open == 1);

  CHECK(writer->Write(": keep-alive\n\n"));
  constexpr int kEvents = 200;
  // From two threads at once: each thread's events stay in its order.
  auto other = std::async(std::launch::async, [&] {
    for (int i = 0; i < kEvents; ++i) writer->Write("data: b" + std::to_string(i) + "\n\n");
  });
  for (int i = 0; i < kEvents; ++i) CHECK(writer->Write("data: a" + std::to_string(i) + "\ndata: line2\n\n"));
  other.get();
  int next_a = 0, next_b = 0;
  for (int i = 0; i < 2 * kEvents; ++i) {
    auto event = stream.NextEvent(20s);
    REQUIRE(event);
    if ((*event)[0] == 'a') {
      CHECK(*event == "a" + std::to_string(next_a++) + "\nline2");
    } else {
      CHECK(*event == "b" + std::to_string(next_b++));
    }
  }
  CHECK(stream.comments() == 1);
  CHECK(server.script->stream_closes == 0);
  CHECK_FALSE(writer->closed());

  writer->Write("data: last\n\n");
  writer->End();
  CHECK(writer->closed());
  CHECK_FALSE(writer->Write("data: too late\n\n"));
  CHECK(stream.NextEvent(20s) == std::optional<std::string>("last"));  // queued before End: written
  CHECK_FALSE(stream.NextEvent(20s));
  CHECK(stream.ended());
  CHECK(Eventually([&] { return server.script->stream_closes == 1; }));
  CHECK(server.counters().streams_open == 0);
  // OnClose on a closed stream runs at once.
  bool ran = false;
  writer->OnClose([&] { ran = true; });
  CHECK(ran);
  CHECK(Serves(server.port()));
}

TEST_CASE("gateway transport: over TLS a stream ends with close_notify, so the body reads whole", "[gateway]") {
  test::TempDir dir;
  REQUIRE(transport::MakeLocalCredentials(dir / "tls", "s-0001").ok());
  const auto files = transport::NodeFilesIn(dir / "tls");
  gateway::ServerOptions options;
  options.tls_cert_file = files.cert_file;
  options.tls_key_file = files.key_file;
  Server server(options);
  test::HttpConnection tls(server.port(), files.ca_file);
  INFO(tls.error());
  REQUIRE(tls.connected());
  REQUIRE(tls.SendRaw("GET /sse HTTP/1.1\r\nHost: x\r\n\r\n"));
  REQUIRE(Eventually([&] { return server.script->writer_count() == 1; }));
  auto writer = server.script->writer(0);
  CHECK(writer->Write("data: one\n\n"));
  CHECK(writer->Write("data: two\n\n"));
  writer->End();
  // A body without length ends at the connection's end: a TLS truncation would be an error.
  auto reply = tls.ReadReply();
  INFO(tls.error());
  REQUIRE(reply);
  CHECK(reply->status == 200);
  CHECK(reply->body == "data: one\n\ndata: two\n\n");
  CHECK(Eventually([&] { return server.script->stream_closes == 1; }));
}

TEST_CASE("gateway transport: a WebSocket over TLS (wss) echoes and closes", "[gateway]") {
  namespace beast = boost::beast;
  namespace net = boost::asio;
  test::TempDir dir;
  REQUIRE(transport::MakeLocalCredentials(dir / "tls", "s-0001").ok());
  const auto files = transport::NodeFilesIn(dir / "tls");
  gateway::ServerOptions options;
  options.tls_cert_file = files.cert_file;
  options.tls_key_file = files.key_file;
  Server server(options);

  // test::WebSocketClient speaks plain TCP; this one step chain is the wss client.
  net::io_context ioc;
  net::ssl::context context(net::ssl::context::tls_client);
  context.load_verify_file(files.ca_file.string());
  context.set_verify_mode(net::ssl::verify_peer);
  beast::websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(ioc, context);
  beast::flat_buffer buffer;
  std::string failed, echoed;
  bool closed = false;
  auto fail = [&](const char* step, beast::error_code ec) { failed = std::string(step) + ": " + ec.message(); };
  const net::ip::tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), server.port());
  beast::get_lowest_layer(ws).async_connect(endpoint, [&](beast::error_code ec) {
    if (ec) return fail("connect", ec);
    ws.next_layer().async_handshake(net::ssl::stream_base::client, [&](beast::error_code ec) {
      if (ec) return fail("tls", ec);
      ws.async_handshake("127.0.0.1", "/ws", [&](beast::error_code ec) {
        if (ec) return fail("upgrade", ec);
        ws.async_write(net::buffer(std::string("over tls")), [&](beast::error_code ec, std::size_t) {
          if (ec) return fail("write", ec);
          ws.async_read(buffer, [&](beast::error_code ec, std::size_t) {
            if (ec) return fail("read", ec);
            echoed = beast::buffers_to_string(buffer.data());
            ws.async_close(beast::websocket::close_code::normal, [&](beast::error_code ec) {
              if (ec) return fail("close", ec);
              closed = true;
            });
          });
        });
      });
    });
  });
  ioc.run_for(20s);
  INFO(failed);
  CHECK(echoed == "echo:over tls");
  CHECK(closed);
  CHECK(Eventually([&] { return server.script->socket_closes == 1; }));
}

TEST_CASE("gateway transport: a client that leaves an SSE stream triggers OnClose", "[gateway]") {
  Server server;
  {
    test::SseStream stream(server.port());
    REQUIRE(Must(stream.Open("/sse")).status == 200);
    REQUIRE(Eventually([&] { return server.script->writer_count() == 1; }));
    REQUIRE(server.script->writer(0)->Write("data: hello\n\n"));
    CHECK(stream.NextEvent(20s) == std::optional<std::string>("hello"));
  }  // the client closes its socket; the server writes nothing more
  auto writer = server.script->writer(0);
  CHECK(Eventually([&] { return server.script->stream_closes == 1; }));
  CHECK(writer->closed());
  CHECK_FALSE(writer->Write("data: anyone?\n\n"));
  CHECK(Eventually([&] { return server.counters().streams_open == 0 && server.counters().open_connections == 0; }));
}

TEST_CASE("gateway transport: a client that does not read its stream is dropped past max_stream_backlog", "[gateway]") {
  gateway::ServerOptions options;
  options.max_stream_backlog = 256 << 10;
  Server server(options);
  test::SseStream slow(server.port());
  REQUIRE(Must(slow.Open("/sse")).status == 200);
  test::SseStream fast(server.port());
  REQUIRE(Must(fast.Open("/sse")).status == 200);
  REQUIRE(Eventually([&] { return server.script->writer_count() == 2; }));
  auto slow_writer = server.script->writer(0);
  auto fast_writer = server.script->writer(1);

  // The kernel's socket buffers take some megabytes; then the queue grows to the limit.
  const std::string event = "data: " + std::string(64 << 10, 'x') + "\n\n";
  int accepted = 0;
  const bool dropped = Eventually([&] {
    if (!slow_writer->Write(event)) return true;
    ++accepted;
    return false;
  }, 60s);
  INFO("accepted " << accepted << " events of 64 KiB");
  REQUIRE(dropped);
  CHECK(accepted < 2000);  // 128 MiB: far more than any kernel buffers
  CHECK(slow_writer->closed());
  CHECK(Eventually([&] { return server.script->stream_closes == 1; }));
  CHECK(server.counters().slow_clients_dropped == 1);

  // The others are served meanwhile.
  CHECK(fast_writer->Write("data: still here\n\n"));
  CHECK(fast.NextEvent(20s) == std::optional<std::string>("still here"));
  CHECK(Serves(server.port()));
  // What the slow client gets is a cut stream, not a clean end.
  while (slow.NextEvent(20s)) {
  }
  CHECK(slow.ended());
}

TEST_CASE("gateway transport: a stream write that a client does not take within idle_timeout drops it", "[gateway]") {
  gateway::ServerOptions options;
  options.max_stream_backlog = 1ull << 40;  // never reached: the write deadline decides
  options.idle_timeout = 500ms;
  Server server(options);
  test::SseStream slow(server.port());
  REQUIRE(Must(slow.Open("/sse")).status == 200);
  REQUIRE(Eventually([&] { return server.script->writer_count() == 1; }));
  auto writer = server.script->writer(0);
  const std::string event = "data: " + std::string(256 << 10, 'x') + "\n\n";
  CHECK(Eventually([&] { return !writer->Write(event); }, 60s));
  CHECK(Eventually([&] { return server.script->stream_closes == 1; }));
  // Counted on the server's thread right after the close the script saw: wait for it too.
  CHECK(Eventually([&] { return server.counters().slow_clients_dropped == 1; }));
  CHECK(Serves(server.port()));
}

TEST_CASE("gateway transport: a WebSocket client that does not read is closed past the backlog", "[gateway]") {
  gateway::ServerOptions options;
  options.max_stream_backlog = 256 << 10;
  options.idle_timeout = 1s;
  Server server(options);
  test::WebSocketClient slow(server.port());
  REQUIRE(slow.Connect("/ws"));
  REQUIRE(Eventually([&] { return server.script->peer_count() == 1; }));
  auto peer = server.script->peer(0);
  const std::string message(64 << 10, 'm');
  CHECK(Eventually([&] { return !peer->Send(message); }, 60s));
  CHECK(server.counters().slow_clients_dropped >= 1);
  // Its close (1008) cannot get through a full socket: the write deadline closes it.
  CHECK(Eventually([&] { return server.script->socket_closes == 1 && server.counters().websockets_open == 0; }));
  CHECK(Serves(server.port()));
}

TEST_CASE("gateway transport: a WebSocket echoes its subprotocol and messages both ways", "[gateway]") {
  Server server;
  test::WebSocketClient client(server.port());
  INFO(client.error());
  REQUIRE(client.Connect("/ws", {"other", "webfix"}));
  CHECK(client.subprotocol() == "webfix");
  REQUIRE(Eventually([&] { return server.script->peer_count() == 1; }));
  CHECK(server.counters().websockets_open == 1);

  for (int i = 0; i < 20; ++i) REQUIRE(client.Send("m" + std::to_string(i)));
  for (int i = 0; i < 20; ++i) CHECK(client.Receive(20s) == std::optional<std::string>("echo:m" + std::to_string(i)));
  auto peer = server.script->peer(0);
  CHECK(peer->Send("pushed"));
  CHECK(client.Receive(20s) == std::optional<std::string>("pushed"));
  CHECK(client.close_code() == 0);

  // Without an offered subprotocol none is chosen.
  test::WebSocketClient plain(server.port());
  REQUIRE(plain.Connect("/ws"));
  CHECK(plain.subprotocol().empty());
  REQUIRE(plain.Send("x"));
  CHECK(plain.Receive(20s) == std::optional<std::string>("echo:x"));

  client.Close();
  CHECK(client.close_code() == 1000);
  CHECK(Eventually([&] { return server.script->socket_closes == 1; }));
  CHECK_FALSE(peer->Send("gone"));
  CHECK(Serves(server.port()));
}

TEST_CASE("gateway transport: a binary message closes the WebSocket with 1003, a server Close sends its code", "[gateway]") {
  Server server;
  test::WebSocketClient binary(server.port());
  REQUIRE(binary.Connect("/ws"));
  REQUIRE(binary.SendBinary(std::string("\x01\x02", 2)));
  CHECK_FALSE(binary.Receive(20s));
  CHECK(binary.close_code() == 1003);
  CHECK(Eventually([&] { return server.script->socket_closes == 1; }));

  test::WebSocketClient expired(server.port());
  REQUIRE(expired.Connect("/ws", {"webfix"}));
  REQUIRE(Eventually([&] { return server.script->peer_count() == 2; }));
  auto peer = server.script->peer(1);
  CHECK(peer->Send("bye soon"));
  peer->Close(4401, "session expired");
  CHECK_FALSE(peer->Send("after close"));
  CHECK(expired.Receive(20s) == std::optional<std::string>("bye soon"));  // queued before Close: sent first
  CHECK_FALSE(expired.Receive(20s));
  CHECK(expired.close_code() == 4401);
  CHECK(Eventually([&] { return server.script->socket_closes == 2 && server.counters().websockets_open == 0; }));
  // Nothing of either message reached the handler.
  std::lock_guard<std::mutex> lock(server.script->mu);
  CHECK(server.script->messages.empty());
}

TEST_CASE("gateway transport: a refused upgrade gets its HTTP status; a message over max_body closes 1009", "[gateway]") {
  gateway::ServerOptions options;
  options.max_body = 4 << 10;
  Server server(options);
  test::WebSocketClient refused(server.port());
  CHECK_FALSE(refused.Connect("/ws-refused", {"webfix"}));
  CHECK(refused.refused_status() == 401);
  CHECK(server.counters().websockets_open == 0);

  test::WebSocketClient big(server.port());
  REQUIRE(big.Connect("/ws"));
  REQUIRE(big.Send(std::string(2 << 10, 'a')));
  CHECK(big.Receive(20s) == std::optional<std::string>("echo:" + std::string(2 << 10, 'a')));
  REQUIRE(big.Send(std::string(8 << 10, 'a')));
  CHECK_FALSE(big.Receive(20s));
  INFO(big.error());
  CHECK(big.close_code() == 1009);
  CHECK(Serves(server.port()));
}

TEST_CASE("gateway transport: pings keep a reading WebSocket open and close a silent one", "[gateway]") {
  gateway::ServerOptions options;
  options.websocket_ping = 200ms;
  options.idle_timeout = 1s;
  Server server(options);
  test::WebSocketClient reading(server.port());
  test::WebSocketClient silent(server.port());  // never runs its event loop: never answers a ping
  REQUIRE(reading.Connect("/ws"));
  REQUIRE(silent.Connect("/ws"));
  // The reading client answers pings while it waits; the silent one is closed meanwhile.
  const bool silent_closed = Eventually([&] {
    CHECK_FALSE(reading.Receive(100ms));
    return server.counters().websocket_dead_peers >= 1;
  });
  CHECK(silent_closed);
  CHECK(Eventually([&] { return server.script->socket_closes == 1; }));
  CHECK(reading.close_code() == 0);
  REQUIRE(reading.Send("alive"));
  CHECK(reading.Receive(20s) == std::optional<std::string>("echo:alive"));
  CHECK(server.counters().websocket_dead_peers == 1);
}

TEST_CASE("gateway transport: Stop with open streams and WebSockets closes them and runs their callbacks", "[gateway]") {
  Server server;
  std::vector<std::unique_ptr<test::SseStream>> streams;
  std::vector<std::unique_ptr<test::WebSocketClient>> sockets;
  for (int i = 0; i < 3; ++i) {
    streams.push_back(std::make_unique<test::SseStream>(server.port()));
    REQUIRE(Must(streams.back()->Open("/sse")).status == 200);
    sockets.push_back(std::make_unique<test::WebSocketClient>(server.port()));
    REQUIRE(sockets.back()->Connect("/ws"));
  }
  REQUIRE(Eventually([&] { return server.script->writer_count() == 3 && server.script->peer_count() == 3; }));
  // A writer busy on another thread while the server stops.
  std::atomic<bool> writing{true};
  auto writer = server.script->writer(0);
  auto busy = std::async(std::launch::async, [&] {
    while (writing && writer->Write("data: x\n\n")) {
    }
  });
  auto stopped = std::async(std::launch::async, [&] { server.server->Stop(); });
  REQUIRE(stopped.wait_for(20s) == std::future_status::ready);
  CHECK(server.script->stream_closes == 3);  // ran during Stop
  CHECK(server.script->socket_closes == 3);
  REQUIRE(busy.wait_for(20s) == std::future_status::ready);  // Write returns false after Stop
  writing = false;
  // The handler's writers outlive the server (and its io_context) harmlessly.
  server.server.reset();
  for (size_t i = 0; i < 3; ++i) {
    CHECK_FALSE(server.script->writer(i)->Write("data: late\n\n"));
    server.script->writer(i)->End();
    CHECK_FALSE(server.script->peer(i)->Send("late"));
    server.script->peer(i)->Close(1001, "going away");
  }
  for (auto& stream : streams) {
    while (stream->NextEvent(20s)) {
    }
    CHECK(stream->ended());
  }
  for (auto& socket : sockets) {
    CHECK_FALSE(socket->Receive(20s));
    CHECK(socket->close_code() == 1006);  // no closing handshake at Stop
  }
}
