#include "tests/gateway/stels_wallet.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <chrono>
#include <stdexcept>

namespace ami::test {

namespace {

using json = nlohmann::json;

std::string Hex(const unsigned char* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}
std::string Hex(const std::string& bytes) { return Hex(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()); }

std::string Digest(const char* name, const std::string& data) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  if (!md) throw std::runtime_error(std::string("no digest ") + name);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out, &n, md, nullptr);
  EVP_MD_free(md);
  return std::string(reinterpret_cast<char*>(out), n);
}

// Base58 by repeated division of one big number (the gateway multiplies digit arrays).
std::string Base58Bn(const std::string& bytes) {
  static const char* alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  BIGNUM* n = BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()), nullptr);
  std::string reversed;
  while (!BN_is_zero(n)) reversed += alphabet[BN_div_word(n, 58)];
  BN_free(n);
  for (char c : bytes) {
    if (c != 0) break;
    reversed += '1';
  }
  return std::string(reversed.rbegin(), reversed.rend());
}

// cardNumber(address): "0" + 14 digits of sha256(address) in decimal + a Luhn digit.
std::string CardNumber(const std::string& address) {
  const std::string hash = Digest("SHA256", address);
  BIGNUM* n = BN_bin2bn(reinterpret_cast<const unsigned char*>(hash.data()), 32, nullptr);
  char* dec = BN_bn2dec(n);
  std::string body(dec);
  OPENSSL_free(dec);
  BN_free(n);
  if (body.size() < 14) body = std::string(14 - body.size(), '0') + body;
  const std::string base = "0" + body.substr(0, 14);
  int sum = 0;
  bool twice = false;  // luhnChecksum of the frontend starts undoubled at the right end
  for (auto it = base.rbegin(); it != base.rend(); ++it) {
    int d = *it - '0';
    if (twice) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    twice = !twice;
  }
  return base + std::to_string((10 - sum % 10) % 10);
}

}  // namespace

struct StelsWallet::Key {
  EVP_PKEY* pkey = nullptr;
  ~Key() { EVP_PKEY_free(pkey); }
};

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

StelsWallet::StelsWallet() : key_(std::make_unique<Key>()) {
  key_->pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "secp256k1");
  if (!key_->pkey) throw std::runtime_error("secp256k1 key generation failed");
  unsigned char pub[65];
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(key_->pkey, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &len) != 1 || len != 65)
    throw std::runtime_error("no uncompressed public key");
  public_key_ = Hex(pub, 65);
  // Compressed: 02/03 by the parity of y, then x.
  std::string compressed(1, static_cast<char>((pub[64] & 1) ? 0x03 : 0x02));
  compressed.append(reinterpret_cast<char*>(pub + 1), 32);
  compressed_ = Hex(compressed);
  std::string payload = std::string(1, static_cast<char>(0x62)) + Digest("RIPEMD160", Digest("SHA256", compressed));
  payload += Digest("SHA256", payload).substr(0, 4);
  address_ = Base58Bn(payload);
  number_ = CardNumber(address_);
}

StelsWallet::~StelsWallet() = default;

std::string StelsWallet::Sign(std::string_view text, bool low_s) const {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key_->pkey);
  EVP_DigestSign(md, nullptr, &len, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  std::string der(len, '\0');
  if (EVP_DigestSign(md, reinterpret_cast<unsigned char*>(der.data()), &len,
                     reinterpret_cast<const unsigned char*>(text.data()), text.size()) != 1)
    throw std::runtime_error("signing failed");
  EVP_MD_CTX_free(md);
  der.resize(len);
  // Normalize s to the requested half of the range: (r, s) and (r, n - s) both verify.
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  BIGNUM* order = nullptr;
  BN_hex2bn(&order, kSecp256k1Order);
  BIGNUM* half = BN_dup(order);
  BN_rshift1(half, half);
  const BIGNUM* s = ECDSA_SIG_get0_s(sig);
  const bool high = BN_cmp(s, half) > 0;
  if (high == low_s) {
    BIGNUM* r = BN_dup(ECDSA_SIG_get0_r(sig));
    BIGNUM* flipped = BN_new();
    BN_sub(flipped, order, s);
    ECDSA_SIG_set0(sig, r, flipped);
  }
  unsigned char* out = nullptr;
  const int out_len = i2d_ECDSA_SIG(sig, &out);
  std::string result = Hex(out, static_cast<size_t>(out_len));
  OPENSSL_free(out);
  ECDSA_SIG_free(sig);
  BN_free(order);
  BN_free(half);
  return result;
}

std::string StelsWallet::TransactionText(const std::string& data, int64_t timestamp) const {
  // Keys in sorted order, written out by hand: amount, data, fee, from{address, number,
  // publicKey}, timestamp, to, validators, verified.
  return "{\"amount\":0,\"data\":" + json(data).dump() + ",\"fee\":1,\"from\":{\"address\":\"" + address_ +
         "\",\"number\":\"" + number_ + "\",\"publicKey\":\"" + public_key_ + "\"},\"timestamp\":" +
         std::to_string(timestamp) + ",\"to\":\"" + address_ + "\",\"validators\":[],\"verified\":false}";
}

json StelsWallet::SignedTransaction(const std::string& data, int64_t timestamp) const {
  const std::string text = TransactionText(data, timestamp);
  return json{{"from", {{"publicKey", public_key_}, {"address", address_}, {"number", number_}}},
              {"to", address_},
              {"amount", 0},
              {"fee", 1},
              {"verified", false},
              {"validators", json::array()},
              {"timestamp", timestamp},
              {"data", data},
              {"hash", Hex(Digest("SHA256", text))},
              {"signature", Sign(text)}};
}

std::string StelsWallet::LoginData(const std::string& network, int64_t timestamp) const {
  // JSON.stringify({action, timestamp, network, walletAddress}): insertion order.
  return "{\"action\":\"LOGIN_REQUEST\",\"timestamp\":" + std::to_string(timestamp) + ",\"network\":" +
         json(network).dump() + ",\"walletAddress\":\"" + address_ + "\"}";
}

json StelsWallet::LoginEnvelope(const std::string& network, int64_t now_ms) const {
  const json transaction = SignedTransaction(LoginData(network, now_ms), now_ms);
  const json inner = {{"webfix", "1.0"},
                      {"method", "connectionNode"},
                      {"params", {"gliesereum"}},
                      {"body", {{"transaction", transaction}, {"walletAddress", address_}, {"publicKey", public_key_}}}};
  return json{{"webfix", "1.0"},
              {"method", "connectionNode"},
              {"params", {"gliesereum"}},
              {"body",
               {{"network", network},
                {"title", "heterogen"},
                {"nid", "gliese_" + std::to_string(now_ms) + "_test"},
                {"payload", inner},
                {"transport", "websocket"},
                {"connector", {{"protocols", {"webfix"}}, {"socket", "ws://127.0.0.1"}}},
                {"api", "http://127.0.0.1"},
                {"developer", true}}}};
}

}  // namespace ami::test
