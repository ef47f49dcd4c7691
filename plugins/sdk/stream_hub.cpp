#include "ami/plugin/net/stream_hub.h"

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <utility>

#include "ami/plugin/errors.h"

namespace ami::plugin::net {

namespace {

using Clock = std::chrono::steady_clock;

// CCXT's class for "you closed it": the script's await on a stream ends with it when its
// worker stops (a catchable error, not a failure of the exchange).
constexpr const char* kClosedByUser = "ExchangeClosedByUser";

// A completion to run once the hub's lock is released: completions may re-enter the hub
// (a host that immediately issues the next Wait), and must not run under its lock.
struct Pending {
  CallCompletion done;
  CallResult result;
};

void RunAll(std::vector<Pending>& pending) {
  for (auto& p : pending) {
    try {
      if (p.done) p.done(std::move(p.result));
    } catch (...) {
      // A completion must not throw; if one does, the others still run.
    }
  }
}

}  // namespace

struct StreamHub::Impl {
  struct Waiter {
    std::string sid;
    CallCompletion done;
    Clock::time_point since;
  };
  struct Stream {
    Kind kind = Kind::kLatest;
    // kLatest: the newest value (dumped once, shared by every waiter) and its version.
    std::shared_ptr<const std::string> latest;
    std::uint64_t version = 0;   // 0 = nothing published yet
    // kAppend: items[i] has sequence number first_seq + i; next_seq is the next one.
    std::deque<nlohmann::json> items;
    std::uint64_t first_seq = 0;
    std::uint64_t next_seq = 0;
    // Per worker: kLatest — the version it last received; kAppend — the sequence number
    // of the first item it has not received.
    std::map<std::string, std::uint64_t> cursors;
    std::vector<Waiter> waiters;
  };

  explicit Impl(Options o) : options(std::move(o)) {}

  std::string Prefix() const { return options.exchange_id.empty() ? std::string() : options.exchange_id + ": "; }

  bool Ready(const Stream& s, std::uint64_t cursor) const {
    return s.kind == Kind::kLatest ? s.version > cursor : s.next_seq > cursor;
  }

  // What the worker `sid` receives now; advances its cursor.
  CallResult Deliver(Stream& s, const std::string& sid) {
    std::uint64_t& cursor = s.cursors[sid];
    if (s.kind == Kind::kLatest) {
      cursor = s.version;
      return CallResult::Ok(*s.latest);
    }
    nlohmann::json out = nlohmann::json::array();
    for (std::uint64_t seq = std::max(cursor, s.first_seq); seq < s.next_seq; ++seq)
      out.push_back(s.items[seq - s.first_seq]);
    cursor = s.next_seq;
    TrimDelivered(s);
    return CallResult::Ok(out.dump());
  }

  // Completes every waiter of `s`, each worker's waiters with the same delivery.
  void DeliverAll(Stream& s, std::vector<Pending>& pending) {
    std::map<std::string, CallResult> by_worker;
    for (auto& w : s.waiters) {
      auto it = by_worker.find(w.sid);
      if (it == by_worker.end()) it = by_worker.emplace(w.sid, Deliver(s, w.sid)).first;
      pending.push_back({std::move(w.done), it->second});
    }
    s.waiters.clear();
  }

  // Items every worker has received are not needed any more.
  void TrimDelivered(Stream& s) {
    std::uint64_t lowest = s.next_seq;
    for (const auto& [sid, cursor] : s.cursors) lowest = std::min(lowest, cursor);
    while (!s.items.empty() && s.first_seq < lowest) {
      s.items.pop_front();
      ++s.first_seq;
    }
  }

  void FailWaiters(Stream& s, const std::string& error_class, const std::string& message,
                   std::vector<Pending>& pending) {
    for (auto& w : s.waiters) pending.push_back({std::move(w.done), CallResult::Error(error_class, message)});
    s.waiters.clear();
  }

  Options options;
  mutable std::mutex mu;
  std::map<std::string, Stream> streams;
};

StreamHub::StreamHub(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}

StreamHub::~StreamHub() {
  std::vector<Pending> pending;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [key, s] : impl_->streams)
      impl_->FailWaiters(s, kClosedByUser, impl_->Prefix() + "stream " + key + " closed", pending);
    impl_->streams.clear();
  }
  RunAll(pending);
}

bool StreamHub::Wait(const std::string& key, Kind kind, const std::string& worker_sid, CallCompletion done) {
  std::vector<Pending> pending;
  bool first = false;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->streams.find(key);
    if (it == impl_->streams.end()) {
      first = true;
      it = impl_->streams.emplace(key, Impl::Stream{}).first;
      it->second.kind = kind;
    }
    Impl::Stream& s = it->second;
    if (s.kind != kind) {
      // Keys are the connector's own; one used for both kinds is a bug in it.
      pending.push_back({std::move(done), CallResult::Error(errc::kExchangeError,
                                                            impl_->Prefix() + "stream " + key +
                                                                " waited on as two kinds")});
    } else {
      auto cursor = s.cursors.find(worker_sid);
      if (cursor == s.cursors.end())   // a newcomer: latest — anything is new; append — from now on
        cursor = s.cursors.emplace(worker_sid, kind == Kind::kLatest ? 0 : s.next_seq).first;
      if (impl_->Ready(s, cursor->second))
        pending.push_back({std::move(done), impl_->Deliver(s, worker_sid)});
      else
        s.waiters.push_back({worker_sid, std::move(done), Clock::now()});
    }
  }
  RunAll(pending);
  return first;
}

void StreamHub::Publish(const std::string& key, const nlohmann::json& value) {
  auto text = std::make_shared<const std::string>(value.dump());   // outside the lock
  std::vector<Pending> pending;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->streams.find(key);
    if (it == impl_->streams.end() || it->second.kind != Kind::kLatest) return;   // nobody listens
    Impl::Stream& s = it->second;
    s.latest = std::move(text);
    ++s.version;
    impl_->DeliverAll(s, pending);
  }
  RunAll(pending);
}

void StreamHub::Append(const std::string& key, const std::vector<nlohmann::json>& items) {
  if (items.empty()) return;
  std::vector<Pending> pending;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->streams.find(key);
    if (it == impl_->streams.end() || it->second.kind != Kind::kAppend) return;
    Impl::Stream& s = it->second;
    for (const auto& item : items) {
      s.items.push_back(item);
      ++s.next_seq;
    }
    const std::size_t cap = std::max<std::size_t>(1, impl_->options.max_items);
    while (s.items.size() > cap) {   // a slow worker loses the oldest, never the newest
      s.items.pop_front();
      ++s.first_seq;
    }
    impl_->DeliverAll(s, pending);
    impl_->TrimDelivered(s);
  }
  RunAll(pending);
}

void StreamHub::Fail(const std::string& key, const std::string& error_class, const std::string& message) {
  std::vector<Pending> pending;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->streams.find(key);
    if (it == impl_->streams.end()) return;
    impl_->FailWaiters(it->second, error_class, message, pending);
  }
  RunAll(pending);
}

void StreamHub::CancelWorker(const std::string& worker_sid) {
  std::vector<Pending> pending;
  {
    std::lock_guard lock(impl_->mu);
    for (auto it = impl_->streams.begin(); it != impl_->streams.end();) {
      Impl::Stream& s = it->second;
      auto& waiters = s.waiters;
      for (auto w = waiters.begin(); w != waiters.end();) {
        if (w->sid != worker_sid) {
          ++w;
          continue;
        }
        pending.push_back({std::move(w->done),
                           CallResult::Error(kClosedByUser, impl_->Prefix() + "stream " + it->first +
                                                                " closed: the worker stopped")});
        w = waiters.erase(w);
      }
      s.cursors.erase(worker_sid);
      if (s.cursors.empty()) {   // its last subscriber left (every waiter has a cursor)
        it = impl_->streams.erase(it);
      } else {
        impl_->TrimDelivered(s);
        ++it;
      }
    }
  }
  RunAll(pending);
}

void StreamHub::Sweep() {
  std::vector<Pending> pending;
  {
    std::lock_guard lock(impl_->mu);
    const auto now = Clock::now();
    const auto max_wait = impl_->options.max_wait;
    for (auto& [key, s] : impl_->streams) {
      auto& waiters = s.waiters;
      for (auto w = waiters.begin(); w != waiters.end();) {
        if (now - w->since < max_wait) {
          ++w;
          continue;
        }
        pending.push_back({std::move(w->done),
                           CallResult::Error(errc::kRequestTimeout,
                                             impl_->Prefix() + "no update on " + key + " within " +
                                                 std::to_string(max_wait.count()) + " ms")});
        w = waiters.erase(w);
      }
    }
  }
  RunAll(pending);
}

std::vector<std::string> StreamHub::Keys() const {
  std::lock_guard lock(impl_->mu);
  std::vector<std::string> out;
  out.reserve(impl_->streams.size());
  for (const auto& [key, s] : impl_->streams) out.push_back(key);
  return out;
}

std::size_t StreamHub::waiting() const {
  std::lock_guard lock(impl_->mu);
  std::size_t n = 0;
  for (const auto& [key, s] : impl_->streams) n += s.waiters.size();
  return n;
}

}  // namespace ami::plugin::net
