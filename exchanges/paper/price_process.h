// The simulated mid price of one market: a deterministic function of (seed, symbol,
// time). Nothing is stored and nothing depends on call history, so every node and every
// restart with the same seed sees the same prices at the same instant.
//
// log(price(t)) = log(base) + offset + D(step), step = floor(t / tick_ms), where D is
// fractal value noise: 17 octaves with periods 1, 2, 4, ... 65536 steps and amplitudes
// growing like sqrt(period), so moves look like a random walk over short horizons and
// stay bounded (about ±3.5 × volatility) over long ones. `volatility` is roughly the
// standard deviation of the daily log return; 0 keeps the price constant.
#pragma once

#include <cstdint>
#include <string_view>

namespace ami::paper {

class PriceProcess {
 public:
  PriceProcess(std::uint64_t seed, std::string_view symbol, double volatility,
               std::int64_t tick_ms);
  // D(step): the log deviation from the base price.
  double LogDeviation(std::int64_t step) const;
  // A uniform number in [0, 1) for (step, salt): volumes, trade sides, book sizes.
  double Uniform(std::int64_t step, std::uint64_t salt) const;
  std::int64_t tick_ms() const { return tick_ms_; }

 private:
  static constexpr int kOctaves = 17;
  std::uint64_t key_;
  double amplitude_[kOctaves];
  std::int64_t tick_ms_;
};

std::uint64_t Mix64(std::uint64_t x);   // splitmix64 finalizer
std::uint64_t HashString(std::string_view s);

}  // namespace ami::paper
