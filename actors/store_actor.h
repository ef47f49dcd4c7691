// The store actor owns the node's kv::Store. It is spawned detached, so SQLite I/O
// happens on its own thread and never holds a scheduler thread that runs workers.
//
// Protocol (StoreActor below; atoms and payloads in messages.h, kv::Request/Reply in
// runtime/store/kv_protocol.h):
//   (kv, kv::Request) -> kv::Reply           get / list / commit; commits that arrive
//                                                together share one transaction and fsync
//                                                (group commit) and are answered after it
//   (kvwatch, Space, Key prefix, KvWatcher)      after each commit, watchers of a
//                                                prefix get (kvchanged, KvChange) per key
//   (kvmeta, name) -> string                     "" when unset (queued writes are made first)
//   (kvmeta, name, value) -> bool                joins the group commit; true once durable
//
// Replication of the network space (the cluster actor's side of kv::Store's
// ChangesSince / ApplyRemote; see store.h for the row rules):
//   (replchg, uint64 after, uint32 limit) -> wire::ReplBatch
//        rows with versionstamp > after in versionstamp order, at most `limit` (0 = no
//        limit) but never splitting one versionstamp's rows; keys are kv::EncodeKey
//        bytes, expires_at 0 = never. store_incarnation = this store's incarnation,
//        upto = the last row's versionstamp (= after when there are none), more = the
//        limit was reached (there may be more). `node` is left empty for the caller.
//        A store error is logged and answered with an empty batch, upto = after.
//   (replapply, wire::ReplBatch, string meta_name, string meta_value) -> uint64
//        applies the batch's rows last-writer-wins in one transaction, together with
//        meta[meta_name] = meta_value when meta_name is not empty (a cursor moves
//        exactly with the rows it covers); answers the number of rows applied. Rows
//        that do not decode or validate are skipped (one warning per batch naming
//        batch.node, the count and one reason); the others still apply.
//        Watchers get (kvchanged, KvChange{kNetwork, key, remote = true}) per changed
//        key. A store error writes nothing (meta included) and is answered with a
//        caf::error (sec::runtime_error) carrying the message.
//        Applies are committed with kv::Store::Durability::kDeferred (no fsync of their
//        own: the rows and the cursor that moved with them are visible at once, and
//        a power loss can only take both back together, so the node pulls them again).
//   (replsync) -> bool                          makes the deferred applies durable (one
//        fsync when there are any); true when they are. The cluster acknowledges to a
//        peer only what a sync covered (tombstone sweeping relies on the acks).
//   (replstate) -> ReplState                    {Incarnation(), the highest versionstamp of
//        a network write so far} — kept in memory, no SQL
//   (repldigest) -> uint64                      NetworkDigest() (kept current by the store)
//   (replstate / repldigest answer a caf::error on a store error.)
//   (kvwatch, ReplFeed)                         after every commit that wrote network rows
//        and every apply that changed some, the feed gets (replchg, wire::ReplBatch): for a
//        local commit node = "" and the rows exactly as (replchg, after, limit) would
//        return them, with after = the highest network versionstamp before the commit and
//        upto = the commit's; for an apply node = the batch's sender, no rows, and the same
//        after/upto — so the cluster pushes local writes without reading them back and
//        always knows the store's last versionstamp (heartbeats need no store request).
// Local commits notify watchers with remote = false.
//
// Bench hook: SetReplicationTrace(true) (the cluster actor's, with cluster.fault_injection
// on and AMI_BENCH_REPL_TRACE=1 in the environment) logs one line per network row committed here
// ("repltrace commit <key> <wall µs>") and per row applied from a peer ("repltrace apply
// <key> <wall µs> <peer>"), taken right after the commit / apply returned; bench_cluster
// measures replication latency from them.
#pragma once

#include <caf/typed_actor.hpp>

#include <chrono>
#include <memory>

#include "actors/messages.h"
#include "runtime/stats/op_metrics.h"
#include "runtime/store/kv_protocol.h"
#include "runtime/store/store.h"

namespace ami {

// Whoever watches a key prefix: it is told of each change.
using KvWatcher = caf::typed_actor<caf::reacts_to<changed_atom, KvChange>>;

// The replication feed's listener (the cluster actor).
using ReplFeed = caf::typed_actor<caf::reacts_to<repl_changes_atom, wire::ReplBatch>>;

using StoreActor = caf::typed_actor<
    caf::replies_to<kv_atom, kv::Request>::with<kv::Reply>,
    caf::reacts_to<watch_atom, kv::Space, kv::Key, KvWatcher>,
    caf::reacts_to<watch_atom, ReplFeed>,
    caf::replies_to<meta_atom, std::string>::with<std::string>,
    caf::replies_to<meta_atom, std::string, std::string>::with<bool>,
    caf::replies_to<repl_changes_atom, uint64_t, uint32_t>::with<wire::ReplBatch>,
    caf::replies_to<repl_apply_atom, wire::ReplBatch, std::string, std::string>::with<uint64_t>,
    caf::replies_to<repl_sync_atom>::with<bool>,
    caf::replies_to<repl_state_atom>::with<ReplState>,
    caf::replies_to<repl_digest_atom>::with<uint64_t>>;

// `metrics` (may be null) counts and times every (kv) request: from its arrival here to
// its answer (docs/metrics.md, "KV").
// The bench hook above; process-wide, off by default.
void SetReplicationTrace(bool on);
bool ReplicationTrace();

StoreActor SpawnStoreActor(caf::actor_system& system, std::unique_ptr<kv::Store> store,
                           std::chrono::milliseconds sweep_interval = std::chrono::seconds(10),
                           std::shared_ptr<KvMetrics> metrics = nullptr);

}  // namespace ami
