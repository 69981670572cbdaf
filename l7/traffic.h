/* The engine side of traffic management (docs/traffic.md "Integrating
 * with the engine"): the process-wide rate-limit and connection tables,
 * the registry of split objects, what each runtime generation adds
 * (per-upstream request limits and retry budgets, the split of each split
 * route, metric series), each server's breaker, and the calls the
 * connection and exchange code make on the request path.
 *
 * Ownership. The two tables are made by the main thread the first time a
 * configuration needs them (start-up or a reload), are never resized, and
 * are freed by l7_traffic_fini() after the threads stopped. Split objects
 * live in a registry keyed by route name, referenced by the generations
 * that use them, so a reload that keeps a split route keeps its run-time
 * weights (l7_split_reconfigure). A server's breaker lives in its run-time
 * state (struct l7_server_rt, field tr) and is freed with it.
 */
#ifndef STRATA_L7_TRAFFIC_H
#define STRATA_L7_TRAFFIC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "admin.h"
#include "cfg.h"
#include "metrics.h"

#include "breaker.h"
#include "connlimit.h"
#include "ratelimit.h"
#include "retry_budget.h"
#include "split.h"

struct l7_gen;
struct l7_conn;
struct l7_exchange;
struct l7_server_rt;

/* Rejections counted per server (breaker_rejected_total{verdict}). */
enum l7_tr_reject { L7_TR_REJ_OPEN, L7_TR_REJ_PROBING, L7_TR_REJ__COUNT };
/* upstream_overflow_total{limit} */
enum l7_tr_limit { L7_TR_LIM_REQUESTS, L7_TR_LIM_PENDING, L7_TR_LIM__COUNT };
/* ratelimit_requests_total{result} */
enum l7_tr_rl { L7_TR_RL_ALLOWED, L7_TR_RL_LIMITED, L7_TR_RL_DRY_RUN, L7_TR_RL__COUNT };

/* One server's breaker and its metric cells (the series are keyed by
 * upstream and server name, as the server state is, so the cells stay
 * valid for the server's whole life). */
struct l7_tr_srv {
	struct l7_breaker *brk;
	struct l7_server_rt *rt; /* back pointer for the hook's log line */
	uint32_t m_state;
	uint32_t m_trans[L7_BRK__COUNT][L7_BRK_R__COUNT];
	uint32_t m_rej[L7_TR_REJ__COUNT];
};

struct l7_tr_upstream {
	struct l7_brk_limits lim;   /* max_requests / max_pending, shared by workers */
	struct l7_retry_budget *rb; /* retries against requests in flight */
	uint32_t m_overflow[L7_TR_LIM__COUNT], m_budget, m_backoff;
};

struct l7_split_ent; /* registry entry (traffic.c) */

struct l7_tr_split {
	struct l7_split_ent *ent;
	struct l7_split *sp;
	uint32_t m_pick[L7_SPLIT_MAX_SIDES][L7_SPLIT_WHY__COUNT];
	uint32_t m_weight[L7_SPLIT_MAX_SIDES];
};

struct l7_tr_policy {
	uint32_t m_req[L7_TR_RL__COUNT];
};

/* What a generation adds (l7_gen.traffic). */
struct l7_gen_traffic {
	struct l7_tr_upstream *ups;  /* cfg->n_upstreams */
	struct l7_tr_split **splits; /* cfg->n_routes: NULL unless a split route */
	struct l7_tr_policy *pols;   /* cfg->n_rate_limits */
	uint32_t *m_cl_refused;	     /* cfg->n_listeners: connlimit_refused_total */
};

/* Main thread, at the end of l7_gen_build: the tables the config needs,
 * the breakers of its servers, limits, budgets, splits and metric series.
 * Returns 0, or -errno with a line in err; on failure the caller frees
 * the generation (l7_traffic_gen_free copes with a half-built one). */
int l7_traffic_gen_build(struct l7_gen *g, struct cfg_err *err);
/* When the generation goes (any thread): budgets, split references. */
void l7_traffic_gen_free(struct l7_gen *g);
/* A server's state goes (upstream.c): its breaker. NULL-safe. */
void l7_traffic_srv_free(struct l7_tr_srv *t);
/* At exit, after every thread stopped and the last generation went. */
void l7_traffic_fini(void);
/* Marks the traffic series stale (l7_metrics_reload_begin). */
void l7_traffic_metrics_stale(void);

/* --- connections (client_intake.c, client_close.c) --------------------------- */

/* Intake done (the client address is known): counts the connection for
 * its listener's max_conns_per_ip. Returns 0, or -EBUSY when the client is
 * at its limit (counted and logged; the caller closes). */
int l7_traffic_conn_admit(struct l7_conn *c, uint32_t *ticket);
/* The connection is freed: uncounts it (a no-op for L7_CL_UNTRACKED). */
void l7_traffic_conn_release(uint32_t ticket);

/* --- requests (exchange*.c) ---------------------------------------------------- */

/* The route's rate limits, in order, for exchange x. Returns NULL when
 * every policy allows (dry-run refusals allowed and counted), else the
 * policy that refused with *res filled for the 429. */
const struct l7_rl_policy *l7_traffic_rate_check(struct l7_exchange *x, struct l7_rl_result *res);
/* A split route's side for exchange x: the index into route->split_routes,
 * or -1 when no side takes requests. */
int l7_traffic_split_pick(struct l7_exchange *x);

/* The exchange's upstream traffic state (begin: request limits and the
 * budget's request count; false: over max_requests, answer 503). */
bool l7_traffic_req_begin(struct l7_exchange *x);
void l7_traffic_req_end(struct l7_exchange *x);
/* The breaker of server `si` for a new attempt: true admits (a ticket is
 * held until l7_traffic_outcome); false rejects (counted). */
bool l7_traffic_brk_allow(struct l7_exchange *x, int si);
/* The attempt's end: failed (connect error, reset, timeout, retried 5xx),
 * or else the response head's status decides (none: cancelled). */
void l7_traffic_outcome(struct l7_exchange *x, bool failed);
/* max_pending around a new upstream connect. */
bool l7_traffic_pending_begin(struct l7_exchange *x);
void l7_traffic_pending_end(struct l7_exchange *x);
/* A retry: budget (false: refused, counted) and its backoff in ms. */
bool l7_traffic_retry_begin(struct l7_exchange *x, uint32_t *backoff_ms);
void l7_traffic_retry_end(struct l7_exchange *x);

/* --- admin (traffic_admin.c) ------------------------------------------------------ */

/* `show breakers|splits|ratelimit|connlimit ...`: true when argv[1] is one
 * of those (*ret then holds the handler's result). */
bool l7_traffic_cmd_show(struct l7_gen *g, int argc, char **argv, struct admin_out *out, int *ret);
/* `set breaker UPSTREAM SERVER open|closed`, `set split ROUTE N=W,...`. */
bool l7_traffic_cmd_set(int argc, char **argv, struct admin_out *out, int *ret);

/* Process tables (NULL until a configuration needs them). */
struct l7_rl_table *l7_traffic_rl_table(void);
struct l7_connlimit *l7_traffic_cl_table(void);

#endif
