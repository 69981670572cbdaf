/* One runtime generation: a config snapshot plus what the engine builds over
 * it (balancers with their servers' run-time state, metric series, the
 * listening sockets of each listener).
 *
 * Built by the main thread (start-up, SIGHUP) and published in
 * l7_gen_slot; refcounted through its struct snap: each worker holds the
 * current one, each connection and exchange holds the one it started with,
 * so in-flight requests keep their routes and upstreams across a reload.
 * The last reference frees the balancers and drops the server references
 * (server state itself lives on in the registry while any generation uses
 * it: upstream.h).
 */
#ifndef STRATA_L7_RUNTIME_H
#define STRATA_L7_RUNTIME_H

#include <stdint.h>

#include "snapshot.h"
#include "worker.h"

#include "l7_config.h"
#include "l7_metrics.h"
#include "upstream.h"

/* A listening address shared across generations: one socket per worker
 * (SO_REUSEPORT). Created by the main thread before privileges are dropped;
 * worker i owns fds[i] once it has armed it. */
struct l7_lsock {
	struct addr addr;
	int fds[WORKER_MAX];
	bool armed[WORKER_MAX]; /* worker i took fds[i] over (and closes it) */
	uint32_t id;		/* stable across generations, for the workers' slot tables */
	atomic_uint refs;	/* generations using it */
};

#define L7_MAX_LSOCKS (L7_MAX_LISTENERS * L7_MAX_LISTEN_ADDRS)

struct l7_tls_set;

struct l7_gen_listener {
	const struct l7_listener *cfg;
	struct l7m_listener m;
	struct l7_lsock *socks[L7_MAX_LISTEN_ADDRS];
	/* TLS listeners: certificates and contexts loaded for this generation
	 * (one reference); connections take their own (tls_ctx.h). */
	struct l7_tls_set *tls;
};

struct l7_gen_upstream {
	struct l7_up_rt rt;
	struct l7m_upstream m;
	struct l7m_server *ms; /* per server */
};

struct l7_gen {
	struct snap hdr; /* first */
	struct l7_snapshot *cfg;
	unsigned workers;
	struct l7_gen_listener *lst;	/* cfg->n_listeners */
	struct l7_gen_upstream *ups;	/* cfg->n_upstreams */
	struct l7m_route *routes;	/* cfg->n_routes + 1: the last is "no route" */
	struct l7_gen_traffic *traffic; /* limits, budgets, splits, their series (traffic.h) */
};

extern struct snap_slot l7_gen_slot;

/* Builds a generation over `cfg` (takes over the caller's reference),
 * binding the listen addresses not bound yet and loading every TLS
 * listener's certificates (the ticket keys of the generation now published
 * are kept when a listener's ticket settings did not change, so sessions
 * resume across a reload). On failure returns -errno with a line in err
 * ("FILE:LINE: KEY: PATH: why" for a bad certificate), and cfg is
 * released: the published generation, certificates included, stays. */
int l7_gen_build(struct l7_snapshot *cfg, unsigned workers, struct l7_gen **out,
		 struct cfg_err *err);

static inline struct l7_gen *l7_gen_get(struct l7_gen *g)
{
	snap_get(&g->hdr);
	return g;
}

static inline void l7_gen_put(struct l7_gen *g)
{
	if (g)
		snap_put(&g->hdr);
}

/* The listening sockets table (main thread and workers read it; entries
 * are created by the main thread only, before a generation using them is
 * published). */
struct l7_lsock *l7_lsock_at(uint32_t id);
uint32_t l7_lsock_count(void);
/* At exit, after the workers stopped: closes the sockets no worker took
 * over and frees the table. */
void l7_lsock_free_all(void);

/* The generation index of a server, by upstream and server index. */
static inline struct l7_server_rt *l7_gen_server(struct l7_gen *g, uint32_t up, uint32_t si)
{
	return g->ups[up].rt.srv[si];
}

#endif
