#include "runtime/node/placement.h"

namespace ami {

bool RunsHere(const WorkerRecord& record, const std::string& node_id, bool holds_lease) {
  switch (record.execution_mode) {
    case ExecutionMode::kParallel: return true;
    case ExecutionMode::kExclusive: return record.assigned_node && *record.assigned_node == node_id;
    case ExecutionMode::kLeader: return holds_lease;
  }
  return false;
}

namespace {

std::string WaitingReason(const WorkerRecord& record, const std::set<std::string>* down_nodes) {
  if (record.execution_mode == ExecutionMode::kLeader) return "waiting: another node holds the lease";
  const std::string target = record.assigned_node.value_or("?");
  if (down_nodes && down_nodes->count(target)) return "waiting: exclusive to " + target + ", which is down";
  return "waiting: exclusive to " + target;
}

}  // namespace

Placement DecidePlacement(const PlacementFacts& f) {
  Placement out;
  const WorkerRecord* record = f.record;
  const bool active = record && record->active;

  const bool want = !f.shutting_down && active && record->execution_mode == ExecutionMode::kLeader;
  // Withdrawing waits for the actor to be gone (and at shutdown the cluster resigns).
  const bool may_withdraw = !f.shutting_down && !f.running;
  if (want && !f.wants_lease) out.lease_wish = true;
  else if (!want && f.wants_lease && may_withdraw) out.lease_wish = false;

  const bool here = active && RunsHere(*record, f.node_id, f.holds_lease);
  if (active && !here) out.waiting = WaitingReason(*record, f.down_nodes);

  const bool should_run = !f.shutting_down && here;
  if (should_run && !f.running) out.action = WorkerAction::kSpawn;
  else if (!should_run && f.running) out.action = WorkerAction::kStop;
  else if (should_run && !(*f.running == *record)) out.action = WorkerAction::kReload;

  out.forget_stats = !record && !f.running;
  return out;
}

}  // namespace ami
