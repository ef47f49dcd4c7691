// Signing helpers (net/signing.h). The digests are OpenSSL's; the text formats follow
// JavaScript (Number#toString, JSON.stringify) because what an exchange verifies is the
// exact characters CCXT — a JavaScript library — would have sent.
#include "ami/plugin/net/signing.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace ami::plugin::net {
namespace {

constexpr char kHexLower[] = "0123456789abcdef";
constexpr char kHexUpper[] = "0123456789ABCDEF";

std::string Hex(const unsigned char* data, std::size_t size) {
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out += kHexLower[data[i] >> 4];
    out += kHexLower[data[i] & 0x0F];
  }
  return out;
}

bool IsAlnum(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

template <typename KeepFn>
std::string PercentEncode(std::string_view text, KeepFn keep) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (keep(c)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHexUpper[c >> 4];
      out += kHexUpper[c & 0x0F];
    }
  }
  return out;
}

// Number#toString (ECMAScript Number::toString, radix 10): the shortest digits that read
// back the same, laid out plainly for 1e-7 <= |x| < 1e21 and in exponent form otherwise.
std::string JsNumberText(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0) return "0";  // also -0, as JavaScript prints it
  std::array<char, 64> buffer{};
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value,
                                 std::chars_format::scientific);
  if (ec != std::errc()) return "NaN";
  std::string_view sci(buffer.data(), static_cast<std::size_t>(end - buffer.data()));
  std::string out;
  if (sci.front() == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  // sci is "d[.ddd]e±XX": the digits, and the exponent of the first one.
  const auto e_at = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_at))
    if (c != '.') digits += c;
  const int exponent = std::atoi(std::string(sci.substr(e_at + 1)).c_str());
  const int k = static_cast<int>(digits.size());
  const int n = exponent + 1;  // value = 0.digits × 10^n
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, static_cast<std::size_t>(n));
    out += '.';
    out += digits.substr(static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-n), '0');
    out += digits;
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out += digits.substr(1);
    }
    out += 'e';
    out += (n - 1 < 0) ? '-' : '+';
    out += std::to_string(std::abs(n - 1));
  }
  return out;
}

// JSON.stringify's string quoting: the two mandatory escapes, the short forms for
// \b \f \n \r \t, \u00xx (lower-case hex) for other control characters; all other bytes
// (UTF-8 included) as they are.
void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHexLower[c >> 4];
          out += kHexLower[c & 0x0F];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

template <typename Json>
void AppendJson(std::string& out, const Json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (!first) out += ',';
        first = false;
        AppendJsonString(out, it.key());
        out += ':';
        AppendJson(out, it.value());
      }
      out += '}';
      break;
    }
    case nlohmann::json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& item : value) {
        if (!first) out += ',';
        first = false;
        AppendJson(out, item);
      }
      out += ']';
      break;
    }
    case nlohmann::json::value_t::string:
      AppendJsonString(out, value.template get_ref<const std::string&>());
      break;
    case nlohmann::json::value_t::number_float: {
      const double number = value.template get<double>();
      out += std::isfinite(number) ? JsNumberText(number) : "null";  // as JSON.stringify
      break;
    }
    case nlohmann::json::value_t::discarded:
      break;
    default:  // null, booleans, integers: nlohmann writes them as JavaScript would
      out += value.dump();
  }
}

template <typename Json>
std::string Scalar(const Json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::string:
      return value.template get<std::string>();
    case nlohmann::json::value_t::boolean:
      return value.template get<bool>() ? "true" : "false";
    case nlohmann::json::value_t::number_integer:
      return std::to_string(value.template get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return std::to_string(value.template get<std::uint64_t>());
    case nlohmann::json::value_t::number_float:
      return JsNumberText(value.template get<double>());
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return "";  // what CCXT's urlencode sends for null: "key="
    default: {     // objects and arrays: their JSON text
      std::string out;
      AppendJson(out, value);
      return out;
    }
  }
}

}  // namespace

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  static const unsigned char kEmpty[1] = {0};
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  const void* key_bytes = key.empty() ? kEmpty : static_cast<const void*>(key.data());
  const auto* data_bytes = data.empty() ? kEmpty : reinterpret_cast<const unsigned char*>(data.data());
  if (HMAC(EVP_sha256(), key_bytes, static_cast<int>(key.size()), data_bytes, data.size(),
           digest, &size) == nullptr)
    return "";
  return Hex(digest, size);
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) return "";
  return Hex(digest, size);
}

std::string EncodeUriComponent(std::string_view text) {
  return PercentEncode(text, [](unsigned char c) {
    return IsAlnum(c) || c == '-' || c == '_' || c == '.' || c == '!' || c == '~' || c == '*' ||
           c == '\'' || c == '(' || c == ')';
  });
}

std::string UrlEncode(std::string_view text) {
  return PercentEncode(text, [](unsigned char c) {
    return IsAlnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
  });
}

std::string BuildQuery(const Params& params, bool encode) {
  std::string out;
  for (const auto& [key, value] : params) {
    if (!out.empty()) out += '&';
    out += encode ? UrlEncode(key) : key;
    out += '=';
    out += encode ? UrlEncode(value) : value;
  }
  return out;
}

std::string ScalarText(const nlohmann::json& value) { return Scalar(value); }

Params ToParams(const nlohmann::ordered_json& object) {
  Params params;
  if (!object.is_object()) return params;
  for (auto it = object.begin(); it != object.end(); ++it)
    params.emplace_back(it.key(), Scalar(it.value()));
  return params;
}

std::string JsonStringify(const nlohmann::ordered_json& value) {
  std::string out;
  AppendJson(out, value);
  return out;
}

}  // namespace ami::plugin::net
