// The monitoring commands: stats, leader, logs, nodes, node.
#include <cmath>
#include <cstdio>
#include <iostream>

#include "apps/ami/command_support.h"

namespace ami::shell::cmd {

namespace {

std::string RateText(const json& stats, uint64_t errors, uint64_t executions) {
  if (stats.contains("errorRate") && !stats["errorRate"].is_null()) {
    std::string r = Scalar(stats["errorRate"]);
    if (!r.empty() && r.back() != '%') r += "%";
    return r;
  }
  if (executions == 0) return "0%";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100.0 * static_cast<double>(errors) / static_cast<double>(executions));
  return buf;
}

Color RateColorOf(const std::string& rate) {
  auto v = PercentValue(json(rate));
  return v ? RateColor(*v) : Color::kNone;
}

void PrintSummaryCard(Ctx& c, const json& s) {
  const uint64_t exec = Int(s, "totalExecutions"), errors = Int(s, "totalErrors");
  const std::string rate = RateText(json::object(), errors, exec);
  Card card;
  card.Add("Running",
           std::to_string(Int(s, "runningWorkers")) + "/" + std::to_string(Int(s, "totalWorkers")) + " workers",
           Int(s, "runningWorkers") > 0 ? Color::kGreen : Color::kNone);
  card.Add("Executions", FormatCount(exec));
  card.Add("Errors",
           FormatCount(errors) + " (" + rate + ") · network " + FormatCount(Int(s, "totalNetworkErrors")) +
               " · critical " + FormatCount(Int(s, "totalCriticalErrors")),
           exec ? RateColorOf(rate) : Color::kNone);
  card.Print(c.out, c.style);
}

void AddWorkerStatsRow(Ctx& c, Table& table, const json& w, const std::string& node) {
  const uint64_t exec = Int(w, "executions"), errors = Int(w, "errors");
  const std::string rate = RateText(w, errors, exec);
  std::string status = Str(w, "status");
  if (status.empty()) status = Bool(w, "isRunning") ? "running" : "stopped";
  std::string last_run = "-";
  if (w.contains("lastRunAgo") && !w["lastRunAgo"].is_null()) last_run = FormatDuration(Int(w, "lastRunAgo")) + " ago";
  std::string last_error = Str(w, "lastError");
  if (!last_error.empty() && !Str(w, "lastErrorType").empty()) last_error = Str(w, "lastErrorType") + ": " + last_error;
  std::vector<Table::Cell> row;
  if (!node.empty()) row.emplace_back(node);
  row.insert(row.end(), {{Short(Str(w, "sid")), Color::kCyan},
                         {status, StatusColor(status)},
                         FormatCount(exec),
                         {FormatCount(errors), errors ? Color::kYellow : Color::kNone},
                         FormatCount(Int(w, "networkErrors")),
                         {FormatCount(Int(w, "criticalErrors")), Int(w, "criticalErrors") ? Color::kRed : Color::kNone},
                         {rate, RateColorOf(rate)},
                         last_run,
                         {OneLine(last_error), Color::kRed}});
  table.AddRow(std::move(row));
}

Table WorkerStatsTable(bool with_node) {
  std::vector<std::string> h = {"SID",      "STATUS", "EXECUTIONS", "ERRORS",    "NETWORK",
                                "CRITICAL", "RATE",   "LAST RUN",   "LAST ERROR"};
  if (with_node) h.insert(h.begin(), "NODE");
  Table t(h);
  const size_t off = with_node ? 1 : 0;
  for (size_t i = 2; i <= 6; ++i) t.RightAlign(off + i);
  t.SetMaxWidth(off + 8, 50);
  return t;
}

void PrintWorkerStatsCard(Ctx& c, const json& w, const std::string& node) {
  const uint64_t exec = Int(w, "executions"), errors = Int(w, "errors");
  const std::string rate = RateText(w, errors, exec);
  std::string status = Str(w, "status");
  if (status.empty()) status = Bool(w, "isRunning") ? "running" : "stopped";
  c.out << c.style(Color::kBold, "Worker " + Str(w, "sid") + (node.empty() ? "" : " on " + node)) << "\n";
  Card card;
  card.Add("Status", status, StatusColor(status));
  card.Add("Executions", FormatCount(exec));
  card.Add("Errors",
           FormatCount(errors) + " (" + rate + ") · network " + FormatCount(Int(w, "networkErrors")) + " · critical " +
               FormatCount(Int(w, "criticalErrors")) + " · in a row " + FormatCount(Int(w, "consecutiveErrors")),
           RateColorOf(rate));
  card.Add("Last run", w.contains("lastRunAgo") && !w["lastRunAgo"].is_null()
                           ? FormatDuration(Int(w, "lastRunAgo")) + " ago"
                           : "never");
  if (!Str(w, "lastError").empty())
    card.Add("Last error", "[" + Str(w, "lastErrorType", "?") + "] " + OneLine(Str(w, "lastError")), Color::kRed);
  if (Int(w, "started") > 0)
    card.Add("Started", FormatTime(Int(w, "started")) + " (up " + FormatDuration(Int(w, "uptime")) + ")");
  card.Add("Script hash", Str(w, "scriptHash", "-"));
  card.Print(c.out, c.style);
}

// One node's summary (compat getWorkerStats + `node`), optionally only worker `sid`.
void PrintNodeStats(Ctx& c, const json& s, const std::string& sid) {
  const std::string node = Str(s, "node");
  json workers = s.contains("workers") && s["workers"].is_array() ? s["workers"] : json::array();
  if (!sid.empty()) {
    for (const auto& w : workers)
      if (Str(w, "sid") == sid) {
        PrintWorkerStatsCard(c, w, node);
        return;
      }
    c.out << "No statistics for worker " << sid << (node.empty() ? "" : " on " + node)
          << " (it has not run there since the node started).\n";
    return;
  }
  c.out << c.style(Color::kBold, node.empty() ? std::string("Node") : "Node " + node) << "\n";
  PrintSummaryCard(c, s);
  if (workers.empty()) return;
  c.out << "\n";
  Table table = WorkerStatsTable(false);
  for (const auto& w : workers) AddWorkerStatsRow(c, table, w, "");
  table.Print(c.out, c.style);
}

// {nodes:{id: Summary}, unreachable, totals}, or with a sid {sid, nodes:{id: Stats}, …}.
void PrintClusterStats(Ctx& c, const json& s, const std::string& sid) {
  const json nodes = s.contains("nodes") && s["nodes"].is_object() ? s["nodes"] : json::object();
  std::vector<std::string> unreachable;
  if (s.contains("unreachable") && s["unreachable"].is_array())
    for (const auto& u : s["unreachable"]) unreachable.push_back(Scalar(u));
  const size_t count = sid.empty() ? nodes.size() + unreachable.size() : nodes.size();
  const std::string noun = count == 1 ? " node" : " nodes";
  c.out << c.style(Color::kBold, sid.empty() ? "Cluster · " + std::to_string(count) + noun
                                             : "Worker " + sid + " · " + std::to_string(count) + noun + " with stats");
  if (!unreachable.empty()) {
    std::string list;
    for (const auto& u : unreachable) list += (list.empty() ? "" : ", ") + u;
    c.out << " · " << c.style(Color::kRed, "unreachable: " + list);
  }
  c.out << "\n";
  const json totals = s.contains("totals") && s["totals"].is_object() ? s["totals"] : json();
  if (sid.empty()) {
    Table table({"NODE", "RUNNING", "EXECUTIONS", "ERRORS", "NETWORK", "CRITICAL", "RATE"});
    for (size_t i = 2; i <= 6; ++i) table.RightAlign(i);
    auto add = [&](const std::string& name, const json& n, Color color) {
      const uint64_t exec = Int(n, "totalExecutions"), errors = Int(n, "totalErrors");
      const std::string rate = RateText(json::object(), errors, exec);
      table.AddRow({{name, color},
                    std::to_string(Int(n, "runningWorkers")) + "/" + std::to_string(Int(n, "totalWorkers")),
                    FormatCount(exec),
                    FormatCount(errors),
                    FormatCount(Int(n, "totalNetworkErrors")),
                    FormatCount(Int(n, "totalCriticalErrors")),
                    {rate, RateColorOf(rate)}});
    };
    for (const auto& [id, n] : nodes.items()) add(id, n, Color::kNone);
    for (const auto& u : unreachable) table.AddRow({{u, Color::kRed}, {"unreachable", Color::kRed}});
    if (totals.is_object()) add("total", totals, Color::kBold);
    table.Print(c.out, c.style);
  }
  Table workers = WorkerStatsTable(true);
  bool any = false;
  for (const auto& [id, n] : nodes.items()) {
    if (n.contains("workers") && n["workers"].is_array()) {
      for (const auto& w : n["workers"]) {
        if (!sid.empty() && Str(w, "sid") != sid) continue;
        AddWorkerStatsRow(c, workers, w, id);
        any = true;
      }
    } else if (n.contains("sid")) {  // one worker's Stats per node
      AddWorkerStatsRow(c, workers, n, id);
      any = true;
    }
  }
  if (any) {
    c.out << "\n";
    workers.Print(c.out, c.style);
  } else if (!sid.empty()) {
    c.out << "No node has statistics for worker " << sid << ".\n";
  }
  if (!sid.empty() && totals.is_object() && any) {
    const uint64_t exec = Int(totals, "totalExecutions"), errors = Int(totals, "totalErrors");
    const std::string rate = RateText(totals, errors, exec);
    c.out << c.style(Color::kDim, "total: ") << FormatCount(exec) << " executions, " << FormatCount(errors)
          << " errors (" << c.style(RateColorOf(rate), rate) << ")\n";
  }
}

}  // namespace

Status Stats(Ctx& c, Invocation& inv) {
  std::string sid;
  if (!inv.Arg(0).empty()) {
    auto w = ResolveWorker(c, inv.Arg(0));
    if (!w.ok()) return w.status();
    sid = SidOf(*w);
  }
  const bool cluster = inv.Has("--cluster");
  json args = json::object();
  if (!sid.empty()) args["sid"] = sid;
  if (cluster) args["cluster"] = true;
  auto draw = [&](bool) -> Status {
    auto s = Call(c, "stats", args);
    if (!s.ok()) return s.status();
    if (c.opt.json) {
      c.out << (inv.Has("--watch") ? s->dump() : s->dump(2)) << "\n";
      return Status::OK();
    }
    if (cluster)
      PrintClusterStats(c, *s, sid);
    else if (!sid.empty() && s->contains("sid") && !s->contains("workers"))
      PrintWorkerStatsCard(c, *s, Str(*s, "node"));
    else
      PrintNodeStats(c, *s, sid);
    return Status::OK();
  };
  if (!inv.Has("--watch")) return draw(true);
  const double every = inv.Flag("--watch").empty() ? 2.0 : std::stod(inv.Flag("--watch"));
  return Watch(c, every, cluster ? "stats --cluster" : "stats", draw);
}

Status Leader(Ctx& c, Invocation& inv) {
  auto w = ResolveWorker(c, inv.Arg(0));
  if (!w.ok()) return w.status();
  const std::string sid = SidOf(*w);
  const std::string exec = RecordStr(Record(*w), "executionMode");
  if (exec != "leader")
    return Status::InvalidArgument("worker " + Short(sid) + " runs in " + exec +
                                   " mode; leader election applies to leader mode only (`set " + Short(sid) +
                                   " --execution leader` changes it)");
  auto draw = [&](bool) -> Status {
    auto info = Call(c, "leader.info", {{"sid", sid}});
    if (!info.ok()) return info.status();
    if (c.opt.json) {
      c.out << (inv.Has("--watch") ? info->dump() : info->dump(2)) << "\n";
      return Status::OK();
    }
    c.out << c.style(Color::kBold, "Leader election") << c.style(Color::kDim, " · worker " + sid) << "\n";
    Card card;
    if (!Bool(*info, "hasLeader")) {
      card.Add("Status", Str(*info, "message", "No leader elected yet"), Color::kYellow);
      if (info->contains("lastLeader"))
        card.Add("Last leader",
                 Str(*info, "lastLeader") +
                     (info->contains("lastTerm") ? " (term " + Scalar((*info)["lastTerm"]) + ", resigned)" : ""));
      if (!Bool(Record(*w), "active")) card.Add("Hint", "the worker is inactive: `start " + Short(sid) + "`");
    } else {
      const bool expired = Bool(*info, "isExpired");
      card.Add("Status", expired ? "Lease expired: a new election is due" : "Leader active",
               expired ? Color::kRed : Color::kGreen);
      card.Add("Leader node", Str(*info, "leader", "-"), Color::kBold);
      if (info->contains("term")) card.Add("Term", Scalar((*info)["term"]));
      if (Int(*info, "timestamp") > 0) card.Add("Elected at", FormatTime(Int(*info, "timestamp")));
      if (Int(*info, "renewedAt") > 0) card.Add("Last renewed", FormatTime(Int(*info, "renewedAt")));
      const int64_t in = Int(*info, "expiresIn");
      // The editor's leader card colours: red under 30 s, orange under 45 s.
      card.Add("Expires in", FormatDuration(in),
               in < 30'000   ? Color::kRed
               : in < 45'000 ? Color::kYellow
                             : Color::kGreen);
    }
    card.Print(c.out, c.style);
    return Status::OK();
  };
  if (!inv.Has("--watch")) return draw(true);
  const double every = inv.Flag("--watch").empty() ? 1.0 : std::stod(inv.Flag("--watch"));
  return Watch(c, every, "leader " + Short(sid), draw);
}

namespace {

std::string LogLineText(const json& line) {
  if (line.is_string()) return line.get<std::string>();
  if (line.is_object())
    for (const char* k : {"line", "text", "content", "message"})
      if (line.contains(k)) return Str(line, k);
  return line.dump();
}

void PrintLogLines(Ctx& c, const json& lines) {
  if (!lines.is_array()) return;
  for (const auto& l : lines) {
    std::string text = LogLineText(l);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    Color color = Color::kNone;
    if (text.find("[ERROR]") != std::string::npos)
      color = Color::kRed;
    else if (text.find("[WARN]") != std::string::npos)
      color = Color::kYellow;
    else if (text.find("[DEBUG]") != std::string::npos)
      color = Color::kDim;
    c.out << c.style(color, text) << "\n";
  }
  c.out << std::flush;
}

}  // namespace

Status Logs(Ctx& c, Invocation& inv) {
  auto w = ResolveWorker(c, inv.Arg(0));
  if (!w.ok()) return w.status();
  const std::string sid = SidOf(*w);
  const int lines = inv.Has("-n") ? std::stoi(inv.Flag("-n")) : 50;
  auto first = Call(c, "logs.tail", {{"sid", sid}, {"lines", lines}});
  if (!first.ok()) return first.status();
  const bool follow = inv.Has("-f");
  if (c.opt.json)
    c.out << (follow ? first->dump() : first->dump(2)) << "\n" << std::flush;
  else
    PrintLogLines(c, first->value("lines", json::array()));
  if (!follow) return Status::OK();
  json cursor = first->value("cursor", json());
  CatchInterrupts catching;
  ClearInterrupt();
  bool reported = false;
  // Poll with the cursor: each answer holds only what was written since the last one;
  // `more` means the node has more right away.
  bool more_now = first->value("more", false);
  while (more_now ? !Interrupted() : Pause(0.5)) {
    json args = {{"sid", sid}};
    if (!cursor.is_null()) args["cursor"] = cursor;
    auto more = Call(c, "logs.tail", args);
    if (!more.ok()) {
      if (!reported) std::cerr << "ami: " << more.status().message() << " (still trying; Ctrl-C to stop)\n";
      reported = true;
      more_now = false;
      continue;
    }
    reported = false;
    more_now = more->value("more", false);
    if (more->contains("cursor")) cursor = (*more)["cursor"];
    const json new_lines = more->value("lines", json::array());
    if (c.opt.json) {
      if (!new_lines.empty()) c.out << more->dump() << "\n" << std::flush;
    } else {
      PrintLogLines(c, new_lines);
    }
    if (!c.out) break;  // stdout closed (e.g. piped into head)
  }
  ClearInterrupt();
  return Status::OK();
}

Status Nodes(Ctx& c, Invocation&) {
  auto m = Call(c, "nodes.list");
  if (!m.ok()) return m.status();
  if (c.opt.json) {
    PrintJson(c, *m);
    return Status::OK();
  }
  const std::string self = Str(*m, "self");
  std::string head = Str(*m, "cluster").empty() ? std::string("Single node") : "Cluster " + Str(*m, "cluster");
  if (m->contains("size")) head += " · " + Scalar((*m)["size"]) + (Int(*m, "size") == 1 ? " node" : " nodes");
  if (m->contains("majority")) head += " · majority " + Scalar((*m)["majority"]);
  if (!self.empty()) head += " · this node " + self;
  c.out << c.style(Color::kBold, head) << "\n";
  Table table({"NODE", "ADDRESS", "STATE", "LAST SEEN", "INCARNATION"});
  if (m->contains("nodes") && (*m)["nodes"].is_array()) {
    for (const auto& n : (*m)["nodes"]) {
      const std::string state = Str(n, "state", "unknown");
      const Color color = state == "up" || state == "self" ? Color::kGreen
                          : state == "suspect"             ? Color::kYellow
                          : state == "down"                ? Color::kRed
                                                           : Color::kDim;
      std::string seen = "-";
      if (n.contains("lastSeenMsAgo") && !n["lastSeenMsAgo"].is_null())
        seen = FormatDuration(Int(n, "lastSeenMsAgo")) + " ago";
      table.AddRow({{Str(n, "id"), Str(n, "id") == self ? Color::kBold : Color::kNone},
                    Str(n, "address", "-"),
                    {state, color},
                    seen,
                    Str(n, "incarnation", "-")});
    }
  }
  table.Print(c.out, c.style);
  return Status::OK();
}

Status NodeInfo(Ctx& c, Invocation&) {
  auto info = Call(c, "node.info");
  if (!info.ok()) return info.status();
  if (c.opt.json) {
    PrintJson(c, *info);
    return Status::OK();
  }
  c.out << c.style(Color::kBold, "Node " + Str(*info, "node", "?")) << "\n";
  Card card;
  card.Add("Cluster", Str(*info, "cluster", "none (runs alone)"));
  if (info->contains("network")) card.Add("Network", Str(*info, "network"));
  card.Add("Version", Str(*info, "version", "-"));
  if (Int(*info, "startedAt") > 0)
    card.Add("Started", FormatTime(Int(*info, "startedAt")) + " (up " +
                            FormatDuration(info->contains("uptime") ? Int(*info, "uptime")
                                                                    : NowMillis() - Int(*info, "startedAt")) +
                            ")");
  if (info->contains("runSlots")) card.Add("Run slots", Scalar((*info)["runSlots"]));
  if (info->contains("workersRunning")) card.Add("Workers running", Scalar((*info)["workersRunning"]));
  if (info->contains("admin") && (*info)["admin"].is_object())
    card.Add("Admin", Str((*info)["admin"], "listen", "-") + " (auth: " + Str((*info)["admin"], "auth", "?") + ")");
  // Whatever else a newer node tells.
  for (const auto& [k, v] : info->items())
    if (k != "node" && k != "cluster" && k != "network" && k != "version" && k != "startedAt" && k != "uptime" &&
        k != "runSlots" && k != "workersRunning" && k != "admin")
      card.Add(k, v.is_structured() ? v.dump() : Scalar(v));
  card.Print(c.out, c.style);
  return Status::OK();
}

}  // namespace ami::shell::cmd
