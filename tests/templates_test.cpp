// The template pack (templates/, plugin "stels") inside a real in-process node with the
// paper exchange: every template runs for several iterations without a critical error
// and leaves what it should; records from templates (API and YAML) get the documented
// defaults, overrides and validation.
#include <catch2/catch.hpp>

#include <algorithm>
#include <regex>

#include <nlohmann/json.hpp>

#include "actors/local_node.h"
#include "runtime/base/clock.h"
#include "runtime/node/worker_catalog.h"
#include "tests/support/test_support.h"

using namespace ami;
using ami::test::Eventually;
using ami::test::TempDir;
using json = nlohmann::json;

namespace {

const std::vector<std::string> kIds = {"grid-trading",     "dca-strategy", "market-monitor", "balance-monitor",
                                       "price-aggregator", "health-check", "log-cleanup",    "empty"};

std::string NodeYaml(const std::string& workers = "") {
  return "node: { id: s-0001, data_dir: ./data }\n"
         "limits: { stop_grace: 500ms }\n"
         "execution:\n"
         "  network_backoff: { initial: 1ms, factor: 1, max: 1ms }\n"
         "plugins: { dirs: [\"" + (ami::test::BinaryDir() / "plugins").string() + "\"] }\n"
         "exchanges:\n"
         // A still price: the grid's level at the price never crosses the book.
         "  bybit: { connector: paper, clock: manual }\n"
         "  binance: { connector: paper }\n"
         "accounts:\n"
         "  g-bhts: { exchange: bybit, api_key: K1, secret: S1 }\n"
         "  b-main: { exchange: binance, api_key: K2, secret: S2 }\n" +
         workers;
}

Result<std::unique_ptr<LocalNode>> TryStart(const TempDir& dir, const std::string& workers = "",
                                            std::vector<std::string>* log = nullptr) {
  auto config = ParseConfig(NodeYaml(workers), "t.yaml", dir.path());
  INFO(config.status().message());
  REQUIRE(config.ok());
  return LocalNode::Start(*config, log);
}

std::unique_ptr<LocalNode> StartNode(const TempDir& dir, const std::string& workers = "",
                                     std::vector<std::string>* log = nullptr) {
  auto node = TryStart(dir, workers, log);
  INFO(node.status().message());
  REQUIRE(node.ok());
  return std::move(*node);
}

std::optional<json> Get(LocalNode& node, kv::Space space, const kv::Key& key) {
  auto entry = node.KvGet(space, key);
  if (!entry.ok() || !*entry) return std::nullopt;
  return json::parse((*entry)->value);
}

std::optional<json> Net(LocalNode& node, std::initializer_list<std::string_view> key) {
  return Get(node, kv::Space::kNetwork, kv::MakeKey(key));
}

std::vector<kv::Entry> NetList(LocalNode& node, std::initializer_list<std::string_view> prefix) {
  auto entries = node.KvList(kv::Space::kNetwork, kv::MakeKey(prefix));
  REQUIRE(entries.ok());
  return *entries;
}

// Runs `body` (an async function body) as a single-mode worker and returns what it
// returned; fails the test with the script's error when it throws.
json Check(LocalNode& node, const std::string& body, std::optional<std::string> account = std::nullopt) {
  static int counter = 0;
  const std::string id = "check-" + std::to_string(++counter);
  WorkerRecord fields;
  fields.active = true;
  fields.mode = WorkerMode::kSingle;
  fields.priority = Priority::kHigh;
  fields.account_id = std::move(account);
  fields.script = "let out;\ntry { out = { value: await (async () => {\n" + body +
                  "\n})() }; } catch (e) { out = { error: String(e && e.name) + ': ' + String(e && e.message) }; }\n"
                  "await Stels.local.set(['" + id + "'], out);";
  auto record = NewWorkerRecord("s-0001", fields, WallMillis());
  Status put = node.PutWorker(record);
  INFO(put.message());
  REQUIRE(put.ok());
  std::optional<json> out;
  REQUIRE(Eventually([&] {
    out = Get(node, kv::Space::kLocal, kv::MakeKey({id}));
    return out.has_value();
  }));
  node.DeleteWorker(record.sid);
  INFO(out->dump());
  REQUIRE_FALSE(out->contains("error"));
  return (*out)["value"];
}

WorkerRecord Create(LocalNode& node, const std::string& id, TemplateOverrides overrides) {
  if (!overrides.active) overrides.active = true;
  auto record = node.CreateFromTemplate(id, overrides);
  INFO(id << ": " << record.status().message());
  REQUIRE(record.ok());
  return *record;
}

// Waits until the worker completed `n` runs; none of them may have failed critically.
void WaitRuns(LocalNode& node, const std::string& sid, uint64_t n) {
  std::optional<WorkerStats> s;
  bool done = Eventually([&] {
    s = node.stats().Get(sid);
    return s && s->executions >= n;
  }, std::chrono::seconds(40));
  INFO("stats: " << (s ? StatsToJson(*s, WallMillis()).dump() : "none"));
  REQUIRE(done);
  CHECK(s->critical_errors == 0);
  CHECK(s->network_errors == 0);
}

void CheckNoErrors(LocalNode& node, const std::string& sid) {
  auto s = node.stats().Get(sid);
  REQUIRE(s);
  INFO(StatsToJson(*s, WallMillis()).dump());
  CHECK(s->critical_errors == 0);
  CHECK(s->network_errors == 0);
}

// The grid's orders on the paper exchange (open and closed) with its clientOrderIds.
json GridOrders(LocalNode& node, const std::string& sid) {
  return Check(node, R"JS(
    const ex = new Stels.runtime.cex.bybit();
    const mine = (list) => list.filter((o) => String(o.clientOrderId || '').startsWith('grid-)JS" + sid + R"JS(-'));
    const open = mine(await ex.fetchOpenOrders('BTC/USDT'));
    const all = mine(await ex.fetchOrders('BTC/USDT'));
    return { open: open.length, all: all.length,
             ids: [...new Set(all.map((o) => o.clientOrderId))].length,
             buys: open.filter((o) => o.side === 'buy').length,
             maxBuy: Math.max(...open.filter((o) => o.side === 'buy').map((o) => o.price)),
             minSell: Math.min(...open.filter((o) => o.side === 'sell').map((o) => o.price)),
             prices: open.map((o) => o.price).sort((a, b) => a - b) };
  )JS", std::string("g-bhts"));
}

bool GridPlaced(LocalNode& node, const std::string& sid) {
  auto plan = Net(node, {"strategy", "grid", sid});
  if (!plan) return false;
  for (const auto& level : (*plan)["raw"]["levels"])
    if (!level["placed"].get<bool>()) return false;
  return true;
}

}  // namespace

TEST_CASE("the stels pack offers the eight guide templates with their defaults", "[templates]") {
  TempDir dir;
  auto node = StartNode(dir);
  auto templates = node->Templates();
  std::vector<std::string> ids;
  for (const auto& t : templates) ids.push_back(t.id);
  CHECK(ids == kIds);

  struct Expected {
    const char* id;
    const char* name;
    const char* category;
    const char* icon;
    ExecutionMode execution_mode;
    Priority priority;
    WorkerMode mode;
    std::vector<std::string> deps;
  };
  const std::vector<std::string> g{"gliesereum"};
  const std::vector<Expected> expected = {
      {"grid-trading", "Grid Trading", "trading", "📊", ExecutionMode::kLeader, Priority::kCritical, WorkerMode::kLoop, g},
      {"dca-strategy", "DCA Strategy", "trading", "💰", ExecutionMode::kLeader, Priority::kHigh, WorkerMode::kSingle, g},
      {"market-monitor", "Market Monitor", "monitoring", "📈", ExecutionMode::kParallel, Priority::kNormal, WorkerMode::kLoop, g},
      {"balance-monitor", "Balance Monitor", "monitoring", "💵", ExecutionMode::kParallel, Priority::kCritical, WorkerMode::kLoop, g},
      {"price-aggregator", "Price Aggregator", "analytics", "🔢", ExecutionMode::kLeader, Priority::kHigh, WorkerMode::kLoop, g},
      {"health-check", "Health Check", "monitoring", "🏥", ExecutionMode::kParallel, Priority::kLow, WorkerMode::kLoop, {}},
      {"log-cleanup", "Log Cleanup", "maintenance", "🧹", ExecutionMode::kExclusive, Priority::kLow, WorkerMode::kLoop, {}},
      {"empty", "Empty Script", "analytics", "📝", ExecutionMode::kParallel, Priority::kNormal, WorkerMode::kLoop, g},
  };
  for (const auto& e : expected) {
    const WorkerTemplate* t = FindTemplate(templates, e.id);
    INFO(e.id);
    REQUIRE(t);
    CHECK(t->name == e.name);
    CHECK(t->category == e.category);
    CHECK(t->icon == e.icon);
    CHECK_FALSE(t->description.empty());
    CHECK(t->execution_mode == e.execution_mode);
    CHECK(t->priority == e.priority);
    CHECK(t->mode == e.mode);
    CHECK(t->dependencies == e.deps);
    CHECK(t->version == "1.19.2");
    CHECK(t->pack == "stels");
    CHECK(t->assigned_node == (std::string(e.id) == "log-cleanup" ? std::optional<std::string>("s-0001") : std::nullopt));
    CHECK_FALSE(t->script.empty());
    // No credentials in any script: the worker's account supplies them.
    CHECK(t->script.find("apiKey") == std::string::npos);
    CHECK(t->script.find("secret") == std::string::npos);
  }
  CHECK(FindTemplate(templates, "dca-strategy")->script.find("const INTERVAL_MS = 3600000;") != std::string::npos);

  auto j = TemplateToJson(*FindTemplate(templates, "log-cleanup"));
  CHECK(j["defaults"]["executionMode"] == "exclusive");
  CHECK(j["defaults"]["assignedNode"] == "s-0001");
  CHECK(j["defaults"]["priority"] == "low");
  CHECK(j["dependencies"] == json::array());
  CHECK(TemplateToJson(*FindTemplate(templates, "empty"))["defaults"]["assignedNode"].is_null());
}

TEST_CASE("RecordFromTemplate applies defaults and overrides and validates the result", "[templates]") {
  WorkerTemplate t;
  t.id = "pinned";
  t.name = "Pinned";
  t.description = "does a thing";
  t.script = "logger.info('x');";
  t.execution_mode = ExecutionMode::kExclusive;
  t.assigned_node = "s-0001";
  t.priority = Priority::kLow;
  t.dependencies = {};

  auto plain = RecordFromTemplate(t, {}, "s-0009", 1234);
  REQUIRE(plain.ok());
  CHECK(IsUuid(plain->sid));
  CHECK(plain->nid == "s-0009");
  CHECK_FALSE(plain->active);
  CHECK(plain->timestamp == 1234);
  CHECK(plain->script == t.script);
  CHECK(plain->execution_mode == ExecutionMode::kExclusive);
  CHECK(plain->assigned_node == "s-0001");
  CHECK(plain->priority == Priority::kLow);
  CHECK(plain->mode == WorkerMode::kLoop);
  CHECK(plain->scope == Scope::kLocal);
  CHECK(plain->dependencies.empty());
  CHECK(plain->version == "1.19.2");
  CHECK(plain->note == "Pinned: does a thing");
  CHECK_FALSE(plain->account_id);

  TemplateOverrides o;
  o.active = true;
  o.mode = WorkerMode::kSingle;
  o.priority = Priority::kCritical;
  o.execution_mode = ExecutionMode::kParallel;
  o.scope = Scope::kNetwork;
  o.account_id = "g-bhts";
  o.assigned_node = "";   // cleared
  o.note = "mine";
  o.script = "return 1;";
  auto over = RecordFromTemplate(t, o, "s-0001", 5);
  REQUIRE(over.ok());
  CHECK(over->active);
  CHECK(over->mode == WorkerMode::kSingle);
  CHECK(over->priority == Priority::kCritical);
  CHECK(over->execution_mode == ExecutionMode::kParallel);
  CHECK(over->scope == Scope::kNetwork);
  CHECK(over->account_id == "g-bhts");
  CHECK_FALSE(over->assigned_node);
  CHECK(over->note == "mine");
  CHECK(over->script == "return 1;");

  TemplateOverrides no_node;
  no_node.assigned_node = "";
  auto bad = RecordFromTemplate(t, no_node, "s-0001", 5);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Status::Code::kInvalidArgument);
  CHECK(bad.status().message() == "assignedNode: exclusive mode requires assignedNode");

  TemplateOverrides exclusive;
  exclusive.execution_mode = ExecutionMode::kExclusive;
  WorkerTemplate parallel = t;
  parallel.execution_mode = ExecutionMode::kParallel;
  parallel.assigned_node.reset();
  CHECK(RecordFromTemplate(parallel, exclusive, "s-0001", 5).status().message() ==
        "assignedNode: exclusive mode requires assignedNode");

  TemplateOverrides bad_sid;
  bad_sid.sid = "abc";
  CHECK(RecordFromTemplate(t, bad_sid, "s-0001", 5).status().message() == "sid: \"abc\" is not a UUID");
  TemplateOverrides long_note;
  long_note.note = std::string(kMaxNoteBytes + 1, 'n');
  CHECK(RecordFromTemplate(t, long_note, "s-0001", 5).status().message().rfind("note: ", 0) == 0);
  WorkerTemplate no_script = t;
  no_script.script.clear();
  CHECK(RecordFromTemplate(no_script, {}, "s-0001", 5).status().message() == "script: template pinned has no script");

  auto parsed = OverridesFromJson(json::parse(
      R"({"active":true,"priority":"high","executionMode":"leader","accountId":"a","assignedNode":null,"scriptContent":"x"})"));
  REQUIRE(parsed.ok());
  CHECK(parsed->active == true);
  CHECK(parsed->priority == Priority::kHigh);
  CHECK(parsed->execution_mode == ExecutionMode::kLeader);
  CHECK(parsed->account_id == "a");
  CHECK(parsed->assigned_node == "");
  CHECK(parsed->script == "x");
  CHECK_FALSE(parsed->mode);
  CHECK(OverridesFromJson(json::parse(R"({"priority":"urgent"})")).status().message() ==
        "priority: \"urgent\" is not one of critical|high|normal|low");
  CHECK(OverridesFromJson(json::parse(R"({"active":"yes"})")).status().message() == "active: expected true or false");
}

TEST_CASE("CreateFromTemplate stores the record; unknown ids and bad results are refused", "[templates]") {
  TempDir dir;
  auto node = StartNode(dir);
  auto unknown = node->CreateFromTemplate("nope", {});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().code() == Status::Code::kNotFound);
  CHECK(unknown.status().message() ==
        "unknown template \"nope\"; known: grid-trading, dca-strategy, market-monitor, balance-monitor, "
        "price-aggregator, health-check, log-cleanup, empty");

  TemplateOverrides syntax;
  syntax.script = "this is not javascript {";
  auto bad_script = node->CreateFromTemplate("empty", syntax);
  REQUIRE_FALSE(bad_script.ok());
  CHECK(bad_script.status().message().rfind("script: ", 0) == 0);

  TemplateOverrides no_node;
  no_node.assigned_node = "";
  CHECK(node->CreateFromTemplate("log-cleanup", no_node).status().message() ==
        "assignedNode: exclusive mode requires assignedNode");

  auto record = node->CreateFromTemplate("health-check", {});   // inactive by default
  REQUIRE(record.ok());
  auto stored = node->GetWorker(record->sid);
  REQUIRE(stored.ok());
  REQUIRE(stored->has_value());
  CHECK(**stored == *record);
  CHECK_FALSE((*stored)->active);
  CHECK((*stored)->priority == Priority::kLow);
}

TEST_CASE("empty: logs its two lines", "[templates][run]") {
  TempDir dir;
  auto node = StartNode(dir);
  auto w = Create(*node, "empty", {});
  WaitRuns(*node, w.sid, 3);
  const auto log = dir.path() / "data" / "logs" / "workers" / (w.sid + ".log");
  REQUIRE(Eventually([&] { return std::filesystem::exists(log); }));
  const std::string text = ami::test::ReadFile(log);
  CHECK(text.find("[INFO] Worker script initialized!") != std::string::npos);
  CHECK(text.find("[INFO] Running on s-0001 as " + w.sid) != std::string::npos);
}

TEST_CASE("grid-trading: places its 10 levels once, across runs, restarts and a lost plan", "[templates][run]") {
  TempDir dir;
  std::string sid;
  {
    auto node = StartNode(dir);
    TemplateOverrides o;
    o.account_id = "g-bhts";
    auto w = Create(*node, "grid-trading", o);
    sid = w.sid;
    REQUIRE(Eventually([&] { return GridPlaced(*node, sid); }, std::chrono::seconds(40)));
    const uint64_t runs = node->stats().Get(sid)->executions;
    WaitRuns(*node, sid, runs + 5);   // more runs after the grid is complete
    auto orders = GridOrders(*node, sid);
    INFO(orders.dump());
    CHECK(orders["open"] == 10);
    CHECK(orders["all"] == 10);
    CHECK(orders["ids"] == 10);
    // Buys below the price, sells at or above it: 5 of each, or 6 buys when the
    // price rounded down to the middle level.
    CHECK((orders["buys"] == 5 || orders["buys"] == 6));
    CHECK(orders["maxBuy"].get<double>() < orders["minSell"].get<double>());
    auto prices = orders["prices"];
    for (size_t i = 1; i < prices.size(); ++i) CHECK(prices[i].get<double>() - prices[i - 1].get<double>() == Approx(100));
    REQUIRE(node->Shutdown(std::chrono::seconds(10)).ok());
  }
  {
    // A restart (the record is active in the store): no new orders.
    auto node = StartNode(dir);
    WaitRuns(*node, sid, 5);
    auto orders = GridOrders(*node, sid);
    INFO(orders.dump());
    CHECK(orders["all"] == 10);
    CHECK(orders["open"] == 10);

    // The saved grid is lost (e.g. a failover before it replicated): the grid is made
    // again, and the clientOrderIds keep the exchange from taking a second order per level.
    kv::Request del;
    del.op = kv::Request::Op::kCommit;
    del.space = kv::Space::kNetwork;
    del.mutations.push_back(kv::Mutation{kv::Mutation::Kind::kDelete, kv::MakeKey({"strategy", "grid", sid}), {}, std::nullopt});
    REQUIRE(node->Kv(del).ok());
    REQUIRE(Eventually([&] { return GridPlaced(*node, sid); }, std::chrono::seconds(40)));
    CheckNoErrors(*node, sid);
    orders = GridOrders(*node, sid);
    INFO(orders.dump());
    CHECK(orders["all"] == 10);
    CHECK(orders["open"] == 10);
  }
}

TEST_CASE("dca-strategy: buys every interval, records each buy and stops when asked", "[templates][run]") {
  TempDir dir;
  auto node = StartNode(dir);
  const auto templates = node->Templates();
  const WorkerTemplate* t = FindTemplate(templates, "dca-strategy");
  REQUIRE(t);
  std::string script = t->script;
  const std::string constant = "const INTERVAL_MS = 3600000;";
  REQUIRE(script.find(constant) != std::string::npos);
  script.replace(script.find(constant), constant.size(), "const INTERVAL_MS = 300;");
  TemplateOverrides o;
  o.account_id = "b-main";
  o.script = script;
  auto w = Create(*node, "dca-strategy", o);
  CHECK(w.mode == WorkerMode::kSingle);

  std::vector<kv::Entry> buys;
  REQUIRE(Eventually([&] {
    buys = NetList(*node, {"strategy", "dca", "BTC/USDT"});
    return buys.size() >= 3;
  }, std::chrono::seconds(40)));
  for (const auto& e : buys) {
    auto v = json::parse(e.value);
    INFO(v.dump());
    CHECK(e.key.size() == 4);
    CHECK(e.key[3].type == kv::KeyPart::Type::kNumber);
    CHECK(v["module"] == "dca");
    CHECK(v["channel"].get<std::string>().rfind("strategy.dca.BTC/USDT.", 0) == 0);
    CHECK_FALSE(v["raw"]["orderId"].get<std::string>().empty());
    CHECK(v["raw"]["amount"].get<double>() > 0);
    CHECK(v["raw"]["price"].get<double>() > 0);
    CHECK(v["raw"]["cost"].get<double>() >= 5);   // the paper market's minimum cost
    CHECK(v["raw"]["node"] == "s-0001");
  }
  // Buys at least INTERVAL_MS apart.
  for (size_t i = 1; i < buys.size(); ++i) CHECK(buys[i].key[3].number - buys[i - 1].key[3].number >= 300);
  // The orders exist on the exchange.
  auto orders = Check(*node, "return (await new Stels.runtime.cex.binance().fetchClosedOrders('BTC/USDT')).length;",
                      std::string("b-main"));
  CHECK(orders.get<int>() >= 3);
  CheckNoErrors(*node, w.sid);

  // Its own loop honours the stop: the worker ends within the grace period.
  WorkerRecord stopped = w;
  stopped.active = false;
  REQUIRE(node->PutWorker(stopped).ok());
  REQUIRE(Eventually([&] {
    auto s = node->stats().Get(w.sid);
    return s && !s->is_running;
  }));
  CheckNoErrors(*node, w.sid);
}

TEST_CASE("monitors and the price aggregator write their keys", "[templates][run]") {
  TempDir dir;
  auto node = StartNode(dir);
  // Another node's fresh report and a stale one, as the Market Monitor on s-0002/3 would leave.
  Check(*node, R"JS(
    const put = (node, price, timestamp) => Stels.webfix({ brain: Stels.net, method: 'set', module: 'market',
        channel: ['market', 'ticker', 'BTC/USDT', node], raw: { price, volume: 1, change: 0, node }, timestamp });
    await put('s-0002', 50000, Date.now() + 3600000);
    await put('s-0003', 1, Date.now() - 3600000);
  )JS");

  TemplateOverrides with_account;
  with_account.account_id = "g-bhts";
  auto market = Create(*node, "market-monitor", {});
  auto balance = Create(*node, "balance-monitor", with_account);
  auto health = Create(*node, "health-check", {});
  auto aggregator = Create(*node, "price-aggregator", {});
  WaitRuns(*node, market.sid, 3);
  WaitRuns(*node, balance.sid, 3);
  WaitRuns(*node, health.sid, 3);
  WaitRuns(*node, aggregator.sid, 3);

  double btc = 0;
  for (const char* symbol : {"BTC/USDT", "ETH/USDT", "SOL/USDT"}) {
    auto ticker = Net(*node, {"market", "ticker", symbol, "s-0001"});
    INFO(symbol);
    REQUIRE(ticker);
    CHECK((*ticker)["module"] == "market");
    CHECK((*ticker)["raw"]["price"].get<double>() > 0);
    CHECK((*ticker)["raw"]["volume"].is_number());
    CHECK((*ticker)["raw"]["change"].is_number());
    CHECK((*ticker)["raw"]["node"] == "s-0001");
    if (std::string(symbol) == "BTC/USDT") btc = (*ticker)["raw"]["price"].get<double>();
  }

  auto b = Net(*node, {"account", "balance", "s-0001"});
  REQUIRE(b);
  INFO(b->dump());
  CHECK((*b)["module"] == "balance");
  CHECK((*b)["raw"]["equity"].get<double>() > 10000);   // 10000 USDT + 0.1 BTC
  CHECK((*b)["raw"]["available"].get<double>() > 0);
  CHECK((*b)["raw"]["node"] == "s-0001");

  auto h = Net(*node, {"health", "s-0001"});
  REQUIRE(h);
  INFO(h->dump());
  CHECK((*h)["module"] == "monitoring");
  CHECK((*h)["raw"]["node"] == "s-0001");
  CHECK((*h)["raw"]["memory"]["rss"].get<double>() > 0);
  CHECK((*h)["raw"]["cpu"].size() == 3);
  CHECK((*h)["raw"]["uptime"].get<double>() >= 0);

  // BTC: this node (a still price) and s-0002; s-0003's report is too old. ETH: this node only.
  std::optional<json> agg;
  REQUIRE(Eventually([&] {
    agg = Net(*node, {"market", "aggregated", "BTC/USDT"});
    return agg && (*agg)["raw"]["nodeCount"] == 2;
  }));
  INFO(agg->dump());
  CHECK((*agg)["raw"]["mean"].get<double>() == Approx((btc + 50000) / 2));
  CHECK((*agg)["raw"]["min"].get<double>() == Approx(std::min(btc, 50000.0)));
  CHECK((*agg)["raw"]["max"].get<double>() == Approx(std::max(btc, 50000.0)));
  CHECK((*agg)["raw"]["spread"].get<double>() == Approx(std::abs(btc - 50000)));
  CHECK((*agg)["raw"]["timestamp"].get<double>() > 0);
  auto eth = Net(*node, {"market", "aggregated", "ETH/USDT"});
  REQUIRE(eth);
  CHECK((*eth)["raw"]["nodeCount"] == 1);
  CHECK((*eth)["raw"]["spread"] == 0);

  for (const auto* w : {&market, &balance, &health, &aggregator}) CheckNoErrors(*node, w->sid);
}

TEST_CASE("log-cleanup: deletes local log entries older than 7 days, keeps the rest", "[templates][run]") {
  TempDir dir;
  auto node = StartNode(dir);
  Check(*node, R"JS(
    const n = config.network, now = Date.now(), day = 86400000;
    await Stels.local.set([n, 'logs', 'worker-a', now - 8 * day], 'old');
    await Stels.local.set([n, 'logs', 'worker-b', String(now - 30 * day)], 'old, as text');
    await Stels.local.set([n, 'logs', 'worker-a', now - 1 * day], 'new');
    await Stels.local.set([n, 'logs', 'worker-b', String(now)], 'new, as text');
    await Stels.local.set([n, 'logs', 'notes', 'hello'], 'not a time');
    await Stels.local.set(['other', 'logs', now - 30 * day], 'another prefix');
  )JS");
  auto w = Create(*node, "log-cleanup", {});
  CHECK(w.execution_mode == ExecutionMode::kExclusive);
  CHECK(w.assigned_node == "s-0001");
  WaitRuns(*node, w.sid, 2);
  auto left = Check(*node, R"JS(
    const rows = await Array.fromAsync(Stels.local.list({ prefix: [config.network, 'logs'] }));
    const other = await Stels.local.get(['other', 'logs', (await Array.fromAsync(Stels.local.list({ prefix: ['other', 'logs'] })))[0].key[2]]);
    return { values: rows.map((e) => e.value).sort(), other: other.value };
  )JS");
  INFO(left.dump());
  CHECK(left["values"] == json::array({"new", "new, as text", "not a time"}));
  CHECK(left["other"] == "another prefix");
  CheckNoErrors(*node, w.sid);
}

TEST_CASE("a YAML template declaration creates the worker with the given fields as overrides", "[templates][yaml]") {
  TempDir dir;
  const std::string workers =
      "workers:\n"
      "  - name: grid\n"
      "    template: grid-trading\n"
      "    account_id: g-bhts\n"
      "    priority: high\n"
      "    active: false\n"
      "  - name: health\n"
      "    template: health-check\n"
      "  - name: cleanup\n"
      "    template: log-cleanup\n"
      "    execution_mode: exclusive\n"   // assigned_node comes from the template
      "    note: nightly\n";
  Config config;
  {
    auto parsed = ParseConfig(NodeYaml(workers), "t.yaml", dir.path());
    INFO(parsed.status().message());
    REQUIRE(parsed.ok());
    config = *parsed;
  }
  REQUIRE(config.workers.size() == 3);
  CHECK(config.workers[0].given == std::set<std::string>{"name", "template", "account_id", "priority", "active"});
  CHECK(config.workers[1].given == std::set<std::string>{"name", "template"});

  std::vector<std::string> log;
  auto node = StartNode(dir, workers, &log);
  const std::string joined = [&] { std::string s; for (auto& l : log) s += l + "\n"; return s; }();
  INFO(joined);
  CHECK(joined.find("created declared worker grid") != std::string::npos);
  CHECK(joined.find("created declared worker health") != std::string::npos);

  auto templates = node->Templates();
  auto grid = node->GetWorker(DeclaredSid(config, config.workers[0]));
  REQUIRE(grid.ok());
  REQUIRE(grid->has_value());
  CHECK((*grid)->script == FindTemplate(templates, "grid-trading")->script);
  CHECK((*grid)->priority == Priority::kHigh);              // given
  CHECK((*grid)->execution_mode == ExecutionMode::kLeader); // the template's
  CHECK((*grid)->scope == Scope::kNetwork);
  CHECK((*grid)->account_id == "g-bhts");
  CHECK_FALSE((*grid)->active);
  CHECK((*grid)->note == "Grid Trading: " + FindTemplate(templates, "grid-trading")->description);

  const std::string health_sid = DeclaredSid(config, config.workers[1]);
  auto health = node->GetWorker(health_sid);
  REQUIRE(health.ok());
  REQUIRE(health->has_value());
  CHECK((*health)->active);   // declared workers run unless `active: false`
  CHECK((*health)->priority == Priority::kLow);
  CHECK((*health)->dependencies.empty());
  CHECK(Eventually([&] { return Net(*node, {"health", "s-0001"}).has_value(); }));

  auto cleanup = node->GetWorker(DeclaredSid(config, config.workers[2]));
  REQUIRE(cleanup.ok());
  REQUIRE(cleanup->has_value());
  CHECK((*cleanup)->assigned_node == "s-0001");
  CHECK((*cleanup)->note == "nightly");
  const int64_t stamp = (*health)->timestamp;
  REQUIRE(node->Shutdown(std::chrono::seconds(10)).ok());
  node.reset();

  // Unchanged declarations are not applied again.
  log.clear();
  node = StartNode(dir, workers, &log);
  auto again = node->GetWorker(health_sid);
  REQUIRE(again.ok());
  REQUIRE(again->has_value());
  CHECK((*again)->timestamp == stamp);
  for (const auto& line : log) CHECK(line.find("declared worker") == std::string::npos);
}

TEST_CASE("an unknown template in YAML stops the start with file:line:col and the known ids", "[templates][yaml]") {
  TempDir dir;
  auto node = TryStart(dir,
                       "workers:\n"
                       "  - name: ok\n"
                       "    template: empty\n"
                       "  - name: typo\n"
                       "    template: grid-tradin\n");
  REQUIRE_FALSE(node.ok());
  const std::string message = node.status().message();
  INFO(message);
  CHECK(std::regex_search(message, std::regex(R"(^t\.yaml:\d+:\d+: workers: typo: unknown template "grid-tradin"; known: grid-trading, dca-strategy, )")));
  CHECK(message.find("log-cleanup, empty") != std::string::npos);
}
