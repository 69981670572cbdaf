/* Shared helpers for the event-loop unit tests (test_loop_*.c, test_bufring.c,
 * test_worker.c): loopback TCP sockets on ephemeral ports, a recording slot
 * owner, bounded loop stepping, the parameter sets that force each fallback
 * path and a main() body that runs a test table once per path. Header-only
 * so each test binary stays self-contained.
 */
#ifndef STRATA_TEST_LOOP_HARNESS_H
#define STRATA_TEST_LOOP_HARNESS_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define H_UNUSED __attribute__((unused))
#define H_MAX_EV 512

/* Every test runs once per path: default, and each forced fallback. */
static const struct loop_params h_modes[] H_UNUSED = {
    {.entries = 256, .slots = 64},
    {.entries = 256, .slots = 64, .no_defer_taskrun = true},
    {.entries = 256, .slots = 64, .no_recv_multishot = true, .no_accept_multishot = true},
    {.entries = 256, .slots = 64, .no_buf_ring = true},
};
static const char *const h_mode_names[] H_UNUSED = {"default", "no_defer_taskrun", "no_multishot",
						    "no_buf_ring"};
static struct loop_params h_params H_UNUSED; /* the current mode, set by group setup */

static H_UNUSED uint64_t h_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static H_UNUSED int h_listener(uint16_t *port, int backlog)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, len) < 0 || listen(fd, backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		abort();
	*port = ntohs(sin.sin_port);
	return fd;
}

static H_UNUSED struct sockaddr_in h_addr(uint16_t port)
{
	return (struct sockaddr_in){.sin_family = AF_INET,
				    .sin_port = htons(port),
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
}

static H_UNUSED int h_connect(uint16_t port)
{
	struct sockaddr_in sin = h_addr(port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		abort();
	return fd;
}

static H_UNUSED void h_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* A connected loopback TCP pair, both ends non-blocking. */
static H_UNUSED void h_tcp_pair(int *a, int *b)
{
	uint16_t port;
	int lfd = h_listener(&port, 4);

	*a = h_connect(port);
	*b = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (*b < 0)
		abort();
	close(lfd);
	h_nonblock(*a);
	h_nonblock(*b);
}

/* A listener with backlog 0 holding one unaccepted connection drops further
 * SYNs (accept queue full), so a connect to it can only time out. The two
 * filling clients are returned in `fill`; the caller closes them. */
static H_UNUSED int h_full_listener(uint16_t *port, int fill[2])
{
	int lfd = h_listener(port, 0);
	struct sockaddr_in sin = h_addr(*port);

	for (int i = 0; i < 2; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		connect(fill[i], (struct sockaddr *)&sin, sizeof(sin));
	}
	usleep(50000);
	return lfd;
}

/* Open descriptors of the process, to prove a test leaked none. */
static H_UNUSED int h_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		abort();
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static H_UNUSED uint8_t h_pattern(uint64_t i, unsigned seed)
{
	return (uint8_t)((i * 2654435761u) >> 13 ^ seed);
}

/* Steps the loop until cond(arg) holds or `ms` pass; returns cond's value. */
static H_UNUSED bool h_run_until(struct loop *l, bool (*cond)(void *), void *arg, unsigned ms)
{
	uint64_t deadline = h_now_ms() + ms;

	while (!cond(arg)) {
		if (h_now_ms() > deadline)
			return false;
		if (loop_run_once(l, 10) < 0)
			return false;
	}
	return true;
}

/* Op codes of the test_loop_* owners (test_bufring.c and test_worker.c
 * number their own). */
enum h_op {
	H_OP_ACCEPT = 1,
	H_OP_RECV,
	H_OP_SEND,
	H_OP_CONNECT,
	H_OP_SPLICE_IN,
	H_OP_SPLICE_OUT,
	H_OP_SHUT,
	H_OP_CLOSE,
	H_OP_PEEK,
	H_OP_POLL,
};

struct h_ev {
	unsigned op;
	int res;
	unsigned flags;
};

/* A slot owner that records what it sees; `handler` (optional) reacts. */
struct h_owner {
	struct loop *loop;
	int id;
	int fd;
	unsigned nev;
	struct h_ev ev[H_MAX_EV];
	int freed;
	void (*handler)(struct h_owner *o, unsigned op, const struct io_uring_cqe *cqe);
	void *ctx;
};

static H_UNUSED void h_on_cqe(struct loop *l, void *obj, unsigned op,
			      const struct io_uring_cqe *cqe)
{
	struct h_owner *o = obj;
	int bid = loop_cqe_bid(cqe);

	if (o->nev < H_MAX_EV)
		o->ev[o->nev++] = (struct h_ev){op, cqe->res, cqe->flags};
	if (o->handler)
		o->handler(o, op, cqe);
	else if (bid >= 0)
		bufring_put(loop_bufring(l), (unsigned)bid);
}

static H_UNUSED void h_on_free(struct loop *l, void *obj)
{
	struct h_owner *o = obj;

	o->freed++;
}

static const struct loop_ops h_ops H_UNUSED = {.on_cqe = h_on_cqe, .on_free = h_on_free};

static H_UNUSED void h_owner_open(struct h_owner *o, struct loop *l, int fd)
{
	memset(o, 0, sizeof(*o));
	o->loop = l;
	o->fd = fd;
	o->id = loop_slot_open(l, &h_ops, o);
	if (o->id < 0)
		abort();
}

/* Number of recorded completions for `op`. */
static H_UNUSED unsigned h_count(const struct h_owner *o, unsigned op)
{
	unsigned n = 0;

	for (unsigned i = 0; i < o->nev; i++)
		n += o->ev[i].op == op;
	return n;
}

/* The last recorded completion for `op`, or NULL. */
static H_UNUSED const struct h_ev *h_last(const struct h_owner *o, unsigned op)
{
	for (unsigned i = o->nev; i-- > 0;)
		if (o->ev[i].op == op)
			return &o->ev[i];
	return NULL;
}

/* h_run_until() conditions on a struct h_owner. */
static H_UNUSED bool h_slot_freed(void *arg)
{
	return ((struct h_owner *)arg)->freed == 1;
}

static H_UNUSED bool h_slot_idle(void *arg)
{
	struct h_owner *o = arg;

	return loop_slot_inflight(o->loop, o->id) == 0;
}

static H_UNUSED bool h_connect_done(void *arg)
{
	return h_count(arg, H_OP_CONNECT) == 1 && h_slot_idle(arg);
}

#ifdef cmocka_unit_test
/* main() of a test_loop_* binary: the table once per path; non-zero if any failed. */
static H_UNUSED int h_run_modes(const struct CMUnitTest *tests, size_t n)
{
	int fail = 0;

	for (size_t m = 0; m < sizeof(h_modes) / sizeof(h_modes[0]); m++) {
		h_params = h_modes[m];
		fail |= _cmocka_run_group_tests(h_mode_names[m], tests, n, NULL, NULL);
	}
	return fail;
}
#endif

#endif
