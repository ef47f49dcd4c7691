// Node configuration, loaded from YAML (see config/*.yaml and docs/configuration.md).
//
// LoadConfig() reads and validates a file and reports *every* problem it finds, one
// per line, as "file:line:col: path.to.field: message" — unknown keys, wrong types,
// bad durations ("10s", "250ms", "1m", "2h") and sizes ("128MB", "64KiB", "1GB"),
// missing required fields, bad enum values. Nothing is started from a file that has
// any problem.
//
// Hardening rules enforced here (docs/security.md): a document whose YAML aliases would
// expand beyond a fixed limit is refused before it is walked (yaml_guard.h); without a
// `tls:` section every listen and peer address must be a loopback one; the tls files
// must be readable; an admin token, when given, is at least 16 bytes.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "runtime/base/status.h"
#include "runtime/config/http_section.h"
#include "runtime/model/worker_record.h"
#include "runtime/model/worker_template.h"

namespace ami {

using Millis = std::chrono::milliseconds;

struct NodeSection {
  std::string id;                         // required, e.g. "s-0001"
  std::filesystem::path data_dir;         // default "./data/<id>", relative to the config file
};

struct LeaseSection {
  Millis ttl{60000};
  Millis renew{30000};                    // when only ttl is given: ttl / 2; always < ttl
  // The holder stops executing this long before its own lease ends (default ttl / 10).
  // It covers clock-rate drift between nodes and the time a run needs to be terminated.
  Millis margin{6000};
};

// Parsed and checked now; the cluster protocols use it (single node when absent).
struct ClusterSection {
  std::string name;
  std::string secret;                     // from `secret` or the env var in `secret_env`; never logged
  // Addresses are kept as written ("[::1]:7101"); ParseHostPort (host_port.h) gives the
  // host without brackets for CAF and sockets, and whether it is loopback.
  std::string listen;                     // "host:port" (port 0 = any free port)
  // "host:port" each. The file may list the whole cluster; the entry equal to `listen`
  // is dropped, so this holds only the other nodes.
  std::vector<std::string> peers;
  LeaseSection lease;
  // Heartbeat period; a peer unheard for 3 periods is suspect, for 6 down (docs/cluster.md).
  Millis heartbeat{500};
  // Test only: lets the admin service's faults.set drop traffic to chosen peers.
  bool fault_injection = false;
  // Test only (needs fault_injection): this node's lease timers run at this rate of the
  // real clock — clock drift, to prove the lease checker catches what drift breaks.
  double lease_clock_rate = 1.0;
  // Hybrid-clock stamps from peers further than this ahead of the local clock are refused
  // (one fast clock must not drag the cluster's clock forward for good).
  Millis max_clock_skew{5000};
};

// `tls:` — one block for both ports (cluster and admin). Peers and operators must present
// certificates signed by ca_file; this node presents cert_file/key_file. Without it every
// listen address must be a loopback address.
struct TlsSection {
  std::filesystem::path ca_file;
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
};

struct AdminSection {
  std::string listen;                     // "host:port" (port 0 = any free port)
  // From `token` or `token_env`; never logged; at least 16 bytes when given. Empty = none
  // configured: the node then reads, or generates at first start, <data_dir>/admin.token
  // (LoadOrCreateAdminToken in node_files.h). The admin service never runs without one.
  std::string token;
};

struct LimitsSection {
  uint64_t heap_bytes = 128ull << 20;     // V8 heap per worker isolate
  Millis cpu_per_run{10000};              // one synchronous run of a script
  Millis stop_grace{5000};                // after abort, before TerminateExecution
  // Per-worker caps on what a script can hold or produce (docs/security.md).
  int max_timers = 1000;                  // pending Stels.sleep/setTimeout timers
  int max_pending_calls = 256;            // KV and exchange calls in flight
  int max_list_results = 1000;            // entries one KV list returns (and its default limit)
  uint64_t max_log_line = 16ull << 10;    // bytes of one log message; longer ones are cut
  int max_log_lines_per_sec = 200;        // excess lines are dropped and counted
};

struct BackoffSection {
  Millis initial;
  double factor;
  Millis max;
};

struct ExecutionSection {
  // Critical errors back off 1, 2, 4, 8 s, capped at 10 s; network errors 5 s x 1.5,
  // capped at 60 s. Tests shrink these.
  BackoffSection critical_backoff{Millis{1000}, 2.0, Millis{10000}};
  BackoffSection network_backoff{Millis{5000}, 1.5, Millis{60000}};
  // Concurrent JS runs; 0 = the number of cores.
  int run_slots = 0;
  // Hand out run slots by priority (critical first). Off = first come, first served;
  // exists so the benchmark can compare.
  bool priority_order = true;
};

struct LogSection {
  std::string level = "info";             // trace|debug|info|warn|error
  // The node log's lines (stderr and logs/node.log): "text" for people, "json" (one
  // object a line: time, level, node, sid, message) for log shippers such as Loki.
  std::string format = "text";            // text|json
  uint64_t worker_file_bytes = 10ull << 20;   // rotate each worker log at this size
  int worker_files = 5;                   // <sid>.log + .log.1 … .log.4
  int ring_lines = 1000;                  // recent lines kept in memory per worker
};

struct ExchangeSection {
  std::string id;                         // the key, e.g. "bybit"
  std::string connector;                  // plugin id, e.g. "paper"
  // Runtime keys (not passed to the connector): a call not answered within `timeout`
  // fails with RequestTimeout; `threads` is this exchange's own pool (a bulkhead).
  Millis timeout{30000};
  int threads = 2;
  std::map<std::string, std::string> options;
};

struct AccountSection {
  std::string id;
  std::string exchange;
  std::string api_key;                    // resolved from api_key / api_key_env; never logged
  std::string secret;                     // resolved from secret / secret_env; never logged
};

// A worker declared in YAML. It is created when absent and updated when its
// declaration changes (a hash of the declaration is stored next to the record), so
// changes made later through the admin API survive restarts.
struct WorkerDeclaration {
  std::string name;                       // `name`, unique in the file; sid = NameUuid(node.id + "/" + name) unless `sid` is given (then name = sid when absent)
  std::string template_id;                // `template:`; the template supplies script and defaults
  // The YAML keys (snake_case) the declaration gives; for a template declaration these
  // fields override the template's defaults (plus `active`, true unless given).
  std::set<std::string> given;
  // Fields from YAML (snake_case keys); active defaults to true, nid = node.id, sid is
  // set; script is empty when a template supplies it; note/timestamp are left for
  // NewWorkerRecord to fill.
  WorkerRecord record;
  // SHA-256 hex of the declaration as written (keys and values, independent of layout,
  // comments and key order), with script_file replaced by the file's text.
  std::string source_hash;
  std::string where;                      // "file:line:col" of the declaration, for messages
};

// The overrides a template declaration stands for: the record fields it gives (by YAML
// key; script_file gives script; null or "" ids mean none), and `active`, true unless
// given. The node makes the record with RecordFromTemplate(template, these).
TemplateOverrides DeclaredOverrides(const WorkerDeclaration& declaration);

struct Config {
  std::filesystem::path file;             // where it was loaded from (absolute); ParseConfig: `name`
  NodeSection node;
  std::optional<ClusterSection> cluster;
  std::optional<AdminSection> admin;
  std::optional<TlsSection> tls;
  LimitsSection limits;
  ExecutionSection execution;
  LogSection log;
  std::vector<std::filesystem::path> plugin_dirs;
  // `plugins.dirs` was written (even as []); when not, amid uses the directories beside
  // its executable (runtime/config/plugin_dirs.h).
  bool plugin_dirs_given = false;
  std::vector<ExchangeSection> exchanges;
  std::vector<AccountSection> accounts;
  std::vector<WorkerDeclaration> workers;
  // Secret keys written inline in the file rather than through *_env ("cluster.secret",
  // "admin.token", "accounts.<id>.api_key", …): amid warns when such a file is readable
  // by group or others. Names only, never values.
  std::vector<std::string> inline_secrets;
  // `http:` — the HTTP gateway (REST, /metrics; docs/http-api.md); none when absent.
  std::optional<HttpSection> http;
};

// Parses "250ms", "10s", "1m", "2h", "1d" (or "1.5s", "1h30m"); rounded to whole ms.
// A plain number is an error: the unit is required.
Result<Millis> ParseDuration(std::string_view text);
// Parses "128MB", "64KiB", "1GB", "512" (bytes). KB/MB/GB and KiB/MiB/GiB are all
// 1024-based, as operators usually mean them (128MB = 134217728 bytes).
Result<uint64_t> ParseSize(std::string_view text);

// Reads, parses and validates `file`. On failure the Status (kInvalidArgument) message
// holds one "file:line:col: path: message" line per problem, sorted by position; an
// unreadable file gives kIOError "file: cannot read ...". Relative paths in the file
// resolve against its directory. Secret values never appear in messages.
Result<Config> LoadConfig(const std::filesystem::path& file);
// Same, from text (`name` is used in messages; relative paths resolve against `base_dir`).
Result<Config> ParseConfig(std::string_view yaml_text, const std::string& name,
                           const std::filesystem::path& base_dir);

}  // namespace ami
