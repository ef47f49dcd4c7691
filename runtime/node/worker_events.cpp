#include "runtime/node/worker_events.h"

namespace ami {

WorkerEventFeed::Subscription::~Subscription() {
  if (!feed_) return;
  std::lock_guard<std::mutex> lock(feed_->mu_);  // waits for a delivery in progress
  feed_->sinks_.erase(id_);
}

std::unique_ptr<WorkerEventFeed::Subscription> WorkerEventFeed::Subscribe(Sink sink) {
  std::unique_ptr<Subscription> subscription(new Subscription());
  std::lock_guard<std::mutex> lock(mu_);
  subscription->feed_ = this;
  subscription->id_ = next_id_++;
  sinks_.emplace(subscription->id_, std::move(sink));
  return subscription;
}

void WorkerEventFeed::Publish(const WorkerEvent& event) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, sink] : sinks_) sink(event);
}

}  // namespace ami
