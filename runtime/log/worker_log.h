// A worker's log: what `logger.*` and `console.*` write.
//
// Each line "[2026-11-29T02:05:30.123Z] [INFO] message" goes to
//   - a ring of the most recent lines, for the admin shell and UI (Recent()),
//   - <dir>/<sid>.log, rotated at LogSection::worker_file_bytes into .log.1 … .log.4,
//   - the node log, prefixed with the worker's sid.
// File writes happen on spdlog's background thread, never on the caller's (an actor's
// scheduler thread). Thread-safe.
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
  // `dir` is <data_dir>/logs/workers; it is created if needed.
  static Result<std::shared_ptr<WorkerLog>> Open(const std::string& sid,
                                                 const std::filesystem::path& dir,
                                                 const LogSection& settings);
  ~WorkerLog();

  void Write(LogLevel level, std::string_view message);
  // The last `max_lines` lines (oldest first), each without a trailing newline.
  std::vector<std::string> Recent(size_t max_lines) const;
  // Pushes buffered lines to the file (tests and shutdown).
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

// Sets up the node log: stderr plus <data_dir>/logs/node.log (async, rotated at 10 MB),
// installed as spdlog's default logger. Called once by amid.
Status InitNodeLog(const std::filesystem::path& data_dir, const std::string& level);

}  // namespace ami
