// A STELS frontend wallet for the tests: what the web editor's gliesereum library and
// auth store (live.stels.io, src/lib/gliesereum, src/stores/modules/auth.store.ts) do to
// log in, written again here with OpenSSL and without the gateway's code, so that the
// gateway's checks are tested against an independent implementation:
//   - a fresh secp256k1 key (EVP_PKEY_Q_keygen);
//   - address = base58(0x62 ‖ ripemd160(sha256(compressed key)) ‖ sha256(…)[0..4]),
//     base58 by BIGNUM division (the gateway uses another algorithm);
//   - number = cardNumber(address) (16 digits, Luhn);
//   - the signed transaction of createSignedTransaction(wallet, self, 0, 1, data), its
//     canonical text written out field by field in sorted order, signed low-S DER;
//   - the connectionNode envelope exactly as connectToNode posts it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace ami::test {

class StelsWallet {
 public:
  StelsWallet();   // a fresh key
  ~StelsWallet();
  StelsWallet(const StelsWallet&) = delete;
  StelsWallet& operator=(const StelsWallet&) = delete;

  const std::string& address() const { return address_; }
  const std::string& number() const { return number_; }
  const std::string& public_key() const { return public_key_; }            // uncompressed, 130 hex
  const std::string& compressed_public_key() const { return compressed_; } // 66 hex

  // ECDSA over sha256(text), DER hex. `low_s` false gives the other valid signature of
  // the same (r, s) pair, with s > n/2, which the frontend never sends.
  std::string Sign(std::string_view text, bool low_s = true) const;

  // The canonical text createSignedTransaction hashes and signs: the transaction without
  // hash/signature, keys sorted, as deterministicStringify writes it.
  std::string TransactionText(const std::string& data, int64_t timestamp) const;

  // createSignedTransaction(wallet, wallet.address, 0, 1, data) at `timestamp`.
  nlohmann::json SignedTransaction(const std::string& data, int64_t timestamp) const;

  // The JSON text of the login request (loginData in connectToNode).
  std::string LoginData(const std::string& network, int64_t timestamp) const;

  // The whole connectionNode envelope connectToNode posts, for `network` at `now_ms`.
  nlohmann::json LoginEnvelope(const std::string& network, int64_t now_ms) const;

 private:
  struct Key;
  std::unique_ptr<Key> key_;
  std::string public_key_, compressed_, address_, number_;
};

// The secp256k1 group order n, hex.
inline constexpr const char* kSecp256k1Order = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141";

int64_t NowMs();

}  // namespace ami::test
