// Regression tests of fault-trial seeds whose bugs showed only as delays (docs/reliability.md).
// Tests assert no timing, so each uses fault injection to make the delay endless: without
// the fix, the waits below run into their deadlines.
//
// Seed 1107: a node restarted after kill -9 connects out to its peers, but they send
// heartbeats and replication only over their own outbound link to it — which waited in
// its reconnect back-off. The fix (ClusterState::OnAuth, actors/cluster/handshake.cpp): a
// peer that authenticates inbound makes the node connect to it at once. Held here:
// reconnects (faults.set reconnect_hold_ms, 10 minutes).
//
// Seed 1001: a pull in flight when its connection died blocked replication from that
// peer until the pull timed out (5 s). The fix (AbandonPull on OnDown): the pull is
// abandoned with its connection. Held here: the peer's answer and our pull's timeout
// (faults.set pull_hold_ms / pull_timeout_ms, 10 minutes).
#include <catch2/catch.hpp>

#include "tests/cluster/cluster_harness.h"

using namespace ami::test;
using nlohmann::json;

namespace {

// Node `of`'s state as node `seen_by` reports it in nodes.list (else why not, for a failure message).
std::string StateSeen(TestCluster& c, size_t seen_by, size_t of) {
  json r = c.Admin(seen_by, "nodes.list");
  if (r["ok"] != true) return "(nodes.list failed: " + r["error"].dump() + ")";
  for (const auto& n : r["result"]["nodes"])
    if (n["id"] == c.Id(of)) return n.value("state", "");
  return "(not listed: " + r["result"]["nodes"].dump() + ")";
}

}  // namespace

TEST_CASE("seed 1107: a node restarted after kill -9 is reached by its peers although their reconnects are held",
          "[cluster]") {
  TestCluster c;  // 3 nodes, fault injection on
  c.StartAll();
  REQUIRE(c.WaitConnected());
  const size_t n3 = 2;

  c.Kill(n3);
  REQUIRE(Eventually([&] { return StateSeen(c, 0, n3) == "down" && StateSeen(c, 1, n3) == "down"; },
                     std::chrono::seconds(30)));
  // From now on n1's and n2's links to n3 would retry only after 10 minutes.
  for (size_t i : {0, 1}) CHECK(c.Ok(i, "faults.set", {{"reconnect_hold_ms", 600000}})["reconnect_hold_ms"] == 600000);

  c.Start(n3);
  // Both directions: n3 hears n1 and n2 only once their outbound links to it are up again.
  // (n3's own links report its peers "up" for a few heartbeats after connecting even when
  // nothing comes back; n1 and n2 reporting n3 up is what the bug prevented.)
  const bool reconnected = Eventually(
      [&] {
        return StateSeen(c, 0, n3) == "up" && StateSeen(c, 1, n3) == "up" && StateSeen(c, n3, 0) == "up" &&
               StateSeen(c, n3, 1) == "up";
      },
      std::chrono::seconds(60));
  INFO("n1 sees n3 " << StateSeen(c, 0, n3) << ", n2 sees n3 " << StateSeen(c, 1, n3) << ", n3 sees n1 "
                     << StateSeen(c, n3, 0) << ", n3 sees n2 " << StateSeen(c, n3, 1));
  if (!reconnected) {
    // What the nodes logged about their links (the cluster: lines), for the failure report.
    for (size_t i = 0; i < 3; ++i) UNSCOPED_INFO(c.Id(i) << " logged:\n" << c.Output(i));
  }
  REQUIRE(reconnected);

  // And replication flows to n3 over those links: a write on n1 is read on n3.
  c.Ok(0, "kv.set", {{"space", "network"}, {"key", {"seed1107", "after restart"}}, {"value", {{"v", 1107}}}});
  CHECK(Eventually(
      [&] {
        json r = c.Admin(n3, "kv.get", {{"space", "network"}, {"key", {"seed1107", "after restart"}}});
        return r["ok"] == true && r["result"]["value"] == json{{"v", 1107}};
      },
      std::chrono::seconds(30)));
}

TEST_CASE("seed 1001: a pull whose connection dies no longer blocks replication from that peer", "[cluster]") {
  ClusterOptions options;
  options.nodes = 2;  // with a third node the row would also arrive through it
  TestCluster c(options);
  c.StartAll();
  REQUIRE(c.WaitConnected());
  const size_t n1 = 0, n2 = 1;
  auto set = [&](const std::string& key, int v) {
    c.Ok(n1, "kv.set", {{"space", "network"}, {"key", {"seed1001", key}}, {"value", {{"v", v}}}});
  };
  auto on_n2 = [&](const std::string& key, int v) {
    json r = c.Admin(n2, "kv.get", {{"space", "network"}, {"key", {"seed1001", key}}});
    return r["ok"] == true && r["result"]["value"] == json{{"v", v}};
  };
  auto n2_pulling_from_n1 = [&] {
    json r = c.Admin(n2, "nodes.list");
    if (r["ok"] != true) return false;
    for (const auto& n : r["result"]["nodes"])
      if (n["id"] == c.Id(n1)) return n.value("pulling", false);
    return false;
  };
  set("before", 1);
  REQUIRE(Eventually([&] { return on_n2("before", 1); }));

  // n1 holds its answers to pulls, n2 waits 10 minutes for one.
  CHECK(c.Ok(n1, "faults.set", {{"pull_hold_ms", 600000}})["pull_hold_ms"] == 600000);
  CHECK(c.Ok(n2, "faults.set", {{"pull_timeout_ms", 600000}})["pull_timeout_ms"] == 600000);
  // n2 misses the push of a write, then pulls it after the heal: that pull is held.
  c.Partition({n2});
  set("missed", 2);
  c.Heal();
  REQUIRE(Eventually(n2_pulling_from_n1));
  CHECK_FALSE(on_n2("missed", 2));

  // Its connection dies with n1; n1 comes back without the hold.
  c.Kill(n1);
  c.Start(n1);
  set("after", 3);
  CHECK(Eventually([&] { return on_n2("missed", 2) && on_n2("after", 3); }, std::chrono::seconds(30)));
}
