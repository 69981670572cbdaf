/* Which servers an exchange may still pick: the servers it tried and those
 * whose breaker turned it away are left out of its next pick, whatever the
 * number of servers in the upstream (up to L7_MAX_SERVERS).
 *
 * The balancers take the exclusion as one flag per server (balance_pick).
 * An upstream of up to L7_TRIED_INLINE servers keeps those flags in the
 * exchange itself, cleared with it: the common case costs what it always
 * did. A larger upstream keeps only the list of servers tried, one per
 * attempt (retry.tries is at most 16), and a pick that has something to
 * exclude lays the flags out on the stack: the servers tried, plus those
 * whose breaker refused during this pick. There a refusal is not remembered
 * from one attempt to the next: the next attempt asks that breaker again,
 * which may have closed meanwhile.
 */
#ifndef STRATA_L7_TRAFFIC_PICK_H
#define STRATA_L7_TRAFFIC_PICK_H

#include <stdbool.h>
#include <stdint.h>

#define L7_TRIED_INLINE 64		      /* servers whose flags live in the exchange */
#define L7_TRIED_LIST	(L7_TRIED_INLINE / 2) /* servers tried, listed, past that */

/* All zero is empty, in both forms: an exchange's reset clears it. */
struct l7_tried {
	union {
		bool flag[L7_TRIED_INLINE];   /* n_servers <= L7_TRIED_INLINE */
		uint16_t list[L7_TRIED_LIST]; /* larger upstreams: the servers tried */
	};
	uint8_t n; /* entries in list */
};

/* Server `idx` of an upstream of `n_servers` was tried: the next picks
 * leave it out. */
void l7_tried_add(struct l7_tried *t, uint32_t n_servers, uint32_t idx);
/* Server `idx` may be picked again (a stale pooled connection is retried
 * on the same server). */
void l7_tried_forget(struct l7_tried *t, uint32_t n_servers, uint32_t idx);

/* A balancer pick given the exclusion flags (NULL: nothing excluded);
 * returns a server index or -1. */
typedef int (*l7_pick_fn)(void *ctx, const bool *excluded);
/* The breaker's admission of server `idx` for this attempt. */
typedef bool (*l7_admit_fn)(void *ctx, int idx);

/* Picks a server that is neither tried nor refused by its breaker: each
 * refused server is left out of the next pick (or, with stop_on_reject,
 * the first refusal ends the search). Returns the server, or -1 when none
 * is left; *rejected tells whether a breaker refused one on the way. */
int l7_pick_admitted(struct l7_tried *t, uint32_t n_servers, bool stop_on_reject, l7_pick_fn pick,
		     l7_admit_fn admit, void *ctx, bool *rejected);

#endif
