// The gateway's HTTP/1.1 server: Boost.Beast over Asio, asynchronous, with its own
// io_context and threads (never the CAF scheduler's, so a burst of HTTP work cannot
// delay scripts, and a stuck script cannot delay HTTP).
//
// Every connection is a strand: its reads, writes and timers never run concurrently, and
// a reply produced on another thread (the admin bridge's CAF thread) is posted onto it.
// One request is handled at a time per connection (HTTP/1.1 pipelining is served in
// order); the next is read only after the reply is written.
//
// Limits, each with its answer (docs/http-api.md "Limits"):
//   - body larger than max_body → 413, connection closed (checked from Content-Length
//     before the body is read, and while reading a chunked body);
//   - header block larger than max_header → 431, connection closed;
//   - more than max_connections open → the new connection is closed at once;
//   - a connection that does not deliver a whole request within idle_timeout (idle
//     keep-alive, or a slowloris half request) is closed without a reply; a reply that
//     cannot be written within idle_timeout closes the connection too;
//   - anything that is not HTTP/1.x → 400, connection closed.
// While a request is being handled no read timer runs: the admin bridge bounds that time.
//
// TLS (http.tls): every connection is TLS 1.2+, the handshake bounded by idle_timeout.
//
// Replies that outlive one write (http_message.h), counted in ServerCounters:
//   - HttpResponse::stream: status and headers (Connection: close, no length), then the
//     handler's StreamWriter queues the body. The connection keeps a read pending to learn
//     that the client left. Each body write must finish within idle_timeout and at most
//     max_stream_backlog bytes may wait: past either the client is dropped
//     (slow_clients_dropped) — a follower that cannot keep up is never waited for.
//   - HttpResponse::websocket on an upgrade request: the connection becomes a WebSocket
//     (http_websocket.h): the subprotocol echoed, text messages to on_message, binary →
//     close 1003, messages up to max_body (else 1009), a ping after websocket_ping of
//     silence and closed when the peer stays silent idle_timeout after it, Send queued
//     with the same backlog limit (→ close 1008), writes bounded by idle_timeout.
//     An upgrade request answered without `websocket` gets that reply, then is closed.
//     on_close runs once even when the handshake fails (then on_open never ran).
// Handlers may keep their StreamWriter / WebSocketPeer as long as they like, from any
// thread: those hold no connection and no executor (http_channel.h). Stop() finishes
// every open stream and WebSocket: their OnClose / on_close run on the thread calling
// Stop(), after the server's threads are joined, and from then on Write/Send return
// false. Their sockets, like every connection's, close without a closing handshake when
// the server (its io_context) is destroyed.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gateway/http_message.h"
#include "gateway/metrics.h"
#include "runtime/base/status.h"

namespace ami::gateway {

struct ServerOptions {
  std::string host;                          // without IPv6 brackets; a name is resolved
  uint16_t port = 0;                         // 0 = any free port (see HttpServer::port)
  std::optional<std::filesystem::path> tls_cert_file;  // both or neither
  std::optional<std::filesystem::path> tls_key_file;
  uint64_t max_body = 1ull << 20;
  uint64_t max_header = 16ull << 10;
  int max_connections = 1024;
  std::chrono::milliseconds idle_timeout{30000};
  int threads = 2;
  // Streams and WebSockets: bytes queued for one slow client before it is dropped, and
  // how often an idle WebSocket is pinged (a peer that does not answer within
  // idle_timeout is closed).
  uint64_t max_stream_backlog = 4ull << 20;
  std::chrono::milliseconds websocket_ping{15000};
  // Where the server counts connections and limit hits (read by /metrics); null: its own.
  std::shared_ptr<ServerCounters> counters;
};

// Called on the connection's strand for every whole request; must call `respond` once
// (from any thread). The server sets Content-Length and Connection itself.
using RequestHandler = std::function<void(HttpRequest, Respond)>;
// Called for the replies the server makes itself (413, 431, 400), so they carry the same
// CORS headers and are counted like the others. `request` holds what was parsed before
// the limit was hit (the header block for 413), or is null when nothing usable was.
using ReplyDecorator = std::function<void(const HttpRequest* request, HttpResponse& reply)>;

class HttpServer {
 public:
  // Binds and listens (errors: kInvalidArgument for bad TLS files, kIOError when the
  // address cannot be bound — the message names it), then starts the threads.
  static Result<std::unique_ptr<HttpServer>> Start(ServerOptions options, RequestHandler handler,
                                                   ReplyDecorator decorate = nullptr);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Stops accepting, stops the threads and closes every connection. Replies still owed
  // are dropped (their Respond posts to a stopped context, which discards them). Open
  // streams' and WebSockets' close callbacks run here, on this thread (see above).
  void Stop();

  uint16_t port() const;                     // the bound port (useful with port 0)
  bool tls() const;
  std::shared_ptr<const ServerCounters> counters() const;

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ami::gateway
