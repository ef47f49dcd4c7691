// Table-driven mapping from an exchange's error codes and messages to CCXT error classes,
// shaped like CCXT's own `exceptions: {exact: {...}, broad: {...}}` tables, plus the HTTP
// status fallbacks every REST connector needs. Part of the connector SDK (net/).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ami::plugin::net {

struct ErrorRule {
  std::string_view match;       // exact: the code as text ("10001", "-2010"); broad: a substring of the message
  const char* error_class;      // a CCXT class from errors.h
};

class ErrorMap {
 public:
  ErrorMap(std::vector<ErrorRule> exact, std::vector<ErrorRule> broad);

  // The class for an exchange error: exact code first, then exact message, then the
  // first broad rule whose text occurs in `message`; `fallback` (ExchangeError) else.
  std::string Classify(std::string_view code, std::string_view message,
                       std::string_view fallback = "ExchangeError") const;

  // For a reply whose body carried no exchange error code: 429 → RateLimitExceeded,
  // 418 → DDoSProtection, 401 → AuthenticationError, 403 → PermissionDenied,
  // 404 → BadRequest, 408/504 → RequestTimeout, 5xx → ExchangeNotAvailable,
  // other 4xx → BadRequest; "" for 2xx/3xx.
  static std::string ForHttpStatus(int status);

 private:
  std::vector<ErrorRule> exact_;
  std::vector<ErrorRule> broad_;
};

}  // namespace ami::plugin::net
