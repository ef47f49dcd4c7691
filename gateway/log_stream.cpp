#include "gateway/log_stream.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "gateway/admin_bridge.h"
#include "gateway/rest_api.h"

namespace ami::gateway {

namespace {

using json = nlohmann::json;

constexpr std::string_view kKeepAlive = ": keep-alive\n\n";

std::string LogFrame(std::string_view line) {
  std::string content(line);
  content += '\n';
  return SseFrame("log", "content", content);
}

// The largest k such that the last k of `history` are the first k of `queued` (both
// frames): the lines a file read and the live queue both hold.
size_t Overlap(const std::vector<std::string>& history, const std::deque<std::string>& ring, size_t start) {
  const size_t queued = ring.size() - start;
  for (size_t k = std::min(history.size(), queued); k > 0; --k) {
    bool same = true;
    for (size_t i = 0; i < k && same; ++i) same = history[history.size() - k + i] == ring[start + i];
    if (same) return k;
  }
  return 0;
}

}  // namespace

std::string SseFrame(const std::string& type, const std::string& field, const std::string& value) {
  nlohmann::ordered_json frame = {{"type", type}};   // "type" first, as the STELS server sends it
  if (!field.empty()) frame[field] = value;
  return "data: " + frame.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n\n";
}

// ---- LogFanout

// One followed sid: its feed subscription and the lines since (as frames), for every
// stream following it. Indexes count lines since the hub began: the ring holds
// [total - ring.size(), total). The ring keeps `capacity` lines for late joiners, and
// more while a follower has not been served them yet (the fanout's thread behind a burst,
// or a stream held for its history) — up to kHardCapFactor × capacity, past which the
// slowest followers skip lines rather than the memory growing without bound.
struct LogFanout::Hub {
  std::string sid;
  std::unique_ptr<LogFeed::Subscription> subscription;
  std::deque<std::string> ring;
  uint64_t total = 0;
  bool seeded = false;               // the feed's backlog is in the ring; before, lines go to `early`
  std::vector<std::string> early;
  bool from_empty = false;           // the feed had no line of sid before the subscription
  std::set<uint64_t> followers;
  bool dead = false;                 // left (no followers, or stopping): its lines are ignored

  uint64_t begin() const { return total - ring.size(); }
  void Append(std::string frame, size_t capacity) {
    ring.push_back(std::move(frame));
    ++total;
    while (ring.size() > std::max<size_t>(capacity, 1) * kHardCapFactor) ring.pop_front();
  }
  // Drops what no follower still needs beyond the last `capacity` lines.
  void Trim(size_t capacity, uint64_t oldest_needed) {
    while (ring.size() > capacity && begin() < oldest_needed) ring.pop_front();
  }
  static constexpr size_t kHardCapFactor = 64;
};

LogFanout::LogFanout(std::shared_ptr<LogFeed> feed, Options options)
    : feed_(feed ? std::move(feed) : std::make_shared<LogFeed>(0)), options_(options) {
  thread_ = std::thread([this] { Run(); });
}

LogFanout::~LogFanout() { Stop("", std::chrono::milliseconds(0)); }

uint64_t LogFanout::Open(std::shared_ptr<StreamWriter> writer) {
  uint64_t id = 0;
  std::string frame;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      frame = stop_frame_;
    } else {
      id = next_id_++;
      streams_[id].writer = writer;
    }
  }
  if (id == 0) {
    if (!frame.empty()) writer->Write(frame);
    writer->End();
    return 0;
  }
  writer->OnClose([weak = weak_from_this(), id] {
    if (auto self = weak.lock()) self->Remove(id);
  });
  return id;
}

void LogFanout::OnLine(const std::shared_ptr<Hub>& hub, std::string_view line) {
  std::string frame = LogFrame(line);   // built here, once for all followers
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (hub->dead) return;
    if (!hub->seeded) {
      hub->early.push_back(std::move(frame));
      return;
    }
    hub->Append(std::move(frame), options_.ring_lines);
    wake = !dirty_;
    dirty_ = true;
  }
  if (wake) wake_.notify_one();
}

bool LogFanout::Follow(uint64_t id, const std::string& sid, size_t backlog_lines) {
  backlog_lines = std::min(backlog_lines, options_.ring_lines);
  // Joins a hub (mu_ held): its ring's last lines, then every later one.
  auto join = [&](Stream& stream, const std::shared_ptr<Hub>& hub) {
    stream.hub = hub;
    hub->followers.insert(id);
    // Nothing from before the subscription and less than asked: the files have the rest.
    stream.held = hub->from_empty && hub->begin() == 0 && hub->ring.size() < backlog_lines;
    stream.cursor = stream.held ? 0 : hub->total - std::min<uint64_t>(backlog_lines, hub->ring.size());
    dirty_ = true;
    return stream.held;
  };
  auto usable = [&](std::map<uint64_t, Stream>::iterator it) {
    return !stopping_ && it != streams_.end() && !it->second.finished && !it->second.hub;
  };
  // One subscription per sid: whoever creates a hub does it with this held, so nobody
  // else can see (or create) that sid's hub half made.
  std::lock_guard<std::mutex> creating(subscribe_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = streams_.find(id);
    if (!usable(it)) return false;
    // A hub in hubs_ is alive: the last follower leaving takes it out under mu_.
    if (auto found = hubs_.find(sid); found != hubs_.end()) {
      const bool held = join(it->second, found->second);
      wake_.notify_one();
      return held;
    }
  }
  auto hub = std::make_shared<Hub>();
  hub->sid = sid;
  std::vector<std::string> backlog;
  // The sink holds the hub; the cycle (hub → subscription → sink → hub) is broken when
  // the subscription is taken out (LeaveHub, Stop).
  auto subscription = feed_->Subscribe(sid, options_.ring_lines, &backlog,
                                       [this, hub](std::string_view line) { OnLine(hub, line); });
  std::unique_ptr<LogFeed::Subscription> unused;
  bool held = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hub->from_empty = backlog.empty();
    for (const auto& line : backlog) hub->Append(LogFrame(line), options_.ring_lines);
    for (auto& frame : hub->early) hub->Append(std::move(frame), options_.ring_lines);
    hub->early.clear();
    hub->Trim(options_.ring_lines, hub->total);
    hub->seeded = true;
    auto it = streams_.find(id);
    if (!usable(it)) {   // closed, finished or stopping meanwhile
      hub->dead = true;
      unused = std::move(subscription);
    } else {
      hub->subscription = std::move(subscription);
      hubs_[sid] = hub;
      held = join(it->second, hub);
    }
  }
  if (unused) {
    unused.reset();   // outside mu_ (see Remove)
    return false;
  }
  wake_.notify_one();
  return held;
}

void LogFanout::Release(uint64_t id, const std::vector<std::string>& history) {
  std::vector<std::string> frames;
  frames.reserve(history.size());
  for (const auto& line : history) frames.push_back(LogFrame(line));
  std::shared_ptr<StreamWriter> writer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = streams_.find(id);
    if (it == streams_.end() || it->second.finished || !it->second.held || !it->second.hub) return;
    Stream& stream = it->second;
    const Hub& hub = *stream.hub;
    const uint64_t start = std::max(stream.cursor, hub.begin());
    stream.cursor = start + Overlap(frames, hub.ring, static_cast<size_t>(start - hub.begin()));
    writer = stream.writer;
  }
  // Still held: the thread sends it nothing until the history is queued.
  std::string batch;
  for (const auto& frame : frames) batch += frame;
  if (!batch.empty()) writer->Write(std::move(batch));
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    it->second.held = false;
    dirty_ = true;
  }
  wake_.notify_one();
}

void LogFanout::Finish(uint64_t id, const std::string& frame) {
  std::shared_ptr<StreamWriter> writer;
  std::unique_ptr<LogFeed::Subscription> unused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = streams_.find(id);
    if (it == streams_.end() || it->second.finished) return;
    it->second.finished = true;
    writer = it->second.writer;
    unused = LeaveHub(it->second, id);
  }
  unused.reset();
  writer->Write(frame);
  writer->End();
}

void LogFanout::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
}

std::unique_ptr<LogFeed::Subscription> LogFanout::LeaveHub(Stream& stream, uint64_t id) {
  std::shared_ptr<Hub> hub = std::move(stream.hub);
  stream.hub.reset();
  if (!hub) return nullptr;
  hub->followers.erase(id);
  if (!hub->followers.empty()) return nullptr;
  // The last follower: the feed stops calling (once the caller drops the subscription).
  hub->dead = true;
  if (auto it = hubs_.find(hub->sid); it != hubs_.end() && it->second == hub) hubs_.erase(it);
  return std::move(hub->subscription);
}

void LogFanout::Remove(uint64_t id) {
  std::unique_ptr<LogFeed::Subscription> unused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    unused = LeaveHub(it->second, id);
    streams_.erase(it);
  }
  closed_.notify_all();
  // Outside mu_: destroying it waits for a sink call in progress, which takes mu_.
  unused.reset();
}

void LogFanout::Run() {
  using Clock = std::chrono::steady_clock;
  auto next_keep_alive = Clock::now() + options_.keep_alive;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_.wait_until(lock, next_keep_alive, [&] { return stopping_ || dirty_ || !tasks_.empty(); });
    if (stopping_) break;
    std::vector<std::pair<std::shared_ptr<StreamWriter>, std::string>> writes;
    if (dirty_) {
      dirty_ = false;
      for (auto& [id, stream] : streams_) {
        if (!stream.hub || stream.held || stream.finished || stream.cursor >= stream.hub->total) continue;
        const Hub& hub = *stream.hub;
        std::string batch;
        // A stream whose lines left the ring before it was served (a held stream waiting
        // long for its history) starts at the ring's oldest line.
        for (uint64_t i = std::max(stream.cursor, hub.begin()); i < hub.total; ++i) batch += hub.ring[i - hub.begin()];
        stream.cursor = hub.total;
        writes.emplace_back(stream.writer, std::move(batch));
      }
      // Every served follower is at its hub's end now; held ones still need their lines.
      for (auto& [sid, hub] : hubs_) {
        uint64_t oldest_needed = hub->total;
        for (uint64_t id : hub->followers)
          if (auto it = streams_.find(id); it != streams_.end() && !it->second.finished)
            oldest_needed = std::min(oldest_needed, it->second.cursor);
        hub->Trim(options_.ring_lines, oldest_needed);
      }
    }
    if (Clock::now() >= next_keep_alive) {
      for (auto& [id, stream] : streams_)
        if (!stream.finished) writes.emplace_back(stream.writer, std::string(kKeepAlive));
      next_keep_alive = Clock::now() + options_.keep_alive;
    }
    std::deque<std::function<void()>> tasks;
    tasks.swap(tasks_);
    lock.unlock();
    // false: too slow or gone; the server closes it and OnClose removes it.
    for (auto& [writer, data] : writes) writer->Write(std::move(data));
    for (auto& task : tasks) {
      try {
        task();
      } catch (const std::exception& e) {
        spdlog::error("http: log stream task failed: {}", e.what());
      }
    }
    writes.clear();
    tasks.clear();
    lock.lock();
  }
}

void LogFanout::Stop(const std::string& frame, std::chrono::milliseconds flush) {
  std::deque<std::function<void()>> dropped_tasks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    stop_frame_ = frame;
    dropped_tasks.swap(tasks_);
  }
  wake_.notify_all();
  // After this no log line can follow the stop frame.
  if (thread_.joinable()) {
    if (thread_.get_id() == std::this_thread::get_id()) thread_.detach();
    else thread_.join();
  }
  dropped_tasks.clear();
  std::vector<std::shared_ptr<StreamWriter>> to_end;
  std::vector<std::unique_ptr<LogFeed::Subscription>> subscriptions;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, stream] : streams_) {
      stream.hub.reset();
      if (stream.finished) continue;
      stream.finished = true;
      to_end.push_back(stream.writer);
    }
    for (auto& [sid, hub] : hubs_) {
      hub->dead = true;
      subscriptions.push_back(std::move(hub->subscription));
    }
    hubs_.clear();
  }
  subscriptions.clear();   // outside mu_ (see Remove)
  for (auto& writer : to_end) {
    if (!frame.empty()) writer->Write(frame);
    writer->End();
  }
  std::unique_lock<std::mutex> lock(mu_);
  closed_.wait_for(lock, flush, [&] { return streams_.empty(); });
}

size_t LogFanout::open_streams() const {
  std::lock_guard<std::mutex> lock(mu_);
  return streams_.size();
}

size_t LogFanout::followed_sids() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hubs_.size();
}

// ---- LogStreams

namespace {

// "true|1" / "false|0" (absent: `fallback`); false on anything else.
bool ParseBool(const std::map<std::string, std::string>& query, const std::string& name, bool fallback, bool* out,
               std::string* bad) {
  auto it = query.find(name);
  if (it == query.end()) {
    *out = fallback;
    return true;
  }
  if (it->second == "true" || it->second == "1") *out = true;
  else if (it->second == "false" || it->second == "0") *out = false;
  else {
    *bad = name + ": expected true or false, got \"" + it->second.substr(0, 64) + "\"";
    return false;
  }
  return true;
}

bool ParseLines(const std::map<std::string, std::string>& query, size_t fallback, size_t max, size_t* out,
                std::string* bad) {
  auto it = query.find("lines");
  if (it == query.end()) {
    *out = fallback;
    return true;
  }
  const std::string& text = it->second;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 1 || value > max) {
    *bad = "lines: expected an integer from 1 to " + std::to_string(max) + ", got \"" + text.substr(0, 64) + "\"";
    return false;
  }
  *out = static_cast<size_t>(value);
  return true;
}

HttpResponse Unauthorized() {
  HttpResponse r = ErrorResponse(401, "unauthorized",
                                 "a log stream needs Authorization: Bearer <admin token> or a stels-session header");
  r.SetHeader("WWW-Authenticate", "Bearer realm=\"ami\"");
  return r;
}

// What went wrong with an admin answer, or "" when it is ok (then *result is its result).
std::string AdminProblem(const AdminAnswer& answer, const std::string& sid, json* result) {
  if (!answer.delivered) return "the admin service did not answer: " + answer.error;
  json reply = json::parse(answer.reply_json, nullptr, false);
  if (!reply.is_object()) return "the admin service sent a reply that is not JSON";
  if (reply.value("ok", false)) {
    if (result) *result = reply["result"];
    return "";
  }
  const json error = reply.contains("error") && reply["error"].is_object() ? reply["error"] : json::object();
  if (error.value("code", "") == "not_found") return "worker " + sid + " not found";
  return error.value("message", "the admin service refused the request");
}

}  // namespace

LogStreams::LogStreams(std::shared_ptr<LogFeed> feed, AdminBridge& bridge, std::string admin_token,
                       Authenticate authenticate, Options options)
    : bridge_(bridge),
      admin_token_(std::move(admin_token)),
      authenticate_(std::move(authenticate)),
      options_(options),
      fanout_(std::make_shared<LogFanout>(std::move(feed), LogFanout::Options{options.max_lines, options.keep_alive})) {}

LogStreams::~LogStreams() { Stop(); }

void LogStreams::Stop() { fanout_->Stop(SseFrame("error", "message", "node stopping")); }

void LogStreams::AddRoutes(Router& router) {
  router.Add("GET", "/api/worker/logs/stream", [this](const HttpRequest& request, const PathParams&, Respond respond) {
    if (!authenticate_(request)) return respond(Unauthorized());
    std::map<std::string, std::string> params;
    std::string bad;
    Query query;
    // Unknown parameters are ignored here (a browser client may add a cache buster).
    if (!ParseQuery(request.query, &params, &bad)) return respond(ErrorResponse(400, "invalid", "query: " + bad));
    query.sid = params["sid"];
    if (query.sid.empty()) return respond(ErrorResponse(400, "invalid", "sid: required query parameter"));
    if (!ParseBool(params, "follow", false, &query.follow, &bad) ||
        !ParseLines(params, options_.default_lines, options_.max_lines, &query.lines, &bad))
      return respond(ErrorResponse(400, "invalid", bad));
    Serve(request, query, std::move(respond));
  });
}

RouteHandler LogStreams::RestFollowHandler() {
  return [this](const HttpRequest& request, const PathParams& path, Respond respond) {
    if (!authenticate_(request)) return respond(Unauthorized());
    std::map<std::string, std::string> params;
    std::string bad;
    if (!ParseQuery(request.query, &params, &bad)) return respond(ErrorResponse(400, "invalid", "query: " + bad));
    for (const auto& [name, value] : params)
      if (name != "follow" && name != "lines")
        return respond(ErrorResponse(400, "invalid", name + ": unknown query parameter for a log stream; known: follow, lines"));
    Query query;
    query.sid = path.at("sid");
    if (!ParseBool(params, "follow", true, &query.follow, &bad) ||
        !ParseLines(params, options_.default_lines, options_.max_lines, &query.lines, &bad))
      return respond(ErrorResponse(400, "invalid", bad));
    Serve(request, query, std::move(respond));
  };
}

void LogStreams::Serve(const HttpRequest&, const Query& query, Respond respond) {
  HttpResponse r;
  r.status = 200;
  r.SetHeader("Content-Type", "text/event-stream");
  r.SetHeader("Cache-Control", "no-cache");
  r.SetHeader("X-Accel-Buffering", "no");   // nginx in front must not buffer the stream
  r.stream = [this, query](std::shared_ptr<StreamWriter> writer) { Begin(std::move(writer), query); };
  respond(std::move(r));
}

void LogStreams::Begin(std::shared_ptr<StreamWriter> writer, Query query) {
  writer->Write(SseFrame("connected", "sid", query.sid));
  const uint64_t id = fanout_->Open(std::move(writer));
  if (id == 0) return;   // stopping: it got the stop event
  // The node's token: the caller may be a WebFIX session, which has none (any caller may read).
  bridge_.Ask(admin_token_, json{{"op", "workers.get"}, {"args", {{"sid", query.sid}}}}.dump(),
              [this, id, query](AdminAnswer answer) {
                // Not here: bridge callbacks run under its lock and must not Ask again.
                fanout_->Post([this, id, query, answer = std::move(answer)] { AfterWorkerGet(id, query, answer); });
              });
}

void LogStreams::AfterWorkerGet(uint64_t id, const Query& query, const AdminAnswer& answer) {
  if (std::string problem = AdminProblem(answer, query.sid, nullptr); !problem.empty())
    return fanout_->Finish(id, SseFrame("error", "message", problem));
  // Follow: the ring's lines, atomically with the subscription; the files only when the
  // ring has nothing from before it.
  if (query.follow && !fanout_->Follow(id, query.sid, query.lines)) return;
  AskTail(id, query);
}

void LogStreams::AskTail(uint64_t id, const Query& query) {
  json request = {{"op", "logs.tail"}, {"args", {{"sid", query.sid}, {"lines", query.lines}}}};
  bridge_.Ask(admin_token_, request.dump(), [this, id, query](AdminAnswer answer) {
    fanout_->Post([this, id, query, answer = std::move(answer)] {
      json result;
      const std::string problem = AdminProblem(answer, query.sid, &result);
      std::vector<std::string> lines;
      if (problem.empty() && result.contains("lines") && result["lines"].is_array())
        for (const auto& line : result["lines"])
          if (line.is_string()) lines.push_back(line.get<std::string>());
      if (query.follow) {
        if (!problem.empty()) spdlog::warn("http: log stream of {}: history not read: {}", query.sid, problem);
        return fanout_->Release(id, lines);
      }
      if (!problem.empty()) return fanout_->Finish(id, SseFrame("error", "message", problem));
      std::string frames;
      for (const auto& line : lines) frames += SseFrame("log", "content", line + "\n");
      fanout_->Finish(id, frames + SseFrame("complete"));
    });
  });
}

}  // namespace ami::gateway
