#include "trial.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <iostream>
#include <regex>
#include <set>
#include <stdexcept>
#include <thread>

#include "tests/cluster/cluster_harness.h"
#include "tests/support/test_support.h"
#include "trials/runner/collect.h"

namespace ami::trials::runner {

namespace {
using nlohmann::json;
using Clock = std::chrono::system_clock;
int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

// Fixed sids: their first 8 characters (what the simulator's journal names) differ.
const std::string kGridSid = "6a1d0001-0000-4000-8000-000000000001";
const std::string kDcaSid = "dca00002-0000-4000-8000-000000000002";
const std::string kApiKey = "trial-key";
const std::string kSecret = "trial-secret";

// A grid of fixed price levels STEP apart around the first price seen (saved in
// Stels.net): every iteration places a limit order at each level that has none live,
// a buy below the price, a sell above. The runtime makes the clientOrderIds (leader mode:
// "ami-<sid8>-<term>-…"), so the simulator fences stale terms. Two live orders at one
// level (price) = a doubled grid level.
const char* kGridScript = R"JS(const start = Date.now();
const term = Stels.leader.term;
logger.info(`TERM ${Stels.nid} ${term}`);
const SYMBOL = 'BTC/USDT', STEP = 100, LEVELS = 8, AMOUNT = 0.001;
const ex = new Stels.runtime.cex.bybit();
let base = (await Stels.net.get(['trial', 'grid', 'base'])).value;
if (base == null) {
  const t = await ex.fetchTicker(SYMBOL);
  base = Math.round(t.last / STEP) * STEP - STEP * LEVELS / 2;
  await Stels.net.set(['trial', 'grid', 'base'], base);
}
const last = (await ex.fetchTicker(SYMBOL)).last;
const live = new Set((await ex.fetchOpenOrders(SYMBOL)).map((o) => Math.round(o.price)));
for (let i = 0; i <= LEVELS && !shouldStop(); i++) {
  const price = base + i * STEP;
  if (live.has(price) || Math.abs(price - last) < STEP / 4) continue;
  const side = price < last ? 'buy' : 'sell';
  const o = await ex.createOrder(SYMBOL, 'limit', side, AMOUNT, price);
  logger.info(`GRID ${i} ${o.id} ${side} ${price}`);
}
logger.info(`SPAN ${Stels.nid} ${term} ${start} ${Date.now()}`);
)JS";

// The DCA template's loop (templates/scripts/dca-strategy.js) at trial speed: a small
// market buy every second, recorded in Stels.net until the runner sets ["trial","quiet"].
const char* kDcaScript = R"JS(const ex = new Stels.runtime.cex.bybit();
while (!shouldStop()) {
  const start = Date.now();
  const term = Stels.leader.term;
  logger.info(`TERM ${Stels.nid} ${term}`);
  try {
    const o = await ex.createOrder('BTC/USDT', 'market', 'buy', 0.0002);
    if ((await Stels.net.get(['trial', 'quiet'])).value == null)
      await Stels.net.set(['trial', 'dca', String(start)], { id: o.id, term, node: Stels.nid });
  } catch (e) {
    if (e && e.name === 'AbortError') break;
    logger.warn(`DCA: ${e.name}: ${e.message}`);
  }
  logger.info(`SPAN ${Stels.nid} ${term} ${start} ${Date.now()}`);
  try { await Stels.sleep(1000); } catch (e) { break; }
}
)JS";

// Every node writes random values to five shared keys; each write also records its
// value under ["trial","acks",value] in the same atomic operation (so the runner finds
// its hlc), and is logged once acknowledged. Stops writing once ["trial","quiet"] is set.
const char* kKvScript = R"JS(if ((await Stels.net.get(['trial', 'quiet'])).value == null) {
  const key = `k${Math.floor(Math.random() * 5)}`;
  const value = `${Stels.nid}:${Date.now()}:${Math.random().toString(36).slice(2, 10)}`;
  const r = await Stels.net.atomic().set(['trial', 'kv', key], value).set(['trial', 'acks', value], key).commit();
  if (r.ok) logger.info(`KVACK ${key} ${value} ${Date.now()}`);
}
await Stels.sleep(150);
)JS";

std::string SimConfig(uint64_t seed) {
  return "accounts:\n  - {name: desk, api_key: " + kApiKey + ", secret: " + kSecret +
         ", balances: {USDT: 10000000, BTC: 1000}}\nseed: " + std::to_string(seed) +
         "\nvolatility: 0.5\ntick_ms: 500\n";
}

std::string WorkersYaml(const std::filesystem::path& dir) {
  return "accounts:\n  sim: { exchange: bybit, api_key: " + kApiKey + ", secret: " + kSecret + " }\n" +
         "workers:\n"
         "  - { name: trial-grid, sid: " + kGridSid + ", script_file: " + (dir / "grid.js").string() +
         ", scope: network, execution_mode: leader, account_id: sim }\n"
         "  - { name: trial-dca, sid: " + kDcaSid + ", script_file: " + (dir / "dca.js").string() +
         ", mode: single, scope: network, execution_mode: leader, account_id: sim }\n"
         "  - { name: trial-kv, script_file: " + (dir / "kv.js").string() + " }\n";
}

void CopyLogs(test::TestCluster& cluster, const std::filesystem::path& to) {
  for (size_t i = 0; i < cluster.size(); ++i) {
    const auto dir = to / cluster.Id(i);
    std::filesystem::create_directories(dir);
    std::error_code ec;
    std::filesystem::copy(cluster.DataDir(i) / "logs", dir / "logs",
                          std::filesystem::copy_options::recursive | std::filesystem::copy_options::overwrite_existing, ec);
    test::WriteFile(dir / "amid.out", cluster.Output(i));
  }
}
}  // namespace

std::vector<FaultKind> SupportedKinds() {
  return {FaultKind::kKill9,     FaultKind::kStop,       FaultKind::kRestart,
          FaultKind::kPartition, FaultKind::kClockDrift, FaultKind::kSlowDisk};
}

History RunTrial(const TrialOptions& o) {
  ScheduleOptions so;
  so.seed = o.seed;
  so.nodes = o.nodes;
  so.duration_ms = static_cast<int64_t>(o.minutes * 60'000);
  so.ttl_ms = 2'000;
  so.kinds = SupportedKinds();
  History h;
  h.schedule = MakeSchedule(so);
  h.replay = "scripts/trials --trials 1 --nodes " + std::to_string(o.nodes) + " --seed " + std::to_string(o.seed) +
             " --minutes " + std::to_string(o.minutes).substr(0, std::to_string(o.minutes).find('.') + 3);

  std::filesystem::create_directories(o.work_dir / "sim");
  test::WriteFile(o.work_dir / "sim.yaml", SimConfig(o.seed));
  test::WriteFile(o.work_dir / "grid.js", kGridScript);
  test::WriteFile(o.work_dir / "dca.js", kDcaScript);
  test::WriteFile(o.work_dir / "kv.js", kKvScript);

  // The simulator on a free port (it prints the one it got).
  test::ChildProcess sim((test::BinaryDir() / "apps" / "exchange_sim" / "ami-exchange-sim").string(),
                         {"--config", (o.work_dir / "sim.yaml").string(), "--port", "0", "--data-dir",
                          (o.work_dir / "sim").string()},
                         o.work_dir / "sim.out");
  std::string port;
  const std::regex listening("listening on 127\\.0\\.0\\.1:([0-9]+)");
  test::Eventually([&] {
    std::smatch m;
    const std::string out = sim.Output();
    if (std::regex_search(out, m, listening)) port = m[1];
    return !port.empty() || !sim.Running();
  }, std::chrono::seconds(20));
  if (port.empty()) throw std::runtime_error("ami-exchange-sim did not start:\n" + sim.Output());

  test::ClusterOptions co;
  co.nodes = static_cast<size_t>(o.nodes);
  co.ttl = std::chrono::milliseconds(so.ttl_ms);
  co.exchanges_yaml = "exchanges:\n  bybit: { connector: bybit, base_url: http://127.0.0.1:" + port +
                      ", ws_url: ws://127.0.0.1:" + port + " }\n";
  co.extra_yaml = WorkersYaml(o.work_dir);
  test::TestCluster cluster(co);
  cluster.StartAll();
  // Generous: on a machine loaded by other work five TLS handshakes per node take a while.
  std::vector<size_t> every(cluster.size());
  for (size_t i = 0; i < every.size(); ++i) every[i] = i;
  if (!cluster.WaitConnected(every, std::chrono::seconds(90))) {
    CopyLogs(cluster, o.work_dir / "nodes");
    throw std::runtime_error("the cluster did not connect within 90 s (node logs in " +
                             (o.work_dir / "nodes").string() + ")");
  }

  // Apply the schedule on time. `down`/`frozen`: nodes an admin call would not reach.
  std::set<size_t> down, frozen;
  std::vector<std::vector<std::string>> groups;  // the partition in force; empty = none
  auto set_drops = [&](size_t i) {
    json drop = json::array();
    if (!groups.empty()) {
      const auto& mine = *std::find_if(groups.begin(), groups.end(), [&](const auto& g) {
        return std::find(g.begin(), g.end(), cluster.Id(i)) != g.end();
      });
      for (size_t j = 0; j < cluster.size(); ++j)
        if (std::find(mine.begin(), mine.end(), cluster.Id(j)) == mine.end()) drop.push_back(cluster.Id(j));
    }
    // A node just continued or started may miss one call (a stale admin connection): retry.
    json last;
    const bool done = test::Eventually([&] { return (last = cluster.Admin(i, "faults.set", {{"drop", drop}}))["ok"] == true; },
                                       std::chrono::seconds(15));
    if (!done) throw std::runtime_error(cluster.Id(i) + " faults.set: " + last.dump());
  };
  auto set_all_drops = [&] {
    for (size_t i = 0; i < cluster.size(); ++i)
      if (!down.count(i) && !frozen.count(i)) set_drops(i);
  };
  // Slow disks in force, by node: a node started again gets its delay again (it lives in
  // the process). faults.set {commit_delay_ms} makes every store commit (one fsync) slower.
  std::map<size_t, int64_t> slow;
  auto set_commit_delay = [&](size_t i, int64_t ms) {
    json last;
    const bool done = test::Eventually(
        [&] { return (last = cluster.Admin(i, "faults.set", {{"commit_delay_ms", ms}}))["ok"] == true; },
        std::chrono::seconds(15));
    if (!done) throw std::runtime_error(cluster.Id(i) + " faults.set commit_delay_ms: " + last.dump());
  };
  auto start = [&](size_t i) {
    cluster.Start(i);
    down.erase(i);
    if (!groups.empty()) set_drops(i);
    if (auto it = slow.find(i); it != slow.end()) set_commit_delay(i, it->second);
  };
  h.started_at = NowMs();
  for (const Fault& f : h.schedule.faults) {
    const int64_t due = h.started_at + f.at_ms;
    if (due > NowMs()) std::this_thread::sleep_for(std::chrono::milliseconds(due - NowMs()));
    AppliedFault applied{f, NowMs(), ""};
    try {
      const size_t i = f.nodes.empty() ? 0 : cluster.IndexOf(f.nodes[0]);
      switch (f.kind) {
        case FaultKind::kKill9: cluster.Kill(i); down.insert(i); break;
        case FaultKind::kStart: start(i); break;
        case FaultKind::kStop: cluster.Freeze(i); frozen.insert(i); break;
        case FaultKind::kCont:
          cluster.Thaw(i);
          frozen.erase(i);
          if (!groups.empty()) set_drops(i);
          break;
        case FaultKind::kRestart: cluster.Terminate(i); down.insert(i); start(i); break;
        case FaultKind::kClockDrift: {
          // The lease clock runs at 1 + drift/TTL: restart the node with that rate (a
          // config-only knob, cluster.lease_clock_rate). It stays until the trial ends.
          const double rate = 1.0 + static_cast<double>(f.drift_ms) / static_cast<double>(so.ttl_ms);
          cluster.SetExtraClusterYaml(i, "  lease_clock_rate: " + std::to_string(rate) + "\n");
          cluster.Terminate(i);
          down.insert(i);
          start(i);
          break;
        }
        case FaultKind::kSlowDisk: slow[i] = f.delay_ms; set_commit_delay(i, f.delay_ms); break;
        case FaultKind::kSlowDiskEnd: slow.erase(i); set_commit_delay(i, 0); break;
        case FaultKind::kPartition: groups = f.groups; set_all_drops(); break;
        case FaultKind::kHeal: groups.clear(); set_all_drops(); break;
        case FaultKind::kHealAll:
          groups.clear();
          for (size_t j : std::set<size_t>(frozen)) { cluster.Thaw(j); frozen.erase(j); }
          for (size_t j : std::set<size_t>(down)) start(j);
          set_all_drops();
          for (const auto& [j, ms] : std::map<size_t, int64_t>(slow)) { slow.erase(j); set_commit_delay(j, 0); }
          break;
        default: applied.error = std::string(KindName(f.kind)) + " is not injected by this runner yet";
      }
    } catch (const std::exception& e) {
      applied.error = e.what();
    }
    // heal_all is in force once the nodes it starts are up again (they boot for a while).
    if (f.kind == FaultKind::kHealAll) applied.at = NowMs();
    if (o.verbose) std::cout << "  " << FormatFault(f) << (applied.error.empty() ? "" : "  (" + applied.error + ")") << "\n" << std::flush;
    h.faults.push_back(std::move(applied));
  }
  const int64_t healed = h.faults.back().at;

  // Quiet the writers, then watch for every node's digest to be the same.
  test::Eventually([&] {
    return cluster.Admin(0, "kv.set", {{"space", "network"}, {"key", json::array({"trial", "quiet"})}, {"value", true}})["ok"] == true;
  }, std::chrono::seconds(15));
  std::vector<std::string> digest(cluster.size());  // as each node last reported it
  // Convergence is judged on the trial's own keys (["trial", …]: the writers' keys and
  // acks, the DCA's records, the grid's base), which stop changing once the writers are
  // quiet. The whole network space never stops changing while leaders run — each lease
  // renewal rewrites ["ami","leader",sid] — so its digests are equal only between
  // renewals, and a poll under load can miss that window for long.
  auto trial_digest = [&](size_t i) -> std::optional<std::string> {
    json r = cluster.Admin(i, "kv.list", {{"space", "network"}, {"prefix", json::array({"trial"})}, {"limit", 10000}});
    if (r["ok"] != true || !r["result"].is_array()) return std::nullopt;
    std::string rows;
    for (const auto& e : r["result"]) rows += e["key"].dump() + "=" + e["value"].dump() + "\n";
    return std::to_string(r["result"].size()) + ":" + std::to_string(std::hash<std::string>{}(rows));
  };
  // The nodes are asked at once (one thread each), and each node's answers are kept: the
  // digests were equal no later than when the last node to get there first answered with
  // the final digest. Asking one node after the other and taking the end of the round
  // added up to a whole round of admin calls to the figure — over a second at load 15
  // with five nodes, which the 1 s check then blamed on the cluster.
  struct Answer {
    int64_t at;
    std::optional<std::string> digest;
  };
  std::vector<std::vector<Answer>> answers(cluster.size());
  test::Eventually([&] {
    std::vector<std::thread> askers;
    for (size_t i = 0; i < cluster.size(); ++i)
      askers.emplace_back([&, i] {
        auto d = trial_digest(i);
        answers[i].push_back({NowMs(), std::move(d)});
      });
    for (auto& t : askers) t.join();
    std::set<std::string> digests;
    for (const auto& a : answers) {
      if (!a.back().digest) return false;
      digests.insert(*a.back().digest);
    }
    if (digests.size() != 1) return false;
    int64_t equal_at = 0;
    for (const auto& a : answers) {
      size_t first = a.size() - 1;  // the first answer of the node's unbroken run of final ones
      while (first > 0 && a[first - 1].digest == a.back().digest) --first;
      equal_at = std::max(equal_at, a[first].at);
    }
    h.digests_equal_at = equal_at;
    return true;
  }, std::chrono::seconds(20));
  // Give the leaders time to show (the liveness checker judges when they did).
  test::Eventually([&] {
    for (const auto& sid : {kGridSid, kDcaSid}) {
      auto last = test::LastSpan(cluster, sid);
      if (!last || last->start < healed) return false;
    }
    return true;
  }, std::chrono::milliseconds(so.ttl_ms + 8'000));
  // The writers are quiet now; let the last writes reach every node before stopping them
  // (a write is acknowledged at its local commit, replication follows).
  test::Eventually([&] {
    std::set<std::string> digests;
    for (size_t i = 0; i < cluster.size(); ++i) {
      json r = cluster.Admin(i, "nodes.list");
      if (r["ok"] != true) return false;
      for (const auto& n : r["result"]["nodes"])
        if (n["state"] == "self") digests.insert(digest[i] = n.value("digest", ""));
    }
    return digests.size() == 1;
  }, std::chrono::seconds(20));
  h.ended_at = NowMs();

  // Stop everything, then read what it left.
  for (size_t i = 0; i < cluster.size(); ++i)
    if (cluster.Running(i)) cluster.Terminate(i);
  sim.Signal(SIGTERM);
  sim.Wait(std::chrono::seconds(20));

  TermOwners owners;
  std::map<std::string, std::pair<uint64_t, std::string>> ack_hlc;
  for (size_t i = 0; i < cluster.size(); ++i) {
    const auto lines = WorkerLogLines(cluster.DataDir(i));
    auto writes = ReadAcks(cluster.Id(i), lines);
    h.kv_writes.insert(h.kv_writes.end(), writes.begin(), writes.end());
  }
  // Terms are per worker: each worker's own log names its terms' nodes.
  for (size_t i = 0; i < cluster.size(); ++i)
    for (const auto& sid : {kGridSid, kDcaSid}) {
      std::vector<std::string> lines;
      for (const std::string suffix : {".log.1", ".log"}) {
        std::ifstream in(cluster.DataDir(i) / "logs" / "workers" / (sid + suffix));
        std::string line;
        while (std::getline(in, line)) lines.push_back(line);
      }
      AddTermOwners(sid, lines, &owners);
    }
  for (const auto& sid : {kGridSid, kDcaSid}) h.spans[sid] = test::ReadSpans(cluster.DataDirs(), sid);
  h.orders = ReadJournal(o.work_dir / "sim" / "journal.jsonl", {kGridSid, kDcaSid}, kGridSid, owners);
  for (size_t i = 0; i < cluster.size(); ++i) {
    std::string error;
    NodeFinal f = ReadFinal(cluster.Id(i), cluster.DataDir(i), &ack_hlc, &error);
    if (!error.empty()) std::cerr << "  reading " << error << "\n";
    h.kv_final.push_back(std::move(f));
  }
  for (auto& w : h.kv_writes) {
    auto it = ack_hlc.find(*w.value);
    // Not on any node: the write is gone; ranking it last makes the checker say so.
    w.hlc = it != ack_hlc.end() ? it->second.first : std::numeric_limits<uint64_t>::max() / 2;
  }
  for (size_t i = 0; i < h.kv_final.size(); ++i) h.kv_final[i].digest = digest[i];
  CopyLogs(cluster, o.work_dir / "nodes");
  return h;
}

}  // namespace ami::trials::runner
