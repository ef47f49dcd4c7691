// Writing many workers at once (issue 15): the admin API's workers.createBatch — each
// record created or refused on its own, the reply listing every outcome — YAML
// declarations applied side by side, and the store's group commit with the meta rows
// declarations write, all in a real in-process node (LocalNode, what amid runs).
#include <catch2/catch.hpp>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <set>

#include "actors/local_node.h"
#include "actors/messages.h"
#include "actors/store_actor.h"
#include "runtime/node/worker_catalog.h"
#include "tests/gateway/http_client.h"
#include "tests/support/local_node_start.h"
#include "tests/support/test_support.h"

using namespace ami;
using ami::test::Eventually;
using ami::test::TempDir;
using json = nlohmann::json;

namespace {

const std::string kToken = "speed-batch-admin-token-0123";

std::string NodeYaml(const std::string& extra = "") {
  return "node: { id: s-0001, data_dir: ./data }\n"
         "admin: { listen: \"127.0.0.1:0\", token: " + kToken + " }\n"
         "limits: { stop_grace: 500ms }\n" + extra;
}

json Call(LocalNode& node, const std::string& op, const json& args) {
  const std::string text = node.Admin(kToken, json{{"op", op}, {"args", args}}.dump());
  auto reply = json::parse(text, nullptr, false);
  INFO(op << " -> " << text.substr(0, 2000));
  REQUIRE(reply.is_object());
  return reply;
}

json Ok(LocalNode& node, const std::string& op, const json& args) {
  json reply = Call(node, op, args);
  INFO(reply.dump().substr(0, 2000));
  REQUIRE(reply["ok"] == true);
  return reply["result"];
}

bool HasRun(LocalNode& node, const std::string& sid) {
  auto s = node.stats().Get(sid);
  return s && s->executions >= 1;
}

}  // namespace

TEST_CASE("workers.createBatch creates or refuses each record on its own and lists every outcome", "[batch]") {
  TempDir dir;
  auto node = ami::test::StartLocalNode(NodeYaml(), dir.path());
  const json records = json::array({
      {{"script", "globalThis.n = (globalThis.n || 0) + 1;"}, {"active", true}, {"priority", "high"}},
      {{"script", "const a = 1;\nconst b = ;"}, {"active", true}},           // syntax error
      {{"script", "return 1;"}, {"colour", "red"}},                          // unknown field
      "not an object",
      {{"script", "await Stels.local.set(['single-ran'], true);"}, {"active", true}, {"mode", "single"}},
      {{"priority", "urgent"}},                                              // bad value
      {{"note", "inactive, default script"}},
  });
  json result = Ok(*node, "workers.createBatch", {{"workers", records}});
  CHECK(result["created"] == 3);
  CHECK(result["failed"] == 4);
  const json& r = result["results"];
  REQUIRE(r.size() == records.size());
  CHECK(r[0]["ok"] == true);
  CHECK(r[4]["ok"] == true);
  CHECK(r[6]["ok"] == true);
  CHECK(r[1]["ok"] == false);
  CHECK(r[1]["error"]["code"] == "invalid");
  CHECK(r[1]["error"]["message"] == "script: SyntaxError: Unexpected token ';' (line 2)");
  CHECK(r[2]["error"]["code"] == "invalid");
  CHECK(r[2]["error"]["message"].get<std::string>().rfind("workers[2].colour: unknown field for workers.createBatch", 0) == 0);
  CHECK(r[3]["error"]["message"] == "workers[3]: expected an object, got string");
  CHECK(r[5]["error"]["code"] == "invalid");
  CHECK(r[5]["error"]["message"].get<std::string>().find("workers[5].priority") != std::string::npos);

  // Exactly the created ones exist, each with the fields it was given, and the active
  // ones run.
  std::set<std::string> created;
  for (size_t i : {0, 4, 6}) {
    const std::string sid = r[i]["sid"];
    CHECK(r[i]["versionstamp"].get<std::string>().size() == 20);
    created.insert(sid);
    json w = Ok(*node, "workers.get", {{"sid", sid}});
    CHECK(w["versionstamp"] == r[i]["versionstamp"]);
  }
  CHECK(created.size() == 3);
  CHECK(Ok(*node, "workers.list", json::object()).size() == 3);
  CHECK(Ok(*node, "workers.get", {{"sid", r[0]["sid"]}})["record"]["priority"] == "high");
  CHECK(Ok(*node, "workers.get", {{"sid", r[6]["sid"]}})["record"]["active"] == false);
  CHECK(Eventually([&] { return HasRun(*node, r[0]["sid"]); }));
  CHECK(Eventually([&] {
    auto e = node->KvGet(kv::Space::kLocal, kv::MakeKey({"single-ran"}));
    return e.ok() && e->has_value();
  }));
}

TEST_CASE("workers.createBatch over REST: POST /api/v1/workers/batch", "[batch]") {
  TempDir dir;
  auto node = ami::test::StartLocalNode(NodeYaml("http: { listen: \"127.0.0.1:0\" }\n"), dir.path());
  const ami::test::Headers auth = {{"Authorization", "Bearer " + kToken}, {"Content-Type", "application/json"}};
  const json body = {{"workers", json::array({{{"note", "over rest"}}, {{"script", "if ("}}})}};
  auto reply = ami::test::Must(ami::test::Fetch(node->http_port(), "POST", "/api/v1/workers/batch", auth, body.dump()));
  INFO(reply.body);
  REQUIRE(reply.status == 200);
  json result = json::parse(reply.body);
  CHECK(result["created"] == 1);
  CHECK(result["failed"] == 1);
  CHECK(result["results"][0]["ok"] == true);
  CHECK(result["results"][1]["error"]["code"] == "invalid");
  CHECK(Ok(*node, "workers.get", {{"sid", result["results"][0]["sid"]}})["record"]["note"] == "over rest");
  auto empty = ami::test::Must(ami::test::Fetch(node->http_port(), "POST", "/api/v1/workers/batch", auth, ""));
  CHECK(empty.status == 400);
}

TEST_CASE("workers.createBatch: bad arguments are refused whole, an empty batch creates nothing", "[batch]") {
  TempDir dir;
  auto node = ami::test::StartLocalNode(NodeYaml(), dir.path());
  auto fails = [&](const json& args) {
    json reply = Call(*node, "workers.createBatch", args);
    REQUIRE(reply["ok"] == false);
    CHECK(reply["error"]["code"] == "invalid");
    return reply["error"]["message"].get<std::string>();
  };
  CHECK(fails(json::object()) == "workers: required (an array of workers.create arguments)");
  CHECK(fails({{"workers", {{"script", "x"}}}}) == "workers: expected an array, got object");
  CHECK(fails({{"workers", json::array()}, {"atomic", true}}).rfind("atomic: unknown field", 0) == 0);
  json many = json::array();
  for (int i = 0; i < 5001; ++i) many.push_back(json::object());
  CHECK(fails({{"workers", many}}) == "workers: 5001 records; at most 5000 per request");
  json empty = Ok(*node, "workers.createBatch", {{"workers", json::array()}});
  CHECK(empty == json{{"created", 0}, {"failed", 0}, {"results", json::array()}});
  CHECK(Ok(*node, "workers.list", json::object()).empty());
}

TEST_CASE("workers.createBatch: 300 records in one request, all created and all running", "[batch]") {
  TempDir dir;
  auto node = ami::test::StartLocalNode(NodeYaml(), dir.path());
  json records = json::array();
  for (int i = 0; i < 300; ++i)
    records.push_back({{"script", "globalThis.i = " + std::to_string(i) + ";"}, {"active", true}, {"priority", "low"}});
  json result = Ok(*node, "workers.createBatch", {{"workers", records}});
  CHECK(result["created"] == 300);
  std::set<std::string> sids;
  for (const json& one : result["results"]) {
    REQUIRE(one["ok"] == true);
    sids.insert(one["sid"].get<std::string>());
  }
  CHECK(sids.size() == 300);
  CHECK(Eventually([&] {
    for (const auto& sid : sids)
      if (!HasRun(*node, sid)) return false;
    return true;
  }, std::chrono::seconds(120)));
  auto listed = node->KvList(kv::Space::kLocal, kv::MakeKey({"ami", "worker"}));
  REQUIRE(listed.ok());
  CHECK(listed->size() == 300);
}

TEST_CASE("declarations: many are applied side by side, and a restart applies none again", "[batch]") {
  TempDir dir;
  std::string yaml = NodeYaml("workers:\n");
  for (int i = 0; i < 60; ++i)
    yaml += "  - { name: d" + std::to_string(i) + ", priority: low, script: \"globalThis.d = " + std::to_string(i) +
            ";\" }\n";
  std::vector<std::string> sids;
  {
    auto config = ParseConfig(yaml, "t.yaml", dir.path());
    REQUIRE(config.ok());
    std::vector<std::string> log;
    auto node = LocalNode::Start(*config, &log);
    REQUIRE(node.ok());
    size_t created = 0;
    for (const auto& line : log) created += line.rfind("created declared worker d", 0) == 0;
    CHECK(created == 60);
    for (const auto& d : config->workers) sids.push_back(DeclaredSid(*config, d));
    CHECK(Eventually([&] {
      for (const auto& sid : sids)
        if (!HasRun(**node, sid)) return false;
      return true;
    }, std::chrono::seconds(60)));
  }
  // Every applied hash was written with its record: nothing is applied again...
  {
    auto config = ParseConfig(yaml, "t.yaml", dir.path());
    REQUIRE(config.ok());
    std::vector<std::string> log;
    auto node = LocalNode::Start(*config, &log);
    REQUIRE(node.ok());
    for (const auto& line : log) CHECK(line.find("declared worker") == std::string::npos);
  }
  // ...until one declaration changes; a syntax error in another names its place and
  // writes nothing for it.
  const std::string changed = std::string(yaml).replace(yaml.find("globalThis.d = 7;"), 17, "globalThis.d = 700;");
  const std::string broken = changed + "  - { name: bad, script: \"let x = ;\" }\n";
  {
    auto config = ParseConfig(broken, "t.yaml", dir.path());
    REQUIRE(config.ok());
    auto node = LocalNode::Start(*config);
    REQUIRE_FALSE(node.ok());
    CHECK(node.status().message().find("t.yaml:") != std::string::npos);
    CHECK(node.status().message().find("workers: bad: script: SyntaxError: Unexpected token ';' (line 1)") !=
          std::string::npos);
  }
  {
    auto config = ParseConfig(changed, "t.yaml", dir.path());
    REQUIRE(config.ok());
    std::vector<std::string> log;
    auto node = LocalNode::Start(*config, &log);
    REQUIRE(node.ok());
    auto record = (*node)->GetWorker(sids[7]);
    REQUIRE(record.ok());
    REQUIRE(record->has_value());
    CHECK((*record)->script == "globalThis.d = 700;");
    // d7 was updated by the broken start already (each record is written on its own),
    // so this start has nothing left to apply.
    for (const auto& line : log) CHECK(line.find("declared worker") == std::string::npos);
  }
}

TEST_CASE("store actor: commits and meta writes sent together are all durable, and a meta read sees them",
          "[batch]") {
  TempDir dir;
  auto opened = kv::Store::Open(dir / "node.db", kv::StoreOptions{"s-0001"});
  REQUIRE(opened.ok());
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::ami>();
  cfg.set("logger.verbosity", caf::atom("quiet"));
  {
    caf::actor_system system{cfg};
    StoreActor store = SpawnStoreActor(system, std::move(*opened));
    caf::scoped_actor self{system};
    using CommitHandle = decltype(self->request(store, std::chrono::seconds(30), kv_atom_v, kv::Request{}));
    using MetaHandle = decltype(self->request(store, std::chrono::seconds(30), meta_atom_v, std::string(), std::string()));
    std::vector<CommitHandle> commits;
    std::vector<MetaHandle> metas;
    for (int i = 0; i < 200; ++i) {
      kv::Request req;
      req.op = kv::Request::Op::kCommit;
      req.space = kv::Space::kLocal;
      req.mutations.push_back(kv::Mutation{kv::Mutation::Kind::kSet, kv::MakeKey({"k", std::to_string(i)}), std::to_string(i), std::nullopt});
      commits.push_back(self->request(store, std::chrono::seconds(30), kv_atom_v, std::move(req)));
      metas.push_back(self->request(store, std::chrono::seconds(30), meta_atom_v, "m" + std::to_string(i), std::to_string(i)));
    }
    // Read-your-writes: a read sent after the writes sees the last of them.
    std::string read;
    self->request(store, std::chrono::seconds(30), meta_atom_v, std::string("m199"))
        .receive([&](std::string& v) { read = v; }, [](caf::error&) {});
    CHECK(read == "199");
    std::set<uint64_t> stamps;
    for (auto& h : commits)
      h.receive([&](kv::Reply& reply) {
        CHECK(reply.status.ok());
        CHECK(reply.commit.ok);
        stamps.insert(reply.commit.versionstamp);
      }, [](caf::error&) { FAIL("commit unanswered"); });
    for (auto& h : metas) h.receive([](bool ok) { CHECK(ok); }, [](caf::error&) { FAIL("meta write unanswered"); });
    CHECK(stamps.size() == 200);  // each commit its own versionstamp, shared fsync or not
    self->send_exit(store, caf::exit_reason::user_shutdown);
  }
  auto again = kv::Store::Open(dir / "node.db", kv::StoreOptions{"s-0001"});
  REQUIRE(again.ok());
  for (int i = 0; i < 200; ++i) {
    auto e = (*again)->Get(kv::Space::kLocal, kv::MakeKey({"k", std::to_string(i)}));
    REQUIRE(e.ok());
    REQUIRE(e->has_value());
    CHECK((*e)->value == std::to_string(i));
    auto m = (*again)->GetMeta("m" + std::to_string(i));
    REQUIRE(m.ok());
    CHECK(m->value_or("") == std::to_string(i));
  }
}
