// The web editor's files (web/, built into build/web/dist; docs/editor.md), served by
// the gateway at `/` from one directory, `http.web_root`.
//
//   - GET of a file under the root answers it with its Content-Type (js, css, html,
//     svg, woff2, ttf, json, map, wasm, …), `X-Content-Type-Options: nosniff`, and an
//     ETag of its size and modification time (If-None-Match → 304).
//   - Caching: Vite names every file under /assets/ after a hash of its content, so they
//     never change: `public, max-age=31536000, immutable`. Everything else (index.html
//     first of all, which names the current hashes) is `no-cache`: revalidated each
//     time, so a new build is picked up at the next page load.
//   - Nothing outside the root is ever read: a path segment "..", ".", empty, or holding
//     a NUL, backslash or bad percent-encoding is refused, and the file found is checked
//     again after resolving symlinks (a link pointing out of the root is 404).
//   - SPA fallback: a GET that accepts text/html for a path that is no file (a client-side
//     route like /workers/<sid>) gets index.html. A missing /assets/ file stays 404: a
//     page asking for a script must never receive HTML instead.
//   - The gateway's own paths (/api/…, /metrics, /ws) are never answered here, so an
//     unknown API route keeps its JSON 404.
//   - When the root holds no index.html (the web app was not built), `/` answers 404
//     with a short page saying how to build it.
//
// The gateway asks it only for requests no route claims (gateway.cpp, kNotFound), so the
// REST API, /metrics, the WebSocket and WebFIX POSTs are untouched by it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "gateway/http_message.h"

namespace ami::gateway {

class StaticFiles {
 public:
  // `root` may not exist yet (the app is built later); it is looked at per request.
  explicit StaticFiles(std::filesystem::path root);

  // The compile-time default root: AMI_WEB_ROOT, the build tree's web/dist.
  static std::filesystem::path DefaultRoot();

  // Whether `request` is one for the web app: GET, outside the gateway's own paths.
  bool Wants(const HttpRequest& request) const;
  // The reply for a request Wants() accepted (200, 304, 400 or 404).
  HttpResponse Serve(const HttpRequest& request) const;

  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
};

// "application/javascript; charset=utf-8" for "x.js", …; "application/octet-stream"
// for an extension it does not know.
std::string_view ContentTypeFor(const std::filesystem::path& file);

}  // namespace ami::gateway
