#include "runtime/log/worker_log.h"

#include <algorithm>
#include <chrono>
#include <system_error>
#include <unordered_map>

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/details/thread_pool.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "runtime/base/clock.h"
#include "runtime/log/json_log_format.h"
#include "runtime/log/rotating_sink.h"

namespace ami {

namespace {

// Queue slots of the shared background thread (each ~300 bytes, preallocated).
constexpr size_t kQueueSlots = 8192;
// Worker lines are dropped, not queued, once this many slots are taken: the rest is
// room for the node's own lines (whose logger waits rather than drops) and for the few
// items writers already past the check add (a line, its flush, its node-log copy).
constexpr size_t kWorkerQueueLimit = kQueueSlots * 3 / 4;
constexpr uint64_t kNodeLogBytes = 10ull << 20;
constexpr size_t kNodeLogBackups = 4;   // node.log + node.log.1 … .4

spdlog::level::level_enum SpdLevel(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

spdlog::string_view_t View(const std::string& s) { return spdlog::string_view_t(s.data(), s.size()); }

// All async loggers (every worker's and the node's) share one background thread.
// Created on first use and also installed as spdlog's global pool when none is set, so
// spdlog::create_async() elsewhere uses the same thread. It is destroyed after main()
// returns; its destructor drains the queue first, so queued lines still reach the files.
std::shared_ptr<spdlog::details::thread_pool> SharedPool() {
  static const std::shared_ptr<spdlog::details::thread_pool> pool = [] {
    auto p = std::make_shared<spdlog::details::thread_pool>(kQueueSlots, 1);
    auto& registry = spdlog::details::registry::instance();
    if (!registry.get_tp()) registry.set_tp(p);
    return p;
  }();
  return pool;
}

// Open worker log files, so that two WorkerLogs of the same file (a hot reload overlapping
// the old instance) share one sink rather than rotating the file behind each other's back.
class SinkTable {
 public:
  std::shared_ptr<RotatingFileSink> Get(const std::filesystem::path& file, size_t max_bytes,
                                        size_t backups) {
    std::error_code ec;
    auto abs = std::filesystem::absolute(file, ec);
    const std::string key = (ec ? file : abs).lexically_normal().string();
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = sinks_.find(key); it != sinks_.end()) {
      if (auto sink = it->second.lock()) return sink;
    }
    auto sink = std::make_shared<RotatingFileSink>(file, max_bytes, backups);  // may throw
    sink->set_pattern("%v");
    sinks_[key] = sink;
    // Drop entries of closed files now and then (amortised O(1) per Open).
    if (sinks_.size() > 2 * last_sweep_size_ + 64) {
      std::erase_if(sinks_, [](const auto& entry) { return entry.second.expired(); });
      last_sweep_size_ = sinks_.size();
    }
    return sink;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::weak_ptr<RotatingFileSink>> sinks_;  // guarded by mu_
  size_t last_sweep_size_ = 0;                                             // guarded by mu_
};

// The logger that writes worker lines' copies into the node log: the node logger's sinks,
// but dropping the oldest queued line instead of waiting when the queue is full. Made by
// InitNodeLog; `of` is the node logger it copies, so a default logger replaced since
// (tests) is used directly instead.
struct NodeCopy {
  std::mutex mu;
  std::shared_ptr<spdlog::logger> logger;  // guarded by mu
  const spdlog::logger* of = nullptr;      // guarded by mu
  bool json = false;                       // guarded by mu; log.format json (json_log_format.h)
};

NodeCopy& NodeCopyState() {
  static NodeCopy* copy = new NodeCopy();  // never destroyed: used from destructors too
  return *copy;
}

// Where a worker's line goes in the node log, and whether that logger's sinks format
// JSON (then the payload is sid, kWorkerSidSeparator, text).
struct NodeCopyTarget {
  std::shared_ptr<spdlog::logger> logger;
  bool json = false;
};

NodeCopyTarget NodeLoggerForWorkers(const std::shared_ptr<spdlog::logger>& node) {
  NodeCopy& copy = NodeCopyState();
  std::lock_guard<std::mutex> lock(copy.mu);
  if (copy.logger && copy.of == node.get()) return {copy.logger, copy.json};
  return {node, false};
}

bool QueueFull() { return SharedPool()->queue_size() >= kWorkerQueueLimit; }

// Cuts `message` to at most `max` bytes without splitting a UTF-8 sequence, and says how
// much was dropped.
std::string Capped(std::string_view message, uint64_t max) {
  if (max == 0 || message.size() <= max) return std::string(message);
  size_t cut = static_cast<size_t>(max);
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
  std::string out(message.substr(0, cut));
  out += "… [" + std::to_string(message.size() - cut) + " bytes dropped]";
  return out;
}

SinkTable& Sinks() {
  static SinkTable* table = new SinkTable();   // never destroyed: used from destructors too
  return *table;
}

bool IsSafeFileStem(const std::string& sid) {
  return !sid.empty() && sid != "." && sid != ".." &&
         sid.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
}

}  // namespace

std::string EscapeLogMessage(std::string_view message) {
  static const char kHexDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(message.size());
  for (size_t i = 0; i < message.size(); ++i) {
    const auto c = static_cast<unsigned char>(message[i]);
    if (c == '\n') { out += "\\n"; continue; }
    if (c == '\r') { out += "\\r"; continue; }
    if (c == '\t') { out += "\\t"; continue; }
    if (c < 0x20 || c == 0x7F) {
      out += "\\x";
      out += kHexDigits[c >> 4];
      out += kHexDigits[c & 0xF];
      continue;
    }
    // C1 controls (U+0080–U+009F: C2 80–C2 9F; NEL among them) and the Unicode line and
    // paragraph separators (E2 80 A8/A9), which some viewers also break lines at.
    if (c == 0xC2 && i + 1 < message.size()) {
      const auto d = static_cast<unsigned char>(message[i + 1]);
      if (d >= 0x80 && d <= 0x9F) {
        out += "\\u00";
        out += kHexDigits[d >> 4];
        out += kHexDigits[d & 0xF];
        ++i;
        continue;
      }
    }
    if (c == 0xE2 && i + 2 < message.size() && static_cast<unsigned char>(message[i + 1]) == 0x80) {
      const auto e = static_cast<unsigned char>(message[i + 2]);
      if (e == 0xA8 || e == 0xA9) {
        out += e == 0xA8 ? "\\u2028" : "\\u2029";
        i += 2;
        continue;
      }
    }
    out.push_back(static_cast<char>(c));
  }
  return out;
}

Result<std::shared_ptr<WorkerLog>> WorkerLog::Open(const std::string& sid,
                                                   const std::filesystem::path& dir,
                                                   const LogSection& settings,
                                                   uint64_t max_line,
                                                   std::shared_ptr<LogFeed> feed) {
  if (!IsSafeFileStem(sid))
    return Status::InvalidArgument("worker log: \"" + sid + "\" can't be used as a file name");
  if (settings.worker_file_bytes == 0)
    return Status::InvalidArgument("log.worker_file_bytes: must be greater than 0");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("worker log: cannot create " + dir.string() + ": " + ec.message());

  std::shared_ptr<WorkerLog> log(new WorkerLog());
  log->sid_ = sid;
  log->file_ = dir / (sid + ".log");
  log->feed_ = std::move(feed);
  log->ring_capacity_ = log->feed_ ? 0 : static_cast<size_t>(std::max(0, settings.ring_lines));
  log->max_line_ = max_line;
  const size_t backups = static_cast<size_t>(std::max(1, settings.worker_files) - 1);
  try {
    auto sink = Sinks().Get(log->file_, settings.worker_file_bytes, backups);
    // Not registered with spdlog: no name clashes, nothing to drop, and the logger (with
    // its file) goes away once the WorkerLog and any queued lines are gone.
    auto logger = std::make_shared<spdlog::async_logger>(
        "worker:" + sid, std::move(sink), SharedPool(), spdlog::async_overflow_policy::overrun_oldest);
    logger->set_level(spdlog::level::trace);
    // Every line is flushed by the background thread, so the file (which the log
    // streaming API reads) is current within milliseconds.
    logger->flush_on(spdlog::level::trace);
    log->file_logger_ = std::move(logger);
  } catch (const std::exception& e) {
    return Status::IOError("worker log: cannot open " + log->file_.string() + ": " + e.what());
  }
  return log;
}

WorkerLog::~WorkerLog() {
  if (file_logger_) {
    file_logger_->flush();   // queued; the logger and its file close once it has run
    file_logger_.reset();
  }
}

void WorkerLog::Write(LogLevel level, std::string_view message) {
  // One entry per call; a trailing newline would only add an empty line.
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r'))
    message.remove_suffix(1);
  // The engine already cut script lines at max_line and added its own marker; the slack
  // keeps that marker, and this cut is the backstop for the runtime's own lines (which
  // may quote a script's error message).
  const std::string text = EscapeLogMessage(Capped(message, max_line_ == 0 ? 0 : max_line_ + 256));
  const auto spd_level = SpdLevel(level);
  uint64_t dropped_before = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);   // ring, feed and file get the same order
    if (QueueFull()) {
      ++dropped_;
      ++dropped_unreported_;
      return;
    }
    const std::string stamp = "[" + IsoTime(WallMillis()) + "] [";
    if (dropped_unreported_ > 0) {
      dropped_before = dropped_unreported_;
      std::string notice = stamp + ToString(LogLevel::kWarn) + "] " + std::to_string(dropped_unreported_) +
                           " log lines dropped (the log queue was full)";
      dropped_unreported_ = 0;
      file_logger_->log(spdlog::level::warn, View(notice));
      if (feed_) feed_->Publish(sid_, notice);
      if (ring_capacity_ > 0) ring_.push_back(std::move(notice));
    }
    std::string line = stamp + ToString(level) + "] " + text;
    file_logger_->log(spd_level, View(line));
    // The feed's sinks only queue the line (log_feed.h), so this stays short.
    if (feed_) feed_->Publish(sid_, line);
    if (ring_capacity_ > 0) {
      ring_.push_back(std::move(line));
      while (ring_.size() > ring_capacity_) ring_.pop_front();
    }
  }
  auto node = spdlog::default_logger();
  if (node) {
    auto [out, json] = NodeLoggerForWorkers(node);
    // JSON lines carry the level and the whole sid as fields; text ones in the prefix.
    auto copied = [&](LogLevel lvl, const std::string& what) {
      if (json) return sid_ + kWorkerSidSeparator + what;
      return "worker " + sid_.substr(0, 8) + ": [" + ToString(lvl) + "] " + what;
    };
    if (dropped_before > 0 && node->should_log(spdlog::level::warn))
      out->log(spdlog::level::warn, View(copied(LogLevel::kWarn, std::to_string(dropped_before) +
                                                                   " log lines dropped (the log queue was full)")));
    if (node->should_log(spd_level)) out->log(spd_level, View(copied(level, text)));
  }
}

uint64_t WorkerLog::dropped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dropped_;
}

std::vector<std::string> WorkerLog::Recent(size_t max_lines) const {
  if (feed_) return feed_->Recent(sid_, max_lines);
  std::lock_guard<std::mutex> lock(mu_);
  const size_t n = std::min(max_lines, ring_.size());
  return std::vector<std::string>(ring_.end() - static_cast<std::ptrdiff_t>(n), ring_.end());
}

void WorkerLog::Flush() {
  if (file_logger_) file_logger_->flush();
}

Status InitNodeLog(const std::filesystem::path& data_dir, const std::string& level, const std::string& format,
                   const std::string& node_id) {
  static const std::pair<const char*, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err}};
  std::optional<spdlog::level::level_enum> parsed;
  for (const auto& [name, value] : kLevels)
    if (level == name) parsed = value;
  if (!parsed)
    return Status::InvalidArgument("log.level: \"" + level +
                                   "\" is not one of trace|debug|info|warn|error");
  if (format != "text" && format != "json")
    return Status::InvalidArgument("log.format: \"" + format + "\" is not one of text|json");
  const bool json = format == "json";

  const auto dir = data_dir / "logs";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("node log: cannot create " + dir.string() + ": " + ec.message());
  try {
    // JSON lines go to stderr uncoloured: under systemd that is the journal, and a
    // shipper reading it wants the same objects as node.log holds.
    spdlog::sink_ptr console;
    if (json) console = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    else console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    auto file = std::make_shared<RotatingFileSink>(dir / "node.log", kNodeLogBytes, kNodeLogBackups);
    spdlog::sinks_init_list sinks{console, file};
    auto logger = std::make_shared<spdlog::async_logger>("ami", sinks, SharedPool(),
                                                         spdlog::async_overflow_policy::block);
    // The formatter is the sinks' (set on each), so it also formats the worker copies
    // the second logger below writes into them.
    if (json) logger->set_formatter(std::make_unique<JsonLogFormatter>(node_id));
    else logger->set_pattern("[%Y-%m-%dT%H:%M:%S.%eZ] [%^%l%$] %v", spdlog::pattern_time_type::utc);
    logger->set_level(*parsed);
    logger->flush_on(spdlog::level::warn);
    auto copy = std::make_shared<spdlog::async_logger>(kWorkerCopyLoggerName, sinks, SharedPool(),
                                                       spdlog::async_overflow_policy::overrun_oldest);
    copy->set_level(spdlog::level::trace);   // the node logger's level is checked first
    {
      NodeCopy& state = NodeCopyState();
      std::lock_guard<std::mutex> lock(state.mu);
      state.logger = std::move(copy);
      state.of = logger.get();
      state.json = json;
    }
    spdlog::set_default_logger(std::move(logger));
    spdlog::flush_every(std::chrono::seconds(1));
  } catch (const std::exception& e) {
    return Status::IOError("node log: cannot open " + (dir / "node.log").string() + ": " + e.what());
  }
  return Status::OK();
}

}  // namespace ami
