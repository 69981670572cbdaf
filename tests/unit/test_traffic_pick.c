/* traffic_pick: real balancers (every algorithm) over real breakers, on
 * both forms of the exclusion (flags in the exchange up to 64 servers, a
 * tried list past that): with every breaker but one open, every pick lands
 * on the closed one; with on_open = fail the first refusal ends the search;
 * retries never go back to a tried server while another is left, also when
 * open breakers leave only a few; a stale connection's server may be
 * picked again once forgotten. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "balance.h"
#include "../../l7/breaker.h"
#include "../../l7/l7_config.h"
#include "../../l7/traffic_pick.h"

#define MAX_N L7_MAX_SERVERS
#define NOW   1000

struct rig {
	uint32_t n;
	struct balance *bal;
	struct balance_live live[MAX_N];
	struct l7_breaker *brk[MAX_N];
	char names[MAX_N][16];
	struct l7_brk_params bp;
	uint64_t key;
	unsigned refused; /* admissions the breakers refused */
};

static int rig_pick(void *ctx, const bool *excluded)
{
	struct rig *r = ctx;

	return balance_pick(balance_worker(r->bal, 0), r->key, excluded);
}

static bool rig_admit(void *ctx, int idx)
{
	struct rig *r = ctx;
	struct l7_brk_ticket t;

	assert_true(idx >= 0 && (uint32_t)idx < r->n);
	if (l7_brk_admits(l7_brk_allow(r->brk[idx], &r->bp, NOW, &t))) {
		l7_brk_cancel(r->brk[idx], &t);
		return true;
	}
	r->refused++;
	return false;
}

static void rig_init(struct rig *r, enum balance_algo algo, uint32_t n)
{
	struct balance_member m[MAX_N];
	struct balance_params p = {.algo = algo, .workers = 1, .seed = 7};

	memset(r, 0, sizeof(*r));
	assert_true(n <= MAX_N);
	r->n = n;
	l7_brk_params_default(&r->bp);
	for (uint32_t i = 0; i < n; i++) {
		snprintf(r->names[i], sizeof(r->names[i]), "s%u", i);
		balance_live_init(&r->live[i], true);
		m[i] =
		    (struct balance_member){.name = r->names[i], .weight = 1, .live = &r->live[i]};
		r->brk[i] = l7_brk_new(1, NULL, NULL);
		assert_non_null(r->brk[i]);
	}
	assert_int_equal(balance_create(&p, m, n, &r->bal), 0);
}

static void rig_fini(struct rig *r)
{
	balance_free(r->bal);
	for (uint32_t i = 0; i < r->n; i++)
		l7_brk_free(r->brk[i]);
}

/* Opens every breaker but those in keep[0..nk). */
static void open_all_but(struct rig *r, const uint32_t *keep, unsigned nk)
{
	for (uint32_t i = 0; i < r->n; i++) {
		bool kept = false;

		for (unsigned k = 0; k < nk; k++)
			kept |= keep[k] == i;
		if (!kept)
			assert_int_equal(l7_brk_force(r->brk[i], &r->bp, L7_BRK_OPEN, NOW), 0);
	}
}

static const enum balance_algo algos[] = {BALANCE_ROUND_ROBIN, BALANCE_LEAST_CONN, BALANCE_RANDOM2,
					  BALANCE_MAGLEV};
/* Both forms and the boundary between them. */
static const uint32_t sizes[] = {3, 64, 65, 100, L7_MAX_SERVERS};

/* Requests per case: a refused server costs a pick, O(n) each. */
static unsigned rounds(uint32_t n)
{
	return n > 100 ? 10 : 300;
}

static void test_every_pick_lands_on_the_closed_one(void **state)
{
	(void)state;
	for (unsigned a = 0; a < sizeof(algos) / sizeof(algos[0]); a++) {
		for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			struct rig r;
			uint32_t closed = sizes[s] * 2 / 3;
			unsigned seen_refusal = 0;

			rig_init(&r, algos[a], sizes[s]);
			open_all_but(&r, &closed, 1);
			for (unsigned q = 0; q < rounds(r.n); q++) {
				struct l7_tried t = {0};
				bool rejected;

				r.key = 0x9E3779B97F4A7C15ULL * (q + 1);
				assert_int_equal(l7_pick_admitted(&t, r.n, false, rig_pick,
								  rig_admit, &r, &rejected),
						 (int)closed);
				seen_refusal += rejected;
				/* a large upstream lists tried servers only */
				if (r.n > L7_TRIED_INLINE)
					assert_int_equal(t.n, 0);
			}
			/* the balancers spread picks: most met an open breaker first */
			assert_true(sizes[s] < 64 || seen_refusal > rounds(r.n) / 2);
			rig_fini(&r);
		}
	}
}

static void test_on_open_fail_stops_at_the_first_refusal(void **state)
{
	struct rig r;
	uint32_t closed = 5;

	(void)state;
	rig_init(&r, BALANCE_ROUND_ROBIN, 100);
	open_all_but(&r, &closed, 1);
	for (unsigned q = 0; q < 200; q++) {
		struct l7_tried t = {0};
		bool rejected;
		unsigned before = r.refused;
		int idx = l7_pick_admitted(&t, r.n, true, rig_pick, rig_admit, &r, &rejected);

		if (idx >= 0) {
			assert_int_equal(idx, (int)closed);
			assert_false(rejected);
		} else {
			assert_true(rejected);
			assert_int_equal(r.refused, before + 1);
		}
	}
	rig_fini(&r);
}

/* Attempts as the exchange makes them: pick, record as tried, fail, retry. */
static unsigned attempts(struct rig *r, unsigned tries, bool *used, int *last, bool *rejected)
{
	struct l7_tried t = {0};
	unsigned made = 0;

	memset(used, 0, r->n);
	*last = -1;
	for (unsigned k = 0; k < tries; k++) {
		int idx = l7_pick_admitted(&t, r->n, false, rig_pick, rig_admit, r, rejected);

		*last = idx;
		if (idx < 0)
			break;
		assert_false(used[idx]); /* never a tried server again */
		used[idx] = true;
		l7_tried_add(&t, r->n, (uint32_t)idx);
		made++;
	}
	return made;
}

static void test_retries_never_reuse_a_tried_server(void **state)
{
	bool used[MAX_N];

	(void)state;
	for (unsigned a = 0; a < sizeof(algos) / sizeof(algos[0]); a++) {
		for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			struct rig r;
			uint32_t keep[3];
			bool rejected;
			int last;
			uint32_t n = sizes[s];

			rig_init(&r, algos[a], n);
			/* all closed: 16 attempts (retry.tries at most), all distinct */
			for (unsigned q = 0; q < 20; q++) {
				r.key = q * 0x2545F4914F6CDD1DULL;
				unsigned want = n < 16 ? n : 16;

				assert_int_equal(attempts(&r, 16, used, &last, &rejected), want);
				if (n < 16)
					assert_int_equal(last, -1); /* every server tried */
			}
			/* three left closed: exactly those, then none */
			keep[0] = 0;
			keep[1] = n / 2;
			keep[2] = n - 1;
			open_all_but(&r, keep, 3);
			for (unsigned q = 0; q < rounds(n) / 15; q++) {
				r.key = q * 0x2545F4914F6CDD1DULL;
				assert_int_equal(attempts(&r, 16, used, &last, &rejected), 3);
				assert_true(used[keep[0]] && used[keep[1]] && used[keep[2]]);
				assert_int_equal(last, -1);
				assert_true(n == 3 || rejected);
			}
			rig_fini(&r);
		}
	}
}

static void test_forgotten_server_may_come_back(void **state)
{
	const uint32_t ns[] = {2, 100};

	(void)state;
	for (unsigned s = 0; s < 2; s++) {
		struct rig r;
		struct l7_tried t = {0};
		bool rejected;
		uint32_t closed = 1;
		int idx;

		rig_init(&r, BALANCE_ROUND_ROBIN, ns[s]);
		open_all_but(&r, &closed, 1);
		idx = l7_pick_admitted(&t, r.n, false, rig_pick, rig_admit, &r, &rejected);
		assert_int_equal(idx, 1);
		l7_tried_add(&t, r.n, 1);
		assert_int_equal(
		    l7_pick_admitted(&t, r.n, false, rig_pick, rig_admit, &r, &rejected), -1);
		/* the flags remember the first pick's refusal; the list asks again */
		assert_true(rejected == (r.n > L7_TRIED_INLINE));
		/* a stale pooled connection: the same server, on a fresh one */
		l7_tried_forget(&t, r.n, 1);
		assert_int_equal(
		    l7_pick_admitted(&t, r.n, false, rig_pick, rig_admit, &r, &rejected), 1);
		if (r.n > L7_TRIED_INLINE)
			assert_int_equal(t.n, 0);
		rig_fini(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_pick_lands_on_the_closed_one),
	    cmocka_unit_test(test_on_open_fail_stops_at_the_first_refusal),
	    cmocka_unit_test(test_retries_never_reuse_a_tried_server),
	    cmocka_unit_test(test_forgotten_server_may_come_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
