// The isolate pool (runtime/js/isolate_pool.h): isolates made ahead of time on a
// background thread. A pooled isolate goes to one engine only, an engine built on one
// offers scripts exactly what an engine built on a fresh isolate does (every global,
// every descriptor, frozen where it was), and every limit still holds on it. The pool
// is left full at the end of each test, so the process's exit also shuts down a pool
// with a live refill thread and ready isolates (a crash there fails the test).
#include <catch2/catch.hpp>

#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "runtime/js/engine.h"
#include "runtime/js/isolate_pool.h"
#include "tests/speed/engine_globals.h"

using namespace ami;
using namespace ami::js;

namespace {

// Waits (up to 20 s) until the pool holds `n` isolates for `heap_limit`; the pool must
// already know the limit (an engine with it was created).
bool WaitReady(uint64_t heap_limit, size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (IsolatePool::Process().ready(heap_limit) >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

// An engine on a pooled isolate with this heap limit (the first engine with a limit
// makes the pool for it; then one is waited for).
std::unique_ptr<Engine> PooledEngine(EngineOptions options, Host* host) {
  IsolatePool::Process().SetSize(IsolatePool::kDefaultSize);
  if (IsolatePool::Process().ready(options.heap_limit_bytes) == 0) {
    auto seed = Engine::Create(options, host);
    REQUIRE(seed.ok());
    REQUIRE(WaitReady(options.heap_limit_bytes, 1));
  }
  auto e = Engine::Create(options, host);
  REQUIRE(e.ok());
  REQUIRE((*e)->from_pool());
  return std::move(*e);
}

}  // namespace

TEST_CASE("pooled isolates are never shared: each goes to one engine, concurrent takers included", "[speed][pool]") {
  test::CaptureHost host;
  EngineOptions options = test::GlobalsOptions();
  options.heap_limit_bytes = 40ull << 20;  // a pool of its own
  IsolatePool::Process().SetSize(IsolatePool::kDefaultSize);
  { auto seed = Engine::Create(options, &host); REQUIRE(seed.ok()); }
  REQUIRE(WaitReady(options.heap_limit_bytes, IsolatePool::kDefaultSize));
  const uint64_t taken_before = IsolatePool::Process().taken();

  // Four threads take engines at once, more than the pool holds, and keep them all.
  std::mutex mu;
  std::vector<std::unique_ptr<Engine>> engines;
  std::vector<test::CaptureHost> hosts(24);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 6; ++i) {
        auto e = Engine::Create(options, &hosts[t * 6 + i]);
        std::lock_guard<std::mutex> lock(mu);
        if (e.ok()) engines.push_back(std::move(*e));
      }
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(engines.size() == 24);

  std::set<const void*> isolates;
  int pooled = 0;
  for (auto& e : engines) {
    isolates.insert(e->isolate_id());
    pooled += e->from_pool() ? 1 : 0;
  }
  CHECK(isolates.size() == engines.size());  // no isolate in two live engines
  CHECK(pooled >= IsolatePool::kDefaultSize);  // the full pool was used
  CHECK(IsolatePool::Process().taken() - taken_before == static_cast<uint64_t>(pooled));

  // And nothing leaks between them: each sees only its own global.
  for (size_t i = 0; i < engines.size(); ++i) {
    auto outcome = test::RunScript(*engines[i], "const before = globalThis.mark;\nglobalThis.mark = " +
                                                    std::to_string(i) + ";\nif (before !== undefined) throw new Error('shared');");
    INFO(outcome.error.Describe());
    CHECK(outcome.ok);
  }
  engines.clear();
  CHECK(WaitReady(options.heap_limit_bytes, IsolatePool::kDefaultSize));  // refilled with new ones
}

TEST_CASE("a pooled engine's globals equal a fresh engine's: names, descriptors, frozenness", "[speed][pool]") {
  test::CaptureHost host;
  const EngineOptions options = test::GlobalsOptions();

  IsolatePool::Process().SetSize(0);  // off: an isolate made in Engine::Create
  CHECK(IsolatePool::Process().ready(options.heap_limit_bytes) == 0);
  auto fresh = Engine::Create(options, &host);
  REQUIRE(fresh.ok());
  REQUIRE_FALSE((*fresh)->from_pool());
  const std::string fresh_globals = test::DescribeGlobals(**fresh, host);

  auto pooled = PooledEngine(options, &host);
  const std::string pooled_globals = test::DescribeGlobals(*pooled, host);

  test::CheckApiShape(fresh_globals);
  CHECK(pooled_globals == fresh_globals);
}

TEST_CASE("limits hold on a pooled isolate: heap cap, ArrayBuffer budget, CPU, hard deadline, Atomics.wait",
          "[speed][pool]") {
  test::CaptureHost host;
  EngineOptions options = test::GlobalsOptions();
  options.heap_limit_bytes = 16ull << 20;
  options.cpu_per_run = std::chrono::milliseconds(200);

  SECTION("heap cap: the engine is killed and broken, not the process") {
    auto e = PooledEngine(options, &host);
    auto outcome = test::RunScript(*e, "const s = 'y'.repeat(2 ** 26);\nlogger.info(JSON.stringify(s).length);");
    REQUIRE_FALSE(outcome.ok);
    CHECK(outcome.error.cause == ScriptError::Cause::kHeapLimit);
    CHECK(e->broken());
  }
  SECTION("ArrayBuffer budget is the heap limit") {
    auto e = PooledEngine(options, &host);
    auto outcome = test::RunScript(*e,
                                   "let r = '';\ntry { new ArrayBuffer(64 * 1024 * 1024); r = 'allocated'; } "
                                   "catch (err) { r = err.name; }\nlogger.info('ab ' + r);");
    INFO(outcome.error.Describe());
    CHECK(outcome.ok);
    CHECK(host.Logged("ab RangeError"));
  }
  SECTION("CPU per run") {
    auto e = PooledEngine(options, &host);
    auto outcome = test::RunScript(*e, "for (;;) {}");
    REQUIRE_FALSE(outcome.ok);
    CHECK(outcome.error.cause == ScriptError::Cause::kCpuLimit);
  }
  SECTION("a hard deadline in the past: nothing runs") {
    options.stop_switch = std::make_shared<StopSwitch>();
    auto e = PooledEngine(options, &host);
    REQUIRE(e->Load("logger.info('ran');").ok());
    options.stop_switch->SetHardDeadline(std::chrono::steady_clock::now() - std::chrono::seconds(1));
    e->StartCall();
    auto outcome = e->TakeOutcome();
    REQUIRE(outcome);
    REQUIRE_FALSE(outcome->ok);
    CHECK(outcome->error.cause == ScriptError::Cause::kLeaseEnded);
    CHECK_FALSE(host.Logged("ran"));
  }
  SECTION("Atomics.wait is refused") {
    auto e = PooledEngine(options, &host);
    auto outcome = test::RunScript(*e, "const a = new Int32Array(new SharedArrayBuffer(16));\nAtomics.wait(a, 0, 0);");
    REQUIRE_FALSE(outcome.ok);
    CHECK(outcome.error.name == "TypeError");
  }
}

TEST_CASE("size 0 turns the pool off and gives back what it held", "[speed][pool]") {
  test::CaptureHost host;
  const EngineOptions options = test::GlobalsOptions();
  auto warm = PooledEngine(options, &host);
  IsolatePool::Process().SetSize(0);
  CHECK(IsolatePool::Process().ready(options.heap_limit_bytes) == 0);
  auto e = Engine::Create(options, &host);
  REQUIRE(e.ok());
  CHECK_FALSE((*e)->from_pool());
  IsolatePool::Process().SetSize(IsolatePool::kDefaultSize);
  CHECK(WaitReady(options.heap_limit_bytes, IsolatePool::kDefaultSize));
}
