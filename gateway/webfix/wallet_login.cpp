#include "gateway/webfix/wallet_login.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "runtime/base/digest.h"

namespace ami::gateway::webfix {

namespace {

using json = nlohmann::json;

// ---- canonical text

// A UTF-8 string as UTF-16 code units, for JavaScript's default sort order (which differs
// from byte order only between U+E000…U+FFFF and characters beyond the BMP).
std::u16string Utf16(std::string_view s) {
  std::u16string out;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    uint32_t cp = n == 4 ? (c & 0x07u) : n == 3 ? (c & 0x0Fu) : n == 2 ? (c & 0x1Fu) : c;
    if (i + n > s.size()) {  // truncated sequence: keep the byte (parsed JSON is valid UTF-8)
      n = 1;
      cp = c;
    }
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out += static_cast<char16_t>(0xD800 + (cp >> 10));
      out += static_cast<char16_t>(0xDC00 + (cp & 0x3FF));
    } else {
      out += static_cast<char16_t>(cp);
    }
    i += n;
  }
  return out;
}

void WriteCanonical(const json& value, std::string& out) {
  switch (value.type()) {
    case json::value_t::object: {
      std::vector<std::pair<std::u16string, const std::string*>> keys;
      keys.reserve(value.size());
      for (const auto& [key, item] : value.items()) keys.emplace_back(Utf16(key), &key);
      std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      out += '{';
      bool first = true;
      for (const auto& [units, key] : keys) {
        if (!first) out += ',';
        first = false;
        // The frontend writes `"${key}"`: the key as it is, not JSON-escaped.
        out += '"';
        out += *key;
        out += "\":";
        WriteCanonical(value.at(*key), out);
      }
      out += '}';
      return;
    }
    case json::value_t::array: {
      out += '[';
      for (size_t i = 0; i < value.size(); ++i) {
        if (i) out += ',';
        WriteCanonical(value[i], out);
      }
      out += ']';
      return;
    }
    case json::value_t::number_integer: {
      const int64_t v = value.get<int64_t>();
      // Beyond 2^53 JavaScript holds the nearest double, and prints that.
      if (v > (int64_t{1} << 53) || v < -(int64_t{1} << 53)) out += JsNumberText(static_cast<double>(v));
      else out += std::to_string(v);
      return;
    }
    case json::value_t::number_unsigned: {
      const uint64_t v = value.get<uint64_t>();
      if (v > (uint64_t{1} << 53)) out += JsNumberText(static_cast<double>(v));
      else out += std::to_string(v);
      return;
    }
    case json::value_t::number_float:
      out += JsNumberText(value.get<double>());
      return;
    case json::value_t::null:
    case json::value_t::discarded:
      out += "null";
      return;
    default:  // string, boolean: JSON.stringify writes them as nlohmann does (ensure_ascii off)
      out += value.dump();
      return;
  }
}

// ---- OpenSSL helpers

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using GroupPtr = std::unique_ptr<EC_GROUP, Deleter<EC_GROUP, EC_GROUP_free>>;
using PointPtr = std::unique_ptr<EC_POINT, Deleter<EC_POINT, EC_POINT_free>>;
using SigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;

std::string Digest(const char* name, std::string_view data) {
  std::unique_ptr<EVP_MD, Deleter<EVP_MD, EVP_MD_free>> md(EVP_MD_fetch(nullptr, name, nullptr));
  if (!md) return "";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, md.get(), nullptr) != 1) return "";
  return std::string(reinterpret_cast<char*>(digest), length);
}

bool PlausibleKeyEncoding(std::string_view key) {
  if (key.size() == 33) return key[0] == 0x02 || key[0] == 0x03;
  if (key.size() == 65) return key[0] == 0x04;
  return false;
}

// A public-key-only EVP_PKEY on secp256k1 (EVP_PKEY_fromdata decodes the point, which
// checks that it lies on the curve).
PkeyPtr PublicKey(std::string_view key) {
  if (!PlausibleKeyEncoding(key)) return nullptr;
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return nullptr;
  char group[] = "secp256k1";
  std::string bytes(key);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, bytes.data(), bytes.size()),
      OSSL_PARAM_construct_end(),
  };
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) != 1) return nullptr;
  return PkeyPtr(raw);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

LoginCheck Refuse(int status, std::string message) {
  LoginCheck r;
  r.status = status;
  r.message = std::move(message);
  return r;
}

const json* Field(const json& object, const char* name) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(name);
  return it == object.end() ? nullptr : &*it;
}

const std::string* StringField(const json& object, const char* name) {
  const json* v = Field(object, name);
  return v && v->is_string() ? v->get_ptr<const std::string*>() : nullptr;
}

std::string Quote(std::string_view s) {
  std::string text(s.substr(0, 80));
  return json(text).dump(-1, ' ', false, json::error_handler_t::replace) + (s.size() > 80 ? "…" : "");
}

}  // namespace

std::string JsNumberText(double value) {
  if (!std::isfinite(value)) return "null";
  if (value == 0) return "0";  // also -0
  std::string sign = value < 0 ? "-" : "";
  // Shortest round-trip digits and exponent: "d.ddde±x".
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, std::fabs(value), std::chars_format::scientific);
  std::string text(buf, end);
  const size_t e = text.find('e');
  std::string digits = text.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exponent = std::stoi(text.substr(e + 1));
  const int k = static_cast<int>(digits.size());
  const int n = exponent + 1;  // ECMA-262 Number::toString: value = 0.digits × 10^n
  std::string out;
  if (k <= n && n <= 21) {
    out = digits + std::string(n - k, '0');
  } else if (0 < n && n <= 21) {
    out = digits.substr(0, n) + "." + digits.substr(n);
  } else if (-6 < n && n <= 0) {
    out = "0." + std::string(-n, '0') + digits;
  } else {
    out = digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += (n - 1 >= 0 ? "e+" : "e-") + std::to_string(std::abs(n - 1));
  }
  return sign + out;
}

std::string CanonicalText(const json& value) {
  std::string out;
  WriteCanonical(value, out);
  return out;
}

std::optional<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

std::string Base58(std::string_view bytes) {
  static constexpr char kAlphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  size_t zeros = 0;
  while (zeros < bytes.size() && bytes[zeros] == 0) ++zeros;
  std::vector<unsigned char> b58;  // base-58 digits, least significant first
  for (size_t i = zeros; i < bytes.size(); ++i) {
    int carry = static_cast<unsigned char>(bytes[i]);
    for (auto& digit : b58) {
      carry += 256 * digit;
      digit = static_cast<unsigned char>(carry % 58);
      carry /= 58;
    }
    while (carry) {
      b58.push_back(static_cast<unsigned char>(carry % 58));
      carry /= 58;
    }
  }
  std::string out(zeros, '1');
  for (auto it = b58.rbegin(); it != b58.rend(); ++it) out += kAlphabet[*it];
  return out;
}

std::string Sha256(std::string_view data) { return Digest("SHA256", data); }
std::string Ripemd160(std::string_view data) { return Digest("RIPEMD160", data); }

std::optional<std::string> CompressPublicKey(std::string_view key) {
  if (!PlausibleKeyEncoding(key)) return std::nullopt;
  GroupPtr group(EC_GROUP_new_by_curve_name(NID_secp256k1));
  if (!group) return std::nullopt;
  PointPtr point(EC_POINT_new(group.get()));
  // oct2point refuses a point that is not on the curve.
  if (!point || EC_POINT_oct2point(group.get(), point.get(), reinterpret_cast<const unsigned char*>(key.data()),
                                   key.size(), nullptr) != 1)
    return std::nullopt;
  unsigned char out[33];
  if (EC_POINT_point2oct(group.get(), point.get(), POINT_CONVERSION_COMPRESSED, out, sizeof out, nullptr) != 33)
    return std::nullopt;
  return std::string(reinterpret_cast<char*>(out), 33);
}

std::optional<std::string> WalletAddress(std::string_view public_key) {
  auto compressed = CompressPublicKey(public_key);
  if (!compressed) return std::nullopt;
  const std::string hash = Ripemd160(Sha256(*compressed));
  if (hash.size() != 20) return std::nullopt;  // RIPEMD-160 unavailable: no address is better than a wrong one
  std::string payload = std::string(1, static_cast<char>(0x62)) + hash;
  payload += Sha256(payload).substr(0, 4);
  return Base58(payload);
}

SignatureCheck VerifySignature(std::string_view text, std::string_view der, std::string_view public_key) {
  // Strict DER: decoding and encoding again must give the same bytes.
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  SigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig || p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) return SignatureCheck::kBadEncoding;
  unsigned char* again = nullptr;
  const int again_size = i2d_ECDSA_SIG(sig.get(), &again);
  const bool strict = again_size == static_cast<int>(der.size()) && std::memcmp(der.data(), again, der.size()) == 0;
  OPENSSL_free(again);
  if (!strict) return SignatureCheck::kBadEncoding;

  // Low S: s ≤ n/2, n the order of secp256k1.
  BIGNUM* half_raw = nullptr;
  BN_hex2bn(&half_raw, "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0");
  BnPtr half(half_raw);
  if (!half) return SignatureCheck::kBadEncoding;
  if (BN_cmp(ECDSA_SIG_get0_s(sig.get()), half.get()) > 0) return SignatureCheck::kHighS;

  PkeyPtr key = PublicKey(public_key);
  if (!key) return SignatureCheck::kBadEncoding;
  MdCtxPtr md(EVP_MD_CTX_new());
  if (!md || EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1)
    return SignatureCheck::kBadEncoding;
  const int verified = EVP_DigestVerify(md.get(), reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                                        reinterpret_cast<const unsigned char*>(text.data()), text.size());
  return verified == 1 ? SignatureCheck::kValid : SignatureCheck::kMismatch;
}

LoginCheck CheckLogin(const json& body, std::string_view network, int64_t now_ms) {
  if (!body.is_object()) return Refuse(400, "body: expected the connectionNode object");
  // The frontend nests the proof in body.payload.body; a bare {transaction, …} is accepted too.
  const json* holder = &body;
  if (const json* payload = Field(body, "payload"); payload && Field(*payload, "body") &&
                                                      Field((*payload)["body"], "transaction"))
    holder = &(*payload)["body"];
  const std::string where = holder == &body ? "body" : "body.payload.body";
  const json* tx = Field(*holder, "transaction");
  if (!tx || !tx->is_object()) return Refuse(400, where + ".transaction: required (the signed login transaction)");
  const std::string t = where + ".transaction";
  const json* from = Field(*tx, "from");
  if (!from || !from->is_object()) return Refuse(400, t + ".from: expected {publicKey, address, number}");
  const std::string* key_hex = StringField(*from, "publicKey");
  const std::string* from_address = StringField(*from, "address");
  const std::string* hash = StringField(*tx, "hash");
  const std::string* signature_hex = StringField(*tx, "signature");
  const std::string* data_text = StringField(*tx, "data");
  const json* timestamp = Field(*tx, "timestamp");
  if (!key_hex) return Refuse(400, t + ".from.publicKey: expected a hex string");
  if (!from_address) return Refuse(400, t + ".from.address: expected a string");
  if (!hash) return Refuse(400, t + ".hash: expected a hex string");
  if (!signature_hex) return Refuse(400, t + ".signature: expected a DER signature in hex");
  if (!data_text) return Refuse(400, t + ".data: expected the login request as JSON text");
  if (!timestamp || !timestamp->is_number()) return Refuse(400, t + ".timestamp: expected a number (ms)");
  const json data = json::parse(*data_text, nullptr, false);
  if (!data.is_object()) return Refuse(400, t + ".data: not a JSON object");
  auto key = FromHex(*key_hex);
  if (!key) return Refuse(400, t + ".from.publicKey: not hex");
  auto der = FromHex(*signature_hex);
  if (!der) return Refuse(400, t + ".signature: not hex");

  json unsigned_tx = *tx;
  unsigned_tx.erase("hash");
  unsigned_tx.erase("signature");
  std::string canonical;
  try {
    canonical = CanonicalText(unsigned_tx);
  } catch (const json::exception&) {
    return Refuse(400, t + ": a string is not UTF-8");
  }
  if (Sha256Hex(canonical) != Lower(*hash)) return Refuse(401, t + ".hash: does not match the transaction");

  auto compressed = CompressPublicKey(*key);
  if (!compressed) return Refuse(401, t + ".from.publicKey: not a secp256k1 public key");
  if (const std::string* other_hex = StringField(*holder, "publicKey")) {
    auto other = FromHex(*other_hex);
    auto other_compressed = other ? CompressPublicKey(*other) : std::nullopt;
    if (!other_compressed || *other_compressed != *compressed)
      return Refuse(401, where + ".publicKey: is not the key of " + t + ".from.publicKey");
  }
  switch (VerifySignature(canonical, *der, *key)) {
    case SignatureCheck::kValid: break;
    case SignatureCheck::kBadEncoding: return Refuse(401, t + ".signature: not a strict DER ECDSA signature");
    case SignatureCheck::kHighS: return Refuse(401, t + ".signature: high S value (only low-S signatures are accepted)");
    case SignatureCheck::kMismatch: return Refuse(401, t + ".signature: does not verify with " + t + ".from.publicKey");
  }

  auto address = WalletAddress(*compressed);
  if (!address) return Refuse(401, t + ".from.publicKey: no address can be derived from it");
  if (*from_address != *address)
    return Refuse(401, t + ".from.address: " + Quote(*from_address) + " is not the address of the key (" + *address + ")");
  if (const std::string* wallet = StringField(*holder, "walletAddress"); wallet && *wallet != *address)
    return Refuse(401, where + ".walletAddress: " + Quote(*wallet) + " is not the signer's address (" + *address + ")");
  const std::string d = t + ".data";
  if (data.value("action", json()) != "LOGIN_REQUEST") return Refuse(401, d + ".action: expected \"LOGIN_REQUEST\"");
  const std::string* data_wallet = StringField(data, "walletAddress");
  if (!data_wallet || *data_wallet != *address)
    return Refuse(401, d + ".walletAddress: must be the signer's address (" + *address + ")");
  const std::string* data_network = StringField(data, "network");
  if (!data_network || *data_network != network)
    return Refuse(401, d + ".network: the login is for network " + Quote(data_network ? *data_network : "") +
                           "; this node is on network " + Quote(network));
  if (const std::string* outer = StringField(body, "network"); outer && *outer != network)
    return Refuse(401, "body.network: " + Quote(*outer) + "; this node is on network " + Quote(network));
  const json* data_time = Field(data, "timestamp");
  if (!data_time || !data_time->is_number()) return Refuse(401, d + ".timestamp: expected a number (ms)");
  const double skew = static_cast<double>(kLoginClockSkew.count());
  for (const auto& [name, value] : {std::pair{t + ".timestamp", timestamp}, {d + ".timestamp", data_time}}) {
    const double at = value->get<double>();
    if (!(std::fabs(at - static_cast<double>(now_ms)) <= skew))
      return Refuse(401, name + ": more than 5 minutes from the node's clock (a stale login, or a wrong clock)");
  }

  LoginCheck ok;
  ok.address = *address;
  ok.hash = Lower(*hash);
  return ok;
}

}  // namespace ami::gateway::webfix
