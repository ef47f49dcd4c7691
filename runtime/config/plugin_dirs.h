// The plugin directories a node uses when its config gives no `plugins.dirs`: the ones
// built or installed beside the running executable (docs/configuration.md, plugins).
//
// Why here and not in ParseConfig: parsing stays a pure function of the file (tests and
// --check-config see exactly what was written), while where the running binary lives is
// a fact about the process. amid applies the default once, at start, and logs it.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "runtime/config/config.h"

namespace ami {

// Where plugins sit relative to an executable at <prefix>/<bin>/<exe>, in search order:
//   <exe dir>/../plugins          the build tree (build/apps/amid -> build/plugins)
//   <exe dir>/../lib/ami/plugins  an install layout (/usr/bin/amid -> /usr/lib/ami/plugins)
// Only directories that exist are returned, normalized; none may exist.
std::vector<std::filesystem::path> PluginDirsBeside(const std::filesystem::path& executable);

// The running executable's path (/proc/self/exe resolved), or empty when unknown.
std::filesystem::path RunningExecutable();

// When `config` names no plugin directories (no `plugins.dirs` key; an explicit
// `dirs: []` means "no plugins" and is kept), fills config->plugin_dirs with
// PluginDirsBeside(executable). Returns one line for the node log saying what was done,
// or "" when the config named its own directories.
std::string ApplyDefaultPluginDirs(Config* config, const std::filesystem::path& executable);

}  // namespace ami
