/* Process-wide state of strata-l4, shared by the main thread, the workers,
 * the health thread and the admin thread.
 *
 * Owned by main (main.c creates it before any thread and frees it after
 * every thread stopped). Workers read it; what they may write is atomic.
 */
#ifndef STRATA_L4_PROC_H
#define STRATA_L4_PROC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "alog.h"
#include "config.h"
#include "metrics.h"
#include "snapshot.h"
#include "state.h"

#define L4_NOFILE_RESERVE 128 /* descriptors kept for listeners, pipes, checks, logs */

struct l4_proc {
	struct l4_state st;
	struct snap_slot slot; /* the current struct l4_config */
	struct metrics_reg *reg;
	struct alog *alog; /* NULL: access log off */
	unsigned n_workers;
	unsigned health_writer;		  /* metrics writer of the health thread */
	unsigned main_writer;		  /* ... of the main thread */
	unsigned admin_writer;		  /* ... of the admin thread */
	char id_prefix[L4_NODE_MAX + 24]; /* "node-<start µs, hex>" */
	struct l4_ring_cfg ring;	  /* values the workers were started with */
	uint32_t listen_backlog;
	unsigned long nofile;	    /* soft RLIMIT_NOFILE after raising it */
	bool force_debug;	    /* -d: keep debug logging across reloads */
	_Atomic uint32_t max_conns; /* global limit of the current snapshot */
	atomic_bool draining;	    /* SIGTERM: listeners drop new SYNs (drain.h) */
	/* When the drain began (log_now_ms), for `show stats`. */
	_Atomic uint64_t drain_start_ms;

	/* Reload requests from the admin thread, served by main. */
	pthread_mutex_t reload_lock;
	pthread_cond_t reload_done;
	uint64_t reload_seq; /* reloads finished */
	int reload_rc;	     /* of the last one */
	char reload_msg[CFG_ERR_MAX + 64];
	pthread_t main_thread;
};

/* Sets up `p` for `n_workers` workers (metrics registry with one writer per
 * worker plus health, main and admin; the registry; the slot). 0 or -errno. */
int l4_proc_init(struct l4_proc *p, unsigned n_workers, const char *node);
/* Frees what l4_proc_init made; every other thread must be stopped. */
void l4_proc_fini(struct l4_proc *p);

/* The current snapshot with a reference (snap_put(&c->hdr) it), or NULL. */
struct l4_config *l4_proc_config(struct l4_proc *p);

/* Gives every listen address of `c` one socket per worker: the ones `old`
 * (may be NULL) already has are reused, new ones are opened (SO_REUSEPORT,
 * IP_FREEBIND). On failure closes what it opened, sets err and returns
 * -errno; nothing of `old` is touched. */
int l4_proc_open_listeners(struct l4_proc *p, struct l4_config *c, const struct l4_config *old,
			   struct cfg_err *err);

/* Publishes attached snapshot `c` (taking the caller's reference), rebuilds
 * its balancers against the latest health, retires the series of what it
 * no longer names, and tells the workers (when they run). */
void l4_proc_publish(struct l4_proc *p, struct l4_config *c, bool workers_running);

/* SIGHUP: parse, validate, attach, open new listeners, publish; on any
 * failure log it with FILE:LINE and keep the running snapshot. Wakes admin
 * `reload` waiters with the verdict. Returns 0 or -errno. */
int l4_proc_reload(struct l4_proc *p);

#endif
