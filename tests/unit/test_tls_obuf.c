/* obuf.c, the output chain TLS records and HTTP/2 frames wait in: appends
 * across chunk boundaries, iovecs that stay valid while more is appended
 * (the promise a send in flight relies on), partial consumption, reads,
 * the spare chunk and trim. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../l7/obuf.h"

static uint8_t pattern[4 * L7_OBUF_CHUNK];

/* The bytes the iovecs describe, concatenated, must be pattern[from..]. */
static void check_iov(const struct l7_obuf *o, size_t from)
{
	struct iovec iov[16];
	unsigned n = l7_obuf_iov(o, iov, 16);
	size_t off = from, total = 0;

	for (unsigned i = 0; i < n; i++) {
		assert_true(iov[i].iov_len > 0);
		assert_memory_equal(iov[i].iov_base, pattern + off, iov[i].iov_len);
		off += iov[i].iov_len;
		total += iov[i].iov_len;
	}
	assert_int_equal(total, l7_obuf_bytes(o));
}

static void test_append_consume(void **state)
{
	struct l7_obuf o;
	size_t head = 0, tail = 0;
	const uint8_t *p;

	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 131 + (i >> 9));
	l7_obuf_init(&o);
	assert_true(l7_obuf_empty(&o));
	assert_int_equal(l7_obuf_front(&o, &p), 0);
	assert_null(p);
	/* uneven appends across chunk boundaries, consumed as they go */
	static const size_t steps[] = {1, 100, L7_OBUF_CHUNK - 101, 1, L7_OBUF_CHUNK + 7, 5000};
	for (unsigned i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		assert_int_equal(l7_obuf_append(&o, pattern + tail, steps[i]), 0);
		tail += steps[i];
		check_iov(&o, head);
		if (i % 2) {
			size_t k = l7_obuf_bytes(&o) / 3;

			l7_obuf_consume(&o, k);
			head += k;
			check_iov(&o, head);
		}
	}
	assert_int_equal(l7_obuf_bytes(&o), tail - head);
	assert_true(l7_obuf_front(&o, &p) > 0);
	assert_memory_equal(p, pattern + head, 1);
	/* consuming more than held empties it */
	l7_obuf_consume(&o, SIZE_MAX);
	assert_true(l7_obuf_empty(&o));
	assert_null(o.head);
	assert_non_null(o.spare); /* one chunk kept for the next burst */
	l7_obuf_trim(&o);
	assert_null(o.spare);
	l7_obuf_free(&o);
}

/* An iovec taken before more appends still points at the same bytes. */
static void test_stable_iov(void **state)
{
	struct l7_obuf o;
	struct iovec iov[4];
	unsigned n;

	l7_obuf_init(&o);
	assert_int_equal(l7_obuf_append(&o, pattern, 1000), 0);
	n = l7_obuf_iov(&o, iov, 4);
	assert_int_equal(n, 1);
	for (int i = 0; i < 10; i++)
		assert_int_equal(l7_obuf_append(&o, pattern + 1000 + i * 6000, 6000), 0);
	assert_memory_equal(iov[0].iov_base, pattern, 1000);
	assert_int_equal(iov[0].iov_len, 1000);
	l7_obuf_consume(&o, 1000);
	check_iov(&o, 1000);
	/* more iovecs than slots: the first ones, in order */
	assert_int_equal(l7_obuf_iov(&o, iov, 2), 2);
	assert_memory_equal(iov[0].iov_base, pattern + 1000, iov[0].iov_len);
	l7_obuf_free(&o);
	assert_true(l7_obuf_empty(&o));
}

static void test_read(void **state)
{
	struct l7_obuf o;
	static uint8_t out[3 * L7_OBUF_CHUNK];
	size_t n;

	l7_obuf_init(&o);
	assert_int_equal(l7_obuf_append(&o, pattern, 2 * L7_OBUF_CHUNK + 10), 0);
	n = l7_obuf_read(&o, out, 10);
	assert_int_equal(n, 10);
	assert_memory_equal(out, pattern, 10);
	n = l7_obuf_read(&o, out, sizeof(out)); /* across chunks, all that is left */
	assert_int_equal(n, 2 * L7_OBUF_CHUNK);
	assert_memory_equal(out, pattern + 10, n);
	assert_int_equal(l7_obuf_read(&o, out, 10), 0);
	assert_int_equal(l7_obuf_append(&o, pattern, 0), 0);
	assert_true(l7_obuf_empty(&o));
	l7_obuf_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_consume),
	    cmocka_unit_test(test_stable_iov),
	    cmocka_unit_test(test_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
