// CCXT error classes (names and hierarchy as in CCXT 4.x errorHierarchy) so that a
// connector reports errors a script can catch with `instanceof`, and the host can tell
// network-class failures (retried with backoff) from the rest. Part of the plugin SDK.
#pragma once

#include <string_view>

namespace ami::plugin {

// The names connectors put in CallResult::error_class.
namespace errc {
inline constexpr const char* kBaseError = "BaseError";
inline constexpr const char* kExchangeError = "ExchangeError";
inline constexpr const char* kAuthenticationError = "AuthenticationError";
inline constexpr const char* kPermissionDenied = "PermissionDenied";
inline constexpr const char* kArgumentsRequired = "ArgumentsRequired";
inline constexpr const char* kBadRequest = "BadRequest";
inline constexpr const char* kBadSymbol = "BadSymbol";
inline constexpr const char* kInsufficientFunds = "InsufficientFunds";
inline constexpr const char* kInvalidOrder = "InvalidOrder";
inline constexpr const char* kOrderNotFound = "OrderNotFound";
inline constexpr const char* kDuplicateOrderId = "DuplicateOrderId";
inline constexpr const char* kNotSupported = "NotSupported";
inline constexpr const char* kNetworkError = "NetworkError";
inline constexpr const char* kRateLimitExceeded = "RateLimitExceeded";
inline constexpr const char* kExchangeNotAvailable = "ExchangeNotAvailable";
inline constexpr const char* kRequestTimeout = "RequestTimeout";
}  // namespace errc

struct ErrorClassInfo {
  const char* name;
  const char* parent;   // nullptr for BaseError
};

// Every CCXT error class with its parent, parents before children (a binding can create
// JS classes in this order). Unknown names should be treated as ExchangeError.
inline constexpr ErrorClassInfo kErrorClasses[] = {
    {"BaseError", nullptr},
    {"ExchangeError", "BaseError"},
    {"AuthenticationError", "ExchangeError"},
    {"PermissionDenied", "AuthenticationError"},
    {"AccountNotEnabled", "PermissionDenied"},
    {"AccountSuspended", "AuthenticationError"},
    {"ArgumentsRequired", "ExchangeError"},
    {"BadRequest", "ExchangeError"},
    {"BadSymbol", "BadRequest"},
    {"OperationRejected", "ExchangeError"},
    {"NoChange", "OperationRejected"},
    {"MarginModeAlreadySet", "NoChange"},
    {"MarketClosed", "OperationRejected"},
    {"InsufficientFunds", "ExchangeError"},
    {"InvalidAddress", "ExchangeError"},
    {"AddressPending", "InvalidAddress"},
    {"InvalidOrder", "ExchangeError"},
    {"OrderNotFound", "InvalidOrder"},
    {"OrderNotCached", "InvalidOrder"},
    {"OrderImmediatelyFillable", "InvalidOrder"},
    {"OrderNotFillable", "InvalidOrder"},
    {"DuplicateOrderId", "InvalidOrder"},
    {"ContractUnavailable", "InvalidOrder"},
    {"NotSupported", "ExchangeError"},
    {"InvalidProxySettings", "ExchangeError"},
    {"ExchangeClosedByUser", "ExchangeError"},
    {"OperationFailed", "BaseError"},
    {"NetworkError", "OperationFailed"},
    {"DDoSProtection", "NetworkError"},
    {"RateLimitExceeded", "NetworkError"},
    {"ExchangeNotAvailable", "NetworkError"},
    {"OnMaintenance", "ExchangeNotAvailable"},
    {"InvalidNonce", "NetworkError"},
    {"ChecksumError", "InvalidNonce"},
    {"RequestTimeout", "NetworkError"},
    {"BadResponse", "OperationFailed"},
    {"NullResponse", "BadResponse"},
    {"CancelPending", "OperationFailed"},
};

// The parent of `name`, nullptr for BaseError or an unknown name.
constexpr const char* ErrorClassParent(std::string_view name) {
  for (const auto& c : kErrorClasses)
    if (name == c.name) return c.parent;
  return nullptr;
}

constexpr bool IsKnownErrorClass(std::string_view name) {
  for (const auto& c : kErrorClasses)
    if (name == c.name) return true;
  return false;
}

// True when `name` is `ancestor` or derives from it (unknown names derive from
// ExchangeError).
constexpr bool ErrorClassIsA(std::string_view name, std::string_view ancestor) {
  if (!IsKnownErrorClass(name)) name = "ExchangeError";
  for (int guard = 0; guard < 16; ++guard) {
    if (name == ancestor) return true;
    const char* parent = ErrorClassParent(name);
    if (!parent) return false;
    name = parent;
  }
  return false;
}

// Network-class: NetworkError and its family (RequestTimeout, RateLimitExceeded,
// ExchangeNotAvailable, DDoSProtection, ...). Workers back off instead of spending
// their error budget.
constexpr bool IsNetworkErrorClass(std::string_view name) {
  return ErrorClassIsA(name, "NetworkError");
}

}  // namespace ami::plugin
