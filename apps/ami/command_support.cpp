#include "apps/ami/command_support.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "runtime/model/worker_fields.h"

namespace ami::shell::cmd {

const std::vector<std::string> kExecutionModes = EnumNames<ExecutionMode>();
const std::vector<std::string> kPriorities = EnumNames<Priority>();
const std::vector<std::string> kModes = EnumNames<WorkerMode>();
const std::vector<std::string> kScopes = EnumNames<Scope>();

Status Usage(const std::string& message) { return Status::InvalidArgument(message); }

Status Annotate(const Status& s, const std::string& extra) {
  const std::string m = s.message() + extra;
  switch (s.code()) {
    case Status::Code::kInvalidArgument: return Status::InvalidArgument(m);
    case Status::Code::kNotFound: return Status::NotFound(m);
    case Status::Code::kConflict: return Status::Conflict(m);
    case Status::Code::kIOError: return Status::IOError(m);
    case Status::Code::kAborted: return Status::Aborted(m);
    default: return Status::Internal(m);
  }
}

bool IsSidText(const std::string& s) {
  return !s.empty() && s.size() <= 36 && s.find_first_not_of("0123456789abcdefABCDEF-") == std::string::npos;
}

bool IsPlainNumber(const std::string& s) {
  if (s.empty() || s.size() > 12) return false;
  bool dot = false;
  for (char c : s) {
    if (c == '.' && !dot)
      dot = true;
    else if (!std::isdigit(static_cast<unsigned char>(c)))
      return false;
  }
  return s != ".";
}

std::optional<int64_t> ParseDurationMs(const std::string& text) {
  if (text.empty()) return std::nullopt;
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    while (j < text.size() && (std::isdigit(static_cast<unsigned char>(text[j])) || text[j] == '.')) ++j;
    if (j == i) return std::nullopt;
    const double n = std::strtod(text.substr(i, j - i).c_str(), nullptr);
    size_t k = j;
    while (k < text.size() && std::isalpha(static_cast<unsigned char>(text[k]))) ++k;
    const std::string unit = text.substr(j, k - j);
    double factor = 0;
    if (unit == "ms")
      factor = 1;
    else if (unit == "s")
      factor = 1000;
    else if (unit == "m")
      factor = 60'000;
    else if (unit == "h")
      factor = 3'600'000;
    else if (unit == "d")
      factor = 86'400'000;
    else
      return std::nullopt;
    total += n * factor;
    i = k;
  }
  return static_cast<int64_t>(std::llround(total));
}

Result<json> ParseKey(const std::string& text, bool allow_empty) {
  if (!text.empty() && text.front() == '[') {
    auto parsed = json::parse(text, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_array())
      return Usage("KEY: \"" + text + "\" is not a JSON array (use [\"a\",\"b\",1] or a/b/1)");
    for (const auto& part : parsed)
      if (!part.is_string() && !part.is_number() && !part.is_boolean())
        return Usage("KEY: parts must be strings, numbers or booleans, got " + part.dump());
    if (parsed.empty() && !allow_empty) return Usage("KEY: must have at least one part");
    return parsed;
  }
  json key = json::array();
  std::string path = text;
  if (!path.empty() && path.back() == '/') path.pop_back();
  if (path.empty()) {
    if (allow_empty) return key;
    return Usage("KEY: must have at least one part (e.g. market/ticker or [\"market\",\"ticker\"])");
  }
  size_t start = 0;
  while (true) {
    const auto slash = path.find('/', start);
    const std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty()) return Usage("KEY: \"" + text + "\" has an empty part");
    const bool integer = part.size() <= 15 &&
                         part.find_first_not_of("0123456789", part[0] == '-' ? 1 : 0) == std::string::npos &&
                         part != "-";
    if (integer)
      key.push_back(std::stoll(part));
    else
      key.push_back(part);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return key;
}

Result<std::string> ReadInput(const std::string& file) {
  std::stringstream ss;
  if (file == "-") {
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return Usage("cannot read \"" + file + "\": " + std::strerror(errno));
  ss << in.rdbuf();
  return ss.str();
}

const json& Record(const json& worker) {
  static const json empty = json::object();
  if (worker.is_object() && worker.contains("record") && worker["record"].is_object()) return worker["record"];
  return worker.is_object() ? worker : empty;
}

std::string Str(const json& o, const std::string& key, const std::string& def) {
  if (!o.is_object()) return def;
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return def;
  return it->is_string() ? it->get<std::string>() : it->dump();
}

int64_t Int(const json& o, const std::string& key, int64_t def) {
  if (!o.is_object()) return def;
  auto it = o.find(key);
  if (it == o.end()) return def;
  auto n = AsNumber(*it);
  return n ? static_cast<int64_t>(*n) : def;
}

bool Bool(const json& o, const std::string& key, bool def) {
  if (!o.is_object()) return def;
  auto it = o.find(key);
  return it != o.end() && it->is_boolean() ? it->get<bool>() : def;
}

std::string Short(const std::string& sid) { return sid.substr(0, 8); }

std::string WorkerStatus(const json& w) {
  std::string status = Str(w, "status");
  if (status.empty()) status = Bool(w, "running") ? "running" : "stopped";
  return status;
}

std::string DescribeExecution(const std::string& mode, const std::string& assigned) {
  if (mode == "leader") return "leader on auto-elected node";
  if (mode == "exclusive") return "exclusive on " + (assigned.empty() ? std::string("(no node assigned)") : assigned);
  return "parallel on every node";
}

std::string DescribePriority(const std::string& p) {
  if (p == "critical") return "critical (50 errors, 1ms delay)";
  if (p == "high") return "high (20 errors, 10ms delay)";
  if (p == "low") return "low (5 errors, 1s delay)";
  return "normal (10 errors, 100ms delay)";
}

std::string DescribeMode(const std::string& m) {
  return m == "single" ? "single (the script runs its own loop)" : "loop (engine managed)";
}

void PrintJson(Ctx& c, const json& value) { c.out << value.dump(2) << "\n"; }

std::string KeyText(json key) {
  if (key.is_array())
    for (auto& part : key)
      if (part.is_number_float() && std::abs(part.get<double>()) < 9e15 &&
          part.get<double>() == std::floor(part.get<double>()))
        part = static_cast<int64_t>(part.get<double>());
  return key.dump();
}

Result<json> Call(Ctx& c, const std::string& op, const json& args, std::chrono::milliseconds timeout) {
  return c.client.Call(op, args, timeout);
}

Result<json> ResolveWorker(Ctx& c, const std::string& text) {
  std::string prefix = text;
  std::transform(prefix.begin(), prefix.end(), prefix.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (prefix.size() == 36) {
    auto w = Call(c, "workers.get", {{"sid", prefix}});
    if (!w.ok() && w.status().code() == Status::Code::kNotFound)
      return Status::NotFound("no worker with sid " + prefix + " (`workers` lists them)");
    return w;
  }
  auto list = Call(c, "workers.list");
  if (!list.ok()) return list.status();
  std::vector<const json*> matches;
  for (const auto& w : *list) {
    std::string sid = Str(w, "sid", Str(Record(w), "sid"));
    std::transform(sid.begin(), sid.end(), sid.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (sid.rfind(prefix, 0) == 0) matches.push_back(&w);
  }
  if (matches.empty())
    return Status::NotFound("no worker with a sid starting with \"" + text + "\" (`workers` lists them)");
  if (matches.size() > 1) {
    std::string list_text;
    for (size_t i = 0; i < matches.size() && i < 5; ++i) list_text += (i ? ", " : "") + Str(*matches[i], "sid");
    if (matches.size() > 5) list_text += ", …";
    return Status::InvalidArgument("sid prefix \"" + text + "\" is ambiguous: " + std::to_string(matches.size()) +
                                   " workers match (" + list_text + "); give more digits");
  }
  return *matches[0];
}

std::string SidOf(const json& worker) { return Str(worker, "sid", Str(Record(worker), "sid")); }

Status Confirm(Ctx& c, const std::string& question) {
  if (c.opt.yes) return Status::OK();
  auto answer = c.console.Ask(question + " [y/N] ", {"y", "n"});
  if (answer) {
    std::string a = *answer;
    a.erase(0, a.find_first_not_of(" \t"));
    a.erase(a.find_last_not_of(" \t\r") + 1);
    if (a == "y" || a == "Y" || a == "yes" || a == "YES" || a == "Yes") return Status::OK();
  }
  return Status::Aborted("cancelled; nothing changed" +
                         std::string(c.console.interactive() ? "" : " (give --yes to confirm without a question)"));
}

bool Pause(double seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (std::chrono::steady_clock::now() < until) {
    if (Interrupted()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return !Interrupted();
}

namespace {
std::string SecondsText(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%gs", seconds);
  return buf;
}
}  // namespace

Status Watch(Ctx& c, double seconds, const std::string& title, const std::function<Status(bool first)>& draw) {
  CatchInterrupts catching;
  ClearInterrupt();
  for (bool first = true;; first = false) {
    if (c.tty_out && !c.opt.json) c.out << "\x1b[H\x1b[2J";
    if (!c.opt.json)
      c.out << c.style(Color::kDim, title + " · every " + SecondsText(seconds) + " · " + FormatTime(NowMillis()) +
                                        " · Ctrl-C to stop")
            << "\n";
    Status st = draw(first);
    if (!st.ok()) {
      if (first) return st;
      std::cerr << "ami: " << st.message() << "\n";
    }
    c.out << std::flush;
    if (!Pause(seconds)) break;
  }
  ClearInterrupt();
  if (!c.opt.json) c.info << "\n";
  return Status::OK();
}

std::string FieldDefaultText(const std::string& field) {
  const WorkerField* f = FindField(field);
  if (!f) return "";
  const json v = FieldDefault(*f);
  return v.is_string() ? v.get<std::string>() : v.is_null() ? "" : v.dump();
}

std::string RecordStr(const json& record, const std::string& field) {
  return Str(record, field, FieldDefaultText(field));
}

std::string TemplateDefault(const json& t, const std::string& field) {
  return TemplateDefault(t, field, FieldDefaultText(field));
}

std::string TemplateDefault(const json& t, const std::string& field, const std::string& def) {
  if (t.contains("defaults") && t["defaults"].is_object()) {
    const std::string v = Str(t["defaults"], field);
    if (!v.empty()) return v;
  }
  return Str(t, field, def);
}

}  // namespace ami::shell::cmd
