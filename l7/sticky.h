/* Sticky sessions by an inserted cookie (HAProxy's `cookie NAME insert
 * indirect nocache`) and the key balance = hash picks by.
 *
 * The cookie's value is the chosen server's name. "indirect": the cookie is
 * the proxy's own, so it is stripped from the Cookie header before the
 * request goes upstream (headers.c calls l7_cookie_strip()), and it is set
 * only when the server chosen differs from the one it named. "nocache":
 * a response that sets it also says Cache-Control: no-cache="set-cookie",
 * so a shared cache never hands one client's server to everyone.
 *
 * Cookie parsing follows RFC 6265 §4.2.1 (cookie-pair *( ";" SP cookie-pair
 * )), leniently: OWS around pairs is skipped, every Cookie field line is
 * searched, a DQUOTE'd value is returned without its quotes. Views only;
 * nothing is allocated.
 */
#ifndef STRATA_L7_STICKY_H
#define STRATA_L7_STICKY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#include "http1_parse.h"
#include "l7_config.h"

/* Longest "Set-Cookie: ...\r\nCache-Control: ...\r\n" l7_sticky_set_cookie()
 * writes: the name and value are at most L7_NAME_MAX each. */
#define L7_STICKY_HDR_MAX (80 + 2 * L7_NAME_MAX)

/* Finds cookie `name` (case-sensitive, RFC 6265 §5.4) in the request's
 * Cookie fields; true and *value (a view into the request) when present.
 * The first occurrence wins. */
bool l7_cookie_find(const struct http1_request *req, const char *name, size_t name_len,
		    struct http1_view *value);

/* The same within one Cookie field value. */
bool l7_cookie_find_in(const char *s, size_t len, const char *name, size_t name_len,
		       struct http1_view *value);

/* Writes the Cookie value `s` without every pair named `name` (pairs joined
 * by "; "). Returns the length written (0: nothing left, drop the field), or
 * -E2BIG. out may not overlap s. */
int l7_cookie_strip(char *out, size_t cap, const char *s, size_t len, const char *name,
		    size_t name_len);

/* The server the request's sticky cookie names, or NULL (no sticky cookie
 * configured, no cookie, or a name no server of `up` has). */
const struct l7_server *l7_sticky_server(const struct l7_upstream *up,
					 const struct http1_request *req);

/* True when a response must set the cookie: stickiness is on and the chosen
 * server differs from the one the request named (`named`, may be NULL). */
bool l7_sticky_must_set(const struct l7_upstream *up, const struct l7_server *named,
			const struct l7_server *chosen);

/* Writes "Set-Cookie: NAME=SERVER; Path=/\r\n" and
 * "Cache-Control: no-cache=\"set-cookie\"\r\n". Returns the length or -E2BIG. */
int l7_sticky_set_cookie(uint8_t *out, size_t cap, const struct l7_upstream *up,
			 const struct l7_server *srv);

/* The bytes balance = hash hashes for this request. */
struct l7_hash_key_view {
	const uint8_t *ptr; /* into req (header, cookie) or into buf (client ip) */
	size_t len;
	enum l7_hash_key kind; /* what was used: a missing header/cookie falls back
				* to L7_HASH_CLIENT_IP */
	uint8_t buf[16];
};

/* Extracts the hash key: for client_ip the address bytes (4 or 16, v4-mapped
 * as IPv4; len 0 for addresses without an IP), for header:NAME the first
 * field's value, for cookie:NAME the cookie's value. */
void l7_hash_key(const struct l7_upstream *up, const struct http1_request *req,
		 const struct addr *client, struct l7_hash_key_view *out);

/* The key_hash to hand balance_pick(): balance_key_addr() of the client for
 * client_ip (so it agrees with strata-l4's hashing), balance_key_bytes() of
 * the header or cookie value. */
uint64_t l7_hash_request(const struct l7_upstream *up, const struct http1_request *req,
			 const struct addr *client);

#endif
