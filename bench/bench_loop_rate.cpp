// Loop iteration rate of a trivial script.
//
// (a) engine level, no delay: StartCall -> TakeOutcome back to back for --seconds on one
//     Engine (no actors, no run queue). Two scripts: a synchronous body (one engine entry
//     per call) and a body with one `await Stels.sleep(0)` whose timer the bench
//     completes at once (two entries per call: StartCall and CompleteTimer).
// (b) node level, loop mode: one critical worker (1 ms delay between iterations is the
//     floor), iterations/s = delta of stats().executions over a --seconds window that
//     starts after a warm-up.
// (c) node level, single mode: `while (!shouldStop() && Date.now() < end) { n++; await
//     Stels.sleep(0); }` — awaits/s; the script counts in JavaScript for --seconds and
//     writes {n, ms} to Stels.local when done. A zero sleep yields through the worker
//     actor's own mailbox (before issue 15: CAF's timer thread).
//
// Usage: bench_loop_rate [--seconds=3]
#include <thread>

#include "bench/bench_util.h"
#include "runtime/js/engine.h"

using namespace ami;
using namespace ami::bench;

namespace {

struct Rate {
  uint64_t count = 0;
  double seconds = 0;
  double per_second() const { return seconds > 0 ? static_cast<double>(count) / seconds : 0; }
};

Rate EngineRate(const char* script, double seconds) {
  BenchHost host;
  js::EngineOptions options;
  options.sid = "11111111-2222-4333-8444-555555555555";
  options.node_id = kNodeId;
  auto created = js::Engine::Create(options, &host);
  if (!created.ok()) Die("Engine::Create: " + created.status().message());
  auto& engine = **created;
  if (!engine.Load(script).ok()) Die("Load failed");
  auto one = [&] {
    engine.StartCall();
    while (!host.timers.empty()) {
      const uint64_t id = host.timers.front();
      host.timers.pop_front();
      engine.CompleteTimer(id);
    }
    auto outcome = engine.TakeOutcome();
    if (!outcome || !outcome->ok) Die("engine call did not settle successfully");
  };
  for (int i = 0; i < 1000; ++i) one();  // warm-up (JIT)
  Rate r;
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  while (true) {
    for (int i = 0; i < 256; ++i) one();
    r.count += 256;
    if (Clock::now() >= end) break;
  }
  r.seconds = MsSince(t0) / 1000.0;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv, "usage: bench_loop_rate [--seconds=3]");
  const double seconds = std::max(0.2, args.Num("seconds", 3));
  args.CheckKnown({"seconds"});
  std::printf("AMI loop rate of a trivial script, %.1f s windows\n", seconds);
  PrintMachine();
  json result = {{"bench", "loop_rate"}, {"seconds", seconds}, {"machine", MachineJson()}};

  // (a) engine level
  js::InitializeV8();
  {
    Rate sync = EngineRate("globalThis.n = (globalThis.n || 0) + 1;", seconds);
    Rate await1 = EngineRate("globalThis.n = (globalThis.n || 0) + 1;\nawait Stels.sleep(0);", seconds);
    std::printf("\n(a) engine level, delay 0 (StartCall -> TakeOutcome on one thread)\n");
    std::printf("  synchronous body:            %10.0f calls/s  (%.2f us/call)\n", sync.per_second(),
                1e6 / sync.per_second());
    std::printf("  body with one await sleep(0): %9.0f calls/s  (%.2f us/call, 2 engine entries)\n",
                await1.per_second(), 1e6 / await1.per_second());
    result["engine_sync_calls_per_s"] = std::round(sync.per_second());
    result["engine_await_calls_per_s"] = std::round(await1.per_second());
  }

  // (b) node level, loop mode, critical priority
  {
    BenchNode node;
    auto record = node.Put("globalThis.n = (globalThis.n || 0) + 1;", Priority::kCritical, WorkerMode::kLoop);
    auto executions = [&] {
      auto st = node->stats().Get(record.sid);
      return st ? st->executions : 0;
    };
    if (!WaitFor([&] { return executions() >= 100; }, std::chrono::seconds(30)))
      Die("the loop worker did not reach 100 iterations");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const uint64_t e0 = executions();
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    const uint64_t e1 = executions();
    const double s = MsSince(t0) / 1000.0;
    const double rate = static_cast<double>(e1 - e0) / s;
    std::printf("\n(b) node level, loop mode, one critical worker (1 ms delay between iterations)\n");
    std::printf("  %10.0f iterations/s  (mean period %.3f ms, i.e. %.3f ms on top of the 1 ms delay)\n", rate,
                1000.0 / rate, 1000.0 / rate - 1.0);
    result["node_loop_iterations_per_s"] = std::round(rate);
    result["node_loop_period_ms"] = Round(1000.0 / rate);
    node.Shutdown();
  }

  // (c) node level, single mode, await Stels.sleep(0) in a loop
  {
    BenchNode node;
    const std::string script =
        "let n = 0;\n"
        "await Stels.sleep(0);\n"
        "const t0 = Date.now(); const end = t0 + " + std::to_string(static_cast<int64_t>(seconds * 1000)) + ";\n"
        "while (!shouldStop() && Date.now() < end) { n++; await Stels.sleep(0); }\n"
        "await Stels.local.set(['rate'], { n, ms: Date.now() - t0 });\n";
    auto record = node.Put(script, Priority::kCritical, WorkerMode::kSingle);
    std::optional<json> out;
    if (!WaitFor([&] { return (out = node.Get(kv::MakeKey({"rate"}))).has_value(); },
                 std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000) + 30000)))
      Die("the single-mode worker did not report");
    const double n = (*out)["n"].get<double>();
    const double ms = (*out)["ms"].get<double>();
    const double rate = n / (ms / 1000.0);
    std::printf("\n(c) node level, single mode: while (!shouldStop()) { n++; await Stels.sleep(0); }\n");
    std::printf("  %10.0f awaits/s  (%.2f us per await round trip through the worker actor)\n", rate,
                1e6 / rate);
    result["node_single_awaits_per_s"] = std::round(rate);
    node.Shutdown();
  }
  result["machine"] = MachineJson();  // with the load average at the end
  PrintResult(result);
  return 0;
}
