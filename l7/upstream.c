/* Server run-time state, its registry, and per-generation balancers
 * (upstream.h). The registry owns every struct l7_server_rt; generations
 * hold references. */
#include "upstream.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#include "traffic.h"

atomic_bool l7_balance_dirty;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct l7_server_rt *reg_head;

static const char *const admin_names[L7_ADMIN__COUNT] = {"ready", "drain", "maint"};

const char *l7_admin_state_name(enum l7_admin_state st)
{
	return st < L7_ADMIN__COUNT ? admin_names[st] : "?";
}

int l7_admin_state_parse(const char *s, enum l7_admin_state *out)
{
	for (int i = 0; i < L7_ADMIN__COUNT; i++) {
		if (strcmp(s, admin_names[i]) == 0) {
			*out = (enum l7_admin_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

static struct l7_server_rt *rt_new(const char *upstream, const struct l7_server *s)
{
	struct l7_server_rt *rt = calloc(1, sizeof(*rt));

	if (!rt)
		return NULL;
	snprintf(rt->upstream, sizeof(rt->upstream), "%s", upstream);
	snprintf(rt->name, sizeof(rt->name), "%s", s->name.ptr);
	rt->addr = s->address;
	addr_format(&rt->addr, rt->addr_text, sizeof(rt->addr_text));
	atomic_init(&rt->refs, 1);
	balance_live_init(&rt->live, true);
	atomic_init(&rt->health_up, true);
	atomic_init(&rt->admin, L7_ADMIN_READY);
	snprintf(rt->hc_last, sizeof(rt->hc_last), "none yet");
	l7_pool_init(&rt->pool);
	return rt;
}

struct l7_server_rt *l7_server_rt_get(const char *upstream, const struct l7_server *s)
{
	struct l7_server_rt *rt;

	pthread_mutex_lock(&reg_lock);
	for (rt = reg_head; rt; rt = rt->next) {
		if (strcmp(rt->upstream, upstream) == 0 && strcmp(rt->name, s->name.ptr) == 0 &&
		    addr_equal(&rt->addr, &s->address)) {
			atomic_fetch_add(&rt->refs, 1);
			break;
		}
	}
	if (!rt && (rt = rt_new(upstream, s)) != NULL) {
		rt->next = reg_head;
		reg_head = rt;
	}
	pthread_mutex_unlock(&reg_lock);
	return rt;
}

void l7_server_rt_put(struct l7_server_rt *rt)
{
	struct l7_server_rt **pp;

	if (!rt)
		return;
	pthread_mutex_lock(&reg_lock);
	if (atomic_fetch_sub(&rt->refs, 1) != 1) {
		pthread_mutex_unlock(&reg_lock);
		return;
	}
	for (pp = &reg_head; *pp && *pp != rt; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = rt->next;
	pthread_mutex_unlock(&reg_lock);
	/* No generation refers to it: no worker can pick it, and every worker
	 * emptied its local list when it dropped its last generation. */
	l7_pool_fini(&rt->pool);
	l7_traffic_srv_free(rt->tr);
	free(rt);
}

void l7_server_rt_foreach(void (*fn)(struct l7_server_rt *rt, void *arg), void *arg)
{
	pthread_mutex_lock(&reg_lock);
	for (struct l7_server_rt *rt = reg_head; rt; rt = rt->next)
		fn(rt, arg);
	pthread_mutex_unlock(&reg_lock);
}

bool l7_server_update(struct l7_server_rt *rt, uint64_t now_ms)
{
	uint64_t until = atomic_load_explicit(&rt->ejected_until, memory_order_relaxed);
	bool ejected = until && now_ms < until;
	bool avail =
	    atomic_load(&rt->admin) == L7_ADMIN_READY && atomic_load(&rt->health_up) && !ejected;
	bool was = balance_live_available(&rt->live);

	if (until && !ejected)
		atomic_store(&rt->ejected_until, 0); /* cool-down over: back in */
	if (avail == was)
		return false;
	balance_live_set_available(&rt->live, avail);
	atomic_store(&l7_balance_dirty, true);
	log_info("upstream %s server %s (%s): %s", rt->upstream, rt->name, rt->addr_text,
		 avail ? "available" : "unavailable");
	return true;
}

bool l7_server_available(const struct l7_server_rt *rt)
{
	return balance_live_available(&rt->live);
}

void l7_server_set_admin(struct l7_server_rt *rt, enum l7_admin_state st)
{
	atomic_store(&rt->admin, (int)st);
	if (st == L7_ADMIN_MAINT)
		l7_pool_flush(&rt->pool);
	l7_server_update(rt, log_now_ms());
}

void l7_server_report(struct l7_server_rt *rt, bool ok, uint32_t failures, uint32_t cooldown_ms,
		      uint64_t now_ms)
{
	unsigned n;

	if (ok) {
		if (atomic_load_explicit(&rt->fails, memory_order_relaxed))
			atomic_store_explicit(&rt->fails, 0, memory_order_relaxed);
		return;
	}
	n = atomic_fetch_add(&rt->fails, 1) + 1;
	if (!failures || n < failures)
		return;
	/* Envoy's outlier detection, simplified: N consecutive failures eject
	 * the server for the cool-down; the health thread lets it back in. */
	atomic_store(&rt->fails, 0);
	atomic_store(&rt->ejected_until, now_ms + (cooldown_ms ? cooldown_ms : 1));
	atomic_fetch_add(&rt->ejections, 1);
	log_warn("upstream %s server %s: ejected for %u ms after %u consecutive failures",
		 rt->upstream, rt->name, cooldown_ms, n);
	l7_server_update(rt, now_ms);
}

int l7_up_rt_init(struct l7_up_rt *u, const struct l7_upstream *cfg, unsigned workers)
{
	struct balance_member *m = calloc(cfg->n_servers, sizeof(*m));
	struct balance_params bp = {.algo = cfg->balance, .workers = workers, .seed = 0x5eed};
	int ret = -ENOMEM;

	memset(u, 0, sizeof(*u));
	u->cfg = cfg;
	u->n = cfg->n_servers;
	u->srv = calloc(cfg->n_servers, sizeof(*u->srv));
	if (!m || !u->srv)
		goto out;
	for (uint32_t i = 0; i < cfg->n_servers; i++) {
		u->srv[i] = l7_server_rt_get(cfg->name.ptr, &cfg->servers[i]);
		if (!u->srv[i])
			goto out;
		atomic_store(&u->srv[i]->pool.max_idle, cfg->pool.max_idle_per_server);
		atomic_store(&u->srv[i]->pool.idle_timeout_ms, cfg->pool.idle_timeout_ms);
		m[i] = (struct balance_member){.name = cfg->servers[i].name.ptr,
					       .weight = cfg->servers[i].weight,
					       .backup = cfg->servers[i].backup,
					       .live = &u->srv[i]->live};
	}
	ret = balance_create(&bp, m, cfg->n_servers, &u->bal);
out:
	free(m);
	if (ret < 0)
		l7_up_rt_fini(u);
	return ret;
}

void l7_up_rt_fini(struct l7_up_rt *u)
{
	balance_free(u->bal);
	u->bal = NULL;
	for (uint32_t i = 0; u->srv && i < u->n; i++)
		l7_server_rt_put(u->srv[i]);
	free(u->srv);
	u->srv = NULL;
}

int l7_up_rt_pick(struct l7_up_rt *u, unsigned wi, uint64_t key, const bool *excluded)
{
	return balance_pick(balance_worker(u->bal, wi), key, excluded);
}
