// A whole node inside this process: store, actor system, store actor, worker catalog,
// cluster and node actors, and what the workers share. amid runs exactly one; tests and benchmarks start their own,
// so they exercise the same code paths as the daemon.
//
// The blocking helpers (Kv, PutWorker, GetWorker) are for tools and tests running on
// their own threads; actors never call them.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/base/status.h"
#include "runtime/config/config.h"
#include "runtime/exec/run_queue.h"
#include "runtime/store/kv_protocol.h"
#include "runtime/model/worker_record.h"
#include "runtime/model/worker_template.h"
#include "runtime/stats/worker_stats.h"

namespace caf {
class actor_system;
class actor;
}  // namespace caf

namespace ami {

class LocalNode {
 public:
  // Opens the store in config.node.data_dir, applies declared workers, starts the actor
  // system and the node; workers whose records are active start right away.
  // `startup_log` (optional) receives the lines worth telling the operator.
  static Result<std::unique_ptr<LocalNode>> Start(const Config& config,
                                                  std::vector<std::string>* startup_log = nullptr);
  ~LocalNode();  // Shutdown() with the configured grace if still running
  LocalNode(const LocalNode&) = delete;
  LocalNode& operator=(const LocalNode&) = delete;

  // Stops every worker gracefully (abort, grace period, terminate) and the actors.
  // kAborted when workers did not stop within `timeout` plus the longest exchange
  // timeout (a leader waits for its exchange calls before its lease is resigned).
  Status Shutdown(std::chrono::milliseconds timeout);

  const Config& config() const;
  StatsRegistry& stats();
  RunQueue& run_queue();
  caf::actor_system& system();
  int run_slots() const;

  // --- blocking helpers ---
  Result<kv::Reply> Kv(kv::Request request);
  // The entry at `key` (nullopt when absent), and the entries under `prefix` in key order.
  Result<std::optional<kv::Entry>> KvGet(kv::Space space, const kv::Key& key);
  Result<std::vector<kv::Entry>> KvList(kv::Space space, const kv::Key& prefix);
  // Through the worker catalog (actors/catalog_actor.h), like every writer: PutWorker
  // stores the record as it is (ValidateRecord, script check; moved when its scope
  // changed) and the node reconciles: starts, reloads or stops. DeleteWorker of an
  // absent sid is OK. GetWorker: the record in force (a local copy wins), or nullopt.
  Status PutWorker(const WorkerRecord& record);
  Status DeleteWorker(const std::string& sid);
  Result<std::optional<WorkerRecord>> GetWorker(const std::string& sid);
  // Worker actors alive on this node.
  int RunningWorkers();
  // Applies `workers` — the declarations of a re-read config file (amid on SIGHUP) — as
  // Start applied the config's: an absent one is created, one whose declaration changed
  // is updated, through the catalog. Nothing is removed: neither workers whose
  // declaration left the file nor any added through the admin API. Every template id is
  // checked before anything is written (a typo changes nothing). One line per action for
  // the node log; an error names the declaration's file:line:col. Declared sids come from
  // the running node id. Aborted after Shutdown.
  Result<std::vector<std::string>> ApplyDeclaredWorkers(const std::vector<WorkerDeclaration>& workers);
  // The admin service (docs/admin-api.md): reply JSON for a request JSON, as a remote
  // client would get it. Needs an `admin:` section.
  std::string Admin(const std::string& token, const std::string& request_json);
  // The port the admin service listens on (useful with admin.listen port 0); 0 = none.
  uint16_t admin_port() const;
  // The HTTP gateway's port (an `http:` section; useful with http.listen port 0); 0 = none.
  uint16_t http_port() const;

  // --- templates (from the template packs in config.plugin_dirs) ---
  // Every template, ordered by pack id then the pack's order; an id offered by two packs
  // is kept once (the first pack's).
  std::vector<WorkerTemplate> Templates() const;
  // Makes a record from template `id` with `overrides` (RecordFromTemplate), checks its
  // script and stores it; the node reconciles (an active record starts). NotFound listing
  // the known ids when there is no such template; InvalidArgument naming the field when
  // the result is not a valid record.
  Result<WorkerRecord> CreateFromTemplate(const std::string& id, const TemplateOverrides& overrides);

 private:
  struct Impl;
  explicit LocalNode(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ami
