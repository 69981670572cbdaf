/* Tests for the shared upstream keep-alive pool (l7/upstream_pool.c) on
 * real socket pairs: LIFO reuse, stale and expired entries closed on take,
 * max_idle, sweep, flush. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../l7/upstream_pool.h"

static void pair(int *ours, int *theirs)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	*ours = sv[0];
	*theirs = sv[1];
}

static bool is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_alive_check(void **state)
{
	int a, b;

	pair(&a, &b);
	assert_true(l7_pool_fd_alive(a));
	assert_int_equal(write(b, "x", 1), 1);
	assert_false(l7_pool_fd_alive(a)); /* unsolicited bytes */
	close(a);
	close(b);
	pair(&a, &b);
	close(b);
	assert_false(l7_pool_fd_alive(a)); /* EOF */
	close(a);
}

static void test_lifo_and_requests(void **state)
{
	struct l7_pool p;
	int a, b, c, d;
	uint32_t req = 0;

	l7_pool_init(&p);
	atomic_store(&p.max_idle, 8);
	pair(&a, &b);
	pair(&c, &d);
	assert_true(l7_pool_put(&p, a, 3, 1000));
	assert_true(l7_pool_put(&p, c, 7, 1001));
	assert_int_equal(l7_pool_idle(&p), 2);
	assert_int_equal(l7_pool_take(&p, 1002, &req), c);
	assert_int_equal(req, 7);
	assert_int_equal(l7_pool_take(&p, 1002, &req), a);
	assert_int_equal(req, 3);
	assert_int_equal(l7_pool_take(&p, 1002, &req), -1);
	assert_int_equal(atomic_load(&p.taken), 2);
	l7_pool_fini(&p);
	close(a);
	close(b);
	close(c);
	close(d);
}

static void test_stale_entries_are_closed_and_skipped(void **state)
{
	struct l7_pool p;
	int a, b, c, d;
	uint32_t req;

	l7_pool_init(&p);
	atomic_store(&p.max_idle, 8);
	pair(&a, &b);
	pair(&c, &d);
	l7_pool_put(&p, a, 1, 0);
	l7_pool_put(&p, c, 1, 0);
	close(d); /* the server closed the newest one */
	assert_int_equal(l7_pool_take(&p, 10, &req), a);
	assert_false(is_open(c));
	assert_int_equal(atomic_load(&p.stale), 1);
	close(a);
	close(b);
	l7_pool_fini(&p);
}

static void test_expired_entries_and_sweep(void **state)
{
	struct l7_pool p;
	int a, b, c, d;
	uint32_t req;

	l7_pool_init(&p);
	atomic_store(&p.max_idle, 8);
	atomic_store(&p.idle_timeout_ms, 100);
	pair(&a, &b);
	pair(&c, &d);
	l7_pool_put(&p, a, 1, 0);
	l7_pool_put(&p, c, 1, 90);
	assert_int_equal(l7_pool_sweep(&p, 150), 1); /* a: idle 150 ms */
	assert_false(is_open(a));
	assert_int_equal(l7_pool_idle(&p), 1);
	assert_int_equal(l7_pool_take(&p, 190, &req), -1); /* c: idle 100 ms */
	assert_false(is_open(c));
	assert_int_equal(atomic_load(&p.expired), 2);
	close(b);
	close(d);
	l7_pool_fini(&p);
}

static void test_max_idle_and_flush(void **state)
{
	struct l7_pool p;
	int fds[8];

	l7_pool_init(&p);
	atomic_store(&p.max_idle, 2);
	for (int i = 0; i < 3; i++)
		pair(&fds[2 * i], &fds[2 * i + 1]);
	assert_true(l7_pool_put(&p, fds[0], 1, 0));
	assert_true(l7_pool_put(&p, fds[2], 1, 0));
	assert_false(l7_pool_put(&p, fds[4], 1, 0)); /* full: the caller closes */
	close(fds[4]);
	atomic_store(&p.max_idle, 1); /* a reload lowered it: sweep trims the oldest */
	assert_int_equal(l7_pool_sweep(&p, 1), 1);
	assert_false(is_open(fds[0]));
	assert_int_equal(l7_pool_flush(&p), 1);
	assert_false(is_open(fds[2]));
	assert_int_equal(l7_pool_idle(&p), 0);
	for (int i = 0; i < 3; i++)
		close(fds[2 * i + 1]);
	l7_pool_fini(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_alive_check),
	    cmocka_unit_test(test_lifo_and_requests),
	    cmocka_unit_test(test_stale_entries_are_closed_and_skipped),
	    cmocka_unit_test(test_expired_entries_and_sweep),
	    cmocka_unit_test(test_max_idle_and_flush),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
