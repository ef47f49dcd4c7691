// LogFeed (runtime/log/log_feed.h): a subscription's backlog and its live lines are one
// gap-free, duplicate-free sequence even while lines are published concurrently; a
// destroyed subscription is never called again; the ring is bounded. And WorkerLog
// publishes exactly the lines it writes to its file.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/log/log_feed.h"
#include "runtime/log/worker_log.h"
#include "tests/support/test_support.h"

using namespace ami;
using namespace ami::test;

namespace {

constexpr const char* kSid = "abcdef12-3456-4789-8abc-def012345678";

struct Collected {
  std::mutex mu;
  std::vector<std::string> lines;
  void Add(std::string_view line) {
    std::lock_guard<std::mutex> lock(mu);
    lines.emplace_back(line);
  }
  std::vector<std::string> Get() {
    std::lock_guard<std::mutex> lock(mu);
    return lines;
  }
};

LogSection Settings(int ring = 1000) {
  LogSection s;
  s.worker_file_bytes = 1 << 20;
  s.worker_files = 3;
  s.ring_lines = ring;
  return s;
}

}  // namespace

TEST_CASE("LogFeed: backlog then live lines without gap or duplicate under concurrent publishing", "[log]") {
  constexpr int kLines = 20000;
  constexpr int kSubscribers = 8;
  LogFeed feed(kLines);   // a ring big enough that every backlog can reach back to line 0
  std::atomic<int> published{0};
  std::thread publisher([&] {
    for (int i = 0; i < kLines; ++i) {
      feed.Publish(kSid, std::to_string(i));
      published = i + 1;
    }
  });

  struct Follower {
    std::vector<std::string> backlog;
    Collected live;
    std::unique_ptr<LogFeed::Subscription> subscription;
  };
  std::vector<std::unique_ptr<Follower>> followers;
  for (int s = 0; s < kSubscribers; ++s) {
    // Spread the subscriptions over the publishing run.
    const int at = (s + 1) * kLines / (kSubscribers + 2);
    REQUIRE(Eventually([&] { return published.load() >= at; }));
    auto f = std::make_unique<Follower>();
    Follower* raw = f.get();
    f->subscription = feed.Subscribe(kSid, kLines, &f->backlog, [raw](std::string_view line) { raw->live.Add(line); });
    followers.push_back(std::move(f));
  }
  publisher.join();

  for (auto& f : followers) {
    std::vector<std::string> all = f->backlog;
    for (auto& line : f->live.Get()) all.push_back(line);
    INFO("backlog " << f->backlog.size() << ", live " << all.size() - f->backlog.size());
    CHECK(!f->backlog.empty());
    REQUIRE(all.size() == static_cast<size_t>(kLines));   // from line 0 to the last, each once
    for (int i = 0; i < kLines; ++i) {
      if (all[i] != std::to_string(i)) FAIL("line " << i << " is \"" << all[i] << "\"");
    }
  }
  CHECK(feed.subscriber_count(kSid) == static_cast<size_t>(kSubscribers));
  followers.clear();
  CHECK(feed.subscriber_count(kSid) == 0);
}

TEST_CASE("LogFeed: a backlog is the last N lines; the ring is bounded per sid", "[log]") {
  LogFeed feed(5);
  for (int i = 0; i < 12; ++i) feed.Publish(kSid, "line " + std::to_string(i));
  feed.Publish("other", "x");
  CHECK(feed.Recent(kSid, 100) == std::vector<std::string>{"line 7", "line 8", "line 9", "line 10", "line 11"});
  CHECK(feed.Recent(kSid, 2) == std::vector<std::string>{"line 10", "line 11"});
  CHECK(feed.Recent("other", 100) == std::vector<std::string>{"x"});
  CHECK(feed.Recent("nobody", 100).empty());

  std::vector<std::string> backlog;
  Collected live;
  auto sub = feed.Subscribe(kSid, 3, &backlog, [&](std::string_view line) { live.Add(line); });
  CHECK(backlog == std::vector<std::string>{"line 9", "line 10", "line 11"});
  feed.Publish(kSid, "line 12");
  feed.Publish("other", "not mine");
  CHECK(live.Get() == std::vector<std::string>{"line 12"});

  LogFeed no_ring(0);
  no_ring.Publish(kSid, "gone");
  std::vector<std::string> none = {"stale"};
  auto sub2 = no_ring.Subscribe(kSid, 10, &none, [](std::string_view) {});
  CHECK(none.empty());
  CHECK(no_ring.Recent(kSid, 10).empty());
}

TEST_CASE("LogFeed: a destroyed subscription is never called again, even with a publisher running", "[log]") {
  LogFeed feed(100);
  std::atomic<bool> run{true};
  std::thread publisher([&] {
    int i = 0;
    while (run) feed.Publish(kSid, std::to_string(i++));
  });
  for (int round = 0; round < 50; ++round) {
    std::atomic<int> calls{0};
    std::atomic<bool> gone{false};
    std::atomic<int> after{0};
    auto sub = feed.Subscribe(kSid, 0, nullptr, [&](std::string_view) {
      ++calls;
      if (gone) ++after;
    });
    REQUIRE(feed.subscriber_count(kSid) == 1);
    REQUIRE(Eventually([&] { return calls.load() > 0; }));
    sub.reset();   // waits for a delivery in progress
    gone = true;
    CHECK(feed.subscriber_count(kSid) == 0);
    const int seen = calls.load();
    CHECK(StaysFalse([&] { return calls.load() != seen; }, std::chrono::milliseconds(2)));
    CHECK(after.load() == 0);
  }
  run = false;
  publisher.join();
}

TEST_CASE("WorkerLog: every written line goes to the feed as written to the file, and Recent reads it", "[log]") {
  TempDir tmp;
  auto feed = std::make_shared<LogFeed>(1000);
  std::vector<std::string> backlog;
  Collected live;
  auto sub = feed->Subscribe(kSid, 10, &backlog, [&](std::string_view line) { live.Add(line); });
  {
    auto log = *WorkerLog::Open(kSid, tmp.path(), Settings(/*ring=*/2), 16 << 10, feed);
    log->Write(LogLevel::kInfo, "one");
    log->Write(LogLevel::kError, "two\nthree\n");
    log->Write(LogLevel::kWarn, "four");
    // With a feed, Recent() is the feed's ring (settings.ring_lines is not used).
    CHECK(log->Recent(10) == live.Get());
    log->Flush();
    const auto file = log->file();
    REQUIRE(Eventually([&] { return ReadFile(file).find("four") != std::string::npos; }));
    std::vector<std::string> file_lines;
    std::istringstream in(ReadFile(file));
    for (std::string line; std::getline(in, line);) file_lines.push_back(line);
    CHECK(live.Get() == file_lines);
  }
  const auto lines = live.Get();
  REQUIRE(lines.size() == 3);
  CHECK(backlog.empty());
  CHECK(lines[0].ends_with("[INFO] one"));
  CHECK(lines[1].ends_with("[ERROR] two\\nthree"));   // escaped: one message, one line
  CHECK(lines[2].ends_with("[WARN] four"));
  // The ring outlives the WorkerLog: a follower of a stopped worker sees its last lines.
  CHECK(feed->Recent(kSid, 10) == lines);
  // Without a feed nothing is published and the log's own ring is used.
  auto alone = *WorkerLog::Open(kSid, tmp.path(), Settings(2));
  alone->Write(LogLevel::kInfo, "a");
  alone->Write(LogLevel::kInfo, "b");
  alone->Write(LogLevel::kInfo, "c");
  CHECK(alone->Recent(10).size() == 2);
  CHECK(live.Get().size() == 3);
}
