/* Traffic management, the engine side (traffic.h): process tables, the
 * split registry, what each generation builds, server breakers and their
 * transition hook, metric series. The request path is traffic_path.c, the
 * admin commands traffic_admin.c. */
#include "traffic.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"

#include "l7_metrics.h"
#include "runtime.h"
#include "traffic_int.h"
#include "upstream.h"

static const char *const lbl_srv[] = {"upstream", "server", NULL};
static const char *const lbl_srv_to[] = {"upstream", "server", "to", "reason", NULL};
static const char *const lbl_srv_verdict[] = {"upstream", "server", "verdict", NULL};
static const char *const lbl_up_limit[] = {"upstream", "limit", NULL};
static const char *const lbl_up[] = {"upstream", NULL};
static const char *const lbl_pol[] = {"policy", "result", NULL};
static const char *const lbl_split[] = {"route", "side", "why", NULL};
static const char *const lbl_lst[] = {"listener", NULL};
static const char *const lbl_side[] = {"route", "side", NULL};
/* backoff waits, in seconds (observed in ms) */
static const double backoff_bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};
static const char *const rej_names[L7_TR_REJ__COUNT] = {"open", "probing"};
static const char *const lim_names[L7_TR_LIM__COUNT] = {"max_requests", "max_pending"};
static const char *const rl_names[L7_TR_RL__COUNT] = {"allowed", "limited", "dry_run"};

/* The (to, reason) pairs breaker.h's table allows: the series of
 * breaker_transitions_total. */
static const uint8_t trans_pairs[][2] = {
    {L7_BRK_OPEN, L7_BRK_R_CONSECUTIVE}, {L7_BRK_OPEN, L7_BRK_R_ERROR_RATE},
    {L7_BRK_OPEN, L7_BRK_R_LATENCY},	 {L7_BRK_OPEN, L7_BRK_R_PROBE_FAILED},
    {L7_BRK_OPEN, L7_BRK_R_ADMIN},	 {L7_BRK_HALF_OPEN, L7_BRK_R_OPEN_OVER},
    {L7_BRK_CLOSED, L7_BRK_R_PROBES_OK}, {L7_BRK_CLOSED, L7_BRK_R_ADMIN},
};

struct l7_tr_fams l7_trf;

static struct {
	pthread_mutex_t lock; /* tables' creation, the split registry */
	_Atomic(struct l7_rl_table *) rl;
	_Atomic(struct l7_connlimit *) cl;
	struct l7_split_ent *splits;
} tp = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* One split object shared by the generations of one route name. */
struct l7_split_ent {
	struct l7_split_ent *next;
	char route[L7_NAME_MAX + 1];
	struct l7_split *sp;
	unsigned refs;
	bool retired; /* a newer entry of the same name took over */
};

__thread struct metrics_worker *l7_tr_mw;

struct l7_rl_table *l7_traffic_rl_table(void)
{
	return atomic_load_explicit(&tp.rl, memory_order_acquire);
}

struct l7_connlimit *l7_traffic_cl_table(void)
{
	return atomic_load_explicit(&tp.cl, memory_order_acquire);
}

static uint64_t random_seed(void)
{
	uint64_t s = 0;

	if (getrandom(&s, sizeof(s), 0) != sizeof(s))
		s = (uint64_t)clock_now_ns() * 0x9e3779b97f4a7c15ull;
	return s;
}

/* --- metric families and series ------------------------------------------------ */

static int families(void)
{
	struct metrics_reg *r = l7m.reg;
	struct l7_tr_fams *f = &l7_trf;

	f->brk_state = metrics_family(r, "strata_l7_breaker_state",
				      "Circuit breaker state: 0 closed, 1 open, 2 half-open",
				      METRICS_GAUGE, lbl_srv);
	f->brk_trans = metrics_family(r, "strata_l7_breaker_transitions_total",
				      "Circuit breaker transitions by target state and reason",
				      METRICS_COUNTER, lbl_srv_to);
	f->brk_rej = metrics_family(r, "strata_l7_breaker_rejected_total",
				    "Requests the breaker did not send to the server",
				    METRICS_COUNTER, lbl_srv_verdict);
	f->overflow = metrics_family(r, "strata_l7_upstream_overflow_total",
				     "Requests answered 503 by max_requests or max_pending",
				     METRICS_COUNTER, lbl_up_limit);
	f->budget = metrics_family(r, "strata_l7_retry_budget_exhausted_total",
				   "Retries refused by the retry budget", METRICS_COUNTER, lbl_up);
	f->rl_req = metrics_family(r, "strata_l7_ratelimit_requests_total",
				   "Rate-limit verdicts by policy", METRICS_COUNTER, lbl_pol);
	f->split_req = metrics_family(r, "strata_l7_split_requests_total",
				      "Requests of split routes by side and how it was chosen",
				      METRICS_COUNTER, lbl_split);
	f->cl_refused =
	    metrics_family(r, "strata_l7_connlimit_refused_total",
			   "Connections closed by max_conns_per_ip", METRICS_COUNTER, lbl_lst);
	f->backoff = metrics_histogram(r, "strata_l7_retry_backoff_seconds",
				       "Waits before retries (full jitter)", lbl_up, backoff_bounds,
				       sizeof(backoff_bounds) / sizeof(backoff_bounds[0]), 1e-3);
	f->split_weight =
	    metrics_family(r, "strata_l7_split_weight",
			   "Current weight of each side of a split route", METRICS_GAUGE, lbl_side);
	if (f->brk_state < 0 || f->brk_trans < 0 || f->brk_rej < 0 || f->overflow < 0 ||
	    f->budget < 0 || f->rl_req < 0 || f->split_req < 0 || f->cl_refused < 0 ||
	    f->backoff < 0 || f->split_weight < 0)
		return -EINVAL;
	f->h_backoff = metrics_hist(r, f->backoff);
	f->ok = true;
	return 0;
}

void l7_traffic_metrics_stale(void)
{
	const int fams[] = {l7_trf.brk_state,	l7_trf.brk_trans,  l7_trf.brk_rej,
			    l7_trf.overflow,	l7_trf.budget,	   l7_trf.rl_req,
			    l7_trf.split_req,	l7_trf.cl_refused, l7_trf.backoff,
			    l7_trf.split_weight};

	if (!l7_trf.ok)
		return;
	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++)
		metrics_mark_stale(l7m.reg, fams[i]);
}

#define CELL(dst, expr)                                                                            \
	do {                                                                                       \
		int64_t c__ = (expr);                                                              \
		if (c__ < 0)                                                                       \
			return (int)c__;                                                           \
		(dst) = (uint32_t)c__;                                                             \
	} while (0)

static int srv_series(struct l7_tr_srv *t, const char *up, const char *srv)
{
	const char *v[] = {up, srv};

	CELL(t->m_state, metrics_series(l7m.reg, l7_trf.brk_state, v));
	for (size_t i = 0; i < sizeof(trans_pairs) / sizeof(trans_pairs[0]); i++) {
		const char *vt[] = {up, srv, l7_brk_state_name(trans_pairs[i][0]),
				    l7_brk_reason_name(trans_pairs[i][1])};

		CELL(t->m_trans[trans_pairs[i][0]][trans_pairs[i][1]],
		     metrics_series(l7m.reg, l7_trf.brk_trans, vt));
	}
	for (int k = 0; k < L7_TR_REJ__COUNT; k++) {
		const char *vk[] = {up, srv, rej_names[k]};

		CELL(t->m_rej[k], metrics_series(l7m.reg, l7_trf.brk_rej, vk));
	}
	return 0;
}

/* --- breakers --------------------------------------------------------------------- */

/* breaker.h's hook: on the thread that caused the transition. */
static void on_breaker(void *arg, const struct l7_breaker *b, enum l7_brk_state from,
		       enum l7_brk_state to, enum l7_brk_reason why)
{
	struct l7_tr_srv *t = arg;
	struct metrics_worker *mw = l7_tr_mw;

	log_info("breaker %s/%s %s -> %s (%s)", t->rt->upstream, t->rt->name,
		 l7_brk_state_name(from), l7_brk_state_name(to), l7_brk_reason_name(why));
	if (!mw)
		return;
	/* the state gauge is a sum of deltas over the writers: its level is
	 * the current state whichever thread made each move */
	metrics_add(mw, t->m_state, (uint64_t)to - (uint64_t)from);
	if (t->m_trans[to][why])
		metrics_inc(mw, t->m_trans[to][why]);
}

static int srv_breaker(struct l7_server_rt *rt, unsigned workers)
{
	struct l7_tr_srv *t;
	int ret;

	if (rt->tr) /* the same cells: this revives series a reload marked stale */
		return srv_series(rt->tr, rt->upstream, rt->name);
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->rt = rt;
	ret = srv_series(t, rt->upstream, rt->name);
	if (ret == 0 && !(t->brk = l7_brk_new(workers, on_breaker, t)))
		ret = -ENOMEM;
	if (ret < 0) {
		free(t);
		return ret;
	}
	/* a server that comes back under its old name starts closed */
	metrics_set(metrics_worker(l7m.reg, L7M_WRITER_MAIN(workers)), t->m_state, 0);
	rt->tr = t;
	return 0;
}

void l7_traffic_srv_free(struct l7_tr_srv *t)
{
	if (!t)
		return;
	l7_brk_free(t->brk);
	free(t);
}

/* --- splits ---------------------------------------------------------------------------- */

static struct l7_split_ent *split_find(const char *route)
{
	for (struct l7_split_ent *e = tp.splits; e; e = e->next)
		if (!e->retired && !strcmp(e->route, route))
			return e;
	return NULL;
}

/* The split of route `r` (lock held): the registry's when it takes these
 * params, else a new one that retires it. */
static struct l7_split_ent *split_get(const struct l7_route *r)
{
	struct l7_split_ent *e = split_find(r->name.ptr);

	if (e && l7_split_reconfigure(e->sp, r->split) == 0) {
		e->refs++;
		return e;
	}
	if (e)
		e->retired = true;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->sp = l7_split_new(r->split);
	if (!e->sp) {
		free(e);
		return NULL;
	}
	snprintf(e->route, sizeof(e->route), "%s", r->name.ptr);
	e->refs = 1;
	e->next = tp.splits;
	tp.splits = e;
	return e;
}

static void split_put(struct l7_split_ent *e)
{
	struct l7_split_ent **pp;

	pthread_mutex_lock(&tp.lock);
	if (--e->refs == 0) {
		for (pp = &tp.splits; *pp && *pp != e; pp = &(*pp)->next)
			;
		if (*pp)
			*pp = e->next;
		l7_split_free(e->sp);
		free(e);
	}
	pthread_mutex_unlock(&tp.lock);
}

static int split_series(struct l7_tr_split *ts, const struct l7_route *r)
{
	for (unsigned s = 0; s < r->split->n_sides; s++)
		for (int w = 0; w < L7_SPLIT_WHY__COUNT; w++) {
			const char *v[] = {r->name.ptr, r->split->sides[s].name,
					   l7_split_why_name((enum l7_split_why)w)};

			CELL(ts->m_pick[s][w], metrics_series(l7m.reg, l7_trf.split_req, v));
		}
	for (unsigned s = 0; s < r->split->n_sides; s++) {
		const char *v[] = {r->name.ptr, r->split->sides[s].name};

		CELL(ts->m_weight[s], metrics_series(l7m.reg, l7_trf.split_weight, v));
	}
	return 0;
}

void l7_tr_split_weights_metric(struct l7_tr_split *ts, const struct l7_route *route,
				unsigned workers)
{
	struct metrics_worker *mw = metrics_worker(l7m.reg, L7M_WRITER_MAIN(workers));
	uint32_t w[L7_SPLIT_MAX_SIDES];
	unsigned n = l7_split_weights(ts->sp, w);

	for (unsigned s = 0; s < n && s < route->split->n_sides; s++)
		metrics_set(mw, ts->m_weight[s], w[s]);
}

static int build_split(struct l7_gen_traffic *t, const struct l7_route *r)
{
	struct l7_tr_split *ts = calloc(1, sizeof(*ts));

	if (!ts)
		return -ENOMEM;
	t->splits[r->index] = ts;
	pthread_mutex_lock(&tp.lock);
	ts->ent = split_get(r);
	pthread_mutex_unlock(&tp.lock);
	if (!ts->ent)
		return -ENOMEM;
	ts->sp = ts->ent->sp;
	return split_series(ts, r);
}

/* after the series exist: the weights a reload kept or set */
static void split_weights(struct l7_gen *g)
{
	for (uint32_t i = 0; i < g->cfg->n_routes; i++)
		if (g->traffic->splits[i])
			l7_tr_split_weights_metric(g->traffic->splits[i], &g->cfg->routes[i],
						   g->workers);
}

/* --- the generation ------------------------------------------------------------------- */

static int build_tables(const struct l7_snapshot *cfg, struct cfg_err *err)
{
	bool per_ip = false;
	int ret = 0;

	for (uint32_t i = 0; i < cfg->n_listeners; i++)
		per_ip |= cfg->listeners[i].max_conns_per_ip > 0;
	pthread_mutex_lock(&tp.lock);
	if (cfg->n_rate_limits && !tp.rl) {
		struct l7_rl_table *t = l7_rl_table_new(cfg->rate_limit_table, random_seed());

		if (t)
			atomic_store_explicit(&tp.rl, t, memory_order_release);
		else
			ret = -ENOMEM;
	} else if (tp.rl && cfg->n_rate_limits &&
		   l7_rl_table_capacity(tp.rl) < cfg->rate_limit_table) {
		log_warn("rate_limit_table: %u needs a restart; keeping %u", cfg->rate_limit_table,
			 l7_rl_table_capacity(tp.rl));
	}
	if (ret == 0 && per_ip && !tp.cl) {
		uint32_t cap = cfg->limits.max_conns;
		struct l7_connlimit *cl;

		cap = cap < L7_CL_MIN_CAPACITY	 ? L7_CL_MIN_CAPACITY
		      : cap > L7_CL_MAX_CAPACITY ? L7_CL_MAX_CAPACITY
						 : cap;
		cl = l7_cl_new(cap, random_seed());
		if (cl)
			atomic_store_explicit(&tp.cl, cl, memory_order_release);
		else
			ret = -ENOMEM;
	}
	pthread_mutex_unlock(&tp.lock);
	if (ret < 0)
		snprintf(err->msg, sizeof(err->msg), "%s: traffic tables: %s", cfg->path.ptr,
			 strerror(-ret));
	return ret;
}

static int build_upstream(struct l7_gen *g, uint32_t i)
{
	const struct l7_upstream *u = &g->cfg->upstreams[i];
	struct l7_tr_upstream *tu = &g->traffic->ups[i];
	const char *v[] = {u->name.ptr};

	tu->rb = l7_rb_new(g->workers);
	if (!tu->rb)
		return -ENOMEM;
	CELL(tu->m_budget, metrics_series(l7m.reg, l7_trf.budget, v));
	CELL(tu->m_backoff, metrics_series(l7m.reg, l7_trf.backoff, v));
	for (int k = 0; k < L7_TR_LIM__COUNT; k++) {
		const char *vk[] = {u->name.ptr, lim_names[k]};

		CELL(tu->m_overflow[k], metrics_series(l7m.reg, l7_trf.overflow, vk));
	}
	for (uint32_t s = 0; u->has_breaker && s < u->n_servers; s++) {
		int ret = srv_breaker(g->ups[i].rt.srv[s], g->workers);

		if (ret < 0)
			return ret;
	}
	return 0;
}

static int build_rest(struct l7_gen *g)
{
	struct l7_gen_traffic *t = g->traffic;
	const struct l7_snapshot *cfg = g->cfg;
	int ret;

	for (uint32_t i = 0; i < cfg->n_upstreams; i++)
		if ((ret = build_upstream(g, i)) < 0)
			return ret;
	for (uint32_t i = 0; i < cfg->n_routes; i++)
		if (cfg->routes[i].action == L7_ACT_SPLIT &&
		    (ret = build_split(t, &cfg->routes[i])) < 0)
			return ret;
	for (uint32_t i = 0; i < cfg->n_rate_limits; i++)
		for (int k = 0; k < L7_TR_RL__COUNT; k++) {
			const char *v[] = {cfg->rate_limits[i].name, rl_names[k]};

			CELL(t->pols[i].m_req[k], metrics_series(l7m.reg, l7_trf.rl_req, v));
		}
	for (uint32_t i = 0; i < cfg->n_listeners; i++) {
		const char *v[] = {cfg->listeners[i].name.ptr};

		if (cfg->listeners[i].max_conns_per_ip)
			CELL(t->m_cl_refused[i], metrics_series(l7m.reg, l7_trf.cl_refused, v));
	}
	return 0;
}

int l7_traffic_gen_build(struct l7_gen *g, struct cfg_err *err)
{
	const struct l7_snapshot *cfg = g->cfg;
	struct l7_gen_traffic *t;
	int ret;

	if ((!l7_trf.ok && (ret = families()) < 0) || (ret = build_tables(cfg, err)) < 0)
		return ret;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	g->traffic = t;
	t->ups = calloc(cfg->n_upstreams + 1, sizeof(*t->ups));
	t->splits = calloc(cfg->n_routes + 1, sizeof(*t->splits));
	t->pols = calloc(cfg->n_rate_limits + 1, sizeof(*t->pols));
	t->m_cl_refused = calloc(cfg->n_listeners + 1, sizeof(*t->m_cl_refused));
	if (!t->ups || !t->splits || !t->pols || !t->m_cl_refused)
		return -ENOMEM;
	ret = build_rest(g);
	if (ret == 0)
		split_weights(g);
	return ret;
}

void l7_traffic_gen_free(struct l7_gen *g)
{
	struct l7_gen_traffic *t = g->traffic;

	if (!t)
		return;
	for (uint32_t i = 0; t->ups && i < g->cfg->n_upstreams; i++)
		l7_rb_free(t->ups[i].rb);
	for (uint32_t i = 0; t->splits && i < g->cfg->n_routes; i++) {
		if (!t->splits[i])
			continue;
		if (t->splits[i]->ent)
			split_put(t->splits[i]->ent);
		free(t->splits[i]);
	}
	free(t->ups);
	free(t->splits);
	free(t->pols);
	free(t->m_cl_refused);
	free(t);
	g->traffic = NULL;
}

void l7_traffic_fini(void)
{
	l7_rl_table_free(atomic_exchange(&tp.rl, NULL));
	l7_cl_free(atomic_exchange(&tp.cl, NULL));
}
