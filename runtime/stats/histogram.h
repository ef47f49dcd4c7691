// Fixed-bucket histograms for the node's Prometheus metrics (docs/metrics.md).
//
// The runtime measures on hot paths (every script call, every KV operation, every
// exchange call), so it does not use prometheus-cpp's objects (a mutex per Observe, and a
// dependency the runtime does not otherwise have): a Histogram is a few counters bumped
// where the measurement happens, and the gateway turns its state into the exposition
// format when Prometheus scrapes.
//   Histogram        plain; its owner guards it (e.g. WorkerStats under StatsRegistry's mutex)
//   AtomicHistogram  lock-free, for values observed on many threads at once
// Bucket bounds are fixed per metric (the k…Bounds below): every series of one metric
// has the same buckets, as Prometheus' histogram_quantile() needs.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace ami {

// Upper bounds in seconds, ascending; +Inf is implicit (one more bucket).
// Script calls: a loop iteration's milliseconds up to a single-mode run's minutes.
inline constexpr double kRunSecondsBounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                               0.5,   1,     2.5,  5,     10,   30,  60, 300};
// Waiting for a run slot: immediate grants are 0; anything near max_wait (2 s) is bad.
inline constexpr double kQueueWaitSecondsBounds[] = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025,
                                                     0.05,   0.1,    0.25,  0.5,   1,    2.5, 5};
// One KV operation in the store actor: SQLite reads, and commits with their fsync.
inline constexpr double kKvSecondsBounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                              0.025,  0.05,    0.1,    0.25,  0.5,    1};
// One exchange call, queueing on its bulkhead included; timeouts are 30 s by default.
inline constexpr double kExchangeSecondsBounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                    0.5,   1,     2.5,  5,     10,   30,  60};

class Histogram {
 public:
  // `bounds` must outlive the histogram (the k…Bounds above do).
  explicit Histogram(std::span<const double> bounds = {}) : bounds_(bounds), counts_(bounds.size() + 1, 0) {}

  void Observe(double value) {
    ++counts_[BucketOf(bounds_, value)];
    sum_ += value;
  }

  std::span<const double> bounds() const { return bounds_; }
  // Per bucket, NOT cumulative: counts()[i] holds values in (bounds[i-1], bounds[i]];
  // the last entry, values above every bound.
  const std::vector<uint64_t>& counts() const { return counts_; }
  double sum() const { return sum_; }
  uint64_t count() const;

  static size_t BucketOf(std::span<const double> bounds, double value);

 private:
  friend class AtomicHistogram;
  std::span<const double> bounds_;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
};

class AtomicHistogram {
 public:
  explicit AtomicHistogram(std::span<const double> bounds);
  AtomicHistogram(const AtomicHistogram&) = delete;
  AtomicHistogram& operator=(const AtomicHistogram&) = delete;

  // Lock-free; any thread.
  void Observe(double value);
  // A copy. Counts read one by one while others observe, so the sum may lag a bucket by
  // an observation or two; count() is always the buckets' total.
  Histogram Read() const;

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

}  // namespace ami
