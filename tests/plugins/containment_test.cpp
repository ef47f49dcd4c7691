// Plugins are contained (issue 9, item 4): a connector that throws, hangs or answers
// slowly (the test-faulty fixture, tests/plugins/fixtures/faulty_plugin.cpp) never takes
// the node down nor holds up another exchange's calls, every call answers by its
// deadline, and a call queued past the caller's lease never reaches the connector.
//
// Worker actors are spawned directly (as the node actor does), so leader-mode tests
// control the grant. Waits are deadlines (Eventually), never sleeps; nothing asserts
// how long something took.
#include <catch2/catch.hpp>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <mutex>

#include "actors/exchange_access.h"
#include "actors/messages.h"
#include "actors/store_actor.h"
#include "actors/worker_actor.h"
#include "plugins/loader.h"
#include "tests/support/test_support.h"
#include "tests/support/worker_rig.h"

using namespace ami;
using namespace std::chrono_literals;
using ami::test::Eventually;
using ami::test::StaysFalse;
using ami::test::MakeGrant;
using ami::test::TempDir;
using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

// stuck: one thread, short timeout (hung and slow calls); other: a second instance of
// the same plugin; lanes: one thread, long timeout (lease tests release it by hand);
// paper: the real paper exchange.
constexpr const char* kConfig = R"YAML(
node: { id: s-0001, data_dir: ./data }
limits: { stop_grace: 500ms, cpu_per_run: 5s }
execution:
  critical_backoff: { initial: 1ms, factor: 1, max: 1ms }
  network_backoff: { initial: 1ms, factor: 1, max: 1ms }
exchanges:
  stuck: { connector: test-faulty, timeout: 300ms, threads: 1 }
  other: { connector: test-faulty, timeout: 10s, threads: 1 }
  lane: { connector: test-faulty, timeout: 30s, threads: 1 }
  paper: { connector: paper }
  broken: { connector: test-faulty, describe_throws: true }
  uncreatable: { connector: test-faulty, create_throws: "true" }
)YAML";

WorkerRecord Record(const std::string& script, WorkerMode mode = WorkerMode::kSingle,
                    ExecutionMode execution = ExecutionMode::kParallel) {
  return ami::test::ActiveRecord(script, Priority::kNormal, mode, execution);
}

// A leader that calls hang() and then fetchTicker() on lane: with lane's one thread held
// by hang(), fetchTicker() waits in the queue until the test releases the fixture.
WorkerRecord HungThenQueuedLeader() {
  return Record(R"JS(
    const ex = new Stels.runtime.cex.lane();
    const hung = ex.hang();
    const queued = ex.fetchTicker('T/USD');
    await Stels.local.set(['sent'], 1);
    await Promise.allSettled([hung, queued]);
  )JS", WorkerMode::kSingle, ExecutionMode::kLeader);
}

struct Harness : ami::test::WorkerRig {
  std::vector<std::string> problems;

  Harness() {
    const std::string yaml = std::string(kConfig) + "plugins: { dirs: [\"" +
                             (ami::test::BinaryDir() / "plugins").string() + "\", \"" AMI_FAULTY_PLUGIN_DIR "\"] }\n";
    Start(yaml, &problems, [](caf::event_based_actor*) -> caf::behavior {
      return {[](failed_atom, const std::string&, const std::string&) {}};
    });
  }

  ~Harness() {
    ReleaseAll();  // hung fixture calls end first, so no plugin thread is left behind
    Shutdown();
  }

  void Stop(const caf::actor& worker) {
    for (auto& [w, stop_switch] : workers)
      if (w == worker) stop_switch->RequestStop(config.limits.stop_grace);
    caf::anon_send(worker, stop_atom_v);
  }

  const ExchangeEntry& Exchange(const std::string& id) { return env->services.exchanges->exchanges.at(id); }

  // Called directly on the connector (not through its bulkhead, which may be all busy).
  json Direct(const std::string& id, const std::string& method) {
    auto r = Exchange(id).connector->Call(plugin::CallContext{}, method, "[]");
    REQUIRE(r.ok);
    return json::parse(r.json);
  }
  int Count(const std::string& id, const std::string& method) { return Direct(id, "counts").value(method, 0); }

  void ReleaseAll() {
    for (const auto& [id, entry] : env->services.exchanges->exchanges)
      if (entry.connector && entry.plugin_id == "test-faulty") entry.connector->Call({}, "release", "[]");
  }

  // The worker of HungThenQueuedLeader() sent both calls, and hang() holds lane's thread.
  bool LaneHung() { return Local("sent").has_value() && Count("lane", "hang") == 1; }

  int64_t Counter(const std::string& name) {
    auto v = Local(name);
    return v ? v->get<int64_t>() : 0;
  }
};

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A plain bulkhead over a fresh fixture connector (no actors), with its own options.
struct Bench {
  plugins::PluginRegistry registry;
  std::shared_ptr<plugin::ExchangeConnector> connector;
  std::unique_ptr<ExchangeBulkhead> bulkhead;

  Bench(int threads, size_t queue, std::chrono::milliseconds timeout) {
    registry.LoadPath(AMI_FAULTY_PLUGIN_DIR);
    auto made = registry.CreateConnector("test-faulty", json::object());
    REQUIRE(made.ok());
    connector = *made;
    bulkhead = std::make_unique<ExchangeBulkhead>(ExchangeBulkhead::Options{"bench", "test-faulty", threads, queue, timeout, nullptr},
                                                  connector);
  }
  ~Bench() {
    connector->Call({}, "release", "[]");
    bulkhead.reset();
  }
  json Direct(const std::string& method) { return json::parse(connector->Call({}, method, "[]").json); }
  int Count(const std::string& method) { return Direct("counts").value(method, 0); }

  // Submits a call; its answer lands in the returned slot.
  struct Slot {
    std::mutex mu;
    std::optional<plugin::CallResult> result;
    int answers = 0;  // `done` must run exactly once
    std::optional<plugin::CallResult> Get() {
      std::lock_guard<std::mutex> lock(mu);
      return result;
    }
    int Answers() {
      std::lock_guard<std::mutex> lock(mu);
      return answers;
    }
  };
  std::shared_ptr<Slot> Submit(const std::string& method, std::shared_ptr<const LeaseGate> lease = nullptr,
                               const std::string& args = "[]") {
    auto slot = std::make_shared<Slot>();
    ExchangeCallTask task;
    task.ctx.worker_sid = "w-bench";
    task.ctx.term = 3;
    task.method = method;
    task.args_json = args;
    task.lease = std::move(lease);
    task.done = [slot](plugin::CallResult r) {
      std::lock_guard<std::mutex> lock(slot->mu);
      ++slot->answers;
      slot->result = std::move(r);
    };
    bulkhead->Submit(std::move(task));
    return slot;
  }
};

}  // namespace

TEST_CASE("exceptions thrown by plugin code become ExchangeError naming the plugin and method", "[contain]") {
  plugins::PluginRegistry registry;
  registry.LoadPath(AMI_FAULTY_PLUGIN_DIR);
  auto connector = registry.CreateConnector("test-faulty", json::object());
  REQUIRE(connector.ok());
  auto std_error = plugins::CallConnector(**connector, "test-faulty", {}, "throwStd", "[]");
  CHECK_FALSE(std_error.ok);
  CHECK(std_error.error_class == "ExchangeError");
  CHECK(std_error.message == "plugin 'test-faulty' failed in Call(throwStd): fixture exploded");
  auto other = plugins::CallConnector(**connector, "test-faulty", {}, "throwOther", "[]");
  CHECK(other.error_class == "ExchangeError");
  CHECK(other.message == "plugin 'test-faulty' failed in Call(throwOther): threw a non-standard exception");
  // Create throwing: a clear error, not a crash.
  auto refused = registry.CreateConnector("test-faulty", json{{"create_throws", true}});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message() == "plugin 'test-faulty' failed in Create: fixture refuses to be created");
}

TEST_CASE("a connector whose Describe or Create throws leaves its exchange unavailable with the reason", "[contain]") {
  Harness h;
  std::string all;
  for (const auto& p : h.problems) all += p + "\n";
  INFO(all);
  REQUIRE(h.problems.size() == 2);
  CHECK(h.problems[0] == "exchange broken (connector test-faulty) is not available: plugin 'test-faulty' failed in "
                         "Describe: fixture cannot describe itself");
  CHECK(h.problems[1] == "exchange uncreatable (connector test-faulty) is not available: plugin 'test-faulty' failed "
                         "in Create: fixture refuses to be created");
  CHECK(h.Exchange("broken").connector == nullptr);
  CHECK(h.Exchange("broken").bulkhead == nullptr);
  CHECK(h.Exchange("stuck").bulkhead != nullptr);
  // A script's call gets ExchangeNotAvailable with that reason; the worker goes on.
  auto record = Record(R"JS(
    const out = {};
    try { await new Stels.runtime.cex.broken().fetchTicker('X'); } catch (e) { out.name = e.name; out.message = e.message; }
    out.paper = (await new Stels.runtime.cex.paper().fetchTicker('BTC/USDT')).symbol;
    await Stels.local.set(['broken'], out);
  )JS");
  h.Spawn(record);
  auto out = h.AwaitLocal("broken");
  INFO(out.dump());
  CHECK(out["name"] == "ExchangeNotAvailable");
  CHECK(Contains(out["message"], "failed in Describe: fixture cannot describe itself"));
  CHECK(out["paper"] == "BTC/USDT");
}

TEST_CASE("a connector whose Describe does not return in time leaves its exchange unavailable", "[contain]") {
  TempDir dir;
  auto config = ParseConfig(std::string("node: { id: s-0001, data_dir: ./data }\n"
                                        "plugins: { dirs: [\"" AMI_FAULTY_PLUGIN_DIR "\"] }\n"
                                        "exchanges:\n"
                                        "  sleepy: { connector: test-faulty, describe_sleep_ms: 1500, timeout: 100ms }\n"
                                        "  fine: { connector: test-faulty, timeout: 10s }\n"),
                            "t.yaml", dir.path());
  INFO(config.status().message());
  REQUIRE(config.ok());
  std::vector<std::string> problems;
  auto directory = BuildExchangeDirectory(*config, &problems);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0] == "exchange sleepy (connector test-faulty) is not available: plugin 'test-faulty' did not "
                       "return from Create/Describe within 100 ms (exchanges.<id>.timeout)");
  CHECK(directory->exchanges.at("sleepy").connector == nullptr);
  CHECK(directory->exchanges.at("fine").bulkhead != nullptr);
}

TEST_CASE("a throwing connector gives the script ExchangeError; the worker and process keep running", "[contain]") {
  Harness h;
  auto record = Record(R"JS(
    const ex = new Stels.runtime.cex.other();
    const out = {};
    for (const m of ['throwStd', 'throwOther']) {
      try { await ex[m](); out[m] = 'no error'; }
      catch (e) { out[m] = { name: e.name, message: e.message, exchange: e instanceof ccxt.ExchangeError }; }
    }
    out.after = (await ex.fetchTicker('T/USD')).last;
    await Stels.local.set(['thrown'], out);
  )JS");
  h.Spawn(record);
  auto out = h.AwaitLocal("thrown");
  INFO(out.dump());
  CHECK(out["throwStd"]["name"] == "ExchangeError");
  CHECK(out["throwStd"]["exchange"] == true);
  CHECK(out["throwStd"]["message"] == "plugin 'test-faulty' failed in Call(throwStd): fixture exploded");
  CHECK(out["throwOther"]["name"] == "ExchangeError");
  CHECK(out["throwOther"]["message"] == "plugin 'test-faulty' failed in Call(throwOther): threw a non-standard exception");
  CHECK(out["after"] == 1);  // the same exchange, the same threads, still answering
  CHECK(h.Count("other", "throwStd") == 1);
  CHECK(h.Exchange("other").bulkhead->counters().answered == 3);
}

TEST_CASE("a hung call gives RequestTimeout at the exchange's timeout; a slow answer past it is dropped", "[contain]") {
  Harness h;
  auto record = Record(R"JS(
    const ex = new Stels.runtime.cex.stuck();
    const out = {};
    try { await ex.hang(); out.hang = 'answered'; }
    catch (e) { out.hang = { name: e.name, message: e.message, network: e instanceof ccxt.NetworkError }; }
    await Stels.local.set(['hung'], out);
  )JS");
  h.Spawn(record);
  auto out = h.AwaitLocal("hung");
  INFO(out.dump());
  CHECK(out["hang"]["name"] == "RequestTimeout");
  CHECK(out["hang"]["network"] == true);
  CHECK(Contains(out["hang"]["message"], "stuck.hang: no answer within the 300 ms timeout"));
  // The plugin thread is still inside hang(): its answer, once it comes, is dropped.
  CHECK(h.Exchange("stuck").bulkhead->counters().late == 0);
  h.ReleaseAll();
  REQUIRE(Eventually([&] { return h.Exchange("stuck").bulkhead->counters().late == 1; }));
  REQUIRE(Eventually([&] { return h.Stats(record.sid).status == "finished"; }));

  // A slow answer inside the timeout arrives; one that takes longer is a RequestTimeout.
  auto slow = Record(R"JS(
    const ex = new Stels.runtime.cex.stuck();
    const out = { quick: await ex.slow(1) };
    try { await ex.slow(20000); out.slow = 'answered'; } catch (e) { out.slow = e.name; }
    await Stels.local.set(['slow'], out);
  )JS");
  h.Spawn(slow);
  out = h.AwaitLocal("slow");
  INFO(out.dump());
  CHECK(out["quick"]["slept"] == 1);
  CHECK(out["slow"] == "RequestTimeout");
}

TEST_CASE("while one exchange is hung and its queue is full, other exchanges and workers keep answering", "[contain]") {
  Harness h;
  // The healthy worker: the paper exchange and another instance of the same plugin.
  auto healthy = Record(R"JS(
    await new Stels.runtime.cex.paper().fetchTicker('BTC/USDT');
    await new Stels.runtime.cex.other().fetchTicker('T/USD');
    globalThis.n = (globalThis.n || 0) + 1;
    await Stels.local.set(['healthy'], n);
  )JS", WorkerMode::kLoop);
  h.Spawn(healthy);
  REQUIRE(Eventually([&] { return h.Counter("healthy") >= 1; }));
  // The hog: 70 calls at once on `stuck` (1 thread, 64 queued at most): one hangs.
  auto hog = Record(R"JS(
    const ex = new Stels.runtime.cex.stuck();
    const calls = [];
    for (let i = 0; i < 70; i++) calls.push(ex.hang());
    const settled = await Promise.allSettled(calls);
    const out = { total: settled.length, full: 0, timeout: 0, other: [] };
    for (const s of settled) {
      if (s.status === 'fulfilled') out.other.push('fulfilled');
      else if (s.reason.name === 'ExchangeNotAvailable' && s.reason.message.includes('queue full')) out.full++;
      else if (s.reason.name === 'RequestTimeout') out.timeout++;
      else out.other.push(s.reason.name + ': ' + s.reason.message);
    }
    await Stels.local.set(['hog'], out);
  )JS");
  h.Spawn(hog);
  REQUIRE(Eventually([&] { return h.Count("stuck", "hang") == 1; }));
  // While that thread stays hung, the healthy worker keeps going.
  const int64_t before = h.Counter("healthy");
  REQUIRE(Eventually([&] { return h.Counter("healthy") >= before + 5; }));
  CHECK(h.Direct("stuck", "counts").value("hang", 0) == 1);  // still the one hung call
  auto out = h.AwaitLocal("hog");
  INFO(out.dump());
  CHECK(out["total"] == 70);
  CHECK(out["other"].empty());
  CHECK(out["full"].get<int>() >= 5);  // 70 - 1 running - 64 queued (one more if none was running yet)
  CHECK(out["full"].get<int>() + out["timeout"].get<int>() == 70);
  // Queued calls that passed their deadline were never sent.
  CHECK(h.Count("stuck", "hang") == 1);
  auto c = h.Exchange("stuck").bulkhead->counters();
  CHECK(c.refused_full == static_cast<uint64_t>(out["full"].get<int>()));
  CHECK(c.sent == 1);
  CHECK(h.Stats(healthy.sid).errors == 0);
}

TEST_CASE("a call not sent before its lease deadline is refused with PermissionDenied and never sent", "[contain][lease]") {
  Bench b(1, 8, 30s);
  auto hang = b.Submit("hang");
  REQUIRE(Eventually([&] { return b.Count("hang") == 1; }));
  auto gate = std::make_shared<LeaseGate>();
  const auto deadline = SteadyClock::now() + 200ms;
  gate->SetDeadline(deadline);
  auto queued = b.Submit("fetchTicker", gate, R"(["T/USD"])");
  // Queued behind the hung call until after the lease deadline.
  REQUIRE(Eventually([&] { return SteadyClock::now() > deadline; }));
  b.Direct("release");
  REQUIRE(Eventually([&] { return queued->Get().has_value(); }));
  auto r = *queued->Get();
  CHECK(r.error_class == "PermissionDenied");
  CHECK(r.message == "bench.fetchTicker refused: the worker's lease ended before the call was sent (worker w-bench, "
                     "term 3); it never reached the exchange");
  CHECK(b.Count("fetchTicker") == 0);
  REQUIRE(Eventually([&] { return hang->Get().has_value(); }));
  CHECK(hang->Get()->ok);
  // A call submitted after the deadline is refused at once; a closed gate likewise.
  auto late = b.Submit("fetchTicker", gate);
  REQUIRE(late->Get().has_value());
  CHECK(late->Get()->error_class == "PermissionDenied");
  auto open = std::make_shared<LeaseGate>();
  open->SetDeadline(SteadyClock::now() + 60s);
  open->Close();
  auto stopped = b.Submit("fetchTicker", open);
  REQUIRE(stopped->Get().has_value());
  CHECK(Contains(stopped->Get()->message, "the worker stopped before the call was sent"));
  CHECK(b.Count("fetchTicker") == 0);
  CHECK(b.bulkhead->counters().refused_lease == 3);
  // A renewal moves the deadline: the same gate lets calls through again.
  gate->SetDeadline(SteadyClock::now() + 60s);
  auto renewed = b.Submit("fetchTicker", gate, R"(["T/USD"])");
  REQUIRE(Eventually([&] { return renewed->Get().has_value(); }));
  CHECK(renewed->Get()->ok);
  CHECK(b.Count("fetchTicker") == 1);
}

TEST_CASE("a full queue refuses at once; queued calls past their deadline time out unsent", "[contain]") {
  Bench b(1, 2, 300ms);
  auto hang = b.Submit("hang");
  REQUIRE(Eventually([&] { return b.Count("hang") == 1; }));
  auto q1 = b.Submit("fetchTicker");
  auto q2 = b.Submit("fetchTicker");
  auto full = b.Submit("fetchTicker");
  REQUIRE(full->Get().has_value());
  CHECK(full->Get()->error_class == "ExchangeNotAvailable");
  CHECK(Contains(full->Get()->message, "bench.fetchTicker refused: queue full"));
  REQUIRE(Eventually([&] { return q1->Get() && q2->Get() && hang->Get(); }));
  CHECK(q1->Get()->error_class == "RequestTimeout");
  CHECK(Contains(q1->Get()->message, "was not sent"));
  CHECK(hang->Get()->error_class == "RequestTimeout");
  CHECK(Contains(hang->Get()->message, "a late answer is dropped"));
  CHECK(b.Count("fetchTicker") == 0);  // q1, q2 never reached the connector
  // Timed-out calls left the queue: with the thread still hung, a new call is queued.
  auto q3 = b.Submit("fetchTicker");
  b.Direct("release");
  REQUIRE(Eventually([&] { return q3->Get().has_value(); }));
  CHECK(q3->Get()->error_class != "ExchangeNotAvailable");
  REQUIRE(Eventually([&] { return b.bulkhead->counters().late == 1; }));
  for (auto* slot : {hang.get(), q1.get(), q2.get(), full.get()}) CHECK(slot->Answers() == 1);
  // The thread is free again: a new call is answered.
  auto next = b.Submit("fetchTicker");
  REQUIRE(Eventually([&] { return next->Get().has_value(); }));
  CHECK(next->Get()->ok);
}

TEST_CASE("a leader's call queued past its lease never reaches the connector", "[contain][lease]") {
  Harness h;
  // lane has one thread: fetchTicker waits behind hang() until the test releases it,
  // which it does only after the lease has ended.
  auto record = HungThenQueuedLeader();
  const LeaderGrant grant = MakeGrant(5, 1500ms);
  h.Spawn(record, grant);
  REQUIRE(Eventually([&] { return h.LaneHung(); }));
  REQUIRE(Eventually([&] { return h.Stats(record.sid).status == "waiting: lease lapsed"; }));
  REQUIRE(SteadyClock::now() >= grant.valid_until);
  h.ReleaseAll();
  REQUIRE(Eventually([&] { return h.Exchange("lane").bulkhead->counters().refused_lease == 1; }));
  CHECK(h.Count("lane", "fetchTicker") == 0);
}

TEST_CASE("a stopping leader quits only after its exchange calls finished; queued ones are never sent", "[contain][lease]") {
  Harness h;
  auto record = HungThenQueuedLeader();
  auto worker = h.Spawn(record, MakeGrant(2, 60s));
  REQUIRE(Eventually([&] { return h.LaneHung(); }));
  h.Stop(worker);
  // The script is ended, but the actor (and so the lease) stays while hang() runs.
  REQUIRE(Eventually([&] { return h.Stats(record.sid).status == "stopping: waiting for exchange calls"; }));
  CHECK(Eventually([&] { return Contains(h.Log(record.sid), "waiting for 2 exchange call(s) in flight"); }));
  CHECK(StaysFalse([&] { return h.Stats(record.sid).status == "stopped"; }, 300ms));
  h.ReleaseAll();
  REQUIRE(Eventually([&] { return h.Stats(record.sid).status == "stopped"; }));
  // The queued call was refused when its turn came: the worker had stopped.
  CHECK(h.Count("lane", "fetchTicker") == 0);
  CHECK(h.Exchange("lane").bulkhead->counters().refused_lease == 1);
}
