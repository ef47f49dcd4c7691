// Everything a paper exchange must not lose over a restart — balances, orders, trades,
// the highest fencing term per worker, price offsets and scan positions — and its
// persistence: one JSON file, replaced atomically (write temp, fsync, rename, fsync dir).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
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

nlohmann::json ToJson(const State& s);
// Throws std::exception (with a message naming the field) on malformed input.
State StateFromJson(const nlohmann::json& j);

// Writes `s` to `file` atomically. Returns "" or the error.
std::string SaveState(const State& s, const std::filesystem::path& file);
// Reads `file` into `s`. A missing file leaves `s` untouched and returns "".
std::string LoadState(const std::filesystem::path& file, State& s);

}  // namespace ami::paper
