#include "runtime/log/log_feed.h"

#include <deque>
#include <map>

namespace ami {

struct LogChannel {
  std::mutex mu;
  std::deque<std::string> ring;      // guarded by mu
  std::map<uint64_t, LogFeed::Sink> sinks;  // guarded by mu
  uint64_t next_id = 1;              // guarded by mu
};

LogFeed::LogFeed(size_t ring_lines) : ring_lines_(ring_lines) {}
LogFeed::~LogFeed() = default;

LogFeed::Subscription::~Subscription() {
  if (!channel_) return;
  // Taking the channel's lock waits for a delivery in progress on another thread.
  std::lock_guard<std::mutex> lock(channel_->mu);
  channel_->sinks.erase(id_);
}

std::shared_ptr<LogChannel> LogFeed::Channel(const std::string& sid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto& channel = channels_[sid];
  if (!channel) channel = std::make_shared<LogChannel>();
  return channel;
}

std::unique_ptr<LogFeed::Subscription> LogFeed::Subscribe(const std::string& sid, size_t backlog_lines,
                                                          std::vector<std::string>* backlog, Sink sink) {
  auto channel = Channel(sid);
  std::unique_ptr<Subscription> subscription(new Subscription());
  std::lock_guard<std::mutex> lock(channel->mu);
  if (backlog) {
    const size_t n = std::min(backlog_lines, channel->ring.size());
    backlog->assign(channel->ring.end() - static_cast<std::ptrdiff_t>(n), channel->ring.end());
  }
  subscription->id_ = channel->next_id++;
  channel->sinks.emplace(subscription->id_, std::move(sink));
  subscription->channel_ = std::move(channel);
  return subscription;
}

void LogFeed::Publish(const std::string& sid, std::string_view line) {
  auto channel = Channel(sid);
  std::lock_guard<std::mutex> lock(channel->mu);
  if (ring_lines_ > 0) {
    channel->ring.emplace_back(line);
    while (channel->ring.size() > ring_lines_) channel->ring.pop_front();
  }
  for (auto& [id, sink] : channel->sinks) sink(line);
}

std::vector<std::string> LogFeed::Recent(const std::string& sid, size_t max_lines) const {
  auto channel = Channel(sid);
  std::lock_guard<std::mutex> lock(channel->mu);
  const size_t n = std::min(max_lines, channel->ring.size());
  return {channel->ring.end() - static_cast<std::ptrdiff_t>(n), channel->ring.end()};
}

size_t LogFeed::subscriber_count(const std::string& sid) const {
  auto channel = Channel(sid);
  std::lock_guard<std::mutex> lock(channel->mu);
  return channel->sinks.size();
}

}  // namespace ami
