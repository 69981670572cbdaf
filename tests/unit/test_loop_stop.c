/* loop_stop(): from another thread while the loop ends a turn of its own,
 * and with requests of every kind in flight, leaking nothing. Every test runs
 * once per path (default and each forced fallback). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <pthread.h>

#include "loop_harness.h"

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

/* Armed far ahead: a pending timer must not hold loop_run() up. */
static void never_fires(struct loop *l, struct timer *t)
{
}

static void stop_soon(struct loop *l, struct timer *t)
{
	loop_stop(l);
}

static void test_stop_with_inflight(void **state)
{
	int fds_before = h_count_fds();
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
	assert_int_equal(loop_prep_accept(l, s.o[0].id, H_OP_ACCEPT, s.fds[0]), 0);
	for (int i = 1; i <= 2; i++) {
		h_tcp_pair(&s.fds[s.nfds], &s.fds[s.nfds + 1]);
		assert_int_equal(loop_prep_recv(l, s.o[i].id, H_OP_RECV, s.fds[s.nfds + 1]), 0);
		s.nfds += 2;
	}
	s.fds[s.nfds++] = h_full_listener(&fport, fill);
	s.fds[s.nfds++] = fill[0];
	s.fds[s.nfds++] = fill[1];
	full = h_addr(fport);
	s.fds[s.nfds] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_int_equal(loop_prep_connect(l, s.o[3].id, H_OP_CONNECT, s.fds[s.nfds++],
					   (struct sockaddr *)&full, sizeof(full), 10000),
			 0);
	/* A splice from an idle socket blocks in an io_uring worker thread. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(loop_prep_splice(l, s.o[4].id, H_OP_SPLICE_IN, s.fds[2], p[1], 4096, 0),
			 0);
	assert_int_equal(loop_prep_recv(l, s.o[5].id, H_OP_RECV, s.fds[4]), 0);
	timer_init(&idle_t, never_fires);
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
	assert_int_equal(h_count_fds(), fds_before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stop_races_loop_exit),
	    cmocka_unit_test(test_stop_with_inflight),
	};

	return h_run_modes(tests, sizeof(tests) / sizeof(tests[0]));
}
