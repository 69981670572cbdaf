/* Event loop requests on real loopback sockets: accept, send with partial
 * completions, splice, sendmsg with shutdown, close and poll. Every test runs
 * once per path (default and each forced fallback). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <poll.h>

#include "loop_harness.h"

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
		assert_int_equal(loop_prep_accept(o->loop, o->id, H_OP_ACCEPT, o->fd), 0);
}

static bool accepted5(void *arg)
{
	return ((struct accept_ctx *)arg)->n == 5;
}

static bool accept_cancelled(void *arg)
{
	const struct h_ev *e = h_last(arg, H_OP_ACCEPT);

	return e && e->res == -ECANCELED;
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
	assert_int_equal(loop_prep_accept(l, o.id, H_OP_ACCEPT, o.fd), 0);
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
	assert_int_equal(loop_prep_cancel(l, o.id, H_OP_ACCEPT), 0);
	assert_true(h_run_until(l, accept_cancelled, &o, 3000));
	assert_false(h_last(&o, H_OP_ACCEPT)->flags & IORING_CQE_F_MORE);
	assert_int_equal(loop_slot_inflight(l, o.id), 0);
	loop_slot_close(l, o.id);
	assert_true(h_run_until(l, h_slot_freed, &o, 1000));
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
		assert_int_equal(loop_prep_send(o->loop, o->id, H_OP_SEND, o->fd, c->data + c->off,
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
	assert_int_equal(loop_prep_send(l, o.id, H_OP_SEND, a, c.data, SEND_LEN, 0), 0);
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
		c->bad |= !(op == H_OP_SPLICE_IN && cqe->res == 0 && c->in == SPLICE_LEN);
		return;
	}
	if (op == H_OP_SPLICE_IN) {
		c->in += (size_t)cqe->res;
		c->pending = (size_t)cqe->res;
	} else {
		c->pending -= (size_t)cqe->res;
	}
	if (c->pending)
		loop_prep_splice(o->loop, o->id, H_OP_SPLICE_OUT, c->pipe_r, c->dst_w,
				 (unsigned)c->pending, 0);
	else if (c->in < SPLICE_LEN)
		loop_prep_splice(o->loop, o->id, H_OP_SPLICE_IN, c->src_r, c->pipe_w, 65536, 0);
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
	assert_int_equal(loop_prep_splice(l, o.id, H_OP_SPLICE_IN, c.src_r, c.pipe_w, 65536, 0), 0);
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

	if (op != H_OP_RECV)
		return;
	if (cqe->res > 0 && s->len + (size_t)cqe->res <= sizeof(s->data)) {
		memcpy(s->data + s->len, bufring_get(br, (unsigned)bid), (size_t)cqe->res);
		s->len += (size_t)cqe->res;
	}
	if (bid >= 0)
		bufring_put(br, (unsigned)bid);
	s->eof |= cqe->res == 0;
	if (!loop_cqe_more(cqe) && (cqe->res > 0 || cqe->res == -ENOBUFS))
		assert_int_equal(loop_prep_recv(o->loop, o->id, H_OP_RECV, o->fd), 0);
}

static bool sink_eof(void *arg)
{
	return ((struct sink *)arg)->eof;
}

static bool shut_done(void *arg)
{
	return h_count(arg, H_OP_SHUT) == 1;
}

static bool peeked(void *arg)
{
	return h_count(arg, H_OP_PEEK) == 1;
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
	assert_int_equal(loop_prep_sendmsg(l, wr.id, H_OP_SEND, a, &msg, 0), 0);
	assert_int_equal(loop_prep_shutdown(l, wr.id, H_OP_SHUT, a, SHUT_WR), 0);
	/* Peek first: the data stays queued for the recv that follows. */
	assert_int_equal(loop_prep_recv_into(l, rd.id, H_OP_PEEK, b, peek, 5, MSG_PEEK), 0);
	assert_true(h_run_until(l, peeked, &rd, 3000));
	assert_int_equal(h_last(&rd, H_OP_PEEK)->res, 5);
	assert_memory_equal(peek, "hello", 5);
	assert_int_equal(loop_prep_recv(l, rd.id, H_OP_RECV, b), 0);
	assert_true(h_run_until(l, sink_eof, &s, 3000));
	/* shutdown runs on an io_uring worker thread: it may complete late. */
	assert_true(h_run_until(l, shut_done, &wr, 3000));
	assert_int_equal(s.len, 11);
	assert_memory_equal(s.data, "hello world", 11);
	assert_int_equal(h_last(&wr, H_OP_SEND)->res, 11);
	assert_int_equal(h_last(&wr, H_OP_SHUT)->res, 0);
	loop_destroy(l);
	assert_int_equal(wr.freed + rd.freed, 2);
	close(a);
	close(b);
}

/* --- close through the ring ------------------------------------------------------------ */

static bool closed(void *arg)
{
	return h_count(arg, H_OP_CLOSE) == 1;
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
	assert_int_equal(loop_prep_close(l, o.id, H_OP_CLOSE, fd), 0);
	assert_true(h_run_until(l, closed, &o, 3000));
	assert_int_equal(o.ev[0].res, 0);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	assert_true(h_run_until(l, h_slot_freed, &o, 1000));
	loop_destroy(l);
}

/* --- poll: one-shot sees readiness already there; multishot completes per wakeup -------- */

static bool polled1(void *arg)
{
	return h_count(arg, H_OP_POLL) == 1;
}

static bool polled2(void *arg)
{
	return h_count(arg, H_OP_POLL) == 2;
}

static bool poll_ended(void *arg)
{
	const struct h_ev *e = h_last(arg, H_OP_POLL);

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
	assert_int_equal(loop_prep_poll(l, o.id, H_OP_POLL, b, POLLIN, false), 0);
	assert_true(h_run_until(l, polled1, &o, 3000));
	assert_true(h_last(&o, H_OP_POLL)->res & POLLIN);
	assert_false(h_last(&o, H_OP_POLL)->flags & IORING_CQE_F_MORE);
	assert_int_equal(loop_slot_inflight(l, o.id), 0);
	assert_int_equal(read(b, buf, sizeof(buf)), 1);
	o.nev = 0;

	assert_int_equal(loop_prep_poll(l, o.id, H_OP_POLL, b, POLLIN, true), 0);
	loop_run_once(l, 0);
	loop_run_once(l, 0);
	assert_int_equal(o.nev, 0); /* nothing to read yet */
	assert_int_equal(write(a, "x", 1), 1);
	assert_true(h_run_until(l, polled1, &o, 3000));
	assert_true(h_last(&o, H_OP_POLL)->res & POLLIN);
	assert_true(h_last(&o, H_OP_POLL)->flags & IORING_CQE_F_MORE);
	/* The poll takes no byte: the owner reads them itself. */
	assert_int_equal(read(b, buf, sizeof(buf)), 1);
	/* Still armed: the next readiness completes again, no new request. */
	assert_int_equal(write(a, "yz", 2), 2);
	assert_true(h_run_until(l, polled2, &o, 3000));
	assert_true(h_last(&o, H_OP_POLL)->flags & IORING_CQE_F_MORE);
	assert_int_equal(loop_slot_inflight(l, o.id), 1);
	assert_int_equal(read(b, buf, sizeof(buf)), 2);
	assert_int_equal(loop_prep_cancel(l, o.id, H_OP_POLL), 0);
	assert_true(h_run_until(l, poll_ended, &o, 3000));
	assert_int_equal(h_last(&o, H_OP_POLL)->res, -ECANCELED);
	assert_int_equal(loop_slot_inflight(l, o.id), 0);
	loop_destroy(l);
	close(a);
	close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accept_several), cmocka_unit_test(test_send_partial),
	    cmocka_unit_test(test_splice),	   cmocka_unit_test(test_shutdown_eof),
	    cmocka_unit_test(test_close),	   cmocka_unit_test(test_poll),
	};

	return h_run_modes(tests, sizeof(tests) / sizeof(tests[0]));
}
