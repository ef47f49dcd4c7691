// The binance connector's streams against the loopback MockBinance's socket: one socket,
// SUBSCRIBE frames, the local order book from a REST snapshot plus diff events (U/u on
// spot, pu on futures) and its resync after a lost update, tickers and trades, the
// resubscription after a dropped socket, and a stopped worker's waiting call.
#include <catch2/catch.hpp>

#include "binance_streams.h"
#include "tests/exchanges/binance_test_rig.h"

using namespace ami;
using namespace ami::test;
using Json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Best bid price and amount of a CCXT order book.
std::pair<double, double> BestBid(const Json& book) {
  REQUIRE(!book["bids"].empty());
  return {book["bids"][0][0].get<double>(), book["bids"][0][1].get<double>()};
}

bool HasBid(const Json& book, double price, double amount) {
  for (const auto& l : book["bids"])
    if (l[0] == price && l[1] == amount) return true;
  return false;
}

void BookResyncAfterGap(bool futures) {
  BinanceRig rig(futures ? Json{{"market", "future"}} : Json::object());
  const std::string symbol = futures ? "BTC/USDT:USDT" : "BTC/USDT";
  rig.mock.SetBook("BTCUSDT", {{100, 1}, {99, 2}}, {{101, 1}, {102, 3}}, 500);
  auto first = rig.Watch("watchOrderBook", {symbol});
  REQUIRE(rig.Subscribed("btcusdt@depth@100ms"));
  // The first event makes the connector take a snapshot; it already holds the update.
  rig.mock.Depth("BTCUSDT", {{100, 1.5}}, {});
  Json book = BinanceRig::Await(first);
  CHECK(book["symbol"] == symbol);
  CHECK(BestBid(book) == std::make_pair(100.0, 1.5));
  CHECK(book["asks"][0][0] == 101.0);
  CHECK(rig.connector->streams().snapshots() == 1);

  // Continuous updates are applied in place, no snapshot.
  auto second = rig.Watch("watchOrderBook", {symbol});
  rig.mock.Depth("BTCUSDT", {{100.5, 4}}, {});
  book = BinanceRig::Await(second);
  CHECK(BestBid(book) == std::make_pair(100.5, 4.0));
  CHECK(rig.mock.DepthSnapshots("BTCUSDT") == 1);

  // A lost update: the next event does not continue the book → resync from a snapshot,
  // which brings the lost level too.
  rig.mock.Depth("BTCUSDT", {{98, 5}}, {}, /*lost=*/true);
  rig.mock.Depth("BTCUSDT", {{97, 6}}, {});
  REQUIRE(Eventually([&] { return rig.connector->streams().snapshots() == 2; }));
  auto third = rig.Watch("watchOrderBook", {symbol});
  book = BinanceRig::Await(third);
  CHECK(HasBid(book, 98, 5));
  CHECK(HasBid(book, 97, 6));
  CHECK(rig.connector->streams().resyncs() == 1);
  CHECK(rig.mock.DepthSnapshots("BTCUSDT") == 2);
  CHECK(rig.mock.SocketsOpened() == 1);

  // A limit keeps that many levels a side.
  auto limited = rig.Watch("watchOrderBook", {symbol, 2});
  rig.mock.Depth("BTCUSDT", {{96, 1}}, {});
  book = BinanceRig::Await(limited);
  CHECK(book["bids"].size() == 2);
}

}  // namespace

TEST_CASE("binance spot order book: snapshot + diff events, resync after a gap", "[binance][stream]") {
  BookResyncAfterGap(false);
}

TEST_CASE("binance futures order book: the pu chain, resync after a gap", "[binance][stream]") {
  BookResyncAfterGap(true);
}

TEST_CASE("binance ticker stream resumes on a new socket after a drop", "[binance][stream]") {
  BinanceRig rig;
  auto t1 = rig.Watch("watchTicker", {"BTC/USDT"});
  REQUIRE(rig.Subscribed("btcusdt@ticker"));
  rig.mock.PushTicker("BTCUSDT", 50100);
  Json ticker = BinanceRig::Await(t1);
  CHECK(ticker["symbol"] == "BTC/USDT");
  CHECK(ticker["last"] == 50100.0);
  CHECK(ticker["bid"] == 50099.99);

  rig.mock.DropSockets();
  REQUIRE(Eventually([&] { return rig.mock.SocketsOpened() == 2 && rig.mock.Subscriptions().count("btcusdt@ticker"); }));
  auto t2 = rig.Watch("watchTicker", {"BTC/USDT"});
  rig.mock.PushTicker("BTCUSDT", 50200);
  CHECK(BinanceRig::Await(t2)["last"] == 50200.0);
  CHECK(rig.connector->streams().connects() == 2);
}

TEST_CASE("binance trades stream hands each worker every trade since its last call", "[binance][stream]") {
  BinanceRig rig;
  auto w1 = rig.Watch("watchTrades", {"BTC/USDT"});
  REQUIRE(rig.Subscribed("btcusdt@trade"));
  rig.mock.PushTrade("BTCUSDT", 50000, 0.1, false);
  Json first = BinanceRig::Await(w1);
  REQUIRE(first.size() >= 1);
  CHECK(first[0]["side"] == "buy");
  CHECK(first[0]["price"] == 50000.0);
  rig.mock.PushTrade("BTCUSDT", 50001, 0.2, true);
  rig.mock.PushTrade("BTCUSDT", 50002, 0.3, true);
  std::size_t seen = first.size();
  Json last;
  while (seen < 3) {
    Json more = BinanceRig::Await(rig.Watch("watchTrades", {"BTC/USDT"}));
    seen += more.size();
    last = more.back();
  }
  CHECK(seen == 3);
  CHECK(last["price"] == 50002.0);
  CHECK(last["side"] == "sell");

  // Futures use the aggTrade stream.
  BinanceRig fut(Json{{"market", "future"}});
  auto f = fut.Watch("watchTrades", {"BTC/USDT:USDT"});
  REQUIRE(fut.Subscribed("btcusdt@aggTrade"));
  fut.mock.PushTrade("BTCUSDT", 49999, 1, false);
  CHECK(BinanceRig::Await(f)[0]["amount"] == 1.0);
}

TEST_CASE("binance a stopped worker's waiting stream call ends with ExchangeClosedByUser", "[binance][stream]") {
  BinanceRig rig;
  auto waiting = rig.Watch("watchTicker", {"BTC/USDT"}, "w-stop");
  REQUIRE(rig.Subscribed("btcusdt@ticker"));
  CHECK_FALSE(waiting->done());
  rig.connector->CancelWorker("w-stop");
  REQUIRE(Eventually([&] { return waiting->done(); }));
  CHECK(waiting->get().error_class == "ExchangeClosedByUser");
  CHECK(rig.Watch("watchOrders", {"BTC/USDT"})->get().error_class == "NotSupported");
  auto bad = rig.Watch("watchTicker", {"NOPE/USDT"});
  REQUIRE(bad->done());
  CHECK(bad->get().error_class == "BadSymbol");
}
