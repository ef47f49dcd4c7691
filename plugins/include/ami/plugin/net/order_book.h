// A local order book kept from a snapshot plus deltas, with the sequence checks both
// Bybit (u / seq) and Binance (U / u / pu) need. Part of the connector SDK (net/).
// Not thread-safe: one per symbol, owned by the stream thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ami::plugin::net {

class OrderBook {
 public:
  struct Level { double price; double amount; };

  explicit OrderBook(std::string symbol);

  // Replaces the book. `update_id` is the exchange's sequence after this snapshot.
  void Snapshot(const std::vector<Level>& bids, const std::vector<Level>& asks,
                std::uint64_t update_id, std::int64_t timestamp_ms);
  // Applies levels (amount 0 removes the price). `first_id`..`last_id` is the range of
  // updates the delta covers (Bybit: both = u; Binance spot: U..u). Returns false — and
  // leaves the book marked out of sync — when the delta does not continue the book
  // (first_id > update_id + 1, i.e. a gap), or when the book is not synced (no snapshot
  // yet, or a gap since the last one); a delta entirely older than the book
  // (last_id <= update_id) is ignored and returns true. A timestamp of 0 keeps the old one.
  bool Apply(const std::vector<Level>& bids, const std::vector<Level>& asks,
             std::uint64_t first_id, std::uint64_t last_id, std::int64_t timestamp_ms);

  bool synced() const { return synced_; }
  void MarkOutOfSync() { synced_ = false; }
  std::uint64_t update_id() const { return update_id_; }

  // CCXT's order book shape: {symbol, bids: [[price, amount], …] best first, asks,
  // timestamp, datetime, nonce}, at most `limit` levels a side (0 = all).
  nlohmann::json ToJson(std::size_t limit = 0) const;

  // [[price, amount], …] (numbers or numeric strings) → levels; throws on bad shape.
  static std::vector<Level> ParseLevels(const nlohmann::json& array);

 private:
  std::string symbol_;
  std::map<double, double, std::greater<double>> bids_;
  std::map<double, double> asks_;
  std::uint64_t update_id_ = 0;
  std::int64_t timestamp_ = 0;
  bool synced_ = false;
};

// ISO 8601 UTC with milliseconds, as CCXT's `iso8601` ("2024-01-02T03:04:05.678Z").
std::string Iso8601(std::int64_t timestamp_ms);

}  // namespace ami::plugin::net
