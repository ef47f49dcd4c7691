// Every message type the node's actors exchange, registered in one CAF type-ID block.
//
// Today all of these stay inside one process, so the C++ structs they carry (records,
// KV requests, run slots) are allowed as "unsafe" local message types. Types that will
// cross the wire (cluster gossip, leases, admin) get an inspect() overload and a
// CAF_ADD_TYPE_ID entry here when they are added, so every node registers the same list.
//
// Atom texts are at most 10 characters and must differ from CAF's own atom texts
// ("tick", "ok", "get", …): atoms are compared by text.
#pragma once

#include <caf/all.hpp>

#include <memory>
#include <string>
#include <vector>

#include "runtime/exec/run_queue.h"
#include "runtime/js/engine.h"
#include "runtime/model/worker_record.h"
#include "runtime/store/store.h"

namespace ami {

// A change to a watched key, pushed by the store actor after a commit.
struct KvChange {
  kv::Space space = kv::Space::kLocal;
  kv::Key key;
};

}  // namespace ami

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::RunQueue::SlotPtr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::js::KvRequest)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::js::KvReply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::js::ExchangeReply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::WorkerRecord)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::KvChange)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ami::kv::Key)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<ami::js::StopSwitch>)

CAF_BEGIN_TYPE_ID_BLOCK(ami, caf::first_custom_type_id)
  // store actor
  CAF_ADD_ATOM(ami, ami, kv_atom, "kv")             // (kv, KvRequest) -> KvReply
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
CAF_END_TYPE_ID_BLOCK(ami)
