// The run queue hands out run slots: immediately when free, else by priority
// (critical first, FIFO within a priority), or first come first served when priority
// ordering is off; long waiters are served out of order; dropped grants free their slot.
#include <catch2/catch.hpp>

#include <vector>

#include "runtime/exec/run_queue.h"

using namespace ami;

namespace {

// Collects grants in the order they arrive; keeps the slots so the test decides when to
// release them.
struct Recorder {
  std::vector<std::string> order;
  std::vector<RunQueue::SlotPtr> held;
  RunQueue::Grant Grant(std::string name) {
    return [this, name](RunQueue::SlotPtr slot) {
      order.push_back(name);
      held.push_back(std::move(slot));
    };
  }
  // Releases the oldest held slot, which passes it on to the next waiter.
  void ReleaseOne() {
    REQUIRE_FALSE(held.empty());
    auto slot = std::move(held.front());
    held.erase(held.begin());
    slot.reset();
  }
};

}  // namespace

TEST_CASE("free slots are granted at once", "[run_queue]") {
  auto q = RunQueue::Create({2, true, std::chrono::milliseconds(2000)});
  Recorder r;
  auto a = q->Acquire(Priority::kLow, r.Grant("a"));
  auto b = q->Acquire(Priority::kLow, r.Grant("b"));
  CHECK(a);
  CHECK(b);
  CHECK(q->counters().in_use == 2);
  CHECK_FALSE(q->Acquire(Priority::kCritical, r.Grant("c")));
  CHECK(q->counters().waiting == 1);
  a.reset();
  REQUIRE(r.order == std::vector<std::string>{"c"});
  CHECK(q->counters().in_use == 2);  // passed on, not freed
  b.reset();
  r.held.clear();
  CHECK(q->counters().in_use == 0);
  CHECK(q->counters().immediate == 2);
  CHECK(q->counters().queued == 1);
}

TEST_CASE("waiters are served by priority, FIFO within a priority", "[run_queue]") {
  auto q = RunQueue::Create({1, true, std::chrono::milliseconds(60000)});
  Recorder r;
  auto running = q->Acquire(Priority::kNormal, r.Grant("first"));
  REQUIRE(running);
  for (auto [name, p] : std::vector<std::pair<std::string, Priority>>{
           {"low1", Priority::kLow}, {"normal1", Priority::kNormal}, {"high1", Priority::kHigh},
           {"critical1", Priority::kCritical}, {"low2", Priority::kLow}, {"critical2", Priority::kCritical}}) {
    CHECK_FALSE(q->Acquire(p, r.Grant(name)));
  }
  running.reset();
  for (int i = 0; i < 5; ++i) r.ReleaseOne();
  CHECK(r.order == std::vector<std::string>{"critical1", "critical2", "high1", "normal1", "low1", "low2"});
}

TEST_CASE("with priority ordering off, waiters are first come first served", "[run_queue]") {
  auto q = RunQueue::Create({1, false, std::chrono::milliseconds(60000)});
  Recorder r;
  auto running = q->Acquire(Priority::kNormal, r.Grant("first"));
  CHECK_FALSE(q->Acquire(Priority::kLow, r.Grant("low")));
  CHECK_FALSE(q->Acquire(Priority::kCritical, r.Grant("critical")));
  running.reset();
  r.ReleaseOne();
  CHECK(r.order == std::vector<std::string>{"low", "critical"});
}

TEST_CASE("a newcomer does not overtake waiters", "[run_queue]") {
  auto q = RunQueue::Create({1, true, std::chrono::milliseconds(60000)});
  Recorder r;
  auto running = q->Acquire(Priority::kNormal, r.Grant("first"));
  CHECK_FALSE(q->Acquire(Priority::kLow, r.Grant("low")));
  running.reset();  // goes to "low"
  // "low" holds the slot; a critical newcomer must queue, not get a second slot.
  CHECK_FALSE(q->Acquire(Priority::kCritical, r.Grant("critical")));
  CHECK(q->counters().in_use == 1);
}

TEST_CASE("a waiter older than max_wait is served before newer higher priorities", "[run_queue]") {
  auto q = RunQueue::Create({1, true, std::chrono::milliseconds(0)});
  Recorder r;
  auto running = q->Acquire(Priority::kNormal, r.Grant("first"));
  CHECK_FALSE(q->Acquire(Priority::kLow, r.Grant("old-low")));
  CHECK_FALSE(q->Acquire(Priority::kCritical, r.Grant("new-critical")));
  running.reset();
  CHECK(r.order.front() == "old-low");
  CHECK(q->counters().aged >= 1);
}

TEST_CASE("a grant that is dropped frees its slot", "[run_queue]") {
  auto q = RunQueue::Create({1, true, std::chrono::milliseconds(60000)});
  auto running = q->Acquire(Priority::kNormal, [](RunQueue::SlotPtr) {});
  // This waiter drops its grant, as a message to a stopped actor would be dropped.
  CHECK_FALSE(q->Acquire(Priority::kHigh, [](RunQueue::SlotPtr) {}));
  running.reset();
  CHECK(q->counters().in_use == 0);
  CHECK(q->counters().waiting == 0);
  CHECK(q->Acquire(Priority::kLow, [](RunQueue::SlotPtr) {}));
}
