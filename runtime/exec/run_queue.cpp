#include "runtime/exec/run_queue.h"

namespace ami {

RunQueue::Slot::~Slot() { queue_->Release(); }

RunQueue::RunQueue(Options options) : options_(options) {
  for (auto& h : waits_) h = Histogram(kQueueWaitSecondsBounds);
}

std::shared_ptr<RunQueue> RunQueue::Create(Options options) {
  if (options.slots < 1) options.slots = 1;
  return std::shared_ptr<RunQueue>(new RunQueue(options));
}

RunQueue::SlotPtr RunQueue::Acquire(Priority priority, Grant grant) {
  std::lock_guard<std::mutex> lock(mu_);
  bool anyone_waiting = false;
  for (const auto& q : waiting_) anyone_waiting |= !q.empty();
  if (in_use_ < options_.slots && !anyone_waiting) {
    ++in_use_;
    ++counters_.immediate;
    waits_[static_cast<size_t>(priority)].Observe(0);
    return SlotPtr(new Slot(shared_from_this()));
  }
  waiting_[QueueIndex(priority)].push_back(Waiter{std::move(grant), std::chrono::steady_clock::now(), priority});
  return nullptr;
}

RunQueue::Waiter RunQueue::PopNext() {
  const auto now = std::chrono::steady_clock::now();
  // The oldest head among all queues, if it has waited too long, goes first.
  std::deque<Waiter>* oldest = nullptr;
  for (auto& q : waiting_)
    if (!q.empty() && (!oldest || q.front().since < oldest->front().since)) oldest = &q;
  std::deque<Waiter>* pick = nullptr;
  // At most every other grant goes by age: on an overloaded node every waiter is soon
  // older than max_wait, and serving by age alone would turn the queue into one FIFO
  // with critical workers waiting behind hundreds of low ones.
  if (oldest && !last_grant_aged_ && now - oldest->front().since > options_.max_wait) {
    pick = oldest;
    ++counters_.aged;
    last_grant_aged_ = true;
  } else {
    last_grant_aged_ = false;
    for (auto& q : waiting_)
      if (!q.empty()) { pick = &q; break; }
  }
  Waiter w = std::move(pick->front());
  pick->pop_front();
  waits_[static_cast<size_t>(w.priority)].Observe(std::chrono::duration<double>(now - w.since).count());
  return w;
}

void RunQueue::Release() {
  Waiter next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool anyone_waiting = false;
    for (const auto& q : waiting_) anyone_waiting |= !q.empty();
    if (!anyone_waiting) {
      --in_use_;
      return;
    }
    // The slot passes to the waiter without being freed: in_use_ stays the same.
    next = PopNext();
    ++counters_.queued;
  }
  next.grant(SlotPtr(new Slot(shared_from_this())));
}

RunQueue::Counters RunQueue::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  Counters c = counters_;
  c.in_use = in_use_;
  c.waiting = 0;
  for (const auto& q : waiting_) c.waiting += q.size();
  return c;
}

std::array<Histogram, 4> RunQueue::wait_seconds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waits_;
}

}  // namespace ami
