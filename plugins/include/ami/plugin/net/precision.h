// Amounts and prices to a market's precision, the way CCXT does it (precisionMode
// TICK_SIZE: precision.amount / precision.price are step sizes such as 0.001 / 0.1), and
// decimal text for requests. Decimal arithmetic on the text, not binary floating point,
// so 0.1 + 0.2 style errors never reach an order. Part of the connector SDK (net/).
#pragma once

#include <string>
#include <string_view>

namespace ami::plugin::net {

enum class Rounding { kTruncate, kRound };

// `value` as decimal text rounded to a multiple of `step` (step > 0, e.g. "0.001"):
// CCXT's decimalToPrecision(value, rounding, step, TICK_SIZE, NO_PADDING). Amounts are
// truncated (amountToPrecision), prices rounded to the nearest tick (priceToPrecision).
// Never in exponent notation; no trailing zeros; "0" for zero.
std::string ToPrecision(double value, std::string_view step, Rounding rounding);
std::string AmountToPrecision(double amount, std::string_view step);   // truncate
std::string PriceToPrecision(double price, std::string_view step);     // round

// Decimal text of a double in the shortest form that reads back the same, never in
// exponent notation ("0.00000123", "65000").
std::string DecimalText(double value);

// Number of decimals a step has ("0.001" → 3, "1" → 0, "5" → 0, "1e-8" → 8).
int StepDecimals(std::string_view step);

}  // namespace ami::plugin::net
