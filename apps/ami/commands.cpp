// The command table, the parser that checks a command line against it, and the Shell
// that runs commands, completes words and prints help. The commands themselves are in
// worker_commands.cpp, create_command.cpp, monitor_commands.cpp and data_commands.cpp.
// Over 600 lines: the table, its parser, completion and help share one description of
// every command; splitting them would spell the commands out twice.
#include "apps/ami/commands.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <iostream>
#include <sstream>

#include "apps/ami/command_support.h"
#include "runtime/model/worker_fields.h"

namespace ami::shell {

using json = nlohmann::json;
using namespace cmd;  // NOLINT: the table names every command function

// ---------------------------------------------------------------------------------
// Words, interrupts, consoles
// ---------------------------------------------------------------------------------

Result<std::vector<std::string>> SplitWords(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\'') {
      const auto end = line.find('\'', i + 1);
      if (end == std::string::npos) return Status::InvalidArgument("unterminated ' quote");
      word += line.substr(i + 1, end - i - 1);
      i = end;
    } else if (c == '"') {
      size_t j = i + 1;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\' && j + 1 < line.size() && (line[j + 1] == '"' || line[j + 1] == '\\')) ++j;
        word += line[j];
      }
      if (j >= line.size()) return Status::InvalidArgument("unterminated \" quote");
      i = j;
    } else if (c == '\\' && i + 1 < line.size()) {
      word += line[++i];
    } else {
      word += c;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

namespace {
volatile sig_atomic_t g_interrupted = 0;
volatile sig_atomic_t g_catching = 0;  // > 0 while a prompt or a --watch / -f loop polls the flag
volatile sig_atomic_t g_session = 0;   // the interactive shell: the first Ctrl-C never ends it

extern "C" void OnInterrupt(int signo) {
  if (g_catching > 0) {
    g_interrupted = 1;
    return;
  }
  if (g_session && !g_interrupted) {
    // A command is waiting for the node; a second Ctrl-C leaves, as people expect.
    g_interrupted = 1;
    static const char kHint[] = "\n(waiting for the node; press Ctrl-C again to leave ami)\n";
    ssize_t ignored = write(2, kHint, sizeof kHint - 1);
    (void)ignored;
    return;
  }
  // Anywhere else Ctrl-C ends ami as it ends any program (killed by SIGINT).
  signal(signo, SIG_DFL);
  raise(signo);
}
}  // namespace

void InstallInterruptHandler(bool interactive_session) {
  g_session = interactive_session ? 1 : 0;
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocked read() returns at once
  sigaction(SIGINT, &sa, nullptr);
}

CatchInterrupts::CatchInterrupts() { g_catching = g_catching + 1; }
CatchInterrupts::~CatchInterrupts() { g_catching = g_catching - 1; }

bool Interrupted() { return g_interrupted != 0; }
void ClearInterrupt() { g_interrupted = 0; }

std::optional<std::string> StdConsole::Ask(const std::string& prompt, const std::vector<std::string>&) {
  std::ostream& out = to_stderr_ ? std::cerr : std::cout;
  out << prompt << std::flush;
  std::string line;
  if (!std::getline(std::cin, line)) {
    out << "\n";
    return std::nullopt;
  }
  // A terminal echoes the answer; piped answers are shown so the transcript reads right.
  if (!isatty(0)) out << line << "\n";
  return line;
}

bool StdConsole::interactive() const { return isatty(0) && isatty(1); }

// ---------------------------------------------------------------------------------
// Command table
// ---------------------------------------------------------------------------------

namespace cmd {

enum class Kind {
  kNone,      // a switch
  kText,      // anything
  kSid,       // a worker sid or unique prefix
  kTemplate,  // a template id
  kSpace,     // local | network
  kKey,       // KV key: JSON array or slash path
  kPrefix,    // KV key prefix: the same, may be empty
  kCount,     // positive integer
  kSeconds,   // positive number of seconds
  kDuration,  // 10s, 250ms, 1h30m
  kFile,      // a readable file, or - for stdin
  kJson,      // JSON text
  kChoice,    // one of `choices`
  kCommand,   // a command name
  kNode,      // a node id
};

struct FlagSpec {
  FlagSpec(std::string n, std::string a = "", Kind v = Kind::kNone, std::vector<std::string> c = {}, bool opt = false)
      : name(std::move(n)), alias(std::move(a)), value(v), choices(std::move(c)), optional_value(opt) {}
  std::string name;   // "--priority"
  std::string alias;  // "-p" or ""
  Kind value = Kind::kNone;
  std::vector<std::string> choices;
  bool optional_value = false;  // --watch [SECONDS]: takes the next word only if it is a number
};

struct ArgSpec {
  ArgSpec(std::string n, Kind k = Kind::kText, bool opt = false, bool r = false)
      : name(std::move(n)), kind(k), optional(opt), rest(r) {}
  std::string name;  // "SID"
  Kind kind = Kind::kText;
  bool optional = false;
  bool rest = false;  // takes every remaining word, joined with spaces
  std::vector<std::string> choices;
};

using RunFn = Status (*)(Ctx&, Invocation&);

struct CommandSpec {
  std::string name;      // "workers", "kv get"
  std::string synopsis;  // usage after the name
  std::string summary;   // one line for the overview
  std::string help;      // details for `help NAME`
  std::string group;
  std::vector<ArgSpec> args;
  std::vector<FlagSpec> flags;
  RunFn check = nullptr;  // more local checks; a failure is a usage error
  RunFn run = nullptr;
};

}  // namespace cmd

namespace {

// Flags every command accepts.
const std::vector<FlagSpec> kCommonFlags = {
    {"--json", "", Kind::kNone, {}, false},
    {"--yes", "-y", Kind::kNone, {}, false},
    {"--no-color", "", Kind::kNone, {}, false},
    {"--help", "-h", Kind::kNone, {}, false},
};

const std::vector<CommandSpec>& Commands();

const CommandSpec* FindCommand(const std::string& name) {
  for (const auto& c : Commands())
    if (c.name == name) return &c;
  return nullptr;
}

bool HasSubcommands(const std::string& word) {
  for (const auto& c : Commands())
    if (c.name.rfind(word + " ", 0) == 0) return true;
  return false;
}

size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::vector<std::string> TopWords() {
  std::vector<std::string> out;
  for (const auto& c : Commands()) {
    std::string first = c.name.substr(0, c.name.find(' '));
    if (std::find(out.begin(), out.end(), first) == out.end()) out.push_back(first);
  }
  return out;
}

std::string UsageLine(const CommandSpec& spec) {
  return spec.name + (spec.synopsis.empty() ? "" : " " + spec.synopsis);
}

// ---------------------------------------------------------------------------------
// Local checks of argument values
// ---------------------------------------------------------------------------------

Status CheckValue(const std::string& what, Kind kind, const std::vector<std::string>& choices,
                  const std::string& value) {
  auto one_of = [&](const std::vector<std::string>& options) -> Status {
    if (std::find(options.begin(), options.end(), value) != options.end()) return Status::OK();
    std::string list;
    for (const auto& o : options) list += (list.empty() ? "" : "|") + o;
    return Usage(what + ": expected one of " + list + ", got \"" + value + "\"");
  };
  switch (kind) {
    case Kind::kSid:
      if (!IsSidText(value))
        return Usage(what + ": \"" + value + "\" is not a worker sid or sid prefix (hex digits and dashes)");
      return Status::OK();
    case Kind::kSpace: return one_of(kScopes);
    case Kind::kChoice: return one_of(choices);
    case Kind::kCount: {
      if (value.empty() || value.size() > 7 || value.find_first_not_of("0123456789") != std::string::npos ||
          std::stol(value) == 0)
        return Usage(what + ": expected a positive whole number, got \"" + value + "\"");
      return Status::OK();
    }
    case Kind::kSeconds: {
      if (!IsPlainNumber(value) || std::stod(value) < 0.1 || std::stod(value) > 86400)
        return Usage(what + ": expected seconds between 0.1 and 86400, got \"" + value + "\"");
      return Status::OK();
    }
    case Kind::kDuration:
      if (!ParseDurationMs(value))
        return Usage(what + ": expected a duration like 30s, 250ms or 1h30m, got \"" + value + "\"");
      return Status::OK();
    case Kind::kTemplate:
    case Kind::kNode:
      if (value.empty() || value.find_first_of(" \t/\\\"'") != std::string::npos)
        return Usage(what + ": \"" + value + "\" is not an id");
      return Status::OK();
    default: return Status::OK();
  }
}

Result<Invocation> Parse(const std::vector<std::string>& words) {
  Invocation inv;
  size_t at = 1;
  if (words.size() >= 2) inv.spec = FindCommand(words[0] + " " + words[1]);
  if (inv.spec) {
    at = 2;
  } else {
    inv.spec = FindCommand(words[0]);
    if (!inv.spec && HasSubcommands(words[0])) {
      std::string subs;
      for (const auto& c : Commands())
        if (c.name.rfind(words[0] + " ", 0) == 0)
          subs += (subs.empty() ? "" : ", ") + c.name.substr(words[0].size() + 1);
      if (words.size() >= 2)
        return Usage("unknown " + words[0] + " subcommand \"" + words[1] + "\"; expected one of: " + subs);
      return Usage(words[0] + " needs a subcommand: " + subs + " (see `help " + words[0] + "`)");
    }
  }
  if (!inv.spec) {
    std::string hint;
    for (const auto& w : TopWords())
      if (EditDistance(w, words[0]) <= 2) hint = " (did you mean " + w + "?)";
    return Usage("unknown command \"" + words[0] + "\"" + hint + "; `help` lists the commands");
  }
  const CommandSpec& spec = *inv.spec;
  inv.usage = UsageLine(spec);
  auto find_flag = [&](const std::string& word) -> const FlagSpec* {
    for (const auto* list : {&spec.flags, &kCommonFlags})
      for (const auto& f : *list)
        if (f.name == word || (!f.alias.empty() && f.alias == word)) return &f;
    return nullptr;
  };
  std::vector<std::string> positionals;
  bool flags_done = false;
  for (; at < words.size(); ++at) {
    const std::string& w = words[at];
    const bool negative_number = w.size() > 1 && w[0] == '-' && std::isdigit(static_cast<unsigned char>(w[1]));
    if (flags_done || w.size() < 2 || w[0] != '-' || negative_number) {
      positionals.push_back(w);
      continue;
    }
    if (w == "--") {
      flags_done = true;
      continue;
    }
    std::string name = w, value;
    bool has_value = false;
    if (const auto eq = w.find('='); w.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = w.substr(0, eq);
      value = w.substr(eq + 1);
      has_value = true;
    }
    const FlagSpec* flag = find_flag(name);
    if (!flag) return Usage("unknown option " + name + " for `" + spec.name + "`; usage: " + UsageLine(spec));
    if (flag->value == Kind::kNone) {
      if (has_value) return Usage(flag->name + " takes no value");
    } else if (!has_value) {
      const bool next_ok = at + 1 < words.size() && (flag->optional_value ? IsPlainNumber(words[at + 1]) : true);
      if (next_ok) {
        value = words[++at];
      } else if (!flag->optional_value) {
        return Usage(flag->name + " needs a value; usage: " + UsageLine(spec));
      }
    }
    if (flag->value != Kind::kNone && !(flag->optional_value && value.empty())) {
      Status ok = CheckValue(flag->name, flag->value, flag->choices, value);
      if (!ok.ok()) return ok;
    }
    inv.flags[flag->name] = value;
    const bool common =
        std::any_of(kCommonFlags.begin(), kCommonFlags.end(), [&](const FlagSpec& f) { return f.name == flag->name; });
    inv.own_flags = inv.own_flags || !common;
  }
  // Positionals against the spec.
  size_t required = 0;
  bool rest = false;
  for (const auto& a : spec.args) {
    if (!a.optional) ++required;
    rest = rest || a.rest;
  }
  if (inv.Has("--help")) return inv;
  if (positionals.size() < required)
    return Usage("`" + spec.name + "` needs " + spec.args[positionals.size()].name + "; usage: " + UsageLine(spec));
  if (!rest && positionals.size() > spec.args.size())
    return Usage("`" + spec.name + "` got an unexpected argument \"" + positionals[spec.args.size()] +
                 "\"; usage: " + UsageLine(spec));
  for (size_t i = 0; i < spec.args.size() && i < positionals.size(); ++i) {
    const ArgSpec& a = spec.args[i];
    if (a.rest) {
      std::string joined;
      for (size_t j = i; j < positionals.size(); ++j) joined += (j > i ? " " : "") + positionals[j];
      inv.args.push_back(joined);
      break;
    }
    Status ok = CheckValue(a.name, a.kind, a.choices, positionals[i]);
    if (!ok.ok()) return ok;
    inv.args.push_back(positionals[i]);
  }
  return inv;
}

Status HelpCommand(Ctx& c, Invocation& inv) {
  std::string topic = inv.Arg(0);
  if (topic.empty()) {
    c.out << Shell::Help();
    return Status::OK();
  }
  std::string text = Shell::Help(topic);
  if (text.empty()) return Usage("no command \"" + topic + "\"; `help` lists them");
  c.out << text;
  return Status::OK();
}

Status Exit(Ctx& c, Invocation&) {
  if (c.exit_requested) *c.exit_requested = true;
  return Status::OK();
}

// ---------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------

// How a record field's shell flag takes its value.
Kind FlagKind(ShellSpelling::Arg arg) {
  switch (arg) {
    case ShellSpelling::Arg::kChoice: return Kind::kChoice;
    case ShellSpelling::Arg::kText: return Kind::kText;
    case ShellSpelling::Arg::kNode: return Kind::kNode;
    case ShellSpelling::Arg::kFile: return Kind::kFile;
    case ShellSpelling::Arg::kNone:
    case ShellSpelling::Arg::kSwitch: return Kind::kNone;
  }
  return Kind::kNone;
}

const std::vector<CommandSpec>& Commands() {
  const FlagSpec watch{"--watch", "-w", Kind::kSeconds, {}, true};
  // The record fields' flags (worker_fields.h): `create` takes every one, `set` those
  // marked on_set plus the clear flags (--no-account).
  auto record_flags = [](bool for_set) {
    std::vector<FlagSpec> flags;
    for (const auto& field : WorkerFields()) {
      const ShellSpelling& sh = field.shell;
      if (sh.arg == ShellSpelling::Arg::kNone || (for_set && !sh.on_set)) continue;
      flags.emplace_back(sh.flag, sh.short_flag, FlagKind(sh.arg), field.choices);
      if (for_set && sh.clear_flag) flags.emplace_back(sh.clear_flag);
    }
    return flags;
  };
  auto with = [](std::vector<FlagSpec> base, std::vector<FlagSpec> more) {
    base.insert(base.end(), more.begin(), more.end());
    return base;
  };
  static const std::vector<CommandSpec> commands = {
      {"workers",
       "[FILTER] [--active|--inactive] [--wide]",
       "list workers (both scopes)",
       "FILTER keeps workers whose sid or note contains it. --wide shows full sids, the\n"
       "creating node, account and assigned node, and whole notes.",
       "Workers",
       {{"FILTER", Kind::kText, true}},
       {{"--wide", "-l"}, {"--active"}, {"--inactive"}},
       nullptr,
       Workers},
      {"show",
       "SID [--script]",
       "a worker's record and script",
       "--script prints only the script, as stored (ami show SID --script > worker.js).",
       "Workers",
       {{"SID", Kind::kSid}},
       {{"--script"}},
       nullptr,
       Show},
      {"create",
       "[TEMPLATE | --template TEMPLATE] [--execution parallel|leader|exclusive]\n"
       "       [--priority critical|high|normal|low] [--mode loop|single] [--scope local|network]\n"
       "       [--account ID] [--node-assigned NODE] [--note TEXT] [--script FILE|-] [--start]",
       "create a worker, from a template or from scratch",
       "TEMPLATE (or --template TEMPLATE) is a template id; `templates` lists them. A\n"
       "TEMPLATE word the node does not offer is a usage error that names its ids.\n"
       "Shows a summary and asks \"Create? [y/N]\" (--yes skips the question). Settings not\n"
       "given come from the template, or the defaults (parallel, normal, loop, local).\n"
       "In the interactive shell, `create` alone starts a dialogue: template, execution\n"
       "mode, priority, worker mode, account and note, with the template's defaults.\n"
       "--execution exclusive needs --node-assigned (unless the template names a node).",
       "Workers",
       {{"TEMPLATE", Kind::kTemplate, true}},
       with(record_flags(false), {{"--template", "-t", Kind::kTemplate}}),
       CheckCreate,
       Create},
      {"edit",
       "SID",
       "edit a worker's script in $EDITOR",
       "Opens $EDITOR (else $VISUAL, else vi) on the script in a temporary file. On exit,\n"
       "a changed script is saved only if nobody changed the worker since it was opened;\n"
       "otherwise nothing is saved and the file is kept, and its path printed, so nothing\n"
       "is lost. A running worker reloads the new script.",
       "Workers",
       {{"SID", Kind::kSid}},
       {},
       nullptr,
       Edit},
      {"set",
       "SID [--execution MODE] [--priority P] [--mode M] [--scope S] [--account ID|--no-account]\n"
       "       [--node-assigned NODE|--no-node-assigned] [--note TEXT] [--script FILE|-]",
       "change a worker's settings",
       "Only the given settings change. A new scope moves the record; a new script\n"
       "hot-reloads a running worker.",
       "Workers",
       {{"SID", Kind::kSid}},
       record_flags(true),
       CheckSet,
       Set},
      {"note",
       "SID TEXT…",
       "set a worker's note",
       "",
       "Workers",
       {{"SID", Kind::kSid}, {"TEXT", Kind::kText, false, true}},
       {},
       nullptr,
       Note},
      {"start", "SID", "start a worker (active: true)", "", "Workers", {{"SID", Kind::kSid}}, {}, nullptr, Start},
      {"stop", "SID", "stop a worker (active: false)", "", "Workers", {{"SID", Kind::kSid}}, {}, nullptr, Stop},
      {"stop-all", "", "stop every worker (asks first)", "", "Workers", {}, {}, nullptr, StopAll},
      {"delete",
       "SID",
       "delete a worker (asks first)",
       "Shows the worker and asks \"Delete it? [y/N]\" (--yes skips the question). The\n"
       "worker is stopped first; its record, lease and statistics go.",
       "Workers",
       {{"SID", Kind::kSid}},
       {},
       nullptr,
       Delete},
      {"stats",
       "[SID] [--cluster] [--watch [SECONDS]]",
       "execution statistics",
       "Running workers, executions, errors (network / critical) and error rates, for this\n"
       "node or, with --cluster, every node (unreachable ones are named). --watch redraws\n"
       "every SECONDS (default 2) until Ctrl-C.",
       "Monitoring",
       {{"SID", Kind::kSid, true}},
       {{"--cluster", "-c"}, watch},
       nullptr,
       Stats},
      {"leader",
       "SID [--watch [SECONDS]]",
       "who holds a leader-mode worker's lease",
       "Leader node, term (the fencing token), election and renewal times and the time\n"
       "left; --watch counts down live (default every second) until Ctrl-C.",
       "Monitoring",
       {{"SID", Kind::kSid}},
       {watch},
       nullptr,
       Leader},
      {"logs",
       "SID [-n LINES] [-f]",
       "a worker's recent log lines",
       "-n how many lines (default 50); -f keeps printing new lines until Ctrl-C.",
       "Monitoring",
       {{"SID", Kind::kSid}},
       {{"-n", "--lines", Kind::kCount}, {"-f", "--follow"}},
       nullptr,
       Logs},
      {"nodes", "", "the cluster's nodes and their state", "", "Monitoring", {}, {}, nullptr, Nodes},
      {"node", "", "this node: id, cluster, version, uptime, run slots", "", "Monitoring", {}, {}, nullptr, NodeInfo},
      {"kv get",
       "SPACE KEY",
       "read a KV entry",
       "SPACE is local or network. KEY is a slash path (market/ticker/42: integer parts\n"
       "are numbers) or a JSON array ('[\"market\",\"ticker\",\"BTC/USDT\"]') for parts\n"
       "with a slash, numeric strings or booleans.",
       "Data",
       {{"SPACE", Kind::kSpace}, {"KEY", Kind::kKey}},
       {},
       CheckKvKey,
       KvGet},
      {"kv set",
       "SPACE KEY VALUE [--string] [--expire-in DURATION]",
       "write a KV entry",
       "VALUE is JSON ('{\"a\":1}', 42, '\"text\"'); --string stores VALUE as text.\n"
       "--expire-in 30s|10m|1h|… lets the entry expire.",
       "Data",
       {{"SPACE", Kind::kSpace}, {"KEY", Kind::kKey}, {"VALUE", Kind::kJson}},
       {{"--string"}, {"--expire-in", "", Kind::kDuration}},
       CheckKvSet,
       KvSet},
      {"kv list",
       "SPACE [PREFIX] [--limit N]",
       "list KV entries under a prefix (all without one)",
       "",
       "Data",
       {{"SPACE", Kind::kSpace}, {"PREFIX", Kind::kPrefix, true}},
       {{"--limit", "", Kind::kCount}},
       CheckKvList,
       KvList},
      {"kv delete",
       "SPACE KEY",
       "delete a KV entry",
       "",
       "Data",
       {{"SPACE", Kind::kSpace}, {"KEY", Kind::kKey}},
       {},
       CheckKvKey,
       KvDelete},
      {"backup",
       "FILE",
       "copy the node's store to FILE while it runs",
       "The node writes FILE itself, on its own machine and as its own user, with SQLite's\n"
       "online backup: one consistent snapshot, taken without stopping anything. A relative\n"
       "FILE is made absolute against this shell's directory. FILE must not exist (a backup\n"
       "never replaces a file) and its directory must be writable by the node — under the\n"
       "packaged service that is /var/lib/ami (e.g. /var/lib/ami/backups/). Restore with\n"
       "`amid --restore FILE --config CONFIG` into a data dir without a store\n"
       "(docs/operations.md).",
       "Data",
       {{"FILE", Kind::kText}},
       {},
       nullptr,
       Backup},
      {"templates",
       "",
       "worker templates this node offers",
       "`templates show ID` shows one with its script.",
       "Catalog",
       {},
       {},
       nullptr,
       Templates},
      {"templates show",
       "ID [--script]",
       "a template's settings and script",
       "",
       "Catalog",
       {{"ID", Kind::kTemplate}},
       {{"--script"}},
       nullptr,
       TemplateShow},
      {"plugins", "", "loaded plugins, exchanges and accounts (no secrets)", "", "Catalog", {}, {}, nullptr, Plugins},
      {"help",
       "[COMMAND]",
       "this overview, or one command's details",
       "",
       "Shell",
       {{"COMMAND", Kind::kCommand, true, true}},
       {},
       nullptr,
       HelpCommand},
      {"exit", "", "leave the interactive shell (also: quit, Ctrl-D)", "", "Shell", {}, {}, nullptr, Exit},
      {"quit", "", "leave the interactive shell", "", "Shell", {}, {}, nullptr, Exit},
  };
  return commands;
}

}  // namespace

// ---------------------------------------------------------------------------------
// Shell
// ---------------------------------------------------------------------------------

struct Shell::Impl {
  Impl(AdminClient& c, Console& con, ShellOptions o) : client(c), console(con), options(o) {}
  AdminClient& client;
  Console& console;
  ShellOptions options;
  bool exit_requested = false;
  // Completion data, fetched from the node at most every few seconds.
  std::vector<std::string> sids, template_ids;
  std::chrono::steady_clock::time_point sids_at, templates_at;
};

Shell::Shell(AdminClient& client, Console& console, ShellOptions options)
    : impl_(std::make_unique<Impl>(client, console, options)) {}
Shell::~Shell() = default;

bool Shell::exit_requested() const { return impl_->exit_requested; }

int Shell::Run(const std::vector<std::string>& given) {
  // "--json workers" as well as "workers --json": leading per-command flags move behind
  // the command word.
  std::vector<std::string> words = given;
  size_t lead = 0;
  while (lead < words.size() && (words[lead] == "--json" || words[lead] == "--yes" || words[lead] == "-y" ||
                                 words[lead] == "--no-color" || words[lead] == "--help" || words[lead] == "-h"))
    ++lead;
  if (lead > 0 && lead < words.size()) std::rotate(words.begin(), words.begin() + lead, words.begin() + lead + 1);
  if (words.empty()) return kExitOk;
  auto inv = Parse(words);
  if (!inv.ok()) {
    std::cerr << "ami: " << inv.status().message() << "\n";
    return kExitUsage;
  }
  ShellOptions opt = impl_->options;
  if (inv->Has("--json")) opt.json = true;
  if (inv->Has("--yes")) opt.yes = true;
  if (inv->Has("--no-color") || opt.json) opt.color = false;
  Ctx c{impl_->client,
        impl_->console,
        opt,
        Style(opt.color),
        isatty(1) != 0,
        std::cout,
        opt.json ? std::cerr : std::cout,
        &impl_->exit_requested,
        &impl_->sids};
  if (inv->Has("--help")) {
    std::cout << Help(inv->spec->name);
    return kExitOk;
  }
  if (inv->spec->check) {
    Status checked = inv->spec->check(c, *inv);
    if (!checked.ok()) {
      std::cerr << "ami: " << checked.message() << "\n";
      // A check that asked the node (create TEMPLATE) may not have reached it.
      return checked.code() == Status::Code::kIOError ? kExitUnreachable : kExitUsage;
    }
  }
  Status st = inv->spec->run(c, *inv);
  std::cout << std::flush;
  if (st.ok()) return kExitOk;
  std::cerr << "ami: " << st.message() << "\n";
  return st.code() == Status::Code::kIOError ? kExitUnreachable : kExitFailed;
}

std::vector<std::string> Shell::Complete(const std::vector<std::string>& before, const std::string& partial) {
  std::vector<std::string> candidates;
  auto sids = [&]() -> std::vector<std::string> {
    const auto now = std::chrono::steady_clock::now();
    if (impl_->sids.empty() || now - impl_->sids_at > std::chrono::seconds(5)) {
      auto list = impl_->client.Call("workers.list", json::object(), std::chrono::seconds(5));
      if (list.ok()) {
        impl_->sids.clear();
        for (const auto& w : *list) impl_->sids.push_back(SidOf(w));
        impl_->sids_at = now;
      }
    }
    return impl_->sids;
  };
  auto templates = [&]() -> std::vector<std::string> {
    const auto now = std::chrono::steady_clock::now();
    if (impl_->template_ids.empty() || now - impl_->templates_at > std::chrono::seconds(30)) {
      auto list = impl_->client.Call("templates.list", json::object(), std::chrono::seconds(5));
      if (list.ok()) {
        impl_->template_ids.clear();
        for (const auto& t : *list) impl_->template_ids.push_back(Str(t, "id"));
        impl_->templates_at = now;
      }
    }
    return impl_->template_ids;
  };
  auto values = [&](Kind kind, const std::vector<std::string>& choices) -> std::vector<std::string> {
    switch (kind) {
      case Kind::kSid: return sids();
      case Kind::kTemplate: return templates();
      case Kind::kSpace: return kScopes;
      case Kind::kChoice: return choices;
      case Kind::kCommand: return TopWords();
      default: return {};
    }
  };
  if (before.empty()) {
    candidates = TopWords();
  } else {
    const CommandSpec* spec = nullptr;
    size_t used = 1;
    if (before.size() >= 2) spec = FindCommand(before[0] + " " + before[1]);
    if (spec)
      used = 2;
    else
      spec = FindCommand(before[0]);
    if (before.size() == 1 && HasSubcommands(before[0])) {
      for (const auto& c : Commands())
        if (c.name.rfind(before[0] + " ", 0) == 0) candidates.push_back(c.name.substr(before[0].size() + 1));
    }
    if (spec) {
      auto find_flag = [&](const std::string& w) -> const FlagSpec* {
        for (const auto* list : {&spec->flags, &kCommonFlags})
          for (const auto& f : *list)
            if (f.name == w || (!f.alias.empty() && f.alias == w)) return &f;
        return nullptr;
      };
      const FlagSpec* pending = nullptr;
      size_t positional = 0;
      for (size_t i = used; i < before.size(); ++i) {
        const FlagSpec* f = before[i].size() > 1 && before[i][0] == '-' ? find_flag(before[i]) : nullptr;
        if (f)
          pending = f->value != Kind::kNone && !f->optional_value ? f : nullptr;
        else if (pending)
          pending = nullptr;
        else
          ++positional;
      }
      if (pending) {
        candidates = values(pending->value, pending->choices);
      } else if (!partial.empty() && partial[0] == '-') {
        for (const auto* list : {&spec->flags, &kCommonFlags})
          for (const auto& f : *list) candidates.push_back(f.name);
      } else if (positional < spec->args.size() ||
                 (!spec->args.empty() && spec->args.back().rest && spec->args.back().kind == Kind::kCommand)) {
        const ArgSpec& a = spec->args[std::min(positional, spec->args.size() - 1)];
        auto more = values(a.kind, a.choices);
        candidates.insert(candidates.end(), more.begin(), more.end());
      }
    }
  }
  std::vector<std::string> out;
  for (const auto& c : candidates)
    if (c.rfind(partial, 0) == 0 && std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  std::sort(out.begin(), out.end());
  return out;
}

std::string Shell::Help(const std::string& command) {
  if (!command.empty()) {
    std::string text;
    for (const auto& c : Commands()) {
      if (c.name != command && c.name.rfind(command + " ", 0) != 0) continue;
      text += "usage: " + UsageLine(c) + "\n  " + c.summary + "\n";
      if (!c.help.empty()) {
        std::istringstream lines(c.help);
        for (std::string l; std::getline(lines, l);) text += "  " + l + "\n";
      }
    }
    return text;
  }
  std::string text =
      "usage: ami [--node HOST:PORT] [--node-dir DATA_DIR] [--token TOKEN | --token-file FILE]\n"
      "           [--tls-ca FILE --tls-cert FILE --tls-key FILE]\n"
      "           [--json] [--yes] [--no-color] [COMMAND …]\n"
      "  no COMMAND: interactive shell (history, tab completion); AMI_NODE / AMI_TOKEN set the\n"
      "  node (default 127.0.0.1:7201) and token. --node-dir (or AMI_NODE_DIR), for a node on\n"
      "  this machine with no tls: section: its data directory, whose tls/ and admin.token\n"
      "  ami then uses. --token-file reads a token from a file. --tls-* (or AMI_TLS_CA,\n"
      "  AMI_TLS_CERT, AMI_TLS_KEY): the cluster CA and your certificate and key, for a node\n"
      "  with a tls: section. SID is a worker sid or a unique prefix of one.\n";
  std::string group;
  for (const auto& c : Commands()) {
    if (c.name == "quit") continue;
    if (c.group != group) {
      group = c.group;
      text += "\n" + group + "\n";
    }
    std::string usage = c.name + (c.synopsis.empty() ? "" : " " + c.synopsis.substr(0, c.synopsis.find('\n')));
    if (c.synopsis.find('\n') != std::string::npos) usage += " …";
    if (DisplayWidth(usage) <= 36)
      text += "  " + usage + std::string(38 - DisplayWidth(usage), ' ') + c.summary + "\n";
    else
      text += "  " + usage + "\n" + std::string(40, ' ') + c.summary + "\n";
  }
  text +=
      "\nEvery command takes --json (raw result JSON), --yes (no questions) and --help.\n"
      "Exit codes: 0 ok, 1 the node refused or failed, 2 bad arguments, 3 cannot connect or\n"
      "unauthorized. `help COMMAND` shows details.\n";
  return text;
}

}  // namespace ami::shell
