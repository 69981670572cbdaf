/* Per-address connection counts in mutex-guarded shards over preallocated
 * node pools (connlimit.h). The table belongs to its creator; nodes belong
 * to their shard and move between its free list and its chains. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#include "connlimit.h"
#include "ratelimit.h"

#define CL_NIL	       UINT32_MAX
#define CL_NODE_BITS   24 /* a ticket is (shard << 24 | node) + 1 */
#define CL_SHARD_SLACK 16 /* nodes above a shard's 1.5x share, for small tables */

_Static_assert(L7_CL_SHARDS <= 256, "the shard fits a ticket's top byte");

struct cl_node {
	uint32_t next; /* chain or free list */
	uint32_t count;
	uint32_t scope;
	uint32_t bucket; /* its chain, for unlinking */
	uint8_t len;
	uint8_t key[L7_RL_ADDR_KEY_MAX];
};

struct cl_shard {
	pthread_mutex_t lock;
	uint32_t *heads; /* n_buckets chain heads */
	uint32_t mask;	 /* n_buckets - 1 */
	struct cl_node *nodes;
	uint32_t cap, free_head, used;
	uint64_t conns, refused, untracked;
} __attribute__((aligned(64)));

struct l7_connlimit {
	uint64_t seed;
	uint32_t capacity;
	struct cl_shard shards[L7_CL_SHARDS];
};

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

static int shard_init(struct cl_shard *s, uint32_t cap)
{
	pthread_mutex_init(&s->lock, NULL);
	s->cap = cap;
	s->mask = pow2_at_least(cap) - 1;
	s->heads = malloc((size_t)(s->mask + 1) * sizeof(*s->heads));
	s->nodes = calloc(cap, sizeof(*s->nodes));
	if (!s->heads || !s->nodes)
		return -ENOMEM;
	memset(s->heads, 0xff, (size_t)(s->mask + 1) * sizeof(*s->heads));
	for (uint32_t i = 0; i < cap; i++)
		s->nodes[i].next = i + 1 < cap ? i + 1 : CL_NIL;
	s->free_head = 0;
	return 0;
}

struct l7_connlimit *l7_cl_new(uint32_t capacity, uint64_t seed)
{
	struct l7_connlimit *cl;
	uint32_t per;

	if (capacity < L7_CL_MIN_CAPACITY || capacity > L7_CL_MAX_CAPACITY)
		return NULL;
	cl = aligned_alloc(64, sizeof(*cl));
	if (!cl)
		return NULL;
	memset(cl, 0, sizeof(*cl));
	cl->seed = seed;
	/* a shard may hold 1.5x its share before connections go uncounted */
	per = (uint32_t)(((uint64_t)capacity * 3 / 2 + L7_CL_SHARDS - 1) / L7_CL_SHARDS) +
	      CL_SHARD_SLACK;
	for (unsigned i = 0; i < L7_CL_SHARDS; i++) {
		if (shard_init(&cl->shards[i], per)) {
			l7_cl_free(cl);
			return NULL;
		}
		cl->capacity += per;
	}
	return cl;
}

void l7_cl_free(struct l7_connlimit *cl)
{
	if (!cl)
		return;
	for (unsigned i = 0; i < L7_CL_SHARDS; i++) {
		free(cl->shards[i].heads);
		free(cl->shards[i].nodes);
		pthread_mutex_destroy(&cl->shards[i].lock);
	}
	free(cl);
}

struct cl_key {
	uint32_t scope;
	uint8_t len;
	uint8_t b[L7_RL_ADDR_KEY_MAX];
	uint64_t hash;
};

static void make_key(const struct l7_connlimit *cl, uint32_t scope, const struct addr *client,
		     unsigned v4_prefix, unsigned v6_prefix, struct cl_key *k)
{
	k->scope = scope;
	k->len = (uint8_t)l7_rl_addr_key(client, v4_prefix, v6_prefix, k->b);
	k->hash = hash_bytes_seed(k->b, k->len, cl->seed ^ hash_mix64(scope));
}

static struct cl_shard *shard_of(struct l7_connlimit *cl, const struct cl_key *k)
{
	return &cl->shards[k->hash >> 58]; /* the top 6 bits: L7_CL_SHARDS */
}

_Static_assert(L7_CL_SHARDS == 64, "shard_of takes the top 6 bits");

static uint32_t *bucket_of(struct cl_shard *s, const struct cl_key *k)
{
	return &s->heads[k->hash & s->mask];
}

/* The node of `k` in `s` (lock held), or CL_NIL. */
static uint32_t find(struct cl_shard *s, const struct cl_key *k)
{
	for (uint32_t i = *bucket_of(s, k); i != CL_NIL; i = s->nodes[i].next) {
		const struct cl_node *n = &s->nodes[i];

		if (n->scope == k->scope && n->len == k->len && !memcmp(n->key, k->b, k->len))
			return i;
	}
	return CL_NIL;
}

/* Takes a free node for `k` and links it (lock held); CL_NIL when none. */
static uint32_t insert(struct cl_shard *s, const struct cl_key *k)
{
	uint32_t i = s->free_head, *head = bucket_of(s, k);
	struct cl_node *n;

	if (i == CL_NIL)
		return CL_NIL;
	n = &s->nodes[i];
	s->free_head = n->next;
	n->scope = k->scope;
	n->bucket = (uint32_t)(head - s->heads);
	n->len = k->len;
	memcpy(n->key, k->b, k->len);
	n->count = 0;
	n->next = *head;
	*head = i;
	s->used++;
	return i;
}

static uint32_t ticket_of(const struct l7_connlimit *cl, const struct cl_shard *s, uint32_t node)
{
	return ((uint32_t)(s - cl->shards) << CL_NODE_BITS | node) + 1;
}

int l7_cl_acquire(struct l7_connlimit *cl, uint32_t scope, const struct addr *client,
		  unsigned v4_prefix, unsigned v6_prefix, uint32_t max, uint32_t *ticket)
{
	struct cl_shard *s;
	struct cl_key k;
	uint32_t i;
	int rc = 0;

	*ticket = L7_CL_UNTRACKED;
	if (!max)
		return 0;
	make_key(cl, scope, client, v4_prefix, v6_prefix, &k);
	s = shard_of(cl, &k);
	pthread_mutex_lock(&s->lock);
	i = find(s, &k);
	if (i == CL_NIL)
		i = insert(s, &k);
	if (i == CL_NIL) {
		s->untracked++; /* connlimit.h: let in, uncounted */
	} else if (s->nodes[i].count >= max) {
		s->refused++;
		rc = -EBUSY;
		/* a node inserted just now has count 0 < max: nothing to undo */
	} else {
		s->nodes[i].count++;
		s->conns++;
		*ticket = ticket_of(cl, s, i);
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Unlinks node i from its chain and frees it (lock held). */
static void unlink_node(struct cl_shard *s, uint32_t i)
{
	uint32_t *p = &s->heads[s->nodes[i].bucket];

	while (*p != i)
		p = &s->nodes[*p].next;
	*p = s->nodes[i].next;
	s->nodes[i].next = s->free_head;
	s->free_head = i;
	s->used--;
}

void l7_cl_release(struct l7_connlimit *cl, uint32_t ticket)
{
	struct cl_shard *s;
	uint32_t i;

	if (ticket == L7_CL_UNTRACKED)
		return;
	ticket--;
	s = &cl->shards[ticket >> CL_NODE_BITS];
	i = ticket & ((1u << CL_NODE_BITS) - 1);
	pthread_mutex_lock(&s->lock);
	s->conns--;
	if (--s->nodes[i].count == 0)
		unlink_node(s, i);
	pthread_mutex_unlock(&s->lock);
}

uint32_t l7_cl_count(struct l7_connlimit *cl, uint32_t scope, const struct addr *client,
		     unsigned v4_prefix, unsigned v6_prefix)
{
	struct cl_shard *s;
	struct cl_key k;
	uint32_t i, n;

	make_key(cl, scope, client, v4_prefix, v6_prefix, &k);
	s = shard_of(cl, &k);
	pthread_mutex_lock(&s->lock);
	i = find(s, &k);
	n = i == CL_NIL ? 0 : s->nodes[i].count;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void l7_cl_stats(struct l7_connlimit *cl, struct l7_cl_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->capacity = cl->capacity;
	for (unsigned i = 0; i < L7_CL_SHARDS; i++) {
		struct cl_shard *s = &cl->shards[i];

		pthread_mutex_lock(&s->lock);
		out->addresses += s->used;
		out->conns += s->conns;
		out->refused += s->refused;
		out->untracked += s->untracked;
		pthread_mutex_unlock(&s->lock);
	}
}
