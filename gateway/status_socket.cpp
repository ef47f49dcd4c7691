#include "gateway/status_socket.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "gateway/rest_api.h"  // ErrorResponse
#include "runtime/base/clock.h"
#include "runtime/base/json_depth.h"
#include "runtime/node/worker_events.h"
#include "runtime/stats/worker_stats.h"

namespace ami::gateway {

namespace {

using json = nlohmann::json;

constexpr int kMaxMessageDepth = 16;        // client messages are flat; deeper is refused unparsed
constexpr size_t kMaxPendingEvents = 65536;  // events queued for the fan-out thread; beyond, dropped
constexpr std::chrono::seconds kCloseWait{2};  // Close(): how long close handshakes may take

std::string Envelope(json fields) {
  json message = {{"webfix", "1.0"}};
  message.update(fields);
  return message.dump();
}

// Client mistakes. Never worded with session/expired/invalid/unauthorized (header).
std::string BadRequest(const std::string& message) {
  return Envelope({{"error", {{"code", "bad_request"}, {"message", message}}}});
}

std::string Publication(const std::string& channel, json raw) {
  return Envelope({{"method", "publish"}, {"value", {{"channel", channel}, {"raw", std::move(raw)}}}});
}

std::string EventMessage(const WorkerEvent& e) {
  return Publication("runtime", {{"event", e.kind},
                                 {"sid", e.sid},
                                 {"node", e.node},
                                 {"term", e.term},
                                 {"detail", e.detail},
                                 {"timestamp", e.at_ms}});
}

// The offered subprotocols: every Sec-WebSocket-Protocol header, comma-separated, trimmed.
std::vector<std::string> OfferedSubprotocols(const HttpRequest& request) {
  std::vector<std::string> offered;
  for (const auto& [name, value] : request.headers) {
    if (name != "sec-websocket-protocol") continue;
    size_t start = 0;
    while (start <= value.size()) {
      size_t end = value.find(',', start);
      if (end == std::string::npos) end = value.size();
      std::string item = value.substr(start, end - start);
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      if (!item.empty()) offered.push_back(item);
      start = end + 1;
    }
  }
  return offered;
}

}  // namespace

// One open socket. `credentials` is its upgrade request without the body: sessions are
// checked again with it, as they were at the upgrade.
struct Client {
  uint64_t id = 0;
  HttpRequest credentials;
  std::string who;
  std::shared_ptr<WebSocketPeer> peer;  // set by on_open; guarded by Hub::mu
  bool runtime = false;                 // guarded by Hub::mu
  bool sonar = false;                   // guarded by Hub::mu
};

struct StatusSockets::Hub {
  explicit Hub(StatusSocketOptions opts) : options(std::move(opts)) {}

  const StatusSocketOptions options;
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  mutable std::mutex mu;
  std::condition_variable wake;
  std::map<uint64_t, std::shared_ptr<Client>> clients;  // open sockets, guarded by mu
  uint64_t next_id = 1;                                 // guarded by mu
  std::deque<WorkerEvent> pending;                      // guarded by mu
  bool closing = false;                                 // guarded by mu
  bool dropped_logged = false;                          // guarded by mu
  std::unique_ptr<WorkerEventFeed::Subscription> subscription;
  std::thread thread;

  // The feed's sink, on the publisher's thread: queue and wake, nothing more.
  void Queue(const WorkerEvent& event) {
    std::lock_guard<std::mutex> lock(mu);
    if (closing) return;
    if (pending.size() >= kMaxPendingEvents) {
      if (!dropped_logged) spdlog::warn("ws: status events dropped: the fan-out thread is behind");
      dropped_logged = true;
      return;
    }
    pending.push_back(event);
    wake.notify_one();
  }

  std::string Heartbeat() const {
    int64_t running = 0;
    if (options.stats)
      for (const auto& s : options.stats->Snapshot()) running += s.is_running ? 1 : 0;
    const auto uptime =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    return Publication("sonar", {{"node", options.node_id},
                                 {"network", options.network},
                                 {"version", options.version},
                                 {"uptime_ms", uptime.count()},
                                 {"workers_running", running},
                                 {"timestamp", WallMillis()}});
  }

  void Forget(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu);
    clients.erase(id);
    if (closing) wake.notify_all();  // Close() waits for the last one
  }

  // The session behind `client` is gone: say so in the frontend's words, then close.
  void Expire(const std::shared_ptr<Client>& client, const std::shared_ptr<WebSocketPeer>& peer) {
    spdlog::info("ws: {} ({}): session expired, socket closed", client->who, client->credentials.peer);
    Forget(client->id);
    peer->Send(Envelope({{"error", {{"code", "unauthorized"}, {"message", "session expired"}}}}));
    peer->Close(4401, "session expired");
  }

  // The fan-out thread: events as they come, heartbeats and session checks on each tick.
  void Run() {
    auto next_tick = std::chrono::steady_clock::now() + options.sonar_interval;
    std::unique_lock<std::mutex> lock(mu);
    while (!closing) {
      wake.wait_until(lock, next_tick, [&] { return closing || !pending.empty(); });
      if (closing) break;
      std::deque<WorkerEvent> events;
      events.swap(pending);
      const bool tick = std::chrono::steady_clock::now() >= next_tick;
      if (tick) next_tick = std::chrono::steady_clock::now() + options.sonar_interval;
      struct Target {
        std::shared_ptr<Client> client;
        std::shared_ptr<WebSocketPeer> peer;
        bool runtime, sonar;
      };
      std::vector<Target> targets;
      for (const auto& [id, client] : clients)
        if (client->peer) targets.push_back({client, client->peer, client->runtime, client->sonar});
      lock.unlock();

      std::vector<std::string> texts;
      for (const auto& event : events) texts.push_back(EventMessage(event));
      const std::string heartbeat = tick ? Heartbeat() : std::string();
      for (const Target& t : targets) {
        const bool push_events = t.runtime && !texts.empty();
        if (!push_events && !tick) continue;
        if (!options.authenticate(t.client->credentials)) {
          Expire(t.client, t.peer);
          continue;
        }
        bool ok = true;
        if (push_events)
          for (const auto& text : texts) ok = ok && t.peer->Send(text);
        if (ok && tick && t.sonar) ok = t.peer->Send(heartbeat);
        // Send false: the server closed it (too slow, or gone); the others go on.
        if (!ok) Forget(t.client->id);
      }
      lock.lock();
    }
  }

  // A client message, on its connection's strand.
  void OnMessage(const std::shared_ptr<Client>& client, const std::string& text) {
    std::shared_ptr<WebSocketPeer> peer;
    {
      std::lock_guard<std::mutex> lock(mu);
      peer = client->peer;
    }
    if (!peer) return;
    const std::string shape =
        "not a WebFIX message: send {\"webfix\":\"1.0\",\"method\":\"subscribe\",\"channel\":\"runtime\"}";
    if (JsonNestingDepth(text, kMaxMessageDepth) > kMaxMessageDepth) return void(peer->Send(BadRequest(shape)));
    const json message = json::parse(text, nullptr, false);
    if (message.is_discarded() || !message.is_object() || !message.contains("method") ||
        !message["method"].is_string())
      return void(peer->Send(BadRequest(shape)));
    const std::string method = message["method"];
    if (method != "subscribe" && method != "unsubscribe")
      return void(peer->Send(BadRequest("unknown method \"" + method + "\"; this socket takes subscribe, unsubscribe")));
    std::string channel;
    if (message.contains("channel") && message["channel"].is_string()) channel = message["channel"];
    if (channel != "runtime" && channel != "sonar")
      return void(peer->Send(BadRequest(method + ": unknown channel \"" + channel + "\"; channels: runtime, sonar")));
    const bool on = method == "subscribe";
    {
      std::lock_guard<std::mutex> lock(mu);
      (channel == "runtime" ? client->runtime : client->sonar) = on;
    }
    peer->Send(Envelope({{"method", method}, {"result", {{"channel", channel}}}}));
    // A new sonar subscriber hears the node at once, not one interval later.
    if (on && channel == "sonar") peer->Send(Heartbeat());
  }
};

StatusSockets::StatusSockets(StatusSocketOptions options) : hub_(std::make_shared<Hub>(std::move(options))) {
  Hub* hub = hub_.get();
  if (hub->options.events)
    hub->subscription = hub->options.events->Subscribe([hub](const WorkerEvent& event) { hub->Queue(event); });
  hub->thread = std::thread([hub] { hub->Run(); });
}

StatusSockets::~StatusSockets() { Close(); }

void StatusSockets::Close() {
  {
    std::lock_guard<std::mutex> lock(hub_->mu);
    if (hub_->closing) return;
    hub_->closing = true;
  }
  hub_->wake.notify_all();
  hub_->thread.join();
  hub_->subscription.reset();  // waits for a delivery in progress; never holds hub_->mu
  std::vector<std::shared_ptr<WebSocketPeer>> peers;
  {
    std::lock_guard<std::mutex> lock(hub_->mu);
    for (const auto& [id, client] : hub_->clients) peers.push_back(client->peer);
  }
  for (const auto& peer : peers) peer->Close(1001, "node stopping");
  // The server stops right after: give the close handshakes a moment (each socket's
  // on_close forgets it), so clients see 1001 rather than a dropped connection.
  std::unique_lock<std::mutex> lock(hub_->mu);
  hub_->wake.wait_for(lock, kCloseWait, [&] { return hub_->clients.empty(); });
  hub_->clients.clear();  // breaks client → peer → connection → hub cycles of the rest
}

size_t StatusSockets::open_sockets() const {
  std::lock_guard<std::mutex> lock(hub_->mu);
  return hub_->clients.size();
}

void StatusSockets::Handle(const HttpRequest& request, Respond respond) {
  {
    std::lock_guard<std::mutex> lock(hub_->mu);
    if (hub_->closing) return respond(ErrorResponse(503, "unavailable", "the node is stopping"));
  }
  auto caller = hub_->options.authenticate(request);
  if (!caller) {
    HttpResponse r = ErrorResponse(401, "unauthorized",
                                   "credentials required: ?session=, the stels-session header, or "
                                   "Authorization: Bearer <admin token>");
    r.SetHeader("WWW-Authenticate", "Bearer realm=\"ami\"");
    return respond(std::move(r));
  }
  if (!request.websocket_upgrade) {
    HttpResponse r = ErrorResponse(426, "upgrade_required", "GET /ws is a WebSocket: send Upgrade: websocket");
    r.SetHeader("Upgrade", "websocket");
    return respond(std::move(r));
  }
  const std::vector<std::string> offered = OfferedSubprotocols(request);
  const bool webfix = std::find(offered.begin(), offered.end(), "webfix") != offered.end();
  if (!offered.empty() && !webfix) {
    std::string list;
    for (const auto& p : offered) list += (list.empty() ? "" : ", ") + p;
    return respond(ErrorResponse(400, "bad_request",
                                 "Sec-WebSocket-Protocol: this socket speaks \"webfix\" only; offered: " + list));
  }

  auto client = std::make_shared<Client>();
  client->credentials = request;
  client->credentials.body.clear();
  client->who = caller->who;
  {
    std::lock_guard<std::mutex> lock(hub_->mu);
    client->id = hub_->next_id++;
  }
  auto accept = std::make_shared<WebSocketAccept>();
  accept->subprotocol = webfix ? "webfix" : "";
  // The callbacks hold the hub: a connection the server closes late still finds it.
  accept->on_open = [hub = hub_, client](std::shared_ptr<WebSocketPeer> peer) {
    {
      std::lock_guard<std::mutex> lock(hub->mu);
      if (!hub->closing) {
        client->peer = peer;
        hub->clients[client->id] = client;
        spdlog::debug("ws: {} ({}) connected", client->who, client->credentials.peer);
        return;
      }
    }
    peer->Close(1001, "node stopping");
  };
  accept->on_message = [hub = hub_, client](std::string text) { hub->OnMessage(client, text); };
  accept->on_close = [hub = hub_, id = client->id] { hub->Forget(id); };

  HttpResponse r;
  r.status = 101;  // what the server answers; counted under this route
  r.websocket = std::move(accept);
  respond(std::move(r));
}

}  // namespace ami::gateway
