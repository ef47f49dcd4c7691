// From Asio to CAF and back: how the gateway reaches the admin service.
//
// The gateway never touches the store or the node actor: every REST operation becomes one
// admin request `(admin_atom, token, request JSON) -> reply JSON` (docs/admin-api.md), the
// same contract the `ami` shell uses. An Asio thread must not block on CAF, so Ask() only
// hands the request to a small event-based actor (one per gateway), which sends it with
// request(admin, timeout, …).then(…) and calls `done` with the answer on a CAF thread;
// the caller's `done` posts the answer back to its connection's strand.
//
// Why an id table and not the callback inside the message: the callback holds the
// connection, whose socket lives in the gateway's io_context. Close() drops every pending
// callback while the io_context is still alive, so no CAF thread can end up destroying a
// socket after the gateway is gone.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace caf {
class actor_system;
class actor;
}  // namespace caf

namespace ami::gateway {

struct AdminAnswer {
  bool delivered = false;        // false: the admin service did not answer (error says why)
  std::string reply_json;        // the admin reply, when delivered
  std::string error;             // the transport error (CAF), when not delivered
};

class AdminBridge {
 public:
  using Done = std::function<void(AdminAnswer)>;

  // `admin` answers (admin_atom, string, string) -> string; `timeout` bounds one request
  // (docs/admin-api.md recommends 60 s: a request waits on several actors in turn).
  AdminBridge(caf::actor_system& system, const caf::actor& admin, std::chrono::milliseconds timeout);
  ~AdminBridge();  // Close()
  AdminBridge(const AdminBridge&) = delete;
  AdminBridge& operator=(const AdminBridge&) = delete;

  // Never blocks. `done` is called exactly once on a CAF thread — unless Close() came
  // first, then never (it is destroyed instead).
  void Ask(std::string token, std::string request_json, Done done);

  // Drops the pending callbacks and ends the actor; waits until no callback runs.
  void Close();

  struct Shared;  // shared with the bridge actor (admin_bridge.cpp)

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace ami::gateway
