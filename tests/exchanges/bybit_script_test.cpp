// The bybit connector as scripts meet it: a real amid loads bybit.so with
// `exchanges: {bybit: {connector: bybit, base_url/ws_url: <the mock>}}` and workers call
// Stels.runtime.cex.bybit. Scripts report with "RESULT <json>" log lines.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "bybit_errors.h"
#include "tests/exchanges/mock_bybit.h"
#include "tests/support/test_support.h"

using namespace ami::test;
using namespace ami::test::bybit;
using Json = nlohmann::json;

namespace {

// One amid on a temporary directory, its bybit exchange pointed at `mock`.
class Node {
 public:
  Node(const MockBybit& mock, const std::string& workers, const std::string& exchange_extra = "") {
    WriteFile(dir_ / "node.yaml",
              "node: { id: s-0001, data_dir: ./data }\n"
              "limits: { stop_grace: 1s }\n"
              "execution:\n"
              "  network_backoff: { initial: 20ms, factor: 1, max: 20ms }\n"
              "exchanges:\n"
              "  bybit: { connector: bybit, base_url: \"" + mock.base_url() + "\", ws_url: \"" + mock.ws_url() +
                  "\", http_timeout: 800ms, timeout: 10s" + exchange_extra + " }\n"
              "accounts:\n"
              "  main: { exchange: bybit, api_key: test-key, secret: test-secret }\n"
              "workers:\n" + workers);
    amid_ = std::make_unique<ChildProcess>((BinaryDir() / "apps" / "amid").string(),
                                           std::vector<std::string>{"--config", (dir_ / "node.yaml").string()},
                                           dir_ / "amid.out");
  }
  ~Node() { Stop(); }

  int Stop() {
    if (!amid_) return 0;
    amid_->Signal(SIGTERM);
    const int code = amid_->Wait(std::chrono::seconds(20));
    stopped_output_ = amid_->Output();
    amid_.reset();
    return code;
  }

  // Every worker log line so far.
  std::string Logs() const {
    const auto d = dir_.path() / "data" / "logs" / "workers";
    std::string text;
    if (!std::filesystem::exists(d)) return text;
    for (const auto& e : std::filesystem::directory_iterator(d))
      if (e.path().extension() == ".log") text += ReadFile(e.path());
    return text;
  }
  int Count(const std::string& needle) const {
    const std::string logs = Logs();
    int n = 0;
    for (auto at = logs.find(needle); at != std::string::npos; at = logs.find(needle, at + 1)) ++n;
    return n;
  }
  // The JSON of the line "RESULT <tag> {...}", once a worker logged it.
  std::optional<Json> Result(const std::string& tag) const {
    const std::string logs = Logs();
    const auto at = logs.find("RESULT " + tag + " ");
    if (at == std::string::npos) return std::nullopt;
    const auto start = at + 8 + tag.size();
    return Json::parse(logs.substr(start, logs.find('\n', start) - start));
  }
  Json WaitResult(const std::string& tag, std::chrono::seconds limit = std::chrono::seconds(30)) {
    std::optional<Json> r;
    const bool ok = Eventually([&] { return (r = Result(tag)).has_value(); }, limit);
    INFO("amid: " << (amid_ ? amid_->Output() : stopped_output_) << "\nworker logs:\n" << Logs());
    REQUIRE(ok);
    return *r;
  }
  std::string Output() const { return amid_ ? amid_->Output() : stopped_output_; }

 private:
  TempDir dir_;
  std::unique_ptr<ChildProcess> amid_;
  std::string stopped_output_;
};

// A YAML block scalar of `script`, indented for a worker entry.
std::string Script(const std::string& script) {
  std::string out = "    script: |\n";
  std::size_t start = 0;
  while (start < script.size()) {
    const auto end = script.find('\n', start);
    out += "      " + script.substr(start, end == std::string::npos ? std::string::npos : end - start) + "\n";
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("bybit via amid: every CCXT error class the table maps reaches the script by name", "[bybit][script]") {
  MockBybit mock;
  // One retCode per class of CCXT's table (the first code of each), plus the classes only
  // the broad message rules give, HTTP statuses and a slow answer.
  std::map<std::string, std::string> first_code;
  for (const auto& [code, cls] : ami::exchanges::bybit::BybitErrorTable()) first_code.emplace(cls, code);
  Json cases = Json::array();
  for (const auto& [cls, code] : first_code) cases.push_back({{"params", {{"mockRetCode", code}}}, {"expect", cls}});
  // Messages go in a POST body (createOrder): a GET query is sent raw, as CCXT does, and
  // a URL cannot carry their spaces.
  for (const auto& [text, cls] : ami::exchanges::bybit::BybitBroadErrorTable())
    cases.push_back({{"params", {{"mockRetCode", "10016"}, {"mockRetMsg", text}}}, {"expect", cls}, {"post", true}});
  cases.push_back({{"params", {{"mockHttpStatus", "429"}}}, {"expect", "RateLimitExceeded"}});
  cases.push_back({{"params", {{"mockHttpStatus", "502"}}}, {"expect", "ExchangeNotAvailable"}});
  cases.push_back({{"params", {{"mockDelayMs", "1500"}}}, {"expect", "RequestTimeout"}});
  Node node(mock,
            "  - name: errors\n"
            "    mode: single\n"
            "    account_id: main\n" +
                Script("const ex = new Stels.runtime.cex.bybit();\n"
                       "const cases = " + cases.dump() + ";\n"
                       "const got = [];\n"
                       "for (const c of cases) {\n"
                       "  try {\n"
                       "    if (c.post) await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 60000, c.params);\n"
                       "    else await ex.fetchTicker('BTC/USDT', c.params);\n"
                       "    got.push('no error');\n"
                       "  }\n"
                       "  catch (e) { got.push(e.name + (e instanceof ccxt.BaseError ? '' : ' (not a ccxt error)')); }\n"
                       "}\n"
                       "logger.info('RESULT errors ' + JSON.stringify(got));") +
                "  - name: no-account\n"
                "    mode: single\n" +
                Script("const ex = new Stels.runtime.cex.bybit();\n"
                       "const got = {};\n"
                       "try { await ex.fetchBalance(); got.balance = 'ok'; } catch (e) { got.balance = e.name; }\n"
                       "try { await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 60000); got.order = 'ok'; } catch (e) { got.order = e.name; }\n"
                       "try { await ex.fetchOpenOrders(); got.open = 'ok'; } catch (e) { got.open = e.name; }\n"
                       "logger.info('RESULT noaccount ' + JSON.stringify(got));"));
  const Json got = node.WaitResult("errors");
  REQUIRE(got.size() == cases.size());
  std::set<std::string> classes;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    INFO(cases[i].dump());
    CHECK(got[i] == cases[i]["expect"]);
    classes.insert(cases[i]["expect"].get<std::string>());
  }
  CHECK(classes.size() >= 15);
  const Json none = node.WaitResult("noaccount");
  CHECK(none["balance"] == "AuthenticationError");
  CHECK(none["order"] == "AuthenticationError");
  CHECK(none["open"] == "AuthenticationError");
  CHECK(mock.Orders().empty());
  // Only the errors worker (it has an account) made private calls: the broad-rule creates.
  CHECK(mock.Requests("/v5/account/wallet-balance") == 0);
  CHECK(mock.Requests("/v5/order/realtime") == 0);
  // Broad-rule creates, plus the runtime's two repeats of the one that timed out
  // ("Request timeout" is RequestTimeout): the no-account create is not among them.
  CHECK(mock.Requests("/v5/order/create") == static_cast<int>(ami::exchanges::bybit::BybitBroadErrorTable().size()) + 2);
}

TEST_CASE("bybit via amid: a burst stays under the limit and timed-out creates make exactly one order each", "[bybit][script][orders]") {
  MockBybit mock;
  // The first create does not take effect and its answer comes after the connector gave
  // up: not found by its orderLinkId → RequestTimeout → the runtime sends it again.
  Fault lost;
  lost.delay_ms = 1500;
  lost.apply = false;
  mock.FailNext("/v5/order/create", lost);
  Node node(mock,
            "  - name: trader\n"
            "    mode: single\n"
            "    account_id: main\n" +
                Script("const ex = new Stels.runtime.cex.bybit();\n"
                       "const out = {};\n"
                       "const lost = await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 40000, { clientOrderId: 'slow-2' });\n"
                       "out.lost = lost.clientOrderId;\n"
                       "const burst = await Promise.all([...Array(30).keys()].map((i) =>\n"
                       "  ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 50000 + i, { clientOrderId: 'burst-' + i })));\n"
                       "out.burst = new Set(burst.map((o) => o.id)).size;\n"
                       "// Placed, but the answer is later than the connector waits: resolved by lookup.\n"
                       "const slow = await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 41000, { clientOrderId: 'slow-1', mockDelayMs: 2000 });\n"
                       "out.slow = { id: slow.id, coid: slow.clientOrderId, status: slow.status };\n"
                       "out.open = (await ex.fetchOpenOrders('BTC/USDT')).length;\n"
                       "logger.info('RESULT orders ' + JSON.stringify(out));"));
  const Json out = node.WaitResult("orders", std::chrono::seconds(40));
  CHECK(out["lost"] == "slow-2");
  CHECK(out["burst"] == 30);
  CHECK(out["slow"]["coid"] == "slow-1");
  CHECK(out["slow"]["status"] == "open");
  CHECK(out["open"] == 32);
  CHECK(mock.OrdersWithLinkId("slow-1") == 1);
  CHECK(mock.OrdersWithLinkId("slow-2") == 1);
  CHECK(mock.Orders().size() == 32);
  CHECK(mock.LimitViolations() == 0);
  CHECK(mock.MaxPerSecond("/v5/order/create") <= 20);
  CHECK(mock.SignatureFailures() == 0);
  // The runtime repeated slow-2 once, with the same clientOrderId.
  CHECK(node.Count("sending it again") == 1);
}

TEST_CASE("bybit via amid: the market-monitor, balance-monitor and grid-trading templates run unchanged", "[bybit][script][templates]") {
  MockBybit mock;
  Node node(mock,
            "  - name: monitor\n"
            "    template: market-monitor\n"
            "  - name: balance\n"
            "    template: balance-monitor\n"
            "    account_id: main\n"
            "  - name: grid\n"
            "    template: grid-trading\n"
            "    account_id: main\n");
  // Several runs of each: 3 tickers per monitor run, a balance per run, 10 grid levels.
  const bool ran = Eventually([&] {
    return mock.Requests("/v5/market/tickers") >= 15 && mock.Requests("/v5/account/wallet-balance") >= 3 &&
           mock.Orders().size() >= 10;
  }, std::chrono::seconds(40));
  INFO("worker logs:\n" << node.Logs() << "\namid:\n" << node.Output());
  REQUIRE(ran);
  // More grid runs after the grid is complete: still the same 10 orders.
  const int tickers = mock.Requests("/v5/market/tickers");
  REQUIRE(Eventually([&] { return mock.Requests("/v5/market/tickers") >= tickers + 9; }));
  const auto orders = mock.Orders();
  CHECK(orders.size() == 10);
  std::set<std::string> links;
  int buys = 0;
  for (const auto& o : orders) {
    links.insert(o["orderLinkId"].get<std::string>());
    buys += o["side"] == "Buy";
  }
  CHECK(links.size() == 10);
  CHECK((buys == 5 || buys == 6));
  const std::string logs = node.Logs();
  CHECK(logs.find("[ERROR]") == std::string::npos);
  CHECK(logs.find("[WARN]") == std::string::npos);
  CHECK(logs.find("level 9: sell 0.001 @ 65400") != std::string::npos);
  CHECK(mock.SignatureFailures() == 0);
  CHECK(mock.LimitViolations() == 0);
}

TEST_CASE("bybit via amid: watchOrderBook resyncs after a gap and resumes after a dropped socket", "[bybit][script][stream]") {
  MockBybit::Options o;
  o.auto_stream_ms = 40;   // the mock streams a delta, a trade and a ticker every 40 ms
  MockBybit mock(o);
  Node node(mock,
            "  - name: book\n"
            "    mode: single\n" +
                Script("const ex = new Stels.runtime.cex.bybit();\n"
                       "let n = 0;\n"
                       "while (!shouldStop()) {\n"
                       "  const b = await ex.watchOrderBook('BTC/USDT');\n"
                       "  const sorted = b.bids.every((l, i) => i === 0 || l[0] < b.bids[i - 1][0]) &&\n"
                       "                 b.asks.every((l, i) => i === 0 || l[0] > b.asks[i - 1][0]) && b.bids[0][0] < b.asks[0][0];\n"
                       "  logger.info(`BOOK ${++n} ${b.nonce} ${sorted ? 'ok' : 'BAD'}`);\n"
                       "}") +
                "  - name: market\n"
                "    mode: single\n" +
                Script("const ex = new Stels.runtime.cex.bybit();\n"
                       "while (!shouldStop()) {\n"
                       "  const [t, trades] = await Promise.all([ex.watchTicker('BTC/USDT:USDT'), ex.watchTrades('BTC/USDT')]);\n"
                       "  logger.info(`TICK ${t.symbol} ${t.last} TRADES ${trades.length}`);\n"
                       "}") +
                "  - name: orders\n"
                "    mode: single\n"
                "    account_id: main\n" +
                Script("const ex = new Stels.runtime.cex.bybit();\n"
                       "while (!shouldStop()) {\n"
                       "  for (const o of await ex.watchOrders()) logger.info(`ORDER ${o.clientOrderId} ${o.status}`);\n"
                       "}") +
                "  - name: trader\n"
                "    mode: single\n"
                "    account_id: main\n" +
                Script("const ex = new Stels.runtime.cex.bybit();\n"
                       "for (let i = 0; i < 20 && !shouldStop(); i++) {\n"
                       "  await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 50000, { clientOrderId: 'w-' + i });\n"
                       "  await Stels.sleep(250);\n"
                       "}"));
  auto books = [&] { return node.Count("] BOOK "); };
  REQUIRE(Eventually([&] { return books() >= 5; }, std::chrono::seconds(30)));
  mock.PushBookDelta("spot", "BTCUSDT", /*gap=*/true);
  REQUIRE(Eventually([&] { return mock.Subscribes("orderbook.50.BTCUSDT") >= 2; }));
  int seen = books();
  REQUIRE(Eventually([&] { return books() >= seen + 5; }));
  mock.DropStreams();
  REQUIRE(Eventually([&] { return mock.StreamConnections("/v5/public/spot") >= 2; }));
  seen = books();
  REQUIRE(Eventually([&] { return books() >= seen + 5; }));
  REQUIRE(Eventually([&] { return node.Count("TICK BTC/USDT:USDT") >= 3 && node.Count("] ORDER w-") >= 2; }));
  const std::string logs = node.Logs();
  INFO(logs);
  CHECK(node.Count(" BAD") == 0);
  CHECK(mock.StreamConnections("/v5/public/linear") >= 1);
  CHECK(mock.StreamConnections("/v5/private") >= 1);
  CHECK(logs.find("[ERROR]") == std::string::npos);
  CHECK(node.Stop() == 0);
}
