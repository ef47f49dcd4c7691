// Reading a worker's log files back: the last lines, and following them with a cursor
// across rotation (the admin API's logs.tail, docs/admin-api.md).
//
// The files are the ones WorkerLog writes: <dir>/<sid>.log, rotated by renaming it to
// <sid>.log.1, .log.1 to .log.2, … (runtime/log/rotating_sink.h). A cursor is
// "<inode>:<offset>": the file by its inode — which survives the renames of a rotation —
// and the byte after the last line returned. So the file behind a cursor is found again
// among the backups, and the rest of a rotated file comes before the new one.
//
// Only complete lines are returned, without their newline: in the current file a line
// still being written (no newline yet) is held back until it is complete; in a backup
// (which nobody writes any more) a last line without a newline counts. A reply carries
// at most about `max_bytes` of line text; a single line longer than that is handed over
// in pieces rather than never.
//
// Blocking file I/O: call it from a thread that may block (the admin actor runs
// detached). Not thread-safe per object; separate objects are independent.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/status.h"

namespace ami {

constexpr size_t kMaxLogTailBytes = 1 << 20;  // of line text per reply

struct LogCursor {
  uint64_t inode = 0;   // 0: no file yet (the next call starts at the oldest file there is)
  uint64_t offset = 0;

  bool operator==(const LogCursor&) const = default;
};

std::string FormatLogCursor(const LogCursor& cursor);
// nullopt for anything FormatLogCursor does not make.
std::optional<LogCursor> ParseLogCursor(std::string_view text);

struct LogTail {
  std::vector<std::string> lines;  // oldest first
  LogCursor cursor;                // where the next call with a cursor continues
  bool more = false;               // more complete lines could be read right away
};

// One worker's log files, opened together (oldest first) so that a rotation while they
// are read does not mix files: an open descriptor keeps its file whatever it is renamed
// to. Files that do not exist are skipped.
class WorkerLogFiles {
 public:
  // `files` is how many the log keeps in all (<sid>.log + files-1 backups); at least 1.
  static WorkerLogFiles Open(const std::filesystem::path& dir, const std::string& sid, int files);

  WorkerLogFiles(WorkerLogFiles&&) noexcept;
  WorkerLogFiles& operator=(WorkerLogFiles&&) noexcept;
  ~WorkerLogFiles();

  bool empty() const { return files_.empty(); }

  // The last `want` lines over all files (older files are read when the newer ones hold
  // fewer); the cursor points after the last complete line of the current file.
  Result<LogTail> Last(size_t want, size_t max_bytes = kMaxLogTailBytes) const;

  // The lines after `cursor`, oldest first. A cursor whose file was rotated away entirely
  // (or 0:0) restarts at the oldest file still there; an offset past the end of its file
  // (the file was truncated) restarts at that file's beginning.
  Result<LogTail> After(LogCursor cursor, size_t max_bytes = kMaxLogTailBytes) const;

  struct File;  // an open descriptor, its inode and size (log_tail.cpp)

 private:
  WorkerLogFiles();
  std::vector<File> files_;  // oldest first; the last may be the current file
};

}  // namespace ami
