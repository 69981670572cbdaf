/* What the header fields of a parsed request mean for strata-echo: message
 * body framing (RFC 9112 §6), persistence (RFC 9112 §9.3), Expect (RFC 9110
 * §10.1.1) and Upgrade (RFC 9110 §7.8).
 *
 * Pure: reads a struct echo_http_req, fills a struct echo_http_info whose
 * spans point into the same buffer as the request's.
 */
#ifndef STRATA_ECHO_HTTP_FIELDS_H
#define STRATA_ECHO_HTTP_FIELDS_H

#include <stdbool.h>
#include <stdint.h>

#include "echo_http.h"

struct echo_http_info {
	bool keep_alive;	       /* the connection persists after the response */
	bool chunked;		       /* Transfer-Encoding: chunked */
	bool expect_continue;	       /* Expect: 100-continue on HTTP/1.1 */
	bool conn_upgrade;	       /* "upgrade" listed in Connection */
	uint64_t content_length;       /* 0 when absent or chunked */
	struct echo_span upgrade;      /* first Upgrade value; len 0 when absent */
	struct echo_span ws_key;       /* Sec-WebSocket-Key */
	struct echo_span ws_version;   /* Sec-WebSocket-Version */
	struct echo_span content_type; /* Content-Type */
};

/* Fills *info from req. Returns 0, or -EBADMSG with *why when the framing
 * cannot be trusted (bad or conflicting Content-Length, Transfer-Encoding
 * with Content-Length or on HTTP/1.0, a coding other than a final chunked)
 * or the expectation is unknown. */
int echo_http_fields_analyze(const struct echo_http_req *req, struct echo_http_info *info,
			     enum echo_http_why *why);

static inline bool echo_http_has_body(const struct echo_http_info *info)
{
	return info->chunked || info->content_length > 0;
}

/* Takes the next element of a comma-separated list (RFC 9110 §5.6.1) off the
 * front of *list into *item, OWS trimmed, empty elements skipped. Returns
 * false when the list is exhausted. */
bool echo_http_list_next(struct echo_span *list, struct echo_span *item);

/* True when the list value holds `token` (case-insensitive). */
bool echo_http_list_has(struct echo_span value, const char *token);

#endif
