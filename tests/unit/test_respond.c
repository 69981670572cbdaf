/* respond: the proxy's own responses byte for byte (Date aside, which is
 * checked for its IMF-fixdate shape): errors with short bodies, fixed route
 * responses, redirects with $path/$host/$query/$uri, 100 Continue, the
 * health answer; every one parses back with an exact Content-Length. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../l7/http1_parse.h"
#include "../../l7/l7_config.h"
#include "../../l7/respond.h"

static const char config[] =
    "listeners = ( { name = \"p\"; listen = \"127.0.0.1:1\"; proxy_protocol = \"off\"; } );\n"
    "routes = (\n"
    " { name = \"status\"; respond = { status = 200; body = \"all good\\n\"; };\n"
    "   response_headers = { set = ( [ \"Cache-Control\", \"no-store\" ] ); add = ( [ \"X-A\", "
    "\"1\" ] ); }; },\n"
    " { name = \"empty\"; respond = { status = 204; }; },\n"
    " { name = \"teapot\"; respond = { status = 418; body = \"short and stout\"; content_type = "
    "\"text/html\"; }; },\n"
    " { name = \"https\"; redirect = { status = 301; location = \"https://$host$uri\"; }; },\n"
    " { name = \"parts\"; redirect = { status = 308; location = \"/new$path?from=$query&h=$host\"; "
    "};\n"
    "   response_headers = { add = ( [ \"X-R\", \"1\" ] ); }; }\n"
    ");\n";

static struct l7_snapshot *snap;
static uint8_t out[4096];
static char text[4096];

static int setup(void **state)
{
	struct cfg_err err;

	cfg_err_init(&err);
	if (l7_config_build_string("respond.conf", config, &snap, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	snap_put(&snap->hdr);
	return 0;
}

/* Checks the response parses with a body of exactly Content-Length bytes
 * (body_len < 0: a HEAD answer, no body follows), checks and removes the
 * Date line, and returns the rest as text. */
static const char *check(int n, long body_len)
{
	static struct http1_response resp;
	enum http1_err err;
	int head;
	char *date, *end;

	assert_true(n > 0);
	head = http1_parse_response((char *)out, (size_t)n, 0, NULL, &resp, &err);
	assert_true(head > 0);
	if (body_len >= 0 && resp.h.has_content_length)
		assert_int_equal((long)resp.h.content_length, n - head);
	if (body_len >= 0)
		assert_int_equal(n - head, body_len);
	else
		assert_int_equal(n, head);
	memcpy(text, out, (size_t)n);
	text[n] = '\0';
	date = strstr(text, "\r\nDate: ");
	assert_non_null(date);
	end = strstr(date + 2, "\r\n");
	/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7) */
	assert_int_equal(end - (date + 8), 29);
	assert_memory_equal(date + 8 + 3, ", ", 2);
	assert_memory_equal(end - 4, " GMT", 4);
	memmove(date, end, strlen(end) + 1);
	return text;
}

static void test_errors(void **state)
{
	static const int statuses[] = {400, 404, 413, 414, 431, 501, 502, 503, 504, 505};
	char want[256];

	assert_string_equal(check(l7_respond_error(out, sizeof(out), 502, NULL, true), 12),
			    "HTTP/1.1 502 Bad Gateway\r\n"
			    "Content-Type: text/plain; charset=utf-8\r\n"
			    "Cache-Control: no-store\r\n"
			    "Content-Length: 12\r\n"
			    "Connection: close\r\n\r\n"
			    "Bad Gateway\n");
	assert_string_equal(
	    check(l7_respond_error(out, sizeof(out), 504, "upstream timed out", false), 19),
	    "HTTP/1.1 504 Gateway Timeout\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Cache-Control: no-store\r\n"
	    "Content-Length: 19\r\n"
	    "Connection: keep-alive\r\n\r\n"
	    "upstream timed out\n");
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		const char *reason = l7_status_reason(statuses[i]);

		snprintf(want, sizeof(want), "HTTP/1.1 %d %s\r\n", statuses[i], reason);
		check(l7_respond_error(out, L7_RESPOND_ERROR_MAX, statuses[i], NULL, true),
		      (long)strlen(reason) + 1);
		assert_int_equal(strncmp(text, want, strlen(want)), 0);
		assert_string_not_equal(reason, "Unknown");
	}
	assert_string_equal(l7_status_reason(431), "Request Header Fields Too Large");
	assert_string_equal(l7_status_reason(413), "Content Too Large");
	assert_string_equal(l7_status_reason(299), "Unknown");
	assert_int_equal(l7_respond_error(out, sizeof(out), 99, NULL, true), -EINVAL);
	assert_int_equal(l7_respond_error(out, sizeof(out), 600, NULL, true), -EINVAL);
}

static void test_error_limits(void **state)
{
	char longtext[400];
	int full;

	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	/* an over-long reason is cut to 200 bytes, never overflowing the max */
	full = l7_respond_error(out, L7_RESPOND_ERROR_MAX, 400, longtext, true);
	check(full, 201);
	full = l7_respond_error(out, sizeof(out), 503, "no healthy server", true);
	for (int cap = 0; cap < full; cap++)
		assert_int_equal(l7_respond_error(out, (size_t)cap, 503, "no healthy server", true),
				 -E2BIG);
}

static void test_fixed(void **state)
{
	const struct l7_route *r = l7_config_route(snap, "status");

	assert_string_equal(check(l7_respond_fixed(out, sizeof(out), r, false, false), 9),
			    "HTTP/1.1 200 OK\r\n"
			    "Cache-Control: no-store\r\n"
			    "X-A: 1\r\n"
			    "Content-Type: text/plain\r\n"
			    "Content-Length: 9\r\n"
			    "Connection: keep-alive\r\n\r\n"
			    "all good\n");
	/* HEAD: the same head, Content-Length of what GET would send, no body */
	assert_string_equal(check(l7_respond_fixed(out, sizeof(out), r, true, true), -1),
			    "HTTP/1.1 200 OK\r\n"
			    "Cache-Control: no-store\r\n"
			    "X-A: 1\r\n"
			    "Content-Type: text/plain\r\n"
			    "Content-Length: 9\r\n"
			    "Connection: close\r\n\r\n");
	/* RFC 9110 §8.6: no Content-Length on 204 */
	assert_string_equal(
	    check(l7_respond_fixed(out, sizeof(out), l7_config_route(snap, "empty"), false, false),
		  0),
	    "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
	assert_string_equal(
	    check(l7_respond_fixed(out, sizeof(out), l7_config_route(snap, "teapot"), false, true),
		  15),
	    "HTTP/1.1 418 Unknown\r\nContent-Type: text/html\r\nContent-Length: "
	    "15\r\nConnection: close\r\n\r\nshort and stout");
	assert_int_equal(l7_respond_fixed(out, 40, r, false, false), -E2BIG);
}

static struct http1_request req;

static void parse(const char *head)
{
	enum http1_err err;

	assert_true(http1_parse_request(head, strlen(head), 0, NULL, &req, &err) > 0);
}

static void test_redirect(void **state)
{
	const struct l7_route *r = l7_config_route(snap, "https");
	char loc[256];
	int n;

	parse("GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: Example.com:8080\r\n\r\n");
	assert_string_equal(
	    check(l7_respond_redirect(out, sizeof(out), r, &req, "example.com", 11, false, false),
		  47),
	    "HTTP/1.1 301 Moved Permanently\r\n"
	    "Location: https://example.com/a/b?x=1&y=2\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: 47\r\n"
	    "Connection: keep-alive\r\n\r\n"
	    "Redirecting to https://example.com/a/b?x=1&y=2\n");
	/* $uri without a query has no '?' */
	parse("GET /plain HTTP/1.1\r\nHost: h\r\n\r\n");
	n = l7_redirect_location(loc, sizeof(loc), r, &req, "h", 1);
	assert_int_equal(n, 15);
	assert_memory_equal(loc, "https://h/plain", 15);
	/* $path, $query and $host separately; HEAD has no body */
	parse("HEAD /old?k=v HTTP/1.1\r\nHost: h\r\n\r\n");
	r = l7_config_route(snap, "parts");
	assert_string_equal(
	    check(l7_respond_redirect(out, sizeof(out), r, &req, "h", 1, true, true), -1),
	    "HTTP/1.1 308 Permanent Redirect\r\n"
	    "Location: /new/old?from=k=v&h=h\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "X-R: 1\r\n"
	    "Content-Length: 37\r\n"
	    "Connection: close\r\n\r\n");
	/* absolute-form with no path: "/" */
	parse("GET http://h HTTP/1.1\r\nHost: h\r\n\r\n");
	n = l7_redirect_location(loc, sizeof(loc), r, &req, "h", 1);
	assert_int_equal(n, 15);
	assert_memory_equal(loc, "/new/?from=&h=h", 15);
	assert_int_equal(l7_redirect_location(loc, 4, r, &req, "h", 1), -E2BIG);
	assert_int_equal(l7_respond_redirect(out, 100, r, &req, "h", 1, false, true), -E2BIG);
}

static void test_continue_and_health(void **state)
{
	int n = l7_respond_continue(out, sizeof(out));

	assert_int_equal(n, 25);
	assert_memory_equal(out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	assert_int_equal(l7_respond_continue(out, 24), -E2BIG);
	assert_string_equal(check(l7_respond_health(out, sizeof(out), false, false), 3),
			    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: "
			    "no-store\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n");
	check(l7_respond_health(out, sizeof(out), true, true), -1);
	assert_non_null(strstr(text, "Content-Length: 3\r\nConnection: close\r\n\r\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_error_limits),
	    cmocka_unit_test(test_fixed),
	    cmocka_unit_test(test_redirect),
	    cmocka_unit_test(test_continue_and_health),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
