/* HTTP/2 sessions of client connections (conn_h2.h): the l7_h2 callbacks
 * that start and end stream exchanges, input, output through TLS or the
 * socket, timers, counters and the log line of a session that failed. */
#include "conn_h2.h"

#include <errno.h>
#include <stdlib.h>

#include "log.h"

#include "client.h"
#include "exchange.h"
#include "l7_worker.h"

static struct l7m_listener *lm(const struct l7_conn *c)
{
	return &c->gen->lst[c->li].m;
}

/* --- the session's callbacks ---------------------------------------------------------- */

static void on_request(void *ctx, struct l7_h2_stream *st)
{
	struct l7_conn *c = ctx;

	metrics_inc(c->w->mw, lm(c)->h2_streams);
	/* a stream that raced our decision to close: the client may retry it
	 * on a new connection (RFC 9113 §8.7) */
	if (c->state != L7_CS_H2) {
		l7_h2_reset(st, NGHTTP2_REFUSED_STREAM);
		return;
	}
	c->h2->idle_since_ms = 0;
	if (!l7_xh2_start(c, st))
		l7_h2_reset(st, NGHTTP2_INTERNAL_ERROR);
}

static void on_body(void *ctx, struct l7_h2_stream *st)
{
	if (st->user)
		l7_xh2_on_body(st->user);
}

static void on_room(void *ctx, struct l7_h2_stream *st)
{
	if (st->user)
		l7_xh2_on_room(st->user);
}

static void on_close(void *ctx, struct l7_h2_stream *st, uint32_t code)
{
	struct l7_exchange *x = st->user;

	if (!x)
		return;
	st->user = NULL;
	l7_xh2_on_close(x, code);
}

static uint64_t now_ms(void *ctx)
{
	struct l7_conn *c = ctx;

	return loop_now_ms(c->w->loop);
}

static const struct l7_h2_ops ops = {
    .on_request = on_request,
    .on_body = on_body,
    .on_room = on_room,
    .on_close = on_close,
    .now_ms = now_ms,
};

int l7_ch2_start(struct l7_conn *c)
{
	const struct l7_listener *l = c->gen->lst[c->li].cfg;
	struct l7_ch2 *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->h2 = l7_h2_new(&l->http2, &ops, c, c->id);
	if (!s->h2) {
		free(s);
		return -ENOMEM;
	}
	s->idle_since_ms = loop_now_ms(c->w->loop);
	c->h2 = s;
	metrics_inc(c->w->mw, lm(c)->h2_conns);
	return 0;
}

/* The session's counters, added to the listener's once at the end. */
static void sum_stats(struct l7_conn *c)
{
	const struct l7_h2 *h2 = c->h2->h2;
	struct metrics_worker *mw = c->w->mw;
	struct l7m_listener *m = lm(c);

	if (c->h2->summed)
		return;
	c->h2->summed = true;
	metrics_add(mw, m->h2_ev[L7M_H2_REFUSED], h2->stats.refused);
	metrics_add(mw, m->h2_ev[L7M_H2_RESET_IN], h2->stats.resets_in);
	metrics_add(mw, m->h2_ev[L7M_H2_RESET_OUT], h2->stats.resets_out);
	metrics_add(mw, m->h2_ev[L7M_H2_STALLED], h2->stats.stalled);
	metrics_add(mw, m->h2_ev[L7M_H2_TOO_LARGE], h2->stats.too_large);
	if (h2->err != L7_H2_OK && h2->err < L7_H2_ERR__COUNT)
		metrics_inc(mw, m->h2_err[h2->err]);
}

void l7_ch2_free(struct l7_conn *c)
{
	if (!c->h2)
		return;
	sum_stats(c);
	l7_h2_free(c->h2->h2);
	free(c->h2);
	c->h2 = NULL;
}

/* --- input, output ---------------------------------------------------------------------- */

/* An error or abuse defence ended the session: one line with the reason
 * (nghttp2's own words when it found the violation). */
static void failed(struct l7_conn *c)
{
	const struct l7_h2 *h2 = c->h2->h2;

	log_rl(LOG_LVL_WARN, "conn %llx: listener %s: h2 %s: %s%s%s", (unsigned long long)c->id,
	       c->gen->lst[c->li].cfg->name.ptr, l7_h2_err_name(l7_h2_reason(h2)),
	       l7_h2_err_text(l7_h2_reason(h2)), h2->why[0] ? " - " : "", h2->why);
	l7_conn_close(c, L7_TERM_H2);
}

void l7_ch2_input(struct l7_conn *c)
{
	struct l7_bufs *b = &c->w->bufs;

	while (c->in.n && c->state == L7_CS_H2) {
		struct l7_seg *sg = l7_inq_front(&c->in, b);
		ssize_t r =
		    l7_h2_recv(c->h2->h2, (const uint8_t *)l7_seg_ptr(b, c->in.head), sg->len);

		if (c->state != L7_CS_H2)
			return;
		l7_inq_consume(&c->in, b, sg->len);
		if (r < 0) {
			failed(c);
			return;
		}
	}
	if (c->state != L7_CS_H2)
		return;
	if (c->flags & L7_CF_EOF) {
		l7_conn_close(c, l7_h2_active(c->h2->h2) ? L7_TERM_CLIENT_ABORT
							 : L7_TERM_CLIENT_CLOSED);
		return;
	}
	l7_conn_kick(c);
}

void l7_ch2_to_tls(struct l7_conn *c)
{
	struct l7_h2 *h2 = c->h2->h2;
	struct iovec iov[L7_COUT_IOV];
	unsigned k;

	/* frames into records while the TLS output has room; the rest waits
	 * in h2->out (which holds nghttp2 back: L7_H2_OUT_HIGH) */
	while ((k = l7_h2_out_iov(h2, iov, L7_COUT_IOV)) > 0) {
		size_t taken = 0;
		bool full = false;

		for (unsigned i = 0; i < k && !full; i++) {
			ssize_t r = l7_tls_send(&c->tls->t, iov[i].iov_base, iov[i].iov_len);

			if (r < 0)
				break;
			taken += (size_t)r;
			full = (size_t)r < iov[i].iov_len;
		}
		if (!taken)
			break;
		l7_h2_out_consume(h2, taken);
		if (full)
			break;
	}
}

static void arm_timer(struct l7_conn *c)
{
	struct l7_ch2 *s = c->h2;
	uint64_t now = loop_now_ms(c->w->loop), next = l7_h2_next_timer(s->h2);

	if (l7_h2_active(s->h2)) {
		s->idle_since_ms = 0;
	} else {
		uint64_t idle;

		if (!s->idle_since_ms)
			s->idle_since_ms = now;
		idle = s->idle_since_ms + c->gen->cfg->timeouts.keepalive_ms;
		if (idle < next)
			next = idle;
	}
	if (next == UINT64_MAX)
		loop_timer_cancel(c->w->loop, &c->t);
	else
		l7_conn_timer(c, next > now ? (uint32_t)(next - now) : 1);
}

void l7_ch2_output(struct l7_conn *c)
{
	struct l7_h2 *h2 = c->h2->h2;

	if (c->state != L7_CS_H2)
		return;
	if (c->tls)
		l7_ch2_to_tls(c);
	if (l7_cout_flush(c) < 0) {
		l7_conn_close(c, L7_TERM_INTERNAL);
		return;
	}
	if (l7_h2_done(h2)) {
		/* GOAWAY exchanged and every stream answered: records still in
		 * the TLS output are flushed by the close */
		if (l7_h2_reason(h2) != L7_H2_OK && l7_h2_reason(h2) != L7_H2_ERR_PEER_GOAWAY)
			failed(c);
		else
			l7_conn_close(c, L7_TERM_OK);
		return;
	}
	arm_timer(c);
}

void l7_ch2_on_timer(struct l7_conn *c)
{
	struct l7_ch2 *s = c->h2;
	uint64_t now = loop_now_ms(c->w->loop);

	l7_h2_on_timer(s->h2);
	if (!l7_h2_active(s->h2) && s->idle_since_ms &&
	    now - s->idle_since_ms >= c->gen->cfg->timeouts.keepalive_ms) {
		l7_conn_close(c, L7_TERM_KEEPALIVE_TIMEOUT); /* with a final GOAWAY */
		return;
	}
	l7_ch2_output(c);
}

void l7_ch2_shutdown(struct l7_conn *c, bool graceful)
{
	l7_h2_shutdown(c->h2->h2, graceful);
}

void l7_ch2_abort_all(struct l7_conn *c, int term)
{
	struct l7_h2_stream *st, *next;

	for (st = c->h2->h2->streams; st; st = next) {
		struct l7_exchange *x = st->user;

		next = st->next;
		if (!x)
			continue;
		st->user = NULL;
		x->st = NULL;
		l7_x_abort(x, term);
	}
}
