#include "runtime/exec/priority_rules.h"

#include <algorithm>
#include <cmath>

namespace ami {

int ErrorBudget(Priority priority) {
  switch (priority) {
    case Priority::kCritical: return 50;
    case Priority::kHigh: return 20;
    case Priority::kNormal: return 10;
    case Priority::kLow: return 5;
  }
  return 10;
}

Millis LoopDelay(Priority priority) {
  switch (priority) {
    case Priority::kCritical: return Millis{1};
    case Priority::kHigh: return Millis{10};
    case Priority::kNormal: return Millis{100};
    case Priority::kLow: return Millis{1000};
  }
  return Millis{100};
}

Millis Backoff(const BackoffSection& rule, int consecutive) {
  const int steps = std::max(0, consecutive - 1);
  // Past ~60 steps the product overflows double's useful range; the cap applies long before.
  const double ms = static_cast<double>(rule.initial.count()) * std::pow(rule.factor, std::min(steps, 60));
  return Millis{static_cast<int64_t>(std::min(ms, static_cast<double>(rule.max.count())))};
}

}  // namespace ami
