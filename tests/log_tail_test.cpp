// Reading worker log files back (runtime/log/log_tail.h): the last lines, following with
// a cursor, rotation, truncation, held-back partial lines and the per-reply byte limit.
// The files are written here by hand, laid out as WorkerLog's rotation leaves them.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "runtime/log/log_tail.h"
#include "tests/support/test_support.h"

using namespace ami;
using ami::test::TempDir;

namespace {

const std::string kSid = "0b7c2d52-8d0e-4c41-9a43-5b0d3c6e7f10";

void Append(const std::filesystem::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::app);
  out << text;
}

std::filesystem::path Current(const TempDir& dir) { return dir / (kSid + ".log"); }
std::filesystem::path Backup(const TempDir& dir, int n) { return dir / (kSid + ".log." + std::to_string(n)); }

// What WorkerLog's rotation does: .log.1 → .log.2, …, .log → .log.1.
void Rotate(const TempDir& dir, int files) {
  std::filesystem::remove(Backup(dir, files - 1));
  for (int i = files - 2; i >= 1; --i)
    if (std::filesystem::exists(Backup(dir, i))) std::filesystem::rename(Backup(dir, i), Backup(dir, i + 1));
  std::filesystem::rename(Current(dir), Backup(dir, 1));
}

LogTail Last(const TempDir& dir, size_t want, size_t max_bytes = kMaxLogTailBytes) {
  auto r = WorkerLogFiles::Open(dir.path(), kSid, 3).Last(want, max_bytes);
  REQUIRE(r.ok());
  return *r;
}

LogTail After(const TempDir& dir, const LogCursor& cursor, size_t max_bytes = kMaxLogTailBytes) {
  auto r = WorkerLogFiles::Open(dir.path(), kSid, 3).After(cursor, max_bytes);
  REQUIRE(r.ok());
  return *r;
}

using Lines = std::vector<std::string>;

}  // namespace

TEST_CASE("log tail: cursors round-trip and anything else is refused", "[log_tail]") {
  const LogCursor c{1234567, 89};
  CHECK(FormatLogCursor(c) == "1234567:89");
  REQUIRE(ParseLogCursor("1234567:89").has_value());
  CHECK(*ParseLogCursor("1234567:89") == c);
  for (const char* bad : {"", "nope", "1", "1:", ":2", "1:2:3", "-1:2", "1:-2", "1:2 ", "a:b", "99999999999999999999:1"}) {
    INFO(bad);
    CHECK(!ParseLogCursor(bad).has_value());
  }
}

TEST_CASE("log tail: no files yet gives nothing, and the cursor then picks the file up", "[log_tail]") {
  TempDir dir;
  auto files = WorkerLogFiles::Open(dir.path(), kSid, 3);
  CHECK(files.empty());
  auto none = files.Last(10);
  REQUIRE(none.ok());
  CHECK(none->lines.empty());
  CHECK(!none->more);
  Append(Current(dir), "first\nsecond\n");
  CHECK(After(dir, none->cursor).lines == Lines{"first", "second"});
}

TEST_CASE("log tail: the last lines, a line still being written held back", "[log_tail]") {
  TempDir dir;
  Append(Current(dir), "a\nb\nc\nd\npart");
  LogTail tail = Last(dir, 2);
  CHECK(tail.lines == Lines{"c", "d"});
  CHECK(!tail.more);
  CHECK(tail.cursor.offset == 8);  // after "d\n"
  CHECK(Last(dir, 100).lines == Lines{"a", "b", "c", "d"});

  // Following: the partial line comes once complete, exactly once.
  CHECK(After(dir, tail.cursor).lines.empty());
  Append(Current(dir), "ial\ne\n");
  LogTail next = After(dir, tail.cursor);
  CHECK(next.lines == Lines{"partial", "e"});
  CHECK(After(dir, next.cursor).lines.empty());
}

TEST_CASE("log tail: older rotated files fill in when the current one holds fewer lines", "[log_tail]") {
  TempDir dir;
  Append(Backup(dir, 2), "1\n2\n");
  Append(Backup(dir, 1), "3\n4");  // a backup's last line without a newline still counts
  Append(Current(dir), "5\n");
  CHECK(Last(dir, 4).lines == Lines{"2", "3", "4", "5"});
  CHECK(Last(dir, 50).lines == Lines{"1", "2", "3", "4", "5"});
  CHECK(Last(dir, 1).lines == Lines{"5"});
}

TEST_CASE("log tail: following a cursor across rotations returns every line once, in order", "[log_tail]") {
  TempDir dir;
  Append(Current(dir), "l0\nl1\n");
  LogCursor cursor = Last(dir, 10).cursor;
  Lines seen;
  int n = 2;
  for (int round = 0; round < 5; ++round) {
    Append(Current(dir), "l" + std::to_string(n++) + "\n");
    Rotate(dir, 3);  // the rest of the file behind the cursor is now in .log.1
    Append(Current(dir), "l" + std::to_string(n++) + "\n");
    LogTail next = After(dir, cursor);
    seen.insert(seen.end(), next.lines.begin(), next.lines.end());
    cursor = next.cursor;
  }
  Lines want;
  for (int i = 2; i < n; ++i) want.push_back("l" + std::to_string(i));
  CHECK(seen == want);
}

TEST_CASE("log tail: a cursor whose file is gone restarts at the oldest file, a truncated one at its start",
          "[log_tail]") {
  TempDir dir;
  Append(Current(dir), "old\n");
  const LogCursor cursor = Last(dir, 10).cursor;
  {
    // Rotated away entirely. The descriptor held here keeps the old inode from being
    // reused by the new files, so the cursor really names no file there is.
    const int held = ::open(Current(dir).c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(held >= 0);
    std::filesystem::remove(Current(dir));
    Append(Backup(dir, 1), "b1\n");
    Append(Current(dir), "c1\n");
    CHECK(After(dir, cursor).lines == Lines{"b1", "c1"});
    ::close(held);
  }
  TempDir other;
  Append(Current(other), "x1\nx2\nx3\n");
  const LogCursor end = Last(other, 10).cursor;
  std::filesystem::resize_file(Current(other), 0);
  Append(Current(other), "y\n");
  CHECK(After(other, end).lines == Lines{"y"});
}

TEST_CASE("log tail: a reply stops near max_bytes with more set, and the rest follows", "[log_tail]") {
  TempDir dir;
  Lines written;
  for (int i = 0; i < 40; ++i) {
    written.push_back("line-" + std::to_string(100 + i));  // 8 bytes each
    Append(Current(dir), written.back() + "\n");
  }
  Lines seen;
  LogCursor cursor;  // 0:0, from the oldest file
  int replies = 0;
  bool more = true;
  while (more && replies < 100) {
    LogTail next = After(dir, cursor, 64);
    CHECK(next.lines.size() <= 9);
    seen.insert(seen.end(), next.lines.begin(), next.lines.end());
    cursor = next.cursor;
    more = next.more;
    ++replies;
  }
  CHECK(seen == written);
  CHECK(replies > 3);
  // Last() stops at the byte limit too, with the newest lines.
  LogTail last = Last(dir, 40, 64);
  CHECK(last.lines.size() == 8);
  CHECK(last.lines.back() == written.back());
}

TEST_CASE("log tail: a single line longer than a reply comes in pieces", "[log_tail]") {
  TempDir dir;
  // Longer than max_bytes plus the 64 KiB a read may go beyond it to finish a line.
  const std::string huge(200000, 'x');
  Append(Current(dir), huge + "\nend\n");
  std::string joined;
  Lines other;
  LogCursor cursor;
  int pieces = 0;
  for (int i = 0; i < 50; ++i) {
    LogTail next = After(dir, cursor, 100);
    pieces += static_cast<int>(next.lines.size());
    for (const auto& line : next.lines) {
      if (line == "end") other.push_back(line);
      else joined += line;
    }
    cursor = next.cursor;
    if (!next.more && !next.lines.empty() && next.lines.back() == "end") break;
  }
  CHECK(joined == huge);
  CHECK(other == Lines{"end"});
  CHECK(pieces > 2);
}
