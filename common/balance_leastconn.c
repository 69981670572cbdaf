/* Least connections, weighted: the usable member with the fewest active
 * connections per unit of weight wins.
 *
 * As in nginx's ngx_http_upstream_least_conn_module
 * (ngx_http_upstream_get_least_conn_peer()), members tied on that ratio are
 * separated by smooth weighted round robin (see balance_rr.c), so a quiet
 * pool, where every count is 0, still spreads new connections over all
 * members in proportion to their weights instead of piling them onto the
 * first one.
 *
 * Active counts are maintained by the daemon (balance_conn_begin/end) and
 * shared by all workers; they are read once per pick with relaxed loads into
 * the worker's snapshot so both passes below see the same numbers.
 */
#include "balance.h"

#include <stdatomic.h>

/* Marks a member that was not usable when the snapshot was taken. */
#define LC_SKIP UINT64_MAX

/* a_i / w_i < a_j / w_j without division: both sides fit in 64 bits. */
static inline bool lighter(uint64_t a_i, uint32_t w_i, uint64_t a_j, uint32_t w_j)
{
	return a_i * w_j < a_j * w_i;
}

static inline bool same_load(uint64_t a_i, uint32_t w_i, uint64_t a_j, uint32_t w_j)
{
	return a_i * w_j == a_j * w_i;
}

/* Smooth WRR among the members whose load equals best's. */
static int break_tie(struct balance_worker *w, const struct balance_tier *t, uint32_t best)
{
	const struct balance *b = w->b;
	uint64_t a_best = w->snap[best];
	uint32_t w_best = b->members[best].weight;
	int64_t total = 0;
	int chosen = BALANCE_NONE;

	for (uint32_t k = 0; k < t->count; k++) {
		uint32_t i = t->idx[k];
		uint32_t weight = b->members[i].weight;

		if (w->snap[i] == LC_SKIP || !same_load(w->snap[i], weight, a_best, w_best))
			continue;
		w->current[i] += weight;
		total += weight;
		if (chosen == BALANCE_NONE || w->current[i] > w->current[chosen])
			chosen = (int)i;
	}
	w->current[chosen] -= total;
	return chosen;
}

static int lc_pick_tier(struct balance_worker *w, const struct balance_tier *t,
			const bool *excluded)
{
	const struct balance *b = w->b;
	int best = BALANCE_NONE;
	unsigned ties = 0;

	for (uint32_t k = 0; k < t->count; k++) {
		uint32_t i = t->idx[k];
		uint32_t weight = b->members[i].weight;

		if (!balance_usable(b, i, excluded)) {
			w->snap[i] = LC_SKIP;
			continue;
		}
		w->snap[i] = balance_live_active(b->members[i].live);
		if (best == BALANCE_NONE ||
		    lighter(w->snap[i], weight, w->snap[best], b->members[best].weight)) {
			best = (int)i;
			ties = 1;
		} else if (same_load(w->snap[i], weight, w->snap[best], b->members[best].weight)) {
			ties++;
		}
	}
	if (ties <= 1)
		return best;
	return break_tie(w, t, (uint32_t)best);
}

static int lc_pick(struct balance_worker *w, uint64_t key_hash, const bool *excluded)
{
	return balance_pick_tiers(w, excluded, lc_pick_tier);
}

const struct balance_ops balance_lc_ops = {
    .pick = lc_pick,
};
