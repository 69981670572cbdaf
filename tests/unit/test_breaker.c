/* breaker: every trigger on a fake clock (consecutive failures and their
 * reset, error rate with its minimum, the sliding window forgetting old
 * failures, the latency percentile exactly at its boundary), open ->
 * half-open -> closed and back open with the doubling wait, probe limits,
 * slow probes, stale tickets, cancel, admin forcing, disabled breakers,
 * windows summed across workers, one transition when 4 threads trip it at
 * once, the per-upstream limits under 4 threads, and the cost of
 * allow+report against a shared-atomics design. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sched.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../l7/breaker.h"

/* Transitions seen through the hook. */
struct seen {
	_Atomic unsigned n;
	enum l7_brk_state from, to;
	enum l7_brk_reason why;
};

static void hook(void *arg, const struct l7_breaker *b, enum l7_brk_state from,
		 enum l7_brk_state to, enum l7_brk_reason why)
{
	struct seen *s = arg;

	s->from = from;
	s->to = to;
	s->why = why;
	atomic_fetch_add(&s->n, 1);
}

static struct l7_brk_params params(void)
{
	struct l7_brk_params p;

	l7_brk_params_default(&p);
	return p;
}

/* One admitted request with an outcome; returns the verdict. */
static enum l7_brk_verdict req(struct l7_breaker *b, const struct l7_brk_params *p, unsigned wi,
			       bool ok, uint32_t lat_us, uint64_t now)
{
	struct l7_brk_ticket t;
	enum l7_brk_verdict v = l7_brk_allow(b, p, now, &t);

	if (l7_brk_admits(v))
		l7_brk_report(b, p, wi, &t, ok, lat_us, now);
	return v;
}

static void test_params(void **state)
{
	struct l7_brk_params p = params();
	const char *why;
	enum l7_brk_on_open o;

	assert_int_equal(l7_brk_params_check(&p, &why), 0);
	assert_null(why);
	p.error_percent = 101;
	assert_int_equal(l7_brk_params_check(&p, &why), -EINVAL);
	assert_string_equal(why, "error_percent");
	p = params();
	p.window_ms = 5;
	assert_int_equal(l7_brk_params_check(&p, &why), -EINVAL);
	assert_string_equal(why, "window");
	p = params();
	p.latency_permille = 1000;
	assert_int_equal(l7_brk_params_check(&p, &why), -EINVAL);
	p = params();
	p.open_ms = 70000;
	assert_int_equal(l7_brk_params_check(&p, &why), -EINVAL);
	assert_string_equal(why, "open");
	p = params();
	p.half_open_probes = 0;
	assert_int_equal(l7_brk_params_check(&p, &why), -EINVAL);
	p = params();
	p.on_open = L7_BRK_ON_OPEN__COUNT;
	assert_int_equal(l7_brk_params_check(&p, &why), -EINVAL);
	assert_int_equal(l7_brk_on_open_parse("fail", &o), 0);
	assert_int_equal(o, L7_BRK_ON_OPEN_FAIL);
	assert_int_equal(l7_brk_on_open_parse("next", &o), 0);
	assert_int_equal(l7_brk_on_open_parse("retry", &o), -EINVAL);
	assert_string_equal(l7_brk_state_name(L7_BRK_HALF_OPEN), "half_open");
	assert_string_equal(l7_brk_reason_name(L7_BRK_R_ERROR_RATE), "error_rate");
	assert_string_equal(l7_brk_verdict_name(L7_BRK_REJECT_OPEN), "open");
	assert_null(l7_brk_new(0, NULL, NULL));
	assert_null(l7_brk_new(257, NULL, NULL));
	l7_brk_free(NULL);
	assert_true(l7_brk_status_fails(&p, 503));
	assert_false(l7_brk_status_fails(&p, 404));
	p.count_5xx = false;
	assert_false(l7_brk_status_fails(&p, 503));
}

static void test_consecutive_and_recovery(void **state)
{
	struct seen s = {0};
	struct l7_breaker *b = l7_brk_new(1, hook, &s);
	struct l7_brk_params p = params();
	struct l7_brk_ticket t[4];
	struct l7_brk_view v;
	uint64_t now = 1000;

	p.error_percent = 0; /* this test is about the consecutive trigger */
	/* 4 failures, a success, 4 failures: never 5 in a row */
	for (unsigned i = 0; i < 9; i++)
		assert_int_equal(req(b, &p, 0, i == 4, 1000, now), L7_BRK_ALLOW);
	assert_int_equal(l7_brk_state(b), L7_BRK_CLOSED);
	assert_int_equal(s.n, 0);
	/* the fifth in a row opens it */
	assert_int_equal(req(b, &p, 0, false, 1000, now), L7_BRK_ALLOW);
	assert_int_equal(l7_brk_state(b), L7_BRK_OPEN);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.why, L7_BRK_R_CONSECUTIVE);
	assert_int_equal(s.from, L7_BRK_CLOSED);
	l7_brk_view(b, &p, now, &v);
	assert_int_equal(v.open_until_ms, now + 5000);
	assert_int_equal(v.reason, L7_BRK_R_CONSECUTIVE);
	char line[L7_BRK_VIEW_MAX];
	assert_true(l7_brk_view_format(line, sizeof(line), &v, &p, now + 1200) > 0);
	assert_string_equal(line, "open for 1200ms reason=consecutive consecutive=5 "
				  "window=10/9 slow=0 p99.0=1.000ms probes=0/0 opened=1 "
				  "retry_in=3800ms");
	assert_int_equal(l7_brk_view_format(line, 40, &v, &p, now), -E2BIG);
	/* open: fail fast until open_ms has passed */
	assert_int_equal(l7_brk_allow(b, &p, now + 4999, &t[0]), L7_BRK_REJECT_OPEN);
	/* then 3 probes, and no more while they are out */
	now += 5000;
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(l7_brk_allow(b, &p, now, &t[i]), L7_BRK_PROBE);
	assert_int_equal(l7_brk_state(b), L7_BRK_HALF_OPEN);
	assert_int_equal(s.why, L7_BRK_R_OPEN_OVER);
	assert_int_equal(l7_brk_allow(b, &p, now, &t[3]), L7_BRK_REJECT_PROBING);
	/* two good probes: still half-open; the third closes it */
	l7_brk_report(b, &p, 0, &t[0], true, 1000, now);
	l7_brk_report(b, &p, 0, &t[1], true, 1000, now);
	l7_brk_view(b, &p, now, &v);
	assert_int_equal(v.state, L7_BRK_HALF_OPEN);
	assert_int_equal(v.probes_ok, 2);
	assert_int_equal(v.probes_out, 3);
	l7_brk_report(b, &p, 0, &t[2], true, 1000, now);
	assert_int_equal(l7_brk_state(b), L7_BRK_CLOSED);
	assert_int_equal(s.why, L7_BRK_R_PROBES_OK);
	/* the count starts over after closing */
	for (unsigned i = 0; i < 4; i++)
		req(b, &p, 0, false, 1000, now);
	assert_int_equal(l7_brk_state(b), L7_BRK_CLOSED);
	req(b, &p, 0, false, 1000, now);
	assert_int_equal(l7_brk_state(b), L7_BRK_OPEN);
	l7_brk_view(b, &p, now, &v);
	assert_int_equal(v.entered[L7_BRK_OPEN], 2);
	assert_int_equal(v.entered[L7_BRK_HALF_OPEN], 1);
	assert_int_equal(v.entered[L7_BRK_CLOSED], 1);
	assert_int_equal(s.n, 4);
	l7_brk_free(b);
}

static void test_probe_failure_doubles(void **state)
{
	struct seen s = {0};
	struct l7_breaker *b = l7_brk_new(1, hook, &s);
	struct l7_brk_params p = params();
	struct l7_brk_view v;
	uint64_t now = 0;
	static const uint64_t waits[] = {5000, 10000, 20000, 40000, 60000, 60000};

	p.consecutive = 1;
	p.open_max_ms = 60000;
	req(b, &p, 0, false, 0, now);
	for (unsigned round = 0; round < 6; round++) {
		l7_brk_view(b, &p, now, &v);
		assert_int_equal(v.state, L7_BRK_OPEN);
		assert_int_equal(v.open_until_ms - now, waits[round]);
		now += waits[round];
		/* the probe fails: open again, for twice as long */
		assert_int_equal(req(b, &p, 0, false, 0, now), L7_BRK_PROBE);
		assert_int_equal(s.why, L7_BRK_R_PROBE_FAILED);
	}
	/* recovery resets the wait */
	now += 60000;
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(req(b, &p, 0, true, 0, now), L7_BRK_PROBE);
	assert_int_equal(l7_brk_state(b), L7_BRK_CLOSED);
	req(b, &p, 0, false, 0, now);
	l7_brk_view(b, &p, now, &v);
	assert_int_equal(v.open_until_ms - now, 5000);
	l7_brk_free(b);
}

static void test_error_rate(void **state)
{
	struct seen s = {0};
	struct l7_breaker *b = l7_brk_new(2, hook, &s);
	struct l7_brk_params p = params();
	struct l7_brk_view v;
	uint64_t now = 100000;

	p.consecutive = 0;
	/* below the minimum count, even all failures do nothing (judged
	 * every 100 ms on the way) */
	for (unsigned i = 0; i < 19; i++)
		req(b, &p, 0, false, 1000, now + i * 100);
	assert_int_equal(l7_brk_state(b), L7_BRK_CLOSED);
	now += 2000;
	l7_brk_free(b);

	/* 40 % failures over 200 requests: below 50 %, stays closed */
	b = l7_brk_new(2, hook, &s);
	for (unsigned i = 0; i < 200; i++)
		req(b, &p, i & 1, i % 5 < 3, 1000, now + i * 5);
	now += 1000;
	req(b, &p, 0, true, 1000, now);
	l7_brk_view(b, &p, now, &v);
	assert_int_equal(v.state, L7_BRK_CLOSED);
	assert_int_equal(v.requests, 201);
	assert_int_equal(v.failures, 80);
	/* then the backend degrades: 60 % over the window, spread over both
	 * workers, opens it at the next evaluation */
	s.n = 0;
	for (unsigned i = 0; i < 400 && l7_brk_state(b) == L7_BRK_CLOSED; i++)
		req(b, &p, i & 1, i % 5 < 2, 1000, now + i * 5);
	assert_int_equal(l7_brk_state(b), L7_BRK_OPEN);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.why, L7_BRK_R_ERROR_RATE);
	l7_brk_free(b);
}

/* Old failures slide out of the window. */
static void test_window_slides(void **state)
{
	struct l7_breaker *b = l7_brk_new(1, NULL, NULL);
	struct l7_brk_params p = params();
	struct l7_brk_view v;
	uint64_t now = 50000;

	p.consecutive = 0;
	for (unsigned i = 0; i < 15; i++)
		req(b, &p, 0, false, 1000, now);
	l7_brk_view(b, &p, now, &v);
	assert_int_equal(v.failures, 15);
	/* 11 s later the window holds none of them: 10 more failures stay
	 * under min_requests; had they stayed, 25 of 25 would open it */
	now += 11000;
	l7_brk_view(b, &p, now, &v);
	assert_int_equal(v.requests, 0);
	for (unsigned i = 0; i < 10; i++)
		req(b, &p, 0, false, 1000, now + i * 200);
	assert_int_equal(l7_brk_state(b), L7_BRK_CLOSED);
	/* within the window they add up: 5 s later, 10 more make 20 */
	now += 5000;
	for (unsigned i = 0; i < 10; i++)
		req(b, &p, 0, false, 1000, now + i * 200);
	assert_int_equal(l7_brk_state(b), L7_BRK_OPEN);
	l7_brk_free(b);
}

/* p99 above 200 ms: exactly when more than n - ceil(0.99 n) are slower. */
static void test_latency_exact(void **state)
{
	struct l7_brk_params p = params();
	struct l7_brk_view v;
	uint64_t now = 10000;

	p.consecutive = 0;
	p.error_percent = 0;
	p.latency_ms = 200;
	for (unsigned slow = 10; slow <= 11; slow++) {
		struct seen s = {0};
		struct l7_breaker *b = l7_brk_new(1, hook, &s);

		/* 1000 requests, the last `slow` of them at 500 ms, the rest at
		 * 2 ms (earlier evaluations see no slow one) */
		for (unsigned i = 0; i < 1000; i++)
			req(b, &p, 0, true, i >= 1000 - slow ? 500000 : 2000, now + i);
		/* the evaluation runs at most every 100 ms */
		req(b, &p, 0, true, 2000, now + 1200);
		l7_brk_view(b, &p, now + 1200, &v);
		if (slow == 10) {
			/* n = 1001: the 991st value is fast, p99 = 2 ms */
			assert_int_equal(l7_brk_state(b), L7_BRK_CLOSED);
			assert_int_equal(v.slow, 10);
			assert_true(v.latency_us >= 1000 && v.latency_us <= 2500);
		} else {
			assert_int_equal(l7_brk_state(b), L7_BRK_OPEN);
			assert_int_equal(s.why, L7_BRK_R_LATENCY);
		}
		l7_brk_free(b);
	}
	/* the estimate follows the histogram: a median of ~40 ms */
	struct l7_breaker *b = l7_brk_new(1, NULL, NULL);
	p.latency_ms = 0;
	p.latency_permille = 500;
	for (unsigned i = 0; i < 100; i++)
		req(b, &p, 0, true, 30000 + i * 200, now);
	l7_brk_view(b, &p, now, &v);
	assert_true(v.latency_us > 25000 && v.latency_us <= 50000);
	/* past the last bound */
	for (unsigned i = 0; i < 500; i++)
		req(b, &p, 0, true, 20000000, now);
	l7_brk_view(b, &p, now, &v);
	assert_int_equal(v.latency_us, L7_BRK_LAT_INF);
	l7_brk_free(b);
}

static void test_slow_probe_and_stale(void **state)
{
	struct seen s = {0};
	struct l7_breaker *b = l7_brk_new(1, hook, &s);
	struct l7_brk_params p = params();
	struct l7_brk_ticket old, pr;
	uint64_t now = 1000;

	p.latency_ms = 100;
	/* a request admitted while closed, answered after the trip */
	assert_int_equal(l7_brk_allow(b, &p, now, &old), L7_BRK_ALLOW);
	for (unsigned i = 0; i < 5; i++)
		req(b, &p, 0, false, 1000, now);
	assert_int_equal(l7_brk_state(b), L7_BRK_OPEN);
	now += 5000;
	assert_int_equal(l7_brk_allow(b, &p, now, &pr), L7_BRK_PROBE);
	/* the stale success decides nothing and is not counted anywhere */
	l7_brk_report(b, &p, 0, &old, true, 1000, now);
	assert_int_equal(s.n, 2);
	struct l7_brk_view v;
	l7_brk_view(b, &p, now, &v);
	assert_int_equal(v.requests, 5);
	assert_int_equal(v.failures, 5);
	/* a probe that is good but slow is a bad probe */
	l7_brk_report(b, &p, 0, &pr, true, 150000, now);
	assert_int_equal(l7_brk_state(b), L7_BRK_OPEN);
	assert_int_equal(s.why, L7_BRK_R_PROBE_FAILED);
	/* cancel gives a probe slot back */
	now += 10000;
	struct l7_brk_ticket t[3], extra;
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(l7_brk_allow(b, &p, now, &t[i]), L7_BRK_PROBE);
	assert_int_equal(l7_brk_allow(b, &p, now, &extra), L7_BRK_REJECT_PROBING);
	l7_brk_cancel(b, &t[2]);
	assert_int_equal(l7_brk_allow(b, &p, now, &t[2]), L7_BRK_PROBE);
	for (unsigned i = 0; i < 3; i++)
		l7_brk_report(b, &p, 0, &t[i], true, 1000, now);
	assert_int_equal(l7_brk_state(b), L7_BRK_CLOSED);
	/* a cancelled closed-state ticket is a no-op */
	assert_int_equal(l7_brk_allow(b, &p, now, &old), L7_BRK_ALLOW);
	l7_brk_cancel(b, &old);
	assert_int_equal(l7_brk_state(b), L7_BRK_CLOSED);
	l7_brk_free(b);
}

static void test_admin_and_disabled(void **state)
{
	struct seen s = {0};
	struct l7_breaker *b = l7_brk_new(1, hook, &s);
	struct l7_brk_params p = params();
	struct l7_brk_ticket t;
	struct l7_brk_view v;

	assert_int_equal(l7_brk_force(b, &p, L7_BRK_CLOSED, 10), -EALREADY);
	assert_int_equal(l7_brk_force(b, &p, L7_BRK_HALF_OPEN, 10), -EINVAL);
	assert_int_equal(l7_brk_force(b, &p, L7_BRK_OPEN, 10), 0);
	assert_int_equal(s.why, L7_BRK_R_ADMIN);
	assert_int_equal(l7_brk_allow(b, &p, 20, &t), L7_BRK_REJECT_OPEN);
	assert_int_equal(l7_brk_force(b, &p, L7_BRK_OPEN, 20), -EALREADY);
	/* a reset clears the failures counted so far */
	assert_int_equal(l7_brk_force(b, &p, L7_BRK_CLOSED, 30), 0);
	for (unsigned i = 0; i < 4; i++)
		req(b, &p, 0, false, 0, 40);
	assert_int_equal(l7_brk_force(b, &p, L7_BRK_OPEN, 50), 0);
	assert_int_equal(l7_brk_force(b, &p, L7_BRK_CLOSED, 60), 0);
	l7_brk_view(b, &p, 60, &v);
	assert_int_equal(v.consecutive, 0);
	assert_int_equal(v.requests, 0); /* the window starts over too */
	req(b, &p, 0, false, 0, 70);
	assert_int_equal(l7_brk_state(b), L7_BRK_CLOSED);
	/* disabled: everything passes and nothing is counted */
	p.enabled = false;
	for (unsigned i = 0; i < 100; i++)
		assert_int_equal(req(b, &p, 0, false, 0, 80), L7_BRK_ALLOW);
	assert_int_equal(l7_brk_state(b), L7_BRK_CLOSED);
	assert_int_equal(s.n, 4);
	l7_brk_free(b);
}

/* --- threads ------------------------------------------------------------- */

struct trip {
	struct l7_breaker *b;
	struct l7_brk_params p;
	pthread_barrier_t go;
	_Atomic unsigned next, probes;
};

static void *trip_thread(void *arg)
{
	struct trip *t = arg;
	unsigned wi = atomic_fetch_add(&t->next, 1);
	struct l7_brk_ticket tk[64];
	unsigned n = 0;

	pthread_barrier_wait(&t->go);
	for (unsigned i = 0; i < 10000; i++)
		req(t->b, &t->p, wi, false, 1000, 1000);
	pthread_barrier_wait(&t->go);
	/* all at once after the open period: at most 3 probes in all */
	for (unsigned i = 0; i < 64; i++)
		if (l7_brk_allow(t->b, &t->p, 7000, &tk[n]) == L7_BRK_PROBE)
			n++;
	atomic_fetch_add(&t->probes, n);
	pthread_barrier_wait(&t->go);
	while (n--)
		l7_brk_report(t->b, &t->p, wi, &tk[n], true, 1000, 7000);
	return NULL;
}

static void test_threads_trip_once(void **state)
{
	struct seen s = {0};
	struct trip t = {.b = l7_brk_new(4, hook, &s), .p = params()};
	pthread_t th[4];
	struct l7_brk_view v;

	pthread_barrier_init(&t.go, NULL, 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, trip_thread, &t), 0);
	for (unsigned i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&t.go);
	l7_brk_view(t.b, &t.p, 7000, &v);
	assert_int_equal(v.entered[L7_BRK_OPEN], 1);
	assert_int_equal(v.entered[L7_BRK_HALF_OPEN], 1);
	assert_int_equal(v.entered[L7_BRK_CLOSED], 1);
	assert_int_equal(atomic_load(&t.probes), 3);
	assert_int_equal(v.state, L7_BRK_CLOSED);
	assert_int_equal(s.n, 3);
	l7_brk_free(t.b);
}

struct lim {
	struct l7_brk_limits l;
	pthread_barrier_t go;
	_Atomic int held, peak;
	_Atomic uint64_t ok, refused;
};

static void *lim_thread(void *arg)
{
	struct lim *l = arg;

	pthread_barrier_wait(&l->go);
	for (unsigned i = 0; i < 50000; i++) {
		bool got[3];

		for (unsigned k = 0; k < 3; k++) {
			got[k] = l7_brk_request_begin(&l->l, 5);
			if (!got[k]) {
				atomic_fetch_add(&l->refused, 1);
				continue;
			}
			int h = atomic_fetch_add(&l->held, 1) + 1, pk = atomic_load(&l->peak);

			while (h > pk && !atomic_compare_exchange_weak(&l->peak, &pk, h))
				;
			atomic_fetch_add(&l->ok, 1);
		}
		for (unsigned k = 0; k < 3; k++)
			if (got[k]) {
				atomic_fetch_sub(&l->held, 1);
				l7_brk_request_end(&l->l, 5);
			}
	}
	return NULL;
}

static void test_limits(void **state)
{
	struct lim l = {0};
	pthread_t th[4];

	assert_true(l7_brk_pending_begin(&l.l, 2));
	assert_true(l7_brk_pending_begin(&l.l, 2));
	assert_false(l7_brk_pending_begin(&l.l, 2));
	l7_brk_pending_end(&l.l, 2);
	assert_true(l7_brk_pending_begin(&l.l, 2));
	assert_int_equal(atomic_load(&l.l.over_pending), 1);
	/* no limit: nothing counted */
	for (unsigned i = 0; i < 10; i++)
		assert_true(l7_brk_request_begin(&l.l, 0));
	assert_int_equal(atomic_load(&l.l.requests), 0);
	/* 4 threads wanting 3 each against a limit of 5 */
	pthread_barrier_init(&l.go, NULL, 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, lim_thread, &l), 0);
	for (unsigned i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&l.go);
	printf("    max_requests 5 under 4 threads: %llu admitted, %llu refused, peak %d\n",
	       (unsigned long long)l.ok, (unsigned long long)l.refused, l.peak);
	assert_true(atomic_load(&l.peak) <= 5);
	assert_int_equal(atomic_load(&l.l.requests), 0);
	assert_int_equal(atomic_load(&l.l.over_requests), atomic_load(&l.refused));
}

/* --- cost ---------------------------------------------------------------- */

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The alternative design: every outcome goes into one shared window with
 * atomic read-modify-writes (what a breaker without per-worker windows
 * does: a total, a failure count and a latency bucket per request). */
struct shared_win {
	_Atomic uint32_t total, failures, lat[L7_BRK_LAT_BUCKETS];
} __attribute__((aligned(64)));

/* Each measuring thread on its own CPU, so that two of them really run
 * at the same time and contention, if any, shows. */
static void pin(unsigned i)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET((int)(i % (unsigned)(n > 0 ? n : 1)), &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

struct cost_arg {
	struct l7_breaker *b;
	struct shared_win *sw;
	const struct l7_brk_params *p;
	pthread_barrier_t *go;
	unsigned wi;
	double ns;
};

static void *cost_thread(void *arg)
{
	struct cost_arg *c = arg;
	enum { N = 2000000 };
	uint64_t start;

	pin(c->wi);
	pthread_barrier_wait(c->go);
	start = thread_cpu_ns();
	for (uint32_t i = 0; i < N; i++) {
		uint64_t now = 1000 + i / 1000; /* a request per us of fake time */

		if (c->sw) {
			atomic_fetch_add_explicit(&c->sw->total, 1, memory_order_relaxed);
			if (i % 100 == 0)
				atomic_fetch_add_explicit(&c->sw->failures, 1,
							  memory_order_relaxed);
			atomic_fetch_add_explicit(&c->sw->lat[i & 7], 1, memory_order_relaxed);
		} else {
			req(c->b, c->p, c->wi, i % 100 != 0, 800 + (i & 1023), now);
		}
	}
	c->ns = (double)(thread_cpu_ns() - start) / N;
	return NULL;
}

static double cost(unsigned threads, bool shared, const struct l7_brk_params *p)
{
	struct l7_breaker *b = l7_brk_new(2, NULL, NULL);
	struct shared_win sw = {0};
	struct cost_arg c[2];
	pthread_t th[2];
	pthread_barrier_t go;
	double worst = 0;

	pthread_barrier_init(&go, NULL, threads);
	for (unsigned i = 0; i < threads; i++) {
		c[i] = (struct cost_arg){b, shared ? &sw : NULL, p, &go, i, 0};
		assert_int_equal(pthread_create(&th[i], NULL, cost_thread, &c[i]), 0);
	}
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		worst = c[i].ns > worst ? c[i].ns : worst;
	}
	pthread_barrier_destroy(&go);
	assert_int_equal(l7_brk_state(b), L7_BRK_CLOSED); /* 1 % failures */
	l7_brk_free(b);
	return worst;
}

static void test_cost(void **state)
{
	struct l7_brk_params p = params();
	double ours1, ours2, shared1, shared2;

	p.latency_ms = 500;
	ours1 = cost(1, false, &p);
	ours2 = cost(2, false, &p);
	shared1 = cost(1, true, &p);
	shared2 = cost(2, true, &p);
	printf("    ns per request (allow + report), CPU time: per-worker windows %.1f (1 "
	       "thread) %.1f (2 threads); shared atomic window, counting only: %.1f / %.1f\n",
	       ours1, ours2, shared1, shared2);
	assert_true(ours1 < 1000 && ours2 < 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_params),
	    cmocka_unit_test(test_consecutive_and_recovery),
	    cmocka_unit_test(test_probe_failure_doubles),
	    cmocka_unit_test(test_error_rate),
	    cmocka_unit_test(test_window_slides),
	    cmocka_unit_test(test_latency_exact),
	    cmocka_unit_test(test_slow_probe_and_stale),
	    cmocka_unit_test(test_admin_and_disabled),
	    cmocka_unit_test(test_threads_trip_once),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_cost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
