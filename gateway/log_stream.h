// Live worker logs as Server-Sent Events (docs/http-api.md "Live logs", docs/webfix.md
// "Log stream"):
//   GET /api/worker/logs/stream?sid=S&follow=true|false[&lines=N]   (the STELS frontend)
//   GET /api/v1/workers/{sid}/logs?follow=1[&lines=N]                (REST; rest_api.cpp)
//
// Frames are `data: {json}\n\n`: {"type":"connected","sid"} first, then {"type":"log",
// "content":"<line>\n"} per line (backlog, then live), ": keep-alive" comments while
// idle, and always an end event — {"type":"complete"} after a non-follow read,
// {"type":"error","message"} for an unknown worker or a stopping node. The STELS
// frontend's error handling is fragile, so a stream never just drops (the one exception:
// a client too slow to read is cut off by the server, StreamWriter::Write).
//
// Two parts:
//   - LogFanout: followers of worker logs. One LogFeed subscription per followed sid,
//     however many streams follow it; the feed's sinks (on the worker's thread) only
//     queue the line, and the fanout's own thread writes it to each stream. Knows
//     nothing of HTTP requests or the admin service (unit-tested with fake writers).
//   - LogStreams: the two routes — authentication, query, the admin checks
//     (workers.get, logs.tail with the node's admin token, since a WebFIX caller has
//     none), then the stream is handed to the fanout.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/access.h"
#include "gateway/http_message.h"
#include "gateway/router.h"
#include "runtime/log/log_feed.h"

namespace ami::gateway {

class AdminBridge;
struct AdminAnswer;

// "data: <json>\n\n" (invalid UTF-8 in a line is replaced, never an exception).
std::string SseFrame(const std::string& type, const std::string& field = "", const std::string& value = "");

class LogFanout : public std::enable_shared_from_this<LogFanout> {
 public:
  struct Options {
    size_t ring_lines = 1000;                       // lines kept per followed sid (max backlog)
    std::chrono::milliseconds keep_alive{15000};    // comment line to every open stream
  };
  // Starts the fanout's thread. Create with std::make_shared (close callbacks hold it weakly).
  LogFanout(std::shared_ptr<LogFeed> feed, Options options);
  ~LogFanout();  // Stop("") if still running
  LogFanout(const LogFanout&) = delete;
  LogFanout& operator=(const LogFanout&) = delete;

  // Registers an open stream: it gets keep-alives and, at Stop(), the stop frame. Returns
  // its id, or 0 when stopped already (then the stop frame is written and it is ended).
  // The stream leaves the fanout when the writer closes (StreamWriter::OnClose).
  uint64_t Open(std::shared_ptr<StreamWriter> writer);

  // Makes stream `id` follow `sid`, with up to `backlog_lines` lines before the live ones.
  // Returns true when the feed had nothing of `sid` from before the subscription (the
  // worker has not logged here since the node started): then the stream is held — its
  // live lines are queued — until Release() gives it the history read from the files.
  bool Follow(uint64_t id, const std::string& sid, size_t backlog_lines);
  // Writes `history` (oldest first) to a held stream, minus the lines it shares with the
  // queued live ones (a file read races the writer: its last lines may be queued too),
  // then lets the queued and later lines flow.
  void Release(uint64_t id, const std::vector<std::string>& history);
  // Writes `frame` as the stream's last and ends it (once: a stream already finishing or
  // stopped gets nothing more).
  void Finish(uint64_t id, const std::string& frame);
  // Runs `task` on the fanout's thread (dropped once stopped). For work that must not run
  // where it was triggered, e.g. inside an AdminBridge callback.
  void Post(std::function<void()> task);

  // Ends every open stream with `frame` (if not empty), waits up to `flush` for them to
  // close, drops every subscription. Later Open()s get the frame at once. Idempotent.
  void Stop(const std::string& frame, std::chrono::milliseconds flush = std::chrono::seconds(2));

  // For tests and metrics.
  size_t open_streams() const;
  size_t followed_sids() const;   // = LogFeed subscriptions held

 private:
  struct Hub;
  struct Stream {
    std::shared_ptr<StreamWriter> writer;
    std::shared_ptr<Hub> hub;       // set while following
    uint64_t cursor = 0;            // index (in the hub's count) of the next line to send
    bool held = false;              // waiting for Release()
    bool finished = false;          // its last frame is written or being written
  };

  void OnLine(const std::shared_ptr<Hub>& hub, std::string_view line);   // a feed sink
  void Remove(uint64_t id);
  // Takes `id` out of its hub; returns the hub's subscription when it was the last follower.
  std::unique_ptr<LogFeed::Subscription> LeaveHub(Stream& stream, uint64_t id);  // mu_ held
  void Run();

  const std::shared_ptr<LogFeed> feed_;
  const Options options_;
  std::mutex subscribe_mu_;          // serialises hub creation (held across LogFeed::Subscribe)
  mutable std::mutex mu_;            // everything below; never held while calling the feed or a writer
  std::condition_variable wake_;     // the thread: lines, tasks, stop
  std::condition_variable closed_;   // Stop(): a stream closed
  std::map<uint64_t, Stream> streams_;
  std::map<std::string, std::shared_ptr<Hub>> hubs_;
  std::deque<std::function<void()>> tasks_;
  uint64_t next_id_ = 1;
  bool dirty_ = false;               // a hub got lines since the thread last looked
  bool stopping_ = false;
  std::string stop_frame_;
  std::thread thread_;
};

class LogStreams {
 public:
  struct Options {
    std::chrono::milliseconds keep_alive{15000};
    size_t default_lines = 200;
    size_t max_lines = 1000;
  };
  // `feed` may be null (then follow streams get history and keep-alives only).
  // `authenticate` is the gateway's (admin token or WebFIX session; any caller may read).
  LogStreams(std::shared_ptr<LogFeed> feed, AdminBridge& bridge, std::string admin_token,
             Authenticate authenticate, Options options);
  ~LogStreams();  // Stop()

  // Adds GET /api/worker/logs/stream.
  void AddRoutes(Router& router);
  // The handler of GET /api/v1/workers/{sid}/logs when the query has `follow`.
  RouteHandler RestFollowHandler();

  // Ends every stream with {"type":"error","message":"node stopping"}; call it while the
  // server still runs, so the events get written. Idempotent.
  void Stop();

  const LogFanout& fanout() const { return *fanout_; }

 private:
  struct Query {
    std::string sid;
    bool follow = false;
    size_t lines = 0;
  };
  void Serve(const HttpRequest& request, const Query& query, Respond respond);
  void Begin(std::shared_ptr<StreamWriter> writer, Query query);
  void AfterWorkerGet(uint64_t id, const Query& query, const AdminAnswer& answer);
  void AskTail(uint64_t id, const Query& query);

  AdminBridge& bridge_;
  const std::string admin_token_;
  const Authenticate authenticate_;
  const Options options_;
  std::shared_ptr<LogFanout> fanout_;
};

}  // namespace ami::gateway
