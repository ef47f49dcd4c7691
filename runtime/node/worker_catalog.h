// The worker catalog's rules: everything about worker records that does not need an
// actor. The catalog actor (actors/catalog_actor.h) is the only code that writes worker
// records; it applies these rules to what it reads from the store. Tests call them
// directly.
//
// Where records live: ["ami","worker",<sid>] in the space of their scope (local or
// network). While a scope move is under way, or after two nodes wrote the same sid into
// different spaces, both spaces may hold one: then the LOCAL copy is the record in force
// (PickCurrent), everywhere — the catalog, the node, the admin API, declarations.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/config/config.h"
#include "runtime/model/worker_record.h"
#include "runtime/model/worker_template.h"
#include "runtime/store/store.h"

namespace ami {

// Where worker records live: ["ami","worker",<sid>].
kv::Key WorkerKey(const std::string& sid);
kv::Space SpaceOf(const WorkerRecord& record);

// A worker record as stored: the record, its entry's versionstamp and the space it is in.
struct StoredWorker {
  WorkerRecord record;
  uint64_t versionstamp = 0;
  kv::Space space = kv::Space::kLocal;

  bool operator==(const StoredWorker&) const = default;
};

// The sid of a worker key ["ami","worker",<sid>]; nullopt for any other key (more or
// fewer parts, a non-string sid).
std::optional<std::string> SidOfWorkerKey(const kv::Key& key);

// A stored worker record, checked before anything runs it (records can come from a
// declaration, the admin service, a peer's replication or a script that got past the
// keyspace guard): the value parses (RecordFromStoredValue), passes ValidateRecord, and
// its raw.sid equals `key_sid`, the sid in its key. Errors say which check failed.
Result<WorkerRecord> ReadStoredRecord(const std::string& key_sid, const std::string& value);

// The record in force when the local space holds `local` and the network space holds
// `network` (either may be absent): the local one when both exist. An entry that fails
// ReadStoredRecord does not count (it is reported through *problem, naming space and
// key, and the other copy, if valid, is in force).
std::optional<StoredWorker> PickCurrent(const std::string& sid, const std::optional<kv::Entry>& local,
                                        const std::optional<kv::Entry>& network, std::string* problem = nullptr);

// Every record in force in both spaces (PickCurrent per sid), ordered by sid. A stored
// value that does not pass ReadStoredRecord (or a key that is not a worker key) is
// skipped — and left in the store untouched — with a warning in *warnings naming its key.
Result<std::vector<StoredWorker>> LoadWorkerRecords(kv::Store& store, std::vector<std::string>* warnings);

// ---- what the catalog is asked and answers (actors/catalog_actor.h) ----------------------

// What the catalog tells its subscriber (the node actor) whenever the record in force for
// a sid changes, whoever changed it (the catalog itself, or a peer through replication).
struct WorkerChange {
  std::string sid;
  std::optional<StoredWorker> current;  // nullopt: there is no record any more
};

// A new worker: from template `template_id` (RecordFromTemplate) or, when it is empty,
// from the record defaults (NewWorkerRecord: active false unless given, a fresh sid
// unless fields.sid), with `fields` applied. `what` goes to the node log ("created").
struct NewWorker {
  std::string template_id;
  TemplateOverrides fields;
  std::string what = "created";
};

// A whole record to store as it is (declarations, LocalNode::PutWorker). `expected`:
// nullopt = write whatever is there; 0 = only if no record has this sid; otherwise the
// versionstamp of the record in force. A record whose scope differs from the space of the
// record in force is moved (see MoveSteps).
struct WorkerPut {
  WorkerRecord record;
  std::optional<uint64_t> expected;
  std::string what = "stored";
};

// A change to the record in force, merged into whatever is current when it is applied
// (ApplyEdit). `expected` set: Conflict unless the record is still at that versionstamp.
struct WorkerEdit {
  std::optional<uint64_t> expected;
  nlohmann::json changes = nlohmann::json::object();  // camelCase fields (RecordChangeFields)
  bool only_if_changed = false;  // start/stop: no write when the record already is so
  std::string what = "updated";  // for the node log: "updated (script, note)", "stopped"
};

struct WorkerDelete {
  std::string sid;
  std::optional<uint64_t> expected;  // the versionstamp of the record in force
};

// The answer to every catalog request: OK with the record now in force (none after a
// delete), or the error: NotFound, Conflict, InvalidArgument naming the field as clients
// know it, Aborted when the store did not answer, Internal for store errors.
struct WorkerReply {
  Status status;
  std::optional<StoredWorker> worker;
};

// One sid of a listing: its record in force, or why none of its entries can be read.
struct ListedWorker {
  std::string sid;
  std::optional<StoredWorker> worker;
  std::string error;  // when !worker
};
struct WorkerListing {
  Status status;
  std::vector<ListedWorker> workers;  // ordered by sid
};

// ---- the rules the catalog applies -----------------------------------------------------

// The record an edit makes of `current`: `edit.changes` merged shallowly (sid and nid are
// immutable — a different value is InvalidArgument "changes.sid: is immutable (stored
// \"…\")"; timestamp is ignored, the catalog sets it; "" for accountId/assignedNode means
// none), then ValidateRecord. Field errors are named "changes.<field>: …". The timestamp
// is left as it was.
Result<WorkerRecord> ApplyEdit(const WorkerRecord& current, const WorkerEdit& edit);

// Whether two records differ in anything but their timestamp.
bool SameIgnoringTimestamp(const WorkerRecord& a, const WorkerRecord& b);

// The record a NewWorker makes (node_id becomes its nid, now_ms its timestamp), checked
// with ValidateRecord; NotFound for an unknown template (UnknownTemplate).
Result<WorkerRecord> MakeNewRecord(const NewWorker& request, const std::vector<WorkerTemplate>& templates,
                                   const std::string& node_id, int64_t now_ms);

// The store commits that write `next` when `current` is the record in force (nullopt:
// none), in order. Same space: one compare-and-set on current's versionstamp. A scope
// move: (1) create in the new space, only if absent there; (2) delete the old entry, only
// if still at current's versionstamp. If (2) fails the catalog undoes (1) and retries.
struct StoreStep {
  kv::Space space = kv::Space::kLocal;
  std::vector<kv::Check> checks;
  std::vector<kv::Mutation> mutations;
};
std::vector<StoreStep> MoveSteps(const std::optional<StoredWorker>& current, const WorkerRecord& next);

// ---- declarations (YAML `workers:`) ----------------------------------------------------

// The sid a declaration gets: its `sid`, or a name-based UUID of node id + name.
std::string DeclaredSid(const Config& config, const WorkerDeclaration& declaration);

// What applying a declaration writes: nullopt when nothing changed since it was last
// applied (`applied_hash` equals its source_hash and a record exists). Otherwise the
// record to store: a new one (NewWorkerRecord, or RecordFromTemplate with the declared
// overrides), or `existing` updated — its nid kept, its note kept when the declaration
// gives none, timestamp now_ms. Errors name the declaration ("file:line:col: workers:
// grid: unknown template \"x\"; known: ...").
Result<std::optional<WorkerRecord>> PlanDeclaration(const Config& config, const WorkerDeclaration& declaration,
                                                    const std::optional<StoredWorker>& existing,
                                                    const std::string& applied_hash,
                                                    const std::vector<WorkerTemplate>& templates, int64_t now_ms);

// The store meta entry that holds the hash of the declaration last applied to `sid`.
std::string DeclaredMetaName(const std::string& sid);

}  // namespace ami
