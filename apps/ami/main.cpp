// ami — the operators' admin shell for AMI nodes (docs/operator-guide.md).
//
//   ami [--node HOST:PORT] [--token TOKEN] [--json] [--yes] [--no-color] [COMMAND …]
//
// With a COMMAND it runs that one command and exits; without, it opens the interactive
// shell. The node comes from --node, else $AMI_NODE, else 127.0.0.1:7201; the token from
// --token, else $AMI_TOKEN (prefer the variable: arguments show in `ps`).
//
// Exit codes: 0 ok; 1 the node replied with an error (not_found, conflict, invalid, …)
// or the command failed; 2 usage error, found before anything was sent; 3 cannot
// connect, or the node refused the token.
#include <signal.h>
#include <unistd.h>

#include <clocale>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "apps/ami/admin_client.h"
#include "apps/ami/commands.h"
#include "apps/ami/repl.h"

namespace {

using namespace ami::shell;

struct GlobalOptions {
  std::string node;
  std::string token;
  bool token_given = false;
  bool json = false;
  bool yes = false;
  bool no_color = false;
  bool help = false;
  bool version = false;
  std::vector<std::string> command;
};

// Global options may come before the command; --node and --token also after it (they
// are the connection's, never a command's). --json, --yes and --no-color after the
// command are left to the command, which accepts them too. "--" ends option parsing.
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
  return g;
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
    std::cout << "ami " << AMI_VERSION << "\n";
    return kExitOk;
  }
  if (g.node.empty()) {
    const char* env = std::getenv("AMI_NODE");
    g.node = env && *env ? env : "127.0.0.1:7201";
  }
  if (!g.token_given) {
    const char* env = std::getenv("AMI_TOKEN");
    g.token = env ? env : "";
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
  AdminClient client(*address, g.token);
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
