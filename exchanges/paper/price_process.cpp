#include "price_process.h"

#include <cmath>

namespace ami::paper {

std::uint64_t Mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t HashString(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;   // FNV-1a
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

namespace {

double ToUnit(std::uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

PriceProcess::PriceProcess(std::uint64_t seed, std::string_view symbol, double volatility,
                           std::int64_t tick_ms)
    : key_(Mix64(seed ^ Mix64(HashString(symbol)))), tick_ms_(tick_ms > 0 ? tick_ms : 1000) {
  // Octave k has period 2^k steps. Scaling its amplitude with sqrt(period / day) makes
  // the daily log return's standard deviation come out near `volatility` (1.15 calibrates
  // for the variance lost to interpolation).
  const double steps_per_day = 86400000.0 / static_cast<double>(tick_ms_);
  for (int k = 0; k < kOctaves; ++k)
    amplitude_[k] = 1.15 * volatility * std::sqrt(std::ldexp(1.0, k) / steps_per_day);
}

double PriceProcess::LogDeviation(std::int64_t step) const {
  if (amplitude_[kOctaves - 1] == 0) return 0;
  double sum = 0;
  for (int k = 0; k < kOctaves; ++k) {
    const std::int64_t period = std::int64_t{1} << k;
    const std::int64_t cell = FloorDiv(step, period);
    const double frac = static_cast<double>(step - cell * period) / static_cast<double>(period);
    const std::uint64_t base = key_ ^ (static_cast<std::uint64_t>(k) * 0xd1b54a32d192ed03ULL);
    const double a = ToUnit(Mix64(base ^ static_cast<std::uint64_t>(cell))) * 2 - 1;
    const double b = ToUnit(Mix64(base ^ static_cast<std::uint64_t>(cell + 1))) * 2 - 1;
    const double t = frac * frac * (3 - 2 * frac);   // smoothstep
    sum += amplitude_[k] * (a + (b - a) * t);
  }
  return sum;
}

double PriceProcess::Uniform(std::int64_t step, std::uint64_t salt) const {
  return ToUnit(Mix64(key_ ^ Mix64(static_cast<std::uint64_t>(step) ^ Mix64(salt))));
}

}  // namespace ami::paper
