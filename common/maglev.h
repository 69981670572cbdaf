/* Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable
 * Software Network Load Balancer", NSDI 2016, §3.4), weighted.
 *
 * A table of M slots (M prime) maps a key hash to a member in O(1). Each
 * member's permutation of the slots comes from two hashes of its *name*, a
 * stable identity such as "127.0.0.1:8100", never from its position in the
 * config, so reordering the config or appending a member does not reshuffle
 * the keys of the others. Members are filled in name order, so the table
 * depends only on the set of (name, weight, available) triples.
 *
 * Ownership: maglev_build() allocates the slot array inside the caller's
 * `struct maglev`; maglev_free() releases it. A built table is immutable and
 * may be read by any number of threads at once.
 */
#ifndef STRATA_MAGLEV_H
#define STRATA_MAGLEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Table sizes, smallest first. §3.4: M must be prime and much larger than the
 * member count; M > 100 x members keeps the per-member share within about 1 %
 * of its ideal. maglev_size_for() picks the first entry with that margin. */
#define MAGLEV_SIZES                                                                               \
	{                                                                                          \
		65537u, 131071u, 262147u, 524309u, 1048573u                                        \
	}
#define MAGLEV_DEFAULT_SIZE 65537u
#define MAGLEV_MAX_SIZE	    1048573u
/* The largest member count that still has the 100x margin in MAGLEV_MAX_SIZE.
 * Slots hold uint16_t member indexes, which this also keeps in range. */
#define MAGLEV_MAX_MEMBERS 10485u
#define MAGLEV_NONE	   (-1)

struct maglev_member {
	const char *name; /* stable identity, NUL-terminated; hashed, not kept */
	uint32_t weight;  /* relative share of slots; 0 keeps it out of the table */
	bool available;	  /* false keeps it out of the table (down, drained) */
};

struct maglev {
	uint32_t size;	    /* M, prime; 0 when never built or freed */
	uint32_t n_members; /* length of the array it was built from */
	uint32_t n_present; /* members that own at least one slot */
	uint16_t *slots;    /* M member indexes; NULL when n_present == 0 */
};

/* Smallest size in MAGLEV_SIZES with size > 100 * n_members, or 0 when
 * n_members > MAGLEV_MAX_MEMBERS. Depends on the configured member count
 * only, not on how many are up, so health changes never resize the table
 * (a resize would move almost every key). */
uint32_t maglev_size_for(size_t n_members);

/* Builds the table over `members[0..n)` with maglev_size_for(n) slots.
 * Members with weight 0 or !available own no slot; indexes in the table are
 * positions in `members`. Returns 0, -EINVAL (a NULL or duplicate name),
 * -E2BIG (n > MAGLEV_MAX_MEMBERS) or -ENOMEM. On error `out` is zeroed. */
int maglev_build(const struct maglev_member *members, size_t n, struct maglev *out);

/* The same with an explicit table size: a prime > n and <= MAGLEV_MAX_SIZE,
 * else -EINVAL. Small sizes are for tests and for tiny pools that accept
 * coarser balance. */
int maglev_build_size(const struct maglev_member *members, size_t n, uint32_t size,
		      struct maglev *out);

/* Releases the slots and zeroes `m`; safe on a zeroed or freed table. */
void maglev_free(struct maglev *m);

/* The member index owning `key_hash`, or MAGLEV_NONE when no member is in the
 * table. O(1): one modulo and one load. */
int maglev_lookup(const struct maglev *m, uint64_t key_hash);

/* Decides whether the walk may stop at member `index`. */
typedef bool (*maglev_accept_fn)(void *ctx, uint32_t index);

/* Like maglev_lookup(), but when the owner is not accepted (excluded for a
 * retry, or gone down since the table was built) walks the following slots to
 * the next distinct member until one is accepted. Deterministic: the same
 * table and the same accepted set give the same answer on every node, and the
 * keys of a rejected member spread over the others roughly by their shares.
 * Returns MAGLEV_NONE when no member in the table is accepted; the walk stops
 * once every present member has been asked once. */
int maglev_lookup_accept(const struct maglev *m, uint64_t key_hash, maglev_accept_fn accept,
			 void *ctx);

/* Number of slots owned by member `index` (for stats and tests); O(M). */
uint32_t maglev_slot_count(const struct maglev *m, uint32_t index);

#endif
