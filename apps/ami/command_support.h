// What the shell's commands share (internal to apps/ami): a parsed command line
// (Invocation), the context a command runs in (Ctx), the helpers for reading admin
// replies, resolving sid prefixes, asking for confirmation and watching, and the
// command functions the table in commands.cpp points at.
//
// A command function returns OK or the Status that decides the exit code (commands.h):
// kIOError = the node cannot be reached or refused the token (3), anything else = 1.
// Check functions run before anything changes; their failures are usage errors (2).
// They are local, except that `create TEMPLATE` asks the node for its template ids
// (a check's kIOError is still exit 3).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "apps/ami/admin_client.h"
#include "apps/ami/commands.h"
#include "apps/ami/format.h"
#include "runtime/base/status.h"

namespace ami::shell::cmd {

using json = nlohmann::json;

struct CommandSpec;  // commands.cpp

// One command line, parsed and checked against its CommandSpec.
struct Invocation {
  const CommandSpec* spec = nullptr;
  std::string usage;                         // "note SID TEXT…", for messages
  std::vector<std::string> args;             // positionals (a rest argument joined with spaces)
  std::map<std::string, std::string> flags;  // by long name; "" for switches
  bool own_flags = false;                    // a flag other than --json/--yes/--no-color/--help
  json prepared = json::object();            // what the checks parsed: keys, values, file contents
  bool Has(const std::string& f) const { return flags.count(f) > 0; }
  std::string Flag(const std::string& f, const std::string& def = "") const {
    auto it = flags.find(f);
    return it == flags.end() ? def : it->second;
  }
  std::string Arg(size_t i) const { return i < args.size() ? args[i] : ""; }
};

struct Ctx {
  AdminClient& client;
  Console& console;
  ShellOptions opt;  // with this command's --json / --yes / --no-color applied
  Style style;
  bool tty_out = false;  // stdout is a terminal: --watch clears the screen
  std::ostream& out;     // results
  std::ostream& info;    // summaries, progress, prompts: stderr under --json
  bool* exit_requested = nullptr;
  std::vector<std::string>* sid_cache = nullptr;  // completion's sids; cleared on create/delete
};

// The record's enum choices (runtime/model/worker_fields.h); kScopes also names KV spaces.
extern const std::vector<std::string> kExecutionModes;  // parallel leader exclusive
extern const std::vector<std::string> kPriorities;      // critical high normal low
extern const std::vector<std::string> kModes;           // loop single
extern const std::vector<std::string> kScopes;          // local network

// --- local checks (usage errors) ---
Status Usage(const std::string& message);  // InvalidArgument
// The same code with `extra` appended to the message.
Status Annotate(const Status& s, const std::string& extra);
bool IsSidText(const std::string& s);      // 1..36 hex digits and dashes
bool IsPlainNumber(const std::string& s);  // 12, 0.5
// "10s", "250ms", "1h30m", "1.5m" -> milliseconds.
std::optional<int64_t> ParseDurationMs(const std::string& text);
// A KV key as typed: a JSON array (["market","ticker","BTC/USDT"]) or a slash path
// (market/ticker/42) whose integer parts are numbers. Slash paths cannot hold a part
// with a "/" in it, or the string "42": those need the JSON form.
Result<json> ParseKey(const std::string& text, bool allow_empty);
// A file's text, or stdin's for "-".
Result<std::string> ReadInput(const std::string& file);

// --- reading replies (tolerant: a missing field gives the default) ---
const json& Record(const json& worker);  // Worker.record (the worker itself if it has none)
std::string Str(const json& o, const std::string& key, const std::string& def = "");
// A record field's default (worker_fields.h) as text: "parallel" for executionMode.
std::string FieldDefaultText(const std::string& field);
// A record's field as text, the field's default when missing.
std::string RecordStr(const json& record, const std::string& field);
int64_t Int(const json& o, const std::string& key, int64_t def = 0);
bool Bool(const json& o, const std::string& key, bool def = false);
std::string Short(const std::string& sid);  // first 8 characters
std::string SidOf(const json& worker);
std::string WorkerStatus(const json& worker);
// A template's suggested value: templates.get nests them under `defaults`, templates.list
// has them at the top.
std::string TemplateDefault(const json& t, const std::string& field, const std::string& def);
// The same, falling back to the record field's default.
std::string TemplateDefault(const json& t, const std::string& field);
// The editor guide's words: "leader on auto-elected node", "critical (50 errors, 1ms delay)",
// "loop (engine managed)".
std::string DescribeExecution(const std::string& mode, const std::string& assigned);
std::string DescribePriority(const std::string& priority);
std::string DescribeMode(const std::string& mode);
// A KV key for people: the node sends numeric parts as JSON doubles; 1.0 reads as 1.
std::string KeyText(json key);
void PrintJson(Ctx& c, const json& value);

// --- talking to the node and the operator ---
Result<json> Call(Ctx& c, const std::string& op, const json& args = json::object(),
                  std::chrono::milliseconds timeout = std::chrono::seconds(60));
// The Worker whose sid is `text` or starts with it (case-insensitive): NotFound naming
// the prefix, or InvalidArgument listing the matches when it is ambiguous.
Result<json> ResolveWorker(Ctx& c, const std::string& text);
// A yes/no question, default no; --yes answers yes. Aborted "cancelled; nothing changed".
Status Confirm(Ctx& c, const std::string& question);
// Sleeps up to `seconds` in small steps; false as soon as Ctrl-C was pressed.
bool Pause(double seconds);
// Repeats `draw` every `seconds` until Ctrl-C, clearing the screen on a terminal. The
// first failure ends it; later ones are shown and it keeps going (a node that restarts
// comes back on the screen by itself). OK when ended by Ctrl-C.
Status Watch(Ctx& c, double seconds, const std::string& title, const std::function<Status(bool first)>& draw);

// --- the commands (worker_commands.cpp, create_command.cpp, monitor_commands.cpp,
// data_commands.cpp) ---
Status Workers(Ctx&, Invocation&);
Status Show(Ctx&, Invocation&);
Status CheckCreate(Ctx&, Invocation&);
// Shared by create and set: the record fields their flags give (the shell spellings of
// worker_fields.h; a clear flag such as --no-account gives null), and the check that
// reads a file flag (--script FILE) into inv.prepared[<field>].
json FieldsFromFlags(const Invocation& inv);
Status CheckScriptFlag(Ctx&, Invocation& inv);
Status Create(Ctx&, Invocation&);
Status Edit(Ctx&, Invocation&);
Status CheckSet(Ctx&, Invocation&);
Status Set(Ctx&, Invocation&);
Status Note(Ctx&, Invocation&);
Status Start(Ctx&, Invocation&);
Status Stop(Ctx&, Invocation&);
Status StopAll(Ctx&, Invocation&);
Status Delete(Ctx&, Invocation&);
Status Stats(Ctx&, Invocation&);
Status Leader(Ctx&, Invocation&);
Status Logs(Ctx&, Invocation&);
Status Nodes(Ctx&, Invocation&);
Status NodeInfo(Ctx&, Invocation&);
Status Templates(Ctx&, Invocation&);
Status TemplateShow(Ctx&, Invocation&);
Status Plugins(Ctx&, Invocation&);
Status CheckKvKey(Ctx&, Invocation&);
Status CheckKvSet(Ctx&, Invocation&);
Status CheckKvList(Ctx&, Invocation&);
Status KvGet(Ctx&, Invocation&);
Status KvSet(Ctx&, Invocation&);
Status KvList(Ctx&, Invocation&);
Status KvDelete(Ctx&, Invocation&);
Status Backup(Ctx&, Invocation&);

}  // namespace ami::shell::cmd
