// Small helpers shared by the benchmark programs: a temporary node directory, an
// in-process node (LocalNode, what amid runs), KV reads, percentiles, RSS, arguments,
// and the final `RESULT {json}` line. Header-only; benchmarks are separate programs.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "actors/local_node.h"
#include "runtime/base/clock.h"
#include "runtime/js/engine.h"  // the engine benchmarks drive an Engine with a fake Host
#include "runtime/config/config.h"
#include "runtime/model/worker_record.h"
#include "runtime/store/kv_key.h"

namespace ami::bench {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

[[noreturn]] inline void Die(const std::string& message) {
  std::cerr << "bench: " << message << std::endl;
  std::exit(1);
}

inline double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// ---- arguments: --name=value ------------------------------------------------------
class Args {
 public:
  Args(int argc, char** argv, std::string usage) : usage_(std::move(usage)) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "-h" || a == "--help") {
        std::cout << usage_ << std::endl;
        std::exit(0);
      }
      if (a.rfind("--", 0) != 0 || a.find('=') == std::string::npos) Die("bad argument \"" + a + "\"\n" + usage_);
      args_.emplace_back(a.substr(2, a.find('=') - 2), a.substr(a.find('=') + 1));
    }
  }
  double Num(const std::string& name, double fallback) const {
    for (const auto& [k, v] : args_)
      if (k == name) {
        char* end = nullptr;
        const double d = std::strtod(v.c_str(), &end);
        if (end == v.c_str() || *end != '\0') Die("--" + name + ": not a number: " + v);
        return d;
      }
    return fallback;
  }
  int Int(const std::string& name, int fallback) const { return static_cast<int>(Num(name, fallback)); }
  // Call after reading every option: rejects names nobody asked for.
  void CheckKnown(std::initializer_list<const char*> names) const {
    for (const auto& [k, v] : args_) {
      bool known = false;
      for (const char* n : names) known |= k == n;
      if (!known) Die("unknown option --" + k + "\n" + usage_);
    }
  }

 private:
  std::string usage_;
  std::vector<std::pair<std::string, std::string>> args_;
};

// ---- statistics -------------------------------------------------------------------
struct Summary {
  size_t n = 0;
  double min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

// Nearest-rank percentiles (p50 of 100 samples is the 50th smallest).
inline Summary Summarize(std::vector<double> v) {
  Summary s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto rank = [&](double p) {
    size_t r = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(r, 1, v.size()) - 1];
  };
  s.min = v.front();
  s.max = v.back();
  s.p50 = rank(50);
  s.p90 = rank(90);
  s.p99 = rank(99);
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  return s;
}

inline double Round(double x, int decimals = 3) {
  const double f = std::pow(10.0, decimals);
  return std::round(x * f) / f;
}

inline json ToJson(const Summary& s, int decimals = 3) {
  return json{{"n", s.n},
              {"min", Round(s.min, decimals)},
              {"p50", Round(s.p50, decimals)},
              {"p90", Round(s.p90, decimals)},
              {"p99", Round(s.p99, decimals)},
              {"max", Round(s.max, decimals)},
              {"mean", Round(s.mean, decimals)}};
}

inline void PrintSummary(const std::string& label, const Summary& s, const std::string& unit = "ms") {
  std::printf("  %-44s n=%-5zu min %8.3f  p50 %8.3f  p90 %8.3f  p99 %8.3f  max %8.3f  mean %8.3f %s\n",
              label.c_str(), s.n, s.min, s.p50, s.p90, s.p99, s.max, s.mean, unit.c_str());
  std::fflush(stdout);
}

inline void PrintResult(const json& result) {
  std::cout << "RESULT " << result.dump() << std::endl;
}

// ---- process ----------------------------------------------------------------------
// VmRSS of this process, in bytes (from /proc/self/status).
inline uint64_t RssBytes(const char* field = "VmRSS:") {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      std::istringstream ss(line.substr(std::strlen(field)));
      uint64_t kb = 0;
      ss >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

// User + system CPU time of the whole process so far, in seconds.
inline double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

inline int OpenFds() {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

// As amid does: every worker keeps its log file open, and 1024 descriptors are too few.
inline uint64_t RaiseFileLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur;
}

inline std::string Today() {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&now));
  return buf;
}

// The 1-minute load average: the machine is shared, so numbers come with it.
inline double LoadAvg() {
  std::ifstream in("/proc/loadavg");
  double one = -1;
  in >> one;
  return one;
}

inline double& StartLoad() {
  static double load = LoadAvg();
  return load;
}

// Load averages at the start (first PrintMachine call) and now.
inline json MachineJson() {
  return json{{"cores", std::thread::hardware_concurrency()},
              {"date", Today()},
              {"loadavg_1m_start", StartLoad()},
              {"loadavg_1m_end", LoadAvg()}};
}

inline void PrintMachine() {
  std::printf("machine: %u cores, load average %.2f (1 min) at start, %s\n", std::thread::hardware_concurrency(),
              StartLoad(), Today().c_str());
  std::fflush(stdout);
}

// ---- an engine without a worker actor -------------------------------------------------
// The engine's Host for engine-level measurements: logs are dropped, timers are queued
// for the bench to complete (at once), and anything else a bench script should not ask
// for stops the program.
struct BenchHost : js::Host {
  std::deque<uint64_t> timers;
  void Log(LogLevel, std::string) override {}
  void StartTimer(uint64_t id, std::chrono::milliseconds) override { timers.push_back(id); }
  void StartKv(uint64_t, kv::Request) override { Die("a bench script made a KV request"); }
  void StartExchangeCall(uint64_t, js::ExchangeCall) override { Die("a bench script called an exchange"); }
  double HybridTimestamp() override { return static_cast<double>(WallMillis()); }
};

// ---- a node in a fresh temporary directory --------------------------------------------
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ami-bench-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) Die("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

constexpr const char* kNodeId = "b-0001";

// A LocalNode whose data_dir lives in its own temporary directory; both go away with
// the object (the node first).
class BenchNode {
 public:
  // `extra_yaml` is appended to a config with `node` and `log` sections.
  explicit BenchNode(const std::string& extra_yaml = "") {
    spdlog::set_level(spdlog::level::warn);  // no "worker started" line per worker
    const std::string yaml = std::string("node:\n  id: ") + kNodeId +
                             "\n  data_dir: ./data\nlog:\n  level: warn\n" + extra_yaml;
    auto config = ParseConfig(yaml, "bench.yaml", dir_.path());
    if (!config.ok()) Die("config: " + config.status().message());
    auto started = LocalNode::Start(*config);
    if (!started.ok()) Die("cannot start the node: " + started.status().message());
    node_ = std::move(*started);
  }
  ~BenchNode() { Shutdown(); }

  Status Shutdown(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    if (!node_) return Status::OK();
    Status s = node_->Shutdown(timeout);
    node_.reset();
    return s;
  }

  LocalNode& operator*() { return *node_; }
  LocalNode* operator->() { return node_.get(); }
  const std::filesystem::path& dir() const { return dir_.path(); }

  static WorkerRecord MakeRecord(const std::string& script, Priority priority, WorkerMode mode, bool active = true) {
    WorkerRecord fields;
    fields.script = script;
    fields.priority = priority;
    fields.mode = mode;
    fields.active = active;
    return NewWorkerRecord(kNodeId, fields, WallMillis());
  }

  WorkerRecord Put(const std::string& script, Priority priority, WorkerMode mode, bool active = true) {
    WorkerRecord record = MakeRecord(script, priority, mode, active);
    Put(record);
    return record;
  }
  void Put(const WorkerRecord& record) {
    Status s = node_->PutWorker(record);
    if (!s.ok()) Die("PutWorker: " + s.message());
  }

  std::optional<json> Get(const kv::Key& key) {
    auto entry = node_->KvGet(kv::Space::kLocal, key);
    if (!entry.ok()) Die("Kv get: " + entry.status().message());
    if (!*entry) return std::nullopt;
    return json::parse((*entry)->value);
  }

  std::vector<kv::Entry> List(const kv::Key& prefix) {
    auto entries = node_->KvList(kv::Space::kLocal, prefix);
    if (!entries.ok()) Die("Kv list: " + entries.status().message());
    return *entries;
  }

  std::optional<WorkerStats> Stats(const std::string& sid) { return node_->stats().Get(sid); }

 private:
  TempDir dir_;
  std::unique_ptr<LocalNode> node_;
};

// Polls `condition` every `every` until it holds (true) or `timeout` passes (false).
template <class F>
bool WaitFor(F&& condition, std::chrono::milliseconds timeout,
             std::chrono::microseconds every = std::chrono::milliseconds(5)) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

}  // namespace ami::bench
