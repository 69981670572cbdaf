/* HTTP/2 streams, request side: fields copied out of nghttp2 as they are
 * decoded (with the header list size enforced while the block
 * accumulates), then the struct http1_request view the engine routes, and
 * the request body buffer bounded by our window. Each stream owns its
 * field buffer and body chunks; h2.c frees it after on_close. */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "asan.h"
#include "h2_int.h"
#include "h2_mem.h"
#include "http1_semantics.h"

#define L7_H2_HBUF_INIT 512
/* Streams kept per thread for reuse, and the largest field buffer a
 * kept stream may hold on to. */
#define L7_H2_STREAM_CACHE 1024
#define L7_H2_STREAM_KEEP  32 /* kept however long they stay unused */
#define L7_H2_HBUF_KEEP	   4096
/* How often streams (and nghttp2's blocks, h2_mem.c) that stayed unused
 * are given back. */
#define L7_H2_TRIM_MS 1000
/* Decoded header list size that is abuse rather than a mistake: this
 * many times max_header_list, and never less than L7_H2_DECODED_MIN. */
#define L7_H2_DECODED_FACTOR 4
#define L7_H2_DECODED_MIN    (64u << 10)

/* Streams are kept per thread for reuse: at thousands of requests per
 * second a calloc of the 6.5 KiB object (and the zeroing of its 4.2 KiB
 * request view, which l7_h2s_finish() fills anyway) and the field
 * buffer's realloc showed in every request's profile. As many as a busy
 * thread has in flight (500 with 50 clients of 10 streams; a cache of 32
 * missed on every second stream), bounded; those that stayed unused for
 * L7_H2_TRIM_MS are freed, down to L7_H2_STREAM_KEEP, so a burst does
 * not stay allocated; the rest when the thread exits. */
static __thread struct l7_h2_stream *spare;
static __thread unsigned n_spare;
static __thread unsigned spare_low; /* fewest kept since the last trim */
static __thread uint64_t trim_at_ms;
static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;
static bool spare_ok;

#define STREAM_SIZE (sizeof(struct l7_h2_stream) + HTTP1_MAX_HEADERS * sizeof(struct l7_h2_field))

/* A cached stream is poisoned for ASan but for what the cache reads. */
static void stream_park(struct l7_h2_stream *st)
{
	asan_park(st, STREAM_SIZE);
	asan_unpark(&st->next, sizeof(st->next));
	asan_unpark(&st->hbuf, sizeof(st->hbuf));
	asan_unpark(&st->hcap, sizeof(st->hcap));
}

static void spare_drain(void *unused)
{
	while (spare) {
		struct l7_h2_stream *next = spare->next;

		asan_unpark(spare, STREAM_SIZE);
		free(spare->hbuf);
		free(spare);
		spare = next;
	}
	n_spare = spare_low = 0;
}

static void spare_init(void)
{
	spare_ok = pthread_key_create(&spare_key, spare_drain) == 0;
}

static void spare_put(struct l7_h2_stream *st)
{
	pthread_once(&spare_once, spare_init);
	if (!spare_ok || n_spare >= L7_H2_STREAM_CACHE || st->hcap > L7_H2_HBUF_KEEP) {
		free(st->hbuf);
		free(st);
		return;
	}
	if (!n_spare)
		pthread_setspecific(spare_key, st); /* non-NULL: the destructor runs */
	st->next = spare;
	spare = st;
	n_spare++;
	stream_park(st);
}

/* A zeroed stream, but for the request view (l7_h2s_finish() writes it
 * whole) and the field slots (written before they are read); a reused
 * one keeps its field buffer. */
static struct l7_h2_stream *stream_get(void)
{
	struct l7_h2_stream *st = spare;
	char *hbuf = NULL;
	uint32_t hcap = 0;

	if (st) {
		asan_unpark(st, STREAM_SIZE);
		spare = st->next;
		if (--n_spare < spare_low)
			spare_low = n_spare;
		hbuf = st->hbuf;
		hcap = st->hcap;
	} else if (!(st = malloc(STREAM_SIZE))) {
		return NULL;
	}
	memset(st, 0, offsetof(struct l7_h2_stream, req));
	memset(&st->perr, 0, sizeof(*st) - offsetof(struct l7_h2_stream, perr));
	st->hbuf = hbuf;
	st->hcap = hcap;
	return st;
}

static void spare_trim(void)
{
	unsigned excess = spare_low > L7_H2_STREAM_KEEP ? spare_low - L7_H2_STREAM_KEEP : 0;

	for (; excess && spare; excess--) {
		struct l7_h2_stream *st = spare;

		asan_unpark(st, STREAM_SIZE);
		spare = st->next;
		n_spare--;
		free(st->hbuf);
		free(st);
	}
	spare_low = n_spare;
}

unsigned l7_h2s_cached(void)
{
	return n_spare;
}

void l7_h2s_trim(void)
{
	spare_trim();
	l7_h2_mem_trim();
}

struct l7_h2_stream *l7_h2s_new(struct l7_h2 *h2, int32_t id)
{
	uint64_t now = l7_h2_now(h2);
	struct l7_h2_stream *st;

	if (now >= trim_at_ms) {
		l7_h2s_trim();
		trim_at_ms = now + L7_H2_TRIM_MS;
	}
	st = stream_get();

	if (!st)
		return NULL;
	st->fields = (struct l7_h2_field *)(st + 1);
	st->h2 = h2;
	st->id = id;
	l7_obuf_init(&st->body);
	l7_obuf_init(&st->out);
	st->next = h2->streams;
	if (h2->streams)
		h2->streams->prev = st;
	h2->streams = st;
	h2->n_streams++;
	return st;
}

size_t l7_h2s_free(struct l7_h2_stream *st)
{
	struct l7_h2 *h2 = st->h2;
	size_t held = l7_obuf_bytes(&st->body);

	if (st->prev)
		st->prev->next = st->next;
	else
		h2->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	h2->n_streams--;
	l7_obuf_free(&st->body);
	l7_obuf_free(&st->out);
	spare_put(st);
	return held;
}

/* Copies n bytes into the field buffer; the offset lands in *off. */
static int store(struct l7_h2_stream *st, const void *p, size_t n, uint32_t *off)
{
	if (st->hlen + n > st->hcap) {
		size_t cap = st->hcap ? st->hcap : L7_H2_HBUF_INIT;
		char *b;

		while (cap < st->hlen + n)
			cap *= 2;
		if (!(b = realloc(st->hbuf, cap)))
			return -ENOMEM;
		st->hbuf = b;
		st->hcap = (uint32_t)cap;
	}
	memcpy(st->hbuf + st->hlen, p, n);
	*off = st->hlen;
	st->hlen += (uint32_t)n;
	return 0;
}

static struct l7_h2_field *pseudo(struct l7_h2_stream *st, const uint8_t *name, size_t n)
{
	if (n == 7 && !memcmp(name, ":method", 7))
		return &st->method;
	if (n == 5 && !memcmp(name, ":path", 5))
		return &st->path;
	if (n == 10 && !memcmp(name, ":authority", 10))
		return &st->authority;
	if (n == 7 && !memcmp(name, ":scheme", 7))
		return &st->scheme;
	return NULL; /* nghttp2 refuses the others before we see them */
}

int l7_h2s_field(struct l7_h2_stream *st, const uint8_t *name, size_t nlen, const uint8_t *value,
		 size_t vlen)
{
	const struct l7_h2_conf *c = &st->h2->conf;
	uint32_t hard = L7_H2_DECODED_FACTOR * c->max_header_list;
	struct l7_h2_field *f;

	/* RFC 9113 §6.5.2: name + value + 32 per field. Decoding goes on
	 * past the limit (HPACK state must stay in step), but nothing more
	 * is kept, and a block far past it is an attack, not a mistake. */
	if (hard < L7_H2_DECODED_MIN)
		hard = L7_H2_DECODED_MIN;
	st->nfields++;
	st->hsize += (uint32_t)(nlen + vlen + 32);
	if (st->nfields > L7_H2_MAX_BLOCK_FIELDS || st->hsize > hard)
		return -E2BIG;
	if (st->trailers || st->perr != HTTP1_OK)
		return 0;
	if (st->hsize > c->max_header_list) {
		st->perr = HTTP1_ERR_HEADERS_TOO_LARGE;
		st->h2->stats.too_large++;
		return 0;
	}
	if (nlen && name[0] == ':') {
		if (!(f = pseudo(st, name, nlen)))
			return 0;
	} else if (st->nf == HTTP1_MAX_HEADERS) {
		st->perr = HTTP1_ERR_TOO_MANY_HEADERS;
		return 0;
	} else {
		f = &st->fields[st->nf++];
		f->cookie = nlen == 6 && !memcmp(name, "cookie", 6);
		if (store(st, name, nlen, &f->noff))
			return -ENOMEM;
		f->nlen = (uint32_t)nlen;
	}
	if (store(st, value, vlen, &f->voff))
		return -ENOMEM;
	f->vlen = (uint32_t)vlen;
	return 0;
}

/* RFC 9113 §8.2.3: cookie crumbs are joined with "; " for HTTP/1.1, into
 * the first cookie field; the others are dropped (nlen = 0). */
static int join_cookies(struct l7_h2_stream *st)
{
	struct l7_h2_field *first = NULL;
	uint32_t total = 0, n = 0, off = 0;
	char *tmp;
	int r;

	for (uint32_t i = 0; i < st->nf; i++) {
		if (st->fields[i].cookie) {
			first = first ? first : &st->fields[i];
			total += st->fields[i].vlen + 2;
			n++;
		}
	}
	if (n < 2)
		return 0;
	if (!(tmp = malloc(total))) /* apart: store() may move hbuf */
		return -ENOMEM;
	for (uint32_t i = 0; i < st->nf; i++) {
		struct l7_h2_field *f = &st->fields[i];

		if (!f->cookie)
			continue;
		if (off) {
			memcpy(tmp + off, "; ", 2);
			off += 2;
		}
		memcpy(tmp + off, st->hbuf + f->voff, f->vlen);
		off += f->vlen;
		if (f != first)
			f->nlen = 0;
	}
	r = store(st, tmp, off, &first->voff);
	first->vlen = off;
	free(tmp);
	return r;
}

static struct http1_view view(const struct l7_h2_stream *st, uint32_t off, uint32_t len)
{
	return (struct http1_view){st->hbuf + off, len};
}

static enum http1_method method_id(struct http1_view m)
{
	if (m.len == 3 && !memcmp(m.ptr, "GET", 3))
		return HTTP1_M_GET; /* most requests: no walk through the table */
	for (int i = 1; i < HTTP1_M__COUNT; i++) {
		const char *name = http1_method_name((enum http1_method)i);

		if (strlen(name) == m.len && !memcmp(name, m.ptr, m.len))
			return (enum http1_method)i;
	}
	return HTTP1_M_OTHER;
}

/* Fields into req->h with the HTTP/1 semantics, then Host from
 * :authority (RFC 9113 §8.3.1: create Host when absent; a different Host
 * is malformed). */
static int fill_fields(struct l7_h2_stream *st, struct http1_request *r, enum http1_err *e)
{
	static const char host[] = "host";

	for (uint32_t i = 0; i < st->nf; i++) {
		const struct l7_h2_field *f = &st->fields[i];
		struct http1_header *h = &r->h.headers[r->h.nheaders];

		if (!f->nlen)
			continue; /* a joined cookie crumb */
		/* whole: the slot holds garbage or another request's id and
		 * flags (l7_h2s_finish does not clear the slots) */
		*h = (struct http1_header){.name = view(st, f->noff, f->nlen),
					   .value = view(st, f->voff, f->vlen)};
		r->h.nheaders++;
		if (http1_sem_field(&r->h, h, true, e))
			return -EBADMSG;
	}
	if (!st->authority.vlen)
		return 0;
	if (r->h.n_host) {
		struct http1_view v = r->h.headers[r->h.host_idx].value;

		if (v.len != st->authority.vlen ||
		    strncasecmp(v.ptr, st->hbuf + st->authority.voff, v.len)) {
			*e = HTTP1_ERR_HOST_INVALID;
			return -EBADMSG;
		}
		return 0;
	}
	if (r->h.nheaders == HTTP1_MAX_HEADERS) {
		*e = HTTP1_ERR_TOO_MANY_HEADERS;
		return -E2BIG;
	}
	struct http1_header *h = &r->h.headers[r->h.nheaders++];

	*h = (struct http1_header){.name = {host, 4},
				   .value = view(st, st->authority.voff, st->authority.vlen)};
	return http1_sem_field(&r->h, h, true, e);
}

void l7_h2s_finish(struct l7_h2_stream *st)
{
	struct http1_request *r = &st->req;
	enum http1_err e = HTTP1_OK;

	/* everything but the header slots, which are written before they
	 * are read (nheaders counts them): 4 KiB less to clear per request */
	memset(r, 0, offsetof(struct http1_request, h.headers));
	memset(&r->h.ps, 0, sizeof(r->h.ps));
	if (join_cookies(st)) {
		st->perr = HTTP1_ERR_HEADERS_TOO_LARGE;
		return;
	}
	r->method = view(st, st->method.voff, st->method.vlen);
	r->method_id = (uint8_t)method_id(r->method);
	r->h.minor = 1;
	r->target = r->method_id == HTTP1_M_CONNECT
			? view(st, st->authority.voff, st->authority.vlen)
			: view(st, st->path.voff, st->path.vlen);
	if (st->perr != HTTP1_OK)
		return;
	if (!r->method.len || !r->target.len) {
		st->perr = HTTP1_ERR_REQUEST_LINE; /* nghttp2 refuses these first */
		return;
	}
	if (fill_fields(st, r, &e) || http1_sem_target(r, &e) || http1_sem_request(r, &e)) {
		st->perr = e;
		return;
	}
	/* the body length is what Content-Length says; without one the
	 * stream's END_STREAM ends it, so it goes upstream chunked */
	if (!st->end_in && !r->h.has_content_length)
		r->h.body = HTTP1_BODY_CHUNKED;
	r->h.keep_alive = true;
}

int l7_h2s_data(struct l7_h2_stream *st, const uint8_t *p, size_t n)
{
	const struct l7_h2_conf *c = &st->h2->conf;
	/* before the client acknowledged our SETTINGS it may use the RFC
	 * 9113 §6.9.2 default of 65535 */
	size_t window = c->initial_window > 65535 ? c->initial_window : 65535;

	if (l7_obuf_bytes(&st->body) + n > window)
		return -E2BIG; /* nghttp2 checks this too; never buffer past it */
	st->body_in += n;
	st->h2->stats.body_bytes += n;
	return l7_obuf_append(&st->body, p, n);
}

void l7_h2_body_consume(struct l7_h2_stream *st, size_t n)
{
	struct l7_h2 *h2 = st->h2;

	if (n > l7_obuf_bytes(&st->body))
		n = l7_obuf_bytes(&st->body);
	if (!n)
		return;
	l7_h2_enter(h2);
	l7_obuf_consume(&st->body, n);
	/* RFC 9113 §6.9: the window reopens only as the upstream drains */
	nghttp2_session_consume(h2->s, st->id, n);
	l7_h2_leave(h2);
}

void l7_h2_body_discard(struct l7_h2_stream *st)
{
	st->discard = true;
	l7_h2_body_consume(st, l7_obuf_bytes(&st->body));
}
