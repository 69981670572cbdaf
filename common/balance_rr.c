/* Smooth weighted round robin, per worker thread.
 *
 * nginx's algorithm (ngx_http_upstream_round_robin.c,
 * ngx_http_upstream_get_peer(); described in nginx commit 52327e0627f4,
 * "Upstream: smooth weighted round-robin balancing"): on each pick every
 * usable member adds its weight to its current weight, the member with the
 * largest current weight wins, and the winner gives back the total. Weights
 * 5, 1, 1 give a a b a c a a: the heavy member is spread through the cycle
 * instead of being picked five times in a row, and over any cycle of
 * sum(weights) picks each member is chosen exactly `weight` times.
 *
 * Each worker keeps its own current weights (struct balance_worker), so the
 * hot path shares nothing; with N workers each worker's sequence is smooth
 * and the sum over workers still honours the weights exactly per cycle.
 * Members that are down or excluded neither gain nor lose current weight, as
 * in nginx, so a member coming back resumes where it was.
 */
#include "balance.h"

static int rr_pick_tier(struct balance_worker *w, const struct balance_tier *t,
			const bool *excluded)
{
	const struct balance *b = w->b;
	int64_t total = 0;
	int best = BALANCE_NONE;

	for (uint32_t k = 0; k < t->count; k++) {
		uint32_t i = t->idx[k];
		int64_t weight = b->members[i].weight;

		if (!balance_usable(b, i, excluded))
			continue;
		w->current[i] += weight;
		total += weight;
		/* Strictly greater: the first of equal members wins, as in nginx,
		 * which makes the sequence for 5, 1, 1 exactly a a b a c a a. */
		if (best == BALANCE_NONE || w->current[i] > w->current[best])
			best = (int)i;
	}
	if (best != BALANCE_NONE)
		w->current[best] -= total;
	return best;
}

static int rr_pick(struct balance_worker *w, uint64_t key_hash, const bool *excluded)
{
	return balance_pick_tiers(w, excluded, rr_pick_tier);
}

const struct balance_ops balance_rr_ops = {
    .pick = rr_pick,
};
