// Worker actors inside a real in-process node (LocalNode = what amid runs): loop and
// single mode, priority delays, error budgets, network back-off, hot reload, stops,
// limits, placement, and priority ordering under contention. Leader-mode workers and
// their lease (grants, renewals, lapse, fencing) with worker actors spawned directly.
//
// Scripts report what they do through Stels.local, which the tests read back; every
// wait is a deadline (Eventually), never a bare sleep.
#include <catch2/catch.hpp>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <mutex>
#include <regex>

#include "actors/local_node.h"
#include "actors/messages.h"
#include "actors/node_actor.h"
#include "actors/store_actor.h"
#include "actors/worker_actor.h"
#include "runtime/node/worker_catalog.h"
#include "tests/support/test_support.h"
#include "tests/support/worker_rig.h"

using namespace ami;
using ami::test::ActiveRecord;
using ami::test::Eventually;
using ami::test::StaysFalse;
using ami::test::TempDir;
using json = nlohmann::json;

namespace {

// Fast back-offs so budget tests take milliseconds, not minutes.
constexpr const char* kFastConfig = R"YAML(
node:
  id: s-0001
  data_dir: ./data
limits:
  stop_grace: 500ms
  cpu_per_run: 5s
execution:
  critical_backoff: { initial: 1ms, factor: 1, max: 1ms }
  network_backoff: { initial: 1ms, factor: 1, max: 1ms }
)YAML";

struct NodeFixture {
  TempDir dir;
  std::unique_ptr<LocalNode> node;

  explicit NodeFixture(const std::string& extra_yaml = "") {
    auto config = ParseConfig(std::string(kFastConfig) + extra_yaml, "test.yaml", dir.path());
    INFO(config.status().message());
    REQUIRE(config.ok());
    auto started = LocalNode::Start(*config);
    INFO(started.status().message());
    REQUIRE(started.ok());
    node = std::move(*started);
  }

  WorkerRecord Put(const std::string& script, Priority priority = Priority::kNormal,
                   WorkerMode mode = WorkerMode::kLoop) {
    WorkerRecord record = ActiveRecord(script, priority, mode);
    Status s = node->PutWorker(record);
    INFO(s.message());
    REQUIRE(s.ok());
    return record;
  }

  void Update(WorkerRecord record) {
    record.timestamp = WallMillis();
    Status s = node->PutWorker(record);
    INFO(s.message());
    REQUIRE(s.ok());
  }

  std::optional<json> Local(const kv::Key& key) {
    auto entry = node->KvGet(kv::Space::kLocal, key);
    REQUIRE(entry.ok());
    if (!*entry) return std::nullopt;
    return json::parse((*entry)->value);
  }

  std::vector<kv::Entry> List(const kv::Key& prefix) {
    auto entries = node->KvList(kv::Space::kLocal, prefix);
    REQUIRE(entries.ok());
    return *entries;
  }

  int64_t Counter(const std::string& name) {
    auto v = Local(kv::MakeKey({name}));
    return v ? v->get<int64_t>() : 0;
  }

  WorkerStats Stats(const std::string& sid) { return node->stats().Get(sid).value_or(WorkerStats{}); }
  bool Active(const std::string& sid) {
    auto r = node->GetWorker(sid);
    REQUIRE(r.ok());
    return r->has_value() && (*r)->active;
  }
};

// A script that records when each iteration began, then counts it in Stels.local[name]
// (in that order, so a count of n means n start times are stored).
std::string CountingScript(const std::string& name) {
  return "globalThis.n = (globalThis.n || 0) + 1;\n"
         "await Stels.local.set(['" + name + "-at', n], Date.now());\n"
         "await Stels.local.set(['" + name + "'], n);\n";
}

}  // namespace

TEST_CASE("loop mode repeats with at least the priority's delay", "[worker]") {
  NodeFixture f;
  auto normal = f.Put(CountingScript("normal"), Priority::kNormal);
  auto high = f.Put(CountingScript("high"), Priority::kHigh);
  REQUIRE(Eventually([&] { return f.Counter("normal") >= 6; }));
  // The gap between the starts of two iterations is at least the delay (100 ms); more
  // load only makes it longer.
  auto starts = f.List(kv::MakeKey({"normal-at"}));
  REQUIRE(starts.size() >= 6);
  for (size_t i = 1; i < starts.size(); ++i) {
    const int64_t gap = json::parse(starts[i].value).get<int64_t>() - json::parse(starts[i - 1].value).get<int64_t>();
    CHECK(gap >= 99);
  }
  // In the same time, the high-priority worker (10 ms delay) ran more often.
  CHECK(f.Counter("high") > f.Counter("normal"));
  auto stats = f.Stats(normal.sid);
  CHECK(stats.executions >= 5);  // counted when an iteration ends
  CHECK(stats.is_running);
  CHECK(stats.errors == 0);
  CHECK(stats.script_hash == ScriptHash(normal.script));
}

TEST_CASE("low priority waits a second between iterations", "[worker]") {
  NodeFixture f;
  f.Put(CountingScript("low"), Priority::kLow);
  REQUIRE(Eventually([&] { return f.Counter("low") >= 2; }));
  auto starts = f.List(kv::MakeKey({"low-at"}));
  REQUIRE(starts.size() >= 2);
  CHECK(json::parse(starts[1].value).get<int64_t>() - json::parse(starts[0].value).get<int64_t>() >= 999);
}

TEST_CASE("single mode calls once and lets the script loop", "[worker]") {
  NodeFixture f;
  auto looping = f.Put(
      "let i = 0;\nwhile (!shouldStop()) { i++; await Stels.local.set(['single'], i); await Stels.sleep(5); }",
      Priority::kNormal, WorkerMode::kSingle);
  REQUIRE(Eventually([&] { return f.Counter("single") >= 20; }));
  CHECK(f.Stats(looping.sid).executions == 0);  // still inside its one call

  auto once = f.Put("await Stels.local.set(['once'], 1);\nreturn 'done';", Priority::kNormal, WorkerMode::kSingle);
  REQUIRE(Eventually([&] { return f.Stats(once.sid).status == "finished"; }));
  CHECK(f.Stats(once.sid).executions == 1);
  CHECK_FALSE(f.Stats(once.sid).is_running);
}

TEST_CASE("a worker that spends its critical-error budget is set inactive", "[worker][budget]") {
  NodeFixture f;
  const std::pair<Priority, uint64_t> budgets[] = {
      {Priority::kLow, 5}, {Priority::kNormal, 10}, {Priority::kHigh, 20}, {Priority::kCritical, 50}};
  std::vector<std::pair<WorkerRecord, uint64_t>> workers;
  for (auto [priority, budget] : budgets)
    workers.emplace_back(f.Put("const x = undefined;\nx.boom();", priority), budget);
  for (auto& [record, budget] : workers) {
    INFO(ToString(record.priority));
    REQUIRE(Eventually([&] { return !f.Active(record.sid); }));
    auto stats = f.Stats(record.sid);
    CHECK(stats.critical_errors == budget);
    CHECK(stats.consecutive_errors == budget);
    CHECK(stats.status == "failed");
    CHECK_FALSE(stats.is_running);
    REQUIRE(stats.last_error.has_value());
    CHECK(stats.last_error->find("TypeError") != std::string::npos);
    CHECK(stats.last_error->find("(line 2)") != std::string::npos);
    CHECK(stats.last_error_type == ErrorClass::kCritical);
  }
}

// The race of issue 10: an admin edit reaches the store after the node read the record
// but before the worker spends its budget. Made deterministic by starting a real catalog
// that knows only the record as read before the edit (the edit is already stored, and
// the catalog's watch starts after it, so neither it nor the node hears of it) and a
// real node subscribed to it: the budget stop must then set the EDITED record inactive,
// not write the stale copy back.
TEST_CASE("a budget stop racing an admin edit keeps the edit", "[worker][budget][race]") {
  ami::test::WorkerRig rig;
  std::vector<std::string> problems;
  rig.Start(kFastConfig, &problems, [](caf::event_based_actor* self) -> caf::behavior {
    self->set_default_handler(caf::drop);  // stands in for the cluster: parallel workers need no lease
    return {[](failed_atom, const std::string&, const std::string&) {}};
  });
  caf::scoped_actor self{*rig.system};
  auto commit = [&](kv::Space space, const WorkerRecord& r, uint64_t expected) {
    kv::Request put;
    put.op = kv::Request::Op::kCommit;
    put.space = space;
    put.checks.push_back(kv::Check{WorkerKey(r.sid), expected});
    put.mutations.push_back(
        kv::Mutation{kv::Mutation::Kind::kSet, WorkerKey(r.sid), RecordToStoredValue(r).dump(), std::nullopt});
    kv::CommitResult out;
    self->request(rig.store, std::chrono::seconds(30), kv_atom_v, std::move(put))
        .receive([&](kv::Reply& reply) { REQUIRE(reply.status.ok()); out = reply.commit; },
                 [](caf::error&) { FAIL("store"); });
    REQUIRE(out.ok);
    return out.versionstamp;
  };
  auto stored = [&](kv::Space space, const std::string& sid) {
    kv::Request get;
    get.op = kv::Request::Op::kGet;
    get.space = space;
    get.key = WorkerKey(sid);
    std::optional<WorkerRecord> out;
    self->request(rig.store, std::chrono::seconds(30), kv_atom_v, std::move(get))
        .receive(
            [&](kv::Reply& reply) {
              REQUIRE(reply.status.ok());
              if (!reply.entry) return;
              auto r = ReadStoredRecord(sid, reply.entry->value);
              REQUIRE(r.ok());
              out = *r;
            },
            [](caf::error&) { FAIL("store"); });
    return out;
  };

  // What the node read: a script that fails critically on every run.
  const WorkerRecord read = ActiveRecord("const x = undefined;\nx.boom();");
  const kv::Space space = SpaceOf(read);
  const uint64_t read_at = commit(space, read, 0);
  // The admin edit the node has not seen yet: a new note and a new script.
  WorkerRecord edited = read;
  edited.note = "edited by the admin just before the budget stop";
  edited.script = "const y = undefined;\ny.edited();";
  edited.timestamp = read.timestamp + 1;
  commit(space, edited, read_at);

  CatalogContext catalog_context{read.nid, rig.store, {}, [](const std::string&) { return Status::OK(); },
                                 {StoredWorker{read, read_at, space}}};
  CatalogActor catalog = SpawnCatalog(*rig.system, std::move(catalog_context));
  NodeActor node = SpawnNode(*rig.system, rig.env, catalog, caf::actor_cast<ClusterActor>(rig.node));
  // Both go before the rig's system waits for its actors, even when a check below fails.
  struct Ends {
    caf::scoped_actor& self;
    std::vector<caf::actor> actors;
    ~Ends() {
      for (auto& a : actors) self->send_exit(a, caf::exit_reason::user_shutdown);
    }
  } ends{self, {caf::actor_cast<caf::actor>(node), caf::actor_cast<caf::actor>(catalog)}};

  std::optional<WorkerRecord> after;
  REQUIRE(Eventually([&] { return (after = stored(space, read.sid)) && !after->active; }));
  CHECK(after->note == edited.note);
  CHECK(after->script == edited.script);
  CHECK(rig.Stats(read.sid).status == "failed");

  self->request(node, std::chrono::seconds(30), shutdown_atom_v)
      .receive([](bool) {}, [](caf::error&) { FAIL("node shutdown"); });
}

TEST_CASE("a success resets the consecutive error count", "[worker][budget]") {
  NodeFixture f;
  // Fails four times out of five: never five in a row, so a low worker keeps running.
  auto w = f.Put("globalThis.n = (globalThis.n || 0) + 1;\nawait Stels.local.set(['tries'], n);\nif (n % 5 !== 0) throw new Error('flaky');",
                 Priority::kLow);
  // Low priority waits 1 s after each success; 3 successes take a few seconds.
  REQUIRE(Eventually([&] { return f.Counter("tries") >= 15; }, std::chrono::seconds(30)));
  CHECK(f.Active(w.sid));
  auto stats = f.Stats(w.sid);
  CHECK(stats.critical_errors >= 12);
  CHECK(stats.consecutive_errors < 5);
}

TEST_CASE("network errors back off but never spend the budget", "[worker][budget]") {
  NodeFixture f;
  auto w = f.Put(
      "class NetworkError extends Error {}\nclass RequestTimeout extends NetworkError {}\n"
      "globalThis.n = (globalThis.n || 0) + 1;\nawait Stels.local.set(['net'], n);\nthrow new RequestTimeout('exchange is slow');",
      Priority::kLow);
  REQUIRE(Eventually([&] { return f.Counter("net") >= 30; }));
  CHECK(f.Active(w.sid));
  auto stats = f.Stats(w.sid);
  CHECK(stats.network_errors >= 29);
  CHECK(stats.critical_errors == 0);
  CHECK(stats.last_error_type == ErrorClass::kNetwork);
  CHECK(stats.is_running);
}

TEST_CASE("network back-off follows the configured schedule", "[worker][budget]") {
  // A 200 ms network back-off growing by 1.5 up to 400 ms: iterations at least that far apart.
  TempDir dir;
  auto config = ParseConfig(R"YAML(
node: { id: s-0001, data_dir: ./data }
execution:
  network_backoff: { initial: 200ms, factor: 1.5, max: 400ms }
)YAML", "t.yaml", dir.path());
  REQUIRE(config.ok());
  auto node = LocalNode::Start(*config);
  REQUIRE(node.ok());
  auto record = ActiveRecord("await Stels.local.set(['nb', Date.now()], 1);\nconst e = new Error('down'); e.name = 'NetworkError'; throw e;",
                             Priority::kCritical);
  REQUIRE((*node)->PutWorker(record).ok());
  std::vector<int64_t> times;
  REQUIRE(Eventually([&] {
    auto entries = (*node)->KvList(kv::Space::kLocal, kv::MakeKey({"nb"}));
    times.clear();
    for (auto& e : *entries) times.push_back(static_cast<int64_t>(e.key[1].number));
    return times.size() >= 4;
  }));
  CHECK(times[1] - times[0] >= 199);   // 200 ms
  CHECK(times[2] - times[1] >= 299);   // 300 ms
  CHECK(times[3] - times[2] >= 399);   // capped at 400 ms
}

TEST_CASE("a new script hot-reloads the worker", "[worker][reload]") {
  NodeFixture f;
  auto w = f.Put("await Stels.local.set(['version'], 1);\nawait Stels.local.set(['v1-runs'], (globalThis.r = (globalThis.r || 0) + 1));",
                 Priority::kHigh);
  REQUIRE(Eventually([&] { return f.Counter("v1-runs") >= 3; }));
  w.script = "await Stels.local.set(['version'], 2);\nawait Stels.local.set(['v2-runs'], (globalThis.r = (globalThis.r || 0) + 1));";
  f.Update(w);
  REQUIRE(Eventually([&] { return f.Counter("v2-runs") >= 3; }));
  const int64_t v1_after = f.Counter("v1-runs");
  REQUIRE(Eventually([&] { return f.Counter("v2-runs") >= 10; }));
  CHECK(f.Counter("v1-runs") == v1_after);    // the old script no longer runs
  CHECK(f.Counter("version") == 2);
  CHECK(f.Stats(w.sid).script_hash == ScriptHash(w.script));
  CHECK(f.node->RunningWorkers() == 1);
}

TEST_CASE("stopping a worker that awaits ends it promptly through its signal", "[worker][stop]") {
  NodeFixture f;
  auto w = f.Put(
      "await Stels.local.set(['waiting'], 1);\n"
      "try { await Stels.sleep(600000); } catch (e) { await Stels.local.set(['aborted'], e.name === 'AbortError' ? 1 : 0); throw e; }",
      Priority::kNormal, WorkerMode::kSingle);
  REQUIRE(Eventually([&] { return f.Counter("waiting") == 1; }));
  w.active = false;
  f.Update(w);
  REQUIRE(Eventually([&] { return f.node->RunningWorkers() == 0; }, std::chrono::seconds(10)));
  CHECK(f.Counter("aborted") == 1);  // the script's own clean-up ran
  CHECK(f.Stats(w.sid).status == "stopped");
}

TEST_CASE("stopping a worker stuck in synchronous code terminates it after the grace period", "[worker][stop]") {
  NodeFixture f;
  auto w = f.Put("await Stels.local.set(['spinning'], 1);\nwhile (true) {}", Priority::kNormal);
  REQUIRE(Eventually([&] { return f.Counter("spinning") == 1; }));
  const auto asked = std::chrono::steady_clock::now();
  w.active = false;
  f.Update(w);
  REQUIRE(Eventually([&] { return f.node->RunningWorkers() == 0; }, std::chrono::seconds(10)));
  // Grace is 500 ms; the CPU limit (5 s) must not be what ended it.
  CHECK(std::chrono::steady_clock::now() - asked < std::chrono::milliseconds(4500));
}

TEST_CASE("deleting a worker stops it", "[worker][stop]") {
  NodeFixture f;
  auto w = f.Put(CountingScript("del"), Priority::kHigh);
  REQUIRE(Eventually([&] { return f.Counter("del") >= 2; }));
  REQUIRE(f.node->DeleteWorker(w.sid).ok());
  REQUIRE(Eventually([&] { return f.node->RunningWorkers() == 0; }));
  auto gone = f.node->GetWorker(w.sid);
  REQUIRE(gone.ok());
  CHECK_FALSE(gone->has_value());
}

TEST_CASE("broken scripts fail alone; the node and other workers keep running", "[worker][limits]") {
  TempDir dir;
  auto config = ParseConfig(R"YAML(
node: { id: s-0001, data_dir: ./data }
limits: { heap: 48MB, cpu_per_run: 2s, stop_grace: 500ms }
execution:
  critical_backoff: { initial: 1ms, factor: 1, max: 1ms }
)YAML", "t.yaml", dir.path());
  REQUIRE(config.ok());
  auto started = LocalNode::Start(*config);
  REQUIRE(started.ok());
  auto& node = **started;
  auto put = [&](const std::string& script, Priority p) {
    auto r = ActiveRecord(script, p);
    REQUIRE(node.PutWorker(r).ok());
    return r;
  };
  auto healthy = put(CountingScript("healthy"), Priority::kHigh);
  auto bomb = put("const hoard = [];\nwhile (true) hoard.push(new Array(1000000).fill(1));", Priority::kLow);
  auto spin = put("while (true) {}", Priority::kLow);
  // A record whose script does not compile, written behind the validation's back.
  auto broken = ActiveRecord("let a = ;");
  kv::Request put_raw;
  put_raw.op = kv::Request::Op::kCommit;
  put_raw.space = kv::Space::kLocal;
  put_raw.mutations.push_back({kv::Mutation::Kind::kSet, WorkerKey(broken.sid), RecordToStoredValue(broken).dump(), std::nullopt});
  REQUIRE(node.Kv(put_raw).ok());

  auto inactive = [&](const std::string& sid) {
    auto r = node.GetWorker(sid);
    return r.ok() && r->has_value() && !(*r)->active;
  };
  REQUIRE(Eventually([&] { return inactive(bomb.sid) && inactive(spin.sid) && inactive(broken.sid); }, std::chrono::seconds(60)));
  auto bomb_stats = node.stats().Get(bomb.sid);
  REQUIRE(bomb_stats);
  INFO(*bomb_stats->last_error);
  CHECK(bomb_stats->last_error->find("heap limit") != std::string::npos);
  CHECK(bomb_stats->critical_errors == 5);
  CHECK(node.stats().Get(spin.sid)->last_error->find("CPU limit") != std::string::npos);
  auto broken_stats = node.stats().Get(broken.sid);
  REQUIRE(broken_stats);
  CHECK(broken_stats->last_error->find("SyntaxError") != std::string::npos);
  CHECK(broken_stats->last_error->find("(line 1)") != std::string::npos);
  // The healthy worker kept going all along.
  auto healthy_stats = node.stats().Get(healthy.sid);
  REQUIRE(healthy_stats);
  CHECK(healthy_stats->is_running);
  CHECK(healthy_stats->errors == 0);
  const uint64_t before = healthy_stats->executions;
  REQUIRE(Eventually([&] { return node.stats().Get(healthy.sid)->executions > before + 5; }));
}

TEST_CASE("exclusive workers run only on their assigned node", "[worker][placement]") {
  NodeFixture f;
  auto exclusive = [&](const std::string& name, const std::string& node_id) {
    auto r = ActiveRecord(CountingScript(name));
    r.execution_mode = ExecutionMode::kExclusive;
    r.assigned_node = node_id;
    REQUIRE(f.node->PutWorker(r).ok());
    return r;
  };
  auto other = exclusive("elsewhere", "s-0002");
  exclusive("here", "s-0001");
  REQUIRE(Eventually([&] { return f.Counter("here") >= 2; }));
  CHECK(f.Counter("elsewhere") == 0);
  CHECK(f.Stats(other.sid).status == "waiting: exclusive to s-0002");
  CHECK(f.node->RunningWorkers() == 1);
}

TEST_CASE("workers restart with the node; their KV data survives", "[worker][restart]") {
  TempDir dir;
  auto config = ParseConfig("node: { id: s-0001, data_dir: ./data }\n", "t.yaml", dir.path());
  REQUIRE(config.ok());
  std::string sid;
  {
    auto node = LocalNode::Start(*config);
    REQUIRE(node.ok());
    auto r = ActiveRecord("const e = await Stels.local.get(['boots']);\nif (!globalThis.counted) { globalThis.counted = true; await Stels.local.set(['boots'], (e.value || 0) + 1); }",
                          Priority::kHigh);
    sid = r.sid;
    REQUIRE((*node)->PutWorker(r).ok());
    REQUIRE(Eventually([&] { return (*node)->stats().Get(sid) && (*node)->stats().Get(sid)->executions >= 2; }));
    REQUIRE((*node)->Shutdown(std::chrono::seconds(10)).ok());
  }
  auto node = LocalNode::Start(*config);
  REQUIRE(node.ok());
  REQUIRE(Eventually([&] {
    auto entry = (*node)->KvGet(kv::Space::kLocal, kv::MakeKey({"boots"}));
    return entry.ok() && *entry && json::parse((*entry)->value) == 2;
  }));
}

namespace {

// How long a critical worker takes for `iterations` loop iterations while `busy`
// low-priority workers keep the node's only run slot saturated.
std::chrono::milliseconds CriticalTimeUnderLoad(bool priority_order, int busy, int64_t iterations) {
  TempDir dir;
  auto config = ParseConfig(std::string("node: { id: s-0001, data_dir: ./data }\nlimits: { stop_grace: 500ms }\n") +
                                "execution: { run_slots: 1, priority_order: " + (priority_order ? "true" : "false") + " }\n",
                            "t.yaml", dir.path());
  REQUIRE(config.ok());
  auto started = LocalNode::Start(*config);
  REQUIRE(started.ok());
  auto& node = **started;
  auto put = [&](const std::string& script, Priority p, WorkerMode mode) {
    REQUIRE(node.PutWorker(ActiveRecord(script, p, mode)).ok());
  };
  // Each busy worker burns ~10 ms of CPU per slice and at once wants another slice.
  for (int i = 0; i < busy; ++i)
    put("while (!shouldStop()) { const end = Date.now() + 10; while (Date.now() < end) {} await Stels.sleep(0); }",
        Priority::kLow, WorkerMode::kSingle);
  REQUIRE(Eventually([&] { return node.run_queue().counters().waiting >= static_cast<size_t>(busy) / 2; }));
  auto read = [&] {
    auto entry = node.KvGet(kv::Space::kLocal, kv::MakeKey({"crit"}));
    return entry.ok() && *entry ? json::parse((*entry)->value).get<int64_t>() : int64_t{0};
  };
  const auto begin = std::chrono::steady_clock::now();
  put("globalThis.n = (globalThis.n || 0) + 1; await Stels.local.set(['crit'], n);", Priority::kCritical, WorkerMode::kLoop);
  REQUIRE(Eventually([&] { return read() >= iterations; }, std::chrono::seconds(60)));
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - begin);
}

}  // namespace

TEST_CASE("under contention critical workers get run slots first", "[worker][priority]") {
  const auto ordered = CriticalTimeUnderLoad(true, 12, 15);
  const auto fifo = CriticalTimeUnderLoad(false, 12, 15);
  INFO("15 critical iterations took " << ordered.count() << " ms with priority order, " << fifo.count()
                                      << " ms first-come-first-served");
  // With ordering, each critical entry waits for at most the one slice running (~10 ms);
  // first come, first served, it waits behind every busy worker (~120 ms).
  CHECK(fifo.count() >= 3 * ordered.count());
}

TEST_CASE("huge log lines are truncated, not kept whole", "[worker]") {
  NodeFixture f;
  auto w = f.Put("logger.info('x'.repeat(100000));\nawait Stels.local.set(['logged'], 1);", Priority::kLow,
                 WorkerMode::kSingle);
  const auto file = f.dir / "data" / "logs" / "workers" / (w.sid + ".log");
  REQUIRE(Eventually([&] {
    return ami::test::ReadFile(file).find("… [83616 bytes dropped: limits.max_log_line is 16384]") != std::string::npos;
  }));
  CHECK(ami::test::ReadFile(file).size() < 20000);
}

// ---- leader mode: the lease ------------------------------------------------------------
//
// These tests spawn worker actors directly (SpawnWorker with a LeaderGrant), as the node
// actor does while this node holds a worker's lease, so they control the grant and its
// renewals exactly. The paper exchange shows which fencing term the worker's calls carry.

namespace {

using SteadyClock = std::chrono::steady_clock;
using ami::test::MakeGrant;
using namespace std::chrono_literals;

WorkerRecord LeaderRecord(const std::string& script, Priority priority = Priority::kHigh,
                          WorkerMode mode = WorkerMode::kLoop) {
  return ActiveRecord(script, priority, mode, ExecutionMode::kLeader);
}

// What a node gives its workers — store actor, run queue, stats, exchanges — without the
// node actor, whose placement would otherwise decide when leader workers run.
struct WorkerHarness : ami::test::WorkerRig {
  std::shared_ptr<std::mutex> failures_mu = std::make_shared<std::mutex>();
  std::shared_ptr<std::vector<std::string>> failures = std::make_shared<std::vector<std::string>>();

  WorkerHarness() {
    const std::string yaml = std::string(kFastConfig) +
                             "plugins: { dirs: [\"" + (ami::test::BinaryDir() / "plugins").string() + "\"] }\n"
                             "exchanges:\n"
                             "  bybit: { connector: paper, test_controls: true }\n";
    std::vector<std::string> problems;
    Start(yaml, &problems, [mu = failures_mu, list = failures](caf::event_based_actor*) -> caf::behavior {
      return {[mu, list](failed_atom, const std::string& sid, const std::string& message) {
        std::lock_guard<std::mutex> lock(*mu);
        list->push_back(sid + ": " + message);
      }};
    });
    std::string all_problems;
    for (const auto& p : problems) all_problems += p + "\n";
    INFO(all_problems);
    REQUIRE(problems.empty());
  }

  void Grant(const caf::actor& worker, const LeaderGrant& grant) { caf::anon_send(worker, grant_atom_v, grant); }

  std::vector<kv::Entry> List(const kv::Key& prefix) {
    caf::scoped_actor self{*system};
    kv::Request list;
    list.op = kv::Request::Op::kList;
    list.space = kv::Space::kLocal;
    list.list.prefix = prefix;
    std::vector<kv::Entry> out;
    self->request(store, std::chrono::seconds(30), kv_atom_v, std::move(list))
        .receive([&](kv::Reply& reply) { out = std::move(reply.entries); }, [](caf::error&) { FAIL("store"); });
    return out;
  }

  // A direct call on the paper exchange, as another node's leader would make it.
  plugin::CallResult Paper(const std::string& sid, uint64_t term, const std::string& method, const json& args) {
    plugin::CallContext ctx;
    ctx.worker_sid = sid;
    ctx.term = term;
    return env->services.exchanges->exchanges.at("bybit").connector->Call(ctx, method, args.dump());
  }

  std::vector<std::string> Failures() {
    std::lock_guard<std::mutex> lock(*failures_mu);
    return *failures;
  }
};

// [prefix, term]
kv::Key TermKey(const std::string& prefix, double term) {
  return {kv::KeyPart::String(prefix), kv::KeyPart::Number(term)};
}

// Each iteration stores [<prefix>, term, n] = {at, expiresAt}; n counts iterations of one
// isolate (globals), so it restarts at 1 when the isolate is replaced.
std::string LeaseScript(const std::string& prefix) {
  return "globalThis.n = (globalThis.n || 0) + 1;\n"
         "await Stels.local.set(['" + prefix + "', Stels.leader.term, n], {at: Date.now(), expiresAt: Stels.leader.expiresAt, node: Stels.leader.node});\n"
         "await new Stels.runtime.cex.bybit().fetchBalance();\n";
}

}  // namespace

TEST_CASE("a leader worker runs only until its lease ends and resumes with a new grant", "[worker][lease]") {
  WorkerHarness h;
  // Long enough for the first iteration to start on a loaded machine.
  const LeaderGrant first = MakeGrant(1, 1500ms);
  auto record = LeaderRecord(LeaseScript("lease"));
  auto worker = h.Spawn(record, first);
  REQUIRE(Eventually([&] { return h.Stats(record.sid).status == "waiting: lease lapsed"; }));
  CHECK(SteadyClock::now() >= first.valid_until);
  const size_t ran = h.List(kv::MakeKey({"lease"})).size();
  CHECK(ran >= 1);
  // Nothing runs after the lease ended, and the lapse is not an error of the script.
  CHECK(StaysFalse([&] { return h.List(kv::MakeKey({"lease"})).size() != ran; }, 500ms));
  auto lapsed = h.Stats(record.sid);
  CHECK(lapsed.errors == 0);
  CHECK(lapsed.consecutive_errors == 0);
  CHECK_FALSE(lapsed.is_running);
  CHECK(h.Log(record.sid).find("the lease (term 1) ended") != std::string::npos);
  for (const auto& e : h.List(kv::MakeKey({"lease"}))) {
    CHECK(e.key[1].number == 1);
    CHECK(json::parse(e.value)["expiresAt"] == first.expires_at_ms);
  }

  // A fresh grant (a new term) resumes it, in a fresh isolate.
  const LeaderGrant second = MakeGrant(2, 60s);
  h.Grant(worker, second);
  REQUIRE(Eventually([&] { return h.List(TermKey("lease", 2)).size() >= 3; }));
  auto resumed = h.List(TermKey("lease", 2));
  CHECK(resumed.front().key[2].number == 1);  // globals start afresh
  CHECK(json::parse(resumed.front().value)["expiresAt"] == second.expires_at_ms);
  CHECK(json::parse(resumed.front().value)["node"] == "s-0001");
  CHECK(h.Stats(record.sid).status == "running");
  // The paper exchange saw term 2 from this worker: term 1 is now fenced off.
  CHECK(h.Paper(record.sid, 1, "fetchBalance", json::array()).error_class == "PermissionDenied");
  CHECK(h.Paper(record.sid, 2, "fetchBalance", json::array()).ok);
  CHECK(h.Failures().empty());
}

TEST_CASE("a renewal extends the lease without interrupting the run; a new term shows at once", "[worker][lease]") {
  WorkerHarness h;
  const LeaderGrant first = MakeGrant(4, 3s);
  auto record = LeaderRecord(LeaseScript("renew"));
  auto worker = h.Spawn(record, first);
  REQUIRE(Eventually([&] { return h.List(TermKey("renew", 4)).size() >= 2; }));
  // Renewed well before the first grant's end, with a new term.
  const LeaderGrant renewed = MakeGrant(5, 60s);
  h.Grant(worker, renewed);
  REQUIRE(Eventually([&] { return h.List(TermKey("renew", 5)).size() >= 2; }));
  const double last_n_of_4 = h.List(TermKey("renew", 4)).back().key[2].number;
  const double first_n_of_5 = h.List(TermKey("renew", 5)).front().key[2].number;
  CHECK(first_n_of_5 == last_n_of_4 + 1);  // the same isolate went on: no lapse, no restart
  CHECK(json::parse(h.List(TermKey("renew", 5)).front().value)["expiresAt"] == renewed.expires_at_ms);
  // It keeps running past the first grant's end.
  REQUIRE(Eventually([&] { return SteadyClock::now() > first.valid_until + 200ms; }, 10s));
  const size_t before = h.List(kv::MakeKey({"renew"})).size();
  REQUIRE(Eventually([&] { return h.List(kv::MakeKey({"renew"})).size() > before + 2; }));
  CHECK(h.Stats(record.sid).status == "running");
  CHECK(h.Log(record.sid).find("ended") == std::string::npos);
  // Its exchange calls carry the new term.
  CHECK(h.Paper(record.sid, 4, "fetchBalance", json::array()).error_class == "PermissionDenied");
}

TEST_CASE("a leader run stuck in synchronous code is terminated when the lease ends", "[worker][lease]") {
  WorkerHarness h;  // cpu_per_run is 5 s
  uint64_t term = 1;
  auto record = LeaderRecord("await Stels.local.set(['spinning'], 1);\nwhile (true) {}");
  auto worker = h.Spawn(record, MakeGrant(term, 1500ms));
  // On a loaded machine the lease can lapse before the script starts: then grant again.
  REQUIRE(Eventually([&] {
    if (h.Local("spinning").has_value()) return true;
    if (h.Stats(record.sid).status == "waiting: lease lapsed") h.Grant(worker, MakeGrant(++term, 1500ms));
    return false;
  }));
  REQUIRE(Eventually([&] { return h.Stats(record.sid).status == "waiting: lease lapsed"; }));
  // Ended by the lease's end, not by the CPU limit (that would be an error of the run).
  auto stats = h.Stats(record.sid);
  CHECK(stats.errors == 0);
  CHECK_FALSE(stats.last_error.has_value());
}

TEST_CASE("a leader worker without a valid grant never runs JavaScript", "[worker][lease]") {
  WorkerHarness h;
  auto none = LeaderRecord("await Stels.local.set(['ran-none'], 1);");
  auto none_worker = h.Spawn(none, std::nullopt);
  auto stale = LeaderRecord("await Stels.local.set(['ran-stale'], 1);");
  LeaderGrant expired = MakeGrant(3, 0ms);
  expired.valid_until -= 1ms;
  h.Spawn(stale, expired);
  REQUIRE(Eventually([&] { return h.Stats(none.sid).status == "waiting: no lease"; }));
  REQUIRE(Eventually([&] { return h.Stats(stale.sid).status == "waiting: lease lapsed"; }));
  CHECK(StaysFalse([&] { return h.Local("ran-none") || h.Local("ran-stale"); }, 500ms));
  CHECK(h.Log(none.sid).find("without a lease grant") != std::string::npos);
  CHECK(h.Failures().empty());  // not a failure of the record: it waits
  // The first grant starts it.
  h.Grant(none_worker, MakeGrant(1, 60s));
  REQUIRE(Eventually([&] { return h.Local("ran-none").has_value(); }));
}

TEST_CASE("exchange calls of a fenced-off leader fail with a clear PermissionDenied", "[worker][lease][cex]") {
  WorkerHarness h;
  auto record = LeaderRecord(R"JS(
    try { await new Stels.runtime.cex.bybit().fetchBalance(); await Stels.local.set(['fenced'], 'not fenced'); }
    catch (e) {
      await Stels.local.set(['fenced'], { name: e.name, message: e.message,
                                          permission: e instanceof ccxt.PermissionDenied,
                                          exchange: e instanceof ccxt.ExchangeError });
    }
  )JS", Priority::kNormal, WorkerMode::kSingle);
  // A newer leader of the same worker (term 7) already reached the exchange.
  REQUIRE(h.Paper(record.sid, 7, "fetchBalance", json::array()).ok);
  h.Spawn(record, MakeGrant(2, 60s));
  REQUIRE(Eventually([&] { return h.Local("fenced").has_value(); }));
  auto fenced = *h.Local("fenced");
  INFO(fenced.dump());
  CHECK(fenced["name"] == "PermissionDenied");
  CHECK(fenced["permission"] == true);
  CHECK(fenced["exchange"] == true);
  CHECK(fenced["message"].get<std::string>().find("fenced: term 2 < 7 for worker " + record.sid) != std::string::npos);
}

TEST_CASE("leader client order ids embed the term; an ambiguous timeout retries within the lease", "[worker][lease][cex]") {
  WorkerHarness h;
  auto record = LeaderRecord(R"JS(
    const ex = new Stels.runtime.cex.bybit();
    await ex.paperInjectFault('timeout', 1, 'createOrder');
    const order = await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 30000);
    const all = await ex.fetchOrders('BTC/USDT');
    await Stels.local.set(['order'], { coid: order.clientOrderId, term: order.info.term, orders: all.length });
  )JS", Priority::kNormal, WorkerMode::kSingle);
  h.Spawn(record, MakeGrant(9, 60s));
  REQUIRE(Eventually([&] { return h.Local("order").has_value(); }));
  auto order = *h.Local("order");
  INFO(order.dump());
  // ami-<sid8>-<term>-<worker start, base36>-<seq>
  const std::string coid = order["coid"];
  std::smatch m;
  REQUIRE(std::regex_match(coid, m, std::regex("ami-" + record.sid.substr(0, 8) + "-9-([0-9a-z]{8})-1")));
  CHECK(std::abs(std::stoll(m[1], nullptr, 36) - WallMillis()) < 600000);
  CHECK(coid.size() <= 36);
  CHECK(order["term"] == 9);
  CHECK(order["orders"] == 1);
  CHECK(h.Log(record.sid).find("sending it again with the same clientOrderId " + coid + " in 100 ms") != std::string::npos);
}
