// See paper_json.h. Every Append* writes what nlohmann's dump() writes for the value its
// nlohmann twin builds; the field lists below are in std::map (byte) order for that reason.
#include "paper_json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <system_error>

namespace ami::paper {

using Json = nlohmann::json;
using namespace std::string_view_literals;

double Clean(double x) {
  if (!std::isfinite(x) || x == 0) return x == 0 ? 0.0 : x;
  // std::to_chars with a precision is specified as printf's %.*g, and both it and
  // from_chars round correctly, as glibc's printf and strtod do — at a fraction of
  // their cost (printf("%.12g") did multi-precision arithmetic on every call).
  char buf[40];
  // Already clean when its shortest round-trip spelling has at most 12 significant
  // digits: that spelling is then also the nearest 12-digit value, which reads back as x.
  const auto shortest = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  if (shortest.ec == std::errc{}) {
    int digits = 0;
    for (const char* p = buf; p < shortest.ptr && *p != 'e'; ++p) digits += *p >= '0' && *p <= '9';
    if (digits <= 12) return x;
  }
  const auto printed = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::general, 12);
  double out = 0;
  const auto parsed = std::from_chars(buf, printed.ptr, out);
  if (printed.ec != std::errc{} || parsed.ec != std::errc{}) {   // subnormal results: as before
    std::snprintf(buf, sizeof buf, "%.12g", x);
    return std::strtod(buf, nullptr);
  }
  return out;
}

namespace {

char* Put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
  return p + 2;
}

}  // namespace

void AppendIso8601(std::string& out, std::int64_t ms) {
  const std::int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  const int millis = static_cast<int>(ms - secs * 1000);
  const std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  const std::int64_t sod = secs - days * 86400;
  // Civil date from days since 1970-01-01 (H. Hinnant's days_from_civil inverse).
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const unsigned day = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  const unsigned month = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 0 || year > 9999) {   // the old printf path, for its exact spelling of odd years
    std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
    out += buf;
    return;
  }
  const unsigned y = static_cast<unsigned>(year);
  char buf[24];   // yyyy-mm-ddThh:mm:ss.mmmZ
  char* p = Put2(Put2(buf, y / 100), y % 100);
  *p++ = '-';
  p = Put2(p, month);
  *p++ = '-';
  p = Put2(p, day);
  *p++ = 'T';
  p = Put2(p, static_cast<unsigned>(sod / 3600));
  *p++ = ':';
  p = Put2(p, static_cast<unsigned>(sod / 60 % 60));
  *p++ = ':';
  p = Put2(p, static_cast<unsigned>(sod % 60));
  *p++ = '.';
  *p++ = static_cast<char>('0' + millis / 100);
  p = Put2(p, static_cast<unsigned>(millis % 100));
  *p++ = 'Z';
  out.append(buf, static_cast<std::size_t>(p - buf));
}

std::string Iso8601(std::int64_t ms) {
  std::string out;
  AppendIso8601(out, ms);
  return out;
}

void AppendJsonString(std::string& out, std::string_view s) {
  for (const char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) {   // UTF-8: nlohmann validates it
      out += Json(std::string(s)).dump();
      return;
    }
  out += '"';
  std::size_t plain = 0;   // start of the run not yet copied
  for (std::size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': out += "\\\""sv; break;
      case '\\': out += "\\\\"sv; break;
      case '\b': out += "\\b"sv; break;
      case '\t': out += "\\t"sv; break;
      case '\n': out += "\\n"sv; break;
      case '\f': out += "\\f"sv; break;
      case '\r': out += "\\r"sv; break;
      default: {
        static constexpr char kHex[] = "0123456789abcdef";   // nlohmann: "\\u%04x"
        out += "\\u00"sv;
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
      }
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out += '"';
}

void AppendJsonNumber(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null"sv;
    return;
  }
  char buf[64];
  const char* end = nlohmann::detail::to_chars(buf, buf + sizeof buf, d);   // dump()'s own
  out.append(buf, static_cast<std::size_t>(end - buf));
}

void AppendJsonInt(std::string& out, std::int64_t v) {
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

void AppendJsonUint(std::string& out, std::uint64_t v) {
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

// ---------------------------------------------------------------------------------
// The nlohmann builders (the reference shapes).

Json TradeJson(const Trade& t) {
  Json fee = {{"cost", t.fee_cost}, {"currency", t.fee_currency}, {"rate", t.fee_rate}};
  return {{"id", std::to_string(t.seq)},
          {"order", std::to_string(t.order)},
          {"timestamp", t.timestamp},
          {"datetime", Iso8601(t.timestamp)},
          {"symbol", t.symbol},
          {"type", t.type},
          {"side", t.side},
          {"takerOrMaker", t.taker_or_maker},
          {"price", t.price},
          {"amount", t.amount},
          {"cost", t.cost},
          {"fee", fee},
          {"fees", Json::array({fee})},
          {"info", {{"execId", std::to_string(t.seq)}, {"account", t.account}}}};
}

namespace {
Json NullIfZero(std::int64_t v) { return v ? Json(v) : Json(nullptr); }
}  // namespace

Json OrderJson(const Order& o, const std::vector<const Trade*>& trades) {
  Json fills = Json::array();
  for (const Trade* t : trades) fills.push_back(TradeJson(*t));
  Json fee = o.fee_currency.empty()
                 ? Json{{"cost", 0.0}, {"currency", nullptr}, {"rate", nullptr}}
                 : Json{{"cost", o.fee_cost}, {"currency", o.fee_currency}, {"rate", o.fee_rate}};
  const std::string id = std::to_string(o.seq);
  return {{"id", id},
          {"clientOrderId", o.client_order_id.empty() ? Json(nullptr) : Json(o.client_order_id)},
          {"timestamp", o.timestamp},
          {"datetime", Iso8601(o.timestamp)},
          {"lastTradeTimestamp", NullIfZero(o.last_trade_timestamp)},
          {"lastUpdateTimestamp", NullIfZero(o.last_update_timestamp)},
          {"symbol", o.symbol},
          {"type", o.type},
          {"timeInForce", o.type == "market" ? "IOC" : "GTC"},
          {"postOnly", false},
          {"reduceOnly", false},
          {"side", o.side},
          {"price", o.price > 0 ? Json(o.price) : Json(nullptr)},
          {"triggerPrice", nullptr},
          {"stopPrice", nullptr},
          {"takeProfitPrice", nullptr},
          {"stopLossPrice", nullptr},
          {"average", o.filled > 0 ? Json(o.average) : Json(nullptr)},
          {"amount", o.amount},
          {"filled", o.filled},
          {"remaining", Clean(o.amount - o.filled)},
          {"cost", o.cost},
          {"status", o.status},
          {"fee", fee},
          {"fees", Json::array({fee})},
          {"trades", fills},
          {"info",
           {{"orderId", id},
            {"orderLinkId", o.client_order_id},
            {"account", o.account},
            {"workerSid", o.worker_sid},
            {"term", o.term}}}};
}

// ---------------------------------------------------------------------------------
// The hand-written writers: the same fields, in the order std::map keeps them.

namespace {

void AppendFee(std::string& out, double cost, const std::string& currency, double rate) {
  out += "{\"cost\":"sv;
  AppendJsonNumber(out, cost);
  out += ",\"currency\":"sv;
  AppendJsonString(out, currency);
  out += ",\"rate\":"sv;
  AppendJsonNumber(out, rate);
  out += '}';
}

void AppendSeqString(std::string& out, std::int64_t seq) {
  out += '"';
  AppendJsonInt(out, seq);
  out += '"';
}

}  // namespace

void AppendTrade(std::string& out, const Trade& t) {
  out += "{\"amount\":"sv;
  AppendJsonNumber(out, t.amount);
  out += ",\"cost\":"sv;
  AppendJsonNumber(out, t.cost);
  out += ",\"datetime\":\""sv;
  AppendIso8601(out, t.timestamp);
  out += "\",\"fee\":"sv;
  const std::size_t fee_at = out.size();
  AppendFee(out, t.fee_cost, t.fee_currency, t.fee_rate);
  const std::size_t fee_len = out.size() - fee_at;
  out += ",\"fees\":["sv;
  out.append(out, fee_at, fee_len);   // the same fee again (append copes with its own text)
  out += "],\"id\":"sv;
  AppendSeqString(out, t.seq);
  out += ",\"info\":{\"account\":"sv;
  AppendJsonString(out, t.account);
  out += ",\"execId\":"sv;
  AppendSeqString(out, t.seq);
  out += "},\"order\":"sv;
  AppendSeqString(out, t.order);
  out += ",\"price\":"sv;
  AppendJsonNumber(out, t.price);
  out += ",\"side\":"sv;
  AppendJsonString(out, t.side);
  out += ",\"symbol\":"sv;
  AppendJsonString(out, t.symbol);
  out += ",\"takerOrMaker\":"sv;
  AppendJsonString(out, t.taker_or_maker);
  out += ",\"timestamp\":"sv;
  AppendJsonInt(out, t.timestamp);
  out += ",\"type\":"sv;
  AppendJsonString(out, t.type);
  out += '}';
}

void AppendOrder(std::string& out, const Order& o, const std::vector<const Trade*>& trades) {
  static constexpr std::string_view kNoFee = R"({"cost":0.0,"currency":null,"rate":null})";
  out += "{\"amount\":"sv;
  AppendJsonNumber(out, o.amount);
  out += ",\"average\":"sv;
  if (o.filled > 0) AppendJsonNumber(out, o.average);
  else out += "null"sv;
  out += ",\"clientOrderId\":"sv;
  if (o.client_order_id.empty()) out += "null"sv;
  else AppendJsonString(out, o.client_order_id);
  out += ",\"cost\":"sv;
  AppendJsonNumber(out, o.cost);
  out += ",\"datetime\":\""sv;
  AppendIso8601(out, o.timestamp);
  out += "\",\"fee\":"sv;
  const std::size_t fee_at = out.size();
  if (o.fee_currency.empty()) out += kNoFee;
  else AppendFee(out, o.fee_cost, o.fee_currency, o.fee_rate);
  const std::size_t fee_len = out.size() - fee_at;
  out += ",\"fees\":["sv;
  out.append(out, fee_at, fee_len);
  out += "],\"filled\":"sv;
  AppendJsonNumber(out, o.filled);
  out += ",\"id\":"sv;
  AppendSeqString(out, o.seq);
  out += ",\"info\":{\"account\":"sv;
  AppendJsonString(out, o.account);
  out += ",\"orderId\":"sv;
  AppendSeqString(out, o.seq);
  out += ",\"orderLinkId\":"sv;
  AppendJsonString(out, o.client_order_id);
  out += ",\"term\":"sv;
  AppendJsonUint(out, o.term);
  out += ",\"workerSid\":"sv;
  AppendJsonString(out, o.worker_sid);
  out += "},\"lastTradeTimestamp\":"sv;
  if (o.last_trade_timestamp) AppendJsonInt(out, o.last_trade_timestamp);
  else out += "null"sv;
  out += ",\"lastUpdateTimestamp\":"sv;
  if (o.last_update_timestamp) AppendJsonInt(out, o.last_update_timestamp);
  else out += "null"sv;
  out += ",\"postOnly\":false,\"price\":"sv;
  if (o.price > 0) AppendJsonNumber(out, o.price);
  else out += "null"sv;
  out += ",\"reduceOnly\":false,\"remaining\":"sv;
  AppendJsonNumber(out, Clean(o.amount - o.filled));
  out += ",\"side\":"sv;
  AppendJsonString(out, o.side);
  out += ",\"status\":"sv;
  AppendJsonString(out, o.status);
  out += ",\"stopLossPrice\":null,\"stopPrice\":null,\"symbol\":"sv;
  AppendJsonString(out, o.symbol);
  out += ",\"takeProfitPrice\":null,\"timeInForce\":"sv;
  out += o.type == "market" ? "\"IOC\""sv : "\"GTC\""sv;
  out += ",\"timestamp\":"sv;
  AppendJsonInt(out, o.timestamp);
  out += ",\"trades\":["sv;
  for (std::size_t i = 0; i < trades.size(); ++i) {
    if (i) out += ',';
    AppendTrade(out, *trades[i]);
  }
  out += "],\"triggerPrice\":null,\"type\":"sv;
  AppendJsonString(out, o.type);
  out += '}';
}

}  // namespace ami::paper
