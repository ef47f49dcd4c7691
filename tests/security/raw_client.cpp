#include "tests/security/raw_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <random>

namespace ami::test::raw {
namespace {

void PutBig(std::string* out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// CAF 0.17's binary serializer writes sequence and string sizes as varbytes.
void PutVarbyte(std::string* out, uint32_t v) {
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    if (v) b |= 0x80;
    out->push_back(static_cast<char>(b));
  } while (v);
}

void PutString(std::string* out, const std::string& s) {
  PutVarbyte(out, static_cast<uint32_t>(s.size()));
  *out += s;
}

bool WaitFd(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

}  // namespace

std::string Header(Op op, uint32_t payload_len, uint64_t operation_data, uint32_t source, uint32_t dest) {
  std::string h;
  h.push_back(static_cast<char>(op));
  h.push_back(0);
  h.push_back(0);
  h.push_back(0);
  PutBig(&h, payload_len, 4);
  PutBig(&h, operation_data, 8);
  PutBig(&h, source, 4);
  PutBig(&h, dest, 4);
  return h;
}

std::string HandshakeWithDeclaredString(uint32_t declared) {
  std::string payload;
  PutVarbyte(&payload, declared);  // the app identifier's length…
  payload += "caf";                // …and far fewer bytes
  return Header(Op::kClientHandshake, static_cast<uint32_t>(payload.size()), 1) + payload;
}

std::string NestedMessage(int depth) {
  std::string payload;
  PutVarbyte(&payload, 0);  // empty forwarding stack
  for (int i = 0; i < depth; ++i) PutString(&payload, "@<>+@message");
  return Header(Op::kDirectMessage, static_cast<uint32_t>(payload.size()), 0, 1, 1) + payload;
}

std::string Garbage(size_t n) {
  std::mt19937 rng(42);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

Connection::~Connection() {
  if (ssl_) SSL_free(static_cast<SSL*>(ssl_));
  if (ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(ctx_));
  if (fd_ >= 0) ::close(fd_);
}

Connection::Connection(Connection&& other) noexcept
    : fd_(other.fd_), ssl_(other.ssl_), ctx_(other.ctx_), handshake_ok_(other.handshake_ok_),
      handshake_error_(std::move(other.handshake_error_)) {
  other.fd_ = -1;
  other.ssl_ = other.ctx_ = nullptr;
}

std::optional<Connection> Connection::Plain(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  Connection c;
  c.fd_ = fd;
  return c;
}

std::optional<Connection> Connection::Tls(uint16_t port, const transport::TlsFiles* client,
                                          std::chrono::milliseconds timeout) {
  auto c = Plain(port);
  if (!c) return std::nullopt;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  c->ctx_ = ctx;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);  // the attacker does not care who the server is
  if (client && (SSL_CTX_use_certificate_chain_file(ctx, client->cert_file.c_str()) != 1 ||
                 SSL_CTX_use_PrivateKey_file(ctx, client->key_file.c_str(), SSL_FILETYPE_PEM) != 1)) {
    c->handshake_error_ = "cannot load the client certificate";
    return c;
  }
  SSL* ssl = SSL_new(ctx);
  c->ssl_ = ssl;
  SSL_set_fd(ssl, c->fd_);
  ::fcntl(c->fd_, F_SETFL, ::fcntl(c->fd_, F_GETFL) | O_NONBLOCK);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const int rc = SSL_connect(ssl);
    if (rc == 1) break;
    const int err = SSL_get_error(ssl, rc);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if ((err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) && left.count() > 0) {
      WaitFd(c->fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, left);
      continue;
    }
    char buf[256] = "handshake timed out";
    if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, buf, sizeof buf);
    c->handshake_error_ = buf;
    ERR_clear_error();
    return c;
  }
  // TLS 1.3: a server that refuses the client's certificate says so only after the
  // client's handshake completed; read once to learn of it.
  char byte;
  if (WaitFd(c->fd_, POLLIN, std::chrono::milliseconds(500))) {
    const int n = SSL_read(ssl, &byte, 1);
    if (n <= 0 && SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ) {
      char buf[256] = "closed by the server after the handshake";
      if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, buf, sizeof buf);
      c->handshake_error_ = buf;
      ERR_clear_error();
      return c;
    }
  }
  c->handshake_ok_ = true;
  return c;
}

bool Connection::Send(const std::string& bytes) {
  size_t done = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (done < bytes.size() && std::chrono::steady_clock::now() < deadline) {
    ssize_t n;
    if (ssl_) {
      n = SSL_write(static_cast<SSL*>(ssl_), bytes.data() + done, static_cast<int>(bytes.size() - done));
      if (n <= 0) {
        const int err = SSL_get_error(static_cast<SSL*>(ssl_), static_cast<int>(n));
        ERR_clear_error();
        if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
          WaitFd(fd_, POLLOUT, std::chrono::milliseconds(100));
          continue;
        }
        return false;
      }
    } else {
      n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return false;
      }
    }
    done += static_cast<size_t>(n);
  }
  return done == bytes.size();
}

bool Connection::ClosedByPeer(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (!WaitFd(fd_, POLLIN, left)) return false;
    // Read the raw socket: whatever TLS records arrive, only the end of the stream counts.
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return true;  // reset
  }
}

uint64_t ResidentBytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (in >> key) {
    if (key == "VmRSS:") {
      uint64_t kb = 0;
      in >> kb;
      return kb * 1024;
    }
    std::getline(in, key);
  }
  return 0;
}

}  // namespace ami::test::raw
