// ami — the operators' admin shell for AMI nodes (docs/operator-guide.md).
//
//   ami [--node HOST:PORT] [--node-dir DATA_DIR] [--token TOKEN | --token-file FILE]
//       [--tls-ca FILE --tls-cert FILE --tls-key FILE] [--json] [--yes] [--no-color] [COMMAND …]
//
// With a COMMAND it runs that one command and exits; without, it opens the interactive
// shell. The node comes from --node, else $AMI_NODE, else 127.0.0.1:7201; the token from
// --token or --token-file, else $AMI_TOKEN, else DATA_DIR/admin.token (prefer anything
// but --token: arguments show in `ps`); the TLS files from --tls-*, else $AMI_TLS_CA,
// $AMI_TLS_CERT, $AMI_TLS_KEY, else the node-local CA's operator files in DATA_DIR/tls.
// DATA_DIR (--node-dir or $AMI_NODE_DIR) is the data directory of a node on this machine.
//
// Exit codes: 0 ok; 1 the node replied with an error (not_found, conflict, invalid, …)
// or the command failed; 2 usage error, found before anything was sent; 3 cannot
// connect, or the node refused the token.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "ami/version.h"
#include "apps/ami/admin_client.h"
#include "apps/ami/commands.h"
#include "apps/ami/repl.h"
#include "transport/credentials.h"

namespace {

using namespace ami::shell;

struct GlobalOptions {
  std::string node;
  std::string token;
  bool token_given = false;
  std::string token_file;
  std::string tls_ca, tls_cert, tls_key;
  std::string node_dir;
  bool json = false;
  bool yes = false;
  bool no_color = false;
  bool help = false;
  bool version = false;
  std::vector<std::string> command;
};

// Global options may come before the command; the connection's (--node, --node-dir,
// --token, --token-file, --tls-*) also after it, never being a command's. --json, --yes
// and --no-color after the command are left to the command, which accepts them too.
// "--" ends option parsing.
ami::Result<GlobalOptions> ParseGlobal(int argc, char** argv) {
  GlobalOptions g;
  bool in_command = false, done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const std::string& name) -> ami::Result<std::string> {
      if (a.size() > name.size() && a[name.size()] == '=') return a.substr(name.size() + 1);
      if (i + 1 >= argc) return ami::Status::InvalidArgument(name + " needs a value");
      return std::string(argv[++i]);
    };
    if (!done && (a == "--node" || a.rfind("--node=", 0) == 0)) {
      auto v = value("--node");
      if (!v.ok()) return v.status();
      g.node = *v;
      continue;
    }
    if (!done && (a == "--token" || a.rfind("--token=", 0) == 0)) {
      auto v = value("--token");
      if (!v.ok()) return v.status();
      g.token = *v;
      g.token_given = true;
      continue;
    }
    bool matched = false;
    for (auto [name, out] : {std::pair{"--token-file", &g.token_file},
                             {"--node-dir", &g.node_dir},
                             {"--tls-ca", &g.tls_ca},
                             {"--tls-cert", &g.tls_cert},
                             {"--tls-key", &g.tls_key}}) {
      const std::string n = name;
      if (done || !(a == n || a.rfind(n + "=", 0) == 0)) continue;
      auto v = value(n);
      if (!v.ok()) return v.status();
      if (v->empty()) return ami::Status::InvalidArgument(n + " needs a file name");
      *out = *v;
      matched = true;
      break;
    }
    if (matched) continue;
    if (in_command) {
      if (a == "--") done = true;
      g.command.push_back(a);
      continue;
    }
    if (a == "--json")
      g.json = true;
    else if (a == "--yes" || a == "-y")
      g.yes = true;
    else if (a == "--no-color")
      g.no_color = true;
    else if (a == "--help" || a == "-h")
      g.help = true;
    else if (a == "--version")
      g.version = true;
    else if (a.size() > 1 && a[0] == '-')
      return ami::Status::InvalidArgument("unknown option " + a + "; `ami --help` lists the options");
    else {
      in_command = true;
      g.command.push_back(a);
    }
  }
  if (g.token_given && !g.token_file.empty())
    return ami::Status::InvalidArgument("give either --token or --token-file, not both");
  return g;
}

// The whole of a small file, or why it cannot be read ("cannot read \"F\": reason").
ami::Result<std::string> ReadSmallFile(const std::string& file) {
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) return ami::Status::InvalidArgument("cannot read \"" + file + "\": " + std::strerror(errno));
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() < (1u << 20)) text.append(buf, n);
  const bool failed = std::ferror(f);
  const int err = errno;
  std::fclose(f);
  if (failed) return ami::Status::InvalidArgument("cannot read \"" + file + "\": " + std::strerror(err));
  return text;
}

// The token in FILE without surrounding whitespace (a trailing newline is usual). The
// token itself never appears in a message.
ami::Result<std::string> ReadTokenFile(const std::string& file) {
  auto text = ReadSmallFile(file);
  if (!text.ok()) return text.status();
  const char* space = " \t\r\n\v\f";
  const auto begin = text->find_first_not_of(space);
  if (begin == std::string::npos) return ami::Status::InvalidArgument("\"" + file + "\" holds no token");
  return text->substr(begin, text->find_last_not_of(space) - begin + 1);
}

// --tls-* or AMI_TLS_*: all three or none, each a readable file; with none, the
// operator files of the node-local CA in <node_dir>/tls. Only checked here; the admin
// client makes the TLS connection with them.
ami::Result<TlsFiles> ResolveTls(const GlobalOptions& g) {
  TlsFiles tls;
  struct Item {
    const char* option;
    const char* env;
    const std::string* given;
    std::string* out;
  };
  const Item items[] = {{"--tls-ca", "AMI_TLS_CA", &g.tls_ca, &tls.ca_file},
                        {"--tls-cert", "AMI_TLS_CERT", &g.tls_cert, &tls.cert_file},
                        {"--tls-key", "AMI_TLS_KEY", &g.tls_key, &tls.key_file}};
  int set = 0;
  for (const auto& item : items) {
    const char* env = std::getenv(item.env);
    *item.out = !item.given->empty() ? *item.given : (env ? env : "");
    set += !item.out->empty();
  }
  if (set == 0 && !g.node_dir.empty()) {
    const auto files = ami::transport::OperatorFilesIn(std::filesystem::path(g.node_dir) / "tls");
    tls = {files.ca_file.string(), files.cert_file.string(), files.key_file.string()};
    for (const auto& file : {tls.ca_file, tls.cert_file, tls.key_file}) {
      auto readable = ReadSmallFile(file);
      if (!readable.ok())
        return ami::Status::InvalidArgument("--node-dir: " + readable.status().message() +
                                            " (a node with no tls: section makes it at its first start)");
    }
    return tls;
  }
  if (set == 0) return tls;
  if (set != 3)
    return ami::Status::InvalidArgument(
        "give --tls-ca, --tls-cert and --tls-key together (or AMI_TLS_CA, AMI_TLS_CERT and AMI_TLS_KEY)");
  for (const auto& item : items) {
    auto readable = ReadSmallFile(*item.out);
    if (!readable.ok()) return ami::Status::InvalidArgument(std::string(item.option) + ": " + readable.status().message());
  }
  return tls;
}

}  // namespace

int main(int argc, char** argv) {
  // Character classes only: numbers keep the "C" format (1.5, not 1,5) everywhere.
  std::setlocale(LC_CTYPE, "");

  auto parsed = ParseGlobal(argc, argv);
  if (!parsed.ok()) {
    std::cerr << "ami: " << parsed.status().message() << "\n";
    return kExitUsage;
  }
  GlobalOptions& g = *parsed;
  if (g.help) {
    std::cout << Shell::Help(g.command.empty() ? "" : g.command[0]);
    return kExitOk;
  }
  if (g.version) {
    std::cout << ami::build_info::VersionText("ami");
    return kExitOk;
  }
  if (g.node.empty()) {
    const char* env = std::getenv("AMI_NODE");
    g.node = env && *env ? env : "127.0.0.1:7201";
  }
  if (!g.token_file.empty()) {
    auto token = ReadTokenFile(g.token_file);
    if (!token.ok()) {
      std::cerr << "ami: --token-file: " << token.status().message() << "\n";
      return kExitUsage;
    }
    g.token = std::move(*token);
  } else if (!g.token_given) {
    const char* env = std::getenv("AMI_TOKEN");
    g.token = env ? env : "";
  }
  if (g.node_dir.empty()) {
    const char* env = std::getenv("AMI_NODE_DIR");
    g.node_dir = env ? env : "";
  }
  // The token a node generated for itself, when nothing else gave one (a node whose
  // config sets admin.token has no such file: that token must be given).
  const std::string node_token_file = g.node_dir.empty() ? "" : g.node_dir + "/admin.token";
  if (g.token.empty() && !g.token_given && !node_token_file.empty() && access(node_token_file.c_str(), F_OK) == 0) {
    auto token = ReadTokenFile(node_token_file);
    if (!token.ok()) {
      std::cerr << "ami: --node-dir: " << token.status().message() << "\n";
      return kExitUsage;
    }
    g.token = std::move(*token);
  }
  auto tls = ResolveTls(g);
  if (!tls.ok()) {
    std::cerr << "ami: " << tls.status().message() << "\n";
    return kExitUsage;
  }
  auto address = ParseNodeAddress(g.node);
  if (!address.ok()) {
    std::cerr << "ami: --node: " << address.status().message() << "\n";
    return kExitUsage;
  }
  const bool color = !g.json && !g.no_color && isatty(1) && std::getenv("NO_COLOR") == nullptr;

  // Ctrl-C is handled on this thread, where a blocked read (a prompt) is interrupted by
  // it: block it while the client's actor system starts its threads, which inherit the
  // mask, then take it back.
  sigset_t int_only, previous;
  sigemptyset(&int_only);
  sigaddset(&int_only, SIGINT);
  pthread_sigmask(SIG_BLOCK, &int_only, &previous);
  // The client connects on its first request: usage errors and `help` need no node.
  AdminClient client(*address, g.token, std::move(*tls));
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  InstallInterruptHandler(/*interactive_session=*/g.command.empty());

  if (!g.command.empty()) {
    StdConsole console(g.json);
    Shell shell(client, console, ShellOptions{g.json, g.yes, color, false});
    return shell.Run(g.command);
  }

  LineEditor editor(DefaultHistoryFile());
  Shell shell(client, editor, ShellOptions{g.json, g.yes, color, true});
  editor.SetCompleter([&shell](const std::vector<std::string>& before, const std::string& partial) {
    return shell.Complete(before, partial);
  });
  // Fail early, with the exit code scripts expect, when the node is not there at all;
  // the answer also names the node for the prompt.
  if (editor.interactive()) std::cout << "Connecting to node " << address->ToString() << " …\n" << std::flush;
  auto info = client.Call("node.info", nlohmann::json::object(), std::chrono::seconds(15));
  if (!info.ok() && info.status().code() == ami::Status::Code::kIOError) {
    std::cerr << "ami: " << info.status().message() << "\n";
    return kExitUnreachable;
  }
  std::string node_id;
  if (info.ok() && info->is_object() && info->contains("node") && (*info)["node"].is_string())
    node_id = (*info)["node"].get<std::string>();
  return RunInteractive(shell, editor, node_id);
}
