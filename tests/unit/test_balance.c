/* Tests for balance.c and the algorithms behind it: names and errors, the
 * exact smooth round-robin sequence, weighted distributions for every
 * algorithm, least_conn and random2 following the active counts, backups
 * only when no primary is usable, exclusion for retries, maglev stability
 * across nodes and across health changes, client-address keys, and table
 * rebuilds racing with picks on other threads. */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <cmocka.h>

#include "balance.h"
#include "hash.h"

#define POOL_MAX 16
#define PICKS	 100000

struct pool {
	size_t n;
	char names[POOL_MAX][48];
	struct balance_live live[POOL_MAX];
	struct balance_member m[POOL_MAX];
};

static void pool_init(struct pool *p, size_t n, const uint32_t *weights)
{
	assert_true(n <= POOL_MAX);
	p->n = n;
	for (size_t i = 0; i < n; i++) {
		snprintf(p->names[i], sizeof(p->names[i]), "127.0.0.1:%zu", 8100 + i);
		balance_live_init(&p->live[i], true);
		p->m[i] = (struct balance_member){
		    .name = p->names[i],
		    .weight = weights ? weights[i] : 1,
		    .live = &p->live[i],
		};
	}
}

static struct balance *make(enum balance_algo algo, const struct pool *p, unsigned workers)
{
	struct balance_params params = {.algo = algo, .workers = workers, .seed = 42};
	struct balance *b = NULL;

	assert_int_equal(balance_create(&params, p->m, p->n, &b), 0);
	assert_non_null(b);
	return b;
}

static void set_up(struct pool *p, struct balance *b, size_t i, bool up)
{
	balance_live_set_available(&p->live[i], up);
	assert_int_equal(balance_refresh(b), 0);
}

static void test_algo_names(void **state)
{
	enum balance_algo a;

	for (int i = 0; i < BALANCE__COUNT; i++) {
		assert_int_equal(balance_algo_parse(balance_algo_name((enum balance_algo)i), &a),
				 0);
		assert_int_equal(a, i);
	}
	assert_int_equal(balance_algo_parse("hash", &a), 0);
	assert_int_equal(a, BALANCE_MAGLEV);
	assert_int_equal(balance_algo_parse("roundrobin", &a), -EINVAL);
	assert_int_equal(balance_algo_parse("", &a), -EINVAL);
	assert_string_equal(balance_algo_name(BALANCE__COUNT), "?");
}

static void test_create_errors(void **state)
{
	struct balance_params params = {.algo = BALANCE_ROUND_ROBIN, .workers = 1};
	struct balance *b = (struct balance *)1;
	struct pool p;

	pool_init(&p, 3, NULL);
	params.workers = 0;
	assert_int_equal(balance_create(&params, p.m, 3, &b), -EINVAL);
	assert_null(b);
	params.workers = BALANCE_MAX_WORKERS + 1;
	assert_int_equal(balance_create(&params, p.m, 3, &b), -EINVAL);
	params.workers = 1;
	params.algo = BALANCE__COUNT;
	assert_int_equal(balance_create(&params, p.m, 3, &b), -EINVAL);
	params.algo = BALANCE_ROUND_ROBIN;
	assert_int_equal(balance_create(&params, p.m, BALANCE_MAX_MEMBERS + 1, &b), -E2BIG);
	p.m[1].name = NULL;
	assert_int_equal(balance_create(&params, p.m, 3, &b), -EINVAL);
	p.m[1].name = p.names[0]; /* duplicate identity: fatal for maglev */
	params.algo = BALANCE_MAGLEV;
	assert_int_equal(balance_create(&params, p.m, 3, &b), -EINVAL);
	params.table_size = 65536; /* not prime */
	p.m[1].name = p.names[1];
	assert_int_equal(balance_create(&params, p.m, 3, &b), -EINVAL);
	params.table_size = 251;
	assert_int_equal(balance_create(&params, p.m, 3, &b), 0);
	assert_int_equal(balance_count(b), 3);
	assert_string_equal(balance_member_name(b, 2), "127.0.0.1:8102");
	assert_null(balance_member_name(b, 3));
	assert_null(balance_worker(b, 1));
	balance_free(b);
	balance_free(NULL);
}

static void test_empty_pool(void **state)
{
	struct pool p;

	pool_init(&p, 0, NULL);
	for (int a = 0; a < BALANCE__COUNT; a++) {
		struct balance *b = make((enum balance_algo)a, &p, 2);

		assert_int_equal(balance_pick(balance_worker(b, 0), 7, NULL), BALANCE_NONE);
		assert_int_equal(balance_refresh(b), 0);
		assert_int_equal(balance_pick(balance_worker(b, 1), 7, NULL), BALANCE_NONE);
		balance_free(b);
	}
}

/* nginx documents weights 5, 1, 1 as the sequence a a b a c a a. */
static void test_rr_smooth_sequence(void **state)
{
	static const uint32_t w[] = {5, 1, 1};
	static const char want[] = "aabacaaaabacaa";
	struct pool p;

	pool_init(&p, 3, w);
	struct balance *b = make(BALANCE_ROUND_ROBIN, &p, 2);
	for (unsigned wk = 0; wk < 2; wk++) { /* each worker runs its own cycle */
		struct balance_worker *wr = balance_worker(b, wk);
		for (size_t k = 0; k < strlen(want); k++)
			assert_int_equal(balance_pick(wr, 0, NULL), want[k] - 'a');
	}
	balance_free(b);
}

static uint64_t key_of(uint64_t k)
{
	return hash_mix64(k + 1);
}

/* Each share within 2 % (relative) of weight / total weight. */
static void assert_distribution(const unsigned *counts, const uint32_t *w, size_t n, unsigned picks,
				const char *what)
{
	uint64_t total_w = 0;

	for (size_t i = 0; i < n; i++)
		total_w += w[i];
	for (size_t i = 0; i < n; i++) {
		double want = (double)picks * w[i] / (double)total_w;
		double dev = ((double)counts[i] - want) / want;

		if (dev < -0.02 || dev > 0.02)
			fail_msg("%s: member %zu got %u picks, want %.0f (%.2f %%)", what, i,
				 counts[i], want, dev * 100);
	}
}

static void run_distribution(enum balance_algo algo, const uint32_t *w, size_t n)
{
	unsigned counts[POOL_MAX] = {0};
	struct pool p;

	pool_init(&p, n, w);
	struct balance *b = make(algo, &p, 1);
	struct balance_worker *wk = balance_worker(b, 0);
	for (unsigned k = 0; k < PICKS; k++) {
		int r = balance_pick(wk, key_of(k), NULL);

		assert_true(r >= 0 && (size_t)r < n);
		counts[r]++;
	}
	assert_distribution(counts, w, n, PICKS, balance_algo_name(algo));
	balance_free(b);
}

static void test_distribution_all_algos(void **state)
{
	static const uint32_t equal[] = {1, 1, 1};
	static const uint32_t skewed[] = {1, 2, 4};

	for (int a = 0; a < BALANCE__COUNT; a++) {
		run_distribution((enum balance_algo)a, equal, 3);
		run_distribution((enum balance_algo)a, skewed, 3);
	}
}

/* Connections that stay open: each pick opens one, the oldest of a window
 * of 700 closes. least_conn and random2 must then follow the weights through
 * the active counts, not through their tie-breakers. */
static void run_loaded(enum balance_algo algo, const uint32_t *w, size_t n)
{
	enum { WINDOW = 700 };
	unsigned counts[POOL_MAX] = {0};
	int open[WINDOW];
	struct pool p;

	pool_init(&p, n, w);
	struct balance *b = make(algo, &p, 1);
	struct balance_worker *wk = balance_worker(b, 0);
	for (unsigned k = 0; k < PICKS; k++) {
		int r = balance_pick(wk, 0, NULL);

		assert_true(r >= 0);
		counts[r]++;
		if (k >= WINDOW)
			balance_conn_end(&p.live[open[k % WINDOW]]);
		balance_conn_begin(&p.live[r]);
		open[k % WINDOW] = r;
	}
	assert_distribution(counts, w, n, PICKS, balance_algo_name(algo));
	balance_free(b);
}

static void test_distribution_under_load(void **state)
{
	static const uint32_t skewed[] = {1, 2, 4};

	run_loaded(BALANCE_LEAST_CONN, skewed, 3);
	run_loaded(BALANCE_RANDOM2, skewed, 3);
}

static void test_least_conn_follows_active(void **state)
{
	static const uint32_t w[] = {1, 1, 2};
	struct pool p;

	pool_init(&p, 3, w);
	struct balance *b = make(BALANCE_LEAST_CONN, &p, 1);
	struct balance_worker *wk = balance_worker(b, 0);
	atomic_store(&p.live[0].active, 3);
	atomic_store(&p.live[1].active, 1);
	atomic_store(&p.live[2].active, 4); /* 4 / 2 = 2 per unit of weight */
	assert_int_equal(balance_pick(wk, 0, NULL), 1);
	atomic_store(&p.live[1].active, 5);
	assert_int_equal(balance_pick(wk, 0, NULL), 2);
	atomic_store(&p.live[2].active, 7);
	assert_int_equal(balance_pick(wk, 0, NULL), 0);
	balance_free(b);

	/* An idle pool of equal weights: ties go round robin, a b c a b c. */
	pool_init(&p, 3, NULL);
	b = make(BALANCE_LEAST_CONN, &p, 1);
	wk = balance_worker(b, 0);
	for (int k = 0; k < 9; k++)
		assert_int_equal(balance_pick(wk, 0, NULL), k % 3);
	/* Two tied at the minimum: only they share, alternating. */
	atomic_store(&p.live[1].active, 2);
	for (int k = 0; k < 6; k++) {
		int r = balance_pick(wk, 0, NULL);
		assert_true(r == 0 || r == 2);
		assert_int_not_equal(r, balance_pick(wk, 0, NULL));
	}
	balance_free(b);
}

static void test_random2_prefers_less_loaded(void **state)
{
	unsigned counts[3] = {0};
	struct pool p;

	pool_init(&p, 3, NULL);
	atomic_store(&p.live[0].active, 0);
	atomic_store(&p.live[1].active, 5);
	atomic_store(&p.live[2].active, 10);
	struct balance *b = make(BALANCE_RANDOM2, &p, 1);
	struct balance_worker *wk = balance_worker(b, 0);
	for (unsigned k = 0; k < PICKS; k++)
		counts[balance_pick(wk, 0, NULL)]++;
	/* Two distinct draws of three: the idlest wins whenever drawn (2/3),
	 * the middle one when paired with the busiest (1/3), the busiest never. */
	assert_in_range(counts[0], PICKS * 64 / 100, PICKS * 69 / 100);
	assert_in_range(counts[1], PICKS * 31 / 100, PICKS * 36 / 100);
	assert_int_equal(counts[2], 0);
	balance_free(b);
}

/* Primaries 0 and 1, backups 2 and 3. */
static void test_backups_only_without_primaries(void **state)
{
	struct pool p;

	for (int a = 0; a < BALANCE__COUNT; a++) {
		pool_init(&p, 4, NULL);
		p.m[2].backup = p.m[3].backup = true;
		struct balance *b = make((enum balance_algo)a, &p, 1);
		struct balance_worker *wk = balance_worker(b, 0);
		unsigned seen[4] = {0};

		for (unsigned k = 0; k < 1000; k++)
			seen[balance_pick(wk, key_of(k), NULL)]++;
		assert_true(seen[0] > 0 && seen[1] > 0);
		assert_int_equal(seen[2] + seen[3], 0);

		set_up(&p, b, 0, false);
		for (unsigned k = 0; k < 1000; k++)
			assert_int_equal(balance_pick(wk, key_of(k), NULL), 1);

		set_up(&p, b, 1, false);
		memset(seen, 0, sizeof(seen));
		for (unsigned k = 0; k < 1000; k++)
			seen[balance_pick(wk, key_of(k), NULL)]++;
		assert_int_equal(seen[0] + seen[1], 0);
		assert_true(seen[2] > 0 && seen[3] > 0);

		/* Retries that have tried every usable primary move on to the
		 * backups (nginx's rule). */
		set_up(&p, b, 0, true);
		bool tried[4] = {true, false, false, false};
		for (unsigned k = 0; k < 100; k++)
			assert_true(balance_pick(wk, key_of(k), tried) >= 2);

		set_up(&p, b, 2, false);
		set_up(&p, b, 3, false);
		set_up(&p, b, 0, false);
		for (unsigned k = 0; k < 100; k++)
			assert_int_equal(balance_pick(wk, key_of(k), NULL), BALANCE_NONE);
		balance_free(b);
	}
}

static void test_exclusion_honoured(void **state)
{
	static const uint32_t w[] = {4, 1, 1, 1, 0};
	struct pool p;

	for (int a = 0; a < BALANCE__COUNT; a++) {
		pool_init(&p, 5, w);
		struct balance *b = make((enum balance_algo)a, &p, 1);
		struct balance_worker *wk = balance_worker(b, 0);
		bool ex[5] = {true, false, true, false, false};

		for (unsigned k = 0; k < 2000; k++) {
			int r = balance_pick(wk, key_of(k), ex);
			assert_true(r == 1 || r == 3); /* 4 has weight 0: never */
		}
		ex[1] = ex[3] = true;
		assert_int_equal(balance_pick(wk, 1, ex), BALANCE_NONE);
		/* Not yet refreshed after a member went down: still avoided. */
		balance_live_set_available(&p.live[1], false);
		ex[1] = false;
		assert_int_equal(balance_pick(wk, 1, ex), BALANCE_NONE);
		balance_free(b);
	}
}

/* Two L4 nodes, configs listing the L7 instances in different orders: every
 * client address goes to the same instance name. */
static void test_maglev_same_on_two_nodes(void **state)
{
	struct pool a, b;
	const size_t n = 5;

	pool_init(&a, n, NULL);
	pool_init(&b, n, NULL);
	for (size_t i = 0; i < n; i++)
		b.m[i].name = a.names[(i + 2) % n];
	struct balance *ba = make(BALANCE_MAGLEV, &a, 2);
	struct balance *bb = make(BALANCE_MAGLEV, &b, 1);
	for (unsigned k = 0; k < 20000; k++) {
		struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(40000)};
		sin.sin_addr.s_addr = htonl(0x0A4D0000u + k);
		uint64_t key = balance_key_addr((struct sockaddr *)&sin, false);
		int ra = balance_pick(balance_worker(ba, k % 2), key, NULL);
		int rb = balance_pick(balance_worker(bb, 0), key, NULL);

		assert_string_equal(balance_member_name(ba, ra), balance_member_name(bb, rb));
	}
	balance_free(ba);
	balance_free(bb);
}

static void map_keys(struct balance *b, int *owner, unsigned nkeys)
{
	for (unsigned k = 0; k < nkeys; k++)
		owner[k] = balance_pick(balance_worker(b, 0), key_of(k), NULL);
}

/* A member goes down: before the rebuild the walk moves only its keys;
 * after it, only its keys plus a small collateral; back up, all restored. */
static void test_maglev_health_change(void **state)
{
	enum { NKEYS = 50000 };
	static int before[NKEYS], walked[NKEYS], rebuilt[NKEYS], restored[NKEYS];
	unsigned moved_walk = 0, collateral = 0, own = 0;
	struct pool p;

	pool_init(&p, 10, NULL);
	struct balance *b = make(BALANCE_MAGLEV, &p, 1);
	map_keys(b, before, NKEYS);
	balance_live_set_available(&p.live[3], false);
	map_keys(b, walked, NKEYS);
	assert_int_equal(balance_refresh(b), 0);
	map_keys(b, rebuilt, NKEYS);
	set_up(&p, b, 3, true);
	map_keys(b, restored, NKEYS);
	for (unsigned k = 0; k < NKEYS; k++) {
		assert_true(walked[k] != 3 && rebuilt[k] != 3);
		own += before[k] == 3;
		if (before[k] != 3) {
			assert_int_equal(walked[k], before[k]); /* the walk is exact */
			collateral += rebuilt[k] != before[k];
		}
		moved_walk += walked[k] != before[k];
		assert_int_equal(restored[k], before[k]);
	}
	print_message("maglev N=10, one down: %.2f %% of keys were its own, %.2f %% collateral\n",
		      100.0 * own / NKEYS, 100.0 * collateral / NKEYS);
	assert_int_equal(moved_walk, own);
	assert_in_range(own, NKEYS / 10 - NKEYS / 100, NKEYS / 10 + NKEYS / 100);
	assert_true(collateral * 100 < NKEYS); /* < 1 %; measured 0.20 % */
	balance_free(b);
}

static void test_key_addr(void **state)
{
	struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons(443)};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
	const uint8_t raw[6] = {192, 0, 2, 7, 0x01, 0xBB}; /* address, port 443 */

	v4.sin_addr.s_addr = htonl(0xC0000207); /* 192.0.2.7 */
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &v6.sin6_addr);
	/* Network byte order on every host: the key is a function of the
	 * address, not of the machine. */
	assert_int_equal(balance_key_addr((struct sockaddr *)&v4, false), hash_bytes(raw, 4));
	assert_int_equal(balance_key_addr((struct sockaddr *)&v4, true), hash_bytes(raw, 6));
	assert_int_equal(balance_key_addr((struct sockaddr *)&v6, false), hash_bytes(raw, 4));
	assert_int_equal(balance_key_addr((struct sockaddr *)&v6, true), hash_bytes(raw, 6));
	v4.sin_port = htons(444);
	assert_int_not_equal(balance_key_addr((struct sockaddr *)&v4, true), hash_bytes(raw, 6));
	assert_int_equal(balance_key_addr((struct sockaddr *)&v4, false), hash_bytes(raw, 4));
	inet_pton(AF_INET6, "2001:db8::7", &v6.sin6_addr);
	assert_int_equal(balance_key_addr((struct sockaddr *)&v6, false),
			 hash_bytes(v6.sin6_addr.s6_addr, 16));
	assert_int_equal(balance_key_bytes("session=abc", 11), hash_str("session=abc"));
}

static void test_live_helpers(void **state)
{
	struct balance_live l;

	balance_live_init(&l, false);
	assert_false(balance_live_available(&l));
	balance_live_set_available(&l, true);
	assert_true(balance_live_available(&l));
	balance_conn_begin(&l);
	balance_conn_begin(&l);
	balance_conn_end(&l);
	assert_int_equal(balance_live_active(&l), 1);
	/* A member without live state is always up and idle. */
	assert_true(balance_live_available(NULL));
	assert_int_equal(balance_live_active(NULL), 0);
	balance_conn_begin(NULL);
	balance_live_set_available(NULL, false);
}

struct racer {
	struct balance_worker *w;
	atomic_bool *stop;
	unsigned long picks;
	unsigned long failures;
};

static void *race_picks(void *arg)
{
	struct racer *r = arg;
	uint64_t k = 0;

	while (!atomic_load(r->stop)) {
		if (balance_pick(r->w, key_of(k++), NULL) < 0)
			r->failures++;
		r->picks++;
	}
	return NULL;
}

/* The health thread rebuilds while two workers pick: no pick may fail while
 * member 0 stays up, and no table may be freed under a reader (the ASan
 * build turns that into a crash). Bounded to 300 ms. */
static void test_maglev_rebuild_races_picks(void **state)
{
	atomic_bool stop = false;
	struct racer r[2];
	pthread_t th[2];
	struct pool p;
	unsigned rebuilds = 0;
	struct timespec t0, t;

	pool_init(&p, 8, NULL);
	struct balance *b = make(BALANCE_MAGLEV, &p, 2);
	for (int i = 0; i < 2; i++) {
		r[i] = (struct racer){.w = balance_worker(b, (unsigned)i), .stop = &stop};
		assert_int_equal(pthread_create(&th[i], NULL, race_picks, &r[i]), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		size_t victim = 1 + rebuilds % 7;
		set_up(&p, b, victim, false);
		set_up(&p, b, victim, true);
		rebuilds += 2;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 300);
	atomic_store(&stop, true);
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].failures, 0);
		assert_true(r[i].picks > 0);
	}
	assert_true(rebuilds >= 10);
	balance_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_algo_names),
	    cmocka_unit_test(test_create_errors),
	    cmocka_unit_test(test_empty_pool),
	    cmocka_unit_test(test_rr_smooth_sequence),
	    cmocka_unit_test(test_distribution_all_algos),
	    cmocka_unit_test(test_distribution_under_load),
	    cmocka_unit_test(test_least_conn_follows_active),
	    cmocka_unit_test(test_random2_prefers_less_loaded),
	    cmocka_unit_test(test_backups_only_without_primaries),
	    cmocka_unit_test(test_exclusion_honoured),
	    cmocka_unit_test(test_maglev_same_on_two_nodes),
	    cmocka_unit_test(test_maglev_health_change),
	    cmocka_unit_test(test_key_addr),
	    cmocka_unit_test(test_live_helpers),
	    cmocka_unit_test(test_maglev_rebuild_races_picks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
