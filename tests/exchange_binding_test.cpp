// Stels.runtime.cex inside a real node with the real paper connector plugin: accounts'
// credentials come from the node config and never reach the script or its logs, CCXT
// calls resolve through each exchange's bulkhead, network errors count as network, orders
// get clientOrderIds from the runtime, lost answers to createOrder are retried without
// doubling the order, and a slow exchange times out alone (exchanges.<id>.timeout).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "actors/local_node.h"
#include "tests/support/test_support.h"

using namespace ami;
using ami::test::Eventually;
using ami::test::TempDir;
using json = nlohmann::json;

namespace {

std::unique_ptr<LocalNode> StartNode(const TempDir& dir, const std::string& exchange_options) {
  const std::string yaml =
      "node: { id: s-0001, data_dir: ./data }\n"
      "limits: { stop_grace: 500ms }\n"
      "execution:\n"
      "  network_backoff: { initial: 1ms, factor: 1, max: 1ms }\n"
      "plugins: { dirs: [\"" + (ami::test::BinaryDir() / "plugins").string() + "\"] }\n"
      "exchanges:\n"
      "  bybit: { connector: paper" + exchange_options + " }\n"
      "  missing: { connector: nonexistent }\n"
      "accounts:\n"
      "  g-bhts: { exchange: bybit, api_key: TOPSECRETKEY, secret: TOPSECRETSECRET }\n";
  auto config = ParseConfig(yaml, "t.yaml", dir.path());
  INFO(config.status().message());
  REQUIRE(config.ok());
  std::vector<std::string> log;
  auto node = LocalNode::Start(*config, &log);
  REQUIRE(node.ok());
  return std::move(*node);
}

WorkerRecord Put(LocalNode& node, const std::string& script, std::optional<std::string> account) {
  WorkerRecord fields;
  fields.active = true;
  fields.priority = Priority::kLow;
  fields.mode = WorkerMode::kSingle;
  fields.account_id = std::move(account);
  fields.script = script;
  auto record = NewWorkerRecord("s-0001", fields, WallMillis());
  Status s = node.PutWorker(record);
  INFO(s.message());
  REQUIRE(s.ok());
  return record;
}

std::optional<json> Local(LocalNode& node, const std::string& name) {
  auto entry = node.KvGet(kv::Space::kLocal, kv::MakeKey({name}));
  if (!entry.ok() || !*entry) return std::nullopt;
  return json::parse((*entry)->value);
}

}  // namespace

TEST_CASE("a worker trades on the paper exchange through Stels.runtime.cex", "[cex]") {
  TempDir dir;
  auto node = StartNode(dir, "");
  auto w = Put(*node, R"JS(
    const ex = new Stels.runtime.cex.bybit();
    const shown = JSON.stringify(ex) + JSON.stringify(config) + JSON.stringify(Stels.config);
    if (shown.includes('TOPSECRET')) throw new Error('credentials visible to the script');
    const ticker = await ex.fetchTicker('BTC/USDT');
    const order = await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, Math.round(ticker.last * 0.5));
    const open = await ex.fetchOpenOrders('BTC/USDT');
    const balance = await ex.fetchBalance();
    let badSymbol = '';
    try { await ex.fetchTicker('NOPE/USDT'); } catch (e) { badSymbol = (e instanceof ccxt.BadSymbol) + ' ' + (e instanceof ccxt.ExchangeError); }
    let missing = '';
    try { await new Stels.runtime.cex.missing().fetchTicker('BTC/USDT'); } catch (e) { missing = e.name; }
    await Stels.local.set(['result'], { last: ticker.last, status: order.status, open: open.length,
                                        usdt: balance.USDT.total, badSymbol, missing });
  )JS", std::string("g-bhts"));
  REQUIRE(Eventually([&] { return Local(*node, "result").has_value(); }));
  auto result = *Local(*node, "result");
  INFO(result.dump());
  CHECK(result["last"].get<double>() > 0);
  CHECK(result["status"] == "open");
  CHECK(result["open"] == 1);
  CHECK(result["usdt"].get<double>() > 0);
  CHECK(result["badSymbol"] == "true true");
  CHECK(result["missing"] == "ExchangeNotAvailable");
  auto stats = node->stats().Get(w.sid);
  REQUIRE(stats);
  CHECK(stats->errors == 0);
  REQUIRE(node->Shutdown(std::chrono::seconds(10)).ok());
  // Nothing the node wrote mentions the secrets.
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path()))
    if (e.is_regular_file() && e.path().extension() == ".log")
      CHECK(ami::test::ReadFile(e.path()).find("TOPSECRET") == std::string::npos);
}

TEST_CASE("a worker with an unknown account gets an AuthenticationError", "[cex]") {
  TempDir dir;
  auto node = StartNode(dir, "");
  Put(*node, R"JS(
    try { await new Stels.runtime.cex.bybit().fetchBalance(); }
    catch (e) { await Stels.local.set(['result'], e.name + ': ' + e.message); }
  )JS", std::string("nobody"));
  REQUIRE(Eventually([&] { return Local(*node, "result").has_value(); }));
  CHECK(Local(*node, "result")->get<std::string>() == "AuthenticationError: account nobody is not configured on node s-0001");
}

TEST_CASE("exchange network errors count as network errors and never stop the worker", "[cex]") {
  TempDir dir;
  auto node = StartNode(dir, ", network_error_rate: 1");
  WorkerRecord fields;
  fields.active = true;
  fields.priority = Priority::kLow;   // a budget of 5 critical errors
  fields.script = "await new Stels.runtime.cex.bybit().fetchTicker('BTC/USDT');";
  auto record = NewWorkerRecord("s-0001", fields, WallMillis());
  REQUIRE(node->PutWorker(record).ok());
  REQUIRE(Eventually([&] {
    auto s = node->stats().Get(record.sid);
    return s && s->network_errors >= 10;
  }));
  auto s = node->stats().Get(record.sid);
  CHECK(s->critical_errors == 0);
  CHECK(s->is_running);
  CHECK(s->last_error_type == ErrorClass::kNetwork);
}

TEST_CASE("the runtime gives every order a clientOrderId of its own; a script's own is kept", "[cex][orders]") {
  TempDir dir;
  auto node = StartNode(dir, "");
  const int64_t before = WallMillis();
  auto w = Put(*node, R"JS(
    const ex = new Stels.runtime.cex.bybit();
    const a = await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 30000);
    const b = await ex.createLimitBuyOrder('BTC/USDT', 0.001, 30000);
    const c = await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 30000, { clientOrderId: 'mine-1' });
    const d = await ex.createMarketBuyOrder('BTC/USDT', 0.001, { postOnly: false });
    const e = await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 30000, undefined);
    const all = await ex.fetchOrders();
    await Stels.local.set(['result'], { ids: [a, b, c, d, e].map((o) => o.clientOrderId),
                                        orders: all.length, leader: Stels.leader });
  )JS", std::nullopt);
  REQUIRE(Eventually([&] { return Local(*node, "result").has_value(); }));
  auto result = *Local(*node, "result");
  INFO(result.dump());
  CHECK(result["leader"].is_null());
  CHECK(result["orders"] == 5);  // five orders, none merged into another
  const auto& ids = result["ids"];
  REQUIRE(ids.size() == 5);
  CHECK(ids[2] == "mine-1");
  // ami-<first 8 of sid>-<worker start time, base36>-<seq> (no term: not leader mode); the
  // seq counts only ids the runtime made.
  const std::regex shape("ami-" + w.sid.substr(0, 8) + "-([0-9a-z]+)-([0-9]+)");
  std::set<std::string> seen;
  std::string epoch;
  int expected_seq = 1;
  for (int i : {0, 1, 3, 4}) {
    const std::string id = ids[i];
    std::smatch m;
    INFO(id);
    REQUIRE(std::regex_match(id, m, shape));
    CHECK(id.size() <= 36);
    CHECK(std::stoi(m[2]) == expected_seq++);
    if (epoch.empty()) epoch = m[1];
    CHECK(m[1] == epoch);  // one worker life, one epoch
    seen.insert(id);
  }
  CHECK(seen.size() == 4);
  const int64_t started = std::stoll(epoch, nullptr, 36);
  CHECK(started >= before);
  CHECK(started <= WallMillis());
}

TEST_CASE("an ambiguous timeout on createOrder is retried with the same clientOrderId: one order", "[cex][orders]") {
  TempDir dir;
  auto node = StartNode(dir, ", test_controls: true");
  auto w = Put(*node, R"JS(
    const ex = new Stels.runtime.cex.bybit();
    const out = {};
    // The order is made, then the answer is lost — twice. The third try finds it.
    await ex.paperInjectFault('timeout', 2, 'createOrder');
    const order = await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 30000);
    out.order = { id: order.id, coid: order.clientOrderId };
    out.afterTimeouts = (await ex.fetchOrders('BTC/USDT')).length;
    // A network error before the exchange saw the call: retried too, still one order.
    await ex.paperInjectFault('network', 1, 'createOrder');
    await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 31000, { clientOrderId: 'net-1' });
    out.afterNetwork = (await ex.fetchOrders('BTC/USDT')).length;
    // Three lost answers: retries run out and the script gets the RequestTimeout — the
    // order exists once all the same.
    await ex.paperInjectFault('timeout', 3, 'createOrder');
    try { await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 32000); out.exhausted = 'resolved'; }
    catch (e) { out.exhausted = e.name + ' ' + (e instanceof ccxt.NetworkError); }
    out.afterExhausted = (await ex.fetchOrders('BTC/USDT')).length;
    // A refusal is not retried: the order is invalid every time.
    try { await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, -1); } catch (e) { out.invalid = e.name; }
    // Nor are calls other than order creations.
    await ex.paperInjectFault('timeout', 1, 'fetchTicker');
    try { await ex.fetchTicker('BTC/USDT'); out.ticker = 'resolved'; } catch (e) { out.ticker = e.name; }
    out.orders = (await ex.fetchOrders('BTC/USDT')).map((o) => o.clientOrderId);
    await Stels.local.set(['result'], out);
  )JS", std::nullopt);
  REQUIRE(Eventually([&] { return Local(*node, "result").has_value(); }));
  auto result = *Local(*node, "result");
  INFO(result.dump());
  CHECK(result["afterTimeouts"] == 1);
  CHECK(result["order"]["coid"].get<std::string>().rfind("ami-" + w.sid.substr(0, 8) + "-", 0) == 0);
  CHECK(result["afterNetwork"] == 2);
  CHECK(result["exhausted"] == "RequestTimeout true");
  CHECK(result["afterExhausted"] == 3);
  CHECK(result["invalid"] == "InvalidOrder");
  CHECK(result["ticker"] == "RequestTimeout");
  CHECK(result["orders"].size() == 3);
  const std::string log = ami::test::ReadFile(dir / "data" / "logs" / "workers" / (w.sid + ".log"));
  // 2 + 1 + 2 retries, each logged with the id it repeats.
  size_t retries = 0;
  for (size_t at = log.find("sending it again"); at != std::string::npos; at = log.find("sending it again", at + 1)) ++retries;
  CHECK(retries == 5);
  CHECK(log.find("clientOrderId " + result["order"]["coid"].get<std::string>() + " in 100 ms (attempt 2 of 3)") != std::string::npos);
  CHECK(log.find("in 400 ms (attempt 3 of 3)") != std::string::npos);
}

TEST_CASE("exchanges.<id>.timeout: a slow exchange gives RequestTimeout and delays no other exchange", "[cex][contain]") {
  TempDir dir;
  // `slow` answers after 600 ms on its single thread, past its 150 ms timeout.
  auto config = ParseConfig(
      "node: { id: s-0001, data_dir: ./data }\n"
      "limits: { stop_grace: 500ms }\n"
      "plugins: { dirs: [\"" + (ami::test::BinaryDir() / "plugins").string() + "\"] }\n"
      "exchanges:\n"
      "  bybit: { connector: paper }\n"
      "  slow: { connector: paper, latency_ms: 600, timeout: 150ms, threads: 1 }\n",
      "t.yaml", dir.path());
  INFO(config.status().message());
  REQUIRE(config.ok());
  auto started = LocalNode::Start(*config);
  REQUIRE(started.ok());
  auto node = std::move(*started);
  auto w = Put(*node, R"JS(
    const slow = new Stels.runtime.cex.slow();
    const out = {};
    try { await slow.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 30000); out.order = 'resolved'; }
    catch (e) { out.order = e.name; out.message = e.message; }
    out.fast = (await new Stels.runtime.cex.bybit().fetchTicker('BTC/USDT')).symbol;
    await Stels.local.set(['result'], out);
  )JS", std::nullopt);
  REQUIRE(Eventually([&] { return Local(*node, "result").has_value(); }));
  auto result = *Local(*node, "result");
  INFO(result.dump());
  CHECK(result["order"] == "RequestTimeout");
  CHECK(result["message"].get<std::string>().find("slow.createOrder: no answer within the 150 ms timeout") == 0);
  CHECK(result["fast"] == "BTC/USDT");
  // RequestTimeout is ambiguous: the order was sent again, twice, with the same id.
  std::string log;
  REQUIRE(Eventually([&] {
    log = ami::test::ReadFile(dir / "data" / "logs" / "workers" / (w.sid + ".log"));
    return log.find("(attempt 3 of 3)") != std::string::npos;
  }));
  std::smatch m;
  REQUIRE(std::regex_search(log, m, std::regex("same clientOrderId (ami-[0-9a-z-]+) in 100 ms")));
  CHECK(log.find("same clientOrderId " + m[1].str() + " in 400 ms (attempt 3 of 3)") != std::string::npos);
  REQUIRE(node->Shutdown(std::chrono::seconds(10)).ok());
}
