// A corpus of hostile scripts run by a real amid beside one healthy critical worker.
//
// Each hostile worker logs "H:<tag>" first (so its log file can be told apart), then
// attacks: prototype setters, deep recursion, a heap bomb, one operation that outgrows
// the heap without checking interrupts (JSON.stringify), an ArrayBuffer bomb, a 64 MB
// log line, an oversized KV value, a promise that never settles, Atomics.wait, writes to
// the ["ami", …] keyspace, bad CCXT arguments to the paper exchange, a timer bomb, a log
// flood and forged log lines. The test asserts that amid stays up, that each hostile
// worker got its own clear error in its log, that the healthy worker keeps iterating
// during and after the corpus (its heartbeat count grows; no timing is asserted), that
// amid's RSS stays under a generous bound, and that the ["ami", …] records are only the
// declared workers' own. Run alone with `ctest -L hostile`.
#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

#include "runtime/store/store.h"
#include "tests/support/test_support.h"

using namespace ami::test;
namespace fs = std::filesystem;

namespace {

std::string Amid() { return (BinaryDir() / "apps" / "amid").string(); }

// The text of the worker log file that contains `marker` ("" while none does).
std::string LogWith(const fs::path& data_dir, const std::string& marker) {
  const auto dir = data_dir / "logs" / "workers";
  std::error_code ec;
  if (!fs::exists(dir, ec)) return "";
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".log") continue;
    std::string text = ReadFile(e.path());
    if (text.find(marker) != std::string::npos) return text;
  }
  return "";
}

// The healthy worker's highest heartbeat so far.
long Heartbeats(const fs::path& data_dir) {
  static const std::regex beat(R"(\] \[INFO\] heartbeat (\d+))");
  const std::string text = LogWith(data_dir, "] [INFO] heartbeat ");
  long best = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), beat); it != std::sregex_iterator(); ++it)
    best = std::max(best, std::stol((*it)[1]));
  return best;
}

uint64_t RssBytes(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "VmRSS:  1234 kB"
  return 0;
}

struct Hostile {
  std::string tag;
  std::string script;
  std::vector<std::string> expected;  // each must appear in its log
};

// `mode: single`: a script that returns is done; one that fails is retried with backoff
// until its error budget (low priority: 5) stops it.
const std::vector<Hostile>& Corpus() {
  static const std::vector<Hostile> corpus = {
      {"proto", R"JS(
        for (const n of ['key', 'value', 'versionstamp', 'ok', 'json', 'errorClass', 'message', 'name', 'stack',
                         'rss', 'heapUsed', 'heapTotal', 'external', 'arrayBuffers', 'then', 'id', 'markets', 'done'])
          Object.defineProperty(Object.prototype, n, { __proto__: null, set() { throw 0; }, configurable: true });
        Object.defineProperty(Array.prototype, '0', { __proto__: null, set() { throw 0; }, configurable: true });
        await Stels.local.set(['mine', 'a'], { x: 1 });
        const got = await Stels.local.get(['mine', 'a']);
        for await (const e of Stels.local.list({ prefix: ['mine'] })) {}
        const c = await Stels.local.atomic().check({ key: ['mine', 'a'], versionstamp: null }).set(['mine', 'a'], 2).commit();
        Deno.memoryUsage(); Deno.loadavg();
        try { await new Stels.runtime.cex.bybit().fetchTicker('BTC/USDT'); } catch (_) {}
        logger.info('H:proto survived ' + got.value.x + ' ' + c.ok);
      )JS", {"H:proto survived 1 false"}},
      {"recursion", "const f = (n) => f(n + 1) + 1;\nf(0);",
       {"error: RangeError: Maximum call stack size exceeded"}},
      {"heap", "const hoard = [];\nwhile (true) hoard.push(new Array(100000).fill(7));",
       {"error: RangeError: heap limit of 128 MB exceeded; the worker's isolate was discarded"}},
      {"stringify", "const s = 'y'.repeat(2 ** 27);\nlogger.info(JSON.stringify(s).length);",
       {"error: RangeError: heap limit of 128 MB exceeded; the worker's isolate was discarded"}},
      {"arraybuffer", "const hoard = [];\nhoard.push(new ArrayBuffer(512 * 1024 * 1024));",
       {"error: RangeError: Array buffer allocation failed"}},
      {"bigline", "logger.info('x'.repeat(64 * 1024 * 1024));\nlogger.info('H:bigline done');",
       {std::to_string((64 << 20) - (16 << 10)) + " bytes dropped: limits.max_log_line is 16384]", "H:bigline done"}},
      {"bigvalue", "await Stels.net.set(['big'], 'x'.repeat(1024 * 1024));",
       {"error: TypeError: set: the value is 1048578 bytes of JSON; the limit is 65536"}},
      {"forever", "await new Promise(() => {});", {}},
      {"atomics", "Atomics.wait(new Int32Array(new SharedArrayBuffer(16)), 0, 0);",
       {"error: TypeError: Atomics.wait cannot be called in this context"}},
      {"ami", R"JS(
        let seen = 0;
        for await (const e of Stels.local.list({ prefix: [] })) if (e.key[0] === 'ami') seen++;
        for await (const e of Stels.net.list({ prefix: [] })) if (e.key[0] === 'ami') seen++;
        logger.info('H:ami seen ' + seen);
        try { await Stels.local.get(['ami', 'worker']); } catch (e) { logger.info('H:ami get ' + e.name); }
        try { await Stels.net.set(['ami', 'leader', 'x'], { term: 1e300 }); } catch (e) { logger.info('H:ami leader ' + e.name); }
        await Stels.local.set(['ami', 'worker', 'evil'], { script: 'evil', accountId: 'g-bhts' });
      )JS", {"H:ami seen 0", "H:ami get TypeError", "H:ami leader TypeError",
             "error: TypeError: set: key [\"ami\",\"worker\",\"evil\"] is refused: the [\"ami\",…] keyspace is reserved for the runtime"}},
      {"ccxt", R"JS(
        const ex = new Stels.runtime.cex.bybit();
        try { await ex.createOrder('BTC/USDT', 'limit', 'sideways', 1, 100); } catch (e) { logger.info('H:ccxt side ' + e.name); }
        try { await ex.fetchTicker('x'.repeat(2 * 1024 * 1024)); } catch (e) { logger.info('H:ccxt huge ' + e.name); }
        await ex.createOrder('BTC/USDT', 'limit', 'buy', -5, 100);
      )JS", {"H:ccxt side InvalidOrder", "H:ccxt huge TypeError",
             "error: InvalidOrder: bybit: order amount must be a positive number, got -5"}},
      {"timers", "const all = [];\nfor (let i = 0; i < 2000; i++) all[i] = Stels.sleep(3600000);\nawait Promise.all(all);",
       {"error: RangeError: too many pending timers: 1000 (limits.max_timers)"}},
      {"flood", R"JS(
        for (let i = 0; i < 20000; i++) logger.info('flood ' + i);
        await Stels.sleep(1100);
        logger.info('H:flood done');
      )JS", {"log lines dropped (more than 200 a second, limits.max_log_lines_per_sec)", "H:flood done"}},
      {"forge", R"JS(logger.info('H:forge\n[2026-01-01T00:00:00.000Z] [ERROR] forged line\r\x1b[2J');)JS",
       {"H:forge\\n[2026-01-01T00:00:00.000Z] [ERROR] forged line\\r\\x1b[2J"}},
  };
  return corpus;
}

std::string Indent(const std::string& script) {
  std::string out = "      ";
  for (char c : script) {
    out += c;
    if (c == '\n') out += "      ";
  }
  return out;
}

}  // namespace

TEST_CASE("a node survives a corpus of hostile scripts beside a healthy critical worker", "[hostile][amid]") {
  TempDir dir;
  std::string yaml =
      "node: { id: s-0001, data_dir: ./data }\n"
      "limits: { heap: 128MB, stop_grace: 1s }\n"
      "plugins: { dirs: [\"" + (BinaryDir() / "plugins").string() + "\"] }\n"
      "exchanges:\n"
      "  bybit: { connector: paper }\n"
      "accounts:\n"
      "  g-bhts: { exchange: bybit }\n"
      "workers:\n"
      "  - name: healthy\n"
      "    priority: critical\n"
      "    script: |\n"
      "      globalThis.n = (globalThis.n || 0) + 1;\n"
      "      logger.info('heartbeat ' + n);\n"
      "      await Stels.sleep(20);\n";
  for (const Hostile& h : Corpus()) {
    yaml += "  - name: h-" + h.tag + "\n    priority: low\n    mode: single\n    script: |\n";
    yaml += "      logger.info('H:" + h.tag + "');\n" + Indent(h.script) + "\n";
  }
  WriteFile(dir / "node.yaml", yaml);
  const fs::path data = dir / "data";

  ChildProcess amid(Amid(), {"--config", (dir / "node.yaml").string()}, dir / "amid.out");
  std::atomic<bool> sampling{true};
  std::atomic<uint64_t> max_rss{0};
  std::thread sampler([&] {
    while (sampling) {
      max_rss = std::max<uint64_t>(max_rss, RssBytes(amid.pid()));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  struct StopSampler {
    std::atomic<bool>& flag;
    std::thread& thread;
    ~StopSampler() {
      flag = false;
      if (thread.joinable()) thread.join();
    }
  } stop_sampler{sampling, sampler};

  REQUIRE(Eventually([&] { return Heartbeats(data) >= 5; }, std::chrono::seconds(60)));
  const long before = Heartbeats(data);

  for (const Hostile& h : Corpus()) {
    INFO("hostile worker h-" << h.tag);
    REQUIRE(Eventually([&] { return !LogWith(data, "H:" + h.tag).empty(); }, std::chrono::seconds(60)));
    for (const std::string& text : h.expected) {
      INFO("expected: " << text);
      CHECK(Eventually([&] { return LogWith(data, "H:" + h.tag).find(text) != std::string::npos; },
                       std::chrono::seconds(60)));
    }
    CHECK(amid.Running());
  }
  // A forged line never starts a line of its own, in the worker's file or in node.log.
  CHECK(LogWith(data, "H:forge").find("\n[2026-01-01T00:00:00.000Z] [ERROR] forged") == std::string::npos);
  CHECK(ReadFile(data / "logs" / "node.log").find("\n[2026-01-01T00:00:00.000Z] [ERROR] forged") == std::string::npos);

  // The healthy worker kept iterating through the corpus, and keeps going after it.
  const long during = Heartbeats(data);
  CHECK(during > before);
  CHECK(Eventually([&] { return Heartbeats(data) > during + 10; }, std::chrono::seconds(60)));
  REQUIRE(amid.Running());
  const uint64_t rss = max_rss.load();
  INFO("max RSS of amid: " << (rss >> 20) << " MB");
  CHECK(rss > 0);
  CHECK(rss < (1536ull << 20));
  WARN("hostile corpus: amid max RSS " << (rss >> 20) << " MB; heartbeats " << before << " -> " << during << " -> "
                                      << Heartbeats(data));

  amid.Signal(SIGTERM);
  CHECK(amid.Wait(std::chrono::seconds(60)) == 0);
  INFO(amid.Output());

  // The ["ami", …] keyspace holds the declared workers' records and nothing a script wrote.
  auto store = ami::kv::Store::Open(data / "node.db", ami::kv::StoreOptions{"s-0001"});
  REQUIRE(store.ok());
  size_t workers = 0;
  for (auto space : {ami::kv::Space::kLocal, ami::kv::Space::kNetwork}) {
    ami::kv::ListOptions all;
    all.prefix = ami::kv::MakeKey({"ami"});
    auto entries = (*store)->List(space, all);
    REQUIRE(entries.ok());
    for (const auto& e : *entries) {
      INFO(ami::kv::KeyToString(e.key));
      CHECK(e.value.rfind("{\"script\":\"evil\"", 0) == std::string::npos);   // what h-ami tried to write
      CHECK(e.key != ami::kv::MakeKey({"ami", "worker", "evil"}));
      CHECK(e.key.at(1).text != "leader");
      if (e.key.at(1).text == "worker") ++workers;
    }
  }
  CHECK(workers == Corpus().size() + 1);
}
