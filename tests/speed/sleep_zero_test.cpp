// Stels.sleep(0) and setTimeout(f, 0) yield through the worker actor's own mailbox, not
// CAF's timer thread (issue 15). A yield must still be a yield: zero timers fire in the
// order they were made and before later ones, other workers get the run slot between a
// worker's zero-sleeps, messages to the worker (replies, a reload, a stop) are handled
// between them, and a stop ends a tight sleep(0) loop by its abort, not by the grace
// deadline. In a real in-process node (LocalNode, what amid runs).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "actors/local_node.h"
#include "tests/support/local_node_start.h"
#include "tests/support/test_support.h"
#include "tests/support/worker_rig.h"

using namespace ami;
using ami::test::ActiveRecord;
using ami::test::Eventually;
using ami::test::TempDir;
using json = nlohmann::json;

namespace {

std::string NodeYaml(const std::string& extra = "") {
  return "node: { id: s-0001, data_dir: ./data }\n"
         "limits: { stop_grace: 3s }\n" + extra;
}

std::optional<json> Local(LocalNode& node, const std::string& name) {
  auto e = node.KvGet(kv::Space::kLocal, kv::MakeKey({name}));
  REQUIRE(e.ok());
  if (!e->has_value()) return std::nullopt;
  return json::parse((*e)->value);
}

int64_t Counter(LocalNode& node, const std::string& name) {
  auto v = Local(node, name);
  return v ? v->get<int64_t>() : 0;
}

WorkerRecord Put(LocalNode& node, const std::string& script, Priority priority, WorkerMode mode) {
  WorkerRecord record = ActiveRecord(script, priority, mode);
  Status s = node.PutWorker(record);
  INFO(s.message());
  REQUIRE(s.ok());
  return record;
}

std::string WorkerLog(const TempDir& dir, const std::string& sid) {
  return ami::test::ReadFile(dir.path() / "data" / "logs" / "workers" / (sid + ".log"));
}

}  // namespace

TEST_CASE("sleep(0): zero timers fire in the order they were made, before longer ones", "[sleep0]") {
  TempDir dir;
  auto node = ami::test::StartLocalNode(NodeYaml(), dir.path());
  Put(*node,
      "const order = [];\n"
      "setTimeout(() => order.push('late'), 200);\n"
      "setTimeout(() => order.push('t1'), 0);\n"
      "setTimeout(() => order.push('t2'));\n"
      "await Stels.sleep(0); order.push('s1');\n"
      "setTimeout(() => order.push('t3'), 0);\n"
      "await Stels.sleep(0); order.push('s2');\n"
      "await Stels.sleep(-1); order.push('s3');\n"
      "await Stels.sleep(400); order.push('s4');\n"
      "await Stels.local.set(['order'], order);\n",
      Priority::kNormal, WorkerMode::kSingle);
  REQUIRE(Eventually([&] { return Local(*node, "order").has_value(); }));
  CHECK(*Local(*node, "order") == json::array({"t1", "t2", "s1", "t3", "s2", "s3", "late", "s4"}));
}

TEST_CASE("sleep(0): with one run slot, other workers and the spinner's own messages run between its yields",
          "[sleep0]") {
  TempDir dir;
  auto node = ami::test::StartLocalNode(NodeYaml("execution: { run_slots: 1 }\n"), dir.path());
  // The spinner never waits for anything but zero-sleeps (and, now and then, its own KV
  // writes, whose replies are messages too).
  const std::string spinner =
      "let n = 0;\n"
      "while (!shouldStop()) {\n"
      "  n++;\n"
      "  if (n % 2000 === 0) await Stels.local.set(['spins'], n);\n"
      "  await Stels.sleep(0);\n"
      "}\n";
  WorkerRecord spin = Put(*node, spinner, Priority::kCritical, WorkerMode::kSingle);
  REQUIRE(Eventually([&] { return Counter(*node, "spins") >= 2000; }));
  // A lower-priority loop worker still gets the only slot, again and again.
  Put(*node, "globalThis.k = (globalThis.k || 0) + 1;\nawait Stels.local.set(['other'], k);\n", Priority::kHigh,
      WorkerMode::kLoop);
  REQUIRE(Eventually([&] { return Counter(*node, "other") >= 20; }));
  const int64_t spins = Counter(*node, "spins");
  CHECK(Eventually([&] { return Counter(*node, "spins") > spins; }));  // and the spinner goes on
  // A reload reaches the spinner between two yields: the new script runs.
  spin.script = "await Stels.local.set(['reloaded'], true);\n" + spinner;
  spin.timestamp = WallMillis();
  REQUIRE(node->PutWorker(spin).ok());
  CHECK(Eventually([&] { return Local(*node, "reloaded").has_value(); }));
  CHECK(WorkerLog(dir, spin.sid).find("grace period") == std::string::npos);
}

TEST_CASE("sleep(0): a stop ends a tight sleep(0) loop through its abort, within the grace", "[sleep0]") {
  TempDir dir;
  auto node = ami::test::StartLocalNode(NodeYaml("execution: { run_slots: 1 }\n"), dir.path());
  // No shouldStop() check: only the aborted sleep ends the loop.
  WorkerRecord spin = Put(*node,
                          "let n = 0;\n"
                          "while (true) { n++; if (n === 1000) await Stels.local.set(['started'], n); "
                          "await Stels.sleep(0); }\n",
                          Priority::kNormal, WorkerMode::kSingle);
  REQUIRE(Eventually([&] { return Local(*node, "started").has_value(); }));
  REQUIRE(node->RunningWorkers() == 1);
  spin.active = false;
  spin.timestamp = WallMillis();
  REQUIRE(node->PutWorker(spin).ok());
  CHECK(Eventually([&] { return node->RunningWorkers() == 0; }));
  auto stats = node->stats().Get(spin.sid);
  REQUIRE(stats.has_value());
  CHECK(stats->status == "stopped");
  // Ended by the abort (AbortError out of sleep), not terminated at the 3 s deadline.
  CHECK(WorkerLog(dir, spin.sid).find("grace period") == std::string::npos);
}
