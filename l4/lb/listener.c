/* A worker's listeners: multishot accept on its own SO_REUSEPORT socket,
 * and accept pausing at the connection limits and when descriptors run out.
 *
 * Pausing cancels the multishot accept, so nothing is accepted (clients
 * wait in the kernel's backlog) and nothing spins. A paused listener is
 * re-armed when a connection on this worker closes, and every L4_TICK_MS by
 * the worker's tick (a limit freed by another worker, or descriptors freed
 * elsewhere in the process): never a busy loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "lbworker.h"
#include "log.h"
#include "proc.h"
#include "state.h"
#include "worker.h"

#define L4_FD_BACKOFF_MS 100 /* after EMFILE/ENFILE, wait this before accepting again */

static void arm(struct l4_listener *l)
{
	int rc;

	if (l->armed || l->paused)
		return;
	rc = loop_prep_accept(l->w->loop, l->id, L4_OP_ACCEPT, l->fd);
	if (rc == 0) {
		l->armed = true;
		l->cancelling = false;
	} else if (rc != -ECANCELED) {
		log_rl(LOG_LVL_ERR, "listener: cannot arm accept: %s", strerror(-rc));
	}
}

static void log_pause(const struct l4_listener *l, unsigned reason)
{
	char a[ADDR_STR_MAX];

	addr_format(&l->addr, a, sizeof(a));
	if (reason & L4_LP_LIMIT)
		log_rl(LOG_LVL_WARN, "worker %u: %s: connection limit reached, accepting paused",
		       l->w->index, a);
	else if (reason & L4_LP_FD)
		log_rl(LOG_LVL_WARN, "worker %u: %s: out of file descriptors, accepting paused",
		       l->w->index, a);
}

void l4_listener_pause(struct l4_listener *l, unsigned reason, bool on)
{
	uint8_t before = l->paused;

	if (on)
		l->paused |= (uint8_t)reason;
	else
		l->paused &= (uint8_t)~reason;
	if (!before && l->paused) {
		if (reason != L4_LP_CLOSING) {
			log_pause(l, reason);
			metrics_inc(l->w->mw, l->w->proc->st.m.accept_paused);
		}
		if (l->armed && !l->cancelling) {
			l->cancelling = true;
			loop_prep_cancel(l->w->loop, l->id, L4_OP_ACCEPT);
		}
	} else if (before && !l->paused) {
		arm(l);
	}
}

bool l4_limits_allow(struct l4_worker *w, unsigned svc_idx)
{
	const struct l4_service *s = &w->cfg->svc[svc_idx];
	uint32_t max = atomic_load_explicit(&w->proc->max_conns, memory_order_relaxed);

	if (max && atomic_load_explicit(&w->proc->st.active, memory_order_relaxed) >= max)
		return false;
	return !s->max_conns ||
	       atomic_load_explicit(&s->rt->active, memory_order_relaxed) < s->max_conns;
}

void l4_listeners_recheck(struct l4_worker *w)
{
	uint64_t now = loop_now_ms(w->loop);

	l4_worker_serve_pending(w);
	for (struct l4_listener *l = w->listeners; l; l = l->next) {
		if ((l->paused & L4_LP_FD) && now >= w->fd_retry_ms)
			l4_listener_pause(l, L4_LP_FD, false);
		if (l->svc_idx < 0)
			continue;
		/* Both ways: another worker may have filled the limit. */
		bool allow = l4_limits_allow(w, (unsigned)l->svc_idx) &&
			     !l4_worker_has_pending(w, (unsigned)l->svc_idx);

		if (allow != !(l->paused & L4_LP_LIMIT))
			l4_listener_pause(l, L4_LP_LIMIT, !allow);
	}
}

/* This worker reached a limit: every worker pauses the listeners it
 * concerns now, instead of accepting clients it would have to refuse. */
static void limit_reached(struct l4_listener *l)
{
	if (l->paused & L4_LP_LIMIT)
		return;
	l4_listener_pause(l, L4_LP_LIMIT, true);
	worker_post_all(l4_worker_on_limits, NULL);
}

static void on_accept_error(struct l4_listener *l, int err)
{
	struct l4_worker *w = l->w;

	metrics_inc(w->mw, w->proc->st.m.accept_errors);
	switch (err) {
	case -EMFILE:
	case -ENFILE:
	case -ENOBUFS:
	case -ENOMEM:
		/* The connection stays in the backlog; retry once some closed. */
		w->fd_retry_ms = loop_now_ms(w->loop) + L4_FD_BACKOFF_MS;
		for (struct l4_listener *o = w->listeners; o; o = o->next)
			l4_listener_pause(o, L4_LP_FD, true);
		break;
	default:
		log_rl(LOG_LVL_WARN, "worker %u: accept failed: %s", w->index, strerror(-err));
		break;
	}
}

static void on_cqe(struct loop *loop, void *obj, unsigned op, const struct io_uring_cqe *cqe)
{
	struct l4_listener *l = obj;
	struct l4_worker *w = l->w;

	if (!loop_cqe_more(cqe)) {
		l->armed = false;
		l->cancelling = false;
	}
	if (cqe->res >= 0) {
		if (l->paused & L4_LP_CLOSING || l->svc_idx < 0) {
			close(cqe->res);
		} else if (!l4_limits_allow(w, (unsigned)l->svc_idx) ||
			   l4_worker_has_pending(w, (unsigned)l->svc_idx)) {
			/* Accepted before the pause took effect: it waits, in
			 * order, for a free place (or is refused if too many do). */
			l4_worker_defer(w, (unsigned)l->svc_idx, cqe->res, l->local);
			limit_reached(l);
		} else {
			l4_conn_accept(w, (unsigned)l->svc_idx, cqe->res, l->local);
			if (l->svc_idx >= 0 && !l4_limits_allow(w, (unsigned)l->svc_idx))
				limit_reached(l);
		}
	} else if (cqe->res != -ECANCELED) {
		on_accept_error(l, cqe->res);
	}
	if (!l->armed && !(l->paused & L4_LP_CLOSING))
		arm(l);
}

static void on_free(struct loop *loop, void *obj)
{
	struct l4_listener *l = obj;

	close(l->fd);
	l->w->n_lslots--;
	free(l);
}

const struct addr *l4_listen_local(const struct addr *a)
{
	if (addr_family(a) == AF_INET && a->u.in4.sin_addr.s_addr == htonl(INADDR_ANY))
		return NULL;
	if (addr_family(a) == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&a->u.in6.sin6_addr))
		return NULL;
	return a;
}

static const struct loop_ops listener_ops = {.on_cqe = on_cqe, .on_free = on_free};

int l4_listener_add(struct l4_worker *w, int fd, const struct addr *addr, int svc_idx)
{
	struct l4_listener *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	*l = (struct l4_listener){.w = w, .fd = fd, .addr = *addr, .svc_idx = svc_idx};
	l->id = loop_slot_open(w->loop, &listener_ops, l);
	if (l->id < 0) {
		int rc = l->id;

		free(l);
		return rc;
	}
	l->next = w->listeners;
	w->listeners = l;
	w->n_lslots++;
	if (w->draining)
		l->paused |= L4_LP_CLOSING;
	arm(l);
	return 0;
}

void l4_listener_remove(struct l4_listener *l)
{
	struct l4_worker *w = l->w;

	for (struct l4_listener **pp = &w->listeners; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	l4_listener_pause(l, L4_LP_CLOSING, true);
	if (l->armed && !l->cancelling)
		loop_prep_cancel(w->loop, l->id, L4_OP_ACCEPT);
	loop_slot_close(w->loop, l->id);
}
