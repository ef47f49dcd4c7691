// Everything a paper exchange must not lose over a restart — balances, orders, trades,
// the highest fencing term per worker, price offsets and scan positions — and the
// journal lines that persist it (<data_dir>/paper-<id>.jsonl, ami/plugin/journal.h):
//   {"snapshot": <the whole state, ToJson>}          first line after a compaction
//   {"n": next_seq, "s": {symbol: last scanned step}, what one call changed:
//    "o": [orders], "t": [trades], "a": {account: totals}, "w": {worker sid: term},
//    "x": {symbol: offset}, "m": manual clock, "do": [dropped order seqs], "dt": [trade seqs]}
// A change line holds the changed entities' values after the call (not the operation),
// so replaying it needs none of the matching logic and cannot drift from it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ami::paper {

struct Order {
  std::int64_t seq = 0;                 // id = std::to_string(seq)
  std::string account;
  std::string client_order_id;          // "" when none
  std::string symbol;
  std::string type;                     // limit | market
  std::string side;                     // buy | sell
  std::string status = "open";          // open | closed | canceled
  double price = 0;                     // limit price; for market orders the fill price
  double amount = 0;
  double filled = 0;
  double cost = 0;                      // filled * average
  double average = 0;                   // 0 until filled
  double fee_cost = 0;
  std::string fee_currency;
  double fee_rate = 0;
  std::int64_t timestamp = 0;
  std::int64_t last_trade_timestamp = 0;
  std::int64_t last_update_timestamp = 0;
  std::vector<std::int64_t> trades;     // trade seqs
  std::string worker_sid;
  std::uint64_t term = 0;
};

struct Trade {
  std::int64_t seq = 0;
  std::int64_t order = 0;
  std::string account;
  std::string symbol;
  std::string type;
  std::string side;
  std::string taker_or_maker;           // taker | maker
  double price = 0;
  double amount = 0;
  double cost = 0;
  double fee_cost = 0;
  std::string fee_currency;
  double fee_rate = 0;
  std::int64_t timestamp = 0;
};

struct Account {
  std::map<std::string, double> total;  // per currency; `used` is derived from open orders
};

struct State {
  std::int64_t next_seq = 1;            // shared by orders and trades
  std::int64_t manual_now = 0;          // manual clock position (0 = unset)
  std::map<std::string, Account> accounts;
  std::map<std::int64_t, Order> orders;
  std::map<std::int64_t, Trade> trades;
  std::map<std::string, std::uint64_t> terms;          // worker sid -> highest term seen
  std::map<std::string, double> offsets;               // symbol -> log price offset
  std::map<std::string, std::int64_t> last_scan;       // symbol -> last step checked for fills
};

// What one call changed (keys of the entities to write in its journal line).
struct Changes {
  std::set<std::int64_t> orders, trades, dropped_orders, dropped_trades;
  std::set<std::string> accounts, terms, offsets;
  bool clock = false;
  bool empty() const {
    return orders.empty() && trades.empty() && dropped_orders.empty() && dropped_trades.empty() &&
           accounts.empty() && terms.empty() && offsets.empty() && !clock;
  }
};

// Lookups the calls need on every turn, derived from State (never persisted): without
// them each call walked every kept order (1,000 closed ones per account) several times.
struct Index {
  std::map<std::string, std::set<std::int64_t>> open;                      // symbol -> open order seqs
  std::map<std::pair<std::string, std::string>, std::int64_t> client_ids;  // (account, clientOrderId) -> seq
  std::map<std::string, std::set<std::int64_t>> done;                      // account -> closed/canceled seqs
  void Rebuild(const State& s);
  void Add(const Order& o);
  void Remove(const Order& o);
};

nlohmann::json ToJson(const State& s);
// Throws std::exception (with a message naming the field) on malformed input.
State StateFromJson(const nlohmann::json& j);

// Journal lines (no newline): the whole state, and what `c` changed.
std::string SnapshotLine(const State& s);
std::string ChangeLine(const State& s, const Changes& c);
// Applies one journal line to `s`. Throws std::exception naming what is wrong.
void ApplyLine(const nlohmann::json& line, State& s);

// Reads a state file of the former format (paper-<id>.json, one JSON document) into `s`,
// to start a journal from it. A missing file leaves `s` untouched and returns "".
std::string LoadState(const std::filesystem::path& file, State& s);

}  // namespace ami::paper
