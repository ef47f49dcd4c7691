// /metrics collectors for what the node does beyond running scripts: KV operations (the
// store actor's KvMetrics), exchange calls (each bulkhead's ExchangeCallMetrics) and the
// cluster (ClusterGauges, kept by the cluster actor). All read at scrape time, lock-free
// or under a lock held only to copy. docs/metrics.md lists every family.
#include <limits>

#include "gateway/metrics_internal.h"
#include "runtime/cluster/cluster_gauges.h"
#include "runtime/stats/op_metrics.h"

namespace ami::gateway::metrics_impl {

void AddHistogram(MetricFamily& family, const Histogram& histogram, Labels labels) {
  ClientMetric m;
  m.label = std::move(labels);
  const auto bounds = histogram.bounds();
  const auto& counts = histogram.counts();
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    cumulative += counts[i];
    m.histogram.bucket.push_back({cumulative, bounds[i]});
  }
  cumulative += counts.empty() ? 0 : counts.back();
  m.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = histogram.sum();
  family.metric.push_back(std::move(m));
}

namespace {

class KvCollector : public prometheus::Collectable {
 public:
  explicit KvCollector(std::shared_ptr<const KvMetrics> kv) : kv_(std::move(kv)) {}

  std::vector<MetricFamily> Collect() const override {
    auto ops = Family("ami_kv_operations_total",
                      "KV operations (Stels.local / Stels.net and the node's own) answered by the store, by "
                      "operation and space.",
                      MetricType::Counter);
    auto errors = Family("ami_kv_operation_errors_total",
                         "KV operations the store failed (I/O or invalid input; a commit whose check did not hold "
                         "is not an error).",
                         MetricType::Counter);
    auto seconds = Family("ami_kv_operation_duration_seconds",
                          "Time from a KV operation's arrival at the store to its answer (commits include their "
                          "group commit's fsync).",
                          MetricType::Histogram);
    for (size_t op = 0; op < KvMetrics::kOps; ++op) {
      const char* name = KvMetrics::OpName(op);
      for (size_t space = 0; space < KvMetrics::kSpaces; ++space)
        AddSample(ops, static_cast<double>(kv_->operations(op, space)),
                  {{"op", name}, {"space", KvMetrics::SpaceName(space)}});
      AddSample(errors, static_cast<double>(kv_->errors(op)), {{"op", name}});
      AddHistogram(seconds, kv_->seconds(op), {{"op", name}});
    }
    return {std::move(ops), std::move(errors), std::move(seconds)};
  }

 private:
  std::shared_ptr<const KvMetrics> kv_;
};

class ExchangeCollector : public prometheus::Collectable {
 public:
  explicit ExchangeCollector(std::vector<std::shared_ptr<const ExchangeCallMetrics>> exchanges)
      : exchanges_(std::move(exchanges)) {}

  std::vector<MetricFamily> Collect() const override {
    auto calls = Family("ami_exchange_calls_total",
                        "Exchange connector calls by configured exchange, CCXT method (\"other\" for any other "
                        "name) and outcome: ok, error (the connector answered an error), timeout, refused (never "
                        "sent: lease ended, queue full or shutting down).",
                        MetricType::Counter);
    auto seconds = Family("ami_exchange_call_duration_seconds",
                          "Time from an exchange call's submission to its answer, queueing on the exchange's "
                          "threads included; refused calls are not timed.",
                          MetricType::Histogram);
    for (const auto& exchange : exchanges_) {
      for (const auto& method : exchange->Read()) {
        for (size_t outcome = 0; outcome < ExchangeCallMetrics::kOutcomes; ++outcome)
          AddSample(calls, static_cast<double>(method.calls[outcome]),
                    {{"exchange", exchange->exchange()},
                     {"method", method.method},
                     {"outcome", ExchangeCallMetrics::OutcomeName(outcome)}});
        AddHistogram(seconds, method.seconds, {{"exchange", exchange->exchange()}, {"method", method.method}});
      }
    }
    return {std::move(calls), std::move(seconds)};
  }

 private:
  std::vector<std::shared_ptr<const ExchangeCallMetrics>> exchanges_;
};

class ClusterCollector : public prometheus::Collectable {
 public:
  explicit ClusterCollector(std::shared_ptr<const cluster::ClusterGauges> gauges) : gauges_(std::move(gauges)) {}

  std::vector<MetricFamily> Collect() const override {
    auto up = Family("ami_peer_up",
                     "1 while this node counts the configured peer as up (state up or suspect), else 0.",
                     MetricType::Gauge);
    auto state = Family("ami_peer_state",
                        "The peer's state as this node sees it: 1 on the series of the current state (up, suspect, "
                        "down, unknown), 0 on the others.",
                        MetricType::Gauge);
    auto lag = Family("ami_replication_lag_versionstamps",
                      "How far this node's replica of the peer's network KV rows is behind the peer's last "
                      "announced write, in the peer's versionstamps (commits); 0 = caught up. As of the last "
                      "heartbeat.",
                      MetricType::Gauge);
    for (const auto& peer : gauges_->Peers()) {
      const Labels labels = {{"node", peer.node}, {"peer", peer.address}};
      AddSample(up, peer.state == "up" || peer.state == "suspect" ? 1 : 0, labels);
      for (const char* s : {"up", "suspect", "down", "unknown"}) {
        Labels with_state = labels;
        with_state.push_back({"state", s});
        AddSample(state, peer.state == s ? 1 : 0, std::move(with_state));
      }
      if (peer.lag_versionstamps) AddSample(lag, static_cast<double>(*peer.lag_versionstamps), labels);
    }
    auto held = Family("ami_lease_held",
                       "Per leader-mode worker placed on this node: 1 while this node holds its lease, else 0.",
                       MetricType::Gauge);
    auto term = Family("ami_lease_term",
                       "Per leader-mode worker placed on this node: the term of its last lease event here (the "
                       "fencing token of its exchange calls); 0 before the first.",
                       MetricType::Gauge);
    for (const auto& [sid, lease] : gauges_->Leases()) {
      AddSample(held, lease.held ? 1 : 0, {{"sid", sid}});
      AddSample(term, static_cast<double>(lease.term), {{"sid", sid}});
    }
    return {std::move(up), std::move(state), std::move(lag), std::move(held), std::move(term)};
  }

 private:
  std::shared_ptr<const cluster::ClusterGauges> gauges_;
};

}  // namespace

std::vector<std::shared_ptr<prometheus::Collectable>> MakeOpCollectors(
    std::shared_ptr<const KvMetrics> kv, std::vector<std::shared_ptr<const ExchangeCallMetrics>> exchanges,
    std::shared_ptr<const cluster::ClusterGauges> cluster) {
  std::vector<std::shared_ptr<prometheus::Collectable>> out;
  if (kv) out.push_back(std::make_shared<KvCollector>(std::move(kv)));
  if (!exchanges.empty()) out.push_back(std::make_shared<ExchangeCollector>(std::move(exchanges)));
  if (cluster) out.push_back(std::make_shared<ClusterCollector>(std::move(cluster)));
  return out;
}

}  // namespace ami::gateway::metrics_impl
