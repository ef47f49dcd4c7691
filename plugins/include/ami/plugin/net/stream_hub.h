// Where a streaming connector's updates meet the workers waiting for them: CCXT Pro's
// `watch*` semantics over the host's asynchronous calls (ExchangeConnector::CallAsync).
// Part of the connector SDK (net/).
//
// A stream is named by a key ("ticker:BTC/USDT", "book:BTC/USDT", "trades:BTC/USDT",
// "orders:<account>"). Two kinds:
//   - kLatest (ticker, order book): Wait() completes with the newest value once there is
//     one newer than what this worker last received from this key;
//   - kAppend (trades, orders): Wait() completes with every item appended since this
//     worker's last Wait on the key (at most `max_items`, oldest dropped), as a JSON
//     array — CCXT Pro's "new updates" mode.
// So an update that arrives between two calls of a worker is never lost (append) or is
// folded into the newest (latest), and a call holds no host thread while it waits.
// A worker's first Wait on a key gets the current value at once (latest) or the items
// appended from then on (append). Calls of one worker waiting together get the same update.
//
// Wait() returns true when the key had no subscriber before this call (the connector
// should then subscribe on its socket). Fail(key, class, message) completes every waiter
// of the key with an error (e.g. a resync that failed). CancelWorker(sid) completes that
// worker's waiters with ExchangeClosedByUser and forgets its cursors. Waiters older than
// `max_wait` are completed with RequestTimeout by Sweep() (the connector calls it from a
// timer, e.g. its socket's ping), so nothing waits forever. Keys() lists the keys with
// subscribers (to resubscribe after a reconnect). Thread-safe; completions run on the
// publishing thread, outside the hub's lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ami/plugin/exchange_connector.h"

namespace ami::plugin::net {

class StreamHub {
 public:
  enum class Kind { kLatest, kAppend };
  struct Options {
    std::size_t max_items = 1000;
    std::chrono::milliseconds max_wait{300000};
    std::string exchange_id;           // for messages
  };

  explicit StreamHub(Options options);
  ~StreamHub();   // completes every waiter with ExchangeClosedByUser
  StreamHub(const StreamHub&) = delete;
  StreamHub& operator=(const StreamHub&) = delete;

  bool Wait(const std::string& key, Kind kind, const std::string& worker_sid, CallCompletion done);
  void Publish(const std::string& key, const nlohmann::json& value);         // kLatest
  void Append(const std::string& key, const std::vector<nlohmann::json>& items);  // kAppend
  void Fail(const std::string& key, const std::string& error_class, const std::string& message);
  void CancelWorker(const std::string& worker_sid);
  void Sweep();
  std::vector<std::string> Keys() const;
  std::size_t waiting() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ami::plugin::net
