/* Run-time state that outlives config snapshots: one record per service and
 * per instance (keyed by service name + instance address), holding health
 * and admin state, the balancer's live view and the metric series.
 *
 * Ownership: the registry (struct l4_state, owned by main) owns every record
 * and frees them only at exit, so a snapshot, a connection or a health check
 * may keep a pointer for as long as it lives, across any number of reloads.
 * An instance removed by a reload keeps its record (its series go stale and
 * come back with their old values if it returns), which is what Prometheus
 * expects of counters.
 *
 * Threads: records are found or created under the registry mutex (main
 * thread, at start and reload). After that, fields are atomics or metric
 * cells; which thread writes what is said at each field.
 */
#ifndef STRATA_L4_STATE_H
#define STRATA_L4_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "balance.h"
#include "config.h"
#include "metrics.h"

/* Why a connect to an instance failed, for the per-instance error counter. */
enum l4_cerr {
	L4_CERR_REFUSED,     /* ECONNREFUSED: nothing listens */
	L4_CERR_TIMEOUT,     /* connect_timeout expired */
	L4_CERR_UNREACHABLE, /* ENETUNREACH, EHOSTUNREACH, EHOSTDOWN */
	L4_CERR_RESOURCE,    /* socket() failed: EMFILE, ENFILE, ENOBUFS */
	L4_CERR_OTHER,
	L4_CERR__COUNT
};

/* Result of the last health check, for `show health`. */
enum l4_hres {
	L4_HRES_NONE, /* not checked (no check configured, or maint) */
	L4_HRES_OK,
	L4_HRES_REFUSED,
	L4_HRES_TIMEOUT,
	L4_HRES_ERROR,	    /* other socket error */
	L4_HRES_BAD_STATUS, /* HTTP status other than expected */
	L4_HRES_BAD_REPLY,  /* not an HTTP status line */
	L4_HRES__COUNT
};

struct l4_inst_rt {
	struct l4_inst_rt *next; /* registry list, under the lock */
	char svc[L4_NAME_MAX + 1];
	char name[ADDR_STR_MAX];
	struct balance_live live;	 /* available = health up && admin ready */
	_Atomic int admin;		 /* enum l4_admin; admin thread and main (reload) */
	_Atomic bool up;		 /* health verdict; health thread */
	_Atomic int last_result;	 /* enum l4_hres; health thread */
	_Atomic int last_errno;		 /* of the last failed check */
	_Atomic uint64_t last_change_ms; /* when `up` last changed (log_now_ms) */
	int cfg_state;			 /* admin state the last applied config named; main */
	/* metric cells */
	uint32_t m_active, m_conns, m_bytes_in, m_bytes_out;
	uint32_t m_cerr[L4_CERR__COUNT];
	uint32_t m_up, m_avail, m_to_up, m_to_down;
};

struct l4_svc_rt {
	struct l4_svc_rt *next;
	char name[L4_NAME_MAX + 1];
	atomic_uint active; /* connections now, all workers (max_conns) */
	uint32_t m_active, m_conns, m_bytes_in, m_bytes_out;
	uint32_t m_retries, m_no_instance, m_rejected;
	uint32_t m_sni_found, m_sni_none, m_sni_not_tls, m_sni_timeout;
	uint32_t *m_close; /* one per termination reason (conn_state.h) */
};

/* Families and label-less series the daemon exports (see docs/operations.md). */
struct l4_metric_ids {
	int svc_active, svc_conns, svc_bytes_in, svc_bytes_out, svc_retries, svc_no_instance;
	int svc_rejected, svc_sni, svc_close;
	int inst_active, inst_conns, inst_bytes_in, inst_bytes_out, inst_cerr;
	int inst_up, inst_avail, inst_transitions;
	uint32_t accept_paused, accept_errors, reloads_ok, reloads_failed, conns_active;
	uint32_t splice_conns, pipes_exhausted;
};

struct l4_state {
	pthread_mutex_t lock;
	struct l4_svc_rt *svcs;
	struct l4_inst_rt *insts;
	struct metrics_reg *reg; /* NULL: no metrics (the -t scratch registry) */
	struct l4_metric_ids m;
	atomic_uint active; /* connections now, all services (global max_conns) */
};

/* A registry whose metrics live in `reg` (may be NULL). Returns 0 or -errno. */
int l4_state_init(struct l4_state *st, struct metrics_reg *reg);
void l4_state_fini(struct l4_state *st);

/* Found or created (and its series revived); NULL on ENOMEM. Locks inside. */
struct l4_svc_rt *l4_state_service(struct l4_state *st, const char *svc);
struct l4_inst_rt *l4_state_instance(struct l4_state *st, const char *svc, const char *name,
				     enum l4_admin cfg_state, bool checked);

/* Existing record or NULL (admin commands). */
struct l4_inst_rt *l4_state_find_instance(struct l4_state *st, const char *svc, const char *name);

/* After a reload was attached: hides the series of every service and
 * instance the new snapshot `c` no longer names (they come back, values
 * kept, if a later config names them again). Locks inside. */
void l4_state_retire_unused(struct l4_state *st, const struct l4_config *c);

/* The metrics arena of the calling thread (each thread sets its own; NULL:
 * count nothing). Gauges several threads change are per-writer deltas. */
extern __thread struct metrics_worker *l4_mw;

/* Sets the health verdict; true when it changed (the thread that flips it
 * adjusts the up gauge). */
bool l4_inst_set_up(struct l4_inst_rt *rt, bool up);

/* Recomputes live.available from `up` and `admin`; true when it changed. */
bool l4_inst_update_available(struct l4_inst_rt *rt);

const char *l4_cerr_name(enum l4_cerr e);

#endif
