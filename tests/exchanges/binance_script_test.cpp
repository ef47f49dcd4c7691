// The binance connector through a real amid, as scripts see it: the node loads
// build/plugins/binance.so, `exchanges: {binance: {connector: binance, base_url, ws_url}}`
// points it at the loopback MockBinance, an account carries the mock's key. Workers log
// what their calls returned; the test drives the mock and reads the logs.
//   errors:  documented error codes reach the script as CCXT classes by name; a
//            createOrder whose answer is lost is resolved by its client order id —
//            exactly one order whether the first attempt made it or not;
//   noacct:  a private call without an account is AuthenticationError, nothing sent;
//   book:    watchOrderBook follows snapshot + diffs and resyncs after a lost update;
//   ticker:  watchTicker resumes after the exchange drops the socket.
#include <catch2/catch.hpp>

#include <signal.h>

#include <functional>

#include <nlohmann/json.hpp>

#include "tests/exchanges/mock_binance.h"
#include "tests/support/test_support.h"

using namespace ami::test;
using Json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string WorkerLogs(const std::filesystem::path& data_dir) {
  const auto dir = data_dir / "logs" / "workers";
  if (!std::filesystem::exists(dir)) return "";
  std::string text;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".log") text += ReadFile(e.path());
  return text;
}

// The JSON after the last "<tag> " in the logs, or null.
Json Logged(const std::string& logs, const std::string& tag) {
  const auto at = logs.rfind(tag + " ");
  if (at == std::string::npos) return nullptr;
  const auto start = at + tag.size() + 1;
  return Json::parse(logs.substr(start, logs.find('\n', start) - start), nullptr, false);
}

const char* kErrorsScript = R"JS(
const ex = new Stels.runtime.cex.binance();
const out = {};
for (const code of [-1000, -1002, -1007, -1013, -1015, -1021, -1022, -1100, -1121, -2010, -2013, -2015]) {
  try { await ex.fetchBalance({ mockError: String(code) }); out[code] = 'ok'; }
  catch (e) { out[code] = e.name; }
}
try { await ex.fetchTicker('NOPE/USDT'); out.badSymbol = 'ok'; } catch (e) { out.badSymbol = e.name; }
logger.info('ERRORS ' + JSON.stringify(out));
// A market order: filled at once, so its client id is free again at Binance — only the
// lookup by client id keeps a resend from buying twice.
const made = await ex.createOrder('BTC/USDT', 'market', 'buy', 0.001, undefined, { clientOrderId: 'amb-made' });
logger.info('AMB_MADE ' + JSON.stringify({ id: made.id, clientOrderId: made.clientOrderId, status: made.status }));
const lost = await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 40000, { clientOrderId: 'amb-lost' });
logger.info('AMB_LOST ' + JSON.stringify({ id: lost.id, clientOrderId: lost.clientOrderId, status: lost.status }));
const late = {};
try { await ex.fetchTicker('BTC/USDT', { mockStatus: '429' }); late.s429 = 'ok'; } catch (e) { late.s429 = e.name + ' ' + (e instanceof ccxt.NetworkError); }
await Stels.sleep(1500);
try { await ex.fetchTicker('BTC/USDT', { mockStatus: '418' }); late.s418 = 'ok'; } catch (e) { late.s418 = e.name; }
logger.info('LATE ' + JSON.stringify(late));
await Stels.sleep(3600000);
)JS";

const char* kNoAccountScript = R"JS(
const ex = new Stels.runtime.cex.binance();
try { await ex.fetchBalance(); logger.info('NOACCT ' + JSON.stringify({ name: 'ok' })); }
catch (e) { logger.info('NOACCT ' + JSON.stringify({ name: e.name, message: e.message })); }
await Stels.sleep(3600000);
)JS";

const char* kBookScript = R"JS(
const ex = new Stels.runtime.cex.binance();
for (;;) {
  try {
    const b = await ex.watchOrderBook('BTC/USDT');
    logger.info('BOOK ' + JSON.stringify({ nonce: b.nonce, bids: b.bids.slice(0, 6) }));
  } catch (e) { logger.info('BOOKERR ' + JSON.stringify({ name: e.name })); await Stels.sleep(200); }
}
)JS";

const char* kTickerScript = R"JS(
const ex = new Stels.runtime.cex.binance();
for (;;) {
  try { const t = await ex.watchTicker('BTC/USDT'); logger.info('TICK ' + JSON.stringify({ last: t.last })); }
  catch (e) { logger.info('TICKERR ' + JSON.stringify({ name: e.name })); await Stels.sleep(200); }
}
)JS";

std::string Indent(const std::string& script) {
  std::string out;
  std::size_t start = 0;
  while (start < script.size()) {
    auto end = script.find('\n', start);
    if (end == std::string::npos) end = script.size();
    out += "      " + script.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

bool HasBid(const Json& book, double price, double amount) {
  if (!book.is_object()) return false;
  for (const auto& l : book["bids"])
    if (l[0] == price && l[1] == amount) return true;
  return false;
}

}  // namespace

TEST_CASE("binance through a real amid: errors by class, lost orders, auth, book resync, reconnect",
          "[binance][amid]") {
  MockBinance mock;
  mock.AddAccount("script-key", "script-secret");
  mock.SetBook("BTCUSDT", {{100, 1}, {99, 2}}, {{101, 1}, {102, 3}}, 500);
  // The first order's answer is lost after it was made; the second is lost before.
  mock.AddFault(MockBinance::Fault::Late("POST", "/api/v3/order", 2500ms, /*execute=*/true));
  mock.AddFault(MockBinance::Fault::Late("POST", "/api/v3/order", 2500ms, /*execute=*/false));

  TempDir dir;
  WriteFile(dir / "node.yaml",
            "node: { id: s-0001, data_dir: ./data }\n"
            "limits: { stop_grace: 2s }\n"
            "exchanges:\n"
            "  binance: { connector: binance, market: spot, base_url: " + mock.http_url() +
                ", ws_url: " + mock.ws_url() + ", http_timeout: 1s }\n"
            "accounts:\n"
            "  main: { exchange: binance, api_key: script-key, secret: script-secret }\n"
            "workers:\n"
            "  - name: errors\n    mode: single\n    account_id: main\n    script: |\n" + Indent(kErrorsScript) +
            "  - name: noacct\n    mode: single\n    script: |\n" + Indent(kNoAccountScript) +
            "  - name: book\n    mode: single\n    script: |\n" + Indent(kBookScript) +
            "  - name: ticker\n    mode: single\n    script: |\n" + Indent(kTickerScript));
  ChildProcess amid((BinaryDir() / "apps" / "amid").string(), {"--config", (dir / "node.yaml").string()},
                    dir / "amid.out");
  const auto data = dir / "data";
  auto logs = [&] { return WorkerLogs(data); };
  auto wait_for = [&](const std::function<bool()>& condition, std::chrono::milliseconds timeout = 20s) {
    if (Eventually(condition, timeout)) return;
    FAIL("timed out; amid output:\n" << amid.Output() << "\nworker logs:\n" << logs());
  };

  // Streams: the book from a snapshot, then a lost update and the resync.
  wait_for([&] { return mock.Subscriptions().count("btcusdt@depth@100ms") > 0; }, 30s);
  mock.Depth("BTCUSDT", {{100, 1.5}}, {});
  wait_for([&] { return HasBid(Logged(logs(), "BOOK"), 100, 1.5); });
  mock.Depth("BTCUSDT", {{98, 5}}, {}, /*lost=*/true);
  mock.Depth("BTCUSDT", {{97, 6}}, {});
  wait_for([&] {
    const Json b = Logged(logs(), "BOOK");
    return HasBid(b, 98, 5) && HasBid(b, 97, 6);
  });
  CHECK(mock.DepthSnapshots("BTCUSDT") == 2);

  // The ticker, then the socket dropped by the exchange, then the ticker again.
  wait_for([&] { return mock.Subscriptions().count("btcusdt@ticker") > 0; });
  mock.PushTicker("BTCUSDT", 50100);
  wait_for([&] { return Logged(logs(), "TICK") == Json{{"last", 50100.0}}; });
  mock.DropSockets();
  wait_for([&] { return mock.SocketsOpened() == 2 && mock.Subscriptions().count("btcusdt@ticker") > 0; });
  mock.PushTicker("BTCUSDT", 50200);
  wait_for([&] { return Logged(logs(), "TICK") == Json{{"last", 50200.0}}; });

  // Errors by class name.
  wait_for([&] { return Logged(logs(), "ERRORS").is_object(); }, 30s);
  const Json errors = Logged(logs(), "ERRORS");
  CHECK(errors["-1000"] == "ExchangeNotAvailable");
  CHECK(errors["-1002"] == "PermissionDenied");
  CHECK(errors["-1007"] == "RequestTimeout");
  CHECK(errors["-1013"] == "InvalidOrder");
  CHECK(errors["-1015"] == "RateLimitExceeded");
  CHECK(errors["-1021"] == "InvalidNonce");
  CHECK(errors["-1022"] == "AuthenticationError");
  CHECK(errors["-1100"] == "BadRequest");
  CHECK(errors["-1121"] == "BadSymbol");
  CHECK(errors["-2010"] == "InsufficientFunds");
  CHECK(errors["-2013"] == "OrderNotFound");
  CHECK(errors["-2015"] == "AuthenticationError");
  CHECK(errors["badSymbol"] == "BadSymbol");

  // Lost answers: one order each, found by client order id.
  wait_for([&] { return Logged(logs(), "AMB_LOST").is_object(); }, 30s);
  const Json made = Logged(logs(), "AMB_MADE"), lost = Logged(logs(), "AMB_LOST");
  CHECK(made["clientOrderId"] == "amb-made");
  CHECK(made["status"] == "closed");
  CHECK(lost["clientOrderId"] == "amb-lost");
  CHECK(mock.OrdersWithClientId("amb-made") == 1);
  CHECK(mock.OrdersWithClientId("amb-lost") == 1);
  CHECK(mock.Orders().size() == 2);

  wait_for([&] { return Logged(logs(), "LATE").is_object(); }, 20s);
  const Json late = Logged(logs(), "LATE");
  CHECK(late["s429"] == "RateLimitExceeded true");
  CHECK(late["s418"] == "DDoSProtection");

  // No account: refused in the node, nothing reached the exchange without a key.
  wait_for([&] { return Logged(logs(), "NOACCT").is_object(); });
  CHECK(Logged(logs(), "NOACCT")["name"] == "AuthenticationError");
  CHECK(mock.UnauthenticatedPrivate() == 0);
  CHECK(mock.BadSignatures() == 0);
  CHECK(mock.VerifiedSignatures() > 10);
  CHECK(logs().find("script-secret") == std::string::npos);

  amid.Signal(SIGTERM);
  CHECK(amid.Wait(20s) == 0);
  const std::string all = logs();
  CHECK(all.find("ExchangeClosedByUser") != std::string::npos);   // the waiting watches ended on stop
}
