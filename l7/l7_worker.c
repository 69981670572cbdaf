/* strata-l7 worker threads (worker.h): start-up on the worker's own thread,
 * listeners per generation, reload and drain posts, object pools, the
 * housekeeping tick. */
#include "l7_worker.h"

#include <assert.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asan.h"
#include "log.h"
#include "worker.h"

#include "client.h"
#include "conn_h2.h"
#include "conn_tls.h"
#include "exchange.h"
#include "l7_metrics.h"
#include "route.h"
#include "uconn.h"

struct l7_proc l7_proc;

static __thread struct l7_worker *tl_self;
/* Generation each worker runs, for reloads that wait until all do. */
static _Atomic uint64_t applied[WORKER_MAX];

bool l7_workers_on(uint64_t generation, unsigned n)
{
	for (unsigned i = 0; i < n && i < WORKER_MAX; i++)
		if (atomic_load(&applied[i]) < generation)
			return false;
	return true;
}

struct l7_worker *l7_worker_self(void)
{
	return tl_self;
}

/* --- pools --------------------------------------------------------------------- */

/* Remembers a pool allocation so the worker can free it at exit. */
static int keep_chunk(struct l7_worker *w, void *p)
{
	if (w->n_chunks == w->cap_chunks) {
		uint32_t cap = w->cap_chunks ? 2 * w->cap_chunks : 16;
		void **c = realloc(w->chunks, cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		w->chunks = c;
		w->cap_chunks = cap;
	}
	w->chunks[w->n_chunks++] = p;
	return 0;
}

#define POOL_GROW(w, head, type, link)                                                             \
	do {                                                                                       \
		type *a__ = calloc(L7_ALLOC_CHUNK, sizeof(type));                                  \
		if (!a__ || keep_chunk(w, a__) < 0) {                                              \
			free(a__);                                                                 \
			return NULL;                                                               \
		}                                                                                  \
		for (unsigned i__ = 0; i__ < L7_ALLOC_CHUNK; i__++) {                              \
			a__[i__].link = (w)->head;                                                 \
			(w)->head = &a__[i__];                                                     \
		}                                                                                  \
	} while (0)

/* Chunks are never returned: the pools only grow to the peak, which is what
 * a proxy sized for that peak needs anyway, and no request path frees. */
struct l7_conn *l7_worker_conn_alloc(struct l7_worker *w)
{
	struct l7_conn *c;

	if (!w->conn_free)
		POOL_GROW(w, conn_free, struct l7_conn, next);
	c = w->conn_free;
	asan_unpark(c, sizeof(*c));
	w->conn_free = c->next;
	return c;
}

void l7_worker_conn_free(struct l7_worker *w, struct l7_conn *c)
{
	c->next = w->conn_free;
	w->conn_free = c;
	asan_park_but(c, sizeof(*c), c->next);
}

/* Exchanges are large (two parsed heads, head buffers): the free list
 * keeps what the load used lately, so the ups and downs of a steady load
 * (50 connections answered in bursts of a few dozen per turn) need no
 * calloc of 11 KiB, while a burst of concurrent requests does not leave
 * its peak allocated for good: each tick frees the exchanges that stayed
 * unused since the last one (x_free_low), down to L7_X_FREE_KEEP. */
static void x_destroy(struct l7_exchange *x)
{
	free(x->out_up);
	free(x->out_cl);
	free(x->hcopy);
	free(x);
}

struct l7_exchange *l7_worker_x_alloc(struct l7_worker *w)
{
	struct l7_exchange *x = w->x_free;

	if (!x)
		return calloc(1, sizeof(*x));
	asan_unpark(x, sizeof(*x));
	w->x_free = x->next_free;
	if (--w->n_x_free < w->x_free_low)
		w->x_free_low = w->n_x_free;
	return x;
}

void l7_worker_x_shrink(struct l7_worker *w)
{
	uint32_t excess = w->x_free_low > L7_X_FREE_KEEP ? w->x_free_low - L7_X_FREE_KEEP : 0;

	for (; excess && w->x_free; excess--) {
		struct l7_exchange *x = w->x_free;

		asan_unpark(x, sizeof(*x));
		w->x_free = x->next_free;
		w->n_x_free--;
		x_destroy(x);
		w->x_destroyed = true;
	}
	w->x_free_low = w->n_x_free;
}

void l7_worker_x_free(struct l7_worker *w, struct l7_exchange *x)
{
	if (w->n_x_free >= L7_X_FREE_MAX) {
		x_destroy(x);
		w->x_destroyed = true;
		return;
	}
	x->next_free = w->x_free;
	w->x_free = x;
	w->n_x_free++;
	asan_park_but(x, sizeof(*x), x->next_free);
}

struct l7_uconn *l7_worker_u_alloc(struct l7_worker *w)
{
	struct l7_uconn *u;

	if (!w->u_free)
		POOL_GROW(w, u_free, struct l7_uconn, next);
	u = w->u_free;
	asan_unpark(u, sizeof(*u));
	w->u_free = u->next;
	return u;
}

void l7_worker_u_free(struct l7_worker *w, struct l7_uconn *u)
{
	u->next = w->u_free;
	w->u_free = u;
	asan_park_but(u, sizeof(*u), u->next);
}

/* --- listeners ------------------------------------------------------------------- */

/* Out of descriptors (EMFILE, ENFILE) or of kernel memory (ENOBUFS, ENOMEM)
 * an accept fails and its multishot request ends while the connection stays
 * in the backlog: re-arming at once fails again at once, a busy loop for as
 * long as the backlog holds a connection. Such a listener pauses instead;
 * the worker's paused listeners resume after accept_backoff_ms (100 ms,
 * doubling up to 1 s while accepting keeps failing), or as soon as a client
 * connection of the worker closes (l7_worker_conn_gone): that freed a
 * descriptor. One pause counts once, however many listeners it stopped. */
static int pause_reason(int err)
{
	switch (err) {
	case -EMFILE:
		return L7M_PAUSE_EMFILE;
	case -ENFILE:
		return L7M_PAUSE_ENFILE;
	case -ENOBUFS:
	case -ENOMEM:
		return L7M_PAUSE_MEMORY;
	default:
		return -1;
	}
}

uint32_t l7_accept_backoff_next(uint32_t ms)
{
	if (ms < L7_ACCEPT_PAUSE_MIN_MS)
		return L7_ACCEPT_PAUSE_MIN_MS;
	return ms >= L7_ACCEPT_PAUSE_MAX_MS / 2 ? L7_ACCEPT_PAUSE_MAX_MS : 2 * ms;
}

static void accept_arm(struct l7_worker *w, struct l7_listen_slot *ls)
{
	int ret = loop_prep_accept(w->loop, ls->slot, 0, ls->fd);

	if (ret < 0 && ret != -ECANCELED) /* -ECANCELED: the loop is stopping */
		log_err("worker %u: cannot re-arm accept: %s", w->index, strerror(-ret));
}

static void accept_pause(struct l7_worker *w, struct l7_listen_slot *ls, int err, int reason)
{
	ls->paused = true;
	if (w->accept_paused)
		return;
	w->accept_paused = true;
	w->accept_backoff_ms = l7_accept_backoff_next(w->accept_backoff_ms);
	metrics_inc(w->mw, l7m.accept_paused[reason]);
	log_rl(LOG_LVL_WARN, "worker %u: accept: %s: accepting paused for %u ms", w->index,
	       strerror(-err), w->accept_backoff_ms);
	loop_timer_arm(w->loop, &w->accept_t, w->accept_backoff_ms);
}

static void accept_resume(struct l7_worker *w)
{
	w->accept_paused = false;
	loop_timer_cancel(w->loop, &w->accept_t);
	for (uint32_t id = 0; id < L7_LSLOTS; id++) {
		struct l7_listen_slot *ls = &w->ls[id];

		if (!ls->paused)
			continue;
		ls->paused = false;
		if (ls->slot >= 0 && !w->draining)
			accept_arm(w, ls);
	}
}

static void on_accept_timer(struct loop *loop, struct timer *t)
{
	accept_resume(timer_owner(t, struct l7_worker, accept_t));
}

static void l_on_cqe(struct loop *loop, void *obj, unsigned op, const struct io_uring_cqe *cqe)
{
	struct l7_listen_slot *ls = obj;
	struct l7_worker *w = ls->w;
	int reason = -1;

	if (cqe->res >= 0) {
		w->accept_backoff_ms = 0;
		if (w->draining || ls->slot < 0)
			close(cqe->res);
		else
			l7_conn_accept(w, ls->li, cqe->res);
	} else if ((reason = pause_reason(cqe->res)) < 0 && cqe->res != -ECANCELED &&
		   cqe->res != -EAGAIN) {
		log_rl(LOG_LVL_WARN, "accept: %s", strerror(-cqe->res));
	}
	if (loop_cqe_more(cqe) || ls->slot < 0 || w->draining || ls->paused)
		return;
	if (reason >= 0)
		accept_pause(w, ls, cqe->res, reason);
	else
		accept_arm(w, ls);
}

static void l_on_free(struct loop *loop, void *obj)
{
	struct l7_listen_slot *ls = obj;

	close(ls->fd);
	ls->fd = -1;
	ls->w->nlisten--;
}

static const struct loop_ops l_ops = {.on_cqe = l_on_cqe, .on_free = l_on_free};

static void listener_close(struct l7_worker *w, struct l7_listen_slot *ls)
{
	int slot = ls->slot;

	if (slot < 0)
		return;
	ls->slot = -1;
	ls->paused = false;
	loop_prep_cancel_slot(w->loop, slot);
	loop_slot_close(w->loop, slot);
}

/* Arms the listeners of w->gen not armed yet, closes those it dropped. */
static int listeners_sync(struct l7_worker *w)
{
	bool used[L7_LSLOTS] = {false};
	struct l7_gen *g = w->gen;

	for (uint32_t i = 0; i < g->cfg->n_listeners; i++) {
		for (uint32_t k = 0; k < L7_MAX_LISTEN_ADDRS && g->lst[i].socks[k]; k++) {
			struct l7_lsock *s = g->lst[i].socks[k];
			struct l7_listen_slot *ls = &w->ls[s->id];

			used[s->id] = true;
			ls->li = i;
			if (ls->slot >= 0)
				continue;
			ls->fd = s->fds[w->index];
			s->armed[w->index] = true;
			ls->slot = loop_slot_open(w->loop, &l_ops, ls);
			if (ls->slot < 0)
				return ls->slot;
			w->nlisten++;
			if (loop_prep_accept(w->loop, ls->slot, 0, ls->fd) < 0)
				return -EBUSY;
		}
	}
	for (uint32_t id = 0; id < L7_LSLOTS; id++)
		if (!used[id] && w->ls[id].slot >= 0)
			listener_close(w, &w->ls[id]);
	return 0;
}

/* --- housekeeping ---------------------------------------------------------------------- */

/* A TLS connection found every private buffer taken: retry the starved
 * ones from the housekeeping tick (rare: 8192 buffers of 16 KiB). */
static void unstarve(struct l7_worker *w)
{
	w->pbuf_starved = false;
	for (struct l7_conn *c = w->conns; c; c = c->next)
		if (c->tls && c->tls->starved)
			l7_conn_kick(c);
}

static void on_tick(struct loop *loop, struct timer *t)
{
	struct l7_worker *w = timer_owner(t, struct l7_worker, tick);

	if (w->alog)
		alog_tick(w->alog, log_now_ms());
	l7_uconn_tick(w, false);
	if (w->pbuf_starved)
		unstarve(w);
	l7_worker_x_shrink(w);
	/* After a burst: give the freed exchanges' pages back (glibc keeps
	 * freed heap memory otherwise), at most every L7_TRIM_MS, off the
	 * request path. */
	if (w->x_destroyed && loop_now_ms(loop) - w->last_trim_ms >= L7_TRIM_MS) {
		w->x_destroyed = false;
		w->last_trim_ms = loop_now_ms(loop);
		malloc_trim(0);
	}
	loop_timer_arm(loop, &w->tick, L7_TICK_MS);
}

static void flush_all(struct l7_worker *w)
{
	struct l7_exchange *x;

	while ((x = w->flush_list) != NULL) {
		w->flush_list = x->flush_next;
		l7_x_flush_client(x);
	}
}

static void kick_all(struct l7_worker *w)
{
	struct l7_conn *c;

	while ((c = w->kick_list) != NULL) {
		w->kick_list = c->kick_next;
		c->flags &= (uint8_t)~L7_CF_KICK;
		l7_conn_on_kick(c);
	}
}

/* Passes over the end-of-turn lists: an HTTP/2 connection's output pass
 * can resume streams (new exchange sends), and an exchange's send can
 * kick its connection; more than a few rounds go to the next turn. */
#define L7_FLUSH_ROUNDS 8

static void flush_rounds(struct l7_worker *w)
{
	for (int i = 0; i < L7_FLUSH_ROUNDS && (w->flush_list || w->kick_list); i++) {
		flush_all(w);
		kick_all(w);
	}
	/* Work left after the rounds: the timer bounds the next turn's wait
	 * (the hook alone would run only once some completion ends it). */
	if (w->flush_list || w->kick_list)
		loop_timer_arm(w->loop, &w->flush_t, 0);
	else
		loop_timer_cancel(w->loop, &w->flush_t);
}

/* The loop's end-of-turn hook: submits every client send the turn's
 * completions queued, each batch as large as it got, and gives each
 * kicked connection (TLS decryption that waited for room, HTTP/2 frames
 * of every stream answered this turn) one pass, before the loop's next
 * submit. It used to be a zero-delay timer, which the wheel fires at the
 * next millisecond at the earliest: responses waited up to 1 ms (about
 * half of the small-request latency) and turns did less each. */
static void on_turn_end(struct loop *loop, void *arg)
{
	struct l7_worker *w = arg;

	if (w->flush_list || w->kick_list)
		flush_rounds(w);
}

/* Armed by kicks and by flush_rounds() when work is left: normally the
 * turn hook has done everything before it fires. */
static void on_flush(struct loop *loop, struct timer *t)
{
	flush_rounds(timer_owner(t, struct l7_worker, flush_t));
}

int l7_worker_init(struct loop *loop, unsigned index, void *arg)
{
	struct l7_worker *w = calloc(1, sizeof(*w));
	int ret;

	if (!w)
		return -ENOMEM;
	w->loop = loop;
	w->index = index;
	for (unsigned i = 0; i < L7_LSLOTS; i++)
		w->ls[i] = (struct l7_listen_slot){.w = w, .slot = -1, .fd = -1};
	ret = l7_bufs_init(&w->bufs, loop_bufring(loop));
	if (ret < 0)
		return ret;
	w->mw = metrics_worker(l7m.reg, index);
	if (l7_proc.alog && !(w->alog = alog_worker_new(l7_proc.alog)))
		return -ENOMEM;
	w->gen = (struct l7_gen *)snap_slot_acquire(&l7_gen_slot);
	if (!w->gen)
		return -EINVAL;
	atomic_store(&applied[index], w->gen->hdr.generation);
	tl_self = w;
	ret = listeners_sync(w);
	if (ret < 0)
		return ret;
	timer_init(&w->tick, on_tick);
	timer_init(&w->flush_t, on_flush);
	timer_init(&w->accept_t, on_accept_timer);
	loop_timer_arm(loop, &w->tick, L7_TICK_MS);
	loop_set_turn_hook(loop, on_turn_end, w);
	return 0;
}

/* Everything the worker allocated, once no slot refers to it any more. */
static void worker_free(struct l7_worker *w)
{
	for (struct l7_exchange *x = w->x_free, *next; x; x = next) {
		asan_unpark(x, sizeof(*x));
		next = x->next_free;
		x_destroy(x);
	}
	for (uint32_t i = 0; i < w->n_chunks; i++) {
		asan_unpark(w->chunks[i], malloc_usable_size(w->chunks[i]));
		free(w->chunks[i]);
	}
	free(w->chunks);
	for (uint32_t i = 0; i < w->n_retired; i++)
		l7_gen_put(w->retired[i].g);
	free(w->retired);
	l7_gen_put(w->gen);
	l7_bufs_fini(&w->bufs);
	free(w);
}

void l7_worker_fini(struct loop *loop, unsigned index, void *arg)
{
	struct l7_worker *w = tl_self;

	if (!w)
		return;
	loop_set_turn_hook(loop, NULL, NULL); /* w is freed below */
	loop_timer_cancel(loop, &w->tick);
	loop_timer_cancel(loop, &w->flush_t);
	loop_timer_cancel(loop, &w->accept_t);
	flush_all(w); /* the stopping loop runs no timers any more */
	kick_all(w);
	for (struct l7_conn *c = w->conns, *next; c; c = next) {
		next = c->next; /* unlinked only when its slot is freed */
		/* at exit nothing is flushed: the loop runs no timers now */
		c->flags |= L7_CF_DEAD;
		l7_conn_close(c, L7_TERM_DRAIN);
	}
	l7_uconn_tick(w, true);
	for (uint32_t id = 0; id < L7_LSLOTS; id++)
		listener_close(w, &w->ls[id]);
	/* Cancels complete even while the loop drains; on_free runs at the
	 * end of each turn. */
	for (int i = 0; i < 200 && (w->nconns || w->nuconns || w->nlisten); i++) {
		loop_run_once(loop, 10);
		flush_all(w);
		kick_all(w);
	}
	alog_worker_free(w->alog);
	w->alog = NULL;
	l7_route_thread_exit();
	tl_self = NULL;
	if (w->nconns || w->nuconns || w->nlisten) {
		/* loop_destroy() may still call back into them: keep w. */
		log_err("worker %u: %u connections, %u upstream connections, %u listeners still "
			"open at exit",
			w->index, w->nconns, w->nuconns, w->nlisten);
		return;
	}
	worker_free(w);
}

struct l7_gen *l7_worker_gen_hold(struct l7_worker *w)
{
	w->gen_users++;
	return w->gen;
}

void l7_worker_gen_release(struct l7_worker *w, struct l7_gen *g)
{
	if (g == w->gen) {
		w->gen_users--;
		return;
	}
	for (uint32_t i = 0; i < w->n_retired; i++) {
		if (w->retired[i].g != g)
			continue;
		if (--w->retired[i].users == 0) {
			l7_gen_put(g);
			w->retired[i] = w->retired[--w->n_retired];
		}
		return;
	}
	assert(!"exchange generation not held by its worker");
}

/* The old generation: dropped now, or kept while exchanges still use it. */
static void retire(struct l7_worker *w, struct l7_gen *old)
{
	if (!w->gen_users) {
		l7_gen_put(old);
		return;
	}
	if (w->n_retired == w->cap_retired) {
		uint32_t cap = w->cap_retired ? 2 * w->cap_retired : 4;
		struct l7_retired *r = realloc(w->retired, cap * sizeof(*r));

		if (!r) {
			/* Keeping the reference forever beats freeing it in use. */
			log_err("worker %u: out of memory retiring a generation", w->index);
			return;
		}
		w->retired = r;
		w->cap_retired = cap;
	}
	w->retired[w->n_retired++] = (struct l7_retired){.g = old, .users = w->gen_users};
}

void l7_worker_on_reload(struct loop *loop, void *arg)
{
	struct l7_worker *w = tl_self;
	struct l7_gen *g = (struct l7_gen *)snap_slot_acquire(&l7_gen_slot), *old;

	if (!g || g == w->gen) {
		l7_gen_put(g);
		return;
	}
	/* Local idle lists belong to the old generation's servers: hand them
	 * to the shared pools, where the new generation finds them. */
	l7_uconn_tick(w, true);
	old = w->gen;
	retire(w, old);
	w->gen = g;
	w->gen_users = 0;
	if (!w->draining && listeners_sync(w) < 0)
		log_err("worker %u: cannot arm the new listeners", w->index);
	/* HTTP/2 clients move to new connections (new certificates, new
	 * listener settings) once the streams in flight are done */
	for (struct l7_conn *c = w->conns; c; c = c->next) {
		if (c->h2 && c->state == L7_CS_H2) {
			l7_ch2_shutdown(c, true);
			l7_conn_kick(c);
		}
	}
	atomic_store(&applied[w->index], g->hdr.generation);
}

void l7_worker_conn_gone(struct l7_worker *w)
{
	if (w->accept_paused)
		accept_resume(w); /* a descriptor is free now */
	if (w->draining && w->nconns == 0 && !w->drain_done) {
		w->drain_done = true;
		atomic_fetch_sub(&l7_proc.busy_workers, 1);
	}
}

void l7_worker_on_drain(struct loop *loop, void *arg)
{
	struct l7_worker *w = tl_self;
	struct l7_conn *c, *next;

	if (w->draining)
		return;
	w->draining = true;
	w->accept_paused = false;
	loop_timer_cancel(loop, &w->accept_t);
	for (uint32_t id = 0; id < L7_LSLOTS; id++)
		listener_close(w, &w->ls[id]);
	for (c = w->conns; c; c = next) {
		next = c->next;
		l7_conn_drain(c);
	}
	l7_uconn_tick(w, true);
	l7_worker_conn_gone(w);
}
