// The isolate pool (contract in isolate_pool.h): ready isolates per heap limit behind one
// mutex, and one refill thread that makes the missing ones outside it.
#include "runtime/js/isolate_pool.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <v8.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/js/engine_impl.h"

namespace ami::js {

struct IsolatePool::State {
  mutable std::mutex mu;
  std::condition_variable wake;  // the refill thread waits on it
  int size = kDefaultSize;
  bool stopped = false;
  uint64_t taken = 0;
  std::map<uint64_t, std::deque<FreshIsolate>> ready;  // by heap limit
  std::thread refill;

  // A limit whose pool is short, or nothing when all are full (under `mu`).
  std::optional<uint64_t> Short() const {
    for (const auto& [limit, isolates] : ready)
      if (isolates.size() < static_cast<size_t>(size)) return limit;
    return std::nullopt;
  }

  void Refill() {
    // Below the workers' threads: when the machine is busy, workers starting now go
    // first and the pool fills in the gaps (a Take() that finds it empty makes its own).
    setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      wake.wait(lock, [&] { return stopped || Short(); });
      if (stopped) return;
      const uint64_t limit = *Short();
      lock.unlock();
      FreshIsolate made = MakeIsolate(limit);
      lock.lock();
      if (!made.isolate) {
        // V8 refused (memory): try again later rather than spin.
        wake.wait_for(lock, std::chrono::seconds(1), [&] { return stopped; });
        continue;
      }
      auto& queue = ready[limit];
      if (stopped || queue.size() >= static_cast<size_t>(size)) {
        lock.unlock();
        made.isolate->Dispose();  // shrunk or stopped meanwhile
        lock.lock();
        continue;
      }
      queue.push_back(std::move(made));
    }
  }
};

namespace {
void Dispose(std::vector<FreshIsolate>& isolates) {
  for (FreshIsolate& f : isolates) {
    f.isolate->Dispose();
    f.allocator.reset();  // after its isolate
  }
  isolates.clear();
}

int SizeFromEnvironment() {
  const char* text = std::getenv("AMI_ISOLATE_POOL");
  if (!text || !*text) return IsolatePool::kDefaultSize;
  return std::clamp(std::atoi(text), 0, 64);
}
}  // namespace

IsolatePool::IsolatePool() : state_(std::make_unique<State>()) { state_->size = SizeFromEnvironment(); }

IsolatePool& IsolatePool::Process() {
  // Never destroyed (threads may still call Take() during exit); the atexit handler only
  // stops it. Registered after InitializeV8 made the platform, so it runs first.
  static IsolatePool* pool = [] {
    InitializeV8();
    auto* p = new IsolatePool();
    std::atexit([] { IsolatePool::Process().Shutdown(); });
    return p;
  }();
  return *pool;
}

bool IsolatePool::Take(uint64_t heap_limit, FreshIsolate* out) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.stopped || s.size <= 0) return false;
  auto it = s.ready.find(heap_limit);
  if (it == s.ready.end()) {
    if (s.ready.size() >= kMaxHeapLimits) return false;
    s.ready.emplace(heap_limit, std::deque<FreshIsolate>{});
    if (!s.refill.joinable()) s.refill = std::thread([&s] { s.Refill(); });
    s.wake.notify_one();
    return false;
  }
  s.wake.notify_one();
  if (!out || it->second.empty()) return false;
  *out = std::move(it->second.front());
  it->second.pop_front();
  ++s.taken;
  return true;
}

void IsolatePool::SetSize(int size) {
  State& s = *state_;
  std::vector<FreshIsolate> surplus;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.size = std::max(0, size);
    for (auto& [limit, queue] : s.ready) {
      while (queue.size() > static_cast<size_t>(s.size)) {
        surplus.push_back(std::move(queue.back()));
        queue.pop_back();
      }
    }
    s.wake.notify_one();
  }
  Dispose(surplus);
}

int IsolatePool::size() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->size;
}

size_t IsolatePool::ready(uint64_t heap_limit) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->ready.find(heap_limit);
  return it == state_->ready.end() ? 0 : it->second.size();
}

uint64_t IsolatePool::taken() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->taken;
}

void IsolatePool::Shutdown() {
  State& s = *state_;
  std::vector<FreshIsolate> left;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stopped = true;
    s.wake.notify_all();
  }
  if (s.refill.joinable()) s.refill.join();  // it may be making one: wait for V8 to return
  {
    std::lock_guard<std::mutex> lock(s.mu);
    for (auto& [limit, queue] : s.ready)
      for (FreshIsolate& f : queue) left.push_back(std::move(f));
    s.ready.clear();
  }
  Dispose(left);
}

}  // namespace ami::js
