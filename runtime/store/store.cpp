// The SQLite store (contract in store.h). Over 600 lines: one class over one schema —
// local and network spaces, atomic commits, expiry, and the replication half (changes,
// remote apply, cursors, acks, tombstone sweep) — which share prepared statements and
// transactions. Keys are encoded in kv_key.cpp.
#include "runtime/store/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <limits>
#include <map>
#include <set>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

namespace ami::kv {

namespace {
std::atomic<int64_t> g_fault_commit_delay_ms{0};  // see Store::SetFaultCommitDelay
}  // namespace

// On-disk layout (schema version 2, kept in PRAGMA user_version):
//
//   kv(space, key, value, versionstamp, expires_at, hlc, origin, deleted)
//     One row per (space, encoded key); WITHOUT ROWID so the primary key B-tree is
//     the table and a List() is a single range scan in memcmp order of the encoded
//     key. `value` is NULL for tombstones (deleted = 1). `expires_at` is wall epoch
//     ms; `hlc` and `origin` are what replication will compare (last writer wins) and
//     ship; `versionstamp` is this store's commit sequence, which is local to the
//     node (a replicated write gets a fresh local versionstamp when applied).
//     Index kv_changes(space, versionstamp) serves ChangesSince(): a WITHOUT ROWID
//     index carries the primary key too, so it is really (space, versionstamp, key)
//     and "after X, in versionstamp then key order" is one range scan, no sort.
//   meta(name, value)    – free-form bookkeeping for the node (GetMeta/SetMeta), and
//     the store's own "kv.incarnation", written once on the first open.
//   state(id = 0, versionstamp, hlc)
//     The last versionstamp handed out and the highest hlc written, bumped in the
//     same transaction as every commit so that versionstamps keep growing across
//     reopen and, on open, the clock is fast-forwarded past what the file already
//     holds (the wall clock may have stepped back while the node was down).
//
// Deletes in the network space leave tombstones so replication can tell "deleted"
// from "never seen"; the local space is never replicated, so its deletes remove the
// row outright instead of keeping garbage around for the grace period.
//
// Versions: 1 had no kv_changes index; opening a version-1 file adds it (2).
namespace {

constexpr int kSchemaVersion = 2;
constexpr int kBusyTimeoutMs = 5000;
constexpr size_t kMaxKeyInMessage = 120;

constexpr const char* kSchemaSql = R"sql(
CREATE TABLE kv(
  space INTEGER NOT NULL,
  key BLOB NOT NULL,
  value TEXT,
  versionstamp INTEGER NOT NULL,
  expires_at INTEGER,
  hlc INTEGER NOT NULL,
  origin TEXT NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(space, key)) WITHOUT ROWID;
CREATE INDEX kv_expiry ON kv(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX kv_tombstones ON kv(hlc) WHERE deleted = 1;
CREATE INDEX kv_changes ON kv(space, versionstamp);
CREATE TABLE meta(name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE state(id INTEGER PRIMARY KEY CHECK (id = 0),
                   versionstamp INTEGER NOT NULL, hlc INTEGER NOT NULL);
INSERT INTO state(id, versionstamp, hlc) VALUES(0, 0, 0);
PRAGMA user_version = 2;
)sql";

constexpr const char* kMigrateV1Sql = R"sql(
CREATE INDEX kv_changes ON kv(space, versionstamp);
PRAGMA user_version = 2;
)sql";

// The meta row holding Incarnation(). SQLite's randomblob() draws from a CSPRNG
// seeded by the OS, so two data directories never share an incarnation. OR IGNORE:
// of two first openers racing, the first one's id stays and both read it.
constexpr const char* kIncarnationMeta = "kv.incarnation";
constexpr const char* kMakeIncarnationSql =
    "INSERT OR IGNORE INTO meta(name, value) VALUES(?1, lower(hex(randomblob(16))))";

// Cached statements, prepared on first use and kept for the life of the store.
enum Sql : size_t {
  kBegin,
  kBeginRead,
  kCommit,
  kRollback,
  kGet,
  kListAsc,
  kListDesc,
  kPut,
  kRemove,
  kBumpVersionstamp,
  kReadVersionstamp,
  kSweepExpired,
  kSweepTombstones,
  kGetMeta,
  kSetMeta,
  kChanges,
  kChangesRest,
  kStampOf,
  kLastVersionstamp,
  kDigestRows,
  kListAcks,
  kSyncNormal,
  kSyncFull,
  kSyncMark,
  kSqlCount
};

// Visibility: a row is readable when it is not a tombstone and not expired at ?now.
#define AMI_KV_VISIBLE "deleted = 0 AND (expires_at IS NULL OR expires_at > ?3)"
constexpr std::array<const char*, kSqlCount> kSqlText = {
    "BEGIN IMMEDIATE",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SELECT value, versionstamp, hlc, origin FROM kv WHERE space = ?1 AND key = ?2 AND " AMI_KV_VISIBLE,
    "SELECT key, value, versionstamp, hlc, origin FROM kv WHERE space = ?1 AND key >= ?2 AND key < ?4 AND "
    AMI_KV_VISIBLE " ORDER BY key ASC LIMIT ?5",
    "SELECT key, value, versionstamp, hlc, origin FROM kv WHERE space = ?1 AND key >= ?2 AND key < ?4 AND "
    AMI_KV_VISIBLE " ORDER BY key DESC LIMIT ?5",
    "INSERT OR REPLACE INTO kv(space, key, value, versionstamp, expires_at, hlc, origin, deleted) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    "DELETE FROM kv WHERE space = ?1 AND key = ?2",
    // Not one UPDATE … RETURNING: RETURNING buffers its rows in an ephemeral table
    // whose page cache is allocated and freed on every call, which made each commit
    // several times slower (glibc returned the memory to the kernel each time).
    "UPDATE state SET versionstamp = versionstamp + 1, hlc = max(hlc, ?1) WHERE id = 0",
    "SELECT versionstamp FROM state WHERE id = 0",
    "DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?1",
    "DELETE FROM kv WHERE deleted = 1 AND hlc < ?1 AND versionstamp <= ?2",
    "SELECT value FROM meta WHERE name = ?1",
    "INSERT OR REPLACE INTO meta(name, value) VALUES(?1, ?2)",
    // Replication. kChangesRest finishes the versionstamp group a LIMIT cut into.
    "SELECT key, deleted, value, expires_at, hlc, origin, versionstamp FROM kv "
    "WHERE space = ?1 AND versionstamp > ?2 ORDER BY versionstamp, key LIMIT ?3",
    "SELECT key, deleted, value, expires_at, hlc, origin, versionstamp FROM kv "
    "WHERE space = ?1 AND versionstamp = ?2 AND key > ?3 ORDER BY key",
    "SELECT hlc, origin, deleted, expires_at FROM kv WHERE space = ?1 AND key = ?2",
    "SELECT versionstamp FROM kv WHERE space = ?1 ORDER BY versionstamp DESC LIMIT 1",
    "SELECT key, hlc, origin, deleted, expires_at FROM kv WHERE space = ?1",
    // PeerAckName() rows: "repl.acked." up to (not including) "repl.acked/".
    "SELECT value FROM meta WHERE name >= 'repl.acked.' AND name < 'repl.acked/'",
    // Durability of ApplyRemote (Durability::kDeferred) and Sync().
    "PRAGMA synchronous=NORMAL",
    "PRAGMA synchronous=FULL",
    "INSERT OR REPLACE INTO meta(name, value) VALUES('kv.synced', ?1)",
};
#undef AMI_KV_VISIBLE

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// One use of a cached statement. Resetting on scope exit matters: a statement left
// mid-step would keep a read transaction open and pin the WAL.
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Stmt() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void BindNull(int i) { sqlite3_bind_null(stmt_, i); }
  // SQLITE_STATIC: every bound buffer outlives the statement's use.
  void BindText(int i, std::string_view s) { sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC); }
  // A null pointer would bind NULL rather than an empty blob.
  void BindBlob(int i, std::string_view s) {
    sqlite3_bind_blob(stmt_, i, s.empty() ? "" : s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
  }
  int Step() { return sqlite3_step(stmt_); }

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool Null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string Text(int col) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }

 private:
  sqlite3_stmt* stmt_;
};

int SpaceId(Space space) { return space == Space::kLocal ? 0 : 1; }

// A key for messages: long keys are cut so a 2 KB key does not swamp the log line.
std::string KeyForMessage(const Key& key) {
  std::string s = KeyToString(key);
  if (s.size() <= kMaxKeyInMessage) return s;
  size_t cut = kMaxKeyInMessage;
  while (cut > 0 && (static_cast<uint8_t>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
  return s.substr(0, cut) + "...";
}

// Checks a key given to a read or a write; `what` is the operation for the message.
Status CheckKey(const Key& key, const std::string& encoded, const char* what) {
  if (key.empty()) return Status::InvalidArgument(std::string(what) + " []: key is empty");
  if (Status s = ValidateKey(key); !s.ok()) {
    return Status::InvalidArgument(std::string(what) + " " + KeyForMessage(key) + ": " + s.message());
  }
  if (encoded.size() > kMaxKeyBytes) {
    return Status::InvalidArgument(std::string(what) + " " + KeyForMessage(key) + ": key is " +
                                   std::to_string(encoded.size()) + " bytes encoded; the limit is " +
                                   std::to_string(kMaxKeyBytes));
  }
  return Status::OK();
}

// Encoded keys of one atomic operation, in the order of its checks and mutations.
struct EncodedKeys {
  std::vector<std::string> checks;
  std::vector<std::string> mutations;
};

// Everything Commit() refuses as kInvalidArgument, found before any SQL runs.
Result<EncodedKeys> ValidateCommit(const std::vector<Check>& checks, const std::vector<Mutation>& mutations) {
  EncodedKeys keys;
  keys.checks.reserve(checks.size());
  for (const Check& c : checks) {
    keys.checks.push_back(EncodeKey(c.key));
    if (Status s = CheckKey(c.key, keys.checks.back(), "check"); !s.ok()) return s;
  }
  keys.mutations.reserve(mutations.size());
  for (const Mutation& m : mutations) {
    const char* what = m.kind == Mutation::Kind::kSet ? "set" : "delete";
    keys.mutations.push_back(EncodeKey(m.key));
    if (Status s = CheckKey(m.key, keys.mutations.back(), what); !s.ok()) return s;
    if (m.kind != Mutation::Kind::kSet) continue;
    if (m.value.size() > kMaxValueBytes) {
      return Status::InvalidArgument("set " + KeyForMessage(m.key) + ": value is " + std::to_string(m.value.size()) +
                                     " bytes; the limit is " + std::to_string(kMaxValueBytes));
    }
    if (!nlohmann::json::accept(m.value)) {
      return Status::InvalidArgument("set " + KeyForMessage(m.key) + ": value is not valid JSON");
    }
    if (m.expire_in_ms && *m.expire_in_ms < 0) {
      return Status::InvalidArgument("set " + KeyForMessage(m.key) + ": expireIn is " +
                                     std::to_string(*m.expire_in_ms) + " ms; it must not be negative");
    }
  }
  return keys;
}

// Everything ApplyRemote() refuses in a row from a peer; `encoded` is EncodeKey(row.key).
Status ValidateReplica(const ReplicaRow& row, const std::string& encoded) {
  if (Status s = CheckKey(row.key, encoded, "apply"); !s.ok()) return s;
  const std::string what = "apply " + KeyForMessage(row.key);
  if (row.origin.empty()) return Status::InvalidArgument(what + ": origin is empty");
  if (row.origin.size() > kMaxOriginBytes) {
    return Status::InvalidArgument(what + ": origin is " + std::to_string(row.origin.size()) +
                                   " bytes; the limit is " + std::to_string(kMaxOriginBytes));
  }
  if (row.hlc == 0) return Status::InvalidArgument(what + ": hlc is 0");
  // Stored as SQLite's signed INTEGER: a larger stamp would compare as negative.
  if (row.hlc > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return Status::InvalidArgument(what + ": hlc " + std::to_string(row.hlc) + " is out of range");
  }
  if (row.deleted) return Status::OK();  // value and expiry of a tombstone are not kept
  if (row.expires_at && *row.expires_at <= 0) {
    return Status::InvalidArgument(what + ": expires_at is " + std::to_string(*row.expires_at) +
                                   "; it must be a positive wall time in ms");
  }
  if (row.value.size() > kMaxValueBytes) {
    return Status::InvalidArgument(what + ": value is " + std::to_string(row.value.size()) +
                                   " bytes; the limit is " + std::to_string(kMaxValueBytes));
  }
  if (!nlohmann::json::accept(row.value)) return Status::InvalidArgument(what + ": value is not valid JSON");
  return Status::OK();
}

// NetworkDigest's per-row hash: FNV-1a over length-prefixed fields (so ("ab","c") and
// ("a","bc") differ), finished with the SplitMix64 mixer so that summing the hashes
// of many rows does not cancel out structure. Fixed functions, not std::hash: every
// replica, build and process must compute the same value.
class RowHash {
 public:
  void Add(std::string_view bytes) {
    AddU64(bytes.size());
    for (unsigned char c : bytes) Byte(c);
  }
  void AddU64(uint64_t v) {
    for (int i = 0; i < 8; ++i) Byte(static_cast<unsigned char>(v >> (8 * i)));
  }
  uint64_t Finish() const {
    uint64_t z = h_ + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  void Byte(unsigned char c) {
    h_ ^= c;
    h_ *= 0x100000001b3ULL;
  }
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

uint64_t DigestOf(std::string_view encoded_key, uint64_t hlc, std::string_view origin, bool deleted) {
  RowHash h;
  h.Add(encoded_key);
  h.AddU64(hlc);
  h.Add(origin);
  h.AddU64(deleted ? 1 : 0);
  return h.Finish();
}

// NetworkDigest() kept current: the sum over every network row in the table (expired or
// not), and the rows with an expiry by time, so the digest at `now` is the sum minus the
// rows whose time has come. Only maintained once valid (the first NetworkDigest() call
// scans); anything it cannot follow exactly (a rollback, a tombstone sweep) invalidates
// it and the next call scans again.
struct DigestCache {
  bool valid = false;
  uint64_t all = 0;
  std::multimap<int64_t, uint64_t> expiring;  // expires_at → row digest

  void Invalidate() {
    valid = false;
    all = 0;
    expiring.clear();
  }
  void Add(uint64_t row, std::optional<int64_t> expires_at) {
    all += row;
    if (expires_at) expiring.emplace(*expires_at, row);
  }
  void Remove(uint64_t row, std::optional<int64_t> expires_at) {
    all -= row;
    if (!expires_at) return;
    auto [first, last] = expiring.equal_range(*expires_at);
    for (auto it = first; it != last; ++it) {
      if (it->second == row) {
        expiring.erase(it);
        return;
      }
    }
    Invalidate();  // not found: the cache no longer matches the table
  }
  // The sweep deleted every row with expires_at <= now.
  void Swept(int64_t now) {
    auto end = expiring.upper_bound(now);
    for (auto it = expiring.begin(); it != end; ++it) all -= it->second;
    expiring.erase(expiring.begin(), end);
  }
  uint64_t At(int64_t now) const {
    uint64_t digest = all;
    for (auto it = expiring.begin(); it != expiring.end() && it->first <= now; ++it) digest -= it->second;
    return digest;
  }
};

}  // namespace

const char* ToString(Space space) { return space == Space::kLocal ? "local" : "network"; }

struct Store::Impl {
  std::filesystem::path file;
  StoreOptions options;
  std::unique_ptr<HybridClock> own_clock;
  HybridClock* clock = nullptr;
  std::string incarnation;  // read once at open: it never changes for a file
  DigestCache digest;       // NetworkDigest(), kept current once computed
  // A Durability::kDeferred apply is not durable yet. True at open: the previous
  // process's deferred applies may still be only in the page cache.
  bool deferred = true;
  uint64_t syncs = 0;       // Sync() count, the value of its meta row
  DbPtr db;  // declared before stmts: statements are finalized before the close
  std::array<StmtPtr, kSqlCount> stmts;

  Status SqlError(const std::string& op) const {
    return Status::IOError(op + ": " + sqlite3_errmsg(db.get()));
  }

  Result<sqlite3_stmt*> Prepare(Sql which) {
    if (!stmts[which]) {
      sqlite3_stmt* raw = nullptr;
      if (sqlite3_prepare_v3(db.get(), kSqlText[which], -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
        return SqlError(std::string("prepare \"") + kSqlText[which] + "\"");
      }
      stmts[which].reset(raw);
    }
    return stmts[which].get();
  }

  // Runs a statement that returns no rows.
  Status Exec(Sql which, const std::string& op) {
    auto stmt = Prepare(which);
    if (!stmt.ok()) return stmt.status();
    Stmt s(*stmt);
    if (s.Step() != SQLITE_DONE) return SqlError(op);
    return Status::OK();
  }

  Status ExecScript(const char* sql, const std::string& op) {
    char* err = nullptr;
    if (sqlite3_exec(db.get(), sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errmsg(db.get());
      sqlite3_free(err);
      return Status::IOError(op + ": " + msg);
    }
    return Status::OK();
  }

  // A single-value PRAGMA query.
  Result<std::string> Pragma(const char* sql, const std::string& op) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db.get(), sql, -1, &raw, nullptr) != SQLITE_OK) return SqlError(op);
    StmtPtr owner(raw);
    const int rc = sqlite3_step(raw);
    if (rc == SQLITE_ROW) {
      const auto* text = sqlite3_column_text(raw, 0);
      return std::string(text ? reinterpret_cast<const char*>(text) : "");
    }
    if (rc == SQLITE_DONE) return std::string();
    return SqlError(op);
  }

  // Creates the schema in a new file, or migrates an older one, under the write lock;
  // the version is read again under it since another opener may have been first.
  Status UpgradeSchema(const std::string& where) {
    if (Status s = ExecScript("BEGIN IMMEDIATE", where + ": create schema"); !s.ok()) return s;
    auto again = Pragma("PRAGMA user_version", where);
    Status s = again.status();
    if (s.ok()) {
      const int v = std::atoi(again->c_str());
      if (v == 0) {
        s = ExecScript(kSchemaSql, where + ": create schema");
      } else if (v == 1) {
        s = ExecScript(kMigrateV1Sql, where + ": migrate schema 1 to 2");
      }
    }
    if (s.ok()) s = ExecScript("COMMIT", where + ": create schema");
    if (!s.ok()) {
      sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      return s;
    }
    return Status::OK();
  }

  // Reads the incarnation, making it on the first open of the file (also of a file
  // migrated from version 1, which had none).
  Result<std::string> LoadIncarnation(const std::string& where) {
    const std::string op = where + ": incarnation";
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto read = Prepare(kGetMeta);
      if (!read.ok()) return read.status();
      {
        Stmt s(*read);
        s.BindText(1, kIncarnationMeta);
        const int rc = s.Step();
        if (rc == SQLITE_ROW) return s.Text(0);
        if (rc != SQLITE_DONE) return SqlError(op);
      }
      if (attempt > 0) break;
      sqlite3_stmt* raw = nullptr;
      if (sqlite3_prepare_v2(db.get(), kMakeIncarnationSql, -1, &raw, nullptr) != SQLITE_OK) return SqlError(op);
      StmtPtr owner(raw);
      Stmt s(raw);
      s.BindText(1, kIncarnationMeta);
      if (s.Step() != SQLITE_DONE) return SqlError(op);
    }
    return Status::IOError(op + ": the meta row vanished right after it was written");
  }

  Status OpenDb() {
    const std::string where = "open store " + file.string();
    if (file.has_parent_path()) {
      std::error_code ec;
      std::filesystem::create_directories(file.parent_path(), ec);
      if (ec) return Status::IOError(where + ": cannot create " + file.parent_path().string() + ": " + ec.message());
    }
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                   nullptr);
    db.reset(raw);  // closes it on failure too
    if (rc != SQLITE_OK) return Status::IOError(where + ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    sqlite3_extended_result_codes(raw, 1);
    sqlite3_busy_timeout(raw, kBusyTimeoutMs);

    // WAL lets readers run beside the writer; synchronous=FULL fsyncs the WAL on
    // every commit, so a Commit() that returned is durable across power loss.
    auto mode = Pragma("PRAGMA journal_mode=WAL", where);
    if (!mode.ok()) return mode.status();
    if (*mode != "wal") return Status::IOError(where + ": cannot switch to WAL mode (got \"" + *mode + "\")");
    if (Status s = ExecScript("PRAGMA synchronous=FULL", where); !s.ok()) return s;

    auto version = Pragma("PRAGMA user_version", where);
    if (!version.ok()) return version.status();
    const int v = std::atoi(version->c_str());
    if (v > kSchemaVersion) {
      return Status::IOError(where + ": schema version " + std::to_string(v) +
                             " was written by a newer AMI (this one knows " + std::to_string(kSchemaVersion) + ")");
    }
    if (v < kSchemaVersion) {
      if (Status s = UpgradeSchema(where); !s.ok()) return s;
    }
    auto id = LoadIncarnation(where);
    if (!id.ok()) return id.status();
    incarnation = std::move(id).value();

    sqlite3_stmt* raw_state = nullptr;
    if (sqlite3_prepare_v2(db.get(), "SELECT hlc FROM state WHERE id = 0", -1, &raw_state, nullptr) != SQLITE_OK) {
      return SqlError(where + ": read state");
    }
    StmtPtr state(raw_state);
    if (sqlite3_step(raw_state) != SQLITE_ROW) return Status::IOError(where + ": the state row is missing");
    clock->Observe(static_cast<uint64_t>(sqlite3_column_int64(raw_state, 0)));
    return Status::OK();
  }

  // Visible versionstamp of a key, 0 when absent, expired or deleted.
  Result<uint64_t> VisibleVersionstamp(int space, const std::string& encoded, int64_t now, const std::string& op) {
    auto stmt = Prepare(kGet);
    if (!stmt.ok()) return stmt.status();
    Stmt s(*stmt);
    s.Bind(1, space);
    s.BindBlob(2, encoded);
    s.Bind(3, now);
    const int rc = s.Step();
    if (rc == SQLITE_ROW) return static_cast<uint64_t>(s.Int(1));
    if (rc == SQLITE_DONE) return uint64_t{0};
    return SqlError(op);
  }

  // One atomic operation inside an open write transaction: checks first, so a
  // failed check returns {ok:false} having written nothing; then one new
  // versionstamp and hlc for all of its mutations.
  // Takes the stored row of a network key out of the kept digest (before it is replaced).
  Status ForgetDigestRow(const std::string& encoded, const std::string& op) {
    auto stmt = Prepare(kStampOf);
    if (!stmt.ok()) return stmt.status();
    Stmt s(*stmt);
    s.Bind(1, SpaceId(Space::kNetwork));
    s.BindBlob(2, encoded);
    const int rc = s.Step();
    if (rc == SQLITE_DONE) return Status::OK();
    if (rc != SQLITE_ROW) return SqlError(op);
    std::optional<int64_t> expires_at;
    if (!s.Null(3)) expires_at = s.Int(3);
    digest.Remove(DigestOf(encoded, static_cast<uint64_t>(s.Int(0)), s.Text(1), s.Int(2) != 0), expires_at);
    return Status::OK();
  }

  // `feed` (may be null) receives the network rows written, one per key (the last
  // mutation of a key wins, as in the table).
  Result<CommitResult> Apply(Space space, const std::vector<Check>& checks, const std::vector<Mutation>& mutations,
                             const EncodedKeys& keys, int64_t now, std::vector<ReplicaRow>* feed = nullptr) {
    const int space_id = SpaceId(space);
    const std::string op = std::string("commit to ") + ToString(space);
    for (size_t i = 0; i < checks.size(); ++i) {
      auto current = VisibleVersionstamp(space_id, keys.checks[i], now, op + ": check " + KeyForMessage(checks[i].key));
      if (!current.ok()) return current.status();
      if (*current != checks[i].versionstamp) return CommitResult{false, 0};
    }

    // The sequence lives in the file and is bumped inside the transaction, so it
    // survives reopen and a rolled-back commit does not consume a number.
    const uint64_t hlc = clock->Now();
    uint64_t versionstamp = 0;
    {
      auto bump = Prepare(kBumpVersionstamp);
      if (!bump.ok()) return bump.status();
      Stmt s(*bump);
      s.Bind(1, static_cast<int64_t>(hlc));
      if (s.Step() != SQLITE_DONE) return SqlError(op + ": next versionstamp");
    }
    {
      auto read = Prepare(kReadVersionstamp);
      if (!read.ok()) return read.status();
      Stmt s(*read);
      if (s.Step() != SQLITE_ROW) return SqlError(op + ": next versionstamp");
      versionstamp = static_cast<uint64_t>(s.Int(0));
    }
    const size_t feed_start = feed ? feed->size() : 0;
    for (size_t i = 0; i < mutations.size(); ++i) {
      const Mutation& m = mutations[i];
      const bool set = m.kind == Mutation::Kind::kSet;
      const std::string what = op + ": " + (set ? "set " : "delete ") + KeyForMessage(m.key);
      if (!set && space == Space::kLocal) {
        auto stmt = Prepare(kRemove);
        if (!stmt.ok()) return stmt.status();
        Stmt s(*stmt);
        s.Bind(1, space_id);
        s.BindBlob(2, keys.mutations[i]);
        if (s.Step() != SQLITE_DONE) return SqlError(what);
        continue;
      }
      std::optional<int64_t> expires_at;
      if (set && m.expire_in_ms) expires_at = now + *m.expire_in_ms;
      const bool network = space == Space::kNetwork;
      if (network && digest.valid) {
        if (Status forget = ForgetDigestRow(keys.mutations[i], what); !forget.ok()) return forget;
      }
      auto stmt = Prepare(kPut);
      if (!stmt.ok()) return stmt.status();
      Stmt s(*stmt);
      s.Bind(1, space_id);
      s.BindBlob(2, keys.mutations[i]);
      if (set) {
        s.BindText(3, m.value);
      } else {
        s.BindNull(3);
      }
      s.Bind(4, static_cast<int64_t>(versionstamp));
      if (expires_at) {
        s.Bind(5, *expires_at);
      } else {
        s.BindNull(5);
      }
      s.Bind(6, static_cast<int64_t>(hlc));
      s.BindText(7, options.node_id);
      s.Bind(8, set ? 0 : 1);
      if (s.Step() != SQLITE_DONE) return SqlError(what);
      if (!network) continue;
      if (digest.valid) digest.Add(DigestOf(keys.mutations[i], hlc, options.node_id, !set), expires_at);
      if (feed) {
        ReplicaRow row;
        row.key = m.key;
        row.deleted = !set;
        if (set) row.value = m.value;
        row.expires_at = expires_at;
        row.hlc = hlc;
        row.origin = options.node_id;
        row.versionstamp = versionstamp;
        // A key set twice in one operation: the table holds the last, so does the feed.
        auto same = std::find_if(feed->begin() + static_cast<std::ptrdiff_t>(feed_start), feed->end(),
                                 [&](const ReplicaRow& r) { return r.key == m.key; });
        if (same != feed->end()) *same = std::move(row);
        else feed->push_back(std::move(row));
      }
    }
    if (feed) {  // ChangesSince's order within one versionstamp: by encoded key
      std::sort(feed->begin() + static_cast<std::ptrdiff_t>(feed_start), feed->end(),
                [](const ReplicaRow& a, const ReplicaRow& b) { return EncodeKey(a.key) < EncodeKey(b.key); });
    }
    return CommitResult{true, versionstamp};
  }

  // Rolls back on scope exit unless Commit() succeeded: every early return inside
  // a write leaves the database as it was.
  class Transaction {
   public:
    // `deferred`: commit without the fsync (Store::Durability::kDeferred).
    explicit Transaction(Impl* impl, bool deferred = false) : impl_(impl), deferred_(deferred) {}
    ~Transaction() {
      if (open_ && !sqlite3_get_autocommit(impl_->db.get())) (void)impl_->Exec(kRollback, "rollback");
      if (open_) impl_->digest.Invalidate();  // it may have followed writes that were rolled back
      const bool wrote = began_ && !open_ && sqlite3_total_changes64(impl_->db.get()) != changes_at_begin_;
      if (deferred_) {
        (void)impl_->Exec(kSyncFull, "synchronous=FULL");
        if (wrote) impl_->deferred = true;
      } else if (wrote) {
        impl_->deferred = false;  // this commit's fsync of the WAL covered the deferred ones too
      }
    }
    Status Begin(const std::string& op) {
      if (deferred_) {
        if (Status s = impl_->Exec(kSyncNormal, op + ": synchronous=NORMAL"); !s.ok()) return s;
      }
      changes_at_begin_ = sqlite3_total_changes64(impl_->db.get());
      Status s = impl_->Exec(kBegin, op + ": begin");
      open_ = s.ok();
      began_ = open_;
      return s;
    }
    Status Commit(const std::string& op) {
      // Slow-disk fault injection: with synchronous=FULL each COMMIT is one WAL fsync, so
      // delaying the commit is an fsync that takes this much longer (the trials' slow_disk).
      if (const int64_t delay = g_fault_commit_delay_ms.load(std::memory_order_relaxed); delay > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      Status s = impl_->Exec(kCommit, op + ": commit");
      if (s.ok()) open_ = false;
      return s;
    }

   private:
    Impl* impl_;
    bool deferred_ = false;
    bool open_ = false;
    bool began_ = false;
    sqlite3_int64 changes_at_begin_ = 0;
  };
};

void Store::SetFaultCommitDelay(std::chrono::milliseconds delay) {
  g_fault_commit_delay_ms.store(std::max<int64_t>(0, delay.count()), std::memory_order_relaxed);
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() {
  // Lets SQLite refresh planner statistics for long-lived stores; cheap when idle.
  if (impl_ && impl_->db) sqlite3_exec(impl_->db.get(), "PRAGMA optimize", nullptr, nullptr, nullptr);
}

Result<std::unique_ptr<Store>> Store::Open(const std::filesystem::path& file, StoreOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->file = file;
  impl->options = std::move(options);
  if (impl->options.clock) {
    impl->clock = impl->options.clock;
  } else {
    impl->own_clock = std::make_unique<HybridClock>();
    impl->clock = impl->own_clock.get();
  }
  if (Status s = impl->OpenDb(); !s.ok()) return s;
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Result<std::optional<Entry>> Store::Get(Space space, const Key& key) {
  const std::string encoded = EncodeKey(key);
  if (Status s = CheckKey(key, encoded, "get"); !s.ok()) return s;
  auto stmt = impl_->Prepare(kGet);
  if (!stmt.ok()) return stmt.status();
  Stmt s(*stmt);
  s.Bind(1, SpaceId(space));
  s.BindBlob(2, encoded);
  s.Bind(3, WallMillis());
  const int rc = s.Step();
  if (rc == SQLITE_DONE) return std::optional<Entry>();
  if (rc != SQLITE_ROW) return impl_->SqlError(std::string("get ") + ToString(space) + " " + KeyForMessage(key));
  Entry entry;
  entry.key = key;
  entry.value = s.Text(0);
  entry.versionstamp = static_cast<uint64_t>(s.Int(1));
  entry.hlc = static_cast<uint64_t>(s.Int(2));
  entry.origin = s.Text(3);
  return std::optional<Entry>(std::move(entry));
}

Result<std::vector<Entry>> Store::List(Space space, const ListOptions& options) {
  for (const Key* k : {&options.prefix, options.start ? &*options.start : nullptr, options.end ? &*options.end : nullptr}) {
    if (!k) continue;
    if (Status s = ValidateKey(*k); !s.ok()) {
      return Status::InvalidArgument("list " + KeyForMessage(*k) + ": " + s.message());
    }
  }
  // The range is [lower, upper) over encoded keys. Keys strictly extending the
  // prefix P are exactly those in [P + 0x00, P + 0xFF): every extension continues P
  // with a type tag (0x01..0x06), and no key is P itself followed by 0x00 or 0xFF.
  const std::string prefix = EncodeKey(options.prefix);
  std::string lower = prefix + '\0';
  std::string upper = prefix + '\xFF';
  if (options.start) {
    std::string start = EncodeKey(*options.start);
    if (start > lower) lower = std::move(start);
  }
  if (options.end) {
    std::string end = EncodeKey(*options.end);
    if (end < upper) upper = std::move(end);
  }
  std::vector<Entry> entries;
  if (lower >= upper) return entries;

  auto stmt = impl_->Prepare(options.reverse ? kListDesc : kListAsc);
  if (!stmt.ok()) return stmt.status();
  Stmt s(*stmt);
  s.Bind(1, SpaceId(space));
  s.BindBlob(2, lower);
  s.Bind(3, WallMillis());
  s.BindBlob(4, upper);
  s.Bind(5, options.limit == 0 ? -1 : static_cast<int64_t>(options.limit));
  const std::string op = std::string("list ") + ToString(space) + " " + KeyForMessage(options.prefix);
  for (;;) {
    const int rc = s.Step();
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return impl_->SqlError(op);
    auto key = DecodeKey(s.Text(0));
    if (!key.ok()) return Status::IOError(op + ": corrupt key in the store: " + key.status().message());
    Entry entry;
    entry.key = std::move(key).value();
    entry.value = s.Text(1);
    entry.versionstamp = static_cast<uint64_t>(s.Int(2));
    entry.hlc = static_cast<uint64_t>(s.Int(3));
    entry.origin = s.Text(4);
    entries.push_back(std::move(entry));
  }
  return entries;
}

Result<CommitResult> Store::Commit(Space space, const std::vector<Check>& checks,
                                   const std::vector<Mutation>& mutations) {
  // Validate everything before touching the database: a bad mutation must not
  // leave half a commit behind, and must not cost a transaction.
  auto keys = ValidateCommit(checks, mutations);
  if (!keys.ok()) return keys.status();
  const std::string op = std::string("commit to ") + ToString(space);
  Impl::Transaction txn(impl_.get());
  if (Status s = txn.Begin(op); !s.ok()) return s;
  auto result = impl_->Apply(space, checks, mutations, *keys, WallMillis());
  if (!result.ok() || !result->ok) return result;  // txn rolls back (a failed check wrote nothing anyway)
  if (Status s = txn.Commit(op); !s.ok()) return s;
  return result;
}

Result<std::vector<Result<CommitResult>>> Store::CommitBatch(
    const std::vector<AtomicOperation>& operations, const std::vector<std::pair<std::string, std::string>>& meta,
    std::vector<ReplicaRow>* network_rows) {
  if (network_rows) network_rows->clear();
  std::vector<Result<CommitResult>> results;
  results.reserve(operations.size());
  std::vector<std::optional<EncodedKeys>> keys(operations.size());
  bool any_valid = false;
  for (size_t i = 0; i < operations.size(); ++i) {
    auto encoded = ValidateCommit(operations[i].checks, operations[i].mutations);
    if (encoded.ok()) {
      keys[i] = std::move(encoded).value();
      any_valid = true;
      results.emplace_back(CommitResult{});
    } else {
      results.emplace_back(encoded.status());
    }
  }
  if (!any_valid && meta.empty()) return results;

  const std::string op = "commit batch of " + std::to_string(operations.size()) +
                         (meta.empty() ? std::string() : " and " + std::to_string(meta.size()) + " meta rows");
  const int64_t now = WallMillis();
  Impl::Transaction txn(impl_.get());
  if (Status s = txn.Begin(op); !s.ok()) return s;
  for (size_t i = 0; i < operations.size(); ++i) {
    if (!keys[i]) continue;
    const AtomicOperation& o = operations[i];
    auto result = impl_->Apply(o.space, o.checks, o.mutations, *keys[i], now, network_rows);
    // A SQLite failure fails the whole batch: the transaction rolls back.
    if (!result.ok()) {
      if (network_rows) network_rows->clear();
      return result.status();
    }
    results[i] = std::move(result);
  }
  for (const auto& [name, value] : meta) {
    auto stmt = impl_->Prepare(kSetMeta);
    if (!stmt.ok()) return stmt.status();
    Stmt s(*stmt);
    s.BindText(1, name);
    s.BindText(2, value);
    if (s.Step() != SQLITE_DONE) {
      if (network_rows) network_rows->clear();
      return impl_->SqlError(op + ": set meta \"" + name + "\"");
    }
  }
  if (Status s = txn.Commit(op); !s.ok()) {
    if (network_rows) network_rows->clear();
    return s;
  }
  return results;
}

Result<uint64_t> Store::Set(Space space, const Key& key, std::string value, std::optional<int64_t> expire_in_ms) {
  std::vector<Mutation> mutations(1);
  mutations[0].kind = Mutation::Kind::kSet;
  mutations[0].key = key;
  mutations[0].value = std::move(value);
  mutations[0].expire_in_ms = expire_in_ms;
  auto result = Commit(space, {}, mutations);
  if (!result.ok()) return result.status();
  return result->versionstamp;
}

Result<uint64_t> Store::Delete(Space space, const Key& key) {
  std::vector<Mutation> mutations(1);
  mutations[0].kind = Mutation::Kind::kDelete;
  mutations[0].key = key;
  auto result = Commit(space, {}, mutations);
  if (!result.ok()) return result.status();
  return result->versionstamp;
}

std::string PeerAckName(const std::string& node_id) { return "repl.acked." + node_id; }

Result<size_t> Store::SweepExpired() {
  const std::string op = "sweep expired entries";
  const int64_t now = WallMillis();
  // Tombstones are aged by the wall part of their hlc, the time of the delete.
  const int64_t cutoff_ms = now - static_cast<int64_t>(impl_->options.tombstone_grace.count());
  const int64_t cutoff_hlc = cutoff_ms <= 0 ? 0 : static_cast<int64_t>(static_cast<uint64_t>(cutoff_ms) << 16);
  Impl::Transaction txn(impl_.get());
  if (Status s = txn.Begin(op); !s.ok()) return s;
  // The versionstamp every peer has applied: tombstones above it must stay.
  int64_t acked_by_all = std::numeric_limits<int64_t>::max();
  if (impl_->options.replication_peers > 0) {
    auto stmt = impl_->Prepare(kListAcks);
    if (!stmt.ok()) return stmt.status();
    Stmt s(*stmt);
    const std::string prefix = impl_->incarnation + ":";
    size_t acks = 0;
    for (;;) {
      const int rc = s.Step();
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return impl_->SqlError(op);
      const std::string value = s.Text(0);
      if (value.compare(0, prefix.size(), prefix) != 0) continue;  // for an earlier data directory
      const uint64_t acked = std::strtoull(value.c_str() + prefix.size(), nullptr, 10);
      acked_by_all = std::min<int64_t>(acked_by_all, static_cast<int64_t>(std::min<uint64_t>(acked, INT64_MAX)));
      ++acks;
    }
    if (acks < impl_->options.replication_peers) acked_by_all = 0;  // someone has not said yet
  }
  size_t removed = 0;
  {
    auto stmt = impl_->Prepare(kSweepExpired);
    if (!stmt.ok()) return stmt.status();
    Stmt s(*stmt);
    s.Bind(1, now);
    if (s.Step() != SQLITE_DONE) return impl_->SqlError(op);
    removed += static_cast<size_t>(sqlite3_changes(impl_->db.get()));
    if (impl_->digest.valid) impl_->digest.Swept(now);
  }
  {
    auto stmt = impl_->Prepare(kSweepTombstones);
    if (!stmt.ok()) return stmt.status();
    Stmt s(*stmt);
    s.Bind(1, cutoff_hlc);
    s.Bind(2, acked_by_all);
    if (s.Step() != SQLITE_DONE) return impl_->SqlError(op);
    const size_t tombstones = static_cast<size_t>(sqlite3_changes(impl_->db.get()));
    if (tombstones > 0) impl_->digest.Invalidate();  // rare (a day old); the next digest scans
    removed += tombstones;
  }
  if (Status s = txn.Commit(op); !s.ok()) return s;
  return removed;
}

Result<std::optional<std::string>> Store::GetMeta(const std::string& name) {
  auto stmt = impl_->Prepare(kGetMeta);
  if (!stmt.ok()) return stmt.status();
  Stmt s(*stmt);
  s.BindText(1, name);
  const int rc = s.Step();
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return impl_->SqlError("get meta \"" + name + "\"");
  return std::optional<std::string>(s.Text(0));
}

Status Store::SetMeta(const std::string& name, const std::string& value) {
  auto stmt = impl_->Prepare(kSetMeta);
  if (!stmt.ok()) return stmt.status();
  Stmt s(*stmt);
  s.BindText(1, name);
  s.BindText(2, value);
  if (s.Step() != SQLITE_DONE) return impl_->SqlError("set meta \"" + name + "\"");
  return Status::OK();
}

namespace {

// Reads a kChanges / kChangesRest row (columns: key, deleted, value, expires_at, hlc,
// origin, versionstamp).
Result<ReplicaRow> ReadReplicaRow(const Stmt& s, const std::string& op) {
  auto key = DecodeKey(s.Text(0));
  if (!key.ok()) return Status::IOError(op + ": corrupt key in the store: " + key.status().message());
  ReplicaRow row;
  row.key = std::move(key).value();
  row.deleted = s.Int(1) != 0;
  if (!row.deleted) row.value = s.Text(2);
  if (!s.Null(3)) row.expires_at = s.Int(3);
  row.hlc = static_cast<uint64_t>(s.Int(4));
  row.origin = s.Text(5);
  row.versionstamp = static_cast<uint64_t>(s.Int(6));
  return row;
}

}  // namespace

Result<std::vector<ReplicaRow>> Store::ChangesSince(uint64_t after, size_t limit) {
  const std::string op = "changes since " + std::to_string(after);
  const int space_id = SpaceId(Space::kNetwork);
  std::vector<ReplicaRow> rows;
  std::string last_key;  // encoded key of the last row read
  // Both statements read one snapshot, so a commit landing between them cannot make
  // the tail of a group disagree with its head. (Declared before the statements: they
  // are reset before the read transaction ends.)
  if (Status s = impl_->Exec(kBeginRead, op + ": begin"); !s.ok()) return s;
  struct EndRead {
    Impl* impl;
    ~EndRead() { (void)impl->Exec(kCommit, "end read"); }
  } end_read{impl_.get()};
  // Appends every row `s` yields to `rows`.
  auto read_all = [&](Stmt& s) -> Status {
    for (;;) {
      const int rc = s.Step();
      if (rc == SQLITE_DONE) return Status::OK();
      if (rc != SQLITE_ROW) return impl_->SqlError(op);
      auto row = ReadReplicaRow(s, op);
      if (!row.ok()) return row.status();
      last_key = s.Text(0);
      rows.push_back(std::move(row).value());
    }
  };
  {
    auto stmt = impl_->Prepare(kChanges);
    if (!stmt.ok()) return stmt.status();
    Stmt s(*stmt);
    s.Bind(1, space_id);
    s.Bind(2, static_cast<int64_t>(after));
    s.Bind(3, limit == 0 ? -1 : static_cast<int64_t>(limit));
    if (Status read = read_all(s); !read.ok()) return read;
  }
  if (limit == 0 || rows.size() < limit) return rows;

  // The limit may have cut the last versionstamp group: read the rest of it.
  auto stmt = impl_->Prepare(kChangesRest);
  if (!stmt.ok()) return stmt.status();
  Stmt s(*stmt);
  s.Bind(1, space_id);
  s.Bind(2, static_cast<int64_t>(rows.back().versionstamp));
  s.BindBlob(3, last_key);
  if (Status read = read_all(s); !read.ok()) return read;
  return rows;
}

Result<ApplyResult> Store::ApplyRemote(const std::vector<ReplicaRow>& rows,
                                       const std::optional<std::pair<std::string, std::string>>& meta,
                                       Durability durability) {
  ApplyResult result;
  // Validate first: an invalid row costs no SQL, and refusing it must not stop the rest.
  struct Valid {
    const ReplicaRow* row;
    std::string encoded;
  };
  std::vector<Valid> valid;
  valid.reserve(rows.size());
  uint64_t max_hlc = 0;
  for (const ReplicaRow& row : rows) {
    std::string encoded = EncodeKey(row.key);
    Status s = ValidateReplica(row, encoded);
    const int64_t max_skew = impl_->options.max_clock_skew.count();
    if (s.ok() && max_skew > 0 && HybridClock::AheadMs(row.hlc) > max_skew) {
      s = Status::InvalidArgument("apply " + KeyForMessage(row.key) + ": hlc is " +
                                  std::to_string(HybridClock::AheadMs(row.hlc)) +
                                  " ms ahead of the local clock; max_clock_skew is " + std::to_string(max_skew) + " ms");
    }
    if (!s.ok()) {
      if (result.rejected++ == 0) result.first_error = s.message();
      continue;
    }
    // Seen, even if stale: our next local write must still stamp above it.
    impl_->clock->Observe(row.hlc);
    max_hlc = std::max(max_hlc, row.hlc);
    valid.push_back(Valid{&row, std::move(encoded)});
  }
  if (valid.empty() && !meta) return result;

  const std::string op = "apply " + std::to_string(rows.size()) + " replicated rows";
  const int space_id = SpaceId(Space::kNetwork);
  Impl::Transaction txn(impl_.get(), durability == Durability::kDeferred);
  if (Status s = txn.Begin(op); !s.ok()) return s;
  uint64_t versionstamp = 0;  // taken when the first row wins, shared by all that do
  std::set<std::string> changed;
  for (const Valid& v : valid) {
    const ReplicaRow& row = *v.row;
    const std::string what = op + ": " + KeyForMessage(row.key);
    {
      auto stmt = impl_->Prepare(kStampOf);
      if (!stmt.ok()) return stmt.status();
      Stmt s(*stmt);
      s.Bind(1, space_id);
      s.BindBlob(2, v.encoded);
      const int rc = s.Step();
      if (rc == SQLITE_ROW) {
        const uint64_t hlc = static_cast<uint64_t>(s.Int(0));
        const std::string origin = s.Text(1);
        // Last writer wins; an equal stamp is the same write seen again.
        if (std::tie(row.hlc, row.origin) <= std::tie(hlc, origin)) continue;
        if (impl_->digest.valid) {
          std::optional<int64_t> expires_at;
          if (!s.Null(3)) expires_at = s.Int(3);
          impl_->digest.Remove(DigestOf(v.encoded, hlc, origin, s.Int(2) != 0), expires_at);
        }
      } else if (rc != SQLITE_DONE) {
        return impl_->SqlError(what);
      }
    }
    if (versionstamp == 0) {
      // Bumps state.hlc too, so a reopen fast-forwards the clock past these rows.
      auto bump = impl_->Prepare(kBumpVersionstamp);
      if (!bump.ok()) return bump.status();
      {
        Stmt s(*bump);
        s.Bind(1, static_cast<int64_t>(max_hlc));
        if (s.Step() != SQLITE_DONE) return impl_->SqlError(op + ": next versionstamp");
      }
      auto read = impl_->Prepare(kReadVersionstamp);
      if (!read.ok()) return read.status();
      Stmt s(*read);
      if (s.Step() != SQLITE_ROW) return impl_->SqlError(op + ": next versionstamp");
      versionstamp = static_cast<uint64_t>(s.Int(0));
    }
    auto stmt = impl_->Prepare(kPut);
    if (!stmt.ok()) return stmt.status();
    Stmt s(*stmt);
    s.Bind(1, space_id);
    s.BindBlob(2, v.encoded);
    if (row.deleted) {
      s.BindNull(3);
    } else {
      s.BindText(3, row.value);
    }
    s.Bind(4, static_cast<int64_t>(versionstamp));
    if (!row.deleted && row.expires_at) {
      s.Bind(5, *row.expires_at);
    } else {
      s.BindNull(5);
    }
    s.Bind(6, static_cast<int64_t>(row.hlc));
    s.BindText(7, row.origin);
    s.Bind(8, row.deleted ? 1 : 0);
    if (s.Step() != SQLITE_DONE) return impl_->SqlError(what);
    if (impl_->digest.valid) {
      std::optional<int64_t> expires_at;
      if (!row.deleted && row.expires_at) expires_at = *row.expires_at;
      impl_->digest.Add(DigestOf(v.encoded, row.hlc, row.origin, row.deleted), expires_at);
    }
    if (changed.insert(v.encoded).second) result.changed.push_back(row.key);
  }
  result.versionstamp = versionstamp;
  if (meta) {
    auto stmt = impl_->Prepare(kSetMeta);
    if (!stmt.ok()) return stmt.status();
    Stmt s(*stmt);
    s.BindText(1, meta->first);
    s.BindText(2, meta->second);
    if (s.Step() != SQLITE_DONE) return impl_->SqlError(op + ": set meta \"" + meta->first + "\"");
  }
  if (Status s = txn.Commit(op); !s.ok()) return s;
  return result;
}

Result<std::string> Store::Incarnation() { return impl_->incarnation; }

Result<uint64_t> Store::LastNetworkVersionstamp() {
  auto stmt = impl_->Prepare(kLastVersionstamp);
  if (!stmt.ok()) return stmt.status();
  Stmt s(*stmt);
  s.Bind(1, SpaceId(Space::kNetwork));
  const int rc = s.Step();
  if (rc == SQLITE_ROW) return static_cast<uint64_t>(s.Int(0));
  if (rc == SQLITE_DONE) return uint64_t{0};
  return impl_->SqlError("last network versionstamp");
}

// Scans every network row: the digest at `now` (rows expired by then left out), and
// into `cache` (may be null) what DigestCache keeps.
namespace {
Result<uint64_t> ScanDigest(sqlite3* db, sqlite3_stmt* stmt, int64_t now, DigestCache* cache) {
  Stmt s(stmt);
  s.Bind(1, SpaceId(Space::kNetwork));
  uint64_t digest = 0;
  if (cache) cache->Invalidate();
  for (;;) {
    const int rc = s.Step();
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return Status::IOError(std::string("network digest: ") + sqlite3_errmsg(db));
    const uint64_t row = DigestOf(s.Text(0), static_cast<uint64_t>(s.Int(1)), s.Text(2), s.Int(3) != 0);
    std::optional<int64_t> expires_at;
    if (!s.Null(4)) expires_at = s.Int(4);
    if (cache) cache->Add(row, expires_at);
    if (!expires_at || *expires_at > now) digest += row;  // a sum: the order rows are read in does not matter
  }
  if (cache) cache->valid = true;
  return digest;
}
}  // namespace

Result<uint64_t> Store::NetworkDigest() {
  const int64_t now = WallMillis();
  if (impl_->digest.valid) return impl_->digest.At(now);
  auto stmt = impl_->Prepare(kDigestRows);
  if (!stmt.ok()) return stmt.status();
  return ScanDigest(impl_->db.get(), *stmt, now, &impl_->digest);
}

Result<uint64_t> Store::NetworkDigestScan() {
  auto stmt = impl_->Prepare(kDigestRows);
  if (!stmt.ok()) return stmt.status();
  return ScanDigest(impl_->db.get(), *stmt, WallMillis(), nullptr);
}

Status Store::Sync() {
  if (!impl_->deferred) return Status::OK();
  auto stmt = impl_->Prepare(kSyncMark);
  if (!stmt.ok()) return stmt.status();
  const std::string mark = std::to_string(++impl_->syncs);  // outlives the statement's use (SQLITE_STATIC)
  Stmt s(*stmt);
  s.BindText(1, mark);
  // Autocommit under synchronous=FULL: the WAL is fsynced, and with it every earlier frame.
  if (s.Step() != SQLITE_DONE) return impl_->SqlError("sync deferred applies");
  impl_->deferred = false;
  return Status::OK();
}

bool Store::HasDeferred() const { return impl_->deferred; }

}  // namespace ami::kv
