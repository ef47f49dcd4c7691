// The REST client (net/http_client.h) on libcurl's easy interface.
//
// Connection reuse across threads: every easy handle joins one CURLSH that shares the
// connection cache, the DNS cache and TLS sessions (each guarded by its own mutex, as
// curl's share interface asks). A connection finished by one call is therefore picked up
// by the next call on any thread. Easy handles themselves are pooled only to avoid
// re-allocating them.
//
// Whether a request "may have reached" the server is decided by CURLOPT_PREREQFUNCTION,
// which curl calls once a connection is established (TLS included) or reused, right
// before it writes the request: no call, nothing was sent.
#include "ami/plugin/net/http_client.h"

#include <algorithm>
#include <atomic>
#include <mutex>

#include <curl/curl.h>

namespace ami::plugin::net {

namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool HasHeader(const HeaderList& headers, std::string_view name) {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& h) { return EqualsIgnoreCase(h.first, name); });
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                           text.back() == '\n'))
    text.remove_suffix(1);
  return text;
}

// "host[:port]/path" of a URL, for error messages: no scheme, credentials or query (a
// signed query carries the signature and sometimes the key).
std::string HostAndPath(std::string_view url) {
  if (const auto scheme = url.find("://"); scheme != std::string_view::npos)
    url.remove_prefix(scheme + 3);
  url = url.substr(0, url.find_first_of("?#"));
  const auto slash = url.find('/');
  if (const auto at = url.substr(0, slash).rfind('@'); at != std::string_view::npos)
    url.remove_prefix(at + 1);
  return std::string(url);
}

// What one transfer collects through curl's callbacks.
struct Transfer {
  HttpResponse* response;
  std::size_t max_body;
  bool too_large = false;
  bool reached_request = false;
};

std::size_t OnBody(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  if (t->response->body.size() + bytes > t->max_body) {
    t->too_large = true;
    return 0;  // curl stops with CURLE_WRITE_ERROR
  }
  t->response->body.append(data, bytes);
  return bytes;
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  const std::string_view line = Trim(std::string_view(data, bytes));
  if (line.rfind("HTTP/", 0) == 0) {
    t->response->headers.clear();  // a new status line (after 1xx): its headers only
  } else if (const auto colon = line.find(':'); colon != std::string_view::npos && colon > 0) {
    t->response->headers.emplace_back(std::string(Trim(line.substr(0, colon))),
                                      std::string(Trim(line.substr(colon + 1))));
  }
  return bytes;
}

int OnPrereq(void* user, char*, char*, int, int) {
  static_cast<Transfer*>(user)->reached_request = true;
  return CURL_PREREQFUNC_OK;
}

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (EqualsIgnoreCase(key, name)) return value;
  return "";
}

struct HttpClient::Impl {
  HttpClientOptions options;
  CURLSH* share = nullptr;
  std::mutex share_locks[CURL_LOCK_DATA_LAST];
  std::mutex pool_mu;
  std::vector<CURL*> idle;
  std::atomic<std::uint64_t> connections{0};

  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<Impl*>(user)->share_locks[data].lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* user) {
    static_cast<Impl*>(user)->share_locks[data].unlock();
  }

  CURL* TakeHandle() {
    {
      std::lock_guard lock(pool_mu);
      if (!idle.empty()) {
        CURL* handle = idle.back();
        idle.pop_back();
        return handle;
      }
    }
    return curl_easy_init();
  }

  void ReturnHandle(CURL* handle) {
    curl_easy_reset(handle);
    {
      std::lock_guard lock(pool_mu);
      if (static_cast<int>(idle.size()) < options.max_idle_handles) {
        idle.push_back(handle);
        return;
      }
    }
    curl_easy_cleanup(handle);
  }
};

HttpClient::HttpClient(HttpClientOptions options) : impl_(std::make_unique<Impl>()) {
  GlobalInitOnce();
  impl_->options = std::move(options);
  impl_->share = curl_share_init();
  if (impl_->share) {
    curl_share_setopt(impl_->share, CURLSHOPT_LOCKFUNC, &Impl::Lock);
    curl_share_setopt(impl_->share, CURLSHOPT_UNLOCKFUNC, &Impl::Unlock);
    curl_share_setopt(impl_->share, CURLSHOPT_USERDATA, impl_.get());
    curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
}

HttpClient::~HttpClient() {
  // Easy handles first: a share still used by a handle cannot be cleaned up.
  for (CURL* handle : impl_->idle) curl_easy_cleanup(handle);
  impl_->idle.clear();
  if (impl_->share) curl_share_cleanup(impl_->share);
}

std::uint64_t HttpClient::connections_opened() const { return impl_->connections.load(); }

HttpResponse HttpClient::Perform(const HttpRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  HttpResponse response;
  const std::string where = HostAndPath(request.url);
  auto fail = [&](std::string error_class, std::string what, bool sent) {
    response.status = 0;
    response.error_class = std::move(error_class);
    response.error = what + " (" + where + ")";
    response.sent = sent;
    response.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started);
    return response;
  };
  const HttpClientOptions& options = impl_->options;
  CURL* handle = impl_->TakeHandle();
  if (!handle || !impl_->share) return fail("ExchangeNotAvailable", "curl could not be initialised", false);

  Transfer transfer{&response, options.max_response_bytes};
  char error_buffer[CURL_ERROR_SIZE] = {0};
  const long timeout_ms = std::max<long>(1, static_cast<long>(request.timeout.count()));
  const long connect_ms = std::min<long>(timeout_ms, static_cast<long>(options.connect_timeout.count()));

  curl_easy_setopt(handle, CURLOPT_SHARE, impl_->share);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for DNS timeouts: threads
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str());
  // HTTP/1.1: connections are shared between threads one request at a time; an HTTP/2
  // connection shared through CURLSH would need the multi interface to multiplex.
  curl_easy_setopt(handle, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
  curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(handle, CURLOPT_MAXCONNECTS, static_cast<long>(options.max_connections));
  curl_easy_setopt(handle, CURLOPT_ACCEPT_ENCODING, "");  // whatever curl can decode
  curl_easy_setopt(handle, CURLOPT_USERAGENT, options.user_agent.c_str());
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, options.verify_tls ? 1L : 0L);
  curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, options.verify_tls ? 2L : 0L);
  if (!options.ca_file.empty()) curl_easy_setopt(handle, CURLOPT_CAINFO, options.ca_file.c_str());
  if (!options.proxy.empty()) curl_easy_setopt(handle, CURLOPT_PROXY, options.proxy.c_str());
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(handle, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(handle, CURLOPT_PREREQFUNCTION, &OnPrereq);
  curl_easy_setopt(handle, CURLOPT_PREREQDATA, &transfer);

  const bool has_body = !request.body.empty() || request.method == "POST";
  if (request.method == "GET" && !has_body) {
    curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
  } else {
    if (request.method == "POST") curl_easy_setopt(handle, CURLOPT_POST, 1L);
    else curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (has_body) {
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.data());
  }

  // The caller's headers in order. "Name;" is curl's way to send an empty value; "Name:"
  // removes a header curl would add on its own (its form Content-Type, Expect).
  curl_slist* header_list = nullptr;
  for (const auto& [name, value] : request.headers)
    header_list = curl_slist_append(header_list,
                                    (value.empty() ? name + ";" : name + ": " + value).c_str());
  if (has_body && !HasHeader(request.headers, "Content-Type"))
    header_list = curl_slist_append(header_list, "Content-Type:");
  if (!HasHeader(request.headers, "Expect"))
    header_list = curl_slist_append(header_list, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, header_list);

  const CURLcode code = curl_easy_perform(handle);

  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  long new_connections = 0;
  curl_easy_getinfo(handle, CURLINFO_NUM_CONNECTS, &new_connections);
  impl_->connections += static_cast<std::uint64_t>(std::max(0L, new_connections));
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, nullptr);
  impl_->ReturnHandle(handle);
  curl_slist_free_all(header_list);

  if (code == CURLE_OK) {
    response.status = static_cast<int>(status);
    response.sent = true;
    response.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started);
    return response;
  }
  response.headers.clear();
  response.body.clear();
  const std::string what = error_buffer[0] ? error_buffer : curl_easy_strerror(code);
  if (transfer.too_large)
    return fail("BadResponse",
                "response body larger than " + std::to_string(options.max_response_bytes) + " bytes",
                true);
  if (!transfer.reached_request) {
    // Nothing left this host. A URL curl cannot use is the connector's mistake, not the
    // exchange's unavailability.
    if (code == CURLE_URL_MALFORMAT || code == CURLE_UNSUPPORTED_PROTOCOL)
      return fail("BadRequest", what, false);
    return fail("ExchangeNotAvailable", what, false);
  }
  if (code == CURLE_OPERATION_TIMEDOUT) return fail("RequestTimeout", what, true);
  return fail("NetworkError", what, true);
}

}  // namespace ami::plugin::net
