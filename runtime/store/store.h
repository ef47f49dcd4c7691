// The node's durable store: one SQLite file (WAL, synchronous=FULL, so a write is
// acknowledged only after it is durable) holding two Deno.Kv-shaped key spaces:
//   kLocal   – this node only (Stels.local, local worker records)
//   kNetwork – the replicated space (Stels.net, network worker records); see
//              "Replication" below.
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
// Replication (the cluster's gossiped network space): every replica holds every row of
// kNetwork, tombstones included. A peer reads "everything after my cursor" with
// ChangesSince() and hands the rows to ApplyRemote() on its side, which keeps, per key,
// the row with the larger (hlc, origin) — last writer wins, the same winner on every
// replica whatever the order rows arrive in. Versionstamps stay local: an applied row
// gets a fresh versionstamp of the receiving store, so the receiver's own peers see it
// in their next ChangesSince(). kLocal is never part of replication.
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
#include <utility>
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

// One row of the network space as replication ships it (ChangesSince / ApplyRemote).
struct ReplicaRow {
  Key key;
  bool deleted = false;                 // a tombstone; `value` is empty
  std::string value;                    // JSON text
  std::optional<int64_t> expires_at;    // wall epoch ms (absolute: the same instant on every replica)
  uint64_t hlc = 0;                     // stamp of the write that made the row
  std::string origin;                   // node that made that write
  uint64_t versionstamp = 0;            // this store's versionstamp (ChangesSince); ignored by ApplyRemote
};

// What ApplyRemote() did with a batch.
struct ApplyResult {
  std::vector<Key> changed;             // keys whose stored row was replaced, each once, in batch order
  uint64_t versionstamp = 0;            // the one new versionstamp the changed rows got; 0 when none changed
  size_t rejected = 0;                  // rows refused as invalid (not stale ones: those are just skipped)
  std::string first_error;              // the first refusal, naming the key and the field
};

// Limits on what a peer may send besides kMaxKeyBytes / kMaxValueBytes.
constexpr size_t kMaxOriginBytes = 256;

struct StoreOptions {
  std::string node_id;                  // origin of local writes
  std::chrono::milliseconds tombstone_grace{24 * 3600 * 1000};
  HybridClock* clock = nullptr;         // shared node clock; a private one when null
  // Tombstones are swept only once this many peers have acknowledged them (see
  // PeerAckName()); 0 = a single node, the grace period alone decides.
  size_t replication_peers = 0;
  // ApplyRemote refuses rows stamped further ahead of the local wall clock than this
  // (cluster.max_clock_skew); 0 = no limit.
  std::chrono::milliseconds max_clock_skew{0};
};

// The meta row in which the cluster keeps how far peer `node_id` has applied this
// store: value "<this store's incarnation>:<versionstamp>" (rows with another
// incarnation are ignored — they were for an earlier data directory).
std::string PeerAckName(const std::string& node_id);

class Store {
 public:
  // Opens (creating if needed) the database file and its parent directory.
  static Result<std::unique_ptr<Store>> Open(const std::filesystem::path& file, StoreOptions options);
  // Fault injection (admin faults.set with cluster.fault_injection, for the fault trials'
  // slow disk): every commit of every store in this process first sleeps `delay` — one
  // commit is one fsync of the WAL, so this is an fsync that much slower. 0 turns it off.
  static void SetFaultCommitDelay(std::chrono::milliseconds delay);
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
  // to drain its mailbox of writes at once. `meta` rows (SetMeta's name, value) are
  // written in the same transaction, after the operations, so they share the fsync.
  // `network_rows`, when given, receives the rows the batch wrote to the network space
  // exactly as ChangesSince() would return them (one per key and operation — the last
  // mutation of a key within one operation — in versionstamp order), so the cluster can
  // push them to its peers without reading them back.
  Result<std::vector<Result<CommitResult>>> CommitBatch(
      const std::vector<AtomicOperation>& operations,
      const std::vector<std::pair<std::string, std::string>>& meta = {},
      std::vector<ReplicaRow>* network_rows = nullptr);
  // Shorthands for a one-mutation commit; return the new versionstamp.
  Result<uint64_t> Set(Space space, const Key& key, std::string value,
                       std::optional<int64_t> expire_in_ms = std::nullopt);
  Result<uint64_t> Delete(Space space, const Key& key);

  // Removes expired entries and old tombstones; returns how many rows went. A tombstone
  // goes once it is older than the grace period AND, with replication_peers > 0, every
  // peer's acknowledgement (PeerAckName() meta rows for this incarnation, at least
  // replication_peers of them) has passed its versionstamp: a peer that never saw the
  // delete would otherwise keep the row alive (or bring it back). Acks of a node that
  // left the membership keep holding tombstones back until their meta row is removed.
  Result<size_t> SweepExpired();

  // Small key/value table for the node's own bookkeeping (e.g. declared-worker hashes).
  // Names starting with "kv." are the store's own (see Incarnation()).
  Result<std::optional<std::string>> GetMeta(const std::string& name);
  Status SetMeta(const std::string& name, const std::string& value);

  // --- replication of the network space ---

  // Rows of the network space with versionstamp > after, ascending by versionstamp
  // (then by key), tombstones and expired-but-not-yet-swept rows included. At most
  // `limit` rows (0 = no limit), except that the rows sharing one versionstamp (one
  // atomic commit, or one ApplyRemote call) are never split: the last group is finished
  // even past the limit. So after applying a result, "everything with versionstamp <=
  // the last row's" is applied and that versionstamp is a correct cursor.
  // A row removed by SweepExpired() is simply not returned (receivers expire and age
  // rows by the same absolute times).
  Result<std::vector<ReplicaRow>> ChangesSince(uint64_t after, size_t limit);

  // Applies rows from a peer in ONE transaction (one fsync), together with the optional
  // meta (name, value) write, so a cursor stored in meta moves exactly when the rows it
  // covers are durable. Each row is first validated — key valid and at most
  // kMaxKeyBytes encoded, origin non-empty and at most kMaxOriginBytes, hlc neither 0
  // nor above INT64_MAX nor more than max_clock_skew ahead of the local wall clock,
  // expires_at positive when given, value valid JSON of at most
  // kMaxValueBytes unless deleted; an invalid row is skipped, counted in `rejected`
  // (first message in `first_error`), and the rest of the batch still applies.
  // A valid row replaces the stored row for its key iff there is none or
  // (row.hlc, row.origin) > (stored.hlc, stored.origin); tombstones and expired rows
  // count as stored rows, so a newer tombstone deletes and a newer set resurrects,
  // and a stale or repeated row changes nothing. Replaced rows keep the row's hlc,
  // origin and expires_at (tombstones never expire: they are aged by their hlc) and
  // all get ONE new versionstamp of this store. Every valid row's hlc is folded into
  // the clock (HybridClock::Observe), so later local writes stamp higher.
  // A SQLite error fails the whole call: nothing is written, meta included.
  //
  // Durability::kDeferred commits without the fsync (SQLite synchronous=NORMAL): the
  // rows are visible at once and survive a crash of the process, but a power loss may
  // drop the last deferred applies — together with the meta row (the cluster's cursor)
  // that moved with them, so the node pulls them again. Sync() makes them durable; so
  // does any later durable commit (the fsync of the WAL covers what came before).
  enum class Durability { kSync, kDeferred };
  Result<ApplyResult> ApplyRemote(const std::vector<ReplicaRow>& rows,
                                  const std::optional<std::pair<std::string, std::string>>& meta,
                                  Durability durability = Durability::kSync);
  // Makes every deferred apply durable (one fsync when there is any; none otherwise).
  Status Sync();
  // Whether a deferred apply may not be durable yet (true after Open: the last process's
  // may not be).
  bool HasDeferred() const;

  // A random 128-bit id (32 lowercase hex digits) made when the database file is first
  // opened and the same on every later open: a new data directory is a new
  // incarnation, which tells peers that their cursors for this store mean nothing.
  Result<std::string> Incarnation();

  // The highest versionstamp among the network rows; 0 when there are none.
  Result<uint64_t> LastNetworkVersionstamp();

  // An order-independent 64-bit digest of the network rows not expired now, tombstones
  // included: the sum of a hash of (encoded key, hlc, origin, deleted) per row. Two
  // replicas holding the same rows have the same digest, whatever their versionstamps
  // or the order the rows arrived in. For detecting convergence (tests, benchmarks,
  // nodes.list). The first call scans the network rows; after that the sum is kept up
  // to date by every write, apply and sweep (and rows with an expiry are subtracted once
  // their time has come), so a later call costs no SQL — except after a sweep removed
  // tombstones or a transaction rolled back, which make the next call scan again.
  Result<uint64_t> NetworkDigest();
  // The same digest from a full scan, never from what is kept (tests compare the two).
  Result<uint64_t> NetworkDigestScan();

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ami::kv
