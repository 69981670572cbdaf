/* The exchange of one HTTP/2 stream (exchange.h): the request view comes
 * from the stream, the request body from its buffer, and what the
 * exchange would write to an HTTP/1.1 client (the head it built, the body
 * de-chunked) becomes HEADERS and DATA of the stream. Routing, header
 * rules, upstream pools, retries and timeouts are the HTTP/1 exchange's.
 *
 * Every call into l7_h2 may end streams (its output pass runs on the way
 * out, h2.h), and a stream reset by the client aborts its exchange from
 * on_close: around such calls the exchange holds a pending count, so it
 * stays valid until the call returns, and then looks at itself again.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "log.h"

#include "client.h"
#include "exchange.h"
#include "h2.h"
#include "l7_worker.h"

static void rebase(struct http1_view *v, const char *from, size_t len, char *to)
{
	if (v->ptr && v->ptr >= from && v->ptr < from + len)
		v->ptr = to + (v->ptr - from);
}

/* The view without its unused header slots (4 KiB of them per request). */
static void copy_view(struct http1_request *to, const struct http1_request *from)
{
	memcpy(to, from, offsetof(struct http1_request, h.headers));
	memcpy(to->h.headers, from->h.headers, from->h.nheaders * sizeof(from->h.headers[0]));
	to->h.ps = from->h.ps;
}

/* The stream's view points into its field buffer, which goes with the
 * stream: the stream may complete (and be freed) inside the call that
 * gives the response's last byte, before the exchange writes its access
 * log line. So the fields are copied into the exchange, as an HTTP/1
 * head is (a few hundred bytes), and the views moved along. */
static int keep_request(struct l7_exchange *x, const struct l7_h2_stream *st)
{
	struct http1_request *r = &x->req;
	const char *from = st->hbuf;
	size_t n = st->hlen;

	copy_view(r, &st->req);
	if (!n)
		return 0;
	if (l7_x_out_reserve((uint8_t **)&x->hcopy, &x->hcopy_cap, n) < 0)
		return -ENOMEM;
	memcpy(x->hcopy, from, n);
	rebase(&r->method, from, n, x->hcopy);
	rebase(&r->target, from, n, x->hcopy);
	rebase(&r->scheme, from, n, x->hcopy);
	rebase(&r->authority, from, n, x->hcopy);
	rebase(&r->path, from, n, x->hcopy);
	rebase(&r->query, from, n, x->hcopy);
	rebase(&r->host, from, n, x->hcopy);
	for (unsigned i = 0; i < r->h.nheaders; i++) {
		rebase(&r->h.headers[i].name, from, n, x->hcopy);
		rebase(&r->h.headers[i].value, from, n, x->hcopy);
	}
	return 0;
}

struct l7_exchange *l7_xh2_start(struct l7_conn *c, struct l7_h2_stream *st)
{
	struct l7_exchange *x = l7_x_new(c);

	if (!x)
		return NULL;
	if (keep_request(x, st) < 0) {
		l7_worker_gen_release(x->w, x->gen);
		l7_worker_x_free(x->w, x);
		return NULL;
	}
	x->h2 = true;
	x->st = st;
	st->user = x;
	x->perr = st->perr;
	x->head_done = true;
	x->head_len = st->hlen;
	x->bytes_in = st->hlen;
	x->client_keep = true; /* the stream ends, never the connection */
	c->requests++;
	l7_x_head_ready(x);
	return x;
}

/* Bytes of the HTTP/1.1 head at p (through its empty line), 0 if none.
 * Line by line with memchr: cheaper than memmem's setup for a head of a
 * few lines, which every response pays. */
static size_t head_len(const uint8_t *p, size_t n)
{
	const uint8_t *q = p, *end = p + n;

	while ((q = memchr(q, '\n', (size_t)(end - q)))) {
		if (end - q >= 3 && q[1] == '\r' && q[2] == '\n' && q > p && q[-1] == '\r')
			return (size_t)(q + 3 - p);
		q++;
	}
	return 0;
}

/* Gives one piece of the client batch to the stream: a head (1xx or the
 * final one) at its start while no final head went yet, then body bytes.
 * Returns the bytes taken, or -errno. */
static ssize_t give(struct l7_exchange *x, const uint8_t *p, size_t n, bool last)
{
	size_t taken = 0;
	ssize_t k;

	/* h2_end is set before the call that gives the end: the stream may
	 * complete inside it (on_close with NO_ERROR must know it is ours) */
	if (!x->h2_head) {
		size_t h = head_len(p, n);
		/* "HTTP/1.1 1xx": informational, a final head follows */
		bool final = h > 12 && p[9] != '1';
		int r;

		if (!h)
			return -EBADMSG;
		x->h2_end = final && h == n && last;
		r = l7_h2_respond_head(x->st, p, h, x->h2_end);
		if (r < 0)
			return r;
		x->h2_head = final;
		taken = h;
		if (h == n || !x->st)
			return (ssize_t)taken;
	}
	x->h2_end = last;
	k = l7_h2_respond_body(x->st, p + taken, n - taken, last);
	if (k < 0)
		return k;
	if ((size_t)k < n - taken) {
		x->h2_room = true; /* on_room says when there is */
		x->h2_end = false;
	}
	return (ssize_t)(taken + (size_t)k);
}

void l7_xh2_send(struct l7_exchange *x)
{
	struct l7_tx *t = &x->tx_cl;
	/* the batch holds the response's end: the last piece ends the stream */
	bool done = x->state == L7_XS_LOCAL || (x->state == L7_XS_BODY && x->resp_done);
	size_t taken = 0;
	ssize_t k = 0;
	struct l7_h2 *h2;

	if (!x->st) { /* the stream completed under the exchange: nothing to add */
		l7_tx_clear(t, &x->w->bufs);
		return;
	}
	h2 = x->st->h2;
	x->pending++;
	/* head and body pieces become frames in one output pass */
	l7_h2_hold(h2);
	for (unsigned i = t->first; i < t->niov && x->st && !x->h2_room; i++) {
		k = give(x, t->iov[i].iov_base, t->iov[i].iov_len, done && i + 1 == t->niov);
		if (k < 0)
			break;
		taken += (size_t)k;
		if ((size_t)k < t->iov[i].iov_len)
			break;
	}
	l7_h2_release(h2);
	x->pending--;
	if (x->aborted) {
		l7_x_maybe_free(x);
		return;
	}
	l7_conn_kick(x->c);
	if (k < 0) {
		log_rl(LOG_LVL_WARN, "conn %llx: stream answer refused by HTTP/2: %s",
		       (unsigned long long)x->c->id, strerror((int)-k));
		l7_xh2_kill(x, L7_TERM_INTERNAL);
		return;
	}
	if (!taken)
		return;
	x->pending++;
	l7_x_on_client_sent(x, (int)taken);
}

void l7_xh2_on_room(struct l7_exchange *x)
{
	if (!x->h2_room)
		return;
	x->h2_room = false;
	l7_x_send_client(x);
}

/* --- the request body ---------------------------------------------------------------- */

/* Copies up to n body bytes out of the stream into dst and reopens the
 * client's window by as much (RFC 9113 §6.9: as the upstream drains).
 * False when the exchange was aborted meanwhile. */
static bool take_body(struct l7_exchange *x, char *dst, size_t n)
{
	struct iovec iov[8];
	size_t got = 0;
	unsigned k = l7_h2_body_iov(x->st, iov, 8);

	for (unsigned i = 0; i < k && got < n; i++) {
		size_t m = iov[i].iov_len < n - got ? iov[i].iov_len : n - got;

		memcpy(dst + got, iov[i].iov_base, m);
		got += m;
	}
	x->pending++;
	l7_h2_body_consume(x->st, got);
	x->pending--;
	l7_conn_kick(x->c);
	return !x->aborted;
}

int l7_xh2_fill_up(struct l7_exchange *x)
{
	static const char crlf[] = "\r\n", last_chunk[] = "0\r\n\r\n";
	size_t n = x->st ? l7_h2_body_bytes(x->st) : 0;

	if (x->req_body == HTTP1_BODY_LENGTH && n > x->req_left)
		n = (size_t)x->req_left; /* nghttp2 checks content-length against DATA */
	if (n > L7_H2_STAGE)
		n = L7_H2_STAGE;
	if (n && !l7_tx_room(&x->tx_up, 3))
		return 0;
	if (n) {
		if (!x->stage && !(x->stage = malloc(L7_H2_STAGE)))
			return -ENOMEM;
		if (!take_body(x, x->stage, n))
			return 0;
		if (x->req_body == HTTP1_BODY_CHUNKED)
			l7_tx_add(&x->tx_up, x->ck_lines[0],
				  http1_chunked_size_line(n, x->ck_lines[0]));
		l7_tx_add(&x->tx_up, x->stage, n);
		if (x->req_body == HTTP1_BODY_CHUNKED)
			l7_tx_add(&x->tx_up, crlf, 2);
		x->req_bytes += n;
		if (x->req_body == HTTP1_BODY_LENGTH)
			x->req_left -= n;
	}
	if (x->req_body == HTTP1_BODY_LENGTH && !x->req_left)
		x->up_done = true;
	if (x->req_body == HTTP1_BODY_CHUNKED && x->st && l7_h2_body_done(x->st) &&
	    l7_tx_room(&x->tx_up, 1)) {
		/* the length was never said: END_STREAM ends the chunked body */
		l7_tx_add(&x->tx_up, last_chunk, sizeof(last_chunk) - 1);
		x->up_chunk_end = x->up_done = true;
	}
	if (x->route->max_body && x->req_bytes > x->route->max_body)
		return -E2BIG;
	return 0;
}

int l7_xh2_buffer(struct l7_exchange *x, uint64_t max)
{
	while (x->st && l7_h2_body_bytes(x->st)) {
		struct iovec iov[8];
		unsigned k = l7_h2_body_iov(x->st, iov, 8);
		size_t got = 0;

		for (unsigned i = 0; i < k; i++) {
			if (l7_hbuf_append(&x->body, iov[i].iov_base, iov[i].iov_len, max) < 0)
				return -E2BIG;
			got += iov[i].iov_len;
		}
		x->pending++;
		l7_h2_body_consume(x->st, got);
		x->pending--;
		l7_conn_kick(x->c);
		if (x->aborted)
			return 0;
	}
	return x->st && l7_h2_body_done(x->st) ? 1 : 0;
}

void l7_xh2_on_body(struct l7_exchange *x)
{
	if (x->aborted)
		return;
	if (x->state == L7_XS_HEAD && !x->buffering)
		return; /* not routed yet: the body waits in the stream */
	l7_x_pump_up(x);
}

/* --- the end ------------------------------------------------------------------------ */

void l7_xh2_end(struct l7_exchange *x)
{
	struct l7_h2_stream *st = x->st;

	if (!st)
		return;
	x->pending++;
	/* a body that had nothing left to say still ends the stream */
	if (x->h2_head && !x->h2_end) {
		x->h2_end = true;
		l7_h2_respond_body(st, NULL, 0, true);
	}
	/* answered before the request body was read (413, an early
	 * response): what the client still sends is not wanted */
	if (x->st && !x->up_done)
		l7_h2_body_discard(x->st);
	x->pending--;
	if (x->st)
		x->st->user = NULL;
	x->st = NULL;
	if (x->c)
		l7_conn_kick(x->c);
}

void l7_xh2_kill(struct l7_exchange *x, int term)
{
	struct l7_h2_stream *st = x->st;
	struct l7_conn *c = x->c;

	if (x->aborted)
		return;
	x->term = (uint8_t)term;
	if (st) {
		st->user = NULL;
		x->st = NULL;
		x->pending++;
		l7_h2_reset(st, NGHTTP2_INTERNAL_ERROR);
		x->pending--;
	}
	l7_x_abort(x, term);
	if (c)
		l7_conn_kick(c);
}

void l7_xh2_on_close(struct l7_exchange *x, uint32_t code)
{
	x->st = NULL;
	/* completed: the last byte went out, and the exchange finishes on its
	 * own (it is giving that byte right now, or already did) */
	if (code == NGHTTP2_NO_ERROR && x->h2_end)
		return;
	log_rl(LOG_LVL_INFO, "conn %llx: stream closed by the client (%s)",
	       (unsigned long long)x->c->id, nghttp2_http2_strerror(code));
	l7_x_abort(x, L7_TERM_CLIENT_ABORT);
}
