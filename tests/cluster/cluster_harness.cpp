#include "tests/cluster/cluster_harness.h"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>

#include "actors/messages.h"
#include "transport/caf_tls.h"
#include "trials/checkers.h"

namespace ami::test {

using nlohmann::json;

// ------------------------------------------------------------------ AdminClient
struct AdminClient::Impl {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;
  std::mutex handles_mutex;  // Call may run on several threads at once (the trial runner polls in parallel)
  std::map<std::pair<std::string, uint16_t>, caf::actor> handles;
  explicit Impl(const transport::TlsFiles& tls) {
    cfg.add_message_types<caf::id_block::ami>();
    transport::UseTls(cfg, tls);
    cfg.set("logger.verbosity", caf::atom("quiet"));
    cfg.set("middleman.heartbeat-interval", caf::timespan{std::chrono::milliseconds(200)});
    cfg.set("middleman.connection-timeout", caf::timespan{std::chrono::seconds(2)});
    system = std::make_unique<caf::actor_system>(cfg);
  }
};

AdminClient::AdminClient(const transport::TlsFiles& tls) : impl_(std::make_unique<Impl>(tls)) {}
AdminClient::~AdminClient() = default;

json AdminClient::Call(const std::string& host, uint16_t port, const std::string& token, const std::string& op,
                       const json& args, std::chrono::milliseconds timeout) {
  auto unavailable = [](const std::string& why) {
    return json{{"ok", false}, {"error", {{"code", "unavailable"}, {"message", why}}}};
  };
  auto key = std::make_pair(host, port);
  caf::actor node;
  {
    std::lock_guard<std::mutex> lock(impl_->handles_mutex);
    if (auto it = impl_->handles.find(key); it != impl_->handles.end()) node = it->second;
  }
  if (!node) {
    caf::scoped_actor connector{*impl_->system};
    caf::actor handle;
    std::string why;
    connector->request(transport::Connector(*impl_->system), timeout, caf::connect_atom_v, host, port)
        .receive(
            [&](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
              handle = caf::actor_cast<caf::actor>(std::move(ptr));
              if (!handle) why = "nothing published there";
            },
            [&](caf::error& err) { why = impl_->system->render(err); });
    if (!handle) return unavailable(why);
    std::lock_guard<std::mutex> lock(impl_->handles_mutex);
    impl_->handles[key] = handle;
    node = handle;
  }
  caf::scoped_actor self{*impl_->system};
  json out;
  const std::string request = json{{"op", op}, {"args", args}}.dump();
  self->request(node, timeout, admin_atom_v, token, request)
      .receive(
          [&](const std::string& reply) {
            out = json::parse(reply, nullptr, false);
            if (out.is_discarded()) out = unavailable("reply is not JSON: " + reply);
          },
          [&](caf::error& err) {
            out = unavailable(impl_->system->render(err));
            std::lock_guard<std::mutex> lock(impl_->handles_mutex);
            impl_->handles.erase(key);  // reconnect next time (the node may have restarted)
          });
  return out;
}

// ------------------------------------------------------------------ TestCluster
namespace {
uint16_t FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("bind");
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}
}  // namespace

namespace {
std::string ExtraPeers(const ClusterOptions& options, size_t i) {
  std::string out;
  if (i < options.extra_peers.size())
    for (const auto& p : options.extra_peers[i]) out += ", " + p;
  return out;
}
}  // namespace

struct TestCluster::Node {
  std::string id;
  uint16_t cluster_port = 0;
  uint16_t admin_port = 0;
  std::filesystem::path data_dir;
  std::filesystem::path config;
  std::filesystem::path output;
  std::unique_ptr<ChildProcess> process;
  int starts = 0;
};

TestCluster::TestCluster(ClusterOptions options) : options_(std::move(options)) {
  // The kernel may hand the same free port out twice in a row (each probe socket is
  // closed at once): every port of one cluster must differ (fault trial seed 5032 got a
  // "duplicate peer" config from two equal cluster ports).
  std::set<uint16_t> taken;
  auto unique_port = [&] {
    for (;;)
      if (uint16_t p = FreePort(); taken.insert(p).second) return p;
  };
  for (size_t i = 0; i < options_.nodes; ++i) {
    auto n = std::make_unique<Node>();
    const std::string name = "n" + std::to_string(i + 1);
    n->id = i < options_.node_ids.size() && !options_.node_ids[i].empty() ? options_.node_ids[i] : name;
    n->cluster_port = unique_port();
    n->admin_port = unique_port();
    n->data_dir = dir_ / name;
    n->config = dir_ / (name + ".yaml");
    nodes_.push_back(std::move(n));
  }
  // One CA for the whole test cluster; every node presents the same node certificate
  // (CAF checks the signature, not the name).
  if (options_.tls) {
    const auto tls_dir = dir_ / "tls";
    if (Status made = transport::MakeLocalCredentials(tls_dir, "test-cluster"); !made.ok())
      throw std::runtime_error(made.ToString());
    const auto files = transport::NodeFilesIn(tls_dir);
    tls_yaml_ = "tls:\n  ca_file: " + files.ca_file.string() + "\n  cert_file: " + files.cert_file.string() +
                "\n  key_file: " + files.key_file.string() + "\n";
  }
  for (const auto& n : nodes_)
    peers_ += (peers_.empty() ? "" : ", ") + ("127.0.0.1:" + std::to_string(n->cluster_port));
  options_.extra_cluster_yaml.resize(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i) WriteConfig(i);
}

void TestCluster::WriteConfig(size_t i) {
  auto ms = [](std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; };
  const auto& n = *nodes_.at(i);
  std::string yaml =
      "node:\n  id: " + n.id + "\n  data_dir: " + n.data_dir.string() + "\n" +
      "cluster:\n  name: test\n  secret: s3cret-cluster\n  listen: 127.0.0.1:" + std::to_string(n.cluster_port) +
      "\n  peers: [" + peers_ + ExtraPeers(options_, i) + "]\n  heartbeat: " + ms(options_.heartbeat) +
      "\n  lease: { ttl: " + ms(options_.ttl) + ", renew: " + ms(options_.renew) + ", margin: " + ms(options_.margin) +
      " }\n  fault_injection: " + (options_.fault_injection ? "true" : "false") + "\n" +
      options_.extra_cluster_yaml[i] + tls_yaml_ +
      "admin:\n  listen: 127.0.0.1:" + std::to_string(n.admin_port) + "\n  token: " + kToken + "\n" +
      "limits: { stop_grace: 500ms }\n"
      "plugins: { dirs: [\"" + (BinaryDir() / "plugins").string() + "\"] }\n" +
      options_.exchanges_yaml + options_.extra_yaml;
  WriteFile(n.config, yaml);
}

void TestCluster::SetExtraClusterYaml(size_t i, const std::string& yaml) {
  options_.extra_cluster_yaml.at(i) = yaml;
  WriteConfig(i);
}

TestCluster::~TestCluster() {
  for (auto& n : nodes_) {
    if (n->process && n->process->Running()) {
      n->process->Signal(SIGCONT);
      n->process->Signal(SIGKILL);
      n->process->Wait(std::chrono::seconds(10));
    }
  }
}

std::string TestCluster::Id(size_t i) const { return nodes_.at(i)->id; }
std::filesystem::path TestCluster::DataDir(size_t i) const { return nodes_.at(i)->data_dir; }
uint16_t TestCluster::AdminPort(size_t i) const { return nodes_.at(i)->admin_port; }
uint16_t TestCluster::ClusterPort(size_t i) const { return nodes_.at(i)->cluster_port; }
int TestCluster::Pid(size_t i) const {
  const auto& n = *nodes_.at(i);
  return n.process ? n.process->pid() : -1;
}

std::vector<std::filesystem::path> TestCluster::DataDirs() const {
  std::vector<std::filesystem::path> dirs;
  for (const auto& n : nodes_) dirs.push_back(n->data_dir);
  return dirs;
}

size_t TestCluster::IndexOf(const std::string& id) const {
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i]->id == id) return i;
  throw std::runtime_error("no node " + id);
}

void TestCluster::Start(size_t i) {
  Node& n = *nodes_.at(i);
  if (n.process && n.process->Running()) throw std::runtime_error(n.id + " is already running");
  n.output = dir_ / (n.config.stem().string() + ".out." + std::to_string(++n.starts));  // per index: ids may repeat
  n.process = std::make_unique<ChildProcess>((BinaryDir() / "apps" / "amid").string(),
                                             std::vector<std::string>{"--config", n.config.string()}, n.output);
  const bool up = Eventually([&] { return Admin(i, "node.info")["ok"] == true || !n.process->Running(); },
                             std::chrono::seconds(30));
  if (!up || !n.process->Running()) throw std::runtime_error(n.id + " did not start:\n" + n.process->Output());
}

void TestCluster::StartAll() {
  for (size_t i = 0; i < nodes_.size(); ++i) Start(i);
}

void TestCluster::Kill(size_t i) {
  Node& n = *nodes_.at(i);
  n.process->Signal(SIGKILL);
  n.process->Wait(std::chrono::seconds(10));
}
void TestCluster::Freeze(size_t i) { nodes_.at(i)->process->Signal(SIGSTOP); }
void TestCluster::Thaw(size_t i) { nodes_.at(i)->process->Signal(SIGCONT); }
int TestCluster::Terminate(size_t i) {
  Node& n = *nodes_.at(i);
  n.process->Signal(SIGTERM);
  return n.process->Wait(std::chrono::seconds(30));
}
bool TestCluster::Running(size_t i) { return nodes_.at(i)->process && nodes_.at(i)->process->Running(); }
std::string TestCluster::Output(size_t i) const {
  return nodes_.at(i)->process ? nodes_.at(i)->process->Output() : "";
}

json TestCluster::Admin(size_t i, const std::string& op, const json& args) {
  if (!client_) {
    // Without a tls: block node 0 makes its own CA at its first start: wait for it.
    if (!std::filesystem::exists(OperatorTls().key_file))
      return json{{"ok", false}, {"error", {{"code", "unavailable"}, {"message", "no credentials yet"}}}};
    client_ = std::make_unique<AdminClient>(OperatorTls());
  }
  return client_->Call("127.0.0.1", nodes_.at(i)->admin_port, kToken, op, args);
}

transport::TlsFiles TestCluster::OperatorTls() const {
  return transport::OperatorFilesIn(options_.tls ? dir_ / "tls" : nodes_.at(0)->data_dir / "tls");
}

std::vector<std::string> TestCluster::AmiTlsArgs() const {
  const auto tls = OperatorTls();
  return {"--tls-ca", tls.ca_file.string(), "--tls-cert", tls.cert_file.string(), "--tls-key", tls.key_file.string()};
}

json TestCluster::Ok(size_t i, const std::string& op, const json& args) {
  json reply = Admin(i, op, args);
  if (reply["ok"] != true) throw std::runtime_error(Id(i) + " " + op + ": " + reply.dump());
  return reply["result"];
}

bool TestCluster::WaitConnected(const std::vector<size_t>& which, std::chrono::milliseconds timeout) {
  return Eventually(
      [&] {
        for (size_t i : which) {
          json r = Admin(i, "nodes.list");
          if (r["ok"] != true) return false;
          size_t up = 0;
          for (const auto& n : r["result"]["nodes"])
            for (size_t j : which)
              if (j != i && n["id"] == Id(j) && n["state"] == "up") ++up;
          if (up + 1 < which.size()) return false;
        }
        return true;
      },
      timeout);
}

bool TestCluster::WaitConnected() {
  std::vector<size_t> all;
  for (size_t i = 0; i < nodes_.size(); ++i) all.push_back(i);
  return WaitConnected(all);
}

void TestCluster::Partition(const std::vector<size_t>& group) {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const bool inside = std::find(group.begin(), group.end(), i) != group.end();
    json drop = json::array();
    for (size_t j = 0; j < nodes_.size(); ++j) {
      const bool j_inside = std::find(group.begin(), group.end(), j) != group.end();
      if (inside != j_inside) drop.push_back(Id(j));
    }
    if (Running(i)) Ok(i, "faults.set", {{"drop", drop}});
  }
}

void TestCluster::Heal() {
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (Running(i)) Ok(i, "faults.set", {{"drop", json::array()}});
}

// ------------------------------------------------------------------ checker
std::vector<Span> ReadSpans(const std::vector<std::filesystem::path>& data_dirs, const std::string& sid) {
  std::vector<Span> spans;
  for (const auto& dir : data_dirs) {
    for (const std::string suffix : {".log.1", ".log"}) {
      std::ifstream in(dir / "logs" / "workers" / (sid + suffix));
      std::string line;
      while (std::getline(in, line)) {
        const auto at = line.find("SPAN ");
        if (at == std::string::npos) continue;
        std::istringstream fields(line.substr(at + 5));
        Span s;
        if (fields >> s.node >> s.term >> s.start >> s.end) spans.push_back(s);
      }
    }
  }
  return spans;
}

std::vector<std::string> CheckSpans(std::vector<Span> spans) {
  std::vector<std::string> problems;
  for (const auto& v : trials::CheckLeases(std::move(spans))) problems.push_back(v.message);
  return problems;
}

std::optional<Span> LastSpan(const TestCluster& cluster, const std::string& sid, const std::string& node_id) {
  std::optional<Span> last;
  for (const auto& s : ReadSpans(cluster.DataDirs(), sid))
    if ((node_id.empty() || s.node == node_id) && (!last || s.start > last->start)) last = s;
  return last;
}

std::string SpanScript(int busy_ms) {
  return "const start = Date.now();\n"
         "await Stels.sleep(" + std::to_string(busy_ms) + ");\n"
         "logger.info(`SPAN ${config.node.id} ${Stels.leader.term} ${start} ${Date.now()}`);\n";
}

}  // namespace ami::test
