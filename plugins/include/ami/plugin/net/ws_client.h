// A WebSocket client for exchange streams, on Boost.Beast (plain ws:// and wss:// with
// certificate verification). Part of the connector SDK (net/).
//
// One WsClient is one logical socket that stays up: it connects on Start(), and when the
// connection fails or drops it reconnects with exponential back-off (initial_backoff,
// doubled up to max_backoff, with jitter) until Stop(). Each (re)connection calls
// on_open, where the connector (re)sends its subscriptions — so after a drop every
// stream resumes by itself; order books then resync from a fresh snapshot.
//
// Threads: the client runs its own io thread; on_open / on_message / on_close run on it,
// one at a time, and must not block (hand long work elsewhere). Send() may be called
// from any thread and queues the text (dropped, returning false, when not connected).
// Keep-alive: `ping_text` (e.g. Bybit's {"op":"ping"}) is sent every `ping_interval`;
// when empty a WebSocket ping frame is sent instead. A connection that receives nothing
// for `idle_timeout` is treated as dropped. Stop() closes and joins; callbacks do not run
// after it returns (Stop is final: Start after it does nothing; called from a callback it
// does not join, the thread ends after that callback). Never throws out of its thread; the
// constructor throws std::invalid_argument for a URL it cannot use.
// Back-off: the n-th consecutive failure waits min(initial_backoff * 2^n, max_backoff),
// half of it fixed and half random; a connection that stayed up 10 s resets n.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ami::plugin::net {

struct WsClientOptions {
  std::string url;                                   // ws://host:port/path or wss://…
  bool verify_tls = true;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{30000};
  std::chrono::milliseconds ping_interval{20000};
  std::string ping_text;                             // "" = WebSocket ping frames
  std::chrono::milliseconds idle_timeout{60000};
  std::size_t max_message_bytes = 16u << 20;
  std::string name;                                  // for logs ("bybit public")
};

struct WsCallbacks {
  std::function<void()> on_open;                               // (re)connected
  std::function<void(const std::string& text)> on_message;     // one text message
  // A connection dropped, or an attempt failed (refused, TLS, handshake, timeout); a
  // reconnect follows unless stopped. `why` starts with options.name. Not called by Stop().
  std::function<void(const std::string& why)> on_close;
};

class WsClient {
 public:
  WsClient(WsClientOptions options, WsCallbacks callbacks);
  ~WsClient();   // Stop()
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  void Start();
  void Stop();
  bool Send(std::string text);
  bool connected() const;
  // Connections made so far (1 after the first, +1 per reconnect).
  std::uint64_t connects() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace ami::plugin::net
