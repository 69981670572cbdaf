/* Exchange life cycle (exchange.h): request head, routing, responses the
 * proxy writes itself, finish and abort. The upstream half lives in
 * exchange_up.c, the response half in exchange_down.c, tunnels in tunnel.c.
 */
#include "exchange.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#include "client.h"
#include "conn_tls.h"
#include "fwd.h"
#include "h2.h"
#include "l7_log.h"
#include "respond.h"
#include "route.h"
#include "traffic.h"
#include "uconn.h"
#include "l7_worker.h"

#define B(s) (1u << (s))
static const unsigned allowed[L7_XS__COUNT] = {
    [L7_XS_HEAD] = B(L7_XS_CONNECT) | B(L7_XS_LOCAL) | B(L7_XS_DONE),
    [L7_XS_CONNECT] = B(L7_XS_CONNECT) | B(L7_XS_SEND) | B(L7_XS_LOCAL) | B(L7_XS_DONE),
    [L7_XS_SEND] = B(L7_XS_WAIT) | B(L7_XS_BODY) | B(L7_XS_TUNNEL) | B(L7_XS_CONNECT) |
		   B(L7_XS_LOCAL) | B(L7_XS_DONE),
    [L7_XS_WAIT] =
	B(L7_XS_BODY) | B(L7_XS_TUNNEL) | B(L7_XS_CONNECT) | B(L7_XS_LOCAL) | B(L7_XS_DONE),
    [L7_XS_BODY] = B(L7_XS_DONE),
    [L7_XS_LOCAL] = B(L7_XS_DONE),
    [L7_XS_TUNNEL] = B(L7_XS_DONE),
    [L7_XS_DONE] = 0,
};

void l7_x_set_state(struct l7_exchange *x, enum l7_xstate st)
{
	assert(allowed[x->state] & B(st));
	x->state = (uint8_t)st;
}

static void x_on_timer(struct loop *loop, struct timer *t);

int l7_x_out_reserve(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *p;

	if (need <= *cap)
		return 0;
	p = realloc(*buf, need);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = need;
	return 0;
}

void l7_x_arm(struct l7_exchange *x, uint32_t ms)
{
	loop_timer_arm(x->w->loop, &x->t, ms ? ms : 1);
}

/* The listener of the exchange's generation matching the connection's. */
static const struct l7_listener *x_listener(const struct l7_exchange *x)
{
	const struct l7_listener *l = x->c->gen->lst[x->c->li].cfg;

	if (x->gen == x->c->gen)
		return l;
	const struct l7_listener *n = l7_config_listener(x->gen->cfg, l->name.ptr);

	return n ? n : l;
}

static void x_reset(struct l7_exchange *x)
{
	uint8_t *up = x->out_up, *cl = x->out_cl;
	size_t upc = x->out_up_cap, clc = x->out_cl_cap, hcc = x->hcopy_cap;
	char *hc = x->hcopy;

	/* ~1 KiB of small fields; the 9 KiB of parser state after them is
	 * reset by the parsers themselves (a memset per request showed up in
	 * profiles). */
	memset(x, 0, offsetof(struct l7_exchange, req));
	x->out_up = up;
	x->out_cl = cl;
	x->out_up_cap = upc;
	x->out_cl_cap = clc;
	x->hcopy = hc;
	x->hcopy_cap = hcc;
	l7_tx_init(&x->tx_up);
	l7_tx_init(&x->tx_cl);
	timer_init(&x->t, x_on_timer);
	x->srv_idx = -1;
}

struct l7_exchange *l7_x_new(struct l7_conn *c)
{
	struct l7_worker *w = c->w;
	struct l7_exchange *x = l7_worker_x_alloc(w);

	if (!x)
		return NULL;
	x_reset(x);
	if (l7_x_out_reserve(&x->out_up, &x->out_up_cap, L7_XOUT_INIT) < 0 ||
	    l7_x_out_reserve(&x->out_cl, &x->out_cl_cap, L7_XOUT_INIT) < 0) {
		l7_worker_x_free(w, x);
		return NULL;
	}
	x->c = c;
	x->w = w;
	x->gen = l7_worker_gen_hold(w);
	x->t_start_ns = loop_now_ns(w->loop);
	x->state = L7_XS_HEAD;
	return x;
}

struct l7_exchange *l7_x_start(struct l7_conn *c)
{
	struct l7_exchange *x = l7_x_new(c);

	if (!x)
		return NULL;
	c->x = x;
	l7_x_read_head(x);
	return c->x;
}

/* --- the request head ---------------------------------------------------------- */

static size_t head_max(const struct l7_exchange *x)
{
	const struct http1_limits *l = &x->gen->cfg->limits.http1;

	return (size_t)l->max_request_line + l->max_header_bytes + 1024;
}

/* Joins queued segments into the head buffer when the head cannot be parsed
 * in place (it spans reads). Returns 0 or -E2BIG/-ENOMEM. */
static int head_gather(struct l7_exchange *x)
{
	struct l7_conn *c = x->c;
	struct l7_bufs *b = &c->w->bufs;

	while (c->in.n) {
		struct l7_seg *s = l7_inq_front(&c->in, b);
		int ret = l7_hbuf_append(&c->hb, l7_seg_ptr(b, c->in.head), s->len, head_max(x));

		if (ret < 0)
			return ret;
		l7_inq_consume(&c->in, b, s->len);
	}
	return 0;
}

static void on_head(struct l7_exchange *x, size_t len, unsigned bid);

void l7_x_read_head(struct l7_exchange *x)
{
	struct l7_conn *c = x->c;
	const char *p;
	unsigned bid;
	size_t len;
	int ret;

	if (c->hb.len > c->hb.off || c->in.n > 1) {
		if (head_gather(x) < 0) {
			x->perr = HTTP1_ERR_HEADERS_TOO_LARGE;
			l7_x_local_error(x, 431, L7_TERM_BAD_REQUEST, NULL);
			return;
		}
	}
	len = l7_conn_input(c, &p, &bid);
	if (len) {
		ret = http1_parse_request(p, len, x->last_len, &x->gen->cfg->limits.http1, &x->req,
					  &x->perr);
		if (ret > 0) {
			on_head(x, (size_t)ret, bid);
			return;
		}
		if (ret != -EAGAIN) {
			l7_x_local_error(x, http1_err_status(x->perr), L7_TERM_BAD_REQUEST,
					 http1_err_text(x->perr));
			return;
		}
		x->last_len = len;
		if (bid != L7_NOBID && head_gather(x) < 0) {
			x->perr = HTTP1_ERR_HEADERS_TOO_LARGE;
			l7_x_local_error(x, 431, L7_TERM_BAD_REQUEST, NULL);
			return;
		}
	}
	if (c->flags & L7_CF_EOF)
		l7_conn_close(c, len ? L7_TERM_CLIENT_ABORT : L7_TERM_CLIENT_CLOSED);
}

static void fill_ids(struct l7_exchange *x)
{
	struct l7_conn *c = x->c;

	l7_sa_to_addr(&c->peer, &x->client);
	l7_sa_to_addr(&c->local, &x->local);
	x->req_id_len = 0;
	x->req_seq = c->requests;
}

const char *l7_x_request_id(struct l7_exchange *x, size_t *len)
{
	if (!x->req_id_len)
		x->req_id_len = (uint16_t)l7_request_id(x->req_id, sizeof(x->req_id), x->gen->cfg,
							x->c->uid, x->c->uid_len, x->req_seq);
	*len = x->req_id_len;
	return x->req_id;
}

static void rebase(struct http1_view *v, const char *from, char *to)
{
	if (v->ptr)
		v->ptr = to + (v->ptr - from);
}

/* STYLE.md: views are kept only while the buffer is; a request lives
 * longer than its receive buffer should (a slow upstream, a tunnel), and
 * thousands of held buffers would starve the ring that the responses
 * arrive through. So the parsed head (a few hundred bytes) is copied into
 * the exchange and its views moved along; the buffer goes back at once. */
static int keep_head(struct l7_exchange *x, const char *head, size_t len)
{
	struct http1_request *r = &x->req;

	if (l7_x_out_reserve((uint8_t **)&x->hcopy, &x->hcopy_cap, len) < 0)
		return -ENOMEM;
	memcpy(x->hcopy, head, len);
	rebase(&r->method, head, x->hcopy);
	rebase(&r->target, head, x->hcopy);
	rebase(&r->scheme, head, x->hcopy);
	rebase(&r->authority, head, x->hcopy);
	rebase(&r->path, head, x->hcopy);
	rebase(&r->query, head, x->hcopy);
	rebase(&r->host, head, x->hcopy);
	for (unsigned i = 0; i < r->h.nheaders; i++) {
		rebase(&r->h.headers[i].name, head, x->hcopy);
		rebase(&r->h.headers[i].value, head, x->hcopy);
	}
	return 0;
}

static void on_head(struct l7_exchange *x, size_t len, unsigned bid)
{
	struct l7_conn *c = x->c;

	x->head_len = len;
	x->head_done = true;
	x->bytes_in = len;
	if (bid == L7_NOBID) {
		x->head_in_hbuf = true;
		c->hb.off += (uint32_t)len;
	} else {
		if (keep_head(x, l7_seg_ptr(&c->w->bufs, bid), len) < 0) {
			l7_conn_close(c, L7_TERM_INTERNAL);
			return;
		}
		l7_inq_consume(&c->in, &c->w->bufs, len);
	}
	c->requests++;
	l7_conn_head_done(c);
	/* keepalive = 0 means one request per connection: say so up front. */
	x->client_keep = x->req.h.keep_alive && !(c->flags & L7_CF_CLOSE) && !c->w->draining &&
			 x->gen->cfg->timeouts.keepalive_ms;
	l7_x_head_ready(x);
}

void l7_x_head_ready(struct l7_exchange *x)
{
	x->req_body = x->req.h.body;
	x->req_left = x->req.h.content_length;
	x->up_done = x->req_body == HTTP1_BODY_NONE;
	x->replayable = x->up_done;
	if (x->req_body == HTTP1_BODY_CHUNKED)
		http1_chunked_init(&x->req_ck, NULL);
	fill_ids(x);
	/* HTTP/2 only: the stream's head was refused while it was decoded */
	if (x->perr != HTTP1_OK) {
		l7_x_local_error(x, http1_err_status(x->perr), L7_TERM_BAD_REQUEST,
				 http1_err_text(x->perr));
		return;
	}
	l7_x_route(x);
}

/* --- responses the proxy writes itself --------------------------------------------- */

/* RFC 9110 §9.3.2: an answer to HEAD has the head only (its
 * Content-Length still describes the body a GET would get). */
static int head_only(const struct l7_exchange *x, int n)
{
	const uint8_t *end;

	if (n <= 0 || !x->head_done || x->req.method_id != HTTP1_M_HEAD)
		return n;
	end = memmem(x->out_cl, (size_t)n, "\r\n\r\n", 4);
	return end ? (int)(end + 4 - x->out_cl) : n;
}

static void send_local(struct l7_exchange *x, int n, int status, bool close)
{
	n = head_only(x, n);
	if (n < 0) {
		l7_x_close_client(x, L7_TERM_INTERNAL);
		return;
	}
	x->status = (uint16_t)status;
	x->local_close = close;
	l7_x_set_state(x, L7_XS_LOCAL);
	l7_tx_add(&x->tx_cl, x->out_cl, (size_t)n);
	x->resp_started = true;
	l7_x_send_client(x);
}

void l7_x_local_error(struct l7_exchange *x, int status, int term, const char *why)
{
	/* A refused head, an unread body or a client that asked for it: close
	 * after the answer, lingering so the answer is read. */
	bool close = term == L7_TERM_BAD_REQUEST || term == L7_TERM_BAD_BODY ||
		     term == L7_TERM_TOO_LARGE || !x->up_done || !x->client_keep;
	int n;

	if (x->c->state == L7_CS_HEAD)
		l7_conn_head_done(x->c); /* a refused head: the answer is this exchange's */
	x->term = (uint8_t)term;
	log_rl(LOG_LVL_WARN, "conn %llx: %d %s: %s", (unsigned long long)x->c->id, status,
	       l7_term_name((enum l7_term)term), why ? why : l7_term_text((enum l7_term)term));
	if (x->u)
		l7_x_release_upstream(x, false);
	n = l7_respond_error(x->out_cl, x->out_cl_cap, status, why, close);
	send_local(x, n, status, close);
}

static void answer_health(struct l7_exchange *x, const struct l7_listener *l)
{
	bool head = x->req.method_id == HTTP1_M_HEAD;
	bool down = atomic_load(&l7_proc.health_drain) || x->w->draining;
	int n;

	x->term = L7_TERM_HEALTH;
	if (x->req.path.len != l->health_path.len ||
	    memcmp(x->req.path.ptr, l->health_path.ptr, l->health_path.len) != 0) {
		l7_x_local_error(x, 404, L7_TERM_NO_ROUTE, "not the health path");
		return;
	}
	/* 503 while draining: strata-l4 stops sending new connections here. */
	if (down)
		n = l7_respond_error(x->out_cl, x->out_cl_cap, 503, "draining", !x->client_keep);
	else
		n = l7_respond_health(x->out_cl, x->out_cl_cap, head, !x->client_keep);
	send_local(x, n, down ? 503 : 200, !x->client_keep);
}

static void answer_route(struct l7_exchange *x, const struct l7_route *r, const char *host,
			 size_t host_len)
{
	bool head = x->req.method_id == HTTP1_M_HEAD;
	bool close = !x->client_keep || !x->up_done;
	int n;

	x->term = L7_TERM_LOCAL;
	if (r->action == L7_ACT_RESPOND)
		n = l7_respond_fixed(x->out_cl, x->out_cl_cap, r, head, close);
	else
		n = l7_respond_redirect(x->out_cl, x->out_cl_cap, r, &x->req, host, host_len, head,
					close);
	send_local(x, n, r->action == L7_ACT_RESPOND ? r->respond.status : r->redirect.status,
		   close);
}

/* RFC 6585 §4: 429 with Retry-After and the RateLimit fields
 * (ratelimit.h); true when the route's limits refused the request. */
static bool rate_limited(struct l7_exchange *x)
{
	struct l7_rl_result res;
	const struct l7_rl_policy *p = l7_traffic_rate_check(x, &res);
	bool close = !x->client_keep || !x->up_done;
	int n;

	if (!p)
		return false;
	x->term = L7_TERM_RATE_LIMITED;
	n = l7_rl_respond_429(x->out_cl, x->out_cl_cap, p, &res, close);
	send_local(x, n, 429, close);
	return true;
}

/* A split route: the exchange continues on the chosen side's copy of the
 * route. False when it was answered (no side takes requests: 503). */
static bool split_side(struct l7_exchange *x)
{
	int side = l7_traffic_split_pick(x);

	if (side < 0) {
		l7_x_local_error(x, 503, L7_TERM_NO_SERVER, "no side of the split takes requests");
		return false;
	}
	x->route = &x->route->split_routes[side];
	return true;
}

void l7_x_route(struct l7_exchange *x)
{
	const struct l7_listener *l = x_listener(x);
	char host[L7_HOST_MAX + 1];
	struct l7_match_ctx mc;

	if (x->c->flags & L7_CF_LOCAL) {
		answer_health(x, l);
		return;
	}
	mc.host_len = l7_host_normalize(x->req.host.ptr, x->req.host.len, host);
	mc.host = host;
	mc.client = &x->client;
	x->route = l7_route_match(x->gen->cfg, l, &x->req, &mc);
	if (!x->route) {
		l7_x_local_error(x, 404, L7_TERM_NO_ROUTE, NULL);
		return;
	}
	if (x->route->n_rate_limits && rate_limited(x))
		return;
	if (x->route->action == L7_ACT_SPLIT && !split_side(x))
		return;
	if (x->route->action != L7_ACT_UPSTREAM) {
		answer_route(x, x->route, host, mc.host_len);
		return;
	}
	if (x->route->max_body && x->req.h.has_content_length &&
	    x->req.h.content_length > x->route->max_body) {
		l7_x_local_error(x, 413, L7_TERM_TOO_LARGE, NULL);
		return;
	}
	x->up_idx = x->route->upstream->index;
	l7_x_begin_upstream(x);
}

static void x_on_timer(struct loop *loop, struct timer *t)
{
	struct l7_exchange *x = timer_owner(t, struct l7_exchange, t);

	l7_x_on_timeout(x);
}

/* --- the end -----------------------------------------------------------------------------------
 */

static void x_release(struct l7_exchange *x)
{
	struct l7_bufs *b = &x->w->bufs;

	loop_timer_cancel(x->w->loop, &x->t);
	l7_traffic_req_end(x);
	l7_hbuf_free(&x->body);
	l7_hbuf_free(&x->rhb);
	free(x->stage);
	x->stage = NULL;
	if (!x->tx_cl.busy)
		l7_tx_clear(&x->tx_cl, b);
	if (!x->tx_up.busy)
		l7_tx_clear(&x->tx_up, b);
}

void l7_x_maybe_free(struct l7_exchange *x)
{
	if (x->pending)
		return;
	x_release(x);
	if (x->u) {
		x->u->x = NULL;
		x->u = NULL;
	}
	if (x->c && x->c->x == x)
		x->c->x = NULL;
	l7_worker_gen_release(x->w, x->gen);
	x->gen = NULL;
	l7_worker_x_free(x->w, x);
}

void l7_x_finish(struct l7_exchange *x)
{
	struct l7_conn *c = x->c;
	/* A body not read to its end (the upstream answered early) leaves
	 * bytes that must never be taken for the next request: close. */
	bool keep = x->client_keep && !x->local_close && x->up_done;
	bool linger = !x->up_done;

	if (x->u)
		l7_x_release_upstream(x, x->upstream_keep && x->up_done && !x->tunnel &&
					     x->rhb.len == x->rhb.off);
	l7_x_set_state(x, L7_XS_DONE);
	l7_log_exchange(x);
	x->aborted = true; /* nothing but sends in flight matter now */
	if (x->h2) {
		/* HTTP/2: the stream ends; the connection is the session's */
		l7_xh2_end(x);
		x->c = NULL;
		x->detached = true;
		l7_x_maybe_free(x);
		return;
	}
	x->c = NULL;
	x->detached = true;
	c->x = NULL;
	l7_x_maybe_free(x);
	l7_conn_exchange_done(c, keep, linger || (!keep && l7_conn_input_bytes(c)));
}

void l7_x_abort(struct l7_exchange *x, int term)
{
	if (x->aborted)
		return;
	if (!x->term || term != L7_TERM_OK)
		x->term = (uint8_t)term;
	if (x->u)
		l7_x_release_upstream(x, false);
	if (x->state != L7_XS_DONE)
		x->state = L7_XS_DONE;
	if (x->head_done || term != L7_TERM_CLIENT_CLOSED)
		l7_log_exchange(x);
	x->aborted = true;
	if (x->h2) {
		/* HTTP/2: several exchanges share the connection, which may go
		 * before their upstream sends come back: forget it now */
		if (x->st)
			x->st->user = NULL;
		x->st = NULL;
		x->c = NULL;
	}
	l7_x_maybe_free(x);
}
