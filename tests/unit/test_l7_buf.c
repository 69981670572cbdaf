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

/* TLS plaintext lives in private buffers: bids after the ring's, the same
 * queue, reference and send rules, and the last drop returns them to the
 * worker's free stack, never to the kernel's ring. */
static void test_private_buffers_queue_like_ring_buffers(void **state)
{
	struct fx *f = *state;
	unsigned ring_avail = bufring_avail(&f->br);
	struct l7_inq q;
	struct l7_tx t;
	int a = l7_pbuf_take(&f->b), b;

	assert_true(a >= (int)f->b.count);
	assert_int_equal(f->b.pheld, 1);
	memcpy(l7_buf_ptr(&f->b, (unsigned)a), "hello", 5);
	l7_inq_init(&q);
	l7_inq_push(&q, &f->b, (unsigned)a, 0, 5);
	/* more plaintext appended behind the tail, in the same buffer */
	assert_int_equal(l7_inq_tail_room(&q, &f->b), 64 - 5);
	memcpy(l7_seg_ptr(&f->b, q.tail) + 5, " world", 6);
	l7_inq_extend(&q, &f->b, 6);
	assert_int_equal(q.bytes, 11);
	assert_memory_equal(l7_seg_ptr(&f->b, q.head), "hello world", 11);
	/* a send holds the buffer past the queue's consume */
	l7_tx_init(&t);
	l7_tx_add_buf(&t, &f->b, (unsigned)a, l7_seg_ptr(&f->b, q.head), 11);
	l7_inq_consume(&q, &f->b, 11);
	assert_true(l7_inq_empty(&q));
	assert_int_equal(f->b.pheld, 1);
	assert_int_equal(l7_tx_done(&t, &f->b, 11), 1);
	assert_int_equal(f->b.pheld, 0);
	assert_int_equal(bufring_avail(&f->br), ring_avail); /* the ring never saw it */
	/* the freed buffer is reused, its memory kept */
	b = l7_pbuf_take(&f->b);
	assert_int_equal(b, a);
	assert_int_equal(l7_inq_tail_room(&q, &f->b), 0); /* empty queue: no tail */
	l7_buf_drop(&f->b, (unsigned)b);
}

/* After the PROXY header, what is queued moves to the TLS queue whole. */
static void test_queue_move_keeps_order_and_references(void **state)
{
	struct fx *f = *state;
	struct l7_inq from, to;
	unsigned r1 = recv_buf(f, "ab"), r2 = recv_buf(f, "cd");
	int p = l7_pbuf_take(&f->b);

	memcpy(l7_buf_ptr(&f->b, (unsigned)p), "xy", 2);
	l7_inq_init(&from);
	l7_inq_init(&to);
	l7_inq_push(&to, &f->b, (unsigned)p, 0, 2);
	l7_inq_push(&from, &f->b, r1, 0, 2);
	l7_inq_push(&from, &f->b, r2, 0, 2);
	l7_inq_move(&to, &from, &f->b);
	assert_true(l7_inq_empty(&from));
	assert_int_equal(to.n, 3);
	assert_int_equal(to.bytes, 6);
	assert_memory_equal(l7_seg_ptr(&f->b, to.head), "xy", 2);
	l7_inq_consume(&to, &f->b, 2);
	assert_memory_equal(l7_seg_ptr(&f->b, to.head), "ab", 2);
	/* a ring buffer at the tail takes no appended bytes */
	assert_int_equal(l7_inq_tail_room(&to, &f->b), 0);
	l7_inq_clear(&to, &f->b);
	assert_int_equal(f->b.held, 0);
	assert_int_equal(f->b.pheld, 0);
}

/* Private buffers are bounded: a burst cannot grow them without end. */
static void test_private_buffers_run_out_cleanly(void **state)
{
	struct fx *f = *state;
	static int bids[L7_PBUF_MAX];

	for (unsigned i = 0; i < L7_PBUF_MAX; i++)
		assert_true((bids[i] = l7_pbuf_take(&f->b)) >= 0);
	assert_int_equal(l7_pbuf_take(&f->b), -ENOBUFS);
	for (unsigned i = 0; i < L7_PBUF_MAX; i++)
		l7_buf_drop(&f->b, (unsigned)bids[i]);
	/* only L7_PBUF_KEEP keep their memory once the burst is over */
	assert_int_equal(f->b.pcached, L7_PBUF_KEEP);
	assert_int_equal(f->b.pheld, 0);
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
	    cmocka_unit_test_setup_teardown(test_private_buffers_queue_like_ring_buffers, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_queue_move_keeps_order_and_references, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_private_buffers_run_out_cleanly, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
