/* stratactl commands of strata-l7 (l7_admin.h). Handlers run on the admin
 * thread: they read the current generation (a reference held for the
 * call), atomics of the server state and summed metrics; state changes go
 * through atomics (server admin state) or the reload lock (l7_daemon.c). */
#include "l7_admin.h"

#include <stdatomic.h>
#include <string.h>

#include "admin.h"
#include "metrics.h"
#include "worker.h"

#include "l7_daemon.h"
#include "l7_metrics.h"
#include "l7_worker.h"
#include "runtime.h"
#include "traffic.h"
#include "upstream.h"

static struct l7_gen *cur(void)
{
	return (struct l7_gen *)snap_slot_acquire(&l7_gen_slot);
}

static int show_upstreams(struct admin_out *out, struct l7_gen *g)
{
	admin_printf(out, "%-20s %-12s %7s %9s %8s\n", "UPSTREAM", "BALANCE", "SERVERS",
		     "AVAILABLE", "RETRIES");
	for (uint32_t i = 0; i < g->cfg->n_upstreams; i++) {
		const struct l7_upstream *u = &g->cfg->upstreams[i];
		struct l7_gen_upstream *gu = &g->ups[i];
		unsigned avail = 0;

		for (uint32_t s = 0; s < gu->rt.n; s++)
			avail += l7_server_available(gu->rt.srv[s]);
		admin_printf(out, "%-20s %-12s %7u %9u %8llu\n", u->name.ptr,
			     u->balance == BALANCE_MAGLEV ? "hash" : balance_algo_name(u->balance),
			     gu->rt.n, avail,
			     (unsigned long long)metrics_read(l7m.reg, gu->m.retries));
	}
	return 0;
}

static int show_servers(struct admin_out *out, struct l7_gen *g, const char *only)
{
	admin_printf(out, "%-16s %-16s %-22s %-6s %-6s %-5s %6s %9s %8s %8s %5s %5s  %s\n",
		     "UPSTREAM", "SERVER", "ADDRESS", "ADMIN", "HEALTH", "AVAIL", "ACTIVE",
		     "REQUESTS", "OPENED", "REUSED", "IDLE", "EJECT", "LAST CHECK");
	for (uint32_t i = 0; i < g->cfg->n_upstreams; i++) {
		struct l7_gen_upstream *gu = &g->ups[i];

		if (only && strcmp(only, g->cfg->upstreams[i].name.ptr) != 0)
			continue;
		for (uint32_t s = 0; s < gu->rt.n; s++) {
			struct l7_server_rt *rt = gu->rt.srv[s];

			admin_printf(
			    out,
			    "%-16s %-16s %-22s %-6s %-6s %-5s %6u %9llu %8llu %8llu %5u %5llu  "
			    "%s\n",
			    rt->upstream, rt->name, rt->addr_text,
			    l7_admin_state_name((enum l7_admin_state)atomic_load(&rt->admin)),
			    atomic_load(&rt->health_up) ? "up" : "down",
			    l7_server_available(rt) ? "yes" : "no", balance_live_active(&rt->live),
			    (unsigned long long)atomic_load(&rt->requests),
			    (unsigned long long)atomic_load(&rt->conns_opened),
			    (unsigned long long)atomic_load(&rt->conns_reused),
			    l7_pool_idle(&rt->pool),
			    (unsigned long long)atomic_load(&rt->ejections),
			    g->cfg->upstreams[i].health.enabled ? rt->hc_last : "(checks off)");
		}
	}
	return 0;
}

static int show_listeners(struct admin_out *out, struct l7_gen *g)
{
	admin_printf(out, "%-16s %-10s %8s %10s %9s  %s\n", "LISTENER", "PROXY", "ACTIVE", "TOTAL",
		     "REFUSED", "ADDRESSES");
	for (uint32_t i = 0; i < g->cfg->n_listeners; i++) {
		const struct l7_listener *l = &g->cfg->listeners[i];
		struct l7_gen_listener *gl = &g->lst[i];
		uint64_t refused = 0;
		char a[ADDR_STR_MAX];

		for (int r = 0; r < L7M_REFUSE__COUNT; r++)
			refused += metrics_read(l7m.reg, gl->m.refused[r]);
		admin_printf(out, "%-16s %-10s %8lld %10llu %9llu ", l->name.ptr,
			     l7_pp_mode_name(l->proxy_protocol),
			     (long long)metrics_read_gauge(l7m.reg, gl->m.active),
			     (unsigned long long)metrics_read(l7m.reg, gl->m.conns),
			     (unsigned long long)refused);
		for (uint32_t k = 0; k < l->n_listen; k++) {
			addr_format(&l->listen[k], a, sizeof(a));
			admin_printf(out, " %s", a);
		}
		admin_puts(out, "\n");
	}
	return 0;
}

static int show_stats(struct admin_out *out, struct l7_gen *g)
{
	uint64_t opened = 0, reused = 0, req = 0;

	for (uint32_t i = 0; i < g->cfg->n_upstreams; i++)
		for (uint32_t s = 0; s < g->ups[i].rt.n; s++) {
			opened += atomic_load(&g->ups[i].rt.srv[s]->conns_opened);
			reused += atomic_load(&g->ups[i].rt.srv[s]->conns_reused);
			req += atomic_load(&g->ups[i].rt.srv[s]->requests);
		}
	admin_printf(out, "generation %llu\n", (unsigned long long)g->hdr.generation);
	admin_printf(out, "config %s\n", g->cfg->path.ptr);
	admin_printf(out, "workers %u\n", g->workers);
	admin_printf(out, "connections %u\n", atomic_load(&l7_proc.nconns));
	admin_printf(out, "draining %s\n", atomic_load(&l7_proc.draining) ? "yes" : "no");
	admin_printf(out, "health_drain %s\n", atomic_load(&l7_proc.health_drain) ? "yes" : "no");
	admin_printf(out, "upstream_requests %llu\n", (unsigned long long)req);
	admin_printf(out, "upstream_connections_opened %llu\n", (unsigned long long)opened);
	admin_printf(out, "upstream_reused %llu\n", (unsigned long long)reused);
	admin_printf(out, "upstream_reuse_ratio %.4f\n",
		     opened + reused ? (double)reused / (double)(opened + reused) : 0.0);
	/* Loop counters are the workers' own: read without a lock, so a line
	 * may be a turn behind (good enough to watch batching). */
	for (unsigned i = 0; i < worker_count(); i++) {
		const struct loop_stats *ls = loop_stats(worker_loop(i));

		admin_printf(out, "worker %u turns %llu cqes %llu stale %llu enobufs %llu\n", i,
			     (unsigned long long)ls->turns, (unsigned long long)ls->cqes,
			     (unsigned long long)ls->stale, (unsigned long long)ls->enobufs);
	}
	return 0;
}

static int cmd_show(void *arg, int argc, char **argv, struct admin_out *out)
{
	struct l7_gen *g;
	int ret;

	if (argc < 2)
		return admin_fail(out, "usage: show upstreams|servers [UPSTREAM]|listeners|stats|"
				       "breakers [UPSTREAM]|splits|ratelimit|connlimit");
	g = cur();
	if (!g)
		return admin_fail(out, "no configuration loaded");
	if (strcmp(argv[1], "upstreams") == 0)
		ret = show_upstreams(out, g);
	else if (strcmp(argv[1], "servers") == 0)
		ret = show_servers(out, g, argc > 2 ? argv[2] : NULL);
	else if (strcmp(argv[1], "listeners") == 0)
		ret = show_listeners(out, g);
	else if (strcmp(argv[1], "stats") == 0)
		ret = show_stats(out, g);
	else if (!l7_traffic_cmd_show(g, argc, argv, out, &ret))
		ret =
		    admin_fail(out,
			       "unknown 'show %s' (upstreams, servers, listeners, stats, breakers, "
			       "splits, ratelimit, connlimit)",
			       argv[1]);
	l7_gen_put(g);
	return ret;
}

static int cmd_set(void *arg, int argc, char **argv, struct admin_out *out)
{
	enum l7_admin_state st;
	struct l7_gen *g;
	int ret = -1;

	if (l7_traffic_cmd_set(argc, argv, out, &ret))
		return ret; /* set breaker ..., set split ... */
	if (argc == 3 && strcmp(argv[1], "instance") == 0) {
		bool drain = strcmp(argv[2], "drain") == 0;

		if (!drain && strcmp(argv[2], "ready") != 0)
			return admin_fail(out, "usage: set instance ready|drain");
		atomic_store(&l7_proc.health_drain, drain);
		admin_printf(out, "instance %s: health answers %s\n", argv[2],
			     drain ? "503" : "200");
		return 0;
	}
	if (argc != 5 || strcmp(argv[1], "server") != 0 || l7_admin_state_parse(argv[4], &st) < 0)
		return admin_fail(out, "usage: set server UPSTREAM SERVER ready|drain|maint");
	g = cur();
	if (!g)
		return admin_fail(out, "no configuration loaded");
	for (uint32_t i = 0; i < g->cfg->n_upstreams && ret; i++) {
		if (strcmp(g->cfg->upstreams[i].name.ptr, argv[2]) != 0)
			continue;
		for (uint32_t s = 0; s < g->ups[i].rt.n && ret; s++) {
			struct l7_server_rt *rt = g->ups[i].rt.srv[s];

			if (strcmp(rt->name, argv[3]) != 0)
				continue;
			l7_server_set_admin(rt, st);
			admin_printf(out, "%s/%s: %s\n", rt->upstream, rt->name, argv[4]);
			ret = 0;
		}
	}
	l7_gen_put(g);
	return ret ? admin_fail(out, "no server '%s' in upstream '%s'", argv[3], argv[2]) : 0;
}

static int cmd_reload(void *arg, int argc, char **argv, struct admin_out *out)
{
	char err[CFG_ERR_MAX];
	uint64_t gen;

	if (l7_daemon_reload(err, sizeof(err), &gen) < 0)
		return admin_fail(out, "%s", err);
	admin_printf(out, "generation %llu\n", (unsigned long long)gen);
	return 0;
}

int l7_admin_register(struct admin_srv *srv)
{
	int ret = admin_register(srv, "show",
				 "show upstreams|servers [UPSTREAM]|listeners|stats|breakers "
				 "[UPSTREAM]|splits|ratelimit|connlimit",
				 cmd_show, NULL, ADMIN_READONLY);

	if (ret == 0)
		ret = admin_register(
		    srv, "set",
		    "set server UPSTREAM SERVER ready|drain|maint, set instance "
		    "ready|drain, set breaker UPSTREAM SERVER open|closed, set split "
		    "ROUTE NAME=WEIGHT,...  (changes state)",
		    cmd_set, NULL, ADMIN_MUTATING);
	if (ret == 0)
		ret = admin_register(srv, "reload", "reload  (re-read the config; changes state)",
				     cmd_reload, NULL, ADMIN_MUTATING);
	if (ret == 0)
		ret = admin_register(srv, "metrics", "metrics [PREFIX]", metrics_admin_cmd, l7m.reg,
				     ADMIN_READONLY);
	return ret;
}
