// Worker logs: file lines and format, the in-memory ring, rotation, the node log, and
// that thousands of short-lived WorkerLogs don't leak loggers or file descriptors.
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <future>
#include <regex>
#include <sstream>
#include <thread>

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "runtime/log/worker_log.h"
#include "tests/support/test_support.h"

using namespace ami;
using namespace ami::test;
namespace fs = std::filesystem;

namespace {

constexpr const char* kSid = "abcdef12-3456-4789-8abc-def012345678";
const std::regex kLine(R"(\[\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\] \[(DEBUG|INFO|WARN|ERROR)\] .*)");

// Installs a synchronous default (node) logger writing "level|message" into a string, and
// puts the previous one back afterwards. Also keeps test output quiet.
class CaptureNodeLog {
 public:
  CaptureNodeLog() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    auto logger = std::make_shared<spdlog::logger>("capture", std::move(sink));
    logger->set_pattern("%l|%v");
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
  }
  ~CaptureNodeLog() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

LogSection Settings(uint64_t file_bytes = 1 << 20, int files = 5, int ring = 1000) {
  LogSection s;
  s.worker_file_bytes = file_bytes;
  s.worker_files = files;
  s.ring_lines = ring;
  return s;
}

size_t OpenFds() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// Descriptors of this process open on `file`.
size_t FdsOn(const fs::path& file) {
  size_t n = 0;
  std::error_code ec;
  const auto target = fs::weakly_canonical(file, ec);
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
    std::error_code link_ec;
    if (fs::read_symlink(e.path(), link_ec) == target) ++n;
  }
  return n;
}

size_t FilesIn(const fs::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

bool FileHasLines(const fs::path& file, size_t n) {
  return fs::exists(file) && Lines(ReadFile(file)).size() >= n;
}

}  // namespace

TEST_CASE("worker log lines reach the file in the compat format", "[log]") {
  CaptureNodeLog quiet;
  TempDir tmp;
  const fs::path dir = tmp / "logs/workers";   // created by Open
  auto opened = WorkerLog::Open(kSid, dir, Settings());
  REQUIRE(opened.ok());
  auto log = *opened;
  CHECK(log->file() == dir / (std::string(kSid) + ".log"));
  CHECK(fs::is_directory(dir));

  log->Write(LogLevel::kInfo, "Worker script initialized!");
  log->Write(LogLevel::kWarn, "careful {} {0} %s");   // no formatting applied
  log->Write(LogLevel::kError, "line one\nline two");
  log->Write(LogLevel::kDebug, "trailing newline\n");
  log->Flush();

  REQUIRE(Eventually([&] { return FileHasLines(log->file(), 4); }));
  const auto lines = Lines(ReadFile(log->file()));
  REQUIRE(lines.size() == 4);
  CHECK(std::regex_match(lines[0], kLine));
  CHECK(lines[0].ends_with("] [INFO] Worker script initialized!"));
  CHECK(std::regex_match(lines[1], kLine));
  CHECK(lines[1].ends_with("] [WARN] careful {} {0} %s"));
  CHECK(std::regex_match(lines[2], kLine));
  CHECK(lines[2].ends_with("] [ERROR] line one\\nline two"));   // one message, one line
  CHECK(std::regex_match(lines[3], kLine));
  CHECK(lines[3].ends_with("] [DEBUG] trailing newline"));

  const auto recent = log->Recent(10);
  REQUIRE(recent.size() == 4);
  CHECK(recent == lines);
}

TEST_CASE("control characters in a message cannot forge log lines", "[log][hostile]") {
  CaptureNodeLog capture;
  TempDir tmp;
  auto log = *WorkerLog::Open(kSid, tmp.path(), Settings());
  // A script trying to forge a line of another worker, recolor the terminal, and use
  // the Unicode separators and NEL some viewers break lines at.
  const std::string forged = "ok\n[2026-11-29T02:05:30.123Z] [ERROR] forged\r\x1b[31mred\x01\x7f\ttab"
                             "\xc2\x85nel\xe2\x80\xa8ls\xe2\x80\xa9ps \xe2\x82\xac euro";
  log->Write(LogLevel::kInfo, forged);
  log->Flush();
  REQUIRE(Eventually([&] { return FileHasLines(log->file(), 1); }));
  const auto lines = Lines(ReadFile(log->file()));
  REQUIRE(lines.size() == 1);
  const std::string expected =
      "ok\\n[2026-11-29T02:05:30.123Z] [ERROR] forged\\r\\x1b[31mred\\x01\\x7f\\ttab"
      "\\u0085nel\\u2028ls\\u2029ps \xe2\x82\xac euro";
  CHECK(lines[0].ends_with("] [INFO] " + expected));
  CHECK(EscapeLogMessage(forged) == expected);
  for (char c : lines[0]) CHECK((static_cast<unsigned char>(c) >= 0x20 && c != 0x7f));
  // The node log's copy is escaped too.
  const auto node_lines = Lines(capture.text());
  REQUIRE(node_lines.size() == 1);
  CHECK(node_lines[0] == "info|worker abcdef12: [INFO] " + expected);
}

TEST_CASE("a message longer than max_line is cut, with the bytes dropped said", "[log][hostile]") {
  CaptureNodeLog quiet;
  TempDir tmp;
  auto log = *WorkerLog::Open(kSid, tmp.path(), Settings(), /*max_line=*/1000);
  // The cut falls inside a 3-byte character: it must not split it.
  std::string big(1000 + 256 - 1, 'a');
  for (int i = 0; i < 1000; ++i) big += "\xe2\x82\xac";
  log->Write(LogLevel::kInfo, big);
  const auto recent = log->Recent(1);
  REQUIRE(recent.size() == 1);
  const std::string& line = recent[0];
  const std::string marker = "… [" + std::to_string(big.size() - 1255) + " bytes dropped]";
  CHECK(line.ends_with(std::string(1255, 'a') + marker));
  CHECK(line.size() < 1400);
  log->Write(LogLevel::kInfo, std::string(1200, 'b'));   // within the slack: whole
  CHECK(log->Recent(1)[0].ends_with(std::string(1200, 'b')));
}

namespace {
// A sink that holds the (shared) background thread until released: the disk or the
// thread cannot keep up.
class StallSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit StallSink(std::shared_future<void> release) : release_(std::move(release)) {}
  std::atomic<bool> entered{false};

 protected:
  void sink_it_(const spdlog::details::log_msg&) override {
    entered = true;
    release_.wait();
  }
  void flush_() override {}

 private:
  std::shared_future<void> release_;
};
}  // namespace

TEST_CASE("a full log queue drops worker lines instead of blocking, and says how many", "[log][hostile]") {
  CaptureNodeLog quiet;   // a synchronous node logger: only the worker's lines queue
  TempDir tmp;
  auto log = *WorkerLog::Open(kSid, tmp.path(), Settings(1 << 20, 5, 100));
  REQUIRE(spdlog::thread_pool());   // WorkerLog's pool, installed as spdlog's own
  std::promise<void> release;
  auto sink = std::make_shared<StallSink>(release.get_future().share());
  auto stall = std::make_shared<spdlog::async_logger>("stall", sink, spdlog::thread_pool(),
                                                      spdlog::async_overflow_policy::overrun_oldest);
  stall->info("stall");
  REQUIRE(Eventually([&] { return sink->entered.load(); }));
  // Far more lines than the queue holds, from another thread: a Write that waited for
  // room would hang that thread until the release below.
  auto writer = std::async(std::launch::async, [&] {
    for (int i = 0; i < 10000; ++i) log->Write(LogLevel::kInfo, "line " + std::to_string(i));
  });
  const bool finished = writer.wait_for(std::chrono::seconds(120)) == std::future_status::ready;
  release.set_value();
  REQUIRE(finished);
  REQUIRE(Eventually([&] { return spdlog::thread_pool()->queue_size() == 0; }));   // drained
  const uint64_t dropped = log->dropped();
  CHECK(dropped > 0);
  CHECK(dropped < 10000);
  log->Write(LogLevel::kInfo, "after the stall");
  log->Flush();
  REQUIRE(Eventually([&] { return ReadFile(log->file()).find("after the stall") != std::string::npos; }));
  const std::string text = ReadFile(log->file());
  CHECK(text.find("] [WARN] " + std::to_string(dropped) + " log lines dropped (the log queue was full)\n") !=
        std::string::npos);
  CHECK(Lines(text).size() == 10000 - dropped + 2);   // every line not dropped, the notice, the last
}

TEST_CASE("the ring keeps the last ring_lines lines", "[log]") {
  CaptureNodeLog quiet;
  TempDir tmp;
  auto log = *WorkerLog::Open(kSid, tmp.path(), Settings(1 << 20, 5, 3));
  CHECK(log->Recent(10).empty());
  for (int i = 0; i < 10; ++i) log->Write(LogLevel::kInfo, "line " + std::to_string(i));

  auto all = log->Recent(100);
  REQUIRE(all.size() == 3);
  CHECK(all[0].ends_with("[INFO] line 7"));
  CHECK(all[1].ends_with("[INFO] line 8"));
  CHECK(all[2].ends_with("[INFO] line 9"));
  auto two = log->Recent(2);
  REQUIRE(two.size() == 2);
  CHECK(two[0].ends_with("line 8"));
  CHECK(two[1].ends_with("line 9"));
  CHECK(log->Recent(0).empty());

  // The file still has every line.
  log->Flush();
  CHECK(Eventually([&] { return FileHasLines(log->file(), 10); }));

  // ring_lines 0: nothing is kept in memory.
  auto none = *WorkerLog::Open("other", tmp.path(), Settings(1 << 20, 5, 0));
  none->Write(LogLevel::kInfo, "x");
  CHECK(none->Recent(5).empty());
}

TEST_CASE("worker logs rotate into <sid>.log.N and keep worker_files files", "[log]") {
  CaptureNodeLog quiet;
  TempDir tmp;
  const std::string base = std::string(kSid) + ".log";
  auto log = *WorkerLog::Open(kSid, tmp.path(), Settings(300, 3));
  const int kCount = 100;
  for (int i = 0; i < kCount; ++i) log->Write(LogLevel::kInfo, "message number " + std::to_string(i));
  log->Flush();

  const std::string last = "message number " + std::to_string(kCount - 1);
  REQUIRE(Eventually([&] { return ReadFile(log->file()).find(last) != std::string::npos; }));
  CHECK(fs::exists(tmp / (base + ".1")));
  CHECK(fs::exists(tmp / (base + ".2")));
  CHECK_FALSE(fs::exists(tmp / (base + ".3")));
  CHECK(FilesIn(tmp.path()) == 3);
  for (const char* suffix : {"", ".1", ".2"}) CHECK(fs::file_size(tmp / (base + suffix)) <= 300);

  // Oldest to newest, the kept files hold consecutive lines ending with the last one.
  const auto lines = Lines(ReadFile(tmp / (base + ".2")) + ReadFile(tmp / (base + ".1")) +
                           ReadFile(log->file()));
  REQUIRE(lines.size() >= 6);
  const int first = kCount - static_cast<int>(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    INFO(lines[i]);
    CHECK(std::regex_match(lines[i], kLine));
    CHECK(lines[i].ends_with("message number " + std::to_string(first + static_cast<int>(i))));
  }

  SECTION("worker_files 1 keeps only the current file") {
    TempDir tmp2;
    auto single = *WorkerLog::Open(kSid, tmp2.path(), Settings(300, 1));
    for (int i = 0; i < 50; ++i) single->Write(LogLevel::kInfo, "message number " + std::to_string(i));
    single->Flush();
    REQUIRE(Eventually([&] { return ReadFile(single->file()).find("message number 49") != std::string::npos; }));
    CHECK(FilesIn(tmp2.path()) == 1);
  }
}

TEST_CASE("worker lines go to the node log with the sid prefix and level", "[log]") {
  CaptureNodeLog capture;
  TempDir tmp;
  auto log = *WorkerLog::Open(kSid, tmp.path(), Settings());
  log->Write(LogLevel::kInfo, "hello");
  log->Write(LogLevel::kDebug, "details");
  log->Write(LogLevel::kWarn, "hmm");
  log->Write(LogLevel::kError, "boom\nstack");
  const auto lines = Lines(capture.text());
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "info|worker abcdef12: [INFO] hello");
  CHECK(lines[1] == "debug|worker abcdef12: [DEBUG] details");
  CHECK(lines[2] == "warning|worker abcdef12: [WARN] hmm");
  CHECK(lines[3] == "error|worker abcdef12: [ERROR] boom\\nstack");
}

TEST_CASE("InitNodeLog writes node.log and checks the level", "[log]") {
  CaptureNodeLog restore;   // puts the previous default logger back afterwards
  TempDir tmp;

  Status bad = InitNodeLog(tmp.path(), "verbose");
  CHECK(bad.code() == Status::Code::kInvalidArgument);
  CHECK(bad.message() == "log.level: \"verbose\" is not one of trace|debug|info|warn|error");
  CHECK(spdlog::default_logger()->name() == "capture");   // unchanged on error

  REQUIRE(InitNodeLog(tmp.path(), "info").ok());
  CHECK(spdlog::default_logger()->level() == spdlog::level::info);
  auto log = *WorkerLog::Open(kSid, tmp / "logs/workers", Settings());
  log->Write(LogLevel::kDebug, "not at info level");
  log->Write(LogLevel::kWarn, "to the node log");
  spdlog::default_logger()->flush();
  const fs::path node_log = tmp / "logs/node.log";
  REQUIRE(Eventually([&] {
    return ReadFile(node_log).find("worker abcdef12: [WARN] to the node log") != std::string::npos;
  }));
  const std::string text = ReadFile(node_log);
  CHECK(text.find("not at info level") == std::string::npos);
  CHECK(std::regex_search(text, std::regex(
      R"(\[\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\] \[warning\] worker abcdef12: \[WARN\] to the node log)")));

  REQUIRE(InitNodeLog(tmp.path(), "debug").ok());
  CHECK(spdlog::default_logger()->level() == spdlog::level::debug);
}

TEST_CASE("WorkerLog::Open errors", "[log]") {
  CaptureNodeLog quiet;
  TempDir tmp;
  auto bad_sid = WorkerLog::Open("../escape", tmp.path(), Settings());
  CHECK(bad_sid.status().code() == Status::Code::kInvalidArgument);
  CHECK(WorkerLog::Open("", tmp.path(), Settings()).status().code() == Status::Code::kInvalidArgument);
  CHECK(WorkerLog::Open(kSid, tmp.path(), Settings(0)).status().code() == Status::Code::kInvalidArgument);

  WriteFile(tmp / "not-a-dir", "x");
  auto bad_dir = WorkerLog::Open(kSid, tmp / "not-a-dir", Settings());
  CHECK(bad_dir.status().code() == Status::Code::kIOError);
  auto under_file = WorkerLog::Open(kSid, tmp / "not-a-dir/sub", Settings());
  CHECK(under_file.status().code() == Status::Code::kIOError);
}

TEST_CASE("reopening a worker log appends", "[log]") {
  CaptureNodeLog quiet;
  TempDir tmp;
  {
    auto log = *WorkerLog::Open(kSid, tmp.path(), Settings());
    log->Write(LogLevel::kInfo, "first run");
  }
  auto log = *WorkerLog::Open(kSid, tmp.path(), Settings());
  log->Write(LogLevel::kInfo, "second run");
  log->Flush();
  REQUIRE(Eventually([&] { return FileHasLines(log->file(), 2); }));
  const auto lines = Lines(ReadFile(log->file()));
  CHECK(lines[0].ends_with("first run"));
  CHECK(lines[1].ends_with("second run"));
}

TEST_CASE("two WorkerLogs of one sid share the file", "[log]") {
  CaptureNodeLog quiet;
  TempDir tmp;
  auto a = *WorkerLog::Open(kSid, tmp.path(), Settings(400, 3));
  auto b = *WorkerLog::Open(kSid, tmp.path(), Settings(400, 3));
  CHECK(FdsOn(a->file()) == 1);   // no second descriptor
  for (int i = 0; i < 40; ++i) {
    a->Write(LogLevel::kInfo, "from a " + std::to_string(i));
    b->Write(LogLevel::kInfo, "from b " + std::to_string(i));
  }
  b->Flush();
  REQUIRE(Eventually([&] { return ReadFile(a->file()).find("from b 39") != std::string::npos; }));
  // One rotation sequence: every line is in exactly one file, no line is cut.
  const std::string base = std::string(kSid) + ".log";
  const auto lines = Lines(ReadFile(tmp / (base + ".2")) + ReadFile(tmp / (base + ".1")) + ReadFile(a->file()));
  for (const auto& line : lines) CHECK(std::regex_match(line, kLine));
  CHECK(lines.back().ends_with("from b 39"));
  CHECK(FilesIn(tmp.path()) == 3);
}

TEST_CASE("thousands of WorkerLogs don't leak descriptors", "[log]") {
  CaptureNodeLog quiet;
  TempDir tmp;
  const size_t before = OpenFds();
  for (int i = 0; i < 2000; ++i) {
    auto log = *WorkerLog::Open("w" + std::to_string(i % 500), tmp.path(), Settings());
    log->Write(LogLevel::kInfo, "run " + std::to_string(i));
  }
  CHECK(Eventually([&] { return OpenFds() <= before; }));
  CHECK(FdsOn(tmp / "w0.log") == 0);
  CHECK(FilesIn(tmp.path()) == 500);
  REQUIRE(Eventually([&] { return FileHasLines(tmp / "w499.log", 4); }));
  const auto lines = Lines(ReadFile(tmp / "w499.log"));
  REQUIRE(lines.size() == 4);
  CHECK(lines[3].ends_with("run 1999"));
}

TEST_CASE("concurrent writers", "[log]") {
  CaptureNodeLog quiet;
  TempDir tmp;
  auto log = *WorkerLog::Open(kSid, tmp.path(), Settings(1 << 20, 5, 10000));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) log->Write(LogLevel::kInfo, "t" + std::to_string(t) + " " + std::to_string(i));
    });
  for (auto& th : threads) th.join();
  log->Flush();
  CHECK(log->Recent(100000).size() == 2000);
  REQUIRE(Eventually([&] { return FileHasLines(log->file(), 2000); }));
  const auto lines = Lines(ReadFile(log->file()));
  CHECK(lines.size() == 2000);
  // The file and the ring have the same order.
  CHECK(lines == log->Recent(2000));
}
