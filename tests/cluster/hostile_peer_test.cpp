// Parties that passed TLS but not the cluster handshake, and peers that did but misbehave,
// against real amid processes (issue 9, items 1 and 2):
//   - the published actors serve only their protocol: remote exit (kill) / error / forged
//     down messages and node-only commands (wantlease, shutdown, cattach, ticks, members,
//     cstatsall, faults) sent to the peer gate, to the admin gate and straight to the
//     cluster actor change nothing — the node runs, its leader keeps the lease, admin answers;
//   - membership sanity: a node with another peer list, two nodes with one id, and a peer
//     whose clock stamps run far ahead are each refused with a log line saying why.
//   - tombstones: each peer reports (in heartbeats) how far it applied a node's store, and
//     the node keeps that per peer in its store for the sweep (kv::Store::SweepExpired).
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <atomic>
#include <cstring>

#include "actors/messages.h"
#include "runtime/base/clock.h"
#include "runtime/base/digest.h"
#include "runtime/cluster/membership.h"
#include "tests/cluster/cluster_harness.h"
#include "transport/caf_tls.h"

using namespace ami;
using namespace ami::test;
using nlohmann::json;

namespace {

constexpr const char* kSecret = "s3cret-cluster";  // the harness's cluster secret
constexpr const char* kClusterName = "test";

bool Contains(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

// HMAC-SHA256 over the parts joined by '|' (each followed by one), as hex: the cluster's MAC.
std::string Mac(std::initializer_list<std::string> parts) {
  std::string data;
  for (const auto& p : parts) data += p + "|";
  return HmacSha256Hex(kSecret, data);
}

std::string Nonce() {
  static std::atomic<unsigned> n{0};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%032x", ++n);
  return buf;
}

// A CAF process that reaches a node's ports with a certificate of the cluster CA.
struct Client {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;

  explicit Client(const transport::TlsFiles& tls) {
    cfg.add_message_types<caf::id_block::ami>();
    transport::UseTls(cfg, tls);
    cfg.set("logger.verbosity", caf::atom("quiet"));
    system = std::make_unique<caf::actor_system>(cfg);
  }

  caf::actor Connect(uint16_t port) {
    caf::scoped_actor self{*system};
    caf::actor handle;
    self->request(transport::Connector(*system), std::chrono::seconds(10), caf::connect_atom_v, std::string("127.0.0.1"),
                  port)
        .receive([&](const caf::node_id&, caf::strong_actor_ptr& ptr,
                     const std::set<std::string>&) { handle = caf::actor_cast<caf::actor>(std::move(ptr)); },
                 [&](caf::error& err) { FAIL("connect to " << port << ": " << system->render(err)); });
    REQUIRE(handle);
    return handle;
  }
};

// The view every node of `c` computes (runtime/cluster/membership.h), as node `i` sees it.
wire::View ViewOf(TestCluster& c, size_t i, const ClusterOptions& o) {
  std::vector<std::string> all;
  for (size_t j = 0; j < c.size(); ++j) all.push_back("127.0.0.1:" + std::to_string(c.ClusterPort(j)));
  auto v = cluster::MakeView(all[i], all, o.ttl.count(), o.margin.count(), cluster::LocalAddresses());
  return wire::View{v.hash, static_cast<uint32_t>(v.members.size()), v.ttl_ms, v.margin_ms};
}

}  // namespace

TEST_CASE("published actors serve only their protocol: remote exit/error/down and node commands change nothing",
          "[cluster][guard]") {
  ClusterOptions o;
  o.nodes = 1;  // a cluster of one: its leases need nobody else, so any loss would show
  TestCluster c(o);
  c.Start(0);
  json w = c.Ok(0, "workers.create", {{"script", SpanScript()}, {"executionMode", "leader"}, {"scope", "network"},
                                      {"priority", "high"}, {"active", true}});
  const std::string sid = w["sid"].get<std::string>();
  REQUIRE(Eventually([&] { return LastSpan(c, sid).has_value(); }, std::chrono::seconds(40)));

  Client client(c.OperatorTls());
  caf::actor peer_gate = client.Connect(c.ClusterPort(0));
  caf::actor admin_gate = client.Connect(c.AdminPort(0));
  caf::scoped_actor self{*client.system};

  // A hello without the right view is refused — but its answer comes from the cluster
  // actor itself, so an unauthenticated party learns that actor's address.
  caf::actor cluster_actor;
  wire::Hello hello{kClusterName, "mallory", "inc", Nonce(), wire::View{}};
  self->request(peer_gate, std::chrono::seconds(15), hello_atom_v, hello)
      .receive(
          [&](const wire::HelloReply& reply) {
            CHECK(reply.mac.empty());
            cluster_actor = caf::actor_cast<caf::actor>(self->current_sender());
          },
          [&](caf::error& err) { FAIL("hello: " << caf::to_string(err) << "\n" << c.Output(0)); });
  REQUIRE(cluster_actor);
  REQUIRE(cluster_actor != peer_gate);

  // Node-only commands, straight to the cluster actor and through the gate.
  // Refused = an unexpected_message error; an answer of any type (or none) is not.
  auto expect_refused = [&](const caf::actor& to, auto... xs) {
    caf::error got;
    self->request(to, std::chrono::seconds(5), xs...)
        .receive([&](const std::string& text) { FAIL("answered: " << text); }, [&](caf::error& err) { got = err; });
    INFO(caf::to_string(got));
    CHECK(got == caf::sec::unexpected_message);
  };
  for (const caf::actor& to : {cluster_actor, peer_gate}) {
    self->send(to, want_lease_atom_v, sid, false);
    self->send(to, attach_atom_v, caf::actor_cast<caf::actor>(self));
    for (int i = 0; i < 500; ++i) {
      self->send(to, tick_atom_v);
      self->send(to, heartbeat_atom_v);
    }
    expect_refused(to, shutdown_atom_v);
    expect_refused(to, members_atom_v);
    expect_refused(to, cluster_stats_atom_v);
    expect_refused(to, faults_atom_v, std::string(R"({"drop":[]})"));
  }
  // System messages that stop an unguarded actor, to all three.
  for (const caf::actor& to : {cluster_actor, peer_gate, admin_gate}) {
    self->send(to, caf::make_error(caf::sec::runtime_error, "boom"));
    self->send(to, caf::down_msg{to.address(), caf::exit_reason::kill});
    self->send_exit(to, caf::exit_reason::user_shutdown);
    self->send_exit(to, caf::exit_reason::kill);
    caf::anon_send_exit(to, caf::exit_reason::kill);
  }
  const int64_t attacked_at = WallMillis();

  // The gates and the cluster actor still answer: the peer gate forwards a hello, the
  // admin gate relays requests.
  self->request(peer_gate, std::chrono::seconds(15), hello_atom_v, hello)
      .receive([&](const wire::HelloReply&) {}, [&](caf::error& err) { FAIL("hello after: " << caf::to_string(err)); });
  json info = c.Admin(0, "node.info");
  INFO(info.dump());
  CHECK(info["ok"] == true);
  CHECK(c.Ok(0, "nodes.list")["nodes"].size() == 1);
  // The lease is still held: the leader keeps running well past a lease time (2 s).
  CHECK(Eventually([&] {
    auto last = LastSpan(c, sid);
    return last && last->start > attacked_at + 4000;
  }, std::chrono::seconds(30)));
  CHECK(c.Running(0));
  json leader = c.Ok(0, "leader.info", {{"sid", sid}});
  CHECK(leader["hasLeader"] == true);

  const std::string log = c.Output(0);
  INFO(log.substr(log.size() > 6000 ? log.size() - 6000 : 0));
  CHECK(Contains(log, "refused 'wantlease' from another process"));
  CHECK(Contains(log, "ignored a system message"));
  CHECK_FALSE(Contains(log, "lease for worker " + sid + " lost"));
}

TEST_CASE("a node with a different peer list is refused with a log line saying why", "[cluster][membership]") {
  ClusterOptions o;
  o.extra_peers = {{}, {}, {"127.0.0.1:9"}};  // n3 believes in a fourth node
  TestCluster c(o);
  c.StartAll();
  REQUIRE(c.WaitConnected({0, 1}));
  CHECK(Eventually([&] {
    return Contains(c.Output(0), "refused node 'n3'") && Contains(c.Output(0), "different membership view") &&
           Contains(c.Output(2), "different membership view");
  }));
  const std::string log = c.Output(0);
  INFO(log);
  CHECK(Contains(log, "it counts 4 members, we count 3"));
  const json nodes = c.Ok(0, "nodes.list")["nodes"];
  for (const auto& n : nodes) CHECK(n["id"] != "n3");  // never learned, never up
}

TEST_CASE("two nodes with one id are refused with a log line saying why", "[cluster][membership]") {
  ClusterOptions o;
  o.node_ids = {"n1", "n2", "n2"};
  TestCluster c(o);
  c.StartAll();
  CHECK(Eventually([&] { return Contains(c.Output(0), "two nodes share one id"); }));
  // Each n2 sees the other claim its own id.
  CHECK(Eventually([&] {
    return Contains(c.Output(1), "our own") || Contains(c.Output(2), "our own");
  }));
  // n1 serves at most one n2.
  size_t n2s = 0;
  const json nodes = c.Ok(0, "nodes.list")["nodes"];
  for (const auto& n : nodes) n2s += n["id"] == "n2" && n["state"] == "up";
  CHECK(n2s <= 1);
}

TEST_CASE("heartbeats and rows stamped beyond max_clock_skew are refused and logged", "[cluster][membership]") {
  ClusterOptions o;
  o.nodes = 2;  // n1 is real; the test plays n2, on n2's port, with the cluster secret
  TestCluster c(o);
  const wire::View view = ViewOf(c, 1, o);
  REQUIRE(view.hash == ViewOf(c, 0, o).hash);

  const auto tls = transport::NodeFilesIn(c.OperatorTls().ca_file.parent_path());
  Client fake(tls);
  // n2's published side: answers n1's handshake as n2 would, and ignores the rest.
  caf::actor server = fake.system->spawn([view](caf::event_based_actor* me) -> caf::behavior {
    me->set_default_handler(caf::drop);
    return {
        [view](hello_atom, const wire::Hello& h) {
          const std::string nonce = Nonce();
          return wire::HelloReply{"n2", "fake-inc", nonce,
                                  Mac({"ami-hello", kClusterName, "n2", h.nonce, nonce, view.hash, h.view.hash}), view};
        },
        [](auth_atom, const wire::Auth&) { return true; },
        [](repl_pull_atom, uint64_t) { return wire::ReplBatch{}; },
        [](peer_stats_atom) { return std::string("{}"); },
        [](heartbeat_atom, const wire::Heartbeat&) {},
        [](lease_atom, const cluster::LeaseMsg&) {},
        [](repl_push_atom, const wire::ReplBatch&) {},
    };
  });
  // The fake's actor system waits for its actors when it goes: end the server first.
  struct Stop {
    caf::actor& a;
    ~Stop() { caf::anon_send_exit(a, caf::exit_reason::kill); }
  } stop_server{server};
  auto published = transport::Publish(*fake.system, server, "127.0.0.1", c.ClusterPort(1));
  REQUIRE(published.ok());
  c.Start(0);
  caf::actor gate = fake.Connect(c.ClusterPort(0));

  // The inbound handshake, as n2.
  caf::scoped_actor self{*fake.system};
  const std::string our_nonce = Nonce();
  wire::HelloReply reply;
  self->request(gate, std::chrono::seconds(5), hello_atom_v, wire::Hello{kClusterName, "n2", "fake-inc", our_nonce, view})
      .receive([&](wire::HelloReply& r) { reply = std::move(r); },
               [&](caf::error& err) { FAIL("hello: " << caf::to_string(err)); });
  REQUIRE(reply.node == "n1");
  REQUIRE(reply.mac == Mac({"ami-hello", kClusterName, "n1", our_nonce, reply.nonce, view.hash, view.hash}));
  bool authed = false;
  self->request(gate, std::chrono::seconds(5), auth_atom_v,
                wire::Auth{"n2", Mac({"ami-auth", kClusterName, "n2", reply.nonce, our_nonce, view.hash})})
      .receive([&](bool ok) { authed = ok; }, [&](caf::error& err) { FAIL("auth: " << caf::to_string(err)); });
  REQUIRE(authed);
  // n1 must also have connected out to "n2" (the server above) for n2's heartbeats to count.
  INFO(c.Output(0));
  REQUIRE(Eventually([&] {
    const json nodes = c.Ok(0, "nodes.list")["nodes"];
    for (const auto& n : nodes)
      if (n["id"] == "n2") return true;
    return false;
  }));

  const uint64_t far = static_cast<uint64_t>(WallMillis() + 3600 * 1000) << 16;
  wire::Heartbeat beat{"n2", "fake-inc", "fake-store", 0, 0, "", 0};
  wire::ReplBatch batch;
  batch.node = "n2";
  batch.store_incarnation = "fake-store";
  batch.after = 0;
  batch.upto = 1;
  batch.rows.push_back(wire::ReplRow{"", false, "1", 0, far, "n2", 1});
  {
    // An encoded key ["future"] as the store writes it.
    batch.rows[0].key = kv::EncodeKey(kv::MakeKey({"future"}));
  }
  // A plain heartbeat loads n1's cursor for us; then the far-future rows and heartbeat.
  auto next_send = std::chrono::steady_clock::now();
  CHECK(Eventually([&] {
    if (std::chrono::steady_clock::now() < next_send) return false;
    next_send = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    beat.hlc = static_cast<uint64_t>(WallMillis()) << 16;
    self->send(gate, heartbeat_atom_v, beat);
    self->send(gate, repl_push_atom_v, batch);
    beat.hlc = far;
    self->send(gate, heartbeat_atom_v, beat);
    const std::string log = c.Output(0);
    return Contains(log, "refused a heartbeat from n2: its clock stamp is") &&
           Contains(log, "replicated rows from n2: clock stamps up to");
  }, std::chrono::seconds(30)));
  const std::string log = c.Output(0);
  INFO(log);
  CHECK(Contains(log, "cluster.max_clock_skew 5000 ms"));
  // The refused row never reached the store, and n1 keeps serving.
  json got = c.Admin(0, "kv.get", {{"space", "network"}, {"key", json::array({"future"})}});
  INFO(got.dump());
  CHECK(got["ok"] == false);
  CHECK(got["error"]["code"] == "not_found");
  CHECK(c.Running(0));
}

namespace {

// Rows of a running node's store, read beside it (WAL: readers do not block the node).
std::vector<std::vector<std::string>> Query(const std::filesystem::path& db_file, const std::string& sql) {
  sqlite3* db = nullptr;
  std::vector<std::vector<std::string>> rows;
  if (sqlite3_open_v2(db_file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return rows;
  }
  sqlite3_busy_timeout(db, 2000);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK) {
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const auto* text = sqlite3_column_text(stmt, i);
        row.push_back(text ? reinterpret_cast<const char*>(text) : "");
      }
      rows.push_back(std::move(row));
    }
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

}  // namespace

TEST_CASE("every peer reports how far it applied a node's store, which is what its tombstone sweep waits for",
          "[cluster][membership]") {
  TestCluster c;
  c.StartAll();
  REQUIRE(c.WaitConnected());
  c.Ok(0, "kv.set", {{"space", "network"}, {"key", json::array({"doomed"})}, {"value", 1}});
  c.Ok(0, "kv.delete", {{"space", "network"}, {"key", json::array({"doomed"})}});
  const auto db = c.DataDir(0) / "node.db";
  const auto incarnation = Query(db, "SELECT value FROM meta WHERE name = 'kv.incarnation'");
  REQUIRE(incarnation.size() == 1);
  const auto tombstone = Query(db, "SELECT max(versionstamp) FROM kv WHERE deleted = 1");
  REQUIRE(tombstone.size() == 1);
  const uint64_t deleted_at = std::stoull(tombstone[0][0]);
  // n2 and n3 each tell n1 (in heartbeats) that they have n1's store up to the delete.
  std::vector<std::vector<std::string>> acks;
  CHECK(Eventually([&] {
    acks = Query(db, "SELECT name, value FROM meta WHERE name LIKE 'repl.acked.%' ORDER BY name");
    if (acks.size() != 2) return false;
    for (const auto& a : acks) {
      const auto colon = a[1].rfind(':');
      if (a[1].substr(0, colon) != incarnation[0][0] || std::stoull(a[1].substr(colon + 1)) < deleted_at) return false;
    }
    return true;
  }, std::chrono::seconds(30)));
  REQUIRE(acks.size() == 2);
  CHECK(acks[0][0] == "repl.acked.n2");
  CHECK(acks[1][0] == "repl.acked.n3");
}

TEST_CASE("CAF 0.17 ends an actor on exit_reason::kill whatever its exit handler says", "[guard]") {
  // Why RemoteGuarded filters in front of the mailbox instead of in an exit handler.
  caf::actor_system_config cfg;
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system system{cfg};
  auto stubborn = system.spawn([](caf::event_based_actor* me) -> caf::behavior {
    me->set_exit_handler([](caf::exit_msg&) {});  // ignores every exit message it is shown
    return {[](int x) { return x; }};
  });
  caf::scoped_actor self{system};
  self->monitor(stubborn);
  self->send_exit(stubborn, caf::exit_reason::user_shutdown);
  bool alive = false;
  self->request(stubborn, std::chrono::seconds(5), 1).receive([&](int) { alive = true; }, [](caf::error&) {});
  CHECK(alive);  // an ordinary exit message is the handler's to ignore
  self->send_exit(stubborn, caf::exit_reason::kill);
  bool down = false;
  self->receive([&](caf::down_msg& d) { down = d.reason == caf::exit_reason::kill; },
                caf::after(std::chrono::seconds(10)) >> [] {});
  CHECK(down);  // kill is not
}
