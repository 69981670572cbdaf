/* The copy data path (conn.h): multishot recv into the loop's provided
 * buffers, queued per direction, sent on in batches; half-close, reset
 * propagation and backpressure.
 *
 * Buffer ownership, one owner at every step (bufring.h):
 *   kernel --recv CQE--> direction queue --send CQE (fully sent)--> ring
 * A queue is a chain through the worker's per-buffer links (bnext/blen), so
 * it costs a connection nothing but head/tail: an idle connection holds no
 * buffer at all.
 *
 * Backpressure: one send per direction is in flight at a time; while a
 * direction holds queue_limit bytes or more its multishot recv is cancelled
 * (the kernel then keeps further bytes in the socket and TCP flow control
 * slows the sender), and it is re-armed when a send brings the queue below
 * the limit. Bytes that arrive between the cancel and its completion are
 * queued too, so a queue may exceed the limit by what one loop turn brings.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "conn.h"
#include "lbworker.h"
#include "log.h"
#include "proc.h"
#include "state.h"

static void enqueue(struct l4_conn *c, struct l4_dir *dir, unsigned bid, uint32_t len)
{
	struct l4_worker *w = c->w;

	w->bnext[bid] = L4_NO_BID;
	w->blen[bid] = len;
	if (dir->tail == L4_NO_BID)
		dir->head = (uint16_t)bid;
	else
		w->bnext[dir->tail] = (uint16_t)bid;
	dir->tail = (uint16_t)bid;
	dir->queued += len;
}

void l4_relay_drop_queue(struct l4_conn *c, unsigned d)
{
	struct l4_dir *dir = &c->dir[d];
	struct bufring *br = loop_bufring(c->w->loop);

	while (dir->head != L4_NO_BID) {
		unsigned bid = dir->head;

		dir->head = c->w->bnext[bid];
		bufring_put(br, bid);
	}
	dir->tail = L4_NO_BID;
	dir->queued = 0;
	dir->head_off = 0;
}

void l4_relay_arm_recv(struct l4_conn *c, unsigned d)
{
	struct l4_dir *dir = &c->dir[d];
	int rc;

	if (c->state == L4_ST_CLOSING ||
	    (dir->flags & (L4_DF_RECV | L4_DF_EOF | L4_DF_SPLICE | L4_DF_WANT_SPLICE)) ||
	    dir->queued >= c->svc->queue_limit)
		return;
	rc = loop_prep_recv(c->w->loop, c->id, L4_OP_RECV(d), c->fd[d]);
	if (rc == 0)
		dir->flags |= L4_DF_RECV;
	else if (rc != -ECANCELED)
		l4_conn_close(c, L4_END_INTERNAL);
}

void l4_relay_fail(struct l4_conn *c, enum l4_side side, int res)
{
	bool reset = res == -ECONNRESET || res == -EPIPE;
	enum l4_end why;

	if (side == L4_CLIENT)
		why = reset ? L4_END_CLIENT_RESET : L4_END_CLIENT_ERROR;
	else
		why = reset ? L4_END_SERVER_RESET : L4_END_SERVER_ERROR;
	/* The stream is broken: the other side learns it by a RST, not a FIN
	 * that would pass for a complete answer. */
	c->flags |= side == L4_CLIENT ? L4_CF_RST_SERVER : L4_CF_RST_CLIENT;
	if (!reset)
		log_rl(LOG_LVL_INFO, "conn %llu: %s socket error: %s", (unsigned long long)c->seq,
		       side == L4_CLIENT ? "client" : "instance", strerror(-res));
	l4_conn_close(c, why);
}

static bool hdr_pending(const struct l4_conn *c, unsigned d)
{
	return d == L4_C2S && c->setup && c->setup->hdr_sent < c->setup->hdr_len;
}

static void consume(struct l4_conn *c, unsigned d, uint32_t n);

/* Tries the send right now with sendmsg(MSG_DONTWAIT): when the socket
 * takes it all (the common case: a request or an answer smaller than the
 * socket buffer), no request, no completion and no send vector are needed.
 * Returns the bytes sent, 0 when the socket is full, or -errno. */
static ssize_t send_inline(struct l4_conn *c, unsigned d, struct iovec *iov, unsigned n)
{
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = n};
	ssize_t r = sendmsg(c->fd[!d], &msg, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (r >= 0)
		return r;
	return errno == EAGAIN || errno == EINTR ? 0 : -errno;
}

/* One send with whatever is queued (the header first): inline when the
 * socket takes it, else through io_uring -- a plain send for a single
 * piece, a sendmsg over up to L4_IOV_MAX buffers otherwise. Returns 1 when
 * everything went out inline (the caller goes on), 0 when an io_uring send
 * is in flight, -1 when the connection was closed. */
static int start_send(struct l4_conn *c, unsigned d)
{
	struct l4_worker *w = c->w;
	struct l4_dir *dir = &c->dir[d];
	struct bufring *br = loop_bufring(w->loop);
	struct iovec iov[L4_IOV_MAX + 1];
	unsigned n = 0, off = dir->head_off;
	size_t total = 0;
	int fd = c->fd[!d], rc;

	if (hdr_pending(c, d)) {
		iov[n].iov_base = c->setup->hdr + c->setup->hdr_sent;
		iov[n++].iov_len = c->setup->hdr_len - c->setup->hdr_sent;
	}
	for (unsigned bid = dir->head; bid != L4_NO_BID && n <= L4_IOV_MAX; bid = w->bnext[bid]) {
		iov[n].iov_base = (uint8_t *)bufring_get(br, bid) + off;
		iov[n++].iov_len = w->blen[bid] - off;
		off = 0;
	}
	for (unsigned k = 0; k < n; k++)
		total += iov[k].iov_len;
	if (w->proc->ring.send_inline) {
		ssize_t r = send_inline(c, d, iov, n);

		if (r < 0) {
			l4_relay_fail(c, (enum l4_side) !d, (int)r);
			return -1;
		}
		if (r > 0)
			consume(c, d, (uint32_t)r);
		if ((size_t)r == total)
			return 1;
		if (r > 0)
			return start_send(c, d) < 0 ? -1 : 0; /* the rest, through io_uring */
	}
	if (n == 1) {
		rc = loop_prep_send(w->loop, c->id, L4_OP_SEND(d), fd, iov[0].iov_base,
				    iov[0].iov_len, 0);
	} else {
		struct l4_sendv *sv = l4_worker_sendv_get(w);

		if (!sv) {
			l4_conn_close(c, L4_END_INTERNAL);
			return -1;
		}
		memcpy(sv->iov, iov, n * sizeof(iov[0]));
		sv->msg = (struct msghdr){.msg_iov = sv->iov, .msg_iovlen = n};
		dir->sv = sv;
		rc = loop_prep_sendmsg(w->loop, c->id, L4_OP_SEND(d), fd, &sv->msg, 0);
	}
	if (rc) {
		l4_conn_close(c, L4_END_INTERNAL);
		return -1;
	}
	dir->flags |= L4_DF_SEND;
	return 0;
}

/* Passes a FIN on. shutdown(2) on a TCP socket never blocks, so it is
 * called here, not through io_uring, which would run it on a worker thread
 * (DESIGN.md pitfalls) at the price of two thread hand-offs per direction
 * of every connection. The direction that finishes last needs no
 * shutdown at all: the connection closes now, and close(2) sends that FIN
 * (a plain FIN, not a reset: both sides' FINs were read, so neither socket
 * holds unread bytes), one system call less per connection. */
static void start_shutdown(struct l4_conn *c, unsigned d)
{
	struct l4_dir *dir = &c->dir[d];
	bool last = (c->dir[!d].flags & L4_DF_DONE) && c->state == L4_ST_RELAY;

	/* ENOTCONN: the peer is gone already; this direction is over anyway. */
	if (!last)
		shutdown(c->fd[!d], SHUT_WR);
	dir->flags |= L4_DF_SHUT | L4_DF_DONE;
	if (last)
		l4_conn_close(c, L4_END_DONE);
}

void l4_relay_kick(struct l4_conn *c, unsigned d)
{
	struct l4_dir *dir = &c->dir[d];

	for (;;) {
		if (c->state != L4_ST_RELAY ||
		    (dir->flags & (L4_DF_SEND | L4_DF_SPIN | L4_DF_SPOUT | L4_DF_SHUT)))
			return;
		if (dir->queued || hdr_pending(c, d)) {
			if (start_send(c, d) != 1)
				return;
			l4_relay_arm_recv(c, d); /* the queue shrank: read again */
			continue;
		}
		if (dir->flags & L4_DF_EOF) {
			start_shutdown(c, d); /* every byte went out: pass the FIN on */
			return;
		}
		if ((dir->flags & L4_DF_WANT_SPLICE) && !(dir->flags & L4_DF_RECV))
			l4_splice_begin(c, d);
		return;
	}
}

/* A full buffer on a splice service means a bulk flow: switch to splice
 * once what is queued went out. */
static bool wants_splice(const struct l4_conn *c, unsigned d, int res)
{
	return c->svc->data_path == L4_PATH_SPLICE && (unsigned)res == c->w->buf_size &&
	       c->state == L4_ST_RELAY && !(c->dir[d].flags & L4_DF_SPLICE) && c->w->pipes.cap > 0;
}

static void on_data(struct l4_conn *c, unsigned d, unsigned bid, int res)
{
	struct l4_dir *dir = &c->dir[d];

	enqueue(c, dir, bid, (uint32_t)res);
	c->last_ms = loop_now_ms(c->w->loop);
	if (c->state == L4_ST_PEEK && d == L4_C2S) {
		l4_conn_peek(c, bufring_get(loop_bufring(c->w->loop), bid), (size_t)res);
		if (c->state == L4_ST_CLOSING)
			return;
	}
	if (wants_splice(c, d, res))
		dir->flags |= L4_DF_WANT_SPLICE;
	if ((dir->queued >= c->svc->queue_limit || (dir->flags & L4_DF_WANT_SPLICE)) &&
	    (dir->flags & L4_DF_RECV) && !(dir->flags & L4_DF_CANCEL)) {
		dir->flags |= L4_DF_CANCEL;
		loop_prep_cancel(c->w->loop, c->id, L4_OP_RECV(d));
	}
	l4_relay_kick(c, d);
	l4_relay_arm_recv(c, d);
}

void l4_relay_on_recv(struct l4_conn *c, unsigned d, const struct io_uring_cqe *cqe)
{
	struct l4_dir *dir = &c->dir[d];
	int bid = loop_cqe_bid(cqe), res = cqe->res;

	if (!loop_cqe_more(cqe))
		dir->flags &= (uint16_t) ~(L4_DF_RECV | L4_DF_CANCEL);
	if (res > 0 && bid >= 0 && c->state != L4_ST_CLOSING) {
		on_data(c, d, (unsigned)bid, res);
		return;
	}
	if (bid >= 0)
		bufring_put(loop_bufring(c->w->loop), (unsigned)bid);
	if (c->state == L4_ST_CLOSING)
		return;
	if (res == 0) {
		dir->flags |= L4_DF_EOF;
		if (c->state == L4_ST_PEEK && d == L4_C2S)
			l4_conn_peek_eof(c);
		else
			l4_relay_kick(c, d);
		return;
	}
	if (res == -ENOBUFS || res == -ECANCELED || res == -EAGAIN || res == -EINTR) {
		l4_relay_kick(c, d);
		l4_relay_arm_recv(c, d);
		return;
	}
	l4_relay_fail(c, (enum l4_side)d, res);
}

/* `n` bytes of direction d went out: the header first, then whole buffers
 * go back to the ring, a partly sent head keeps its offset. */
static void consume(struct l4_conn *c, unsigned d, uint32_t n)
{
	struct l4_worker *w = c->w;
	struct l4_dir *dir = &c->dir[d];
	struct bufring *br = loop_bufring(w->loop);

	if (hdr_pending(c, d)) {
		uint32_t k = c->setup->hdr_len - c->setup->hdr_sent;

		k = n < k ? n : k;
		c->setup->hdr_sent = (uint16_t)(c->setup->hdr_sent + k);
		n -= k;
		if (c->setup->hdr_sent == c->setup->hdr_len) {
			free(c->setup); /* connected and announced: no longer needed */
			c->setup = NULL;
		}
	}
	dir->bytes += n;
	metrics_add(w->mw, d == L4_C2S ? c->svc->rt->m_bytes_in : c->svc->rt->m_bytes_out, n);
	metrics_add(w->mw, d == L4_C2S ? c->irt->m_bytes_in : c->irt->m_bytes_out, n);
	dir->queued -= n;
	while (n) {
		unsigned bid = dir->head;
		uint32_t left = w->blen[bid] - dir->head_off;

		if (n < left) {
			dir->head_off += n;
			break;
		}
		n -= left;
		dir->head_off = 0;
		dir->head = w->bnext[bid];
		if (dir->head == L4_NO_BID)
			dir->tail = L4_NO_BID;
		bufring_put(br, bid);
	}
}

void l4_relay_on_send(struct l4_conn *c, unsigned d, const struct io_uring_cqe *cqe)
{
	struct l4_dir *dir = &c->dir[d];

	dir->flags &= (uint16_t)~L4_DF_SEND;
	if (dir->sv) {
		l4_worker_sendv_put(c->w, dir->sv);
		dir->sv = NULL;
	}
	if (c->state == L4_ST_CLOSING)
		return;
	if (cqe->res == -EAGAIN || cqe->res == -EINTR) {
		/* A partial send retried on io_uring's worker thread meets the
		 * socket's O_NONBLOCK (liburing PR #1601): not an error, send the
		 * rest again; the new request waits by polling. */
		l4_relay_kick(c, d);
		return;
	}
	if (cqe->res <= 0) {
		l4_relay_fail(c, (enum l4_side) !d, cqe->res ? cqe->res : -EPIPE);
		return;
	}
	consume(c, d, (uint32_t)cqe->res);
	l4_relay_kick(c, d);
	l4_relay_arm_recv(c, d);
}
