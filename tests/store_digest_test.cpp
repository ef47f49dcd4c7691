// What the replication speed-up relies on (issue 15): the network digest kept by the
// store equals a full scan after every kind of write; deferred applies are visible at
// once and made durable by Sync() or a later durable commit; CommitBatch hands out the
// network rows exactly as ChangesSince() would read them; and the store actor's
// replication feed, (replsync) and in-memory replication state.
#include <catch2/catch.hpp>

#include <caf/all.hpp>

#include <mutex>
#include <thread>

#include "actors/messages.h"
#include "actors/store_actor.h"
#include "runtime/store/store.h"
#include "tests/store_test_support.h"
#include "tests/support/test_support.h"

using namespace ami;
using namespace ami::kv;
using ami::test::Eventually;
using ami::test::TempDir;
using namespace ami::kv::test_support;

namespace {

// The kept digest, checked against a full scan of the same store.
uint64_t CheckedDigest(Store& store) {
  const uint64_t kept = Must(store.NetworkDigest());
  CHECK(kept == Must(store.NetworkDigestScan()));
  return kept;
}

ReplicaRow Row(const Key& key, std::string value, uint64_t hlc, std::string origin, bool deleted = false,
               std::optional<int64_t> expires_at = std::nullopt) {
  ReplicaRow r;
  r.key = key;
  r.value = std::move(value);
  r.hlc = hlc;
  r.origin = std::move(origin);
  r.deleted = deleted;
  r.expires_at = expires_at;
  return r;
}

uint64_t Stamp(int64_t wall_ms) { return static_cast<uint64_t>(wall_ms) << 16; }

}  // namespace

TEST_CASE("the kept network digest equals a full scan after every kind of change", "[digest]") {
  TempDir dir;
  auto store = OpenStore(dir / "a.db", "n1", nullptr, std::chrono::milliseconds(0));
  const uint64_t empty = CheckedDigest(*store);  // the first call scans; later ones are kept
  CHECK(empty == 0);

  REQUIRE(store->Set(Space::kNetwork, K({"a"}), "1").ok());
  const uint64_t one = CheckedDigest(*store);
  CHECK(one != empty);
  REQUIRE(store->Set(Space::kNetwork, K({"a"}), "2").ok());  // overwrite: the old row leaves the sum
  CheckedDigest(*store);
  REQUIRE(store->Set(Space::kLocal, K({"local"}), "3").ok());  // the local space is not in it
  REQUIRE(store->Delete(Space::kNetwork, K({"a"})).ok());     // a tombstone replaces the row
  CheckedDigest(*store);

  // One operation setting a key twice, a failed check, and an already expired row.
  AtomicOperation twice{Space::kNetwork, {}, {}};
  twice.mutations.push_back(Mutation{Mutation::Kind::kSet, K({"b"}), "1", std::nullopt});
  twice.mutations.push_back(Mutation{Mutation::Kind::kSet, K({"b"}), "2", std::nullopt});
  AtomicOperation failing{Space::kNetwork, {Check{K({"b"}), 12345}}, {}};
  failing.mutations.push_back(Mutation{Mutation::Kind::kSet, K({"c"}), "1", std::nullopt});
  AtomicOperation expired{Space::kNetwork, {}, {}};
  expired.mutations.push_back(Mutation{Mutation::Kind::kSet, K({"d"}), "1", int64_t{0}});
  auto results = Must(store->CommitBatch({twice, failing, expired}));
  CHECK((results[0].ok() && results[0]->ok));
  CHECK((results[1].ok() && !results[1]->ok));
  CheckedDigest(*store);

  // Replicated rows: a newer one, a stale one, a tombstone for a key never seen, and rows
  // with an expiry (one soon).
  const int64_t now = WallMillis();
  std::vector<ReplicaRow> rows{Row(K({"b"}), "9", Stamp(now + 1000), "n2"),
                               Row(K({"a"}), "old", 1, "n2"),
                               Row(K({"e"}), "", Stamp(now), "n2", true),
                               Row(K({"f"}), "1", Stamp(now), "n2", false, now + 3600 * 1000),
                               Row(K({"g"}), "1", Stamp(now), "n2", false, now + 150)};
  auto applied = Must(store->ApplyRemote(rows, std::nullopt, Store::Durability::kDeferred));
  CHECK(applied.changed.size() == 4);
  CHECK(applied.versionstamp == Must(store->LastNetworkVersionstamp()));
  const uint64_t with_g = CheckedDigest(*store);

  // Expiry: g leaves the digest when its time comes, without a write; then the sweep.
  REQUIRE(Eventually([&] { return Must(store->NetworkDigest()) != with_g; }, std::chrono::seconds(5)));
  const uint64_t without_g = CheckedDigest(*store);
  CHECK(Must(store->SweepExpired()) >= 2);  // g and d, and the tombstones (grace 0, one node)
  CHECK(CheckedDigest(*store) != without_g);  // the swept tombstones were in the digest

  // Another connection opened on the file scans it: the same digest.
  auto again = OpenStore(dir / "a.db", "n1");
  CHECK(Must(again->NetworkDigest()) == Must(store->NetworkDigest()));
}

TEST_CASE("deferred applies are visible at once and made durable by Sync or a durable commit", "[digest]") {
  TempDir dir;
  auto store = OpenStore(dir / "a.db", "n1");
  CHECK(store->HasDeferred());  // what the last process deferred may not be on disk
  REQUIRE(store->Sync().ok());
  CHECK_FALSE(store->HasDeferred());

  const std::vector<ReplicaRow> rows{Row(K({"x"}), "1", Stamp(WallMillis()), "n2")};
  auto applied = Must(store->ApplyRemote(rows, std::make_pair(std::string("cursor.n2"), std::string("7")),
                                         Store::Durability::kDeferred));
  CHECK(applied.changed.size() == 1);
  CHECK(store->HasDeferred());
  CHECK(Must(store->Get(Space::kNetwork, K({"x"})))->value == "1");
  CHECK(Must(store->GetMeta("cursor.n2")) == std::optional<std::string>("7"));
  REQUIRE(store->Sync().ok());
  CHECK_FALSE(store->HasDeferred());

  // A durable commit that writes covers the deferred applies before it.
  const std::vector<ReplicaRow> more{Row(K({"y"}), "1", Stamp(WallMillis()), "n2")};
  REQUIRE(store->ApplyRemote(more, std::nullopt, Store::Durability::kDeferred).ok());
  CHECK(store->HasDeferred());
  REQUIRE(store->Set(Space::kLocal, K({"z"}), "1").ok());
  CHECK_FALSE(store->HasDeferred());
  // A deferred apply that changes nothing (the same row again) leaves nothing to sync.
  REQUIRE(store->ApplyRemote(more, std::nullopt, Store::Durability::kDeferred).ok());
  CHECK_FALSE(store->HasDeferred());

  // The rows and the cursor are there for the next process.
  store.reset();
  auto reopened = OpenStore(dir / "a.db", "n1");
  CHECK(Must(reopened->Get(Space::kNetwork, K({"y"})))->value == "1");
  CHECK(Must(reopened->GetMeta("cursor.n2")) == std::optional<std::string>("7"));
}

TEST_CASE("CommitBatch hands out the network rows as ChangesSince reads them", "[digest]") {
  TempDir dir;
  auto store = OpenStore(dir / "a.db", "n1");
  REQUIRE(store->Set(Space::kNetwork, K({"before"}), "0").ok());
  const uint64_t after = Must(store->LastNetworkVersionstamp());

  AtomicOperation first{Space::kNetwork, {}, {}};
  first.mutations.push_back(Mutation{Mutation::Kind::kSet, K({"z"}), "1", std::nullopt});
  first.mutations.push_back(Mutation{Mutation::Kind::kSet, K({"a"}), R"({"v":1})", int64_t{60000}});
  first.mutations.push_back(Mutation{Mutation::Kind::kSet, K({"z"}), "2", std::nullopt});  // z twice: the last
  AtomicOperation local{Space::kLocal, {}, {}};
  local.mutations.push_back(Mutation{Mutation::Kind::kSet, K({"l"}), "1", std::nullopt});
  AtomicOperation failing{Space::kNetwork, {Check{K({"a"}), 1}}, {}};
  failing.mutations.push_back(Mutation{Mutation::Kind::kSet, K({"never"}), "1", std::nullopt});
  AtomicOperation second{Space::kNetwork, {}, {}};
  second.mutations.push_back(Mutation{Mutation::Kind::kDelete, K({"before"}), "", std::nullopt});

  std::vector<ReplicaRow> fed;
  auto results = Must(store->CommitBatch({first, local, failing, second}, {}, &fed));
  REQUIRE(results.size() == 4);
  const auto read = Must(store->ChangesSince(after, 0));
  REQUIRE(fed.size() == read.size());
  REQUIRE(fed.size() == 3);
  for (size_t i = 0; i < fed.size(); ++i) {
    INFO("row " << i);
    CHECK(fed[i].key == read[i].key);
    CHECK(fed[i].deleted == read[i].deleted);
    CHECK(fed[i].value == read[i].value);
    CHECK(fed[i].expires_at == read[i].expires_at);
    CHECK(fed[i].hlc == read[i].hlc);
    CHECK(fed[i].origin == read[i].origin);
    CHECK(fed[i].versionstamp == read[i].versionstamp);
  }
  CHECK(fed[1].value == "2");
  CHECK(fed[2].deleted);
}

namespace {

struct Fed {
  std::mutex mu;
  std::vector<wire::ReplBatch> batches;
  std::vector<wire::ReplBatch> Snapshot() {
    std::lock_guard<std::mutex> lock(mu);
    return batches;
  }
};

caf::behavior FeedListener(caf::event_based_actor*, std::shared_ptr<Fed> fed) {
  return {
      [fed](repl_changes_atom, wire::ReplBatch& batch) {
        std::lock_guard<std::mutex> lock(fed->mu);
        fed->batches.push_back(std::move(batch));
      },
  };
}

}  // namespace

TEST_CASE("the store actor feeds its commits and applies to the cluster and syncs on request", "[digest]") {
  TempDir dir;
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::ami>();
  caf::actor_system system{cfg};
  auto plain = OpenStore(dir / "a.db", "n1");
  REQUIRE(plain->Set(Space::kNetwork, K({"old"}), "1").ok());
  const uint64_t start = Must(plain->LastNetworkVersionstamp());
  StoreActor store = SpawnStoreActor(system, std::move(plain));
  auto fed = std::make_shared<Fed>();
  auto listener = system.spawn(FeedListener, fed);
  caf::anon_send(store, watch_atom_v, caf::actor_cast<ReplFeed>(listener));
  caf::scoped_actor self{system};

  kv::Request put;
  put.op = kv::Request::Op::kCommit;
  put.space = Space::kNetwork;
  put.mutations.push_back(Mutation{Mutation::Kind::kSet, K({"k"}), "5", std::nullopt});
  uint64_t committed = 0;
  self->request(store, std::chrono::seconds(30), kv_atom_v, put)
      .receive([&](kv::Reply& r) { committed = r.commit.versionstamp; }, [&](caf::error& e) { FAIL(caf::to_string(e)); });
  REQUIRE(committed > start);
  REQUIRE(Eventually([&] { return fed->Snapshot().size() >= 1; }));
  auto batch = fed->Snapshot()[0];
  CHECK(batch.node.empty());
  CHECK(batch.after == start);
  CHECK(batch.upto == committed);
  REQUIRE(batch.rows.size() == 1);
  CHECK(batch.rows[0].key == EncodeKey(K({"k"})));
  CHECK(batch.rows[0].value == "5");
  CHECK(batch.rows[0].origin == "n1");
  CHECK(batch.rows[0].versionstamp == committed);
  CHECK_FALSE(batch.store_incarnation.empty());

  // An apply from a peer: a note without rows, named after the sender.
  wire::ReplBatch remote;
  remote.node = "n2";
  wire::ReplRow row;
  row.key = EncodeKey(K({"r"}));
  row.value = "1";
  row.hlc = Stamp(WallMillis());
  row.origin = "n2";
  remote.rows.push_back(row);
  self->request(store, std::chrono::seconds(30), repl_apply_atom_v, remote, std::string("cursor.n2"), std::string("1"))
      .receive([&](uint64_t n) { CHECK(n == 1); }, [&](caf::error& e) { FAIL(caf::to_string(e)); });
  REQUIRE(Eventually([&] { return fed->Snapshot().size() >= 2; }));
  auto note = fed->Snapshot()[1];
  CHECK(note.node == "n2");
  CHECK(note.rows.empty());
  CHECK(note.after == committed);
  CHECK(note.upto > committed);

  // The in-memory state follows both; a sync answers true.
  self->request(store, std::chrono::seconds(30), repl_state_atom_v)
      .receive([&](ReplState& s) { CHECK(s.last_versionstamp == note.upto); },
               [&](caf::error& e) { FAIL(caf::to_string(e)); });
  self->request(store, std::chrono::seconds(30), repl_sync_atom_v)
      .receive([&](bool ok) { CHECK(ok); }, [&](caf::error& e) { FAIL(caf::to_string(e)); });
  // The kept digest, asked through the actor, equals a scan of the file.
  uint64_t digest = 0;
  self->request(store, std::chrono::seconds(30), repl_digest_atom_v)
      .receive([&](uint64_t d) { digest = d; }, [&](caf::error& e) { FAIL(caf::to_string(e)); });
  auto other = OpenStore(dir / "a.db", "n1");
  CHECK(digest == Must(other->NetworkDigestScan()));

  caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(listener, caf::exit_reason::user_shutdown);
}
