// Starting an in-process node (actors/local_node.h) from YAML text in a test.
// Header-only: only test targets that link ami_actors include it.
#pragma once

#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include "actors/local_node.h"
#include "runtime/config/config.h"

namespace ami::test {

// Parses `yaml` as the config file "t.yaml" in `dir` and starts a node from it. REQUIREs
// both steps to succeed; a failure shows the parser's or the node's message.
inline std::unique_ptr<LocalNode> StartLocalNode(const std::string& yaml, const std::filesystem::path& dir) {
  auto config = ParseConfig(yaml, "t.yaml", dir);
  INFO(config.status().message());
  REQUIRE(config.ok());
  auto node = LocalNode::Start(*config);
  INFO(node.status().message());
  REQUIRE(node.ok());
  return std::move(*node);
}

}  // namespace ami::test
