// The admin service actor (docs/admin-api.md is its contract): authentication, the
// request limits, parsing, and the one dispatch table that hands each operation to its
// domain (actors/admin/admin.h).
//
// One event-based actor, spawned detached (its own thread), because a few steps are
// blocking work that must not hold a scheduler thread the workers' scripts run on:
// reading log files and hashing tokens (and, in the worker catalog's own detached actor,
// the script syntax check). Everything that waits — the catalog, the store, the node, the
// cluster actor — is an asynchronous request with a deadline, so many admin requests can
// be in flight at once and a slow one never holds up the others.
#include "actors/admin_service.h"
#include "runtime/base/json_depth.h"

#include <caf/all.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <array>

#include "actors/admin/admin.h"
#include "actors/messages.h"
#include "runtime/base/clock.h"

namespace ami {

namespace admin {

Status Unanswered(const std::string& who, const caf::error& err, std::chrono::seconds timeout) {
  if (err == caf::sec::request_timeout)
    return Unavailable(who + " did not answer within " + std::to_string(timeout.count()) + " s");
  return Unavailable(who + ": " + caf::to_string(err));
}

namespace {

constexpr size_t kMaxRequestBytes = 1 << 20;
constexpr int kMaxRequestDepth = 64;  // arrays/objects inside one another

// Every operation, by domain. Built once; an op name appears in one domain only.
const Ops& Table() {
  static const Ops table = [] {
    Ops all;
    for (Ops (*domain)() : {WorkerOps, TemplateOps, LeaderOps, StatsOps, LogOps, KvOps, NodeOps}) {
      for (auto& op : domain()) all.push_back(std::move(op));
    }
    return all;
  }();
  return table;
}

std::array<unsigned char, 32> Sha256(std::string_view text) {
  std::array<unsigned char, 32> out{};
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

struct AdminState {
  static inline const char* name = "ami.admin";

  Admin admin;
  std::array<unsigned char, 32> token_digest{};
  int64_t refused_logged_ms = 0;  // last "unauthorized" log line
  uint64_t refused_since_log = 0;

  bool Authorized(const std::string& token) const {
    if (admin.open) return true;
    // Digests of equal length, compared in constant time: neither the content nor the
    // length of the configured token leaks through timing.
    const auto given = Sha256(token);
    return CRYPTO_memcmp(given.data(), token_digest.data(), given.size()) == 0;
  }

  void NoteRefused() {
    ++refused_since_log;
    const int64_t now = WallMillis();
    if (now - refused_logged_ms < 10000) return;  // a flood of bad tokens stays a few lines
    spdlog::warn("admin: refused {} request(s) with a wrong or missing token", refused_since_log);
    refused_logged_ms = now;
    refused_since_log = 0;
  }

  void Handle(const std::string& text, const Done& done) {
    if (text.size() > kMaxRequestBytes)
      return done(Invalid("request", std::to_string(text.size()) + " bytes is over the " +
                                         std::to_string(kMaxRequestBytes) + "-byte limit"));
    if (JsonNestingDepth(text, kMaxRequestDepth) > kMaxRequestDepth)
      return done(Invalid("request", "nested deeper than " + std::to_string(kMaxRequestDepth) + " levels"));
    json request;
    try {
      request = json::parse(text);
    } catch (const json::parse_error& e) {
      std::string what = e.what();
      if (auto p = what.find("] "); what.rfind("[json.exception", 0) == 0 && p != std::string::npos)
        what = what.substr(p + 2);
      return done(Invalid("request", "not valid JSON: " + what));
    }
    if (!request.is_object())
      return done(Invalid("request", "expected an object {\"op\": \"<name>\", \"args\": {…}}"));
    if (Status s = OnlyKnown(request, {"op", "args"}, "", "a request"); !s.ok()) return done(s);
    auto op = RequiredString(request, "op");
    if (!op.ok()) return done(op.status());
    json args = json::object();
    if (const json* a = Arg(request, "args")) {
      if (!a->is_object()) return done(Invalid("args", std::string("expected an object, got ") + a->type_name()));
      args = *a;
    }
    for (const auto& [name, handler] : Table()) {
      if (name == *op) return handler(admin, args, done);
    }
    std::vector<std::string> known;
    for (const auto& [name, handler] : Table()) known.push_back(name);
    done(Invalid("op", "unknown operation " + Quoted(op->substr(0, 64)) + "; known: " + Join(known)));
  }
};

caf::behavior AdminActor(caf::stateful_actor<AdminState>* self, AdminContext context) {
  AdminState& st = self->state;
  st.admin.self = self;
  st.admin.ctx = std::move(context);
  const Config& config = st.admin.ctx.config;
  const std::string token = config.admin ? config.admin->token : std::string();
  st.admin.open = token.empty();
  if (!st.admin.open) st.token_digest = Sha256(token);
  // Anything but an admin request is answered with an error (never printed: a remote
  // client may send anything).
  self->set_default_handler(caf::drop);
  // The actor is published: only this process (LocalNode's shutdown) may end it.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (msg.source && msg.source.node() == self->node()) self->quit(msg.reason);
    else spdlog::warn("admin: ignored an exit request from another process");
  });
  // A stray error message is logged, never a reason to stop (CAF's default would quit).
  // The published actor is a gate in front of this one (actors/peer_gate.h), so other
  // processes do not learn this actor's address.
  self->set_error_handler([](caf::error& err) { spdlog::warn("admin: {}", caf::to_string(err)); });
  return {
      [self](admin_atom, const std::string& token, const std::string& request) -> caf::result<std::string> {
        AdminState& st = self->state;
        if (!st.Authorized(token)) {
          st.NoteRefused();
          return ErrorReply("unauthorized", "wrong or missing admin token");
        }
        auto promise = self->make_response_promise<std::string>();
        Done done = AnswerOnce([promise](std::string reply) mutable { promise.deliver(std::move(reply)); });
        Guard(done, [&] { st.Handle(request, done); });
        return promise;
      },
  };
}

}  // namespace

}  // namespace admin

caf::actor SpawnAdminService(caf::actor_system& system, AdminContext context) {
  return system.spawn<caf::detached>(admin::AdminActor, std::move(context));
}

}  // namespace ami
