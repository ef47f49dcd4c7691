// The runtime's metric holders (runtime/stats/histogram.h, op_metrics.h,
// runtime/cluster/cluster_gauges.h): bucket boundaries, lock-free counting from many
// threads, and label values confined to fixed sets.
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "runtime/cluster/cluster_gauges.h"
#include "runtime/stats/histogram.h"
#include "runtime/stats/op_metrics.h"

using namespace ami;

TEST_CASE("histogram: values fall in the first bucket whose bound is >= them; above all bounds, +Inf", "[metrics]") {
  static constexpr double kBounds[] = {0.1, 1, 10};
  Histogram h(kBounds);
  for (double v : {0.0, 0.1, 0.5, 1.0, 9.0, 10.0, 11.0}) h.Observe(v);
  CHECK(h.counts() == std::vector<uint64_t>{2, 2, 2, 1});
  CHECK(h.count() == 7);
  CHECK(h.sum() == Approx(31.6));
}

TEST_CASE("atomic histogram: observations from many threads are all counted", "[metrics]") {
  AtomicHistogram h(kKvSecondsBounds);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&h] {
      for (int i = 0; i < 10000; ++i) h.Observe(i % 2 ? 0.0002 : 5.0);
    });
  for (auto& t : threads) t.join();
  const Histogram read = h.Read();
  CHECK(read.count() == 40000);
  CHECK(read.counts()[1] == 20000);                 // 0.0002 <= 0.00025
  CHECK(read.counts().back() == 20000);             // 5 s: above every bound
  CHECK(read.sum() == Approx(20000 * 5.0 + 20000 * 0.0002));
}

TEST_CASE("exchange call metrics: unknown method names count as \"other\", and refused calls are not timed", "[metrics]") {
  ExchangeCallMetrics m("bybit", {"fetchTicker", "createOrder"});
  using Outcome = ExchangeCallMetrics::Outcome;
  m.Record("fetchTicker", Outcome::kOk, 0.01);
  m.Record("fetchTicker", Outcome::kTimeout, 30);
  m.Record("madeUpByAScript1", Outcome::kError, 0.02);
  m.Record("madeUpByAScript2", Outcome::kRefused, -1);
  const auto read = m.Read();
  REQUIRE(read.size() == 2);  // createOrder was never called: no series
  CHECK(read[0].method == "fetchTicker");
  CHECK(read[0].calls == std::array<uint64_t, 4>{1, 0, 1, 0});
  CHECK(read[0].seconds.count() == 2);
  CHECK(read[1].method == "other");
  CHECK(read[1].calls == std::array<uint64_t, 4>{0, 1, 0, 1});
  CHECK(read[1].seconds.count() == 1);
}

TEST_CASE("cluster gauges: leases appear when wanted, follow events, and go when no longer wanted", "[metrics]") {
  cluster::ClusterGauges g;
  g.LeaseChanged("w1", true, 3);  // not wanted here: ignored
  CHECK(g.Leases().empty());
  g.WantLease("w1");
  CHECK(g.Leases().at("w1").held == false);
  g.LeaseChanged("w1", true, 4);
  CHECK(g.Leases().at("w1").held == true);
  CHECK(g.Leases().at("w1").term == 4);
  g.WantLease("w1");  // a repeated wish keeps what is known
  CHECK(g.Leases().at("w1").term == 4);
  g.LeaseChanged("w1", false, 4);
  CHECK(g.Leases().at("w1").held == false);
  g.DropLease("w1");
  CHECK(g.Leases().empty());
}
