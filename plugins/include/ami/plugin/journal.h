// An append-only journal of JSON lines with group commit — the persistence a connector
// (or the exchange simulator) needs to survive kill -9 without losing an acknowledged
// change. Part of the plugin SDK, header-only so a plugin links nothing more.
//
// Contract:
//   - One line per event: Append() takes the JSON text of one object (no newline) and
//     returns its ticket (1, 2, 3, … in Append order). Append never touches the disk:
//     a flusher thread writes everything queued in one write() and one fdatasync, so
//     concurrent callers share fsyncs ("batched fsync").
//   - Acknowledge only what is durable: WaitDurable(ticket) blocks until the fsync that
//     holds that line has returned; AfterDurable(ticket, f) runs f then (on the flusher
//     thread, or at once when it already is). A failed write or fsync makes the journal
//     failed for good: every waiter, present and future, gets ok = false with the error,
//     and Options::on_failure runs once — the caller must not acknowledge anything after
//     that (what reached the disk is what a restart will see).
//   - Replay() (after Open, before the first Append) hands every complete line to
//     `apply` in order. A last line without its newline is a write cut short by a crash
//     (kill -9, power loss): it was never acknowledged, so it is dropped and cut off the
//     file (report.torn). A complete line that is not a JSON object, or that `apply`
//     refuses by throwing, is real damage: Replay fails with "journal <file>:<line>: …"
//     and leaves the file untouched.
//   - Compact(snapshot) replaces the whole file by `snapshot` (lines that stand for
//     everything appended so far) crash-safely: write <file>.tmp, fsync it, rename it over
//     the file, fsync the directory. A crash at any point leaves either the old journal or
//     the new one, never a mix. The caller must keep Append from running meanwhile
//     (it holds the lock under which it appends). Everything appended before counts as
//     durable once Compact returns true.
//   - Thread-safe. The destructor writes and fsyncs what is queued, then stops.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

namespace ami::plugin {

class JournalFile {
 public:
  using Ticket = std::uint64_t;   // 0: nothing to wait for
  using Durable = std::function<void(bool ok, const std::string& error)>;

  struct Options {
    std::int64_t fsync_delay_ms = 0;                          // added before every fsync (slow-disk trials)
    std::function<void(const std::string& error)> on_failure;  // once, on the flusher thread
  };
  struct ReplayReport {
    std::uint64_t lines = 0;   // complete lines read (blank ones included)
    bool torn = false;         // a torn last line was dropped and cut off
  };

  JournalFile() = default;
  JournalFile(const JournalFile&) = delete;
  JournalFile& operator=(const JournalFile&) = delete;
  ~JournalFile() { Close(); }

  // Opens (creates, with its directory) `file` for appending. false with `error` naming
  // the file and why.
  bool Open(const std::filesystem::path& file, std::string& error) { return Open(file, error, Options()); }
  bool Open(const std::filesystem::path& file, std::string& error, Options options) {
    file_ = file;
    options_ = std::move(options);
    std::error_code ec;
    if (!file.parent_path().empty()) std::filesystem::create_directories(file.parent_path(), ec);
    fd_ = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      error = "journal " + file.string() + ": cannot open: " + std::strerror(errno);
      return false;
    }
    SyncDir();   // the directory entry of a new file must be durable too
    flusher_ = std::thread([this] { FlushLoop(); });
    return true;
  }

  bool Replay(const std::function<void(const nlohmann::json&, std::uint64_t line)>& apply, ReplayReport& report,
              std::string& error) {
    report = {};
    std::ifstream in(file_, std::ios::binary);
    const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t pos = 0, good_end = 0;
    std::uint64_t line_no = 0;
    while (pos < all.size()) {
      const std::size_t nl = all.find('\n', pos);
      ++line_no;
      if (nl == std::string::npos) {   // no newline: a write cut short by a crash
        report.torn = true;
        break;
      }
      const std::string_view line(all.data() + pos, nl - pos);
      pos = nl + 1;
      if (!line.empty()) {
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object()) {
          error = Where(line_no) + "not a JSON object (" + std::string(line.substr(0, 80)) +
                  "); the journal is damaged — move it away to start fresh";
          return false;
        }
        try {
          apply(j, line_no);
        } catch (const std::exception& e) {
          error = Where(line_no) + e.what();
          return false;
        }
      }
      good_end = pos;
      ++report.lines;
    }
    if (report.torn) {
      if (::ftruncate(fd_, static_cast<off_t>(good_end)) != 0 || ::fdatasync(fd_) != 0) {
        error = "journal " + file_.string() + ": cannot cut the torn last line: " + std::strerror(errno);
        return false;
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    bytes_ = good_end;
    lines_ = report.lines;
    return true;
  }

  Ticket Append(std::string line) {
    line.push_back('\n');
    Ticket t;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_ += line;
      bytes_ += line.size();
      ++lines_;
      t = ++appended_;
    }
    work_cv_.notify_one();
    return t;
  }

  Ticket last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return appended_;
  }

  bool WaitDurable(Ticket t, std::string* error = nullptr) {
    std::unique_lock<std::mutex> lock(mu_);
    durable_cv_.wait(lock, [&] { return durable_ >= t || failed_; });
    if (durable_ >= t) return true;
    if (error) *error = error_;
    return false;
  }

  void AfterDurable(Ticket t, Durable f) {
    std::unique_lock<std::mutex> lock(mu_);
    if (durable_ >= t || failed_) {
      const bool ok = durable_ >= t;
      const std::string err = ok ? std::string() : error_;
      lock.unlock();
      f(ok, err);
      return;
    }
    waiting_.emplace(t, std::move(f));
  }

  bool Compact(const std::string& snapshot, std::string& error) {
    std::unique_lock<std::mutex> lock(mu_);
    idle_cv_.wait(lock, [&] { return !flushing_; });   // the flusher's write must not land in the old file late
    if (failed_) {
      error = error_;
      return false;
    }
    const std::filesystem::path tmp = file_.string() + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      error = "journal " + tmp.string() + ": cannot create: " + std::strerror(errno);
      return false;   // the old journal (and what is queued for it) stays as it is
    }
    bool ok = WriteAll(fd, snapshot) && ::fsync(fd) == 0;
    const std::string why = ok ? "" : std::strerror(errno);
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), file_.c_str()) != 0) {
      error = "journal " + tmp.string() + ": cannot write or rename: " + (ok ? std::strerror(errno) : why);
      ::unlink(tmp.c_str());
      return false;
    }
    SyncDir();
    const int fresh = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fresh < 0) {
      FailLocked("journal " + file_.string() + ": cannot reopen after compaction: " + std::strerror(errno), lock);
      error = error_;
      return false;
    }
    ::close(fd_);
    fd_ = fresh;
    pending_.clear();   // represented in the snapshot
    bytes_ = snapshot.size();
    lines_ = static_cast<std::uint64_t>(std::count(snapshot.begin(), snapshot.end(), '\n'));
    ++compactions_;
    ReleaseLocked(appended_, lock);
    return true;
  }

  std::uint64_t bytes() const { return Read(bytes_); }              // file size, queued lines included
  std::uint64_t lines() const { return Read(lines_); }
  std::uint64_t fsyncs() const { return Read(fsyncs_); }
  std::uint64_t compactions() const { return Read(compactions_); }
  const std::filesystem::path& file() const { return file_; }

 private:
  std::string Where(std::uint64_t line) const { return "journal " + file_.string() + ":" + std::to_string(line) + ": "; }

  std::uint64_t Read(const std::uint64_t& v) const {
    std::lock_guard<std::mutex> lock(mu_);
    return v;
  }

  void SyncDir() const {
    const std::filesystem::path dir = file_.parent_path().empty() ? "." : file_.parent_path();
    const int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d >= 0) {
      ::fsync(d);
      ::close(d);
    }
  }

  static bool WriteAll(int fd, const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Runs (outside the lock) every waiter up to `upto`, and wakes the blocked ones.
  void ReleaseLocked(Ticket upto, std::unique_lock<std::mutex>& lock) {
    if (upto > durable_) durable_ = upto;
    std::multimap<Ticket, Durable> ready;
    const auto end = failed_ ? waiting_.end() : waiting_.upper_bound(durable_);
    ready.insert(std::make_move_iterator(waiting_.begin()), std::make_move_iterator(end));
    waiting_.erase(waiting_.begin(), end);
    const bool ok = !failed_;
    const std::string err = error_;
    durable_cv_.notify_all();
    lock.unlock();
    for (auto& [t, f] : ready) f(ok && t <= upto, err);
    lock.lock();
  }

  void FailLocked(std::string error, std::unique_lock<std::mutex>& lock) {
    if (failed_) return;
    failed_ = true;
    error_ = std::move(error);
    auto on_failure = options_.on_failure;
    const std::string err = error_;
    ReleaseLocked(durable_, lock);
    if (on_failure) {
      lock.unlock();
      on_failure(err);
      lock.lock();
    }
  }

  void FlushLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      work_cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty() && stopping_) return;
      std::string batch;
      batch.swap(pending_);
      const Ticket upto = appended_;
      flushing_ = true;
      const int fd = fd_;
      const bool failed = failed_;
      lock.unlock();
      bool ok = !failed && WriteAll(fd, batch);
      if (ok && options_.fsync_delay_ms > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(options_.fsync_delay_ms));
      if (ok) ok = ::fdatasync(fd) == 0;
      const std::string why = ok ? "" : std::strerror(errno);
      lock.lock();
      flushing_ = false;
      idle_cv_.notify_all();
      if (!ok) {
        FailLocked("journal " + file_.string() + ": write/fsync failed: " + why, lock);
        continue;
      }
      ++fsyncs_;
      ReleaseLocked(upto, lock);
    }
  }

  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    work_cv_.notify_all();
    if (flusher_.joinable()) flusher_.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  std::filesystem::path file_;
  Options options_;
  int fd_ = -1;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;     // something to write, or stopping
  std::condition_variable durable_cv_;  // durable_ moved, or failed
  std::condition_variable idle_cv_;     // the flusher finished a batch
  std::string pending_;                 // lines not yet written
  std::multimap<Ticket, Durable> waiting_;
  Ticket appended_ = 0, durable_ = 0;
  bool flushing_ = false, stopping_ = false, failed_ = false;
  std::string error_;
  std::uint64_t bytes_ = 0, lines_ = 0, fsyncs_ = 0, compactions_ = 0;
  std::thread flusher_;
};

}  // namespace ami::plugin
