/* Open connections per client address at strata-l7's listeners, exact
 * across every worker thread.
 *
 * The count is kept per (scope, address): the engine passes a stable
 * listener id as the scope, so each listener has its own limit, and the
 * client address the PROXY header gave (the limit applies once intake has
 * decoded it; a connection from the L4 tier is not the client). Addresses
 * are masked to a prefix first (l7_rl_addr_key): /32 and /128 count single
 * hosts, /64 counts an IPv6 subscriber.
 *
 * Table. S shards, each a mutex-guarded hash of chains over a node pool
 * allocated at creation: no allocation after l7_cl_new(), memory fixed by
 * `capacity`. An address holds a node only while it has a connection open,
 * so `capacity` = the process's max_conns can never run out except when the
 * hash crowds one shard past 1.5x its share; that connection is then let in
 * uncounted (l7_cl_acquire's "untracked" result, counted in the stats):
 * refusing it would let a flood of distinct addresses lock out everyone
 * else, and max_conns still bounds the process.
 *
 * Keys are compared whole (no hash-only match), and the hash is seeded per
 * process, so no client can share another's count.
 */
#ifndef STRATA_L7_CONNLIMIT_H
#define STRATA_L7_CONNLIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

#define L7_CL_SHARDS	   64
#define L7_CL_MIN_CAPACITY 64
#define L7_CL_MAX_CAPACITY (1u << 22) /* addresses with a connection open */
#define L7_CL_UNTRACKED	   0	      /* ticket of a connection not counted */

struct l7_connlimit;

struct l7_cl_stats {
	uint32_t capacity;  /* nodes in all shards */
	uint32_t addresses; /* addresses with a connection open */
	uint64_t conns;	    /* connections counted */
	uint64_t refused;   /* acquires over the limit */
	uint64_t untracked; /* acquires let in uncounted (a full shard) */
};

/* A table for up to `capacity` addresses with connections open at once
 * (L7_CL_MIN_CAPACITY..L7_CL_MAX_CAPACITY; pass the process's max_conns),
 * hashes keyed by `seed`. NULL on bad size or ENOMEM. One per process,
 * owned by the engine, outliving every snapshot. */
struct l7_connlimit *l7_cl_new(uint32_t capacity, uint64_t seed);
void l7_cl_free(struct l7_connlimit *cl); /* NULL-safe; no acquire may run */

/* Counts a new connection of `client` in `scope` unless it already has
 * `max` open there. Returns 0 and sets *ticket (hand it to l7_cl_release
 * when the connection closes; L7_CL_UNTRACKED when it was not counted:
 * `max` 0 means no limit, or the shard is full), or -EBUSY when the client
 * is at its limit (refuse the connection; nothing to release). Thread-safe. */
int l7_cl_acquire(struct l7_connlimit *cl, uint32_t scope, const struct addr *client,
		  unsigned v4_prefix, unsigned v6_prefix, uint32_t max, uint32_t *ticket);

/* Uncounts the connection of `ticket`; a no-op for L7_CL_UNTRACKED. Call
 * exactly once per ticket. Thread-safe. */
void l7_cl_release(struct l7_connlimit *cl, uint32_t ticket);

/* Connections `client` has open in `scope` (admin and tests). */
uint32_t l7_cl_count(struct l7_connlimit *cl, uint32_t scope, const struct addr *client,
		     unsigned v4_prefix, unsigned v6_prefix);

/* Sums the shards (each under its lock): admin thread, not the hot path. */
void l7_cl_stats(struct l7_connlimit *cl, struct l7_cl_stats *out);

#endif
