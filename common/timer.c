/* Two-level hashed timer wheel with lazy re-arm; see timer.h.
 *
 * Invariants (w->tick = T, the last millisecond whose bucket has run):
 * - level 0 holds only timers placed in T's 4096 ms block, at index
 *   (placement & L0_MASK), always above T's index;
 * - level 1 holds timers placed in a later block, at (placement >> 12) & L1_MASK;
 *   a bucket may hold several rounds, re-examined each time it cascades;
 * - a timer's placement is never later than its deadline (lazy re-arm only
 *   moves the deadline later), so running a bucket early is harmless and late
 *   is impossible.
 * Bitmaps of non-empty buckets let advance and next skip empty time.
 */
#include "timer.h"

#define L0_MASK (TIMER_L0_SIZE - 1)
#define L1_MASK (TIMER_L1_SIZE - 1)

void timer_wheel_init(struct timer_wheel *w, uint64_t now_ms)
{
	*w = (struct timer_wheel){.tick = now_ms};
}

void timer_init(struct timer *t, timer_cb cb)
{
	*t = (struct timer){.cb = cb};
}

static inline void map_set(uint64_t *map, unsigned i)
{
	map[i >> 6] |= 1ull << (i & 63);
}

static inline void map_clear(uint64_t *map, unsigned i)
{
	map[i >> 6] &= ~(1ull << (i & 63));
}

/* First set bit in [from, to] (inclusive), or -1. */
static int map_find(const uint64_t *map, unsigned from, unsigned to)
{
	unsigned word = from >> 6;
	uint64_t bits = map[word] & (~0ull << (from & 63));

	for (;;) {
		if (bits) {
			unsigned i = (word << 6) + (unsigned)__builtin_ctzll(bits);
			return i <= to ? (int)i : -1;
		}
		if (++word > (to >> 6))
			return -1;
		bits = map[word];
	}
}

static void link_head(struct timer **head, struct timer *t)
{
	t->next = *head;
	if (t->next)
		t->next->pprev = &t->next;
	*head = t;
	t->pprev = head;
}

/* Unlinks `t`; clears the bucket's bitmap bit when it becomes empty. A timer
 * on a detached (local) list is unlinked the same way without bitmap work. */
static void unlink_timer(struct timer_wheel *w, struct timer *t)
{
	struct timer **pprev = t->pprev;

	*pprev = t->next;
	if (t->next)
		t->next->pprev = pprev;
	else if (pprev >= &w->l0[0] && pprev < &w->l0[TIMER_L0_SIZE])
		map_clear(w->map0, (unsigned)(pprev - w->l0));
	else if (pprev >= &w->l1[0] && pprev < &w->l1[TIMER_L1_SIZE])
		map_clear(w->map1, (unsigned)(pprev - w->l1));
	t->next = NULL;
	t->pprev = NULL;
}

/* Links `t` in the bucket for `when` (>= w->tick). */
static void place(struct timer_wheel *w, struct timer *t, uint64_t when)
{
	if ((when >> TIMER_L0_BITS) == (w->tick >> TIMER_L0_BITS)) {
		unsigned i = (unsigned)(when & L0_MASK);
		link_head(&w->l0[i], t);
		map_set(w->map0, i);
	} else {
		unsigned i = (unsigned)((when >> TIMER_L0_BITS) & L1_MASK);
		link_head(&w->l1[i], t);
		map_set(w->map1, i);
	}
}

void timer_arm(struct timer_wheel *w, struct timer *t, uint64_t expires_ms)
{
	if (timer_is_armed(t)) {
		/* Lazy re-arm: the old placement is earlier, so the timer will be
		 * looked at in time and moved then. */
		if (expires_ms >= t->expires) {
			t->expires = expires_ms;
			return;
		}
		unlink_timer(w, t);
	} else {
		w->count++;
	}
	t->expires = expires_ms;
	/* The bucket of w->tick has run (or is running): the earliest
	 * placement is the next millisecond. */
	place(w, t, expires_ms > w->tick ? expires_ms : w->tick + 1);
}

void timer_cancel(struct timer_wheel *w, struct timer *t)
{
	if (!timer_is_armed(t))
		return;
	unlink_timer(w, t);
	w->count--;
}

/* Moves a whole bucket to a local list the callbacks can still cancel from. */
static struct timer *detach(struct timer **head, uint64_t *map, unsigned i, struct timer **local)
{
	*local = *head;
	*head = NULL;
	map_clear(map, i);
	if (*local)
		(*local)->pprev = local;
	return *local;
}

static void cascade(struct timer_wheel *w, uint64_t block_start)
{
	unsigned i = (unsigned)((block_start >> TIMER_L0_BITS) & L1_MASK);
	struct timer *list, *t;

	detach(&w->l1[i], w->map1, i, &list);
	while ((t = list) != NULL) {
		unlink_timer(w, t);
		place(w, t, t->expires > block_start ? t->expires : block_start);
	}
}

static void run_bucket(struct timer_wheel *w, uint64_t tick, struct loop *loop)
{
	unsigned i = (unsigned)(tick & L0_MASK);
	struct timer *list, *t;

	detach(&w->l0[i], w->map0, i, &list);
	while ((t = list) != NULL) {
		unlink_timer(w, t);
		if (t->expires <= tick) {
			w->count--;
			t->cb(loop, t);
		} else {
			place(w, t, t->expires); /* re-armed later while waiting */
		}
	}
}

uint64_t timer_next(const struct timer_wheel *w)
{
	uint64_t t = w->tick + 1, block;
	unsigned from;
	int i;

	if (w->count == 0)
		return TIMER_NEVER;
	if (t & L0_MASK) {
		i = map_find(w->map0, (unsigned)(t & L0_MASK), L0_MASK);
		if (i >= 0)
			return (t & ~(uint64_t)L0_MASK) | (unsigned)i;
	}
	/* Level 0 is empty for the rest of this block: the next work is the
	 * cascade of the first non-empty level-1 bucket. */
	block = (t + L0_MASK) >> TIMER_L0_BITS;
	from = (unsigned)(block & L1_MASK);
	i = map_find(w->map1, from, L1_MASK);
	if (i < 0 && from > 0)
		i = map_find(w->map1, 0, from - 1);
	if (i < 0)
		return TIMER_NEVER;
	return (block + (((unsigned)i - from) & L1_MASK)) << TIMER_L0_BITS;
}

void timer_advance(struct timer_wheel *w, uint64_t now_ms, struct loop *loop)
{
	while (w->tick < now_ms) {
		uint64_t next = timer_next(w);

		if (next > now_ms) {
			w->tick = now_ms;
			return;
		}
		/* Nothing lies between w->tick and next: jump. */
		w->tick = next;
		if ((next & L0_MASK) == 0)
			cascade(w, next);
		run_bucket(w, next, loop);
	}
}
