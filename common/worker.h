/* Worker threads, one event loop each, plus the listener and signal helpers
 * every daemon needs around them.
 *
 * Shared-nothing (DESIGN.md "Inside a daemon"): each worker creates its own
 * loop on its own thread (IORING_SETUP_SINGLE_ISSUER requires the creating
 * thread to submit), runs the daemon's init callback there -- where it opens
 * its SO_REUSEPORT listener and arms accept -- and then runs the loop until
 * worker_stop_all(). The main thread keeps the signals: block them with
 * worker_signals_block() before worker_start() and wait for them with
 * worker_signals_wait(). One worker set per process.
 */
#ifndef STRATA_WORKER_H
#define STRATA_WORKER_H

#include <stdbool.h>
#include <sys/socket.h>

#include "loop.h"

#define WORKER_MAX  256u
#define WORKER_NONE (~0u) /* worker_index() outside a worker thread */

struct worker_params {
	unsigned count;	 /* workers; 0 = one per online CPU */
	const int *cpus; /* pin worker i to cpus[i % ncpus]; NULL = no pinning */
	unsigned ncpus;
	struct loop_params loop; /* each worker's loop (zero = defaults) */
	/* On the worker thread, once its loop exists. A negative return fails
	 * worker_start() with that value (every worker is then stopped). */
	int (*init)(struct loop *loop, unsigned index, void *arg);
	/* On the worker thread after loop_run() returned, before the loop is
	 * destroyed (which then calls on_free for slots still open). Optional. */
	void (*fini)(struct loop *loop, unsigned index, void *arg);
	void *arg;
};

/* Starts the workers and waits until each has run init. Returns 0, the
 * first negative init result, or -errno (-EALREADY if already started). */
int worker_start(const struct worker_params *p);

/* Stops every loop (each drains: cancels and reaps what is in flight), runs
 * fini, destroys the loops and joins the threads. A no-op when not started. */
void worker_stop_all(void);

/* Queues fn(loop, arg) on every worker's loop; `arg` is shared, so it must
 * outlive the slowest worker (refcount it). Returns 0 or the first error. */
int worker_post_all(loop_post_fn fn, void *arg);

unsigned worker_count(void);
/* The loop of worker `index` (< worker_count()), for loop_post(). */
struct loop *worker_loop(unsigned index);
/* The calling thread's worker index, or WORKER_NONE. */
unsigned worker_index(void);

enum {
	WORKER_LISTEN_EXCLUSIVE = 1u << 0,   /* no SO_REUSEPORT */
	WORKER_LISTEN_NO_FREEBIND = 1u << 1, /* fail when the address is not local */
	WORKER_LISTEN_DUAL_STACK = 1u << 2,  /* IPv6 socket also takes IPv4 */
};

/* A non-blocking, close-on-exec listening TCP socket (or AF_UNIX stream).
 * By default: SO_REUSEADDR and SO_REUSEPORT (one listener per worker on the
 * same port), IP_FREEBIND / IPV6_FREEBIND (a VIP not yet on this host can
 * be listened on), IPV6_V6ONLY for IPv6, TCP_DEFER_ACCEPT off. Returns the
 * fd or -errno. */
int worker_listen(const struct sockaddr *sa, socklen_t salen, int backlog, unsigned flags);

/* Blocks SIGHUP, SIGTERM, SIGINT and SIGCHLD in the calling thread (threads
 * created later inherit the mask: call it first thing in main()), ignores
 * SIGPIPE, and opens the signalfd worker_signals_wait() reads. Returns 0 or
 * -errno. */
int worker_signals_block(void);

/* Waits up to timeout_ms (-1: forever) for one of the blocked signals.
 * Returns its number, 0 on timeout, or -errno. */
int worker_signals_wait(int timeout_ms);

/* The signalfd, for a main loop that polls other things too; -1 before
 * worker_signals_block(). */
int worker_signals_fd(void);

#endif
