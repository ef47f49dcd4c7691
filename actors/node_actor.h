// The node actor: decides which workers run here and keeps their actors in line with
// their records.
//
// It watches ["ami","worker"] in both KV spaces. Whenever a record changes (created,
// edited, activated, deleted, moved) it reconciles that worker:
//   should run here = record.active && placement says "here"
//   placement: parallel → every node; exclusive → only on assignedNode;
//              leader → only while this node holds the worker's lease
// For active leader-mode records it asks the cluster actor for the lease
// (wantlease) and starts, renews (wgrant) or stops the worker as leases come and go
// (leasechg). Membership news (nodeup) refreshes the status of exclusive workers whose
// node is down.
// and spawns, reloads (script or settings changed) or stops the worker actor. A worker
// that fails by itself (budget spent, script does not compile) is set inactive in its
// record, with the reason in its stats — by compare-and-set on the versionstamp the node
// read, re-reading on conflict, so an edit made meanwhile is kept.
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

// `initial` are the records read at start-up. `env->store` must stay valid. `cluster` is
// the cluster actor (actors/cluster_actor.h).
caf::actor SpawnNode(caf::actor_system& system, std::shared_ptr<const WorkerEnvironment> env,
                     std::vector<StoredWorker> initial, caf::actor cluster);

// Whether `record` runs on node `node_id`, given whether this node holds its lease.
bool RunsHere(const WorkerRecord& record, const std::string& node_id, bool holds_lease);

}  // namespace ami
