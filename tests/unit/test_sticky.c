/* sticky: RFC 6265 cookie-pair parsing from guarded buffers (OWS, quotes,
 * empty values, look-alike names, several Cookie lines), stripping the
 * sticky cookie, server lookup, when to set it and the Set-Cookie text, and
 * the balance = hash keys (client ip, header, cookie, fallbacks). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "balance.h"
#include "guard.h"
#include "../../l7/http1_parse.h"
#include "../../l7/l7_config.h"
#include "../../l7/sticky.h"

static const char config[] =
    "listeners = ( { name = \"p\"; listen = \"127.0.0.1:1\"; proxy_protocol = \"off\"; } );\n"
    "upstreams = (\n"
    " { name = \"sticky\"; sticky_cookie = \"SERVERID\"; servers = (\n"
    "   { name = \"be-0\"; address = \"127.0.0.1:8200\"; }, { name = \"be-1\"; address = "
    "\"127.0.0.1:8201\"; } ); },\n"
    " { name = \"plain\"; servers = ( { name = \"be-0\"; address = \"127.0.0.1:8200\"; } ); },\n"
    " { name = \"by-ip\"; balance = \"hash\"; servers = ( { address = \"127.0.0.1:1\"; } ); },\n"
    " { name = \"by-header\"; balance = \"hash\"; hash_key = \"header:X-User\"; servers = ( { "
    "address = \"127.0.0.1:1\"; } ); },\n"
    " { name = \"by-cookie\"; balance = \"hash\"; hash_key = \"cookie:uid\"; servers = ( { "
    "address = \"127.0.0.1:1\"; } ); }\n"
    ");\n";

static struct l7_snapshot *snap;
static struct http1_request req;
static char *guarded;
static size_t guarded_len;

static int setup(void **state)
{
	struct cfg_err err;

	cfg_err_init(&err);
	if (l7_config_build_string("sticky.conf", config, &snap, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

static void drop_guard(void)
{
	if (guarded)
		guard_free(guarded, guarded_len);
	guarded = NULL;
}

static int teardown(void **state)
{
	drop_guard();
	snap_put(&snap->hdr);
	return 0;
}

static void parse_req(const char *head)
{
	enum http1_err err;

	drop_guard();
	guarded_len = strlen(head);
	guarded = guard_dup(head, guarded_len);
	assert_int_equal(http1_parse_request(guarded, guarded_len, 0, NULL, &req, &err),
			 (int)guarded_len);
}

struct cookie_case {
	const char *value, *name, *want; /* want NULL: absent */
};

static const struct cookie_case cookie_cases[] = {
    {"a=1; b=2", "b", "2"},
    {"a=1;b=2", "b", "2"},
    {"  a = 1 ;  b =  2  ", "b", "2"},
    {"a=1; b=\"quoted\"", "b", "quoted"},
    {"b=\"\"", "b", ""},
    {"b=", "b", ""},
    {"b", "b", NULL},		/* no '=': not a cookie-pair */
    {"xb=1; b=2", "b", "2"},	/* a look-alike name first */
    {"a=b=1; b=3", "b", "3"},	/* the name inside a value */
    {"b=1; b=2", "b", "1"},	/* the first one wins */
    {"B=1", "b", NULL},		/* names are case-sensitive */
    {"a=1;;; ;b=2;", "b", "2"}, /* empty pairs are skipped */
    {"a=1", "b", NULL},
    {"", "b", NULL},
    {"SERVERID=be-1", "SERVERID", "be-1"},
};

static void test_cookie_find_in(void **state)
{
	for (size_t i = 0; i < sizeof(cookie_cases) / sizeof(cookie_cases[0]); i++) {
		const struct cookie_case *c = &cookie_cases[i];
		size_t len = strlen(c->value);
		char *buf = guard_dup(c->value, len);
		struct http1_view v;
		bool found = l7_cookie_find_in(buf, len, c->name, strlen(c->name), &v);

		if (found != (c->want != NULL))
			fail_msg("case %zu \"%s\": found %d", i, c->value, found);
		if (found && (v.len != strlen(c->want) || memcmp(v.ptr, c->want, v.len)))
			fail_msg("case %zu \"%s\": got \"%.*s\"", i, c->value, (int)v.len, v.ptr);
		guard_free(buf, len);
	}
}

static void test_cookie_find_request(void **state)
{
	struct http1_view v;

	parse_req(
	    "GET / HTTP/1.1\r\nHost: h\r\ncookie: a=1\r\nX: y\r\nCOOKIE: uid=42; z=0\r\n\r\n");
	assert_true(l7_cookie_find(&req, "uid", 3, &v));
	assert_int_equal(v.len, 2);
	assert_memory_equal(v.ptr, "42", 2);
	assert_true(l7_cookie_find(&req, "a", 1, &v));
	assert_false(l7_cookie_find(&req, "X", 1, &v));
	parse_req("GET / HTTP/1.0\r\n\r\n");
	assert_false(l7_cookie_find(&req, "a", 1, &v));
}

static void test_cookie_strip(void **state)
{
	char out[128];
	int n;

	n = l7_cookie_strip(out, sizeof(out), "a=1; SERVERID=be-0; b=2", 23, "SERVERID", 8);
	assert_int_equal(n, 8);
	assert_memory_equal(out, "a=1; b=2", 8);
	n = l7_cookie_strip(out, sizeof(out), "SERVERID=x;SERVERID=y ;  c=3", 28, "SERVERID", 8);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "c=3", 3);
	assert_int_equal(l7_cookie_strip(out, sizeof(out), "SERVERID=be-0", 13, "SERVERID", 8), 0);
	/* a look-alike stays */
	n = l7_cookie_strip(out, sizeof(out), "XSERVERID=1", 11, "SERVERID", 8);
	assert_int_equal(n, 11);
	assert_int_equal(l7_cookie_strip(out, 5, "a=1; b=2", 8, "SERVERID", 8), -E2BIG);
}

static void test_sticky_server(void **state)
{
	const struct l7_upstream *s = l7_config_upstream(snap, "sticky");
	const struct l7_upstream *p = l7_config_upstream(snap, "plain");

	parse_req("GET / HTTP/1.1\r\nHost: h\r\nCookie: x=1; SERVERID=be-1\r\n\r\n");
	assert_ptr_equal(l7_sticky_server(s, &req), &s->servers[1]);
	assert_null(l7_sticky_server(p, &req)); /* no stickiness configured */
	parse_req("GET / HTTP/1.1\r\nHost: h\r\nCookie: SERVERID=be-9\r\n\r\n");
	assert_null(l7_sticky_server(s, &req)); /* a server that is gone */
	parse_req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_null(l7_sticky_server(s, &req));

	assert_true(l7_sticky_must_set(s, NULL, &s->servers[0]));
	assert_true(l7_sticky_must_set(s, &s->servers[1], &s->servers[0]));
	assert_false(l7_sticky_must_set(s, &s->servers[0], &s->servers[0]));
	assert_false(l7_sticky_must_set(s, NULL, NULL));
	assert_false(l7_sticky_must_set(p, NULL, &p->servers[0]));
}

static void test_set_cookie(void **state)
{
	const struct l7_upstream *s = l7_config_upstream(snap, "sticky");
	static const char want[] = "Set-Cookie: SERVERID=be-1; Path=/\r\n"
				   "Cache-Control: no-cache=\"set-cookie\"\r\n";
	uint8_t out[L7_STICKY_HDR_MAX];
	int n = l7_sticky_set_cookie(out, sizeof(out), s, &s->servers[1]);

	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(out, want, sizeof(want) - 1);
	for (int cap = 0; cap < n; cap++)
		assert_int_equal(l7_sticky_set_cookie(out, (size_t)cap, s, &s->servers[1]), -E2BIG);
}

static void set_addr(struct addr *a, const char *text)
{
	const char *why;

	assert_int_equal(addr_parse(text, strlen(text), ADDR_F_UNIX, 0, a, &why), 0);
}

static void test_hash_keys(void **state)
{
	const struct l7_upstream *ip = l7_config_upstream(snap, "by-ip");
	const struct l7_upstream *hdr = l7_config_upstream(snap, "by-header");
	const struct l7_upstream *ck = l7_config_upstream(snap, "by-cookie");
	struct l7_hash_key_view k;
	struct addr a, mapped, v6;
	static const uint8_t v4bytes[] = {10, 1, 2, 3};

	set_addr(&a, "10.1.2.3:5555");
	set_addr(&mapped, "[::ffff:10.1.2.3]:1");
	set_addr(&v6, "[2001:db8::1]:1");
	parse_req("GET / HTTP/1.1\r\nHost: h\r\nx-user: alice\r\nCookie: uid=u-7\r\n\r\n");

	l7_hash_key(ip, &req, &a, &k);
	assert_int_equal(k.kind, L7_HASH_CLIENT_IP);
	assert_int_equal(k.len, 4);
	assert_memory_equal(k.ptr, v4bytes, 4);
	l7_hash_key(ip, &req, &mapped, &k);
	assert_int_equal(k.len, 4); /* v4-mapped hashes as IPv4 */
	assert_memory_equal(k.ptr, v4bytes, 4);
	l7_hash_key(ip, &req, &v6, &k);
	assert_int_equal(k.len, 16);
	/* the port never matters, the v4-mapped form hashes alike */
	assert_true(l7_hash_request(ip, &req, &a) == l7_hash_request(ip, &req, &mapped));
	assert_true(l7_hash_request(ip, &req, &a) == balance_key_addr(addr_sockaddr(&a), false));

	l7_hash_key(hdr, &req, &a, &k);
	assert_int_equal(k.kind, L7_HASH_HEADER);
	assert_int_equal(k.len, 5);
	assert_memory_equal(k.ptr, "alice", 5);
	assert_true(l7_hash_request(hdr, &req, &a) == balance_key_bytes("alice", 5));
	assert_true(l7_hash_request(hdr, &req, &a) == l7_hash_request(hdr, &req, &v6));

	l7_hash_key(ck, &req, &a, &k);
	assert_int_equal(k.kind, L7_HASH_COOKIE);
	assert_int_equal(k.len, 3);
	assert_memory_equal(k.ptr, "u-7", 3);
	assert_true(l7_hash_request(ck, &req, &a) == balance_key_bytes("u-7", 3));

	/* no such header or cookie: the client address decides */
	parse_req("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	l7_hash_key(hdr, &req, &a, &k);
	assert_int_equal(k.kind, L7_HASH_CLIENT_IP);
	assert_true(l7_hash_request(hdr, &req, &a) == l7_hash_request(ip, &req, &a));
	l7_hash_key(ck, &req, &v6, &k);
	assert_int_equal(k.kind, L7_HASH_CLIENT_IP);
	assert_int_equal(k.len, 16);
	l7_hash_key(ip, &req, NULL, &k);
	assert_int_equal(k.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cookie_find_in), cmocka_unit_test(test_cookie_find_request),
	    cmocka_unit_test(test_cookie_strip),   cmocka_unit_test(test_sticky_server),
	    cmocka_unit_test(test_set_cookie),	   cmocka_unit_test(test_hash_keys),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
