// The worker commands: workers, show, edit, set, note, start, stop, stop-all, delete
// (create and its dialogue are in create_command.cpp).
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>

#include "apps/ami/command_support.h"
#include "runtime/model/worker_fields.h"

namespace ami::shell::cmd {

Status Workers(Ctx& c, Invocation& inv) {
  auto list = Call(c, "workers.list");
  if (!list.ok()) return list.status();
  std::string filter = inv.Arg(0);
  std::transform(filter.begin(), filter.end(), filter.begin(), [](unsigned char ch) { return std::tolower(ch); });
  json shown = json::array();
  for (const auto& w : *list) {
    const json& r = Record(w);
    const bool active = Bool(r, "active");
    if (inv.Has("--active") && !active) continue;
    if (inv.Has("--inactive") && active) continue;
    if (!filter.empty()) {
      std::string hay = SidOf(w) + "\n" + Str(r, "note");
      std::transform(hay.begin(), hay.end(), hay.begin(), [](unsigned char ch) { return std::tolower(ch); });
      if (hay.find(filter) == std::string::npos) continue;
    }
    shown.push_back(w);
  }
  if (c.opt.json) {
    PrintJson(c, shown);
    return Status::OK();
  }
  if (shown.empty()) {
    c.out << (list->empty() ? "No workers. `create TEMPLATE` makes one; `templates` lists the templates.\n"
                            : "No workers match.\n");
    return Status::OK();
  }
  const bool wide = inv.Has("--wide");
  std::vector<std::string> headers = {"SID", "EXECUTION", "PRIORITY", "MODE", "SCOPE", "ACTIVE", "STATUS"};
  if (wide) headers.insert(headers.end(), {"NODE", "ACCOUNT", "ASSIGNED"});
  headers.push_back("NOTE");
  Table table(headers);
  if (!wide) table.SetMaxWidth(headers.size() - 1, 48);
  size_t running = 0;
  for (const auto& w : shown) {
    const json& r = Record(w);
    const std::string status = WorkerStatus(w);
    if (status == "running" || Bool(w, "running")) ++running;
    const std::string prio = RecordStr(r, "priority");
    std::vector<Table::Cell> row = {
        {wide ? SidOf(w) : Short(SidOf(w)), Color::kCyan},
        RecordStr(r, "executionMode"),
        {prio, prio == "critical" ? Color::kRed
               : prio == "high"   ? Color::kYellow
                                  : Color::kNone},
        RecordStr(r, "mode"),
        Str(r, "scope", Str(w, "source", FieldDefaultText("scope"))),
        {Bool(r, "active") ? "yes" : "no", Bool(r, "active") ? Color::kGreen : Color::kDim},
        {status, StatusColor(status)},
    };
    if (wide) {
      row.emplace_back(Str(r, "nid", "-"));
      row.emplace_back(Str(r, "accountId", "-"));
      row.emplace_back(Str(r, "assignedNode", "-"));
    }
    const std::string note = status == "invalid" ? "unreadable record: " + Str(w, "error") : Str(r, "note");
    row.emplace_back(wide ? note : OneLine(note));
    table.AddRow(std::move(row));
  }
  table.Print(c.out, c.style);
  c.out << c.style(Color::kDim, std::to_string(shown.size()) + " worker" + (shown.size() == 1 ? "" : "s") + ", " +
                                    std::to_string(running) + " running")
        << "\n";
  return Status::OK();
}

namespace {

void PrintWorkerCard(Ctx& c, const json& w) {
  const json& r = Record(w);
  const std::string sid = SidOf(w);
  c.out << c.style(Color::kBold, "Worker " + sid) << "\n";
  Card card;
  card.Add("Note", Str(r, "note"));
  const std::string status = WorkerStatus(w);
  card.Add("Status", status + (Bool(r, "active") ? " (active)" : " (inactive)"), StatusColor(status));
  card.Add("Execution", DescribeExecution(RecordStr(r, "executionMode"), Str(r, "assignedNode")));
  card.Add("Priority", DescribePriority(RecordStr(r, "priority")));
  card.Add("Mode", DescribeMode(RecordStr(r, "mode")));
  card.Add("Scope", Str(r, "scope", Str(w, "source", FieldDefaultText("scope"))));
  card.Add("Account", Str(r, "accountId", "-"));
  if (Str(r, "executionMode") == "exclusive" || !Str(r, "assignedNode").empty())
    card.Add("Assigned node", Str(r, "assignedNode", "-"));
  card.Add("Created on", Str(r, "nid", "-"));
  card.Add("Version", Str(r, "version", "-"));
  std::string deps;
  if (r.contains("dependencies") && r["dependencies"].is_array())
    for (const auto& d : r["dependencies"]) deps += (deps.empty() ? "" : ", ") + Scalar(d);
  card.Add("Dependencies", deps.empty() ? "-" : deps);
  if (const int64_t ts = Int(r, "timestamp"); ts > 0)
    card.Add("Changed", FormatTime(ts) + " (" + FormatDuration(NowMillis() - ts) + " ago)");
  card.Add("Versionstamp", Str(w, "versionstamp", "-"));
  card.Print(c.out, c.style);
}

}  // namespace

Status Show(Ctx& c, Invocation& inv) {
  auto w = ResolveWorker(c, inv.Arg(0));
  if (!w.ok()) return w.status();
  if (inv.Has("--script")) {
    // The bare script, so that `ami show SID --script > file.js` round-trips.
    c.out << Str(Record(*w), "script");
    return Status::OK();
  }
  if (c.opt.json) {
    PrintJson(c, *w);
    return Status::OK();
  }
  PrintWorkerCard(c, *w);
  const std::string script = Str(Record(*w), "script");
  c.out << "\n"
        << c.style(Color::kBold, "Script") << c.style(Color::kDim, " (" + FormatCount(script.size()) + " bytes)")
        << "\n";
  c.out << script << (script.empty() || script.back() == '\n' ? "" : "\n");
  return Status::OK();
}

// Record fields from the create/set flags, by the table's shell spellings.
json FieldsFromFlags(const Invocation& inv) {
  json f = json::object();
  for (const auto& field : WorkerFields()) {
    const ShellSpelling& sh = field.shell;
    if (sh.arg == ShellSpelling::Arg::kNone) continue;
    if (sh.arg == ShellSpelling::Arg::kFile) {
      if (inv.prepared.contains(field.json_name)) f[field.json_name] = inv.prepared[field.json_name];
    } else if (inv.Has(sh.flag)) {
      if (sh.arg == ShellSpelling::Arg::kSwitch) f[field.json_name] = true;
      else f[field.json_name] = inv.Flag(sh.flag);
    }
    if (sh.clear_flag && inv.Has(sh.clear_flag)) f[field.json_name] = nullptr;
  }
  return f;
}

Status CheckScriptFlag(Ctx&, Invocation& inv) {
  for (const auto& field : WorkerFields()) {
    const ShellSpelling& sh = field.shell;
    if (sh.arg != ShellSpelling::Arg::kFile || !inv.Has(sh.flag)) continue;
    auto text = ReadInput(inv.Flag(sh.flag));
    if (!text.ok()) return Usage(std::string(sh.flag) + ": " + text.status().message());
    inv.prepared[field.json_name] = *text;
  }
  return Status::OK();
}

namespace {

Status RunEditor(const std::string& path) {
  std::string editor;
  for (const char* var : {"EDITOR", "VISUAL"}) {
    const char* v = std::getenv(var);
    if (v && *v) {
      editor = v;
      break;
    }
  }
  if (editor.empty()) editor = "vi";
  // Through sh, so EDITOR may carry arguments ("code --wait"); the path is "$1", never
  // spliced into the command text.
  const std::string command = editor + " \"$1\"";
  struct sigaction ignore {
  }, old_int{};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigaction(SIGINT, &ignore, &old_int);  // Ctrl-C belongs to the editor while it runs
  const pid_t pid = fork();
  if (pid == 0) {
    signal(SIGINT, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execl("/bin/sh", "sh", "-c", command.c_str(), "sh", path.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  if (pid > 0)
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  sigaction(SIGINT, &old_int, nullptr);
  ClearInterrupt();
  if (pid < 0) return Status::Aborted(std::string("cannot start the editor: ") + std::strerror(errno));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::OK();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    return Status::Aborted("cannot run the editor \"" + editor + "\" (set EDITOR)");
  return Status::Aborted(
      "the editor \"" + editor + "\" " +
      (WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status)) : std::string("was killed")));
}

}  // namespace

Status Edit(Ctx& c, Invocation& inv) {
  auto w = ResolveWorker(c, inv.Arg(0));
  if (!w.ok()) return w.status();
  const std::string sid = SidOf(*w);
  const std::string versionstamp = Str(*w, "versionstamp");
  const std::string original = Str(Record(*w), "script");
  const char* tmpdir = std::getenv("TMPDIR");
  std::string path = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/ami-" + Short(sid) + "-XXXXXX.js";
  const int fd = mkstemps(path.data(), 3);
  if (fd < 0)
    return Status::Aborted("cannot create a temporary file for the script: " + std::string(std::strerror(errno)));
  close(fd);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << original;
    if (!out) return Status::Aborted("cannot write " + path);
  }
  const std::string kept = "; your text is kept in " + path;
  while (true) {
    Status edited = RunEditor(path);
    if (!edited.ok()) return Annotate(edited, "; nothing was saved" + kept);
    std::ifstream in(path, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text == original) {
      std::remove(path.c_str());
      c.info << "No changes; nothing saved.\n";
      return Status::OK();
    }
    json args = {{"sid", sid}, {"changes", {{"script", text}}}};
    if (!versionstamp.empty()) args["versionstamp"] = versionstamp;
    auto updated = Call(c, "workers.update", args);
    if (updated.ok()) {
      std::remove(path.c_str());
      if (c.opt.json) {
        PrintJson(c, *updated);
      } else {
        const bool active = Bool(Record(*updated), "active");
        c.out << c.style(Color::kGreen, "Saved the script of " + Short(sid)) << " (" << FormatCount(text.size())
              << " bytes)" << (active ? "; the running worker reloads it" : "; `start " + Short(sid) + "` runs it")
              << "\n";
      }
      return Status::OK();
    }
    const Status& st = updated.status();
    if (st.code() == Status::Code::kConflict)
      return Status::Conflict("worker " + Short(sid) +
                              " was changed by someone else while you were editing (you opened versionstamp " +
                              versionstamp + "); nothing was saved" + kept + " — run `edit " + Short(sid) +
                              "` again and merge your changes in");
    if (st.code() == Status::Code::kInvalidArgument && c.console.interactive() && !c.opt.yes) {
      std::cerr << "ami: the node refused the script: " << st.message() << "\n";
      auto again = c.console.Ask("Edit again? [Y/n] ", {"y", "n"});
      if (again && (again->empty() || (*again)[0] == 'y' || (*again)[0] == 'Y')) continue;
    }
    return Annotate(st, "; nothing was saved" + kept);
  }
}

namespace {

Status Update(Ctx& c, const std::string& sid, const json& changes, const std::string& done) {
  auto updated = Call(c, "workers.update", {{"sid", sid}, {"changes", changes}});
  if (!updated.ok()) return updated.status();
  if (c.opt.json)
    PrintJson(c, *updated);
  else
    c.out << done << "\n";
  return Status::OK();
}

}  // namespace

Status Set(Ctx& c, Invocation& inv) {
  const json changes = FieldsFromFlags(inv);  // CheckSet made sure there is one
  auto w = ResolveWorker(c, inv.Arg(0));
  if (!w.ok()) return w.status();
  std::string what;
  for (const auto& [k, v] : changes.items())
    what += (what.empty() ? "" : ", ") + k + " = " + (k == "script" ? "(file)" : Scalar(v));
  return Update(c, SidOf(*w), changes, "Updated " + Short(SidOf(*w)) + ": " + what);
}

Status CheckSet(Ctx& c, Invocation& inv) {
  for (const auto& field : WorkerFields()) {
    const ShellSpelling& sh = field.shell;
    if (sh.clear_flag && inv.Has(sh.flag) && inv.Has(sh.clear_flag))
      return Usage(std::string("give ") + sh.flag + " or " + sh.clear_flag + ", not both");
  }
  Status st = CheckScriptFlag(c, inv);
  if (!st.ok()) return st;
  json changes = FieldsFromFlags(inv);
  if (changes.empty()) return Usage("`set` needs at least one change; usage: " + inv.usage);
  return Status::OK();
}

Status Note(Ctx& c, Invocation& inv) {
  auto w = ResolveWorker(c, inv.Arg(0));
  if (!w.ok()) return w.status();
  return Update(c, SidOf(*w), {{"note", inv.Arg(1)}}, "Note of " + Short(SidOf(*w)) + " saved.");
}

namespace {

Status StartStop(Ctx& c, Invocation& inv, bool start) {
  auto w = ResolveWorker(c, inv.Arg(0));
  if (!w.ok()) return w.status();
  auto r = Call(c, start ? "workers.start" : "workers.stop", {{"sid", SidOf(*w)}});
  if (!r.ok()) return r.status();
  if (c.opt.json) {
    PrintJson(c, *r);
    return Status::OK();
  }
  const json& rec = Record(*r);
  c.out << (start ? "Started " : "Stopped ") << Short(SidOf(*w))
        << c.style(Color::kDim, " (" + OneLine(Str(rec, "note")) + ")") << "\n";
  if (start && Str(rec, "executionMode") == "leader")
    c.out << c.style(Color::kDim, "  leader mode: it runs on the node that wins the election; `leader " +
                                      Short(SidOf(*w)) + "` shows which")
          << "\n";
  return Status::OK();
}

}  // namespace

Status Start(Ctx& c, Invocation& inv) { return StartStop(c, inv, true); }
Status Stop(Ctx& c, Invocation& inv) { return StartStop(c, inv, false); }

Status StopAll(Ctx& c, Invocation&) {
  auto list = Call(c, "workers.list");
  if (!list.ok()) return list.status();
  size_t active = 0;
  for (const auto& w : *list) active += Bool(Record(w), "active") ? 1 : 0;
  Status ok = Confirm(c, "Stop all " + std::to_string(active) + " active worker" + (active == 1 ? "" : "s") + " (of " +
                             std::to_string(list->size()) + ")?");
  if (!ok.ok()) return ok;
  auto r = Call(c, "workers.stopAll", json::object(), std::chrono::minutes(5));
  if (!r.ok()) return r.status();
  if (c.opt.json) {
    PrintJson(c, *r);
    return Status::OK();
  }
  c.out << Str(*r, "message", "Stopped") << ": " << Int(*r, "stopped") << " of " << Int(*r, "total") << " stopped";
  if (Int(*r, "failed") > 0) c.out << ", " << c.style(Color::kRed, std::to_string(Int(*r, "failed")) + " failed");
  c.out << "\n";
  if (r->contains("workers") && (*r)["workers"].is_array() && !(*r)["workers"].empty()) {
    Table table({"SID", "STATUS"});
    for (const auto& w : (*r)["workers"]) {
      const std::string st = Str(w, "status");
      table.AddRow({{Short(Str(w, "sid", Str(w, "channel"))), Color::kCyan},
                    {st, st == "failed" || st == "error" ? Color::kRed : Color::kNone}});
    }
    table.Print(c.out, c.style);
  }
  return Int(*r, "failed") > 0 ? Status::Aborted(std::to_string(Int(*r, "failed")) + " workers could not be stopped")
                               : Status::OK();
}

Status Delete(Ctx& c, Invocation& inv) {
  auto w = ResolveWorker(c, inv.Arg(0));
  if (!w.ok()) return w.status();
  const std::string sid = SidOf(*w);
  const json& r = Record(*w);
  if (!c.opt.yes) {
    c.info << c.style(Color::kBold, "Delete worker") << "\n";
    Card card;
    card.Add("Worker ID", sid);
    card.Add("Note", OneLine(Str(r, "note")));
    card.Add("Status", WorkerStatus(*w) + (Bool(r, "active") ? " (active: it is stopped first)" : ""));
    card.Print(c.info, c.style);
  }
  Status ok = Confirm(c, "Delete it?");
  if (!ok.ok()) return ok;
  json args = {{"sid", sid}};
  // What was confirmed is what gets deleted: a record changed since then is a conflict.
  if (!Str(*w, "versionstamp").empty()) args["versionstamp"] = Str(*w, "versionstamp");
  auto d = Call(c, "workers.delete", args);
  if (!d.ok()) {
    if (d.status().code() == Status::Code::kConflict)
      return Annotate(d.status(),
                      " — the worker changed after you looked at it; nothing was deleted, check it and retry");
    return d.status();
  }
  if (c.sid_cache) c.sid_cache->clear();
  if (c.opt.json)
    PrintJson(c, *d);
  else
    c.out << "Deleted worker " << sid << "\n";
  return Status::OK();
}

}  // namespace ami::shell::cmd
