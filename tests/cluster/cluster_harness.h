// Real `amid` processes on loopback for the cluster tests and benchmarks: N nodes with
// generated configs, started, killed (-9), frozen (SIGSTOP), resumed and restarted, and
// an admin client per node that speaks the admin protocol (docs/admin-api.md) through
// CAF remoting — the same path the `ami` shell takes.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/test_support.h"
#include "transport/credentials.h"
#include "trials/history.h"

namespace ami::test {

// One connection to a node's admin service. Thread-compatible.
class AdminClient {
 public:
  // `tls`: the operator certificate to present (every node port requires one).
  explicit AdminClient(const transport::TlsFiles& tls);
  ~AdminClient();
  // {"ok":true,"result":…} / {"ok":false,"error":…}; {"ok":false,"error":{"code":"unavailable"}}
  // when the node cannot be reached within `timeout` (then the next call reconnects).
  nlohmann::json Call(const std::string& host, uint16_t port, const std::string& token, const std::string& op,
                      const nlohmann::json& args = nlohmann::json::object(),
                      std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ClusterOptions {
  size_t nodes = 3;
  std::chrono::milliseconds ttl{2000};
  std::chrono::milliseconds renew{1000};
  std::chrono::milliseconds margin{300};
  std::chrono::milliseconds heartbeat{100};
  bool fault_injection = true;
  // true: one cluster CA for all nodes and a tls: block in each config (the harness makes
  // the certificates). false: no tls: block — each node makes its own CA, so the admin
  // client can reach node 0 only (single-node tests).
  bool tls = true;
  std::string extra_yaml;                 // appended to every node's config
  // The exchanges: section of every node (the fault trials point bybit at ami-exchange-sim).
  std::string exchanges_yaml = "exchanges:\n  bybit: { connector: paper }\n";
  // Per node extra cluster keys (e.g. "  lease_clock_rate: 0.3\n"), by index; may be shorter.
  std::vector<std::string> extra_cluster_yaml;
  // Per node, by index, may be shorter: a node id instead of "n<i+1>" (data directories
  // stay per index), and addresses added to that node's cluster.peers (another view).
  std::vector<std::string> node_ids;
  std::vector<std::vector<std::string>> extra_peers;
};

class TestCluster {
 public:
  static constexpr const char* kToken = "cluster-test-token";
  explicit TestCluster(ClusterOptions options = {});
  ~TestCluster();  // kills every node

  size_t size() const { return nodes_.size(); }
  std::string Id(size_t i) const;               // "n1", "n2", …
  std::filesystem::path DataDir(size_t i) const;
  uint16_t AdminPort(size_t i) const;
  uint16_t ClusterPort(size_t i) const;
  int Pid(size_t i) const;                      // of the running amid; -1 when none
  // The operator certificate `ami` presents (with tls = false: node 0's own CA).
  transport::TlsFiles OperatorTls() const;
  // ami's TLS arguments for it: --tls-ca F --tls-cert F --tls-key F.
  std::vector<std::string> AmiTlsArgs() const;
  std::vector<std::filesystem::path> DataDirs() const;  // every node's, for ReadSpans
  size_t IndexOf(const std::string& id) const;          // throws for an unknown id
  void Start(size_t i);                         // (re)starts node i
  // Replaces node i's extra cluster keys (ClusterOptions::extra_cluster_yaml) and rewrites
  // its config; takes effect at its next Start (the trials' clock drift restarts a node
  // with another cluster.lease_clock_rate).
  void SetExtraClusterYaml(size_t i, const std::string& yaml);
  void StartAll();
  void Kill(size_t i);                          // SIGKILL and reap
  void Freeze(size_t i);                        // SIGSTOP
  void Thaw(size_t i);                          // SIGCONT
  int Terminate(size_t i);                      // SIGTERM, wait; exit code
  bool Running(size_t i);
  std::string Output(size_t i) const;           // the node's stdout/stderr so far

  // Admin request to node i (see AdminClient::Call). After the first call has returned,
  // calls to different nodes may run on several threads at once.
  nlohmann::json Admin(size_t i, const std::string& op, const nlohmann::json& args = nlohmann::json::object());
  // result of a successful request, or throws std::runtime_error with the error.
  nlohmann::json Ok(size_t i, const std::string& op, const nlohmann::json& args = nlohmann::json::object());
  // Until every node in `which` sees every other one as up (deadline-based).
  bool WaitConnected(const std::vector<size_t>& which, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  bool WaitConnected() ;
  // Cuts {group} off from the rest (both directions) with fault injection; Heal() undoes it.
  void Partition(const std::vector<size_t>& group);
  void Heal();

 private:
  struct Node;
  void WriteConfig(size_t i);
  ClusterOptions options_;
  TempDir dir_;
  std::string tls_yaml_;  // the tls: block every node's config has (tls = true)
  std::string peers_;     // "127.0.0.1:p1, 127.0.0.1:p2, …": every node's cluster port
  std::vector<std::unique_ptr<Node>> nodes_;
  std::unique_ptr<AdminClient> client_;  // made at the first request (the node may make the CA)
};

// The lease checker: every leader-mode iteration a test worker ran, as its script logged
// it ("SPAN <node> <term> <start ms> <end ms>"), from every node's worker log.
// {node, term, start, end}: the fault trials' span (trials/history.h).
using Span = trials::Span;
std::vector<Span> ReadSpans(const std::vector<std::filesystem::path>& data_dirs, const std::string& sid);
// Violations of "at most one leader at a time": two spans of different nodes that overlap
// in time, or a node's span with a lower term starting after another node's higher-term
// span began (terms only grow). Empty when the history is safe. The messages of
// trials::CheckLeases (trials/checkers.h), which holds the logic.
std::vector<std::string> CheckSpans(std::vector<Span> spans);

// The span of `sid` that started last, on any node (node_id empty) or on that node.
std::optional<Span> LastSpan(const TestCluster& cluster, const std::string& sid, const std::string& node_id = "");

// A leader-mode worker script that logs one SPAN line per iteration.
std::string SpanScript(int busy_ms = 40);

}  // namespace ami::test
