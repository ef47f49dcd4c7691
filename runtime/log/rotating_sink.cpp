#include "runtime/log/rotating_sink.h"

#include <cerrno>
#include <system_error>

#include <spdlog/common.h>

namespace ami {

RotatingFileSink::RotatingFileSink(std::filesystem::path file, size_t max_bytes, size_t backups)
    : file_(std::move(file)), max_bytes_(max_bytes), backups_(backups) {
  if (max_bytes_ == 0) spdlog::throw_spdlog_ex("rotating sink: max_bytes must be > 0");
  helper_.open(file_.string());
  current_bytes_ = helper_.size();
}

std::filesystem::path RotatingFileSink::BackupName(const std::filesystem::path& file,
                                                   size_t index) {
  if (index == 0) return file;
  std::filesystem::path out = file;
  out += "." + std::to_string(index);
  return out;
}

void RotatingFileSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t formatted;
  formatter_->format(msg, formatted);
  size_t new_bytes = current_bytes_ + formatted.size();
  if (new_bytes > max_bytes_) {
    helper_.flush();
    // Rotate only when the file really holds something (a single over-long line is
    // written whole into a fresh file rather than rotated forever).
    if (helper_.size() > 0) {
      Rotate();
      new_bytes = formatted.size();
    }
  }
  helper_.write(formatted);
  current_bytes_ = new_bytes;
}

void RotatingFileSink::flush_() { helper_.flush(); }

void RotatingFileSink::Rotate() {
  helper_.close();
  std::error_code ec;
  for (size_t i = backups_; i > 0; --i) {
    const auto src = BackupName(file_, i - 1);
    if (!std::filesystem::exists(src, ec)) continue;
    // rename(2) replaces the target atomically.
    std::filesystem::rename(src, BackupName(file_, i), ec);
    if (ec) {
      // Don't let the file grow without bound: start it over, then report.
      helper_.reopen(true);
      current_bytes_ = 0;
      spdlog::throw_spdlog_ex("rotating sink: cannot rename " + src.string() + ": " + ec.message());
    }
  }
  helper_.reopen(true);  // truncates: with no backups the old lines are dropped
  current_bytes_ = 0;
}

}  // namespace ami
