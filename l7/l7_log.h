/* The access log of strata-l7: one JSON line per exchange (alog.h), written
 * by the worker that ran it. Fields (docs/operations.md "strata-l7"):
 * ts, conn, uid, client, proto, tls and sni (TLS listeners), method, host,
 * path, status, bytes_in, bytes_out,
 * route, upstream, server, tries, upstream_us, total_us, term, request_id.
 */
#ifndef STRATA_L7_LOG_H
#define STRATA_L7_LOG_H

struct l7_exchange;

/* Writes the exchange's line (once; a no-op when the log is off). */
void l7_log_exchange(struct l7_exchange *x);

#endif
