#include "paper_options.h"

#include "ami/plugin/connector_base.h"

#include <cmath>
#include <set>
#include <sstream>
#include <stdexcept>

namespace ami::paper {

using json = nlohmann::json;

std::vector<MarketSpec> DefaultMarkets() {
  return {
      {"BTC/USDT", "BTC", "USDT", 60000.0, 0.000001, 0.01, 0.0001, 5.0, 25000.0},
      {"ETH/USDT", "ETH", "USDT", 3000.0, 0.0001, 0.01, 0.001, 5.0, 300000.0},
      {"SOL/USDT", "SOL", "USDT", 150.0, 0.001, 0.001, 0.01, 5.0, 2000000.0},
  };
}

namespace {

struct OptionError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void Fail(const std::string& key, const std::string& why) {
  throw OptionError("option " + key + ": " + why);
}

double Number(const json& v, const std::string& key) {
  if (auto d = plugin::ParseNumber(v)) return *d;
  Fail(key, "expected a number, got " + v.dump());
}

double NumberIn(const json& v, const std::string& key, double lo, double hi) {
  double d = Number(v, key);
  if (!std::isfinite(d) || d < lo || d > hi) {
    std::ostringstream os;
    os << "expected a number in [" << lo << ", " << hi << "], got " << v.dump();
    Fail(key, os.str());
  }
  return d;
}

std::int64_t Integer(const json& v, const std::string& key, std::int64_t lo, std::int64_t hi) {
  double d = Number(v, key);
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(lo) ||
      d > static_cast<double>(hi))
    Fail(key, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                  "], got " + v.dump());
  return static_cast<std::int64_t>(d);
}

bool Bool(const json& v, const std::string& key) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "0" || s == "no" || s == "off") return false;
  }
  if (v.is_number_integer()) return v.get<std::int64_t>() != 0;
  Fail(key, "expected true or false, got " + v.dump());
}

std::string String(const json& v, const std::string& key) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  Fail(key, "expected a string, got " + v.dump());
}

// An object, or a string holding JSON, or "K=V,K=V" / "K:V,K:V".
json Object(const json& v, const std::string& key) {
  if (v.is_object()) return v;
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    json parsed = json::parse(s, nullptr, false);
    if (!parsed.is_discarded() && parsed.is_object()) return parsed;
    json out = json::object();
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ',')) {
      auto trim = [](std::string x) {
        const char* ws = " \t";
        x.erase(0, x.find_first_not_of(ws));
        x.erase(x.find_last_not_of(ws) + 1);
        return x;
      };
      item = trim(item);
      if (item.empty()) continue;
      auto eq = item.find_first_of("=:");
      if (eq == std::string::npos)
        Fail(key, "expected an object or \"KEY=VALUE,...\", got " + v.dump());
      out[trim(item.substr(0, eq))] = trim(item.substr(eq + 1));
    }
    return out;
  }
  Fail(key, "expected an object, got " + v.dump());
}

MarketSpec ParseMarket(const json& m, const std::string& key) {
  if (!m.is_object()) Fail(key, "expected an object, got " + m.dump());
  MarketSpec s;
  if (!m.contains("symbol")) Fail(key, "missing symbol");
  s.symbol = String(m["symbol"], key + ".symbol");
  auto slash = s.symbol.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == s.symbol.size())
    Fail(key + ".symbol", "expected BASE/QUOTE, got \"" + s.symbol + "\"");
  s.base = s.symbol.substr(0, slash);
  s.quote = s.symbol.substr(slash + 1);
  static const std::set<std::string> known = {"symbol",   "price",      "amount_step",
                                              "price_tick", "min_amount", "min_cost",
                                              "daily_volume"};
  for (auto& [k, v] : m.items())
    if (!known.count(k)) Fail(key + "." + k, "unknown market field");
  auto num = [&](const char* f, double fallback, double lo) {
    if (!m.contains(f)) return fallback;
    return NumberIn(m[f], key + "." + f, lo, 1e15);
  };
  s.price = num("price", 0, 1e-12);
  if (s.price <= 0) Fail(key + ".price", "required, a positive number");
  s.amount_step = num("amount_step", 0.000001, 1e-12);
  s.price_tick = num("price_tick", 0.01, 1e-12);
  s.min_amount = num("min_amount", s.amount_step, 0);
  s.min_cost = num("min_cost", 0, 0);
  s.daily_volume = num("daily_volume", 1000, 0);
  return s;
}

}  // namespace

bool ParseOptions(const json& options, PaperOptions& o, std::string& error) {
  try {
    o.markets = DefaultMarkets();
    if (options.is_null()) return true;
    if (!options.is_object()) throw OptionError("options must be an object");
    for (auto& [key, v] : options.items()) {
      if (key == "exchange_id" || key == "id") {
        o.exchange_id = String(v, key);
        if (o.exchange_id.empty() ||
            o.exchange_id.find_first_of("/\\ \t") != std::string::npos || o.exchange_id[0] == '.')
          Fail(key, "expected a plain name, got " + v.dump());
      } else if (key == "data_dir") {
        o.data_dir = String(v, key);
      } else if (key == "seed") {
        o.seed = static_cast<std::uint64_t>(Integer(v, key, 0, (1LL << 53)));
      } else if (key == "spread") {
        o.spread = NumberIn(v, key, 0, 0.2);
      } else if (key == "maker_fee") {
        o.maker_fee = NumberIn(v, key, 0, 0.1);
      } else if (key == "taker_fee") {
        o.taker_fee = NumberIn(v, key, 0, 0.1);
      } else if (key == "fees") {
        json f = Object(v, key);
        for (auto& [fk, fv] : f.items()) {
          if (fk == "maker") o.maker_fee = NumberIn(fv, "fees.maker", 0, 0.1);
          else if (fk == "taker") o.taker_fee = NumberIn(fv, "fees.taker", 0, 0.1);
          else Fail("fees." + fk, "unknown fee (use maker, taker)");
        }
      } else if (key == "starting_balances" || key == "balances") {
        json b = Object(v, key);
        o.starting_balances.clear();
        for (auto& [ccy, amount] : b.items()) {
          if (ccy.empty()) Fail(key, "empty currency code");
          o.starting_balances[ccy] = NumberIn(amount, key + "." + ccy, 0, 1e15);
        }
      } else if (key == "latency_ms") {
        o.latency_ms = Integer(v, key, 0, 600000);
      } else if (key == "network_error_rate") {
        o.network_error_rate = NumberIn(v, key, 0, 1);
      } else if (key == "timeout_rate") {
        o.timeout_rate = NumberIn(v, key, 0, 1);
      } else if (key == "volatility") {
        o.volatility = NumberIn(v, key, 0, 1);
      } else if (key == "tick_ms") {
        o.tick_ms = Integer(v, key, 1, 86400000);
      } else if (key == "clock") {
        std::string c = String(v, key);
        if (c == "manual") o.manual_clock = true;
        else if (c == "system") o.manual_clock = false;
        else Fail(key, "expected \"system\" or \"manual\", got " + v.dump());
      } else if (key == "start_time_ms") {
        o.start_time_ms = Integer(v, key, 0, 32503680000000LL);
      } else if (key == "test_controls") {
        o.test_controls = Bool(v, key);
      } else if (key == "require_credentials") {
        o.require_credentials = Bool(v, key);
      } else if (key == "max_closed_orders") {
        o.max_closed_orders = static_cast<std::size_t>(Integer(v, key, 1, 1000000));
      } else if (key == "compact_bytes") {
        o.compact_bytes = Integer(v, key, 4096, 1LL << 40);
      } else if (key == "fsync_delay_ms") {
        o.fsync_delay_ms = Integer(v, key, 0, 10000);
      } else if (key == "prices") {
        json p = Object(v, key);
        for (auto& [sym, price] : p.items()) {
          bool found = false;
          for (auto& m : o.markets)
            if (m.symbol == sym) {
              m.price = NumberIn(price, key + "." + sym, 1e-12, 1e15);
              found = true;
            }
          if (!found) Fail(key + "." + sym, "no such market");
        }
      } else if (key == "markets") {
        json list = v;
        if (v.is_string()) list = json::parse(v.get<std::string>(), nullptr, false);
        if (!list.is_array()) Fail(key, "expected an array of markets, got " + v.dump());
        for (std::size_t i = 0; i < list.size(); ++i) {
          MarketSpec s = ParseMarket(list[i], key + "[" + std::to_string(i) + "]");
          bool replaced = false;
          for (auto& m : o.markets)
            if (m.symbol == s.symbol) {
              m = s;
              replaced = true;
            }
          if (!replaced) o.markets.push_back(s);
        }
      } else {
        Fail(key,
             "unknown option (known: exchange_id, data_dir, seed, spread, maker_fee, "
             "taker_fee, fees, starting_balances, latency_ms, network_error_rate, "
             "timeout_rate, volatility, tick_ms, clock, start_time_ms, test_controls, "
             "require_credentials, max_closed_orders, compact_bytes, fsync_delay_ms, prices, markets)");
      }
    }
    return true;
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
}

json OptionsSummary(const PaperOptions& o) {
  json balances = json::object();
  for (const auto& [c, a] : o.starting_balances) balances[c] = a;
  return {{"exchangeId", o.exchange_id},
          {"persistent", !o.data_dir.empty()},
          {"seed", o.seed},
          {"spread", o.spread},
          {"makerFee", o.maker_fee},
          {"takerFee", o.taker_fee},
          {"startingBalances", balances},
          {"latencyMs", o.latency_ms},
          {"networkErrorRate", o.network_error_rate},
          {"timeoutRate", o.timeout_rate},
          {"volatility", o.volatility},
          {"tickMs", o.tick_ms},
          {"clock", o.manual_clock ? "manual" : "system"},
          {"testControls", o.test_controls}};
}

}  // namespace ami::paper
