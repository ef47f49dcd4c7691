// Plugins are contained (issue 9, item 4): a connector that throws, hangs or answers
// slowly (the test-faulty fixture, tests/plugins/fixtures/faulty_plugin.cpp) never takes
// the node down nor holds up another exchange's calls, every call answers by its
// deadline, and a call queued past the caller's lease never reaches the connector.
// Asynchronous calls (ABI 2, issue 13; the test-async fixture, async_plugin.cpp) hold no
// bulkhead thread while they wait, answer once whatever the plugin does, and a stopping
// worker's stream ends with ExchangeClosedByUser its script can catch. Over 600 lines: one
// suite for every containment rule, sharing its Harness and Bench fixtures.
//
// Worker actors are spawned directly (as the node actor does), so leader-mode tests
// control the grant. Waits are deadlines (Eventually), never sleeps; nothing asserts
// how long something took.
#include <catch2/catch.hpp>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>

#include <mutex>
#include <sstream>
#include <thread>

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
  streams: { connector: test-async, timeout: 30s }
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
  std::string plugin_id;
  plugins::PluginRegistry registry;
  std::shared_ptr<plugin::ExchangeConnector> connector;
  std::unique_ptr<ExchangeBulkhead> bulkhead;

  Bench(int threads, size_t queue, std::chrono::milliseconds timeout, std::string plugin = "test-faulty")
      : plugin_id(std::move(plugin)) {
    registry.LoadPath(AMI_FAULTY_PLUGIN_DIR);
    auto made = registry.CreateConnector(plugin_id, json::object());
    REQUIRE(made.ok());
    connector = *made;
    bulkhead = std::make_unique<ExchangeBulkhead>(ExchangeBulkhead::Options{"bench", plugin_id, threads, queue, timeout, nullptr},
                                                  connector);
  }
  ~Bench() {
    if (plugin_id == "test-faulty") connector->Call({}, "release", "[]");
    bulkhead.reset();
  }
  json Direct(const std::string& method, const std::string& args = "[]") {
    return json::parse(connector->Call({}, method, args).json);
  }
  int Count(const std::string& method) { return Direct("counts").value(method, 0); }

  // Submits a call; its answer lands in the returned slot.
  struct Slot {
    std::mutex mu;
    std::optional<plugin::CallResult> result;
    int answers = 0;  // `done` must run exactly once
    std::thread::id thread;  // where `done` ran
    std::optional<plugin::CallResult> Get() {
      std::lock_guard<std::mutex> lock(mu);
      return result;
    }
    int Answers() {
      std::lock_guard<std::mutex> lock(mu);
      return answers;
    }
    std::thread::id Thread() {
      std::lock_guard<std::mutex> lock(mu);
      return thread;
    }
  };
  std::shared_ptr<Slot> Submit(const std::string& method, std::shared_ptr<const LeaseGate> lease = nullptr,
                               const std::string& args = "[]", const std::string& sid = "w-bench") {
    auto slot = std::make_shared<Slot>();
    ExchangeCallTask task;
    task.ctx.worker_sid = sid;
    task.ctx.term = 3;
    task.method = method;
    task.args_json = args;
    task.lease = std::move(lease);
    task.done = [slot](plugin::CallResult r) {
      std::lock_guard<std::mutex> lock(slot->mu);
      ++slot->answers;
      slot->result = std::move(r);
      slot->thread = std::this_thread::get_id();
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

// ---- asynchronous calls (ABI 2) -------------------------------------------------------

TEST_CASE("an asynchronous call holds no bulkhead thread while it waits and completes from a plugin thread", "[contain][async]") {
  Bench b(1, 64, 30s, "test-async");
  std::vector<std::shared_ptr<Bench::Slot>> watches;
  for (int i = 0; i < 10; ++i) watches.push_back(b.Submit("watchTicker", nullptr, R"(["BTC/USDT"])"));
  REQUIRE(Eventually([&] { return b.Direct("waiting") == 10; }));
  CHECK(b.bulkhead->counters().waiting == 10);
  // The bulkhead's one thread is free: a synchronous call answers while the 10 wait.
  auto now = b.Submit("now");
  REQUIRE(Eventually([&] { return now->Get().has_value(); }));
  REQUIRE(now->Get()->ok);
  CHECK(json::parse(now->Get()->json)["now"] == true);
  // A call completed later by the plugin's own thread, not the pool's.
  auto later = b.Submit("later", nullptr, "[20]");
  REQUIRE(Eventually([&] { return later->Get().has_value(); }));
  REQUIRE(later->Get()->ok);
  CHECK(json::parse(later->Get()->json)["later"] == 20);
  CHECK(later->Thread() != now->Thread());
  for (auto& w : watches) CHECK_FALSE(w->Get().has_value());
  // The update comes: every waiting call answers, once.
  CHECK(b.Direct("push", "[42]") == 10);
  REQUIRE(Eventually([&] {
    for (auto& w : watches)
      if (!w->Get()) return false;
    return true;
  }));
  for (auto& w : watches) {
    CHECK(w->Answers() == 1);
    CHECK(w->Get()->ok);
    CHECK(json::parse(w->Get()->json) == json{{"symbol", "BTC/USDT"}, {"last", 42}});
  }
  auto c = b.bulkhead->counters();
  CHECK(c.sent == 12);
  CHECK(c.answered == 12);
  CHECK(c.waiting == 0);
  CHECK(c.timed_out == 0);
}

TEST_CASE("an asynchronous call past its deadline gets RequestTimeout once; its late completion is dropped", "[contain][async]") {
  Bench b(1, 8, 200ms, "test-async");
  auto watch = b.Submit("watchTicker", nullptr, R"(["BTC/USDT"])");
  REQUIRE(Eventually([&] { return watch->Get().has_value(); }));
  CHECK(watch->Get()->error_class == "RequestTimeout");
  CHECK(Contains(watch->Get()->message, "bench.watchTicker: no answer within the 200 ms timeout"));
  CHECK(Contains(watch->Get()->message, "is waiting for the exchange"));
  // The connector still holds it; its completion now comes too late.
  CHECK(b.Direct("push", "[7]") == 1);
  REQUIRE(Eventually([&] { return b.bulkhead->counters().late == 1; }));
  CHECK(watch->Answers() == 1);
  CHECK(watch->Get()->error_class == "RequestTimeout");
  auto c = b.bulkhead->counters();
  CHECK(c.timed_out == 1);
  CHECK(c.answered == 0);
  CHECK(c.waiting == 0);
}

TEST_CASE("an exception from CallAsync becomes ExchangeError; a plugin's second completion is ignored", "[contain][async]") {
  Bench b(1, 8, 30s, "test-async");
  // Through the loader directly: `done` runs once, whatever the plugin does.
  std::mutex mu;
  std::map<std::string, std::vector<plugin::CallResult>> got;
  auto call = [&](const std::string& method) {
    plugins::CallConnectorAsync(*b.connector, "test-async", {}, method, "[]", [&, method](plugin::CallResult r) {
      std::lock_guard<std::mutex> lock(mu);
      got[method].push_back(std::move(r));
    });
  };
  auto results = [&](const std::string& method) {
    std::lock_guard<std::mutex> lock(mu);
    return got[method];
  };
  for (const char* m : {"throwAsync", "throwAfterAnswer", "twice", "noClass"}) call(m);
  REQUIRE(Eventually([&] { return results("noClass").size() == 1; }));
  REQUIRE(results("throwAsync").size() == 1);
  CHECK(results("throwAsync")[0].error_class == "ExchangeError");
  CHECK(results("throwAsync")[0].message == "plugin 'test-async' failed in Call(throwAsync): async fixture exploded");
  REQUIRE(results("throwAfterAnswer").size() == 1);  // its answer stands; the exception is only logged
  CHECK(results("throwAfterAnswer")[0].ok);
  REQUIRE(results("twice").size() == 1);
  CHECK(results("twice")[0].ok);
  CHECK(json::parse(results("twice")[0].json)["n"] == 1);
  CHECK(results("noClass")[0].error_class == "ExchangeError");  // a failure without a class
  CHECK(results("noClass")[0].message == "failed without a class");

  // Through the bulkhead: the same, and its thread keeps serving.
  auto thrown = b.Submit("throwAsync");
  auto twice = b.Submit("twice");
  auto after = b.Submit("now");
  REQUIRE(Eventually([&] { return thrown->Get() && twice->Get() && after->Get(); }));
  CHECK(thrown->Get()->error_class == "ExchangeError");
  CHECK(thrown->Get()->message == "plugin 'test-async' failed in Call(throwAsync): async fixture exploded");
  CHECK(twice->Get()->ok);
  CHECK(after->Get()->ok);
  CHECK(StaysFalse([&] { return twice->Answers() != 1 || thrown->Answers() != 1; }, 100ms));
  CHECK(b.bulkhead->counters().answered == 3);
  CHECK(b.bulkhead->counters().late == 0);
}

TEST_CASE("CancelWorker reaches the connector and ends that worker's waiting calls with ExchangeClosedByUser", "[contain][async]") {
  Bench b(1, 8, 30s, "test-async");
  auto mine = b.Submit("watchTicker", nullptr, R"(["BTC/USDT"])", "w-mine");
  auto other = b.Submit("watchTicker", nullptr, R"(["ETH/USDT"])", "w-other");
  REQUIRE(Eventually([&] { return b.Direct("waiting") == 2; }));
  b.bulkhead->CancelWorker("w-mine");
  REQUIRE(Eventually([&] { return mine->Get().has_value(); }));
  CHECK(mine->Get()->error_class == "ExchangeClosedByUser");
  CHECK(Contains(mine->Get()->message, "worker w-mine stopped"));
  CHECK(b.Direct("cancels") == json::array({"w-mine"}));
  // Another worker's stream goes on.
  CHECK_FALSE(other->Get().has_value());
  CHECK(b.Direct("waiting") == 1);
  // A CancelWorker that throws is contained.
  CHECK_NOTHROW(b.bulkhead->CancelWorker("explode"));
  CHECK(b.Direct("push", "[3]") == 1);
  REQUIRE(Eventually([&] { return other->Get().has_value(); }));
  CHECK(other->Get()->ok);
  CHECK(mine->Answers() == 1);
  CHECK(b.bulkhead->counters().answered == 2);
}

namespace {
// Waits on a stream; logs what ended the wait.
constexpr const char* kWatcherScript = R"JS(
  const ex = new Stels.runtime.cex.streams();
  try {
    const t = await ex.watchTicker('BTC/USDT');
    logger.info('ticker', t.last);
  } catch (e) {
    logger.info('caught', e.constructor.name, e instanceof ccxt.ExchangeError, shouldStop());
  }
)JS";
}  // namespace

TEST_CASE("a stopping worker's stream await rejects with ExchangeClosedByUser its script catches", "[contain][async]") {
  Harness h;
  auto record = Record(kWatcherScript, WorkerMode::kLoop);
  auto worker = h.Spawn(record);
  REQUIRE(Eventually([&] { return h.Direct("streams", "waiting") == 1; }));
  h.Stop(worker);
  REQUIRE(Eventually([&] { return h.Stats(record.sid).status == "stopped"; }));
  const std::string log = h.Log(record.sid);
  INFO(log);
  CHECK(Contains(log, "caught ExchangeClosedByUser true true"));
  CHECK_FALSE(Contains(log, "grace period"));
  CHECK(h.Direct("streams", "cancels") == json::array({record.sid}));
  CHECK(h.Direct("streams", "waiting") == 0);
}

TEST_CASE("amid: a declared worker waiting on a stream catches ExchangeClosedByUser on SIGTERM", "[contain][async][amid]") {
  TempDir dir;
  ami::test::WriteFile(dir / "node.yaml", std::string("node: { id: s-0001, data_dir: ./data }\n"
                                                      "limits: { stop_grace: 10s }\n"
                                                      "plugins: { dirs: [\"" AMI_FAULTY_PLUGIN_DIR "\"] }\n"
                                                      "exchanges:\n"
                                                      "  streams: { connector: test-async, timeout: 60s }\n"
                                                      "workers:\n"
                                                      "  - name: watcher\n"
                                                      "    script: |\n") +
                                              [] {
                                                std::string indented;
                                                std::string line;
                                                std::istringstream in(kWatcherScript);
                                                while (std::getline(in, line)) indented += "      " + line + "\n";
                                                return indented;
                                              }());
  ami::test::ChildProcess amid((ami::test::BinaryDir() / "apps" / "amid").string(),
                               {"--config", (dir / "node.yaml").string()}, dir / "amid.out");
  REQUIRE(Eventually([&] { return Contains(amid.Output(), "test-async: watchTicker waiting for worker"); },
                     std::chrono::seconds(60)));
  amid.Signal(SIGTERM);
  // Without the cancel the watch would outlive the 10 s grace and the script be terminated.
  CHECK(amid.Wait(std::chrono::seconds(30)) == 0);
  std::string worker_log;
  for (const auto& e : std::filesystem::directory_iterator(dir / "data" / "logs" / "workers"))
    if (e.path().extension() == ".log") worker_log += ami::test::ReadFile(e.path());
  INFO(amid.Output());
  INFO(worker_log);
  CHECK(Contains(worker_log, "caught ExchangeClosedByUser true true"));
  CHECK_FALSE(Contains(worker_log, "grace period"));
}
