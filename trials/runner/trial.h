// One fault trial against real processes (docs/reliability.md, "Running the trials"):
// ami-exchange-sim, N amid nodes (TTL 2 s) trading through the bybit connector against
// it, a leader-mode grid worker, a leader-mode DCA worker and a KV writer per node; the
// seeded schedule's faults applied on time; everything healed; the History collected.
#pragma once

#include <filesystem>
#include <string>

#include "trials/history.h"

namespace ami::trials::runner {

struct TrialOptions {
  uint64_t seed = 1;
  int nodes = 3;
  double minutes = 1.0;               // the schedule's duration (heal_all at its end)
  std::filesystem::path work_dir;     // this trial's files: the simulator's, the scripts, kept logs
  bool verbose = true;                // print faults as they are applied
};

// Runs the trial; throws std::runtime_error when the trial itself cannot run (a node or
// the simulator does not start). Node logs and outputs are copied to work_dir/nodes/
// before the cluster's temporary directory goes away.
History RunTrial(const TrialOptions& options);

// The injections this runner applies: kill9, stop, restart, partition, clock_drift (a
// restart with cluster.lease_clock_rate) and slow_disk (admin faults.set commit_delay_ms).
std::vector<FaultKind> SupportedKinds();

}  // namespace ami::trials::runner
