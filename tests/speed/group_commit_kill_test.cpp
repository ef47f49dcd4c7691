// Group commit keeps every acknowledged write (issue 15): a real amid takes writes from
// several admin clients at once — kv.set, and workers.createBatch — so they share
// transactions and fsyncs, and is killed with SIGKILL while they are still coming. After
// a restart every write that was acknowledged is there: a write is answered only after
// the commit that holds it.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>

#include "tests/cluster/cluster_harness.h"

using namespace ami::test;
using json = nlohmann::json;

TEST_CASE("group commit: every acknowledged write survives kill -9 of amid", "[groupcommit]") {
  ClusterOptions options;
  options.nodes = 1;
  TestCluster cluster(options);
  cluster.Start(0);
  const uint16_t port = cluster.AdminPort(0);

  constexpr int kWriters = 4;
  std::atomic<bool> stop{false};
  std::atomic<int> kv_acked{0};
  std::atomic<int> workers_acked{0};
  std::mutex mu;
  std::vector<std::pair<json, int>> keys;  // kv.set acknowledged: key, value
  std::vector<std::string> sids;           // workers.createBatch acknowledged
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      AdminClient client(cluster.OperatorTls());
      for (int i = 0; !stop; ++i) {
        const json key = json::array({"gc", t, i});
        json reply = client.Call("127.0.0.1", port, TestCluster::kToken, "kv.set",
                                 {{"space", "local"}, {"key", key}, {"value", i}}, std::chrono::seconds(5));
        if (reply["ok"] != true) break;  // the node is gone
        std::lock_guard<std::mutex> lock(mu);
        keys.emplace_back(key, i);
        ++kv_acked;
      }
    });
  }
  threads.emplace_back([&] {
    AdminClient client(cluster.OperatorTls());
    for (int round = 0; !stop; ++round) {
      json records = json::array();
      for (int i = 0; i < 10; ++i) records.push_back({{"note", "gc " + std::to_string(round) + "/" + std::to_string(i)}});
      json reply = client.Call("127.0.0.1", port, TestCluster::kToken, "workers.createBatch", {{"workers", records}},
                               std::chrono::seconds(5));
      if (reply["ok"] != true) break;
      std::lock_guard<std::mutex> lock(mu);
      for (const json& one : reply["result"]["results"])
        if (one["ok"] == true) sids.push_back(one["sid"]);
      workers_acked += 10;
    }
  });
  // Kill it in the middle of the traffic.
  REQUIRE(Eventually([&] { return kv_acked >= 400 && workers_acked >= 50; }, std::chrono::seconds(120)));
  cluster.Kill(0);
  stop = true;
  for (auto& t : threads) t.join();
  REQUIRE(keys.size() >= 400);
  REQUIRE(sids.size() >= 50);

  cluster.Start(0);
  // Only an answer counts: a request the loaded node did not answer in time
  // ("unavailable") is asked again, so a slow machine cannot pass for a lost write.
  auto ask = [&](const std::string& op, const json& args) {
    json got;
    Eventually([&] {
      got = cluster.Admin(0, op, args);
      return got["ok"] == true || got["error"].value("code", "") != "unavailable";
    }, std::chrono::seconds(60));
    return got;
  };
  size_t missing = 0;
  for (const auto& [key, value] : keys) {
    json got = ask("kv.get", {{"space", "local"}, {"key", key}});
    if (got["ok"] != true || got["result"]["value"] != value) {  // not_found: lost
      ++missing;
      UNSCOPED_INFO("lost " << key.dump() << " -> " << got.dump());
    }
  }
  for (const auto& sid : sids) {
    json got = ask("workers.get", {{"sid", sid}});
    if (got["ok"] != true) {
      ++missing;
      UNSCOPED_INFO("lost worker " << sid << " -> " << got.dump());
    }
  }
  CHECK(missing == 0);
}
