// templates.* (docs/admin-api.md, "Templates"): the templates of the loaded packs, and a
// new worker made from one (stored through the worker catalog, like workers.create).
#include "actors/admin/admin.h"
#include "runtime/model/worker_fields.h"

namespace ami::admin {

namespace {

void TemplatesList(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {}, "", "templates.list"); !s.ok()) return done(s);
  json out = json::array();
  for (const auto& t : admin.ctx.templates) {
    out.push_back({{"id", t.id},
                   {"name", t.name},
                   {"description", t.description},
                   {"category", t.category},
                   {"icon", t.icon},
                   {"executionMode", ToString(t.execution_mode)},
                   {"priority", ToString(t.priority)},
                   {"mode", ToString(t.mode)},
                   {"scope", ToString(t.scope)},
                   {"assignedNode", t.assigned_node ? json(*t.assigned_node) : json(nullptr)},
                   {"dependencies", t.dependencies},
                   {"version", t.version},
                   {"pack", t.pack}});
  }
  done(std::move(out));
}

void TemplatesGet(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {"id"}, "", "templates.get"); !s.ok()) return done(s);
  auto id = RequiredString(args, "id");
  if (!id.ok()) return done(id.status());
  const WorkerTemplate* t = FindTemplate(admin.ctx.templates, *id);
  if (!t) return done(UnknownTemplate(*id, admin.ctx.templates));
  done(TemplateToJson(*t, true));
}

void TemplatesCreate(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {"template", "overrides"}, "", "templates.create"); !s.ok()) return done(s);
  auto id = RequiredString(args, "template");
  if (!id.ok()) return done(id.status());
  json body = json::object();
  if (const json* o = Arg(args, "overrides")) {
    if (!o->is_object()) return done(Invalid("overrides", std::string("expected an object, got ") + o->type_name()));
    body = *o;
  }
  if (Status s = OnlyKnown(body, JsonFieldNames(FieldUse::kOverride), "overrides.", "templates.create"); !s.ok())
    return done(s);
  auto overrides = OverridesFromJson(body);
  if (!overrides.ok()) return done(Status::InvalidArgument("overrides." + overrides.status().message()));
  // Checked here too (the catalog would say the same) so that the answer lists the
  // templates this service offers.
  const WorkerTemplate* t = FindTemplate(admin.ctx.templates, *id);
  if (!t) return done(UnknownTemplate(*id, admin.ctx.templates));
  NewWorker request;
  request.template_id = t->id;
  request.fields = std::move(*overrides);
  request.what = "created from template " + t->id + ":";
  CreateWorker(admin, std::move(request), std::move(done));
}

}  // namespace

Ops TemplateOps() {
  return {{"templates.list", TemplatesList}, {"templates.get", TemplatesGet}, {"templates.create", TemplatesCreate}};
}

}  // namespace ami::admin
