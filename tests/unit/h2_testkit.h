/* Test kit for the HTTP/2 module: a real nghttp2 client session, a stub
 * engine behind struct l7_h2 (records requests, answers on demand,
 * consumes bodies on demand), a pump between the two, and raw frames
 * (HPACK-encoded HEADERS, anything else byte by byte) with a scanner for
 * what the server sent back. A fake clock drives the time windows.
 * Header-only (static inline) so unit tests and fuzzers include it alone.
 */
#ifndef STRATA_TEST_H2_TESTKIT_H
#define STRATA_TEST_H2_TESTKIT_H

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../l7/h2.h"

#define HK_MAX 512

/* --- the stub engine ------------------------------------------------------------ */

struct hk_engine {
	struct l7_h2 *h2;
	uint64_t now;
	struct l7_h2_stream *st[HK_MAX]; /* by arrival; NULL once closed */
	int32_t ids[HK_MAX];
	uint32_t close_code[HK_MAX];
	bool closed[HK_MAX];
	int n;
	int bodies;	       /* on_body calls */
	int rooms;	       /* on_room calls */
	bool auto_consume;     /* consume request bodies as they come */
	const char *auto_head; /* respond with this head (and auto_body) at once */
	const char *auto_body;
	size_t max_held;     /* most request body bytes held by one stream */
	char last_req[4096]; /* the last request view, as text */
};

static inline uint64_t hk_now(void *ctx)
{
	return ((struct hk_engine *)ctx)->now;
}

static inline int hk_index(struct hk_engine *e, const struct l7_h2_stream *st)
{
	for (int i = 0; i < e->n; i++) {
		if (e->st[i] == st)
			return i;
	}
	return -1;
}

/* The request view as one line: method, target, host, path, query, body
 * mode, then every field. */
static inline void hk_describe(const struct http1_request *r, char *o, size_t cap)
{
	int n = snprintf(o, cap, "%.*s %.*s host=%.*s path=%.*s query=%.*s body=%u cl=%llu",
			 (int)r->method.len, r->method.ptr, (int)r->target.len, r->target.ptr,
			 (int)r->host.len, r->host.ptr, (int)r->path.len, r->path.ptr,
			 (int)r->query.len, r->query.ptr, r->h.body,
			 (unsigned long long)r->h.content_length);

	for (unsigned i = 0; i < r->h.nheaders && n > 0 && (size_t)n < cap; i++)
		n += snprintf(o + n, cap - (size_t)n, " | %.*s: %.*s",
			      (int)r->h.headers[i].name.len, r->h.headers[i].name.ptr,
			      (int)r->h.headers[i].value.len, r->h.headers[i].value.ptr);
}

static inline void hk_on_request(void *ctx, struct l7_h2_stream *st)
{
	struct hk_engine *e = ctx;

	if (e->n < HK_MAX) {
		e->st[e->n] = st;
		e->ids[e->n] = st->id;
		e->n++;
	}
	hk_describe(&st->req, e->last_req, sizeof(e->last_req));
	if (e->auto_head) {
		bool body = e->auto_body && *e->auto_body;

		l7_h2_respond_head(st, (const uint8_t *)e->auto_head, strlen(e->auto_head), !body);
		if (body)
			l7_h2_respond_body(st, e->auto_body, strlen(e->auto_body), true);
	}
}

static inline void hk_on_body(void *ctx, struct l7_h2_stream *st)
{
	struct hk_engine *e = ctx;

	e->bodies++;
	if (l7_h2_body_bytes(st) > e->max_held)
		e->max_held = l7_h2_body_bytes(st);
	if (e->auto_consume)
		l7_h2_body_consume(st, l7_h2_body_bytes(st));
}

static inline void hk_on_room(void *ctx, struct l7_h2_stream *st)
{
	((struct hk_engine *)ctx)->rooms++;
}

static inline void hk_on_close(void *ctx, struct l7_h2_stream *st, uint32_t code)
{
	struct hk_engine *e = ctx;
	int i = hk_index(e, st);

	if (i >= 0) {
		e->st[i] = NULL;
		e->closed[i] = true;
		e->close_code[i] = code;
	}
}

static const struct l7_h2_ops hk_ops = {
    .on_request = hk_on_request,
    .on_body = hk_on_body,
    .on_room = hk_on_room,
    .on_close = hk_on_close,
    .now_ms = hk_now,
};

static inline void hk_engine_start(struct hk_engine *e, const struct l7_h2_conf *conf)
{
	memset(e, 0, sizeof(*e));
	e->now = 1000000;
	e->h2 = l7_h2_new(conf, &hk_ops, e, 42);
	if (!e->h2)
		abort();
}

/* The engine's stream for client stream `id`, or NULL. */
static inline struct l7_h2_stream *hk_stream(struct hk_engine *e, int32_t id)
{
	for (int i = 0; i < e->n; i++) {
		if (e->ids[i] == id)
			return e->st[i];
	}
	return NULL;
}

/* --- the nghttp2 client ---------------------------------------------------------- */

struct hk_resp {
	int32_t id;
	int status;
	char fields[2048]; /* "name: value\n" ... */
	size_t flen;
	uint8_t *body;
	size_t blen, bcap;
	bool closed;
	uint32_t code;
};

struct hk_client {
	nghttp2_session *s;
	struct hk_resp r[HK_MAX];
	int n;
	int goaways;
	int32_t goaway_last;
	uint32_t goaway_code;
	int settings_seen;
	uint32_t peer_max_streams;
	/* request body source */
	const uint8_t *src;
	size_t src_len, src_off;
};

static inline struct hk_resp *hk_resp(struct hk_client *c, int32_t id)
{
	for (int i = 0; i < c->n; i++) {
		if (c->r[i].id == id)
			return &c->r[i];
	}
	if (c->n == HK_MAX)
		abort();
	c->r[c->n].id = id;
	return &c->r[c->n++];
}

static inline int hk_c_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
			      size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags,
			      void *u)
{
	struct hk_resp *r = hk_resp(u, f->hd.stream_id);

	if (nlen == 7 && !memcmp(name, ":status", 7))
		r->status = atoi((const char *)value);
	else if (r->flen + nlen + vlen + 4 < sizeof(r->fields))
		r->flen += (size_t)snprintf(r->fields + r->flen, sizeof(r->fields) - r->flen,
					    "%.*s: %.*s\n", (int)nlen, name, (int)vlen, value);
	return 0;
}

static inline int hk_c_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d,
			    size_t len, void *u)
{
	struct hk_resp *r = hk_resp(u, id);

	if (r->blen + len > r->bcap) {
		r->bcap = (r->blen + len) * 2;
		r->body = realloc(r->body, r->bcap);
	}
	memcpy(r->body + r->blen, d, len);
	r->blen += len;
	return 0;
}

static inline int hk_c_close(nghttp2_session *s, int32_t id, uint32_t code, void *u)
{
	struct hk_resp *r = hk_resp(u, id);

	r->closed = true;
	r->code = code;
	return 0;
}

static inline int hk_c_frame(nghttp2_session *s, const nghttp2_frame *f, void *u)
{
	struct hk_client *c = u;

	if (f->hd.type == NGHTTP2_GOAWAY) {
		c->goaways++;
		c->goaway_last = f->goaway.last_stream_id;
		c->goaway_code = f->goaway.error_code;
	} else if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK)) {
		c->settings_seen++;
		for (size_t i = 0; i < f->settings.niv; i++) {
			if (f->settings.iv[i].settings_id ==
			    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)
				c->peer_max_streams = f->settings.iv[i].value;
		}
	}
	return 0;
}

/* window: the client's SETTINGS_INITIAL_WINDOW_SIZE (0 keeps the default). */
static inline void hk_client_start(struct hk_client *c, uint32_t window)
{
	nghttp2_session_callbacks *cb;
	nghttp2_settings_entry iv[1] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window}};

	memset(c, 0, sizeof(*c));
	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, hk_c_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, hk_c_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, hk_c_close);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, hk_c_frame);
	if (nghttp2_session_client_new(&c->s, cb, c))
		abort();
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, window ? 1 : 0);
}

static inline void hk_client_free(struct hk_client *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->r[i].body);
	nghttp2_session_del(c->s);
}

#define HK_NV(n, v)                                                                                \
	{                                                                                          \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE     \
	}

static inline ssize_t hk_c_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
				uint32_t *flags, nghttp2_data_source *src, void *u)
{
	struct hk_client *c = u;
	size_t n = c->src_len - c->src_off;

	if (n > len)
		n = len;
	memcpy(buf, c->src + c->src_off, n);
	c->src_off += n;
	if (c->src_off == c->src_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* A request; body (may be NULL) is sent from memory the caller keeps. */
static inline int32_t hk_request(struct hk_client *c, const nghttp2_nv *nva, size_t n,
				 const void *body, size_t blen)
{
	nghttp2_data_provider prd = {.read_callback = hk_c_read};

	c->src = body;
	c->src_len = blen;
	c->src_off = 0;
	return nghttp2_submit_request(c->s, NULL, nva, n, body ? &prd : NULL, NULL);
}

/* Moves bytes both ways until neither side has anything; the server's
 * output is taken at most `out_cap` bytes per round (0: all). Returns the
 * last l7_h2_recv result (or 0). */
static inline ssize_t hk_pump(struct hk_client *c, struct hk_engine *e, size_t out_cap)
{
	ssize_t last = 0;

	for (int round = 0; round < 10000; round++) {
		bool moved = false;
		const uint8_t *p;
		ssize_t n;

		while ((n = nghttp2_session_mem_send(c->s, &p)) > 0) {
			last = l7_h2_recv(e->h2, p, (size_t)n);
			moved = true;
			if (last < 0)
				break;
		}
		struct iovec iov[64];
		unsigned k = l7_h2_out_iov(e->h2, iov, 64);
		size_t taken = 0;

		for (unsigned i = 0; i < k; i++) {
			size_t len = iov[i].iov_len;

			if (out_cap && taken + len > out_cap)
				len = out_cap - taken;
			if (!len)
				break;
			nghttp2_session_mem_recv(c->s, iov[i].iov_base, len);
			taken += len;
		}
		if (taken) {
			l7_h2_out_consume(e->h2, taken);
			moved = true;
		}
		if (!moved)
			break;
	}
	return last;
}

/* --- raw frames -------------------------------------------------------------------- */

struct hk_raw {
	uint8_t *b;
	size_t len, cap;
	nghttp2_hd_deflater *hd;
};

static inline void hk_raw_init(struct hk_raw *r)
{
	memset(r, 0, sizeof(*r));
	nghttp2_hd_deflate_new(&r->hd, 4096);
}

static inline void hk_raw_free(struct hk_raw *r)
{
	free(r->b);
	nghttp2_hd_deflate_del(r->hd);
}

static inline void hk_raw_put(struct hk_raw *r, const void *p, size_t n)
{
	if (r->len + n > r->cap) {
		r->cap = (r->len + n) * 2 + 64;
		r->b = realloc(r->b, r->cap);
	}
	memcpy(r->b + r->len, p, n);
	r->len += n;
}

static inline void hk_raw_frame(struct hk_raw *r, uint8_t type, uint8_t flags, int32_t sid,
				const void *payload, size_t n)
{
	uint8_t h[9] = {
	    (uint8_t)(n >> 16),	  (uint8_t)(n >> 8),	(uint8_t)n,	     type,	  flags,
	    (uint8_t)(sid >> 24), (uint8_t)(sid >> 16), (uint8_t)(sid >> 8), (uint8_t)sid};

	hk_raw_put(r, h, 9);
	if (n)
		hk_raw_put(r, payload, n);
}

/* Preface + empty SETTINGS + SETTINGS ACK: a connection that accepted
 * whatever the server announced. */
static inline void hk_raw_preface(struct hk_raw *r)
{
	hk_raw_put(r, L7_H2_PREFACE, L7_H2_PREFACE_LEN);
	hk_raw_frame(r, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
	hk_raw_frame(r, NGHTTP2_SETTINGS, NGHTTP2_FLAG_ACK, 0, NULL, 0);
}

/* A GET for `path` on stream sid; flags add END_STREAM/END_HEADERS. */
static inline void hk_raw_get(struct hk_raw *r, int32_t sid, const char *path, uint8_t flags)
{
	nghttp2_nv nva[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
			    HK_NV(":authority", "example.com"), HK_NV(":path", path)};
	uint8_t block[1024];
	ssize_t n = nghttp2_hd_deflate_hd(r->hd, block, sizeof(block), nva, 4);

	hk_raw_frame(r, NGHTTP2_HEADERS, flags, sid, block, (size_t)n);
}

static inline void hk_raw_rst(struct hk_raw *r, int32_t sid, uint32_t code)
{
	uint8_t p[4] = {(uint8_t)(code >> 24), (uint8_t)(code >> 16), (uint8_t)(code >> 8),
			(uint8_t)code};

	hk_raw_frame(r, NGHTTP2_RST_STREAM, 0, sid, p, 4);
}

/* Feeds r's bytes to the server; returns l7_h2_recv's result. */
static inline ssize_t hk_raw_send(struct hk_raw *r, struct hk_engine *e)
{
	ssize_t n = l7_h2_recv(e->h2, r->b, r->len);

	r->len = 0;
	return n;
}

/* What the server sent, frame by frame. */
struct hk_seen {
	int frames[16]; /* per type */
	int rst;
	uint32_t rst_code[HK_MAX];
	int32_t rst_id[HK_MAX];
	int goaway;
	uint32_t goaway_code;
	int32_t goaway_last[8];
	int headers;
	size_t data_bytes;
};

/* Drains the server's output and scans it (after the first call the
 * connection preface is gone, so frames start at 0). */
static inline void hk_scan(struct hk_engine *e, struct hk_seen *s)
{
	static uint8_t buf[1 << 20];
	size_t len = 0, off = 0;
	struct iovec iov[64];
	unsigned k;

	while ((k = l7_h2_out_iov(e->h2, iov, 64)) > 0) {
		size_t taken = 0;

		for (unsigned i = 0; i < k; i++) {
			if (len + iov[i].iov_len > sizeof(buf))
				abort();
			memcpy(buf + len, iov[i].iov_base, iov[i].iov_len);
			len += iov[i].iov_len;
			taken += iov[i].iov_len;
		}
		l7_h2_out_consume(e->h2, taken);
	}
	while (off + 9 <= len) {
		uint32_t flen =
		    (uint32_t)buf[off] << 16 | (uint32_t)buf[off + 1] << 8 | buf[off + 2];
		uint8_t type = buf[off + 3];
		int32_t sid =
		    (int32_t)((uint32_t)(buf[off + 5] & 0x7f) << 24 | (uint32_t)buf[off + 6] << 16 |
			      (uint32_t)buf[off + 7] << 8 | buf[off + 8]);
		const uint8_t *p = buf + off + 9;

		if (off + 9 + flen > len)
			break;
		if (type < 16)
			s->frames[type]++;
		if (type == NGHTTP2_RST_STREAM && s->rst < HK_MAX) {
			s->rst_id[s->rst] = sid;
			s->rst_code[s->rst++] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
						(uint32_t)p[2] << 8 | p[3];
		} else if (type == NGHTTP2_GOAWAY) {
			if (s->goaway < 8)
				s->goaway_last[s->goaway] =
				    (int32_t)((uint32_t)(p[0] & 0x7f) << 24 | (uint32_t)p[1] << 16 |
					      (uint32_t)p[2] << 8 | p[3]);
			s->goaway++;
			s->goaway_code = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
					 (uint32_t)p[6] << 8 | p[7];
		} else if (type == NGHTTP2_HEADERS) {
			s->headers++;
		} else if (type == NGHTTP2_DATA) {
			s->data_bytes += flen;
		}
		off += 9 + flen;
	}
}

#endif
