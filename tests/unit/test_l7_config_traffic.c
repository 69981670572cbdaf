/* l7_config_traffic: the traffic-management keys land in the snapshot with
 * the values and defaults docs/l7-config.md "Traffic management" states,
 * split routes get one upstream copy per side, and refusals name the key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../l7/l7_config.h"

#define NAME "t.conf"

#define LISTENER                                                                                   \
	"listeners = ( { name = \"m\"; listen = [ \"127.0.0.1:8100\" ]; proxy_protocol = "         \
	"\"off\"; "                                                                                \
	"%s } );\n"
#define UPS                                                                                        \
	"upstreams = ( { name = \"blue\"; servers = ( { address = \"127.0.0.1:8200\"; } ); %s "    \
	"},\n"                                                                                     \
	"  { name = \"green\"; servers = ( { address = \"127.0.0.1:8201\"; } ); } );\n"

static char text[8192];

static const char *conf(const char *top, const char *lst, const char *ups, const char *routes)
{
	int n = snprintf(text, sizeof(text), "%s\n" LISTENER UPS "routes = ( %s );\n", top, lst,
			 ups, routes);

	assert_true(n > 0 && (size_t)n < sizeof(text));
	return text;
}

static struct l7_snapshot *build_ok(const char *t)
{
	struct l7_snapshot *s = NULL;
	struct cfg_err err;

	cfg_err_init(&err);
	if (l7_config_build_string(NAME, t, &s, &err))
		fail_msg("unexpected error: %s", err.msg);
	return s;
}

static void expect_error(const char *t, const char *msg)
{
	struct l7_snapshot *s = NULL;
	struct cfg_err err;

	cfg_err_init(&err);
	assert_int_equal(l7_config_build_string(NAME, t, &s, &err), -EINVAL);
	assert_null(s);
	assert_string_equal(err.msg, msg);
}

static void test_defaults_without_traffic_keys(void **state)
{
	struct l7_snapshot *s =
	    build_ok(conf("", "", "", "{ name = \"r\"; upstream = \"blue\"; }"));
	const struct l7_upstream *u = &s->upstreams[0];

	assert_int_equal(s->n_rate_limits, 0);
	assert_int_equal(s->rate_limit_table, 262144);
	assert_int_equal(s->listeners[0].max_conns_per_ip, 0);
	assert_int_equal(s->listeners[0].cl_v4_prefix, 32);
	assert_int_equal(s->listeners[0].cl_v6_prefix, 64);
	assert_false(u->has_breaker);
	assert_false(u->breaker.enabled);
	assert_false(u->has_retry_budget);
	assert_int_equal(u->retry_budget.backoff_base_ms, 25);
	assert_int_equal(u->retry_budget.backoff_max_ms, 250);
	assert_int_equal(s->routes[0].n_rate_limits, 0);
	assert_null(s->routes[0].split_routes);
	snap_put(&s->hdr);
}

static void test_values(void **state)
{
	struct l7_snapshot *s = build_ok(conf(
	    "rate_limit_table = 2048;\n"
	    "rate_limits = ( { name = \"per-ip\"; rate = \"10r/s\"; burst = 30; ipv6_prefix = 56; "
	    "},\n"
	    "  { name = \"api\"; rate = \"6000/m\"; key = \"header:X-Api-Key\"; dry_run = true; } "
	    ");",
	    "max_conns_per_ip = 7; conn_limit_ipv4_prefix = 24;",
	    "breaker = { consecutive = 0; latency = \"200ms\"; latency_percentile = 99.9; "
	    "open = \"1s\"; on_open = \"fail\"; max_requests = 100; max_pending = 10; };\n"
	    "retry = { budget_min = 5; backoff = \"10ms\"; };",
	    "{ name = \"r\"; rate_limit = [ \"api\", \"per-ip\" ]; upstream = \"blue\"; }"));
	const struct l7_upstream *u = &s->upstreams[0];
	const struct l7_route *r = &s->routes[0];

	assert_int_equal(s->rate_limit_table, 2048);
	assert_int_equal(s->n_rate_limits, 2);
	assert_string_equal(s->rate_limits[0].name, "per-ip");
	assert_int_equal(s->rate_limits[0].count, 10);
	assert_int_equal(s->rate_limits[0].period_ms, 1000);
	assert_int_equal(s->rate_limits[0].burst, 30);
	assert_int_equal(s->rate_limits[0].v6_prefix, 56);
	assert_int_equal(s->rate_limits[1].key, L7_RL_KEY_HEADER);
	assert_string_equal(s->rate_limits[1].header, "X-Api-Key");
	assert_int_equal(s->rate_limits[1].burst, 6000); /* the count */
	assert_true(s->rate_limits[1].dry_run);
	assert_int_equal(r->n_rate_limits, 2);
	assert_ptr_equal(r->rate_limits[0], &s->rate_limits[1]);
	assert_int_equal(s->listeners[0].max_conns_per_ip, 7);
	assert_int_equal(s->listeners[0].cl_v4_prefix, 24);
	assert_true(u->has_breaker && u->breaker.enabled);
	assert_int_equal(u->breaker.consecutive, 0);
	assert_int_equal(u->breaker.error_percent, 50);
	assert_int_equal(u->breaker.latency_ms, 200);
	assert_int_equal(u->breaker.latency_permille, 999);
	assert_int_equal(u->breaker.open_ms, 1000);
	assert_int_equal(u->breaker.open_max_ms, 60000);
	assert_int_equal(u->breaker.on_open, L7_BRK_ON_OPEN_FAIL);
	assert_int_equal(u->breaker.max_requests, 100);
	assert_int_equal(u->breaker.max_pending, 10);
	assert_true(u->has_retry_budget);
	assert_int_equal(u->retry_budget.percent, 20);
	assert_int_equal(u->retry_budget.min_concurrent, 5);
	assert_int_equal(u->retry_budget.backoff_base_ms, 10);
	assert_int_equal(u->retry_budget.backoff_max_ms, 100);
	snap_put(&s->hdr);
}

static void test_split_route_copies(void **state)
{
	struct l7_snapshot *s = build_ok(conf(
	    "", "", "",
	    "{ name = \"app\"; max_body = \"2k\"; response_headers = { add = ( [ \"X-A\", "
	    "\"1\" ] ); };\n"
	    "  split = { sides = ( { upstream = \"green\"; weight = 5; }, { upstream = \"blue\"; "
	    "weight = 95; } ); sticky = \"cookie:sid\"; force_header = \"X-Side\"; }; }"));
	const struct l7_route *r = &s->routes[0];

	assert_int_equal(r->action, L7_ACT_SPLIT);
	assert_null(r->upstream);
	assert_int_equal(r->split->n_sides, 2);
	assert_string_equal(r->split->sides[0].name, "green");
	assert_int_equal(r->split->sides[1].weight, 95);
	assert_int_equal(r->split->key, L7_SPLIT_KEY_COOKIE);
	assert_string_equal(r->split->key_name, "sid");
	assert_string_equal(r->split->force_header, "X-Side");
	assert_null(r->split->force_cookie);
	for (int i = 0; i < 2; i++) {
		const struct l7_route *c = &r->split_routes[i];

		/* the copy is an upstream route to its side, with the route's rest */
		assert_int_equal(c->action, L7_ACT_UPSTREAM);
		assert_ptr_equal(c->upstream, &s->upstreams[i == 0 ? 1 : 0]);
		assert_int_equal(c->index, r->index);
		assert_string_equal(c->name.ptr, "app");
		assert_int_equal(c->max_body, 2048);
		assert_int_equal(c->resp_hdrs.n_add, 1);
	}
	snap_put(&s->hdr);
}

static void test_refusals(void **state)
{
	expect_error(conf("rate_limits = ( { name = \"a\"; rate = \"5/x\"; } );", "", "",
			  "{ name = \"r\"; upstream = \"blue\"; }"),
		     "t.conf:1: rate_limits[0].rate: unknown period unit (ms, s, m, h or d)");
	expect_error(
	    conf("rate_limits = ( { name = \"a\"; rate = \"5/s\"; }, { name = \"a\"; rate = "
		 "\"1/s\"; } );",
		 "", "", "{ name = \"r\"; upstream = \"blue\"; }"),
	    "t.conf:1: rate_limits[1].name: duplicate rate limit name \"a\" (first at "
	    "rate_limits[0])");
	expect_error(conf("rate_limits = ( { name = \"a\"; rate = \"5/s\"; } );", "", "",
			  "{ name = \"r\"; upstream = \"blue\"; rate_limit = [ \"a\", \"a\" ]; }"),
		     "t.conf:5: routes[0].rate_limit[1]: \"a\" listed twice");
	expect_error(conf("", "", "",
			  "{ name = \"r\"; split = { sides = ( { upstream = \"blue\"; }, "
			  "{ upstream = \"blue\"; } ); }; }"),
		     "t.conf:5: routes[0].split.sides[1].upstream: \"blue\" is already sides[0]");
	expect_error(conf("", "", "",
			  "{ name = \"r\"; upstream = \"blue\"; split = { sides = ( { upstream = "
			  "\"blue\"; } ); }; }"),
		     "t.conf:5: routes[0].split: a route has exactly one action, and "
		     "upstream is already set");
	expect_error(conf("", "", "breaker = { half_open_probes = 0; };",
			  "{ name = \"r\"; upstream = \"blue\"; }"),
		     "t.conf:3: upstreams[0].breaker.half_open_probes: must be between 1 and "
		     "1000, got 0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_without_traffic_keys),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_split_route_copies),
	    cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
