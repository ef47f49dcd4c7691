// amid as a real process: configuration checks, a node running declared workers whose
// log files fill up, graceful shutdown on SIGTERM, and restarts that keep state.
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <regex>

#include "tests/support/test_support.h"

using namespace ami::test;

namespace {

std::string Amid() { return (BinaryDir() / "apps" / "amid").string(); }

// The worker log file of the only worker in data_dir, or "" while none exists.
std::string WorkerLogText(const std::filesystem::path& data_dir) {
  const auto dir = data_dir / "logs" / "workers";
  if (!std::filesystem::exists(dir)) return "";
  std::string text;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".log") text += ReadFile(e.path());
  return text;
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
