/* retry_budget: the minimum when idle, the share under load, room again
 * after a retry ends, parameter checks, a failing upstream under 4 workers
 * (retries in flight never above the budget, the total held to the share),
 * counts that span workers, and the jittered backoff (bounds, doubling,
 * ceiling, spread, per-worker independence). */
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

#include <cmocka.h>

#include "../../l7/retry_budget.h"

static struct l7_rb_params defaults(void)
{
	struct l7_rb_params p;

	l7_rb_params_default(&p);
	return p;
}

static void test_minimum_and_share(void **state)
{
	struct l7_retry_budget *rb = l7_rb_new(2);
	struct l7_rb_params p = defaults();

	assert_int_equal(p.percent, 20);
	assert_int_equal(p.min_concurrent, 3);
	/* idle upstream: the minimum */
	assert_int_equal(l7_rb_allowed(rb, &p), 3);
	for (unsigned i = 0; i < 3; i++)
		assert_true(l7_rb_retry_begin(rb, &p));
	assert_false(l7_rb_retry_begin(rb, &p));
	assert_int_equal(l7_rb_retries(rb), 3);
	l7_rb_retry_end(rb);
	assert_true(l7_rb_retry_begin(rb, &p));
	for (unsigned i = 0; i < 3; i++)
		l7_rb_retry_end(rb);
	/* 100 requests in flight over two workers: 20 % of them */
	for (unsigned i = 0; i < 100; i++)
		l7_rb_request_begin(rb, i & 1);
	assert_int_equal(l7_rb_active(rb), 100);
	assert_int_equal(l7_rb_allowed(rb, &p), 20);
	for (unsigned i = 0; i < 20; i++)
		assert_true(l7_rb_retry_begin(rb, &p));
	assert_false(l7_rb_retry_begin(rb, &p));
	/* load drops: the budget shrinks, retries in flight finish first */
	for (unsigned i = 0; i < 60; i++)
		l7_rb_request_end(rb, i & 1);
	assert_int_equal(l7_rb_allowed(rb, &p), 8);
	for (unsigned i = 0; i < 12; i++)
		l7_rb_retry_end(rb);
	assert_false(l7_rb_retry_begin(rb, &p)); /* 8 in flight, 8 allowed */
	l7_rb_retry_end(rb);
	assert_true(l7_rb_retry_begin(rb, &p));
	assert_int_equal(atomic_load(&rb->granted), 25);
	assert_int_equal(atomic_load(&rb->denied), 3);
	/* a request may end on another worker: the sum stays right */
	l7_rb_request_begin(rb, 0);
	l7_rb_request_end(rb, 1);
	assert_int_equal(l7_rb_active(rb), 40);
	/* percent 0: only the minimum */
	p.percent = 0;
	assert_int_equal(l7_rb_allowed(rb, &p), 3);
	p.min_concurrent = 0;
	assert_int_equal(l7_rb_allowed(rb, &p), 0);
	l7_rb_free(rb);
}

static void test_params(void **state)
{
	struct l7_rb_params p = defaults();

	assert_int_equal(l7_rb_params_check(&p), 0);
	p.percent = 101;
	assert_int_equal(l7_rb_params_check(&p), -EINVAL);
	p = defaults();
	p.backoff_base_ms = 300;
	assert_int_equal(l7_rb_params_check(&p), -EINVAL);
	p = defaults();
	p.backoff_max_ms = L7_RB_MAX_BACKOFF_MS + 1;
	assert_int_equal(l7_rb_params_check(&p), -EINVAL);
	assert_null(l7_rb_new(0));
	assert_null(l7_rb_new(257));
	l7_rb_free(NULL);
}

/* --- a failing upstream under 4 workers --------------------------------- */

struct storm {
	struct l7_retry_budget *rb;
	struct l7_rb_params p;
	_Atomic uint32_t in_flight, peak;
	_Atomic uint64_t requests, retries, bound_seen;
	pthread_barrier_t go;
	_Atomic unsigned next_worker;
};

/* Each worker keeps 50 requests in flight against a backend that fails
 * them all at once: every round, 30 of its requests ask for a retry at the
 * same time and hold it while it runs (4 x 30 = 120 asked, 40 allowed). */
static void *storm_worker(void *arg)
{
	struct storm *s = arg;
	unsigned wi = atomic_fetch_add(&s->next_worker, 1);

	for (unsigned i = 0; i < 50; i++)
		l7_rb_request_begin(s->rb, wi);
	pthread_barrier_wait(&s->go);
	for (unsigned round = 0; round < 20000; round++) {
		unsigned held = 0;

		for (unsigned k = 0; k < 30; k++) {
			if (!l7_rb_retry_begin(s->rb, &s->p))
				continue;
			uint32_t n = atomic_fetch_add(&s->in_flight, 1) + 1;
			uint32_t pk = atomic_load(&s->peak);

			while (n > pk && !atomic_compare_exchange_weak(&s->peak, &pk, n))
				;
			held++;
		}
		atomic_fetch_add(&s->retries, held);
		atomic_fetch_add(&s->requests, 30);
		while (held--) {
			atomic_fetch_sub(&s->in_flight, 1);
			l7_rb_retry_end(s->rb);
		}
	}
	pthread_barrier_wait(&s->go);
	for (unsigned i = 0; i < 50; i++)
		l7_rb_request_end(s->rb, wi);
	return NULL;
}

static void test_failing_upstream(void **state)
{
	struct storm s = {.rb = l7_rb_new(4), .p = defaults()};
	pthread_t th[4];

	pthread_barrier_init(&s.go, NULL, 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, storm_worker, &s), 0);
	for (unsigned i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&s.go);
	printf("    4 workers, 200 requests in flight: %llu retries asked, %llu granted, "
	       "peak %u in flight (budget 40), %llu denied\n",
	       (unsigned long long)s.requests, (unsigned long long)s.retries, s.peak,
	       (unsigned long long)atomic_load(&s.rb->denied));
	/* 20 % of 200 in flight: never more than 40 retries at once */
	assert_true(atomic_load(&s.peak) <= 40);
	assert_true(atomic_load(&s.peak) >= 30);
	assert_true(atomic_load(&s.rb->denied) > 0);
	assert_int_equal(atomic_load(&s.rb->denied) + atomic_load(&s.retries), s.requests);
	assert_int_equal(l7_rb_retries(s.rb), 0);
	assert_int_equal(l7_rb_active(s.rb), 0);
	assert_int_equal(atomic_load(&s.rb->granted), atomic_load(&s.retries));
	l7_rb_free(s.rb);
}

/* Without concurrency the share bounds retries per request too: 1000
 * requests in flight, each failing at once, get 200 retries, not 2000. */
static void test_burst_of_failures(void **state)
{
	struct l7_retry_budget *rb = l7_rb_new(1);
	struct l7_rb_params p = defaults();
	unsigned granted = 0;

	for (unsigned i = 0; i < 1000; i++)
		l7_rb_request_begin(rb, 0);
	for (unsigned i = 0; i < 1000; i++)
		for (unsigned attempt = 1; attempt < 3; attempt++)
			granted += l7_rb_retry_begin(rb, &p);
	assert_int_equal(granted, 200);
	l7_rb_free(rb);
}

/* --- backoff ------------------------------------------------------------- */

static void test_backoff(void **state)
{
	struct l7_rb_params p = defaults(); /* 25 ms doubling to 250 ms */
	static const uint32_t cap[] = {0, 25, 50, 100, 200, 250, 250, 250};
	uint64_t rng = 1, other = 2;

	for (unsigned attempt = 1; attempt < 8; attempt++) {
		uint32_t lo = UINT32_MAX, hi = 0;
		double sum = 0;

		for (unsigned i = 0; i < 20000; i++) {
			uint32_t d = l7_rb_backoff_ms(&p, attempt, &rng);

			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
			sum += d;
		}
		/* full jitter: the whole range is used, the mean is its middle */
		assert_int_equal(lo, 0);
		assert_int_equal(hi, cap[attempt]);
		assert_true(sum / 20000 > cap[attempt] * 0.45 && sum / 20000 < cap[attempt] * 0.55);
	}
	/* a huge attempt number does not overflow */
	assert_true(l7_rb_backoff_ms(&p, 4000000000u, &rng) <= 250);
	/* two workers draw different waits: their retries do not line up */
	unsigned same = 0;
	for (unsigned i = 0; i < 1000; i++)
		same += l7_rb_backoff_ms(&p, 3, &rng) == l7_rb_backoff_ms(&p, 3, &other);
	assert_true(same < 50);
	p.backoff_base_ms = 0;
	assert_int_equal(l7_rb_backoff_ms(&p, 5, &rng), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimum_and_share), cmocka_unit_test(test_params),
	    cmocka_unit_test(test_failing_upstream),  cmocka_unit_test(test_burst_of_failures),
	    cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
