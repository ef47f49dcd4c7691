// Plain request/response values between the HTTP server (http_server.h, the only file
// that knows Boost.Beast) and what answers requests (router, REST API, /metrics). Keeping
// Beast out of the handlers keeps them testable and cheap to compile, and lets a later
// transport (WebSocket frames, WebFIX envelopes) reuse the same handlers.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ami::gateway {

struct HttpRequest {
  std::string method;                 // as sent: "GET", "PATCH", …
  std::string target;                 // as sent: "/api/v1/workers?x=1"
  std::string path;                   // target without the query, not yet percent-decoded
  std::string query;                  // text after '?', not decoded
  // Header names in lower case; a name sent twice appears twice (in order).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string peer;                   // "ip:port" of the client, for logs only
  bool websocket_upgrade = false;     // a valid WebSocket upgrade request (GET, Upgrade: websocket)
  bool tls = false;                   // it came over TLS (for the URLs a reply names: https/wss)

  // The first value of header `lower_name`, or "" when absent.
  std::string_view Header(std::string_view lower_name) const;
  bool HasHeader(std::string_view lower_name) const;
};

// ---- Replies that outlive one write: streams (Server-Sent Events) and WebSockets ----

// The writing end of a streamed reply (a Server-Sent Events stream). The server wrote the
// status line and headers already; the body is what Write() is given, in order, until
// End(). A streamed reply has no Content-Length and the connection closes after it.
// All methods may be called from any thread.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // Queues `data`. false when the stream is closed, or when the client has fallen more
  // than ServerOptions::max_stream_backlog bytes behind — then the server closes the
  // connection (a follower that cannot keep up is dropped, never waited for).
  virtual bool Write(std::string data) = 0;
  // Writes what is queued, then closes the connection. Idempotent.
  virtual void End() = 0;
  // `done` runs once, on the connection's strand, when the connection is closed for any
  // reason (End() done, the client left, the server stopping, a write failed). If it is
  // closed already, `done` runs at once (on the caller's thread).
  virtual void OnClose(std::function<void()> done) = 0;
  virtual bool closed() const = 0;
};

// The server's end of one WebSocket (text messages only).
class WebSocketPeer {
 public:
  virtual ~WebSocketPeer() = default;
  // Queues one text message. false when closed or too far behind (then it is closed
  // with 1008 "too slow"). Any thread.
  virtual bool Send(std::string text) = 0;
  // Sends a close frame with `code` (RFC 6455 7.4) and `reason`, then closes. Any thread.
  virtual void Close(int code, std::string reason) = 0;
};

// What a handler gives the server to accept a WebSocket upgrade (HttpResponse::websocket).
struct WebSocketAccept {
  std::string subprotocol;   // echoed in Sec-WebSocket-Protocol ("" = none)
  // Called on the connection's strand once the handshake is done.
  std::function<void(std::shared_ptr<WebSocketPeer>)> on_open;
  // Each text message the client sends (binary messages close the socket with 1003).
  std::function<void(std::string text)> on_message;
  // Once, when the socket is closed for any reason.
  std::function<void()> on_close;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // sent as given
  std::string body;
  // Close the connection after this reply (the server also closes when the client asked).
  bool close = false;

  // A streamed reply: status and headers are written, then `stream` is called (on the
  // connection's strand) with the writer of the body; `body` is ignored.
  std::function<void(std::shared_ptr<StreamWriter>)> stream;
  // Set only in reply to a WebSocket upgrade request (HttpRequest::websocket_upgrade):
  // the server completes the handshake (status/headers/body here are ignored then).
  // An upgrade request answered without it gets that ordinary reply and is closed.
  std::shared_ptr<WebSocketAccept> websocket;

  void SetHeader(std::string name, std::string value);
  std::string_view Header(std::string_view name) const;  // case-insensitive; "" when absent
};

// Delivers the one reply to a request. May be called on any thread (the admin bridge
// calls it on a CAF thread); the server moves the reply onto the connection's strand.
// Must be called exactly once: a connection waits for it before reading on.
using Respond = std::function<void(HttpResponse)>;

// Percent-decoding of one path segment or query component; false on a bad escape.
// `plus_is_space` for query components (application/x-www-form-urlencoded).
bool PercentDecode(std::string_view text, bool plus_is_space, std::string* out);
// "a=1&b=x%20y" -> {a:"1", b:"x y"}; false (with *bad naming the part) on a bad escape
// or a repeated name (a repeated name is ambiguous, so it is refused rather than guessed).
bool ParseQuery(std::string_view query, std::map<std::string, std::string>* out, std::string* bad);

}  // namespace ami::gateway
