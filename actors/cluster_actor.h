// The cluster actor: this node's member of the cluster — membership, the replicated
// network KV, and leader leases. Without a `cluster:` section it is a cluster of one
// (majority 1), so single-node and multi-node placement run the same code.
//
// Peers (see docs/cluster.md):
//   - Each node publishes a peer gate (actors/peer_gate.h) on cluster.listen, never this
//     actor, and connects to every peer's gate with retry and back-off; a peer is served
//     nothing before the handshake (hello → reply with HMAC proof → auth with HMAC proof)
//     proves it knows the cluster name and secret and shares this node's membership view
//     (runtime/cluster/membership.h: member addresses, lease ttl and margin); a second
//     node with an id already connected is refused. Heartbeats mark peers up / suspect /
//     down; a heartbeat or replicated row stamped more than cluster.max_clock_skew ahead
//     of the local clock is refused and logged.
//   - Peers learn this actor's address from its messages, so it is RemoteGuarded
//     (actors/remote_guard.h) and every local command below is refused unless its sender
//     is an actor of this process.
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
//   (ctick)                            its own timer (sent by itself only)
//   A leader record whose term is above 2^40 (no election gets there; a forged record)
//   is ignored when choosing where terms start, so it cannot stop leases being granted.
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
