// The actors this node publishes: small gates in front of the actors that do the work,
// so that a port serves only its protocol (docs/security.md, docs/cluster.md).
//
//   peer gate  (cluster.listen) — the peer protocol only: (chello, Hello), (cauth, Auth),
//              (cbeat, Heartbeat), (replpush, ReplBatch), (replpull, uint64), (clease,
//              LeaseMsg), (cstats). Each is delegated to the cluster actor, so the
//              cluster actor sees the peer as the sender and answers it directly (its
//              handshake state is keyed by sender). Nothing else is accepted; local
//              commands (wantlease, shutdown, cattach, members, …) never get past it.
//   admin gate (admin.listen)   — (admin, token, request JSON) only, relayed to the admin
//              actor and its answer relayed back, so the admin actor's address never
//              leaves this process.
//
// Both are RemoteGuarded (actors/remote_guard.h): exit, error and forged down messages
// from other processes never stop them. They end only by an exit message from this
// process (LocalNode's shutdown).
#pragma once

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

namespace ami {

caf::actor SpawnPeerGate(caf::actor_system& system, caf::actor cluster);
caf::actor SpawnAdminGate(caf::actor_system& system, caf::actor admin);

}  // namespace ami
