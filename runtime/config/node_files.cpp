#include "runtime/config/node_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "runtime/base/digest.h"

namespace ami {

namespace fs = std::filesystem;

namespace {

std::string Octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

std::string Quoted(const fs::path& p) { return "\"" + p.string() + "\""; }

std::string TrimSpace(std::string s) {
  const char* space = " \t\r\n\v\f";
  s.erase(0, s.find_first_not_of(space));
  const auto end = s.find_last_not_of(space);
  s.erase(end == std::string::npos ? 0 : end + 1);
  return s;
}

Result<AdminTokenFile> ReadTokenFile(const fs::path& path, int fd) {
  AdminTokenFile out;
  out.path = path;
  std::string text;
  char buf[512];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > 4096) break;  // a token file is small; do not read a huge one
  }
  const int err = errno;
  close(fd);
  if (n < 0) return Status::IOError("cannot read admin token file " + Quoted(path) + ": " + std::strerror(err));
  out.token = TrimSpace(std::move(text));
  if (out.token.size() < kMinAdminTokenBytes)
    return Status::InvalidArgument("admin token file " + Quoted(path) + " holds fewer than " +
                                   std::to_string(kMinAdminTokenBytes) +
                                   " bytes; remove it to have a new token generated, or write a longer one");
  return out;
}

}  // namespace

Result<AdminTokenFile> LoadOrCreateAdminToken(const fs::path& data_dir) {
  const fs::path path = data_dir / "admin.token";
  Status dir = CreatePrivateDataDir(data_dir);
  if (!dir.ok()) return dir;
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) return ReadTokenFile(path, fd);
    if (errno != ENOENT)
      return Status::IOError("cannot read admin token file " + Quoted(path) + ": " + std::strerror(errno));

    unsigned char random[32];
    if (RAND_bytes(random, sizeof random) != 1)
      return Status::Internal("cannot generate an admin token: the random generator failed");
    AdminTokenFile out;
    out.path = path;
    out.created = true;
    out.token = HexOf(random, sizeof random);
    fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (errno == EEXIST) continue;  // another process made it first: read theirs
      return Status::IOError("cannot create admin token file " + Quoted(path) + ": " + std::strerror(errno));
    }
    const std::string text = out.token + "\n";
    const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
    const int err = errno;
    close(fd);
    if (!written) {
      unlink(path.c_str());
      return Status::IOError("cannot write admin token file " + Quoted(path) + ": " + std::strerror(err));
    }
    return out;
  }
  return Status::IOError("cannot read admin token file " + Quoted(path) + ": it keeps disappearing");
}

Status CreatePrivateDataDir(const fs::path& data_dir) {
  std::error_code ec;
  if (fs::exists(data_dir, ec)) return Status::OK();
  if (data_dir.has_parent_path()) fs::create_directories(data_dir.parent_path(), ec);
  if (ec) return Status::IOError("cannot create " + Quoted(data_dir.parent_path()) + ": " + ec.message());
  if (mkdir(data_dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::IOError("cannot create " + Quoted(data_dir) + ": " + std::strerror(errno));
  return Status::OK();
}

std::vector<std::string> FilePermissionWarnings(const Config& config) {
  std::vector<std::string> out;
  struct stat st {};
  if (!config.inline_secrets.empty() && stat(config.file.c_str(), &st) == 0 &&
      (st.st_mode & (S_IRGRP | S_IROTH))) {
    std::string keys;
    for (const auto& k : config.inline_secrets) keys += (keys.empty() ? "" : ", ") + k;
    out.push_back("config file " + Quoted(config.file) + " holds secrets inline (" + keys +
                  ") and is readable by group or others (mode " + Octal(st.st_mode) +
                  "); chmod 600 it, or move the secrets to the environment with the *_env keys");
  }
  if (config.tls && stat(config.tls->key_file.c_str(), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
    out.push_back("TLS key file " + Quoted(config.tls->key_file) + " is readable by group or others (mode " +
                  Octal(st.st_mode) + "); chmod 600 it");
  const fs::path token_file = config.node.data_dir / "admin.token";
  if (stat(token_file.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
    out.push_back("admin token file " + Quoted(token_file) + " is readable by group or others (mode " +
                  Octal(st.st_mode) + "); chmod 600 it");
  if (stat(config.node.data_dir.c_str(), &st) == 0 && (st.st_mode & (S_IROTH | S_IXOTH)))
    out.push_back("data dir " + Quoted(config.node.data_dir) + " is readable by others (mode " + Octal(st.st_mode) +
                  "); it holds the store, the logs and the admin token: chmod 700 it");
  return out;
}

}  // namespace ami
