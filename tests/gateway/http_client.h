// A small HTTP/1.1 client for the gateway tests (Boost.Beast), over plain TCP or TLS.
// Every operation has a deadline: a server that does not answer makes the call fail
// (nullopt / false) instead of hanging the test. Not for production use: it verifies a
// TLS server's certificate chain against the given CA but not its host name.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

namespace ami::test {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;   // lower-case names
  std::string body;
  // The value of header `name` (any case), or "" when absent.
  std::string Header(const std::string& name) const;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

class HttpConnection {
 public:
  // Connects to 127.0.0.1:`port`; with `ca_file`, speaks TLS and requires a server
  // certificate signed by it. Check connected().
  explicit HttpConnection(uint16_t port, std::optional<std::filesystem::path> ca_file = std::nullopt,
                          std::chrono::milliseconds timeout = std::chrono::seconds(20));
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  bool connected() const;
  const std::string& error() const;   // why the last operation failed

  // Sends one request (keep-alive) and reads its reply.
  std::optional<HttpReply> Request(const std::string& method, const std::string& target, const Headers& headers = {},
                                   const std::string& body = "");
  // Writes bytes as they are (half requests, garbage).
  bool SendRaw(const std::string& bytes);
  // Reads one reply.
  std::optional<HttpReply> ReadReply();
  // True when the server closes the connection within `timeout` (what it sends before is
  // read and dropped); false when it is still open then.
  bool WaitClosed(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A streamed reply (Server-Sent Events) read as it arrives: Open() sends a GET and reads
// the status and headers; NextEvent() returns the next event's `data:` text (several
// data lines joined by "\n"); comment lines (": keep-alive") are counted, not returned.
class SseStream {
 public:
  explicit SseStream(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  ~SseStream();
  SseStream(const SseStream&) = delete;
  SseStream& operator=(const SseStream&) = delete;

  // The reply's status and headers (the body follows through NextEvent); nullopt on failure.
  std::optional<HttpReply> Open(const std::string& target, const Headers& headers = {});
  // nullopt when no whole event came within `timeout` or the stream ended (see ended()).
  std::optional<std::string> NextEvent(std::chrono::milliseconds timeout);
  bool ended() const;        // the server closed the connection
  int comments() const;      // comment lines seen so far (keep-alives)
  const std::string& error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A WebSocket client (text messages). Connect() does the upgrade handshake.
class WebSocketClient {
 public:
  explicit WebSocketClient(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  ~WebSocketClient();
  WebSocketClient(const WebSocketClient&) = delete;
  WebSocketClient& operator=(const WebSocketClient&) = delete;

  // Upgrades `target` ("/ws?session=…") offering `subprotocols` (comma-separated in
  // Sec-WebSocket-Protocol; none when empty). false when refused: then refused_status()
  // holds the HTTP status the server answered (0 if none).
  bool Connect(const std::string& target, const std::vector<std::string>& subprotocols = {},
               const Headers& headers = {});
  std::string subprotocol() const;      // what the server chose ("" = none)
  int refused_status() const;
  bool Send(const std::string& text);
  bool SendBinary(const std::string& bytes);   // for testing the server's refusal of binary
  // The next text message; nullopt on timeout or close (then close_code() is set).
  std::optional<std::string> Receive(std::chrono::milliseconds timeout);
  int close_code() const;               // 0 while open; 1006 when closed without a close frame
  void Close();
  const std::string& error() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One request on a fresh connection; nullopt when the connection or request failed.
std::optional<HttpReply> Fetch(uint16_t port, const std::string& method, const std::string& target,
                               const Headers& headers = {}, const std::string& body = "",
                               std::optional<std::filesystem::path> ca_file = std::nullopt);

// The value of the sample line `series` ("name{labels}") in a /metrics text, or -1 when
// there is none.
double MetricSample(const std::string& metrics, const std::string& series);

// The reply, REQUIRE-ing that there is one.
inline HttpReply Must(std::optional<HttpReply> reply) {
  REQUIRE(reply.has_value());
  return std::move(*reply);
}

}  // namespace ami::test
