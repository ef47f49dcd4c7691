#include "actors/store_actor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <functional>

#include "actors/messages.h"

namespace ami {
namespace {

std::atomic<bool> g_trace{false};  // SetReplicationTrace

int64_t WallMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

wire::ReplRow ToWire(kv::ReplicaRow& r) {
  wire::ReplRow w;
  w.key = kv::EncodeKey(r.key);
  w.deleted = r.deleted;
  w.value = std::move(r.value);
  w.expires_at = r.expires_at.value_or(0);
  w.hlc = r.hlc;
  w.origin = std::move(r.origin);
  w.versionstamp = r.versionstamp;
  return w;
}

// Peer-supplied text for a log line: at most `max` bytes, control bytes replaced, so
// a hostile or broken sender cannot forge or flood log lines.
std::string ForLog(std::string_view text, size_t max = 64) {
  std::string out(text.substr(0, max));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  if (text.size() > max) out += "...";
  return out;
}

struct Watch {
  kv::Space space;
  std::string encoded_prefix;
  KvWatcher watcher;
};

// The interface plus the two messages the store sends itself (group commit, expiry).
using StoreImpl = StoreActor::extend<caf::reacts_to<flush_atom>, caf::reacts_to<sweep_atom>>;

// A commit waiting for the next group commit, with the promise of its reply.
struct PendingCommit {
  kv::AtomicOperation operation;
  caf::typed_response_promise<kv::Reply> reply;
  std::chrono::steady_clock::time_point received;  // for the latency metric
};

// A meta write waiting for the same group commit.
struct PendingMeta {
  std::string name;
  std::string value;
  caf::typed_response_promise<bool> reply;
};

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct StoreState {
  std::shared_ptr<kv::Store> store;
  std::vector<Watch> watches;
  // Group commit: commits and meta writes queue here and are written in one transaction
  // (one fsync) when the flush message sent after the first of them comes round, so
  // every write that arrived meanwhile shares it — 1000 workers written at once cost a
  // few fsyncs, not 1000. A reply is sent only after the durable commit.
  std::vector<PendingCommit> pending;
  std::vector<PendingMeta> pending_meta;
  std::chrono::milliseconds sweep_interval{10000};
  std::shared_ptr<KvMetrics> metrics;  // may be null
  ReplFeed feed;                       // the cluster actor, once it asked (kvwatch, ReplFeed)
  // Sends to `feed` with this actor as the sender (the cluster actor serves only local
  // senders with it: a wire::ReplBatch could come from anywhere).
  std::function<void(wire::ReplBatch)> send_feed;
  // The highest versionstamp a network write (commit or apply) got: what heartbeats
  // announce. Unlike LastNetworkVersionstamp() it never goes back when a sweep removes
  // the newest row, so a peer's cursor can always reach it (see Changes()).
  uint64_t last_network_vs = 0;
  static inline const char* name = "ami.store";

  void Measure(const kv::Request& req, const kv::Reply& reply, std::chrono::steady_clock::time_point start) {
    if (metrics) metrics->Record(req.op, req.space, reply.status.ok(), SecondsSince(start));
  }

  kv::Reply Execute(const kv::Request& req) {
    kv::Reply reply;
    reply.op = req.op;
    switch (req.op) {
      case kv::Request::Op::kGet: {
        auto r = store->Get(req.space, req.key);
        if (!r.ok()) reply.status = r.status();
        else reply.entry = std::move(*r);
        break;
      }
      case kv::Request::Op::kList: {
        auto r = store->List(req.space, req.list);
        if (!r.ok()) reply.status = r.status();
        else reply.entries = std::move(*r);
        break;
      }
      case kv::Request::Op::kCommit:
        break;  // see Flush()
    }
    return reply;
  }

  // The first write queued for a group commit schedules it (the caller sends flush).
  bool NothingQueued() const { return pending.empty() && pending_meta.empty(); }

  void Flush() {
    if (pending.empty() && pending_meta.empty()) return;
    std::vector<PendingCommit> batch;
    batch.swap(pending);
    std::vector<PendingMeta> metas;
    metas.swap(pending_meta);
    std::vector<kv::AtomicOperation> operations;
    operations.reserve(batch.size());
    for (const auto& p : batch) operations.push_back(p.operation);
    std::vector<std::pair<std::string, std::string>> meta_rows;
    meta_rows.reserve(metas.size());
    for (const auto& m : metas) meta_rows.emplace_back(m.name, m.value);
    std::vector<kv::ReplicaRow> network_rows;
    auto results = store->CommitBatch(operations, meta_rows, &network_rows);
    if (!results.ok()) spdlog::error("store: group commit failed: {}", results.status().message());
    else if (!network_rows.empty()) Feed(network_rows);
    for (auto& m : metas) m.reply.deliver(results.ok());
    for (size_t i = 0; i < batch.size(); ++i) {
      kv::Reply reply;
      reply.op = kv::Request::Op::kCommit;
      if (!results.ok()) {
        reply.status = results.status();
      } else if (!(*results)[i].ok()) {
        reply.status = (*results)[i].status();
      } else {
        reply.commit = *(*results)[i];
        if (reply.commit.ok) {
          for (const auto& m : batch[i].operation.mutations) Notify(batch[i].operation.space, m.key, false);
        }
      }
      if (metrics)
        metrics->Record(kv::Request::Op::kCommit, batch[i].operation.space, reply.status.ok(),
                        SecondsSince(batch[i].received));
      batch[i].reply.deliver(std::move(reply));
    }
  }

  // Local network rows just committed: to the feed, and the trace.
  void Feed(std::vector<kv::ReplicaRow>& rows) {
    const bool trace = g_trace.load(std::memory_order_relaxed);
    const int64_t now_us = trace ? WallMicros() : 0;
    wire::ReplBatch batch;
    batch.after = last_network_vs;
    auto incarnation = store->Incarnation();
    if (incarnation.ok()) batch.store_incarnation = std::move(*incarnation);
    batch.rows.reserve(rows.size());
    for (kv::ReplicaRow& r : rows) {
      if (trace) spdlog::info("repltrace commit {} {}", kv::KeyToString(r.key), now_us);
      last_network_vs = std::max(last_network_vs, r.versionstamp);
      batch.rows.push_back(ToWire(r));
    }
    batch.upto = last_network_vs;
    if (feed) send_feed(std::move(batch));
  }

  void Notify(kv::Space space, const kv::Key& key, bool remote) {
    const std::string encoded = kv::EncodeKey(key);
    for (const auto& w : watches) {
      if (w.space == space && encoded.compare(0, w.encoded_prefix.size(), w.encoded_prefix) == 0) {
        caf::anon_send(w.watcher, changed_atom_v, KvChange{space, key, remote});
      }
    }
  }

  wire::ReplBatch Changes(uint64_t after, uint32_t limit) {
    wire::ReplBatch batch;
    batch.after = after;
    batch.upto = after;
    auto incarnation = store->Incarnation();
    if (incarnation.ok()) batch.store_incarnation = std::move(*incarnation);
    auto rows = store->ChangesSince(after, limit);
    if (!incarnation.ok() || !rows.ok()) {
      spdlog::error("store: reading replication changes after {}: {}", after,
                    (incarnation.ok() ? rows.status() : incarnation.status()).message());
      batch.store_incarnation.clear();
      return batch;
    }
    batch.more = limit != 0 && rows->size() >= limit;
    batch.rows.reserve(rows->size());
    for (kv::ReplicaRow& r : *rows) batch.rows.push_back(ToWire(r));
    if (!batch.rows.empty()) batch.upto = batch.rows.back().versionstamp;
    // Every row after `after` was read: the reader has everything up to what heartbeats
    // announce, even when a sweep removed the newest rows.
    if (!batch.more) batch.upto = std::max(batch.upto, last_network_vs);
    return batch;
  }

  // Nothing in the batch is trusted: keys are decoded here, the rest validated by
  // ApplyRemote; bad rows are dropped and reported once for the whole batch.
  Result<uint64_t> Apply(wire::ReplBatch& batch, const std::string& meta_name, std::string& meta_value) {
    std::vector<kv::ReplicaRow> rows;
    rows.reserve(batch.rows.size());
    size_t undecodable = 0;
    std::string first_error;
    for (size_t i = 0; i < batch.rows.size(); ++i) {
      wire::ReplRow& w = batch.rows[i];
      // Checked before decoding so an oversized key costs nothing.
      Result<kv::Key> key = w.key.size() > kv::kMaxKeyBytes
                                ? Result<kv::Key>(Status::InvalidArgument(
                                      "key is " + std::to_string(w.key.size()) + " bytes encoded; the limit is " +
                                      std::to_string(kv::kMaxKeyBytes)))
                                : kv::DecodeKey(w.key);
      if (!key.ok()) {
        if (undecodable++ == 0) first_error = "row " + std::to_string(i) + ": " + key.status().message();
        continue;
      }
      kv::ReplicaRow r;
      r.key = std::move(key).value();
      r.deleted = w.deleted;
      r.value = std::move(w.value);
      if (w.expires_at != 0) r.expires_at = w.expires_at;
      r.hlc = w.hlc;
      r.origin = std::move(w.origin);
      r.versionstamp = w.versionstamp;
      rows.push_back(std::move(r));
    }
    std::optional<std::pair<std::string, std::string>> meta;
    if (!meta_name.empty()) meta.emplace(meta_name, std::move(meta_value));
    // Deferred: no fsync on the replication path (store_actor.h, "replsync").
    auto applied = store->ApplyRemote(rows, meta, kv::Store::Durability::kDeferred);
    if (!applied.ok()) {
      spdlog::error("store: applying a replication batch from {}: {}", ForLog(batch.node), applied.status().message());
      return applied.status();
    }
    const size_t rejected = undecodable + applied->rejected;
    if (rejected > 0) {
      if (first_error.empty()) first_error = applied->first_error;
      spdlog::warn("store: replication batch from {}: dropped {} of {} rows, e.g. {}", ForLog(batch.node),
                   rejected, batch.rows.size(), ForLog(first_error, 300));
    }
    if (g_trace.load(std::memory_order_relaxed)) {
      const int64_t now_us = WallMicros();
      for (const kv::Key& key : applied->changed)
        spdlog::info("repltrace apply {} {} {}", kv::KeyToString(key), now_us, ForLog(batch.node));
    }
    if (applied->versionstamp != 0) {
      wire::ReplBatch note;
      note.node = batch.node.empty() ? std::string("?") : batch.node;
      note.after = last_network_vs;
      last_network_vs = std::max(last_network_vs, applied->versionstamp);
      note.upto = last_network_vs;
      if (feed) send_feed(std::move(note));
    }
    for (const kv::Key& key : applied->changed) Notify(kv::Space::kNetwork, key, true);
    return static_cast<uint64_t>(applied->changed.size());
  }
};

caf::error StoreError(const Status& status) { return caf::make_error(caf::sec::runtime_error, status.ToString()); }

// The store arrives as a shared_ptr only because spawn arguments must be copyable; this
// actor is its one user.
StoreImpl::behavior_type StoreBehavior(StoreImpl::stateful_pointer<StoreState> self, std::shared_ptr<kv::Store> store,
                                       std::chrono::milliseconds sweep_interval, std::shared_ptr<KvMetrics> metrics) {
  self->state.store = std::move(store);
  self->state.metrics = std::move(metrics);
  self->state.sweep_interval = sweep_interval;
  self->state.send_feed = [self](wire::ReplBatch batch) {
    self->send(self->state.feed, repl_changes_atom_v, std::move(batch));
  };
  if (auto last = self->state.store->LastNetworkVersionstamp(); last.ok()) {
    self->state.last_network_vs = *last;
  } else {
    spdlog::error("store: reading the last network versionstamp: {}", last.status().message());
  }
  self->set_down_handler([=](caf::down_msg& down) {
    if (self->state.feed && self->state.feed.address() == down.source) self->state.feed = nullptr;
    auto& w = self->state.watches;
    w.erase(std::remove_if(w.begin(), w.end(), [&](const Watch& x) { return x.watcher.address() == down.source; }),
            w.end());
  });
  self->delayed_send(self, sweep_interval, sweep_atom_v);
  return {
      [=](kv_atom, kv::Request& req) -> caf::result<kv::Reply> {
        const auto received = std::chrono::steady_clock::now();
        if (req.op != kv::Request::Op::kCommit) {
          kv::Reply reply = self->state.Execute(req);
          self->state.Measure(req, reply, received);
          return reply;
        }
        auto& pending = self->state.pending;
        if (self->state.NothingQueued()) self->send(self, flush_atom_v);
        pending.push_back(PendingCommit{
            kv::AtomicOperation{req.space, std::move(req.checks), std::move(req.mutations)},
            self->make_response_promise<kv::Reply>(), received});
        return pending.back().reply;
      },
      [=](flush_atom) { self->state.Flush(); },
      [=](watch_atom, kv::Space space, const kv::Key& prefix, KvWatcher watcher) {
        self->monitor(watcher);
        self->state.watches.push_back(Watch{space, kv::EncodeKey(prefix), std::move(watcher)});
      },
      [=](watch_atom, ReplFeed feed) {
        self->monitor(feed);
        self->state.feed = std::move(feed);
      },
      [=](meta_atom, const std::string& name) -> std::string {
        self->state.Flush();  // a meta write queued before this read must be seen by it
        auto r = self->state.store->GetMeta(name);
        if (!r.ok()) {
          spdlog::error("store: reading meta {}: {}", name, r.status().message());
          return {};
        }
        return r->value_or("");
      },
      [=](meta_atom, const std::string& name, const std::string& value) -> caf::result<bool> {
        if (self->state.NothingQueued()) self->send(self, flush_atom_v);
        auto& metas = self->state.pending_meta;
        metas.push_back(PendingMeta{name, value, self->make_response_promise<bool>()});
        return metas.back().reply;
      },
      [=](repl_changes_atom, uint64_t after, uint32_t limit) -> wire::ReplBatch {
        return self->state.Changes(after, limit);
      },
      [=](repl_apply_atom, wire::ReplBatch& batch, const std::string& meta_name,
          std::string& meta_value) -> caf::result<uint64_t> {
        self->state.Flush();  // queued writes first, in the order they came
        auto applied = self->state.Apply(batch, meta_name, meta_value);
        if (!applied.ok()) return StoreError(applied.status());
        return *applied;
      },
      [=](repl_sync_atom) -> caf::result<bool> {
        self->state.Flush();  // queued writes are durable commits: they may do it already
        Status s = self->state.store->Sync();
        if (!s.ok()) {
          spdlog::error("store: syncing replicated rows: {}", s.message());
          return false;
        }
        return true;
      },
      [=](repl_state_atom) -> caf::result<ReplState> {
        auto incarnation = self->state.store->Incarnation();
        if (!incarnation.ok()) return StoreError(incarnation.status());
        return ReplState{std::move(*incarnation), self->state.last_network_vs};
      },
      [=](repl_digest_atom) -> caf::result<uint64_t> {
        auto digest = self->state.store->NetworkDigest();
        if (!digest.ok()) {
          spdlog::error("store: computing the network digest: {}", digest.status().message());
          return StoreError(digest.status());
        }
        return *digest;
      },
      [=](sweep_atom) {
        auto r = self->state.store->SweepExpired();
        if (!r.ok()) spdlog::warn("store: expiry sweep failed: {}", r.status().message());
        self->delayed_send(self, self->state.sweep_interval, sweep_atom_v);
      },
  };
}

}  // namespace

void SetReplicationTrace(bool on) { g_trace.store(on, std::memory_order_relaxed); }
bool ReplicationTrace() { return g_trace.load(std::memory_order_relaxed); }

StoreActor SpawnStoreActor(caf::actor_system& system, std::unique_ptr<kv::Store> store,
                           std::chrono::milliseconds sweep_interval, std::shared_ptr<KvMetrics> metrics) {
  auto impl = system.spawn<caf::detached>(StoreBehavior, std::shared_ptr<kv::Store>(std::move(store)),
                                          sweep_interval, std::move(metrics));
  return caf::actor_cast<StoreActor>(impl);
}

}  // namespace ami
