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

// One request on a fresh connection; nullopt when the connection or request failed.
std::optional<HttpReply> Fetch(uint16_t port, const std::string& method, const std::string& target,
                               const Headers& headers = {}, const std::string& body = "",
                               std::optional<std::filesystem::path> ca_file = std::nullopt);

// The reply, REQUIRE-ing that there is one.
inline HttpReply Must(std::optional<HttpReply> reply) {
  REQUIRE(reply.has_value());
  return std::move(*reply);
}

}  // namespace ami::test
