// Fault schedules for the randomized trials (issue 14, docs/reliability.md): a seeded,
// replayable list of the faults one trial applies to a cluster, in time order.
//
// Pure: no processes, no clock. The runner applies each Fault at `at_ms` after the trial's
// start; the same options (seed included) always give the same schedule, on any platform
// (the generator uses its own SplitMix64, not the implementation-defined std
// distributions), so "--seed S" replays a trial.
//
// What keeps the cluster recoverable (ValidateSchedule checks all of it):
//   - At most f = (nodes - 1) / 2 nodes are *disturbed* at any moment, so a majority of the
//     configured membership is always up, connected and answering: 1 of 3, 2 of 5 (none of 1
//     or 2 — such clusters only get slow disks). Disturbed: killed (from kill9 until its
//     start, plus boot_ms + ttl_ms — a restarted acceptor answers nothing for one lease
//     time), stopped (stop to cont), restarted or drift-restarted (boot_ms + ttl_ms), or
//     outside the largest group of a partition (partition to heal).
//   - One fault per node at a time; at most one partition and one slow disk at a time.
//   - cont comes more than ttl_ms after its stop (the frozen node's lease is surely over).
//   - Clock drift stays within the documented bound (docs/cluster.md, "Safety
//     assumptions": lease clocks' rates differ by less than margin/ttl): every drift is at
//     most 0.45 × drift_bound × ttl_ms per ttl_ms either way, so any two nodes' rates differ
//     by < 0.9 × drift_bound. Drift is a condition, not a failure: it stays until the end.
//   - No fault starts in the last quiet_tail_ms; the last event is heal_all at duration_ms,
//     which ends whatever is still going (partition, stopped or killed nodes, slow disks).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ami::trials {

enum class FaultKind {
  kKill9,        // SIGKILL `nodes[0]`; it stays down until its kStart (or heal_all)
  kStart,        // start the killed node again
  kStop,         // SIGSTOP `nodes[0]`
  kCont,         // SIGCONT it (> ttl_ms after the stop)
  kPartition,    // `groups`: every node in exactly one; a node drops traffic from other groups
  kHeal,         // end the partition
  kRestart,      // graceful restart of `nodes[0]` (SIGTERM, wait, start): the resign path
  kClockDrift,   // restart `nodes[0]` with its lease clock drifting `drift_ms` per ttl_ms
                 // (cluster.lease_clock_rate = 1 + drift_ms / ttl_ms, a config-only knob)
  kSlowDisk,     // every fsync on `nodes[0]` takes `delay_ms` longer
  kSlowDiskEnd,  // back to normal
  kHealAll,      // end everything: heal, cont, start killed nodes, end slow disks
};

// "kill9", "start", "stop", "cont", "partition", "heal", "restart", "clock_drift",
// "slow_disk", "slow_disk_end", "heal_all".
const char* KindName(FaultKind kind);
// Inverse of KindName; throws std::invalid_argument for another name.
FaultKind KindFromName(const std::string& name);
// The kinds that inject a fault (what the report counts): kill9, stop, partition, restart,
// clock_drift, slow_disk. The others end one.
bool IsInjection(FaultKind kind);
const std::vector<FaultKind>& InjectionKinds();

struct Fault {
  int64_t at_ms = 0;  // after the trial's start
  FaultKind kind = FaultKind::kHealAll;
  std::vector<std::string> nodes = {};           // node ids ("n1"…); empty for partition/heal/heal_all
  std::vector<std::vector<std::string>> groups = {};  // kPartition only; the largest group first
  int64_t drift_ms = 0;                          // kClockDrift only
  int64_t delay_ms = 0;                          // kSlowDisk only
  bool operator==(const Fault&) const = default;
};

struct ScheduleOptions {
  uint64_t seed = 1;
  int nodes = 3;
  int64_t duration_ms = 60'000;  // heal_all comes at this time
  int64_t ttl_ms = 2'000;        // the cluster's lease TTL
  double drift_bound = 0.10;     // margin / ttl of the cluster (docs/cluster.md)
  int64_t warmup_ms = 3'000;     // nothing before: the first leader gets going
  int64_t gap_min_ms = 500;      // between two fault starts
  int64_t gap_max_ms = 4'000;
  int64_t boot_ms = 1'000;       // a (re)started node's time until it serves
  int64_t quiet_tail_ms = 2'000; // no fault starts in the last part of the trial
  std::vector<FaultKind> kinds;  // the injections to draw from; empty = all of them
  bool operator==(const ScheduleOptions&) const = default;
};

struct Schedule {
  ScheduleOptions options;
  std::vector<Fault> faults;  // by at_ms; ends with one heal_all at options.duration_ms
  bool operator==(const Schedule&) const = default;
};

// "n1" … "n<nodes>", the cluster harness's ids.
std::string NodeId(int index);

// The schedule of these options. Throws std::invalid_argument for options that make no
// sense (nodes < 1, duration ≤ warmup, ttl ≤ 0, drift_bound outside [0, 1), gaps out of order).
Schedule MakeSchedule(const ScheduleOptions& options);

// Every way `schedule` breaks the rules above, one sentence each; empty when it keeps them.
// Checks a hand-edited schedule as well as the generator's.
std::vector<std::string> ValidateSchedule(const Schedule& schedule);

// {"options": {...}, "faults": [{"at_ms", "kind", "nodes"?, "groups"?, "drift_ms"?, "delay_ms"?}]}.
nlohmann::json ToJson(const Schedule& schedule);
nlohmann::json ToJson(const Fault& fault);
nlohmann::json ToJson(const ScheduleOptions& options);
// Inverses; throw std::invalid_argument (naming the field) for malformed input.
Schedule ScheduleFromJson(const nlohmann::json& j);
Fault FaultFromJson(const nlohmann::json& j);
ScheduleOptions OptionsFromJson(const nlohmann::json& j);

// Without the time: "partition [n1 n3] | [n2]", "kill9 n2", "clock_drift n1 +90 ms per TTL".
std::string DescribeFault(const Fault& fault);
// One line: "   12300 ms  partition [n1 n3] | [n2]", "    4000 ms  kill9 n2", …
std::string FormatFault(const Fault& fault);
// One line per fault, each ending in '\n'.
std::string FormatSchedule(const Schedule& schedule);

}  // namespace ami::trials
