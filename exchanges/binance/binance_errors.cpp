#include "binance_errors.h"

#include <nlohmann/json.hpp>

#include "ami/plugin/net/error_map.h"

namespace ami::exchanges::binance {

namespace {

using plugin::net::ErrorMap;
using plugin::net::ErrorRule;

// CCXT binance `exceptions.exact` (the messages and codes that concern market data,
// accounts and orders on /api/v3 and /fapi).
std::vector<ErrorRule> CommonExact() {
  return {
      {"System is under maintenance.", "OnMaintenance"},
      {"System abnormality", "ExchangeError"},
      {"You are not authorized to execute this request.", "PermissionDenied"},
      {"API key does not exist", "AuthenticationError"},
      {"Order would trigger immediately.", "OrderImmediatelyFillable"},
      {"Stop price would trigger immediately.", "OrderImmediatelyFillable"},
      {"Order would immediately match and take.", "OrderImmediatelyFillable"},
      {"Account has insufficient balance for requested action.", "InsufficientFunds"},
      {"Rest API trading is not enabled.", "ExchangeNotAvailable"},
      {"This account may not place or cancel orders.", "ExchangeNotAvailable"},
      {"You don't have permission.", "PermissionDenied"},
      {"Market is closed.", "ExchangeNotAvailable"},
      {"Too many requests. Please try again later.", "DDoSProtection"},
      {"This action is disabled on this account.", "AccountSuspended"},
      {"Limit orders require GTC for this phase.", "BadRequest"},
      {"This order type is not possible in this trading phase.", "BadRequest"},
      {"This symbol is restricted for this account.", "PermissionDenied"},
      {"This symbol is not permitted for this account.", "PermissionDenied"},
      {"-1000", "ExchangeNotAvailable"},
      {"-1001", "ExchangeNotAvailable"},
      {"-1002", "AuthenticationError"},
      {"-1003", "RateLimitExceeded"},
      {"-1004", "DDoSProtection"},
      {"-1005", "PermissionDenied"},
      {"-1006", "BadResponse"},
      {"-1007", "RequestTimeout"},
      {"-1010", "BadResponse"},
      {"-1011", "PermissionDenied"},
      {"-1013", "InvalidOrder"},
      {"-1014", "InvalidOrder"},
      {"-1015", "RateLimitExceeded"},
      {"-1016", "ExchangeNotAvailable"},
      {"-1020", "BadRequest"},
      {"-1021", "InvalidNonce"},
      {"-1022", "AuthenticationError"},
      {"-1023", "BadRequest"},
      {"-1099", "AuthenticationError"},
      {"-1100", "BadRequest"},
      {"-1101", "BadRequest"},
      {"-1102", "BadRequest"},
      {"-1103", "BadRequest"},
      {"-1104", "BadRequest"},
      {"-1105", "BadRequest"},
      {"-1106", "BadRequest"},
      {"-1108", "BadRequest"},
      {"-1109", "AuthenticationError"},
      {"-1110", "BadRequest"},
      {"-1111", "BadRequest"},
      {"-1112", "InvalidOrder"},
      {"-1114", "BadRequest"},
      {"-1115", "BadRequest"},
      {"-1116", "BadRequest"},
      {"-1117", "BadRequest"},
      {"-1118", "BadRequest"},
      {"-1119", "BadRequest"},
      {"-1120", "BadRequest"},
      {"-1121", "BadSymbol"},
      {"-1125", "AuthenticationError"},
      {"-1127", "BadRequest"},
      {"-1128", "BadRequest"},
      {"-1130", "BadRequest"},
      {"-1131", "BadRequest"},
      {"-1135", "BadRequest"},
      {"-1136", "BadRequest"},
      {"-2008", "AuthenticationError"},
      {"-2010", "ExchangeError"},
      {"-2011", "OrderNotFound"},
      {"-2013", "OrderNotFound"},
      {"-2014", "AuthenticationError"},
      {"-2015", "AuthenticationError"},
      {"-2016", "BadRequest"},
      {"-2018", "InsufficientFunds"},
      {"-2019", "InsufficientFunds"},
      {"-2020", "OrderNotFillable"},
      {"-2021", "OrderImmediatelyFillable"},
      {"-2022", "InvalidOrder"},
      {"-2023", "InsufficientFunds"},
      {"-2024", "InsufficientFunds"},
      {"-2025", "InvalidOrder"},
      {"-2026", "InvalidOrder"},
      {"-2027", "InvalidOrder"},
      {"-2028", "InsufficientFunds"},
  };
}

// USDⓈ-M trading codes (CCXT's binance linear exceptions; the spot table's -40xx are
// wallet codes that never come from the endpoints used here).
std::vector<ErrorRule> FuturesExact() {
  std::vector<ErrorRule> rules = CommonExact();
  const std::vector<ErrorRule> extra = {
      {"-4003", "InvalidOrder"},    // QTY_LESS_THAN_ZERO
      {"-4004", "InvalidOrder"},    // QTY_LESS_THAN_MIN_QTY
      {"-4005", "InvalidOrder"},    // QTY_GREATER_THAN_MAX_QTY
      {"-4014", "InvalidOrder"},    // PRICE_NOT_INCREASED_BY_TICK_SIZE
      {"-4016", "InvalidOrder"},    // PRICE_HIGHTER_THAN_MULTIPLIER_UP
      {"-4023", "InvalidOrder"},    // QTY_NOT_INCREASED_BY_STEP_SIZE
      {"-4061", "InvalidOrder"},    // position side does not match
      {"-4131", "InvalidOrder"},    // PERCENT_PRICE filter
      {"-4164", "InvalidOrder"},    // notional below MIN_NOTIONAL
      {"-5022", "OrderImmediatelyFillable"},   // GTX (post only) would take
  };
  rules.insert(rules.begin(), extra.begin(), extra.end());
  return rules;
}

std::vector<ErrorRule> Broad() {
  return {
      {"has no operation privilege", "PermissionDenied"},
      {"MAX_POSITION", "InvalidOrder"},
  };
}

const ErrorMap& Map(bool futures) {
  static const ErrorMap spot(CommonExact(), Broad());
  static const ErrorMap fut(FuturesExact(), Broad());
  return futures ? fut : spot;
}

}  // namespace

std::string ClassifyCode(const std::string& code, const std::string& msg, bool futures) {
  const ErrorMap& map = Map(futures);
  // CCXT checks the message first (exact, then broad), then the code.
  if (!msg.empty()) {
    std::string by_message = map.Classify("", msg, "");
    if (!by_message.empty()) return by_message;
  }
  if (!code.empty()) return map.Classify(code, "", "ExchangeError");
  return "ExchangeError";
}

std::optional<BinanceError> ClassifyReply(int status, const std::string& body, bool futures,
                                          const std::string& exchange_id) {
  std::string code, msg;
  const auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object()) {
    if (parsed.contains("code") && (parsed["code"].is_number_integer() || parsed["code"].is_string()))
      code = parsed["code"].is_string() ? parsed["code"].get<std::string>()
                                        : std::to_string(parsed["code"].get<long long>());
    if (parsed.contains("msg") && parsed["msg"].is_string()) msg = parsed["msg"].get<std::string>();
  }
  // {"code":200,"msg":"success"} and {"code":0} are successes (CCXT's workaround).
  const bool code_is_error = !code.empty() && code != "200" && code != "0";
  if (status >= 200 && status < 300 && !code_is_error) return std::nullopt;

  BinanceError e;
  e.code = code_is_error ? code : "";
  e.msg = msg;
  e.ambiguous = status >= 500 || e.code == "-1006" || e.code == "-1007";
  const std::string where = " (" + (e.code.empty() ? std::string() : "code " + e.code + ", ") +
                            "HTTP " + std::to_string(status) + ")";
  const std::string text = !msg.empty() ? msg : body.substr(0, 200);
  e.message = exchange_id + ": " + (text.empty() ? std::string("error") : text) + where;
  if (status == 429 || status == 418) {
    e.error_class = ErrorMap::ForHttpStatus(status);
    return e;
  }
  if (status >= 400 && (body.find("Price * QTY is zero or less") != std::string::npos ||
                        body.find("LOT_SIZE") != std::string::npos ||
                        body.find("PRICE_FILTER") != std::string::npos)) {
    e.error_class = "InvalidOrder";
    return e;
  }
  if (!e.code.empty() || !msg.empty()) {
    e.error_class = ClassifyCode(e.code, msg, futures);
    if (e.error_class == "ExchangeError" && e.code.empty() && status >= 400)
      e.error_class = ErrorMap::ForHttpStatus(status);
    return e;
  }
  e.error_class = ErrorMap::ForHttpStatus(status);
  if (e.error_class.empty()) e.error_class = "ExchangeError";
  return e;
}

}  // namespace ami::exchanges::binance
