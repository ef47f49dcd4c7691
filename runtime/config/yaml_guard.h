// A cheap pass over a YAML document's event stream, run before the document is loaded
// and walked (internal to the config loader).
//
// yaml-cpp shares the node an alias names instead of copying it, so loading an "alias
// bomb" (a few hundred bytes whose aliases nest eight levels deep) is quick — but any
// walk over the loaded tree visits every alias as a full copy: billions of nodes. This
// pass counts, per anchor, the size its node has once expanded, and adds that size at
// every alias, in one linear scan. A document whose aliases would add more than the
// limits is refused before anything walks it; so is an alias inside the node it names
// (a cycle, which a walk would never leave).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <yaml-cpp/mark.h>

namespace ami::config_internal {

struct AliasLimits {
  uint64_t max_nodes = 100000;        // nodes added by aliases, counting nested ones
  uint64_t max_bytes = 16ull << 20;   // scalar text added by aliases
};

struct AliasProblem {
  YAML::Mark mark;                    // the alias that crossed a limit or closes a cycle
  std::string message;
};

// Scans the first document of `text` (the one YAML::Load reads). Returns the problem, or
// nullopt when the aliases stay within `limits`. Syntax errors propagate as the
// YAML::ParserException yaml-cpp throws (the same one YAML::Load would throw).
std::optional<AliasProblem> CheckAliasExpansion(std::string_view text, const AliasLimits& limits = {});

}  // namespace ami::config_internal
