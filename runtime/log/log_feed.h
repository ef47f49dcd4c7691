// Live lines of the workers' logs on this node, for followers (the gateway's log streams,
// docs/http-api.md "Live logs"). Followers subscribe; they never poll files.
//
// One channel per sid: a ring of the most recent lines (log.ring_lines) and the
// subscribers. WorkerLog::Write publishes every line it writes (after cutting and
// escaping, exactly the text that goes to the file). A subscription gets the ring's last
// lines and every later line, atomically: no line is missed between the two and none is
// given twice. The ring outlives a worker's WorkerLog as long as the feed lives, so a
// follower of a stopped worker still sees its last lines.
//
// Sinks run on the writer's thread (a worker actor's scheduler thread) under the
// channel's lock: they must only hand the line on (post it to an io_context, push it to a
// queue) and never block or call back into the feed.
// Thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ami {

class LogFeed {
 public:
  using Sink = std::function<void(std::string_view line)>;

  // `ring_lines`: lines kept per sid for late subscribers (0: none).
  explicit LogFeed(size_t ring_lines = 1000);
  ~LogFeed();
  LogFeed(const LogFeed&) = delete;
  LogFeed& operator=(const LogFeed&) = delete;

  // Ends its sink's deliveries when destroyed (after it, the sink is never called again;
  // a delivery running on another thread is waited for).
  class Subscription {
   public:
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

   private:
    friend class LogFeed;
    Subscription() = default;
    std::shared_ptr<struct LogChannel> channel_;
    uint64_t id_ = 0;
  };

  // Follows `sid`'s lines: `*backlog` gets up to `backlog_lines` most recent lines (oldest
  // first), then `sink` gets each new one.
  std::unique_ptr<Subscription> Subscribe(const std::string& sid, size_t backlog_lines,
                                          std::vector<std::string>* backlog, Sink sink);

  // One line of `sid`'s log (without newline), as written to its file.
  void Publish(const std::string& sid, std::string_view line);

  // The last `max_lines` lines of `sid` (oldest first).
  std::vector<std::string> Recent(const std::string& sid, size_t max_lines) const;

  // Live subscriptions of `sid` (for tests: many followers of one worker cost the feed
  // one subscription, because the gateway fans out itself).
  size_t subscriber_count(const std::string& sid) const;

 private:
  std::shared_ptr<struct LogChannel> Channel(const std::string& sid) const;
  const size_t ring_lines_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, std::shared_ptr<struct LogChannel>> channels_;  // guarded by mu_
};

}  // namespace ami
