// Live worker logs as Server-Sent Events (gateway/log_stream.h):
//   - LogFanout with fake stream writers: one feed subscription however many followers,
//     backlog then live lines without gap or duplicate, a slow follower dropped alone,
//     the file history of a worker the ring knows nothing of, keep-alives, stop;
//   - the gateway over real HTTP with a scripted admin service and a LogFeed the test
//     publishes to: frames, headers, both paths, 401, the one-subscription fan-out;
//   - a real node: a worker writing lines, followed over HTTP, its history from the
//     files after a restart, and shutdown ending the stream with an event.
#include <catch2/catch.hpp>

#include <caf/all.hpp>

#include <nlohmann/json.hpp>
#include <mutex>
#include <regex>
#include <thread>

#include "actors/local_node.h"
#include "actors/messages.h"
#include "gateway/gateway.h"
#include "gateway/log_stream.h"
#include "runtime/log/log_feed.h"
#include "tests/gateway/http_client.h"
#include "tests/support/local_node_start.h"
#include "tests/support/test_support.h"

using namespace ami;
using ami::test::Eventually;
using ami::test::Fetch;
using ami::test::Must;
using ami::test::SseStream;
using ami::test::StaysFalse;
using ami::test::TempDir;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSid = "3f2b8c1e-6a51-4d0b-9c1a-2b7e5d4f0a11";

// A stream writer that keeps what it is given, like a client that reads everything.
class FakeWriter : public gateway::StreamWriter {
 public:
  bool Write(std::string data) override {
    std::function<void()> done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return false;
      if (!too_slow_) {
        data_ += data;
        return true;
      }
      closed_ = true;   // what the server does with a client too far behind
      done = std::move(on_close_);
    }
    if (done) done();
    return false;
  }
  void End() override {
    std::function<void()> done;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      closed_ = true;
      done = std::move(on_close_);
    }
    if (done) done();
  }
  void OnClose(std::function<void()> done) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!closed_) {
        on_close_ = std::move(done);
        return;
      }
    }
    done();
  }
  bool closed() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }
  void SetTooSlow() {
    std::lock_guard<std::mutex> lock(mu_);
    too_slow_ = true;
  }
  // The data: payloads (parsed) and the comment count.
  std::vector<json> Events(int* comments = nullptr) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<json> out;
    int seen = 0;
    size_t at = 0;
    for (size_t end; (end = data_.find("\n\n", at)) != std::string::npos; at = end + 2) {
      const std::string block = data_.substr(at, end - at);
      if (block.rfind(":", 0) == 0) ++seen;
      else if (block.rfind("data: ", 0) == 0) out.push_back(json::parse(block.substr(6)));
      else out.push_back(json{{"malformed", block}});
    }
    if (comments) *comments = seen;
    return out;
  }
  // The "content" of each log event, without its newline.
  std::vector<std::string> Lines() const {
    std::vector<std::string> out;
    for (const auto& e : Events())
      if (e.value("type", "") == "log") {
        std::string content = e["content"];
        if (content.ends_with("\n")) content.pop_back();
        else content = "<no newline> " + content;   // fails any comparison
        out.push_back(content);
      }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::string data_;
  bool closed_ = false;
  bool too_slow_ = false;
  std::function<void()> on_close_;
};

std::vector<std::string> Numbered(const std::string& prefix, int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

gateway::LogFanout::Options FanoutOptions(std::chrono::milliseconds keep_alive = 1h) {
  return gateway::LogFanout::Options{1000, keep_alive};
}

}  // namespace

TEST_CASE("log fanout: many followers of a sid share one feed subscription, each gets backlog then every line",
          "[gateway][logs]") {
  auto feed = std::make_shared<LogFeed>(1000);
  for (const auto& line : Numbered("old ", 0, 10)) feed->Publish(kSid, line);
  auto fanout = std::make_shared<gateway::LogFanout>(feed, FanoutOptions());

  std::vector<std::shared_ptr<FakeWriter>> writers;
  std::vector<uint64_t> ids;
  auto follow = [&] {
    auto writer = std::make_shared<FakeWriter>();
    const uint64_t id = fanout->Open(writer);
    REQUIRE(id != 0);
    CHECK_FALSE(fanout->Follow(id, kSid, 3));   // the ring has enough: not held
    writers.push_back(writer);
    ids.push_back(id);
  };
  for (int i = 0; i < 3; ++i) follow();
  CHECK(feed->subscriber_count(kSid) == 1);

  // Two more join while the worker writes.
  constexpr int kLines = 2000;
  std::thread writer_thread([&] {
    for (const auto& line : Numbered("new ", 0, kLines)) feed->Publish(kSid, line);
  });
  REQUIRE(Eventually([&] { return writers[0]->Lines().size() > 200; }));
  follow();
  follow();
  writer_thread.join();
  CHECK(feed->subscriber_count(kSid) == 1);
  CHECK(fanout->followed_sids() == 1);

  std::vector<std::string> all = Numbered("old ", 0, 10);
  for (const auto& line : Numbered("new ", 0, kLines)) all.push_back(line);
  for (size_t w = 0; w < writers.size(); ++w) {
    INFO("follower " << w);
    REQUIRE(Eventually([&] { auto l = writers[w]->Lines(); return !l.empty() && l.back() == all.back(); }));
    const auto lines = writers[w]->Lines();
    // A contiguous run of everything written, ending with the last line: no gap, no duplicate.
    REQUIRE(lines.size() >= 3);
    const auto first = std::find(all.begin(), all.end(), lines.front());
    REQUIRE(first != all.end());
    CHECK(std::vector<std::string>(first, all.end()) == lines);
    if (w < 3) CHECK(lines.front() == "old 7");   // backlog: the 3 asked for
  }

  // The last follower gone ends the subscription.
  for (size_t w = 0; w + 1 < writers.size(); ++w) writers[w]->End();
  CHECK(feed->subscriber_count(kSid) == 1);
  writers.back()->End();
  CHECK(feed->subscriber_count(kSid) == 0);
  CHECK(fanout->followed_sids() == 0);
  CHECK(fanout->open_streams() == 0);
}

TEST_CASE("log fanout: a follower too slow to read is dropped, the others get every line", "[gateway][logs]") {
  auto feed = std::make_shared<LogFeed>(1000);
  auto fanout = std::make_shared<gateway::LogFanout>(feed, FanoutOptions());
  feed->Publish(kSid, "first");
  std::vector<std::shared_ptr<FakeWriter>> writers;
  for (int i = 0; i < 3; ++i) {
    writers.push_back(std::make_shared<FakeWriter>());
    fanout->Follow(fanout->Open(writers.back()), kSid, 10);
  }
  REQUIRE(Eventually([&] { return writers[1]->Lines().size() == 1; }));
  writers[1]->SetTooSlow();
  for (const auto& line : Numbered("l", 0, 100)) feed->Publish(kSid, line);
  REQUIRE(Eventually([&] { return writers[1]->closed() && fanout->open_streams() == 2; }));
  for (int w : {0, 2}) {
    REQUIRE(Eventually([&] { return writers[w]->Lines().size() == 101; }));
    CHECK(writers[w]->Lines().back() == "l99");
  }
  CHECK(writers[1]->Lines() == std::vector<std::string>{"first"});
  CHECK(feed->subscriber_count(kSid) == 1);
}

TEST_CASE("log fanout: when the ring has nothing of the worker, its history comes first and shared lines once",
          "[gateway][logs]") {
  auto feed = std::make_shared<LogFeed>(1000);
  auto fanout = std::make_shared<gateway::LogFanout>(feed, FanoutOptions());
  auto a = std::make_shared<FakeWriter>();
  const uint64_t ida = fanout->Open(a);
  REQUIRE(fanout->Follow(ida, kSid, 200));   // held: read the files
  feed->Publish(kSid, "L1");
  feed->Publish(kSid, "L2");
  // Held: the live lines wait for the history.
  CHECK(StaysFalse([&] { return !a->Lines().empty(); }, 100ms));
  // The file read raced the writer: it already has L1.
  fanout->Release(ida, {"H1", "H2", "L1"});
  REQUIRE(Eventually([&] { return a->Lines().size() == 4; }));
  CHECK(a->Lines() == std::vector<std::string>{"H1", "H2", "L1", "L2"});
  feed->Publish(kSid, "L3");
  REQUIRE(Eventually([&] { return a->Lines().size() == 5; }));

  // A later follower asking for more than the ring holds gets the files too.
  auto b = std::make_shared<FakeWriter>();
  const uint64_t idb = fanout->Open(b);
  REQUIRE(fanout->Follow(idb, kSid, 200));
  fanout->Release(idb, {"H1", "H2", "L1", "L2", "L3"});
  REQUIRE(Eventually([&] { return b->Lines().size() == 5; }));
  CHECK(b->Lines() == std::vector<std::string>{"H1", "H2", "L1", "L2", "L3"});
  // One asking for no more than the ring holds does not.
  auto c = std::make_shared<FakeWriter>();
  CHECK_FALSE(fanout->Follow(fanout->Open(c), kSid, 2));
  REQUIRE(Eventually([&] { return c->Lines().size() == 2; }));
  CHECK(c->Lines() == std::vector<std::string>{"L2", "L3"});
  CHECK(feed->subscriber_count(kSid) == 1);
}

TEST_CASE("log fanout: keep-alive comments while idle; Stop ends every stream with its frame", "[gateway][logs]") {
  auto feed = std::make_shared<LogFeed>(1000);
  auto fanout = std::make_shared<gateway::LogFanout>(feed, FanoutOptions(50ms));
  auto following = std::make_shared<FakeWriter>();
  auto waiting = std::make_shared<FakeWriter>();   // e.g. a stream whose admin check is pending
  fanout->Follow(fanout->Open(following), kSid, 10);
  fanout->Open(waiting);
  int comments = 0;
  REQUIRE(Eventually([&] { following->Events(&comments); return comments >= 2; }));
  REQUIRE(Eventually([&] { waiting->Events(&comments); return comments >= 2; }));
  CHECK(following->Events().empty());
  CHECK(feed->subscriber_count(kSid) == 1);

  const std::string stop = gateway::SseFrame("error", "message", "node stopping");
  fanout->Stop(stop, 1s);
  for (const auto& w : {following, waiting}) {
    CHECK(w->closed());
    REQUIRE(!w->Events().empty());
    CHECK(w->Events().back() == json{{"type", "error"}, {"message", "node stopping"}});
  }
  CHECK(feed->subscriber_count(kSid) == 0);
  CHECK(fanout->open_streams() == 0);
  // A stream opened after the stop gets the stop frame at once.
  auto late = std::make_shared<FakeWriter>();
  CHECK(fanout->Open(late) == 0);
  CHECK(late->closed());
  CHECK(late->Events() == std::vector<json>{json{{"type", "error"}, {"message", "node stopping"}}});
}

// ---- the gateway over HTTP, with a scripted admin service and a feed the test writes

namespace {

const std::string kToken = "log-stream-test-token";
const test::Headers kAuth = {{"Authorization", "Bearer " + kToken}};

// workers.get knows kSid only; logs.tail answers `tail`.
struct FakeAdmin {
  std::mutex mu;
  std::vector<std::string> tail;   // guarded by mu
  std::vector<json> requests;      // guarded by mu
};

caf::behavior FakeAdminActor(caf::event_based_actor*, std::shared_ptr<FakeAdmin> fake) {
  return {[=](admin_atom, const std::string&, const std::string& text) -> std::string {
    json request = json::parse(text);
    std::lock_guard<std::mutex> lock(fake->mu);
    fake->requests.push_back(request);
    const std::string sid = request["args"].value("sid", "");
    if (sid != kSid)
      return json{{"ok", false}, {"error", {{"code", "not_found"}, {"message", "no worker " + sid}}}}.dump();
    if (request["op"] == "logs.tail") return json{{"ok", true}, {"result", {{"lines", fake->tail}, {"cursor", "1:0"}, {"more", false}}}}.dump();
    return json{{"ok", true}, {"result", {{"sid", sid}, {"versionstamp", "00000000000000070000"}}}}.dump();
  }};
}

struct Rig {
  explicit Rig(std::chrono::milliseconds keep_alive = 15s) {
    cfg.add_message_types<caf::id_block::ami>();
    cfg.set("logger.verbosity", caf::atom("quiet"));
    system = std::make_unique<caf::actor_system>(cfg);
    admin = system->spawn(FakeAdminActor, fake);
    HttpSection section;
    section.listen = "127.0.0.1:0";
    section.cors_origins = {"https://live.stels.io"};
    gateway::Backend backend;
    backend.system = system.get();
    backend.admin = admin;
    backend.logs = feed;
    backend.admin_token = kToken;
    backend.log_keep_alive = keep_alive;
    auto started = gateway::Gateway::Start(section, backend);
    INFO(started.status().message());
    REQUIRE(started.ok());
    gw = std::move(*started);
  }
  ~Rig() {
    gw->Stop();
    gw.reset();
    caf::anon_send_exit(admin, caf::exit_reason::user_shutdown);
  }
  uint16_t port() const { return gw->port(); }

  std::shared_ptr<LogFeed> feed = std::make_shared<LogFeed>(1000);
  std::shared_ptr<FakeAdmin> fake = std::make_shared<FakeAdmin>();
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;
  caf::actor admin;
  std::unique_ptr<gateway::Gateway> gw;
};

json NextJson(SseStream& sse, std::chrono::milliseconds timeout = 10s) {
  auto event = sse.NextEvent(timeout);
  INFO(sse.error());
  REQUIRE(event.has_value());
  json parsed = json::parse(*event, nullptr, false);
  REQUIRE(!parsed.is_discarded());
  return parsed;
}

json LogEvent(const std::string& line) { return json{{"type", "log"}, {"content", line + "\n"}}; }

// Opens `target` and checks the reply is a stream and its first event says connected.
void OpenStream(SseStream& sse, const std::string& target, const test::Headers& headers = kAuth) {
  auto reply = sse.Open(target, headers);
  INFO(target << ": " << sse.error());
  REQUIRE(reply.has_value());
  REQUIRE(reply->status == 200);
  CHECK(reply->Header("Content-Type") == "text/event-stream");
  CHECK(reply->Header("Cache-Control") == "no-cache");
  CHECK(reply->Header("X-Accel-Buffering") == "no");
  CHECK(NextJson(sse)["type"] == "connected");
}

}  // namespace

TEST_CASE("log stream: backlog then live lines over HTTP on both paths, keep-alives, CORS", "[gateway][logs]") {
  Rig rig(100ms);
  for (const auto& line : Numbered("old ", 0, 5)) rig.feed->Publish(kSid, line);

  SseStream stels(rig.port());
  auto reply = stels.Open("/api/worker/logs/stream?sid=" + std::string(kSid) + "&follow=true&lines=2",
                          {{"Authorization", "Bearer " + kToken}, {"Origin", "https://live.stels.io"}});
  REQUIRE(reply.has_value());
  CHECK(reply->status == 200);
  CHECK(reply->Header("Content-Type") == "text/event-stream");
  CHECK(reply->Header("Access-Control-Allow-Origin") == "https://live.stels.io");
  CHECK(NextJson(stels) == json{{"type", "connected"}, {"sid", kSid}});
  CHECK(NextJson(stels) == LogEvent("old 3"));
  CHECK(NextJson(stels) == LogEvent("old 4"));

  SseStream rest(rig.port());
  OpenStream(rest, "/api/v1/workers/" + std::string(kSid) + "/logs?follow=1&lines=1");
  CHECK(NextJson(rest) == LogEvent("old 4"));

  for (const auto& line : Numbered("new ", 0, 50)) rig.feed->Publish(kSid, line);
  for (SseStream* sse : {&stels, &rest})
    for (const auto& line : Numbered("new ", 0, 50)) CHECK(NextJson(*sse) == LogEvent(line));
  // Idle: keep-alive comments.
  CHECK(Eventually([&] { stels.NextEvent(50ms); return stels.comments() >= 2; }, 10s));
  CHECK(rig.feed->subscriber_count(kSid) == 1);

  // The JSON logs.tail route still answers without follow.
  auto tail = Must(Fetch(rig.port(), "GET", "/api/v1/workers/" + std::string(kSid) + "/logs?lines=3", kAuth));
  CHECK(tail.status == 200);
  CHECK(tail.Header("Content-Type") == "application/json");
}

TEST_CASE("log stream: five followers of one worker cost one feed subscription", "[gateway][logs]") {
  Rig rig;
  rig.feed->Publish(kSid, "before");
  std::vector<std::unique_ptr<SseStream>> followers;
  for (int i = 0; i < 5; ++i) {
    followers.push_back(std::make_unique<SseStream>(rig.port()));
    OpenStream(*followers.back(), "/api/worker/logs/stream?sid=" + std::string(kSid) + "&follow=true");
    CHECK(NextJson(*followers.back()) == LogEvent("before"));
    CHECK(rig.feed->subscriber_count(kSid) == 1);
  }
  for (const auto& line : Numbered("line ", 0, 20)) rig.feed->Publish(kSid, line);
  for (auto& f : followers)
    for (const auto& line : Numbered("line ", 0, 20)) CHECK(NextJson(*f) == LogEvent(line));
  CHECK(rig.feed->subscriber_count(kSid) == 1);
  // Followers leaving: the subscription goes with the last one.
  followers.resize(1);
  rig.feed->Publish(kSid, "after");
  CHECK(NextJson(*followers[0]) == LogEvent("after"));
  CHECK(rig.feed->subscriber_count(kSid) == 1);
  followers.clear();
  CHECK(Eventually([&] { return rig.feed->subscriber_count(kSid) == 0; }));
}

TEST_CASE("log stream: history from the files, complete, unknown worker, 401, and the stop event", "[gateway][logs]") {
  Rig rig;
  {
    std::lock_guard<std::mutex> lock(rig.fake->mu);
    rig.fake->tail = {"file 1", "file 2", "file 3"};
  }
  // Non-follow: the files (logs.tail), then complete, then the stream ends.
  SseStream history(rig.port());
  OpenStream(history, "/api/worker/logs/stream?sid=" + std::string(kSid) + "&follow=false&lines=3");
  for (const auto& line : {"file 1", "file 2", "file 3"}) CHECK(NextJson(history) == LogEvent(line));
  CHECK(NextJson(history) == json{{"type", "complete"}});
  CHECK_FALSE(history.NextEvent(5s).has_value());
  CHECK(history.ended());
  {
    std::lock_guard<std::mutex> lock(rig.fake->mu);
    CHECK(rig.fake->requests.back() == json{{"op", "logs.tail"}, {"args", {{"sid", kSid}, {"lines", 3}}}});
  }

  // Follow a worker the ring knows nothing of: the files first, then live lines.
  SseStream follow(rig.port());
  OpenStream(follow, "/api/v1/workers/" + std::string(kSid) + "/logs?follow=true");
  for (const auto& line : {"file 1", "file 2", "file 3"}) CHECK(NextJson(follow) == LogEvent(line));
  rig.feed->Publish(kSid, "live 1");
  CHECK(NextJson(follow) == LogEvent("live 1"));

  // An unknown worker: an error event, then the end.
  SseStream unknown(rig.port());
  OpenStream(unknown, "/api/worker/logs/stream?sid=nobody&follow=true");
  CHECK(NextJson(unknown) == json{{"type", "error"}, {"message", "worker nobody not found"}});
  CHECK_FALSE(unknown.NextEvent(5s).has_value());
  CHECK(unknown.ended());
  CHECK(rig.feed->subscriber_count("nobody") == 0);

  // No credentials (or wrong ones): 401 JSON, not a stream.
  for (const test::Headers& headers : {test::Headers{}, test::Headers{{"Authorization", "Bearer wrong"}}}) {
    auto refused = Must(Fetch(rig.port(), "GET", "/api/worker/logs/stream?sid=" + std::string(kSid) + "&follow=true", headers));
    CHECK(refused.status == 401);
    CHECK(refused.Header("Content-Type") == "application/json");
    CHECK(Must(Fetch(rig.port(), "GET", "/api/v1/workers/" + std::string(kSid) + "/logs?follow=1", headers)).status == 401);
  }
  // A bad query: 400 JSON.
  CHECK(Must(Fetch(rig.port(), "GET", "/api/worker/logs/stream?follow=true", kAuth)).status == 400);
  CHECK(Must(Fetch(rig.port(), "GET", "/api/worker/logs/stream?sid=x&lines=5000", kAuth)).status == 400);
  CHECK(Must(Fetch(rig.port(), "GET", "/api/v1/workers/x/logs?follow=1&cursor=1:0", kAuth)).status == 400);

  // The gateway stopping ends the open stream with an event.
  rig.gw->Stop();
  CHECK(NextJson(follow) == json{{"type", "error"}, {"message", "node stopping"}});
  CHECK_FALSE(follow.NextEvent(5s).has_value());
  CHECK(follow.ended());
  CHECK(rig.feed->subscriber_count(kSid) == 0);
}

// ---- a real node

namespace {

const std::string kNodeToken = "log-stream-node-token";
const test::Headers kNodeAuth = {{"Authorization", "Bearer " + kNodeToken}};

std::string NodeYaml() {
  return "node: { id: s-0001, data_dir: ./data }\n"
         "admin: { listen: \"127.0.0.1:0\", token: " + kNodeToken + " }\n"
         "http: { listen: \"127.0.0.1:0\" }\n"
         "limits: { stop_grace: 500ms }\n"
         "plugins: { dirs: [\"" + (test::BinaryDir() / "plugins").string() + "\"] }\n";
}

// "…] [INFO] line 17" → 17; -1 for anything else.
int LineNumber(const json& event) {
  static const std::regex kLine(R"(^\[[0-9T:.Z-]+\] \[INFO\] line (\d+)\n$)");
  std::smatch m;
  const std::string content = event.value("content", "");
  if (event.value("type", "") != "log" || !std::regex_match(content, m, kLine)) return -1;
  return std::stoi(m[1]);
}

// The next `n` log events of `sse`, as line numbers; REQUIREs they are consecutive.
std::vector<int> ConsecutiveLines(SseStream& sse, int n) {
  std::vector<int> out;
  for (int i = 0; i < n; ++i) {
    const json event = NextJson(sse);
    INFO(event.dump());
    const int number = LineNumber(event);
    REQUIRE(number >= 0);
    if (!out.empty()) REQUIRE(number == out.back() + 1);
    out.push_back(number);
  }
  return out;
}

// The first event after the log lines, then REQUIREs the stream ends there.
json LastEvent(SseStream& sse) {
  json event;
  for (int i = 0; i < 10000; ++i) {
    event = NextJson(sse);
    if (event["type"] != "log") break;
  }
  CHECK_FALSE(sse.NextEvent(5s).has_value());
  return event;
}

}  // namespace

TEST_CASE("log stream node: a worker's lines followed live, its history after a restart, shutdown ends the stream",
          "[gateway][logs]") {
  TempDir dir;
  auto node = test::StartLocalNode(NodeYaml(), dir.path());
  uint16_t port = node->http_port();
  const std::string script = "for (let i = 0; !shouldStop(); i++) { logger.info('line ' + i); await Stels.sleep(40); }";
  auto created = Must(Fetch(port, "POST", "/api/v1/workers", kNodeAuth,
                            json{{"mode", "single"}, {"active", true}, {"script", script}}.dump()));
  REQUIRE(created.status == 201);
  const std::string sid = json::parse(created.body)["sid"];
  REQUIRE(Eventually([&] {
    auto tail = Fetch(port, "GET", "/api/v1/workers/" + sid + "/logs?lines=10", kNodeAuth);
    return tail && tail->status == 200 && json::parse(tail->body)["lines"].size() >= 5;
  }));

  // Backlog from the ring (3 lines), then the lines as they are written, in order.
  SseStream follow(port);
  OpenStream(follow, "/api/worker/logs/stream?sid=" + sid + "&follow=true&lines=3", kNodeAuth);
  const auto followed = ConsecutiveLines(follow, 15);
  CHECK(followed.front() >= 2);
  // Five more followers of the same worker (one feed subscription: see the tests above).
  std::vector<std::unique_ptr<SseStream>> more;
  for (int i = 0; i < 5; ++i) {
    more.push_back(std::make_unique<SseStream>(port));
    OpenStream(*more.back(), "/api/v1/workers/" + sid + "/logs?follow=1&lines=1", kNodeAuth);
    ConsecutiveLines(*more.back(), 5);
  }
  more.clear();
  const auto later = ConsecutiveLines(follow, 3);
  CHECK(later.front() == followed.back() + 1);

  // A non-follow read: the files' last lines, then complete.
  SseStream once(port);
  OpenStream(once, "/api/worker/logs/stream?sid=" + sid + "&follow=false&lines=4", kNodeAuth);
  ConsecutiveLines(once, 4);
  CHECK(NextJson(once) == json{{"type", "complete"}});
  CHECK_FALSE(once.NextEvent(5s).has_value());

  // Unknown worker; no credentials.
  SseStream unknown(port);
  OpenStream(unknown, "/api/worker/logs/stream?sid=00000000-0000-4000-8000-000000000000&follow=true", kNodeAuth);
  CHECK(NextJson(unknown) ==
        json{{"type", "error"}, {"message", "worker 00000000-0000-4000-8000-000000000000 not found"}});
  CHECK(Must(Fetch(port, "GET", "/api/worker/logs/stream?sid=" + sid + "&follow=true")).status == 401);

  // Stop the worker and restart the node: the ring is empty, so a follower gets the
  // history from the files, then the lines of the worker started again.
  REQUIRE(Must(Fetch(port, "POST", "/api/v1/workers/" + sid + "/stop", kNodeAuth)).status == 200);
  REQUIRE(node->Shutdown(10s).ok());
  node.reset();
  // Shutdown ended the first follower's stream with an event, not a dropped connection.
  CHECK(LastEvent(follow) == json{{"type", "error"}, {"message", "node stopping"}});
  CHECK(follow.ended());
  node = test::StartLocalNode(NodeYaml(), dir.path());
  port = node->http_port();
  const json tail_lines = json::parse(Must(Fetch(port, "GET", "/api/v1/workers/" + sid + "/logs?lines=5", kNodeAuth)).body)["lines"];
  REQUIRE(tail_lines.size() == 5);
  SseStream history(port);
  OpenStream(history, "/api/v1/workers/" + sid + "/logs?follow=1&lines=5", kNodeAuth);
  for (const auto& line : tail_lines) CHECK(NextJson(history) == LogEvent(line.get<std::string>()));
  REQUIRE(Must(Fetch(port, "POST", "/api/v1/workers/" + sid + "/start", kNodeAuth)).status == 200);
  ConsecutiveLines(history, 3);

  REQUIRE(node->Shutdown(10s).ok());
  CHECK(LastEvent(history) == json{{"type", "error"}, {"message", "node stopping"}});
  CHECK(history.ended());
}
