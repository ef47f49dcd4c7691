// The V8 engine on its own: script shape, async plumbing, errors, limits, the script
// API. A FakeHost stands in for the worker actor and runs KV requests against a real
// store, so the Deno.Kv shape is tested end to end.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <deque>

#include "ami/plugin/errors.h"
#include "runtime/js/engine.h"
#include "tests/support/test_support.h"

using namespace ami;
using namespace ami::js;
using ami::test::TempDir;

namespace {

struct FakeHost : Host {
  std::vector<std::pair<LogLevel, std::string>> lines;
  std::deque<std::pair<uint64_t, std::chrono::milliseconds>> timers;
  std::deque<std::pair<uint64_t, KvRequest>> kv_requests;
  std::deque<std::pair<uint64_t, ExchangeCall>> exchange_calls;
  kv::Store* store = nullptr;

  void Log(LogLevel level, std::string message) override { lines.emplace_back(level, std::move(message)); }
  void StartTimer(uint64_t id, std::chrono::milliseconds delay) override { timers.emplace_back(id, delay); }
  void StartKv(uint64_t id, KvRequest request) override { kv_requests.emplace_back(id, std::move(request)); }
  void StartExchangeCall(uint64_t id, ExchangeCall call) override { exchange_calls.emplace_back(id, std::move(call)); }
  double HybridTimestamp() override { return 1234.0; }

  KvReply Execute(const KvRequest& req) {
    KvReply reply;
    reply.op = req.op;
    switch (req.op) {
      case KvRequest::Op::kGet: {
        auto r = store->Get(req.space, req.key);
        if (r.ok()) reply.entry = *r; else reply.status = r.status();
        break;
      }
      case KvRequest::Op::kList: {
        auto r = store->List(req.space, req.list);
        if (r.ok()) reply.entries = *r; else reply.status = r.status();
        break;
      }
      case KvRequest::Op::kCommit: {
        auto r = store->Commit(req.space, req.checks, req.mutations);
        if (r.ok()) reply.commit = *r; else reply.status = r.status();
        break;
      }
    }
    return reply;
  }

  // Answers every pending request (timers fire at once) until the call settles.
  std::optional<CallOutcome> Drive(Engine& engine, int max_rounds = 1000) {
    for (int i = 0; i < max_rounds; ++i) {
      if (auto outcome = engine.TakeOutcome()) return outcome;
      if (!kv_requests.empty()) {
        auto [id, req] = std::move(kv_requests.front());
        kv_requests.pop_front();
        engine.CompleteKv(id, Execute(req));
      } else if (!timers.empty()) {
        auto id = timers.front().first;
        timers.pop_front();
        engine.CompleteTimer(id);
      } else {
        return engine.TakeOutcome();
      }
    }
    return std::nullopt;
  }

  bool Logged(const std::string& text) const {
    for (const auto& [level, line] : lines)
      if (line == text) return true;
    return false;
  }
};

struct Fixture {
  TempDir dir;
  std::unique_ptr<kv::Store> store;
  FakeHost host;
  Fixture() {
    auto s = kv::Store::Open(dir / "t.db", kv::StoreOptions{"s-0001"});
    REQUIRE(s.ok());
    store = std::move(*s);
    host.store = store.get();
  }
  std::unique_ptr<Engine> Make(EngineOptions options = {}) {
    if (options.sid.empty()) options.sid = "11111111-2222-4333-8444-555555555555";
    if (options.node_id.empty()) options.node_id = "s-0001";
    auto e = Engine::Create(options, &host);
    REQUIRE(e.ok());
    return std::move(*e);
  }
  // Loads and runs one call to completion.
  CallOutcome RunOnce(Engine& engine, const std::string& script) {
    REQUIRE(engine.Load(script).ok());
    engine.StartCall();
    auto outcome = host.Drive(engine);
    REQUIRE(outcome.has_value());
    return *outcome;
  }
};

}  // namespace

TEST_CASE("a script is the body of an async function: await and return work", "[engine]") {
  Fixture f;
  auto e = f.Make();
  auto outcome = f.RunOnce(*e, "await Stels.sleep(10);\nlogger.info('after sleep');\nreturn 42;\nlogger.info('never');");
  CHECK(outcome.ok);
  CHECK(f.host.Logged("after sleep"));
  CHECK_FALSE(f.host.Logged("never"));
}

TEST_CASE("globals persist across calls of one load, locals do not", "[engine]") {
  Fixture f;
  auto e = f.Make();
  REQUIRE(e->Load("const local = 1; globalThis.count = (globalThis.count || 0) + local; logger.info(String(count));").ok());
  for (int i = 0; i < 3; ++i) {
    e->StartCall();
    REQUIRE(f.host.Drive(*e)->ok);
  }
  CHECK(f.host.Logged("1"));
  CHECK(f.host.Logged("3"));
}

TEST_CASE("errors carry the user's line numbers", "[engine]") {
  Fixture f;
  SECTION("a throw") {
    auto e = f.Make();
    auto outcome = f.RunOnce(*e, "const a = 1;\n\nthrow new TypeError('bad thing');\n");
    REQUIRE_FALSE(outcome.ok);
    CHECK(outcome.error.name == "TypeError");
    CHECK(outcome.error.message == "bad thing");
    CHECK(outcome.error.line == 3);
    CHECK(outcome.error.error_class == ErrorClass::kCritical);
    CHECK(outcome.error.Describe() == "TypeError: bad thing (line 3)");
  }
  SECTION("after an await") {
    auto e = f.Make();
    auto outcome = f.RunOnce(*e, "await Stels.sleep(1);\nnull.x;");
    REQUIRE_FALSE(outcome.ok);
    CHECK(outcome.error.line == 2);
  }
  SECTION("a syntax error fails Load with its line") {
    auto e = f.Make();
    ScriptError error;
    Status s = e->Load("const a = 1;\nconst b = ;\n", &error);
    REQUIRE_FALSE(s.ok());
    CHECK(s.code() == Status::Code::kScriptError);
    CHECK(error.cause == ScriptError::Cause::kSyntax);
    CHECK(error.name == "SyntaxError");
    CHECK(error.line == 2);
  }
  SECTION("a script that closes the wrapper is refused") {
    auto e = f.Make();
    ScriptError error;
    CHECK_FALSE(e->Load("}); (async function () {", &error).ok());
  }
  SECTION("CheckSyntax validates without running") {
    CHECK(Engine::CheckSyntax("await Stels.sleep(1); return 1;").ok());
    ScriptError error;
    CHECK_FALSE(Engine::CheckSyntax("let x = {;", &error).ok());
    CHECK(error.line == 1);
  }
}

TEST_CASE("errors are classified as network or critical", "[engine]") {
  Fixture f;
  auto classify = [&](const std::string& script) {
    auto e = f.Make();
    auto outcome = f.RunOnce(*e, script);
    REQUIRE_FALSE(outcome.ok);
    return outcome.error.error_class;
  };
  CHECK(classify("class NetworkError extends Error {}\nclass RequestTimeout extends NetworkError {}\nthrow new RequestTimeout('slow');") == ErrorClass::kNetwork);
  CHECK(classify("const e = new Error('x'); e.name = 'ExchangeNotAvailable'; throw e;") == ErrorClass::kNetwork);
  CHECK(classify("throw new Error('WebSocket closed');") == ErrorClass::kNetwork);
  CHECK(classify("throw new RangeError('oops');") == ErrorClass::kCritical);
  CHECK(classify("throw 'a string';") == ErrorClass::kCritical);
}

TEST_CASE("an infinite loop is stopped by the CPU limit and the engine stays usable", "[engine][limits]") {
  Fixture f;
  EngineOptions options;
  options.cpu_per_run = std::chrono::milliseconds(200);
  auto e = f.Make(options);
  REQUIRE(e->Load("if (!globalThis.spun) { globalThis.spun = true; while (true) {} }\nreturn 1;").ok());
  e->StartCall();
  auto outcome = e->TakeOutcome();
  REQUIRE(outcome.has_value());
  CHECK_FALSE(outcome->ok);
  CHECK(outcome->error.cause == ScriptError::Cause::kCpuLimit);
  CHECK(outcome->error.Describe().find("CPU limit") != std::string::npos);
  CHECK_FALSE(e->broken());
  e->StartCall();
  auto second = f.host.Drive(*e);
  REQUIRE(second.has_value());
  CHECK(second->ok);
}

TEST_CASE("a heap bomb fails only its own engine", "[engine][limits]") {
  Fixture f;
  EngineOptions options;
  options.heap_limit_bytes = 48ull << 20;
  auto bomb = f.Make(options);
  auto bystander = f.Make();
  REQUIRE(bystander->Load("logger.info('still fine'); return 1;").ok());
  REQUIRE(bomb->Load("const hoard = [];\nwhile (true) hoard.push(new Array(100000).fill(7));").ok());
  bomb->StartCall();
  auto outcome = bomb->TakeOutcome();
  REQUIRE(outcome.has_value());
  CHECK_FALSE(outcome->ok);
  CHECK(outcome->error.cause == ScriptError::Cause::kHeapLimit);
  CHECK(bomb->broken());
  bystander->StartCall();
  REQUIRE(f.host.Drive(*bystander)->ok);
  CHECK(f.host.Logged("still fine"));
}

TEST_CASE("abort rejects a pending sleep with AbortError and sets shouldStop", "[engine]") {
  Fixture f;
  auto e = f.Make();
  REQUIRE(e->Load(
      "signal.addEventListener('abort', () => logger.info('listener ran'));\n"
      "try { await Stels.sleep(100000); } catch (err) { logger.info(err.name + ' ' + shouldStop() + ' ' + signal.aborted); throw err; }").ok());
  e->StartCall();
  REQUIRE(f.host.timers.size() == 1);
  CHECK(e->call_in_flight());
  e->Abort();
  auto outcome = e->TakeOutcome();
  REQUIRE(outcome.has_value());
  CHECK_FALSE(outcome->ok);
  CHECK(outcome->error.name == "AbortError");
  CHECK(f.host.Logged("AbortError true true"));
  CHECK(f.host.Logged("listener ran"));
  // The timer firing later is harmless.
  e->CompleteTimer(f.host.timers.front().first);
  CHECK_FALSE(e->TakeOutcome().has_value());
}

TEST_CASE("scripts get no ambient capabilities", "[engine]") {
  Fixture f;
  auto e = f.Make();
  auto outcome = f.RunOnce(*e,
      "const names = ['require', 'process', 'host', 'fetch', 'XMLHttpRequest', 'WebAssembly', 'Deno.readFile', 'Deno.env', 'Deno.exit', 'Deno.run'];\n"
      "const present = names.filter((n) => n.split('.').reduce((o, k) => (o == null ? undefined : o[k]), globalThis) !== undefined);\n"
      "logger.info('present: ' + present.join(','));");
  CHECK(outcome.ok);
  CHECK(f.host.Logged("present: "));
}

TEST_CASE("logger and console format their arguments", "[engine]") {
  Fixture f;
  auto e = f.Make();
  REQUIRE(f.RunOnce(*e, "logger.warn('price', 10.5, {a: 1}, [1, 2]); console.log('via console'); logger.error(new TypeError('t'));").ok);
  CHECK(f.host.lines.at(0).first == LogLevel::kWarn);
  CHECK(f.host.lines.at(0).second == "price 10.5 {\"a\":1} [1,2]");
  CHECK(f.host.Logged("via console"));
  CHECK(f.host.lines.at(2).first == LogLevel::kError);
  CHECK(f.host.lines.at(2).second == "TypeError: t");
}

TEST_CASE("Stels.local and Stels.net behave like Deno.Kv", "[engine][kv]") {
  Fixture f;
  auto e = f.Make();
  auto outcome = f.RunOnce(*e, R"JS(
    const r = await Stels.local.set(['prices', 'BTC'], { last: 100 });
    if (!r.ok || r.versionstamp.length !== 20) throw new Error('set: ' + JSON.stringify(r));
    const got = await Stels.local.get(['prices', 'BTC']);
    if (got.value.last !== 100 || got.versionstamp !== r.versionstamp) throw new Error('get: ' + JSON.stringify(got));
    const missing = await Stels.net.get(['prices', 'BTC']);
    if (missing.value !== null || missing.versionstamp !== null) throw new Error('spaces are not separate');
    await Stels.net.set(['m', 2], 'two');
    await Stels.net.set(['m', 1], 'one');
    await Stels.net.set(['m', 'a'], 'string sorts before number');
    const keys = (await Array.fromAsync(Stels.net.list({ prefix: ['m'] }))).map((x) => x.key[1]);
    if (JSON.stringify(keys) !== JSON.stringify(['a', 1, 2])) throw new Error('order: ' + JSON.stringify(keys));
    const rev = await Array.fromAsync(Stels.net.list({ prefix: ['m'] }, { reverse: true, limit: 1 }));
    if (rev.length !== 1 || rev[0].key[1] !== 2) throw new Error('reverse/limit');
    const stale = await Stels.local.atomic().check({ key: ['prices', 'BTC'], versionstamp: '0000000000000fff0000' }).set(['prices', 'BTC'], 1).commit();
    if (stale.ok) throw new Error('check should fail');
    const fresh = await Stels.local.atomic().check(got).set(['prices', 'BTC'], { last: 101 }).delete(['nothing']).commit();
    if (!fresh.ok) throw new Error('check should pass');
    const absent = await Stels.local.atomic().check({ key: ['new'], versionstamp: null }).set(['new'], true).commit();
    if (!absent.ok) throw new Error('absent check');
    await Stels.local.delete(['new']);
    if ((await Stels.local.get(['new'])).value !== null) throw new Error('delete');
    await Stels.local.set(['bytes', new Uint8Array([1, 2]), 5n, true], 1);
    const weird = (await Array.fromAsync(Stels.local.list({ prefix: ['bytes'] })))[0].key;
    if (!(weird[1] instanceof Uint8Array) || weird[2] !== 5n || weird[3] !== true) throw new Error('key types');
    logger.info('kv ok');
  )JS");
  INFO(outcome.error.Describe());
  CHECK(outcome.ok);
  CHECK(f.host.Logged("kv ok"));
}

TEST_CASE("bad KV input is a clear JS error", "[engine][kv]") {
  Fixture f;
  auto run = [&](const std::string& script) {
    auto e = f.Make();
    auto outcome = f.RunOnce(*e, script);
    REQUIRE_FALSE(outcome.ok);
    return outcome.error.Describe();
  };
  CHECK(run("await Stels.local.set('notakey', 1);") == "TypeError: atomic().set: a key is an array, e.g. [\"prices\", \"BTC\"] (line 1)");
  CHECK(run("await Stels.local.set([{}], 1);").find("key part 0 must be a string") != std::string::npos);
  CHECK(run("await Stels.local.set(['a'], undefined);").find("value cannot be stored") != std::string::npos);
  CHECK(run("await Stels.local.set(['a'], 'x'.repeat(70000));").find("65536") != std::string::npos);
}

TEST_CASE("Stels.webfix wraps values the way STELS scripts expect", "[engine][kv]") {
  Fixture f;
  auto e = f.Make();
  auto outcome = f.RunOnce(*e, R"JS(
    const w = await Stels.webfix({ brain: Stels.net, method: 'set', channel: ['market', 'ticker', 'BTC/USDT', 's-0001'], module: 'market', raw: { price: 100 } });
    if (w.value.channel !== 'market.ticker.BTC/USDT.s-0001' || w.value.module !== 'market' || !w.versionstamp) throw new Error(JSON.stringify(w));
    const r = await Stels.webfix({ brain: Stels.net, method: 'get', channel: ['market', 'ticker', 'BTC/USDT', 's-0001'] });
    if (r.value.raw.price !== 100) throw new Error(JSON.stringify(r));
    const stale = await Stels.webfix({ brain: Stels.net, method: 'update', channel: ['market', 'ticker', 'BTC/USDT', 's-0001'], raw: {}, versionstamp: '0000000000000fff0000' });
    if (stale.versionstamp !== null) throw new Error('update with a stale versionstamp must not write');
    await Stels.webfix({ brain: Stels.net, method: 'delete', channel: ['market', 'ticker', 'BTC/USDT', 's-0001'] });
    if ((await Stels.net.get(['market', 'ticker', 'BTC/USDT', 's-0001'])).value !== null) throw new Error('delete');
    logger.info('webfix ok');
  )JS");
  INFO(outcome.error.Describe());
  CHECK(outcome.ok);
}

TEST_CASE("Stels and Deno facts", "[engine]") {
  Fixture f;
  EngineOptions options;
  options.config_json = R"({"nid":"s-0001","network":"local","sid":"x"})";
  options.leader_json = R"({"node":"s-0001","term":1,"expiresAt":null})";
  options.start_time_ms = 5000;
  auto e = f.Make(options);
  auto outcome = f.RunOnce(*e, R"JS(
    if (config.nid !== 's-0001' || Stels.config !== config) throw new Error('config');
    if (Stels.leader.term !== 1 || Stels.leader.node !== 's-0001') throw new Error('leader');
    if (Stels.startTime !== 5000 || Stels.hybridTimestamp() !== 1234) throw new Error('times');
    const m = Deno.memoryUsage();
    if (!(m.rss > 0 && m.heapUsed > 0 && m.heapTotal >= m.heapUsed)) throw new Error('memoryUsage ' + JSON.stringify(m));
    if (Deno.loadavg().length !== 3 || typeof Deno.hostname() !== 'string') throw new Error('deno');
    try { config.nid = 'other'; } catch (_) {}
    if (config.nid !== 's-0001') throw new Error('config must be frozen');
  )JS");
  INFO(outcome.error.Describe());
  CHECK(outcome.ok);
}

TEST_CASE("an unhandled rejection is logged, not fatal", "[engine]") {
  Fixture f;
  auto e = f.Make();
  auto outcome = f.RunOnce(*e, "Promise.reject(new Error('floating'));\nreturn 1;");
  CHECK(outcome.ok);
  bool warned = false;
  for (const auto& [level, line] : f.host.lines) warned |= level == LogLevel::kWarn && line.find("floating") != std::string::npos;
  CHECK(warned);
}

TEST_CASE("a stop switch terminates a run stuck in synchronous code", "[engine][limits]") {
  Fixture f;
  EngineOptions options;
  options.stop_switch = std::make_shared<StopSwitch>();
  auto e = f.Make(options);
  REQUIRE(e->Load("while (true) {}").ok());
  // The stop is requested before the run starts; the watchdog ends the run at the deadline.
  options.stop_switch->RequestStop(std::chrono::milliseconds(150));
  e->StartCall();
  auto outcome = e->TakeOutcome();
  REQUIRE(outcome.has_value());
  CHECK(outcome->error.cause == ScriptError::Cause::kTerminated);
}

TEST_CASE("Stels.runtime.cex builds CCXT-shaped exchanges with CCXT error classes", "[engine][cex]") {
  Fixture f;
  EngineOptions options;
  options.exchanges_json = R"([{"id":"bybit","describe":{"id":"paper","name":"Paper","has":{"fetchTicker":true},
      "methods":[{"name":"fetchTicker"},{"name":"loadMarkets"},{"name":"createOrder"}]}}])";
  options.error_classes_json = R"([["BaseError",null],["ExchangeError","BaseError"],["InsufficientFunds","ExchangeError"],
      ["OperationFailed","BaseError"],["NetworkError","OperationFailed"],["RequestTimeout","NetworkError"]])";
  auto e = f.Make(options);
  REQUIRE(e->Load(R"JS(
    const a = new Stels.runtime.cex.bybit({ apiKey: 'KEY-123', secret: 'SECRET-456' });
    const b = Stels.runtime.cex.bybit();            // callable without new, too
    if (!(b instanceof Stels.runtime.cex.bybit) || a.id !== 'bybit' || !a.has.fetchTicker) throw new Error('shape');
    const shown = JSON.stringify(a);
    if (shown.includes('KEY-123') || shown.includes('SECRET-456')) throw new Error('credentials visible: ' + shown);
    const ticker = await a.fetchTicker('BTC/USDT');
    logger.info('last ' + ticker.last);
    await a.loadMarkets();
    if (!a.markets['BTC/USDT']) throw new Error('markets not kept');
    try { await a.createOrder('BTC/USDT', 'market', 'buy', 100); throw new Error('no throw'); }
    catch (err) {
      if (!(err instanceof ccxt.InsufficientFunds) || !(err instanceof ccxt.ExchangeError) || !(err instanceof Error)) throw new Error('hierarchy');
      logger.info(err.name + ': ' + err.message);
    }
    await a.fetchTicker('BTC/USDT');                // fails with a network-class error
  )JS").ok());
  e->StartCall();
  auto answer = [&](ExchangeReply reply) {
    REQUIRE_FALSE(f.host.exchange_calls.empty());
    auto [id, call] = f.host.exchange_calls.front();
    f.host.exchange_calls.pop_front();
    e->CompleteExchangeCall(id, std::move(reply));
    return call;
  };
  auto first = answer({true, R"({"symbol":"BTC/USDT","last":100.5})", "", ""});
  CHECK(first.exchange == "bybit");
  CHECK(first.method == "fetchTicker");
  CHECK(first.args_json == R"(["BTC/USDT"])");
  CHECK(first.options_json.find("KEY-123") != std::string::npos);  // to the host, never into logs
  answer({true, R"({"BTC/USDT":{"symbol":"BTC/USDT"}})", "", ""});
  auto order = answer({false, "null", "InsufficientFunds", "bybit: insufficient USDT"});
  CHECK(order.args_json == R"(["BTC/USDT","market","buy",100])");
  answer({false, "null", "RequestTimeout", "timed out"});
  auto outcome = e->TakeOutcome();
  REQUIRE(outcome.has_value());
  CHECK_FALSE(outcome->ok);
  CHECK(outcome->error.name == "RequestTimeout");
  CHECK(outcome->error.error_class == ErrorClass::kNetwork);
  CHECK(f.host.Logged("last 100.5"));
  CHECK(f.host.Logged("InsufficientFunds: bybit: insufficient USDT"));
}

TEST_CASE("every CCXT error class reaches the script as itself, its ancestors and its error class", "[engine][cex]") {
  nlohmann::json classes = nlohmann::json::array();
  for (const auto& c : ami::plugin::kErrorClasses)
    classes.push_back({c.name, c.parent ? nlohmann::json(c.parent) : nlohmann::json(nullptr)});
  for (const auto& c : ami::plugin::kErrorClasses) {
    INFO(c.name);
    Fixture f;
    EngineOptions options;
    options.exchanges_json = R"([{"id":"bybit","describe":{"methods":[{"name":"fetchTicker"}]}}])";
    options.error_classes_json = classes.dump();
    auto e = f.Make(options);
    // The script checks instanceof against the class and every ancestor, then rethrows.
    REQUIRE(e->Load(R"JS(
      try { await new Stels.runtime.cex.bybit().fetchTicker('BTC/USDT'); }
      catch (err) {
        const chain = [];
        for (let p = Object.getPrototypeOf(err); p && p !== Error.prototype; p = Object.getPrototypeOf(p)) chain.push(p.constructor.name);
        const ok = chain.every((name) => err instanceof ccxt[name]) && err instanceof Error;
        logger.info(ok + ' ' + chain.join('>'));
        throw err;
      }
    )JS").ok());
    e->StartCall();
    REQUIRE(f.host.exchange_calls.size() == 1);
    e->CompleteExchangeCall(f.host.exchange_calls.front().first, {false, "null", c.name, "simulated"});
    auto outcome = e->TakeOutcome();
    REQUIRE(outcome.has_value());
    CHECK(outcome->error.name == c.name);
    // The chain from the class up to BaseError, as the SDK declares it.
    std::string expected = c.name;
    for (const char* p = c.parent; p; p = ami::plugin::ErrorClassParent(p)) expected += std::string(">") + p;
    CHECK(f.host.Logged("true " + expected));
    CHECK((outcome->error.error_class == ErrorClass::kNetwork) == ami::plugin::IsNetworkErrorClass(c.name));
  }
}
