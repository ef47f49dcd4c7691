// KV keys: arrays of parts, ordered as Deno.Kv orders them.
//
// Part types order: bytes < string < number < bigint < false < true; within a type,
// bytes and strings compare bytewise, numbers and bigints numerically. EncodeKey()
// maps a key to bytes whose memcmp order is that order, and a key's encoding is a
// prefix of the encoding of every key that extends it — so SQLite can sort and
// prefix-scan encoded keys as BLOBs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "runtime/base/status.h"

namespace ami::kv {

struct KeyPart {
  enum class Type : uint8_t { kBytes = 1, kString = 2, kNumber = 3, kBigInt = 4, kFalse = 5, kTrue = 6 };
  Type type = Type::kString;
  std::string text;      // kBytes (raw bytes) and kString (UTF-8)
  double number = 0;     // kNumber
  int64_t bigint = 0;    // kBigInt (int64 range)

  static KeyPart String(std::string s) { return {Type::kString, std::move(s), 0, 0}; }
  static KeyPart Bytes(std::string b) { return {Type::kBytes, std::move(b), 0, 0}; }
  static KeyPart Number(double d) { return {Type::kNumber, {}, d, 0}; }
  static KeyPart BigInt(int64_t i) { return {Type::kBigInt, {}, 0, i}; }
  static KeyPart Bool(bool b) { return {b ? Type::kTrue : Type::kFalse, {}, 0, 0}; }
  bool operator==(const KeyPart&) const = default;
};

using Key = std::vector<KeyPart>;

// Key from strings, e.g. MakeKey({"ami", "worker", sid}).
Key MakeKey(std::initializer_list<std::string_view> parts);

// OK unless a part is NaN (Deno.Kv refuses NaN keys; it has no place in the order).
// Callers that accept keys from outside check this before EncodeKey().
Status ValidateKey(const Key& key);
// Precondition: ValidateKey(key).ok(); a NaN part still gets one canonical encoding.
// Numbers keep their sign: -0 and +0 are different keys and -0 sorts first.
std::string EncodeKey(const Key& key);
// Rejects unknown tags, truncated parts, unterminated strings and NaN.
Result<Key> DecodeKey(std::string_view encoded);

// JSON for people and the admin API: strings and numbers as themselves, booleans as
// booleans, bytes as {"$bytes": "<hex>"}, bigints as {"$bigint": "<decimal>"}, and
// the numbers JSON cannot hold as {"$number": "Infinity" | "-Infinity"} (KeyToJson
// also writes {"$number": "NaN"} so a message can show it; KeyFromJson refuses it).
nlohmann::json KeyToJson(const Key& key);
Result<Key> KeyFromJson(const nlohmann::json& json);
// ["ami","worker","…"] as compact text, for messages.
std::string KeyToString(const Key& key);

// Versionstamps are per-store, strictly increasing; 0 means "absent".
// Shown as 20 hex digits, e.g. "00000000000000010000" (16 digits of sequence + "0000").
// ParseVersionstamp accepts either hex case and requires the trailing "0000".
std::string FormatVersionstamp(uint64_t versionstamp);
Result<uint64_t> ParseVersionstamp(std::string_view text);

}  // namespace ami::kv
