/* The event loop: creation, turns, completion dispatch, slots and shutdown;
 * see loop.h for the model. SQE helpers live in loop_prep.c, posting and
 * stopping from other threads in loop_post.c, parameters, feature probing
 * and ring setup in loop_probe.c.
 *
 * The loop owns its ring, its slot table, its bufring, its timer wheel and
 * the eventfd other threads wake it with. Objects behind slots belong to
 * their owners; the loop only calls their on_cqe/on_free.
 */
#include "loop_impl.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static uint64_t clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void set_now(struct loop *l)
{
	l->now_ns = clock_now_ns();
	l->now_ms = l->now_ns / 1000000u;
}

static int alloc_tables(struct loop *l, const struct loop_params *p)
{
	l->nslots = p->slots;
	l->slots = calloc(l->nslots, sizeof(*l->slots));
	l->to_free = calloc(l->nslots, sizeof(*l->to_free));
	l->cap_parked = 2 * l->nslots;
	l->parked = calloc(l->cap_parked, sizeof(*l->parked));
	if (!(l->features & LOOP_F_BUF_RING)) {
		l->cap_orphans = LOOP_POOL_RECVS * l->nslots;
		l->orphans = calloc(l->cap_orphans, sizeof(*l->orphans));
		if (!l->orphans)
			return -ENOMEM;
	}
	if (!l->slots || !l->to_free || !l->parked)
		return -ENOMEM;
	/* LIFO free list starting at slot 0. */
	for (uint32_t i = 0; i < l->nslots; i++) {
		l->slots[i].next_free = i + 1 < l->nslots ? i + 1 : LOOP_IDX_NONE;
		l->slots[i].timed_op = LOOP_OP_NONE;
	}
	l->free_head = 0;
	return 0;
}

/* Frees what loop_create() set up; the ring must have nothing in flight. */
static void loop_free(struct loop *l)
{
	bufring_fini(&l->br);
	if (l->sq_entries)
		io_uring_queue_exit(&l->ring);
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	pthread_mutex_destroy(&l->post_lock);
	free(l->sqe_ts);
	free(l->slots);
	free(l->to_free);
	free(l->parked);
	free(l->orphans);
	free(l->lost_accepts);
	free(l);
}

struct loop *loop_create(const struct loop_params *params)
{
	struct loop_params p;
	unsigned features;
	struct loop *l;
	int ret;

	ret = loop_params_resolve(params, &p, &features);
	if (ret < 0) {
		errno = -ret;
		return NULL;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->features = features;
	l->wake_fd = -1;
	l->post_tail = &l->post_head;
	pthread_mutex_init(&l->post_lock, NULL);
	set_now(l);
	timer_wheel_init(&l->timers, l->now_ms);
	ret = loop_setup_ring(l, &p);
	if (ret == 0)
		ret = alloc_tables(l, &p);
	if (ret == 0)
		ret = bufring_init(&l->br, &l->ring, 0, p.buf_count, p.buf_size,
				   !(l->features & LOOP_F_BUF_RING));
	if (ret == 0) {
		l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ret = l->wake_fd < 0 ? -errno : loop_arm_wake(l);
	}
	if (ret < 0) {
		loop_free(l); /* the wake read was not submitted yet */
		errno = -ret;
		return NULL;
	}
	loop_log_features(l->features);
	return l;
}

/* --- slots ------------------------------------------------------------------- */

static void queue_free(struct loop *l, uint32_t idx)
{
	struct loop_slot *s = &l->slots[idx];

	if (s->flags & LOOP_SF_FREE_QUEUED)
		return;
	s->flags |= LOOP_SF_FREE_QUEUED;
	l->to_free[l->n_to_free++] = idx;
}

static void release_slot(struct loop *l, uint32_t idx)
{
	struct loop_slot *s = &l->slots[idx];

	s->gen++;
	s->state = LOOP_SLOT_FREE;
	s->flags = 0;
	s->obj = NULL;
	s->ops = NULL;
	s->inflight = 0;
	s->timed_op = LOOP_OP_NONE;
	s->timed_seen = 0;
	s->pool_n = 0;
	s->next_free = l->free_head;
	l->free_head = idx;
}

/* Runs on_free for closed slots with nothing in flight. A stack, so slots an
 * on_free opens and closes again never overflow the array. */
static void run_frees(struct loop *l)
{
	while (l->n_to_free) {
		uint32_t idx = l->to_free[--l->n_to_free];
		struct loop_slot *s = &l->slots[idx];
		const struct loop_ops *ops = s->ops;
		void *obj = s->obj;

		s->flags &= (uint8_t)~LOOP_SF_FREE_QUEUED;
		if (s->state != LOOP_SLOT_CLOSING || s->inflight)
			continue; /* queued more after closing: freed when it ends */
		release_slot(l, idx);
		if (ops->on_free)
			ops->on_free(l, obj);
	}
}

int loop_slot_open(struct loop *l, const struct loop_ops *ops, void *obj)
{
	uint32_t idx = l->free_head;
	struct loop_slot *s;

	if (idx == LOOP_IDX_NONE)
		return -ENOSPC;
	s = &l->slots[idx];
	l->free_head = s->next_free;
	s->obj = obj;
	s->ops = ops;
	s->state = LOOP_SLOT_OPEN;
	s->ops_used = 0;
	s->accept_ops = 0;
	return (int)idx;
}

void loop_slot_close(struct loop *l, int id)
{
	struct loop_slot *s = &l->slots[id];

	assert((unsigned)id < l->nslots && s->state == LOOP_SLOT_OPEN);
	s->state = LOOP_SLOT_CLOSING;
	if (s->inflight == 0)
		queue_free(l, (uint32_t)id);
}

/* Accepts still armed on an abandoned slot keep accepting (a multishot one
 * until cancelled): remember them, so dispatch_stale() closes what they bring. */
static void remember_accepts(struct loop *l, struct loop_slot *s, uint32_t idx)
{
	for (uint64_t m = s->accept_ops; m; m &= m - 1) {
		if (l->nlost_accepts == l->cap_lost_accepts) {
			uint32_t cap = l->cap_lost_accepts ? 2 * l->cap_lost_accepts : 8;
			uint64_t *v = realloc(l->lost_accepts, cap * sizeof(*v));

			if (!v) {
				log_err(
				    "loop: out of memory: accepts of an abandoned slot will leak");
				return;
			}
			l->lost_accepts = v;
			l->cap_lost_accepts = cap;
		}
		l->lost_accepts[l->nlost_accepts++] =
		    loop_ud(s->gen, idx, (unsigned)__builtin_ctzll(m));
	}
}

void loop_slot_abandon(struct loop *l, int id)
{
	struct loop_slot *s = &l->slots[id];

	assert((unsigned)id < l->nslots && s->state != LOOP_SLOT_FREE);
	loop_parked_drop_slot(l, (uint32_t)id);
	remember_accepts(l, s, (uint32_t)id);
	/* Pool-mode recvs still write into their buffer: remember which. */
	for (unsigned k = 0; k < s->pool_n; k++) {
		assert(l->norphans < l->cap_orphans);
		l->orphans[l->norphans++] = (struct loop_orphan){
		    .ud = loop_ud(s->gen, (uint32_t)id, s->pool_op[k]),
		    .bid = s->pool_bid[k],
		};
	}
	if (s->flags & LOOP_SF_FREE_QUEUED) {
		for (uint32_t i = 0; i < l->n_to_free; i++)
			if (l->to_free[i] == (uint32_t)id)
				l->to_free[i] = l->to_free[--l->n_to_free];
	}
	release_slot(l, (uint32_t)id);
}

unsigned loop_slot_inflight(const struct loop *l, int id)
{
	assert((unsigned)id < l->nslots);
	return l->slots[id].inflight;
}

bool loop_slot_parked(const struct loop *l, int id)
{
	assert((unsigned)id < l->nslots);
	for (uint32_t i = 0; i < l->nparked; i++)
		if (loop_ud_idx(l->parked[i].ud) == (uint32_t)id)
			return true;
	return false;
}

/* --- dispatch -------------------------------------------------------------------- */

static void dispatch_internal(struct loop *l, const struct io_uring_cqe *cqe)
{
	if (cqe->user_data == LIBURING_UDATA_TIMEOUT)
		return; /* liburing's own wait timeout on kernels without EXT_ARG */
	if (!(cqe->flags & IORING_CQE_F_MORE))
		l->inflight--;
	if (loop_ud_op(cqe->user_data) == LOOP_IOP_WAKE) {
		l->wake_armed = false;
		l->run_posts = true;
	}
}

/* A completion for a generation that is gone: return its buffer, count it. */
static void dispatch_stale(struct loop *l, const struct io_uring_cqe *cqe)
{
	int bid = loop_cqe_bid(cqe);

	l->stats.stale++;
	if (!(cqe->flags & IORING_CQE_F_MORE))
		l->inflight--;
	if (bid >= 0) {
		bufring_take(&l->br, (unsigned)bid);
		bufring_put(&l->br, (unsigned)bid);
		return;
	}
	for (uint32_t i = 0; i < l->norphans; i++) {
		if (l->orphans[i].ud != cqe->user_data)
			continue;
		bufring_pool_unpop(&l->br, l->orphans[i].bid);
		l->orphans[i] = l->orphans[--l->norphans];
		return;
	}
	for (uint32_t i = 0; i < l->nlost_accepts; i++) {
		if (l->lost_accepts[i] != cqe->user_data)
			continue;
		if (cqe->res >= 0) /* a connection nobody will serve */
			close(cqe->res);
		if (!(cqe->flags & IORING_CQE_F_MORE))
			l->lost_accepts[i] = l->lost_accepts[--l->nlost_accepts];
		return;
	}
}

static void slot_update_slow(struct loop_slot *s)
{
	if (s->timed_op != LOOP_OP_NONE || s->pool_n || s->accept_ops)
		s->flags |= LOOP_SF_SLOW;
	else
		s->flags &= (uint8_t)~LOOP_SF_SLOW;
}

/* Pool mode: attach the buffer a plain recv filled, as the kernel would. */
static void pool_complete(struct loop *l, struct loop_slot *s, unsigned op, struct io_uring_cqe *c)
{
	for (unsigned k = 0; k < s->pool_n; k++) {
		if (s->pool_op[k] != op)
			continue;
		unsigned bid = s->pool_bid[k];
		s->pool_n--;
		s->pool_op[k] = s->pool_op[s->pool_n];
		s->pool_bid[k] = s->pool_bid[s->pool_n];
		if (c->res > 0) {
			bufring_take(&l->br, bid);
			c->flags |= IORING_CQE_F_BUFFER | (bid << IORING_CQE_BUFFER_SHIFT);
		} else {
			bufring_pool_unpop(&l->br, bid);
		}
		return;
	}
}

/* A connect with a linked timeout completes twice (connect, then or before
 * the timeout). The owner sees one completion, once both have arrived, so
 * that nothing of the pair is in flight when it acts on the result. */
static bool timed_complete(struct loop_slot *s, unsigned op, struct io_uring_cqe *c)
{
	if (op == LOOP_OP_LINK_TIMEOUT) {
		s->timed_seen |= LOOP_TS_TIMEOUT;
		if (!(s->timed_seen & LOOP_TS_CONNECT))
			return false;
		c->user_data = s->timed_ud;
		c->res = s->timed_res;
		c->flags = s->timed_flags;
	} else {
		s->timed_seen |= LOOP_TS_CONNECT;
		if (!(s->timed_seen & LOOP_TS_TIMEOUT)) {
			s->timed_ud = c->user_data;
			s->timed_res = c->res;
			s->timed_flags = c->flags;
			return false;
		}
	}
	/* The linked timeout fired and cancelled the connect. */
	if (c->res == -ECANCELED && !(s->flags & LOOP_SF_CANCELLED))
		c->res = -ETIMEDOUT;
	s->timed_op = LOOP_OP_NONE;
	s->timed_seen = 0;
	return true;
}

static void dispatch_slow(struct loop *l, struct loop_slot *s, unsigned op,
			  const struct io_uring_cqe *cqe)
{
	struct io_uring_cqe c = *cqe;

	if (op == LOOP_OP_LINK_TIMEOUT || op == s->timed_op) {
		if (!timed_complete(s, op, &c))
			return;
		op = loop_ud_op(c.user_data);
	} else if (s->pool_n) {
		pool_complete(l, s, op, &c);
	}
	if (op < 64 && !(c.flags & IORING_CQE_F_MORE))
		s->accept_ops &= ~(1ull << op); /* that accept is no longer armed */
	slot_update_slow(s);
	s->ops->on_cqe(l, s->obj, op, &c);
}

void loop_dispatch(struct loop *l, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	uint32_t idx = loop_ud_idx(ud);
	struct loop_slot *s;
	unsigned op;

	if (unlikely(idx >= l->nslots)) {
		dispatch_internal(l, cqe);
		return;
	}
	s = &l->slots[idx];
	if (unlikely(s->gen != loop_ud_gen(ud))) {
		dispatch_stale(l, cqe);
		return;
	}
	op = loop_ud_op(ud);
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		s->inflight--;
		l->inflight--;
	}
	if (cqe->flags & IORING_CQE_F_BUFFER)
		bufring_take(&l->br, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
	else if (unlikely(cqe->res == -ENOBUFS))
		l->stats.enobufs++;
	if (unlikely(op > LOOP_OP_MAX || (s->flags & LOOP_SF_SLOW)))
		dispatch_slow(l, s, op, cqe);
	else
		s->ops->on_cqe(l, s->obj, op, cqe);
	if (unlikely(s->inflight == 0 && s->state == LOOP_SLOT_CLOSING))
		queue_free(l, idx);
}

/* --- turns ------------------------------------------------------------------------ */

static struct __kernel_timespec *wait_time(struct loop *l, int timeout_ms,
					   struct __kernel_timespec *ts)
{
	uint64_t wait = timeout_ms < 0 ? TIMER_NEVER : (uint64_t)timeout_ms;
	uint64_t next;

	if (l->run_posts || l->ncancelled || l->n_to_free)
		wait = 0;
	if (wait && !l->draining && (next = timer_next(&l->timers)) != TIMER_NEVER) {
		uint64_t now = clock_ms();
		uint64_t d = next > now ? next - now : 0;
		wait = d < wait ? d : wait;
	}
	if (wait == TIMER_NEVER)
		return NULL;
	ts->tv_sec = (long long)(wait / 1000);
	ts->tv_nsec = (long long)(wait % 1000) * 1000000;
	return ts;
}

static unsigned reap(struct loop *l)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&l->ring, head, cqe)
	{
		loop_dispatch(l, cqe);
		n++;
	}
	io_uring_cq_advance(&l->ring, n);
	l->stats.cqes += n;
	return n;
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	struct __kernel_timespec ts, *tsp;
	struct io_uring_cqe *cqe;
	unsigned n;
	int ret;

	/* Buffers put back last turn become visible; parked recvs take them. */
	bufring_flush(&l->br);
	if (l->nparked)
		loop_parked_serve(l);
	if (!l->wake_armed && !l->draining)
		loop_arm_wake(l);
	tsp = wait_time(l, timeout_ms, &ts);
	ret = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, tsp, NULL);
	set_now(l);
	n = reap(l);
	if (l->ncancelled)
		loop_parked_deliver_cancelled(l);
	if (!l->draining)
		timer_advance(&l->timers, l->now_ms, l);
	if (l->run_posts)
		loop_run_posts(l);
	if (l->turn_fn && !l->draining) /* like timers: none while draining */
		l->turn_fn(l, l->turn_arg);
	run_frees(l);
	l->stats.turns++;
	if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
		return ret;
	return (int)n;
}

/* Cancels everything and reaps until nothing is in flight (bounded). */
static int loop_drain(struct loop *l)
{
	uint64_t deadline;
	int ret;

	l->draining = true;
	if (l->inflight == 0 && !l->nparked)
		return 0;
	deadline = clock_ms() + LOOP_DRAIN_MS;
	/* Timed connects cut short by the drain report -ECANCELED. */
	for (uint32_t i = 0; i < l->nslots; i++)
		if (l->slots[i].state != LOOP_SLOT_FREE)
			l->slots[i].flags |= LOOP_SF_CANCELLED;
	loop_parked_cancel_all(l);
	loop_queue_cancel_any(l);
	while (l->inflight > 0) {
		if (clock_ms() >= deadline) {
			log_warn("loop: %u requests still in flight after %u ms", l->inflight,
				 LOOP_DRAIN_MS);
			return -ETIMEDOUT;
		}
		/* Handlers may have queued a close or shutdown meanwhile. */
		if (l->queued_since_cancel)
			loop_queue_cancel_any(l);
		ret = loop_run_once(l, 100);
		if (ret < 0) { /* the ring is broken: nothing more will complete */
			log_err("loop: io_uring failed while draining: %s", strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int loop_run(struct loop *l)
{
	int ret = 0;

	while (!__atomic_load_n(&l->stop, __ATOMIC_SEQ_CST)) {
		ret = loop_run_once(l, -1);
		if (ret < 0) {
			log_err("loop: io_uring wait failed: %s", strerror(-ret));
			/* Drain once more: the failure may have been transient. */
			loop_drain(l);
			return ret;
		}
	}
	return loop_drain(l);
}

void loop_destroy(struct loop *l)
{
	if (!l)
		return;
	loop_drain(l);
	/* The loop_stop() that ended loop_run() may still be writing the eventfd. */
	loop_wakers_wait(l);
	/* Posted functions may post again; a bounded number of rounds, then
	 * whatever is left is dropped (its memory only). */
	for (int round = 0; round < 16 && l->post_head; round++)
		loop_run_posts(l);
	for (struct loop_post_item *it = l->post_head, *next; it; it = next) {
		next = it->next;
		free(it);
	}
	for (uint32_t i = 0; i < l->nslots; i++) {
		struct loop_slot *s = &l->slots[i];

		if (s->state == LOOP_SLOT_OPEN)
			loop_slot_close(l, (int)i);
	}
	run_frees(l);
	if (l->inflight > 0) {
		/* The kernel may still write into buffers or slot owners' memory:
		 * leaking is the only safe choice. */
		log_err("loop: destroyed with %u requests in flight; leaking its memory",
			l->inflight);
		io_uring_queue_exit(&l->ring);
		return;
	}
	loop_free(l);
}

/* --- accessors -------------------------------------------------------------------- */

uint64_t loop_now_ms(const struct loop *l)
{
	return l->now_ms;
}

uint64_t loop_now_ns(const struct loop *l)
{
	return l->now_ns;
}

unsigned loop_features(const struct loop *l)
{
	return l->features;
}

const struct loop_stats *loop_stats(const struct loop *l)
{
	return &l->stats;
}

struct bufring *loop_bufring(struct loop *l)
{
	return &l->br;
}

struct timer_wheel *loop_timers(struct loop *l)
{
	return &l->timers;
}

unsigned loop_inflight(const struct loop *l)
{
	return l->inflight;
}

void loop_set_turn_hook(struct loop *l, loop_post_fn fn, void *arg)
{
	l->turn_fn = fn;
	l->turn_arg = arg;
}

void loop_timer_arm(struct loop *l, struct timer *t, uint64_t delay_ms)
{
	timer_arm(&l->timers, t, l->now_ms + delay_ms);
}

void loop_timer_cancel(struct loop *l, struct timer *t)
{
	timer_cancel(&l->timers, t);
}
