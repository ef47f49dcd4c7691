// A small schema walker over yaml-cpp nodes, used by the config loader (internal).
//
// The loader must report *every* problem, not stop at the first, so nothing here
// throws or returns early on bad input: readers record a problem ("file:line:col:
// path: message") in the shared Context and leave the target value untouched.
// Secret-bearing values are never echoed: type errors describe a value's kind
// ("got a list"), and only parsers of non-secret values (durations, sizes, enums,
// host:port) quote what they got.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "runtime/base/status.h"
#include "runtime/config/host_port.h"

namespace ami::config_internal {

// Collects problems and formats them sorted by position in the file.
class Context {
 public:
  explicit Context(std::string file_name) : file_(std::move(file_name)) {}

  void Report(const YAML::Mark& mark, std::string_view path, std::string_view message);
  // "file:line:col" (1-based) of a mark.
  std::string Where(const YAML::Mark& mark) const;
  bool ok() const { return problems_.empty(); }
  size_t count() const { return problems_.size(); }
  // All problems, one "file:line:col: path: message" line each, in file order.
  Status Failure() const;

 private:
  struct Problem {
    int line;
    int column;
    std::string text;
  };
  std::string file_;
  std::vector<Problem> problems_;
};

// Text helpers for messages.
std::string Quote(std::string_view text);  // "text", escaped, long values shortened
// Empty when `path` can be opened for reading; else why not ("cannot read \"…\": …").
std::string CheckReadable(const std::filesystem::path& path);
// A path from the config: relative ones resolve against `base` (the config file's
// directory), normalized, without a trailing slash.
std::filesystem::path ResolvePath(const std::filesystem::path& base, std::string_view text);
std::string Describe(const YAML::Node& node);  // "nothing", "a list", "a map", "a string"
std::string JoinNames(const std::vector<std::string_view>& names, std::string_view sep);
std::string FormatDuration(std::chrono::milliseconds ms);  // "1500ms", "10s", "2h"

// One value at one path. A reader for an absent key is "absent": every Read* returns
// false without reporting, so optional keys need no special casing by callers.
class ValueReader {
 public:
  // `key_mark` (where the key of a map entry is) places problems with empty values.
  ValueReader(Context& ctx, std::optional<YAML::Node> node, std::string path,
              std::optional<YAML::Mark> key_mark = std::nullopt)
      : ctx_(&ctx), node_(std::move(node)), path_(std::move(path)), key_mark_(key_mark) {}

  bool present() const { return node_.has_value(); }
  const YAML::Node& node() const { return *node_; }
  const std::string& path() const { return path_; }
  YAML::Mark mark() const;
  void Report(std::string_view message) const;

  // The scalar's text; reports "expected <expected>, got a list" for non-scalars.
  std::optional<std::string> Text(std::string_view expected) const;
  bool String(std::string* out) const;                      // non-empty
  bool AnyString(std::string* out) const;                   // may be empty
  bool OptionalString(std::optional<std::string>* out) const;  // null = unset
  bool Duration(std::chrono::milliseconds* out, std::chrono::milliseconds min) const;
  bool Size(uint64_t* out, uint64_t min) const;
  bool Int(int* out, int lo, int hi) const;
  bool Number(double* out, double min) const;
  bool Bool(bool* out) const;
  // "host:port" (ParseHostPort: names, IPv4 and bracketed IPv6 literals); port 0 only
  // when `allow_port_zero` (listen on any free port). *out keeps the text as written;
  // `parsed`, when given, receives the parsed address.
  bool HostPort(std::string* out, bool allow_port_zero, ami::HostPort* parsed = nullptr) const;
  // One of `allowed` (wire names), converted by `parse`.
  template <class E>
  bool Enum(E* out, std::optional<E> (*parse)(std::string_view), std::string_view allowed) const {
    auto text = Text("one of " + std::string(allowed));
    if (!text) return false;
    auto value = parse(*text);
    if (!value) {
      Report("expected one of " + std::string(allowed) + ", got " + Quote(*text));
      return false;
    }
    *out = *value;
    return true;
  }
  // A list (null = empty); calls item(reader) for each element with path "path[i]".
  template <class F>
  bool ForEach(F&& item) const {
    if (!present() || node_->IsNull()) return present();
    if (!node_->IsSequence()) {
      Report("expected a list, got " + Describe(*node_));
      return false;
    }
    for (size_t i = 0; i < node_->size(); ++i)
      item(ValueReader(*ctx_, (*node_)[i], path_ + "[" + std::to_string(i) + "]"));
    return true;
  }
  bool StringList(std::vector<std::string>* out) const;

 private:
  Context* ctx_;
  std::optional<YAML::Node> node_;
  std::string path_;
  std::optional<YAML::Mark> key_mark_;
};

// One map at one path. Construction reports a non-map, unknown keys (listing the
// allowed ones, with a "did you mean" for near misses) and duplicate keys. A null
// value reads as an empty map, so its required keys are reported as missing.
class MapReader {
 public:
  // Keys may be anything when `allowed` is empty.
  MapReader(Context& ctx, const ValueReader& value, std::vector<std::string_view> allowed);

  bool valid() const { return valid_; }
  const std::string& path() const { return path_; }
  YAML::Mark mark() const { return mark_; }
  std::string PathOf(std::string_view key) const;
  bool Has(std::string_view key) const { return Find(key) != nullptr; }

  // The value under `key` (absent reader when missing or when this is not a map).
  ValueReader Field(std::string_view key) const;
  // Reports "path.key: required key is missing <hint>" at this map.
  void Missing(std::string_view key, std::string_view hint = {}) const;
  // Field(key) unless missing; then reports and returns an absent reader.
  ValueReader Required(std::string_view key, std::string_view hint = {}) const;

  struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
  };
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  const Entry* Find(std::string_view key) const;

  Context* ctx_;
  std::string path_;
  YAML::Mark mark_;
  bool valid_ = false;
  std::vector<Entry> entries_;
};

}  // namespace ami::config_internal
