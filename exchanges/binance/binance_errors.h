// Binance replies → CCXT error classes. The table is CCXT's binance `exceptions`
// (ts/src/binance.ts: exact messages and codes, broad messages) for the endpoints this
// connector calls, plus the USDⓈ-M trading codes; the order of the checks is CCXT's
// handleErrors: filter names in the body (LOT_SIZE, PRICE_FILTER, …) → InvalidOrder,
// then the exact message, the broad messages, the exact code.
//
// HTTP statuses without a Binance code follow net::ErrorMap::ForHttpStatus (429 →
// RateLimitExceeded, 418 → DDoSProtection, 5xx → ExchangeNotAvailable, …).
//
// "Ambiguous" replies — the request may have been executed: HTTP 5xx (Binance: "the
// execution status is UNKNOWN and could have been a success"), -1006 and -1007.
#pragma once

#include <optional>
#include <string>

namespace ami::exchanges::binance {

struct BinanceError {
  std::string error_class;   // CCXT class
  std::string message;       // "binance: <msg> (code -2010, HTTP 400)"
  std::string code;          // Binance code as text ("-2010"), "" when the body had none
  std::string msg;           // Binance's msg as sent
  bool ambiguous = false;
};

// nullopt: the reply is a success (2xx without a negative `code`).
std::optional<BinanceError> ClassifyReply(int http_status, const std::string& body,
                                          bool futures, const std::string& exchange_id);

// The class for a Binance code/message alone (tests, stream error frames).
std::string ClassifyCode(const std::string& code, const std::string& msg, bool futures);

}  // namespace ami::exchanges::binance
