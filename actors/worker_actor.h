// The worker actor: runs one worker's script in its own V8 isolate.
//
// Life of a worker:
//   start    – make the engine and compile the script (a syntax error fails the worker
//              at once: retrying cannot help);
//   loop     – call the script, wait for its promise, record the outcome, wait the
//              priority's delay (or the back-off after an error), call again;
//   single   – call once; the script loops itself; returning ends the worker; an error
//              restarts it after the back-off;
//   reload   – (wreload, record): abort the running call, wait up to the grace period,
//              start again with the new record (no restart for note-only changes);
//   stop     – (wstop): abort, grace period, then the run is terminated; the actor quits.
// A worker that spends its critical-error budget, or cannot compile, sends
// (wfailed, sid, message) to its node and quits.
//
// Every entry into the isolate first takes a run slot from the node's RunQueue, so
// that under contention critical workers run first. Nothing here blocks: KV operations
// go to the store actor, Stels.sleep() is a delayed message.
#pragma once

#include <caf/fwd.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include "actors/exchange_access.h"
#include "runtime/base/clock.h"
#include "runtime/config/config.h"
#include "runtime/exec/run_queue.h"
#include "runtime/js/engine.h"
#include "runtime/model/worker_record.h"
#include "runtime/stats/worker_stats.h"

namespace ami {

// What all workers of a node share. Set up once by the node; read-only afterwards.
struct WorkerEnvironment {
  std::string node_id;
  std::string network = "local";            // cluster name, or "local" on a single node
  caf::actor* store = nullptr;              // the store actor (owned by the node)
  std::shared_ptr<RunQueue> run_queue;
  std::shared_ptr<StatsRegistry> stats;
  std::shared_ptr<HybridClock> clock;
  LimitsSection limits;
  ExecutionSection execution;
  LogSection log;
  std::filesystem::path log_dir;            // <data_dir>/logs/workers
  int64_t node_start_ms = 0;                // Stels.startTime
  std::shared_ptr<const ExchangeDirectory> exchanges;  // Stels.runtime.cex; never null
  std::shared_ptr<ConnectorPool> connector_pool;       // where connector calls run
};

// `stop_switch` is shared with the node, which arms it whenever it asks this worker to
// stop or reload, so a script stuck in synchronous code is still ended on time.
caf::actor SpawnWorker(caf::actor_system& system, std::shared_ptr<const WorkerEnvironment> env,
                       WorkerRecord record, caf::actor node,
                       std::shared_ptr<js::StopSwitch> stop_switch);

// Stels.config as the worker sees it.
std::string WorkerConfigJson(const WorkerEnvironment& env, const WorkerRecord& record);

}  // namespace ami
