// Hex text of bytes, SHA-256 and HMAC-SHA256 digests, and random hex — the few pieces of
// OpenSSL the runtime, the actors and the tests share. All hex is lowercase, two
// characters a byte, no separators.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ami {

// Lowercase hex of `n` bytes at `bytes` (2n characters).
std::string HexOf(const unsigned char* bytes, size_t n);
// The same for the bytes of a string (binary safe).
std::string HexOf(std::string_view bytes);

// SHA-256 of `data`, as 64 lowercase hex characters.
std::string Sha256Hex(std::string_view data);

// HMAC-SHA256 of `data` under `key`, as 64 lowercase hex characters.
std::string HmacSha256Hex(std::string_view key, std::string_view data);

// `bytes` bytes from OpenSSL's generator (RAND_bytes), as 2*bytes lowercase hex
// characters. Throws std::runtime_error when the generator fails: a caller must not go on
// with a weaker value.
std::string RandomHex(size_t bytes);

}  // namespace ami
