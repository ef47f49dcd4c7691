// Records the node reads from its store are checked before they run (issue 9, item 3):
// a worker record whose raw.sid is not the sid of its key is refused, and a leader record
// holding an absurd term does not stop the lease from being granted.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "actors/local_node.h"
#include "actors/messages.h"
#include "runtime/node/worker_catalog.h"
#include "tests/support/local_node_start.h"
#include "tests/support/test_support.h"

using namespace ami;
using ami::test::Eventually;
using ami::test::TempDir;
using json = nlohmann::json;

namespace {

const std::string kToken = "t0ken-stored-records-test";

std::unique_ptr<LocalNode> StartNode(const TempDir& dir) {
  return ami::test::StartLocalNode("node: { id: s-0001, data_dir: ./data }\n"
                                  "admin: { listen: \"127.0.0.1:0\", token: " + kToken + " }\n"
                                  "limits: { stop_grace: 500ms }\n",
                                  dir.path());
}

json Ok(LocalNode& node, const std::string& op, const json& args) {
  const std::string text = node.Admin(kToken, json{{"op", op}, {"args", args}}.dump());
  auto reply = json::parse(text, nullptr, false);
  INFO(op << " -> " << text);
  REQUIRE(reply.is_object());
  REQUIRE(reply["ok"] == true);
  return reply["result"];
}

void Put(LocalNode& node, kv::Space space, const kv::Key& key, const std::string& value) {
  kv::Request put;
  put.op = kv::Request::Op::kCommit;
  put.space = space;
  put.mutations.push_back(kv::Mutation{kv::Mutation::Kind::kSet, key, value, std::nullopt});
  auto reply = node.Kv(std::move(put));
  REQUIRE(reply.ok());
  REQUIRE(reply->status.ok());
}

}  // namespace

TEST_CASE("a stored worker record runs only when it is valid and raw.sid is its key's sid", "[records]") {
  TempDir dir;
  auto node = StartNode(dir);
  json w = Ok(*node, "workers.create",
              {{"script", "await Stels.sleep(50);"}, {"active", true}, {"mode", "loop"}, {"scope", "local"}});
  const std::string sid = w["sid"].get<std::string>();
  REQUIRE(Eventually([&] { return node->RunningWorkers() == 1; }));
  auto stored = node->KvGet(kv::Space::kLocal, WorkerKey(sid));
  REQUIRE(stored.ok());
  REQUIRE(stored->has_value());
  const json value = json::parse((*stored)->value);

  // The same record under another key: refused, nothing more runs.
  const std::string other = "0b5e2f1c-3a4d-4e6f-8a9b-0c1d2e3f4a5b";
  Put(*node, kv::Space::kLocal, WorkerKey(other), value.dump());
  // A record whose raw is not valid (exclusive without assignedNode) under its own key.
  json invalid = value;
  const std::string third = "1c6f3a2d-4b5e-4f70-9bac-1d2e3f4a5b6c";
  invalid["raw"]["sid"] = third;
  invalid["raw"]["executionMode"] = "exclusive";
  invalid["raw"].erase("assignedNode");
  Put(*node, kv::Space::kLocal, WorkerKey(third), invalid.dump());
  // A valid one with a matching sid does run: the check is not refusing everything.
  json good = value;
  const std::string fourth = "2d7a4b3e-5c6f-4a81-acbd-2e3f4a5b6c7d";
  good["raw"]["sid"] = fourth;
  Put(*node, kv::Space::kLocal, WorkerKey(fourth), good.dump());
  REQUIRE(Eventually([&] { return node->RunningWorkers() == 2; }));
  CHECK(node->RunningWorkers() == 2);

  // The checks themselves (LoadWorkerRecords applies them at start-up too).
  CHECK_FALSE(ReadStoredRecord(other, value.dump()).ok());
  CHECK(ReadStoredRecord(other, value.dump()).status().message().find("differs from the sid in its key") !=
        std::string::npos);
  CHECK_FALSE(ReadStoredRecord(third, invalid.dump()).ok());
  CHECK(ReadStoredRecord(fourth, good.dump()).ok());
  CHECK_FALSE(SidOfWorkerKey(kv::MakeKey({"ami", "worker", sid, "x"})));
  CHECK(SidOfWorkerKey(WorkerKey(sid)) == sid);
  node->Shutdown(std::chrono::seconds(10));
}

TEST_CASE("a leader record with an absurd term does not stop the lease from being granted", "[records]") {
  TempDir dir;
  auto node = StartNode(dir);
  json w = Ok(*node, "workers.create",
              {{"script", "await Stels.sleep(50);"}, {"active", false}, {"executionMode", "leader"}, {"scope", "network"}});
  const std::string sid = w["sid"].get<std::string>();
  // What a script (past the keyspace guard) or a forged peer row could leave behind.
  const json forged{{"leader", "s-0666"}, {"workerId", sid}, {"term", uint64_t{1} << 63}, {"timestamp", 1},
                    {"expiresAt", 1}, {"renewedAt", 1}, {"resigned", true}};
  Put(*node, kv::Space::kNetwork, kv::MakeKey({"ami", "leader", sid}), forged.dump());
  Ok(*node, "workers.start", {{"sid", sid}});
  json info;
  REQUIRE(Eventually([&] {
    info = Ok(*node, "leader.info", {{"sid", sid}});
    return info["hasLeader"] == true;
  }));
  INFO(info.dump());
  CHECK(info["leader"] == "s-0001");
  CHECK(info["term"].get<uint64_t>() < (uint64_t{1} << 40));
  CHECK(Eventually([&] { return node->RunningWorkers() == 1; }));
  node->Shutdown(std::chrono::seconds(10));
}
