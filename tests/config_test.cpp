// Config loading: values, defaults, path and env resolution, and the exact problem
// lines operators see ("file:line:col: path: message").
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "runtime/config/config.h"
#include "tests/support/config_helpers.h"
#include "tests/support/test_support.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ami::Config;
using ami::ParseConfig;
using ami::Result;
using ami::Status;
using ami::test::TempDir;
using ami::test::WriteFile;
using namespace ami::test::config;  // Parse, Good, Problems, kBase, kNode, ScopedEnv

// ---- durations and sizes

TEST_CASE("ParseDuration accepts values with units", "[config]") {
  struct Case { const char* text; int64_t ms; };
  const Case cases[] = {
      {"250ms", 250},  {"10s", 10000},      {"1.5s", 1500},     {"1m", 60000},
      {"2h", 7200000}, {"1d", 86400000},    {"0s", 0},          {" 5s ", 5000},
      {"1h30m", 5400000}, {"1m 30s", 90000}, {"0.5ms", 1},      {"10 s", 10000},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto parsed = ami::ParseDuration(c.text);
    REQUIRE(parsed.ok());
    CHECK(parsed->count() == c.ms);
  }
}

TEST_CASE("ParseDuration rejects values without a known unit", "[config]") {
  struct Case { const char* text; const char* message; };
  const Case cases[] = {
      {"10", "expected a duration like 10s or 250ms, got \"10\": a unit is required (ms, s, m, h or d)"},
      {"1.5", "expected a duration like 10s or 250ms, got \"1.5\": a unit is required (ms, s, m, h or d)"},
      {"1m30", "expected a duration like 10s or 250ms, got \"1m30\": a unit is required (ms, s, m, h or d)"},
      {"10 sec", "expected a duration like 10s or 250ms, got \"10 sec\": unknown unit \"sec\" (use ms, s, m, h or d)"},
      {"5S", "expected a duration like 10s or 250ms, got \"5S\": unknown unit \"S\" (use ms, s, m, h or d)"},
      {"soon", "expected a duration like 10s or 250ms, got \"soon\""},
      {"", "expected a duration like 10s or 250ms, got \"\""},
      {"s", "expected a duration like 10s or 250ms, got \"s\""},
      {"1..5s", "expected a duration like 10s or 250ms, got \"1..5s\""},
      {"-5s", "expected a duration like 10s or 250ms, got \"-5s\": must not be negative"},
      {"99999999999d", "expected a duration like 10s or 250ms, got \"99999999999d\": too large"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto parsed = ami::ParseDuration(c.text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == Status::Code::kInvalidArgument);
    CHECK(parsed.status().message() == c.message);
  }
}

TEST_CASE("ParseSize accepts bytes and 1024-based units", "[config]") {
  struct Case { const char* text; uint64_t bytes; };
  const Case cases[] = {
      {"512", 512},           {"0", 0},                  {"512B", 512},
      {"64KiB", 65536},       {"64KB", 65536},           {"64K", 65536},
      {"128MB", 134217728},   {"128MiB", 134217728},     {"128mb", 134217728},
      {"1GB", 1073741824},    {"1.5GB", 1610612736},     {"2TB", 2199023255552},
      {" 16 MB ", 16777216},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto parsed = ami::ParseSize(c.text);
    REQUIRE(parsed.ok());
    CHECK(*parsed == c.bytes);
  }
}

TEST_CASE("ParseSize rejects what is not a size", "[config]") {
  struct Case { const char* text; const char* message; };
  const Case cases[] = {
      {"lots", "expected a size like 128MB, got \"lots\""},
      {"", "expected a size like 128MB, got \"\""},
      {"12XB", "expected a size like 128MB, got \"12XB\": unknown unit \"XB\" (use B, KB, MB, GB, TB or KiB, MiB, GiB, TiB)"},
      {"1GB 2MB", "expected a size like 128MB, got \"1GB 2MB\""},
      {"-1MB", "expected a size like 128MB, got \"-1MB\": must not be negative"},
      {"99999999TB", "expected a size like 128MB, got \"99999999TB\": too large"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto parsed = ami::ParseSize(c.text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().message() == c.message);
  }
}

// ---- good files

TEST_CASE("A minimal file gets every default", "[config]") {
  Config c = Good(kNode);
  CHECK(c.file == "t.yaml");
  CHECK(c.node.id == "s-0001");
  CHECK(c.node.data_dir == "/srv/ami/conf/data/s-0001");
  CHECK_FALSE(c.cluster.has_value());
  CHECK_FALSE(c.admin.has_value());
  CHECK(c.limits.heap_bytes == 128ull << 20);
  CHECK(c.limits.cpu_per_run == 10s);
  CHECK(c.limits.stop_grace == 5s);
  CHECK(c.execution.critical_backoff.initial == 1s);
  CHECK(c.execution.critical_backoff.factor == 2.0);
  CHECK(c.execution.critical_backoff.max == 10s);
  CHECK(c.execution.network_backoff.initial == 5s);
  CHECK(c.execution.network_backoff.factor == 1.5);
  CHECK(c.execution.network_backoff.max == 60s);
  CHECK(c.execution.run_slots == 0);
  CHECK(c.execution.priority_order);
  CHECK(c.log.level == "info");
  CHECK(c.log.worker_file_bytes == 10ull << 20);
  CHECK(c.log.worker_files == 5);
  CHECK(c.log.ring_lines == 1000);
  CHECK(c.plugin_dirs.empty());
  CHECK(c.exchanges.empty());
  CHECK(c.accounts.empty());
  CHECK(c.workers.empty());
}

TEST_CASE("Empty sections read as defaults", "[config]") {
  Config c = Good(kNode + "limits:\nexecution:\nlog:\nplugins:\nexchanges:\naccounts:\nworkers:\n");
  CHECK(c.limits.heap_bytes == 128ull << 20);
  CHECK(c.workers.empty());
}

TEST_CASE("A full file sets every key", "[config]") {
  ScopedEnv token("AMI_CONFIG_TEST_TOKEN", "admin-token-value");
  ScopedEnv key("AMI_CONFIG_TEST_KEY", "api-key-value");
  TempDir certs;
  for (const char* name : {"ca.pem", "node.pem", "node.key"}) WriteFile(certs / name, "-----BEGIN-----\n");
  Config c = Good(R"(
node:
  id: s-0002
  data_dir: ../var/ami/
cluster:
  name: prod
  secret: cluster-secret
  listen: 0.0.0.0:7101
  peers: [10.0.0.1:7101, "[::1]:7102", node-3.example.com:7103]
  lease: { ttl: 4s, renew: 1s }
admin:
  listen: 0.0.0.0:7201
  token_env: AMI_CONFIG_TEST_TOKEN
limits: { heap: 256MB, cpu_per_run: 1500ms, stop_grace: 1s }
execution:
  critical_backoff: { initial: 10ms, factor: 3, max: 1s }
  network_backoff: { initial: 20ms, factor: 1, max: 20ms }
  run_slots: 4
  priority_order: false
log: { level: debug, worker_file_size: 1MB, worker_files: 2, ring_lines: 50 }
plugins:
  dirs: [plugins, /opt/ami/plugins]
exchanges:
  bybit: { connector: paper, fee: 0.001, testnet: true }
  binance: { connector: binance }
accounts:
  main: { exchange: binance, api_key_env: AMI_CONFIG_TEST_KEY, secret: api-secret }
  paper: { exchange: bybit }
workers:
  - name: grid
    template: grid-trading
    active: false
    mode: single
    note: a note
    scope: network
    execution_mode: exclusive
    priority: critical
    account_id: main
    assigned_node: s-0001
    dependencies: []
    version: "2.0"
  - sid: 0b5c1f2e-5d1a-4c3b-9a8e-7f6d5c4b3a21
    script: |
      logger.info("hi");
)" + std::string("tls: { ca_file: ") + (certs / "ca.pem").string() + ", cert_file: " + (certs / "node.pem").string() +
                  ", key_file: " + (certs / "node.key").string() + " }\n");
  CHECK(c.node.id == "s-0002");
  REQUIRE(c.tls.has_value());
  CHECK(c.tls->ca_file == certs / "ca.pem");
  CHECK(c.tls->cert_file == certs / "node.pem");
  CHECK(c.tls->key_file == certs / "node.key");
  // Written inline rather than through *_env: amid warns when the file is readable by others.
  CHECK(c.inline_secrets == std::vector<std::string>{"cluster.secret", "accounts.main.secret"});
  CHECK(c.node.data_dir == "/srv/ami/var/ami");
  REQUIRE(c.cluster.has_value());
  CHECK(c.cluster->name == "prod");
  CHECK(c.cluster->secret == "cluster-secret");
  CHECK(c.cluster->listen == "0.0.0.0:7101");
  CHECK(c.cluster->peers == std::vector<std::string>{"10.0.0.1:7101", "[::1]:7102", "node-3.example.com:7103"});
  CHECK(c.cluster->lease.ttl == 4s);
  CHECK(c.cluster->lease.renew == 1s);
  REQUIRE(c.admin.has_value());
  CHECK(c.admin->listen == "0.0.0.0:7201");
  CHECK(c.admin->token == "admin-token-value");
  CHECK(c.limits.heap_bytes == 256ull << 20);
  CHECK(c.limits.cpu_per_run == 1500ms);
  CHECK(c.limits.stop_grace == 1s);
  CHECK(c.execution.critical_backoff.initial == 10ms);
  CHECK(c.execution.critical_backoff.factor == 3.0);
  CHECK(c.execution.critical_backoff.max == 1s);
  CHECK(c.execution.network_backoff.initial == 20ms);
  CHECK(c.execution.network_backoff.factor == 1.0);
  CHECK(c.execution.network_backoff.max == 20ms);
  CHECK(c.execution.run_slots == 4);
  CHECK_FALSE(c.execution.priority_order);
  CHECK(c.log.level == "debug");
  CHECK(c.log.worker_file_bytes == 1ull << 20);
  CHECK(c.log.worker_files == 2);
  CHECK(c.log.ring_lines == 50);
  CHECK(c.plugin_dirs == std::vector<fs::path>{"/srv/ami/conf/plugins", "/opt/ami/plugins"});
  REQUIRE(c.exchanges.size() == 2);
  CHECK(c.exchanges[0].id == "bybit");
  CHECK(c.exchanges[0].connector == "paper");
  CHECK(c.exchanges[0].options == std::map<std::string, std::string>{{"fee", "0.001"}, {"testnet", "true"}});
  CHECK(c.exchanges[1].id == "binance");
  CHECK(c.exchanges[1].options.empty());
  REQUIRE(c.accounts.size() == 2);
  CHECK(c.accounts[0].id == "main");
  CHECK(c.accounts[0].exchange == "binance");
  CHECK(c.accounts[0].api_key == "api-key-value");
  CHECK(c.accounts[0].secret == "api-secret");
  CHECK(c.accounts[1].api_key.empty());
  REQUIRE(c.workers.size() == 2);

  const auto& grid = c.workers[0];
  CHECK(grid.name == "grid");
  CHECK(grid.template_id == "grid-trading");
  CHECK(grid.where == "t.yaml:30:5");
  CHECK(grid.record.sid == ami::NameUuid("s-0002/grid"));
  CHECK(grid.record.nid == "s-0002");
  CHECK_FALSE(grid.record.active);
  CHECK(grid.record.mode == ami::WorkerMode::kSingle);
  CHECK(grid.record.note == "a note");
  CHECK(grid.record.script.empty());  // the template supplies it
  CHECK(grid.record.scope == ami::Scope::kNetwork);
  CHECK(grid.record.execution_mode == ami::ExecutionMode::kExclusive);
  CHECK(grid.record.priority == ami::Priority::kCritical);
  CHECK(grid.record.account_id == "main");
  CHECK(grid.record.assigned_node == "s-0001");
  CHECK(grid.record.dependencies.empty());
  CHECK(grid.record.version == "2.0");
  CHECK(grid.source_hash.size() == 64);

  const auto& bare = c.workers[1];
  CHECK(bare.record.sid == "0b5c1f2e-5d1a-4c3b-9a8e-7f6d5c4b3a21");
  CHECK(bare.name == bare.record.sid);  // no name: the sid names it in messages
  CHECK(bare.record.script == "logger.info(\"hi\");\n");
  CHECK(bare.record.active);  // declared workers run unless told otherwise
  CHECK(bare.record.mode == ami::WorkerMode::kLoop);
  CHECK(bare.record.priority == ami::Priority::kNormal);
  CHECK(bare.record.execution_mode == ami::ExecutionMode::kParallel);
  CHECK(bare.record.scope == ami::Scope::kLocal);
  CHECK_FALSE(bare.record.account_id.has_value());
  CHECK(bare.record.dependencies == std::vector<std::string>{"gliesereum"});
  CHECK(bare.record.version == ami::kDefaultRecordVersion);
}

TEST_CASE("Relative paths resolve against the config file's directory", "[config]") {
  Config c = Good("node:\n  id: n1\n  data_dir: ./state/../db\nplugins:\n  dirs: [., ../p/]\n",
                  "/a/b/./c");
  CHECK(c.node.data_dir == "/a/b/c/db");
  CHECK(c.plugin_dirs == std::vector<fs::path>{"/a/b/c", "/a/b/p"});
  CHECK(Good("node:\n  id: n1\n  data_dir: /var/lib/ami\n").node.data_dir == "/var/lib/ami");
}

TEST_CASE("A lease renews at half its TTL unless told otherwise", "[config]") {
  Config c = Good(kNode + "cluster:\n  name: x\n  secret: s\n  listen: 127.0.0.1:1\n  lease: { ttl: 2s }\n");
  CHECK(c.cluster->lease.ttl == 2s);
  CHECK(c.cluster->lease.renew == 1s);
  CHECK(c.cluster->peers.empty());
}

TEST_CASE("Peers may list this node's own address, which is left out", "[config]") {
  Config c = Good(kNode +
                  "cluster:\n  name: x\n  secret: s\n  listen: 127.0.0.1:7102\n"
                  "  peers: [127.0.0.1:7101, 127.0.0.1:7102, 127.0.0.1:7103]\n");
  CHECK(c.cluster->peers == std::vector<std::string>{"127.0.0.1:7101", "127.0.0.1:7103"});
}

TEST_CASE("Secrets come from the environment when *_env is given", "[config]") {
  ScopedEnv a("AMI_CONFIG_TEST_A", "secret-a");
  ScopedEnv b("AMI_CONFIG_TEST_B", "secret-b-16-bytes-long");
  ScopedEnv k("AMI_CONFIG_TEST_K", "key-k");
  Config c = Good(kNode +
                  "cluster: { name: x, secret_env: AMI_CONFIG_TEST_A, listen: '127.0.0.1:7101' }\n"
                  "admin: { listen: '[::1]:7201', token_env: AMI_CONFIG_TEST_B }\n"
                  "exchanges: { bybit: { connector: paper } }\n"
                  "accounts: { acc: { exchange: bybit, api_key_env: AMI_CONFIG_TEST_K, secret_env: AMI_CONFIG_TEST_A } }\n");
  CHECK(c.cluster->secret == "secret-a");
  CHECK(c.admin->token == "secret-b-16-bytes-long");
  CHECK(c.inline_secrets.empty());
  CHECK(c.accounts[0].api_key == "key-k");
  CHECK(c.accounts[0].secret == "secret-a");
}

TEST_CASE("An admin section may leave the token out: the node keeps one in its data dir", "[config]") {
  for (const char* listen : {"127.0.0.1:7201", "localhost:7201", "[::1]:7201", "127.0.0.1:0"}) {
    Config c = Good(kNode + "admin:\n  listen: \"" + listen + "\"\n");
    CHECK(c.admin->token.empty());  // LocalNode::Start reads or generates <data_dir>/admin.token
  }
}

// ---- script files and declaration hashes

TEST_CASE("script_file is read relative to the config file", "[config]") {
  TempDir dir;
  WriteFile(dir / "conf/scripts/a.js", "logger.info('a');\n");
  WriteFile(dir / "shared/b.js", "logger.info('b');\n");
  WriteFile(dir / "conf/node.yaml", kNode +
                                        "workers:\n"
                                        "  - name: a\n"
                                        "    script_file: scripts/a.js\n"
                                        "  - name: b\n"
                                        "    script_file: ../shared/b.js\n"
                                        "  - name: c\n"
                                        "    script_file: " + (dir / "shared/b.js").string() + "\n");
  auto loaded = ami::LoadConfig(dir / "conf/node.yaml");
  INFO(loaded.status().message());
  REQUIRE(loaded.ok());
  CHECK(loaded->file == dir.path() / "conf/node.yaml");
  CHECK(loaded->node.data_dir == dir.path() / "conf/data/s-0001");
  REQUIRE(loaded->workers.size() == 3);
  CHECK(loaded->workers[0].record.script == "logger.info('a');\n");
  CHECK(loaded->workers[1].record.script == "logger.info('b');\n");
  CHECK(loaded->workers[2].record.script == "logger.info('b');\n");
  CHECK(loaded->workers[0].where == (dir / "conf/node.yaml").string() + ":4:5");
}

TEST_CASE("LoadConfig works with a relative file name", "[config]") {
  TempDir dir;
  WriteFile(dir / "n.yaml", kNode);
  fs::path old = fs::current_path();
  fs::current_path(dir.path());
  auto loaded = ami::LoadConfig("n.yaml");
  fs::current_path(old);
  REQUIRE(loaded.ok());
  CHECK(loaded->file == dir.path() / "n.yaml");
  CHECK(loaded->node.data_dir == dir.path() / "data/s-0001");
}

TEST_CASE("The declaration hash follows content, not layout", "[config]") {
  TempDir dir;
  auto hash = [&](const std::string& workers) {
    return Good(kNode + "workers:\n" + workers, dir.path()).workers.at(0).source_hash;
  };
  WriteFile(dir / "w.js", "one();\n");
  const std::string base = hash("  - name: a\n    priority: low\n    script_file: w.js\n");
  CHECK(base.size() == 64);
  CHECK(base.find_first_not_of("0123456789abcdef") == std::string::npos);
  // Same content, other layout, order, quoting and comments.
  CHECK(hash("  - { script_file: \"w.js\", priority: low,   name: a }  # same\n") == base);
  // Any change of content.
  CHECK(hash("  - name: a\n    priority: high\n    script_file: w.js\n") != base);
  CHECK(hash("  - name: b\n    priority: low\n    script_file: w.js\n") != base);
  CHECK(hash("  - name: a\n    priority: low\n    script_file: w.js\n    active: true\n") != base);
  WriteFile(dir / "w.js", "two();\n");
  CHECK(hash("  - name: a\n    priority: low\n    script_file: w.js\n") != base);
  // A file's text hashes like the same text inline.
  CHECK(hash("  - name: a\n    priority: low\n    script_file: w.js\n") ==
        hash("  - name: a\n    priority: low\n    script: \"two();\\n\"\n"));
}

// ---- one problem of each kind, with its exact line

TEST_CASE("YAML syntax errors carry the parser's position", "[config][errors]") {
  CHECK(Problems("node:\n  id: [s-0001\n") ==
        "t.yaml:3:1: syntax: end of sequence flow not found");
  CHECK(Problems("node:\n  id: s-0001\n bad: 1\n") ==
        "t.yaml:3:2: syntax: end of map not found");
  CHECK(Problems("node: {id: \"s-0001}\n") ==
        "t.yaml:2:1: syntax: end of map flow not found");
}

TEST_CASE("The top level must be a map with a node section", "[config][errors]") {
  CHECK(Problems("") == "t.yaml:1:1: node: required key is missing");
  CHECK(Problems("# only a comment\n") == "t.yaml:1:1: node: required key is missing");
  CHECK(Problems("just text\n") == "t.yaml:1:1: (top level): expected a map, got a string");
  CHECK(Problems("limits: {}\n") == "t.yaml:1:1: node: required key is missing");
}

TEST_CASE("Unknown keys name the allowed ones", "[config][errors]") {
  CHECK(Problems(kNode + "colour: red\n") ==
        "t.yaml:3:1: colour: unknown key; allowed: node, cluster, admin, tls, limits, execution, "
        "log, plugins, exchanges, accounts, workers, http");
  CHECK(Problems(kNode + "limits:\n  hep: 128MB\n") ==
        "t.yaml:4:3: limits.hep: unknown key (did you mean heap?); allowed: heap, cpu_per_run, "
        "stop_grace, max_timers, max_pending_calls, max_list_results, max_log_line, max_log_lines_per_sec");
  CHECK(Problems(kNode + "workers:\n  - name: a\n    script: x\n    prio: low\n") ==
        "t.yaml:6:5: workers[0].prio: unknown key (did you mean priority?); allowed: name, sid, template, script, "
        "script_file, active, mode, note, scope, execution_mode, priority, account_id, "
        "assigned_node, dependencies, version");
  CHECK(Problems(kNode + "execution:\n  network_backoff: { initial: 1s, factr: 2 }\n") ==
        "t.yaml:4:35: execution.network_backoff.factr: unknown key (did you mean factor?); "
        "allowed: initial, factor, max");
}

TEST_CASE("Duplicate keys are reported", "[config][errors]") {
  CHECK(Problems("node:\n  id: a\n  id: b\n") == "t.yaml:3:3: node.id: duplicate key (first at line 2)");
}

TEST_CASE("Wrong types are reported", "[config][errors]") {
  CHECK(Problems("node:\n  id: [a, b]\n") == "t.yaml:2:7: node.id: expected a string, got a list");
  CHECK(Problems("node:\n  id:\n") == "t.yaml:2:3: node.id: expected a string, got nothing");
  CHECK(Problems("node:\n  id: \"\"\n") == "t.yaml:2:7: node.id: must not be empty");
  CHECK(Problems(kNode + "limits: [1, 2]\n") == "t.yaml:3:9: limits: expected a map, got a list");
  CHECK(Problems(kNode + "workers: {a: 1}\n") == "t.yaml:3:10: workers: expected a list, got a map");
  CHECK(Problems(kNode + "workers:\n  - just-a-name\n") ==
        "t.yaml:4:5: workers[0]: expected a map, got a string");
  CHECK(Problems(kNode + "limits:\n  heap: {a: 1}\n") ==
        "t.yaml:4:9: limits.heap: expected a size like 128MB, got a map");
  CHECK(Problems(kNode + "execution:\n  priority_order: maybe\n") ==
        "t.yaml:4:19: execution.priority_order: expected true or false, got \"maybe\"");
  CHECK(Problems(kNode + "execution:\n  run_slots: four\n") ==
        "t.yaml:4:14: execution.run_slots: expected a whole number, got \"four\"");
  CHECK(Problems(kNode + "execution:\n  critical_backoff: { factor: x2 }\n") ==
        "t.yaml:4:31: execution.critical_backoff.factor: expected a number like 1.5, got \"x2\"");
  CHECK(Problems(kNode + "plugins:\n  dirs: [a, [b]]\n") ==
        "t.yaml:4:13: plugins.dirs[1]: expected a string, got a list");
}

TEST_CASE("Bad durations and sizes are reported", "[config][errors]") {
  CHECK(Problems(kNode + "limits:\n  heap: lots\n") ==
        "t.yaml:4:9: limits.heap: expected a size like 128MB, got \"lots\"");
  CHECK(Problems(kNode + "limits:\n  cpu_per_run: 10\n") ==
        "t.yaml:4:16: limits.cpu_per_run: expected a duration like 10s or 250ms, got \"10\": "
        "a unit is required (ms, s, m, h or d)");
  CHECK(Problems(kNode + "limits:\n  stop_grace: soon\n") ==
        "t.yaml:4:15: limits.stop_grace: expected a duration like 10s or 250ms, got \"soon\"");
  CHECK(Problems(kNode + "log:\n  worker_file_size: 10 MB please\n") ==
        "t.yaml:4:21: log.worker_file_size: expected a size like 128MB, got \"10 MB please\"");
}

TEST_CASE("Out-of-range values are reported", "[config][errors]") {
  CHECK(Problems(kNode + "limits:\n  heap: 8MB\n") ==
        "t.yaml:4:9: limits.heap: must be at least 16MB, got \"8MB\"");
  CHECK(Problems(kNode + "limits:\n  cpu_per_run: 5ms\n") ==
        "t.yaml:4:16: limits.cpu_per_run: must be at least 10ms, got \"5ms\"");
  CHECK(Problems(kNode + "execution:\n  network_backoff: { factor: 0.5 }\n") ==
        "t.yaml:4:30: execution.network_backoff.factor: must be at least 1, got \"0.5\"");
  CHECK(Problems(kNode + "execution:\n  run_slots: -1\n") ==
        "t.yaml:4:14: execution.run_slots: must be between 0 and 1024, got \"-1\"");
  CHECK(Problems(kNode + "log:\n  worker_files: 0\n") ==
        "t.yaml:4:17: log.worker_files: must be between 1 and 20, got \"0\"");
  CHECK(Problems(kNode + "log:\n  worker_files: 21\n") ==
        "t.yaml:4:17: log.worker_files: must be between 1 and 20, got \"21\"");
  CHECK(Problems(kNode + "log:\n  worker_file_size: 100\n") ==
        "t.yaml:4:21: log.worker_file_size: must be at least 1KB, got \"100\"");
  CHECK(Problems(kNode + "execution:\n  critical_backoff: { initial: 5s, max: 2s }\n") ==
        "t.yaml:4:41: execution.critical_backoff.max: must not be less than initial (2s < 5s)");
  CHECK(Problems(kNode + "execution:\n  network_backoff: { initial: 2m }\n") ==
        "t.yaml:4:31: execution.network_backoff.initial: must not be more than max (1m < 2m)");
}

TEST_CASE("Bad enum values list the allowed ones", "[config][errors]") {
  const std::string worker = kNode + "workers:\n  - name: a\n    script: x\n";
  CHECK(Problems(worker + "    priority: urgent\n") ==
        "t.yaml:6:15: workers[0].priority: expected one of critical|high|normal|low, got \"urgent\"");
  CHECK(Problems(worker + "    mode: forever\n") ==
        "t.yaml:6:11: workers[0].mode: expected one of loop|single, got \"forever\"");
  CHECK(Problems(worker + "    scope: global\n") ==
        "t.yaml:6:12: workers[0].scope: expected one of local|network, got \"global\"");
  CHECK(Problems(worker + "    execution_mode: Leader\n") ==
        "t.yaml:6:21: workers[0].execution_mode: expected one of parallel|leader|exclusive, got \"Leader\"");
  CHECK(Problems(kNode + "log:\n  level: verbose\n") ==
        "t.yaml:4:10: log.level: expected one of trace|debug|info|warn|error, got \"verbose\"");
}

TEST_CASE("Missing required fields are reported", "[config][errors]") {
  CHECK(Problems("node:\n  data_dir: x\n") == "t.yaml:2:3: node.id: required key is missing");
  CHECK(Problems(kNode + "workers:\n  - priority: low\n") ==
        "t.yaml:4:5: workers[0].name: required key is missing (give name or sid)\n"
        "t.yaml:4:5: workers[0].script: required key is missing (give script, script_file or template)");
  CHECK(Problems(kNode + "cluster:\n  peers: []\n") ==
        "t.yaml:4:3: cluster.name: required key is missing\n"
        "t.yaml:4:3: cluster.secret: required key is missing (give secret or secret_env)\n"
        "t.yaml:4:3: cluster.listen: required key is missing");
  CHECK(Problems(kNode + "admin:\n  token: a-token-of-16-bytes\n") == "t.yaml:4:3: admin.listen: required key is missing");
  CHECK(Problems(kNode + "exchanges:\n  bybit: { fee: 1 }\n") ==
        "t.yaml:4:10: exchanges.bybit.connector: required key is missing");
  CHECK(Problems(kNode + "exchanges:\n  bybit: { connector: paper }\naccounts:\n  acc: { api_key: k }\n") ==
        "t.yaml:6:8: accounts.acc.exchange: required key is missing");
}

TEST_CASE("A worker needs exactly one of script and script_file unless templated", "[config][errors]") {
  CHECK(Problems(kNode + "workers:\n  - name: a\n    script: x\n    script_file: a.js\n") ==
        "t.yaml:6:18: workers[0].script_file: give either script or script_file, not both");
  CHECK(Good(kNode + "workers:\n  - name: a\n    template: empty\n").workers[0].template_id == "empty");
  CHECK(Good(kNode + "workers:\n  - name: a\n    template: empty\n    script: x\n").workers[0].record.script == "x");
}

TEST_CASE("Duplicate worker names and sids are reported", "[config][errors]") {
  CHECK(Problems(kNode + "workers:\n  - name: a\n    script: x\n  - name: a\n    script: y\n") ==
        "t.yaml:6:11: workers[1].name: duplicate worker name \"a\" (first declared at line 4)");
  const std::string sid = "0b5c1f2e-5d1a-4c3b-9a8e-7f6d5c4b3a21";
  CHECK(Problems(kNode + "workers:\n  - { sid: " + sid + ", script: x }\n  - { sid: " + sid + ", script: y }\n") ==
        "t.yaml:5:12: workers[1].sid: duplicate sid \"" + sid + "\" (first declared at line 4)");
  CHECK(Problems(kNode + "workers:\n  - { sid: not-a-uuid, script: x }\n") ==
        "t.yaml:4:12: workers[0].sid: expected a UUID like 123e4567-e89b-42d3-a456-426614174000, "
        "got \"not-a-uuid\"");
}

TEST_CASE("An unset environment variable is reported by name", "[config][errors]") {
  unsetenv("AMI_CONFIG_TEST_UNSET");
  ScopedEnv empty("AMI_CONFIG_TEST_EMPTY", "");
  CHECK(Problems(kNode + "cluster:\n  name: dev\n  secret_env: AMI_CONFIG_TEST_UNSET\n  listen: 127.0.0.1:7101\n") ==
        "t.yaml:5:15: cluster.secret_env: environment variable AMI_CONFIG_TEST_UNSET is not set");
  CHECK(Problems(kNode + "admin:\n  listen: 127.0.0.1:7201\n  token_env: AMI_CONFIG_TEST_EMPTY\n") ==
        "t.yaml:5:14: admin.token_env: environment variable AMI_CONFIG_TEST_EMPTY is empty");
  CHECK(Problems(kNode + "admin:\n  listen: 127.0.0.1:7201\n  token_env: not a name\n") ==
        "t.yaml:5:14: admin.token_env: expected an environment variable name, got \"not a name\"");
  CHECK(Problems(kNode + "admin:\n  listen: 127.0.0.1:7201\n  token: t\n  token_env: T\n") ==
        "t.yaml:6:14: admin.token_env: give either token or token_env, not both");
}

TEST_CASE("An unreadable script_file is reported with its resolved path", "[config][errors]") {
  TempDir dir;
  fs::create_directories(dir / "adir");
  CHECK(Problems(kNode + "workers:\n  - name: a\n    script_file: nope.js\n", dir.path()) ==
        "t.yaml:5:18: workers[0].script_file: cannot read \"" + (dir / "nope.js").string() +
            "\": No such file or directory");
  CHECK(Problems(kNode + "workers:\n  - name: a\n    script_file: ./adir/\n", dir.path()) ==
        "t.yaml:5:18: workers[0].script_file: cannot read \"" + (dir / "adir").string() +
            "\": it is a directory");
}

TEST_CASE("Scripts and record fields obey the record's limits", "[config][errors]") {
  TempDir dir;
  const std::string big(ami::kMaxScriptBytes + 1, 'x');
  WriteFile(dir / "big.js", big);
  CHECK(Problems(kNode + "workers:\n  - name: a\n    script_file: big.js\n", dir.path()) ==
        "t.yaml:5:18: workers[0].script_file: 61441 bytes is over the 61440-byte limit");
  CHECK(Problems(kNode + "workers:\n  - name: a\n    script: " + big + "\n") ==
        "t.yaml:5:13: workers[0].script: 61441 bytes is over the 61440-byte limit");
  CHECK(Problems(kNode + "workers:\n  - name: a\n    script: x\n    note: " + std::string(3000, 'n') + "\n") ==
        "t.yaml:6:11: workers[0].note: 3000 bytes is over the 2048-byte limit");
  CHECK(Problems(kNode + "workers:\n  - name: a\n    script: x\n    account_id: " + std::string(200, 'a') + "\n") ==
        "t.yaml:6:17: workers[0].account_id: 200 bytes is over the 128-byte limit");
}

TEST_CASE("An exclusive worker needs assigned_node", "[config][errors]") {
  CHECK(Problems(kNode + "workers:\n  - name: a\n    script: x\n    execution_mode: exclusive\n") ==
        "t.yaml:6:21: workers[0].assigned_node: required when execution_mode is exclusive");
}

TEST_CASE("A lease must renew before it expires", "[config][errors]") {
  const std::string cluster = kNode + "cluster:\n  name: dev\n  secret: s\n  listen: 127.0.0.1:7101\n";
  CHECK(Problems(cluster + "  lease: { ttl: 10s, renew: 10s }\n") ==
        "t.yaml:7:29: cluster.lease.renew: must be less than cluster.lease.ttl (10s >= 10s)");
  CHECK(Problems(cluster + "  lease: { renew: 90s }\n") ==
        "t.yaml:7:19: cluster.lease.renew: must be less than cluster.lease.ttl (90s >= 1m)");
}

TEST_CASE("Bad host:port values are reported", "[config][errors]") {
  const std::string head = kNode + "cluster:\n  name: dev\n  secret: s\n";
  CHECK(Problems(head + "  listen: localhost\n") ==
        "t.yaml:6:11: cluster.listen: expected host:port like 127.0.0.1:7101, got \"localhost\"");
  CHECK(Problems(head + "  listen: 127.0.0.1:7101\n  peers: [127.0.0.1:7102, 127.0.0.1:99999, :7103, a b:1, 127.0.0.1:0, 127.0.0.1:7102]\n") ==
        "t.yaml:7:27: cluster.peers[1]: expected host:port like 127.0.0.1:7101, got \"127.0.0.1:99999\"\n"
        "t.yaml:7:44: cluster.peers[2]: expected host:port like 127.0.0.1:7101, got \":7103\"\n"
        "t.yaml:7:51: cluster.peers[3]: expected host:port like 127.0.0.1:7101, got \"a b:1\"\n"
        "t.yaml:7:58: cluster.peers[4]: expected host:port like 127.0.0.1:7101, got \"127.0.0.1:0\"\n"
        "t.yaml:7:71: cluster.peers[5]: duplicate peer \"127.0.0.1:7102\"");
}

TEST_CASE("Ids and references are checked", "[config][errors]") {
  CHECK(Problems("node:\n  id: ../etc\n") ==
        "t.yaml:2:7: node.id: must start with a letter or digit and contain only letters, "
        "digits, \".\", \"_\" and \"-\", got \"../etc\"");
  CHECK(Problems(kNode + "exchanges:\n  by bit: { connector: paper }\n") ==
        "t.yaml:4:3: exchanges.by bit: ids must start with a letter or digit and contain only "
        "letters, digits, \".\", \"_\" and \"-\"");
  CHECK(Problems(kNode + "exchanges:\n  bybit: { connector: paper }\naccounts:\n  acc: { exchange: bybt }\n") ==
        "t.yaml:6:20: accounts.acc.exchange: unknown exchange \"bybt\"; defined: bybit");
  CHECK(Problems(kNode + "accounts:\n  acc: { exchange: bybit }\n") ==
        "t.yaml:4:20: accounts.acc.exchange: unknown exchange \"bybit\"; no exchanges are defined");
}

TEST_CASE("LoadConfig reports a file it cannot read", "[config][errors]") {
  TempDir dir;
  auto missing = ami::LoadConfig(dir / "none.yaml");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Status::Code::kIOError);
  CHECK(missing.status().message() ==
        (dir / "none.yaml").string() + ": cannot read \"" + (dir / "none.yaml").string() +
            "\": No such file or directory");
}

TEST_CASE("LoadConfig names the file in every problem line", "[config][errors]") {
  TempDir dir;
  WriteFile(dir / "single.yaml", "node:\n  id: s-0001\nlimits:\n  heap: 128MB\n  cpu_per_run: 1s\n  stop_grace: 1s\n\n"
                                 "# heap again, badly\nexecution:\n  run_slots: lots\n");
  auto loaded = ami::LoadConfig(dir / "single.yaml");
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.status().message() ==
        (dir / "single.yaml").string() + ":10:14: execution.run_slots: expected a whole number, got \"lots\"");
}

TEST_CASE("Every problem in a file is reported, in file order", "[config][errors]") {
  TempDir dir;
  CHECK(Problems(R"(node:
  data_dir: ./d
cluster:
  name: dev
  secret: s
  listen: 127.0.0.1:7101
  lease: { ttl: 1s, renew: 2s }
limits:
  heap: lots
  cpu_per_run: 10
  cpu: 1s
log:
  level: loud
workers:
  - name: a
    script: x
    priority: urgent
  - name: a
    script_file: gone.js
    execution_mode: exclusive
)",
                 dir.path()) ==
        "t.yaml:2:3: node.id: required key is missing\n"
        "t.yaml:7:28: cluster.lease.renew: must be less than cluster.lease.ttl (2s >= 1s)\n"
        "t.yaml:9:9: limits.heap: expected a size like 128MB, got \"lots\"\n"
        "t.yaml:10:16: limits.cpu_per_run: expected a duration like 10s or 250ms, got \"10\": a unit is required (ms, s, m, h or d)\n"
        "t.yaml:11:3: limits.cpu: unknown key (did you mean cpu_per_run?); allowed: heap, cpu_per_run, stop_grace, "
        "max_timers, max_pending_calls, max_list_results, max_log_line, max_log_lines_per_sec\n"
        "t.yaml:13:10: log.level: expected one of trace|debug|info|warn|error, got \"loud\"\n"
        "t.yaml:17:15: workers[0].priority: expected one of critical|high|normal|low, got \"urgent\"\n"
        "t.yaml:18:11: workers[1].name: duplicate worker name \"a\" (first declared at line 15)\n"
        "t.yaml:19:18: workers[1].script_file: cannot read \"" + (dir / "gone.js").string() + "\": No such file or directory\n"
        "t.yaml:20:21: workers[1].assigned_node: required when execution_mode is exclusive");
}

TEST_CASE("Secret values never appear in problem text", "[config][errors]") {
  ScopedEnv env("AMI_CONFIG_TEST_SECRET", "env-secret-value-42");
  const std::string text = R"(node:
  id: s-0001
cluster:
  name: dev
  secret: inline-secret-value-17
  secret_env: AMI_CONFIG_TEST_SECRET
  listen: nowhere
admin:
  listen: 0.0.0.0:7201
  token: [list-secret-value-99]
accounts:
  a: { exchange: nope, api_key: key-secret-value-1, secret_env: AMI_CONFIG_TEST_SECRET }
  b: scalar-secret-value-55
  c: { exchange: nope, api_key: "", secret: [nested-secret-value-3] }
  d: { exchange: nope, apikey: typo-secret-value-8 }
workers:
  - name: w
    script: x
    account_id: [worker-secret-value-5]
)";
  const std::string problems = Problems(text);
  INFO(problems);
  CHECK(problems.find("secret-value") == std::string::npos);
  // The variables are still named, and every problem is there.
  CHECK(problems.find("cluster.secret_env: give either secret or secret_env, not both") != std::string::npos);
  CHECK(problems.find("admin.token: expected a string, got a list") != std::string::npos);
  CHECK(problems.find("accounts.b: expected a map, got a string") != std::string::npos);
  CHECK(problems.find("accounts.c.api_key: must not be empty") != std::string::npos);
  CHECK(problems.find("accounts.c.secret: expected a string, got a list") != std::string::npos);
  CHECK(problems.find("accounts.d.apikey: unknown key (did you mean api_key?)") != std::string::npos);
  CHECK(problems.find("workers[0].account_id: expected a string, got a list") != std::string::npos);
}

// ---- the shipped examples

namespace {

// The cluster-3 example copied under `dir` (as <dir>/config/cluster-3) with the files its
// tls: section names in place: the loader checks they can be read (scripts/dev-certs
// makes real ones under <repo>/data, which a test must not touch).
fs::path ClusterExample(const TempDir& dir) {
  const fs::path config = dir / "config" / "cluster-3";
  fs::create_directories(config);
  for (const char* name : {"s-0001.yaml", "s-0002.yaml", "s-0003.yaml"})
    fs::copy_file(ami::test::SourceDir() / "config" / "cluster-3" / name, config / name);
  fs::copy(ami::test::SourceDir() / "config" / "examples", dir / "config" / "examples");  // declared scripts
  for (const char* name : {"ca.pem", "s-0001.pem", "s-0001.key", "s-0002.pem", "s-0002.key", "s-0003.pem", "s-0003.key"})
    WriteFile(dir / "data" / "cluster-3" / "tls" / name, "x\n");
  return config;
}

}  // namespace

TEST_CASE("The example configs load without problems", "[config][examples]") {
  TempDir copy;
  const fs::path cluster = ClusterExample(copy);
  const fs::path dir = ami::test::SourceDir() / "config";
  for (const fs::path& file : {dir / "single-node.yaml", cluster / "s-0001.yaml", cluster / "s-0002.yaml",
                               cluster / "s-0003.yaml"}) {
    INFO(file);
    auto loaded = ami::LoadConfig(file);
    INFO(loaded.status().message());
    CHECK(loaded.ok());
  }
}

TEST_CASE("The single-node example declares the hello worker", "[config][examples]") {
  const fs::path dir = ami::test::SourceDir() / "config";
  auto loaded = ami::LoadConfig(dir / "single-node.yaml");
  REQUIRE(loaded.ok());
  CHECK_FALSE(loaded->cluster.has_value());
  CHECK(loaded->node.data_dir == (ami::test::SourceDir() / "data/s-0001").lexically_normal());
  REQUIRE(loaded->workers.size() == 1);
  CHECK(loaded->workers[0].record.script == ami::test::ReadFile(dir / "examples/hello.js"));
  CHECK(loaded->workers[0].record.priority == ami::Priority::kLow);
}

TEST_CASE("The cluster examples form one cluster", "[config][examples]") {
  TempDir copy;
  const fs::path dir = ClusterExample(copy);
  std::vector<Config> nodes;
  for (int i = 1; i <= 3; ++i) {
    auto loaded = ami::LoadConfig(dir / ("s-000" + std::to_string(i) + ".yaml"));
    REQUIRE(loaded.ok());
    nodes.push_back(std::move(loaded).value());
  }
  for (int i = 0; i < 3; ++i) {
    const Config& c = nodes[i];
    REQUIRE(c.cluster.has_value());
    CHECK(c.node.id == "s-000" + std::to_string(i + 1));
    CHECK(c.cluster->name == nodes[0].cluster->name);
    CHECK(c.cluster->secret == nodes[0].cluster->secret);
    CHECK(c.cluster->listen == "127.0.0.1:710" + std::to_string(i + 1));
    CHECK(c.admin->listen == "127.0.0.1:720" + std::to_string(i + 1));
    CHECK(c.cluster->peers.size() == 2);  // the other two
    REQUIRE(c.tls.has_value());           // one cluster CA, a certificate per node
    CHECK(c.tls->ca_file == nodes[0].tls->ca_file);
    CHECK(c.tls->cert_file.filename() == "s-000" + std::to_string(i + 1) + ".pem");
  }
}

TEST_CASE("Cluster heartbeat, lease margin and fault-injection settings", "[config]") {
  const std::string cluster = kNode + "cluster:\n  name: dev\n  secret: s\n  listen: 127.0.0.1:7101\n";
  Config d = Good(cluster + "  lease: { ttl: 2s }\n");
  CHECK(d.cluster->lease.margin == 200ms);  // ttl / 10
  CHECK(d.cluster->heartbeat == 500ms);
  CHECK_FALSE(d.cluster->fault_injection);
  CHECK(d.cluster->lease_clock_rate == 1.0);
  Config c = Good(cluster + "  heartbeat: 100ms\n  fault_injection: true\n  lease_clock_rate: 0.25\n"
                            "  lease: { ttl: 2s, renew: 1s, margin: 300ms }\n");
  CHECK(c.cluster->heartbeat == 100ms);
  CHECK(c.cluster->fault_injection);
  CHECK(c.cluster->lease_clock_rate == 0.25);
  CHECK(c.cluster->lease.margin == 300ms);
}

TEST_CASE("A lease margin must leave room to renew, and clock drift needs fault injection", "[config][errors]") {
  const std::string cluster = kNode + "cluster:\n  name: dev\n  secret: s\n  listen: 127.0.0.1:7101\n";
  CHECK_THAT(Problems(cluster + "  lease: { ttl: 2s, renew: 1s, margin: 1s }\n"),
             Catch::Contains("cluster.lease.margin: must be less than ttl - renew (1s >= 1s)"));
  CHECK_THAT(Problems(cluster + "  lease_clock_rate: 0.5\n"),
             Catch::Contains("cluster.lease_clock_rate: is a fault-injection setting; it needs "
                             "cluster.fault_injection: true"));
  CHECK_THAT(Problems(cluster + "  fault_injection: true\n  lease_clock_rate: 500\n"),
             Catch::Contains("cluster.lease_clock_rate: must be between 0.01 and 100"));
  CHECK_THAT(Problems(cluster + "  heartbeat: 1ms\n"), Catch::Contains("cluster.heartbeat"));
}
