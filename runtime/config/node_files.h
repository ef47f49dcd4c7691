// Files of a node that hold or guard secrets: the generated admin token and the
// permission checks amid logs at start (docs/security.md).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "runtime/base/status.h"
#include "runtime/config/config.h"

namespace ami {

// The admin service always requires a token of at least this many bytes.
inline constexpr size_t kMinAdminTokenBytes = 16;

struct AdminTokenFile {
  std::string token;                 // never logged
  std::filesystem::path path;        // <data_dir>/admin.token
  bool created = false;              // generated now (first start)
};

// The token in <data_dir>/admin.token, or a new one: 32 random bytes (OpenSSL
// RAND_bytes) as 64 hex digits, written to a file created with O_CREAT|O_EXCL and mode
// 0600 (so two nodes racing on one data dir cannot both write it). Surrounding
// whitespace in the file is ignored; a file holding fewer than kMinAdminTokenBytes is an
// error, as is an unreadable or uncreatable one. Messages name the path, never the token.
Result<AdminTokenFile> LoadOrCreateAdminToken(const std::filesystem::path& data_dir);

// Creates the data dir (and missing parents) with mode 0700 when it does not exist, so
// a fresh node's store and logs are private; an existing directory is left as it is.
Status CreatePrivateDataDir(const std::filesystem::path& data_dir);

// Warnings for amid's log at start: the config file holds secrets inline
// (config.inline_secrets) and can be read by group or others; the TLS key file or
// <data_dir>/admin.token can be read by group or others; the data dir can be read or
// searched by others. Each names the path, the mode and the fix; none holds a secret.
std::vector<std::string> FilePermissionWarnings(const Config& config);

}  // namespace ami
