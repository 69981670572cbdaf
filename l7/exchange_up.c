/* The upstream half of an exchange: server choice, connection, the request
 * head and body going up, retries (next_upstream) and timeouts.
 *
 * Retries follow nginx's proxy_next_upstream: only before any response
 * byte reached the client, only for idempotent methods (RFC 9110 §9.2.2),
 * only for requests that can be sent again (no body, a small body that came
 * with its head, or a body buffered whole with buffer_request), at most
 * retry.tries attempts in all and none started after retry.deadline. A
 * pooled connection that fails before any response byte is retried on a
 * fresh connection to the same server (twice at most) without counting as
 * an attempt: the server closed an idle connection, which says nothing
 * about its health.
 */
#include <errno.h>
#include <string.h>

#include "log.h"

#include "client.h"
#include "conn_tls.h"
#include "exchange.h"
#include "tls_ctx.h"
#include "headers.h"
#include "respond.h"
#include "sticky.h"
#include "traffic.h"
#include "traffic_pick.h"
#include "uconn.h"
#include "upstream.h"
#include "l7_worker.h"

struct l7_gen_upstream *l7_x_upstream(const struct l7_exchange *x)
{
	return &x->gen->ups[x->up_idx];
}

static const struct l7_upstream *ucfg(const struct l7_exchange *x)
{
	return x->route->upstream;
}

static bool method_idempotent(unsigned m)
{
	return m == HTTP1_M_GET || m == HTTP1_M_HEAD || m == HTTP1_M_PUT || m == HTTP1_M_DELETE ||
	       m == HTTP1_M_OPTIONS || m == HTTP1_M_TRACE;
}

static void send_continue(struct l7_exchange *x)
{
	/* RFC 9110 §10.1.1: the proxy answers the expectation itself (the
	 * upstream never sees Expect), once it knows it will read the body.
	 * A constant, so the client head can be built while it is sent. */
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (l7_x_body_at_hand(x))
		return;
	x->continue_sent = true;
	l7_tx_add(&x->tx_cl, cont, sizeof(cont) - 1);
	l7_x_send_client(x);
}

void l7_x_begin_upstream(struct l7_exchange *x)
{
	const struct l7_upstream *up = ucfg(x);

	if (up->sticky_cookie.len)
		x->sticky_named = l7_sticky_server(up, &x->req);
	if (up->balance == BALANCE_MAGLEV)
		x->hash_key = l7_hash_request(up, &x->req, &x->client);
	x->t_first_ms = loop_now_ms(x->w->loop);
	if (!l7_traffic_req_begin(x)) {
		/* max_requests: fail fast rather than queue (Envoy's circuit
		 * breaker thresholds) */
		l7_x_local_error(x, 503, L7_TERM_OVERFLOW, NULL);
		return;
	}
	if (x->req.h.expect_continue && !x->up_done)
		send_continue(x);
	/* A small body that came with its head is copied too: the request can
	 * then be sent again if a pooled connection turns out stale. */
	if (!x->up_done && (x->route->buffer_request ||
			    (x->req_body == HTTP1_BODY_LENGTH && x->req_left <= L7_REPLAY_MAX &&
			     l7_x_body_at_hand(x) >= x->req_left))) {
		x->buffering = true;
		l7_x_pump_up(x);
		return;
	}
	l7_x_connect(x);
}

/* --- choosing and connecting ------------------------------------------------------- */

static int pick(void *ctx, const bool *excluded)
{
	struct l7_exchange *x = ctx;
	struct l7_gen_upstream *gu = l7_x_upstream(x);
	const struct l7_upstream *up = ucfg(x);

	if (x->sticky_named && x->tries == 0) {
		uint32_t i = x->sticky_named->index;

		if (l7_server_available(gu->rt.srv[i]) && up->servers[i].weight)
			return (int)i;
	}
	return l7_up_rt_pick(&gu->rt, x->w->index, x->hash_key, excluded);
}

static bool admit(void *ctx, int idx)
{
	struct l7_exchange *x = ctx;

	if (l7_traffic_brk_allow(x, idx))
		return true;
	x->sticky_named = NULL; /* refused: the balancer chooses among the others */
	return false;
}

/* A server whose breaker admits the attempt: an open one is skipped
 * (on_open = next) or ends the search (fail). -1 with *rejected when a
 * breaker turned the last candidate away. */
static int pick_admitted(struct l7_exchange *x, bool *rejected)
{
	const struct l7_upstream *up = ucfg(x);

	return l7_pick_admitted(&x->tried, up->n_servers,
				up->breaker.on_open == L7_BRK_ON_OPEN_FAIL, pick, admit, x,
				rejected);
}

void l7_x_release_upstream(struct l7_exchange *x, bool reusable)
{
	struct l7_uconn *u = x->u;
	struct l7_gen_upstream *gu = l7_x_upstream(x);

	loop_timer_cancel(x->w->loop, &x->t);
	l7_traffic_outcome(x, false);
	l7_traffic_pending_end(x);
	if (x->srv_active) {
		struct l7_server_rt *srv = gu->rt.srv[x->srv_idx];

		balance_conn_end(&srv->live);
		metrics_dec(x->w->mw, gu->ms[x->srv_idx].active);
		x->srv_active = false;
	}
	if (!u || x->u_closing)
		return;
	if (reusable && !x->tx_up.busy) {
		l7_uconn_release(u, true, ucfg(x)->pool.max_requests, x->gen == x->w->gen);
		x->u = NULL;
		return;
	}
	l7_uconn_close(u);
	if (x->tx_up.busy) {
		x->u_closing = true; /* its send still reports here */
		return;
	}
	u->x = NULL;
	x->u = NULL;
}

void l7_x_fail(struct l7_exchange *x, int term, int status)
{
	if (x->resp_started) {
		log_rl(LOG_LVL_WARN, "conn %llx: %s after the response started",
		       (unsigned long long)x->c->id, l7_term_text((enum l7_term)term));
		x->term = (uint8_t)term;
		l7_x_close_client(x, term);
		return;
	}
	l7_x_local_error(x, status, term, l7_term_text((enum l7_term)term));
}

static void no_server(struct l7_exchange *x, bool rejected)
{
	if (x->tries && x->fail_term) {
		/* Everything tried failed: answer with what the last one did. */
		l7_x_fail(x, x->fail_term, x->fail_status);
		return;
	}
	metrics_inc(x->w->mw, l7_x_upstream(x)->m.no_server);
	l7_x_fail(x, rejected ? L7_TERM_BREAKER_OPEN : L7_TERM_NO_SERVER, 503);
}

void l7_x_connect(struct l7_exchange *x)
{
	struct l7_gen_upstream *gu = l7_x_upstream(x);
	struct l7_server_rt *srv;
	bool ready, rejected;
	int idx, err;

	/* A new attempt starts from a clean response side. */
	x->resp_eof = false;
	l7_hbuf_free(&x->rhb);
	x->rlast_len = 0;
	x->t_head_ns = 0; /* the breaker judges this attempt's head */
	idx = pick_admitted(x, &rejected);
	if (idx < 0) {
		no_server(x, rejected);
		return;
	}
	x->srv_idx = idx;
	l7_tried_add(&x->tried, ucfg(x)->n_servers, (uint32_t)idx);
	x->tries++;
	srv = gu->rt.srv[idx];
	balance_conn_begin(&srv->live);
	metrics_inc(x->w->mw, gu->ms[idx].active);
	x->srv_active = true;
	if (x->state != L7_XS_CONNECT)
		l7_x_set_state(x, L7_XS_CONNECT);
	x->u = l7_uconn_get(x->w, x, srv, ucfg(x)->timeouts.connect_ms, x->fresh, &ready, &err);
	x->fresh = false;
	if (!x->u) {
		log_rl(LOG_LVL_ERR, "conn %llx: cannot open an upstream connection: %s",
		       (unsigned long long)x->c->id, strerror(-err));
		l7_x_upstream_failed(x, L7_TERM_CONNECT_ERROR, 502, L7_RETRY_CONNECT_ERROR);
		return;
	}
	if (!ready && !l7_traffic_pending_begin(x)) {
		l7_x_release_upstream(x, false);
		l7_x_fail(x, L7_TERM_OVERFLOW, 503);
		return;
	}
	atomic_fetch_add_explicit(&srv->requests, 1, memory_order_relaxed);
	if (x->u->reused) {
		atomic_fetch_add_explicit(&srv->conns_reused, 1, memory_order_relaxed);
		metrics_inc(x->w->mw, gu->ms[idx].pool_hits);
	} else {
		atomic_fetch_add_explicit(&srv->conns_opened, 1, memory_order_relaxed);
		metrics_inc(x->w->mw, gu->ms[idx].pool_misses);
	}
	if (ready) {
		/* A pooled connection: no time passed since the head arrived
		 * worth a clock read (they cost in a VM). */
		x->t_sent_ns = x->body.p ? loop_now_ns(x->w->loop) : x->t_start_ns;
		l7_x_on_connected(x, 0);
	}
}

/* Retry or give up after a failed attempt. */
void l7_x_upstream_failed(struct l7_exchange *x, int term, int status, int cond)
{
	const struct l7_upstream *up = ucfg(x);
	struct l7_gen_upstream *gu = l7_x_upstream(x);
	bool reused = x->u && x->u->reused;
	uint64_t now = loop_now_ms(x->w->loop);
	bool stale = reused && term == L7_TERM_UPSTREAM_RESET && x->stale_retries < 2;
	int idx = x->srv_idx;

	uint32_t backoff = 0;

	/* a stale pooled connection says nothing about the server's health */
	l7_traffic_outcome(x, !stale);
	if (idx >= 0 && !stale) {
		metrics_inc(x->w->mw, gu->ms[idx].failures);
		l7_server_report(gu->rt.srv[idx], false, up->passive.failures,
				 up->passive.cooldown_ms, now);
	}
	if (x->u)
		l7_x_release_upstream(x, false);
	x->fail_term = (uint8_t)term;
	x->fail_status = (uint16_t)status;
	if (x->resp_started || !x->replayable || x->aborted) {
		l7_x_fail(x, term, status);
		return;
	}
	if (stale) {
		x->stale_retries++;
		x->tries--;
		x->fresh = true;
		if (idx >= 0)
			l7_tried_forget(&x->tried, up->n_servers, (uint32_t)idx);
	} else if (!(up->retry.on & (1u << cond)) || x->tries >= up->retry.tries ||
		   now - x->t_first_ms >= up->retry.deadline_ms ||
		   !method_idempotent(x->req.method_id)) {
		l7_x_fail(x, term, status);
		return;
	} else if (!l7_traffic_retry_begin(x, &backoff)) {
		log_rl(LOG_LVL_INFO, "conn %llx: %s on %s, retry budget of %s spent",
		       (unsigned long long)x->c->id, l7_term_name((enum l7_term)term),
		       up->servers[idx >= 0 ? idx : 0].name.ptr, up->name.ptr);
		l7_x_fail(x, term, status);
		return;
	} else {
		metrics_inc(x->w->mw, gu->m.retries);
		log_rl(LOG_LVL_INFO, "conn %llx: %s on %s, retrying (attempt %u of %u)",
		       (unsigned long long)x->c->id, l7_term_name((enum l7_term)term),
		       up->servers[idx >= 0 ? idx : 0].name.ptr, x->tries + 1, up->retry.tries);
	}
	x->backoff_ms = backoff;
	if (x->tx_up.busy || x->u_closing) {
		x->retry_pending = true; /* the send completion clears tx_up */
		return;
	}
	l7_tx_clear(&x->tx_up, &x->w->bufs);
	l7_x_retry(x);
}

void l7_x_retry(struct l7_exchange *x)
{
	uint32_t ms = x->backoff_ms;

	x->backoff_ms = 0;
	if (!ms) {
		l7_x_connect(x);
		return;
	}
	/* full jitter (retry_budget.h) on the exchange's own timer */
	if (x->state != L7_XS_CONNECT)
		l7_x_set_state(x, L7_XS_CONNECT);
	x->tmode = L7_TM_BACKOFF;
	l7_x_arm(x, ms);
}

/* --- the request head --------------------------------------------------------------- */

static int build_head(struct l7_exchange *x)
{
	struct l7_conn *c = x->c;
	struct l7_req_ctx ctx = {
	    .snap = x->gen->cfg,
	    .listener = c->gen->lst[c->li].cfg,
	    .route = x->route,
	    .req = &x->req,
	    .client = &x->client,
	    .local = (c->flags & L7_CF_HAS_DST) ? &x->local : NULL,
	    .unique_id = c->uid,
	    .unique_id_len = c->uid_len,
	    .request_seq = c->requests,
	    .https = c->tls != NULL,
	};
	int n;

	if (ctx.listener->fwd & (1u << L7_FWD_REQUEST_ID))
		ctx.request_id = l7_x_request_id(x, &ctx.request_id_len);
	if (c->tls && c->tls->t.set->subject_header) {
		/* mTLS: only the verified subject crosses, never a client's copy */
		ctx.subject_name = c->tls->t.set->subject_header;
		ctx.subject_name_len = strlen(ctx.subject_name);
		ctx.subject = c->tls->subject;
		ctx.subject_len = c->tls->subject_len;
	}
	if (x->req.h.upgrade) {
		ctx.conn = L7_CONN_UPGRADE;
	} else {
		ctx.conn = L7_CONN_OMIT; /* HTTP/1.1: persistent by default */
	}
	if (x->body.p || (x->route->buffer_request && x->req_body != HTTP1_BODY_NONE)) {
		ctx.framing = L7_FRAME_LENGTH;
		ctx.content_length = x->body.len;
	} else if (x->req_body == HTTP1_BODY_LENGTH) {
		ctx.framing = L7_FRAME_LENGTH;
		ctx.content_length = x->req.h.content_length;
	} else if (x->req_body == HTTP1_BODY_CHUNKED) {
		ctx.framing = L7_FRAME_CHUNKED;
	}
	for (int i = 0; i < 2; i++) {
		n = l7_build_upstream_head(x->out_up, x->out_up_cap, &ctx);
		if (n != -E2BIG)
			break;
		if (l7_x_out_reserve(&x->out_up, &x->out_up_cap,
				     2 * (x->head_len + L7_HEAD_EXTRA) + 65536) < 0)
			return -ENOMEM;
	}
	return n;
}

void l7_x_on_connected(struct l7_exchange *x, int res)
{
	struct l7_gen_upstream *gu = l7_x_upstream(x);
	int n;

	if (x->aborted)
		return;
	l7_traffic_pending_end(x);
	if (res < 0) {
		bool timeout = res == -ETIMEDOUT;

		metrics_inc(x->w->mw, gu->ms[x->srv_idx].connect_errors);
		log_rl(LOG_LVL_WARN, "conn %llx: connect to %s: %s", (unsigned long long)x->c->id,
		       gu->rt.srv[x->srv_idx]->addr_text, strerror(-res));
		l7_x_upstream_failed(x, timeout ? L7_TERM_CONNECT_TIMEOUT : L7_TERM_CONNECT_ERROR,
				     timeout ? 504 : 502,
				     timeout ? L7_RETRY_TIMEOUT : L7_RETRY_CONNECT_ERROR);
		return;
	}
	n = build_head(x);
	if (n < 0) {
		l7_x_fail(x, L7_TERM_INTERNAL, 500);
		return;
	}
	x->out_up_len = (size_t)n;
	l7_x_set_state(x, L7_XS_SEND);
	l7_tx_add(&x->tx_up, x->out_up, (size_t)n);
	if (x->body.p)
		l7_tx_add(&x->tx_up, x->body.p, x->body.len);
	if (x->t_sent_ns != x->t_start_ns || x->tries > 1)
		x->t_sent_ns = loop_now_ns(x->w->loop);
	l7_x_pump_up(x);
}

void l7_x_on_timeout(struct l7_exchange *x)
{
	if (x->aborted)
		return;
	switch (x->tmode) {
	case L7_TM_SEND:
		l7_x_upstream_failed(x, L7_TERM_SEND_TIMEOUT, 504, L7_RETRY_TIMEOUT);
		break;
	case L7_TM_READ:
		l7_x_upstream_failed(x, L7_TERM_UPSTREAM_TIMEOUT, 504, L7_RETRY_TIMEOUT);
		break;
	case L7_TM_CLIENT:
		l7_x_close_client(x, L7_TERM_CLIENT_STALLED);
		break;
	case L7_TM_BODY:
		l7_x_close_client(x, L7_TERM_BODY_TIMEOUT);
		break;
	case L7_TM_BACKOFF:
		x->tmode = L7_TM_NONE;
		l7_x_connect(x);
		break;
	default:
		break;
	}
}
