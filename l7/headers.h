/* Rewriting message heads as they cross the proxy: the request head sent
 * upstream and the response head sent to the client.
 *
 * Each builder makes one pass over the parsed head (views into the
 * connection's buffer) and writes the new head straight into the caller's
 * output buffer: no allocation, nothing kept. What is removed and added:
 *
 *   - hop-by-hop fields (RFC 9110 §7.6.1): Connection, Keep-Alive,
 *     Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade (kept only
 *     when tunnelling), and every field the Connection header names;
 *   - the framing (Content-Length / Transfer-Encoding) is what the engine
 *     says (it re-frames bodies), never what was received;
 *   - the route's header rules (remove/set names drop received fields, then
 *     set and add pairs are appended), and on the request side the
 *     forwarding headers (fwd.c) and the sticky cookie stripped from Cookie
 *     (sticky.c, "indirect");
 *   - Connection: keep-alive / close / upgrade as the engine says.
 *
 * Both return the bytes written (the head ends with the empty line), or
 * -E2BIG when `cap` is too small (the output is then garbage).
 */
#ifndef STRATA_L7_HEADERS_H
#define STRATA_L7_HEADERS_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "addr.h"

#include "http1_parse.h"
#include "l7_config.h"

/* Bytes added to a request head beyond the received fields at most, without
 * the route's own rules: forwarding headers, framing, Connection, request
 * line growth. A buffer of the received head length + this + the route's
 * rules always suffices. */
#define L7_HEAD_EXTRA 2048

/* How the body that follows the head is framed. */
enum l7_framing {
	L7_FRAME_NONE,	      /* no body: neither Content-Length nor Transfer-Encoding */
	L7_FRAME_LENGTH,      /* Content-Length: content_length */
	L7_FRAME_CHUNKED,     /* Transfer-Encoding: chunked */
	L7_FRAME_KEEP_LENGTH, /* responses to HEAD, 304: the received Content-Length as is */
	L7_FRAME__COUNT
};

/* The Connection field to write. */
enum l7_conn_mode {
	L7_CONN_KEEP_ALIVE, /* "Connection: keep-alive" */
	L7_CONN_CLOSE,	    /* "Connection: close" */
	L7_CONN_UPGRADE,    /* "Connection: upgrade" and the received Upgrade field */
	L7_CONN_OMIT,	    /* no Connection field (HTTP/1.1 default: persistent) */
	L7_CONN__COUNT
};

struct l7_req_ctx {
	const struct l7_snapshot *snap;	    /* node name for generated request ids */
	const struct l7_listener *listener; /* required: forwarding switches and trust */
	const struct l7_route *route;	    /* header rules, sticky cookie; NULL: none */
	const struct http1_request *req;
	const struct addr *client; /* the client: PPv2 source (else the socket peer) */
	const struct addr *local; /* what the client connected to (PPv2 destination); may be NULL */
	/* X-Request-Id: a value the engine already made with l7_request_id()
	 * (so its logs print the same), or NULL to have it made here from
	 * unique_id and request_seq. */
	const char *request_id;
	size_t request_id_len;
	const uint8_t *unique_id; /* PPv2 UNIQUE_ID; NULL when absent */
	size_t unique_id_len;
	uint64_t request_seq; /* 1 for the first request of the connection */
	bool https;	      /* X-Forwarded-Proto / Forwarded proto= */
	/* mTLS (tls.client_subject_header): every received field of this
	 * name is dropped, and when subject_len > 0 one field with the
	 * verified subject is added after the forwarding headers */
	const char *subject_name;
	size_t subject_name_len;
	const char *subject;
	size_t subject_len;
	bool keep_expect;	 /* forward Expect (default: dropped, the engine answers 100) */
	enum l7_framing framing; /* NONE, LENGTH or CHUNKED */
	uint64_t content_length;
	enum l7_conn_mode conn;
};

/* Writes the upstream request head: "METHOD origin-form HTTP/1.1", then
 * Host (the received one; for absolute-form targets the target's authority,
 * RFC 9112 §3.2.2; empty when an HTTP/1.0 request had none), the received
 * fields minus the removed ones in their order, the forwarding headers, the
 * route's set and add pairs, framing and Connection. */
int l7_build_upstream_head(uint8_t *out, size_t cap, const struct l7_req_ctx *ctx);

struct l7_resp_ctx {
	const struct l7_route *route; /* response_headers rules; NULL: none */
	const struct http1_response *resp;
	enum l7_framing framing;
	uint64_t content_length;
	enum l7_conn_mode conn;
	/* Non-NULL: the sticky cookie must be (re)set to this server of
	 * route->upstream (sticky.c: Set-Cookie + Cache-Control nocache). */
	const struct l7_server *set_cookie;
};

/* Writes the client response head: "HTTP/1.1 STATUS REASON" (the standard
 * reason when the upstream sent none), the received fields minus hop-by-hop,
 * framing and the route's remove/set names, then the route's set and add
 * pairs, the sticky cookie, framing and Connection. */
int l7_build_client_head(uint8_t *out, size_t cap, const struct l7_resp_ctx *ctx);

/* True when field `name` appears in `rules`' remove or set names
 * (case-insensitive): such received fields are dropped. */
bool l7_hdr_rules_drop(const struct l7_hdr_rules *rules, const char *name, size_t len);

/* --- output helpers shared by the head writers (headers.c, fwd.c,
 * respond.c, sticky.c): append to a bounded buffer; once something does not
 * fit, every later write is dropped and l7_w_done() answers -E2BIG. */
struct l7_wbuf {
	uint8_t *start, *p, *end;
	bool overflow;
};

static inline void l7_w_init(struct l7_wbuf *w, uint8_t *out, size_t cap)
{
	w->start = w->p = out;
	w->end = out + cap;
	w->overflow = false;
}

static inline void l7_w_put(struct l7_wbuf *w, const void *s, size_t n)
{
	if ((size_t)(w->end - w->p) < n) {
		w->overflow = true;
		w->p = w->end;
		return;
	}
	if (n)
		memcpy(w->p, s, n);
	w->p += n;
}

#define l7_w_lit(w, lit) l7_w_put((w), (lit), sizeof(lit) - 1)

static inline void l7_w_byte(struct l7_wbuf *w, uint8_t c)
{
	if (w->p == w->end) {
		w->overflow = true;
		return;
	}
	*w->p++ = c;
}

/* Decimal, no leading zeros. */
static inline void l7_w_u64(struct l7_wbuf *w, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	l7_w_put(w, tmp + sizeof(tmp) - n, n);
}

/* "Name: value\r\n" */
static inline void l7_w_field(struct l7_wbuf *w, const char *name, size_t nlen, const char *value,
			      size_t vlen)
{
	l7_w_put(w, name, nlen);
	l7_w_lit(w, ": ");
	l7_w_put(w, value, vlen);
	l7_w_lit(w, "\r\n");
}

/* ASCII case-insensitive equality of two n-byte field names (RFC 9110
 * §5.1), inline because every received field is compared a few times. */
static inline bool l7_name_eq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		if (x != y && ((x | 0x20) != (y | 0x20) || (unsigned)((x | 0x20) - 'a') > 25))
			return false;
	}
	return true;
}

static inline int l7_w_done(const struct l7_wbuf *w)
{
	return w->overflow ? -E2BIG : (int)(w->p - w->start);
}

#endif
