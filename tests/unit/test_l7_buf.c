/* Tests for strata-l7's buffer references, input queues, head buffers and
 * batched sends (l7/l7_buf.c), over a pool-mode bufring (no kernel). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "bufring.h"

#include "../../l7/l7_buf.h"

struct fx {
	struct bufring br;
	struct l7_bufs b;
};

static int setup(void **state)
{
	static struct fx f;

	memset(&f, 0, sizeof(f));
	assert_int_equal(bufring_init(&f.br, NULL, 0, 8, 64, true), 0);
	assert_int_equal(l7_bufs_init(&f.b, &f.br), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	l7_bufs_fini(&f->b);
	bufring_fini(&f->br);
	return 0;
}

/* What a recv completion does: a buffer from the pool, owned by us. */
static unsigned recv_buf(struct fx *f, const char *data)
{
	int bid = bufring_pool_pop(&f->br);

	assert_true(bid >= 0);
	bufring_take(&f->br, (unsigned)bid);
	l7_buf_take(&f->b, (unsigned)bid);
	memcpy(l7_buf_ptr(&f->b, (unsigned)bid), data, strlen(data));
	return (unsigned)bid;
}

static void test_refs_return_the_buffer_with_the_last_drop(void **state)
{
	struct fx *f = *state;
	unsigned avail = bufring_avail(&f->br);
	unsigned bid = recv_buf(f, "abc");

	l7_buf_hold(&f->b, bid);
	l7_buf_drop(&f->b, bid);
	assert_int_equal(bufring_state(&f->br, bid), BUFRING_USER);
	l7_buf_drop(&f->b, bid);
	assert_int_equal(bufring_state(&f->br, bid), BUFRING_KERNEL);
	assert_int_equal(bufring_avail(&f->br), avail);
	assert_int_equal(f->b.held, 0);
}

static void test_queue_order_consume_and_clear(void **state)
{
	struct fx *f = *state;
	struct l7_inq q;
	unsigned a = recv_buf(f, "hello"), b = recv_buf(f, "world!");

	l7_inq_init(&q);
	assert_true(l7_inq_empty(&q));
	l7_inq_push(&q, &f->b, a, 0, 5);
	l7_inq_push(&q, &f->b, b, 0, 6);
	assert_int_equal(q.bytes, 11);
	assert_memory_equal(l7_seg_ptr(&f->b, q.head), "hello", 5);
	l7_inq_consume(&q, &f->b, 2);
	assert_memory_equal(l7_seg_ptr(&f->b, q.head), "llo", 3);
	assert_int_equal(l7_inq_front(&q, &f->b)->len, 3);
	l7_inq_consume(&q, &f->b, 3); /* a emptied: back to the pool */
	assert_int_equal(bufring_state(&f->br, a), BUFRING_KERNEL);
	assert_int_equal(q.head, b);
	l7_inq_clear(&q, &f->b);
	assert_true(l7_inq_empty(&q));
	assert_int_equal(f->b.held, 0);
}

static void test_send_batch_holds_its_buffers_until_sent(void **state)
{
	struct fx *f = *state;
	struct l7_inq q;
	struct l7_tx t;
	unsigned a = recv_buf(f, "body-bytes");
	static const char head[] = "HEAD";

	l7_inq_init(&q);
	l7_inq_push(&q, &f->b, a, 0, 10);
	l7_tx_init(&t);
	l7_tx_add(&t, head, 4);
	l7_tx_add_buf(&t, &f->b, a, l7_seg_ptr(&f->b, a), 10);
	l7_inq_consume(&q, &f->b, 10); /* the queue lets go; the batch still holds it */
	assert_int_equal(bufring_state(&f->br, a), BUFRING_USER);
	assert_int_equal(t.total, 14);
	t.busy = true;				       /* as l7_tx_submit() leaves it */
	assert_int_equal(l7_tx_done(&t, &f->b, 6), 0); /* short send: "HEAD" + "bo" */
	assert_int_equal(t.first, 1);
	assert_memory_equal(t.iov[1].iov_base, "dy-bytes", 8);
	t.busy = true;
	assert_int_equal(l7_tx_done(&t, &f->b, 8), 1);
	assert_int_equal(bufring_state(&f->br, a), BUFRING_KERNEL);
	assert_true(l7_tx_empty(&t));
}

static void test_failed_or_empty_send_drops_references(void **state)
{
	struct fx *f = *state;
	struct l7_tx t;
	unsigned a = recv_buf(f, "x");

	l7_tx_init(&t);
	l7_tx_add_buf(&t, &f->b, a, l7_buf_ptr(&f->b, a), 1);
	l7_buf_drop(&f->b, a);
	t.busy = true;
	assert_int_equal(l7_tx_done(&t, &f->b, 0), -EPIPE); /* nothing taken: peer gone */
	assert_int_equal(bufring_state(&f->br, a), BUFRING_KERNEL);
	a = recv_buf(f, "y");
	l7_tx_add_buf(&t, &f->b, a, l7_buf_ptr(&f->b, a), 1);
	l7_buf_drop(&f->b, a);
	l7_tx_clear(&t, &f->b);
	assert_int_equal(f->b.held, 0);
}

static void test_head_buffer_grows_to_a_limit(void **state)
{
	struct l7_hbuf h = {0};
	char chunk[1500];

	memset(chunk, 'a', sizeof(chunk));
	for (int i = 0; i < 10; i++)
		assert_int_equal(l7_hbuf_append(&h, chunk, sizeof(chunk), 16000), 0);
	assert_int_equal(h.len, 15000);
	assert_true(h.cap >= 15000 && h.cap <= 16000);
	assert_int_equal(l7_hbuf_append(&h, chunk, sizeof(chunk), 16000), -E2BIG);
	assert_int_equal(h.len, 15000);
	h.off = 14000;
	assert_int_equal(l7_hbuf_avail(&h), 1000);
	l7_hbuf_free(&h);
	assert_null(h.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_refs_return_the_buffer_with_the_last_drop, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_queue_order_consume_and_clear, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_send_batch_holds_its_buffers_until_sent, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_failed_or_empty_send_drops_references, setup,
					    teardown),
	    cmocka_unit_test(test_head_buffer_grows_to_a_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
