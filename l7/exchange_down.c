/* The response half of an exchange: the response head from the upstream,
 * the client head built from it, and the body streamed back.
 *
 * Framing (RFC 9112 §6.3): a Content-Length body is forwarded byte-exact; a
 * chunked body goes to an HTTP/1.1 client as received, every byte first
 * validated by the chunked decoder (http1_chunked.h: forwarding consumed
 * bytes verbatim is safe), and to an HTTP/1.0 client with the framing
 * stripped and the connection closed at the end; a close-delimited body
 * ends the client connection too. 1xx interim responses other than 101 are
 * dropped: the proxy answered Expect itself.
 */
#include <errno.h>
#include <string.h>

#include "log.h"

#include "client.h"
#include "exchange.h"
#include "headers.h"
#include "http1_semantics.h"
#include "sticky.h"
#include "uconn.h"
#include "upstream.h"
#include "l7_worker.h"

/* Contiguous response bytes: the head buffer's rest, then the queue. */
size_t l7_x_u_input(struct l7_exchange *x, const char **p, unsigned *bid)
{
	struct l7_uconn *u = x->u;
	struct l7_seg *s;

	if (x->rhb.len > x->rhb.off) {
		*p = x->rhb.p + x->rhb.off;
		*bid = L7_NOBID;
		return x->rhb.len - x->rhb.off;
	}
	s = u ? l7_inq_front(&u->in, &x->w->bufs) : NULL;
	if (!s)
		return 0;
	*p = l7_seg_ptr(&x->w->bufs, u->in.head);
	*bid = u->in.head;
	return s->len;
}

void l7_x_u_consume(struct l7_exchange *x, size_t n)
{
	if (x->rhb.len > x->rhb.off)
		x->rhb.off += (uint32_t)n;
	else if (n)
		l7_inq_consume(&x->u->in, &x->w->bufs, n);
}

static size_t u_bytes(const struct l7_exchange *x)
{
	return (x->rhb.len - x->rhb.off) + (x->u ? x->u->in.bytes : 0);
}

static const struct l7_upstream *ucfg(const struct l7_exchange *x)
{
	return x->route->upstream;
}

/* --- the response head --------------------------------------------------------------- */

static enum l7_framing client_framing(struct l7_exchange *x)
{
	const struct http1_head *h = &x->resp.h;

	switch (x->resp_body) {
	case HTTP1_BODY_LENGTH:
		x->resp_left = h->content_length;
		return L7_FRAME_LENGTH;
	case HTTP1_BODY_CHUNKED:
		http1_chunked_init(&x->resp_ck, NULL);
		if (x->h2) {
			/* RFC 9113 §8.2.2: no Transfer-Encoding; DATA frames
			 * carry the de-chunked bytes, END_STREAM ends them */
			x->dechunk = true;
			return L7_FRAME_NONE;
		}
		if (x->req.h.minor == 0) {
			x->dechunk = true;
			x->client_keep = false;
			return L7_FRAME_NONE;
		}
		return L7_FRAME_CHUNKED;
	case HTTP1_BODY_CLOSE:
		x->client_keep = false;
		return L7_FRAME_NONE;
	default:
		/* HEAD and 304 keep the length the server announced. */
		return h->has_content_length ? L7_FRAME_KEEP_LENGTH : L7_FRAME_NONE;
	}
}

static int build_client_head(struct l7_exchange *x)
{
	const struct l7_upstream *up = ucfg(x);
	const struct l7_server *chosen = &up->servers[x->srv_idx];
	struct l7_resp_ctx ctx = {.route = x->route, .resp = &x->resp};
	int n;

	ctx.framing = client_framing(x);
	ctx.content_length = x->resp.h.content_length;
	if (x->w->draining)
		x->client_keep = false; /* SIGTERM came while this request ran */
	if (x->tunnel)
		ctx.conn = L7_CONN_UPGRADE;
	else if (!x->client_keep || !x->up_done)
		ctx.conn = L7_CONN_CLOSE;
	else
		ctx.conn = x->req.h.minor == 0 ? L7_CONN_KEEP_ALIVE : L7_CONN_OMIT;
	if (up->sticky_cookie.len && l7_sticky_must_set(up, x->sticky_named, chosen))
		ctx.set_cookie = chosen;
	for (int i = 0; i < 2; i++) {
		n = l7_build_client_head(x->out_cl, x->out_cl_cap, &ctx);
		if (n != -E2BIG)
			break;
		if (l7_x_out_reserve(&x->out_cl, &x->out_cl_cap, 4 * x->out_cl_cap + 65536) < 0)
			return -ENOMEM;
	}
	return n;
}

static bool retry_status(struct l7_exchange *x)
{
	int s = x->resp.status;
	int cond = s == 502 ? L7_RETRY_502 : s == 503 ? L7_RETRY_503 : s == 504 ? L7_RETRY_504 : -1;

	return cond >= 0 && (ucfg(x)->retry.on & (1u << cond)) && x->replayable &&
	       x->tries < ucfg(x)->retry.tries;
}

static void on_resp_head(struct l7_exchange *x, size_t hlen)
{
	struct l7_gen_upstream *gu = l7_x_upstream(x);
	bool keep = false;
	int n, s = x->resp.status;

	x->t_head_ns = loop_now_ns(x->w->loop);
	metrics_observe(x->w->mw, l7m.h_latency, gu->ms[x->srv_idx].latency,
			x->t_head_ns - x->t_sent_ns);
	metrics_inc(x->w->mw, gu->ms[x->srv_idx].req[l7m_class_of(s)]);
	if (retry_status(x)) {
		int cond = s == 502 ? L7_RETRY_502 : s == 503 ? L7_RETRY_503 : L7_RETRY_504;

		l7_x_upstream_failed(x, s == 504 ? L7_TERM_UPSTREAM_TIMEOUT : L7_TERM_UPSTREAM_BAD,
				     s, cond);
		return;
	}
	l7_server_report(gu->rt.srv[x->srv_idx], true, 0, 0, 0);
	x->resp_body = http1_response_body(&x->resp, x->req.method_id, &keep);
	x->upstream_keep = keep;
	if (x->resp_body == HTTP1_BODY_TUNNEL) {
		if (!x->req.h.upgrade || s != 101) {
			l7_x_upstream_failed(x, L7_TERM_UPSTREAM_BAD, 502, L7_RETRY__COUNT);
			return;
		}
		x->tunnel = true;
	}
	n = build_client_head(x);
	if (n < 0) {
		l7_x_fail(x, L7_TERM_INTERNAL, 500);
		return;
	}
	x->status = (uint16_t)s;
	x->resp_started = true;
	l7_x_u_consume(x, hlen); /* the client head is a copy: the views are done */
	loop_timer_cancel(x->w->loop, &x->t);
	l7_tx_add(&x->tx_cl, x->out_cl, (size_t)n);
	if (x->tunnel) {
		l7_tunnel_start(x);
		return;
	}
	l7_x_set_state(x, L7_XS_BODY);
	l7_x_pump_down(x);
}

/* Parses the response head in place (or in x->rhb once it spans reads). */
static void read_resp_head(struct l7_exchange *x)
{
	const char *p;
	unsigned bid;
	size_t len;
	int r;

	for (;;) {
		if (x->rhb.len > x->rhb.off || (x->u && x->u->in.n > 1)) {
			while (x->u && x->u->in.n) {
				struct l7_seg *sg = l7_inq_front(&x->u->in, &x->w->bufs);

				if (l7_hbuf_append(&x->rhb, l7_seg_ptr(&x->w->bufs, x->u->in.head),
						   sg->len, HTTP1_MAX_LIMIT_BYTES) < 0) {
					l7_x_upstream_failed(x, L7_TERM_UPSTREAM_BAD, 502,
							     L7_RETRY_502);
					return;
				}
				l7_inq_consume(&x->u->in, &x->w->bufs, sg->len);
			}
		}
		len = l7_x_u_input(x, &p, &bid);
		if (!len)
			return;
		r = http1_parse_response(p, len, x->rlast_len, NULL, &x->resp, &x->perr);
		if (r == -EAGAIN) {
			x->rlast_len = len;
			if (bid != L7_NOBID) {
				if (l7_hbuf_append(&x->rhb, p, len, HTTP1_MAX_LIMIT_BYTES) < 0) {
					l7_x_upstream_failed(x, L7_TERM_UPSTREAM_BAD, 502,
							     L7_RETRY_502);
					return;
				}
				l7_x_u_consume(x, len);
			}
			return;
		}
		if (r < 0) {
			log_rl(LOG_LVL_WARN, "conn %llx: bad response from %s: %s",
			       (unsigned long long)x->c->id,
			       l7_x_upstream(x)->rt.srv[x->srv_idx]->addr_text,
			       http1_err_text(x->perr));
			l7_x_upstream_failed(x, L7_TERM_UPSTREAM_BAD, 502, L7_RETRY_502);
			return;
		}
		x->rlast_len = 0;
		if (x->resp.status >= 100 && x->resp.status < 200 && x->resp.status != 101) {
			l7_x_u_consume(x, (size_t)r); /* interim: dropped */
			continue;
		}
		on_resp_head(x, (size_t)r);
		return;
	}
}

/* --- the response body ------------------------------------------------------------------ */

/* A small body right behind the head joins it in the head buffer: one
 * contiguous send, and the receive buffer goes back to the ring at once. */
#define L7_COPY_MAX 4096

static bool join_head(struct l7_exchange *x, const char *p, size_t n)
{
	struct l7_tx *t = &x->tx_cl;
	struct iovec *v = &t->iov[0];

	if (t->niov != 1 || t->first || v->iov_base != (void *)x->out_cl || n > L7_COPY_MAX ||
	    v->iov_len + n > x->out_cl_cap)
		return false;
	memcpy(x->out_cl + v->iov_len, p, n);
	v->iov_len += n;
	t->total += n;
	return true;
}

static void add_out(struct l7_exchange *x, unsigned bid, const char *p, size_t n)
{
	if (join_head(x, p, n)) {
		x->resp_bytes += n;
		return;
	}
	if (bid == L7_NOBID) {
		/* rhb is stable until the exchange ends */
		l7_tx_add(&x->tx_cl, p, n);
	} else {
		l7_tx_add_buf(&x->tx_cl, &x->w->bufs, bid, p, n);
	}
	x->resp_bytes += n;
}

static int fill_length(struct l7_exchange *x)
{
	const char *p;
	unsigned bid;
	size_t len;

	while (x->resp_left && l7_tx_room(&x->tx_cl, 1) && (len = l7_x_u_input(x, &p, &bid)) != 0) {
		size_t n = len < x->resp_left ? len : (size_t)x->resp_left;

		add_out(x, bid, p, n);
		l7_x_u_consume(x, n);
		x->resp_left -= n;
	}
	x->resp_done = x->resp_left == 0;
	return 0;
}

static int fill_chunked(struct l7_exchange *x)
{
	struct http1_span sp[L7_CHUNK_SPANS];
	enum http1_err err;
	const char *p;
	unsigned bid;
	size_t len, ns;
	int r;

	while (!x->resp_done && l7_tx_room(&x->tx_cl, L7_CHUNK_SPANS + 1) &&
	       (len = l7_x_u_input(x, &p, &bid)) != 0) {
		ns = 0;
		r = http1_chunked_feed(&x->resp_ck, p, len, sp, L7_CHUNK_SPANS, &ns, &err);
		if (r < 0) {
			x->perr = err;
			return -EBADMSG;
		}
		if (!x->dechunk) {
			add_out(x, bid, p, (size_t)r); /* validated: forwarded as received */
		} else {
			for (size_t i = 0; i < ns; i++)
				if (sp[i].kind == HTTP1_SPAN_DATA)
					add_out(x, bid, sp[i].ptr, sp[i].len);
		}
		l7_x_u_consume(x, (size_t)r);
		x->resp_done = http1_chunked_done(&x->resp_ck);
	}
	return 0;
}

static void fill_close(struct l7_exchange *x)
{
	const char *p;
	unsigned bid;
	size_t len;

	while (l7_tx_room(&x->tx_cl, 1) && (len = l7_x_u_input(x, &p, &bid)) != 0) {
		add_out(x, bid, p, len);
		l7_x_u_consume(x, len);
	}
	x->resp_done = x->resp_eof && !u_bytes(x);
}

void l7_x_pump_down(struct l7_exchange *x)
{
	int ret = 0;

	if (x->aborted || x->state != L7_XS_BODY || x->tx_cl.busy)
		return;
	switch (x->resp_body) {
	case HTTP1_BODY_LENGTH:
		ret = fill_length(x);
		break;
	case HTTP1_BODY_CHUNKED:
		ret = fill_chunked(x);
		break;
	case HTTP1_BODY_CLOSE:
		fill_close(x);
		break;
	default:
		x->resp_done = true;
		break;
	}
	if (ret < 0) {
		log_rl(LOG_LVL_WARN, "conn %llx: bad chunked body from upstream: %s",
		       (unsigned long long)x->c->id, http1_err_text(x->perr));
		x->term = L7_TERM_UPSTREAM_BAD;
		l7_x_close_client(x, L7_TERM_UPSTREAM_BAD);
		return;
	}
	if (x->u)
		l7_uconn_flow(x->u);
	if (!l7_tx_empty(&x->tx_cl)) {
		/* Nothing follows on a connection that closes after this
		 * response: its FIN can ride on the last segment. Never on a
		 * connection kept alive (nothing would push the rest out). */
		x->tx_cl.cork = x->resp_done && !x->client_keep && !x->h2;
		x->tmode = L7_TM_CLIENT;
		l7_x_arm(x, x->gen->cfg->timeouts.client_body_ms);
		l7_x_send_client(x);
		return;
	}
	if (x->resp_done) {
		x->term = x->term ? x->term : L7_TERM_OK;
		l7_x_finish(x);
		return;
	}
	if (x->resp_eof) {
		/* The server closed before the body was complete: the client
		 * must not take a truncated body for a whole one. */
		log_rl(LOG_LVL_WARN, "conn %llx: upstream closed mid-body",
		       (unsigned long long)x->c->id);
		l7_x_close_client(x, L7_TERM_UPSTREAM_RESET);
		return;
	}
	x->tmode = L7_TM_READ;
	l7_x_arm(x, ucfg(x)->timeouts.read_ms);
}

void l7_x_on_upstream_input(struct l7_exchange *x)
{
	if (x->aborted)
		return;
	switch (x->state) {
	case L7_XS_SEND:
	case L7_XS_WAIT:
		/* The client head goes into tx_cl: wait while 100 Continue is
		 * still being sent (its completion calls here again). */
		if (!x->tx_cl.busy)
			read_resp_head(x);
		break;
	case L7_XS_BODY:
		l7_x_pump_down(x);
		break;
	case L7_XS_TUNNEL:
		l7_tunnel_pump(x);
		break;
	default:
		break;
	}
}

void l7_x_on_upstream_eof(struct l7_exchange *x, int err)
{
	if (x->aborted)
		return;
	x->resp_eof = true;
	switch (x->state) {
	case L7_XS_SEND:
	case L7_XS_WAIT:
		if (err == 0 && u_bytes(x))
			read_resp_head(x); /* a head may end right at the close */
		if (x->state == L7_XS_SEND || x->state == L7_XS_WAIT)
			l7_x_upstream_failed(x, L7_TERM_UPSTREAM_RESET, 502, L7_RETRY_502);
		break;
	case L7_XS_BODY:
		x->upstream_keep = false;
		l7_x_pump_down(x);
		break;
	case L7_XS_TUNNEL:
		l7_tunnel_pump(x);
		break;
	default:
		break;
	}
}
