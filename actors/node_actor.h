// The node actor: decides which workers run here and keeps their actors in line with
// their records.
//
// It watches ["ami","worker"] in both KV spaces. Whenever a record changes (created,
// edited, activated, deleted, moved) it reconciles that worker:
//   should run here = record.active && placement says "here"
//   placement: parallel → every node; exclusive → only on assignedNode;
//              leader → the lease holder (a single node holds every lease)
// and spawns, reloads (script or settings changed) or stops the worker actor. A worker
// that fails by itself (budget spent, script does not compile) is set inactive in its
// record, with the reason in its stats.
//
// (shutdown) stops every worker gracefully — abort, grace period, terminate — and is
// answered once all have stopped.
#pragma once

#include <caf/fwd.hpp>

#include <memory>
#include <vector>

#include "actors/worker_actor.h"
#include "runtime/node/worker_catalog.h"

namespace ami {

// `initial` are the records read at start-up. `env->store` must stay valid.
caf::actor SpawnNode(caf::actor_system& system, std::shared_ptr<const WorkerEnvironment> env,
                     std::vector<StoredWorker> initial);

// Whether `record` runs on node `node_id` (single-node rules; the cluster adds leases).
bool RunsHere(const WorkerRecord& record, const std::string& node_id);

}  // namespace ami
