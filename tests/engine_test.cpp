// The V8 engine on its own: script shape, async plumbing, errors, limits, the script
// API, and hostile scripts (prototype setters, ArrayBuffer bombs, the ["ami", …]
// keyspace, the per-worker caps). A FakeHost stands in for the worker actor and runs KV
// requests against a real store, so the Deno.Kv shape is tested end to end. (Over 600
// lines: one fixture serves every engine test; the hostile cases are at the end.)
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
  std::deque<std::pair<uint64_t, kv::Request>> kv_requests;
  std::deque<std::pair<uint64_t, ExchangeCall>> exchange_calls;
  kv::Store* store = nullptr;

  void Log(LogLevel level, std::string message) override { lines.emplace_back(level, std::move(message)); }
  void StartTimer(uint64_t id, std::chrono::milliseconds delay) override { timers.emplace_back(id, delay); }
  void StartKv(uint64_t id, kv::Request request) override { kv_requests.emplace_back(id, std::move(request)); }
  void StartExchangeCall(uint64_t id, ExchangeCall call) override { exchange_calls.emplace_back(id, std::move(call)); }
  double HybridTimestamp() override { return 1234.0; }

  kv::Reply Execute(const kv::Request& req) {
    kv::Reply reply;
    reply.op = req.op;
    switch (req.op) {
      case kv::Request::Op::kGet: {
        auto r = store->Get(req.space, req.key);
        if (r.ok()) reply.entry = *r; else reply.status = r.status();
        break;
      }
      case kv::Request::Op::kList: {
        auto r = store->List(req.space, req.list);
        if (r.ok()) reply.entries = *r; else reply.status = r.status();
        break;
      }
      case kv::Request::Op::kCommit: {
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

// The STELS frontend's telegram-bot, websocket-monitor and api-endpoint templates use
// fetch, WebSocket and Deno.serve (webfix-gateway.md): a worker made from them fails at
// once, critical (never retried as a network error), with an error naming what is missing.
TEST_CASE("capabilities AMI does not give fail critical, naming the capability", "[engine]") {
  Fixture f;
  auto run = [&](const std::string& script) {
    auto e = f.Make();
    auto outcome = f.RunOnce(*e, script);
    REQUIRE_FALSE(outcome.ok);
    return outcome.error;
  };
  auto fetch = run("const r = await fetch('https://api.telegram.org/bot/getUpdates');");
  CHECK(fetch.error_class == ErrorClass::kCritical);
  CHECK(fetch.message.find("fetch is not defined") != std::string::npos);
  auto socket = run("const ws = new WebSocket('wss://stream.bybit.com/v5/public/spot');");
  CHECK(socket.error_class == ErrorClass::kCritical);
  CHECK(socket.message.find("WebSocket is not defined") != std::string::npos);
  auto serve = run("Deno.serve({ port: 8000 }, () => new Response('ok'));");
  CHECK(serve.error_class == ErrorClass::kCritical);
  CHECK(serve.message.find("Deno.serve is not a function") != std::string::npos);
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

// ---- hostile scripts ----------------------------------------------------------------

namespace {

// Every property name the engine (or prelude.js, from the engine's objects) sets on an
// object a script can reach: KV entries, list results, commit results, exchange replies,
// errors, memoryUsage, the facts behind config/Stels. Each gets a throwing setter on
// Object.prototype; array indexes get one on Array.prototype.
constexpr const char* kPoison = R"JS(
  const names = ['key', 'value', 'versionstamp', 'ok', 'json', 'errorClass', 'message', 'name', 'stack',
    'rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers', 'config', 'leader', 'sid', 'nid',
    'startTime', 'exchanges', 'errorClasses', 'then', 'length', 'log', 'timer', 'kvGet', 'kvList',
    'kvCommit', 'cexCall', 'id', 'markets', 'channel', 'module', 'raw', 'timestamp', 'done'];
  for (const n of names) {
    Object.defineProperty(Object.prototype, n, { __proto__: null, set() { throw new Error('setter ' + n + ' ran'); }, configurable: true });
  }
  const indexes = { __proto__: null };
  for (const i of ['0', '1', '2', '3'])
    indexes[i] = { __proto__: null, set() { throw new Error('index setter ' + i + ' ran'); }, configurable: true };
  Object.defineProperties(Array.prototype, indexes);
)JS";

}  // namespace

TEST_CASE("prototype setters on every property the engine sets never crash it", "[engine][hostile]") {
  Fixture f;
  EngineOptions options;
  options.exchanges_json = R"([{"id":"bybit","describe":{"methods":[{"name":"fetchTicker"}]}}])";
  options.error_classes_json = R"([["BaseError",null],["ExchangeError","BaseError"]])";
  options.config_json = R"({"nid":"s-0001","sid":"x"})";
  auto e = f.Make(options);
  REQUIRE(e->Load(std::string(kPoison) + R"JS(
    const set = await Stels.local.set(['prices', 'BTC'], { last: 100 });
    if (!set.ok || typeof set.versionstamp !== 'string') throw new Error('set ' + JSON.stringify(set));
    await Stels.local.set(['prices', 'ETH'], { last: 5 });
    const got = await Stels.local.get(['prices', 'BTC']);
    if (got.value.last !== 100 || got.key[1] !== 'BTC') throw new Error('get');
    const missing = await Stels.local.get(['prices', 'none']);
    if (missing.value !== null) throw new Error('missing');
    let n = 0, first, second;
    for await (const entry of Stels.local.list({ prefix: ['prices'] })) { if (n++ === 0) first = entry; else second = entry; }
    if (n !== 2 || first.key[1] !== 'BTC' || second.value.last !== 5) throw new Error('list');
    const failed = await Stels.local.atomic().check({ key: ['prices', 'BTC'], versionstamp: null }).set(['prices', 'BTC'], 1).commit();
    if (failed.ok !== false) throw new Error('failed commit');
    let rejected = '';
    try { await Stels.local.set(['k', 'x'.repeat(3000)], 1); } catch (err) { rejected = err.message; }
    if (!rejected.includes('key limit')) throw new Error('key error: ' + rejected);
    const m = Deno.memoryUsage();
    if (!(m.rss > 0 && m.heapUsed > 0)) throw new Error('memoryUsage');
    if (Deno.loadavg().length !== 3) throw new Error('loadavg');
    if (config.nid !== 's-0001' || Stels.sid !== '11111111-2222-4333-8444-555555555555') throw new Error('facts');
    const ticker = await new Stels.runtime.cex.bybit().fetchTicker('BTC/USDT');
    if (ticker.last !== 7) throw new Error('ticker');
    try { await new Stels.runtime.cex.bybit().fetchTicker('BTC/USDT'); } catch (err) {
      if (!(err instanceof ccxt.ExchangeError) || err.message !== 'no') throw new Error('cex error');
    }
    await Stels.sleep(1);
    logger.info('survived');
  )JS").ok());
  e->StartCall();
  // Drive KV and timers; answer the two exchange calls as they come.
  std::vector<ExchangeReply> replies = {{true, R"({"last":7})", "", ""}, {false, "null", "ExchangeError", "no"}};
  std::optional<CallOutcome> outcome;
  for (int round = 0; round < 100 && !outcome; ++round) {
    outcome = f.host.Drive(*e);
    if (!outcome && !f.host.exchange_calls.empty() && !replies.empty()) {
      e->CompleteExchangeCall(f.host.exchange_calls.front().first, replies.front());
      f.host.exchange_calls.pop_front();
      replies.erase(replies.begin());
      outcome = e->TakeOutcome();
    }
  }
  REQUIRE(outcome.has_value());
  INFO(outcome->error.Describe());
  CHECK(outcome->ok);
  CHECK(f.host.Logged("survived"));
}

TEST_CASE("a thrown error with hostile properties is described, not crashed on", "[engine][hostile]") {
  Fixture f;
  auto e = f.Make();
  auto outcome = f.RunOnce(*e, std::string(kPoison) + R"JS(
    const err = new Error('x'.repeat(1 << 20));
    Object.defineProperty(err, 'name', { __proto__: null, get() { throw new Error('name getter'); } });
    Promise.reject({ get message() { throw 1; } });
    throw err;
  )JS");
  REQUIRE_FALSE(outcome.ok);
  CHECK(outcome.error.name == "Error");
  // Cut at the log line cap, with the size said.
  CHECK(outcome.error.message.size() < (16u << 10) + 100);
  CHECK(outcome.error.message.find("bytes dropped") != std::string::npos);
}

TEST_CASE("ArrayBuffer memory counts against the heap limit", "[engine][hostile][limits]") {
  Fixture f;
  EngineOptions options;
  options.heap_limit_bytes = 16ull << 20;
  auto e = f.Make(options);
  auto outcome = f.RunOnce(*e, R"JS(
    let big = '';
    try { new ArrayBuffer(512 * 1024 * 1024); big = 'allocated'; } catch (err) { big = err.name; }
    let shared = '';
    try { new SharedArrayBuffer(512 * 1024 * 1024); shared = 'allocated'; } catch (err) { shared = err.name; }
    // Many small ones: refused once the budget is used, never more than the limit held.
    const hoard = [];
    let refused = '';
    try { for (let i = 0; i < 1000; i++) hoard.push(new Uint8Array(1 << 20)); } catch (err) { refused = err.name; }
    const peak = Deno.memoryUsage().arrayBuffers;
    hoard.length = 0;
    logger.info(`${big} ${shared} ${refused} ${peak <= 16 * 1024 * 1024} ${peak > 0}`);
    // Freed buffers are given back (after a GC V8 runs itself when an allocation fails).
    const again = new ArrayBuffer(8 * 1024 * 1024);
    logger.info('again ' + again.byteLength);
  )JS");
  INFO(outcome.error.Describe());
  CHECK(outcome.ok);
  CHECK(f.host.Logged("RangeError RangeError RangeError true true"));
  CHECK(f.host.Logged("again 8388608"));
  CHECK_FALSE(e->broken());
}

TEST_CASE("Atomics.wait is refused, so it cannot block a scheduler thread", "[engine][hostile]") {
  Fixture f;
  auto e = f.Make();
  auto outcome = f.RunOnce(*e, "const a = new Int32Array(new SharedArrayBuffer(16));\nAtomics.wait(a, 0, 0);");
  REQUIRE_FALSE(outcome.ok);
  CHECK(outcome.error.name == "TypeError");
  CHECK(outcome.error.line == 2);
}

TEST_CASE("the [\"ami\", …] keyspace is refused in every KV operation", "[engine][hostile][kv]") {
  Fixture f;
  // Records of the runtime, in both spaces.
  for (auto space : {kv::Space::kLocal, kv::Space::kNetwork}) {
    REQUIRE(f.store->Commit(space, {}, {kv::Mutation{kv::Mutation::Kind::kSet, kv::MakeKey({"ami", "worker", "w1"}), R"({"script":"secret"})", std::nullopt}}).ok());
    REQUIRE(f.store->Commit(space, {}, {kv::Mutation{kv::Mutation::Kind::kSet, kv::MakeKey({"ami", "leader", "w1"}), R"({"term":1})", std::nullopt}}).ok());
    REQUIRE(f.store->Commit(space, {}, {kv::Mutation{kv::Mutation::Kind::kSet, kv::MakeKey({"aaa"}), "1", std::nullopt}}).ok());
    REQUIRE(f.store->Commit(space, {}, {kv::Mutation{kv::Mutation::Kind::kSet, kv::MakeKey({"zzz"}), "2", std::nullopt}}).ok());
  }
  auto before_local = *f.store->List(kv::Space::kLocal, kv::ListOptions{kv::MakeKey({"ami"}), std::nullopt, std::nullopt});
  auto before_net = *f.store->List(kv::Space::kNetwork, kv::ListOptions{kv::MakeKey({"ami"}), std::nullopt, std::nullopt});
  REQUIRE(before_local.size() == 2);

  const std::string reserved = "the [\"ami\",…] keyspace is reserved for the runtime";
  auto refused = [&](const std::string& statement) {
    INFO(statement);
    auto e = f.Make();
    auto outcome = f.RunOnce(*e, statement);
    f.host.kv_requests.clear();   // a request made before the refused one: its engine is gone
    CHECK_FALSE(outcome.ok);
    CHECK(outcome.error.name == "TypeError");
    CHECK(outcome.error.message.find(reserved) != std::string::npos);
    return outcome.error.message;
  };
  for (const std::string store : {"Stels.local", "Stels.net"}) {
    CHECK(refused("await " + store + ".get(['ami', 'worker', 'w1']);") ==
          "get: key [\"ami\",\"worker\",\"w1\"] is refused: " + reserved);
    refused("await " + store + ".getMany([['x'], ['ami', 'leader', 'w1']]);");
    refused("await " + store + ".set(['ami', 'worker', 'evil'], {script: 'x', accountId: 'a'});");
    refused("await " + store + ".set(['ami', 'leader', 'w1'], {term: 1e300});");
    refused("await " + store + ".set(['ami'], 1);");
    refused("await " + store + ".delete(['ami', 'worker', 'w1']);");
    refused("await " + store + ".atomic().check({key: ['ami', 'worker', 'w1'], versionstamp: null}).set(['ok'], 1).commit();");
    refused("await " + store + ".atomic().set(['ok'], 1).delete(['ami', 'leader', 'w1']).commit();");
    refused("for await (const e of " + store + ".list({prefix: ['ami']})) {}");
    refused("for await (const e of " + store + ".list({prefix: ['ami', 'worker']})) {}");
    refused("for await (const e of " + store + ".list({start: ['ami', 'a'], end: ['ami', 'z']})) {}");
    refused("await Stels.webfix({brain: " + store + ", method: 'get', channel: ['ami', 'worker', 'w1']});");
    refused("await Stels.webfix({brain: " + store + ", method: 'set', channel: ['ami', 'worker', 'w1'], raw: 1});");
    refused("await Stels.webfix({brain: " + store + ", method: 'delete', channel: ['ami', 'worker', 'w1']});");

    // Lists that reach into the keyspace skip it; the script's own keys still come back.
    auto e = f.Make();
    auto outcome = f.RunOnce(*e, R"JS(
      const keys = async (sel, opt) => { const out = []; for await (const x of )JS" + store + R"JS(.list(sel, opt)) out[out.length] = x.key.join('/'); return out.join(','); };
      logger.info('all: ' + await keys({ prefix: [] }));
      logger.info('reverse: ' + await keys({ prefix: [] }, { reverse: true }));
      logger.info('before: ' + await keys({ start: ['a'], end: ['ami', 'x'] }));
      logger.info('after: ' + await keys({ start: ['ami', 'a'], end: ['zzzz'] }));
      logger.info('limited: ' + await keys({ start: ['ami', 'a'], end: ['zzzz'] }, { limit: 1 }));
      logger.info('other: ' + await keys({ prefix: ['amia'] }) + '.');
    )JS");
    INFO(outcome.error.Describe());
    CHECK(outcome.ok);
    CHECK(f.host.Logged("all: aaa,zzz"));
    CHECK(f.host.Logged("reverse: zzz,aaa"));
    CHECK(f.host.Logged("before: aaa"));
    CHECK(f.host.Logged("after: zzz"));
    CHECK(f.host.Logged("limited: zzz"));
    CHECK(f.host.Logged("other: ."));
    f.host.lines.clear();
  }
  // Nothing in the keyspace changed.
  auto after_local = *f.store->List(kv::Space::kLocal, kv::ListOptions{kv::MakeKey({"ami"}), std::nullopt, std::nullopt});
  auto after_net = *f.store->List(kv::Space::kNetwork, kv::ListOptions{kv::MakeKey({"ami"}), std::nullopt, std::nullopt});
  REQUIRE(after_local.size() == before_local.size());
  REQUIRE(after_net.size() == before_net.size());
  for (size_t i = 0; i < after_local.size(); ++i) {
    CHECK(after_local[i].value == before_local[i].value);
    CHECK(after_local[i].versionstamp == before_local[i].versionstamp);
    CHECK(after_net[i].versionstamp == before_net[i].versionstamp);
  }
}

TEST_CASE("per-worker caps: timers, calls in flight, list size", "[engine][hostile][limits]") {
  Fixture f;
  EngineOptions options;
  options.max_timers = 5;
  options.max_pending_calls = 3;
  options.max_list_results = 3;
  for (int i = 0; i < 10; ++i)
    REQUIRE(f.store->Commit(kv::Space::kLocal, {}, {kv::Mutation{kv::Mutation::Kind::kSet, kv::MakeKey({"p", std::to_string(i)}), "1", std::nullopt}}).ok());

  SECTION("timers") {
    auto e = f.Make(options);
    auto outcome = f.RunOnce(*e, R"JS(
      const sleeps = [];
      for (let i = 0; i < 5; i++) sleeps[i] = Stels.sleep(10);
      let sixth = '';
      try { await Stels.sleep(10); } catch (err) { sixth = err.name + ': ' + err.message; }
      let timeout = '';
      try { setTimeout(() => {}, 10); } catch (err) { timeout = err.name; }
      await Promise.all(sleeps);
      await Stels.sleep(10);   // room again
      logger.info(sixth);
      logger.info('setTimeout ' + timeout);
    )JS");
    INFO(outcome.error.Describe());
    CHECK(outcome.ok);
    CHECK(f.host.Logged("RangeError: too many pending timers: 5 (limits.max_timers); await or clear some first"));
    CHECK(f.host.Logged("setTimeout RangeError"));
  }
  SECTION("timer delays are bounded") {
    auto e = f.Make(options);
    auto outcome = f.RunOnce(*e, R"JS(
      let sleep = '', timeout = '';
      try { await Stels.sleep(1e12); } catch (err) { sleep = err.name + ': ' + err.message; }
      try { setTimeout(() => {}, 1e12); } catch (err) { timeout = err.name; }
      logger.info(sleep);
      logger.info('setTimeout ' + timeout);
    )JS");
    CHECK(outcome.ok);
    CHECK(f.host.Logged("RangeError: timer delay of 1000000000000 ms is longer than the maximum of 2147483647 ms (about 24.8 days)"));
    CHECK(f.host.Logged("setTimeout RangeError"));
    CHECK(f.host.timers.empty());
  }
  SECTION("calls in flight") {
    auto e = f.Make(options);
    auto outcome = f.RunOnce(*e, R"JS(
      const gets = [];
      for (let i = 0; i < 3; i++) gets[i] = Stels.local.get(['p', String(i)]);
      let fourth = '';
      try { await Stels.local.get(['p', '4']); } catch (err) { fourth = err.name + ': ' + err.message; }
      await Promise.all(gets);
      await Stels.local.get(['p', '5']);   // room again
      logger.info(fourth);
    )JS");
    INFO(outcome.error.Describe());
    CHECK(outcome.ok);
    CHECK(f.host.Logged("RangeError: too many KV and exchange calls in flight: 3 (limits.max_pending_calls); await some first"));
  }
  SECTION("exchange calls count as calls in flight") {
    options.exchanges_json = R"([{"id":"bybit","describe":{"methods":[{"name":"fetchTicker"}]}}])";
    auto e = f.Make(options);
    REQUIRE(e->Load(R"JS(
      const ex = new Stels.runtime.cex.bybit();
      const calls = [ex.fetchTicker('A'), ex.fetchTicker('B'), Stels.local.get(['p', '1'])];
      let fourth = '';
      try { await ex.fetchTicker('C'); } catch (err) { fourth = err.name + ': ' + err.message; }
      logger.info(fourth);
      await Promise.all(calls);
    )JS").ok());
    e->StartCall();
    CHECK(f.host.Logged("RangeError: too many KV and exchange calls in flight: 3 (limits.max_pending_calls); await some first"));
    CHECK(f.host.exchange_calls.size() == 2);
    for (auto& [id, call] : f.host.exchange_calls) e->CompleteExchangeCall(id, {true, "{}", "", ""});
    auto outcome = f.host.Drive(*e);
    REQUIRE(outcome.has_value());
    CHECK(outcome->ok);
  }
  SECTION("list results") {
    auto e = f.Make(options);
    auto outcome = f.RunOnce(*e, R"JS(
      const count = async (opt) => { let n = 0; for await (const x of Stels.local.list({ prefix: ['p'] }, opt)) n++; return n; };
      logger.info(`${await count()} ${await count({ limit: 0 })} ${await count({ limit: 100 })} ${await count({ limit: 2 })} ${await count({ limit: -1 })}`);
    )JS");
    CHECK(outcome.ok);
    CHECK(f.host.Logged("3 3 3 2 3"));
  }
}

TEST_CASE("log lines are cut at max_log_line and rate limited", "[engine][hostile][limits]") {
  Fixture f;
  EngineOptions options;
  options.max_log_line = 100;
  options.max_log_lines_per_sec = 10;
  auto e = f.Make(options);
  REQUIRE(e->Load(R"JS(
    if (!globalThis.done) {
      globalThis.done = true;
      logger.info('x'.repeat(64 * 1024 * 1024));   // a 64 MB line
      logger.info('é'.repeat(80));                   // 160 bytes: cut between characters
      for (let i = 0; i < 98; i++) logger.info('line ' + i);
    } else {
      logger.info('later');
    }
  )JS").ok());
  const auto started = std::chrono::steady_clock::now();
  e->StartCall();
  REQUIRE(f.host.Drive(*e)->ok);
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started);
  REQUIRE_FALSE(f.host.lines.empty());
  CHECK(f.host.lines[0].second == std::string(100, 'x') + "… [" + std::to_string((64 << 20) - 100) +
                                      " bytes dropped: limits.max_log_line is 100]");
  if (f.host.lines.size() > 1) {
    std::string e50;
    for (int i = 0; i < 50; ++i) e50 += "é";
    CHECK(f.host.lines[1].second == e50 + "… [60 bytes dropped: limits.max_log_line is 100]");
  }
  // 100 lines in one run: 10 a second get through (more only if the run spanned seconds).
  const size_t logged = f.host.lines.size();
  CHECK(logged >= 10);
  CHECK(logged <= 10 * static_cast<size_t>(seconds.count() + 2));
  CHECK(e->dropped_log_lines() == 100 - logged);
  // Once a later second comes, the drops are reported in the log (with any lines the
  // runs below had dropped in the same second).
  const std::string notice = " log lines dropped (more than 10 a second, limits.max_log_lines_per_sec)";
  auto reported = [&] {
    for (const auto& [level, line] : f.host.lines)
      if (level == LogLevel::kWarn && line.ends_with(notice) && std::stoul(line) >= 100 - logged) return true;
    return false;
  };
  CHECK(ami::test::Eventually([&] {
    e->StartCall();
    f.host.Drive(*e);
    return reported();
  }));
  CHECK(f.host.Logged("later"));
}

TEST_CASE("oversized values and exchange arguments are refused before they are copied", "[engine][hostile]") {
  Fixture f;
  EngineOptions options;
  options.exchanges_json = R"([{"id":"bybit","describe":{"methods":[{"name":"fetchTicker"}]}}])";
  auto e = f.Make(options);
  auto outcome = f.RunOnce(*e, R"JS(
    let kv = '', cex = '';
    try { await Stels.net.set(['big'], 'x'.repeat(32 * 1024 * 1024)); } catch (err) { kv = err.message; }
    try { await new Stels.runtime.cex.bybit().fetchTicker('x'.repeat(2 * 1024 * 1024)); } catch (err) { cex = err.message; }
    logger.info(kv);
    logger.info(cex);
  )JS");
  CHECK(outcome.ok);
  CHECK(f.host.Logged("set: the value is 33554434 bytes of JSON; the limit is 65536"));
  CHECK(f.host.Logged("exchange call: the arguments are 2097156 bytes of JSON; the limit is 1048576"));
  CHECK(f.host.exchange_calls.empty());
  CHECK(f.host.kv_requests.empty());
}

TEST_CASE("one operation that outgrows the heap limit without checking interrupts fails only its engine", "[engine][hostile][limits]") {
  // JSON.stringify of a 64 MB string builds its result without checking for termination;
  // with a 16 MB heap the heap-limit callback must grant room from what the heap holds,
  // or V8 aborts the whole process ("Reached heap limit").
  Fixture f;
  EngineOptions options;
  options.heap_limit_bytes = 16ull << 20;
  auto e = f.Make(options);
  auto outcome = f.RunOnce(*e, "const s = 'y'.repeat(2 ** 26);\nlogger.info(JSON.stringify(s).length);");
  REQUIRE_FALSE(outcome.ok);
  CHECK(outcome.error.cause == ScriptError::Cause::kHeapLimit);
  CHECK(e->broken());
}
