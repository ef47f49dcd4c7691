// WebFIX against a real node (LocalNode with http: and wallets) over real HTTP: a test
// client plays the STELS web editor (tests/gateway/stels_wallet.h) — login with a fresh
// wallet, every editor method with its reply checked field by field against
// shared/design/webfix-gateway.md, sessions missing/forged/expired/surviving a restart,
// roles from http.wallets, CORS on every reply.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "actors/local_node.h"
#include "runtime/config/config.h"
#include "tests/gateway/http_client.h"
#include "tests/gateway/stels_wallet.h"
#include "tests/support/test_support.h"

using namespace ami;
using ami::test::Eventually;
using ami::test::Fetch;
using ami::test::Must;
using ami::test::StelsWallet;
using ami::test::TempDir;
using json = nlohmann::json;

namespace {

const std::string kToken = "webfix-node-test-token";
const std::string kOrigin = "https://live.stels.io";

std::string List(const std::vector<const StelsWallet*>& wallets) {
  std::string out = "[";
  for (const auto* w : wallets) out += (out.size() > 1 ? ", " : "") + w->address();
  return out + "]";
}

std::string NodeYaml(const std::vector<const StelsWallet*>& developers, const std::vector<const StelsWallet*>& viewers) {
  return "node: { id: s-0001, data_dir: ./data }\n"
         "admin: { listen: \"127.0.0.1:0\", token: " + kToken + " }\n"
         "http:\n"
         "  listen: \"127.0.0.1:0\"\n"
         "  cors_origins: [\"" + kOrigin + "\"]\n"
         "  wallets: { developers: " + List(developers) + ", viewers: " + List(viewers) + " }\n"
         "limits: { stop_grace: 500ms }\n"
         "plugins: { dirs: [\"" + (test::BinaryDir() / "plugins").string() + "\"] }\n"
         "exchanges:\n"
         "  bybit: { connector: paper, clock: manual }\n";
}

// Starts a node; `ttl`, when given, replaces http.sessions.ttl (the config refuses less
// than a minute, too long for a test to wait for).
std::unique_ptr<LocalNode> StartNode(const std::string& yaml, const std::filesystem::path& dir,
                                     std::optional<std::chrono::milliseconds> ttl = std::nullopt) {
  auto config = ParseConfig(yaml, "t.yaml", dir);
  INFO(config.status().message());
  REQUIRE(config.ok());
  REQUIRE(config->http.has_value());
  if (ttl) config->http->session_ttl = *ttl;
  auto node = LocalNode::Start(*config);
  INFO(node.status().message());
  REQUIRE(node.ok());
  return std::move(*node);
}

json Body(const test::HttpReply& reply) {
  INFO(reply.status << " " << reply.body);
  json body = json::parse(reply.body, nullptr, false);
  REQUIRE(!body.is_discarded());
  return body;
}

// The editor's fetch: POST <api> with its headers.
test::HttpReply Post(uint16_t port, const std::string& session, const std::string& text) {
  test::Headers headers = {{"Content-Type", "application/json"},
                           {"Host", "127.0.0.1:" + std::to_string(port)},
                           {"Origin", kOrigin}};
  if (!session.empty()) headers.push_back({"stels-session", session});
  return Must(Fetch(port, "POST", "/", headers, text));
}

test::HttpReply Call(uint16_t port, const std::string& session, const std::string& method,
                     const json& body = json::object()) {
  return Post(port, session,
              json{{"webfix", "1.0"}, {"method", method}, {"params", json::array()}, {"body", body}}.dump());
}

test::HttpReply Login(uint16_t port, const StelsWallet& wallet, const std::string& network = "local") {
  return Post(port, "", wallet.LoginEnvelope(network, test::NowMs()).dump());
}

std::string SessionOf(const test::HttpReply& login) {
  INFO(login.status << " " << login.body);
  REQUIRE(login.status == 200);
  return Body(login)["raw"]["session"];
}

// A WebFIX error: the status, {"webfix":"1.0","error":{code,message}}, the message
// mentioning `mentions`, and CORS like every reply.
void CheckError(const test::HttpReply& reply, int status, int code, const std::string& mentions) {
  INFO(reply.status << " " << reply.body);
  CHECK(reply.status == status);
  const json body = Body(reply);
  CHECK(body["webfix"] == "1.0");
  CHECK(body["error"]["code"] == code);
  CHECK(body["error"]["message"].get<std::string>().find(mentions) != std::string::npos);
  CHECK(reply.Header("Access-Control-Allow-Origin") == kOrigin);
}

std::string AdminGet(uint16_t port, const std::string& target) {
  return Must(Fetch(port, "GET", target, {{"Authorization", "Bearer " + kToken}})).body;
}

// A listWorkers / setWorker / updateWorker entry, field by field (webfix-gateway.md).
void CheckEntry(const json& entry, const std::string& sid) {
  INFO(entry.dump());
  CHECK(entry["key"] == json::array({"ami", "worker", sid}));
  CHECK(entry["value"]["channel"] == "ami.worker." + sid);
  CHECK(entry["versionstamp"].is_string());
  const json& raw = entry["value"]["raw"];
  for (const char* name : {"sid", "nid", "note", "script", "version", "scope", "executionMode", "priority", "mode"})
    CHECK(raw[name].is_string());
  CHECK(raw["sid"] == sid);
  CHECK(raw["nid"] == "s-0001");
  CHECK(raw["active"].is_boolean());
  CHECK(raw["dependencies"].is_array());
  CHECK(raw["timestamp"].is_number_integer());
  CHECK((raw["accountId"].is_null() || raw["accountId"].is_string()));
  CHECK((raw["assignedNode"].is_null() || raw["assignedNode"].is_string()));
}

}  // namespace

TEST_CASE("webfix node: a developer wallet logs in and drives every editor method", "[webfix]") {
  TempDir dir;
  StelsWallet developer;
  auto node = StartNode(NodeYaml({&developer}, {}), dir.path());
  const uint16_t port = node->http_port();
  const std::string host = "127.0.0.1:" + std::to_string(port);

  // ---- connectionNode, as connectToNode posts it
  const json envelope = developer.LoginEnvelope("local", test::NowMs());
  auto login = Post(port, "", envelope.dump());
  REQUIRE(login.status == 200);
  CHECK(login.Header("Access-Control-Allow-Origin") == kOrigin);
  CHECK(login.Header("Cache-Control") == "no-store");
  const json raw = Body(login)["raw"];
  const std::string session = raw["session"];
  CHECK(std::regex_match(session, std::regex("[0-9a-f]{64}")));
  CHECK(raw["token"] == session);
  CHECK(raw["info"]["network"] == "local");
  CHECK(raw["info"]["nid"] == "s-0001");
  CHECK(raw["info"]["title"].is_string());
  CHECK(raw["info"]["api"] == "http://" + host + "/");
  CHECK(raw["info"]["connector"]["socket"] == "ws://" + host + "/ws");
  CHECK(raw["info"]["developer"] == true);
  // The same signed login again is refused: a copied request gets no session.
  CheckError(Post(port, "", envelope.dump()), 401, 401, "used already");

  // ---- listWorkers: a bare array
  auto empty = Call(port, session, "listWorkers");
  CHECK(empty.status == 200);
  CHECK(Body(empty) == json::array());

  // ---- setWorker: the editor's WorkerCreateRequest
  const std::string script = "logger.info('webfix tick'); await Stels.sleep(20);";
  auto created = Call(port, session, "setWorker",
                      {{"scriptContent", script}, {"dependencies", {"gliesereum"}}, {"version", "1.19.2"},
                       {"scope", "local"}, {"executionMode", "parallel"}, {"priority", "high"}, {"mode", "loop"},
                       {"note", "webfix test"}, {"accountId", "acc-1"}, {"assignedNode", "s-0001"}});
  REQUIRE(created.status == 200);
  const json entry = Body(created);
  const std::string sid = entry["value"]["raw"]["sid"];
  CheckEntry(entry, sid);
  CHECK(entry["value"]["raw"]["active"] == false);
  CHECK(entry["value"]["raw"]["script"] == script);
  CHECK(entry["value"]["raw"]["note"] == "webfix test");
  CHECK(entry["value"]["raw"]["priority"] == "high");
  CHECK(entry["value"]["raw"]["version"] == "1.19.2");
  CHECK(entry["value"]["raw"]["dependencies"] == json::array({"gliesereum"}));
  CHECK(entry["value"]["raw"]["accountId"] == "acc-1");
  CHECK(entry["value"]["raw"]["assignedNode"] == "s-0001");

  auto listed = Body(Call(port, session, "listWorkers"));
  REQUIRE(listed.size() == 1);
  CheckEntry(listed[0], sid);
  CHECK(listed[0]["value"]["raw"] == entry["value"]["raw"]);

  // ---- updateWorker: the whole raw back, cleared accountId/assignedNode left out, started
  json record = entry["value"]["raw"];
  record["note"] = "renamed by the editor";
  record["active"] = true;
  record["timestamp"] = test::NowMs();
  record.erase("accountId");
  record.erase("assignedNode");
  auto updated = Call(port, session, "updateWorker", {{"channel", "ami.worker." + sid}, {"raw", record}});
  REQUIRE(updated.status == 200);
  const json after = Body(updated);
  CheckEntry(after, sid);
  CHECK(after["value"]["raw"]["note"] == "renamed by the editor");
  CHECK(after["value"]["raw"]["active"] == true);
  CHECK(after["value"]["raw"]["accountId"].is_null());
  CHECK(after["value"]["raw"]["assignedNode"].is_null());
  CHECK(after["versionstamp"] != entry["versionstamp"]);
  CHECK(json::parse(AdminGet(port, "/api/v1/workers/" + sid))["record"]["assignedNode"].is_null());
  // A stale versionstamp is a conflict; an unknown worker is not found.
  CheckError(Call(port, session, "updateWorker",
                  {{"channel", "ami.worker." + sid}, {"raw", record}, {"versionstamp", entry["versionstamp"]}}),
             409, 409, "updateWorker");
  CheckError(Call(port, session, "updateWorker",
                  {{"channel", "ami.worker.00000000-0000-4000-8000-000000000000"}, {"raw", json::object()}}),
             404, 404, "updateWorker");
  CheckError(Call(port, session, "updateWorker", {{"channel", "ami.worker." + sid}}), 400, 400, "body.raw");
  CheckError(Call(port, session, "setWorker", {{"scriptContent", "x"}, {"priority", "urgent"}}), 400, 400,
             "priority");

  // ---- getWorkerStats: the node's summary, once the worker ran
  json stats;
  REQUIRE(Eventually([&] {
    stats = Body(Call(port, session, "getWorkerStats"));
    for (const auto& w : stats["workers"])
      if (w["sid"] == sid && w["executions"].get<int64_t>() > 0) return true;
    return false;
  }));
  INFO(stats.dump());
  for (const char* name : {"totalWorkers", "runningWorkers", "stoppedWorkers", "totalExecutions", "totalErrors",
                           "totalNetworkErrors", "totalCriticalErrors", "timestamp"})
    CHECK(stats[name].is_number());
  for (const auto& w : stats["workers"]) {
    if (w["sid"] != sid) continue;
    CHECK(std::regex_match(w["errorRate"].get<std::string>(), std::regex("[0-9]+(\\.[0-9]+)?%")));
    for (const char* name : {"executions", "errors", "networkErrors", "criticalErrors"}) CHECK(w[name].is_number());
    CHECK(w["isRunning"].is_boolean());
    CHECK(w["lastRun"].is_number());
  }

  // ---- getLeaderInfo: a leader worker, before and after it holds the lease
  const std::string leader_sid = Body(Call(port, session, "setWorker",
                                           {{"scriptContent", script}, {"executionMode", "leader"},
                                            {"scope", "local"}, {"priority", "normal"}, {"version", "1.19.2"},
                                            {"dependencies", json::array()}}))["value"]["raw"]["sid"];
  json leader = Body(Call(port, session, "getLeaderInfo", {{"workerId", leader_sid}}));
  CHECK(leader["workerId"] == leader_sid);
  CHECK(leader["hasLeader"] == false);
  CHECK(leader["leader"].is_null());
  json leader_record = Body(Call(port, session, "listWorkers"));
  for (const auto& e : leader_record)
    if (e["value"]["raw"]["sid"] == leader_sid) {
      json r = e["value"]["raw"];
      r["active"] = true;
      REQUIRE(Call(port, session, "updateWorker", {{"channel", e["value"]["channel"]}, {"raw", r}}).status == 200);
    }
  REQUIRE(Eventually([&] {
    leader = Body(Call(port, session, "getLeaderInfo", {{"workerId", leader_sid}}));
    return leader["hasLeader"] == true;
  }));
  INFO(leader.dump());
  CHECK(leader["leader"] == "s-0001");
  CHECK(leader["isExpired"] == false);
  CHECK(leader["expiresIn"].is_number_integer());
  CHECK(leader["expiresIn"].get<int64_t>() > 0);
  CHECK(leader["expiresIn"].get<int64_t>() <= 60000);  // ms, a lease of 60 s
  for (const char* name : {"timestamp", "expiresAt", "renewedAt"}) CHECK(leader[name].is_number_integer());
  CheckError(Call(port, session, "getLeaderInfo", {{"workerId", sid}}), 400, 400, "leader");
  CheckError(Call(port, session, "getLeaderInfo"), 400, 400, "workerId");

  // ---- the session works for the log stream and the WebSocket too (Authenticate)
  {
    test::SseStream stream(port);
    auto opened = stream.Open("/api/worker/logs/stream?sid=" + sid + "&follow=false", {{"stels-session", session}});
    REQUIRE(opened.has_value());
    CHECK(opened->status == 200);
    test::WebSocketClient socket(port);
    CHECK(socket.Connect("/ws?session=" + session, {"webfix"}));
    CHECK(socket.subprotocol() == "webfix");
  }

  // ---- stopAllWorkers
  auto stopped = Call(port, session, "stopAllWorkers");
  CHECK(stopped.status == 200);
  const json stop = Body(stopped);
  INFO(stop.dump());
  CHECK(stop["total"] == 2);
  CHECK(stop["stopped"] == 2);
  CHECK(stop["failed"] == 0);
  REQUIRE(stop["workers"].size() == 2);
  for (const auto& w : stop["workers"]) {
    CHECK(w["channel"] == "ami.worker." + w["sid"].get<std::string>());
    CHECK(w["status"] == "stopped");
  }
  CHECK(Eventually([&] { return node->RunningWorkers() == 0; }));

  // ---- requestDeveloperAccess: a developer has it already
  auto access = Body(Call(port, session, "requestDeveloperAccess"));
  CHECK(access["developer"] == true);
  CHECK(access["requested"] == false);

  // ---- deleteWorker by sid and by channel
  auto deleted = Call(port, session, "deleteWorker", {{"sid", sid}});
  CHECK(deleted.status == 200);
  CHECK(Body(deleted) == json{{"message", "Worker deleted"}, {"sid", sid}, {"channel", "ami.worker." + sid}});
  CHECK(Call(port, session, "deleteWorker", {{"channel", "ami.worker." + leader_sid}}).status == 200);
  CheckError(Call(port, session, "deleteWorker", {{"sid", sid}}), 404, 404, "deleteWorker");
  CHECK(Body(Call(port, session, "listWorkers")) == json::array());

  // ---- protocol errors
  CheckError(Call(port, session, "migrateWorker"), 400, 13, "WebFIX method not found");
  CheckError(Call(port, "", "noSuchMethod"), 400, 13, "WebFIX method not found");
  CheckError(Post(port, session, "{not json"), 400, 400, "envelope");
  CheckError(Post(port, session, R"({"webfix":"2.0","method":"listWorkers","body":{}})"), 400, 400, "webfix");
  CheckError(Post(port, session, R"({"webfix":"1.0","body":{}})"), 400, 400, "method");
  CheckError(Post(port, session, R"({"webfix":"1.0","method":"listWorkers","body":[]})"), 400, 400, "body");
}

TEST_CASE("webfix node: missing, forged and expired sessions, foreign wallets and networks, read-only viewers",
          "[webfix]") {
  TempDir dir;
  StelsWallet developer, viewer, stranger;
  auto node = StartNode(NodeYaml({&developer}, {&viewer}), dir.path(), std::chrono::milliseconds(2000));
  const uint16_t port = node->http_port();

  CheckError(Call(port, "", "listWorkers"), 401, 401, "session");
  const std::string forged = std::string(64, 'a');
  CheckError(Call(port, forged, "listWorkers"), 401, 401, "session");
  CheckError(Call(port, "not-even-hex", "listWorkers"), 401, 401, "session");
  // The forged session opens nothing else either.
  {
    CHECK(Must(Fetch(port, "GET", "/api/worker/logs/stream?sid=00000000-0000-4000-8000-000000000000",
                     {{"stels-session", forged}})).status == 401);
    test::WebSocketClient socket(port);
    CHECK(!socket.Connect("/ws?session=" + forged, {"webfix"}));
    CHECK(socket.refused_status() == 401);
  }

  // A wallet the config does not list; a login for another network.
  CheckError(Login(port, stranger), 403, 403, "http.wallets");
  CheckError(Login(port, developer, "testnet"), 401, 401, "network");
  CheckError(Login(port, developer, "localnet"), 401, 401, "network");

  // A viewer reads, and may not write.
  auto viewer_login = Login(port, viewer);
  const std::string view_session = SessionOf(viewer_login);
  CHECK(Body(viewer_login)["raw"]["info"]["developer"] == false);
  CHECK(Call(port, view_session, "listWorkers").status == 200);
  CHECK(Call(port, view_session, "getWorkerStats").status == 200);
  CheckError(Call(port, view_session, "setWorker", {{"scriptContent", "logger.info(1);"}}), 403, 403,
             "http.wallets.developers");
  CheckError(Call(port, view_session, "stopAllWorkers"), 403, 403, "may only read");
  CHECK(Body(Call(port, "", "listWorkers")).contains("error"));
  auto request = Call(port, view_session, "requestDeveloperAccess");
  CHECK(request.status == 200);
  CHECK(Body(request)["requested"] == true);
  CHECK(Body(request)["message"].get<std::string>().find("http.wallets.developers") != std::string::npos);
  CHECK(Body(Call(port, view_session, "listWorkers")) == json::array());  // nothing was written

  // Expiry (ttl 2 s here): the session stops working, the log stream refuses it.
  const std::string session = SessionOf(Login(port, developer));
  CHECK(Call(port, session, "listWorkers").status == 200);
  CHECK(Eventually([&] { return Call(port, session, "listWorkers").status == 401; }, std::chrono::seconds(20)));
  CheckError(Call(port, session, "listWorkers"), 401, 401, "expired");
  CHECK(Must(Fetch(port, "GET", "/api/worker/logs/stream?sid=00000000-0000-4000-8000-000000000000",
                   {{"stels-session", session}})).status == 401);
}

TEST_CASE("webfix node: a session survives a restart, and a wallet taken out of the config loses it", "[webfix]") {
  TempDir dir;
  StelsWallet developer;
  std::string session;
  {
    auto node = StartNode(NodeYaml({&developer}, {}), dir.path());
    session = SessionOf(Login(node->http_port(), developer));
    REQUIRE(Call(node->http_port(), session, "setWorker", {{"scriptContent", "logger.info(1);"}}).status == 200);
  }
  const auto file = dir / "data" / "http" / "sessions.json";
  REQUIRE(std::filesystem::exists(file));
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(test::ReadFile(file).find(session) == std::string::npos);  // only its hash is kept
  {
    auto node = StartNode(NodeYaml({&developer}, {}), dir.path());  // same data dir, another port
    auto listed = Call(node->http_port(), session, "listWorkers");
    CHECK(listed.status == 200);
    CHECK(Body(listed).size() == 1);
  }
  {
    StelsWallet someone_else;
    auto node = StartNode(NodeYaml({&someone_else}, {}), dir.path());
    CheckError(Call(node->http_port(), session, "listWorkers"), 403, 403, "no longer");
    test::WebSocketClient socket(node->http_port());
    CHECK(!socket.Connect("/ws?session=" + session, {"webfix"}));
  }
}

TEST_CASE("webfix node: http.network names the network a login must be for", "[webfix]") {
  TempDir dir;
  StelsWallet developer;
  std::string yaml = NodeYaml({&developer}, {});
  yaml.replace(yaml.find("  cors_origins:"), 0, "  network: localnet\n");
  auto node = StartNode(yaml, dir.path());
  const uint16_t port = node->http_port();
  CheckError(Login(port, developer, "local"), 401, 401, "network");
  auto login = Login(port, developer, "localnet");
  REQUIRE(login.status == 200);
  CHECK(Body(login)["raw"]["info"]["network"] == "localnet");
}

TEST_CASE("webfix node: CORS preflight, and the CORS headers on every WebFIX reply", "[webfix]") {
  TempDir dir;
  StelsWallet developer;
  auto node = StartNode(NodeYaml({&developer}, {}), dir.path());
  const uint16_t port = node->http_port();

  auto preflight = Must(Fetch(port, "OPTIONS", "/",
                              {{"Origin", kOrigin},
                               {"Access-Control-Request-Method", "POST"},
                               {"Access-Control-Request-Headers", "content-type, stels-session"},
                               {"Access-Control-Request-Private-Network", "true"}}));
  CHECK(preflight.status == 204);
  CHECK(preflight.Header("Access-Control-Allow-Origin") == kOrigin);
  const std::string methods = preflight.Header("Access-Control-Allow-Methods");
  for (const char* m : {"GET", "POST", "OPTIONS"}) CHECK(methods.find(m) != std::string::npos);
  const std::string headers = preflight.Header("Access-Control-Allow-Headers");
  for (const char* h : {"content-type", "stels-session"}) CHECK(headers.find(h) != std::string::npos);
  CHECK(preflight.Header("Access-Control-Allow-Private-Network") == "true");

  const std::string session = SessionOf(Login(port, developer));
  for (const auto& reply : {Call(port, session, "listWorkers"), Call(port, "", "listWorkers"),
                            Call(port, session, "nope"), Post(port, session, "[]")})
    CHECK(reply.Header("Access-Control-Allow-Origin") == kOrigin);
  // Another origin gets no CORS grant (the browser then refuses the reply).
  auto foreign = Must(Fetch(port, "POST", "/", {{"Origin", "https://evil.example"}, {"stels-session", session}},
                            R"({"webfix":"1.0","method":"listWorkers","body":{}})"));
  CHECK(foreign.status == 200);
  CHECK(foreign.Header("Access-Control-Allow-Origin").empty());
}
