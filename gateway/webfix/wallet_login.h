// STELS wallet login (WebFIX `connectionNode`, docs/webfix.md "Login"): the checks that
// turn a signed login transaction into "this request comes from wallet <address>".
//
// What the frontend signs (its gliesereum library, createSignedTransaction):
//   transaction = {from:{publicKey, address, number}, to, amount, fee, verified,
//                  validators, timestamp, data, hash, signature}
//   canonical text = the transaction without hash/signature, written by
//                    deterministicStringify (CanonicalText below);
//   hash           = sha256 hex of the canonical text;
//   signature      = ECDSA secp256k1 over sha256(canonical text), DER hex, low-S.
//   address        = base58(0x62 ‖ ripemd160(sha256(compressed key)) ‖ checksum), the
//                    checksum being the first 4 bytes of sha256 of the 21 bytes before it.
//
// All cryptography is OpenSSL 3 (EVP, EC_POINT/ECDSA_SIG for decoding); base58 and the
// canonical text are plain text handling. Nothing here keeps state: the replay check and
// the wallet's role are the caller's (webfix_api.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ami::gateway::webfix {

// deterministicStringify of the frontend, byte for byte: object keys sorted as
// JavaScript's Array.prototype.sort sorts strings (UTF-16 code units) and written without
// escaping (as the frontend writes them), no spaces, `null` for null; strings and numbers
// as JSON.stringify writes them (numbers in JavaScript's shortest form: 1, 0.5, 1e+21).
// Throws nlohmann::json::exception on a string that is not UTF-8 (never for parsed JSON).
std::string CanonicalText(const nlohmann::json& value);

// JavaScript's Number.prototype.toString for a finite double ("null" for NaN/Infinity,
// as JSON.stringify writes them).
std::string JsNumberText(double value);

// Bytes of `hex` (either case; an even number of digits), or nullopt.
std::optional<std::string> FromHex(std::string_view hex);

std::string Base58(std::string_view bytes);

// SHA-256 / RIPEMD-160 of `data`, raw bytes.
std::string Sha256(std::string_view data);
std::string Ripemd160(std::string_view data);

// The 33-byte compressed form of a secp256k1 public key given as 33 bytes (02/03 ‖ X)
// or 65 bytes (04 ‖ X ‖ Y); nullopt when it is not a point on the curve.
std::optional<std::string> CompressPublicKey(std::string_view key);

// The Gliesereum address of a public key (33 or 65 bytes, checked as above).
std::optional<std::string> WalletAddress(std::string_view public_key);

enum class SignatureCheck {
  kValid,
  kBadEncoding,   // not strict DER of an ECDSA signature, or not a public key
  kHighS,         // s > n/2: the frontend always sends low-S (elliptic, canonical: true)
  kMismatch,      // well formed, but not a signature of this text by this key
};
// ECDSA secp256k1 / SHA-256 of `text` against `public_key` (33 or 65 bytes), `der` raw.
SignatureCheck VerifySignature(std::string_view text, std::string_view der, std::string_view public_key);

// How far a login's timestamps may be from the node's clock, either way.
inline constexpr std::chrono::milliseconds kLoginClockSkew = std::chrono::minutes(5);

struct LoginCheck {
  int status = 0;         // 0: valid; else the HTTP status to refuse with (400 or 401)
  std::string message;    // why refused ("transaction.signature: …"); never holds a secret
  std::string address;    // valid: the wallet that signed
  std::string hash;       // valid: the transaction hash (for the caller's replay check)
};

// Checks the body of a `connectionNode` envelope: the login transaction (where the
// frontend nests it, body.payload.body.transaction, or body.transaction), its hash,
// signature, key and address (from.address, walletAddress and data.walletAddress must all
// be the key's address), data.action "LOGIN_REQUEST", data.network == `network` (and
// body.network when given), both timestamps within kLoginClockSkew of `now_ms`.
// A body of the wrong shape is 400; a proof that does not hold is 401.
LoginCheck CheckLogin(const nlohmann::json& body, std::string_view network, int64_t now_ms);

}  // namespace ami::gateway::webfix
