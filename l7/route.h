/* Per-request route selection: the first route of the snapshot whose every
 * condition holds (docs/l7-config.md "routes").
 *
 * Everything a route needs is precomputed in the snapshot (lowercased host
 * patterns, method bitmask, compiled regex), so a match allocates nothing
 * except, once per thread, the PCRE2 match data the first regex route needs
 * (l7_route_thread_exit() frees it). Paths, cookies and query parameters are
 * compared on the request's own bytes (views into the connection buffer).
 */
#ifndef STRATA_L7_ROUTE_H
#define STRATA_L7_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "addr.h"

#include "http1_parse.h"
#include "l7_config.h"

/* What the engine knows about the request besides its head. */
struct l7_match_ctx {
	/* The host, chosen per RFC 9112 §3.2.2 (absolute-form authority, else
	 * Host; req->host), normalised by l7_host_normalize(): lowercase, no
	 * port, no trailing dot. len 0 when the request has none (HTTP/1.0). */
	const char *host;
	size_t host_len;
	const struct addr *client; /* the client (PPv2 source); NULL: unknown */
};

/* Writes the match form of a host (req->host) into out: ASCII lowercased,
 * ":port" and one trailing dot removed ("Example.COM.:8080" -> "example.com",
 * "[::1]:80" -> "[::1]"). Returns the length, or 0 when the host is empty or
 * longer than L7_HOST_MAX (such a host matches no host pattern). */
size_t l7_host_normalize(const char *host, size_t len, char out[L7_HOST_MAX + 1]);

/* The first route of `snap` (in config order) matching `req` on listener
 * `lst`, or NULL when none matches (the engine answers 404). A route without
 * conditions matches everything. lst may be NULL (a test, a health probe):
 * routes restricted with match.listeners then never match. Thread-safe. */
const struct l7_route *l7_route_match(const struct l7_snapshot *snap, const struct l7_listener *lst,
				      const struct http1_request *req,
				      const struct l7_match_ctx *ctx);

/* True when `route` alone matches (the same test l7_route_match runs). */
bool l7_route_matches(const struct l7_snapshot *snap, const struct l7_route *route,
		      const struct l7_listener *lst, const struct http1_request *req,
		      const struct l7_match_ctx *ctx);

/* True when a host pattern matches a normalised host. */
bool l7_host_pat_match(const struct l7_host_pat *p, const char *host, size_t len);

/* Frees this thread's regex match data (call when a worker thread ends;
 * harmless when it never matched a regex). */
void l7_route_thread_exit(void);

#endif
