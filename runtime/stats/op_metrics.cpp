#include "runtime/stats/op_metrics.h"

namespace ami {

const char* KvMetrics::OpName(size_t op) {
  static const char* const kNames[kOps] = {"get", "list", "commit"};
  return op < kOps ? kNames[op] : "other";
}

const char* KvMetrics::SpaceName(size_t space) { return ToString(static_cast<kv::Space>(space)); }

KvMetrics::KvMetrics() {
  for (auto& h : seconds_) h = std::make_unique<AtomicHistogram>(kKvSecondsBounds);
}

void KvMetrics::Record(kv::Request::Op op, kv::Space space, bool ok, double seconds) {
  const auto o = static_cast<size_t>(op);
  const auto s = static_cast<size_t>(space);
  if (o >= kOps || s >= kSpaces) return;
  ops_[o][s].fetch_add(1, std::memory_order_relaxed);
  if (!ok) errors_[o].fetch_add(1, std::memory_order_relaxed);
  seconds_[o]->Observe(seconds);
}

const char* ExchangeCallMetrics::OutcomeName(size_t outcome) {
  static const char* const kNames[kOutcomes] = {"ok", "error", "timeout", "refused"};
  return outcome < kOutcomes ? kNames[outcome] : "other";
}

ExchangeCallMetrics::ExchangeCallMetrics(std::string exchange_id, std::vector<std::string> methods)
    : exchange_(std::move(exchange_id)) {
  for (auto& m : methods) methods_.push_back(std::make_unique<PerMethod>(std::move(m)));
  methods_.push_back(std::make_unique<PerMethod>("other"));
}

void ExchangeCallMetrics::Record(std::string_view method, Outcome outcome, double seconds) {
  // A linear scan of ~20 short names: nothing next to an exchange call.
  PerMethod* slot = methods_.back().get();
  for (size_t i = 0; i + 1 < methods_.size(); ++i)
    if (methods_[i]->name == method) {
      slot = methods_[i].get();
      break;
    }
  slot->calls[static_cast<size_t>(outcome)].fetch_add(1, std::memory_order_relaxed);
  if (seconds >= 0) slot->seconds.Observe(seconds);
}

std::vector<ExchangeCallMetrics::MethodCalls> ExchangeCallMetrics::Read() const {
  std::vector<MethodCalls> out;
  for (const auto& m : methods_) {
    MethodCalls c;
    uint64_t total = 0;
    for (size_t i = 0; i < kOutcomes; ++i) total += c.calls[i] = m->calls[i].load(std::memory_order_relaxed);
    if (total == 0) continue;
    c.method = m->name;
    c.seconds = m->seconds.Read();
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace ami
