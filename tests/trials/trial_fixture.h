// A clean trial history for the checker and report tests: 3 nodes, TTL 2 s; n1 (leader
// of the grid worker) is killed at 5 s and n2 takes over; a partition cuts n3 off from
// 12 to 14 s; everything heals at 20 s. Tests plant one violation at a time into it.
#pragma once

#include "trials/history.h"

namespace ami::trials::fixture {

inline constexpr int64_t T = 1'700'000'000'000;  // the trial's start, wall ms
inline const std::string kGrid = "grid-one-sid";
inline const std::string kDca = "dca-sid";

inline OrderEvent Placed(int64_t at, std::string cid, std::string oid, std::string worker, uint64_t term,
                         std::string node, std::string side, double price, std::optional<int64_t> level) {
  OrderEvent e;
  e.t = T + at;
  e.kind = OrderEventKind::kPlaced;
  e.client_order_id = std::move(cid);
  e.order_id = std::move(oid);
  e.worker = std::move(worker);
  e.term = term;
  e.node = std::move(node);
  e.symbol = "BTC/USDT";
  e.side = std::move(side);
  e.price = price;
  e.grid_level = level;
  return e;
}

inline OrderEvent Status(int64_t at, std::string cid, std::string oid, std::string status) {
  OrderEvent e;
  e.t = T + at;
  e.kind = OrderEventKind::kStatus;
  e.client_order_id = std::move(cid);
  e.order_id = std::move(oid);
  e.status = std::move(status);
  return e;
}

// One span of `length` ms every `every` ms in [from, to) after T.
inline void AddSpans(std::vector<Span>* spans, const std::string& node, uint64_t term, int64_t from, int64_t to,
                     int64_t every, int64_t length) {
  for (int64_t t = from; t + length <= to; t += every) spans->push_back({node, term, T + t, T + t + length});
}

inline History CleanHistory() {
  History h;
  h.schedule.options.seed = 1234;
  h.schedule.options.nodes = 3;
  h.schedule.options.duration_ms = 20'000;
  h.schedule.options.ttl_ms = 2'000;
  h.schedule.faults = {{5'000, FaultKind::kKill9, {"n1"}},
                       {7'000, FaultKind::kStart, {"n1"}},
                       {12'000, FaultKind::kPartition, {}, {{"n1", "n2"}, {"n3"}}},
                       {14'000, FaultKind::kHeal},
                       {20'000, FaultKind::kHealAll}};
  for (const auto& f : h.schedule.faults) h.faults.push_back({f, T + f.at_ms + 5, ""});
  h.started_at = T;
  h.ended_at = T + 24'000;

  AddSpans(&h.spans[kGrid], "n1", 1, 100, 5'000, 50, 40);
  AddSpans(&h.spans[kGrid], "n2", 2, 7'300, 24'000, 50, 40);
  AddSpans(&h.spans[kDca], "n2", 1, 200, 24'000, 100, 60);

  h.orders = {
      Placed(1'000, "ami-grid-one-1-k1-1", "o1", kGrid, 1, "n1", "buy", 100, 1),
      Placed(1'100, "ami-grid-one-1-k1-2", "o2", kGrid, 1, "n1", "sell", 110, 2),
      Placed(2'000, "ami-dca-sid-1-kx-1", "o9", kDca, 1, "n2", "buy", 0, std::nullopt),
      Status(3'000, "", "o1", "filled"),  // found by the exchange's id
      Placed(7'400, "ami-grid-one-2-k2-1", "o3", kGrid, 2, "n2", "buy", 100, 1),
      Status(9'000, "ami-grid-one-1-k1-2", "o2", "cancelled"),
      Placed(9'100, "ami-grid-one-2-k2-2", "o4", kGrid, 2, "n2", "sell", 110, 2),
  };
  OrderEvent refused = Placed(7'500, "ami-grid-one-1-k1-3", "", kGrid, 1, "n1", "buy", 100, 3);
  refused.kind = OrderEventKind::kRefusedStale;  // the old leader's late call, fenced
  h.orders.push_back(refused);

  h.kv_writes = {{"a", "v1", 100, "n1", T + 1'000},
                 {"a", "v2", 200, "n2", T + 9'000},
                 {"b", "x", 150, "n2", T + 2'000},
                 {"b", std::nullopt, 300, "n3", T + 10'000}};
  for (const char* node : {"n1", "n2", "n3"})
    h.kv_final.push_back({node, "digest-1", {{"a", {"v2", 200, "n2"}}, {"b", {std::nullopt, 300, "n3"}}}});
  h.digests_equal_at = T + 20'005 + 300;
  return h;
}

}  // namespace ami::trials::fixture
