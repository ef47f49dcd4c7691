// The node's HTTP gateway (docs/http-api.md, docs/webfix.md, docs/metrics.md,
// docs/editor.md): one HTTP/1.1 port (TLS with http.tls) serving
//   - the REST API /api/v1/… — each route is one admin request (docs/admin-api.md),
//     plus POST /api/v1/session (the admin token traded for a session);
//   - GET /api/v1/openapi.json — the OpenAPI 3 document of that API (gateway/openapi.json);
//   - WebFIX 1.0 — any POST outside /api/v1 and /metrics: the STELS web frontend's wallet
//     login and editor methods (gateway/webfix/);
//   - live logs as Server-Sent Events (gateway/log_stream.h) and the WebSocket /ws with
//     the worker status channel (gateway/status_socket.h);
//   - GET /metrics — Prometheus metrics (no auth, like every Prometheus target;
//     they hold counts and sids, never records, scripts or secrets);
//   - the web editor's files for any other GET (gateway/static_files.h);
//   - OPTIONS on any path — CORS preflight, 204.
// Every reply carries the CORS headers when the request's Origin is in http.cors_origins.
//
// The gateway never touches the store or the node actor: it holds the admin service's
// handle, the node's live feeds (log lines, worker events) and read-only counters for
// /metrics. Who may do what is decided in one place, Impl::authenticate (gateway/access.h).
//
// Errors have one channel: Start() returns a Status naming the config key
// ("http.listen 0.0.0.0:80: Permission denied", "http.tls.key_file …: …"); at run time
// a failing connection is closed and counted (ami_http_connections_closed_total), it
// never reaches the caller.
#pragma once

#include <caf/actor.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gateway/router.h"
#include "runtime/base/status.h"
#include "runtime/config/http_section.h"

namespace caf {
class actor_system;
}

namespace ami {
class StatsRegistry;
class RunQueue;
class KvMetrics;
class ExchangeCallMetrics;
namespace cluster {
class ClusterGauges;
}
class LogFeed;
class WorkerEventFeed;
}  // namespace ami

namespace ami::gateway {

// What the gateway needs from its node; nothing else of the node is reachable from it.
struct Backend {
  caf::actor_system* system = nullptr;           // runs the admin bridge actor; must outlive Stop()
  caf::actor admin;                              // the admin service (admin_atom, token, json) -> json
  std::shared_ptr<StatsRegistry> stats;          // for /metrics; may be null
  std::shared_ptr<RunQueue> run_queue;           // for /metrics; may be null
  std::shared_ptr<const KvMetrics> kv_metrics;   // for /metrics; may be null
  std::vector<std::shared_ptr<const ExchangeCallMetrics>> exchange_metrics;  // for /metrics: one per available exchange
  std::shared_ptr<const cluster::ClusterGauges> cluster_gauges;  // for /metrics; may be null
  std::shared_ptr<LogFeed> logs;                 // live worker log lines (SSE); may be null
  std::shared_ptr<WorkerEventFeed> events;       // worker status events (WebSocket); may be null
  std::string node_id;
  std::string version;
  std::string network;                           // cluster name or "local" (WebFIX login checks it)
  std::filesystem::path data_dir;                // WebFIX sessions are kept under it
  // The node's admin token: WebFIX requests, once their session's role allows them, are
  // sent to the admin service with it. A secret: never logged, never sent to a client.
  std::string admin_token;
  // One admin request's deadline (docs/admin-api.md: a request waits on several actors).
  std::chrono::milliseconds admin_timeout{60000};
  int threads = 2;                               // the server's own threads (1 or 2)
  // How often an idle log stream gets a keep-alive comment (tests shorten it).
  std::chrono::milliseconds log_keep_alive{15000};
};

class Gateway {
 public:
  // Listens on config.listen (port 0: any free port; see port()) and serves at once.
  static Result<std::unique_ptr<Gateway>> Start(const HttpSection& config, Backend backend);
  ~Gateway();  // Stop()
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Stops listening, drops the connections and the admin requests still in flight.
  // Call it before the actor system goes away. Idempotent.
  void Stop();

  uint16_t port() const;
  bool tls() const;
  // Every route the gateway answers, "METHOD pattern" (the OpenAPI test compares them).
  std::vector<RouteInfo> Routes() const;

 private:
  struct Impl;
  explicit Gateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ami::gateway
