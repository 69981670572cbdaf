/* The algorithm-independent half of balance.h: names, keys, the member
 * copy and its tiers, the worker states, and dispatch to the algorithm.
 * A balancer owns everything it allocates here; balance_free() releases it.
 */
#include "balance.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hash.h"

static const char *const algo_names[BALANCE__COUNT] = {
    [BALANCE_ROUND_ROBIN] = "round_robin",
    [BALANCE_LEAST_CONN] = "least_conn",
    [BALANCE_RANDOM2] = "random2",
    [BALANCE_MAGLEV] = "maglev",
};

static const struct balance_ops *const algo_ops[BALANCE__COUNT] = {
    [BALANCE_ROUND_ROBIN] = &balance_rr_ops,
    [BALANCE_LEAST_CONN] = &balance_lc_ops,
    [BALANCE_RANDOM2] = &balance_random2_ops,
    [BALANCE_MAGLEV] = &balance_chash_ops,
};

int balance_algo_parse(const char *name, enum balance_algo *out)
{
	for (int a = 0; a < BALANCE__COUNT; a++) {
		if (strcmp(name, algo_names[a]) == 0) {
			*out = (enum balance_algo)a;
			return 0;
		}
	}
	if (strcmp(name, "hash") == 0) { /* strata-l7 spells consistent hashing so */
		*out = BALANCE_MAGLEV;
		return 0;
	}
	return -EINVAL;
}

const char *balance_algo_name(enum balance_algo algo)
{
	return (unsigned)algo < BALANCE__COUNT ? algo_names[algo] : "?";
}

uint64_t balance_key_addr(const struct sockaddr *sa, bool with_port)
{
	uint8_t key[sizeof(struct in6_addr) + sizeof(in_port_t)];
	size_t len = 0;
	in_port_t port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		memcpy(key, &in->sin_addr, 4);
		len = 4;
		port = in->sin_port;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		/* ::ffff:a.b.c.d is the IPv4 client a.b.c.d seen by a v6 socket. */
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			memcpy(key, &in6->sin6_addr.s6_addr[12], 4);
			len = 4;
		} else {
			memcpy(key, &in6->sin6_addr, 16);
			len = 16;
		}
		port = in6->sin6_port;
	}
	if (with_port) { /* sin_port is already in network byte order */
		memcpy(key + len, &port, sizeof(port));
		len += sizeof(port);
	}
	return hash_bytes(key, len);
}

uint64_t balance_key_bytes(const void *data, size_t len)
{
	return hash_bytes(data, len);
}

void balance_live_init(struct balance_live *l, bool available)
{
	atomic_init(&l->active, 0);
	atomic_init(&l->available, available);
}

void balance_live_set_available(struct balance_live *l, bool available)
{
	if (l)
		atomic_store_explicit(&l->available, available, memory_order_relaxed);
}

bool balance_live_available(const struct balance_live *l)
{
	return !l || atomic_load_explicit(&l->available, memory_order_relaxed);
}

unsigned balance_live_active(const struct balance_live *l)
{
	return l ? atomic_load_explicit(&l->active, memory_order_relaxed) : 0;
}

void balance_conn_begin(struct balance_live *l)
{
	if (l)
		atomic_fetch_add_explicit(&l->active, 1, memory_order_relaxed);
}

void balance_conn_end(struct balance_live *l)
{
	if (l)
		atomic_fetch_sub_explicit(&l->active, 1, memory_order_relaxed);
}

bool balance_usable(const struct balance *b, uint32_t i, const bool *excluded)
{
	return !(excluded && excluded[i]) && balance_live_available(b->members[i].live);
}

int balance_pick_tiers(struct balance_worker *w, const bool *excluded, balance_tier_pick_fn fn)
{
	for (int t = 0; t < BALANCE_TIER__COUNT; t++) {
		int r = fn(w, &w->b->tiers[t], excluded);

		if (r != BALANCE_NONE)
			return r;
	}
	return BALANCE_NONE;
}

/* Copies the members (names included) and sorts them into the tiers. */
static int copy_members(struct balance *b, const struct balance_member *members, size_t n)
{
	b->members = calloc(n ? n : 1, sizeof(*b->members));
	if (!b->members)
		return -ENOMEM;
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		struct balance_entry *e = &b->members[i];

		if (!members[i].name)
			return -EINVAL;
		e->name = strdup(members[i].name);
		if (!e->name)
			return -ENOMEM;
		e->name_hash = hash_str(e->name);
		e->weight = members[i].weight;
		e->backup = members[i].backup;
		e->live = members[i].live;
	}
	for (int t = 0; t < BALANCE_TIER__COUNT; t++) {
		struct balance_tier *tier = &b->tiers[t];

		tier->idx = calloc(n ? n : 1, sizeof(*tier->idx));
		tier->cum_weight = calloc(n ? n : 1, sizeof(*tier->cum_weight));
		if (!tier->idx || !tier->cum_weight)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			const struct balance_entry *e = &b->members[i];

			if (e->weight == 0 || e->backup != (t == BALANCE_TIER_BACKUP))
				continue;
			tier->total_weight += e->weight;
			tier->cum_weight[tier->count] = tier->total_weight;
			tier->idx[tier->count++] = (uint32_t)i;
		}
	}
	return 0;
}

static int make_workers(struct balance *b, const struct balance_params *p)
{
	size_t bytes = p->workers * sizeof(struct balance_worker);

	b->workers = aligned_alloc(64, bytes);
	if (!b->workers)
		return -ENOMEM;
	memset(b->workers, 0, bytes);
	b->n_workers = p->workers;
	for (unsigned i = 0; i < p->workers; i++) {
		struct balance_worker *w = &b->workers[i];

		w->b = b;
		/* Distinct, reproducible streams per worker from one seed. */
		w->rng = hash_mix64(p->seed + 0x9E3779B97F4A7C15ULL * (i + 1));
		w->current = calloc(b->n ? b->n : 1, sizeof(*w->current));
		w->snap = calloc(b->n ? b->n : 1, sizeof(*w->snap));
		atomic_init(&w->hazard, NULL);
		if (!w->current || !w->snap)
			return -ENOMEM;
	}
	return 0;
}

int balance_create(const struct balance_params *p, const struct balance_member *members, size_t n,
		   struct balance **out)
{
	struct balance *b;
	int rc;

	*out = NULL;
	if ((unsigned)p->algo >= BALANCE__COUNT || p->workers == 0 ||
	    p->workers > BALANCE_MAX_WORKERS)
		return -EINVAL;
	if (n > BALANCE_MAX_MEMBERS)
		return -E2BIG;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->algo = p->algo;
	b->ops = algo_ops[p->algo];
	b->table_size = p->table_size;
	rc = copy_members(b, members, n);
	if (rc == 0)
		rc = make_workers(b, p);
	if (rc == 0 && b->ops->init)
		rc = b->ops->init(b);
	if (rc) {
		b->ops = NULL; /* init failed: it cleaned up after itself */
		balance_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

void balance_free(struct balance *b)
{
	if (!b)
		return;
	if (b->ops && b->ops->destroy)
		b->ops->destroy(b);
	for (unsigned i = 0; b->workers && i < b->n_workers; i++) {
		free(b->workers[i].current);
		free(b->workers[i].snap);
	}
	free(b->workers);
	for (int t = 0; t < BALANCE_TIER__COUNT; t++) {
		free(b->tiers[t].idx);
		free(b->tiers[t].cum_weight);
	}
	for (size_t i = 0; b->members && i < b->n; i++)
		free(b->members[i].name);
	free(b->members);
	free(b);
}

struct balance_worker *balance_worker(struct balance *b, unsigned i)
{
	return i < b->n_workers ? &b->workers[i] : NULL;
}

int balance_pick(struct balance_worker *w, uint64_t key_hash, const bool *excluded)
{
	return w->b->ops->pick(w, key_hash, excluded);
}

int balance_refresh(struct balance *b)
{
	return b->ops->refresh ? b->ops->refresh(b) : 0;
}

bool balance_uses_key(const struct balance *b)
{
	return b->algo == BALANCE_MAGLEV;
}

size_t balance_count(const struct balance *b)
{
	return b->n;
}

const char *balance_member_name(const struct balance *b, size_t i)
{
	return i < b->n ? b->members[i].name : NULL;
}
