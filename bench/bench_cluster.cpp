// Cluster numbers from real amid processes on loopback (tests/cluster/cluster_harness.h):
//   - leader failover after kill -9 and after a graceful shutdown (SIGTERM), measured from
//     the worker's own iteration log (last span of the old leader → first span of the new);
//   - KV write-to-visible latency: kv.set on one node, polled on every other node until
//     it is readable there (3 and 5 nodes);
//   - convergence after a partition heals: both sides write while cut off, then the time
//     until every node's network-space digest is equal.
#include <csignal>

#include "bench/bench_util.h"
#include "tests/cluster/cluster_harness.h"

using namespace ami;
using namespace ami::bench;
using ami::test::TestCluster;

namespace {

int64_t WallNow() { return WallMillis(); }
int g_retries = 0;  // admin requests repeated after a timeout

// Rounds of: find the leader, stop it (kill -9 or SIGTERM), time until another node runs
// the worker, bring the node back.
json Failover(const test::ClusterOptions& options, int rounds, bool graceful) {
  TestCluster c(options);
  c.StartAll();
  if (!c.WaitConnected()) Die("cluster did not connect");
  json w = c.Ok(0, "workers.create", {{"script", test::SpanScript(20)}, {"executionMode", "leader"},
                                      {"scope", "network"}, {"priority", "high"}, {"active", true}});
  const std::string sid = w["sid"];
  std::vector<double> from_signal, gap;
  for (int r = 0; r < rounds; ++r) {
    std::optional<test::Span> last;
    if (!test::Eventually([&] { return (last = test::LastSpan(c, sid)).has_value() && WallNow() - last->end < 500; },
                          std::chrono::seconds(60)))
      Die("no leader");
    const size_t leader = c.IndexOf(last->node);
    const int64_t signalled = WallNow();
    if (graceful) c.Terminate(leader);
    else c.Kill(leader);
    // The old leader's last iteration (the new one may already have begun).
    const test::Span old_last = *test::LastSpan(c, sid, c.Id(leader));
    std::optional<test::Span> next;
    if (!test::Eventually([&] { return (next = test::LastSpan(c, sid)) && next->node != c.Id(leader); }, std::chrono::seconds(60)))
      Die("no failover");
    from_signal.push_back(static_cast<double>(next->start - signalled));
    gap.push_back(static_cast<double>(next->start - old_last.end));
    std::printf("  round %d: %s %s → %s runs after %lld ms (gap between iterations %lld ms)\n", r + 1,
                graceful ? "SIGTERM" : "kill -9", c.Id(leader).c_str(), next->node.c_str(),
                static_cast<long long>(next->start - signalled), static_cast<long long>(next->start - old_last.end));
    c.Start(leader);
    if (!c.WaitConnected()) Die("node did not rejoin");
  }
  auto problems = test::CheckSpans(test::ReadSpans(c.DataDirs(), sid));
  if (!problems.empty()) Die("lease checker: " + problems[0]);
  const Summary s = Summarize(from_signal), g = Summarize(gap);
  PrintSummary(std::string(graceful ? "failover after SIGTERM" : "failover after kill -9") + ", from the signal", s);
  PrintSummary("  gap between the old leader's last and the new one's first iteration", g);
  return json{{"from_signal_ms", ToJson(s)}, {"gap_ms", ToJson(g)}};
}

json KvLatency(size_t nodes, int samples) {
  test::ClusterOptions options;
  options.nodes = nodes;
  TestCluster c(options);
  c.StartAll();
  if (!c.WaitConnected()) Die("cluster did not connect");
  std::vector<double> all_visible, first_visible;
  for (int i = 0; i < samples; ++i) {
    const json key = {"bench", "k", i};
    const auto t0 = Clock::now();
    // Under load a request can miss the client's 5 s deadline; count it and ask again.
    while (c.Admin(0, "kv.set", {{"space", "network"}, {"key", key}, {"value", i}})["ok"] != true) ++g_retries;
    std::vector<bool> seen(nodes, false);
    seen[0] = true;
    double first = -1;
    if (!test::Eventually([&] {
          bool all = true;
          for (size_t n = 1; n < nodes; ++n) {
            if (seen[n]) continue;
            json r = c.Admin(n, "kv.get", {{"space", "network"}, {"key", key}});
            if (r["ok"] == true) {
              seen[n] = true;
              if (first < 0) first = MsSince(t0);
            } else {
              all = false;
            }
          }
          return all;
        }, std::chrono::seconds(30)))
      Die("write not visible");
    all_visible.push_back(MsSince(t0));
    first_visible.push_back(first);
  }
  const Summary a = Summarize(all_visible), f = Summarize(first_visible);
  PrintSummary("kv.set → visible on every node (" + std::to_string(nodes) + " nodes, incl. the write's fsync)", a);
  PrintSummary("kv.set → visible on the first other node", f);
  return json{{"nodes", nodes}, {"all_ms", ToJson(a)}, {"first_ms", ToJson(f)}};
}

json Convergence(int keys) {
  TestCluster c;
  c.StartAll();
  if (!c.WaitConnected()) Die("cluster did not connect");
  c.Partition({0});
  for (int i = 0; i < keys; ++i) {
    c.Ok(0, "kv.set", {{"space", "network"}, {"key", {"bench", "minority", i}}, {"value", i}});
    c.Ok(1, "kv.set", {{"space", "network"}, {"key", {"bench", "majority", i}}, {"value", i}});
  }
  c.Ok(0, "kv.set", {{"space", "network"}, {"key", {"bench", "both"}}, {"value", "minority"}});
  c.Ok(2, "kv.set", {{"space", "network"}, {"key", {"bench", "both"}}, {"value", "majority"}});
  const auto t0 = Clock::now();
  c.Heal();
  if (!test::Eventually([&] {
        std::set<std::string> digests;
        for (size_t i = 0; i < c.size(); ++i) {
          json r = c.Admin(i, "nodes.list");
          if (r["ok"] != true) return false;
          digests.insert(r["result"]["nodes"][0]["digest"].get<std::string>());
        }
        return digests.size() == 1;
      }, std::chrono::seconds(120)))
    Die("no convergence");
  const double ms = MsSince(t0);
  std::printf("convergence after a partition heals (%d + %d keys written on the two sides): %.0f ms\n", keys, keys, ms);
  return json{{"keys_per_side", keys}, {"converged_ms", Round(ms, 1)}};
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv,
            "bench_cluster [--rounds=5] [--samples=200] [--keys=500] [--ttl_ms=2000] [--parts=31]\n"
            "Starts real amid processes (3 and 5 nodes) on loopback; needs the build's apps/amid.");
  const int rounds = args.Int("rounds", 5), samples = args.Int("samples", 200), keys = args.Int("keys", 500);
  // --parts=N: bit 1 kill -9 failover, 2 SIGTERM failover, 4 KV latency (3 nodes), 8 (5 nodes), 16 convergence.
  const int parts = args.Int("parts", 31);
  test::ClusterOptions options;
  options.ttl = std::chrono::milliseconds(args.Int("ttl_ms", 2000));
  options.renew = options.ttl / 2;
  options.margin = options.ttl / 10;
  args.CheckKnown({"rounds", "samples", "keys", "ttl_ms", "parts"});
  PrintMachine();
  std::printf("lease ttl %lld ms, renew %lld ms, margin %lld ms, heartbeat %lld ms\n",
              static_cast<long long>(options.ttl.count()), static_cast<long long>(options.renew.count()),
              static_cast<long long>(options.margin.count()), static_cast<long long>(options.heartbeat.count()));
  json result;
  try {  // nodes are killed by the harness's destructors, also when a step fails
    if (parts & 1) result["failover_kill9"] = Failover(options, rounds, false);
    if (parts & 2) result["failover_sigterm"] = Failover(options, rounds, true);
    if (parts & 4) result["kv_latency_3"] = KvLatency(3, samples);
    if (parts & 8) result["kv_latency_5"] = KvLatency(5, samples);
    if (parts & 16) result["convergence"] = Convergence(keys);
  } catch (const std::exception& e) {
    Die(std::string("bench_cluster: ") + e.what());
  }
  result["admin_retries"] = g_retries;
  result["machine"] = MachineJson();
  PrintResult(result);
}
