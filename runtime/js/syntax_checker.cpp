// The syntax checker (contract in syntax_checker.h): a queue of jobs, served by one
// thread at a time that owns one isolate with one context. Scripts are only compiled
// (CompileWorker, shared with Engine::Load), never run, so the context stays clean
// between checks.
#include "runtime/js/syntax_checker.h"

#include <v8.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "runtime/js/array_buffer_budget.h"
#include "runtime/js/engine_impl.h"
#include "runtime/js/v8_process.h"

namespace ami::js {

namespace {

using SteadyClock = std::chrono::steady_clock;

struct Job {
  std::string script;
  bool started = false;
  bool done = false;
  SteadyClock::time_point started_at;
  Status status;
  ScriptError error;
};

// One isolate and its context, used by one checker thread.
class CheckerIsolate {
 public:
  explicit CheckerIsolate(const SyntaxChecker::Options& options) : options_(options) {}
  ~CheckerIsolate() { Dispose(); }

  void Make() {
    allocator_ = std::make_unique<ArrayBufferBudget>(options_.heap_limit_bytes);
    SeedCodeRangeHint(options_.heap_limit_bytes);
    v8::Isolate::CreateParams params;
    params.array_buffer_allocator = allocator_.get();
    params.constraints.ConfigureDefaultsFromHeapSize(0, options_.heap_limit_bytes);
    isolate_ = v8::Isolate::New(params);
    if (!isolate_) return;
    isolate_->AddNearHeapLimitCallback(&CheckerIsolate::OnNearHeapLimit, this);
    v8::Locker locker(isolate_);
    v8::Isolate::Scope isolate_scope(isolate_);
    v8::HandleScope handle_scope(isolate_);
    context_.Reset(isolate_, v8::Context::New(isolate_));
    checks_ = 0;
    heap_exceeded_ = false;
  }

  void Dispose() {
    if (!isolate_) return;
    {
      v8::Locker locker(isolate_);
      v8::Isolate::Scope isolate_scope(isolate_);
      context_.Reset();
    }
    isolate_->Dispose();
    isolate_ = nullptr;
    allocator_.reset();  // after the isolate: it must outlive every backing store
  }

  bool ready() const { return isolate_ != nullptr; }

  void Compile(Job& job) {
    if (!isolate_) {
      job.status = Status::Internal("the syntax checker could not create a V8 isolate");
      return;
    }
    v8::Locker locker(isolate_);
    v8::Isolate::Scope isolate_scope(isolate_);
    v8::HandleScope handle_scope(isolate_);
    v8::Local<v8::Context> ctx = context_.Get(isolate_);
    v8::Context::Scope context_scope(ctx);
    ScriptError error;
    if (CompileWorker(isolate_, ctx, job.script, &error).IsEmpty()) {
      job.status = Status::ScriptError(error.Describe());
      job.error = std::move(error);
    }
    ++checks_;
  }

  uint64_t HeapUsed() {
    if (!isolate_) return 0;
    v8::Locker locker(isolate_);
    v8::HeapStatistics hs;
    isolate_->GetHeapStatistics(&hs);
    return hs.used_heap_size();
  }

  // A fresh isolate is due: the heap cap was reached, too much stays live, or enough
  // checks went through this one (V8's compilation cache and code age with it).
  bool DueForRecycling(uint64_t heap_used) const {
    return heap_exceeded_ || heap_used > options_.recycle_heap_bytes || checks_ >= options_.recycle_every;
  }

 private:
  // A compile cannot be interrupted; give it room to finish, then the isolate is replaced.
  static size_t OnNearHeapLimit(void* data, size_t current_limit, size_t) {
    auto* self = static_cast<CheckerIsolate*>(data);
    self->heap_exceeded_ = true;
    return current_limit + std::max<size_t>(current_limit / 2, 32u << 20);
  }

  const SyntaxChecker::Options& options_;
  std::unique_ptr<ArrayBufferBudget> allocator_;
  v8::Isolate* isolate_ = nullptr;
  v8::Global<v8::Context> context_;
  uint64_t checks_ = 0;
  bool heap_exceeded_ = false;
};

ScriptError PlainError(std::string message) {
  ScriptError error;
  error.cause = ScriptError::Cause::kSyntax;
  error.name = "SyntaxError";
  error.message = std::move(message);
  return error;
}

}  // namespace

struct SyntaxChecker::Shared {
  explicit Shared(Options o) : options(std::move(o)) {}
  const Options options;
  std::mutex mu;
  std::condition_variable cv;  // a job was queued, started or finished; stop; a thread ended
  std::deque<std::shared_ptr<Job>> queue;
  uint64_t generation = 0;     // the serving thread's; older threads end after their job
  int threads = 0;             // alive, abandoned ones included
  bool stopping = false;
  Stats stats;
};

namespace {

void Serve(std::shared_ptr<SyntaxChecker::Shared> s, uint64_t generation) {
  CheckerIsolate isolate(s->options);
  isolate.Make();
  std::unique_lock<std::mutex> lock(s->mu);
  ++s->stats.isolates_created;
  while (true) {
    s->cv.wait(lock, [&] { return s->stopping || generation != s->generation || !s->queue.empty(); });
    if (s->stopping || generation != s->generation) break;
    std::shared_ptr<Job> job = s->queue.front();
    s->queue.pop_front();
    job->started = true;
    job->started_at = SteadyClock::now();
    s->cv.notify_all();  // its caller now waits for the compile; a caller waiting for room has it
    lock.unlock();
    isolate.Compile(*job);
    const uint64_t heap_used = isolate.HeapUsed();
    const bool recycle = isolate.DueForRecycling(heap_used);
    if (recycle) {
      isolate.Dispose();
      isolate.Make();
    }
    lock.lock();
    job->done = true;
    ++s->stats.checks;
    s->stats.heap_used_bytes = recycle ? isolate.HeapUsed() : heap_used;
    if (recycle) ++s->stats.isolates_created;
    s->cv.notify_all();
  }
  lock.unlock();
  isolate.Dispose();
  lock.lock();
  --s->threads;
  s->cv.notify_all();
}

void StartThread(const std::shared_ptr<SyntaxChecker::Shared>& s) {  // with s->mu held
  ++s->threads;
  std::thread(Serve, s, s->generation).detach();
}

}  // namespace

SyntaxChecker::SyntaxChecker(Options options) : shared_(std::make_shared<Shared>(std::move(options))) {
  InitializeV8();
  std::lock_guard<std::mutex> lock(shared_->mu);
  StartThread(shared_);
}

SyntaxChecker::~SyntaxChecker() { StopThreads(std::chrono::seconds(30)); }

void SyntaxChecker::StopThreads(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(shared_->mu);
  shared_->stopping = true;
  shared_->cv.notify_all();
  shared_->cv.wait_for(lock, wait, [&] { return shared_->threads == 0; });
}

SyntaxChecker& SyntaxChecker::Process() {
  // Never destroyed: it outlives every caller. But its threads must be out of V8 before
  // the process's exit tears V8 down: a thread still making its first isolate when a
  // node's start failed (a bad template in the YAML) and main returned crashed in V8's
  // page allocator. The exit handler, registered after V8 was set up, runs before V8's
  // own exit-time cleanup.
  static SyntaxChecker* checker = [] {
    auto* made = new SyntaxChecker(Options{});
    std::atexit([] { Process().StopThreads(std::chrono::seconds(10)); });
    return made;
  }();
  return *checker;
}

Status SyntaxChecker::Check(std::string_view script, ScriptError* error) {
  ScriptError local_error;
  ScriptError* err = error ? error : &local_error;
  Shared& s = *shared_;
  const Options& o = s.options;
  if (script.size() > o.max_script_bytes) {
    *err = PlainError("the script (" + std::to_string(script.size()) + " bytes) is longer than the syntax check accepts (" +
                      std::to_string(o.max_script_bytes) + " bytes)");
    std::lock_guard<std::mutex> lock(s.mu);
    ++s.stats.refused_too_long;
    return Status::ScriptError(err->Describe());
  }
  auto job = std::make_shared<Job>();
  job->script.assign(script);
  const auto queue_deadline = SteadyClock::now() + o.queue_wait;
  auto busy = [&] {
    return Status::Aborted("the script check could not start within " + std::to_string(o.queue_wait.count()) +
                           " ms: the syntax checker is busy");
  };

  std::unique_lock<std::mutex> lock(s.mu);
  if (!s.cv.wait_until(lock, queue_deadline, [&] { return s.queue.size() < o.max_queued; })) return busy();
  s.queue.push_back(job);
  s.cv.notify_all();
  while (!job->done) {
    if (!job->started) {
      s.cv.wait_until(lock, queue_deadline);
      if (!job->started && SteadyClock::now() >= queue_deadline) {
        s.queue.erase(std::find(s.queue.begin(), s.queue.end(), job));
        return busy();
      }
      continue;
    }
    const auto compile_deadline = job->started_at + o.compile_limit;
    s.cv.wait_until(lock, compile_deadline);
    if (!job->done && SteadyClock::now() >= compile_deadline) {
      // The thread is stuck in V8 with this script: a new one takes the queue over, the
      // old one ends (and disposes its isolate) when V8 returns.
      ++s.generation;
      ++s.stats.abandoned;
      StartThread(shared_);
      *err = PlainError("the script did not compile within " + std::to_string(o.compile_limit.count()) +
                        " ms; the check was abandoned");
      return Status::ScriptError(err->Describe());
    }
  }
  *err = job->error;
  return job->status;
}

SyntaxChecker::Stats SyntaxChecker::stats() const {
  std::lock_guard<std::mutex> lock(shared_->mu);
  return shared_->stats;
}

}  // namespace ami::js
