/* Choosing a member (an L7 instance, a backend) for a new connection or
 * request: round_robin (smooth weighted), least_conn, random2 (power of two
 * choices) and maglev (consistent hash), behind one small interface in the
 * spirit of h2o's lib/common/balancer.
 *
 * Ownership and threads. A `struct balance` is built per config snapshot
 * (balance_create) and owns a copy of the member list, the algorithm's
 * immutable part, and one `struct balance_worker` per worker thread: the only
 * state a pick mutates. Worker thread i picks only through its own
 * balance_worker(b, i), so the hot path takes no lock and shares no written
 * cache line. Health and admin state stay in the daemon: each member points
 * at a daemon-owned `struct balance_live` that must outlive the balancer.
 * When the health thread (or an admin drain) changes `available`, it calls
 * balance_refresh(), which for maglev rebuilds the table off the hot path and
 * publishes it with one atomic pointer swap; the other algorithms read
 * `available` at each pick and need nothing.
 *
 * Backups: a member flagged backup is eligible only when no primary is
 * usable for this pick, where usable means available, weight > 0 and not in
 * the caller's exclusion set (nginx's rule: a request whose primaries have
 * all been tried moves on to the backups).
 */
#ifndef STRATA_BALANCE_H
#define STRATA_BALANCE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maglev.h"

struct sockaddr;
struct balance;
struct balance_worker;

enum balance_algo {
	BALANCE_ROUND_ROBIN, /* smooth weighted round robin (nginx) */
	BALANCE_LEAST_CONN,  /* fewest active / weight, ties by weighted RR */
	BALANCE_RANDOM2,     /* two weighted random draws, less loaded wins */
	BALANCE_MAGLEV,	     /* consistent hash of a key ("hash" in strata-l7) */
	BALANCE__COUNT
};

#define BALANCE_MAX_MEMBERS MAGLEV_MAX_MEMBERS
#define BALANCE_MAX_WORKERS 256
#define BALANCE_NONE	    (-1)

/* Daemon-owned run-time state of one member, shared by every worker and
 * every balancer built over that member. Written by the daemon, read by
 * picks with relaxed loads: a pick that sees a change one connection late is
 * harmless, and nothing else is published through these fields. */
struct balance_live {
	atomic_uint active;    /* connections or requests in flight to it */
	atomic_bool available; /* health up and admin enabled (not drained) */
};

/* One member as configured. Copied by balance_create(): `name` may be freed
 * afterwards; `live` may not (NULL means always available, no load). */
struct balance_member {
	const char *name; /* stable unique identity, e.g. "127.0.0.1:8100" */
	uint32_t weight;  /* relative share; 0 is never picked */
	bool backup;	  /* used only when no primary is usable */
	struct balance_live *live;
};

struct balance_params {
	enum balance_algo algo;
	unsigned workers;    /* worker states to create, 1..BALANCE_MAX_WORKERS */
	uint64_t seed;	     /* random2's generator; worker i derives its own */
	uint32_t table_size; /* maglev: a prime, or 0 for maglev_size_for(n) */
};

/* "round_robin", "least_conn", "random2", "maglev" (alias "hash").
 * Returns 0 or -EINVAL. */
int balance_algo_parse(const char *name, enum balance_algo *out);
const char *balance_algo_name(enum balance_algo algo);

/* Builds a balancer over `members[0..n)`; indexes returned by picks are
 * positions in this array. n may be 0 (every pick answers BALANCE_NONE).
 * Returns 0, -EINVAL (bad params, NULL or, for maglev, duplicate name),
 * -E2BIG (n > BALANCE_MAX_MEMBERS) or -ENOMEM. */
int balance_create(const struct balance_params *p, const struct balance_member *members, size_t n,
		   struct balance **out);

/* Frees the balancer and its worker states; safe on NULL. No pick may be
 * running (the snapshot's refcount guarantees it). */
void balance_free(struct balance *b);

/* Worker thread i's state, i < params.workers. Owned by the balancer. */
struct balance_worker *balance_worker(struct balance *b, unsigned i);

/* Chooses a member: its index, or BALANCE_NONE when nothing is usable.
 * `key_hash` is used by maglev only (see balance_key_*()). `excluded` is NULL
 * or an array of balance_count() flags: members already tried by this
 * connection or request. Only the thread owning `w` may call this. */
int balance_pick(struct balance_worker *w, uint64_t key_hash, const bool *excluded);

/* Call after changing any member's `available` (health thread, admin). For
 * maglev, rebuilds the table over the usable tier and publishes it
 * atomically; tables still in a worker's hands are freed later. Serialised
 * internally; never call it from a worker's hot path. Returns 0 or -ENOMEM
 * (the old table stays in use). */
int balance_refresh(struct balance *b);

/* True when picks depend on key_hash (maglev), so callers skip hashing. */
bool balance_uses_key(const struct balance *b);
size_t balance_count(const struct balance *b);
const char *balance_member_name(const struct balance *b, size_t i);

/* Stable key of a client address: the address bytes in network order
 * (IPv4-mapped IPv6 counts as IPv4, so dual-stack listeners agree), plus the
 * port when `with_port`. Identical on every node and every run. Other
 * families (AF_UNIX peers) have no address and all share one key. */
uint64_t balance_key_addr(const struct sockaddr *sa, bool with_port);

/* Stable key of arbitrary bytes: a header value, a cookie. */
uint64_t balance_key_bytes(const void *data, size_t len);

/* Daemon side of struct balance_live; all relaxed, all NULL-safe. */
void balance_live_init(struct balance_live *l, bool available);
void balance_live_set_available(struct balance_live *l, bool available);
bool balance_live_available(const struct balance_live *l);
unsigned balance_live_active(const struct balance_live *l);
void balance_conn_begin(struct balance_live *l); /* active++ when a connection starts */
void balance_conn_end(struct balance_live *l);	 /* active-- when it ends */

/* --- Internal layout, shared by balance.c and the balance_*.c algorithms --- */

struct balance_entry {
	char *name;
	uint64_t name_hash;
	uint32_t weight;
	bool backup;
	struct balance_live *live;
};

enum balance_tier_id { BALANCE_TIER_PRIMARY, BALANCE_TIER_BACKUP, BALANCE_TIER__COUNT };

/* The members of one tier with weight > 0, in config order. */
struct balance_tier {
	uint32_t count;
	uint32_t *idx;	      /* member indexes */
	uint64_t *cum_weight; /* cum_weight[k] = sum of weights of idx[0..k] */
	uint64_t total_weight;
};

/* Per worker thread; cache-line aligned so workers never share a line. */
struct balance_worker {
	struct balance *b;
	uint64_t rng;		/* SplitMix64 state (random2) */
	int64_t *current;	/* smooth WRR current weights, one per member */
	uint64_t *snap;		/* least_conn: loads read once per pick */
	_Atomic(void *) hazard; /* maglev: the table this worker is reading */
} __attribute__((aligned(64)));

struct balance_ops {
	int (*init)(struct balance *b);	    /* NULL: nothing to build */
	void (*destroy)(struct balance *b); /* NULL: nothing to free */
	int (*pick)(struct balance_worker *w, uint64_t key_hash, const bool *excluded);
	int (*refresh)(struct balance *b); /* NULL: reads live state per pick */
};

struct balance {
	enum balance_algo algo;
	const struct balance_ops *ops;
	size_t n;
	struct balance_entry *members;
	struct balance_tier tiers[BALANCE_TIER__COUNT];
	unsigned n_workers;
	struct balance_worker *workers;
	uint32_t table_size;
	void *algo_state; /* owned by ops->init / ops->destroy */
};

extern const struct balance_ops balance_rr_ops;
extern const struct balance_ops balance_lc_ops;
extern const struct balance_ops balance_random2_ops;
extern const struct balance_ops balance_chash_ops;

/* Member i may take this pick: available and not excluded. */
bool balance_usable(const struct balance *b, uint32_t i, const bool *excluded);

/* Picks within one tier, or BALANCE_NONE when none of its members is usable. */
typedef int (*balance_tier_pick_fn)(struct balance_worker *w, const struct balance_tier *t,
				    const bool *excluded);

/* Runs `fn` on the primaries, then on the backups if no primary was usable. */
int balance_pick_tiers(struct balance_worker *w, const bool *excluded, balance_tier_pick_fn fn);

#endif
