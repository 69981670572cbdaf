/* Tests for vrrp_loop.c: dispatch, the deadline (microseconds, not
 * rounded to a millisecond tick), and stale events: a watch removed by an
 * earlier handler of the same batch is not called. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../l4/vrrp/vrrp_loop.h"

struct ctx {
	struct vrrp_loop *loop;
	int calls;
	int victim; /* fd the first handler removes */
};

static void on_read(void *arg, int fd, uint32_t events)
{
	struct ctx *c = arg;
	char b[16];

	c->calls++;
	(void)!read(fd, b, sizeof(b));
	if (c->victim >= 0) {
		vrrp_loop_unwatch(c->loop, c->victim);
		c->victim = -1;
	}
}

static void test_dispatch_and_deadline(void **state)
{
	struct ctx c = {.victim = -1};
	int p[2];
	uint64_t t0, waited;

	assert_int_equal(vrrp_loop_new(&c.loop), 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(vrrp_loop_watch(c.loop, p[0], EPOLLIN, on_read, &c), 0);
	/* Nothing ready: returns at the deadline, to within a couple of ms. */
	t0 = vrrp_now_us();
	assert_int_equal(vrrp_loop_run_once(c.loop, t0 + 15000), 0);
	waited = vrrp_now_us() - t0;
	assert_true(waited >= 15000 && waited < 100000);
	/* A deadline in the past does not block. */
	assert_int_equal(vrrp_loop_run_once(c.loop, 1), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(vrrp_loop_run_once(c.loop, vrrp_now_us() + 1000000), 1);
	assert_int_equal(c.calls, 1);
	assert_int_equal(vrrp_loop_modify(c.loop, p[0], EPOLLIN), 0);
	assert_int_equal(vrrp_loop_unwatch(c.loop, p[0]), 0);
	assert_int_equal(vrrp_loop_unwatch(c.loop, p[0]), -ENOENT);
	assert_int_equal(vrrp_loop_modify(c.loop, p[0], EPOLLIN), -ENOENT);
	close(p[0]);
	close(p[1]);
	vrrp_loop_free(c.loop);
}

struct pair {
	struct vrrp_loop *loop;
	int a, b, calls;
};

/* Each handler removes the other watch, as a handler closing a sibling
 * connection would. */
static void on_read_remove_other(void *arg, int fd, uint32_t events)
{
	struct pair *p = arg;
	char buf[16];

	p->calls++;
	(void)!read(fd, buf, sizeof(buf));
	vrrp_loop_unwatch(p->loop, fd == p->a ? p->b : p->a);
}

static void test_removed_in_same_batch_is_stale(void **state)
{
	struct pair p = {0};
	int a[2], b[2];

	assert_int_equal(vrrp_loop_new(&p.loop), 0);
	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	p.a = a[0];
	p.b = b[0];
	assert_int_equal(vrrp_loop_watch(p.loop, a[0], EPOLLIN, on_read_remove_other, &p), 0);
	assert_int_equal(vrrp_loop_watch(p.loop, b[0], EPOLLIN, on_read_remove_other, &p), 0);
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "x", 1), 1);
	/* epoll reports both in one batch; whichever runs first removes the
	 * other, whose event is then stale and dropped. */
	assert_int_equal(vrrp_loop_run_once(p.loop, vrrp_now_us() + 1000000), 2);
	assert_int_equal(p.calls, 1);
	/* The freed slot is reused under a new generation and works. */
	vrrp_loop_unwatch(p.loop, a[0]);
	vrrp_loop_unwatch(p.loop, b[0]);
	assert_int_equal(write(b[1], "y", 1), 1);
	assert_int_equal(vrrp_loop_watch(p.loop, b[0], EPOLLIN, on_read_remove_other, &p), 0);
	assert_int_equal(vrrp_loop_run_once(p.loop, vrrp_now_us() + 1000000), 1);
	assert_int_equal(p.calls, 2);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	vrrp_loop_free(p.loop);
}

static void test_table_full(void **state)
{
	struct vrrp_loop *loop;
	int p[2], rc = 0, n = 0;

	assert_int_equal(vrrp_loop_new(&loop), 0);
	assert_int_equal(pipe(p), 0);
	for (int i = 0; i <= VRRP_LOOP_MAX_WATCH && rc == 0; i++) {
		int fd = dup(p[0]);

		rc = vrrp_loop_watch(loop, fd, EPOLLIN, on_read, NULL);
		if (rc == 0)
			n++;
	}
	assert_int_equal(rc, -ENOSPC);
	assert_int_equal(n, VRRP_LOOP_MAX_WATCH);
	vrrp_loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dispatch_and_deadline),
	    cmocka_unit_test(test_removed_in_same_batch_is_stale),
	    cmocka_unit_test(test_table_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
