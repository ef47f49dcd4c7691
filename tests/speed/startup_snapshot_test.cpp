// The startup snapshot (engine.cpp): isolates made from a blob that holds a context with
// prelude.js's worker-independent part already run. A context from it must be what a
// freshly built one is — every global, descriptor, prototype and frozen object the same
// — while each engine still gets its own copy, its own facts, its own random state, and
// working natives (they find their engine through the isolate, not through the snapshot).
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "runtime/js/engine.h"
#include "runtime/js/isolate_pool.h"
#include "tests/speed/engine_globals.h"

using namespace ami;
using namespace ami::js;

namespace {

// An engine made with the snapshot on or off, never from the pool (whose isolates keep
// what they were made with).
std::unique_ptr<Engine> Make(bool snapshot, const EngineOptions& options, Host* host) {
  IsolatePool::Process().SetSize(0);
  Engine::UseStartupSnapshot(snapshot);
  auto e = Engine::Create(options, host);
  Engine::UseStartupSnapshot(true);
  INFO(e.status().message());
  REQUIRE(e.ok());
  REQUIRE((*e)->from_snapshot() == snapshot);
  REQUIRE_FALSE((*e)->from_pool());
  return std::move(*e);
}

}  // namespace

TEST_CASE("a context from the startup snapshot equals a freshly built one", "[speed][snapshot]") {
  test::CaptureHost host;
  const EngineOptions options = test::GlobalsOptions();
  auto fresh = Make(false, options, &host);
  const std::string fresh_globals = test::DescribeGlobals(*fresh, host);
  auto snap = Make(true, options, &host);
  const std::string snap_globals = test::DescribeGlobals(*snap, host);
  test::CheckApiShape(fresh_globals);
  CHECK(snap_globals == fresh_globals);

  SECTION("also for a worker whose facts differ from the ones the snapshot was built with") {
    EngineOptions other = options;
    other.error_classes_json = R"([["BaseError",null],["OnlyHere","BaseError"]])";
    other.config_json = R"({"other":true})";
    other.exchanges_json = "[]";
    other.sid = "99999999-2222-4333-8444-555555555555";
    auto f = Make(false, other, &host);
    auto s = Make(true, other, &host);
    const std::string s_globals = test::DescribeGlobals(*s, host);
    CHECK(s_globals == test::DescribeGlobals(*f, host));
    CHECK(s_globals.find("OnlyHere") != std::string::npos);
    CHECK(s_globals.find("InsufficientFunds") == std::string::npos);  // not the snapshot's classes
    CHECK(s_globals.find("99999999-") != std::string::npos);
  }
}

TEST_CASE("engines from the snapshot are separate: own objects, own Math.random", "[speed][snapshot]") {
  test::CaptureHost h1, h2;
  const EngineOptions options = test::GlobalsOptions();
  auto a = Make(true, options, &h1);
  auto b = Make(true, options, &h2);
  CHECK(a->isolate_id() != b->isolate_id());
  const char* script =
      "if (AbortSignal.prototype.tampered) throw new Error('shared prototype');\n"
      "AbortSignal.prototype.tampered = true;\n"
      "logger.info(String(Math.random()));";
  auto ra = test::RunScript(*a, script);
  auto rb = test::RunScript(*b, script);
  INFO(ra.error.Describe() + " / " + rb.error.Describe());
  REQUIRE(ra.ok);
  REQUIRE(rb.ok);
  REQUIRE(h1.lines.size() == 1);
  REQUIRE(h2.lines.size() == 1);
  CHECK(h1.lines[0] != h2.lines[0]);  // a seed baked into the snapshot would repeat here
}

TEST_CASE("the script API works from the snapshot: natives, timers, exchange errors, limits", "[speed][snapshot]") {
  struct SnapHost : test::CaptureHost {
    std::vector<uint64_t> timers;
    std::vector<std::pair<uint64_t, ExchangeCall>> calls;
    void StartTimer(uint64_t id, std::chrono::milliseconds) override { timers.push_back(id); }
    void StartExchangeCall(uint64_t id, ExchangeCall call) override { calls.emplace_back(id, std::move(call)); }
  } host;
  EngineOptions options = test::GlobalsOptions();
  auto e = Make(true, options, &host);
  REQUIRE(e->Load(R"JS(
    logger.info('mem ' + (Deno.memoryUsage().heapUsed > 0) + ' ' + Stels.sid + ' ' + config.symbol);
    await Stels.sleep(5);
    const ex = new Stels.runtime.cex.paper();
    try { await ex.createOrder('BTC/USDT', 'limit', 'buy', 1, 100); }
    catch (err) { logger.info('caught ' + (err instanceof ccxt.InsufficientFunds) + ' ' + (err instanceof ccxt.ExchangeError) + ' ' + err.message); }
  )JS").ok());
  e->StartCall();
  REQUIRE(host.timers.size() == 1);
  e->CompleteTimer(host.timers[0]);
  REQUIRE(host.calls.size() == 1);
  CHECK(host.calls[0].second.method == "createOrder");
  ExchangeReply reply;
  reply.ok = false;
  reply.error_class = "InsufficientFunds";
  reply.message = "no money";
  e->CompleteExchangeCall(host.calls[0].first, reply);
  auto outcome = e->TakeOutcome();
  REQUIRE(outcome);
  INFO(outcome->error.Describe());
  CHECK(outcome->ok);
  CHECK(host.Logged("mem true 11111111-2222-4333-8444-555555555555 BTC/USDT"));
  CHECK(host.Logged("caught true true no money"));

  SECTION("heap cap on a snapshot isolate") {
    EngineOptions small = options;
    small.heap_limit_bytes = 16ull << 20;
    auto s = Make(true, small, &host);
    auto r = test::RunScript(*s, "const s = 'y'.repeat(2 ** 26);\nlogger.info(JSON.stringify(s).length);");
    REQUIRE_FALSE(r.ok);
    CHECK(r.error.cause == ScriptError::Cause::kHeapLimit);
    CHECK(s->broken());
  }
}
