// The trials report (trials/report.h): the JSON totals the issue asks for, per-trial
// entries, and an HTML page that is well-formed, self-contained and draws one timeline
// per trial.
#include <catch2/catch.hpp>

#include <cctype>
#include <sstream>

#include "tests/support/test_support.h"
#include "tests/trials/trial_fixture.h"
#include "trials/report.h"

using namespace ami::trials;
using namespace ami::trials::fixture;
using nlohmann::json;

namespace {

// The clean fixture, and one with a planted overlap, duplicate order and lost write.
std::vector<TrialRecord> TwoTrials() {
  History bad = CleanHistory();
  bad.schedule.options.seed = 99;
  bad.spans[kGrid].push_back({"n3", 3, T + 8'000, T + 8'040});
  bad.orders.push_back(Placed(7'450, "ami-grid-one-1-k1-2", "o7", kGrid, 2, "n2", "sell", 110, std::nullopt));
  bad.kv_final[2].values["a"] = {"v1", 100, "n1"};
  return {Judge(CleanHistory()), Judge(bad)};
}

size_t Occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Checks that `html` is well-formed XML apart from its doctype: every element closed in
// order, attributes quoted, '<' and '&' in text only as markup or entities. Returns the
// first problem, "" when none.
std::string WellFormed(const std::string& html) {
  std::vector<std::string> open;
  size_t i = 0;
  auto name_at = [&](size_t& p) {
    size_t start = p;
    while (p < html.size() && (std::isalnum(static_cast<unsigned char>(html[p])) || html[p] == '-' || html[p] == ':')) ++p;
    return html.substr(start, p - start);
  };
  while (i < html.size()) {
    const char c = html[i];
    if (c == '&') {
      size_t end = html.find(';', i);
      if (end == std::string::npos || end - i > 8) return "bare & at " + std::to_string(i);
      for (size_t k = i + 1; k < end; ++k)
        if (!std::isalnum(static_cast<unsigned char>(html[k])) && html[k] != '#') return "bad entity at " + std::to_string(i);
      i = end + 1;
      continue;
    }
    if (c == '>') return "bare > at " + std::to_string(i);
    if (c != '<') { ++i; continue; }
    if (html.compare(i, 2, "<!") == 0) {
      i = html.find('>', i) + 1;
      continue;
    }
    if (html.compare(i, 2, "</") == 0) {
      size_t p = i + 2;
      const std::string name = name_at(p);
      if (p >= html.size() || html[p] != '>') return "bad end tag at " + std::to_string(i);
      if (open.empty() || open.back() != name)
        return "</" + name + "> at " + std::to_string(i) + " closes <" + (open.empty() ? "nothing" : open.back()) + ">";
      open.pop_back();
      i = p + 1;
      continue;
    }
    size_t p = i + 1;
    const std::string name = name_at(p);
    if (name.empty()) return "bare < at " + std::to_string(i);
    for (;;) {
      while (p < html.size() && std::isspace(static_cast<unsigned char>(html[p]))) ++p;
      if (p >= html.size()) return "unterminated <" + name + ">";
      if (html[p] == '>') { open.push_back(name); ++p; break; }
      if (html.compare(p, 2, "/>") == 0) { p += 2; break; }
      const std::string attr = name_at(p);
      if (attr.empty() || p + 1 >= html.size() || html[p] != '=' || html[p + 1] != '"')
        return "unquoted attribute in <" + name + "> at " + std::to_string(p);
      const size_t close = html.find('"', p + 2);
      if (close == std::string::npos) return "unterminated attribute in <" + name + ">";
      if (html.substr(p + 2, close - p - 2).find('<') != std::string::npos) return "< in an attribute of <" + name + ">";
      p = close + 1;
    }
    i = p;
  }
  if (!open.empty()) return "<" + open.back() + "> never closed";
  return "";
}

}  // namespace

TEST_CASE("report: percentiles by nearest rank", "[trials][report]") {
  CHECK(Percentile({}, 50) == 0);
  CHECK(Percentile({5}, 99) == 5);
  std::vector<int64_t> hundred;
  for (int64_t i = 100; i >= 1; --i) hundred.push_back(i);
  CHECK(Percentile(hundred, 50) == 50);
  CHECK(Percentile(hundred, 99) == 99);
  CHECK(Percentile({10, 20}, 50) == 10);
  CHECK(Percentile({10, 20}, 99) == 20);
}

TEST_CASE("report: the JSON holds the totals the issue asks for and one entry per trial", "[trials][report]") {
  const auto trials = TwoTrials();
  REQUIRE(trials[0].passed());
  REQUIRE(!trials[1].passed());
  const json report = ReportJson(trials);
  const json& totals = report.at("totals");
  for (const char* key : {"trials", "faults", "failovers", "overlaps", "duplicate_orders", "stale_orders_accepted",
                          "stale_orders_refused", "acked_writes_lost", "failover_ms"}) {
    INFO(key);
    CHECK(totals.contains(key));
  }
  CHECK(totals["trials"] == 2);
  CHECK(totals["passed"] == 1);
  CHECK(totals["failed"] == 1);
  for (FaultKind k : InjectionKinds()) CHECK(totals["faults"].contains(KindName(k)));
  CHECK(totals["faults"]["kill9"] == 2);
  CHECK(totals["faults"]["partition"] == 2);
  CHECK(totals["faults"]["stop"] == 0);
  CHECK(totals["overlaps"] == Count(trials[1].violations, "overlap"));
  CHECK(totals["overlaps"].get<size_t>() >= 1);
  CHECK(totals["duplicate_orders"] == 1);
  CHECK(totals["stale_orders_accepted"] == 0);
  CHECK(totals["stale_orders_refused"] == 2);
  CHECK(totals["acked_writes_lost"] == 1);
  const size_t failovers = FindFailovers(trials[0].history).size() + FindFailovers(trials[1].history).size();
  CHECK(totals["failovers"] == failovers);
  REQUIRE(totals["failover_ms"].is_object());
  CHECK(totals["failover_ms"]["p50"].is_number());
  CHECK(totals["failover_ms"]["p99"].is_number());
  CHECK(totals["failover_ms"]["p99"].get<int64_t>() >= totals["failover_ms"]["p50"].get<int64_t>());

  const json& entries = report.at("trials");
  REQUIRE(entries.size() == 2);
  CHECK(entries[0]["seed"] == 1234);
  CHECK(entries[0]["result"] == "pass");
  CHECK(entries[0]["violations"].empty());
  CHECK(entries[0]["replay"] == "scripts/trials --trials 1 --nodes 3 --seed 1234 --minutes 0.333333");
  CHECK(entries[0]["failovers"].size() == 1);
  CHECK(entries[0]["failovers"][0]["cause"] == "kill9 n1");
  CHECK(entries[0]["schedule"].size() == 5);
  CHECK(entries[1]["seed"] == 99);
  CHECK(entries[1]["result"] == "fail");
  CHECK(entries[1]["violations"].size() == trials[1].violations.size());
  CHECK(entries[1]["violations"][0].contains("message"));

  // No failovers at all: the percentiles are null, not 0.
  History still = CleanHistory();
  still.spans.erase(kGrid);
  CHECK(ReportJson({Judge(still)})["totals"]["failover_ms"].is_null());
}

TEST_CASE("report: the HTML is well-formed, self-contained and draws one timeline per trial", "[trials][report]") {
  const auto trials = TwoTrials();
  const std::string html = ReportHtml(trials);
  const std::string problem = WellFormed(html);
  INFO(problem);
  CHECK(problem.empty());
  CHECK(Occurrences(html, "<svg class=\"timeline\"") == 2);
  CHECK(Occurrences(html, "<section class=\"trial") == 2);
  CHECK(Occurrences(html, "<section class=\"trial fail\"") == 1);
  CHECK(html.find("<table class=\"totals\">") != std::string::npos);
  // Nothing fetched from elsewhere: no scripts, no links; the only URL is SVG's namespace.
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("src=") == std::string::npos);
  std::string without_ns = html;
  for (size_t at; (at = without_ns.find("http://www.w3.org/2000/svg")) != std::string::npos;) without_ns.erase(at, 26);
  CHECK(without_ns.find("http") == std::string::npos);
  // What happened is on the picture: leader spans, the kill, the cut-off node, orders,
  // the fenced order, the heals and — in the failing trial — the violations.
  const std::string first = html.substr(0, html.find("id=\"trial-2\""));
  for (const char* mark : {"class=\"span\"", "class=\"band down\"", "class=\"band cut\"", "class=\"order buy\"",
                           "class=\"order sell\"", "class=\"refused\"", "class=\"heal all\"", "class=\"partition\""}) {
    INFO(mark);
    CHECK(first.find(mark) != std::string::npos);
  }
  CHECK(first.find("class=\"violation\"") == std::string::npos);
  const std::string second = html.substr(html.find("id=\"trial-2\""));
  CHECK(second.find("class=\"violation\"") != std::string::npos);
  for (const auto& v : trials[1].violations) CHECK(second.find(EscapeHtml(v.message)) != std::string::npos);
  CHECK(html.find("scripts/trials --trials 1 --nodes 3 --seed 99") != std::string::npos);
}

TEST_CASE("report: WriteReport writes the report, its page and the histories", "[trials][report]") {
  ami::test::TempDir dir;
  const auto trials = TwoTrials();
  WriteReport(dir / "out", trials);
  const json report = json::parse(ami::test::ReadFile(dir / "out/trials-report.json"));
  CHECK(report["totals"]["trials"] == 2);
  CHECK(WellFormed(ami::test::ReadFile(dir / "out/trials-report.html")).empty());
  // The histories read back equal: a campaign can be judged again.
  std::istringstream lines(ami::test::ReadFile(dir / "out/trials-histories.jsonl"));
  std::string line;
  size_t n = 0;
  while (std::getline(lines, line)) {
    REQUIRE(n < trials.size());
    CHECK(HistoryFromJson(json::parse(line)) == trials[n].history);
    ++n;
  }
  CHECK(n == trials.size());
}
