// Bybit error codes → CCXT error classes (the table of CCXT's bybit `exceptions`).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ami/plugin/net/error_map.h"

namespace ami::exchanges::bybit {

// The map: exact retCode rules and CCXT's broad message rules. Built once.
const plugin::net::ErrorMap& BybitErrors();

// The rules as (code, class) / (text, class) pairs, for tests and docs.
std::vector<std::pair<std::string, std::string>> BybitErrorTable();
std::vector<std::pair<std::string, std::string>> BybitBroadErrorTable();

}  // namespace ami::exchanges::bybit
