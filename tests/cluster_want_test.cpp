// The cluster actor's (wantlease) handling, in process with a real store (a cluster of
// one, so its leases need no peer): a want starts with an asynchronous read of the
// leader record, and a not-want arriving before that read answers must win — the lease
// follows the last wish (issue 10, "stale lease wish").
#include <catch2/catch.hpp>

#include <caf/all.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "actors/cluster_actor.h"
#include "actors/messages.h"
#include "tests/support/worker_rig.h"

using namespace ami;
using ami::test::Eventually;
using ami::test::StaysFalse;

namespace {

constexpr const char* kConfig = R"YAML(
node:
  id: s-0001
  data_dir: ./data
)YAML";

// The lease events the cluster actor sends its node, by sid, in order.
struct LeaseLog {
  std::mutex mu;
  std::map<std::string, std::vector<bool>> held;

  std::vector<bool> Of(const std::string& sid) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = held.find(sid);
    return it == held.end() ? std::vector<bool>{} : it->second;
  }
  bool Holds(const std::string& sid) {
    auto events = Of(sid);
    return !events.empty() && events.back();
  }
};

}  // namespace

TEST_CASE("cluster: quick want/not-want wishes end in the last wish's state", "[cluster][lease][wish]") {
  ami::test::WorkerRig rig;
  std::vector<std::string> problems;
  rig.Start(kConfig, &problems, [](caf::event_based_actor* self) -> caf::behavior {
    self->set_default_handler(caf::drop);
    return {[](failed_atom, const std::string&, const std::string&) {}};
  });
  auto log = std::make_shared<LeaseLog>();
  caf::actor recorder = rig.system->spawn([log](caf::event_based_actor* self) -> caf::behavior {
    self->set_default_handler(caf::drop);  // (nodeup, ...) is of no interest here
    return {[log](lease_changed_atom, const std::string& sid, bool held, const LeaderGrant&) {
      std::lock_guard<std::mutex> lock(log->mu);
      log->held[sid].push_back(held);
    }};
  });
  ClusterActor cluster = SpawnClusterActor(*rig.system, MakeClusterContext(rig.config, *rig.env, rig.store));
  caf::scoped_actor self{*rig.system};
  self->send(cluster, attach_atom_v, caf::actor_cast<LeaseListener>(recorder));

  // Sent back to back, so each later wish is in the cluster actor's mailbox before the
  // store answers the leader-record read of the first want. (Should the read ever win
  // the race, the lease is taken and then released: the final state is the same.)
  self->send(cluster, want_lease_atom_v, std::string("a-true-false"), true);
  self->send(cluster, want_lease_atom_v, std::string("a-true-false"), false);
  self->send(cluster, want_lease_atom_v, std::string("b-true-false-true"), true);
  self->send(cluster, want_lease_atom_v, std::string("b-true-false-true"), false);
  self->send(cluster, want_lease_atom_v, std::string("b-true-false-true"), true);
  self->send(cluster, want_lease_atom_v, std::string("c-true"), true);  // the control

  REQUIRE(Eventually([&] { return log->Holds("b-true-false-true") && log->Holds("c-true"); }));
  // Wanted last: held, and not given up afterwards.
  CHECK(StaysFalse([&] { return !log->Holds("b-true-false-true"); }, std::chrono::milliseconds(300)));
  // Not wanted last: not held now nor later (with the stale want applied it was acquired
  // together with the others and renewed for as long as the node ran).
  CHECK(StaysFalse([&] { return log->Holds("a-true-false"); }, std::chrono::milliseconds(300)));
  CHECK_FALSE(log->Holds("a-true-false"));

  self->request(cluster, std::chrono::seconds(30), shutdown_atom_v)
      .receive([](bool) {}, [](caf::error& err) { FAIL("cluster shutdown: " << caf::to_string(err)); });
  self->send_exit(cluster, caf::exit_reason::user_shutdown);
  self->send_exit(recorder, caf::exit_reason::user_shutdown);
}
