// Copies of a node's store file (<data_dir>/node.db) taken while the node runs, and the
// way back: `ami backup FILE` (the admin op node.backup) and `amid --restore FILE`
// (docs/operations.md, "Backup and restore").
//
// A backup holds the whole store: worker records of both scopes, the KV of both spaces,
// the declared-worker hashes and replication cursors. Not the node's other files
// (admin.token, the node-local CA in tls/, logs), which do not change and are copied once.
#pragma once

#include <cstdint>
#include <filesystem>

#include "runtime/base/status.h"
#include "runtime/store/store.h"

namespace ami::kv {

struct BackupInfo {
  uint64_t bytes = 0;      // size of the file written
  int64_t millis = 0;      // how long the copy took
};

// Writes a consistent copy of the SQLite database `db` (a store another connection is
// using) to `out`. SQLite's online backup API on a read connection of its own: in WAL
// mode that reads one snapshot of the file, so the node's store keeps committing while
// the copy runs, and the copy is every commit up to its start. The copy goes to a
// temporary file beside `out`, created 0600 (the store holds scripts and KV values),
// fsynced, then hard-linked to `out` and unlinked, and the directory fsynced: `out`
// appears complete or not at all, and an existing `out` is never replaced.
// InvalidArgument (nothing written) when `out` is not absolute, its directory does not
// exist, or `out` exists; IOError naming the step otherwise. Blocking.
Result<BackupInfo> BackupStore(const std::filesystem::path& db, const std::filesystem::path& out);

// Puts the backup file `backup` in place as the store `db` of a stopped node. `db` must
// not exist (nor its -wal): a restore never replaces a store. The backup is copied to a
// temporary file beside `db`, checked (a SQLite file that passes quick_check and holds
// the store's tables), given a NEW incarnation (store.h: a peer's cursor for the old
// one would otherwise skip the writes made after the restore), opened once with
// Store::Open(options) — which migrates an older schema and refuses a newer one — and
// renamed to `db`. On failure nothing is left at `db`. InvalidArgument for a wrong
// `backup` or an existing `db`; IOError for the file operations.
Status RestoreStore(const std::filesystem::path& backup, const std::filesystem::path& db,
                    const StoreOptions& options);

}  // namespace ami::kv
