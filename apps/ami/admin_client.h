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

// "host:port" split and checked; a bare "host" or a port outside 1..65535 is an error.
struct NodeAddress {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const { return host + ":" + std::to_string(port); }
};
Result<NodeAddress> ParseNodeAddress(const std::string& text);

class AdminClient {
 public:
  AdminClient(NodeAddress address, std::string token);
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  const NodeAddress& address() const { return address_; }

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
  std::unique_ptr<Impl> impl_;
};

}  // namespace ami::shell
