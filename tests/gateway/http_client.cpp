#include "tests/gateway/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>

#include <array>
#include <cctype>
#include <deque>

namespace ami::test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

using Clock = std::chrono::steady_clock;

// Runs `ioc` until `done` is set or `deadline` passes; false on the deadline (the pending
// operation stays pending: the caller decides whether to wait again or close).
bool RunUntil(net::io_context& ioc, const bool& done, Clock::time_point deadline) {
  while (!done) {
    if (Clock::now() >= deadline) return false;
    ioc.restart();
    if (ioc.run_one_until(deadline) == 0 && ioc.stopped() && !done && Clock::now() < deadline) return false;  // nothing pending
  }
  return true;
}

// Closes the socket and lets the aborted operations finish, so no handler outlives its state.
void Drain(net::io_context& ioc, beast::tcp_stream& stream) {
  beast::error_code ignored;
  stream.socket().close(ignored);
  ioc.restart();
  ioc.run();
}

}  // namespace

std::string HttpReply::Header(const std::string& name) const {
  auto it = headers.find(Lower(name));
  return it == headers.end() ? std::string() : it->second;
}

struct HttpConnection::Impl {
  net::io_context ioc;
  std::chrono::milliseconds timeout;
  std::optional<ssl::context> tls_context;
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  bool connected = false;
  std::string error;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  // Starts an asynchronous operation and runs the context until it completes or the
  // deadline passes; then the socket is closed and the operation finished as aborted.
  template <class Start>
  bool Run(Start start, beast::error_code* out_ec = nullptr) {
    bool done = false;
    beast::error_code ec;
    start([&](beast::error_code e, std::size_t = 0) {
      done = true;
      ec = e;
    });
    ioc.restart();
    ioc.run_for(timeout);
    if (!done) {
      beast::error_code ignored;
      lowest().socket().close(ignored);
      ioc.restart();
      ioc.run();
      error = "timed out";
      if (out_ec) *out_ec = beast::error::timeout;
      return false;
    }
    if (out_ec) *out_ec = ec;
    if (ec) error = ec.message();
    return !ec;
  }

  template <class F>
  auto WithStream(F f) {
    if (tls) return f(*tls);
    return f(*plain);
  }
};

HttpConnection::HttpConnection(uint16_t port, std::optional<std::filesystem::path> ca_file,
                               std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  Impl& im = *impl_;
  im.timeout = timeout;
  if (ca_file) {
    im.tls_context.emplace(ssl::context::tls_client);
    beast::error_code ec;
    im.tls_context->load_verify_file(ca_file->string(), ec);
    if (ec) {
      im.error = "CA file: " + ec.message();
      return;
    }
    im.tls_context->set_verify_mode(ssl::verify_peer);
    im.tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(im.ioc, *im.tls_context);
  } else {
    im.plain = std::make_unique<beast::tcp_stream>(im.ioc);
  }
  const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), port);
  if (!im.Run([&](auto done) { im.lowest().async_connect(endpoint, [done](beast::error_code ec) { done(ec); }); }))
    return;
  if (im.tls && !im.Run([&](auto done) {
        im.tls->async_handshake(ssl::stream_base::client, [done](beast::error_code ec) { done(ec); });
      }))
    return;
  im.connected = true;
}

HttpConnection::~HttpConnection() {
  beast::error_code ignored;
  impl_->lowest().socket().close(ignored);
}

bool HttpConnection::connected() const { return impl_->connected; }
const std::string& HttpConnection::error() const { return impl_->error; }

std::optional<HttpReply> HttpConnection::Request(const std::string& method, const std::string& target,
                                                 const Headers& headers, const std::string& body) {
  Impl& im = *impl_;
  if (!im.connected) return std::nullopt;
  http::request<http::string_body> request;
  request.method_string(method);
  request.target(target);
  request.version(11);
  request.set(http::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  if (!im.WithStream([&](auto& stream) {
        return im.Run([&](auto done) { http::async_write(stream, request, done); });
      }))
    return std::nullopt;
  return ReadReply();
}

bool HttpConnection::SendRaw(const std::string& bytes) {
  Impl& im = *impl_;
  if (!im.connected) return false;
  return im.WithStream([&](auto& stream) { return im.Run([&](auto done) { net::async_write(stream, net::buffer(bytes), done); }); });
}

std::optional<HttpReply> HttpConnection::ReadReply() {
  Impl& im = *impl_;
  if (!im.connected) return std::nullopt;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64ull << 20);
  if (!im.WithStream([&](auto& stream) { return im.Run([&](auto done) { http::async_read(stream, im.buffer, parser, done); }); }))
    return std::nullopt;
  auto message = parser.release();
  HttpReply reply;
  reply.status = static_cast<int>(message.result_int());
  for (const auto& field : message) reply.headers[Lower(std::string(field.name_string()))] = std::string(field.value());
  reply.body = std::move(message.body());
  return reply;
}

bool HttpConnection::WaitClosed(std::chrono::milliseconds timeout) {
  Impl& im = *impl_;
  if (!im.connected) return true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto saved = im.timeout;
  char scratch[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    im.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    beast::error_code ec;
    const bool read = im.WithStream([&](auto& stream) {
      return im.Run([&](auto done) { stream.async_read_some(net::buffer(scratch), done); }, &ec);
    });
    if (!read) {
      im.timeout = saved;
      // A deadline is "still open"; EOF, reset or a TLS close is "closed".
      if (ec == beast::error::timeout) return false;
      im.connected = false;
      return true;
    }
  }
  im.timeout = saved;
  return false;
}

// ---- SseStream ----

struct SseStream::Impl {
  net::io_context ioc;
  std::chrono::milliseconds timeout;
  uint16_t port;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  std::optional<http::response_parser<http::buffer_body>> parser;
  std::array<char, 8192> chunk;
  // One body read is outstanding across NextEvent calls: a NextEvent that times out leaves
  // it pending (cancelling a parser mid-message would lose its place in the stream).
  bool reading = false;
  bool read_done = false;
  beast::error_code read_ec;
  std::string pending;          // received text not yet split into lines
  std::string data;             // the data lines of the event being received
  bool has_data = false;
  std::deque<std::string> events;
  bool opened = false;
  bool ended = false;
  int comments = 0;
  std::string error;

  void StartRead() {
    auto& body = parser->get().body();
    body.data = chunk.data();
    body.size = chunk.size();
    body.more = true;
    reading = true;
    read_done = false;
    http::async_read_some(stream, buffer, *parser, [this](beast::error_code ec, std::size_t) {
      read_done = true;
      read_ec = ec;
    });
  }

  // The outstanding read completed: take its bytes.
  void TakeRead() {
    reading = false;
    read_done = false;
    const size_t got = chunk.size() - parser->get().body().size;
    pending.append(chunk.data(), got);
    SplitLines();
    if (read_ec == http::error::need_buffer) read_ec = {};
    if (read_ec) {
      ended = true;
      if (read_ec != http::error::end_of_stream && read_ec != net::error::eof) error = read_ec.message();
    } else if (parser->is_done()) {
      ended = true;
    }
  }

  // The SSE line rules (HTML "event stream interpretation"), for the fields tests use.
  void SplitLines() {
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string line = pending.substr(start, nl - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) {
        if (has_data) events.push_back(std::move(data));
        data.clear();
        has_data = false;
      } else if (line[0] == ':') {
        ++comments;
      } else {
        const size_t colon = line.find(':');
        const std::string field = line.substr(0, colon);
        std::string value = colon == std::string::npos ? std::string() : line.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') value.erase(0, 1);
        if (field == "data") {
          if (has_data) data += "\n";
          data += value;
          has_data = true;
        }
      }
    }
    pending.erase(0, start);
  }
};

SseStream::SseStream(uint16_t port, std::chrono::milliseconds timeout) : impl_(std::make_unique<Impl>()) {
  impl_->timeout = timeout;
  impl_->port = port;
}

SseStream::~SseStream() { Drain(impl_->ioc, impl_->stream); }

std::optional<HttpReply> SseStream::Open(const std::string& target, const Headers& headers) {
  Impl& im = *impl_;
  if (im.opened) return std::nullopt;
  im.opened = true;
  const auto deadline = Clock::now() + im.timeout;
  bool done = false;
  beast::error_code ec;
  auto finish = [&](beast::error_code e, std::size_t = 0) {
    done = true;
    ec = e;
  };
  auto step = [&](const char* what) {
    if (!RunUntil(im.ioc, done, deadline)) {
      im.error = std::string(what) + ": timed out";
      Drain(im.ioc, im.stream);
      im.ended = true;
      return false;
    }
    done = false;
    if (ec) {
      im.error = std::string(what) + ": " + ec.message();
      im.ended = true;
      return false;
    }
    return true;
  };
  im.stream.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), im.port),
                          [&](beast::error_code e) { finish(e); });
  if (!step("connect")) return std::nullopt;
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, "127.0.0.1");
  request.set(http::field::accept, "text/event-stream");
  for (const auto& [name, value] : headers) request.set(name, value);
  http::async_write(im.stream, request, finish);
  if (!step("write")) return std::nullopt;
  im.parser.emplace();
  im.parser->body_limit(boost::none);
  http::async_read_header(im.stream, im.buffer, *im.parser, finish);
  if (!step("read header")) return std::nullopt;
  HttpReply reply;
  const auto& head = im.parser->get();
  reply.status = static_cast<int>(head.result_int());
  for (const auto& field : head) reply.headers[Lower(std::string(field.name_string()))] = std::string(field.value());
  if (im.parser->is_done()) im.ended = true;
  // A reply with a length (a refusal: 401, 404…) is read whole into `body`.
  if (im.parser->content_length()) {
    while (!im.ended) {
      im.StartRead();
      if (!RunUntil(im.ioc, im.read_done, deadline)) {
        im.error = "read body: timed out";
        return std::nullopt;
      }
      im.TakeRead();
    }
    reply.body = std::move(im.pending);
    im.pending.clear();
  }
  return reply;
}

std::optional<std::string> SseStream::NextEvent(std::chrono::milliseconds timeout) {
  Impl& im = *impl_;
  const auto deadline = Clock::now() + timeout;
  while (im.events.empty()) {
    if (im.ended || !im.parser) return std::nullopt;
    if (!im.reading) im.StartRead();
    if (!RunUntil(im.ioc, im.read_done, deadline)) return std::nullopt;
    im.TakeRead();
  }
  std::string event = std::move(im.events.front());
  im.events.pop_front();
  return event;
}

bool SseStream::ended() const { return impl_->ended; }
int SseStream::comments() const { return impl_->comments; }
const std::string& SseStream::error() const { return impl_->error; }

// ---- WebSocketClient ----

struct WebSocketClient::Impl {
  net::io_context ioc;
  std::chrono::milliseconds timeout;
  uint16_t port;
  beast::websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buffer;
  bool open = false;
  std::string subprotocol;
  int refused_status = 0;
  int close_code = 0;
  std::string error;
  // As in SseStream: one read stays outstanding across Receive calls.
  bool reading = false;
  bool read_done = false;
  beast::error_code read_ec;

  void StartRead() {
    reading = true;
    read_done = false;
    ws.async_read(buffer, [this](beast::error_code ec, std::size_t) {
      read_done = true;
      read_ec = ec;
    });
  }

  void Closed(const beast::error_code& ec) {
    open = false;
    if (close_code != 0) return;
    if (ec == beast::websocket::error::closed) {
      close_code = ws.reason().code == beast::websocket::close_code::none ? 1005 : static_cast<int>(ws.reason().code);
    } else {
      close_code = 1006;
      error = ec.message();
    }
  }

  bool Write(const std::string& bytes, bool text) {
    if (!open) return false;
    bool done = false;
    beast::error_code ec;
    ws.text(text);
    ws.async_write(net::buffer(bytes), [&](beast::error_code e, std::size_t) {
      done = true;
      ec = e;
    });
    if (!RunUntil(ioc, done, Clock::now() + timeout)) {
      error = "write: timed out";
      Drain(ioc, beast::get_lowest_layer(ws));
      Closed(beast::error::timeout);
      return false;
    }
    if (ec) {
      Closed(ec);
      return false;
    }
    return true;
  }
};

WebSocketClient::WebSocketClient(uint16_t port, std::chrono::milliseconds timeout) : impl_(std::make_unique<Impl>()) {
  impl_->timeout = timeout;
  impl_->port = port;
}

WebSocketClient::~WebSocketClient() { Drain(impl_->ioc, beast::get_lowest_layer(impl_->ws)); }

bool WebSocketClient::Connect(const std::string& target, const std::vector<std::string>& subprotocols,
                              const Headers& headers) {
  Impl& im = *impl_;
  const auto deadline = Clock::now() + im.timeout;
  bool done = false;
  beast::error_code ec;
  beast::get_lowest_layer(im.ws).async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), im.port),
                                               [&](beast::error_code e) {
                                                 done = true;
                                                 ec = e;
                                               });
  if (!RunUntil(im.ioc, done, deadline) || ec) {
    im.error = "connect: " + (ec ? ec.message() : std::string("timed out"));
    return false;
  }
  std::string offered;
  for (const auto& p : subprotocols) offered += (offered.empty() ? "" : ", ") + p;
  im.ws.set_option(beast::websocket::stream_base::decorator([offered, headers](beast::websocket::request_type& r) {
    if (!offered.empty()) r.set(http::field::sec_websocket_protocol, offered);
    for (const auto& [name, value] : headers) r.set(name, value);
  }));
  beast::websocket::response_type response;
  done = false;
  im.ws.async_handshake(response, "127.0.0.1", target, [&](beast::error_code e) {
    done = true;
    ec = e;
  });
  if (!RunUntil(im.ioc, done, deadline)) {
    im.error = "handshake: timed out";
    Drain(im.ioc, beast::get_lowest_layer(im.ws));
    return false;
  }
  if (ec) {
    im.error = "handshake: " + ec.message();
    // The server answered, but not with 101: its status is what the caller wants.
    if (ec == beast::websocket::error::upgrade_declined) im.refused_status = static_cast<int>(response.result_int());
    return false;
  }
  im.subprotocol = std::string(response[http::field::sec_websocket_protocol]);
  im.open = true;
  return true;
}

std::string WebSocketClient::subprotocol() const { return impl_->subprotocol; }
int WebSocketClient::refused_status() const { return impl_->refused_status; }
bool WebSocketClient::Send(const std::string& text) { return impl_->Write(text, true); }
bool WebSocketClient::SendBinary(const std::string& bytes) { return impl_->Write(bytes, false); }

std::optional<std::string> WebSocketClient::Receive(std::chrono::milliseconds timeout) {
  Impl& im = *impl_;
  if (!im.open && !im.reading) return std::nullopt;
  if (!im.reading) im.StartRead();
  if (!RunUntil(im.ioc, im.read_done, Clock::now() + timeout)) return std::nullopt;
  im.reading = false;
  im.read_done = false;
  if (im.read_ec) {
    im.Closed(im.read_ec);
    return std::nullopt;
  }
  std::string message = beast::buffers_to_string(im.buffer.data());
  im.buffer.consume(im.buffer.size());
  return message;
}

int WebSocketClient::close_code() const { return impl_->close_code; }

void WebSocketClient::Close() {
  Impl& im = *impl_;
  if (!im.open) return;
  const auto deadline = Clock::now() + im.timeout;
  bool done = false;
  // With a read outstanding, that read receives the server's close frame and the close
  // completes after it.
  im.ws.async_close(beast::websocket::close_code::normal, [&](beast::error_code) { done = true; });
  const bool closed = RunUntil(im.ioc, done, deadline) && (!im.reading || RunUntil(im.ioc, im.read_done, deadline));
  if (!closed) im.error = "close: timed out";
  im.open = false;
  if (im.close_code == 0) im.close_code = 1000;
  Drain(im.ioc, beast::get_lowest_layer(im.ws));
}

const std::string& WebSocketClient::error() const { return impl_->error; }

std::optional<HttpReply> Fetch(uint16_t port, const std::string& method, const std::string& target,
                               const Headers& headers, const std::string& body,
                               std::optional<std::filesystem::path> ca_file) {
  HttpConnection connection(port, std::move(ca_file));
  return connection.Request(method, target, headers, body);
}

double MetricSample(const std::string& metrics, const std::string& series) {
  size_t at = 0;
  while ((at = metrics.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || metrics[at - 1] == '\n') return std::stod(metrics.substr(at + series.size() + 1));
    at += series.size();
  }
  return -1;
}

}  // namespace ami::test
