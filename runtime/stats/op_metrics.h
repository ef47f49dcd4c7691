// Counters and latency histograms of the node's KV operations and exchange calls, for
// /metrics (docs/metrics.md). Each is made once by the node, handed to where the
// operation happens (the store actor, each exchange's bulkhead) and to the gateway,
// which reads it when Prometheus scrapes. Recording is lock-free (atomics), so neither
// the store actor nor a bulkhead thread ever waits on a scrape.
//
// Label values come from fixed sets only: KV op and space are enums; an exchange's id
// is the configured one; a method is one of the names given at construction (the CCXT
// unified methods) or "other", so a script calling made-up method names cannot grow the
// number of series.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/stats/histogram.h"
#include "runtime/store/kv_protocol.h"

namespace ami {

class KvMetrics {
 public:
  static constexpr size_t kOps = 3;      // kv::Request::Op: get, list, commit
  static constexpr size_t kSpaces = 2;   // kv::Space: local, network
  static const char* OpName(size_t op);  // "get" | "list" | "commit"
  static const char* SpaceName(size_t space);

  KvMetrics();
  // One answered operation: `ok` is false when the store failed it (a commit whose check
  // did not hold is ok: the store answered). `seconds` from its arrival at the store
  // actor to its answer (a commit's includes waiting for its group commit's fsync).
  void Record(kv::Request::Op op, kv::Space space, bool ok, double seconds);

  uint64_t operations(size_t op, size_t space) const { return ops_[op][space].load(std::memory_order_relaxed); }
  uint64_t errors(size_t op) const { return errors_[op].load(std::memory_order_relaxed); }
  Histogram seconds(size_t op) const { return seconds_[op]->Read(); }

 private:
  std::array<std::array<std::atomic<uint64_t>, kSpaces>, kOps> ops_{};
  std::array<std::atomic<uint64_t>, kOps> errors_{};
  std::array<std::unique_ptr<AtomicHistogram>, kOps> seconds_;
};

// One configured exchange's calls.
class ExchangeCallMetrics {
 public:
  // ok: the connector answered successfully; error: it answered with an error;
  // timeout: no answer by the exchange's timeout (RequestTimeout); refused: never sent
  // (the worker's lease ended, the bulkhead's queue was full, or it was shutting down).
  enum class Outcome { kOk, kError, kTimeout, kRefused };
  static constexpr size_t kOutcomes = 4;
  static const char* OutcomeName(size_t outcome);

  ExchangeCallMetrics(std::string exchange_id, std::vector<std::string> methods);

  // Lock-free. `seconds` is from the call's submission to its answer; refused calls
  // have no duration (pass a negative value).
  void Record(std::string_view method, Outcome outcome, double seconds);

  struct MethodCalls {
    std::string method;
    std::array<uint64_t, kOutcomes> calls{};
    Histogram seconds;
  };
  const std::string& exchange() const { return exchange_; }
  // The methods called at least once, in the order given at construction ("other" last).
  std::vector<MethodCalls> Read() const;

 private:
  struct PerMethod {
    explicit PerMethod(std::string name) : name(std::move(name)), seconds(kExchangeSecondsBounds) {}
    std::string name;
    std::array<std::atomic<uint64_t>, kOutcomes> calls{};
    AtomicHistogram seconds;
  };
  std::string exchange_;
  std::vector<std::unique_ptr<PerMethod>> methods_;  // fixed after construction; "other" last
};

}  // namespace ami
