// Every message type the node's actors exchange, registered in one CAF type-ID block.
//
// Messages that stay inside one process carry C++ structs (records, KV requests, run
// slots) allowed as "unsafe" local message types: they must never be sent to another
// process. Types that cross the wire (cluster, admin) are in actors/wire.h with an
// inspect() each and a CAF_ADD_TYPE_ID entry below, so every process registers the
// same list.
//
// Atom texts are at most 10 characters and must differ from CAF's own atom texts
// ("tick", "ok", "get", …): atoms are compared by text.
#pragma once

#include <caf/all.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "actors/wire.h"
#include "runtime/exec/run_queue.h"
#include "runtime/model/worker_record.h"
#include "runtime/node/worker_catalog.h"
#include "runtime/store/kv_protocol.h"
#include "runtime/store/store.h"

// Worker-only payloads (runtime/js/engine.h); declared here so that the node, store,
// cluster and admin actors talk without including the V8 engine.
namespace ami::js {
struct ExchangeReply;
class StopSwitch;
}  // namespace ami::js

namespace ami {

// A change to a watched key, pushed by the store actor after a commit.
struct KvChange {
  kv::Space space = kv::Space::kLocal;
  kv::Key key;
  bool remote = false;  // applied from a peer's replication batch, not written here
};

// What a leader-mode worker may do under its lease. The cluster actor hands it to the
// node actor, which passes it to the worker: `term` is the fencing token sent with every
// exchange call; after `valid_until` (this process's steady clock: the lease end minus
// the safety margin) the worker must not execute — it is stopped and its isolate is not
// entered again.
struct LeaderGrant {
  std::string node;
  uint64_t term = 0;
  int64_t expires_at_ms = 0;                          // wall epoch ms, for Stels.leader
  std::chrono::steady_clock::time_point valid_until;  // monotonic, for enforcement
};

// The replication state of the store's network space (store actor → cluster actor).
struct ReplState {
  std::string store_incarnation;  // random id made when the database file was created
  uint64_t last_versionstamp = 0;
};

}  // namespace ami

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::RunQueue::SlotPtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::kv::Request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::kv::Reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::js::ExchangeReply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::WorkerRecord)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::KvChange)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::kv::Key)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<ami::js::StopSwitch>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::LeaderGrant)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::ReplState)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::WorkerChange)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::WorkerReply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::WorkerListing)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::NewWorker)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::WorkerPut)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::WorkerEdit)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::WorkerDelete)

CAF_BEGIN_TYPE_ID_BLOCK(ami, caf::first_custom_type_id)
  // store actor
  CAF_ADD_ATOM(ami, ami, kv_atom, "kv")             // (kv, kv::Request) -> kv::Reply
  CAF_ADD_ATOM(ami, ami, watch_atom, "kvwatch")     // (kvwatch, Space, Key prefix, actor): push KvChange
  CAF_ADD_ATOM(ami, ami, meta_atom, "kvmeta")       // (kvmeta, name) -> string; (kvmeta, name, value)
  CAF_ADD_ATOM(ami, ami, sweep_atom, "kvsweep")     // periodic expiry sweep
  CAF_ADD_ATOM(ami, ami, flush_atom, "kvflush")     // group commit of the queued writes
  CAF_ADD_ATOM(ami, ami, changed_atom, "kvchanged") // (kvchanged, KvChange) to watchers
  // worker actor
  CAF_ADD_ATOM(ami, ami, iterate_atom, "iterate")   // (iterate, gen): start the next call
  CAF_ADD_ATOM(ami, ami, slot_atom, "runslot")      // (runslot, SlotPtr): a run slot was granted
  CAF_ADD_ATOM(ami, ami, timer_atom, "jstimer")     // (jstimer, engine gen, request id)
  CAF_ADD_ATOM(ami, ami, cex_atom, "cexreply")      // (cexreply, engine gen, request id, ExchangeReply)
  CAF_ADD_ATOM(ami, ami, stop_atom, "wstop")        // graceful stop
  CAF_ADD_ATOM(ami, ami, reload_atom, "wreload")    // (wreload, WorkerRecord): hot reload
  CAF_ADD_ATOM(ami, ami, deadline_atom, "wdeadline")// (wdeadline, gen): stop grace period over
  // node actor
  CAF_ADD_ATOM(ami, ami, failed_atom, "wfailed")    // (wfailed, sid, message): budget spent / cannot run
  CAF_ADD_ATOM(ami, ami, shutdown_atom, "shutdown") // (shutdown) -> ok once every worker stopped
  CAF_ADD_ATOM(ami, ami, started_atom, "nstarted")  // (nstarted) -> number of workers running
  CAF_ADD_ATOM(ami, ami, attach_atom, "cattach")         // (cattach, node actor): cluster actor learns the node actor
  CAF_ADD_ATOM(ami, ami, want_lease_atom, "wantlease")   // node → cluster: (wantlease, sid, bool want)
  CAF_ADD_ATOM(ami, ami, lease_changed_atom, "leasechg") // cluster → node: (leasechg, sid, bool held, LeaderGrant)
  CAF_ADD_ATOM(ami, ami, node_status_atom, "nodeup")     // cluster → node: (nodeup, node id, bool up)
  CAF_ADD_ATOM(ami, ami, grant_atom, "wgrant")           // node → worker: (wgrant, LeaderGrant) renewed lease
  // store actor: replication of the network space
  CAF_ADD_ATOM(ami, ami, repl_changes_atom, "replchg")   // (replchg, uint64 after, uint32 limit) -> wire::ReplBatch
  CAF_ADD_ATOM(ami, ami, repl_apply_atom, "replapply")   // (replapply, wire::ReplBatch, meta name, meta value) -> uint64 rows applied (error: nothing written)
  CAF_ADD_ATOM(ami, ami, repl_state_atom, "replstate")   // (replstate) -> ReplState
  CAF_ADD_ATOM(ami, ami, repl_digest_atom, "repldigest") // (repldigest) -> uint64 hash of the network space
  CAF_ADD_ATOM(ami, ami, repl_sync_atom, "replsync")     // (replsync) -> bool: deferred applies made durable
  // cluster actor ↔ peers (only after the handshake, except hello/auth)
  CAF_ADD_ATOM(ami, ami, hello_atom, "chello")           // (chello, wire::Hello) -> wire::HelloReply
  CAF_ADD_ATOM(ami, ami, auth_atom, "cauth")             // (cauth, wire::Auth) -> bool
  CAF_ADD_ATOM(ami, ami, heartbeat_atom, "cbeat")        // (cbeat, wire::Heartbeat)
  CAF_ADD_ATOM(ami, ami, repl_push_atom, "replpush")     // (replpush, wire::ReplBatch)
  CAF_ADD_ATOM(ami, ami, repl_pull_atom, "replpull")     // (replpull, uint64 after) -> wire::ReplBatch
  CAF_ADD_ATOM(ami, ami, lease_atom, "clease")           // (clease, cluster::LeaseMsg)
  CAF_ADD_ATOM(ami, ami, peer_stats_atom, "cstats")      // (cstats) -> JSON text: this node's stats summary
  // cluster actor, local questions (admin service)
  CAF_ADD_ATOM(ami, ami, members_atom, "members")        // (members) -> JSON text: nodes and their state
  CAF_ADD_ATOM(ami, ami, cluster_stats_atom, "cstatsall")// (cstatsall) -> JSON text: {node id: stats summary}
  CAF_ADD_ATOM(ami, ami, faults_atom, "faults")          // (faults, JSON text {"drop":[node ids]}) -> JSON text (test only)
  // admin service
  CAF_ADD_ATOM(ami, ami, admin_atom, "admin")            // (admin, token, request JSON) -> reply JSON
  // worker catalog (actors/catalog_actor.h): the one writer of worker records
  CAF_ADD_ATOM(ami, ami, cat_get_atom, "catget")         // (catget, sid) -> WorkerReply
  CAF_ADD_ATOM(ami, ami, cat_list_atom, "catlist")       // (catlist) -> WorkerListing
  CAF_ADD_ATOM(ami, ami, cat_create_atom, "catcreate")   // (catcreate, NewWorker) -> WorkerReply
  CAF_ADD_ATOM(ami, ami, cat_put_atom, "catput")         // (catput, WorkerPut) -> WorkerReply
  CAF_ADD_ATOM(ami, ami, cat_update_atom, "catupdate")   // (catupdate, sid, WorkerEdit) -> WorkerReply
  CAF_ADD_ATOM(ami, ami, cat_deactivate_atom, "catdeact")// (catdeact, sid, reason) -> WorkerReply
  CAF_ADD_ATOM(ami, ami, cat_delete_atom, "catdelete")   // (catdelete, WorkerDelete) -> WorkerReply
  CAF_ADD_ATOM(ami, ami, cat_subscribe_atom, "catsub")   // (catsub, WorkerChangeSink): snapshot, then every change
  CAF_ADD_ATOM(ami, ami, worker_changed_atom, "wchanged")// catalog → node: (wchanged, WorkerChange)
  // cluster actor, its own timer (never accepted from another process)
  CAF_ADD_ATOM(ami, ami, tick_atom, "ctick")             // (ctick) lease timers, heartbeats, reconnects
  // wire types (actors/wire.h)
  CAF_ADD_TYPE_ID(ami, (ami::wire::Hello))
  CAF_ADD_TYPE_ID(ami, (ami::wire::HelloReply))
  CAF_ADD_TYPE_ID(ami, (ami::wire::Auth))
  CAF_ADD_TYPE_ID(ami, (ami::wire::Heartbeat))
  CAF_ADD_TYPE_ID(ami, (ami::wire::ReplRow))
  CAF_ADD_TYPE_ID(ami, (ami::wire::ReplBatch))
  CAF_ADD_TYPE_ID(ami, (ami::cluster::Ballot))
  CAF_ADD_TYPE_ID(ami, (ami::cluster::LeaseMsg))
  CAF_ADD_TYPE_ID(ami, (ami::wire::View))
CAF_END_TYPE_ID_BLOCK(ami)
