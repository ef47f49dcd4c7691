// The node log as JSON lines (`log.format: json`), so it can be shipped to Loki or
// Elasticsearch without parsing. One object a line, keys in this order:
//
//   {"time":"2026-11-29T02:05:30.123Z","level":"info","node":"s-0001","sid":"…","message":"…"}
//
//   time     UTC, milliseconds, the same instant the text format prints
//   level    trace|debug|info|warn|error|critical (the config's names, not spdlog's "warning")
//   node     the node id
//   sid      only when the line is about one worker: a line the worker wrote (copied from
//            its own log), or a node line that names "worker <sid>" (started, set
//            inactive, lease acquired, …)
//   message  the text; a worker's line without the "worker <sid8>: [LEVEL]" prefix the
//            text format adds (level and sid carry that)
//
// Bytes that are not UTF-8 become U+FFFD, so every line is valid JSON. Messages never
// span lines: JSON escapes newlines.
#pragma once

#include <spdlog/formatter.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace ami {

// The logger that copies worker lines into the node log (worker_log.cpp) is named so;
// in JSON mode its payload is <sid> kWorkerSidSeparator <text>. The separator cannot
// occur in the text, whose control characters WorkerLog has escaped.
inline constexpr const char* kWorkerCopyLoggerName = "ami-workers";
inline constexpr char kWorkerSidSeparator = '\x1f';

class JsonLogFormatter : public spdlog::formatter {
 public:
  explicit JsonLogFormatter(std::string node_id) : node_id_(std::move(node_id)) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;

 private:
  std::string node_id_;
};

// One JSON line (with its trailing newline) for these fields; `sid` empty = no sid key.
std::string JsonLogLine(int64_t epoch_ms, std::string_view level, std::string_view node, std::string_view sid,
                        std::string_view message);

// The sid a node line is about: the first "worker " followed by a UUID
// (8-4-4-4-12 hex digits); empty when there is none.
std::string_view SidNamedIn(std::string_view message);

}  // namespace ami
