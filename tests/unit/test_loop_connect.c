/* Event loop connects on loopback: success, refusal, a linked timeout that
 * fires, and cancels that must not be mistaken for it. Every test runs once
 * per path (default and each forced fallback). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "loop_harness.h"

/* --- connect ------------------------------------------------------------------------- */

/* Connects a fresh non-blocking socket to 127.0.0.1:port; returns res. */
static int connect_once(struct loop *l, uint16_t port, unsigned timeout_ms, unsigned *n_ev)
{
	struct sockaddr_in sin = h_addr(port);
	struct h_owner o;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	h_owner_open(&o, l, fd);
	assert_int_equal(loop_prep_connect(l, o.id, H_OP_CONNECT, fd, (struct sockaddr *)&sin,
					   sizeof(sin), timeout_ms),
			 0);
	assert_true(h_run_until(l, h_connect_done, &o, 5000));
	loop_slot_close(l, o.id);
	assert_true(h_run_until(l, h_slot_freed, &o, 1000));
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
	lfd = h_full_listener(&port, fill);
	t0 = h_now_ms();
	assert_int_equal(connect_once(l, port, 100, &n), -ETIMEDOUT);
	assert_true(h_now_ms() - t0 >= 90);
	assert_int_equal(n, 1);

	/* Cancelled by its owner before the timeout: -ECANCELED, not -ETIMEDOUT. */
	sin = h_addr(port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	h_owner_open(&o, l, fd);
	assert_int_equal(loop_prep_connect(l, o.id, H_OP_CONNECT, fd, (struct sockaddr *)&sin,
					   sizeof(sin), 5000),
			 0);
	loop_run_once(l, 0);
	assert_int_equal(loop_prep_cancel(l, o.id, H_OP_CONNECT), 0);
	assert_true(h_run_until(l, h_connect_done, &o, 3000));
	assert_int_equal(o.ev[0].res, -ECANCELED);
	assert_int_equal(o.nev, 1);
	close(fd);

	/* Cancelling another request of the slot does not hide the timeout. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	h_tcp_pair(&pa, &pb);
	h_owner_open(&o2, l, fd);
	assert_int_equal(loop_prep_recv_into(l, o2.id, H_OP_PEEK, pb, peek, sizeof(peek), 0), 0);
	assert_int_equal(loop_prep_connect(l, o2.id, H_OP_CONNECT, fd, (struct sockaddr *)&sin,
					   sizeof(sin), 100),
			 0);
	loop_run_once(l, 0);
	assert_int_equal(loop_prep_cancel(l, o2.id, H_OP_PEEK), 0);
	assert_int_equal(loop_prep_cancel_fd(l, o2.id, pb), 0);
	assert_true(h_run_until(l, h_connect_done, &o2, 3000));
	assert_int_equal(h_last(&o2, H_OP_CONNECT)->res, -ETIMEDOUT);
	assert_int_equal(h_last(&o2, H_OP_PEEK)->res, -ECANCELED);
	close(fd);
	close(pa);
	close(pb);
	close(fill[0]);
	close(fill[1]);
	close(lfd);
	loop_destroy(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_connect),
	    cmocka_unit_test(test_connect_timeout),
	};

	return h_run_modes(tests, sizeof(tests) / sizeof(tests[0]));
}
