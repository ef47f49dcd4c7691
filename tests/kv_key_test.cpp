// Key encoding: memcmp order of EncodeKey() must be Deno.Kv's key order, an encoded
// key must prefix the encodings of its extensions, and decoding must invert encoding
// and refuse anything else.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include <nlohmann/json.hpp>

#include "runtime/store/kv_key.h"

using namespace ami;
using namespace ami::kv;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

int Sign(int v) { return (v > 0) - (v < 0); }

int CompareBytes(const std::string& a, const std::string& b) {
  const int c = std::memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
  if (c != 0) return Sign(c);
  return Sign(static_cast<int>(a.size() > b.size()) - static_cast<int>(a.size() < b.size()));
}

// Deno.Kv's order, written from the spec rather than from the encoding.
int ComparePart(const KeyPart& a, const KeyPart& b) {
  if (a.type != b.type) return a.type < b.type ? -1 : 1;
  switch (a.type) {
    case KeyPart::Type::kBytes:
    case KeyPart::Type::kString:
      return CompareBytes(a.text, b.text);
    case KeyPart::Type::kNumber:
      if (a.number < b.number) return -1;
      if (a.number > b.number) return 1;
      // Equal values: only -0 vs +0 differ, and -0 sorts first.
      return Sign(static_cast<int>(std::signbit(b.number)) - static_cast<int>(std::signbit(a.number)));
    case KeyPart::Type::kBigInt:
      return a.bigint < b.bigint ? -1 : (a.bigint > b.bigint ? 1 : 0);
    default:
      return 0;
  }
}

int CompareKeys(const Key& a, const Key& b) {
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (int c = ComparePart(a[i], b[i]); c != 0) return c;
  }
  return Sign(static_cast<int>(a.size() > b.size()) - static_cast<int>(a.size() < b.size()));
}

// Random parts drawn from small alphabets so that equal values, shared prefixes and
// embedded NULs and 0xFF bytes are common.
KeyPart RandomPart(std::mt19937_64& rng) {
  auto pick = [&](uint64_t n) { return static_cast<size_t>(rng() % n); };
  auto text = [&] {
    static const char kAlphabet[] = {'\0', '\x01', 'a', 'b', '\x7f', '\xfe', '\xff'};
    std::string s;
    for (size_t n = pick(4); n > 0; --n) s.push_back(kAlphabet[pick(sizeof kAlphabet)]);
    return s;
  };
  static const double kNumbers[] = {-kInf, -1e300, -2.5, -1, -std::numeric_limits<double>::denorm_min(), -0.0, 0.0,
                                    std::numeric_limits<double>::denorm_min(), 0.5, 1, 3, 1e300, kInf};
  static const int64_t kBigInts[] = {std::numeric_limits<int64_t>::min(), -256, -1, 0, 1, 255, 256,
                                     std::numeric_limits<int64_t>::max()};
  switch (pick(6)) {
    case 0: return KeyPart::Bytes(text());
    case 1: return KeyPart::String(text());
    case 2: return KeyPart::Number(kNumbers[pick(std::size(kNumbers))]);
    case 3: return KeyPart::BigInt(kBigInts[pick(std::size(kBigInts))]);
    case 4: return KeyPart::Bool(false);
    default: return KeyPart::Bool(true);
  }
}

Key RandomKey(std::mt19937_64& rng) {
  Key key;
  for (size_t n = rng() % 4; n > 0; --n) key.push_back(RandomPart(rng));
  return key;
}

// KeyPart::operator== says -0 == +0; keys must keep the sign, so compare bit-exactly.
bool SameKey(const Key& a, const Key& b) {
  if (a != b) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].type == KeyPart::Type::kNumber && std::signbit(a[i].number) != std::signbit(b[i].number)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("encoded keys sort in Deno.Kv order (table)", "[kv_key]") {
  using P = KeyPart;
  const double tiny = std::numeric_limits<double>::denorm_min();
  const std::vector<Key> ordered = {
      {},
      {P::Bytes("")},
      {P::Bytes(""), P::String("x")},
      {P::Bytes(std::string("\0", 1))},
      {P::Bytes(std::string("\0\0", 2))},
      {P::Bytes(std::string("\0\x01", 2))},
      {P::Bytes("\x01")},
      {P::Bytes("\xfe")},
      {P::Bytes("\xff")},
      {P::Bytes("\xff\xff")},
      {P::String("")},
      {P::String(std::string("\0", 1))},
      {P::String(std::string("\0", 1)), P::Bool(true)},
      {P::String(std::string("\0\0", 2))},
      {P::String("A")},
      {P::String("a")},
      {P::String("a"), P::Bytes("z")},
      {P::String("a"), P::String("")},
      {P::String("a"), P::String("b")},
      {P::String("a"), P::Number(-1)},
      {P::String("a"), P::Number(1)},
      {P::String("a"), P::BigInt(0)},
      {P::String("a"), P::Bool(false)},
      {P::String("a"), P::Bool(true)},
      {P::String(std::string("a\0", 2))},
      {P::String(std::string("a\0b", 3))},
      {P::String("a\x01")},
      {P::String("ab")},
      {P::String("b")},
      {P::String("\xc3\xa9")},  // "é": UTF-8 bytes sort above ASCII
      {P::Number(-kInf)},
      {P::Number(-1e300)},
      {P::Number(-2)},
      {P::Number(-1.5)},
      {P::Number(-1)},
      {P::Number(-tiny)},
      {P::Number(-0.0)},
      {P::Number(0.0)},
      {P::Number(0.0), P::String("x")},
      {P::Number(tiny)},
      {P::Number(1)},
      {P::Number(1.5)},
      {P::Number(2)},
      {P::Number(1e300)},
      {P::Number(kInf)},
      {P::BigInt(std::numeric_limits<int64_t>::min())},
      {P::BigInt(-256)},
      {P::BigInt(-1)},
      {P::BigInt(0)},
      {P::BigInt(1)},
      {P::BigInt(256)},
      {P::BigInt(std::numeric_limits<int64_t>::max())},
      {P::Bool(false)},
      {P::Bool(false), P::Bool(false)},
      {P::Bool(true)},
      {P::Bool(true), P::String("")},
  };
  for (size_t i = 0; i < ordered.size(); ++i) {
    INFO(i << ": " << KeyToString(ordered[i]));
    REQUIRE(CompareKeys(ordered[i], ordered[i]) == 0);
    for (size_t j = i + 1; j < ordered.size(); ++j) {
      INFO(j << ": " << KeyToString(ordered[j]));
      REQUIRE(CompareKeys(ordered[i], ordered[j]) < 0);  // the table itself is right
      REQUIRE(EncodeKey(ordered[i]) < EncodeKey(ordered[j]));
    }
  }
}

TEST_CASE("encoded keys sort in Deno.Kv order (random)", "[kv_key]") {
  std::mt19937_64 rng(20240611);
  for (int round = 0; round < 20000; ++round) {
    const Key a = RandomKey(rng);
    const Key b = RandomKey(rng);
    INFO(KeyToString(a) << " vs " << KeyToString(b));
    REQUIRE(CompareBytes(EncodeKey(a), EncodeKey(b)) == CompareKeys(a, b));
  }
}

TEST_CASE("a key's encoding prefixes the encodings of its extensions", "[kv_key]") {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 5000; ++round) {
    const Key key = RandomKey(rng);
    const std::string full = EncodeKey(key);
    for (size_t n = 0; n <= key.size(); ++n) {
      const std::string prefix = EncodeKey(Key(key.begin(), key.begin() + static_cast<ptrdiff_t>(n)));
      INFO(KeyToString(key) << " first " << n);
      REQUIRE(full.compare(0, prefix.size(), prefix) == 0);
      // The store's prefix range is [P + 0x00, P + 0xFF); proper extensions fall inside.
      if (n < key.size()) {
        REQUIRE(full >= prefix + '\0');
        REQUIRE(full < prefix + '\xff');
      }
    }
  }
}

TEST_CASE("decoding inverts encoding", "[kv_key]") {
  std::mt19937_64 rng(99);
  for (int round = 0; round < 5000; ++round) {
    const Key key = RandomKey(rng);
    auto decoded = DecodeKey(EncodeKey(key));
    INFO(KeyToString(key));
    REQUIRE(decoded.ok());
    REQUIRE(SameKey(*decoded, key));
  }
  auto zero = DecodeKey(EncodeKey({KeyPart::Number(-0.0)}));
  REQUIRE(zero.ok());
  CHECK(std::signbit((*zero)[0].number));
}

TEST_CASE("the encoding has the documented layout", "[kv_key]") {
  CHECK(EncodeKey({KeyPart::String(std::string("a\0b", 3))}) == std::string("\x02" "a\0\xff" "b\0", 6));
  CHECK(EncodeKey({KeyPart::Bytes("")}) == std::string("\x01\0", 2));
  CHECK(EncodeKey({KeyPart::Number(1)}) == std::string("\x03\xbf\xf0\0\0\0\0\0\0", 9));
  CHECK(EncodeKey({KeyPart::Number(-1)}) == std::string("\x03\x40\x0f\xff\xff\xff\xff\xff\xff", 9));
  CHECK(EncodeKey({KeyPart::BigInt(1)}) == std::string("\x04\x80\0\0\0\0\0\0\x01", 9));
  CHECK(EncodeKey({KeyPart::Bool(false), KeyPart::Bool(true)}) == "\x05\x06");
  CHECK(EncodeKey({}).empty());
}

TEST_CASE("decoding refuses garbage with a clear status", "[kv_key]") {
  struct Case {
    std::string bytes;
    std::string message;
  };
  const std::string nan_bits = EncodeKey({KeyPart::Number(std::numeric_limits<double>::quiet_NaN())});
  const std::vector<Case> cases = {
      {std::string("\0", 1), "bad encoded key at byte 0: key part 0: unknown type tag 0"},
      {"\x07", "bad encoded key at byte 0: key part 0: unknown type tag 7"},
      {"\xff", "bad encoded key at byte 0: key part 0: unknown type tag 255"},
      {"\x02" "abc", "bad encoded key at byte 0: key part 0: unterminated string or bytes"},
      {std::string("\x02" "a\0\xff", 4), "bad encoded key at byte 0: key part 0: unterminated string or bytes"},
      {std::string("\x02" "a\0\x03\x01", 5), "bad encoded key at byte 3: key part 1: truncated number"},
      {"\x04\x80\x00", "bad encoded key at byte 0: key part 0: truncated bigint"},
      {"\x05\x06\x09", "bad encoded key at byte 2: key part 2: unknown type tag 9"},
      {nan_bits, "bad encoded key at byte 0: key part 0: NaN is not allowed in keys"},
  };
  for (const Case& c : cases) {
    auto decoded = DecodeKey(c.bytes);
    REQUIRE_FALSE(decoded.ok());
    CHECK(decoded.status().code() == Status::Code::kInvalidArgument);
    CHECK(decoded.status().message() == c.message);
  }
  // Fuzz: random bytes either decode to a key that re-encodes to the same bytes, or fail.
  std::mt19937_64 rng(5);
  for (int round = 0; round < 20000; ++round) {
    std::string bytes;
    for (size_t n = rng() % 12; n > 0; --n) {
      static const char kBytes[] = {'\0', '\x01', '\x02', '\x03', '\x04', '\x05', '\x06', '\x07', 'a', '\x80', '\xff'};
      bytes.push_back(kBytes[rng() % sizeof kBytes]);
    }
    auto decoded = DecodeKey(bytes);
    if (decoded.ok()) REQUIRE(EncodeKey(*decoded) == bytes);
  }
}

TEST_CASE("NaN is not a key", "[kv_key]") {
  const Key key = {KeyPart::String("a"), KeyPart::Number(std::nan(""))};
  const Status s = ValidateKey(key);
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == Status::Code::kInvalidArgument);
  CHECK(s.message() == "key part 1: NaN is not allowed in keys");
  CHECK(ValidateKey({KeyPart::Number(kInf), KeyPart::Number(-0.0)}).ok());
  // Any NaN bit pattern encodes the same way, so a stray NaN cannot make two rows.
  CHECK(EncodeKey({KeyPart::Number(std::nan("1"))}) == EncodeKey({KeyPart::Number(-std::nan("2"))}));
}

TEST_CASE("keys convert to and from JSON", "[kv_key]") {
  const Key key = {KeyPart::String("ami"), KeyPart::Number(1.5), KeyPart::Number(-kInf), KeyPart::BigInt(-42),
                   KeyPart::Bytes(std::string("\0\xab", 2)), KeyPart::Bool(true), KeyPart::Bool(false)};
  const nlohmann::json json = KeyToJson(key);
  CHECK(json.dump() == R"(["ami",1.5,{"$number":"-Infinity"},{"$bigint":"-42"},{"$bytes":"00ab"},true,false])");
  auto back = KeyFromJson(json);
  REQUIRE(back.ok());
  CHECK(SameKey(*back, key));
  // Integers in JSON are numbers, as in JavaScript.
  auto ints = KeyFromJson(nlohmann::json::parse(R"([1, -2, 18446744073709551615])"));
  REQUIRE(ints.ok());
  CHECK((*ints)[0] == KeyPart::Number(1));
  CHECK((*ints)[1] == KeyPart::Number(-2));
  CHECK((*ints)[2].type == KeyPart::Type::kNumber);
  auto big = KeyFromJson(nlohmann::json::parse(R"([{"$bigint":"9223372036854775807"},{"$bytes":"FF"},{"$number":"Infinity"}])"));
  REQUIRE(big.ok());
  CHECK((*big)[0] == KeyPart::BigInt(std::numeric_limits<int64_t>::max()));
  CHECK((*big)[1] == KeyPart::Bytes("\xff"));
  CHECK((*big)[2] == KeyPart::Number(kInf));
  CHECK(KeyToString(MakeKey({"ami", "worker", "w1"})) == R"(["ami","worker","w1"])");
  CHECK(KeyToString({}) == "[]");
  // Not UTF-8: still printable, never throws.
  CHECK_NOTHROW(KeyToString({KeyPart::String("\xff\xfe")}));
}

TEST_CASE("KeyFromJson refuses what is not a key", "[kv_key]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"a":1})", "key: expected an array, got object"},
      {R"("ami")", "key: expected an array, got string"},
      {R"(["a", null])", R"(key part 1: expected a string, number, boolean, {"$bytes":hex} or {"$bigint":decimal}, got null)"},
      {R"([[1]])", R"(key part 0: expected a string, number, boolean, {"$bytes":hex} or {"$bigint":decimal}, got [1])"},
      {R"([{"$bytes":"abc"}])", "key part 0: $bytes needs an even number of hex digits"},
      {R"([{"$bytes":"zz"}])", R"(key part 0: $bytes is not hex: "zz")"},
      {R"([{"$bigint":"12x"}])", R"(key part 0: $bigint is not a decimal int64: "12x")"},
      {R"([{"$bigint":"99999999999999999999"}])", R"(key part 0: $bigint is not a decimal int64: "99999999999999999999")"},
      {R"([{"$bigint":""}])", R"(key part 0: $bigint is not a decimal int64: "")"},
      {R"([{"$number":"NaN"}])", "key part 0: NaN is not allowed in keys"},
      {R"([{"$number":"1"}])", R"(key part 0: $number must be "Infinity" or "-Infinity", got "1")"},
      {R"([{"$bytes":"00","x":1}])", R"(key part 0: expected a string, number, boolean, {"$bytes":hex} or {"$bigint":decimal}, got {"$bytes":"00","x":1})"},
  };
  for (const auto& [text, message] : cases) {
    INFO(text);
    auto key = KeyFromJson(nlohmann::json::parse(text));
    REQUIRE_FALSE(key.ok());
    CHECK(key.status().code() == Status::Code::kInvalidArgument);
    CHECK(key.status().message() == message);
  }
  auto nan = KeyFromJson(nlohmann::json::array({std::nan("")}));
  REQUIRE_FALSE(nan.ok());
  CHECK(nan.status().message() == "key part 0: NaN is not allowed in keys");
}

TEST_CASE("versionstamps format as 20 hex digits and parse back", "[kv_key]") {
  CHECK(FormatVersionstamp(0) == "00000000000000000000");
  CHECK(FormatVersionstamp(1) == "00000000000000010000");
  CHECK(FormatVersionstamp(0xabcdef0123456789ULL) == "abcdef01234567890000");
  CHECK(FormatVersionstamp(UINT64_MAX) == "ffffffffffffffff0000");
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{255}, uint64_t{1} << 40, UINT64_MAX}) {
    auto parsed = ParseVersionstamp(FormatVersionstamp(v));
    REQUIRE(parsed.ok());
    CHECK(*parsed == v);
  }
  auto upper = ParseVersionstamp("ABCDEF01234567890000");
  REQUIRE(upper.ok());
  CHECK(*upper == 0xabcdef0123456789ULL);

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", R"(bad versionstamp "": expected 20 hex digits)"},
      {"0000000000000001000", R"(bad versionstamp "0000000000000001000": expected 20 hex digits)"},
      {"000000000000000100000", R"(bad versionstamp "000000000000000100000": expected 20 hex digits)"},
      {"0000000000000001000g", R"(bad versionstamp "0000000000000001000g": expected 20 hex digits)"},
      {"-0000000000000010000", R"(bad versionstamp "-0000000000000010000": expected 20 hex digits)"},
      {"00000000000000010001", R"(bad versionstamp "00000000000000010001": the last 4 digits must be 0000)"},
  };
  for (const auto& [text, message] : bad) {
    auto parsed = ParseVersionstamp(text);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.status().code() == Status::Code::kInvalidArgument);
    CHECK(parsed.status().message() == message);
  }
}

TEST_CASE("MakeKey builds string keys", "[kv_key]") {
  const Key key = MakeKey({"ami", "worker", "sid-1"});
  REQUIRE(key.size() == 3);
  CHECK(key[0] == KeyPart::String("ami"));
  CHECK(key[2] == KeyPart::String("sid-1"));
}
