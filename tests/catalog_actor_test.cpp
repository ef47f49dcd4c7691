// The worker catalog actor (actors/catalog_actor.h) over a real store actor: compare-
// and-set, scope moves, the budget stop keeping a concurrent edit, change events in the
// order of the writes, and records written to the store by someone else (replication)
// read back and published.
#include <catch2/catch.hpp>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <mutex>

#include "actors/catalog_actor.h"
#include "actors/messages.h"
#include "actors/store_actor.h"
#include "runtime/node/worker_catalog.h"
#include "tests/support/test_support.h"

using namespace ami;
using ami::test::Eventually;
using ami::test::TempDir;
using json = nlohmann::json;

namespace {

WorkerRecord Record(const std::string& note, bool active = true) {
  WorkerRecord fields;
  fields.note = note;
  fields.active = active;
  fields.script = "logger.info('x');";
  return NewWorkerRecord("s-0001", fields, WallMillis());
}

// A store actor and a catalog over it; a sink that records every change it is told of.
struct CatalogRig {
  TempDir dir;
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> system;
  StoreActor store;
  CatalogActor catalog;
  caf::actor sink;
  std::mutex mutex;
  std::vector<WorkerChange> changes;  // guarded by mutex

  CatalogRig() {
    cfg = std::make_unique<caf::actor_system_config>();
    cfg->add_message_types<caf::id_block::ami>();
    cfg->set("scheduler.max-threads", 2);
    cfg->set("logger.verbosity", caf::atom("quiet"));
    system = std::make_unique<caf::actor_system>(*cfg);
    kv::StoreOptions options;
    options.node_id = "s-0001";
    auto opened = kv::Store::Open(dir / "node.db", options);
    REQUIRE(opened.ok());
    store = SpawnStoreActor(*system, std::move(*opened));
  }

  // The catalog, knowing `initial` as the records in force. Scripts containing "BAD"
  // fail the script check.
  void Start(std::vector<StoredWorker> initial = {}) {
    CatalogContext ctx;
    ctx.node_id = "s-0001";
    ctx.store = store;
    ctx.check_script = [](const std::string& script) {
      return script.find("BAD") == std::string::npos ? Status::OK() : Status::InvalidArgument("script: BAD");
    };
    ctx.initial = std::move(initial);
    catalog = SpawnCatalog(*system, std::move(ctx));
    // Its watch is in place once it answered a request: the store takes its messages
    // in order, and the tests' own writes come from another sender.
    caf::scoped_actor self{*system};
    self->request(catalog, std::chrono::seconds(30), cat_list_atom_v)
        .receive([](WorkerListing&) {}, [](caf::error&) { FAIL("catalog"); });
  }

  void Subscribe() {
    sink = system->spawn([this](caf::event_based_actor*) -> caf::behavior {
      return {[this](worker_changed_atom, const WorkerChange& change) {
        std::lock_guard<std::mutex> lock(mutex);
        changes.push_back(change);
      }};
    });
    caf::scoped_actor self{*system};
    self->send(catalog, cat_subscribe_atom_v, caf::actor_cast<WorkerChangeSink>(sink));
  }

  std::vector<WorkerChange> Changes() {
    std::lock_guard<std::mutex> lock(mutex);
    return changes;
  }

  ~CatalogRig() {
    {
      caf::scoped_actor self{*system};
      if (sink) self->send_exit(sink, caf::exit_reason::user_shutdown);
      if (catalog) self->send_exit(catalog, caf::exit_reason::user_shutdown);
      self->send_exit(store, caf::exit_reason::user_shutdown);
    }
    sink = nullptr;  // the system waits until no handle keeps an actor alive
    catalog = nullptr;
    store = nullptr;
    system.reset();
  }

  template <class... Ts>
  WorkerReply Ask(Ts&&... xs) {
    caf::scoped_actor self{*system};
    WorkerReply out{Status::Internal("no answer"), std::nullopt};
    self->request(catalog, std::chrono::seconds(30), std::forward<Ts>(xs)...)
        .receive([&](WorkerReply& reply) { out = std::move(reply); }, [](caf::error&) { FAIL("catalog"); });
    return out;
  }

  WorkerReply Put(const WorkerRecord& r, std::optional<uint64_t> expected = std::nullopt) {
    return Ask(cat_put_atom_v, WorkerPut{r, expected, "stored"});
  }
  WorkerReply Update(const std::string& sid, const json& changes, std::optional<uint64_t> expected = std::nullopt) {
    WorkerEdit edit;
    edit.changes = changes;
    edit.expected = expected;
    return Ask(cat_update_atom_v, sid, edit);
  }

  kv::Reply Kv(kv::Request request) {
    caf::scoped_actor self{*system};
    kv::Reply out;
    self->request(store, std::chrono::seconds(30), kv_atom_v, std::move(request))
        .receive([&](kv::Reply& reply) { out = std::move(reply); }, [](caf::error&) { FAIL("store"); });
    REQUIRE(out.status.ok());
    return out;
  }

  // A write straight into the store, as replication (or a script) would make it.
  uint64_t Commit(kv::Space space, const kv::Key& key, std::optional<std::string> value) {
    kv::Request put;
    put.op = kv::Request::Op::kCommit;
    put.space = space;
    put.mutations.push_back(value ? kv::Mutation{kv::Mutation::Kind::kSet, key, *value, std::nullopt}
                                  : kv::Mutation{kv::Mutation::Kind::kDelete, key, {}, std::nullopt});
    auto reply = Kv(std::move(put));
    REQUIRE(reply.commit.ok);
    return reply.commit.versionstamp;
  }
  uint64_t Commit(kv::Space space, const WorkerRecord& r) {
    return Commit(space, WorkerKey(r.sid), RecordToStoredValue(r).dump());
  }

  std::optional<kv::Entry> Stored(kv::Space space, const std::string& sid) {
    kv::Request get;
    get.op = kv::Request::Op::kGet;
    get.space = space;
    get.key = WorkerKey(sid);
    return Kv(std::move(get)).entry;
  }
};

std::string Note(const WorkerChange& c) { return c.current ? c.current->record.note : "<deleted>"; }

}  // namespace

TEST_CASE("catalog: writes with an expected versionstamp are compare-and-set", "[catalog]") {
  CatalogRig rig;
  rig.Start();
  const WorkerRecord r = Record("v1");
  auto created = rig.Put(r, 0);
  REQUIRE(created.status.ok());
  REQUIRE(created.worker);
  const uint64_t v1 = created.worker->versionstamp;
  CHECK(rig.Stored(kv::Space::kLocal, r.sid)->versionstamp == v1);

  CHECK(rig.Put(r, 0).status.code() == Status::Code::kConflict);  // it exists now
  auto v2 = rig.Update(r.sid, {{"note", "v2"}}, v1);
  REQUIRE(v2.status.ok());
  CHECK(v2.worker->record.note == "v2");
  CHECK(v2.worker->versionstamp > v1);

  // A stale versionstamp changes nothing.
  auto stale = rig.Update(r.sid, {{"note", "lost"}}, v1);
  CHECK(stale.status.code() == Status::Code::kConflict);
  CHECK(stale.status.message().find(r.sid) != std::string::npos);
  CHECK(rig.Ask(cat_delete_atom_v, WorkerDelete{r.sid, v1}).status.code() == Status::Code::kConflict);
  auto now = rig.Ask(cat_get_atom_v, r.sid);
  REQUIRE(now.worker);
  CHECK(now.worker->record.note == "v2");
  CHECK(now.worker->versionstamp == v2.worker->versionstamp);

  // Without one, the write applies to whatever is current.
  CHECK(rig.Update(r.sid, {{"note", "v3"}}).worker->record.note == "v3");
  CHECK(rig.Update(NewUuid(), {{"note", "x"}}).status.code() == Status::Code::kNotFound);
  CHECK(rig.Update(r.sid, {{"nid", "s-0009"}}).status.message() == "changes.nid: is immutable (stored \"s-0001\")");
  // The script check runs when the script changes.
  CHECK(rig.Update(r.sid, {{"script", "BAD"}}).status.message() == "script: BAD");
  CHECK(rig.Ask(cat_get_atom_v, r.sid).worker->record.script == r.script);

  auto deleted = rig.Ask(cat_delete_atom_v, WorkerDelete{r.sid, std::nullopt});
  CHECK(deleted.status.ok());
  CHECK_FALSE(rig.Stored(kv::Space::kLocal, r.sid));
  CHECK(rig.Ask(cat_get_atom_v, r.sid).status.code() == Status::Code::kNotFound);
}

TEST_CASE("catalog: a scope change moves the record between spaces", "[catalog]") {
  CatalogRig rig;
  rig.Start();
  const WorkerRecord r = Record("mover");
  REQUIRE(rig.Put(r).status.ok());

  auto moved = rig.Update(r.sid, {{"scope", "network"}});
  REQUIRE(moved.status.ok());
  CHECK(moved.worker->space == kv::Space::kNetwork);
  CHECK_FALSE(rig.Stored(kv::Space::kLocal, r.sid));
  REQUIRE(rig.Stored(kv::Space::kNetwork, r.sid));
  CHECK(rig.Stored(kv::Space::kNetwork, r.sid)->versionstamp == moved.worker->versionstamp);

  // And back. Then a stale network copy appears under the local record in force (as two
  // nodes' writes may leave): local wins, and moving to network replaces the copy.
  auto back = rig.Update(r.sid, {{"scope", "local"}});
  REQUIRE(back.status.ok());
  CHECK(back.worker->space == kv::Space::kLocal);
  CHECK_FALSE(rig.Stored(kv::Space::kNetwork, r.sid));
  WorkerRecord shadow = r;
  shadow.scope = Scope::kNetwork;
  shadow.note = "a stale network copy";
  rig.Commit(kv::Space::kNetwork, shadow);
  CHECK(rig.Ask(cat_get_atom_v, r.sid).worker->record.note == "mover");  // local wins
  auto over = rig.Update(r.sid, {{"scope", "network"}, {"note", "moved over it"}});
  REQUIRE(over.status.ok());
  CHECK_FALSE(rig.Stored(kv::Space::kLocal, r.sid));
  CHECK(ReadStoredRecord(r.sid, rig.Stored(kv::Space::kNetwork, r.sid)->value)->note == "moved over it");

  // A move with a stale versionstamp writes nothing in either space.
  auto stale = rig.Update(r.sid, {{"scope", "local"}}, back.worker->versionstamp);
  CHECK(stale.status.code() == Status::Code::kConflict);
  CHECK_FALSE(rig.Stored(kv::Space::kLocal, r.sid));

  // A delete removes both copies.
  rig.Commit(kv::Space::kLocal, r);
  REQUIRE(rig.Ask(cat_delete_atom_v, WorkerDelete{r.sid, std::nullopt}).status.ok());
  CHECK_FALSE(rig.Stored(kv::Space::kLocal, r.sid));
  CHECK_FALSE(rig.Stored(kv::Space::kNetwork, r.sid));
}

TEST_CASE("catalog: deactivating keeps an edit the catalog had not seen", "[catalog]") {
  CatalogRig rig;
  // What the catalog knows: `read`. What the store holds: an edit written after that
  // (and before the catalog's watch began, so it never heard of it).
  const WorkerRecord read = Record("as read");
  const uint64_t read_at = rig.Commit(kv::Space::kLocal, read);
  WorkerRecord edited = read;
  edited.note = "edited meanwhile";
  edited.script = "logger.info('edited');";
  rig.Commit(kv::Space::kLocal, edited);
  rig.Start({StoredWorker{read, read_at, kv::Space::kLocal}});

  auto stopped = rig.Ask(cat_deactivate_atom_v, read.sid, std::string("budget spent"));
  REQUIRE(stopped.status.ok());
  REQUIRE(stopped.worker);
  CHECK_FALSE(stopped.worker->record.active);
  auto stored = ReadStoredRecord(read.sid, rig.Stored(kv::Space::kLocal, read.sid)->value);
  REQUIRE(stored.ok());
  CHECK_FALSE(stored->active);
  CHECK(stored->note == "edited meanwhile");
  CHECK(stored->script == edited.script);

  // Already inactive, or gone: nothing to write, still OK.
  const uint64_t at = rig.Stored(kv::Space::kLocal, read.sid)->versionstamp;
  CHECK(rig.Ask(cat_deactivate_atom_v, read.sid, std::string("again")).status.ok());
  CHECK(rig.Stored(kv::Space::kLocal, read.sid)->versionstamp == at);
  auto gone = rig.Ask(cat_deactivate_atom_v, NewUuid(), std::string("x"));
  CHECK(gone.status.ok());
  CHECK_FALSE(gone.worker);
}

TEST_CASE("catalog: subscribers get the records, then every change in order", "[catalog]") {
  CatalogRig rig;
  const WorkerRecord old = Record("there before");
  const uint64_t old_at = rig.Commit(kv::Space::kLocal, old);
  rig.Start({StoredWorker{old, old_at, kv::Space::kLocal}});
  rig.Subscribe();
  REQUIRE(Eventually([&] { return rig.Changes().size() == 1; }));
  CHECK(rig.Changes()[0].sid == old.sid);
  CHECK(rig.Changes()[0].current->versionstamp == old_at);

  NewWorker fresh;
  fresh.fields.note = "n1";
  auto created = rig.Ask(cat_create_atom_v, fresh);
  REQUIRE(created.status.ok());
  const std::string sid = created.worker->record.sid;
  REQUIRE(rig.Update(sid, {{"note", "n2"}}).status.ok());
  REQUIRE(rig.Update(sid, {{"note", "n3"}, {"scope", "network"}}).status.ok());
  WorkerEdit start;
  start.changes = {{"active", true}};
  start.only_if_changed = true;
  REQUIRE(rig.Ask(cat_update_atom_v, sid, start).status.ok());
  const uint64_t before = rig.Ask(cat_get_atom_v, sid).worker->versionstamp;
  REQUIRE(rig.Ask(cat_update_atom_v, sid, start).worker->versionstamp == before);  // already so: no write
  REQUIRE(rig.Ask(cat_delete_atom_v, WorkerDelete{sid, std::nullopt}).status.ok());

  // Every write once, in order; the catalog's own writes coming back through its watch
  // add nothing.
  REQUIRE(Eventually([&] { return rig.Changes().size() >= 6; }));
  CHECK(ami::test::StaysFalse([&] { return rig.Changes().size() > 6; }, std::chrono::milliseconds(300)));
  const auto changes = rig.Changes();
  std::vector<std::string> notes;
  for (size_t i = 1; i < changes.size(); ++i) {
    CHECK(changes[i].sid == sid);
    notes.push_back(Note(changes[i]));
  }
  CHECK(notes == std::vector<std::string>{"n1", "n2", "n3", "n3", "<deleted>"});
  CHECK(changes[3].current->space == kv::Space::kNetwork);
  CHECK_FALSE(changes[3].current->record.active);
  CHECK(changes[4].current->record.active);
}

TEST_CASE("catalog: a record written to the store by someone else is read back and published", "[catalog]") {
  CatalogRig rig;
  rig.Start();
  rig.Subscribe();
  // As a peer's replicated write lands: straight into the network space.
  WorkerRecord peer = Record("from a peer");
  peer.scope = Scope::kNetwork;
  peer.nid = "s-0002";
  const uint64_t at = rig.Commit(kv::Space::kNetwork, peer);
  REQUIRE(Eventually([&] { return !rig.Changes().empty(); }));
  auto first = rig.Changes()[0];
  CHECK(first.sid == peer.sid);
  REQUIRE(first.current);
  CHECK(first.current->record == peer);
  CHECK(first.current->versionstamp == at);
  CHECK(first.current->space == kv::Space::kNetwork);

  // A forged row (its raw.sid is another key's) is never published; a valid one after it is.
  rig.Commit(kv::Space::kNetwork, WorkerKey(NewUuid()), RecordToStoredValue(peer).dump());
  WorkerRecord next = Record("next");
  rig.Commit(kv::Space::kLocal, next);
  REQUIRE(Eventually([&] { return rig.Changes().size() >= 2; }));
  CHECK(rig.Changes()[1].sid == next.sid);

  // A local copy shadows the network one; when it goes, the network one is in force again.
  WorkerRecord local = peer;
  local.scope = Scope::kLocal;
  local.note = "local copy";
  rig.Commit(kv::Space::kLocal, local);
  REQUIRE(Eventually([&] { return rig.Changes().size() >= 3; }));
  CHECK(Note(rig.Changes()[2]) == "local copy");
  rig.Commit(kv::Space::kLocal, WorkerKey(peer.sid), std::nullopt);
  REQUIRE(Eventually([&] { return rig.Changes().size() >= 4; }));
  CHECK(Note(rig.Changes()[3]) == "from a peer");
  CHECK(rig.Changes()[3].current->space == kv::Space::kNetwork);
  rig.Commit(kv::Space::kNetwork, WorkerKey(peer.sid), std::nullopt);
  REQUIRE(Eventually([&] { return rig.Changes().size() >= 5; }));
  CHECK(Note(rig.Changes()[4]) == "<deleted>");
  CHECK(rig.Changes().size() == 5);
}

TEST_CASE("catalog: listing names every sid, with what cannot be read", "[catalog]") {
  CatalogRig rig;
  rig.Start();
  const WorkerRecord good = Record("good");
  REQUIRE(rig.Put(good).status.ok());
  const std::string bad = NewUuid();
  rig.Commit(kv::Space::kLocal, WorkerKey(bad), std::string("{\"raw\": 1}"));
  caf::scoped_actor self{*rig.system};
  WorkerListing listing;
  self->request(rig.catalog, std::chrono::seconds(30), cat_list_atom_v)
      .receive([&](WorkerListing& l) { listing = std::move(l); }, [](caf::error&) { FAIL("catalog"); });
  REQUIRE(listing.status.ok());
  REQUIRE(listing.workers.size() == 2);
  for (const auto& w : listing.workers) {
    if (w.sid == good.sid) {
      REQUIRE(w.worker);
      CHECK(w.worker->record == good);
    } else {
      CHECK(w.sid == bad);
      CHECK_FALSE(w.worker);
      CHECK(w.error.find("local") != std::string::npos);
    }
  }
  CHECK(listing.workers[0].sid < listing.workers[1].sid);
}
