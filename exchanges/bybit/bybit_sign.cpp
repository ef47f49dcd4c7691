// Bybit v5 request signing (see bybit_sign.h for the rules, which follow CCXT's sign()).
#include "bybit_sign.h"

#include <stdexcept>

#include "ami/plugin/net/signing.h"

namespace ami::exchanges::bybit {

namespace net = plugin::net;

std::string RawEncode(const nlohmann::ordered_json& params) {
  std::string out;
  for (const auto& [key, value] : params.items()) {
    if (!out.empty()) out += '&';
    out += key;
    out += '=';
    // qs with encode:false turns null into an empty value; objects are not used by v5 calls.
    if (!value.is_null()) out += value.is_structured() ? net::JsonStringify(value) : net::ScalarText(value);
  }
  return out;
}

plugin::net::HttpRequest SignRequest(const SignInput& in) {
  net::HttpRequest req;
  req.method = in.method;
  req.url = in.base_url + "/" + in.path;
  if (in.api == "public") {
    if (!in.params.empty()) req.url += "?" + RawEncode(in.params);
  } else if (in.api == "private") {
    if (in.credentials.api_key.empty() || in.credentials.secret.empty())
      throw std::invalid_argument("bybit: a private request needs api_key and secret");
    const std::string timestamp = std::to_string(in.timestamp_ms);
    const std::string recv_window = std::to_string(in.recv_window_ms);
    std::string auth = timestamp + in.credentials.api_key + recv_window;
    if (in.method == "POST") {
      req.body = net::JsonStringify(in.params);
      auth += req.body;
    } else {
      const std::string query = RawEncode(in.params);
      auth += query;
      req.url += "?" + query;
    }
    req.headers = {{"Content-Type", "application/json"},
                   {"X-BAPI-API-KEY", in.credentials.api_key},
                   {"X-BAPI-TIMESTAMP", timestamp},
                   {"X-BAPI-RECV-WINDOW", recv_window},
                   {"X-BAPI-SIGN", net::HmacSha256Hex(in.credentials.secret, auth)}};
  } else {
    throw std::invalid_argument("bybit: unknown api '" + in.api + "' (public | private)");
  }
  if (in.method == "POST" && !in.referer.empty()) req.headers.emplace_back("Referer", in.referer);
  return req;
}

std::string WsAuthMessage(const plugin::Credentials& credentials, std::int64_t expires_ms) {
  const std::string expires = std::to_string(expires_ms);
  nlohmann::ordered_json msg = {
      {"op", "auth"},
      {"args", {credentials.api_key, expires_ms,
                net::HmacSha256Hex(credentials.secret, "GET/realtime" + expires)}}};
  return msg.dump();
}

}  // namespace ami::exchanges::bybit
