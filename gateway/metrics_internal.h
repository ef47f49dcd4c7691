// Internal to the gateway's /metrics (gateway/metrics.h): helpers that build
// prometheus-cpp metric families by hand, and the collectors of metrics_ops.cpp (KV
// operations, exchange calls, cluster peers and leases). Label lists are passed in
// alphabetical order, as the rest of the exposition has them.
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <string>
#include <vector>

#include "runtime/stats/histogram.h"

namespace ami {
class KvMetrics;
class ExchangeCallMetrics;
namespace cluster {
class ClusterGauges;
}
}  // namespace ami

namespace ami::gateway::metrics_impl {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

inline MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

inline void AddSample(MetricFamily& family, double value, Labels labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (family.type == MetricType::Counter) m.counter.value = value;
  else m.gauge.value = value;
  family.metric.push_back(std::move(m));
}

// One histogram series: cumulative buckets at the histogram's bounds, then +Inf.
void AddHistogram(MetricFamily& family, const Histogram& histogram, Labels labels = {});

std::vector<std::shared_ptr<prometheus::Collectable>> MakeOpCollectors(
    std::shared_ptr<const KvMetrics> kv, std::vector<std::shared_ptr<const ExchangeCallMetrics>> exchanges,
    std::shared_ptr<const cluster::ClusterGauges> cluster);

}  // namespace ami::gateway::metrics_impl
