// Cluster numbers from real amid processes on loopback (tests/cluster/cluster_harness.h):
//   - leader failover after kill -9 and after a graceful shutdown (SIGTERM), measured from
//     the worker's own iteration log (last span of the old leader → first span of the new);
//   - KV propagation (3 and 5 nodes): kv.set on one node, timed from the commit on that
//     node to the apply on every other one by the store's replication trace (a bench hook:
//     AMI_BENCH_REPL_TRACE=1 with fault injection, actors/store_actor.h) — all nodes run
//     on this machine, so one wall clock serves; beside it the same figure for an etcd
//     cluster of as many members started in the same run (bench/etcd_runner.h: put on one
//     member → every member's watch), skipped with a note when `etcd` is not installed.
//     --poll=1 adds the old measurement (polling kv.get through every node's admin
//     service), the only one a build without the trace (an older amid) can give;
//   - convergence after a partition heals: 1,000 keys written on one side while cut off,
//     then the time until every node's network-space digest is equal;
//   - the CPU an idle 5-node cluster uses with the default heartbeat (500 ms), from
//     /proc/<pid>/stat over 20 s.
// AMI_TEST_BINARY_DIR=<another build> runs that build's amid (before/after comparisons).
#include <unistd.h>

#include <csignal>
#include <fstream>

#include "bench/bench_util.h"
#include "bench/etcd_runner.h"
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

// The old measurement: kv.get polled through every other node's admin service.
json KvLatencyPolled(TestCluster& c, int samples) {
  const size_t nodes = c.size();
  std::vector<double> all_visible, first_visible;
  for (int i = 0; i < samples; ++i) {
    const json key = {"bench", "poll", i};
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
            if (r["ok"] == true && !r["result"].is_null()) {
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
  PrintSummary("polled: kv.set → readable on every node (" + std::to_string(nodes) + " nodes)", a);
  PrintSummary("polled: kv.set → readable on the first other node", f);
  return json{{"all_ms", ToJson(a)}, {"first_ms", ToJson(f)}};
}

int64_t WallMicros() { return EtcdCluster::WallMicros(); }

// "… repltrace <kind> <key> <µs>[ <peer>]" lines of one node's output: key → µs.
std::map<std::string, int64_t> TraceTimes(const std::string& output, const std::string& kind) {
  std::map<std::string, int64_t> times;
  const std::string marker = "repltrace " + kind + " ";
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    const size_t at = line.find(marker);
    if (at == std::string::npos) continue;
    std::string rest = line.substr(at + marker.size());
    if (kind == "apply") rest = rest.substr(0, rest.rfind(' '));  // the peer
    const size_t space = rest.rfind(' ');
    if (space == std::string::npos) continue;
    times.emplace(rest.substr(0, space), std::strtoll(rest.c_str() + space + 1, nullptr, 10));
  }
  return times;
}

// Latencies per (sample, peer) and per sample (the last peer) from the bench's own send
// times or the origin's commit times to the peers' applies; empty when a node printed no
// trace (a build without the hook).
struct Propagation {
  std::vector<double> each, all;
};

json KvLatency(size_t nodes, int samples, int interval_ms, bool poll) {
  test::ClusterOptions options;
  options.nodes = nodes;
  TestCluster c(options);
  c.StartAll();
  if (!c.WaitConnected()) Die("cluster did not connect");
  json out{{"nodes", nodes}};
  std::vector<std::string> names;  // the trace's spelling of each key, from the origin's lines
  std::vector<int64_t> sent_us;
  for (int i = 0; i < samples; ++i) {
    sent_us.push_back(WallMicros());
    while (c.Admin(0, "kv.set", {{"space", "network"}, {"key", {"bench", "k", i}}, {"value", i}})["ok"] != true)
      ++g_retries;
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  // Every peer applies every key; its log reaches the output file within a second.
  std::map<std::string, int64_t> commits;
  std::vector<std::map<std::string, int64_t>> applies(nodes);
  const bool traced = test::Eventually([&] {
    commits = TraceTimes(c.Output(0), "commit");
    if (commits.size() < static_cast<size_t>(samples)) return false;
    for (size_t n = 1; n < nodes; ++n) {
      applies[n] = TraceTimes(c.Output(n), "apply");
      if (applies[n].size() < static_cast<size_t>(samples)) return false;
    }
    return true;
  }, std::chrono::seconds(15));
  if (traced) {
    // The trace names keys as kv::KeyToString does; sample i's key is the i-th committed.
    std::vector<std::pair<int64_t, std::string>> order;
    for (const auto& [key, us] : commits) order.emplace_back(us, key);
    std::sort(order.begin(), order.end());
    Propagation from_commit, from_send;
    for (int i = 0; i < samples; ++i) {
      const std::string& key = order[static_cast<size_t>(i)].second;
      const int64_t committed = order[static_cast<size_t>(i)].first;
      double last_c = 0, last_s = 0;
      for (size_t n = 1; n < nodes; ++n) {
        const double dc = static_cast<double>(applies[n].at(key) - committed) / 1000.0;
        const double ds = static_cast<double>(applies[n].at(key) - sent_us[static_cast<size_t>(i)]) / 1000.0;
        from_commit.each.push_back(dc);
        from_send.each.push_back(ds);
        last_c = std::max(last_c, dc);
        last_s = std::max(last_s, ds);
      }
      from_commit.all.push_back(last_c);
      from_send.all.push_back(last_s);
    }
    const std::string n = std::to_string(nodes) + " nodes";
    const Summary ca = Summarize(from_commit.all), ce = Summarize(from_commit.each);
    const Summary sa = Summarize(from_send.all), se = Summarize(from_send.each);
    PrintSummary("commit on n1 → applied on every peer (" + n + ")", ca);
    PrintSummary("commit on n1 → applied on a peer (each)", ce);
    PrintSummary("kv.set sent → applied on every peer", sa);
    PrintSummary("kv.set sent → applied on a peer (each)", se);
    out["commit_to_all_ms"] = ToJson(ca);
    out["commit_to_each_ms"] = ToJson(ce);
    out["send_to_all_ms"] = ToJson(sa);
    out["send_to_each_ms"] = ToJson(se);
  } else {
    std::printf("  no replication trace from this amid (a build without the hook): see the polled figures\n");
    out["trace"] = "unavailable";
    poll = true;
  }
  if (poll) out["polled"] = KvLatencyPolled(c, samples);
  return out;
}

// The same on etcd: put through member 1 → every member's watch.
json EtcdLatency(size_t members, int samples, int interval_ms) {
  EtcdCluster etcd(members);
  if (!etcd.Available()) {
    std::printf("  etcd: not installed (apt-get install etcd-server), skipped\n");
    return json{{"skipped", "etcd not installed"}};
  }
  if (!etcd.WaitReady()) Die("etcd did not start");
  std::map<std::string, int> keys;
  for (int i = 0; i < samples; ++i) keys[Base64("bench/" + std::to_string(i))] = i;
  etcd.StartWatches(keys);
  std::vector<int64_t> sent;
  for (int i = 0; i < samples; ++i) {
    sent.push_back(etcd.Put("bench/" + std::to_string(i)));
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  if (!test::Eventually([&] {
        for (size_t m = 0; m < etcd.size(); ++m)
          for (int i = 0; i < samples; ++i)
            if (etcd.Seen(m, i) < 0) return false;
        return true;
      }, std::chrono::seconds(30)))
    Die("etcd: not every watch saw every put");
  std::vector<double> all, each;
  for (int i = 0; i < samples; ++i) {
    double last = 0;
    for (size_t m = 0; m < etcd.size(); ++m) {
      const double d = static_cast<double>(etcd.Seen(m, i) - sent[static_cast<size_t>(i)]) / 1000.0;
      each.push_back(d);
      last = std::max(last, d);
    }
    all.push_back(last);
  }
  const Summary a = Summarize(all), e = Summarize(each);
  PrintSummary("etcd: put sent → every member's watch (" + std::to_string(members) + " members)", a);
  PrintSummary("etcd: put sent → a member's watch (each)", e);
  return json{{"members", members}, {"binary", etcd.Binary()}, {"all_ms", ToJson(a)}, {"each_ms", ToJson(e)}};
}

// utime + stime of a process, in clock ticks (/proc/<pid>/stat fields 14 and 15).
int64_t CpuTicks(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close_paren = stat.rfind(')');
  if (close_paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close_paren + 2));
  std::string f;
  int64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {  // field 3 is the state
    if (i == 14) utime = std::strtoll(f.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoll(f.c_str(), nullptr, 10);
  }
  return utime + stime;
}

json IdleCpu(size_t nodes, int seconds) {
  test::ClusterOptions options;
  options.nodes = nodes;
  options.heartbeat = std::chrono::milliseconds(500);  // the default
  TestCluster c(options);
  c.StartAll();
  if (!c.WaitConnected()) Die("cluster did not connect");
  std::this_thread::sleep_for(std::chrono::seconds(3));  // start-up work settles (no admin traffic below)
  std::vector<int64_t> before;
  for (size_t i = 0; i < nodes; ++i) before.push_back(CpuTicks(c.Pid(i)));
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const double wall_s = MsSince(t0) / 1000.0;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  json per_node = json::array();
  double total = 0;
  for (size_t i = 0; i < nodes; ++i) {
    const double pct = static_cast<double>(CpuTicks(c.Pid(i)) - before[i]) / tick / wall_s * 100.0;
    per_node.push_back(Round(pct, 2));
    total += pct;
  }
  std::printf("idle %zu-node cluster, heartbeat 500 ms, %d s: %.2f %% of one core in all (per node %s)\n", nodes,
              seconds, total, per_node.dump().c_str());
  return json{{"nodes", nodes}, {"seconds", seconds}, {"total_pct_of_core", Round(total, 2)}, {"per_node_pct", per_node}};
}

// digest → how many nodes have it, from every node's nodes.list; empty when one failed.
std::map<std::string, int> Digests(TestCluster& c) {
  std::map<std::string, int> digests;
  for (size_t i = 0; i < c.size(); ++i) {
    json r = c.Admin(i, "nodes.list");
    if (r["ok"] != true) return {};
    ++digests[r["result"]["nodes"][0]["digest"].get<std::string>()];
  }
  return digests;
}

// n1 is cut off; `keys` keys are written on the majority side (n2), one key on both
// sides; then the partition heals and every node's digest is polled until they agree.
json Convergence(int keys) {
  TestCluster c;
  c.StartAll();
  if (!c.WaitConnected()) Die("cluster did not connect");
  c.Partition({0});
  const auto w0 = Clock::now();
  for (int i = 0; i < keys; ++i) c.Ok(1, "kv.set", {{"space", "network"}, {"key", {"bench", "majority", i}}, {"value", i}});
  const double write_ms = MsSince(w0);
  c.Ok(0, "kv.set", {{"space", "network"}, {"key", {"bench", "both"}}, {"value", "minority"}});
  c.Ok(2, "kv.set", {{"space", "network"}, {"key", {"bench", "both"}}, {"value", "majority"}});
  // The majority has converged on its side; n1 differs.
  if (!test::Eventually([&] { auto d = Digests(c); return d.size() == 2; }, std::chrono::seconds(30)))
    Die("the sides did not settle before the heal");
  const auto t0 = Clock::now();
  c.Heal();
  const double heal_ms = MsSince(t0);
  if (!test::Eventually([&] { return Digests(c).size() == 1; }, std::chrono::seconds(120))) Die("no convergence");
  const double ms = MsSince(t0);
  std::printf("convergence after a partition heals (%d keys written on one side in %.0f ms): %.0f ms "
              "(of which %.0f ms the three heal requests)\n", keys, write_ms, ms, heal_ms);
  return json{{"keys", keys}, {"converged_ms", Round(ms, 1)}, {"heal_requests_ms", Round(heal_ms, 1)}};
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv,
            "bench_cluster [--rounds=5] [--samples=200] [--interval_ms=20] [--poll=0] [--etcd=1] [--keys=1000]\n"
            "              [--idle_s=20] [--idle_nodes=5] [--ttl_ms=2000] [--parts=127]\n"
            "Starts real amid processes (3 and 5 nodes) on loopback; needs the build's apps/amid.\n"
            "--parts: 1 kill -9 failover, 2 SIGTERM failover, 4 KV propagation 3 nodes, 8 5 nodes,\n"
            "16 partition-heal convergence, 32 idle CPU of --idle_nodes nodes, 64 etcd beside 4 / 8.");
  const int rounds = args.Int("rounds", 5), samples = args.Int("samples", 200), keys = args.Int("keys", 1000);
  const int interval_ms = args.Int("interval_ms", 20), idle_s = args.Int("idle_s", 20);
  const int idle_nodes = args.Int("idle_nodes", 5);
  const bool poll = args.Int("poll", 0) != 0, with_etcd = args.Int("etcd", 1) != 0;
  const int parts = args.Int("parts", 127);
  test::ClusterOptions options;
  options.ttl = std::chrono::milliseconds(args.Int("ttl_ms", 2000));
  options.renew = options.ttl / 2;
  options.margin = options.ttl / 10;
  args.CheckKnown({"rounds", "samples", "keys", "ttl_ms", "parts", "interval_ms", "poll", "etcd", "idle_s", "idle_nodes"});
  // The replication trace (actors/store_actor.h); amid inherits the environment.
  setenv("AMI_BENCH_REPL_TRACE", "1", 1);
  std::printf("amid: %s\n", (test::BinaryDir() / "apps" / "amid").c_str());
  PrintMachine();
  std::printf("lease ttl %lld ms, renew %lld ms, margin %lld ms, heartbeat %lld ms\n",
              static_cast<long long>(options.ttl.count()), static_cast<long long>(options.renew.count()),
              static_cast<long long>(options.margin.count()), static_cast<long long>(options.heartbeat.count()));
  json result;
  try {  // nodes are killed by the harness's destructors, also when a step fails
    if (parts & 1) result["failover_kill9"] = Failover(options, rounds, false);
    if (parts & 2) result["failover_sigterm"] = Failover(options, rounds, true);
    for (size_t nodes : {size_t{3}, size_t{5}}) {
      if (!(parts & (nodes == 3 ? 4 : 8))) continue;
      const std::string n = std::to_string(nodes);
      result["kv_latency_" + n] = KvLatency(nodes, samples, interval_ms, poll);
      if ((parts & 64) && with_etcd) result["etcd_" + n] = EtcdLatency(nodes, samples, interval_ms);
    }
    if (parts & 16) result["convergence"] = Convergence(keys);
    if (parts & 32) result["idle_cpu_" + std::to_string(idle_nodes)] = IdleCpu(static_cast<size_t>(idle_nodes), idle_s);
  } catch (const std::exception& e) {
    Die(std::string("bench_cluster: ") + e.what());
  }
  result["admin_retries"] = g_retries;
  result["amid"] = (test::BinaryDir() / "apps" / "amid").string();
  result["machine"] = MachineJson();
  PrintResult(result);
}
