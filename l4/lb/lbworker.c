/* A strata-l4 worker: set-up and tear-down on its own thread, snapshot
 * adoption with listener reconciliation, drain, the connection pool and the
 * per-turn-free tick (lbworker.h).
 */
#include "lbworker.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "drain.h"
#include "log.h"
#include "proc.h"
#include "state.h"
#include "worker.h"

static __thread struct l4_worker *tl_worker;

struct l4_worker *l4_worker_self(void)
{
	return tl_worker;
}

/* --- connection pool and send vectors ------------------------------------ */

static int grow_pool(struct l4_worker *w)
{
	struct l4_conn *chunk;

	if (w->n_chunks == w->cap_chunks) {
		unsigned cap = w->cap_chunks ? 2 * w->cap_chunks : 16;
		void **n = realloc(w->chunks, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		w->chunks = n;
		w->cap_chunks = cap;
	}
	chunk = calloc(L4_CONN_CHUNK, sizeof(*chunk));
	if (!chunk)
		return -ENOMEM;
	w->chunks[w->n_chunks++] = chunk;
	for (unsigned i = 0; i < L4_CONN_CHUNK; i++) {
		chunk[i].next = w->free_conns;
		w->free_conns = &chunk[i];
	}
	return 0;
}

struct l4_conn *l4_worker_conn_get(struct l4_worker *w)
{
	struct l4_conn *c;

	if (!w->free_conns && grow_pool(w) < 0)
		return NULL;
	c = w->free_conns;
	w->free_conns = c->next;
	memset(c, 0, sizeof(*c));
	c->w = w;
	c->next = w->live;
	if (w->live)
		w->live->prev = c;
	w->live = c;
	w->n_live++;
	return c;
}

void l4_worker_conn_put(struct l4_worker *w, struct l4_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		w->live = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_live--;
	c->next = w->free_conns;
	w->free_conns = c;
}

struct l4_sendv *l4_worker_sendv_get(struct l4_worker *w)
{
	struct l4_sendv *sv = w->free_sv;

	if (sv) {
		w->free_sv = sv->next;
		return sv;
	}
	return malloc(sizeof(*sv));
}

void l4_worker_sendv_put(struct l4_worker *w, struct l4_sendv *sv)
{
	sv->next = w->free_sv;
	w->free_sv = sv;
}

void l4_worker_conn_closed(struct l4_worker *w)
{
	l4_listeners_recheck(w);
}

void l4_worker_defer(struct l4_worker *w, unsigned svc_idx, int fd, const struct addr *local)
{
	if (w->n_pend == L4_PENDING_MAX) {
		l4_conn_reject(w, svc_idx, fd);
		return;
	}
	w->pend[w->n_pend++] = (struct l4_pending){fd, svc_idx, w->cfg_gen, local};
}

bool l4_worker_has_pending(const struct l4_worker *w, unsigned svc_idx)
{
	for (unsigned i = 0; i < w->n_pend; i++)
		if (w->pend[i].svc_idx == svc_idx && w->pend[i].cfg_gen == w->cfg_gen)
			return true;
	return false;
}

void l4_worker_serve_pending(struct l4_worker *w)
{
	unsigned i = 0;

	while (i < w->n_pend) {
		struct l4_pending p = w->pend[i];

		if (p.cfg_gen != w->cfg_gen || w->draining) {
			close(p.fd); /* its service may be gone or renumbered */
		} else if (l4_limits_allow(w, p.svc_idx)) {
			l4_conn_accept(w, p.svc_idx, p.fd, p.local);
		} else {
			i++;
			continue;
		}
		memmove(&w->pend[i], &w->pend[i + 1], (w->n_pend - i - 1) * sizeof(w->pend[0]));
		w->n_pend--;
	}
}

void l4_worker_on_limits(struct loop *loop, void *arg)
{
	struct l4_worker *w = tl_worker;

	if (w)
		l4_listeners_recheck(w);
}

/* --- snapshot adoption ------------------------------------------------------ */

static struct l4_listener *find_listener(struct l4_worker *w, int fd)
{
	for (struct l4_listener *l = w->listeners; l; l = l->next)
		if (l->fd == fd)
			return l;
	return NULL;
}

/* Makes the worker's listeners match snapshot `c`: every fd the snapshot
 * lists for this worker is one of ours (new ones are adopted), and ours that
 * it no longer lists are closed. */
static void reconcile(struct l4_worker *w, const struct l4_config *c)
{
	for (struct l4_listener *l = w->listeners; l; l = l->next)
		l->svc_idx = -1;
	for (size_t s = 0; s < c->n_svc; s++) {
		for (size_t a = 0; a < c->svc[s].n_listen; a++) {
			const struct l4_listen *ln = &c->svc[s].listen[a];
			int fd = ln->fds ? ln->fds[w->index] : -1;
			struct l4_listener *l;

			if (fd < 0)
				continue;
			l = find_listener(w, fd);
			if (!l && l4_listener_add(w, fd, &ln->addr, (int)s) < 0) {
				log_err("worker %u: cannot adopt a listener", w->index);
				continue;
			}
			l = l ? l : w->listeners; /* added at the head */
			l->svc_idx = (int)s;
			l->local = l4_listen_local(&ln->addr);
		}
	}
	for (struct l4_listener *l = w->listeners, *next; l; l = next) {
		next = l->next;
		if (l->svc_idx < 0)
			l4_listener_remove(l);
	}
	l4_listeners_recheck(w);
}

static void adopt(struct l4_worker *w)
{
	struct l4_config *c = l4_proc_config(w->proc);

	if (!c)
		return;
	if (w->cfg == c) {
		snap_put(&c->hdr);
		return;
	}
	if (w->cfg)
		snap_put(&w->cfg->hdr);
	w->cfg = c;
	w->cfg_gen = c->hdr.generation;
	if (!w->draining)
		reconcile(w, c);
}

void l4_worker_on_config(struct loop *loop, void *arg)
{
	struct l4_worker *w = tl_worker;

	if (w)
		adopt(w);
}

void l4_worker_on_drain(struct loop *loop, void *arg)
{
	struct l4_worker *w = tl_worker;

	/* The listeners stay and drop new SYNs; what completed is still
	 * accepted and served, waiting clients included (drain.c). */
	if (w && !w->draining)
		l4_drain_quiesce(w);
}

void l4_worker_on_kill(struct loop *loop, void *arg)
{
	struct l4_worker *w = tl_worker;

	if (!w)
		return;
	for (struct l4_conn *c = w->live; c; c = c->next)
		l4_conn_close(c, L4_END_SHUTDOWN);
}

/* --- tick ----------------------------------------------------------------- */

/* Per-worker loop figures, set by their only writer: this worker. */
static void register_worker_series(struct l4_worker *w)
{
	static const char *const lab[] = {"worker", NULL};
	static const struct {
		const char *name, *help;
		enum metrics_type type;
		size_t off;
	} f[] = {
	    {"strata_l4_worker_buffers_free", "Provided buffers the kernel can fill now.",
	     METRICS_GAUGE, offsetof(struct l4_worker, m_bufs_free)},
	    {"strata_l4_worker_connections", "Connections open on the worker.", METRICS_GAUGE,
	     offsetof(struct l4_worker, m_conns)},
	    {"strata_l4_worker_recvs_parked_total",
	     "Recvs held back because the buffer ring was empty.", METRICS_COUNTER,
	     offsetof(struct l4_worker, m_parked)},
	    {"strata_l4_worker_enobufs_total", "Recvs that ended on an empty buffer ring.",
	     METRICS_COUNTER, offsetof(struct l4_worker, m_enobufs)},
	    {"strata_l4_worker_loop_turns_total", "Event loop turns.", METRICS_COUNTER,
	     offsetof(struct l4_worker, m_turns)},
	};
	char idx[16];
	const char *v[] = {idx, NULL};

	snprintf(idx, sizeof(idx), "%u", w->index);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		int fam = metrics_family(w->proc->reg, f[i].name, f[i].help, f[i].type, lab);
		int64_t cell = fam >= 0 ? metrics_series(w->proc->reg, fam, v) : -1;

		/* Without a series the figure lands in cell 0 of our own arena,
		 * which nobody exports alone: harmless. */
		*(uint32_t *)(void *)((char *)w + f[i].off) = cell >= 0 ? (uint32_t)cell : 0;
	}
}

static void publish_loop_figures(struct l4_worker *w)
{
	const struct loop_stats *st = loop_stats(w->loop);

	metrics_set(w->mw, w->m_bufs_free, bufring_avail(loop_bufring(w->loop)));
	metrics_set(w->mw, w->m_conns, w->n_live);
	metrics_set(w->mw, w->m_parked, (int64_t)st->parked);
	metrics_set(w->mw, w->m_enobufs, (int64_t)st->enobufs);
	metrics_set(w->mw, w->m_turns, (int64_t)st->turns);
}

static void on_tick(struct loop *loop, struct timer *t)
{
	struct l4_worker *w = timer_owner(t, struct l4_worker, tick);

	publish_loop_figures(w);
	if (w->alog)
		alog_tick(w->alog, log_now_ms());
	l4_listeners_recheck(w);
	loop_timer_arm(loop, &w->tick, L4_TICK_MS);
}

/* --- life cycle ------------------------------------------------------------- */

static void worker_free(struct l4_worker *w)
{
	for (unsigned i = 0; i < w->n_chunks; i++)
		free(w->chunks[i]);
	free(w->chunks);
	for (struct l4_sendv *sv = w->free_sv, *n; sv; sv = n) {
		n = sv->next;
		free(sv);
	}
	free(w->bnext);
	free(w->blen);
	l4_pipes_fini(&w->pipes);
	alog_worker_free(w->alog);
	free(w);
}

int l4_worker_init(struct loop *loop, unsigned index, void *arg)
{
	struct l4_proc *p = arg;
	struct l4_worker *w = calloc(1, sizeof(*w));
	struct bufring *br = loop_bufring(loop);
	unsigned n = bufring_count(br);

	if (!w)
		return -ENOMEM;
	w->proc = p;
	w->loop = loop;
	w->index = index;
	w->mw = metrics_worker(p->reg, index);
	w->buf_size = bufring_size(br);
	w->bnext = calloc(n, sizeof(*w->bnext));
	w->blen = calloc(n, sizeof(*w->blen));
	l4_pipes_init(&w->pipes, p->ring.pipes);
	if (p->alog)
		w->alog = alog_worker_new(p->alog);
	if (!w->bnext || !w->blen || (p->alog && !w->alog)) {
		worker_free(w);
		return -ENOMEM;
	}
	tl_worker = w;
	l4_mw = w->mw;
	register_worker_series(w);
	timer_init(&w->tick, on_tick);
	timer_init(&w->resume_timer, l4_splice_on_resume);
	loop_timer_arm(loop, &w->tick, L4_TICK_MS);
	adopt(w);
	return 0;
}

void l4_worker_fini(struct loop *loop, unsigned index, void *arg)
{
	struct l4_worker *w = tl_worker;

	if (!w)
		return;
	loop_timer_cancel(loop, &w->tick);
	loop_timer_cancel(loop, &w->resume_timer);
	w->draining = true;
	l4_worker_serve_pending(w);
	/* The loop drained (nothing in flight): closing what is left queues
	 * their on_free, which the next turns run. Only then may `w` go. */
	for (struct l4_conn *c = w->live; c; c = c->next)
		l4_conn_close(c, L4_END_SHUTDOWN);
	while (w->listeners)
		l4_listener_remove(w->listeners);
	for (int i = 0; i < 200 && (w->n_live || w->n_lslots); i++)
		loop_run_once(loop, 10);
	if (w->n_live || w->n_lslots) {
		log_warn("worker %u: %u connections still busy at exit", index, w->n_live);
		return; /* leaked on purpose: the loop may still call into it */
	}
	if (w->cfg)
		snap_put(&w->cfg->hdr);
	tl_worker = NULL;
	worker_free(w);
}
