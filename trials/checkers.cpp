#include "trials/checkers.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

namespace ami::trials {

namespace {

// "t=12.345s" after the trial's start: readable next to the schedule.
std::string When(const History& h, int64_t t) {
  char out[48];
  std::snprintf(out, sizeof out, "t=%.3fs", static_cast<double>(t - h.started_at) / 1000.0);
  return out;
}

std::string Quote(const std::optional<std::string>& v) { return v ? "\"" + *v + "\"" : std::string("(deleted)"); }

}  // namespace

size_t Count(const std::vector<Violation>& violations, const std::string& kind) {
  return static_cast<size_t>(
      std::count_if(violations.begin(), violations.end(), [&](const Violation& v) { return v.kind == kind; }));
}

// ------------------------------------------------------------------ leases
std::vector<Violation> CheckLeases(std::vector<Span> spans, int64_t origin) {
  std::vector<Violation> out;
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.start < b.start; });
  auto at = [&](int64_t t) {
    if (origin == 0) return std::to_string(t);
    char text[32];
    std::snprintf(text, sizeof text, "t=%.3fs", static_cast<double>(t - origin) / 1000.0);
    return std::string(text);
  };
  auto show = [&](const Span& s) {
    return s.node + " term " + std::to_string(s.term) + " [" + at(s.start) + ", " + at(s.end) + "]";
  };
  // Overlaps: one violation per pair of (node, term) leaderships that overlap, naming
  // their first overlapping spans and counting the further overlapping pairs.
  using Leadership = std::pair<std::string, uint64_t>;
  std::map<std::pair<Leadership, Leadership>, std::pair<size_t, size_t>> overlapping;  // → violation, more pairs
  for (size_t i = 0; i < spans.size(); ++i)
    for (size_t j = i + 1; j < spans.size() && spans[j].start < spans[i].end; ++j) {
      if (spans[j].node == spans[i].node) continue;
      Leadership a{spans[i].node, spans[i].term}, b{spans[j].node, spans[j].term};
      auto [it, fresh] = overlapping.try_emplace({std::min(a, b), std::max(a, b)}, out.size(), 0);
      if (fresh)
        out.push_back({"leases", "overlap", "overlap: " + show(spans[i]) + " and " + show(spans[j]), spans[j].start});
      else
        ++it->second.second;
    }
  for (const auto& [pair, where] : overlapping)
    if (where.second > 0)
      out[where.first].message += " (and " + std::to_string(where.second) + " more overlapping spans of these terms)";
  // Terms only grow: once a node ran with term T, no other node runs with a term <= T
  // later. One violation per stale (node, term), against the highest-term span of another
  // node that started before it, and counting the stale term's further spans.
  std::map<std::string, const Span*> best;  // per node: its highest-term span so far
  std::map<std::pair<std::string, uint64_t>, std::pair<size_t, size_t>> stale;  // → violation, more spans
  for (const Span& s : spans) {
    const Span* above = nullptr;
    for (const auto& [node, b] : best)
      if (node != s.node && b->term >= s.term && (!above || b->term > above->term)) above = b;
    if (above) {
      auto [it, fresh] = stale.try_emplace({s.node, s.term}, out.size(), 0);
      if (fresh)
        out.push_back({"leases", "term_went_back", "term went back: " + show(*above) + " then " + show(s), s.start});
      else
        ++it->second.second;
    }
    const Span*& mine = best[s.node];
    if (!mine || s.term > mine->term) mine = &s;
  }
  for (const auto& [key, where] : stale)
    if (where.second > 0)
      out[where.first].message += " (and " + std::to_string(where.second) + " more spans of " + key.first + " term " +
                                  std::to_string(key.second) + ")";
  return out;
}

std::vector<Violation> CheckLeases(const History& h) {
  std::vector<Violation> out;
  for (const auto& [worker, spans] : h.spans)
    for (auto v : CheckLeases(spans, h.started_at)) {
      v.message = "worker " + worker + ": " + v.message;
      out.push_back(std::move(v));
    }
  return out;
}

// ------------------------------------------------------------------ orders
std::vector<Violation> CheckOrders(const History& h) {
  std::vector<Violation> out;
  const OrderEvent* current = nullptr;  // the event being judged: its time marks the violation
  auto flag = [&](const char* kind, std::string message) {
    out.push_back({"orders", kind, std::move(message), current ? std::optional<int64_t>(current->t) : std::nullopt});
  };
  std::vector<const OrderEvent*> events;
  for (const auto& e : h.orders) events.push_back(&e);
  std::stable_sort(events.begin(), events.end(), [](const OrderEvent* a, const OrderEvent* b) { return a->t < b->t; });

  auto show = [&](const OrderEvent& e) {
    return "at " + When(h, e.t) + " by " + (e.node.empty() ? "an unknown node" : e.node) + " (worker " + e.worker +
           ", term " + std::to_string(e.term) + ", order id " + (e.order_id.empty() ? "-" : e.order_id) + ")";
  };
  std::map<std::string, const OrderEvent*> first_placed;   // by client order id
  std::map<std::string, std::string> cid_of_order;         // exchange id → client id
  struct Seen { uint64_t term = 0; const OrderEvent* at = nullptr; };
  std::map<std::string, Seen> highest;                     // by worker
  std::map<std::pair<std::string, uint64_t>, std::string> term_node;
  std::set<std::tuple<std::string, uint64_t, std::string>> shared_flagged;
  using Level = std::tuple<std::string, std::string, int64_t>;  // worker, symbol, level
  std::map<Level, std::vector<const OrderEvent*>> live;          // placed, not yet over
  std::map<std::string, Level> level_of;                         // client id → its level

  for (const OrderEvent* ep : events) {
    const OrderEvent& e = *ep;
    current = ep;
    if (e.kind == OrderEventKind::kStatus) {
      std::string cid = e.client_order_id;
      if (cid.empty() || !first_placed.count(cid)) {
        auto it = cid_of_order.find(e.order_id);
        if (it != cid_of_order.end()) cid = it->second;
      }
      auto level = level_of.find(cid);
      if (IsTerminalStatus(e.status) && level != level_of.end()) {
        auto& orders = live[level->second];
        std::erase_if(orders, [&](const OrderEvent* o) { return o->client_order_id == cid; });
      }
      continue;
    }
    auto& seen = highest[e.worker];
    if (e.kind == OrderEventKind::kRefusedStale) {
      if (e.term > seen.term) seen = {e.term, ep};
      continue;
    }
    // kPlaced
    const std::string id = "client order id " + (e.client_order_id.empty() ? "(none)" : e.client_order_id);
    std::vector<std::string> missing;
    if (e.client_order_id.empty()) missing.push_back("client order id");
    if (e.worker.empty()) missing.push_back("worker");
    if (e.term == 0) missing.push_back("term");
    if (e.node.empty()) missing.push_back("node");
    if (!missing.empty()) {
      std::string list;
      for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
      flag("untraceable_order", "order " + (e.order_id.empty() ? "(no id)" : e.order_id) + " placed " + show(e) +
                                    " cannot be traced: no " + list);
    }
    // A runtime-made id embeds the worker's sid and its term (actors/exchange_access.h).
    const std::string prefix = "ami-" + e.worker.substr(0, 8) + "-";
    if (!e.worker.empty() && e.client_order_id.rfind("ami-", 0) == 0) {
      if (e.client_order_id.rfind(prefix, 0) != 0) {
        flag("untraceable_order", id + " placed " + show(e) + " names another worker than " + e.worker);
      } else {
        const std::string rest = e.client_order_id.substr(prefix.size());
        if (std::count(rest.begin(), rest.end(), '-') == 2 && rest.substr(0, rest.find('-')) != std::to_string(e.term))
          flag("untraceable_order", id + " placed " + show(e) + " carries term " + rest.substr(0, rest.find('-')) +
                                        ", not the term " + std::to_string(e.term) + " it was placed with");
      }
    }
    bool duplicate = false;
    if (!e.client_order_id.empty()) {
      auto [first, fresh] = first_placed.emplace(e.client_order_id, ep);
      if (!fresh) {
        duplicate = true;
        flag("duplicate_order", id + " placed twice: first " + show(*first->second) + ", again " + show(e));
      }
    }
    if (seen.at && e.term < seen.term)
      flag("stale_order_accepted", id + " accepted " + show(e) + " although term " + std::to_string(seen.term) +
                                       " of that worker was already seen " + When(h, seen.at->t) + " from " +
                                       seen.at->node);
    if (!seen.at || e.term > seen.term) seen = {e.term, ep};
    if (!e.worker.empty() && e.term != 0 && !e.node.empty()) {
      auto [owner, fresh] = term_node.emplace(std::make_pair(e.worker, e.term), e.node);
      if (!fresh && owner->second != e.node && shared_flagged.insert({e.worker, e.term, e.node}).second)
        flag("term_shared", "term " + std::to_string(e.term) + " of worker " + e.worker + " placed orders from two nodes: " +
                                owner->second + " and " + e.node + " (" + id + " " + show(e) + ")");
    }
    if (!e.order_id.empty()) cid_of_order[e.order_id] = e.client_order_id;
    if (e.grid_level && !duplicate) {
      const Level level{e.worker, e.symbol, *e.grid_level};
      auto& orders = live[level];
      for (const OrderEvent* other : orders)
        flag("grid_level_doubled", "grid level " + std::to_string(*e.grid_level) + " of worker " + e.worker + " on " +
                                       e.symbol + " has two live orders " + When(h, e.t) + ": client order id " +
                                       other->client_order_id + " placed " + show(*other) + " and " + id + " placed " +
                                       show(e));
      orders.push_back(ep);
      level_of[e.client_order_id] = level;
    }
  }
  return out;
}

// ------------------------------------------------------------------ KV
std::vector<Violation> CheckKv(const History& h, const CheckOptions& options) {
  std::vector<Violation> out;
  auto flag = [&](const char* kind, std::string message, std::optional<int64_t> at = std::nullopt) {
    out.push_back({"kv", kind, std::move(message), at});
  };
  if (h.kv_final.empty()) {
    if (!h.kv_writes.empty())
      flag("no_final_state", std::to_string(h.kv_writes.size()) +
                                 " writes were acknowledged but no node's final values were recorded");
    return out;
  }
  // The last acknowledged write of each key, by (hlc, origin) — last writer wins.
  std::map<std::string, const KvWrite*> last;
  for (const auto& w : h.kv_writes) {
    auto& l = last[w.key];
    if (!l || std::tie(w.hlc, w.node) > std::tie(l->hlc, l->node)) l = &w;
  }
  for (const auto& [key, w] : last) {
    std::string lost;
    for (const auto& n : h.kv_final) {
      auto it = n.values.find(key);
      std::string why;
      if (it == n.values.end()) {
        if (w->value) why = "no value";
      } else {
        const KvValue& v = it->second;
        if (std::tie(v.hlc, v.origin) < std::tie(w->hlc, w->node))
          why = Quote(v.value) + " (hlc " + std::to_string(v.hlc) + " from " + v.origin + ", older)";
        else if (std::tie(v.hlc, v.origin) == std::tie(w->hlc, w->node) && v.value != w->value)
          why = Quote(v.value) + " (same hlc, another value)";
      }
      if (!why.empty()) lost += (lost.empty() ? "" : "; ") + n.node + " has " + why;
    }
    if (!lost.empty())
      flag("acked_write_lost", "acknowledged write lost: key \"" + key + "\" = " + Quote(w->value) + " (hlc " +
                                   std::to_string(w->hlc) + ", written on " + w->node + ", acknowledged " +
                                   When(h, w->acked_at) + ") — " + lost,
           w->acked_at);
  }
  std::set<std::string> digests;
  std::string each;
  for (const auto& n : h.kv_final) {
    digests.insert(n.digest);
    each += (each.empty() ? "" : ", ") + n.node + " " + (n.digest.empty() ? "(none)" : n.digest.substr(0, 16));
  }
  const auto heal = LastHealAt(h);
  if (digests.size() > 1 || digests.count("")) {
    flag("digest_mismatch", "the nodes' digests differ at the end: " + each, h.ended_at);
  } else if (!h.digests_equal_at) {
    flag("digests_late", "the digests are equal at the end (" + each + ") but when they became equal was not recorded");
  } else if (heal) {
    // Digests can only meet once the writers are quiet: the runner quiets them after the
    // heal, so the window runs from the heal or from the last acknowledged write after it.
    int64_t last_write = 0;
    for (const auto& w : h.kv_writes) last_write = std::max(last_write, w.acked_at);
    const bool after_write = last_write > *heal;
    const int64_t from = after_write ? last_write : *heal;
    if (*h.digests_equal_at - from > options.digest_window_ms)
      flag("digests_late", "the digests became equal " + When(h, *h.digests_equal_at) + ", " +
                               std::to_string(*h.digests_equal_at - from) +
                               (after_write ? " ms after the last acknowledged write " + When(h, last_write) +
                                                  " (the last heal was " + When(h, *heal) + ")"
                                            : " ms after the last heal " + When(h, *heal)) +
                               " (limit " + std::to_string(options.digest_window_ms) + " ms)",
           h.digests_equal_at);
  }
  return out;
}

// ------------------------------------------------------------------ liveness
std::vector<Violation> CheckLiveness(const History& h, const CheckOptions& options) {
  std::vector<Violation> out;
  const auto heal = LastHealAt(h);
  if (!heal) {
    out.push_back({"liveness", "no_heal", "no heal was applied, so the cluster's recovery cannot be judged"});
    return out;
  }
  const int64_t limit = h.schedule.options.ttl_ms + options.leader_grace_ms;
  const int64_t deadline = *heal + limit;
  std::set<std::string> workers;
  for (const auto& [worker, spans] : h.spans) workers.insert(worker);
  for (const auto& r : h.leader_runs) workers.insert(r.worker);
  if (workers.empty())
    out.push_back({"liveness", "no_leader_after_heal",
                   "no leader-mode worker recorded a single run, so no leader ran after the last heal " + When(h, *heal),
                   deadline});
  for (const auto& worker : workers) {
    bool ran = false;
    std::optional<std::pair<int64_t, std::string>> first;  // first start after the heal
    auto seen = [&](int64_t start, int64_t end, const std::string& node) {
      if (start <= deadline && end >= *heal) ran = true;
      if (start >= *heal && (!first || start < first->first)) first = {start, node};
    };
    if (auto it = h.spans.find(worker); it != h.spans.end())
      for (const auto& s : it->second) seen(s.start, s.end, s.node);
    for (const auto& r : h.leader_runs)
      if (r.worker == worker) seen(r.at, r.at, r.node);
    if (ran) continue;
    std::string after = first ? "; the first run after it started " + When(h, first->first) + " on " + first->second + ", " +
                                    std::to_string(first->first - *heal) + " ms after the heal"
                              : "; none ran after it at all";
    out.push_back({"liveness", "no_leader_after_heal",
                   "worker " + worker + ": no leader ran within " + std::to_string(limit) + " ms (TTL " +
                       std::to_string(h.schedule.options.ttl_ms) + " + " + std::to_string(options.leader_grace_ms) +
                       " ms) of the last heal " + When(h, *heal) + after,
                   deadline});
  }
  return out;
}

std::vector<Violation> CheckAll(const History& h, const CheckOptions& options) {
  std::vector<Violation> out = CheckLeases(h);
  auto append = [&](std::vector<Violation> more) { out.insert(out.end(), more.begin(), more.end()); };
  append(CheckOrders(h));
  append(CheckKv(h, options));
  append(CheckLiveness(h, options));
  return out;
}

}  // namespace ami::trials
