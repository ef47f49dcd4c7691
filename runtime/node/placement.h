// Where a worker runs, and what the node actor does about it: the reconcile decision as
// a pure function of what the node knows, so it is tested without actors.
//
//   should run here = record in force && record.active && RunsHere && not shutting down
//   RunsHere: parallel → every node; exclusive → only on assignedNode;
//             leader → only while this node holds the worker's lease
// Then: spawn (should run, no actor), stop (actor, should not run), reload (actor runs
// another record than the one in force), else nothing.
//
// Leases: an active leader-mode record wants its lease while the node is not shutting
// down. Giving a wish up waits until the worker actor is gone, so the next holder never
// overlaps with a run still ending here; at shutdown the cluster resigns them all.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "runtime/model/worker_record.h"

namespace ami {

// Whether `record` runs on node `node_id`, given whether this node holds its lease.
bool RunsHere(const WorkerRecord& record, const std::string& node_id, bool holds_lease);

// What the node knows about one sid.
struct PlacementFacts {
  const WorkerRecord* record = nullptr;   // the record in force; nullptr: none
  const WorkerRecord* running = nullptr;  // what its worker actor here runs; nullptr: no actor
  bool holds_lease = false;               // this node holds the worker's lease
  bool wants_lease = false;               // this node asked the cluster for it (and did not withdraw)
  bool shutting_down = false;
  std::string node_id;
  const std::set<std::string>* down_nodes = nullptr;  // peers the cluster reports down; may be null
};

enum class WorkerAction { kNothing, kSpawn, kStop, kReload };

struct Placement {
  WorkerAction action = WorkerAction::kNothing;
  std::optional<bool> lease_wish;  // set: tell the cluster "want" (true) / "no longer" (false)
  std::string waiting;             // active but not running here: the stats status saying why
  bool forget_stats = false;       // no record and no actor: its stats go
};

Placement DecidePlacement(const PlacementFacts& facts);

}  // namespace ami
