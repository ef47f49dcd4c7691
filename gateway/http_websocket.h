// Internal to http_server.cpp: one WebSocket connection, taken over from an HTTP session
// whose handler answered an upgrade request with HttpResponse::websocket. One template
// for the plain and the TLS stream, like the HTTP session.
//
// Text messages only: a binary message is answered with close 1003. A message larger than
// max_body closes with 1009. Writes come from the handler's
// WebSocketPeer through a Channel (http_channel.h), one message at a time.
//
// Keep-alive and slow peers, on one timer per connection (not Beast's idle timer, which
// ties the ping interval to the dead-peer wait): after websocket_ping without a frame
// from the peer it is pinged; a peer that sends nothing within idle_timeout of the ping is
// closed (websocket_dead_peers); a write (or closing handshake) that does not complete
// within idle_timeout means the client stopped reading: closed (slow_clients_dropped).
#pragma once

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "gateway/http_channel.h"

namespace ami::gateway::http_internal {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;

template <class NextLayer>  // beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>
class WebSocketSession : public std::enable_shared_from_this<WebSocketSession<NextLayer>> {
  using Clock = std::chrono::steady_clock;

 public:
  WebSocketSession(NextLayer&& next, std::shared_ptr<ServerState> state, std::shared_ptr<WebSocketAccept> accept)
      : state_(std::move(state)), accept_(std::move(accept)), ws_(std::move(next)), timer_(ws_.get_executor()) {
    // The HTTP session that handed the connection over counts itself down when it goes.
    ++state_->counters->open_connections;
    channel_ = Channel::Create(Channel::Kind::kWebSocket, *state_);
    channel_->OnClose(accept_->on_close);
  }
  ~WebSocketSession() {
    channel_->Finish();
    --state_->counters->open_connections;
  }

  void Run(http::request<http::string_body> request) {
    request_ = std::move(request);
    const auto& o = state_->options;
    websocket::stream_base::timeout timeouts;
    timeouts.handshake_timeout = o.idle_timeout;   // bounds the opening and the closing handshake
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator([subprotocol = accept_->subprotocol](websocket::response_type& r) {
      if (!subprotocol.empty()) r.set(http::field::sec_websocket_protocol, subprotocol);
    }));
    // max_body is checked in OnRead, which closes with 1009 through the closing handshake.
    // Beast's own limit is only a backstop for a frame announcing a huge length: its
    // failure path (Boost 1.74) tears down after one read, so the client tends to see a
    // reset instead of the close frame.
    ws_.read_message_max(std::max<std::uint64_t>(o.max_body, 16ull << 20));
    // Runs inside this session's reads only, while they hold the session alive.
    ws_.control_callback([this](websocket::frame_type, beast::string_view) { Heard(); });
    ws_.async_accept(request_, beast::bind_front_handler(&WebSocketSession::OnAccept, this->shared_from_this()));
  }

 private:
  void OnAccept(beast::error_code ec) {
    if (ec) return Abort();
    Heard();
    channel_->Open([executor = ws_.get_executor(), weak = this->weak_from_this()] {
      net::post(executor, [weak] {
        if (auto self = weak.lock()) self->Pump();
      });
    });
    const auto& o = state_->options;
    tick_ = std::clamp<std::chrono::milliseconds>(std::min(o.websocket_ping, o.idle_timeout) / 4,
                                                  std::chrono::milliseconds(10), std::chrono::seconds(1));
    ArmTimer();
    DoRead();
    if (accept_->on_open) {
      try {
        accept_->on_open(std::make_shared<ChannelWebSocketPeer>(channel_));
      } catch (...) {
        channel_->End(1011, "internal error");
      }
    }
    Pump();
  }

  void DoRead() {
    ws_.async_read_some(read_buffer_, 64 << 10,
                        beast::bind_front_handler(&WebSocketSession::OnRead, this->shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (done_) return;
    if (ec == websocket::error::closed) return Done();  // the peer's close, answered by Beast
    if (ec) return Abort();
    Heard();
    if (!ws_.got_text()) {
      read_buffer_.consume(read_buffer_.size());
      return StartClose(websocket::close_reason(websocket::close_code::unknown_data, "text messages only"));
    }
    if (read_buffer_.size() > state_->options.max_body) {
      read_buffer_.consume(read_buffer_.size());  // the closing handshake reads past the rest
      return StartClose(websocket::close_reason(websocket::close_code::too_big, "message larger than http.max_body"));
    }
    if (!ws_.is_message_done()) return DoRead();
    std::string text = beast::buffers_to_string(read_buffer_.data());
    read_buffer_.consume(read_buffer_.size());
    if (!closing_ && accept_->on_message) {
      try {
        accept_->on_message(std::move(text));
      } catch (...) {
        channel_->End(1011, "internal error");
      }
    }
    DoRead();
  }

  // Writes the next queued message, or the close the handler asked for.
  void Pump() {
    if (done_) return;
    if (!closing_ && channel_->dropped())
      return StartClose(websocket::close_reason(websocket::close_code::policy_error, "too slow"));
    if (writing_ || closing_) return;
    Channel::Step step = channel_->Next();
    switch (step.action) {
      case Channel::Step::Action::kIdle:
        return;
      case Channel::Step::Action::kDrop:
        return StartClose(websocket::close_reason(websocket::close_code::policy_error, "too slow"));
      case Channel::Step::Action::kEnd:
        if (step.reason.size() > 123) step.reason.resize(123);  // RFC 6455 5.5: 125-byte control payload
        return StartClose(websocket::close_reason(static_cast<websocket::close_code>(step.code), step.reason));
      case Channel::Step::Action::kWrite:
        writing_ = true;
        write_since_ = Clock::now();
        out_ = std::move(step.data);
        ws_.text(true);
        ws_.async_write(net::buffer(out_), beast::bind_front_handler(&WebSocketSession::OnWrite, this->shared_from_this()));
        return;
    }
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    writing_ = false;
    channel_->Written();
    if (ec) return Abort();
    Pump();
  }

  void StartClose(const websocket::close_reason& reason) {
    if (closing_ || done_) return;
    closing_ = true;
    closing_since_ = Clock::now();
    // Beast sends the close frame after a write under way, then waits for the peer's.
    ws_.async_close(reason, [self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return self->Abort();
      self->Done();
    });
  }

  void Heard() {
    last_heard_ = Clock::now();
    ping_unanswered_ = false;
  }

  void ArmTimer() {
    timer_.expires_after(tick_);
    timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (!ec) self->Tick();
    });
  }

  void Tick() {
    if (done_) return;
    const auto now = Clock::now();
    const auto& o = state_->options;
    if (writing_ && now - write_since_ >= o.idle_timeout) {
      ++state_->counters->slow_clients_dropped;
      return Abort();
    }
    if (closing_ && now - closing_since_ >= o.idle_timeout) return Abort();
    if (ping_unanswered_ && now - ping_since_ >= o.idle_timeout) {
      ++state_->counters->websocket_dead_peers;
      return Abort();
    }
    if (!ping_unanswered_ && !closing_ && !ping_in_flight_ && now - last_heard_ >= o.websocket_ping) {
      ping_unanswered_ = true;
      ping_in_flight_ = true;
      ping_since_ = now;
      ws_.async_ping({}, [self = this->shared_from_this()](beast::error_code) { self->ping_in_flight_ = false; });
    }
    ArmTimer();
  }

  // Closed: the handler hears of it once (on_close through the channel).
  void Done() {
    if (done_) return;
    done_ = true;
    timer_.cancel();
    channel_->Finish();
  }

  // Closed without a closing handshake: the socket goes now, pending operations fail.
  void Abort() {
    beast::get_lowest_layer(ws_).close();
    Done();
  }

  std::shared_ptr<ServerState> state_;
  std::shared_ptr<WebSocketAccept> accept_;
  websocket::stream<NextLayer> ws_;
  net::steady_timer timer_;
  std::shared_ptr<Channel> channel_;
  http::request<http::string_body> request_;   // alive until the handshake completes
  beast::flat_buffer read_buffer_;
  std::string out_;                            // the message being written
  std::chrono::milliseconds tick_{1000};
  bool writing_ = false;
  bool closing_ = false;
  bool done_ = false;
  bool ping_unanswered_ = false;
  bool ping_in_flight_ = false;
  Clock::time_point last_heard_, write_since_, closing_since_, ping_since_;
};

}  // namespace ami::gateway::http_internal
