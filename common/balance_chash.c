/* Consistent hashing over a Maglev table (maglev.h), keyed by a client
 * address, a header or a cookie: the same key reaches the same member on
 * every worker and on every node with the same config.
 *
 * The table covers one tier: the available primaries, or the available
 * backups when no primary is up. balance_refresh() (the health thread, an
 * admin drain) rebuilds it and publishes it with one atomic exchange; a new
 * table differs from the old one only where keys must move (maglev.h), so a
 * member going down moves its own keys and about 1 % of the others.
 *
 * Between a health change and the rebuild, or for a retry, the owner may be
 * unusable: the pick then walks the table to the next distinct usable member
 * (maglev_lookup_accept), deterministic so two L4 nodes still agree. If no
 * member in the table is usable, rendezvous hashing over the usable members
 * of the tiers decides, also deterministic.
 *
 * Reclamation. Workers read the table with no lock, so an old table may be
 * freed only when no worker is still reading it. Each worker publishes the
 * table it reads in a hazard pointer (Michael, "Hazard Pointers: Safe Memory
 * Reclamation for Lock-Free Objects", IEEE TPDS 15(6), 2004); the rebuilder
 * frees retired tables that no hazard names. A worker pins at most one
 * table, so at most n_workers + 1 tables are ever retired at once.
 */
#include "balance.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "hash.h"

struct chash_table {
	struct maglev m;
};

struct chash {
	_Atomic(struct chash_table *) current;
	pthread_mutex_t lock;	      /* serialises rebuilds and reclamation */
	struct maglev_member *input;  /* build input, reused under lock */
	struct chash_table **retired; /* capacity n_workers + 1 */
	unsigned n_retired;
};

static void table_free(struct chash_table *t)
{
	if (!t)
		return;
	maglev_free(&t->m);
	free(t);
}

/* The tier the table covers: primaries if any is up, else backups. */
static bool tier_has_available(const struct balance *b, enum balance_tier_id tier)
{
	const struct balance_tier *t = &b->tiers[tier];

	for (uint32_t k = 0; k < t->count; k++)
		if (balance_live_available(b->members[t->idx[k]].live))
			return true;
	return false;
}

static int table_build(struct balance *b, struct chash *c, struct chash_table **out)
{
	bool backups = !tier_has_available(b, BALANCE_TIER_PRIMARY);
	struct chash_table *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < b->n; i++) {
		const struct balance_entry *e = &b->members[i];

		c->input[i] = (struct maglev_member){
		    .name = e->name,
		    .weight = e->weight,
		    .available = e->backup == backups && balance_live_available(e->live),
		};
	}
	/* The size depends on the configured count only, never on how many
	 * are up: a resize would remap nearly every key. */
	if (b->table_size)
		rc = maglev_build_size(c->input, b->n, b->table_size, &t->m);
	else
		rc = maglev_build(c->input, b->n, &t->m);
	if (rc) {
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

static bool is_pinned(const struct balance *b, const struct chash_table *t)
{
	for (unsigned i = 0; i < b->n_workers; i++)
		if (atomic_load_explicit(&b->workers[i].hazard, memory_order_seq_cst) == t)
			return true;
	return false;
}

/* Frees every retired table no worker is reading. Called under c->lock. */
static void reclaim(struct balance *b, struct chash *c)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < c->n_retired; i++) {
		if (is_pinned(b, c->retired[i]))
			c->retired[kept++] = c->retired[i];
		else
			table_free(c->retired[i]);
	}
	c->n_retired = kept;
}

static int chash_refresh(struct balance *b)
{
	struct chash *c = b->algo_state;
	struct chash_table *fresh, *old;
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = table_build(b, c, &fresh);
	if (rc == 0) {
		/* seq_cst pairs with the workers' hazard store + re-check. */
		old = atomic_exchange_explicit(&c->current, fresh, memory_order_seq_cst);
		c->retired[c->n_retired++] = old;
		reclaim(b, c);
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

static void chash_destroy(struct balance *b)
{
	struct chash *c = b->algo_state;

	if (!c)
		return;
	table_free(atomic_load_explicit(&c->current, memory_order_relaxed));
	for (unsigned i = 0; i < c->n_retired; i++)
		table_free(c->retired[i]);
	free(c->retired);
	free(c->input);
	pthread_mutex_destroy(&c->lock);
	free(c);
	b->algo_state = NULL;
}

static int chash_init(struct balance *b)
{
	struct chash *c = calloc(1, sizeof(*c));
	struct chash_table *first;
	int rc;

	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	atomic_init(&c->current, NULL);
	b->algo_state = c;
	c->input = calloc(b->n ? b->n : 1, sizeof(*c->input));
	c->retired = calloc(b->n_workers + 1, sizeof(*c->retired));
	if (!c->input || !c->retired) {
		rc = -ENOMEM;
		goto out_destroy;
	}
	rc = table_build(b, c, &first);
	if (rc)
		goto out_destroy;
	atomic_store_explicit(&c->current, first, memory_order_release);
	return 0;
out_destroy:
	chash_destroy(b);
	return rc;
}

/* Publishes the table this worker is about to read, then checks that it is
 * still current: after that, the rebuilder sees the hazard and keeps it. */
static const struct chash_table *table_acquire(struct balance_worker *w, struct chash *c)
{
	struct chash_table *t = atomic_load_explicit(&c->current, memory_order_acquire);

	for (;;) {
		atomic_store_explicit(&w->hazard, t, memory_order_seq_cst);
		struct chash_table *now = atomic_load_explicit(&c->current, memory_order_seq_cst);
		if (now == t)
			return t;
		t = now;
	}
}

static void table_release(struct balance_worker *w)
{
	atomic_store_explicit(&w->hazard, NULL, memory_order_release);
}

struct accept_ctx {
	const struct balance *b;
	const bool *excluded;
};

static bool accept_usable(void *ctx, uint32_t index)
{
	const struct accept_ctx *a = ctx;

	return balance_usable(a->b, index, a->excluded);
}

/* Rendezvous (highest random weight) hashing, Thaler and Ravishankar, 1998:
 * the usable member with the highest score for this key, primaries first.
 * Reached only when nothing in the table is usable, so O(n) is fine. */
static int rendezvous(const struct balance *b, uint64_t key_hash, const bool *excluded)
{
	for (int tier = 0; tier < BALANCE_TIER__COUNT; tier++) {
		const struct balance_tier *t = &b->tiers[tier];
		uint64_t best_score = 0;
		int best = BALANCE_NONE;

		for (uint32_t k = 0; k < t->count; k++) {
			uint32_t i = t->idx[k];
			uint64_t score = hash_mix64(key_hash ^ b->members[i].name_hash);

			if (balance_usable(b, i, excluded) &&
			    (best == BALANCE_NONE || score > best_score)) {
				best = (int)i;
				best_score = score;
			}
		}
		if (best != BALANCE_NONE)
			return best;
	}
	return BALANCE_NONE;
}

static int chash_pick(struct balance_worker *w, uint64_t key_hash, const bool *excluded)
{
	const struct balance *b = w->b;
	struct accept_ctx ctx = {.b = b, .excluded = excluded};
	const struct chash_table *t = table_acquire(w, b->algo_state);
	int r = maglev_lookup_accept(&t->m, key_hash, accept_usable, &ctx);

	table_release(w);
	if (r != MAGLEV_NONE)
		return r;
	return rendezvous(b, key_hash, excluded);
}

const struct balance_ops balance_chash_ops = {
    .init = chash_init,
    .destroy = chash_destroy,
    .pick = chash_pick,
    .refresh = chash_refresh,
};
