// The bybit connector's pure parts: request signing, options, the error table and the
// parsers, against Bybit's documented examples (tests/exchanges/fixtures/bybit/).
#include <catch2/catch.hpp>

#include <fstream>
#include <set>

#include "ami/plugin/errors.h"
#include "bybit_connector.h"
#include "bybit_errors.h"
#include "bybit_options.h"
#include "bybit_parse.h"
#include "bybit_sign.h"
#include "tests/support/test_support.h"

using namespace ami::exchanges::bybit;
using Json = nlohmann::json;

namespace {

Json Fixture(const std::string& name) {
  std::ifstream in(ami::test::SourceDir() / "tests" / "exchanges" / "fixtures" / "bybit" / (name + ".json"));
  REQUIRE(in);
  return Json::parse(in)["response"];
}

std::string HeaderOf(const ami::plugin::net::HttpRequest& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "<none>";
}

Markets SampleMarkets() {
  Markets m;
  m.Add(*ParseSpotMarket(Fixture("instruments_spot")["result"]["list"][0]));
  m.Add(*ParseLinearMarket(Fixture("instruments_linear")["result"]["list"][0]));
  return m;
}

}  // namespace

TEST_CASE("bybit signs private GET and POST requests as Bybit v5 and CCXT do", "[bybit][sign]") {
  SignInput in;
  in.base_url = "https://api.bybit.com";
  in.api = "private";
  in.path = "v5/order/realtime";
  in.params = {{"category", "spot"}, {"symbol", "BTCUSDT"}};
  in.credentials = {"XXXXXXXXXX", "YYYYYYYYYY"};
  in.timestamp_ms = 1658384314791;
  in.recv_window_ms = 5000;
  auto get = SignRequest(in);
  CHECK(get.method == "GET");
  CHECK(get.url == "https://api.bybit.com/v5/order/realtime?category=spot&symbol=BTCUSDT");
  CHECK(get.body.empty());
  REQUIRE(get.headers.size() == 5);
  CHECK(get.headers[0].first == "Content-Type");
  CHECK(get.headers[1] == std::make_pair(std::string("X-BAPI-API-KEY"), std::string("XXXXXXXXXX")));
  CHECK(HeaderOf(get, "X-BAPI-TIMESTAMP") == "1658384314791");
  CHECK(HeaderOf(get, "X-BAPI-RECV-WINDOW") == "5000");
  // HMAC-SHA256("YYYYYYYYYY", "1658384314791XXXXXXXXXX5000category=spot&symbol=BTCUSDT")
  CHECK(HeaderOf(get, "X-BAPI-SIGN") == "9a9472e23096d34a736cb2b06a4e37d460894078adb7c09692c25006b08832f7");

  in.method = "POST";
  in.path = "v5/order/create";
  in.params = {{"category", "spot"}, {"symbol", "BTCUSDT"}, {"side", "Buy"}, {"orderType", "Limit"},
               {"qty", "0.001"}, {"price", "60000"}, {"orderLinkId", "abc-1"}, {"reduceOnly", false}};
  auto post = SignRequest(in);
  CHECK(post.url == "https://api.bybit.com/v5/order/create");
  CHECK(post.body ==
        R"({"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001","price":"60000","orderLinkId":"abc-1","reduceOnly":false})");
  CHECK(HeaderOf(post, "X-BAPI-SIGN") == "d5c0bef767cfeba2f3ab4f15aeacb2e85e9074692c83a764add3d1746db528c5");
  CHECK(HeaderOf(post, "Referer") == "<none>");   // AMI claims no broker id
  in.referer = "CCXT";
  CHECK(HeaderOf(SignRequest(in), "Referer") == "CCXT");

  // A private GET without params still ends in "?" (CCXT appends the empty query).
  in.method = "GET";
  in.path = "v5/account/wallet-balance";
  in.params = Json::object();
  CHECK(SignRequest(in).url == "https://api.bybit.com/v5/account/wallet-balance?");

  // Public: query only when there are params, raw (not percent-encoded), no headers.
  SignInput pub;
  pub.base_url = "http://127.0.0.1:9100";
  pub.api = "public";
  pub.path = "v5/market/tickers";
  CHECK(SignRequest(pub).url == "http://127.0.0.1:9100/v5/market/tickers");
  pub.params = {{"category", "spot"}, {"symbol", "BTCUSDT"}, {"limit", 50}, {"flag", true}};
  auto p = SignRequest(pub);
  CHECK(p.url == "http://127.0.0.1:9100/v5/market/tickers?category=spot&symbol=BTCUSDT&limit=50&flag=true");
  CHECK(p.headers.empty());

  SignInput bad = in;
  bad.credentials = {};
  CHECK_THROWS_AS(SignRequest(bad), std::invalid_argument);
  bad = pub;
  bad.api = "v2";
  CHECK_THROWS_AS(SignRequest(bad), std::invalid_argument);

  // The private stream's auth message: HMAC of "GET/realtime" + expires.
  const Json auth = Json::parse(WsAuthMessage({"XXXXXXXXXX", "YYYYYYYYYY"}, 1662350400000));
  CHECK(auth["op"] == "auth");
  CHECK(auth["args"][0] == "XXXXXXXXXX");
  CHECK(auth["args"][1] == 1662350400000);
  CHECK(auth["args"][2] == "9c4c0629fddfee26ca0da50a7fed51968fce6935d34b02e772d3bd0c34327bd1");
}

TEST_CASE("bybit options: defaults, testnet, overrides, and refusals naming the key", "[bybit][options]") {
  BybitOptions o;
  std::string error;
  REQUIRE(ParseOptions(Json{{"exchange_id", "bybit"}, {"data_dir", "/tmp/x"}}, o, error));
  CHECK(o.base_url == "https://api.bybit.com");
  CHECK(o.ws_url == "wss://stream.bybit.com");
  CHECK(o.verify_tls);
  CHECK(o.recv_window_ms == 5000);
  CHECK(o.http_timeout == std::chrono::milliseconds(10000));

  BybitOptions t;
  REQUIRE(ParseOptions(Json{{"testnet", "true"}, {"recv_window", "10000"}, {"http_timeout", "2.5s"}}, t, error));
  CHECK(t.base_url == "https://api-testnet.bybit.com");
  CHECK(t.ws_url == "wss://stream-testnet.bybit.com");
  CHECK(t.recv_window_ms == 10000);
  CHECK(t.http_timeout == std::chrono::milliseconds(2500));

  BybitOptions l;
  REQUIRE(ParseOptions(Json{{"testnet", true}, {"base_url", "http://127.0.0.1:9100/"}, {"ws_url", "ws://127.0.0.1:9100"},
                            {"verify_tls", "false"}, {"http_timeout", "800ms"}},
                       l, error));
  CHECK(l.base_url == "http://127.0.0.1:9100");   // overrides win over testnet; trailing / dropped
  CHECK(l.ws_url == "ws://127.0.0.1:9100");
  CHECK_FALSE(l.verify_tls);

  BybitOptions x;
  CHECK_FALSE(ParseOptions(Json{{"tesnet", true}}, x, error));
  CHECK(error.find("tesnet") != std::string::npos);
  CHECK(error.find("unknown key") != std::string::npos);
  CHECK_FALSE(ParseOptions(Json{{"market", "spot"}}, x, error));
  CHECK(error.find("market") != std::string::npos);
  CHECK_FALSE(ParseOptions(Json{{"base_url", "ftp://x"}}, x, error));
  CHECK(error.find("base_url") != std::string::npos);
  CHECK_FALSE(ParseOptions(Json{{"recv_window", "0"}}, x, error));
  CHECK(error.find("recv_window") != std::string::npos);
  CHECK_FALSE(ParseOptions(Json{{"http_timeout", "soon"}}, x, error));
  CHECK(error.find("http_timeout") != std::string::npos);
  CHECK_FALSE(ParseOptions(Json{{"testnet", "maybe"}}, x, error));
  CHECK(error.find("testnet") != std::string::npos);
}

TEST_CASE("bybit error table: CCXT's codes map to known classes, broad rules first", "[bybit][errors]") {
  const auto table = BybitErrorTable();
  CHECK(table.size() > 400);
  std::set<std::string> classes;
  for (const auto& [code, cls] : table) {
    INFO(code << " -> " << cls);
    CHECK(ami::plugin::IsKnownErrorClass(cls));
    classes.insert(cls);
  }
  for (const auto& [text, cls] : BybitBroadErrorTable()) CHECK(ami::plugin::IsKnownErrorClass(cls));
  CHECK(classes.count("InvalidNonce"));
  const auto& map = BybitErrors();
  CHECK(map.Classify("10001", "params error") == "BadRequest");
  CHECK(map.Classify("10002", "") == "InvalidNonce");
  CHECK(map.Classify("10003", "") == "AuthenticationError");
  CHECK(map.Classify("10006", "") == "RateLimitExceeded");
  CHECK(map.Classify("110001", "") == "OrderNotFound");
  CHECK(map.Classify("110007", "") == "InsufficientFunds");
  CHECK(map.Classify("110072", "") == "InvalidOrder");
  CHECK(map.Classify("170209", "") == "PermissionDenied");   // CCXT's RestrictedLocation
  CHECK(map.Classify("999999", "something new") == "ExchangeError");
  CHECK(map.Classify("", R"({"retCode":10016,"retMsg":"Request timeout"})", "") == "RequestTimeout");
}

TEST_CASE("bybit markets from instruments-info: symbols, precision steps, limits", "[bybit][parse]") {
  const Markets m = SampleMarkets();
  const Market* spot = m.BySymbol("BTC/USDT");
  REQUIRE(spot);
  CHECK(spot->category == "spot");
  CHECK(spot->amount_step == "0.000001");
  CHECK(spot->price_tick == "0.1");
  CHECK(spot->ccxt["precision"]["amount"] == Approx(0.000001));
  CHECK(spot->ccxt["limits"]["amount"]["min"] == Approx(0.000011));
  CHECK(spot->ccxt["limits"]["cost"]["min"] == Approx(5));
  CHECK(spot->ccxt["type"] == "spot");
  const Market* perp = m.BySymbol("BTC/USDT:USDT");
  REQUIRE(perp);
  CHECK(perp->category == "linear");
  CHECK(perp->ccxt["swap"] == true);
  CHECK(perp->ccxt["contractSize"] == 1);
  CHECK(perp->ccxt["precision"]["amount"] == Approx(0.001));
  CHECK(perp->ccxt["limits"]["leverage"]["max"] == Approx(100));
  CHECK(perp->ccxt["limits"]["cost"]["min"] == Approx(5));
  CHECK(m.ById("linear", "BTCUSDT") == perp);
  CHECK(m.ById("spot", "BTCUSDT") == spot);
  CHECK_FALSE(ParseSpotMarket(Json::object()));
  // Expiring linear futures get CCXT's -YYMMDD suffix.
  Json fut = Fixture("instruments_linear")["result"]["list"][0];
  fut["contractType"] = "LinearFutures";
  fut["symbol"] = "BTC-26DEC25";
  fut["deliveryTime"] = "1766736000000";
  CHECK(ParseLinearMarket(fut)->symbol == "BTC/USDT:USDT-251226");
}

TEST_CASE("bybit tickers, books, trades and candles in CCXT's shapes", "[bybit][parse]") {
  const Markets m = SampleMarkets();
  Json raw = Fixture("tickers_spot")["result"]["list"][0];
  raw["time"] = 1673859087947;
  const Json t = ParseTicker(raw, m, "spot");
  CHECK(t["symbol"] == "BTC/USDT");
  CHECK(t["last"] == Approx(20533.13));
  CHECK(t["close"] == Approx(20533.13));
  CHECK(t["open"] == Approx(20393.48));
  CHECK(t["bid"] == Approx(20517.96));
  CHECK(t["askVolume"] == Approx(1.862172));
  CHECK(t["percentage"].get<double>() == 0.68);    // "0.0068" × 100, no float noise
  CHECK(t["change"].get<double>() == 139.65);      // exact, as CCXT's Precise
  CHECK(t["average"] == Approx(20463.3));          // truncated to the tick's decimals
  CHECK(t["vwap"] == Approx(243765620.65899866 / 11801.27771));
  CHECK(t["datetime"] == "2023-01-16T08:51:27.947Z");

  const Json lin = ParseTicker(Fixture("ws_ticker_linear")["data"], m, "linear");
  CHECK(lin["symbol"] == "BTC/USDT:USDT");
  CHECK(lin["markPrice"] == Approx(66666.6));

  Json book_raw = Fixture("orderbook")["result"];
  book_raw["b"].push_back({"65480", "1"});
  const Json book = ParseOrderBook(book_raw, "BTC/USDT");
  CHECK(book["bids"][0][0] == Approx(65485.47));   // best first
  CHECK(book["bids"][1][0] == Approx(65480));
  CHECK(book["asks"][0][1] == Approx(16.606555));
  CHECK(book["timestamp"] == 1716863719031);
  CHECK(book["nonce"].is_null());

  const Json trade = ParseTrade(Fixture("recent_trade")["result"]["list"][0], m, "spot");
  CHECK(trade["id"] == "2100000000007764263");
  CHECK(trade["side"] == "buy");
  CHECK(trade["price"] == Approx(16618.49));
  CHECK(trade["amount"] == Approx(0.00012));
  CHECK(trade["cost"] == Approx(16618.49 * 0.00012));
  CHECK(trade["timestamp"] == 1672052955758);

  Json exec = Fixture("execution")["result"]["list"][0];
  exec["symbol"] = "BTCUSDT";
  const Json mine = ParseTrade(exec, m, "linear");
  CHECK(mine["symbol"] == "BTC/USDT:USDT");
  CHECK(mine["takerOrMaker"] == "taker");
  CHECK(mine["fee"]["cost"] == Approx(0.071409));
  CHECK(mine["fee"]["currency"] == "USDT");
  CHECK(mine["fee"]["rate"] == Approx(0.0006));
  CHECK(mine["order"] == "8c065341-7b52-4ca9-ac2c-37e31ac55c94");

  const Json kline = Fixture("kline");
  Json rows = Json::array();
  for (const auto& r : kline["result"]["list"]) rows.push_back(ParseOHLCV(r));
  rows = FilterSinceLimit(rows, std::nullopt, 2, true);
  REQUIRE(rows.size() == 2);   // ascending, the newest two
  CHECK(rows[0][0] == 1670605200000);
  CHECK(rows[1][0] == 1670608800000);
  CHECK(rows[1][4] == Approx(17055.5));
  CHECK(FilterSinceLimit(Json::array({ParseOHLCV(kline["result"]["list"][2]), ParseOHLCV(kline["result"]["list"][1])}),
                         1670601600000, 1, true)[0][0] == 1670601600000);
}

TEST_CASE("bybit orders and balances in CCXT's shapes", "[bybit][parse]") {
  const Markets m = SampleMarkets();
  Json raw = Fixture("open_order")["result"]["list"][0];
  raw["symbol"] = "BTCUSDT";
  const Json o = ParseOrder(raw, m, "linear");
  CHECK(o["id"] == "fd4300ae-7847-404e-b947-b46980a4d140");
  CHECK(o["clientOrderId"] == "test-000005");
  CHECK(o["symbol"] == "BTC/USDT:USDT");
  CHECK(o["status"] == "open");
  CHECK(o["type"] == "limit");
  CHECK(o["side"] == "buy");
  CHECK(o["price"] == Approx(1600));
  CHECK(o["amount"] == Approx(0.1));
  CHECK(o["filled"] == Approx(0));
  CHECK(o["remaining"] == Approx(0.1));
  CHECK(o["average"].is_null());
  CHECK(o["timeInForce"] == "GTC");
  CHECK(o["takeProfitPrice"] == Approx(2500));
  CHECK(o["fee"]["currency"] == "MNT");
  CHECK(o["timestamp"] == 1684738540559);

  const Json h = ParseOrder(Fixture("order_history")["result"]["list"][0], m, "linear");
  CHECK(h["status"] == "canceled");
  CHECK(h["timeInForce"] == "PO");
  CHECK(h["postOnly"] == true);
  CHECK(h["symbol"] == "BTC/USDT:USDT");

  Json filled = raw;
  filled["orderStatus"] = "Filled";
  filled["cumExecQty"] = "0.10";
  filled["cumExecValue"] = "160";
  filled["avgPrice"] = "";
  filled["leavesQty"] = "";
  const Json f = ParseOrder(filled, m, "linear");
  CHECK(f["status"] == "closed");
  CHECK(f["average"] == Approx(1600));
  CHECK(f["remaining"] == Approx(0));
  CHECK(OrderStatus("PartiallyFilledCanceled") == "closed");
  CHECK(OrderStatus("Deactivated") == "canceled");

  // The stream's order item carries its own category.
  const Json s = ParseOrder(Fixture("ws_order")["data"][0], m, "spot");
  CHECK(s["status"] == "closed");
  CHECK(s["fee"]["cost"] == Approx(0.00242968));

  Json wallet = Fixture("wallet_balance");
  wallet["result"]["list"][0]["coin"][0]["locked"] = "0.25";
  wallet["result"]["list"][0]["coin"][0]["walletBalance"] = "1";
  wallet["result"]["list"][0]["coin"][0]["availableToWithdraw"] = "";
  const Json b = ParseBalance(wallet);
  CHECK(b["BTC"]["total"] == Approx(1));
  CHECK(b["BTC"]["used"] == Approx(0.25));
  CHECK(b["BTC"]["free"] == Approx(0.75));
  CHECK(b["free"]["BTC"] == Approx(0.75));
  CHECK(b["timestamp"] == 1690872862481);
  CHECK(b["info"]["result"]["list"][0]["totalEquity"] == "3.31216591");
}

TEST_CASE("bybit orderLinkId: valid clientOrderIds pass, others map to a stable valid id", "[bybit][orders]") {
  CHECK(BybitConnector::OrderLinkIdFor("ami-0b5c1f2e-3-lz1x2y-7") == "ami-0b5c1f2e-3-lz1x2y-7");
  const std::string long_id = "grid-0b5c1f2e-5d1a-4c3b-9a8e-7f6d5c4b3a21-9";
  const std::string a = BybitConnector::OrderLinkIdFor(long_id);
  CHECK(a.size() == 36);
  CHECK(a.rfind("ami-h-", 0) == 0);
  CHECK(a == BybitConnector::OrderLinkIdFor(long_id));   // the same every time: retries deduplicate
  CHECK(a != BybitConnector::OrderLinkIdFor(long_id.substr(0, long_id.size() - 1) + "8"));
  CHECK(BybitConnector::OrderLinkIdFor("has space").rfind("ami-h-", 0) == 0);
}
