// ami-exchange-sim as a process: the bybit connector's methods parse its answers, private
// requests need a valid signature, a lower fencing term is refused, an orderLinkId is
// unique per account, and acknowledged orders survive kill -9 (journal replay).
#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <future>
#include <sstream>
#include <regex>

#include "bybit_connector.h"
#include "bybit_options.h"
#include "ami/plugin/net/signing.h"
#include "tests/gateway/http_client.h"
#include "tests/support/test_support.h"

namespace ami::test {
namespace {

using Json = nlohmann::json;
using Args = std::vector<Json>;

constexpr const char* kConfig = R"(
accounts:
  - {name: alice, api_key: key-a, secret: secret-a, balances: {USDT: 100000, BTC: 2}}
  - {name: bob, api_key: key-b, secret: secret-b}
tick_ms: 200
)";

// The simulator on a free port, over `data`.
struct Sim {
  explicit Sim(const std::filesystem::path& data)
      : log(data / ("sim-" + std::to_string(++starts) + ".log")),
        child((BinaryDir() / "apps" / "exchange_sim" / "ami-exchange-sim").string(),
              {"--config", (data / "sim.yaml").string(), "--port", "0", "--data-dir", (data / "state").string()}, log) {
    std::smatch m;
    const std::regex re("listening on 127\\.0\\.0\\.1:([0-9]+)");
    REQUIRE(Eventually([&] {
      const std::string out = child.Output();
      if (!std::regex_search(out, m, re)) return false;
      port = static_cast<std::uint16_t>(std::stoi(m[1]));
      return true;
    }));
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port); }
  Json Stats() const {
    HttpConnection c(port);
    auto r = c.Request("GET", "/sim/stats");
    REQUIRE(r);
    return Json::parse(r->body)["result"];
  }
  static inline int starts = 0;
  std::filesystem::path log;
  ChildProcess child;
  std::uint16_t port = 0;
};

struct Client {
  Client(const Sim& sim, const std::string& key, const std::string& secret) {
    exchanges::bybit::BybitOptions o;
    std::string error;
    REQUIRE(exchanges::bybit::ParseOptions({{"exchange_id", "bybit"}, {"base_url", sim.base()},
                                            {"ws_url", "ws://127.0.0.1:" + std::to_string(sim.port)},
                                            {"http_timeout", "3000ms"}},
                                           o, error));
    connector = std::make_unique<exchanges::bybit::BybitConnector>(o);
    ctx.worker_sid = "w-1";
    ctx.account_id = "main";
    ctx.credentials = {key, secret};
  }
  plugin::CallResult Call(const std::string& method, const Args& args) {
    return connector->Call(ctx, method, Json(args).dump());
  }
  Json Ok(const std::string& method, const Args& args) {
    auto r = Call(method, args);
    INFO(method << " " << Json(args).dump() << " -> " << r.error_class << ": " << r.message);
    REQUIRE(r.ok);
    return Json::parse(r.json);
  }
  std::string Error(const std::string& method, const Args& args) {
    auto r = Call(method, args);
    INFO(method << " -> " << r.json);
    REQUIRE_FALSE(r.ok);
    return r.error_class;
  }
  plugin::CallContext ctx;
  std::unique_ptr<exchanges::bybit::BybitConnector> connector;
};

std::vector<Json> JournalLines(const std::filesystem::path& data) {
  std::vector<Json> out;
  std::istringstream in(ReadFile(data / "state" / "journal.jsonl"));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(Json::parse(line));
  return out;
}

struct Fixture {
  Fixture() { WriteFile(dir / "sim.yaml", kConfig); }
  TempDir dir;
};

}  // namespace

TEST_CASE("exchange sim: the bybit connector's methods parse its answers", "[exchange_sim]") {
  Fixture f;
  Sim sim(f.dir.path());
  Client c(sim, "key-a", "secret-a");
  const Json markets = c.Ok("loadMarkets", {});
  REQUIRE(markets.contains("BTC/USDT"));
  CHECK(markets["BTC/USDT"]["precision"]["price"].get<double>() == Approx(0.01));
  const Json t = c.Ok("fetchTicker", {"BTC/USDT"});
  const double bid = t["bid"].get<double>(), ask = t["ask"].get<double>();
  CHECK(bid > 30000);
  CHECK(ask >= bid);
  const Json book = c.Ok("fetchOrderBook", {"BTC/USDT", 5});
  CHECK(book["bids"].size() == 5);
  CHECK(book["asks"][0][0].get<double>() == Approx(ask));
  CHECK(c.Ok("fetchTrades", {"BTC/USDT", nullptr, 10}).size() == 10);
  CHECK(c.Ok("fetchOHLCV", {"BTC/USDT", "1m", nullptr, 5}).size() == 5);
  const Json bal = c.Ok("fetchBalance", {});
  CHECK(bal["USDT"]["total"].get<double>() == Approx(100000));
  CHECK(bal["BTC"]["free"].get<double>() == Approx(2));

  // A resting limit buy far below the market: open, found, reserved, cancelled.
  const Json rest = c.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.01, std::floor(bid * 0.5), {{"clientOrderId", "rest-1"}}});
  const std::string id = rest["id"];
  const Json open = c.Ok("fetchOpenOrders", {"BTC/USDT"});
  REQUIRE(open.size() == 1);
  CHECK(open[0]["id"] == id);
  CHECK(open[0]["clientOrderId"] == "rest-1");
  CHECK(open[0]["status"] == "open");
  CHECK(c.Ok("fetchBalance", {})["USDT"]["used"].get<double>() == Approx(0.01 * std::floor(bid * 0.5)));
  CHECK(c.Ok("fetchOrder", {id, "BTC/USDT"})["status"] == "open");
  CHECK(c.Ok("cancelOrder", {id, "BTC/USDT"})["id"] == id);
  CHECK(c.Ok("fetchOrder", {id, "BTC/USDT"})["status"] == "canceled");
  CHECK(c.Ok("fetchOpenOrders", {"BTC/USDT"}).empty());

  // A market sell fills at once at the bid; the trade and balances follow.
  const Json sold = c.Ok("createOrder", {"BTC/USDT", "market", "sell", 0.1, nullptr, {{"clientOrderId", "mkt-1"}}});
  const Json filled = c.Ok("fetchOrder", {sold["id"], "BTC/USDT"});
  CHECK(filled["status"] == "closed");
  CHECK(filled["filled"].get<double>() == Approx(0.1));
  const Json trades = c.Ok("fetchMyTrades", {"BTC/USDT"});
  REQUIRE(trades.size() == 1);
  CHECK(trades[0]["order"] == sold["id"]);
  CHECK(c.Ok("fetchBalance", {})["BTC"]["total"].get<double>() == Approx(1.9));
  CHECK(c.Ok("fetchClosedOrders", {"BTC/USDT"}).size() == 1);   // Filled only, as CCXT's bybit

  // Not enough funds, unknown symbol.
  CHECK(c.Error("createOrder", {"BTC/USDT", "limit", "sell", 50, std::floor(ask * 2), {{"clientOrderId", "big-1"}}}) ==
        "InsufficientFunds");
  CHECK(c.Error("fetchTicker", {"DOGE/USDT"}) == "BadSymbol");

  // The order stream: a new order arrives on watchOrders.
  auto promise = std::make_shared<std::promise<plugin::CallResult>>();
  auto future = promise->get_future();
  c.connector->CallAsync(c.ctx, "watchOrders", Json(Args{"BTC/USDT"}).dump(),
                         [promise](plugin::CallResult r) { promise->set_value(std::move(r)); });
  bool got = false;
  for (int i = 0; i < 50 && !got; ++i) {   // the subscription may land after the first order
    c.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.001, std::floor(bid * 0.5), {{"clientOrderId", "ws-" + std::to_string(i)}}});
    got = future.wait_for(std::chrono::milliseconds(200)) == std::future_status::ready;
  }
  REQUIRE(got);
  auto r = future.get();
  REQUIRE(r.ok);
  CHECK(Json::parse(r.json)[0]["symbol"] == "BTC/USDT");

  // Every accepted order is in the journal with its fields.
  const auto lines = JournalLines(f.dir.path());
  REQUIRE(lines.size() >= 5);
  CHECK(lines[0]["event"] == "accepted");
  CHECK(lines[0]["client_order_id"] == "rest-1");
  CHECK(lines[0]["account"] == "alice");
  for (const char* k : {"t", "order_id", "sid8", "term", "symbol", "side", "price", "qty", "status", "refused_stale"})
    CHECK(lines[0].contains(k));
}

TEST_CASE("exchange sim: private requests need a valid signature", "[exchange_sim]") {
  Fixture f;
  Sim sim(f.dir.path());
  CHECK(Client(sim, "key-a", "wrong-secret").Error("fetchBalance", {}) == "AuthenticationError");   // 10004
  CHECK(Client(sim, "no-such-key", "x").Error("fetchBalance", {}) == "AuthenticationError");       // 10003
  Client b(sim, "key-b", "secret-b");
  CHECK(b.Ok("fetchBalance", {})["USDT"]["total"].get<double>() == Approx(10000));   // the default balances
  // Raw: an unsigned private request and a stale timestamp.
  HttpConnection http(sim.port);
  auto r = http.Request("GET", "/v5/order/realtime?category=spot");
  REQUIRE(r);
  CHECK(Json::parse(r->body)["retCode"] == 10003);
  const std::string ts = "1000", recv = "5000", query = "category=spot";
  const std::string sign = plugin::net::HmacSha256Hex("secret-a", ts + "key-a" + recv + query);
  r = http.Request("GET", "/v5/order/realtime?" + query,
                   {{"X-BAPI-API-KEY", "key-a"}, {"X-BAPI-TIMESTAMP", ts}, {"X-BAPI-RECV-WINDOW", recv}, {"X-BAPI-SIGN", sign}});
  REQUIRE(r);
  CHECK(Json::parse(r->body)["retCode"] == 10002);
  CHECK(sim.Stats()["signature_failures"].get<int>() >= 4);
  CHECK(sim.Stats()["accepted"] == 0);
}

TEST_CASE("exchange sim: an order from a lower term than one seen is refused", "[exchange_sim]") {
  Fixture f;
  Sim sim(f.dir.path());
  Client c(sim, "key-a", "secret-a");
  const double low = std::floor(c.Ok("fetchTicker", {"BTC/USDT"})["bid"].get<double>() * 0.5);
  auto place = [&](const std::string& coid) {
    return c.Call("createOrder", {"BTC/USDT", "limit", "buy", 0.001, low, {{"clientOrderId", coid}}});
  };
  REQUIRE(place("ami-0123abcd-5-lq3x9a-1").ok);
  auto stale = place("ami-0123abcd-4-lq3x00-7");
  CHECK_FALSE(stale.ok);
  CHECK(stale.error_class == "PermissionDenied");   // retCode 10005
  CHECK(stale.message.find("term 4 < 5") != std::string::npos);
  CHECK(place("ami-0123abcd-6-lq3xff-1").ok);       // a newer term is fine
  CHECK(place("ami-99999999-1-abc-1").ok);          // another worker has its own terms
  CHECK(place("ami-0123abcd-lq3x9a-9").ok);         // not leader mode: unfenced
  CHECK(sim.Stats()["refused_stale"] == 1);
  int refused = 0;
  for (const auto& l : JournalLines(f.dir.path()))
    if (l["event"] == "refused") {
      ++refused;
      CHECK(l["refused_stale"] == true);
      CHECK(l["sid8"] == "0123abcd");
      CHECK(l["term"] == 4);
      CHECK(l["client_order_id"] == "ami-0123abcd-4-lq3x00-7");
    }
  CHECK(refused == 1);
  CHECK(c.Ok("fetchOpenOrders", {"BTC/USDT"}).size() == 4);
}

TEST_CASE("exchange sim: an orderLinkId is unique per account", "[exchange_sim]") {
  Fixture f;
  Sim sim(f.dir.path());
  Client a(sim, "key-a", "secret-a"), b(sim, "key-b", "secret-b");
  const double low = std::floor(a.Ok("fetchTicker", {"BTC/USDT"})["bid"].get<double>() * 0.5);
  const Args args{"BTC/USDT", "limit", "buy", 0.001, low, {{"clientOrderId", "ami-0123abcd-2-k-1"}}};
  const std::string first = a.Ok("createOrder", args)["id"];
  // Sent again (a retry after a timeout): 110072, looked up by orderLinkId — the same order.
  CHECK(a.Ok("createOrder", args)["id"] == first);
  CHECK(sim.Stats()["duplicates"] == 1);
  CHECK(a.Ok("fetchOpenOrders", {"BTC/USDT"}).size() == 1);
  // Raw: the duplicate's retCode.
  HttpConnection http(sim.port);
  const std::string ts = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch()).count());
  const std::string body = Json{{"category", "spot"}, {"symbol", "BTCUSDT"}, {"side", "Buy"}, {"orderType", "Limit"},
                                {"qty", "0.001"}, {"price", std::to_string(low)}, {"orderLinkId", "ami-0123abcd-2-k-1"}}.dump();
  auto r = http.Request("POST", "/v5/order/create",
                        {{"X-BAPI-API-KEY", "key-a"}, {"X-BAPI-TIMESTAMP", ts}, {"X-BAPI-RECV-WINDOW", "5000"},
                         {"X-BAPI-SIGN", plugin::net::HmacSha256Hex("secret-a", ts + "key-a" + "5000" + body)},
                         {"Content-Type", "application/json"}},
                        body);
  REQUIRE(r);
  CHECK(Json::parse(r->body)["retCode"] == 110072);
  // Another account may use the same id.
  CHECK(b.Ok("createOrder", args)["id"] != first);
}

TEST_CASE("exchange sim: acknowledged orders survive kill -9", "[exchange_sim]") {
  Fixture f;
  std::vector<std::string> ids;
  double usdt_used = 0, btc_total = 0;
  {
    Sim sim(f.dir.path());
    Client c(sim, "key-a", "secret-a");
    const double low = std::floor(c.Ok("fetchTicker", {"BTC/USDT"})["bid"].get<double>() * 0.5);
    for (int i = 0; i < 20; ++i)
      ids.push_back(c.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.001, low - i, {{"clientOrderId", "k-" + std::to_string(i)}}})["id"]);
    c.Ok("cancelOrder", {ids[0], "BTC/USDT"});
    c.Ok("createOrder", {"BTC/USDT", "market", "sell", 0.05, nullptr, {{"clientOrderId", "k-sell"}}});
    REQUIRE(c.Call("createOrder", {"BTC/USDT", "limit", "buy", 0.001, low, {{"clientOrderId", "ami-0123abcd-7-z-1"}}}).ok);
    const Json bal = c.Ok("fetchBalance", {});
    usdt_used = bal["USDT"]["used"];
    btc_total = bal["BTC"]["total"];
    sim.child.Signal(SIGKILL);
    CHECK(sim.child.Wait() == 128 + SIGKILL);
  }
  Sim again(f.dir.path());
  CHECK(again.child.Output().find("replayed") != std::string::npos);
  Client c(again, "key-a", "secret-a");
  const Json open = c.Ok("fetchOpenOrders", {"BTC/USDT"});
  CHECK(open.size() == 20);   // 20 placed - 1 cancelled + the fenced one
  for (std::size_t i = 1; i < ids.size(); ++i) CHECK(c.Ok("fetchOrder", {ids[i], "BTC/USDT"})["status"] == "open");
  CHECK(c.Ok("fetchOrder", {ids[0], "BTC/USDT"})["status"] == "canceled");
  const Json bal = c.Ok("fetchBalance", {});
  CHECK(bal["USDT"]["used"].get<double>() == Approx(usdt_used));
  CHECK(bal["BTC"]["total"].get<double>() == Approx(btc_total));
  CHECK(c.Ok("fetchMyTrades", {"BTC/USDT"}).size() == 1);
  // Fencing terms are state too: a lower term is still refused after the restart.
  const double low = std::floor(c.Ok("fetchTicker", {"BTC/USDT"})["bid"].get<double>() * 0.5);
  CHECK(c.Error("createOrder", {"BTC/USDT", "limit", "buy", 0.001, low, {{"clientOrderId", "ami-0123abcd-6-z-2"}}}) ==
        "PermissionDenied");
  // Ids keep growing: a new order does not reuse an old id.
  const std::string next = c.Ok("createOrder", {"BTC/USDT", "limit", "buy", 0.001, low, {{"clientOrderId", "k-new"}}})["id"];
  CHECK(std::find(ids.begin(), ids.end(), next) == ids.end());
}

TEST_CASE("exchange sim: bad configs and arguments are named", "[exchange_sim]") {
  TempDir dir;
  const std::string bin = (BinaryDir() / "apps" / "exchange_sim" / "ami-exchange-sim").string();
  auto run = [&](const std::string& yaml) {
    WriteFile(dir / "c.yaml", yaml);
    return Run(bin, {"--config", (dir / "c.yaml").string(), "--port", "0", "--data-dir", (dir / "d").string()});
  };
  auto r = run("accounts:\n  - {api_key: k}\n");
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("c.yaml:2:5: accounts[0].secret: missing") != std::string::npos);
  r = run("accounts:\n  - {api_key: k, secret: s}\ntick_ms: fast\n");
  CHECK(r.output.find("c.yaml:3:10: tick_ms: must be a number") != std::string::npos);
  r = run("acounts: []\n");
  CHECK(r.output.find("acounts: unknown key") != std::string::npos);
  r = Run(bin, {"--config", (dir / "c.yaml").string()});
  CHECK(r.output.find("--data-dir D is required") != std::string::npos);
  r = Run(bin, {"--help"});
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("--config FILE") != std::string::npos);
}

}  // namespace ami::test
