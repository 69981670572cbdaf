/* strata-echo worker threads: epoll loop, accept, timers; see echo_worker.h. */
#include "echo_worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo_conn.h"
#include "log.h"

#define ECHO_EPOLL_BATCH 256
/* Accepts per listener event, so a flood of connects cannot starve I/O. */
#define ECHO_ACCEPT_BATCH 64
/* Pause after EMFILE/ENFILE before accepting again. */
#define ECHO_ACCEPT_PAUSE_MS 100
/* Slots are indexed by 24 bits of the epoll key. */
#define ECHO_MAX_SLOTS (1u << 24)
#define NO_SLOT	       UINT32_MAX

enum echo_ev_kind {
	ECHO_EV_LISTEN = 1,
	ECHO_EV_WAKE,
	ECHO_EV_CONN,
};

static uint64_t ev_key(enum echo_ev_kind kind, uint32_t slot, uint32_t gen)
{
	return (uint64_t)kind << 56 | (uint64_t)(slot & (ECHO_MAX_SLOTS - 1)) << 32 | gen;
}

uint64_t echo_worker_conn_key(const struct echo_conn *c)
{
	return ev_key(ECHO_EV_CONN, c->slot, c->gen);
}

struct echo_conn *echo_worker_conn_alloc(struct echo_worker *w)
{
	struct echo_conn *c;

	if (w->free_head != NO_SLOT) {
		c = w->slots[w->free_head];
		w->free_head = c->next_free;
		return c;
	}
	if (w->nslots == w->cap_slots) {
		uint32_t cap = w->cap_slots ? w->cap_slots * 2 : 256;
		struct echo_conn **v;

		if (cap > ECHO_MAX_SLOTS)
			return NULL;
		v = realloc(w->slots, cap * sizeof(*v));
		if (!v)
			return NULL;
		w->slots = v;
		w->cap_slots = cap;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->slot = w->nslots;
	c->fd = -1;
	c->state = ECHO_ST_FREE;
	w->slots[w->nslots++] = c;
	return c;
}

void echo_worker_conn_release(struct echo_worker *w, struct echo_conn *c)
{
	/* A new generation: events still queued for the old one are stale. */
	c->gen++;
	c->next_free = w->free_head;
	w->free_head = c->slot;
}

void echo_worker_defer(struct echo_worker *w, struct echo_conn *c)
{
	/* `queued` survives a close and reuse, so a slot is never linked twice. */
	if (c->queued)
		return;
	c->queued = true;
	c->next_ready = w->ready;
	w->ready = c;
}

static void run_ready(struct echo_worker *w)
{
	struct echo_conn *list = w->ready;

	w->ready = NULL;
	while (list) {
		struct echo_conn *c = list;

		list = c->next_ready;
		c->queued = false;
		if (c->state != ECHO_ST_FREE)
			echo_conn_drive(c);
	}
}

static void set_accepting(struct echo_worker *w, bool on)
{
	for (unsigned i = 0; i < w->nlisten; i++) {
		struct epoll_event ev = {.events = on ? EPOLLIN : 0,
					 .data.u64 = ev_key(ECHO_EV_LISTEN, i, 0)};

		epoll_ctl(w->epfd, EPOLL_CTL_MOD, w->listen_fds[i], &ev);
	}
	w->accept_paused = !on;
	if (!on)
		w->accept_resume_ms = w->now_ms + ECHO_ACCEPT_PAUSE_MS;
}

static void on_accept(struct echo_worker *w, unsigned li)
{
	for (int i = 0; i < ECHO_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(w->listen_fds[li], (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			echo_conn_open(w, fd, (struct sockaddr *)&ss);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EAGAIN)
			return;
		log_rl(LOG_LVL_WARN, "worker %u: accept: %m", w->index);
		/* Out of descriptors or memory: retry later, not in a hot loop. */
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			set_accepting(w, false);
		return;
	}
}

static void dispatch(struct echo_worker *w, const struct epoll_event *ev)
{
	enum echo_ev_kind kind = (enum echo_ev_kind)(ev->data.u64 >> 56);
	uint32_t slot = (uint32_t)(ev->data.u64 >> 32) & (ECHO_MAX_SLOTS - 1);
	uint32_t gen = (uint32_t)ev->data.u64;
	struct echo_conn *c;

	switch (kind) {
	case ECHO_EV_LISTEN:
		if (slot < w->nlisten)
			on_accept(w, slot);
		break;
	case ECHO_EV_WAKE: {
		uint64_t v;

		if (read(w->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_rl(LOG_LVL_WARN, "worker %u: eventfd read: %m", w->index);
		break;
	}
	case ECHO_EV_CONN:
		if (slot >= w->nslots)
			break;
		c = w->slots[slot];
		/* A connection closed earlier in this batch: drop the event. */
		if (c->gen != gen || c->state == ECHO_ST_FREE)
			break;
		echo_conn_on_event(c, ev->events);
		break;
	}
}

/* RFC 9110 §6.6.1: an origin server with a clock sends Date; formatted
 * once a second, in IMF-fixdate (the C locale's day and month names). */
static void update_date(struct echo_worker *w)
{
	time_t now = time(NULL);
	struct tm tm;

	if (now == w->date_sec)
		return;
	w->date_sec = now;
	gmtime_r(&now, &tm);
	w->date_len =
	    strftime(w->date, sizeof(w->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
}

static void run_timers(struct echo_worker *w)
{
	struct echo_timer *t;

	while ((t = echo_timer_pop_due(&w->timers, w->now_ms))) {
		struct echo_conn *c =
		    (struct echo_conn *)((char *)t - offsetof(struct echo_conn, timer));

		echo_conn_on_timer(c);
	}
	if (w->accept_paused && w->now_ms >= w->accept_resume_ms)
		set_accepting(w, true);
}

static int loop_timeout(struct echo_worker *w)
{
	int t = echo_timer_wait_ms(&w->timers, w->now_ms);

	if (w->ready)
		return 0;
	if (w->accept_paused) {
		int a =
		    w->accept_resume_ms > w->now_ms ? (int)(w->accept_resume_ms - w->now_ms) : 0;

		if (t < 0 || a < t)
			t = a;
	}
	return t;
}

static void *worker_main(void *arg)
{
	struct echo_worker *w = arg;
	struct epoll_event evs[ECHO_EPOLL_BATCH];

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		int n = epoll_wait(w->epfd, evs, ECHO_EPOLL_BATCH, loop_timeout(w));

		if (n < 0 && errno != EINTR) {
			log_err("worker %u: epoll_wait: %m", w->index);
			break;
		}
		w->now_ms = log_now_ms();
		update_date(w);
		for (int i = 0; i < n; i++)
			dispatch(w, &evs[i]);
		run_timers(w);
		run_ready(w);
	}
	return NULL;
}

int echo_worker_init(struct echo_worker *w, struct echo_server *srv, unsigned index,
		     const int *listen_fds, unsigned n)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ev_key(ECHO_EV_WAKE, 0, 0)};

	memset(w, 0, sizeof(*w));
	w->srv = srv;
	w->index = index;
	w->free_head = NO_SLOT;
	w->nlisten = n;
	memcpy(w->listen_fds, listen_fds, n * sizeof(*listen_fds));
	w->now_ms = log_now_ms();
	update_date(w);
	w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->wakefd < 0 || w->epfd < 0)
		return -errno;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &ev) < 0)
		return -errno;
	for (unsigned i = 0; i < n; i++) {
		ev = (struct epoll_event){.events = EPOLLIN,
					  .data.u64 = ev_key(ECHO_EV_LISTEN, i, 0)};
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, listen_fds[i], &ev) < 0)
			return -errno;
	}
	return 0;
}

int echo_worker_start(struct echo_worker *w)
{
	return -pthread_create(&w->thread, NULL, worker_main, w);
}

void echo_worker_stop(struct echo_worker *w)
{
	uint64_t one = 1;

	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	if (write(w->wakefd, &one, sizeof(one)) < 0)
		log_warn("worker %u: eventfd write: %m", w->index);
}

void echo_worker_join(struct echo_worker *w)
{
	pthread_join(w->thread, NULL);
}

void echo_worker_destroy(struct echo_worker *w)
{
	for (uint32_t i = 0; i < w->nslots; i++) {
		struct echo_conn *c = w->slots[i];

		if (c->state != ECHO_ST_FREE)
			echo_conn_close(c, ECHO_TERM_SHUTDOWN);
		echo_buf_free(&c->in);
		echo_buf_free(&c->out);
		echo_buf_free(&c->pend);
		free(c);
	}
	free(w->slots);
	w->slots = NULL;
	w->nslots = 0;
	echo_timer_heap_free(&w->timers);
	for (unsigned i = 0; i < w->nlisten; i++)
		close(w->listen_fds[i]);
	w->nlisten = 0;
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->wakefd >= 0)
		close(w->wakefd);
	w->epfd = w->wakefd = -1;
}

void echo_server_counters(const struct echo_server *srv, struct echo_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < srv->nworkers; i++) {
		const struct echo_counters *c = &srv->workers[i].ctr;

		/* Closed before total, so active never reads below zero. */
		out->conns_closed += __atomic_load_n(&c->conns_closed, __ATOMIC_ACQUIRE);
		out->conns_total += __atomic_load_n(&c->conns_total, __ATOMIC_ACQUIRE);
		out->requests += __atomic_load_n(&c->requests, __ATOMIC_ACQUIRE);
	}
}
