/* Tests for maglev.c: sizes, errors, the empty table, balance with and
 * without weights, minimal disruption when a member leaves (only its keys
 * move, plus a small measured collateral) and exact restoration when it
 * returns, independence from config order, the deterministic walk past
 * rejected members, a pinned table for cross-version stability, and the
 * build cost that the health thread pays on every change. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hash.h"
#include "maglev.h"

#define MAX_TEST_MEMBERS 256

struct pool {
	size_t n;
	char names[MAX_TEST_MEMBERS][48];
	struct maglev_member m[MAX_TEST_MEMBERS];
};

/* Members named like the L7 instances strata-l4 balances over. */
static void pool_init(struct pool *p, size_t n)
{
	assert_true(n <= MAX_TEST_MEMBERS);
	p->n = n;
	for (size_t i = 0; i < n; i++) {
		snprintf(p->names[i], sizeof(p->names[i]), "10.77.%zu.%zu:8100", i / 250,
			 i % 250 + 1);
		p->m[i] =
		    (struct maglev_member){.name = p->names[i], .weight = 1, .available = true};
	}
}

static void build_ok(const struct pool *p, struct maglev *t)
{
	assert_int_equal(maglev_build(p->m, p->n, t), 0);
	assert_int_equal(t->n_members, p->n);
}

static void test_sizes(void **state)
{
	assert_int_equal(maglev_size_for(0), 65537);
	assert_int_equal(maglev_size_for(3), 65537);
	assert_int_equal(maglev_size_for(655), 65537);
	assert_int_equal(maglev_size_for(656), 131071);
	assert_int_equal(maglev_size_for(1310), 131071);
	assert_int_equal(maglev_size_for(1311), 262147);
	assert_int_equal(maglev_size_for(5243), 524309);
	assert_int_equal(maglev_size_for(MAGLEV_MAX_MEMBERS), MAGLEV_MAX_SIZE);
	assert_int_equal(maglev_size_for(MAGLEV_MAX_MEMBERS + 1), 0);
}

static void test_errors(void **state)
{
	struct pool p;
	struct maglev t;

	pool_init(&p, 3);
	assert_int_equal(maglev_build_size(p.m, 3, 65536, &t), -EINVAL); /* not prime */
	assert_int_equal(maglev_build_size(p.m, 3, 3, &t), -EINVAL);	 /* not > n */
	assert_int_equal(maglev_build_size(p.m, 3, MAGLEV_MAX_SIZE + 2, &t), -EINVAL);
	assert_null(t.slots);
	p.m[2].name = p.names[0];
	assert_int_equal(maglev_build(p.m, 3, &t), -EINVAL); /* duplicate identity */
	p.m[2].available = false;
	assert_int_equal(maglev_build(p.m, 3, &t), -EINVAL); /* even when down */
	p.m[2].name = NULL;
	assert_int_equal(maglev_build(p.m, 3, &t), -EINVAL);
	assert_int_equal(maglev_build(p.m, MAGLEV_MAX_MEMBERS + 1, &t), -E2BIG);
	assert_int_equal(t.size, 0);
	maglev_free(&t);
	maglev_free(NULL);
}

static void test_empty_answers_none(void **state)
{
	struct pool p;
	struct maglev t;

	assert_int_equal(maglev_build(NULL, 0, &t), 0);
	assert_int_equal(maglev_lookup(&t, 12345), MAGLEV_NONE);
	maglev_free(&t);

	pool_init(&p, 3);
	p.m[0].available = false;
	p.m[1].weight = 0;
	p.m[2].available = false;
	build_ok(&p, &t);
	assert_int_equal(t.n_present, 0);
	assert_int_equal(t.size, 65537); /* sized for the configured count */
	for (uint64_t k = 0; k < 100; k++)
		assert_int_equal(maglev_lookup(&t, hash_mix64(k)), MAGLEV_NONE);
	maglev_free(&t);
	maglev_free(&t); /* twice is fine */
}

/* Slots per member within `pct_x10` tenths of a percent of its ideal share. */
static void assert_shares(const struct maglev *t, const uint32_t *weights, size_t n,
			  unsigned pct_x10)
{
	uint64_t total_w = 0;

	for (size_t i = 0; i < n; i++)
		total_w += weights[i];
	for (size_t i = 0; i < n; i++) {
		double want = (double)t->size * weights[i] / (double)total_w;
		double got = maglev_slot_count(t, (uint32_t)i);
		double dev = (got - want) / want * 1000.0;

		if (dev < -(double)pct_x10 || dev > (double)pct_x10)
			fail_msg("member %zu: %.0f slots, ideal %.1f (%.1f %%)", i, got, want,
				 dev / 10.0);
	}
}

/* §3.4: with M > 100 x N the spread stays within about 1 % of ideal. */
static void test_balance_equal_weights(void **state)
{
	static const size_t counts[] = {1, 2, 3, 5, 10, 50, 256};
	uint32_t w[MAX_TEST_MEMBERS];
	struct pool p;
	struct maglev t;

	for (size_t i = 0; i < MAX_TEST_MEMBERS; i++)
		w[i] = 1;
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		pool_init(&p, counts[c]);
		build_ok(&p, &t);
		assert_int_equal(t.n_present, counts[c]);
		assert_shares(&t, w, counts[c], 10); /* ±1.0 % */
		maglev_free(&t);
	}
}

static void test_weights_honoured(void **state)
{
	static const uint32_t w123[] = {1, 2, 3};
	static const uint32_t w_mix[] = {10, 1, 5, 7, 3};
	struct pool p;
	struct maglev t;

	pool_init(&p, 3);
	for (size_t i = 0; i < 3; i++)
		p.m[i].weight = w123[i];
	build_ok(&p, &t);
	assert_shares(&t, w123, 3, 20); /* ±2 % of each ideal share */
	maglev_free(&t);

	/* 2:4:6 is the same ratio: the credit scheme gives the same table. */
	struct maglev t2;
	build_ok(&p, &t);
	for (size_t i = 0; i < 3; i++)
		p.m[i].weight = 2 * w123[i];
	build_ok(&p, &t2);
	assert_memory_equal(t.slots, t2.slots, t.size * sizeof(t.slots[0]));
	maglev_free(&t);
	maglev_free(&t2);

	pool_init(&p, 5);
	for (size_t i = 0; i < 5; i++)
		p.m[i].weight = w_mix[i];
	build_ok(&p, &t);
	assert_shares(&t, w_mix, 5, 30);
	maglev_free(&t);
}

struct disruption {
	uint32_t owned;	     /* slots the removed member had */
	uint32_t moved;	     /* slots whose owner changed */
	uint32_t collateral; /* moved although their owner stayed */
};

static struct disruption remove_member(struct pool *p, size_t r)
{
	struct maglev full, less, back;
	struct disruption d = {0};

	build_ok(p, &full);
	p->m[r].available = false;
	build_ok(p, &less);
	p->m[r].available = true;
	build_ok(p, &back);
	for (uint32_t s = 0; s < full.size; s++) {
		assert_true(less.slots[s] != r);
		d.owned += full.slots[s] == r;
		if (full.slots[s] != less.slots[s]) {
			d.moved++;
			d.collateral += full.slots[s] != r;
		}
	}
	/* Adding it back restores the original table exactly. */
	assert_memory_equal(full.slots, back.slots, full.size * sizeof(full.slots[0]));
	maglev_free(&full);
	maglev_free(&less);
	maglev_free(&back);
	return d;
}

/* Removing one of N members must move all of its keys and few others. The
 * bounds have headroom over what this build measures (docs/balancing.md). */
static void test_disruption_on_removal(void **state)
{
	static const size_t counts[] = {3, 5, 10, 50};
	struct pool p;

	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		size_t n = counts[c];
		uint32_t worst_collateral = 0, worst_moved = 0;
		uint64_t sum_collateral = 0, runs = 0;
		size_t step = n > 10 ? 7 : 1;

		pool_init(&p, n);
		for (size_t r = 0; r < n; r += step) {
			struct disruption d = remove_member(&p, r);

			assert_true(d.moved >= d.owned);
			sum_collateral += d.collateral;
			runs++;
			worst_collateral =
			    d.collateral > worst_collateral ? d.collateral : worst_collateral;
			worst_moved = d.moved > worst_moved ? d.moved : worst_moved;
		}
		double moved = 100.0 * worst_moved / 65537, coll = 100.0 * worst_collateral / 65537;
		print_message(
		    "N=%zu: worst moved %.2f %% (1/N = %.2f %%), collateral worst %.2f %% "
		    "mean %.2f %%\n",
		    n, moved, 100.0 / n, coll, 100.0 * sum_collateral / runs / 65537);
		/* Measured worst: 0.03, 0.11, 0.28, 0.49 % collateral for N = 3..50. */
		assert_true(coll < 1.0);
		assert_true(moved < 100.0 / n + 1.0);
	}
}

/* Appending a member takes about 1/(N+1) of the keys, nearly all for itself. */
static void test_disruption_on_append(void **state)
{
	struct pool p;
	struct maglev before, after;
	uint32_t moved = 0, to_new = 0;

	pool_init(&p, 11);
	build_ok(&p, &before); /* 10 members, sized for 11 configured */
	p.m[10].available = false;
	maglev_free(&before);
	build_ok(&p, &before);
	p.m[10].available = true;
	build_ok(&p, &after);
	for (uint32_t s = 0; s < before.size; s++) {
		if (before.slots[s] != after.slots[s]) {
			moved++;
			to_new += after.slots[s] == 10;
		}
	}
	assert_true(moved < before.size / 11 + before.size / 50);
	assert_true(to_new * 100 >= (uint64_t)moved * 95);
	maglev_free(&before);
	maglev_free(&after);
}

/* Two nodes whose configs list the same members in a different order must
 * send every key to the same member name. */
static void test_order_independent(void **state)
{
	struct pool a, b;
	struct maglev ta, tb;
	const size_t n = 10;

	pool_init(&a, n);
	pool_init(&b, n);
	for (size_t i = 0; i < n; i++) { /* b: reversed, with weights to match */
		b.m[i].name = a.names[n - 1 - i];
		a.m[i].weight = (uint32_t)(i % 3 + 1);
		b.m[n - 1 - i].weight = a.m[i].weight;
	}
	build_ok(&a, &ta);
	build_ok(&b, &tb);
	for (uint32_t s = 0; s < ta.size; s++)
		assert_string_equal(a.m[ta.slots[s]].name, b.m[tb.slots[s]].name);
	maglev_free(&ta);
	maglev_free(&tb);
}

/* A fingerprint of the whole table, independent of host byte order. */
static uint64_t table_fingerprint(const struct maglev *t)
{
	uint64_t h = t->size;

	for (uint32_t s = 0; s < t->size; s++)
		h = hash_mix64(h ^ t->slots[s]);
	return h;
}

/* Pins the table format: offset/skip seeds, name order, credit scheme. If
 * this changes, two nodes on different versions disagree on every client. */
static void test_pinned_table(void **state)
{
	static const char *const names[] = {"127.0.0.1:8100", "127.0.0.1:8101", "127.0.0.1:8102"};
	struct maglev_member m[3];
	struct maglev t;

	for (int i = 0; i < 3; i++)
		m[i] = (struct maglev_member){.name = names[i], .weight = 1, .available = true};
	assert_int_equal(maglev_build(m, 3, &t), 0);
	assert_int_equal(table_fingerprint(&t), 0xA8735BF6D57ED79EULL);
	assert_int_equal(maglev_slot_count(&t, 0), 21846);
	assert_int_equal(maglev_slot_count(&t, 1), 21846);
	assert_int_equal(maglev_slot_count(&t, 2), 21845);
	assert_int_equal(t.slots[0], 1);
	assert_int_equal(t.slots[3], 2);
	maglev_free(&t);
}

struct reject_ctx {
	const bool *rejected;
	unsigned calls;
};

static bool accept_unless_rejected(void *ctx, uint32_t index)
{
	struct reject_ctx *c = ctx;

	c->calls++;
	return !c->rejected[index];
}

/* The walk: owners that are accepted keep their keys; a rejected member's
 * keys spread over several others; nothing accepted answers NONE. */
static void test_lookup_accept_walk(void **state)
{
	bool rejected[10] = {false};
	uint32_t got[10] = {0};
	struct reject_ctx ctx = {.rejected = rejected};
	struct pool p;
	struct maglev t;

	pool_init(&p, 10);
	build_ok(&p, &t);
	rejected[4] = true;
	for (uint64_t k = 0; k < 20000; k++) {
		uint64_t key = hash_mix64(k);
		int owner = maglev_lookup(&t, key);
		int r = maglev_lookup_accept(&t, key, accept_unless_rejected, &ctx);

		assert_true(r >= 0 && r != 4);
		if (owner != 4)
			assert_int_equal(r, owner);
		else
			got[r]++;
		assert_int_equal(maglev_lookup_accept(&t, key, accept_unless_rejected, &ctx), r);
	}
	unsigned receivers = 0;
	for (int i = 0; i < 10; i++)
		receivers += got[i] > 0;
	assert_true(receivers >= 6); /* not all dumped on one neighbour */

	for (int i = 0; i < 10; i++)
		rejected[i] = true;
	ctx.calls = 0;
	assert_int_equal(maglev_lookup_accept(&t, 42, accept_unless_rejected, &ctx), MAGLEV_NONE);
	assert_int_equal(ctx.calls, 10); /* each member asked exactly once */
	maglev_free(&t);

	assert_int_equal(maglev_build(NULL, 0, &t), 0);
	assert_int_equal(maglev_lookup_accept(&t, 1, accept_unless_rejected, &ctx), MAGLEV_NONE);
}

static double build_ms(const struct pool *p)
{
	struct timespec a, b;
	struct maglev t;
	double best = 1e9;

	for (int rep = 0; rep < 5; rep++) {
		clock_gettime(CLOCK_MONOTONIC, &a);
		assert_int_equal(maglev_build(p->m, p->n, &t), 0);
		clock_gettime(CLOCK_MONOTONIC, &b);
		maglev_free(&t);
		double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
		best = ms < best ? ms : best;
	}
	return best;
}

/* The health thread rebuilds on every change; it must stay well under the
 * health check interval even for large pools (sanitizer builds included). */
static void test_build_cost(void **state)
{
	static const size_t counts[] = {3, 16, 256};
	struct pool p;

	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		pool_init(&p, counts[c]);
		double eq = build_ms(&p);
		for (size_t i = 0; i < p.n; i++)
			p.m[i].weight = (uint32_t)(i % 4 + 1);
		double weighted = build_ms(&p);
		print_message("build N=%zu M=65537: %.2f ms equal weights, %.2f ms weights 1-4\n",
			      counts[c], eq, weighted);
		assert_true(eq < 250.0 && weighted < 250.0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_empty_answers_none),
	    cmocka_unit_test(test_balance_equal_weights),
	    cmocka_unit_test(test_weights_honoured),
	    cmocka_unit_test(test_disruption_on_removal),
	    cmocka_unit_test(test_disruption_on_append),
	    cmocka_unit_test(test_order_independent),
	    cmocka_unit_test(test_pinned_table),
	    cmocka_unit_test(test_lookup_accept_walk),
	    cmocka_unit_test(test_build_cost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
