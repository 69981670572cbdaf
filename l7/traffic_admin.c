/* stratactl commands for traffic management (traffic.h): show breakers,
 * splits, rate limits and connection limits; force a breaker open or
 * closed; set a split's weights. Admin thread; reads the current
 * generation (the caller holds it or takes it here). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "log.h"

#include "l7_metrics.h"
#include "runtime.h"
#include "traffic.h"
#include "traffic_int.h"
#include "upstream.h"

static struct l7_gen *cur(void)
{
	return (struct l7_gen *)snap_slot_acquire(&l7_gen_slot);
}

static int show_breakers(struct admin_out *out, struct l7_gen *g, const char *only)
{
	uint64_t now = (clock_now_ns() / 1000000);
	unsigned shown = 0;

	for (uint32_t i = 0; i < g->cfg->n_upstreams; i++) {
		const struct l7_upstream *u = &g->cfg->upstreams[i];

		if ((only && strcmp(only, u->name.ptr)) || !u->has_breaker)
			continue;
		for (uint32_t s = 0; s < g->ups[i].rt.n; s++) {
			struct l7_server_rt *rt = g->ups[i].rt.srv[s];
			struct l7_brk_view v;
			char line[L7_BRK_VIEW_MAX];

			if (!rt->tr)
				continue;
			l7_brk_view(rt->tr->brk, &u->breaker, now, &v);
			if (l7_brk_view_format(line, sizeof(line), &v, &u->breaker, now) < 0)
				line[0] = '\0';
			admin_printf(out, "%s %s %s%s\n", u->name.ptr, rt->name, line,
				     u->breaker.enabled ? "" : " (disabled)");
			shown++;
		}
	}
	if (!shown)
		admin_printf(out, "no breakers%s%s\n", only ? " in upstream " : "",
			     only ? only : "");
	return 0;
}

static int show_splits(struct admin_out *out, struct l7_gen *g)
{
	unsigned shown = 0;

	for (uint32_t i = 0; i < g->cfg->n_routes; i++) {
		struct l7_tr_split *ts = g->traffic->splits[i];
		char line[L7_SPLIT_SPEC_MAX * 2];

		if (!ts)
			continue;
		if (l7_split_format(ts->sp, line, sizeof(line)) < 0)
			line[0] = '\0';
		admin_printf(out, "%s %s\n", g->cfg->routes[i].name.ptr, line);
		shown++;
	}
	if (!shown)
		admin_puts(out, "no split routes\n");
	return 0;
}

static int show_ratelimit(struct admin_out *out, struct l7_gen *g)
{
	struct l7_rl_table *t = l7_traffic_rl_table();

	for (uint32_t i = 0; i < g->cfg->n_rate_limits; i++) {
		const struct l7_rl_policy *p = &g->cfg->rate_limits[i];
		const struct l7_tr_policy *tp = &g->traffic->pols[i];

		admin_printf(
		    out,
		    "policy %s rate=%u/%ums burst=%u key=%s%s%s allowed=%llu limited=%llu "
		    "dry_run=%llu\n",
		    p->name, p->count, p->period_ms, p->burst,
		    l7_rl_key_name((enum l7_rl_key)p->key), p->key == L7_RL_KEY_HEADER ? ":" : "",
		    p->key == L7_RL_KEY_HEADER ? p->header : "",
		    (unsigned long long)metrics_read(l7m.reg, tp->m_req[L7_TR_RL_ALLOWED]),
		    (unsigned long long)metrics_read(l7m.reg, tp->m_req[L7_TR_RL_LIMITED]),
		    (unsigned long long)metrics_read(l7m.reg, tp->m_req[L7_TR_RL_DRY_RUN]));
	}
	if (t) {
		struct l7_rl_stats st;

		l7_rl_table_stats(t, clock_now_ns(), &st);
		admin_printf(out, "table capacity=%u live=%u evictions=%llu bytes=%zu\n",
			     st.capacity, st.live, (unsigned long long)st.evictions, st.bytes);
	} else {
		admin_puts(out, "table none (no rate limits configured since start)\n");
	}
	return 0;
}

static int show_connlimit(struct admin_out *out, struct l7_gen *g)
{
	struct l7_connlimit *cl = l7_traffic_cl_table();
	struct l7_cl_stats st;

	for (uint32_t i = 0; i < g->cfg->n_listeners; i++) {
		const struct l7_listener *l = &g->cfg->listeners[i];

		admin_printf(out, "listener %s max_conns_per_ip=%u prefixes=/%u,/%u\n", l->name.ptr,
			     l->max_conns_per_ip, l->cl_v4_prefix, l->cl_v6_prefix);
	}
	if (!cl) {
		admin_puts(out, "table none (no listener has max_conns_per_ip)\n");
		return 0;
	}
	l7_cl_stats(cl, &st);
	admin_printf(out, "table capacity=%u addresses=%u conns=%llu refused=%llu untracked=%llu\n",
		     st.capacity, st.addresses, (unsigned long long)st.conns,
		     (unsigned long long)st.refused, (unsigned long long)st.untracked);
	return 0;
}

bool l7_traffic_cmd_show(struct l7_gen *g, int argc, char **argv, struct admin_out *out, int *ret)
{
	if (!strcmp(argv[1], "breakers"))
		*ret = show_breakers(out, g, argc > 2 ? argv[2] : NULL);
	else if (!strcmp(argv[1], "splits"))
		*ret = show_splits(out, g);
	else if (!strcmp(argv[1], "ratelimit"))
		*ret = show_ratelimit(out, g);
	else if (!strcmp(argv[1], "connlimit"))
		*ret = show_connlimit(out, g);
	else
		return false;
	return true;
}

/* `set breaker UPSTREAM SERVER open|closed` */
static int set_breaker(struct l7_gen *g, char **argv, struct admin_out *out)
{
	const struct l7_upstream *u = l7_config_upstream(g->cfg, argv[2]);
	enum l7_brk_state to;
	int r;

	if (!strcmp(argv[4], "open"))
		to = L7_BRK_OPEN;
	else if (!strcmp(argv[4], "closed"))
		to = L7_BRK_CLOSED;
	else
		return admin_fail(out, "usage: set breaker UPSTREAM SERVER open|closed");
	if (!u || !u->has_breaker)
		return admin_fail(out, "no upstream '%s' with a breaker", argv[2]);
	for (uint32_t s = 0; s < g->ups[u->index].rt.n; s++) {
		struct l7_server_rt *rt = g->ups[u->index].rt.srv[s];

		if (strcmp(rt->name, argv[3]) || !rt->tr)
			continue;
		/* the hook counts the transition in the main writer's arena */
		l7_tr_mw = metrics_worker(l7m.reg, L7M_WRITER_MAIN(g->workers));
		r = l7_brk_force(rt->tr->brk, &u->breaker, to, (clock_now_ns() / 1000000));
		if (r == -EALREADY)
			admin_printf(out, "%s/%s: already %s\n", u->name.ptr, rt->name, argv[4]);
		else if (r < 0)
			return admin_fail(out, "%s/%s: cannot force %s", u->name.ptr, rt->name,
					  argv[4]);
		else
			admin_printf(out, "%s/%s: %s\n", u->name.ptr, rt->name, argv[4]);
		return 0;
	}
	return admin_fail(out, "no server '%s' in upstream '%s'", argv[3], argv[2]);
}

/* `set split ROUTE NAME=W[,NAME=W...]` (the words after ROUTE are joined,
 * so "blue=0, green=100" works too) */
static int set_split(struct l7_gen *g, int argc, char **argv, struct admin_out *out)
{
	const struct l7_route *r = l7_config_route(g->cfg, argv[2]);
	uint32_t w[L7_SPLIT_MAX_SIDES];
	enum l7_split_err why = L7_SPLIT_ERR_NONE;
	char spec[L7_SPLIT_SPEC_MAX + 1], line[L7_SPLIT_SPEC_MAX * 2];
	struct l7_tr_split *ts;
	size_t n = 0;

	if (!r || r->action != L7_ACT_SPLIT)
		return admin_fail(out, "no split route '%s'", argv[2]);
	ts = g->traffic->splits[r->index];
	for (int i = 3; i < argc; i++) {
		size_t k = strlen(argv[i]);

		if (n + k >= sizeof(spec))
			return admin_fail(out, "%s", l7_split_err_text(L7_SPLIT_ERR_TOO_LARGE));
		memcpy(spec + n, argv[i], k);
		n += k;
	}
	spec[n] = '\0';
	if (l7_split_parse_weights(ts->sp, spec, n, w, &why) <= 0)
		return admin_fail(out, "%s", l7_split_err_text(why));
	if (l7_split_set_weights(ts->sp, w, l7_split_count(ts->sp)) < 0)
		return admin_fail(out, "%s", l7_split_err_text(L7_SPLIT_ERR_ALL_ZERO));
	l7_tr_split_weights_metric(ts, r, g->workers);
	if (l7_split_format(ts->sp, line, sizeof(line)) < 0)
		line[0] = '\0';
	admin_printf(out, "%s %s\n", r->name.ptr, line);
	return 0;
}

bool l7_traffic_cmd_set(int argc, char **argv, struct admin_out *out, int *ret)
{
	bool brk = argc >= 2 && !strcmp(argv[1], "breaker");
	bool split = argc >= 2 && !strcmp(argv[1], "split");
	struct l7_gen *g;

	if (!brk && !split)
		return false;
	if ((brk && argc != 5) || (split && argc < 4)) {
		*ret = admin_fail(out, brk ? "usage: set breaker UPSTREAM SERVER open|closed"
					   : "usage: set split ROUTE NAME=WEIGHT[,NAME=WEIGHT...]");
		return true;
	}
	g = cur();
	if (!g) {
		*ret = admin_fail(out, "no configuration loaded");
		return true;
	}
	*ret = brk ? set_breaker(g, argv, out) : set_split(g, argc, argv, out);
	l7_gen_put(g);
	return true;
}
