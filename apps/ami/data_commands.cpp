// The catalog and data commands: templates, templates show, plugins, kv get|set|list|delete,
// backup.
#include <filesystem>

#include "apps/ami/command_support.h"

namespace ami::shell::cmd {

Status Templates(Ctx& c, Invocation&) {
  auto list = Call(c, "templates.list");
  if (!list.ok()) return list.status();
  if (c.opt.json) {
    PrintJson(c, *list);
    return Status::OK();
  }
  if (list->empty()) {
    c.out << "No templates: the node found no template pack in its plugins.dirs.\n";
    return Status::OK();
  }
  Table table({"ID", "NAME", "CATEGORY", "EXECUTION", "PRIORITY", "MODE", "SCOPE", "PACK"});
  for (const auto& t : *list)
    table.AddRow({{Str(t, "id"), Color::kCyan},
                  Str(t, "name"),
                  Str(t, "category"),
                  TemplateDefault(t, "executionMode"),
                  TemplateDefault(t, "priority"),
                  TemplateDefault(t, "mode"),
                  TemplateDefault(t, "scope"),
                  Str(t, "pack")});
  table.Print(c.out, c.style);
  return Status::OK();
}

Status TemplateShow(Ctx& c, Invocation& inv) {
  auto t = Call(c, "templates.get", {{"id", inv.Arg(0)}});
  if (!t.ok()) return t.status();
  if (inv.Has("--script")) {
    c.out << Str(*t, "script");
    return Status::OK();
  }
  if (c.opt.json) {
    PrintJson(c, *t);
    return Status::OK();
  }
  c.out << c.style(Color::kBold, "Template " + Str(*t, "id") + " — " + Str(*t, "name")) << "\n";
  Card card;
  card.Add("Description", Str(*t, "description"));
  card.Add("Category", Str(*t, "category"));
  card.Add("Execution", DescribeExecution(TemplateDefault(*t, "executionMode"),
                                          TemplateDefault(*t, "assignedNode", "")));
  card.Add("Priority", DescribePriority(TemplateDefault(*t, "priority")));
  card.Add("Mode", DescribeMode(TemplateDefault(*t, "mode")));
  card.Add("Scope", TemplateDefault(*t, "scope"));
  card.Add("Pack", Str(*t, "pack", "-"));
  card.Add("Version", Str(*t, "version", "-"));
  card.Print(c.out, c.style);
  const std::string script = Str(*t, "script");
  c.out << "\n"
        << c.style(Color::kBold, "Script") << c.style(Color::kDim, " (" + FormatCount(script.size()) + " bytes)")
        << "\n"
        << script << (script.empty() || script.back() == '\n' ? "" : "\n");
  return Status::OK();
}

Status Plugins(Ctx& c, Invocation&) {
  auto p = Call(c, "plugins.list");
  if (!p.ok()) return p.status();
  if (c.opt.json) {
    PrintJson(c, *p);
    return Status::OK();
  }
  if (!p->is_object()) {
    PrintGeneric(c.out, c.style, *p);
    return Status::OK();
  }
  const json none = json::array();
  const json& plugins = p->contains("plugins") ? (*p)["plugins"] : none;
  const json& exchanges = p->contains("exchanges") ? (*p)["exchanges"] : none;
  const json& accounts = p->contains("accounts") ? (*p)["accounts"] : none;
  c.out << c.style(Color::kBold, "Plugins") << "\n";
  if (plugins.empty()) {
    c.out << "  (none: check plugins.dirs in the node's config)\n";
  } else {
    Table t({"ID", "KIND", "VERSION", "DESCRIPTION", "PATH"});
    for (const auto& x : plugins)
      t.AddRow({{Str(x, "id"), Color::kCyan},
                Str(x, "kind"),
                Str(x, "version"),
                Str(x, "description"),
                {Str(x, "path"), Color::kDim}});
    t.Print(c.out, c.style);
  }
  c.out << "\n" << c.style(Color::kBold, "Exchanges") << " (Stels.runtime.cex.<id>)\n";
  if (exchanges.empty()) {
    c.out << "  (none configured)\n";
  } else {
    Table t({"ID", "CONNECTOR", "AVAILABLE"});
    for (const auto& x : exchanges) {
      const bool ok = Bool(x, "available", true);
      t.AddRow({{Str(x, "id"), Color::kCyan},
                Str(x, "connector"),
                {ok ? "yes" : "no: " + Str(x, "unavailable", "unavailable"), ok ? Color::kGreen : Color::kRed}});
    }
    t.Print(c.out, c.style);
  }
  c.out << "\n" << c.style(Color::kBold, "Accounts") << " (a worker's accountId)\n";
  if (accounts.empty()) {
    c.out << "  (none configured)\n";
  } else {
    Table t({"ID", "EXCHANGE"});
    for (const auto& x : accounts) t.AddRow({{Str(x, "id"), Color::kCyan}, Str(x, "exchange")});
    t.Print(c.out, c.style);
  }
  return Status::OK();
}

Status CheckKvKey(Ctx&, Invocation& inv) {
  auto key = ParseKey(inv.Arg(1), false);
  if (!key.ok()) return key.status();
  inv.prepared["key"] = *key;
  return Status::OK();
}

Status CheckKvSet(Ctx& c, Invocation& inv) {
  Status st = CheckKvKey(c, inv);
  if (!st.ok()) return st;
  if (inv.Has("--string")) {
    inv.prepared["value"] = inv.Arg(2);
  } else {
    auto value = json::parse(inv.Arg(2), nullptr, false);
    if (value.is_discarded())
      return Usage("VALUE: not valid JSON: quote a string as '\"text\"' or give --string to store the text as is");
    inv.prepared["value"] = value;
  }
  if (inv.Has("--expire-in")) inv.prepared["expireIn"] = *ParseDurationMs(inv.Flag("--expire-in"));
  return Status::OK();
}

Status CheckKvList(Ctx&, Invocation& inv) {
  auto prefix = ParseKey(inv.Arg(1), true);
  if (!prefix.ok()) return prefix.status();
  inv.prepared["prefix"] = *prefix;
  return Status::OK();
}

Status KvGet(Ctx& c, Invocation& inv) {
  auto e = Call(c, "kv.get", {{"space", inv.Arg(0)}, {"key", inv.prepared["key"]}});
  if (!e.ok()) return e.status();
  if (c.opt.json) {
    PrintJson(c, *e);
    return Status::OK();
  }
  c.out << c.style(Color::kDim, KeyText(e->contains("key") ? (*e)["key"] : inv.prepared["key"]) + "  versionstamp " +
                                    Str(*e, "versionstamp", "-"))
        << "\n";
  c.out << e->value("value", json()).dump(2) << "\n";
  return Status::OK();
}

Status KvSet(Ctx& c, Invocation& inv) {
  json args = {{"space", inv.Arg(0)}, {"key", inv.prepared["key"]}, {"value", inv.prepared["value"]}};
  if (inv.prepared.contains("expireIn")) args["expireIn"] = inv.prepared["expireIn"];
  auto r = Call(c, "kv.set", args);
  if (!r.ok()) return r.status();
  if (c.opt.json)
    PrintJson(c, *r);
  else
    c.out << "Set " << KeyText(inv.prepared["key"]) << " in " << inv.Arg(0) << " (versionstamp "
          << Str(*r, "versionstamp", "-") << ")\n";
  return Status::OK();
}

Status KvList(Ctx& c, Invocation& inv) {
  json args = {{"space", inv.Arg(0)}, {"prefix", inv.prepared["prefix"]}};
  if (inv.Has("--limit")) args["limit"] = std::stoi(inv.Flag("--limit"));
  auto r = Call(c, "kv.list", args);
  if (!r.ok()) return r.status();
  if (c.opt.json) {
    PrintJson(c, *r);
    return Status::OK();
  }
  if (r->empty()) {
    c.out << "No entries under " << KeyText(inv.prepared["prefix"]) << " in " << inv.Arg(0) << ".\n";
    return Status::OK();
  }
  Table table({"KEY", "VERSIONSTAMP", "VALUE"});
  table.SetMaxWidth(2, 70);
  for (const auto& e : *r)
    table.AddRow({{KeyText(e.value("key", json())), Color::kCyan},
                  {Str(e, "versionstamp", "-"), Color::kDim},
                  e.value("value", json()).dump()});
  table.Print(c.out, c.style);
  // The node stops at the limit (100 unless --limit): say so rather than look complete.
  const size_t limit = inv.Has("--limit") ? std::stoul(inv.Flag("--limit")) : 100;
  c.out << c.style(Color::kDim, std::to_string(r->size()) + " entr" + (r->size() == 1 ? "y" : "ies") +
                                    (r->size() >= limit ? " (the limit; --limit N shows more)" : ""))
        << "\n";
  return Status::OK();
}

Status KvDelete(Ctx& c, Invocation& inv) {
  auto r = Call(c, "kv.delete", {{"space", inv.Arg(0)}, {"key", inv.prepared["key"]}});
  if (!r.ok()) return r.status();
  if (c.opt.json)
    PrintJson(c, *r);
  else
    c.out << "Deleted " << KeyText(inv.prepared["key"]) << " from " << inv.Arg(0) << "\n";
  return Status::OK();
}

Status Backup(Ctx& c, Invocation& inv) {
  std::error_code ec;
  const auto file = std::filesystem::absolute(inv.Arg(0), ec).lexically_normal();
  if (ec) return Usage("FILE: cannot make \"" + inv.Arg(0) + "\" absolute: " + ec.message());
  // A large store takes a while to copy; the node's own deadline for it is 30 minutes.
  auto r = Call(c, "node.backup", {{"path", file.string()}}, std::chrono::minutes(31));
  if (!r.ok()) return r.status();
  if (c.opt.json) {
    PrintJson(c, *r);
    return Status::OK();
  }
  c.out << "Backup written to " << Str(*r, "path", file.string()) << " (" << FormatCount(Int(*r, "bytes"))
        << " bytes in " << FormatDuration(Int(*r, "millis")) << ")\n";
  return Status::OK();
}

}  // namespace ami::shell::cmd
