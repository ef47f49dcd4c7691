#include "apps/amid/service.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <iostream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "runtime/config/node_files.h"
#include "runtime/store/backup.h"

namespace ami::amid {

namespace {

// STATUS= is one line: what sd_notify would take as the next assignment is cut.
std::string OneLine(std::string text) {
  if (const auto end = text.find('\n'); end != std::string::npos) text.resize(end);
  return text;
}

void Notify(const std::string& state) {
  // 0: keep NOTIFY_SOCKET for later notifications. A failure to reach systemd is not a
  // reason to stop serving; it is worth one line in the log.
  const int rc = sd_notify(0, state.c_str());
  if (rc < 0) spdlog::warn("sd_notify: cannot tell systemd \"{}\": error {}", OneLine(state), -rc);
}

}  // namespace

void NotifyReady(const std::string& status) { Notify("READY=1\nSTATUS=" + OneLine(status)); }

void NotifyReloading() {
  // MONOTONIC_USEC: newer systemd (Type=notify-reload) matches the reload by it.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const unsigned long long usec =
      static_cast<unsigned long long>(now.tv_sec) * 1000000ull + static_cast<unsigned long long>(now.tv_nsec) / 1000;
  Notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=reloading the declared workers");
}

void NotifyStopping(const std::string& status) { Notify("STOPPING=1\nSTATUS=" + OneLine(status)); }

bool ApplyReload(LocalNode& node, const Config& running, const Result<Config>& reloaded) {
  const std::string file = running.file.string();
  if (!reloaded.ok()) {
    spdlog::error("reload: {} has problems; the running configuration stays:", file);
    std::istringstream lines(reloaded.status().message());
    for (std::string line; std::getline(lines, line);) spdlog::error("reload: {}", line);
    return false;
  }
  if (reloaded->node.id != running.node.id || reloaded->node.data_dir != running.node.data_dir) {
    spdlog::error("reload: {}: node.id or node.data_dir changed (running: {} in {}); that needs a restart, "
                  "so the running configuration stays",
                  file, running.node.id, running.node.data_dir.string());
    return false;
  }
  auto actions = node.ApplyDeclaredWorkers(reloaded->workers);
  if (!actions.ok()) {
    std::istringstream lines(actions.status().message());
    for (std::string line; std::getline(lines, line);) spdlog::error("reload: {}", line);
    spdlog::error("reload: declared workers not applied; the running ones stay as they were");
    return false;
  }
  for (const auto& line : *actions) spdlog::info("reload: {}", line);
  spdlog::info("reload: {} declared workers in {}, {} created or updated; workers are never removed by a reload, "
               "and other sections take effect at the next restart",
               reloaded->workers.size(), file, actions->size());
  return true;
}

int Restore(const std::string& backup, const std::string& config_file) {
  auto config = LoadConfig(config_file);
  if (!config.ok()) {
    std::cerr << config.status().message() << "\n";
    return 2;
  }
  if (Status made = CreatePrivateDataDir(config->node.data_dir); !made.ok()) {
    std::cerr << "amid: " << made.message() << "\n";
    return 1;
  }
  const auto db = config->node.data_dir / "node.db";
  kv::StoreOptions options;
  options.node_id = config->node.id;
  if (Status restored = kv::RestoreStore(backup, db, options); !restored.ok()) {
    std::cerr << "amid: restore: " << restored.message() << "\n";
    return 1;
  }
  std::cout << "amid: restored " << backup << " into " << db.string() << " (node " << config->node.id
            << "); start the node to run it\n";
  return 0;
}

}  // namespace ami::amid
