// The WebSocket GET /ws (gateway/status_socket.h, docs/webfix.md "WebSocket"): against a
// real amid process over loopback — the upgrade and its refusals, worker events caused
// through the REST API, sonar heartbeats, client mistakes, shutdown — and, on the
// StatusSockets object alone with scripted peers, what a real node cannot be made to do
// on cue: a session expiring while connected, and a socket too slow to keep up.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <functional>
#include <mutex>
#include <regex>

#include "gateway/status_socket.h"
#include "runtime/node/worker_events.h"
#include "tests/gateway/http_client.h"
#include "tests/support/test_support.h"

using namespace ami;
using ami::test::Eventually;
using ami::test::Fetch;
using ami::test::Must;
using ami::test::WebSocketClient;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::string kToken = "status-socket-test-token";
const test::Headers kAuth = {{"Authorization", "Bearer " + kToken}};

// amid running with an HTTP port; killed (if still running) when it goes away.
class AmidNode {
 public:
  AmidNode() {
    test::WriteFile(dir_ / "node.yaml",
                    "node: { id: ws-node, data_dir: ./data }\n"
                    "admin: { listen: \"127.0.0.1:0\", token: " + kToken + " }\n"
                    "http: { listen: \"127.0.0.1:0\", sonar_interval: 200ms }\n"
                    "limits: { stop_grace: 500ms }\n"
                    "execution: { critical_backoff: { initial: 1ms, factor: 1, max: 1ms } }\n");
    process_ = std::make_unique<test::ChildProcess>((test::BinaryDir() / "apps" / "amid").string(),
                                                    std::vector<std::string>{"--config", (dir_ / "node.yaml").string()},
                                                    dir_ / "amid.out");
    std::smatch m;
    const std::regex port_line(R"(http gateway listening on port (\d+))");
    std::string out;
    const bool up = Eventually([&] {
      out = process_->Output();
      return std::regex_search(out, m, port_line);
    }, 60s);
    INFO(out);
    REQUIRE(up);
    port_ = static_cast<uint16_t>(std::stoi(m[1].str()));
  }

  uint16_t port() const { return port_; }
  test::ChildProcess& process() { return *process_; }

 private:
  test::TempDir dir_;
  std::unique_ptr<test::ChildProcess> process_;
  uint16_t port_ = 0;
};

json Parse(const std::string& text) {
  INFO(text);
  json message = json::parse(text, nullptr, false);
  REQUIRE(!message.is_discarded());
  return message;
}

// The next message that `wanted` accepts within `timeout` (others are skipped), or nullopt.
std::optional<json> NextMatching(WebSocketClient& ws, const std::function<bool(const json&)>& wanted,
                                 std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto text = ws.Receive(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
    if (!text) return std::nullopt;
    json message = Parse(*text);
    if (wanted(message)) return message;
  }
  return std::nullopt;
}

std::function<bool(const json&)> Event(const std::string& kind, const std::string& sid) {
  return [kind, sid](const json& m) {
    return m.value("method", "") == "publish" && m["value"]["channel"] == "runtime" &&
           m["value"]["raw"]["event"] == kind && m["value"]["raw"]["sid"] == sid;
  };
}

bool IsHeartbeat(const json& m) { return m.value("method", "") == "publish" && m["value"]["channel"] == "sonar"; }

void Call(WebSocketClient& ws, const std::string& method, const std::string& channel) {
  REQUIRE(ws.Send(json{{"webfix", "1.0"}, {"method", method}, {"channel", channel}}.dump()));
  auto ack = NextMatching(ws, [](const json& m) { return m.contains("result") || m.contains("error"); });
  REQUIRE(ack);
  CHECK(*ack == json{{"webfix", "1.0"}, {"method", method}, {"result", {{"channel", channel}}}});
}

void Open(WebSocketClient& ws, const std::string& channel) {
  INFO(ws.error());
  REQUIRE(ws.Connect("/ws", {"webfix"}, kAuth));
  Call(ws, "subscribe", channel);
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

TEST_CASE("ws: the upgrade echoes webfix and refuses with plain HTTP", "[gateway][ws]") {
  AmidNode node;
  {
    WebSocketClient ws(node.port());
    INFO(ws.error());
    REQUIRE(ws.Connect("/ws", {"webfix"}, kAuth));
    CHECK(ws.subprotocol() == "webfix");
  }
  {
    WebSocketClient ws(node.port());
    REQUIRE(ws.Connect("/ws", {"chat", "webfix"}, kAuth));
    CHECK(ws.subprotocol() == "webfix");
  }
  {
    WebSocketClient ws(node.port());  // no subprotocol offered: accepted without one
    REQUIRE(ws.Connect("/ws", {}, kAuth));
    CHECK(ws.subprotocol() == "");
  }
  {
    WebSocketClient ws(node.port());
    CHECK_FALSE(ws.Connect("/ws", {"webfix"}));
    CHECK(ws.refused_status() == 401);
  }
  {
    WebSocketClient ws(node.port());
    CHECK_FALSE(ws.Connect("/ws", {"webfix"}, {{"Authorization", "Bearer not-the-token"}}));
    CHECK(ws.refused_status() == 401);
  }
  {
    WebSocketClient ws(node.port());
    CHECK_FALSE(ws.Connect("/ws", {"chat"}, kAuth));
    CHECK(ws.refused_status() == 400);
  }
  auto plain = Must(Fetch(node.port(), "GET", "/ws", kAuth));
  CHECK(plain.status == 426);
  CHECK(Lower(plain.Header("Upgrade")) == "websocket");
  CHECK(Must(Fetch(node.port(), "GET", "/ws")).status == 401);
}

TEST_CASE("ws: runtime events follow a worker changed through REST, on every subscribed socket", "[gateway][ws]") {
  AmidNode node;
  const uint16_t port = node.port();
  WebSocketClient a(port), b(port), quiet(port);
  Open(a, "runtime");
  Open(b, "runtime");
  Open(quiet, "sonar");  // not on "runtime": hears no worker events

  auto created = Must(Fetch(port, "POST", "/api/v1/workers", kAuth, R"({"script":"await Stels.sleep(20);"})"));
  REQUIRE(created.status == 201);
  const std::string sid = Parse(created.body)["sid"];
  for (WebSocketClient* ws : {&a, &b}) CHECK(NextMatching(*ws, Event("updated", sid)));

  REQUIRE(Must(Fetch(port, "POST", "/api/v1/workers/" + sid + "/start", kAuth)).status == 200);
  for (WebSocketClient* ws : {&a, &b}) {
    auto started = NextMatching(*ws, Event("started", sid));
    REQUIRE(started);
    const json raw = (*started)["value"]["raw"];
    CHECK((*started)["webfix"] == "1.0");
    CHECK(raw["node"] == "ws-node");
    CHECK(raw["term"] == 0);
    CHECK(raw["timestamp"].get<int64_t>() > 1600000000000);
    CHECK(raw.contains("detail"));
  }

  REQUIRE(Must(Fetch(port, "PATCH", "/api/v1/workers/" + sid, kAuth, R"({"note":"edited"})")).status == 200);
  for (WebSocketClient* ws : {&a, &b}) CHECK(NextMatching(*ws, Event("updated", sid)));

  REQUIRE(Must(Fetch(port, "POST", "/api/v1/workers/" + sid + "/stop", kAuth)).status == 200);
  for (WebSocketClient* ws : {&a, &b}) {
    auto stopped = NextMatching(*ws, Event("stopped", sid));
    REQUIRE(stopped);
    CHECK((*stopped)["value"]["raw"]["detail"] == "deactivated");
  }

  REQUIRE(Must(Fetch(port, "DELETE", "/api/v1/workers/" + sid, kAuth)).status == 200);
  CHECK(NextMatching(a, Event("deleted", sid)));

  // Unsubscribed: the next change reaches b only.
  Call(a, "unsubscribe", "runtime");
  REQUIRE(Must(Fetch(port, "POST", "/api/v1/workers", kAuth, "{}")).status == 201);
  CHECK(NextMatching(b, [](const json& m) { return m.value("method", "") == "publish"; }));
  CHECK_FALSE(NextMatching(a, [](const json& m) { return m["value"]["channel"] == "runtime"; }, 500ms));
  CHECK_FALSE(NextMatching(quiet, [](const json& m) { return m["value"]["channel"] == "runtime"; }, 500ms));
}

TEST_CASE("ws: a worker that spends its error budget is reported budget_exhausted", "[gateway][ws]") {
  AmidNode node;
  WebSocketClient ws(node.port());
  Open(ws, "runtime");
  auto created = Must(Fetch(node.port(), "POST", "/api/v1/workers", kAuth,
                            R"({"active":true,"priority":"low","script":"throw new Error('boom');"})"));
  REQUIRE(created.status == 201);
  const std::string sid = Parse(created.body)["sid"];
  CHECK(NextMatching(ws, Event("started", sid)));
  auto spent = NextMatching(ws, Event("budget_exhausted", sid));
  REQUIRE(spent);
  CHECK((*spent)["value"]["raw"]["detail"].get<std::string>().find("consecutive critical errors") != std::string::npos);
  // Its end is told once: no "stopped" follows the budget stop.
  CHECK_FALSE(NextMatching(ws, Event("stopped", sid), 1s));
}

TEST_CASE("ws: a leader-mode worker's lease is reported with its term", "[gateway][ws]") {
  AmidNode node;
  WebSocketClient ws(node.port());
  Open(ws, "runtime");
  auto created = Must(Fetch(node.port(), "POST", "/api/v1/workers", kAuth,
                            R"({"active":true,"executionMode":"leader","script":"await Stels.sleep(20);"})"));
  REQUIRE(created.status == 201);
  const std::string sid = Parse(created.body)["sid"];
  auto acquired = NextMatching(ws, Event("leader_acquired", sid));
  REQUIRE(acquired);
  const int64_t term = (*acquired)["value"]["raw"]["term"];
  CHECK(term > 0);
  auto started = NextMatching(ws, Event("started", sid));
  REQUIRE(started);
  CHECK((*started)["value"]["raw"]["term"] == term);

  REQUIRE(Must(Fetch(node.port(), "POST", "/api/v1/workers/" + sid + "/stop", kAuth)).status == 200);
  auto lost = NextMatching(ws, Event("leader_lost", sid));
  REQUIRE(lost);
  CHECK((*lost)["value"]["raw"]["term"] == term);
}

TEST_CASE("ws: sonar sends the node's heartbeat at http.sonar_interval", "[gateway][ws]") {
  AmidNode node;
  WebSocketClient ws(node.port());
  Open(ws, "sonar");
  std::vector<json> beats;
  for (int i = 0; i < 3; ++i) {
    auto beat = NextMatching(ws, IsHeartbeat, 5s);
    REQUIRE(beat);
    beats.push_back((*beat)["value"]["raw"]);
  }
  for (const json& raw : beats) {
    CHECK(raw["node"] == "ws-node");
    CHECK(raw["network"] == "local");
    CHECK(!raw["version"].get<std::string>().empty());
    CHECK(raw["workers_running"] == 0);
  }
  CHECK(beats[2]["uptime_ms"].get<int64_t>() > beats[1]["uptime_ms"].get<int64_t>());
  // The first comes at once on subscribing; the next ones one interval (200 ms) apart.
  CHECK(beats[2]["timestamp"].get<int64_t>() - beats[1]["timestamp"].get<int64_t>() >= 150);

  REQUIRE(Must(Fetch(node.port(), "POST", "/api/v1/workers", kAuth,
                     R"({"active":true,"script":"await Stels.sleep(20);"})")).status == 201);
  CHECK(NextMatching(ws, [](const json& m) { return IsHeartbeat(m) && m["value"]["raw"]["workers_running"] == 1; }));
}

TEST_CASE("ws: a message it does not understand gets bad_request and the socket stays open", "[gateway][ws]") {
  AmidNode node;
  WebSocketClient ws(node.port());
  REQUIRE(ws.Connect("/ws", {"webfix"}, kAuth));
  for (const std::string& text : {std::string("hello"), std::string(R"({"webfix":"1.0","method":"frobnicate"})"),
                                  std::string(R"({"webfix":"1.0","method":"subscribe","channel":"weather"})"),
                                  std::string("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[")}) {
    INFO(text);
    REQUIRE(ws.Send(text));
    auto reply = NextMatching(ws, [](const json&) { return true; }, 10s);
    REQUIRE(reply);
    CHECK((*reply)["webfix"] == "1.0");
    CHECK((*reply)["error"]["code"] == "bad_request");
    // The frontend logs its user out on these words: they must not appear here.
    const std::string message = Lower((*reply)["error"]["message"].get<std::string>());
    for (const char* word : {"session", "expired", "invalid", "unauthorized"})
      CHECK(message.find(word) == std::string::npos);
  }
  Call(ws, "subscribe", "sonar");
  CHECK(ws.close_code() == 0);
}

TEST_CASE("ws: stopping amid closes the socket with a close frame", "[gateway][ws]") {
  AmidNode node;
  WebSocketClient ws(node.port());
  Open(ws, "runtime");
  node.process().Signal(SIGTERM);
  CHECK_FALSE(NextMatching(ws, [](const json&) { return false; }, 20s));
  CHECK(ws.close_code() == 1001);
  CHECK(node.process().Wait(20s) == 0);
}

// ---- StatusSockets alone, with scripted peers ----

namespace {

// A peer that records what it is sent; `accept` false makes Send fail (a socket too slow).
class ScriptedPeer : public gateway::WebSocketPeer {
 public:
  explicit ScriptedPeer(bool accept = true) : accept_(accept) {}
  bool Send(std::string text) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!accept_ || close_code_ != 0) return false;
    sent_.push_back(std::move(text));
    return true;
  }
  void Close(int code, std::string) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (close_code_ == 0) close_code_ = code;
  }
  std::vector<std::string> sent() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }
  int close_code() const {
    std::lock_guard<std::mutex> lock(mu_);
    return close_code_;
  }
  bool Received(const std::string& part) const {
    for (const auto& text : sent())
      if (text.find(part) != std::string::npos) return true;
    return false;
  }

 private:
  mutable std::mutex mu_;
  bool accept_;
  std::vector<std::string> sent_;
  int close_code_ = 0;
};

// Upgrades one socket on `sockets` and opens it on `peer`; the accept stays alive with it.
std::shared_ptr<gateway::WebSocketAccept> OpenOn(gateway::StatusSockets& sockets, std::shared_ptr<ScriptedPeer> peer) {
  gateway::HttpRequest upgrade;
  upgrade.method = "GET";
  upgrade.path = upgrade.target = "/ws";
  upgrade.websocket_upgrade = true;
  upgrade.headers = {{"sec-websocket-protocol", "webfix"}};
  gateway::HttpResponse reply;
  sockets.Handle(upgrade, [&](gateway::HttpResponse r) { reply = std::move(r); });
  REQUIRE(reply.websocket);
  CHECK(reply.websocket->subprotocol == "webfix");
  reply.websocket->on_open(peer);
  return reply.websocket;
}

}  // namespace

TEST_CASE("ws: a session that expires while connected closes its socket with 4401", "[gateway][ws]") {
  std::atomic<bool> valid{true};
  gateway::StatusSocketOptions options;
  options.authenticate = [&](const gateway::HttpRequest&) -> std::optional<gateway::Caller> {
    if (!valid) return std::nullopt;
    return gateway::Caller{"wallet test", false};
  };
  options.sonar_interval = 100ms;
  gateway::StatusSockets sockets(options);
  auto peer = std::make_shared<ScriptedPeer>();
  auto accept = OpenOn(sockets, peer);
  accept->on_message(R"({"webfix":"1.0","method":"subscribe","channel":"sonar"})");
  REQUIRE(Eventually([&] { return peer->sent().size() >= 3; }));  // ack, at once, one tick
  CHECK(peer->close_code() == 0);

  valid = false;
  REQUIRE(Eventually([&] { return peer->close_code() != 0; }, 5s));
  CHECK(peer->close_code() == 4401);
  CHECK(json::parse(peer->sent().back()) ==
        json{{"webfix", "1.0"}, {"error", {{"code", "unauthorized"}, {"message", "session expired"}}}});
  CHECK(sockets.open_sockets() == 0);
  accept->on_close();
}

TEST_CASE("ws: a socket too slow to take events is dropped and the others go on", "[gateway][ws]") {
  auto feed = std::make_shared<WorkerEventFeed>();
  gateway::StatusSocketOptions options;
  options.authenticate = [](const gateway::HttpRequest&) { return std::optional<gateway::Caller>(gateway::Caller{}); };
  options.events = feed;
  options.sonar_interval = 1h;
  gateway::StatusSockets sockets(options);
  auto slow = std::make_shared<ScriptedPeer>(/*accept=*/false);
  auto fine = std::make_shared<ScriptedPeer>();
  auto slow_accept = OpenOn(sockets, slow);
  auto fine_accept = OpenOn(sockets, fine);
  const std::string subscribe = R"({"webfix":"1.0","method":"subscribe","channel":"runtime"})";
  slow_accept->on_message(subscribe);
  fine_accept->on_message(subscribe);
  REQUIRE(sockets.open_sockets() == 2);

  feed->Publish(WorkerEvent{"started", "w-1", "n-1", 0, "", 1});
  REQUIRE(Eventually([&] { return fine->Received("\"w-1\""); }));
  REQUIRE(Eventually([&] { return sockets.open_sockets() == 1; }));
  feed->Publish(WorkerEvent{"stopped", "w-1", "n-1", 0, "deactivated", 2});
  REQUIRE(Eventually([&] { return fine->Received("deactivated"); }));

  // Close(): the open one gets 1001; the feed no longer reaches the hub.
  sockets.Close();
  CHECK(fine->close_code() == 1001);
  feed->Publish(WorkerEvent{"started", "w-2", "n-1", 0, "", 3});
  CHECK(test::StaysFalse([&] { return fine->Received("w-2"); }, 200ms));
}
