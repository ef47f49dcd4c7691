// amid as a system service, as real processes: it tells a NOTIFY_SOCKET when it is
// ready, reloading and stopping; SIGHUP re-applies the config file's declared workers
// (creating and updating, never removing, and keeping what it had when the file is
// broken); `ami backup` writes a store that `amid --restore` puts under a fresh node,
// which then has the same workers and KV; `log.format: json` makes every node log line a
// JSON object.
#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "runtime/model/worker_record.h"
#include "runtime/store/store.h"
#include "tests/support/test_support.h"

using namespace ami::test;
using json = nlohmann::json;

namespace {

std::string AmidBin() { return (BinaryDir() / "apps" / "amid").string(); }
std::string AmiBin() { return (BinaryDir() / "apps" / "ami").string(); }

// Some line of `text` holds every one of `parts`.
bool LineWith(const std::string& text, const std::vector<std::string>& parts) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    bool all = true;
    for (const auto& p : parts) all = all && line.find(p) != std::string::npos;
    if (all) return true;
  }
  return false;
}

// The sid amid gives a worker declared as `name` on node s-0001 (DeclaredSid).
std::string DeclaredSid(const std::string& name) { return ami::NameUuid("s-0001/" + name); }

// What systemd would be: a unix datagram socket amid finds through NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path.string().size() < sizeof addr.sun_path);
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
  }
  const std::filesystem::path& path() const { return path_; }

  // Waits until a datagram after the first `from` ones holds `line` as one of its
  // lines; its index, or -1 when none came within `timeout`.
  int WaitFor(const std::string& line, size_t from, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    int found = -1;
    Eventually(
        [&] {
          Drain();
          for (size_t i = from; i < messages_.size(); ++i)
            if (HasLine(messages_[i], line)) {
              found = static_cast<int>(i);
              return true;
            }
          return false;
        },
        timeout);
    return found;
  }
  const std::vector<std::string>& Messages() {
    Drain();
    return messages_;
  }

  static bool HasLine(const std::string& message, const std::string& line) {
    std::istringstream in(message);
    for (std::string l; std::getline(in, l);)
      if (l == line) return true;
    return false;
  }

 private:
  void Drain() {
    char buf[4096];
    for (;;) {
      const ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) return;
      messages_.emplace_back(buf, static_cast<size_t>(n));
    }
  }
  std::filesystem::path path_;
  int fd_ = -1;
  std::vector<std::string> messages_;
};

// Sets an environment variable for the children started in its lifetime.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) { setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

// A node config on s-0001 with an admin port (port 0; `ami --node-dir` finds the token
// and certificates) and these `workers:` lines.
std::string NodeYaml(const std::string& workers, const std::string& more = "") {
  return "node: { id: s-0001, data_dir: ./data }\n"
         "admin: { listen: \"127.0.0.1:0\" }\n"
         "limits: { stop_grace: 500ms }\n"
         "plugins: { dirs: [] }\n" +
         more + (workers.empty() ? "" : "workers:\n" + workers);
}

std::string Declared(const std::string& name, const std::string& message) {
  return "  - name: " + name + "\n    script: \"logger.info('" + message + "'); await Stels.sleep(200);\"\n";
}

// A running amid, and `ami` pointed at it.
class Amid {
 public:
  Amid(const TempDir& dir, const std::filesystem::path& config, const std::string& output = "amid.out")
      : dir_(dir),
        data_(config.parent_path() / "data"),
        process_(AmidBin(), {"--config", config.string()}, dir / output) {
    std::smatch m;
    const std::regex port_line(R"(admin service listening on port (\d+))");
    REQUIRE(Eventually(
        [&] {
          const std::string out = process_.Output();
          return std::regex_search(out, m, port_line);
        },
        std::chrono::seconds(60)));
    address_ = "127.0.0.1:" + m[1].str();
  }
  ~Amid() {
    process_.Signal(SIGTERM);
    process_.Wait(std::chrono::seconds(30));
  }
  ChildProcess& process() { return process_; }
  std::string NodeLog() const { return ReadFile(data_ / "logs" / "node.log"); }

  RunResult Ami(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--node", address_, "--node-dir", data_.string()});
    return Run(AmiBin(), args);
  }
  json Json(std::vector<std::string> args) const {
    args.push_back("--json");
    auto r = Ami(args);
    INFO("ami " << args[0] << ": exit " << r.exit_code << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
    auto j = json::parse(r.output, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    return j;
  }
  // sid -> script of every worker.
  std::map<std::string, std::string> Workers() const {
    std::map<std::string, std::string> out;
    for (const auto& w : Json({"workers"})) out[w.at("sid").get<std::string>()] = w.at("record").value("script", "");
    return out;
  }

 private:
  const TempDir& dir_;
  std::filesystem::path data_;
  ChildProcess process_;
  std::string address_;
};

}  // namespace

TEST_CASE("amid tells NOTIFY_SOCKET when it is ready, reloading and stopping", "[operations][sd_notify]") {
  TempDir dir;
  WriteFile(dir / "node.yaml", NodeYaml(Declared("alpha", "a")));
  NotifySocket notify(dir / "notify.sock");
  ScopedEnv env("NOTIFY_SOCKET", notify.path().string());
  Amid amid(dir, dir / "node.yaml");

  const int ready = notify.WaitFor("READY=1", 0);
  INFO(amid.process().Output());
  REQUIRE(ready >= 0);
  // Ready means serving: the admin port answers at once.
  CHECK(amid.Ami({"node", "--json"}).exit_code == 0);

  amid.process().Signal(SIGHUP);
  const int reloading = notify.WaitFor("RELOADING=1", ready + 1);
  REQUIRE(reloading > ready);
  CHECK(notify.Messages()[reloading].find("MONOTONIC_USEC=") != std::string::npos);
  CHECK(notify.WaitFor("READY=1", reloading + 1) > reloading);

  amid.process().Signal(SIGTERM);
  CHECK(notify.WaitFor("STOPPING=1", reloading + 1) > reloading);
  CHECK(amid.process().Wait(std::chrono::seconds(30)) == 0);
}

TEST_CASE("amid without NOTIFY_SOCKET runs and reloads as before", "[operations][sd_notify]") {
  TempDir dir;
  unsetenv("NOTIFY_SOCKET");
  WriteFile(dir / "node.yaml", NodeYaml(Declared("alpha", "a")));
  Amid amid(dir, dir / "node.yaml");
  amid.process().Signal(SIGHUP);
  REQUIRE(Eventually([&] { return amid.NodeLog().find("reload: 1 declared workers") != std::string::npos; }));
  CHECK(amid.process().Running());
  CHECK(amid.NodeLog().find("sd_notify") == std::string::npos);
}

TEST_CASE("SIGHUP applies newly declared workers and removes none added through the admin API",
          "[operations][reload]") {
  TempDir dir;
  WriteFile(dir / "node.yaml", NodeYaml(Declared("alpha", "a1")));
  WriteFile(dir / "made.js", "logger.info('made by hand'); await Stels.sleep(200);");
  NotifySocket notify(dir / "notify.sock");
  ScopedEnv env("NOTIFY_SOCKET", notify.path().string());
  Amid amid(dir, dir / "node.yaml");
  size_t seen = static_cast<size_t>(notify.WaitFor("READY=1", 0));
  REQUIRE(static_cast<int>(seen) >= 0);

  const std::string alpha = DeclaredSid("alpha"), beta = DeclaredSid("beta");
  const json made = amid.Json({"--yes", "create", "--script", (dir / "made.js").string(), "--start"});
  const std::string by_hand = made.at("sid");
  REQUIRE(amid.Workers().size() == 2);

  // Reloads and waits for its READY=1; returns the node log from then.
  auto reload = [&] {
    amid.process().Signal(SIGHUP);
    const int reloading = notify.WaitFor("RELOADING=1", seen + 1);
    REQUIRE(reloading >= 0);
    const int ready = notify.WaitFor("READY=1", static_cast<size_t>(reloading) + 1);
    REQUIRE(ready > reloading);
    seen = static_cast<size_t>(ready);
  };

  SECTION("a new declaration is created; one no longer in the file and one made by hand stay") {
    WriteFile(dir / "node.yaml", NodeYaml(Declared("beta", "b1")));
    reload();
    auto workers = amid.Workers();
    INFO(amid.NodeLog());
    CHECK(workers.size() == 3);
    CHECK(workers.count(alpha) == 1);
    CHECK(workers.count(by_hand) == 1);
    REQUIRE(workers.count(beta) == 1);
    CHECK(workers[beta].find("b1") != std::string::npos);
    CHECK(Eventually([&] { return amid.NodeLog().find("reload: created declared worker beta") != std::string::npos; }));

    // A changed declaration is updated; the others are left alone.
    WriteFile(dir / "node.yaml", NodeYaml(Declared("alpha", "a1") + Declared("beta", "b2")));
    reload();
    workers = amid.Workers();
    CHECK(workers.size() == 3);
    CHECK(workers[beta].find("b2") != std::string::npos);
    CHECK(workers[alpha].find("a1") != std::string::npos);
    CHECK(workers.count(by_hand) == 1);
    CHECK(Eventually([&] { return amid.NodeLog().find("reload: updated declared worker beta") != std::string::npos; }));
  }

  SECTION("a broken file is logged with its place and the node keeps what it had") {
    const std::string file = (dir / "node.yaml").string();
    WriteFile(dir / "node.yaml", NodeYaml(Declared("alpha", "a2") +
                                          "  - name: gamma\n"
                                          "    priority: urgent\n"
                                          "    script: \"logger.info('g');\"\n"));
    reload();
    INFO(amid.NodeLog());
    CHECK(Eventually([&] { return LineWith(amid.NodeLog(), {"reload: " + file + ":", ": workers[1].priority: "}); }));
    auto workers = amid.Workers();
    CHECK(workers.size() == 2);
    CHECK(workers[alpha].find("a1") != std::string::npos);  // not a2: nothing applied
    CHECK(workers.count(DeclaredSid("gamma")) == 0);

    // A script that does not compile is refused the same way.
    WriteFile(dir / "node.yaml", NodeYaml(Declared("alpha", "a1") + "  - name: delta\n    script: \"const = ;\"\n"));
    reload();
    CHECK(Eventually([&] { return amid.NodeLog().find("workers[1].script: SyntaxError") != std::string::npos; }));
    CHECK(amid.Workers().size() == 2);
    CHECK(amid.process().Running());
    CHECK(amid.Ami({"node", "--json"}).exit_code == 0);
  }
  amid.process().Signal(SIGTERM);
  CHECK(amid.process().Wait(std::chrono::seconds(30)) == 0);
}

TEST_CASE("a node restored from `ami backup` has the same workers and KV", "[operations][backup]") {
  TempDir dir;
  std::filesystem::create_directories(dir / "one");
  std::filesystem::create_directories(dir / "two");
  WriteFile(dir / "one" / "node.yaml", NodeYaml(Declared("alpha", "a1")));
  WriteFile(dir / "made.js", "logger.info('made by hand'); await Stels.sleep(200);");
  const auto backup = dir / "backups" / "node-1.db";
  std::filesystem::create_directories(backup.parent_path());

  std::map<std::string, std::string> workers;
  std::string incarnation;
  {
    Amid amid(dir, dir / "one" / "node.yaml", "one.out");
    amid.Json({"--yes", "create", "--script", (dir / "made.js").string(), "--start"});
    amid.Json({"--yes", "create", "--script", (dir / "made.js").string(), "--scope", "network"});
    REQUIRE(amid.Ami({"kv", "set", "local", "ops/local", R"({"a":1})"}).exit_code == 0);
    REQUIRE(amid.Ami({"kv", "set", "network", "ops/net", "42"}).exit_code == 0);
    workers = amid.Workers();
    REQUIRE(workers.size() == 3);

    const json written = amid.Json({"backup", backup.string()});
    CHECK(written.at("path") == backup.string());
    CHECK(written.at("bytes").get<uint64_t>() == std::filesystem::file_size(backup));
    // Never over an existing file; never relative to the node's own directory.
    const auto size = std::filesystem::file_size(backup);
    auto again = amid.Ami({"backup", backup.string()});
    CHECK(again.exit_code == 1);
    CHECK(again.output.find("exists") != std::string::npos);
    CHECK(std::filesystem::file_size(backup) == size);
    CHECK(Eventually([&] { return amid.NodeLog().find("backup of the store written to " + backup.string()) !=
                                  std::string::npos; }));

    // Written after the backup: not in it.
    REQUIRE(amid.Ami({"kv", "set", "local", "ops/later", "1"}).exit_code == 0);
    amid.process().Signal(SIGTERM);
    REQUIRE(amid.process().Wait(std::chrono::seconds(30)) == 0);
  }
  {
    auto store = ami::kv::Store::Open(dir / "one" / "data" / "node.db", ami::kv::StoreOptions{"s-0001"});
    REQUIRE(store.ok());
    incarnation = *(*store)->Incarnation();
  }

  // The second node declares no workers: whatever it has comes from the backup.
  WriteFile(dir / "two" / "node.yaml", NodeYaml(""));
  const std::string config = (dir / "two" / "node.yaml").string();
  auto restored = Run(AmidBin(), {"--restore", backup.string(), "--config", config});
  INFO(restored.output);
  REQUIRE(restored.exit_code == 0);
  // A second restore would replace the store: refused.
  auto twice = Run(AmidBin(), {"--config", config, "--restore", backup.string()});
  CHECK(twice.exit_code == 1);
  CHECK(twice.output.find("exists") != std::string::npos);
  CHECK(Run(AmidBin(), {"--restore", (dir / "none.db").string(), "--config", (dir / "one" / "node.yaml").string()})
            .exit_code == 1);

  {
    Amid amid(dir, dir / "two" / "node.yaml", "two.out");
    CHECK(amid.Workers() == workers);
    const json local = amid.Json({"kv", "get", "local", "ops/local"});
    CHECK(local.at("value") == json{{"a", 1}});
    const json net = amid.Json({"kv", "get", "network", "ops/net"});
    CHECK(net.at("value") == 42);
    CHECK(amid.Ami({"kv", "get", "local", "ops/later"}).exit_code == 1);  // not_found
    // The declared worker of node one runs here too: its record came along.
    CHECK(Eventually([&] { return amid.NodeLog().find("worker " + DeclaredSid("alpha") + " started") !=
                                  std::string::npos; }));
    amid.process().Signal(SIGTERM);
    REQUIRE(amid.process().Wait(std::chrono::seconds(30)) == 0);
  }
  auto store = ami::kv::Store::Open(dir / "two" / "data" / "node.db", ami::kv::StoreOptions{"s-0001"});
  REQUIRE(store.ok());
  CHECK(*(*store)->Incarnation() != incarnation);  // a new store for the cluster's cursors
}

TEST_CASE("log.format json makes every node log line a JSON object", "[operations][log]") {
  TempDir dir;
  WriteFile(dir / "bad.yaml", "node: { id: s-0001 }\nlog: { format: xml }\n");
  auto bad = Run(AmidBin(), {"--check-config", (dir / "bad.yaml").string()});
  CHECK(bad.exit_code == 2);
  INFO(bad.output);
  CHECK(std::regex_search(bad.output,
                          std::regex(R"(bad\.yaml:2:\d+: log\.format: expected one of text\|json, got "xml")")));

  WriteFile(dir / "node.yaml",
            "node: { id: s-0001, data_dir: ./data }\n"
            "log: { format: json }\n"
            "limits: { stop_grace: 500ms }\n"
            "plugins: { dirs: [] }\n"
            "workers:\n"
            "  - name: ticker\n"
            "    script: |\n"
            "      globalThis.n = (globalThis.n || 0) + 1;\n"
            "      logger.info('tick', n);\n"
            "      logger.warn('line one\\nline two');\n"
            "      await Stels.sleep(100);\n");
  const auto node_log = dir / "data" / "logs" / "node.log";
  ChildProcess amid(AmidBin(), {"--config", (dir / "node.yaml").string()}, dir / "amid.out");
  REQUIRE(Eventually([&] { return ReadFile(node_log).find("\"tick 3\"") != std::string::npos; }));
  amid.Signal(SIGTERM);
  REQUIRE(amid.Wait(std::chrono::seconds(30)) == 0);

  const std::string sid = DeclaredSid("ticker");
  const std::regex iso(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error", "critical"};
  // The same objects on stderr (the journal, under systemd) as in node.log.
  for (const auto& [what, text] : {std::pair{"node.log", ReadFile(node_log)}, {"stderr", amid.Output()}}) {
    INFO(what << ":\n" << text);
    std::istringstream lines(text);
    int count = 0, ticks = 0, started = 0, warned = 0;
    for (std::string line; std::getline(lines, line);) {
      if (line.empty()) continue;
      ++count;
      INFO(line);
      const json j = json::parse(line, nullptr, false);
      REQUIRE(j.is_object());
      REQUIRE(j.contains("time"));
      CHECK(std::regex_match(j["time"].get<std::string>(), iso));
      CHECK(levels.count(j.at("level").get<std::string>()) == 1);
      CHECK(j.at("node") == "s-0001");
      REQUIRE(j.at("message").is_string());
      const std::string message = j["message"];
      if (message.rfind("tick ", 0) == 0) {
        ++ticks;
        CHECK(j.value("sid", "") == sid);  // a worker's own line: its sid, no "worker …:" prefix
        CHECK(j["level"] == "info");
      }
      if (message == "line one\\nline two") {  // escaped as in the worker's own log
        ++warned;
        CHECK(j.value("sid", "") == sid);
        CHECK(j["level"] == "warn");
      }
      if (message.rfind("worker " + sid + " started", 0) == 0) {
        ++started;
        CHECK(j.value("sid", "") == sid);  // a node line about the worker
      }
      if (message.rfind("amid starting", 0) == 0) CHECK_FALSE(j.contains("sid"));
    }
    CHECK(count > 5);
    CHECK(ticks >= 3);
    CHECK(warned >= 1);
    CHECK(started == 1);
  }
}
