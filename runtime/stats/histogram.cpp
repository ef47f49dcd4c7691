#include "runtime/stats/histogram.h"

#include <algorithm>
#include <numeric>

namespace ami {

size_t Histogram::BucketOf(std::span<const double> bounds, double value) {
  // The first bound >= value (Prometheus buckets are "le"); past the end: +Inf.
  return static_cast<size_t>(std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin());
}

uint64_t Histogram::count() const { return std::accumulate(counts_.begin(), counts_.end(), uint64_t{0}); }

AtomicHistogram::AtomicHistogram(std::span<const double> bounds)
    : bounds_(bounds), counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {
  for (size_t i = 0; i <= bounds.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void AtomicHistogram::Observe(double value) {
  counts_[Histogram::BucketOf(bounds_, value)].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram AtomicHistogram::Read() const {
  Histogram h(bounds_);
  for (size_t i = 0; i <= bounds_.size(); ++i) h.counts_[i] = counts_[i].load(std::memory_order_relaxed);
  h.sum_ = sum_.load(std::memory_order_relaxed);
  return h;
}

}  // namespace ami
