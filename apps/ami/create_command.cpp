// `create`: from a template (`create TEMPLATE` or `--template TEMPLATE`) or from scratch,
// one-shot from flags or, in the interactive shell, through the dialogue. Split from
// worker_commands.cpp to keep both files short.
#include <algorithm>
#include <string>
#include <vector>

#include "apps/ami/command_support.h"

namespace ami::shell::cmd {

namespace {

struct CreatePlan {
  std::string template_id;
  json tmpl;                     // templates.get result, or null
  json fields = json::object();  // what the operator chose (sent as overrides / create args)
};

void PrintCreateSummary(Ctx& c, const CreatePlan& plan) {
  // The operator's choice, else the template's, else the record's default.
  auto pick = [&](const std::string& field) {
    if (plan.fields.contains(field) && !plan.fields[field].is_null()) return Scalar(plan.fields[field]);
    if (!plan.tmpl.is_null()) return TemplateDefault(plan.tmpl, field);
    return FieldDefaultText(field);
  };
  const std::string exec = pick("executionMode");
  c.info << c.style(Color::kBold, plan.template_id.empty() ? std::string("New worker")
                                                           : "New worker from template " + plan.template_id + " (" +
                                                                 Str(plan.tmpl, "name", plan.template_id) + ")")
         << "\n";
  Card card;
  card.Add("Execution", DescribeExecution(exec, pick("assignedNode")));
  card.Add("Priority", DescribePriority(pick("priority")));
  card.Add("Mode", DescribeMode(pick("mode")));
  card.Add("Scope", pick("scope"));
  card.Add("Account", plan.fields.contains("accountId") ? Scalar(plan.fields["accountId"]) : "-");
  if (plan.fields.contains("note"))
    card.Add("Note", OneLine(Str(plan.fields, "note")));
  else
    card.Add("Note", plan.tmpl.is_null() ? "(default)"
                                         : Str(plan.tmpl, "name") + ": " + OneLine(Str(plan.tmpl, "description")));
  if (plan.fields.contains("script"))
    card.Add("Script", "from file (" + FormatCount(Str(plan.fields, "script").size()) + " bytes)");
  else if (!plan.tmpl.is_null())
    card.Add("Script", "the template's (" + FormatCount(Str(plan.tmpl, "script").size()) + " bytes)");
  else
    card.Add("Script", "the default (logs \"Worker script initialized!\")");
  card.Add("Start", Bool(plan.fields, "active") ? "yes, right away" : "no (`start SID` runs it)");
  if (exec == "parallel" && plan.tmpl.is_object() && Str(plan.tmpl, "category") == "trading")
    card.Add("Warning", "a trading strategy in parallel mode places orders on every node", Color::kYellow);
  card.Print(c.info, c.style);
}

Status SubmitCreate(Ctx& c, const CreatePlan& plan) {
  Status ok = Confirm(c, "Create?");
  if (!ok.ok()) return ok;
  auto created = plan.template_id.empty()
                     ? Call(c, "workers.create", plan.fields)
                     : Call(c, "templates.create", {{"template", plan.template_id}, {"overrides", plan.fields}});
  if (!created.ok()) return created.status();
  if (c.sid_cache) c.sid_cache->clear();
  if (c.opt.json) {
    PrintJson(c, *created);
    return Status::OK();
  }
  const std::string sid = SidOf(*created);
  const bool active = Bool(Record(*created), "active");
  c.out << c.style(Color::kGreen, "Created worker " + sid) << (active ? " (active)" : " (not started)") << "\n";
  c.out << c.style(Color::kDim, "  show " + Short(sid) + "    edit " + Short(sid) + "    " +
                                    (active ? "logs " + Short(sid) + " -f" : "start " + Short(sid)))
        << "\n";
  return Status::OK();
}

// The template of `create TEMPLATE` or `create --template TEMPLATE`; "" for neither.
std::string TemplateOf(const Invocation& inv) { return inv.Has("--template") ? inv.Flag("--template") : inv.Arg(0); }

}  // namespace

Status CheckCreate(Ctx& c, Invocation& inv) {
  const std::string positional = inv.Arg(0);
  if (!positional.empty() && inv.Has("--template") && positional != inv.Flag("--template"))
    return Usage("`create` got two templates, \"" + positional + "\" and --template " + inv.Flag("--template") +
                 "; give one");
  if (inv.Flag("--execution") == "exclusive" && !inv.Has("--node-assigned") && TemplateOf(inv).empty())
    return Usage("--execution exclusive needs --node-assigned NODE (the node that runs it)");
  Status ok = CheckScriptFlag(c, inv);
  if (!ok.ok() || positional.empty()) return ok;
  // A bare word after `create` is most likely a typo or a guess: name what there is
  // instead of sending it. (--template ID is left to the node, whose refusal is exit 1.)
  auto templates = Call(c, "templates.list");
  if (!templates.ok()) {
    // Unreachable: exit 3. Any other failure is the node's to report when create runs.
    return templates.status().code() == Status::Code::kIOError ? templates.status() : Status::OK();
  }
  std::string ids;
  for (const auto& t : *templates) {
    if (Str(t, "id") == positional) return Status::OK();
    ids += (ids.empty() ? "" : ", ") + Str(t, "id");
  }
  if (ids.empty())
    return Usage("no template \"" + positional +
                 "\": this node offers no templates (is a template pack in its plugins.dirs?); usage: " + inv.usage);
  return Usage("no template \"" + positional + "\"; this node offers: " + ids + " (`ami templates` describes them)");
}

namespace {

// Asks until the answer is empty (take the default) or one of `choices`.
Result<std::string> AskChoice(Ctx& c, const std::string& question, const std::vector<std::string>& choices,
                              const std::string& def) {
  std::string list;
  for (const auto& ch : choices) list += (list.empty() ? "" : "|") + ch;
  while (true) {
    auto answer = c.console.Ask(question + " (" + list + ") [" + def + "]: ", choices);
    if (!answer) return Status::Aborted("cancelled; nothing changed");
    std::string a = *answer;
    a.erase(0, a.find_first_not_of(" \t"));
    a.erase(a.find_last_not_of(" \t\r") + 1);
    if (a.empty()) return def;
    if (std::find(choices.begin(), choices.end(), a) != choices.end()) return a;
    c.info << "  please answer one of " << list << " (or press Enter for " << def << ")\n";
  }
}

Result<std::string> AskText(Ctx& c, const std::string& question, const std::string& shown_default) {
  auto answer = c.console.Ask(question + " [" + shown_default + "]: ", {});
  if (!answer) return Status::Aborted("cancelled; nothing changed");
  std::string a = *answer;
  a.erase(0, a.find_first_not_of(" \t"));
  a.erase(a.find_last_not_of(" \t\r") + 1);
  return a;
}

// The interactive create: template, then its settings with the template's defaults.
Status CreateDialogue(Ctx& c) {
  auto templates = Call(c, "templates.list");
  if (!templates.ok()) return templates.status();
  CreatePlan plan;
  std::vector<std::string> ids;
  if (!templates->empty()) {
    c.info << c.style(Color::kBold, "Templates") << "\n";
    Table table({"#", "ID", "NAME", "EXECUTION", "PRIORITY", "CATEGORY"});
    table.RightAlign(0);
    int n = 0;
    for (const auto& t : *templates) {
      ids.push_back(Str(t, "id"));
      table.AddRow({std::to_string(++n),
                    {Str(t, "id"), Color::kCyan},
                    Str(t, "name"),
                    TemplateDefault(t, "executionMode"),
                    TemplateDefault(t, "priority"),
                    Str(t, "category")});
    }
    table.Print(c.info, c.style);
    const std::string def = std::find(ids.begin(), ids.end(), "empty") != ids.end() ? "empty" : ids.front();
    while (true) {
      auto answer = c.console.Ask("Template (id or number) [" + def + "]: ", ids);
      if (!answer) return Status::Aborted("cancelled; nothing changed");
      std::string a = *answer;
      a.erase(0, a.find_first_not_of(" \t"));
      a.erase(a.find_last_not_of(" \t\r") + 1);
      if (a.empty()) a = def;
      if (!a.empty() && a.find_first_not_of("0123456789") == std::string::npos) {
        const size_t i = std::stoul(a);
        if (i >= 1 && i <= ids.size()) a = ids[i - 1];
      }
      if (std::find(ids.begin(), ids.end(), a) != ids.end()) {
        plan.template_id = a;
        break;
      }
      c.info << "  no template \"" << a << "\"; answer an id or a number from the list\n";
    }
    auto t = Call(c, "templates.get", {{"id", plan.template_id}});
    if (!t.ok()) return t.status();
    plan.tmpl = *t;
  } else {
    c.info << "This node offers no templates; the worker gets the default script.\n";
  }
  // The template's suggestion, else the record's default.
  auto def = [&](const std::string& field) {
    return plan.tmpl.is_null() ? FieldDefaultText(field) : TemplateDefault(plan.tmpl, field);
  };
  auto exec = AskChoice(c, "Execution mode", kExecutionModes, def("executionMode"));
  if (!exec.ok()) return exec.status();
  if (*exec != def("executionMode")) plan.fields["executionMode"] = *exec;
  if (*exec == "exclusive") {
    std::string node_default = def("assignedNode");
    while (true) {
      auto node = AskText(c, "Assigned node", node_default.empty() ? "required" : node_default);
      if (!node.ok()) return node.status();
      const std::string n = node->empty() ? node_default : *node;
      if (!n.empty()) {
        if (n != def("assignedNode")) plan.fields["assignedNode"] = n;
        break;
      }
      c.info << "  exclusive mode needs the node that runs it (e.g. s-0001)\n";
    }
  }
  auto prio = AskChoice(c, "Priority", kPriorities, def("priority"));
  if (!prio.ok()) return prio.status();
  if (*prio != def("priority")) plan.fields["priority"] = *prio;
  auto mode = AskChoice(c, "Worker mode", kModes, def("mode"));
  if (!mode.ok()) return mode.status();
  if (*mode != def("mode")) plan.fields["mode"] = *mode;
  auto account = AskText(c, "Account ID (optional)", "none");
  if (!account.ok()) return account.status();
  if (!account->empty() && *account != "none") plan.fields["accountId"] = *account;
  const std::string note_default =
      plan.tmpl.is_null() ? "default" : Str(plan.tmpl, "name") + ": " + OneLine(Str(plan.tmpl, "description"));
  auto note = AskText(c, "Note", Truncate(note_default, 50));
  if (!note.ok()) return note.status();
  if (!note->empty()) plan.fields["note"] = *note;
  c.info << "\n";
  PrintCreateSummary(c, plan);
  return SubmitCreate(c, plan);
}

}  // namespace

Status Create(Ctx& c, Invocation& inv) {
  // `create` alone in the interactive shell asks; a template or any flag says enough.
  if (!inv.own_flags && inv.args.empty() && c.opt.interactive && c.console.interactive() && !c.opt.json && !c.opt.yes)
    return CreateDialogue(c);
  CreatePlan plan;
  plan.fields = FieldsFromFlags(inv);
  if (const std::string id = TemplateOf(inv); !id.empty()) {
    plan.template_id = id;
    auto t = Call(c, "templates.get", {{"id", plan.template_id}});
    if (!t.ok()) return t.status();
    plan.tmpl = *t;
  }
  if (!c.opt.yes || !c.opt.json) PrintCreateSummary(c, plan);
  return SubmitCreate(c, plan);
}

}  // namespace ami::shell::cmd
