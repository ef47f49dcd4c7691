#include "trials/schedule.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

namespace ami::trials {

using nlohmann::json;

namespace {

struct KindInfo {
  FaultKind kind;
  const char* name;
  bool injection;
};
constexpr KindInfo kKinds[] = {
    {FaultKind::kKill9, "kill9", true},          {FaultKind::kStart, "start", false},
    {FaultKind::kStop, "stop", true},            {FaultKind::kCont, "cont", false},
    {FaultKind::kPartition, "partition", true},  {FaultKind::kHeal, "heal", false},
    {FaultKind::kRestart, "restart", true},      {FaultKind::kClockDrift, "clock_drift", true},
    {FaultKind::kSlowDisk, "slow_disk", true},   {FaultKind::kSlowDiskEnd, "slow_disk_end", false},
    {FaultKind::kHealAll, "heal_all", false},
};

// SplitMix64: tiny, and the same sequence on every platform and standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi] (the modulo bias is negligible for these small ranges).
  int64_t Range(int64_t lo, int64_t hi) {
    if (hi <= lo) return lo;
    return lo + static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  template <typename T>
  const T& Pick(const std::vector<T>& from) { return from[static_cast<size_t>(Range(0, from.size() - 1))]; }

 private:
  uint64_t state_;
};

int Tolerated(int nodes) { return nodes < 1 ? 0 : (nodes - 1) / 2; }
// Largest drift per ttl, in ms, either way (see the header: pairwise < 0.9 × bound).
int64_t MaxDrift(const ScheduleOptions& o) {
  return static_cast<int64_t>(std::floor(0.45 * o.drift_bound * static_cast<double>(o.ttl_ms)));
}

void CheckOptions(const ScheduleOptions& o) {
  auto bad = [](const std::string& what) { throw std::invalid_argument("schedule options: " + what); };
  if (o.nodes < 1) bad("nodes must be at least 1");
  if (o.ttl_ms <= 0) bad("ttl_ms must be positive");
  if (o.duration_ms <= o.warmup_ms) bad("duration_ms must be longer than warmup_ms");
  if (!(o.drift_bound >= 0 && o.drift_bound < 1)) bad("drift_bound must be in [0, 1)");
  if (o.gap_min_ms <= 0 || o.gap_max_ms < o.gap_min_ms) bad("need 0 < gap_min_ms <= gap_max_ms");
  if (o.warmup_ms < 0 || o.boot_ms < 0 || o.quiet_tail_ms < 0) bad("warmup_ms, boot_ms, quiet_tail_ms must be >= 0");
  for (FaultKind k : o.kinds)
    if (!IsInjection(k)) bad(std::string("kinds may only list injections, not ") + KindName(k));
}

// A node taken by a fault until `until`; `disturbs` = it counts against the majority.
struct Busy {
  std::string node;
  int64_t until;
  bool disturbs;
};

}  // namespace

const char* KindName(FaultKind kind) {
  for (const auto& k : kKinds)
    if (k.kind == kind) return k.name;
  return "?";
}

FaultKind KindFromName(const std::string& name) {
  for (const auto& k : kKinds)
    if (name == k.name) return k.kind;
  throw std::invalid_argument("unknown fault kind \"" + name + "\"");
}

bool IsInjection(FaultKind kind) {
  for (const auto& k : kKinds)
    if (k.kind == kind) return k.injection;
  return false;
}

const std::vector<FaultKind>& InjectionKinds() {
  static const std::vector<FaultKind> kinds = [] {
    std::vector<FaultKind> out;
    for (const auto& k : kKinds)
      if (k.injection) out.push_back(k.kind);
    return out;
  }();
  return kinds;
}

std::string NodeId(int index) { return "n" + std::to_string(index + 1); }

Schedule MakeSchedule(const ScheduleOptions& o) {
  CheckOptions(o);
  Rng rng(o.seed);
  const int f = Tolerated(o.nodes);
  const int64_t settle = o.boot_ms + o.ttl_ms;
  const int64_t max_drift = MaxDrift(o);
  const auto& allowed = o.kinds.empty() ? InjectionKinds() : o.kinds;
  std::vector<std::string> all;
  for (int i = 0; i < o.nodes; ++i) all.push_back(NodeId(i));

  Schedule s{o, {}};
  std::vector<Busy> busy;
  int64_t partition_until = -1, slow_until = -1;
  auto emit = [&](int64_t at, FaultKind kind, std::vector<std::string> nodes) -> Fault& {
    s.faults.push_back(Fault{at, kind, std::move(nodes)});
    return s.faults.back();
  };
  // An end event inside the trial; heal_all ends the ones that would come later.
  auto emit_end = [&](int64_t at, FaultKind kind, std::vector<std::string> nodes) {
    if (at < o.duration_ms) emit(at, kind, std::move(nodes));
  };

  for (int64_t t = o.warmup_ms;;) {
    t += rng.Range(o.gap_min_ms, o.gap_max_ms);
    if (t > o.duration_ms - o.quiet_tail_ms) break;
    std::erase_if(busy, [&](const Busy& b) { return b.until <= t; });
    int disturbed = 0;
    std::vector<std::string> free;
    for (const auto& b : busy) disturbed += b.disturbs;
    for (const auto& n : all)
      if (std::none_of(busy.begin(), busy.end(), [&](const Busy& b) { return b.node == n; })) free.push_back(n);
    if (free.empty()) continue;

    // The kind is drawn first and the slot skipped when it cannot happen now, so every
    // kind keeps its share (drawing among the possible ones would favour slow disks,
    // the only kind possible while a 3-node cluster has a node out).
    const FaultKind kind = rng.Pick(allowed);
    const std::string node = rng.Pick(free);
    if (kind != FaultKind::kSlowDisk && disturbed >= f) continue;
    if (kind == FaultKind::kStop && t + o.ttl_ms + 200 > o.duration_ms) continue;
    if (kind == FaultKind::kPartition && partition_until > t) continue;
    if (kind == FaultKind::kClockDrift && max_drift < 1) continue;
    if (kind == FaultKind::kSlowDisk && slow_until > t) continue;
    switch (kind) {
      case FaultKind::kKill9: {
        const int64_t start_at = t + rng.Range(300, 2 * o.ttl_ms);
        emit(t, kind, {node});
        emit_end(start_at, FaultKind::kStart, {node});
        busy.push_back({node, start_at + settle, true});
        break;
      }
      case FaultKind::kStop: {
        const int64_t cont_at = t + o.ttl_ms + rng.Range(200, o.ttl_ms);
        emit(t, kind, {node});
        emit_end(cont_at, FaultKind::kCont, {node});
        busy.push_back({node, cont_at, true});
        break;
      }
      case FaultKind::kRestart:
        emit(t, kind, {node});
        busy.push_back({node, t + settle, true});
        break;
      case FaultKind::kClockDrift: {
        int64_t drift = rng.Range(-max_drift, max_drift);
        if (drift == 0) drift = max_drift;
        emit(t, kind, {node}).drift_ms = drift;
        busy.push_back({node, t + settle, true});
        break;
      }
      case FaultKind::kPartition: {
        const int room = std::min<int>(f - disturbed, static_cast<int>(free.size()));
        std::vector<std::string> pool = free, away;
        for (int k = static_cast<int>(rng.Range(1, room)); k > 0; --k) {
          auto at = pool.begin() + rng.Range(0, pool.size() - 1);
          away.push_back(*at);
          pool.erase(at);
        }
        std::sort(away.begin(), away.end());
        std::vector<std::string> rest;
        for (const auto& n : all)
          if (std::find(away.begin(), away.end(), n) == away.end()) rest.push_back(n);
        Fault& p = emit(t, kind, {});
        p.groups.push_back(rest);
        if (away.size() > 1 && rng.Range(0, 1) == 1) {
          for (const auto& n : away) p.groups.push_back({n});  // isolated from each other too
        } else {
          p.groups.push_back(away);
        }
        const int64_t heal_at = t + rng.Range(o.ttl_ms / 2, 3 * o.ttl_ms);
        emit_end(heal_at, FaultKind::kHeal, {});
        for (const auto& n : away) busy.push_back({n, heal_at, true});
        partition_until = heal_at;
        break;
      }
      case FaultKind::kSlowDisk: {
        const int64_t end_at = t + rng.Range(o.ttl_ms, 4 * o.ttl_ms);
        emit(t, kind, {node}).delay_ms = rng.Range(20, 200);
        emit_end(end_at, FaultKind::kSlowDiskEnd, {node});
        busy.push_back({node, end_at, false});
        slow_until = end_at;
        break;
      }
      default:
        break;
    }
  }
  emit(o.duration_ms, FaultKind::kHealAll, {});
  // Ends were emitted with their fault; stable, so at equal times an end stays before
  // a fault drawn later.
  std::stable_sort(s.faults.begin(), s.faults.end(),
                   [](const Fault& a, const Fault& b) { return a.at_ms < b.at_ms; });
  return s;
}

// ------------------------------------------------------------------ validation
// Replays the schedule with its own bookkeeping (not the generator's), so a generator
// bug shows up here.
std::vector<std::string> ValidateSchedule(const Schedule& s) {
  std::vector<std::string> problems;
  const auto& o = s.options;
  try {
    CheckOptions(o);
  } catch (const std::invalid_argument& e) {
    return {e.what()};
  }
  const int f = Tolerated(o.nodes);
  const int64_t settle = o.boot_ms + o.ttl_ms;
  std::set<std::string> ids;
  for (int i = 0; i < o.nodes; ++i) ids.insert(NodeId(i));

  enum class State { kUp, kKilled, kStopped };
  struct NodeState {
    State state = State::kUp;
    int64_t since = 0;         // of the current kill/stop
    int64_t settle_until = 0;  // after a start, restart or drift restart: still disturbed
    bool slow = false;
    bool away = false;         // outside the largest group of the partition
    int64_t drift = 0;
  };
  std::map<std::string, NodeState> nodes;
  for (const auto& id : ids) nodes[id];
  bool partitioned = false;
  int64_t last_at = 0;

  for (size_t i = 0; i < s.faults.size(); ++i) {
    const Fault& x = s.faults[i];
    auto bad = [&](const std::string& what) { problems.push_back(DescribeFault(x) + " at " + std::to_string(x.at_ms) + " ms: " + what); };
    if (x.at_ms < last_at) bad("comes before the fault listed above it");
    if (x.at_ms < 0 || x.at_ms > o.duration_ms) bad("is outside the trial [0, " + std::to_string(o.duration_ms) + "] ms");
    last_at = x.at_ms;
    for (const auto& n : x.nodes)
      if (!ids.count(n)) bad("names the unknown node " + n);
    const bool one_node = x.kind != FaultKind::kPartition && x.kind != FaultKind::kHeal && x.kind != FaultKind::kHealAll;
    if (one_node && (x.nodes.size() != 1 || !ids.count(x.nodes[0]))) {
      bad("needs exactly one known node");
      continue;
    }
    NodeState* n = one_node ? &nodes[x.nodes[0]] : nullptr;
    auto occupied = [&](const NodeState& ns) {
      return ns.state != State::kUp || ns.settle_until > x.at_ms || ns.slow || ns.away;
    };
    if (IsInjection(x.kind) && x.at_ms > o.duration_ms - o.quiet_tail_ms) bad("starts in the quiet tail");
    switch (x.kind) {
      case FaultKind::kKill9:
      case FaultKind::kStop:
      case FaultKind::kRestart:
      case FaultKind::kClockDrift:
      case FaultKind::kSlowDisk:
        if (occupied(*n)) bad("hits a node that already has a fault");
        break;
      default:
        break;
    }
    switch (x.kind) {
      case FaultKind::kKill9: n->state = State::kKilled; n->since = x.at_ms; break;
      case FaultKind::kStop: n->state = State::kStopped; n->since = x.at_ms; break;
      case FaultKind::kStart:
        if (n->state != State::kKilled) bad("starts a node that is not killed");
        n->state = State::kUp;
        n->settle_until = x.at_ms + settle;
        break;
      case FaultKind::kCont:
        if (n->state != State::kStopped) bad("continues a node that is not stopped");
        else if (x.at_ms - n->since <= o.ttl_ms) bad("continues the node only " + std::to_string(x.at_ms - n->since) + " ms after its stop, not more than the TTL");
        n->state = State::kUp;
        break;
      case FaultKind::kRestart: n->settle_until = x.at_ms + settle; break;
      case FaultKind::kClockDrift:
        n->settle_until = x.at_ms + settle;
        n->drift = x.drift_ms;
        break;
      case FaultKind::kSlowDisk:
        if (std::any_of(nodes.begin(), nodes.end(), [](const auto& e) { return e.second.slow; })) bad("a second slow disk");
        if (x.delay_ms <= 0) bad("needs a positive delay_ms");
        n->slow = true;
        break;
      case FaultKind::kSlowDiskEnd:
        if (!n->slow) bad("ends a slow disk that is not slow");
        n->slow = false;
        break;
      case FaultKind::kPartition: {
        if (partitioned) bad("a second partition while one is on");
        std::map<std::string, int> seen;
        size_t largest = 0;
        for (const auto& g : x.groups) {
          largest = std::max(largest, g.size());
          for (const auto& id : g) ++seen[id];
        }
        bool covers = seen.size() == ids.size();
        for (const auto& [id, count] : seen) covers = covers && ids.count(id) && count == 1;
        if (!covers || x.groups.empty()) { bad("groups must hold every node exactly once"); break; }
        if (x.groups[0].size() != largest) bad("the largest group must come first");
        for (size_t g = 1; g < x.groups.size(); ++g)
          for (const auto& id : x.groups[g]) {
            if (occupied(nodes[id])) bad("cuts off " + id + ", which already has a fault");
            nodes[id].away = true;
          }
        partitioned = true;
        break;
      }
      case FaultKind::kHeal:
        if (!partitioned) bad("heals with no partition on");
        for (auto& [id, ns] : nodes) ns.away = false;
        partitioned = false;
        break;
      case FaultKind::kHealAll:
        if (i + 1 != s.faults.size() || x.at_ms != o.duration_ms) bad("heal_all must be the last event, at duration_ms");
        for (auto& [id, ns] : nodes) {
          if (ns.state == State::kStopped && x.at_ms - ns.since <= o.ttl_ms) bad("continues " + id + " not more than the TTL after its stop");
          ns.state = State::kUp;
          ns.slow = ns.away = false;
        }
        partitioned = false;
        break;
    }
    int disturbed = 0;
    std::string who;
    for (const auto& [id, ns] : nodes)
      if (ns.state != State::kUp || ns.settle_until > x.at_ms || ns.away) {
        ++disturbed;
        who += (who.empty() ? "" : ", ") + id;
      }
    if (disturbed > f)
      bad(std::to_string(disturbed) + " nodes disturbed at once (" + who + "); at most " + std::to_string(f) + " of " + std::to_string(o.nodes) + " keep a majority");
    int64_t lo = 0, hi = 0;
    for (const auto& [id, ns] : nodes) lo = std::min(lo, ns.drift), hi = std::max(hi, ns.drift);
    if (static_cast<double>(hi - lo) >= o.drift_bound * static_cast<double>(o.ttl_ms) && hi != lo)
      bad("lease clocks drift apart by " + std::to_string(hi - lo) + " ms per " + std::to_string(o.ttl_ms) + " ms, not less than the bound");
  }
  if (s.faults.empty() || s.faults.back().kind != FaultKind::kHealAll) problems.push_back("the schedule does not end with heal_all");
  return problems;
}

// ------------------------------------------------------------------ JSON
json ToJson(const ScheduleOptions& o) {
  json kinds = json::array();
  for (FaultKind k : o.kinds) kinds.push_back(KindName(k));
  return {{"seed", o.seed},         {"nodes", o.nodes},           {"duration_ms", o.duration_ms},
          {"ttl_ms", o.ttl_ms},     {"drift_bound", o.drift_bound}, {"warmup_ms", o.warmup_ms},
          {"gap_min_ms", o.gap_min_ms}, {"gap_max_ms", o.gap_max_ms}, {"boot_ms", o.boot_ms},
          {"quiet_tail_ms", o.quiet_tail_ms}, {"kinds", kinds}};
}

json ToJson(const Fault& x) {
  json j{{"at_ms", x.at_ms}, {"kind", KindName(x.kind)}};
  if (!x.nodes.empty()) j["nodes"] = x.nodes;
  if (!x.groups.empty()) j["groups"] = x.groups;
  if (x.kind == FaultKind::kClockDrift) j["drift_ms"] = x.drift_ms;
  if (x.kind == FaultKind::kSlowDisk) j["delay_ms"] = x.delay_ms;
  return j;
}

json ToJson(const Schedule& s) {
  json faults = json::array();
  for (const auto& x : s.faults) faults.push_back(ToJson(x));
  return {{"options", ToJson(s.options)}, {"faults", faults}};
}

namespace {
// j[key] as T, or `fallback` when absent; std::invalid_argument naming the key otherwise.
template <typename T>
T Field(const json& j, const char* key, T fallback, const char* where) {
  if (!j.is_object()) throw std::invalid_argument(std::string(where) + ": not an object");
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw std::invalid_argument(std::string(where) + "." + key + ": wrong type (" + it->dump() + ")");
  }
}
}  // namespace

ScheduleOptions OptionsFromJson(const json& j) {
  ScheduleOptions d, o;
  const char* w = "options";
  o.seed = Field<uint64_t>(j, "seed", d.seed, w);
  o.nodes = Field<int>(j, "nodes", d.nodes, w);
  o.duration_ms = Field<int64_t>(j, "duration_ms", d.duration_ms, w);
  o.ttl_ms = Field<int64_t>(j, "ttl_ms", d.ttl_ms, w);
  o.drift_bound = Field<double>(j, "drift_bound", d.drift_bound, w);
  o.warmup_ms = Field<int64_t>(j, "warmup_ms", d.warmup_ms, w);
  o.gap_min_ms = Field<int64_t>(j, "gap_min_ms", d.gap_min_ms, w);
  o.gap_max_ms = Field<int64_t>(j, "gap_max_ms", d.gap_max_ms, w);
  o.boot_ms = Field<int64_t>(j, "boot_ms", d.boot_ms, w);
  o.quiet_tail_ms = Field<int64_t>(j, "quiet_tail_ms", d.quiet_tail_ms, w);
  for (const auto& k : Field<std::vector<std::string>>(j, "kinds", {}, w)) o.kinds.push_back(KindFromName(k));
  return o;
}

Fault FaultFromJson(const json& j) {
  const char* w = "fault";
  Fault x;
  if (!j.is_object() || !j.contains("at_ms") || !j.contains("kind"))
    throw std::invalid_argument("fault: needs at_ms and kind (" + j.dump() + ")");
  x.at_ms = Field<int64_t>(j, "at_ms", 0, w);
  x.kind = KindFromName(Field<std::string>(j, "kind", "", w));
  x.nodes = Field<std::vector<std::string>>(j, "nodes", {}, w);
  x.groups = Field<std::vector<std::vector<std::string>>>(j, "groups", {}, w);
  x.drift_ms = Field<int64_t>(j, "drift_ms", 0, w);
  x.delay_ms = Field<int64_t>(j, "delay_ms", 0, w);
  return x;
}

Schedule ScheduleFromJson(const json& j) {
  if (!j.is_object() || !j.contains("options") || !j.contains("faults") || !j["faults"].is_array())
    throw std::invalid_argument("schedule: needs options and a faults array");
  Schedule s{OptionsFromJson(j["options"]), {}};
  for (const auto& x : j["faults"]) s.faults.push_back(FaultFromJson(x));
  return s;
}

// ------------------------------------------------------------------ text
std::string DescribeFault(const Fault& x) {
  std::string line = KindName(x.kind);
  for (const auto& n : x.nodes) line += " " + n;
  for (size_t g = 0; g < x.groups.size(); ++g) {
    line += g == 0 ? " [" : " | [";
    for (size_t i = 0; i < x.groups[g].size(); ++i) line += (i ? " " : "") + x.groups[g][i];
    line += "]";
  }
  if (x.kind == FaultKind::kClockDrift) line += (x.drift_ms >= 0 ? " +" : " ") + std::to_string(x.drift_ms) + " ms per TTL";
  if (x.kind == FaultKind::kSlowDisk) line += " fsync +" + std::to_string(x.delay_ms) + " ms";
  return line;
}

std::string FormatFault(const Fault& x) {
  char at[32];
  std::snprintf(at, sizeof at, "%8lld ms  ", static_cast<long long>(x.at_ms));
  return at + DescribeFault(x);
}

std::string FormatSchedule(const Schedule& s) {
  std::string out;
  for (const auto& x : s.faults) out += FormatFault(x) + "\n";
  return out;
}

}  // namespace ami::trials
