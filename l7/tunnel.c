/* Upgrade tunnels (RFC 9110 §7.8): once the upstream answered 101 to an
 * Upgrade request, bytes are relayed both ways as they are, through the
 * same bounded buffers, until either side closes. The exchange owns the
 * tunnel; the client connection is in TUNNEL meanwhile. */
#include "client.h"
#include "exchange.h"
#include "uconn.h"
#include "l7_worker.h"

void l7_tunnel_start(struct l7_exchange *x)
{
	l7_x_set_state(x, L7_XS_TUNNEL);
	x->client_keep = false;
	x->upstream_keep = false;
	x->up_done = true;
	loop_timer_cancel(x->w->loop, &x->t);
	l7_conn_to_tunnel(x->c);
	l7_tunnel_pump(x);
}

static void pump_client_to_upstream(struct l7_exchange *x)
{
	const char *p;
	unsigned bid;
	size_t len;

	if (!x->u || x->u_closing || x->tx_up.busy)
		return;
	while (l7_tx_room(&x->tx_up, 1) && (len = l7_conn_input(x->c, &p, &bid)) != 0) {
		if (bid == L7_NOBID)
			l7_tx_add(&x->tx_up, p, len);
		else
			l7_tx_add_buf(&x->tx_up, &x->w->bufs, bid, p, len);
		l7_conn_consume(x->c, len);
		x->req_bytes += len;
	}
	if (l7_tx_empty(&x->tx_up))
		return;
	if (l7_uconn_send(x->u, &x->tx_up) < 0) {
		l7_conn_close(x->c, L7_TERM_INTERNAL);
		return;
	}
	x->pending++;
	l7_conn_flow(x->c);
}

static void pump_upstream_to_client(struct l7_exchange *x)
{
	const char *p;
	unsigned bid;
	size_t len;

	if (x->tx_cl.busy)
		return;
	while (l7_tx_room(&x->tx_cl, 1) && (len = l7_x_u_input(x, &p, &bid)) != 0) {
		if (bid == L7_NOBID)
			l7_tx_add(&x->tx_cl, p, len);
		else
			l7_tx_add_buf(&x->tx_cl, &x->w->bufs, bid, p, len);
		l7_x_u_consume(x, len);
		x->resp_bytes += len;
	}
	if (x->u)
		l7_uconn_flow(x->u);
	l7_x_send_client(x);
}

void l7_tunnel_pump(struct l7_exchange *x)
{
	bool client_gone, upstream_gone;

	if (x->aborted || x->state != L7_XS_TUNNEL)
		return;
	pump_client_to_upstream(x);
	if (x->aborted)
		return;
	pump_upstream_to_client(x);
	if (x->aborted)
		return;
	client_gone = (x->c->flags & L7_CF_EOF) && !l7_conn_input_bytes(x->c);
	upstream_gone = x->resp_eof && !(x->u && x->u->in.n) && x->rhb.len == x->rhb.off;
	/* Either side closing ends the tunnel once what it sent is delivered. */
	if ((client_gone || upstream_gone) && !x->pending) {
		x->term = L7_TERM_TUNNEL_DONE;
		l7_x_finish(x);
	}
}
