#include "paper_state.h"

#include <fcntl.h>
#include <unistd.h>

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

std::string SaveState(const State& s, const std::filesystem::path& file) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) return "cannot create " + file.parent_path().string() + ": " + ec.message();
  const std::string text = ToJson(s).dump(1);
  const std::filesystem::path tmp = file.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp);
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string err = Errno("cannot write", tmp);
      ::close(fd);
      return err;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    std::string err = Errno("cannot fsync", tmp);
    ::close(fd);
    return err;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), file.c_str()) != 0) return Errno("cannot rename to", file);
  int dfd = ::open(file.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return "";
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

}  // namespace ami::paper
