#include "runtime/config/plugin_dirs.h"

#include <system_error>

namespace ami {

namespace fs = std::filesystem;

std::vector<fs::path> PluginDirsBeside(const fs::path& executable) {
  std::vector<fs::path> out;
  if (executable.empty()) return out;
  const fs::path bin = executable.parent_path();
  for (const fs::path& candidate : {bin / ".." / "plugins", bin / ".." / "lib" / "ami" / "plugins"}) {
    std::error_code ec;
    if (!fs::is_directory(candidate, ec)) continue;
    fs::path dir = fs::weakly_canonical(candidate, ec);
    out.push_back(ec ? candidate.lexically_normal() : dir);
  }
  return out;
}

fs::path RunningExecutable() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe;
}

std::string ApplyDefaultPluginDirs(Config* config, const fs::path& executable) {
  if (config->plugin_dirs_given) return "";
  config->plugin_dirs = PluginDirsBeside(executable);
  if (config->plugin_dirs.empty())
    return "plugins: none configured and none found beside " +
           (executable.empty() ? std::string("this executable") : executable.string()) +
           " (looked in ../plugins and ../lib/ami/plugins); no connectors or templates";
  std::string dirs;
  for (const auto& d : config->plugin_dirs) dirs += (dirs.empty() ? "" : ", ") + d.string();
  return "plugins: none configured; using " + dirs;
}

}  // namespace ami
