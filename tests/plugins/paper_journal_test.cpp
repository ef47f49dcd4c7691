// The paper exchange's journal (issue 14): acknowledged orders survive kill -9 of the
// process placing them, a torn last line is dropped, a damaged line in the middle stops
// the exchange with the file and line named, and compaction keeps the state.
//
// The kill test forks a child that loads the real paper.so and places orders from
// several threads (through CallAsync, as the node's bulkhead does, and through Call),
// writing each acknowledged client order id to a pipe from the completion; the parent
// kills it with SIGKILL mid-stream, then opens the exchange on the same directory.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <sstream>
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

Json Options(const fs::path& dir, Json extra = Json::object()) {
  Json o = {{"data_dir", dir.string()},
            {"volatility", 0},
            {"clock", "manual"},
            {"test_controls", true},
            {"starting_balances", {{"USDT", 1e9}, {"BTC", 100}}}};
  for (auto& [k, v] : extra.items()) o[k] = v;
  return o;
}

std::shared_ptr<ami::plugin::ExchangeConnector> Make(const Json& options) {
  auto made = Registry().CreateConnector("paper", options);
  INFO(made.status().ToString());
  REQUIRE(made.ok());
  return *made;
}

Json Ok(ami::plugin::ExchangeConnector& c, const std::string& method, const Json& args) {
  CallResult r = c.Call(CallContext{}, method, args.dump());
  INFO(method << " " << args.dump() << " -> " << r.error_class << ": " << r.message);
  REQUIRE(r.ok);
  return Json::parse(r.json);
}

std::vector<std::string> Lines(const fs::path& file) {
  std::istringstream in(ami::test::ReadFile(file));
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) _exit(3);
    off += static_cast<size_t>(n);
  }
}

// The child: 4 threads place resting orders, each acknowledged one is written as
// "c <clientOrderId>\n" to `out`; every third is then cancelled ("x <clientOrderId>\n").
[[noreturn]] void PlaceOrdersUntilKilled(const fs::path& dir, int out) {
  auto made = Registry().CreateConnector("paper", Options(dir));
  if (!made.ok()) _exit(2);
  std::shared_ptr<ami::plugin::ExchangeConnector> c = *made;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([c, t, out] {
      for (int i = 0;; ++i) {
        const std::string coid = "k" + std::to_string(t) + "-" + std::to_string(i);
        const std::string args =
            Json::array({"BTC/USDT", "limit", "buy", 0.001, 30000, {{"clientOrderId", coid}}}).dump();
        if (t % 2 == 0) {   // asynchronous, answered from the journal's flusher thread
          std::atomic<int> state{0};
          c->CallAsync(CallContext{}, "createOrder", args, [&](CallResult r) {
            if (r.ok) WriteAll(out, "c " + coid + "\n");
            state = r.ok ? 1 : 2;
          });
          while (state == 0) std::this_thread::yield();
          if (state == 2) _exit(4);
        } else {
          if (!c->Call(CallContext{}, "createOrder", args).ok) _exit(4);
          WriteAll(out, "c " + coid + "\n");
        }
        if (i % 3 == 0) {
          const std::string cancel = Json::array({"", nullptr, {{"clientOrderId", coid}}}).dump();
          if (!c->Call(CallContext{}, "cancelOrder", cancel).ok) _exit(5);
          WriteAll(out, "x " + coid + "\n");
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  _exit(0);
}

CallContext Stale() {
  CallContext ctx;
  ctx.worker_sid = "w1";
  ctx.term = 3;
  return ctx;
}

}  // namespace

TEST_CASE("paper journal: every acknowledged order survives kill -9", "[paper][journal]") {
  ami::test::TempDir dir;
  Registry();   // loaded before fork, so the child has it mapped already
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[0]);
    PlaceOrdersUntilKilled(dir.path(), fds[1]);
  }
  ::close(fds[1]);
  std::string acked;
  char buf[4096];
  auto count = [&] { return std::count(acked.begin(), acked.end(), '\n'); };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (count() < 600 && std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    acked.append(buf, static_cast<size_t>(n));
  }
  REQUIRE(::kill(child, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFSIGNALED(status));   // killed in the middle, not ended on its own
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) acked.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  REQUIRE(count() >= 600);

  auto c = Make(Options(dir.path()));
  std::istringstream in(acked);
  int created = 0, cancelled = 0;
  for (std::string kind, coid; in >> kind >> coid;) {
    const Json order = Ok(*c, "fetchOrder", Json::array({"", nullptr, {{"clientOrderId", coid}}}));
    INFO(kind << " " << coid << " -> " << order.dump());
    if (kind == "c") {
      ++created;
      CHECK(order["clientOrderId"] == coid);
    } else {
      ++cancelled;
      CHECK(order["status"] == "canceled");
    }
  }
  CHECK(created > 0);
  CHECK(cancelled > 0);
  // Ids go on after the highest one replayed: a new order never takes an old id.
  const Json fresh = Ok(*c, "createOrder", Json::array({"BTC/USDT", "limit", "buy", 0.001, 30000}));
  const Json all = Ok(*c, "fetchOrders", Json::array());
  std::set<std::string> ids;
  for (const auto& o : all) ids.insert(o["id"].get<std::string>());
  CHECK(ids.size() == all.size());
  CHECK(ids.count(fresh["id"].get<std::string>()) == 1);
}

TEST_CASE("paper journal: a torn last line is dropped and cut off", "[paper][journal]") {
  ami::test::TempDir dir;
  const fs::path file = dir / "paper-paper.jsonl";
  std::string kept;
  {
    auto c = Make(Options(dir.path()));
    kept = Ok(*c, "createOrder", Json::array({"BTC/USDT", "limit", "buy", 0.01, 30000}))["id"];
  }
  const std::string whole = ami::test::ReadFile(file);
  REQUIRE(!whole.empty());
  REQUIRE(whole.back() == '\n');
  // A write cut short by the crash: half a change line, no newline.
  ami::test::WriteFile(file, whole + R"({"n":99,"o":[{"seq":98,"account":"defa)");
  {
    auto c = Make(Options(dir.path()));
    CHECK(ami::test::ReadFile(file) == whole);   // cut back to the last whole line
    CHECK(Ok(*c, "fetchOrder", Json::array({kept}))["status"] == "open");
    CHECK(Ok(*c, "fetchOpenOrders", Json::array()).size() == 1);
    Ok(*c, "cancelOrder", Json::array({kept}));
  }
  auto c = Make(Options(dir.path()));   // the lines appended after the cut replay too
  CHECK(Ok(*c, "fetchOrder", Json::array({kept}))["status"] == "canceled");
}

TEST_CASE("paper journal: a damaged line in the middle is an error naming file and line", "[paper][journal]") {
  ami::test::TempDir dir;
  const fs::path file = dir / "paper-paper.jsonl";
  {
    auto c = Make(Options(dir.path()));
    for (int i = 0; i < 3; ++i) Ok(*c, "createOrder", Json::array({"BTC/USDT", "limit", "buy", 0.01, 30000}));
  }
  std::vector<std::string> lines = Lines(file);
  REQUIRE(lines.size() >= 3);
  lines[1] = lines[1].substr(0, lines[1].size() / 2) + "#garbage";
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  ami::test::WriteFile(file, text);
  auto made = Registry().CreateConnector("paper", Options(dir.path()));
  REQUIRE_FALSE(made.ok());
  CHECK_THAT(made.status().message(), Contains("paper-paper.jsonl:2:"));
  CHECK_THAT(made.status().message(), Contains("not a JSON object"));
  CHECK(ami::test::ReadFile(file) == text);   // never rewritten

  // A line that is JSON but not a journal line is refused the same way.
  lines[1] = R"({"hello":"world"})";
  text.clear();
  for (const auto& l : lines) text += l + "\n";
  ami::test::WriteFile(file, text);
  made = Registry().CreateConnector("paper", Options(dir.path()));
  REQUIRE_FALSE(made.ok());
  CHECK_THAT(made.status().message(), Contains("paper-paper.jsonl:2:"));
}

TEST_CASE("paper journal: compaction rewrites it as one snapshot and keeps the state", "[paper][journal]") {
  ami::test::TempDir dir;
  const fs::path file = dir / "paper-paper.jsonl";
  const Json options = Options(dir.path(), {{"compact_bytes", 4096}, {"max_closed_orders", 20}});
  Json balance, open, closed;
  {
    auto c = Make(options);
    for (int i = 0; i < 300; ++i) {
      const Json o = Ok(*c, "createOrder", Json::array({"BTC/USDT", "limit", "buy", 0.001, 30000 + i}));
      if (i % 10 != 0) Ok(*c, "cancelOrder", Json::array({o["id"]}));
    }
    Ok(*c, "createOrder", Json::array({"ETH/USDT", "market", "buy", 0.5}));
    Ok(*c, "paperAdvanceTime", Json::array({5000}));
    balance = Ok(*c, "fetchBalance", Json::array());
    open = Ok(*c, "fetchOpenOrders", Json::array());
    closed = Ok(*c, "fetchClosedOrders", Json::array());
  }
  CHECK(open.size() == 30);
  CHECK(closed.size() == 20);   // trimmed to max_closed_orders, and the drops are journaled
  const std::vector<std::string> lines = Lines(file);
  REQUIRE_FALSE(lines.empty());
  CHECK(Json::parse(lines[0]).contains("snapshot"));
  CHECK(lines.size() < 300);   // 572 change lines were appended
  CHECK(fs::file_size(file) < 256 * 1024);
  CHECK_FALSE(fs::exists(dir / "paper-paper.jsonl.tmp"));

  auto c = Make(options);
  CHECK(Ok(*c, "fetchBalance", Json::array())["total"] == balance["total"]);
  CHECK(Ok(*c, "fetchBalance", Json::array())["used"] == balance["used"]);
  CHECK(Ok(*c, "fetchOpenOrders", Json::array()) .size() == open.size());
  CHECK(Ok(*c, "fetchClosedOrders", Json::array()) == closed);
  CHECK(Ok(*c, "fetchTicker", Json::array({"BTC/USDT"}))["timestamp"] == 1704067200000 + 5000);
}

TEST_CASE("paper journal: a former JSON state file starts the journal", "[paper][journal]") {
  ami::test::TempDir dir;
  const Json state = {{"format", "ami-paper-state"}, {"version", 1}, {"nextSeq", 7}, {"manualNow", 1704067200000},
                      {"accounts", {{"default", {{"total", {{"USDT", 123.0}}}}}}}, {"orders", Json::array()},
                      {"trades", Json::array()}, {"terms", {{"w1", 4}}}, {"offsets", Json::object()},
                      {"lastScan", Json::object()}};
  ami::test::WriteFile(dir / "paper-paper.json", state.dump());
  {
    auto c = Make(Options(dir.path()));
    CHECK(Ok(*c, "fetchBalance", Json::array())["total"]["USDT"] == 123.0);
    CHECK(c->Call(Stale(), "fetchBalance", "[]").error_class == "PermissionDenied");
  }
  CHECK(Json::parse(Lines(dir / "paper-paper.jsonl").at(0)).contains("snapshot"));
  ami::test::WriteFile(dir / "paper-paper.json", "no longer read once the journal exists");
  auto c = Make(Options(dir.path()));
  CHECK(Ok(*c, "createOrder", Json::array({"BTC/USDT", "market", "buy", 0.0001}))["id"] == "7");
}
