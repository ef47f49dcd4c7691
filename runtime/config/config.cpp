// Loading and checking the node's YAML config. The schema lives in the Read* functions
// below; yaml_reader.h does the per-value checking and problem collection, so a file
// with many mistakes gets all of them reported in one go.
// Over 600 lines: the whole schema in one reader, so every key and its checks are found in
// one place; host:port, YAML alias limits and node files are in their own files.
#include "runtime/config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "runtime/base/digest.h"
#include "runtime/config/host_port.h"
#include "runtime/config/http_section.h"
#include "runtime/config/node_files.h"
#include "runtime/config/yaml_guard.h"
#include "runtime/config/yaml_reader.h"
#include "runtime/model/worker_fields.h"

namespace ami {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using config_internal::CheckReadable;
using config_internal::Context;
using config_internal::MapReader;
using config_internal::Quote;
using config_internal::ResolvePath;
using config_internal::ValueReader;

namespace {

// ---- durations and sizes

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

struct Term {
  double value;
  std::string_view unit;
};

// "1h 30m" -> {1,"h"},{30,"m"}; false when the text is not numbers followed by words.
bool SplitTerms(std::string_view text, std::vector<Term>* terms) {
  size_t i = 0;
  auto skip_spaces = [&] {
    while (i < text.size() && text[i] == ' ') ++i;
  };
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    double value = 0;
    auto [end, ec] = std::from_chars(text.data() + start, text.data() + i, value);
    if (start == i || ec != std::errc() || end != text.data() + i) return false;
    skip_spaces();
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    terms->push_back({value, text.substr(unit_start, i - unit_start)});
    skip_spaces();
  }
  return !terms->empty();
}

double DurationUnitMillis(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1e3;
  if (unit == "m") return 60e3;
  if (unit == "h") return 3600e3;
  if (unit == "d") return 86400e3;
  return 0;
}

double SizeUnitBytes(std::string_view unit) {
  std::string u(unit);
  for (char& c : u) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (u.empty() || u == "b") return 1;
  static const char* const kPrefixes = "kmgt";
  if (const char* p = std::strchr(kPrefixes, u[0])) {
    std::string rest = u.substr(1);
    if (rest.empty() || rest == "b" || rest == "ib") return std::ldexp(1.0, 10 * int(p - kPrefixes + 1));
  }
  return 0;
}

// ---- small helpers

// Ids that end up in paths, JS property names and URLs: node, exchange, account ids.
bool IsPlainName(std::string_view s) {
  if (s.empty() || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}
constexpr const char* kPlainNameRule =
    "must start with a letter or digit and contain only letters, digits, \".\", \"_\" and \"-\"";

bool IsEnvName(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

Result<std::string> ReadWholeFile(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec))
    return Status::IOError("cannot read " + Quote(path.string()) + ": it is a directory");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return Status::IOError("cannot read " + Quote(path.string()) + ": " + std::strerror(errno));
  std::string text;
  char buf[8192];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  bool failed = std::ferror(f);
  int err = errno;
  std::fclose(f);
  if (failed) return Status::IOError("cannot read " + Quote(path.string()) + ": " + std::strerror(err));
  return text;
}

// An unambiguous, order-independent serialization of YAML values: comments, quoting
// and layout do not change it, any change of content does.
void AppendSized(char tag, size_t n, std::string* out) {
  *out += tag;
  *out += std::to_string(n);
  *out += ':';
}

void AppendString(std::string_view text, std::string* out) {
  AppendSized('s', text.size(), out);
  *out += text;
}

void AppendCanonical(const YAML::Node& node, std::string* out);

void AppendCanonicalMap(const std::map<std::string, std::string>& parts, std::string* out) {
  AppendSized('m', parts.size(), out);
  for (const auto& [key, value] : parts) {
    AppendString(key, out);
    *out += value;
  }
}

void AppendCanonical(const YAML::Node& node, std::string* out) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      AppendString(node.Scalar(), out);
      break;
    case YAML::NodeType::Sequence:
      AppendSized('l', node.size(), out);
      for (const auto& item : node) AppendCanonical(item, out);
      break;
    case YAML::NodeType::Map: {
      std::map<std::string, std::string> parts;
      for (const auto& pair : node)
        AppendCanonical(pair.second, &parts[pair.first.IsScalar() ? pair.first.Scalar() : ""]);
      AppendCanonicalMap(parts, out);
      break;
    }
    default:
      *out += 'n';
  }
}

const std::vector<std::string_view> kTopKeys = {
    "node", "cluster", "admin", "tls", "limits", "execution",
    "log", "plugins", "exchanges", "accounts", "workers", "http"};
// A worker's keys: the record fields' YAML names (worker_fields.h) and the reader's own,
// ordered by rank for the `allowed:` list of unknown-key messages.
const std::vector<std::string_view>& WorkerKeys() {
  static const std::vector<std::string_view> keys = [] {
    struct Key {
      int rank;
      std::string_view name, alias;
    };
    std::vector<Key> ranked = {{0, "name", {}}, {20, "template", {}}};
    for (const auto& f : WorkerFields())
      if (f.yaml_name) ranked.push_back({f.yaml_rank, f.yaml_name, f.yaml_alias ? f.yaml_alias : ""});
    std::stable_sort(ranked.begin(), ranked.end(), [](const Key& a, const Key& b) { return a.rank < b.rank; });
    std::vector<std::string_view> out;
    for (const auto& key : ranked) {
      out.push_back(key.name);
      if (!key.alias.empty()) out.push_back(key.alias);
    }
    return out;
  }();
  return keys;
}

// One of `choices`, as ValueReader::Enum reports it: "expected one of a|b, got \"c\"".
bool ReadChoice(const ValueReader& v, const std::vector<std::string>& choices, std::string* out) {
  std::string allowed;
  for (const auto& c : choices) allowed += (allowed.empty() ? "" : "|") + c;
  auto text = v.Text("one of " + allowed);
  if (!text) return false;
  if (std::find(choices.begin(), choices.end(), *text) == choices.end()) {
    v.Report("expected one of " + allowed + ", got " + Quote(*text));
    return false;
  }
  *out = *text;
  return true;
}

// Reads one record field from YAML by its kind; the record keeps its value when the key
// is absent or wrong (the problem is reported).
void ReadYamlField(const ValueReader& v, const WorkerField& f, WorkerRecord* r) {
  if (!v.present()) return;
  nlohmann::json value;
  switch (f.kind) {
    case FieldKind::kString: {
      std::string text;
      if (!(f.required ? v.String(&text) : v.AnyString(&text))) return;
      value = text;
      break;
    }
    case FieldKind::kOptionalId: {
      std::optional<std::string> text;
      if (!v.OptionalString(&text)) return;
      value = text ? nlohmann::json(*text) : nlohmann::json(nullptr);
      break;
    }
    case FieldKind::kBool: {
      bool b = false;
      if (!v.Bool(&b)) return;
      value = b;
      break;
    }
    case FieldKind::kEnum: {
      std::string text;
      if (!ReadChoice(v, f.choices, &text)) return;
      value = text;
      break;
    }
    case FieldKind::kInt64: {
      auto text = v.Text("a whole number");
      if (!text) return;
      int64_t n = 0;
      auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
      if (ec != std::errc() || end != text->data() + text->size())
        return v.Report("expected a whole number, got " + Quote(*text));
      value = n;
      break;
    }
    case FieldKind::kStringList: {
      std::vector<std::string> list;
      if (!v.StringList(&list)) return;
      value = list;
      break;
    }
  }
  f.put(*r, value);
}

std::optional<std::string> ParseLogLevel(std::string_view text) {
  for (const char* level : {"trace", "debug", "info", "warn", "error"})
    if (text == level) return std::string(text);
  return std::nullopt;
}

std::optional<std::string> ParseLogFormat(std::string_view text) {
  for (const char* format : {"text", "json"})
    if (text == format) return std::string(text);
  return std::nullopt;
}

// ---- the schema

class ConfigReader {
 public:
  ConfigReader(Context& ctx, fs::path base_dir, Config& cfg)
      : ctx_(ctx), base_(std::move(base_dir)), cfg_(cfg) {}

  void Read(const YAML::Node& root) {
    MapReader top(ctx_, ValueReader(ctx_, root, ""), kTopKeys);
    if (!top.valid()) return;
    ReadNode(top);
    ReadCluster(top);
    ReadAdmin(top);
    ReadTls(top);
    ReadLimits(MapReader(ctx_, top.Field("limits"),
                         {"heap", "cpu_per_run", "stop_grace", "max_timers", "max_pending_calls",
                          "max_list_results", "max_log_line", "max_log_lines_per_sec"}));
    ReadExecution(top);
    ReadLog(top);
    ReadPlugins(top);
    ReadExchanges(top);
    ReadAccounts(top);
    top.Field("workers").ForEach([&](const ValueReader& item) { ReadWorker(item); });
    cfg_.http = ReadHttpSection(ctx_, top.Field("http"), base_);  // http_section.h
  }

 private:
  // Relative paths are relative to the config file's directory; results are absolute.
  fs::path Resolve(std::string_view text) const { return ResolvePath(base_, text); }

  void ReadNode(const MapReader& top) {
    if (!top.Has("node")) return top.Missing("node");
    MapReader node(ctx_, top.Field("node"), {"id", "data_dir"});
    auto id = node.Required("id");
    std::string text;
    if (id.String(&text)) {
      if (IsPlainName(text)) cfg_.node.id = text;
      else id.Report(std::string(kPlainNameRule) + ", got " + Quote(text));
    }
    std::string dir;
    if (node.Field("data_dir").String(&dir)) cfg_.node.data_dir = Resolve(dir);
    else if (!cfg_.node.id.empty()) cfg_.node.data_dir = Resolve("data/" + cfg_.node.id);
  }

  // `key` or `env_key` (never both); the value is never put into a message.
  void ReadSecret(const MapReader& m, const std::string& key, const std::string& env_key,
                  std::string* out, bool required) {
    if (m.Has(key) && m.Has(env_key)) {
      m.Field(env_key).Report("give either " + key + " or " + env_key + ", not both");
    } else if (m.Has(key)) {
      if (m.Field(key).String(out)) cfg_.inline_secrets.push_back(m.PathOf(key));
    } else if (m.Has(env_key)) {
      ReadEnv(m.Field(env_key), out);
    } else if (required) {
      m.Missing(key, "give " + key + " or " + env_key);
    }
  }

  void ReadEnv(const ValueReader& v, std::string* out) {
    std::string name;
    if (!v.String(&name)) return;
    if (!IsEnvName(name)) return v.Report("expected an environment variable name, got " + Quote(name));
    const char* value = std::getenv(name.c_str());
    if (!value) v.Report("environment variable " + name + " is not set");
    else if (!*value) v.Report("environment variable " + name + " is empty");
    else *out = value;
  }

  void ReadCluster(const MapReader& top) {
    if (!top.Has("cluster")) return;
    MapReader m(ctx_, top.Field("cluster"),
                {"name", "secret", "secret_env", "listen", "peers", "lease", "heartbeat", "fault_injection",
                 "lease_clock_rate", "max_clock_skew"});
    if (!m.valid()) return;
    ClusterSection c;
    m.Required("name").String(&c.name);
    ReadSecret(m, "secret", "secret_env", &c.secret, true);
    auto listen = m.Required("listen");
    HostPort address;
    if (listen.HostPort(&c.listen, true, &address)) RequireLoopbackWithoutTls(top, listen, address);
    std::set<std::string> seen;
    m.Field("peers").ForEach([&](const ValueReader& item) {
      std::string peer;
      if (!item.HostPort(&peer, false, &address)) return;
      if (!seen.insert(peer).second) return item.Report("duplicate peer " + Quote(peer));
      RequireLoopbackWithoutTls(top, item, address);
      // Every node may list the whole cluster; its own address is not a peer.
      if (peer != c.listen) c.peers.push_back(peer);
    });
    ReadLease(MapReader(ctx_, m.Field("lease"), {"ttl", "renew", "margin"}), &c.lease);
    if (auto hb = m.Field("heartbeat"); hb.present()) hb.Duration(&c.heartbeat, 10ms);
    if (auto fi = m.Field("fault_injection"); fi.present()) fi.Bool(&c.fault_injection);
    if (auto skew = m.Field("max_clock_skew"); skew.present()) skew.Duration(&c.max_clock_skew, 100ms);
    if (auto rate = m.Field("lease_clock_rate"); rate.present()) {
      if (rate.Number(&c.lease_clock_rate, 0.01) && c.lease_clock_rate > 100)
        rate.Report("must be between 0.01 and 100");
      else if (!c.fault_injection)
        rate.Report("is a fault-injection setting; it needs cluster.fault_injection: true");
    }
    cfg_.cluster = std::move(c);
  }

  void ReadLease(const MapReader& m, LeaseSection* lease) {
    auto ttl = m.Field("ttl"), renew = m.Field("renew");
    bool ttl_ok = !ttl.present() || ttl.Duration(&lease->ttl, 10ms);
    // Renewing at half the TTL leaves a whole renew period of slack for a slow round.
    if (ttl_ok && ttl.present()) lease->renew = lease->ttl / 2;
    bool renew_ok = !renew.present() || renew.Duration(&lease->renew, 1ms);
    auto margin = m.Field("margin");
    if (ttl_ok) lease->margin = lease->ttl / 10;
    bool margin_ok = !margin.present() || margin.Duration(&lease->margin, 0ms);
    // The holder renews at `renew`; the renewal must land before it stops at ttl - margin.
    if (ttl_ok && renew_ok && margin_ok && lease->renew < lease->ttl &&
        lease->margin >= lease->ttl - lease->renew) {
      const ValueReader& at = margin.present() ? margin : ttl;
      ctx_.Report(at.mark(), m.PathOf("margin"),
                  "must be less than ttl - renew (" + config_internal::FormatDuration(lease->margin) +
                      " >= " + config_internal::FormatDuration(lease->ttl - lease->renew) + ")");
    }
    if (ttl_ok && renew_ok && lease->renew >= lease->ttl) {
      const ValueReader& at = renew.present() ? renew : ttl;
      ctx_.Report(at.mark(), m.PathOf("renew"),
                  "must be less than " + m.PathOf("ttl") + " (" +
                      config_internal::FormatDuration(lease->renew) +
                      " >= " + config_internal::FormatDuration(lease->ttl) + ")");
    }
  }

  void ReadAdmin(const MapReader& top) {
    if (!top.Has("admin")) return;
    MapReader m(ctx_, top.Field("admin"), {"listen", "token", "token_env"});
    if (!m.valid()) return;
    AdminSection a;
    auto listen = m.Required("listen");
    HostPort address;
    if (listen.HostPort(&a.listen, true, &address)) RequireLoopbackWithoutTls(top, listen, address);
    // Without a token the node uses (or generates) <data_dir>/admin.token; one given here
    // must not be guessable by trying short strings. Its length is not quoted back.
    ReadSecret(m, "token", "token_env", &a.token, false);
    if (!a.token.empty() && a.token.size() < kMinAdminTokenBytes) {
      const bool from_env = m.Has("token_env");
      m.Field(from_env ? "token_env" : "token")
          .Report(std::string(from_env ? "the token in this variable" : "the token") + " must be at least " +
                  std::to_string(kMinAdminTokenBytes) + " bytes long");
      a.token.clear();
    }
    cfg_.admin = std::move(a);
  }

  // Without a tls: section nothing authenticates or encrypts the ports, so they must be
  // reachable from this machine only: every listen and peer address is a loopback one.
  void RequireLoopbackWithoutTls(const MapReader& top, const ValueReader& v, const HostPort& address) {
    if (top.Has("tls") || address.is_loopback) return;
    v.Report(Quote(v.node().Scalar()) +
             " is not a loopback address; without a tls: section amid listens on and connects to "
             "loopback addresses only (see docs/security.md)");
  }

  void ReadTls(const MapReader& top) {
    if (!top.Has("tls")) return;
    MapReader m(ctx_, top.Field("tls"), {"ca_file", "cert_file", "key_file"});
    if (!m.valid()) return;
    TlsSection t;
    for (auto [key, out] : {std::pair{"ca_file", &t.ca_file}, {"cert_file", &t.cert_file}, {"key_file", &t.key_file}}) {
      std::string text;
      auto field = m.Required(key);
      if (!field.String(&text)) continue;
      *out = Resolve(text);
      // Checked now, so a typo stops the node before it starts, not at the first peer.
      if (std::string why = CheckReadable(*out); !why.empty()) field.Report(why);
    }
    cfg_.tls = std::move(t);
  }

  void ReadLimits(const MapReader& m) {
    LimitsSection& l = cfg_.limits;
    m.Field("heap").Size(&l.heap_bytes, 16ull << 20);
    m.Field("cpu_per_run").Duration(&l.cpu_per_run, 10ms);
    m.Field("stop_grace").Duration(&l.stop_grace, 0ms);
    m.Field("max_timers").Int(&l.max_timers, 1, 1000000);
    m.Field("max_pending_calls").Int(&l.max_pending_calls, 1, 100000);
    m.Field("max_list_results").Int(&l.max_list_results, 1, 1000000);
    m.Field("max_log_line").Size(&l.max_log_line, 256);
    m.Field("max_log_lines_per_sec").Int(&l.max_log_lines_per_sec, 1, 1000000);
  }

  void ReadExecution(const MapReader& top) {
    MapReader m(ctx_, top.Field("execution"),
                {"critical_backoff", "network_backoff", "run_slots", "priority_order"});
    ExecutionSection& e = cfg_.execution;
    ReadBackoff(MapReader(ctx_, m.Field("critical_backoff"), {"initial", "factor", "max"}),
                &e.critical_backoff);
    ReadBackoff(MapReader(ctx_, m.Field("network_backoff"), {"initial", "factor", "max"}),
                &e.network_backoff);
    m.Field("run_slots").Int(&e.run_slots, 0, 1024);
    m.Field("priority_order").Bool(&e.priority_order);
  }

  void ReadBackoff(const MapReader& m, BackoffSection* b) {
    auto initial = m.Field("initial"), max = m.Field("max");
    bool initial_ok = !initial.present() || initial.Duration(&b->initial, 1ms);
    bool max_ok = !max.present() || max.Duration(&b->max, 1ms);
    m.Field("factor").Number(&b->factor, 1.0);
    if (!initial_ok || !max_ok || b->max >= b->initial) return;
    std::string values = " (" + config_internal::FormatDuration(b->max) + " < " +
                         config_internal::FormatDuration(b->initial) + ")";
    if (max.present()) max.Report("must not be less than initial" + values);
    else initial.Report("must not be more than max" + values);
  }

  void ReadLog(const MapReader& top) {
    MapReader m(ctx_, top.Field("log"), {"level", "format", "worker_file_size", "worker_files", "ring_lines"});
    LogSection& l = cfg_.log;
    m.Field("level").Enum(&l.level, ParseLogLevel, "trace|debug|info|warn|error");
    m.Field("format").Enum(&l.format, ParseLogFormat, "text|json");
    m.Field("worker_file_size").Size(&l.worker_file_bytes, 1024);
    m.Field("worker_files").Int(&l.worker_files, 1, 20);
    m.Field("ring_lines").Int(&l.ring_lines, 0, 1000000);
  }

  void ReadPlugins(const MapReader& top) {
    MapReader m(ctx_, top.Field("plugins"), {"dirs"});
    std::vector<std::string> dirs;
    const ValueReader field = m.Field("dirs");
    if (!field.StringList(&dirs)) return;
    // `dirs:` with no value is the same as leaving it out; `dirs: []` means no plugins.
    cfg_.plugin_dirs_given = !field.node().IsNull();
    for (const auto& d : dirs) cfg_.plugin_dirs.push_back(Resolve(d));
  }

  // The id of each entry of an id-keyed section (exchanges, accounts), checked.
  void CheckIds(const MapReader& m) {
    for (const auto& e : m.entries())
      if (!IsPlainName(e.key))
        ctx_.Report(e.key_node.Mark(), m.PathOf(e.key), std::string("ids ") + kPlainNameRule);
  }

  void ReadExchanges(const MapReader& top) {
    MapReader m(ctx_, top.Field("exchanges"), {});
    CheckIds(m);
    for (const auto& entry : m.entries()) {
      exchange_ids_.push_back(entry.key);
      MapReader x(ctx_, m.Field(entry.key), {});  // other keys are connector options
      if (!x.valid()) continue;
      ExchangeSection s;
      s.id = entry.key;
      x.Required("connector").String(&s.connector);
      if (auto t = x.Field("timeout"); t.present()) t.Duration(&s.timeout, 1ms);
      if (auto n = x.Field("threads"); n.present()) n.Int(&s.threads, 1, 64);
      for (const auto& option : x.entries())
        if (option.key != "connector" && option.key != "timeout" && option.key != "threads")
          x.Field(option.key).AnyString(&s.options[option.key]);
      cfg_.exchanges.push_back(std::move(s));
    }
  }

  void ReadAccounts(const MapReader& top) {
    MapReader m(ctx_, top.Field("accounts"), {});
    CheckIds(m);
    for (const auto& entry : m.entries()) {
      MapReader a(ctx_, m.Field(entry.key),
                  {"exchange", "api_key", "api_key_env", "secret", "secret_env"});
      if (!a.valid()) continue;
      AccountSection s;
      s.id = entry.key;
      auto exchange = a.Required("exchange");
      if (exchange.String(&s.exchange)) CheckExchangeKnown(exchange, s.exchange);
      ReadSecret(a, "api_key", "api_key_env", &s.api_key, false);
      ReadSecret(a, "secret", "secret_env", &s.secret, false);
      cfg_.accounts.push_back(std::move(s));
    }
  }

  void CheckExchangeKnown(const ValueReader& v, const std::string& id) {
    if (std::find(exchange_ids_.begin(), exchange_ids_.end(), id) != exchange_ids_.end()) return;
    std::vector<std::string_view> names(exchange_ids_.begin(), exchange_ids_.end());
    v.Report("unknown exchange " + Quote(id) +
             (names.empty() ? "; no exchanges are defined"
                            : "; defined: " + config_internal::JoinNames(names, ", ")));
  }

  void ReadWorker(const ValueReader& item) {
    MapReader m(ctx_, item, WorkerKeys());
    if (!m.valid()) return;
    const size_t problems_before = ctx_.count();
    WorkerDeclaration d;
    d.where = ctx_.Where(m.mark());
    WorkerRecord& r = d.record;
    r.active = true;  // declaring a worker means wanting it to run
    r.nid = cfg_.node.id;
    for (const auto& e : m.entries()) d.given.insert(e.key);
    ReadWorkerIdentity(m, &d);
    m.Field("template").String(&d.template_id);
    ReadWorkerScript(m, &r.script);
    for (const auto& f : WorkerFields())
      if (f.yaml_name && !f.yaml_custom) ReadYamlField(m.Field(f.yaml_name), f, &r);
    // A template may supply assigned_node (or execution_mode): the node checks the
    // record made from the template and the declaration when it applies it.
    const bool from_template = m.Has("template");
    if (r.execution_mode == ExecutionMode::kExclusive && !r.assigned_node && !from_template)
      ctx_.Report(m.Field("execution_mode").mark(), m.PathOf("assigned_node"),
                  "required when execution_mode is exclusive");
    if (ctx_.count() == problems_before && !cfg_.node.id.empty()) {
      WorkerRecord checked = r;
      if (from_template && !checked.assigned_node) checked.execution_mode = ExecutionMode::kParallel;
      CheckRecord(m, checked);
    }
    // Only a file that loads is ever applied; after a problem nothing walks its values
    // (the alias pre-pass bounds the walk anyway).
    if (ctx_.ok()) d.source_hash = HashDeclaration(m, r.script);
    cfg_.workers.push_back(std::move(d));
  }

  // The record's own rules (lengths, UTF-8, ...) as the admin API applies them, so a
  // declared worker can never be one the API would refuse. Its message names the
  // camelCase field ("accountId: ...", "dependencies[1]: ..."); report it under the YAML key.
  void CheckRecord(const MapReader& m, const WorkerRecord& r) {
    Status s = ValidateRecord(r);
    if (s.ok()) return;
    std::string_view message = s.message();
    size_t colon = message.find(": ");
    std::string key;
    if (colon != std::string_view::npos) {
      std::string_view name = message.substr(0, colon);
      std::string_view index = name.substr(std::min(name.find('['), name.size()));
      name.remove_suffix(index.size());
      const WorkerField* f = FindField(name);
      key = std::string(f && f->yaml_name ? f->yaml_name : name) + std::string(index);
      message.remove_prefix(colon + 2);
    }
    auto field = m.Field(key.substr(0, key.find('[')));
    ctx_.Report(field.present() ? field.mark() : m.mark(), key.empty() ? m.path() : m.PathOf(key),
                message);
  }

  // name and sid: the sid is derived from node id and name unless given.
  void ReadWorkerIdentity(const MapReader& m, WorkerDeclaration* d) {
    auto name = m.Field("name"), sid = m.Field("sid");
    if (!name.present() && !sid.present()) m.Missing("name", "give name or sid");
    if (name.String(&d->name) && !CheckUnique(&names_, name, d->name, "worker name")) return;
    std::string text;
    if (sid.String(&text)) {
      if (!IsUuid(text))
        return sid.Report("expected a UUID like 123e4567-e89b-42d3-a456-426614174000, got " + Quote(text));
      d->record.sid = text;
      if (!name.present()) d->name = text;
    } else if (!d->name.empty() && !sid.present()) {
      d->record.sid = NameUuid(cfg_.node.id + "/" + d->name);
    }
    if (!d->record.sid.empty()) CheckUnique(&sids_, sid.present() ? sid : name, d->record.sid, "sid");
  }

  // Remembers `value`; reports and returns false when an earlier worker had it.
  bool CheckUnique(std::map<std::string, int>* seen, const ValueReader& v, const std::string& value,
                   const std::string& what) {
    int line = v.mark().line + 1;
    auto [it, inserted] = seen->emplace(value, line);
    if (inserted) return true;
    v.Report("duplicate " + what + " " + Quote(value) + " (first declared at line " +
             std::to_string(it->second) + ")");
    return false;
  }

  // Exactly one of script / script_file, or neither when a template supplies it.
  void ReadWorkerScript(const MapReader& m, std::string* script) {
    auto inline_script = m.Field("script"), file = m.Field("script_file");
    if (inline_script.present() && file.present())
      return file.Report("give either script or script_file, not both");
    if (inline_script.present()) {
      if (inline_script.AnyString(script)) CheckScriptSize(inline_script, *script);
    } else if (file.present()) {
      std::string name;
      if (!file.String(&name)) return;
      auto text = ReadWholeFile(Resolve(name));
      if (!text.ok()) return file.Report(text.status().message());
      *script = std::move(*text);
      CheckScriptSize(file, *script);
    } else if (!m.Has("template")) {
      m.Missing("script", "give script, script_file or template");
    }
  }

  void CheckScriptSize(const ValueReader& v, const std::string& script) {
    if (script.size() > kMaxScriptBytes)
      v.Report(std::to_string(script.size()) + " bytes is over the " +
               std::to_string(kMaxScriptBytes) + "-byte limit");
  }

  // SHA-256 of the declaration as written, with script_file replaced by the file's text,
  // so editing the script file counts as changing the declaration.
  std::string HashDeclaration(const MapReader& m, const std::string& script) {
    std::map<std::string, std::string> parts;
    for (const auto& e : m.entries()) AppendCanonical(e.value, &parts[e.key]);
    if (parts.erase("script_file")) {
      parts["script"].clear();
      AppendString(script, &parts["script"]);
    }
    std::string text;
    AppendCanonicalMap(parts, &text);
    return Sha256Hex(text);
  }

  Context& ctx_;
  fs::path base_;
  Config& cfg_;
  std::vector<std::string> exchange_ids_;
  std::map<std::string, int> names_, sids_;
};

}  // namespace

TemplateOverrides DeclaredOverrides(const WorkerDeclaration& d) {
  TemplateOverrides o;
  for (const auto& f : WorkerFields()) {
    if (!f.yaml_name || !f.put_override) continue;
    if (d.given.count(f.yaml_name) || (f.yaml_alias && d.given.count(f.yaml_alias)))
      f.put_override(o, f.get(d.record));
  }
  o.active = d.record.active;  // true unless the declaration says otherwise
  return o;
}

Result<Millis> ParseDuration(std::string_view text) {
  auto bad = [&](std::string_view why) {
    std::string message = "expected a duration like 10s or 250ms, got " + Quote(text);
    if (!why.empty()) message += ": " + std::string(why);
    return Status::InvalidArgument(message);
  };
  std::string_view trimmed = Trim(text);
  if (!trimmed.empty() && trimmed[0] == '-') return bad("must not be negative");
  std::vector<Term> terms;
  if (!SplitTerms(trimmed, &terms)) return bad("");
  double total = 0;
  for (const auto& term : terms) {
    if (term.unit.empty()) return bad("a unit is required (ms, s, m, h or d)");
    double scale = DurationUnitMillis(term.unit);
    if (scale == 0) return bad("unknown unit " + Quote(term.unit) + " (use ms, s, m, h or d)");
    total += term.value * scale;
  }
  if (total > 1e15) return bad("too large");
  return Millis(std::llround(total));
}

Result<uint64_t> ParseSize(std::string_view text) {
  auto bad = [&](std::string_view why) {
    std::string message = "expected a size like 128MB, got " + Quote(text);
    if (!why.empty()) message += ": " + std::string(why);
    return Status::InvalidArgument(message);
  };
  std::string_view trimmed = Trim(text);
  if (!trimmed.empty() && trimmed[0] == '-') return bad("must not be negative");
  std::vector<Term> terms;
  if (!SplitTerms(trimmed, &terms) || terms.size() != 1) return bad("");
  double scale = SizeUnitBytes(terms[0].unit);
  if (scale == 0)
    return bad("unknown unit " + Quote(terms[0].unit) + " (use B, KB, MB, GB, TB or KiB, MiB, GiB, TiB)");
  double bytes = terms[0].value * scale;
  if (bytes >= 0x1p63) return bad("too large");
  return static_cast<uint64_t>(bytes);
}

Result<Config> ParseConfig(std::string_view yaml_text, const std::string& name,
                           const fs::path& base_dir) {
  Context ctx(name);
  std::error_code ec;
  fs::path base = fs::absolute(base_dir, ec).lexically_normal();
  if (ec) base = base_dir.lexically_normal();
  Config cfg;
  cfg.file = name;
  try {
    // Before anything walks the tree: a few hundred bytes of nested aliases would expand
    // to billions of nodes (see yaml_guard.h).
    if (auto problem = config_internal::CheckAliasExpansion(yaml_text)) {
      ctx.Report(problem->mark, "aliases", problem->message);
      return ctx.Failure();
    }
    YAML::Node root = YAML::Load(std::string(yaml_text));
    ConfigReader(ctx, base, cfg).Read(root);
  } catch (const YAML::Exception& e) {
    // Syntax errors stop the parse: nothing after the mark can be trusted.
    ctx.Report(e.mark, "syntax", e.msg);
  }
  if (!ctx.ok()) return ctx.Failure();
  return cfg;
}

Result<Config> LoadConfig(const fs::path& file) {
  auto text = ReadWholeFile(file);
  if (!text.ok()) return Status::IOError(file.string() + ": " + text.status().message());
  std::error_code ec;
  fs::path absolute = fs::absolute(file, ec).lexically_normal();
  if (ec) absolute = file;
  auto config = ParseConfig(*text, file.string(), absolute.parent_path());
  if (config.ok()) config->file = absolute;
  return config;
}

}  // namespace ami
