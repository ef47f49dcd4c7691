// The node's Prometheus metrics, served by the gateway at GET /metrics (docs/metrics.md
// lists every metric, its type and labels).
//
// prometheus-cpp's core holds the registry and its text serializer writes the exposition
// format; its civetweb exposer is not used — the gateway's own server serves the text, so
// there is one HTTP port with one set of limits and TLS.
//
// What the node already counts (StatsRegistry, RunQueue, the server's connection
// counters) is read at scrape time by custom collectables instead of being mirrored into
// prometheus counters on every change: nothing is added to the workers' hot path, and the
// values cannot drift from what the admin API reports. New measurements on hot paths
// (run durations, queue waits, KV operations, exchange calls) are fixed-bucket
// histograms and atomics kept where they happen (runtime/stats/histogram.h,
// op_metrics.h); values that live inside the cluster actor reach the scrape through
// cluster::ClusterGauges, which it updates. A scrape never sends an actor a message and
// never touches the store. Names start with `ami_`; the only
// per-worker label is `sid` (never a script-chosen value), so cardinality stays bounded
// by the number of workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace prometheus {
class Registry;
template <class T> class Family;
class Counter;
}  // namespace prometheus

namespace ami {
class StatsRegistry;
class RunQueue;
class KvMetrics;
class ExchangeCallMetrics;
namespace cluster {
class ClusterGauges;
}
}  // namespace ami

namespace ami::gateway {

// Kept by the HTTP server, read at scrape time.
struct ServerCounters {
  std::atomic<int64_t> open_connections{0};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> rejected{0};           // over max_connections: closed at once
  std::atomic<uint64_t> idle_timeouts{0};      // closed after idle_timeout without a whole request
  std::atomic<uint64_t> body_too_large{0};     // answered 413
  std::atomic<uint64_t> header_too_large{0};   // answered 431
  std::atomic<uint64_t> bad_requests{0};       // not HTTP/1.x: answered 400
  std::atomic<uint64_t> tls_failures{0};       // TLS handshake failed or timed out
  // Streamed replies (SSE) and WebSockets (both also count in open_connections).
  std::atomic<int64_t> streams_open{0};
  std::atomic<int64_t> websockets_open{0};
  std::atomic<uint64_t> slow_clients_dropped{0};  // a stream/WebSocket client that fell behind
                                                   // max_stream_backlog or did not read for idle_timeout
  std::atomic<uint64_t> websocket_dead_peers{0};  // did not answer a ping within idle_timeout
};

struct MetricsSources {
  std::shared_ptr<StatsRegistry> stats;        // may be null (no worker metrics)
  std::shared_ptr<RunQueue> run_queue;         // may be null
  std::shared_ptr<const ServerCounters> server;
  std::string node_id;
  std::string version;
  std::shared_ptr<const KvMetrics> kv;         // may be null
  std::vector<std::shared_ptr<const ExchangeCallMetrics>> exchanges;  // one per available exchange
  std::shared_ptr<const cluster::ClusterGauges> cluster;  // may be null
};

class Metrics {
 public:
  explicit Metrics(MetricsSources sources);
  ~Metrics();

  // One answered request: `route` is the route template ("/api/v1/workers/{sid}") or
  // "unmatched"; `method` one of the HTTP methods the gateway knows (others: "other").
  // Thread-safe.
  void CountRequest(std::string_view route, std::string_view method, int status);

  // The exposition text (format 0.0.4) of every metric; thread-safe.
  std::string Render() const;
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ami::gateway
