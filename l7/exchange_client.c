/* The client side of an exchange (exchange.h): sending what the exchange
 * queued for the client (a plaintext sendmsg per loop turn, TLS records,
 * or the frames of an HTTP/2 stream), and input from the client. */
#include <string.h>

#include "log.h"

#include "client.h"
#include "conn_tls.h"
#include "exchange.h"
#include "h2.h"
#include "l7_worker.h"

/* --- sending to the client ------------------------------------------------------------ */

/* Client sends are queued and submitted once per loop turn, by the worker's
 * end-of-turn hook (after the turn's completions, timers and posts):
 * response pieces that arrive in the same turn (a 16 KiB body spans two
 * receive buffers) leave in one sendmsg instead of one each. Every caller
 * runs inside a turn (or in l7_worker_fini(), which drains the list itself),
 * so no timer is needed; what the hook queues past its last round arms the
 * worker's flush timer there. */
void l7_x_send_client(struct l7_exchange *x)
{
	struct l7_worker *w = x->w;

	if (x->tx_cl.busy || x->cl_queued || l7_tx_empty(&x->tx_cl))
		return;
	x->cl_queued = true;
	x->pending++;
	x->flush_next = w->flush_list;
	w->flush_list = x;
}

void l7_x_flush_client(struct l7_exchange *x)
{
	struct l7_conn *c = x->c;
	int ret;

	x->cl_queued = false;
	x->pending--;
	if (x->aborted || !c) {
		if (!x->tx_cl.busy)
			l7_tx_clear(&x->tx_cl, &x->w->bufs);
		l7_x_maybe_free(x);
		return;
	}
	if (x->h2) {
		l7_xh2_send(x);
		return;
	}
	if (c->tls) {
		l7_ctls_send_x(x);
		return;
	}
	ret = l7_tx_submit(&x->tx_cl, c->w->loop, c->slot, L7_COP_SEND, c->fd);
	if (ret < 0) {
		l7_tx_clear(&x->tx_cl, &x->w->bufs);
		l7_conn_close(c, L7_TERM_INTERNAL);
		return;
	}
	x->pending++;
}

void l7_x_on_client_sent(struct l7_exchange *x, int res)
{
	int ret;

	x->pending--;
	ret = l7_tx_done(&x->tx_cl, &x->w->bufs, res);
	if (res > 0)
		x->bytes_out += (uint64_t)res;
	if (x->aborted) {
		l7_x_maybe_free(x);
		return;
	}
	if (ret < 0) {
		l7_x_close_client(x, L7_TERM_CLIENT_ABORT);
		return;
	}
	if (ret == 0) {
		l7_x_send_client(x);
		return;
	}
	switch (x->state) {
	case L7_XS_LOCAL:
		l7_x_finish(x);
		break;
	case L7_XS_BODY:
		l7_x_pump_down(x);
		break;
	case L7_XS_SEND:
	case L7_XS_WAIT:
		/* 100 Continue went out: a response head that arrived meanwhile */
		l7_x_on_upstream_input(x);
		break;
	case L7_XS_TUNNEL:
		l7_tunnel_pump(x);
		break;
	default:
		break;
	}
}

/* --- input from the client --------------------------------------------------------------- */

void l7_x_on_client_input(struct l7_exchange *x)
{
	if (x->aborted)
		return;
	switch (x->state) {
	case L7_XS_HEAD:
		/* After the head: buffer_request is reading the whole body. */
		if (x->head_done)
			l7_x_pump_up(x);
		else
			l7_x_read_head(x);
		break;
	case L7_XS_TUNNEL:
		l7_tunnel_pump(x);
		break;
	case L7_XS_LOCAL:
	case L7_XS_DONE:
		break; /* pipelined bytes wait for the next exchange */
	default:
		l7_x_pump_up(x);
		break;
	}
}

void l7_x_on_client_error(struct l7_exchange *x, int err)
{
	l7_conn_close(x->c, L7_TERM_CLIENT_ABORT);
}

void l7_x_close_client(struct l7_exchange *x, int term)
{
	if (x->h2)
		l7_xh2_kill(x, term);
	else if (x->c)
		l7_conn_close(x->c, term);
}

size_t l7_x_body_at_hand(const struct l7_exchange *x)
{
	return x->st ? l7_h2_body_bytes(x->st) : l7_conn_input_bytes(x->c);
}

void l7_x_on_header_timeout(struct l7_exchange *x)
{
	log_rl(LOG_LVL_INFO, "conn %llx: request head not complete within client_header",
	       (unsigned long long)x->c->id);
	l7_conn_close(x->c, L7_TERM_HEADER_TIMEOUT);
}
