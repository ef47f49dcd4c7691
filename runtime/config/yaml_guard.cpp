#include "runtime/config/yaml_guard.h"

#include <sstream>
#include <unordered_map>
#include <vector>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

namespace ami::config_internal {

namespace {

struct Size {
  uint64_t nodes = 0;
  uint64_t bytes = 0;
  Size& operator+=(const Size& o) {
    nodes += o.nodes;
    bytes += o.bytes;
    return *this;
  }
};

// Thrown out of the parser to stop at the first problem.
struct Stop {
  AliasProblem problem;
};

class ExpansionCounter : public YAML::EventHandler {
 public:
  explicit ExpansionCounter(const AliasLimits& limits) : limits_(limits) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t anchor) override { Leaf(anchor, {1, 0}); }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t anchor, const std::string& value) override {
    Leaf(anchor, {1, value.size()});
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = sizes_.find(anchor);
    // yaml-cpp registers an anchor when its node starts, so an alias inside that node
    // resolves to it: a cycle.
    if (it == sizes_.end())
      throw Stop{{mark, "an alias may not refer to a map or list that contains it"}};
    added_ += it->second;
    if (added_.nodes > limits_.max_nodes)
      throw Stop{{mark, "aliases expand this document to more than " + std::to_string(limits_.max_nodes) +
                            " extra nodes (each alias counts as a copy of what it names); refusing it"}};
    if (added_.bytes > limits_.max_bytes)
      throw Stop{{mark, "aliases expand this document to more than " + std::to_string(limits_.max_bytes >> 20) +
                            "MB of extra text (each alias counts as a copy of what it names); refusing it"}};
    Add(it->second);
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open_.push_back({anchor, {1, 0}});
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    open_.push_back({anchor, {1, 0}});
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Open {
    YAML::anchor_t anchor;
    Size size;
  };
  void Add(const Size& s) {
    if (!open_.empty()) open_.back().size += s;
  }
  void Leaf(YAML::anchor_t anchor, const Size& s) {
    if (anchor != YAML::NullAnchor) sizes_[anchor] = s;
    Add(s);
  }
  void Close() {
    if (open_.empty()) return;
    Open done = open_.back();
    open_.pop_back();
    Leaf(done.anchor, done.size);
  }

  const AliasLimits& limits_;
  std::vector<Open> open_;
  std::unordered_map<YAML::anchor_t, Size> sizes_;  // anchored nodes that are complete
  Size added_;                                      // what aliases add, so far
};

}  // namespace

std::optional<AliasProblem> CheckAliasExpansion(std::string_view text, const AliasLimits& limits) {
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  ExpansionCounter counter(limits);
  try {
    parser.HandleNextDocument(counter);
  } catch (const Stop& stop) {
    return stop.problem;
  }
  return std::nullopt;
}

}  // namespace ami::config_internal
