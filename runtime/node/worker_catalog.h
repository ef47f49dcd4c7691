// Reading worker records from the store and applying the workers declared in YAML.
// Used by amid at start-up, before the store is handed to its actor, so these work on
// a kv::Store directly and synchronously.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "runtime/config/config.h"
#include "runtime/model/worker_record.h"
#include "runtime/model/worker_template.h"
#include "runtime/store/store.h"

namespace ami {

// Where worker records live: ["ami","worker",<sid>].
kv::Key WorkerKey(const std::string& sid);
kv::Space SpaceOf(const WorkerRecord& record);

struct StoredWorker {
  WorkerRecord record;
  uint64_t versionstamp = 0;
};

// The sid of a worker key ["ami","worker",<sid>]; nullopt for any other key (more or
// fewer parts, a non-string sid).
std::optional<std::string> SidOfWorkerKey(const kv::Key& key);

// A stored worker record, checked before anything runs it (records can come from a
// declaration, the admin service, a peer's replication or a script that got past the
// keyspace guard): the value parses (RecordFromStoredValue), passes ValidateRecord, and
// its raw.sid equals `key_sid`, the sid in its key. Errors say which check failed.
Result<WorkerRecord> ReadStoredRecord(const std::string& key_sid, const std::string& value);

// Every record in both spaces. A stored value that does not pass ReadStoredRecord (or a
// key that is not a worker key) is skipped — and left in the store untouched — with a
// warning in *warnings naming its key.
Result<std::vector<StoredWorker>> LoadWorkerRecords(kv::Store& store, std::vector<std::string>* warnings);

// Creates each declared worker that is absent and updates one whose declaration
// changed since it was last applied (the declaration's hash is kept in the store's meta
// table), keeping its sid and nid. A record moved between scopes is deleted from the old
// space. Returns one line per action for the node log.
//
// A declaration with `template:` makes its record with RecordFromTemplate from the
// template of that id in `templates`; the fields the declaration gives (its `given`
// keys) are the overrides, and `active` is true unless given. An unknown template id is
// an InvalidArgument naming the declaration ("file:line:col: workers: grid: unknown
// template \"x\"; known: ...").
Result<std::vector<std::string>> ApplyDeclarations(kv::Store& store, const Config& config, int64_t now_ms,
                                                   const std::vector<WorkerTemplate>& templates = {});

// The overrides a template declaration stands for (its given fields; active true unless given).
TemplateOverrides DeclarationOverrides(const WorkerDeclaration& declaration);

// The sid a declaration gets: its `sid`, or a name-based UUID of node id + name.
std::string DeclaredSid(const Config& config, const WorkerDeclaration& declaration);

}  // namespace ami
