/* ratelimit: the rate parser from guarded buffers, GCRA arithmetic on a fake
 * clock (burst, refill, Retry-After, remaining, reset), accuracy within 2 %
 * across 2-4 threads on a fake and on the real clock with no overshoot past
 * the bucket's exact bound, eviction (which way goes, what a flood of new
 * keys does to a limited client), memory fixed under a million distinct
 * keys, address keys, request keys, RateLimit fields and the 429 byte for
 * byte, and the cost of one check with 1 and 2 threads. */
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

#include "addr.h"
#include "guard.h"
#include "hash.h"
#include "log.h"
#include "../../l7/http1_parse.h"
#include "../../l7/ratelimit.h"

#define MS 1000000ull
#define S  1000000000ull

static struct l7_rl_policy policy(uint32_t count, uint32_t period_ms, uint32_t burst)
{
	struct l7_rl_policy p;

	assert_int_equal(l7_rl_policy_init(&p, "test", count, period_ms, burst), 0);
	return p;
}

/* --- parser ----------------------------------------------------------- */

struct rate_case {
	const char *text;
	int rc; /* > 0: ok (the length) */
	uint32_t count, period_ms;
	enum l7_rl_err why;
};

static const struct rate_case rate_cases[] = {
    {"100/s", 5, 100, 1000, L7_RL_ERR_NONE},
    {"10r/s", 5, 10, 1000, L7_RL_ERR_NONE},
    {"6000/m", 6, 6000, 60000, L7_RL_ERR_NONE},
    {"5/10s", 5, 5, 10000, L7_RL_ERR_NONE},
    {"1/500ms", 7, 1, 500, L7_RL_ERR_NONE},
    {"86400/d", 7, 86400, 86400000, L7_RL_ERR_NONE},
    {"3/2h", 4, 3, 7200000, L7_RL_ERR_NONE},
    {"1000000000/s", 12, 1000000000, 1000, L7_RL_ERR_NONE},
    {"", -EBADMSG, 0, 0, L7_RL_ERR_EMPTY},
    {"/s", -EBADMSG, 0, 0, L7_RL_ERR_EMPTY},
    {"x/s", -EBADMSG, 0, 0, L7_RL_ERR_COUNT},
    {"100", -EBADMSG, 0, 0, L7_RL_ERR_SLASH},
    {"100 /s", -EBADMSG, 0, 0, L7_RL_ERR_SLASH},
    {"100/", -EBADMSG, 0, 0, L7_RL_ERR_UNIT},
    {"100/10", -EBADMSG, 0, 0, L7_RL_ERR_UNIT},
    {"100/w", -EBADMSG, 0, 0, L7_RL_ERR_UNIT},
    {"100/sec", -EBADMSG, 0, 0, L7_RL_ERR_TRAILING},
    {"100/s ", -EBADMSG, 0, 0, L7_RL_ERR_TRAILING},
    {"100/mss", -EBADMSG, 0, 0, L7_RL_ERR_TRAILING},
    {"0/s", -EBADMSG, 0, 0, L7_RL_ERR_ZERO},
    {"5/0s", -EBADMSG, 0, 0, L7_RL_ERR_ZERO},
    {"1000000001/s", -E2BIG, 0, 0, L7_RL_ERR_TOO_LARGE},
    {"99999999999999/s", -E2BIG, 0, 0, L7_RL_ERR_TOO_LARGE},
    {"1/2d", -E2BIG, 0, 0, L7_RL_ERR_TOO_LARGE},
    {"1/99999999999999999999d", -E2BIG, 0, 0, L7_RL_ERR_TOO_LARGE},
    {"2000000/ms", -E2BIG, 0, 0, L7_RL_ERR_TOO_FAST},
    {"1/1sssssssssssssssssssssssssssssssss", -E2BIG, 0, 0, L7_RL_ERR_TOO_LARGE},
};

static void test_parse_rate(void **state)
{
	for (size_t i = 0; i < sizeof(rate_cases) / sizeof(rate_cases[0]); i++) {
		const struct rate_case *c = &rate_cases[i];
		size_t len = strlen(c->text);
		char *buf = guard_dup(c->text, len);
		uint32_t count = 0, period = 0;
		enum l7_rl_err why;
		int rc = l7_rl_parse_rate(buf, len, &count, &period, &why);

		if (rc != c->rc || why != c->why)
			fail_msg("\"%s\": rc %d why %d (%s), want %d why %d", c->text, rc, why,
				 l7_rl_err_text(why), c->rc, c->why);
		if (rc > 0 && (count != c->count || period != c->period_ms))
			fail_msg("\"%s\": %u per %u ms", c->text, count, period);
		assert_non_null(l7_rl_err_text(why));
		guard_free(buf, len);
	}
}

/* Every proper prefix of a good rate is refused, with a reason, except the
 * one that is itself a rate ("1/500m"): nothing reads past the end. */
static void test_parse_rate_prefixes(void **state)
{
	static const char *const good[] = {"100/s", "10r/s", "5/10s", "1/500ms", "86400/d"};

	for (size_t g = 0; g < sizeof(good) / sizeof(good[0]); g++) {
		size_t full = strlen(good[g]);

		for (size_t len = 0; len < full; len++) {
			char *buf = guard_dup(good[g], len);
			uint32_t count, period;
			enum l7_rl_err why;
			int rc = l7_rl_parse_rate(buf, len, &count, &period, &why);

			if (len == 6 && !strcmp(good[g], "1/500ms")) {
				assert_int_equal(rc, 6);
				assert_int_equal(period, 500u * 60000u);
			} else if (rc > 0) {
				fail_msg("prefix %zu of \"%s\" parsed", len, good[g]);
			} else {
				assert_int_not_equal(why, L7_RL_ERR_NONE);
			}
			guard_free(buf, len);
		}
	}
}

static void test_policy_init(void **state)
{
	struct l7_rl_policy p;

	assert_int_equal(l7_rl_policy_init(&p, "api-v1.key_2", 100, 1000, 0), 0);
	assert_int_equal(p.burst, 100);
	assert_int_equal(p.interval_ns, 10 * MS);
	assert_int_equal(p.capacity_ns, 1000 * MS);
	assert_int_equal(p.key, L7_RL_KEY_CLIENT_IP);
	assert_int_equal(p.v4_prefix, 32);
	assert_int_equal(p.v6_prefix, 64);
	assert_int_equal(l7_rl_policy_init(&p, "", 1, 1000, 0), -EINVAL);
	assert_int_equal(l7_rl_policy_init(&p, "with space", 1, 1000, 0), -EINVAL);
	assert_int_equal(l7_rl_policy_init(&p, "quote\"", 1, 1000, 0), -EINVAL);
	assert_int_equal(l7_rl_policy_init(&p, "x", 0, 1000, 0), -EINVAL);
	assert_int_equal(l7_rl_policy_init(&p, "x", 1, 0, 0), -EINVAL);
	assert_int_equal(l7_rl_policy_init(&p, "x", 2000000, 1, 0), -EINVAL);
	assert_int_equal(l7_rl_policy_init(&p, "x", 1, L7_RL_MAX_PERIOD + 1, 0), -EINVAL);
	assert_int_equal(l7_rl_policy_init(&p, "x", 1, L7_RL_MAX_PERIOD, L7_RL_MAX_BURST),
			 -EINVAL); /* capacity would not fit 64 bits */
	assert_int_equal(l7_rl_policy_init(&p, "x", 1, 1000, 0), 0);
	assert_int_equal(l7_rl_policy_key(&p, L7_RL_KEY_HEADER, "X-Api-Key"), 0);
	assert_int_equal(p.header_len, 9);
	assert_string_equal(p.header, "X-Api-Key");
	assert_int_equal(l7_rl_policy_key(&p, L7_RL_KEY_HEADER, "bad name"), -EINVAL);
	assert_int_equal(l7_rl_policy_key(&p, L7_RL_KEY_HEADER, ""), -EINVAL);
	assert_int_equal(l7_rl_policy_key(&p, L7_RL_KEY_HEADER, NULL), -EINVAL);
	assert_int_equal(l7_rl_policy_key(&p, L7_RL_KEY__COUNT, NULL), -EINVAL);
	assert_int_equal(l7_rl_policy_key(&p, L7_RL_KEY_ROUTE, NULL), 0);
	assert_string_equal(l7_rl_key_name(L7_RL_KEY_ROUTE), "route");
	assert_null(l7_rl_table_new(L7_RL_MIN_KEYS - 1, 1));
	assert_null(l7_rl_table_new(L7_RL_MAX_KEYS + 1, 1));
}

/* --- GCRA on a fake clock ---------------------------------------------- */

static void test_burst_and_refill(void **state)
{
	struct l7_rl_table *t = l7_rl_table_new(L7_RL_MIN_KEYS, 42);
	struct l7_rl_policy p = policy(10, 1000, 5); /* T = 100 ms, 5 at once */
	struct l7_rl_result r;
	uint64_t now = 1000 * S;

	for (unsigned i = 0; i < 5; i++) {
		assert_true(l7_rl_take(t, &p, 7, now, &r));
		assert_true(r.allowed);
		assert_int_equal(r.remaining, 4 - i);
		assert_int_equal(r.reset_ns, (i + 1) * 100 * MS);
		assert_int_equal(r.retry_after_ns, 0);
	}
	assert_false(l7_rl_take(t, &p, 7, now, &r));
	assert_false(r.allowed);
	assert_int_equal(r.remaining, 0);
	assert_int_equal(r.retry_after_ns, 100 * MS);
	assert_int_equal(l7_rl_retry_after_s(&r), 1);
	/* a refusal costs nothing: 99 ms later still refused, 1 ms more allowed */
	assert_false(l7_rl_take(t, &p, 7, now + 99 * MS, &r));
	assert_int_equal(r.retry_after_ns, 1 * MS);
	assert_true(l7_rl_take(t, &p, 7, now + 100 * MS, &r));
	assert_int_equal(r.remaining, 0);
	assert_false(l7_rl_take(t, &p, 7, now + 100 * MS, NULL));
	/* other keys have their own buckets */
	assert_true(l7_rl_take(t, &p, 8, now, &r));
	assert_int_equal(r.remaining, 4);
	/* idle long enough, the bucket is full again, never fuller */
	for (unsigned i = 0; i < 5; i++)
		assert_true(l7_rl_take(t, &p, 7, now + 60 * S, NULL));
	assert_false(l7_rl_take(t, &p, 7, now + 60 * S, NULL));
	/* steady state: exactly one per interval */
	unsigned allowed = 0;
	for (uint64_t ms = 0; ms < 10000; ms++)
		allowed += l7_rl_take(t, &p, 9, now + 100 * S + ms * MS, NULL);
	assert_int_equal(allowed, 5 + 99); /* the burst, then one per 100 ms */
	l7_rl_table_free(t);
}

/* --- accuracy across threads ------------------------------------------- */

struct acc_arg {
	struct l7_rl_table *t;
	const struct l7_rl_policy *p;
	pthread_barrier_t *go;
	_Atomic uint64_t *fake; /* NULL: the real clock */
	uint64_t fake_step, takes;
	uint64_t until_ns; /* real clock */
	uint64_t first_ns;
	uint64_t allowed;
};

static void *acc_thread(void *arg)
{
	struct acc_arg *a = arg;
	uint64_t now;

	pthread_barrier_wait(a->go);
	if (a->fake) {
		for (uint64_t i = 0; i < a->takes; i++) {
			now = atomic_fetch_add(a->fake, a->fake_step);
			a->allowed += l7_rl_take(a->t, a->p, 99, now, NULL);
		}
		return NULL;
	}
	a->first_ns = clock_now_ns();
	for (now = a->first_ns; now < a->until_ns; now = clock_now_ns())
		a->allowed += l7_rl_take(a->t, a->p, 99, now, NULL);
	return NULL;
}

/* Runs `n` threads on one key; returns the allowed total, *t0 the earliest
 * first take (real clock). */
static uint64_t run_threads(unsigned n, struct acc_arg *tmpl, uint64_t *t0)
{
	pthread_t th[8];
	struct acc_arg a[8];
	pthread_barrier_t go;
	uint64_t total = 0;

	pthread_barrier_init(&go, NULL, n);
	for (unsigned i = 0; i < n; i++) {
		a[i] = *tmpl;
		a[i].go = &go;
		assert_int_equal(pthread_create(&th[i], NULL, acc_thread, &a[i]), 0);
	}
	*t0 = UINT64_MAX;
	for (unsigned i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		total += a[i].allowed;
		if (a[i].first_ns && a[i].first_ns < *t0)
			*t0 = a[i].first_ns;
	}
	pthread_barrier_destroy(&go);
	return total;
}

static void test_accuracy_fake_clock(void **state)
{
	for (unsigned n = 2; n <= 4; n++) {
		struct l7_rl_table *t = l7_rl_table_new(L7_RL_MIN_KEYS, n);
		struct l7_rl_policy p = policy(1000, 1000, 10); /* T = 1 ms */
		_Atomic uint64_t fake = 5 * S;
		struct acc_arg tmpl = {
		    .t = t, .p = &p, .fake = &fake, .fake_step = 100000, .takes = 200000};
		uint64_t t0, allowed = run_threads(n, &tmpl, &t0);
		/* every take advanced the clock 100 us: n * 20 s of fake time */
		double elapsed_s = (double)(atomic_load(&fake) - 5 * S) / 1e9;
		double want = 10 + 1000 * elapsed_s;

		printf("    fake clock, %u threads: %llu allowed, %.0f expected (%.3f %%)\n", n,
		       (unsigned long long)allowed, want, 100.0 * ((double)allowed - want) / want);
		assert_true(allowed <= want + 1);
		assert_true(allowed >= want * 0.98);
		l7_rl_table_free(t);
	}
}

static void test_accuracy_real_clock(void **state)
{
	for (unsigned n = 2; n <= 4; n++) {
		struct l7_rl_table *t = l7_rl_table_new(L7_RL_MIN_KEYS, 100 + n);
		/* 100 ms of burst: a thread preempted briefly loses nothing */
		struct l7_rl_policy p = policy(5000, 1000, 500);
		struct acc_arg tmpl = {.t = t, .p = &p, .until_ns = clock_now_ns() + S};
		uint64_t t0, allowed = run_threads(n, &tmpl, &t0);
		double want = 500 + 5000.0 * (double)(tmpl.until_ns - t0) / 1e9;

		printf("    real clock, %u threads: %llu allowed in %.3f s, %.0f expected "
		       "(%.3f %%)\n",
		       n, (unsigned long long)allowed, (double)(tmpl.until_ns - t0) / 1e9, want,
		       100.0 * ((double)allowed - want) / want);
		/* exact: never more than the bucket's bound. The lower side is
		 * pinned to 2 % by the fake-clock test; here, on a shared machine,
		 * threads descheduled for longer than the burst lose tokens no
		 * limiter could grant, so only a gross shortfall is a failure. */
		assert_true((double)allowed <= want + 1);
		assert_true((double)allowed >= want * 0.5);
		l7_rl_table_free(t);
	}
}

/* --- eviction and memory ----------------------------------------------- */

/* Keys with the same top 32 bits land in the same set. */
static uint64_t same_set(uint32_t i)
{
	return (0x12345678ull << 32) | (i + 1);
}

static void test_eviction_order(void **state)
{
	struct l7_rl_table *t = l7_rl_table_new(L7_RL_MIN_KEYS, 1);
	struct l7_rl_policy p = policy(10, 1000, 10); /* T = 100 ms */
	struct l7_rl_stats st;
	uint64_t now = 10 * S;

	/* key i spends i + 1 tokens: key 0's bucket is the fullest */
	for (uint32_t i = 0; i < L7_RL_WAYS; i++)
		for (uint32_t k = 0; k <= i; k++)
			assert_true(l7_rl_take(t, &p, same_set(i), now, NULL));
	l7_rl_table_stats(t, now, &st);
	assert_int_equal(st.live, L7_RL_WAYS);
	assert_int_equal(st.evictions, 0);
	/* an eighth key evicts key 0, which then comes back with a full bucket */
	assert_true(l7_rl_take(t, &p, same_set(100), now, NULL));
	l7_rl_table_stats(t, now, &st);
	assert_int_equal(st.evictions, 1);
	for (uint32_t k = 0; k < 10; k++)
		assert_true(l7_rl_take(t, &p, same_set(0), now, NULL));
	assert_false(l7_rl_take(t, &p, same_set(0), now, NULL));
	/* key 6 spent all 7... it is still tracked: 3 left, then refused */
	for (uint32_t k = 0; k < 3; k++)
		assert_true(l7_rl_take(t, &p, same_set(6), now, NULL));
	assert_false(l7_rl_take(t, &p, same_set(6), now, NULL));
	/* once buckets are full again their ways are free: no eviction counted */
	now += 2 * S;
	for (uint32_t i = 200; i < 200 + L7_RL_WAYS; i++)
		assert_true(l7_rl_take(t, &p, same_set(i), now, NULL));
	l7_rl_table_stats(t, now, &st);
	assert_int_equal(st.evictions, 2); /* key 0's return evicted one more */
	assert_int_equal(st.live, L7_RL_WAYS);
	l7_rl_table_free(t);
}

/* A million one-request keys pass through a 1024-key table while a limited
 * client keeps its (nearly empty) bucket: the flood evicts itself. */
static void test_flood_keeps_limited_client(void **state)
{
	struct l7_rl_table *t = l7_rl_table_new(L7_RL_MIN_KEYS, 2);
	struct l7_rl_policy p = policy(10, 1000, 10);
	size_t bytes = l7_rl_table_bytes(t);
	uint64_t now = 50 * S, heavy = 0xfeedfacecafebeefull;
	struct l7_rl_stats st;

	for (unsigned i = 0; i < 10; i++)
		assert_true(l7_rl_take(t, &p, heavy, now, NULL));
	assert_false(l7_rl_take(t, &p, heavy, now, NULL));
	for (uint32_t i = 0; i < 1000000; i++) {
		uint64_t k = l7_rl_key_hash(t, &p, L7_RL_KEY_HEADER, &i, sizeof(i));

		assert_true(l7_rl_take(t, &p, k, now + i, NULL));
	}
	assert_false(l7_rl_take(t, &p, heavy, now + 1000000, NULL));
	l7_rl_table_stats(t, now + 1000000, &st);
	assert_int_equal(l7_rl_table_bytes(t), bytes);
	assert_true(st.live <= st.capacity);
	assert_true(st.evictions >= 1000000 - st.capacity);
	printf("    1M keys through %u entries (%zu bytes): %llu evictions\n", st.capacity,
	       st.bytes, (unsigned long long)st.evictions);
	l7_rl_table_free(t);
}

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld %ld", &pages, &rss), 2);
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static void test_million_keys_memory(void **state)
{
	struct l7_rl_table *t = l7_rl_table_new(L7_RL_DEFAULT_KEYS, 3);
	struct l7_rl_policy a = policy(100, 1000, 0), b = policy(5, 60000, 0);
	long before = rss_kib(), after;
	struct l7_rl_stats st;
	uint64_t now = 7 * S;

	for (uint32_t i = 0; i < 2000000; i++) {
		uint8_t ip[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
		const struct l7_rl_policy *p = i & 1 ? &a : &b;

		l7_rl_take(t, p, l7_rl_key_hash(t, p, L7_RL_KEY_CLIENT_IP, ip, 4), now, NULL);
	}
	after = rss_kib();
	l7_rl_table_stats(t, now, &st);
	printf("    2M distinct keys: table %zu KiB, RSS %+ld KiB, %u live, %llu evicted\n",
	       st.bytes / 1024, after - before, st.live, (unsigned long long)st.evictions);
	assert_true(after - before < 1024);
	assert_true(st.bytes < 5u << 20); /* 4.6 MiB for 262144 keys */
	assert_true(st.live <= st.capacity);
	assert_true(st.live >= st.capacity * 9 / 10);
	l7_rl_table_free(t);
}

/* --- keys --------------------------------------------------------------- */

static struct addr ip(const char *text)
{
	struct addr a;
	const char *why;

	assert_int_equal(
	    addr_parse(text, strlen(text), ADDR_F_UNIX | ADDR_F_PORT_OPTIONAL, 1, &a, &why), 0);
	return a;
}

static void test_addr_key(void **state)
{
	uint8_t k1[L7_RL_ADDR_KEY_MAX], k2[L7_RL_ADDR_KEY_MAX];
	struct addr a = ip("192.0.2.77:1234"), m = ip("[::ffff:192.0.2.77]:99");
	struct addr v6a = ip("[2001:db8:1:2:aaaa::1]:1"), v6b = ip("[2001:db8:1:2:bbbb::2]:2");
	struct addr v6c = ip("[2001:db8:1:3::1]:1"), u = ip("unix:/tmp/x");

	assert_int_equal(l7_rl_addr_key(&a, 32, 64, k1), 5);
	assert_int_equal(l7_rl_addr_key(&m, 32, 64, k2), 5);
	assert_memory_equal(k1, k2, 5); /* v4-mapped is the same client */
	assert_memory_equal(k1, "\x04\xc0\x00\x02\x4d", 5);
	assert_int_equal(l7_rl_addr_key(&a, 24, 64, k1), 5);
	assert_memory_equal(k1, "\x04\xc0\x00\x02\x00", 5);
	assert_int_equal(l7_rl_addr_key(&a, 20, 64, k1), 5);
	assert_memory_equal(k1, "\x04\xc0\x00\x00\x00", 5);
	assert_int_equal(l7_rl_addr_key(&v6a, 32, 64, k1), 17);
	assert_int_equal(l7_rl_addr_key(&v6b, 32, 64, k2), 17);
	assert_memory_equal(k1, k2, 17); /* one /64 */
	assert_int_equal(l7_rl_addr_key(&v6c, 32, 64, k2), 17);
	assert_memory_not_equal(k1, k2, 17);
	assert_int_equal(l7_rl_addr_key(&v6a, 32, 128, k1), 17);
	assert_int_equal(l7_rl_addr_key(&v6b, 32, 128, k2), 17);
	assert_memory_not_equal(k1, k2, 17);
	assert_int_equal(l7_rl_addr_key(&u, 32, 64, k1), 1);
	assert_int_equal(k1[0], 'u');
	assert_int_equal(l7_rl_addr_key(NULL, 32, 64, k1), 1);
	assert_int_equal(k1[0], 0);
}

static struct http1_request req;
static char *guarded;
static size_t guarded_len;

static void parse_req(const char *head)
{
	enum http1_err err;

	if (guarded)
		guard_free(guarded, guarded_len);
	guarded_len = strlen(head);
	guarded = guard_dup(head, guarded_len);
	assert_int_equal(http1_parse_request(guarded, guarded_len, 0, NULL, &req, &err),
			 (int)guarded_len);
}

static void test_check_request_keys(void **state)
{
	struct l7_rl_table *t = l7_rl_table_new(L7_RL_MIN_KEYS, 4);
	struct l7_rl_policy ph = policy(1, 60000, 1), pr = policy(1, 60000, 1);
	struct l7_rl_policy pi;
	struct addr c1 = ip("198.51.100.1:1"), c2 = ip("198.51.100.2:1");
	uint64_t now = S;

	/* policies of one name share buckets: pi gets its own name */
	assert_int_equal(l7_rl_policy_init(&pi, "by-ip", 1, 60000, 1), 0);
	assert_int_equal(l7_rl_policy_key(&ph, L7_RL_KEY_HEADER, "x-api-key"), 0);
	assert_int_equal(l7_rl_policy_key(&pr, L7_RL_KEY_ROUTE, NULL), 0);
	/* by header: the key, whatever the address; names match any case */
	parse_req("GET / HTTP/1.1\r\nHost: h\r\nX-API-Key: k1\r\n\r\n");
	assert_true(l7_rl_check(t, &ph, &req, &c1, "r", 1, now, NULL));
	assert_false(l7_rl_check(t, &ph, &req, &c2, "r", 1, now, NULL));
	parse_req("GET / HTTP/1.1\r\nHost: h\r\nx-api-key: k2\r\n\r\n");
	assert_true(l7_rl_check(t, &ph, &req, &c1, "r", 1, now, NULL));
	/* no header (or an empty one): the client's address stands for it */
	parse_req("GET / HTTP/1.1\r\nHost: h\r\nX-Other: k1\r\n\r\n");
	assert_true(l7_rl_check(t, &ph, &req, &c1, "r", 1, now, NULL));
	assert_false(l7_rl_check(t, &ph, &req, &c1, "r", 1, now, NULL));
	parse_req("GET / HTTP/1.1\r\nHost: h\r\nX-Api-Key:\r\n\r\n");
	assert_false(l7_rl_check(t, &ph, &req, &c1, "r", 1, now, NULL));
	assert_true(l7_rl_check(t, &ph, &req, &c2, "r", 1, now, NULL));
	/* by client ip: a forged X-Forwarded-For changes nothing */
	parse_req("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n");
	assert_true(l7_rl_check(t, &pi, &req, &c1, "r", 1, now, NULL));
	parse_req("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.10\r\n\r\n");
	assert_false(l7_rl_check(t, &pi, &req, &c1, "r", 1, now, NULL));
	/* by route: every client shares it, routes have their own */
	assert_true(l7_rl_check(t, &pr, &req, &c1, "api", 3, now, NULL));
	assert_false(l7_rl_check(t, &pr, &req, &c2, "api", 3, now, NULL));
	assert_true(l7_rl_check(t, &pr, &req, &c2, "web", 3, now, NULL));
	/* a policy with another name has its own buckets for the same key */
	struct l7_rl_policy other;
	assert_int_equal(l7_rl_policy_init(&other, "other", 1, 60000, 1), 0);
	assert_true(l7_rl_check(t, &other, &req, &c1, "r", 1, now, NULL));
	guard_free(guarded, guarded_len);
	guarded = NULL;
	l7_rl_table_free(t);
}

/* --- fields and the 429 ------------------------------------------------- */

static void test_headers_and_429(void **state)
{
	struct l7_rl_table *t = l7_rl_table_new(L7_RL_MIN_KEYS, 5);
	struct l7_rl_policy p;
	struct l7_rl_result r;
	char h[L7_RL_HDRS_MAX];
	uint8_t out[L7_RL_429_MAX];
	uint64_t now = 3 * S;
	int n;

	assert_int_equal(l7_rl_policy_init(&p, "per-ip", 100, 60000, 10), 0);
	assert_true(l7_rl_take(t, &p, 1, now, &r)); /* T = 600 ms */
	n = l7_rl_format_headers(h, sizeof(h), &p, &r);
	assert_string_equal(h, "RateLimit-Policy: \"per-ip\";q=100;w=60\r\n"
			       "RateLimit: \"per-ip\";r=9;t=1\r\n");
	assert_int_equal(n, (int)strlen(h));
	for (unsigned i = 0; i < 9; i++)
		assert_true(l7_rl_take(t, &p, 1, now, &r));
	assert_false(l7_rl_take(t, &p, 1, now + 100 * MS, &r));
	assert_int_equal(r.retry_after_ns, 500 * MS);
	n = l7_rl_respond_429(out, sizeof(out), &p, &r, false);
	static const char want[] = "HTTP/1.1 429 Too Many Requests\r\n"
				   "Content-Type: text/plain\r\n"
				   "Content-Length: 32\r\n"
				   "Cache-Control: no-store\r\n"
				   "RateLimit-Policy: \"per-ip\";q=100;w=60\r\n"
				   "RateLimit: \"per-ip\";r=0;t=6\r\n"
				   "Retry-After: 1\r\n"
				   "Connection: keep-alive\r\n"
				   "\r\n"
				   "too many requests, retry in 1 s\n";
	assert_int_equal(n, (int)strlen(want));
	assert_memory_equal(out, want, (size_t)n);
	assert_int_equal(l7_rl_respond_429(out, (size_t)n, &p, &r, false), -E2BIG);
	assert_int_equal(l7_rl_format_headers(h, 20, &p, &r), -E2BIG);
	/* a sub-second period is restated per whole second */
	assert_int_equal(l7_rl_policy_init(&p, "fast", 10, 100, 0), 0);
	assert_true(l7_rl_take(t, &p, 2, now, &r));
	assert_true(l7_rl_format_headers(h, sizeof(h), &p, &r) > 0);
	assert_non_null(strstr(h, "\"fast\";q=100;w=1\r\n"));
	n = l7_rl_respond_429(out, sizeof(out), &p, &r, true);
	assert_true(n > 0);
	assert_non_null(strstr((char *)out, "Connection: close\r\n"));
	l7_rl_table_free(t);
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
	struct l7_rl_table *t;
	const struct l7_rl_policy *p;
	pthread_barrier_t *go;
	bool same_key;
	uint32_t seed, n;
	double ns;
};

static void *cost_thread(void *arg)
{
	struct cost_arg *a = arg;
	uint64_t state = a->seed, start, now = 9 * S;

	pin(a->seed);
	pthread_barrier_wait(a->go);
	start = thread_cpu_ns();
	for (uint32_t i = 0; i < a->n; i++) {
		uint64_t k = a->same_key ? 77 : hash_splitmix_next(&state) | 1;

		l7_rl_take(a->t, a->p, k, now + i, NULL);
	}
	a->ns = (double)(thread_cpu_ns() - start) / a->n;
	return NULL;
}

static double cost(struct l7_rl_table *t, const struct l7_rl_policy *p, unsigned threads,
		   bool same_key)
{
	pthread_t th[2];
	struct cost_arg a[2];
	pthread_barrier_t go;
	double worst = 0;

	pthread_barrier_init(&go, NULL, threads);
	for (unsigned i = 0; i < threads; i++) {
		a[i] = (struct cost_arg){t, p, &go, same_key, 1000 + i, 2000000, 0};
		assert_int_equal(pthread_create(&th[i], NULL, cost_thread, &a[i]), 0);
	}
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		worst = a[i].ns > worst ? a[i].ns : worst;
	}
	pthread_barrier_destroy(&go);
	return worst;
}

static void test_cost(void **state)
{
	struct l7_rl_table *t = l7_rl_table_new(L7_RL_DEFAULT_KEYS, 6);
	struct l7_rl_policy p = policy(1000000, 1000, 0);
	double c1d = cost(t, &p, 1, false), c1s = cost(t, &p, 1, true);
	double c2d = cost(t, &p, 2, false), c2s = cost(t, &p, 2, true);

	printf("    ns per take: 1 thread %.1f (random keys) %.1f (one key); "
	       "2 threads %.1f (random keys) %.1f (one key, contended)\n",
	       c1d, c1s, c2d, c2s);
	/* sanity bounds far above the measured figures (docs/traffic.md) */
	assert_true(c1d < 1000 && c1s < 1000 && c2d < 2000 && c2s < 5000);
	l7_rl_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_rate),
	    cmocka_unit_test(test_parse_rate_prefixes),
	    cmocka_unit_test(test_policy_init),
	    cmocka_unit_test(test_burst_and_refill),
	    cmocka_unit_test(test_accuracy_fake_clock),
	    cmocka_unit_test(test_accuracy_real_clock),
	    cmocka_unit_test(test_eviction_order),
	    cmocka_unit_test(test_flood_keeps_limited_client),
	    cmocka_unit_test(test_million_keys_memory),
	    cmocka_unit_test(test_addr_key),
	    cmocka_unit_test(test_check_request_keys),
	    cmocka_unit_test(test_headers_and_429),
	    cmocka_unit_test(test_cost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
