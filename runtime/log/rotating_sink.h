// A size-rotated file sink with the STELS layout: <file>, <file>.1, … <file>.<backups>
// (spdlog's own rotating_file_sink names backups "<stem>.1.log"). Used by WorkerLog for
// <sid>.log and by InitNodeLog for node.log. Thread-safe (spdlog base_sink + mutex).
#pragma once

#include <cstddef>
#include <filesystem>
#include <mutex>

#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/base_sink.h>

namespace ami {

class RotatingFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // Opens (appends to) `file`, creating its directory. When a line would take the file
  // past `max_bytes`, the file is rotated: <file>.<backups-1> -> <file>.<backups>, …,
  // <file> -> <file>.1, and a new <file> is started; at most `backups` old files are
  // kept (0: the file is just truncated). `max_bytes` must be > 0.
  // Throws spdlog::spdlog_ex when the file can't be opened.
  RotatingFileSink(std::filesystem::path file, size_t max_bytes, size_t backups);

  const std::filesystem::path& file() const { return file_; }
  // "<file>.<index>", or `file` for index 0.
  static std::filesystem::path BackupName(const std::filesystem::path& file, size_t index);

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  void Rotate();

  const std::filesystem::path file_;
  const size_t max_bytes_;
  const size_t backups_;
  size_t current_bytes_ = 0;
  spdlog::details::file_helper helper_;
};

}  // namespace ami
