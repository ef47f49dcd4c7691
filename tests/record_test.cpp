// The worker record: defaults, validation, JSON and stored-value shapes, hashes, UUIDs.
#include <catch2/catch.hpp>

#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "runtime/base/clock.h"
#include "runtime/model/worker_record.h"

using namespace ami;
using json = nlohmann::json;

namespace {

constexpr int64_t kNow = 1795917930123;   // 2026-11-29T02:05:30.123Z
const std::regex kUuidV4(R"([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})");
const std::regex kUuidV5(R"([0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})");

WorkerRecord ValidRecord() { return NewWorkerRecord("s-0001", {}, kNow); }

std::string ValidationMessage(const WorkerRecord& r) {
  Status s = ValidateRecord(r);
  if (s.ok()) return "ok";
  CHECK(s.code() == Status::Code::kInvalidArgument);
  return s.message();
}

std::string ParseError(const json& raw) {
  auto r = RecordFromJson(raw);
  if (r.ok()) return "ok";
  CHECK(r.status().code() == Status::Code::kInvalidArgument);
  return r.status().message();
}

}  // namespace

TEST_CASE("enum wire names round-trip", "[record]") {
  CHECK(std::string(ToString(WorkerMode::kLoop)) == "loop");
  CHECK(std::string(ToString(WorkerMode::kSingle)) == "single");
  CHECK(std::string(ToString(Scope::kLocal)) == "local");
  CHECK(std::string(ToString(Scope::kNetwork)) == "network");
  CHECK(std::string(ToString(ExecutionMode::kParallel)) == "parallel");
  CHECK(std::string(ToString(ExecutionMode::kLeader)) == "leader");
  CHECK(std::string(ToString(ExecutionMode::kExclusive)) == "exclusive");
  CHECK(std::string(ToString(Priority::kCritical)) == "critical");
  CHECK(std::string(ToString(Priority::kHigh)) == "high");
  CHECK(std::string(ToString(Priority::kNormal)) == "normal");
  CHECK(std::string(ToString(Priority::kLow)) == "low");

  for (auto m : {WorkerMode::kLoop, WorkerMode::kSingle}) CHECK(ParseWorkerMode(ToString(m)) == m);
  for (auto s : {Scope::kLocal, Scope::kNetwork}) CHECK(ParseScope(ToString(s)) == s);
  for (auto e : {ExecutionMode::kParallel, ExecutionMode::kLeader, ExecutionMode::kExclusive})
    CHECK(ParseExecutionMode(ToString(e)) == e);
  for (auto p : {Priority::kCritical, Priority::kHigh, Priority::kNormal, Priority::kLow})
    CHECK(ParsePriority(ToString(p)) == p);

  CHECK_FALSE(ParseWorkerMode("Loop"));
  CHECK_FALSE(ParseScope(""));
  CHECK_FALSE(ParseExecutionMode("exclusive "));
  CHECK_FALSE(ParsePriority("urgent"));
}

TEST_CASE("NewWorkerRecord fills in setWorker's defaults", "[record]") {
  WorkerRecord r = NewWorkerRecord("s-0001", {}, kNow);
  CHECK(IsUuid(r.sid));
  CHECK(std::regex_match(r.sid, kUuidV4));
  CHECK(r.nid == "s-0001");
  CHECK(r.active == false);
  CHECK(r.mode == WorkerMode::kLoop);
  CHECK(r.note == "Worker script Stels SDK " + r.sid + " - 2026-11-29T02:05:30.123Z");
  CHECK(r.script == DefaultWorkerScript());
  CHECK(r.script == "logger.info(\"Worker script initialized!\");");
  CHECK(r.dependencies == std::vector<std::string>{"gliesereum"});
  CHECK(r.version == "1.19.2");
  CHECK(r.timestamp == kNow);
  CHECK(r.scope == Scope::kLocal);
  CHECK(r.execution_mode == ExecutionMode::kParallel);
  CHECK(r.priority == Priority::kNormal);
  CHECK_FALSE(r.account_id);
  CHECK_FALSE(r.assigned_node);
  CHECK(ValidateRecord(r).ok());

  // Two records get different sids.
  CHECK(NewWorkerRecord("s-0001", {}, kNow).sid != r.sid);
}

TEST_CASE("NewWorkerRecord keeps fields already set", "[record]") {
  WorkerRecord f;
  f.sid = "11111111-2222-4333-8444-555555555555";
  f.nid = "s-0009";
  f.note = "my note";
  f.script = "return 1;";
  f.version = "2.0.0";
  f.timestamp = 42;
  f.active = true;
  f.mode = WorkerMode::kSingle;
  f.dependencies = {};
  f.scope = Scope::kNetwork;
  f.execution_mode = ExecutionMode::kExclusive;
  f.priority = Priority::kCritical;
  f.account_id = "acct";
  f.assigned_node = "s-0002";
  WorkerRecord r = NewWorkerRecord("s-0001", f, kNow);
  CHECK(r == f);

  // An empty version is filled in; a set sid changes the default note.
  WorkerRecord g;
  g.sid = f.sid;
  g.version = "";
  WorkerRecord r2 = NewWorkerRecord("s-0001", g, kNow);
  CHECK(r2.version == kDefaultRecordVersion);
  CHECK(r2.note == "Worker script Stels SDK 11111111-2222-4333-8444-555555555555 - " + IsoTime(kNow));
}

TEST_CASE("ValidateRecord rules and messages", "[record]") {
  CHECK(ValidationMessage(ValidRecord()) == "ok");

  SECTION("sid") {
    WorkerRecord r = ValidRecord();
    r.sid = "abc";
    CHECK(ValidationMessage(r) == "sid: \"abc\" is not a UUID");
    r.sid = "";
    CHECK(ValidationMessage(r) == "sid: \"\" is not a UUID");
    r.sid = "11111111-2222-4333-8444-55555555555g";
    CHECK(ValidationMessage(r) == "sid: \"11111111-2222-4333-8444-55555555555g\" is not a UUID");
    r.sid = "11111111-2222-4333-8444-555555555555";
    CHECK(ValidationMessage(r) == "ok");
  }
  SECTION("nid") {
    WorkerRecord r = ValidRecord();
    r.nid = "";
    CHECK(ValidationMessage(r) == "nid: must not be empty");
    r.nid = std::string(kMaxIdBytes, 'n');
    CHECK(ValidationMessage(r) == "ok");
    r.nid += "n";
    CHECK(ValidationMessage(r) == "nid: 129 bytes is over the 128-byte limit");
  }
  SECTION("version") {
    WorkerRecord r = ValidRecord();
    r.version = "";
    CHECK(ValidationMessage(r) == "version: must not be empty");
    r.version = std::string(65, '1');
    CHECK(ValidationMessage(r) == "version: 65 bytes is over the 64-byte limit");
  }
  SECTION("note") {
    WorkerRecord r = ValidRecord();
    r.note = "";
    CHECK(ValidationMessage(r) == "ok");
    r.note = std::string(kMaxNoteBytes, 'x');
    CHECK(ValidationMessage(r) == "ok");
    r.note += "x";
    CHECK(ValidationMessage(r) == "note: 2049 bytes is over the 2048-byte limit");
    r.note = "bad \xff utf-8";
    CHECK(ValidationMessage(r) == "note: is not valid UTF-8");
    r.note = "ünïcödé ✓ 😀";
    CHECK(ValidationMessage(r) == "ok");
  }
  SECTION("script") {
    WorkerRecord r = ValidRecord();
    r.script = std::string(kMaxScriptBytes, ' ');
    CHECK(ValidationMessage(r) == "ok");
    r.script = std::string(70000, ' ');
    CHECK(ValidationMessage(r) == "script: 70000 bytes is over the 61440-byte limit");
    r.script = "logger.info('\xc0\xaf');";   // overlong encoding
    CHECK(ValidationMessage(r) == "script: is not valid UTF-8");
  }
  SECTION("assignedNode") {
    WorkerRecord r = ValidRecord();
    r.execution_mode = ExecutionMode::kExclusive;
    CHECK(ValidationMessage(r) == "assignedNode: exclusive mode requires assignedNode");
    r.assigned_node = "";
    CHECK(ValidationMessage(r) == "assignedNode: exclusive mode requires assignedNode");
    r.assigned_node = "s-0002";
    CHECK(ValidationMessage(r) == "ok");
    r.execution_mode = ExecutionMode::kLeader;
    r.assigned_node.reset();
    CHECK(ValidationMessage(r) == "ok");
    r.assigned_node = std::string(129, 'a');
    CHECK(ValidationMessage(r) == "assignedNode: 129 bytes is over the 128-byte limit");
  }
  SECTION("accountId") {
    WorkerRecord r = ValidRecord();
    r.account_id = std::string(129, 'a');
    CHECK(ValidationMessage(r) == "accountId: 129 bytes is over the 128-byte limit");
    r.account_id = "bybit-main";
    CHECK(ValidationMessage(r) == "ok");
  }
  SECTION("dependencies") {
    WorkerRecord r = ValidRecord();
    r.dependencies = {"gliesereum", "bad\xfe"};
    CHECK(ValidationMessage(r) == "dependencies[1]: is not valid UTF-8");
    r.dependencies = {};
    CHECK(ValidationMessage(r) == "ok");
  }
}

TEST_CASE("RecordToJson uses the camelCase wire names", "[record]") {
  WorkerRecord r = ValidRecord();
  json raw = RecordToJson(r);
  std::set<std::string> keys;
  for (auto it = raw.begin(); it != raw.end(); ++it) keys.insert(it.key());
  CHECK(keys == std::set<std::string>{"sid", "nid", "active", "mode", "note", "script",
                                      "dependencies", "version", "timestamp", "scope",
                                      "executionMode", "priority", "accountId", "assignedNode"});
  CHECK(raw["sid"] == r.sid);
  CHECK(raw["nid"] == "s-0001");
  CHECK(raw["active"] == false);
  CHECK(raw["mode"] == "loop");
  CHECK(raw["dependencies"] == json::array({"gliesereum"}));
  CHECK(raw["version"] == "1.19.2");
  CHECK(raw["timestamp"] == kNow);
  CHECK(raw["timestamp"].is_number_integer());
  CHECK(raw["scope"] == "local");
  CHECK(raw["executionMode"] == "parallel");
  CHECK(raw["priority"] == "normal");
  CHECK(raw["accountId"].is_null());
  CHECK(raw["assignedNode"].is_null());
}

TEST_CASE("RecordToJson / RecordFromJson round trip", "[record]") {
  SECTION("defaults, null optionals") {
    WorkerRecord r = ValidRecord();
    auto back = RecordFromJson(RecordToJson(r));
    REQUIRE(back.ok());
    CHECK(*back == r);
    // Through text, as the store keeps it.
    auto back2 = RecordFromJson(json::parse(RecordToJson(r).dump()));
    REQUIRE(back2.ok());
    CHECK(*back2 == r);
  }
  SECTION("every field set") {
    WorkerRecord r = ValidRecord();
    r.active = true;
    r.mode = WorkerMode::kSingle;
    r.note = "multi\nline \"note\" ✓";
    r.script = "const x = `a\\nb`;\nreturn x;";
    r.dependencies = {"gliesereum", "ccxt"};
    r.version = "9.9.9";
    r.scope = Scope::kNetwork;
    r.execution_mode = ExecutionMode::kExclusive;
    r.priority = Priority::kLow;
    r.account_id = "acct-1";
    r.assigned_node = "s-0003";
    auto back = RecordFromJson(json::parse(RecordToJson(r).dump()));
    REQUIRE(back.ok());
    CHECK(*back == r);
  }
}

TEST_CASE("RecordFromJson: missing fields take defaults, extras are ignored", "[record]") {
  auto r = RecordFromJson(json::object());
  REQUIRE(r.ok());
  CHECK(*r == WorkerRecord{});

  auto r2 = RecordFromJson(json{{"sid", "11111111-2222-4333-8444-555555555555"},
                                {"active", true},
                                {"priority", "critical"},
                                {"_source", "local"},
                                {"somethingNew", {1, 2, 3}}});
  REQUIRE(r2.ok());
  CHECK(r2->sid == "11111111-2222-4333-8444-555555555555");
  CHECK(r2->active);
  CHECK(r2->priority == Priority::kCritical);
  CHECK(r2->dependencies == std::vector<std::string>{"gliesereum"});
  CHECK(r2->version == "1.19.2");

  // Date.now() arriving as a whole float is accepted.
  auto r3 = RecordFromJson(json::parse(R"({"timestamp": 1.7e12})"));
  REQUIRE(r3.ok());
  CHECK(r3->timestamp == 1700000000000);
}

TEST_CASE("RecordFromJson errors name the field", "[record]") {
  CHECK(ParseError(json::array()) == "raw: expected an object");
  CHECK(ParseError(nullptr) == "raw: expected an object");
  CHECK(ParseError({{"sid", 5}}) == "raw.sid: expected a string");
  CHECK(ParseError({{"nid", true}}) == "raw.nid: expected a string");
  CHECK(ParseError({{"note", nullptr}}) == "raw.note: expected a string");
  CHECK(ParseError({{"script", json::object()}}) == "raw.script: expected a string");
  CHECK(ParseError({{"version", 1.19}}) == "raw.version: expected a string");
  CHECK(ParseError({{"active", "true"}}) == "raw.active: expected a boolean");
  CHECK(ParseError({{"timestamp", "now"}}) == "raw.timestamp: expected an integer");
  CHECK(ParseError({{"timestamp", 1.5}}) == "raw.timestamp: expected an integer");
  CHECK(ParseError({{"dependencies", "gliesereum"}}) == "raw.dependencies: expected an array of strings");
  CHECK(ParseError({{"dependencies", json::array({"a", 2})}}) == "raw.dependencies[1]: expected a string");
  CHECK(ParseError({{"accountId", 7}}) == "raw.accountId: expected a string or null");
  CHECK(ParseError({{"assignedNode", json::array()}}) == "raw.assignedNode: expected a string or null");
  CHECK(ParseError({{"priority", "urgent"}}) == "raw.priority: \"urgent\" is not one of critical|high|normal|low");
  CHECK(ParseError({{"priority", 1}}) == "raw.priority: expected a string");
  CHECK(ParseError({{"mode", "forever"}}) == "raw.mode: \"forever\" is not one of loop|single");
  CHECK(ParseError({{"scope", "global"}}) == "raw.scope: \"global\" is not one of local|network");
  CHECK(ParseError({{"executionMode", "Leader"}}) ==
        "raw.executionMode: \"Leader\" is not one of parallel|leader|exclusive");

  // Null optionals are accepted.
  auto r = RecordFromJson({{"accountId", nullptr}, {"assignedNode", nullptr}});
  REQUIRE(r.ok());
  CHECK_FALSE(r->account_id);
  CHECK_FALSE(r->assigned_node);
}

TEST_CASE("stored value shape", "[record]") {
  WorkerRecord r = ValidRecord();
  r.timestamp = 1234;
  json v = RecordToStoredValue(r);
  std::set<std::string> keys;
  for (auto it = v.begin(); it != v.end(); ++it) keys.insert(it.key());
  CHECK(keys == std::set<std::string>{"channel", "module", "widget", "raw", "timestamp"});
  CHECK(v["channel"] == "ami.worker." + r.sid);
  CHECK(v["module"] == "worker");
  CHECK(v["widget"] == "widget.ami.worker." + r.sid);
  CHECK(v["raw"] == RecordToJson(r));
  CHECK(v["timestamp"] == 1234);
  CHECK(WorkerChannel(r.sid) == "ami.worker." + r.sid);

  auto back = RecordFromStoredValue(json::parse(v.dump()));
  REQUIRE(back.ok());
  CHECK(*back == r);

  CHECK(RecordFromStoredValue(json::array()).status().message() == "value: expected an object");
  CHECK(RecordFromStoredValue(json::object()).status().message() == "value.raw: expected an object");
  CHECK(RecordFromStoredValue({{"raw", "x"}}).status().message() == "value.raw: expected an object");
  CHECK(RecordFromStoredValue({{"raw", {{"active", 1}}}}).status().message() == "raw.active: expected a boolean");
}

TEST_CASE("ScriptHash is the first 8 hex digits of SHA-256", "[record]") {
  CHECK(ScriptHash("abc") == "ba7816bf");
  CHECK(ScriptHash("") == "e3b0c442");
  CHECK(ScriptHash(DefaultWorkerScript()) == "dcc022dd");
  CHECK(ScriptHash("abc").size() == 8);
  CHECK(ScriptHash("abd") != ScriptHash("abc"));
}

TEST_CASE("UUIDs", "[record]") {
  SECTION("v4 format and uniqueness") {
    std::set<std::string> seen;
    for (int i = 0; i < 10000; ++i) {
      std::string u = NewUuid();
      REQUIRE(std::regex_match(u, kUuidV4));
      REQUIRE(IsUuid(u));
      seen.insert(u);
    }
    CHECK(seen.size() == 10000);
  }
  SECTION("v5 is deterministic and matches RFC 4122 (Python uuid5)") {
    CHECK(NameUuid("s-0001/market-monitor") == NameUuid("s-0001/market-monitor"));
    CHECK(NameUuid("s-0001/market-monitor") != NameUuid("s-0002/market-monitor"));
    CHECK(std::regex_match(NameUuid("x"), kUuidV5));
    // uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, "ami:worker"), name)
    CHECK(std::string(kWorkerNamespaceUuid) == "8ff11c8a-0878-58fe-bec1-1244e2c6a3ca");
    CHECK(NameUuid("s-0001/market-monitor") == "64532597-8e0e-54c2-a2df-43029dfc49c9");
    CHECK(NameUuid("") == "46360b58-eeec-5cf4-a3dd-db12261e635d");
  }
  SECTION("IsUuid") {
    CHECK(IsUuid("11111111-2222-4333-8444-555555555555"));
    CHECK(IsUuid("ABCDEF01-2222-4333-8444-555555555555"));
    CHECK_FALSE(IsUuid(""));
    CHECK_FALSE(IsUuid("abc"));
    CHECK_FALSE(IsUuid("11111111222243338444555555555555"));
    CHECK_FALSE(IsUuid("11111111-2222-4333-8444-5555555555555"));
    CHECK_FALSE(IsUuid("11111111-2222-4333-8444-55555555555"));
    CHECK_FALSE(IsUuid("1111111-22222-4333-8444-555555555555"));
    CHECK_FALSE(IsUuid("{1111111-2222-4333-8444-555555555555"));
    CHECK_FALSE(IsUuid("g1111111-2222-4333-8444-555555555555"));
  }
}
