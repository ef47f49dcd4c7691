// The exchange's clock as seen from here: signed requests carry the server's time
// (Bybit X-BAPI-TIMESTAMP, Binance timestamp) and are refused when it is off by more
// than the receive window. Part of the connector SDK (net/).
//
// NowMs() = local wall time + offset. The offset is measured by `fetch_server_ms`
// (GET /v5/market/time, /api/v3/time) as server_time - (t_send + t_recv) / 2 and
// refreshed every `refresh` in the background of a call (at most one fetch at a time;
// callers never wait for it except the very first time, bounded by the fetch's own
// timeout). Invalidate() forces a new measurement — call it after the exchange said the
// timestamp was out of window (Bybit 10002, Binance -1021): the next NowMs() measures
// before answering. A failed measurement keeps the previous offset (0 at first) and is
// retried in the background within 10 s. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace ami::plugin::net {

class ServerClock {
 public:
  // Returns the server's time in ms, or nullopt when it could not be read.
  using Fetch = std::function<std::optional<std::int64_t>()>;
  // For tests: the local wall clock in ms.
  using LocalNow = std::function<std::int64_t()>;

  ServerClock(Fetch fetch, std::chrono::seconds refresh = std::chrono::seconds(300),
              LocalNow local_now = nullptr);
  ~ServerClock();
  ServerClock(const ServerClock&) = delete;
  ServerClock& operator=(const ServerClock&) = delete;

  std::int64_t NowMs();
  std::int64_t offset_ms() const;
  void Invalidate();
  // A fixed offset, no fetching (tests, or sync disabled by config).
  void SetFixedOffset(std::int64_t offset_ms);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ami::plugin::net
