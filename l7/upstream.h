/* Run-time state of upstream servers, carried across reloads, and the
 * per-snapshot balancer over them.
 *
 * struct l7_server_rt is one server's life: health, admin state, passive
 * ejection, the balancer's live counters, its shared keep-alive pool and
 * each worker's local idle list. It is keyed by (upstream name, server
 * name, address): a reload that keeps all three keeps the state; anything
 * else gets fresh state. The registry owns them; each runtime generation
 * (runtime.c) holds a reference to the servers it uses, and the last
 * reference closes the pool and frees the server.
 *
 * Availability for new picks = admin ready && health up && not ejected.
 * Changes come from the health thread, the admin thread and (passive
 * ejection) workers; they set balance_live.available at once and mark the
 * balancers dirty: the health thread rebuilds consistent-hash tables off the
 * hot path (balance_refresh).
 */
#ifndef STRATA_L7_UPSTREAM_H
#define STRATA_L7_UPSTREAM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "balance.h"
#include "worker.h"

#include "l7_config.h"
#include "upstream_pool.h"

struct l7_uconn;
struct l7_tr_srv;

enum l7_admin_state {
	L7_ADMIN_READY, /* takes new requests */
	L7_ADMIN_DRAIN, /* no new requests; in-flight ones finish */
	L7_ADMIN_MAINT, /* like drain, and idle pooled connections are closed */
	L7_ADMIN__COUNT
};

/* A worker's local idle connections to one server (only that worker). */
struct l7_local_idle {
	struct l7_uconn *head;
	uint32_t n;
} __attribute__((aligned(64)));

struct l7_server_rt {
	char upstream[L7_NAME_MAX + 1];
	char name[L7_NAME_MAX + 1];
	char addr_text[ADDR_STR_MAX];
	struct addr addr;
	atomic_uint refs; /* generations using it */
	struct l7_server_rt *next;

	struct balance_live live;
	atomic_bool health_up;	    /* last verdict of the active checks (true at start) */
	atomic_int admin;	    /* enum l7_admin_state */
	atomic_uint fails;	    /* consecutive passive failures */
	atomic_ulong ejected_until; /* CLOCK_MONOTONIC ms; 0: not ejected */
	atomic_ulong ejections;	    /* passive ejections so far */
	atomic_ulong requests;	    /* sent to it */
	atomic_ulong conns_opened;  /* new upstream connections */
	atomic_ulong conns_reused;  /* requests on a reused connection */
	atomic_ulong checks_ok, checks_failed;

	/* health thread only */
	uint32_t hc_rise, hc_fall; /* consecutive successes / failures */
	uint64_t hc_next_ms;
	bool hc_running;
	char hc_last[64]; /* last check result for `show servers` */

	/* Circuit breaker and its metric cells (traffic.h): made by the main
	 * thread the first time a generation whose upstream has a breaker
	 * group uses this server, before that generation is published; freed
	 * with the server. NULL: no breaker. */
	struct l7_tr_srv *tr;

	struct l7_pool pool;
	struct l7_local_idle local[WORKER_MAX];
};

/* Finds the state for (upstream, server) or creates it (health up, admin
 * ready). Takes a reference. NULL on ENOMEM. Thread-safe. */
struct l7_server_rt *l7_server_rt_get(const char *upstream, const struct l7_server *s);
/* Drops a reference; the last closes the pool and frees. NULL-safe. */
void l7_server_rt_put(struct l7_server_rt *rt);

/* Calls fn for every live server (registry lock held: fn must be quick and
 * must not take or drop references). */
void l7_server_rt_foreach(void (*fn)(struct l7_server_rt *rt, void *arg), void *arg);

/* Recomputes balance_live.available; returns true when it changed (the
 * balancers are then marked dirty). */
bool l7_server_update(struct l7_server_rt *rt, uint64_t now_ms);
bool l7_server_available(const struct l7_server_rt *rt);
void l7_server_set_admin(struct l7_server_rt *rt, enum l7_admin_state st);
const char *l7_admin_state_name(enum l7_admin_state st);
int l7_admin_state_parse(const char *s, enum l7_admin_state *out);

/* Passive health (workers): a failed or a good exchange with the server. */
void l7_server_report(struct l7_server_rt *rt, bool ok, uint32_t failures, uint32_t cooldown_ms,
		      uint64_t now_ms);

/* Set when some server's availability changed; cleared by whoever rebuilds
 * the consistent-hash tables (health thread). */
extern atomic_bool l7_balance_dirty;

/* The balancer of one upstream for one runtime generation. */
struct l7_up_rt {
	const struct l7_upstream *cfg;
	struct balance *bal;
	struct l7_server_rt **srv; /* cfg->n_servers, same order */
	uint32_t n;
};

int l7_up_rt_init(struct l7_up_rt *u, const struct l7_upstream *cfg, unsigned workers);
void l7_up_rt_fini(struct l7_up_rt *u);

/* Picks a server index for worker `wi` (BALANCE_NONE when none usable). */
int l7_up_rt_pick(struct l7_up_rt *u, unsigned wi, uint64_t key, const bool *excluded);

#endif
