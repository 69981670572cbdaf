/* connlimit: the per-address limit (refuse at max, room again after a
 * release), scopes and prefixes, no limit, exactness under 4 threads racing
 * on one address, a full table of distinct addresses with nothing
 * uncounted, what happens past capacity, and the cost of acquire+release. */
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

#include <cmocka.h>

#include "addr.h"
#include "log.h"
#include "../../l7/connlimit.h"

static struct addr ip(const char *text)
{
	struct addr a;
	const char *why;

	assert_int_equal(addr_parse(text, strlen(text), ADDR_F_PORT_OPTIONAL, 1, &a, &why), 0);
	return a;
}

static struct addr v4(uint32_t n)
{
	struct addr a;

	memset(&a, 0, sizeof(a));
	a.u.in4.sin_family = AF_INET;
	a.u.in4.sin_addr.s_addr = htonl(n);
	a.u.in4.sin_port = htons(40000);
	a.len = sizeof(a.u.in4);
	return a;
}

static void test_limit(void **state)
{
	struct l7_connlimit *cl = l7_cl_new(1000, 1);
	struct addr a = ip("192.0.2.1:5000"), a2 = ip("192.0.2.1:5001"), b = ip("192.0.2.2");
	uint32_t t[4], tb, tx;
	struct l7_cl_stats st;

	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(l7_cl_acquire(cl, 7, i ? &a2 : &a, 32, 64, 3, &t[i]), 0);
		assert_int_not_equal(t[i], L7_CL_UNTRACKED);
	}
	/* the port does not matter: the fourth from that host is refused */
	assert_int_equal(l7_cl_acquire(cl, 7, &a, 32, 64, 3, &t[3]), -EBUSY);
	assert_int_equal(t[3], L7_CL_UNTRACKED);
	assert_int_equal(l7_cl_count(cl, 7, &a, 32, 64), 3);
	/* another host, another scope (listener): their own counts */
	assert_int_equal(l7_cl_acquire(cl, 7, &b, 32, 64, 3, &tb), 0);
	assert_int_equal(l7_cl_acquire(cl, 8, &a, 32, 64, 3, &tx), 0);
	assert_int_equal(l7_cl_count(cl, 8, &a, 32, 64), 1);
	/* a lower max after a reload applies to the next connection */
	assert_int_equal(l7_cl_acquire(cl, 8, &a, 32, 64, 1, &t[3]), -EBUSY);
	/* a release makes room */
	l7_cl_release(cl, t[1]);
	assert_int_equal(l7_cl_count(cl, 7, &a, 32, 64), 2);
	assert_int_equal(l7_cl_acquire(cl, 7, &a, 32, 64, 3, &t[1]), 0);
	l7_cl_stats(cl, &st);
	assert_int_equal(st.addresses, 3);
	assert_int_equal(st.conns, 5);
	assert_int_equal(st.refused, 2);
	assert_int_equal(st.untracked, 0);
	for (unsigned i = 0; i < 3; i++)
		l7_cl_release(cl, t[i]);
	l7_cl_release(cl, tb);
	l7_cl_release(cl, tx);
	l7_cl_stats(cl, &st);
	assert_int_equal(st.addresses, 0); /* nodes go back when the last closes */
	assert_int_equal(st.conns, 0);
	assert_int_equal(l7_cl_count(cl, 7, &a, 32, 64), 0);
	/* max 0: no limit, nothing counted, release is a no-op */
	for (unsigned i = 0; i < 10; i++) {
		assert_int_equal(l7_cl_acquire(cl, 7, &a, 32, 64, 0, &t[0]), 0);
		assert_int_equal(t[0], L7_CL_UNTRACKED);
		l7_cl_release(cl, t[0]);
	}
	assert_int_equal(l7_cl_count(cl, 7, &a, 32, 64), 0);
	assert_null(l7_cl_new(L7_CL_MIN_CAPACITY - 1, 1));
	assert_null(l7_cl_new(L7_CL_MAX_CAPACITY + 1, 1));
	l7_cl_free(cl);
	l7_cl_free(NULL);
}

static void test_prefixes(void **state)
{
	struct l7_connlimit *cl = l7_cl_new(1000, 2);
	struct addr m = ip("[::ffff:192.0.2.9]:1"), p = ip("192.0.2.9:2");
	struct addr x = ip("[2001:db8:0:1::1]:1"), y = ip("[2001:db8:0:1::2]:1");
	struct addr z = ip("[2001:db8:0:2::1]:1");
	uint32_t t[6];

	assert_int_equal(l7_cl_acquire(cl, 1, &m, 32, 64, 1, &t[0]), 0);
	assert_int_equal(l7_cl_acquire(cl, 1, &p, 32, 64, 1, &t[1]), -EBUSY); /* same host */
	assert_int_equal(l7_cl_acquire(cl, 1, &x, 32, 64, 1, &t[1]), 0);
	assert_int_equal(l7_cl_acquire(cl, 1, &y, 32, 64, 1, &t[2]), -EBUSY); /* same /64 */
	assert_int_equal(l7_cl_acquire(cl, 1, &z, 32, 64, 1, &t[2]), 0);
	assert_int_equal(l7_cl_acquire(cl, 1, &y, 32, 128, 1, &t[3]), 0); /* /128 counts hosts */
	assert_int_equal(l7_cl_count(cl, 1, &x, 32, 64), 1);
	for (unsigned i = 0; i < 4; i++)
		l7_cl_release(cl, t[i]);
	l7_cl_free(cl);
}

/* --- exactness across threads ------------------------------------------ */

struct race {
	struct l7_connlimit *cl;
	struct addr a;
	uint32_t max;
	_Atomic int held, peak;
	_Atomic uint64_t ok, busy;
	pthread_barrier_t go;
};

static void *race_thread(void *arg)
{
	struct race *r = arg;
	uint32_t mine[8];

	pthread_barrier_wait(&r->go);
	for (unsigned round = 0; round < 20000; round++) {
		unsigned n = 0;

		/* grab up to 3 (the limit is 5 for 4 threads: they must collide) */
		for (unsigned k = 0; k < 3; k++) {
			if (l7_cl_acquire(r->cl, 1, &r->a, 32, 64, r->max, &mine[n])) {
				atomic_fetch_add(&r->busy, 1);
				continue;
			}
			int h = atomic_fetch_add(&r->held, 1) + 1, p = atomic_load(&r->peak);

			while (h > p && !atomic_compare_exchange_weak(&r->peak, &p, h))
				;
			atomic_fetch_add(&r->ok, 1);
			n++;
		}
		while (n--) {
			atomic_fetch_sub(&r->held, 1);
			l7_cl_release(r->cl, mine[n]);
		}
	}
	return NULL;
}

static void test_exact_across_threads(void **state)
{
	struct race r = {.cl = l7_cl_new(1000, 3), .a = ip("198.51.100.7:1"), .max = 5};
	pthread_t th[4];
	struct l7_cl_stats st;

	pthread_barrier_init(&r.go, NULL, 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race_thread, &r), 0);
	for (unsigned i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&r.go);
	l7_cl_stats(r.cl, &st);
	printf("    4 threads: %llu admitted, %llu refused, peak %d held (max %u)\n",
	       (unsigned long long)atomic_load(&r.ok), (unsigned long long)atomic_load(&r.busy),
	       atomic_load(&r.peak), r.max);
	assert_true(atomic_load(&r.peak) <= (int)r.max);
	assert_int_equal(st.refused, atomic_load(&r.busy));
	assert_int_equal(st.conns, 0);
	assert_int_equal(st.addresses, 0);
	assert_int_equal(l7_cl_count(r.cl, 1, &r.a, 32, 64), 0);
	l7_cl_free(r.cl);
}

/* --- capacity ------------------------------------------------------------ */

static void test_capacity(void **state)
{
	enum { CAP = 20000 };
	struct l7_connlimit *cl = l7_cl_new(CAP, 4);
	uint32_t *t = calloc(4 * CAP, sizeof(*t)), extra = 0;
	struct l7_cl_stats st;

	/* as many distinct addresses as the capacity: every one is counted */
	for (uint32_t i = 0; i < CAP; i++) {
		struct addr a = v4(0x0a000000 + i * 7919);

		assert_int_equal(l7_cl_acquire(cl, 1, &a, 32, 64, 2, &t[i]), 0);
		assert_int_not_equal(t[i], L7_CL_UNTRACKED);
	}
	l7_cl_stats(cl, &st);
	assert_int_equal(st.addresses, CAP);
	assert_int_equal(st.untracked, 0);
	assert_true(st.capacity >= CAP * 3 / 2);
	/* far past it: the full shards let connections in uncounted */
	for (uint32_t i = CAP; i < 4 * CAP; i++) {
		struct addr a = v4(0xc0000000 + i);

		assert_int_equal(l7_cl_acquire(cl, 1, &a, 32, 64, 2, &t[i]), 0);
		extra += t[i] == L7_CL_UNTRACKED;
	}
	l7_cl_stats(cl, &st);
	printf("    %u addresses into capacity %u: %u uncounted\n", 4 * CAP, st.capacity, extra);
	assert_true(extra > 0);
	assert_int_equal(st.untracked, extra);
	assert_int_equal(st.addresses + extra, 4 * CAP);
	for (uint32_t i = 0; i < 4 * CAP; i++)
		l7_cl_release(cl, t[i]);
	l7_cl_stats(cl, &st);
	assert_int_equal(st.addresses, 0);
	assert_int_equal(st.conns, 0);
	free(t);
	l7_cl_free(cl);
}

/* --- cost ---------------------------------------------------------------- */

/* CPU time of the calling thread: what a check costs, whatever else the
 * machine runs (wall time on a shared 2-core box mostly measures the queue). */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct cost_arg {
	struct l7_connlimit *cl;
	uint32_t base;
	bool same;
	double ns;
	pthread_barrier_t *go;
};

static void *cost_thread(void *arg)
{
	struct cost_arg *c = arg;
	enum { N = 1000000 };
	uint64_t start;
	uint32_t t;

	pthread_barrier_wait(c->go);
	start = thread_cpu_ns();
	for (uint32_t i = 0; i < N; i++) {
		struct addr a = v4(c->same ? 0x0c000001 : c->base + (i & 4095));

		if (!l7_cl_acquire(c->cl, 1, &a, 32, 64, 1000000, &t))
			l7_cl_release(c->cl, t);
	}
	c->ns = (double)(thread_cpu_ns() - start) / N;
	return NULL;
}

static double cost(struct l7_connlimit *cl, unsigned n, bool same)
{
	struct cost_arg c[2];
	pthread_t th[2];
	pthread_barrier_t go;
	double worst = 0;

	pthread_barrier_init(&go, NULL, n);
	for (unsigned i = 0; i < n; i++) {
		c[i] = (struct cost_arg){cl, 0x0d000000 + i * 65536, same, 0, &go};
		assert_int_equal(pthread_create(&th[i], NULL, cost_thread, &c[i]), 0);
	}
	for (unsigned i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		worst = c[i].ns > worst ? c[i].ns : worst;
	}
	pthread_barrier_destroy(&go);
	return worst;
}

static void test_cost(void **state)
{
	struct l7_connlimit *cl = l7_cl_new(20000, 5);
	double a = cost(cl, 1, false), b = cost(cl, 2, false), c = cost(cl, 2, true);

	printf("    ns per acquire+release: 1 thread %.1f, 2 threads %.1f (distinct), "
	       "%.1f (one address)\n",
	       a, b, c);
	assert_true(a < 2000 && b < 4000 && c < 10000);
	l7_cl_free(cl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limit),
	    cmocka_unit_test(test_prefixes),
	    cmocka_unit_test(test_exact_across_threads),
	    cmocka_unit_test(test_capacity),
	    cmocka_unit_test(test_cost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
