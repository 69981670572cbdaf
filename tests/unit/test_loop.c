/* Event loop tests on real loopback sockets: accept, send, connect (with and
 * without a linked timeout), splice, shutdown, close, cancel, multishot poll, timers,
 * posting from another thread and shutdown with requests in flight. Every
 * test runs once per path (default and each forced fallback). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>

#include "loop_harness.h"
/* The ring itself, for the tests that make io_uring_enter() fail. */
#include "loop_impl.h"

#include <poll.h>
#include <sys/eventfd.h>

enum {
	OP_ACCEPT = 1,
	OP_RECV,
	OP_SEND,
	OP_CONNECT,
	OP_SPLICE_IN,
	OP_SPLICE_OUT,
	OP_SHUT,
	OP_CLOSE,
	OP_PEEK,
	OP_POLL,
};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* --- accept ---------------------------------------------------------------------- */

struct accept_ctx {
	int fds[16];
	unsigned n;
};

static void on_accept(struct h_owner *o, unsigned op, const struct io_uring_cqe *cqe)
{
	struct accept_ctx *c = o->ctx;

	if (cqe->res >= 0 && c->n < 16)
		c->fds[c->n++] = cqe->res;
	if (cqe->res >= 0 && !loop_cqe_more(cqe))
		assert_int_equal(loop_prep_accept(o->loop, o->id, OP_ACCEPT, o->fd), 0);
}

static bool accepted5(void *arg)
{
	return ((struct accept_ctx *)arg)->n == 5;
}

static bool accept_cancelled(void *arg)
{
	const struct h_ev *e = h_last(arg, OP_ACCEPT);

	return e && e->res == -ECANCELED;
}

static bool slot_freed(void *arg)
{
	return ((struct h_owner *)arg)->freed == 1;
}

static void test_accept_several(void **state)
{
	struct loop *l = loop_create(&h_params);
	struct accept_ctx c = {.n = 0};
	struct h_owner o;
	uint16_t port;
	int clients[5];

	assert_non_null(l);
	h_owner_open(&o, l, h_listener(&port, 64));
	o.handler = on_accept;
	o.ctx = &c;
	assert_int_equal(loop_prep_accept(l, o.id, OP_ACCEPT, o.fd), 0);
	for (int i = 0; i < 5; i++)
		clients[i] = h_connect(port);
	assert_true(h_run_until(l, accepted5, &c, 3000));
	for (unsigned i = 0; i < 5; i++) {
		struct sockaddr_in peer, local;
		socklen_t pl = sizeof(peer), ll = sizeof(local);
		bool found = false;

		assert_true(fcntl(c.fds[i], F_GETFL) & O_NONBLOCK);
		assert_true(fcntl(c.fds[i], F_GETFD) & FD_CLOEXEC);
		assert_int_equal(getpeername(c.fds[i], (struct sockaddr *)&peer, &pl), 0);
		for (int k = 0; k < 5; k++) {
			getsockname(clients[k], (struct sockaddr *)&local, &ll);
			found |= local.sin_port == peer.sin_port;
		}
		assert_true(found);
		assert_int_equal(!!(o.ev[i].flags & IORING_CQE_F_MORE),
				 !!(loop_features(l) & LOOP_F_ACCEPT_MULTISHOT));
	}
	assert_int_equal(loop_prep_cancel(l, o.id, OP_ACCEPT), 0);
	assert_true(h_run_until(l, accept_cancelled, &o, 3000));
	assert_false(h_last(&o, OP_ACCEPT)->flags & IORING_CQE_F_MORE);
	assert_int_equal(loop_slot_inflight(l, o.id), 0);
	loop_slot_close(l, o.id);
	assert_true(h_run_until(l, slot_freed, &o, 1000));
	for (int i = 0; i < 5; i++) {
		close(clients[i]);
		close(c.fds[i]);
	}
	close(o.fd);
	loop_destroy(l);
}

/* --- send with partial completions -------------------------------------------------- */

#define SEND_LEN (4u << 20)

struct send_ctx {
	uint8_t *data;
	size_t off, last_len, partial, rcvd;
	int peer;
	bool bad;
};

static void on_send(struct h_owner *o, unsigned op, const struct io_uring_cqe *cqe)
{
	struct send_ctx *c = o->ctx;

	if (cqe->res <= 0) {
		c->bad = true;
		return;
	}
	c->partial += (size_t)cqe->res < c->last_len;
	c->off += (size_t)cqe->res;
	if (c->off < SEND_LEN) {
		c->last_len = SEND_LEN - c->off;
		assert_int_equal(loop_prep_send(o->loop, o->id, OP_SEND, o->fd, c->data + c->off,
						c->last_len, 0),
				 0);
	}
}

static bool send_done(void *arg)
{
	struct send_ctx *c = arg;
	uint8_t buf[65536];
	ssize_t n;

	while ((n = read(c->peer, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			c->bad |= buf[i] != h_pattern(c->rcvd + (size_t)i, 7);
		c->rcvd += (size_t)n;
	}
	return c->bad || (c->rcvd == SEND_LEN && c->off == SEND_LEN);
}

static void test_send_partial(void **state)
{
	struct loop *l = loop_create(&h_params);
	struct send_ctx c = {.data = malloc(SEND_LEN), .last_len = SEND_LEN};
	int small = 16384, a, b;
	struct h_owner o;

	assert_non_null(l);
	for (size_t i = 0; i < SEND_LEN; i++)
		c.data[i] = h_pattern(i, 7);
	h_tcp_pair(&a, &b);
	setsockopt(a, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(b, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	c.peer = b;
	h_owner_open(&o, l, a);
	o.handler = on_send;
	o.ctx = &c;
	assert_int_equal(loop_prep_send(l, o.id, OP_SEND, a, c.data, SEND_LEN, 0), 0);
	assert_true(h_run_until(l, send_done, &c, 20000));
	assert_false(c.bad);
	assert_true(c.partial > 0); /* the socket buffer is far smaller than the payload */
	assert_int_equal(loop_slot_inflight(l, o.id), 0);
	loop_destroy(l); /* closes the open slot: on_free runs */
	assert_int_equal(o.freed, 1);
	close(a);
	close(b);
	free(c.data);
}

/* --- connect ------------------------------------------------------------------------- */

static bool connect_done(void *arg)
{
	return h_count(arg, OP_CONNECT) == 1 &&
	       loop_slot_inflight(((struct h_owner *)arg)->loop, ((struct h_owner *)arg)->id) == 0;
}

/* Connects a fresh non-blocking socket to 127.0.0.1:port; returns res. */
static int connect_once(struct loop *l, uint16_t port, unsigned timeout_ms, unsigned *n_ev)
{
	struct sockaddr_in sin = h_addr(port);
	struct h_owner o;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	h_owner_open(&o, l, fd);
	assert_int_equal(loop_prep_connect(l, o.id, OP_CONNECT, fd, (struct sockaddr *)&sin,
					   sizeof(sin), timeout_ms),
			 0);
	assert_true(h_run_until(l, connect_done, &o, 5000));
	loop_slot_close(l, o.id);
	assert_true(h_run_until(l, slot_freed, &o, 1000));
	close(fd);
	*n_ev = o.nev; /* the linked timeout's completion never reaches the owner */
	return o.ev[0].res;
}

static void test_connect(void **state)
{
	struct loop *l = loop_create(&h_params);
	uint16_t port, dead_port;
	unsigned n;
	int lfd, dfd;

	assert_non_null(l);
	lfd = h_listener(&port, 16);
	dfd = h_listener(&dead_port, 1);
	close(dfd); /* nothing listens there any more */
	assert_int_equal(connect_once(l, port, 0, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(connect_once(l, port, 2000, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(connect_once(l, dead_port, 0, &n), -ECONNREFUSED);
	assert_int_equal(connect_once(l, dead_port, 2000, &n), -ECONNREFUSED);
	assert_int_equal(n, 1);
	close(lfd);
	loop_destroy(l);
}

/* A listener with backlog 0 holding one unaccepted connection drops further
 * SYNs (accept queue full), so a connect to it can only time out. */
static int full_listener(uint16_t *port, int fill[2])
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

static void test_connect_timeout(void **state)
{
	struct loop *l = loop_create(&h_params);
	struct sockaddr_in sin;
	struct h_owner o, o2;
	int fill[2], lfd, fd, pa, pb;
	char peek[4];
	uint16_t port;
	unsigned n;
	uint64_t t0;

	assert_non_null(l);
	lfd = full_listener(&port, fill);
	t0 = h_now_ms();
	assert_int_equal(connect_once(l, port, 100, &n), -ETIMEDOUT);
	assert_true(h_now_ms() - t0 >= 90);
	assert_int_equal(n, 1);

	/* Cancelled by its owner before the timeout: -ECANCELED, not -ETIMEDOUT. */
	sin = h_addr(port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	h_owner_open(&o, l, fd);
	assert_int_equal(
	    loop_prep_connect(l, o.id, OP_CONNECT, fd, (struct sockaddr *)&sin, sizeof(sin), 5000),
	    0);
	loop_run_once(l, 0);
	assert_int_equal(loop_prep_cancel(l, o.id, OP_CONNECT), 0);
	assert_true(h_run_until(l, connect_done, &o, 3000));
	assert_int_equal(o.ev[0].res, -ECANCELED);
	assert_int_equal(o.nev, 1);
	close(fd);

	/* Cancelling another request of the slot does not hide the timeout. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	h_tcp_pair(&pa, &pb);
	h_owner_open(&o2, l, fd);
	assert_int_equal(loop_prep_recv_into(l, o2.id, OP_PEEK, pb, peek, sizeof(peek), 0), 0);
	assert_int_equal(
	    loop_prep_connect(l, o2.id, OP_CONNECT, fd, (struct sockaddr *)&sin, sizeof(sin), 100),
	    0);
	loop_run_once(l, 0);
	assert_int_equal(loop_prep_cancel(l, o2.id, OP_PEEK), 0);
	assert_int_equal(loop_prep_cancel_fd(l, o2.id, pb), 0);
	assert_true(h_run_until(l, connect_done, &o2, 3000));
	assert_int_equal(h_last(&o2, OP_CONNECT)->res, -ETIMEDOUT);
	assert_int_equal(h_last(&o2, OP_PEEK)->res, -ECANCELED);
	close(fd);
	close(pa);
	close(pb);
	close(fill[0]);
	close(fill[1]);
	close(lfd);
	loop_destroy(l);
}

/* --- splice socket -> pipe -> socket ------------------------------------------------- */

#define SPLICE_LEN (256u << 10)

struct splice_ctx {
	int src_w, dst_r, pipe_r, pipe_w, src_r, dst_w;
	size_t written, in, pending, rcvd;
	bool bad;
};

static void on_splice(struct h_owner *o, unsigned op, const struct io_uring_cqe *cqe)
{
	struct splice_ctx *c = o->ctx;

	if (cqe->res <= 0) {
		c->bad |= !(op == OP_SPLICE_IN && cqe->res == 0 && c->in == SPLICE_LEN);
		return;
	}
	if (op == OP_SPLICE_IN) {
		c->in += (size_t)cqe->res;
		c->pending = (size_t)cqe->res;
	} else {
		c->pending -= (size_t)cqe->res;
	}
	if (c->pending)
		loop_prep_splice(o->loop, o->id, OP_SPLICE_OUT, c->pipe_r, c->dst_w,
				 (unsigned)c->pending, 0);
	else if (c->in < SPLICE_LEN)
		loop_prep_splice(o->loop, o->id, OP_SPLICE_IN, c->src_r, c->pipe_w, 65536, 0);
}

static bool splice_done(void *arg)
{
	struct splice_ctx *c = arg;
	uint8_t buf[16384];
	ssize_t n;

	while (c->written < SPLICE_LEN) {
		size_t k =
		    SPLICE_LEN - c->written < sizeof(buf) ? SPLICE_LEN - c->written : sizeof(buf);

		for (size_t i = 0; i < k; i++)
			buf[i] = h_pattern(c->written + i, 3);
		n = write(c->src_w, buf, k);
		if (n <= 0)
			break;
		c->written += (size_t)n;
	}
	while ((n = read(c->dst_r, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			c->bad |= buf[i] != h_pattern(c->rcvd + (size_t)i, 3);
		c->rcvd += (size_t)n;
	}
	return c->bad || c->rcvd == SPLICE_LEN;
}

static void test_splice(void **state)
{
	struct loop *l = loop_create(&h_params);
	struct splice_ctx c = {.written = 0};
	struct h_owner o;
	int p[2];

	assert_non_null(l);
	h_tcp_pair(&c.src_w, &c.src_r);
	h_tcp_pair(&c.dst_w, &c.dst_r);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	c.pipe_r = p[0];
	c.pipe_w = p[1];
	h_owner_open(&o, l, c.src_r);
	o.handler = on_splice;
	o.ctx = &c;
	assert_int_equal(loop_prep_splice(l, o.id, OP_SPLICE_IN, c.src_r, c.pipe_w, 65536, 0), 0);
	assert_true(h_run_until(l, splice_done, &c, 10000));
	assert_false(c.bad);
	assert_int_equal(c.rcvd, SPLICE_LEN);
	assert_int_equal(loop_slot_inflight(l, o.id), 0);
	loop_destroy(l);
	close(c.src_w);
	close(c.src_r);
	close(c.dst_w);
	close(c.dst_r);
	close(p[0]);
	close(p[1]);
}

/* --- sendmsg + shutdown(SHUT_WR) -> EOF at the peer; recv_into with MSG_PEEK ------------ */

struct sink {
	char data[64];
	size_t len;
	bool eof;
};

static void on_sink(struct h_owner *o, unsigned op, const struct io_uring_cqe *cqe)
{
	struct sink *s = o->ctx;
	struct bufring *br = loop_bufring(o->loop);
	int bid = loop_cqe_bid(cqe);

	if (op != OP_RECV)
		return;
	if (cqe->res > 0 && s->len + (size_t)cqe->res <= sizeof(s->data)) {
		memcpy(s->data + s->len, bufring_get(br, (unsigned)bid), (size_t)cqe->res);
		s->len += (size_t)cqe->res;
	}
	if (bid >= 0)
		bufring_put(br, (unsigned)bid);
	s->eof |= cqe->res == 0;
	if (!loop_cqe_more(cqe) && (cqe->res > 0 || cqe->res == -ENOBUFS))
		assert_int_equal(loop_prep_recv(o->loop, o->id, OP_RECV, o->fd), 0);
}

static bool sink_eof(void *arg)
{
	return ((struct sink *)arg)->eof;
}

static bool shut_done(void *arg)
{
	return h_count(arg, OP_SHUT) == 1;
}

static bool peeked(void *arg)
{
	return h_count(arg, OP_PEEK) == 1;
}

static void test_shutdown_eof(void **state)
{
	struct loop *l = loop_create(&h_params);
	struct iovec iov[2] = {{"hello ", 6}, {"world", 5}};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
	struct h_owner wr, rd;
	struct sink s = {.len = 0};
	char peek[8] = {0};
	int a, b;

	assert_non_null(l);
	h_tcp_pair(&a, &b);
	h_owner_open(&wr, l, a);
	h_owner_open(&rd, l, b);
	rd.handler = on_sink;
	rd.ctx = &s;
	assert_int_equal(loop_prep_sendmsg(l, wr.id, OP_SEND, a, &msg, 0), 0);
	assert_int_equal(loop_prep_shutdown(l, wr.id, OP_SHUT, a, SHUT_WR), 0);
	/* Peek first: the data stays queued for the recv that follows. */
	assert_int_equal(loop_prep_recv_into(l, rd.id, OP_PEEK, b, peek, 5, MSG_PEEK), 0);
	assert_true(h_run_until(l, peeked, &rd, 3000));
	assert_int_equal(h_last(&rd, OP_PEEK)->res, 5);
	assert_memory_equal(peek, "hello", 5);
	assert_int_equal(loop_prep_recv(l, rd.id, OP_RECV, b), 0);
	assert_true(h_run_until(l, sink_eof, &s, 3000));
	/* shutdown runs on an io_uring worker thread: it may complete late. */
	assert_true(h_run_until(l, shut_done, &wr, 3000));
	assert_int_equal(s.len, 11);
	assert_memory_equal(s.data, "hello world", 11);
	assert_int_equal(h_last(&wr, OP_SEND)->res, 11);
	assert_int_equal(h_last(&wr, OP_SHUT)->res, 0);
	loop_destroy(l);
	assert_int_equal(wr.freed + rd.freed, 2);
	close(a);
	close(b);
}

/* --- close through the ring ------------------------------------------------------------ */

static bool closed(void *arg)
{
	return h_count(arg, OP_CLOSE) == 1;
}

static void test_close(void **state)
{
	struct loop *l = loop_create(&h_params);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct h_owner o;

	assert_non_null(l);
	assert_true(fd >= 0);
	h_owner_open(&o, l, fd);
	loop_slot_close(l, o.id); /* a closing slot may still close its fd */
	assert_int_equal(loop_prep_close(l, o.id, OP_CLOSE, fd), 0);
	assert_true(h_run_until(l, closed, &o, 3000));
	assert_int_equal(o.ev[0].res, 0);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	assert_true(h_run_until(l, slot_freed, &o, 1000));
	loop_destroy(l);
}

/* --- cancel a pending recv ------------------------------------------------------------- */

static bool recv_ended(void *arg)
{
	const struct h_ev *e = h_last(arg, OP_RECV);

	return e && !(e->flags & IORING_CQE_F_MORE);
}

static bool slot_idle(void *arg)
{
	struct h_owner *o = arg;

	return loop_slot_inflight(o->loop, o->id) == 0;
}

static bool peek_ended(void *arg)
{
	return h_count(arg, OP_PEEK) == 1;
}

static void test_cancel_recv(void **state)
{
	struct loop *l = loop_create(&h_params);
	struct bufring *br;
	struct h_owner o;
	char buf[16];
	int a, b;

	assert_non_null(l);
	br = loop_bufring(l);
	h_tcp_pair(&a, &b);
	h_owner_open(&o, l, b);
	assert_int_equal(loop_prep_recv(l, o.id, OP_RECV, b), 0);
	loop_run_once(l, 0);
	loop_run_once(l, 0);
	assert_int_equal(o.nev, 0);
	assert_int_equal(loop_prep_cancel(l, o.id, OP_RECV), 0);
	assert_true(h_run_until(l, recv_ended, &o, 3000));
	assert_int_equal(h_last(&o, OP_RECV)->res, -ECANCELED);
	assert_int_equal(loop_cqe_bid(&(struct io_uring_cqe){.flags = h_last(&o, OP_RECV)->flags}),
			 -1);

	/* By fd, on a plain recv into the owner's buffer. */
	assert_int_equal(loop_prep_recv_into(l, o.id, OP_PEEK, b, buf, sizeof(buf), 0), 0);
	loop_run_once(l, 0);
	assert_int_equal(loop_prep_cancel_fd(l, o.id, b), 0);
	assert_true(h_run_until(l, peek_ended, &o, 3000));
	assert_int_equal(h_last(&o, OP_PEEK)->res, -ECANCELED);
	assert_int_equal(loop_slot_inflight(l, o.id), 0);

	/* Every request of the slot at once. */
	assert_int_equal(loop_prep_recv(l, o.id, OP_RECV, b), 0);
	assert_int_equal(loop_prep_recv_into(l, o.id, OP_PEEK, b, buf, sizeof(buf), 0), 0);
	loop_run_once(l, 0);
	assert_int_equal(loop_slot_inflight(l, o.id), 2);
	assert_int_equal(loop_prep_cancel_slot(l, o.id), 0);
	assert_true(h_run_until(l, slot_idle, &o, 3000));
	assert_int_equal(h_count(&o, OP_RECV), 2);
	assert_int_equal(h_count(&o, OP_PEEK), 2);
	assert_int_equal(h_last(&o, OP_RECV)->res, -ECANCELED);
	assert_int_equal(h_last(&o, OP_PEEK)->res, -ECANCELED);
	loop_run_once(l, 0);
	assert_int_equal(bufring_avail(br), bufring_count(br));
	loop_destroy(l);
	close(a);
	close(b);
}

/* --- poll: one-shot sees readiness already there; multishot completes per wakeup -------- */

static bool polled1(void *arg)
{
	return h_count(arg, OP_POLL) == 1;
}

static bool polled2(void *arg)
{
	return h_count(arg, OP_POLL) == 2;
}

static bool poll_ended(void *arg)
{
	const struct h_ev *e = h_last(arg, OP_POLL);

	return e && !(e->flags & IORING_CQE_F_MORE);
}

static void test_poll(void **state)
{
	struct loop *l = loop_create(&h_params);
	struct h_owner o;
	char buf[8];
	int a, b;

	assert_non_null(l);
	h_tcp_pair(&a, &b);
	h_owner_open(&o, l, b);
	/* One-shot, armed while a byte already waits: completes at once,
	 * without F_MORE, and leaves the byte in the socket. */
	assert_int_equal(write(a, "w", 1), 1);
	assert_int_equal(loop_prep_poll(l, o.id, OP_POLL, b, POLLIN, false), 0);
	assert_true(h_run_until(l, polled1, &o, 3000));
	assert_true(h_last(&o, OP_POLL)->res & POLLIN);
	assert_false(h_last(&o, OP_POLL)->flags & IORING_CQE_F_MORE);
	assert_int_equal(loop_slot_inflight(l, o.id), 0);
	assert_int_equal(read(b, buf, sizeof(buf)), 1);
	o.nev = 0;

	assert_int_equal(loop_prep_poll(l, o.id, OP_POLL, b, POLLIN, true), 0);
	loop_run_once(l, 0);
	loop_run_once(l, 0);
	assert_int_equal(o.nev, 0); /* nothing to read yet */
	assert_int_equal(write(a, "x", 1), 1);
	assert_true(h_run_until(l, polled1, &o, 3000));
	assert_true(h_last(&o, OP_POLL)->res & POLLIN);
	assert_true(h_last(&o, OP_POLL)->flags & IORING_CQE_F_MORE);
	/* The poll takes no byte: the owner reads them itself. */
	assert_int_equal(read(b, buf, sizeof(buf)), 1);
	/* Still armed: the next readiness completes again, no new request. */
	assert_int_equal(write(a, "yz", 2), 2);
	assert_true(h_run_until(l, polled2, &o, 3000));
	assert_true(h_last(&o, OP_POLL)->flags & IORING_CQE_F_MORE);
	assert_int_equal(loop_slot_inflight(l, o.id), 1);
	assert_int_equal(read(b, buf, sizeof(buf)), 2);
	assert_int_equal(loop_prep_cancel(l, o.id, OP_POLL), 0);
	assert_true(h_run_until(l, poll_ended, &o, 3000));
	assert_int_equal(h_last(&o, OP_POLL)->res, -ECANCELED);
	assert_int_equal(loop_slot_inflight(l, o.id), 0);
	loop_destroy(l);
	close(a);
	close(b);
}

/* --- a recv parked on a dry ring is reported as parked ------------------------------------ */

struct dry {
	struct h_owner o;
	unsigned nheld;
	int held[8];
};

static void on_dry(struct h_owner *o, unsigned op, const struct io_uring_cqe *cqe)
{
	struct dry *d = o->ctx;
	int bid = loop_cqe_bid(cqe);

	if (bid >= 0 && d->nheld < 8)
		d->held[d->nheld++] = bid; /* kept: the ring runs dry */
	if (!loop_cqe_more(cqe) && (cqe->res > 0 || cqe->res == -ENOBUFS))
		assert_int_equal(loop_prep_recv(o->loop, o->id, OP_RECV, o->fd), 0);
}

static bool dry_parked(void *arg)
{
	struct dry *d = arg;

	return loop_slot_parked(d->o.loop, d->o.id);
}

static void test_slot_parked(void **state)
{
	struct loop_params p = h_params;
	struct h_owner other;
	struct dry d = {.nheld = 0};
	struct loop *l;
	int a, b;

	p.buf_count = 2;
	p.buf_size = 64;
	l = loop_create(&p);
	assert_non_null(l);
	h_tcp_pair(&a, &b);
	h_owner_open(&d.o, l, b);
	h_owner_open(&other, l, a);
	d.o.handler = on_dry;
	d.o.ctx = &d;
	assert_int_equal(loop_prep_recv(l, d.o.id, OP_RECV, b), 0);
	assert_false(loop_slot_parked(l, d.o.id)); /* in the kernel */
	for (int i = 0; i < 8 && !dry_parked(&d); i++) {
		assert_int_equal(write(a, "0123456789abcdef0123456789abcdef0123456789abcdef", 48),
				 48);
		loop_run_once(l, 5);
	}
	assert_true(h_run_until(l, dry_parked, &d, 3000));
	assert_false(loop_slot_parked(l, other.id));
	assert_int_equal(loop_prep_cancel_slot(l, d.o.id), 0);
	assert_true(h_run_until(l, slot_idle, &d.o, 3000));
	assert_false(loop_slot_parked(l, d.o.id));
	for (unsigned i = 0; i < d.nheld; i++)
		bufring_put(loop_bufring(l), (unsigned)d.held[i]);
	loop_destroy(l);
	close(a);
	close(b);
}

/* --- timers drive the wait; an idle loop sleeps -------------------------------------- */

static uint64_t fired_at;

static void on_timer(struct loop *l, struct timer *t)
{
	fired_at = h_now_ms();
}

static void test_loop_timer(void **state)
{
	struct loop *l = loop_create(&h_params);
	struct timer t;
	uint64_t t0, turns;

	assert_non_null(l);
	timer_init(&t, on_timer);
	fired_at = 0;
	loop_run_once(l, 0);
	t0 = h_now_ms();
	turns = loop_stats(l)->turns;
	loop_timer_arm(l, &t, 40);
	while (!fired_at && h_now_ms() - t0 < 2000)
		loop_run_once(l, -1);
	assert_true(fired_at - t0 >= 39 && fired_at - t0 < 1000);
	/* Slept until the deadline instead of ticking every millisecond. */
	assert_true(loop_stats(l)->turns - turns <= 4);
	assert_false(timer_is_armed(&t));

	t0 = h_now_ms();
	assert_int_equal(loop_run_once(l, 60), 0);
	assert_true(h_now_ms() - t0 >= 55);
	loop_destroy(l);
}

/* --- loop_post from another thread ---------------------------------------------------- */

#define N_POSTS 2000

struct post_ctx {
	struct loop *l;
	pthread_t loop_thread;
	int count, wrong_thread, out_of_order;
};

static void on_post(struct loop *l, void *arg)
{
	struct post_ctx *c = arg;

	c->wrong_thread += !pthread_equal(pthread_self(), c->loop_thread);
	if (++c->count == N_POSTS)
		loop_stop(l);
}

static void *poster(void *arg)
{
	struct post_ctx *c = arg;

	for (int i = 0; i < N_POSTS; i++) {
		assert_int_equal(loop_post(c->l, on_post, c), 0);
		if (i % 128 == 0)
			usleep(1000);
	}
	return NULL;
}

static void test_post_from_thread(void **state)
{
	struct post_ctx c = {.l = loop_create(&h_params), .loop_thread = pthread_self()};
	pthread_t th;

	assert_non_null(c.l);
	assert_int_equal(pthread_create(&th, NULL, poster, &c), 0);
	assert_int_equal(loop_run(c.l), 0);
	pthread_join(th, NULL);
	assert_int_equal(c.count, N_POSTS);
	assert_int_equal(c.wrong_thread, 0);
	assert_int_equal(loop_stats(c.l)->posted, N_POSTS);
	assert_int_equal(loop_inflight(c.l), 0);
	loop_destroy(c.l);
}

/* --- loop_stop from another thread while the loop ends a turn of its own ----------- */

/* Regression: loop_stop() stored the stop flag and only then touched the loop
 * again (wake_pending, wake_fd). A loop thread that saw the flag on a turn of
 * its own (here a 1 ms timer) could drain and free the loop in between, so
 * the stopping thread wrote into freed memory and into a closed, possibly
 * reused, descriptor. The window is nanoseconds wide: ThreadSanitizer
 * (-fsanitize=thread) reports it on every run without the fix. */
#define EXIT_RACE_ROUNDS 40

struct exit_race {
	struct loop *l; /* atomic: published by the loop thread */
	struct timer tick;
	int run_ret;
};

static void exit_race_tick(struct loop *l, struct timer *t)
{
	loop_timer_arm(l, t, 1);
}

static void *exit_race_loop(void *arg)
{
	struct exit_race *r = arg;
	struct loop *l = loop_create(&h_params);

	if (!l)
		abort(); /* cmocka's asserts belong to the test's own thread */
	timer_init(&r->tick, exit_race_tick);
	loop_timer_arm(l, &r->tick, 1);
	__atomic_store_n(&r->l, l, __ATOMIC_RELEASE);
	r->run_ret = loop_run(l);
	loop_destroy(l); /* at once, as a worker thread does */
	return NULL;
}

static void test_stop_races_loop_exit(void **state)
{
	for (int round = 0; round < EXIT_RACE_ROUNDS; round++) {
		struct exit_race r = {.run_ret = -1};
		struct loop *l;
		pthread_t th;

		assert_int_equal(pthread_create(&th, NULL, exit_race_loop, &r), 0);
		while (!(l = __atomic_load_n(&r.l, __ATOMIC_ACQUIRE)))
			usleep(100);
		usleep((unsigned)(round % 4) * 500);
		loop_stop(l);
		pthread_join(th, NULL);
		assert_int_equal(r.run_ret, 0);
	}
}

/* --- nop: a callback in the next turn ------------------------------------------------ */

static void on_nop(struct h_owner *o, unsigned op, const struct io_uring_cqe *cqe)
{
	if (h_count(o, OP_PEEK) < 3)
		assert_int_equal(loop_prep_nop(o->loop, o->id, OP_PEEK), 0);
}

static bool three_nops(void *arg)
{
	return h_count(arg, OP_PEEK) == 3 &&
	       loop_slot_inflight(((struct h_owner *)arg)->loop, ((struct h_owner *)arg)->id) == 0;
}

static void test_nop(void **state)
{
	struct loop *l = loop_create(&h_params);
	struct h_owner o;
	uint64_t turns;

	assert_non_null(l);
	h_owner_open(&o, l, -1);
	o.handler = on_nop;
	assert_int_equal(loop_prep_nop(l, o.id, OP_PEEK), 0);
	assert_int_equal(o.nev, 0); /* queued, not run inline */
	turns = loop_stats(l)->turns;
	assert_true(h_run_until(l, three_nops, &o, 1000));
	assert_true(loop_stats(l)->turns - turns >= 3); /* one per turn, no recursion */
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(o.ev[i].res, 0);
	loop_destroy(l);
}

/* --- the end-of-turn hook --------------------------------------------------------------- */

struct turn_rec {
	struct h_owner *o;
	unsigned calls;
	unsigned nev_seen; /* completions dispatched before the last call */
	bool queue_nop;	   /* queue a nop from the hook, once */
};

static void on_turn(struct loop *l, void *arg)
{
	struct turn_rec *t = arg;

	t->calls++;
	t->nev_seen = t->o->nev;
	if (t->queue_nop) {
		t->queue_nop = false;
		assert_int_equal(loop_prep_nop(l, t->o->id, OP_PEEK), 0);
	}
}

static void test_turn_hook(void **state)
{
	struct loop *l = loop_create(&h_params);
	struct h_owner o;
	struct turn_rec t = {.o = &o};
	unsigned calls;

	assert_non_null(l);
	h_owner_open(&o, l, -1);
	loop_set_turn_hook(l, on_turn, &t);
	assert_int_equal(loop_prep_nop(l, o.id, OP_PEEK), 0);
	/* the turn that dispatches the completion runs the hook after it */
	while (o.nev == 0)
		assert_true(loop_run_once(l, 1000) >= 0);
	assert_int_equal(t.nev_seen, 1);
	calls = t.calls;
	assert_true(calls >= 1);
	/* what the hook queues goes out with the next turn's submit */
	t.queue_nop = true;
	assert_true(loop_run_once(l, 0) >= 0);
	while (o.nev < 2)
		assert_true(loop_run_once(l, 1000) >= 0);
	assert_int_equal(h_count(&o, OP_PEEK), 2);
	assert_int_equal(t.nev_seen, 2);
	/* removed: no more calls */
	loop_set_turn_hook(l, NULL, NULL);
	calls = t.calls;
	assert_true(loop_run_once(l, 0) >= 0);
	assert_int_equal(t.calls, calls);
	loop_destroy(l);
}

/* --- a full SQ is submitted early, not an error --------------------------------------- */

static bool sends_done(void *arg)
{
	return h_count(arg, OP_SEND) == 100;
}

static void test_sq_full(void **state)
{
	struct loop_params p = h_params;
	struct h_owner o;
	struct loop *l;
	char buf[128];
	size_t got = 0;
	int a, b;

	p.entries = 8;
	l = loop_create(&p);
	assert_non_null(l);
	h_tcp_pair(&a, &b);
	h_owner_open(&o, l, a);
	for (int i = 0; i < 100; i++)
		assert_int_equal(loop_prep_send(l, o.id, OP_SEND, a, "x", 1, 0), 0);
	assert_true(loop_stats(l)->sq_full > 0);
	assert_true(h_run_until(l, sends_done, &o, 3000));
	for (unsigned i = 0; i < o.nev; i++)
		assert_int_equal(o.ev[i].res, 1);
	while (got < 100) {
		ssize_t n = read(b, buf, sizeof(buf));

		if (n > 0)
			got += (size_t)n;
		else
			loop_run_once(l, 1);
	}
	assert_int_equal(got, 100);
	loop_destroy(l);
	close(a);
	close(b);
}

/* Makes every io_uring_enter() of the loop fail (-EOPNOTSUPP) until
 * ring_restore(): the ring's descriptor number points at an eventfd. */
static int ring_break(struct loop *l)
{
	int save = dup(l->ring.enter_ring_fd), bad = eventfd(0, EFD_CLOEXEC);

	assert_true(save >= 0 && bad >= 0);
	assert_int_equal(dup2(bad, l->ring.enter_ring_fd), l->ring.enter_ring_fd);
	close(bad);
	return save;
}

static void ring_restore(struct loop *l, int save)
{
	assert_int_equal(dup2(save, l->ring.enter_ring_fd), l->ring.enter_ring_fd);
	close(save);
}

static bool nops_done(void *arg)
{
	struct h_owner *o = arg;

	return loop_slot_inflight(o->loop, o->id) == 0;
}

/* Regression: a timed connect needs two SQEs. With one entry left and an
 * early submit that failed, the connect took the last entry and the linked
 * timeout found none: assert(tsqe) aborted the process. Now nothing is
 * queued and the caller gets -EBUSY. */
static void test_timed_connect_sq_full_submit_fails(void **state)
{
	struct loop_params p = h_params;
	struct sockaddr_in sin;
	unsigned queued = 0;
	struct h_owner o;
	struct loop *l;
	uint16_t port;
	int lfd, fd, save, rc;

	p.entries = 8;
	l = loop_create(&p);
	assert_non_null(l);
	lfd = h_listener(&port, 4);
	sin = h_addr(port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	h_owner_open(&o, l, fd);
	while (io_uring_sq_space_left(&l->ring) > 1) {
		assert_int_equal(loop_prep_nop(l, o.id, OP_PEEK), 0);
		queued++;
	}
	save = ring_break(l);
	rc = loop_prep_connect(l, o.id, OP_CONNECT, fd, (struct sockaddr *)&sin, sizeof(sin), 1000);
	ring_restore(l, save);
	assert_int_equal(rc, -EBUSY);
	assert_int_equal(loop_slot_inflight(l, o.id), queued); /* the nops only */
	assert_true(h_run_until(l, nops_done, &o, 3000));
	assert_int_equal(h_count(&o, OP_PEEK), queued);
	assert_int_equal(h_count(&o, OP_CONNECT), 0);
	/* The slot is still usable: the same connect now goes through. */
	assert_int_equal(
	    loop_prep_connect(l, o.id, OP_CONNECT, fd, (struct sockaddr *)&sin, sizeof(sin), 1000),
	    0);
	assert_true(h_run_until(l, connect_done, &o, 3000));
	assert_int_equal(h_last(&o, OP_CONNECT)->res, 0);
	loop_destroy(l);
	close(fd);
	close(lfd);
}

/* Regression: when io_uring itself failed, loop_run() went on "draining"
 * by calling the failing turn in a tight loop for LOOP_DRAIN_MS (5 s of a
 * busy CPU, twice with loop_destroy()) and then reported -ETIMEDOUT instead
 * of the ring's error. */
static void test_ring_failure_ends_run_at_once(void **state)
{
	struct loop *l = loop_create(&h_params);
	uint64_t t0;
	int save, ret;

	assert_non_null(l);
	save = ring_break(l);
	t0 = h_now_ms();
	ret = loop_run(l);
	assert_true(h_now_ms() - t0 < 1000);
	assert_int_equal(ret, -EOPNOTSUPP);
	ring_restore(l, save);
	t0 = h_now_ms();
	loop_destroy(l); /* the ring works again: drains, frees (LeakSanitizer checks) */
	assert_true(h_now_ms() - t0 < 1000);
}

/* Regression: loop.h allows abandoning a slot with an accept in flight, but
 * a connection the kernel accepted for it afterwards came back as a stale
 * completion whose descriptor nobody closed: every such client leaked an fd
 * and hung. The loop now closes the descriptor of a stale accept. */
struct stale_goal {
	struct loop *l;
	unsigned want;
};

static bool stale_at_least(void *arg)
{
	const struct stale_goal *g = arg;

	return loop_stats(g->l)->stale >= g->want;
}

static void test_abandoned_accept_closes_late_fds(void **state)
{
	struct loop *l = loop_create(&h_params);
	bool multi = loop_features(l) & LOOP_F_ACCEPT_MULTISHOT;
	struct stale_goal goal = {.l = l, .want = multi ? 3 : 1};
	struct h_owner o, fresh;
	int fds_before, lfd, cfd[3];
	uint16_t port;
	char c;

	assert_non_null(l);
	lfd = h_listener(&port, 8);
	h_nonblock(lfd);
	h_owner_open(&o, l, lfd);
	assert_int_equal(loop_prep_accept(l, o.id, OP_ACCEPT, lfd), 0);
	loop_run_once(l, 0); /* armed in the kernel */
	loop_slot_abandon(l, o.id);
	fds_before = count_fds();
	for (int i = 0; i < 3; i++)
		cfd[i] = h_connect(port);
	assert_true(h_run_until(l, stale_at_least, &goal, 3000));
	assert_int_equal(o.nev, 0);
	/* Only the three client ends are new: what was accepted got closed,
	 * and the first client sees the close. */
	assert_int_equal(count_fds(), fds_before + 3);
	assert_int_equal(read(cfd[0], &c, 1), 0);
	/* Stop the accept through a fresh owner of the descriptor. */
	h_owner_open(&fresh, l, lfd);
	assert_int_equal(loop_prep_cancel_fd(l, fresh.id, lfd), 0);
	for (int i = 0; i < 50 && loop_inflight(l) > 1; i++)
		loop_run_once(l, 10);
	assert_int_equal(loop_inflight(l), 1); /* the eventfd read only */
	assert_int_equal(fresh.nev, 0);
	loop_destroy(l);
	for (int i = 0; i < 3; i++)
		close(cfd[i]);
	close(lfd);
}

/* Functions still posted when the loop is destroyed run then (and may post). */
static void free_arg(struct loop *l, void *arg)
{
	free(arg);
}

static void post_again(struct loop *l, void *arg)
{
	assert_int_equal(loop_post(l, free_arg, arg), 0);
}

static void test_post_at_destroy(void **state)
{
	struct loop *l = loop_create(&h_params);

	assert_non_null(l);
	assert_int_equal(loop_post(l, free_arg, malloc(32)), 0);
	assert_int_equal(loop_post(l, post_again, malloc(64)), 0);
	loop_destroy(l); /* LeakSanitizer checks both buffers were freed */
}

/* --- loop_stop with requests in flight leaks nothing ----------------------------------- */

struct stopper {
	struct h_owner o[6];
	int fds[12], nfds;
};

/* Owners close their slot once their last request ended. */
static void on_end_close(struct h_owner *o, unsigned op, const struct io_uring_cqe *cqe)
{
	int bid = loop_cqe_bid(cqe);

	if (bid >= 0)
		bufring_put(loop_bufring(o->loop), (unsigned)bid);
	if (loop_slot_inflight(o->loop, o->id) == 0)
		loop_slot_close(o->loop, o->id);
}

static void stop_soon(struct loop *l, struct timer *t)
{
	loop_stop(l);
}

static void test_stop_with_inflight(void **state)
{
	int fds_before = count_fds();
	struct loop *l = loop_create(&h_params);
	struct stopper s = {.nfds = 0};
	struct sockaddr_in full;
	struct timer stop_t, idle_t;
	uint16_t port, fport;
	int p[2], fill[2];
	uint64_t t0;

	assert_non_null(l);
	for (int i = 0; i < 6; i++)
		h_owner_open(&s.o[i], l, -1);
	for (int i = 0; i < 6; i++)
		s.o[i].handler = i < 5 ? on_end_close : NULL; /* o[5] is closed by destroy */
	s.fds[s.nfds++] = h_listener(&port, 8);
	assert_int_equal(loop_prep_accept(l, s.o[0].id, OP_ACCEPT, s.fds[0]), 0);
	for (int i = 1; i <= 2; i++) {
		h_tcp_pair(&s.fds[s.nfds], &s.fds[s.nfds + 1]);
		assert_int_equal(loop_prep_recv(l, s.o[i].id, OP_RECV, s.fds[s.nfds + 1]), 0);
		s.nfds += 2;
	}
	s.fds[s.nfds++] = full_listener(&fport, fill);
	s.fds[s.nfds++] = fill[0];
	s.fds[s.nfds++] = fill[1];
	full = h_addr(fport);
	s.fds[s.nfds] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_int_equal(loop_prep_connect(l, s.o[3].id, OP_CONNECT, s.fds[s.nfds++],
					   (struct sockaddr *)&full, sizeof(full), 10000),
			 0);
	/* A splice from an idle socket blocks in an io_uring worker thread. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(loop_prep_splice(l, s.o[4].id, OP_SPLICE_IN, s.fds[2], p[1], 4096, 0), 0);
	assert_int_equal(loop_prep_recv(l, s.o[5].id, OP_RECV, s.fds[4]), 0);
	timer_init(&idle_t, on_timer);
	loop_timer_arm(l, &idle_t, 60000);
	timer_init(&stop_t, stop_soon);
	loop_timer_arm(l, &stop_t, 50);
	t0 = h_now_ms();
	assert_int_equal(loop_run(l), 0);
	assert_true(h_now_ms() - t0 < 3000);
	assert_int_equal(loop_inflight(l), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(s.o[i].freed, 1);
	assert_int_equal(bufring_avail(loop_bufring(l)) + 0u, bufring_count(loop_bufring(l)));
	loop_destroy(l);
	assert_int_equal(s.o[5].freed, 1);
	for (int i = 0; i < s.nfds; i++)
		close(s.fds[i]);
	close(p[0]);
	close(p[1]);
	assert_int_equal(count_fds(), fds_before);
}

#define LOOP_TESTS                                                                                 \
	cmocka_unit_test(test_accept_several), cmocka_unit_test(test_send_partial),                \
	    cmocka_unit_test(test_connect), cmocka_unit_test(test_connect_timeout),                \
	    cmocka_unit_test(test_splice), cmocka_unit_test(test_shutdown_eof),                    \
	    cmocka_unit_test(test_close), cmocka_unit_test(test_cancel_recv),                      \
	    cmocka_unit_test(test_loop_timer), cmocka_unit_test(test_post_from_thread),            \
	    cmocka_unit_test(test_stop_races_loop_exit), cmocka_unit_test(test_sq_full),           \
	    cmocka_unit_test(test_timed_connect_sq_full_submit_fails),                             \
	    cmocka_unit_test(test_ring_failure_ends_run_at_once),                                  \
	    cmocka_unit_test(test_abandoned_accept_closes_late_fds),                               \
	    cmocka_unit_test(test_post_at_destroy), cmocka_unit_test(test_nop),                    \
	    cmocka_unit_test(test_stop_with_inflight), cmocka_unit_test(test_slot_parked),         \
	    cmocka_unit_test(test_turn_hook), cmocka_unit_test(test_poll)

int main(void)
{
	const struct CMUnitTest tests[] = {LOOP_TESTS};
	int fail = 0;

	for (size_t m = 0; m < sizeof(h_modes) / sizeof(h_modes[0]); m++) {
		h_params = h_modes[m];
		fail |= _cmocka_run_group_tests(h_mode_names[m], tests,
						sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	}
	return fail;
}
