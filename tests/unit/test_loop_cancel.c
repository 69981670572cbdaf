/* Event loop cancellation and parked requests: cancel by op, by fd and by
 * slot, a recv parked on a dry buffer ring, and accepts of an abandoned slot
 * that complete late. Every test runs once per path (default and each forced
 * fallback). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "loop_harness.h"

/* --- cancel a pending recv ------------------------------------------------------------- */

static bool recv_ended(void *arg)
{
	const struct h_ev *e = h_last(arg, H_OP_RECV);

	return e && !(e->flags & IORING_CQE_F_MORE);
}

static bool peek_ended(void *arg)
{
	return h_count(arg, H_OP_PEEK) == 1;
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
	assert_int_equal(loop_prep_recv(l, o.id, H_OP_RECV, b), 0);
	loop_run_once(l, 0);
	loop_run_once(l, 0);
	assert_int_equal(o.nev, 0);
	assert_int_equal(loop_prep_cancel(l, o.id, H_OP_RECV), 0);
	assert_true(h_run_until(l, recv_ended, &o, 3000));
	assert_int_equal(h_last(&o, H_OP_RECV)->res, -ECANCELED);
	assert_int_equal(
	    loop_cqe_bid(&(struct io_uring_cqe){.flags = h_last(&o, H_OP_RECV)->flags}), -1);

	/* By fd, on a plain recv into the owner's buffer. */
	assert_int_equal(loop_prep_recv_into(l, o.id, H_OP_PEEK, b, buf, sizeof(buf), 0), 0);
	loop_run_once(l, 0);
	assert_int_equal(loop_prep_cancel_fd(l, o.id, b), 0);
	assert_true(h_run_until(l, peek_ended, &o, 3000));
	assert_int_equal(h_last(&o, H_OP_PEEK)->res, -ECANCELED);
	assert_int_equal(loop_slot_inflight(l, o.id), 0);

	/* Every request of the slot at once. */
	assert_int_equal(loop_prep_recv(l, o.id, H_OP_RECV, b), 0);
	assert_int_equal(loop_prep_recv_into(l, o.id, H_OP_PEEK, b, buf, sizeof(buf), 0), 0);
	loop_run_once(l, 0);
	assert_int_equal(loop_slot_inflight(l, o.id), 2);
	assert_int_equal(loop_prep_cancel_slot(l, o.id), 0);
	assert_true(h_run_until(l, h_slot_idle, &o, 3000));
	assert_int_equal(h_count(&o, H_OP_RECV), 2);
	assert_int_equal(h_count(&o, H_OP_PEEK), 2);
	assert_int_equal(h_last(&o, H_OP_RECV)->res, -ECANCELED);
	assert_int_equal(h_last(&o, H_OP_PEEK)->res, -ECANCELED);
	loop_run_once(l, 0);
	assert_int_equal(bufring_avail(br), bufring_count(br));
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
		assert_int_equal(loop_prep_recv(o->loop, o->id, H_OP_RECV, o->fd), 0);
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
	assert_int_equal(loop_prep_recv(l, d.o.id, H_OP_RECV, b), 0);
	assert_false(loop_slot_parked(l, d.o.id)); /* in the kernel */
	for (int i = 0; i < 8 && !dry_parked(&d); i++) {
		assert_int_equal(write(a, "0123456789abcdef0123456789abcdef0123456789abcdef", 48),
				 48);
		loop_run_once(l, 5);
	}
	assert_true(h_run_until(l, dry_parked, &d, 3000));
	assert_false(loop_slot_parked(l, other.id));
	assert_int_equal(loop_prep_cancel_slot(l, d.o.id), 0);
	assert_true(h_run_until(l, h_slot_idle, &d.o, 3000));
	assert_false(loop_slot_parked(l, d.o.id));
	for (unsigned i = 0; i < d.nheld; i++)
		bufring_put(loop_bufring(l), (unsigned)d.held[i]);
	loop_destroy(l);
	close(a);
	close(b);
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
	assert_int_equal(loop_prep_accept(l, o.id, H_OP_ACCEPT, lfd), 0);
	loop_run_once(l, 0); /* armed in the kernel */
	loop_slot_abandon(l, o.id);
	fds_before = h_count_fds();
	for (int i = 0; i < 3; i++)
		cfd[i] = h_connect(port);
	assert_true(h_run_until(l, stale_at_least, &goal, 3000));
	assert_int_equal(o.nev, 0);
	/* Only the three client ends are new: what was accepted got closed,
	 * and the first client sees the close. */
	assert_int_equal(h_count_fds(), fds_before + 3);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cancel_recv),
	    cmocka_unit_test(test_slot_parked),
	    cmocka_unit_test(test_abandoned_accept_closes_late_fds),
	};

	return h_run_modes(tests, sizeof(tests) / sizeof(tests[0]));
}
