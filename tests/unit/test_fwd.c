/* fwd: forwarding headers in the upstream head, byte for byte: replaced for
 * ordinary clients (v4, v6, v4-mapped, unix), extended or kept for trusted
 * forwarders, each switch off, route overrides; X-Request-Id from the PPv2
 * unique id (escaped, numbered per request) or generated (unique across
 * threads); the RFC 7239 node forms. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "../../l7/fwd.h"
#include "../../l7/headers.h"
#include "../../l7/http1_parse.h"
#include "../../l7/l7_config.h"

static const char config[] =
    "node_name = \"l7-test\";\n"
    "listeners = (\n"
    " { name = \"plain\"; listen = \"127.0.0.1:1\"; proxy_protocol = \"off\"; },\n"
    " { name = \"trusting\"; listen = \"127.0.0.1:2\"; proxy_protocol = \"off\";\n"
    "   trusted_forwarders = [ \"192.0.2.0/24\", \"2001:db8::/32\" ];\n"
    "   forwarded_headers = { forwarded_by = true; }; },\n"
    " { name = \"quiet\"; listen = \"127.0.0.1:3\"; proxy_protocol = \"off\";\n"
    "   trusted_forwarders = \"192.0.2.0/24\";\n"
    "   forwarded_headers = { x_forwarded_for = false; x_real_ip = false; x_forwarded_proto = "
    "false;\n"
    "     x_forwarded_host = false; forwarded = false; x_request_id = false; }; },\n"
    " { name = \"xff-only\"; listen = \"127.0.0.1:4\"; proxy_protocol = \"off\";\n"
    "   forwarded_headers = { x_real_ip = false; x_forwarded_proto = false; x_forwarded_host = "
    "false;\n"
    "     forwarded = false; x_request_id = false; }; }\n"
    ");\n"
    "upstreams = ( { name = \"u\"; servers = ( { address = \"127.0.0.1:9\"; } ); } );\n"
    "routes = (\n"
    " { name = \"override\"; match = { path_prefix = \"/override/\"; }; upstream = \"u\";\n"
    "   request_headers = { set = ( [ \"X-Forwarded-Proto\", \"https\" ] ); remove = [ "
    "\"X-Request-Id\" ]; }; },\n"
    " { name = \"d\"; upstream = \"u\"; }\n"
    ");\n";

static struct l7_snapshot *snap;
static struct http1_request req;
static uint8_t out[8192];
static char *guarded;
static size_t guarded_len;
static struct addr client, local;

static int setup(void **state)
{
	struct cfg_err err;

	cfg_err_init(&err);
	if (l7_config_build_string("fwd.conf", config, &snap, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	snap_put(&snap->hdr);
	if (guarded)
		guard_free(guarded, guarded_len);
	return 0;
}

static void parse_req(const char *text)
{
	static char buf[4096];
	enum http1_err err;
	size_t n = 0;

	for (const char *p = text; *p; p++) {
		if (*p == '\n')
			buf[n++] = '\r';
		buf[n++] = *p;
	}
	if (guarded)
		guard_free(guarded, guarded_len);
	guarded = guard_dup(buf, n);
	guarded_len = n;
	if (http1_parse_request(guarded, n, 0, NULL, &req, &err) <= 0)
		fail_msg("request did not parse (%s)", http1_err_name(err));
}

static void set_addr(struct addr *a, const char *text)
{
	const char *why;

	assert_int_equal(addr_parse(text, strlen(text), ADDR_F_UNIX, 0, a, &why), 0);
}

static struct l7_req_ctx ctx_for(const char *listener, const char *route, const char *client_text)
{
	struct l7_req_ctx c = {.snap = snap,
			       .listener = l7_config_listener(snap, listener),
			       .route = l7_config_route(snap, route),
			       .req = &req,
			       .client = &client,
			       .unique_id = (const uint8_t *)"l4-conn-1",
			       .unique_id_len = 9,
			       .request_seq = 1,
			       .framing = L7_FRAME_NONE,
			       .conn = L7_CONN_OMIT};

	assert_non_null(c.listener);
	set_addr(&client, client_text);
	return c;
}

static const char *head(const struct l7_req_ctx *c)
{
	int n = l7_build_upstream_head(out, sizeof(out) - 1, c);

	assert_true(n > 0);
	out[n] = '\0';
	return (const char *)out;
}

static const char spoofed[] = "GET / HTTP/1.1\nHost: app.example:8080\nX-Forwarded-For: 1.2.3.4\n"
			      "X-Real-IP: 6.6.6.6\nForwarded: for=6.6.6.6\nX-Request-Id: evil\n"
			      "X-Forwarded-Proto: https\nX-Forwarded-Host: evil.example\n"
			      "Accept: */*\n\n";

static void test_replaced_v4(void **state)
{
	struct l7_req_ctx c = ctx_for("plain", "d", "203.0.113.7:40000");

	parse_req(spoofed);
	assert_string_equal(head(&c),
			    "GET / HTTP/1.1\r\n"
			    "Host: app.example:8080\r\n"
			    "Accept: */*\r\n"
			    "X-Forwarded-For: 203.0.113.7\r\n"
			    "X-Real-IP: 203.0.113.7\r\n"
			    "X-Forwarded-Proto: http\r\n"
			    "X-Forwarded-Host: app.example:8080\r\n"
			    "Forwarded: for=203.0.113.7;host=\"app.example:8080\";proto=http\r\n"
			    "X-Request-Id: l4-conn-1\r\n\r\n");
}

static void test_replaced_v6_and_mapped(void **state)
{
	struct l7_req_ctx c = ctx_for("plain", "d", "[2001:db9::1]:443");

	parse_req("GET /x HTTP/1.1\nHost: h\nx-forwarded-for: 1.2.3.4\n\n");
	c.https = true;
	c.request_id = "given-id";
	c.request_id_len = 8;
	assert_string_equal(head(&c), "GET /x HTTP/1.1\r\n"
				      "Host: h\r\n"
				      "X-Forwarded-For: 2001:db9::1\r\n"
				      "X-Real-IP: 2001:db9::1\r\n"
				      "X-Forwarded-Proto: https\r\n"
				      "X-Forwarded-Host: h\r\n"
				      "Forwarded: for=\"[2001:db9::1]\";host=h;proto=https\r\n"
				      "X-Request-Id: given-id\r\n\r\n");
	/* a dual-stack listener's ::ffff:a.b.c.d is the IPv4 client */
	c = ctx_for("xff-only", "d", "[::ffff:10.1.2.3]:5");
	assert_string_equal(head(&c),
			    "GET /x HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.1.2.3\r\n\r\n");
	/* no IP to tell (a unix socket peer): nothing invented */
	c = ctx_for("plain", "d", "unix:/run/x.sock");
	c.unique_id = NULL;
	c.request_id = "r";
	c.request_id_len = 1;
	assert_string_equal(head(&c), "GET /x HTTP/1.1\r\n"
				      "Host: h\r\n"
				      "X-Forwarded-Proto: http\r\n"
				      "X-Forwarded-Host: h\r\n"
				      "Forwarded: for=unknown;host=h;proto=http\r\n"
				      "X-Request-Id: r\r\n\r\n");
}

static void test_trusted_forwarder_extends(void **state)
{
	struct l7_req_ctx c = ctx_for("trusting", "d", "192.0.2.10:1234");

	parse_req("GET / HTTP/1.1\nHost: h\nX-Forwarded-For: 1.2.3.4\nX-Real-IP: 1.2.3.4\n"
		  "X-Forwarded-For: 5.6.7.8\nForwarded: for=1.2.3.4\nX-Request-Id: cdn-77\n"
		  "X-Forwarded-Proto: https\n\n");
	set_addr(&local, "10.0.0.1:80");
	c.local = &local;
	assert_string_equal(head(&c),
			    "GET / HTTP/1.1\r\n"
			    "Host: h\r\n"
			    "X-Real-IP: 1.2.3.4\r\n"
			    "X-Request-Id: cdn-77\r\n"
			    "X-Forwarded-Proto: https\r\n"
			    "X-Forwarded-For: 1.2.3.4, 5.6.7.8, 192.0.2.10\r\n"
			    "X-Forwarded-Host: h\r\n"
			    "Forwarded: for=1.2.3.4, for=192.0.2.10;by=\"10.0.0.1:80\";host=h;"
			    "proto=http\r\n\r\n");
	/* a trusted forwarder that sent nothing gets ours, IPv6 by= bracketed */
	c = ctx_for("trusting", "d", "[2001:db8::5]:1");
	set_addr(&local, "[2001:db8::80]:443");
	c.local = &local;
	parse_req("GET / HTTP/1.1\nHost: h\n\n");
	assert_string_equal(head(&c),
			    "GET / HTTP/1.1\r\n"
			    "Host: h\r\n"
			    "X-Forwarded-For: 2001:db8::5\r\n"
			    "X-Real-IP: 2001:db8::5\r\n"
			    "X-Forwarded-Proto: http\r\n"
			    "X-Forwarded-Host: h\r\n"
			    "Forwarded: for=\"[2001:db8::5]\";by=\"[2001:db8::80]:443\";host=h;"
			    "proto=http\r\n"
			    "X-Request-Id: l4-conn-1\r\n\r\n");
	/* the same headers from outside the trusted range are replaced */
	c = ctx_for("trusting", "d", "198.51.100.1:1");
	parse_req("GET / HTTP/1.1\nHost: h\nX-Forwarded-For: 1.2.3.4\n\n");
	assert_non_null(strstr(head(&c), "\r\nX-Forwarded-For: 198.51.100.1\r\n"));
	assert_null(strstr((char *)out, "1.2.3.4"));
}

static void test_switches_off(void **state)
{
	struct l7_req_ctx c = ctx_for("quiet", "d", "203.0.113.7:1");

	/* untrusted: the client's copies go, ours are not added */
	parse_req(spoofed);
	assert_string_equal(head(&c),
			    "GET / HTTP/1.1\r\nHost: app.example:8080\r\nAccept: */*\r\n\r\n");
	/* a trusted forwarder's pass unchanged */
	c = ctx_for("quiet", "d", "192.0.2.1:1");
	assert_string_equal(head(&c), "GET / HTTP/1.1\r\n"
				      "Host: app.example:8080\r\n"
				      "X-Forwarded-For: 1.2.3.4\r\n"
				      "X-Real-IP: 6.6.6.6\r\n"
				      "Forwarded: for=6.6.6.6\r\n"
				      "X-Request-Id: evil\r\n"
				      "X-Forwarded-Proto: https\r\n"
				      "X-Forwarded-Host: evil.example\r\n"
				      "Accept: */*\r\n\r\n");
}

static void test_route_override(void **state)
{
	struct l7_req_ctx c = ctx_for("plain", "override", "203.0.113.7:1");

	parse_req("GET /override/ HTTP/1.1\nHost: h\nX-Forwarded-Proto: http\nX-Request-Id: x\n\n");
	assert_string_equal(head(&c), "GET /override/ HTTP/1.1\r\n"
				      "Host: h\r\n"
				      "X-Forwarded-For: 203.0.113.7\r\n"
				      "X-Real-IP: 203.0.113.7\r\n"
				      "X-Forwarded-Host: h\r\n"
				      "Forwarded: for=203.0.113.7;host=h;proto=http\r\n"
				      "X-Forwarded-Proto: https\r\n\r\n");
}

static void test_request_id_from_unique_id(void **state)
{
	static const uint8_t raw[] = {'a', ' ', 'b', '%', 0x01, 0xff, 'z'};
	uint8_t big[PPV2_UNIQUE_ID_MAX];
	char id[L7_REQUEST_ID_MAX + 1];
	size_t n;

	n = l7_request_id(id, sizeof(id), snap, raw, sizeof(raw), 1);
	id[n] = '\0';
	assert_string_equal(id, "a%20b%25%01%ffz");
	n = l7_request_id(id, sizeof(id), snap, (const uint8_t *)"conn-9", 6, 3);
	id[n] = '\0';
	assert_string_equal(id, "conn-9-3");
	/* the longest unique id, all escaped, with a request number, fits */
	memset(big, 0, sizeof(big));
	n = l7_request_id(id, sizeof(id), snap, big, sizeof(big), UINT64_MAX);
	assert_int_equal(n, 3 * PPV2_UNIQUE_ID_MAX + 1 + 20);
	assert_int_equal(l7_request_id(id, 5, snap, (const uint8_t *)"conn-9", 6, 1), 0);
}

#define GEN 2000
struct gen_arg {
	char ids[GEN][L7_REQUEST_ID_MAX];
	size_t lens[GEN];
};

static void *generate(void *p)
{
	struct gen_arg *g = p;

	for (int i = 0; i < GEN; i++)
		g->lens[i] = l7_request_id(g->ids[i], sizeof(g->ids[i]), snap, NULL, 0, 1);
	return NULL;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_generated_ids_unique(void **state)
{
	struct gen_arg *g = calloc(2, sizeof(*g));
	char **all = calloc(2 * GEN, sizeof(char *));
	pthread_t t;

	assert_non_null(g);
	assert_non_null(all);
	assert_int_equal(pthread_create(&t, NULL, generate, &g[0]), 0);
	generate(&g[1]);
	assert_int_equal(pthread_join(t, NULL), 0);
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < GEN; i++) {
			assert_true(g[k].lens[i] > 0 && g[k].lens[i] < L7_REQUEST_ID_MAX);
			g[k].ids[i][g[k].lens[i]] = '\0';
			assert_int_equal(strncmp(g[k].ids[i], "l7-test-", 8), 0);
			all[k * GEN + i] = g[k].ids[i];
		}
	}
	qsort(all, 2 * GEN, sizeof(char *), cmp_id);
	for (int i = 1; i < 2 * GEN; i++)
		assert_string_not_equal(all[i - 1], all[i]);
	free(all);
	free(g);
}

static void test_node_forms(void **state)
{
	char buf[ADDR_STR_MAX + 8];
	int n;

	set_addr(&client, "192.0.2.43:47011");
	n = l7_fwd_node(buf, sizeof(buf), &client, false);
	assert_int_equal(n, 10);
	buf[n] = '\0';
	assert_string_equal(buf, "192.0.2.43");
	n = l7_fwd_node(buf, sizeof(buf), &client, true);
	buf[n] = '\0';
	assert_string_equal(buf, "\"192.0.2.43:47011\"");
	set_addr(&client, "[2001:db8:cafe::17]:4711");
	n = l7_fwd_node(buf, sizeof(buf), &client, true);
	buf[n] = '\0';
	assert_string_equal(buf, "\"[2001:db8:cafe::17]:4711\""); /* RFC 7239 §6 example */
	n = l7_fwd_node(buf, sizeof(buf), NULL, false);
	buf[n] = '\0';
	assert_string_equal(buf, "unknown");
	assert_int_equal(l7_fwd_node(buf, 3, &client, false), -E2BIG);
}

static void test_header_kinds(void **state)
{
	assert_int_equal(l7_fwd_header_kind("x-forwarded-FOR", 15), L7_FWD_XFF);
	assert_int_equal(l7_fwd_header_kind("X-Real-Ip", 9), L7_FWD_REAL_IP);
	assert_int_equal(l7_fwd_header_kind("X-Forwarded-Proto", 17), L7_FWD_PROTO);
	assert_int_equal(l7_fwd_header_kind("X-Forwarded-Host", 16), L7_FWD_HOST);
	assert_int_equal(l7_fwd_header_kind("FORWARDED", 9), L7_FWD_FORWARDED);
	assert_int_equal(l7_fwd_header_kind("x-request-id", 12), L7_FWD_REQUEST_ID);
	assert_int_equal(l7_fwd_header_kind("X-Forwarded-Fo", 14), -1);
	assert_int_equal(l7_fwd_header_kind("X-Forwarded-Port", 16), -1);
	assert_int_equal(l7_fwd_header_kind("Forwarder", 9), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_replaced_v4),
	    cmocka_unit_test(test_replaced_v6_and_mapped),
	    cmocka_unit_test(test_trusted_forwarder_extends),
	    cmocka_unit_test(test_switches_off),
	    cmocka_unit_test(test_route_override),
	    cmocka_unit_test(test_request_id_from_unique_id),
	    cmocka_unit_test(test_generated_ids_unique),
	    cmocka_unit_test(test_node_forms),
	    cmocka_unit_test(test_header_kinds),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
