#include "runtime/config/http_section.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>

#include "runtime/config/host_port.h"
#include "runtime/config/yaml_reader.h"

namespace ami {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using config_internal::CheckReadable;
using config_internal::Context;
using config_internal::MapReader;
using config_internal::Quote;
using config_internal::ResolvePath;
using config_internal::ValueReader;

namespace {

// "https://live.stels.io", "http://localhost:5173": what a browser puts in Origin. A
// path, query or trailing slash never appears there, so an entry with one would never
// match — better to say so now.
std::string OriginProblem(const std::string& origin) {
  if (origin == "*") return "";
  const size_t scheme_end = origin.find("://");
  if (scheme_end == std::string::npos || (origin.compare(0, scheme_end, "http") != 0 &&
                                          origin.compare(0, scheme_end, "https") != 0))
    return "expected \"*\" or an origin like https://live.stels.io, got " + Quote(origin);
  const std::string host = origin.substr(scheme_end + 3);
  if (host.empty()) return "the origin " + Quote(origin) + " has no host";
  if (host.find_first_of("/?#") != std::string::npos)
    return "an origin has no path, query or trailing slash (browsers send scheme://host[:port]), got " + Quote(origin);
  return "";
}

bool IsBase58(const std::string& text) {
  static constexpr std::string_view kAlphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return kAlphabet.find(c) != std::string_view::npos;
  });
}

void ReadTls(Context& ctx, const MapReader& m, const fs::path& base, HttpSection* out) {
  if (!m.Has("tls")) return;
  MapReader tls(ctx, m.Field("tls"), {"cert_file", "key_file"});
  if (!tls.valid()) return;
  HttpTlsSection t;
  for (auto [key, target] : {std::pair{"cert_file", &t.cert_file}, {"key_file", &t.key_file}}) {
    std::string text;
    auto field = tls.Required(key);
    if (!field.String(&text)) continue;
    *target = ResolvePath(base, text);
    if (std::string why = CheckReadable(*target); !why.empty()) field.Report(why);
  }
  out->tls = std::move(t);
}

void ReadListen(const MapReader& m, HttpSection* out) {
  auto listen = m.Required("listen", "e.g. listen: 127.0.0.1:8088");
  HostPort address;
  if (!listen.HostPort(&out->listen, /*allow_port_zero=*/true, &address)) return;
  // Bearer tokens and sessions must not cross a network in clear text.
  if (!address.is_loopback && !m.Has("tls"))
    listen.Report(Quote(out->listen) +
                  " is not a loopback address; without http.tls the gateway listens on loopback addresses "
                  "only (see docs/security.md)");
}

void ReadCors(const MapReader& m, HttpSection* out) {
  m.Field("cors_origins").ForEach([&](const ValueReader& item) {
    std::string origin;
    if (!item.String(&origin)) return;
    if (std::string why = OriginProblem(origin); !why.empty()) return item.Report(why);
    if (std::find(out->cors_origins.begin(), out->cors_origins.end(), origin) != out->cors_origins.end())
      return item.Report("duplicate origin " + Quote(origin));
    out->cors_origins.push_back(origin);
  });
}

void ReadWallets(Context& ctx, const MapReader& m, HttpSection* out) {
  MapReader wallets(ctx, m.Field("wallets"), {"developers", "viewers"});
  if (!wallets.valid()) return;
  std::map<std::string, std::string> seen;  // address -> the list it is in
  for (auto [key, target] : {std::pair{"developers", &out->wallets.developers}, {"viewers", &out->wallets.viewers}}) {
    wallets.Field(key).ForEach([&, key = key, target = target](const ValueReader& item) {
      std::string address;
      if (!item.String(&address)) return;
      if (!IsBase58(address)) return item.Report("expected a wallet address (base58), got " + Quote(address));
      if (auto [it, fresh] = seen.emplace(address, key); !fresh)
        return item.Report("wallet " + Quote(address) + " is already listed in http.wallets." + it->second +
                           " (a wallet has one role)");
      target->push_back(address);
    });
  }
}

}  // namespace

std::optional<HttpSection> ReadHttpSection(Context& ctx, const ValueReader& value, const fs::path& base_dir) {
  if (!value.present()) return std::nullopt;
  MapReader m(ctx, value,
              {"listen", "tls", "cors_origins", "sessions", "wallets", "max_body", "max_header", "max_connections",
               "idle_timeout", "sonar_interval", "web_root", "network"});
  if (!m.valid()) return std::nullopt;
  HttpSection h;
  ReadListen(m, &h);
  ReadTls(ctx, m, base_dir, &h);
  ReadCors(m, &h);
  MapReader sessions(ctx, m.Field("sessions"), {"ttl"});
  sessions.Field("ttl").Duration(&h.session_ttl, 1min);
  ReadWallets(ctx, m, &h);
  // Lower bounds keep a typo ("1" meaning 1 MiB) from making the API unusable.
  m.Field("max_body").Size(&h.max_body, 1024);
  if (m.Field("max_header").Size(&h.max_header, 1024) && h.max_header > (1ull << 20)) {
    m.Field("max_header").Report("must be at most 1MB");
    h.max_header = 1ull << 20;
  }
  m.Field("max_connections").Int(&h.max_connections, 1, 1000000);
  m.Field("idle_timeout").Duration(&h.idle_timeout, 100ms);
  m.Field("sonar_interval").Duration(&h.sonar_interval, 100ms);
  if (std::string network; m.Field("network").String(&network)) {
    const bool plain = !network.empty() && network.size() <= 64 &&
                       std::all_of(network.begin(), network.end(), [](char c) {
                         return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
                       });
    if (plain) h.network = network;
    else m.Field("network").Report("must be 1 to 64 letters, digits, '-', '_' or '.' (a STELS network name)");
  }
  // Not checked for existence: the node may start before the web app is built.
  if (std::string root; m.Field("web_root").String(&root)) h.web_root = ResolvePath(base_dir, root);
  return h;
}

}  // namespace ami
