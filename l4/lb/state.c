/* The run-time registry of strata-l4 (state.h): service and instance
 * records found or created by name, and the metric families they count in.
 *
 * Gauges that several threads change (instance up, available) are kept as
 * per-writer deltas: the thread whose atomic exchange flips the value adds
 * +1 or -1 in its own arena, so the sum over writers is the level and no two
 * threads ever write one cell.
 */
#include "state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conn_state.h"
#include "log.h"

__thread struct metrics_worker *l4_mw;

static const char *const svc_l[] = {"service", NULL};
static const char *const svc_sni_l[] = {"service", "result", NULL};
static const char *const svc_close_l[] = {"service", "reason", NULL};
static const char *const inst_l[] = {"service", "instance", NULL};
static const char *const inst_cerr_l[] = {"service", "instance", "reason", NULL};
static const char *const inst_tr_l[] = {"service", "instance", "to", NULL};
static const char *const cerr_names[L4_CERR__COUNT] = {"refused", "timeout", "unreachable",
						       "resource", "other"};

const char *l4_cerr_name(enum l4_cerr e)
{
	return (unsigned)e < L4_CERR__COUNT ? cerr_names[e] : "?";
}

static int fam(struct metrics_reg *reg, const char *name, const char *help, enum metrics_type type,
	       const char *const *labels)
{
	int f = metrics_family(reg, name, help, type, labels);

	if (f < 0)
		log_err("metrics: cannot register %s: %s", name, strerror(-f));
	return f;
}

static int simple(struct metrics_reg *reg, const char *name, const char *help,
		  enum metrics_type type, uint32_t *cell)
{
	int64_t c = metrics_simple(reg, name, help, type);

	if (c < 0)
		return (int)c;
	*cell = (uint32_t)c;
	return 0;
}

static int register_globals(struct metrics_reg *r, struct l4_metric_ids *m)
{
	static const char *const res_l[] = {"result", NULL};
	int rc = 0, f;
	int64_t ok, bad;

	rc |= simple(r, "strata_l4_connections_active", "Client connections open now.",
		     METRICS_GAUGE, &m->conns_active);
	rc |= simple(r, "strata_l4_accept_paused_total",
		     "Times a listener stopped accepting (a limit or no descriptors).",
		     METRICS_COUNTER, &m->accept_paused);
	rc |= simple(r, "strata_l4_accept_errors_total",
		     "Accepts that failed (EMFILE, ENFILE, ENOBUFS, ...).", METRICS_COUNTER,
		     &m->accept_errors);
	rc |= simple(r, "strata_l4_splice_starts_total",
		     "Directions that switched to the splice path.", METRICS_COUNTER,
		     &m->splice_conns);
	rc |= simple(r, "strata_l4_pipes_exhausted_total",
		     "Splice wanted but the worker's pipe pool was empty.", METRICS_COUNTER,
		     &m->pipes_exhausted);
	f = fam(r, "strata_l4_reloads_total", "Configuration reloads by result.", METRICS_COUNTER,
		res_l);
	if (f < 0)
		return f;
	ok = metrics_series(r, f, (const char *const[]){"ok"});
	bad = metrics_series(r, f, (const char *const[]){"failed"});
	if (rc || ok < 0 || bad < 0)
		return -ENOMEM;
	m->reloads_ok = (uint32_t)ok;
	m->reloads_failed = (uint32_t)bad;
	return 0;
}

static int register_families(struct metrics_reg *r, struct l4_metric_ids *m)
{
	const enum metrics_type C = METRICS_COUNTER, G = METRICS_GAUGE;

	m->svc_active = fam(r, "strata_l4_service_connections_active",
			    "Client connections open now, per service.", G, svc_l);
	m->svc_conns = fam(r, "strata_l4_service_connections_total",
			   "Client connections accepted, per service.", C, svc_l);
	m->svc_bytes_in = fam(r, "strata_l4_service_bytes_in_total",
			      "Bytes received from clients and relayed to instances.", C, svc_l);
	m->svc_bytes_out = fam(r, "strata_l4_service_bytes_out_total",
			       "Bytes received from instances and relayed to clients.", C, svc_l);
	m->svc_retries = fam(r, "strata_l4_service_connect_retries_total",
			     "Connects retried on another instance after a failure.", C, svc_l);
	m->svc_no_instance = fam(r, "strata_l4_service_no_instance_total",
				 "Connections closed because no instance was usable.", C, svc_l);
	m->svc_rejected = fam(r, "strata_l4_service_rejected_total",
			      "Connections refused over max_conns (service or global).", C, svc_l);
	m->svc_sni = fam(r, "strata_l4_service_sni_total",
			 "SNI peek outcomes: found, none, not_tls, timeout.", C, svc_sni_l);
	m->svc_close = fam(r, "strata_l4_service_closes_total",
			   "Connections closed, per termination reason.", C, svc_close_l);
	m->inst_active = fam(r, "strata_l4_instance_connections_active",
			     "Connections to the instance open now.", G, inst_l);
	m->inst_conns = fam(r, "strata_l4_instance_connections_total",
			    "Connections established to the instance.", C, inst_l);
	m->inst_bytes_in = fam(r, "strata_l4_instance_bytes_in_total",
			       "Bytes from clients relayed to the instance.", C, inst_l);
	m->inst_bytes_out = fam(r, "strata_l4_instance_bytes_out_total",
				"Bytes from the instance relayed to clients.", C, inst_l);
	m->inst_cerr = fam(r, "strata_l4_instance_connect_errors_total",
			   "Failed connects to the instance, per reason.", C, inst_cerr_l);
	m->inst_up = fam(r, "strata_l4_instance_up", "1 when the health checks pass.", G, inst_l);
	m->inst_avail = fam(r, "strata_l4_instance_available",
			    "1 when the instance takes new connections (up and ready).", G, inst_l);
	m->inst_transitions = fam(r, "strata_l4_instance_health_transitions_total",
				  "Health state changes, per new state.", C, inst_tr_l);
	if (m->svc_active < 0 || m->svc_conns < 0 || m->svc_bytes_in < 0 || m->svc_bytes_out < 0 ||
	    m->svc_retries < 0 || m->svc_no_instance < 0 || m->svc_rejected < 0 || m->svc_sni < 0 ||
	    m->svc_close < 0 || m->inst_active < 0 || m->inst_conns < 0 || m->inst_bytes_in < 0 ||
	    m->inst_bytes_out < 0 || m->inst_cerr < 0 || m->inst_up < 0 || m->inst_avail < 0 ||
	    m->inst_transitions < 0)
		return -EINVAL;
	return register_globals(r, m);
}

int l4_state_init(struct l4_state *st, struct metrics_reg *reg)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_init(&st->lock, NULL);
	st->reg = reg;
	return reg ? register_families(reg, &st->m) : 0;
}

void l4_state_fini(struct l4_state *st)
{
	for (struct l4_svc_rt *s = st->svcs, *n; s; s = n) {
		n = s->next;
		free(s->m_close);
		free(s);
	}
	for (struct l4_inst_rt *i = st->insts, *n; i; i = n) {
		n = i->next;
		free(i);
	}
	st->svcs = NULL;
	st->insts = NULL;
	pthread_mutex_destroy(&st->lock);
}

/* One series' cell; 0 (a harmless scratch cell) without a registry. */
static uint32_t cell(struct l4_state *st, int f, const char *const *values, int *rc)
{
	int64_t c;

	if (!st->reg)
		return 0;
	c = metrics_series(st->reg, f, values);
	if (c < 0) {
		*rc = (int)c;
		return 0;
	}
	return (uint32_t)c;
}

static int svc_series(struct l4_state *st, struct l4_svc_rt *s)
{
	const struct l4_metric_ids *m = &st->m;
	const char *v[] = {s->name, NULL, NULL};
	int rc = 0;

	s->m_active = cell(st, m->svc_active, v, &rc);
	s->m_conns = cell(st, m->svc_conns, v, &rc);
	s->m_bytes_in = cell(st, m->svc_bytes_in, v, &rc);
	s->m_bytes_out = cell(st, m->svc_bytes_out, v, &rc);
	s->m_retries = cell(st, m->svc_retries, v, &rc);
	s->m_no_instance = cell(st, m->svc_no_instance, v, &rc);
	s->m_rejected = cell(st, m->svc_rejected, v, &rc);
	v[1] = "found";
	s->m_sni_found = cell(st, m->svc_sni, v, &rc);
	v[1] = "none";
	s->m_sni_none = cell(st, m->svc_sni, v, &rc);
	v[1] = "not_tls";
	s->m_sni_not_tls = cell(st, m->svc_sni, v, &rc);
	v[1] = "timeout";
	s->m_sni_timeout = cell(st, m->svc_sni, v, &rc);
	for (int e = 1; e < L4_END__COUNT; e++) {
		v[1] = l4_end_name((enum l4_end)e);
		s->m_close[e] = cell(st, m->svc_close, v, &rc);
	}
	return rc;
}

struct l4_svc_rt *l4_state_service(struct l4_state *st, const char *svc)
{
	struct l4_svc_rt *s;

	pthread_mutex_lock(&st->lock);
	for (s = st->svcs; s; s = s->next)
		if (strcmp(s->name, svc) == 0)
			break;
	if (!s && (s = calloc(1, sizeof(*s)))) {
		s->m_close = calloc(L4_END__COUNT, sizeof(*s->m_close));
		if (!s->m_close) {
			free(s);
			s = NULL;
		} else {
			strncpy(s->name, svc, L4_NAME_MAX);
			s->next = st->svcs;
			st->svcs = s;
		}
	}
	if (s && svc_series(st, s) != 0)
		s = NULL;
	pthread_mutex_unlock(&st->lock);
	return s;
}

static int inst_series(struct l4_state *st, struct l4_inst_rt *i)
{
	const struct l4_metric_ids *m = &st->m;
	const char *v[] = {i->svc, i->name, NULL, NULL};
	int rc = 0;

	i->m_active = cell(st, m->inst_active, v, &rc);
	i->m_conns = cell(st, m->inst_conns, v, &rc);
	i->m_bytes_in = cell(st, m->inst_bytes_in, v, &rc);
	i->m_bytes_out = cell(st, m->inst_bytes_out, v, &rc);
	i->m_up = cell(st, m->inst_up, v, &rc);
	i->m_avail = cell(st, m->inst_avail, v, &rc);
	for (int e = 0; e < L4_CERR__COUNT; e++) {
		v[2] = cerr_names[e];
		i->m_cerr[e] = cell(st, m->inst_cerr, v, &rc);
	}
	v[2] = "up";
	i->m_to_up = cell(st, m->inst_transitions, v, &rc);
	v[2] = "down";
	i->m_to_down = cell(st, m->inst_transitions, v, &rc);
	return rc;
}

static struct l4_inst_rt *find_locked(struct l4_state *st, const char *svc, const char *name)
{
	for (struct l4_inst_rt *i = st->insts; i; i = i->next)
		if (strcmp(i->svc, svc) == 0 && strcmp(i->name, name) == 0)
			return i;
	return NULL;
}

struct l4_inst_rt *l4_state_find_instance(struct l4_state *st, const char *svc, const char *name)
{
	struct l4_inst_rt *i;

	pthread_mutex_lock(&st->lock);
	i = find_locked(st, svc, name);
	pthread_mutex_unlock(&st->lock);
	return i;
}

static struct l4_inst_rt *inst_new(const char *svc, const char *name, enum l4_admin cfg_state)
{
	struct l4_inst_rt *i = calloc(1, sizeof(*i));

	if (!i)
		return NULL;
	strncpy(i->svc, svc, L4_NAME_MAX);
	strncpy(i->name, name, sizeof(i->name) - 1);
	balance_live_init(&i->live, false);
	atomic_init(&i->admin, (int)cfg_state);
	atomic_init(&i->up, false);
	i->cfg_state = (int)cfg_state;
	return i;
}

struct l4_inst_rt *l4_state_instance(struct l4_state *st, const char *svc, const char *name,
				     enum l4_admin cfg_state, bool checked)
{
	struct l4_inst_rt *i;
	bool fresh = false;

	pthread_mutex_lock(&st->lock);
	i = find_locked(st, svc, name);
	if (!i && (i = inst_new(svc, name, cfg_state))) {
		i->next = st->insts;
		st->insts = i;
		fresh = true;
	}
	if (i && inst_series(st, i) != 0)
		i = NULL;
	pthread_mutex_unlock(&st->lock);
	if (!i)
		return NULL;
	/* A config that names another state than the last one applied wins over
	 * a runtime `set instance`; an unchanged one keeps the runtime state. */
	if (!fresh && i->cfg_state != (int)cfg_state) {
		atomic_store(&i->admin, (int)cfg_state);
		i->cfg_state = (int)cfg_state;
	}
	/* New instances start up, as HAProxy's servers do; without a check an
	 * instance is always up. */
	if (fresh || !checked)
		l4_inst_set_up(i, true);
	l4_inst_update_available(i);
	return i;
}

static bool svc_named(const struct l4_config *c, const char *svc, const char *inst)
{
	const struct l4_service *s = l4_config_service(c, svc);

	return s && (!inst || l4_service_instance(s, inst) >= 0);
}

static void stale(struct l4_state *st, int f, const char *const *v)
{
	metrics_series_stale(st->reg, f, v);
}

static void retire_service(struct l4_state *st, const struct l4_svc_rt *s)
{
	const struct l4_metric_ids *m = &st->m;
	const char *v[] = {s->name, NULL, NULL};
	const int fams[] = {m->svc_active,  m->svc_conns,	m->svc_bytes_in, m->svc_bytes_out,
			    m->svc_retries, m->svc_no_instance, m->svc_rejected};
	static const char *const sni[] = {"found", "none", "not_tls", "timeout"};

	for (size_t k = 0; k < sizeof(fams) / sizeof(fams[0]); k++)
		stale(st, fams[k], v);
	for (size_t k = 0; k < 4; k++) {
		v[1] = sni[k];
		stale(st, m->svc_sni, v);
	}
	for (int e = 1; e < L4_END__COUNT; e++) {
		v[1] = l4_end_name((enum l4_end)e);
		stale(st, m->svc_close, v);
	}
}

static void retire_instance(struct l4_state *st, const struct l4_inst_rt *i)
{
	const struct l4_metric_ids *m = &st->m;
	const char *v[] = {i->svc, i->name, NULL, NULL};
	const int fams[] = {m->inst_active,    m->inst_conns, m->inst_bytes_in,
			    m->inst_bytes_out, m->inst_up,    m->inst_avail};

	for (size_t k = 0; k < sizeof(fams) / sizeof(fams[0]); k++)
		stale(st, fams[k], v);
	for (int e = 0; e < L4_CERR__COUNT; e++) {
		v[2] = cerr_names[e];
		stale(st, m->inst_cerr, v);
	}
	v[2] = "up";
	stale(st, m->inst_transitions, v);
	v[2] = "down";
	stale(st, m->inst_transitions, v);
}

void l4_state_retire_unused(struct l4_state *st, const struct l4_config *c)
{
	if (!st->reg)
		return;
	pthread_mutex_lock(&st->lock);
	for (struct l4_svc_rt *s = st->svcs; s; s = s->next)
		if (!svc_named(c, s->name, NULL))
			retire_service(st, s);
	for (struct l4_inst_rt *i = st->insts; i; i = i->next)
		if (!svc_named(c, i->svc, i->name))
			retire_instance(st, i);
	pthread_mutex_unlock(&st->lock);
}

bool l4_inst_set_up(struct l4_inst_rt *rt, bool up)
{
	bool was = atomic_exchange(&rt->up, up);

	if (was == up)
		return false;
	if (l4_mw)
		metrics_add(l4_mw, rt->m_up, up ? 1 : UINT64_MAX);
	atomic_store(&rt->last_change_ms, log_now_ms());
	return true;
}

bool l4_inst_update_available(struct l4_inst_rt *rt)
{
	bool want = atomic_load(&rt->up) && atomic_load(&rt->admin) == L4_ADMIN_READY;
	bool was = atomic_exchange(&rt->live.available, want);

	if (was == want)
		return false;
	if (l4_mw)
		metrics_add(l4_mw, rt->m_avail, want ? 1 : UINT64_MAX);
	return true;
}
