// The binance connector's pure parts, no server: signing (Binance's documented HMAC
// example, CCXT's parameter order and qs encoding), options, the error table, and the
// parsers against the API documentation's example bodies (fixtures/binance).
#include <catch2/catch.hpp>

#include "ami/plugin/net/signing.h"
#include "binance_errors.h"
#include "binance_options.h"
#include "binance_parse.h"
#include "binance_sign.h"
#include "tests/exchanges/mock_binance.h"

using namespace ami::exchanges::binance;
using ami::test::BinanceFixture;
using ojson = nlohmann::ordered_json;

namespace {
const char* kDocKey = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
const char* kDocSecret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
}  // namespace

TEST_CASE("binance signing: Binance's documented example, CCXT's order and qs encoding", "[binance]") {
  // rest-api.md "SIGNED Endpoint Examples for POST /api/v3/order".
  CHECK(ami::plugin::net::HmacSha256Hex(kDocSecret,
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559") ==
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71");
  // The documented percent-encoding of a non-ASCII symbol is what QsStringify makes.
  CHECK(QsStringify(ojson{{"symbol", "１２３４５６"}, {"side", "BUY"}}) ==
        "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY");
  // qs (RFC 3986) encodes what encodeURIComponent keeps: ! ' ( ) *
  CHECK(QsStringify(ojson{{"a", "x!'()*~-_.y z"}}) == "a=x%21%27%28%29%2A~-_.y%20z");

  SignInput in;
  in.spot_base_url = "https://api.binance.com";
  in.futures_base_url = "https://fapi.binance.com";
  in.api = "private";
  in.path = "order";
  in.method = "POST";
  in.params = ojson{{"symbol", "LTCBTC"}, {"side", "BUY"}, {"type", "LIMIT"}, {"timeInForce", "GTC"},
                    {"quantity", "1"}, {"price", "0.1"}, {"newClientOrderId", "ami-1"}};
  in.credentials = {kDocKey, kDocSecret};
  in.timestamp_ms = 1499827319559;
  in.recv_window_ms = 5000;
  auto req = SignRequest(in);
  const std::string payload =
      "timestamp=1499827319559&symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
      "&newClientOrderId=ami-1&recvWindow=5000";
  CHECK(req.url == "https://api.binance.com/api/v3/order");
  CHECK(req.body == payload + "&signature=" + ami::plugin::net::HmacSha256Hex(kDocSecret, payload));
  REQUIRE(req.headers.size() == 2);
  CHECK(req.headers[0] == std::make_pair(std::string("X-MBX-APIKEY"), std::string(kDocKey)));
  CHECK(req.headers[1].second == "application/x-www-form-urlencoded");

  // GET/DELETE carry it in the URL; params.recvWindow overrides in place; a timestamp in
  // params keeps the first place.
  in.method = "DELETE";
  in.api = "fapiPrivate";
  in.params = ojson{{"recvWindow", "7000"}, {"symbol", "BTCUSDT"}, {"orderId", 42}};
  req = SignRequest(in);
  const std::string q = "timestamp=1499827319559&recvWindow=7000&symbol=BTCUSDT&orderId=42";
  CHECK(req.url == "https://fapi.binance.com/fapi/v1/order?" + q + "&signature=" +
                       ami::plugin::net::HmacSha256Hex(kDocSecret, q));
  CHECK(req.body.empty());

  // Public: no headers, query only when there are params.
  in.api = "public";
  in.method = "GET";
  in.path = "depth";
  in.params = ojson{{"symbol", "BTCUSDT"}, {"limit", 5}};
  req = SignRequest(in);
  CHECK(req.url == "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=5");
  CHECK(req.headers.empty());
  in.params = ojson::object();
  in.path = "time";
  CHECK(SignRequest(in).url == "https://api.binance.com/api/v3/time");
  in.api = "fapiPrivateV2";
  in.path = "balance";
  CHECK(SignRequest(in).url.rfind("https://fapi.binance.com/fapi/v2/balance?timestamp=", 0) == 0);
  in.api = "sapi";
  CHECK_THROWS(SignRequest(in));
}

TEST_CASE("binance options: defaults, overrides, and refusals naming the key", "[binance]") {
  BinanceOptions o;
  std::string error;
  REQUIRE(ParseOptions(nlohmann::json::object(), o, error));
  CHECK(o.rest_base == "https://api.binance.com");
  CHECK(o.ws_base == "wss://stream.binance.com:9443");
  CHECK(o.EffectiveWeightLimit() == 6000);

  BinanceOptions f;
  REQUIRE(ParseOptions({{"market", "future"}, {"testnet", "true"}, {"http_timeout", "2500ms"},
                        {"recv_window", "7000"}, {"exchange_id", "bn"}, {"data_dir", "/tmp/x"}},
                       f, error));
  CHECK(f.futures());
  CHECK(f.rest_base == "https://testnet.binancefuture.com");
  CHECK(f.ws_base == "wss://stream.binancefuture.com");
  CHECK(f.http_timeout == std::chrono::milliseconds(2500));
  CHECK(f.recv_window_ms == 7000);
  CHECK(f.EffectiveWeightLimit() == 2400);

  BinanceOptions m;
  REQUIRE(ParseOptions({{"base_url", "http://127.0.0.1:9100/"}, {"ws_url", "ws://127.0.0.1:9100"},
                        {"verify_tls", false}, {"weight_limit", 120}}, m, error));
  CHECK(m.rest_base == "http://127.0.0.1:9100");
  CHECK(m.ws_base == "ws://127.0.0.1:9100");
  CHECK_FALSE(m.verify_tls);
  CHECK(m.EffectiveWeightLimit() == 120);

  BinanceOptions bad;
  CHECK_FALSE(ParseOptions({{"api_secret", "x"}}, bad, error));
  CHECK(error.find("option api_secret: unknown option") == 0);
  CHECK_FALSE(ParseOptions({{"market", "margin"}}, bad, error));
  CHECK(error.find("option market:") == 0);
  CHECK_FALSE(ParseOptions({{"ws_url", "http://x"}}, bad, error));
  CHECK(error.find("option ws_url:") == 0);
  CHECK_FALSE(ParseOptions({{"recv_window", "70000"}}, bad, error));
  CHECK(error.find("option recv_window:") == 0);
  CHECK_FALSE(ParseOptions({{"http_timeout", "soon"}}, bad, error));
  CHECK(error.find("option http_timeout:") == 0);
}

TEST_CASE("binance errors: CCXT's table, its order of checks, and ambiguous replies", "[binance]") {
  auto cls = [](int status, const std::string& body, bool futures = false) {
    auto e = ClassifyReply(status, body, futures, "binance");
    return e ? e->error_class : std::string("ok");
  };
  CHECK(cls(200, R"({"serverTime":1})") == "ok");
  CHECK(cls(200, R"({"code":200,"msg":"The operation of cancel all open order is done."})") == "ok");
  CHECK(cls(400, R"({"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."})") == "InvalidNonce");
  CHECK(cls(400, R"({"code":-1022,"msg":"Signature for this request is not valid."})") == "AuthenticationError");
  CHECK(cls(401, R"({"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."})") == "AuthenticationError");
  CHECK(cls(400, R"({"code":-1121,"msg":"Invalid symbol."})") == "BadSymbol");
  CHECK(cls(400, R"({"code":-2013,"msg":"Order does not exist."})") == "OrderNotFound");
  CHECK(cls(400, R"({"code":-2011,"msg":"Unknown order sent."})") == "OrderNotFound");
  // The message decides before the code (-2010 is ExchangeError by code).
  CHECK(cls(400, R"({"code":-2010,"msg":"Account has insufficient balance for requested action."})") == "InsufficientFunds");
  CHECK(cls(400, R"({"code":-2010,"msg":"Order would immediately match and take."})") == "OrderImmediatelyFillable");
  CHECK(cls(400, R"({"code":-2010,"msg":"Duplicate order sent."})") == "ExchangeError");
  CHECK(cls(400, R"({"code":-1013,"msg":"Filter failure: LOT_SIZE"})") == "InvalidOrder");
  CHECK(cls(400, R"({"code":-2010,"msg":"Filter failure: MAX_POSITION"})") == "InvalidOrder");
  CHECK(cls(400, R"({"code":-1002,"msg":"You are not authorized to execute this request."})") == "PermissionDenied");
  CHECK(cls(429, R"({"code":-1003,"msg":"Too much request weight used"})") == "RateLimitExceeded");
  CHECK(cls(418, R"({"code":-1003,"msg":"Way too much request weight used; IP banned"})") == "DDoSProtection");
  CHECK(cls(503, "") == "ExchangeNotAvailable");
  CHECK(cls(400, R"({"code":-5022,"msg":"Post Only order will be rejected"})", true) == "OrderImmediatelyFillable");
  CHECK(cls(400, R"({"code":-4164,"msg":"Order's notional must be no smaller than 100"})", true) == "InvalidOrder");
  CHECK(cls(400, R"({"code":-99999,"msg":"something new"})") == "ExchangeError");

  auto e = ClassifyReply(400, R"({"code":-1007,"msg":"Timeout waiting for response from backend server."})", false, "bn");
  REQUIRE(e);
  CHECK(e->error_class == "RequestTimeout");
  CHECK(e->ambiguous);
  CHECK(e->message == "bn: Timeout waiting for response from backend server. (code -1007, HTTP 400)");
  CHECK(ClassifyReply(502, "<html>bad gateway</html>", false, "bn")->ambiguous);
  CHECK_FALSE(ClassifyReply(400, R"({"code":-2013,"msg":"Order does not exist."})", false, "bn")->ambiguous);
}

TEST_CASE("binance parsers: the documentation's examples in CCXT's shapes", "[binance]") {
  auto spot = ParseMarkets(BinanceFixture("spot_exchangeInfo.json"), false);
  const Market* btc = spot->Find("BTC/USDT");
  REQUIRE(btc);
  CHECK(btc->id == "BTCUSDT");
  CHECK(btc->amount_step == "0.00001000");
  CHECK(btc->price_tick == "0.01000000");
  CHECK(btc->json["precision"]["amount"] == 0.00001);
  CHECK(btc->json["limits"]["cost"]["min"] == 5.0);
  CHECK(btc->json["spot"] == true);
  CHECK(btc->json["contractSize"].is_null());
  REQUIRE(spot->Find("ETH/BTC"));
  CHECK(spot->Find("ETH/BTC")->json["limits"]["amount"]["min"] == 0.001);

  auto fut = ParseMarkets(BinanceFixture("futures_exchangeInfo.json"), true);
  const Market* perp = fut->Find("BTC/USDT:USDT");
  REQUIRE(perp);
  CHECK(perp->json["type"] == "swap");
  CHECK(perp->json["contractSize"] == 1);
  CHECK(perp->json["linear"] == true);
  CHECK(perp->json["limits"]["cost"]["min"] == 100.0);
  CHECK(perp->price_tick == "0.10");
  const Market* quarter = fut->Find("BTC/USDT:USDT-250627");
  REQUIRE(quarter);
  CHECK(quarter->json["type"] == "future");
  CHECK(quarter->json["expiry"] == 1751011200000);
  CHECK(fut->Find("BLZ/USDT:USDT"));

  auto ticker = ParseTicker(BinanceFixture("spot_ticker_24hr.json"), *btc);
  CHECK(ticker["last"] == 4.000002);
  CHECK(ticker["bid"] == 4.0);
  CHECK(ticker["percentage"] == -95.96);
  CHECK(ticker["timestamp"] == 1499869899040);
  CHECK(ticker["datetime"] == "2017-07-12T14:31:39.040Z");

  auto book = ParseOrderBook(BinanceFixture("spot_depth.json"), *btc, std::nullopt);
  CHECK(book["bids"] == nlohmann::json::parse("[[4.0, 431.0]]"));
  CHECK(book["asks"] == nlohmann::json::parse("[[4.000002, 12.0]]"));
  CHECK(book["nonce"] == 1027024);

  auto trade = ParsePublicTrade(BinanceFixture("spot_trades.json")[0], *btc);
  CHECK(trade["id"] == "28457");
  CHECK(trade["side"] == "sell");   // isBuyerMaker: the taker sold
  CHECK(trade["amount"] == 12.0);
  CHECK(trade["cost"] == 48.000012);

  auto mine = ParseMyTrade(BinanceFixture("spot_myTrades.json")[0], *btc);
  CHECK(mine["side"] == "buy");
  CHECK(mine["takerOrMaker"] == "taker");
  CHECK(mine["fee"]["cost"] == 10.1);
  CHECK(mine["fee"]["currency"] == "BNB");
  CHECK(mine["order"] == "100234");

  auto candle = ParseOhlcv(BinanceFixture("spot_klines.json")[0]);
  CHECK(candle == nlohmann::json::parse("[1499040000000, 0.0163479, 0.8, 0.015758, 0.015771, 148976.11427815]"));

  auto balance = ParseBalance(BinanceFixture("spot_account.json"), false);
  CHECK(balance["BTC"]["free"] == 4723846.89208129);
  CHECK(balance["total"]["LTC"] == 4763368.68006011);
  CHECK(balance["used"]["BTC"] == 0.0);
  auto fbalance = ParseBalance(BinanceFixture("futures_balance.json"), true);
  CHECK(fbalance["USDT"]["free"] == 23.72469206);
  CHECK(fbalance["USDT"]["total"] == 122607.35137903);
  CHECK(fbalance["timestamp"] == 1617939110373);

  auto full = ParseOrder(BinanceFixture("spot_order_full.json"), *btc);
  CHECK(full["id"] == "28");
  CHECK(full["status"] == "closed");
  CHECK(full["type"] == "market");
  CHECK(full["side"] == "sell");
  CHECK(full["price"].is_null());
  CHECK(full["filled"] == 10.0);
  CHECK(full["remaining"] == 0.0);
  CHECK(full["trades"].size() == 5);
  CHECK(full["fee"]["currency"] == "USDT");
  CHECK(full["fee"]["cost"].get<double>() == Approx(39.983));
  auto get = ParseOrder(BinanceFixture("spot_order_get.json"), *btc);
  CHECK(get["status"] == "open");
  CHECK(get["clientOrderId"] == "myOrder1");
  CHECK(get["timestamp"] == 1499827319559);
  auto cancel = ParseOrder(BinanceFixture("spot_order_cancel.json"), *btc);
  CHECK(cancel["status"] == "canceled");
  CHECK(cancel["clientOrderId"] == "myOrder1");   // the order's id, not the cancel request's
  CHECK(OrderStatus("EXPIRED_IN_MATCH") == "expired");
}
