/* One strata-l7 worker thread: its loop, listeners, connection and exchange
 * pools, buffer references, metrics arena and access-log writer.
 *
 * Shared-nothing: everything here is touched only by its worker's thread,
 * except struct l7_proc (process-wide flags and counters, atomics) and the
 * upstream state in upstream.h. Connections and upstream connections come
 * from per-worker free lists that grow in chunks and never shrink;
 * exchanges from a free list that the housekeeping tick shrinks by what
 * went unused, so the request path does not call malloc under a steady
 * load and a burst does not stay allocated.
 */
#ifndef STRATA_L7_WORKER_H
#define STRATA_L7_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "alog.h"
#include "loop.h"
#include "metrics.h"
#include "timer.h"

#include "l7_buf.h"
#include "runtime.h"

struct l7_conn;
struct l7_exchange;
struct l7_uconn;

#define L7_TICK_MS     100 /* housekeeping: access log, local idle pool moves */
#define L7_ALLOC_CHUNK 64  /* objects allocated at once when a free list is empty */
#define L7_X_FREE_MAX  1024 /* free exchanges a worker may keep (ticks trim them) */
#define L7_X_FREE_KEEP 16  /* kept however long they stay unused */
#define L7_TRIM_MS     200 /* malloc_trim() at most this often, after bursts */
#define L7_LSLOTS      (L7_MAX_LSOCKS * 4)

/* Accepting paused for want of descriptors or memory (l7_worker.c). */
#define L7_ACCEPT_PAUSE_MIN_MS 100  /* first pause after EMFILE/ENFILE/ENOBUFS/ENOMEM */
#define L7_ACCEPT_PAUSE_MAX_MS 1000 /* pauses double up to this while accepting fails */

/* Process-wide state, written by the main thread, read by workers. */
struct l7_proc {
	atomic_uint nconns;	  /* client connections open, every worker */
	atomic_bool draining;	  /* SIGTERM: stop accepting, finish, exit */
	atomic_bool health_drain; /* admin "drain": LOCAL health answers 503 */
	atomic_uint busy_workers; /* workers with connections left while draining */
	struct alog *alog;	  /* NULL: access log off */
	unsigned workers;
};

extern struct l7_proc l7_proc;

struct l7_listen_slot {
	struct l7_worker *w;
	int slot; /* -1: not armed */
	int fd;
	uint32_t li; /* listener index in the generation that armed it */
	bool paused; /* accept not re-armed: out of descriptors (l7_worker.c) */
};

struct l7_worker {
	struct loop *loop;
	unsigned index;
	struct l7_gen *gen; /* current generation (one reference) */
	uint32_t gen_users; /* exchanges running on gen */
	/* Older generations exchanges still run on: the worker keeps its
	 * reference until their count drops to zero, so an exchange costs no
	 * atomic operation on the shared refcount. */
	struct l7_retired {
		struct l7_gen *g;
		uint32_t users;
	} * retired;
	uint32_t n_retired, cap_retired;
	struct l7_bufs bufs;
	struct metrics_worker *mw;
	struct alog_writer *alog;
	struct timer tick;
	struct timer flush_t; /* fallback of the turn hook (l7_worker.c on_turn_end) */
	struct l7_exchange *flush_list;
	struct l7_conn *kick_list;	     /* connections with end-of-turn work (l7_conn_kick) */
	bool pbuf_starved;		     /* a TLS connection found no private buffer */
	struct timer accept_t;		     /* resumes paused listeners */
	uint32_t accept_backoff_ms;	     /* the last pause; 0: none since an accept worked */
	bool accept_paused;		     /* some listener waits for accept_t */
	struct l7_listen_slot ls[L7_LSLOTS]; /* by lsock id */
	struct l7_conn *conns;		     /* every open client connection */
	struct l7_conn *conn_free;
	struct l7_exchange *x_free;
	uint32_t n_x_free;
	uint32_t x_free_low; /* fewest free exchanges since the last tick */
	bool x_destroyed;    /* exchanges freed since the last trim */
	uint64_t last_trim_ms;
	struct l7_uconn *u_free;
	uint32_t nconns;
	uint32_t nuconns; /* upstream connections with a slot */
	uint32_t nlisten; /* listener slots not freed yet */
	void **chunks;	  /* pool allocations, freed at exit */
	uint32_t n_chunks, cap_chunks;
	uint64_t conn_seq;
	bool draining;
	bool drain_done; /* reported to main */
};

/* worker_params init/fini callbacks (arg unused). */
int l7_worker_init(struct loop *loop, unsigned index, void *arg);
void l7_worker_fini(struct loop *loop, unsigned index, void *arg);

/* The calling worker thread's state. */
struct l7_worker *l7_worker_self(void);

/* Posted by the main thread: switch to the generation in the slot. */
void l7_worker_on_reload(struct loop *loop, void *arg);
/* Posted by the main thread on SIGTERM. */
void l7_worker_on_drain(struct loop *loop, void *arg);

/* Object pools. NULL on ENOMEM. */
struct l7_conn *l7_worker_conn_alloc(struct l7_worker *w);
void l7_worker_conn_free(struct l7_worker *w, struct l7_conn *c);
struct l7_exchange *l7_worker_x_alloc(struct l7_worker *w);
void l7_worker_x_free(struct l7_worker *w, struct l7_exchange *x);
/* Housekeeping: frees the free exchanges that stayed unused since the
 * last call, keeping at least L7_X_FREE_KEEP. */
void l7_worker_x_shrink(struct l7_worker *w);
struct l7_uconn *l7_worker_u_alloc(struct l7_worker *w);
void l7_worker_u_free(struct l7_worker *w, struct l7_uconn *u);

/* The generation an exchange runs on: the current one, counted locally. */
struct l7_gen *l7_worker_gen_hold(struct l7_worker *w);
void l7_worker_gen_release(struct l7_worker *w, struct l7_gen *g);

/* True when workers 0..n-1 all run `generation` or a newer one. */
bool l7_workers_on(uint64_t generation, unsigned n);

/* The pause after an accept failed for want of descriptors or memory,
 * given the previous one (0: none since an accept worked): 100 ms, then
 * doubling up to 1 s. */
uint32_t l7_accept_backoff_next(uint32_t ms);

/* A connection closed: when draining and none is left, tell main; resumes
 * listeners paused for want of descriptors. */
void l7_worker_conn_gone(struct l7_worker *w);

#endif
