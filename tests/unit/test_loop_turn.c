/* What one event loop turn does: timers bound the wait (an idle loop
 * sleeps), a nop completes in the next turn, and the end-of-turn hook runs
 * after the turn's completions. Every test runs once per path (default and
 * each forced fallback). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "loop_harness.h"

/* --- timers drive the wait; an idle loop sleeps -------------------------------------- */

static uint64_t fired_at;

static void on_timer(struct loop *l, struct timer *t)
{
	fired_at = h_now_ms();
}

static void test_loop_timer(void **state)
{
	struct loop *l = loop_create(&h_params);
	struct timer t;
	uint64_t t0, turns;

	assert_non_null(l);
	timer_init(&t, on_timer);
	fired_at = 0;
	loop_run_once(l, 0);
	t0 = h_now_ms();
	turns = loop_stats(l)->turns;
	loop_timer_arm(l, &t, 40);
	while (!fired_at && h_now_ms() - t0 < 2000)
		loop_run_once(l, -1);
	assert_true(fired_at - t0 >= 39 && fired_at - t0 < 1000);
	/* Slept until the deadline instead of ticking every millisecond. */
	assert_true(loop_stats(l)->turns - turns <= 4);
	assert_false(timer_is_armed(&t));

	t0 = h_now_ms();
	assert_int_equal(loop_run_once(l, 60), 0);
	assert_true(h_now_ms() - t0 >= 55);
	loop_destroy(l);
}

/* --- nop: a callback in the next turn ------------------------------------------------ */

static void on_nop(struct h_owner *o, unsigned op, const struct io_uring_cqe *cqe)
{
	if (h_count(o, H_OP_PEEK) < 3)
		assert_int_equal(loop_prep_nop(o->loop, o->id, H_OP_PEEK), 0);
}

static bool three_nops(void *arg)
{
	return h_count(arg, H_OP_PEEK) == 3 &&
	       loop_slot_inflight(((struct h_owner *)arg)->loop, ((struct h_owner *)arg)->id) == 0;
}

static void test_nop(void **state)
{
	struct loop *l = loop_create(&h_params);
	struct h_owner o;
	uint64_t turns;

	assert_non_null(l);
	h_owner_open(&o, l, -1);
	o.handler = on_nop;
	assert_int_equal(loop_prep_nop(l, o.id, H_OP_PEEK), 0);
	assert_int_equal(o.nev, 0); /* queued, not run inline */
	turns = loop_stats(l)->turns;
	assert_true(h_run_until(l, three_nops, &o, 1000));
	assert_true(loop_stats(l)->turns - turns >= 3); /* one per turn, no recursion */
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(o.ev[i].res, 0);
	loop_destroy(l);
}

/* --- the end-of-turn hook --------------------------------------------------------------- */

struct turn_rec {
	struct h_owner *o;
	unsigned calls;
	unsigned nev_seen; /* completions dispatched before the last call */
	bool queue_nop;	   /* queue a nop from the hook, once */
};

static void on_turn(struct loop *l, void *arg)
{
	struct turn_rec *t = arg;

	t->calls++;
	t->nev_seen = t->o->nev;
	if (t->queue_nop) {
		t->queue_nop = false;
		assert_int_equal(loop_prep_nop(l, t->o->id, H_OP_PEEK), 0);
	}
}

static void test_turn_hook(void **state)
{
	struct loop *l = loop_create(&h_params);
	struct h_owner o;
	struct turn_rec t = {.o = &o};
	unsigned calls;

	assert_non_null(l);
	h_owner_open(&o, l, -1);
	loop_set_turn_hook(l, on_turn, &t);
	assert_int_equal(loop_prep_nop(l, o.id, H_OP_PEEK), 0);
	/* the turn that dispatches the completion runs the hook after it */
	while (o.nev == 0)
		assert_true(loop_run_once(l, 1000) >= 0);
	assert_int_equal(t.nev_seen, 1);
	calls = t.calls;
	assert_true(calls >= 1);
	/* what the hook queues goes out with the next turn's submit */
	t.queue_nop = true;
	assert_true(loop_run_once(l, 0) >= 0);
	while (o.nev < 2)
		assert_true(loop_run_once(l, 1000) >= 0);
	assert_int_equal(h_count(&o, H_OP_PEEK), 2);
	assert_int_equal(t.nev_seen, 2);
	/* removed: no more calls */
	loop_set_turn_hook(l, NULL, NULL);
	calls = t.calls;
	assert_true(loop_run_once(l, 0) >= 0);
	assert_int_equal(t.calls, calls);
	loop_destroy(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loop_timer),
	    cmocka_unit_test(test_nop),
	    cmocka_unit_test(test_turn_hook),
	};

	return h_run_modes(tests, sizeof(tests) / sizeof(tests[0]));
}
