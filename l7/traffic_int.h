/* Private to traffic*.c: metric family ids and the calling thread's
 * metrics writer for the breaker hook. */
#ifndef STRATA_L7_TRAFFIC_INT_H
#define STRATA_L7_TRAFFIC_INT_H

#include <stdbool.h>

#include "metrics.h"

struct l7_tr_fams {
	bool ok; /* registered */
	int brk_state, brk_trans, brk_rej, overflow, budget, rl_req, split_req, cl_refused;
	int backoff, split_weight;
	const struct metrics_hist *h_backoff; /* milliseconds */
};

/* Sets the split_weight gauges of split `ts` (route `route`) from its
 * current weights; main writer (main or admin thread). */
struct l7_tr_split;
struct l7_route;
void l7_tr_split_weights_metric(struct l7_tr_split *ts, const struct l7_route *route,
				unsigned workers);

extern struct l7_tr_fams l7_trf;

/* The writer of the thread about to call into a breaker (a worker's, or
 * the main writer on the admin thread): breaker.h calls its hook on the
 * thread that caused a transition and the hook counts it there. */
extern __thread struct metrics_worker *l7_tr_mw;

#endif
