// WsClient on Boost.Beast. Everything below runs on the client's own io thread except
// Start/Stop/Send and the two counters; each (re)connection is a Conn that the async
// handlers share, so a handler of a dropped connection finds itself stale (c != conn_) and
// does nothing, and a stream is never destroyed under a pending operation.
//
// Boost.System stays header-only here (Boost >= 1.69 needs no library for it), and the
// SDK is compiled with -fno-gnu-unique like a plugin, so the Asio/Beast statics this file
// instantiates do not make the plugin that links it unloadable (see export.h).
#include "ami/plugin/net/ws_client.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <deque>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <utility>

namespace ami::plugin::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using ErrorCode = boost::system::error_code;

// A connection that stayed up this long was a success: the next drop starts the back-off
// from initial_backoff again. A server that accepts and drops at once keeps backing off.
constexpr std::chrono::seconds kStableConnection{10};

struct WsUrl {
  bool tls = false;
  std::string host;          // without IPv6 brackets
  std::string port;
  std::string target;        // "/path?query"
  std::string host_header;   // "host[:port]" as sent in Host
};

WsUrl ParseWsUrl(const std::string& url) {
  auto bad = [&](const char* why) { return std::invalid_argument("WebSocket URL '" + url + "': " + why); };
  WsUrl out;
  std::string lower;
  for (char ch : url.substr(0, 6)) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
  std::size_t pos;
  if (lower.rfind("wss://", 0) == 0) {
    out.tls = true;
    pos = 6;
  } else if (lower.rfind("ws://", 0) == 0) {
    pos = 5;
  } else {
    throw bad("expected ws:// or wss://");
  }
  const std::size_t end = url.find_first_of("/?#", pos);
  const std::string authority = url.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
  std::string rest = end == std::string::npos ? "" : url.substr(end);
  if (const auto hash = rest.find('#'); hash != std::string::npos) rest.erase(hash);
  out.target = rest.empty() ? "/" : rest[0] == '?' ? "/" + rest : rest;
  if (authority.empty()) throw bad("no host");
  if (authority.find('@') != std::string::npos) throw bad("user info is not supported");
  std::string port;
  if (authority[0] == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) throw bad("unclosed '['");
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw bad("junk after ']'");
      port = authority.substr(close + 2);
    }
  } else {
    const auto colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) throw bad("no host");
  const char* default_port = out.tls ? "443" : "80";
  if (port.empty()) port = default_port;
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) ||
      std::stoi(port) < 1 || std::stoi(port) > 65535)
    throw bad("bad port");
  out.port = port;
  const bool v6 = out.host.find(':') != std::string::npos;
  out.host_header = v6 ? "[" + out.host + "]" : out.host;
  if (port != default_port) out.host_header += ":" + port;
  return out;
}

using PlainWs = websocket::stream<beast::tcp_stream>;
using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

struct Outgoing {
  bool ping_frame = false;
  std::string text;
};

// One connection attempt and, once open, the connection.
struct Conn {
  std::uint64_t gen = 0;
  std::unique_ptr<PlainWs> plain;
  std::unique_ptr<TlsWs> tls;
  beast::flat_buffer buffer;
  std::deque<Outgoing> queue;   // front() is being written while `writing`
  bool writing = false;
  bool open = false;
  bool dead = false;
  Clock::time_point opened_at;
  Clock::time_point last_rx;

  template <class F>
  void With(F&& f) {
    if (plain) f(*plain);
    else if (tls) f(*tls);
  }
  void CloseSocket() {
    With([](auto& ws) {
      ErrorCode ignored;
      beast::get_lowest_layer(ws).socket().close(ignored);
    });
  }
};

}  // namespace

struct WsClient::Impl : std::enable_shared_from_this<WsClient::Impl> {
  Impl(WsClientOptions o, WsCallbacks cb)
      : options(std::move(o)), callbacks(std::move(cb)), url(ParseWsUrl(options.url)) {
    ssl_ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                        ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (options.verify_tls) {
      ssl_ctx.set_default_verify_paths();
      ssl_ctx.set_verify_mode(ssl::verify_peer);
    } else {
      ssl_ctx.set_verify_mode(ssl::verify_none);
    }
    rng.seed(std::random_device{}());
  }

  // ---- any thread ---------------------------------------------------------------------

  ~Impl() {
    // Only the io thread itself can get here with the thread running (see Start).
    if (thread.joinable()) thread.detach();
  }

  void Start() {
    std::lock_guard lock(life_mu);
    if (started || stopping) return;
    started = true;
    asio::post(ioc, [this] { Connect(); });
    // The thread owns a reference: if the last WsClient reference goes on this very
    // thread (a callback destroying its client), Impl outlives the running loop.
    thread = std::thread([self = shared_from_this()] { self->Run(); });
    io_thread_id = thread.get_id();
  }

  void Stop() {
    {
      std::lock_guard lock(life_mu);
      stopping = true;   // from here no callback starts
      connected = false;
      if (!started) return;
      if (!shutdown_posted) {
        shutdown_posted = true;
        asio::post(ioc, [this] { Shutdown(); });
      }
      // From a callback: the loop ends once it returns; a later Stop elsewhere joins.
      if (io_thread_id == std::this_thread::get_id()) return;
    }
    // Not under life_mu: a callback running meanwhile may call Stop (or Start) too.
    std::lock_guard join_lock(join_mu);
    if (thread.joinable()) thread.join();
  }

  bool Send(std::string text) {
    if (stopping || !connected) return false;
    const std::uint64_t g = generation.load();
    asio::post(ioc, [this, g, t = std::move(text)]() mutable { Enqueue(g, Outgoing{false, std::move(t)}); });
    return true;
  }

  // ---- io thread ----------------------------------------------------------------------

  void Run() {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (...) {
        // Only a bug can get here (callbacks are guarded): keep the client serving.
      }
    }
  }

  void Shutdown() {
    ErrorCode ignored;
    retry_timer.cancel(ignored);
    connect_timer.cancel(ignored);
    ping_timer.cancel(ignored);
    idle_timer.cancel(ignored);
    resolver.cancel();
    if (conn) {
      conn->dead = true;
      conn->CloseSocket();
      conn.reset();
    }
    ioc.stop();
  }

  template <class F, class... Args>
  void Invoke(const F& callback, Args&&... args) {
    if (stopping || !callback) return;
    try {
      callback(std::forward<Args>(args)...);
    } catch (...) {
      // Callbacks must not throw; one that does loses only its own call.
    }
  }

  std::string Why(const std::string& what) const {
    return options.name.empty() ? what : options.name + ": " + what;
  }

  bool Current(const std::shared_ptr<Conn>& c) const { return c == conn && !c->dead && !stopping; }

  void Connect() {
    if (stopping) return;
    auto c = std::make_shared<Conn>();
    c->gen = ++generation;
    conn = c;
    connect_timer.expires_after(options.connect_timeout);
    connect_timer.async_wait([this, c](ErrorCode ec) {
      if (ec || !Current(c) || c->open) return;
      Drop(c, "connect to " + options.url + " timed out after " +
                  std::to_string(options.connect_timeout.count()) + " ms");
    });
    resolver.async_resolve(url.host, url.port, [this, c](ErrorCode ec, tcp::resolver::results_type results) {
      if (!Current(c)) return;
      if (ec) return Drop(c, "resolve " + url.host + ": " + ec.message());
      if (url.tls) c->tls = std::make_unique<TlsWs>(ioc, ssl_ctx);
      else c->plain = std::make_unique<PlainWs>(ioc);
      c->With([&](auto& ws) {
        beast::get_lowest_layer(ws).async_connect(results, [this, c](ErrorCode ec, const tcp::endpoint&) {
          if (!Current(c)) return;
          if (ec) return Drop(c, "connect " + url.host_header + ": " + ec.message());
          if (url.tls) StartTls(c);
          else StartHandshake(c, *c->plain);
        });
      });
    });
  }

  void StartTls(const std::shared_ptr<Conn>& c) {
    auto& stream = c->tls->next_layer();
    ErrorCode not_ip;
    asio::ip::make_address(url.host, not_ip);
    const bool ip_literal = !not_ip;
    // SNI (servers behind a shared address pick the certificate by it); not for IPs.
    if (!ip_literal && !SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str()))
      return Drop(c, "TLS: cannot set the server name " + url.host);
    if (options.verify_tls) stream.set_verify_callback(ssl::host_name_verification(url.host));
    stream.async_handshake(ssl::stream_base::client, [this, c](ErrorCode ec) {
      if (!Current(c)) return;
      if (ec) return Drop(c, "TLS handshake with " + url.host_header + ": " + ec.message());
      StartHandshake(c, *c->tls);
    });
  }

  template <class Ws>
  void StartHandshake(const std::shared_ptr<Conn>& c, Ws& ws) {
    // Timeouts are ours (connect timer, idle timer); Beast's stay off.
    ws.set_option(websocket::stream_base::timeout{websocket::stream_base::none(), websocket::stream_base::none(), false});
    ws.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(beast::http::field::user_agent, "ami-connector-sdk");
    }));
    ws.read_message_max(options.max_message_bytes);
    // Pongs and pings from the server are signs of life too. Raw pointer: the callback
    // lives inside the Conn's own stream.
    Conn* raw = c.get();
    ws.control_callback([raw](websocket::frame_type, beast::string_view) { raw->last_rx = Clock::now(); });
    ws.async_handshake(url.host_header, url.target, [this, c](ErrorCode ec) {
      if (!Current(c)) return;
      if (ec) return Drop(c, "WebSocket handshake with " + url.host_header + ": " + ec.message());
      OnOpen(c);
    });
  }

  void OnOpen(const std::shared_ptr<Conn>& c) {
    ErrorCode ignored;
    connect_timer.cancel(ignored);
    c->open = true;
    c->opened_at = c->last_rx = Clock::now();
    c->With([](auto& ws) { ws.text(true); });
    connected = true;
    ++connects;
    ArmPing(c);
    ArmIdle(c);
    Invoke(callbacks.on_open);
    if (Current(c)) Read(c);
  }

  void Read(const std::shared_ptr<Conn>& c) {
    c->With([&](auto& ws) {
      ws.async_read(c->buffer, [this, c](ErrorCode ec, std::size_t) {
        if (!Current(c)) return;
        if (ec) {
          if (ec == websocket::error::closed) {
            std::string why = "closed by the server";
            c->With([&](auto& s) {
              const auto& reason = s.reason();
              why += " (" + std::to_string(static_cast<int>(reason.code)) +
                     (reason.reason.empty() ? std::string() : " " + std::string(reason.reason.c_str())) + ")";
            });
            return Drop(c, why);
          }
          return Drop(c, "read: " + ec.message());
        }
        c->last_rx = Clock::now();
        std::string text = beast::buffers_to_string(c->buffer.data());
        c->buffer.consume(c->buffer.size());
        Invoke(callbacks.on_message, text);
        if (Current(c)) Read(c);
      });
    });
  }

  void Enqueue(std::uint64_t gen, Outgoing out) {
    const auto c = conn;
    if (!c || !Current(c) || !c->open || c->gen != gen) return;   // sent for a connection now gone
    c->queue.push_back(std::move(out));
    if (!c->writing) Write(c);
  }

  void Write(const std::shared_ptr<Conn>& c) {
    c->writing = true;
    const Outgoing& front = c->queue.front();   // stays put: deque push_back keeps references
    auto done = [this, c](ErrorCode ec, auto&&...) {
      if (!Current(c)) return;
      if (ec) return Drop(c, "write: " + ec.message());
      c->queue.pop_front();
      c->writing = false;
      if (!c->queue.empty()) Write(c);
    };
    c->With([&](auto& ws) {
      if (front.ping_frame) ws.async_ping({}, done);
      else ws.async_write(asio::buffer(front.text), done);
    });
  }

  void ArmPing(const std::shared_ptr<Conn>& c) {
    if (options.ping_interval.count() <= 0) return;
    ping_timer.expires_after(options.ping_interval);
    ping_timer.async_wait([this, c](ErrorCode ec) {
      if (ec || !Current(c)) return;
      Enqueue(c->gen, Outgoing{options.ping_text.empty(), options.ping_text});
      ArmPing(c);
    });
  }

  void ArmIdle(const std::shared_ptr<Conn>& c) {
    if (options.idle_timeout.count() <= 0) return;
    idle_timer.expires_at(c->last_rx + options.idle_timeout);
    idle_timer.async_wait([this, c](ErrorCode ec) {
      if (ec || !Current(c)) return;
      if (Clock::now() - c->last_rx >= options.idle_timeout)
        return Drop(c, "nothing received for " + std::to_string(options.idle_timeout.count()) + " ms");
      ArmIdle(c);
    });
  }

  // The connection (or attempt) `c` failed: close it, tell the connector, retry later.
  void Drop(const std::shared_ptr<Conn>& c, const std::string& why) {
    if (!Current(c)) return;
    c->dead = true;
    const bool was_stable = c->open && Clock::now() - c->opened_at >= kStableConnection;
    connected = false;
    ErrorCode ignored;
    connect_timer.cancel(ignored);
    ping_timer.cancel(ignored);
    idle_timer.cancel(ignored);
    resolver.cancel();
    c->CloseSocket();
    c->queue.clear();
    conn.reset();
    if (was_stable) failures = 0;
    ScheduleRetry();
    Invoke(callbacks.on_close, Why(why));
  }

  // Exponential back-off with "equal jitter": half the step fixed, half random, so many
  // clients dropped at once do not come back in the same instant, and none spins.
  void ScheduleRetry() {
    using Millis = std::chrono::milliseconds;
    const Millis floor = std::max(options.initial_backoff, Millis(1));
    const Millis cap = std::max(options.max_backoff, floor);
    Millis step = floor;
    for (int i = 0; i < failures && step < cap; ++i) step *= 2;
    step = std::min(step, cap);
    ++failures;
    std::uniform_int_distribution<std::int64_t> jitter(0, step.count() / 2);
    const Millis delay = step - Millis(step.count() / 2) + Millis(jitter(rng));
    retry_timer.expires_after(delay);
    retry_timer.async_wait([this](ErrorCode ec) {
      if (ec || stopping) return;
      Connect();
    });
  }

  const WsClientOptions options;
  const WsCallbacks callbacks;
  const WsUrl url;

  // Declared before the io_context: TLS streams that pending handlers still own are
  // destroyed with it, and need their context until then.
  ssl::context ssl_ctx{ssl::context::tls_client};
  asio::io_context ioc{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  tcp::resolver resolver{ioc};
  asio::steady_timer connect_timer{ioc};
  asio::steady_timer ping_timer{ioc};
  asio::steady_timer idle_timer{ioc};
  asio::steady_timer retry_timer{ioc};

  std::shared_ptr<Conn> conn;   // io thread: the current attempt or connection
  int failures = 0;             // io thread: consecutive failures (back-off exponent)
  std::minstd_rand rng;         // io thread

  std::atomic<bool> stopping{false};
  std::atomic<bool> connected{false};
  std::atomic<std::uint64_t> connects{0};
  std::atomic<std::uint64_t> generation{0};

  std::mutex life_mu;   // Start/Stop: the flags below
  bool started = false;
  bool shutdown_posted = false;
  std::thread::id io_thread_id;
  std::mutex join_mu;   // one joiner at a time; `thread` is set by Start before any Stop joins
  std::thread thread;
};

WsClient::WsClient(WsClientOptions options, WsCallbacks callbacks)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(callbacks))) {}

WsClient::~WsClient() { Stop(); }

void WsClient::Start() { impl_->Start(); }
void WsClient::Stop() { impl_->Stop(); }
bool WsClient::Send(std::string text) { return impl_->Send(std::move(text)); }
bool WsClient::connected() const { return impl_->connected; }
std::uint64_t WsClient::connects() const { return impl_->connects; }

}  // namespace ami::plugin::net
