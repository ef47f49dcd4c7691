// Rounding to a market's step (net/precision.h), following CCXT's decimalToPrecision in
// TICK_SIZE mode step by step, but on exact decimals (Boost.Multiprecision integers with
// a decimal scale) where CCXT uses binary floating point:
//
//   1. missing = x mod step (the sign of x), then rounded to 8 decimals — CCXT's
//      tolerance: a value within 5e-9 of a multiple of the step counts as that multiple,
//      which is what absorbs float errors such as 0.3 - 0.1 = 0.19999999999999998 (still
//      truncated to 0.2 on a 0.1 step). The same rule makes steps finer than 1e-8 snap to
//      a neighbour within 5e-9, exactly as CCXT does (its own tests note the case).
//   2. if missing / step, rounded to max(step decimals, 8) decimals, is not a whole number
//      x is moved to the multiple below (truncate) or the nearest one, half away from zero
//      (round);
//   3. the result is rounded half away from zero to the step's decimals, without padding.
// One deliberate difference: for negative values CCXT's round branch always moves away
// from zero (-0.123 on a 0.05 step gives -0.15); here rounding is symmetric (-0.1), as it
// is for positive values. Amounts and prices sent to exchanges are never negative.
#include "ami/plugin/net/precision.h"

#include <array>
#include <charconv>
#include <cmath>
#include <optional>
#include <string>

#include <boost/multiprecision/cpp_int.hpp>

namespace ami::plugin::net {
namespace {

using Int = boost::multiprecision::cpp_int;

// mantissa × 10^-scale, scale >= 0.
struct Decimal {
  Int mantissa = 0;
  int scale = 0;
};

Int Pow10(int n) {
  Int out = 1;
  for (int i = 0; i < n; ++i) out *= 10;
  return out;
}

Decimal Rescaled(const Decimal& d, int scale) {
  if (scale <= d.scale) return d;
  return Decimal{d.mantissa * Pow10(scale - d.scale), scale};
}

// "[-]digits[.digits][e[+-]digits]"; nullopt for anything else.
std::optional<Decimal> Parse(std::string_view text) {
  Decimal out;
  bool negative = false;
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
  bool any_digit = false, after_dot = false;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c >= '0' && c <= '9') {
      out.mantissa = out.mantissa * 10 + (c - '0');
      if (after_dot) ++out.scale;
      any_digit = true;
    } else if (c == '.' && !after_dot) {
      after_dot = true;
    } else {
      break;
    }
  }
  if (!any_digit) return std::nullopt;
  if (i < text.size()) {
    if (text[i] != 'e' && text[i] != 'E') return std::nullopt;
    int exponent = 0;
    std::string_view rest = text.substr(i + 1);
    if (!rest.empty() && rest.front() == '+') rest.remove_prefix(1);
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), exponent);
    if (ec != std::errc() || end != rest.data() + rest.size() || exponent > 400 || exponent < -400)
      return std::nullopt;
    if (exponent >= 0) {
      const int shift = std::min(exponent, out.scale);
      out.scale -= shift;
      out.mantissa *= Pow10(exponent - shift);
    } else {
      out.scale -= exponent;
    }
  }
  if (negative) out.mantissa = -out.mantissa;
  return out;
}

// Rounded (half away from zero) or truncated to `decimals` places.
Decimal RoundTo(const Decimal& d, int decimals, Rounding rounding) {
  if (d.scale <= decimals) return d;
  const Int divisor = Pow10(d.scale - decimals);
  Int quotient = d.mantissa / divisor;  // truncates toward zero
  const Int remainder = d.mantissa % divisor;
  if (rounding == Rounding::kRound && boost::multiprecision::abs(remainder) * 2 >= divisor)
    quotient += d.mantissa < 0 ? -1 : 1;
  return Decimal{quotient, decimals};
}

// Plain decimal text, no exponent, no trailing zeros, "0" for zero (never "-0").
std::string Text(const Decimal& d) {
  if (d.mantissa == 0) return "0";
  const bool negative = d.mantissa < 0;
  std::string digits = Int(boost::multiprecision::abs(d.mantissa)).str();
  int scale = d.scale;
  while (scale > 0 && digits.back() == '0') {
    digits.pop_back();
    --scale;
  }
  if (static_cast<int>(digits.size()) <= scale)
    digits.insert(0, static_cast<std::size_t>(scale) + 1 - digits.size(), '0');
  std::string out = negative ? "-" : "";
  const std::size_t point = digits.size() - static_cast<std::size_t>(scale);
  out += digits.substr(0, point);
  if (scale > 0) {
    out += '.';
    out += digits.substr(point);
  }
  return out;
}

// Decimals of `d` once trailing zeros are dropped.
int Decimals(const Decimal& d) {
  Decimal n = d;
  while (n.scale > 0 && n.mantissa % 10 == 0) {
    n.mantissa /= 10;
    --n.scale;
  }
  return n.scale;
}

}  // namespace

std::string DecimalText(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0) return "0";
  // The shortest digits that read back the same, then laid out plainly with zeros (as
  // CCXT's numberToString does). Not to_chars(fixed): for large values it prints the
  // binary value's exact digits (7.0005e27 → "70004999…"), not the shortest ones.
  std::array<char, 64> buffer{};
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value,
                                 std::chars_format::scientific);
  if (ec != std::errc()) return "NaN";
  std::string_view sci(buffer.data(), static_cast<std::size_t>(end - buffer.data()));
  const auto e_at = sci.find('e');
  const auto exponent = std::stoi(std::string(sci.substr(e_at + 1)));
  return Text(*Parse(std::string(sci.substr(0, e_at)) + "e" + std::to_string(exponent)));
}

int StepDecimals(std::string_view step) {
  const auto parsed = Parse(step);
  return parsed ? Decimals(*parsed) : 0;
}

std::string ToPrecision(double value, std::string_view step, Rounding rounding) {
  const auto parsed_value = Parse(DecimalText(value));
  const auto parsed_step = Parse(step);
  if (!parsed_value || !parsed_step || parsed_step->mantissa <= 0) return DecimalText(value);
  const int step_decimals = Decimals(*parsed_step);
  const bool negative = parsed_value->mantissa < 0;
  const int scale = std::max(parsed_value->scale, parsed_step->scale);
  Decimal x = Rescaled(*parsed_value, scale);
  const Decimal tick = Rescaled(*parsed_step, scale);

  // 1. What x is past the last multiple (sign of x), with CCXT's 8-decimal tolerance.
  const Decimal missing = RoundTo(Decimal{x.mantissa % tick.mantissa, scale}, 8, Rounding::kRound);
  const int missing_scale = std::max(missing.scale, scale);
  const Decimal miss = Rescaled(missing, missing_scale);
  x = Rescaled(x, missing_scale);
  const Decimal step_at = Rescaled(tick, missing_scale);

  // 2. Off the grid when missing / step is not whole at max(decimals, 8) places.
  const int check_places = std::max(step_decimals, 8);
  const Int numerator = miss.mantissa * Pow10(check_places);
  Int ratio = numerator / step_at.mantissa;
  if (boost::multiprecision::abs(numerator % step_at.mantissa) * 2 >= step_at.mantissa)
    ratio += numerator < 0 ? -1 : 1;
  if (ratio % Pow10(check_places) != 0) {
    x.mantissa -= miss.mantissa;  // the multiple toward zero
    if (rounding == Rounding::kRound &&
        boost::multiprecision::abs(miss.mantissa) * 2 >= step_at.mantissa)
      x.mantissa += negative ? -step_at.mantissa : step_at.mantissa;  // away from zero
  }
  // 3. To the step's decimals.
  return Text(RoundTo(x, step_decimals, Rounding::kRound));
}

std::string AmountToPrecision(double amount, std::string_view step) {
  return ToPrecision(amount, step, Rounding::kTruncate);
}

std::string PriceToPrecision(double price, std::string_view step) {
  return ToPrecision(price, step, Rounding::kRound);
}

}  // namespace ami::plugin::net
