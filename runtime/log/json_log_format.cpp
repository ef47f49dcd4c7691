#include "runtime/log/json_log_format.h"

#include <chrono>

#include <nlohmann/json.hpp>

#include "runtime/base/clock.h"

namespace ami {

namespace {

std::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "info";
  }
}

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool IsUuidAt(std::string_view s, size_t at) {
  if (s.size() < at + 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    const char c = s[at + i];
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !IsHex(c)) return false;
  }
  // A longer run of hex digits is not a sid.
  return s.size() == at + 36 || !IsHex(s[at + 36]);
}

}  // namespace

std::string_view SidNamedIn(std::string_view message) {
  constexpr std::string_view kWord = "worker ";
  for (size_t at = message.find(kWord); at != std::string_view::npos; at = message.find(kWord, at + 1)) {
    if (at > 0 && message[at - 1] != ' ' && message[at - 1] != '(') continue;  // "coworker " is no worker
    if (IsUuidAt(message, at + kWord.size())) return message.substr(at + kWord.size(), 36);
  }
  return {};
}

std::string JsonLogLine(int64_t epoch_ms, std::string_view level, std::string_view node, std::string_view sid,
                        std::string_view message) {
  nlohmann::ordered_json line;
  line["time"] = IsoTime(epoch_ms);
  line["level"] = level;
  line["node"] = node;
  if (!sid.empty()) line["sid"] = sid;
  line["message"] = message;
  std::string out = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out += '\n';
  return out;
}

void JsonLogFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  const std::string_view payload(msg.payload.data(), msg.payload.size());
  std::string_view sid, message = payload;
  const std::string_view logger(msg.logger_name.data(), msg.logger_name.size());
  if (logger == kWorkerCopyLoggerName) {
    if (const size_t cut = payload.find(kWorkerSidSeparator); cut != std::string_view::npos) {
      sid = payload.substr(0, cut);
      message = payload.substr(cut + 1);
    }
  } else {
    sid = SidNamedIn(payload);
  }
  const int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
  const std::string line = JsonLogLine(ms, LevelName(msg.level), node_id_, sid, message);
  dest.append(line.data(), line.data() + line.size());
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const {
  return std::make_unique<JsonLogFormatter>(node_id_);
}

}  // namespace ami
