// The bybit connector (ami_bybit_core) against the loopback MockBybit: every REST method
// in CCXT's shapes, private calls without keys, error mapping, time sync, the rate
// limiter, and the ambiguous createOrder rule. Streams: bybit_stream_test.cpp.
#include <catch2/catch.hpp>

#include <set>
#include <thread>

#include "tests/exchanges/bybit_harness.h"
#include "tests/support/test_support.h"

using namespace ami::test::bybit;
using ami::test::Eventually;
using Json = nlohmann::json;

namespace {
// A fault that answers Bybit's retCode `code` (with `message`, or the documented one).
Fault RetCode(int code, std::string message = "") {
  Fault fault;
  fault.ret_code = code;
  fault.ret_msg = std::move(message);
  return fault;
}
}  // namespace

TEST_CASE("bybit connector: markets and market data in CCXT's shapes", "[bybit][rest]") {
  Harness h;
  const Json markets = h.Ok("loadMarkets", {});
  REQUIRE(markets.contains("BTC/USDT"));
  REQUIRE(markets.contains("BTC/USDT:USDT"));
  CHECK(markets.contains("SOL/USDT"));
  CHECK(markets["BTC/USDT"]["precision"]["price"] == Approx(0.1));
  CHECK(markets["BTC/USDT:USDT"]["precision"]["amount"] == Approx(0.001));
  CHECK(markets["BTC/USDT:USDT"]["settle"] == "USDT");
  const int loads = h.mock.Requests("/v5/market/instruments-info");
  CHECK(loads == 2);   // spot + linear, once

  const Json t = h.Ok("fetchTicker", {"BTC/USDT"});
  CHECK(t["symbol"] == "BTC/USDT");
  CHECK(t["last"] == Approx(65000));
  CHECK(t["bid"] == Approx(64999.9));
  CHECK(t["ask"] == Approx(65000.1));
  CHECK(t["timestamp"].is_number());
  const Json lt = h.Ok("fetchTicker", {"ETH/USDT:USDT"});
  CHECK(lt["symbol"] == "ETH/USDT:USDT");
  CHECK(lt["last"] == Approx(3000));
  const Json all = h.Ok("fetchTickers", {});
  CHECK(all.size() == 5);   // 3 spot + 2 linear
  const Json two = h.Ok("fetchTickers", {Json::array({"BTC/USDT", "BTC/USDT:USDT"})});
  CHECK(two.size() == 2);

  const Json book = h.Ok("fetchOrderBook", {"BTC/USDT", 5});
  CHECK(book["bids"][0][0] == Approx(64999.9));
  CHECK(book["bids"][1][0] == Approx(64999.8));
  CHECK(book["asks"][0][0] == Approx(65000.1));
  const Json trades = h.Ok("fetchTrades", {"BTC/USDT", nullptr, 2});
  REQUIRE(trades.size() == 2);
  CHECK(trades[0]["timestamp"].get<int64_t>() < trades[1]["timestamp"].get<int64_t>());
  const Json candles = h.Ok("fetchOHLCV", {"BTC/USDT", "1m"});
  REQUIRE(candles.size() == 3);
  CHECK(candles[0][0].get<int64_t>() < candles[2][0].get<int64_t>());
  CHECK(h.ErrorOf("fetchOHLCV", {"BTC/USDT", "7m"}) == "BadRequest");

  const int before = h.mock.Requests("");
  CHECK(h.ErrorOf("fetchTicker", {"DOGE/USDT"}) == "BadSymbol");
  CHECK(h.mock.Requests("") == before);   // known to be unknown: nothing sent
  CHECK(h.mock.Requests("/v5/market/instruments-info") == loads);

  const Json d = Json::parse(h.connector->Describe());
  CHECK(d["id"] == "bybit");
  for (const char* m : {"fetchTicker", "createOrder", "fetchOpenOrders", "fetchMyTrades", "watchOrderBook", "watchOrders"})
    CHECK(d["has"][m] == true);
}

TEST_CASE("bybit connector: a private call without keys fails before anything is sent", "[bybit][rest][auth]") {
  Harness h;
  ami::plugin::CallContext none;
  none.worker_sid = "w-2";
  for (const auto& [method, args] : std::vector<std::pair<std::string, Harness::Args>>{
           {"fetchBalance", Harness::Args{}},
           {"createOrder", {"BTC/USDT", "limit", "buy", 0.001, 60000}},
           {"fetchOpenOrders", Harness::Args{}},
           {"cancelAllOrders", Harness::Args{}}}) {
    auto r = h.Call(method, args, none);
    INFO(method << ": " << r.message);
    CHECK_FALSE(r.ok);
    CHECK(r.error_class == "AuthenticationError");
    CHECK(r.message.find("nothing was sent") != std::string::npos);
  }
  CHECK(h.mock.Requests("") == 0);
  auto w = h.Watch("watchOrders", {}, none);
  REQUIRE(w.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  CHECK(w.get().error_class == "AuthenticationError");
  CHECK(h.mock.OpenSockets() == 0);

  // A wrong secret: the mock checks every signature.
  auto bad = ami::test::bybit::Account();
  bad.credentials.secret = "wrong";
  CHECK(h.ErrorOf("fetchBalance", {}, bad) == "AuthenticationError");
  CHECK(h.mock.SignatureFailures() == 1);
}

TEST_CASE("bybit connector: orders — create (rounded), fetch by id and client id, cancel, history, trades", "[bybit][rest][orders]") {
  Harness h;
  const Json o = h.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.0012345678, 60000.06, {{"clientOrderId", "c-1"}}});
  CHECK(o["clientOrderId"] == "c-1");
  CHECK(o["symbol"] == "BTC/USDT");
  CHECK(o["amount"] == Approx(0.001234));   // truncated to basePrecision 0.000001
  CHECK(o["price"] == Approx(60000.1));     // rounded to the 0.1 tick
  const auto mock_orders = h.mock.Orders();
  REQUIRE(mock_orders.size() == 1);
  CHECK(mock_orders[0]["qty"] == "0.001234");
  CHECK(mock_orders[0]["price"] == "60000.1");
  CHECK(mock_orders[0]["orderLinkId"] == "c-1");

  const Json by_id = h.Ok("fetchOrder", {o["id"], "BTC/USDT"});
  CHECK(by_id["status"] == "open");
  CHECK(by_id["remaining"] == Approx(0.001234));
  const Json by_client = h.Ok("fetchOrder", {"", nullptr, {{"clientOrderId", "c-1"}}});   // no symbol: both categories
  CHECK(by_client["id"] == o["id"]);
  CHECK(h.ErrorOf("fetchOrder", {"nope", "BTC/USDT"}) == "OrderNotFound");

  // A clientOrderId Bybit would refuse (too long): a stable valid orderLinkId is sent,
  // the original comes back.
  const std::string long_id = "grid-0b5c1f2e-5d1a-4c3b-9a8e-7f6d5c4b3a21-3";
  const Json g = h.Ok("createOrder", {"BTC/USDT", "limit", "sell", 0.001, 70000, {{"clientOrderId", long_id}}});
  CHECK(g["clientOrderId"] == long_id);
  const Json open = h.Ok("fetchOpenOrders", {"BTC/USDT"});
  REQUIRE(open.size() == 2);
  std::set<std::string> ids;
  for (const auto& x : open) ids.insert(x["clientOrderId"].get<std::string>());
  CHECK(ids == std::set<std::string>{"c-1", long_id});
  // The same clientOrderId again (a retry whose first answer was lost): the first order.
  const Json again = h.Ok("createOrder", {"BTC/USDT", "limit", "sell", 0.001, 70000, {{"clientOrderId", long_id}}});
  CHECK(again["id"] == g["id"]);
  CHECK(h.mock.Orders().size() == 2);

  const Json canceled = h.Ok("cancelOrder", {o["id"], "BTC/USDT"});
  CHECK(canceled["id"] == o["id"]);
  CHECK(h.Ok("fetchOrder", {o["id"], "BTC/USDT"})["status"] == "canceled");
  CHECK(h.ErrorOf("cancelOrder", {o["id"], "BTC/USDT"}) == "OrderNotFound");   // 110001
  const Json g_canceled = h.Ok("cancelOrder", {g["id"]});                       // no symbol: looked up
  CHECK(g_canceled["symbol"] == "BTC/USDT");

  // A market buy fills at once; it is a closed order and a trade of mine.
  const Json m = h.Ok("createOrder", {"BTC/USDT:USDT", "market", "buy", 0.0105, nullptr, {{"clientOrderId", "m-1"}, {"reduceOnly", false}}});
  CHECK(h.mock.Orders().back()["qty"] == "0.01");   // truncated to the linear qtyStep 0.001
  // Spot market orders: the amount in base (marketUnit baseCoin), or a quote cost.
  h.Ok("createOrder", {"SOL/USDT", "market", "sell", 1.23456, nullptr, {{"clientOrderId", "m-2"}}});
  CHECK(h.mock.Orders().back()["qty"] == "1.234");
  h.Ok("createOrder", {"SOL/USDT", "market", "buy", 1, nullptr, {{"clientOrderId", "m-3"}, {"cost", "100.129"}}});
  CHECK(h.mock.Orders().back()["qty"] == "100.12");   // truncated to the 0.01 tick, in USDT
  CHECK(h.ErrorOf("createOrder", {"SOL/USDT", "market", "buy", 1, nullptr, {{"cost", "lots"}}}) == "BadRequest");
  const Json closed = h.Ok("fetchClosedOrders", {"BTC/USDT:USDT"});
  REQUIRE(closed.size() == 1);
  CHECK(closed[0]["id"] == m["id"]);
  CHECK(closed[0]["status"] == "closed");
  CHECK(closed[0]["average"] == Approx(65000));
  const Json mine = h.Ok("fetchMyTrades", {"BTC/USDT:USDT"});
  REQUIRE(mine.size() == 1);
  CHECK(mine[0]["order"] == m["id"]);
  CHECK(mine[0]["price"] == Approx(65000));
  const Json every = h.Ok("fetchOrders", {"BTC/USDT"});
  CHECK(every.size() == 2);

  h.Ok("createOrder", {"ETH/USDT", "limit", "buy", 0.01, 2000, {{"clientOrderId", "e-1"}}});
  h.Ok("createOrder", {"ETH/USDT:USDT", "limit", "buy", 0.01, 2000, {{"clientOrderId", "e-2"}}});
  CHECK(h.Ok("fetchOpenOrders", {}).size() == 2);   // both categories
  CHECK(h.Ok("cancelAllOrders", {}).size() == 2);
  CHECK(h.Ok("fetchOpenOrders", {}).empty());

  CHECK(h.ErrorOf("createOrder", {"BTC/USDT", "limit", "buy", 0.0000001, 60000}) == "InvalidOrder");   // below the step
  CHECK(h.ErrorOf("createOrder", {"BTC/USDT", "limit", "buy", 0.001}) == "ArgumentsRequired");
  CHECK(h.ErrorOf("createOrder", {"BTC/USDT", "stop", "buy", 0.001, 1}) == "InvalidOrder");
  CHECK(h.ErrorOf("createOrder", {"BTC/USDT", "market", "buy", 0.001, nullptr, {{"postOnly", true}}}) == "InvalidOrder");

  const Json bal = h.Ok("fetchBalance", {});
  CHECK(bal["USDT"]["total"] == Approx(10000));
  CHECK(bal["total"]["BTC"] == Approx(1));
  CHECK(bal["info"]["result"]["list"][0]["accountType"] == "UNIFIED");
  CHECK(h.mock.SignatureFailures() == 0);
}

TEST_CASE("bybit connector: Bybit errors, HTTP statuses, slow and dropped answers map to CCXT classes", "[bybit][rest][errors]") {
  Harness h(MockBybit::Options{}, 600);
  h.Ok("loadMarkets", {});
  const std::vector<std::pair<int, std::string>> codes = {
      {10001, "BadRequest"}, {10003, "AuthenticationError"}, {10005, "PermissionDenied"},
      {10006, "RateLimitExceeded"}, {110001, "OrderNotFound"}, {110007, "InsufficientFunds"},
      {110072, "InvalidOrder"}, {10016, "ExchangeError"}, {10008, "AccountSuspended"},
      {110025, "NoChange"}, {110026, "MarginModeAlreadySet"}, {131231, "NotSupported"},
      {170241, "OperationRejected"}, {4242424, "ExchangeError"}};
  for (const auto& [code, cls] : codes) {
    h.mock.FailNext("/v5/market/tickers", RetCode(code));
    INFO(code);
    CHECK(h.ErrorOf("fetchTicker", {"BTC/USDT"}) == cls);
  }
  Fault broad = RetCode(10016, "Request timeout, please try again");
  h.mock.FailNext("/v5/market/tickers", broad);
  CHECK(h.ErrorOf("fetchTicker", {"BTC/USDT"}) == "RequestTimeout");   // CCXT's broad rule first
  // 10002: the clock is measured again and the request sent once more.
  h.mock.FailNext("/v5/account/wallet-balance", RetCode(10002));
  CHECK(h.Ok("fetchBalance", {})["USDT"]["total"] == Approx(10000));
  h.mock.FailNext("/v5/account/wallet-balance", RetCode(10002), 2);
  CHECK(h.ErrorOf("fetchBalance", {}) == "InvalidNonce");

  Fault s429;
  s429.http_status = 429;
  h.mock.FailNext("/v5/market/tickers", s429);
  CHECK(h.ErrorOf("fetchTicker", {"BTC/USDT"}) == "RateLimitExceeded");
  Fault s403;
  s403.http_status = 403;
  h.mock.FailNext("/v5/market/tickers", s403);
  CHECK(h.ErrorOf("fetchTicker", {"BTC/USDT"}) == "RateLimitExceeded");   // "access too frequent"
  Fault s503;
  s503.http_status = 503;
  h.mock.FailNext("/v5/market/tickers", s503);
  CHECK(h.ErrorOf("fetchTicker", {"BTC/USDT"}) == "ExchangeNotAvailable");
  Fault slow;
  slow.delay_ms = 1500;
  h.mock.FailNext("/v5/market/tickers", slow);
  CHECK(h.ErrorOf("fetchTicker", {"BTC/USDT"}) == "RequestTimeout");

  DroppingServer dropper;
  Harness lost(MockBybit::Options{}, 600, dropper.base_url());
  CHECK(lost.ErrorOf("fetchTicker", {"BTC/USDT"}) == "NetworkError");
  CHECK(dropper.connections() >= 1);
}

TEST_CASE("bybit connector: private requests carry the server's time, whatever the local clock", "[bybit][rest][clock]") {
  MockBybit::Options o;
  o.clock_offset_ms = 60000;   // the exchange is a minute ahead: local stamps would be refused
  Harness h(o);
  CHECK(h.Ok("fetchBalance", {})["USDT"]["total"] == Approx(10000));
  CHECK(h.mock.Requests("/v5/market/time") == 1);
  CHECK(h.mock.SignatureFailures() == 0);
  // The exchange's clock jumps: one refusal (10002), a new measurement, and it works.
  h.mock.SetClockOffset(-30000);
  CHECK(h.Ok("fetchBalance", {})["USDT"]["total"] == Approx(10000));
  CHECK(h.mock.SignatureFailures() == 1);
  CHECK(h.mock.Requests("/v5/market/time") == 2);
}

TEST_CASE("bybit connector: the limiter keeps a burst of orders under Bybit's per-second limit", "[bybit][rest][limits]") {
  Harness h;
  h.Ok("loadMarkets", {});
  constexpr int kThreads = 6, kEach = 7;   // 42 orders; spot order/create allows 20/s
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::vector<std::string> errors;
  std::mutex mu;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto r = h.Call("createOrder", {"BTC/USDT", "limit", "buy", 0.001, 50000 + t * 100 + i,
                                        {{"clientOrderId", "burst-" + std::to_string(t) + "-" + std::to_string(i)}}});
        if (r.ok) ++ok;
        else {
          std::lock_guard<std::mutex> lock(mu);
          errors.push_back(r.error_class + ": " + r.message);
        }
      }
    });
  for (auto& t : threads) t.join();
  const auto took = std::chrono::steady_clock::now() - start;
  INFO((errors.empty() ? std::string() : errors[0]));
  CHECK(ok == kThreads * kEach);
  CHECK(h.mock.LimitViolations() == 0);
  CHECK(h.mock.MaxPerSecond("/v5/order/create") <= 20);
  CHECK(took > std::chrono::milliseconds(1500));   // it did have to wait: 42 at 20/s
  CHECK(h.connector->rest().limiter().waits() > 0);
  CHECK(h.connector->rest().connections_opened() <= 12);   // kept alive and reused
}

TEST_CASE("bybit connector: an ambiguous createOrder is resolved by its orderLinkId — exactly one order", "[bybit][rest][orders]") {
  Harness h(MockBybit::Options{}, 500);
  h.Ok("loadMarkets", {});
  // The exchange places the order but the answer comes after our timeout.
  Fault late;
  late.delay_ms = 1200;
  h.mock.FailNext("/v5/order/create", late);
  const Json o = h.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.001, 60000, {{"clientOrderId", "amb-1"}}});
  CHECK(o["clientOrderId"] == "amb-1");
  CHECK(o["status"] == "open");
  CHECK(h.mock.OrdersWithLinkId("amb-1") == 1);

  // The request never took effect: not found → RequestTimeout; the runtime then sends
  // the same clientOrderId again, which makes the one order.
  Fault lost;
  lost.delay_ms = 1200;
  lost.apply = false;
  h.mock.FailNext("/v5/order/create", lost);
  CHECK(h.ErrorOf("createOrder", {"BTC/USDT", "limit", "buy", 0.001, 60000, {{"clientOrderId", "amb-2"}}}) == "RequestTimeout");
  CHECK(h.mock.OrdersWithLinkId("amb-2") == 0);
  h.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.001, 60000, {{"clientOrderId", "amb-2"}}});
  CHECK(h.mock.OrdersWithLinkId("amb-2") == 1);
  // The retry of a create that did land (its answer lost): Bybit says duplicate, we return it.
  const Json dup = h.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.001, 60000, {{"clientOrderId", "amb-1"}}});
  CHECK(dup["id"] == o["id"]);
  CHECK(h.mock.OrdersWithLinkId("amb-1") == 1);
  CHECK(h.mock.Requests("/v5/order/create") == 4);
}

TEST_CASE("bybit connector: Bybit's usage headers lower the limiter and 10006 blocks until its reset time", "[bybit][rest][limits]") {
  Harness h;
  h.Ok("fetchOpenOrders", {"BTC/USDT"});
  auto& rest = h.connector->rest();
  const std::string key = rest.AccountBucket({"private", "GET", "v5/order/realtime", {}, "spot"}, Account().credentials);
  REQUIRE_FALSE(key.empty());
  CHECK(rest.limiter().Available(key) >= 5);
  // Bybit says nothing is left of this endpoint's limit (another client of the same key
  // spent it): the bucket follows.
  Fault spent;
  spent.headers = {{"X-Bapi-Limit", "50"}, {"X-Bapi-Limit-Status", "0"}};
  h.mock.FailNext("/v5/order/realtime", spent);
  h.Ok("fetchOpenOrders", {"BTC/USDT"});
  CHECK(rest.limiter().Available(key) < 5);
  // Refused for the rate with a reset time: nothing goes out for that bucket before it.
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  Fault busy = RetCode(10006);
  busy.headers = {{"X-Bapi-Limit-Reset-Timestamp", std::to_string(now_ms + 800)}};
  h.mock.FailNext("/v5/order/realtime", busy);
  CHECK(h.ErrorOf("fetchOpenOrders", {"BTC/USDT"}) == "RateLimitExceeded");
  const auto start = std::chrono::steady_clock::now();
  h.Ok("fetchOpenOrders", {"BTC/USDT"});
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(500));
  CHECK(h.mock.LimitViolations() == 0);
}
