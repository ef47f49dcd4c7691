// The worker actor (contract in worker_actor.h). Over 600 lines: one actor's life cycle —
// start, loop/single runs, reload, stop, leases, and the Host the engine calls back — whose
// parts share the engine, the run slot and the generation counters. Order ids and the
// exchange bulkheads are in exchange_access.h; the script API in runtime/js.
#include "actors/worker_actor.h"

#include <spdlog/spdlog.h>

#include <deque>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "actors/messages.h"
#include "runtime/exec/priority_rules.h"
#include "runtime/js/engine.h"
#include "runtime/log/worker_log.h"

namespace ami {

std::shared_ptr<WorkerEnvironment> MakeWorkerEnvironment(const Config& config, StoreActor store,
                                                         std::shared_ptr<HybridClock> clock,
                                                         std::shared_ptr<const ExchangeDirectory> exchanges,
                                                         int run_slots) {
  auto env = std::make_shared<WorkerEnvironment>();
  env->node.id = config.node.id;
  env->node.network = config.cluster ? config.cluster->name : "local";
  env->services.store = std::move(store);
  env->services.run_queue = RunQueue::Create({run_slots, config.execution.priority_order, std::chrono::milliseconds(2000)});
  env->services.stats = std::make_shared<StatsRegistry>();
  env->services.clock = std::move(clock);
  env->settings.limits = config.limits;
  env->settings.execution = config.execution;
  env->settings.log = config.log;
  env->settings.log_dir = config.node.data_dir / "logs" / "workers";
  env->node.start_ms = WallMillis();
  env->services.exchanges = std::move(exchanges);
  env->services.members = std::make_shared<cluster::MemberView>();
  env->services.cluster_gauges = std::make_shared<cluster::ClusterGauges>();
  env->services.logs = std::make_shared<LogFeed>(static_cast<size_t>(std::max(0, config.log.ring_lines)));
  env->services.events = std::make_shared<WorkerEventFeed>();
  return env;
}

std::string WorkerConfigJson(const WorkerEnvironment& env, const WorkerRecord& record) {
  nlohmann::json c = {
      {"network", env.node.network},
      {"title", env.node.id},
      {"nid", env.node.id},
      {"sid", record.sid},
      {"accountId", record.account_id ? nlohmann::json(*record.account_id) : nlohmann::json(nullptr)},
      {"executionMode", ToString(record.execution_mode)},
      {"priority", ToString(record.priority)},
      {"mode", ToString(record.mode)},
      {"scope", ToString(record.scope)},
      {"workers", 1},
      {"node", {{"id", env.node.id}}},
      {"cluster", {{"name", env.node.network}, {"members", env.services.members ? env.services.members->Get() : nlohmann::json::array()}}},
  };
  return c.dump();
}

namespace {

// Fields whose change does not need the script restarted.
bool SameExecution(WorkerRecord a, WorkerRecord b) {
  a.note = b.note;
  a.timestamp = b.timestamp;
  a.version = b.version;
  a.active = b.active;
  return a == b;
}

using SteadyClock = std::chrono::steady_clock;

// An order creation in flight, kept to be sent again (same arguments, same
// clientOrderId) when its answer is lost.
struct OrderCall {
  js::ExchangeCall call;      // arguments already carry the clientOrderId
  std::string client_order_id;
  size_t attempts = 1;        // sent so far
};

// The interface plus what a worker sends itself (timers, replies handed over from other
// threads): nobody else may send these.
using WorkerImpl = WorkerActor::extend<
    caf::reacts_to<iterate_atom, uint64_t>,                               // next call due (gen)
    caf::reacts_to<slot_atom, RunQueue::SlotPtr>,                         // run slot granted
    caf::reacts_to<timer_atom, uint64_t, uint64_t>,                       // (engine gen, request id)
    caf::reacts_to<cex_atom, uint64_t, uint64_t, js::ExchangeReply>,      // an exchange call answered
    caf::reacts_to<cex_atom, uint64_t, uint64_t>,                         // an order's retry is due
    caf::reacts_to<grant_atom, uint64_t>,                                 // the lease-end timer (gen)
    caf::reacts_to<deadline_atom, uint64_t>>;                             // stop grace period over (gen)

struct WorkerState : js::Host {
  WorkerImpl::stateful_pointer<WorkerState> self = nullptr;
  std::shared_ptr<const WorkerEnvironment> env;
  WorkerSupervisor node;
  std::shared_ptr<js::StopSwitch> stop_switch;
  WorkerRecord record;
  std::shared_ptr<WorkerLog> log;

  std::unique_ptr<js::Engine> engine;
  uint64_t engine_gen = 0;      // tags timers and KV replies: stale ones are dropped
  uint64_t iterate_gen = 0;     // tags iteration timers
  uint64_t stop_gen = 0;        // tags grace-period deadlines

  SteadyClock::time_point call_started;      // of the call in flight, for the run-duration metric
  SteadyClock::time_point next_heap_sample;  // the isolate's heap is sampled at most once a second

  RunQueue::SlotPtr slot;       // held only while running entries
  bool slot_requested = false;
  std::deque<std::function<void()>> ready;  // engine entries waiting for a run slot

  bool stopping = false;
  bool done = false;                        // quit() was called; ignore everything
  std::optional<WorkerRecord> next_record;  // set while stopping for a reload
  int consecutive_critical = 0;
  int consecutive_network = 0;

  // Leader mode (see worker_actor.h).
  std::optional<LeaderGrant> grant;  // the newest lease; none before the first grant
  bool lease_waiting = false;        // not running for want of a valid lease
  uint64_t lease_gen = 0;            // tags lease-end timers

  // Client order ids: unique per worker life (term or start time) and per call (seq).
  int64_t instance_start_ms = WallMillis();
  uint64_t order_seq = 0;
  std::map<uint64_t, OrderCall> order_calls;  // by request id, for the current engine_gen

  // Exchange calls: every submitted call answers exactly once with a (cexreply), by its
  // deadline at the latest (ExchangeBulkhead), so counting them tells when none is left.
  std::shared_ptr<LeaseGate> lease_gate = std::make_shared<LeaseGate>();
  size_t calls_in_flight = 0;
  bool waiting_for_calls = false;  // stopping: Finish() waits for calls_in_flight == 0
  std::set<std::string> exchanges_used;  // since the last CancelExchangeWaits(): who may hold our streams

  static inline const char* name = "ami.worker";

  // ---- the lease ---------------------------------------------------------------------
  bool IsLeader() const { return record.execution_mode == ExecutionMode::kLeader; }

  // Leader mode without a lease valid now (none yet, or it ended): no JavaScript may run.
  bool LeaseOver() const { return IsLeader() && (!grant || SteadyClock::now() >= grant->valid_until); }

  // The fencing token for exchange calls: the lease's term, 0 outside leader mode.
  uint64_t Term() const { return IsLeader() && grant ? grant->term : 0; }

  std::string LeaderJson() const {
    if (!IsLeader() || !grant) return "null";
    return nlohmann::json{{"node", grant->node},
                          {"term", grant->term},
                          {"expiresAt", grant->expires_at_ms ? nlohmann::json(grant->expires_at_ms) : nlohmann::json(nullptr)}}
        .dump();
  }

  // The engine refuses to enter at or after the hard deadline and its watchdog ends a
  // run still going then: the lease end in leader mode, never otherwise.
  void ApplyHardDeadline() {
    const auto deadline = !IsLeader() ? js::StopSwitch::TimePoint::max()
                          : grant     ? grant->valid_until
                                      : js::StopSwitch::TimePoint::min();
    stop_switch->SetHardDeadline(deadline);
    // Exchange calls carry the same deadline: one queued past it is never sent. (A
    // stopping leader's gate stays closed, whatever grant still comes.)
    if (!waiting_for_calls && !done) lease_gate->SetDeadline(deadline);
  }

  // A timer for the lease's end, so a worker idle between iterations notices it too.
  void ArmLeaseTimer() {
    if (!IsLeader() || !grant) return;
    const auto left = std::max(SteadyClock::duration::zero(), grant->valid_until - SteadyClock::now());
    self->delayed_send(self, std::chrono::ceil<Millis>(left) + Millis(1), grant_atom_v, ++lease_gen);
  }

  void OnGrant(const LeaderGrant& next) {
    if (done || !IsLeader()) return;
    if (grant && next.term < grant->term) {
      Log(LogLevel::kWarn, "ignored a lease grant with term " + std::to_string(next.term) + " older than " +
                               std::to_string(grant->term));
      return;
    }
    const bool new_term = !grant || next.term != grant->term;
    grant = next;
    ApplyHardDeadline();
    if (engine) engine->SetLeader(LeaderJson());
    ArmLeaseTimer();
    if (lease_waiting && !stopping && !LeaseOver()) {
      lease_waiting = false;
      Log(LogLevel::kInfo, "lease granted (term " + std::to_string(grant->term) + "); running");
      env->services.stats->Update(record.sid, [](WorkerStats& s) {
        s.is_running = true;
        s.status = "running";
      });
      Enqueue([this] { StartCall(); });  // makes a fresh engine: the old run ended with the lease
    } else if (new_term && !lease_waiting) {
      Log(LogLevel::kInfo, "lease term is now " + std::to_string(grant->term));
    }
  }

  // Not running until a grant comes: none yet, or the last one ended.
  void WaitForLease() {
    lease_waiting = true;
    const bool lapsed = grant.has_value();
    if (lapsed)
      Log(LogLevel::kWarn, "the lease (term " + std::to_string(grant->term) +
                               ") ended; the worker does not run until it is renewed");
    else
      Log(LogLevel::kError, "leader-mode worker without a lease grant; it does not run until it gets one");
    env->services.stats->Update(record.sid, [&](WorkerStats& s) {
      s.is_running = false;
      s.status = lapsed ? "waiting: lease lapsed" : "waiting: no lease";
      s.heap_used_bytes = s.heap_total_bytes = s.heap_limit_bytes = 0;  // no isolate now
    });
  }

  // The lease ended: the run ends here, without entering the isolate again. This is not
  // the script's error, so nothing is counted. The isolate is discarded, so replies and
  // timers of the ended run can never resume it under a later lease.
  void LeaseLapsed() {
    if (done || lease_waiting) return;
    ++iterate_gen;
    ready.clear();
    order_calls.clear();
    engine.reset();
    ++engine_gen;
    WaitForLease();
    if (stopping) Finish();
  }

  // ---- js::Host ------------------------------------------------------------------
  void Log(LogLevel level, std::string message) override {
    // WorkerLog cuts lines at limits.max_log_line, escapes control characters and drops
    // (never waits) when the log queue is full; the engine rate-limits script lines.
    if (log) log->Write(level, message);
  }

  void StartTimer(uint64_t id, std::chrono::milliseconds delay) override {
    if (delay.count() <= 0) {
      // Stels.sleep(0) / setTimeout(f, 0): a yield, not a timer. It goes through this
      // actor's own mailbox, behind whatever is queued there (a stop, replies, a reload),
      // and its resumption takes a run slot like any entry, so other workers run too.
      // CAF's delayed_send would route it through the timer thread (~200 µs a round trip).
      self->send(self, timer_atom_v, engine_gen, id);
      return;
    }
    self->delayed_send(self, delay, timer_atom_v, engine_gen, id);
  }

  void StartKv(uint64_t id, kv::Request request) override {
    const uint64_t gen = engine_gen;
    const auto op = request.op;
    self->request(env->services.store, caf::infinite, kv_atom_v, std::move(request))
        .then([this, gen, id](kv::Reply& reply) { DeliverKv(gen, id, std::move(reply)); },
              [this, gen, id, op](caf::error& err) {
                kv::Reply reply;
                reply.op = op;
                reply.status = Status::IOError("store unavailable: " + caf::to_string(err));
                DeliverKv(gen, id, std::move(reply));
              });
  }

  // Replies of an engine that was replaced meanwhile (gen differs) are dropped.
  void DeliverKv(uint64_t gen, uint64_t id, kv::Reply reply) {
    if (gen != engine_gen) return;
    Enqueue([this, id, r = std::move(reply)]() mutable {
      if (engine) engine->CompleteKv(id, std::move(r));
    });
  }

  void StartExchangeCall(uint64_t id, js::ExchangeCall call) override {
    if (IsOrderCreation(call.method)) {
      // The runtime's clientOrderId makes a repeated call find the first one's order.
      const std::string start = Base36(static_cast<uint64_t>(instance_start_ms));
      const std::string epoch = IsLeader() ? std::to_string(Term()) + "-" + start : start;
      const std::string generated = MakeClientOrderId(record.sid, epoch, order_seq + 1);
      const std::string coid = EnsureClientOrderId(call.method, &call.args_json, generated);
      if (coid == generated) ++order_seq;
      if (!coid.empty()) order_calls[id] = OrderCall{call, coid, 1};
    }
    SubmitExchangeCall(engine_gen, id, call);
  }

  // Sends `call` to its connector on the pool; the answer comes back as (cexreply).
  void SubmitExchangeCall(uint64_t gen, uint64_t id, const js::ExchangeCall& call) {
    ++calls_in_flight;  // every path below answers once with (cexreply)
    auto fail = [&](const char* error_class, std::string message) {
      js::ExchangeReply reply{false, "null", error_class, std::move(message)};
      self->send(self, cex_atom_v, gen, id, std::move(reply));
    };
    const ExchangeDirectory& directory = *env->services.exchanges;
    auto entry = directory.exchanges.find(call.exchange);
    if (entry == directory.exchanges.end())
      return fail("ExchangeNotAvailable", "exchange " + call.exchange + " is not configured on node " + env->node.id);
    if (!entry->second.connector || !entry->second.bulkhead) return fail("ExchangeNotAvailable", entry->second.unavailable);
    exchanges_used.insert(call.exchange);

    plugin::CallContext ctx;
    ctx.worker_sid = record.sid;
    ctx.term = Term();  // the fencing token: the exchange refuses a term older than one it saw
    if (record.account_id) {
      // The account's credentials come from the node config; the script never sees them.
      auto account = directory.accounts.find(*record.account_id);
      if (account == directory.accounts.end())
        return fail("AuthenticationError", "account " + *record.account_id + " is not configured on node " + env->node.id);
      if (account->second.exchange != call.exchange)
        return fail("AuthenticationError", "account " + *record.account_id + " belongs to exchange " +
                                               account->second.exchange + ", not " + call.exchange);
      ctx.account_id = *record.account_id;
      ctx.credentials = account->second.credentials;
    } else {
      // No account: the options the script gave the constructor, CCXT style.
      auto options = nlohmann::json::parse(call.options_json, nullptr, false);
      if (options.is_object()) {
        if (options.contains("apiKey") && options["apiKey"].is_string()) ctx.credentials.api_key = options["apiKey"];
        if (options.contains("secret") && options["secret"].is_string()) ctx.credentials.secret = options["secret"];
      }
    }
    auto me = caf::actor_cast<WorkerImpl>(self);
    ExchangeCallTask task;
    task.ctx = std::move(ctx);
    task.method = call.method;
    task.args_json = call.args_json;
    task.lease = lease_gate;
    task.done = [me, gen, id](plugin::CallResult r) {
      caf::anon_send(me, cex_atom_v, gen, id,
                     js::ExchangeReply{r.ok, std::move(r.json), std::move(r.error_class), std::move(r.message)});
    };
    entry->second.bulkhead->Submit(std::move(task));
  }

  // Asks every exchange this worker called to end its calls still waiting inside the
  // connector (streams: watchTicker, …) with ExchangeClosedByUser and to forget its
  // per-worker state. Their answers come back as (cexreply) like any other: while the
  // stop's grace lasts, the script's await rejects with an error it can catch. Never
  // blocks (ExchangeBulkhead::CancelWorker).
  void CancelExchangeWaits() {
    const ExchangeDirectory& directory = *env->services.exchanges;
    for (const auto& id : exchanges_used) {
      auto entry = directory.exchanges.find(id);
      if (entry != directory.exchanges.end() && entry->second.bulkhead) entry->second.bulkhead->CancelWorker(record.sid);
    }
    exchanges_used.clear();
  }

  double HybridTimestamp() override { return static_cast<double>(HybridClock::WallPart(env->services.clock->Now())); }

  // An order creation's answer: true when it was lost in a way that may hide an order
  // made anyway, and the call is sent again after a pause (same clientOrderId, so the
  // exchange answers with that order rather than making a second one).
  bool RetryOrder(uint64_t gen, uint64_t id, const js::ExchangeReply& reply) {
    auto it = order_calls.find(id);
    if (it == order_calls.end()) return false;
    OrderCall& order = it->second;
    const size_t max_attempts = std::size(kOrderRetryDelays) + 1;
    if (reply.ok || !IsAmbiguousFailure(reply.error_class) || order.attempts >= max_attempts) {
      order_calls.erase(it);
      return false;
    }
    const Millis delay = kOrderRetryDelays[order.attempts - 1];
    if (IsLeader() && (!grant || SteadyClock::now() + delay >= grant->valid_until)) {
      order_calls.erase(it);  // the lease ends first: no order may go out after it
      return false;
    }
    ++order.attempts;
    Log(LogLevel::kWarn, order.call.exchange + "." + order.call.method + " failed (" + reply.error_class + ": " +
                             reply.message + "); sending it again with the same clientOrderId " +
                             order.client_order_id + " in " + std::to_string(delay.count()) + " ms (attempt " +
                             std::to_string(order.attempts) + " of " + std::to_string(max_attempts) +
                             "), so an order it may have made is found, not doubled");
    self->delayed_send(self, delay, cex_atom_v, gen, id);
    return true;
  }

  void ResendOrder(uint64_t gen, uint64_t id) {
    if (gen != engine_gen) return;
    auto it = order_calls.find(id);
    if (it == order_calls.end()) return;
    if (LeaseOver()) return LeaseLapsed();
    SubmitExchangeCall(gen, id, it->second.call);
  }

  // ---- running entries under a run slot --------------------------------------------
  void Enqueue(std::function<void()> entry) {
    if (done) return;
    ready.push_back(std::move(entry));
    if (slot) return;  // RunReady() is on the stack and will pick it up
    if (slot_requested) return;
    auto me = caf::actor_cast<WorkerImpl>(self);
    slot = env->services.run_queue->Acquire(record.priority, [me](RunQueue::SlotPtr granted) {
      caf::anon_send<caf::message_priority::high>(me, slot_atom_v, std::move(granted));
    });
    if (slot) RunReady();
    else slot_requested = true;
  }

  void RunReady() {
    while (!ready.empty()) {
      if (LeaseOver()) {
        // No entry at or after the lease's end. (LeaseLapsed may start a reload whose
        // record is not leader-mode; its entry is picked up by this loop.)
        ready.clear();
        LeaseLapsed();
        continue;
      }
      auto entry = std::move(ready.front());
      ready.pop_front();
      entry();
    }
    SampleHeap();
    slot.reset();
    if (engine && !done) {
      if (auto outcome = engine->TakeOutcome()) OnCallSettled(*outcome);
    }
  }

  // For /metrics: reading V8's heap statistics is cheap but not free, so a busy loop
  // worker pays for it once a second, not once an entry.
  void SampleHeap() {
    if (!engine || engine->broken() || done) return;
    const auto now = SteadyClock::now();
    if (now < next_heap_sample) return;
    next_heap_sample = now + std::chrono::seconds(1);
    const js::HeapUsage heap = engine->heap_usage();
    env->services.stats->Update(record.sid, [&](WorkerStats& s) {
      s.heap_used_bytes = heap.used;
      s.heap_total_bytes = heap.total;
      s.heap_limit_bytes = heap.limit;
    });
  }

  // ---- lifecycle ---------------------------------------------------------------------
  void Start() {
    stopping = false;
    lease_waiting = false;
    consecutive_critical = consecutive_network = 0;
    ApplyHardDeadline();
    const int64_t now = WallMillis();
    env->services.stats->Update(record.sid, [&](WorkerStats& s) {
      s.started = now;
      s.script_hash = ScriptHash(record.script);
      s.is_running = true;
      s.status = "running";
      s.consecutive_errors = 0;
    });
    ++engine_gen;
    if (LeaseOver()) return WaitForLease();
    ArmLeaseTimer();
    // Making the isolate is CPU work too, so it waits for a run slot like any entry.
    Enqueue([this] {
      CreateEngine();
      StartCall();
    });
  }

  void CreateEngine() {
    js::EngineOptions options;
    options.heap_limit_bytes = env->settings.limits.heap_bytes;
    options.cpu_per_run = env->settings.limits.cpu_per_run;
    options.sid = record.sid;
    options.node_id = env->node.id;
    options.config_json = WorkerConfigJson(*env, record);
    options.leader_json = LeaderJson();
    options.start_time_ms = static_cast<double>(env->node.start_ms);
    options.stop_switch = stop_switch;
    options.exchanges_json = env->services.exchanges->exchanges_json;
    options.error_classes_json = env->services.exchanges->error_classes_json;
    options.max_timers = env->settings.limits.max_timers;
    options.max_pending_calls = env->settings.limits.max_pending_calls;
    options.max_list_results = env->settings.limits.max_list_results;
    options.max_log_line = env->settings.limits.max_log_line;
    options.max_log_lines_per_sec = env->settings.limits.max_log_lines_per_sec;
    auto created = js::Engine::Create(options, this);
    if (!created.ok()) return Fail("cannot start: " + created.status().message());
    js::ScriptError error;
    if (!(*created)->Load(record.script, &error).ok()) {
      env->services.stats->Update(record.sid, [&](WorkerStats& s) {
        ++s.errors;
        ++s.critical_errors;
        s.last_error = error.Describe();
        s.last_error_type = ErrorClass::kCritical;
      });
      return Fail("cannot start: " + error.Describe());
    }
    engine = std::move(*created);
    ++engine_gen;
  }

  void StartCall() {
    if (stopping || done) return;
    if (!engine) CreateEngine();  // after a heap-limit failure discarded the old one
    if (engine && !engine->call_in_flight()) {
      call_started = SteadyClock::now();
      engine->StartCall();
    }
  }

  void OnCallSettled(const js::CallOutcome& outcome) {
    if (IsLeader() && !outcome.ok && (outcome.error.cause == js::ScriptError::Cause::kLeaseEnded || LeaseOver())) {
      // Ended by the lease, not by the script: nothing is counted against its budget.
      return LeaseLapsed();
    }
    if (stopping) return Finish();
    const int64_t now = WallMillis();
    if (outcome.ok) {
      consecutive_critical = consecutive_network = 0;
    } else if (outcome.error.error_class == ErrorClass::kNetwork) {
      ++consecutive_network;
    } else {
      ++consecutive_critical;
    }
    const std::string error_text = outcome.ok ? std::string() : outcome.error.Describe();
    const double run_seconds = std::chrono::duration<double>(SteadyClock::now() - call_started).count();
    env->services.stats->Update(record.sid, [&](WorkerStats& s) {
      ++s.executions;
      s.run_seconds.Observe(run_seconds);
      s.last_run = now;
      if (outcome.ok) {
        s.consecutive_errors = 0;
        return;
      }
      ++s.errors;
      ++s.consecutive_errors;
      s.last_error = error_text;
      s.last_error_type = outcome.error.error_class;
      if (outcome.error.error_class == ErrorClass::kNetwork) ++s.network_errors;
      else ++s.critical_errors;
    });
    if (!outcome.ok) {
      Log(outcome.error.error_class == ErrorClass::kNetwork ? LogLevel::kWarn : LogLevel::kError,
          std::string(outcome.error.error_class == ErrorClass::kNetwork ? "network error: " : "error: ") +
              error_text);
    }
    if (engine && engine->broken()) {
      // A heap-limit failure leaves the isolate unusable; the next call gets a new one.
      // The next iteration's entry makes a new one (see StartCall).
      engine.reset();
      ++engine_gen;
    }

    const int budget = ErrorBudget(record.priority);
    if (!outcome.ok && outcome.error.error_class == ErrorClass::kCritical && consecutive_critical >= budget) {
      return Fail("stopped after " + std::to_string(consecutive_critical) + " " + std::string(kBudgetSpent) +
                  " (budget for " + ToString(record.priority) +
                  " priority); last: " + error_text);
    }
    if (outcome.ok && record.mode == WorkerMode::kSingle) {
      Log(LogLevel::kInfo, "script returned; single-mode worker finished");
      env->services.stats->Update(record.sid, [](WorkerStats& s) {
        s.is_running = false;
        s.status = "finished";
      });
      return Quit();
    }
    Millis delay = LoopDelay(record.priority);
    std::string status = "running";
    if (!outcome.ok) {
      delay = outcome.error.error_class == ErrorClass::kNetwork
                  ? Backoff(env->settings.execution.network_backoff, consecutive_network)
                  : Backoff(env->settings.execution.critical_backoff, consecutive_critical);
      status = "backing-off";
    }
    env->services.stats->Update(record.sid, [&](WorkerStats& s) { s.status = status; });
    ScheduleNext(delay);
  }

  void ScheduleNext(Millis delay) {
    ++iterate_gen;
    self->delayed_send(self, delay, iterate_atom_v, iterate_gen);
  }

  void Fail(const std::string& message) {
    Log(LogLevel::kError, message);
    env->services.stats->Update(record.sid, [&](WorkerStats& s) {
      s.is_running = false;
      s.status = "failed";
      if (!s.last_error) s.last_error = message;
    });
    self->send(node, failed_atom_v, record.sid, message);
    Quit();
  }

  // Stop (next == nullopt) or reload (next = the new record).
  void BeginStop(std::optional<WorkerRecord> next) {
    next_record = std::move(next);
    if (stopping) return;  // already on the way; the newest next_record wins
    stopping = true;
    ++iterate_gen;         // cancels the pending iteration timer
    // First, so a script awaiting a stream gets ExchangeClosedByUser within the grace
    // instead of waiting for an update (or the exchange's timeout).
    CancelExchangeWaits();
    if (engine && engine->call_in_flight()) {
      Enqueue([this] { if (engine) engine->Abort(); });
      self->delayed_send(self, env->settings.limits.stop_grace, deadline_atom_v, ++stop_gen);
      return;
    }
    Finish();
  }

  void Finish() {
    if (waiting_for_calls) return;  // already stopping; the last call's answer finishes it
    ready.clear();
    order_calls.clear();
    engine.reset();
    ++engine_gen;
    stop_switch->Clear();
    if (!next_record && IsLeader() && calls_in_flight > 0) {
      // The node resigns the lease once this actor is gone: a leader quits only after
      // its exchange calls were answered or timed out, so the next leader starts with
      // none of them still queued. The closed gate refuses queued ones when their turn
      // comes; each call answers by its deadline, so this waits at most
      // exchanges.<id>.timeout. The reply handler calls Finish again.
      waiting_for_calls = true;
      lease_gate->Close();
      Log(LogLevel::kInfo, "stopping: waiting for " + std::to_string(calls_in_flight) +
                               " exchange call(s) in flight to finish or time out before giving the lease up");
      env->services.stats->Update(record.sid, [](WorkerStats& s) { s.status = "stopping: waiting for exchange calls"; });
      return;
    }
    if (next_record) {
      record = std::move(*next_record);
      next_record.reset();
      Log(LogLevel::kInfo, "reloading with the new script");
      return Start();
    }
    env->services.stats->Update(record.sid, [](WorkerStats& s) {
      s.is_running = false;
      s.status = "stopped";
    });
    Quit();
  }

  void Quit() {
    done = true;
    lease_gate->Close();  // calls still queued for this worker are never sent
    CancelExchangeWaits();  // also on failure or a finished single run: connectors forget its streams
    ready.clear();
    order_calls.clear();
    engine.reset();
    ++engine_gen;
    if (log) log->Flush();
    self->quit();
  }

  WorkerImpl::behavior_type make_behavior() {
    return {
        [this](iterate_atom, uint64_t gen) {
          if (gen == iterate_gen && !stopping) Enqueue([this] { StartCall(); });
        },
        [this](slot_atom, RunQueue::SlotPtr granted) {
          slot_requested = false;
          slot = std::move(granted);
          RunReady();
        },
        [this](timer_atom, uint64_t gen, uint64_t id) {
          if (gen == engine_gen) Enqueue([this, id] { if (engine) engine->CompleteTimer(id); });
        },
        [this](cex_atom, uint64_t gen, uint64_t id, js::ExchangeReply& reply) {
          if (calls_in_flight > 0) --calls_in_flight;
          if (waiting_for_calls) {
            if (calls_in_flight == 0) {
              waiting_for_calls = false;
              Finish();
            }
            return;
          }
          if (gen != engine_gen || RetryOrder(gen, id, reply)) return;
          Enqueue([this, id, r = std::move(reply)]() mutable { if (engine) engine->CompleteExchangeCall(id, std::move(r)); });
        },
        [this](cex_atom, uint64_t gen, uint64_t id) { ResendOrder(gen, id); },  // an order's retry is due
        [this](grant_atom, const LeaderGrant& next) { OnGrant(next); },
        [this](grant_atom, uint64_t gen) {  // the lease-end timer
          if (gen != lease_gen || done || lease_waiting) return;
          if (LeaseOver()) LeaseLapsed();
          else ArmLeaseTimer();  // renewed meanwhile: wait for the new end
        },
        [this](stop_atom) { BeginStop(std::nullopt); },
        [this](reload_atom, WorkerRecord& next) {
          if (!stopping && SameExecution(record, next)) {
            record = std::move(next);
            stop_switch->Clear();
            return;
          }
          BeginStop(std::move(next));
        },
        [this](deadline_atom, uint64_t gen) {
          if (gen != stop_gen || !stopping || waiting_for_calls) return;
          Log(LogLevel::kWarn, "the script did not finish within the " +
                                   std::to_string(env->settings.limits.stop_grace.count()) +
                                   " ms grace period; it was terminated");
          Finish();
        },
    };
  }
};

WorkerImpl::behavior_type WorkerBehavior(WorkerImpl::stateful_pointer<WorkerState> self,
                                         std::shared_ptr<const WorkerEnvironment> env, WorkerRecord record,
                                         WorkerSupervisor node, std::shared_ptr<js::StopSwitch> stop_switch,
                          std::optional<LeaderGrant> grant) {
  WorkerState& st = self->state;
  st.self = self;
  st.env = std::move(env);
  st.node = std::move(node);
  st.stop_switch = std::move(stop_switch);
  st.record = std::move(record);
  st.grant = std::move(grant);
  auto log = WorkerLog::Open(st.record.sid, st.env->settings.log_dir, st.env->settings.log, st.env->settings.limits.max_log_line,
                             st.env->services.logs);
  if (log.ok()) st.log = *log;
  else spdlog::error("worker {}: cannot open its log: {}", st.record.sid, log.status().message());
  st.Start();
  return st.make_behavior();
}

}  // namespace

WorkerActor SpawnWorker(caf::actor_system& system, std::shared_ptr<const WorkerEnvironment> env,
                        WorkerRecord record, WorkerSupervisor node, std::shared_ptr<js::StopSwitch> stop_switch,
                        std::optional<LeaderGrant> grant) {
  return caf::actor_cast<WorkerActor>(system.spawn(WorkerBehavior, std::move(env), std::move(record),
                                                   std::move(node), std::move(stop_switch), std::move(grant)));
}

}  // namespace ami
