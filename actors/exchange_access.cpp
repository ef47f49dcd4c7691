#include "actors/exchange_access.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <condition_variable>
#include <deque>
#include <iterator>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "ami/plugin/ccxt.h"
#include "ami/plugin/errors.h"
#include "plugins/loader.h"

namespace ami {

namespace {

// What making one exchange's connector gave: the connector and its description, or why not.
struct MadeConnector {
  std::shared_ptr<plugin::ExchangeConnector> connector;
  std::string describe;   // Describe()'s text, when connector is set
  std::string error;      // why not, when connector is null
};

// Create and Describe are plugin code that may hang, not only throw: they run on a thread
// of their own, and a plugin that has not returned within `limit` makes its exchange
// unavailable instead of hanging the node's start. That thread is then left behind
// (detached); it holds the registry, so the library stays loaded until it returns.
MadeConnector MakeConnector(std::shared_ptr<plugins::PluginRegistry> registry, const std::string& connector_id,
                            nlohmann::json options, Millis limit) {
  struct Outcome {
    std::mutex mu;
    std::condition_variable cv;
    bool ready = false;
    MadeConnector made;
  };
  auto outcome = std::make_shared<Outcome>();
  std::thread maker([outcome, registry, connector_id, options = std::move(options)] {
    MadeConnector made;
    auto connector = registry->CreateConnector(connector_id, options);   // guarded inside
    if (!connector.ok()) {
      made.error = connector.status().message();
    } else if (auto described = plugins::GuardPluginCall(connector_id, "Describe", [&] { return (*connector)->Describe(); });
               !described.ok()) {
      made.error = described.status().message();
    } else {
      made.connector = *connector;
      made.describe = std::move(*described);
    }
    std::lock_guard<std::mutex> lock(outcome->mu);
    outcome->made = std::move(made);
    outcome->ready = true;
    outcome->cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(outcome->mu);
  if (!outcome->cv.wait_for(lock, limit, [&] { return outcome->ready; })) {
    lock.unlock();
    maker.detach();
    MadeConnector late;
    late.error = "plugin '" + connector_id + "' did not return from Create/Describe within " +
                 std::to_string(limit.count()) + " ms (exchanges.<id>.timeout)";
    spdlog::error("{}", late.error);
    return late;
  }
  MadeConnector made = std::move(outcome->made);
  lock.unlock();
  maker.join();
  return made;
}

}  // namespace

std::shared_ptr<ExchangeDirectory> BuildExchangeDirectory(const Config& config,
                                                          std::vector<std::string>* problems) {
  auto dir = std::make_shared<ExchangeDirectory>();
  auto registry = std::make_shared<plugins::PluginRegistry>();
  for (const auto& path : config.plugin_dirs) registry->LoadPath(path);
  for (const auto& error : registry->errors()) problems->push_back("plugin refused: " + error.ToString());
  for (const auto& p : registry->plugins()) dir->plugins.push_back(p.ToJson());
  dir->registry = registry;

  nlohmann::json exchanges = nlohmann::json::array();
  for (const auto& ex : config.exchanges) {
    nlohmann::json options = nlohmann::json::object();
    for (const auto& [k, v] : ex.options) options[k] = v;
    options["exchange_id"] = ex.id;
    if (!options.contains("data_dir")) options["data_dir"] = (config.node.data_dir / "exchanges" / ex.id).string();
    ExchangeEntry entry;
    entry.plugin_id = ex.connector;
    MadeConnector made = MakeConnector(registry, ex.connector, std::move(options), std::max(Millis(1), ex.timeout));
    // An unavailable exchange still offers every CCXT method, so a script's call gets a
    // clear ExchangeNotAvailable instead of "undefined is not a function".
    nlohmann::json methods = nlohmann::json::array();
    for (const auto& m : plugin::kCcxtMethods) methods.push_back({{"name", m.name}});
    nlohmann::json describe = {{"id", ex.id}, {"name", ex.id}, {"has", nlohmann::json::object()},
                               {"methods", std::move(methods)}};
    const std::string unavailable = "exchange " + ex.id + " (connector " + ex.connector + ") is not available: ";
    if (made.connector) {
      auto parsed = nlohmann::json::parse(made.describe, nullptr, false);
      // ConnectorBase answers {"error": "..."} when its own description failed.
      if (parsed.is_object() && parsed.contains("error") && !parsed.contains("methods"))
        entry.unavailable = unavailable + "plugin '" + ex.connector + "' failed in Describe: " +
                            (parsed["error"].is_string() ? parsed["error"].get<std::string>() : parsed["error"].dump());
      else if (parsed.is_object())
        describe = std::move(parsed);
      if (entry.unavailable.empty()) {
        entry.connector = made.connector;
        ExchangeBulkhead::Options bulkhead;
        bulkhead.exchange_id = ex.id;
        bulkhead.plugin_id = ex.connector;
        bulkhead.threads = std::max(1, ex.threads);
        bulkhead.queue_capacity = kQueuedCallsPerThread * static_cast<size_t>(bulkhead.threads);
        bulkhead.timeout = std::max(Millis(1), ex.timeout);
        // Method labels are the fixed CCXT set: a script's made-up names count as "other".
        std::vector<std::string> method_names;
        for (const auto& m : plugin::kCcxtMethods) method_names.emplace_back(m.name);
        entry.metrics = std::make_shared<ExchangeCallMetrics>(ex.id, std::move(method_names));
        bulkhead.metrics = entry.metrics;
        entry.bulkhead = std::make_shared<ExchangeBulkhead>(std::move(bulkhead), entry.connector);
      }
    } else {
      entry.unavailable = unavailable + made.error;
    }
    if (!entry.unavailable.empty()) problems->push_back(entry.unavailable);
    exchanges.push_back({{"id", ex.id}, {"describe", std::move(describe)}});
    dir->exchanges[ex.id] = std::move(entry);
  }
  dir->exchanges_json = exchanges.dump();

  for (const auto& account : config.accounts)
    dir->accounts[account.id] = AccountEntry{account.exchange, {account.api_key, account.secret}};

  nlohmann::json classes = nlohmann::json::array();
  for (const auto& c : plugin::kErrorClasses)
    classes.push_back({c.name, c.parent ? nlohmann::json(c.parent) : nlohmann::json(nullptr)});
  dir->error_classes_json = classes.dump();
  return dir;
}

bool IsOrderCreation(std::string_view method) {
  const plugin::MethodSpec* spec = plugin::FindCcxtMethod(method);
  // createOrder, createLimitOrder, createMarketBuyOrder, …: CCXT's order-placing calls.
  return spec && method.rfind("create", 0) == 0 && method.size() >= 5 &&
         method.substr(method.size() - 5) == "Order";
}

std::string Base36(uint64_t n) {
  static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[n % 36]);
    n /= 36;
  } while (n > 0);
  return out;
}

std::string MakeClientOrderId(std::string_view sid, std::string_view epoch, uint64_t seq) {
  std::string id = "ami-";
  id.append(sid.substr(0, 8));
  id.append("-").append(epoch).append("-").append(std::to_string(seq));
  return id;
}

std::string EnsureClientOrderId(std::string_view method, std::string* args_json, const std::string& generated) {
  const plugin::MethodSpec* spec = plugin::FindCcxtMethod(method);
  if (!spec) return "";
  size_t params_at = 0;
  while (params_at < std::size(spec->args) && spec->args[params_at] &&
         std::string_view(spec->args[params_at]) != "params")
    ++params_at;
  if (params_at == std::size(spec->args) || !spec->args[params_at]) return "";
  auto args = nlohmann::json::parse(*args_json, nullptr, false);
  if (!args.is_array()) return "";
  while (args.size() <= params_at) args.push_back(nullptr);
  nlohmann::json& params = args[params_at];
  if (params.is_null()) params = nlohmann::json::object();
  if (!params.is_object()) return "";
  auto given = params.find("clientOrderId");
  if (given != params.end() && !given->is_null()) {
    // The script's own id: kept exactly as given.
    return given->is_string() ? given->get<std::string>() : given->dump();
  }
  params["clientOrderId"] = generated;
  *args_json = args.dump();
  return generated;
}

bool IsAmbiguousFailure(std::string_view error_class) {
  return error_class == plugin::errc::kRequestTimeout || error_class == plugin::errc::kNetworkError;
}

// ---- LeaseGate ---------------------------------------------------------------------

void LeaseGate::SetDeadline(TimePoint deadline) {
  deadline_.store(deadline.time_since_epoch().count());
  closed_.store(false);
}

std::string LeaseGate::Refusal(TimePoint now) const {
  if (closed_.load()) return "the worker stopped";
  if (now.time_since_epoch().count() >= deadline_.load()) return "the worker's lease ended";
  return "";
}

// ---- ExchangeBulkhead -----------------------------------------------------------------
//
// A call is a Ticket shared by the queue, the deadline list, the thread handing it to
// the connector and the connector's completion. Its state goes queued -> running -> done,
// or straight to done; whoever moves it to done (the completion with the answer, the
// deadline thread with RequestTimeout, a refusal) is the only one to call `done`, which
// makes "exactly once" hold without holding a lock while plugin code runs. Its phase
// only tells the logs apart: a call past its deadline whose plugin returned from
// CallAsync is a stream waiting for the exchange (normal), one still inside CallAsync is
// a slow or hung plugin (worth a warning).
//
// The hand-off is kept cheap because every exchange call pays it twice (there and back):
//   - Every call gets the same timeout, so Submit order (seq) is deadline order, and
//     Submit never wakes the deadline thread: that thread never sleeps past now + timeout,
//     so a new call's deadline is always after its next wake-up. (Before, a worker
//     awaiting one call after the other found the index empty each time and woke it.)
//   - A pool thread that finished a call keeps looking at the queue for a short while
//     (SpinFor(), yielding the core) before it sleeps on the condition variable: a worker
//     that awaits one call after the other finds it there, and Submit skips the futex wake
//     when an idle spinning thread will take the call anyway.

namespace {
using SteadyClock = std::chrono::steady_clock;
enum TicketState : int { kQueued = 0, kRunning = 1, kDone = 2 };
enum CallPhase : int { kInsideCallAsync = 0, kWaitingForCompletion = 1, kCompleted = 2 };
}  // namespace

struct ExchangeBulkhead::Shared : std::enable_shared_from_this<ExchangeBulkhead::Shared> {
  struct Ticket {
    ExchangeCallTask task;
    SteadyClock::time_point deadline;
    SteadyClock::time_point submitted = SteadyClock::now();  // for the latency metric
    uint64_t seq = 0;
    std::atomic<int> state{kQueued};
    std::atomic<int> phase{kInsideCallAsync};  // meaningful once running
  };
  using TicketPtr = std::shared_ptr<Ticket>;
  // How long an idle pool thread polls the queue before it sleeps (see above): 200 µs,
  // or AMI_BULKHEAD_SPIN_US (0 = sleep at once, the former behaviour) for benchmarks.
  static std::chrono::microseconds SpinFor() {
    static const std::chrono::microseconds spin = [] {
      const char* env = std::getenv("AMI_BULKHEAD_SPIN_US");
      return std::chrono::microseconds(env && *env ? std::clamp(std::atol(env), 0L, 100000L) : 200L);
    }();
    return spin;
  }

  Options options;

  std::mutex mu;
  std::condition_variable work_cv;                 // a call was queued, or stopping
  std::condition_variable timer_cv;                // stopping
  std::condition_variable exit_cv;                 // a thread ended
  std::deque<TicketPtr> queue;                     // guarded by mu
  std::map<uint64_t, TicketPtr> deadlines;         // calls not yet answered, by seq = deadline order; guarded by mu
  uint64_t next_seq = 0;                           // guarded by mu
  int live_threads = 0;                            // guarded by mu
  int sleepers = 0;                                // pool threads waiting on work_cv; guarded by mu
  std::atomic<int> spinners{0};                    // pool threads polling the queue
  std::atomic<size_t> queued{0};                   // queue.size(), readable without mu
  std::atomic<bool> stopping{false};
  std::vector<std::thread> threads;                // touched by the constructor and destructor only

  std::atomic<uint64_t> sent{0}, answered{0}, timed_out{0}, late{0}, refused_lease{0}, refused_full{0};
  std::atomic<int64_t> waiting{0};

  std::string What(const Ticket& t) const { return options.exchange_id + "." + t.task.method; }

  // Moves `t` from `from` to done; true when this caller won and must answer it.
  static bool Claim(Ticket& t, int from) { return t.state.compare_exchange_strong(from, kDone); }
  // From whatever it is to done; returns what it was (kDone: someone else answers it).
  static int ClaimAny(Ticket& t) {
    int state = t.state.load();
    while (state != kDone && !t.state.compare_exchange_weak(state, kDone)) {
    }
    return state;
  }

  using Outcome = ExchangeCallMetrics::Outcome;
  void Measure(const Ticket& t, Outcome outcome) const {
    if (!options.metrics) return;
    const double seconds =
        outcome == Outcome::kRefused ? -1 : std::chrono::duration<double>(SteadyClock::now() - t.submitted).count();
    options.metrics->Record(t.task.method, outcome, seconds);
  }

  // Answers a claimed ticket: it leaves the deadline index, `done` runs and is released
  // (it may hold an actor handle).
  void Answer(const TicketPtr& t, plugin::CallResult result, Outcome outcome) {
    Measure(*t, outcome);
    {
      std::lock_guard<std::mutex> lock(mu);
      deadlines.erase(t->seq);
    }
    auto done = std::move(t->task.done);
    t->task.done = nullptr;
    if (done) done(std::move(result));
  }

  // Refuses a call that must not reach the connector because its lease gate says so;
  // "" when the gate lets it through.
  std::string LeaseRefusal(const Ticket& t) const {
    if (!t.task.lease) return "";
    const std::string why = t.task.lease->Refusal(SteadyClock::now());
    if (why.empty()) return "";
    return What(t) + " refused: " + why + " before the call was sent (worker " +
           (t.task.ctx.worker_sid.empty() ? std::string("-") : t.task.ctx.worker_sid) + ", term " +
           std::to_string(t.task.ctx.term) + "); it never reached the exchange";
  }

  // The connector's answer to `t`, from its completion: any thread, possibly inside
  // CallAsync on the pool thread; at most once per ticket (plugins::CallConnectorAsync).
  void Complete(const TicketPtr& t, plugin::CallResult r) {
    const int phase = t->phase.exchange(kCompleted);
    if (phase == kWaitingForCompletion) --waiting;
    if (Claim(*t, kRunning)) {
      ++answered;
      const Outcome outcome = r.ok ? Outcome::kOk : Outcome::kError;
      Answer(t, std::move(r), outcome);
      return;
    }
    if (stopping.load()) return;
    ++late;
    const std::string result = r.ok ? std::string("ok") : r.error_class;
    if (phase == kWaitingForCompletion)
      // A stream whose update came after the deadline: normal, the script already got
      // RequestTimeout and asks again.
      spdlog::debug("{} (plugin '{}', {}) completed after its {} ms timeout; the late answer ({}) is dropped", What(*t),
                    options.plugin_id, plugin::DescribeForLog(t->task.ctx), options.timeout.count(), result);
    else
      spdlog::warn("{} (plugin '{}', {}) answered after its {} ms timeout; the late answer ({}) is dropped", What(*t),
                   options.plugin_id, plugin::DescribeForLog(t->task.ctx), options.timeout.count(), result);
  }

  // The next call for a pool thread; null when stopping. Polls for SpinFor() first.
  TicketPtr Take() {
    ++spinners;
    const auto spin_end = SteadyClock::now() + SpinFor();
    while (queued.load(std::memory_order_acquire) == 0 && !stopping.load() && SteadyClock::now() < spin_end)
      std::this_thread::yield();
    std::unique_lock<std::mutex> lock(mu);
    --spinners;
    if (queue.empty() && !stopping.load()) {
      ++sleepers;
      work_cv.wait(lock, [this] { return stopping.load() || !queue.empty(); });
      --sleepers;
    }
    if (stopping.load()) return nullptr;
    TicketPtr t = std::move(queue.front());
    queue.pop_front();
    queued.store(queue.size(), std::memory_order_release);
    return t;
  }

  void PoolThread(plugin::ExchangeConnector& connector) {
    while (true) {
      TicketPtr t = Take();
      if (!t) break;
      int expected = kQueued;
      if (!t->state.compare_exchange_strong(expected, kRunning)) continue;  // its deadline passed in the queue
      if (std::string refusal = LeaseRefusal(*t); !refusal.empty()) {
        if (Claim(*t, kRunning)) {
          ++refused_lease;
          spdlog::info("{}", refusal);
          Answer(t, plugin::CallResult::Error(plugin::errc::kPermissionDenied, refusal), Outcome::kRefused);
        }
        continue;
      }
      ++sent;
      // Weak: the plugin may keep the completion for as long as it likes (and a
      // connector holding the bulkhead would be a cycle through the directory).
      plugins::CallConnectorAsync(connector, options.plugin_id, t->task.ctx, t->task.method, t->task.args_json,
                                  [weak = weak_from_this(), t](plugin::CallResult r) {
                                    if (auto s = weak.lock()) s->Complete(t, std::move(r));
                                  });
      // Not completed inside CallAsync: the plugin waits for the exchange, this thread moves on.
      int inside = kInsideCallAsync;
      if (t->phase.compare_exchange_strong(inside, kWaitingForCompletion)) ++waiting;
    }
    std::lock_guard<std::mutex> lock(mu);
    --live_threads;
    exit_cv.notify_all();
  }

  void DeadlineThread() {
    std::unique_lock<std::mutex> lock(mu);
    while (!stopping.load()) {
      if (deadlines.empty()) {
        // Never past now + timeout: a call submitted meanwhile is due after that.
        timer_cv.wait_for(lock, options.timeout);
        continue;
      }
      auto first = deadlines.begin();
      const auto due = first->second->deadline;
      if (SteadyClock::now() < due) {
        timer_cv.wait_until(lock, due);
        continue;
      }
      TicketPtr t = std::move(first->second);
      deadlines.erase(first);
      lock.unlock();
      const int state = ClaimAny(*t);
      if (state == kQueued) {
        // Out of the queue too: dead calls must not fill it while the exchange is hung.
        std::lock_guard<std::mutex> relock(mu);
        if (auto it = std::find(queue.begin(), queue.end(), t); it != queue.end()) queue.erase(it);
        queued.store(queue.size(), std::memory_order_release);
      }
      if (state != kDone) {
        ++timed_out;
        const bool stream_wait = state == kRunning && t->phase.load() == kWaitingForCompletion;
        const std::string within = What(*t) + ": no answer within the " + std::to_string(options.timeout.count()) + " ms timeout";
        const std::string message =
            state == kQueued ? within + ": the call waited for one of the exchange's " + std::to_string(options.threads) +
                                   " busy threads and was not sent"
            : stream_wait    ? within + " (plugin '" + options.plugin_id +
                                "' is waiting for the exchange, e.g. a stream update; a late answer is dropped)"
                             : within + " (plugin '" + options.plugin_id +
                                "' is still working on it; a late answer is dropped)";
        // A plugin still inside a call is worth a warning; calls that only waited in a
        // full queue are its consequence (one line each would flood the log), and a
        // stream with no update within the timeout is normal.
        if (state == kRunning && !stream_wait) spdlog::warn("{} ({})", message, plugin::DescribeForLog(t->task.ctx));
        else spdlog::debug("{} ({})", message, plugin::DescribeForLog(t->task.ctx));
        Answer(t, plugin::CallResult::Error(plugin::errc::kRequestTimeout, message), Outcome::kTimeout);
      }
      lock.lock();
    }
    --live_threads;
    exit_cv.notify_all();
  }
};

ExchangeBulkhead::ExchangeBulkhead(Options options, std::shared_ptr<plugin::ExchangeConnector> connector)
    : shared_(std::make_shared<Shared>()), connector_(std::move(connector)) {
  shared_->options = std::move(options);
  shared_->options.threads = std::max(1, shared_->options.threads);
  shared_->options.queue_capacity = std::max<size_t>(1, shared_->options.queue_capacity);
  std::lock_guard<std::mutex> lock(shared_->mu);
  for (int i = 0; i < shared_->options.threads; ++i) {
    // A pool thread owns the connector (and so its library) until it returns, also when
    // it is left behind inside a hung plugin at shutdown.
    shared_->threads.emplace_back([s = shared_, c = connector_] { s->PoolThread(*c); });
    ++shared_->live_threads;
  }
  shared_->threads.emplace_back([s = shared_] { s->DeadlineThread(); });
  ++shared_->live_threads;
}

ExchangeBulkhead::~ExchangeBulkhead() {
  std::map<uint64_t, Shared::TicketPtr> unanswered;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->stopping.store(true);
    shared_->queue.clear();
    shared_->queued.store(0);
    unanswered.swap(shared_->deadlines);
  }
  shared_->work_cv.notify_all();
  shared_->timer_cv.notify_all();
  // Dropped unanswered: claiming them keeps a thread that returns later from answering.
  for (auto& [seq, t] : unanswered)
    if (Shared::ClaimAny(*t) != kDone) t->task.done = nullptr;
  bool all_ended = false;
  {
    std::unique_lock<std::mutex> lock(shared_->mu);
    all_ended = shared_->exit_cv.wait_for(lock, std::chrono::seconds(1), [this] { return shared_->live_threads == 0; });
  }
  if (!all_ended)
    spdlog::warn("exchange {}: {} thread(s) still inside plugin '{}' at shutdown are left behind",
                 shared_->options.exchange_id, shared_->live_threads, shared_->options.plugin_id);
  for (auto& thread : shared_->threads) {
    if (all_ended) thread.join();
    else thread.detach();
  }
}

void ExchangeBulkhead::Submit(ExchangeCallTask task) {
  using Outcome = ExchangeCallMetrics::Outcome;
  Shared& s = *shared_;
  auto t = std::make_shared<Shared::Ticket>();
  t->task = std::move(task);
  auto refuse = [&](const char* error_class, std::string message) {
    t->state.store(kDone);
    s.Measure(*t, Outcome::kRefused);
    auto done = std::move(t->task.done);
    if (done) done(plugin::CallResult::Error(error_class, std::move(message)));
  };
  if (std::string refusal = s.LeaseRefusal(*t); !refusal.empty()) {
    ++s.refused_lease;
    return refuse(plugin::errc::kPermissionDenied, std::move(refusal));
  }
  std::string full;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.stopping.load()) {
      full = "exchange " + s.options.exchange_id + " is shutting down; " + t->task.method + " was not sent";
    } else if (s.queue.size() >= s.options.queue_capacity) {
      ++s.refused_full;
      full = s.What(*t) + " refused: queue full (" + std::to_string(s.queue.size()) + " calls wait for the exchange's " +
             std::to_string(s.options.threads) + " busy threads); it was not sent";
    } else {
      t->deadline = SteadyClock::now() + s.options.timeout;   // never before the last one: a FIFO
      t->seq = ++s.next_seq;
      s.deadlines.emplace_hint(s.deadlines.end(), t->seq, t);
      s.queue.push_back(t);
      s.queued.store(s.queue.size(), std::memory_order_release);
      // A spinning thread takes it without a wake-up; wake a sleeper only for what the
      // spinners cannot take.
      if (s.sleepers > 0 && s.queue.size() > static_cast<size_t>(s.spinners.load())) s.work_cv.notify_one();
    }
  }
  if (!full.empty()) refuse(plugin::errc::kExchangeNotAvailable, std::move(full));
}

void ExchangeBulkhead::CancelWorker(const std::string& worker_sid) {
  plugins::CancelConnectorWorker(*connector_, shared_->options.plugin_id, worker_sid);
}

ExchangeBulkhead::Counters ExchangeBulkhead::counters() const {
  const Shared& s = *shared_;
  return Counters{s.sent.load(),          s.answered.load(),     s.timed_out.load(),
                  s.late.load(),          s.refused_lease.load(), s.refused_full.load(),
                  static_cast<uint64_t>(std::max<int64_t>(0, s.waiting.load()))};
}

const ExchangeBulkhead::Options& ExchangeBulkhead::options() const { return shared_->options; }

}  // namespace ami
