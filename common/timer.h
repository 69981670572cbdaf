/* Timer wheel: millisecond timers for one event loop, O(1) arm, cancel and re-arm.
 *
 * A `struct timer` is embedded in its owner (a connection, a health check);
 * the wheel never allocates and never owns the timers it links. The owner
 * must cancel an armed timer before freeing the memory that holds it.
 *
 * Two levels: 4096 buckets of 1 ms cover the current 4.096 s block; 256
 * buckets of 4.096 s cover the next ~17 minutes, and later deadlines wait
 * there for more rounds. A level-1 bucket cascades into level 0 when its
 * block starts. Re-arming to a later deadline (an idle timeout pushed back on
 * every read) only stores the new deadline: the timer moves when its old
 * bucket comes up. Timers due in the same millisecond fire in unspecified
 * order; timers with different deadlines fire in deadline order.
 *
 * Not thread-safe: a wheel belongs to one loop thread.
 */
#ifndef STRATA_TIMER_H
#define STRATA_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIMER_L0_BITS 12 /* 4096 x 1 ms */
#define TIMER_L1_BITS 8	 /* 256 x 4096 ms */
#define TIMER_L0_SIZE (1u << TIMER_L0_BITS)
#define TIMER_L1_SIZE (1u << TIMER_L1_BITS)
#define TIMER_NEVER   UINT64_MAX

struct loop;
struct timer;

typedef void (*timer_cb)(struct loop *loop, struct timer *t);

/* Intrusive timer. Fields are private to timer.c; read them through the
 * functions below. */
struct timer {
	struct timer *next;
	struct timer **pprev; /* NULL when not armed */
	uint64_t expires;     /* absolute deadline, ms */
	timer_cb cb;
};

struct timer_wheel {
	uint64_t tick;	/* every bucket up to this ms has been run */
	uint64_t count; /* armed timers */
	struct timer *l0[TIMER_L0_SIZE];
	struct timer *l1[TIMER_L1_SIZE];
	uint64_t map0[TIMER_L0_SIZE / 64]; /* non-empty buckets, to skip and to sleep */
	uint64_t map1[TIMER_L1_SIZE / 64];
};

/* The owning object of an embedded timer: timer_owner(t, struct conn, idle). */
#define timer_owner(t, type, member) ((type *)(void *)((char *)(t)-offsetof(type, member)))

/* Starts an empty wheel whose clock reads `now_ms`. */
void timer_wheel_init(struct timer_wheel *w, uint64_t now_ms);

/* Prepares a timer (not armed). `cb` runs on expiry with the timer already
 * disarmed, so it may re-arm it or free its owner. */
void timer_init(struct timer *t, timer_cb cb);

/* Arms `t` to fire at absolute `expires_ms`; a deadline at or before the
 * wheel's clock fires at the next advance that moves the clock. Re-arming an
 * armed timer is allowed and O(1). */
void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t expires_ms);

/* Disarms `t`; a no-op when it is not armed. */
void timer_cancel(struct timer_wheel *w, struct timer *t);

static inline bool timer_is_armed(const struct timer *t)
{
	return t->pprev != NULL;
}

/* The deadline of an armed timer (ms). */
static inline uint64_t timer_expires(const struct timer *t)
{
	return t->expires;
}

/* Runs, in deadline order, every timer due at or before `now_ms`, passing
 * `loop` to the callbacks. Callbacks may arm and cancel any timer. */
void timer_advance(struct timer_wheel *w, uint64_t now_ms, struct loop *loop);

/* The earliest ms at which timer_advance() may have work, or TIMER_NEVER
 * when nothing is armed. May be early (a lazily re-armed timer, a cascade),
 * never late: sleeping until then misses nothing. */
uint64_t timer_next(const struct timer_wheel *w);

static inline uint64_t timer_count(const struct timer_wheel *w)
{
	return w->count;
}

#endif
