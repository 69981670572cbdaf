/* strata-echo's worker threads: one epoll loop each, with its own
 * SO_REUSEPORT listeners, connections, timers and counters (shared-nothing;
 * the only shared writes are the connection serial and the stop flag).
 *
 * struct echo_server is owned by main(); each worker owns its listener fds,
 * its epoll and wake fds, and every connection in its slot table.
 */
#ifndef STRATA_ECHO_WORKER_H
#define STRATA_ECHO_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "echo_http.h"
#include "echo_timer.h"

#define ECHO_MAX_LISTENERS 16
#define ECHO_MAX_WORKERS   64

struct echo_conn;

/* Written only by the owning worker (relaxed atomics), summed by anyone. */
struct echo_counters {
	uint64_t conns_total;
	uint64_t conns_closed;
	uint64_t requests;
};

struct echo_server {
	char *name_json; /* the server name as a quoted JSON string */
	size_t name_json_len;
	unsigned nworkers;
	struct echo_worker *workers;
	uint64_t next_conn_id; /* atomic */
};

struct echo_worker {
	struct echo_server *srv;
	unsigned index;
	pthread_t thread;
	int epfd, wakefd;
	int listen_fds[ECHO_MAX_LISTENERS];
	unsigned nlisten;
	bool accept_paused;
	uint64_t accept_resume_ms;
	/* Connection slots: structs live until the worker ends; a slot's
	 * generation changes on every release so stale events are dropped. */
	struct echo_conn **slots;
	uint32_t nslots, cap_slots, free_head;
	struct echo_conn *ready; /* connections to drive again next turn */
	struct echo_timer_heap timers;
	struct echo_counters ctr;
	uint64_t now_ms;
	time_t date_sec;
	char date[48]; /* "Date: IMF-fixdate\r\n" */
	size_t date_len;
	int stop;		  /* atomic */
	struct echo_http_req req; /* the request head being handled */
};

/* Prepares worker `index`, taking ownership of the n listener fds (closed
 * by echo_worker_destroy(), even when this fails). Returns 0 or -errno. */
int echo_worker_init(struct echo_worker *w, struct echo_server *srv, unsigned index,
		     const int *listen_fds, unsigned n);

/* Starts / stops (from another thread) / waits for the worker thread. */
int echo_worker_start(struct echo_worker *w);
void echo_worker_stop(struct echo_worker *w);
void echo_worker_join(struct echo_worker *w);

/* Closes every connection and fd and frees the worker's memory. */
void echo_worker_destroy(struct echo_worker *w);

/* A connection slot for a new connection, or NULL when out of memory. */
struct echo_conn *echo_worker_conn_alloc(struct echo_worker *w);
/* Returns a slot; bumps its generation. */
void echo_worker_conn_release(struct echo_worker *w, struct echo_conn *c);
/* Queues c to be driven again after this loop turn (fairness). */
void echo_worker_defer(struct echo_worker *w, struct echo_conn *c);

/* epoll user data for a connection: kind, slot and generation. */
uint64_t echo_worker_conn_key(const struct echo_conn *c);

/* Increments a counter only the owner writes (a release store, so readers
 * see counters in the order they were bumped). */
static inline void echo_counter_inc(uint64_t *ctr)
{
	__atomic_store_n(ctr, __atomic_load_n(ctr, __ATOMIC_RELAXED) + 1, __ATOMIC_RELEASE);
}

/* Sums every worker's counters. Safe from any worker thread. */
void echo_server_counters(const struct echo_server *srv, struct echo_counters *out);

#endif
