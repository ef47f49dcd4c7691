// The run queue's starvation rule on an overloaded node: when every waiter is older than
// max_wait, grants alternate between the oldest waiter and the highest priority, so
// critical workers are not queued behind every low one (issue 15, priority tail).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "runtime/exec/run_queue.h"

using namespace ami;

TEST_CASE("when all waiters are past max_wait, at most every other grant goes by age", "[run_queue][priority]") {
  auto q = RunQueue::Create({1, true, std::chrono::milliseconds(0)});  // every waiter is "old" at once
  std::vector<std::string> order;
  std::vector<RunQueue::SlotPtr> held;
  auto grant = [&](std::string name) {
    return [&, name](RunQueue::SlotPtr slot) {
      order.push_back(name);
      held.push_back(std::move(slot));
    };
  };
  auto running = q->Acquire(Priority::kLow, grant("first"));
  REQUIRE(running);
  for (const char* name : {"low1", "low2", "low3"}) CHECK_FALSE(q->Acquire(Priority::kLow, grant(name)));
  for (const char* name : {"critical1", "critical2"}) CHECK_FALSE(q->Acquire(Priority::kCritical, grant(name)));
  running.reset();
  while (!held.empty()) {
    auto slot = std::move(held.front());
    held.erase(held.begin());
    slot.reset();  // passes the slot to the next waiter
  }
  // Old rule (oldest first whenever it is past max_wait): low1 low2 low3 critical1 critical2.
  CHECK(order == std::vector<std::string>{"low1", "critical1", "low2", "critical2", "low3"});
  CHECK(q->counters().aged == 3);
  CHECK(q->counters().in_use == 0);
}
