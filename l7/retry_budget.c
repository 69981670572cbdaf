/* Retry budgets and jittered backoff (retry_budget.h). A budget belongs to
 * the runtime generation that created it and is freed with it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#include "retry_budget.h"

#define RB_MAX_WORKERS 256

void l7_rb_params_default(struct l7_rb_params *p)
{
	p->percent = L7_RB_DEFAULT_PERCENT;
	p->min_concurrent = L7_RB_DEFAULT_MIN;
	p->backoff_base_ms = L7_RB_DEFAULT_BASE_MS;
	p->backoff_max_ms = L7_RB_DEFAULT_MAX_MS;
}

int l7_rb_params_check(const struct l7_rb_params *p)
{
	if (p->percent > 100 || p->backoff_base_ms > p->backoff_max_ms ||
	    p->backoff_max_ms > L7_RB_MAX_BACKOFF_MS)
		return -EINVAL;
	return 0;
}

struct l7_retry_budget *l7_rb_new(unsigned workers)
{
	struct l7_retry_budget *rb;
	size_t bytes;

	if (!workers || workers > RB_MAX_WORKERS)
		return NULL;
	bytes = sizeof(*rb) + workers * sizeof(rb->w[0]);
	/* sizeof(struct l7_rb_worker) is 64, so the size is a multiple of 64 */
	rb = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	if (!rb)
		return NULL;
	memset(rb, 0, bytes);
	rb->workers = workers;
	return rb;
}

void l7_rb_free(struct l7_retry_budget *rb)
{
	free(rb);
}

uint32_t l7_rb_active(const struct l7_retry_budget *rb)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < rb->workers; i++)
		sum += __atomic_load_n(&rb->w[i].active, __ATOMIC_RELAXED);
	/* the loads are not one snapshot: a begin on one worker seen with an
	 * end on another not yet seen can dip the sum below zero for a moment */
	if ((int64_t)sum < 0)
		return 0;
	return sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
}

uint32_t l7_rb_allowed(const struct l7_retry_budget *rb, const struct l7_rb_params *p)
{
	uint64_t share = (uint64_t)l7_rb_active(rb) * p->percent / 100;

	return share > p->min_concurrent ? (uint32_t)share : p->min_concurrent;
}

bool l7_rb_retry_begin(struct l7_retry_budget *rb, const struct l7_rb_params *p)
{
	uint32_t allowed = l7_rb_allowed(rb, p);
	uint32_t cur = atomic_load_explicit(&rb->retries, memory_order_relaxed);

	/* a CAS against the bound: concurrent workers cannot overshoot it */
	do {
		if (cur >= allowed) {
			atomic_fetch_add_explicit(&rb->denied, 1, memory_order_relaxed);
			return false;
		}
	} while (!atomic_compare_exchange_weak_explicit(
	    &rb->retries, &cur, cur + 1, memory_order_relaxed, memory_order_relaxed));
	atomic_fetch_add_explicit(&rb->granted, 1, memory_order_relaxed);
	return true;
}

void l7_rb_retry_end(struct l7_retry_budget *rb)
{
	atomic_fetch_sub_explicit(&rb->retries, 1, memory_order_relaxed);
}

uint32_t l7_rb_retries(const struct l7_retry_budget *rb)
{
	return atomic_load_explicit(&rb->retries, memory_order_relaxed);
}

uint32_t l7_rb_backoff_ms(const struct l7_rb_params *p, unsigned attempt, uint64_t *rng)
{
	uint64_t cap = p->backoff_base_ms;

	if (!cap)
		return 0;
	/* double per attempt up to the ceiling; the shift stops early so it
	 * cannot overflow whatever `attempt` is */
	for (unsigned i = 1; i < attempt && cap < p->backoff_max_ms; i++)
		cap <<= 1;
	if (cap > p->backoff_max_ms)
		cap = p->backoff_max_ms;
	return (uint32_t)(hash_splitmix_next(rng) % (cap + 1));
}
