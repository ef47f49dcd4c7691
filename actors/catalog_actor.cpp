#include "actors/catalog_actor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <utility>

namespace ami {
namespace {

// A store round trip that takes longer than this is answered Aborted: the store actor is
// stuck or gone, and waiting longer would hold every later request about the sid.
constexpr std::chrono::seconds kStoreTimeout{30};
// Writes without `expected` that lose a compare-and-set to another writer (a peer's
// replicated write, a script past the keyspace guard) read, apply and write again.
constexpr int kWriteAttempts = 5;

using Done = std::function<void()>;          // a queued request is over: the next may start
using Answer = std::function<void(WorkerReply)>;  // delivers the reply
using End = std::function<void(WorkerReply)>;     // delivers the reply, then Done

// Both spaces' entries of one sid, as read.
struct Both {
  std::optional<kv::Entry> local;
  std::optional<kv::Entry> network;
  const std::optional<kv::Entry>& In(kv::Space space) const { return space == kv::Space::kLocal ? local : network; }
};

// One write through the catalog: `make` turns the record in force (none: nullopt) into
// the record to store, or nullopt for "nothing to write" (answered with what is there).
struct Write {
  std::string sid;
  std::optional<uint64_t> expected;
  std::function<Result<std::optional<WorkerRecord>>(const std::optional<StoredWorker>&)> make;
  std::string what;  // for the log line
};

WorkerReply Failed(Status status) { return WorkerReply{std::move(status), std::nullopt}; }

std::string Stamp(uint64_t versionstamp) { return kv::FormatVersionstamp(versionstamp); }

struct CatalogState {
  CatalogActor::stateful_pointer<CatalogState> self = nullptr;
  CatalogContext ctx;
  std::map<std::string, StoredWorker> published;  // the record in force each sink was last told of
  std::vector<WorkerChangeSink> sinks;
  // Requests about one sid run one after another: the one running is at the front.
  std::map<std::string, std::deque<std::function<void(Done)>>> queues;

  static inline const char* name = "ami.catalog";

  // ---- the per-sid queue ----

  void Enqueue(const std::string& sid, std::function<void(Done)> task) {
    auto& queue = queues[sid];
    queue.push_back(std::move(task));
    if (queue.size() == 1) RunFront(sid);
  }

  void RunFront(const std::string& sid) {
    auto it = queues.find(sid);
    if (it == queues.end() || it->second.empty()) return;
    auto finished = std::make_shared<bool>(false);
    Done done = [this, sid, finished] {
      if (*finished) return;  // a bug must not release the next request twice
      *finished = true;
      auto q = queues.find(sid);
      if (q == queues.end()) return;
      q->second.pop_front();
      if (q->second.empty()) queues.erase(q);
      else RunFront(sid);
    };
    Guard(done, [&] { it->second.front()(done); });
  }

  // Runs `f`; an exception (a bug: nlohmann throws on misuse) is logged and ends the
  // request instead of the actor.
  template <class F>
  static void Guard(const Done& done, F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      spdlog::error("catalog: internal error: {}", e.what());
      done();
    }
  }

  // ---- store round trips ----

  void Kv(kv::Request request, std::function<void(Result<kv::Reply>)> next) {
    self->request(ctx.store, kStoreTimeout, kv_atom_v, std::move(request))
        .then(
            [next](kv::Reply& reply) {
              if (!reply.status.ok()) return next(Status::Internal("store: " + reply.status.message()));
              next(std::move(reply));
            },
            [next](caf::error& err) { next(Status::Aborted("the store did not answer: " + caf::to_string(err))); });
  }

  void Get(kv::Space space, const std::string& sid, std::function<void(Result<std::optional<kv::Entry>>)> next) {
    kv::Request get;
    get.op = kv::Request::Op::kGet;
    get.space = space;
    get.key = WorkerKey(sid);
    Kv(std::move(get), [next](Result<kv::Reply> reply) {
      if (!reply.ok()) return next(reply.status());
      next(std::move(reply->entry));
    });
  }

  void ReadBoth(const std::string& sid, std::function<void(Result<Both>)> next) {
    Get(kv::Space::kLocal, sid, [this, sid, next](Result<std::optional<kv::Entry>> local) {
      if (!local.ok()) return next(local.status());
      Get(kv::Space::kNetwork, sid, [local = std::move(*local), next](Result<std::optional<kv::Entry>> network) {
        if (!network.ok()) return next(network.status());
        next(Both{local, std::move(*network)});
      });
    });
  }

  void Commit(const StoreStep& step, std::function<void(Result<kv::CommitResult>)> next) {
    kv::Request commit;
    commit.op = kv::Request::Op::kCommit;
    commit.space = step.space;
    commit.checks = step.checks;
    commit.mutations = step.mutations;
    Kv(std::move(commit), [next](Result<kv::Reply> reply) {
      if (!reply.ok()) return next(reply.status());
      next(reply->commit);
    });
  }

  // ---- publishing ----

  // The record in force for `sid` is now `current`: subscribers hear of it if that is news.
  void Observe(const std::string& sid, const std::optional<StoredWorker>& current) {
    auto it = published.find(sid);
    if (!current && it == published.end()) return;
    if (current && it != published.end() && it->second == *current) return;
    if (current) published[sid] = *current;
    else published.erase(it);
    for (const auto& sink : sinks) self->send(sink, worker_changed_atom_v, WorkerChange{sid, current});
  }

  // What is in force for `sid` in `both`; unreadable entries are logged.
  std::optional<StoredWorker> Current(const std::string& sid, const Both& both, std::string* problem = nullptr) {
    std::string why;
    auto current = PickCurrent(sid, both.local, both.network, &why);
    if (!why.empty()) spdlog::warn("catalog: worker {}: ignored: {}", sid, why);
    if (problem) *problem = why;
    return current;
  }

  // ---- requests ----

  // Re-reads `sid` (after a watched key changed) and publishes what is in force.
  void Refresh(const std::string& sid) {
    Enqueue(sid, [this, sid](Done done) {
      ReadBoth(sid, [this, sid, done](Result<Both> both) {
        if (!both.ok()) spdlog::error("catalog: re-reading worker {}: {}", sid, both.status().message());
        else Observe(sid, Current(sid, *both));
        done();
      });
    });
  }

  void GetOne(const std::string& sid, Answer answer) {
    Queue(sid, std::move(answer), [this, sid](End end) {
      ReadBoth(sid, [this, sid, end](Result<Both> both) {
        if (!both.ok()) return end(Failed(both.status()));
        std::string problem;
        auto current = Current(sid, *both, &problem);
        Observe(sid, current);
        if (current) return end(WorkerReply{Status::OK(), std::move(current)});
        if (!problem.empty()) return end(Failed(Status::Internal("worker " + sid + " cannot be read: " + problem)));
        end(Failed(Status::NotFound("worker " + sid + " not found")));
      });
    });
  }

  void ListAll(caf::typed_response_promise<WorkerListing> promise) {
    kv::Request list;
    list.op = kv::Request::Op::kList;
    list.list.prefix = kv::MakeKey({"ami", "worker"});
    kv::Request list_net = list;
    list.space = kv::Space::kLocal;
    list_net.space = kv::Space::kNetwork;
    auto fail = [promise](const Status& s) mutable { promise.deliver(WorkerListing{s, {}}); };
    Kv(list, [this, list_net, promise, fail](Result<kv::Reply> local) mutable {
      if (!local.ok()) return fail(local.status());
      Kv(list_net, [local = std::move(local->entries), promise, fail](Result<kv::Reply> network) mutable {
        if (!network.ok()) return fail(network.status());
        std::map<std::string, Both> by_sid;
        for (auto& e : local)
          if (auto sid = SidOfWorkerKey(e.key)) by_sid[*sid].local = std::move(e);
        for (auto& e : network->entries)
          if (auto sid = SidOfWorkerKey(e.key)) by_sid[*sid].network = std::move(e);
        WorkerListing out{Status::OK(), {}};
        for (const auto& [sid, both] : by_sid) {
          ListedWorker listed{sid, std::nullopt, {}};
          listed.worker = PickCurrent(sid, both.local, both.network, &listed.error);
          if (listed.worker) listed.error.clear();
          out.workers.push_back(std::move(listed));
        }
        promise.deliver(std::move(out));
      });
    });
  }

  // Runs `f`; an exception (a bug: nlohmann throws on misuse) ends the request with
  // Internal instead of ending the actor.
  template <class F>
  static void Safely(const End& end, F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      spdlog::error("catalog: internal error: {}", e.what());
      end(Failed(Status::Internal(std::string("catalog: ") + e.what())));
    }
  }

  // Read, check `expected`, make the next record, check its script, write (moving it
  // between spaces when its scope changed), publish. Retries lost compare-and-sets.
  void RunWrite(std::shared_ptr<const Write> w, int attempts, End end) {
    ReadBoth(w->sid, [this, w, attempts, end](Result<Both> both) {
      if (!both.ok()) return end(Failed(both.status()));
      Safely(end, [&] {
        // What was read is published only when nothing is written: a record about to
        // change again (a budget stop after an edit) must not start a worker meanwhile.
        auto current = Current(w->sid, *both);
        auto unchanged = [&](WorkerReply reply) {
          Observe(w->sid, current);
          end(std::move(reply));
        };
        if (Status s = CheckExpected(*w, current); !s.ok()) return unchanged(Failed(s));
        auto next = w->make(current);
        if (!next.ok()) return unchanged(Failed(next.status()));
        if (!*next) return unchanged(WorkerReply{Status::OK(), current});  // nothing to change
        WorkerRecord record = std::move(**next);
        if (!current || current->record.script != record.script) {
          if (Status s = ctx.check_script(record.script); !s.ok()) return unchanged(Failed(s));
        }
        std::vector<StoreStep> steps = MoveSteps(current, record);
        // The target space may hold an entry that is not in force — a copy the local one
        // shadows, or one that cannot be read: any write but a create replaces it.
        const auto& shadowed = both->In(steps.front().space);
        if (shadowed && (!current || current->space != steps.front().space) && w->expected != uint64_t{0})
          steps.front().checks.front().versionstamp = shadowed->versionstamp;
        RunSteps(w, attempts, std::move(steps), std::move(record), end);
      });
    });
  }

  static Status CheckExpected(const Write& w, const std::optional<StoredWorker>& current) {
    if (!w.expected) return Status::OK();
    if (*w.expected == 0) return current ? Status::Conflict("worker " + w.sid + " already exists") : Status::OK();
    if (!current) return Status::NotFound("worker " + w.sid + " not found");
    if (current->versionstamp != *w.expected)
      return Status::Conflict("worker " + w.sid + " is at versionstamp " + Stamp(current->versionstamp) + ", not " +
                              Stamp(*w.expected) + "; nothing changed");
    return Status::OK();
  }

  void RunSteps(std::shared_ptr<const Write> w, int attempts, std::vector<StoreStep> steps, WorkerRecord record,
                End end) {
    const StoreStep first = steps.front();
    Commit(first, [=, this](Result<kv::CommitResult> made) {
      if (!made.ok()) return end(Failed(made.status()));
      if (!made->ok) return Retry(w, attempts, end);
      auto finish = [=, this] {
        spdlog::info("catalog: {} worker {}", w->what, w->sid);
        StoredWorker stored{record, made->versionstamp, first.space};
        Observe(w->sid, stored);
        end(WorkerReply{Status::OK(), std::move(stored)});
      };
      if (steps.size() == 1) return finish();
      // A scope move: the old entry goes only if it is still the one read; if not, the
      // new copy is taken back and the whole write starts again.
      Commit(steps[1], [=, this](Result<kv::CommitResult> removed) {
        if (removed.ok() && removed->ok) return finish();
        StoreStep undo{first.space, {kv::Check{WorkerKey(w->sid), made->versionstamp}},
                       {kv::Mutation{kv::Mutation::Kind::kDelete, WorkerKey(w->sid), {}, std::nullopt}}};
        Commit(undo, [=, this](Result<kv::CommitResult> undone) {
          if (!removed.ok()) return end(Failed(removed.status()));
          if (!undone.ok()) return end(Failed(undone.status()));
          Retry(w, attempts, end);
        });
      });
    });
  }

  // Another writer came between the read and the write.
  void Retry(std::shared_ptr<const Write> w, int attempts, End end) {
    if (w->expected && *w->expected == 0) return end(Failed(Status::Conflict("worker " + w->sid + " already exists")));
    if (w->expected)
      return end(Failed(Status::Conflict("worker " + w->sid + " changed after versionstamp " + Stamp(*w->expected) +
                                         "; nothing changed")));
    if (attempts > 1) return RunWrite(w, attempts - 1, end);
    end(Failed(Status::Conflict("worker " + w->sid +
                                " kept changing while it was being written; nothing changed, try again")));
  }

  // Queues `task` on `sid`; what it ends with goes to `answer`.
  void Queue(const std::string& sid, Answer answer, std::function<void(End)> task) {
    Enqueue(sid, [answer, task](Done done) {
      End end = [answer, done](WorkerReply reply) {
        answer(std::move(reply));
        done();
      };
      Safely(end, [&] { task(end); });
    });
  }

  void Submit(std::shared_ptr<const Write> w, Answer answer) {
    Queue(w->sid, std::move(answer), [this, w](End end) { RunWrite(w, kWriteAttempts, end); });
  }

  // Removes the sid from both spaces: the entry in force with a compare-and-set, then a
  // copy in the other space (shadowed, so never in force).
  void RunDelete(WorkerDelete d, int attempts, End end) {
    ReadBoth(d.sid, [this, d, attempts, end](Result<Both> both) {
      if (!both.ok()) return end(Failed(both.status()));
      auto current = Current(d.sid, *both);
      if (!both->local && !both->network) {
        Observe(d.sid, std::nullopt);
        return end(Failed(Status::NotFound("worker " + d.sid + " not found")));
      }
      const kv::Space first = current ? current->space : (both->local ? kv::Space::kLocal : kv::Space::kNetwork);
      const uint64_t read = both->In(first)->versionstamp;
      if (d.expected && *d.expected != read)
        return end(Failed(Status::Conflict("worker " + d.sid + " is at versionstamp " + Stamp(read) + ", not " +
                                           Stamp(*d.expected) + "; nothing changed")));
      const kv::Key key = WorkerKey(d.sid);
      const kv::Mutation del{kv::Mutation::Kind::kDelete, key, {}, std::nullopt};
      const kv::Space other = first == kv::Space::kLocal ? kv::Space::kNetwork : kv::Space::kLocal;
      const bool has_other = both->In(other).has_value();
      Commit(StoreStep{first, {kv::Check{key, read}}, {del}}, [=, this](Result<kv::CommitResult> removed) {
        if (!removed.ok()) return end(Failed(removed.status()));
        if (!removed->ok) {
          if (d.expected || attempts <= 1)
            return end(Failed(Status::Conflict("worker " + d.sid + " changed while it was being deleted; nothing changed")));
          return RunDelete(d, attempts - 1, end);
        }
        auto finish = [=, this] {
          spdlog::info("catalog: deleted worker {}", d.sid);
          Observe(d.sid, std::nullopt);
          end(WorkerReply{Status::OK(), std::nullopt});
        };
        if (!has_other) return finish();
        Commit(StoreStep{other, {}, {del}}, [=](Result<kv::CommitResult> also) {
          if (!also.ok()) return end(Failed(also.status()));
          finish();
        });
      });
    });
  }

  // ---- the writes each request stands for ----

  static std::shared_ptr<Write> Put(WorkerPut put) {
    auto w = std::make_shared<Write>();
    w->sid = put.record.sid;
    w->expected = put.expected;
    w->what = put.what;
    w->make = [record = std::move(put.record)](const std::optional<StoredWorker>&) -> Result<std::optional<WorkerRecord>> {
      if (Status s = ValidateRecord(record); !s.ok()) return s;
      return std::optional<WorkerRecord>(record);
    };
    return w;
  }

  static std::shared_ptr<Write> Edit(const std::string& sid, WorkerEdit edit) {
    auto w = std::make_shared<Write>();
    w->sid = sid;
    w->expected = edit.expected;
    w->what = edit.what;
    w->make = [sid, edit = std::move(edit)](const std::optional<StoredWorker>& current)
        -> Result<std::optional<WorkerRecord>> {
      if (!current) return Status::NotFound("worker " + sid + " not found");
      auto merged = ApplyEdit(current->record, edit);
      if (!merged.ok()) return merged.status();
      if (edit.only_if_changed && SameIgnoringTimestamp(*merged, current->record)) return std::optional<WorkerRecord>();
      merged->timestamp = WallMillis();
      return std::optional<WorkerRecord>(std::move(*merged));
    };
    return w;
  }

  // The node's budget stop: whatever is in force now, inactive.
  static std::shared_ptr<Write> Deactivate(const std::string& sid, const std::string& reason) {
    auto w = std::make_shared<Write>();
    w->sid = sid;
    w->what = "deactivated (" + reason.substr(0, 200) + ")";
    w->make = [](const std::optional<StoredWorker>& current) -> Result<std::optional<WorkerRecord>> {
      if (!current || !current->record.active) return std::optional<WorkerRecord>();  // gone, or already stopped
      WorkerRecord record = current->record;
      record.active = false;
      record.timestamp = WallMillis();
      return std::optional<WorkerRecord>(std::move(record));
    };
    return w;
  }

  // A record made before it is queued: its sid is known only then.
  static std::shared_ptr<Write> Create(WorkerRecord record, const std::string& what) {
    auto w = std::make_shared<Write>();
    w->sid = record.sid;
    w->expected = 0;
    w->what = what;
    w->make = [record = std::move(record)](const std::optional<StoredWorker>&) -> Result<std::optional<WorkerRecord>> {
      return std::optional<WorkerRecord>(record);
    };
    return w;
  }

  caf::typed_response_promise<WorkerReply> Promise() { return self->make_response_promise<WorkerReply>(); }

  static Answer Deliver(caf::typed_response_promise<WorkerReply> promise) {
    return [promise](WorkerReply reply) mutable { promise.deliver(std::move(reply)); };
  }
};

CatalogActor::behavior_type CatalogBehavior(CatalogActor::stateful_pointer<CatalogState> self, CatalogContext ctx) {
  CatalogState& st = self->state;
  st.self = self;
  st.ctx = std::move(ctx);
  for (auto& w : st.ctx.initial) {
    const std::string sid = w.record.sid;
    st.published[sid] = std::move(w);
  }
  st.ctx.initial.clear();
  const auto prefix = kv::MakeKey({"ami", "worker"});
  for (kv::Space space : {kv::Space::kLocal, kv::Space::kNetwork})
    self->send(st.ctx.store, watch_atom_v, space, prefix, caf::actor_cast<KvWatcher>(self));
  self->set_down_handler([self](caf::down_msg& down) {
    auto& sinks = self->state.sinks;
    sinks.erase(std::remove_if(sinks.begin(), sinks.end(), [&](const auto& s) { return s.address() == down.source; }),
                sinks.end());
  });
  return {
      [self](cat_get_atom, const std::string& sid) -> caf::result<WorkerReply> {
        auto promise = self->state.Promise();
        self->state.GetOne(sid, CatalogState::Deliver(promise));
        return promise;
      },
      [self](cat_list_atom) -> caf::result<WorkerListing> {
        auto promise = self->make_response_promise<WorkerListing>();
        self->state.ListAll(promise);
        return promise;
      },
      [self](cat_create_atom, NewWorker& request) -> caf::result<WorkerReply> {
        CatalogState& st = self->state;
        auto record = MakeNewRecord(request, st.ctx.templates, st.ctx.node_id, WallMillis());
        if (!record.ok()) return Failed(record.status());
        auto promise = st.Promise();
        st.Submit(CatalogState::Create(std::move(*record), request.what), CatalogState::Deliver(promise));
        return promise;
      },
      [self](cat_put_atom, WorkerPut& put) -> caf::result<WorkerReply> {
        auto promise = self->state.Promise();
        self->state.Submit(CatalogState::Put(std::move(put)), CatalogState::Deliver(promise));
        return promise;
      },
      [self](cat_update_atom, const std::string& sid, WorkerEdit& edit) -> caf::result<WorkerReply> {
        auto promise = self->state.Promise();
        self->state.Submit(CatalogState::Edit(sid, std::move(edit)), CatalogState::Deliver(promise));
        return promise;
      },
      [self](cat_deactivate_atom, const std::string& sid, const std::string& reason) -> caf::result<WorkerReply> {
        auto promise = self->state.Promise();
        self->state.Submit(CatalogState::Deactivate(sid, reason), CatalogState::Deliver(promise));
        return promise;
      },
      [self](cat_delete_atom, WorkerDelete& request) -> caf::result<WorkerReply> {
        auto promise = self->state.Promise();
        const std::string sid = request.sid;
        self->state.Queue(sid, CatalogState::Deliver(promise),
                          [self, request](End end) { self->state.RunDelete(request, kWriteAttempts, end); });
        return promise;
      },
      [self](cat_subscribe_atom, WorkerChangeSink sink) {
        self->monitor(sink);
        for (const auto& [sid, stored] : self->state.published)
          self->send(sink, worker_changed_atom_v, WorkerChange{sid, stored});
        self->state.sinks.push_back(std::move(sink));
      },
      [self](changed_atom, const KvChange& change) {
        if (auto sid = SidOfWorkerKey(change.key)) self->state.Refresh(*sid);  // ["ami","worker",<sid>]
      },
  };
}

}  // namespace

CatalogActor SpawnCatalog(caf::actor_system& system, CatalogContext context) {
  return system.spawn<caf::detached>(CatalogBehavior, std::move(context));
}

}  // namespace ami
