#include "actors/store_actor.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "actors/messages.h"

namespace ami {
namespace {

struct Watch {
  kv::Space space;
  std::string encoded_prefix;
  caf::actor watcher;
};

// A commit waiting for the next group commit, with the promise of its reply.
struct PendingCommit {
  kv::AtomicOperation operation;
  caf::typed_response_promise<js::KvReply> reply;
};

struct StoreState {
  std::shared_ptr<kv::Store> store;
  std::vector<Watch> watches;
  // Group commit: commits queue here and are written in one transaction (one fsync)
  // when the flush message sent after the first of them comes round, so every commit
  // that arrived meanwhile shares it. A reply is sent only after the durable commit.
  std::vector<PendingCommit> pending;
  std::chrono::milliseconds sweep_interval{10000};
  static inline const char* name = "ami.store";

  js::KvReply Execute(const js::KvRequest& req) {
    js::KvReply reply;
    reply.op = req.op;
    switch (req.op) {
      case js::KvRequest::Op::kGet: {
        auto r = store->Get(req.space, req.key);
        if (!r.ok()) reply.status = r.status();
        else reply.entry = std::move(*r);
        break;
      }
      case js::KvRequest::Op::kList: {
        auto r = store->List(req.space, req.list);
        if (!r.ok()) reply.status = r.status();
        else reply.entries = std::move(*r);
        break;
      }
      case js::KvRequest::Op::kCommit:
        break;  // see Flush()
    }
    return reply;
  }

  void Flush() {
    if (pending.empty()) return;
    std::vector<PendingCommit> batch;
    batch.swap(pending);
    std::vector<kv::AtomicOperation> operations;
    operations.reserve(batch.size());
    for (const auto& p : batch) operations.push_back(p.operation);
    auto results = store->CommitBatch(operations);
    for (size_t i = 0; i < batch.size(); ++i) {
      js::KvReply reply;
      reply.op = js::KvRequest::Op::kCommit;
      if (!results.ok()) {
        reply.status = results.status();
      } else if (!(*results)[i].ok()) {
        reply.status = (*results)[i].status();
      } else {
        reply.commit = *(*results)[i];
        if (reply.commit.ok) Notify(batch[i].operation.space, batch[i].operation.mutations);
      }
      batch[i].reply.deliver(std::move(reply));
    }
  }

  void Notify(kv::Space space, const std::vector<kv::Mutation>& mutations) {
    for (const auto& m : mutations) {
      const std::string encoded = kv::EncodeKey(m.key);
      for (const auto& w : watches) {
        if (w.space == space && encoded.compare(0, w.encoded_prefix.size(), w.encoded_prefix) == 0) {
          caf::anon_send(w.watcher, changed_atom_v, KvChange{space, m.key});
        }
      }
    }
  }
};

// The store arrives as a shared_ptr only because spawn arguments must be copyable; this
// actor is its one user.
caf::behavior StoreActor(caf::stateful_actor<StoreState>* self, std::shared_ptr<kv::Store> store,
                         std::chrono::milliseconds sweep_interval) {
  self->state.store = std::move(store);
  self->state.sweep_interval = sweep_interval;
  self->set_down_handler([=](caf::down_msg& down) {
    auto& w = self->state.watches;
    w.erase(std::remove_if(w.begin(), w.end(), [&](const Watch& x) { return x.watcher.address() == down.source; }),
            w.end());
  });
  self->delayed_send(self, sweep_interval, sweep_atom_v);
  return {
      [=](kv_atom, js::KvRequest& req) -> caf::result<js::KvReply> {
        if (req.op != js::KvRequest::Op::kCommit) return self->state.Execute(req);
        auto& pending = self->state.pending;
        if (pending.empty()) self->send(self, flush_atom_v);
        pending.push_back(PendingCommit{
            kv::AtomicOperation{req.space, std::move(req.checks), std::move(req.mutations)},
            self->make_response_promise<js::KvReply>()});
        return pending.back().reply;
      },
      [=](flush_atom) { self->state.Flush(); },
      [=](watch_atom, kv::Space space, const kv::Key& prefix, caf::actor watcher) {
        self->monitor(watcher);
        self->state.watches.push_back(Watch{space, kv::EncodeKey(prefix), std::move(watcher)});
      },
      [=](meta_atom, const std::string& name) -> std::string {
        auto r = self->state.store->GetMeta(name);
        if (!r.ok()) {
          spdlog::error("store: reading meta {}: {}", name, r.status().message());
          return {};
        }
        return r->value_or("");
      },
      [=](meta_atom, const std::string& name, const std::string& value) -> bool {
        Status s = self->state.store->SetMeta(name, value);
        if (!s.ok()) spdlog::error("store: writing meta {}: {}", name, s.message());
        return s.ok();
      },
      [=](sweep_atom) {
        auto r = self->state.store->SweepExpired();
        if (!r.ok()) spdlog::warn("store: expiry sweep failed: {}", r.status().message());
        self->delayed_send(self, self->state.sweep_interval, sweep_atom_v);
      },
  };
}

}  // namespace

caf::actor SpawnStoreActor(caf::actor_system& system, std::unique_ptr<kv::Store> store,
                           std::chrono::milliseconds sweep_interval) {
  return system.spawn<caf::detached>(StoreActor, std::shared_ptr<kv::Store>(std::move(store)),
                                     sweep_interval);
}

}  // namespace ami
