// The shell's side of the admin protocol (docs/admin-api.md): a CAF remoting client
// that sends (admin, token, request JSON) to the admin actor a node publishes on
// `admin.listen` and turns the reply JSON into a Result.
//
// How failures come back (the shell's exit codes follow from the Status code):
//   cannot connect, connection lost, no reply in time  -> kIOError "cannot reach node H:P: …"
//   reply {"code":"unauthorized"}                      -> kIOError "node H:P refused the admin token …"
//   reply invalid / not_found / conflict               -> kInvalidArgument / kNotFound / kConflict
//   reply unavailable / internal / anything else       -> kAborted / kInternal / kInternal
// Every failure message is the node's own message (or the transport's), never the token.
//
// Not thread-safe: one client per shell, used from the main thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/base/status.h"

namespace ami::shell {

// "host:port" split and checked (ParseHostPort: names, IPv4, bracketed IPv6 literals);
// a bare "host" or a port outside 1..65535 is an error. `host` has no brackets.
struct NodeAddress {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const {
    return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }
};
Result<NodeAddress> ParseNodeAddress(const std::string& text);

// The operator's TLS identity for a node whose config has a tls: section: the cluster CA
// that signed the node's certificate, and this operator's certificate and key, signed by
// the same CA. All three or none (main.cpp checks that, and that each file is readable).
struct TlsFiles {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool enabled() const { return !ca_file.empty(); }
};

class AdminClient {
 public:
  // With `tls` enabled the connection is mutual TLS; without, plain (loopback nodes).
  AdminClient(NodeAddress address, std::string token, TlsFiles tls = {});
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  const NodeAddress& address() const { return address_; }
  const TlsFiles& tls() const { return tls_; }

  // Sends {"op": op, "args": args} and returns the reply's `result`. Connects on first
  // use, and again after the connection was lost (a node restarted between two
  // commands of an interactive session), but never resends a request: one that may
  // have reached the node is not repeated behind the operator's back.
  Result<nlohmann::json> Call(const std::string& op, const nlohmann::json& args = nlohmann::json::object(),
                              std::chrono::milliseconds timeout = std::chrono::seconds(60));

 private:
  struct Impl;
  Status Connect();
  NodeAddress address_;
  std::string token_;
  TlsFiles tls_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ami::shell
