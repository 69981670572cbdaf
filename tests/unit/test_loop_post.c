/* loop_post(): functions posted from another thread run on the loop's
 * thread, and those still posted at loop_destroy() run then. Every test runs
 * once per path (default and each forced fallback). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <pthread.h>

#include "loop_harness.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_post_from_thread),
	    cmocka_unit_test(test_post_at_destroy),
	};

	return h_run_modes(tests, sizeof(tests) / sizeof(tests[0]));
}
