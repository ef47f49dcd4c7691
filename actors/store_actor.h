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
//   (replstate) -> ReplState                    {Incarnation(), LastNetworkVersionstamp()}
//   (repldigest) -> uint64                      NetworkDigest()
//   (replstate / repldigest answer a caf::error on a store error.)
// Local commits notify watchers with remote = false.
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

using StoreActor = caf::typed_actor<
    caf::replies_to<kv_atom, kv::Request>::with<kv::Reply>,
    caf::reacts_to<watch_atom, kv::Space, kv::Key, KvWatcher>,
    caf::replies_to<meta_atom, std::string>::with<std::string>,
    caf::replies_to<meta_atom, std::string, std::string>::with<bool>,
    caf::replies_to<repl_changes_atom, uint64_t, uint32_t>::with<wire::ReplBatch>,
    caf::replies_to<repl_apply_atom, wire::ReplBatch, std::string, std::string>::with<uint64_t>,
    caf::replies_to<repl_state_atom>::with<ReplState>,
    caf::replies_to<repl_digest_atom>::with<uint64_t>>;

// `metrics` (may be null) counts and times every (kv) request: from its arrival here to
// its answer (docs/metrics.md, "KV").
StoreActor SpawnStoreActor(caf::actor_system& system, std::unique_ptr<kv::Store> store,
                           std::chrono::milliseconds sweep_interval = std::chrono::seconds(10),
                           std::shared_ptr<KvMetrics> metrics = nullptr);

}  // namespace ami
