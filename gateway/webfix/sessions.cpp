#include "gateway/webfix/sessions.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "runtime/base/digest.h"

namespace ami::gateway::webfix {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kFormat = "ami-webfix-sessions/1";

bool IsHex(std::string_view s, size_t size) {
  if (s.size() != size) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Writes `text` to `file` atomically with mode 0600; "" or why not.
std::string WriteAtomically(const fs::path& file, const std::string& text) {
  std::error_code ec;
  const fs::path dir = file.parent_path();
  if (!dir.empty() && !fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return "creating " + dir.string() + ": " + ec.message();
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);  // 0700: a login list is private
  }
  const fs::path tmp = file.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return "opening " + tmp.string() + ": " + std::strerror(errno);
  std::string error;
  if (::fchmod(fd, 0600) != 0) error = std::string("fchmod: ") + std::strerror(errno);  // the file may have existed
  for (size_t done = 0; error.empty() && done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) error = std::string("writing: ") + std::strerror(errno);
    else done += static_cast<size_t>(n);
  }
  if (error.empty() && ::fsync(fd) != 0) error = std::string("fsync: ") + std::strerror(errno);
  ::close(fd);
  if (error.empty() && ::rename(tmp.c_str(), file.c_str()) != 0) error = std::string("rename: ") + std::strerror(errno);
  if (!error.empty()) {
    ::unlink(tmp.c_str());
    return tmp.string() + ": " + error;
  }
  // The rename itself must reach the disk too, or a crash may bring back the old file.
  if (const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return "";
}

}  // namespace

SessionStore::SessionStore(Options options) : options_(std::move(options)) {}

int64_t SessionStore::Now() const {
  if (options_.now) return options_.now();
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<SessionStore> SessionStore::Open(Options options, std::string* warning) {
  std::unique_ptr<SessionStore> store(new SessionStore(std::move(options)));
  const fs::path& file = store->options_.file;
  std::error_code ec;
  if (file.empty() || !fs::exists(file, ec)) return store;
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  const json doc = json::parse(text.str(), nullptr, false);
  if (!in || !doc.is_object() || doc.value("format", "") != kFormat || !doc.contains("sessions") ||
      !doc["sessions"].is_array()) {
    if (warning)
      *warning = file.string() + ": not a sessions file of this version; starting with no sessions (wallets log in again)";
    return store;
  }
  const int64_t now = store->Now();
  size_t skipped = 0;
  std::lock_guard<std::mutex> lock(store->mu_);
  for (const auto& item : doc["sessions"]) {
    if (!item.is_object() || !item.contains("id_sha256") || !item["id_sha256"].is_string() ||
        !IsHex(item["id_sha256"].get<std::string>(), 64) || !item.contains("wallet") || !item["wallet"].is_string() ||
        !item.contains("created") || !item["created"].is_number_integer() || !item.contains("expires") ||
        !item["expires"].is_number_integer()) {
      ++skipped;
      continue;
    }
    Session s{item["wallet"].get<std::string>(), item["created"].get<int64_t>(), item["expires"].get<int64_t>()};
    // A file from a node with a longer ttl does not outlast this node's ttl.
    s.expires_at = std::min(s.expires_at, s.created_at + static_cast<int64_t>(store->options_.ttl.count()));
    if (s.expires_at > now) store->by_hash_[item["id_sha256"].get<std::string>()] = std::move(s);
  }
  if (skipped && warning) *warning = file.string() + ": skipped " + std::to_string(skipped) + " malformed session(s)";
  return store;
}

std::string SessionStore::Create(const std::string& wallet, Session* created) {
  const std::string id = RandomHex(32);
  const int64_t now = Now();
  Session session{wallet, now, now + static_cast<int64_t>(options_.ttl.count())};
  std::lock_guard<std::mutex> lock(mu_);
  PruneLocked(now);
  // The wallet's oldest sessions go first when it has too many.
  std::vector<std::map<std::string, Session>::iterator> mine;
  for (auto it = by_hash_.begin(); it != by_hash_.end(); ++it)
    if (it->second.wallet == wallet) mine.push_back(it);
  std::sort(mine.begin(), mine.end(), [](auto a, auto b) { return a->second.created_at < b->second.created_at; });
  const size_t keep = options_.max_per_wallet > 0 ? options_.max_per_wallet - 1 : 0;
  for (size_t i = 0; mine.size() - i > keep; ++i) by_hash_.erase(mine[i]);
  by_hash_[Sha256Hex(id)] = session;
  if (created) *created = session;
  PersistLocked();
  return id;
}

std::optional<SessionStore::Session> SessionStore::Find(std::string_view id) {
  if (!IsHex(id, 64)) return std::nullopt;  // also keeps odd text out of the hash map
  const std::string hash = Sha256Hex(id);
  const int64_t now = Now();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  if (it->second.expires_at <= now) {
    PruneLocked(now);
    PersistLocked();
    return std::nullopt;
  }
  return it->second;
}

size_t SessionStore::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_hash_.size();
}

bool SessionStore::PruneLocked(int64_t now) {
  bool removed = false;
  for (auto it = by_hash_.begin(); it != by_hash_.end();) {
    if (it->second.expires_at <= now) {
      it = by_hash_.erase(it);
      removed = true;
    } else {
      ++it;
    }
  }
  return removed;
}

std::string SessionStore::Serialize() const {
  std::lock_guard<std::mutex> lock(mu_);
  return SerializeLocked();
}

std::string SessionStore::SerializeLocked() const {
  json sessions = json::array();
  for (const auto& [hash, s] : by_hash_)
    sessions.push_back({{"id_sha256", hash}, {"wallet", s.wallet}, {"created", s.created_at}, {"expires", s.expires_at}});
  return json{{"format", kFormat}, {"sessions", std::move(sessions)}}.dump(1) + "\n";
}

void SessionStore::PersistLocked() {
  if (options_.file.empty()) return;
  if (std::string error = WriteAtomically(options_.file, SerializeLocked()); !error.empty())
    spdlog::warn("webfix: saving sessions: {} (sessions made now last until the node stops)", error);
}

}  // namespace ami::gateway::webfix
