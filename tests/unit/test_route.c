/* route: the matching table (host exact/wildcard, path exact/prefix/regex,
 * method, header present/equals, cookie, query, source, listener, first
 * match wins, no match), host normalisation. Requests are parsed by the
 * real parser from buffers that end at an unreadable page. */
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
#include "../../l7/http1_parse.h"
#include "../../l7/l7_config.h"
#include "../../l7/route.h"

static const char config[] =
    "listeners = ( { name = \"first\"; listen = \"127.0.0.1:1\"; proxy_protocol = \"off\"; },\n"
    "              { name = \"second\"; listen = \"127.0.0.1:2\"; proxy_protocol = \"off\"; } "
    ");\n"
    "upstreams = ( { name = \"u\"; servers = ( { address = \"127.0.0.1:3\"; } ); } );\n"
    "routes = (\n"
    " { name = \"exact\"; match = { path = \"/exact\"; }; upstream = \"u\"; },\n"
    " { name = \"host\"; match = { host = [ \"example.com\", \"[::1]\" ]; path_prefix = "
    "\"/h/\"; }; upstream = \"u\"; },\n"
    " { name = \"wild\"; match = { host = \"*.example.com\"; }; upstream = \"u\"; },\n"
    " { name = \"regex\"; match = { path_regex = \"^/v[0-9]+/\"; }; upstream = \"u\"; },\n"
    " { name = \"method\"; match = { method = [ \"POST\", \"PROPFIND\" ]; path_prefix = "
    "\"/m/\"; }; upstream = \"u\"; },\n"
    " { name = \"hdr-eq\"; match = { header = { name = \"X-Env\"; value = \"canary\"; }; }; "
    "upstream = \"u\"; },\n"
    " { name = \"hdr-present\"; match = { header = { name = \"X-Debug\"; }; }; upstream = "
    "\"u\"; },\n"
    " { name = \"cookie\"; match = { cookie = { name = \"beta\"; value = \"1\"; }; }; upstream "
    "= \"u\"; },\n"
    " { name = \"cookie-present\"; match = { cookie = { name = \"sid\"; }; }; upstream = \"u\"; "
    "},\n"
    " { name = \"query\"; match = { query = { name = \"debug\"; value = \"on air\"; }; }; "
    "upstream = \"u\"; },\n"
    " { name = \"query-present\"; match = { query = { name = \"trace\"; }; }; upstream = \"u\"; "
    "},\n"
    " { name = \"source\"; match = { source = \"10.0.0.0/8\"; path_prefix = \"/src/\"; }; "
    "upstream = \"u\"; },\n"
    " { name = \"listener\"; match = { listeners = \"second\"; }; upstream = \"u\"; },\n"
    " { name = \"api\"; match = { path_prefix = \"/api/\"; method = \"GET\"; }; upstream = "
    "\"u\"; }\n"
    ");\n";

static struct l7_snapshot *snap;
static struct http1_request req;

static int setup(void **state)
{
	struct cfg_err err;

	cfg_err_init(&err);
	if (l7_config_build_string("route.conf", config, &snap, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	snap_put(&snap->hdr);
	l7_route_thread_exit();
	return 0;
}

struct route_case {
	const char *head;     /* request head, CRLFs added by the test */
	const char *client;   /* client address, NULL for none */
	const char *listener; /* listener name */
	const char *want;     /* route name, NULL for no match */
};

static const struct route_case cases[] = {
    /* path exact, and first match wins over every later route */
    {"GET /exact HTTP/1.1\nHost: example.com\nX-Env: canary", NULL, "first", "exact"},
    {"GET /exact/ HTTP/1.1\nHost: a", NULL, "first", NULL},
    {"GET /exact?x=1 HTTP/1.1\nHost: a", NULL, "first", "exact"},
    /* host exact (case, port and trailing dot do not matter) plus prefix */
    {"GET /h/1 HTTP/1.1\nHost: Example.COM:8080", NULL, "first", "host"},
    {"GET /h/1 HTTP/1.1\nHost: example.com.", NULL, "first", "host"},
    {"GET /h/1 HTTP/1.1\nHost: [::1]:80", NULL, "first", "host"},
    {"GET /h HTTP/1.1\nHost: example.com", NULL, "first", NULL},
    {"GET /h/1 HTTP/1.1\nHost: example.org", NULL, "first", NULL},
    /* absolute-form: the target's authority is the host (RFC 9112 §3.2.2) */
    {"GET http://EXAMPLE.com/h/2 HTTP/1.1\nHost: other", NULL, "first", "host"},
    /* wildcard: one or more labels before the suffix, never the bare domain */
    {"GET / HTTP/1.1\nHost: a.example.com", NULL, "first", "wild"},
    {"GET / HTTP/1.1\nHost: a.b.example.com", NULL, "first", "wild"},
    {"GET / HTTP/1.1\nHost: example.com", NULL, "first", NULL},
    {"GET / HTTP/1.1\nHost: badexample.com", NULL, "first", NULL},
    /* regex on the path only */
    {"GET /v2/users HTTP/1.1\nHost: a", NULL, "first", "regex"},
    {"GET /vx/users HTTP/1.1\nHost: a", NULL, "first", NULL},
    {"GET /x?/v2/ HTTP/1.1\nHost: a", NULL, "first", NULL},
    /* methods, known and other tokens */
    {"POST /m/ HTTP/1.1\nHost: a\nContent-Length: 0", NULL, "first", "method"},
    {"PROPFIND /m/ HTTP/1.1\nHost: a", NULL, "first", "method"},
    {"GET /m/ HTTP/1.1\nHost: a", NULL, "first", NULL},
    {"PROPPATCH /m/ HTTP/1.1\nHost: a", NULL, "first", NULL},
    /* header equals (name case-insensitive, value exact) and present */
    {"GET / HTTP/1.1\nHost: a\nx-env: canary", NULL, "first", "hdr-eq"},
    {"GET / HTTP/1.1\nHost: a\nX-Env: Canary", NULL, "first", NULL},
    {"GET / HTTP/1.1\nHost: a\nX-Env: prod\nX-Env: canary", NULL, "first", "hdr-eq"},
    {"GET / HTTP/1.1\nHost: a\nX-Debug: ", NULL, "first", "hdr-present"},
    /* cookies: any Cookie line, OWS, quotes; names are case-sensitive */
    {"GET / HTTP/1.1\nHost: a\nCookie: a=b; beta=1", NULL, "first", "cookie"},
    {"GET / HTTP/1.1\nHost: a\nCookie: a=b\nCookie: beta=\"1\"", NULL, "first", "cookie"},
    {"GET / HTTP/1.1\nHost: a\nCookie: beta=12", NULL, "first", NULL},
    {"GET / HTTP/1.1\nHost: a\nCookie: Beta=1", NULL, "first", NULL},
    {"GET / HTTP/1.1\nHost: a\nCookie: xbeta=1;beta=0", NULL, "first", NULL},
    {"GET / HTTP/1.1\nHost: a\nCookie: sid=", NULL, "first", "cookie-present"},
    {"GET / HTTP/1.1\nHost: a\nCookie: sidx=1", NULL, "first", NULL},
    /* query: form-decoded comparison; presence with or without '=' */
    {"GET /?a=1&debug=on+air HTTP/1.1\nHost: a", NULL, "first", "query"},
    {"GET /?debug=on%20air HTTP/1.1\nHost: a", NULL, "first", "query"},
    {"GET /?debug=on HTTP/1.1\nHost: a", NULL, "first", NULL},
    {"GET /?debugx=on+air HTTP/1.1\nHost: a", NULL, "first", NULL},
    {"GET /?trace HTTP/1.1\nHost: a", NULL, "first", "query-present"},
    {"GET /?x=1&trace= HTTP/1.1\nHost: a", NULL, "first", "query-present"},
    {"GET /trace HTTP/1.1\nHost: a", NULL, "first", NULL},
    /* client address (PPv2 source), v4-mapped counts as IPv4 */
    {"GET /src/ HTTP/1.1\nHost: a", "10.1.2.3:5", "first", "source"},
    {"GET /src/ HTTP/1.1\nHost: a", "[::ffff:10.1.2.3]:5", "first", "source"},
    {"GET /src/ HTTP/1.1\nHost: a", "11.1.2.3:5", "first", NULL},
    {"GET /src/ HTTP/1.1\nHost: a", NULL, "first", NULL},
    /* listener restriction */
    {"GET /anything HTTP/1.1\nHost: a", NULL, "second", "listener"},
    {"GET /anything HTTP/1.1\nHost: a", NULL, NULL, NULL},
    /* last route: prefix + method */
    {"GET /api/x HTTP/1.1\nHost: a", NULL, "first", "api"},
    {"HEAD /api/x HTTP/1.1\nHost: a", NULL, "first", NULL},
    {"GET /apix HTTP/1.1\nHost: a", NULL, "first", NULL},
    /* HTTP/1.0 without Host: no host, host routes do not match */
    {"GET /h/1 HTTP/1.0", NULL, "first", NULL},
    {"GET /api/ HTTP/1.0", NULL, "first", "api"},
};

static char *crlf(const char *head, size_t *len)
{
	static char buf[2048];
	size_t n = 0;

	for (const char *p = head; *p; p++) {
		if (*p == '\n')
			buf[n++] = '\r';
		buf[n++] = *p;
	}
	memcpy(buf + n, "\r\n\r\n", 4);
	*len = n + 4;
	return buf;
}

static const struct l7_route *run_case(const struct route_case *c)
{
	const struct l7_route *r;
	struct l7_match_ctx ctx = {0};
	char host[L7_HOST_MAX + 1];
	enum http1_err herr;
	struct addr client;
	const char *why;
	size_t len;
	char *text = crlf(c->head, &len);
	char *buf = guard_dup(text, len);

	if (http1_parse_request(buf, len, 0, NULL, &req, &herr) != (int)len)
		fail_msg("parse failed (%s): %s", http1_err_name(herr), c->head);
	ctx.host = host;
	ctx.host_len = l7_host_normalize(req.host.ptr, req.host.len, host);
	if (c->client) {
		assert_int_equal(addr_parse(c->client, strlen(c->client), 0, 0, &client, &why), 0);
		ctx.client = &client;
	}
	r = l7_route_match(snap, c->listener ? l7_config_listener(snap, c->listener) : NULL, &req,
			   &ctx);
	guard_free(buf, len);
	return r;
}

static void test_route_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct l7_route *r = run_case(&cases[i]);
		const char *got = r ? r->name.ptr : "(none)";
		const char *want = cases[i].want ? cases[i].want : "(none)";

		if (strcmp(got, want))
			fail_msg("case %zu \"%s\": got %s, want %s", i, cases[i].head, got, want);
	}
}

static void test_no_routes_no_match(void **state)
{
	struct l7_snapshot *s;
	struct cfg_err err;
	struct route_case c = {"GET / HTTP/1.1\nHost: a", NULL, "x", NULL};
	struct l7_match_ctx ctx = {"a", 1, NULL};
	size_t len;
	char *text = crlf(c.head, &len);
	enum http1_err herr;

	cfg_err_init(&err);
	assert_int_equal(
	    l7_config_build_string("empty.conf",
				   "listeners = ( { name = \"x\"; listen = \"127.0.0.1:1\"; "
				   "proxy_protocol = \"off\"; } );\n",
				   &s, &err),
	    0);
	assert_int_equal(http1_parse_request(text, len, 0, NULL, &req, &herr), (int)len);
	assert_null(l7_route_match(s, &s->listeners[0], &req, &ctx));
	snap_put(&s->hdr);
}

static void test_route_matches_single(void **state)
{
	struct l7_match_ctx ctx = {"a.example.com", 13, NULL};
	size_t len;
	char *text = crlf("GET /v1/x HTTP/1.1\nHost: a.example.com", &len);
	enum http1_err herr;

	assert_int_equal(http1_parse_request(text, len, 0, NULL, &req, &herr), (int)len);
	/* both "wild" and "regex" hold; l7_route_match returns the first */
	assert_true(l7_route_matches(snap, l7_config_route(snap, "regex"), NULL, &req, &ctx));
	assert_true(l7_route_matches(snap, l7_config_route(snap, "wild"), NULL, &req, &ctx));
	assert_false(l7_route_matches(snap, l7_config_route(snap, "exact"), NULL, &req, &ctx));
	assert_string_equal(l7_route_match(snap, NULL, &req, &ctx)->name.ptr, "wild");
}

static void test_host_normalize(void **state)
{
	char out[L7_HOST_MAX + 1], big[L7_HOST_MAX + 2];

	assert_int_equal(l7_host_normalize("Example.COM.:8080", 17, out), 11);
	assert_string_equal(out, "example.com");
	assert_int_equal(l7_host_normalize("[::1]:80", 8, out), 5);
	assert_string_equal(out, "[::1]");
	assert_int_equal(l7_host_normalize("10.0.0.1", 8, out), 8);
	assert_int_equal(l7_host_normalize("", 0, out), 0);
	assert_int_equal(l7_host_normalize(":80", 3, out), 0);
	memset(big, 'a', sizeof(big));
	assert_int_equal(l7_host_normalize(big, sizeof(big), out), 0);
	assert_int_equal(l7_host_normalize(big, L7_HOST_MAX, out), L7_HOST_MAX);
}

static void test_regex_limit(void **state)
{
	/* a catastrophic pattern stops at the match limit and does not match */
	struct l7_snapshot *s;
	struct cfg_err err;
	struct l7_match_ctx ctx = {"a", 1, NULL};
	char text[512];
	enum http1_err herr;
	int n;

	cfg_err_init(&err);
	assert_int_equal(
	    l7_config_build_string(
		"re.conf",
		"listeners = ( { name = \"x\"; listen = \"127.0.0.1:1\"; "
		"proxy_protocol = \"off\"; } );\n"
		"routes = ( { name = \"evil\"; match = { path_regex = \"^/(a+)+$\"; }; "
		"respond = { }; } );\n",
		&s, &err),
	    0);
	n = snprintf(text, sizeof(text), "GET /%s! HTTP/1.1\r\nHost: a\r\n\r\n",
		     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(http1_parse_request(text, (size_t)n, 0, NULL, &req, &herr), n);
	assert_null(l7_route_match(s, NULL, &req, &ctx));
	n = snprintf(text, sizeof(text), "GET /aaaa HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(http1_parse_request(text, (size_t)n, 0, NULL, &req, &herr), n);
	assert_non_null(l7_route_match(s, NULL, &req, &ctx));
	snap_put(&s->hdr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_route_table),		 cmocka_unit_test(test_no_routes_no_match),
	    cmocka_unit_test(test_route_matches_single), cmocka_unit_test(test_host_normalize),
	    cmocka_unit_test(test_regex_limit),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
