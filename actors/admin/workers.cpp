// workers.* (docs/admin-api.md, "Workers"): the admin side checks the request's
// arguments and builds the `Worker` replies; every read and write of a record is a
// worker catalog request (actors/catalog_actor.h), which serializes the writes to one
// record, merges, validates, checks the script and compare-and-sets in the store.
#include <spdlog/spdlog.h>

#include <memory>

#include "actors/admin/admin.h"
#include "runtime/base/clock.h"
#include "runtime/stats/worker_stats.h"
#include "runtime/model/worker_fields.h"
#include "runtime/store/kv_key.h"

namespace ami::admin {

json Admin::WorkerJson(const StoredWorker& worker) const {
  const WorkerRecord& r = worker.record;
  bool running = false;
  std::string status = r.active ? "starting" : "stopped";
  if (auto s = ctx.env->services.stats->Get(r.sid)) {
    running = s->is_running;
    status = s->status;
  }
  return {{"sid", r.sid},
          {"versionstamp", kv::FormatVersionstamp(worker.versionstamp)},
          {"source", kv::ToString(worker.space)},
          {"running", running},
          {"status", status},
          {"record", RecordToJson(r)}};
}

void CreateWorker(Admin& admin, NewWorker request, Done done) {
  admin.AskCatalog(
      done,
      [&admin, done](const StoredWorker* worker) {
        if (!worker) return done(Status::Internal("the worker catalog created a worker but answered no record"));
        done(admin.WorkerJson(*worker));
      },
      cat_create_atom_v, std::move(request));
}

namespace {

// An edit of the record in force; the reply is the record as it is afterwards.
void Edit(Admin& admin, const std::string& sid, WorkerEdit edit, Done done) {
  admin.AskCatalog(
      done,
      [&admin, sid, done](const StoredWorker* worker) {
        if (!worker) return done(Status::NotFound("worker " + sid + " not found"));
        done(admin.WorkerJson(*worker));
      },
      cat_update_atom_v, sid, std::move(edit));
}

WorkerEdit SetActive(bool active, std::string what) {
  WorkerEdit edit;
  edit.changes = json{{"active", active}};
  edit.only_if_changed = true;  // already so: nothing written, the current record answered
  edit.what = std::move(what);
  return edit;
}

void WorkersList(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {}, "", "workers.list"); !s.ok()) return done(s);
  admin.self->request(admin.ctx.catalog, kCatalogTimeout, cat_list_atom_v)
      .then(
          [&admin, done](WorkerListing& listing) {
            if (!listing.status.ok()) return done(listing.status);
            Guard(done, [&] {
              json out = json::array();
              for (const auto& l : listing.workers) {
                if (l.worker) {
                  out.push_back(admin.WorkerJson(*l.worker));
                  continue;
                }
                // The catalog names an unreadable sid without its entry: no versionstamp
                // or space to show.
                out.push_back({{"sid", l.sid},
                               {"versionstamp", nullptr},
                               {"source", nullptr},
                               {"running", false},
                               {"status", "invalid"},
                               {"error", l.error},
                               {"record", nullptr}});
              }
              done(std::move(out));
            });
          },
          [done](caf::error& err) { done(Unanswered("the worker catalog", err, kCatalogTimeout)); });
}

void WorkersGet(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {"sid"}, "", "workers.get"); !s.ok()) return done(s);
  auto sid = RequiredSid(args);
  if (!sid.ok()) return done(sid.status());
  admin.GetWorker(*sid, done, [&admin, done](const StoredWorker& worker) { done(admin.WorkerJson(worker)); });
}

// Create arguments / template overrides (types checked by OverridesFromJson) as a
// record's fields; `prefix` names the object in messages.
Result<TemplateOverrides> ParseOverrides(const json& body, const std::string& prefix) {
  auto o = OverridesFromJson(body);
  if (!o.ok()) return Status::InvalidArgument(prefix + o.status().message());
  return o;
}

void WorkersCreate(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, JsonFieldNames(FieldUse::kCreate), "", "workers.create"); !s.ok()) return done(s);
  auto fields = ParseOverrides(args, "");
  if (!fields.ok()) return done(fields.status());
  NewWorker request;
  request.fields = std::move(*fields);
  request.what = "created";
  CreateWorker(admin, std::move(request), std::move(done));
}

// The most records one workers.createBatch may carry (the request is also bounded by the
// admin request size, 1 MiB).
constexpr size_t kMaxBatchRecords = 5000;

// workers.createBatch {workers: [create arguments…]}: each record is checked and created
// or refused on its own — all-or-nothing per record, not per batch — and the reply lists
// every outcome in request order. The writes go to the catalog side by side (it runs
// writes to different sids concurrently, each checked and compare-and-set as in
// workers.create), so the store commits those that arrive together in one transaction.
void WorkersCreateBatch(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {"workers"}, "", "workers.createBatch"); !s.ok()) return done(s);
  const json* list = Arg(args, "workers");
  if (!list) return done(Invalid("workers", "required (an array of workers.create arguments)"));
  if (!list->is_array()) return done(Invalid("workers", std::string("expected an array, got ") + list->type_name()));
  if (list->size() > kMaxBatchRecords)
    return done(Invalid("workers", std::to_string(list->size()) + " records; at most " +
                                       std::to_string(kMaxBatchRecords) + " per request"));
  struct Gather {
    json results = json::array();
    size_t pending = 0;
    size_t created = 0;
  };
  auto g = std::make_shared<Gather>();
  auto finish = [done](const Gather& gather) {
    done(json{{"created", gather.created},
              {"failed", gather.results.size() - gather.created},
              {"results", gather.results}});
  };
  auto failure = [](const Status& s) {
    return json{{"ok", false}, {"error", {{"code", ErrorCode(s)}, {"message", s.message()}}}};
  };
  std::vector<std::pair<size_t, NewWorker>> requests;
  for (size_t i = 0; i < list->size(); ++i) {
    const json& one = (*list)[i];
    const std::string prefix = "workers[" + std::to_string(i) + "].";
    g->results.push_back(nullptr);
    if (!one.is_object()) {
      g->results[i] = failure(Invalid(prefix.substr(0, prefix.size() - 1), std::string("expected an object, got ") +
                                                                                one.type_name()));
      continue;
    }
    if (Status s = OnlyKnown(one, JsonFieldNames(FieldUse::kCreate), prefix, "workers.createBatch"); !s.ok()) {
      g->results[i] = failure(s);
      continue;
    }
    auto fields = ParseOverrides(one, prefix);
    if (!fields.ok()) {
      g->results[i] = failure(fields.status());
      continue;
    }
    NewWorker request;
    request.fields = std::move(*fields);
    request.what = "created (batch)";
    requests.emplace_back(i, std::move(request));
  }
  g->pending = requests.size();
  if (g->pending == 0) return finish(*g);
  for (auto& [i, request] : requests) {
    Done one = ResultOnce([g, i = i, finish, failure](Result<json> r) {
      if (r.ok()) {
        g->results[i] = std::move(*r);
        ++g->created;
      } else {
        g->results[i] = failure(r.status());
      }
      if (--g->pending == 0) finish(*g);
    });
    admin.AskCatalog(
        one,
        [one](const StoredWorker* worker) {
          if (!worker) return one(Status::Internal("the worker catalog created a worker but answered no record"));
          one(json{{"ok", true},
                   {"sid", worker->record.sid},
                   {"versionstamp", kv::FormatVersionstamp(worker->versionstamp)}});
        },
        cat_create_atom_v, std::move(request));
  }
}

void WorkersUpdate(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {"sid", "versionstamp", "changes"}, "", "workers.update"); !s.ok()) return done(s);
  auto sid = RequiredSid(args);
  if (!sid.ok()) return done(sid.status());
  auto expected = OptionalVersionstamp(args);
  if (!expected.ok()) return done(expected.status());
  const json* changes = Arg(args, "changes");
  if (!changes) return done(Invalid("changes", "required (an object with the fields to change)"));
  if (!changes->is_object())
    return done(Invalid("changes", std::string("expected an object, got ") + changes->type_name()));
  if (Status s = OnlyKnown(*changes, JsonFieldNames(FieldUse::kChange), "changes.", "workers.update"); !s.ok())
    return done(s);
  WorkerEdit edit;
  edit.expected = *expected;
  edit.changes = *changes;
  std::string fields;
  for (const auto& [key, value] : changes->items()) fields += (fields.empty() ? "" : ", ") + key;
  edit.what = "updated (" + fields + ")";
  Edit(admin, *sid, std::move(edit), std::move(done));
}

void StartOrStop(Admin& admin, const json& args, bool active, Done done) {
  const std::string op = active ? "workers.start" : "workers.stop";
  if (Status s = OnlyKnown(args, {"sid"}, "", op); !s.ok()) return done(s);
  auto sid = RequiredSid(args);
  if (!sid.ok()) return done(sid.status());
  Edit(admin, *sid, SetActive(active, active ? "started" : "stopped"), std::move(done));
}
void WorkersStart(Admin& admin, const json& args, Done done) { StartOrStop(admin, args, true, std::move(done)); }
void WorkersStop(Admin& admin, const json& args, Done done) { StartOrStop(admin, args, false, std::move(done)); }

void WorkersDelete(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {"sid", "versionstamp"}, "", "workers.delete"); !s.ok()) return done(s);
  auto sid = RequiredSid(args);
  if (!sid.ok()) return done(sid.status());
  auto expected = OptionalVersionstamp(args);
  if (!expected.ok()) return done(expected.status());
  admin.AskCatalog(
      done, [sid = *sid, done](const StoredWorker*) { done(json{{"sid", sid}, {"deleted", true}}); },
      cat_delete_atom_v, WorkerDelete{*sid, *expected});
}

// compat stopAllWorkers: every listed record made inactive, one catalog edit each.
void WorkersStopAll(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {}, "", "workers.stopAll"); !s.ok()) return done(s);
  struct Gather {
    json workers = json::array();
    json errors = json::array();
    size_t pending = 0;
  };
  auto finish = [done](const Gather& g) {
    size_t total = g.workers.size(), stopped = 0;
    for (const auto& w : g.workers) {
      const auto& status = w["status"].get_ref<const std::string&>();
      if (status == "stopped" || status == "already_stopped") ++stopped;
    }
    const size_t failed = total - stopped;
    std::string message = total == 0    ? "No workers found"
                          : failed == 0 ? "All workers stopped"
                                        : "Stopped " + std::to_string(stopped) + " of " + std::to_string(total) + " workers";
    spdlog::info("admin: stopAll: {}", message);
    done(json{{"message", message}, {"total", total}, {"stopped", stopped}, {"failed", failed},
              {"errors", g.errors}, {"workers", g.workers}});
  };
  admin.self->request(admin.ctx.catalog, kCatalogTimeout, cat_list_atom_v)
      .then(
          [&admin, done, finish](WorkerListing& listing) {
            if (!listing.status.ok()) return done(listing.status);
            Guard(done, [&] {
              auto g = std::make_shared<Gather>();
              for (const auto& l : listing.workers) {
                std::string status = "already_stopped";
                if (!l.worker) {
                  status = "error";
                  g->errors.push_back({{"sid", l.sid}, {"error", l.error}});
                } else if (l.worker->record.active) {
                  status = "pending";
                  ++g->pending;
                }
                g->workers.push_back({{"sid", l.sid}, {"status", status}});
              }
              if (g->pending == 0) return finish(*g);
              for (size_t i = 0; i < g->workers.size(); ++i) {
                if (g->workers[i]["status"] != "pending") continue;
                const std::string sid = g->workers[i]["sid"];
                Done one = ResultOnce([g, i, finish](Result<json> r) {
                  g->workers[i]["status"] = r.ok() ? "stopped" : "failed";
                  if (!r.ok()) g->errors.push_back({{"sid", g->workers[i]["sid"]}, {"error", r.status().message()}});
                  if (--g->pending == 0) finish(*g);
                });
                Edit(admin, sid, SetActive(false, "stopped (stopAll)"), one);
              }
            });
          },
          [done](caf::error& err) { done(Unanswered("the worker catalog", err, kCatalogTimeout)); });
}

}  // namespace

Ops WorkerOps() {
  return {{"workers.list", WorkersList},   {"workers.get", WorkersGet},         {"workers.create", WorkersCreate},
          {"workers.createBatch", WorkersCreateBatch},
          {"workers.update", WorkersUpdate}, {"workers.delete", WorkersDelete}, {"workers.start", WorkersStart},
          {"workers.stop", WorkersStop},   {"workers.stopAll", WorkersStopAll}};
}

}  // namespace ami::admin
