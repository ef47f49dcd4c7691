// Replication of the network space: kv::Store's ChangesSince / ApplyRemote between
// replicas (convergence, last writer wins, tombstones, expiry, versionstamp groups,
// validation, atomic cursors, incarnation, clock), the v1 → v2 schema migration, and
// the store actor's replication messages.
#include <catch2/catch.hpp>

#include <caf/all.hpp>
#include <sqlite3.h>

#include <cmath>
#include <limits>
#include <mutex>

#include "actors/messages.h"
#include "actors/store_actor.h"
#include "runtime/base/digest.h"
#include "runtime/store/store.h"
#include "tests/store_test_support.h"
#include "tests/support/test_support.h"

using namespace ami;
using namespace ami::kv;
using ami::test::Eventually;
using ami::test::TempDir;
using namespace ami::kv::test_support;

namespace {

uint64_t Set(Store& store, const Key& key, const std::string& value,
             std::optional<int64_t> expire_in_ms = std::nullopt) {
  return Must(store.Set(Space::kNetwork, key, value, expire_in_ms));
}

uint64_t Del(Store& store, const Key& key) { return Must(store.Delete(Space::kNetwork, key)); }

std::optional<std::string> Value(Store& store, const Key& key) {
  auto entry = Must(store.Get(Space::kNetwork, key));
  if (!entry) return std::nullopt;
  return entry->value;
}

uint64_t Digest(Store& store) { return Must(store.NetworkDigest()); }

// What the cluster actor does: pull everything `from` has after the cursor `to` keeps
// for it (in meta, per incarnation of `from`), `limit` rows at a time, each batch
// applied together with the cursor's new value. Returns how many rows changed in `to`.
size_t Pull(Store& from, Store& to, size_t limit = 3) {
  const std::string cursor_name = "cursor." + Must(from.Incarnation());
  size_t changed = 0;
  for (int round = 0; round < 1000; ++round) {
    const auto cursor_text = Must(to.GetMeta(cursor_name));
    const uint64_t cursor = cursor_text ? std::stoull(*cursor_text) : 0;
    auto rows = Must(from.ChangesSince(cursor, limit));
    if (rows.empty()) return changed;
    for (const ReplicaRow& row : rows) REQUIRE(row.versionstamp > cursor);
    const auto meta = std::make_pair(cursor_name, std::to_string(rows.back().versionstamp));
    auto result = Must(to.ApplyRemote(rows, meta));
    INFO(result.first_error);
    REQUIRE(result.rejected == 0);
    changed += result.changed.size();
  }
  FAIL("pulling never caught up");
  return changed;
}

// Both ways, until neither side changes (at most a few rounds).
void Sync(Store& a, Store& b) {
  for (int round = 0; round < 5; ++round) {
    const size_t changed = Pull(a, b) + Pull(b, a);
    if (changed == 0) return;
  }
  FAIL("replicas kept changing each other");
}

ReplicaRow Row(Key key, std::string value, uint64_t hlc, std::string origin) {
  ReplicaRow row;
  row.key = std::move(key);
  row.value = std::move(value);
  row.hlc = hlc;
  row.origin = std::move(origin);
  return row;
}

ReplicaRow Tombstone(Key key, uint64_t hlc, std::string origin) {
  ReplicaRow row = Row(std::move(key), "", hlc, std::move(origin));
  row.deleted = true;
  return row;
}

// An hlc for wall time `ms` from now (negative = in the past).
uint64_t StampIn(int64_t ms) { return static_cast<uint64_t>(WallMillis() + ms) << 16; }

ApplyResult Apply(Store& store, const std::vector<ReplicaRow>& rows) {
  return Must(store.ApplyRemote(rows, std::nullopt));
}

}  // namespace

TEST_CASE("two replicas converge through ChangesSince and ApplyRemote", "[replication]") {
  TempDir dir;
  auto a = OpenStore(dir / "a.db", "n-a");
  auto b = OpenStore(dir / "b.db", "n-b");
  CHECK(Digest(*a) == Digest(*b));  // both empty

  Set(*a, K({"cfg", "x"}), R"({"v":1})");
  Set(*a, K({"cfg", "y"}), R"("y")");
  Set(*a, K({"cfg", "x"}), R"({"v":2})");  // overwrite
  Set(*a, K({"gone"}), "1");
  Del(*a, K({"gone"}));
  Set(*b, K({"from-b"}), "true");
  Set(*b, K({"cfg", "z"}), "[1,2]");
  Must(a->Set(Space::kLocal, K({"local-only"}), "1"));  // never replicated

  // The tombstone is shipped: a peer must learn the delete, not just miss the key.
  auto rows = Must(a->ChangesSince(0, 0));
  REQUIRE(rows.size() == 3);
  CHECK(rows.back().deleted);
  CHECK(KeyToString(rows.back().key) == R"(["gone"])");
  CHECK(rows.back().origin == "n-a");

  CHECK(Digest(*a) != Digest(*b));
  Sync(*a, *b);
  CHECK(Digest(*a) == Digest(*b));
  for (Store* s : {a.get(), b.get()}) {
    CHECK(Value(*s, K({"cfg", "x"})) == R"({"v":2})");
    CHECK(Value(*s, K({"cfg", "y"})) == R"("y")");
    CHECK(Value(*s, K({"cfg", "z"})) == "[1,2]");
    CHECK(Value(*s, K({"from-b"})) == "true");
    CHECK_FALSE(Value(*s, K({"gone"})));
  }
  CHECK_FALSE(Must(b->Get(Space::kLocal, K({"local-only"}))));
  // Origins travel with the rows.
  CHECK(Must(b->Get(Space::kNetwork, K({"cfg", "x"})))->origin == "n-a");
  CHECK(Must(a->Get(Space::kNetwork, K({"from-b"})))->origin == "n-b");

  // A delete and an overwrite made after the sync reach the other side too.
  Del(*b, K({"cfg", "y"}));
  Set(*b, K({"cfg", "x"}), R"({"v":3})");
  CHECK(Digest(*a) != Digest(*b));
  Sync(*a, *b);
  CHECK(Digest(*a) == Digest(*b));
  CHECK_FALSE(Value(*a, K({"cfg", "y"})));
  CHECK(Value(*a, K({"cfg", "x"})) == R"({"v":3})");

  // Synced: pulling again changes nothing on either side (no echo loop).
  CHECK(Pull(*a, *b) == 0);
  CHECK(Pull(*b, *a) == 0);
}

TEST_CASE("concurrent writes to one key: the larger (hlc, origin) wins on every replica", "[replication]") {
  TempDir dir;
  SECTION("real writes on both sides") {
    auto a = OpenStore(dir / "a.db", "n-a");
    auto b = OpenStore(dir / "b.db", "n-b");
    Set(*a, K({"k"}), R"("from a")");
    Set(*b, K({"k"}), R"("from b")");
    const Entry ea = *Must(a->Get(Space::kNetwork, K({"k"})));
    const Entry eb = *Must(b->Get(Space::kNetwork, K({"k"})));
    const std::string winner = std::tie(ea.hlc, ea.origin) > std::tie(eb.hlc, eb.origin) ? ea.value : eb.value;
    Sync(*a, *b);
    CHECK(Value(*a, K({"k"})) == winner);
    CHECK(Value(*b, K({"k"})) == winner);
    CHECK(Digest(*a) == Digest(*b));
  }
  SECTION("equal hlc: the origin decides, whatever the arrival order") {
    const uint64_t hlc = StampIn(0);
    const ReplicaRow from_a = Row(K({"k"}), R"("a")", hlc, "n-a");
    const ReplicaRow from_b = Row(K({"k"}), R"("b")", hlc, "n-b");
    auto x = OpenStore(dir / "x.db", "n-x");
    auto y = OpenStore(dir / "y.db", "n-y");
    CHECK(Apply(*x, {from_a}).changed.size() == 1);
    CHECK(Apply(*x, {from_b}).changed.size() == 1);  // "n-b" > "n-a"
    CHECK(Apply(*y, {from_b}).changed.size() == 1);
    CHECK(Apply(*y, {from_a}).changed.empty());       // loses, changes nothing
    CHECK(Value(*x, K({"k"})) == R"("b")");
    CHECK(Value(*y, K({"k"})) == R"("b")");
    CHECK(Digest(*x) == Digest(*y));
  }
  SECTION("a larger hlc beats a larger origin") {
    auto x = OpenStore(dir / "x.db", "n-x");
    const uint64_t hlc = StampIn(0);
    Apply(*x, {Row(K({"k"}), R"("z")", hlc, "n-z")});
    CHECK(Apply(*x, {Row(K({"k"}), R"("a")", hlc + 1, "n-a")}).changed.size() == 1);
    CHECK(Value(*x, K({"k"})) == R"("a")");
  }
}

TEST_CASE("tombstones delete, a newer set resurrects, stale rows are ignored", "[replication]") {
  TempDir dir;
  auto a = OpenStore(dir / "a.db", "n-a");
  auto b = OpenStore(dir / "b.db", "n-b");
  Set(*a, K({"k"}), "1");
  Sync(*a, *b);
  REQUIRE(Value(*b, K({"k"})) == "1");

  Del(*b, K({"k"}));  // B has seen A's stamp, so its delete is newer
  Sync(*a, *b);
  CHECK_FALSE(Value(*a, K({"k"})));
  CHECK_FALSE(Value(*b, K({"k"})));

  Set(*a, K({"k"}), "2");  // newer than the tombstone: resurrects on B
  Sync(*a, *b);
  CHECK(Value(*b, K({"k"})) == "2");
  CHECK(Digest(*a) == Digest(*b));

  // Rows older than what is stored change nothing: no new versionstamp, no change.
  const Entry current = *Must(b->Get(Space::kNetwork, K({"k"})));
  const uint64_t last = Must(b->LastNetworkVersionstamp());
  auto stale = Apply(*b, {Row(K({"k"}), "99", current.hlc - 1, "n-z"), Tombstone(K({"k"}), current.hlc - 1, "n-z"),
                          Row(K({"k"}), "98", current.hlc, current.origin)});  // the same write again
  CHECK(stale.changed.empty());
  CHECK(stale.rejected == 0);
  CHECK(Value(*b, K({"k"})) == "2");
  CHECK(Must(b->LastNetworkVersionstamp()) == last);

  // A newer tombstone deletes; an older set does not bring the key back.
  auto del = Apply(*b, {Tombstone(K({"k"}), current.hlc + 10, "n-z")});
  REQUIRE(del.changed.size() == 1);
  CHECK(del.changed[0] == K({"k"}));
  CHECK_FALSE(Value(*b, K({"k"})));
  CHECK(Apply(*b, {Row(K({"k"}), "3", current.hlc + 5, "n-z")}).changed.empty());
  CHECK_FALSE(Value(*b, K({"k"})));
}

TEST_CASE("expiry travels as an absolute time", "[replication]") {
  TempDir dir;
  auto a = OpenStore(dir / "a.db", "n-a");
  auto b = OpenStore(dir / "b.db", "n-b");
  const int64_t before = WallMillis();
  Set(*a, K({"ttl"}), "1", 3600 * 1000);
  Set(*a, K({"expired"}), "2", 0);  // expired at once, not yet swept
  Set(*a, K({"forever"}), "3");
  auto rows = Must(a->ChangesSince(0, 0));
  REQUIRE(rows.size() == 3);
  REQUIRE(rows[0].expires_at);
  CHECK(*rows[0].expires_at >= before + 3600 * 1000);
  CHECK(*rows[0].expires_at <= WallMillis() + 3600 * 1000);
  REQUIRE(rows[1].expires_at);  // still shipped: receivers expire it by the same time
  CHECK_FALSE(rows[2].expires_at);

  Pull(*a, *b);
  // One ApplyRemote call: one versionstamp on b, so its rows come in key order.
  auto copied = Must(b->ChangesSince(0, 0));
  REQUIRE(copied.size() == 3);
  CHECK(copied[0].key == K({"expired"}));
  CHECK(copied[0].expires_at == rows[1].expires_at);
  CHECK(copied[1].key == K({"forever"}));
  CHECK_FALSE(copied[1].expires_at);
  CHECK(copied[2].key == K({"ttl"}));
  CHECK(copied[2].expires_at == rows[0].expires_at);  // the same instant, not "an hour from when it arrived"
  CHECK(Value(*b, K({"ttl"})) == "1");
  CHECK_FALSE(Value(*b, K({"expired"})));
  CHECK(Digest(*a) == Digest(*b));  // expired rows do not count on either side

  // A row that arrives already expired is stored invisible and swept like any other.
  ReplicaRow late = Row(K({"late"}), "4", StampIn(0), "n-z");
  late.expires_at = WallMillis() - 1000;
  CHECK(Apply(*b, {late}).changed.size() == 1);
  CHECK_FALSE(Value(*b, K({"late"})));
  CHECK(Must(b->SweepExpired()) == 2);
}

TEST_CASE("ChangesSince never splits the rows of one versionstamp", "[replication]") {
  TempDir dir;
  auto a = OpenStore(dir / "a.db", "n-a");
  const uint64_t first = Set(*a, K({"first"}), "0");
  std::vector<Mutation> group;
  for (const char* name : {"g1", "g2", "g3", "g4", "g5"}) {
    Mutation m;
    m.key = K({name});
    m.value = "1";
    group.push_back(m);
  }
  const uint64_t group_vs = Must(a->Commit(Space::kNetwork, {}, group)).versionstamp;
  const uint64_t last = Set(*a, K({"last"}), "2");
  CHECK(Must(a->LastNetworkVersionstamp()) == last);

  // The limit falls inside the group: the whole group still comes.
  auto rows = Must(a->ChangesSince(0, 2));
  REQUIRE(rows.size() == 6);
  CHECK(rows[0].versionstamp == first);
  for (size_t i = 1; i < rows.size(); ++i) {
    CHECK(rows[i].versionstamp == group_vs);
    CHECK(KeyToString(rows[i].key) == "[\"g" + std::to_string(i) + "\"]");  // then by key
  }
  auto rest = Must(a->ChangesSince(group_vs, 2));
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].versionstamp == last);
  CHECK(Must(a->ChangesSince(last, 2)).empty());
  CHECK(Must(a->ChangesSince(0, 1)).size() == 1);  // a group of one is not padded
  CHECK(Must(a->ChangesSince(first, 1)).size() == 5);

  // Everything one ApplyRemote call writes shares one new versionstamp: one group.
  auto b = OpenStore(dir / "b.db", "n-b");
  Set(*b, K({"own"}), "0");
  const uint64_t b_before = Must(b->LastNetworkVersionstamp());
  Apply(*b, Must(a->ChangesSince(0, 0)));
  auto applied = Must(b->ChangesSince(b_before, 1));
  REQUIRE(applied.size() == 7);
  for (const ReplicaRow& row : applied) CHECK(row.versionstamp == b_before + 1);
  CHECK(Must(b->LastNetworkVersionstamp()) == b_before + 1);
}

TEST_CASE("invalid rows are refused and counted; the rest of the batch applies", "[replication]") {
  TempDir dir;
  auto b = OpenStore(dir / "b.db", "n-b");
  const uint64_t hlc = StampIn(0);
  std::vector<ReplicaRow> rows;
  rows.push_back(Row(K({"ok1"}), "1", hlc, "n-a"));
  rows.push_back(Row(K({"no-origin"}), "1", hlc, ""));
  rows.push_back(Row(K({"no-hlc"}), "1", 0, "n-a"));
  rows.push_back(Row(K({"huge-hlc"}), "1", std::numeric_limits<uint64_t>::max(), "n-a"));
  rows.push_back(Row(K({"bad-json"}), "{nope", hlc, "n-a"));
  rows.push_back(Row(K({"too-big"}), "\"" + std::string(kMaxValueBytes, 'x') + "\"", hlc, "n-a"));
  rows.push_back(Row({}, "1", hlc, "n-a"));
  rows.push_back(Row({KeyPart::Number(std::nan(""))}, "1", hlc, "n-a"));
  rows.push_back(Row({KeyPart::String(std::string(kMaxKeyBytes, 'k'))}, "1", hlc, "n-a"));
  rows.push_back(Row(K({"long-origin"}), "1", hlc, std::string(kMaxOriginBytes + 1, 'o')));
  ReplicaRow bad_expiry = Row(K({"bad-expiry"}), "1", hlc, "n-a");
  bad_expiry.expires_at = -5;
  rows.push_back(bad_expiry);
  // A tombstone's value is not kept, so it is not checked either.
  ReplicaRow tomb = Tombstone(K({"tomb"}), hlc, "n-a");
  tomb.value = "not json";
  rows.push_back(tomb);
  rows.push_back(Row(K({"ok2"}), R"({"a":1})", hlc, "n-a"));

  auto result = Apply(*b, rows);
  CHECK(result.rejected == 10);
  CHECK(result.first_error == R"(apply ["no-origin"]: origin is empty)");
  REQUIRE(result.changed.size() == 3);
  CHECK(result.changed[0] == K({"ok1"}));
  CHECK(result.changed[1] == K({"tomb"}));
  CHECK(result.changed[2] == K({"ok2"}));
  CHECK(Value(*b, K({"ok1"})) == "1");
  CHECK(Value(*b, K({"ok2"})) == R"({"a":1})");
  CHECK(Must(b->ChangesSince(0, 0)).size() == 3);

  // Each refusal names the key and the field.
  auto first_error = [&](ReplicaRow row) {
    auto r = Apply(*b, {std::move(row)});
    CHECK(r.rejected == 1);
    CHECK(r.changed.empty());
    return r.first_error;
  };
  CHECK(first_error(Row(K({"no-hlc"}), "1", 0, "n-a")) == R"(apply ["no-hlc"]: hlc is 0)");
  CHECK_THAT(first_error(Row(K({"huge-hlc"}), "1", std::numeric_limits<uint64_t>::max(), "n-a")),
             Catch::StartsWith(R"(apply ["huge-hlc"]: hlc )") && Catch::EndsWith("is out of range"));
  CHECK(first_error(Row(K({"bad-json"}), "{nope", hlc, "n-a")) == R"(apply ["bad-json"]: value is not valid JSON)");
  CHECK_THAT(first_error(Row(K({"too-big"}), "\"" + std::string(kMaxValueBytes, 'x') + "\"", hlc, "n-a")),
             Catch::Contains(R"(apply ["too-big"]: value is )") && Catch::Contains("the limit is 65536"));
  CHECK(first_error(Row({}, "1", hlc, "n-a")) == "apply []: key is empty");
  CHECK_THAT(first_error(Row({KeyPart::String(std::string(kMaxKeyBytes, 'k'))}, "1", hlc, "n-a")),
             Catch::Contains("bytes encoded; the limit is 2048"));
  CHECK_THAT(first_error(Row(K({"long-origin"}), "1", hlc, std::string(kMaxOriginBytes + 1, 'o'))),
             Catch::Contains(R"(apply ["long-origin"]: origin is 257 bytes)"));
  CHECK_THAT(first_error(bad_expiry), Catch::StartsWith(R"(apply ["bad-expiry"]: expires_at is -5)"));
  CHECK(Must(b->ChangesSince(0, 0)).size() == 3);  // none of that was written
}

TEST_CASE("the meta write commits or fails together with the rows", "[replication]") {
  TempDir dir;
  const auto file = dir / "b.db";
  auto b = OpenStore(file, "n-b");
  const uint64_t hlc = StampIn(0);

  auto applied = Must(b->ApplyRemote({Row(K({"k1"}), "1", hlc, "n-a")}, std::make_pair(std::string("cursor.a"), std::string("7"))));
  CHECK(applied.changed.size() == 1);
  CHECK(Must(b->GetMeta("cursor.a")) == "7");

  // The cursor moves even when no row changes (all stale, or an empty batch).
  Must(b->ApplyRemote({Row(K({"k1"}), "1", hlc, "n-a")}, std::make_pair(std::string("cursor.a"), std::string("8"))));
  CHECK(Must(b->GetMeta("cursor.a")) == "8");
  Must(b->ApplyRemote({}, std::make_pair(std::string("cursor.a"), std::string("9"))));
  CHECK(Must(b->GetMeta("cursor.a")) == "9");

  // Make the meta write fail inside the transaction (a trigger another connection
  // adds): the rows written before it in the same call must be rolled back too.
  {
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open(file.c_str(), &raw) == SQLITE_OK);
    const char* sql =
        "CREATE TRIGGER fail_cursor BEFORE INSERT ON meta WHEN NEW.name = 'cursor.fail' "
        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;";
    char* err = nullptr;
    const int rc = sqlite3_exec(raw, sql, nullptr, nullptr, &err);
    INFO((err ? err : ""));
    sqlite3_free(err);
    sqlite3_close(raw);
    REQUIRE(rc == SQLITE_OK);
  }
  const uint64_t last = Must(b->LastNetworkVersionstamp());
  auto failed = b->ApplyRemote({Row(K({"k2"}), "2", hlc, "n-a"), Row(K({"k1"}), "3", hlc + 1, "n-a")},
                               std::make_pair(std::string("cursor.fail"), std::string("10")));
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.status().code() == Status::Code::kIOError);
  CHECK_THAT(failed.status().message(), Catch::Contains("refused by the test"));
  CHECK_FALSE(Value(*b, K({"k2"})));
  CHECK(Value(*b, K({"k1"})) == "1");
  CHECK_FALSE(Must(b->GetMeta("cursor.fail")));
  CHECK(Must(b->LastNetworkVersionstamp()) == last);
  // And the store still works afterwards.
  CHECK(Apply(*b, {Row(K({"k2"}), "2", hlc, "n-a")}).changed.size() == 1);
}

TEST_CASE("the incarnation is made once per database file", "[replication]") {
  TempDir dir;
  std::string first;
  {
    auto a = OpenStore(dir / "a.db", "n-a");
    first = Must(a->Incarnation());
    CHECK(first.size() == 32);
    CHECK(first.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(Must(a->Incarnation()) == first);
    auto second_opener = OpenStore(dir / "a.db", "n-a");
    CHECK(Must(second_opener->Incarnation()) == first);
  }
  auto reopened = OpenStore(dir / "a.db", "n-a");
  CHECK(Must(reopened->Incarnation()) == first);
  auto other = OpenStore(dir / "b.db", "n-a");  // a new data dir, same node id
  CHECK(Must(other->Incarnation()) != first);
  CHECK(Must(other->Incarnation()).size() == 32);
}

TEST_CASE("remote stamps move the clock: later local writes win", "[replication]") {
  TempDir dir;
  const uint64_t future = StampIn(3600 * 1000);  // a peer whose clock is an hour ahead
  {
    auto b = OpenStore(dir / "b.db", "n-b");
    CHECK(Apply(*b, {Row(K({"k"}), R"("remote")", future, "n-a")}).changed.size() == 1);
    Set(*b, K({"k"}), R"("local")");
    const Entry e = *Must(b->Get(Space::kNetwork, K({"k"})));
    CHECK(e.value == R"("local")");
    CHECK(e.hlc > future);
    CHECK(e.origin == "n-b");
  }
  {
    // A stale row's stamp is folded in as well: it was seen.
    HybridClock clock;
    auto c = OpenStore(dir / "c.db", "n-c", &clock);
    Apply(*c, {Row(K({"k"}), "1", future + 100, "n-a")});
    CHECK(Apply(*c, {Row(K({"k"}), "2", future + 50, "n-z")}).changed.empty());
    CHECK(clock.Now() > future + 100);
  }
  // After a restart (a fresh clock), the file still fast-forwards it.
  HybridClock fresh;
  auto b = OpenStore(dir / "b.db", "n-b", &fresh);
  Set(*b, K({"other"}), "1");
  CHECK(Must(b->Get(Space::kNetwork, K({"other"})))->hlc > future);
}

TEST_CASE("the network digest depends on the rows, not on their order or versionstamps", "[replication]") {
  TempDir dir;
  auto a = OpenStore(dir / "a.db", "n-a");
  auto b = OpenStore(dir / "b.db", "n-b");
  const uint64_t empty = Digest(*a);
  CHECK(empty == Digest(*b));
  const uint64_t hlc = StampIn(0);
  const std::vector<ReplicaRow> rows = {Row(K({"x"}), "1", hlc, "n-a"), Row(K({"y"}), "2", hlc + 1, "n-a"),
                                        Tombstone(K({"z"}), hlc + 2, "n-c")};
  // The local space shares the versionstamp sequence but not the digest.
  for (int i = 0; i < 3; ++i) Must(b->Set(Space::kLocal, K({"local"}), std::to_string(i)));
  CHECK(Digest(*b) == empty);
  Apply(*a, rows);
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) Apply(*b, {*it});  // reverse order, one call each
  CHECK(Must(a->LastNetworkVersionstamp()) != Must(b->LastNetworkVersionstamp()));
  const uint64_t full = Digest(*a);
  CHECK(full == Digest(*b));
  CHECK(full != empty);

  // Any difference in a row's identity shows: its hlc, its origin, delete vs set.
  auto c = OpenStore(dir / "c.db", "n-c");
  Apply(*c, {rows[0], rows[1], Row(K({"z"}), "3", hlc + 2, "n-c")});  // a set where the others have a tombstone
  CHECK(Digest(*c) != full);
  auto d = OpenStore(dir / "d.db", "n-d");
  Apply(*d, {rows[0], Row(K({"y"}), "2", hlc + 1, "n-b"), rows[2]});  // another origin
  CHECK(Digest(*d) != full);
  Apply(*d, {rows[1]});  // "n-b" > "n-a": the row from n-a loses, the replicas really differ
  CHECK(Digest(*d) != full);
  auto e = OpenStore(dir / "e.db", "n-e");
  Apply(*e, {rows[0], rows[2]});  // a row missing
  CHECK(Digest(*e) != full);
  Apply(*e, {rows[1]});
  CHECK(Digest(*e) == full);
}

TEST_CASE("LastNetworkVersionstamp follows network writes only", "[replication]") {
  TempDir dir;
  auto a = OpenStore(dir / "a.db", "n-a");
  CHECK(Must(a->LastNetworkVersionstamp()) == 0);
  Must(a->Set(Space::kLocal, K({"l"}), "1"));
  CHECK(Must(a->LastNetworkVersionstamp()) == 0);
  const uint64_t vs = Set(*a, K({"n"}), "1");
  CHECK(Must(a->LastNetworkVersionstamp()) == vs);
  Must(a->Set(Space::kLocal, K({"l"}), "2"));
  CHECK(Must(a->LastNetworkVersionstamp()) == vs);
  const uint64_t del = Del(*a, K({"n"}));  // the tombstone is a row
  CHECK(Must(a->LastNetworkVersionstamp()) == del);
}

namespace {

// The schema as version 1 of the store wrote it.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE kv(
  space INTEGER NOT NULL,
  key BLOB NOT NULL,
  value TEXT,
  versionstamp INTEGER NOT NULL,
  expires_at INTEGER,
  hlc INTEGER NOT NULL,
  origin TEXT NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(space, key)) WITHOUT ROWID;
CREATE INDEX kv_expiry ON kv(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX kv_tombstones ON kv(hlc) WHERE deleted = 1;
CREATE TABLE meta(name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE state(id INTEGER PRIMARY KEY CHECK (id = 0),
                   versionstamp INTEGER NOT NULL, hlc INTEGER NOT NULL);
INSERT INTO state(id, versionstamp, hlc) VALUES(0, 0, 0);
PRAGMA user_version = 1;
)sql";

class RawDb {
 public:
  explicit RawDb(const std::filesystem::path& file) {
    REQUIRE(sqlite3_open(file.c_str(), &db_) == SQLITE_OK);
  }
  ~RawDb() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    INFO(sql << ": " << (err ? err : ""));
    sqlite3_free(err);
    REQUIRE(rc == SQLITE_OK);
  }
  // First column of the first row, as text ("" when there is none).
  std::string Query(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0)) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return out;
  }
  sqlite3* get() { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace

TEST_CASE("a version-1 database is migrated on open and keeps its data", "[replication]") {
  TempDir dir;
  const auto file = dir / "node.db";
  const uint64_t hlc = StampIn(0);
  {
    RawDb raw(file);
    raw.Exec("PRAGMA journal_mode=WAL");
    raw.Exec(kSchemaV1);
    const std::string net = HexOf(EncodeKey(K({"ami", "worker", "w1"})));
    const std::string gone = HexOf(EncodeKey(K({"gone"})));
    const std::string local = HexOf(EncodeKey(K({"mine"})));
    raw.Exec("INSERT INTO kv VALUES(1, x'" + net + "', '{\"a\":1}', 4, NULL, " + std::to_string(hlc) + ", 'n-old', 0)");
    raw.Exec("INSERT INTO kv VALUES(1, x'" + gone + "', NULL, 5, NULL, " + std::to_string(hlc + 1) + ", 'n-old', 1)");
    raw.Exec("INSERT INTO kv VALUES(0, x'" + local + "', '\"l\"', 3, NULL, " + std::to_string(hlc) + ", 'n-old', 0)");
    raw.Exec("INSERT INTO meta VALUES('declared/w1', 'hash')");
    raw.Exec("UPDATE state SET versionstamp = 5, hlc = " + std::to_string(hlc + 1));
  }
  std::string incarnation;
  {
    auto store = OpenStore(file, "n-new");
    CHECK(Value(*store, K({"ami", "worker", "w1"})) == R"({"a":1})");
    CHECK(Must(store->Get(Space::kLocal, K({"mine"})))->value == R"("l")");
    CHECK(Must(store->GetMeta("declared/w1")) == "hash");
    incarnation = Must(store->Incarnation());
    CHECK(incarnation.size() == 32);
    CHECK(Must(store->LastNetworkVersionstamp()) == 5);
    auto rows = Must(store->ChangesSince(0, 0));
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].versionstamp == 4);
    CHECK(rows[0].origin == "n-old");
    CHECK(rows[1].deleted);
    CHECK(Set(*store, K({"new"}), "1") == 6);  // the sequence goes on
  }
  {
    RawDb raw(file);
    CHECK(raw.Query("PRAGMA user_version") == "2");
    CHECK(raw.Query("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'kv_changes'") == "kv_changes");
  }
  auto again = OpenStore(file, "n-new");
  CHECK(Must(again->Incarnation()) == incarnation);
  CHECK(Must(again->ChangesSince(0, 0)).size() == 3);
}

TEST_CASE("a database from a newer schema is refused", "[replication]") {
  TempDir dir;
  const auto file = dir / "node.db";
  { OpenStore(file, "n-a"); }
  {
    RawDb raw(file);
    raw.Exec("PRAGMA user_version = 3");
  }
  auto store = Store::Open(file, {});
  REQUIRE_FALSE(store.ok());
  CHECK_THAT(store.status().message(), Catch::Contains("schema version 3 was written by a newer AMI"));
}

// --- the store actor ---

namespace {

// Collects what a watcher receives.
struct Seen {
  std::mutex mu;
  std::vector<KvChange> changes;

  std::vector<KvChange> Snapshot() {
    std::lock_guard<std::mutex> lock(mu);
    return changes;
  }
};

caf::behavior Watcher(caf::event_based_actor*, std::shared_ptr<Seen> seen) {
  return {
      [seen](changed_atom, const KvChange& change) {
        std::lock_guard<std::mutex> lock(seen->mu);
        seen->changes.push_back(change);
      },
  };
}

struct ActorFixture {
  TempDir dir;
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> system;
  std::vector<caf::actor> actors;

  ActorFixture() {
    cfg = std::make_unique<caf::actor_system_config>();
    cfg->add_message_types<caf::id_block::ami>();
    system = std::make_unique<caf::actor_system>(*cfg);
  }
  ~ActorFixture() {
    for (auto& a : actors) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    actors.clear();
    system.reset();  // waits for the actors to finish
  }

  caf::actor Spawn(std::unique_ptr<Store> store) {
    actors.push_back(caf::actor_cast<caf::actor>(SpawnStoreActor(*system, std::move(store))));
    return actors.back();
  }

  // A blocking request; fails the test on an error or after 30 s.
  template <class T, class... Ts>
  T Ask(const caf::actor& to, Ts&&... xs) {
    caf::scoped_actor self{*system};
    std::optional<T> out;
    std::string error;
    self->request(to, std::chrono::seconds(30), std::forward<Ts>(xs)...)
        .receive([&](T& value) { out = std::move(value); }, [&](caf::error& err) { error = caf::to_string(err); });
    INFO(error);
    REQUIRE(out.has_value());
    return std::move(*out);
  }

  // The error a request is answered with ("" when it succeeds).
  template <class T, class... Ts>
  std::string AskError(const caf::actor& to, Ts&&... xs) {
    caf::scoped_actor self{*system};
    std::string error;
    self->request(to, std::chrono::seconds(30), std::forward<Ts>(xs)...)
        .receive([&](T&) {}, [&](caf::error& err) { error = caf::to_string(err); });
    return error;
  }
};

kv::Reply Commit(ActorFixture& f, const caf::actor& store, const Key& key, const std::string& value) {
  kv::Request req;
  req.op = kv::Request::Op::kCommit;
  req.space = Space::kNetwork;
  Mutation m;
  m.key = key;
  m.value = value;
  req.mutations.push_back(m);
  return f.Ask<kv::Reply>(store, kv_atom_v, std::move(req));
}

std::optional<std::string> ActorGet(ActorFixture& f, const caf::actor& store, const Key& key) {
  kv::Request req;
  req.op = kv::Request::Op::kGet;
  req.space = Space::kNetwork;
  req.key = key;
  auto reply = f.Ask<kv::Reply>(store, kv_atom_v, std::move(req));
  REQUIRE(reply.status.ok());
  if (!reply.entry) return std::nullopt;
  return reply.entry->value;
}

}  // namespace

TEST_CASE("the store actor answers replication requests", "[replication]") {
  ActorFixture f;
  auto store_a = OpenStore(f.dir / "a.db", "n-a");
  auto store_b = OpenStore(f.dir / "b.db", "n-b");
  const std::string inc_a = Must(store_a->Incarnation());
  const std::string inc_b = Must(store_b->Incarnation());
  Set(*store_a, K({"x"}), "1");
  Set(*store_a, K({"y"}), "2", 3600 * 1000);
  Del(*store_a, K({"y"}));
  Set(*store_a, K({"z"}), R"({"z":true})", 3600 * 1000);
  const uint64_t last_a = Must(store_a->LastNetworkVersionstamp());
  caf::actor a = f.Spawn(std::move(store_a));
  caf::actor b = f.Spawn(std::move(store_b));

  auto seen = std::make_shared<Seen>();
  caf::actor watcher = f.system->spawn(Watcher, seen);
  f.actors.push_back(watcher);
  caf::anon_send(b, watch_atom_v, Space::kNetwork, Key{}, caf::actor_cast<KvWatcher>(watcher));

  // State and changes of A.
  const auto state_a = f.Ask<ReplState>(a, repl_state_atom_v);
  CHECK(state_a.store_incarnation == inc_a);
  CHECK(state_a.last_versionstamp == last_a);
  auto all = f.Ask<wire::ReplBatch>(a, repl_changes_atom_v, uint64_t{0}, uint32_t{100});
  CHECK(all.node.empty());
  CHECK(all.store_incarnation == inc_a);
  CHECK(all.after == 0);
  CHECK(all.upto == last_a);
  CHECK_FALSE(all.more);
  REQUIRE(all.rows.size() == 3);
  CHECK(all.rows[0].key == EncodeKey(K({"x"})));
  CHECK(all.rows[0].expires_at == 0);
  CHECK(all.rows[0].origin == "n-a");
  CHECK(all.rows[1].key == EncodeKey(K({"y"})));
  CHECK(all.rows[1].deleted);
  CHECK(all.rows[1].value.empty());
  CHECK(all.rows[1].expires_at == 0);
  CHECK(all.rows[2].expires_at > WallMillis());
  CHECK(all.rows[2].versionstamp == last_a);

  auto first = f.Ask<wire::ReplBatch>(a, repl_changes_atom_v, uint64_t{0}, uint32_t{1});
  REQUIRE(first.rows.size() == 1);
  CHECK(first.more);
  CHECK(first.upto == first.rows[0].versionstamp);
  auto none = f.Ask<wire::ReplBatch>(a, repl_changes_atom_v, last_a, uint32_t{1});
  CHECK(none.rows.empty());
  CHECK_FALSE(none.more);
  CHECK(none.upto == last_a);
  CHECK(none.after == last_a);
  CHECK(none.store_incarnation == inc_a);

  // Apply to B with the cursor; B's watcher hears the changed keys as remote changes.
  all.node = "n-a";
  CHECK(f.Ask<uint64_t>(b, repl_apply_atom_v, all, std::string("cursor.a"), std::to_string(all.upto)) == 3);
  CHECK(f.Ask<std::string>(b, meta_atom_v, std::string("cursor.a")) == std::to_string(last_a));
  CHECK(ActorGet(f, b, K({"x"})) == "1");
  CHECK_FALSE(ActorGet(f, b, K({"y"})));
  CHECK(ActorGet(f, b, K({"z"})) == R"({"z":true})");
  REQUIRE(Eventually([&] { return seen->Snapshot().size() >= 3; }));
  auto changes = seen->Snapshot();
  REQUIRE(changes.size() == 3);
  for (const KvChange& c : changes) {
    CHECK(c.remote);
    CHECK(c.space == Space::kNetwork);
  }
  CHECK(changes[0].key == K({"x"}));
  CHECK(changes[1].key == K({"y"}));
  CHECK(changes[2].key == K({"z"}));

  // Converged; B's state is its own.
  CHECK(f.Ask<uint64_t>(a, repl_digest_atom_v) == f.Ask<uint64_t>(b, repl_digest_atom_v));
  const auto state_b = f.Ask<ReplState>(b, repl_state_atom_v);
  CHECK(state_b.store_incarnation == inc_b);
  CHECK(state_b.last_versionstamp > 0);

  // The same batch again applies nothing and notifies nobody; an empty meta name
  // writes no meta.
  CHECK(f.Ask<uint64_t>(b, repl_apply_atom_v, all, std::string(), std::string("ignored")) == 0);
  CHECK(f.Ask<std::string>(b, meta_atom_v, std::string()) == "");

  // A local commit on B: remote = false.
  REQUIRE(Commit(f, b, K({"local-write"}), "5").commit.ok);
  REQUIRE(Eventually([&] { return seen->Snapshot().size() >= 4; }));
  changes = seen->Snapshot();
  REQUIRE(changes.size() == 4);
  CHECK(changes[3].key == K({"local-write"}));
  CHECK_FALSE(changes[3].remote);
  CHECK(f.Ask<uint64_t>(a, repl_digest_atom_v) != f.Ask<uint64_t>(b, repl_digest_atom_v));
}

TEST_CASE("the store actor drops undecodable rows and applies the rest", "[replication]") {
  ActorFixture f;
  caf::actor b = f.Spawn(OpenStore(f.dir / "b.db", "n-b"));
  const uint64_t hlc = StampIn(0);
  wire::ReplBatch batch;
  batch.node = "n-evil\n";
  batch.store_incarnation = "0123";
  auto row = [&](std::string key, std::string value, std::string origin) {
    wire::ReplRow r;
    r.key = std::move(key);
    r.value = std::move(value);
    r.hlc = hlc;
    r.origin = std::move(origin);
    r.versionstamp = 1;
    return r;
  };
  batch.rows.push_back(row("\x7fgarbage", "1", "n-a"));                 // unknown tag
  batch.rows.push_back(row(EncodeKey(K({"good"})), "1", "n-a"));
  batch.rows.push_back(row(std::string(kMaxKeyBytes + 1, '\x02'), "1", "n-a"));  // too long to decode
  batch.rows.push_back(row(EncodeKey(K({"no-origin"})), "1", ""));       // decodes, fails validation
  wire::ReplRow expiring = row(EncodeKey(K({"expiring"})), "2", "n-a");
  expiring.expires_at = WallMillis() + 3600 * 1000;
  batch.rows.push_back(expiring);
  batch.upto = 1;

  CHECK(f.Ask<uint64_t>(b, repl_apply_atom_v, batch, std::string("cursor.x"), std::string("1")) == 2);
  CHECK(ActorGet(f, b, K({"good"})) == "1");
  CHECK(ActorGet(f, b, K({"expiring"})) == "2");
  CHECK(f.Ask<std::string>(b, meta_atom_v, std::string("cursor.x")) == "1");
  auto back = f.Ask<wire::ReplBatch>(b, repl_changes_atom_v, uint64_t{0}, uint32_t{0});
  REQUIRE(back.rows.size() == 2);
  CHECK(back.rows[0].expires_at == expiring.expires_at);  // the absolute time, carried through
  CHECK(back.rows[1].hlc == hlc);
}

namespace {

std::unique_ptr<Store> OpenWith(const std::filesystem::path& file, StoreOptions options) {
  auto store = Store::Open(file, std::move(options));
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(store).value();
}

// Until the wall clock has moved past `ms`, so stamps taken before are strictly older.
void PassMillis(int64_t ms) { REQUIRE(Eventually([&] { return WallMillis() > ms; })); }

size_t Tombstones(Store& store) {
  size_t n = 0;
  for (const auto& row : Must(store.ChangesSince(0, 0))) n += row.deleted ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("a tombstone is swept only after every peer's cursor has passed it", "[replication]") {
  TempDir dir;
  StoreOptions options;
  options.node_id = "n-a";
  options.tombstone_grace = std::chrono::milliseconds(0);  // old enough at once: only the acks decide
  options.replication_peers = 2;
  auto store = OpenWith(dir / "a.db", options);
  const std::string inc = Must(store->Incarnation());
  Set(*store, K({"k1"}), "1");
  const uint64_t v1 = Del(*store, K({"k1"}));
  Set(*store, K({"k2"}), "2");
  const uint64_t v2 = Del(*store, K({"k2"}));
  PassMillis(WallMillis() + 2);

  CHECK(Must(store->SweepExpired()) == 0);  // no peer has said anything yet
  CHECK(Tombstones(*store) == 2);
  REQUIRE(store->SetMeta(PeerAckName("p1"), inc + ":" + std::to_string(v2)).ok());
  CHECK(Must(store->SweepExpired()) == 0);  // p2 has not said yet
  // An ack for an earlier data directory does not count, however far it claims to be.
  REQUIRE(store->SetMeta(PeerAckName("p3"), "0123456789abcdef0123456789abcdef:999999").ok());
  CHECK(Must(store->SweepExpired()) == 0);
  CHECK(Tombstones(*store) == 2);

  REQUIRE(store->SetMeta(PeerAckName("p2"), inc + ":" + std::to_string(v1)).ok());
  CHECK(Must(store->SweepExpired()) == 1);  // k1's tombstone: both peers are past it
  auto rows = Must(store->ChangesSince(0, 0));
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].key == K({"k2"}));
  CHECK(rows[0].deleted);

  REQUIRE(store->SetMeta(PeerAckName("p2"), inc + ":" + std::to_string(v2)).ok());
  CHECK(Must(store->SweepExpired()) == 1);
  CHECK(Tombstones(*store) == 0);
}

TEST_CASE("acknowledged tombstones still wait for the grace period and a single node needs no acks", "[replication]") {
  TempDir dir;
  StoreOptions waiting;
  waiting.node_id = "n-a";
  waiting.replication_peers = 1;  // default grace: 24 h
  auto a = OpenWith(dir / "a.db", waiting);
  Set(*a, K({"k"}), "1");
  const uint64_t v = Del(*a, K({"k"}));
  REQUIRE(a->SetMeta(PeerAckName("p1"), Must(a->Incarnation()) + ":" + std::to_string(v)).ok());
  CHECK(Must(a->SweepExpired()) == 0);
  CHECK(Tombstones(*a) == 1);

  StoreOptions single;
  single.node_id = "n-b";
  single.tombstone_grace = std::chrono::milliseconds(0);
  auto b = OpenWith(dir / "b.db", single);
  Set(*b, K({"k"}), "1");
  Del(*b, K({"k"}));
  PassMillis(WallMillis() + 2);
  CHECK(Must(b->SweepExpired()) == 1);
}

TEST_CASE("replicated rows stamped beyond max_clock_skew are refused and leave the clock alone", "[replication]") {
  TempDir dir;
  HybridClock clock;
  StoreOptions options;
  options.node_id = "n-a";
  options.clock = &clock;
  options.max_clock_skew = std::chrono::milliseconds(5000);
  auto store = OpenWith(dir / "a.db", options);
  const uint64_t far = StampIn(3600 * 1000);
  auto result = Apply(*store, {Row(K({"future"}), "1", far, "n-fast"), Row(K({"near"}), "2", StampIn(1000), "n-b")});
  CHECK(result.rejected == 1);
  CHECK(result.first_error.find("ahead of the local clock") != std::string::npos);
  CHECK(result.first_error.find("max_clock_skew") != std::string::npos);
  CHECK_FALSE(Value(*store, K({"future"})));
  CHECK(Value(*store, K({"near"})) == "2");
  CHECK(clock.Now() < far);  // the refused stamp did not drag the clock forward
  CHECK_FALSE(clock.ObserveWithin(far, 5000));
  CHECK(clock.Now() < far);
}
