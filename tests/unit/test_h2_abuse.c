/* The HTTP/2 abuse defences, with raw frames and a fake clock: rapid
 * reset (CVE-2023-44487) at and past the limit and after the window
 * passes, refused streams counting too, CONTINUATION floods (frame count
 * and raw block bytes, CVE-2024-28182), HPACK bombs (fields and decoded
 * size), PING, SETTINGS, empty DATA and PRIORITY floods. Each fires
 * GOAWAY(ENHANCE_YOUR_CALM) with its reason, and legitimate traffic just
 * under each threshold does not. */
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

struct rig {
	struct hk_engine e;
	struct hk_raw r;
	struct hk_seen s;
};

static void rig_start(struct rig *g, const struct l7_h2_conf *c)
{
	memset(&g->s, 0, sizeof(g->s));
	hk_engine_start(&g->e, c);
	hk_raw_init(&g->r);
	hk_raw_preface(&g->r);
	assert_true(hk_raw_send(&g->r, &g->e) > 0);
	hk_scan(&g->e, &g->s);
	memset(&g->s, 0, sizeof(g->s));
}

static void rig_stop(struct rig *g)
{
	hk_raw_free(&g->r);
	l7_h2_free(g->e.h2);
}

/* Sends what was built; checks the connection lived, or died with why. */
static void expect(struct rig *g, enum l7_h2_err why)
{
	ssize_t n = hk_raw_send(&g->r, &g->e);

	memset(&g->s, 0, sizeof(g->s));
	hk_scan(&g->e, &g->s);
	if (why == L7_H2_OK) {
		assert_true(n >= 0);
		assert_int_equal(g->s.goaway, 0);
		assert_int_equal(l7_h2_reason(g->e.h2), L7_H2_OK);
		return;
	}
	assert_int_equal(n, -EPROTO);
	assert_int_equal(l7_h2_reason(g->e.h2), why);
	assert_int_equal(g->s.goaway, 1);
	assert_int_equal(g->s.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	assert_true(l7_h2_done(g->e.h2));
}

static struct l7_h2_conf conf(void)
{
	struct l7_h2_conf c;

	l7_h2_conf_init(&c);
	return c;
}

/* HEADERS then RST_STREAM, over and over: the request costs us, the
 * client pays nothing and is never limited by concurrency. */
static void open_and_reset(struct rig *g, int32_t *sid, int n)
{
	for (int i = 0; i < n; i++, *sid += 2) {
		hk_raw_get(&g->r, *sid, "/", NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM);
		hk_raw_rst(&g->r, *sid, NGHTTP2_CANCEL);
	}
}

static void test_rapid_reset(void **state)
{
	struct l7_h2_conf c = conf();
	struct rig g;
	int32_t sid = 1;

	c.reset_limit = 100;
	c.reset_window_ms = 1000;
	rig_start(&g, &c);
	open_and_reset(&g, &sid, 100);
	expect(&g, L7_H2_OK); /* at the limit: fine */
	assert_int_equal(g.e.n, 100);
	/* a new window starts the count again */
	g.e.now += 1000;
	open_and_reset(&g, &sid, 100);
	expect(&g, L7_H2_OK);
	open_and_reset(&g, &sid, 1);
	expect(&g, L7_H2_ERR_RAPID_RESET);
	assert_int_equal(g.e.h2->stats.resets_in, 201);
	/* every stream that surfaced before the last was closed; the last
	 * one's RST_STREAM was the one too many, so it is left to the
	 * engine's teardown (l7_h2_free) */
	assert_int_equal(g.e.n, 201);
	for (int i = 0; i < g.e.n - 1; i++)
		assert_true(g.e.closed[i]);
	/* a dead connection takes nothing more */
	open_and_reset(&g, &sid, 1);
	assert_int_equal(hk_raw_send(&g.r, &g.e), -EPROTO);
	rig_stop(&g);
}

/* Opening streams past the concurrency limit is refused; refusals count
 * like resets, so a client cannot spin on REFUSED_STREAM either. */
static void test_refused_count(void **state)
{
	struct l7_h2_conf c = conf();
	struct rig g;

	c.max_concurrent_streams = 1;
	c.reset_limit = 20;
	rig_start(&g, &c);
	for (int32_t sid = 1; sid < 2 * 22; sid += 2)
		hk_raw_get(&g.r, sid, "/", NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM);
	expect(&g, L7_H2_ERR_RAPID_RESET);
	assert_int_equal(g.e.n, 1);
	assert_int_equal(g.e.h2->stats.refused, 21);
	rig_stop(&g);
}

static void headers_open(struct rig *g, int32_t sid)
{
	nghttp2_nv nva[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
			    HK_NV(":authority", "x.test"), HK_NV(":path", "/")};
	uint8_t block[256];
	ssize_t n = nghttp2_hd_deflate_hd(g->r.hd, block, sizeof(block), nva, 4);

	/* no END_HEADERS: CONTINUATION frames must follow */
	hk_raw_frame(&g->r, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, sid, block, (size_t)n);
}

static void test_continuation_flood(void **state)
{
	struct l7_h2_conf c = conf();
	struct rig g;

	/* max_continuations with END_HEADERS on the last: a request */
	rig_start(&g, &c);
	headers_open(&g, 1);
	for (unsigned i = 0; i < c.max_continuations; i++)
		hk_raw_frame(&g.r, NGHTTP2_CONTINUATION,
			     i + 1 == c.max_continuations ? NGHTTP2_FLAG_END_HEADERS : 0, 1, NULL,
			     0);
	expect(&g, L7_H2_OK);
	assert_int_equal(g.e.n, 1);
	/* one more CONTINUATION than allowed, never ending: GOAWAY before
	 * the block ends, nothing surfaced */
	headers_open(&g, 3);
	for (unsigned i = 0; i < c.max_continuations + 1; i++)
		hk_raw_frame(&g.r, NGHTTP2_CONTINUATION, 0, 3, NULL, 0);
	expect(&g, L7_H2_ERR_CONTINUATION);
	assert_int_equal(g.e.n, 1);
	rig_stop(&g);
}

/* HPACK integer with an n-bit prefix (RFC 7541 §5.1). */
static size_t hpack_int(uint8_t *p, uint8_t first, unsigned bits, size_t v)
{
	size_t max = (1u << bits) - 1, n = 0;

	if (v < max) {
		p[n++] = (uint8_t)(first | v);
		return n;
	}
	p[n++] = (uint8_t)(first | max);
	for (v -= max; v >= 128; v /= 128)
		p[n++] = (uint8_t)(v % 128 + 128);
	p[n++] = (uint8_t)v;
	return n;
}

/* A request block by hand: GET https / (static indices), :authority
 * without indexing, then "x-b: value" added to the dynamic table and
 * referenced `copies` - 1 more times by its one-byte index (62). */
static size_t bomb_block(uint8_t *b, const char *value, int copies)
{
	size_t n = 0, vlen = strlen(value);

	b[n++] = 0x82; /* :method GET */
	b[n++] = 0x87; /* :scheme https */
	b[n++] = 0x84; /* :path / */
	b[n++] = 0x01; /* :authority, literal without indexing */
	b[n++] = 6;
	memcpy(b + n, "x.test", 6);
	n += 6;
	b[n++] = 0x40; /* literal with incremental indexing, new name */
	b[n++] = 3;
	memcpy(b + n, "x-b", 3);
	n += 3;
	n += hpack_int(b + n, 0, 7, vlen);
	memcpy(b + n, value, vlen);
	n += vlen;
	for (int i = 1; i < copies; i++)
		b[n++] = 0x80 | 62; /* indexed: the first dynamic entry */
	return n;
}

/* Frames of 16 KiB: HEADERS, then CONTINUATION. */
static void send_block(struct rig *g, int32_t sid, const uint8_t *block, size_t n)
{
	for (size_t off = 0;; off += 16384) {
		size_t k = n - off > 16384 ? 16384 : n - off;
		uint8_t flags = off + k == n ? NGHTTP2_FLAG_END_HEADERS : 0;

		hk_raw_frame(&g->r, off ? NGHTTP2_CONTINUATION : NGHTTP2_HEADERS,
			     flags | (off ? 0 : NGHTTP2_FLAG_END_STREAM), sid, block + off, k);
		if (off + k == n)
			break;
	}
}

static void bomb(struct rig *g, int32_t sid, const char *value, int copies)
{
	static uint8_t block[1 << 17];

	send_block(g, sid, block, bomb_block(block, value, copies));
}

/* Few frames, many bytes: the raw block is capped while it arrives,
 * before any field in it is decoded. */
static void test_header_block_bytes(void **state)
{
	struct l7_h2_conf c = conf();
	struct rig g;
	static char big[40000];

	memset(big, 'b', sizeof(big) - 1);
	c.max_header_list = 16384;
	rig_start(&g, &c);
	bomb(&g, 1, big, 1);
	expect(&g, L7_H2_ERR_HEADER_FLOOD);
	assert_int_equal(g.e.n, 0);
	rig_stop(&g);
}

static void test_hpack_bomb(void **state)
{
	struct l7_h2_conf c = conf();
	struct rig g;
	static char v4k[4000];

	memset(v4k, 'v', sizeof(v4k) - 1);
	/* decoded over the limit but not absurd: the request surfaces with
	 * 431 to answer, the connection lives */
	rig_start(&g, &c);
	bomb(&g, 1, v4k, 10);
	expect(&g, L7_H2_OK);
	assert_int_equal(g.e.n, 1);
	assert_int_equal(g.e.st[0]->perr, HTTP1_ERR_HEADERS_TOO_LARGE);
	/* 4 KiB x 40 from 4 KiB on the wire: abuse */
	bomb(&g, 3, v4k, 40);
	expect(&g, L7_H2_ERR_HEADER_FLOOD);
	assert_int_equal(g.e.n, 1);
	rig_stop(&g);

	/* tiny fields, a thousand and more of them */
	rig_start(&g, &c);
	bomb(&g, 1, "x", 90);
	expect(&g, L7_H2_OK);
	assert_int_equal(g.e.st[0]->perr, HTTP1_OK);
	assert_int_equal(g.e.st[0]->req.h.nheaders, 91); /* + host */
	bomb(&g, 3, "x", L7_H2_MAX_BLOCK_FIELDS);
	expect(&g, L7_H2_ERR_HEADER_FLOOD);
	rig_stop(&g);
}

static void test_ping_flood(void **state)
{
	struct l7_h2_conf c = conf();
	struct rig g;
	uint8_t opaque[8] = {0};

	c.ping_limit = 10;
	c.flood_window_ms = 1000;
	rig_start(&g, &c);
	for (int i = 0; i < 10; i++)
		hk_raw_frame(&g.r, NGHTTP2_PING, 0, 0, opaque, 8);
	expect(&g, L7_H2_OK);
	assert_int_equal(g.s.frames[NGHTTP2_PING], 10); /* each answered */
	/* PING ACKs from the client are not counted */
	for (int i = 0; i < 20; i++)
		hk_raw_frame(&g.r, NGHTTP2_PING, NGHTTP2_FLAG_ACK, 0, opaque, 8);
	expect(&g, L7_H2_OK);
	hk_raw_frame(&g.r, NGHTTP2_PING, 0, 0, opaque, 8);
	expect(&g, L7_H2_ERR_PING_FLOOD);
	rig_stop(&g);
}

static void test_settings_flood(void **state)
{
	struct l7_h2_conf c = conf();
	struct rig g;

	c.settings_limit = 5;
	rig_start(&g, &c); /* the preface's SETTINGS counts as one */
	for (int i = 0; i < 4; i++)
		hk_raw_frame(&g.r, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
	expect(&g, L7_H2_OK);
	hk_raw_frame(&g.r, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
	expect(&g, L7_H2_ERR_SETTINGS_FLOOD);
	rig_stop(&g);
}

static void test_empty_frames(void **state)
{
	struct l7_h2_conf c = conf();
	struct rig g;
	uint8_t prio[5] = {0, 0, 0, 0, 16};

	c.empty_frame_limit = 30;
	rig_start(&g, &c);
	hk_raw_get(&g.r, 1, "/", NGHTTP2_FLAG_END_HEADERS); /* open, body to come */
	for (int i = 0; i < 20; i++)
		hk_raw_frame(&g.r, NGHTTP2_DATA, 0, 1, NULL, 0);
	for (int i = 0; i < 10; i++)
		hk_raw_frame(&g.r, NGHTTP2_PRIORITY, 0, 1, prio, 5);
	/* an empty DATA with END_STREAM is how a body ends: not counted */
	hk_raw_frame(&g.r, NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, NULL, 0);
	expect(&g, L7_H2_OK);
	assert_true(g.e.st[0]->end_in);
	hk_raw_frame(&g.r, NGHTTP2_PRIORITY, 0, 3, prio, 5);
	expect(&g, L7_H2_ERR_EMPTY_FLOOD);
	rig_stop(&g);
}

/* A limit of 0 switches a defence off. */
static void test_limits_off(void **state)
{
	struct l7_h2_conf c = conf();
	struct rig g;
	uint8_t opaque[8] = {0};
	int32_t sid = 1;

	c.ping_limit = 0;
	c.reset_limit = 0;
	rig_start(&g, &c);
	for (int i = 0; i < 300; i++)
		hk_raw_frame(&g.r, NGHTTP2_PING, 0, 0, opaque, 8);
	open_and_reset(&g, &sid, 300);
	expect(&g, L7_H2_OK);
	rig_stop(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rapid_reset),	       cmocka_unit_test(test_refused_count),
	    cmocka_unit_test(test_continuation_flood), cmocka_unit_test(test_header_block_bytes),
	    cmocka_unit_test(test_hpack_bomb),	       cmocka_unit_test(test_ping_flood),
	    cmocka_unit_test(test_settings_flood),     cmocka_unit_test(test_empty_frames),
	    cmocka_unit_test(test_limits_off),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
