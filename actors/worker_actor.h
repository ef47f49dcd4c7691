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
// Leader mode: the worker runs only under a lease (LeaderGrant, actors/messages.h).
//   - No JavaScript runs without a valid grant or at/after its valid_until: every entry
//     into the isolate is checked first, and the engine watchdog terminates a run still
//     going at valid_until (the StopSwitch's hard deadline).
//   - When the lease ends the run ends ("lease lapsed": no error is counted, the
//     isolate is discarded, stats say `waiting: lease lapsed`) and the worker waits for
//     (wstop) or a fresh grant; a grant valid now resumes it with a fresh isolate (the
//     next iteration, or single mode's one call again).
//   - (wgrant, LeaderGrant): a renewal or a new term. Its term is the fencing token of
//     the following exchange calls (CallContext::term), Stels.leader reads
//     {node, term, expiresAt} from the next entry on, and valid_until moves.
//   Other modes ignore grants and call exchanges with term 0.
//
// Exchange calls: order creations (createOrder and its conveniences) get a
// params.clientOrderId made by the runtime unless the script gave one:
// "ami-<sid8>-<term>-<start>-<seq>" in leader mode, "ami-<sid8>-<start>-<seq>" otherwise
// (start = this actor's start time, Base36; seq counts this actor's ids). The term
// changes with every new leader; the start time keeps a restarted worker from repeating
// ids even where a term is handed out again (acceptors that forgot their state). One
// that fails with RequestTimeout or NetworkError — it may have reached the exchange — is
// sent again, same arguments and clientOrderId, after 100 ms and 400 ms
// (kOrderRetryDelays), never once the lease would have ended; the script sees the first
// success or the last failure.
// Every call runs on its exchange's bulkhead (actors/exchange_access.h): it answers by
// exchanges.<id>.timeout (RequestTimeout otherwise, even if the plugin stays hung) and
// carries the worker's LeaseGate: a call not yet sent when the lease ends (or after the
// worker stopped) is refused with PermissionDenied and never reaches the connector.
// A leader-mode worker asked to stop quits only once its exchange calls in flight have
// been answered or timed out (so at most the exchange's timeout later): the node gives
// the lease up only after the worker actor is gone, so when the next leader starts no
// call of this one is still queued, and each one sent was answered or passed its deadline.
//
// Every entry into the isolate first takes a run slot from the node's RunQueue, so
// that under contention critical workers run first. Nothing here blocks: KV operations
// go to the store actor, Stels.sleep() is a delayed message.
#pragma once

#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "actors/exchange_access.h"
#include "actors/messages.h"
#include "actors/store_actor.h"
#include "runtime/base/clock.h"
#include "runtime/cluster/cluster_gauges.h"
#include "runtime/cluster/member_view.h"
#include "runtime/config/config.h"
#include "runtime/exec/run_queue.h"
#include "runtime/js/stop_switch.h"
#include "runtime/log/log_feed.h"
#include "runtime/model/worker_record.h"
#include "runtime/node/worker_events.h"
#include "runtime/stats/worker_stats.h"

namespace ami {

// What scripts learn about the node they run on (Stels.*).
struct NodeFacts {
  std::string id;
  std::string network = "local";  // cluster name, or "local" on a single node
  int64_t start_ms = 0;           // Stels.startTime
};

// The node's services a worker calls.
struct WorkerServices {
  // The store actor. The owner clears it before the actor system shuts down: a strong
  // handle to a detached actor left in a live object keeps the system waiting for it.
  StoreActor store;
  std::shared_ptr<RunQueue> run_queue;                 // run slots, critical first
  std::shared_ptr<StatsRegistry> stats;                // the worker's counters and status
  std::shared_ptr<HybridClock> clock;
  std::shared_ptr<const ExchangeDirectory> exchanges;  // Stels.runtime.cex and each exchange's bulkhead; never null
  std::shared_ptr<cluster::MemberView> members;        // kept current by the cluster actor
  std::shared_ptr<LogFeed> logs;                       // every worker log line, for live followers
  std::shared_ptr<WorkerEventFeed> events;             // started/stopped/leases, for live watchers
  // Peers and leases as the cluster actor last saw them, for /metrics (workers do not use it).
  std::shared_ptr<cluster::ClusterGauges> cluster_gauges;
};

// The operator's settings that bound every worker.
struct WorkerSettings {
  LimitsSection limits;
  ExecutionSection execution;
  LogSection log;
  std::filesystem::path log_dir;  // <data_dir>/logs/workers
};

// What all workers of a node share: three capabilities. Set up once by the node;
// read-only afterwards (but for services.store, see above). The cluster actor gets only
// what it needs (ClusterContext), the worker catalog nothing of it.
struct WorkerEnvironment {
  NodeFacts node;
  WorkerServices services;
  WorkerSettings settings;
};

// The environment a node gives its workers, from its config: `store` must outlive it,
// `run_slots` sizes the run queue. Connector calls run on each exchange's own bulkhead
// (ExchangeDirectory, sized by exchanges.<id>.threads), not on a shared pool.
std::shared_ptr<WorkerEnvironment> MakeWorkerEnvironment(const Config& config, StoreActor store,
                                                         std::shared_ptr<HybridClock> clock,
                                                         std::shared_ptr<const ExchangeDirectory> exchanges,
                                                         int run_slots);

// `stop_switch` is shared with the node, which arms it whenever it asks this worker to
// stop or reload, so a script stuck in synchronous code is still ended on time; the
// worker sets its hard deadline from the lease.
// `grant` is required for a leader-mode record and ignored otherwise. A leader-mode
// worker spawned without one never runs JavaScript: it logs an error, its stats say
// `waiting: no lease`, and it starts only if a (wgrant) arrives.
// Who hears that a worker stopped by itself: (wfailed, sid, message). A message that
// contains kBudgetSpent is the error budget being spent (the node reports it as such);
// any other is a worker that could not run.
inline constexpr std::string_view kBudgetSpent = "consecutive critical errors";
using WorkerSupervisor = caf::typed_actor<caf::reacts_to<failed_atom, std::string, std::string>>;

// What the node may tell a worker; everything else it handles it sends itself.
using WorkerActor = caf::typed_actor<caf::reacts_to<stop_atom>,                   // graceful stop
                                     caf::reacts_to<reload_atom, WorkerRecord>,   // hot reload
                                     caf::reacts_to<grant_atom, LeaderGrant>>;    // renewed lease

WorkerActor SpawnWorker(caf::actor_system& system, std::shared_ptr<const WorkerEnvironment> env,
                       WorkerRecord record, WorkerSupervisor node,
                       std::shared_ptr<js::StopSwitch> stop_switch,
                       std::optional<LeaderGrant> grant = std::nullopt);

// Stels.config as the worker sees it.
std::string WorkerConfigJson(const WorkerEnvironment& env, const WorkerRecord& record);

}  // namespace ami
