/* Power of two choices, weighted: draw two distinct usable members at random
 * with probability proportional to weight, send the connection to the one
 * with fewer active connections per unit of weight.
 *
 * Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing"
 * (IEEE TPDS 12(10), 2001): two random choices instead of one cut the
 * maximum load exponentially, while each worker decides alone from possibly
 * stale counts, which is exactly the position of N shared-nothing workers.
 * (nginx's "random two least_conn" and Envoy's LEAST_REQUEST do the same.)
 * Unlike least_conn, workers reading the same counts do not all herd onto
 * the same momentarily idle member.
 *
 * Draws use the tier's cumulative weights (binary search, O(log n)); a drawn
 * member that is down or excluded is redrawn a few times, then one linear
 * pass draws among the usable members only, so a mostly-down pool costs
 * O(n) but never fails while something is usable.
 */
#include "balance.h"

#include "hash.h"

/* Rejection draws before falling back to the exact linear draw. */
#define R2_DRAW_TRIES 4

/* Uniform in [0, bound) without modulo bias worth mentioning: Lemire's
 * multiply-shift ("Fast Random Integer Generation in an Interval", 2019). */
static uint64_t uniform(struct balance_worker *w, uint64_t bound)
{
	return (uint64_t)(((unsigned __int128)hash_splitmix_next(&w->rng) * bound) >> 64);
}

/* A member drawn by weight from the whole tier: the first k whose
 * cumulative weight exceeds r. */
static uint32_t draw_any(struct balance_worker *w, const struct balance_tier *t)
{
	uint64_t r = uniform(w, t->total_weight);
	uint32_t lo = 0, hi = t->count - 1;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (t->cum_weight[mid] > r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return t->idx[lo];
}

/* The exact draw among usable members other than `avoid`: one pass. */
static int draw_linear(struct balance_worker *w, const struct balance_tier *t, const bool *excluded,
		       int avoid)
{
	const struct balance *b = w->b;
	uint64_t total = 0, r;

	for (uint32_t k = 0; k < t->count; k++)
		if ((int)t->idx[k] != avoid && balance_usable(b, t->idx[k], excluded))
			total += b->members[t->idx[k]].weight;
	if (total == 0)
		return BALANCE_NONE;
	r = uniform(w, total);
	for (uint32_t k = 0; k < t->count; k++) {
		uint32_t i = t->idx[k];

		if ((int)i == avoid || !balance_usable(b, i, excluded))
			continue;
		if (r < b->members[i].weight)
			return (int)i;
		r -= b->members[i].weight;
	}
	return BALANCE_NONE; /* availability changed under us: treat as none */
}

static int draw(struct balance_worker *w, const struct balance_tier *t, const bool *excluded,
		int avoid)
{
	for (int tries = 0; tries < R2_DRAW_TRIES; tries++) {
		uint32_t i = draw_any(w, t);

		if ((int)i != avoid && balance_usable(w->b, i, excluded))
			return (int)i;
	}
	return draw_linear(w, t, excluded, avoid);
}

static int r2_pick_tier(struct balance_worker *w, const struct balance_tier *t,
			const bool *excluded)
{
	const struct balance *b = w->b;
	int first, second;

	if (t->count == 0)
		return BALANCE_NONE;
	first = draw(w, t, excluded, BALANCE_NONE);
	if (first == BALANCE_NONE)
		return BALANCE_NONE;
	second = draw(w, t, excluded, first);
	if (second == BALANCE_NONE)
		return first; /* the only usable member */

	uint64_t a1 = balance_live_active(b->members[first].live);
	uint64_t a2 = balance_live_active(b->members[second].live);
	/* a2 / w2 < a1 / w1, cross-multiplied; ties keep the first draw, which
	 * is itself weighted, so an idle pool follows the weights exactly. */
	if (a2 * b->members[first].weight < a1 * b->members[second].weight)
		return second;
	return first;
}

static int r2_pick(struct balance_worker *w, uint64_t key_hash, const bool *excluded)
{
	return balance_pick_tiers(w, excluded, r2_pick_tier);
}

const struct balance_ops balance_random2_ops = {
    .pick = r2_pick,
};
