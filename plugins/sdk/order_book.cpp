#include "ami/plugin/net/order_book.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <stdexcept>
#include <system_error>

namespace ami::plugin::net {

namespace {

// A price or amount: a JSON number or a string holding exactly one finite number.
double ParseLevelNumber(const nlohmann::json& v) {
  if (v.is_number()) {
    const double d = v.get<double>();
    if (std::isfinite(d)) return d;
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    double d = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec == std::errc() && end == s.data() + s.size() && !s.empty() && std::isfinite(d)) return d;
  }
  throw std::invalid_argument("order book level: not a number: " + v.dump());
}

template <class Side>
void ApplyLevels(Side& side, const std::vector<OrderBook::Level>& levels) {
  for (const auto& l : levels) {
    if (l.amount > 0) side[l.price] = l.amount;
    else side.erase(l.price);
  }
}

template <class Side>
nlohmann::json SideJson(const Side& side, std::size_t limit) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [price, amount] : side) {
    if (limit != 0 && out.size() >= limit) break;
    out.push_back({price, amount});
  }
  return out;
}

}  // namespace

OrderBook::OrderBook(std::string symbol) : symbol_(std::move(symbol)) {}

void OrderBook::Snapshot(const std::vector<Level>& bids, const std::vector<Level>& asks,
                         std::uint64_t update_id, std::int64_t timestamp_ms) {
  bids_.clear();
  asks_.clear();
  ApplyLevels(bids_, bids);
  ApplyLevels(asks_, asks);
  update_id_ = update_id;
  timestamp_ = timestamp_ms;
  synced_ = true;
}

bool OrderBook::Apply(const std::vector<Level>& bids, const std::vector<Level>& asks,
                      std::uint64_t first_id, std::uint64_t last_id, std::int64_t timestamp_ms) {
  // A delta on a book that lost its sequence (or never had a snapshot) cannot be placed.
  if (!synced_) return false;
  if (last_id <= update_id_) return true;    // entirely older than the book: already in it
  if (first_id > update_id_ + 1) {           // updates were missed: resync from a snapshot
    synced_ = false;
    return false;
  }
  ApplyLevels(bids_, bids);
  ApplyLevels(asks_, asks);
  update_id_ = last_id;
  if (timestamp_ms != 0) timestamp_ = timestamp_ms;
  return true;
}

nlohmann::json OrderBook::ToJson(std::size_t limit) const {
  nlohmann::json out = {{"symbol", symbol_},
                        {"bids", SideJson(bids_, limit)},
                        {"asks", SideJson(asks_, limit)},
                        {"nonce", update_id_}};
  // CCXT leaves both undefined when the exchange gave no time.
  if (timestamp_ != 0) {
    out["timestamp"] = timestamp_;
    out["datetime"] = Iso8601(timestamp_);
  } else {
    out["timestamp"] = nullptr;
    out["datetime"] = nullptr;
  }
  return out;
}

std::vector<OrderBook::Level> OrderBook::ParseLevels(const nlohmann::json& array) {
  if (!array.is_array()) throw std::invalid_argument("order book side: not an array: " + array.dump());
  std::vector<Level> out;
  out.reserve(array.size());
  for (const auto& level : array) {
    // Exchanges may add members after [price, amount] (e.g. an order count): ignored.
    if (!level.is_array() || level.size() < 2)
      throw std::invalid_argument("order book level: expected [price, amount], got " + level.dump());
    out.push_back({ParseLevelNumber(level[0]), ParseLevelNumber(level[1])});
  }
  return out;
}

std::string Iso8601(std::int64_t timestamp_ms) {
  // Floor division, so times before 1970 still get a millisecond part in 0..999.
  std::int64_t seconds = timestamp_ms / 1000;
  std::int64_t millis = timestamp_ms % 1000;
  if (millis < 0) {
    millis += 1000;
    seconds -= 1;
  }
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (!gmtime_r(&t, &tm)) return {};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
  return buf;
}

}  // namespace ami::plugin::net
