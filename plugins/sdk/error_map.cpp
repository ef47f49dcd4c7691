// Exchange error codes to CCXT classes (net/error_map.h), in the order CCXT's
// handleErrors applies its tables: the code in `exact`, the message in `exact`, then the
// first `broad` text found in the message.
#include "ami/plugin/net/error_map.h"

#include "ami/plugin/errors.h"

namespace ami::plugin::net {

ErrorMap::ErrorMap(std::vector<ErrorRule> exact, std::vector<ErrorRule> broad)
    : exact_(std::move(exact)), broad_(std::move(broad)) {}

std::string ErrorMap::Classify(std::string_view code, std::string_view message,
                               std::string_view fallback) const {
  auto exactly = [this](std::string_view text) -> const char* {
    if (text.empty()) return nullptr;
    for (const auto& rule : exact_)
      if (rule.match == text) return rule.error_class;
    return nullptr;
  };
  if (const char* found = exactly(code)) return found;
  if (const char* found = exactly(message)) return found;
  for (const auto& rule : broad_)
    if (!rule.match.empty() && message.find(rule.match) != std::string_view::npos)
      return rule.error_class;
  return std::string(fallback);
}

std::string ErrorMap::ForHttpStatus(int status) {
  if (status < 400) return "";
  switch (status) {
    case 429: return errc::kRateLimitExceeded;
    case 418: return "DDoSProtection";
    case 401: return errc::kAuthenticationError;
    case 403: return errc::kPermissionDenied;
    case 404: return errc::kBadRequest;
    case 408:
    case 504: return errc::kRequestTimeout;
    default: break;
  }
  return status >= 500 ? errc::kExchangeNotAvailable : errc::kBadRequest;
}

}  // namespace ami::plugin::net
