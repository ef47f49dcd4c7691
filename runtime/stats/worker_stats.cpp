#include "runtime/stats/worker_stats.h"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace ami {

namespace {

using json = nlohmann::json;

template <class T>
json OrNull(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

}  // namespace

const char* ToString(ErrorClass error_class) {
  switch (error_class) {
    case ErrorClass::kNetwork: return "network";
    case ErrorClass::kCritical: return "critical";
  }
  return "critical";
}

std::string ErrorRate(uint64_t errors, uint64_t executions) {
  if (executions == 0) return "0%";
  const double rate = static_cast<double>(errors) * 100.0 / static_cast<double>(executions);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f%%", rate);
  return buf;
}

nlohmann::json StatsToJson(const WorkerStats& s, int64_t now_ms) {
  json j = json::object();
  j["sid"] = s.sid;
  j["started"] = OrNull(s.started);
  j["uptime"] = s.started ? std::max<int64_t>(0, now_ms - *s.started) : int64_t{0};
  j["executions"] = s.executions;
  j["errors"] = s.errors;
  j["networkErrors"] = s.network_errors;
  j["criticalErrors"] = s.critical_errors;
  j["consecutiveErrors"] = s.consecutive_errors;
  j["errorRate"] = ErrorRate(s.errors, s.executions);
  j["lastError"] = OrNull(s.last_error);
  j["lastErrorType"] = s.last_error_type ? json(ToString(*s.last_error_type)) : json(nullptr);
  j["lastRun"] = OrNull(s.last_run);
  j["lastRunAgo"] = s.last_run ? json(std::max<int64_t>(0, now_ms - *s.last_run)) : json(nullptr);
  j["scriptHash"] = s.script_hash;
  j["isRunning"] = s.is_running;
  j["status"] = s.status;
  return j;
}

void StatsRegistry::Remove(const std::string& sid) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.erase(sid);
}

std::optional<WorkerStats> StatsRegistry::Get(const std::string& sid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = stats_.find(sid);
  if (it == stats_.end()) return std::nullopt;
  return it->second;
}

std::vector<WorkerStats> StatsRegistry::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<WorkerStats> out;
  out.reserve(stats_.size());
  for (const auto& [sid, s] : stats_) out.push_back(s);
  return out;
}

nlohmann::json StatsRegistry::SummaryJson(int64_t now_ms) const {
  // Copy under the lock, format outside it: workers update stats on every run.
  const std::vector<WorkerStats> all = Snapshot();
  uint64_t running = 0, executions = 0, errors = 0, network = 0, critical = 0;
  json workers = json::array();
  for (const auto& s : all) {
    if (s.is_running) ++running;
    executions += s.executions;
    errors += s.errors;
    network += s.network_errors;
    critical += s.critical_errors;
    workers.push_back(StatsToJson(s, now_ms));
  }
  json j = json::object();
  j["totalWorkers"] = all.size();
  j["runningWorkers"] = running;
  j["stoppedWorkers"] = all.size() - running;
  j["totalExecutions"] = executions;
  j["totalErrors"] = errors;
  j["totalNetworkErrors"] = network;
  j["totalCriticalErrors"] = critical;
  j["timestamp"] = now_ms;
  j["workers"] = std::move(workers);
  return j;
}

}  // namespace ami
