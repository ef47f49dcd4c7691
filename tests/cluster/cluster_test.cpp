// The cluster with real `amid` processes on loopback: replicated KV, worker records by
// scope, placement of exclusive and leader-mode workers, and leader failover under kill
// -9, SIGSTOP and partitions — checked by the lease checker (no two nodes' iterations of
// a leader worker overlap, terms only grow), which itself is proven to flag clock drift.
#include <catch2/catch.hpp>
#include <signal.h>

#include <map>
#include <sstream>
#include <set>

#include "runtime/base/clock.h"
#include "tests/cluster/cluster_harness.h"

using namespace ami::test;
using nlohmann::json;

namespace {

json CreateWorker(TestCluster& c, size_t on, json fields) {
  fields["active"] = true;
  return c.Ok(on, "workers.create", fields);
}

// Indices of the nodes where worker `sid` is running now (unreachable nodes count as not).
std::vector<size_t> RunningOn(TestCluster& c, const std::string& sid) {
  std::vector<size_t> out;
  for (size_t i = 0; i < c.size(); ++i) {
    if (!c.Running(i)) continue;
    json r = c.Admin(i, "workers.get", {{"sid", sid}});
    if (r["ok"] == true && r["result"].value("running", false)) out.push_back(i);
  }
  return out;
}

std::string Describe(const std::vector<std::string>& problems) {
  std::string out;
  for (size_t i = 0; i < problems.size() && i < 10; ++i) out += problems[i] + "\n";
  return out;
}

// A leader worker running on one node, with spans written: its index.
size_t StartLeaderWorker(TestCluster& c, std::string* sid) {
  json w = CreateWorker(c, 0, {{"script", SpanScript()}, {"executionMode", "leader"}, {"scope", "network"},
                               {"priority", "high"}});
  *sid = w["sid"].get<std::string>();
  std::optional<Span> last;
  REQUIRE(Eventually([&] { return (last = LastSpan(c, *sid)).has_value(); }, std::chrono::seconds(40)));
  return c.IndexOf(last->node);
}

}  // namespace

TEST_CASE("replicated KV: a write on one node is read on the others, and a restarted node catches up",
          "[cluster]") {
  TestCluster c;
  c.StartAll();
  REQUIRE(c.WaitConnected());

  c.Ok(0, "kv.set", {{"space", "network"}, {"key", {"t", "a"}}, {"value", {{"v", 1}}}});
  c.Ok(0, "kv.set", {{"space", "local"}, {"key", {"t", "mine"}}, {"value", "n1 only"}});
  for (size_t i : {1, 2}) {
    CHECK(Eventually([&] {
      json r = c.Admin(i, "kv.get", {{"space", "network"}, {"key", {"t", "a"}}});
      return r["ok"] == true && r["result"]["value"] == json{{"v", 1}};
    }));
    CHECK(c.Admin(i, "kv.get", {{"space", "local"}, {"key", {"t", "mine"}}})["error"]["code"] == "not_found");
  }

  // n3 misses a set and a delete while it is down, then catches up from its peers.
  CHECK(c.Terminate(2) == 0);
  c.Ok(0, "kv.set", {{"space", "network"}, {"key", {"t", "b"}}, {"value", "while n3 was down"}});
  c.Ok(1, "kv.delete", {{"space", "network"}, {"key", {"t", "a"}}});
  c.Start(2);
  CHECK(Eventually([&] {
    json b = c.Admin(2, "kv.get", {{"space", "network"}, {"key", {"t", "b"}}});
    json a = c.Admin(2, "kv.get", {{"space", "network"}, {"key", {"t", "a"}}});
    return b["ok"] == true && b["result"]["value"] == "while n3 was down" && a["error"]["code"] == "not_found";
  }));
  // Every replica converges to the same content.
  CHECK(Eventually([&] {
    std::set<std::string> digests;
    for (size_t i = 0; i < c.size(); ++i) {
      json r = c.Admin(i, "nodes.list");
      if (r["ok"] != true) return false;
      digests.insert(r["result"]["nodes"][0]["digest"].get<std::string>());
    }
    return digests.size() == 1;
  }));
}

TEST_CASE("worker records by scope, and exclusive placement", "[cluster]") {
  TestCluster c;
  c.StartAll();
  REQUIRE(c.WaitConnected());

  json net = CreateWorker(c, 0, {{"script", "logger.info('net');"}, {"scope", "network"}});
  json local = CreateWorker(c, 1, {{"script", "logger.info('local');"}, {"scope", "local"}});
  json excl = CreateWorker(c, 0, {{"script", "logger.info('excl');"}, {"scope", "network"},
                                  {"executionMode", "exclusive"}, {"assignedNode", "n3"}});
  const std::string net_sid = net["sid"], local_sid = local["sid"], excl_sid = excl["sid"];

  // The network worker is known and running everywhere; the local one only on n2.
  CHECK(Eventually([&] { return RunningOn(c, net_sid).size() == 3; }));
  CHECK(RunningOn(c, local_sid) == std::vector<size_t>{1});
  CHECK(c.Admin(0, "workers.get", {{"sid", local_sid}})["error"]["code"] == "not_found");
  CHECK(c.Admin(2, "workers.get", {{"sid", local_sid}})["error"]["code"] == "not_found");

  // The exclusive worker runs on n3 only; the others say why not.
  CHECK(Eventually([&] { return RunningOn(c, excl_sid) == std::vector<size_t>{2}; }));
  CHECK(Eventually([&] {
    return c.Ok(0, "workers.get", {{"sid", excl_sid}}).value("status", "").find("exclusive to n3") != std::string::npos;
  }));
  // n3 down: it runs nowhere, and the status says n3 is down.
  c.Kill(2);
  CHECK(Eventually([&] {
    return c.Ok(0, "workers.get", {{"sid", excl_sid}}).value("status", "").find("n3, which is down") !=
           std::string::npos;
  }));
  CHECK(RunningOn(c, excl_sid).empty());
}

TEST_CASE("a leader worker runs on one node; kill -9 of the leader fails over within ttl + margin", "[cluster]") {
  TestCluster c;
  c.StartAll();
  REQUIRE(c.WaitConnected());
  std::string sid;
  const size_t leader = StartLeaderWorker(c, &sid);
  CHECK(Eventually([&] { return RunningOn(c, sid) == std::vector<size_t>{leader}; }));
  CHECK(Eventually([&] {
    json info = c.Ok((leader + 1) % 3, "leader.info", {{"sid", sid}});
    return info["hasLeader"] == true && info["leader"] == c.Id(leader) && info["expiresIn"].get<int64_t>() > 0;
  }));

  const auto old_term = LastSpan(c, sid)->term;
  const int64_t killed_at = ami::WallMillis();
  c.Kill(leader);
  std::optional<Span> next;
  REQUIRE(Eventually([&] {
    next = LastSpan(c, sid);
    return next && next->node != c.Id(leader);
  }, std::chrono::seconds(30)));
  CHECK(next->term > old_term);
  // Failover: the old lease (2 s) runs out at the acceptors, then one election round.
  const int64_t failover = next->start - killed_at;
  INFO("failover after kill -9: " << failover << " ms");
  CHECK(failover < 2000 + 300 + 3000);  // ttl + margin + slack for a loaded machine
  auto problems = CheckSpans(ReadSpans(c.DataDirs(), sid));
  CHECK(problems.empty());
  INFO(Describe(problems));
}

TEST_CASE("a frozen leader is replaced, and once resumed it does not run again", "[cluster]") {
  TestCluster c;
  c.StartAll();
  REQUIRE(c.WaitConnected());
  std::string sid;
  const size_t leader = StartLeaderWorker(c, &sid);
  const int64_t frozen_at = ami::WallMillis();
  c.Freeze(leader);
  std::optional<Span> next;
  REQUIRE(Eventually([&] {
    next = LastSpan(c, sid);
    return next && next->node != c.Id(leader);
  }, std::chrono::seconds(30)));
  const int64_t thawed_at = ami::WallMillis();
  c.Thaw(leader);
  // Let the new leader run well past the resume; the old one must not run a single span.
  const std::string new_leader = next->node;
  REQUIRE(Eventually([&] {
    auto spans = ReadSpans(c.DataDirs(), sid);
    return std::count_if(spans.begin(), spans.end(),
                         [&](const Span& s) { return s.node == new_leader && s.start > thawed_at + 1500; }) > 5;
  }, std::chrono::seconds(30)));
  for (const auto& s : ReadSpans(c.DataDirs(), sid)) {
    if (s.node == c.Id(leader)) CHECK(s.start < frozen_at);
  }
  auto problems = CheckSpans(ReadSpans(c.DataDirs(), sid));
  INFO(Describe(problems));
  CHECK(problems.empty());
}

TEST_CASE("a partition leaves the minority without leader execution; healing keeps one leader", "[cluster]") {
  TestCluster c;
  c.StartAll();
  REQUIRE(c.WaitConnected());
  std::string sid;
  const size_t leader = StartLeaderWorker(c, &sid);
  const int64_t cut_at = ami::WallMillis();
  c.Partition({leader});
  std::optional<Span> next;
  REQUIRE(Eventually([&] {
    next = LastSpan(c, sid);
    return next && next->node != c.Id(leader);
  }, std::chrono::seconds(30)));
  // The minority side stopped by its own lease: nothing after ttl from the cut.
  for (const auto& s : ReadSpans(c.DataDirs(), sid))
    if (s.node == c.Id(leader)) CHECK(s.end <= cut_at + 2000);
  CHECK(Eventually([&] { return RunningOn(c, sid).size() == 1 && RunningOn(c, sid)[0] != leader; }));

  c.Heal();
  REQUIRE(c.WaitConnected());
  const int64_t healed_at = ami::WallMillis();
  REQUIRE(Eventually([&] {
    auto spans = ReadSpans(c.DataDirs(), sid);
    return std::count_if(spans.begin(), spans.end(), [&](const Span& s) { return s.start > healed_at + 1000; }) > 5;
  }, std::chrono::seconds(30)));
  CHECK(RunningOn(c, sid).size() == 1);
  auto problems = CheckSpans(ReadSpans(c.DataDirs(), sid));
  INFO(Describe(problems));
  CHECK(problems.empty());
}

TEST_CASE("a graceful shutdown of the leader hands over in well under a second", "[cluster]") {
  TestCluster c;
  c.StartAll();
  REQUIRE(c.WaitConnected());
  std::string sid;
  const size_t leader = StartLeaderWorker(c, &sid);
  CHECK(c.Terminate(leader) == 0);
  // The old leader's last iteration (the next leader may already have begun).
  const auto old = LastSpan(c, sid, c.Id(leader));
  REQUIRE(old.has_value());
  const Span last_old = *old;
  std::optional<Span> next;
  REQUIRE(Eventually([&] {
    next = LastSpan(c, sid);
    return next && next->node != c.Id(leader);
  }, std::chrono::seconds(30)));
  const int64_t handover = next->start - last_old.end;
  INFO("handover after SIGTERM: " << handover << " ms");
  CHECK(handover < 1000);
  auto problems = CheckSpans(ReadSpans(c.DataDirs(), sid));
  INFO(Describe(problems));
  CHECK(problems.empty());
}

TEST_CASE("the lease checker flags what clock drift does to a lease", "[cluster]") {
  // n1's lease clock runs at a quarter of real time: as a holder it keeps executing long
  // after the other nodes' acceptors let its lease go, so another node takes over while
  // n1 still runs. The checker must see the overlap. (Safety assumes drift < margin/ttl.)
  ClusterOptions options;
  options.extra_cluster_yaml = {"  lease_clock_rate: 0.25\n"};
  TestCluster c(options);
  c.StartAll();
  REQUIRE(c.WaitConnected());
  // Which node wins a sid's first election depends on the sid (rank order) and on the
  // acceptors' start-up silence — n1's lasts 4× longer by its slow clock, and until it
  // is over the faster nodes win. So keep adding leader workers until n1 leads one.
  std::vector<std::string> sids;
  auto last_create = std::chrono::steady_clock::now() - std::chrono::hours(1);
  std::vector<std::string> flagged;
  CHECK(Eventually([&] {
    if (std::chrono::steady_clock::now() - last_create > std::chrono::seconds(2) && sids.size() < 16) {
      json w = CreateWorker(c, 0, {{"script", SpanScript(20)}, {"executionMode", "leader"}, {"scope", "network"},
                                   {"priority", "high"}});
      sids.push_back(w["sid"]);
      last_create = std::chrono::steady_clock::now();
    }
    for (const auto& sid : sids) {
      auto problems = CheckSpans(ReadSpans(c.DataDirs(), sid));
      if (!problems.empty()) {
        flagged = problems;
        return true;
      }
    }
    return false;
  }, std::chrono::seconds(90)));
  if (flagged.empty()) {
    for (const auto& sid : sids) {
      std::map<std::string, int> per_node;
      for (const auto& s : ReadSpans(c.DataDirs(), sid)) ++per_node[s.node + "/t" + std::to_string(s.term)];
      std::string line = sid + ":";
      for (const auto& [k, v] : per_node) line += " " + k + "=" + std::to_string(v);
      WARN(line);
    }
    std::istringstream out(c.Output(0));
    std::string l;
    int shown = 0;
    while (std::getline(out, l) && shown < 40)
      if (l.find("lease") != std::string::npos || l.find("cluster") != std::string::npos) { WARN(l); ++shown; }
  }
  REQUIRE(!flagged.empty());
  CHECK(flagged[0].find("n1") != std::string::npos);
}

TEST_CASE("lease checker: overlapping and term-reversing histories are flagged", "[cluster][checker]") {
  CHECK(CheckSpans({{"n1", 1, 0, 10}, {"n1", 1, 20, 30}, {"n2", 2, 40, 50}}).empty());
  CHECK(CheckSpans({{"n1", 1, 0, 10}, {"n2", 2, 5, 15}}).size() == 1);        // overlap
  CHECK(!CheckSpans({{"n1", 3, 0, 10}, {"n2", 2, 20, 30}}).empty());          // term went back
  CHECK(!CheckSpans({{"n1", 3, 0, 10}, {"n2", 4, 20, 30}, {"n1", 3, 40, 50}}).empty());
}

TEST_CASE("ami one-shot commands against a three-node cluster", "[cluster][shell]") {
  TestCluster c;
  c.StartAll();
  REQUIRE(c.WaitConnected());
  const std::string ami = (BinaryDir() / "apps" / "ami").string();
  auto run = [&](size_t node, std::vector<std::string> args) {
    std::vector<std::string> full = {"--node", "127.0.0.1:" + std::to_string(c.AdminPort(node)), "--token",
                                     TestCluster::kToken, "--json"};
    const auto tls = c.AmiTlsArgs();
    full.insert(full.end(), tls.begin(), tls.end());
    full.insert(full.end(), args.begin(), args.end());
    return Run(ami, full);
  };
  auto json_of = [](const RunResult& r) {
    INFO(r.output);
    json j = json::parse(r.output, nullptr, false);
    REQUIRE(!j.is_discarded());
    return j;
  };

  // Every node sees the other two up.
  RunResult nodes = run(1, {"nodes"});
  REQUIRE(nodes.exit_code == 0);
  size_t up = 0;
  const json members = json_of(nodes);
  for (const auto& n : members["nodes"]) up += n["state"] == "up";
  INFO(nodes.output);
  CHECK(up == 2);

  // A network leader worker made from a template on n1 is listed on n3, runs on one node,
  // and `leader` answers the same holder from every node.
  RunResult created = run(0, {"create", "--template", "health-check", "--execution", "leader", "--scope", "network",
                              "--note", "three nodes", "--start", "--yes"});
  REQUIRE(created.exit_code == 0);
  const std::string sid = json_of(created)["sid"];
  CHECK(Eventually([&] {
    RunResult list = run(2, {"workers"});
    if (list.exit_code != 0) return false;
    const json workers = json_of(list);
    for (const auto& w : workers)
      if (w["sid"] == sid) return true;
    return false;
  }));
  std::string holder;
  CHECK(Eventually([&] {
    std::set<std::string> holders;
    for (size_t i = 0; i < 3; ++i) {
      RunResult l = run(i, {"leader", sid});
      if (l.exit_code != 0) return false;
      json j = json_of(l);
      if (j["hasLeader"] != true) return false;
      holders.insert(j["leader"].get<std::string>());
    }
    if (holders.size() != 1) return false;
    holder = *holders.begin();
    return true;
  }));
  CHECK(Eventually([&] { return RunningOn(c, sid).size() == 1; }));

  // Cluster-wide stats have every node.
  RunResult stats = run(2, {"stats", "--cluster"});
  REQUIRE(stats.exit_code == 0);
  CHECK(json_of(stats)["nodes"].size() == 3);

  // Stop on n2 stops it everywhere; unknown sid is exit 1; a wrong token is exit 3.
  CHECK(run(1, {"stop", sid}).exit_code == 0);
  CHECK(Eventually([&] { return RunningOn(c, sid).empty(); }));
  CHECK(run(0, {"show", "00000000-dead"}).exit_code == 1);
  RunResult denied = Run(ami, {"--node", "127.0.0.1:" + std::to_string(c.AdminPort(0)), "--token", "wrong", "workers"});
  CHECK(denied.exit_code == 3);
}
