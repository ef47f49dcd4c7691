// The node's durable store: one SQLite file (WAL, synchronous=FULL, so a write is
// acknowledged only after it is durable) holding two Deno.Kv-shaped key spaces:
//   kLocal   – this node only (Stels.local, local worker records)
//   kNetwork – the replicated space (Stels.net, network worker records); the cluster
//              issue adds replication on top of the hlc/origin/tombstone columns.
//
// Values are JSON text, at most kMaxValueBytes. Keys are kv::Key (see kv_key.h).
// Every committed write gets a new versionstamp, the same for all mutations of one
// atomic commit. Entries set with expire_in vanish from reads once expired and are
// removed by SweepExpired(). Deletes in kNetwork leave tombstones (invisible to
// reads) so that replication can tell "deleted" from "never seen"; SweepExpired()
// drops tombstones older than the grace period. kLocal is never replicated, so its
// deletes remove the row at once. expire_in_ms must not be negative (0 = already
// expired). Keys must be non-empty, NaN-free and at most kMaxKeyBytes encoded, for
// reads too.
//
// Thread-compatible: one owner at a time (the store actor). Every error is a Status
// naming the operation and key.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/base/clock.h"
#include "runtime/base/status.h"
#include "runtime/store/kv_key.h"

namespace ami::kv {

enum class Space { kLocal, kNetwork };
const char* ToString(Space space);

constexpr size_t kMaxValueBytes = 64 * 1024;
constexpr size_t kMaxKeyBytes = 2 * 1024;

struct Entry {
  Key key;
  std::string value;          // JSON text
  uint64_t versionstamp = 0;
  uint64_t hlc = 0;           // hybrid clock stamp of the write (for last-writer-wins)
  std::string origin;         // node that made the write
};

struct ListOptions {
  Key prefix;                           // entries whose key extends prefix (prefix itself excluded)
  std::optional<Key> start;             // inclusive lower bound (within prefix if both given)
  std::optional<Key> end;               // exclusive upper bound
  size_t limit = 0;                     // 0 = no limit
  bool reverse = false;
};

struct Check {
  Key key;
  uint64_t versionstamp = 0;            // 0 = the key must be absent
};

struct Mutation {
  enum class Kind { kSet, kDelete };
  Kind kind = Kind::kSet;
  Key key;
  std::string value;                    // kSet: JSON text
  std::optional<int64_t> expire_in_ms;  // kSet: optional time to live
};

struct CommitResult {
  bool ok = false;                      // false: a check failed, nothing was written
  uint64_t versionstamp = 0;            // the commit's versionstamp when ok
};

// One Deno.Kv atomic operation, for CommitBatch().
struct AtomicOperation {
  Space space = Space::kLocal;
  std::vector<Check> checks;
  std::vector<Mutation> mutations;
};

struct StoreOptions {
  std::string node_id;                  // origin of local writes
  std::chrono::milliseconds tombstone_grace{24 * 3600 * 1000};
  HybridClock* clock = nullptr;         // shared node clock; a private one when null
};

class Store {
 public:
  // Opens (creating if needed) the database file and its parent directory.
  static Result<std::unique_ptr<Store>> Open(const std::filesystem::path& file, StoreOptions options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Result<std::optional<Entry>> Get(Space space, const Key& key);
  Result<std::vector<Entry>> List(Space space, const ListOptions& options);
  // Checks, then applies all mutations in one transaction. Validation errors (value
  // too large, not JSON, empty key) are returned as kInvalidArgument before anything
  // is written.
  Result<CommitResult> Commit(Space space, const std::vector<Check>& checks,
                              const std::vector<Mutation>& mutations);
  // Group commit: applies each operation as Commit() would, in order, inside ONE
  // SQLite transaction, so the batch costs one fsync instead of one per operation
  // (with synchronous=FULL the fsync, not SQLite, bounds single commits to a few
  // hundred per second on ordinary disks). Each operation gets its own result and
  // versionstamp; invalid input or a failed check affects only that operation, and
  // later operations see the writes of earlier ones. A SQLite error fails the whole
  // batch (nothing written) and is the returned Status. Meant for the store actor
  // to drain its mailbox of writes at once.
  Result<std::vector<Result<CommitResult>>> CommitBatch(const std::vector<AtomicOperation>& operations);
  // Shorthands for a one-mutation commit; return the new versionstamp.
  Result<uint64_t> Set(Space space, const Key& key, std::string value,
                       std::optional<int64_t> expire_in_ms = std::nullopt);
  Result<uint64_t> Delete(Space space, const Key& key);

  // Removes expired entries and old tombstones; returns how many rows went.
  Result<size_t> SweepExpired();

  // Small key/value table for the node's own bookkeeping (e.g. declared-worker hashes).
  Result<std::optional<std::string>> GetMeta(const std::string& name);
  Status SetMeta(const std::string& name, const std::string& value);

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ami::kv
