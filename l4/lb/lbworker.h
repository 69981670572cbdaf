/* One strata-l4 worker thread: its loop, its listeners, its connections,
 * its splice pipes and its counters (shared-nothing, DESIGN.md).
 *
 * Ownership: struct l4_worker is created on the worker thread by
 * l4_worker_init() (the worker.h init callback) and freed by
 * l4_worker_fini(). It owns its listener sockets (handed over by main in
 * each snapshot's l4_listen.fds[index]), its connection pool, its send
 * vectors, the per-buffer queue links, the pipe pool and its access-log
 * writer. Other threads talk to it only through loop_post().
 */
#ifndef STRATA_L4_LBWORKER_H
#define STRATA_L4_LBWORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "alog.h"
#include "conn.h"
#include "loop.h"
#include "metrics.h"
#include "snapshot.h"
#include "timer.h"

struct l4_proc;
struct l4_config;

#define L4_TICK_MS	 100		/* access-log flush, paused-accept re-check */
#define L4_SPLICE_CHUNK	 (256u * 1024)	/* pipe capacity; one splice at most */
#define L4_SPLICE_BUDGET (1024u * 1024) /* per direction and turn, then resume later */
#define L4_CONN_CHUNK	 256		/* connections allocated at a time */
#define L4_OP_ACCEPT	 0u		/* the listener slot's only op */
/* Clients accepted over a limit (multishot accept raced the pause) wait
 * here for a free place; beyond this many they are refused with a RST. */
#define L4_PENDING_MAX 256

/* Why a listener does not accept right now. */
enum {
	L4_LP_LIMIT = 1u << 0,	/* a connection limit is reached */
	L4_LP_FD = 1u << 1,	/* EMFILE/ENFILE: wait for descriptors */
	L4_LP_CLOSING = 1u << 2 /* removed by a reload, or draining */
};

struct l4_listener {
	struct l4_listener *next;
	struct l4_worker *w;
	int id; /* loop slot */
	int fd; /* owned; closed in on_free */
	struct addr addr;
	int svc_idx;		  /* in the worker's current snapshot; -1: none */
	const struct addr *local; /* in that snapshot, NULL for a wildcard address */
	bool armed;		  /* an accept is in flight */
	bool cancelling;
	uint8_t paused; /* L4_LP_* */
};

struct l4_pipe {
	int rfd, wfd;
};

struct l4_pipes {
	struct l4_pipe *p;
	int *free; /* stack of free indexes */
	unsigned cap, n, n_free;
};

struct l4_worker {
	struct l4_proc *proc;
	struct loop *loop;
	unsigned index;
	struct metrics_worker *mw;
	struct l4_config *cfg; /* current snapshot, one reference */
	uint64_t cfg_gen;
	struct l4_listener *listeners;
	unsigned n_lslots;    /* listener slots not yet freed */
	struct l4_conn *live; /* every open connection */
	unsigned n_live;
	struct l4_conn *free_conns;
	void **chunks; /* connection pool memory */
	unsigned n_chunks, cap_chunks;
	struct l4_sendv *free_sv;
	uint16_t *bnext; /* per provided buffer: next in its queue */
	uint32_t *blen;	 /* per provided buffer: bytes it holds */
	unsigned buf_size;
	struct l4_pipes pipes;
	struct l4_conn *resume; /* splice directions to go on next turn */
	struct timer resume_timer;
	struct alog_writer *alog;
	uint64_t seq;
	bool draining;
	struct l4_pending {
		int fd;
		unsigned svc_idx;
		uint64_t cfg_gen;
		const struct addr *local;
	} pend[L4_PENDING_MAX];
	unsigned n_pend;
	struct timer tick;
	uint32_t m_bufs_free, m_parked, m_enobufs, m_conns, m_turns; /* per-worker series */
	uint64_t fd_retry_ms; /* EMFILE back-off: retry accepting after this */
};

/* worker.h callbacks; `arg` is the struct l4_proc. */
int l4_worker_init(struct loop *loop, unsigned index, void *arg);
void l4_worker_fini(struct loop *loop, unsigned index, void *arg);

/* The calling worker thread's state. */
struct l4_worker *l4_worker_self(void);

/* Posted by main after publishing a snapshot: adopt it and reconcile the
 * listeners (open the new ones' sockets, close the removed ones). */
void l4_worker_on_config(struct loop *loop, void *arg);

/* Posted by main on SIGTERM: listeners drop new SYNs (drain.h), keep
 * accepting what completed, keep connections. */
void l4_worker_on_drain(struct loop *loop, void *arg);

/* Posted by a worker that reached a connection limit: re-check ours. */
void l4_worker_on_limits(struct loop *loop, void *arg);

/* An accepted client over a limit: queue it (refuse when the queue is full). */
void l4_worker_defer(struct l4_worker *w, unsigned svc_idx, int fd, const struct addr *local);
/* True when clients of service `svc_idx` wait in the queue (they go first). */
bool l4_worker_has_pending(const struct l4_worker *w, unsigned svc_idx);
/* Serves queued clients while the limits allow, oldest first. */
void l4_worker_serve_pending(struct l4_worker *w);

/* Posted by main when the drain timeout ends: close what is still open. */
void l4_worker_on_kill(struct loop *loop, void *arg);

/* Connection pool and send vectors (lbworker.c). */
struct l4_conn *l4_worker_conn_get(struct l4_worker *w);
void l4_worker_conn_put(struct l4_worker *w, struct l4_conn *c);
struct l4_sendv *l4_worker_sendv_get(struct l4_worker *w);
void l4_worker_sendv_put(struct l4_worker *w, struct l4_sendv *sv);

/* A connection closed on this worker: resume listeners paused by limits. */
void l4_worker_conn_closed(struct l4_worker *w);

/* listener.c ------------------------------------------------------------------- */

/* Adopts `fd` (listening on `addr`) for service `svc_idx` and arms accept. */
int l4_listener_add(struct l4_worker *w, int fd, const struct addr *addr, int svc_idx);
/* The destination a PROXY header names for this listen address: the
 * address itself, or NULL for a wildcard (then each socket is asked). */
const struct addr *l4_listen_local(const struct addr *a);
/* Stops accepting, closes the socket, frees the listener (via on_free). */
void l4_listener_remove(struct l4_listener *l);
/* Sets or clears a pause reason; cancels or re-arms the accept to match. */
void l4_listener_pause(struct l4_listener *l, unsigned reason, bool on);
/* True when a new connection of service `svc_idx` is within the limits. */
bool l4_limits_allow(struct l4_worker *w, unsigned svc_idx);
/* Re-checks limits of every listener paused by L4_LP_LIMIT or L4_LP_FD. */
void l4_listeners_recheck(struct l4_worker *w);

/* pipes.c ---------------------------------------------------------------------- */

void l4_pipes_init(struct l4_pipes *pp, unsigned cap);
void l4_pipes_fini(struct l4_pipes *pp);
/* A free pipe's index, creating one if below cap; -1 when none. */
int l4_pipes_get(struct l4_pipes *pp);
/* Returns an empty pipe; `dirty` (bytes left in it) closes it instead. */
void l4_pipes_put(struct l4_pipes *pp, int idx, bool dirty);

#endif
