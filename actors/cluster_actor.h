// The cluster actor: this node's member of the cluster — membership, the replicated
// network KV, and leader leases. Without a `cluster:` section it is a cluster of one
// (majority 1), so single-node and multi-node placement run the same code.
//
// Peers (see docs/cluster.md):
//   - Each node publishes its cluster actor on cluster.listen and connects to every
//     peer with retry and back-off; a peer is served nothing before the handshake
//     (hello → reply with HMAC proof → auth with HMAC proof) proves it knows the
//     cluster name and secret. Heartbeats mark peers up / suspect / down.
//   - Writes to the network space are pushed to peers at once; each heartbeat carries
//     the sender's highest versionstamp, and a peer that is behind pulls the rest
//     (anti-entropy), so a node that was down or cut off catches up.
//   - Leader leases: PaxosLease (runtime/cluster/lease_manager.h) over the peers.
//
// Local protocol (messages.h):
//   (cattach, node actor)              the node actor to tell about leases and members
//   (wantlease, sid, bool)             node → cluster: this node wants / no longer wants sid's lease
//   → node (leasechg, sid, held, LeaderGrant), (nodeup, node id, bool up)
//   (members) -> JSON text, (cstatsall) -> JSON text, (faults, JSON) -> JSON text
//   (shutdown) -> bool                 resign every lease, say goodbye; answered when done
#pragma once

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <memory>

#include "actors/worker_actor.h"
#include "runtime/config/config.h"

namespace ami {

struct ClusterContext {
  Config config;
  std::shared_ptr<const WorkerEnvironment> env;  // node id, clock, stats
  caf::actor store;
};

caf::actor SpawnClusterActor(caf::actor_system& system, ClusterContext context);

}  // namespace ami
