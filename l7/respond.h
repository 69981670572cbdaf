/* Responses strata-l7 writes itself: its errors (400, 404, 413, 431, 502,
 * 503, 504, ... each with a short text body), a route's fixed response, a
 * route's redirect, 100 Continue and the local health answer.
 *
 * Every writer produces a complete HTTP/1.1 response (head and body) into
 * the caller's buffer and returns its length, or -E2BIG when cap is too
 * small. No allocation. `close` chooses "Connection: close" (the engine
 * closes after sending) or "Connection: keep-alive".
 */
#ifndef STRATA_L7_RESPOND_H
#define STRATA_L7_RESPOND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http1_parse.h"
#include "l7_config.h"

/* Big enough for any error response and for the health answer. */
#define L7_RESPOND_ERROR_MAX 512

/* Standard reason phrase (RFC 9110 §15) for a status, "Unknown" otherwise. */
const char *l7_status_reason(int status);

/* An error response: status line, Content-Type: text/plain, Content-Length,
 * Cache-Control: no-store, Connection, and a one-line body: `reason` (a
 * short fixed text chosen by the engine, never request bytes; at most 200
 * bytes are used) or the reason phrase when NULL, then "\n". 100 <= status
 * <= 599, else -EINVAL. */
int l7_respond_error(uint8_t *out, size_t cap, int status, const char *reason, bool close);

/* A route's fixed response (L7_ACT_RESPOND): its status, Content-Type and
 * body, then the route's response_headers set/add pairs. head_only (a HEAD
 * request): the same head, no body. */
int l7_respond_fixed(uint8_t *out, size_t cap, const struct l7_route *route, bool head_only,
		     bool close);

/* A route's redirect (L7_ACT_REDIRECT): Location is the template with $path
 * (request path, no query), $query (without '?'), $uri ($path plus "?query"
 * when the request had one) and $host (ctx host: lowercase, no port) put in,
 * a short body naming the location, then response_headers set/add pairs. */
int l7_respond_redirect(uint8_t *out, size_t cap, const struct l7_route *route,
			const struct http1_request *req, const char *host, size_t host_len,
			bool head_only, bool close);

/* Expands just the Location of a redirect route into out (no NUL); returns
 * its length or -E2BIG. */
int l7_redirect_location(char *out, size_t cap, const struct l7_route *route,
			 const struct http1_request *req, const char *host, size_t host_len);

/* "HTTP/1.1 100 Continue\r\n\r\n". */
int l7_respond_continue(uint8_t *out, size_t cap);

/* The answer to the listener's health path on a PPv2 LOCAL connection:
 * 200, text/plain, body "ok\n" (no body when head_only). */
int l7_respond_health(uint8_t *out, size_t cap, bool head_only, bool close);

#endif
