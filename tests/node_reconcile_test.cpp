// The node's reconcile decision (runtime/node/placement.h): given the record in force,
// the worker actor here, the lease and the cluster's news, whether to spawn, stop or
// reload the worker, what to tell the cluster about its lease, and what its stats say.
#include <catch2/catch.hpp>

#include "runtime/node/placement.h"

using namespace ami;

namespace {

WorkerRecord Record(ExecutionMode mode, bool active = true, std::optional<std::string> assigned = std::nullopt) {
  WorkerRecord fields;
  fields.active = active;
  fields.execution_mode = mode;
  fields.assigned_node = std::move(assigned);
  return NewWorkerRecord("s-0001", fields, 1);
}

PlacementFacts Facts(const WorkerRecord* record, const WorkerRecord* running = nullptr) {
  PlacementFacts f;
  f.record = record;
  f.running = running;
  f.node_id = "s-0001";
  return f;
}

}  // namespace

TEST_CASE("reconcile: parallel workers start, stop, reload and are forgotten", "[reconcile]") {
  const WorkerRecord active = Record(ExecutionMode::kParallel);
  Placement p = DecidePlacement(Facts(&active));
  CHECK(p.action == WorkerAction::kSpawn);
  CHECK_FALSE(p.lease_wish);
  CHECK(p.waiting.empty());
  CHECK_FALSE(p.forget_stats);

  CHECK(DecidePlacement(Facts(&active, &active)).action == WorkerAction::kNothing);
  WorkerRecord edited = active;
  edited.note = "edited";  // any difference reloads; the worker decides what needs a restart
  CHECK(DecidePlacement(Facts(&edited, &active)).action == WorkerAction::kReload);

  WorkerRecord stopped = active;
  stopped.active = false;
  CHECK(DecidePlacement(Facts(&stopped, &active)).action == WorkerAction::kStop);
  CHECK(DecidePlacement(Facts(&stopped)).action == WorkerAction::kNothing);
  CHECK(DecidePlacement(Facts(&stopped)).waiting.empty());

  // Deleted: the actor stops; its stats go once it is gone.
  Placement deleted = DecidePlacement(Facts(nullptr, &active));
  CHECK(deleted.action == WorkerAction::kStop);
  CHECK_FALSE(deleted.forget_stats);
  CHECK(DecidePlacement(Facts(nullptr)).forget_stats);
}

TEST_CASE("reconcile: exclusive workers run only on their node and say where they wait", "[reconcile]") {
  const WorkerRecord mine = Record(ExecutionMode::kExclusive, true, "s-0001");
  CHECK(DecidePlacement(Facts(&mine)).action == WorkerAction::kSpawn);

  const WorkerRecord theirs = Record(ExecutionMode::kExclusive, true, "s-0002");
  Placement p = DecidePlacement(Facts(&theirs));
  CHECK(p.action == WorkerAction::kNothing);
  CHECK(p.waiting == "waiting: exclusive to s-0002");
  std::set<std::string> down{"s-0002"};
  PlacementFacts f = Facts(&theirs);
  f.down_nodes = &down;
  CHECK(DecidePlacement(f).waiting == "waiting: exclusive to s-0002, which is down");
  // Reassigned away from here while running: it stops.
  CHECK(DecidePlacement(Facts(&theirs, &mine)).action == WorkerAction::kStop);
  CHECK_FALSE(DecidePlacement(Facts(&theirs)).lease_wish);
}

TEST_CASE("reconcile: leader workers want their lease and run only while holding it", "[reconcile]") {
  const WorkerRecord leader = Record(ExecutionMode::kLeader);
  Placement ask = DecidePlacement(Facts(&leader));
  CHECK(ask.lease_wish == true);
  CHECK(ask.action == WorkerAction::kNothing);
  CHECK(ask.waiting == "waiting: another node holds the lease");

  PlacementFacts asked = Facts(&leader);
  asked.wants_lease = true;
  CHECK_FALSE(DecidePlacement(asked).lease_wish);  // asked already
  asked.holds_lease = true;
  CHECK(DecidePlacement(asked).action == WorkerAction::kSpawn);
  CHECK(DecidePlacement(asked).waiting.empty());

  // Lease lost while running: stop.
  PlacementFacts lost = Facts(&leader, &leader);
  lost.wants_lease = true;
  CHECK(DecidePlacement(lost).action == WorkerAction::kStop);

  // Stopped by its record: the wish is withdrawn only once the actor is gone, so the next
  // holder never overlaps with a run still ending here.
  WorkerRecord stopped = leader;
  stopped.active = false;
  PlacementFacts stopping = Facts(&stopped, &leader);
  stopping.wants_lease = true;
  stopping.holds_lease = true;
  Placement still = DecidePlacement(stopping);
  CHECK(still.action == WorkerAction::kStop);
  CHECK_FALSE(still.lease_wish);
  stopping.running = nullptr;
  CHECK(DecidePlacement(stopping).lease_wish == false);

  // A record that stops being leader-mode withdraws too.
  const WorkerRecord parallel = Record(ExecutionMode::kParallel);
  PlacementFacts switched = Facts(&parallel);
  switched.wants_lease = true;
  CHECK(DecidePlacement(switched).lease_wish == false);
  CHECK(DecidePlacement(switched).action == WorkerAction::kSpawn);
}

TEST_CASE("reconcile: shutting down stops everything and leaves leases to the cluster", "[reconcile]") {
  const WorkerRecord leader = Record(ExecutionMode::kLeader);
  PlacementFacts f = Facts(&leader, &leader);
  f.holds_lease = true;
  f.wants_lease = true;
  f.shutting_down = true;
  Placement p = DecidePlacement(f);
  CHECK(p.action == WorkerAction::kStop);
  CHECK_FALSE(p.lease_wish);
  f.running = nullptr;
  CHECK_FALSE(DecidePlacement(f).lease_wish);
  CHECK(DecidePlacement(f).action == WorkerAction::kNothing);

  const WorkerRecord parallel = Record(ExecutionMode::kParallel);
  PlacementFacts idle = Facts(&parallel);
  idle.shutting_down = true;
  CHECK(DecidePlacement(idle).action == WorkerAction::kNothing);  // nothing new starts
}

TEST_CASE("RunsHere follows the execution mode", "[reconcile]") {
  CHECK(RunsHere(Record(ExecutionMode::kParallel), "s-0009", false));
  CHECK(RunsHere(Record(ExecutionMode::kExclusive, true, "s-0009"), "s-0009", false));
  CHECK_FALSE(RunsHere(Record(ExecutionMode::kExclusive, true, "s-0002"), "s-0009", true));
  CHECK(RunsHere(Record(ExecutionMode::kLeader), "s-0009", true));
  CHECK_FALSE(RunsHere(Record(ExecutionMode::kLeader), "s-0009", false));
}
