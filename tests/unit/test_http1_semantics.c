/* Tests for the HTTP/1.1 framing and smuggling rules: every request
 * smuggling shape (CL+TE, duplicate or invalid Content-Length, any
 * Transfer-Encoding but exactly "chunked", TE in HTTP/1.0, Host rules,
 * Connection abuse) with its exact reason, hop-by-hop marking, Upgrade,
 * Expect and keep-alive, and the authority validator. Each input is parsed
 * whole from a guard-page buffer, at every split and one byte at a time. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "../../l7/http1_parse.h"
#include "../../l7/http1_semantics.h"

static struct http1_request req, tmp;

/* Parses s every way; all ways must give the same rc and reason. */
static int parse(const char *s, size_t n, enum http1_err *err)
{
	static char *g;
	static size_t glen;
	enum http1_err e;
	size_t k, last = 0;
	int rc, r = -EAGAIN;

	if (g)
		guard_free(g, glen);
	g = guard_dup(s, n);
	glen = n;
	rc = http1_parse_request(g, n, 0, NULL, &req, err);
	for (k = 0; k < n; k++) {
		char *p = guard_dup(s, k);

		r = http1_parse_request(p, k, 0, NULL, &tmp, &e);
		guard_free(p, k);
		if (r != -EAGAIN) {
			assert_int_equal(r, rc);
			assert_int_equal(e, *err);
		}
	}
	for (k = 1; k <= n && r == -EAGAIN; k++) {
		r = http1_parse_request(g, k, last, NULL, &tmp, &e);
		last = k;
	}
	assert_int_equal(r, rc);
	assert_int_equal(e, *err);
	return rc;
}

#define REQ(fields) "POST /p HTTP/1.1\r\nHost: h\r\n" fields "\r\n"

struct sem_case {
	const char *in;
	size_t len;
	int rc; /* 0: accepted */
	enum http1_err err;
};

#define C(s, rc, e)                                                                                \
	{                                                                                          \
		s, sizeof(s) - 1, rc, e                                                            \
	}

static const struct sem_case smuggling[] = {
    /* RFC 9112 §6.3 item 3: CL with TE, in either order */
    C(REQ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), -EBADMSG, HTTP1_ERR_CL_AND_TE),
    C(REQ("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), -EBADMSG, HTTP1_ERR_CL_AND_TE),
    C(REQ("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n"), -EBADMSG, HTTP1_ERR_CL_AND_TE),
    /* RFC 9110 §8.6: differing Content-Length */
    C(REQ("Content-Length: 5\r\nContent-Length: 6\r\n"), -EBADMSG, HTTP1_ERR_CL_MISMATCH),
    C(REQ("Content-Length: 5, 6\r\n"), -EBADMSG, HTTP1_ERR_CL_MISMATCH),
    C(REQ("Content-Length: 5\r\nContent-Length: 5, 7\r\n"), -EBADMSG, HTTP1_ERR_CL_MISMATCH),
    C(REQ("Content-Length: 0\r\nContent-Length: 00\r\nContent-Length: 1\r\n"), -EBADMSG,
      HTTP1_ERR_CL_MISMATCH),
    /* invalid Content-Length */
    C(REQ("Content-Length: abc\r\n"), -EBADMSG, HTTP1_ERR_CL_INVALID),
    C(REQ("Content-Length: -1\r\n"), -EBADMSG, HTTP1_ERR_CL_INVALID),
    C(REQ("Content-Length: +1\r\n"), -EBADMSG, HTTP1_ERR_CL_INVALID),
    C(REQ("Content-Length:\r\n"), -EBADMSG, HTTP1_ERR_CL_INVALID),
    C(REQ("Content-Length: \t \r\n"), -EBADMSG, HTTP1_ERR_CL_INVALID),
    C(REQ("Content-Length: 1.0\r\n"), -EBADMSG, HTTP1_ERR_CL_INVALID),
    C(REQ("Content-Length: 0x10\r\n"), -EBADMSG, HTTP1_ERR_CL_INVALID),
    C(REQ("Content-Length: 1 2\r\n"), -EBADMSG, HTTP1_ERR_CL_INVALID),
    C(REQ("Content-Length: 5,\r\n"), -EBADMSG, HTTP1_ERR_CL_INVALID),
    C(REQ("Content-Length: ,5\r\n"), -EBADMSG, HTTP1_ERR_CL_INVALID),
    C(REQ("Content-Length: 5,,5\r\n"), -EBADMSG, HTTP1_ERR_CL_INVALID),
    C(REQ("Content-Length: \"5\"\r\n"), -EBADMSG, HTTP1_ERR_CL_INVALID),
    C(REQ("Content-Length: 9223372036854775808\r\n"), -EBADMSG, HTTP1_ERR_CL_OVERFLOW),
    C(REQ("Content-Length: 18446744073709551621\r\n"), -EBADMSG, HTTP1_ERR_CL_OVERFLOW),
    C(REQ("Content-Length: 99999999999999999999999999\r\n"), -EBADMSG, HTTP1_ERR_CL_OVERFLOW),
    /* Transfer-Encoding must be exactly one "chunked" */
    C(REQ("Transfer-Encoding: chunked, chunked\r\n"), -EBADMSG, HTTP1_ERR_TE_INVALID),
    C(REQ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), -EBADMSG,
      HTTP1_ERR_TE_INVALID),
    C(REQ("Transfer-Encoding: identity\r\n"), -EBADMSG, HTTP1_ERR_TE_INVALID),
    C(REQ("Transfer-Encoding: xchunked\r\n"), -EBADMSG, HTTP1_ERR_TE_INVALID),
    C(REQ("Transfer-Encoding: chunk\r\n"), -EBADMSG, HTTP1_ERR_TE_INVALID),
    C(REQ("Transfer-Encoding: chunked;foo\r\n"), -EBADMSG, HTTP1_ERR_TE_INVALID),
    C(REQ("Transfer-Encoding: chunked, gzip\r\n"), -EBADMSG, HTTP1_ERR_TE_INVALID),
    C(REQ("Transfer-Encoding: gzip\r\n"), -EBADMSG, HTTP1_ERR_TE_INVALID),
    C(REQ("Transfer-Encoding:\r\n"), -EBADMSG, HTTP1_ERR_TE_INVALID),
    C(REQ("Transfer-Encoding: chunked,\r\n"), -EBADMSG, HTTP1_ERR_TE_INVALID),
    C(REQ("Transfer-Encoding: \"chunked\"\r\n"), -EBADMSG, HTTP1_ERR_TE_INVALID),
    C(REQ("Transfer-Encoding: gzip;q=1, chunked\r\n"), -EBADMSG, HTTP1_ERR_TE_INVALID),
    C(REQ("Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n"), -EBADMSG,
      HTTP1_ERR_TE_INVALID),
    /* RFC 9112 §6.1: a coding we understand but do not decode: 501 */
    C(REQ("Transfer-Encoding: gzip, chunked\r\n"), -EBADMSG, HTTP1_ERR_TE_UNSUPPORTED),
    C(REQ("Transfer-Encoding: deflate , chunked\r\n"), -EBADMSG, HTTP1_ERR_TE_UNSUPPORTED),
    C(REQ("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"), -EBADMSG,
      HTTP1_ERR_TE_UNSUPPORTED),
    /* TE in HTTP/1.0 */
    C("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", -EBADMSG, HTTP1_ERR_TE_HTTP10),
    C("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", -EBADMSG,
      HTTP1_ERR_TE_HTTP10),
    /* the shapes that hide a framing field from one of two parsers */
    C(REQ("Transfer-Encoding : chunked\r\n"), -EBADMSG, HTTP1_ERR_WS_BEFORE_COLON),
    C(REQ("Content-Length\t: 5\r\n"), -EBADMSG, HTTP1_ERR_WS_BEFORE_COLON),
    C(REQ("Transfer-Encoding: gzip\r\n chunked\r\n"), -EBADMSG, HTTP1_ERR_OBS_FOLD),
    C(REQ("X: y\r\n Transfer-Encoding: chunked\r\n"), -EBADMSG, HTTP1_ERR_OBS_FOLD),
    C("POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: h\r\n\r\n", -EBADMSG,
      HTTP1_ERR_LEADING_WS),
    C(REQ("Transfer-Encoding: chunked\0\r\n"), -EBADMSG, HTTP1_ERR_FIELD_VALUE),
    C(REQ("Transfer-Encoding:\x0b"
	  "chunked\r\n"),
      -EBADMSG, HTTP1_ERR_FIELD_VALUE),
    C(REQ("Transfer-Encoding:\x0c"
	  "chunked\r\n"),
      -EBADMSG, HTTP1_ERR_FIELD_VALUE),
    C(REQ("Transfer\x01"
	  "Encoding: chunked\r\n"),
      -EBADMSG, HTTP1_ERR_FIELD_NAME),
    C(REQ("Content-Length: 5\rX: 1\r\n"), -EBADMSG, HTTP1_ERR_BARE_CR),
    C(REQ("Content-Length: 5\nTransfer-Encoding: chunked\r\n"), -EBADMSG, HTTP1_ERR_BARE_LF),
    C("PO ST / HTTP/1.1\r\nHost: h\r\n\r\n", -EBADMSG, HTTP1_ERR_REQUEST_LINE),
    C("P\"OST / HTTP/1.1\r\nHost: h\r\n\r\n", -EBADMSG, HTTP1_ERR_METHOD),
    C("PO\x01ST / HTTP/1.1\r\nHost: h\r\n\r\n", -EBADMSG, HTTP1_ERR_METHOD),
    /* Host, RFC 9112 §3.2 */
    C("GET / HTTP/1.1\r\n\r\n", -EBADMSG, HTTP1_ERR_HOST_MISSING),
    C("GET http://h/ HTTP/1.1\r\n\r\n", -EBADMSG, HTTP1_ERR_HOST_MISSING),
    C(REQ("Host: h\r\n"), -EBADMSG, HTTP1_ERR_HOST_DUPLICATE),
    C(REQ("HOST: other\r\n"), -EBADMSG, HTTP1_ERR_HOST_DUPLICATE),
    C("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", -EBADMSG, HTTP1_ERR_HOST_DUPLICATE),
    C("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", -EBADMSG, HTTP1_ERR_HOST_INVALID),
    C("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", -EBADMSG, HTTP1_ERR_HOST_INVALID),
    C("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", -EBADMSG, HTTP1_ERR_HOST_INVALID),
    C("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", -EBADMSG, HTTP1_ERR_HOST_INVALID),
    C("GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", -EBADMSG, HTTP1_ERR_HOST_INVALID),
    C("GET / HTTP/1.1\r\nHost: a:70000\r\n\r\n", -EBADMSG, HTTP1_ERR_HOST_INVALID),
    C("GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", -EBADMSG, HTTP1_ERR_HOST_INVALID),
    C("GET / HTTP/1.1\r\nHost: a\xc3\xa9\r\n\r\n", -EBADMSG, HTTP1_ERR_HOST_INVALID),
    C("GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", -EBADMSG, HTTP1_ERR_HOST_INVALID),
    /* Connection naming framing fields, bad tokens, too many options */
    C(REQ("Connection: close, Content-Length\r\n"), -EBADMSG, HTTP1_ERR_CONN_FRAMING),
    C(REQ("Connection: transfer-encoding\r\n"), -EBADMSG, HTTP1_ERR_CONN_FRAMING),
    C(REQ("Connection: Host\r\n"), -EBADMSG, HTTP1_ERR_CONN_FRAMING),
    C(REQ("Connection: a b\r\n"), -EBADMSG, HTTP1_ERR_CONN_TOKEN),
    C(REQ("Connection: a;b\r\n"), -EBADMSG, HTTP1_ERR_CONN_TOKEN),
    C(REQ("Connection: \"close\"\r\n"), -EBADMSG, HTTP1_ERR_CONN_TOKEN),
    C(REQ("Connection: a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q\r\n"), -E2BIG, HTTP1_ERR_CONN_OPTIONS),
    /* accepted shapes */
    C(REQ("Content-Length: 5\r\nContent-Length: 5\r\n"), 0, HTTP1_OK),
    C(REQ("Content-Length: 5, 5\r\n"), 0, HTTP1_OK),
    C(REQ("Content-Length: 5 ,5\t,\t5\r\n"), 0, HTTP1_OK),
    C(REQ("Content-Length: 9223372036854775807\r\n"), 0, HTTP1_OK),
    C(REQ("Transfer-Encoding: CHUNKED\t\r\n"), 0, HTTP1_OK),
    C(REQ("Connection: a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p, close, keep-alive, upgrade\r\n"), 0,
      HTTP1_OK),
    C(REQ("Connection: , ,close ,\r\n"), 0, HTTP1_OK),
    C("GET / HTTP/1.0\r\n\r\n", 0, HTTP1_OK),
    C("GET / HTTP/1.1\r\nHost: a.b-c_d~e!$&'()*+,;=%41:8080\r\n\r\n", 0, HTTP1_OK),
    C("GET / HTTP/1.1\r\nHost: 10.0.0.1:\r\n\r\n", 0, HTTP1_OK),
    C("GET / HTTP/1.1\r\nHost: [fe80::1:2.3.4.5]\r\n\r\n", 0, HTTP1_OK),
};

static void test_smuggling_shapes(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(smuggling) / sizeof(smuggling[0]); i++) {
		const struct sem_case *c = &smuggling[i];
		size_t n = c->len;
		enum http1_err err;
		int rc;

		print_message("case %zu: want %s\n", i, http1_err_name(c->err));
		rc = parse(c->in, n, &err);
		assert_string_equal(http1_err_name(err), http1_err_name(c->err));
		if (c->rc)
			assert_int_equal(rc, c->rc);
		else
			assert_int_equal(rc, (int)n);
		if (c->rc)
			assert_int_equal(http1_err_status(err),
					 c->err == HTTP1_ERR_TE_UNSUPPORTED ? 501 : 400);
	}
}

static void test_merged_content_length(void **state)
{
	static const char in[] = REQ("Content-Length: 0012, 12\r\nContent-Length: 12\r\n");
	enum http1_err err;

	assert_int_equal(parse(in, sizeof(in) - 1, &err), (int)sizeof(in) - 1);
	assert_true(req.h.has_content_length);
	assert_int_equal(req.h.content_length, 12);
	assert_int_equal(req.h.body, HTTP1_BODY_LENGTH);
	/* both fields are framing: a proxy re-creates one from content_length */
	assert_int_equal(req.h.headers[1].flags & HTTP1_HF_FRAMING, HTTP1_HF_FRAMING);
	assert_int_equal(req.h.headers[2].flags & HTTP1_HF_FRAMING, HTTP1_HF_FRAMING);
}

static void test_hop_by_hop_marking(void **state)
{
	static const char in[] = REQ("Connection: X-Secret, close\r\nX-Secret: 1\r\nx-secret: 2\r\n"
				     "X-Public: 3\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"
				     "Proxy-Connection: keep-alive\r\nUpgrade: h2c\r\n"
				     "Transfer-Encoding: chunked\r\nX-Secret-2: 4\r\n");
	static const bool hop[] = {false, true, true, true, false, true,
				   true,  true, true, true, false};
	enum http1_err err;
	unsigned i;

	assert_int_equal(parse(in, sizeof(in) - 1, &err), (int)sizeof(in) - 1);
	assert_int_equal(req.h.nheaders, 11);
	for (i = 0; i < req.h.nheaders; i++) {
		print_message("field %u: %.*s\n", i, (int)req.h.headers[i].name.len,
			      req.h.headers[i].name.ptr);
		assert_int_equal(!!(req.h.headers[i].flags & HTTP1_HF_HOP_BY_HOP), hop[i]);
	}
	assert_int_equal(req.h.conn, HTTP1_CONN_CLOSE | HTTP1_CONN_OTHER);
	assert_false(req.h.keep_alive);
	assert_false(req.h.upgrade); /* Upgrade without the "upgrade" option */
	assert_int_equal(req.h.headers[9].flags, HTTP1_HF_FRAMING | HTTP1_HF_HOP_BY_HOP);
	assert_int_equal(req.h.headers[9].id, HTTP1_H_TRANSFER_ENCODING);
}

static void test_upgrade_and_expect(void **state)
{
	static const char ws[] = "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
				 "Connection: Upgrade\r\n\r\n";
	static const char ws10[] = "GET /chat HTTP/1.0\r\nUpgrade: websocket\r\n"
				   "Connection: Upgrade\r\n\r\n";
	static const char cont[] = REQ("Expect: 100-Continue\r\nContent-Length: 3\r\n");
	static const char other[] = REQ("Expect: something-else\r\n");
	static const char cont10[] = "POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n";
	static const char list[] = REQ("Expect: , 100-continue ,\r\nExpect: x=\"1, 2\"\r\n");
	static const char only[] = REQ("Expect: 100-continue, 100-CONTINUE,,\r\n");
	enum http1_err err;

	assert_true(parse(ws, sizeof(ws) - 1, &err) > 0);
	assert_true(req.h.upgrade);
	assert_true(req.h.keep_alive);
	assert_int_equal(req.h.conn, HTTP1_CONN_UPGRADE);
	assert_true(parse(ws10, sizeof(ws10) - 1, &err) > 0);
	assert_false(req.h.upgrade); /* RFC 9110 §7.8: ignored in HTTP/1.0 */
	assert_true(parse(cont, sizeof(cont) - 1, &err) > 0);
	assert_true(req.h.expect_continue);
	assert_false(req.h.expect_other);
	assert_true(parse(other, sizeof(other) - 1, &err) > 0);
	assert_false(req.h.expect_continue);
	assert_true(req.h.expect_other);
	assert_true(parse(list, sizeof(list) - 1, &err) > 0);
	assert_true(req.h.expect_continue);
	assert_true(req.h.expect_other);
	assert_true(parse(only, sizeof(only) - 1, &err) > 0);
	assert_true(req.h.expect_continue);
	assert_false(req.h.expect_other);
	assert_true(parse(cont10, sizeof(cont10) - 1, &err) > 0);
	assert_false(req.h.expect_continue); /* RFC 9110 §10.1.1 */
	assert_false(req.h.expect_other);
}

static void test_keep_alive_rules(void **state)
{
	static const struct {
		const char *in;
		bool ka;
	} t[] = {
	    {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true},
	    {"GET / HTTP/1.1\r\nHost: h\r\nConnection: CLOSE\r\n\r\n", false},
	    {"GET / HTTP/1.1\r\nHost: h\r\nConnection: x, close\r\n\r\n", false},
	    {"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", true},
	    {"GET / HTTP/1.0\r\n\r\n", false},
	    {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
	    {"GET / HTTP/1.0\r\nConnection: x\r\nConnection: Keep-Alive\r\n\r\n", true},
	    {"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false},
	    {"GET / HTTP/1.0\r\nProxy-Connection: keep-alive\r\n\r\n", false},
	    {"GET / HTTP/1.0\r\nKeep-Alive: timeout=5\r\n\r\n", false},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum http1_err err;

		assert_true(parse(t[i].in, strlen(t[i].in), &err) > 0);
		assert_int_equal(req.h.keep_alive, t[i].ka);
	}
}

/* RFC 9112 §3.2.2: the authority of an absolute-form target wins over Host. */
static void test_absolute_form_host(void **state)
{
	static const char in[] = "GET http://target.example:81/x HTTP/1.1\r\nHost: evil\r\n\r\n";
	enum http1_err err;

	assert_true(parse(in, sizeof(in) - 1, &err) > 0);
	assert_int_equal(req.host.len, strlen("target.example:81"));
	assert_memory_equal(req.host.ptr, "target.example:81", req.host.len);
	assert_int_equal(req.h.n_host, 1);
}

static void test_authority_validator(void **state)
{
	static const struct {
		const char *s;
		bool ok, ok_port_required;
	} t[] = {
	    {"", true, false},	       {"a", true, false},	   {"a:1", true, true},
	    {"a:", true, false},       {":1", true, false},	   {"a:65535", true, true},
	    {"a:65536", false, false}, {"a:000080", false, false}, {"[::1]", true, false},
	    {"[::1]:8", true, true},   {"[]", false, false},	   {"[::1", false, false},
	    {"[v1.x]", false, false},  {"[::1]x", false, false},   {"a b", false, false},
	    {"a%2Fb", true, false},    {"a%2", false, false},	   {"a@b", false, false},
	    {"a/b", false, false},     {"a?b", false, false},	   {"1.2.3.4:5", true, true},
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		print_message("authority '%s'\n", t[i].s);
		assert_int_equal(http1_is_valid_authority(t[i].s, strlen(t[i].s), false), t[i].ok);
		assert_int_equal(http1_is_valid_authority(t[i].s, strlen(t[i].s), true),
				 t[i].ok_port_required);
	}
}

static void test_lookup_and_token_eq(void **state)
{
	assert_int_equal(http1_hdr_lookup("Content-Length", 14), HTTP1_H_CONTENT_LENGTH);
	assert_int_equal(http1_hdr_lookup("TRANSFER-ENCODING", 17), HTTP1_H_TRANSFER_ENCODING);
	assert_int_equal(http1_hdr_lookup("host", 4), HTTP1_H_HOST);
	assert_int_equal(http1_hdr_lookup("hosts", 5), HTTP1_H_OTHER);
	assert_int_equal(http1_hdr_lookup("Content-Lengt", 13), HTTP1_H_OTHER);
	assert_int_equal(http1_hdr_lookup("te", 2), HTTP1_H_TE);
	assert_int_equal(http1_hdr_lookup("Keep-Alive", 10), HTTP1_H_KEEP_ALIVE);
	assert_int_equal(http1_hdr_lookup("Proxy-Connection", 16), HTTP1_H_PROXY_CONNECTION);
	assert_int_equal(http1_hdr_lookup("Trailer", 7), HTTP1_H_TRAILER);
	assert_true(http1_token_eq("ChUnKeD", 7, "chunked"));
	assert_false(http1_token_eq("chunke", 6, "chunked"));
	assert_false(http1_token_eq("chunkedx", 8, "chunked"));
	assert_false(http1_token_eq("chunk\xc5\x84", 7, "chunked"));
	assert_true(http1_token_eq("", 0, ""));
}

/* Response framing: CL and TE together, TE in 1.0, HEAD and status rules. */
static void test_response_framing(void **state)
{
	static struct http1_response r;
	static const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	static const char both[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
				   "Content-Length: 3\r\n\r\n";
	static const char te10[] = "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	static const char close[] = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
	enum http1_err err;
	bool ka = true;

	assert_int_equal(http1_parse_response(chunked, sizeof(chunked) - 1, 0, NULL, &r, &err),
			 (int)sizeof(chunked) - 1);
	assert_int_equal(http1_response_body(&r, HTTP1_M_GET, &ka), HTTP1_BODY_CHUNKED);
	assert_true(ka);
	assert_int_equal(http1_response_body(&r, HTTP1_M_HEAD, NULL), HTTP1_BODY_NONE);
	assert_int_equal(http1_response_body(&r, HTTP1_M_CONNECT, NULL), HTTP1_BODY_TUNNEL);
	assert_int_equal(http1_parse_response(both, sizeof(both) - 1, 0, NULL, &r, &err), -EBADMSG);
	assert_int_equal(err, HTTP1_ERR_CL_AND_TE);
	assert_int_equal(http1_parse_response(te10, sizeof(te10) - 1, 0, NULL, &r, &err), -EBADMSG);
	assert_int_equal(err, HTTP1_ERR_TE_HTTP10);
	assert_int_equal(http1_parse_response(close, sizeof(close) - 1, 0, NULL, &r, &err),
			 (int)sizeof(close) - 1);
	assert_int_equal(http1_response_body(&r, HTTP1_M_GET, &ka), HTTP1_BODY_NONE);
	assert_false(ka);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_smuggling_shapes),
	    cmocka_unit_test(test_merged_content_length),
	    cmocka_unit_test(test_hop_by_hop_marking),
	    cmocka_unit_test(test_upgrade_and_expect),
	    cmocka_unit_test(test_keep_alive_rules),
	    cmocka_unit_test(test_absolute_form_host),
	    cmocka_unit_test(test_authority_validator),
	    cmocka_unit_test(test_lookup_and_token_eq),
	    cmocka_unit_test(test_response_framing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
