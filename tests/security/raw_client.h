// An attacker's client for the transport tests: raw TCP and raw TLS connections that
// speak just enough CAF 0.17 BASP (24-byte headers, handshake payloads) to send what a
// hostile party would — oversized declared lengths, nested messages, garbage — without
// going through CAF, so nothing on this side filters them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "transport/credentials.h"

namespace ami::test::raw {

// BASP operations (caf/io/basp/message_type.hpp).
enum class Op : uint8_t { kServerHandshake = 0, kClientHandshake = 1, kDirectMessage = 2, kRoutedMessage = 3,
                          kMonitorMessage = 4, kDownMessage = 5, kHeartbeat = 6 };

// A 24-byte BASP header, big-endian as CAF's binary serializer writes it.
std::string Header(Op op, uint32_t payload_len, uint64_t operation_data = 0, uint32_t source = 0,
                   uint32_t dest = 0);
// A client handshake whose payload declares a string of `declared` bytes but carries a few.
std::string HandshakeWithDeclaredString(uint32_t declared);
// A direct message whose payload nests message-in-message `depth` times.
std::string NestedMessage(int depth);
// `n` pseudo-random bytes (fixed seed).
std::string Garbage(size_t n);

// One connection, plain or TLS. Every call is bounded by deadlines; nothing here blocks
// for longer than the timeout it is given.
class Connection {
 public:
  ~Connection();
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) = delete;

  // Plain TCP to 127.0.0.1:port; nullopt when the connection is refused.
  static std::optional<Connection> Plain(uint16_t port);
  // TLS to 127.0.0.1:port. `client` = the certificate to present (none when null).
  // Returns the connection whether or not the handshake succeeded: see handshake_ok().
  static std::optional<Connection> Tls(uint16_t port, const transport::TlsFiles* client,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool handshake_ok() const { return handshake_ok_; }
  const std::string& handshake_error() const { return handshake_error_; }

  // Writes what it can; false once the peer has closed or reset the connection.
  bool Send(const std::string& bytes);
  // True when the peer closes or resets the connection within `timeout` (bytes it sends
  // first are read and dropped).
  bool ClosedByPeer(std::chrono::milliseconds timeout);

 private:
  Connection() = default;
  int fd_ = -1;
  void* ssl_ = nullptr;      // SSL*
  void* ctx_ = nullptr;      // SSL_CTX*
  bool handshake_ok_ = false;
  std::string handshake_error_;
};

// VmRSS of a process in bytes (0 when it cannot be read).
uint64_t ResidentBytes(int pid);

}  // namespace ami::test::raw
