// The admin service (docs/admin-api.md) inside a real in-process node with the paper
// exchange and the template pack: every operation, its validation and error codes, and
// one client through real CAF remoting as the `ami` shell connects. Over 600 lines: one
// case per operation group, all on the same fixture, read top to bottom like admin-api.md.
#include <catch2/catch.hpp>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/remote_actor.hpp>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "actors/local_node.h"
#include "actors/messages.h"
#include "runtime/base/clock.h"
#include "runtime/node/worker_catalog.h"
#include "tests/support/local_node_start.h"
#include "tests/support/test_support.h"
#include "transport/caf_tls.h"

using namespace ami;
using ami::test::Eventually;
using ami::test::TempDir;
using json = nlohmann::json;

namespace {

const std::string kToken = "t0ken-admin-test-value";  // at least 16 bytes, as the loader requires

std::string NodeYaml(const std::string& extra = "") {
  return "node: { id: s-0001, data_dir: ./data }\n"
         "admin: { listen: \"127.0.0.1:0\", token: " + kToken + " }\n"
         "limits: { stop_grace: 500ms }\n"
         "execution:\n"
         "  critical_backoff: { initial: 1ms, factor: 1, max: 1ms }\n"
         "  network_backoff: { initial: 1ms, factor: 1, max: 1ms }\n"
         "plugins: { dirs: [\"" + (ami::test::BinaryDir() / "plugins").string() + "\"] }\n"
         "exchanges:\n"
         "  bybit: { connector: paper, clock: manual }\n"
         "accounts:\n"
         "  g-bhts: { exchange: bybit, api_key: K1-api-key, secret: S1-very-secret }\n" +
         extra;
}

std::unique_ptr<LocalNode> StartNode(const TempDir& dir, const std::string& extra = "") {
  return ami::test::StartLocalNode(NodeYaml(extra), dir.path());
}

// The reply to {op, args}, parsed.
json Call(LocalNode& node, const std::string& op, const json& args = json::object(), const std::string& token = kToken) {
  const std::string text = node.Admin(token, json{{"op", op}, {"args", args}}.dump());
  auto reply = json::parse(text, nullptr, false);
  INFO(op << " -> " << text);
  REQUIRE(reply.is_object());
  return reply;
}

json Ok(LocalNode& node, const std::string& op, const json& args = json::object()) {
  json reply = Call(node, op, args);
  INFO(op << " " << args.dump() << " -> " << reply.dump());
  REQUIRE(reply["ok"] == true);
  return reply["result"];
}

// The error {code, message} of a request that must fail.
json Fails(LocalNode& node, const std::string& op, const json& args = json::object(), const std::string& token = kToken) {
  json reply = Call(node, op, args, token);
  INFO(op << " " << args.dump() << " -> " << reply.dump());
  REQUIRE(reply["ok"] == false);
  REQUIRE(reply["error"]["code"].is_string());
  REQUIRE(reply["error"]["message"].is_string());
  return reply["error"];
}

json FailsRaw(LocalNode& node, const std::string& request) {
  auto reply = json::parse(node.Admin(kToken, request), nullptr, false);
  INFO(request << " -> " << reply.dump());
  REQUIRE(reply.is_object());
  REQUIRE(reply["ok"] == false);
  return reply["error"];
}

bool Contains(const json& error, const std::string& text) {
  return error["message"].get<std::string>().find(text) != std::string::npos;
}

json Get(LocalNode& node, const std::string& sid) { return Ok(node, "workers.get", {{"sid", sid}}); }

bool Running(LocalNode& node, const std::string& sid) { return Get(node, sid)["running"] == true; }

const std::regex kVersionstamp("^[0-9a-f]{20}$");

}  // namespace

TEST_CASE("admin: a wrong or missing token is refused, changes nothing and is never echoed or logged", "[admin]") {
  // Capture everything the node logs while this test runs (installed before the node's
  // threads exist: spdlog's sink list is not guarded).
  auto ring = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
  auto logger = spdlog::default_logger();
  logger->sinks().push_back(ring);
  const auto level = logger->level();
  logger->set_level(spdlog::level::trace);
  TempDir dir;
  auto node = StartNode(dir);

  for (const std::string& token : {std::string(), std::string("wr0ng-secret"), kToken + "x", std::string("t0ke")}) {
    const std::string text = node->Admin(token, R"({"op":"workers.create","args":{"active":true}})");
    auto reply = json::parse(text);
    CHECK(reply["ok"] == false);
    CHECK(reply["error"]["code"] == "unauthorized");
    if (!token.empty()) CHECK(text.find(token) == std::string::npos);
  }
  // A bad token is refused before the request is even parsed.
  CHECK(json::parse(node->Admin("nope", "not json"))["error"]["code"] == "unauthorized");
  CHECK(Ok(*node, "workers.list").empty());
  CHECK(Ok(*node, "workers.create", {{"active", true}})["sid"].is_string());  // the right token works
  REQUIRE(Eventually([&] { return node->RunningWorkers() == 1; }));
  node.reset();

  logger->set_level(level);
  logger->sinks().pop_back();
  CHECK(ring->last_formatted().size() > 0);  // it did capture the node's log
  for (const auto& line : ring->last_formatted()) {
    INFO(line);
    CHECK(line.find("wr0ng-secret") == std::string::npos);
    CHECK(line.find(kToken) == std::string::npos);
  }
}

TEST_CASE("admin: create, get, list, update, start, stop, delete", "[admin]") {
  TempDir dir;
  auto node = StartNode(dir);

  // create: the setWorker defaults
  json w = Ok(*node, "workers.create");
  const std::string sid = w["sid"];
  CHECK(IsUuid(sid));
  CHECK(std::regex_match(w["versionstamp"].get<std::string>(), kVersionstamp));
  CHECK(w["source"] == "local");
  CHECK(w["running"] == false);
  CHECK(w["status"] == "stopped");
  const json& r = w["record"];
  CHECK(r["sid"] == sid);
  CHECK(r["nid"] == "s-0001");
  CHECK(r["active"] == false);
  CHECK(r["mode"] == "loop");
  CHECK(r["priority"] == "normal");
  CHECK(r["executionMode"] == "parallel");
  CHECK(r["scope"] == "local");
  CHECK(r["dependencies"] == json::array({"gliesereum"}));
  CHECK(r["version"] == "1.19.2");
  CHECK(r["accountId"].is_null());
  CHECK(r["assignedNode"].is_null());
  CHECK(r["script"] == DefaultWorkerScript());
  CHECK(r["note"].get<std::string>().rfind("Worker script Stels SDK " + sid + " - ", 0) == 0);
  CHECK(r["timestamp"].get<int64_t>() > 0);

  // It is in the store, where the node reads records.
  auto stored = node->GetWorker(sid);
  REQUIRE(stored.ok());
  REQUIRE(stored->has_value());
  CHECK((*stored)->note == r["note"].get<std::string>());

  // get / list
  CHECK(Get(*node, sid) == w);
  json second = Ok(*node, "workers.create",
                   {{"note", "second"}, {"priority", "high"}, {"scope", "network"}, {"accountId", "g-bhts"},
                    {"dependencies", json::array()}, {"mode", "single"}, {"version", "2.0"}});
  CHECK(second["source"] == "network");
  CHECK(second["record"]["note"] == "second");
  CHECK(second["record"]["priority"] == "high");
  CHECK(second["record"]["accountId"] == "g-bhts");
  CHECK(second["record"]["mode"] == "single");
  CHECK(second["record"]["dependencies"] == json::array());
  json list = Ok(*node, "workers.list");
  REQUIRE(list.size() == 2);
  CHECK(list[0]["sid"] < list[1]["sid"]);
  std::set<std::string> sids{list[0]["sid"].get<std::string>(), list[1]["sid"].get<std::string>()};
  CHECK(sids == std::set<std::string>{sid, second["sid"].get<std::string>()});

  // update: shallow merge, server timestamp, new versionstamp
  const std::string script = "logger.info('updated');";
  json updated = Ok(*node, "workers.update", {{"sid", sid}, {"changes", {{"note", "renamed"}, {"script", script}, {"timestamp", 1}}}});
  CHECK(updated["record"]["note"] == "renamed");
  CHECK(updated["record"]["script"] == script);
  CHECK(updated["record"]["priority"] == "normal");  // untouched
  CHECK(updated["record"]["timestamp"].get<int64_t>() >= r["timestamp"].get<int64_t>());
  CHECK(updated["record"]["timestamp"] != 1);
  CHECK(updated["versionstamp"] > w["versionstamp"]);
  // A whole record sent back (as the editor does) is fine while sid/nid stay the same.
  json whole = updated["record"];
  whole["note"] = "whole";
  CHECK(Ok(*node, "workers.update", {{"sid", sid}, {"changes", whole}})["record"]["note"] == "whole");
  // accountId: "" and null clear
  CHECK(Ok(*node, "workers.update", {{"sid", sid}, {"changes", {{"accountId", "g-bhts"}}}})["record"]["accountId"] == "g-bhts");
  CHECK(Ok(*node, "workers.update", {{"sid", sid}, {"changes", {{"accountId", ""}}}})["record"]["accountId"].is_null());

  // start: the node runs it
  json started = Ok(*node, "workers.start", {{"sid", sid}});
  CHECK(started["record"]["active"] == true);
  REQUIRE(Eventually([&] { return Running(*node, sid); }));
  CHECK(Get(*node, sid)["status"] == "running");
  // start again: nothing written
  json again = Ok(*node, "workers.start", {{"sid", sid}});
  CHECK(again["versionstamp"] == Get(*node, sid)["versionstamp"]);

  // stop
  CHECK(Ok(*node, "workers.stop", {{"sid", sid}})["record"]["active"] == false);
  REQUIRE(Eventually([&] { return !Running(*node, sid); }));
  CHECK(Get(*node, sid)["status"] == "stopped");
  REQUIRE(Eventually([&] { return node->RunningWorkers() == 0; }));  // the actor ends right after

  // delete: gone from both spaces
  json deleted = Ok(*node, "workers.delete", {{"sid", sid}});
  CHECK(deleted == json{{"sid", sid}, {"deleted", true}});
  CHECK(Fails(*node, "workers.get", {{"sid", sid}})["code"] == "not_found");
  CHECK(Fails(*node, "workers.delete", {{"sid", sid}})["code"] == "not_found");
  CHECK(Ok(*node, "workers.delete", {{"sid", second["sid"]}})["deleted"] == true);
  // A record left in both spaces (a scope move cut short) goes from both.
  const std::string both = Ok(*node, "workers.create")["sid"];
  {
    auto record = node->GetWorker(both);
    REQUIRE(record.ok());
    REQUIRE(record->has_value());
    kv::Request put;
    put.op = kv::Request::Op::kCommit;
    put.space = kv::Space::kNetwork;
    put.mutations.push_back({kv::Mutation::Kind::kSet, WorkerKey(both), RecordToStoredValue(**record).dump(), std::nullopt});
    REQUIRE(node->Kv(std::move(put)).ok());
  }
  // One entry per sid: the record in force, which is the local copy (docs/worker-records.md).
  json listed = Ok(*node, "workers.list");
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["source"] == "local");
  CHECK(Ok(*node, "workers.delete", {{"sid", both}})["deleted"] == true);
  CHECK(Ok(*node, "workers.list").empty());
  CHECK(node->KvList(kv::Space::kLocal, kv::MakeKey({"ami", "worker"}))->empty());
  CHECK(node->KvList(kv::Space::kNetwork, kv::MakeKey({"ami", "worker"}))->empty());
}

TEST_CASE("admin: stopAll stops every worker of both spaces", "[admin]") {
  TempDir dir;
  auto node = StartNode(dir);
  json none = Ok(*node, "workers.stopAll");
  CHECK(none == json{{"message", "No workers found"}, {"total", 0}, {"stopped", 0}, {"failed", 0},
                     {"errors", json::array()}, {"workers", json::array()}});

  const std::string a = Ok(*node, "workers.create", {{"active", true}})["sid"];
  const std::string b = Ok(*node, "workers.create", {{"active", true}, {"scope", "network"}})["sid"];
  const std::string c = Ok(*node, "workers.create")["sid"];
  REQUIRE(Eventually([&] { return Running(*node, a) && Running(*node, b); }));

  json result = Ok(*node, "workers.stopAll");
  CHECK(result["message"] == "All workers stopped");
  CHECK(result["total"] == 3);
  CHECK(result["stopped"] == 3);
  CHECK(result["failed"] == 0);
  std::map<std::string, std::string> status;
  for (const auto& w : result["workers"]) status[w["sid"].get<std::string>()] = w["status"].get<std::string>();
  CHECK(status == std::map<std::string, std::string>{{a, "stopped"}, {b, "stopped"}, {c, "already_stopped"}});
  for (const auto& sid : {a, b, c}) CHECK(Get(*node, sid)["record"]["active"] == false);
  REQUIRE(Eventually([&] { return node->RunningWorkers() == 0; }));
}

TEST_CASE("admin: a stale versionstamp is a conflict and changes nothing", "[admin]") {
  TempDir dir;
  auto node = StartNode(dir);
  json w = Ok(*node, "workers.create", {{"note", "v1"}});
  const std::string sid = w["sid"];
  const std::string v1 = w["versionstamp"];
  json w2 = Ok(*node, "workers.update", {{"sid", sid}, {"versionstamp", v1}, {"changes", {{"note", "v2"}}}});
  const std::string v2 = w2["versionstamp"];
  CHECK(v2 != v1);

  // v1 is stale now
  json err = Fails(*node, "workers.update", {{"sid", sid}, {"versionstamp", v1}, {"changes", {{"note", "v3"}}}});
  CHECK(err["code"] == "conflict");
  CHECK(Contains(err, sid));
  CHECK(Get(*node, sid) == w2);
  CHECK(Fails(*node, "workers.delete", {{"sid", sid}, {"versionstamp", v1}})["code"] == "conflict");
  CHECK(Get(*node, sid) == w2);
  // A scope move with a stale versionstamp moves nothing either.
  CHECK(Fails(*node, "workers.update", {{"sid", sid}, {"versionstamp", v1}, {"changes", {{"scope", "network"}}}})["code"] ==
        "conflict");
  CHECK(Get(*node, sid) == w2);
  CHECK(!node->KvGet(kv::Space::kNetwork, WorkerKey(sid))->has_value());

  // The current one works, as text or as the number it stands for.
  auto number = kv::ParseVersionstamp(v2);
  REQUIRE(number.ok());
  json w3 = Ok(*node, "workers.update", {{"sid", sid}, {"versionstamp", *number}, {"changes", {{"note", "v3"}}}});
  CHECK(w3["record"]["note"] == "v3");
  CHECK(Ok(*node, "workers.delete", {{"sid", sid}, {"versionstamp", w3["versionstamp"]}})["deleted"] == true);
}

TEST_CASE("admin: concurrent updates of one worker never lose one another", "[admin]") {
  TempDir dir;
  auto node = StartNode(dir);
  json w = Ok(*node, "workers.create");
  const std::string sid = w["sid"];
  // Each client changes one field; all of them must land, whatever the interleaving
  // (including a scope move in the middle).
  const std::vector<json> changes = {{{"note", "n"}},          {{"priority", "high"}},
                                     {{"mode", "single"}},     {{"version", "9.9"}},
                                     {{"dependencies", json::array({"x"})}}, {{"accountId", "g-bhts"}},
                                     {{"executionMode", "exclusive"}, {"assignedNode", "s-0002"}},
                                     {{"scope", "network"}}};
  std::vector<std::string> replies(changes.size());
  std::vector<std::thread> clients;
  for (size_t i = 0; i < changes.size(); ++i)
    clients.emplace_back([&, i] {
      replies[i] = node->Admin(kToken, json{{"op", "workers.update"}, {"args", {{"sid", sid}, {"changes", changes[i]}}}}.dump());
    });
  for (auto& t : clients) t.join();
  for (const auto& reply : replies) {
    INFO(reply);
    CHECK(json::parse(reply)["ok"] == true);
  }
  json r = Get(*node, sid)["record"];
  for (const auto& change : changes)
    for (const auto& [field, value] : change.items()) {
      INFO(field);
      CHECK(r[field] == value);
    }
  CHECK(Get(*node, sid)["source"] == "network");

  // With the same versionstamp, exactly one of several writers wins.
  const std::string vs = Get(*node, sid)["versionstamp"];
  std::vector<std::string> racing(4);
  clients.clear();
  for (size_t i = 0; i < racing.size(); ++i)
    clients.emplace_back([&, i] {
      racing[i] = node->Admin(kToken, json{{"op", "workers.update"},
                                           {"args", {{"sid", sid}, {"versionstamp", vs}, {"changes", {{"note", "w" + std::to_string(i)}}}}}}
                                          .dump());
    });
  for (auto& t : clients) t.join();
  int won = 0, conflicts = 0;
  for (const auto& reply : racing) {
    json j = json::parse(reply);
    if (j["ok"] == true) ++won;
    else if (j["error"]["code"] == "conflict") ++conflicts;
  }
  CHECK(won == 1);
  CHECK(conflicts == 3);
}

TEST_CASE("admin: a scope change moves the record and the worker keeps running", "[admin]") {
  TempDir dir;
  auto node = StartNode(dir);
  const std::string sid = Ok(*node, "workers.create", {{"active", true}})["sid"];
  REQUIRE(Eventually([&] { return Running(*node, sid); }));

  json moved = Ok(*node, "workers.update", {{"sid", sid}, {"changes", {{"scope", "network"}}}});
  CHECK(moved["source"] == "network");
  CHECK(moved["record"]["scope"] == "network");
  CHECK(!node->KvGet(kv::Space::kLocal, WorkerKey(sid))->has_value());
  CHECK(node->KvGet(kv::Space::kNetwork, WorkerKey(sid))->has_value());
  CHECK(Get(*node, sid)["source"] == "network");
  REQUIRE(Ok(*node, "workers.list").size() == 1);

  json back = Ok(*node, "workers.update", {{"sid", sid}, {"changes", {{"scope", "local"}}}});
  CHECK(back["source"] == "local");
  CHECK(!node->KvGet(kv::Space::kNetwork, WorkerKey(sid))->has_value());
  REQUIRE(Eventually([&] { return Running(*node, sid); }));
  CHECK(node->RunningWorkers() == 1);
}

TEST_CASE("admin: malformed requests are refused with the field named, and change nothing", "[admin]") {
  TempDir dir;
  auto node = StartNode(dir);
  json w = Ok(*node, "workers.create", {{"note", "keep"}});
  const std::string sid = w["sid"];

  auto invalid = [&](const json& error, const std::string& text) {
    INFO(error.dump());
    CHECK(error["code"] == "invalid");
    CHECK(Contains(error, text));
  };
  invalid(FailsRaw(*node, "not json"), "request: not valid JSON");
  invalid(FailsRaw(*node, "[1,2]"), "request: expected an object");
  invalid(FailsRaw(*node, R"({"args":{}})"), "op: required");
  invalid(FailsRaw(*node, R"({"op":7})"), "op: expected a string");
  invalid(FailsRaw(*node, R"({"op":"workers.list","args":[]})"), "args: expected an object");
  invalid(FailsRaw(*node, R"({"op":"workers.list","id":1})"), "id: unknown field");
  invalid(FailsRaw(*node, std::string(2 << 20, ' ')), "over the");
  invalid(FailsRaw(*node, std::string(500000, '[')), "request: nested deeper than 64 levels");
  invalid(FailsRaw(*node, std::string(100, '[') + std::string(100, ']')), "request: nested deeper");
  invalid(FailsRaw(*node, R"({"op":"workers.list","args":{"a":")" + std::string(100, '[') + R"("}})"), "a: unknown field");
  json unknown = Fails(*node, "worker.list");
  invalid(unknown, "unknown operation \"worker.list\"");
  CHECK(Contains(unknown, "workers.list"));  // the known ones are listed
  CHECK(Contains(unknown, "logs.tail"));

  invalid(Fails(*node, "workers.get"), "sid: required");
  invalid(Fails(*node, "workers.get", {{"sid", 42}}), "sid: expected a string");
  invalid(Fails(*node, "workers.get", {{"sid", "abc"}}), "sid: \"abc\" is not a worker id");
  invalid(Fails(*node, "workers.get", {{"sid", sid}, {"verbose", true}}), "verbose: unknown field for workers.get");
  invalid(Fails(*node, "workers.list", {{"all", true}}), "all: unknown field");

  // create
  invalid(Fails(*node, "workers.create", {{"priority", "urgent"}}), "priority: \"urgent\" is not one of critical|high|normal|low");
  invalid(Fails(*node, "workers.create", {{"executionMode", "solo"}}), "executionMode");
  invalid(Fails(*node, "workers.create", {{"mode", 1}}), "mode: expected a string");
  invalid(Fails(*node, "workers.create", {{"active", "yes"}}), "active");
  invalid(Fails(*node, "workers.create", {{"executionMode", "exclusive"}}), "assignedNode: exclusive mode requires assignedNode");
  invalid(Fails(*node, "workers.create", {{"sid", "8ff11c8a-0878-58fe-bec1-1244e2c6a3ca"}}), "sid: unknown field");
  invalid(Fails(*node, "workers.create", {{"colour", "red"}}), "colour: unknown field");
  json syntax = Fails(*node, "workers.create", {{"script", "logger.info('a');\nif (x {\n"}});
  invalid(syntax, "script: SyntaxError");
  CHECK(Contains(syntax, "(line 2)"));
  CHECK(Ok(*node, "workers.list").size() == 1);
  // exclusive with assignedNode is fine
  CHECK(Ok(*node, "workers.create", {{"executionMode", "exclusive"}, {"assignedNode", "s-0002"}})["record"]["assignedNode"] ==
        "s-0002");

  // update
  invalid(Fails(*node, "workers.update", {{"sid", sid}}), "changes: required");
  invalid(Fails(*node, "workers.update", {{"sid", sid}, {"changes", "note"}}), "changes: expected an object");
  invalid(Fails(*node, "workers.update", {{"sid", sid}, {"changes", {{"colour", "red"}}}}), "changes.colour: unknown field");
  invalid(Fails(*node, "workers.update", {{"sid", sid}, {"changes", {{"priority", "urgent"}}}}),
          "changes.priority: \"urgent\" is not one of critical|high|normal|low");
  invalid(Fails(*node, "workers.update", {{"sid", sid}, {"changes", {{"note", 5}}}}), "changes.note: expected a string");
  invalid(Fails(*node, "workers.update", {{"sid", sid}, {"changes", {{"nid", "s-0009"}}}}), "changes.nid: is immutable");
  invalid(Fails(*node, "workers.update", {{"sid", sid}, {"changes", {{"sid", NewUuid()}}}}), "changes.sid: is immutable");
  invalid(Fails(*node, "workers.update", {{"sid", sid}, {"changes", {{"executionMode", "exclusive"}}}}),
          "exclusive mode requires assignedNode");
  json bad_script = Fails(*node, "workers.update", {{"sid", sid}, {"changes", {{"script", "\n\nlet = ;"}}}});
  invalid(bad_script, "script: SyntaxError");
  CHECK(Contains(bad_script, "(line 3)"));
  invalid(Fails(*node, "workers.update", {{"sid", sid}, {"versionstamp", "xyz"}, {"changes", json::object()}}), "versionstamp");
  invalid(Fails(*node, "workers.update", {{"sid", sid}, {"versionstamp", true}, {"changes", json::object()}}), "versionstamp");
  CHECK(Get(*node, sid) == w);  // nothing changed

  // unknown workers
  const std::string ghost = NewUuid();
  for (const char* op : {"workers.get", "workers.start", "workers.stop", "workers.delete", "leader.info"}) {
    json e = Fails(*node, op, {{"sid", ghost}});
    CHECK(e["code"] == "not_found");
    CHECK(Contains(e, ghost));
  }
  CHECK(Fails(*node, "workers.update", {{"sid", ghost}, {"changes", {{"note", "x"}}}})["code"] == "not_found");
  CHECK(Fails(*node, "stats", {{"sid", ghost}})["code"] == "not_found");

  // other operations' arguments
  invalid(Fails(*node, "logs.tail", {{"sid", sid}, {"lines", 0}}), "lines: expected an integer between 1 and 10000");
  invalid(Fails(*node, "logs.tail", {{"sid", sid}, {"lines", "ten"}}), "lines");
  invalid(Fails(*node, "logs.tail", {{"sid", sid}, {"cursor", "nope"}}), "cursor");
  invalid(Fails(*node, "stats", {{"cluster", "yes"}}), "cluster: expected true or false");
  invalid(Fails(*node, "templates.get"), "id: required");
  invalid(Fails(*node, "faults.set", {{"drop", json::array()}}), "fault injection is off");
  CHECK(Get(*node, sid) == w);
}

TEST_CASE("admin: templates list, get and create a running worker", "[admin]") {
  TempDir dir;
  auto node = StartNode(dir);
  json list = Ok(*node, "templates.list");
  std::set<std::string> ids;
  for (const auto& t : list) {
    ids.insert(t["id"].get<std::string>());
    for (const char* field : {"name", "description", "category", "executionMode", "priority", "mode", "scope", "pack"}) {
      INFO(t.dump() << " " << field);
      CHECK(t[field].is_string());
    }
    CHECK(!t.contains("script"));
  }
  CHECK(ids == std::set<std::string>{"grid-trading", "dca-strategy", "market-monitor", "balance-monitor",
                                     "price-aggregator", "health-check", "log-cleanup", "empty"});
  for (const auto& t : list) {
    if (t["id"] != "grid-trading") continue;
    CHECK(t["executionMode"] == "leader");
    CHECK(t["priority"] == "critical");
  }

  json empty = Ok(*node, "templates.get", {{"id", "empty"}});
  CHECK(empty["id"] == "empty");
  CHECK(!empty["script"].get<std::string>().empty());
  json unknown = Fails(*node, "templates.get", {{"id", "nope"}});
  CHECK(unknown["code"] == "not_found");
  CHECK(Contains(unknown, "grid-trading"));
  CHECK(Fails(*node, "templates.create", {{"template", "nope"}})["code"] == "not_found");
  json bad = Fails(*node, "templates.create", {{"template", "empty"}, {"overrides", {{"priority", "urgent"}}}});
  CHECK(bad["code"] == "invalid");
  CHECK(Contains(bad, "overrides.priority"));
  CHECK(Contains(Fails(*node, "templates.create", {{"template", "empty"}, {"overrides", {{"sid", NewUuid()}}}}),
                 "overrides.sid: unknown field"));
  CHECK(Contains(Fails(*node, "templates.create", {{"template", "log-cleanup"}, {"overrides", {{"assignedNode", nullptr}}}}),
                 "exclusive mode requires assignedNode"));
  CHECK(Ok(*node, "workers.list").empty());

  json w = Ok(*node, "templates.create", {{"template", "empty"}, {"overrides", {{"active", true}, {"note", "mine"}, {"priority", "low"}}}});
  const std::string sid = w["sid"];
  CHECK(w["record"]["note"] == "mine");
  CHECK(w["record"]["priority"] == "low");
  CHECK(w["record"]["script"] == empty["script"]);
  CHECK(w["record"]["active"] == true);
  REQUIRE(Eventually([&] { return Running(*node, sid); }));
  // Without overrides: inactive, template defaults.
  json plain = Ok(*node, "templates.create", {{"template", "health-check"}});
  CHECK(plain["record"]["active"] == false);
  CHECK(plain["record"]["priority"] == "low");
}

TEST_CASE("admin: logs.tail returns the last lines and follows with a cursor across rotation", "[admin]") {
  TempDir dir;
  // Small files, so the worker's log rotates while we follow it.
  auto node = StartNode(dir, "log: { worker_file_size: 4KB, worker_files: 3 }\n");
  const std::string script =
      "let i = 0;\n"
      "while (!shouldStop()) { logger.info('tick ' + i++); await Stels.sleep(5); }\n";
  const std::string sid = Ok(*node, "workers.create", {{"script", script}, {"mode", "single"}, {"active", true}})["sid"];

  std::regex tick(R"(\[INFO\] tick (\d+)$)");
  auto number = [&](const std::string& line) {
    std::smatch m;
    INFO(line);
    REQUIRE(std::regex_search(line, m, tick));
    return std::stol(m[1]);
  };

  json tail;
  REQUIRE(Eventually([&] {
    tail = Ok(*node, "logs.tail", {{"sid", sid}, {"lines", 5}});
    return tail["lines"].size() == 5;
  }));
  CHECK(tail["more"] == false);
  long last = -1;
  for (const auto& line : tail["lines"]) {
    const long n = number(line);
    if (last >= 0) CHECK(n == last + 1);
    last = n;
  }

  // Follow: every line exactly once, in order, while the file rotates (4 KB ≈ 80 lines).
  std::string cursor = tail["cursor"];
  long followed = 0;
  REQUIRE(Eventually([&] {
    json next = Ok(*node, "logs.tail", {{"sid", sid}, {"cursor", cursor}});
    for (const auto& line : next["lines"]) {
      const long n = number(line);
      REQUIRE(n == last + 1);
      last = n;
      ++followed;
    }
    cursor = next["cursor"];
    return followed >= 300;
  }, std::chrono::seconds(60)));
  CHECK(std::filesystem::exists(dir / "data" / "logs" / "workers" / (sid + ".log.1")));

  // Without a cursor, more lines than the current file holds come from the rotated ones too.
  json many = Ok(*node, "logs.tail", {{"sid", sid}, {"lines", 150}});
  REQUIRE(many["lines"].size() == 150);
  for (size_t i = 1; i < many["lines"].size(); ++i) CHECK(number(many["lines"][i]) == number(many["lines"][i - 1]) + 1);

  // A worker that never ran has no log yet: empty, and the cursor picks the file up later.
  json quiet = Ok(*node, "workers.create", {{"script", "logger.info('hello from quiet');"}, {"mode", "single"}});
  json none = Ok(*node, "logs.tail", {{"sid", quiet["sid"]}});
  CHECK(none["lines"].empty());
  Ok(*node, "workers.start", {{"sid", quiet["sid"]}});
  REQUIRE(Eventually([&] {
    json next = Ok(*node, "logs.tail", {{"sid", quiet["sid"]}, {"cursor", none["cursor"]}});
    // (a single-mode worker also logs that it finished)
    return !next["lines"].empty() && next["lines"][0].get<std::string>().find("hello from quiet") != std::string::npos;
  }));
  // No record and no log: not found.
  CHECK(Fails(*node, "logs.tail", {{"sid", NewUuid()}})["code"] == "not_found");
}

TEST_CASE("admin: kv get, set, list and delete, and the node's own keys are refused", "[admin]") {
  TempDir dir;
  auto node = StartNode(dir);
  for (const auto& space : {std::string("local"), std::string("network")}) {
    INFO(space);
    const json key = {"prices", "BTC", 1};
    json set = Ok(*node, "kv.set", {{"space", space}, {"key", key}, {"value", {{"last", 100.5}, {"tags", {"a"}}}}});
    REQUIRE(std::regex_match(set["versionstamp"].get<std::string>(), kVersionstamp));
    json got = Ok(*node, "kv.get", {{"space", space}, {"key", key}});
    CHECK(got["key"] == key);
    CHECK(got["value"] == json{{"last", 100.5}, {"tags", {"a"}}});
    CHECK(got["versionstamp"] == set["versionstamp"]);
    // Stored as JSON text, as scripts see it.
    auto entry = node->KvGet(space == "local" ? kv::Space::kLocal : kv::Space::kNetwork,
                             {kv::KeyPart::String("prices"), kv::KeyPart::String("BTC"), kv::KeyPart::Number(1)});
    REQUIRE(entry.ok());
    REQUIRE(entry->has_value());
    CHECK(json::parse((*entry)->value) == got["value"]);

    Ok(*node, "kv.set", {{"space", space}, {"key", {"prices", "ETH"}}, {"value", 7}});
    Ok(*node, "kv.set", {{"space", space}, {"key", {"other"}}, {"value", nullptr}});
    json list = Ok(*node, "kv.list", {{"space", space}, {"prefix", {"prices"}}});
    REQUIRE(list.size() == 2);
    CHECK(list[0]["key"] == key);
    CHECK(list[1]["key"] == json{"prices", "ETH"});
    CHECK(list[1]["value"] == 7);
    CHECK(Ok(*node, "kv.list", {{"space", space}, {"prefix", {"prices"}}, {"limit", 1}}).size() == 1);
    CHECK(Ok(*node, "kv.get", {{"space", space}, {"key", {"other"}}})["value"].is_null());

    CHECK(Ok(*node, "kv.delete", {{"space", space}, {"key", {"prices", "ETH"}}}) == json{{"deleted", true}});
    json missing = Fails(*node, "kv.get", {{"space", space}, {"key", {"prices", "ETH"}}});
    CHECK(missing["code"] == "not_found");
    CHECK(Contains(missing, "[\"prices\",\"ETH\"]"));

    // Expiry: gone once expireIn has passed.
    Ok(*node, "kv.set", {{"space", space}, {"key", {"short"}}, {"value", 1}, {"expireIn", 50}});
    REQUIRE(Eventually([&] { return Call(*node, "kv.get", {{"space", space}, {"key", {"short"}}})["ok"] == false; }));
  }
  // The node's own keys: readable, never written through kv.*
  const std::string sid = Ok(*node, "workers.create")["sid"];
  CHECK(Ok(*node, "kv.get", {{"space", "local"}, {"key", {"ami", "worker", sid}}})["value"]["raw"]["sid"] == sid);
  for (const auto& op : {std::string("kv.set"), std::string("kv.delete")}) {
    json args = {{"space", "local"}, {"key", {"ami", "worker", sid}}};
    if (op == "kv.set") args["value"] = 1;
    json e = Fails(*node, op, args);
    CHECK(e["code"] == "invalid");
    CHECK(Contains(e, "workers."));
  }
  CHECK(Get(*node, sid)["record"]["sid"] == sid);

  // bad arguments
  CHECK(Contains(Fails(*node, "kv.get", {{"space", "global"}, {"key", {"a"}}}), "space: \"global\" is not one of local|network"));
  CHECK(Contains(Fails(*node, "kv.get", {{"key", {"a"}}}), "space: required"));
  CHECK(Contains(Fails(*node, "kv.get", {{"space", "local"}, {"key", "a"}}), "key: expected an array"));
  CHECK(Contains(Fails(*node, "kv.get", {{"space", "local"}, {"key", json::array()}}), "key: must not be empty"));
  CHECK(Contains(Fails(*node, "kv.get", {{"space", "local"}, {"key", {"a", {{"x", 1}}}}}), "key part 1"));
  CHECK(Contains(Fails(*node, "kv.list", {{"space", "local"}, {"prefix", 3}}), "prefix: expected an array"));
  CHECK(Contains(Fails(*node, "kv.set", {{"space", "local"}, {"key", {"a"}}}), "value: required"));
  CHECK(Contains(Fails(*node, "kv.set", {{"space", "local"}, {"key", {"a"}}, {"value", 1}, {"expireIn", -5}}), "expireIn"));
  CHECK(Contains(Fails(*node, "kv.set", {{"space", "local"}, {"key", {"a"}}, {"value", std::string(70000, 'x')}}),
                 "value: "));
  CHECK(Fails(*node, "kv.get", {{"space", "local"}, {"key", {"a"}}})["code"] == "not_found");  // nothing was written
}

TEST_CASE("admin: stats for the node, one worker and the cluster carry the error breakdown", "[admin]") {
  TempDir dir;
  auto node = StartNode(dir);
  // Alternates a network-class error and a critical one.
  const std::string script =
      "globalThis.n = (globalThis.n || 0) + 1;\n"
      "if (globalThis.n % 2) { const e = new Error('net down ' + n); e.name = 'NetworkError'; throw e; }\n"
      "throw new Error('boom ' + n);\n";
  const std::string sid = Ok(*node, "workers.create", {{"script", script}, {"priority", "critical"}, {"active", true}})["sid"];
  const std::string idle = Ok(*node, "workers.create")["sid"];

  json s;
  REQUIRE(Eventually([&] {
    s = Ok(*node, "stats", {{"sid", sid}});
    return s["networkErrors"].get<uint64_t>() >= 2 && s["criticalErrors"].get<uint64_t>() >= 2;
  }));
  CHECK(s["sid"] == sid);
  CHECK(s["node"] == "s-0001");
  CHECK(s["errors"].get<uint64_t>() >= 4);
  CHECK(s["lastError"].is_string());
  CHECK((s["lastErrorType"] == "network" || s["lastErrorType"] == "critical"));
  CHECK(s["errorRate"].get<std::string>().back() == '%');

  json summary = Ok(*node, "stats");
  CHECK(summary["node"] == "s-0001");
  CHECK(summary["totalErrors"].get<uint64_t>() >= 4);
  CHECK(summary["totalNetworkErrors"].get<uint64_t>() >= 2);
  CHECK(summary["totalCriticalErrors"].get<uint64_t>() >= 2);
  REQUIRE(summary["workers"].is_array());
  bool listed = false;
  for (const auto& w : summary["workers"]) listed = listed || w["sid"] == sid;
  CHECK(listed);

  // A worker with no stats yet gets zero counters.
  json zero = Ok(*node, "stats", {{"sid", idle}});
  CHECK(zero["executions"] == 0);
  CHECK(zero["status"] == "stopped");

  json cluster = Ok(*node, "stats", {{"cluster", true}});
  REQUIRE(cluster["nodes"].contains("s-0001"));
  CHECK(cluster["unreachable"] == json::array());
  CHECK(cluster["totals"]["nodes"] == 1);
  CHECK(cluster["totals"]["totalErrors"].get<uint64_t>() >= 4);
  CHECK(cluster["totals"]["totalNetworkErrors"].get<uint64_t>() >= 2);
  CHECK(cluster["totals"]["totalCriticalErrors"].get<uint64_t>() >= 2);
  CHECK(cluster["totals"]["errorRate"].get<std::string>().back() == '%');
  json one = Ok(*node, "stats", {{"cluster", true}, {"sid", sid}});
  CHECK(one["sid"] == sid);
  REQUIRE(one["nodes"].contains("s-0001"));
  CHECK(one["nodes"]["s-0001"]["sid"] == sid);
  CHECK(one["totals"]["totalWorkers"] == 1);
}

TEST_CASE("admin: leader.info", "[admin]") {
  TempDir dir;
  auto node = StartNode(dir);
  CHECK(Contains(Fails(*node, "leader.info", {{"sid", Ok(*node, "workers.create")["sid"]}}), "is not in leader mode"));

  // A leader-mode worker on one node: the node is its own majority and runs it.
  const std::string running = Ok(*node, "workers.create", {{"executionMode", "leader"}, {"active", true}})["sid"];
  REQUIRE(Eventually([&] { return Running(*node, running); }));
  // The lease holder (the cluster actor) writes ["ami","leader",sid]: this part depends on it.
  json info;
  REQUIRE(Eventually([&] {
    info = Ok(*node, "leader.info", {{"sid", running}});
    return info["hasLeader"] == true;
  }));
  CHECK(info["workerId"] == running);
  CHECK(info["leader"] == "s-0001");
  CHECK(info["term"].get<int64_t>() >= 1);
  CHECK(info["expiresIn"].get<int64_t>() > 0);
  CHECK(info["expiresIn"].get<int64_t>() <= info["expiresAt"].get<int64_t>() - info["renewedAt"].get<int64_t>());
  CHECK(info["isExpired"] == false);
  // Stopped: the holder resigns; the last term stays visible.
  Ok(*node, "workers.stop", {{"sid", running}});
  REQUIRE(Eventually([&] {
    info = Ok(*node, "leader.info", {{"sid", running}});
    return info["hasLeader"] == false;
  }));
  CHECK(info["message"] == "No leader elected yet");
  CHECK(info["lastLeader"] == "s-0001");
  CHECK(info["lastTerm"].get<int64_t>() >= 1);

  // The shape, from a leader record as the lease holder writes it (an inactive worker,
  // so no lease holder touches the key).
  const std::string sid = Ok(*node, "workers.create", {{"executionMode", "leader"}})["sid"];
  CHECK(Ok(*node, "leader.info", {{"sid", sid}}) ==
        json{{"workerId", sid}, {"hasLeader", false}, {"message", "No leader elected yet"}});
  auto put = [&](const json& value) {
    kv::Request req;
    req.op = kv::Request::Op::kCommit;
    req.space = kv::Space::kNetwork;
    req.mutations.push_back({kv::Mutation::Kind::kSet, kv::MakeKey({"ami", "leader", sid}), value.dump(), std::nullopt});
    auto reply = node->Kv(std::move(req));
    REQUIRE(reply.ok());
    REQUIRE(reply->status.ok());
  };
  const int64_t now = WallMillis();
  json record = {{"leader", "s-0002"}, {"workerId", sid}, {"term", 7}, {"timestamp", now - 5000},
                 {"expiresAt", now + 60000}, {"renewedAt", now - 1000}};
  put(record);
  info = Ok(*node, "leader.info", {{"sid", sid}});
  CHECK(info["workerId"] == sid);
  CHECK(info["hasLeader"] == true);
  CHECK(info["leader"] == "s-0002");
  CHECK(info["term"] == 7);
  CHECK(info["timestamp"] == now - 5000);
  CHECK(info["expiresAt"] == now + 60000);
  CHECK(info["renewedAt"] == now - 1000);
  CHECK(info["expiresIn"].get<int64_t>() <= 60000);
  CHECK(info["expiresIn"].get<int64_t>() > 0);
  CHECK(info["isExpired"] == false);

  record["expiresAt"] = now - 10;
  put(record);
  info = Ok(*node, "leader.info", {{"sid", sid}});
  CHECK(info["hasLeader"] == true);
  CHECK(info["expiresIn"] == 0);
  CHECK(info["isExpired"] == true);

  record["resigned"] = true;
  put(record);
  CHECK(Ok(*node, "leader.info", {{"sid", sid}}) == json{{"workerId", sid}, {"hasLeader", false},
                                                         {"message", "No leader elected yet"}, {"lastTerm", 7},
                                                         {"lastLeader", "s-0002"}});
  put(json{{"leader", 5}});
  json bad = Fails(*node, "leader.info", {{"sid", sid}});
  CHECK(bad["code"] == "internal");
  CHECK(Contains(bad, "leader"));
}

TEST_CASE("admin: plugins, node info and members, with no secrets", "[admin]") {
  TempDir dir;
  auto node = StartNode(dir);
  const std::string text = node->Admin(kToken, R"({"op":"plugins.list"})");
  CHECK(text.find("S1-very-secret") == std::string::npos);
  CHECK(text.find("K1-api-key") == std::string::npos);
  json plugins = json::parse(text)["result"];
  std::set<std::string> ids;
  for (const auto& p : plugins["plugins"]) ids.insert(p["id"].get<std::string>());
  CHECK(ids.count("paper") == 1);
  CHECK(plugins["exchanges"] == json::array({{{"id", "bybit"}, {"connector", "paper"}, {"available", true}}}));
  CHECK(plugins["accounts"] == json::array({{{"id", "g-bhts"}, {"exchange", "bybit"}}}));

  json info = Ok(*node, "node.info");
  CHECK(info["node"] == "s-0001");
  CHECK(info["cluster"].is_null());
  CHECK(info["network"] == "local");
  CHECK(info["version"].is_string());
  CHECK(info["runSlots"] == node->run_slots());
  CHECK(info["admin"]["auth"] == "token");
  CHECK(info["admin"]["listen"] == "127.0.0.1:0");
  CHECK(info["startedAt"].get<int64_t>() <= WallMillis());
  CHECK(info["workersRunning"] == 0);
  const std::string sid = Ok(*node, "workers.create", {{"active", true}})["sid"];
  REQUIRE(Eventually([&] { return Running(*node, sid); }));
  CHECK(Ok(*node, "node.info")["workersRunning"] == 1);

  json members = Ok(*node, "nodes.list");
  CHECK(members["self"] == "s-0001");
  CHECK(members["size"] == 1);
  REQUIRE(members["nodes"].size() == 1);
  CHECK(members["nodes"][0]["id"] == "s-0001");
  CHECK(members["nodes"][0]["state"] == "self");
}

TEST_CASE("admin: a client in another actor system, through CAF remoting", "[admin]") {
  TempDir dir;
  auto node = StartNode(dir);
  REQUIRE(node->admin_port() != 0);

  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::ami>();
  // The node made its own CA (no tls: section); an operator on this machine uses it.
  ami::transport::UseTls(cfg, ami::transport::OperatorFilesIn(dir / "data" / "tls"));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system client{cfg};
  auto admin = caf::openssl::remote_actor(client, "127.0.0.1", node->admin_port());
  REQUIRE(admin);
  caf::scoped_actor self{client};
  auto ask = [&](const std::string& token, const std::string& request) {
    std::string out;
    self->request(*admin, std::chrono::seconds(60), admin_atom_v, token, request)
        .receive([&](std::string& reply) { out = std::move(reply); },
                 [&](caf::error& err) { FAIL("remote admin request failed: " << caf::to_string(err)); });
    return json::parse(out);
  };

  json created = ask(kToken, R"({"op":"workers.create","args":{"active":true,"note":"remote"}})");
  REQUIRE(created["ok"] == true);
  const std::string sid = created["result"]["sid"];
  CHECK(ask(kToken, R"({"op":"workers.list"})")["result"][0]["record"]["note"] == "remote");
  CHECK(ask("bad", R"({"op":"workers.list"})")["error"]["code"] == "unauthorized");
  REQUIRE(Eventually([&] { return Running(*node, sid); }));

  // Something that is not an admin request gets an error, not silence; an exit request
  // from another process is ignored. The service keeps answering.
  bool refused = false;
  self->request(*admin, std::chrono::seconds(30), admin_atom_v, kToken)
      .receive([&](std::string&) {}, [&](caf::error&) { refused = true; });
  CHECK(refused);
  self->send_exit(*admin, caf::exit_reason::user_shutdown);
  CHECK(ask(kToken, R"({"op":"node.info"})")["result"]["node"] == "s-0001");
  CHECK(ask(kToken, R"({"op":"workers.stop","args":{"sid":")" + sid + R"("}})")["ok"] == true);
  REQUIRE(Eventually([&] { return !Running(*node, sid); }));
}

TEST_CASE("admin: with no token configured, <data_dir>/admin.token is required, and faults.set works with fault injection", "[admin]") {
  TempDir dir;
  // An operator's own token file is used as it is (amid_test covers the generated one).
  ami::test::WriteFile(dir / "data" / "admin.token", kToken + "\n");
  auto started = ami::test::StartLocalNode(
      "node: { id: s-0001, data_dir: ./data }\n"
      "admin: { listen: \"127.0.0.1:0\" }\n"
      "cluster: { name: t1, secret: s3cret-cluster, listen: \"127.0.0.1:0\", fault_injection: true }\n",
      dir.path());
  LocalNode& node = *started;
  // No token in the config: the file's token is required; no token or another is refused.
  for (const std::string& token : {std::string(), std::string("anything")}) {
    json reply = json::parse(node.Admin(token, R"({"op":"node.info"})"));
    CHECK(reply["ok"] == false);
    CHECK(reply["error"]["code"] == "unauthorized");
  }
  json info = Ok(node, "node.info");
  CHECK(info["admin"]["auth"] == "token");
  CHECK(info["cluster"] == "t1");
  CHECK(info["network"] == "t1");
  json members = Ok(node, "nodes.list");
  CHECK(members["cluster"] == "t1");
  CHECK(members["self"] == "s-0001");

  json dropped = Ok(node, "faults.set", {{"drop", {"s-0002"}}});
  CHECK(dropped["drop"] == json::array({"s-0002"}));
  CHECK(Ok(node, "faults.set", {{"drop", json::array()}})["drop"] == json::array());
  CHECK(Contains(Fails(node, "faults.set"), "drop: required unless commit_delay_ms is given"));
  CHECK(Contains(Fails(node, "faults.set", {{"drop", {1}}}), "drop[0]: expected a node id"));
  // The slow disk of the fault trials: every store commit sleeps first; writes still land.
  CHECK(Ok(node, "faults.set", {{"commit_delay_ms", 50}})["commit_delay_ms"] == 50);
  Ok(node, "kv.set", {{"space", "local"}, {"key", {"slow", 1}}, {"value", 1}});
  CHECK(Ok(node, "kv.get", {{"space", "local"}, {"key", {"slow", 1}}})["value"] == 1);
  CHECK(Ok(node, "faults.set", {{"commit_delay_ms", 0}})["commit_delay_ms"] == 0);
  CHECK(Contains(Fails(node, "faults.set", {{"commit_delay_ms", -1}}), "commit_delay_ms: expected milliseconds from 0 to 10000"));
  CHECK(Contains(Fails(node, "faults.set", {{"commit_delay_ms", 20000}}), "commit_delay_ms: expected milliseconds"));
  CHECK(Contains(Fails(node, "faults.set", {{"commit_delay_ms", "80"}}), "commit_delay_ms: expected milliseconds"));
  // Held reconnects (the regression test of fault-trial seed 1107), alone or with a drop.
  CHECK(Ok(node, "faults.set", {{"reconnect_hold_ms", 60000}})["reconnect_hold_ms"] == 60000);
  json both = Ok(node, "faults.set", {{"drop", json::array()}, {"reconnect_hold_ms", 0}});
  CHECK(both["reconnect_hold_ms"] == 0);
  CHECK(both["drop"] == json::array());
  CHECK(Contains(Fails(node, "faults.set", {{"reconnect_hold_ms", -1}}), "reconnect_hold_ms: expected milliseconds from 0 to 600000"));
  CHECK(Contains(Fails(node, "faults.set", {{"reconnect_hold_ms", 600001}}), "reconnect_hold_ms: expected milliseconds"));
  CHECK(Contains(Fails(node, "faults.set", {{"reconnect_hold_ms", "x"}}), "reconnect_hold_ms: expected milliseconds"));
  // Held pull answers and a long pull timeout (the regression test of seed 1001).
  json pulls = Ok(node, "faults.set", {{"pull_hold_ms", 1000}, {"pull_timeout_ms", 0}});
  CHECK(pulls["pull_hold_ms"] == 1000);
  CHECK(pulls["pull_timeout_ms"] == 0);
  CHECK(Ok(node, "faults.set", {{"pull_hold_ms", 0}})["pull_hold_ms"] == 0);
  for (const char* knob : {"pull_hold_ms", "pull_timeout_ms"}) {
    CHECK(Contains(Fails(node, "faults.set", {{knob, -1}}), std::string(knob) + ": expected milliseconds from 0 to 600000"));
    CHECK(Contains(Fails(node, "faults.set", {{knob, 600001}}), std::string(knob) + ": expected milliseconds"));
    CHECK(Contains(Fails(node, "faults.set", {{knob, 1.5}}), std::string(knob) + ": expected milliseconds"));
  }
  for (const char* op : {"node.info", "nodes.list", "plugins.list", "stats"})
    CHECK(node.Admin(kToken, json{{"op", op}}.dump()).find("s3cret-cluster") == std::string::npos);
}
