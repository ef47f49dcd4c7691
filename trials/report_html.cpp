// The report's HTML page (report.h): one file, inline CSS and SVG, no scripts — it opens
// from a CI artifact or a mail attachment as it is. Hover texts are SVG <title>s.
#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>

#include "trials/report.h"

namespace ami::trials {

using nlohmann::json;

namespace {

constexpr const char* kWorkerColors[] = {"#2b6cb0", "#2f855a", "#b7791f", "#6b46c1", "#c05621", "#2c7a7b"};
constexpr double kLeft = 56, kWidth = 940, kTop = 22, kLane = 7, kOrderLane = 9, kRowPad = 4;

std::string Num(double v) {
  char out[32];
  std::snprintf(out, sizeof out, "%.1f", v);
  return out;
}

std::string Seconds(int64_t ms) {
  char out[32];
  std::snprintf(out, sizeof out, "%.3fs", static_cast<double>(ms) / 1000.0);
  return out;
}

// A stretch on one node's row: down, frozen, cut off, slow disk.
struct Band {
  std::string node;
  int64_t from, to;
  std::string cls, title;
};

class Timeline {
 public:
  explicit Timeline(const TrialRecord& trial) : t_(trial), h_(trial.history) {
    for (int i = 0; i < h_.schedule.options.nodes; ++i) AddNode(NodeId(i));
    for (const auto& [worker, spans] : h_.spans) {
      workers_.push_back(worker);
      for (const auto& s : spans) {
        AddNode(s.node);
        Extend(s.start);
        Extend(s.end);
      }
    }
    for (const auto& e : h_.orders) {
      if (!e.node.empty()) AddNode(e.node);
      Extend(e.t);
    }
    for (const auto& a : h_.faults) Extend(a.at);
    for (const auto& r : h_.leader_runs) Extend(r.at);
    if (lo_ > hi_) lo_ = hi_ = h_.started_at;  // nothing recorded
    t0_ = h_.started_at > 0 ? std::min(h_.started_at, lo_) : lo_;
    t1_ = std::max({hi_, h_.ended_at, t0_ + h_.schedule.options.duration_ms, t0_ + 1});
    row_height_ = kRowPad * 2 + kLane * static_cast<double>(std::max<size_t>(workers_.size(), 1)) + kOrderLane;
  }

  std::string Svg() {
    const double height = kTop + row_height_ * static_cast<double>(nodes_.size()) + 6;
    out_ = "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" + Num(kLeft + kWidth + 10) +
           "\" height=\"" + Num(height) + "\" viewBox=\"0 0 " + Num(kLeft + kWidth + 10) + " " + Num(height) + "\">\n";
    Rows();
    Axis(height);
    Faults(height);
    Spans();
    Orders();
    Violations(height);
    out_ += "</svg>\n";
    return out_;
  }

 private:
  void AddNode(const std::string& n) {
    if (std::find(nodes_.begin(), nodes_.end(), n) == nodes_.end()) nodes_.push_back(n);
  }
  void Extend(int64_t t) {
    lo_ = std::min(lo_, t);
    hi_ = std::max(hi_, t);
  }
  double X(int64_t t) const {
    const double f = static_cast<double>(t - t0_) / static_cast<double>(t1_ - t0_);
    return kLeft + std::clamp(f, 0.0, 1.0) * kWidth;
  }
  double RowY(const std::string& node) const {
    const auto i = std::find(nodes_.begin(), nodes_.end(), node) - nodes_.begin();
    return kTop + row_height_ * static_cast<double>(i);
  }
  void Rect(double x, double y, double w, double h, const std::string& cls, const std::string& title,
            const std::string& fill = "") {
    out_ += "<rect class=\"" + cls + "\" x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" width=\"" + Num(std::max(w, 1.0)) +
            "\" height=\"" + Num(h) + "\"" + (fill.empty() ? "" : " fill=\"" + fill + "\"") + ">";
    if (!title.empty()) out_ += "<title>" + EscapeHtml(title) + "</title>";
    out_ += "</rect>\n";
  }
  void VLine(int64_t t, double y0, double y1, const std::string& cls, const std::string& title) {
    out_ += "<line class=\"" + cls + "\" x1=\"" + Num(X(t)) + "\" y1=\"" + Num(y0) + "\" x2=\"" + Num(X(t)) + "\" y2=\"" +
            Num(y1) + "\"><title>" + EscapeHtml(title) + "</title></line>\n";
  }
  std::string At(int64_t t) const { return "t=" + Seconds(t - t0_); }

  void Rows() {
    for (size_t i = 0; i < nodes_.size(); ++i) {
      const double y = kTop + row_height_ * static_cast<double>(i);
      Rect(kLeft, y, kWidth, row_height_, i % 2 ? "row odd" : "row", "");
      out_ += "<text class=\"node\" x=\"4\" y=\"" + Num(y + row_height_ / 2 + 4) + "\">" + EscapeHtml(nodes_[i]) + "</text>\n";
    }
  }

  void Axis(double height) {
    const int64_t span = t1_ - t0_;
    int64_t step = 0;
    for (int64_t s : {1000, 2000, 5000, 10000, 20000, 30000, 60000, 120000, 300000, 600000}) {
      step = s;
      if (span / s <= 12) break;
    }
    for (int64_t t = 0; t <= span; t += step) {
      out_ += "<line class=\"tick\" x1=\"" + Num(X(t0_ + t)) + "\" y1=\"" + Num(kTop - 4) + "\" x2=\"" + Num(X(t0_ + t)) +
              "\" y2=\"" + Num(height - 6) + "\"/>\n";
      out_ += "<text class=\"axis\" x=\"" + Num(X(t0_ + t) + 2) + "\" y=\"" + Num(kTop - 8) + "\">" + std::to_string(t / 1000) +
              "s</text>\n";
    }
  }

  void Faults(double height) {
    std::vector<Band> bands;
    std::map<std::string, std::pair<int64_t, std::string>> killed, stopped, slow, away;
    auto close = [&](std::map<std::string, std::pair<int64_t, std::string>>& open, const std::string& node, int64_t at,
                     const char* cls) {
      auto it = open.find(node);
      if (it == open.end()) return;
      bands.push_back({node, it->second.first, at, cls, it->second.second + " → " + At(at)});
      open.erase(it);
    };
    auto close_all = [&](std::map<std::string, std::pair<int64_t, std::string>>& open, int64_t at, const char* cls) {
      while (!open.empty()) close(open, open.begin()->first, at, cls);
    };
    std::vector<AppliedFault> faults = h_.faults;
    std::stable_sort(faults.begin(), faults.end(), [](const auto& a, const auto& b) { return a.at < b.at; });
    for (const auto& a : faults) {
      const Fault& f = a.fault;
      const std::string what = DescribeFault(f) + " at " + At(a.at) + (a.error.empty() ? "" : " (not applied: " + a.error + ")");
      if (!a.error.empty()) continue;
      const std::string node = f.nodes.empty() ? "" : f.nodes[0];
      switch (f.kind) {
        case FaultKind::kKill9: killed[node] = {a.at, what}; break;
        case FaultKind::kStart: close(killed, node, a.at, "down"); break;
        case FaultKind::kStop: stopped[node] = {a.at, what}; break;
        case FaultKind::kCont: close(stopped, node, a.at, "frozen"); break;
        case FaultKind::kSlowDisk: slow[node] = {a.at, what}; break;
        case FaultKind::kSlowDiskEnd: close(slow, node, a.at, "slow"); break;
        case FaultKind::kPartition: {
          size_t largest = 0;
          for (size_t g = 1; g < f.groups.size(); ++g)
            if (f.groups[g].size() > f.groups[largest].size()) largest = g;
          for (size_t g = 0; g < f.groups.size(); ++g)
            if (g != largest)
              for (const auto& n : f.groups[g]) away[n] = {a.at, what};
          VLine(a.at, kTop, height - 6, "partition", what);
          break;
        }
        case FaultKind::kHeal:
          close_all(away, a.at, "cut");
          VLine(a.at, kTop, height - 6, "heal", what);
          break;
        case FaultKind::kRestart:
        case FaultKind::kClockDrift: {
          const double x = X(a.at), y = RowY(node) + 1;
          out_ += "<path class=\"" + std::string(f.kind == FaultKind::kRestart ? "restart" : "drift") + "\" d=\"M" +
                  Num(x - 4) + " " + Num(y) + " L" + Num(x + 4) + " " + Num(y) + " L" + Num(x) + " " + Num(y + 7) +
                  " Z\"><title>" + EscapeHtml(what) + "</title></path>\n";
          break;
        }
        case FaultKind::kHealAll:
          close_all(killed, a.at, "down");
          close_all(stopped, a.at, "frozen");
          close_all(slow, a.at, "slow");
          close_all(away, a.at, "cut");
          VLine(a.at, kTop, height - 6, "heal all", what);
          break;
      }
    }
    close_all(killed, t1_, "down");
    close_all(stopped, t1_, "frozen");
    close_all(slow, t1_, "slow");
    close_all(away, t1_, "cut");
    for (const auto& b : bands) {
      const double y = RowY(b.node);
      if (b.cls == "slow")
        Rect(X(b.from), y + row_height_ - 3, X(b.to) - X(b.from), 3, "band slow", b.title);
      else
        Rect(X(b.from), y, X(b.to) - X(b.from), row_height_, "band " + b.cls, b.title);
    }
  }

  void Spans() {
    for (size_t w = 0; w < workers_.size(); ++w) {
      const auto& spans = h_.spans.at(workers_[w]);
      const std::string color = kWorkerColors[w % std::size(kWorkerColors)];
      for (const auto& s : MergeSpans(spans, 500)) {
        const double y = RowY(s.node) + kRowPad + kLane * static_cast<double>(w);
        Rect(X(s.start), y, X(s.end) - X(s.start), kLane - 1, "span", "worker " + workers_[w] + ": leader " + s.node +
             ", term " + std::to_string(s.term) + ", " + At(s.start) + " – " + At(s.end), color);
      }
    }
  }

  void Orders() {
    for (const auto& e : h_.orders) {
      if (e.kind == OrderEventKind::kStatus || e.node.empty()) continue;
      const double x = X(e.t), y = RowY(e.node) + row_height_ - kRowPad - kOrderLane / 2;
      char price[32];
      std::snprintf(price, sizeof price, "%g", e.price);
      const std::string title = std::string(e.kind == OrderEventKind::kPlaced ? "placed " : "refused (stale term) ") +
                                e.client_order_id + ": " + e.side + " " + e.symbol + " @ " + price +
                                (e.grid_level ? ", grid level " + std::to_string(*e.grid_level) : "") + ", worker " +
                                e.worker + " term " + std::to_string(e.term) + ", " + At(e.t);
      if (e.kind == OrderEventKind::kPlaced) {
        out_ += "<circle class=\"order " + std::string(e.side == "sell" ? "sell" : "buy") + "\" cx=\"" + Num(x) +
                "\" cy=\"" + Num(y) + "\" r=\"2.5\"><title>" + EscapeHtml(title) + "</title></circle>\n";
      } else {
        out_ += "<path class=\"refused\" d=\"M" + Num(x - 3) + " " + Num(y - 3) + " L" + Num(x + 3) + " " + Num(y + 3) +
                " M" + Num(x - 3) + " " + Num(y + 3) + " L" + Num(x + 3) + " " + Num(y - 3) + "\"><title>" +
                EscapeHtml(title) + "</title></path>\n";
      }
    }
  }

  void Violations(double height) {
    for (const auto& v : t_.violations) {
      if (!v.at) continue;
      const double x = X(*v.at);
      VLine(*v.at, kTop, height - 6, "violation", v.message);
      out_ += "<path class=\"violation-mark\" d=\"M" + Num(x - 5) + " " + Num(kTop - 10) + " L" + Num(x + 5) + " " +
              Num(kTop - 10) + " L" + Num(x) + " " + Num(kTop - 1) + " Z\"><title>" + EscapeHtml(v.message) +
              "</title></path>\n";
    }
  }

  const TrialRecord& t_;
  const History& h_;
  std::vector<std::string> nodes_, workers_;
  int64_t lo_ = std::numeric_limits<int64_t>::max(), hi_ = std::numeric_limits<int64_t>::min(), t0_ = 0, t1_ = 1;
  double row_height_ = 0;
  std::string out_;
};

constexpr const char* kStyle = R"(
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1a202c; }
h1 { font-size: 22px; } h2 { font-size: 16px; margin: 0 0 4px; }
table.totals { border-collapse: collapse; margin: 8px 0 16px; }
table.totals td, table.totals th { border: 1px solid #cbd5e0; padding: 3px 10px; text-align: left; }
table.totals td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { background: #fed7d7; font-weight: bold; }
section.trial { border-left: 6px solid #48bb78; padding: 6px 12px; margin: 14px 0; background: #f7fafc; }
section.trial.fail { border-left-color: #e53e3e; background: #fff5f5; }
.result { font-weight: bold; } .fail .result { color: #c53030; } .pass .result { color: #2f855a; }
ul.violations li { color: #9b2c2c; }
code { background: #edf2f7; padding: 1px 4px; }
svg { display: block; margin: 6px 0; }
.row { fill: #ffffff; } .row.odd { fill: #f1f5f9; }
.node, .axis { font: 11px sans-serif; fill: #4a5568; }
.tick { stroke: #e2e8f0; stroke-width: 1; }
.band.down { fill: #feb2b2; } .band.frozen { fill: #cbd5e0; } .band.cut { fill: #e9d8fd; } .band.slow { fill: #975a16; }
.span { stroke: none; }
.order.buy { fill: #38a169; } .order.sell { fill: #dd6b20; }
.refused { stroke: #1a202c; stroke-width: 1.5; fill: none; }
.restart { fill: #d69e2e; } .drift { fill: #805ad5; }
.partition { stroke: #805ad5; stroke-dasharray: 3 3; } .heal { stroke: #38a169; stroke-dasharray: 3 3; }
.heal.all { stroke: #276749; stroke-width: 2; stroke-dasharray: none; }
.violation { stroke: #e53e3e; stroke-width: 2; } .violation-mark { fill: #e53e3e; }
.legend span { display: inline-block; margin-right: 14px; }
.swatch { display: inline-block; width: 14px; height: 10px; margin-right: 4px; vertical-align: middle; }
)";

std::string Legend() {
  auto swatch = [](const std::string& color, const std::string& label) {
    return "<span><i class=\"swatch\" style=\"background:" + color + "\"></i>" + label + "</span>";
  };
  return "<p class=\"legend\">" + swatch(kWorkerColors[0], "leader span (one lane per worker)") +
         swatch("#feb2b2", "killed") + swatch("#cbd5e0", "frozen (SIGSTOP)") + swatch("#e9d8fd", "cut off by a partition") +
         swatch("#975a16", "slow disk") + swatch("#d69e2e", "restart ▼") + swatch("#805ad5", "clock drift ▼") +
         swatch("#38a169", "order buy") + swatch("#276749", "heal (dashed) / heal all (solid)") + swatch("#dd6b20", "order sell") + swatch("#1a202c", "order refused (stale term) ✕") +
         swatch("#e53e3e", "violation (hover for the sentence)") + "</p>\n";
}

std::string TotalsTable(const json& totals) {
  std::string rows;
  auto row = [&](const std::string& label, const json& value, bool bad = false) {
    const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    rows += std::string("<tr") + (bad ? " class=\"bad\"" : "") + "><td>" + EscapeHtml(label) + "</td><td class=\"n\">" +
            EscapeHtml(text) + "</td></tr>\n";
  };
  auto count = [&](const char* key) { return totals.value(key, 0); };
  row("trials", std::to_string(count("trials")) + " (" + std::to_string(count("passed")) + " passed, " +
                    std::to_string(count("failed")) + " failed)",
      count("failed") > 0);
  for (const auto& [kind, n] : totals["faults"].items()) row("faults injected: " + kind, n);
  if (count("faults_not_applied") > 0) row("faults that could not be applied", totals["faults_not_applied"], true);
  row("failovers", totals["failovers"]);
  const json& fo = totals["failover_ms"];
  row("failover time p50 / p99 (max)", fo.is_null() ? json("–")
                                                    : json(std::to_string(fo["p50"].get<int64_t>()) + " ms / " +
                                                           std::to_string(fo["p99"].get<int64_t>()) + " ms (" +
                                                           std::to_string(fo["max"].get<int64_t>()) + " ms)"));
  row("leader overlaps", totals["overlaps"], count("overlaps") > 0);
  row("terms that went back", totals["term_regressions"], count("term_regressions") > 0);
  row("duplicate orders", totals["duplicate_orders"], count("duplicate_orders") > 0);
  row("stale-term orders accepted", totals["stale_orders_accepted"], count("stale_orders_accepted") > 0);
  row("stale-term orders refused (fencing)", totals["stale_orders_refused"]);
  row("grid levels with two live orders", totals["grid_levels_doubled"], count("grid_levels_doubled") > 0);
  row("untraceable orders", totals["untraceable_orders"], count("untraceable_orders") > 0);
  row("orders placed", totals["orders_placed"]);
  row("acknowledged writes lost (of " + std::to_string(count("acked_writes")) + ")", totals["acked_writes_lost"],
      count("acked_writes_lost") > 0);
  row("digest mismatches / late", std::to_string(count("digest_mismatches")) + " / " + std::to_string(count("digests_late")),
      count("digest_mismatches") + count("digests_late") > 0);
  row("no leader after the last heal", totals["liveness_failures"], count("liveness_failures") > 0);
  return "<table class=\"totals\">\n<tr><th>totals</th><th></th></tr>\n" + rows + "</table>\n";
}

}  // namespace

std::string ReportHtml(const std::vector<TrialRecord>& trials) {
  const json report = ReportJson(trials);
  const json& totals = report["totals"];
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>AMI fault trials</title>\n<style>" +
      std::string(kStyle) + "</style>\n</head>\n<body>\n<h1>AMI fault trials</h1>\n";
  html += "<p class=\"summary\">" + std::to_string(totals["trials"].get<size_t>()) + " trials: " +
          std::to_string(totals["passed"].get<size_t>()) + " passed, " + std::to_string(totals["failed"].get<size_t>()) +
          " failed.</p>\n";
  html += TotalsTable(totals) + Legend();
  for (size_t i = 0; i < trials.size(); ++i) {
    const auto& t = trials[i];
    const json& entry = report["trials"][i];
    const auto& o = t.history.schedule.options;
    html += std::string("<section class=\"trial ") + (t.passed() ? "pass" : "fail") + "\" id=\"trial-" + std::to_string(i + 1) + "\">\n";
    html += "<h2>Trial " + std::to_string(i + 1) + " · seed " + std::to_string(o.seed) + " · " + std::to_string(o.nodes) +
            " nodes · " + Seconds(o.duration_ms) + " · <span class=\"result\">" + (t.passed() ? "PASS" : "FAIL") +
            "</span></h2>\n";
    int injected = 0;
    for (const auto& [kind, n] : entry["faults"].items()) injected += n.get<int>();
    std::vector<int64_t> ms;
    for (const auto& f : entry["failovers"]) ms.push_back(f["ms"].get<int64_t>());
    html += "<p>" + std::to_string(injected) + " faults injected, " + std::to_string(ms.size()) + " failovers" +
            (ms.empty() ? "" : " (p50 " + std::to_string(Percentile(ms, 50)) + " ms)") + ", " +
            entry["orders_placed"].dump() + " orders placed, " + entry["stale_orders_refused"].dump() +
            " refused as stale, " + entry["acked_writes"].dump() + " acknowledged writes. Replay: <code>" +
            EscapeHtml(ReplayCommand(t.history)) + "</code></p>\n";
    html += Timeline(t).Svg();
    if (!t.passed()) {
      // The first ones here; all of them are in trials-report.json.
      constexpr size_t kShown = 25;
      html += "<ul class=\"violations\">\n";
      for (size_t v = 0; v < t.violations.size() && v < kShown; ++v)
        html += "<li>[" + EscapeHtml(t.violations[v].checker) + "] " + EscapeHtml(t.violations[v].message) + "</li>\n";
      if (t.violations.size() > kShown)
        html += "<li>… and " + std::to_string(t.violations.size() - kShown) + " more in trials-report.json</li>\n";
      html += "</ul>\n";
    }
    html += "<details><summary>schedule</summary><pre>" + EscapeHtml(FormatSchedule(t.history.schedule)) +
            "</pre></details>\n</section>\n";
  }
  html += "</body>\n</html>\n";
  return html;
}

}  // namespace ami::trials
