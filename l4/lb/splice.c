/* The splice data path (conn.h): socket -> pipe -> socket, for bulk flows
 * of services with data_path = "splice".
 *
 * A direction starts on the copy path. When a recv fills a whole buffer the
 * flow is bulk: relay.c cancels the recv and, once the queue went out,
 * calls l4_splice_begin(), which borrows a pipe from the worker's pool and
 * alternates splice-in (at most one pipe's capacity) and splice-out until
 * the source has nothing for a moment (EAGAIN after the socket's short
 * receive timeout, conn.c): then the pipe, empty, goes back to the pool and
 * the copy path's recv waits for the next burst without holding anything.
 * One splice per direction is in flight at a time, so a direction never
 * holds more than one pipe of bytes (backpressure), and the blocking
 * splice-out into a full socket waits in io_uring's worker thread.
 *
 * DESIGN.md pitfalls: splices run on io_uring's worker threads and complete
 * late; the loop counts them in flight and the connection's sockets are
 * closed only in on_free, so none can land on a reused descriptor.
 */
#include <errno.h>
#include <fcntl.h>

#include "config.h"
#include "conn.h"
#include "lbworker.h"
#include "log.h"
#include "proc.h"
#include "state.h"

static void leave(struct l4_conn *c, unsigned d)
{
	struct l4_dir *dir = &c->dir[d];

	if (dir->pipe >= 0)
		l4_pipes_put(&c->w->pipes, dir->pipe, dir->in_pipe != 0);
	dir->pipe = -1;
	dir->in_pipe = 0;
	dir->flags &= (uint16_t)~L4_DF_SPLICE;
}

static void splice_in(struct l4_conn *c, unsigned d)
{
	struct l4_dir *dir = &c->dir[d];
	const struct l4_pipe *p = &c->w->pipes.p[dir->pipe];

	if (loop_prep_splice(c->w->loop, c->id, L4_OP_SPIN(d), c->fd[d], p->wfd, L4_SPLICE_CHUNK,
			     SPLICE_F_MOVE | SPLICE_F_NONBLOCK)) {
		l4_conn_close(c, L4_END_INTERNAL);
		return;
	}
	dir->flags |= L4_DF_SPIN;
}

static void splice_out(struct l4_conn *c, unsigned d)
{
	struct l4_dir *dir = &c->dir[d];
	const struct l4_pipe *p = &c->w->pipes.p[dir->pipe];

	if (loop_prep_splice(c->w->loop, c->id, L4_OP_SPOUT(d), p->rfd, c->fd[!d], dir->in_pipe,
			     SPLICE_F_MOVE)) {
		l4_conn_close(c, L4_END_INTERNAL);
		return;
	}
	dir->flags |= L4_DF_SPOUT;
}

void l4_splice_begin(struct l4_conn *c, unsigned d)
{
	struct l4_dir *dir = &c->dir[d];
	int idx;

	dir->flags &= (uint16_t)~L4_DF_WANT_SPLICE;
	idx = l4_pipes_get(&c->w->pipes);
	if (idx < 0) {
		metrics_inc(c->w->mw, c->w->proc->st.m.pipes_exhausted);
		l4_relay_arm_recv(c, d);
		return;
	}
	dir->pipe = (int16_t)idx;
	dir->flags |= L4_DF_SPLICE;
	metrics_inc(c->w->mw, c->w->proc->st.m.splice_conns);
	splice_in(c, d);
}

void l4_splice_on_in(struct l4_conn *c, unsigned d, const struct io_uring_cqe *cqe)
{
	struct l4_dir *dir = &c->dir[d];
	int res = cqe->res;

	dir->flags &= (uint16_t)~L4_DF_SPIN;
	if (c->state == L4_ST_CLOSING)
		return;
	if (res > 0) {
		dir->in_pipe += (uint32_t)res;
		c->last_ms = loop_now_ms(c->w->loop);
		splice_out(c, d);
		return;
	}
	if (res == 0) {
		dir->flags |= L4_DF_EOF;
		leave(c, d);
		l4_relay_kick(c, d); /* shuts the destination's write side */
		return;
	}
	if (res == -EAGAIN || res == -EINTR) {
		leave(c, d); /* quiet: back to the copy path's recv */
		l4_relay_arm_recv(c, d);
		return;
	}
	l4_relay_fail(c, (enum l4_side)d, res);
}

void l4_splice_on_out(struct l4_conn *c, unsigned d, const struct io_uring_cqe *cqe)
{
	struct l4_dir *dir = &c->dir[d];
	int res = cqe->res;

	dir->flags &= (uint16_t)~L4_DF_SPOUT;
	if (c->state == L4_ST_CLOSING)
		return;
	if (res > 0) {
		dir->in_pipe -= (uint32_t)res;
		dir->bytes += (uint64_t)res;
		metrics_add(c->w->mw,
			    d == L4_C2S ? c->svc->rt->m_bytes_in : c->svc->rt->m_bytes_out,
			    (uint64_t)res);
		metrics_add(c->w->mw, d == L4_C2S ? c->irt->m_bytes_in : c->irt->m_bytes_out,
			    (uint64_t)res);
		if (dir->in_pipe)
			splice_out(c, d);
		else
			splice_in(c, d);
		return;
	}
	if (res == -EINTR) {
		splice_out(c, d);
		return;
	}
	l4_relay_fail(c, (enum l4_side) !d, res ? res : -EPIPE);
}

void l4_splice_release(struct l4_conn *c, unsigned d)
{
	leave(c, d);
}
