// Templates and exchange calls from JavaScript.
//
// (a) template start: LocalNode::CreateFromTemplate of an active worker from a template
//     until its first iteration has settled (the stats registry shows executions >= 1,
//     polled every --poll-us from the bench thread, steady_clock). That includes
//     RecordFromTemplate, the syntax check, the durable store commit, the node actor
//     reconciling, the worker actor spawn, the run-slot grant, isolate creation, script
//     load and the first call with what it awaits: "empty" logs two lines,
//     "health-check" writes one Stels.net key, "market-monitor" makes three fetchTicker
//     calls on the paper exchange (connector pool round trips) and three net writes.
//     After each sample the worker is deleted and the bench waits until the node runs no
//     worker, so samples do not overlap.
// (b) order round trips: one single-mode worker runs --orders iterations of
//     createOrder (limit buy far below the price, so it rests) + cancelOrder on the paper
//     exchange (in memory, no state file: data_dir is not used for paper here because
//     each call would otherwise rewrite the state file — that variant is measured too
//     with --persist=1). Timed inside JS (Date.now around the loop) and from outside
//     (PutWorker to the result key appearing).
//
// Usage: bench_templates [--runs=20] [--orders=2000] [--persist=0] [--poll-us=100]
// The template pack and the paper plugin are found in <dir of this program>/../plugins
// (a build tree), or in $AMI_PLUGIN_DIR.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "bench/bench_util.h"

using namespace ami;
using namespace ami::bench;

namespace {

std::filesystem::path PluginDir() {
  if (const char* env = std::getenv("AMI_PLUGIN_DIR"); env && *env) return env;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) Die("cannot find this program's path; set AMI_PLUGIN_DIR");
  return (exe.parent_path().parent_path() / "plugins").lexically_normal();
}

std::string NodeYaml(bool persist) {
  // A paper exchange without a data_dir keeps its state in memory only.
  const std::string data_dir = persist ? "" : ", data_dir: \"\"";
  return "limits: { stop_grace: 1s }\n"
         "plugins: { dirs: [\"" + PluginDir().string() + "\"] }\n"
         "exchanges:\n"
         "  bybit: { connector: paper" + data_dir + " }\n"
         "accounts:\n"
         "  bench: { exchange: bybit, api_key: K, secret: S }\n";
}

void WaitNoWorkers(BenchNode& node) {
  if (!WaitFor([&] { return node->RunningWorkers() == 0; }, std::chrono::seconds(30)))
    Die("workers did not stop");
}

Summary TemplateStart(BenchNode& node, const std::string& id, int runs, int warmup, int poll_us) {
  std::vector<double> samples;
  for (int i = 0; i < warmup + runs; ++i) {
    TemplateOverrides o;
    o.active = true;
    o.account_id = "bench";
    const auto t0 = Clock::now();
    auto record = node->CreateFromTemplate(id, o);
    if (!record.ok()) Die("CreateFromTemplate " + id + ": " + record.status().message());
    bool first = WaitFor([&] {
      auto s = node.Stats(record->sid);
      return s && s->executions >= 1;
    }, std::chrono::seconds(30), std::chrono::microseconds(poll_us));
    const double ms = MsSince(t0);
    if (!first) Die(id + ": the first iteration did not finish within 30 s");
    auto s = node.Stats(record->sid);
    if (s->errors != 0) Die(id + ": the first iteration failed: " + s->last_error.value_or("?"));
    if (i >= warmup) samples.push_back(ms);
    Status deleted = node->DeleteWorker(record->sid);
    if (!deleted.ok()) Die("DeleteWorker: " + deleted.message());
    WaitNoWorkers(node);
  }
  return Summarize(samples);
}

struct OrderRun {
  int n = 0;
  double js_ms = 0;       // inside JS, Date.now around the loop
  double outside_ms = 0;  // PutWorker -> result visible
};

OrderRun OrderRoundTrips(BenchNode& node, int n) {
  const std::string key = "orders-" + std::to_string(WallMillis());
  const std::string script =
      "const ex = new Stels.runtime.cex.bybit();\n"
      "const N = " + std::to_string(n) + ";\n"
      "const price = Math.round((await ex.fetchTicker('BTC/USDT')).last * 0.5);\n"
      "const t0 = Date.now();\n"
      "for (let i = 0; i < N; i++) {\n"
      "  const o = await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, price);\n"
      "  await ex.cancelOrder(o.id, 'BTC/USDT');\n"
      "}\n"
      "const ms = Date.now() - t0;\n"
      "const open = (await ex.fetchOpenOrders('BTC/USDT')).length;\n"
      "await Stels.local.set(['" + key + "'], { n: N, ms, open });\n";
  WorkerRecord record = BenchNode::MakeRecord(script, Priority::kNormal, WorkerMode::kSingle);
  record.account_id = "bench";
  const auto t0 = Clock::now();
  node.Put(record);
  std::optional<json> result;
  if (!WaitFor([&] { return (result = node.Get(kv::MakeKey({key}))).has_value(); }, std::chrono::minutes(10),
               std::chrono::microseconds(200))) {
    auto s = node.Stats(record.sid);
    Die("the order loop did not finish: " + (s ? s->last_error.value_or("no error") : std::string("no stats")));
  }
  OrderRun run;
  run.outside_ms = MsSince(t0);
  run.n = (*result)["n"].get<int>();
  run.js_ms = (*result)["ms"].get<double>();
  if ((*result)["open"].get<int>() != 0) Die("orders left open after cancelOrder");
  node->DeleteWorker(record.sid);
  WaitNoWorkers(node);
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv, "usage: bench_templates [--runs=20] [--warmup=2] [--orders=2000] [--persist=0] [--poll-us=100]");
  const int runs = args.Int("runs", 20);
  const int warmup = args.Int("warmup", 2);
  const int orders = args.Int("orders", 2000);
  const bool persist = args.Int("persist", 0) != 0;
  const int poll_us = args.Int("poll-us", 100);
  args.CheckKnown({"runs", "warmup", "orders", "persist", "poll-us"});
  if (runs < 1 || orders < 1) Die("--runs and --orders must be at least 1");

  PrintMachine();
  BenchNode node(NodeYaml(persist));
  if (node->Templates().empty()) Die("no templates loaded from " + PluginDir().string());
  std::printf("node %s, %d run slots, %zu templates from %s, paper state %s\n", kNodeId, node->run_slots(),
              node->Templates().size(), PluginDir().c_str(), persist ? "persisted to a file" : "in memory");

  json result;
  result["bench"] = "templates";
  json starts = json::object();
  std::printf("(a) CreateFromTemplate -> first iteration done (%d runs after %d warm-up):\n", runs, warmup);
  for (const char* id : {"empty", "health-check", "market-monitor"}) {
    Summary s = TemplateStart(node, id, runs, warmup, poll_us);
    PrintSummary(id, s);
    starts[id] = ToJson(s);
  }
  result["template_start_ms"] = starts;

  std::printf("(b) createOrder + cancelOrder round trips from one JS worker (%d pairs):\n", orders);
  OrderRun run = OrderRoundTrips(node, orders);
  const double per_s_js = run.js_ms > 0 ? run.n / (run.js_ms / 1000.0) : 0;
  const double per_s_outside = run.n / (run.outside_ms / 1000.0);
  std::printf("  %d pairs in %.0f ms (JS clock): %.0f pairs/s, %.3f ms per pair (%.3f ms per call)\n", run.n,
              run.js_ms, per_s_js, run.js_ms / run.n, run.js_ms / run.n / 2);
  std::printf("  from outside (PutWorker -> result, incl. start and 2 extra calls): %.0f ms, %.0f pairs/s\n",
              run.outside_ms, per_s_outside);
  result["order_round_trips"] = {{"pairs", run.n},
                                 {"persist", persist},
                                 {"js_ms", run.js_ms},
                                 {"pairs_per_s_js", Round(per_s_js, 1)},
                                 {"ms_per_pair_js", Round(run.js_ms / run.n, 4)},
                                 {"outside_ms", Round(run.outside_ms, 1)},
                                 {"pairs_per_s_outside", Round(per_s_outside, 1)}};
  result["machine"] = MachineJson();
  node.Shutdown();
  PrintResult(result);
  return 0;
}
