// A worker's log: what `logger.*` and `console.*` write, and what the runtime says about
// the worker.
//
// Each line "[2026-11-29T02:05:30.123Z] [INFO] message" goes to
//   - a ring of the most recent lines, for the admin shell and UI (Recent()) — with a
//     LogFeed, the feed's ring of that sid (one copy in memory, and it outlives this log),
//   - the LogFeed given to Open, if any, for live followers (runtime/log/log_feed.h),
//   - <dir>/<sid>.log, rotated at LogSection::worker_file_bytes into .log.1 … .log.4,
//   - the node log, prefixed with the worker's sid.
// File writes happen on spdlog's background thread, never on the caller's (an actor's
// scheduler thread); all worker loggers and the node log share that one thread and its
// queue (8192 slots). Each line is flushed to the file by that thread as it is written.
// Worker loggers are not registered with spdlog; two WorkerLogs of the same file share
// one sink (the first one's rotation settings apply). Rotation: runtime/log/rotating_sink.h.
//
// Hostile input: Write() never blocks for long (only on short mutexes) and never lets a
// message forge lines:
//   - a message longer than `max_line` (+256 bytes of slack for the engine's own cut
//     marker) is cut at a character boundary and ends with "… [N bytes dropped]";
//   - control characters are escaped: \n \r \t as those two characters, other C0
//     bytes and DEL as \xHH, C1 controls and U+2028/U+2029 as \uHHHH — one message is
//     always one line, and it cannot move a terminal's cursor;
//   - when the shared queue is three quarters full (the disk or the background thread
//     cannot keep up) the worker's lines are dropped rather than waiting, and counted
//     (dropped()); the next line that gets through is preceded by "N log lines dropped
//     (the log queue was full)". The node log's copies of worker lines are dropped the
//     same way, so a chatty worker never blocks the node's own logging either.
// Rate limiting of script lines (limits.max_log_lines_per_sec) is the engine's
// (runtime/js/engine.h); this is the backstop for everything else.
// Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/base/status.h"
#include "runtime/config/config.h"
#include "runtime/log/log_feed.h"
#include "runtime/log/log_level.h"

namespace spdlog { class logger; }

namespace ami {

class WorkerLog {
 public:
  // `dir` is <data_dir>/logs/workers; it is created if needed. Keeps
  // settings.worker_files files in all (<sid>.log + worker_files-1 backups) and
  // settings.ring_lines lines in memory. InvalidArgument for a sid that can't be a file
  // name or worker_file_bytes 0; IOError when the directory or file can't be made.
  // Its file stays open until the WorkerLog is destroyed and its queued lines are written.
  // `max_line` (limits.max_log_line) caps one message in bytes, before escaping.
  // `feed` (optional): every line written is published to it under `sid`, in file order;
  // then Recent() reads the feed's ring and settings.ring_lines is not used here.
  static Result<std::shared_ptr<WorkerLog>> Open(const std::string& sid,
                                                 const std::filesystem::path& dir,
                                                 const LogSection& settings,
                                                 uint64_t max_line = 16ull << 10,
                                                 std::shared_ptr<LogFeed> feed = nullptr);
  ~WorkerLog();

  // "[<IsoTime>] [LEVEL] message", with trailing newlines dropped, the message cut at
  // max_line and its control characters escaped (see above). The node log gets
  // "worker <first 8 chars of sid>: [LEVEL] message" at the same level (in JSON format
  // the message alone, with the whole sid in its own field).
  void Write(LogLevel level, std::string_view message);
  // Lines dropped because the log queue was full (since Open).
  uint64_t dropped() const;
  // The last `max_lines` lines (oldest first), each without a trailing newline. With a
  // feed: the feed's lines of this sid (they include an earlier WorkerLog's of the sid).
  std::vector<std::string> Recent(size_t max_lines) const;
  // Pushes buffered lines to the file (tests and shutdown). Asynchronous: the request is
  // queued behind the lines already written and done by the background thread.
  void Flush();
  const std::filesystem::path& file() const { return file_; }

 private:
  WorkerLog() = default;
  std::string sid_;
  std::filesystem::path file_;
  std::shared_ptr<spdlog::logger> file_logger_;
  std::shared_ptr<LogFeed> feed_;  // null: the ring below is used
  size_t ring_capacity_ = 1000;
  uint64_t max_line_ = 16ull << 10;
  mutable std::mutex mu_;
  std::deque<std::string> ring_;   // guarded by mu_; only without a feed
  uint64_t dropped_ = 0;           // guarded by mu_
  uint64_t dropped_unreported_ = 0;  // guarded by mu_
};

// `message` with control characters escaped as WorkerLog::Write does (exposed for tests).
std::string EscapeLogMessage(std::string_view message);

// Sets up the node log: stderr plus <data_dir>/logs/node.log (async, rotated at
// 10 MB into node.log.1 … .4), installed as spdlog's default logger. `format` "text":
// "[2026-11-29T02:05:30.123Z] [info] message" (UTC; colored on stderr); "json": one
// object a line with time, level, node (= `node_id`), sid and message, on both
// (runtime/log/json_log_format.h). `level` is trace|debug|info|warn|error; anything
// else is InvalidArgument "log.level: \"x\" is not one of ...", and a format other
// than text|json "log.format: …" (nothing changes then). Flushed on warn and every
// second. Called once by amid (calling again replaces it). The node logger itself waits
// for queue room (the node's own lines are never dropped); worker lines reach the same
// files through a second logger that drops instead.
Status InitNodeLog(const std::filesystem::path& data_dir, const std::string& level,
                   const std::string& format = "text", const std::string& node_id = "");

}  // namespace ami
