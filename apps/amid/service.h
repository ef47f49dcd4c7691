// What amid does as a system service (docs/operations.md, "Running a node"): it tells
// systemd how it is doing, re-applies the config file's declared workers on SIGHUP, and
// restores a store from a backup before a node starts.
#pragma once

#include <string>

#include "actors/local_node.h"
#include "runtime/base/status.h"
#include "runtime/config/config.h"

namespace ami::amid {

// sd_notify(3) through libsystemd, for a `Type=notify` unit: READY=1 once the node
// serves (its ports listen, its workers started), RELOADING=1 then READY=1 around a
// SIGHUP reload, STOPPING=1 when a stop begins. Each also sets STATUS= to `status`.
// Without NOTIFY_SOCKET in the environment (not started by systemd) they do nothing.
void NotifyReady(const std::string& status);
void NotifyReloading();
void NotifyStopping(const std::string& status);

// The SIGHUP reload: `reloaded` is the config file read again (with its scripts
// checked). Its `workers:` are applied to `node` (LocalNode::ApplyDeclaredWorkers:
// created or updated, never removed); every other section keeps its running value until
// a restart, and a changed node.id or node.data_dir refuses the reload. A file that does
// not load, or a declaration that cannot be applied, is logged as an error naming the
// file:line:col of each problem, and the node keeps running with what it had. Logs what
// it did; returns whether the reload was applied.
bool ApplyReload(LocalNode& node, const Config& running, const Result<Config>& reloaded);

// `amid --restore BACKUP --config FILE`: puts BACKUP (made by `ami backup`) in place as
// the store of the node FILE configures, whose data dir must hold no store yet
// (kv::RestoreStore in runtime/store/backup.h), and exits; the node then starts from it.
// Exit codes as amid's: 0 restored, 1 the restore failed, 2 an invalid config.
int Restore(const std::string& backup, const std::string& config_file);

}  // namespace ami::amid
