// Boost.Beast is used here (and in http_websocket.h, included only here) and nowhere else
// in the gateway (see http_message.h). The session code follows Beast's "advanced server,
// flex" example: one template for the plain and the TLS stream, so limits, keep-alive,
// streamed replies and WebSockets behave the same on both.
#include "gateway/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <nlohmann/json.hpp>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <thread>
#include <vector>

#include "gateway/http_channel.h"
#include "gateway/http_websocket.h"

namespace ami::gateway {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

using http_internal::Channel;
using http_internal::ServerState;
using http_internal::WebSocketSession;

std::string Lower(beast::string_view text) {
  std::string out(text.data(), text.size());
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

HttpResponse ServerError(int status, const std::string& code, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.close = true;  // after a limit the stream position is unknown: never read on
  r.SetHeader("Content-Type", "application/json");
  r.body = nlohmann::json{{"error", {{"code", code}, {"message", message}}}}.dump();
  return r;
}

bool IsHttpParseError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category();
}

template <class Derived>
class Session {
 public:
  Session(std::shared_ptr<ServerState> state, std::string peer) : state_(std::move(state)), peer_(std::move(peer)) {}
  ~Session() {
    if (channel_) channel_->Finish();
    --state_->counters->open_connections;
  }

 protected:
  Derived& derived() { return static_cast<Derived&>(*this); }

  void DoRead() {
    parser_.emplace();
    parser_->body_limit(state_->options.max_body);
    parser_->header_limit(static_cast<std::uint32_t>(state_->options.max_header));
    // Bounds the whole request, not each byte: a client trickling a header (slowloris)
    // is closed after idle_timeout just like one that sends nothing.
    beast::get_lowest_layer(derived().stream()).expires_after(state_->options.idle_timeout);
    http::async_read(derived().stream(), buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, derived().shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    ServerCounters& c = *state_->counters;
    if (ec == http::error::end_of_stream) return derived().DoEof();
    if (ec == beast::error::timeout) {
      ++c.idle_timeouts;
      return;  // the stream is closed already; nothing can be said to a silent peer
    }
    if (ec == http::error::body_limit) {
      ++c.body_too_large;
      HttpRequest partial = Convert(parser_->get(), /*with_body=*/false);
      return Reply(ServerError(413, "payload_too_large",
                               "request body larger than " + std::to_string(state_->options.max_body) +
                                   " bytes (http.max_body)"),
                   &partial);
    }
    if (ec == http::error::header_limit) {
      ++c.header_too_large;
      return Reply(ServerError(431, "headers_too_large",
                               "request header block larger than " + std::to_string(state_->options.max_header) +
                                   " bytes (http.max_header)"),
                   nullptr);
    }
    if (ec == http::error::partial_message) return;  // the client went away mid-request
    if (ec && IsHttpParseError(ec)) {
      ++c.bad_requests;
      return Reply(ServerError(400, "invalid", "not an HTTP/1.1 request: " + ec.message()), nullptr);
    }
    if (ec) return;  // reset, aborted, TLS truncation: nothing to answer

    beast::get_lowest_layer(derived().stream()).expires_never();  // the handler's own deadline rules
    keep_alive_ = parser_->get().keep_alive();
    upgrade_ = beast::websocket::is_upgrade(parser_->get());
    HttpRequest request = Convert(parser_->get(), /*with_body=*/true);
    auto self = derived().shared_from_this();
    auto executor = derived().stream().get_executor();
    Respond respond = [self, executor](HttpResponse response) {
      net::post(executor, [self, response = std::move(response)]() mutable { self->Write(std::move(response), nullptr); });
    };
    try {
      state_->handler(std::move(request), std::move(respond));
    } catch (const std::exception& e) {
      // A handler bug must not leave the connection waiting forever.
      Write(ServerError(500, "internal", std::string("gateway: ") + e.what()), nullptr);
    }
  }

  // A reply the server makes itself: decorated (CORS, metrics) like the handler's.
  void Reply(HttpResponse response, const HttpRequest* request) {
    linger_ = true;
    if (state_->decorate) state_->decorate(request, response);
    Write(std::move(response), request);
  }

 public:
  void Write(HttpResponse response, const HttpRequest*) {
    if (upgrade_ && response.websocket) return derived().HandOver(parser_->release(), std::move(response.websocket));
    if (response.stream) return StartStream(std::move(response));
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(response.status));
    for (auto& [name, value] : response.headers) res_.set(name, value);
    res_.body() = std::move(response.body);
    // An upgrade request refused with an ordinary reply: the client may still send frames.
    const bool close = response.close || !keep_alive_ || upgrade_;
    res_.keep_alive(!close);
    // RFC 9110 8.6: no Content-Length on 1xx and 204 (preflight replies are 204).
    if (response.status >= 200 && response.status != 204) res_.prepare_payload();
    beast::get_lowest_layer(derived().stream()).expires_after(state_->options.idle_timeout);
    http::async_write(derived().stream(), res_,
                      beast::bind_front_handler(&Session::OnWrite, derived().shared_from_this(), close));
  }

  // Writes the next queued part of a streamed reply (posted by the writer's Channel).
  void StreamPump() {
    if (stream_done_ || ending_) return;
    if (writing_) {
      if (channel_->dropped()) AbortStream();  // fell behind: not waiting for the stuck write
      return;
    }
    Channel::Step step = channel_->Next();
    switch (step.action) {
      case Channel::Step::Action::kIdle:
        return;
      case Channel::Step::Action::kDrop:
        return AbortStream();
      case Channel::Step::Action::kEnd: {
        // End(): all is written. The read that watches for the client leaving is cancelled
        // first (a TLS shutdown must not run beside it); its handler closes.
        ending_ = true;
        if (!reading_) return CloseStream();
        beast::error_code ignored;
        beast::get_lowest_layer(derived().stream()).socket().cancel(ignored);
        return;
      }
      case Channel::Step::Action::kWrite:
        writing_ = true;
        out_ = std::move(step.data);
        // Only the write is bounded (the watching read is pending): a client that does
        // not read for idle_timeout is dropped.
        beast::get_lowest_layer(derived().stream()).expires_after(state_->options.idle_timeout);
        net::async_write(derived().stream(), net::buffer(out_),
                         beast::bind_front_handler(&Session::OnStreamWrite, derived().shared_from_this()));
        return;
    }
  }

 protected:
  void OnWrite(bool close, beast::error_code ec, std::size_t) {
    if (ec) return;
    if (close) return derived().DoEof();
    DoRead();
  }

  // ---- streamed replies (HttpResponse::stream) ----

  void StartStream(HttpResponse response) {
    channel_ = Channel::Create(Channel::Kind::kStream, *state_);
    head_ = {};
    head_.version(11);
    head_.result(static_cast<unsigned>(response.status));
    for (auto& [name, value] : response.headers) head_.set(name, value);
    head_.keep_alive(false);  // the body ends when the connection does: no length, no chunks
    beast::get_lowest_layer(derived().stream()).expires_after(state_->options.idle_timeout);
    http::async_write(derived().stream(), head_,
                      [self = derived().shared_from_this(), start = std::move(response.stream)](
                          beast::error_code ec, std::size_t) mutable { self->OnStreamHead(std::move(start), ec); });
  }

  void OnStreamHead(std::function<void(std::shared_ptr<StreamWriter>)> start, beast::error_code ec) {
    if (ec) {
      AbortStream();  // the handler still gets its writer: closed, its OnClose runs at once
    } else {
      // An idle stream lives until the client leaves; each body write sets its own deadline.
      beast::get_lowest_layer(derived().stream()).expires_never();
      channel_->Open([executor = derived().stream().get_executor(), weak = derived().weak_from_this()] {
        net::post(executor, [weak] {
          if (auto self = weak.lock()) self->StreamPump();
        });
      });
      WatchStream();
    }
    try {
      start(std::make_shared<http_internal::ChannelStreamWriter>(channel_));
    } catch (...) {
      channel_->End();
    }
    StreamPump();
  }

  // A streamed reply is never read from, but a pending read is how the server learns that
  // the client left (EOF or reset) while nothing is being written.
  void WatchStream() {
    reading_ = true;
    derived().stream().async_read_some(
        net::buffer(scratch_), beast::bind_front_handler(&Session::OnStreamRead, derived().shared_from_this()));
  }

  void OnStreamRead(beast::error_code ec, std::size_t) {
    reading_ = false;
    if (stream_done_) return;
    if (ending_) return CloseStream();
    if (ec) return AbortStream();
    WatchStream();  // the client sent something: ignored
  }

  void OnStreamWrite(beast::error_code ec, std::size_t) {
    writing_ = false;
    channel_->Written();
    // Counted even when the watching read (failed by the same close) got here first.
    if (ec == beast::error::timeout) ++state_->counters->slow_clients_dropped;
    if (stream_done_) return;
    if (ec) return AbortStream();
    StreamPump();
  }

  // After End(): everything is written; close as an HTTP body without length ends.
  void CloseStream() {
    if (stream_done_) return;
    stream_done_ = true;
    derived().ShutdownStream([self = derived().shared_from_this()] { self->channel_->Finish(); });
  }

  void AbortStream() {
    if (stream_done_) return;
    stream_done_ = true;
    beast::get_lowest_layer(derived().stream()).close();
    channel_->Finish();
  }

  HttpRequest Convert(http::request<http::string_body>& message, bool with_body) {
    HttpRequest r;
    r.method = std::string(message.method_string());
    r.target = std::string(message.target());
    const size_t q = r.target.find('?');
    r.path = r.target.substr(0, q);
    if (q != std::string::npos) r.query = r.target.substr(q + 1);
    for (const auto& field : message) r.headers.emplace_back(Lower(field.name_string()), std::string(field.value()));
    if (with_body) r.body = std::move(message.body());
    r.peer = peer_;
    r.websocket_upgrade = upgrade_;
    r.tls = Derived::kTls;
    return r;
  }

  std::shared_ptr<ServerState> state_;
  std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;   // alive until its write completes
  bool keep_alive_ = true;
  bool upgrade_ = false;                     // the request being answered asks for a WebSocket
  bool linger_ = false;                      // the server refused a request: drain before closing
  // A streamed reply: its head, its channel, the write under way.
  http::response<http::empty_body> head_;
  std::shared_ptr<Channel> channel_;
  std::string out_;
  std::array<char, 512> scratch_;
  bool writing_ = false;
  bool reading_ = false;
  bool ending_ = false;                      // End() reached: closing once the read is cancelled
  bool stream_done_ = false;
};

class PlainSession : public Session<PlainSession>, public std::enable_shared_from_this<PlainSession> {
 public:
  static constexpr bool kTls = false;

  PlainSession(tcp::socket&& socket, std::shared_ptr<ServerState> state, std::string peer)
      : Session(std::move(state), std::move(peer)), stream_(std::move(socket)) {}

  beast::tcp_stream& stream() { return stream_; }

  void Run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&PlainSession::DoRead, shared_from_this()));
  }

  void DoEof() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (!linger_) return;
    // After a refusal (413, 431, 400) the client may still be sending — the rest of a
    // 10 MB body. Closing with unread input makes the kernel send a reset, which can
    // destroy the reply before the client reads it; so read and drop its bytes until it
    // closes, for a bounded time (the deadline is set once, a steady sender cannot extend it).
    stream_.expires_after(std::min<std::chrono::milliseconds>(state_->options.idle_timeout, std::chrono::seconds(2)));
    Drain();
  }

  template <class Done>
  void ShutdownStream(Done done) {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
    done();
  }

  void HandOver(http::request<http::string_body> request, std::shared_ptr<WebSocketAccept> accept) {
    std::make_shared<WebSocketSession<beast::tcp_stream>>(std::move(stream_), state_, std::move(accept))
        ->Run(std::move(request));
  }

 private:
  void Drain() {
    stream_.async_read_some(net::buffer(drain_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (!ec) self->Drain();
    });
  }

  beast::tcp_stream stream_;
  std::array<char, 4096> drain_;
};

class TlsSession : public Session<TlsSession>, public std::enable_shared_from_this<TlsSession> {
 public:
  static constexpr bool kTls = true;

  TlsSession(tcp::socket&& socket, ssl::context& context, std::shared_ptr<ServerState> state, std::string peer)
      : Session(std::move(state), std::move(peer)), stream_(std::move(socket), context) {}

  beast::ssl_stream<beast::tcp_stream>& stream() { return stream_; }

  void Run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&TlsSession::OnRun, shared_from_this()));
  }

  void DoEof() {
    beast::get_lowest_layer(stream_).expires_after(state_->options.idle_timeout);
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});
  }

  // close_notify first, so the client can tell the end of the body from a cut connection.
  template <class Done>
  void ShutdownStream(Done done) {
    beast::get_lowest_layer(stream_).expires_after(
        std::min<std::chrono::milliseconds>(state_->options.idle_timeout, std::chrono::seconds(2)));
    stream_.async_shutdown([self = shared_from_this(), done = std::move(done)](beast::error_code) mutable {
      beast::get_lowest_layer(self->stream_).close();
      done();
    });
  }

  void HandOver(http::request<http::string_body> request, std::shared_ptr<WebSocketAccept> accept) {
    std::make_shared<WebSocketSession<beast::ssl_stream<beast::tcp_stream>>>(std::move(stream_), state_,
                                                                             std::move(accept))
        ->Run(std::move(request));
  }

 private:
  void OnRun() {
    beast::get_lowest_layer(stream_).expires_after(state_->options.idle_timeout);
    stream_.async_handshake(ssl::stream_base::server,
                            beast::bind_front_handler(&TlsSession::OnHandshake, shared_from_this()));
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) {
      ++state_->counters->tls_failures;
      return;
    }
    DoRead();
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, std::shared_ptr<ServerState> state, ssl::context* tls)
      : ioc_(ioc), acceptor_(net::make_strand(ioc)), retry_(acceptor_.get_executor()), state_(std::move(state)),
        tls_(tls) {}

  Status Open(const tcp::endpoint& endpoint) {
    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return Status::IOError(ec.message());
    return Status::OK();
  }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }

  void Start() {
    net::dispatch(acceptor_.get_executor(), beast::bind_front_handler(&Listener::DoAccept, shared_from_this()));
  }

  // Only with no thread running the io_context (HttpServer::Stop joins them first).
  void Close() {
    beast::error_code ignored;
    acceptor_.close(ignored);
    retry_.cancel();
  }

 private:
  void DoAccept() {
    acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
  }

  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;  // stopping
    if (ec) {
      // Out of file descriptors, typically: the listening socket stays readable, so
      // accepting again at once would spin. Try again shortly.
      retry_.expires_after(std::chrono::milliseconds(50));
      retry_.async_wait([self = shared_from_this()](beast::error_code e) {
        if (!e) self->DoAccept();
      });
      return;
    }
    ServerCounters& c = *state_->counters;
    if (c.open_connections.load() >= state_->options.max_connections) {
      ++c.rejected;
      beast::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
    } else {
      ++c.accepted;
      ++c.open_connections;
      beast::error_code peer_ec;
      auto remote = socket.remote_endpoint(peer_ec);
      std::string peer = peer_ec ? std::string("?") : remote.address().to_string() + ":" + std::to_string(remote.port());
      if (tls_) std::make_shared<TlsSession>(std::move(socket), *tls_, state_, std::move(peer))->Run();
      else std::make_shared<PlainSession>(std::move(socket), state_, std::move(peer))->Run();
    }
    DoAccept();
  }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_;
  std::shared_ptr<ServerState> state_;
  ssl::context* tls_;
};

Result<std::unique_ptr<ssl::context>> MakeTlsContext(const std::filesystem::path& cert, const std::filesystem::path& key) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  // TLS 1.2 and 1.3 only; what browsers and curl speak today.
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  beast::error_code ec;
  context->use_certificate_chain_file(cert.string(), ec);
  if (ec) return Status::InvalidArgument("http.tls.cert_file " + cert.string() + ": " + ec.message());
  context->use_private_key_file(key.string(), ssl::context::pem, ec);
  if (ec) return Status::InvalidArgument("http.tls.key_file " + key.string() + ": " + ec.message());
  if (SSL_CTX_check_private_key(context->native_handle()) != 1)
    return Status::InvalidArgument("http.tls.key_file " + key.string() + ": does not match http.tls.cert_file");
  return context;
}

}  // namespace

struct HttpServer::Impl {
  // Declared first, destroyed last: TLS sessions still in the io_context refer to it.
  std::unique_ptr<ssl::context> tls;
  std::shared_ptr<ServerState> state;
  net::io_context ioc;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::shared_ptr<Listener> listener;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  bool stopped = false;

  explicit Impl(int threads) : ioc(threads) {}
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(ServerOptions options, RequestHandler handler,
                                                      ReplyDecorator decorate) {
  const int threads = std::clamp(options.threads, 1, 2);
  auto impl = std::make_unique<Impl>(threads);
  if (options.tls_cert_file || options.tls_key_file) {
    if (!options.tls_cert_file || !options.tls_key_file)
      return Status::InvalidArgument("http.tls: give both cert_file and key_file");
    auto context = MakeTlsContext(*options.tls_cert_file, *options.tls_key_file);
    if (!context.ok()) return context.status();
    impl->tls = std::move(*context);
  }
  const std::string where = options.host + ":" + std::to_string(options.port);
  beast::error_code ec;
  tcp::resolver resolver(impl->ioc);
  auto endpoints = resolver.resolve(options.host, std::to_string(options.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) return Status::IOError("http.listen " + where + ": cannot resolve: " + ec.message());

  impl->state = std::make_shared<ServerState>();
  if (options.counters) impl->state->counters = options.counters;
  impl->state->options = std::move(options);
  impl->state->handler = std::move(handler);
  impl->state->decorate = std::move(decorate);
  impl->listener = std::make_shared<Listener>(impl->ioc, impl->state, impl->tls.get());
  if (Status opened = impl->listener->Open(*endpoints.begin()); !opened.ok())
    return Status::IOError("http.listen " + where + ": " + opened.message());
  impl->port = impl->listener->port();
  impl->listener->Start();
  impl->work.emplace(impl->ioc.get_executor());
  for (int i = 0; i < threads; ++i) impl->threads.emplace_back([ioc = &impl->ioc] { ioc->run(); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

void HttpServer::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  impl_->work.reset();
  impl_->ioc.stop();
  for (auto& thread : impl_->threads) thread.join();
  impl_->threads.clear();
  // No thread runs the context now; the listening socket goes at once so clients see a
  // refused connection, not a silent backlog. Connections go with the context.
  impl_->listener->Close();
  // Open streams and WebSockets are closed for their handlers here, while the context
  // still exists: their OnClose / on_close run now, on this thread, and every writer
  // the handlers keep is detached from the context (http_channel.h).
  impl_->state->channels->FinishAll();
}

uint16_t HttpServer::port() const { return impl_->port; }
bool HttpServer::tls() const { return impl_->tls != nullptr; }
std::shared_ptr<const ServerCounters> HttpServer::counters() const { return impl_->state->counters; }

}  // namespace ami::gateway
