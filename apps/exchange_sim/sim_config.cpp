#include "apps/exchange_sim/sim_config.h"

#include <yaml-cpp/yaml.h>

#include <set>
#include <stdexcept>

namespace ami::exchange_sim {

std::vector<SimMarketSpec> DefaultSimMarkets() {
  // The paper exchange's default markets (exchanges/paper/paper_options.cpp), so the same
  // seed gives the same prices in both.
  return {{"BTC", "USDT", 60000.0, "0.01", "0.000001", 0.0001, 5.0, 25000.0},
          {"ETH", "USDT", 3000.0, "0.01", "0.0001", 0.001, 5.0, 300000.0},
          {"SOL", "USDT", 150.0, "0.001", "0.001", 0.01, 5.0, 2000000.0}};
}

namespace {

struct ConfigError : std::runtime_error {
  ConfigError(const YAML::Node& at, const std::string& path, const std::string& why)
      : std::runtime_error(Where(at) + path + ": " + why) {}
  static std::string Where(const YAML::Node& n) {
    const YAML::Mark m = n.Mark();
    if (m.line < 0) return "";
    return std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": ";
  }
};

void OnlyKeys(const YAML::Node& map, const std::string& path, const std::set<std::string>& allowed) {
  if (!map.IsMap()) throw ConfigError(map, path.empty() ? "(top)" : path, "must be a mapping");
  for (const auto& kv : map) {
    const std::string key = kv.first.as<std::string>();
    if (!allowed.count(key)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      throw ConfigError(kv.first, path.empty() ? key : path + "." + key, "unknown key (known: " + list + ")");
    }
  }
}

std::string Text(const YAML::Node& n, const std::string& path) {
  if (!n.IsScalar()) throw ConfigError(n, path, "must be a string");
  return n.as<std::string>();
}

double Number(const YAML::Node& n, const std::string& path, double min, double max) {
  if (!n.IsScalar()) throw ConfigError(n, path, "must be a number");
  double v = 0;
  try {
    std::size_t used = 0;
    const std::string s = n.as<std::string>();
    v = std::stod(s, &used);
    if (used != s.size()) throw std::invalid_argument(s);
  } catch (const std::exception&) {
    throw ConfigError(n, path, "must be a number, got \"" + n.as<std::string>() + "\"");
  }
  if (!(v >= min && v <= max))
    throw ConfigError(n, path, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  return v;
}

std::string Decimal(const YAML::Node& n, const std::string& path) {
  const double v = Number(n, path, 1e-12, 1e9);
  (void)v;
  return n.as<std::string>();
}

void Parse(const YAML::Node& root, SimConfig& c) {
  OnlyKeys(root, "", {"accounts", "markets", "seed", "volatility", "tick_ms", "spread", "maker_fee", "taker_fee",
                      "recv_window_max_ms", "fsync_delay_ms"});
  if (root["seed"]) c.seed = static_cast<std::uint64_t>(Number(root["seed"], "seed", 0, 9e15));
  if (root["volatility"]) c.volatility = Number(root["volatility"], "volatility", 0, 1);
  if (root["tick_ms"]) c.tick_ms = static_cast<std::int64_t>(Number(root["tick_ms"], "tick_ms", 10, 3600000));
  if (root["spread"]) c.spread = Number(root["spread"], "spread", 0, 0.2);
  if (root["maker_fee"]) c.maker_fee = Number(root["maker_fee"], "maker_fee", 0, 0.1);
  if (root["taker_fee"]) c.taker_fee = Number(root["taker_fee"], "taker_fee", 0, 0.1);
  if (root["recv_window_max_ms"])
    c.recv_window_max_ms = static_cast<std::int64_t>(Number(root["recv_window_max_ms"], "recv_window_max_ms", 1, 600000));
  if (root["fsync_delay_ms"])
    c.fsync_delay_ms = static_cast<std::int64_t>(Number(root["fsync_delay_ms"], "fsync_delay_ms", 0, 60000));

  const YAML::Node accounts = root["accounts"];
  if (!accounts || !accounts.IsSequence() || accounts.size() == 0)
    throw ConfigError(accounts ? accounts : root, "accounts", "must be a non-empty list of {api_key, secret, balances}");
  std::set<std::string> keys, names;
  for (std::size_t i = 0; i < accounts.size(); ++i) {
    const std::string path = "accounts[" + std::to_string(i) + "]";
    const YAML::Node a = accounts[i];
    OnlyKeys(a, path, {"name", "api_key", "secret", "balances"});
    SimAccount acc;
    if (!a["api_key"]) throw ConfigError(a, path + ".api_key", "missing");
    if (!a["secret"]) throw ConfigError(a, path + ".secret", "missing");
    acc.api_key = Text(a["api_key"], path + ".api_key");
    acc.secret = Text(a["secret"], path + ".secret");
    if (acc.api_key.empty()) throw ConfigError(a["api_key"], path + ".api_key", "must not be empty");
    if (acc.secret.empty()) throw ConfigError(a["secret"], path + ".secret", "must not be empty");
    acc.name = a["name"] ? Text(a["name"], path + ".name") : acc.api_key;
    if (!keys.insert(acc.api_key).second) throw ConfigError(a["api_key"], path + ".api_key", "repeated: \"" + acc.api_key + "\"");
    if (!names.insert(acc.name).second) throw ConfigError(a, path + ".name", "repeated: \"" + acc.name + "\"");
    if (a["balances"]) {
      const YAML::Node b = a["balances"];
      if (!b.IsMap()) throw ConfigError(b, path + ".balances", "must be a mapping coin: amount");
      for (const auto& kv : b)
        acc.balances[kv.first.as<std::string>()] =
            Number(kv.second, path + ".balances." + kv.first.as<std::string>(), 0, 1e15);
    } else {
      acc.balances = {{"USDT", 10000.0}, {"BTC", 0.1}};   // the paper exchange's default
    }
    c.accounts.push_back(std::move(acc));
  }

  if (!root["markets"]) {
    c.markets = DefaultSimMarkets();
    return;
  }
  const YAML::Node markets = root["markets"];
  if (!markets.IsSequence() || markets.size() == 0) throw ConfigError(markets, "markets", "must be a non-empty list");
  std::set<std::string> ids;
  for (std::size_t i = 0; i < markets.size(); ++i) {
    const std::string path = "markets[" + std::to_string(i) + "]";
    const YAML::Node m = markets[i];
    OnlyKeys(m, path, {"base", "quote", "price", "price_tick", "amount_step", "min_qty", "min_cost", "daily_volume"});
    SimMarketSpec s;
    for (const char* k : {"base", "quote", "price"})
      if (!m[k]) throw ConfigError(m, path + "." + k, "missing");
    s.base = Text(m["base"], path + ".base");
    s.quote = Text(m["quote"], path + ".quote");
    s.price = Number(m["price"], path + ".price", 1e-9, 1e12);
    if (m["price_tick"]) s.price_tick = Decimal(m["price_tick"], path + ".price_tick");
    if (m["amount_step"]) s.amount_step = Decimal(m["amount_step"], path + ".amount_step");
    if (m["min_qty"]) s.min_qty = Number(m["min_qty"], path + ".min_qty", 0, 1e12);
    if (m["min_cost"]) s.min_cost = Number(m["min_cost"], path + ".min_cost", 0, 1e12);
    if (m["daily_volume"]) s.daily_volume = Number(m["daily_volume"], path + ".daily_volume", 0, 1e15);
    if (!ids.insert(s.base + s.quote).second) throw ConfigError(m, path, "repeated market " + s.base + s.quote);
    c.markets.push_back(std::move(s));
  }
}

}  // namespace

bool LoadSimConfig(const std::string& file, SimConfig& out, std::string& error) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::BadFile&) {
    error = file + ": cannot read the file";
    return false;
  } catch (const YAML::ParserException& e) {
    error = file + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) + ": " + e.msg;
    return false;
  }
  try {
    SimConfig c;
    Parse(root, c);
    out = std::move(c);
    return true;
  } catch (const std::exception& e) {
    error = file + ":" + e.what();
    return false;
  }
}

}  // namespace ami::exchange_sim
