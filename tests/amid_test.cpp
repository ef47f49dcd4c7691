// amid as a real process: configuration checks, a node running declared workers whose
// log files fill up, graceful shutdown on SIGTERM, restarts that keep state, and the
// plugins it finds beside itself when the config names none.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include <nlohmann/json.hpp>

#include "runtime/config/config.h"
#include "runtime/config/plugin_dirs.h"
#include "tests/support/test_support.h"

using namespace ami::test;
using json = nlohmann::json;

namespace {

std::string Amid() { return (BinaryDir() / "apps" / "amid").string(); }
std::string Ami() { return (BinaryDir() / "apps" / "ami").string(); }

// The worker log file of the only worker in data_dir, or "" while none exists.
std::string WorkerLogText(const std::filesystem::path& data_dir) {
  const auto dir = data_dir / "logs" / "workers";
  if (!std::filesystem::exists(dir)) return "";
  std::string text;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".log") text += ReadFile(e.path());
  return text;
}

// The admin port amid logs once it listens ("admin service listening on port N");
// REQUIREs that line within 60 s.
std::string AdminPort(ChildProcess& amid) {
  std::smatch m;
  const std::regex port_line(R"(admin service listening on port (\d+))");
  REQUIRE(Eventually([&] {
    const std::string out = amid.Output();
    return std::regex_search(out, m, port_line);
  }, std::chrono::seconds(60)));
  return m[1].str();
}

}  // namespace

TEST_CASE("amid --check-config accepts a good file and lists every problem of a bad one", "[amid]") {
  TempDir dir;
  WriteFile(dir / "good.yaml", "node:\n  id: s-0001\nworkers:\n  - name: w\n    script: \"logger.info('hi');\"\n");
  auto good = Run(Amid(), {"--check-config", (dir / "good.yaml").string()});
  CHECK(good.exit_code == 0);
  CHECK(good.output.find("ok (node s-0001, 1 declared workers)") != std::string::npos);

  WriteFile(dir / "bad.yaml",
            "node:\n"
            "  id: s-0001\n"
            "limits:\n"
            "  heap: lots\n"
            "  cpu: 10s\n"
            "workers:\n"
            "  - name: w\n"
            "    priority: urgent\n"
            "    script: x\n");
  auto bad = Run(Amid(), {"--check-config", (dir / "bad.yaml").string()});
  CHECK(bad.exit_code == 2);
  INFO(bad.output);
  const std::string file = (dir / "bad.yaml").string();
  CHECK(bad.output.find(file + ":4:9: limits.heap: ") != std::string::npos);
  CHECK(bad.output.find(file + ":5:3: limits.cpu: unknown key") != std::string::npos);
  CHECK(bad.output.find(file + ":8:15: workers[0].priority: ") != std::string::npos);
}

TEST_CASE("amid --check-config reports a declared script's syntax error with its place", "[amid]") {
  TempDir dir;
  WriteFile(dir / "n.yaml", "node: { id: s-0001 }\nworkers:\n  - name: w\n    script: |\n      const a = 1;\n      const b = ;\n");
  auto r = Run(Amid(), {"--check-config", (dir / "n.yaml").string()});
  CHECK(r.exit_code == 2);
  INFO(r.output);
  CHECK(std::regex_search(r.output, std::regex(R"(n\.yaml:3:\d+: workers\[0\]\.script: SyntaxError: .* \(line 2\))")));
}

TEST_CASE("amid rejects bad usage and missing files", "[amid]") {
  CHECK(Run(Amid(), {}).exit_code == 2);
  CHECK(Run(Amid(), {"--bogus"}).exit_code == 2);
  auto missing = Run(Amid(), {"--config", "/nonexistent/ami.yaml"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.output.find("/nonexistent/ami.yaml") != std::string::npos);
}

TEST_CASE("amid runs declared workers, writes their logs and stops cleanly on SIGTERM", "[amid]") {
  TempDir dir;
  WriteFile(dir / "scripts" / "tick.js",
            "globalThis.n = (globalThis.n || 0) + 1;\n"
            "logger.info('tick', n);\n");
  WriteFile(dir / "node.yaml",
            "node:\n"
            "  id: s-0001\n"
            "  data_dir: ./data\n"
            "limits: { stop_grace: 1s }\n"
            "workers:\n"
            "  - name: ticker\n"
            "    priority: high\n"
            "    script_file: scripts/tick.js\n"
            "  - name: waiter\n"
            "    mode: single\n"
            "    script: |\n"
            "      logger.info('waiting');\n"
            "      await Stels.sleep(3600000);\n");
  ChildProcess amid(Amid(), {"--config", (dir / "node.yaml").string()}, dir / "amid.out");
  REQUIRE(Eventually([&] { return WorkerLogText(dir / "data").find("tick 5") != std::string::npos; }));
  REQUIRE(Eventually([&] { return WorkerLogText(dir / "data").find("waiting") != std::string::npos; }));
  // Worker log lines look like "[2026-11-29T02:05:30.123Z] [INFO] tick 5".
  CHECK(std::regex_search(WorkerLogText(dir / "data"),
                          std::regex(R"(\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] \[INFO\] tick 5)")));
  amid.Signal(SIGTERM);
  // The single-mode worker is parked in Stels.sleep: abort makes it stop well inside the grace.
  CHECK(amid.Wait(std::chrono::seconds(20)) == 0);
  const std::string node_log = ReadFile(dir / "data" / "logs" / "node.log");
  INFO(node_log);
  CHECK(node_log.find("created declared worker ticker") != std::string::npos);
  CHECK(node_log.find("worker stats: {") != std::string::npos);
  CHECK(node_log.find("\"totalWorkers\":2") != std::string::npos);
  CHECK(node_log.find("amid stopped") != std::string::npos);
}

TEST_CASE("a restarted amid keeps its workers and applies only changed declarations", "[amid]") {
  TempDir dir;
  auto config = [&](const std::string& message) {
    WriteFile(dir / "node.yaml", "node: { id: s-0001, data_dir: ./data }\n"
                                 "workers:\n"
                                 "  - name: greeter\n"
                                 "    priority: high\n"
                                 "    script: \"logger.info('" + message + "');\"\n");
  };
  auto count = [&](const std::string& text) {
    const std::string log = WorkerLogText(dir / "data");
    size_t n = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
    return n;
  };
  // Runs amid until the worker logs `text` once more than before, then stops it.
  auto run_until = [&](const std::string& text) {
    const size_t before = count(text);
    ChildProcess amid(Amid(), {"--config", (dir / "node.yaml").string()}, dir / "amid.out");
    REQUIRE(Eventually([&] { return count(text) > before; }));
    amid.Signal(SIGINT);
    REQUIRE(amid.Wait(std::chrono::seconds(20)) == 0);
    return amid.Output();
  };
  config("hello one");
  CHECK(run_until("hello one").find("created declared worker greeter") != std::string::npos);
  // Same declaration: nothing to apply.
  const std::string second = run_until("hello one");
  CHECK(second.find("declared worker greeter") == std::string::npos);
  // Changed declaration: the record is updated in place (same sid) and the new script runs.
  config("hello two");
  CHECK(run_until("hello two").find("updated declared worker greeter") != std::string::npos);
}

TEST_CASE("amid reports an unusable data directory and exits non-zero", "[amid]") {
  TempDir dir;
  WriteFile(dir / "blocked", "a file where the data dir should be");
  WriteFile(dir / "node.yaml", "node: { id: s-0001, data_dir: ./blocked }\n");
  auto r = Run(Amid(), {"--config", (dir / "node.yaml").string()});
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("blocked") != std::string::npos);
}

TEST_CASE("amid that cannot start (an unknown template) exits 1 with the error every time and never crashes on exit",
          "[amid]") {
  // The syntax checker's thread makes its isolate while the node starts; a start that
  // failed at once used to leave main while that thread was still inside V8, and the
  // exit crashed (SIGSEGV, about 1 run in 10 on a loaded machine). Hence many runs.
  TempDir dir;
  WriteFile(dir / "node.yaml",
            "node: { id: s-0001, data_dir: ./data }\nworkers:\n  - name: typo\n    template: grid-tradin\n");
  for (int i = 0; i < 25; ++i) {
    auto r = Run(Amid(), {"--config", (dir / "node.yaml").string()});
    INFO("run " << i << ": " << r.output);
    REQUIRE(r.exit_code == 1);
    REQUIRE(r.output.find("unknown template \"grid-tradin\"") != std::string::npos);
  }
}

TEST_CASE("amid generates <data_dir>/admin.token (0600), logs its path never the token, and ami uses it", "[amid]") {
  TempDir dir;
  // Inline secrets in a file others can read: amid warns at start, naming the file only.
  WriteFile(dir / "node.yaml",
            "node: { id: s-0001, data_dir: ./data }\n"
            "cluster: { name: solo, secret: inline-cluster-secret-31, listen: \"127.0.0.1:0\" }\n"
            "admin: { listen: \"127.0.0.1:0\" }\n");
  chmod((dir / "node.yaml").c_str(), 0644);
  ChildProcess amid(Amid(), {"--config", (dir / "node.yaml").string()}, dir / "amid.out");
  const std::string port = AdminPort(amid);
  const std::string node = "127.0.0.1:" + port;

  const auto token_file = dir / "data" / "admin.token";
  struct stat st {};
  REQUIRE(stat(token_file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(stat((dir / "data").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);  // a data dir amid creates is private
  std::string token = ReadFile(token_file);
  REQUIRE(token.size() == 65);  // 64 hex digits and a newline
  token.pop_back();

  // `ami --token-file` gets in (the TLS client certificate comes from the node-local CA
  // in the data dir); a wrong token is refused with exit 3.
  const std::string data = (dir / "data").string();
  auto info = Run(Ami(), {"--node", node, "--node-dir", data, "--token-file", token_file.string(), "--json", "node"});
  INFO(info.output);
  CHECK(info.exit_code == 0);
  CHECK(info.output.find("s-0001") != std::string::npos);
  // --node-dir alone finds the generated token too.
  CHECK(Run(Ami(), {"--node", node, "--node-dir", data, "workers"}).exit_code == 0);
  auto wrong = Run(Ami(), {"--node", node, "--node-dir", data, "--token", "wrong-token-of-some-length", "workers"});
  CHECK(wrong.exit_code == 3);
  CHECK(wrong.output.find("refused the admin token") != std::string::npos);
  WriteFile(dir / "wrong.token", "another-token-of-32-bytes-000000\n");
  CHECK(Run(Ami(), {"--node", node, "--node-dir", data, "--token-file", (dir / "wrong.token").string(), "workers"})
            .exit_code == 3);
  auto missing = Run(Ami(), {"--node", node, "--node-dir", data, "--token-file", (dir / "none.token").string(), "workers"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.output.find("--token-file: cannot read \"" + (dir / "none.token").string() + "\"") != std::string::npos);

  amid.Signal(SIGTERM);
  CHECK(amid.Wait(std::chrono::seconds(20)) == 0);
  const std::string node_log = ReadFile(dir / "data" / "logs" / "node.log");
  INFO(node_log);
  CHECK(node_log.find("admin token: generated " + token_file.string()) != std::string::npos);
  CHECK(node_log.find("config file \"" + (dir / "node.yaml").string() + "\" holds secrets inline (cluster.secret)") !=
        std::string::npos);
  for (const std::string& text : {node_log, amid.Output()}) {
    CHECK(text.find(token) == std::string::npos);
    CHECK(text.find("inline-cluster-secret-31") == std::string::npos);
  }

  // A restart reads the same token back, and says so.
  ChildProcess again(Amid(), {"--config", (dir / "node.yaml").string()}, dir / "amid2.out");
  REQUIRE(Eventually([&] { return again.Output().find("admin service listening") != std::string::npos; },
                     std::chrono::seconds(60)));
  CHECK(again.Output().find("admin token: read from " + token_file.string()) != std::string::npos);
  CHECK(ReadFile(token_file) == token + "\n");
  again.Signal(SIGTERM);
  CHECK(again.Wait(std::chrono::seconds(20)) == 0);
}

TEST_CASE("amid refuses a non-loopback address without tls, naming the key", "[amid]") {
  TempDir dir;
  WriteFile(dir / "open.yaml", "node: { id: s-0001, data_dir: ./data }\nadmin: { listen: \"0.0.0.0:7201\" }\n");
  for (const char* mode : {"--check-config", "--config"}) {
    auto r = Run(Amid(), {mode, (dir / "open.yaml").string()});
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(r.output.find((dir / "open.yaml").string() +
                        ":2:18: admin.listen: \"0.0.0.0:7201\" is not a loopback address; without a tls: section") !=
          std::string::npos);
  }
  CHECK_FALSE(std::filesystem::exists(dir / "data"));  // nothing was started
}

TEST_CASE("amid --check-config refuses a YAML alias bomb at once, with its place", "[amid]") {
  TempDir dir;
  std::string bomb = "node: { id: s-0001 }\nworkers:\n  - name: w\n    script: x\n    note:\n      - &a [x, x, x, x, x, x, x, x, x]\n";
  for (char level = 'b'; level <= 'i'; ++level) {
    bomb += std::string("      - &") + level + " [";
    for (int i = 0; i < 9; ++i) bomb += std::string(i ? ", " : "") + "*" + static_cast<char>(level - 1);
    bomb += "]\n";
  }
  WriteFile(dir / "bomb.yaml", bomb);
  auto r = Run(Amid(), {"--check-config", (dir / "bomb.yaml").string()});
  INFO(r.output);
  CHECK(r.exit_code == 2);
  CHECK(r.output.find((dir / "bomb.yaml").string() + ":11:13: aliases: aliases expand this document to more than") !=
        std::string::npos);
}

TEST_CASE("amid listens on an IPv6 literal such as [::1] and ami reaches it there", "[amid]") {
  // Only where this machine has IPv6 loopback at all.
  const int probe = socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 any{};
  any.sin6_family = AF_INET6;
  any.sin6_addr = in6addr_loopback;
  const bool has_v6 = probe >= 0 && bind(probe, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0;
  if (probe >= 0) close(probe);
  if (!has_v6) {
    WARN("no IPv6 loopback here; skipped");
    return;
  }
  TempDir dir;
  WriteFile(dir / "node.yaml", "node: { id: s-0001, data_dir: ./data }\nadmin: { listen: \"[::1]:0\" }\n");
  ChildProcess amid(Amid(), {"--config", (dir / "node.yaml").string()}, dir / "amid.out");
  const std::string port = AdminPort(amid);
  auto info = Run(Ami(), {"--node", "[::1]:" + port, "--node-dir", (dir / "data").string(), "node"});
  INFO(info.output);
  CHECK(info.exit_code == 0);
  CHECK(info.output.find("Node s-0001") != std::string::npos);
  amid.Signal(SIGTERM);
  CHECK(amid.Wait(std::chrono::seconds(20)) == 0);
}

TEST_CASE("the default plugin dirs are the existing ../plugins and ../lib/ami/plugins beside the executable",
          "[amid][plugins]") {
  TempDir dir;
  const auto exe = dir / "bin" / "amid";  // need not exist: only its directory counts
  std::filesystem::create_directories(dir / "bin");
  CHECK(ami::PluginDirsBeside(exe).empty());
  CHECK(ami::PluginDirsBeside("").empty());
  std::filesystem::create_directories(dir / "lib" / "ami" / "plugins");
  const auto installed = std::filesystem::weakly_canonical(dir / "lib" / "ami" / "plugins");
  CHECK(ami::PluginDirsBeside(exe) == std::vector<std::filesystem::path>{installed});
  WriteFile(dir / "plugins", "a file, not a directory");
  CHECK(ami::PluginDirsBeside(exe) == std::vector<std::filesystem::path>{installed});
  std::filesystem::remove(dir / "plugins");
  std::filesystem::create_directories(dir / "plugins");
  const auto built = std::filesystem::weakly_canonical(dir / "plugins");
  CHECK(ami::PluginDirsBeside(exe) == std::vector<std::filesystem::path>{built, installed});

  // Only a config without plugins.dirs gets them; `dirs: []` means no plugins.
  auto none = ami::ParseConfig("node: { id: s-0001 }\n", "a.yaml", dir.path());
  REQUIRE(none.ok());
  CHECK(ami::ApplyDefaultPluginDirs(&*none, exe) == "plugins: none configured; using " + built.string() + ", " +
                                                        installed.string());
  CHECK(none->plugin_dirs == std::vector<std::filesystem::path>{built, installed});
  for (const char* text : {"node: { id: s-0001 }\nplugins: { dirs: [] }\n", "node: { id: s-0001 }\nplugins: { dirs: [/p] }\n"}) {
    auto given = ami::ParseConfig(text, "b.yaml", dir.path());
    REQUIRE(given.ok());
    const auto before = given->plugin_dirs;
    CHECK(ami::ApplyDefaultPluginDirs(&*given, exe).empty());
    CHECK(given->plugin_dirs == before);
  }
  auto nothing_beside = ami::ParseConfig("node: { id: s-0001 }\nplugins:\n", "c.yaml", dir.path());
  REQUIRE(nothing_beside.ok());
  const std::string line = ami::ApplyDefaultPluginDirs(&*nothing_beside, dir / "nowhere" / "bin" / "amid");
  CHECK(line.find("plugins: none configured and none found beside ") == 0);
  CHECK(nothing_beside->plugin_dirs.empty());
}

TEST_CASE("amid without plugins.dirs has the eight templates and the paper connector built beside it",
          "[amid][plugins]") {
  TempDir dir;
  WriteFile(dir / "node.yaml",
            "node: { id: s-0001, data_dir: ./data }\n"
            "admin: { listen: \"127.0.0.1:0\" }\n"
            "limits: { stop_grace: 1s }\n"
            "exchanges:\n"
            "  bybit: { connector: paper }\n"
            "workers:\n"
            "  - name: pricer\n"
            "    mode: single\n"
            "    script: |\n"
            "      const t = await new Stels.runtime.cex.bybit().fetchTicker('BTC/USDT');\n"
            "      logger.info('paper ticker', t.symbol, t.last > 0);\n");
  ChildProcess amid(Amid(), {"--config", (dir / "node.yaml").string()}, dir / "amid.out");
  const std::string node = "127.0.0.1:" + AdminPort(amid);
  const std::string data = (dir / "data").string();
  const auto plugins_dir = std::filesystem::weakly_canonical(BinaryDir() / "plugins");
  CHECK(amid.Output().find("plugins: none configured; using " + plugins_dir.string()) != std::string::npos);

  auto ami_json = [&](const std::string& command) {
    auto r = Run(Ami(), {"--node", node, "--node-dir", data, "--json", command});
    INFO("ami " << command << ": " << r.output);
    REQUIRE(r.exit_code == 0);
    json j = json::parse(r.output, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    return j;
  };
  const json templates = ami_json("templates");
  std::vector<std::string> ids;
  for (const auto& t : templates) ids.push_back(t.at("id"));
  CHECK(ids.size() == 8);
  for (const char* id : {"grid-trading", "dca-strategy", "market-monitor", "balance-monitor", "price-aggregator",
                         "health-check", "log-cleanup", "empty"})
    CHECK(std::find(ids.begin(), ids.end(), id) != ids.end());
  const json plugins = ami_json("plugins");
  bool paper = false;
  for (const auto& p : plugins.at("plugins"))
    paper = paper || (p.at("id") == "paper" && p.at("kind") == "exchange-connector");
  CHECK(paper);
  REQUIRE(plugins.at("exchanges").size() == 1);
  CHECK(plugins.at("exchanges")[0].at("available") == true);
  // And a declared worker trades through it.
  CHECK(Eventually([&] { return WorkerLogText(dir / "data").find("paper ticker BTC/USDT true") != std::string::npos; }));
  INFO(WorkerLogText(dir / "data"));
  amid.Signal(SIGTERM);
  CHECK(amid.Wait(std::chrono::seconds(20)) == 0);

  // `plugins: { dirs: [] }` is an explicit "none": no templates.
  WriteFile(dir / "none.yaml",
            "node: { id: s-0001, data_dir: ./data2 }\n"
            "admin: { listen: \"127.0.0.1:0\" }\n"
            "plugins: { dirs: [] }\n");
  ChildProcess bare(Amid(), {"--config", (dir / "none.yaml").string()}, dir / "bare.out");
  const std::string bare_node = "127.0.0.1:" + AdminPort(bare);
  auto r = Run(Ami(), {"--node", bare_node, "--node-dir", (dir / "data2").string(), "--json", "templates"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(json::parse(r.output, nullptr, false) == json::array());
  CHECK(bare.Output().find("plugins: none configured") == std::string::npos);
  bare.Signal(SIGTERM);
  CHECK(bare.Wait(std::chrono::seconds(20)) == 0);
}
