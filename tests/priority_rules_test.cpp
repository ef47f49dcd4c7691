// What a worker's priority implies: error budgets, loop delays, backoff sequences.
#include <catch2/catch.hpp>

#include <vector>

#include "runtime/exec/priority_rules.h"

using namespace ami;

namespace {

std::vector<int64_t> Sequence(const BackoffSection& rule, int n) {
  std::vector<int64_t> out;
  for (int i = 1; i <= n; ++i) out.push_back(Backoff(rule, i).count());
  return out;
}

}  // namespace

TEST_CASE("error budgets per priority", "[priority]") {
  CHECK(ErrorBudget(Priority::kCritical) == 50);
  CHECK(ErrorBudget(Priority::kHigh) == 20);
  CHECK(ErrorBudget(Priority::kNormal) == 10);
  CHECK(ErrorBudget(Priority::kLow) == 5);
}

TEST_CASE("loop delays per priority", "[priority]") {
  CHECK(LoopDelay(Priority::kCritical) == Millis{1});
  CHECK(LoopDelay(Priority::kHigh) == Millis{10});
  CHECK(LoopDelay(Priority::kNormal) == Millis{100});
  CHECK(LoopDelay(Priority::kLow) == Millis{1000});
}

TEST_CASE("critical backoff: 1, 2, 4, 8, 10, 10 s", "[priority]") {
  const ExecutionSection defaults;
  CHECK(Sequence(defaults.critical_backoff, 6) ==
        std::vector<int64_t>{1000, 2000, 4000, 8000, 10000, 10000});
  CHECK(Backoff(defaults.critical_backoff, 1000).count() == 10000);
}

TEST_CASE("network backoff: 5 s x 1.5, capped at 60 s", "[priority]") {
  const ExecutionSection defaults;
  CHECK(Sequence(defaults.network_backoff, 9) ==
        std::vector<int64_t>{5000, 7500, 11250, 16875, 25312, 37968, 56953, 60000, 60000});
  CHECK(Backoff(defaults.network_backoff, 20).count() == 60000);
  CHECK(Backoff(defaults.network_backoff, 1 << 30).count() == 60000);
}

TEST_CASE("backoff edge cases", "[priority]") {
  const BackoffSection rule{Millis{10}, 2.0, Millis{50}};
  // n < 1 is treated as the first error.
  CHECK(Backoff(rule, 0).count() == 10);
  CHECK(Backoff(rule, -5).count() == 10);
  CHECK(Sequence(rule, 5) == std::vector<int64_t>{10, 20, 40, 50, 50});
  // A factor of 1 keeps the delay constant.
  const BackoffSection flat{Millis{7}, 1.0, Millis{100}};
  CHECK(Sequence(flat, 3) == std::vector<int64_t>{7, 7, 7});
}
