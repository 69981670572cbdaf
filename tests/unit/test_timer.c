/* Timer wheel tests on a fake clock (the test passes the time), so every
 * expiry is checked to the millisecond: ordering, cancel, lazy and eager
 * re-arm, rounds past the wheel's span, 100k timers, and timer_next(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdint.h>
#include <stdlib.h>

#include "timer.h"

#define T0 1000000u /* the fake clock does not start at zero */

struct rec {
	struct timer t;
	unsigned id;
	unsigned fired;
	uint64_t fired_tick;
};

static uint64_t now;	   /* what the test last passed to timer_advance() */
static unsigned order[64]; /* ids in firing order */
static unsigned n_order;
static struct timer_wheel *g_w;

static void on_fire(struct loop *l, struct timer *t)
{
	struct rec *r = timer_owner(t, struct rec, t);

	assert_false(timer_is_armed(t));
	r->fired++;
	r->fired_tick = now;
	if (n_order < 64)
		order[n_order++] = r->id;
}

static struct timer_wheel *new_wheel(void)
{
	struct timer_wheel *w = malloc(sizeof(*w));

	assert_non_null(w);
	timer_wheel_init(w, T0);
	now = T0;
	n_order = 0;
	g_w = w;
	return w;
}

static void advance(struct timer_wheel *w, uint64_t to)
{
	now = to;
	timer_advance(w, to, NULL);
}

static void arm(struct timer_wheel *w, struct rec *r, unsigned id, uint64_t at)
{
	r->id = id;
	r->fired = 0;
	timer_init(&r->t, on_fire);
	timer_arm(w, &r->t, at);
}

static void test_ordering(void **state)
{
	struct timer_wheel *w = new_wheel();
	static const unsigned delay[] = {50, 10, 30, 20, 40, 4100, 4095, 4096};
	static const unsigned want[] = {1, 3, 2, 4, 0, 6, 7, 5};
	struct rec r[8];

	for (unsigned i = 0; i < 8; i++)
		arm(w, &r[i], i, T0 + delay[i]);
	assert_int_equal(timer_count(w), 8);
	advance(w, T0 + 25);
	assert_int_equal(n_order, 2); /* 10 and 20 only: nothing early */
	advance(w, T0 + 10000);
	assert_int_equal(n_order, 8);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(order[i], want[i]);
	assert_int_equal(timer_count(w), 0);
	assert_true(timer_next(w) == TIMER_NEVER);
	free(w);
}

/* Exact firing tick when the clock moves one millisecond at a time. */
static void test_exact_tick(void **state)
{
	struct timer_wheel *w = new_wheel();
	static const unsigned delay[] = {1, 2, 4095, 4096, 4097, 8191, 8192, 12345};
	struct rec r[8];

	for (unsigned i = 0; i < 8; i++)
		arm(w, &r[i], i, T0 + delay[i]);
	for (uint64_t t = T0 + 1; t <= T0 + 13000; t++)
		advance(w, t);
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(r[i].fired, 1);
		assert_int_equal(r[i].fired_tick, T0 + delay[i]);
	}
	free(w);
}

static struct rec *pair; /* two timers, each cancels the other */

static void on_fire_cancel_other(struct loop *l, struct timer *t)
{
	struct rec *r = timer_owner(t, struct rec, t);

	on_fire(l, t);
	timer_cancel(g_w, &pair[1 - r->id].t);
}

static void test_cancel(void **state)
{
	struct timer_wheel *w = new_wheel();
	struct rec r[4];

	for (unsigned i = 0; i < 3; i++)
		arm(w, &r[i], i, T0 + 100 + i);
	timer_cancel(w, &r[1].t);
	timer_cancel(w, &r[1].t); /* not armed: a no-op */
	assert_int_equal(timer_count(w), 2);
	advance(w, T0 + 200);
	assert_int_equal(r[0].fired + r[1].fired + r[2].fired, 2);
	assert_int_equal(r[1].fired, 0);

	/* Two timers in the same millisecond: the first to fire cancels the other. */
	arm(w, &r[0], 0, T0 + 300);
	arm(w, &r[1], 1, T0 + 300);
	r[0].t.cb = on_fire_cancel_other;
	r[1].t.cb = on_fire_cancel_other;
	pair = r;
	arm(w, &r[3], 3, T0 + 5000); /* and one far away, cancelled from level 1 */
	timer_cancel(w, &r[3].t);
	advance(w, T0 + 400);
	assert_int_equal(r[0].fired + r[1].fired, 1);
	assert_int_equal(r[3].fired, 0);
	assert_int_equal(timer_count(w), 0);
	free(w);
}

static void test_rearm(void **state)
{
	struct timer_wheel *w = new_wheel();
	struct rec r, e;

	/* Later: lazy, fires once at the new deadline. */
	arm(w, &r, 0, T0 + 100);
	for (unsigned i = 1; i <= 1000; i++)
		timer_arm(w, &r.t, T0 + 100 + i);
	assert_int_equal(timer_count(w), 1);
	advance(w, T0 + 150);
	assert_int_equal(r.fired, 0);
	assert_true(timer_is_armed(&r.t));
	for (uint64_t t = T0 + 151; t <= T0 + 1200; t++)
		advance(w, t);
	assert_int_equal(r.fired, 1);
	assert_int_equal(r.fired_tick, T0 + 1100);

	/* Earlier: moved at once. Also from level 1 down to level 0. */
	arm(w, &e, 1, now + 20000);
	timer_arm(w, &e.t, now + 50);
	advance(w, now + 49);
	assert_int_equal(e.fired, 0);
	advance(w, now + 1);
	assert_int_equal(e.fired, 1);

	/* A deadline already past fires at the next tick. */
	arm(w, &e, 2, now - 10);
	advance(w, now + 1);
	assert_int_equal(e.fired, 1);
	assert_int_equal(timer_count(w), 0);
	free(w);
}

struct periodic {
	struct timer t;
	unsigned n;
};

static void on_periodic(struct loop *l, struct timer *t)
{
	struct periodic *p = timer_owner(t, struct periodic, t);

	assert_int_equal(now % 100, 0);
	if (++p->n < 100)
		timer_arm(g_w, t, now + 100);
}

static void test_rearm_from_callback(void **state)
{
	struct timer_wheel *w = new_wheel();
	struct periodic p = {.n = 0};

	timer_init(&p.t, on_periodic);
	timer_arm(w, &p.t, T0 + 100);
	for (uint64_t t = T0; t <= T0 + 20000; t += 100)
		advance(w, t);
	assert_int_equal(p.n, 100);
	assert_false(timer_is_armed(&p.t));
	free(w);
}

static void test_long_rounds(void **state)
{
	struct timer_wheel *w = new_wheel();
	/* One hour (~880 blocks, several level-1 rounds), just past the level-1
	 * span, and a multiple of the span. */
	static const uint64_t delay[] = {3600000, 4096 * 256 + 5, 4096 * 256 * 3, 4096 * 255 + 1};
	struct rec r[4];

	for (unsigned i = 0; i < 4; i++)
		arm(w, &r[i], i, T0 + delay[i]);
	for (uint64_t t = T0; t <= T0 + 3700000; t += 997) {
		uint64_t next = timer_next(w);

		advance(w, t);
		for (unsigned i = 0; i < 4; i++) {
			uint64_t d = T0 + delay[i];

			assert_int_equal(r[i].fired, d <= t);
			if (!r[i].fired)
				assert_true(next <= d); /* never sleeps past a deadline */
			else
				assert_true(r[i].fired_tick < d + 997);
		}
	}
	free(w);
}

static void test_next(void **state)
{
	struct timer_wheel *w = new_wheel();
	struct rec a, b;

	assert_true(timer_next(w) == TIMER_NEVER);
	arm(w, &a, 0, T0 + 5);
	assert_int_equal(timer_next(w), T0 + 5);
	arm(w, &b, 1, T0 + 100000);
	assert_int_equal(timer_next(w), T0 + 5);
	timer_cancel(w, &a.t);
	assert_true(timer_next(w) > T0 && timer_next(w) <= T0 + 100000);
	advance(w, timer_next(w)); /* a cascade: b is still pending */
	assert_int_equal(b.fired, 0);
	while (!b.fired)
		advance(w, timer_next(w));
	assert_int_equal(b.fired_tick, T0 + 100000);
	free(w);
}

#define N_MANY 100000

static uint32_t rng = 12345;

static uint32_t next_rand(void)
{
	rng = rng * 1103515245u + 12345u;
	return rng >> 8;
}

struct many {
	struct timer t;
	uint64_t deadline;
	unsigned fired;
};

static struct many *many;
static uint64_t prev_now; /* the clock before the current advance */

static void on_many(struct loop *l, struct timer *t)
{
	struct many *m = timer_owner(t, struct many, t);

	m->fired++;
	assert_true(m->deadline <= now);     /* never early */
	assert_true(m->deadline > prev_now); /* never a step late */
}

static void test_many(void **state)
{
	struct timer_wheel *w = new_wheel();
	uint64_t prev = T0;

	many = calloc(N_MANY, sizeof(*many));
	assert_non_null(many);
	for (unsigned i = 0; i < N_MANY; i++) {
		many[i].deadline = T0 + 1 + next_rand() % 2000000; /* up to ~33 min */
		timer_init(&many[i].t, on_many);
		timer_arm(w, &many[i].t, many[i].deadline);
	}
	while (timer_count(w)) {
		uint64_t to = prev + 1 + next_rand() % 5000;

		/* Push back or cancel some pending timers along the way. */
		for (unsigned k = 0; k < 50; k++) {
			struct many *m = &many[next_rand() % N_MANY];

			if (!timer_is_armed(&m->t))
				continue;
			if (k % 5 == 0) {
				timer_cancel(w, &m->t);
				m->fired = 1000; /* marks "cancelled": must not fire */
				continue;
			}
			m->deadline += next_rand() % 100000;
			timer_arm(w, &m->t, m->deadline);
		}
		prev_now = prev;
		advance(w, to);
		prev = to;
	}
	unsigned fired = 0;

	for (unsigned i = 0; i < N_MANY; i++) {
		assert_true(many[i].fired == 1 || many[i].fired == 1000);
		fired += many[i].fired == 1;
	}
	assert_true(fired > N_MANY * 9 / 10);
	free(many);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ordering),
	    cmocka_unit_test(test_exact_tick),
	    cmocka_unit_test(test_cancel),
	    cmocka_unit_test(test_rearm),
	    cmocka_unit_test(test_rearm_from_callback),
	    cmocka_unit_test(test_long_rounds),
	    cmocka_unit_test(test_next),
	    cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
