// The paper plugin loaded once for the paper tests of test_paper (paper_test.cpp,
// paper_journal_test.cpp); AMI_PLUGIN_DIR is the build's plugin directory.
#pragma once

#include <filesystem>

#include "plugins/loader.h"

namespace ami::test {

inline plugins::PluginRegistry& PaperRegistry() {
  static plugins::PluginRegistry registry =
      plugins::LoadPlugins({std::filesystem::path(AMI_PLUGIN_DIR) / "paper.so"});
  return registry;
}

}  // namespace ami::test
