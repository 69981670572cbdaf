/* Tests for vrrp_fsm.c: every row of the RFC 5798 §6.4 transition table,
 * Skew_Time and Master_Down_Interval to the microsecond, preempt, nopreempt
 * and preempt_delay, faults, priority changes and sync moves, on a fake
 * clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../l4/vrrp/vrrp_fsm.h"

#define MS 1000ull

struct rec {
	unsigned adverts;
	uint8_t last_prio;
	unsigned changes;
	enum vrrp_state from, to;
	enum vrrp_cause cause;
};

static void rec_advert(void *ctx, uint8_t priority)
{
	struct rec *r = ctx;

	r->adverts++;
	r->last_prio = priority;
}

static void rec_state(void *ctx, enum vrrp_state from, enum vrrp_state to, enum vrrp_cause cause)
{
	struct rec *r = ctx;

	r->changes++;
	r->from = from;
	r->to = to;
	r->cause = cause;
}

static const struct vrrp_fsm_ops ops = {.send_advert = rec_advert, .on_state = rec_state};

static void setup(struct vrrp_fsm *f, struct rec *r, uint8_t prio, bool preempt, uint64_t delay)
{
	memset(r, 0, sizeof(*r));
	vrrp_fsm_init(f, prio, 10, preempt, delay, &ops, r);
}

static void test_skew_and_master_down(void **state)
{
	struct vrrp_fsm f;
	struct rec r;

	setup(&f, &r, 100, true, 0);
	/* §6.1: Skew_Time = ((256 - 100) * 10 cs) / 256 = 60.9375 ms. */
	assert_int_equal(vrrp_fsm_skew_us(&f), 60937);
	assert_int_equal(vrrp_fsm_master_down_us(&f), 360937);
	setup(&f, &r, 254, true, 0);
	assert_int_equal(vrrp_fsm_skew_us(&f), 781);
	setup(&f, &r, 1, true, 0);
	assert_int_equal(vrrp_fsm_skew_us(&f), 99609);
	vrrp_fsm_init(&f, 100, 100, true, 0, &ops, &r); /* one second */
	assert_int_equal(vrrp_fsm_master_down_us(&f), 3609375);
}

static void test_owner_starts_master(void **state)
{
	struct vrrp_fsm f;
	struct rec r;

	setup(&f, &r, 255, true, 0);
	assert_int_equal(f.state, VRRP_ST_INIT);
	assert_int_equal(vrrp_fsm_next_deadline(&f), 0);
	vrrp_fsm_startup(&f, 1000 * MS);
	assert_int_equal(f.state, VRRP_ST_MASTER);
	assert_int_equal(r.cause, VRRP_CAUSE_OWNER);
	assert_int_equal(r.adverts, 1);
	assert_int_equal(r.last_prio, 255);
	assert_int_equal(vrrp_fsm_next_deadline(&f), 1100 * MS);
}

static void test_backup_becomes_master_after_down_interval(void **state)
{
	struct vrrp_fsm f;
	struct rec r;
	uint64_t t0 = 5000 * MS;

	setup(&f, &r, 100, true, 0);
	vrrp_fsm_startup(&f, t0);
	assert_int_equal(f.state, VRRP_ST_BACKUP);
	assert_int_equal(r.adverts, 0);
	assert_int_equal(vrrp_fsm_next_deadline(&f), t0 + 360937);
	vrrp_fsm_timer(&f, t0 + 360936);
	assert_int_equal(f.state, VRRP_ST_BACKUP);
	vrrp_fsm_timer(&f, t0 + 360937);
	assert_int_equal(f.state, VRRP_ST_MASTER);
	assert_int_equal(r.cause, VRRP_CAUSE_MASTER_DOWN);
	assert_int_equal(r.adverts, 1);
	assert_int_equal(r.last_prio, 100);
}

static void test_master_advertises_every_interval(void **state)
{
	struct vrrp_fsm f;
	struct rec r;
	uint64_t t;

	setup(&f, &r, 255, true, 0);
	vrrp_fsm_startup(&f, 0);
	for (t = 0; t <= 1000 * MS; t += MS)
		vrrp_fsm_timer(&f, t);
	assert_int_equal(r.adverts, 11); /* t = 0 and every 100 ms up to 1 s */
	/* Woken 30 ms late: the cadence holds instead of drifting. */
	vrrp_fsm_timer(&f, 1130 * MS);
	assert_int_equal(vrrp_fsm_next_deadline(&f), 1200 * MS);
	/* Woken a whole second late: restart from now. */
	vrrp_fsm_timer(&f, 3000 * MS);
	assert_int_equal(vrrp_fsm_next_deadline(&f), 3100 * MS);
}

static void test_backup_waits_skew_after_priority_zero(void **state)
{
	struct vrrp_fsm f;
	struct rec r;

	setup(&f, &r, 100, true, 0);
	vrrp_fsm_startup(&f, 0);
	vrrp_fsm_advert(&f, 50 * MS, 200, 10, 1);
	vrrp_fsm_advert(&f, 100 * MS, 0, 10, 1);
	assert_int_equal(vrrp_fsm_next_deadline(&f), 100 * MS + 60937);
	vrrp_fsm_timer(&f, 100 * MS + 60937);
	assert_int_equal(f.state, VRRP_ST_MASTER);
}

static void test_backup_preempts_lower_master(void **state)
{
	struct vrrp_fsm f;
	struct rec r;

	setup(&f, &r, 150, true, 0);
	vrrp_fsm_startup(&f, 0);
	/* Lower adverts are discarded: the down timer is not reset. */
	uint64_t down = vrrp_fsm_next_deadline(&f);
	vrrp_fsm_advert(&f, 100 * MS, 100, 10, 1);
	vrrp_fsm_advert(&f, 200 * MS, 100, 10, 1);
	assert_int_equal(vrrp_fsm_next_deadline(&f), down);
	vrrp_fsm_timer(&f, down);
	assert_int_equal(f.state, VRRP_ST_MASTER);
}

static void test_nopreempt_keeps_lower_master(void **state)
{
	struct vrrp_fsm f;
	struct rec r;

	setup(&f, &r, 150, false, 0);
	vrrp_fsm_startup(&f, 0);
	for (uint64_t t = 100 * MS; t < 3000 * MS; t += 100 * MS) {
		vrrp_fsm_advert(&f, t, 100, 10, 1);
		vrrp_fsm_timer(&f, t + 50 * MS);
	}
	assert_int_equal(f.state, VRRP_ST_BACKUP);
	assert_int_equal(r.adverts, 0);
}

static void test_preempt_delay(void **state)
{
	struct vrrp_fsm f;
	struct rec r;
	uint64_t t;

	setup(&f, &r, 150, true, 2000 * MS);
	vrrp_fsm_startup(&f, 0);
	/* The lower master is accepted while the delay (from start-up) runs. */
	for (t = 100 * MS; t < 1900 * MS; t += 100 * MS) {
		vrrp_fsm_advert(&f, t, 100, 10, 1);
		vrrp_fsm_timer(&f, t + 50 * MS);
	}
	assert_int_equal(f.state, VRRP_ST_BACKUP);
	/* Once it has run out its adverts are discarded and we preempt. */
	for (; f.state == VRRP_ST_BACKUP && t < 4000 * MS; t += 100 * MS) {
		vrrp_fsm_advert(&f, t, 100, 10, 1);
		vrrp_fsm_timer(&f, t + 50 * MS);
	}
	assert_int_equal(f.state, VRRP_ST_MASTER);
	assert_true(t > 2000 * MS && t < 2500 * MS);
}

static void test_backup_learns_master_interval(void **state)
{
	struct vrrp_fsm f;
	struct rec r;

	setup(&f, &r, 100, true, 0);
	vrrp_fsm_startup(&f, 0);
	vrrp_fsm_advert(&f, 10 * MS, 200, 100, 1); /* master advertises every second */
	assert_int_equal(f.master_adver_int, 100);
	assert_int_equal(vrrp_fsm_next_deadline(&f), 10 * MS + 3609375);
	/* As master we use our own interval again. */
	vrrp_fsm_timer(&f, 10 * MS + 3609375);
	assert_int_equal(vrrp_fsm_next_deadline(&f), 10 * MS + 3609375 + 100 * MS);
}

static void test_master_steps_down(void **state)
{
	struct vrrp_fsm f;
	struct rec r;

	setup(&f, &r, 100, true, 0);
	vrrp_fsm_startup(&f, 0);
	vrrp_fsm_timer(&f, 400 * MS);
	assert_int_equal(f.state, VRRP_ST_MASTER);
	/* Equal priority, lower address: we stay and answer at once. */
	r.adverts = 0;
	vrrp_fsm_advert(&f, 410 * MS, 100, 10, -1);
	assert_int_equal(f.state, VRRP_ST_MASTER);
	assert_int_equal(r.adverts, 1);
	/* Priority 0 from a resigning peer: advertise at once. */
	vrrp_fsm_advert(&f, 420 * MS, 0, 10, 1);
	assert_int_equal(r.adverts, 2);
	assert_int_equal(vrrp_fsm_next_deadline(&f), 520 * MS);
	/* Equal priority, higher address: §6.4.3 tie-break, we step down. */
	vrrp_fsm_advert(&f, 430 * MS, 100, 20, 1);
	assert_int_equal(f.state, VRRP_ST_BACKUP);
	assert_int_equal(r.cause, VRRP_CAUSE_PREEMPTED);
	assert_int_equal(f.master_adver_int, 20);
	/* Higher priority from the start. */
	setup(&f, &r, 100, true, 0);
	vrrp_fsm_startup(&f, 0);
	vrrp_fsm_timer(&f, 400 * MS);
	vrrp_fsm_advert(&f, 410 * MS, 101, 10, -1);
	assert_int_equal(f.state, VRRP_ST_BACKUP);
}

static void test_master_answers_are_bounded(void **state)
{
	struct vrrp_fsm f;
	struct rec r;

	setup(&f, &r, 200, true, 0);
	vrrp_fsm_startup(&f, 0);
	vrrp_fsm_timer(&f, 400 * MS);
	assert_int_equal(f.state, VRRP_ST_MASTER);
	/* 1000 lower adverts in 100 ms: at most one answer per 10 ms. */
	r.adverts = 0;
	for (uint64_t t = 401 * MS; t < 501 * MS; t += 100)
		vrrp_fsm_advert(&f, t, 100, 10, -1);
	assert_true(r.adverts >= 9 && r.adverts <= 11);
	assert_int_equal(f.state, VRRP_ST_MASTER);
}

static void test_shutdown(void **state)
{
	struct vrrp_fsm f;
	struct rec r;

	setup(&f, &r, 255, true, 0);
	vrrp_fsm_startup(&f, 0);
	vrrp_fsm_shutdown(&f, 10 * MS);
	assert_int_equal(f.state, VRRP_ST_INIT);
	assert_int_equal(r.last_prio, 0);
	assert_int_equal(r.adverts, 2);
	assert_int_equal(vrrp_fsm_next_deadline(&f), 0);
	/* A backup leaves silently. */
	setup(&f, &r, 100, true, 0);
	vrrp_fsm_startup(&f, 0);
	vrrp_fsm_shutdown(&f, 10 * MS);
	assert_int_equal(f.state, VRRP_ST_INIT);
	assert_int_equal(r.adverts, 0);
}

static void test_fault(void **state)
{
	struct vrrp_fsm f;
	struct rec r;

	setup(&f, &r, 200, true, 0);
	vrrp_fsm_startup(&f, 0);
	vrrp_fsm_timer(&f, 400 * MS);
	assert_int_equal(f.state, VRRP_ST_MASTER);
	vrrp_fsm_set_fault(&f, 500 * MS, true);
	assert_int_equal(f.state, VRRP_ST_FAULT);
	assert_int_equal(r.last_prio, 0); /* resign so the backup waits only Skew_Time */
	assert_int_equal(vrrp_fsm_next_deadline(&f), 0);
	unsigned n = r.adverts;
	vrrp_fsm_advert(&f, 600 * MS, 100, 10, 1);
	vrrp_fsm_timer(&f, 5000 * MS);
	assert_int_equal(r.adverts, n); /* silent in FAULT */
	vrrp_fsm_set_fault(&f, 6000 * MS, false);
	assert_int_equal(f.state, VRRP_ST_BACKUP);
	assert_int_equal(r.cause, VRRP_CAUSE_FAULT_CLEARED);
	/* Fault before start-up: INIT -> FAULT, startup is then a no-op. */
	setup(&f, &r, 100, true, 0);
	vrrp_fsm_set_fault(&f, 0, true);
	vrrp_fsm_startup(&f, 0);
	assert_int_equal(f.state, VRRP_ST_FAULT);
	vrrp_fsm_shutdown(&f, 0);
	assert_int_equal(f.state, VRRP_ST_INIT);
}

static void test_priority_change_advertised(void **state)
{
	struct vrrp_fsm f;
	struct rec r;

	setup(&f, &r, 200, true, 0);
	vrrp_fsm_startup(&f, 0);
	vrrp_fsm_timer(&f, 400 * MS);
	r.adverts = 0;
	vrrp_fsm_set_priority(&f, 420 * MS, 150);
	assert_int_equal(r.adverts, 1);
	assert_int_equal(r.last_prio, 150);
	assert_int_equal(vrrp_fsm_next_deadline(&f), 520 * MS);
	vrrp_fsm_set_priority(&f, 430 * MS, 150); /* unchanged: nothing sent */
	assert_int_equal(r.adverts, 1);
	/* A backup just uses the new value for Skew_Time. */
	setup(&f, &r, 200, true, 0);
	vrrp_fsm_startup(&f, 0);
	vrrp_fsm_set_priority(&f, 10 * MS, 100);
	assert_int_equal(r.adverts, 0);
	assert_int_equal(vrrp_fsm_skew_us(&f), 60937);
}

static void test_sync_moves(void **state)
{
	struct vrrp_fsm f;
	struct rec r;

	setup(&f, &r, 100, true, 0);
	vrrp_fsm_startup(&f, 0);
	vrrp_fsm_sync(&f, 10 * MS, VRRP_ST_MASTER);
	assert_int_equal(f.state, VRRP_ST_MASTER);
	assert_int_equal(r.cause, VRRP_CAUSE_SYNC);
	assert_int_equal(r.adverts, 1);
	vrrp_fsm_sync(&f, 20 * MS, VRRP_ST_BACKUP);
	assert_int_equal(f.state, VRRP_ST_BACKUP);
	assert_int_equal(vrrp_fsm_next_deadline(&f), 20 * MS + 360937);
	/* FAULT is not moved by a sync. */
	vrrp_fsm_set_fault(&f, 30 * MS, true);
	vrrp_fsm_sync(&f, 40 * MS, VRRP_ST_MASTER);
	assert_int_equal(f.state, VRRP_ST_FAULT);
}

static void test_names(void **state)
{
	assert_string_equal(vrrp_state_name(VRRP_ST_MASTER), "MASTER");
	assert_string_equal(vrrp_state_name(VRRP_ST__COUNT), "?");
	for (int i = 0; i < VRRP_CAUSE__COUNT; i++)
		assert_string_not_equal(vrrp_cause_name((enum vrrp_cause)i), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_skew_and_master_down),
	    cmocka_unit_test(test_owner_starts_master),
	    cmocka_unit_test(test_backup_becomes_master_after_down_interval),
	    cmocka_unit_test(test_master_advertises_every_interval),
	    cmocka_unit_test(test_backup_waits_skew_after_priority_zero),
	    cmocka_unit_test(test_backup_preempts_lower_master),
	    cmocka_unit_test(test_nopreempt_keeps_lower_master),
	    cmocka_unit_test(test_preempt_delay),
	    cmocka_unit_test(test_backup_learns_master_interval),
	    cmocka_unit_test(test_master_steps_down),
	    cmocka_unit_test(test_master_answers_are_bounded),
	    cmocka_unit_test(test_shutdown),
	    cmocka_unit_test(test_fault),
	    cmocka_unit_test(test_priority_change_advertised),
	    cmocka_unit_test(test_sync_moves),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
