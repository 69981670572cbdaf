/* The splice data path (conn.h): socket -> pipe -> socket, for bulk flows
 * of services with data_path = "splice".
 *
 * A direction starts on the copy path. When a recv fills a whole buffer the
 * flow is bulk: relay.c cancels the recv and, once the queue went out,
 * calls l4_splice_begin(). From then on the loop thread itself calls
 * splice(2) with SPLICE_F_NONBLOCK on the non-blocking sockets, a pipe
 * borrowed from the worker's pool in between, until one side would block:
 *
 *   source empty, pipe empty   the pipe goes back to the pool and a
 *                              one-shot poll (L4_OP_SPIN) waits for input;
 *                              then the pump goes on
 *   destination full           the pipe's first byte is sent alone by
 *                              io_uring (L4_OP_SPOUT), which waits for room;
 *                              the pipe is kept with the rest meanwhile
 *   budget used up             the direction goes on the worker's resume
 *                              list, run by a 0 ms timer on the next turn
 *
 * Why not io_uring's own splice: it always runs on io_uring's worker
 * threads (DESIGN.md pitfalls), so every 64 KiB costs two thread hand-offs,
 * and on a non-blocking socket those report EAGAIN instead of waiting, so
 * they cannot carry backpressure. Calling splice(2) inline costs two plain
 * system calls per pipe-full, as HAProxy does, and the io_uring requests
 * left (a poll, a send) wait without holding a thread.
 *
 * The wait for input is a poll rather than a 1-byte MSG_PEEK recv: a
 * keep-alive flow of 16 KiB answers waits once per answer, and the recv
 * cost a failed receive attempt at submission plus the peek itself, two
 * socket-locked receive calls per answer that a poll does not make. It is
 * one-shot, not multishot: a multishot poll only reports wakeups, and a
 * splice can stop short with bytes still in the socket (the pipe's slots
 * ran out) while the sender waits for a window that only reading opens:
 * nothing would ever wake it. A one-shot poll checks the socket's state
 * when armed.
 *
 * Memory: a splicing direction holds one pipe (at most L4_SPLICE_CHUNK
 * bytes, kernel memory) while bytes move or its destination is full, and
 * no user memory at all; an idle one holds nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "conn.h"
#include "lbworker.h"
#include "log.h"
#include "proc.h"
#include "state.h"

static void put_pipe(struct l4_conn *c, struct l4_dir *dir)
{
	if (dir->pipe >= 0)
		l4_pipes_put(&c->w->pipes, dir->pipe, dir->in_pipe != 0);
	dir->pipe = -1;
	dir->in_pipe = 0;
}

/* Back to the copy path (quiet source, or no pipe to be had). */
static void leave(struct l4_conn *c, unsigned d)
{
	struct l4_dir *dir = &c->dir[d];

	put_pipe(c, dir);
	dir->flags &= (uint16_t)~L4_DF_SPLICE;
}

static void count_out(struct l4_conn *c, unsigned d, uint64_t n)
{
	c->dir[d].bytes += n;
	metrics_add(c->w->mw, d == L4_C2S ? c->svc->rt->m_bytes_in : c->svc->rt->m_bytes_out, n);
	metrics_add(c->w->mw, d == L4_C2S ? c->irt->m_bytes_in : c->irt->m_bytes_out, n);
}

static void wait_input(struct l4_conn *c, unsigned d)
{
	struct l4_dir *dir = &c->dir[d];

	put_pipe(c, dir); /* empty: an idle bulk flow holds no pipe */
	if (loop_prep_poll(c->w->loop, c->id, L4_OP_SPIN(d), c->fd[d], POLLIN | POLLRDHUP, false)) {
		l4_conn_close(c, L4_END_INTERNAL);
		return;
	}
	dir->flags |= L4_DF_SPIN;
}

/* The destination is full. io_uring has no way here to wait for room
 * without sending something, so the pipe's first byte is taken out and
 * sent alone: its completion says there is room, and the order of the
 * stream is kept (that byte goes first). The rest stays in the pipe, which
 * this direction keeps meanwhile: no user memory for a stalled reader. */
static void wait_output(struct l4_conn *c, unsigned d)
{
	struct l4_dir *dir = &c->dir[d];
	const struct l4_pipe *p = &c->w->pipes.p[dir->pipe];

	if (read(p->rfd, &dir->spill, 1) != 1 ||
	    loop_prep_send(c->w->loop, c->id, L4_OP_SPOUT(d), c->fd[!d], &dir->spill, 1, 0)) {
		l4_conn_close(c, L4_END_INTERNAL);
		return;
	}
	dir->in_pipe--;
	dir->flags |= L4_DF_SPOUT;
}

static void resume_later(struct l4_conn *c)
{
	struct l4_worker *w = c->w;

	if (c->flags & L4_CF_RESUME)
		return;
	c->flags |= L4_CF_RESUME;
	c->resume_next = w->resume;
	w->resume = c;
	if (!timer_is_armed(&w->resume_timer))
		loop_timer_arm(w->loop, &w->resume_timer, 0); /* next turn */
}

/* Source -> pipe -> destination until one would block or the budget is
 * spent. */
static void pump(struct l4_conn *c, unsigned d)
{
	struct l4_dir *dir = &c->dir[d];
	uint32_t moved = 0;

	if (dir->pipe < 0) {
		int idx = l4_pipes_get(&c->w->pipes);

		if (idx < 0) {
			metrics_inc(c->w->mw, c->w->proc->st.m.pipes_exhausted);
			leave(c, d);
			l4_relay_arm_recv(c, d);
			return;
		}
		dir->pipe = (int16_t)idx;
	}
	const struct l4_pipe *p = &c->w->pipes.p[dir->pipe];

	bool drained = false;

	while (moved < L4_SPLICE_BUDGET) {
		if (dir->in_pipe == 0 && drained) {
			/* The last splice took less than a pipe: the socket was
			 * empty then. Waiting costs one peek; asking again first
			 * would cost a system call answered EAGAIN. */
			wait_input(c, d);
			return;
		}
		if (dir->in_pipe == 0) {
			ssize_t n = splice(c->fd[d], NULL, p->wfd, NULL, L4_SPLICE_CHUNK,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

			if (n == 0) {
				dir->flags |= L4_DF_EOF;
				leave(c, d);
				l4_relay_kick(c, d); /* passes the FIN on */
				return;
			}
			if (n < 0 && errno == EAGAIN) {
				wait_input(c, d);
				return;
			}
			if (n < 0) {
				l4_relay_fail(c, (enum l4_side)d, -errno);
				return;
			}
			dir->in_pipe = (uint32_t)n;
			drained = n < (ssize_t)L4_SPLICE_CHUNK;
			c->last_ms = loop_now_ms(c->w->loop);
		}
		ssize_t m = splice(p->rfd, NULL, c->fd[!d], NULL, dir->in_pipe,
				   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

		if (m < 0 && errno == EAGAIN) {
			wait_output(c, d);
			return;
		}
		if (m <= 0) {
			l4_relay_fail(c, (enum l4_side) !d, m < 0 ? -errno : -EPIPE);
			return;
		}
		dir->in_pipe -= (uint32_t)m;
		moved += (uint32_t)m;
		count_out(c, d, (uint64_t)m);
	}
	resume_later(c);
}

void l4_splice_begin(struct l4_conn *c, unsigned d)
{
	struct l4_dir *dir = &c->dir[d];

	dir->flags = (uint16_t)((dir->flags & ~L4_DF_WANT_SPLICE) | L4_DF_SPLICE);
	metrics_inc(c->w->mw, c->w->proc->st.m.splice_conns);
	pump(c, d);
}

void l4_splice_on_resume(struct loop *loop, struct timer *t)
{
	struct l4_worker *w = timer_owner(t, struct l4_worker, resume_timer);
	struct l4_conn *c = w->resume;

	w->resume = NULL;
	while (c) {
		struct l4_conn *next = c->resume_next;

		c->flags &= (uint8_t)~L4_CF_RESUME;
		c->resume_next = NULL;
		for (unsigned d = 0; d < 2; d++) {
			uint16_t f = c->dir[d].flags;

			if (c->state == L4_ST_RELAY && (f & L4_DF_SPLICE) &&
			    !(f & (L4_DF_SPIN | L4_DF_SPOUT)))
				pump(c, d);
		}
		c = next;
	}
}

void l4_splice_on_in(struct l4_conn *c, unsigned d, const struct io_uring_cqe *cqe)
{
	struct l4_dir *dir = &c->dir[d];

	dir->flags &= (uint16_t)~L4_DF_SPIN;
	if (c->state == L4_ST_CLOSING)
		return;
	if (cqe->res > 0) {
		pump(c, d); /* readable, a FIN or an error: the splice tells which */
	} else if (cqe->res == 0 || cqe->res == -EAGAIN || cqe->res == -EINTR) {
		wait_input(c, d);
	} else {
		l4_relay_fail(c, (enum l4_side)d, cqe->res);
	}
}

void l4_splice_on_out(struct l4_conn *c, unsigned d, const struct io_uring_cqe *cqe)
{
	struct l4_dir *dir = &c->dir[d];
	int res = cqe->res;

	dir->flags &= (uint16_t)~L4_DF_SPOUT;
	if (c->state == L4_ST_CLOSING)
		return;
	if (res == -EAGAIN || res == -EINTR) { /* the liburing PR #1601 case */
		if (loop_prep_send(c->w->loop, c->id, L4_OP_SPOUT(d), c->fd[!d], &dir->spill, 1, 0))
			l4_conn_close(c, L4_END_INTERNAL);
		else
			dir->flags |= L4_DF_SPOUT;
		return;
	}
	if (res <= 0) {
		l4_relay_fail(c, (enum l4_side) !d, res ? res : -EPIPE);
		return;
	}
	count_out(c, d, 1);
	pump(c, d); /* there is room again */
}

void l4_splice_release(struct l4_conn *c, unsigned d)
{
	struct l4_dir *dir = &c->dir[d];
	struct l4_worker *w = c->w;

	put_pipe(c, dir);
	if (!(c->flags & L4_CF_RESUME))
		return;
	for (struct l4_conn **pp = &w->resume; *pp; pp = &(*pp)->resume_next) {
		if (*pp == c) {
			*pp = c->resume_next;
			break;
		}
	}
	c->flags &= (uint8_t)~L4_CF_RESUME;
}
