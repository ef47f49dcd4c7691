// The paper exchange's hand-written answers (exchanges/paper/paper_json.h, AMI issue 15):
// AppendOrder/AppendTrade must write exactly what nlohmann's dump() writes for the same
// order or trade (the text JS parses must not change), Iso8601 what gmtime + printf
// wrote, and Clean what strtod(printf("%.12g")) gave. Compiled from the sources (not
// through paper.so) so the odd values — escapes, NaN, huge and tiny numbers, dates
// outside 1970..9999 — can be fed in directly; the last case checks the same through
// the real plugin: the fast path's answers (createOrder, cancelOrder, fetchOrder) equal
// the nlohmann path's (fetchOrders, cancelAllOrders) for the same orders.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "ami/plugin/sdk.h"
#include "exchanges/paper/paper_json.h"
#include "plugins/loader.h"
#include "tests/plugins/paper_registry.h"

using ami::paper::Order;
using ami::paper::Trade;
using Json = nlohmann::json;

namespace {

std::string Written(const Order& o, const std::vector<const Trade*>& trades) {
  std::string out = "prefix:";   // Append* appends: what is there stays
  ami::paper::AppendOrder(out, o, trades);
  REQUIRE(out.rfind("prefix:", 0) == 0);
  return out.substr(7);
}

std::string Written(const Trade& t) {
  std::string out;
  ami::paper::AppendTrade(out, t);
  return out;
}

Trade MakeTrade(std::int64_t seq, double price, double amount, std::string fee_ccy) {
  Trade t;
  t.seq = seq;
  t.order = seq - 1;
  t.account = "default";
  t.symbol = "BTC/USDT";
  t.type = "market";
  t.side = "buy";
  t.taker_or_maker = "taker";
  t.price = price;
  t.amount = amount;
  t.cost = ami::paper::Clean(price * amount);
  t.fee_cost = ami::paper::Clean(amount * 0.002);
  t.fee_currency = std::move(fee_ccy);
  t.fee_rate = 0.002;
  t.timestamp = 1704067200123;
  return t;
}

Order MakeOrder() {
  Order o;
  o.seq = 42;
  o.account = "default";
  o.symbol = "BTC/USDT";
  o.type = "limit";
  o.side = "buy";
  o.price = 30000;
  o.amount = 0.001;
  o.timestamp = 1796191775011;
  o.last_update_timestamp = 1796191775011;
  o.worker_sid = "paper-core-0";
  return o;
}

std::string OldIso8601(std::int64_t ms) {   // the former code, kept as the reference
  std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  int millis = static_cast<int>(ms - static_cast<std::int64_t>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

double OldClean(double x) {   // the former code, kept as the reference
  if (!std::isfinite(x) || x == 0) return x == 0 ? 0.0 : x;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.12g", x);
  return std::strtod(buf, nullptr);
}

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

TEST_CASE("paper json: orders are written exactly as nlohmann dumps them", "[paper][json]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<Order> orders;
  orders.push_back(MakeOrder());   // open limit order, as the benchmark places it
  {
    Order o = MakeOrder();         // filled market order with its trade and fee
    o.type = "market";
    o.status = "closed";
    o.filled = 0.001;
    o.cost = 60.03;
    o.average = 60030;
    o.price = 60030;
    o.fee_cost = 0.000002;
    o.fee_currency = "BTC";
    o.fee_rate = 0.002;
    o.last_trade_timestamp = 1796191775012;
    o.trades = {43};
    orders.push_back(o);
  }
  {
    Order o = MakeOrder();         // strings that need escaping, and non-ASCII
    o.client_order_id = "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f end";
    o.account = "acct \"x\"";
    o.worker_sid = "w\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80";   // é € 😀 (UTF-8)
    o.status = "canceled";
    o.symbol = "";
    orders.push_back(o);
  }
  {
    Order o = MakeOrder();         // numbers at the edges of nlohmann's formats
    o.seq = std::numeric_limits<std::int64_t>::max();
    o.price = 1e21;
    o.amount = 1e-8;
    o.filled = 0.1 + 0.2;
    o.average = 123456789012345678.0;
    o.cost = -0.0;
    o.fee_currency = "USDT";
    o.fee_cost = 5e-324;
    o.fee_rate = 1.7976931348623157e308;
    o.term = std::numeric_limits<std::uint64_t>::max();
    o.timestamp = -1;              // 1969-12-31T23:59:59.999Z
    o.last_update_timestamp = 0;   // null
    orders.push_back(o);
  }
  {
    Order o = MakeOrder();         // non-finite numbers are null, price 0 is null
    o.price = 0;
    o.amount = nan;
    o.filled = inf;
    o.average = -inf;
    o.cost = nan;
    o.fee_currency = "X";
    o.fee_cost = nan;
    o.fee_rate = -inf;
    o.timestamp = 253402300800000;   // year 10000: the printf fallback
    orders.push_back(o);
  }
  const Trade t1 = MakeTrade(43, 60030, 0.001, "BTC");
  Trade t2 = MakeTrade(44, 0.30000000000000004, 1e-7, "");
  t2.account = "tab\there";
  t2.taker_or_maker = "maker";
  t2.timestamp = -62135596800001;   // just before year 1
  for (const Order& o : orders) {
    for (const std::vector<const Trade*>& trades :
         {std::vector<const Trade*>{}, std::vector<const Trade*>{&t1},
          std::vector<const Trade*>{&t1, &t2}}) {
      const std::string want = ami::paper::OrderJson(o, trades).dump();
      INFO(want);
      CHECK(Written(o, trades) == want);
    }
  }
  CHECK(Written(t1) == ami::paper::TradeJson(t1).dump());
  CHECK(Written(t2) == ami::paper::TradeJson(t2).dump());

  // Invalid UTF-8 fails the same way on both paths (nlohmann's type_error 316).
  Order bad = MakeOrder();
  bad.worker_sid = "w\xff";
  std::string out;
  CHECK_THROWS_AS(ami::paper::OrderJson(bad, {}).dump(), Json::type_error);
  CHECK_THROWS_AS(ami::paper::AppendOrder(out, bad, {}), Json::type_error);
}

TEST_CASE("paper json: dates and cleaned numbers equal the printf-based code", "[paper][json]") {
  std::mt19937_64 rng(15);
  std::vector<std::int64_t> times = {0, -1, 999, 1000, -1000, -1001, 951782400000 /* 2000-02-29 */,
                                     4107542400000 /* 2100-03-01 */, -2203891200000 /* 1900-03-01 */,
                                     253402300799999, 253402300800000, -62167219200000,
                                     -62167219200001, 1796191775011};
  for (int i = 0; i < 20000; ++i)
    times.push_back(static_cast<std::int64_t>(rng() % 600000000000000ULL) - 300000000000000LL);
  for (const std::int64_t ms : times) {
    INFO(ms);
    REQUIRE(ami::paper::Iso8601(ms) == OldIso8601(ms));
  }

  std::vector<double> values = {0.1 + 0.2, 1e-8, 1e21, 59970.000000000004, 0.30000000000000004,
                                -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                                123456789012.5, 999999999999.5, 0.0049999999999995, -7.25e-300};
  std::uniform_real_distribution<double> unit(0, 1);
  for (int i = 0; i < 20000; ++i) {
    values.push_back(unit(rng) * std::pow(10.0, static_cast<int>(rng() % 40) - 20));   // prices, amounts
    // Few digits (already clean), and a step's multiple or sum with float noise.
    const double few = static_cast<double>(rng() % 1000000007) / std::pow(10.0, static_cast<int>(rng() % 12));
    values.push_back(few);
    values.push_back(std::floor(few / 0.001 + 1e-9) * 0.001);
    values.push_back(few * 1.1 - few * 0.1);
    std::uint64_t bits = rng();
    double any;
    std::memcpy(&any, &bits, sizeof any);   // every exponent, subnormals, NaN
    values.push_back(any);
  }
  for (const double v : values) {
    INFO(v);
    const double want = OldClean(v);
    REQUIRE((SameBits(ami::paper::Clean(v), want) || (std::isnan(v) && std::isnan(want))));
  }
}

TEST_CASE("paper json: the fast path answers as the nlohmann path does", "[paper][json]") {
  auto made = ami::test::PaperRegistry().CreateConnector(
      "paper", Json{{"volatility", 0},
                    {"clock", "manual"},
                    {"starting_balances", {{"USDT", 100000}, {"BTC", 1}}}});
  REQUIRE(made.ok());
  ami::plugin::ExchangeConnector& c = **made;
  ami::plugin::CallContext ctx;
  ctx.worker_sid = "sid \"quoted\"\n";
  ctx.term = 7;
  ctx.account_id = "acc\\1";
  auto call = [&](const std::string& method, const Json& args) {
    ami::plugin::CallResult r = c.Call(ctx, method, args.dump());
    INFO(method << " -> " << r.error_class << ": " << r.message);
    REQUIRE(r.ok);
    return r.json;
  };
  const Json params = {{"clientOrderId", "c\"1\t\xc3\xa9"}};
  const std::string resting = call("createOrder", {"BTC/USDT", "limit", "buy", 0.0123, 30000.5, params});
  const std::string filled = call("createOrder", {"BTC/USDT", "market", "sell", 0.02, nullptr, Json::object()});
  const std::string id_resting = Json::parse(resting)["id"];
  const std::string id_filled = Json::parse(filled)["id"];
  CHECK(Json::parse(filled)["trades"].size() == 1);

  // fetchOrders goes through ConnectorBase (nlohmann objects, dumped); re-dumping its
  // parsed elements gives nlohmann's text again (its numbers round-trip).
  const Json all = Json::parse(call("fetchOrders", Json::array()));
  REQUIRE(all.size() == 2);
  CHECK(all[0].dump() == resting);
  CHECK(all[1].dump() == filled);
  CHECK(call("fetchOrder", {id_resting}) == resting);
  CHECK(call("fetchOrder", {"", nullptr, params}) == resting);
  CHECK(call("fetchOrder", {id_filled, "BTC/USDT"}) == filled);
  // The idempotent retry answers the first order, as before.
  CHECK(call("createOrder", {"BTC/USDT", "limit", "buy", 0.0123, 30000.5, params}) == resting);

  const std::string cancelled = call("cancelOrder", {id_resting, "BTC/USDT"});
  CHECK(Json::parse(cancelled)["status"] == "canceled");
  CHECK(Json::parse(call("fetchOrders", Json::array()))[0].dump() == cancelled);

  // A second resting order cancelled through cancelAllOrders (nlohmann) matches fetchOrder (text).
  call("createOrder", {"ETH/USDT", "limit", "buy", 0.5, 100, Json::object()});
  const Json swept = Json::parse(call("cancelAllOrders", Json::array()));
  REQUIRE(swept.size() == 1);
  CHECK(call("fetchOrder", Json::array({swept[0]["id"]})) == swept[0].dump());

  // Errors keep their class and message.
  ami::plugin::CallResult missing = c.Call(ctx, "createOrder", R"(["BTC/USDT","limit"])");
  CHECK_FALSE(missing.ok);
  CHECK(missing.error_class == "ArgumentsRequired");
  CHECK(missing.message == "createOrder() requires argument 'side'");
  ami::plugin::CallResult wrong = c.Call(ctx, "createOrder", R"(["BTC/USDT","limit","buy","abc",1])");
  CHECK(wrong.error_class == "BadRequest");
  CHECK(wrong.message == "createOrder: argument 'amount' must be a number, got \"abc\"");
  ami::plugin::CallResult not_json = c.Call(ctx, "cancelOrder", "[1,");
  CHECK(not_json.error_class == "BadRequest");
  CHECK(not_json.message.rfind("cancelOrder: bad JSON: ", 0) == 0);
  ami::plugin::CallResult gone = c.Call(ctx, "fetchOrder", R"(["999999"])");
  CHECK(gone.error_class == "OrderNotFound");
}
