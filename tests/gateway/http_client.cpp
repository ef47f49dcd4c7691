#include "tests/gateway/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <cctype>

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

std::optional<HttpReply> Fetch(uint16_t port, const std::string& method, const std::string& target,
                               const Headers& headers, const std::string& body,
                               std::optional<std::filesystem::path> ca_file) {
  HttpConnection connection(port, std::move(ca_file));
  return connection.Request(method, target, headers, body);
}

}  // namespace ami::test
