/* Weighted Maglev table: build (the health thread, on every change) and
 * lookup (the workers, per connection). See maglev.h for the contract.
 *
 * Population follows Listing 1 of Eisenbud et al. (NSDI 2016, §3.4): members
 * take turns claiming the next free slot of their own permutation until the
 * table is full. Weights use the credit scheme of Katran's MaglevHashV2 and
 * Envoy's weighted MaglevTable: each round a member earns `weight` credits and
 * claims one slot whenever it holds at least `max_weight`, so a member of
 * weight w claims w/max_weight slots per round. Integer credits keep the
 * result bit-identical on every host (no floating point in the table).
 */
#include "maglev.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define MAGLEV_EMPTY 0xFFFFu

/* §3.4 derives offset and skip from two different hash functions of the
 * name. Two fixed xxHash64 seeds give two independent functions; they are
 * part of the table format: changing them remaps every key on every node. */
#define MAGLEV_SEED_OFFSET 0x4D41474C45564F46ULL /* "MAGLEVOF" */
#define MAGLEV_SEED_SKIP   0x4D41474C45565350ULL /* "MAGLEVSP" */

#define BITMAP_WORDS(n) (((n) + 63) / 64)

/* Build-time state of one member in the table. */
struct fill_entry {
	const char *name;
	uint32_t index; /* position in the caller's array */
	uint32_t weight;
	uint32_t pos;	 /* next slot of its permutation: offset + j * skip mod M */
	uint32_t skip;	 /* in [1, M-1], coprime with the prime M */
	uint32_t owned;	 /* slots claimed so far */
	uint64_t credit; /* weighted turns earned and not yet spent */
};

static bool is_prime(uint32_t n)
{
	if (n < 2)
		return false;
	for (uint32_t d = 2; d <= n / d; d++)
		if (n % d == 0)
			return false;
	return true;
}

uint32_t maglev_size_for(size_t n_members)
{
	static const uint32_t sizes[] = MAGLEV_SIZES;

	if (n_members > MAGLEV_MAX_MEMBERS)
		return 0;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		if (sizes[i] > 100 * (uint64_t)n_members)
			return sizes[i];
	return 0;
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_entry_name(const void *a, const void *b)
{
	return strcmp(((const struct fill_entry *)a)->name, ((const struct fill_entry *)b)->name);
}

/* Names are identities: a NULL or repeated one makes the mapping ambiguous,
 * so it is a config error even for members that are currently down. */
static int check_names(const struct maglev_member *members, size_t n)
{
	const char **names;
	int rc = 0;

	if (n == 0)
		return 0;
	names = malloc(n * sizeof(*names));
	if (!names)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!members[i].name) {
			rc = -EINVAL;
			goto out_free;
		}
		names[i] = members[i].name;
	}
	qsort(names, n, sizeof(*names), cmp_str_ptr);
	for (size_t i = 1; i < n; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			rc = -EINVAL;
out_free:
	free(names);
	return rc;
}

/* Fills `e` with the members that get slots, in name order, and returns how
 * many there are. Name order makes the table independent of config order. */
static size_t collect_entries(const struct maglev_member *members, size_t n, uint32_t size,
			      struct fill_entry *e, uint32_t *max_weight)
{
	size_t k = 0;

	*max_weight = 0;
	for (size_t i = 0; i < n; i++) {
		const struct maglev_member *m = &members[i];
		size_t len;

		if (!m->available || m->weight == 0)
			continue;
		len = strlen(m->name);
		e[k] = (struct fill_entry){
		    .name = m->name,
		    .index = (uint32_t)i,
		    .weight = m->weight,
		    .pos = (uint32_t)(hash_bytes_seed(m->name, len, MAGLEV_SEED_OFFSET) % size),
		    .skip =
			(uint32_t)(hash_bytes_seed(m->name, len, MAGLEV_SEED_SKIP) % (size - 1)) +
			1,
		};
		if (m->weight > *max_weight)
			*max_weight = m->weight;
		k++;
	}
	qsort(e, k, sizeof(*e), cmp_entry_name);
	return k;
}

static inline void advance(struct fill_entry *e, uint32_t size)
{
	e->pos += e->skip;
	if (e->pos >= size)
		e->pos -= size;
}

/* Listing 1 with weighted turns. Terminates: a member of maximal weight
 * claims a slot every round, and each member's permutation visits every slot
 * (skip is coprime with the prime size), so a free slot is always found. */
static void fill_slots(struct fill_entry *e, size_t k, uint32_t max_weight, uint16_t *slots,
		       uint32_t size)
{
	uint32_t filled = 0;

	memset(slots, 0xFF, (size_t)size * sizeof(*slots));
	for (;;) {
		for (size_t i = 0; i < k; i++) {
			e[i].credit += e[i].weight;
			if (e[i].credit < max_weight)
				continue;
			e[i].credit -= max_weight;
			while (slots[e[i].pos] != MAGLEV_EMPTY)
				advance(&e[i], size);
			slots[e[i].pos] = (uint16_t)e[i].index;
			advance(&e[i], size);
			e[i].owned++;
			if (++filled == size)
				return;
		}
	}
}

int maglev_build_size(const struct maglev_member *members, size_t n, uint32_t size,
		      struct maglev *out)
{
	struct fill_entry *entries = NULL;
	uint32_t max_weight;
	size_t k;
	int rc;

	memset(out, 0, sizeof(*out));
	if (n > MAGLEV_MAX_MEMBERS)
		return -E2BIG;
	if (size > MAGLEV_MAX_SIZE || size <= n || !is_prime(size))
		return -EINVAL;
	rc = check_names(members, n);
	if (rc)
		return rc;
	out->size = size;
	out->n_members = (uint32_t)n;
	if (n == 0)
		return 0;
	entries = calloc(n, sizeof(*entries));
	if (!entries)
		goto out_nomem;
	k = collect_entries(members, n, size, entries, &max_weight);
	if (k == 0)
		goto out_free_entries; /* nobody eligible: a table that answers NONE */
	out->slots = malloc((size_t)size * sizeof(*out->slots));
	if (!out->slots)
		goto out_nomem;
	fill_slots(entries, k, max_weight, out->slots, size);
	for (size_t i = 0; i < k; i++)
		out->n_present += entries[i].owned > 0;
out_free_entries:
	free(entries);
	return 0;
out_nomem:
	free(entries);
	memset(out, 0, sizeof(*out));
	return -ENOMEM;
}

int maglev_build(const struct maglev_member *members, size_t n, struct maglev *out)
{
	uint32_t size = maglev_size_for(n);

	if (size == 0) {
		memset(out, 0, sizeof(*out));
		return -E2BIG;
	}
	return maglev_build_size(members, n, size, out);
}

void maglev_free(struct maglev *m)
{
	if (!m)
		return;
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

int maglev_lookup(const struct maglev *m, uint64_t key_hash)
{
	if (!m->slots)
		return MAGLEV_NONE;
	return m->slots[key_hash % m->size];
}

int maglev_lookup_accept(const struct maglev *m, uint64_t key_hash, maglev_accept_fn accept,
			 void *ctx)
{
	uint64_t asked_set[BITMAP_WORDS(MAGLEV_MAX_MEMBERS)];
	uint32_t slot, idx, last, asked = 1;

	if (!m->slots)
		return MAGLEV_NONE;
	slot = (uint32_t)(key_hash % m->size);
	idx = m->slots[slot];
	if (accept(ctx, idx))
		return (int)idx;

	/* Slow path: the owner is excluded or went down since the build. */
	memset(asked_set, 0, BITMAP_WORDS(m->n_members) * sizeof(asked_set[0]));
	asked_set[idx / 64] |= 1ULL << (idx % 64);
	last = idx;
	for (uint32_t step = 1; step < m->size && asked < m->n_present; step++) {
		if (++slot == m->size)
			slot = 0;
		idx = m->slots[slot];
		if (idx == last || (asked_set[idx / 64] & (1ULL << (idx % 64))))
			continue;
		last = idx;
		asked_set[idx / 64] |= 1ULL << (idx % 64);
		asked++;
		if (accept(ctx, idx))
			return (int)idx;
	}
	return MAGLEV_NONE;
}

uint32_t maglev_slot_count(const struct maglev *m, uint32_t index)
{
	uint32_t count = 0;

	if (!m->slots)
		return 0;
	for (uint32_t s = 0; s < m->size; s++)
		count += m->slots[s] == index;
	return count;
}
