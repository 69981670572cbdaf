/* What h2_stream.c and obuf.c keep per thread for reuse: a stream that
 * comes back from the cache carries nothing of its previous request (no
 * field, cookie, body or response byte), a stream whose field buffer grew
 * large is not kept, the caches stay within their bounds, and output
 * chunks taken from the cache hold exactly what is appended to them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "h2_testkit.h"
#include "../../l7/h2_int.h"
#include "../../l7/h2_mem.h"

static const char head5[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";

static struct l7_h2_conf conf(void)
{
	struct l7_h2_conf c;

	l7_h2_conf_init(&c);
	return c;
}

/* One GET on a new stream, answered with `body`; returns the view as
 * text (hk_describe) in e->last_req. */
static struct hk_resp *get(struct hk_client *c, struct hk_engine *e, const nghttp2_nv *nva,
			   size_t n, const char *body)
{
	int32_t id = hk_request(c, nva, n, NULL, 0);
	struct l7_h2_stream *st;

	hk_pump(c, e, 0);
	st = hk_stream(e, id);
	assert_non_null(st);
	assert_int_equal(l7_h2_respond_head(st, (const uint8_t *)head5, strlen(head5), false), 0);
	assert_int_equal(l7_h2_respond_body(st, body, 5, true), 5);
	hk_pump(c, e, 0);
	return hk_resp(c, id);
}

static void test_reused_stream_is_clean(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_client c;
	struct hk_engine e;
	nghttp2_nv first[] = {HK_NV(":method", "POST"),	     HK_NV(":scheme", "https"),
			      HK_NV(":authority", "a.test"), HK_NV(":path", "/first?q=1"),
			      HK_NV("cookie", "a=1"),	     HK_NV("x-one", "1"),
			      HK_NV("cookie", "b=2"),	     HK_NV("content-length", "0")};
	nghttp2_nv second[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
			       HK_NV(":authority", "b.test"), HK_NV(":path", "/2")};
	struct hk_resp *r;
	unsigned before;

	hk_engine_start(&e, &cf);
	hk_client_start(&c, 0);
	r = get(&c, &e, first, 8, "one!!");
	assert_int_equal(r->status, 200);
	assert_string_equal(e.last_req, "POST /first?q=1 host=a.test path=/first query=q=1 body=1 "
					"cl=0 | cookie: a=1; b=2 | x-one: 1 | content-length: 0 | "
					"host: a.test");
	/* the first stream went back to this thread's cache */
	before = l7_h2s_cached();
	assert_true(before >= 1);

	r = get(&c, &e, second, 4, "two!!");
	assert_int_equal(l7_h2s_cached(), before); /* taken, and given back */
	assert_int_equal(r->status, 200);
	assert_int_equal(r->blen, 5);
	assert_memory_equal(r->body, "two!!", 5);
	/* nothing of the first request: fields, cookies, body framing, query */
	assert_string_equal(e.last_req,
			    "GET /2 host=b.test path=/2 query= body=0 cl=0 | host: b.test");
	assert_int_equal(e.st[1], NULL);
	assert_true(e.closed[1]);
	assert_int_equal(e.close_code[1], 0);
	hk_client_free(&c);
	l7_h2_free(e.h2);
}

/* The header slots of a reused stream are not cleared in bulk: each one
 * must be written whole, or the hop-by-hop flag of the previous request's
 * TE field would drop the next request's field in the same slot. */
static void test_reused_slots_written_whole(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_client c;
	struct hk_engine e;
	nghttp2_nv first[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
			      HK_NV(":authority", "a.test"), HK_NV(":path", "/1"),
			      HK_NV("te", "trailers")};
	nghttp2_nv second[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
			       HK_NV(":authority", "a.test"), HK_NV(":path", "/2"),
			       HK_NV("x-two", "2")};
	struct l7_h2_stream *st;
	int32_t id;

	hk_engine_start(&e, &cf);
	hk_client_start(&c, 0);
	id = hk_request(&c, first, 5, NULL, 0);
	hk_pump(&c, &e, 0);
	st = hk_stream(&e, id);
	assert_int_equal(st->req.h.headers[0].id, HTTP1_H_TE);
	assert_true(st->req.h.headers[0].flags & HTTP1_HF_HOP_BY_HOP);
	l7_h2_respond_head(st, (const uint8_t *)head5, strlen(head5), false);
	l7_h2_respond_body(st, "first", 5, true);
	hk_pump(&c, &e, 0);

	id = hk_request(&c, second, 5, NULL, 0);
	hk_pump(&c, &e, 0);
	st = hk_stream(&e, id);
	assert_int_equal(st->req.h.nheaders, 2); /* x-two, then Host */
	assert_int_equal(st->req.h.headers[0].name.len, 5);
	assert_int_equal(st->req.h.headers[0].flags, 0);
	assert_int_equal(st->req.h.headers[1].id, HTTP1_H_HOST);
	hk_client_free(&c);
	l7_h2_free(e.h2);
}

/* A stream whose field buffer grew past L7_H2_HBUF_KEEP is freed rather
 * than kept: the cache never holds large buffers. */
static void test_large_fields_not_kept(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_client c;
	struct hk_engine e;
	char big[6000];
	nghttp2_nv nva[] = {HK_NV(":method", "GET"),
			    HK_NV(":scheme", "https"),
			    HK_NV(":authority", "a.test"),
			    HK_NV(":path", "/big"),
			    {(uint8_t *)"x-big", (uint8_t *)big, 5, sizeof(big), 0}};
	struct hk_resp *r;
	unsigned before;

	memset(big, 'b', sizeof(big));
	hk_engine_start(&e, &cf);
	hk_client_start(&c, 0);
	before = l7_h2s_cached();
	r = get(&c, &e, nva, 5, "large");
	assert_int_equal(r->status, 200);
	/* the stream came from the cache (if it had one) and was not put back */
	assert_int_equal(l7_h2s_cached(), before ? before - 1 : 0);
	hk_client_free(&c);
	l7_h2_free(e.h2);
}

/* Many concurrent streams: all go back to the cache for the next burst,
 * and every stream still answers correctly; what then stays unused
 * through a trim period is freed, down to the reserve of 32 (and
 * nghttp2's blocks likewise). */
static void test_stream_cache_bounded(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_client c;
	struct hk_engine e;
	nghttp2_nv nva[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
			    HK_NV(":authority", "a.test"), HK_NV(":path", "/n")};
	int32_t ids[80];

	hk_engine_start(&e, &cf);
	hk_client_start(&c, 0);
	for (int i = 0; i < 80; i++)
		ids[i] = hk_request(&c, nva, 4, NULL, 0);
	hk_pump(&c, &e, 0);
	assert_int_equal(e.n, 80);
	for (int i = 0; i < 80; i++) {
		assert_int_equal(
		    l7_h2_respond_head(e.st[i], (const uint8_t *)head5, strlen(head5), false), 0);
		assert_int_equal(l7_h2_respond_body(e.st[i], "abcde", 5, true), 5);
	}
	hk_pump(&c, &e, 0);
	for (int i = 0; i < 80; i++) {
		struct hk_resp *r = hk_resp(&c, ids[i]);

		assert_int_equal(r->status, 200);
		assert_int_equal(r->blen, 5);
		assert_true(r->closed);
	}
	assert_int_equal(l7_h2_active(e.h2), 0);
	assert_true(l7_h2s_cached() >= 80);
	assert_true(l7_obuf_cached() <= L7_OBUF_CACHE);
	hk_client_free(&c);
	l7_h2_free(e.h2);
	l7_h2s_trim(); /* the burst took streams since the last trim: kept */
	assert_true(l7_h2s_cached() >= 80);
	assert_true(l7_h2_mem_cached() > 0); /* nghttp2's blocks of the session */
	l7_h2s_trim();			     /* unused for a whole period: given back */
	assert_int_equal(l7_h2s_cached(), 32);
	assert_true(l7_h2_mem_cached() <= 5 * 32); /* 32 per size class at most */
}

/* nghttp2's allocator: blocks come back to a per-thread list of their
 * size class, realloc keeps a block that still fits, calloc zeroes, large
 * blocks bypass the lists, and a trim period of no use frees all but 32
 * per class. */
static void test_mem_lists(void **state)
{
	nghttp2_mem *m = l7_h2_mem();
	void *p[100], *big, *q;
	unsigned before;

	(void)state;
	l7_h2s_trim();
	l7_h2s_trim();
	before = l7_h2_mem_cached();
	for (int i = 0; i < 100; i++)
		assert_non_null(p[i] = m->malloc(100, m->mem_user_data));
	for (int i = 0; i < 100; i++)
		m->free(p[i], m->mem_user_data);
	assert_true(l7_h2_mem_cached() >= before + 100 - 32); /* some came from the list */
	q = m->malloc(100, m->mem_user_data);
	assert_ptr_equal(q, p[99]); /* the last freed comes back first */
	assert_ptr_equal(m->realloc(q, 112, m->mem_user_data), q); /* still fits */
	memset(q, 0x5a, 112);
	q = m->realloc(q, 300, m->mem_user_data);
	assert_int_equal(((unsigned char *)q)[111], 0x5a);
	m->free(q, m->mem_user_data);
	q = m->calloc(10, 10, m->mem_user_data);
	for (int i = 0; i < 100; i++)
		assert_int_equal(((unsigned char *)q)[i], 0);
	m->free(q, m->mem_user_data);
	big = m->malloc(5000, m->mem_user_data);
	before = l7_h2_mem_cached();
	m->free(big, m->mem_user_data);
	assert_int_equal(l7_h2_mem_cached(), before);
	l7_h2s_trim();
	l7_h2s_trim();
	assert_true(l7_h2_mem_cached() <= 5 * 32);
	assert_true(l7_h2_mem_cached() >= 32);
}

/* Chunks go back to the thread's cache when a buffer is freed or
 * trimmed, come out of it for any buffer, start empty, and the cache
 * holds at most L7_OBUF_CACHE. */
static void test_obuf_cache(void **state)
{
	struct l7_obuf a, b;
	uint8_t *big = malloc(40 * L7_OBUF_CHUNK), *back = malloc(40 * L7_OBUF_CHUNK);
	const uint8_t *p;

	for (size_t i = 0; i < 40 * (size_t)L7_OBUF_CHUNK; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	l7_obuf_init(&a);
	l7_obuf_init(&b);
	assert_int_equal(l7_obuf_append(&a, big, 40 * (size_t)L7_OBUF_CHUNK), 0);
	l7_obuf_free(&a);
	assert_int_equal(l7_obuf_cached(), L7_OBUF_CACHE); /* 40 given back, 32 kept */

	/* a chunk from the cache starts empty: only the new bytes come out */
	assert_int_equal(l7_obuf_append(&b, "hello", 5), 0);
	assert_int_equal(l7_obuf_cached(), L7_OBUF_CACHE - 1);
	assert_int_equal(l7_obuf_front(&b, &p), 5);
	assert_memory_equal(p, "hello", 5);
	l7_obuf_consume(&b, 5);
	assert_non_null(b.spare); /* the buffer's own spare first */
	l7_obuf_trim(&b);
	assert_null(b.spare);
	assert_int_equal(l7_obuf_cached(), L7_OBUF_CACHE);

	/* reused chunks carry bytes intact across their boundaries */
	assert_int_equal(l7_obuf_append(&b, big, 3 * (size_t)L7_OBUF_CHUNK + 11), 0);
	assert_int_equal(l7_obuf_read(&b, back, 40 * (size_t)L7_OBUF_CHUNK),
			 3 * (size_t)L7_OBUF_CHUNK + 11);
	assert_memory_equal(back, big, 3 * (size_t)L7_OBUF_CHUNK + 11);
	l7_obuf_free(&b);
	assert_int_equal(l7_obuf_cached(), L7_OBUF_CACHE);
	free(big);
	free(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reused_stream_is_clean),
	    cmocka_unit_test(test_reused_slots_written_whole),
	    cmocka_unit_test(test_large_fields_not_kept),
	    cmocka_unit_test(test_stream_cache_bounded),
	    cmocka_unit_test(test_mem_lists),
	    cmocka_unit_test(test_obuf_cache),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
