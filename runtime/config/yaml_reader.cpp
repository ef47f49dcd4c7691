#include "runtime/config/yaml_reader.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <tuple>

#include "runtime/config/config.h"

namespace ami::config_internal {

namespace {

// yaml-cpp marks are 0-based and null (-1) for nodes that were never in the text.
int OneBased(int zero_based) { return zero_based < 0 ? 1 : zero_based + 1; }

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string UnknownKeyMessage(std::string_view key, const std::vector<std::string_view>& allowed) {
  std::string_view best;
  size_t best_distance = 3;  // more than two edits is not a typo any more
  for (auto name : allowed) {
    size_t d = EditDistance(key, name);
    if (d < best_distance) best = name, best_distance = d;
  }
  // An abbreviation ("cpu" for cpu_per_run) is as likely as a typo.
  if (best.empty() && key.size() >= 3) {
    for (auto name : allowed)
      if (name.substr(0, key.size()) == key) {
        best = name;
        break;
      }
  }
  std::string message = "unknown key";
  if (!best.empty()) message += " (did you mean " + std::string(best) + "?)";
  return message + "; allowed: " + JoinNames(allowed, ", ");
}

bool ParseWhole(std::string_view text, int* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

bool ParseWhole(std::string_view text, double* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

// ---- Context

void Context::Report(const YAML::Mark& mark, std::string_view path, std::string_view message) {
  std::string where = Where(mark);
  std::string text = where + ": " + (path.empty() ? "(top level)" : std::string(path)) + ": " +
                     std::string(message);
  problems_.push_back({OneBased(mark.line), OneBased(mark.column), std::move(text)});
}

std::string Context::Where(const YAML::Mark& mark) const {
  return file_ + ":" + std::to_string(OneBased(mark.line)) + ":" +
         std::to_string(OneBased(mark.column));
}

Status Context::Failure() const {
  std::vector<Problem> sorted = problems_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Problem& a, const Problem& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  std::string message;
  for (const auto& p : sorted) {
    if (!message.empty()) message += '\n';
    message += p.text;
  }
  return Status::InvalidArgument(message);
}

// ---- text helpers

std::string Quote(std::string_view text) {
  constexpr size_t kMax = 60;
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kMax; ++i) {
    unsigned char c = text[i];
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMax) out += "...";
  return out + "\"";
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a map";
    // The text itself is not shown: the value may be a secret in the wrong place.
    default: return "a string";
  }
}

std::string JoinNames(const std::vector<std::string_view>& names, std::string_view sep) {
  std::string out;
  for (auto name : names) {
    if (!out.empty()) out += sep;
    out += name;
  }
  return out;
}

std::string FormatDuration(std::chrono::milliseconds ms) {
  struct Unit { int64_t ms; const char* suffix; };
  static constexpr Unit kUnits[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
  int64_t n = ms.count();
  for (const auto& u : kUnits)
    if (n != 0 && n % u.ms == 0) return std::to_string(n / u.ms) + u.suffix;
  return std::to_string(n) + "ms";
}

// ---- ValueReader

YAML::Mark ValueReader::mark() const {
  // An empty value ("id:") is placed by the parser at the next token, often on the
  // next line; its key is where the reader looks.
  if (node_ && node_->IsNull() && key_mark_) return *key_mark_;
  return node_ ? node_->Mark() : YAML::Mark::null_mark();
}

void ValueReader::Report(std::string_view message) const { ctx_->Report(mark(), path_, message); }

std::optional<std::string> ValueReader::Text(std::string_view expected) const {
  if (!present()) return std::nullopt;
  if (node_->IsScalar()) return node_->Scalar();
  Report("expected " + std::string(expected) + ", got " + Describe(*node_));
  return std::nullopt;
}

bool ValueReader::AnyString(std::string* out) const {
  auto text = Text("a string");
  if (!text) return false;
  *out = std::move(*text);
  return true;
}

bool ValueReader::String(std::string* out) const {
  std::string text;
  if (!AnyString(&text)) return false;
  if (text.empty()) {
    Report("must not be empty");
    return false;
  }
  *out = std::move(text);
  return true;
}

bool ValueReader::OptionalString(std::optional<std::string>* out) const {
  if (present() && node_->IsNull()) {
    out->reset();
    return true;
  }
  std::string text;
  if (!String(&text)) return false;
  *out = std::move(text);
  return true;
}

bool ValueReader::Duration(std::chrono::milliseconds* out, std::chrono::milliseconds min) const {
  auto text = Text("a duration like 10s or 250ms");
  if (!text) return false;
  auto parsed = ParseDuration(*text);
  if (!parsed.ok()) {
    Report(parsed.status().message());
    return false;
  }
  if (*parsed < min) {
    Report("must be at least " + FormatDuration(min) + ", got " + Quote(*text));
    return false;
  }
  *out = *parsed;
  return true;
}

bool ValueReader::Size(uint64_t* out, uint64_t min) const {
  auto text = Text("a size like 128MB");
  if (!text) return false;
  auto parsed = ParseSize(*text);
  if (!parsed.ok()) {
    Report(parsed.status().message());
    return false;
  }
  if (*parsed < min) {
    std::string min_text = min % (1 << 20) == 0 ? std::to_string(min >> 20) + "MB"
                           : min % 1024 == 0    ? std::to_string(min >> 10) + "KB"
                                                : std::to_string(min) + " bytes";
    Report("must be at least " + min_text + ", got " + Quote(*text));
    return false;
  }
  *out = *parsed;
  return true;
}

bool ValueReader::Int(int* out, int lo, int hi) const {
  auto text = Text("a whole number");
  if (!text) return false;
  int value = 0;
  if (!ParseWhole(*text, &value)) {
    Report("expected a whole number, got " + Quote(*text));
    return false;
  }
  if (value < lo || value > hi) {
    Report("must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
           Quote(*text));
    return false;
  }
  *out = value;
  return true;
}

bool ValueReader::Number(double* out, double min) const {
  auto text = Text("a number like 1.5");
  if (!text) return false;
  double value = 0;
  if (!ParseWhole(*text, &value)) {
    Report("expected a number like 1.5, got " + Quote(*text));
    return false;
  }
  if (!(value >= min)) {  // also rejects NaN
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", min);
    Report(std::string("must be at least ") + buf + ", got " + Quote(*text));
    return false;
  }
  *out = value;
  return true;
}

bool ValueReader::Bool(bool* out) const {
  auto text = Text("true or false");
  if (!text) return false;
  bool value = false;
  if (!YAML::convert<bool>::decode(*node_, value)) {
    Report("expected true or false, got " + Quote(*text));
    return false;
  }
  *out = value;
  return true;
}

bool ValueReader::HostPort(std::string* out, bool allow_port_zero, ami::HostPort* parsed) const {
  auto text = Text("host:port like 127.0.0.1:7101");
  if (!text) return false;
  auto address = ParseHostPort(*text, allow_port_zero);
  if (!address.ok()) {
    Report(address.status().message());
    return false;
  }
  if (parsed) *parsed = std::move(*address);
  *out = std::move(*text);
  return true;
}

bool ValueReader::StringList(std::vector<std::string>* out) const {
  std::vector<std::string> items;
  bool ok = true;
  bool is_list = ForEach([&](const ValueReader& item) {
    std::string text;
    if (item.String(&text)) items.push_back(std::move(text));
    else ok = false;
  });
  if (!is_list || !ok) return false;
  *out = std::move(items);
  return true;
}

// ---- MapReader

MapReader::MapReader(Context& ctx, const ValueReader& value, std::vector<std::string_view> allowed)
    : ctx_(&ctx), path_(value.path()) {
  if (!value.present()) return;
  const YAML::Node& node = value.node();
  mark_ = node.Mark();
  if (node.IsNull()) {
    valid_ = true;
    return;
  }
  if (!node.IsMap()) {
    value.Report("expected a map, got " + Describe(node));
    return;
  }
  valid_ = true;
  // By value: yaml-cpp iterators hand out a temporary proxy, references into it dangle.
  for (const auto& pair : node) {
    const YAML::Node key = pair.first;
    if (!key.IsScalar()) {
      ctx_->Report(key.Mark(), path_, "keys must be plain names, got " + Describe(key));
      continue;
    }
    std::string name = key.Scalar();
    if (const Entry* first = Find(name)) {
      ctx_->Report(key.Mark(), PathOf(name),
                   "duplicate key (first at line " + std::to_string(OneBased(first->key_node.Mark().line)) +
                       ")");
      continue;
    }
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      ctx_->Report(key.Mark(), PathOf(name), UnknownKeyMessage(name, allowed));
      continue;
    }
    entries_.push_back({std::move(name), key, pair.second});
  }
}

std::string MapReader::PathOf(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

const MapReader::Entry* MapReader::Find(std::string_view key) const {
  for (const auto& e : entries_)
    if (e.key == key) return &e;
  return nullptr;
}

ValueReader MapReader::Field(std::string_view key) const {
  const Entry* e = Find(key);
  if (!e) return ValueReader(*ctx_, std::nullopt, PathOf(key));
  return ValueReader(*ctx_, e->value, PathOf(key), e->key_node.Mark());
}

void MapReader::Missing(std::string_view key, std::string_view hint) const {
  if (!valid_) return;  // the map itself was already reported (or is optional and absent)
  std::string message = "required key is missing";
  if (!hint.empty()) message += " (" + std::string(hint) + ")";
  ctx_->Report(mark_, PathOf(key), message);
}

ValueReader MapReader::Required(std::string_view key, std::string_view hint) const {
  if (!Has(key)) Missing(key, hint);
  return Field(key);
}

std::filesystem::path ResolvePath(const std::filesystem::path& base, std::string_view text) {
  std::filesystem::path path = (base / std::filesystem::path(text)).lexically_normal();
  if (path.filename().empty() && path != path.root_path()) path = path.parent_path();
  return path;
}

std::string CheckReadable(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return "cannot read " + Quote(path.string()) + ": it is a directory";
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return "cannot read " + Quote(path.string()) + ": " + std::strerror(errno);
  std::fclose(f);
  return "";
}

}  // namespace ami::config_internal
