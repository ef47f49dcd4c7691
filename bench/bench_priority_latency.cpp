// Start latency of a critical worker on a node saturated by low-priority busy workers,
// with the run queue's priority ordering on and, as the baseline, off
// (`execution: { priority_order: false }`: one FIFO for every priority). A third, short
// run on an idle node shows the floor (timer + message + scheduling overhead).
//
// Busy workers (--busy, default 500): single mode, low priority,
//     while (!shouldStop()) { burn --burn-ms of CPU synchronously; await Stels.sleep(0); }
// Burning spins on Date.now() until it has advanced by --burn-ms, so one synchronous run
// lasts between burn-1 and burn ms (2-3 ms by default). Every resumption after the
// sleep needs a run slot, so the queue of waiting entries stays about --busy long.
//
// Critical worker: loop mode, critical priority (1 ms delay between iterations).
// Latency of an iteration = how late it started compared to when it became due:
//     start(i) - (end(i-1) + 1 ms)
// where start is Date.now() on the script's first line and end is Date.now() on its last
// line (after everything the iteration awaited). Everything between the two — the
// worker actor seeing the call settle, the 1 ms delayed message, waiting for a run slot,
// the grant message, a scheduler thread picking the actor up, entering the isolate — is
// in the number. Date.now() has 1 ms resolution, so each sample is exact to +-1 ms
// (two truncations; their error averages out). Samples are kept in a JS array and
// written to Stels.local in batches of 500 (and at the end of the window); the write
// happens before the iteration's end stamp, so it is never counted as latency. The
// window (--seconds) starts at the critical worker's first iteration, after all busy
// workers are up.
//
// --critical=N runs N such workers at once and pools their samples (more samples for the
// baseline, whose iterations are ~1 s apart); they compete with each other only for the
// ~0.1 ms their iterations take.
//
// Each mode also prints the critical workers' run-slot waits over the window (from the
// run queue's wait histogram): the share of the latency that is waiting for a busy run to
// end, as opposed to timers, messages and scheduler threads.
//
// Usage: bench_priority_latency [--busy=500] [--burn-ms=3] [--seconds=12] [--idle-seconds=3]
//                               [--critical=1] [--modes=7 (bit 1 idle, 2 on, 4 off)]
#include <thread>

#include "bench/bench_util.h"
#include "runtime/stats/histogram.h"

using namespace ami;
using namespace ami::bench;

namespace {

std::string BusyScript(int burn_ms) {
  return "await Stels.local.set(['busy', Stels.sid], 1);\n"
         "while (!shouldStop()) {\n"
         "  const until = Date.now() + " + std::to_string(burn_ms) + ";\n"
         "  while (Date.now() < until) {}\n"
         "  await Stels.sleep(0);\n"
         "}\n";
}

std::string CriticalScript(int64_t window_ms) {
  return "const g = globalThis;\n"
         "const now = Date.now();\n"
         "if (g.lat === undefined) { g.lat = []; g.batch = 0; g.t0 = now; g.finished = false; }\n"
         "else if (!g.finished) {\n"
         "  g.lat.push(now - g.prevEnd - 1);\n"
         "  if (now - g.t0 >= " + std::to_string(window_ms) + ") {\n"
         "    g.finished = true;\n"
         "    await Stels.local.set(['lat', Stels.sid, g.batch++], g.lat); g.lat = [];\n"
         "    await Stels.local.set(['done', Stels.sid], { batches: g.batch, ms: now - g.t0 });\n"
         "  } else if (g.lat.length >= 500) {\n"
         "    const b = g.lat; g.lat = [];\n"
         "    await Stels.local.set(['lat', Stels.sid, g.batch++], b);\n"
         "  }\n"
         "}\n"
         "g.prevEnd = Date.now();\n";
}

struct ModeResult {
  Summary latency;
  double window_s = 0;
  double start_busy_s = 0;
  double grants_per_s = 0;
  size_t waiting = 0;
  uint64_t aged = 0;
  // The critical workers' run-slot waits over the window (RunQueue::wait_seconds): the
  // part of the latency spent waiting for a busy run to end, apart from the rest
  // (timer, messages, threads). Histogram buckets, so shares at fixed bounds.
  uint64_t slot_waits = 0;
  double slot_wait_mean_ms = 0;
  std::vector<std::pair<double, double>> slot_wait_share;  // (bound ms, share of waits <= it)
  double shutdown_s = 0;
};

ModeResult RunMode(const std::string& name, bool priority_order, int busy, int burn_ms, double seconds,
                   int critical) {
  std::printf("\n[%s] priority_order %s, %d busy low-priority workers burning %d ms per run, %d critical, "
              "window %.0f s\n",
              name.c_str(), priority_order ? "on" : "off", busy, burn_ms, critical, seconds);
  std::fflush(stdout);
  ModeResult r;
  BenchNode node(std::string("execution:\n  priority_order: ") + (priority_order ? "true" : "false") + "\n");
  const auto t0 = Clock::now();
  const std::string busy_script = BusyScript(burn_ms);
  for (int i = 0; i < busy; ++i) node.Put(busy_script, Priority::kLow, WorkerMode::kSingle);
  size_t up = 0;
  if (busy > 0 && !WaitFor(
                      [&] {
                        up = node.List(kv::MakeKey({"busy"})).size();
                        return up >= static_cast<size_t>(busy);
                      },
                      std::chrono::seconds(120), std::chrono::milliseconds(100)))
    Die("only " + std::to_string(up) + " busy workers came up in 120 s");
  r.start_busy_s = MsSince(t0) / 1000.0;
  if (busy > 0) {
    std::printf("  busy workers up after %.1f s\n", r.start_busy_s);
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }

  const auto c0 = node->run_queue().counters();
  const Histogram h0 = node->run_queue().wait_seconds()[static_cast<size_t>(Priority::kCritical)];
  const auto w0 = Clock::now();
  const int64_t window_ms = static_cast<int64_t>(seconds * 1000);
  for (int i = 0; i < critical; ++i) node.Put(CriticalScript(window_ms), Priority::kCritical, WorkerMode::kLoop);
  std::vector<kv::Entry> done;
  if (!WaitFor(
          [&] {
            done = node.List(kv::MakeKey({"done"}));
            return done.size() >= static_cast<size_t>(critical);
          },
          std::chrono::milliseconds(window_ms + 60000), std::chrono::milliseconds(200)))
    Die("the critical workers did not finish their windows");
  const auto c1 = node->run_queue().counters();
  const Histogram h1 = node->run_queue().wait_seconds()[static_cast<size_t>(Priority::kCritical)];
  const double wall_s = MsSince(w0) / 1000.0;
  std::vector<double> samples;
  for (const auto& e : node.List(kv::MakeKey({"lat"})))
    for (const auto& v : json::parse(e.value)) samples.push_back(v.get<double>());
  r.latency = Summarize(samples);
  for (const auto& e : done) r.window_s = std::max(r.window_s, json::parse(e.value)["ms"].get<double>() / 1000.0);
  r.grants_per_s = static_cast<double>((c1.immediate + c1.queued) - (c0.immediate + c0.queued)) / wall_s;
  r.waiting = c1.waiting;
  r.aged = c1.aged - c0.aged;
  {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h1.counts().size(); ++i) r.slot_waits += h1.counts()[i] - h0.counts()[i];
    for (size_t i = 0; i < h1.bounds().size() && r.slot_waits > 0; ++i) {
      cumulative += h1.counts()[i] - h0.counts()[i];
      const double bound_ms = h1.bounds()[i] * 1000.0;
      if (bound_ms >= 0.5 && bound_ms <= 25)
        r.slot_wait_share.emplace_back(bound_ms, static_cast<double>(cumulative) / static_cast<double>(r.slot_waits));
    }
    if (r.slot_waits > 0) r.slot_wait_mean_ms = (h1.sum() - h0.sum()) * 1000.0 / static_cast<double>(r.slot_waits);
  }

  PrintSummary("critical iteration start latency", r.latency);
  size_t within = 0;
  for (double x : samples) within += x <= burn_ms ? 1 : 0;
  std::printf("  %.1f%% of samples <= %d ms (one busy run); window %.1f s\n",
              samples.empty() ? 0.0 : 100.0 * static_cast<double>(within) / static_cast<double>(samples.size()),
              burn_ms, r.window_s);
  std::printf("  critical run-slot waits: %llu, mean %.3f ms;", static_cast<unsigned long long>(r.slot_waits),
              r.slot_wait_mean_ms);
  for (const auto& [bound, share] : r.slot_wait_share) std::printf(" <=%g ms %.1f%%", bound, 100.0 * share);
  std::printf("\n");
  std::printf("  run queue: %.0f slot grants/s, %zu entries waiting at the end, %llu served by age (>2 s)\n",
              r.grants_per_s, r.waiting, static_cast<unsigned long long>(r.aged));
  const auto ts = Clock::now();
  Status s = node.Shutdown(std::chrono::seconds(60));
  r.shutdown_s = MsSince(ts) / 1000.0;
  std::printf("  shutdown: %.2f s%s\n", r.shutdown_s, s.ok() ? "" : (" (" + s.message() + ")").c_str());
  std::fflush(stdout);
  return r;
}

json ModeJson(const ModeResult& r) {
  json j = ToJson(r.latency, 1);
  j["samples"] = r.latency.n;
  j["window_s"] = Round(r.window_s, 1);
  j["grants_per_s"] = std::round(r.grants_per_s);
  j["slot_wait_mean_ms"] = Round(r.slot_wait_mean_ms, 3);
  json share = json::object();
  for (const auto& [bound, s] : r.slot_wait_share) {
    char key[16];
    std::snprintf(key, sizeof key, "%g", bound);
    share[key] = Round(s, 4);
  }
  j["slot_wait_share_le_ms"] = share;
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv,
            "usage: bench_priority_latency [--busy=500] [--burn-ms=3] [--seconds=12] [--idle-seconds=3] "
            "[--critical=1] [--modes=7 (1 idle, 2 on, 4 off)]");
  const int busy = std::max(0, args.Int("busy", 500));
  const int burn_ms = std::max(1, args.Int("burn-ms", 3));
  const double seconds = std::max(0.5, args.Num("seconds", 12));
  const double idle_seconds = std::max(0.5, args.Num("idle-seconds", 3));
  const int modes = args.Int("modes", 7);
  const int critical = std::max(1, args.Int("critical", 1));
  args.CheckKnown({"busy", "burn-ms", "seconds", "idle-seconds", "critical", "modes"});
  const uint64_t nofile = RaiseFileLimit();
  std::printf("AMI critical-worker start latency under saturation, RLIMIT_NOFILE %llu\n"
              "latency = Date.now() at iteration start - (Date.now() at previous iteration end + 1 ms); "
              "1 ms resolution\n",
              static_cast<unsigned long long>(nofile));
  PrintMachine();

  json result = {{"bench", "priority_latency"}, {"busy", busy},         {"burn_ms", burn_ms},
                 {"critical", critical},          {"machine", MachineJson()}};
  if (modes & 1) result["idle_ms"] = ModeJson(RunMode("idle", true, 0, burn_ms, idle_seconds, critical));
  if (modes & 2) result["on_ms"] = ModeJson(RunMode("priority on", true, busy, burn_ms, seconds, critical));
  if (modes & 4) result["off_ms"] = ModeJson(RunMode("priority off", false, busy, burn_ms, seconds, critical));
  result["machine"] = MachineJson();  // with the load average at the end
  PrintResult(result);
  return 0;
}
