// Resident memory per idle worker.
//
// Starts a LocalNode, starts and deletes one worker (so one-time costs — V8's builtins,
// CAF's scheduler threads, SQLite's page cache — are in the baseline, not charged to the
// workers), reads VmRSS from /proc/self/status, then writes --workers single-mode,
// low-priority workers whose script is
//     await Stels.local.set(['up', Stels.sid], 1);
//     await Stels.sleep(1e9);
// A worker counts as up once its marker is in Stels.local: by then its isolate exists,
// its script is loaded and its one call is parked on a timer, i.e. it is idle. When all
// markers are there (and RunningWorkers() == --workers), the bench waits --settle
// seconds and reads VmRSS again. (after - before) / workers is the RSS per idle worker.
// The process's CPU time over those --settle seconds is reported too (idle overhead).
// The file-descriptor limit is raised to the hard limit first, as amid does: each
// worker keeps its log file open.
//
// Usage: bench_idle_rss [--workers=1000] [--settle=2]
#include <thread>

#include "bench/bench_util.h"
#include "runtime/js/engine.h"

using namespace ami;
using namespace ami::bench;

int main(int argc, char** argv) {
  Args args(argc, argv, "usage: bench_idle_rss [--workers=1000] [--settle=2]");
  const int workers = std::max(1, args.Int("workers", 1000));
  const double settle = std::max(0.1, args.Num("settle", 2));
  args.CheckKnown({"workers", "settle"});
  const uint64_t nofile = RaiseFileLimit();
  std::printf("AMI RSS per idle worker: %d single-mode workers parked in Stels.sleep(1e9), RLIMIT_NOFILE %llu\n",
              workers, static_cast<unsigned long long>(nofile));
  PrintMachine();
  if (nofile < static_cast<uint64_t>(workers) + 64)
    std::printf("  warning: the descriptor limit may be too low for %d worker log files\n", workers);

  const std::string script = "await Stels.local.set(['up', Stels.sid], 1);\nawait Stels.sleep(1e9);\n";
  const uint64_t rss_process_start = RssBytes();
  BenchNode node;
  {
    // Warm-up worker, deleted before the baseline.
    auto warm = node.Put(script, Priority::kLow, WorkerMode::kSingle);
    if (!WaitFor([&] { return node.Get(kv::MakeKey({"up", warm.sid})).has_value(); }, std::chrono::seconds(30)))
      Die("warm-up worker did not start");
    Status del = node->DeleteWorker(warm.sid);
    if (!del.ok()) Die("DeleteWorker: " + del.message());
    if (!WaitFor([&] { return node->RunningWorkers() == 0; }, std::chrono::seconds(30)))
      Die("warm-up worker did not stop");
    kv::Request clear;
    clear.op = kv::Request::Op::kCommit;
    clear.mutations.push_back(kv::Mutation{kv::Mutation::Kind::kDelete, kv::MakeKey({"up", warm.sid}), {}, std::nullopt});
    if (!node->Kv(clear).ok()) Die("cannot clear the warm-up marker");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const uint64_t rss0 = RssBytes();
  const int fds0 = OpenFds();

  const auto t0 = Clock::now();
  for (int i = 0; i < workers; ++i) node.Put(script, Priority::kLow, WorkerMode::kSingle);
  const double put_s = MsSince(t0) / 1000.0;
  size_t up = 0;
  auto last_report = Clock::now();
  bool all_up = WaitFor(
      [&] {
        up = node.List(kv::MakeKey({"up"})).size();
        if (MsSince(last_report) > 5000) {
          std::printf("  ... %zu/%d up after %.1f s\n", up, workers, MsSince(t0) / 1000.0);
          std::fflush(stdout);
          last_report = Clock::now();
        }
        return up >= static_cast<size_t>(workers);
      },
      std::chrono::seconds(150), std::chrono::milliseconds(100));
  const double up_s = MsSince(t0) / 1000.0;
  if (!all_up) Die("only " + std::to_string(up) + " of " + std::to_string(workers) + " workers came up in 150 s");
  const int running = node->RunningWorkers();
  const double cpu0 = CpuSeconds();
  const auto s0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(settle));
  const double idle_cpu_pct = 100.0 * (CpuSeconds() - cpu0) / (MsSince(s0) / 1000.0);
  const uint64_t rss1 = RssBytes();
  const uint64_t hwm = RssBytes("VmHWM:");
  const int fds1 = OpenFds();
  const auto counters = node->run_queue().counters();

  const double mb = 1024.0 * 1024.0;
  const double per_worker_mb = (static_cast<double>(rss1) - static_cast<double>(rss0)) / workers / mb;
  std::printf("\n  RSS before workers:   %8.1f MB (process start %.1f MB)\n", rss0 / mb, rss_process_start / mb);
  std::printf("  RSS with %d idle:  %8.1f MB (peak VmHWM %.1f MB)\n", workers, rss1 / mb, hwm / mb);
  std::printf("  total for workers:    %8.1f MB\n", (static_cast<double>(rss1) - rss0) / mb);
  std::printf("  per idle worker:      %8.3f MB\n", per_worker_mb);
  std::printf("  start time:           %8.2f s to write %d records (PutWorker), %.2f s until all were up "
              "(%.2f ms per worker)\n",
              put_s, workers, up_s, up_s * 1000.0 / workers);
  std::printf("  worker actors alive:  %d; open fds %d -> %d; run slots in use %d, waiting %zu\n", running, fds0,
              fds1, counters.in_use, counters.waiting);
  std::printf("  CPU while idle:       %8.1f %% of one core (process user+sys over the %.1f s settle time)\n",
              idle_cpu_pct, settle);

  const auto ts = Clock::now();
  Status s = node.Shutdown(std::chrono::seconds(60));
  const double shutdown_s = MsSince(ts) / 1000.0;
  const uint64_t rss2 = RssBytes();
  std::printf("  shutdown of %d workers: %.2f s (%s); RSS after shutdown %.1f MB\n", workers, shutdown_s,
              s.ok() ? "ok" : s.message().c_str(), rss2 / mb);

  json result = {{"bench", "idle_rss"},
                 {"workers", workers},
                 {"machine", MachineJson()},
                 {"rss_before_mb", Round(rss0 / mb, 1)},
                 {"rss_after_mb", Round(rss1 / mb, 1)},
                 {"total_mb", Round((static_cast<double>(rss1) - rss0) / mb, 1)},
                 {"per_worker_mb", Round(per_worker_mb, 3)},
                 {"put_s", Round(put_s, 2)},
                 {"all_up_s", Round(up_s, 2)},
                 {"idle_cpu_pct", Round(idle_cpu_pct, 1)},
                 {"shutdown_s", Round(shutdown_s, 2)},
                 {"rss_after_shutdown_mb", Round(rss2 / mb, 1)}};
  PrintResult(result);
  return 0;
}
