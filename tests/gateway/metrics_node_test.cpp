// /metrics beyond the basics (docs/metrics.md): run-duration and queue-wait histograms,
// isolate heap, KV operations, exchange calls and leases on a real node running real
// workers; peer state, replication lag and leases on a real cluster of two amid
// processes. Every series is checked to move with the work, promtool lints the output,
// and no value a script chose (KV keys) ever becomes a label.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <regex>

#include "actors/local_node.h"
#include "tests/cluster/cluster_harness.h"
#include "tests/gateway/http_client.h"
#include "tests/support/local_node_start.h"
#include "tests/support/test_support.h"

using namespace ami;
using ami::test::Eventually;
using ami::test::Fetch;
using ami::test::Must;
using ami::test::TempDir;
using json = nlohmann::json;

namespace {

const std::string kToken = "metrics-node-test-token";
const test::Headers kAuth = {{"Authorization", "Bearer " + kToken}};


std::string Scrape(uint16_t port) {
  auto reply = Fetch(port, "GET", "/metrics");
  return reply && reply->status == 200 ? reply->body : std::string();
}

// promtool's complaints about `text`; "" when it passes.
std::string Lint(const TempDir& dir, const std::string& text) {
  test::WriteFile(dir / "metrics.txt", text);
  auto lint = test::Run("/bin/sh", {"-c", "promtool check metrics < " + (dir / "metrics.txt").string() + " 2>&1"});
  return lint.exit_code == 0 ? lint.output : "exit " + std::to_string(lint.exit_code) + ": " + lint.output;
}

std::string CreateWorker(uint16_t port, const json& fields) {
  auto reply = Must(Fetch(port, "POST", "/api/v1/workers", kAuth, fields.dump()));
  INFO(reply.status << " " << reply.body);
  REQUIRE(reply.status == 201);
  return json::parse(reply.body)["sid"];
}

// The gateway port amid logged at start ("http gateway listening on port N").
uint16_t HttpPort(const test::TestCluster& cluster, size_t i) {
  static const std::regex kLine("http gateway listening on port ([0-9]+)");
  std::smatch m;
  std::string out;
  const bool found = Eventually([&] {
    out = cluster.Output(i);
    return std::regex_search(out, m, kLine);
  });
  INFO(out);
  REQUIRE(found);
  return static_cast<uint16_t>(std::stoi(m[1].str()));
}

}  // namespace

TEST_CASE("metrics node: run, queue-wait, heap, KV, exchange and lease series move with real work", "[gateway][metrics]") {
  TempDir dir;
  auto node = test::StartLocalNode(
      "node: { id: s-0001, data_dir: ./data }\n"
      "admin: { listen: \"127.0.0.1:0\", token: " + kToken + " }\n"
      "http: { listen: \"127.0.0.1:0\" }\n"
      "limits: { stop_grace: 500ms }\n"
      "plugins: { dirs: [\"" + (test::BinaryDir() / "plugins").string() + "\"] }\n"
      "exchanges:\n"
      "  bybit: { connector: paper }\n",
      dir.path());
  const uint16_t port = node->http_port();
  REQUIRE(port != 0);

  // Before any work: the KV families exist at zero, no exchange method has a series yet.
  const std::string idle = Scrape(port);
  REQUIRE(!idle.empty());
  CHECK(test::MetricSample(idle, "ami_kv_operations_total{op=\"get\",space=\"local\"}") == 0);
  CHECK(idle.find("ami_exchange_calls_total{") == std::string::npos);

  // KV keys are the script's choice: they must never show up in /metrics.
  const std::string worker = CreateWorker(port, {{"active", true}, {"priority", "normal"}, {"script", R"(
    await Stels.local.set(['mt', 'script-chosen-key'], Date.now());
    await Stels.local.get(['mt', 'script-chosen-key']);
    await Stels.net.set(['mt', 'script-chosen-net'], 1);
    const t = await new Stels.runtime.cex.bybit().fetchTicker('BTC/USDT');
    const junk = new Array(2000).fill('x').join('');
    await Stels.sleep(10);
  )"}});
  const std::string leader = CreateWorker(
      port, {{"active", true}, {"priority", "critical"}, {"executionMode", "leader"}, {"script", "await Stels.sleep(20);"}});

  const std::string sid = "{sid=\"" + worker + "\"}";
  std::string text;
  REQUIRE(Eventually([&] {
    text = Scrape(port);
    return test::MetricSample(text, "ami_worker_executions_total" + sid) >= 3 &&
           test::MetricSample(text, "ami_lease_held{sid=\"" + leader + "\"}") == 1;
  }));
  INFO(text);
  // A run-duration histogram per worker, counted with its executions.
  CHECK(test::MetricSample(text, "ami_worker_run_duration_seconds_count" + sid) >= 3);
  CHECK(test::MetricSample(text, "ami_worker_run_duration_seconds_bucket{sid=\"" + worker + "\",le=\"+Inf\"}") ==
        test::MetricSample(text, "ami_worker_run_duration_seconds_count" + sid));
  CHECK(test::MetricSample(text, "ami_worker_run_duration_seconds_sum" + sid) > 0);
  CHECK(test::MetricSample(text, "ami_worker_heap_used_bytes" + sid) > 0);
  CHECK(test::MetricSample(text, "ami_worker_heap_limit_bytes" + sid) >= test::MetricSample(text, "ami_worker_heap_used_bytes" + sid));
  // Queue waits by the priority of the entry that waited.
  CHECK(test::MetricSample(text, "ami_run_queue_wait_seconds_count{priority=\"normal\"}") > 0);
  CHECK(test::MetricSample(text, "ami_run_queue_wait_seconds_count{priority=\"critical\"}") > 0);
  CHECK(test::MetricSample(text, "ami_run_queue_wait_seconds_count{priority=\"low\"}") == 0);
  // KV operations by op and space, timed by op.
  CHECK(test::MetricSample(text, "ami_kv_operations_total{op=\"commit\",space=\"local\"}") >= 3);
  CHECK(test::MetricSample(text, "ami_kv_operations_total{op=\"get\",space=\"local\"}") >= 3);
  CHECK(test::MetricSample(text, "ami_kv_operations_total{op=\"commit\",space=\"network\"}") >= 3);
  CHECK(test::MetricSample(text, "ami_kv_operation_errors_total{op=\"commit\"}") == 0);
  CHECK(test::MetricSample(text, "ami_kv_operation_duration_seconds_count{op=\"commit\"}") >= 6);
  CHECK(test::MetricSample(text, "ami_kv_operation_duration_seconds_count{op=\"get\"}") >= 3);
  // Exchange calls by configured exchange, CCXT method and outcome.
  const std::string ticker = "{exchange=\"bybit\",method=\"fetchTicker\"";
  CHECK(test::MetricSample(text, "ami_exchange_calls_total" + ticker + ",outcome=\"ok\"}") >= 3);
  CHECK(test::MetricSample(text, "ami_exchange_calls_total" + ticker + ",outcome=\"timeout\"}") == 0);
  CHECK(test::MetricSample(text, "ami_exchange_call_duration_seconds_count" + ticker + "}") >= 3);
  // The leader worker's lease on this cluster of one.
  CHECK(test::MetricSample(text, "ami_lease_term{sid=\"" + leader + "\"}") >= 1);
  CHECK(test::MetricSample(text, "ami_lease_held" + sid) == -1);  // not a leader-mode worker
  CHECK(text.find("ami_peer_up") == std::string::npos);  // no peers on a single node
  CHECK(text.find("script-chosen") == std::string::npos);
  CHECK(test::MetricSample(text, "ami_http_streams_open") == 0);
  CHECK(test::MetricSample(text, "ami_http_websockets_open") == 0);
  CHECK(Lint(dir, text) == "");

  // A leader worker that stops no longer wants its lease: its series go.
  auto stopped = Must(Fetch(port, "POST", "/api/v1/workers/" + leader + "/stop", kAuth));
  INFO(stopped.status << " " << stopped.body);
  REQUIRE(stopped.status < 300);
  CHECK(Eventually([&] { return test::MetricSample(Scrape(port), "ami_lease_held{sid=\"" + leader + "\"}") == -1; }));
}

TEST_CASE("metrics cluster: peer state, replication lag and leases on a cluster of two", "[gateway][metrics][cluster]") {
  test::ClusterOptions options;
  options.nodes = 2;
  options.extra_yaml = "http: { listen: \"127.0.0.1:0\" }\n";
  test::TestCluster c(options);
  c.StartAll();
  REQUIRE(c.WaitConnected());
  const uint16_t port0 = HttpPort(c, 0), port1 = HttpPort(c, 1);
  const std::string peer1 = "{node=\"" + c.Id(1) + "\",peer=\"127.0.0.1:" + std::to_string(c.ClusterPort(1)) + "\"";

  // A network write on node 2 reaches node 1, which is then caught up with it.
  c.Ok(1, "kv.set", {{"space", "network"}, {"key", {"mt", "a"}}, {"value", {{"v", 1}}}});
  std::string text;
  REQUIRE(Eventually([&] {
    text = Scrape(port0);
    return test::MetricSample(text, "ami_peer_up" + peer1 + "}") == 1 && test::MetricSample(text, "ami_replication_lag_versionstamps" + peer1 + "}") == 0 &&
           c.Admin(0, "kv.get", {{"space", "network"}, {"key", {"mt", "a"}}})["result"].dump().find("\"v\":1") !=
               std::string::npos;
  }));
  INFO(text);
  CHECK(test::MetricSample(text, "ami_peer_state" + peer1 + ",state=\"up\"}") == 1);
  CHECK(test::MetricSample(text, "ami_peer_state" + peer1 + ",state=\"down\"}") == 0);

  // A leader worker: exactly one node holds its lease, with a term.
  const std::string leader =
      c.Ok(0, "workers.create", {{"active", true}, {"executionMode", "leader"}, {"scope", "network"},
                                 {"script", "await Stels.sleep(50);"}})["sid"];
  const std::string held = "ami_lease_held{sid=\"" + leader + "\"}";
  const std::string term = "ami_lease_term{sid=\"" + leader + "\"}";
  std::string text0, text1;
  REQUIRE(Eventually([&] {
    text0 = Scrape(port0);
    text1 = Scrape(port1);
    return std::max(0.0, test::MetricSample(text0, held)) + std::max(0.0, test::MetricSample(text1, held)) == 1;
  }, std::chrono::seconds(40)));
  CHECK(std::max(test::MetricSample(text0, term), test::MetricSample(text1, term)) >= 1);
  CHECK(Lint(TempDir(), text0) == "");
  CHECK(Lint(TempDir(), text1) == "");

  // Node 2 dies: node 1 sees it down.
  c.Kill(1);
  CHECK(Eventually([&] {
    text = Scrape(port0);
    return test::MetricSample(text, "ami_peer_up" + peer1 + "}") == 0 && test::MetricSample(text, "ami_peer_state" + peer1 + ",state=\"down\"}") == 1;
  }));
}
