/* The request body going up (exchange.h): Content-Length bodies forwarded
 * byte-exact from the receive buffers, chunked ones re-framed (RFC 9112
 * §7.1: every chunk validated and re-emitted with a fresh size line),
 * HTTP/2 bodies copied out of the stream (exchange_h2.c), bodies buffered
 * whole with buffer_request, and the completions of upstream sends. */
#include <errno.h>
#include <string.h>

#include "log.h"

#include "client.h"
#include "exchange.h"
#include "uconn.h"
#include "upstream.h"
#include "l7_worker.h"

static const struct l7_upstream *ucfg(const struct l7_exchange *x)
{
	return x->route->upstream;
}

/* --- the request body ------------------------------------------------------------------ */

static void add_input(struct l7_exchange *x, unsigned bid, const char *p, size_t n)
{
	if (bid == L7_NOBID)
		l7_tx_add(&x->tx_up, p, n); /* the head buffer outlives the exchange's sends */
	else
		l7_tx_add_buf(&x->tx_up, &x->w->bufs, bid, p, n);
}

static void fill_length(struct l7_exchange *x)
{
	const char *p;
	unsigned bid;
	size_t len;

	while (x->req_left && l7_tx_room(&x->tx_up, 1) &&
	       (len = l7_conn_input(x->c, &p, &bid)) != 0) {
		size_t n = len < x->req_left ? len : (size_t)x->req_left;

		add_input(x, bid, p, n);
		l7_conn_consume(x->c, n);
		x->req_left -= n;
		x->req_bytes += n;
	}
	if (!x->req_left)
		x->up_done = true;
}

static const char crlf[] = "\r\n", last_chunk[] = "0\r\n";

/* One decoder pass per batch: its size lines live in x->ck_lines. */
static int fill_chunked(struct l7_exchange *x)
{
	struct http1_span sp[L7_CHUNK_SPANS];
	enum http1_err err;
	const char *p;
	unsigned bid;
	size_t len, ns = 0;
	int r;

	if (!l7_tx_room(&x->tx_up, 3 * L7_CHUNK_SPANS + 2) ||
	    !(len = l7_conn_input(x->c, &p, &bid)))
		return 0;
	r = http1_chunked_feed(&x->req_ck, p, len, sp, L7_CHUNK_SPANS, &ns, &err);
	if (r < 0 && r != -EAGAIN) {
		x->perr = err;
		return -EBADMSG;
	}
	for (size_t i = 0; i < ns; i++) {
		if (sp[i].kind == HTTP1_SPAN_DATA) {
			size_t l = http1_chunked_size_line(sp[i].len, x->ck_lines[i]);

			l7_tx_add(&x->tx_up, x->ck_lines[i], l);
			add_input(x, bid, sp[i].ptr, sp[i].len);
			l7_tx_add(&x->tx_up, crlf, 2);
			x->req_bytes += sp[i].len;
		} else {
			if (!x->up_chunk_end)
				l7_tx_add(&x->tx_up, last_chunk, 3);
			x->up_chunk_end = true;
			add_input(x, bid, sp[i].ptr, sp[i].len);
		}
	}
	if (r > 0)
		l7_conn_consume(x->c, (size_t)r);
	if (http1_chunked_done(&x->req_ck)) {
		if (!x->up_chunk_end)
			l7_tx_add(&x->tx_up, last_chunk, 3);
		l7_tx_add(&x->tx_up, crlf, 2);
		x->up_chunk_end = x->up_done = true;
	}
	if (x->route->max_body && x->req_ck.data_total > x->route->max_body)
		return -E2BIG;
	return 0;
}

/* buffer_request: the whole body is read (and framed by Content-Length)
 * before the upstream sees anything, which also makes it replayable. */
/* The body is complete in x->body: it can go up (and be sent again). */
static void buffered(struct l7_exchange *x, uint64_t max)
{
	if (!x->h2)
		l7_conn_body_timer(x->c, false);
	x->req_bytes = x->body.len;
	x->buffering = false;
	x->replayable = true;
	if (!x->body.p) /* an empty body still needs Content-Length: 0 */
		l7_hbuf_append(&x->body, "", 0, max);
	l7_x_connect(x);
}

/* HTTP/2: the stream's buffer holds the body as it comes. */
static void buffer_h2(struct l7_exchange *x, uint64_t max)
{
	int r = l7_xh2_buffer(x, max);

	if (r == -E2BIG) {
		l7_x_local_error(x, 413, L7_TERM_TOO_LARGE, NULL);
	} else if (r > 0) {
		x->up_done = true;
		buffered(x, max);
	} else if (!x->aborted) {
		x->tmode = L7_TM_BODY;
		l7_x_arm(x, x->gen->cfg->timeouts.client_body_ms);
	}
}

static void buffer_body(struct l7_exchange *x)
{
	uint64_t max = x->route->max_body ? x->route->max_body : L7_MAX_BUFFERED_BODY;
	const char *p;
	unsigned bid;
	size_t len;

	if (x->h2) {
		buffer_h2(x, max);
		return;
	}
	while (!x->up_done && (len = l7_conn_input(x->c, &p, &bid)) != 0) {
		if (x->req_body == HTTP1_BODY_LENGTH) {
			size_t n = len < x->req_left ? len : (size_t)x->req_left;

			if (l7_hbuf_append(&x->body, p, n, max) < 0)
				goto too_large;
			l7_conn_consume(x->c, n);
			x->req_left -= n;
			x->up_done = x->req_left == 0;
			continue;
		}
		struct http1_span sp[L7_CHUNK_SPANS];
		enum http1_err err;
		size_t ns = 0;
		int r = http1_chunked_feed(&x->req_ck, p, len, sp, L7_CHUNK_SPANS, &ns, &err);

		if (r < 0) {
			x->perr = err;
			l7_x_local_error(x, 400, L7_TERM_BAD_BODY, http1_err_text(err));
			return;
		}
		for (size_t i = 0; i < ns; i++)
			if (sp[i].kind == HTTP1_SPAN_DATA &&
			    l7_hbuf_append(&x->body, sp[i].ptr, sp[i].len, max) < 0)
				goto too_large;
		l7_conn_consume(x->c, (size_t)r);
		x->up_done = http1_chunked_done(&x->req_ck);
	}
	l7_conn_flow(x->c); /* consumed: reading may resume */
	if (!x->up_done) {
		l7_conn_body_timer(x->c, true);
		if (x->c->flags & L7_CF_EOF)
			l7_conn_close(x->c, L7_TERM_CLIENT_ABORT);
		return;
	}
	buffered(x, max);
	return;
too_large:
	l7_x_local_error(x, 413, L7_TERM_TOO_LARGE, NULL);
}

/* More body is expected and none is at hand. */
static void wait_body(struct l7_exchange *x)
{
	if (x->h2) {
		/* the stream's client_body: the exchange timer is free while
		 * nothing is being sent and no response is being read */
		if (x->state == L7_XS_SEND) {
			x->tmode = L7_TM_BODY;
			l7_x_arm(x, x->gen->cfg->timeouts.client_body_ms);
		}
		return;
	}
	l7_conn_body_timer(x->c, true);
	if (x->c->flags & L7_CF_EOF)
		l7_conn_close(x->c, L7_TERM_CLIENT_ABORT);
}

void l7_x_pump_up(struct l7_exchange *x)
{
	int ret = 0;

	if (x->aborted)
		return;
	if (x->buffering) {
		buffer_body(x);
		return;
	}
	if (!x->u || x->u_closing || x->tx_up.busy ||
	    (x->state != L7_XS_SEND && x->state != L7_XS_WAIT && x->state != L7_XS_BODY))
		return;
	if (x->h2 && !x->up_done)
		ret = l7_xh2_fill_up(x);
	else if (!x->up_done && x->req_body == HTTP1_BODY_LENGTH)
		fill_length(x);
	else if (!x->up_done)
		do /* a pass that only ate framing leaves the batch empty */
			ret = fill_chunked(x);
		while (ret == 0 && !x->up_done && l7_tx_empty(&x->tx_up) &&
		       l7_conn_input_bytes(x->c));
	if (x->aborted)
		return;
	if (ret < 0) {
		l7_x_upstream_failed(x, ret == -E2BIG ? L7_TERM_TOO_LARGE : L7_TERM_BAD_BODY,
				     ret == -E2BIG ? 413 : 400, L7_RETRY__COUNT);
		return;
	}
	if (!l7_tx_empty(&x->tx_up)) {
		if (l7_uconn_send(x->u, &x->tx_up) < 0) {
			l7_x_upstream_failed(x, L7_TERM_INTERNAL, 500, L7_RETRY__COUNT);
			return;
		}
		x->pending++;
		if (x->state == L7_XS_SEND) {
			x->tmode = L7_TM_SEND;
			l7_x_arm(x, ucfg(x)->timeouts.send_ms);
		}
		if (!x->h2)
			l7_conn_flow(x->c);
		return;
	}
	if (!x->up_done) {
		wait_body(x);
		return;
	}
	if (!x->h2)
		l7_conn_body_timer(x->c, false);
	if (x->state == L7_XS_SEND) {
		l7_x_set_state(x, L7_XS_WAIT);
		x->tmode = L7_TM_READ;
		l7_x_arm(x, ucfg(x)->timeouts.read_ms);
	}
}

void l7_x_on_upstream_sent(struct l7_exchange *x, int res)
{
	int ret;

	x->pending--;
	ret = l7_tx_done(&x->tx_up, &x->w->bufs, res);
	if (x->u_closing) {
		if (ret == 0)
			l7_tx_clear(&x->tx_up, &x->w->bufs);
		if (x->u)
			x->u->x = NULL;
		x->u = NULL;
		x->u_closing = false;
	}
	if (x->aborted) {
		l7_x_maybe_free(x);
		return;
	}
	if (x->retry_pending) {
		x->retry_pending = false;
		l7_tx_clear(&x->tx_up, &x->w->bufs);
		l7_x_retry(x);
		return;
	}
	if (!x->u)
		return;
	if (ret < 0) {
		l7_x_upstream_failed(x, L7_TERM_UPSTREAM_RESET, 502, L7_RETRY_502);
		return;
	}
	if (x->state == L7_XS_TUNNEL) {
		l7_tunnel_pump(x);
		return;
	}
	if (ret == 0) {
		if (l7_uconn_send(x->u, &x->tx_up) < 0)
			l7_x_upstream_failed(x, L7_TERM_INTERNAL, 500, L7_RETRY__COUNT);
		else
			x->pending++;
		return;
	}
	l7_x_pump_up(x);
}
