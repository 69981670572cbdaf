/* The end of a client connection's exchanges and of the connection itself
 * (client.h): keep-alive or close, lingering close, the FLUSH of the last
 * TLS records and HTTP/2 frames, the socket's close through the ring, and
 * the on_free that releases everything once nothing is in flight. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#include "client.h"
#include "conn_h2.h"
#include "conn_tls.h"
#include "exchange.h"
#include "l7_worker.h"
#include "traffic.h"

static const struct l7_timeouts *timeouts(const struct l7_conn *c)
{
	return &c->gen->cfg->timeouts;
}

static void hbuf_after_exchange(struct l7_conn *c)
{
	size_t left = c->hb.len - c->hb.off;

	if (!left) {
		l7_hbuf_free(&c->hb);
		return;
	}
	memmove(c->hb.p, c->hb.p + c->hb.off, left);
	c->hb.len = (uint32_t)left;
	c->hb.off = 0;
}

/* The client may still be sending (an error cut its request short): close
 * only after it stops, so our answer is not destroyed by a reset (RFC 9112
 * §9.6, "lingering close"). */
static void start_linger(struct l7_conn *c)
{
	struct l7_worker *w = c->w;

	l7_conn_set_state(c, L7_CS_LINGER);
	l7_inq_clear(&c->in, &w->bufs);
	l7_hbuf_free(&c->hb);
	loop_prep_shutdown(w->loop, c->slot, L7_COP_SHUT, c->fd, SHUT_WR);
	l7_conn_timer(c, L7_LINGER_MS);
	c->flags &= (uint8_t)~L7_CF_PAUSED;
	if (!(c->flags & L7_CF_RECV) && l7_conn_arm_recv(c) < 0)
		l7_conn_close(c, L7_TERM_OK);
}

/* The usual end of a connection: nothing in flight but the multishot recv
 * (or not even that, when the client's FIN ended it). shutdown(2) wakes
 * that recv, whose last completion is then a plain 0, and sends the FIN
 * the close would have sent, with a corked last response (l7_tx cork) in
 * the same segment: no cancel request, which costs the kernel a search of
 * the ring's requests (by descriptor: all of them) and two completions.
 * Anything else in flight (a send, a recv parked in the loop for want of
 * buffers) is still cancelled; the FIN has left all the same, so a corked
 * response is not lost to the reset a close with unread input sends. */
static bool end_by_shutdown(struct l7_conn *c)
{
	struct loop *loop = c->w->loop;
	unsigned n = loop_slot_inflight(loop, c->slot);
	bool only_recv = n == 1 && (c->flags & L7_CF_RECV) && !loop_slot_parked(loop, c->slot);
	bool shut = !(c->flags & L7_CF_DEAD) && shutdown(c->fd, SHUT_RDWR) == 0;

	return n == 0 || (only_recv && shut);
}

static void close_now(struct l7_conn *c)
{
	struct l7_worker *w = c->w;

	c->state = L7_CS_CLOSING;
	loop_timer_cancel(w->loop, &c->t);
	l7_inq_clear(&c->in, &w->bufs);
	l7_hbuf_free(&c->hb);
	/* The recv ended by shutdown(2), or one cancel for every request on
	 * the socket; the close goes through the ring (batched with the
	 * turn's other requests): on_free runs once all of them are back. */
	if (!end_by_shutdown(c) && loop_prep_cancel_fd(w->loop, c->slot, c->fd) < 0)
		loop_prep_cancel_slot(w->loop, c->slot);
	if (loop_prep_close(w->loop, c->slot, L7_COP_CLOSE, c->fd) == 0)
		c->fd = -1;
	loop_slot_close(w->loop, c->slot);
}

/* TLS and HTTP/2 end with something to send: close_notify (RFC 8446
 * §6.1), the final GOAWAY (RFC 9113 §6.8), the records of the last
 * response. True when there is, and the socket can still take it. */
static bool prepare_flush(struct l7_conn *c)
{
	if (c->flags & L7_CF_DEAD)
		return false;
	if (c->h2)
		l7_ch2_shutdown(c, false);
	l7_conn_flush_tls(c);
	return l7_cout_bytes(c) || l7_cout_busy(c);
}

void l7_conn_flush_tls(struct l7_conn *c)
{
	/* the GOAWAY goes into records first: close_notify is the last one */
	if (c->h2 && c->tls)
		l7_ch2_to_tls(c);
	if (c->tls && l7_tls_is_open(&c->tls->t) && (!c->h2 || !l7_h2_out_bytes(c->h2->h2)))
		l7_tls_close(&c->tls->t);
}

static void conn_end(struct l7_conn *c, int term, bool linger)
{
	if (c->state == L7_CS_CLOSING)
		return;
	if (c->state == L7_CS_FLUSH || c->state == L7_CS_LINGER) {
		close_now(c); /* ending again while finishing: stop now */
		return;
	}
	/* A TLS or HTTP/2 failure with no exchange to carry the reason into
	 * the termination counters is counted for the connection itself. */
	if ((term == L7_TERM_TLS || term == L7_TERM_H2) && !c->x &&
	    !(c->h2 && l7_h2_active(c->h2->h2)))
		metrics_inc(c->w->mw, l7m.term[term]);
	/* The exchange frees itself once its sends in flight are back; until
	 * then c->x still routes their completions to it. */
	if (c->x)
		l7_x_abort(c->x, term);
	if (c->h2)
		l7_ch2_abort_all(c, term);
	c->term = (uint8_t)term;
	if (prepare_flush(c)) {
		l7_conn_set_state(c, L7_CS_FLUSH);
		c->end_linger = linger && !(c->flags & L7_CF_EOF);
		l7_inq_clear(&c->in, &c->w->bufs);
		l7_hbuf_free(&c->hb);
		l7_conn_timer(c, timeouts(c)->client_body_ms);
		if (l7_cout_flush(c) < 0)
			close_now(c);
		return;
	}
	if (linger && !(c->flags & L7_CF_EOF)) {
		start_linger(c);
		return;
	}
	close_now(c);
}

void l7_conn_close(struct l7_conn *c, int term)
{
	conn_end(c, term, false);
}

void l7_conn_flushed(struct l7_conn *c)
{
	if (c->end_linger && !(c->flags & (L7_CF_EOF | L7_CF_DEAD)))
		start_linger(c);
	else
		close_now(c);
}

void l7_conn_exchange_done(struct l7_conn *c, bool keep_alive, bool linger)
{
	struct l7_worker *w = c->w;

	if (c->state == L7_CS_CLOSING)
		return;
	hbuf_after_exchange(c);
	if (!keep_alive || (c->flags & L7_CF_CLOSE) || w->draining) {
		conn_end(c, L7_TERM_OK, linger && c->state != L7_CS_TUNNEL);
		return;
	}
	if (l7_conn_input_bytes(c) || (c->flags & L7_CF_EOF)) {
		l7_conn_set_state(c, L7_CS_HEAD);
		l7_conn_timer(c, timeouts(c)->client_header_ms);
		c->x = l7_x_start(c);
		if (!c->x)
			l7_conn_close(c, L7_TERM_INTERNAL);
		else
			l7_conn_flow(c);
		return;
	}
	l7_conn_set_state(c, L7_CS_IDLE);
	l7_conn_timer(c, timeouts(c)->keepalive_ms);
	l7_conn_flow(c);
}

void l7_conn_head_done(struct l7_conn *c)
{
	l7_conn_set_state(c, L7_CS_BUSY);
	loop_timer_cancel(c->w->loop, &c->t);
}

void l7_conn_body_timer(struct l7_conn *c, bool waiting)
{
	if (waiting)
		l7_conn_timer(c, timeouts(c)->client_body_ms);
	else
		loop_timer_cancel(c->w->loop, &c->t);
}

void l7_conn_to_tunnel(struct l7_conn *c)
{
	l7_conn_set_state(c, L7_CS_TUNNEL);
	loop_timer_cancel(c->w->loop, &c->t);
}

void l7_conn_kick(struct l7_conn *c)
{
	struct l7_worker *w = c->w;

	if ((c->flags & L7_CF_KICK) || c->state == L7_CS_CLOSING)
		return;
	c->flags |= L7_CF_KICK;
	c->kick_next = w->kick_list;
	w->kick_list = c;
	if (!timer_is_armed(&w->flush_t))
		loop_timer_arm(w->loop, &w->flush_t, 0);
}

static void unkick(struct l7_conn *c)
{
	struct l7_conn **p = &c->w->kick_list;

	while (*p && *p != c)
		p = &(*p)->kick_next;
	if (*p)
		*p = c->kick_next;
	c->flags &= (uint8_t)~L7_CF_KICK;
}

void l7_conn_on_free(struct loop *loop, void *obj)
{
	struct l7_conn *c = obj;
	struct l7_worker *w = c->w;

	if (c->fd >= 0)
		close(c->fd);
	if (c->flags & L7_CF_KICK)
		unkick(c);
	if (c->x) /* an aborted exchange still waits for an upstream send */
		c->x->c = NULL;
	l7_inq_clear(&c->in, &w->bufs);
	l7_ch2_free(c);
	l7_ctls_free(c);
	metrics_dec(w->mw, c->gen->lst[c->li].m.active);
	l7_traffic_conn_release(c->cl_ticket);
	l7_gen_put(c->gen);
	free(c->uid);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns--;
	atomic_fetch_sub_explicit(&l7_proc.nconns, 1, memory_order_relaxed);
	l7_worker_conn_free(w, c);
	l7_worker_conn_gone(w);
}

void l7_conn_drain(struct l7_conn *c)
{
	c->flags |= L7_CF_CLOSE;
	switch (c->state) {
	case L7_CS_IDLE:
	case L7_CS_INTAKE:
	case L7_CS_HANDSHAKE:
		l7_conn_close(c, L7_TERM_DRAIN);
		break;
	case L7_CS_H2:
		/* RFC 9113 §6.8: streams in flight complete, no new ones */
		l7_ch2_shutdown(c, true);
		l7_conn_kick(c);
		break;
	default:
		break;
	}
}
