// logs.tail (docs/admin-api.md, "logs.tail"): a worker's log files on this node, read
// by runtime/log/log_tail.h. Reading files blocks; the admin actor runs detached.
#include "actors/admin/admin.h"
#include "runtime/log/log_tail.h"

namespace ami::admin {

namespace {

constexpr int64_t kMaxTailLines = 10000;

void LogsTail(Admin& admin, const json& args, Done done) {
  if (Status s = OnlyKnown(args, {"sid", "lines", "cursor"}, "", "logs.tail"); !s.ok()) return done(s);
  auto sid = RequiredSid(args);
  if (!sid.ok()) return done(sid.status());
  auto lines = OptionalInt(args, "lines", 1, kMaxTailLines);
  if (!lines.ok()) return done(lines.status());
  std::optional<LogCursor> cursor;
  if (Arg(args, "cursor")) {
    auto text = RequiredString(args, "cursor");
    if (!text.ok()) return done(text.status());
    cursor = ParseLogCursor(*text);
    if (!cursor)
      return done(Invalid("cursor", Quoted(text->substr(0, 64)) + " is not a cursor from an earlier logs.tail reply"));
  }
  const auto& env = *admin.ctx.env;
  const auto files = WorkerLogFiles::Open(env.settings.log_dir, *sid, env.settings.log.worker_files);
  auto result = cursor ? files.After(*cursor) : files.Last(static_cast<size_t>(lines->value_or(50)));
  if (!result.ok()) return done(Status::Internal(result.status().message()));
  json out = {{"lines", result->lines}, {"cursor", FormatLogCursor(result->cursor)}, {"more", result->more}};
  if (!files.empty()) return done(std::move(out));
  // No log file: fine for a worker that has not logged yet, not_found for an unknown sid.
  Done unknown = [sid = *sid, done](Result<json> r) {
    if (!r.ok() && r.status().code() == Status::Code::kNotFound)
      return done(Status::NotFound("no log and no worker " + sid + " on this node"));
    done(std::move(r));
  };
  admin.GetWorker(*sid, unknown, [out, unknown](const StoredWorker&) { unknown(out); });
}

}  // namespace

Ops LogOps() { return {{"logs.tail", LogsTail}}; }

}  // namespace ami::admin
