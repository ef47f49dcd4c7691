// Signature parity with CCXT (issue 13): for every request of ccxt_parity_cases.json, what a
// connector's SignRequest() would send — URL (with query), method, the signing headers plus
// Content-Type, and body — is byte-identical to what the pinned `ccxt` npm package's own
// `exchange.sign()` returns for the same key, secret, timestamp and params.
//
// The oracle is tests/exchanges/ccxt_oracle/sign.mjs, run with the machine's `node`; its
// ccxt comes from `npm ci` there (scripts/bootstrap). Without node or that folder the test
// FAILS saying so: a parity test that skips itself would prove nothing on a fresh clone.
//
// Headers compared: X-BAPI-* (bybit), X-MBX-* (binance) and Content-Type, names ASCII
// case-insensitive (HTTP), values byte for byte. Not compared: ccxt's `Referer: CCXT` on
// bybit POSTs, which is CCXT's broker attribution, not part of the signature (our
// connector sends none, and that production path is what is compared).
// The case fields are described at the top of ccxt_oracle/sign.mjs; both sides read the
// same table, one case per line.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "ami/plugin/net/http_client.h"
#include "tests/support/test_support.h"

#include "exchanges/binance/binance_sign.h"
#include "exchanges/bybit/bybit_sign.h"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;
using ami::plugin::net::HeaderList;
using ami::plugin::net::HttpRequest;

const fs::path kOracleDir = AMI_CCXT_ORACLE_DIR;
const fs::path kCasesFile = AMI_CCXT_PARITY_CASES;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

fs::path FindOnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    const fs::path candidate = fs::path(dir) / program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// Everything the oracle needs is there, or the test fails naming what to run.
fs::path RequireOracle() {
  const fs::path node = FindOnPath("node");
  if (node.empty()) {
    FAIL("`node` is not on PATH: the signature parity test runs ccxt with the machine's "
         "Node.js (scripts/bootstrap requires it)");
  }
  const fs::path installed = kOracleDir / "node_modules" / "ccxt" / "package.json";
  if (!fs::exists(installed)) {
    FAIL("ccxt is not installed in " << kOracleDir.string()
         << "/node_modules: run scripts/bootstrap (npm ci in tests/exchanges/ccxt_oracle)");
  }
  // A node_modules left from an older lockfile would test against another ccxt.
  const std::string pinned = Json::parse(ami::test::ReadFile(kOracleDir / "package.json"))
                                 .at("dependencies").at("ccxt").get<std::string>();
  const std::string version =
      Json::parse(ami::test::ReadFile(installed)).at("version").get<std::string>();
  if (version != pinned) {
    FAIL("ccxt " << version << " is installed but package.json pins " << pinned
         << ": run scripts/bootstrap");
  }
  return node;
}

// Runs sign.mjs with `cases` on stdin; returns its JSON array, one answer per case.
Json RunOracle(const Json& cases) {
  const fs::path node = RequireOracle();
  ami::test::TempDir dir;
  const fs::path in = dir / "cases.json", out = dir / "out.json", err = dir / "err.txt";
  ami::test::WriteFile(in, cases.dump());
  const std::string script = (kOracleDir / "sign.mjs").string();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int fd_in = ::open(in.c_str(), O_RDONLY);
    const int fd_out = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int fd_err = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd_in < 0 || fd_out < 0 || fd_err < 0) ::_exit(126);
    ::dup2(fd_in, 0);
    ::dup2(fd_out, 1);
    ::dup2(fd_err, 2);
    ::execl(node.c_str(), "node", script.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  const bool exited = ami::test::Eventually(
      [&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, std::chrono::seconds(60));
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL("the ccxt oracle did not finish within 60 s; stderr: " << ami::test::ReadFile(err));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    FAIL("the ccxt oracle failed (status " << status << "): " << ami::test::ReadFile(err));
  }
  Json answers = Json::parse(ami::test::ReadFile(out));
  REQUIRE(answers.is_array());
  REQUIRE(answers.size() == cases.size());
  return answers;
}

Json CasesOf(const std::string& exchange) {
  Json all = Json::parse(ami::test::ReadFile(kCasesFile));
  Json mine = Json::array();
  for (auto& c : all) {
    if (c.at("exchange") == exchange) mine.push_back(c);
  }
  REQUIRE(!mine.empty());
  return mine;
}

// The compared part of a request, rendered as text so a failure prints both sides whole.
struct Sent {
  std::string url, method, body, headers;
};

bool Compared(const std::string& lower_name) {
  return lower_name.rfind("x-bapi-", 0) == 0 || lower_name.rfind("x-mbx-", 0) == 0 ||
         lower_name == "content-type";
}

std::string RenderHeaders(HeaderList headers) {
  for (auto& h : headers) h.first = Lower(h.first);
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [](const auto& h) { return !Compared(h.first); }),
                headers.end());
  std::sort(headers.begin(), headers.end());
  std::string text;
  for (const auto& [name, value] : headers) text += name + ": " + value + "\n";
  return text;
}

Sent FromCcxt(const Json& answer) {
  Sent s;
  s.url = answer.at("url").get<std::string>();
  s.method = answer.at("method").get<std::string>();
  if (!answer.at("body").is_null()) s.body = answer.at("body").get<std::string>();
  HeaderList headers;
  for (const auto& [name, value] : answer.at("headers").items()) {
    headers.emplace_back(name, value.is_string() ? value.get<std::string>() : value.dump());
  }
  s.headers = RenderHeaders(std::move(headers));
  return s;
}

Sent FromOurs(const HttpRequest& request) {
  return {request.url, request.method, request.body, RenderHeaders(request.headers)};
}

std::string Str(const Json& c, const char* key, const std::string& otherwise = "") {
  return c.contains(key) ? c.at(key).get<std::string>() : otherwise;
}

// Checks every case of `exchange` against the oracle; `sign` builds our request for a case.
template <typename SignFn>
void CheckParity(const std::string& exchange, SignFn sign) {
  const Json cases = CasesOf(exchange);
  const Json answers = RunOracle(cases);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Json& c = cases[i];
    INFO(exchange << " case \"" << c.at("name").get<std::string>() << "\": " << c.dump());
    if (answers[i].contains("error")) FAIL("ccxt refused the case: " << answers[i].at("error"));
    const Sent theirs = FromCcxt(answers[i]);
    const Sent ours = FromOurs(sign(c));
    CHECK(ours.method == theirs.method);
    CHECK(ours.url == theirs.url);
    CHECK(ours.headers == theirs.headers);
    CHECK(ours.body == theirs.body);
  }
}

std::string HmacSha256Hex(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[mac[i] >> 4];
    hex += kHex[mac[i] & 0xf];
  }
  return hex;
}

}  // namespace

// The oracle itself, checked against the exchanges' documented schemes with OpenSSL: every
// private answer is signed, and signed as Bybit v5 / Binance document it. So parity with it
// means parity with a correct signature, and a broken oracle cannot pass silently.
TEST_CASE("ccxt's signatures are the HMAC-SHA256 the exchanges document", "[ccxt_parity]") {
  const Json all = Json::parse(ami::test::ReadFile(kCasesFile));
  const Json answers = RunOracle(all);
  int private_cases = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const Json& c = all[i];
    INFO("case \"" << c.at("name").get<std::string>() << "\" -> " << answers[i].dump());
    REQUIRE_FALSE(answers[i].contains("error"));
    const std::string api = c.at("api");
    const bool is_private = api == "private" || api == "fapiPrivate" || api == "fapiPrivateV2";
    const Json& headers = answers[i].at("headers");
    const std::string url = answers[i].at("url");
    const std::string body = answers[i].at("body").is_null() ? "" : answers[i].at("body").get<std::string>();
    const std::string secret = c.at("secret");
    if (!is_private) {
      CHECK(headers.empty());
      continue;
    }
    ++private_cases;
    if (c.at("exchange") == "bybit") {
      // timestamp + api_key + recv_window + (JSON body for POST | query string for GET)
      const std::string query = url.find('?') == std::string::npos ? "" : url.substr(url.find('?') + 1);
      const std::string payload = headers.at("X-BAPI-TIMESTAMP").get<std::string>() +
                                  c.at("api_key").get<std::string>() +
                                  headers.at("X-BAPI-RECV-WINDOW").get<std::string>() +
                                  (c.at("method") == "POST" ? body : query);
      CHECK(headers.at("X-BAPI-TIMESTAMP") == std::to_string(c.at("timestamp").get<long long>()));
      CHECK(headers.at("X-BAPI-SIGN") == HmacSha256Hex(secret, payload));
    } else {
      // totalParams (query or form body) with `&signature=<hex HMAC of what precedes>` last
      const std::string signed_part = c.at("method") == "POST" ? body : url.substr(url.find('?') + 1);
      const auto at = signed_part.rfind("&signature=");
      REQUIRE(at != std::string::npos);
      CHECK(signed_part.substr(at + 11) == HmacSha256Hex(secret, signed_part.substr(0, at)));
      CHECK(signed_part.find("timestamp=" + std::to_string(c.at("timestamp").get<long long>())) !=
            std::string::npos);
      CHECK(headers.at("X-MBX-APIKEY") == c.at("api_key"));
    }
  }
  CHECK(private_cases >= 20);
}

TEST_CASE("bybit signs every request byte-identically to ccxt's bybit.sign()", "[ccxt_parity]") {
  CheckParity("bybit", [](const Json& c) {
    ami::exchanges::bybit::SignInput in;
    in.base_url = Str(c, "base_url", "https://api.bybit.com");
    in.api = c.at("api");
    in.path = c.at("path");
    in.method = Str(c, "method", "GET");
    in.params = c.at("params");
    in.credentials.api_key = c.at("api_key");
    in.credentials.secret = c.at("secret");
    in.timestamp_ms = c.at("timestamp");
    in.recv_window_ms = c.at("recv_window");
    return ami::exchanges::bybit::SignRequest(in);
  });
}

TEST_CASE("binance signs every request byte-identically to ccxt's binance.sign()", "[ccxt_parity]") {
  CheckParity("binance", [](const Json& c) {
    ami::exchanges::binance::SignInput in;
    in.spot_base_url = Str(c, "spot_base_url", "https://api.binance.com");
    in.futures_base_url = Str(c, "futures_base_url", "https://fapi.binance.com");
    in.api = c.at("api");
    in.path = c.at("path");
    in.method = Str(c, "method", "GET");
    in.params = c.at("params");
    in.credentials.api_key = c.at("api_key");
    in.credentials.secret = c.at("secret");
    in.timestamp_ms = c.at("timestamp");
    in.recv_window_ms = c.at("recv_window");
    return ami::exchanges::binance::SignRequest(in);
  });
}
