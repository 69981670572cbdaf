/* strata-vrrp's event loop: one thread, one epoll set, one computed timeout.
 *
 * VRRP is not a hot path: a handful of sockets and a few timers. An epoll
 * loop whose timeout is the earliest protocol deadline (epoll_pwait2, so
 * microsecond precision) is simpler and as punctual as io_uring here.
 * Watches live in a slot table; the epoll cookie is (slot, generation), so
 * an event fetched in the same batch as its watch's removal is dropped as
 * stale instead of reaching a handler that no longer expects it.
 */
#ifndef STRATA_VRRP_LOOP_H
#define STRATA_VRRP_LOOP_H

#include <stdint.h>

#define VRRP_LOOP_MAX_WATCH 256
#define VRRP_LOOP_BATCH	    32

typedef void (*vrrp_loop_fn)(void *arg, int fd, uint32_t events);

struct vrrp_loop;

int vrrp_loop_new(struct vrrp_loop **out);
/* Closes the epoll fd (not the watched fds) and frees; safe on NULL. */
void vrrp_loop_free(struct vrrp_loop *loop);

/* Watches `fd` for `events` (EPOLLIN, ...); `fn(arg, fd, events)` runs
 * from vrrp_loop_run_once(). Returns 0, -ENOSPC or -errno. */
int vrrp_loop_watch(struct vrrp_loop *loop, int fd, uint32_t events, vrrp_loop_fn fn, void *arg);
int vrrp_loop_modify(struct vrrp_loop *loop, int fd, uint32_t events);
/* Stops watching `fd` (call before closing it); -ENOENT when not watched. */
int vrrp_loop_unwatch(struct vrrp_loop *loop, int fd);

/* Waits for events until `deadline` (monotonic µs; 0 = no deadline) and
 * dispatches them. Returns the number dispatched (0 on timeout) or -errno
 * (-EINTR is returned too, so the caller can look at its flags). */
int vrrp_loop_run_once(struct vrrp_loop *loop, uint64_t deadline);

/* CLOCK_MONOTONIC in microseconds. */
uint64_t vrrp_now_us(void);

#endif
