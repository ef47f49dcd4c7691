#include "runtime/log/log_tail.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

namespace ami {

namespace {

constexpr size_t kChunk = 64 * 1024;  // bytes read at a time when searching backwards

}  // namespace

struct WorkerLogFiles::File {
  int fd = -1;
  uint64_t inode = 0;
  uint64_t size = 0;
  bool current = false;  // <sid>.log (may still grow; its last line may be incomplete)

  File(int f, uint64_t i, uint64_t s, bool c) : fd(f), inode(i), size(s), current(c) {}
  File(File&& o) noexcept : fd(std::exchange(o.fd, -1)), inode(o.inode), size(o.size), current(o.current) {}
  File& operator=(File&&) = delete;
  ~File() {
    if (fd >= 0) ::close(fd);
  }

  Result<std::string> ReadAt(uint64_t offset, size_t length) const {
    std::string buf(length, '\0');
    size_t got = 0;
    while (got < length) {
      const ssize_t n = ::pread(fd, buf.data() + got, length - got, static_cast<off_t>(offset + got));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::IOError(std::string("reading a worker log: ") + std::strerror(errno));
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
    }
    buf.resize(got);
    return buf;
  }

  // Where complete lines end: the size, or for the current file just after its last
  // newline (a line still being written is held back).
  Result<uint64_t> CompleteEnd() const {
    if (!current || size == 0) return size;
    uint64_t pos = size;
    while (pos > 0) {
      const size_t len = static_cast<size_t>(std::min<uint64_t>(pos, kChunk));
      auto chunk = ReadAt(pos - len, len);
      if (!chunk.ok()) return chunk.status();
      const auto nl = chunk->rfind('\n');
      if (nl != std::string::npos) return pos - len + nl + 1;
      pos -= len;
    }
    return uint64_t{0};
  }
};

std::string FormatLogCursor(const LogCursor& c) { return std::to_string(c.inode) + ":" + std::to_string(c.offset); }

std::optional<LogCursor> ParseLogCursor(std::string_view text) {
  auto number = [](std::string_view s, uint64_t& out) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc() && end == s.data() + s.size();
  };
  LogCursor c;
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || !number(text.substr(0, colon), c.inode) ||
      !number(text.substr(colon + 1), c.offset))
    return std::nullopt;
  return c;
}

WorkerLogFiles::WorkerLogFiles() = default;
WorkerLogFiles::WorkerLogFiles(WorkerLogFiles&&) noexcept = default;
WorkerLogFiles& WorkerLogFiles::operator=(WorkerLogFiles&&) noexcept = default;
WorkerLogFiles::~WorkerLogFiles() = default;

WorkerLogFiles WorkerLogFiles::Open(const std::filesystem::path& dir, const std::string& sid, int files) {
  WorkerLogFiles out;
  for (int i = std::max(1, files) - 1; i >= 0; --i) {
    const auto path = dir / (sid + ".log" + (i == 0 ? "" : "." + std::to_string(i)));
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    File file(fd, 0, 0, i == 0);  // owns fd from here on
    struct stat st {};
    if (::fstat(fd, &st) != 0) continue;
    file.inode = static_cast<uint64_t>(st.st_ino);
    file.size = static_cast<uint64_t>(st.st_size);
    out.files_.push_back(std::move(file));
  }
  return out;
}

Result<LogTail> WorkerLogFiles::Last(size_t want, size_t max_bytes) const {
  LogTail out;
  std::vector<std::string> newest_first;
  size_t bytes = 0;
  bool full = want == 0;
  for (auto f = files_.rbegin(); f != files_.rend(); ++f) {
    if (full && f != files_.rbegin()) break;
    auto end = f->CompleteEnd();
    if (!end.ok()) return end.status();
    if (f == files_.rbegin()) out.cursor = LogCursor{f->inode, *end};  // the newest file
    if (full || *end == 0) continue;
    // Split [0, end) into lines from the back; `tail` holds bytes not yet split.
    uint64_t pos = *end - 1;  // drop the final newline
    {
      auto last = f->ReadAt(*end - 1, 1);
      if (!last.ok()) return last.status();
      if (*last != "\n") pos = *end;  // a backup that does not end in a newline
    }
    std::string tail;
    while (true) {
      const auto nl = tail.rfind('\n');
      if (nl != std::string::npos || pos == 0) {
        std::string line = nl == std::string::npos ? std::move(tail) : tail.substr(nl + 1);
        bytes += line.size();
        if (bytes > max_bytes) {
          full = true;
          break;
        }
        newest_first.push_back(std::move(line));
        if (newest_first.size() >= want) {
          full = true;
          break;
        }
        if (nl == std::string::npos) break;  // that was the file's first line
        tail.resize(nl);
        continue;
      }
      if (bytes + tail.size() > max_bytes) {  // one line longer than a whole reply
        full = true;
        break;
      }
      const size_t len = static_cast<size_t>(std::min<uint64_t>(pos, kChunk));
      auto chunk = f->ReadAt(pos - len, len);
      if (!chunk.ok()) return chunk.status();
      tail = *chunk + tail;
      pos -= len;
    }
  }
  out.lines.assign(newest_first.rbegin(), newest_first.rend());
  return out;
}

Result<LogTail> WorkerLogFiles::After(LogCursor cursor, size_t max_bytes) const {
  LogTail out;
  out.cursor = cursor;
  if (files_.empty()) return out;
  size_t start = 0;
  uint64_t offset = 0;
  auto same = std::find_if(files_.begin(), files_.end(), [&](const File& f) { return f.inode == cursor.inode; });
  if (same != files_.end()) {
    start = static_cast<size_t>(same - files_.begin());
    offset = cursor.offset <= same->size ? cursor.offset : 0;  // shrunk: truncated, start over
  }  // else: rotated away entirely (or no file before): from the oldest file there is
  size_t bytes = 0;
  for (size_t i = start; i < files_.size(); ++i, offset = 0) {
    const File& f = files_[i];
    auto end = f.CompleteEnd();
    if (!end.ok()) return end.status();
    out.cursor = LogCursor{f.inode, std::max(offset, *end)};
    if (offset >= *end) continue;
    if (bytes >= max_bytes) {
      out.cursor = LogCursor{f.inode, offset};
      out.more = true;
      return out;
    }
    const size_t len = static_cast<size_t>(std::min<uint64_t>(*end - offset, max_bytes - bytes + kChunk));
    auto text = f.ReadAt(offset, len);
    if (!text.ok()) return text.status();
    // Whole lines only; the last one may be cut by `len`, then it comes next time.
    size_t begin = 0;
    uint64_t consumed = offset;
    while (begin < text->size()) {
      const auto nl = text->find('\n', begin);
      const bool at_end = offset + text->size() == *end;
      if (nl == std::string::npos && !(at_end && !f.current)) break;
      const size_t stop = nl == std::string::npos ? text->size() : nl;
      out.lines.push_back(text->substr(begin, stop - begin));
      bytes += stop - begin;
      begin = nl == std::string::npos ? text->size() : nl + 1;
      consumed = offset + begin;
      if (bytes >= max_bytes) break;
    }
    if (consumed == offset && !text->empty() && out.lines.empty()) {
      // One line longer than a whole reply: hand it over in pieces rather than never.
      out.lines.push_back(*text);
      consumed = offset + text->size();
    }
    if (consumed < *end) {
      out.cursor = LogCursor{f.inode, consumed};
      out.more = true;
      return out;
    }
    out.cursor = LogCursor{f.inode, *end};
  }
  return out;
}

}  // namespace ami
