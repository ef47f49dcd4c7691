// Stels.runtime.cex inside a real node with the real paper connector plugin: accounts'
// credentials come from the node config and never reach the script or its logs, CCXT
// calls resolve through the connector pool, and network errors count as network.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

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
