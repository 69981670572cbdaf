/* strata-vrrp's epoll loop; see vrrp_loop.h. */
#include "vrrp_loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

struct watch {
	int fd;
	bool used;
	uint32_t gen;
	vrrp_loop_fn fn;
	void *arg;
};

struct vrrp_loop {
	int epfd;
	struct watch w[VRRP_LOOP_MAX_WATCH];
};

uint64_t vrrp_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int vrrp_loop_new(struct vrrp_loop **out)
{
	struct vrrp_loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return -ENOMEM;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		int rc = -errno;

		free(loop);
		return rc;
	}
	*out = loop;
	return 0;
}

void vrrp_loop_free(struct vrrp_loop *loop)
{
	if (!loop)
		return;
	close(loop->epfd);
	free(loop);
}

static struct watch *find(struct vrrp_loop *loop, int fd)
{
	for (unsigned i = 0; i < VRRP_LOOP_MAX_WATCH; i++)
		if (loop->w[i].used && loop->w[i].fd == fd)
			return &loop->w[i];
	return NULL;
}

static uint64_t cookie(struct vrrp_loop *loop, struct watch *w)
{
	return (uint64_t)w->gen << 32 | (uint64_t)(w - loop->w);
}

int vrrp_loop_watch(struct vrrp_loop *loop, int fd, uint32_t events, vrrp_loop_fn fn, void *arg)
{
	struct epoll_event ev = {.events = events};
	struct watch *w = NULL;

	for (unsigned i = 0; i < VRRP_LOOP_MAX_WATCH && !w; i++)
		if (!loop->w[i].used)
			w = &loop->w[i];
	if (!w)
		return -ENOSPC;
	w->fd = fd;
	w->fn = fn;
	w->arg = arg;
	ev.data.u64 = cookie(loop, w);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	w->used = true;
	return 0;
}

int vrrp_loop_modify(struct vrrp_loop *loop, int fd, uint32_t events)
{
	struct watch *w = find(loop, fd);
	struct epoll_event ev = {.events = events};

	if (!w)
		return -ENOENT;
	ev.data.u64 = cookie(loop, w);
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int vrrp_loop_unwatch(struct vrrp_loop *loop, int fd)
{
	struct watch *w = find(loop, fd);

	if (!w)
		return -ENOENT;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->used = false;
	w->gen++; /* events already fetched for this slot are now stale */
	return 0;
}

int vrrp_loop_run_once(struct vrrp_loop *loop, uint64_t deadline)
{
	struct epoll_event ev[VRRP_LOOP_BATCH];
	struct timespec ts, *tp = NULL;
	int n;

	if (deadline) {
		uint64_t now = vrrp_now_us(), left = deadline > now ? deadline - now : 0;

		ts.tv_sec = (time_t)(left / 1000000u);
		ts.tv_nsec = (long)(left % 1000000u) * 1000;
		tp = &ts;
	}
	n = epoll_pwait2(loop->epfd, ev, VRRP_LOOP_BATCH, tp, NULL);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		uint32_t slot = (uint32_t)ev[i].data.u64, gen = (uint32_t)(ev[i].data.u64 >> 32);
		struct watch *w = slot < VRRP_LOOP_MAX_WATCH ? &loop->w[slot] : NULL;

		if (!w || !w->used || w->gen != gen)
			continue; /* removed by an earlier handler of this batch */
		w->fn(w->arg, w->fd, ev[i].events);
	}
	return n;
}
