#include "runtime/store/backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <system_error>
#include <thread>

namespace ami::kv {

namespace fs = std::filesystem;

namespace {

// store.cpp's incarnation meta row ("kv.incarnation"); the restore deletes it so the
// next open makes a new one.
constexpr const char* kDropIncarnationSql = "DELETE FROM meta WHERE name = 'kv.incarnation'";
constexpr int kBusyTimeoutMs = 5000;

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

Result<Db> OpenDb(const fs::path& file, int flags, const std::string& what) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(file.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK)
    return Status::IOError(what + " " + file.string() + ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  return db;
}

// The first column of the first row of `sql` as text ("" when no row).
Result<std::string> QueryText(sqlite3* db, const char* sql, const std::string& what) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK)
    return Status::InvalidArgument(what + ": " + sqlite3_errmsg(db));
  std::string out;
  const int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(stmt, 0);
    out = text ? reinterpret_cast<const char*>(text) : "";
  }
  Status status;
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) status = Status::InvalidArgument(what + ": " + sqlite3_errmsg(db));
  sqlite3_finalize(stmt);
  if (!status.ok()) return status;
  return out;
}

Status Fsync(const fs::path& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return Status::IOError(Errno("cannot open " + path.string() + " to sync it"));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) {
    errno = err;
    return Status::IOError(Errno("cannot sync " + path.string()));
  }
  return Status::OK();
}

// A name beside `target` that nothing else uses: ".<name>.<tag>-<pid>-<random>".
fs::path TempBeside(const fs::path& target, const char* tag) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return target.parent_path() /
         ("." + target.filename().string() + "." + tag + "-" + std::to_string(::getpid()) + "-" +
          std::to_string(rng() % 1000000000));
}

// Removes `file` and the journal files SQLite may have left beside it.
void RemoveDbFiles(const fs::path& file) {
  std::error_code ec;
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) fs::remove(file.string() + suffix, ec);
}

}  // namespace

Result<BackupInfo> BackupStore(const fs::path& db, const fs::path& out) {
  const auto started = std::chrono::steady_clock::now();
  if (out.empty() || !out.is_absolute())
    return Status::InvalidArgument("path: \"" + out.string() + "\" is not an absolute path");
  if (out.filename().empty()) return Status::InvalidArgument("path: \"" + out.string() + "\" names a directory");
  std::error_code ec;
  if (!fs::is_directory(out.parent_path(), ec))
    return Status::InvalidArgument("path: the directory " + out.parent_path().string() + " does not exist");
  if (fs::symlink_status(out, ec).type() != fs::file_type::not_found)
    return Status::InvalidArgument("path: " + out.string() + " exists; a backup never replaces a file");

  // Made here, 0600 and exclusive, before SQLite opens it: the copy is private from its
  // first byte, and nothing already at that name (a planted symlink) is written through.
  const fs::path tmp = TempBeside(out, "backup");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::IOError(Errno("cannot create " + tmp.string()));
  ::close(fd);
  auto fail = [&](Status status) {
    RemoveDbFiles(tmp);
    return status;
  };

  {
    // Read-write without create: a missing store is an error, not an empty backup.
    auto src = OpenDb(db, SQLITE_OPEN_READWRITE, "cannot open the store");
    if (!src.ok()) return fail(src.status());
    auto dst = OpenDb(tmp, SQLITE_OPEN_READWRITE, "cannot open");
    if (!dst.ok()) return fail(dst.status());
    sqlite3_backup* backup = sqlite3_backup_init(dst->get(), "main", src->get(), "main");
    if (!backup) return fail(Status::IOError("backup: " + std::string(sqlite3_errmsg(dst->get()))));
    // All pages in one step: one read transaction, so one snapshot (a copy in several
    // steps would start over whenever the node commits in between).
    int rc;
    for (int attempt = 0;; ++attempt) {
      rc = sqlite3_backup_step(backup, -1);
      if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || attempt >= 100) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE)
      return fail(Status::IOError("backup of " + db.string() + ": " + sqlite3_errstr(rc) + " (" +
                                  sqlite3_errmsg(dst->get()) + ")"));
  }  // both connections closed: the copy is complete in tmp
  if (Status s = Fsync(tmp, false); !s.ok()) return fail(s);
  // link() never replaces: a file that appeared at `out` meanwhile is kept.
  if (::link(tmp.c_str(), out.c_str()) != 0) {
    if (errno == EEXIST)
      return fail(Status::InvalidArgument("path: " + out.string() + " exists; a backup never replaces a file"));
    return fail(Status::IOError(Errno("cannot link " + out.string())));
  }
  RemoveDbFiles(tmp);
  if (Status s = Fsync(out.parent_path(), true); !s.ok()) return s;
  BackupInfo info;
  info.bytes = static_cast<uint64_t>(fs::file_size(out, ec));
  info.millis = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
                    .count();
  return info;
}

Status RestoreStore(const fs::path& backup, const fs::path& db, const StoreOptions& options) {
  std::error_code ec;
  for (const std::string& existing : {db.string(), db.string() + "-wal"}) {
    if (fs::symlink_status(existing, ec).type() != fs::file_type::not_found)
      return Status::InvalidArgument(existing + " exists: a restore never replaces a store; stop the node and move " +
                                     db.filename().string() + ", " + db.filename().string() + "-wal and " +
                                     db.filename().string() + "-shm away first");
  }
  if (!fs::is_regular_file(backup, ec))
    return Status::InvalidArgument(backup.string() + ": " + (fs::exists(backup, ec) ? "not a file" : "no such file"));
  fs::create_directories(db.parent_path(), ec);
  if (ec) return Status::IOError("cannot create " + db.parent_path().string() + ": " + ec.message());

  const fs::path tmp = TempBeside(db, "restore");
  auto fail = [&](Status status) {
    RemoveDbFiles(tmp);
    return status;
  };
  fs::copy_file(backup, tmp, fs::copy_options::none, ec);
  if (ec) return fail(Status::IOError("cannot copy " + backup.string() + " to " + tmp.string() + ": " + ec.message()));
  fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write, ec);

  {
    auto copy = OpenDb(tmp, SQLITE_OPEN_READWRITE, "cannot open");
    if (!copy.ok()) return fail(copy.status());
    sqlite3* raw = copy->get();
    const std::string what = backup.string();
    auto check = QueryText(raw, "PRAGMA quick_check", what + ": not a SQLite database");
    if (!check.ok()) return fail(check.status());
    if (*check != "ok") return fail(Status::InvalidArgument(what + ": damaged: " + *check));
    auto tables = QueryText(
        raw, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('kv', 'meta', 'state')",
        what + ": not a SQLite database");
    if (!tables.ok()) return fail(tables.status());
    if (*tables != "3")
      return fail(Status::InvalidArgument(what + ": not an AMI store (no kv, meta and state tables)"));
    char* err = nullptr;
    if (sqlite3_exec(raw, kDropIncarnationSql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string message = err ? err : sqlite3_errmsg(raw);
      sqlite3_free(err);
      return fail(Status::IOError(what + ": cannot reset its incarnation: " + message));
    }
  }
  {
    // As the node will open it: an older schema is migrated now, a newer one refused,
    // and the new incarnation is made.
    auto store = Store::Open(tmp, options);
    if (!store.ok()) return fail(Status::InvalidArgument(backup.string() + ": " + store.status().message()));
  }  // closed: the last connection checkpoints the WAL into the file and removes it
  if (Status s = Fsync(tmp, false); !s.ok()) return fail(s);
  if (fs::symlink_status(db, ec).type() != fs::file_type::not_found)
    return fail(Status::InvalidArgument(db.string() + " appeared during the restore; nothing was replaced"));
  fs::rename(tmp, db, ec);
  if (ec) return fail(Status::IOError("cannot rename " + tmp.string() + " to " + db.string() + ": " + ec.message()));
  RemoveDbFiles(tmp);  // -wal/-shm SQLite may have kept beside the old name
  return Fsync(db.parent_path(), true);
}

}  // namespace ami::kv
