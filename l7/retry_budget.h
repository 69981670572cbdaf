/* Retry budgets: an upstream's retries in flight stay under a share of its
 * requests in flight (Envoy's retry_budget: budget_percent, default 20 %,
 * with min_retry_concurrency, default 3), so a failing upstream sees at
 * most ~1.2x its normal load instead of `tries` x, and retries back off
 * with jitter (full jitter: AWS Architecture Blog, "Exponential Backoff And
 * Jitter", 2015: the least total work and the best spread of the schemes
 * compared).
 *
 * This sits on top of the per-request cap (retry.tries) and deadline
 * (retry.deadline) from the upstream's config: a retry needs all three.
 *
 * Threads. Requests in flight are counted per worker (each worker writes
 * only its own cache line: the per-request cost is one plain increment and
 * one decrement, nothing shared), and summed only when a retry asks for
 * budget, which is the rare path. Retries in flight are one shared atomic,
 * claimed with a compare-and-swap against the bound, so the budget is
 * never exceeded however many workers ask at once.
 *
 * Lifetime. The engine keeps one budget per upstream per runtime
 * generation (struct l7_gen_upstream): each exchange holds its generation,
 * so begin/end always land on the same budget.
 */
#ifndef STRATA_L7_RETRY_BUDGET_H
#define STRATA_L7_RETRY_BUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define L7_RB_DEFAULT_PERCENT 20
#define L7_RB_DEFAULT_MIN     3
#define L7_RB_DEFAULT_BASE_MS 25  /* Envoy's base_interval */
#define L7_RB_DEFAULT_MAX_MS  250 /* Envoy: 10 x base */
#define L7_RB_MAX_BACKOFF_MS  60000

struct l7_rb_params {
	uint32_t percent;	  /* retries in flight per 100 requests in flight (0..100) */
	uint32_t min_concurrent;  /* retries always allowed in flight, whatever the load */
	uint32_t backoff_base_ms; /* first retry waits up to this (0: no wait) */
	uint32_t backoff_max_ms;  /* ceiling of the doubling */
};

/* One worker's requests in flight, alone on its cache line. */
struct l7_rb_worker {
	uint64_t active; /* relaxed atomics: written by its worker, read by any */
} __attribute__((aligned(64)));

struct l7_retry_budget {
	unsigned workers;
	_Atomic uint32_t retries;	  /* retries in flight */
	_Atomic uint64_t granted, denied; /* totals, for metrics */
	struct l7_rb_worker w[];	  /* workers entries */
};

/* The defaults above. */
void l7_rb_params_default(struct l7_rb_params *p);

/* Returns 0 or -EINVAL (percent over 100, base over max, max over
 * L7_RB_MAX_BACKOFF_MS). */
int l7_rb_params_check(const struct l7_rb_params *p);

/* A budget for `workers` workers (1..256); NULL on bad count or ENOMEM. */
struct l7_retry_budget *l7_rb_new(unsigned workers);
void l7_rb_free(struct l7_retry_budget *rb); /* NULL-safe */

/* A request to this upstream starts / ends on worker `wi` (first attempt
 * to the last; a retried request is still one request). Only worker `wi`
 * calls these for its index. */
static inline void l7_rb_request_begin(struct l7_retry_budget *rb, unsigned wi)
{
	uint64_t *a = &rb->w[wi].active;

	__atomic_store_n(a, __atomic_load_n(a, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

static inline void l7_rb_request_end(struct l7_retry_budget *rb, unsigned wi)
{
	uint64_t *a = &rb->w[wi].active;

	__atomic_store_n(a, __atomic_load_n(a, __ATOMIC_RELAXED) - 1, __ATOMIC_RELAXED);
}

/* Requests in flight, all workers (a per-worker count may be negative
 * alone when a request ended on another worker than it began; the sum is
 * what counts). */
uint32_t l7_rb_active(const struct l7_retry_budget *rb);

/* Retries allowed in flight now: max(min_concurrent, active * percent / 100). */
uint32_t l7_rb_allowed(const struct l7_retry_budget *rb, const struct l7_rb_params *p);

/* Claims budget for one retry: true (call l7_rb_retry_end when that attempt
 * ends, however it ends) or false (budget spent: answer with the failure
 * at hand). Thread-safe. */
bool l7_rb_retry_begin(struct l7_retry_budget *rb, const struct l7_rb_params *p);
void l7_rb_retry_end(struct l7_retry_budget *rb);

uint32_t l7_rb_retries(const struct l7_retry_budget *rb); /* retries in flight */

/* The wait before retry number `attempt` (1 = the first retry): uniform in
 * [0, min(max, base * 2^(attempt-1))] ms, drawn from *rng (a per-worker
 * hash_splitmix_next state). 0 when base is 0. */
uint32_t l7_rb_backoff_ms(const struct l7_rb_params *p, unsigned attempt, uint64_t *rng);

#endif
