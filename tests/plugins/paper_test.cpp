// The paper exchange, loaded as the real paper.so through the loader: fills, balances,
// fees, CCXT error classes, clientOrderId idempotency, fencing (persisted terms),
// persistence, faults (random and injected).
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "ami/plugin/sdk.h"
#include "plugins/loader.h"
#include "tests/plugins/paper_registry.h"
#include "tests/support/test_support.h"

namespace fs = std::filesystem;
using ami::plugin::CallContext;
using ami::plugin::CallResult;
using Json = nlohmann::json;
using Catch::Matchers::Contains;

namespace {

ami::plugins::PluginRegistry& Registry() { return ami::test::PaperRegistry(); }

// Options for deterministic tests: constant price (volatility 0) and a manual clock.
Json Quiet(Json extra = Json::object()) {
  Json o = {{"volatility", 0},
            {"clock", "manual"},
            {"test_controls", true},
            {"spread", 0.001},
            {"maker_fee", 0.001},
            {"taker_fee", 0.002},
            {"starting_balances", {{"USDT", 10000}, {"BTC", 0.5}}}};
  for (auto& [k, v] : extra.items()) o[k] = v;
  return o;
}

class Paper {
 public:
  explicit Paper(const Json& options) {
    auto made = Registry().CreateConnector("paper", options);
    INFO(made.status().ToString());
    REQUIRE(made.ok());
    conn_ = *made;
  }
  // `args` is the positional array; a single non-array value is wrapped, because
  // nlohmann turns `{some_json}` into that value rather than a one-element array.
  CallResult Raw(const std::string& method, const Json& args, const CallContext& ctx = {}) {
    return conn_->Call(ctx, method, (args.is_array() ? args : Json::array({args})).dump());
  }
  Json Ok(const std::string& method, const Json& args = Json::array(),
          const CallContext& ctx = {}) {
    CallResult r = Raw(method, args, ctx);
    INFO(method << " " << args.dump() << " -> " << r.error_class << ": " << r.message);
    REQUIRE(r.ok);
    return Json::parse(r.json);
  }
  // The error class of a call that must fail (message available via last_message).
  std::string Err(const std::string& method, const Json& args = Json::array(),
                  const CallContext& ctx = {}) {
    CallResult r = Raw(method, args, ctx);
    INFO(method << " " << args.dump() << " unexpectedly -> " << r.json);
    REQUIRE_FALSE(r.ok);
    last_message = r.message;
    return r.error_class;
  }
  Json Balance(const CallContext& ctx = {}) { return Ok("fetchBalance", Json::array(), ctx); }
  ami::plugin::ExchangeConnector& connector() { return *conn_; }

  std::string last_message;

 private:
  std::shared_ptr<ami::plugin::ExchangeConnector> conn_;
};

CallContext Ctx(std::string sid, std::uint64_t term, std::string account = "") {
  CallContext c;
  c.worker_sid = std::move(sid);
  c.term = term;
  c.account_id = std::move(account);
  return c;
}

}  // namespace

TEST_CASE("paper: markets, ticker and description", "[paper]") {
  Paper p(Quiet());
  Json markets = p.Ok("loadMarkets");
  for (const char* s : {"BTC/USDT", "ETH/USDT", "SOL/USDT"}) {
    REQUIRE(markets.contains(s));
    CHECK(markets[s]["symbol"] == s);
    CHECK(markets[s]["spot"] == true);
    CHECK(markets[s]["precision"]["amount"].get<double>() > 0);
    CHECK(markets[s]["precision"]["price"].get<double>() > 0);
    CHECK(markets[s]["limits"]["amount"]["min"].get<double>() > 0);
    CHECK(markets[s]["limits"]["cost"]["min"].get<double>() > 0);
  }
  CHECK(p.Ok("fetchMarkets").size() == 3);

  Json t = p.Ok("fetchTicker", {"BTC/USDT"});
  CHECK(t["symbol"] == "BTC/USDT");
  CHECK(t["last"] == 60000.0);
  CHECK(t["bid"] == 59970.0);   // mid - 0.05 %
  CHECK(t["ask"] == 60030.0);   // mid + 0.05 %
  CHECK(t["timestamp"] == 1704067200000);
  CHECK(t["datetime"] == "2024-01-01T00:00:00.000Z");
  CHECK(t["baseVolume"].get<double>() > 0);
  CHECK(t.contains("percentage"));
  Json all = p.Ok("fetchTickers");
  CHECK(all.size() == 3);
  CHECK(p.Ok("fetchTickers", {{"ETH/USDT"}}).size() == 1);

  Json desc = Json::parse(p.connector().Describe());
  CHECK(desc["id"] == "paper");
  for (const char* m :
       {"loadMarkets", "fetchMarkets", "fetchTicker", "fetchTickers", "fetchOrderBook",
        "fetchTrades", "fetchOHLCV", "fetchBalance", "createOrder", "cancelOrder",
        "cancelAllOrders", "fetchOrder", "fetchOrders", "fetchOpenOrders", "fetchClosedOrders",
        "fetchMyTrades", "createMarketBuyOrder"})
    CHECK(desc["has"][m] == true);
  CHECK(desc["timeframes"].contains("1m"));
  bool has_set_price = false;
  for (const auto& m : desc["methods"]) has_set_price |= m["name"] == "paperSetPrice";
  CHECK(has_set_price);
}

TEST_CASE("paper: order book, public trades and OHLCV shapes", "[paper]") {
  Paper p(Quiet({{"volatility", 0.05}}));
  Json book = p.Ok("fetchOrderBook", {"ETH/USDT", 5});
  REQUIRE(book["bids"].size() == 5);
  REQUIRE(book["asks"].size() == 5);
  CHECK(book["bids"][0][0].get<double>() < book["asks"][0][0].get<double>());
  CHECK(book["bids"][0][0].get<double>() > book["bids"][1][0].get<double>());
  CHECK(book["asks"][0][0].get<double>() < book["asks"][1][0].get<double>());

  Json trades = p.Ok("fetchTrades", {"BTC/USDT", nullptr, 10});
  REQUIRE(trades.size() == 10);
  CHECK(trades[0]["timestamp"].get<std::int64_t>() < trades[9]["timestamp"].get<std::int64_t>());
  CHECK(trades[9]["price"].get<double>() > 0);

  Json candles = p.Ok("fetchOHLCV", {"BTC/USDT", "1h", nullptr, 24});
  REQUIRE(candles.size() == 24);
  for (const auto& c : candles) {
    REQUIRE(c.size() == 6);
    CHECK(c[2].get<double>() >= c[1].get<double>());   // high >= open
    CHECK(c[3].get<double>() <= c[4].get<double>());   // low <= close
    CHECK(c[0].get<std::int64_t>() % 3600000 == 0);
  }
  CHECK(p.Err("fetchOHLCV", {"BTC/USDT", "7m"}) == "BadRequest");
}

TEST_CASE("paper: the price process is deterministic in seed and time", "[paper]") {
  Json opts = Quiet({{"volatility", 0.05}, {"seed", 7}});
  Paper a(opts), b(opts), c(Quiet({{"volatility", 0.05}, {"seed", 8}}));
  std::vector<double> seen;
  bool differs_from_other_seed = false;
  for (int i = 0; i < 20; ++i) {
    for (Paper* p : {&a, &b, &c}) p->Ok("paperAdvanceTime", {3600000});
    const double pa = a.Ok("fetchTicker", {"BTC/USDT"})["last"];
    const double pb = b.Ok("fetchTicker", {"BTC/USDT"})["last"];
    const double pc = c.Ok("fetchTicker", {"BTC/USDT"})["last"];
    CHECK(pa == pb);
    differs_from_other_seed |= pa != pc;
    CHECK(pa > 60000 * 0.6);
    CHECK(pa < 60000 * 1.4);
    seen.push_back(pa);
  }
  CHECK(differs_from_other_seed);
  CHECK(*std::min_element(seen.begin(), seen.end()) <
        *std::max_element(seen.begin(), seen.end()));   // it moves
}

TEST_CASE("paper: market orders fill at the price plus or minus the spread", "[paper]") {
  Paper p(Quiet());
  Json buy = p.Ok("createOrder", {"BTC/USDT", "market", "buy", 0.01});
  CHECK(buy["status"] == "closed");
  CHECK(buy["type"] == "market");
  CHECK(buy["side"] == "buy");
  CHECK(buy["amount"] == 0.01);
  CHECK(buy["filled"] == 0.01);
  CHECK(buy["remaining"] == 0.0);
  CHECK(buy["average"] == 60030.0);   // at the ask
  CHECK(buy["cost"] == Approx(600.3));
  CHECK(buy["fee"]["currency"] == "BTC");   // fee in the currency received
  CHECK(buy["fee"]["cost"] == Approx(0.00002));   // taker 0.2 %
  REQUIRE(buy["trades"].size() == 1);
  CHECK(buy["trades"][0]["takerOrMaker"] == "taker");
  CHECK(buy["trades"][0]["order"] == buy["id"]);

  Json bal = p.Balance();
  CHECK(bal["total"]["USDT"] == Approx(10000 - 600.3));
  CHECK(bal["total"]["BTC"] == Approx(0.5 + 0.01 - 0.00002));
  CHECK(bal["USDT"]["free"] == Approx(10000 - 600.3));

  Json sell = p.Ok("createMarketSellOrder", {"BTC/USDT", 0.1});
  CHECK(sell["average"] == 59970.0);   // at the bid
  CHECK(sell["cost"] == Approx(5997));
  CHECK(sell["fee"]["currency"] == "USDT");
  CHECK(sell["fee"]["cost"] == Approx(5997 * 0.002));
  bal = p.Balance();
  CHECK(bal["total"]["USDT"] == Approx(10000 - 600.3 + 5997 - 11.994));
  CHECK(bal["total"]["BTC"] == Approx(0.5 + 0.01 - 0.00002 - 0.1));

  Json mine = p.Ok("fetchMyTrades", {"BTC/USDT"});
  CHECK(mine.size() == 2);
  CHECK(p.Ok("fetchClosedOrders").size() == 2);
}

TEST_CASE("paper: limit orders rest, reserve funds and fill when the price crosses", "[paper]") {
  Paper p(Quiet());
  Json buy = p.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.01, 59000});
  CHECK(buy["status"] == "open");
  CHECK(buy["price"] == 59000.0);
  CHECK(buy["filled"] == 0.0);
  CHECK(buy["remaining"] == 0.01);
  Json bal = p.Balance();
  CHECK(bal["used"]["USDT"] == Approx(590));
  CHECK(bal["free"]["USDT"] == Approx(9410));
  CHECK(bal["total"]["USDT"] == Approx(10000));

  Json sell = p.Ok("createLimitSellOrder", {"BTC/USDT", 0.2, 61000});
  CHECK(sell["status"] == "open");
  CHECK(p.Balance()["used"]["BTC"] == Approx(0.2));
  CHECK(p.Ok("fetchOpenOrders", {"BTC/USDT"}).size() == 2);

  p.Ok("paperSetPrice", {"BTC/USDT", 59500});   // not yet
  CHECK(p.Ok("fetchOrder", {buy["id"]})["status"] == "open");
  p.Ok("paperSetPrice", {"BTC/USDT", 58990});   // crosses the buy
  Json filled = p.Ok("fetchOrder", {buy["id"], "BTC/USDT"});
  CHECK(filled["status"] == "closed");
  CHECK(filled["average"] == 59000.0);   // at the limit price
  CHECK(filled["trades"][0]["takerOrMaker"] == "maker");
  CHECK(filled["fee"]["cost"] == Approx(0.01 * 0.001));   // maker 0.1 %
  bal = p.Balance();
  CHECK(bal["used"]["USDT"] == Approx(0));
  CHECK(bal["total"]["USDT"] == Approx(10000 - 590));
  CHECK(bal["total"]["BTC"] == Approx(0.5 + 0.01 * 0.999));

  p.Ok("paperSetPrice", {"BTC/USDT", 61000.5});   // crosses the sell
  Json sold = p.Ok("fetchOrder", {sell["id"]});
  CHECK(sold["status"] == "closed");
  CHECK(sold["average"] == 61000.0);
  bal = p.Balance();
  CHECK(bal["total"]["USDT"] == Approx(10000 - 590 + 0.2 * 61000 * 0.999));
  CHECK(p.Ok("fetchOpenOrders").empty());

  // A limit order that crosses on arrival takes liquidity at the best price.
  Json taker = p.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.01, 70000});
  CHECK(taker["status"] == "closed");
  CHECK(taker["average"] == Approx(61000.5 * 1.0005).epsilon(1e-6));
  CHECK(taker["trades"][0]["takerOrMaker"] == "taker");
}

TEST_CASE("paper: resting orders fill as the simulated price moves with time", "[paper]") {
  Paper p(Quiet({{"volatility", 0.05}, {"seed", 3}}));
  const double last = p.Ok("fetchTicker", {"ETH/USDT"})["last"];
  const double limit = std::round(last * 0.995 * 100) / 100;   // 0.5 % below
  Json o = p.Ok("createOrder", {"ETH/USDT", "limit", "buy", 0.1, limit});
  REQUIRE(o["status"] == "open");
  bool filled = false;
  for (int hour = 0; hour < 24 * 14 && !filled; ++hour) {
    p.Ok("paperAdvanceTime", {3600000});
    filled = p.Ok("fetchOrder", {o["id"]})["status"] == "closed";
  }
  REQUIRE(filled);
  Json done = p.Ok("fetchOrder", {o["id"]});
  CHECK(done["average"] == limit);
  CHECK(done["lastTradeTimestamp"].get<std::int64_t>() > done["timestamp"].get<std::int64_t>());
}

TEST_CASE("paper: funds are checked", "[paper]") {
  Paper p(Quiet());
  CHECK(p.Err("createOrder", {"BTC/USDT", "market", "buy", 1}) == "InsufficientFunds");
  CHECK_THAT(p.last_message, Contains("USDT") && Contains("need"));
  CHECK(p.Err("createOrder", {"BTC/USDT", "market", "sell", 1}) == "InsufficientFunds");
  CHECK(p.Err("createOrder", {"ETH/USDT", "market", "sell", 1}) == "InsufficientFunds");
  // Reservations count: two limit buys of 6000 USDT do not fit into 10000.
  p.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.1, 50000});   // 5000 reserved
  CHECK(p.Err("createOrder", {"BTC/USDT", "limit", "buy", 0.11, 50000}) == "InsufficientFunds");
  p.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.09, 50000});
  // Nothing changed by the refused orders.
  Json bal = p.Balance();
  CHECK(bal["total"]["USDT"] == Approx(10000));
  CHECK(bal["used"]["USDT"] == Approx(9500));
  CHECK(bal["total"]["BTC"] == Approx(0.5));
  // Canceling releases the reservation.
  Json canceled = p.Ok("cancelAllOrders", {"BTC/USDT"});
  CHECK(canceled.size() == 2);
  CHECK(canceled[0]["status"] == "canceled");
  CHECK(p.Balance()["free"]["USDT"] == Approx(10000));
}

TEST_CASE("paper: accounts have separate balances and orders", "[paper]") {
  Paper p(Quiet());
  auto a = Ctx("w", 0, "acct-a"), b = Ctx("w", 0, "acct-b");
  Json o = p.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.01, 50000}, a);
  CHECK(p.Balance(a)["used"]["USDT"] == Approx(500));
  CHECK(p.Balance(b)["used"]["USDT"] == Approx(0));
  CHECK(p.Ok("fetchOpenOrders", Json::array(), b).empty());
  CHECK(p.Err("cancelOrder", {o["id"]}, b) == "OrderNotFound");
  CHECK(p.Err("fetchOrder", {o["id"]}, b) == "OrderNotFound");
  p.Ok("cancelOrder", {o["id"]}, a);
}

TEST_CASE("paper: every error class a real exchange raises", "[paper]") {
  Paper p(Quiet());
  // BadSymbol
  CHECK(p.Err("fetchTicker", {"DOGE/USDT"}) == "BadSymbol");
  CHECK_THAT(p.last_message, Contains("DOGE/USDT"));
  CHECK(p.Err("createOrder", {"DOGE/USDT", "market", "buy", 1}) == "BadSymbol");
  CHECK(p.Err("fetchOrderBook", {"nope"}) == "BadSymbol");
  CHECK(p.Err("fetchOpenOrders", {"XRP/USDT"}) == "BadSymbol");
  // InvalidOrder
  CHECK(p.Err("createOrder", {"BTC/USDT", "stop", "buy", 0.01, 100}) == "InvalidOrder");
  CHECK(p.Err("createOrder", {"BTC/USDT", "limit", "hold", 0.01, 100}) == "InvalidOrder");
  CHECK(p.Err("createOrder", {"BTC/USDT", "limit", "buy", 0, 50000}) == "InvalidOrder");
  CHECK(p.Err("createOrder", {"BTC/USDT", "limit", "buy", -1, 50000}) == "InvalidOrder");
  CHECK(p.Err("createOrder", {"BTC/USDT", "limit", "buy", 0.01}) == "InvalidOrder");   // no price
  CHECK(p.Err("createOrder", {"BTC/USDT", "limit", "buy", 0.01, -5}) == "InvalidOrder");
  CHECK(p.Err("createOrder", {"BTC/USDT", "market", "buy", 0.00001}) == "InvalidOrder");
  CHECK_THAT(p.last_message, Contains("minimum"));
  CHECK(p.Err("createOrder", {"SOL/USDT", "market", "buy", 0.02}) == "InvalidOrder");   // cost 3 < 5
  CHECK_THAT(p.last_message, Contains("cost"));
  CHECK(ami::plugin::ErrorClassIsA("OrderNotFound", "InvalidOrder"));
  // OrderNotFound
  CHECK(p.Err("cancelOrder", {"999999"}) == "OrderNotFound");
  CHECK(p.Err("fetchOrder", {"not-an-id"}) == "OrderNotFound");
  Json done = p.Ok("createOrder", {"BTC/USDT", "market", "buy", 0.001});
  CHECK(p.Err("cancelOrder", {done["id"]}) == "OrderNotFound");   // already closed
  Json open = p.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.001, 50000});
  CHECK(p.Err("cancelOrder", {open["id"], "ETH/USDT"}) == "OrderNotFound");   // wrong symbol
  CHECK(p.Ok("cancelOrder", {open["id"], "BTC/USDT"})["status"] == "canceled");
  CHECK(p.Err("cancelOrder", {open["id"]}) == "OrderNotFound");   // twice
  // Argument problems
  CHECK(p.Err("createOrder", {"BTC/USDT", "limit"}) == "ArgumentsRequired");
  CHECK(p.Err("createOrder", {"BTC/USDT", "limit", "buy", "lots", 1}) == "BadRequest");
  CHECK(p.Err("createOrder", {"BTC/USDT", "limit", "buy", 0.01, 50000, {{"clientOrderId", Json::object()}}}) ==
        "BadRequest");
  CHECK(p.Err("withdraw", {"BTC", 1, "addr"}) == "NotSupported");
  // Numeric strings are accepted, as CCXT does.
  CHECK(p.Ok("createOrder", {"BTC/USDT", "limit", "buy", "0.001", "50000"})["amount"] == 0.001);
  // postOnly
  CHECK(p.Err("createOrder", {"BTC/USDT", "limit", "buy", 0.001, 70000, {{"postOnly", true}}}) ==
        "OrderImmediatelyFillable");
}

TEST_CASE("paper: credentials can be required", "[paper]") {
  Paper p(Quiet({{"require_credentials", true}}));
  CHECK(p.Err("fetchBalance") == "AuthenticationError");
  CHECK(p.Ok("fetchTicker", {"BTC/USDT"})["last"] == 60000.0);   // public: fine
  CallContext ctx = Ctx("w", 0, "acct");
  ctx.credentials.api_key = "k";
  ctx.credentials.secret = "s";
  CHECK(p.Ok("fetchBalance", Json::array(), ctx)["total"]["USDT"] == 10000.0);
}

TEST_CASE("paper: clientOrderId makes createOrder idempotent", "[paper]") {
  Paper p(Quiet());
  Json params = {{"clientOrderId", "w1-t5-0001"}};
  Json first = p.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.01, 50000, params});
  CHECK(first["clientOrderId"] == "w1-t5-0001");
  // A retry (even with other arguments) returns the same order, never a second one.
  Json again = p.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.02, 51000, params});
  CHECK(again["id"] == first["id"]);
  CHECK(again["amount"] == 0.01);
  CHECK(p.Ok("fetchOpenOrders").size() == 1);
  CHECK(p.Balance()["used"]["USDT"] == Approx(500));
  // Found by clientOrderId, too.
  CHECK(p.Ok("fetchOrder", {"", nullptr, params})["id"] == first["id"]);

  Json mparams = {{"clientOrderId", "m-1"}};
  Json m1 = p.Ok("createOrder", {"BTC/USDT", "market", "buy", 0.01, nullptr, mparams});
  Json m2 = p.Ok("createOrder", {"BTC/USDT", "market", "buy", 0.01, nullptr, mparams});
  CHECK(m1["id"] == m2["id"]);
  CHECK(p.Ok("fetchMyTrades").size() == 1);
  // The same clientOrderId in another account is another order.
  Json other = p.Ok("createOrder", {"BTC/USDT", "market", "buy", 0.01, nullptr, mparams},
                    Ctx("w", 0, "acct-2"));
  CHECK(other["id"] != m1["id"]);
  // Cancel by clientOrderId.
  CHECK(p.Ok("cancelOrder", {"", nullptr, params})["status"] == "canceled");
}

TEST_CASE("paper: a stale fencing term is rejected", "[paper]") {
  ami::test::TempDir dir;
  Json opts = Quiet({{"data_dir", dir.path().string()}});
  {
    Paper p(opts);
    p.Ok("createOrder", {"BTC/USDT", "market", "buy", 0.001}, Ctx("w1", 5));
    CHECK(p.Err("createOrder", {"BTC/USDT", "market", "buy", 0.001}, Ctx("w1", 3)) ==
          "PermissionDenied");
    CHECK_THAT(p.last_message, Contains("fenced: term 3 < 5 for worker w1"));
    CHECK(ami::plugin::ErrorClassIsA("PermissionDenied", "ExchangeError"));
    CHECK_FALSE(ami::plugin::IsNetworkErrorClass("PermissionDenied"));   // never retried as network
    CallResult raw = p.Raw("fetchBalance", Json::array(), Ctx("w1", 4));
    CHECK(raw.error_class == "PermissionDenied");
    CHECK(Json::parse(raw.json) == Json({{"term", 4}, {"highestTerm", 5}}));
    p.Ok("fetchBalance", Json::array(), Ctx("w1", 5));   // equal term: fine
    p.Ok("fetchBalance", Json::array(), Ctx("w1", 0));   // unfenced caller
    p.Ok("fetchBalance", Json::array(), Ctx("w2", 1));   // terms are per worker
    p.Ok("fetchBalance", Json::array(), Ctx("w1", 6));   // a newer leader
    CHECK(p.Err("fetchBalance", Json::array(), Ctx("w1", 5)) == "PermissionDenied");
    CHECK(p.Ok("fetchMyTrades").size() == 1);   // the stale order never happened
    // A newer term seen on a call that then fails still counts: the new leader exists.
    CHECK(p.Err("fetchTicker", {"DOGE/USDT"}, Ctx("w1", 8)) == "BadSymbol");
    CHECK(p.Err("fetchBalance", Json::array(), Ctx("w1", 7)) == "PermissionDenied");
  }
  // The highest term survives a restart (it is journaled with the call that saw it).
  CHECK_THAT(ami::test::ReadFile(dir / "paper-paper.jsonl"), Contains("\"w\":{\"w1\":8}"));
  Paper restarted(opts);
  CHECK(restarted.Err("fetchBalance", Json::array(), Ctx("w1", 7)) == "PermissionDenied");
  CHECK_THAT(restarted.last_message, Contains("fenced: term 7 < 8"));
  restarted.Ok("fetchBalance", Json::array(), Ctx("w1", 8));
  restarted.Ok("fetchBalance", Json::array(), Ctx("w2", 1));
}

TEST_CASE("paper: state survives a restart", "[paper]") {
  ami::test::TempDir dir;
  Json opts = Quiet({{"data_dir", dir.path().string()}, {"exchange_id", "bybit"}});
  std::string open_id, market_id;
  Json balance_before;
  {
    Paper p(opts);
    open_id = p.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.01, 59000,
                                   {{"clientOrderId", "keep-1"}}})["id"];
    market_id = p.Ok("createOrder", {"ETH/USDT", "market", "buy", 0.5})["id"];
    p.Ok("paperAdvanceTime", {60000});
    balance_before = p.Balance();
  }
  REQUIRE(fs::exists(dir / "paper-bybit.jsonl"));   // the journal (paper_journal_test.cpp)
  CHECK_FALSE(fs::exists(dir / "paper-bybit.json"));

  Paper p(opts);
  Json bal = p.Balance();
  CHECK(bal["total"] == balance_before["total"]);
  CHECK(bal["used"] == balance_before["used"]);
  Json open = p.Ok("fetchOpenOrders");
  REQUIRE(open.size() == 1);
  CHECK(open[0]["id"] == open_id);
  CHECK(open[0]["clientOrderId"] == "keep-1");
  CHECK(p.Ok("fetchOrder", {market_id})["status"] == "closed");
  CHECK(p.Ok("fetchMyTrades").size() == 1);
  CHECK(p.Ok("fetchTicker", {"BTC/USDT"})["timestamp"] == 1704067200000 + 60000);   // clock kept
  // Idempotency still holds after the restart.
  CHECK(p.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.01, 59000,
                             {{"clientOrderId", "keep-1"}}})["id"] == open_id);
  // New ids never collide with old ones.
  std::string next = p.Ok("createOrder", {"BTC/USDT", "market", "buy", 0.001})["id"];
  CHECK(next != open_id);
  CHECK(next != market_id);
  // And the resting order still fills.
  p.Ok("paperSetPrice", {"BTC/USDT", 58000});
  CHECK(p.Ok("fetchOrder", {open_id})["status"] == "closed");
}

TEST_CASE("paper: a jump in time fills orders the price crossed in between", "[paper]") {
  // Ticks that pass between two calls — or while the node was down — are all checked,
  // not just the price at the moment of the next call.
  ami::test::TempDir dir;
  Json opts = Quiet({{"data_dir", dir.path().string()}, {"volatility", 0.05}, {"seed", 3}});
  std::string id;
  double limit = 0;
  {
    Paper p(opts);
    const double last = p.Ok("fetchTicker", {"ETH/USDT"})["last"];
    limit = std::round(last * 0.995 * 100) / 100;
    id = p.Ok("createOrder", {"ETH/USDT", "limit", "buy", 0.1, limit})["id"];
  }
  Paper p(opts);   // restarted
  CHECK(p.Ok("fetchOrder", {id})["status"] == "open");
  p.Ok("paperAdvanceTime", {6 * 86400000LL});   // one jump of six days
  Json o = p.Ok("fetchOrder", {id});
  REQUIRE(o["status"] == "closed");
  CHECK(o["average"] == limit);
  CHECK(o["lastTradeTimestamp"].get<std::int64_t>() < 1704067200000 + 6 * 86400000LL);
}

TEST_CASE("paper: a corrupt state file is reported, not overwritten", "[paper]") {
  ami::test::TempDir dir;
  ami::test::WriteFile(dir / "paper-paper.json", "{ not json");
  auto made = Registry().CreateConnector("paper", Quiet({{"data_dir", dir.path().string()}}));
  REQUIRE_FALSE(made.ok());
  CHECK_THAT(made.status().message(), Contains("paper-paper.json"));
  CHECK(ami::test::ReadFile(dir / "paper-paper.json") == "{ not json");
}

TEST_CASE("paper: options are validated", "[paper]") {
  auto bad = [](Json options) {
    auto made = Registry().CreateConnector("paper", options);
    REQUIRE_FALSE(made.ok());
    return made.status().message();
  };
  CHECK_THAT(bad({{"spred", 0.1}}), Contains("spred") && Contains("unknown option"));
  CHECK_THAT(bad({{"spread", "wide"}}), Contains("spread"));
  CHECK_THAT(bad({{"network_error_rate", 2}}), Contains("network_error_rate"));
  CHECK_THAT(bad({{"clock", "sundial"}}), Contains("clock"));
  CHECK_THAT(bad({{"prices", {{"XRP/USDT", 1}}}}), Contains("XRP/USDT"));
  // Strings from YAML are fine.
  Paper p(Json{{"seed", "42"},
               {"spread", "0.002"},
               {"volatility", "0"},
               {"test_controls", "true"},
               {"starting_balances", "USDT=500, ETH=2"},
               {"markets", R"([{"symbol":"XRP/USDT","price":0.5,"amount_step":0.1,"price_tick":0.0001,"min_amount":1,"min_cost":1}])"}});
  Json bal = p.Balance();
  CHECK(bal["total"]["USDT"] == 500.0);
  CHECK(bal["total"]["ETH"] == 2.0);
  CHECK_FALSE(bal["total"].contains("BTC"));
  Json xrp = p.Ok("fetchTicker", {"XRP/USDT"});
  CHECK(xrp["last"] == 0.5);
  CHECK(xrp["ask"] == 0.5005);
  // Balance info mimics Bybit for the balance-monitor template.
  CHECK(bal["info"]["result"]["list"][0].contains("totalEquity"));
}

TEST_CASE("paper: injected network errors and timeouts", "[paper]") {
  SECTION("network errors happen before the call takes effect") {
    Paper p(Quiet({{"network_error_rate", 1}}));
    CallResult r = p.Raw("createOrder", {"BTC/USDT", "market", "buy", 0.01});
    REQUIRE_FALSE(r.ok);
    CHECK(r.error_class == "NetworkError");
    CHECK(ami::plugin::IsNetworkErrorClass(r.error_class));
    CHECK(p.Raw("fetchTicker", Json::array({"BTC/USDT"})).error_class == "NetworkError");
    // Test controls are exempt; the balance is untouched.
    Json bal = p.Ok("paperSetBalance", {"USDT", 10000});
    CHECK(bal["total"]["BTC"] == 0.5);
  }
  SECTION("timeouts happen after it: retrying with a clientOrderId never doubles") {
    Paper p(Quiet({{"timeout_rate", 0.5}, {"network_error_rate", 0.2}, {"seed", 5}}));
    Json params = {{"clientOrderId", "retry-1"}};
    int timeouts = 0, network = 0;
    Json order;
    for (int attempt = 0; attempt < 100; ++attempt) {
      CallResult r = p.Raw("createOrder", {"BTC/USDT", "market", "buy", 0.01, nullptr, params});
      if (r.ok) {
        order = Json::parse(r.json);
        break;
      }
      REQUIRE(ami::plugin::IsNetworkErrorClass(r.error_class));
      (r.error_class == "RequestTimeout" ? timeouts : network)++;
    }
    REQUIRE(order.is_object());
    CHECK(timeouts + network > 0);
    Json bal = p.Ok("paperSetBalance", {"ETH", 0});   // exempt from faults
    CHECK(bal["total"]["BTC"] == Approx(0.5 + 0.01 * 0.998));   // bought exactly once
  }
  SECTION("paperInjectFault: the next calls fail, deterministically") {
    Paper p(Quiet());
    CHECK(p.Ok("paperInjectFault", {"timeout", 2, "createOrder"})["count"] == 2);
    // Timeouts come after the call took effect: the order exists, the answer is lost.
    Json params = {{"clientOrderId", "amb-1"}};
    CallResult first = p.Raw("createOrder", {"BTC/USDT", "limit", "buy", 0.01, 50000, params});
    CHECK(first.error_class == "RequestTimeout");
    CHECK_THAT(first.message, Contains("processed but the response was lost"));
    CHECK(p.Ok("fetchOpenOrders").size() == 1);
    CHECK(p.Raw("fetchTicker", Json::array({"BTC/USDT"})).ok);   // other methods unaffected
    CHECK(p.Raw("createOrder", {"BTC/USDT", "limit", "buy", 0.01, 50000, params}).error_class ==
          "RequestTimeout");
    Json found = p.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.01, 50000, params});   // used up
    CHECK(found["clientOrderId"] == "amb-1");
    CHECK(p.Ok("fetchOpenOrders").size() == 1);   // one order for three calls
    // Network errors come before: nothing happens. Without a method, any call fails.
    p.Ok("paperInjectFault", {"network", 1});
    CHECK(p.Raw("createOrder", {"BTC/USDT", "limit", "buy", 0.01, 50000,
                                {{"clientOrderId", "net-1"}}}).error_class == "NetworkError");
    CHECK(p.Ok("fetchOpenOrders").size() == 1);
    CHECK(p.Err("paperInjectFault", {"slow", 1}) == "BadRequest");
    CHECK(p.Err("paperInjectFault", {"timeout", 0}) == "BadRequest");
  }
  SECTION("latency is added to every call") {
    Paper p(Quiet({{"latency_ms", 60}}));
    auto start = std::chrono::steady_clock::now();
    p.Ok("fetchTicker", {"BTC/USDT"});
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(60));
  }
}

TEST_CASE("paper: concurrent calls from several threads stay consistent", "[paper]") {
  Paper p(Quiet());
  constexpr int kThreads = 4, kOrders = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kOrders; ++i) {
        Json args = {"BTC/USDT", "market", "buy", 0.0001, nullptr,
                     {{"clientOrderId", "t" + std::to_string(t) + "-" + std::to_string(i)}}};
        if (!p.connector().Call({}, "createOrder", args.dump()).ok) ++failures;
        if (!p.connector().Call({}, "fetchBalance", "[]").ok) ++failures;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(p.Ok("fetchMyTrades", {nullptr, nullptr, 1000}).size() == kThreads * kOrders);
  Json bal = p.Balance();
  CHECK(bal["total"]["USDT"] == Approx(10000 - kThreads * kOrders * 0.0001 * 60030));
  CHECK(bal["total"]["BTC"] == Approx(0.5 + kThreads * kOrders * 0.0001 * 0.998));
}
