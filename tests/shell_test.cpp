// `ami`, the admin shell, as operators use it: one-shot commands against a real amid
// (JSON output parsed and checked, exit codes, confirmations, sid prefixes, the editor
// flow and its version conflict), and the interactive shell through a real
// pseudo-terminal (the create dialogue, history, tab completion, Ctrl-C).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/support/test_support.h"
#include "transport/credentials.h"

using namespace ami::test;
using json = nlohmann::json;

extern char** environ;

namespace {

const std::string kToken = "shell-test-token-7f3a";

std::string AmiBin() { return (BinaryDir() / "apps" / "ami").string(); }
std::string AmidBin() { return (BinaryDir() / "apps" / "amid").string(); }

// The environment of this process with `overrides` applied ("" removes a variable).
std::vector<std::string> Environment(const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : overrides) {
    if (v.empty())
      env.erase(k);
    else
      env[k] = v;
  }
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// `ami` as a child process with its own environment, stdin text and separate stdout and
// stderr files.
class AmiProcess {
 public:
  AmiProcess(const TempDir& dir, std::vector<std::string> args, const std::map<std::string, std::string>& env,
             const std::string& stdin_text = "") {
    static int counter = 0;
    const std::string base = (dir / ("ami-run-" + std::to_string(++counter))).string();
    out_file_ = base + ".out";
    err_file_ = base + ".err";
    WriteFile(base + ".in", stdin_text);
    args.insert(args.begin(), AmiBin());
    auto argv_strings = args;
    auto env_strings = Environment(env);
    auto argv = CStrings(argv_strings);
    auto envp = CStrings(env_strings);
    const std::string in_file = base + ".in";
    // Closed by a successful exec: once the parent reads EOF, the child is `ami`, not a
    // copy of this test (whose signal handlers would report a signal as a test failure).
    int exec_pipe[2];
    REQUIRE(pipe2(exec_pipe, O_CLOEXEC) == 0);
    pid_ = fork();
    if (pid_ == 0) {
      const int in = open(in_file.c_str(), O_RDONLY);
      const int out = open(out_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open(err_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(in, 0);
      dup2(out, 1);
      dup2(err, 2);
      setpgid(0, 0);  // its own group: a Ctrl-C sent to it reaches no one else
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    close(exec_pipe[1]);
    char byte;
    while (read(exec_pipe[0], &byte, 1) < 0 && errno == EINTR) {
    }
    close(exec_pipe[0]);
  }
  ~AmiProcess() {
    if (!reaped_ && pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  void Signal(int signo) { kill(pid_, signo); }
  // Exit code, or -1 if it did not finish in time.
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    if (reaped_) return code_;
    const bool done = Eventually(
        [&] {
          int status = 0;
          if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
          reaped_ = true;
          code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          return true;
        },
        timeout);
    return done ? code_ : -1;
  }
  std::string Out() const { return ReadFile(out_file_); }
  std::string Err() const { return ReadFile(err_file_); }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int code_ = -1;
  std::string out_file_, err_file_;
};

struct AmiResult {
  int code;
  std::string out, err;
  json Json() const {
    INFO("stdout: " << out << "\nstderr: " << err);
    auto j = json::parse(out, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    return j;
  }
};

// A real amid with an admin port and the built plugins, and `ami` pointed at it.
class Node {
 public:
  Node() {
    WriteFile(dir_ / "node.yaml",
              "node: { id: s-0001, data_dir: ./data }\n"
              "admin: { listen: \"127.0.0.1:0\", token: " +
                  kToken +
                  " }\n"
                  "limits: { stop_grace: 500ms }\n"
                  "plugins: { dirs: [\"" +
                  (BinaryDir() / "plugins").string() +
                  "\"] }\n"
                  "exchanges:\n"
                  "  bybit: { connector: paper }\n"
                  "accounts:\n"
                  "  g-bhts: { exchange: bybit, api_key: K1, secret: S1 }\n");
    amid_ = std::make_unique<ChildProcess>(
        AmidBin(), std::vector<std::string>{"--config", (dir_ / "node.yaml").string()}, dir_ / "amid.out");
    // admin.listen port 0: the node picks a free port and logs it.
    std::smatch m;
    const std::regex port_line(R"(admin service listening on port (\d+))");
    REQUIRE(Eventually(
        [&] {
          const std::string out = amid_->Output();
          return std::regex_search(out, m, port_line);
        },
        std::chrono::seconds(60)));
    port_ = std::stoi(m[1]);
    address_ = "127.0.0.1:" + std::to_string(port_);
    // Answering: node.info gets through (whatever it says, it is not "cannot connect").
    REQUIRE(Eventually([&] { return Ami({"node", "--json"}).code != 3; }, std::chrono::seconds(60)));
  }
  ~Node() {
    if (amid_) {
      amid_->Signal(SIGTERM);
      amid_->Wait(std::chrono::seconds(30));
    }
  }

  const TempDir& dir() const { return dir_; }
  const std::string& address() const { return address_; }
  std::map<std::string, std::string> Env(std::map<std::string, std::string> more = {}) const {
    std::map<std::string, std::string> env = {{"AMI_NODE", address_},
                                              {"AMI_TOKEN", kToken},
                                              // the node-local CA's operator certificate
                                              {"AMI_NODE_DIR", (dir_ / "data").string()},
                                              {"AMI_HISTORY", (dir_ / "history").string()},
                                              {"NO_COLOR", "1"},
                                              {"TMPDIR", dir_.path().string()}};
    for (auto& [k, v] : more) env[k] = v;
    return env;
  }
  AmiResult Ami(const std::vector<std::string>& args, std::map<std::string, std::string> env = {},
                const std::string& stdin_text = "") const {
    AmiProcess p(dir_, args, Env(std::move(env)), stdin_text);
    const int code = p.Wait();
    return {code, p.Out(), p.Err()};
  }
  // Parsed --json output of a command that must succeed.
  json Json(std::vector<std::string> args) const {
    args.push_back("--json");
    auto r = Ami(args);
    INFO("ami " << args[0] << ": exit " << r.code << "\nstdout: " << r.out << "\nstderr: " << r.err);
    REQUIRE(r.code == 0);
    return r.Json();
  }
  json Worker(const std::string& sid) const { return Json({"show", sid}); }
  json Workers() const { return Json({"workers"}); }

 private:
  TempDir dir_;
  std::unique_ptr<ChildProcess> amid_;
  int port_ = 0;
  std::string address_;
};

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const json& Rec(const json& worker) { return worker.at("record"); }

// --- the pseudo-terminal side of the interactive shell ---

class Pty {
 public:
  Pty(const std::map<std::string, std::string>& env) {
    auto env_strings = Environment(env);
    std::vector<std::string> argv_strings = {AmiBin()};
    auto argv = CStrings(argv_strings);
    auto envp = CStrings(env_strings);
    winsize ws{};
    ws.ws_row = 40;
    ws.ws_col = 160;
    pid_ = forkpty(&master_, nullptr, nullptr, &ws);
    if (pid_ == 0) {
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    REQUIRE(pid_ > 0);
    fcntl(master_, F_SETFL, fcntl(master_, F_GETFL) | O_NONBLOCK);
  }
  ~Pty() {
    if (!reaped_ && pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (master_ >= 0) close(master_);
  }
  void Send(const std::string& keys) {
    size_t done = 0;
    while (done < keys.size()) {
      const ssize_t n = write(master_, keys.data() + done, keys.size() - done);
      if (n > 0)
        done += static_cast<size_t>(n);
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  // Reads until `text` has appeared `times` times in everything read since `from` (an
  // offset into Output()), or the deadline passes. Returns the end offset of the match.
  size_t WaitFor(const std::string& text, size_t from = 0, int times = 1,
                 std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    size_t end = std::string::npos;
    Eventually(
        [&] {
          Drain();
          size_t at = from;
          int found = 0;
          while ((at = out_.find(text, at)) != std::string::npos) {
            at += text.size();
            if (++found == times) {
              end = at;
              return true;
            }
          }
          return false;
        },
        timeout);
    INFO("waiting for \"" << text << "\" x" << times << " in:\n" << out_.substr(from));
    REQUIRE(end != std::string::npos);
    return end;
  }
  const std::string& Output() {
    Drain();
    return out_;
  }
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    int code = -1;
    Eventually(
        [&] {
          Drain();
          int status = 0;
          if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
          reaped_ = true;
          code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          return true;
        },
        timeout);
    return code;
  }

 private:
  void Drain() {
    char buf[4096];
    while (true) {
      const ssize_t n = read(master_, buf, sizeof buf);
      if (n <= 0) break;
      out_.append(buf, static_cast<size_t>(n));
    }
  }
  int master_ = -1;
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string out_;
};

}  // namespace

TEST_CASE("ami checks arguments locally: usage errors exit 2 without a node", "[shell]") {
  TempDir dir;
  // Nothing listens on port 1: a command that got as far as connecting would exit 3.
  const std::map<std::string, std::string> env = {{"AMI_NODE", "127.0.0.1:1"}, {"AMI_TOKEN", "x"}, {"NO_COLOR", "1"}};
  auto run = [&](std::vector<std::string> args) {
    AmiProcess p(dir, std::move(args), env);
    const int code = p.Wait();
    return AmiResult{code, p.Out(), p.Err()};
  };
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"bogus"}, "unknown command \"bogus\""},
      {{"workerz"}, "did you mean workers?"},
      {{"show"}, "`show` needs SID"},
      {{"show", "not-a-sid!"}, "is not a worker sid or sid prefix"},
      {{"show", "abc", "def"}, "unexpected argument \"def\""},
      {{"create", "--priority", "urgent"}, "--priority: expected one of critical|high|normal|low, got \"urgent\""},
      {{"create", "--execution", "exclusive"}, "needs --node-assigned"},
      {{"create", "--script", "/nonexistent/w.js"}, "cannot read \"/nonexistent/w.js\""},
      {{"create", "--bogus"}, "unknown option --bogus for `create`"},
      {{"create", "health-check", "empty"}, "unexpected argument \"empty\""},
      {{"create", "health-check", "--template", "empty"}, "`create` got two templates"},
      {{"create", "no/such"}, "TEMPLATE: \"no/such\" is not an id"},
      {{"logs", "abcd", "-n", "many"}, "-n: expected a positive whole number"},
      {{"stats", "--watch", "0"}, "expected seconds between"},
      {{"kv"}, "kv needs a subcommand: get, set, list, delete"},
      {{"kv", "get", "nowhere", "a/b"}, "SPACE: expected one of local|network"},
      {{"kv", "set", "local", "a/b", "not json"}, "VALUE: not valid JSON"},
      {{"kv", "get", "local", "a//b"}, "has an empty part"},
      {{"kv", "get", "local", "[1,"}, "is not a JSON array"},
      {{"kv", "set", "local", "a", "1", "--expire-in", "soon"}, "expected a duration"},
      {{"set", "abcd"}, "`set` needs at least one change"},
      {{"--node", "nohost", "workers"}, "expected host:port"},
      {{"--node", "127.evil:1", "--tls-ca", "/nonexistent/ca.pem", "workers"}, "give --tls-ca, --tls-cert and --tls-key together"},
      {{"--tls-ca", "/nonexistent/ca.pem", "--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/c.key", "workers"},
       "--tls-ca: cannot read \"/nonexistent/ca.pem\""},
      {{"--token-file", "/nonexistent/admin.token", "workers"}, "--token-file: cannot read \"/nonexistent/admin.token\""},
      {{"--token", "a", "--token-file", "/nonexistent/admin.token", "workers"}, "give either --token or --token-file"},
      {{"--node-dir", "/nonexistent/data", "workers"}, "--node-dir: cannot read \"/nonexistent/data/tls/ca.pem\""},
      {{"--frobnicate"}, "unknown option --frobnicate"},
  };
  for (const auto& c : cases) {
    auto r = run(c.args);
    INFO("ami " << c.args[0] << " …: stdout " << r.out << " stderr " << r.err);
    CHECK(r.code == 2);
    CHECK(Contains(r.err, "ami: "));
    CHECK(Contains(r.err, c.message));
    CHECK(r.out.empty());
  }
  // `create TEMPLATE` asks the node whether it has TEMPLATE: here it cannot be reached.
  auto unreachable = run({"create", "health-check", "--yes"});
  INFO(unreachable.err);
  CHECK(unreachable.code == 3);
  // Help needs no node either.
  auto help = run({"help"});
  CHECK(help.code == 0);
  CHECK(Contains(help.out, "kv set SPACE KEY VALUE"));
  auto help_edit = run({"help", "edit"});
  CHECK(help_edit.code == 0);
  CHECK(Contains(help_edit.out, "usage: edit SID"));
}

TEST_CASE("ami reports an unreachable node with exit 3", "[shell]") {
  TempDir dir;
  AmiProcess p(dir, {"workers"}, {{"AMI_NODE", "127.0.0.1:1"}, {"AMI_TOKEN", "x"}});
  CHECK(p.Wait() == 3);
  CHECK(Contains(p.Err(), "ami: cannot reach node 127.0.0.1:1"));
  CHECK(p.Out().empty());
}

TEST_CASE("ami gives up on a peer that accepts the connection but never answers", "[shell]") {
  // A listening socket that never speaks CAF: the connection opens, no handshake comes.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(listen(fd, 8) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const std::string node = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  TempDir dir;
  // Nodes speak TLS only: ami needs a client certificate to try at all.
  REQUIRE(ami::transport::MakeLocalCredentials(dir / "data" / "tls", "s-0001").ok());
  const std::map<std::string, std::string> env = {
      {"AMI_NODE", node}, {"AMI_TOKEN", "x"}, {"AMI_NODE_DIR", (dir / "data").string()}};
  {
    AmiProcess p(dir, {"workers"}, env);
    CHECK(p.Wait(std::chrono::seconds(60)) == 3);
    CHECK(Contains(p.Err(), "ami: cannot reach node " + node + ": the TLS handshake did not complete: no TLS answer"));
  }
  // Drop what the first run left in the listen queue.
  for (pollfd pfd{fd, POLLIN, 0}; poll(&pfd, 1, 0) == 1; pfd.revents = 0) close(accept(fd, nullptr, nullptr));
  {
    // Ctrl-C ends a one-shot command that waits, as it ends any program. Sent once ami
    // is connecting (its connection reached the listener).
    AmiProcess p(dir, {"workers"}, env);
    int conn = -1;
    REQUIRE(Eventually([&] {
      pollfd pfd{fd, POLLIN, 0};
      if (poll(&pfd, 1, 0) != 1) return false;
      conn = accept(fd, nullptr, nullptr);
      return conn >= 0;
    }));
    p.Signal(SIGINT);
    CHECK(p.Wait(std::chrono::seconds(20)) == 128 + SIGINT);
    close(conn);
  }
  close(fd);
}

TEST_CASE("ami one-shot commands drive a real node", "[shell]") {
  Node node;

  // --- templates, plugins, nodes, node ---
  const json templates = node.Json({"templates"});
  REQUIRE(templates.is_array());
  std::vector<std::string> ids;
  for (const auto& t : templates) ids.push_back(t.at("id"));
  for (const char* id : {"grid-trading", "dca-strategy", "market-monitor", "balance-monitor", "price-aggregator",
                         "health-check", "log-cleanup", "empty"})
    CHECK(std::find(ids.begin(), ids.end(), id) != ids.end());
  const json grid = node.Json({"templates", "show", "grid-trading"});
  CHECK(grid.at("id") == "grid-trading");
  CHECK_FALSE(grid.at("script").get<std::string>().empty());
  const json plugins = node.Json({"plugins"});
  CHECK(Contains(plugins.dump(), "paper"));
  CHECK_FALSE(Contains(plugins.dump(), "K1"));  // no secrets
  CHECK_FALSE(Contains(plugins.dump(), "S1"));
  const json members = node.Json({"nodes"});
  CHECK(members.at("self") == "s-0001");
  const json info = node.Json({"node"});
  CHECK(Contains(info.dump(), "s-0001"));

  // Human output: aligned table with the template ids.
  auto table = node.Ami({"templates"});
  CHECK(table.code == 0);
  CHECK(std::regex_search(table.out, std::regex(R"(ID\s+NAME\s+CATEGORY\s+EXECUTION)")));
  CHECK(Contains(table.out, "grid-trading"));

  // --- create from a template, without a question ---
  const json created =
      node.Json({"--yes", "create", "--template", "empty", "--note", "one-shot worker", "--priority", "high"});
  const std::string sid = created.at("sid");
  const std::string prefix = sid.substr(0, 8);
  CHECK(Rec(created).at("note") == "one-shot worker");
  CHECK(Rec(created).at("priority") == "high");
  CHECK(Rec(created).at("executionMode") == "parallel");
  CHECK(Rec(created).at("active") == false);
  CHECK(Contains(Rec(created).at("script").get<std::string>(), "Worker script initialized!"));

  // --- list and show by prefix ---
  const json workers = node.Workers();
  REQUIRE(workers.is_array());
  bool listed = false;
  for (const auto& w : workers) listed = listed || w.at("sid") == sid;
  CHECK(listed);
  CHECK(node.Worker(prefix).at("sid") == sid);
  auto human = node.Ami({"workers"});
  CHECK(human.code == 0);
  CHECK(Contains(human.out, prefix));
  CHECK(Contains(human.out, "one-shot worker"));

  // --- note ---
  auto noted = node.Ami({"note", prefix, "a", "new", "note"});
  INFO(noted.err);
  CHECK(noted.code == 0);
  CHECK(Rec(node.Worker(sid)).at("note") == "a new note");

  // --- set ---
  auto set = node.Ami({"set", prefix, "--priority", "low", "--account", "g-bhts"});
  INFO(set.err);
  CHECK(set.code == 0);
  CHECK(Rec(node.Worker(sid)).at("priority") == "low");
  CHECK(Rec(node.Worker(sid)).at("accountId") == "g-bhts");

  // --- start, stats, logs, stop ---
  CHECK(node.Ami({"start", prefix}).code == 0);
  CHECK(Rec(node.Worker(sid)).at("active") == true);
  CHECK(Eventually([&] { return node.Worker(sid).at("running") == true; }));
  const auto executions = [&]() -> int64_t {
    const json stats = node.Json({"stats"});
    for (const auto& w : stats.at("workers"))
      if (w.at("sid") == sid) return w.at("executions").get<int64_t>();
    return 0;
  };
  CHECK(Eventually([&] { return executions() >= 2; }));
  const json one = node.Json({"stats", prefix});
  CHECK(Contains(one.dump(), sid));
  auto stats_table = node.Ami({"stats"});
  CHECK(stats_table.code == 0);
  CHECK(Contains(stats_table.out, "Executions"));
  CHECK(Contains(stats_table.out, prefix));
  CHECK(Eventually([&] {
    const json logs = node.Json({"logs", prefix, "-n", "5"});
    return logs.at("lines").size() == 5 && Contains(logs.dump(), "Worker script initialized!");
  }));
  auto log_text = node.Ami({"logs", prefix, "-n", "3"});
  CHECK(log_text.code == 0);
  CHECK(std::count(log_text.out.begin(), log_text.out.end(), '\n') == 3);
  CHECK(node.Ami({"stop", prefix}).code == 0);
  CHECK(Rec(node.Worker(sid)).at("active") == false);
  CHECK(Eventually([&] { return node.Worker(sid).at("running") == false; }));

  // --- kv ---
  auto kv_set = node.Ami({"kv", "set", "local", "shell/test/1", R"({"a":1,"b":"two"})"});
  INFO(kv_set.err);
  CHECK(kv_set.code == 0);
  const json got = node.Json({"kv", "get", "local", "shell/test/1"});
  CHECK(got.at("value").at("a") == 1);
  CHECK(got.at("key") == json::parse(R"(["shell","test",1])"));
  CHECK(node.Ami({"kv", "set", "local", R"(["shell","test","BTC/USDT"])", "hello", "--string"}).code == 0);
  const json listed_kv = node.Json({"kv", "list", "local", "shell/test"});
  REQUIRE(listed_kv.size() == 2);
  CHECK(node.Json({"kv", "get", "local", R"(["shell","test","BTC/USDT"])"}).at("value") == "hello");
  CHECK(node.Ami({"kv", "delete", "local", "shell/test/1"}).code == 0);
  auto gone = node.Ami({"kv", "get", "local", "shell/test/1"});
  CHECK(gone.code == 1);
  CHECK(node.Json({"kv", "list", "local", "shell/test"}).size() == 1);

  // --- delete: asks; without an answer nothing happens ---
  auto declined = node.Ami({"delete", prefix}, {}, "");
  CHECK(declined.code == 1);
  CHECK(Contains(declined.err, "cancelled; nothing changed"));
  CHECK(node.Worker(sid).at("sid") == sid);
  auto answered_no = node.Ami({"delete", prefix}, {}, "n\n");
  CHECK(answered_no.code == 1);
  CHECK(Contains(answered_no.out, "Delete it? [y/N]"));
  auto answered_yes = node.Ami({"delete", prefix}, {}, "y\n");
  INFO(answered_yes.err);
  CHECK(answered_yes.code == 0);
  CHECK(Contains(answered_yes.out, "Deleted worker " + sid));
  auto deleted = node.Ami({"show", sid});
  CHECK(deleted.code == 1);
  CHECK(Contains(deleted.err, "no worker with sid " + sid));
}

TEST_CASE("ami asks before creating, shows a summary, and --yes skips the question", "[shell]") {
  Node node;
  const size_t before = node.Workers().size();
  auto declined = node.Ami({"create", "--template", "grid-trading", "--account", "g-bhts"}, {}, "n\n");
  CHECK(declined.code == 1);
  INFO(declined.out);
  CHECK(Contains(declined.out, "New worker from template grid-trading (Grid Trading)"));
  CHECK(Contains(declined.out, "leader on auto-elected node"));
  CHECK(Contains(declined.out, "critical (50 errors, 1ms delay)"));
  CHECK(Contains(declined.out, "loop (engine managed)"));
  CHECK(Contains(declined.out, "g-bhts"));
  CHECK(Contains(declined.out, "Create? [y/N]"));
  CHECK(node.Workers().size() == before);

  auto accepted = node.Ami({"create", "--template", "grid-trading", "--account", "g-bhts"}, {}, "y\n");
  INFO(accepted.err);
  CHECK(accepted.code == 0);
  CHECK(Contains(accepted.out, "Created worker "));
  const json workers = node.Workers();
  REQUIRE(workers.size() == before + 1);
  bool found = false;
  for (const auto& w : workers)
    if (Rec(w).at("accountId") == "g-bhts") {
      found = true;
      CHECK(Rec(w).at("executionMode") == "leader");
      CHECK(Rec(w).at("priority") == "critical");
    }
  CHECK(found);

  // From scratch with a script file, started at once.
  WriteFile(node.dir() / "w.js", "logger.info('from a file');\n");
  const json scratch =
      node.Json({"--yes", "create", "--script", (node.dir() / "w.js").string(), "--mode", "loop", "--start"});
  CHECK(Rec(scratch).at("script") == "logger.info('from a file');\n");
  CHECK(Rec(scratch).at("active") == true);
  // An invalid record is the node's refusal: exit 1, the node's message.
  auto bad = node.Ami({"--yes", "create", "--template", "nope"});
  CHECK(bad.code == 1);
  CHECK(Contains(bad.err, "ami: "));
  CHECK(Contains(bad.err, "nope"));

  // `create TEMPLATE` is `create --template TEMPLATE`.
  const json positional = node.Json({"--yes", "create", "health-check", "--note", "by position"});
  const json flagged = node.Json({"--yes", "create", "--template", "health-check", "--note", "by position"});
  CHECK(positional.at("sid") != flagged.at("sid"));
  for (const char* field : {"executionMode", "priority", "mode", "scope", "script", "note", "active"})
    CHECK(Rec(positional).at(field) == Rec(flagged).at(field));
  CHECK(Rec(positional).at("priority") == "low");  // health-check's, not the default
  CHECK(Rec(positional).at("script") == node.Json({"templates", "show", "health-check"}).at("script"));
  auto human = node.Ami({"create", "health-check"}, {}, "n\n");
  CHECK(human.code == 1);
  CHECK(Contains(human.out, "New worker from template health-check (Health Check)"));
  // A word that is not a template is a usage error naming the templates; nothing is made.
  const size_t count = node.Workers().size();
  auto typo = node.Ami({"--yes", "create", "halth-check"});
  INFO(typo.err);
  CHECK(typo.code == 2);
  CHECK(Contains(typo.err, "ami: no template \"halth-check\"; this node offers: "));
  CHECK(Contains(typo.err, "health-check"));
  CHECK(Contains(typo.err, "`ami templates`"));
  CHECK(node.Workers().size() == count);
}

TEST_CASE("ami refuses a wrong token with exit 3 and changes nothing", "[shell]") {
  Node node;
  const size_t before = node.Workers().size();
  auto listed = node.Ami({"workers"}, {{"AMI_TOKEN", "wrong-token"}});
  CHECK(listed.code == 3);
  CHECK(Contains(listed.err, "unauthorized"));
  CHECK_FALSE(Contains(listed.err, "wrong-token"));
  CHECK_FALSE(Contains(listed.err, kToken));
  auto created = node.Ami({"--token", "wrong-token", "--yes", "create", "--template", "empty"});
  CHECK(created.code == 3);
  CHECK_FALSE(Contains(created.out + created.err, "wrong-token"));
  auto missing = node.Ami({"workers"}, {{"AMI_TOKEN", ""}});
  CHECK(missing.code == 3);
  CHECK(node.Workers().size() == before);
}

TEST_CASE("ami resolves sid prefixes and names unknown and ambiguous ones", "[shell]") {
  Node node;
  auto unknown = node.Ami({"show", "0000dead"});
  CHECK(unknown.code == 1);
  CHECK(Contains(unknown.err, "ami: no worker with a sid starting with \"0000dead\""));
  auto unknown_full = node.Ami({"start", "00000000-0000-4000-8000-000000000000"});
  CHECK(unknown_full.code == 1);
  CHECK(Contains(unknown_full.err, "no worker with sid 00000000-0000-4000-8000-000000000000"));
  // Sixteen workers: two of them share a first hex digit, so a one-digit prefix is ambiguous.
  std::map<char, int> first_digits;
  for (int i = 0; i < 17; ++i) {
    const json w = node.Json({"--yes", "create", "--note", "w" + std::to_string(i)});
    ++first_digits[w.at("sid").get<std::string>()[0]];
  }
  char shared = 0;
  for (const auto& [digit, n] : first_digits)
    if (n > 1) shared = digit;
  REQUIRE(shared != 0);
  auto ambiguous = node.Ami({"show", std::string(1, shared)});
  CHECK(ambiguous.code == 1);
  CHECK(Contains(ambiguous.err, "is ambiguous"));
  // Upper case works too.
  const std::string sid = node.Workers().at(0).at("sid");
  std::string upper = sid.substr(0, 12);
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  CHECK(node.Worker(upper).at("sid") == sid);
}

TEST_CASE("ami edit saves through the editor, and a concurrent change is a conflict that keeps the text", "[shell]") {
  Node node;
  const json created = node.Json({"--yes", "create", "--template", "empty", "--note", "to edit"});
  const std::string sid = created.at("sid");
  const std::string original = Rec(created).at("script");

  // An editor that rewrites the file: saved, the temporary file is gone.
  WriteFile(node.dir() / "editor-ok.sh", "#!/bin/sh\nprintf \"logger.info('edited once');\\n\" > \"$1\"\n");
  chmod((node.dir() / "editor-ok.sh").c_str(), 0755);
  auto saved = node.Ami({"edit", sid.substr(0, 8)}, {{"EDITOR", (node.dir() / "editor-ok.sh").string()}});
  INFO(saved.err);
  CHECK(saved.code == 0);
  CHECK(Contains(saved.out, "Saved the script of " + sid.substr(0, 8)));
  CHECK(Rec(node.Worker(sid)).at("script") == "logger.info('edited once');\n");
  auto leftovers = [&] {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(node.dir().path()))
      if (e.path().filename().string().rfind("ami-" + sid.substr(0, 8), 0) == 0) ++n;
    return n;
  };
  CHECK(leftovers() == 0);

  // An editor during which someone else changes the worker (here: `ami note` from the
  // editor itself, before it writes the file).
  WriteFile(node.dir() / "editor-race.sh",
            "#!/bin/sh\n"
            "\"$AMI_BIN\" note \"$RACE_SID\" changed meanwhile || exit 9\n"
            "printf \"logger.info('my edit');\\n\" > \"$1\"\n");
  chmod((node.dir() / "editor-race.sh").c_str(), 0755);
  auto conflict =
      node.Ami({"edit", sid.substr(0, 8)},
               {{"EDITOR", (node.dir() / "editor-race.sh").string()}, {"AMI_BIN", AmiBin()}, {"RACE_SID", sid}});
  INFO(conflict.out << conflict.err);
  CHECK(conflict.code == 1);
  CHECK(Contains(conflict.err, "was changed by someone else while you were editing"));
  CHECK(Contains(conflict.err, "nothing was saved"));
  std::smatch m;
  REQUIRE(std::regex_search(conflict.err, m, std::regex(R"(your text is kept in (\S+\.js))")));
  CHECK(ReadFile(m[1].str()) == "logger.info('my edit');\n");
  // The other change stands; ours did not overwrite it.
  const json after = node.Worker(sid);
  CHECK(Rec(after).at("note") == "changed meanwhile");
  CHECK(Rec(after).at("script") == "logger.info('edited once');\n");

  // An editor that fails: nothing saved, the text kept.
  WriteFile(node.dir() / "editor-fail.sh", "#!/bin/sh\nexit 3\n");
  chmod((node.dir() / "editor-fail.sh").c_str(), 0755);
  auto failed = node.Ami({"edit", sid}, {{"EDITOR", (node.dir() / "editor-fail.sh").string()}});
  CHECK(failed.code == 1);
  CHECK(Contains(failed.err, "exited with status 3"));
  CHECK(Contains(failed.err, "your text is kept in"));
  (void)original;
}

TEST_CASE("ami logs -f and stats --watch run until Ctrl-C", "[shell]") {
  Node node;
  const json created = node.Json({"--yes", "create", "--template", "empty", "--start"});
  const std::string sid = created.at("sid");
  CHECK(Eventually([&] { return node.Worker(sid).at("running") == true; }));

  AmiProcess follow(node.dir(), {"logs", sid.substr(0, 8), "-n", "1", "-f"}, node.Env());
  // New lines keep arriving while it follows.
  CHECK(Eventually([&] {
    const std::string out = follow.Out();
    return std::count(out.begin(), out.end(), '\n') >= 10;
  }));
  follow.Signal(SIGINT);
  CHECK(follow.Wait(std::chrono::seconds(20)) == 0);
  CHECK(Contains(follow.Out(), "Running on s-0001 as " + sid));

  AmiProcess watch(node.dir(), {"stats", "--watch", "0.2"}, node.Env());
  CHECK(Eventually([&] {
    const std::string out = watch.Out();
    size_t n = 0;
    for (size_t at = out.find("Ctrl-C to stop"); at != std::string::npos; at = out.find("Ctrl-C to stop", at + 1)) ++n;
    return n >= 3;
  }));
  watch.Signal(SIGINT);
  CHECK(watch.Wait(std::chrono::seconds(20)) == 0);
  CHECK(Contains(watch.Out(), sid.substr(0, 8)));
}

TEST_CASE("the interactive shell: create dialogue, tab completion, history, Ctrl-C", "[shell]") {
  Node node;
  auto env = node.Env({{"TERM", "xterm"}, {"HOME", node.dir().path().string()}});
  {
    Pty pty(env);
    size_t at = pty.WaitFor("Connecting to node " + node.address());
    at = pty.WaitFor("ami s-0001> ", at, 1, std::chrono::seconds(60));

    // Tab completion of a command name: "temp<TAB>" runs `templates`.
    pty.Send("temp\t\r");
    at = pty.WaitFor("grid-trading", at);
    at = pty.WaitFor("ami s-0001> ", at);

    // The create dialogue, answered line by line.
    pty.Send("create\r");
    at = pty.WaitFor("Template (id or number) [empty]: ", at);
    pty.Send("grid-t\t\r");  // completes to grid-trading
    at = pty.WaitFor("Execution mode (parallel|leader|exclusive) [leader]: ", at);
    pty.Send("\r");
    at = pty.WaitFor("Priority (critical|high|normal|low) [critical]: ", at);
    pty.Send("urgent\r");  // not a priority: asked again
    at = pty.WaitFor("please answer one of critical|high|normal|low", at);
    at = pty.WaitFor("[critical]: ", at);
    pty.Send("high\r");
    at = pty.WaitFor("Worker mode (loop|single) [loop]: ", at);
    pty.Send("\r");
    at = pty.WaitFor("Account ID (optional) [none]: ", at);
    pty.Send("g-bhts\r");
    at = pty.WaitFor("Note [", at);
    pty.Send("grid from the dialogue\r");
    at = pty.WaitFor("Create? [y/N] ", at);
    CHECK(Contains(pty.Output().substr(0, at), "leader on auto-elected node"));
    pty.Send("y\r");
    at = pty.WaitFor("Created worker ", at);
    at = pty.WaitFor("ami s-0001> ", at);

    // Tab completion of a sid prefix, then the command runs on it.
    const json workers = node.Workers();
    REQUIRE(workers.size() == 1);
    const std::string sid = workers.at(0).at("sid");
    CHECK(Rec(workers.at(0)).at("note") == "grid from the dialogue");
    CHECK(Rec(workers.at(0)).at("priority") == "high");
    CHECK(Rec(workers.at(0)).at("executionMode") == "leader");
    CHECK(Rec(workers.at(0)).at("accountId") == "g-bhts");
    pty.Send("show " + sid.substr(0, 4) + "\t\r");
    at = pty.WaitFor("Worker " + sid, at);
    at = pty.WaitFor("ami s-0001> ", at);

    // History: up-arrow recalls the previous command.
    pty.Send("help note\r");
    at = pty.WaitFor("usage: note SID TEXT", at);
    at = pty.WaitFor("ami s-0001> ", at);
    pty.Send("\x1b[A\r");
    at = pty.WaitFor("usage: note SID TEXT", at);
    at = pty.WaitFor("ami s-0001> ", at);

    // Ctrl-C drops the line being typed; the shell stays.
    pty.Send("workers --wi");
    pty.Send("\x03");
    at = pty.WaitFor("ami s-0001> ", at);
    pty.Send("help exit\r");
    at = pty.WaitFor("usage: exit", at);
    at = pty.WaitFor("ami s-0001> ", at);

    // An error does not end the session.
    pty.Send("show 0000dead\r");
    at = pty.WaitFor("ami: no worker with a sid starting with \"0000dead\"", at);
    at = pty.WaitFor("ami s-0001> ", at);

    pty.Send("exit\r");
    CHECK(pty.Wait() == 0);
  }
  // The history was saved (mode 0600) and a new session recalls it.
  const std::string history = ReadFile(node.dir() / "history");
  CHECK(Contains(history, "help"));
  struct stat st {};
  REQUIRE(stat((node.dir() / "history").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  {
    Pty pty(env);
    size_t at = pty.WaitFor("ami s-0001> ", 0, 1, std::chrono::seconds(60));
    // Back through the previous session: exit, show 0000dead, help exit, help note.
    pty.Send("\x1b[A\x1b[A\x1b[A\x1b[A\r");
    at = pty.WaitFor("usage: note SID TEXT", at);
    pty.Send("\x04");  // Ctrl-D leaves
    CHECK(pty.Wait() == 0);
  }
}
