/* Runtime generations and the listening sockets table (runtime.h).
 *
 * The lsock table is append-only and owned by the main thread; a generation
 * references the entries of its listen addresses. Each worker owns its own
 * socket of every entry (fds[worker]) once it armed it and closes it when a
 * generation without that address reaches it.
 */
#include "runtime.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

#include "tls_ctx.h"
#include "tls_tickets.h"
#include "traffic.h"

#define L7_BACKLOG 4096

struct snap_slot l7_gen_slot;

static struct l7_lsock *lsocks[L7_MAX_LSOCKS * 4];
static _Atomic uint32_t n_lsocks;

struct l7_lsock *l7_lsock_at(uint32_t id)
{
	return id < atomic_load(&n_lsocks) ? lsocks[id] : NULL;
}

uint32_t l7_lsock_count(void)
{
	return atomic_load(&n_lsocks);
}

/* An entry for `a` still used by the current generation, or a new one
 * with a socket per worker. */
static struct l7_lsock *lsock_for(const struct addr *a, unsigned workers, struct cfg_err *err,
				  const struct l7_listener *l)
{
	uint32_t n = atomic_load(&n_lsocks);
	struct l7_lsock *s;
	char text[ADDR_STR_MAX];

	for (uint32_t i = 0; i < n; i++) {
		if (atomic_load(&lsocks[i]->refs) && addr_equal(&lsocks[i]->addr, a)) {
			atomic_fetch_add(&lsocks[i]->refs, 1);
			return lsocks[i];
		}
	}
	addr_format(a, text, sizeof(text));
	if (n == sizeof(lsocks) / sizeof(lsocks[0])) {
		snprintf(err->msg, sizeof(err->msg), "%s: too many listen addresses over reloads",
			 text);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->addr = *a;
	for (unsigned w = 0; w < WORKER_MAX; w++)
		s->fds[w] = -1;
	for (unsigned w = 0; w < workers; w++) {
		int fd = worker_listen(addr_sockaddr(a), a->len, L7_BACKLOG, 0);

		/* Accepted sockets inherit TCP_NODELAY from the listener (Linux):
		 * one setsockopt per listener instead of one per connection.
		 * Responses often leave in two sends (100 Continue; a head, then
		 * the body) and Nagle would hold the second for an ACK. */
		if (fd >= 0 && addr_family(a) != AF_UNIX)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
		if (fd < 0) {
			snprintf(err->msg, sizeof(err->msg), "listener %s: cannot listen on %s: %s",
				 l->name.ptr, text, strerror(-fd));
			for (unsigned k = 0; k < w; k++)
				close(s->fds[k]);
			free(s);
			return NULL;
		}
		s->fds[w] = fd;
	}
	s->id = n;
	atomic_init(&s->refs, 1);
	lsocks[n] = s;
	atomic_store(&n_lsocks, n + 1);
	return s;
}

static void gen_free(struct l7_gen *g)
{
	l7_traffic_gen_free(g); /* before the balancers: it reads the servers */
	for (uint32_t i = 0; g->lst && i < g->cfg->n_listeners; i++) {
		for (uint32_t k = 0; k < L7_MAX_LISTEN_ADDRS; k++)
			if (g->lst[i].socks[k])
				atomic_fetch_sub(&g->lst[i].socks[k]->refs, 1);
		l7_tls_set_put(g->lst[i].tls);
	}
	for (uint32_t i = 0; g->ups && i < g->cfg->n_upstreams; i++) {
		l7_up_rt_fini(&g->ups[i].rt);
		free(g->ups[i].ms);
	}
	free(g->lst);
	free(g->ups);
	free(g->routes);
	if (g->cfg)
		snap_put(&g->cfg->hdr);
	free(g);
}

static void gen_destroy(struct snap *s)
{
	gen_free((struct l7_gen *)s);
}

/* Ticket keys a new set of listener `l` shares: those of a listener of
 * this generation with the same rotation (one key set for the process, as
 * tls.md says), else those of the published generation's listener of the
 * same name (tickets resume across the reload), else NULL (new keys). A
 * key file is read again on every build. Returns a reference or NULL. */
static struct l7_tls_tickets *tickets_for(struct l7_gen *g, uint32_t li, const struct l7_gen *old,
					  struct cfg_err *err)
{
	const struct l7_tls_conf *tc = g->cfg->listeners[li].tls;
	struct l7_tls_tickets *prev = NULL;
	char why[CFG_ERR_MAX / 2];

	if (!tc->tickets)
		return NULL;
	for (uint32_t i = 0; i < li && !tc->ticket_key_file; i++) {
		struct l7_tls_set *s = g->lst[i].tls;

		if (s && s->tickets && !s->tickets->file &&
		    s->tickets->rotate_s == tc->ticket_rotate_s)
			return l7_tls_tickets_get(s->tickets);
	}
	for (uint32_t i = 0; old && i < old->cfg->n_listeners; i++) {
		const struct l7_listener *ol = &old->cfg->listeners[i];

		if (old->lst[i].tls && !strcmp(ol->name.ptr, g->cfg->listeners[li].name.ptr))
			prev = old->lst[i].tls->tickets;
	}
	if (!prev && !tc->ticket_key_file)
		return NULL;
	prev = l7_tls_tickets_for(prev, tc->ticket_rotate_s, tc->ticket_key_file, why, sizeof(why));
	if (!prev)
		snprintf(err->msg, sizeof(err->msg), "%s: ticket_key_file: %s", tc->where, why);
	return prev;
}

static int build_tls(struct l7_gen *g, uint32_t li, const struct l7_gen *old, struct cfg_err *err)
{
	const struct l7_tls_conf *tc = g->cfg->listeners[li].tls;
	struct l7_tls_tickets *tk = tickets_for(g, li, old, err);
	int ret;

	if (!tk && cfg_err_is_set(err))
		return -EINVAL;
	ret = l7_tls_set_build(tc, tk, &g->lst[li].tls, err);
	l7_tls_tickets_put(tk);
	return ret;
}

static int build_listeners(struct l7_gen *g, struct cfg_err *err)
{
	struct l7_gen *old = (struct l7_gen *)snap_slot_acquire(&l7_gen_slot);
	int ret = 0;

	for (uint32_t i = 0; i < g->cfg->n_listeners && ret == 0; i++)
		if (g->cfg->listeners[i].tls)
			ret = build_tls(g, i, old, err);
	l7_gen_put(old);
	if (ret < 0)
		return ret;
	for (uint32_t i = 0; i < g->cfg->n_listeners; i++) {
		const struct l7_listener *l = &g->cfg->listeners[i];
		struct l7_gen_listener *gl = &g->lst[i];

		gl->cfg = l;
		ret = l7_metrics_listener(l, &gl->m);
		if (ret < 0)
			return ret;
		for (uint32_t k = 0; k < l->n_listen && k < L7_MAX_LISTEN_ADDRS; k++) {
			gl->socks[k] = lsock_for(&l->listen[k], g->workers, err, l);
			if (!gl->socks[k])
				return -EADDRNOTAVAIL;
		}
	}
	return 0;
}

static int build_upstreams(struct l7_gen *g)
{
	for (uint32_t i = 0; i < g->cfg->n_upstreams; i++) {
		const struct l7_upstream *u = &g->cfg->upstreams[i];
		struct l7_gen_upstream *gu = &g->ups[i];
		int ret = l7_up_rt_init(&gu->rt, u, g->workers);

		if (ret < 0)
			return ret;
		ret = l7_metrics_upstream(u->name.ptr, &gu->m);
		if (ret < 0)
			return ret;
		gu->ms = calloc(u->n_servers, sizeof(*gu->ms));
		if (!gu->ms)
			return -ENOMEM;
		for (uint32_t s = 0; s < u->n_servers; s++) {
			ret = l7_metrics_server(u->name.ptr, u->servers[s].name.ptr, &gu->ms[s]);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static int build_routes(struct l7_gen *g)
{
	for (uint32_t i = 0; i < g->cfg->n_routes; i++) {
		int ret = l7_metrics_route(g->cfg->routes[i].name.ptr, &g->routes[i]);

		if (ret < 0)
			return ret;
	}
	return l7_metrics_route("(none)", &g->routes[g->cfg->n_routes]);
}

int l7_gen_build(struct l7_snapshot *cfg, unsigned workers, struct l7_gen **out,
		 struct cfg_err *err)
{
	struct l7_gen *g = calloc(1, sizeof(*g));
	int ret = -ENOMEM;

	*out = NULL;
	if (!g) {
		snap_put(&cfg->hdr);
		return -ENOMEM;
	}
	snap_init(&g->hdr, gen_destroy);
	g->cfg = cfg;
	g->workers = workers;
	g->lst = calloc(cfg->n_listeners, sizeof(*g->lst));
	g->ups = calloc(cfg->n_upstreams ? cfg->n_upstreams : 1, sizeof(*g->ups));
	g->routes = calloc(cfg->n_routes + 1, sizeof(*g->routes));
	if (g->lst && g->ups && g->routes) {
		ret = build_listeners(g, err);
		if (ret == 0)
			ret = build_upstreams(g);
		if (ret == 0)
			ret = build_routes(g);
		if (ret == 0)
			ret = l7_traffic_gen_build(g, err);
	}
	if (ret < 0) {
		if (!cfg_err_is_set(err))
			snprintf(err->msg, sizeof(err->msg), "%s: cannot set up: %s", cfg->path.ptr,
				 strerror(-ret));
		gen_free(g);
		return ret;
	}
	*out = g;
	return 0;
}

void l7_lsock_free_all(void)
{
	uint32_t n = atomic_load(&n_lsocks);

	/* Workers closed the sockets they armed; close what none did. */
	for (uint32_t i = 0; i < n; i++) {
		for (unsigned w = 0; w < WORKER_MAX; w++)
			if (lsocks[i]->fds[w] >= 0 && !lsocks[i]->armed[w])
				close(lsocks[i]->fds[w]);
		free(lsocks[i]);
		lsocks[i] = NULL;
	}
	atomic_store(&n_lsocks, 0);
}
