/* Tests for the chunked decoder: valid bodies with extensions, leading zeros
 * and trailers; every framing error with its exact reason; the size, extension
 * and trailer limits at and one past the limit. Every body is decoded whole,
 * split at every byte boundary, one byte at a time and with one span per
 * call, each piece right before an unreadable page; all runs must agree. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "../../l7/http1_chunked.h"
#include "../../l7/http1_semantics.h"

#define OUT_MAX 4096

/* What one decoding produced. */
struct result {
	int rc; /* 1 done, -EAGAIN incomplete, or the error */
	enum http1_err err;
	size_t consumed;
	char data[OUT_MAX], trailers[OUT_MAX];
	size_t data_len, trailers_len;
};

static void append(struct result *res, const struct http1_span *sp)
{
	char *dst = sp->kind == HTTP1_SPAN_DATA ? res->data : res->trailers;
	size_t *n = sp->kind == HTTP1_SPAN_DATA ? &res->data_len : &res->trailers_len;

	assert_true(sp->len > 0);
	assert_true(*n + sp->len <= OUT_MAX);
	memcpy(dst + *n, sp->ptr, sp->len);
	*n += sp->len;
}

/* Feeds one piece (in its own guard buffer); false once the body is over. */
static bool feed_piece(struct http1_chunked *c, const char *s, size_t len, size_t off,
		       size_t max_spans, struct result *res)
{
	char *g = guard_dup(s, len);
	size_t used = 0, i, ns;
	struct http1_span sp[8];
	int r;

	while (used < len) {
		r = http1_chunked_feed(c, g + used, len - used, sp, max_spans, &ns, &res->err);
		if (r < 0) {
			res->rc = r;
			break;
		}
		assert_true(r > 0 && ns <= max_spans);
		for (i = 0; i < ns; i++) {
			assert_true(sp[i].ptr >= g + used && sp[i].ptr + sp[i].len <= g + used + r);
			append(res, &sp[i]);
		}
		used += (size_t)r;
		if (http1_chunked_done(c)) {
			res->rc = 1;
			res->consumed = off + used;
			/* once done, nothing more is taken */
			if (used < len)
				assert_int_equal(http1_chunked_feed(c, g + used, len - used, sp,
								    max_spans, &ns, &res->err),
						 0);
			break;
		}
	}
	guard_free(g, len);
	return res->rc == -EAGAIN;
}

/* Decodes s in pieces cut at cut1 and every `step` bytes after it. */
static void decode(const char *s, size_t n, const struct http1_chunked_limits *lim, size_t cut1,
		   size_t step, size_t max_spans, struct result *res)
{
	struct http1_chunked c;
	size_t off = 0, len;

	memset(res, 0, sizeof(*res));
	res->rc = -EAGAIN;
	http1_chunked_init(&c, lim);
	while (off < n) {
		len = off == 0 && cut1 ? cut1 : step;
		if (len > n - off)
			len = n - off;
		if (!feed_piece(&c, s + off, len, off, max_spans, res))
			break;
		off += len;
	}
	if (res->rc == 1)
		assert_int_equal(c.data_total, res->data_len);
}

static void assert_same(const struct result *a, const struct result *b)
{
	assert_int_equal(a->rc, b->rc);
	assert_int_equal(a->err, b->err);
	if (a->rc < 0 && a->rc != -EAGAIN)
		return; /* spans of a failed call are discarded */
	assert_int_equal(a->consumed, b->consumed);
	assert_int_equal(a->data_len, b->data_len);
	assert_memory_equal(a->data, b->data, a->data_len);
	assert_int_equal(a->trailers_len, b->trailers_len);
	assert_memory_equal(a->trailers, b->trailers, a->trailers_len);
}

static struct result whole, other;

/* Decodes every way; returns the whole-input result in `whole`. */
static void decode_every_way(const char *s, size_t n, const struct http1_chunked_limits *lim)
{
	size_t k;

	decode(s, n, lim, 0, n ? n : 1, 8, &whole);
	for (k = 1; k < n; k++) {
		decode(s, n, lim, k, n, 8, &other);
		assert_same(&other, &whole);
	}
	decode(s, n, lim, 0, 1, 8, &other);
	assert_same(&other, &whole);
	decode(s, n, lim, 0, n ? n : 1, 1, &other);
	assert_same(&other, &whole);
}

#define L(s) s, sizeof(s) - 1

struct ok_case {
	const char *in;
	size_t len;
	const char *data, *trailers;
	size_t consumed; /* 0: all of in */
};

#define OK(s, d, t, used)                                                                          \
	{                                                                                          \
		s, sizeof(s) - 1, d, t, used                                                       \
	}

static const struct ok_case ok_cases[] = {
    OK("5\r\nhello\r\n0\r\n\r\n", "hello", "", 0),
    OK("3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n", "abc0123456789", "", 0),
    OK("a\r\n0123456789\r\n1\r\nx\r\n0\r\n\r\n", "0123456789x", "", 0),
    OK("0005\r\nhello\r\n000\r\n\r\n", "hello", "", 0),
    OK("0\r\n\r\n", "", "", 0),
    OK("4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n", "", 0),
    OK("5;name=value\r\nhello\r\n0;last\r\n\r\n", "hello", "", 0),
    OK("5 ; a = b ;\tc\r\nhello\r\n0\r\n\r\n", "hello", "", 0),
    OK("5;a=\"q \\\" s\";b=\"\"\r\nhello\r\n0\r\n\r\n", "hello", "", 0),
    OK("5;a=\"caf\xc3\xa9\\\x80\"\r\nhello\r\n0\r\n\r\n", "hello", "", 0),
    OK("5;a;b;c=d\r\nhello\r\n0\r\n\r\n", "hello", "", 0),
    OK("0\r\nX-Checksum: abc\r\nX-Other:1 2\t\r\n\r\n", "", "X-Checksum: abc\r\nX-Other:1 2\t\r\n",
       0),
    OK("2\r\nhi\r\n0\r\nContent-Lengthx: 5\r\nA-Very-Long-Trailer-Name-Indeed: v\r\n\r\n", "hi",
       "Content-Lengthx: 5\r\nA-Very-Long-Trailer-Name-Indeed: v\r\n", 0),
    OK("0\r\nX:\r\n\r\n", "", "X:\r\n", 0),
    /* the next message starts right after the body */
    OK("1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "x", "", 11),
    OK("0\r\nT: 1\r\n\r\n0\r\n\r\n", "", "T: 1\r\n", 11),
};

static void test_valid_bodies(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		const struct ok_case *t = &ok_cases[i];

		print_message("ok[%zu]\n", i);
		decode_every_way(t->in, t->len, NULL);
		assert_int_equal(whole.rc, 1);
		assert_int_equal(whole.consumed, t->consumed ? t->consumed : t->len);
		assert_int_equal(whole.data_len, strlen(t->data));
		assert_memory_equal(whole.data, t->data, whole.data_len);
		assert_int_equal(whole.trailers_len, strlen(t->trailers));
		assert_memory_equal(whole.trailers, t->trailers, whole.trailers_len);
	}
}

struct bad_case {
	const char *in;
	size_t len;
	int rc;
	enum http1_err err;
};

#define BAD(s, rc, e)                                                                              \
	{                                                                                          \
		s, sizeof(s) - 1, rc, e                                                            \
	}

static const struct bad_case bad_cases[] = {
    BAD("\r\n", -EBADMSG, HTTP1_ERR_CHUNK_SIZE),
    BAD("x\r\n", -EBADMSG, HTTP1_ERR_CHUNK_SIZE),
    BAD("-1\r\n", -EBADMSG, HTTP1_ERR_CHUNK_SIZE),
    BAD("+5\r\n", -EBADMSG, HTTP1_ERR_CHUNK_SIZE),
    BAD(" 5\r\n", -EBADMSG, HTTP1_ERR_CHUNK_SIZE),
    BAD(";a\r\n", -EBADMSG, HTTP1_ERR_CHUNK_SIZE),
    BAD("0x5\r\n", -EBADMSG, HTTP1_ERR_CHUNK_SIZE),
    BAD("5g\r\n", -EBADMSG, HTTP1_ERR_CHUNK_SIZE),
    BAD("5\nhello\r\n", -EBADMSG, HTTP1_ERR_BARE_LF),
    BAD("5\rX", -EBADMSG, HTTP1_ERR_BARE_CR),
    BAD("5\r\nhello\n0\r\n\r\n", -EBADMSG, HTTP1_ERR_CHUNK_DATA_CRLF),
    BAD("5\r\nhelloX\r\n", -EBADMSG, HTTP1_ERR_CHUNK_DATA_CRLF),
    BAD("5\r\nhello\r0\r\n", -EBADMSG, HTTP1_ERR_BARE_CR),
    BAD("5\r\nhello\r\n\r\n", -EBADMSG, HTTP1_ERR_CHUNK_SIZE),
    BAD("00000000000000001\r\n", -E2BIG, HTTP1_ERR_CHUNK_SIZE_TOO_BIG),
    BAD("4000000000000001\r\n", -E2BIG, HTTP1_ERR_CHUNK_SIZE_TOO_BIG),
    BAD("FFFFFFFFFFFFFFFF\r\n", -E2BIG, HTTP1_ERR_CHUNK_SIZE_TOO_BIG),
    BAD("5;\r\n", -EBADMSG, HTTP1_ERR_CHUNK_EXT),
    BAD("5;=x\r\n", -EBADMSG, HTTP1_ERR_CHUNK_EXT),
    BAD("5;a=\r\n", -EBADMSG, HTTP1_ERR_CHUNK_EXT),
    BAD("5;a=\"x\r\n", -EBADMSG, HTTP1_ERR_CHUNK_EXT),
    BAD("5 \r\n", -EBADMSG, HTTP1_ERR_CHUNK_EXT),
    BAD("5;a \r\n", -EBADMSG, HTTP1_ERR_CHUNK_EXT),
    BAD("5;a b\r\n", -EBADMSG, HTTP1_ERR_CHUNK_EXT),
    BAD("5;a=b c\r\n", -EBADMSG, HTTP1_ERR_CHUNK_EXT),
    BAD("5;a=\"b\"c\r\n", -EBADMSG, HTTP1_ERR_CHUNK_EXT),
    BAD("5;a\x01\r\n", -EBADMSG, HTTP1_ERR_CHUNK_EXT),
    BAD("5;a=\"\x01\"\r\n", -EBADMSG, HTTP1_ERR_CHUNK_EXT),
    BAD("5;a=\"\\\x7f\"\r\n", -EBADMSG, HTTP1_ERR_CHUNK_EXT),
    BAD("5;a=b\"\r\n", -EBADMSG, HTTP1_ERR_CHUNK_EXT),
    BAD("5;a\n", -EBADMSG, HTTP1_ERR_BARE_LF),
    BAD("5;a=b\n", -EBADMSG, HTTP1_ERR_BARE_LF),
    BAD("0\r\n\n", -EBADMSG, HTTP1_ERR_BARE_LF),
    BAD("0\r\n\r\r", -EBADMSG, HTTP1_ERR_BARE_CR),
    BAD("0\r\n X: y\r\n\r\n", -EBADMSG, HTTP1_ERR_LEADING_WS),
    BAD("0\r\nX: y\r\n z\r\n\r\n", -EBADMSG, HTTP1_ERR_OBS_FOLD),
    BAD("0\r\nX : y\r\n\r\n", -EBADMSG, HTTP1_ERR_WS_BEFORE_COLON),
    BAD("0\r\nX: \0\r\n\r\n", -EBADMSG, HTTP1_ERR_FIELD_VALUE),
    BAD("0\r\nX: a\x7f\r\n\r\n", -EBADMSG, HTTP1_ERR_FIELD_VALUE),
    BAD("0\r\nX: a\nb\r\n\r\n", -EBADMSG, HTTP1_ERR_BARE_LF),
    BAD("0\r\nX: a\rb\r\n\r\n", -EBADMSG, HTTP1_ERR_BARE_CR),
    BAD("0\r\nX\0: y\r\n\r\n", -EBADMSG, HTTP1_ERR_FIELD_NAME),
    BAD("0\r\n: y\r\n\r\n", -EBADMSG, HTTP1_ERR_FIELD_NAME),
    BAD("0\r\nNoColon\r\n\r\n", -EBADMSG, HTTP1_ERR_FIELD_NAME),
    BAD("0\r\nNoColon\n\r\n", -EBADMSG, HTTP1_ERR_BARE_LF),
    BAD("0\r\nContent-Length: 5\r\n\r\n", -EBADMSG, HTTP1_ERR_TRAILER_FORBIDDEN),
    BAD("0\r\ntransfer-encoding: chunked\r\n\r\n", -EBADMSG, HTTP1_ERR_TRAILER_FORBIDDEN),
    BAD("0\r\nHOST: x\r\n\r\n", -EBADMSG, HTTP1_ERR_TRAILER_FORBIDDEN),
    BAD("0\r\nX: 1\r\nConnection: close\r\n\r\n", -EBADMSG, HTTP1_ERR_TRAILER_FORBIDDEN),
    BAD("0\r\nTrailer: x\r\n\r\n", -EBADMSG, HTTP1_ERR_TRAILER_FORBIDDEN),
    /* incomplete: needs more, never an error */
    BAD("5\r\nhel", -EAGAIN, HTTP1_OK),
    BAD("4000000000000000\r\n", -EAGAIN, HTTP1_OK),
    BAD("0\r\nX: 1\r\n", -EAGAIN, HTTP1_OK),
};

static void test_refusals(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *t = &bad_cases[i];

		print_message("bad[%zu] %s\n", i, http1_err_name(t->err));
		decode_every_way(t->in, t->len, NULL);
		assert_string_equal(http1_err_name(whole.err), http1_err_name(t->err));
		assert_int_equal(whole.rc, t->rc);
	}
}

static void test_limits(void **state)
{
	const struct http1_chunked_limits size = {.max_chunk_size = 1000};
	const struct http1_chunked_limits ext = {.max_ext_bytes = 16};
	const struct http1_chunked_limits tr = {.max_trailer_bytes = 32, .max_trailers = 2};

	decode_every_way(L("3E8\r\n"), &size); /* 1000: fine, data to come */
	assert_int_equal(whole.rc, -EAGAIN);
	decode_every_way(L("3E9\r\n"), &size);
	assert_int_equal(whole.rc, -E2BIG);
	assert_int_equal(whole.err, HTTP1_ERR_CHUNK_SIZE_TOO_BIG);
	/* 16 extension bytes: ";" + 15, then one more */
	decode_every_way(L("1;aaaaaaaaaaaaaaa\r\nx\r\n0\r\n\r\n"), &ext);
	assert_int_equal(whole.rc, 1);
	decode_every_way(L("1;aaaaaaaaaaaaaaaa\r\nx\r\n0\r\n\r\n"), &ext);
	assert_int_equal(whole.rc, -E2BIG);
	assert_int_equal(whole.err, HTTP1_ERR_CHUNK_EXT_TOO_LONG);
	/* the limit is per chunk line */
	decode_every_way(L("1;aaaaaaaaaaaaaaa\r\nx\r\n1;aaaaaaaaaaaaaaa\r\ny\r\n0\r\n\r\n"), &ext);
	assert_int_equal(whole.rc, 1);
	/* trailer section of exactly 32 bytes including its final CRLF */
	decode_every_way(L("0\r\nA: 0123456789abcdefghijklmno\r\n\r\n"), &tr);
	assert_int_equal(whole.rc, 1);
	assert_int_equal(whole.trailers_len, 30);
	decode_every_way(L("0\r\nA: 0123456789abcdefghijklmnop\r\n\r\n"), &tr);
	assert_int_equal(whole.rc, -E2BIG);
	assert_int_equal(whole.err, HTTP1_ERR_TRAILERS_TOO_LARGE);
	decode_every_way(L("0\r\nA: 1\r\nB: 2\r\n\r\n"), &tr);
	assert_int_equal(whole.rc, 1);
	decode_every_way(L("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), &tr);
	assert_int_equal(whole.rc, -E2BIG);
	assert_int_equal(whole.err, HTTP1_ERR_TRAILERS_TOO_LARGE);
	/* the defaults */
	decode_every_way(L("4000000000000000\r\n"), NULL);
	assert_int_equal(whole.rc, -EAGAIN);
}

/* Decoded spans re-framed with http1_chunked_size_line() decode to the same
 * data and trailers, without the extensions. */
static void test_reencode(void **state)
{
	static const char in[] = "3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n";
	static char out[512];
	struct http1_chunked c;
	struct http1_span sp[8];
	enum http1_err err;
	size_t ns, i, n = 0;
	char line[HTTP1_CHUNK_LINE_MAX];
	int r;

	http1_chunked_init(&c, NULL);
	r = http1_chunked_feed(&c, in, sizeof(in) - 1, sp, 8, &ns, &err);
	assert_int_equal(r, (int)sizeof(in) - 1);
	assert_true(http1_chunked_done(&c));
	assert_int_equal(ns, 3);
	for (i = 0; i < ns && sp[i].kind == HTTP1_SPAN_DATA; i++) {
		size_t l = http1_chunked_size_line(sp[i].len, line);

		memcpy(out + n, line, l);
		memcpy(out + n + l, sp[i].ptr, sp[i].len);
		memcpy(out + n + l + sp[i].len, "\r\n", 2);
		n += l + sp[i].len + 2;
	}
	memcpy(out + n, "0\r\n", 3);
	n += 3;
	for (; i < ns; i++) {
		memcpy(out + n, sp[i].ptr, sp[i].len);
		n += sp[i].len;
	}
	memcpy(out + n, "\r\n", 2);
	n += 2;
	assert_int_equal(n, strlen("3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n"));
	assert_memory_equal(out, "3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n", n);
	decode_every_way(out, n, NULL);
	assert_int_equal(whole.rc, 1);
	assert_int_equal(whole.data_len, 19);
	assert_int_equal(c.data_total, 19);
}

static void test_size_line(void **state)
{
	char line[HTTP1_CHUNK_LINE_MAX];

	assert_int_equal(http1_chunked_size_line(1, line), 3);
	assert_memory_equal(line, "1\r\n", 3);
	assert_int_equal(http1_chunked_size_line(255, line), 4);
	assert_memory_equal(line, "ff\r\n", 4);
	assert_int_equal(http1_chunked_size_line(HTTP1_CHUNK_MAX_SIZE, line), 18);
	assert_memory_equal(line, "4000000000000000\r\n", 18);
	assert_int_equal(http1_chunked_size_line(UINT64_MAX, line), HTTP1_CHUNK_LINE_MAX);
	assert_memory_equal(line, "ffffffffffffffff\r\n", 18);
}

/* A huge chunk is handed out as it arrives, never buffered. */
static void test_large_chunk_streams(void **state)
{
	static char buf[1 << 16];
	struct http1_chunked c;
	struct http1_span sp[4];
	enum http1_err err;
	size_t ns, total = 0;
	int i, r;

	http1_chunked_init(&c, NULL);
	r = http1_chunked_feed(&c, L("100000\r\n"), sp, 4, &ns, &err);
	assert_int_equal(r, 8);
	assert_int_equal(ns, 0);
	memset(buf, 'z', sizeof(buf));
	for (i = 0; i < 16; i++) {
		r = http1_chunked_feed(&c, buf, sizeof(buf), sp, 4, &ns, &err);
		assert_int_equal(r, (int)sizeof(buf));
		assert_int_equal(ns, 1);
		assert_ptr_equal(sp[0].ptr, buf);
		total += sp[0].len;
	}
	assert_int_equal(total, 0x100000);
	r = http1_chunked_feed(&c, L("\r\n0\r\n\r\n"), sp, 4, &ns, &err);
	assert_int_equal(r, 7);
	assert_true(http1_chunked_done(&c));
	assert_int_equal(http1_chunked_feed(&c, L("x"), sp, 4, &ns, &err), 0);
	http1_chunked_init(&c, NULL);
	assert_int_equal(http1_chunked_feed(&c, buf, 0, sp, 4, &ns, &err), -EAGAIN);
	assert_int_equal(http1_chunked_feed(&c, L("1\r\n"), sp, 0, &ns, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_bodies), cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_limits),	 cmocka_unit_test(test_reencode),
	    cmocka_unit_test(test_size_line),	 cmocka_unit_test(test_large_chunk_streams),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
