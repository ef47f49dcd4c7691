// The paper exchange's persistence: its journal (paper_state.h for the line format,
// ami/plugin/journal.h for durability), and the connector the host gets, which answers
// a call only once the call's changes are on disk (and goes through Answer's fast path).
#include <algorithm>

#include "paper_exchange.h"

namespace ami::paper {

using Json = nlohmann::json;
namespace errc = plugin::errc;

std::string PaperExchange::OpenJournal() {
  journal_ = std::make_unique<plugin::JournalFile>();
  std::string error;
  plugin::JournalFile::Options options;
  options.fsync_delay_ms = options_.fsync_delay_ms;
  if (!journal_->Open(journal_file_, error, options)) return error;
  plugin::JournalFile::ReplayReport report;
  std::uint64_t snapshot_line = 0;
  bool replayed = journal_->Replay(
      [&](const Json& line, std::uint64_t line_no) {
        if (line.contains("snapshot")) snapshot_line = line_no;
        ApplyLine(line, state_);
      },
      report, error);
  if (!replayed) return error + " (the exchange was not started; the file is left as it is)";
  if (snapshot_line == 1) snapshot_bytes_ = SnapshotLine(state_).size();   // close enough for the compaction rule
  if (report.lines > 0) return "";
  // An empty journal: start it from the former state file, if there is one.
  const std::filesystem::path former = options_.data_dir / ("paper-" + options_.exchange_id + ".json");
  error = LoadState(former, state_);
  if (!error.empty()) return error;
  std::error_code ec;
  if (std::filesystem::exists(former, ec)) {
    const std::string snapshot = SnapshotLine(state_) + "\n";
    if (!journal_->Compact(snapshot, error)) return error;
    snapshot_bytes_ = snapshot.size();
  }
  return "";
}

void PaperExchange::CommitLocked() {
  if (changes_.empty()) return;
  Changes changes = std::move(changes_);
  changes_ = Changes{};
  if (!journal_) return;
  journal_->Append(ChangeLine(state_, changes));
  // Compaction bounds the journal (and the replay) without making it a per-call cost:
  // only once it is both past compact_bytes and four times the state's own size.
  const std::uint64_t size = journal_->bytes();
  if (size < static_cast<std::uint64_t>(options_.compact_bytes) || size < 4 * snapshot_bytes_) return;
  const std::string snapshot = SnapshotLine(state_) + "\n";
  std::string error;
  if (journal_->Compact(snapshot, error)) snapshot_bytes_ = snapshot.size();
  // A failed compaction leaves the journal as it was (still complete): appending goes on.
}

namespace {

// The connector the host gets: every call through PaperExchange::Answer (its text fast
// path), answered once the journal holds it durably — or at once when memory only.
class DurablePaper final : public plugin::ExchangeConnector {
 public:
  explicit DurablePaper(std::unique_ptr<PaperExchange> x) : x_(std::move(x)), journal_(x_->journal()) {}

  std::string Describe() const override { return x_->Describe(); }

  plugin::CallResult Call(const plugin::CallContext& ctx, const std::string& method,
                          const std::string& args_json) override {
    plugin::CallResult r = x_->Answer(ctx, method, args_json);
    if (!journal_) return r;
    std::string error;
    // Everything appended so far: this call's line, and any line it may have read.
    if (!journal_->WaitDurable(journal_->last(), &error)) return NotDurable(method, error);
    return r;
  }

  void CallAsync(const plugin::CallContext& ctx, const std::string& method, const std::string& args_json,
                 plugin::CallCompletion done) override {
    if (!journal_) {
      if (plugin::IsCcxtStreamMethod(method)) return x_->CallAsync(ctx, method, args_json, std::move(done));
      return done(x_->Answer(ctx, method, args_json));
    }
    plugin::CallResult r = x_->Answer(ctx, method, args_json);
    // The answer goes from the journal's flusher thread once the fsync returned; this
    // thread (one of the host's bulkhead threads) is free for the next call meanwhile.
    journal_->AfterDurable(journal_->last(), [method, r = std::move(r), done = std::move(done)](
                                                 bool ok, const std::string& error) mutable {
      done(ok ? std::move(r) : NotDurable(method, error));
    });
  }

  void CancelWorker(const std::string& worker_sid) override { x_->CancelWorker(worker_sid); }

 private:
  static plugin::CallResult NotDurable(const std::string& method, const std::string& error) {
    return plugin::CallResult::Error(errc::kExchangeError,
                                     "paper: " + method + ": cannot persist state: " + error +
                                         "; the call's outcome is unknown until the node restarts");
  }

  std::unique_ptr<PaperExchange> x_;
  plugin::JournalFile* journal_;   // null: memory only
};

}  // namespace

std::unique_ptr<plugin::ExchangeConnector> PaperExchange::MakeDurable(std::unique_ptr<PaperExchange> x) {
  return std::make_unique<DurablePaper>(std::move(x));
}

}  // namespace ami::paper
