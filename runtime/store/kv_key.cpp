#include "runtime/store/kv_key.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "runtime/base/digest.h"

namespace ami::kv {

namespace {

// Encoding, part by part (tags are KeyPart::Type values, all below 0xFF):
//   bytes/string: tag, payload with 0x00 escaped as 0x00 0xFF, then 0x00.
//   number:       tag, 8 bytes big-endian IEEE 754 with the "sign trick":
//                 positive values get the sign bit set, negative values get every
//                 bit flipped, so memcmp order is numeric order (-inf < … < -0 < +0
//                 < … < +inf).
//   bigint:       tag, 8 bytes big-endian two's complement with the sign bit flipped.
//   false/true:   the tag alone.
// Because 0x00 inside a payload is always followed by 0xFF and a part never starts
// with 0xFF, a terminator sorts before any continuation of the payload, so a shorter
// string sorts before a longer one it prefixes, and the encoding of a key is a
// byte prefix of the encoding of every key that extends it.
constexpr uint8_t kEscape = 0xFF;
constexpr uint64_t kSignBit = uint64_t{1} << 63;

void PutBigEndian(std::string* out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xFF));
}

uint64_t GetBigEndian(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

void PutEscaped(std::string* out, std::string_view text) {
  for (char c : text) {
    out->push_back(c);
    if (c == '\0') out->push_back(static_cast<char>(kEscape));
  }
  out->push_back('\0');
}

uint64_t NumberBits(double d) {
  const uint64_t bits = std::bit_cast<uint64_t>(d);
  return (bits & kSignBit) ? ~bits : (bits | kSignBit);
}

double NumberFromBits(uint64_t encoded) {
  const uint64_t bits = (encoded & kSignBit) ? (encoded & ~kSignBit) : ~encoded;
  return std::bit_cast<double>(bits);
}

constexpr char kHex[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PartError(size_t index, const std::string& what) {
  return "key part " + std::to_string(index) + ": " + what;
}

}  // namespace

Key MakeKey(std::initializer_list<std::string_view> parts) {
  Key key;
  key.reserve(parts.size());
  for (std::string_view p : parts) key.push_back(KeyPart::String(std::string(p)));
  return key;
}

Status ValidateKey(const Key& key) {
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i].type == KeyPart::Type::kNumber && std::isnan(key[i].number)) {
      return Status::InvalidArgument(PartError(i, "NaN is not allowed in keys"));
    }
  }
  return Status::OK();
}

std::string EncodeKey(const Key& key) {
  std::string out;
  for (const KeyPart& part : key) {
    out.push_back(static_cast<char>(part.type));
    switch (part.type) {
      case KeyPart::Type::kBytes:
      case KeyPart::Type::kString:
        PutEscaped(&out, part.text);
        break;
      case KeyPart::Type::kNumber: {
        // NaN is rejected by ValidateKey(); should one slip through, give it one
        // canonical encoding (above +inf) rather than one per bit pattern.
        const double d = std::isnan(part.number) ? std::numeric_limits<double>::quiet_NaN() : part.number;
        PutBigEndian(&out, NumberBits(d));
        break;
      }
      case KeyPart::Type::kBigInt:
        PutBigEndian(&out, static_cast<uint64_t>(part.bigint) ^ kSignBit);
        break;
      case KeyPart::Type::kFalse:
      case KeyPart::Type::kTrue:
        break;
    }
  }
  return out;
}

Result<Key> DecodeKey(std::string_view encoded) {
  Key key;
  size_t pos = 0;
  while (pos < encoded.size()) {
    const size_t index = key.size();
    const size_t tag_pos = pos;
    const auto tag = static_cast<uint8_t>(encoded[pos++]);
    auto fail = [&](const std::string& what) {
      return Status::InvalidArgument("bad encoded key at byte " + std::to_string(tag_pos) + ": " +
                                     PartError(index, what));
    };
    switch (tag) {
      case static_cast<uint8_t>(KeyPart::Type::kBytes):
      case static_cast<uint8_t>(KeyPart::Type::kString): {
        std::string text;
        bool terminated = false;
        while (pos < encoded.size()) {
          const char c = encoded[pos++];
          if (c != '\0') {
            text.push_back(c);
            continue;
          }
          if (pos < encoded.size() && static_cast<uint8_t>(encoded[pos]) == kEscape) {
            text.push_back('\0');
            ++pos;
            continue;
          }
          terminated = true;
          break;
        }
        if (!terminated) return fail("unterminated string or bytes");
        key.push_back(tag == static_cast<uint8_t>(KeyPart::Type::kBytes) ? KeyPart::Bytes(std::move(text))
                                                                         : KeyPart::String(std::move(text)));
        break;
      }
      case static_cast<uint8_t>(KeyPart::Type::kNumber): {
        if (encoded.size() - pos < 8) return fail("truncated number");
        const double d = NumberFromBits(GetBigEndian(encoded.substr(pos, 8)));
        if (std::isnan(d)) return fail("NaN is not allowed in keys");
        pos += 8;
        key.push_back(KeyPart::Number(d));
        break;
      }
      case static_cast<uint8_t>(KeyPart::Type::kBigInt): {
        if (encoded.size() - pos < 8) return fail("truncated bigint");
        key.push_back(KeyPart::BigInt(static_cast<int64_t>(GetBigEndian(encoded.substr(pos, 8)) ^ kSignBit)));
        pos += 8;
        break;
      }
      case static_cast<uint8_t>(KeyPart::Type::kFalse):
        key.push_back(KeyPart::Bool(false));
        break;
      case static_cast<uint8_t>(KeyPart::Type::kTrue):
        key.push_back(KeyPart::Bool(true));
        break;
      default:
        return fail("unknown type tag " + std::to_string(tag));
    }
  }
  return key;
}

nlohmann::json KeyToJson(const Key& key) {
  nlohmann::json out = nlohmann::json::array();
  for (const KeyPart& part : key) {
    switch (part.type) {
      case KeyPart::Type::kBytes:
        out.push_back({{"$bytes", HexOf(part.text)}});
        break;
      case KeyPart::Type::kString:
        out.push_back(part.text);
        break;
      case KeyPart::Type::kNumber:
        // JSON has no infinities or NaN (nlohmann would write null), so spell them.
        if (std::isnan(part.number)) {
          out.push_back({{"$number", "NaN"}});
        } else if (std::isinf(part.number)) {
          out.push_back({{"$number", part.number > 0 ? "Infinity" : "-Infinity"}});
        } else {
          out.push_back(part.number);
        }
        break;
      case KeyPart::Type::kBigInt:
        out.push_back({{"$bigint", std::to_string(part.bigint)}});
        break;
      case KeyPart::Type::kFalse:
        out.push_back(false);
        break;
      case KeyPart::Type::kTrue:
        out.push_back(true);
        break;
    }
  }
  return out;
}

Result<Key> KeyFromJson(const nlohmann::json& json) {
  if (!json.is_array()) return Status::InvalidArgument("key: expected an array, got " + std::string(json.type_name()));
  Key key;
  key.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    const nlohmann::json& p = json[i];
    if (p.is_string()) {
      key.push_back(KeyPart::String(p.get<std::string>()));
    } else if (p.is_boolean()) {
      key.push_back(KeyPart::Bool(p.get<bool>()));
    } else if (p.is_number()) {
      const double d = p.get<double>();
      if (std::isnan(d)) return Status::InvalidArgument(PartError(i, "NaN is not allowed in keys"));
      key.push_back(KeyPart::Number(d));
    } else if (p.is_object() && p.size() == 1 && p.contains("$bytes") && p["$bytes"].is_string()) {
      const std::string& hex = p["$bytes"].get_ref<const std::string&>();
      if (hex.size() % 2 != 0) return Status::InvalidArgument(PartError(i, "$bytes needs an even number of hex digits"));
      std::string bytes;
      bytes.reserve(hex.size() / 2);
      for (size_t j = 0; j < hex.size(); j += 2) {
        const int hi = HexValue(hex[j]);
        const int lo = HexValue(hex[j + 1]);
        if (hi < 0 || lo < 0) return Status::InvalidArgument(PartError(i, "$bytes is not hex: \"" + hex + "\""));
        bytes.push_back(static_cast<char>(hi << 4 | lo));
      }
      key.push_back(KeyPart::Bytes(std::move(bytes)));
    } else if (p.is_object() && p.size() == 1 && p.contains("$bigint") && p["$bigint"].is_string()) {
      const std::string& text = p["$bigint"].get_ref<const std::string&>();
      int64_t v = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
        return Status::InvalidArgument(PartError(i, "$bigint is not a decimal int64: \"" + text + "\""));
      }
      key.push_back(KeyPart::BigInt(v));
    } else if (p.is_object() && p.size() == 1 && p.contains("$number") && p["$number"].is_string()) {
      const std::string& text = p["$number"].get_ref<const std::string&>();
      if (text == "Infinity") {
        key.push_back(KeyPart::Number(std::numeric_limits<double>::infinity()));
      } else if (text == "-Infinity") {
        key.push_back(KeyPart::Number(-std::numeric_limits<double>::infinity()));
      } else if (text == "NaN") {
        return Status::InvalidArgument(PartError(i, "NaN is not allowed in keys"));
      } else {
        return Status::InvalidArgument(PartError(i, "$number must be \"Infinity\" or \"-Infinity\", got \"" + text + "\""));
      }
    } else {
      return Status::InvalidArgument(PartError(
          i, "expected a string, number, boolean, {\"$bytes\":hex} or {\"$bigint\":decimal}, got " +
                 p.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
    }
  }
  return key;
}

std::string KeyToString(const Key& key) {
  // replace: a string part need not be valid UTF-8, and a message must never throw.
  return KeyToJson(key).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string FormatVersionstamp(uint64_t versionstamp) {
  std::string out(20, '0');
  for (int i = 15; i >= 0; --i) {
    out[i] = kHex[versionstamp & 0xF];
    versionstamp >>= 4;
  }
  return out;
}

Result<uint64_t> ParseVersionstamp(std::string_view text) {
  auto fail = [&](const char* why) {
    return Status::InvalidArgument("bad versionstamp \"" + std::string(text.substr(0, 40)) + "\": " + why);
  };
  if (text.size() != 20) return fail("expected 20 hex digits");
  uint64_t v = 0;
  for (size_t i = 0; i < 20; ++i) {
    const int d = HexValue(text[i]);
    if (d < 0) return fail("expected 20 hex digits");
    if (i < 16) v = (v << 4) | static_cast<uint64_t>(d);
    // The last four digits are Deno's in-batch index; this store always writes 0.
    else if (d != 0) return fail("the last 4 digits must be 0000");
  }
  return v;
}

}  // namespace ami::kv
