#include "paper_state.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ami::paper {

using json = nlohmann::json;

namespace {

constexpr const char* kFormat = "ami-paper-state";
constexpr int kVersion = 1;

json OrderJson(const Order& o) {
  return {{"seq", o.seq},
          {"account", o.account},
          {"clientOrderId", o.client_order_id},
          {"symbol", o.symbol},
          {"type", o.type},
          {"side", o.side},
          {"status", o.status},
          {"price", o.price},
          {"amount", o.amount},
          {"filled", o.filled},
          {"cost", o.cost},
          {"average", o.average},
          {"feeCost", o.fee_cost},
          {"feeCurrency", o.fee_currency},
          {"feeRate", o.fee_rate},
          {"timestamp", o.timestamp},
          {"lastTradeTimestamp", o.last_trade_timestamp},
          {"lastUpdateTimestamp", o.last_update_timestamp},
          {"trades", o.trades},
          {"workerSid", o.worker_sid},
          {"term", o.term}};
}

Order OrderFrom(const json& j) {
  Order o;
  o.seq = j.at("seq").get<std::int64_t>();
  o.account = j.at("account").get<std::string>();
  o.client_order_id = j.at("clientOrderId").get<std::string>();
  o.symbol = j.at("symbol").get<std::string>();
  o.type = j.at("type").get<std::string>();
  o.side = j.at("side").get<std::string>();
  o.status = j.at("status").get<std::string>();
  o.price = j.at("price").get<double>();
  o.amount = j.at("amount").get<double>();
  o.filled = j.at("filled").get<double>();
  o.cost = j.at("cost").get<double>();
  o.average = j.at("average").get<double>();
  o.fee_cost = j.at("feeCost").get<double>();
  o.fee_currency = j.at("feeCurrency").get<std::string>();
  o.fee_rate = j.at("feeRate").get<double>();
  o.timestamp = j.at("timestamp").get<std::int64_t>();
  o.last_trade_timestamp = j.at("lastTradeTimestamp").get<std::int64_t>();
  o.last_update_timestamp = j.at("lastUpdateTimestamp").get<std::int64_t>();
  o.trades = j.at("trades").get<std::vector<std::int64_t>>();
  o.worker_sid = j.at("workerSid").get<std::string>();
  o.term = j.at("term").get<std::uint64_t>();
  return o;
}

json TradeJson(const Trade& t) {
  return {{"seq", t.seq},           {"order", t.order},
          {"account", t.account},   {"symbol", t.symbol},
          {"type", t.type},         {"side", t.side},
          {"takerOrMaker", t.taker_or_maker},
          {"price", t.price},       {"amount", t.amount},
          {"cost", t.cost},         {"feeCost", t.fee_cost},
          {"feeCurrency", t.fee_currency},
          {"feeRate", t.fee_rate},  {"timestamp", t.timestamp}};
}

Trade TradeFrom(const json& j) {
  Trade t;
  t.seq = j.at("seq").get<std::int64_t>();
  t.order = j.at("order").get<std::int64_t>();
  t.account = j.at("account").get<std::string>();
  t.symbol = j.at("symbol").get<std::string>();
  t.type = j.at("type").get<std::string>();
  t.side = j.at("side").get<std::string>();
  t.taker_or_maker = j.at("takerOrMaker").get<std::string>();
  t.price = j.at("price").get<double>();
  t.amount = j.at("amount").get<double>();
  t.cost = j.at("cost").get<double>();
  t.fee_cost = j.at("feeCost").get<double>();
  t.fee_currency = j.at("feeCurrency").get<std::string>();
  t.fee_rate = j.at("feeRate").get<double>();
  t.timestamp = j.at("timestamp").get<std::int64_t>();
  return t;
}

std::string Errno(const std::string& what, const std::filesystem::path& p) {
  return what + " " + p.string() + ": " + std::strerror(errno);
}

}  // namespace

json ToJson(const State& s) {
  json accounts = json::object();
  for (const auto& [id, a] : s.accounts) accounts[id] = {{"total", a.total}};
  json orders = json::array();
  for (const auto& [seq, o] : s.orders) orders.push_back(OrderJson(o));
  json trades = json::array();
  for (const auto& [seq, t] : s.trades) trades.push_back(TradeJson(t));
  return {{"format", kFormat},       {"version", kVersion},
          {"nextSeq", s.next_seq},   {"manualNow", s.manual_now},
          {"accounts", accounts},    {"orders", orders},
          {"trades", trades},        {"terms", s.terms},
          {"offsets", s.offsets},    {"lastScan", s.last_scan}};
}

State StateFromJson(const json& j) {
  if (!j.is_object() || j.value("format", "") != kFormat)
    throw std::runtime_error("not an ami-paper-state file");
  if (j.at("version").get<int>() != kVersion)
    throw std::runtime_error("unsupported state version " + j.at("version").dump());
  State s;
  s.next_seq = j.at("nextSeq").get<std::int64_t>();
  s.manual_now = j.at("manualNow").get<std::int64_t>();
  for (auto& [id, a] : j.at("accounts").items())
    s.accounts[id].total = a.at("total").get<std::map<std::string, double>>();
  for (const auto& o : j.at("orders")) {
    Order order = OrderFrom(o);
    s.orders[order.seq] = std::move(order);
  }
  for (const auto& t : j.at("trades")) {
    Trade trade = TradeFrom(t);
    s.trades[trade.seq] = std::move(trade);
  }
  s.terms = j.at("terms").get<std::map<std::string, std::uint64_t>>();
  s.offsets = j.at("offsets").get<std::map<std::string, double>>();
  s.last_scan = j.at("lastScan").get<std::map<std::string, std::int64_t>>();
  return s;
}

std::string LoadState(const std::filesystem::path& file, State& s) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return "";
  std::ifstream in(file, std::ios::binary);
  if (!in) return Errno("cannot read", file);
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    s = StateFromJson(json::parse(ss.str()));
  } catch (const std::exception& e) {
    return "state file " + file.string() + " is unreadable (" + e.what() +
           "); move it away to start fresh";
  }
  return "";
}

// ---- journal lines ----------------------------------------------------------------

std::string SnapshotLine(const State& s) { return json{{"snapshot", ToJson(s)}}.dump(); }

std::string ChangeLine(const State& s, const Changes& c) {
  json j = {{"n", s.next_seq}, {"s", s.last_scan}};
  if (c.clock) j["m"] = s.manual_now;
  json orders = json::array();
  for (std::int64_t seq : c.orders)
    if (auto it = s.orders.find(seq); it != s.orders.end()) orders.push_back(OrderJson(it->second));
  if (!orders.empty()) j["o"] = std::move(orders);
  json trades = json::array();
  for (std::int64_t seq : c.trades)
    if (auto it = s.trades.find(seq); it != s.trades.end()) trades.push_back(TradeJson(it->second));
  if (!trades.empty()) j["t"] = std::move(trades);
  for (const auto& id : c.accounts)
    if (auto it = s.accounts.find(id); it != s.accounts.end()) j["a"][id] = it->second.total;
  for (const auto& sid : c.terms)
    if (auto it = s.terms.find(sid); it != s.terms.end()) j["w"][sid] = it->second;
  for (const auto& sym : c.offsets)
    if (auto it = s.offsets.find(sym); it != s.offsets.end()) j["x"][sym] = it->second;
  if (!c.dropped_orders.empty()) j["do"] = c.dropped_orders;
  if (!c.dropped_trades.empty()) j["dt"] = c.dropped_trades;
  return j.dump();
}

void ApplyLine(const json& j, State& s) {
  if (j.contains("snapshot")) {
    s = StateFromJson(j.at("snapshot"));
    return;
  }
  if (!j.contains("n")) throw std::runtime_error("neither a snapshot nor a change line (no \"n\")");
  s.next_seq = j.at("n").get<std::int64_t>();
  if (j.contains("s"))
    for (auto& [sym, step] : j.at("s").items()) s.last_scan[sym] = step.get<std::int64_t>();
  if (j.contains("m")) s.manual_now = j.at("m").get<std::int64_t>();
  if (j.contains("o"))
    for (const auto& o : j.at("o")) {
      Order order = OrderFrom(o);
      s.orders[order.seq] = std::move(order);
    }
  if (j.contains("t"))
    for (const auto& t : j.at("t")) {
      Trade trade = TradeFrom(t);
      s.trades[trade.seq] = std::move(trade);
    }
  if (j.contains("a"))
    for (auto& [id, total] : j.at("a").items()) s.accounts[id].total = total.get<std::map<std::string, double>>();
  if (j.contains("w"))
    for (auto& [sid, term] : j.at("w").items()) s.terms[sid] = term.get<std::uint64_t>();
  if (j.contains("x"))
    for (auto& [sym, offset] : j.at("x").items()) s.offsets[sym] = offset.get<double>();
  if (j.contains("do"))
    for (const auto& seq : j.at("do")) s.orders.erase(seq.get<std::int64_t>());
  if (j.contains("dt"))
    for (const auto& seq : j.at("dt")) s.trades.erase(seq.get<std::int64_t>());
}

// ---- Index ---------------------------------------------------------------------------

void Index::Add(const Order& o) {
  if (o.status == "open") open[o.symbol].insert(o.seq);
  else done[o.account].insert(o.seq);
  if (!o.client_order_id.empty()) client_ids[{o.account, o.client_order_id}] = o.seq;
}

void Index::Remove(const Order& o) {
  if (auto it = open.find(o.symbol); it != open.end()) it->second.erase(o.seq);
  if (auto it = done.find(o.account); it != done.end()) it->second.erase(o.seq);
  if (!o.client_order_id.empty()) {
    auto it = client_ids.find({o.account, o.client_order_id});
    if (it != client_ids.end() && it->second == o.seq) client_ids.erase(it);
  }
}

void Index::Rebuild(const State& s) {
  open.clear();
  client_ids.clear();
  done.clear();
  for (const auto& [seq, o] : s.orders) Add(o);
}

}  // namespace ami::paper
