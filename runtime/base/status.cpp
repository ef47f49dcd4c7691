#include "runtime/base/status.h"

namespace ami {

const char* CodeName(Status::Code code) {
  switch (code) {
    case Status::Code::kOk: return "ok";
    case Status::Code::kInvalidArgument: return "invalid argument";
    case Status::Code::kNotFound: return "not found";
    case Status::Code::kConflict: return "conflict";
    case Status::Code::kIOError: return "I/O error";
    case Status::Code::kScriptError: return "script error";
    case Status::Code::kLimitExceeded: return "limit exceeded";
    case Status::Code::kAborted: return "aborted";
    case Status::Code::kInternal: return "internal error";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code_)) + ": " + message_;
}

}  // namespace ami
