// Helpers shared by the connector's source files (not part of its interface).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>

#include <nlohmann/json.hpp>

namespace ami::exchanges::binance {

// Copies the caller's extra params into a request, as CCXT's `extend(request, params)`
// does, leaving out the unified ones the connector already translated and non-scalars.
void MergeParams(nlohmann::ordered_json& request, const nlohmann::json& params,
                 std::initializer_list<const char*> unified);

// CCXT's filterBySinceLimit over items with a `timestamp`, oldest first.
nlohmann::json FilterSinceLimit(nlohmann::json list, std::optional<std::int64_t> since,
                                std::optional<std::int64_t> limit);

}  // namespace ami::exchanges::binance
