// Plain structs passed to every connector call: who is calling (CallContext) and what
// came back (CallResult). Part of the plugin SDK (public, header-only, no exceptions).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace ami::plugin {

// API credentials of the account a call runs for. They come from the node config (the
// worker's accountId), never from the script. NEVER log them: there is deliberately no
// printing helper for this struct; use DescribeForLog(const CallContext&) instead.
struct Credentials {
  std::string api_key;
  std::string secret;
};

// Who makes a call. The host fills it from the worker that issued the call.
struct CallContext {
  std::string worker_sid;      // the calling worker's sid ("" for host/admin calls)
  std::uint64_t term = 0;      // fencing token of a leader-mode worker; 0 = unfenced
  std::string account_id;      // the worker's accountId ("" = none / default account)
  Credentials credentials;     // secrets: never logged
};

// "worker=<sid> term=<n> account=<id>": safe to log (no credentials).
inline std::string DescribeForLog(const CallContext& ctx) {
  return "worker=" + (ctx.worker_sid.empty() ? std::string("-") : ctx.worker_sid) +
         " term=" + std::to_string(ctx.term) +
         " account=" + (ctx.account_id.empty() ? std::string("-") : ctx.account_id);
}

// The outcome of a call. On success `json` holds the CCXT-shaped result as JSON text.
// On failure `error_class` is a CCXT error class name (see errors.h: "InsufficientFunds",
// "BadSymbol", "NetworkError", ...), `message` says what and where, and `json` may carry
// extra details (JSON text, "null" when none).
struct CallResult {
  bool ok = true;
  std::string error_class;
  std::string message;
  std::string json = "null";

  static CallResult Ok(std::string json_text) {
    CallResult r;
    r.json = std::move(json_text);
    return r;
  }
  static CallResult Error(std::string error_class, std::string message,
                          std::string json_text = "null") {
    CallResult r;
    r.ok = false;
    r.error_class = std::move(error_class);
    r.message = std::move(message);
    r.json = std::move(json_text);
    return r;
  }
};

}  // namespace ami::plugin
