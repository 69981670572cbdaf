/* Per-worker min-heap of deadlines, so each connection can wait (a /delay,
 * a lingering close) without a kernel timer of its own: the worker sleeps in
 * epoll_wait() until the earliest deadline.
 *
 * The heap holds pointers to timers embedded in their owners; it owns only
 * its array. A timer is in at most one heap (idx >= 0) or none (idx < 0).
 */
#ifndef STRATA_ECHO_TIMER_H
#define STRATA_ECHO_TIMER_H

#include <stdint.h>

struct echo_timer {
	uint64_t deadline_ms; /* log_now_ms() clock */
	int32_t idx;	      /* position in the heap, -1 when not armed */
};

struct echo_timer_heap {
	struct echo_timer **v;
	uint32_t n, cap;
};

static inline void echo_timer_init(struct echo_timer *t)
{
	t->idx = -1;
}

/* Arms (or re-arms) t for deadline_ms. Returns 0 or -ENOMEM. */
int echo_timer_arm(struct echo_timer_heap *h, struct echo_timer *t, uint64_t deadline_ms);

/* Disarms t; no-op when it is not armed. */
void echo_timer_cancel(struct echo_timer_heap *h, struct echo_timer *t);

/* Removes and returns the earliest timer due at `now_ms`, or NULL. */
struct echo_timer *echo_timer_pop_due(struct echo_timer_heap *h, uint64_t now_ms);

/* Milliseconds until the earliest deadline (0 when due), or -1 when empty:
 * an epoll_wait() timeout. */
int echo_timer_wait_ms(const struct echo_timer_heap *h, uint64_t now_ms);

void echo_timer_heap_free(struct echo_timer_heap *h);

#endif
