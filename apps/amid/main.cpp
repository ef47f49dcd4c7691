// amid — the AMI node daemon.
//
//   amid --config FILE        run a node
//   amid --check-config FILE  validate FILE (and the scripts of declared workers); exit
//   amid --version            the version, and those of V8, CAF and the plugin ABI
//   amid --restore BACKUP --config FILE   put an `ami backup` file in place as the store
//                             of FILE's node (its data dir holds none yet); exit
//
// Running, it tells systemd when it is ready, reloading and stopping (Type=notify), and
// on SIGHUP re-applies FILE's declared workers (apps/amid/service.h).
//
// Exit codes: 0 ok; 1 cannot start (store, ports, …); 2 invalid configuration or usage.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <iostream>
#include <utility>

#include <spdlog/spdlog.h>

#include "actors/local_node.h"
#include "apps/amid/service.h"
#include "ami/version.h"
#include "runtime/config/config.h"
#include "runtime/config/node_files.h"
#include "runtime/config/plugin_dirs.h"
#include "runtime/js/v8_process.h"
#include "runtime/log/worker_log.h"

namespace {

constexpr const char* kUsage =
    "usage: amid --config FILE        run a node\n"
    "       amid --check-config FILE  validate a configuration and exit\n"
    "       amid --restore BACKUP --config FILE  restore a backup into FILE's empty data dir and exit\n"
    "       amid --version            print the versions of amid, V8, CAF and the plugin ABI\n";

// Loads the configuration and checks the scripts of declared workers, printing every
// problem as file:line:col: path: message.
ami::Result<ami::Config> LoadAndCheck(const std::string& file) {
  auto config = ami::LoadConfig(file);
  if (!config.ok()) return config;
  std::string problems;
  for (size_t i = 0; i < config->workers.size(); ++i) {
    const auto& w = config->workers[i];
    if (w.record.script.empty()) continue;
    if (ami::Status syntax = ami::js::CheckScriptSyntax(w.record.script); !syntax.ok())
      problems += w.where + ": workers[" + std::to_string(i) + "]." + syntax.message() + "\n";
  }
  if (!problems.empty()) {
    problems.pop_back();
    return ami::Status::InvalidArgument(problems);
  }
  return config;
}

// Thousands of workers each keep a log file open, and the HTTP gateway may hold
// http.max_connections sockets; the default soft limit of 1024 descriptors is too low for
// that. Returns the soft limit now in force (0 if unknown).
uint64_t RaiseFileLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  return static_cast<uint64_t>(lim.rlim_cur);
}

int RunNode(ami::Config config, const sigset_t& signals) {
  // A new data dir is private (0700) from the start: it holds the store, the logs and
  // the admin token. One that exists is left alone and warned about below.
  ami::Status log_status = ami::CreatePrivateDataDir(config.node.data_dir);
  if (log_status.ok())
    log_status = ami::InitNodeLog(config.node.data_dir, config.log.level, config.log.format, config.node.id);
  if (!log_status.ok()) {
    std::cerr << "amid: " << log_status.message() << "\n";
    return 1;
  }
  const uint64_t file_limit = RaiseFileLimit();
  spdlog::info("amid starting: node {} data {}", config.node.id, config.node.data_dir.string());
  spdlog::info("open file limit (RLIMIT_NOFILE): {}", file_limit);
  for (const auto& warning : ami::FilePermissionWarnings(config)) spdlog::warn("{}", warning);
  // Without plugins.dirs the node uses the plugins built or installed beside this
  // executable. That is decided here rather than in LoadConfig: where the running binary
  // lives is a fact of this process, and --check-config and the config tests keep seeing
  // exactly what the file says.
  const std::string plugins_line = ami::ApplyDefaultPluginDirs(&config, ami::RunningExecutable());
  if (!plugins_line.empty()) {
    if (config.plugin_dirs.empty()) spdlog::warn("{}", plugins_line);
    else spdlog::info("{}", plugins_line);
  }
  if (config.cluster)
    spdlog::info("cluster {}: {} configured peers, lease ttl {} ms", config.cluster->name, config.cluster->peers.size(),
                 config.cluster->lease.ttl.count());

  std::vector<std::string> startup_log;
  auto node = ami::LocalNode::Start(config, &startup_log);
  for (const auto& line : startup_log) spdlog::info("{}", line);
  if (!node.ok()) {
    spdlog::critical("cannot start: {}", node.status().message());
    spdlog::shutdown();
    return 1;
  }
  spdlog::info("node {} running with {} run slots; Ctrl-C or SIGTERM stops it, SIGHUP re-applies the declared workers",
               config.node.id, (*node)->run_slots());
  const std::string ready = "node " + config.node.id + " running";
  ami::amid::NotifyReady(ready);

  int signo = 0;
  for (;;) {
    sigwait(&signals, &signo);
    if (signo != SIGHUP) break;
    spdlog::info("received SIGHUP, re-reading the declared workers of {}", config.file.string());
    ami::amid::NotifyReloading();
    ami::amid::ApplyReload(**node, config, LoadAndCheck(config.file.string()));
    ami::amid::NotifyReady(ready);
  }
  ami::amid::NotifyStopping("stopping workers");
  spdlog::info("received {}, stopping workers", signo == SIGINT ? "SIGINT" : "SIGTERM");
  ami::Status stopped = (*node)->Shutdown(config.limits.stop_grace + std::chrono::seconds(5));
  if (!stopped.ok()) spdlog::error("{}", stopped.message());
  node->reset();
  spdlog::info("amid stopped");
  spdlog::shutdown();
  return stopped.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  // SIGINT/SIGTERM go to sigwait() in RunNode, not to whichever thread happens to run;
  // block them before any thread (V8's platform threads included) starts, so every
  // thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);  // a reload (systemctl reload); never ends amid
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (argc == 5) {  // --restore BACKUP --config FILE, in either order
    const std::string a = argv[1], c = argv[3];
    if (a == "--restore" && c == "--config") return ami::amid::Restore(argv[2], argv[4]);
    if (a == "--config" && c == "--restore") return ami::amid::Restore(argv[4], argv[2]);
  }

  if (argc == 3 && (std::string(argv[1]) == "--config" || std::string(argv[1]) == "--check-config")) {
    const bool check_only = std::string(argv[1]) == "--check-config";
    auto config = LoadAndCheck(argv[2]);
    if (!config.ok()) {
      std::cerr << config.status().message() << "\n";
      return 2;
    }
    if (check_only) {
      std::cout << argv[2] << ": ok (node " << config->node.id << ", " << config->workers.size()
                << " declared workers)\n";
      return 0;
    }
    return RunNode(std::move(*config), signals);
  }
  if (argc == 2 && std::string(argv[1]) == "--version") {
    std::cout << ami::build_info::VersionText("amid");
    return 0;
  }
  if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::cout << kUsage;
    return 0;
  }
  std::cerr << kUsage;
  return 2;
}
