// Execution statistics per worker and for the node, with the fields STELS clients read
// (stels-compat.md §4). Worker actors update them; the admin service and the shutdown
// summary read them.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "runtime/stats/histogram.h"

namespace ami {

enum class ErrorClass { kNetwork, kCritical };
const char* ToString(ErrorClass error_class);   // "network" | "critical"

struct WorkerStats {
  std::string sid;
  std::optional<int64_t> started;        // ms since epoch of the current start
  uint64_t executions = 0;               // completed calls, successful or not
  uint64_t errors = 0;
  uint64_t network_errors = 0;
  uint64_t critical_errors = 0;
  uint64_t consecutive_errors = 0;
  std::optional<std::string> last_error;
  std::optional<ErrorClass> last_error_type;
  std::optional<int64_t> last_run;       // ms since epoch of the last completed call
  std::string script_hash;               // 8 hex digits
  bool is_running = false;
  std::string status = "stopped";        // running | backing-off | stopped | failed | finished
  // For /metrics only (not in the compat JSON): wall time of each completed call, from
  // its start to its promise settling (awaits included), counted with `executions`.
  Histogram run_seconds{kRunSecondsBounds};
  // The isolate's V8 heap, sampled by the worker at most once a second while it runs
  // entries; 0 before the first sample. Stale once the worker stops (is_running false).
  uint64_t heap_used_bytes = 0;
  uint64_t heap_total_bytes = 0;
  uint64_t heap_limit_bytes = 0;
};

// The compat JSON of one worker: sid, started, uptime, executions, errors, networkErrors,
// criticalErrors, consecutiveErrors, errorRate ("0.05%", "0%" without executions),
// lastError, lastErrorType, lastRun, lastRunAgo, scriptHash, isRunning, status.
// started/lastRun are ms since epoch or null; uptime = now - started (0 when not
// started), lastRunAgo = now - lastRun (null without a run), both clamped at 0;
// lastError/lastErrorType are null when unset.
nlohmann::json StatsToJson(const WorkerStats& stats, int64_t now_ms);
// "12.34%" = errors / executions x 100 with 2 decimals; "0%" when there are no executions.
std::string ErrorRate(uint64_t errors, uint64_t executions);

// Thread-safe table of every worker's stats on this node.
class StatsRegistry {
 public:
  template <class F>
  void Update(const std::string& sid, F&& update) {
    std::lock_guard<std::mutex> lock(mu_);
    WorkerStats& s = stats_[sid];
    s.sid = sid;
    update(s);
  }
  void Remove(const std::string& sid);
  std::optional<WorkerStats> Get(const std::string& sid) const;
  // Every worker's stats, ordered by sid.
  std::vector<WorkerStats> Snapshot() const;
  // runningWorkers counts is_running, stoppedWorkers the rest; workers are ordered by sid.
  // {totalWorkers, runningWorkers, stoppedWorkers, totalExecutions, totalErrors,
  //  totalNetworkErrors, totalCriticalErrors, timestamp, workers:[...]}
  nlohmann::json SummaryJson(int64_t now_ms) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, WorkerStats> stats_;   // guarded by mu_
};

}  // namespace ami
