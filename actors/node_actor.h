// The node actor: decides which workers run here and keeps their actors in line with
// their records.
//
// It subscribes to the worker catalog (actors/catalog_actor.h), which sends it the record
// in force for every worker at start and on every change (created, edited, activated,
// deleted, moved, replicated from a peer); it never reads the store. Per change it
// reconciles that worker:
//   should run here = record.active && placement says "here"
//   placement: parallel → every node; exclusive → only on assignedNode;
//              leader → only while this node holds the worker's lease
// and spawns, reloads (script or settings changed) or stops the worker actor; the
// decision is DecidePlacement (runtime/node/placement.h). For active leader-mode records
// it asks the cluster actor for the lease (wantlease) and starts, renews (wgrant) or
// stops the worker as leases come and go (leasechg). Membership news (nodeup) refreshes
// the status of exclusive workers whose node is down. A worker that fails by itself
// (budget spent, script does not compile) is set inactive through the catalog
// (catdeact), which keeps an edit made meanwhile; the reason is in its stats.
//
// (shutdown) stops every worker gracefully — abort, grace period, terminate — and is
// answered once all have stopped.
#pragma once

#include <caf/fwd.hpp>
#include <caf/typed_actor.hpp>

#include <memory>

#include "actors/catalog_actor.h"
#include "actors/cluster_actor.h"
#include "actors/worker_actor.h"
#include "runtime/node/placement.h"  // RunsHere
#include "runtime/node/worker_catalog.h"

namespace ami {

using NodeActor = WorkerChangeSink::extend_with<LeaseListener>::extend<
    caf::reacts_to<failed_atom, std::string, std::string>,  // a worker stopped by itself
    caf::replies_to<started_atom>::with<int>,               // worker actors alive
    caf::replies_to<shutdown_atom>::with<bool>>;            // stop every worker

// Subscribes to `catalog` (the records, then every change) and attaches to `cluster`
// (leases, members). The records it runs come from the catalog's events only.
NodeActor SpawnNode(caf::actor_system& system, std::shared_ptr<const WorkerEnvironment> env, CatalogActor catalog,
                    ClusterActor cluster);

}  // namespace ami
