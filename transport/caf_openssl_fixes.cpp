// See caf_openssl_fixes.h for what is fixed and why. The functions below are defined
// with OpenSSL's own names; an executable's definitions come first in the dynamic
// linker's lookup order, so libcaf_openssl's calls arrive here, and the real functions
// are reached through dlsym(RTLD_NEXT).
#include "transport/caf_openssl_fixes.h"

#include <dlfcn.h>
#include <link.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>

#include <cstdint>
#include <cstring>

namespace ami::transport::detail {

void LinkCafOpenSslFixes() {}

namespace {

template <class Fn>
Fn Real(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

// Where libcaf_openssl's loaded segments lie, found once (it is linked, so loaded
// before any call): SSL_get_error is on CAF's hot read path, too hot for dladdr.
struct Range {
  uintptr_t begin = 0, end = 0;
};

int FindCafOpenSsl(dl_phdr_info* info, size_t, void* out) {
  if (!info->dlpi_name || !std::strstr(info->dlpi_name, "libcaf_openssl")) return 0;
  auto* range = static_cast<Range*>(out);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    const uintptr_t b = info->dlpi_addr + ph.p_vaddr, e = b + ph.p_memsz;
    if (range->begin == 0 || b < range->begin) range->begin = b;
    if (e > range->end) range->end = e;
  }
  return 1;
}

// Whether `address` (a return address) lies in libcaf_openssl.
bool FromCafOpenSsl(void* address) {
  static const Range range = [] {
    Range r;
    dl_iterate_phdr(FindCafOpenSsl, &r);
    return r;
  }();
  const auto a = reinterpret_cast<uintptr_t>(address);
  return a >= range.begin && a < range.end;
}

// Per SSL object, in its ex_data slot (freed with it): when its handshake began, in ms
// of the steady clock, negative once it has been failed for taking too long.
int HandshakeSlot() {
  static const int slot = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return slot;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool Expired(const SSL* ssl) {
  return reinterpret_cast<intptr_t>(SSL_get_ex_data(ssl, HandshakeSlot())) < 0;
}

// One step of a handshake CAF drives; `step` is the real SSL_accept or SSL_connect.
int HandshakeStep(SSL* ssl, int (*step)(SSL*)) {
  if (!step) return -1;
  if (SSL_is_init_finished(ssl)) return step(ssl);
  intptr_t began = reinterpret_cast<intptr_t>(SSL_get_ex_data(ssl, HandshakeSlot()));
  if (began < 0) return -1;  // already failed; SSL_get_error says so
  const int64_t now = NowMs();
  if (began == 0) {
    began = static_cast<intptr_t>(now);
    SSL_set_ex_data(ssl, HandshakeSlot(), reinterpret_cast<void*>(began));
  }
  if (now - began > std::chrono::duration_cast<std::chrono::milliseconds>(kHandshakeDeadline).count()) {
    SSL_set_ex_data(ssl, HandshakeSlot(), reinterpret_cast<void*>(intptr_t{-1}));
    return -1;
  }
  // Nothing to read yet: the handshake cannot move. Wait a little for input, so that
  // CAF's write path polls instead of spinning.
  if (const int fd = SSL_get_fd(ssl); fd >= 0 && SSL_pending(ssl) == 0) {
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, 1);
  }
  return step(ssl);
}

}  // namespace
}  // namespace ami::transport::detail

using namespace ami::transport::detail;

extern "C" int SSL_get_error(const SSL* ssl, int ret) {
  static const auto real = Real<int (*)(const SSL*, int)>("SSL_get_error");
  if (!real) return SSL_ERROR_SSL;  // cannot happen while libssl is loaded
  const bool from_caf = FromCafOpenSsl(__builtin_return_address(0));
  if (from_caf && ret <= 0 && Expired(ssl)) {
    ERR_clear_error();
    return SSL_ERROR_SSL;
  }
  const int err = real(ssl, ret);
  if (from_caf && (err == SSL_ERROR_SSL || err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN))
    ERR_clear_error();
  return err;
}

extern "C" int SSL_accept(SSL* ssl) {
  static const auto real = Real<int (*)(SSL*)>("SSL_accept");
  if (!FromCafOpenSsl(__builtin_return_address(0))) return real ? real(ssl) : -1;
  return HandshakeStep(ssl, real);
}

extern "C" int SSL_connect(SSL* ssl) {
  static const auto real = Real<int (*)(SSL*)>("SSL_connect");
  if (!FromCafOpenSsl(__builtin_return_address(0))) return real ? real(ssl) : -1;
  return HandshakeStep(ssl, real);
}
