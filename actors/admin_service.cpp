// The admin service: docs/admin-api.md is the contract this file implements.
//
// One event-based actor, spawned detached (its own thread). Detached because a few steps
// are blocking work that must not hold a scheduler thread the workers' scripts run on:
// the script syntax check (a throwaway V8 isolate, a few ms), reading log files, and
// hashing tokens. Everything that waits — the store, the node, the cluster actor — is an
// asynchronous request with a deadline (request(...).then), so many admin requests can be
// in flight at once and a slow one never holds up the others. Each request carries a
// `Done` callback that answers it exactly once; a step that fails calls it with a Status
// whose code picks the error code of the reply.
// Over 600 lines today: it does seven jobs; splitting it by domain is issue #10.
#include "actors/admin_service.h"

#include <caf/all.hpp>

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <deque>
#include <map>
#include <functional>
#include <nlohmann/json.hpp>

#include "actors/messages.h"
#include "runtime/base/clock.h"
#include "runtime/node/worker_catalog.h"
#include "runtime/store/kv_key.h"

#ifndef AMI_VERSION
#define AMI_VERSION "0.1.0"  // keep in step with project(ami VERSION …) until the build passes it
#endif

namespace ami {

namespace {

using json = nlohmann::json;
using Done = std::function<void(Result<json>)>;

constexpr auto kStoreTimeout = std::chrono::seconds(15);
constexpr auto kNodeTimeout = std::chrono::seconds(10);
constexpr auto kClusterTimeout = std::chrono::seconds(10);
constexpr size_t kMaxRequestBytes = 1 << 20;
constexpr int kMaxRequestDepth = 64;         // arrays/objects inside one another
constexpr int kUpdateAttempts = 3;           // read-merge-write rounds when others write in between
constexpr int64_t kMaxTailLines = 10000;
constexpr size_t kMaxTailBytes = 1 << 20;    // of log text per reply
constexpr int64_t kMaxListLimit = 10000;

// ---- replies ------------------------------------------------------------------------

// kAborted is what a request that got no answer in time becomes: "unavailable".
Status Unavailable(std::string message) { return Status::Aborted(std::move(message)); }

const char* ErrorCode(const Status& s) {
  switch (s.code()) {
    case Status::Code::kInvalidArgument:
    case Status::Code::kScriptError:
    case Status::Code::kLimitExceeded: return "invalid";
    case Status::Code::kNotFound: return "not_found";
    case Status::Code::kConflict: return "conflict";
    case Status::Code::kAborted: return "unavailable";
    default: return "internal";
  }
}

// Bytes that are not UTF-8 (a log line, a stored value) become U+FFFD instead of throwing.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string ErrorReply(const char* code, const std::string& message) {
  return Dump(json{{"ok", false}, {"error", {{"code", code}, {"message", message}}}});
}

std::string ReplyText(const Result<json>& r) {
  if (r.ok()) return Dump(json{{"ok", true}, {"result", *r}});
  return ErrorReply(ErrorCode(r.status()), r.status().message());
}

// Answers once: later calls (a bug) are ignored rather than answering twice.
Done AnswerOnce(std::function<void(std::string)> deliver) {
  auto answered = std::make_shared<bool>(false);
  return [answered, deliver = std::move(deliver)](Result<json> r) {
    if (*answered) return;
    *answered = true;
    deliver(ReplyText(r));
  };
}

// Runs `f`; an exception (a bug: nlohmann throws on misuse) answers `internal` instead of
// ending the actor.
template <class F>
void Guard(const Done& done, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    spdlog::error("admin: internal error: {}", e.what());
    done(Status::Internal(std::string("admin service: ") + e.what()));
  }
}

std::string Quoted(std::string_view s) { return Dump(json(std::string(s))); }

// How deeply arrays and objects nest in JSON text (strings skipped), counted before parsing:
// a megabyte of "[[[[…" must be refused, not built and torn down recursively.
int NestingDepth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// ---- arguments ----------------------------------------------------------------------

Status Invalid(const std::string& field, const std::string& what) {
  return Status::InvalidArgument(field + ": " + what);
}

// `obj` holds only keys from `known`; `prefix` names where it is ("changes.").
Status OnlyKnown(const json& obj, const std::vector<std::string>& known, const std::string& prefix,
                 const std::string& where) {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    if (known.empty()) return Invalid(prefix + key, "unknown field; " + where + " takes no arguments");
    return Invalid(prefix + key, "unknown field for " + where + "; known: " + Join(known));
  }
  return Status::OK();
}

// The value of `name`, or nullptr when absent or null (optional arguments).
const json* Arg(const json& args, const char* name) {
  auto it = args.find(name);
  if (it == args.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::string> RequiredString(const json& args, const char* name) {
  const json* v = Arg(args, name);
  if (!v) return Invalid(name, "required");
  if (!v->is_string()) return Invalid(name, std::string("expected a string, got ") + v->type_name());
  return v->get<std::string>();
}

Result<std::string> RequiredSid(const json& args) {
  auto sid = RequiredString(args, "sid");
  if (!sid.ok()) return sid;
  if (!IsUuid(*sid)) return Invalid("sid", Quoted(sid->substr(0, 64)) + " is not a worker id (a UUID)");
  return sid;
}

Result<std::optional<int64_t>> OptionalInt(const json& args, const char* name, int64_t min, int64_t max) {
  const json* v = Arg(args, name);
  if (!v) return std::optional<int64_t>();
  const std::string want = "expected an integer between " + std::to_string(min) + " and " + std::to_string(max);
  int64_t n = 0;
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) return Invalid(name, want);
    n = static_cast<int64_t>(u);
  } else if (v->is_number_integer()) {
    n = v->get<int64_t>();
  } else if (const double d = v->is_number_float() ? v->get<double>() : 0.5;
             d > -9e18 && d < 9e18 && d == static_cast<double>(static_cast<int64_t>(d))) {
    n = static_cast<int64_t>(d);  // 50.0 from a client that only has doubles
  } else {
    return Invalid(name, want);
  }
  if (n < min || n > max) return Invalid(name, want);
  return std::optional<int64_t>(n);
}

Result<bool> OptionalBool(const json& args, const char* name, bool fallback) {
  const json* v = Arg(args, name);
  if (!v) return fallback;
  if (!v->is_boolean()) return Invalid(name, "expected true or false");
  return v->get<bool>();
}

// 20 hex digits, or the number they stand for.
Result<std::optional<uint64_t>> OptionalVersionstamp(const json& args) {
  const json* v = Arg(args, "versionstamp");
  if (!v) return std::optional<uint64_t>();
  if (v->is_number_unsigned()) return std::optional<uint64_t>(v->get<uint64_t>());
  if (v->is_string()) {
    auto parsed = kv::ParseVersionstamp(v->get<std::string>());
    if (!parsed.ok()) return Invalid("versionstamp", parsed.status().message());
    return std::optional<uint64_t>(*parsed);
  }
  return Invalid("versionstamp", "expected 20 hex digits like \"00000000000000070000\" (or that number)");
}

Result<kv::Space> RequiredSpace(const json& args) {
  auto text = RequiredString(args, "space");
  if (!text.ok()) return text.status();
  if (*text == "local") return kv::Space::kLocal;
  if (*text == "network") return kv::Space::kNetwork;
  return Invalid("space", Quoted(text->substr(0, 64)) + " is not one of local|network");
}

// A key argument; kv::KeyFromJson's messages say "key…", renamed to `name`.
Result<kv::Key> KeyArg(const json& args, const char* name, bool allow_empty) {
  const json* v = Arg(args, name);
  if (!v) return Invalid(name, "required (a key as a JSON array, e.g. [\"prices\",\"BTC\"])");
  auto key = kv::KeyFromJson(*v);
  if (!key.ok()) {
    std::string message = key.status().message();
    if (message.rfind("key", 0) == 0) message = name + message.substr(3);
    return Status::InvalidArgument(message);
  }
  if (Status s = kv::ValidateKey(*key); !s.ok()) return Invalid(name, s.message());
  if (!allow_empty && key->empty()) return Invalid(name, "must not be empty");
  return key;
}

bool IsReserved(const kv::Key& key) {
  return !key.empty() && key[0].type == kv::KeyPart::Type::kString && key[0].text == "ami";
}

// "raw.x: …" / "x: …" from the record and template parsers, as the request names it.
Status Rename(const Status& s, const std::string& from, const std::string& to) {
  if (s.code() != Status::Code::kInvalidArgument || s.message().rfind(from, 0) != 0) return s;
  return Status::InvalidArgument(to + s.message().substr(from.size()));
}

Status CheckScript(const std::string& script) {
  js::ScriptError error;
  if (js::Engine::CheckSyntax(script, &error).ok()) return Status::OK();
  return Invalid("script", error.Describe());
}

// ---- worker records -----------------------------------------------------------------

const std::vector<std::string> kCreateFields = {"script", "note", "mode", "priority", "executionMode", "scope",
                                                "accountId", "assignedNode", "dependencies", "version", "active"};
const std::vector<std::string> kChangeFields = {"script", "note", "mode", "priority", "executionMode", "scope",
                                                "accountId", "assignedNode", "active", "dependencies", "version",
                                                "sid", "nid", "timestamp"};
const std::vector<std::string> kOverrideFields = {"note", "mode", "priority", "executionMode", "scope", "accountId",
                                                  "assignedNode", "active", "script", "dependencies", "version"};

// A stored entry of a worker record.
struct Found {
  kv::Space space = kv::Space::kLocal;
  kv::Entry entry;
  WorkerRecord record;
};

// The record in both spaces (either may be absent).
struct Lookup {
  std::optional<kv::Entry> local;
  std::optional<kv::Entry> network;
};

Result<WorkerRecord> ParseRecord(const kv::Entry& entry, kv::Space space) {
  auto value = json::parse(entry.value, nullptr, false);
  auto record = value.is_discarded() ? Result<WorkerRecord>(Status::InvalidArgument("value: not JSON"))
                                     : RecordFromStoredValue(value);
  if (!record.ok())
    return Status::Internal("the worker record at " + kv::KeyToString(entry.key) + " in the " + kv::ToString(space) +
                            " space cannot be read: " + record.status().message());
  return record;
}

// The record a sid names: the local one when both exist (the node reads local first too).
Result<Found> Primary(const Lookup& lookup, const std::string& sid) {
  const kv::Space space = lookup.local ? kv::Space::kLocal : kv::Space::kNetwork;
  const std::optional<kv::Entry>& entry = lookup.local ? lookup.local : lookup.network;
  if (!entry) return Status::NotFound("worker " + sid + " not found");
  auto record = ParseRecord(*entry, space);
  if (!record.ok()) return record.status();
  return Found{space, *entry, std::move(*record)};
}

// Create arguments / template overrides (types checked by OverridesFromJson) as a record's
// fields; `prefix` names the object in messages.
Result<TemplateOverrides> ParseOverrides(const json& body, const std::string& prefix) {
  auto o = OverridesFromJson(body);
  if (!o.ok()) return Status::InvalidArgument(prefix + o.status().message());
  return o;
}

// Shallow merge of `changes` (keys already checked against kChangeFields) into `record`.
Result<WorkerRecord> Merge(const WorkerRecord& record, const json& changes) {
  json raw = RecordToJson(record);
  for (const auto& [key, value] : changes.items()) {
    if (key == "sid" || key == "nid") {
      if (value != raw[key])
        return Invalid("changes." + key, "is immutable (stored " + Quoted(raw[key].get<std::string>()) + ")");
      continue;
    }
    if (key == "timestamp") continue;  // the server sets it
    if ((key == "accountId" || key == "assignedNode") && value.is_string() && value.get<std::string>().empty()) {
      raw[key] = nullptr;
      continue;
    }
    raw[key] = value;
  }
  auto merged = RecordFromJson(raw);
  if (!merged.ok()) return Rename(merged.status(), "raw.", "changes.");
  if (Status s = ValidateRecord(*merged); !s.ok()) return s;
  return merged;
}

bool SameIgnoringTimestamp(WorkerRecord a, const WorkerRecord& b) {
  a.timestamp = b.timestamp;
  return a == b;
}

kv::Mutation SetRecord(const WorkerRecord& record) {
  return kv::Mutation{kv::Mutation::Kind::kSet, WorkerKey(record.sid), RecordToStoredValue(record).dump(),
                      std::nullopt};
}

kv::Mutation Delete(const kv::Key& key) { return kv::Mutation{kv::Mutation::Kind::kDelete, key, {}, std::nullopt}; }

// ---- log files ----------------------------------------------------------------------
//
// A cursor is "<inode>:<offset>": the file (by inode, which survives the rename of a
// rotation) and the byte after the last line returned. Rotation renames <sid>.log to
// .log.1, … so the file behind a cursor is found again among the backups.

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  Fd& operator=(Fd&&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

struct LogFile {
  Fd fd;
  uint64_t inode = 0;
  uint64_t size = 0;
  bool current = false;  // <sid>.log (may still grow; its last line may be incomplete)
};

// The worker's log files, oldest first; opened together so that a rotation while we read
// does not mix files (an open descriptor keeps its file whatever it is renamed to).
std::vector<LogFile> OpenLogFiles(const std::filesystem::path& dir, const std::string& sid, int files) {
  std::vector<LogFile> out;
  for (int i = std::max(1, files) - 1; i >= 0; --i) {
    const auto path = dir / (sid + ".log" + (i == 0 ? "" : "." + std::to_string(i)));
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.fd < 0) continue;
    struct stat st {};
    if (::fstat(fd.fd, &st) != 0) continue;
    out.push_back(LogFile{std::move(fd), static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size), i == 0});
  }
  return out;
}

Result<std::string> ReadAt(const LogFile& f, uint64_t offset, size_t length) {
  std::string buf(length, '\0');
  size_t got = 0;
  while (got < length) {
    const ssize_t n = ::pread(f.fd.fd, buf.data() + got, length - got, static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(std::string("reading a worker log: ") + std::strerror(errno));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  buf.resize(got);
  return buf;
}

struct Cursor {
  uint64_t inode = 0;   // 0: no file yet
  uint64_t offset = 0;
};

std::string FormatCursor(const Cursor& c) { return std::to_string(c.inode) + ":" + std::to_string(c.offset); }

Result<Cursor> ParseCursor(const std::string& text) {
  Cursor c;
  const auto colon = text.find(':');
  auto number = [](std::string_view s, uint64_t& out) {
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc() && end == s.data() + s.size();
  };
  if (colon == std::string::npos || !number(std::string_view(text).substr(0, colon), c.inode) ||
      !number(std::string_view(text).substr(colon + 1), c.offset))
    return Invalid("cursor", Quoted(text.substr(0, 64)) + " is not a cursor from an earlier logs.tail reply");
  return c;
}

// Where complete lines end in `f`: its size, or for the current file just after its last
// newline (a line still being written is held back).
Result<uint64_t> CompleteEnd(const LogFile& f) {
  if (!f.current || f.size == 0) return f.size;
  uint64_t pos = f.size;
  while (pos > 0) {
    const size_t len = static_cast<size_t>(std::min<uint64_t>(pos, 64 * 1024));
    auto chunk = ReadAt(f, pos - len, len);
    if (!chunk.ok()) return chunk.status();
    const auto nl = chunk->rfind('\n');
    if (nl != std::string::npos) return pos - len + nl + 1;
    pos -= len;
  }
  return uint64_t{0};
}

struct TailResult {
  std::vector<std::string> lines;
  Cursor cursor;
  bool more = false;
};

// The last `want` lines over all files (newest file first, backwards), at most
// kMaxTailBytes of them; the cursor points after the last complete line of the current file.
Result<TailResult> TailLines(const std::vector<LogFile>& files, size_t want) {
  TailResult out;
  std::vector<std::string> newest_first;
  size_t bytes = 0;
  bool full = false;
  for (auto f = files.rbegin(); f != files.rend() && !full; ++f) {
    auto end = CompleteEnd(*f);
    if (!end.ok()) return end.status();
    if (f == files.rbegin()) out.cursor = Cursor{f->inode, *end};  // the newest file
    if (*end == 0) continue;
    // Split [0, end) into lines from the back; `tail` holds bytes not yet split.
    uint64_t pos = *end - 1;  // drop the final newline
    std::string tail;
    {
      auto last = ReadAt(*f, *end - 1, 1);
      if (!last.ok()) return last.status();
      if (*last != "\n") pos = *end;  // a backup that does not end in a newline
    }
    while (true) {
      const auto nl = tail.rfind('\n');
      if (nl != std::string::npos || pos == 0) {
        std::string line = nl == std::string::npos ? std::move(tail) : tail.substr(nl + 1);
        bytes += line.size();
        if (bytes > kMaxTailBytes) {
          full = true;
          break;
        }
        newest_first.push_back(std::move(line));
        if (newest_first.size() >= want) {
          full = true;
          break;
        }
        if (nl == std::string::npos) break;  // that was the file's first line
        tail.resize(nl);
        continue;
      }
      if (bytes + tail.size() > kMaxTailBytes) {  // one line longer than a whole reply
        full = true;
        break;
      }
      const size_t len = static_cast<size_t>(std::min<uint64_t>(pos, 64 * 1024));
      auto chunk = ReadAt(*f, pos - len, len);
      if (!chunk.ok()) return chunk.status();
      tail = *chunk + tail;
      pos -= len;
    }
  }
  out.lines.assign(newest_first.rbegin(), newest_first.rend());
  return out;
}

// The lines after `cursor`, oldest first, at most about kMaxTailBytes of them.
Result<TailResult> LinesAfter(const std::vector<LogFile>& files, Cursor cursor) {
  TailResult out;
  out.cursor = cursor;
  if (files.empty()) return out;
  size_t start = 0;
  uint64_t offset = 0;
  auto same = std::find_if(files.begin(), files.end(), [&](const LogFile& f) { return f.inode == cursor.inode; });
  if (same != files.end()) {
    start = static_cast<size_t>(same - files.begin());
    offset = cursor.offset <= same->size ? cursor.offset : 0;  // shrunk: truncated, start over
  }  // else: rotated away entirely (or no file before): from the oldest file there is
  size_t bytes = 0;
  for (size_t i = start; i < files.size(); ++i, offset = 0) {
    const LogFile& f = files[i];
    auto end = CompleteEnd(f);
    if (!end.ok()) return end.status();
    out.cursor = Cursor{f.inode, std::max(offset, *end)};
    if (offset >= *end) continue;
    if (bytes >= kMaxTailBytes) {
      out.cursor = Cursor{f.inode, offset};
      out.more = true;
      return out;
    }
    const size_t len = static_cast<size_t>(std::min<uint64_t>(*end - offset, kMaxTailBytes - bytes + 64 * 1024));
    auto text = ReadAt(f, offset, len);
    if (!text.ok()) return text.status();
    // Whole lines only; the last one may be cut by `len`, then it comes next time.
    size_t begin = 0;
    uint64_t consumed = offset;
    while (begin < text->size()) {
      const auto nl = text->find('\n', begin);
      const bool at_end = offset + text->size() == *end;
      if (nl == std::string::npos && !(at_end && !f.current)) break;
      const size_t stop = nl == std::string::npos ? text->size() : nl;
      out.lines.push_back(text->substr(begin, stop - begin));
      bytes += stop - begin;
      begin = nl == std::string::npos ? text->size() : nl + 1;
      consumed = offset + begin;
      if (bytes >= kMaxTailBytes) break;
    }
    if (consumed == offset && !text->empty() && out.lines.empty()) {
      // One line longer than a whole reply: hand it over in pieces rather than never.
      out.lines.push_back(*text);
      consumed = offset + text->size();
    }
    if (consumed < *end) {
      out.cursor = Cursor{f.inode, consumed};
      out.more = true;
      return out;
    }
    out.cursor = Cursor{f.inode, *end};
  }
  return out;
}

// ---- the actor ----------------------------------------------------------------------

std::array<unsigned char, 32> Sha256(std::string_view text) {
  std::array<unsigned char, 32> out{};
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

struct AdminState {
  static inline const char* name = "ami.admin";

  caf::stateful_actor<AdminState>* self = nullptr;
  AdminContext ctx;
  bool open = false;                        // no token configured (loopback only)
  std::array<unsigned char, 32> token_digest{};
  int64_t refused_logged_ms = 0;            // last "unauthorized" log line
  uint64_t refused_since_log = 0;
  // Writes to one worker record made through this service run one after another, so they
  // never make each other retry (the compare-and-set still guards against other writers:
  // the node, declarations, other nodes).
  struct WriteQueue {
    std::deque<std::function<void()>> waiting;
  };
  std::map<std::string, WriteQueue> writing;  // sid -> writes waiting behind the one running

  using Op = void (AdminState::*)(const json& args, Done done);
  static const std::vector<std::pair<std::string, Op>>& Ops();

  // ---- entry ----

  bool Authorized(const std::string& token) {
    if (open) return true;
    // Digests of equal length, compared in constant time: neither the content nor the
    // length of the configured token leaks through timing.
    const auto given = Sha256(token);
    return CRYPTO_memcmp(given.data(), token_digest.data(), given.size()) == 0;
  }

  void NoteRefused() {
    ++refused_since_log;
    const int64_t now = WallMillis();
    if (now - refused_logged_ms < 10000) return;  // a flood of bad tokens stays a few lines
    spdlog::warn("admin: refused {} request(s) with a wrong or missing token", refused_since_log);
    refused_logged_ms = now;
    refused_since_log = 0;
  }

  void Handle(const std::string& text, Done done) {
    if (text.size() > kMaxRequestBytes)
      return done(Invalid("request", std::to_string(text.size()) + " bytes is over the " +
                                         std::to_string(kMaxRequestBytes) + "-byte limit"));
    if (NestingDepth(text) > kMaxRequestDepth)
      return done(Invalid("request", "nested deeper than " + std::to_string(kMaxRequestDepth) + " levels"));
    json request;
    try {
      request = json::parse(text);
    } catch (const json::parse_error& e) {
      std::string what = e.what();
      if (auto p = what.find("] "); what.rfind("[json.exception", 0) == 0 && p != std::string::npos)
        what = what.substr(p + 2);
      return done(Invalid("request", "not valid JSON: " + what));
    }
    if (!request.is_object())
      return done(Invalid("request", "expected an object {\"op\": \"<name>\", \"args\": {…}}"));
    if (Status s = OnlyKnown(request, {"op", "args"}, "", "a request"); !s.ok()) return done(s);
    auto op = RequiredString(request, "op");
    if (!op.ok()) return done(op.status());
    json args = json::object();
    if (const json* a = Arg(request, "args")) {
      if (!a->is_object()) return done(Invalid("args", std::string("expected an object, got ") + a->type_name()));
      args = *a;
    }
    for (const auto& [name, fn] : Ops()) {
      if (name == *op) return Guard(done, [&] { (this->*fn)(args, done); });
    }
    std::vector<std::string> known;
    for (const auto& [name, fn] : Ops()) known.push_back(name);
    done(Invalid("op", "unknown operation " + Quoted(op->substr(0, 64)) + "; known: " + Join(known)));
  }

  // ---- asynchronous steps ----

  static Status Unanswered(const std::string& who, const caf::error& err, std::chrono::seconds timeout) {
    if (err == caf::sec::request_timeout)
      return Unavailable(who + " did not answer within " + std::to_string(timeout.count()) + " s");
    return Unavailable(who + ": " + caf::to_string(err));
  }

  // One store request; `next` gets the reply when its status is OK.
  template <class F>
  void Kv(js::KvRequest request, Done done, F next) {
    self->request(ctx.store, kStoreTimeout, kv_atom_v, std::move(request))
        .then(
            [done, next](js::KvReply& reply) mutable {
              if (!reply.status.ok()) {
                const bool bad_input = reply.status.code() == Status::Code::kInvalidArgument;
                return done(bad_input ? reply.status : Status::Internal("store: " + reply.status.message()));
              }
              Guard(done, [&] { next(reply); });
            },
            [done](caf::error& err) { done(Unanswered("the store", err, kStoreTimeout)); });
  }

  template <class F>
  void Get(kv::Space space, kv::Key key, Done done, F next) {
    js::KvRequest get;
    get.op = js::KvRequest::Op::kGet;
    get.space = space;
    get.key = std::move(key);
    Kv(std::move(get), std::move(done), [next](js::KvReply& reply) mutable { next(std::move(reply.entry)); });
  }

  template <class F>
  void List(kv::Space space, kv::Key prefix, size_t limit, Done done, F next) {
    js::KvRequest list;
    list.op = js::KvRequest::Op::kList;
    list.space = space;
    list.list.prefix = std::move(prefix);
    list.list.limit = limit;
    Kv(std::move(list), std::move(done), [next](js::KvReply& reply) mutable { next(std::move(reply.entries)); });
  }

  template <class F>
  void Commit(kv::Space space, std::vector<kv::Check> checks, std::vector<kv::Mutation> mutations, Done done, F next) {
    js::KvRequest commit;
    commit.op = js::KvRequest::Op::kCommit;
    commit.space = space;
    commit.checks = std::move(checks);
    commit.mutations = std::move(mutations);
    Kv(std::move(commit), std::move(done), [next](js::KvReply& reply) mutable { next(reply.commit); });
  }

  // A cluster actor question answered with JSON text; `next` gets it parsed.
  template <class Atom, class F>
  void AskCluster(Atom atom, Done done, F next) {
    self->request(ctx.cluster, kClusterTimeout, atom)
        .then(
            [done, next](std::string& text) mutable {
              auto parsed = json::parse(text, nullptr, false);
              if (parsed.is_discarded()) return done(Status::Internal("the cluster actor answered something not JSON"));
              Guard(done, [&] { next(std::move(parsed)); });
            },
            [done](caf::error& err) { done(Unanswered("the cluster actor", err, kClusterTimeout)); });
  }

  // The record of `sid` in both spaces (local, then network).
  template <class F>
  void ReadWorker(const std::string& sid, Done done, F next) {
    Get(kv::Space::kLocal, WorkerKey(sid), done, [this, sid, done, next](std::optional<kv::Entry> local) mutable {
      Get(kv::Space::kNetwork, WorkerKey(sid), done,
          [local = std::move(local), next](std::optional<kv::Entry> network) mutable {
            next(Lookup{std::move(local), std::move(network)});
          });
    });
  }

  struct Listed {
    std::string sid;
    kv::Space space = kv::Space::kLocal;
    kv::Entry entry;
    Result<WorkerRecord> record = Status::Internal("unread");
  };

  // Every worker record of both spaces, sorted by sid, local first.
  template <class F>
  void ListWorkers(Done done, F next) {
    const kv::Key prefix = kv::MakeKey({"ami", "worker"});
    List(kv::Space::kLocal, prefix, 0, done, [this, prefix, done, next](std::vector<kv::Entry> local) mutable {
      List(kv::Space::kNetwork, prefix, 0, done,
           [local = std::move(local), next](std::vector<kv::Entry> network) mutable {
             std::vector<Listed> all;
             for (auto [entries, space] :
                  {std::pair{&local, kv::Space::kLocal}, std::pair{&network, kv::Space::kNetwork}}) {
               for (auto& e : *entries) {
                 if (e.key.size() != 3 || e.key[2].type != kv::KeyPart::Type::kString) continue;
                 Listed l{e.key[2].text, space, e, ParseRecord(e, space)};
                 all.push_back(std::move(l));
               }
             }
             std::stable_sort(all.begin(), all.end(), [](const Listed& a, const Listed& b) { return a.sid < b.sid; });
             next(std::move(all));
           });
    });
  }

  // Runs `task` once no other write to `sid` is running; `task` gets a Done that answers
  // `done` and lets the next write in.
  void Serialized(const std::string& sid, Done done, std::function<void(Done)> task) {
    auto run = [this, sid, done, task] {
      Done inner = AnswerOnceJson([this, sid, done](Result<json> r) {
        done(std::move(r));
        Release(sid);
      });
      Guard(inner, [&] { task(inner); });
    };
    auto it = writing.find(sid);
    if (it != writing.end()) {
      it->second.waiting.push_back(std::move(run));
      return;
    }
    writing.emplace(sid, WriteQueue{});
    run();
  }

  void Release(const std::string& sid) {
    auto it = writing.find(sid);
    if (it == writing.end()) return;
    if (it->second.waiting.empty()) {
      writing.erase(it);
      return;
    }
    auto next = std::move(it->second.waiting.front());
    it->second.waiting.pop_front();
    next();
  }

  // ---- worker JSON ----

  json WorkerJson(const WorkerRecord& r, uint64_t versionstamp, kv::Space space) const {
    bool running = false;
    std::string status = r.active ? "starting" : "stopped";
    if (auto s = ctx.env->stats->Get(r.sid)) {
      running = s->is_running;
      status = s->status;
    }
    return {{"sid", r.sid},
            {"versionstamp", kv::FormatVersionstamp(versionstamp)},
            {"source", kv::ToString(space)},
            {"running", running},
            {"status", status},
            {"record", RecordToJson(r)}};
  }

  // ---- workers ----

  void WorkersList(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {}, "", "workers.list"); !s.ok()) return done(s);
    ListWorkers(done, [this, done](std::vector<Listed> all) {
      json out = json::array();
      for (const auto& l : all) {
        if (l.record.ok()) {
          out.push_back(WorkerJson(*l.record, l.entry.versionstamp, l.space));
        } else {
          out.push_back({{"sid", l.sid},
                         {"versionstamp", kv::FormatVersionstamp(l.entry.versionstamp)},
                         {"source", kv::ToString(l.space)},
                         {"running", false},
                         {"status", "invalid"},
                         {"error", l.record.status().message()},
                         {"record", nullptr}});
        }
      }
      done(std::move(out));
    });
  }

  void WorkersGet(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {"sid"}, "", "workers.get"); !s.ok()) return done(s);
    auto sid = RequiredSid(args);
    if (!sid.ok()) return done(sid.status());
    ReadWorker(*sid, done, [this, sid = *sid, done](Lookup lookup) {
      auto found = Primary(lookup, sid);
      if (!found.ok()) return done(found.status());
      done(WorkerJson(found->record, found->entry.versionstamp, found->space));
    });
  }

  // Stores a new record (its key must be absent) after the script check.
  void Insert(const WorkerRecord& record, const std::string& what, Done done) {
    if (Status s = CheckScript(record.script); !s.ok()) return done(s);
    const kv::Space space = SpaceOf(record);
    Commit(space, {kv::Check{WorkerKey(record.sid), 0}}, {SetRecord(record)}, done,
           [this, record, space, what, done](const kv::CommitResult& c) {
             if (!c.ok) return done(Status::Conflict("worker " + record.sid + " already exists"));
             spdlog::info("admin: {} worker {} ({} {} {}, {})", what, record.sid, ToString(record.execution_mode),
                          ToString(record.priority), ToString(record.scope), record.active ? "active" : "inactive");
             done(WorkerJson(record, c.versionstamp, space));
           });
  }

  void WorkersCreate(const json& args, Done done) {
    if (Status s = OnlyKnown(args, kCreateFields, "", "workers.create"); !s.ok()) return done(s);
    auto o = ParseOverrides(args, "");
    if (!o.ok()) return done(o.status());
    WorkerRecord fields;
    fields.active = o->active.value_or(false);
    if (o->mode) fields.mode = *o->mode;
    if (o->priority) fields.priority = *o->priority;
    if (o->execution_mode) fields.execution_mode = *o->execution_mode;
    if (o->scope) fields.scope = *o->scope;
    if (o->account_id && !o->account_id->empty()) fields.account_id = o->account_id;
    if (o->assigned_node && !o->assigned_node->empty()) fields.assigned_node = o->assigned_node;
    if (o->note) fields.note = *o->note;
    if (o->script) fields.script = *o->script;
    if (o->dependencies) fields.dependencies = *o->dependencies;
    if (o->version) fields.version = *o->version;
    WorkerRecord record = NewWorkerRecord(ctx.env->node_id, std::move(fields), WallMillis());
    if (Status s = ValidateRecord(record); !s.ok()) return done(s);
    Insert(record, "created", done);
  }

  // One read-merge-write of a worker record (update, start, stop).
  struct Update {
    std::string sid;
    std::optional<uint64_t> expected;                                    // client's versionstamp
    std::function<Result<WorkerRecord>(const WorkerRecord&)> apply;
    bool skip_unchanged = false;                                         // start/stop: no write when already so
    std::string what;                                                    // for the node log
  };

  void RunUpdate(std::shared_ptr<const Update> u, int attempts, Done done) {
    ReadWorker(u->sid, done, [this, u, attempts, done](Lookup lookup) {
      auto found = Primary(lookup, u->sid);
      if (!found.ok()) return done(found.status());
      if (u->expected && *u->expected != found->entry.versionstamp)
        return done(Status::Conflict("worker " + u->sid + " is at versionstamp " +
                                     kv::FormatVersionstamp(found->entry.versionstamp) + ", not " +
                                     kv::FormatVersionstamp(*u->expected) + "; nothing changed"));
      auto merged = u->apply(found->record);
      if (!merged.ok()) return done(merged.status());
      if (u->skip_unchanged && SameIgnoringTimestamp(*merged, found->record))
        return done(WorkerJson(found->record, found->entry.versionstamp, found->space));
      if (merged->script != found->record.script) {
        if (Status s = CheckScript(merged->script); !s.ok()) return done(s);
      }
      merged->timestamp = WallMillis();
      Write(u, attempts, std::move(*found), std::move(*merged), done);
    });
  }

  // Another write came between our read and our write: conflict when the client named a
  // versionstamp, else read and merge again.
  void Retry(std::shared_ptr<const Update> u, int attempts, Done done) {
    if (u->expected)
      return done(Status::Conflict("worker " + u->sid + " changed after versionstamp " +
                                   kv::FormatVersionstamp(*u->expected) + "; nothing changed"));
    if (attempts > 1) return RunUpdate(u, attempts - 1, done);
    done(Status::Conflict("worker " + u->sid +
                          " kept changing while it was being updated; nothing changed, try again"));
  }

  void Write(std::shared_ptr<const Update> u, int attempts, Found found, WorkerRecord merged, Done done) {
    const kv::Key key = WorkerKey(u->sid);
    const kv::Space target = SpaceOf(merged);
    auto finish = [this, u, merged, target, done](uint64_t versionstamp) {
      spdlog::info("admin: {} worker {}", u->what, u->sid);
      done(WorkerJson(merged, versionstamp, target));
    };
    if (target == found.space) {
      Commit(target, {kv::Check{key, found.entry.versionstamp}}, {SetRecord(merged)}, done,
             [this, u, attempts, finish, done](const kv::CommitResult& c) {
               if (c.ok) return finish(c.versionstamp);
               Retry(u, attempts, done);
             });
      return;
    }
    // A scope change moves the record: create in the target space, then delete the old
    // entry if it is still the one we read; if not, take the copy back.
    Commit(target, {kv::Check{key, 0}}, {SetRecord(merged)}, done,
           [this, u, attempts, found, target, key, finish, done](const kv::CommitResult& created) {
             if (!created.ok)
               return done(Status::Conflict("worker " + u->sid + ": the " + kv::ToString(target) +
                                            " space already holds a record with this sid; nothing changed"));
             Commit(found.space, {kv::Check{key, found.entry.versionstamp}}, {Delete(key)}, done,
                    [this, u, attempts, target, key, created, finish, done](const kv::CommitResult& removed) {
                      if (removed.ok) return finish(created.versionstamp);
                      Commit(target, {kv::Check{key, created.versionstamp}}, {Delete(key)}, done,
                             [this, u, attempts, done](const kv::CommitResult&) { Retry(u, attempts, done); });
                    });
           });
  }

  void WorkersUpdate(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {"sid", "versionstamp", "changes"}, "", "workers.update"); !s.ok()) return done(s);
    auto sid = RequiredSid(args);
    if (!sid.ok()) return done(sid.status());
    auto expected = OptionalVersionstamp(args);
    if (!expected.ok()) return done(expected.status());
    const json* changes = Arg(args, "changes");
    if (!changes) return done(Invalid("changes", "required (an object with the fields to change)"));
    if (!changes->is_object())
      return done(Invalid("changes", std::string("expected an object, got ") + changes->type_name()));
    if (Status s = OnlyKnown(*changes, kChangeFields, "changes.", "workers.update"); !s.ok()) return done(s);
    auto u = std::make_shared<Update>();
    u->sid = *sid;
    u->expected = *expected;
    u->apply = [changes = *changes](const WorkerRecord& r) { return Merge(r, changes); };
    std::string fields;
    for (const auto& [key, value] : changes->items()) fields += (fields.empty() ? "" : ", ") + key;
    u->what = "updated (" + fields + ")";
    Serialized(u->sid, done, [this, u](Done d) { RunUpdate(u, kUpdateAttempts, d); });
  }

  void SetActive(const json& args, bool active, Done done) {
    const std::string op = active ? "workers.start" : "workers.stop";
    if (Status s = OnlyKnown(args, {"sid"}, "", op); !s.ok()) return done(s);
    auto sid = RequiredSid(args);
    if (!sid.ok()) return done(sid.status());
    auto u = std::make_shared<Update>();
    u->sid = *sid;
    u->apply = [active](const WorkerRecord& r) -> Result<WorkerRecord> {
      WorkerRecord out = r;
      out.active = active;
      return out;
    };
    u->skip_unchanged = true;
    u->what = active ? "started" : "stopped";
    Serialized(u->sid, done, [this, u](Done d) { RunUpdate(u, kUpdateAttempts, d); });
  }
  void WorkersStart(const json& args, Done done) { SetActive(args, true, std::move(done)); }
  void WorkersStop(const json& args, Done done) { SetActive(args, false, std::move(done)); }

  void WorkersDelete(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {"sid", "versionstamp"}, "", "workers.delete"); !s.ok()) return done(s);
    auto sid = RequiredSid(args);
    if (!sid.ok()) return done(sid.status());
    auto expected = OptionalVersionstamp(args);
    if (!expected.ok()) return done(expected.status());
    Serialized(*sid, done, [this, sid = *sid, expected = *expected](Done d) {
      DeleteWorker(sid, expected, kUpdateAttempts, d);
    });
  }

  void DeleteWorker(const std::string& sid, std::optional<uint64_t> expected, int attempts, Done done) {
    ReadWorker(sid, done, [this, sid, expected, attempts, done](Lookup lookup) {
      if (!lookup.local && !lookup.network) return done(Status::NotFound("worker " + sid + " not found"));
      const kv::Space first = lookup.local ? kv::Space::kLocal : kv::Space::kNetwork;
      const uint64_t read = lookup.local ? lookup.local->versionstamp : lookup.network->versionstamp;
      const bool other = lookup.local && lookup.network;
      if (expected && *expected != read)
        return done(Status::Conflict("worker " + sid + " is at versionstamp " + kv::FormatVersionstamp(read) +
                                     ", not " + kv::FormatVersionstamp(*expected) + "; nothing changed"));
      const kv::Key key = WorkerKey(sid);
      Commit(first, {kv::Check{key, read}}, {Delete(key)}, done,
             [this, sid, expected, attempts, other, key, done](const kv::CommitResult& c) {
               if (!c.ok) {
                 if (expected || attempts <= 1)
                   return done(Status::Conflict("worker " + sid +
                                                " changed while it was being deleted; nothing changed"));
                 return DeleteWorker(sid, expected, attempts - 1, done);
               }
               auto finish = [sid, done] {
                 spdlog::info("admin: deleted worker {}", sid);
                 done(json{{"sid", sid}, {"deleted", true}});
               };
               if (!other) return finish();
               Commit(kv::Space::kNetwork, {}, {Delete(key)}, done, [finish](const kv::CommitResult&) { finish(); });
             });
    });
  }

  void WorkersStopAll(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {}, "", "workers.stopAll"); !s.ok()) return done(s);
    ListWorkers(done, [this, done](std::vector<Listed> all) {
      struct Gather {
        json workers = json::array();
        json errors = json::array();
        size_t pending = 0;
      };
      auto g = std::make_shared<Gather>();
      auto finish = [g, done] {
        size_t total = g->workers.size(), stopped = 0;
        for (const auto& w : g->workers) {
          const auto& status = w["status"].get_ref<const std::string&>();
          if (status == "stopped" || status == "already_stopped") ++stopped;
        }
        const size_t failed = total - stopped;
        std::string message = total == 0    ? "No workers found"
                              : failed == 0 ? "All workers stopped"
                                            : "Stopped " + std::to_string(stopped) + " of " + std::to_string(total) + " workers";
        spdlog::info("admin: stopAll: {}", message);
        done(json{{"message", message}, {"total", total}, {"stopped", stopped}, {"failed", failed},
                  {"errors", g->errors}, {"workers", g->workers}});
      };
      for (const auto& l : all) {
        std::string status = "already_stopped";
        if (!l.record.ok()) {
          status = "error";
          g->errors.push_back({{"sid", l.sid}, {"error", l.record.status().message()}});
        } else if (l.record->active) {
          status = "pending";
          ++g->pending;
        }
        g->workers.push_back({{"sid", l.sid}, {"status", status}});
      }
      if (g->pending == 0) return finish();
      for (size_t i = 0; i < all.size(); ++i) {
        if (g->workers[i]["status"] != "pending") continue;
        auto u = std::make_shared<Update>();
        u->sid = all[i].sid;
        u->apply = [](const WorkerRecord& r) -> Result<WorkerRecord> {
          WorkerRecord out = r;
          out.active = false;
          return out;
        };
        u->skip_unchanged = true;
        u->what = "stopped (stopAll)";
        Done one = AnswerOnceJson([g, i, finish](Result<json> r) {
          g->workers[i]["status"] = r.ok() ? "stopped" : "failed";
          if (!r.ok()) g->errors.push_back({{"sid", g->workers[i]["sid"]}, {"error", r.status().message()}});
          if (--g->pending == 0) finish();
        });
        Serialized(u->sid, one, [this, u](Done d) { RunUpdate(u, kUpdateAttempts, d); });
      }
    });
  }

  // A Done for an inner step whose result is consumed here, not sent to the client.
  static Done AnswerOnceJson(std::function<void(Result<json>)> f) {
    auto answered = std::make_shared<bool>(false);
    return [answered, f = std::move(f)](Result<json> r) {
      if (*answered) return;
      *answered = true;
      f(std::move(r));
    };
  }

  // ---- templates ----

  void TemplatesList(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {}, "", "templates.list"); !s.ok()) return done(s);
    json out = json::array();
    for (const auto& t : ctx.templates) {
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

  void TemplatesGet(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {"id"}, "", "templates.get"); !s.ok()) return done(s);
    auto id = RequiredString(args, "id");
    if (!id.ok()) return done(id.status());
    const WorkerTemplate* t = FindTemplate(ctx.templates, *id);
    if (!t) return done(UnknownTemplate(*id, ctx.templates));
    done(TemplateToJson(*t, true));
  }

  void TemplatesCreate(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {"template", "overrides"}, "", "templates.create"); !s.ok()) return done(s);
    auto id = RequiredString(args, "template");
    if (!id.ok()) return done(id.status());
    json body = json::object();
    if (const json* o = Arg(args, "overrides")) {
      if (!o->is_object()) return done(Invalid("overrides", std::string("expected an object, got ") + o->type_name()));
      body = *o;
    }
    if (Status s = OnlyKnown(body, kOverrideFields, "overrides.", "templates.create"); !s.ok()) return done(s);
    auto overrides = ParseOverrides(body, "overrides.");
    if (!overrides.ok()) return done(overrides.status());
    const WorkerTemplate* t = FindTemplate(ctx.templates, *id);
    if (!t) return done(UnknownTemplate(*id, ctx.templates));
    auto record = RecordFromTemplate(*t, *overrides, ctx.env->node_id, WallMillis());
    if (!record.ok()) return done(record.status());
    Insert(*record, "created from template " + t->id + ":", done);
  }

  // ---- leader ----

  void LeaderInfo(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {"sid"}, "", "leader.info"); !s.ok()) return done(s);
    auto sid = RequiredSid(args);
    if (!sid.ok()) return done(sid.status());
    ReadWorker(*sid, done, [this, sid = *sid, done](Lookup lookup) {
      auto found = Primary(lookup, sid);
      if (!found.ok()) return done(found.status());
      if (found->record.execution_mode != ExecutionMode::kLeader)
        return done(Invalid("sid", "worker " + sid + " is not in leader mode (executionMode " +
                                       Quoted(ToString(found->record.execution_mode)) + ")"));
      const kv::Key key = kv::MakeKey({"ami", "leader", sid});
      Get(kv::Space::kNetwork, key, done, [sid, key, done](std::optional<kv::Entry> entry) {
        done(LeaderJson(sid, key, entry, WallMillis()));
      });
    });
  }

  static Result<json> LeaderJson(const std::string& sid, const kv::Key& key, const std::optional<kv::Entry>& entry,
                                 int64_t now) {
    json none = {{"workerId", sid}, {"hasLeader", false}, {"message", "No leader elected yet"}};
    if (!entry) return none;
    const json value = json::parse(entry->value, nullptr, false);
    auto bad = [&](const std::string& field, const char* want) {
      return Status::Internal("leader record " + kv::KeyToString(key) + ": " + field + ": expected " + want);
    };
    if (!value.is_object()) return bad("value", "an object");
    auto it = value.find("leader");
    if (it == value.end() || !it->is_string()) return bad("leader", "a node id");
    const std::string leader = it->get<std::string>();
    it = value.find("term");
    if (it == value.end() || !it->is_number_integer()) return bad("term", "an integer");
    const json term = *it;
    auto ms = [&](const char* field) -> Result<int64_t> {
      auto f = value.find(field);
      if (f == value.end() || !f->is_number_integer()) return bad(field, "ms since the epoch");
      return f->get<int64_t>();
    };
    if (auto r = value.find("resigned"); r != value.end() && r->is_boolean() && r->get<bool>()) {
      none["lastTerm"] = term;
      none["lastLeader"] = leader;
      return none;
    }
    auto expires = ms("expiresAt");
    if (!expires.ok()) return expires.status();
    auto timestamp = ms("timestamp");
    if (!timestamp.ok()) return timestamp.status();
    auto renewed = ms("renewedAt");
    if (!renewed.ok()) return renewed.status();
    return json{{"workerId", sid},
                {"hasLeader", true},
                {"leader", leader},
                {"term", term},
                {"timestamp", *timestamp},
                {"expiresAt", *expires},
                {"renewedAt", *renewed},
                {"expiresIn", std::max<int64_t>(0, *expires - now)},
                {"isExpired", *expires <= now}};
  }

  // ---- stats ----

  void Stats(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {"sid", "cluster"}, "", "stats"); !s.ok()) return done(s);
    auto cluster = OptionalBool(args, "cluster", false);
    if (!cluster.ok()) return done(cluster.status());
    std::optional<std::string> sid;
    if (Arg(args, "sid")) {
      auto s = RequiredSid(args);
      if (!s.ok()) return done(s.status());
      sid = *s;
    }
    if (*cluster) return ClusterStats(sid, done);
    if (!sid) {
      json summary = ctx.env->stats->SummaryJson(WallMillis());
      summary["node"] = ctx.env->node_id;
      return done(std::move(summary));
    }
    if (auto s = ctx.env->stats->Get(*sid)) {
      json out = StatsToJson(*s, WallMillis());
      out["node"] = ctx.env->node_id;
      return done(std::move(out));
    }
    // No stats here: a worker that exists gets zero counters.
    ReadWorker(*sid, done, [this, sid = *sid, done](Lookup lookup) {
      auto found = Primary(lookup, sid);
      if (!found.ok()) return done(found.status());
      WorkerStats zero;
      zero.sid = sid;
      zero.script_hash = ScriptHash(found->record.script);
      zero.status = found->record.active ? "starting" : "stopped";
      json out = StatsToJson(zero, WallMillis());
      out["node"] = ctx.env->node_id;
      done(std::move(out));
    });
  }

  void ClusterStats(std::optional<std::string> sid, Done done) {
    AskCluster(cluster_stats_atom_v, done, [sid, done](json answer) {
      if (!answer.is_object() || !answer.contains("nodes") || !answer["nodes"].is_object())
        return done(Status::Internal("the cluster actor's stats have no \"nodes\" object"));
      const char* kSums[] = {"totalWorkers", "runningWorkers", "stoppedWorkers", "totalExecutions",
                             "totalErrors", "totalNetworkErrors", "totalCriticalErrors"};
      json totals = json::object();
      for (const char* k : kSums) totals[k] = 0;
      json nodes = json::object();
      uint64_t count = 0, executions = 0, errors = 0;
      for (auto& [id, summary] : answer["nodes"].items()) {
        if (!summary.is_object()) continue;
        if (sid) {
          // Only that worker, from the nodes that have it; totals are its own.
          if (!summary.contains("workers") || !summary["workers"].is_array()) continue;
          for (const auto& w : summary["workers"]) {
            if (!w.is_object() || w.value("sid", "") != *sid) continue;
            nodes[id] = w;
            ++count;
            totals["totalWorkers"] = totals["totalWorkers"].get<uint64_t>() + 1;
            const bool running = w.value("isRunning", false);
            totals[running ? "runningWorkers" : "stoppedWorkers"] =
                totals[running ? "runningWorkers" : "stoppedWorkers"].get<uint64_t>() + 1;
            const std::pair<const char*, const char*> fields[] = {{"executions", "totalExecutions"},
                                                                  {"errors", "totalErrors"},
                                                                  {"networkErrors", "totalNetworkErrors"},
                                                                  {"criticalErrors", "totalCriticalErrors"}};
            for (const auto& [from, to] : fields) {
              const uint64_t v = w.contains(from) && w[from].is_number_unsigned() ? w[from].get<uint64_t>() : 0;
              totals[to] = totals[to].get<uint64_t>() + v;
            }
          }
          continue;
        }
        nodes[id] = summary;
        ++count;
        for (const char* k : kSums) {
          const uint64_t v = summary.contains(k) && summary[k].is_number_unsigned() ? summary[k].get<uint64_t>() : 0;
          totals[k] = totals[k].get<uint64_t>() + v;
        }
      }
      executions = totals["totalExecutions"].get<uint64_t>();
      errors = totals["totalErrors"].get<uint64_t>();
      totals["nodes"] = count;
      totals["errorRate"] = ErrorRate(errors, executions);
      json out = json::object();
      if (sid) out["sid"] = *sid;
      out["nodes"] = std::move(nodes);
      out["unreachable"] = answer.contains("unreachable") && answer["unreachable"].is_array() ? answer["unreachable"]
                                                                                               : json::array();
      out["totals"] = std::move(totals);
      done(std::move(out));
    });
  }

  // ---- logs ----

  void LogsTail(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {"sid", "lines", "cursor"}, "", "logs.tail"); !s.ok()) return done(s);
    auto sid = RequiredSid(args);
    if (!sid.ok()) return done(sid.status());
    auto lines = OptionalInt(args, "lines", 1, kMaxTailLines);
    if (!lines.ok()) return done(lines.status());
    std::optional<Cursor> cursor;
    if (Arg(args, "cursor")) {
      auto text = RequiredString(args, "cursor");
      if (!text.ok()) return done(text.status());
      auto c = ParseCursor(*text);
      if (!c.ok()) return done(c.status());
      cursor = *c;
    }
    const auto files = OpenLogFiles(ctx.env->log_dir, *sid, ctx.env->log.worker_files);
    auto result = cursor ? LinesAfter(files, *cursor) : TailLines(files, static_cast<size_t>(lines->value_or(50)));
    if (!result.ok()) return done(Status::Internal(result.status().message()));
    json out = {{"lines", result->lines}, {"cursor", FormatCursor(result->cursor)}, {"more", result->more}};
    if (!files.empty()) return done(std::move(out));
    // No log file: fine for a worker that has not logged yet, not_found for an unknown sid.
    ReadWorker(*sid, done, [sid = *sid, out, done](Lookup lookup) {
      if (!lookup.local && !lookup.network)
        return done(Status::NotFound("no log and no worker " + sid + " on this node"));
      done(out);
    });
  }

  // ---- nodes, plugins, node info, faults ----

  void NodesList(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {}, "", "nodes.list"); !s.ok()) return done(s);
    AskCluster(members_atom_v, done, [done](json members) { done(std::move(members)); });
  }

  void PluginsList(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {}, "", "plugins.list"); !s.ok()) return done(s);
    const ExchangeDirectory& dir = *ctx.env->exchanges;
    json plugins = json::array();
    for (const auto& p : dir.plugins) plugins.push_back(p);
    // Exchanges and accounts from the config: ids and what they use, never options or
    // credentials.
    json exchanges = json::array();
    for (const auto& ex : ctx.config.exchanges) {
      json e = {{"id", ex.id}, {"connector", ex.connector}};
      auto it = dir.exchanges.find(ex.id);
      const bool available = it != dir.exchanges.end() && it->second.connector;
      e["available"] = available;
      if (!available && it != dir.exchanges.end()) e["unavailable"] = it->second.unavailable;
      exchanges.push_back(std::move(e));
    }
    json accounts = json::array();
    for (const auto& a : ctx.config.accounts) accounts.push_back({{"id", a.id}, {"exchange", a.exchange}});
    done(json{{"plugins", std::move(plugins)}, {"exchanges", std::move(exchanges)}, {"accounts", std::move(accounts)}});
  }

  void NodeInfo(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {}, "", "node.info"); !s.ok()) return done(s);
    const int64_t now = WallMillis();
    json info = {{"node", ctx.env->node_id},
                 {"cluster", ctx.config.cluster ? json(ctx.config.cluster->name) : json(nullptr)},
                 {"network", ctx.env->network},
                 {"version", AMI_VERSION},
                 {"startedAt", ctx.env->node_start_ms},
                 {"uptime", std::max<int64_t>(0, now - ctx.env->node_start_ms)},
                 {"runSlots", ctx.env->run_queue ? ctx.env->run_queue->slots() : 0},
                 {"admin",
                  {{"listen", ctx.config.admin ? ctx.config.admin->listen : ""}, {"auth", open ? "none" : "token"}}}};
    self->request(ctx.node, kNodeTimeout, started_atom_v)
        .then(
            [info, done](int running) mutable {
              info["workersRunning"] = running;
              done(std::move(info));
            },
            [done](caf::error& err) { done(Unanswered("the node actor", err, kNodeTimeout)); });
  }

  void FaultsSet(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {"drop"}, "", "faults.set"); !s.ok()) return done(s);
    if (!ctx.config.cluster || !ctx.config.cluster->fault_injection)
      return done(Status::InvalidArgument("faults.set: fault injection is off (cluster.fault_injection is not true)"));
    const json* drop = Arg(args, "drop");
    if (!drop) return done(Invalid("drop", "required (an array of node ids; [] heals)"));
    if (!drop->is_array()) return done(Invalid("drop", "expected an array of node ids"));
    for (size_t i = 0; i < drop->size(); ++i)
      if (!(*drop)[i].is_string()) return done(Invalid("drop[" + std::to_string(i) + "]", "expected a node id"));
    spdlog::warn("admin: faults.set drop {}", drop->dump());
    self->request(ctx.cluster, kClusterTimeout, faults_atom_v, json{{"drop", *drop}}.dump())
        .then(
            [done](std::string& text) {
              auto answer = json::parse(text, nullptr, false);
              if (answer.is_discarded()) return done(Status::Internal("the cluster actor answered something not JSON"));
              if (answer.is_object() && answer.value("ok", true) == false) {
                const json& e = answer.contains("error") ? answer["error"] : json("refused");
                std::string message = e.is_string() ? e.get<std::string>()
                                      : e.is_object() && e.contains("message") && e["message"].is_string()
                                          ? e["message"].get<std::string>()
                                          : e.dump();
                return done(Status::InvalidArgument("faults.set: " + message));
              }
              done(std::move(answer));
            },
            [done](caf::error& err) { done(Unanswered("the cluster actor", err, kClusterTimeout)); });
  }

  // ---- KV ----

  void KvGet(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {"space", "key"}, "", "kv.get"); !s.ok()) return done(s);
    auto space = RequiredSpace(args);
    if (!space.ok()) return done(space.status());
    auto key = KeyArg(args, "key", false);
    if (!key.ok()) return done(key.status());
    Get(*space, *key, done, [space = *space, key = *key, done](std::optional<kv::Entry> entry) {
      if (!entry)
        return done(Status::NotFound("key " + kv::KeyToString(key) + " not found in the " + kv::ToString(space) +
                                     " space"));
      done(EntryJson(*entry));
    });
  }

  static json EntryJson(const kv::Entry& e) {
    json value = json::parse(e.value, nullptr, false);
    if (value.is_discarded()) value = e.value;  // the store only holds JSON; just in case
    return {{"key", kv::KeyToJson(e.key)},
            {"value", std::move(value)},
            {"versionstamp", kv::FormatVersionstamp(e.versionstamp)}};
  }

  static Status RefuseReserved(const kv::Key& key, const char* op) {
    if (!IsReserved(key)) return Status::OK();
    return Invalid("key", std::string(op) + " refuses keys under [\"ami\", …]: they are the node's own (worker records, "
                          "leader records); change workers with workers.*");
  }

  void KvSet(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {"space", "key", "value", "expireIn"}, "", "kv.set"); !s.ok()) return done(s);
    auto space = RequiredSpace(args);
    if (!space.ok()) return done(space.status());
    auto key = KeyArg(args, "key", false);
    if (!key.ok()) return done(key.status());
    if (Status s = RefuseReserved(*key, "kv.set"); !s.ok()) return done(s);
    auto value = args.find("value");
    if (value == args.end()) return done(Invalid("value", "required (any JSON value)"));
    auto expire = OptionalInt(args, "expireIn", 0, INT64_MAX / 2);
    if (!expire.ok()) return done(expire.status());
    const std::string text = Dump(*value);
    if (text.size() > kv::kMaxValueBytes)
      return done(Invalid("value", std::to_string(text.size()) + " bytes of JSON is over the " +
                                       std::to_string(kv::kMaxValueBytes) + "-byte limit"));
    kv::Mutation set{kv::Mutation::Kind::kSet, *key, text, *expire};
    Commit(*space, {}, {std::move(set)}, done, [done](const kv::CommitResult& c) {
      done(json{{"versionstamp", kv::FormatVersionstamp(c.versionstamp)}});
    });
  }

  void KvList(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {"space", "prefix", "limit"}, "", "kv.list"); !s.ok()) return done(s);
    auto space = RequiredSpace(args);
    if (!space.ok()) return done(space.status());
    auto prefix = KeyArg(args, "prefix", true);
    if (!prefix.ok()) return done(prefix.status());
    auto limit = OptionalInt(args, "limit", 1, kMaxListLimit);
    if (!limit.ok()) return done(limit.status());
    List(*space, *prefix, static_cast<size_t>(limit->value_or(100)), done, [done](std::vector<kv::Entry> entries) {
      json out = json::array();
      for (const auto& e : entries) out.push_back(EntryJson(e));
      done(std::move(out));
    });
  }

  void KvDelete(const json& args, Done done) {
    if (Status s = OnlyKnown(args, {"space", "key"}, "", "kv.delete"); !s.ok()) return done(s);
    auto space = RequiredSpace(args);
    if (!space.ok()) return done(space.status());
    auto key = KeyArg(args, "key", false);
    if (!key.ok()) return done(key.status());
    if (Status s = RefuseReserved(*key, "kv.delete"); !s.ok()) return done(s);
    Commit(*space, {}, {Delete(*key)}, done, [done](const kv::CommitResult&) { done(json{{"deleted", true}}); });
  }
};

const std::vector<std::pair<std::string, AdminState::Op>>& AdminState::Ops() {
  static const std::vector<std::pair<std::string, Op>> ops = {
      {"workers.list", &AdminState::WorkersList},     {"workers.get", &AdminState::WorkersGet},
      {"workers.create", &AdminState::WorkersCreate}, {"workers.update", &AdminState::WorkersUpdate},
      {"workers.delete", &AdminState::WorkersDelete}, {"workers.start", &AdminState::WorkersStart},
      {"workers.stop", &AdminState::WorkersStop},     {"workers.stopAll", &AdminState::WorkersStopAll},
      {"templates.list", &AdminState::TemplatesList}, {"templates.get", &AdminState::TemplatesGet},
      {"templates.create", &AdminState::TemplatesCreate},
      {"leader.info", &AdminState::LeaderInfo},       {"stats", &AdminState::Stats},
      {"logs.tail", &AdminState::LogsTail},           {"nodes.list", &AdminState::NodesList},
      {"kv.get", &AdminState::KvGet},                 {"kv.set", &AdminState::KvSet},
      {"kv.list", &AdminState::KvList},               {"kv.delete", &AdminState::KvDelete},
      {"plugins.list", &AdminState::PluginsList},     {"node.info", &AdminState::NodeInfo},
      {"faults.set", &AdminState::FaultsSet},
  };
  return ops;
}

caf::behavior AdminActor(caf::stateful_actor<AdminState>* self, AdminContext context) {
  AdminState& st = self->state;
  st.self = self;
  st.ctx = std::move(context);
  const std::string& token = st.ctx.config.admin ? st.ctx.config.admin->token : std::string();
  st.open = token.empty();
  if (!st.open) st.token_digest = Sha256(token);
  // Anything but an admin request is answered with an error (never printed: a remote
  // client may send anything).
  self->set_default_handler(caf::drop);
  // The actor is published: only this process (LocalNode's shutdown) may end it.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (msg.source && msg.source.node() == self->node()) self->quit(msg.reason);
    else spdlog::warn("admin: ignored an exit request from another process");
  });
  // A stray error message is logged, never a reason to stop (CAF's default would quit).
  // The published actor is a gate in front of this one (actors/peer_gate.h), so other
  // processes do not learn this actor's address.
  self->set_error_handler([](caf::error& err) { spdlog::warn("admin: {}", caf::to_string(err)); });
  return {
      [self](admin_atom, const std::string& token, const std::string& request) -> caf::result<std::string> {
        AdminState& st = self->state;
        if (!st.Authorized(token)) {
          st.NoteRefused();
          return ErrorReply("unauthorized", "wrong or missing admin token");
        }
        auto promise = self->make_response_promise<std::string>();
        Done done = AnswerOnce([promise](std::string reply) mutable { promise.deliver(std::move(reply)); });
        Guard(done, [&] { st.Handle(request, done); });
        return promise;
      },
  };
}

}  // namespace

caf::actor SpawnAdminService(caf::actor_system& system, AdminContext context) {
  return system.spawn<caf::detached>(AdminActor, std::move(context));
}

}  // namespace ami
