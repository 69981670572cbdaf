/* Tests for strata-l7's per-worker exchange free list (l7/l7_worker.c):
 * a steady load is served from the list without calloc, and what a burst
 * left unused is freed by the housekeeping tick, down to L7_X_FREE_KEEP;
 * and for the pause of accepting when descriptors run out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../l7/exchange.h"
#include "../../l7/l7_worker.h"

#define BURST 40

static void free_all(struct l7_worker *w, struct l7_exchange **x, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		l7_worker_x_free(w, x[i]);
}

static void take(struct l7_worker *w, struct l7_exchange **x, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		x[i] = l7_worker_x_alloc(w);
		assert_non_null(x[i]);
	}
}

static void drop_list(struct l7_worker *w)
{
	while (w->x_free) {
		struct l7_exchange *x = w->x_free;

		w->x_free = x->next_free;
		free(x);
	}
	w->n_x_free = 0;
}

/* A burst of BURST: kept while in use again, freed once a tick passes
 * without anyone taking them. */
static void test_burst_shrinks_after_an_unused_tick(void **state)
{
	struct l7_worker *w = calloc(1, sizeof(*w));
	struct l7_exchange *x[BURST];

	assert_non_null(w);
	take(w, x, BURST);
	free_all(w, x, BURST);
	assert_int_equal(w->n_x_free, BURST);
	l7_worker_x_shrink(w); /* all of them were in use during this tick */
	assert_int_equal(w->n_x_free, BURST);
	assert_false(w->x_destroyed);
	l7_worker_x_shrink(w); /* a whole tick unused */
	assert_int_equal(w->n_x_free, L7_X_FREE_KEEP);
	assert_true(w->x_destroyed);
	l7_worker_x_shrink(w);
	assert_int_equal(w->n_x_free, L7_X_FREE_KEEP);
	drop_list(w);
	free(w);
}

/* The list swings between 30 free and 0 free every tick: nothing is freed,
 * so a steady load never reallocates. */
static void test_steady_load_keeps_its_exchanges(void **state)
{
	struct l7_worker *w = calloc(1, sizeof(*w));
	struct l7_exchange *x[BURST], *first[BURST];

	assert_non_null(w);
	take(w, x, 30);
	memcpy(first, x, sizeof(first));
	free_all(w, x, 30);
	for (int tick = 0; tick < 5; tick++) {
		take(w, x, 30);
		/* LIFO: the same 30 come back, none newly allocated */
		for (unsigned i = 0; i < 30; i++) {
			bool known = false;

			for (unsigned k = 0; k < 30; k++)
				known |= x[i] == first[k];
			assert_true(known);
		}
		free_all(w, x, 30);
		l7_worker_x_shrink(w);
		assert_int_equal(w->n_x_free, 30);
	}
	drop_list(w);
	free(w);
}

/* Past L7_X_FREE_MAX, a freed exchange is destroyed at once. */
static void test_cap(void **state)
{
	struct l7_worker *w = calloc(1, sizeof(*w));
	unsigned n = L7_X_FREE_MAX + 8;
	struct l7_exchange **x = calloc(n, sizeof(*x));

	assert_non_null(w);
	assert_non_null(x);
	take(w, x, n);
	free_all(w, x, n);
	assert_int_equal(w->n_x_free, L7_X_FREE_MAX);
	assert_true(w->x_destroyed);
	drop_list(w);
	free(x);
	free(w);
}

/* Accept pauses at EMFILE: 100 ms first, doubling, never past 1 s. */
static void test_accept_backoff(void **state)
{
	const uint32_t want[] = {100, 200, 400, 800, 1000, 1000};
	uint32_t ms = 0;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ms = l7_accept_backoff_next(ms);
		assert_int_equal(ms, want[i]);
	}
	assert_int_equal(l7_accept_backoff_next(600), L7_ACCEPT_PAUSE_MAX_MS);
	assert_int_equal(l7_accept_backoff_next(UINT32_MAX), L7_ACCEPT_PAUSE_MAX_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_shrinks_after_an_unused_tick),
	    cmocka_unit_test(test_steady_load_keeps_its_exchanges),
	    cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_accept_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
