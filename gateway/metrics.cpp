#include "gateway/metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "gateway/metrics_internal.h"
#include "runtime/exec/run_queue.h"
#include "runtime/stats/worker_stats.h"

namespace ami::gateway {

namespace {

using namespace metrics_impl;

// "waiting: another node holds the lease" -> "waiting": the status text after a colon is
// prose, which must not become label values.
std::string StatusClass(const std::string& status) {
  static const char* const kKnown[] = {"running", "backing-off", "stopped", "failed", "finished", "waiting", "starting"};
  const std::string head = status.substr(0, status.find(':'));
  for (const char* known : kKnown)
    if (head == known) return head;
  return "other";
}

// Per-worker counters straight from the node's StatsRegistry, read at scrape time.
class WorkerCollector : public prometheus::Collectable {
 public:
  explicit WorkerCollector(std::shared_ptr<StatsRegistry> stats) : stats_(std::move(stats)) {}

  std::vector<MetricFamily> Collect() const override {
    auto executions = Family("ami_worker_executions_total",
                             "Completed script calls (loop iterations or single runs) per worker on this node, "
                             "successful or not.",
                             MetricType::Counter);
    auto errors = Family("ami_worker_errors_total", "Failed script calls per worker and error class.",
                         MetricType::Counter);
    auto running = Family("ami_worker_running", "1 while the worker's script runs on this node, else 0.",
                          MetricType::Gauge);
    auto consecutive = Family("ami_worker_consecutive_errors",
                              "Errors in a row since the worker's last successful call (its error budget).",
                              MetricType::Gauge);
    auto by_status = Family("ami_workers", "Workers with stats on this node, by status.", MetricType::Gauge);
    auto run_seconds = Family("ami_worker_run_duration_seconds",
                              "Wall time of each completed script call (loop iteration or single run), from its "
                              "start to its promise settling, awaits included.",
                              MetricType::Histogram);
    auto heap_used = Family("ami_worker_heap_used_bytes", "V8 heap in use by the worker's isolate (sampled at most "
                            "once a second; running workers only).", MetricType::Gauge);
    auto heap_total = Family("ami_worker_heap_total_bytes", "V8 heap the worker's isolate has reserved.",
                             MetricType::Gauge);
    auto heap_limit = Family("ami_worker_heap_limit_bytes", "The worker's isolate heap limit (limits.heap).",
                             MetricType::Gauge);
    std::map<std::string, int> status_counts = {{"running", 0}, {"stopped", 0}};
    for (const WorkerStats& s : stats_->Snapshot()) {
      const ClientMetric::Label sid{"sid", s.sid};
      AddSample(executions, static_cast<double>(s.executions), {sid});
      AddHistogram(run_seconds, s.run_seconds, {sid});
      if (s.is_running && s.heap_total_bytes > 0) {
        AddSample(heap_used, static_cast<double>(s.heap_used_bytes), {sid});
        AddSample(heap_total, static_cast<double>(s.heap_total_bytes), {sid});
        AddSample(heap_limit, static_cast<double>(s.heap_limit_bytes), {sid});
      }
      AddSample(errors, static_cast<double>(s.network_errors), {{"class", "network"}, sid});
      AddSample(errors, static_cast<double>(s.critical_errors), {{"class", "critical"}, sid});
      AddSample(running, s.is_running ? 1 : 0, {sid});
      AddSample(consecutive, static_cast<double>(s.consecutive_errors), {sid});
      ++status_counts[StatusClass(s.status)];
    }
    for (const auto& [status, count] : status_counts) AddSample(by_status, count, {{"status", status}});
    return {std::move(executions), std::move(errors),     std::move(running),   std::move(consecutive),
            std::move(by_status),  std::move(run_seconds), std::move(heap_used), std::move(heap_total),
            std::move(heap_limit)};
  }

 private:
  std::shared_ptr<StatsRegistry> stats_;
};

class RunQueueCollector : public prometheus::Collectable {
 public:
  explicit RunQueueCollector(std::shared_ptr<RunQueue> queue) : queue_(std::move(queue)) {}

  std::vector<MetricFamily> Collect() const override {
    const RunQueue::Counters c = queue_->counters();
    auto slots = Family("ami_run_queue_slots", "Run slots: how many scripts may execute at once.", MetricType::Gauge);
    AddSample(slots, queue_->slots());
    auto in_use = Family("ami_run_queue_slots_in_use", "Run slots held by executing scripts.", MetricType::Gauge);
    AddSample(in_use, c.in_use);
    auto waiting = Family("ami_run_queue_waiting", "Script entries waiting for a run slot (queue length).",
                          MetricType::Gauge);
    AddSample(waiting, static_cast<double>(c.waiting));
    auto grants = Family("ami_run_queue_grants_total",
                         "Run slots granted, at once (immediate) or after waiting in the queue (queued).",
                         MetricType::Counter);
    AddSample(grants, static_cast<double>(c.immediate), {{"wait", "immediate"}});
    AddSample(grants, static_cast<double>(c.queued), {{"wait", "queued"}});
    auto aged = Family("ami_run_queue_aged_grants_total",
                       "Queued grants served before higher priorities because they waited longer than max_wait.",
                       MetricType::Counter);
    AddSample(aged, static_cast<double>(c.aged));
    auto wait = Family("ami_run_queue_wait_seconds",
                       "How long script entries waited for a run slot, by the worker's priority (immediate grants "
                       "count as 0).",
                       MetricType::Histogram);
    const auto waits = queue_->wait_seconds();
    for (size_t p = 0; p < waits.size(); ++p)
      AddHistogram(wait, waits[p], {{"priority", ToString(static_cast<Priority>(p))}});
    return {std::move(slots), std::move(in_use), std::move(waiting), std::move(grants), std::move(aged), std::move(wait)};
  }

 private:
  std::shared_ptr<RunQueue> queue_;
};

class ServerCollector : public prometheus::Collectable {
 public:
  explicit ServerCollector(std::shared_ptr<const ServerCounters> c) : c_(std::move(c)) {}

  std::vector<MetricFamily> Collect() const override {
    auto open = Family("ami_http_connections_open", "Open HTTP connections.", MetricType::Gauge);
    AddSample(open, static_cast<double>(c_->open_connections.load()));
    auto accepted = Family("ami_http_connections_accepted_total", "HTTP connections accepted.", MetricType::Counter);
    AddSample(accepted, static_cast<double>(c_->accepted.load()));
    auto rejected = Family("ami_http_connections_rejected_total",
                           "Connections closed at once because http.max_connections were open.",
                           MetricType::Counter);
    AddSample(rejected, static_cast<double>(c_->rejected.load()));
    auto dropped = Family("ami_http_connections_closed_total",
                          "Connections the server closed because of a limit or a protocol error, by reason.",
                          MetricType::Counter);
    AddSample(dropped, static_cast<double>(c_->idle_timeouts.load()), {{"reason", "idle_timeout"}});
    AddSample(dropped, static_cast<double>(c_->body_too_large.load()), {{"reason", "body_too_large"}});
    AddSample(dropped, static_cast<double>(c_->header_too_large.load()), {{"reason", "header_too_large"}});
    AddSample(dropped, static_cast<double>(c_->bad_requests.load()), {{"reason", "bad_request"}});
    AddSample(dropped, static_cast<double>(c_->tls_failures.load()), {{"reason", "tls_handshake"}});
    AddSample(dropped, static_cast<double>(c_->slow_clients_dropped.load()), {{"reason", "slow_client"}});
    AddSample(dropped, static_cast<double>(c_->websocket_dead_peers.load()), {{"reason", "websocket_dead_peer"}});
    auto streams = Family("ami_http_streams_open", "Open streamed replies (Server-Sent Events: live logs).",
                          MetricType::Gauge);
    AddSample(streams, static_cast<double>(c_->streams_open.load()));
    auto websockets = Family("ami_http_websockets_open", "Open WebSocket connections.", MetricType::Gauge);
    AddSample(websockets, static_cast<double>(c_->websockets_open.load()));
    return {std::move(open), std::move(accepted), std::move(rejected), std::move(dropped), std::move(streams),
            std::move(websockets)};
  }

 private:
  std::shared_ptr<const ServerCounters> c_;
};

// What Prometheus' own client libraries export as process_*, from /proc and getrusage.
class ProcessCollector : public prometheus::Collectable {
 public:
  ProcessCollector(std::string node_id, std::string version)
      : node_id_(std::move(node_id)),
        version_(std::move(version)),
        start_seconds_(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()) {}

  std::vector<MetricFamily> Collect() const override {
    std::vector<MetricFamily> out;
    auto info = Family("ami_node_info", "Always 1; labels name this node and the AMI version.", MetricType::Gauge);
    AddSample(info, 1, {{"node", node_id_}, {"version", version_}});
    out.push_back(std::move(info));
    auto start = Family("ami_process_start_time_seconds",
                        "When the gateway of this process started, in seconds since the Unix epoch.",
                        MetricType::Gauge);
    AddSample(start, start_seconds_);
    out.push_back(std::move(start));
    rusage usage{};
    if (getrusage(RUSAGE_SELF, &usage) == 0) {
      auto cpu = Family("ami_process_cpu_seconds_total", "User and system CPU time of the process, in seconds.",
                        MetricType::Counter);
      auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
      AddSample(cpu, seconds(usage.ru_utime) + seconds(usage.ru_stime));
      out.push_back(std::move(cpu));
    }
    std::ifstream statm("/proc/self/statm");
    uint64_t size_pages = 0, resident_pages = 0;
    if (statm >> size_pages >> resident_pages) {
      const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
      auto rss = Family("ami_process_resident_memory_bytes", "Resident memory of the process.", MetricType::Gauge);
      AddSample(rss, resident_pages * page);
      out.push_back(std::move(rss));
      auto virt = Family("ami_process_virtual_memory_bytes", "Virtual memory of the process.", MetricType::Gauge);
      AddSample(virt, size_pages * page);
      out.push_back(std::move(virt));
    }
    std::error_code ec;
    size_t fds = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
      ++fds;
    if (!ec) {
      auto open_fds = Family("ami_process_open_fds", "Open file descriptors of the process.", MetricType::Gauge);
      AddSample(open_fds, static_cast<double>(fds));
      out.push_back(std::move(open_fds));
    }
    return out;
  }

 private:
  std::string node_id_;
  std::string version_;
  double start_seconds_;
};

const char* MethodLabel(std::string_view method) {
  for (const char* known : {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"})
    if (method == known) return known;
  return "other";
}

}  // namespace

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>* requests = nullptr;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectors;
};

Metrics::Metrics(MetricsSources sources) : impl_(std::make_unique<Impl>()) {
  impl_->requests = &prometheus::BuildCounter()
                         .Name("ami_http_requests_total")
                         .Help("HTTP requests answered, by route template, method and status code.")
                         .Register(*impl_->registry);
  impl_->collectors.push_back(impl_->registry);
  impl_->collectors.push_back(std::make_shared<ProcessCollector>(sources.node_id, sources.version));
  if (sources.server) impl_->collectors.push_back(std::make_shared<ServerCollector>(sources.server));
  if (sources.stats) impl_->collectors.push_back(std::make_shared<WorkerCollector>(sources.stats));
  if (sources.run_queue) impl_->collectors.push_back(std::make_shared<RunQueueCollector>(sources.run_queue));
  for (auto& collector : MakeOpCollectors(sources.kv, sources.exchanges, sources.cluster))
    impl_->collectors.push_back(std::move(collector));
}

Metrics::~Metrics() = default;

void Metrics::CountRequest(std::string_view route, std::string_view method, int status) {
  impl_->requests
      ->Add({{"route", std::string(route)}, {"method", MethodLabel(method)}, {"code", std::to_string(status)}})
      .Increment();
}

std::string Metrics::Render() const {
  std::vector<MetricFamily> families;
  for (const auto& collector : impl_->collectors) {
    auto collected = collector->Collect();
    // A family without series (no peers, no leader workers, no request yet) is left out:
    // a HELP and TYPE without samples says nothing.
    for (auto& family : collected)
      if (!family.metric.empty()) families.push_back(std::move(family));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace ami::gateway
