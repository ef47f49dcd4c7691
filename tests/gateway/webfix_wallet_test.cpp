// The WebFIX wallet login and sessions without a node: the canonical text, hash,
// signature and address checks of gateway/webfix/wallet_login.h against a test-side
// STELS wallet (tests/gateway/stels_wallet.h, written independently), every tampered
// field refused, and — when node is installed — the same values from node's crypto
// module as an outside oracle. Then the session store: hash-only file, mode 0600,
// restart, expiry, per-wallet cap.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "gateway/webfix/sessions.h"
#include "gateway/webfix/wallet_login.h"
#include "runtime/base/digest.h"
#include "tests/gateway/stels_wallet.h"
#include "tests/support/test_support.h"

using namespace ami::gateway::webfix;
using ami::test::StelsWallet;
using json = nlohmann::json;

namespace {

std::string Bytes(const std::string& hex) {
  auto bytes = FromHex(hex);
  REQUIRE(bytes.has_value());
  return *bytes;
}

// The envelope's body, re-signed after `edit` changed the transaction (hash and signature
// recomputed by `signer`), so that only the edited property is wrong.
json Resigned(const StelsWallet& wallet, const StelsWallet& signer, int64_t now,
              const std::function<void(json& tx)>& edit, bool rehash = true) {
  json body = wallet.LoginEnvelope("local", now)["body"];
  json& tx = body["payload"]["body"]["transaction"];
  edit(tx);
  if (rehash) {
    json unsigned_tx = tx;
    unsigned_tx.erase("hash");
    unsigned_tx.erase("signature");
    const std::string text = CanonicalText(unsigned_tx);
    tx["hash"] = ami::Sha256Hex(text);
    tx["signature"] = signer.Sign(text);
  }
  return body;
}

void Refused(const json& body, int status, const std::string& mentions, int64_t now) {
  LoginCheck check = CheckLogin(body, "local", now);
  INFO(check.message);
  CHECK(check.status == status);
  CHECK(check.message.find(mentions) != std::string::npos);
  CHECK(check.address.empty());
}

}  // namespace

TEST_CASE("webfix wallet: canonical text is the frontend's deterministicStringify", "[webfix]") {
  const json value = json::parse(R"({"b":[1,{"z":null,"a":"x\"y\n"}],"a":true,"B":0.5,"é":1,"c":{}})");
  // Keys sorted by UTF-16 code units ("B" < "a" < "b" < "c" < "é"), no spaces, JSON.stringify strings.
  CHECK(CanonicalText(value) == R"({"B":0.5,"a":true,"b":[1,{"a":"x\"y\n","z":null}],"c":{},"é":1})");
  // Beyond the BMP sorts before U+E000…U+FFFF in UTF-16 (not in UTF-8 byte order).
  CHECK(CanonicalText(json::parse("{\"\xEF\xBC\xA1\":1,\"\xF0\x9F\x98\x80\":2}")) ==
        "{\"\xF0\x9F\x98\x80\":2,\"\xEF\xBC\xA1\":1}");
  // Numbers as JavaScript prints them.
  CHECK(JsNumberText(0.1) == "0.1");
  CHECK(JsNumberText(100.0) == "100");
  CHECK(JsNumberText(-1.5) == "-1.5");
  CHECK(JsNumberText(1e21) == "1e+21");
  CHECK(JsNumberText(1e20) == "100000000000000000000");
  CHECK(JsNumberText(1e-7) == "1e-7");
  CHECK(JsNumberText(1.5e-6) == "0.0000015");
  CHECK(JsNumberText(123.456) == "123.456");
  CHECK(JsNumberText(1.2345e300) == "1.2345e+300");
  CHECK(JsNumberText(-0.0) == "0");
  CHECK(CanonicalText(json::parse("[1.0, -0, 12345678901234567890, 9007199254740993]")) ==
        "[1,0,12345678901234567000,9007199254740992]");

  StelsWallet wallet;
  const int64_t now = ami::test::NowMs();
  json tx = wallet.SignedTransaction(wallet.LoginData("local", now), now);
  tx.erase("hash");
  tx.erase("signature");
  CHECK(CanonicalText(tx) == wallet.TransactionText(wallet.LoginData("local", now), now));
}

TEST_CASE("webfix wallet: base58, address, hash and signature of a fresh wallet", "[webfix]") {
  CHECK(Base58("Hello World!") == "2NEpo7TZRRrLZSi2U");
  CHECK(Base58(std::string("\0\0\x01", 3)) == "112");
  CHECK(Base58("") == "");

  StelsWallet wallet;
  REQUIRE(wallet.address().size() >= 30);
  CHECK(wallet.address()[0] == 'g');  // version byte 0x62
  CHECK(WalletAddress(Bytes(wallet.public_key())) == wallet.address());
  CHECK(WalletAddress(Bytes(wallet.compressed_public_key())) == wallet.address());
  CHECK(CompressPublicKey(Bytes(wallet.public_key())) == Bytes(wallet.compressed_public_key()));

  const std::string text = "some text";
  CHECK(VerifySignature(text, Bytes(wallet.Sign(text)), Bytes(wallet.public_key())) == SignatureCheck::kValid);
  CHECK(VerifySignature(text, Bytes(wallet.Sign(text)), Bytes(wallet.compressed_public_key())) ==
        SignatureCheck::kValid);
  // The same signature with s > n/2 verifies mathematically, but is refused.
  CHECK(VerifySignature(text, Bytes(wallet.Sign(text, /*low_s=*/false)), Bytes(wallet.public_key())) ==
        SignatureCheck::kHighS);
  CHECK(VerifySignature("other text", Bytes(wallet.Sign(text)), Bytes(wallet.public_key())) ==
        SignatureCheck::kMismatch);
  StelsWallet other;
  CHECK(VerifySignature(text, Bytes(other.Sign(text)), Bytes(wallet.public_key())) == SignatureCheck::kMismatch);
  CHECK(VerifySignature(text, Bytes(wallet.Sign(text)) + std::string(1, '\0'), Bytes(wallet.public_key())) ==
        SignatureCheck::kBadEncoding);
  CHECK(VerifySignature(text, "garbage", Bytes(wallet.public_key())) == SignatureCheck::kBadEncoding);
  // A point off the curve is not a key.
  std::string bent = Bytes(wallet.public_key());
  bent[64] = static_cast<char>(bent[64] ^ 1);
  CHECK(!CompressPublicKey(bent));
  CHECK(!WalletAddress(bent));
  CHECK(!CompressPublicKey(Bytes(wallet.public_key()).substr(1)));  // no prefix byte

  // The whole login, as the frontend posts it.
  const int64_t now = ami::test::NowMs();
  LoginCheck check = CheckLogin(wallet.LoginEnvelope("local", now)["body"], "local", now);
  INFO(check.message);
  CHECK(check.status == 0);
  CHECK(check.address == wallet.address());
  CHECK(check.hash.size() == 64);
}

TEST_CASE("webfix wallet: every tampered or foreign field is refused", "[webfix]") {
  StelsWallet wallet, other;
  const int64_t now = ami::test::NowMs();
  auto same = [](json&) {};

  // Changed after signing: the hash no longer matches.
  Refused(Resigned(wallet, wallet, now, [](json& tx) { tx["amount"] = 5; }, /*rehash=*/false), 401, ".hash", now);
  // Rehashed but not re-signed: the signature does not match.
  {
    json body = Resigned(wallet, wallet, now, [](json& tx) { tx["fee"] = 2; });
    json& tx = body["payload"]["body"]["transaction"];
    tx["signature"] = wallet.LoginEnvelope("local", now)["body"]["payload"]["body"]["transaction"]["signature"];
    Refused(body, 401, ".signature: does not verify", now);
  }
  // Signed by another key than from.publicKey.
  Refused(Resigned(wallet, other, now, same), 401, ".signature: does not verify", now);
  // High S.
  {
    json body = Resigned(wallet, wallet, now, same);
    json& tx = body["payload"]["body"]["transaction"];
    json unsigned_tx = tx;
    unsigned_tx.erase("hash");
    unsigned_tx.erase("signature");
    tx["signature"] = wallet.Sign(CanonicalText(unsigned_tx), /*low_s=*/false);
    Refused(body, 401, "high S", now);
  }
  // Someone else's address with this key (signed correctly).
  Refused(Resigned(wallet, wallet, now, [&](json& tx) { tx["from"]["address"] = other.address(); }), 401,
          ".from.address", now);
  // Another wallet's key beside the signed one.
  {
    json body = wallet.LoginEnvelope("local", now)["body"];
    body["payload"]["body"]["publicKey"] = other.public_key();
    Refused(body, 401, ".publicKey: is not the key", now);
    body = wallet.LoginEnvelope("local", now)["body"];
    body["payload"]["body"]["walletAddress"] = other.address();
    Refused(body, 401, ".walletAddress", now);
  }
  // The signed login request: action, wallet, network, time.
  auto data = [&](const std::string& text) { return [text](json& tx) { tx["data"] = text; }; };
  Refused(Resigned(wallet, wallet, now,
                   data(R"({"action":"TRANSFER","timestamp":)" + std::to_string(now) +
                        R"(,"network":"local","walletAddress":")" + wallet.address() + "\"}")),
          401, ".action", now);
  Refused(Resigned(wallet, wallet, now, data(other.LoginData("local", now))), 401, ".data.walletAddress", now);
  Refused(Resigned(wallet, wallet, now, data(wallet.LoginData("testnet", now))), 401, "this node is on network", now);
  {
    json body = wallet.LoginEnvelope("testnet", now)["body"];
    CHECK(CheckLogin(body, "testnet", now).status == 0);
    body["network"] = "local";  // the unsigned outer field must agree too
    LoginCheck outer = CheckLogin(body, "testnet", now);
    CHECK(outer.status == 401);
    CHECK(outer.message.find("body.network") != std::string::npos);
  }
  const int64_t stale = now - 6 * 60 * 1000;
  Refused(wallet.LoginEnvelope("local", stale)["body"], 401, "more than 5 minutes", now);
  Refused(wallet.LoginEnvelope("local", now + 6 * 60 * 1000)["body"], 401, "more than 5 minutes", now);
  CHECK(CheckLogin(wallet.LoginEnvelope("local", now - 4 * 60 * 1000)["body"], "local", now).status == 0);

  // Wrong shapes are 400.
  Refused(json::object(), 400, "transaction: required", now);
  Refused(json::array(), 400, "body", now);
  Refused(Resigned(wallet, wallet, now, [](json& tx) { tx["signature"] = "zz"; }, false), 400, "not hex", now);
  Refused(Resigned(wallet, wallet, now, [](json& tx) { tx.erase("data"); }, false), 400, ".data", now);
  Refused(Resigned(wallet, wallet, now, [](json& tx) { tx["from"] = "x"; }, false), 400, ".from", now);
}

TEST_CASE("webfix wallet: node's crypto module agrees on text, hash, signature and address", "[webfix]") {
  if (ami::test::Run("/bin/sh", {"-c", "command -v node"}).exit_code != 0) {
    WARN("node is not installed: the outside oracle is skipped");
    return;
  }
  ami::test::TempDir dir;
  StelsWallet wallet;
  const int64_t now = ami::test::NowMs();
  json tx = wallet.SignedTransaction(wallet.LoginData("local", now), now);
  // Values where a hand-written canonical text would go wrong.
  json tricky = json::parse("{\"n\":[0.1,1e21,1e-7,-0,12345678901234567890,1.5,100],\"s\":\"\\u0001\\\"\\\\/\xC3\xA9\","
                            "\"\xEF\xBC\xA1\":1,\"\xF0\x9F\x98\x80\":2,\"B\":null,\"a\":{\"y\":[],\"x\":{}}}");
  json unsigned_tx = tx;
  unsigned_tx.erase("hash");
  unsigned_tx.erase("signature");
  const std::string text = CanonicalText(unsigned_tx);
  ami::test::WriteFile(dir / "in.json", json{{"values", {unsigned_tx, tricky}},
                                              {"text", text},
                                              {"signature", tx["signature"]},
                                              {"publicKey", wallet.public_key()}}
                                            .dump());
  ami::test::WriteFile(dir / "oracle.js", R"JS(
const c = require('crypto');
const input = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
// deterministicStringify, as src/lib/gliesereum/crypto.ts has it.
function ds(obj) {
  if (obj === null || typeof obj !== 'object') return JSON.stringify(obj);
  if (Array.isArray(obj)) return `[${obj.map(ds).join(',')}]`;
  const keys = Object.keys(obj).sort();
  return `{${keys.map((key) => `"${key}":${ds(obj[key] ?? null)}`).join(',')}}`;
}
const pub = Buffer.from(input.publicKey, 'hex');
const key = c.createPublicKey({format: 'jwk', key: {kty: 'EC', crv: 'secp256k1',
  x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33).toString('base64url')}});
const compressed = Buffer.from(c.ECDH.convertKey(input.publicKey, 'secp256k1', 'hex', 'hex', 'compressed'), 'hex');
const h160 = c.createHash('ripemd160').update(c.createHash('sha256').update(compressed).digest()).digest();
const payload = Buffer.concat([Buffer.from([0x62]), h160]);
const full = Buffer.concat([payload, c.createHash('sha256').update(payload).digest().subarray(0, 4)]);
const A = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
let n = BigInt('0x' + full.toString('hex')), address = '';
while (n > 0n) { address = A[Number(n % 58n)] + address; n /= 58n; }
const texts = input.values.map(ds);
console.log(JSON.stringify({
  texts, hash: c.createHash('sha256').update(texts[0]).digest('hex'),
  verified: c.verify('sha256', Buffer.from(input.text), key, Buffer.from(input.signature, 'hex')),
  address}));
)JS");
  auto run = ami::test::Run("/bin/sh", {"-c", "node " + (dir / "oracle.js").string() + " " + (dir / "in.json").string()});
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  const json oracle = json::parse(run.output);
  CHECK(oracle["texts"][0] == text);
  CHECK(oracle["texts"][1] == CanonicalText(tricky));
  CHECK(oracle["hash"] == tx["hash"]);
  CHECK(oracle["hash"] == ami::Sha256Hex(text));
  CHECK(oracle["verified"] == true);
  CHECK(oracle["address"] == wallet.address());
  CHECK(oracle["address"] == *WalletAddress(Bytes(wallet.public_key())));
}

TEST_CASE("webfix sessions: hashed on disk, mode 0600, survive a restart, expire", "[webfix]") {
  ami::test::TempDir dir;
  const auto file = dir / "http" / "sessions.json";
  int64_t clock = 1'700'000'000'000;
  SessionStore::Options options;
  options.file = file;
  options.ttl = std::chrono::minutes(10);
  options.max_per_wallet = 3;
  options.now = [&clock] { return clock; };
  std::string warning;
  auto store = SessionStore::Open(options, &warning);
  CHECK(warning.empty());

  SessionStore::Session created;
  const std::string id = store->Create("gWalletA", &created);
  CHECK(id.size() == 64);
  CHECK(created.expires_at == clock + 10 * 60 * 1000);
  REQUIRE(store->Find(id).has_value());
  CHECK(store->Find(id)->wallet == "gWalletA");
  CHECK(!store->Find(std::string(64, '0')));
  CHECK(!store->Find("not-hex"));
  CHECK(!store->Find(id.substr(0, 63)));

  // The file holds the hash, never the id.
  const std::string text = ami::test::ReadFile(file);
  CHECK(text.find(id) == std::string::npos);
  CHECK(text.find(ami::Sha256Hex(id)) != std::string::npos);
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(!std::filesystem::exists(file.string() + ".tmp"));

  // A restart: a new store on the same file knows the session.
  store.reset();
  store = SessionStore::Open(options, &warning);
  REQUIRE(store->Find(id).has_value());
  CHECK(store->Find(id)->wallet == "gWalletA");

  // At most 3 per wallet: the oldest goes.
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    clock += 1000;
    ids.push_back(store->Create("gWalletB"));
  }
  clock += 1000;
  const std::string newest = store->Create("gWalletB");
  CHECK(!store->Find(ids[0]));
  CHECK(store->Find(ids[1]));
  CHECK(store->Find(newest));
  CHECK(store->Find(id));  // another wallet's session is untouched

  // Expiry: gone when met, and pruned from the file.
  clock += 10 * 60 * 1000;
  CHECK(!store->Find(id));
  CHECK(ami::test::ReadFile(file).find(ami::Sha256Hex(id)) == std::string::npos);
  const std::string late = store->Create("gWalletA");
  CHECK(store->Find(late));
  CHECK(store->size() == 1);

  // A broken file: the node starts with no sessions, and says so.
  ami::test::WriteFile(file, "{not json");
  warning.clear();
  store = SessionStore::Open(options, &warning);
  CHECK(warning.find("no sessions") != std::string::npos);
  CHECK(store->size() == 0);
}
