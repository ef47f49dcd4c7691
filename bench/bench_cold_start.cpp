// Worker cold start.
//
// (a) engine level: Engine::Create + Load + the first call settled, for a trivial script,
//     timed with steady_clock around the calls (no actors, no store). Engine destruction
//     is timed separately and is not part of the cold start.
// (b) node level: LocalNode::PutWorker of an active loop-mode worker until its first
//     iteration has settled. The bench thread polls the stats registry
//     (stats().Get(sid)->executions >= 1, a mutex-guarded map lookup, every --poll-us) and
//     timestamps with steady_clock, so the number includes PutWorker itself (record
//     validation, the syntax check by the process's checker thread, the durable commit),
//     the store's change notification, the node actor reading the record back, the
//     worker actor spawn, the run-slot grant, isolate creation, script load and the
//     first call. As a cross-check the script records Date.now() on its first line
//     (wall clock, 1 ms resolution) and writes it to Stels.local in its second
//     iteration; that stamp minus WallMillis() taken just before PutWorker gives
//     "PutWorker -> first line of JavaScript" with ms resolution.
//     After each sample the worker is deleted and the bench waits until the node has no
//     worker left, so samples do not overlap. The worker is critical priority only so
//     that its second iteration (the one writing the stamp) comes 1 ms after the first.
//
// Modes (issue 15): the engine level is measured four ways in one process — with and
// without the isolate pool (runtime/js/isolate_pool.h) and the startup snapshot
// (engine.cpp) — and the node level with the pool on and off (snapshot on). Between
// engine samples the bench waits --gap-ms, as workers rarely start back to back, so the
// pool's background thread can refill; `pooled` says how many samples found an isolate
// ready. engine_create_ms / node_ms are the default (pool and snapshot on), comparable
// with the same keys of a build before them.
//
// Usage: bench_cold_start [--runs=100] [--warmup=3] [--poll-us=100] [--gap-ms=5] [--node=1]
#include <time.h>

#include <thread>

#include "runtime/js/isolate_pool.h"

#include "bench/bench_util.h"
#include "runtime/js/engine.h"

using namespace ami;
using namespace ami::bench;

namespace {

constexpr const char* kTrivialScript = "globalThis.n = (globalThis.n || 0) + 1;\nreturn n;";

// CPU time of the calling thread: what Engine::Create itself costs, apart from waiting for
// a core (the wall-clock numbers on a loaded 2-core machine are mostly that wait).
double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct EngineSample {
  double create = 0, load = 0, call = 0, total = 0, destroy = 0, create_cpu = 0;
  bool pooled = false, snapshot = false;
};

EngineSample EngineColdStart(BenchHost& host) {
  EngineSample s;
  js::EngineOptions options;
  options.sid = "11111111-2222-4333-8444-555555555555";
  options.node_id = kNodeId;
  const double cpu0 = ThreadCpuMs();
  const auto t0 = Clock::now();
  auto created = js::Engine::Create(options, &host);
  if (!created.ok()) Die("Engine::Create: " + created.status().message());
  std::unique_ptr<js::Engine> engine = std::move(*created);
  const auto t1 = Clock::now();
  s.create_cpu = ThreadCpuMs() - cpu0;
  if (!engine->Load(kTrivialScript).ok()) Die("Load failed");
  const auto t2 = Clock::now();
  engine->StartCall();
  auto outcome = engine->TakeOutcome();
  const auto t3 = Clock::now();
  if (!outcome || !outcome->ok) Die("the trivial call did not settle successfully");
  s.pooled = engine->from_pool();
  s.snapshot = engine->from_snapshot();
  engine.reset();
  const auto t4 = Clock::now();
  auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  s.create = ms(t0, t1);
  s.load = ms(t1, t2);
  s.call = ms(t2, t3);
  s.total = ms(t0, t3);
  s.destroy = ms(t3, t4);
  return s;
}

// The node-level worker: stamps its first line, writes the stamp in its second iteration.
constexpr const char* kNodeScript =
    "const g = globalThis;\n"
    "if (g.firstLine === undefined) { g.firstLine = Date.now(); }\n"
    "else if (!g.written) { g.written = true; await Stels.local.set(['cold', Stels.sid], g.firstLine); }\n";

struct NodeSample {
  double put = 0;           // PutWorker call (returns once the record is durable)
  double settled = 0;       // PutWorker start -> first iteration settled (stats)
  double first_line = 0;    // PutWorker start -> first JS line (wall ms, 1 ms resolution)
  double spawned = 0;       // PutWorker start -> worker actor spawned (stats.started, wall ms)
};

NodeSample NodeColdStart(BenchNode& node, int poll_us) {
  NodeSample s;
  WorkerRecord record = BenchNode::MakeRecord(kNodeScript, Priority::kCritical, WorkerMode::kLoop);
  const int64_t wall0 = WallMillis();
  const auto t0 = Clock::now();
  node.Put(record);
  s.put = MsSince(t0);
  bool ok = WaitFor(
      [&] {
        auto st = node->stats().Get(record.sid);
        return st && st->executions >= 1;
      },
      std::chrono::seconds(30), std::chrono::microseconds(poll_us));
  s.settled = MsSince(t0);
  if (!ok) Die("worker did not complete its first iteration within 30 s");
  std::optional<json> stamp;
  if (!WaitFor([&] { return (stamp = node.Get(kv::MakeKey({"cold", record.sid}))).has_value(); },
               std::chrono::seconds(30), std::chrono::microseconds(500)))
    Die("worker did not write its first-line stamp");
  s.first_line = static_cast<double>(stamp->get<int64_t>() - wall0);
  auto st = node->stats().Get(record.sid);
  s.spawned = st && st->started ? static_cast<double>(*st->started - wall0) : -1;
  Status del = node->DeleteWorker(record.sid);
  if (!del.ok()) Die("DeleteWorker: " + del.message());
  if (!WaitFor([&] { return node->RunningWorkers() == 0; }, std::chrono::seconds(30)))
    Die("deleted worker did not stop");
  return s;
}

// Sets the pool and snapshot for the next engines and waits until the pool is full.
void SetMode(bool pool, bool snapshot) {
  js::IsolatePool& p = js::IsolatePool::Process();
  p.SetSize(0);  // drop isolates made the other way
  js::Engine::UseStartupSnapshot(snapshot);
  if (!pool) return;
  p.SetSize(js::IsolatePool::kDefaultSize);
  const uint64_t limit = js::EngineOptions{}.heap_limit_bytes;
  p.Take(limit, nullptr);  // registers the limit (nothing ready yet, so nothing is taken)
  if (!WaitFor([&] { return p.ready(limit) >= static_cast<size_t>(p.size()); }, std::chrono::seconds(30)))
    Die("the isolate pool did not fill");
}

json EngineMode(BenchHost& host, const char* name, bool pool, bool snapshot, int runs, int warmup, int gap_ms) {
  SetMode(pool, snapshot);
  for (int i = 0; i < warmup; ++i) EngineColdStart(host);
  std::vector<double> create, load, call, total, destroy, create_cpu;
  int pooled = 0, from_snapshot = 0;
  for (int i = 0; i < runs; ++i) {
    if (gap_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
    EngineSample s = EngineColdStart(host);
    create.push_back(s.create);
    load.push_back(s.load);
    call.push_back(s.call);
    total.push_back(s.total);
    destroy.push_back(s.destroy);
    create_cpu.push_back(s.create_cpu);
    pooled += s.pooled;
    from_snapshot += s.snapshot;
  }
  std::printf("\n(a) engine level, %s: Engine::Create + Load + first call settled (trivial script)\n", name);
  std::printf("  %d/%d from the pool, %d/%d from the snapshot\n", pooled, runs, from_snapshot, runs);
  PrintSummary("total (create+load+call)", Summarize(total));
  PrintSummary("  Engine::Create (isolate, context, API)", Summarize(create));
  PrintSummary("  Engine::Create, CPU time of its thread", Summarize(create_cpu));
  PrintSummary("  Load (compile the script)", Summarize(load));
  PrintSummary("  StartCall -> outcome", Summarize(call));
  PrintSummary("Engine destruction (not in total)", Summarize(destroy));
  return {{"create_ms", ToJson(Summarize(create))}, {"create_cpu_ms", ToJson(Summarize(create_cpu))},
          {"total_ms", ToJson(Summarize(total))},
          {"destroy_ms", ToJson(Summarize(destroy))}, {"pooled", pooled}, {"snapshot", from_snapshot}};
}

json NodeMode(const char* name, bool pool, int runs, int warmup, int poll_us) {
  SetMode(pool, true);
  BenchNode node;
  for (int i = 0; i < warmup; ++i) NodeColdStart(node, poll_us);
  std::vector<double> put, settled, first_line, spawned;
  const auto t0 = Clock::now();
  for (int i = 0; i < runs; ++i) {
    NodeSample s = NodeColdStart(node, poll_us);
    put.push_back(s.put);
    settled.push_back(s.settled);
    first_line.push_back(s.first_line);
    spawned.push_back(s.spawned);
  }
  std::printf("\n(b) node level, %s: PutWorker of an active loop worker -> its first iteration settled\n", name);
  auto st = Summarize(settled);
  PrintSummary("PutWorker -> first iteration settled", st);
  PrintSummary("  PutWorker call (validate, syntax, commit)", Summarize(put));
  PrintSummary("  PutWorker -> actor spawned (wall ms)", Summarize(spawned));
  PrintSummary("  PutWorker -> first JS line (wall ms)", Summarize(first_line));
  std::printf("  (%.1f s for %d samples incl. delete + wait for stop)\n", MsSince(t0) / 1000.0, runs);
  node.Shutdown();
  return {{"node_ms", ToJson(st)}, {"node_put_ms", ToJson(Summarize(put))},
          {"node_first_line_ms", ToJson(Summarize(first_line), 0)}};
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv,
            "usage: bench_cold_start [--runs=100] [--warmup=3] [--poll-us=100] [--gap-ms=5] [--node=1]");
  const int runs = std::max(1, args.Int("runs", 100));
  const int warmup = std::max(0, args.Int("warmup", 3));
  const int poll_us = std::max(1, args.Int("poll-us", 100));
  const int gap_ms = std::max(0, args.Int("gap-ms", 5));
  const bool node_level = args.Int("node", 1) != 0;
  args.CheckKnown({"runs", "warmup", "poll-us", "gap-ms", "node"});

  std::printf("AMI worker cold start: %d samples each (after %d warm-up runs)\n", runs, warmup);
  PrintMachine();
  json result = {{"bench", "cold_start"}, {"runs", runs}, {"gap_ms", gap_ms}, {"machine", MachineJson()}};

  // (a) engine level
  {
    js::InitializeV8();
    BenchHost host;
    json modes;
    modes["plain"] = EngineMode(host, "no pool, no snapshot", false, false, runs, warmup, gap_ms);
    modes["snapshot"] = EngineMode(host, "snapshot, no pool", false, true, runs, warmup, gap_ms);
    modes["pool"] = EngineMode(host, "pool, no snapshot", true, false, runs, warmup, gap_ms);
    modes["pool_snapshot"] = EngineMode(host, "pool and snapshot (default)", true, true, runs, warmup, gap_ms);
    modes["pool_snapshot_nogap"] = EngineMode(host, "pool and snapshot, back to back", true, true, runs, warmup, 0);
    result["engine_modes"] = modes;
    result["engine_ms"] = modes["pool_snapshot"]["total_ms"];
    result["engine_create_ms"] = modes["pool_snapshot"]["create_ms"];
    result["engine_destroy_ms"] = modes["pool_snapshot"]["destroy_ms"];

    std::vector<double> syntax;
    for (int i = 0; i < runs; ++i) {
      const auto t0 = Clock::now();
      if (!js::Engine::CheckSyntax(kNodeScript).ok()) Die("CheckSyntax failed");
      syntax.push_back(MsSince(t0));
    }
    PrintSummary("Engine::CheckSyntax (done by PutWorker)", Summarize(syntax));
    result["check_syntax_ms"] = ToJson(Summarize(syntax));
  }

  // (b) node level
  if (node_level) {
    json off = NodeMode("pool off", false, runs, warmup, poll_us);
    json on = NodeMode("pool on (default)", true, runs, warmup, poll_us);
    result["node_pool_off"] = off;
    for (auto& [k, v] : on.items()) result[k] = v;
  }
  result["machine"] = MachineJson();  // with the load average at the end
  PrintResult(result);
  return 0;
}
