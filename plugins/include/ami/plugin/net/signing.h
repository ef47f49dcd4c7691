// Request signing helpers for REST connectors: HMAC-SHA256 (OpenSSL 3), hex, URL
// encoding the way JavaScript and CCXT do it, and query strings in a given order.
// Part of the connector SDK (net/). Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ami::plugin::net {

// Lower-case hex of HMAC-SHA256(key, data).
std::string HmacSha256Hex(std::string_view key, std::string_view data);
// Lower-case hex of SHA-256(data).
std::string Sha256Hex(std::string_view data);

// JavaScript's encodeURIComponent: keeps A-Z a-z 0-9 - _ . ! ~ * ' ( ), percent-encodes
// every other byte of the UTF-8 text as %XX (upper-case hex).
std::string EncodeUriComponent(std::string_view text);

// An ordered list of query/form parameters. Values are already text (numbers formatted
// by the caller: exchanges sign exactly the characters sent).
using Params = std::vector<std::pair<std::string, std::string>>;

// What CCXT's `urlencode` does to one key or value (its bundled `qs`, RFC 3986 format):
// keeps only A-Z a-z 0-9 - _ . ~ and percent-encodes every other byte as %XX (upper-case
// hex). Unlike encodeURIComponent it also encodes ! ' ( ) * (and a space is %20, not +).
std::string UrlEncode(std::string_view text);

// "k1=v1&k2=v2" in the given order, keys and values through UrlEncode (what CCXT's
// `urlencode` produces for flat objects); `encode = false` joins them raw (CCXT's
// `rawencode`).
std::string BuildQuery(const Params& params, bool encode = true);

// A JSON scalar as the exchange expects it in a query or a signed body: strings as they
// are, booleans "true"/"false", integers without a decimal point, other numbers in the
// shortest form that reads back the same (JavaScript's Number#toString for the usual
// range, e.g. 0.1 → "0.1", 1e-7 → "1e-7", 65000 → "65000").
std::string ScalarText(const nlohmann::json& value);

// A flat JSON object to Params in its key order (nlohmann::ordered_json keeps insertion
// order; plain json sorts keys). Nested objects/arrays are JSON text.
Params ToParams(const nlohmann::ordered_json& object);

// JSON text like JavaScript's JSON.stringify (no spaces, insertion order kept, numbers as
// ScalarText) — what CCXT signs for JSON bodies.
std::string JsonStringify(const nlohmann::ordered_json& value);

}  // namespace ami::plugin::net
