// The store actor owns the node's kv::Store. It is spawned detached, so SQLite I/O
// happens on its own thread and never holds a scheduler thread that runs workers.
//
// Protocol (see messages.h):
//   (kv, js::KvRequest) -> js::KvReply           get / list / commit; commits that arrive
//                                                together share one transaction and fsync
//                                                (group commit) and are answered after it
//   (kvwatch, Space, Key prefix, actor)          after each commit, watchers of a
//                                                prefix get (kvchanged, KvChange) per key
//   (kvmeta, name) -> string                     "" when unset
//   (kvmeta, name, value) -> bool
#pragma once

#include <caf/fwd.hpp>

#include <chrono>
#include <memory>

#include "runtime/store/store.h"

namespace ami {

caf::actor SpawnStoreActor(caf::actor_system& system, std::unique_ptr<kv::Store> store,
                           std::chrono::milliseconds sweep_interval = std::chrono::seconds(10));

}  // namespace ami
