// The bybit connector under load, against its loopback mock (tests/exchanges/mock_bybit.h,
// linked in: a real HTTP/WebSocket server on 127.0.0.1, signatures checked, Bybit's
// per-second limits enforced).
//
// (1) Requests. 50 single-mode workers on an in-process node (LocalNode, what amid runs;
//     the connector is bybit.so loaded from the plugin directory, its calls go through
//     the exchange's bulkhead) share one connector and loop on
//     `Stels.runtime.cex.bybit` fetchTicker, then on a createOrder + cancelOrder pair,
//     for --seconds each after a common start (a KV key), timing every call with
//     Date.now() (1 ms resolution) and counting errors by class. The same loads run
//     straight on the connector core (ami_bybit_core linked in, 50 threads,
//     steady_clock), with Bybit's published limits and with the connector's limiter
//     lifted (and the mock's limits off) to show what the host and the limiter cost.
//     One paced caller (a call every --pace-ms, below every limit) gives the unloaded
//     latency of each path. Connections opened: distinct client ports seen talking to
//     the mock's port in /proc/net/tcp (TIME_WAIT entries keep closed ones visible), and
//     for the core the HTTP client's own count. The limiter's waits/refusals are read
//     from the core's limiter; inside bybit.so they are not reachable, so the workers'
//     RateLimitExceeded errors are the refusals there.
// (2) Order book delay. The bench pushes bybit orderbook deltas for BTCUSDT at --rate
//     per second (absolute schedule); each carries the mock's send time `ts`, which the
//     connector keeps as the book's `timestamp`. A worker loops on watchOrderBook and
//     records Date.now() - book.timestamp (1 ms resolution); in-process, a thread loops
//     on CallAsync(watchOrderBook) and records steady_clock from the push to its wake-up
//     (the update is found by the book's nonce, Bybit's `u`). watchOrderBook answers with
//     the newest book, so updates arriving while the caller is busy are folded: "seen"
//     counts answers, "covered" the updates the answers span.
//
// (3) Paper round trips (--paper=1: only these; --paper=2: these, then the rest): the paper connector through
//     the node — createOrder + cancelOrder pairs from 1 and from --paper-workers JS
//     workers for --paper-seconds, with the paper state in memory and in its journal
//     (data_dir set: every answer waits for the fsync holding its change) — and the same
//     pairs straight on the connector from 1 and 4 threads (no host) for its own cost.
//     The 1-worker memory row is the loop bench_templates (b) runs, so an older build's
//     bench_templates gives the "before" figure.
//
// Usage: bench_exchange [--workers=50] [--seconds=10] [--order-seconds=20] [--paced-seconds=5]
//                       [--pace-ms=20] [--rate=1000] [--book-seconds=10] [--threads=2]
//                       [--paper=0|1|2] [--paper-workers=8] [--paper-seconds=5]
// (--order-seconds: the createOrder + cancelOrder runs, longer because under Bybit's
// order limits a pair from one of 50 callers takes seconds.)
// (--threads: the exchange's bulkhead threads on the node, `exchanges.bybit.threads`.)
// Plugins come from <dir of this program>/../plugins (a build tree) or $AMI_PLUGIN_DIR.
// (Over 600 lines: the three parts share one node/worker harness and one results table.)
#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>

#include "bench/bench_util.h"
#include "plugins/loader.h"
#include "bybit_connector.h"
#include "bybit_options.h"
#include "bybit_streams.h"
#include "tests/exchanges/mock_bybit.h"

using namespace ami;
using namespace ami::bench;
using MockBybit = ami::test::bybit::MockBybit;
namespace bybit = ami::exchanges::bybit;

namespace {

constexpr const char* kKey = "test-key";   // the mock's default account
constexpr const char* kSecret = "test-secret";

std::filesystem::path PluginDir() {
  if (const char* env = std::getenv("AMI_PLUGIN_DIR"); env && *env) return env;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) Die("cannot find this program's path; set AMI_PLUGIN_DIR");
  return (exe.parent_path().parent_path() / "plugins").lexically_normal();
}

// ---- connections: every TCP connection to the mock, seen from /proc/net/tcp -----------
// A connection is its client (ephemeral) port; closed ones stay listed in TIME_WAIT for a
// minute, so sampling every 100 ms misses none.
class ConnectionWatch {
 public:
  explicit ConnectionWatch(uint16_t port) : port_(port), thread_([this] { Loop(); }) {}
  ~ConnectionWatch() {
    stop_ = true;
    thread_.join();
  }
  std::set<uint32_t> Seen() {
    Sample();
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  static int NewSince(const std::set<uint32_t>& before, const std::set<uint32_t>& after) {
    int n = 0;
    for (uint32_t p : after) n += before.count(p) ? 0 : 1;
    return n;
  }

 private:
  void Loop() {
    while (!stop_) {
      Sample();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  void Sample() {
    std::ifstream in("/proc/net/tcp");
    std::string line;
    std::getline(in, line);  // the header
    std::vector<uint32_t> found;
    auto port_of = [](const std::string& addr) -> uint32_t {
      const auto colon = addr.find(':');
      return colon == std::string::npos ? 0 : static_cast<uint32_t>(std::stoul(addr.substr(colon + 1), nullptr, 16));
    };
    while (std::getline(in, line)) {
      std::istringstream ss(line);
      std::string slot, local, remote, state;
      ss >> slot >> local >> remote >> state;
      if (state == "0A") continue;  // LISTEN
      const uint32_t lp = port_of(local), rp = port_of(remote);
      if (rp == port_) found.push_back(lp);
      else if (lp == port_) found.push_back(rp);
    }
    std::lock_guard<std::mutex> lock(mu_);
    seen_.insert(found.begin(), found.end());
  }

  uint32_t port_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::set<uint32_t> seen_;
  std::thread thread_;  // last: starts after the rest is built
};

// ---- what one load gives -------------------------------------------------------------
struct Load {
  std::string path, what;    // "node (JS)" / "core", "fetchTicker"
  int callers = 0;
  double seconds = 0;
  std::vector<double> ms;    // latency of each call (pair) finished within the window
  std::map<std::string, uint64_t> errors;
  int connections = -1;      // opened during the load (-1: not known)
  std::string limiter;       // "waits/refusals" or why not known
  json extra = json::object();

  double PerSecond() const { return seconds > 0 ? static_cast<double>(ms.size()) / seconds : 0; }
  std::string ErrorsText() const {
    if (errors.empty()) return "0";
    std::string s;
    for (const auto& [cls, n] : errors) s += (s.empty() ? "" : " ") + cls + ":" + std::to_string(n);
    return s;
  }
  json ToJsonRow() const {
    json j = {{"path", path},          {"what", what},         {"callers", callers},
              {"seconds", seconds},    {"per_s", Round(PerSecond(), 1)},
              {"ms", ToJson(Summarize(ms))}, {"errors", errors}, {"connections", connections},
              {"limiter", limiter}};
    j.update(extra);
    return j;
  }
};

void PrintLoad(const Load& l) {
  const Summary s = Summarize(l.ms);
  std::printf("  %-10s %-22s x%-3d %8.1f/s  p50 %8.2f  p99 %8.2f  max %8.2f ms  errors %s  conns %d  limiter %s\n",
              l.path.c_str(), l.what.c_str(), l.callers, l.PerSecond(), s.p50, s.p99, s.max, l.ErrorsText().c_str(),
              l.connections, l.limiter.c_str());
  std::fflush(stdout);
}

// ---- (1) node: 50 workers through the bulkhead and the JS binding ----------------------
const char* kTickerOp = "await ex.fetchTicker('BTC/USDT');";
// Far below the price: the order rests until it is cancelled.
const char* kPairOp =
    "const o = await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 30000);\n"
    "  await ex.cancelOrder(o.id, 'BTC/USDT');";

// A worker that warms up (markets loaded, one connection made), says it is up, waits for
// the common start, runs `op` in a loop until the end and writes what it saw.
std::string LoadScript(const std::string& tag, const std::string& op, int pace_ms) {
  return "const ex = new Stels.runtime.cex.bybit();\n"
         "const tag = '" + tag + "';\n"
         "await ex.fetchTicker('BTC/USDT');\n"
         "await Stels.local.set([tag, 'up', Stels.sid], 1);\n"
         "let go = null;\n"
         "while (!(go = (await Stels.local.get([tag, 'go'])).value)) await Stels.sleep(50);\n"
         "while (Date.now() < go.start) await Stels.sleep(Math.max(0, go.start - Date.now()));\n"
         "const hist = {}, errors = {};\n"
         "let n = 0;\n"
         "while (Date.now() < go.end) {\n"
         "  const t0 = Date.now();\n"
         "  try {\n  " + op + "\n"
         "    const t1 = Date.now();\n"
         "    if (t1 <= go.end) { n++; hist[t1 - t0] = (hist[t1 - t0] || 0) + 1; }\n"
         "  } catch (e) { errors[e.name] = (errors[e.name] || 0) + 1; }\n" +
         (pace_ms > 0 ? "  await Stels.sleep(" + std::to_string(pace_ms) + ");\n" : std::string()) +
         "}\n"
         "await Stels.local.set([tag, 'res', Stels.sid], { n, hist, errors });\n";
}

void SetKey(BenchNode& node, const kv::Key& key, const json& value) {
  kv::Request put;
  put.op = kv::Request::Op::kCommit;
  put.space = kv::Space::kLocal;
  put.mutations.push_back({kv::Mutation::Kind::kSet, key, value.dump(), std::nullopt});
  auto reply = node->Kv(std::move(put));
  if (!reply.ok()) Die("Kv set: " + reply.status().message());
}

// A script's {"<ms>": count} histogram as samples.
void AddHistogram(const json& hist, std::vector<double>& out) {
  for (const auto& [ms, n] : hist.items()) out.insert(out.end(), n.get<size_t>(), std::stod(ms));
}

std::string WorkerErrors(BenchNode& node, const std::vector<std::string>& sids) {
  for (const auto& sid : sids) {
    auto s = node.Stats(sid);
    if (s && s->last_error) return sid + ": " + *s->last_error;
  }
  return "no worker error";
}

// Puts `workers` workers running `script(tag)`, waits until all are up, sets the start
// `lead_ms` ahead and the end `seconds` later, then collects their results.
std::vector<json> RunWorkers(BenchNode& node, const std::string& tag, int workers, double seconds,
                             const std::function<std::string(const std::string&)>& script,
                             const std::function<void(int64_t start, int64_t end)>& while_running = nullptr) {
  std::vector<std::string> sids;
  for (int i = 0; i < workers; ++i) {
    WorkerRecord record = BenchNode::MakeRecord(script(tag), Priority::kNormal, WorkerMode::kSingle);
    record.account_id = "bench";
    node.Put(record);
    sids.push_back(record.sid);
  }
  if (!WaitFor([&] { return static_cast<int>(node.List(kv::MakeKey({tag, "up"})).size()) == workers; },
               std::chrono::seconds(120), std::chrono::milliseconds(20)))
    Die(tag + ": the workers did not come up: " + WorkerErrors(node, sids));
  const int64_t start = WallMillis() + 300;
  const int64_t end = start + static_cast<int64_t>(seconds * 1000);
  SetKey(node, kv::MakeKey({tag, "go"}), {{"start", start}, {"end", end}});
  if (while_running) while_running(start, end);
  if (!WaitFor([&] { return static_cast<int>(node.List(kv::MakeKey({tag, "res"})).size()) == workers; },
               std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000) + 120000),
               std::chrono::milliseconds(20)))
    Die(tag + ": the workers did not finish: " + WorkerErrors(node, sids));
  std::vector<json> results;
  for (const auto& e : node.List(kv::MakeKey({tag, "res"}))) results.push_back(json::parse(e.value));
  for (const auto& sid : sids) node->DeleteWorker(sid);
  if (!WaitFor([&] { return node->RunningWorkers() == 0; }, std::chrono::seconds(30))) Die("workers did not stop");
  return results;
}

Load NodeLoad(BenchNode& node, ConnectionWatch& conns, const std::string& tag, const std::string& what,
              const std::string& op, int workers, double seconds, int pace_ms) {
  Load l;
  l.path = "node (JS)";
  l.what = what;
  l.callers = workers;
  l.seconds = seconds;
  const auto before = conns.Seen();
  for (const json& r : RunWorkers(node, tag, workers, seconds, [&](const std::string& t) { return LoadScript(t, op, pace_ms); })) {
    AddHistogram(r["hist"], l.ms);
    for (const auto& [cls, n] : r["errors"].items()) l.errors[cls] += n.get<uint64_t>();
  }
  l.connections = ConnectionWatch::NewSince(before, conns.Seen());
  l.limiter = "in bybit.so";
  return l;
}

// ---- (1) core: the same loads on the connector, no host ------------------------------
plugin::CallContext Ctx(const std::string& sid) {
  plugin::CallContext ctx;
  ctx.worker_sid = sid;
  ctx.account_id = "bench";
  ctx.credentials = {kKey, kSecret};
  return ctx;
}

std::unique_ptr<bybit::BybitConnector> MakeConnector(const MockBybit& mock) {
  bybit::BybitOptions o;
  std::string error;
  const json opts = {{"exchange_id", "bybit"}, {"base_url", mock.base_url()}, {"ws_url", mock.ws_url()}};
  if (!bybit::ParseOptions(opts, o, error)) Die("bybit options: " + error);
  return std::make_unique<bybit::BybitConnector>(o);
}

// Makes the connector's limiter let everything through (for the "limiter lifted" runs).
void LiftLimiter(bybit::BybitConnector& c) {
  const plugin::net::RateLimiter::Bucket open{1e12, std::chrono::milliseconds(1000)};
  auto& limiter = c.rest().limiter();
  limiter.Define("ip", open);
  for (const char* path : {"v5/order/create", "v5/order/cancel"}) {
    bybit::RestRequest r;
    r.api = "private";
    r.path = path;
    r.category = "spot";
    limiter.Define(c.rest().AccountBucket(r, {kKey, kSecret}), open);   // declared here, then opened
  }
}

Load CoreLoad(bybit::BybitConnector& c, MockBybit& mock, const std::string& tag, const std::string& what, bool pairs,
              int threads, double seconds, int pace_ms) {
  Load l;
  l.path = "core";
  l.what = what;
  l.callers = threads;
  l.seconds = seconds;
  auto& limiter = c.rest().limiter();
  const uint64_t waits0 = limiter.waits(), refusals0 = limiter.refusals(), conns0 = c.rest().connections_opened();
  const uint64_t sent0 = c.rest().requests_sent();
  const int violations0 = mock.LimitViolations();
  ConnectionWatch conns(mock.port());
  const auto before = conns.Seen();
  std::mutex mu;
  const auto start = Clock::now() + std::chrono::milliseconds(100);
  const auto end = start + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      const auto ctx = Ctx(tag + "-" + std::to_string(t));
      std::vector<double> mine;
      std::map<std::string, uint64_t> errors;
      auto fail = [&](const plugin::CallResult& r) { ++errors[r.error_class]; };
      std::this_thread::sleep_until(start);
      for (int k = 0; Clock::now() < end; ++k) {
        const auto t0 = Clock::now();
        if (!pairs) {
          auto r = c.Call(ctx, "fetchTicker", R"(["BTC/USDT"])");
          if (!r.ok) fail(r);
          else if (Clock::now() <= end) mine.push_back(MsSince(t0));
        } else {
          const json args = {"BTC/USDT", "limit", "buy", 0.001, 30000,
                             {{"clientOrderId", tag + "-" + std::to_string(t) + "-" + std::to_string(k)}}};
          auto r = c.Call(ctx, "createOrder", args.dump());
          if (!r.ok) {
            fail(r);
          } else {
            const json cancel = {json::parse(r.json)["id"], "BTC/USDT"};
            auto rc = c.Call(ctx, "cancelOrder", cancel.dump());
            if (!rc.ok) fail(rc);
            else if (Clock::now() <= end) mine.push_back(MsSince(t0));
          }
        }
        if (pace_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pace_ms));
      }
      std::lock_guard<std::mutex> lock(mu);
      l.ms.insert(l.ms.end(), mine.begin(), mine.end());
      for (const auto& [cls, n] : errors) l.errors[cls] += n;
    });
  for (auto& th : pool) th.join();
  // The HTTP client's own count; the TCP table undercounts when thousands of connections
  // churn (ports are reused while earlier ones are still listed).
  l.connections = static_cast<int>(c.rest().connections_opened() - conns0);
  l.limiter = std::to_string(limiter.waits() - waits0) + "/" + std::to_string(limiter.refusals() - refusals0);
  l.extra = {{"tcp_ports_seen", ConnectionWatch::NewSince(before, conns.Seen())},
             {"requests_sent", c.rest().requests_sent() - sent0},
             {"mock_limit_violations", mock.LimitViolations() - violations0}};
  return l;
}

// ---- (2) order book deltas at a fixed rate ---------------------------------------------
// Pushes BTCUSDT spot deltas on an absolute schedule (falling more than 10 ms behind
// restarts it rather than bursting). push_ns[k] is when the k-th push (1-based) started,
// so the book with nonce u0 + k carries it.
class BookPusher {
 public:
  BookPusher(MockBybit& mock, int rate, size_t max_pushes) : mock_(mock), rate_(rate), push_ns_(max_pushes + 1) {}
  ~BookPusher() { Stop(); }
  void Start() {
    thread_ = std::thread([this] {
      const auto period = std::chrono::nanoseconds(1000000000LL / rate_);
      auto next = Clock::now();
      started_ = Clock::now();
      while (!stop_ && count_ + 1 < push_ns_.size()) {
        next += period;
        const auto now = Clock::now();
        if (now > next + std::chrono::milliseconds(10)) next = now;
        std::this_thread::sleep_until(next);
        const size_t k = count_ + 1;
        push_ns_[k] = Clock::now().time_since_epoch().count();
        mock_.PushBookDelta("spot", "BTCUSDT");
        count_ = k;
      }
      stopped_ = Clock::now();
    });
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  size_t count() const { return count_.load(); }
  bool finished() const { return count_ + 1 >= push_ns_.size(); }
  int64_t PushedAt(size_t k) const { return k < push_ns_.size() ? push_ns_[k].load() : 0; }
  double AchievedRate() const {
    const double s = std::chrono::duration<double>(stopped_ - started_).count();
    return s > 0 ? static_cast<double>(count_) / s : 0;
  }

 private:
  MockBybit& mock_;
  int rate_;
  std::vector<std::atomic<int64_t>> push_ns_;
  std::atomic<size_t> count_{0};
  std::atomic<bool> stop_{false};
  Clock::time_point started_, stopped_;
  std::thread thread_;
};

std::string BookScript(const std::string& tag) {
  return "const ex = new Stels.runtime.cex.bybit();\n"
         "const tag = '" + tag + "';\n"
         "let b = await ex.watchOrderBook('BTC/USDT');\n"
         "await Stels.local.set([tag, 'up', Stels.sid], 1);\n"
         "let go = null;\n"
         "while (!(go = (await Stels.local.get([tag, 'go'])).value)) await Stels.sleep(10);\n"
         "const hist = {};\n"
         "let n = 0, first = 0, last = 0, back = 0;\n"
         "while (Date.now() < go.end) {\n"
         "  b = await ex.watchOrderBook('BTC/USDT');\n"
         "  const now = Date.now();\n"
         "  if (now < go.start) continue;\n"
         "  const d = now - b.timestamp;\n"
         "  hist[d] = (hist[d] || 0) + 1; n++;\n"
         "  if (!first) first = b.nonce;\n"
         "  if (b.nonce < last) back++;\n"
         "  last = b.nonce;\n"
         "}\n"
         "await Stels.local.set([tag, 'res', Stels.sid], { n, hist, first, last, back });\n";
}

struct BookRun {
  std::string path;
  std::vector<double> ms;
  uint64_t seen = 0, covered = 0, back = 0, errors = 0;
  double pushed_per_s = 0;
  int sockets = 0;   // WebSocket connections the mock accepted for the spot stream
  json ToJsonRow() const {
    return {{"path", path},       {"delay_ms", ToJson(Summarize(ms))}, {"seen", seen}, {"covered", covered},
            {"nonce_back", back}, {"errors", errors},                  {"pushed_per_s", Round(pushed_per_s, 1)},
            {"sockets", sockets}};
  }
};

void PrintBook(const BookRun& b) {
  const Summary s = Summarize(b.ms);
  std::printf("  %-10s delay p50 %7.3f  p90 %7.3f  p99 %7.3f  max %8.3f ms; %llu answers for %llu updates (%.0f%%), "
              "pushed %.0f/s, errors %llu, sockets %d\n",
              b.path.c_str(), s.p50, s.p90, s.p99, s.max, static_cast<unsigned long long>(b.seen),
              static_cast<unsigned long long>(b.covered), b.covered ? 100.0 * b.seen / b.covered : 0.0,
              b.pushed_per_s, static_cast<unsigned long long>(b.errors), b.sockets);
  std::fflush(stdout);
}

BookRun NodeBook(BenchNode& node, MockBybit& mock, int rate, double seconds) {
  BookRun run;
  run.path = "node (JS)";
  BookPusher pusher(mock, rate, static_cast<size_t>(rate * (seconds + 120)));
  auto results = RunWorkers(node, "book", 1, seconds, BookScript, [&](int64_t, int64_t) { pusher.Start(); });
  pusher.Stop();
  run.pushed_per_s = pusher.AchievedRate();
  const json& r = results.at(0);
  AddHistogram(r["hist"], run.ms);
  run.seen = r["n"].get<uint64_t>();
  run.covered = r["last"].get<uint64_t>() - r["first"].get<uint64_t>() + 1;
  run.back = r["back"].get<uint64_t>();
  run.sockets = mock.StreamConnections("/v5/public/spot");
  return run;
}

BookRun CoreBook(bybit::BybitConnector& c, MockBybit& mock, int rate, double seconds) {
  BookRun run;
  run.path = "core";
  const auto ctx = Ctx("book");
  auto watch = [&] {
    auto promise = std::make_shared<std::promise<plugin::CallResult>>();
    auto future = promise->get_future();
    c.CallAsync(ctx, "watchOrderBook", R"(["BTC/USDT"])", [promise](plugin::CallResult r) { promise->set_value(std::move(r)); });
    return future;
  };
  auto first = watch();
  if (first.wait_for(std::chrono::seconds(10)) != std::future_status::ready) Die("core: no order book snapshot");
  auto snap = first.get();
  if (!snap.ok) Die("core: watchOrderBook: " + snap.error_class + ": " + snap.message);
  const uint64_t u0 = json::parse(snap.json)["nonce"].get<uint64_t>();
  const size_t total = static_cast<size_t>(rate * seconds);
  BookPusher pusher(mock, rate, total);
  pusher.Start();
  uint64_t first_nonce = 0, last_nonce = 0;
  while (true) {
    auto f = watch();
    if (f.wait_for(std::chrono::seconds(2)) != std::future_status::ready) break;   // pushes are over
    const auto r = f.get();
    const int64_t now = Clock::now().time_since_epoch().count();
    if (!r.ok) {
      ++run.errors;
      continue;
    }
    const uint64_t nonce = json::parse(r.json)["nonce"].get<uint64_t>();
    const int64_t pushed = nonce > u0 ? pusher.PushedAt(nonce - u0) : 0;
    if (pushed > 0) run.ms.push_back(static_cast<double>(now - pushed) / 1e6);
    ++run.seen;
    if (!first_nonce) first_nonce = nonce;
    if (nonce < last_nonce) ++run.back;
    last_nonce = nonce;
    if (pusher.finished() && nonce - u0 >= total) break;
  }
  c.CancelWorker("book");
  pusher.Stop();
  run.pushed_per_s = pusher.AchievedRate();
  run.covered = first_nonce ? last_nonce - first_nonce + 1 : 0;
  run.sockets = mock.StreamConnections("/v5/public/spot");
  return run;
}

std::string NodeYaml(const MockBybit& mock, int threads) {
  return "limits: { stop_grace: 1s }\n"
         "plugins: { dirs: [\"" + PluginDir().string() + "\"] }\n"
         "exchanges:\n"
         "  bybit: { connector: bybit, base_url: \"" + mock.base_url() + "\", ws_url: \"" + mock.ws_url() +
         "\", threads: " + std::to_string(threads) + " }\n"
         "accounts:\n"
         "  bench: { exchange: bybit, api_key: " + kKey + ", secret: " + kSecret + " }\n";
}

// ---- (3) paper round trips --------------------------------------------------------------
// The paper exchange is named "bybit" here so the scripts above serve unchanged.
std::string PaperYaml(bool journal, int threads) {
  return "limits: { stop_grace: 1s }\n"
         "plugins: { dirs: [\"" + PluginDir().string() + "\"] }\n"
         "exchanges:\n"
         "  bybit: { connector: paper, threads: " + std::to_string(threads) +
         (journal ? std::string() : std::string(", data_dir: \"\"")) + " }\n"
         "accounts:\n"
         "  bench: { exchange: bybit, api_key: K, secret: S }\n";
}

Load PaperNodeLoad(BenchNode& node, const std::string& tag, const std::string& what, int workers, double seconds) {
  Load l;
  l.path = "node (JS)";
  l.what = what;
  l.callers = workers;
  l.seconds = seconds;
  for (const json& r : RunWorkers(node, tag, workers, seconds, [&](const std::string& t) { return LoadScript(t, kPairOp, 0); })) {
    AddHistogram(r["hist"], l.ms);
    for (const auto& [cls, n] : r["errors"].items()) l.errors[cls] += n.get<uint64_t>();
  }
  l.limiter = "-";
  return l;
}

Load PaperCoreLoad(plugin::ExchangeConnector& c, const std::string& what, int threads, double seconds) {
  Load l;
  l.path = "core";
  l.what = what;
  l.callers = threads;
  l.seconds = seconds;
  l.limiter = "-";
  std::mutex mu;
  const auto end = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      std::vector<double> ms;
      std::map<std::string, uint64_t> errors;
      const auto ctx = Ctx("paper-core-" + std::to_string(t));
      while (Clock::now() < end) {
        const auto t0 = Clock::now();
        auto made = c.Call(ctx, "createOrder", R"(["BTC/USDT","limit","buy",0.001,30000])");
        if (!made.ok) {
          ++errors[made.error_class];
          continue;
        }
        const std::string id = json::parse(made.json)["id"];
        auto cancelled = c.Call(ctx, "cancelOrder", json::array({id, "BTC/USDT"}).dump());
        if (!cancelled.ok) ++errors[cancelled.error_class];
        else if (Clock::now() <= end) ms.push_back(MsSince(t0));
      }
      std::lock_guard<std::mutex> lock(mu);
      l.ms.insert(l.ms.end(), ms.begin(), ms.end());
      for (const auto& [k, v] : errors) l.errors[k] += v;
    });
  for (auto& th : pool) th.join();
  return l;
}

void PaperLoads(int paper_workers, double seconds, int threads, const std::function<void(Load)>& add) {
  for (const bool journal : {false, true}) {
    const std::string state = journal ? "journal" : "memory";
    BenchNode node(PaperYaml(journal, threads));
    std::printf("(3) paper.so through the node, state in %s, bulkhead %d threads, %.0f s each:\n", state.c_str(),
                threads, seconds);
    add(PaperNodeLoad(node, "p1-" + state, "paper pairs, " + state, 1, seconds));
    add(PaperNodeLoad(node, "pn-" + state, "paper pairs, " + state, paper_workers, seconds));
    node.Shutdown();
  }
  TempDir dir;
  auto registry = plugins::LoadPlugins({PluginDir() / "paper.so"});
  for (const bool journal : {false, true}) {
    const std::string state = journal ? "journal" : "memory";
    json options = {{"data_dir", journal ? (dir.path() / state).string() : std::string()}};
    auto c = registry.CreateConnector("paper", options);
    if (!c.ok()) Die("paper core: " + c.status().message());
    std::printf("    paper core (connector Call, no host), state in %s:\n", state.c_str());
    add(PaperCoreLoad(**c, "paper pairs, " + state, 1, seconds));
    add(PaperCoreLoad(**c, "paper pairs, " + state, 4, seconds));
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv,
            "usage: bench_exchange [--workers=50] [--seconds=10] [--order-seconds=20] [--paced-seconds=5] [--pace-ms=20] "
            "[--rate=1000] [--book-seconds=10] [--threads=2] [--paper=0|1|2] [--paper-workers=8] "
            "[--paper-seconds=5]");
  const int workers = args.Int("workers", 50);
  const double seconds = args.Num("seconds", 10);
  const double order_seconds = args.Num("order-seconds", 20);
  const double paced_seconds = args.Num("paced-seconds", 5);
  const int pace_ms = args.Int("pace-ms", 20);
  const int rate = args.Int("rate", 1000);
  const double book_seconds = args.Num("book-seconds", 10);
  const int threads = args.Int("threads", 2);
  const int paper = args.Int("paper", 0);   // 0: bybit only, 1: paper only, 2: both
  const int paper_workers = args.Int("paper-workers", 8);
  const double paper_seconds = args.Num("paper-seconds", 5);
  args.CheckKnown({"workers", "seconds", "order-seconds", "paced-seconds", "pace-ms", "rate", "book-seconds", "threads",
                   "paper", "paper-workers", "paper-seconds"});
  if (paper < 0 || paper > 2 || paper_workers < 1 || paper_seconds <= 0) Die("--paper must be 0, 1 or 2");
  if (workers < 1 || seconds <= 0 || order_seconds <= 0 || paced_seconds <= 0 || rate < 1 || book_seconds <= 0 || threads < 1)
    Die("every option must be positive");
  RaiseFileLimit();
  PrintMachine();
  json result = {{"bench", "exchange"}, {"workers", workers}, {"rate", rate}, {"threads", threads}};
  std::vector<Load> loads;
  std::vector<BookRun> books;
  auto Add = [&](Load l) { PrintLoad(loads.emplace_back(std::move(l))); };

  if (paper != 0) PaperLoads(paper_workers, paper_seconds, threads, Add);
  if (paper != 1) {
  {
    MockBybit mock;
    ConnectionWatch conns(mock.port());
    BenchNode node(NodeYaml(mock, threads));
    std::printf("node with bybit.so from %s, bulkhead %d threads; mock on port %u\n", PluginDir().c_str(), threads,
                mock.port());
    std::printf("(1) %d workers, %.0f s (orders %.0f s); 1 paced worker (every %d ms), %.0f s:\n", workers, seconds, order_seconds,
                pace_ms, paced_seconds);
    Add(NodeLoad(node, conns, "paced", "fetchTicker, paced", kTickerOp, 1, paced_seconds, pace_ms));
    Add(NodeLoad(node, conns, "ticker", "fetchTicker", kTickerOp, workers, seconds, 0));
    const int violations0 = mock.LimitViolations();
    loads.push_back(NodeLoad(node, conns, "pairs", "createOrder+cancelOrder", kPairOp, workers, order_seconds, 0));
    loads.back().extra = {{"mock_limit_violations", mock.LimitViolations() - violations0},
                          {"mock_max_create_per_s", mock.MaxPerSecond("/v5/order/create")}};
    PrintLoad(loads.back());
    std::printf("(2) order book deltas at %d/s for %.0f s, one worker on watchOrderBook:\n", rate, book_seconds);
    books.push_back(NodeBook(node, mock, rate, book_seconds));
    PrintBook(books.back());
    node.Shutdown();
  }
  {
    MockBybit mock;
    auto c = MakeConnector(mock);
    if (!c->Call(Ctx("warm"), "fetchTicker", R"(["BTC/USDT"])").ok) Die("core: the first fetchTicker failed");
    std::printf("core (ami_bybit_core, %d threads), Bybit's published limits:\n", workers);
    Add(CoreLoad(*c, mock, "paced", "fetchTicker, paced", false, 1, paced_seconds, pace_ms));
    Add(CoreLoad(*c, mock, "ticker", "fetchTicker", false, workers, seconds, 0));
    loads.push_back(CoreLoad(*c, mock, "pairs", "createOrder+cancelOrder", true, workers, order_seconds, 0));
    loads.back().extra["mock_max_create_per_s"] = mock.MaxPerSecond("/v5/order/create");
    PrintLoad(loads.back());
    std::printf("  order book deltas at %d/s for %.0f s, one thread on CallAsync(watchOrderBook):\n", rate, book_seconds);
    books.push_back(CoreBook(*c, mock, rate, book_seconds));
    PrintBook(books.back());
  }
  {
    MockBybit::Options o;
    o.enforce_limits = false;
    MockBybit mock(o);
    auto c = MakeConnector(mock);
    if (!c->Call(Ctx("warm"), "fetchTicker", R"(["BTC/USDT"])").ok) Die("core: the first fetchTicker failed");
    LiftLimiter(*c);
    std::printf("core, limiter lifted (and the mock's limits off):\n");
    Add(CoreLoad(*c, mock, "lift-ticker", "fetchTicker, no limiter", false, workers, seconds, 0));
    Add(CoreLoad(*c, mock, "lift-pairs", "create+cancel, no limiter", true, workers, order_seconds, 0));
  }
  }

  std::printf("\n| path | load | callers | calls/s | p50 ms | p99 ms | max ms | errors | conns | limiter waits/refusals |\n"
              "|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Load& l : loads) {
    const Summary s = Summarize(l.ms);
    std::printf("| %s | %s | %d | %.1f | %.2f | %.2f | %.2f | %s | %d | %s |\n", l.path.c_str(), l.what.c_str(),
                l.callers, l.PerSecond(), s.p50, s.p99, s.max, l.ErrorsText().c_str(), l.connections, l.limiter.c_str());
  }
  std::printf("\n| order book, %d updates/s | p50 ms | p99 ms | max ms | answers / updates covered |\n|---|---|---|---|---|\n",
              rate);
  for (const BookRun& b : books) {
    const Summary s = Summarize(b.ms);
    std::printf("| %s | %.3f | %.3f | %.3f | %llu / %llu |\n", b.path.c_str(), s.p50, s.p99, s.max,
                static_cast<unsigned long long>(b.seen), static_cast<unsigned long long>(b.covered));
  }
  result["loads"] = json::array();
  for (const Load& l : loads) result["loads"].push_back(l.ToJsonRow());
  result["books"] = json::array();
  for (const BookRun& b : books) result["books"].push_back(b.ToJsonRow());
  result["machine"] = MachineJson();
  PrintResult(result);
  return 0;
}
