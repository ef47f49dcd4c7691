#include "apps/exchange_sim/sim_journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace ami::exchange_sim {

bool Journal::Open(const std::filesystem::path& file, std::int64_t fsync_delay_ms, std::string& error) {
  file_ = file;
  fsync_delay_ms_ = fsync_delay_ms;
  fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    error = "journal " + file.string() + ": cannot open: " + std::strerror(errno);
    return false;
  }
  // The directory entry of a new file must be durable too.
  const int dir = ::open(file.parent_path().empty() ? "." : file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  flusher_ = std::thread([this] { FlushLoop(); });
  return true;
}

Journal::~Journal() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  if (fd_ >= 0) ::close(fd_);
}

bool Journal::Replay(const std::function<void(const nlohmann::json&)>& apply, int& torn, std::string& error) {
  torn = 0;
  std::ifstream in(file_, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t pos = 0, line_no = 0, good_end = 0;
  while (pos < all.size()) {
    const std::size_t nl = all.find('\n', pos);
    ++line_no;
    if (nl == std::string::npos) {   // no newline: a write cut short by a crash
      torn = 1;
      break;
    }
    const std::string line = all.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) {
      good_end = pos;
      continue;
    }
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      error = "journal " + file_.string() + ":" + std::to_string(line_no) + ": not a JSON object: " + line.substr(0, 120);
      return false;
    }
    try {
      apply(j);
    } catch (const std::exception& e) {
      error = "journal " + file_.string() + ":" + std::to_string(line_no) + ": " + e.what();
      return false;
    }
    good_end = pos;
  }
  if (torn && ::ftruncate(fd_, static_cast<off_t>(good_end)) != 0) {
    error = "journal " + file_.string() + ": cannot cut the torn last line: " + std::strerror(errno);
    return false;
  }
  lines_ = line_no - torn;
  return true;
}

void Journal::Append(const nlohmann::json& event, std::function<void()> durable) {
  std::string line = event.dump();
  line.push_back('\n');
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ += line;
    if (durable) waiting_.push_back(std::move(durable));
    ++lines_;
  }
  cv_.notify_all();
}

void Journal::AfterDurable(std::function<void()> durable) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Runs after the batch being written now (if any) and the queued one are on disk.
    waiting_.push_back(std::move(durable));
  }
  cv_.notify_all();
}

void Journal::FlushLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !pending_.empty() || !waiting_.empty(); });
    if (pending_.empty() && waiting_.empty() && stopping_) return;
    std::string batch;
    batch.swap(pending_);
    std::vector<std::function<void()>> done;
    done.swap(waiting_);
    lock.unlock();
    std::size_t off = 0;
    bool ok = true;
    while (off < batch.size()) {
      const ssize_t n = ::write(fd_, batch.data() + off, batch.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok = false;
        break;
      }
      off += static_cast<std::size_t>(n);
    }
    if (fsync_delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(fsync_delay_ms_));
    if (!batch.empty() && ok) ok = ::fdatasync(fd_) == 0;
    if (!ok) {
      // An event we cannot make durable must never be acknowledged: stop the process
      // (the replay on restart shows exactly what reached the disk).
      std::fprintf(stderr, "ami-exchange-sim: journal %s: write/fsync failed: %s — exiting\n", file_.c_str(),
                   std::strerror(errno));
      std::_Exit(3);
    }
    for (auto& f : done) f();
    lock.lock();
    if (!batch.empty()) ++fsyncs_;
  }
}

std::uint64_t Journal::fsyncs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fsyncs_;
}

std::uint64_t Journal::lines() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_;
}

}  // namespace ami::exchange_sim
