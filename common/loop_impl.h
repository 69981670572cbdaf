/* Internals shared by loop.c (turns, dispatch, slots), loop_post.c (posting,
 * stopping), loop_prep.c (SQE helpers, parked recvs) and loop_probe.c
 * (feature probing). Not an API: only those files (and test_loop_submit.c, which
 * breaks the ring on purpose) include it.
 *
 * user_data layout (64 bits): generation (32) | slot index (24) | op (8).
 * Owner ops are 0..LOOP_OP_MAX; ops above are the loop's own, and slot index
 * LOOP_IDX_INTERNAL marks requests that belong to no slot (the eventfd read,
 * cancels). liburing's LIBURING_UDATA_TIMEOUT (all ones) is never produced
 * by us: internal requests use generation 0.
 */
#ifndef STRATA_LOOP_IMPL_H
#define STRATA_LOOP_IMPL_H

#include "loop.h"

#include <pthread.h>

#define LOOP_IDX_BITS	  24
#define LOOP_IDX_MASK	  ((1u << LOOP_IDX_BITS) - 1)
#define LOOP_IDX_INTERNAL LOOP_IDX_MASK
#define LOOP_IDX_NONE	  UINT32_MAX /* end of the free list */

#define LOOP_OP_LINK_TIMEOUT 0xFFu /* swallowed: a connect's linked timeout */
#define LOOP_OP_NONE	     0xFFu /* "no timed connect" in a slot */
#define LOOP_IOP_WAKE	     1u	   /* internal: the eventfd read */
#define LOOP_IOP_CANCEL	     2u	   /* internal: a cancel request */

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

enum { LOOP_TS_CONNECT = 1u << 0, LOOP_TS_TIMEOUT = 1u << 1 };

enum loop_slot_state { LOOP_SLOT_FREE, LOOP_SLOT_OPEN, LOOP_SLOT_CLOSING, LOOP_SLOT__COUNT };

enum {
	LOOP_SF_FREE_QUEUED = 1u << 0, /* on the to_free list */
	LOOP_SF_CANCELLED = 1u << 1,   /* owner cancelled: keep -ECANCELED as is */
	LOOP_SF_SLOW = 1u << 2,	       /* timed connect, pool recvs, accept: slow dispatch */
};

struct loop_slot {
	void *obj;
	const struct loop_ops *ops;
	uint32_t gen;
	uint32_t inflight;
	uint32_t next_free;
	uint64_t ops_used;   /* owner ops 0..63 queued since open, for loop_prep_cancel_slot() */
	uint64_t accept_ops; /* owner ops 0..63 with an accept armed (slow dispatch) */
	uint8_t state;	     /* enum loop_slot_state */
	uint8_t flags;	     /* LOOP_SF_* */
	uint8_t timed_op;    /* op of the connect with a linked timeout, or LOOP_OP_NONE */
	uint8_t timed_seen;  /* LOOP_TS_*: which of the pair has completed */
	uint8_t pool_n;	     /* pool-mode recvs in flight */
	uint8_t pool_op[LOOP_POOL_RECVS];
	uint16_t pool_bid[LOOP_POOL_RECVS];
	/* A connect completion held until its timeout's arrives (struct
	 * io_uring_cqe ends in a flexible array: keep the fields instead). */
	uint64_t timed_ud;
	int32_t timed_res;
	uint32_t timed_flags;
	int timed_fd; /* its socket, to tell a cancel by fd */
};

/* A recv waiting for buffers (it counts as in flight for its slot). */
struct loop_parked {
	uint64_t ud;
	int fd;
	bool cancelled;
};

/* Pool mode: a plain recv of an abandoned slot still owns a pool buffer. */
struct loop_orphan {
	uint64_t ud;
	uint16_t bid;
};

struct loop_post_item {
	struct loop_post_item *next;
	loop_post_fn fn;
	void *arg;
};

struct loop {
	struct io_uring ring;
	unsigned features;
	uint64_t now_ms;
	uint64_t now_ns; /* the same reading, in nanoseconds */
	uint32_t inflight; /* every request that will produce a final CQE */
	uint32_t nslots;
	struct loop_slot *slots;
	uint32_t free_head;
	uint32_t *to_free; /* slots whose on_free runs at the end of the turn */
	uint32_t n_to_free;
	struct bufring br;
	struct loop_parked *parked;
	uint32_t nparked, cap_parked, ncancelled;
	struct loop_orphan *orphans;
	uint32_t norphans, cap_orphans;
	uint64_t *lost_accepts; /* user_data of accepts of abandoned slots */
	uint32_t nlost_accepts, cap_lost_accepts;
	struct __kernel_timespec *sqe_ts; /* linked-timeout values, per SQE index */
	unsigned sq_entries;
	int wake_fd;
	uint64_t wake_buf;
	bool wake_armed;
	bool run_posts;
	bool draining;
	bool queued_since_cancel;
	int stop;	  /* atomic */
	int wake_pending; /* atomic: an eventfd write is on its way */
	int wakers;	  /* atomic: loop_stop()/loop_post() calls still touching us */
	pthread_mutex_t post_lock;
	struct loop_post_item *post_head, **post_tail;
	struct loop_stats stats;
	struct timer_wheel timers;
	loop_post_fn turn_fn; /* loop_set_turn_hook() */
	void *turn_arg;
};

static inline uint64_t loop_ud(uint32_t gen, uint32_t idx, unsigned op)
{
	return ((uint64_t)gen << 32) | ((uint64_t)idx << 8) | (op & 0xFFu);
}

static inline uint32_t loop_ud_idx(uint64_t ud)
{
	return (uint32_t)(ud >> 8) & LOOP_IDX_MASK;
}

static inline unsigned loop_ud_op(uint64_t ud)
{
	return (unsigned)ud & 0xFFu;
}

static inline uint32_t loop_ud_gen(uint64_t ud)
{
	return (uint32_t)(ud >> 32);
}

/* loop_probe.c: fills `out` from `in` (defaults for zeros; `in` may be NULL),
 * checks it and works out the features to use (probing the kernel once per
 * process). 0, -EINVAL, or -ENOSYS when io_uring or an opcode the loop needs
 * is missing. */
int loop_params_resolve(const struct loop_params *in, struct loop_params *out, unsigned *features);
/* Sets up l->ring for l->features and the per-SQE timespec array. */
int loop_setup_ring(struct loop *l, const struct loop_params *p);
/* Logs the features line once per distinct set. */
void loop_log_features(unsigned features);

/* loop_prep.c */
struct io_uring_sqe *loop_get_sqe(struct loop *l);
void loop_parked_serve(struct loop *l);
void loop_parked_deliver_cancelled(struct loop *l);
void loop_parked_cancel_all(struct loop *l);
void loop_parked_drop_slot(struct loop *l, uint32_t idx);
int loop_arm_wake(struct loop *l);
int loop_queue_cancel_any(struct loop *l);

/* loop_post.c: runs the posted functions (loop thread), and waits until no
 * other thread is inside loop_post()/loop_stop() (before freeing). */
void loop_run_posts(struct loop *l);
void loop_wakers_wait(struct loop *l);

/* loop.c: dispatch of one completion (also used for synthetic ones). */
void loop_dispatch(struct loop *l, const struct io_uring_cqe *cqe);

#endif
