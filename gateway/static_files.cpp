#include "gateway/static_files.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

#include "gateway/rest_api.h"
#include "gateway/router.h"

#ifndef AMI_WEB_ROOT
#define AMI_WEB_ROOT "build/web/dist"
#endif

namespace ami::gateway {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";
constexpr std::string_view kRevalidate = "no-cache";

bool StartsWith(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// The gateway's own paths: never the web app's, whatever is in the root.
bool IsGatewayPath(std::string_view path) {
  return path == "/api" || StartsWith(path, "/api/") || path == "/metrics" || StartsWith(path, "/metrics/") ||
         path == "/ws" || StartsWith(path, "/ws/");
}

bool AcceptsHtml(const HttpRequest& request) {
  return request.Header("accept").find("text/html") != std::string_view::npos;
}

// The decoded path segments of `path` ("/" → {}), or nullopt when one is unsafe: "..",
// ".", empty (a//b), or holding NUL, '/' or '\' once decoded (an encoded %2F must not
// become a separator), or not valid percent-encoding.
std::optional<std::vector<std::string>> SafeSegments(const std::string& path) {
  std::vector<std::string> out;
  if (path == "/") return out;
  for (const std::string& raw : SplitPath(path)) {
    std::string segment;
    if (!PercentDecode(raw, /*plus_is_space=*/false, &segment)) return std::nullopt;
    if (segment.empty() || segment == "." || segment == "..") return std::nullopt;
    if (segment.find_first_of(std::string_view("\0/\\", 3)) != std::string::npos) return std::nullopt;
    out.push_back(std::move(segment));
  }
  return out;
}

// Whether `inner` (canonical) is `root` (canonical) or below it.
bool IsWithin(const fs::path& inner, const fs::path& root) {
  auto [root_end, inner_end] = std::mismatch(root.begin(), root.end(), inner.begin(), inner.end());
  return root_end == root.end();
}

// The canonical path of the regular file `candidate` if it is inside `root` once every
// symlink is resolved; nullopt otherwise (absent, a directory, or pointing outside).
std::optional<fs::path> FileInside(const fs::path& root, const fs::path& candidate) {
  std::error_code ec;
  const fs::path real_root = fs::canonical(root, ec);
  if (ec) return std::nullopt;
  const fs::path real = fs::canonical(candidate, ec);
  if (ec || !IsWithin(real, real_root)) return std::nullopt;
  if (!fs::is_regular_file(real, ec) || ec) return std::nullopt;
  return real;
}

// A validator that changes whenever the file does (a rebuild rewrites index.html).
std::string ETagOf(const fs::path& file) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  const auto mtime = fs::last_write_time(file, ec).time_since_epoch().count();
  char text[64];
  std::snprintf(text, sizeof text, "\"%llx-%llx\"", static_cast<unsigned long long>(size),
                static_cast<unsigned long long>(mtime));
  return text;
}

bool ReadWhole(const fs::path& file, std::string* out) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  *out = std::move(buffer).str();
  return !in.bad();
}

HttpResponse NotFound(const std::string& path) {
  return ErrorResponse(404, "not_found", "no file for GET " + path);
}

// What `/` says while web/ has not been built into the root.
HttpResponse NotBuilt(const fs::path& root) {
  HttpResponse r;
  r.status = 404;
  r.SetHeader("Content-Type", "text/html; charset=utf-8");
  r.SetHeader("Cache-Control", std::string(kRevalidate));
  r.body =
      "<!doctype html><meta charset=\"utf-8\"><title>AMI Editor not built</title>"
      "<h1>The AMI Editor is not built</h1>"
      "<p>This node serves the web editor from <code>" + root.string() + "</code>, which has no index.html.</p>"
      "<p>Build it with <code>scripts/bootstrap</code> (installs web/node_modules) and "
      "<code>scripts/build web</code>, or set <code>http.web_root</code>. See docs/editor.md.</p>";
  return r;
}

}  // namespace

std::string_view ContentTypeFor(const fs::path& file) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 20> kTypes = {{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".webmanifest", "application/manifest+json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".woff", "font/woff"},
      {".ttf", "font/ttf"},
      {".otf", "font/otf"},
      {".wasm", "application/wasm"},
      {".txt", "text/plain; charset=utf-8"},
  }};
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const auto& [known, type] : kTypes)
    if (ext == known) return type;
  return "application/octet-stream";
}

StaticFiles::StaticFiles(fs::path root) : root_(std::move(root)) {}

fs::path StaticFiles::DefaultRoot() { return fs::path(AMI_WEB_ROOT); }

bool StaticFiles::Wants(const HttpRequest& request) const {
  return request.method == "GET" && !IsGatewayPath(request.path);
}

HttpResponse StaticFiles::Serve(const HttpRequest& request) const {
  auto segments = SafeSegments(request.path);
  if (!segments) return ErrorResponse(400, "invalid", "path: not a file path the web editor serves");

  const fs::path index = root_ / "index.html";
  fs::path candidate = root_;
  for (const std::string& segment : *segments) candidate /= segment;
  if (segments->empty()) candidate = index;

  std::optional<fs::path> file = FileInside(root_, candidate);
  const bool is_asset = !segments->empty() && (*segments)[0] == "assets";
  if (!file && !is_asset && AcceptsHtml(request)) {
    file = FileInside(root_, index);  // a client-side route: the app decides what it shows
    if (!file) return NotBuilt(root_);
  }
  if (!file) return segments->empty() ? NotBuilt(root_) : NotFound(request.path);

  HttpResponse r;
  const bool immutable = is_asset && segments->size() >= 2;
  r.SetHeader("Cache-Control", std::string(immutable ? kImmutable : kRevalidate));
  r.SetHeader("X-Content-Type-Options", "nosniff");
  const std::string etag = ETagOf(*file);
  r.SetHeader("ETag", etag);
  if (request.Header("if-none-match") == etag) {
    r.status = 304;
    return r;
  }
  if (!ReadWhole(*file, &r.body)) return ErrorResponse(500, "internal", "cannot read " + request.path);
  r.SetHeader("Content-Type", std::string(ContentTypeFor(*file)));
  return r;
}

}  // namespace ami::gateway
