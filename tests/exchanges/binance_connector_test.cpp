// The binance connector's REST side against the loopback MockBinance: every method on
// spot and USDⓈ-M futures, credentials checked before anything is sent, the signature the
// mock verifies, the error table by class, the weight limiter, Retry-After, the clock
// re-sync on -1021, and the ambiguous createOrder resolved by client order id.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "binance_streams.h"
#include "tests/exchanges/binance_test_rig.h"

using namespace ami;
using namespace ami::test;
using Json = nlohmann::json;
using namespace std::chrono_literals;

TEST_CASE("binance spot market data in CCXT's shapes", "[binance]") {
  BinanceRig rig;
  Json markets = rig.Ok("loadMarkets", Json::array());
  REQUIRE(markets.contains("BTC/USDT"));
  CHECK(markets["BTC/USDT"]["precision"]["price"] == 0.01);
  CHECK(markets["BTC/USDT"]["limits"]["cost"]["min"] == 5.0);

  Json ticker = rig.Ok("fetchTicker", {"BTC/USDT"});
  CHECK(ticker["symbol"] == "BTC/USDT");
  CHECK(ticker["last"] == 50000.0);
  CHECK(ticker["info"]["symbol"] == "BTCUSDT");
  Json tickers = rig.Ok("fetchTickers", Json::array({Json::array({"BTC/USDT", "ETH/USDT"})}));
  CHECK(tickers.size() == 2);
  CHECK(tickers["ETH/USDT"]["last"] == 3000.0);
  CHECK(rig.Ok("fetchTickers", Json::array()).size() == 3);

  rig.mock.SetBook("BTCUSDT", {{100, 1}, {99, 2}}, {{101, 1}, {102, 3}}, 77);
  Json book = rig.Ok("fetchOrderBook", {"BTC/USDT", 1});
  CHECK(book["bids"] == Json::parse("[[100.0, 1.0]]"));
  CHECK(book["asks"] == Json::parse("[[101.0, 1.0]]"));
  CHECK(book["nonce"] == 77);

  Json trades = rig.Ok("fetchTrades", {"BTC/USDT"});
  REQUIRE(trades.size() == 1);
  CHECK(trades[0]["side"] == "sell");
  Json candles = rig.Ok("fetchOHLCV", {"BTC/USDT", "1h"});
  REQUIRE(candles.size() == 1);
  CHECK(candles[0][0] == 1499040000000);
  CHECK(rig.Fails("fetchOHLCV", {"BTC/USDT", "7m"}) == "BadRequest");

  // Unknown symbols are refused from the cached markets, without a request.
  const int before = rig.mock.TotalRequests();
  CHECK(rig.Fails("fetchTicker", {"NOPE/USDT"}) == "BadSymbol");
  CHECK(rig.Fails("fetchTicker", {"BTC/USDT:USDT"}) == "BadSymbol");
  CHECK(rig.mock.TotalRequests() == before);
  CHECK(rig.mock.Requests("GET", "/api/v3/exchangeInfo") == 1);   // loaded once, then cached
  CHECK(rig.mock.BadSignatures() == 0);
}

TEST_CASE("binance spot orders: precision, client ids, post-only, cancel, lists, my trades", "[binance]") {
  BinanceRig rig;
  Json balance = rig.Ok("fetchBalance", Json::array());
  CHECK(balance["BTC"]["free"] == 4723846.89208129);

  Json limit = rig.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.0012345, 40000.126, {{"clientOrderId", "ami-t-1"}}});
  CHECK(limit["status"] == "open");
  CHECK(limit["clientOrderId"] == "ami-t-1");
  CHECK(limit["amount"] == 0.00123);
  auto orders = rig.mock.Orders();
  REQUIRE(orders.size() == 1);
  CHECK(orders[0].quantity == "0.00123000");   // truncated to the 0.00001 step
  CHECK(orders[0].price == "40000.13000000");  // rounded to the 0.01 tick
  CHECK(orders[0].time_in_force == "GTC");
  const std::string id = limit["id"];

  CHECK(rig.Ok("fetchOrder", {id, "BTC/USDT"})["clientOrderId"] == "ami-t-1");
  CHECK(rig.Ok("fetchOrder", {"ami-t-1", "BTC/USDT"})["id"] == id);
  CHECK(rig.Ok("fetchOrder", {"x", "BTC/USDT", {{"clientOrderId", "ami-t-1"}}})["id"] == id);
  CHECK(rig.Fails("fetchOrder", {"999999", "BTC/USDT"}) == "OrderNotFound");
  CHECK(rig.Fails("fetchOrder", {id}) == "ArgumentsRequired");
  CHECK(rig.Ok("fetchOpenOrders", {"BTC/USDT"}).size() == 1);
  CHECK(rig.Ok("fetchOpenOrders", Json::array()).size() == 1);

  Json canceled = rig.Ok("cancelOrder", {id, "BTC/USDT"});
  CHECK(canceled["status"] == "canceled");
  CHECK(canceled["clientOrderId"] == "ami-t-1");
  CHECK(rig.Fails("cancelOrder", {id, "BTC/USDT"}) == "OrderNotFound");

  Json market = rig.Ok("createOrder", {"BTC/USDT", "market", "buy", 0.002, nullptr, {{"clientOrderId", "ami-t-2"}}});
  CHECK(market["status"] == "closed");
  CHECK(market["filled"] == 0.002);
  CHECK(market["average"] == 50000.0);
  CHECK(market["fee"]["currency"] == "USDT");
  CHECK(market["trades"].size() == 1);

  // postOnly: LIMIT_MAKER on spot; one that would take is refused as Binance does.
  Json maker = rig.Ok("createOrder", {"BTC/USDT", "limit", "sell", 0.001, 60000, {{"postOnly", true}, {"clientOrderId", "ami-t-3"}}});
  CHECK(maker["postOnly"] == true);
  CHECK(rig.mock.Orders().back().type == "LIMIT_MAKER");
  CHECK(rig.Fails("createOrder", {"BTC/USDT", "limit", "buy", 0.001, 60000, {{"postOnly", true}}}) == "OrderImmediatelyFillable");
  CHECK(rig.Fails("createOrder", {"BTC/USDT", "limit", "buy", 0.000001, 60000}) == "InvalidOrder");   // below the step
  CHECK(rig.Fails("createOrder", {"BTC/USDT", "limit", "buy", 0.001}) == "InvalidOrder");            // no price
  CHECK(rig.Fails("createOrder", {"BTC/USDT", "market", "buy", 0.001, nullptr, {{"reduceOnly", true}}}) == "InvalidOrder");

  CHECK(rig.Ok("fetchClosedOrders", {"BTC/USDT"}).size() == 1);   // the filled market order
  CHECK(rig.Ok("fetchOrders", {"BTC/USDT"}).size() == 3);
  Json mine = rig.Ok("fetchMyTrades", {"BTC/USDT"});
  REQUIRE(mine.size() == 1);
  CHECK(mine[0]["side"] == "buy");
  CHECK(mine[0]["takerOrMaker"] == "taker");

  Json all = rig.Ok("cancelAllOrders", {"BTC/USDT"});
  REQUIRE(all.size() == 1);
  CHECK(all[0]["clientOrderId"] == "ami-t-3");
  CHECK(rig.Ok("cancelAllOrders", {"BTC/USDT"}).empty());   // -2011 when none: an empty list
  CHECK(rig.mock.VerifiedSignatures() >= 15);
  CHECK(rig.mock.BadSignatures() == 0);
}

TEST_CASE("binance USDⓈ-M futures: contracts, reduceOnly, GTX, v2 balance, cancel all", "[binance]") {
  BinanceRig rig(Json{{"market", "future"}});
  Json markets = rig.Ok("loadMarkets", Json::array());
  REQUIRE(markets.contains("BTC/USDT:USDT"));
  CHECK(markets["BTC/USDT:USDT"]["contractSize"] == 1);
  CHECK(markets.contains("BTC/USDT:USDT-250627"));
  CHECK(rig.Fails("fetchTicker", {"BTC/USDT"}) == "BadSymbol");
  CHECK(rig.Ok("fetchTicker", {"BTC/USDT:USDT"})["last"] == 50000.0);

  Json balance = rig.Ok("fetchBalance", Json::array());
  CHECK(balance["USDT"]["free"] == 23.72469206);
  CHECK(rig.mock.Requests("GET", "/fapi/v2/balance") == 1);

  Json o = rig.Ok("createOrder", {"BTC/USDT:USDT", "limit", "sell", 0.0105, 60000.04,
                                  {{"reduceOnly", true}, {"postOnly", true}, {"clientOrderId", "ami-f-1"}}});
  CHECK(o["status"] == "open");
  CHECK(o["postOnly"] == true);
  CHECK(o["reduceOnly"] == true);
  auto placed = rig.mock.Orders().back();
  CHECK(placed.type == "LIMIT");
  CHECK(placed.time_in_force == "GTX");
  CHECK(placed.reduce_only);
  CHECK(placed.quantity == "0.01000000");
  CHECK(placed.price == "60000.00000000");
  CHECK(rig.Fails("createOrder", {"BTC/USDT:USDT", "limit", "buy", 0.01, 60000, {{"postOnly", true}}}) ==
        "OrderImmediatelyFillable");   // -5022
  Json all = rig.Ok("cancelAllOrders", {"BTC/USDT:USDT"});
  REQUIRE(all.size() == 1);
  CHECK(all[0]["status"] == "canceled");
  CHECK(rig.Ok("fetchOpenOrders", {"BTC/USDT:USDT"}).empty());
  Json filled = rig.Ok("createOrder", {"BTC/USDT:USDT", "market", "buy", 0.01, nullptr, {{"clientOrderId", "ami-f-2"}}});
  CHECK(filled["status"] == "closed");
  CHECK(filled["average"] == 50000.0);
  CHECK(rig.Ok("fetchMyTrades", {"BTC/USDT:USDT"}).size() == 1);
  CHECK(rig.mock.BadSignatures() == 0);
}

TEST_CASE("binance private calls without credentials fail before anything is sent", "[binance]") {
  BinanceRig rig;
  plugin::CallContext none;
  none.worker_sid = "w-x";
  for (const char* m : {"fetchBalance", "fetchOpenOrders", "fetchMyTrades"}) {
    auto r = rig.Call(m, Json::array(), none);
    CHECK(r.error_class == "AuthenticationError");
    CHECK(r.message.find("nothing was sent") != std::string::npos);
  }
  CHECK(rig.Fails("createOrder", {"BTC/USDT", "market", "buy", 1}, none) == "AuthenticationError");
  CHECK(rig.mock.TotalRequests() == 0);

  // A wrong secret reaches the exchange, which refuses the signature.
  plugin::CallContext wrong = BinanceRig::Account();
  wrong.credentials.secret = "not-the-secret";
  CHECK(rig.Fails("fetchBalance", Json::array(), wrong) == "AuthenticationError");
  CHECK(rig.mock.BadSignatures() == 1);
  // A stale fencing term is refused, not sent.
  plugin::CallContext t5 = BinanceRig::Account("w-f");
  t5.term = 5;
  rig.Ok("fetchBalance", Json::array(), t5);
  plugin::CallContext t3 = t5;
  t3.term = 3;
  CHECK(rig.Fails("fetchBalance", Json::array(), t3) == "PermissionDenied");
}

TEST_CASE("binance error codes map to CCXT's classes", "[binance]") {
  BinanceRig rig;
  const std::vector<std::pair<int, std::string>> table = {
      {-1000, "ExchangeNotAvailable"}, {-1002, "PermissionDenied"}, {-1007, "RequestTimeout"},
      {-1013, "InvalidOrder"},         {-1015, "RateLimitExceeded"}, {-1021, "InvalidNonce"},
      {-1022, "AuthenticationError"},  {-1100, "BadRequest"},        {-1121, "BadSymbol"},
      {-2010, "InsufficientFunds"},    {-2011, "OrderNotFound"},     {-2013, "OrderNotFound"},
      {-2014, "AuthenticationError"},  {-2015, "AuthenticationError"}};
  for (const auto& [code, cls] : table) {
    INFO(code);
    CHECK(rig.Fails("fetchBalance", {{{"mockError", std::to_string(code)}}}) == cls);
  }
  // -1021 was refused, not executed: the clock is measured again and the call resent once.
  const int account_calls = rig.mock.Requests("GET", "/api/v3/account");
  rig.Fails("fetchBalance", {{{"mockError", "-1021"}}});
  CHECK(rig.mock.Requests("GET", "/api/v3/account") == account_calls + 2);
  CHECK(rig.Fails("fetchTicker", {"BTC/USDT", {{"mockStatus", "503"}}}) == "ExchangeNotAvailable");
  CHECK(rig.Fails("fetchTicker", {"BTC/USDT", {{"mockStatus", "418"}}}) == "DDoSProtection");
}

TEST_CASE("binance re-measures the server clock after -1021 and the resent call passes", "[binance]") {
  BinanceRig rig;
  rig.Ok("fetchBalance", Json::array());
  rig.mock.SetClockOffset(30000);   // the exchange's clock jumps 30 s ahead
  rig.Ok("fetchBalance", Json::array());
  CHECK(rig.mock.Requests("GET", "/api/v3/time") >= 2);
}

TEST_CASE("binance after 429 sends nothing until Retry-After has passed", "[binance]") {
  BinanceRig rig(Json{{"http_timeout", "3s"}});
  CHECK(rig.Fails("fetchTicker", {"BTC/USDT", {{"mockStatus", "429"}}}) == "RateLimitExceeded");
  const auto start = std::chrono::steady_clock::now();
  rig.Ok("fetchTicker", {"BTC/USDT"});   // waits out the 1 s instead of earning a ban
  CHECK(std::chrono::steady_clock::now() - start >= 800ms);
  CHECK(rig.mock.Banned() == 0);
}

namespace {
// Binance counts weight per calendar minute; a test that straddles a minute boundary sees
// the window reset (both sides reset together), so exact counts hold only within one.
std::int64_t WallMinute() {
  return std::chrono::duration_cast<std::chrono::minutes>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

TEST_CASE("binance weight limiter keeps under the exchange's limit", "[binance]") {
  const auto minute = WallMinute();
  SECTION("its own budget: calls past it fail RateLimitExceeded without being sent") {
    BinanceRig rig(Json{{"weight_limit", 100}}, MockBinance::Options{100, 60s, 5000});
    rig.Ok("loadMarkets", Json::array());   // weight 20
    std::atomic<int> ok{0}, limited{0}, other{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
      threads.emplace_back([&] {
        for (int i = 0; i < 5; ++i) {
          const std::string cls = rig.Fails("fetchOrderBook", {"BTC/USDT", 100});   // weight 5
          (cls == "ok" ? ok : cls == "RateLimitExceeded" ? limited : other)++;
        }
      });
    for (auto& t : threads) t.join();
    CHECK(other == 0);
    if (WallMinute() == minute) CHECK(ok == 16);   // (100 - 20) / 5
    CHECK(ok >= 16);
    CHECK(limited == 40 - ok);
    CHECK(rig.mock.Requests("GET", "/api/v3/depth") == ok);
    CHECK(rig.mock.RateLimited() == 0);
    CHECK(rig.mock.MaxWindowWeight() <= 100);
  }
  SECTION("the used weight the exchange reports (X-MBX-USED-WEIGHT-1M) lowers the budget") {
    BinanceRig rig(Json{{"weight_limit", 100}}, MockBinance::Options{100, 60s, 5000});
    rig.mock.SetUsedWeight(70);   // other programs on this IP spent 70 already
    rig.Ok("loadMarkets", Json::array());   // the reply says 90 used
    int ok = 0;
    for (int i = 0; i < 10; ++i) ok += rig.Fails("fetchOrderBook", {"BTC/USDT", 100}) == "ok";
    if (WallMinute() == minute) CHECK(ok == 2);   // 90 reported + 2 x 5
    CHECK(rig.mock.RateLimited() == 0);
    CHECK(rig.mock.MaxWindowWeight() <= 100);
  }
}

TEST_CASE("binance createOrder with a lost answer is resolved by its client order id", "[binance]") {
  BinanceRig rig;   // http_timeout 1 s
  rig.Ok("loadMarkets", Json::array());

  SECTION("the order was made: the lookup returns it, no second order") {
    rig.mock.AddFault(MockBinance::Fault::Late("POST", "/api/v3/order", 2500ms, /*execute=*/true));
    Json o = rig.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.001, 40000, {{"clientOrderId", "amb-1"}}});
    CHECK(o["clientOrderId"] == "amb-1");
    CHECK(o["status"] == "open");
    CHECK(rig.mock.OrdersWithClientId("amb-1") == 1);
    CHECK(rig.mock.Requests("GET", "/api/v3/order") == 1);
  }
  SECTION("the order was not made: RequestTimeout, and the resend with the same id places one") {
    rig.mock.AddFault(MockBinance::Fault::Late("POST", "/api/v3/order", 2500ms, /*execute=*/false));
    auto r = rig.Call("createOrder", {"BTC/USDT", "limit", "buy", 0.001, 40000, {{"clientOrderId", "amb-2"}}});
    CHECK(r.error_class == "RequestTimeout");
    CHECK(r.message.find("resend with the same clientOrderId") != std::string::npos);
    CHECK(rig.mock.OrdersWithClientId("amb-2") == 0);
    Json o = rig.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.001, 40000, {{"clientOrderId", "amb-2"}}});
    CHECK(o["clientOrderId"] == "amb-2");
    CHECK(rig.mock.OrdersWithClientId("amb-2") == 1);
    CHECK(rig.mock.Requests("GET", "/api/v3/order") == 2);   // after the timeout, and before the resend
  }
  SECTION("an exchange 5xx on placement is ambiguous too") {
    rig.mock.AddFault(MockBinance::Fault::Error("POST", "/api/v3/order", 503, -1001, "Internal error"));
    auto r = rig.Call("createOrder", {"BTC/USDT", "limit", "buy", 0.001, 40000, {{"clientOrderId", "amb-3"}}});
    CHECK(r.error_class == "RequestTimeout");
    CHECK(rig.mock.Requests("GET", "/api/v3/order") == 1);
  }
  SECTION("a resend whose id holds an open order gets that order back (Duplicate order sent.)") {
    Json first = rig.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.001, 40000, {{"clientOrderId", "dup-1"}}});
    Json again = rig.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.001, 40000, {{"clientOrderId", "dup-1"}}});
    CHECK(again["id"] == first["id"]);
    CHECK(rig.mock.OrdersWithClientId("dup-1") == 1);
  }
}

TEST_CASE("binance a dropped connection is a network-class error", "[binance]") {
  RawCloser closer;
  exchanges::binance::BinanceOptions o;
  std::string error;
  REQUIRE(exchanges::binance::ParseOptions({{"base_url", closer.url()}, {"http_timeout", "2s"}}, o, error));
  exchanges::binance::BinanceConnector c(o);
  auto r = c.Call(BinanceRig::Account(), "fetchTicker", R"(["BTC/USDT"])");
  CHECK(r.error_class == "NetworkError");
  CHECK(closer.accepted() >= 1);
}
