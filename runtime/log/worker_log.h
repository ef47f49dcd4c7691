// A worker's log: what `logger.*` and `console.*` write.
//
// Each line "[2026-11-29T02:05:30.123Z] [INFO] message" goes to
//   - a ring of the most recent lines, for the admin shell and UI (Recent()),
//   - <dir>/<sid>.log, rotated at LogSection::worker_file_bytes into .log.1 … .log.4,
//   - the node log, prefixed with the worker's sid.
// File writes happen on spdlog's background thread, never on the caller's (an actor's
// scheduler thread); all worker loggers and the node log share that one thread, and a
// caller only blocks if its queue (8192 lines) is full. Each line is flushed to the file
// by that thread as it is written. Worker loggers are not registered with spdlog; two
// WorkerLogs of the same file share one sink (the first one's rotation settings apply).
// Rotation: runtime/log/rotating_sink.h.
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
  static Result<std::shared_ptr<WorkerLog>> Open(const std::string& sid,
                                                 const std::filesystem::path& dir,
                                                 const LogSection& settings);
  ~WorkerLog();

  // "[<IsoTime>] [LEVEL] message"; a multi-line message stays one entry, as given,
  // except that trailing newlines are dropped. The node log gets
  // "worker <first 8 chars of sid>: [LEVEL] message" at the same level.
  void Write(LogLevel level, std::string_view message);
  // The last `max_lines` lines (oldest first), each without a trailing newline.
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
  size_t ring_capacity_ = 1000;
  mutable std::mutex mu_;
  std::deque<std::string> ring_;   // guarded by mu_
};

// Sets up the node log: stderr (colored) plus <data_dir>/logs/node.log (async, rotated at
// 10 MB into node.log.1 … .4), installed as spdlog's default logger, pattern
// "[2026-11-29T02:05:30.123Z] [info] message" (UTC). `level` is trace|debug|info|warn|
// error; anything else is InvalidArgument "log.level: \"x\" is not one of ...". Flushed
// on warn and every second. Called once by amid (calling again replaces it).
Status InitNodeLog(const std::filesystem::path& data_dir, const std::string& level);

}  // namespace ami
