/* Provided-buffer ring tests: the ring alone on a bare io_uring (states,
 * batching, misuse aborts), then through the loop on every path: recv from
 * several connections, recovery when a tiny ring runs dry, and a stale
 * completion after slot reuse that must not reach the new owner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "loop_harness.h"

enum { OP_RECV = 1 };

/* --- the ring alone --------------------------------------------------------------- */

static int recv_one(struct io_uring *ring, struct bufring *b, int fd, unsigned *bid)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int res;

	io_uring_prep_recv(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = b->bgid;
	assert_true(io_uring_submit_and_wait(ring, 1) >= 1);
	assert_int_equal(io_uring_peek_cqe(ring, &cqe), 0);
	res = cqe->res;
	if (cqe->flags & IORING_CQE_F_BUFFER)
		*bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

static void test_ring_states(void **state)
{
	struct io_uring ring;
	struct bufring b;
	unsigned bid = 99;
	int sv[2];

	assert_int_equal(io_uring_queue_init(8, &ring, 0), 0);
	assert_int_equal(bufring_init(&b, &ring, 3, 3, 128, false), -EINVAL);
	assert_int_equal(bufring_init(&b, &ring, 3, 0, 128, false), -EINVAL);
	assert_int_equal(bufring_init(&b, &ring, 3, 65536, 128, false), -EINVAL);
	assert_int_equal(bufring_init(&b, &ring, 3, 8, 0, false), -EINVAL);
	assert_int_equal(bufring_init(&b, &ring, 3, 8, 128, false), 0);
	assert_false(bufring_is_pool(&b));
	assert_int_equal(bufring_avail(&b), 8);
	assert_int_equal(((uintptr_t)b.br) % (uintptr_t)sysconf(_SC_PAGESIZE), 0);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(bufring_state(&b, i), BUFRING_KERNEL);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], "abcdef", 6), 6);
	assert_int_equal(recv_one(&ring, &b, sv[0], &bid), 6);
	assert_true(bid < 8);
	bufring_take(&b, bid);
	assert_memory_equal(bufring_get(&b, bid), "abcdef", 6);
	assert_int_equal(bufring_state(&b, bid), BUFRING_USER);
	assert_int_equal(bufring_avail(&b), 7);
	bufring_put(&b, bid);
	/* Batched: not visible to the kernel until the flush. */
	assert_int_equal(bufring_state(&b, bid), BUFRING_PENDING);
	assert_int_equal(bufring_avail(&b), 7);
	bufring_flush(&b);
	assert_int_equal(bufring_state(&b, bid), BUFRING_KERNEL);
	assert_int_equal(bufring_avail(&b), 8);

	/* Drain all 8, put them back, and the kernel can use every one again. */
	for (unsigned round = 0; round < 2; round++) {
		unsigned got[8];

		for (unsigned i = 0; i < 8; i++) {
			assert_int_equal(write(sv[1], "x", 1), 1);
			assert_int_equal(recv_one(&ring, &b, sv[0], &got[i]), 1);
			bufring_take(&b, got[i]);
		}
		assert_int_equal(bufring_avail(&b), 0);
		assert_int_equal(write(sv[1], "y", 1), 1);
		assert_int_equal(recv_one(&ring, &b, sv[0], &bid), -ENOBUFS);
		for (unsigned i = 0; i < 8; i++)
			bufring_put(&b, got[i]);
		bufring_flush(&b);
		assert_int_equal(bufring_avail(&b), 8);
		assert_int_equal(recv_one(&ring, &b, sv[0], &bid), 1); /* the "y" */
		bufring_take(&b, bid);
		bufring_put(&b, bid);
		bufring_flush(&b);
	}
	bufring_fini(&b);
	bufring_fini(&b); /* safe twice */
	io_uring_queue_exit(&ring);
	close(sv[0]);
	close(sv[1]);
}

static void test_pool_mode(void **state)
{
	struct bufring b;
	int bids[4];

	assert_int_equal(bufring_init(&b, NULL, 0, 4, 64, true), 0);
	assert_true(bufring_is_pool(&b));
	for (int i = 0; i < 4; i++) {
		bids[i] = bufring_pool_pop(&b);
		assert_true(bids[i] >= 0 && bids[i] < 4);
	}
	assert_int_equal(bufring_pool_pop(&b), -ENOBUFS);
	assert_int_equal(bufring_avail(&b), 0);
	bufring_pool_unpop(&b, (unsigned)bids[3]); /* a recv that brought nothing */
	bufring_take(&b, (unsigned)bids[0]);
	memset(bufring_get(&b, (unsigned)bids[0]), 0xAB, 64); /* the whole buffer is ours */
	bufring_put(&b, (unsigned)bids[0]);
	assert_int_equal(bufring_avail(&b), 2); /* pool puts need no flush */
	assert_int_equal(bufring_state(&b, (unsigned)bids[0]), BUFRING_KERNEL);
	bufring_fini(&b);
}

/* Runs `fn` in a child; true when the child died of SIGABRT (an assert). */
static bool aborts(void (*fn)(void))
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		dup2(devnull, STDERR_FILENO); /* keep the expected assert quiet */
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void double_put(void)
{
	struct bufring b;

	bufring_init(&b, NULL, 0, 4, 64, true);
	bufring_take(&b, (unsigned)bufring_pool_pop(&b));
	bufring_put(&b, 0);
	bufring_put(&b, 0);
}

static void put_kernel_owned(void)
{
	struct bufring b;

	bufring_init(&b, NULL, 0, 4, 64, true);
	bufring_put(&b, 2);
}

static void take_twice(void)
{
	struct bufring b;

	bufring_init(&b, NULL, 0, 4, 64, true);
	bufring_take(&b, (unsigned)bufring_pool_pop(&b));
	bufring_take(&b, 0);
}

static void test_misuse_aborts(void **state)
{
	assert_true(aborts(double_put));
	assert_true(aborts(put_kernel_owned));
	assert_true(aborts(take_twice));
}

/* --- through the loop, on every path --------------------------------------------------- */

#define N_CONNS 4
#define RX_LEN	(200u << 10)

struct rx {
	struct h_owner o;
	int peer;
	size_t sent, rcvd, len;
	unsigned seed, more, nheld, hold_max;
	int held[64];
	bool bad;
	struct timer release; /* a slow forwarder lets go of what it holds */
};

static void rx_release(struct rx *r)
{
	for (unsigned i = 0; i < r->nheld; i++)
		bufring_put(loop_bufring(r->o.loop), (unsigned)r->held[i]);
	r->nheld = 0;
}

static void on_release(struct loop *l, struct timer *t)
{
	rx_release(timer_owner(t, struct rx, release));
}

static void on_rx(struct h_owner *o, unsigned op, const struct io_uring_cqe *cqe)
{
	struct rx *r = o->ctx;
	struct bufring *br = loop_bufring(o->loop);
	int bid = loop_cqe_bid(cqe);

	r->more += loop_cqe_more(cqe);
	if (cqe->res > 0) {
		const uint8_t *p = bufring_get(br, (unsigned)bid);

		assert_true((unsigned)cqe->res <= bufring_size(br));
		for (int i = 0; i < cqe->res; i++)
			r->bad |= p[i] != h_pattern(r->rcvd + (size_t)i, r->seed);
		r->rcvd += (size_t)cqe->res;
	} else if (cqe->res != -ENOBUFS) {
		r->bad |= cqe->res != 0 || r->rcvd != r->len;
	}
	if (bid >= 0)
		r->held[r->nheld++] = bid;
	/* Hold buffers (as a slow forwarder would) until the ring is dry. */
	if (r->nheld >= r->hold_max || cqe->res == -ENOBUFS)
		rx_release(r);
	else if (r->nheld && !timer_is_armed(&r->release))
		loop_timer_arm(o->loop, &r->release, 2);
	if (!loop_cqe_more(cqe) && (cqe->res > 0 || cqe->res == -ENOBUFS))
		assert_int_equal(loop_prep_recv(o->loop, o->id, OP_RECV, o->fd), 0);
}

static void rx_open(struct rx *r, struct loop *l, unsigned seed, size_t len, unsigned hold_max)
{
	int a, b;

	h_tcp_pair(&a, &b);
	h_owner_open(&r->o, l, b);
	r->o.handler = on_rx;
	r->o.ctx = r;
	r->peer = a;
	r->seed = seed;
	r->len = len;
	r->hold_max = hold_max;
	timer_init(&r->release, on_release);
	assert_int_equal(loop_prep_recv(l, r->o.id, OP_RECV, b), 0);
}

static bool rx_idle(void *arg)
{
	struct rx *r = arg;

	return loop_slot_inflight(r->o.loop, r->o.id) == 0;
}

/* Cancels the pending recv, lets go of held buffers, closes the sockets. */
static void rx_close(struct rx *r)
{
	assert_int_equal(loop_prep_cancel(r->o.loop, r->o.id, OP_RECV), 0);
	assert_true(h_run_until(r->o.loop, rx_idle, r, 3000));
	rx_release(r);
	loop_timer_cancel(r->o.loop, &r->release);
	close(r->peer);
	close(r->o.fd);
}

/* Writes what the socket takes; true once every receiver has everything. */
static bool rx_pump(void *arg)
{
	struct rx *r = arg;
	bool done = true;

	for (int k = 0; k < N_CONNS && r[k].len; k++) {
		uint8_t buf[8192];

		while (r[k].sent < r[k].len) {
			size_t n =
			    r[k].len - r[k].sent < sizeof(buf) ? r[k].len - r[k].sent : sizeof(buf);
			ssize_t w;

			for (size_t i = 0; i < n; i++)
				buf[i] = h_pattern(r[k].sent + i, r[k].seed);
			w = write(r[k].peer, buf, n);
			if (w <= 0)
				break;
			r[k].sent += (size_t)w;
		}
		done &= r[k].rcvd == r[k].len || r[k].bad;
	}
	return done;
}

static void test_recv_several(void **state)
{
	struct loop *l = loop_create(&h_params);
	struct rx *r = calloc(N_CONNS, sizeof(*r));
	struct bufring *br;

	assert_non_null(l);
	br = loop_bufring(l);
	for (unsigned k = 0; k < N_CONNS; k++)
		rx_open(&r[k], l, k + 1, RX_LEN, 1);
	assert_true(h_run_until(l, rx_pump, r, 20000));
	for (unsigned k = 0; k < N_CONNS; k++) {
		assert_false(r[k].bad);
		assert_int_equal(r[k].rcvd, RX_LEN);
		if (loop_features(l) & LOOP_F_RECV_MULTISHOT)
			assert_true(r[k].more > 0); /* stayed armed across completions */
		else
			assert_int_equal(r[k].more, 0);
	}
	for (unsigned k = 0; k < N_CONNS; k++)
		rx_close(&r[k]);
	loop_run_once(l, 0); /* the flush of the last puts */
	assert_int_equal(bufring_avail(br), bufring_count(br));
	assert_int_equal(loop_stats(l)->stale, 0);
	loop_destroy(l);
	free(r);
}

static void test_enobufs_recovery(void **state)
{
	struct loop_params p = h_params;
	struct rx *r = calloc(N_CONNS, sizeof(*r));
	struct loop *l;

	p.buf_count = 4;
	p.buf_size = 256;
	l = loop_create(&p);
	assert_non_null(l);
	rx_open(&r[0], l, 9, 64u << 10, 4);
	rx_open(&r[1], l, 10, 32u << 10, 2);
	assert_true(h_run_until(l, rx_pump, r, 20000));
	for (unsigned k = 0; k < 2; k++) {
		assert_false(r[k].bad);
		assert_int_equal(r[k].rcvd, r[k].len);
	}
	/* The ring ran dry: either the kernel said ENOBUFS or the loop parked. */
	assert_true(loop_stats(l)->enobufs + loop_stats(l)->parked > 0);
	if (loop_features(l) & LOOP_F_RECV_MULTISHOT)
		assert_true(loop_stats(l)->enobufs > 0);
	rx_close(&r[0]);
	rx_close(&r[1]);
	loop_run_once(l, 0);
	assert_int_equal(bufring_avail(loop_bufring(l)), 4);
	loop_destroy(l);
	free(r);
}

/* A recv parked on a dry ring is cancelled like any other request. */
struct hog {
	struct h_owner o;
	int held[8];
	unsigned nheld;
	bool parked;
};

static void on_hog(struct h_owner *o, unsigned op, const struct io_uring_cqe *cqe)
{
	struct hog *h = o->ctx;
	int bid = loop_cqe_bid(cqe);

	if (bid >= 0)
		h->held[h->nheld++] = bid; /* never put back while the test runs */
	if (!loop_cqe_more(cqe) && (cqe->res > 0 || cqe->res == -ENOBUFS)) {
		assert_int_equal(loop_prep_recv(o->loop, o->id, OP_RECV, o->fd), 0);
		h->parked = bufring_avail(loop_bufring(o->loop)) == 0;
	}
}

static bool hog_parked(void *arg)
{
	struct hog *h = arg;

	return h->parked && h->nheld == 2 && loop_stats(h->o.loop)->parked > 0;
}

static bool hog_idle(void *arg)
{
	struct hog *h = arg;

	return loop_slot_inflight(h->o.loop, h->o.id) == 0;
}

static void test_cancel_parked(void **state)
{
	struct loop_params p = h_params;
	struct hog h;
	struct loop *l;
	int a, b;

	p.buf_count = 2;
	p.buf_size = 64;
	l = loop_create(&p);
	assert_non_null(l);
	h_tcp_pair(&a, &b);
	h_owner_open(&h.o, l, b);
	h.o.handler = on_hog;
	h.o.ctx = &h;
	h.nheld = 0;
	h.parked = false;
	assert_int_equal(loop_prep_recv(l, h.o.id, OP_RECV, b), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(write(a, "0123456789abcdef0123456789abcdef0123456789abcdef", 48),
				 48);
		loop_run_once(l, 5);
	}
	assert_true(h_run_until(l, hog_parked, &h, 3000));
	assert_int_equal(loop_slot_inflight(l, h.o.id), 1); /* the parked recv */
	assert_int_equal(loop_prep_cancel_slot(l, h.o.id), 0);
	assert_true(h_run_until(l, hog_idle, &h, 3000));
	assert_int_equal(h_last(&h.o, OP_RECV)->res, -ECANCELED);
	for (unsigned i = 0; i < h.nheld; i++)
		bufring_put(loop_bufring(l), (unsigned)h.held[i]);
	loop_run_once(l, 0);
	assert_int_equal(bufring_avail(loop_bufring(l)), 2);
	loop_destroy(l);
	close(a);
	close(b);
}

/* --- stale completion after slot reuse --------------------------------------------------- */

static bool stale_seen(void *arg)
{
	struct loop *l = arg;

	return loop_stats(l)->stale > 0;
}

struct inflight_goal {
	struct loop *l;
	unsigned want;
};

static bool inflight_back(void *arg)
{
	struct inflight_goal *g = arg;

	return loop_inflight(g->l) == g->want;
}

static void test_stale_after_reuse(void **state)
{
	struct loop *l = loop_create(&h_params);
	struct inflight_goal g = {.l = l};
	struct h_owner old, fresh;
	struct rx *r = calloc(N_CONNS, sizeof(*r));
	int a, b, id;

	assert_non_null(l);
	loop_run_once(l, 0);
	g.want = loop_inflight(l); /* the loop's own wake-up read */
	h_tcp_pair(&a, &b);
	h_owner_open(&old, l, b);
	assert_int_equal(loop_prep_recv(l, old.id, OP_RECV, b), 0);
	loop_run_once(l, 0);
	id = old.id;
	loop_slot_abandon(l, id);
	h_owner_open(&fresh, l, b);
	assert_int_equal(fresh.id, id); /* same slot, next generation */

	assert_int_equal(write(a, "stale!", 6), 6);
	assert_true(h_run_until(l, stale_seen, l, 3000));
	/* The multishot recv may still be armed: cancel it through the new id. */
	assert_int_equal(loop_prep_cancel_fd(l, fresh.id, b), 0);
	assert_true(h_run_until(l, inflight_back, &g, 3000));
	assert_int_equal(old.nev, 0);
	assert_int_equal(fresh.nev, 0); /* never reached the new owner */
	loop_run_once(l, 0);
	assert_int_equal(bufring_avail(loop_bufring(l)), bufring_count(loop_bufring(l)));

	/* The reused slot works normally for its new owner. */
	loop_slot_close(l, fresh.id);
	loop_run_once(l, 0);
	assert_int_equal(fresh.freed, 1);
	rx_open(&r[0], l, 5, 4096, 1);
	assert_int_equal(r[0].o.id, id);
	assert_true(h_run_until(l, rx_pump, r, 3000));
	assert_false(r[0].bad);
	rx_close(&r[0]);
	loop_destroy(l);
	close(a);
	close(b);
	free(r);
}

int main(void)
{
	const struct CMUnitTest alone[] = {
	    cmocka_unit_test(test_ring_states),
	    cmocka_unit_test(test_pool_mode),
	    cmocka_unit_test(test_misuse_aborts),
	};
	const struct CMUnitTest with_loop[] = {
	    cmocka_unit_test(test_recv_several),
	    cmocka_unit_test(test_enobufs_recovery),
	    cmocka_unit_test(test_cancel_parked),
	    cmocka_unit_test(test_stale_after_reuse),
	};
	int fail = cmocka_run_group_tests_name("bufring", alone, NULL, NULL);

	for (size_t m = 0; m < sizeof(h_modes) / sizeof(h_modes[0]); m++) {
		h_params = h_modes[m];
		fail |=
		    _cmocka_run_group_tests(h_mode_names[m], with_loop,
					    sizeof(with_loop) / sizeof(with_loop[0]), NULL, NULL);
	}
	return fail;
}
