// Writing many workers at once: how long until N new workers are all running.
//
// "Running" = the worker's first loop iteration has settled (stats().executions >= 1),
// so the isolate exists, the script is loaded and has run once. The workers are
// loop-mode, low priority (1 s between iterations), with a trivial body, so they cost
// little once up. Each mode starts a fresh node in its own temporary directory and
// measures from just before the first write until every worker has run:
//
//   1  PutWorker in a loop from one thread (LocalNode's blocking helper: one catalog
//      write after the other; the way bench_idle_rss writes its workers)
//   2  the admin API, ONE `workers.createBatch` request with every record
//      (skipped with a note when the node does not know that operation)
//   4  YAML declarations: a config with N `workers:` entries; LocalNode::Start applies
//      them (the time of Start itself is reported separately)
//   8  the admin API, one `workers.create` request per worker, one after the other
//
// Usage: bench_batch [--workers=1000] [--modes=7] [--timeout=120]
#include <set>

#include "bench/bench_util.h"
#include "runtime/node/worker_catalog.h"

using namespace ami;
using namespace ami::bench;

namespace {

constexpr const char* kScript = "globalThis.n = (globalThis.n || 0) + 1;";
constexpr const char* kToken = "bench-batch-admin-token-0123456789";
const std::string kAdminYaml = std::string("admin: { listen: \"127.0.0.1:0\", token: ") + kToken + " }\n";

struct Run {
  double write_s = 0;   // until the writes were acknowledged (the request / loop / Start returned)
  double all_up_s = 0;  // until every worker has run once
  int failed = 0;       // writes refused
  bool skipped = false;
};

// Waits until every sid in `sids` has run once; returns false on timeout.
bool WaitAllUp(LocalNode& node, const std::vector<std::string>& sids, double timeout_s) {
  std::set<std::string> waiting(sids.begin(), sids.end());
  return WaitFor(
      [&] {
        for (const WorkerStats& s : node.stats().Snapshot())
          if (s.executions >= 1) waiting.erase(s.sid);
        return waiting.empty();
      },
      // Every 25 ms: each poll copies 1000 stats entries, CPU the node would rather have.
      std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)), std::chrono::milliseconds(25));
}

std::string NewSid() { return BenchNode::MakeRecord(kScript, Priority::kLow, WorkerMode::kLoop).sid; }

Run PutLoop(int n, double timeout_s) {
  BenchNode node;
  Run r;
  std::vector<std::string> sids;
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) sids.push_back(node.Put(kScript, Priority::kLow, WorkerMode::kLoop).sid);
  r.write_s = MsSince(t0) / 1000.0;
  if (!WaitAllUp(*node, sids, timeout_s)) Die("put loop: not every worker ran within the timeout");
  r.all_up_s = MsSince(t0) / 1000.0;
  return r;
}

json AdminCall(LocalNode& node, const std::string& op, const json& args) {
  const std::string text = node.Admin(kToken, json{{"op", op}, {"args", args}}.dump());
  auto reply = json::parse(text, nullptr, false);
  if (!reply.is_object()) Die(op + ": reply is not JSON: " + text.substr(0, 200));
  return reply;
}

json CreateArgs() { return json{{"script", kScript}, {"mode", "loop"}, {"priority", "low"}, {"active", true}}; }

Run AdminBatch(int n, double timeout_s) {
  BenchNode node(kAdminYaml);
  Run r;
  json records = json::array();
  for (int i = 0; i < n; ++i) records.push_back(CreateArgs());
  const auto t0 = Clock::now();
  json reply = AdminCall(*node, "workers.createBatch", json{{"workers", records}});
  r.write_s = MsSince(t0) / 1000.0;
  if (reply["ok"] != true) {
    if (reply["error"]["message"].get<std::string>().find("unknown operation") != std::string::npos) {
      r.skipped = true;
      return r;
    }
    Die("workers.createBatch: " + reply.dump().substr(0, 500));
  }
  std::vector<std::string> sids;
  for (const json& one : reply["result"]["results"]) {
    if (one["ok"] == true) sids.push_back(one["sid"]);
    else ++r.failed;
  }
  if (!WaitAllUp(*node, sids, timeout_s)) Die("admin batch: not every worker ran within the timeout");
  r.all_up_s = MsSince(t0) / 1000.0;
  return r;
}

Run AdminLoop(int n, double timeout_s) {
  BenchNode node(kAdminYaml);
  Run r;
  std::vector<std::string> sids;
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    json reply = AdminCall(*node, "workers.create", CreateArgs());
    if (reply["ok"] != true) Die("workers.create: " + reply.dump().substr(0, 500));
    sids.push_back(reply["result"]["sid"]);
  }
  r.write_s = MsSince(t0) / 1000.0;
  if (!WaitAllUp(*node, sids, timeout_s)) Die("admin loop: not every worker ran within the timeout");
  r.all_up_s = MsSince(t0) / 1000.0;
  return r;
}

Run Declarations(int n, double timeout_s) {
  TempDir dir;
  spdlog::set_level(spdlog::level::warn);
  std::vector<std::string> sids;
  std::string yaml = std::string("node:\n  id: ") + kNodeId + "\n  data_dir: ./data\nlog:\n  level: warn\nworkers:\n";
  for (int i = 0; i < n; ++i) {
    sids.push_back(NewSid());
    yaml += "  - { name: w" + std::to_string(i) + ", sid: " + sids.back() + ", mode: loop, priority: low, script: \"" +
            kScript + "\" }\n";
  }
  auto config = ParseConfig(yaml, "bench.yaml", dir.path());
  if (!config.ok()) Die("config: " + config.status().message());
  Run r;
  const auto t0 = Clock::now();
  auto started = LocalNode::Start(*config);
  if (!started.ok()) Die("cannot start the node: " + started.status().message());
  r.write_s = MsSince(t0) / 1000.0;
  if (!WaitAllUp(**started, sids, timeout_s)) Die("declarations: not every worker ran within the timeout");
  r.all_up_s = MsSince(t0) / 1000.0;
  (*started)->Shutdown(std::chrono::seconds(60));
  return r;
}

void Report(const char* key, const char* label, const Run& r, json* result) {
  if (r.skipped) {
    std::printf("  %-40s not available on this build\n", label);
    (*result)[key] = nullptr;
    return;
  }
  std::printf("  %-40s writes acknowledged %7.2f s, all running %7.2f s%s\n", label, r.write_s, r.all_up_s,
              r.failed ? (" (" + std::to_string(r.failed) + " refused)").c_str() : "");
  std::fflush(stdout);
  (*result)[key] = json{{"write_s", Round(r.write_s)}, {"all_up_s", Round(r.all_up_s)}, {"refused", r.failed}};
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv, "usage: bench_batch [--workers=1000] [--modes=7] [--timeout=120]");
  const int n = std::max(1, args.Int("workers", 1000));
  const int modes = args.Int("modes", 7);
  const double timeout_s = std::max(1.0, args.Num("timeout", 120));
  args.CheckKnown({"workers", "modes", "timeout"});
  RaiseFileLimit();  // every worker keeps its log file open
  std::printf("AMI: %d workers written at once -> all running (first iteration settled)\n", n);
  PrintMachine();
  json result = {{"bench", "batch"}, {"workers", n}, {"machine", MachineJson()}};
  if (modes & 1) Report("put_loop", "PutWorker loop (one thread)", PutLoop(n, timeout_s), &result);
  if (modes & 2) Report("admin_batch", "admin workers.createBatch (1 request)", AdminBatch(n, timeout_s), &result);
  if (modes & 4) Report("yaml", "YAML declarations (LocalNode::Start)", Declarations(n, timeout_s), &result);
  if (modes & 8) Report("admin_loop", "admin workers.create x N (sequential)", AdminLoop(n, timeout_s), &result);
  result["machine"] = MachineJson();
  PrintResult(result);
  return 0;
}
