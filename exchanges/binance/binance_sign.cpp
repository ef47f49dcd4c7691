#include "binance_sign.h"

#include <cmath>
#include <optional>
#include <stdexcept>

#include "ami/plugin/net/signing.h"

namespace ami::exchanges::binance {

namespace {

using ojson = nlohmann::ordered_json;

// qs's RFC 3986 encoder: everything but the unreserved characters becomes %XX (upper-case
// hex of each UTF-8 byte). Unlike encodeURIComponent it also encodes ! ' ( ) *.
std::string QsEncode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

void AppendPair(std::string& out, const std::string& key, const ojson& value) {
  if (value.is_object()) {
    for (const auto& [k, v] : value.items()) AppendPair(out, key + "[" + k + "]", v);
    return;
  }
  if (value.is_array()) {   // qs's default arrayFormat "indices"
    std::size_t i = 0;
    for (const auto& v : value) AppendPair(out, key + "[" + std::to_string(i++) + "]", v);
    return;
  }
  if (!out.empty()) out += '&';
  out += QsEncode(key);
  out += '=';
  if (value.is_string()) out += QsEncode(value.get<std::string>());
  else if (!value.is_null()) out += QsEncode(plugin::net::ScalarText(nlohmann::json::parse(value.dump())));
}

// CCXT's safeInteger: a number (truncated) or a numeric string; nullopt otherwise.
std::optional<std::int64_t> SafeInteger(const ojson& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d)) return static_cast<std::int64_t>(d);
    return std::nullopt;
  }
  if (v.is_string()) {
    try {
      std::size_t used = 0;
      const std::string s = v.get<std::string>();
      const double d = std::stod(s, &used);
      if (used == s.size() && std::isfinite(d)) return static_cast<std::int64_t>(d);
    } catch (...) {
    }
  }
  return std::nullopt;
}

std::string ApiBase(const SignInput& in) {
  if (in.api == "public" || in.api == "private") return in.spot_base_url + "/api/v3";
  if (in.api == "fapiPublic" || in.api == "fapiPrivate") return in.futures_base_url + "/fapi/v1";
  if (in.api == "fapiPrivateV2") return in.futures_base_url + "/fapi/v2";
  throw std::invalid_argument("binance: unknown api '" + in.api + "'");
}

}  // namespace

bool IsPrivateApi(std::string_view api) {
  return api == "private" || api == "fapiPrivate" || api == "fapiPrivateV2";
}

std::string QsStringify(const ojson& params) {
  std::string out;
  if (!params.is_object()) return out;
  for (const auto& [k, v] : params.items()) AppendPair(out, k, v);
  return out;
}

plugin::net::HttpRequest SignRequest(const SignInput& in) {
  plugin::net::HttpRequest req;
  req.method = in.method;
  req.url = ApiBase(in) + "/" + in.path;
  const ojson params = in.params.is_object() ? in.params : ojson::object();
  if (!IsPrivateApi(in.api)) {
    if (!params.empty()) req.url += "?" + QsStringify(params);
    return req;
  }
  ojson extended = ojson::object();
  extended["timestamp"] = in.timestamp_ms;
  for (const auto& [k, v] : params.items()) extended[k] = v;
  if (in.recv_window_ms > 0) extended["recvWindow"] = in.recv_window_ms;
  if (params.contains("recvWindow"))
    if (auto rw = SafeInteger(params["recvWindow"])) extended["recvWindow"] = *rw;
  std::string query = QsStringify(extended);
  query += "&signature=" + plugin::net::HmacSha256Hex(in.credentials.secret, query);
  req.headers.emplace_back("X-MBX-APIKEY", in.credentials.api_key);
  if (in.method == "GET" || in.method == "DELETE") {
    req.url += "?" + query;
  } else {
    req.body = std::move(query);
    req.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  }
  return req;
}

}  // namespace ami::exchanges::binance
