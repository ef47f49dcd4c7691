// The worker record's field table (runtime/model/worker_fields.h, issue #10): every
// member of WorkerRecord has exactly one row, and the JSON, YAML, template-override and
// shell spellings driven by it agree with each other and with the record.
#include <catch2/catch.hpp>

#include <cstddef>
#include <set>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "runtime/config/config.h"
#include "runtime/model/worker_fields.h"
#include "runtime/model/worker_template.h"
#include "tests/support/config_helpers.h"

using namespace ami;
using json = nlohmann::json;

namespace {

// The number of members of an aggregate: the most initializers `T{...}` accepts.
struct AnyValue {
  template <class T>
  operator T() const;
};
template <class T, size_t... I>
constexpr bool InitializableWith(std::index_sequence<I...>) {
  return requires { T{(void(I), AnyValue{})...}; };
}
template <class T, size_t N = 0>
constexpr size_t MemberCount() {
  if constexpr (N > 64 || !InitializableWith<T>(std::make_index_sequence<N + 1>{})) return N;
  else return MemberCount<T, N + 1>();
}

// A value of the field's kind that differs from its default.
json OtherValue(const WorkerField& f) {
  const json def = FieldDefault(f);
  switch (f.kind) {
    case FieldKind::kString:
      if (f.uuid) return "123e4567-e89b-42d3-a456-426614174000";
      return std::string(f.json_name) + "-value";
    case FieldKind::kOptionalId: return std::string(f.json_name) + "-id";
    case FieldKind::kBool: return !def.get<bool>();
    case FieldKind::kEnum:
      for (const auto& c : f.choices)
        if (c != def) return c;
      return def;
    case FieldKind::kInt64: return def.get<int64_t>() + 42;
    case FieldKind::kStringList: return json::array({"a", "b"});
  }
  return def;
}

// A record with every field set to OtherValue.
WorkerRecord AllOther() {
  WorkerRecord r;
  for (const auto& f : WorkerFields()) f.put(r, OtherValue(f));
  return r;
}

std::vector<std::string> Names(bool (*pick)(const WorkerField&)) {
  std::vector<std::string> out;
  for (const auto& f : WorkerFields())
    if (pick(f)) out.push_back(f.json_name);
  return out;
}

}  // namespace

TEST_CASE("every WorkerRecord member has exactly one row", "[fields]") {
  // A member added to WorkerRecord without a row makes the counts differ.
  STATIC_REQUIRE(MemberCount<WorkerRecord>() == 14);
  CHECK(WorkerFields().size() == MemberCount<WorkerRecord>());

  // Each row reaches its own member: setting one changes that row's value only.
  const WorkerRecord base;
  std::set<std::string> json_names, yaml_names;
  for (const auto& f : WorkerFields()) {
    INFO(f.json_name);
    CHECK(json_names.insert(f.json_name).second);
    if (f.yaml_name) CHECK(yaml_names.insert(f.yaml_name).second);
    WorkerRecord r;
    f.put(r, OtherValue(f));
    CHECK_FALSE(r == base);
    CHECK(f.get(r) == OtherValue(f));
    for (const auto& g : WorkerFields())
      if (&g != &f) CHECK(g.get(r) == g.get(base));
  }
}

TEST_CASE("the table's JSON names, uses and defaults", "[fields]") {
  CHECK(JsonFieldNames(FieldUse::kCreate) ==
        std::vector<std::string>{"script", "note", "mode", "priority", "executionMode", "scope", "accountId",
                                 "assignedNode", "dependencies", "version", "active"});
  std::vector<std::string> change = JsonFieldNames(FieldUse::kCreate);
  change.insert(change.end(), {"sid", "nid", "timestamp"});
  CHECK(JsonFieldNames(FieldUse::kChange) == change);
  CHECK(JsonFieldNames(FieldUse::kOverride) == JsonFieldNames(FieldUse::kCreate));

  CHECK(Names([](const WorkerField& f) { return f.immutable; }) == std::vector<std::string>{"sid", "nid"});
  CHECK(Names([](const WorkerField& f) { return f.server_set; }) == std::vector<std::string>{"timestamp"});
  CHECK(Names([](const WorkerField& f) { return !f.yaml_name; }) == std::vector<std::string>{"nid", "timestamp"});
  CHECK(Names([](const WorkerField& f) { return !f.put_override; }) == std::vector<std::string>{"nid", "timestamp"});

  REQUIRE(FindField("executionMode"));
  CHECK(FindField("executionMode")->yaml_name == std::string("execution_mode"));
  CHECK(FindField("executionMode")->choices == std::vector<std::string>{"parallel", "leader", "exclusive"});
  CHECK(FieldDefault(*FindField("executionMode")) == "parallel");
  CHECK(FieldDefault(*FindField("priority")) == "normal");
  CHECK(FieldDefault(*FindField("dependencies")) == json::array({"gliesereum"}));
  CHECK(FieldDefault(*FindField("accountId")).is_null());
  CHECK(FindField("execution_mode") == nullptr);
}

TEST_CASE("RecordToJson emits exactly the table's JSON names and round-trips every field", "[fields]") {
  const WorkerRecord r = AllOther();
  const json raw = RecordToJson(r);
  std::set<std::string> keys, names;
  for (const auto& [key, value] : raw.items()) keys.insert(key);
  for (const auto& f : WorkerFields()) names.insert(f.json_name);
  CHECK(keys == names);
  for (const auto& f : WorkerFields()) CHECK(raw[f.json_name] == OtherValue(f));

  auto back = RecordFromJson(raw);
  REQUIRE(back.ok());
  CHECK(*back == r);
  // Missing fields take their defaults.
  auto empty = RecordFromJson(json::object());
  REQUIRE(empty.ok());
  CHECK(*empty == WorkerRecord{});
}

TEST_CASE("wrong JSON types name the field in the record and request dialects", "[fields]") {
  const WorkerField& active = *FindField("active");
  CHECK(CheckFieldJson(active, "yes", "raw.active", JsonDialect::kRecord).message() ==
        "raw.active: expected a boolean");
  CHECK(CheckFieldJson(active, "yes", "active", JsonDialect::kRequest).message() == "active: expected true or false");
  const WorkerField& priority = *FindField("priority");
  CHECK(CheckFieldJson(priority, "urgent", "raw.priority", JsonDialect::kRecord).message() ==
        "raw.priority: \"urgent\" is not one of critical|high|normal|low");
  CHECK(CheckFieldJson(*FindField("dependencies"), json::array({"a", 2}), "x", JsonDialect::kRecord).message() ==
        "x[1]: expected a string");
  CHECK(CheckFieldJson(*FindField("timestamp"), 1.5, "raw.timestamp", JsonDialect::kRecord).message() ==
        "raw.timestamp: expected an integer");
  CHECK(CheckFieldJson(*FindField("accountId"), nullptr, "accountId", JsonDialect::kRequest).ok());
  for (const auto& f : WorkerFields()) {
    INFO(f.json_name);
    CHECK(CheckFieldJson(f, OtherValue(f), "x", JsonDialect::kRecord).ok());
    CHECK(CheckFieldJson(f, FieldDefault(f), "x", JsonDialect::kRecord).ok());
  }
}

TEST_CASE("template overrides: every override field parses, applies and clears", "[fields]") {
  json body = json::object();
  for (const auto& f : WorkerFields())
    if (f.put_override) body[f.json_name] = OtherValue(f);
  auto o = OverridesFromJson(body);
  REQUIRE(o.ok());
  for (const auto& f : WorkerFields()) {
    if (!f.put_override) continue;
    INFO(f.json_name);
    REQUIRE(f.has_override(*o));
    CHECK(f.get_override(*o) == OtherValue(f));
  }
  WorkerRecord applied;
  ApplyOverrides(*o, &applied);
  for (const auto& f : WorkerFields()) {
    INFO(f.json_name);
    CHECK(f.get(applied) == (f.put_override ? OtherValue(f) : FieldDefault(f)));
  }

  // null / "" ids mean "none"; scriptContent is script's alias.
  auto cleared = OverridesFromJson({{"accountId", nullptr}, {"assignedNode", ""}, {"scriptContent", "x"}});
  REQUIRE(cleared.ok());
  WorkerRecord with_ids = AllOther();
  ApplyOverrides(*cleared, &with_ids);
  CHECK_FALSE(with_ids.account_id);
  CHECK_FALSE(with_ids.assigned_node);
  CHECK(with_ids.script == "x");
  CHECK(with_ids.note == AllOther().note);  // not given, kept
}

TEST_CASE("YAML workers: every declarable field is read under its snake_case key", "[fields]") {
  using ami::test::config::Good;
  using ami::test::config::kNode;
  std::string yaml = kNode + "workers:\n  - name: w\n";
  std::set<std::string> given;
  for (const auto& f : WorkerFields()) {
    if (!f.yaml_name) continue;
    // JSON is YAML's flow syntax, so the wire form is a YAML value too.
    yaml += std::string("    ") + f.yaml_name + ": " + OtherValue(f).dump() + "\n";
    given.insert(f.yaml_name);
  }
  INFO(yaml);
  Config c = Good(yaml);
  REQUIRE(c.workers.size() == 1);
  const WorkerDeclaration& d = c.workers[0];
  given.insert("name");
  CHECK(d.given == given);
  for (const auto& f : WorkerFields()) {
    INFO(f.json_name);
    if (f.yaml_name) CHECK(f.get(d.record) == OtherValue(f));
    else if (f.json_name == std::string("nid")) CHECK(d.record.nid == "s-0001");
    else CHECK(f.get(d.record) == FieldDefault(f));
  }

  // A template declaration overrides exactly what it gives; active is true unless given.
  Config t = Good(kNode + "workers:\n  - name: t\n    template: grid\n    priority: low\n    account_id: null\n");
  TemplateOverrides o = DeclaredOverrides(t.workers[0]);
  CHECK(o.priority == Priority::kLow);
  CHECK(o.account_id == "");
  CHECK(o.active == true);
  CHECK_FALSE(o.mode);
  CHECK_FALSE(o.script);
  CHECK_FALSE(o.note);
  Config off = Good(kNode + "workers:\n  - name: t\n    template: grid\n    active: false\n    script: x\n");
  CHECK(off.workers[0].record.active == false);
  CHECK(DeclaredOverrides(off.workers[0]).active == false);
  CHECK(DeclaredOverrides(off.workers[0]).script == "x");
}

TEST_CASE("the shell spellings are the ones operators type", "[fields]") {
  std::vector<std::string> flags, create_only, clear;
  for (const auto& f : WorkerFields()) {
    if (f.shell.arg == ShellSpelling::Arg::kNone) continue;
    flags.push_back(std::string(f.json_name) + "=" + f.shell.flag + (*f.shell.short_flag ? "/" : "") +
                    f.shell.short_flag);
    if (!f.shell.on_set) create_only.push_back(f.shell.flag);
    if (f.shell.clear_flag) clear.push_back(f.shell.clear_flag);
    if (f.shell.arg == ShellSpelling::Arg::kChoice) CHECK(f.kind == FieldKind::kEnum);
  }
  CHECK(flags == std::vector<std::string>{"script=--script", "note=--note", "mode=--mode/-m",
                                          "priority=--priority/-p", "executionMode=--execution/-e",
                                          "scope=--scope", "accountId=--account", "assignedNode=--node-assigned",
                                          "active=--start"});
  CHECK(create_only == std::vector<std::string>{"--start"});
  CHECK(clear == std::vector<std::string>{"--no-account", "--no-node-assigned"});
}
