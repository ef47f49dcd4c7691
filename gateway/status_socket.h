// The gateway's WebSocket, GET /ws (docs/webfix.md "WebSocket"): live status for the web
// editor, in WebFIX 1.0 envelopes.
//
//   upgrade   credentials checked once here (Authenticate: `?session=`, the stels-session
//             header, or the admin bearer token): none or bad → 401, no upgrade; not an
//             upgrade → 426; subprotocols offered without "webfix" → 400; "webfix" offered
//             → echoed (browsers fail the connection otherwise); none offered → accepted.
//   client    {"webfix":"1.0","method":"subscribe"|"unsubscribe","channel":"runtime"|"sonar"}
//             → {"webfix":"1.0","method":M,"result":{"channel":C}}; anything else →
//             {"webfix":"1.0","error":{"code":"bad_request","message":…}}, socket kept open.
//   server    "runtime": every WorkerEvent of the node; "sonar": a node heartbeat every
//             sonar_interval (and one at once on subscribing), each as
//             {"webfix":"1.0","method":"publish","value":{"channel":C,"raw":{…}}}.
//
// Error wording: the STELS frontend logs its user out on any message containing
// "session", "expired", "invalid" or "unauthorized", so those words appear only when the
// session really is gone: then the socket gets {"error":{"code":"unauthorized","message":
// "session expired"}} and is closed with 4401. Sessions are checked again before every
// push and on every sonar tick (so within sonar_interval even on a quiet socket).
//
// Cost: one WorkerEventFeed subscription for all sockets. Its sink (on the node actor's
// thread) only queues the event; one thread of this object fans it out. A socket too slow
// to take its messages is closed by the server (WebSocketPeer::Send false); others go on.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "gateway/access.h"
#include "gateway/http_message.h"

namespace ami {
class StatsRegistry;
class WorkerEventFeed;
}  // namespace ami

namespace ami::gateway {

struct StatusSocketOptions {
  Authenticate authenticate;                 // required
  std::shared_ptr<WorkerEventFeed> events;   // null: "runtime" stays silent
  std::shared_ptr<StatsRegistry> stats;      // null: heartbeats say workers_running 0
  std::string node_id;
  std::string network;
  std::string version;
  std::chrono::milliseconds sonar_interval{10000};  // http.sonar_interval
};

class StatusSockets {
 public:
  explicit StatusSockets(StatusSocketOptions options);  // subscribes, starts its thread
  ~StatusSockets();                                     // Close()
  StatusSockets(const StatusSockets&) = delete;
  StatusSockets& operator=(const StatusSockets&) = delete;

  // The GET /ws route handler (thread-safe).
  void Handle(const HttpRequest& request, Respond respond);

  // Ends the feed subscription and the thread, then closes every socket with 1001 "node
  // stopping"; later upgrades get 503. Call it before the server stops (its closes must
  // still reach the clients). Idempotent.
  void Close();

  size_t open_sockets() const;

 private:
  struct Hub;
  std::shared_ptr<Hub> hub_;
};

}  // namespace ami::gateway
