// What 1,000 parked workers cost while nothing happens: CPU (% of one core) and RSS.
//
// Each kind starts a fresh in-process node (LocalNode, what amid runs), writes --workers
// records in a loop, waits until every worker has reached its parked state, waits
// --settle seconds more (so start-up work — isolate creation, the last KV commits, V8's
// background compiles — is over), then measures for --seconds:
//   - the process's user+system CPU time (getrusage), as % of one core;
//   - the same per thread (/proc/self/task/*/stat), grouped by thread name, with each
//     group's context switches per second (how often its threads wake up): that shows
//     *what* burns the CPU;
//   - VmRSS.
// Kinds (--kinds, bits):
//   1 single  single mode: `await Stels.local.set(['up', sid], 1); while (!shouldStop())
//             await Stels.sleep(60000);` — a script parked in a long sleep
//   2 loop    loop mode, low priority, an iteration that marks itself up and then awaits
//             Stels.sleep(60000) — a loop worker parked inside its iteration
//   4 done    single mode, the script marks itself up and returns: the worker finished;
//             its record stays, its actor is gone
// A worker is parked once its marker is in Stels.local (its isolate exists and its call
// waits on a timer); for `done`, also once RunningWorkers() is 0. Low priority and the
// default execution settings throughout.
//
// Usage: bench_idle_cpu [--workers=1000] [--seconds=20] [--settle=3] [--kinds=3]
#include <dirent.h>

#include <map>
#include <thread>

#include "bench/bench_util.h"

using namespace ami;
using namespace ami::bench;

namespace {

// CPU time and context switches of every thread of this process, by thread id.
struct ThreadSample {
  std::string name;
  double cpu_s = 0;
  uint64_t switches = 0;  // voluntary + involuntary
};

std::map<int, ThreadSample> SampleThreads() {
  std::map<int, ThreadSample> out;
  const long ticks = sysconf(_SC_CLK_TCK);
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return out;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const int tid = std::atoi(e->d_name);
    const std::string base = std::string("/proc/self/task/") + e->d_name;
    std::ifstream stat(base + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const size_t open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    ThreadSample s;
    s.name = line.substr(open + 1, close - open - 1);
    std::istringstream rest(line.substr(close + 2));
    std::vector<std::string> f;
    std::string tok;
    while (rest >> tok) f.push_back(tok);
    // After "pid (comm) ", field 3 (state) is f[0]; utime is field 14, stime 15.
    if (f.size() < 13) continue;
    s.cpu_s = static_cast<double>(std::stoull(f[11]) + std::stoull(f[12])) / static_cast<double>(ticks);
    std::ifstream status(base + "/status");
    while (std::getline(status, line)) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0 || line.rfind("nonvoluntary_ctxt_switches:", 0) == 0)
        s.switches += std::stoull(line.substr(line.find(':') + 1));
    }
    out[tid] = s;
  }
  closedir(dir);
  return out;
}

struct ThreadGroup {
  int threads = 0;
  double cpu_s = 0;
  double switches = 0;
};

// Per thread-name totals over the window (threads that started or ended meanwhile count
// from zero / are lost; in an idle node none do).
std::map<std::string, ThreadGroup> Delta(const std::map<int, ThreadSample>& a, const std::map<int, ThreadSample>& b) {
  std::map<std::string, ThreadGroup> groups;
  for (const auto& [tid, s1] : b) {
    auto it = a.find(tid);
    ThreadGroup& g = groups[s1.name];
    ++g.threads;
    g.cpu_s += s1.cpu_s - (it == a.end() ? 0 : it->second.cpu_s);
    g.switches += static_cast<double>(s1.switches - (it == a.end() ? 0 : it->second.switches));
  }
  return groups;
}

std::string Script(int kind) {
  switch (kind) {
    case 1: return "await Stels.local.set(['up', Stels.sid], 1);\nwhile (!shouldStop()) await Stels.sleep(60000);\n";
    case 2: return "await Stels.local.set(['up', Stels.sid], 1);\nawait Stels.sleep(60000);\n";
    default: return "await Stels.local.set(['up', Stels.sid], 1);\n";
  }
}

const char* KindName(int kind) { return kind == 1 ? "single" : kind == 2 ? "loop" : "done"; }

json RunKind(int kind, int workers, double seconds, double settle) {
  std::printf("\n[%s] %d low-priority workers: %s", KindName(kind), workers,
              kind == 1   ? "single mode, parked in `await Stels.sleep(60000)`\n"
              : kind == 2 ? "loop mode, each iteration parked in `await Stels.sleep(60000)`\n"
                          : "single mode, finished (script returned)\n");
  std::fflush(stdout);
  BenchNode node;
  const uint64_t rss0 = RssBytes();
  const auto t0 = Clock::now();
  const WorkerMode mode = kind == 2 ? WorkerMode::kLoop : WorkerMode::kSingle;
  for (int i = 0; i < workers; ++i) node.Put(Script(kind), Priority::kLow, mode);
  size_t up = 0;
  if (!WaitFor(
          [&] {
            up = node.List(kv::MakeKey({"up"})).size();
            return up >= static_cast<size_t>(workers) && (kind != 4 || node->RunningWorkers() == 0);
          },
          std::chrono::seconds(180), std::chrono::milliseconds(100)))
    Die("only " + std::to_string(up) + " of " + std::to_string(workers) + " workers got parked in 180 s");
  const double up_s = MsSince(t0) / 1000.0;
  std::printf("  all parked after %.2f s; settling %.1f s\n", up_s, settle);
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(settle));

  const auto threads0 = SampleThreads();
  const double cpu0 = CpuSeconds();
  rusage ru0{};
  getrusage(RUSAGE_SELF, &ru0);
  const auto w0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const double wall_s = MsSince(w0) / 1000.0;
  const double cpu_s = CpuSeconds() - cpu0;
  const auto threads1 = SampleThreads();
  const uint64_t rss1 = RssBytes();
  const int running = node->RunningWorkers();

  const double pct = 100.0 * cpu_s / wall_s;
  const double mb = 1024.0 * 1024.0;
  std::printf("  CPU while parked: %.2f %% of one core (%.3f s user+sys over %.1f s); %d worker actors alive\n", pct,
              cpu_s, wall_s, running);
  std::printf("  RSS: %.1f MB with the node alone, %.1f MB parked (%.3f MB per worker)\n", rss0 / mb, rss1 / mb,
              (static_cast<double>(rss1) - static_cast<double>(rss0)) / workers / mb);
  auto groups = Delta(threads0, threads1);
  std::vector<std::pair<std::string, ThreadGroup>> sorted(groups.begin(), groups.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second.cpu_s != b.second.cpu_s ? a.second.cpu_s > b.second.cpu_s : a.second.switches > b.second.switches;
  });
  std::printf("  by thread name (CPU ms over the window, context switches/s):\n");
  json by_thread = json::object();
  for (const auto& [name, g] : sorted) {
    if (g.cpu_s <= 0 && g.switches <= 0) continue;
    std::printf("    %-18s x%-3d %8.0f ms  %8.1f switches/s\n", name.c_str(), g.threads, g.cpu_s * 1000.0,
                g.switches / wall_s);
    by_thread[name] = json{{"threads", g.threads}, {"cpu_ms", Round(g.cpu_s * 1000.0, 0)},
                           {"switches_per_s", Round(g.switches / wall_s, 1)}};
  }
  std::fflush(stdout);
  const auto ts = Clock::now();
  Status s = node.Shutdown(std::chrono::seconds(60));
  std::printf("  shutdown: %.2f s%s\n", MsSince(ts) / 1000.0, s.ok() ? "" : (" (" + s.message() + ")").c_str());
  return json{{"cpu_pct", Round(pct, 2)},
              {"cpu_s", Round(cpu_s, 3)},
              {"window_s", Round(wall_s, 1)},
              {"all_parked_s", Round(up_s, 2)},
              {"actors_alive", running},
              {"rss_mb", Round(rss1 / mb, 1)},
              {"rss_node_mb", Round(rss0 / mb, 1)},
              {"by_thread", by_thread}};
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv, "usage: bench_idle_cpu [--workers=1000] [--seconds=20] [--settle=3] [--kinds=3 (1 single, 2 loop, 4 done)]");
  const int workers = std::max(1, args.Int("workers", 1000));
  const double seconds = std::max(1.0, args.Num("seconds", 20));
  const double settle = std::max(0.0, args.Num("settle", 3));
  const int kinds = args.Int("kinds", 3);
  args.CheckKnown({"workers", "seconds", "settle", "kinds"});
  const uint64_t nofile = RaiseFileLimit();
  std::printf("AMI idle cost of parked workers, RLIMIT_NOFILE %llu\n", static_cast<unsigned long long>(nofile));
  PrintMachine();
  json result = {{"bench", "idle_cpu"}, {"workers", workers}, {"machine", MachineJson()}};
  for (int kind : {1, 2, 4})
    if (kinds & kind) result[KindName(kind)] = RunKind(kind, workers, seconds, settle);
  result["machine"] = MachineJson();
  PrintResult(result);
  return 0;
}
