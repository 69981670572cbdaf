/* Shared keep-alive pool of one server (upstream_pool.h). The pool owns the
 * descriptors on its stack: it closes them when they expire, go stale, or
 * the pool is flushed or finished. */
#include "upstream_pool.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int l7_pool_init(struct l7_pool *p)
{
	pthread_mutex_init(&p->lock, NULL);
	p->e = NULL;
	p->n = p->cap = 0;
	atomic_init(&p->max_idle, 0);
	atomic_init(&p->idle_timeout_ms, 30000);
	atomic_init(&p->taken, 0);
	atomic_init(&p->stale, 0);
	atomic_init(&p->expired, 0);
	return 0;
}

void l7_pool_fini(struct l7_pool *p)
{
	l7_pool_flush(p);
	free(p->e);
	p->e = NULL;
	pthread_mutex_destroy(&p->lock);
}

bool l7_pool_fd_alive(int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	/* EAGAIN is the only good answer: open, nothing unread. EOF means the
	 * server closed it; bytes before a request are a protocol error. */
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

int l7_pool_take(struct l7_pool *p, uint64_t now_ms, uint32_t *requests)
{
	uint32_t timeout = atomic_load_explicit(&p->idle_timeout_ms, memory_order_relaxed);
	int fd = -1;

	pthread_mutex_lock(&p->lock);
	while (p->n && fd < 0) {
		struct l7_pool_entry e = p->e[--p->n];

		if (now_ms - e.since_ms >= timeout) {
			/* Older entries lie below: all expired. */
			close(e.fd);
			atomic_fetch_add_explicit(&p->expired, 1, memory_order_relaxed);
			continue;
		}
		if (!l7_pool_fd_alive(e.fd)) {
			close(e.fd);
			atomic_fetch_add_explicit(&p->stale, 1, memory_order_relaxed);
			continue;
		}
		fd = e.fd;
		*requests = e.requests;
	}
	pthread_mutex_unlock(&p->lock);
	if (fd >= 0)
		atomic_fetch_add_explicit(&p->taken, 1, memory_order_relaxed);
	return fd;
}

bool l7_pool_put(struct l7_pool *p, int fd, uint32_t requests, uint64_t now_ms)
{
	uint32_t max = atomic_load_explicit(&p->max_idle, memory_order_relaxed);
	bool kept = false;

	pthread_mutex_lock(&p->lock);
	if (p->n < max) {
		if (p->n == p->cap) {
			uint32_t cap = p->cap ? p->cap * 2 : 16;
			struct l7_pool_entry *e = realloc(p->e, cap * sizeof(*e));

			if (e) {
				p->e = e;
				p->cap = cap;
			}
		}
		if (p->n < p->cap) {
			p->e[p->n++] = (struct l7_pool_entry){
			    .fd = fd, .requests = requests, .since_ms = now_ms};
			kept = true;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return kept;
}

unsigned l7_pool_sweep(struct l7_pool *p, uint64_t now_ms)
{
	uint32_t timeout = atomic_load_explicit(&p->idle_timeout_ms, memory_order_relaxed);
	uint32_t max = atomic_load_explicit(&p->max_idle, memory_order_relaxed);
	unsigned closed = 0, keep = 0;

	pthread_mutex_lock(&p->lock);
	/* The stack is ordered by idle time, oldest at the bottom; a smaller
	 * max_idle after a reload trims the oldest too. */
	for (uint32_t i = 0; i < p->n; i++) {
		bool old = now_ms - p->e[i].since_ms >= timeout || p->n - i > max;

		if (old) {
			close(p->e[i].fd);
			closed++;
		} else {
			p->e[keep++] = p->e[i];
		}
	}
	p->n = keep;
	pthread_mutex_unlock(&p->lock);
	atomic_fetch_add_explicit(&p->expired, closed, memory_order_relaxed);
	return closed;
}

unsigned l7_pool_flush(struct l7_pool *p)
{
	unsigned n;

	pthread_mutex_lock(&p->lock);
	n = p->n;
	for (uint32_t i = 0; i < p->n; i++)
		close(p->e[i].fd);
	p->n = 0;
	pthread_mutex_unlock(&p->lock);
	return n;
}

unsigned l7_pool_idle(struct l7_pool *p)
{
	unsigned n;

	pthread_mutex_lock(&p->lock);
	n = p->n;
	pthread_mutex_unlock(&p->lock);
	return n;
}
