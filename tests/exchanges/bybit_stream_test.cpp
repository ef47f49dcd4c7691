// The bybit connector's streams (watch*) against MockBybit's WebSockets: one public socket
// per category shared by every worker, snapshot + delta order books with resync after a
// gap, reconnection after a drop, the authenticated private order stream, and a stopping
// worker's waits ended with ExchangeClosedByUser.
#include <catch2/catch.hpp>

#include "bybit_streams.h"
#include "tests/exchanges/bybit_harness.h"
#include "tests/support/test_support.h"

using namespace ami::test::bybit;
using ami::test::Eventually;
using Json = nlohmann::json;
using namespace std::chrono_literals;

TEST_CASE("bybit streams: tickers, trades and books over one public socket per category", "[bybit][stream]") {
  Harness h;
  auto t1 = h.Watch("watchTicker", {"BTC/USDT"}, Account("w-1"));
  const Json ticker = Harness::Await(t1);
  CHECK(ticker["symbol"] == "BTC/USDT");
  CHECK(ticker["last"] == Approx(65000));
  auto t2 = h.Watch("watchTicker", {"ETH/USDT"}, Account("w-2"));
  CHECK(Harness::Await(t2)["last"] == Approx(3000));

  // Linear tickers: a snapshot, then deltas merged into it.
  auto l1 = h.Watch("watchTicker", {"BTC/USDT:USDT"});
  CHECK(Harness::Await(l1)["symbol"] == "BTC/USDT:USDT");
  auto l2 = h.Watch("watchTicker", {"BTC/USDT:USDT"});
  h.mock.SetPrice("linear", "BTCUSDT", 66000);
  h.mock.PushTicker("linear", "BTCUSDT");
  const Json merged = Harness::Await(l2);
  CHECK(merged["last"] == Approx(66000));
  CHECK(merged["bid"] == Approx(65999.9));
  CHECK(merged["high"].is_number());   // from the snapshot: the delta did not carry it

  // Trades: what arrived since this worker's last call.
  auto tr = h.Watch("watchTrades", {"BTC/USDT"});
  REQUIRE(Eventually([&] { return h.mock.Subscribes("publicTrade.BTCUSDT") == 1; }));
  h.mock.PushTrade("spot", "BTCUSDT");
  const Json trades = Harness::Await(tr);
  REQUIRE(trades.size() == 1);
  CHECK(trades[0]["symbol"] == "BTC/USDT");
  CHECK(trades[0]["price"] == Approx(65000));
  auto tr2 = h.Watch("watchTrades", {"BTC/USDT"});
  h.mock.PushTrade("spot", "BTCUSDT");
  h.mock.PushTrade("spot", "BTCUSDT");
  const Json more = Harness::Await(tr2);
  CHECK(more.size() >= 1);

  // Books: the snapshot, then a delta.
  auto b1 = h.Watch("watchOrderBook", {"BTC/USDT"});
  const Json snap = Harness::Await(b1);
  CHECK(snap["bids"].size() == 5);
  CHECK(snap["bids"][0][0] == Approx(64999.9));
  CHECK(snap["asks"][0][0] == Approx(65000.1));
  const auto nonce = snap["nonce"].get<std::uint64_t>();
  auto b2 = h.Watch("watchOrderBook", {"BTC/USDT"});
  h.mock.PushBookDelta("spot", "BTCUSDT");
  const Json next = Harness::Await(b2);
  CHECK(next["nonce"].get<std::uint64_t>() == nonce + 1);
  CHECK(next["bids"][0][1] == Approx(0.6));   // 0.5 + 0.1

  CHECK(h.mock.StreamConnections("/v5/public/spot") == 1);
  CHECK(h.mock.StreamConnections("/v5/public/linear") == 1);
  CHECK(h.mock.StreamConnections("/v5/private") == 0);
  CHECK(h.mock.Requests("") == 2);   // the markets only: streams need no REST
}

TEST_CASE("bybit streams: a gap in the book's update ids resyncs from a fresh snapshot", "[bybit][stream][book]") {
  Harness h;
  auto first = h.Watch("watchOrderBook", {"ETH/USDT:USDT", 50});
  Harness::Await(first);
  for (int i = 0; i < 3; ++i) {
    auto f = h.Watch("watchOrderBook", {"ETH/USDT:USDT", 50});
    h.mock.PushBookDelta("linear", "ETHUSDT");
    Harness::Await(f);
  }
  auto after_gap = h.Watch("watchOrderBook", {"ETH/USDT:USDT", 50});
  h.mock.PushBookDelta("linear", "ETHUSDT", /*gap=*/true);
  // Not published: the book misses an update. It asks again and gets a new snapshot.
  const Json book = Harness::Await(after_gap);
  CHECK(h.connector->streams().resyncs() == 1);
  CHECK(h.mock.Subscribes("orderbook.50.ETHUSDT") == 2);
  // The resynced book is the exchange's book, level for level.
  const Json rest = h.Ok("fetchOrderBook", {"ETH/USDT:USDT", 50});
  CHECK(book["bids"] == rest["bids"]);
  CHECK(book["asks"] == rest["asks"]);
  // And it goes on from there.
  auto f = h.Watch("watchOrderBook", {"ETH/USDT:USDT", 50});
  h.mock.PushBookDelta("linear", "ETHUSDT");
  CHECK(Harness::Await(f)["nonce"].get<std::uint64_t>() == book["nonce"].get<std::uint64_t>() + 1);
  CHECK(h.connector->streams().resyncs() == 1);
}

TEST_CASE("bybit streams: a dropped socket reconnects and resubscribes by itself", "[bybit][stream][reconnect]") {
  Harness h;
  auto t = h.Watch("watchTicker", {"SOL/USDT"});
  Harness::Await(t);
  auto b = h.Watch("watchOrderBook", {"SOL/USDT"});
  Harness::Await(b);
  auto pending = h.Watch("watchTicker", {"SOL/USDT"});
  auto pending_book = h.Watch("watchOrderBook", {"SOL/USDT"});
  h.mock.DropStreams();
  // The new connection subscribes again; the snapshots it gets answer the waiting calls.
  CHECK(Harness::Await(pending)["symbol"] == "SOL/USDT");
  CHECK(Harness::Await(pending_book)["bids"].size() == 5);
  CHECK(h.mock.StreamConnections("/v5/public/spot") == 2);
  CHECK(h.mock.Subscribes("tickers.SOLUSDT") == 2);
  CHECK(h.connector->streams().connects("spot") == 2);
}

TEST_CASE("bybit streams: watchOrders authenticates the private socket and delivers my order updates", "[bybit][stream][private]") {
  Harness h;
  auto all = h.Watch("watchOrders", {});
  REQUIRE(Eventually([&] { return h.mock.Subscribes("order") == 1; }));
  auto btc = h.Watch("watchOrders", {"BTC/USDT"}, Account("w-2"));
  const Json o = h.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.001, 60000, {{"clientOrderId", "ws-1"}}});
  const Json updates = Harness::Await(all);
  REQUIRE(updates.size() == 1);
  CHECK(updates[0]["id"] == o["id"]);
  CHECK(updates[0]["clientOrderId"] == "ws-1");
  CHECK(updates[0]["status"] == "open");
  CHECK(Harness::Await(btc)[0]["id"] == o["id"]);
  auto next = h.Watch("watchOrders", {});
  h.Ok("cancelOrder", {o["id"], "BTC/USDT"});
  CHECK(Harness::Await(next)[0]["status"] == "canceled");
  CHECK(h.mock.StreamConnections("/v5/private") == 1);   // one per account key

  // A key the exchange refuses: the private stream's auth fails the waiting call.
  auto wrong = Account("w-3");
  wrong.credentials = {"unknown-key", "whatever"};
  auto refused = h.Watch("watchOrders", {}, wrong);
  REQUIRE(refused.wait_for(10s) == std::future_status::ready);
  CHECK(refused.get().error_class == "AuthenticationError");
  // The next watch authenticates again (the key may have been fixed meanwhile).
  auto again = h.Watch("watchOrders", {}, wrong);
  REQUIRE(again.wait_for(10s) == std::future_status::ready);
  CHECK(again.get().error_class == "AuthenticationError");
  CHECK(h.mock.SignatureFailures() == 2);
}

TEST_CASE("bybit streams: a stopping worker's waiting calls end with ExchangeClosedByUser", "[bybit][stream]") {
  Harness h;
  auto a = h.Watch("watchTicker", {"BTC/USDT"}, Account("w-stop"));
  Harness::Await(a);
  auto waiting = h.Watch("watchTicker", {"BTC/USDT"}, Account("w-stop"));
  auto other = h.Watch("watchTrades", {"BTC/USDT"}, Account("w-other"));
  CHECK(waiting.wait_for(100ms) == std::future_status::timeout);
  h.connector->CancelWorker("w-stop");
  REQUIRE(waiting.wait_for(5s) == std::future_status::ready);
  CHECK(waiting.get().error_class == "ExchangeClosedByUser");
  CHECK(other.wait_for(100ms) == std::future_status::timeout);   // other workers keep waiting
  h.mock.PushTrade("spot", "BTCUSDT");
  CHECK(Harness::Await(other).size() == 1);
}
