/* h2.c, h2_stream.c, h2_resp.c against nghttp2's client: a request as the
 * HTTP/1.1 view the engine routes (pseudo-headers, Host from :authority,
 * cookies joined, body framing), the response converted from an HTTP/1.1
 * head, POST bodies across flow-control windows with WINDOW_UPDATE only
 * as the engine consumes, response backpressure, REFUSED_STREAM past the
 * concurrency limit, oversized and malformed requests, trailers, 1xx,
 * client resets, GOAWAY on shutdown (graceful and not), max_requests,
 * zero-window stalls, the preface and h2c sniffing, the config group. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "h2_testkit.h"

static const char ok_head[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n"
			      "Keep-Alive: timeout=5\r\nX-Up: yes\r\nSet-Cookie: s=1\r\n\r\n";

static struct l7_h2_conf conf(void)
{
	struct l7_h2_conf c;

	l7_h2_conf_init(&c);
	return c;
}

static void start(struct hk_client *c, struct hk_engine *e, const struct l7_h2_conf *cf,
		  uint32_t client_window)
{
	hk_engine_start(e, cf);
	hk_client_start(c, client_window);
}

static void stop(struct hk_client *c, struct hk_engine *e)
{
	hk_client_free(c);
	l7_h2_free(e->h2);
}

static void test_get_view(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_client c;
	struct hk_engine e;
	nghttp2_nv nva[] = {HK_NV(":method", "GET"),
			    HK_NV(":scheme", "https"),
			    HK_NV(":authority", "Example.COM:8443"),
			    HK_NV(":path", "/a/b?x=1&y=2"),
			    HK_NV("user-agent", "test/1"),
			    HK_NV("cookie", "a=1"),
			    HK_NV("accept", "*/*"),
			    HK_NV("cookie", "b=2")};
	int32_t id;
	struct hk_resp *r;
	struct l7_h2_stream *st;

	start(&c, &e, &cf, 0);
	id = hk_request(&c, nva, 8, NULL, 0);
	hk_pump(&c, &e, 0);
	assert_int_equal(e.n, 1);
	st = e.st[0];
	assert_int_equal(st->perr, HTTP1_OK);
	assert_true(st->end_in);
	assert_int_equal(st->req.method_id, HTTP1_M_GET);
	assert_int_equal(st->req.form, HTTP1_FORM_ORIGIN);
	assert_int_equal(st->req.h.minor, 1);
	assert_true(st->req.h.keep_alive);
	assert_int_equal(c.peer_max_streams, 100); /* the advertised limit, patched in */
	assert_string_equal(e.last_req, "GET /a/b?x=1&y=2 host=Example.COM:8443 path=/a/b "
					"query=x=1&y=2 body=0 cl=0 | user-agent: test/1 | cookie: "
					"a=1; b=2 | accept: */* | host: Example.COM:8443");
	assert_int_equal(st->req.h.headers[3].id, HTTP1_H_HOST);
	assert_int_equal(st->req.h.n_host, 1);

	/* the HTTP/1.1 head becomes HEADERS without hop-by-hop fields */
	assert_int_equal(l7_h2_respond_head(st, (const uint8_t *)ok_head, strlen(ok_head), false),
			 0);
	assert_int_equal(l7_h2_respond_body(st, "hello", 5, true), 5);
	hk_pump(&c, &e, 0);
	r = hk_resp(&c, id);
	assert_int_equal(r->status, 200);
	assert_string_equal(r->fields, "content-length: 5\nx-up: yes\nset-cookie: s=1\n");
	assert_int_equal(r->blen, 5);
	assert_memory_equal(r->body, "hello", 5);
	assert_true(r->closed);
	assert_int_equal(r->code, 0);
	assert_true(e.closed[0]);
	assert_int_equal(e.close_code[0], 0);
	assert_int_equal(l7_h2_active(e.h2), 0);
	assert_int_equal(e.h2->stats.streams, 1);
	stop(&c, &e);
}

/* A 200 kB POST through a 16 KiB stream window and a 64 KiB connection
 * window: the server never holds more than a window, and the client may
 * send more only as the engine consumes. */
static void test_post_flow_control(void **state)
{
	static uint8_t body[200000];
	struct l7_h2_conf cf = conf();
	struct hk_client c;
	struct hk_engine e;
	char cl[16];
	size_t got = 0, sent_before;
	struct l7_h2_stream *st;

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 31 + 7);
	snprintf(cl, sizeof(cl), "%zu", sizeof(body));
	nghttp2_nv nva[] = {HK_NV(":method", "POST"), HK_NV(":scheme", "https"),
			    HK_NV(":authority", "x.test"), HK_NV(":path", "/up"),
			    HK_NV("content-length", cl)};
	cf.initial_window = 16384;
	cf.connection_window = 65535;
	start(&c, &e, &cf, 0);
	hk_request(&c, nva, 5, body, sizeof(body));
	hk_pump(&c, &e, 0);
	st = e.st[0];
	assert_non_null(st);
	assert_int_equal(st->req.h.body, HTTP1_BODY_LENGTH);
	assert_int_equal(st->req.h.content_length, sizeof(body));
	assert_true(l7_h2_body_bytes(st) <= 65535); /* before our SETTINGS were acknowledged */
	/* nothing consumed: no WINDOW_UPDATE, the client is stuck */
	sent_before = c.src_off;
	hk_pump(&c, &e, 0);
	assert_int_equal(c.src_off, sent_before);
	while (!l7_h2_body_done(st)) {
		uint8_t tmp[5000];
		struct iovec iov[8];
		unsigned k = l7_h2_body_iov(st, iov, 8);
		size_t n = 0;

		assert_true(k > 0);
		assert_true(l7_h2_body_bytes(st) <= 65535);
		for (unsigned i = 0; i < k && n < sizeof(tmp); i++) {
			size_t m =
			    iov[i].iov_len < sizeof(tmp) - n ? iov[i].iov_len : sizeof(tmp) - n;

			memcpy(tmp + n, iov[i].iov_base, m);
			n += m;
		}
		assert_memory_equal(tmp, body + got, n);
		got += n;
		l7_h2_body_consume(st, n);
		hk_pump(&c, &e, 0);
	}
	assert_int_equal(got, sizeof(body));
	assert_int_equal(st->body_in, sizeof(body));
	assert_true(e.max_held <= 65535);
	/* once acknowledged, the stream window is ours: 16 KiB */
	assert_true(e.bodies > 5);
	stop(&c, &e);
}

static void test_post_unknown_length(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_client c;
	struct hk_engine e;
	nghttp2_nv nva[] = {HK_NV(":method", "POST"), HK_NV(":scheme", "http"),
			    HK_NV(":authority", "x.test"), HK_NV(":path", "/")};

	start(&c, &e, &cf, 0);
	e.auto_consume = true;
	hk_request(&c, nva, 4, "abcdef", 6);
	hk_pump(&c, &e, 0);
	/* no Content-Length: END_STREAM ends it, the upstream gets chunked */
	assert_int_equal(e.st[0]->req.h.body, HTTP1_BODY_CHUNKED);
	assert_true(l7_h2_body_done(e.st[0]));
	assert_int_equal(e.st[0]->body_in, 6);
	stop(&c, &e);
}

/* Past SETTINGS_MAX_CONCURRENT_STREAMS (acknowledged): REFUSED_STREAM for
 * that stream, the connection lives on (RFC 9113 §5.1.2, §8.7). */
static void test_concurrency_refused(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_engine e;
	struct hk_raw r;
	struct hk_seen s = {0};

	cf.max_concurrent_streams = 2;
	hk_engine_start(&e, &cf);
	hk_raw_init(&r);
	hk_raw_preface(&r);
	hk_raw_get(&r, 1, "/1", NGHTTP2_FLAG_END_HEADERS);
	hk_raw_get(&r, 3, "/3", NGHTTP2_FLAG_END_HEADERS);
	hk_raw_get(&r, 5, "/5", NGHTTP2_FLAG_END_HEADERS);
	assert_true(hk_raw_send(&r, &e) > 0);
	hk_scan(&e, &s);
	assert_int_equal(e.n, 2);
	assert_int_equal(s.goaway, 0);
	assert_int_equal(s.rst, 1);
	assert_int_equal(s.rst_id[0], 5);
	assert_int_equal(s.rst_code[0], NGHTTP2_REFUSED_STREAM);
	assert_int_equal(e.h2->stats.refused, 1);
	/* stream 1 ends: room for one more */
	hk_raw_frame(&r, NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, NULL, 0);
	hk_raw_send(&r, &e);
	static const char h204[] = "HTTP/1.1 204 No Content\r\n\r\n";
	assert_int_equal(l7_h2_respond_head(e.st[0], (const uint8_t *)h204, strlen(h204), true), 0);
	memset(&s, 0, sizeof(s));
	hk_scan(&e, &s);
	assert_int_equal(s.headers, 1);
	assert_true(e.closed[0]);
	hk_raw_get(&r, 7, "/7", NGHTTP2_FLAG_END_HEADERS);
	hk_raw_send(&r, &e);
	memset(&s, 0, sizeof(s));
	hk_scan(&e, &s);
	assert_int_equal(s.rst, 0);
	assert_int_equal(e.n, 3);
	assert_int_equal(e.ids[2], 7);
	hk_raw_free(&r);
	l7_h2_free(e.h2);
}

/* Before our SETTINGS were acknowledged the same holds: nghttp2's client
 * opens four streams at once, two are refused and it may retry them. */
static void test_concurrency_first_flight(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_client c;
	struct hk_engine e;
	nghttp2_nv nva[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
			    HK_NV(":authority", "x.test"), HK_NV(":path", "/")};
	int refused = 0;

	cf.max_concurrent_streams = 2;
	start(&c, &e, &cf, 0);
	for (int i = 0; i < 4; i++)
		hk_request(&c, nva, 4, NULL, 0);
	hk_pump(&c, &e, 0);
	assert_int_equal(e.n, 2);
	for (int i = 0; i < c.n; i++)
		refused += c.r[i].closed && c.r[i].code == NGHTTP2_REFUSED_STREAM;
	assert_int_equal(refused, 2);
	stop(&c, &e);
}

static void test_oversized_headers(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_client c;
	struct hk_engine e;
	static char big[5000] = {[0 ... 4998] = 'a'};
	static const char h431[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
				   "Content-Length: 0\r\n\r\n";
	nghttp2_nv nva[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
			    HK_NV(":authority", "x.test"), HK_NV(":path", "/"),
			    HK_NV("x-big", big)};
	int32_t id;

	cf.max_header_list = 4096;
	start(&c, &e, &cf, 0);
	id = hk_request(&c, nva, 5, NULL, 0);
	hk_pump(&c, &e, 0);
	assert_int_equal(e.n, 1);
	assert_int_equal(e.st[0]->perr, HTTP1_ERR_HEADERS_TOO_LARGE);
	assert_int_equal(http1_err_status(e.st[0]->perr), 431);
	assert_int_equal(e.h2->stats.too_large, 1);
	/* the engine answers as for HTTP/1, and the connection goes on */
	assert_int_equal(l7_h2_respond_head(e.st[0], (const uint8_t *)h431, strlen(h431), true), 0);
	hk_pump(&c, &e, 0);
	assert_int_equal(hk_resp(&c, id)->status, 431);
	nva[4] = (nghttp2_nv)HK_NV("x-small", "ok");
	hk_request(&c, nva, 5, NULL, 0);
	hk_pump(&c, &e, 0);
	assert_int_equal(e.n, 2);
	assert_int_equal(e.st[1]->perr, HTTP1_OK);
	assert_int_equal(l7_h2_reason(e.h2), L7_H2_OK);
	stop(&c, &e);
}

static void test_too_many_fields(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_client c;
	struct hk_engine e;
	nghttp2_nv nva[110];
	char names[110][16];

	start(&c, &e, &cf, 0);
	nva[0] = (nghttp2_nv)HK_NV(":method", "GET");
	nva[1] = (nghttp2_nv)HK_NV(":scheme", "https");
	nva[2] = (nghttp2_nv)HK_NV(":authority", "x.test");
	nva[3] = (nghttp2_nv)HK_NV(":path", "/");
	for (int i = 4; i < 110; i++) {
		snprintf(names[i], sizeof(names[i]), "x-%d", i);
		nva[i] = (nghttp2_nv){(uint8_t *)names[i], (uint8_t *)"v", strlen(names[i]), 1, 0};
	}
	hk_request(&c, nva, 110, NULL, 0);
	hk_pump(&c, &e, 0);
	assert_int_equal(e.st[0]->perr, HTTP1_ERR_TOO_MANY_HEADERS);
	stop(&c, &e);
}

/* Malformed requests: nghttp2 resets a stream without :path; a Host that
 * differs from :authority is ours to refuse (RFC 9113 §8.3.1). */
static void test_malformed(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_client c;
	struct hk_engine e;
	nghttp2_nv bad_host[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
				 HK_NV(":authority", "a.test"), HK_NV(":path", "/"),
				 HK_NV("host", "b.test")};
	nghttp2_nv same_host[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
				  HK_NV(":authority", "a.test"), HK_NV(":path", "/"),
				  HK_NV("host", "A.test")};
	nghttp2_nv no_authority[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
				     HK_NV(":path", "/x")};

	nghttp2_nv bad_target[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
				   HK_NV(":authority", "a.test"), HK_NV(":path", "/a b")};

	start(&c, &e, &cf, 0);
	hk_request(&c, bad_host, 5, NULL, 0);
	hk_request(&c, same_host, 5, NULL, 0);
	hk_request(&c, no_authority, 3, NULL, 0);
	hk_request(&c, bad_target, 4, NULL, 0);
	hk_pump(&c, &e, 0);
	assert_int_equal(e.st[0]->perr, HTTP1_ERR_HOST_INVALID);
	assert_int_equal(e.st[1]->perr, HTTP1_OK);
	assert_int_equal(e.st[1]->req.h.nheaders, 1); /* the received Host, none added */
	/* nghttp2 itself resets a request without :authority or Host, or
	 * with a space in :path (stream PROTOCOL_ERROR): they never surface */
	assert_int_equal(e.n, 2);
	assert_true(hk_resp(&c, 5)->closed);
	assert_int_equal(hk_resp(&c, 5)->code, NGHTTP2_PROTOCOL_ERROR);
	assert_true(hk_resp(&c, 7)->closed);
	assert_int_equal(hk_resp(&c, 7)->code, NGHTTP2_PROTOCOL_ERROR);
	assert_int_equal(l7_h2_reason(e.h2), L7_H2_OK);
	stop(&c, &e);
}

static void test_trailers_and_continue(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_engine e;
	struct hk_raw r;
	struct hk_seen s = {0};
	nghttp2_nv req[] = {HK_NV(":method", "POST"), HK_NV(":scheme", "https"),
			    HK_NV(":authority", "x.test"), HK_NV(":path", "/"),
			    HK_NV("expect", "100-continue")};
	nghttp2_nv trl[] = {HK_NV("x-checksum", "abc")};
	uint8_t block[256];
	ssize_t n;
	static const char h100[] = "HTTP/1.1 100 Continue\r\n\r\n";
	static const char h200[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

	hk_engine_start(&e, &cf);
	e.auto_consume = true;
	hk_raw_init(&r);
	hk_raw_preface(&r);
	n = nghttp2_hd_deflate_hd(r.hd, block, sizeof(block), req, 5);
	hk_raw_frame(&r, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1, block, (size_t)n);
	hk_raw_send(&r, &e);
	assert_true(e.st[0]->req.h.expect_continue);
	assert_int_equal(l7_h2_respond_head(e.st[0], (const uint8_t *)h100, strlen(h100), false),
			 0);
	hk_raw_frame(&r, NGHTTP2_DATA, 0, 1, "body", 4);
	n = nghttp2_hd_deflate_hd(r.hd, block, sizeof(block), trl, 1);
	hk_raw_frame(&r, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, 1,
		     block, (size_t)n);
	hk_raw_send(&r, &e);
	assert_true(l7_h2_body_done(e.st[0]));
	assert_int_equal(e.st[0]->body_in, 4);
	assert_int_equal(e.st[0]->req.h.nheaders, 2); /* expect + host: no trailer kept */
	assert_int_equal(l7_h2_respond_head(e.st[0], (const uint8_t *)h200, strlen(h200), true), 0);
	hk_scan(&e, &s);
	assert_int_equal(s.headers, 2); /* 100, then 200 */
	assert_true(e.closed[0]);
	hk_raw_free(&r);
	l7_h2_free(e.h2);
}

static void test_respond_errors(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_client c;
	struct hk_engine e;
	nghttp2_nv nva[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
			    HK_NV(":authority", "x.test"), HK_NV(":path", "/")};
	static const char h101[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: ws\r\n\r\n";
	static const char junk[] = "HTTP/1.1 2000 Nope\r\n\r\n";
	static const char *const bad[] = {
	    "HTTP/1.1 099 Low\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nNo-Colon\r\n\r\n",
	    "HTTP/1.1 200 OK\r\n: empty\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n",
	    "HTTP/1.1 200 OK\r\nX: 1\rY: 2\r\n\r\n",
	    "HTTP/1.1 200 OK\nX: 1\r\n\r\n",
	    "HTTP/1.1 20x OK\r\n\r\n",
	};
	struct l7_h2_stream *st;

	start(&c, &e, &cf, 0);
	hk_request(&c, nva, 4, NULL, 0);
	hk_pump(&c, &e, 0);
	st = e.st[0];
	assert_int_equal(l7_h2_respond_body(st, "x", 1, false), -EINVAL); /* no head yet */
	assert_int_equal(l7_h2_respond_head(st, (const uint8_t *)h101, strlen(h101), true),
			 -EBADMSG);
	assert_int_equal(l7_h2_respond_head(st, (const uint8_t *)junk, strlen(junk), true),
			 -EBADMSG);
	assert_int_equal(l7_h2_respond_head(st, (const uint8_t *)ok_head, 10, true), -EBADMSG);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    l7_h2_respond_head(st, (const uint8_t *)bad[i], strlen(bad[i]), true),
		    -EBADMSG);
	assert_int_equal(l7_h2_respond_head(st, (const uint8_t *)ok_head, strlen(ok_head), false),
			 0);
	assert_int_equal(l7_h2_respond_head(st, (const uint8_t *)ok_head, strlen(ok_head), false),
			 -EINVAL);
	/* the last byte ends the stream at once: on_close runs inside */
	assert_int_equal(l7_h2_respond_body(st, "hello", 5, true), 5);
	assert_true(e.closed[0]);
	hk_pump(&c, &e, 0);
	assert_int_equal(hk_resp(&c, 1)->blen, 5);
	stop(&c, &e);
}

/* Heads in the engine's shape are split, others parsed in full: either
 * way the connection-specific fields and those a Connection option names
 * are dropped, names lowercased, values trimmed. */
static void respond_fields(const char *head, const char *want)
{
	struct l7_h2_conf cf = conf();
	struct hk_client c;
	struct hk_engine e;
	nghttp2_nv nva[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
			    HK_NV(":authority", "x.test"), HK_NV(":path", "/")};
	int32_t id;

	start(&c, &e, &cf, 0);
	id = hk_request(&c, nva, 4, NULL, 0);
	hk_pump(&c, &e, 0);
	assert_int_equal(l7_h2_respond_head(e.st[0], (const uint8_t *)head, strlen(head), true), 0);
	hk_pump(&c, &e, 0);
	assert_int_equal(hk_resp(&c, id)->status, 204);
	assert_string_equal(hk_resp(&c, id)->fields, want);
	stop(&c, &e);
}

static void test_respond_head_shapes(void **state)
{
	(void)state;
	/* the engine's shape, every connection-specific field */
	respond_fields("HTTP/1.1 204 No Content\r\nConnection: close\r\nX-Keep: a b \r\n"
		       "Transfer-Encoding: chunked\r\nTE: trailers\r\nUPGRADE: h2c\r\n"
		       "Proxy-Connection: x\r\nKeep-Alive: timeout=5\r\nX-Empty:\r\n\r\n",
		       "x-keep: a b\nx-empty: \n");
	/* a Connection option naming another field: the full parse finds it */
	respond_fields("HTTP/1.1 204 No Content\r\nConnection: x-hop\r\nX-Hop: 1\r\n"
		       "X-Keep: 2\r\n\r\n",
		       "x-keep: 2\n");
	/* no reason phrase, tabs around a value */
	respond_fields("HTTP/1.1 204\r\nX-Tab:\t1\t\r\n\r\n", "x-tab: 1\n");
	/* HTTP/1.0 status line: parsed in full */
	respond_fields("HTTP/1.0 204 No Content\r\nX-Old: 1\r\n\r\n", "x-old: 1\n");
}

/* The response buffer takes stream_buffer bytes; on_room says when the
 * client's reading made room again. */
static void test_response_backpressure(void **state)
{
	static uint8_t big[100000];
	struct l7_h2_conf cf = conf();
	struct hk_client c;
	struct hk_engine e;
	nghttp2_nv nva[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
			    HK_NV(":authority", "x.test"), HK_NV(":path", "/big")};
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
	struct l7_h2_stream *st;
	size_t off = 0;
	int rounds = 0;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i ^ (i >> 8));
	cf.stream_buffer = 8192;
	start(&c, &e, &cf, 0);
	hk_request(&c, nva, 4, NULL, 0);
	hk_pump(&c, &e, 0);
	st = e.st[0];
	assert_int_equal(l7_h2_respond_head(st, (const uint8_t *)head, strlen(head), false), 0);
	while (off < sizeof(big) && rounds++ < 1000) {
		ssize_t n = l7_h2_respond_body(st, big + off, sizeof(big) - off, true);

		assert_true(n >= 0 && n <= 8192);
		off += (size_t)n;
		if (!(st = hk_stream(&e, 1)))
			break; /* all framed and sent: the stream closed */
		assert_true(l7_obuf_bytes(&st->out) <= 8192);
		/* the client reads 3000 bytes of frames per round */
		hk_pump(&c, &e, 3000);
		if (!(st = hk_stream(&e, 1)))
			break;
	}
	hk_pump(&c, &e, 0);
	assert_int_equal(off, sizeof(big));
	assert_true(e.rooms > 5);
	assert_int_equal(hk_resp(&c, 1)->blen, sizeof(big));
	assert_memory_equal(hk_resp(&c, 1)->body, big, sizeof(big));
	stop(&c, &e);
}

/* The client cancels mid-body: on_close with CANCEL, and the bytes the
 * stream held go back to the connection window. */
static void test_client_reset(void **state)
{
	static uint8_t body[60000];
	struct l7_h2_conf cf = conf();
	struct hk_client c;
	struct hk_engine e;
	nghttp2_nv nva[] = {HK_NV(":method", "POST"), HK_NV(":scheme", "https"),
			    HK_NV(":authority", "x.test"), HK_NV(":path", "/")};

	cf.connection_window = 65535;
	start(&c, &e, &cf, 0);
	int32_t id = hk_request(&c, nva, 4, body, sizeof(body));
	hk_pump(&c, &e, 0);
	assert_true(l7_h2_body_bytes(e.st[0]) > 50000);
	nghttp2_submit_rst_stream(c.s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
	hk_pump(&c, &e, 0);
	assert_true(e.closed[0]);
	assert_int_equal(e.close_code[0], NGHTTP2_CANCEL);
	assert_int_equal(e.h2->stats.resets_in, 1);
	/* a new 60 kB body fits the connection window again */
	e.auto_consume = true;
	hk_request(&c, nva, 4, body, sizeof(body));
	hk_pump(&c, &e, 0);
	assert_true(l7_h2_body_done(e.st[1]));
	stop(&c, &e);
}

static void test_engine_reset(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_client c;
	struct hk_engine e;
	nghttp2_nv nva[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
			    HK_NV(":authority", "x.test"), HK_NV(":path", "/")};

	start(&c, &e, &cf, 0);
	hk_request(&c, nva, 4, NULL, 0);
	hk_pump(&c, &e, 0);
	assert_int_equal(
	    l7_h2_respond_head(e.st[0], (const uint8_t *)ok_head, strlen(ok_head), false), 0);
	hk_pump(&c, &e, 0);
	/* the upstream broke mid-body */
	l7_h2_reset(e.st[0], NGHTTP2_INTERNAL_ERROR);
	hk_pump(&c, &e, 0);
	assert_true(hk_resp(&c, 1)->closed);
	assert_int_equal(hk_resp(&c, 1)->code, NGHTTP2_INTERNAL_ERROR);
	assert_true(e.closed[0]);
	assert_int_equal(e.h2->stats.resets_out, 1);
	stop(&c, &e);
}

static void test_goaway_graceful(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_engine e;
	struct hk_raw r;
	struct hk_seen s = {0};
	static const char h204[] = "HTTP/1.1 204 No Content\r\n\r\n";

	hk_engine_start(&e, &cf);
	hk_raw_init(&r);
	hk_raw_preface(&r);
	hk_raw_get(&r, 1, "/", NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM);
	hk_raw_get(&r, 3, "/", NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM);
	hk_raw_send(&r, &e);
	assert_int_equal(e.n, 2);
	l7_h2_shutdown(e.h2, true);
	hk_scan(&e, &s);
	/* RFC 9113 §6.8: first 2^31-1, so requests in flight are not lost */
	assert_int_equal(s.goaway, 1);
	assert_int_equal(s.goaway_last[0], 0x7fffffff);
	assert_int_equal(s.goaway_code, NGHTTP2_NO_ERROR);
	assert_int_equal(l7_h2_next_timer(e.h2), e.now + cf.shutdown_grace_ms);
	/* a request that crossed the first GOAWAY is still taken */
	hk_raw_get(&r, 5, "/", NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM);
	hk_raw_send(&r, &e);
	assert_int_equal(e.n, 3);
	e.now += cf.shutdown_grace_ms;
	l7_h2_on_timer(e.h2);
	memset(&s, 0, sizeof(s));
	hk_scan(&e, &s);
	assert_int_equal(s.goaway, 1);
	assert_int_equal(s.goaway_last[0], 5);
	/* after the final GOAWAY new streams are ignored */
	hk_raw_get(&r, 7, "/", NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM);
	hk_raw_send(&r, &e);
	assert_int_equal(e.n, 3);
	assert_false(l7_h2_done(e.h2)); /* three streams still open */
	for (int i = 0; i < 3; i++)
		assert_int_equal(
		    l7_h2_respond_head(e.st[i], (const uint8_t *)h204, strlen(h204), true), 0);
	memset(&s, 0, sizeof(s));
	hk_scan(&e, &s);
	assert_int_equal(s.headers, 3);
	assert_true(l7_h2_done(e.h2));
	assert_int_equal(l7_h2_reason(e.h2), L7_H2_OK);
	hk_raw_free(&r);
	l7_h2_free(e.h2);
}

static void test_goaway_now_and_max_requests(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_engine e;
	struct hk_raw r;
	struct hk_seen s = {0};

	hk_engine_start(&e, &cf);
	hk_raw_init(&r);
	hk_raw_preface(&r);
	hk_raw_get(&r, 1, "/", NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM);
	hk_raw_send(&r, &e);
	l7_h2_shutdown(e.h2, false);
	hk_scan(&e, &s);
	assert_int_equal(s.goaway, 1);
	assert_int_equal(s.goaway_last[0], 1);
	/* a stream after the final GOAWAY is ignored */
	hk_raw_get(&r, 3, "/", NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM);
	hk_raw_send(&r, &e);
	assert_int_equal(e.n, 1);
	hk_raw_free(&r);
	l7_h2_free(e.h2);

	/* max_requests: after two streams the connection asks to go */
	cf.max_requests = 2;
	hk_engine_start(&e, &cf);
	hk_raw_init(&r);
	hk_raw_preface(&r);
	hk_raw_get(&r, 1, "/", NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM);
	hk_raw_get(&r, 3, "/", NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM);
	hk_raw_send(&r, &e);
	memset(&s, 0, sizeof(s));
	hk_scan(&e, &s);
	assert_int_equal(s.goaway, 1);
	assert_int_equal(s.goaway_last[0], 0x7fffffff);
	hk_raw_free(&r);
	l7_h2_free(e.h2);
}

/* A client that never opens its window: the stalled stream is reset after
 * stall_timeout; a closed connection window ends the connection. */
static void test_zero_window_stall(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_client c;
	struct hk_engine e;
	nghttp2_nv nva[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
			    HK_NV(":authority", "x.test"), HK_NV(":path", "/")};

	start(&c, &e, &cf, 0);
	/* SETTINGS_INITIAL_WINDOW_SIZE = 0 from the client */
	nghttp2_settings_entry iv = {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0};
	nghttp2_submit_settings(c.s, NGHTTP2_FLAG_NONE, &iv, 1);
	hk_request(&c, nva, 4, NULL, 0);
	hk_pump(&c, &e, 0);
	assert_int_equal(
	    l7_h2_respond_head(e.st[0], (const uint8_t *)ok_head, strlen(ok_head), false), 0);
	assert_int_equal(l7_h2_respond_body(e.st[0], "hello", 5, true), 5);
	hk_pump(&c, &e, 0);
	assert_int_equal(hk_resp(&c, 1)->blen, 0);
	assert_int_equal(l7_h2_next_timer(e.h2), e.now + 1000);
	e.now += 1000;
	l7_h2_on_timer(e.h2); /* starts the clock */
	assert_int_equal(l7_h2_next_timer(e.h2), e.now + cf.stall_timeout_ms);
	e.now += cf.stall_timeout_ms - 1;
	l7_h2_on_timer(e.h2);
	assert_false(e.closed[0]);
	e.now += 1;
	l7_h2_on_timer(e.h2);
	hk_pump(&c, &e, 0);
	assert_true(e.closed[0]);
	assert_int_equal(hk_resp(&c, 1)->code, NGHTTP2_CANCEL);
	assert_int_equal(e.h2->stats.stalled, 1);
	assert_int_equal(l7_h2_reason(e.h2), L7_H2_OK);
	stop(&c, &e);

	/* the connection window: a raw client that never sends WINDOW_UPDATE */
	struct hk_raw r;
	struct hk_seen s = {0};
	static uint8_t big[70000];
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n";

	cf.stream_buffer = 100000;
	hk_engine_start(&e, &cf);
	hk_raw_init(&r);
	hk_raw_preface(&r);
	hk_raw_get(&r, 1, "/", NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM);
	hk_raw_send(&r, &e);
	l7_h2_respond_head(e.st[0], (const uint8_t *)head, strlen(head), false);
	assert_int_equal(l7_h2_respond_body(e.st[0], big, sizeof(big), true), (ssize_t)sizeof(big));
	hk_scan(&e, &s);
	assert_int_equal(s.data_bytes, 65535);
	e.now += 1000;
	l7_h2_on_timer(e.h2);
	e.now += cf.stall_timeout_ms;
	l7_h2_on_timer(e.h2);
	memset(&s, 0, sizeof(s));
	hk_scan(&e, &s);
	assert_int_equal(s.goaway, 1);
	assert_int_equal(s.goaway_code, NGHTTP2_ENHANCE_YOUR_CALM);
	assert_int_equal(l7_h2_reason(e.h2), L7_H2_ERR_STALLED);
	assert_true(l7_h2_done(e.h2));
	hk_raw_free(&r);
	l7_h2_free(e.h2);
}

static void test_preface(void **state)
{
	struct l7_h2_conf cf = conf();
	struct hk_engine e;
	struct hk_seen s = {0};
	static const char http1[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	uint8_t *g = guard_dup(http1, strlen(http1));

	hk_engine_start(&e, &cf);
	assert_int_equal(l7_h2_recv(e.h2, g, strlen(http1)), -EPROTO);
	assert_int_equal(l7_h2_reason(e.h2), L7_H2_ERR_PREFACE);
	hk_scan(&e, &s);
	assert_int_equal(s.goaway, 0); /* not an HTTP/2 peer: no GOAWAY */
	assert_true(l7_h2_done(e.h2));
	assert_int_equal(l7_h2_recv(e.h2, g, 1), -EPROTO);
	guard_free(g, strlen(http1));
	l7_h2_free(e.h2);
}

static void test_sniff(void **state)
{
	static const char pre[] = L7_H2_PREFACE "\x00\x00\x00\x04";

	for (size_t n = 0; n < L7_H2_PREFACE_LEN; n++) {
		uint8_t *g = guard_dup(pre, n ? n : 1);

		assert_int_equal(l7_h2_sniff(g, n), -EAGAIN);
		guard_free(g, n ? n : 1);
	}
	assert_int_equal(l7_h2_sniff((const uint8_t *)pre, L7_H2_PREFACE_LEN), 1);
	assert_int_equal(l7_h2_sniff((const uint8_t *)pre, sizeof(pre) - 1), 1);
	assert_int_equal(l7_h2_sniff((const uint8_t *)"GET / HTTP/1.1\r\n", 16), 0);
	assert_int_equal(l7_h2_sniff((const uint8_t *)"PRI * HTTP/1.1", 14), 0);
	assert_int_equal(l7_h2_sniff((const uint8_t *)"P", 1), -EAGAIN);
	assert_int_equal(l7_h2_sniff((const uint8_t *)"X", 1), 0);
}

static int parse_conf(const char *text, struct l7_h2_conf *c, struct cfg_err *err)
{
	config_t cfg;
	int r;

	cfg_err_init(err);
	if (cfg_load_string("h2.conf", text, &cfg, err))
		return -1;
	r = l7_h2_conf_parse(config_lookup(&cfg, "http2"), c, err);
	config_destroy(&cfg);
	return r;
}

static void test_conf(void **state)
{
	struct l7_h2_conf c;
	struct cfg_err err;

	assert_int_equal(l7_h2_conf_parse(NULL, &c, &err), 0);
	assert_true(c.enabled);
	assert_false(c.h2c);
	assert_int_equal(c.max_concurrent_streams, 100);
	assert_int_equal(c.initial_window, 65535);
	assert_int_equal(c.max_header_list, 32768);
	assert_int_equal(c.reset_limit, 200);
	assert_int_equal(c.reset_window_ms, 10000);
	assert_int_equal(parse_conf("http2 = { h2c = true; max_concurrent_streams = 32;\n"
				    " initial_window = \"256k\"; connection_window = \"4m\";\n"
				    " max_header_list = \"16k\"; reset_limit = 50; reset_window = "
				    "\"1s\";\n stall_timeout = \"5s\"; max_requests = 1000; };",
				    &c, &err),
			 0);
	assert_true(c.h2c);
	assert_int_equal(c.max_concurrent_streams, 32);
	assert_int_equal(c.initial_window, 262144);
	assert_int_equal(c.connection_window, 4u << 20);
	assert_int_equal(c.max_header_list, 16384);
	assert_int_equal(c.reset_limit, 50);
	assert_int_equal(c.reset_window_ms, 1000);
	assert_int_equal(c.stall_timeout_ms, 5000);
	assert_int_equal(c.max_requests, 1000);
	assert_int_equal(parse_conf("http2 = { max_concurent_streams = 1; };", &c, &err), -EINVAL);
	assert_string_equal(err.msg, "h2.conf:1: http2.max_concurent_streams: unknown key (did you "
				     "mean 'max_concurrent_streams'?)");
	assert_int_equal(parse_conf("http2 = { max_frame_size = 1000; };", &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "http2.max_frame_size: must be between"));
	assert_int_equal(parse_conf("http2 = {\n initial_window = \"2m\"; };", &c, &err), -EINVAL);
	assert_string_equal(err.msg, "h2.conf:1: http2.connection_window: must be at least "
				     "initial_window (2097152)");
	for (int i = 0; i < L7_H2_ERR__COUNT; i++)
		assert_string_not_equal(l7_h2_err_name((enum l7_h2_err)i), "?");
	assert_string_equal(l7_h2_err_name(L7_H2_ERR__COUNT), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_view),
	    cmocka_unit_test(test_post_flow_control),
	    cmocka_unit_test(test_post_unknown_length),
	    cmocka_unit_test(test_concurrency_refused),
	    cmocka_unit_test(test_concurrency_first_flight),
	    cmocka_unit_test(test_oversized_headers),
	    cmocka_unit_test(test_too_many_fields),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_trailers_and_continue),
	    cmocka_unit_test(test_respond_errors),
	    cmocka_unit_test(test_respond_head_shapes),
	    cmocka_unit_test(test_response_backpressure),
	    cmocka_unit_test(test_client_reset),
	    cmocka_unit_test(test_engine_reset),
	    cmocka_unit_test(test_goaway_graceful),
	    cmocka_unit_test(test_goaway_now_and_max_requests),
	    cmocka_unit_test(test_zero_window_stall),
	    cmocka_unit_test(test_preface),
	    cmocka_unit_test(test_sniff),
	    cmocka_unit_test(test_conf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
