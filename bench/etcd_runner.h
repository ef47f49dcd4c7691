// bench_cluster's yardstick: an etcd cluster (Debian's etcd-server 3.4, the `etcd` binary)
// of N members on loopback, started from scratch with its defaults (fsync on), and the
// time from a put on one member until every member's watch reports it. Spoken through
// etcd's HTTP/JSON gateway (/v3/kv/put, /v3/watch) on plain sockets, so the bench needs
// no etcd client library. Not found in PATH → Available() is false and the caller says so.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "bench/bench_util.h"
#include "tests/support/test_support.h"

namespace ami::bench {

inline std::string Base64(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out += t[(v >> s) & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint8_t(in[i]) << 16;
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    for (int s : {18, 12, 6}) out += t[(v >> s) & 63];
    out += '=';
  }
  return out;
}

inline std::string EtcdBinary() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t end = dirs.find(':', start);
    const std::string dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    const std::string candidate = (dir.empty() ? "." : dir) + "/etcd";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return {};
}

inline uint16_t LoopbackFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) Die("bind");
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

inline int ConnectLoopback(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

inline bool SendAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

inline std::string Post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Reads one HTTP response with a Content-Length body from a keep-alive connection.
inline std::string ReadResponse(int fd, std::string& buffer) {
  for (;;) {
    const size_t head_end = buffer.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      size_t length = 0;
      const size_t cl = buffer.find("Content-Length: ");
      if (cl != std::string::npos && cl < head_end) length = std::strtoul(buffer.c_str() + cl + 16, nullptr, 10);
      if (buffer.size() >= head_end + 4 + length) {
        std::string response = buffer.substr(0, head_end + 4 + length);
        buffer.erase(0, head_end + 4 + length);
        return response;
      }
    }
    char chunk[4096];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return {};
    buffer.append(chunk, static_cast<size_t>(n));
  }
}

class EtcdCluster {
 public:
  explicit EtcdCluster(size_t members) : binary_(EtcdBinary()) {
    if (binary_.empty()) return;
    std::string initial;
    for (size_t i = 0; i < members; ++i) {
      client_.push_back(LoopbackFreePort());
      peer_.push_back(LoopbackFreePort());
      initial += (i ? "," : "") + Name(i) + "=http://127.0.0.1:" + std::to_string(peer_[i]);
    }
    for (size_t i = 0; i < members; ++i) {
      const std::string c = "http://127.0.0.1:" + std::to_string(client_[i]);
      const std::string p = "http://127.0.0.1:" + std::to_string(peer_[i]);
      procs_.push_back(std::make_unique<test::ChildProcess>(
          binary_,
          std::vector<std::string>{"--name", Name(i), "--data-dir", (dir_.path() / Name(i)).string(),
                                   "--listen-client-urls", c, "--advertise-client-urls", c, "--listen-peer-urls", p,
                                   "--initial-advertise-peer-urls", p, "--initial-cluster", initial,
                                   "--initial-cluster-state", "new", "--initial-cluster-token", "ami-bench"},
          dir_.path() / (Name(i) + ".out")));
    }
  }
  ~EtcdCluster() {
    for (int fd : watch_fds_) shutdown(fd, SHUT_RDWR);
    for (auto& t : readers_) t.join();
    for (int fd : watch_fds_) close(fd);
    if (put_fd_ >= 0) close(put_fd_);
  }
  bool Available() const { return !binary_.empty(); }
  std::string Binary() const { return binary_; }

  // Until a put through member 0 answers (the cluster has a leader).
  bool WaitReady() {
    return test::Eventually([&] {
      int fd = ConnectLoopback(client_[0]);
      if (fd < 0) return false;
      std::string buffer;
      const bool ok = SendAll(fd, Post("/v3/kv/put", R"({"key":")" + Base64("ready") + R"(","value":"eA=="})")) &&
                      ReadResponse(fd, buffer).find("\"revision\"") != std::string::npos;
      close(fd);
      return ok;
    }, std::chrono::seconds(30));
  }

  // Watches prefix "bench/" on every member; each event's key is timed on arrival.
  void StartWatches(const std::map<std::string, int>& key_index) {
    keys_ = key_index;
    seen_.assign(client_.size(), {});
    for (size_t m = 0; m < client_.size(); ++m) {
      int fd = ConnectLoopback(client_[m]);
      if (fd < 0) Die("etcd: cannot connect to member " + std::to_string(m));
      const std::string body =
          R"({"create_request":{"key":")" + Base64("bench/") + R"(","range_end":")" + Base64("bench0") + R"("}})";
      if (!SendAll(fd, Post("/v3/watch", body))) Die("etcd: watch request failed");
      watch_fds_.push_back(fd);
      readers_.emplace_back([this, fd, m] { ReadWatch(fd, m); });
    }
    // The watch is created once its first message (created: true) arrived on every member.
    if (!test::Eventually([&] { return created_.load() == static_cast<int>(client_.size()); }, std::chrono::seconds(10)))
      Die("etcd: watches not created");
  }

  // Puts key through member 0 on one keep-alive connection; returns the wall µs it was sent at.
  int64_t Put(const std::string& key) {
    if (put_fd_ < 0 && (put_fd_ = ConnectLoopback(client_[0])) < 0) Die("etcd: cannot connect");
    const std::string body = R"({"key":")" + Base64(key) + R"(","value":"eA=="})";
    const int64_t sent = WallMicros();
    if (!SendAll(put_fd_, Post("/v3/kv/put", body)) || ReadResponse(put_fd_, put_buffer_).empty()) Die("etcd: put failed");
    return sent;
  }

  // Wall µs member m's watch reported key index i; -1 when not (yet).
  int64_t Seen(size_t m, int i) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = seen_[m].find(i);
    return it == seen_[m].end() ? -1 : it->second;
  }
  size_t size() const { return client_.size(); }

  static int64_t WallMicros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

 private:
  static std::string Name(size_t i) { return "m" + std::to_string(i + 1); }

  void ReadWatch(int fd, size_t m) {
    std::string pending;
    bool created = false;
    char chunk[16384];
    for (;;) {
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return;
      const int64_t now = WallMicros();
      pending.append(chunk, static_cast<size_t>(n));
      if (!created && pending.find("\"created\":true") != std::string::npos) {
        created = true;
        ++created_;
      }
      // Every complete "key":"…" in what arrived; the tail may hold half of one.
      size_t pos = 0, consumed = 0;
      while ((pos = pending.find("\"key\":\"", pos)) != std::string::npos) {
        const size_t start = pos + 7, end = pending.find('"', start);
        if (end == std::string::npos) break;
        auto it = keys_.find(pending.substr(start, end - start));
        if (it != keys_.end()) {
          std::lock_guard<std::mutex> lock(mu_);
          seen_[m].emplace(it->second, now);
        }
        pos = consumed = end + 1;
      }
      pending.erase(0, consumed ? consumed : (pending.size() > 64 ? pending.size() - 64 : 0));
    }
  }

  std::string binary_;
  test::TempDir dir_;
  std::vector<uint16_t> client_, peer_;
  std::vector<std::unique_ptr<test::ChildProcess>> procs_;
  std::vector<int> watch_fds_;
  std::vector<std::thread> readers_;
  std::map<std::string, int> keys_;  // base64 key → sample index
  std::mutex mu_;
  std::vector<std::map<int, int64_t>> seen_;
  std::atomic<int> created_{0};
  int put_fd_ = -1;
  std::string put_buffer_;
};

}  // namespace ami::bench
