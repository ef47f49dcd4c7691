// The SQLite store: Deno.Kv semantics (get/set/delete/list/atomic), versionstamps,
// expiry, tombstones, validation messages, durability across reopen.
#include <catch2/catch.hpp>

#include <fstream>

#include "runtime/store/store.h"
#include "tests/support/test_support.h"

using namespace ami;
using namespace ami::kv;
using ami::test::Eventually;
using ami::test::TempDir;

namespace {

std::unique_ptr<Store> OpenStore(const std::filesystem::path& file, StoreOptions options = {}) {
  if (options.node_id.empty()) options.node_id = "s-0001";
  auto store = Store::Open(file, std::move(options));
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(store).value();
}

std::optional<Entry> MustGet(Store& store, Space space, const Key& key) {
  auto entry = store.Get(space, key);
  INFO(entry.status().ToString());
  REQUIRE(entry.ok());
  return *entry;
}

uint64_t MustSet(Store& store, Space space, const Key& key, const std::string& value,
                 std::optional<int64_t> expire_in_ms = std::nullopt) {
  auto vs = store.Set(space, key, value, expire_in_ms);
  INFO(vs.status().ToString());
  REQUIRE(vs.ok());
  return *vs;
}

std::vector<Entry> MustList(Store& store, Space space, const ListOptions& options) {
  auto entries = store.List(space, options);
  INFO(entries.status().ToString());
  REQUIRE(entries.ok());
  return *entries;
}

std::vector<std::string> Keys(const std::vector<Entry>& entries) {
  std::vector<std::string> out;
  for (const Entry& e : entries) out.push_back(KeyToString(e.key));
  return out;
}

ListOptions Prefix(Key prefix) {
  ListOptions options;
  options.prefix = std::move(prefix);
  return options;
}

Key K(std::initializer_list<std::string_view> parts) { return MakeKey(parts); }

Mutation SetOf(Key key, std::string value, std::optional<int64_t> expire_in_ms = std::nullopt) {
  Mutation m;
  m.kind = Mutation::Kind::kSet;
  m.key = std::move(key);
  m.value = std::move(value);
  m.expire_in_ms = expire_in_ms;
  return m;
}

Mutation DeleteOf(Key key) {
  Mutation m;
  m.kind = Mutation::Kind::kDelete;
  m.key = std::move(key);
  return m;
}

}  // namespace

TEST_CASE("get, set and delete", "[store]") {
  TempDir dir;
  HybridClock clock;
  StoreOptions options;
  options.node_id = "s-0007";
  options.clock = &clock;
  auto store = OpenStore(dir / "node.db", options);

  CHECK_FALSE(MustGet(*store, Space::kNetwork, K({"a"})).has_value());
  const uint64_t before = clock.Now();
  const uint64_t vs = MustSet(*store, Space::kNetwork, K({"a"}), R"({"x":1})");
  CHECK(vs > 0);
  auto entry = MustGet(*store, Space::kNetwork, K({"a"}));
  REQUIRE(entry.has_value());
  CHECK(entry->key == K({"a"}));
  CHECK(entry->value == R"({"x":1})");
  CHECK(entry->versionstamp == vs);
  CHECK(entry->origin == "s-0007");
  CHECK(entry->hlc > before);    // stamped from the shared clock
  CHECK(clock.Now() > entry->hlc);

  const uint64_t vs2 = MustSet(*store, Space::kNetwork, K({"a"}), "2");
  CHECK(vs2 > vs);
  CHECK(MustGet(*store, Space::kNetwork, K({"a"}))->value == "2");

  auto deleted = store->Delete(Space::kNetwork, K({"a"}));
  REQUIRE(deleted.ok());
  CHECK(*deleted > vs2);
  CHECK_FALSE(MustGet(*store, Space::kNetwork, K({"a"})).has_value());
  // Deleting what is not there still succeeds.
  CHECK(store->Delete(Space::kNetwork, K({"never"})).ok());
  CHECK(store->Delete(Space::kLocal, K({"never"})).ok());
  // A deleted key can be set again.
  MustSet(*store, Space::kNetwork, K({"a"}), "3");
  CHECK(MustGet(*store, Space::kNetwork, K({"a"}))->value == "3");
}

TEST_CASE("local and network spaces are independent", "[store]") {
  TempDir dir;
  auto store = OpenStore(dir / "node.db");
  MustSet(*store, Space::kLocal, K({"ami", "worker", "w1"}), R"("local")");
  MustSet(*store, Space::kNetwork, K({"ami", "worker", "w2"}), R"("network")");
  CHECK(MustGet(*store, Space::kLocal, K({"ami", "worker", "w1"}))->value == R"("local")");
  CHECK_FALSE(MustGet(*store, Space::kNetwork, K({"ami", "worker", "w1"})).has_value());
  CHECK_FALSE(MustGet(*store, Space::kLocal, K({"ami", "worker", "w2"})).has_value());
  CHECK(Keys(MustList(*store, Space::kLocal, Prefix(K({"ami"})))) == std::vector<std::string>{R"(["ami","worker","w1"])"});
  CHECK(Keys(MustList(*store, Space::kNetwork, Prefix(K({"ami"})))) == std::vector<std::string>{R"(["ami","worker","w2"])"});
  REQUIRE(store->Delete(Space::kNetwork, K({"ami", "worker", "w1"})).ok());
  CHECK(MustGet(*store, Space::kLocal, K({"ami", "worker", "w1"})).has_value());
  CHECK(std::string(ToString(Space::kLocal)) == "local");
  CHECK(std::string(ToString(Space::kNetwork)) == "network");
}

TEST_CASE("list by prefix, range, limit and reverse", "[store]") {
  TempDir dir;
  auto store = OpenStore(dir / "node.db");
  for (const Key& key : std::vector<Key>{K({"a"}), K({"a", "1"}), K({"a", "2"}), K({"a", "2", "x"}), K({"a", "3"}),
                                         {KeyPart::String(std::string("a\0", 2))}, K({"ab"}), K({"b"})}) {
    MustSet(*store, Space::kNetwork, key, "1");
  }
  MustSet(*store, Space::kLocal, K({"a", "9"}), "1");  // another space: never listed

  const std::vector<std::string> all_a = {R"(["a","1"])", R"(["a","2"])", R"(["a","2","x"])", R"(["a","3"])"};
  SECTION("prefix excludes the prefix key itself and its siblings") {
    CHECK(Keys(MustList(*store, Space::kNetwork, Prefix(K({"a"})))) == all_a);
  }
  SECTION("reverse") {
    ListOptions o = Prefix(K({"a"}));
    o.reverse = true;
    CHECK(Keys(MustList(*store, Space::kNetwork, o)) ==
          std::vector<std::string>(all_a.rbegin(), all_a.rend()));
  }
  SECTION("limit, forwards and backwards") {
    ListOptions o = Prefix(K({"a"}));
    o.limit = 2;
    CHECK(Keys(MustList(*store, Space::kNetwork, o)) == std::vector<std::string>{R"(["a","1"])", R"(["a","2"])"});
    o.reverse = true;
    CHECK(Keys(MustList(*store, Space::kNetwork, o)) == std::vector<std::string>{R"(["a","3"])", R"(["a","2","x"])"});
  }
  SECTION("start is inclusive, end exclusive, both within the prefix") {
    ListOptions o = Prefix(K({"a"}));
    o.start = K({"a", "2"});
    CHECK(Keys(MustList(*store, Space::kNetwork, o)) ==
          std::vector<std::string>{R"(["a","2"])", R"(["a","2","x"])", R"(["a","3"])"});
    o.start.reset();
    o.end = K({"a", "3"});
    CHECK(Keys(MustList(*store, Space::kNetwork, o)) ==
          std::vector<std::string>{R"(["a","1"])", R"(["a","2"])", R"(["a","2","x"])"});
    o.start = K({"a", "2"});
    o.reverse = true;
    CHECK(Keys(MustList(*store, Space::kNetwork, o)) == std::vector<std::string>{R"(["a","2","x"])", R"(["a","2"])"});
    // A start before the prefix is clamped to it; an empty range is empty.
    o = Prefix(K({"a"}));
    o.start = K({"0"});
    CHECK(Keys(MustList(*store, Space::kNetwork, o)) == all_a);
    o.start = K({"a", "3"});
    o.end = K({"a", "1"});
    CHECK(MustList(*store, Space::kNetwork, o).empty());
  }
  SECTION("start/end without a prefix") {
    ListOptions o;
    o.start = K({"a"});
    o.end = K({"b"});
    CHECK(Keys(MustList(*store, Space::kNetwork, o)) ==
          std::vector<std::string>{R"(["a"])", R"(["a","1"])", R"(["a","2"])", R"(["a","2","x"])", R"(["a","3"])",
                                   R"(["a\u0000"])", R"(["ab"])"});
  }
  SECTION("the empty prefix lists the whole space") {
    CHECK(MustList(*store, Space::kNetwork, {}).size() == 8);
    CHECK(MustList(*store, Space::kLocal, {}).size() == 1);
  }
  SECTION("a prefix nothing extends") {
    CHECK(MustList(*store, Space::kNetwork, Prefix(K({"b"}))).empty());
    CHECK(MustList(*store, Space::kNetwork, Prefix(K({"zzz"}))).empty());
  }
  SECTION("deleted entries are not listed") {
    REQUIRE(store->Delete(Space::kNetwork, K({"a", "2"})).ok());
    CHECK(Keys(MustList(*store, Space::kNetwork, Prefix(K({"a"})))) ==
          std::vector<std::string>{R"(["a","1"])", R"(["a","2","x"])", R"(["a","3"])"});
  }
  SECTION("entries carry values and versionstamps") {
    const uint64_t vs = MustSet(*store, Space::kNetwork, K({"a", "1"}), R"({"v":1})");
    auto entries = MustList(*store, Space::kNetwork, Prefix(K({"a"})));
    REQUIRE(entries.size() == 4);
    CHECK(entries[0].value == R"({"v":1})");
    CHECK(entries[0].versionstamp == vs);
    CHECK(entries[0].origin == "s-0001");
    CHECK(entries[1].versionstamp < vs);
  }
}

TEST_CASE("list orders mixed key types like Deno.Kv", "[store]") {
  TempDir dir;
  auto store = OpenStore(dir / "node.db");
  const Key p = K({"n"});
  auto with = [&](KeyPart part) {
    Key k = p;
    k.push_back(std::move(part));
    return k;
  };
  // Inserted out of order on purpose.
  const std::vector<Key> keys = {with(KeyPart::Bool(true)),  with(KeyPart::Number(2.5)),  with(KeyPart::String("s")),
                                 with(KeyPart::BigInt(-5)),  with(KeyPart::Number(-1)),   with(KeyPart::Bytes("\x01")),
                                 with(KeyPart::Bool(false)), with(KeyPart::Number(-0.0)), with(KeyPart::BigInt(7)),
                                 with(KeyPart::Number(0))};
  for (const Key& k : keys) MustSet(*store, Space::kLocal, k, "0");
  CHECK(Keys(MustList(*store, Space::kLocal, Prefix(p))) ==
        std::vector<std::string>{R"(["n",{"$bytes":"01"}])", R"(["n","s"])", R"(["n",-1.0])", R"(["n",-0.0])",
                                 R"(["n",0.0])", R"(["n",2.5])", R"(["n",{"$bigint":"-5"}])",
                                 R"(["n",{"$bigint":"7"}])", R"(["n",false])", R"(["n",true])"});
}

TEST_CASE("atomic commits check versionstamps", "[store]") {
  TempDir dir;
  auto store = OpenStore(dir / "node.db");
  const uint64_t vs_a = MustSet(*store, Space::kNetwork, K({"a"}), "1");

  SECTION("a failed check writes nothing") {
    auto result = store->Commit(Space::kNetwork, {{K({"a"}), vs_a + 100}},
                                {SetOf(K({"a"}), "2"), SetOf(K({"b"}), "2"), DeleteOf(K({"c"}))});
    REQUIRE(result.ok());
    CHECK_FALSE(result->ok);
    CHECK(result->versionstamp == 0);
    CHECK(MustGet(*store, Space::kNetwork, K({"a"}))->value == "1");
    CHECK_FALSE(MustGet(*store, Space::kNetwork, K({"b"})).has_value());
  }
  SECTION("passing checks apply every mutation with one versionstamp") {
    MustSet(*store, Space::kNetwork, K({"c"}), "1");
    auto result = store->Commit(Space::kNetwork, {{K({"a"}), vs_a}, {K({"b"}), 0}},
                                {SetOf(K({"a"}), "2"), SetOf(K({"b"}), "3"), DeleteOf(K({"c"}))});
    REQUIRE(result.ok());
    REQUIRE(result->ok);
    CHECK(result->versionstamp > vs_a);
    auto a = MustGet(*store, Space::kNetwork, K({"a"}));
    auto b = MustGet(*store, Space::kNetwork, K({"b"}));
    CHECK(a->value == "2");
    CHECK(b->value == "3");
    CHECK(a->versionstamp == result->versionstamp);
    CHECK(b->versionstamp == result->versionstamp);
    CHECK(a->hlc == b->hlc);
    CHECK_FALSE(MustGet(*store, Space::kNetwork, K({"c"})).has_value());
  }
  SECTION("versionstamp 0 means the key must be absent") {
    auto taken = store->Commit(Space::kNetwork, {{K({"a"}), 0}}, {SetOf(K({"a"}), "9")});
    REQUIRE(taken.ok());
    CHECK_FALSE(taken->ok);
    auto fresh = store->Commit(Space::kNetwork, {{K({"lease"}), 0}}, {SetOf(K({"lease"}), R"({"leader":"s-1"})")});
    REQUIRE(fresh.ok());
    CHECK(fresh->ok);
    // Only one create-if-absent wins.
    auto second = store->Commit(Space::kNetwork, {{K({"lease"}), 0}}, {SetOf(K({"lease"}), R"({"leader":"s-2"})")});
    REQUIRE(second.ok());
    CHECK_FALSE(second->ok);
    CHECK(MustGet(*store, Space::kNetwork, K({"lease"}))->value == R"({"leader":"s-1"})");
  }
  SECTION("deleted keys count as absent") {
    REQUIRE(store->Delete(Space::kNetwork, K({"a"})).ok());
    auto stale = store->Commit(Space::kNetwork, {{K({"a"}), vs_a}}, {SetOf(K({"a"}), "2")});
    REQUIRE(stale.ok());
    CHECK_FALSE(stale->ok);
    auto absent = store->Commit(Space::kNetwork, {{K({"a"}), 0}}, {SetOf(K({"a"}), "2")});
    REQUIRE(absent.ok());
    CHECK(absent->ok);
  }
  SECTION("checks look only at the commit's space") {
    auto other = store->Commit(Space::kLocal, {{K({"a"}), 0}}, {SetOf(K({"a"}), R"("local")")});
    INFO(other.status().ToString());
    REQUIRE(other.ok());
    CHECK(other->ok);
  }
  SECTION("a check-only commit succeeds") {
    auto result = store->Commit(Space::kNetwork, {{K({"a"}), vs_a}}, {});
    REQUIRE(result.ok());
    CHECK(result->ok);
  }
}

TEST_CASE("versionstamps strictly increase and survive reopen", "[store]") {
  TempDir dir;
  uint64_t last = 0;
  for (int round = 0; round < 3; ++round) {
    auto store = OpenStore(dir / "node.db");
    for (int i = 0; i < 20; ++i) {
      const Space space = i % 2 ? Space::kLocal : Space::kNetwork;
      const uint64_t vs = MustSet(*store, space, K({"k", std::to_string(i % 5)}), std::to_string(i));
      CHECK(vs > last);
      last = vs;
    }
    auto failed = store->Commit(Space::kNetwork, {{K({"k", "0"}), 0}}, {SetOf(K({"x"}), "1")});
    REQUIRE(failed.ok());
    CHECK_FALSE(failed->ok);
  }
  auto store = OpenStore(dir / "node.db");
  auto del = store->Delete(Space::kNetwork, K({"k", "0"}));
  REQUIRE(del.ok());
  CHECK(*del > last);
  CHECK(FormatVersionstamp(*del).size() == 20);
}

TEST_CASE("reopening keeps worker records, KV data and meta", "[store]") {
  TempDir dir;
  const auto file = dir / "data" / "nested" / "node.db";  // parent directories are created
  const std::string record = R"({"channel":"ami.worker.w1","raw":{"sid":"w1","active":true}})";
  uint64_t vs = 0;
  uint64_t hlc = 0;
  {
    auto store = OpenStore(file);
    vs = MustSet(*store, Space::kLocal, K({"ami", "worker", "w1"}), record);
    MustSet(*store, Space::kNetwork, K({"ami", "worker", "w2"}), record);
    MustSet(*store, Space::kNetwork, K({"gone"}), "1");
    REQUIRE(store->Delete(Space::kNetwork, K({"gone"})).ok());
    REQUIRE(store->SetMeta("declared.hash", "abc123").ok());
    hlc = MustGet(*store, Space::kNetwork, K({"ami", "worker", "w2"}))->hlc;
  }
  CHECK(std::filesystem::exists(file));
  auto store = OpenStore(file);
  auto w1 = MustGet(*store, Space::kLocal, K({"ami", "worker", "w1"}));
  REQUIRE(w1.has_value());
  CHECK(w1->value == record);
  CHECK(w1->versionstamp == vs);
  CHECK(MustGet(*store, Space::kNetwork, K({"ami", "worker", "w2"})).has_value());
  CHECK_FALSE(MustGet(*store, Space::kNetwork, K({"gone"})).has_value());
  auto meta = store->GetMeta("declared.hash");
  REQUIRE(meta.ok());
  CHECK(*meta == std::optional<std::string>("abc123"));
  // The private clock resumes above every stamp already in the file.
  MustSet(*store, Space::kNetwork, K({"after"}), "1");
  CHECK(MustGet(*store, Space::kNetwork, K({"after"}))->hlc > hlc);
}

TEST_CASE("expired entries vanish from reads and are swept", "[store]") {
  TempDir dir;
  auto store = OpenStore(dir / "node.db");
  MustSet(*store, Space::kNetwork, K({"t", "long"}), "1", 3600 * 1000);
  MustSet(*store, Space::kNetwork, K({"t", "plain"}), "1");
  CHECK(MustGet(*store, Space::kNetwork, K({"t", "long"})).has_value());
  const uint64_t short_vs = MustSet(*store, Space::kNetwork, K({"t", "short"}), "1", 30);

  REQUIRE(Eventually([&] { return !MustGet(*store, Space::kNetwork, K({"t", "short"})).has_value(); }));
  CHECK(Keys(MustList(*store, Space::kNetwork, Prefix(K({"t"})))) ==
        std::vector<std::string>{R"(["t","long"])", R"(["t","plain"])"});
  // An expired key is absent for checks too.
  auto stale = store->Commit(Space::kNetwork, {{K({"t", "short"}), short_vs}}, {});
  REQUIRE(stale.ok());
  CHECK_FALSE(stale->ok);

  MustSet(*store, Space::kLocal, K({"t", "local"}), "1", 0);
  auto swept = store->SweepExpired();
  REQUIRE(swept.ok());
  CHECK(*swept == 2);  // the expired network and local entries, nothing else
  auto again = store->SweepExpired();
  REQUIRE(again.ok());
  CHECK(*again == 0);
  CHECK(MustList(*store, Space::kNetwork, Prefix(K({"t"}))).size() == 2);

  // Setting an expired key again makes it live, without expiry unless asked.
  MustSet(*store, Space::kNetwork, K({"t", "short"}), "2", 30);
  REQUIRE(Eventually([&] { return !MustGet(*store, Space::kNetwork, K({"t", "short"})).has_value(); }));
  MustSet(*store, Space::kNetwork, K({"t", "short"}), "3");
  CHECK(MustGet(*store, Space::kNetwork, K({"t", "short"}))->value == "3");
}

TEST_CASE("tombstones are hidden and swept after the grace period", "[store]") {
  TempDir dir;
  SECTION("kept within the grace period") {
    auto store = OpenStore(dir / "node.db");  // default grace: a day
    MustSet(*store, Space::kNetwork, K({"a"}), "1");
    REQUIRE(store->Delete(Space::kNetwork, K({"a"})).ok());
    REQUIRE(store->Delete(Space::kNetwork, K({"never-set"})).ok());
    CHECK_FALSE(MustGet(*store, Space::kNetwork, K({"a"})).has_value());
    CHECK(MustList(*store, Space::kNetwork, {}).empty());
    auto swept = store->SweepExpired();
    REQUIRE(swept.ok());
    CHECK(*swept == 0);
  }
  SECTION("dropped after it") {
    StoreOptions options;
    options.tombstone_grace = std::chrono::milliseconds(0);
    auto store = OpenStore(dir / "node.db", options);
    MustSet(*store, Space::kNetwork, K({"a"}), "1");
    MustSet(*store, Space::kLocal, K({"a"}), "1");
    REQUIRE(store->Delete(Space::kNetwork, K({"a"})).ok());
    REQUIRE(store->Delete(Space::kLocal, K({"a"})).ok());  // local: no replication, no tombstone
    size_t removed = 0;
    REQUIRE(Eventually([&] {
      auto swept = store->SweepExpired();
      REQUIRE(swept.ok());
      removed += *swept;
      return removed >= 1;
    }));
    CHECK(removed == 1);
    CHECK_FALSE(MustGet(*store, Space::kNetwork, K({"a"})).has_value());
  }
}

TEST_CASE("writes are validated before anything is written", "[store]") {
  TempDir dir;
  auto store = OpenStore(dir / "node.db");
  auto invalid = [&](const std::vector<Mutation>& mutations, const std::vector<Check>& checks = {}) {
    auto result = store->Commit(Space::kNetwork, checks, mutations);
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().code() == Status::Code::kInvalidArgument);
    return result.status().message();
  };

  const std::string big = "\"" + std::string(70000 - 2, 'x') + "\"";
  CHECK(invalid({SetOf(K({"a", "b"}), big)}) == R"(set ["a","b"]: value is 70000 bytes; the limit is 65536)");
  auto too_big = store->Set(Space::kNetwork, K({"a", "b"}), big);
  REQUIRE_FALSE(too_big.ok());
  CHECK(too_big.status().message() == R"(set ["a","b"]: value is 70000 bytes; the limit is 65536)");
  const std::string max = "\"" + std::string(kMaxValueBytes - 2, 'x') + "\"";
  CHECK(MustGet(*store, Space::kNetwork, K({"max"})) == std::nullopt);
  MustSet(*store, Space::kNetwork, K({"max"}), max);
  CHECK(MustGet(*store, Space::kNetwork, K({"max"}))->value.size() == kMaxValueBytes);

  CHECK(invalid({SetOf(K({"a"}), "{not json")}) == R"(set ["a"]: value is not valid JSON)");
  CHECK(invalid({SetOf(K({"a"}), "")}) == R"(set ["a"]: value is not valid JSON)");
  CHECK(invalid({SetOf(K({"a"}), "1 2")}) == R"(set ["a"]: value is not valid JSON)");
  CHECK(invalid({SetOf({}, "1")}) == "set []: key is empty");
  CHECK(invalid({DeleteOf({})}) == "delete []: key is empty");
  CHECK(invalid({}, {{Key{}, 0}}) == "check []: key is empty");
  CHECK(invalid({SetOf({KeyPart::Number(std::nan(""))}, "1")}) ==
        R"(set [{"$number":"NaN"}]: key part 0: NaN is not allowed in keys)");
  CHECK(invalid({SetOf(K({"a"}), "1", -5)}) == R"(set ["a"]: expireIn is -5 ms; it must not be negative)");

  // Keys: at most kMaxKeyBytes encoded (tag + text + terminator).
  const Key longest = {KeyPart::String(std::string(kMaxKeyBytes - 2, 'k'))};
  MustSet(*store, Space::kNetwork, longest, "1");
  const Key too_long = {KeyPart::String(std::string(kMaxKeyBytes - 1, 'k'))};
  const std::string message = invalid({SetOf(too_long, "1")});
  CHECK_THAT(message, Catch::StartsWith(R"(set ["kkkk)"));
  CHECK_THAT(message, Catch::EndsWith(R"(...: key is 2049 bytes encoded; the limit is 2048)"));
  CHECK(message.size() < 200);  // the key is abbreviated

  // One bad mutation spoils the commit: the good one before it is not applied.
  CHECK(invalid({SetOf(K({"good"}), "1"), SetOf(K({"bad"}), "nope")}) == R"(set ["bad"]: value is not valid JSON)");
  CHECK_FALSE(MustGet(*store, Space::kNetwork, K({"good"})).has_value());

  // Reads validate keys too.
  auto get_empty = store->Get(Space::kLocal, {});
  REQUIRE_FALSE(get_empty.ok());
  CHECK(get_empty.status().message() == "get []: key is empty");
  auto list_nan = store->List(Space::kLocal, Prefix({KeyPart::Number(std::nan(""))}));
  REQUIRE_FALSE(list_nan.ok());
  CHECK(list_nan.status().code() == Status::Code::kInvalidArgument);
  CHECK(list_nan.status().message() == R"(list [{"$number":"NaN"}]: key part 0: NaN is not allowed in keys)");
}

TEST_CASE("values are stored as given", "[store]") {
  TempDir dir;
  auto store = OpenStore(dir / "node.db");
  for (const std::string value : {R"("text with \u0000 and ü")", "null", "true", "-1.5e3", "[]", R"({"a":[1,{"b":null}]})",
                                  " {\"spaced\" : 1} "}) {
    MustSet(*store, Space::kLocal, K({"v"}), value);
    CHECK(MustGet(*store, Space::kLocal, K({"v"}))->value == value);
  }
}

TEST_CASE("meta round trip", "[store]") {
  TempDir dir;
  auto store = OpenStore(dir / "node.db");
  auto missing = store->GetMeta("nothing");
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());
  REQUIRE(store->SetMeta("k", "v1").ok());
  REQUIRE(store->SetMeta("k", "v2").ok());
  REQUIRE(store->SetMeta("empty", "").ok());
  CHECK(*store->GetMeta("k") == std::optional<std::string>("v2"));
  CHECK(*store->GetMeta("empty") == std::optional<std::string>(""));
  // Meta is its own namespace, not a KV space.
  CHECK(MustList(*store, Space::kLocal, {}).empty());
  CHECK(MustList(*store, Space::kNetwork, {}).empty());
}

TEST_CASE("opening a bad file or path is an I/O error", "[store]") {
  TempDir dir;
  const auto junk = dir / "junk.db";
  {
    std::ofstream out(junk);
    out << std::string(8192, 'j');
  }
  auto bad = Store::Open(junk, {});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Status::Code::kIOError);
  CHECK_THAT(bad.status().message(), Catch::StartsWith("open store " + junk.string() + ": "));
  CHECK_THAT(bad.status().message(), Catch::Contains("not a database"));

  std::ofstream(dir / "file") << "x";
  auto under_file = Store::Open(dir / "file" / "node.db", {});
  REQUIRE_FALSE(under_file.ok());
  CHECK(under_file.status().code() == Status::Code::kIOError);
  CHECK_THAT(under_file.status().message(), Catch::StartsWith("open store "));
}

TEST_CASE("two stores on one file agree on versionstamps", "[store]") {
  // Not how the node runs (one store actor owns the file), but the sequence lives in
  // the file, so even a second opener cannot hand out a duplicate.
  TempDir dir;
  auto a = OpenStore(dir / "node.db");
  auto b = OpenStore(dir / "node.db");
  const uint64_t v1 = MustSet(*a, Space::kLocal, K({"x"}), "1");
  const uint64_t v2 = MustSet(*b, Space::kLocal, K({"y"}), "1");
  const uint64_t v3 = MustSet(*a, Space::kLocal, K({"z"}), "1");
  CHECK(v1 < v2);
  CHECK(v2 < v3);
  CHECK(MustGet(*a, Space::kLocal, K({"y"})).has_value());
}

TEST_CASE("a batch commits many operations in one transaction", "[store]") {
  TempDir dir;
  auto store = OpenStore(dir / "node.db");
  const uint64_t before = MustSet(*store, Space::kLocal, K({"seed"}), "0");
  std::vector<AtomicOperation> ops(5);
  ops[0] = {Space::kNetwork, {}, {SetOf(K({"a"}), "1")}};
  ops[1] = {Space::kNetwork, {}, {SetOf(K({"bad"}), "not json")}};
  ops[2] = {Space::kNetwork, {{K({"a"}), 0}}, {SetOf(K({"a"}), "2")}};  // sees op 0: a exists
  ops[3] = {Space::kLocal, {{K({"a"}), 0}}, {SetOf(K({"a"}), "3"), SetOf(K({"b"}), "3")}};
  ops[4] = {Space::kNetwork, {}, {DeleteOf(K({"a"}))}};
  auto batch = store->CommitBatch(ops);
  INFO(batch.status().ToString());
  REQUIRE(batch.ok());
  const auto& r = *batch;
  REQUIRE(r.size() == 5);
  REQUIRE(r[0].ok());
  CHECK(r[0]->ok);
  CHECK(r[0]->versionstamp > before);
  REQUIRE_FALSE(r[1].ok());
  CHECK(r[1].status().message() == R"(set ["bad"]: value is not valid JSON)");
  REQUIRE(r[2].ok());
  CHECK_FALSE(r[2]->ok);
  REQUIRE(r[3].ok());
  CHECK(r[3]->ok);
  CHECK(r[3]->versionstamp > r[0]->versionstamp);
  REQUIRE(r[4].ok());
  CHECK(r[4]->versionstamp > r[3]->versionstamp);
  CHECK_FALSE(MustGet(*store, Space::kNetwork, K({"a"})).has_value());
  CHECK_FALSE(MustGet(*store, Space::kNetwork, K({"bad"})).has_value());
  CHECK(MustGet(*store, Space::kLocal, K({"a"}))->versionstamp == r[3]->versionstamp);
  CHECK(MustGet(*store, Space::kLocal, K({"b"}))->versionstamp == r[3]->versionstamp);
  // Nothing valid: no transaction at all.
  auto only_bad = store->CommitBatch({{Space::kLocal, {}, {SetOf({}, "1")}}});
  REQUIRE(only_bad.ok());
  REQUIRE(only_bad->size() == 1);
  CHECK((*only_bad)[0].status().message() == "set []: key is empty");
  auto empty = store->CommitBatch({});
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}
