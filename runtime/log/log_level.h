#pragma once

namespace ami {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// "DEBUG", "INFO", "WARN", "ERROR" — as written in worker log lines.
inline const char* ToString(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarn: return "WARN";
    case LogLevel::kError: return "ERROR";
  }
  return "INFO";
}

}  // namespace ami
