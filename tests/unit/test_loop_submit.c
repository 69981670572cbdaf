/* Event loop submission: a full SQ is submitted early, a failed early submit
 * leaves nothing half-queued, and a failing ring ends loop_run() at once.
 * Every test runs once per path (default and each forced fallback). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <sys/eventfd.h>

#include "loop_harness.h"
/* The ring itself, for the tests that make io_uring_enter() fail. */
#include "loop_impl.h"

/* --- a full SQ is submitted early, not an error --------------------------------------- */

static bool sends_done(void *arg)
{
	return h_count(arg, H_OP_SEND) == 100;
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
		assert_int_equal(loop_prep_send(l, o.id, H_OP_SEND, a, "x", 1, 0), 0);
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
		assert_int_equal(loop_prep_nop(l, o.id, H_OP_PEEK), 0);
		queued++;
	}
	save = ring_break(l);
	rc = loop_prep_connect(l, o.id, H_OP_CONNECT, fd, (struct sockaddr *)&sin, sizeof(sin),
			       1000);
	ring_restore(l, save);
	assert_int_equal(rc, -EBUSY);
	assert_int_equal(loop_slot_inflight(l, o.id), queued); /* the nops only */
	assert_true(h_run_until(l, h_slot_idle, &o, 3000));
	assert_int_equal(h_count(&o, H_OP_PEEK), queued);
	assert_int_equal(h_count(&o, H_OP_CONNECT), 0);
	/* The slot is still usable: the same connect now goes through. */
	assert_int_equal(loop_prep_connect(l, o.id, H_OP_CONNECT, fd, (struct sockaddr *)&sin,
					   sizeof(sin), 1000),
			 0);
	assert_true(h_run_until(l, h_connect_done, &o, 3000));
	assert_int_equal(h_last(&o, H_OP_CONNECT)->res, 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sq_full),
	    cmocka_unit_test(test_timed_connect_sq_full_submit_fails),
	    cmocka_unit_test(test_ring_failure_ends_run_at_once),
	};

	return h_run_modes(tests, sizeof(tests) / sizeof(tests[0]));
}
