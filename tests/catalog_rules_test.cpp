// The worker catalog's rules (runtime/node/worker_catalog.h), without actors: which
// space's copy is in force, edits, new records, scope moves, declarations, and the checks
// a stored (or replicated) record must pass before anything runs it.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "runtime/config/config.h"
#include "runtime/node/worker_catalog.h"
#include "tests/support/test_support.h"

using namespace ami;
using ami::test::TempDir;
using json = nlohmann::json;

namespace {

WorkerRecord Record(const std::string& note, Scope scope = Scope::kLocal) {
  WorkerRecord fields;
  fields.note = note;
  fields.scope = scope;
  fields.script = "logger.info('x');";
  return NewWorkerRecord("s-0001", fields, 1000);
}

kv::Entry EntryOf(const WorkerRecord& r, uint64_t versionstamp) {
  kv::Entry e;
  e.key = WorkerKey(r.sid);
  e.value = RecordToStoredValue(r).dump();
  e.versionstamp = versionstamp;
  return e;
}

Result<WorkerRecord> Edit(const WorkerRecord& r, const json& changes) {
  WorkerEdit edit;
  edit.changes = changes;
  return ApplyEdit(r, edit);
}

WorkerTemplate Template() {
  WorkerTemplate t;
  t.id = "ticker";
  t.name = "Ticker";
  t.description = "logs a tick";
  t.script = "logger.info('tick');";
  t.priority = Priority::kLow;
  t.scope = Scope::kNetwork;
  return t;
}

Config Parse(const TempDir& dir, const std::string& workers) {
  auto config = ParseConfig("node: { id: s-0001, data_dir: ./data }\nworkers:\n" + workers, "t.yaml", dir.path());
  INFO(config.status().message());
  REQUIRE(config.ok());
  return *config;
}

}  // namespace

TEST_CASE("the local copy is the record in force; unreadable copies do not count", "[catalog][rules]") {
  const WorkerRecord local = Record("local");
  WorkerRecord network = local;
  network.note = "network";
  network.scope = Scope::kNetwork;

  std::string problem;
  auto both = PickCurrent(local.sid, EntryOf(local, 7), EntryOf(network, 9), &problem);
  REQUIRE(both);
  CHECK(both->space == kv::Space::kLocal);
  CHECK(both->record.note == "local");
  CHECK(both->versionstamp == 7);
  CHECK(problem.empty());

  auto only_network = PickCurrent(local.sid, std::nullopt, EntryOf(network, 9));
  REQUIRE(only_network);
  CHECK(only_network->space == kv::Space::kNetwork);
  CHECK(only_network->record == network);

  CHECK_FALSE(PickCurrent(local.sid, std::nullopt, std::nullopt, &problem));
  CHECK(problem.empty());

  // A local copy that does not parse leaves the network one in force, and is named.
  kv::Entry broken = EntryOf(local, 7);
  broken.value = "{\"raw\": 5}";
  auto fallback = PickCurrent(local.sid, broken, EntryOf(network, 9), &problem);
  REQUIRE(fallback);
  CHECK(fallback->space == kv::Space::kNetwork);
  CHECK(problem.rfind("local [", 0) == 0);
  CHECK_FALSE(PickCurrent(local.sid, broken, std::nullopt, &problem));
  CHECK_FALSE(problem.empty());
}

TEST_CASE("stored and replicated records are checked before they count", "[catalog][rules]") {
  const WorkerRecord r = Record("checked");
  const std::string value = RecordToStoredValue(r).dump();
  CHECK(ReadStoredRecord(r.sid, value).ok());
  // Under another sid's key (a peer's or a script's forged row).
  const std::string other = NewUuid();
  auto moved = ReadStoredRecord(other, value);
  REQUIRE_FALSE(moved.ok());
  CHECK(moved.status().message().find("differs from the sid in its key") != std::string::npos);
  CHECK_FALSE(PickCurrent(other, std::nullopt, EntryOf(r, 3)));
  // Not JSON; a record that fails ValidateRecord.
  CHECK(ReadStoredRecord(r.sid, "not json").status().message() == "not JSON");
  json invalid = RecordToStoredValue(r);
  invalid["raw"]["executionMode"] = "exclusive";
  CHECK(ReadStoredRecord(r.sid, invalid.dump()).status().message().find("assignedNode") != std::string::npos);
  CHECK(SidOfWorkerKey(WorkerKey(r.sid)) == r.sid);
  CHECK_FALSE(SidOfWorkerKey(kv::MakeKey({"ami", "worker", r.sid, "x"})));
  CHECK_FALSE(SidOfWorkerKey(kv::MakeKey({"ami", "leader", r.sid})));
}

TEST_CASE("LoadWorkerRecords gives one record in force per sid, ordered, and names what it skips", "[catalog][rules]") {
  TempDir dir;
  kv::StoreOptions options;
  options.node_id = "s-0001";
  auto store = kv::Store::Open(dir / "node.db", options);
  REQUIRE(store.ok());
  WorkerRecord a = Record("a-local");
  WorkerRecord a_net = a;
  a_net.note = "a-network";
  a_net.scope = Scope::kNetwork;
  WorkerRecord b = Record("b-network", Scope::kNetwork);
  REQUIRE((*store)->Set(kv::Space::kLocal, WorkerKey(a.sid), RecordToStoredValue(a).dump()).ok());
  REQUIRE((*store)->Set(kv::Space::kNetwork, WorkerKey(a.sid), RecordToStoredValue(a_net).dump()).ok());
  REQUIRE((*store)->Set(kv::Space::kNetwork, WorkerKey(b.sid), RecordToStoredValue(b).dump()).ok());
  REQUIRE((*store)->Set(kv::Space::kLocal, WorkerKey(NewUuid()), RecordToStoredValue(b).dump()).ok());  // sid mismatch

  std::vector<std::string> warnings;
  auto loaded = LoadWorkerRecords(**store, &warnings);
  REQUIRE(loaded.ok());
  REQUIRE(loaded->size() == 2);
  CHECK((*loaded)[0].record.sid < (*loaded)[1].record.sid);
  for (const auto& w : *loaded) {
    if (w.record.sid == a.sid) {
      CHECK(w.record.note == "a-local");
      CHECK(w.space == kv::Space::kLocal);
    } else {
      CHECK(w.record.note == "b-network");
      CHECK(w.space == kv::Space::kNetwork);
    }
    CHECK(w.versionstamp > 0);
  }
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("skipped, not a worker record") != std::string::npos);
  CHECK(warnings[0].rfind("local [", 0) == 0);
}

TEST_CASE("ApplyEdit merges shallowly, keeps sid and nid, and names bad fields as changes.<field>", "[catalog][rules]") {
  WorkerRecord r = Record("before");
  r.account_id = "g-bhts";
  auto merged = Edit(r, {{"note", "after"}, {"priority", "high"}, {"timestamp", 5}, {"sid", r.sid}});
  REQUIRE(merged.ok());
  CHECK(merged->note == "after");
  CHECK(merged->priority == Priority::kHigh);
  CHECK(merged->script == r.script);      // untouched
  CHECK(merged->account_id == "g-bhts");  // untouched
  CHECK(merged->timestamp == r.timestamp);  // the catalog sets it, not the edit
  CHECK(Edit(r, {{"accountId", ""}})->account_id == std::nullopt);

  auto sid = Edit(r, {{"sid", NewUuid()}});
  REQUIRE_FALSE(sid.ok());
  CHECK(sid.status().message() == "changes.sid: is immutable (stored \"" + r.sid + "\")");
  CHECK(Edit(r, {{"nid", "s-0009"}}).status().message() == "changes.nid: is immutable (stored \"s-0001\")");
  CHECK(Edit(r, {{"note", 5}}).status().message() == "changes.note: expected a string");
  CHECK(Edit(r, {{"priority", "urgent"}}).status().message() ==
        "changes.priority: \"urgent\" is not one of critical|high|normal|low");
  CHECK(Edit(r, {{"executionMode", "exclusive"}}).status().message() ==
        "changes.assignedNode: exclusive mode requires assignedNode");
  CHECK(Edit(r, {{"colour", "red"}}).status().message() == "changes.colour: unknown field");
  CHECK(Edit(r, json::array()).status().code() == Status::Code::kInvalidArgument);
  CHECK(Edit(r, {{"executionMode", "exclusive"}, {"assignedNode", "s-0002"}}).ok());

  CHECK(SameIgnoringTimestamp(*merged, [&] { auto m = *merged; m.timestamp = 99; return m; }()));
  CHECK_FALSE(SameIgnoringTimestamp(*merged, r));
}

TEST_CASE("MakeNewRecord: defaults, a given sid, templates and unknown ones", "[catalog][rules]") {
  const std::vector<WorkerTemplate> templates{Template()};
  NewWorker plain;
  plain.fields.note = "mine";
  plain.fields.account_id = "";  // none
  auto made = MakeNewRecord(plain, templates, "s-0007", 4242);
  REQUIRE(made.ok());
  CHECK(IsUuid(made->sid));
  CHECK(made->nid == "s-0007");
  CHECK(made->timestamp == 4242);
  CHECK_FALSE(made->active);
  CHECK(made->note == "mine");
  CHECK_FALSE(made->account_id);
  CHECK(made->script == DefaultWorkerScript());

  const std::string sid = NewUuid();
  plain.fields.sid = sid;
  plain.fields.active = true;
  CHECK(MakeNewRecord(plain, templates, "s-0007", 1)->sid == sid);
  CHECK(MakeNewRecord(plain, templates, "s-0007", 1)->active);

  NewWorker exclusive;
  exclusive.fields.execution_mode = ExecutionMode::kExclusive;
  CHECK(MakeNewRecord(exclusive, templates, "s-0007", 1).status().message() ==
        "assignedNode: exclusive mode requires assignedNode");

  NewWorker from;
  from.template_id = "ticker";
  from.fields.active = true;
  auto templated = MakeNewRecord(from, templates, "s-0007", 1);
  REQUIRE(templated.ok());
  CHECK(templated->script == "logger.info('tick');");
  CHECK(templated->priority == Priority::kLow);
  CHECK(templated->scope == Scope::kNetwork);
  CHECK(templated->note == "Ticker: logs a tick");
  CHECK(templated->active);

  from.template_id = "nope";
  auto unknown = MakeNewRecord(from, templates, "s-0007", 1);
  CHECK(unknown.status().code() == Status::Code::kNotFound);
  CHECK(unknown.status().message() == "unknown template \"nope\"; known: ticker");
}

TEST_CASE("MoveSteps: a create, a compare-and-set in place, and a move between spaces", "[catalog][rules]") {
  const WorkerRecord r = Record("x");
  const kv::Key key = WorkerKey(r.sid);

  auto create = MoveSteps(std::nullopt, r);
  REQUIRE(create.size() == 1);
  CHECK(create[0].space == kv::Space::kLocal);
  REQUIRE(create[0].checks.size() == 1);
  CHECK(create[0].checks[0].key == key);
  CHECK(create[0].checks[0].versionstamp == 0);
  REQUIRE(create[0].mutations.size() == 1);
  CHECK(create[0].mutations[0].kind == kv::Mutation::Kind::kSet);
  CHECK(ReadStoredRecord(r.sid, create[0].mutations[0].value).value() == r);

  const StoredWorker current{r, 17, kv::Space::kLocal};
  auto in_place = MoveSteps(current, r);
  REQUIRE(in_place.size() == 1);
  CHECK(in_place[0].space == kv::Space::kLocal);
  CHECK(in_place[0].checks[0].versionstamp == 17);

  WorkerRecord network = r;
  network.scope = Scope::kNetwork;
  auto move = MoveSteps(current, network);
  REQUIRE(move.size() == 2);
  CHECK(move[0].space == kv::Space::kNetwork);  // (1) create there, only if absent
  CHECK(move[0].checks[0].versionstamp == 0);
  CHECK(move[0].mutations[0].kind == kv::Mutation::Kind::kSet);
  CHECK(move[1].space == kv::Space::kLocal);    // (2) the old entry, only if unchanged
  CHECK(move[1].checks[0].versionstamp == 17);
  REQUIRE(move[1].mutations.size() == 1);
  CHECK(move[1].mutations[0].kind == kv::Mutation::Kind::kDelete);
  CHECK(move[1].mutations[0].key == key);
}

TEST_CASE("PlanDeclaration: new, unchanged, changed, from a template, and a bad template", "[catalog][rules]") {
  TempDir dir;
  const Config config = Parse(dir, "  - name: greeter\n    script: \"logger.info('hi');\"\n"
                                   "  - name: ticks\n    template: ticker\n    priority: high\n"
                                   "  - name: typo\n    template: tickr\n");
  const std::vector<WorkerTemplate> templates{Template()};
  const WorkerDeclaration& greeter = config.workers[0];
  const std::string sid = DeclaredSid(config, greeter);
  CHECK(sid == NameUuid("s-0001/greeter"));
  CHECK(DeclaredMetaName(sid) == "declared/" + sid);

  auto fresh = PlanDeclaration(config, greeter, std::nullopt, "", templates, 5000);
  REQUIRE(fresh.ok());
  REQUIRE(fresh->has_value());
  const WorkerRecord& made = **fresh;
  CHECK(made.sid == sid);
  CHECK(made.nid == "s-0001");
  CHECK(made.active);
  CHECK(made.script == "logger.info('hi');");
  CHECK(made.timestamp == 5000);

  // Unchanged since it was last applied, and the record is there: nothing to write.
  WorkerRecord stored = made;
  stored.nid = "s-0000";  // made elsewhere: kept
  stored.note = "kept";
  const StoredWorker existing{stored, 12, kv::Space::kLocal};
  auto same = PlanDeclaration(config, greeter, existing, greeter.source_hash, templates, 6000);
  REQUIRE(same.ok());
  CHECK_FALSE(same->has_value());
  // The same hash but no record (deleted meanwhile): made again.
  auto again = PlanDeclaration(config, greeter, std::nullopt, greeter.source_hash, templates, 6000);
  REQUIRE(again.ok());
  CHECK(again->has_value());
  // Changed: the record is updated, its nid and (no note declared) its note kept.
  auto changed = PlanDeclaration(config, greeter, existing, "an older hash", templates, 7000);
  REQUIRE(changed.ok());
  REQUIRE(changed->has_value());
  CHECK((*changed)->nid == "s-0000");
  CHECK((*changed)->note == "kept");
  CHECK((*changed)->timestamp == 7000);

  auto ticks = PlanDeclaration(config, config.workers[1], std::nullopt, "", templates, 1);
  REQUIRE(ticks.ok());
  REQUIRE(ticks->has_value());
  CHECK((*ticks)->script == "logger.info('tick');");
  CHECK((*ticks)->priority == Priority::kHigh);    // declared
  CHECK((*ticks)->scope == Scope::kNetwork);       // the template's
  CHECK((*ticks)->active);                         // declared workers run unless active: false
  CHECK((*ticks)->sid == DeclaredSid(config, config.workers[1]));
  CHECK(DeclaredOverrides(config.workers[1]).priority == Priority::kHigh);
  CHECK_FALSE(DeclaredOverrides(config.workers[1]).scope);

  auto typo = PlanDeclaration(config, config.workers[2], std::nullopt, "", templates, 1);
  REQUIRE_FALSE(typo.ok());
  CHECK(typo.status().code() == Status::Code::kInvalidArgument);
  CHECK(typo.status().message() == config.workers[2].where + ": workers: typo: unknown template \"tickr\"; known: ticker");
}
