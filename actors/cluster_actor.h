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
//   (cattach, LeaseListener)           the node actor, to tell about leases and members
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
#include <caf/typed_actor.hpp>

#include <memory>

#include "actors/store_actor.h"
#include "actors/worker_actor.h"
#include "runtime/cluster/cluster_gauges.h"
#include "runtime/config/config.h"

namespace ami {

// Who hears of leases and members (the node actor).
using LeaseListener = caf::typed_actor<caf::reacts_to<lease_changed_atom, std::string, bool, LeaderGrant>,
                                       caf::reacts_to<node_status_atom, std::string, bool>>;

// What this process may ask of the cluster actor. The handle is typed; the actor itself
// is not, because it also serves the peers' wire protocol (docs/cluster.md) through the
// peer gate, behind RemoteGuarded (actors/remote_guard.h), which CAF 0.17 offers for
// dynamically typed actors only. Local commands from another process are refused.
using ClusterActor = caf::typed_actor<caf::reacts_to<attach_atom, LeaseListener>,
                                      caf::reacts_to<want_lease_atom, std::string, bool>,
                                      caf::replies_to<members_atom>::with<std::string>,
                                      caf::replies_to<cluster_stats_atom>::with<std::string>,
                                      caf::replies_to<faults_atom, std::string>::with<std::string>,
                                      caf::replies_to<shutdown_atom>::with<bool>>;

// What the cluster actor is given — exactly what it uses.
struct ClusterContext {
  Config config;                                 // node id, cluster: section
  std::string network;                           // cluster name, or "local"
  std::shared_ptr<HybridClock> clock;            // heartbeats' stamps, skew checks
  std::shared_ptr<StatsRegistry> stats;          // this node's summary for peers
  std::shared_ptr<cluster::MemberView> members;  // kept current here, read by workers
  StoreActor store;                              // replication, leader records
  std::shared_ptr<cluster::ClusterGauges> gauges;  // peers and leases for /metrics; may be null
};

// The context for the node whose workers share `env`.
ClusterContext MakeClusterContext(const Config& config, const WorkerEnvironment& env, StoreActor store);

ClusterActor SpawnClusterActor(caf::actor_system& system, ClusterContext context);

// The untyped handle the peer gate forwards peers' messages to.
caf::actor PeerFacing(const ClusterActor& cluster);

}  // namespace ami
