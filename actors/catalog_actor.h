// The worker catalog: the one actor that reads and writes worker records.
//
// Every writer goes through it — declarations at start-up, LocalNode's blocking helpers,
// the admin service (and so the shell and the HTTP gateway), and the node actor when a
// worker stops by itself. The rules it applies are in runtime/node/worker_catalog.h:
// which space's copy is in force (local wins), validation, defaults and templates, scope
// moves, and compare-and-set on versionstamps.
//
// Protocol (CatalogActor below; payloads in runtime/node/worker_catalog.h):
//   (catget, sid) -> WorkerReply              the record in force; NotFound
//   (catlist) -> WorkerListing                every sid, ordered, with unreadable ones named
//   (catcreate, NewWorker) -> WorkerReply     a new record (defaults or a template)
//   (catput, WorkerPut) -> WorkerReply        a whole record, CAS on `expected`
//   (catupdate, sid, WorkerEdit) -> WorkerReply   read, merge, CAS write; re-read and
//                                             merge again on a conflict with another
//                                             writer (a few times) unless `expected` is set
//   (catdeact, sid, reason) -> WorkerReply    the record in force, set inactive (its other
//                                             fields as they are now: an edit made just
//                                             before is kept); OK with no write when it is
//                                             already inactive or gone
//   (catdelete, WorkerDelete) -> WorkerReply  removes it from both spaces
//   (catsub, WorkerChangeSink)                the sink gets (wchanged, WorkerChange) for
//                                             every record now, then for every change
//   (kvchanged, KvChange)                     from the store's watch on ["ami","worker"]:
//                                             a peer's replication (or anything else that
//                                             wrote there) is read back and published;
//                                             the watch is in place once the catalog has
//                                             answered its first request
//
// Requests about one sid run one after another, in arrival order, each to its end (its
// store round trips included), so two writers through the catalog never overwrite each
// other and change events are published in the order the writes happened. A record's
// script is checked (CheckScript) before it is stored whenever it changed.
// Each write is logged ("catalog: <what> worker <sid>").
#pragma once

#include <caf/typed_actor.hpp>

#include <functional>
#include <vector>

#include "actors/messages.h"
#include "actors/store_actor.h"
#include "runtime/model/worker_template.h"
#include "runtime/node/worker_catalog.h"

namespace ami {

// Who hears of record changes (the node actor).
using WorkerChangeSink = caf::typed_actor<caf::reacts_to<worker_changed_atom, WorkerChange>>;

using CatalogActor = caf::typed_actor<
    caf::replies_to<cat_get_atom, std::string>::with<WorkerReply>,
    caf::replies_to<cat_list_atom>::with<WorkerListing>,
    caf::replies_to<cat_create_atom, NewWorker>::with<WorkerReply>,
    caf::replies_to<cat_put_atom, WorkerPut>::with<WorkerReply>,
    caf::replies_to<cat_update_atom, std::string, WorkerEdit>::with<WorkerReply>,
    caf::replies_to<cat_deactivate_atom, std::string, std::string>::with<WorkerReply>,
    caf::replies_to<cat_delete_atom, WorkerDelete>::with<WorkerReply>,
    caf::reacts_to<cat_subscribe_atom, WorkerChangeSink>,
    caf::reacts_to<changed_atom, KvChange>>;

struct CatalogContext {
  std::string node_id;                 // nid of the records it creates
  StoreActor store;
  std::vector<WorkerTemplate> templates;
  // OK, or InvalidArgument "script: SyntaxError: … (line 3)". Blocking; the catalog runs
  // detached so that it never holds a scheduler thread.
  std::function<Status(const std::string& script)> check_script;
  std::vector<StoredWorker> initial;   // the records in force at start (LoadWorkerRecords)
};

// Spawned detached. Ended with an exit message from this process.
CatalogActor SpawnCatalog(caf::actor_system& system, CatalogContext context);

}  // namespace ami
