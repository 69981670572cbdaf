/* SQE helpers: each queues one request for a slot, tagged (generation, slot,
 * op) and counted in flight; plus the parked recvs that wait for buffers.
 *
 * Parking: when the buffer ring is empty (as far as completions tell) a
 * recv is not submitted to fail with -ENOBUFS again; it waits in l->parked,
 * still counted in flight, and loop_parked_serve() submits it at the start
 * of a turn once bufring_flush() has made buffers available. A cancel marks
 * parked entries; loop_parked_deliver_cancelled() completes them with
 * -ECANCELED through the normal dispatch. This path only runs when buffers
 * are exhausted, so it trades speed for simplicity (linear scans).
 */
#include "loop_impl.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

struct io_uring_sqe *loop_get_sqe(struct loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (likely(sqe != NULL))
		return sqe;
	/* SQ full: submit what is queued and take a fresh entry. */
	l->stats.sq_full++;
	io_uring_submit(&l->ring);
	return io_uring_get_sqe(&l->ring);
}

static inline struct loop_slot *slot_of(struct loop *l, int id)
{
	assert((unsigned)id < l->nslots && l->slots[id].state != LOOP_SLOT_FREE);
	return &l->slots[id];
}

static inline void track(struct loop *l, struct loop_slot *s, int id, unsigned op,
			 struct io_uring_sqe *sqe)
{
	io_uring_sqe_set_data64(sqe, loop_ud(s->gen, (uint32_t)id, op));
	if (op < 64)
		s->ops_used |= 1ull << op;
	s->inflight++;
	l->inflight++;
	l->queued_since_cancel = true;
}

/* Common start of an owner request: checks and an SQE, or NULL + *err. */
static inline struct io_uring_sqe *begin(struct loop *l, int id, unsigned op, bool in_drain,
					 int *err)
{
	struct io_uring_sqe *sqe;

	assert(op <= LOOP_OP_MAX);
	(void)slot_of(l, id);
	if (unlikely(l->draining && !in_drain)) {
		*err = -ECANCELED;
		return NULL;
	}
	sqe = loop_get_sqe(l);
	if (unlikely(!sqe))
		*err = -EBUSY;
	return sqe;
}

static inline void set_internal(struct loop *l, struct io_uring_sqe *sqe, unsigned iop)
{
	io_uring_sqe_set_data64(sqe, loop_ud(0, LOOP_IDX_INTERNAL, iop));
	l->inflight++;
}

int loop_arm_wake(struct loop *l)
{
	struct io_uring_sqe *sqe = loop_get_sqe(l);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_read(sqe, l->wake_fd, &l->wake_buf, sizeof(l->wake_buf), 0);
	set_internal(l, sqe, LOOP_IOP_WAKE);
	l->wake_armed = true;
	return 0;
}

int loop_queue_cancel_any(struct loop *l)
{
	struct io_uring_sqe *sqe = loop_get_sqe(l);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
	set_internal(l, sqe, LOOP_IOP_CANCEL);
	l->queued_since_cancel = false;
	return 0;
}

int loop_prep_accept(struct loop *l, int id, unsigned op, int listen_fd)
{
	int err = 0, flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
	struct io_uring_sqe *sqe = begin(l, id, op, false, &err);

	if (!sqe)
		return err;
	if (l->features & LOOP_F_ACCEPT_MULTISHOT)
		io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, flags);
	else
		io_uring_prep_accept(sqe, listen_fd, NULL, NULL, flags);
	track(l, &l->slots[id], id, op, sqe);
	/* Remembered so an abandoned slot's late accepts get their fd closed. */
	if (op < 64) {
		l->slots[id].accept_ops |= 1ull << op;
		l->slots[id].flags |= LOOP_SF_SLOW;
	}
	return 0;
}

/* A recv that picks its buffer: from the kernel ring, or from the pool. */
static void prep_pick_recv(struct loop *l, struct io_uring_sqe *sqe, struct loop_slot *s,
			   unsigned op, int fd)
{
	if (!bufring_is_pool(&l->br)) {
		if (l->features & LOOP_F_RECV_MULTISHOT)
			io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
		else
			io_uring_prep_recv(sqe, fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = l->br.bgid;
		return;
	}
	int bid = bufring_pool_pop(&l->br);

	assert(bid >= 0 && s->pool_n < LOOP_POOL_RECVS);
	for (unsigned k = 0; k < s->pool_n; k++)
		assert(s->pool_op[k] != op); /* one pool recv per op: the op names the buffer */
	s->pool_op[s->pool_n] = (uint8_t)op;
	s->pool_bid[s->pool_n] = (uint16_t)bid;
	s->pool_n++;
	s->flags |= LOOP_SF_SLOW;
	io_uring_prep_recv(sqe, fd, bufring_get(&l->br, (unsigned)bid), bufring_size(&l->br), 0);
}

static int park(struct loop *l, struct loop_slot *s, int id, unsigned op, int fd)
{
	if (l->nparked == l->cap_parked)
		return -EBUSY;
	l->parked[l->nparked++] = (struct loop_parked){
	    .ud = loop_ud(s->gen, (uint32_t)id, op),
	    .fd = fd,
	};
	if (op < 64)
		s->ops_used |= 1ull << op;
	s->inflight++;
	l->inflight++;
	l->stats.parked++;
	return 0;
}

int loop_prep_recv(struct loop *l, int id, unsigned op, int fd)
{
	struct loop_slot *s = slot_of(l, id);
	struct io_uring_sqe *sqe;
	int err = 0;

	if (unlikely(l->draining))
		return -ECANCELED;
	/* Queue behind earlier waiters so they are served first. */
	if (unlikely(l->nparked || bufring_avail(&l->br) == 0))
		return park(l, s, id, op, fd);
	sqe = begin(l, id, op, false, &err);
	if (!sqe)
		return err;
	prep_pick_recv(l, sqe, s, op, fd);
	track(l, s, id, op, sqe);
	return 0;
}

void loop_parked_serve(struct loop *l)
{
	unsigned budget = bufring_avail(&l->br);
	uint32_t r, w = 0;

	for (r = 0; r < l->nparked; r++) {
		struct loop_parked p = l->parked[r];
		struct loop_slot *s = &l->slots[loop_ud_idx(p.ud)];
		struct io_uring_sqe *sqe = NULL;

		if (!p.cancelled && budget > 0)
			sqe = loop_get_sqe(l);
		if (!sqe) {
			l->parked[w++] = p;
			continue;
		}
		assert(s->gen == loop_ud_gen(p.ud));
		prep_pick_recv(l, sqe, s, loop_ud_op(p.ud), p.fd);
		io_uring_sqe_set_data64(sqe, p.ud); /* already counted in flight */
		budget--;
	}
	l->nparked = w;
}

/* Completes cancelled parked recvs, one at a time: the handler may park or
 * cancel again while we run. */
void loop_parked_deliver_cancelled(struct loop *l)
{
	while (l->ncancelled) {
		struct io_uring_cqe c = {.res = -ECANCELED};
		uint32_t i;

		for (i = 0; i < l->nparked && !l->parked[i].cancelled; i++)
			;
		assert(i < l->nparked);
		c.user_data = l->parked[i].ud;
		memmove(&l->parked[i], &l->parked[i + 1],
			(l->nparked - i - 1) * sizeof(l->parked[0]));
		l->nparked--;
		l->ncancelled--;
		loop_dispatch(l, &c);
	}
}

/* Marks parked recvs cancelled: by exact user_data (fd == -1), by fd of the
 * slot (fd >= 0), or every one of the slot (fd == -2). */
static void cancel_parked(struct loop *l, uint64_t ud, uint32_t idx, int fd)
{
	for (uint32_t i = 0; i < l->nparked; i++) {
		struct loop_parked *p = &l->parked[i];
		bool hit = fd == -1   ? p->ud == ud
			   : fd == -2 ? loop_ud_idx(p->ud) == idx
				      : (p->fd == fd && loop_ud_idx(p->ud) == idx);

		if (hit && !p->cancelled) {
			p->cancelled = true;
			l->ncancelled++;
		}
	}
}

void loop_parked_cancel_all(struct loop *l)
{
	for (uint32_t i = 0; i < l->nparked; i++) {
		if (!l->parked[i].cancelled) {
			l->parked[i].cancelled = true;
			l->ncancelled++;
		}
	}
}

void loop_parked_drop_slot(struct loop *l, uint32_t idx)
{
	uint32_t r, w = 0;

	for (r = 0; r < l->nparked; r++) {
		struct loop_parked p = l->parked[r];

		if (loop_ud_idx(p.ud) != idx) {
			l->parked[w++] = p;
			continue;
		}
		l->slots[idx].inflight--;
		l->inflight--;
		if (p.cancelled)
			l->ncancelled--;
	}
	l->nparked = w;
}

int loop_prep_recv_into(struct loop *l, int id, unsigned op, int fd, void *buf, size_t len,
			int flags)
{
	int err = 0;
	struct io_uring_sqe *sqe = begin(l, id, op, false, &err);

	if (!sqe)
		return err;
	io_uring_prep_recv(sqe, fd, buf, len, flags);
	track(l, &l->slots[id], id, op, sqe);
	return 0;
}

int loop_prep_send(struct loop *l, int id, unsigned op, int fd, const void *buf, size_t len,
		   int flags)
{
	int err = 0;
	struct io_uring_sqe *sqe = begin(l, id, op, false, &err);

	if (!sqe)
		return err;
	io_uring_prep_send(sqe, fd, buf, len, flags | MSG_NOSIGNAL);
	track(l, &l->slots[id], id, op, sqe);
	return 0;
}

int loop_prep_sendmsg(struct loop *l, int id, unsigned op, int fd, const struct msghdr *msg,
		      int flags)
{
	int err = 0;
	struct io_uring_sqe *sqe = begin(l, id, op, false, &err);

	if (!sqe)
		return err;
	io_uring_prep_sendmsg(sqe, fd, msg, (unsigned)(flags | MSG_NOSIGNAL));
	track(l, &l->slots[id], id, op, sqe);
	return 0;
}

int loop_prep_connect(struct loop *l, int id, unsigned op, int fd, const struct sockaddr *sa,
		      socklen_t salen, unsigned timeout_ms)
{
	struct loop_slot *s = slot_of(l, id);
	struct io_uring_sqe *sqe, *tsqe;
	struct __kernel_timespec *ts;
	int err = 0;

	/* A link must not be split across two submits. If the early submit
	 * fails the pair does not fit: queue neither half. */
	if (timeout_ms && io_uring_sq_space_left(&l->ring) < 2) {
		l->stats.sq_full++;
		io_uring_submit(&l->ring);
		if (io_uring_sq_space_left(&l->ring) < 2)
			return l->draining ? -ECANCELED : -EBUSY;
	}
	sqe = begin(l, id, op, false, &err);
	if (!sqe)
		return err;
	io_uring_prep_connect(sqe, fd, sa, salen);
	track(l, s, id, op, sqe);
	if (!timeout_ms)
		return 0;
	assert(s->timed_op == LOOP_OP_NONE);
	sqe->flags |= IOSQE_IO_LINK;
	tsqe = io_uring_get_sqe(&l->ring); /* space checked above */
	assert(tsqe);
	/* The kernel reads the timespec when it takes the SQE: one per SQE
	 * index stays valid until then. */
	ts = &l->sqe_ts[tsqe - l->ring.sq.sqes];
	ts->tv_sec = timeout_ms / 1000;
	ts->tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
	io_uring_prep_link_timeout(tsqe, ts, 0);
	track(l, s, id, LOOP_OP_LINK_TIMEOUT, tsqe);
	s->timed_op = (uint8_t)op;
	s->timed_fd = fd;
	s->flags = (uint8_t)((s->flags & ~LOOP_SF_CANCELLED) | LOOP_SF_SLOW);
	return 0;
}

int loop_prep_splice(struct loop *l, int id, unsigned op, int fd_in, int fd_out, unsigned len,
		     unsigned splice_flags)
{
	int err = 0;
	struct io_uring_sqe *sqe = begin(l, id, op, false, &err);

	if (!sqe)
		return err;
	io_uring_prep_splice(sqe, fd_in, -1, fd_out, -1, len, splice_flags);
	track(l, &l->slots[id], id, op, sqe);
	return 0;
}

int loop_prep_shutdown(struct loop *l, int id, unsigned op, int fd, int how)
{
	int err = 0;
	struct io_uring_sqe *sqe = begin(l, id, op, true, &err);

	if (!sqe)
		return err;
	io_uring_prep_shutdown(sqe, fd, how);
	track(l, &l->slots[id], id, op, sqe);
	return 0;
}

int loop_prep_close(struct loop *l, int id, unsigned op, int fd)
{
	int err = 0;
	struct io_uring_sqe *sqe = begin(l, id, op, true, &err);

	if (!sqe)
		return err;
	io_uring_prep_close(sqe, fd);
	track(l, &l->slots[id], id, op, sqe);
	return 0;
}

int loop_prep_poll(struct loop *l, int id, unsigned op, int fd, unsigned mask, bool multishot)
{
	int err = 0;
	struct io_uring_sqe *sqe = begin(l, id, op, false, &err);

	if (!sqe)
		return err;
	if (multishot)
		io_uring_prep_poll_multishot(sqe, fd, mask);
	else
		io_uring_prep_poll_add(sqe, fd, mask);
	track(l, &l->slots[id], id, op, sqe);
	return 0;
}

int loop_prep_nop(struct loop *l, int id, unsigned op)
{
	int err = 0;
	struct io_uring_sqe *sqe = begin(l, id, op, false, &err);

	if (!sqe)
		return err;
	io_uring_prep_nop(sqe);
	track(l, &l->slots[id], id, op, sqe);
	return 0;
}

int loop_prep_cancel(struct loop *l, int id, unsigned op)
{
	struct loop_slot *s = slot_of(l, id);
	uint64_t ud = loop_ud(s->gen, (uint32_t)id, op);
	struct io_uring_sqe *sqe;

	assert(op <= LOOP_OP_MAX);
	if (op == s->timed_op)
		s->flags |= LOOP_SF_CANCELLED;
	cancel_parked(l, ud, (uint32_t)id, -1);
	sqe = loop_get_sqe(l);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_cancel64(sqe, ud, IORING_ASYNC_CANCEL_ALL);
	set_internal(l, sqe, LOOP_IOP_CANCEL);
	return 0;
}

int loop_prep_cancel_fd(struct loop *l, int id, int fd)
{
	struct loop_slot *s = slot_of(l, id);
	struct io_uring_sqe *sqe;

	if (s->timed_op != LOOP_OP_NONE && fd == s->timed_fd)
		s->flags |= LOOP_SF_CANCELLED;
	cancel_parked(l, 0, (uint32_t)id, fd);
	sqe = loop_get_sqe(l);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
	set_internal(l, sqe, LOOP_IOP_CANCEL);
	return 0;
}

int loop_prep_cancel_slot(struct loop *l, int id)
{
	struct loop_slot *s = slot_of(l, id);
	int ret = 0;

	s->flags |= LOOP_SF_CANCELLED;
	cancel_parked(l, 0, (uint32_t)id, -2);
	/* One cancel per op the slot has used: the kernel matches user_data
	 * exactly, and ALL catches every request queued under that op. */
	for (uint64_t m = s->ops_used; m && ret == 0; m &= m - 1) {
		struct io_uring_sqe *sqe = loop_get_sqe(l);
		unsigned op = (unsigned)__builtin_ctzll(m);

		if (!sqe) {
			ret = -EBUSY;
			break;
		}
		io_uring_prep_cancel64(sqe, loop_ud(s->gen, (uint32_t)id, op),
				       IORING_ASYNC_CANCEL_ALL);
		set_internal(l, sqe, LOOP_IOP_CANCEL);
	}
	return ret;
}
