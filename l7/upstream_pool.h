/* The keep-alive pool of idle upstream connections of one server, shared by
 * every worker thread.
 *
 * Why shared: with per-worker pools a request lands on a worker that has no
 * idle connection while another worker holds several (Cloudflare measured
 * reuse going from 87 % to 99.9 % once their pool was shared). A file
 * descriptor is process-wide, so an idle connection is just (fd, requests
 * served, idle since): any worker's ring can use it. Workers keep their most
 * recently used connections in a short local list first (no lock, recv
 * still armed: upstream.c) and move those idle longer than
 * L7_POOL_LOCAL_IDLE_MS here, where every worker finds them.
 *
 * Taking checks the socket with recv(MSG_PEEK|MSG_DONTWAIT): a connection
 * the server closed (EOF, reset) or that holds unexpected bytes is closed
 * and the next one tried, so a stale connection is rarely handed out; one
 * that fails anyway before any response byte is retried on a fresh
 * connection by the exchange. Entries past idle_timeout are closed on take
 * and by l7_pool_sweep(). A mutex guards the stack: it is held for a few
 * loads and stores, and only when the local list could not serve.
 */
#ifndef STRATA_L7_UPSTREAM_POOL_H
#define STRATA_L7_UPSTREAM_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define L7_POOL_LOCAL_IDLE_MS 200  /* local idle connections move to the shared pool after */
#define L7_POOL_MAX_IDLE      4096 /* ceiling of max_idle_per_server */

struct l7_pool_entry {
	int fd;
	uint32_t requests; /* served on this connection so far */
	uint64_t since_ms; /* idle since (CLOCK_MONOTONIC ms) */
};

struct l7_pool {
	pthread_mutex_t lock;
	struct l7_pool_entry *e; /* stack: the most recently idle on top */
	uint32_t n, cap;
	atomic_uint max_idle; /* from the newest config */
	atomic_uint idle_timeout_ms;
	/* counters (relaxed), for `show servers` and tests */
	atomic_ulong taken, stale, expired;
};

int l7_pool_init(struct l7_pool *p);
/* Closes every idle connection and frees the stack. */
void l7_pool_fini(struct l7_pool *p);

/* Takes the most recently idle live connection: returns its fd and sets
 * *requests, or -1 when none. Closes stale and expired entries met on the
 * way. */
int l7_pool_take(struct l7_pool *p, uint64_t now_ms, uint32_t *requests);

/* Offers an idle connection (no request of any ring pending on it). Returns
 * true when kept; false when the pool is full (the caller closes fd). */
bool l7_pool_put(struct l7_pool *p, int fd, uint32_t requests, uint64_t now_ms);

/* Closes entries idle longer than the timeout; returns how many. */
unsigned l7_pool_sweep(struct l7_pool *p, uint64_t now_ms);

/* Closes every idle connection (server put in maintenance, removed, or
 * descriptors ran out: uconn.c); returns how many. */
unsigned l7_pool_flush(struct l7_pool *p);

unsigned l7_pool_idle(struct l7_pool *p);

/* True when the socket looks reusable: no EOF, no error, no unread bytes. */
bool l7_pool_fd_alive(int fd);

#endif
