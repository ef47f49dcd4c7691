// The paper exchange's CCXT order and trade answers, and the number and date helpers
// every paper answer uses.
//
// Two writers of the same shapes: OrderJson/TradeJson build nlohmann objects (lists and
// the convenience methods still return those through ConnectorBase), and AppendOrder/
// AppendTrade write the text straight into a string — the exact bytes `OrderJson(...)
// .dump()` gives: keys in std::map order, strings escaped as nlohmann escapes them,
// doubles through nlohmann's own to_chars (so 30000.0, 1e-08 and -0.0 come out alike),
// non-finite doubles as null. Building and serializing a ~30-field nlohmann object was
// most of a paper call's time (a map node and a heap string per field, then a walk).
// tests/plugins/paper_json_test.cpp compares the two writers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "paper_state.h"

namespace ami::paper {

// 12 significant digits: hides binary floating point noise (0.30000000000000004).
// Equal to strtod(printf("%.12g", x)), computed with std::to_chars/from_chars.
double Clean(double x);

// "2026-12-02T06:09:35.011Z" for milliseconds since the epoch (UTC, like gmtime).
std::string Iso8601(std::int64_t ms);
void AppendIso8601(std::string& out, std::int64_t ms);

// JSON scalars as nlohmann's dump() writes them. Strings with bytes >= 0x80 go through
// nlohmann itself, so invalid UTF-8 throws the same nlohmann::json::type_error (316).
void AppendJsonString(std::string& out, std::string_view s);
void AppendJsonNumber(std::string& out, double d);
void AppendJsonInt(std::string& out, std::int64_t v);
void AppendJsonUint(std::string& out, std::uint64_t v);

// An order as answered: `trades` are its fills that are still kept (o.trades order).
nlohmann::json OrderJson(const Order& o, const std::vector<const Trade*>& trades);
void AppendOrder(std::string& out, const Order& o, const std::vector<const Trade*>& trades);

nlohmann::json TradeJson(const Trade& t);
void AppendTrade(std::string& out, const Trade& t);

}  // namespace ami::paper
