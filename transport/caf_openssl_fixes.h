// Fixes for two defects of CAF 0.17's OpenSSL module (libcaf_openssl), made by
// interposing three OpenSSL functions for calls that come from that library. Every
// process that uses transport/caf_tls.h links them (UseTls references this file).
//
// 1. Stale error queue. CAF drains OpenSSL's per-thread error queue after a failed TLS
//    call only inside a log statement, which Debian's build compiles out. The next
//    SSL_get_error() on the multiplexer thread — for any other connection's routine
//    "want read" — then says SSL_ERROR_SSL and CAF drops that healthy connection: one
//    stranger's failed handshake would cut every operator and peer. Fix: when
//    SSL_get_error() reports a failure to CAF, the queue is emptied.
// 2. Handshake spin. While a TLS handshake waits for the other side, CAF's write path
//    calls SSL_accept/SSL_connect, gets "want read", reports 0 bytes written and stays
//    registered for writing, so the multiplexer spins a whole core for as long as the
//    other side stays silent — forever, for a stranger who connects and sends nothing.
//    Fix: such a call first waits up to 1 ms for input (the spin becomes a slow poll),
//    and a handshake not finished kHandshakeDeadline after it began fails, so CAF closes
//    the connection.
// Calls from any other library (libcurl, tests) reach OpenSSL unchanged.
#pragma once

#include <chrono>

namespace ami::transport::detail {

inline constexpr std::chrono::seconds kHandshakeDeadline{5};

// Does nothing; referencing it keeps this file's interposed functions in the link.
void LinkCafOpenSslFixes();

}  // namespace ami::transport::detail
