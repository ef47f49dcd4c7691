// What happens to workers on this node, as events for live watchers (the gateway's
// WebSocket "runtime" channel, docs/webfix.md): a worker started or stopped running here,
// stopped by its error budget, gained or lost its leader lease, or its record changed.
//
// The node actor publishes (it is the one that sees workers start and stop, and it hears
// the catalog's changes and the cluster's lease grants); watchers subscribe. Sinks run on
// the publisher's thread under the feed's lock: they must only hand the event on (post
// it to an io_context) and never block or call back into the feed.
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace ami {

struct WorkerEvent {
  // "started" (its script runs here), "stopped" (it no longer does; `detail` says why:
  // "deactivated", "deleted", "moved", "node stopping", "error"...), "budget_exhausted"
  // (stopped by its error budget), "leader_acquired", "leader_lost", "updated" (its
  // record changed), "deleted" (its record is gone).
  std::string kind;
  std::string sid;
  std::string node;       // this node's id
  int64_t term = 0;       // leases: the lease term; else 0
  std::string detail;     // free text for people; may be empty
  int64_t at_ms = 0;      // wall clock, ms since the epoch
};

class WorkerEventFeed {
 public:
  using Sink = std::function<void(const WorkerEvent&)>;

  class Subscription {
   public:
    ~Subscription();  // after it the sink is never called again
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

   private:
    friend class WorkerEventFeed;
    Subscription() = default;
    WorkerEventFeed* feed_ = nullptr;
    uint64_t id_ = 0;
  };

  WorkerEventFeed() = default;
  WorkerEventFeed(const WorkerEventFeed&) = delete;
  WorkerEventFeed& operator=(const WorkerEventFeed&) = delete;

  // The feed must outlive its subscriptions.
  std::unique_ptr<Subscription> Subscribe(Sink sink);
  void Publish(const WorkerEvent& event);

 private:
  std::mutex mu_;
  std::map<uint64_t, Sink> sinks_;  // guarded by mu_
  uint64_t next_id_ = 1;            // guarded by mu_
};

}  // namespace ami
