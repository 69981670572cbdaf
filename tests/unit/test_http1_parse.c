/* Tests for the HTTP/1.x head parser: valid requests and responses, every
 * syntax refusal with its exact reason, limits at and one past the limit,
 * pipelining. Every input is parsed whole from a guard-page buffer, split at
 * every byte boundary (fresh and resumed with last_len) and fed one byte at a
 * time; all runs must agree. STRATA_BENCH=1 runs the benchmark instead. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "guard.h"
#include "../../l7/http1_parse.h"
#include "../../l7/http1_semantics.h"

#define L(s) s, sizeof(s) - 1

static struct http1_request req, tmp_req;
static struct http1_response resp, tmp_resp;

/* Offsets of a view into base, or "-" when empty. */
static int put_view(char *o, size_t cap, const char *tag, struct http1_view v, const char *base)
{
	if (!v.len)
		return snprintf(o, cap, " %s=-", tag);
	return snprintf(o, cap, " %s=%td+%zu", tag, v.ptr - base, v.len);
}

static void describe_head(char *o, size_t cap, const struct http1_head *h, const char *base)
{
	size_t n = strlen(o);
	unsigned i;

	n += (size_t)snprintf(
	    o + n, cap - n, " v=%u body=%u conn=%u ka=%d cl=%llu ch=%d up=%d nh=%u", h->minor,
	    h->body, h->conn, h->keep_alive, (unsigned long long)h->content_length, h->chunked,
	    h->upgrade, h->nheaders);
	for (i = 0; i < h->nheaders && n < cap; i++) {
		const struct http1_header *f = &h->headers[i];

		n += (size_t)put_view(o + n, cap - n, "n", f->name, base);
		n += (size_t)put_view(o + n, cap - n, "v", f->value, base);
		n += (size_t)snprintf(o + n, cap - n, "/%u/%u", f->id, f->flags);
	}
}

/* Everything a parse produced, as text, with views as offsets into base. */
static void describe_req(char *o, size_t cap, int rc, enum http1_err e,
			 const struct http1_request *r, const char *base)
{
	int n = snprintf(o, cap, "rc=%d err=%s", rc, http1_err_name(e));

	if (rc <= 0)
		return;
	n += put_view(o + n, cap - (size_t)n, "m", r->method, base);
	n += put_view(o + n, cap - (size_t)n, "t", r->target, base);
	n += put_view(o + n, cap - (size_t)n, "s", r->scheme, base);
	n += put_view(o + n, cap - (size_t)n, "a", r->authority, base);
	n += put_view(o + n, cap - (size_t)n, "p", r->path, base);
	n += put_view(o + n, cap - (size_t)n, "q", r->query, base);
	n += put_view(o + n, cap - (size_t)n, "h", r->host, base);
	snprintf(o + n, cap - (size_t)n, " mid=%u form=%u", r->method_id, r->form);
	describe_head(o, cap, &r->h, base);
}

static void describe_resp(char *o, size_t cap, int rc, enum http1_err e,
			  const struct http1_response *r, const char *base)
{
	int n = snprintf(o, cap, "rc=%d err=%s", rc, http1_err_name(e));

	if (rc <= 0)
		return;
	n += snprintf(o + n, cap - (size_t)n, " st=%u", r->status);
	put_view(o + n, cap - (size_t)n, "r", r->reason, base);
	describe_head(o, cap, &r->h, base);
}

typedef int (*parse_fn)(const char *buf, size_t len, size_t last_len, const struct http1_limits *,
			void *out, enum http1_err *err);
typedef void (*describe_fn)(char *o, size_t cap, int rc, enum http1_err e, const void *r,
			    const char *base);

static int p_req(const char *b, size_t n, size_t last, const struct http1_limits *l, void *out,
		 enum http1_err *e)
{
	return http1_parse_request(b, n, last, l, out, e);
}

static int p_resp(const char *b, size_t n, size_t last, const struct http1_limits *l, void *out,
		  enum http1_err *e)
{
	return http1_parse_response(b, n, last, l, out, e);
}

static void d_req(char *o, size_t cap, int rc, enum http1_err e, const void *r, const char *base)
{
	describe_req(o, cap, rc, e, r, base);
}

static void d_resp(char *o, size_t cap, int rc, enum http1_err e, const void *r, const char *base)
{
	describe_resp(o, cap, rc, e, r, base);
}

#define DESC_CAP 16384
static char ref_desc[DESC_CAP], got_desc[DESC_CAP];

/* A prefix of k bytes alone must need more, or already give the verdict. */
static void check_prefix(parse_fn parse, describe_fn desc, const char *s, size_t k,
			 const struct http1_limits *lim, void *tmp, int rc, enum http1_err err)
{
	char *p = guard_dup(s, k);
	enum http1_err e;
	int r = parse(p, k, 0, lim, tmp, &e);

	if (rc > 0 && (size_t)rc <= k) {
		desc(got_desc, DESC_CAP, r, e, tmp, p);
		assert_string_equal(got_desc, ref_desc);
	} else if (r != -EAGAIN) {
		assert_int_equal(r, rc);
		assert_int_equal(e, err);
	}
	guard_free(p, k);
}

/* Parse s[0..n) every way; returns the whole-input rc; *out holds the whole
 * parse with views into a guard buffer that stays mapped until the next call. */
static int parse_every_way(parse_fn parse, describe_fn desc, const char *s, size_t n,
			   const struct http1_limits *lim, void *out, void *tmp,
			   enum http1_err *err)
{
	static char *g;
	static size_t glen;
	size_t k, step = n <= 2048 ? 1 : n / 512;
	size_t last = 0;
	enum http1_err e;
	int rc, r = -EAGAIN;

	if (g)
		guard_free(g, glen);
	g = guard_dup(s, n);
	glen = n;
	rc = parse(g, n, 0, lim, out, err);
	desc(ref_desc, DESC_CAP, rc, *err, out, g);
	for (k = 0; k < n; k += step) {
		check_prefix(parse, desc, s, k, lim, tmp, rc, *err);
		/* resume on the same buffer: k bytes, then all of them */
		if (parse(g, k, 0, lim, tmp, &e) != -EAGAIN)
			continue;
		r = parse(g, n, k, lim, tmp, &e);
		desc(got_desc, DESC_CAP, r, e, tmp, g);
		assert_string_equal(got_desc, ref_desc);
	}
	for (k = 1; k <= n; k++) {
		r = parse(g, k, last, lim, tmp, &e);
		if (r != -EAGAIN)
			break;
		last = k;
	}
	desc(got_desc, DESC_CAP, r, e, tmp, g);
	if (rc != -EAGAIN)
		assert_string_equal(got_desc, ref_desc);
	return rc;
}

static int req_every_way(const char *s, size_t n, const struct http1_limits *lim,
			 enum http1_err *err)
{
	return parse_every_way(p_req, d_req, s, n, lim, &req, &tmp_req, err);
}

static int resp_every_way(const char *s, size_t n, const struct http1_limits *lim,
			  enum http1_err *err)
{
	return parse_every_way(p_resp, d_resp, s, n, lim, &resp, &tmp_resp, err);
}

static void assert_view(struct http1_view v, const char *want)
{
	char got[512];

	assert_true(v.len < sizeof(got));
	memcpy(got, v.ptr ? v.ptr : "", v.len);
	got[v.len] = '\0';
	assert_string_equal(got, want);
}

/* Length of the head in s: past leading empty lines, up to CRLFCRLF. */
static int head_len(const char *s)
{
	const char *p = s;

	while (p[0] == '\r' && p[1] == '\n')
		p += 2;
	return (int)(strstr(p, "\r\n\r\n") + 4 - s);
}

/* The first bytes of s with CR, LF and other unprintables escaped. */
static const char *show(const char *s, size_t n)
{
	static char out[256];
	size_t i, o = 0;

	for (i = 0; i < n && o < 64; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
	}
	out[o] = '\0';
	return out;
}

/* --- valid requests ------------------------------------------------------- */

struct valid_req {
	const char *in;
	enum http1_method method;
	enum http1_target_form form;
	const char *path, *query, *host;
	unsigned minor;
	enum http1_body body;
	uint64_t cl;
	bool keep_alive;
	unsigned nheaders;
};

static const struct valid_req valid_reqs[] = {
    {"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", HTTP1_M_GET, HTTP1_FORM_ORIGIN, "/", "",
     "example.com", 1, HTTP1_BODY_NONE, 0, true, 1},
    {"GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: h\r\nUser-Agent: t/1.0\r\nAccept: */*\r\n\r\n",
     HTTP1_M_GET, HTTP1_FORM_ORIGIN, "/a/b", "x=1&y=%20", "h", 1, HTTP1_BODY_NONE, 0, true, 3},
    {"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", HTTP1_M_POST,
     HTTP1_FORM_ORIGIN, "/up", "", "h", 1, HTTP1_BODY_LENGTH, 5, true, 2},
    {"PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", HTTP1_M_PUT,
     HTTP1_FORM_ORIGIN, "/x", "", "h", 1, HTTP1_BODY_CHUNKED, 0, true, 2},
    {"PATCH /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ChunKed\r\n\r\n", HTTP1_M_PATCH,
     HTTP1_FORM_ORIGIN, "/x", "", "h", 1, HTTP1_BODY_CHUNKED, 0, true, 2},
    {"GET / HTTP/1.0\r\n\r\n", HTTP1_M_GET, HTTP1_FORM_ORIGIN, "/", "", "", 0, HTTP1_BODY_NONE, 0,
     false, 0},
    {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", HTTP1_M_GET, HTTP1_FORM_ORIGIN, "/", "",
     "", 0, HTTP1_BODY_NONE, 0, true, 1},
    {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", HTTP1_M_GET, HTTP1_FORM_ORIGIN, "/",
     "", "", 0, HTTP1_BODY_NONE, 0, false, 1},
    {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", HTTP1_M_GET, HTTP1_FORM_ORIGIN, "/",
     "", "h", 1, HTTP1_BODY_NONE, 0, false, 2},
    {"GET http://Example.COM:8080/p/q?x=1 HTTP/1.1\r\nHost: other\r\n\r\n", HTTP1_M_GET,
     HTTP1_FORM_ABSOLUTE, "/p/q", "x=1", "Example.COM:8080", 1, HTTP1_BODY_NONE, 0, true, 1},
    {"HEAD HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_M_HEAD, HTTP1_FORM_ABSOLUTE, "", "", "h",
     1, HTTP1_BODY_NONE, 0, true, 1},
    {"GET http://h?q HTTP/1.0\r\n\r\n", HTTP1_M_GET, HTTP1_FORM_ABSOLUTE, "", "q", "h", 0,
     HTTP1_BODY_NONE, 0, false, 0},
    {"CONNECT db.example:5432 HTTP/1.1\r\nHost: db.example:5432\r\n\r\n", HTTP1_M_CONNECT,
     HTTP1_FORM_AUTHORITY, "", "", "db.example:5432", 1, HTTP1_BODY_NONE, 0, true, 1},
    {"CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n", HTTP1_M_CONNECT,
     HTTP1_FORM_AUTHORITY, "", "", "[2001:db8::1]:443", 1, HTTP1_BODY_NONE, 0, true, 1},
    {"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_M_OPTIONS, HTTP1_FORM_ASTERISK, "", "", "h", 1,
     HTTP1_BODY_NONE, 0, true, 1},
    {"\r\n\r\n\r\n\r\nDELETE /r HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_M_DELETE, HTTP1_FORM_ORIGIN,
     "/r", "", "h", 1, HTTP1_BODY_NONE, 0, true, 1},
    {"PROPFIND /d HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", HTTP1_M_OTHER, HTTP1_FORM_ORIGIN, "/d", "",
     "[::1]:8080", 1, HTTP1_BODY_NONE, 0, true, 1},
    {"TRACE //a//b/ HTTP/1.1\r\nhOsT: h\r\nContent-Length: 007\r\n\r\n", HTTP1_M_TRACE,
     HTTP1_FORM_ORIGIN, "//a//b/", "", "h", 1, HTTP1_BODY_LENGTH, 7, true, 2},
    {"GET /?a=b?c=/d:@!$&'()*+,;=~._- HTTP/1.1\r\nHost: h\r\n\r\n", HTTP1_M_GET, HTTP1_FORM_ORIGIN,
     "/", "a=b?c=/d:@!$&'()*+,;=~._-", "h", 1, HTTP1_BODY_NONE, 0, true, 1},
    {"GET / HTTP/1.1\r\nHost:\r\n\r\n", HTTP1_M_GET, HTTP1_FORM_ORIGIN, "/", "", "", 1,
     HTTP1_BODY_NONE, 0, true, 1},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", HTTP1_M_GET, HTTP1_FORM_ORIGIN, "/",
     "", "h", 1, HTTP1_BODY_LENGTH, 0, true, 2},
};

static void test_valid_requests(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(valid_reqs) / sizeof(valid_reqs[0]); i++) {
		const struct valid_req *v = &valid_reqs[i];
		size_t n = strlen(v->in);
		enum http1_err err;
		int rc;

		print_message("valid[%zu]: %s\n", i, show(v->in, n));
		rc = req_every_way(v->in, n, NULL, &err);
		assert_int_equal(err, HTTP1_OK);
		assert_int_equal(rc, head_len(v->in));
		assert_int_equal(req.method_id, v->method);
		assert_int_equal(req.form, v->form);
		assert_view(req.path, v->path);
		assert_view(req.query, v->query);
		assert_view(req.host, v->host);
		assert_int_equal(req.h.minor, v->minor);
		assert_int_equal(req.h.body, v->body);
		assert_int_equal(req.h.content_length, v->cl);
		assert_int_equal(req.h.keep_alive, v->keep_alive);
		assert_int_equal(req.h.nheaders, v->nheaders);
	}
}

static void test_views_and_ows(void **state)
{
	static const char in[] = "GET http://h:1/x HTTP/1.1\r\nHost: h:1\r\nX-A:   a  b \t \r\n"
				 "X-Empty:\r\nX-Ws: \t \r\nX-Obs: caf\xc3\xa9 \xff\r\n\r\n";
	enum http1_err err;

	assert_int_equal(req_every_way(L(in), NULL, &err), (int)sizeof(in) - 1);
	assert_view(req.method, "GET");
	assert_view(req.target, "http://h:1/x");
	assert_view(req.scheme, "http");
	assert_view(req.authority, "h:1");
	assert_int_equal(req.h.nheaders, 5);
	assert_view(req.h.headers[0].name, "Host");
	assert_int_equal(req.h.headers[0].id, HTTP1_H_HOST);
	assert_view(req.h.headers[1].name, "X-A");
	assert_view(req.h.headers[1].value, "a  b");
	assert_view(req.h.headers[2].value, "");
	assert_view(req.h.headers[3].value, "");
	assert_view(req.h.headers[4].value, "caf\xc3\xa9 \xff");
	assert_int_equal(req.h.headers[4].id, HTTP1_H_OTHER);
}

static void test_method_names(void **state)
{
	static const char *const m[] = {"GET",	   "HEAD",    "POST",  "PUT",  "DELETE",
					"CONNECT", "OPTIONS", "TRACE", "PATCH"};
	char in[128];
	size_t i;

	for (i = 0; i < 9; i++) {
		enum http1_err err;
		const char *t = i == 5 ? "h:1" : "/";
		int n = snprintf(in, sizeof(in), "%s %s HTTP/1.1\r\nHost: h:1\r\n\r\n", m[i], t);

		assert_int_equal(http1_parse_request(in, (size_t)n, 0, NULL, &req, &err), n);
		assert_int_equal(req.method_id, HTTP1_M_GET + i);
		assert_string_equal(http1_method_name(req.method_id), m[i]);
	}
	/* methods are case-sensitive (RFC 9110 §9.1): "get" is some other token */
	assert_true(http1_parse_request(L("get / HTTP/1.1\r\nHost: h\r\n\r\n"), 0, NULL, &req,
					&(enum http1_err){0}) > 0);
	assert_int_equal(req.method_id, HTTP1_M_OTHER);
	assert_string_equal(http1_method_name(HTTP1_M_OTHER), "");
}

/* --- refusals ------------------------------------------------------------- */

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
#define H "Host: h\r\n"

static const struct bad_case bad_reqs[] = {
    /* start line */
    BAD("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_EMPTY_LINES),
    BAD("\nGET / HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_BARE_LF),
    BAD("\rGET / HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_BARE_CR),
    BAD("G@T / HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_METHOD),
    BAD("GE(T / HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_METHOD),
    BAD(" GET / HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_METHOD),
    BAD("G\x80T / HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_METHOD),
    BAD("GET\t/ HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_METHOD),
    BAD("GET\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_REQUEST_LINE),
    BAD("GET\rx", -EBADMSG, HTTP1_ERR_BARE_CR),
    BAD("GET  / HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_REQUEST_LINE),
    BAD("GET /  HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_REQUEST_LINE),
    BAD("GET / HTTP/1.1 \r\n" H "\r\n", -EBADMSG, HTTP1_ERR_REQUEST_LINE),
    BAD("GET /\r\n\r\n", -EBADMSG, HTTP1_ERR_REQUEST_LINE),
    BAD("GET /a b HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_REQUEST_LINE),
    BAD("GET /a\rb HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_BARE_CR),
    BAD("GET /a\nb HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_BARE_LF),
    BAD("GET /a#frag HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("GET /a\"b HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("GET /a{b} HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("GET /a\x7f HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("GET /caf\xc3\xa9 HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("GET /a\0b HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("GET /a\tb HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("GET /%zz HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("GET /%2 HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("GET ftp://h/ HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("GET http://user@h/ HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("GET http:///x HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("GET http:/x HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("GET http://h:99999/ HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("GET 1http://h/ HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("GET x HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("GET * HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET_FORM),
    BAD("GET h:80 HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET_FORM),
    BAD("CONNECT / HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET_FORM),
    BAD("CONNECT * HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET_FORM),
    BAD("CONNECT h HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("CONNECT h: HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("CONNECT :443 HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("CONNECT http://h:1/ HTTP/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_TARGET),
    BAD("GET / HTTP/2.0\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_VERSION_UNSUPPORTED),
    BAD("GET / HTTP/1.2\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_VERSION_UNSUPPORTED),
    BAD("GET / HTTP/0.9\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_VERSION_UNSUPPORTED),
    BAD("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", -EBADMSG, HTTP1_ERR_VERSION_UNSUPPORTED),
    BAD("GET / http/1.1\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_VERSION),
    BAD("GET / HTTP/1.10\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_VERSION),
    BAD("GET / HTTP/11\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_VERSION),
    BAD("GET / HTTP/1.x\r\n" H "\r\n", -EBADMSG, HTTP1_ERR_VERSION),
    BAD("GET / HTTP/1.1\n" H "\r\n", -EBADMSG, HTTP1_ERR_BARE_LF),
    BAD("GET / HTTP/1.1\rHost: h\r\n\r\n", -EBADMSG, HTTP1_ERR_BARE_CR),
    /* field lines */
    BAD("GET / HTTP/1.1\r\n Host: h\r\n\r\n", -EBADMSG, HTTP1_ERR_LEADING_WS),
    BAD("GET / HTTP/1.1\r\n\tHost: h\r\n\r\n", -EBADMSG, HTTP1_ERR_LEADING_WS),
    BAD("GET / HTTP/1.1\r\n" H "X: a\r\n b\r\n\r\n", -EBADMSG, HTTP1_ERR_OBS_FOLD),
    BAD("GET / HTTP/1.1\r\n" H "X: a\r\n\tb\r\n\r\n", -EBADMSG, HTTP1_ERR_OBS_FOLD),
    BAD("GET / HTTP/1.1\r\nHost : h\r\n\r\n", -EBADMSG, HTTP1_ERR_WS_BEFORE_COLON),
    BAD("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", -EBADMSG, HTTP1_ERR_WS_BEFORE_COLON),
    BAD("GET / HTTP/1.1\r\n" H "Content-Length : 5\r\n\r\n", -EBADMSG, HTTP1_ERR_WS_BEFORE_COLON),
    BAD("GET / HTTP/1.1\r\n" H ": x\r\n\r\n", -EBADMSG, HTTP1_ERR_FIELD_NAME),
    BAD("GET / HTTP/1.1\r\n" H "X(y): z\r\n\r\n", -EBADMSG, HTTP1_ERR_FIELD_NAME),
    BAD("GET / HTTP/1.1\r\n" H "X\0: z\r\n\r\n", -EBADMSG, HTTP1_ERR_FIELD_NAME),
    BAD("GET / HTTP/1.1\r\n" H "X\x80: z\r\n\r\n", -EBADMSG, HTTP1_ERR_FIELD_NAME),
    BAD("GET / HTTP/1.1\r\n" H "NoColon\r\n\r\n", -EBADMSG, HTTP1_ERR_FIELD_NAME),
    BAD("GET / HTTP/1.1\r\n" H "NoColon\n\r\n", -EBADMSG, HTTP1_ERR_BARE_LF),
    BAD("GET / HTTP/1.1\r\n" H "X\rY: z\r\n\r\n", -EBADMSG, HTTP1_ERR_BARE_CR),
    BAD("GET / HTTP/1.1\r\n" H "X: a\0b\r\n\r\n", -EBADMSG, HTTP1_ERR_FIELD_VALUE),
    BAD("GET / HTTP/1.1\r\n" H "X: a\x01\r\n\r\n", -EBADMSG, HTTP1_ERR_FIELD_VALUE),
    BAD("GET / HTTP/1.1\r\n" H "X: a\x1f\r\n\r\n", -EBADMSG, HTTP1_ERR_FIELD_VALUE),
    BAD("GET / HTTP/1.1\r\n" H "X: a\x7f\r\n\r\n", -EBADMSG, HTTP1_ERR_FIELD_VALUE),
    BAD("GET / HTTP/1.1\r\n" H "X: a\x0b"
	"bbbbbbbbbbbbbbbbbbbbbbbbb\r\n\r\n",
	-EBADMSG, HTTP1_ERR_FIELD_VALUE),
    BAD("GET / HTTP/1.1\r\n" H "X: 0123456789abcdef0123456789abcdef\0\r\n\r\n", -EBADMSG,
	HTTP1_ERR_FIELD_VALUE),
    BAD("GET / HTTP/1.1\r\n" H "X: a\rb\r\n\r\n", -EBADMSG, HTTP1_ERR_BARE_CR),
    BAD("GET / HTTP/1.1\r\n" H "X: a\r\r\n\r\n", -EBADMSG, HTTP1_ERR_BARE_CR),
    BAD("GET / HTTP/1.1\r\n" H "X: a\nY: b\r\n\r\n", -EBADMSG, HTTP1_ERR_BARE_LF),
    BAD("GET / HTTP/1.1\r\n" H "X: a\r\n\n", -EBADMSG, HTTP1_ERR_BARE_LF),
    BAD("GET / HTTP/1.1\r\n" H "X: a\r\n\rx", -EBADMSG, HTTP1_ERR_BARE_CR),
    BAD("GET / HTTP/1.1\r\n" H "\n", -EBADMSG, HTTP1_ERR_BARE_LF),
};

static void test_refusals(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(bad_reqs) / sizeof(bad_reqs[0]); i++) {
		const struct bad_case *b = &bad_reqs[i];
		enum http1_err err;
		int rc;

		print_message("bad[%zu] %s: %s\n", i, http1_err_name(b->err), show(b->in, b->len));
		rc = req_every_way(b->in, b->len, NULL, &err);
		assert_string_equal(http1_err_name(err), http1_err_name(b->err));
		assert_int_equal(rc, b->rc);
	}
}

/* Every reason has a name, a sentence and one of the statuses we answer. */
static void test_err_table(void **state)
{
	int e;

	assert_int_equal(http1_err_status(HTTP1_OK), 0);
	for (e = 1; e < HTTP1_ERR__COUNT; e++) {
		int st = http1_err_status(e);

		assert_true(strlen(http1_err_name(e)) > 1);
		assert_true(strlen(http1_err_text(e)) > 5);
		assert_true(st == 400 || st == 414 || st == 431 || st == 501 || st == 505 ||
			    st == 502);
	}
	assert_int_equal(http1_err_status(HTTP1_ERR_URI_TOO_LONG), 414);
	assert_int_equal(http1_err_status(HTTP1_ERR_HEADERS_TOO_LARGE), 431);
	assert_int_equal(http1_err_status(HTTP1_ERR_TOO_MANY_HEADERS), 431);
	assert_int_equal(http1_err_status(HTTP1_ERR_TE_UNSUPPORTED), 501);
	assert_int_equal(http1_err_status(HTTP1_ERR_VERSION_UNSUPPORTED), 505);
	assert_int_equal(http1_err_status(HTTP1_ERR_BARE_LF), 400);
	assert_string_equal(http1_err_name(HTTP1_ERR__COUNT), "?");
}

/* Every byte value in the target, a name and a value, after and before 20
 * ordinary bytes (so the 16-byte paths see it): accepted exactly when the
 * character class table says so. */
static void test_every_byte(void **state)
{
	static const char pad[] = "aaaaaaaaaaaaaaaaaaaa";
	char in[256];
	unsigned c;

	for (c = 0; c < 256; c++) {
		const uint8_t cls = http1_cclass[c];
		enum http1_err err;
		int n, rc;

		n = snprintf(in, sizeof(in), "GET /%s%c%s HTTP/1.1\r\nHost: h\r\n\r\n", pad, 'x',
			     pad);
		in[5 + 20] = (char)c;
		rc = http1_parse_request(in, (size_t)n, 0, NULL, &req, &err);
		assert_int_equal(rc > 0, (cls & HTTP1_C_URI) || c == '%');
		n = snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: h\r\nX%sx%s: v\r\n\r\n", pad,
			     pad);
		in[26 + 20] = (char)c;
		rc = http1_parse_request(in, (size_t)n, 0, NULL, &req, &err);
		assert_int_equal(rc > 0, (cls & HTTP1_C_TCHAR) || c == ':');
		n = snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: h\r\nX: a%sx%s\r\n\r\n", pad,
			     pad);
		in[29 + 20] = (char)c;
		rc = http1_parse_request(in, (size_t)n, 0, NULL, &req, &err);
		assert_int_equal(rc > 0, (cls & HTTP1_C_VALUE) != 0);
		if (rc < 0)
			assert_int_equal(err, c == '\r'	  ? HTTP1_ERR_BARE_CR
					      : c == '\n' ? HTTP1_ERR_BARE_LF
							  : HTTP1_ERR_FIELD_VALUE);
	}
}

/* --- limits --------------------------------------------------------------- */

static char big[64 * 1024];

/* "M T HTTP/1.1" whose line is exactly line_len bytes, target padded. */
static size_t make_line(size_t line_len, size_t method_len, const char *rest)
{
	size_t n = 0, tlen = line_len - method_len - 1 - 9, i;

	memset(big, 'M', method_len);
	n = method_len;
	big[n++] = ' ';
	big[n++] = '/';
	for (i = 1; i < tlen; i++)
		big[n++] = 'a';
	memcpy(big + n, " HTTP/1.1", 9);
	n += 9;
	memcpy(big + n, rest, strlen(rest));
	return n + strlen(rest);
}

static void test_request_line_limit(void **state)
{
	const struct http1_limits small = {.max_request_line = 64};
	enum http1_err err;
	size_t n;

	n = make_line(64, 3, "\r\n" H "\r\n");
	assert_int_equal(req_every_way(big, n, &small, &err), (int)n);
	assert_int_equal(req.target.len, 64 - 3 - 1 - 9);
	n = make_line(65, 3, "\r\n" H "\r\n");
	assert_int_equal(req_every_way(big, n, &small, &err), -E2BIG);
	assert_int_equal(err, HTTP1_ERR_URI_TOO_LONG);
	/* over the limit while still in the method: 400, not 414 */
	memset(big, 'A', 65);
	assert_int_equal(req_every_way(big, 65, &small, &err), -E2BIG);
	assert_int_equal(err, HTTP1_ERR_LINE_TOO_LONG);
	/* the defaults: 8 KiB exactly, then one more */
	n = make_line(HTTP1_DEFAULT_MAX_REQUEST_LINE, 3, "\r\n" H "\r\n");
	assert_int_equal(req_every_way(big, n, NULL, &err), (int)n);
	n = make_line(HTTP1_DEFAULT_MAX_REQUEST_LINE + 1, 3, "\r\n" H "\r\n");
	assert_int_equal(req_every_way(big, n, NULL, &err), -E2BIG);
	assert_int_equal(err, HTTP1_ERR_URI_TOO_LONG);
	/* an unfinished line over the limit is refused now, not buffered on */
	n = make_line(HTTP1_DEFAULT_MAX_REQUEST_LINE + 100, 3, "");
	assert_int_equal(http1_parse_request(big, n - 50, 0, NULL, &req, &err), -E2BIG);
	assert_int_equal(err, HTTP1_ERR_URI_TOO_LONG);
	/* leading empty lines do not count towards the line */
	n = 4 + make_line(64, 3, "\r\n" H "\r\n");
	memmove(big + 4, big, n - 4);
	memcpy(big, "\r\n\r\n", 4);
	assert_int_equal(req_every_way(big, n, &small, &err), (int)n);
}

/* A head whose field section (field lines + final CRLF) is `bytes` long. */
static size_t make_fields(size_t bytes)
{
	static const char line[] = "GET / HTTP/1.1\r\n" H "X: ";
	size_t n = sizeof(line) - 1, pad = bytes - 9 - 3 - 4;

	memcpy(big, line, n);
	memset(big + n, 'v', pad);
	n += pad;
	memcpy(big + n, "\r\n\r\n", 4);
	return n + 4;
}

static void test_header_bytes_limit(void **state)
{
	const struct http1_limits small = {.max_header_bytes = 128};
	enum http1_err err;
	size_t n;

	n = make_fields(128);
	assert_int_equal(req_every_way(big, n, &small, &err), (int)n);
	n = make_fields(129);
	assert_int_equal(req_every_way(big, n, &small, &err), -E2BIG);
	assert_int_equal(err, HTTP1_ERR_HEADERS_TOO_LARGE);
	assert_int_equal(http1_err_status(err), 431);
	n = make_fields(HTTP1_DEFAULT_MAX_HEADER_BYTES);
	assert_int_equal(req_every_way(big, n, NULL, &err), (int)n);
	n = make_fields(HTTP1_DEFAULT_MAX_HEADER_BYTES + 1);
	assert_int_equal(req_every_way(big, n, NULL, &err), -E2BIG);
	assert_int_equal(err, HTTP1_ERR_HEADERS_TOO_LARGE);
	/* unfinished and already over: refused before the end arrives */
	n = make_fields(HTTP1_DEFAULT_MAX_HEADER_BYTES + 1000);
	assert_int_equal(http1_parse_request(big, n - 500, 0, NULL, &req, &err), -E2BIG);
	assert_int_equal(err, HTTP1_ERR_HEADERS_TOO_LARGE);
	assert_int_equal(http1_parse_request(big, n - 1500, 0, NULL, &req, &err), -EAGAIN);
}

static size_t make_count(unsigned count)
{
	size_t n = (size_t)sprintf(big, "GET / HTTP/1.1\r\n" H);
	unsigned i;

	for (i = 1; i < count; i++)
		n += (size_t)sprintf(big + n, "X-%u: %u\r\n", i, i);
	return n + (size_t)sprintf(big + n, "\r\n");
}

static void test_header_count_limit(void **state)
{
	const struct http1_limits small = {.max_headers = 5};
	enum http1_err err;
	size_t n;

	n = make_count(5);
	assert_int_equal(req_every_way(big, n, &small, &err), (int)n);
	assert_int_equal(req.h.nheaders, 5);
	n = make_count(6);
	assert_int_equal(req_every_way(big, n, &small, &err), -E2BIG);
	assert_int_equal(err, HTTP1_ERR_TOO_MANY_HEADERS);
	n = make_count(HTTP1_MAX_HEADERS);
	assert_int_equal(req_every_way(big, n, NULL, &err), (int)n);
	assert_int_equal(req.h.nheaders, HTTP1_MAX_HEADERS);
	n = make_count(HTTP1_MAX_HEADERS + 1);
	assert_int_equal(req_every_way(big, n, NULL, &err), -E2BIG);
	assert_int_equal(err, HTTP1_ERR_TOO_MANY_HEADERS);
	/* a limit above the array size is clamped to it */
	assert_int_equal(
	    http1_parse_request(big, n, 0, &(struct http1_limits){.max_headers = 1000}, &req, &err),
	    -E2BIG);
}

/* --- incremental use ------------------------------------------------------ */

static void test_pipelined(void **state)
{
	static const char in[] = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
				 "GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
				 "\r\nGET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
	size_t off = 0;
	enum http1_err err;
	int n;

	n = http1_parse_request(in, sizeof(in) - 1, 0, NULL, &req, &err);
	assert_int_equal(n, strstr(in, "abc") - in);
	assert_int_equal(req.h.body, HTTP1_BODY_LENGTH);
	off = (size_t)n + req.h.content_length;
	n = http1_parse_request(in + off, sizeof(in) - 1 - off, 0, NULL, &req, &err);
	assert_int_equal(n, strstr(in + off, "\r\n\r\n") + 4 - (in + off));
	assert_view(req.path, "/b");
	assert_int_equal(req.h.body, HTTP1_BODY_NONE);
	off += (size_t)n;
	n = http1_parse_request(in + off, sizeof(in) - 1 - off, 0, NULL, &req, &err);
	assert_int_equal((size_t)n, sizeof(in) - 1 - off);
	assert_view(req.path, "/c");
	assert_false(req.h.keep_alive);
}

/* If the buffer moved between calls, the parse restarts on the new one. */
static void test_resume_after_move(void **state)
{
	static const char in[] = "GET /moved HTTP/1.1\r\nHost: h\r\nX: y\r\n\r\n";
	char a[sizeof(in)], b[sizeof(in)];
	enum http1_err err;

	memcpy(a, in, sizeof(in));
	memcpy(b, in, sizeof(in));
	assert_int_equal(http1_parse_request(a, 25, 0, NULL, &req, &err), -EAGAIN);
	a[0] = 'X'; /* a is gone; only b may be looked at */
	assert_int_equal(http1_parse_request(b, sizeof(in) - 1, 25, NULL, &req, &err),
			 (int)sizeof(in) - 1);
	assert_ptr_equal(req.method.ptr, b);
	assert_ptr_equal(req.h.headers[1].value.ptr, strstr(b, "X: y") + 3);
	/* a wrong last_len also restarts rather than trusting stale state */
	assert_int_equal(http1_parse_request(b, 25, 0, NULL, &req, &err), -EAGAIN);
	assert_int_equal(http1_parse_request(b, sizeof(in) - 1, 24, NULL, &req, &err),
			 (int)sizeof(in) - 1);
	assert_int_equal(http1_parse_request(b, 0, 0, NULL, &req, &err), -EAGAIN);
	assert_int_equal(err, HTTP1_OK);
}

/* --- responses ------------------------------------------------------------ */

struct valid_resp {
	const char *in;
	unsigned status;
	const char *reason;
	enum http1_method req_method;
	enum http1_body body;
	bool keep_alive;
};

static const struct valid_resp valid_resps[] = {
    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 200, "OK", HTTP1_M_GET, HTTP1_BODY_LENGTH,
     true},
    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 200, "OK", HTTP1_M_GET,
     HTTP1_BODY_CHUNKED, true},
    {"HTTP/1.1 200 OK\r\n\r\n", 200, "OK", HTTP1_M_GET, HTTP1_BODY_CLOSE, false},
    {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 200, "OK", HTTP1_M_HEAD, HTTP1_BODY_NONE,
     true},
    {"HTTP/1.1 200 OK\r\n\r\n", 200, "OK", HTTP1_M_HEAD, HTTP1_BODY_NONE, true},
    {"HTTP/1.1 204 No Content\r\n\r\n", 204, "No Content", HTTP1_M_GET, HTTP1_BODY_NONE, true},
    {"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", 304, "Not Modified", HTTP1_M_GET,
     HTTP1_BODY_NONE, true},
    {"HTTP/1.1 100 Continue\r\n\r\n", 100, "Continue", HTTP1_M_POST, HTTP1_BODY_NONE, true},
    {"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n", 103, "Early Hints",
     HTTP1_M_GET, HTTP1_BODY_NONE, true},
    {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 101,
     "Switching Protocols", HTTP1_M_GET, HTTP1_BODY_TUNNEL, false},
    {"HTTP/1.1 200 Connection established\r\n\r\n", 200, "Connection established", HTTP1_M_CONNECT,
     HTTP1_BODY_TUNNEL, false},
    {"HTTP/1.1 407 Proxy Auth\r\nContent-Length: 0\r\n\r\n", 407, "Proxy Auth", HTTP1_M_CONNECT,
     HTTP1_BODY_LENGTH, true},
    {"HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", 404, "", HTTP1_M_GET, HTTP1_BODY_LENGTH, true},
    {"HTTP/1.1 500\r\nContent-Length: 0\r\n\r\n", 500, "", HTTP1_M_GET, HTTP1_BODY_LENGTH, true},
    {"HTTP/1.1 599 Custom \t reason \xff\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 599,
     "Custom \t reason \xff", HTTP1_M_GET, HTTP1_BODY_LENGTH, false},
    {"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", 200, "OK", HTTP1_M_GET, HTTP1_BODY_LENGTH,
     false},
    {"HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\nx", 200, "OK",
     HTTP1_M_GET, HTTP1_BODY_LENGTH, true},
};

static void test_valid_responses(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(valid_resps) / sizeof(valid_resps[0]); i++) {
		const struct valid_resp *v = &valid_resps[i];
		enum http1_err err;
		bool ka = !v->keep_alive;
		int rc;

		print_message("resp[%zu]: %s\n", i, show(v->in, strlen(v->in)));
		rc = resp_every_way(v->in, strlen(v->in), NULL, &err);
		assert_int_equal(err, HTTP1_OK);
		assert_int_equal(rc, head_len(v->in));
		assert_int_equal(resp.status, v->status);
		assert_view(resp.reason, v->reason);
		assert_int_equal(http1_response_body(&resp, v->req_method, &ka), v->body);
		assert_int_equal(ka, v->keep_alive);
		if (v->req_method == HTTP1_M_GET)
			assert_int_equal(resp.h.body, v->body);
	}
}

static const struct bad_case bad_resps[] = {
    BAD("HTTP/1.1 099 X\r\n\r\n", -EBADMSG, HTTP1_ERR_STATUS_CODE),
    BAD("HTTP/1.1 600 X\r\n\r\n", -EBADMSG, HTTP1_ERR_STATUS_CODE),
    BAD("HTTP/1.1 20 OK\r\n\r\n", -EBADMSG, HTTP1_ERR_STATUS_CODE),
    BAD("HTTP/1.1 2000 OK\r\n\r\n", -EBADMSG, HTTP1_ERR_STATUS_CODE),
    BAD("HTTP/1.1 2x0 OK\r\n\r\n", -EBADMSG, HTTP1_ERR_STATUS_CODE),
    BAD("HTTP/1.1  200 OK\r\n\r\n", -EBADMSG, HTTP1_ERR_STATUS_CODE),
    BAD("HTTP/1.1 200\n\r\n", -EBADMSG, HTTP1_ERR_BARE_LF),
    BAD("HTTP/1.1 200 OK\n\r\n", -EBADMSG, HTTP1_ERR_BARE_LF),
    BAD("HTTP/1.1 200 OK\rX\r\n", -EBADMSG, HTTP1_ERR_BARE_CR),
    BAD("HTTP/1.1 200 O\x01K\r\n\r\n", -EBADMSG, HTTP1_ERR_STATUS_LINE),
    BAD("HTTP/1.1\t200 OK\r\n\r\n", -EBADMSG, HTTP1_ERR_STATUS_LINE),
    BAD("HTTP/2 200 OK\r\n\r\n", -EBADMSG, HTTP1_ERR_STATUS_LINE),
    BAD(" HTTP/1.1 200 OK\r\n\r\n", -EBADMSG, HTTP1_ERR_STATUS_LINE),
    BAD("\r\nHTTP/1.1 200 OK\r\n\r\n", -EBADMSG, HTTP1_ERR_STATUS_LINE),
    BAD("ICY 200 OK\r\n\r\n\r\n\r\n", -EBADMSG, HTTP1_ERR_STATUS_LINE),
    BAD("HTTP/3.0 200 OK\r\n\r\n", -EBADMSG, HTTP1_ERR_VERSION_UNSUPPORTED),
    BAD("HTTP/1.1 200 OK\r\n X: y\r\n\r\n", -EBADMSG, HTTP1_ERR_LEADING_WS),
    BAD("HTTP/1.1 200 OK\r\nX : y\r\n\r\n", -EBADMSG, HTTP1_ERR_WS_BEFORE_COLON),
    BAD("HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n", -EBADMSG, HTTP1_ERR_OBS_FOLD),
    BAD("HTTP/1.1 200 OK\r\nX: \0\r\n\r\n", -EBADMSG, HTTP1_ERR_FIELD_VALUE),
    BAD("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", -EBADMSG,
	HTTP1_ERR_CL_MISMATCH),
    BAD("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", -EBADMSG, HTTP1_ERR_CL_INVALID),
    BAD("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", -EBADMSG,
	HTTP1_ERR_CL_AND_TE),
    BAD("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", -EBADMSG, HTTP1_ERR_TE_INVALID),
    BAD("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", -EBADMSG, HTTP1_ERR_TE_HTTP10),
};

static void test_response_refusals(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(bad_resps) / sizeof(bad_resps[0]); i++) {
		const struct bad_case *b = &bad_resps[i];
		enum http1_err err;
		int rc = resp_every_way(b->in, b->len, NULL, &err);

		print_message("bad resp[%zu] %s: %s\n", i, http1_err_name(b->err),
			      show(b->in, b->len));
		assert_string_equal(http1_err_name(err), http1_err_name(b->err));
		assert_int_equal(rc, b->rc);
	}
}

static void test_status_line_limit(void **state)
{
	const struct http1_limits small = {.max_request_line = 32};
	static const char ok[] = "HTTP/1.1 200 0123456789012345678\r\n\r\n";
	static const char over[] = "HTTP/1.1 200 01234567890123456789\r\n\r\n";
	enum http1_err err;

	assert_int_equal(strlen(ok) - 4, 32);
	assert_int_equal(resp_every_way(L(ok), &small, &err), (int)sizeof(ok) - 1);
	assert_int_equal(resp_every_way(L(over), &small, &err), -E2BIG);
	assert_int_equal(err, HTTP1_ERR_LINE_TOO_LONG);
}

/* --- benchmark (STRATA_BENCH=1) -------------------------------------------- */

static const char bench_req[] =
    "GET /api/v1/items/12345?view=full&lang=en HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "Cookie: session=0123456789abcdef0123; theme=dark\r\n"
    "Cache-Control: max-age=0\r\n"
    "\r\n";

static double cpu_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* 1M parses in 10 batches of CPU time; the best batch is the figure least
 * disturbed by other load on a shared machine, the mean is printed too. */
static int bench(void)
{
	const long batches = 10, per = 100000;
	double best = 1e30, sum = 0, t0, ns;
	enum http1_err err;
	long b, i, total = 0;

	for (i = 0; i < 10000; i++)
		total += http1_parse_request(bench_req, sizeof(bench_req) - 1, 0, NULL, &req, &err);
	for (b = 0; b < batches; b++) {
		t0 = cpu_ns();
		for (i = 0; i < per; i++)
			total += http1_parse_request(bench_req, sizeof(bench_req) - 1, 0, NULL,
						     &req, &err);
		ns = (cpu_ns() - t0) / (double)per;
		sum += ns;
		best = ns < best ? ns : best;
	}
	if (total != (long)(sizeof(bench_req) - 1) * (batches * per + 10000))
		return 1;
	printf("http1_parse_request: %zu-byte request, %u fields: %.1f ns/request best batch, "
	       "%.1f mean (%.2f GB/s)\n",
	       sizeof(bench_req) - 1, req.h.nheaders, best, sum / (double)batches,
	       (double)(sizeof(bench_req) - 1) / best);
	return 0;
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_requests),
		cmocka_unit_test(test_views_and_ows),
		cmocka_unit_test(test_method_names),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_err_table),
		cmocka_unit_test(test_request_line_limit),
		cmocka_unit_test(test_header_bytes_limit),
		cmocka_unit_test(test_header_count_limit),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_resume_after_move),
		cmocka_unit_test(test_valid_responses),
		cmocka_unit_test(test_response_refusals),
		cmocka_unit_test(test_status_line_limit),
	};
	/* clang-format on */

	if (getenv("STRATA_BENCH"))
		return bench();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
