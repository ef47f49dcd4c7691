// Internal to the HTTP server (http_server.cpp, http_websocket.h); handlers never see it.
//
// A streamed reply or a WebSocket is written from two sides: the handler's writer
// (StreamWriter / WebSocketPeer, any thread, kept as long as the handler likes — even after
// the server stopped and its io_context is gone) and the connection (its strand). The
// Channel is what they share: the queue of bytes not yet written, whether it still takes
// more, and the close callbacks.
//
// Lifetime rule: the writer never holds the connection or its executor. It holds the
// Channel; the Channel holds `wake` (a post to the connection's strand) only until
// Finish(), which runs on the strand when the connection closes, or from
// HttpServer::Stop (ChannelRegistry::FinishAll) for every channel still open, after the
// server's threads are joined and before the io_context is destroyed. After that a writer
// only ever sees a closed channel.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/http_message.h"
#include "gateway/http_server.h"
#include "gateway/metrics.h"

namespace ami::gateway::http_internal {

class Channel;

// Every channel not yet finished, so that Stop can finish them.
class ChannelRegistry {
 public:
  void Add(const std::shared_ptr<Channel>& channel) {
    std::lock_guard<std::mutex> lock(mu_);
    open_[channel.get()] = channel;
  }
  void Remove(const Channel* channel) {
    std::lock_guard<std::mutex> lock(mu_);
    open_.erase(channel);
  }
  // Only with no server thread running (HttpServer::Stop): runs each channel's close
  // callbacks on the calling thread.
  inline void FinishAll();

 private:
  std::mutex mu_;
  std::unordered_map<const Channel*, std::weak_ptr<Channel>> open_;
};

struct ServerState {
  ServerOptions options;
  RequestHandler handler;
  ReplyDecorator decorate;
  std::shared_ptr<ServerCounters> counters = std::make_shared<ServerCounters>();
  std::shared_ptr<ChannelRegistry> channels = std::make_shared<ChannelRegistry>();
};

class Channel {
 public:
  enum class Kind { kStream, kWebSocket };
  // What the connection does next.
  struct Step {
    enum class Action { kIdle, kWrite, kEnd, kDrop } action = Action::kIdle;
    std::string data;   // kWrite: a stream's whole queue, or one WebSocket message
    int code = 1000;    // kEnd of a WebSocket: its close frame
    std::string reason;
  };

  static std::shared_ptr<Channel> Create(Kind kind, const ServerState& state) {
    std::shared_ptr<Channel> channel(new Channel(kind, state));
    state.channels->Add(channel);
    ++channel->Gauge();
    return channel;
  }
  ~Channel() { Finish(); }

  // ---- the connection's strand ----

  // Writes may now be woken: `wake` posts a Pump to the strand (called under the lock,
  // at most once until the next Next()).
  void Open(std::function<void()> wake) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!finished_) wake_ = std::move(wake);
  }
  Step Next() {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = false;
    Step step;
    if (drop_) {
      step.action = Step::Action::kDrop;
    } else if (!queue_.empty()) {
      step.action = Step::Action::kWrite;
      if (kind_ == Kind::kWebSocket) {
        step.data = std::move(queue_.front());
        queue_.pop_front();
      } else {
        for (auto& piece : queue_) step.data += piece;
        queue_.clear();
      }
      queued_ -= step.data.size();
      in_flight_ = step.data.size();
    } else if (ending_) {
      step.action = Step::Action::kEnd;
      step.code = end_code_;
      step.reason = end_reason_;
    }
    return step;
  }
  void Written() {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_ = 0;
  }
  bool dropped() const {
    std::lock_guard<std::mutex> lock(mu_);
    return drop_;
  }
  // Closed for good: takes nothing more, forgets the strand, runs the close callbacks
  // (here, on the caller's thread). Idempotent.
  void Finish() {
    std::vector<std::function<void()>> callbacks;
    std::function<void()> wake;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finished_) return;
      finished_ = true;
      accepting_ = false;
      queue_.clear();
      queued_ = 0;
      callbacks.swap(callbacks_);
      wake.swap(wake_);
    }
    wake = nullptr;  // its executor copy goes while the io_context surely exists
    registry_->Remove(this);
    --Gauge();
    for (auto& callback : callbacks) {
      try {
        callback();
      } catch (...) {
        // A handler's cleanup that throws must not take the server thread down.
      }
    }
  }

  // ---- any thread (the writer) ----

  // false when closed, or when `data` would put more than max_backlog bytes behind: then
  // the connection is dropped (Step kDrop) and counted.
  bool Push(std::string data) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!accepting_) return false;
    if (queued_ + in_flight_ + data.size() > max_backlog_) {
      accepting_ = false;
      drop_ = true;
      queue_.clear();
      queued_ = 0;
      ++counters_->slow_clients_dropped;
      if (wake_) wake_();  // even while a wake is pending: a stuck write must not hide it
      return false;
    }
    queued_ += data.size();
    queue_.push_back(std::move(data));
    WakeLocked();
    return true;
  }
  // Takes no more; the connection writes what is queued, then closes (a WebSocket with
  // this close frame). Ignored when already closing.
  void End(int code = 1000, std::string reason = {}) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!accepting_) return;
    accepting_ = false;
    ending_ = true;
    end_code_ = code;
    end_reason_ = std::move(reason);
    WakeLocked();
  }
  void OnClose(std::function<void()> done) {
    if (!done) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!finished_) {
        callbacks_.push_back(std::move(done));
        return;
      }
    }
    done();
  }
  bool accepting() const {
    std::lock_guard<std::mutex> lock(mu_);
    return accepting_;
  }

 private:
  Channel(Kind kind, const ServerState& state)
      : kind_(kind), max_backlog_(state.options.max_stream_backlog), counters_(state.counters),
        registry_(state.channels) {}

  std::atomic<int64_t>& Gauge() {
    return kind_ == Kind::kStream ? counters_->streams_open : counters_->websockets_open;
  }
  void WakeLocked() {
    if (wake_ && !woken_) {
      woken_ = true;
      wake_();
    }
  }

  const Kind kind_;
  const uint64_t max_backlog_;
  const std::shared_ptr<ServerCounters> counters_;
  const std::shared_ptr<ChannelRegistry> registry_;
  mutable std::mutex mu_;
  std::deque<std::string> queue_;
  uint64_t queued_ = 0;        // bytes in queue_
  uint64_t in_flight_ = 0;     // bytes of the write under way
  bool accepting_ = true;
  bool ending_ = false;
  bool drop_ = false;
  bool finished_ = false;
  bool woken_ = false;
  int end_code_ = 1000;
  std::string end_reason_;
  std::function<void()> wake_;
  std::vector<std::function<void()>> callbacks_;
};

void ChannelRegistry::FinishAll() {
  std::unordered_map<const Channel*, std::weak_ptr<Channel>> open;
  {
    std::lock_guard<std::mutex> lock(mu_);
    open.swap(open_);
  }
  for (auto& [raw, weak] : open)
    if (auto channel = weak.lock()) channel->Finish();
}

// The handler's end of a streamed reply.
class ChannelStreamWriter : public StreamWriter {
 public:
  explicit ChannelStreamWriter(std::shared_ptr<Channel> channel) : channel_(std::move(channel)) {}
  bool Write(std::string data) override { return channel_->Push(std::move(data)); }
  void End() override { channel_->End(); }
  void OnClose(std::function<void()> done) override { channel_->OnClose(std::move(done)); }
  bool closed() const override { return !channel_->accepting(); }

 private:
  std::shared_ptr<Channel> channel_;
};

// The handler's end of a WebSocket.
class ChannelWebSocketPeer : public WebSocketPeer {
 public:
  explicit ChannelWebSocketPeer(std::shared_ptr<Channel> channel) : channel_(std::move(channel)) {}
  bool Send(std::string text) override { return channel_->Push(std::move(text)); }
  void Close(int code, std::string reason) override { channel_->End(code, std::move(reason)); }

 private:
  std::shared_ptr<Channel> channel_;
};

}  // namespace ami::gateway::http_internal
