/* l7_config: the shipped configs build with the values they say, defaults
 * are what docs/l7-config.md promises, and every refusal has its exact
 * "FILE:LINE: KEY: what" line (table here, and configs/bad/l7-*.conf). */
#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../l7/l7_config.h"
#include "../../l7/tls_ctx.h"

#define NAME "t.conf"

static void go_to_root(void)
{
	static const char self[] = "tests/unit/test_l7_config.c";
	size_t n = strlen(__FILE__) - (sizeof(self) - 1);
	char root[4096];

	/* the tests run from the checkout's root; __FILE__ says where it is */
	if (n > 0 && n < sizeof(root)) {
		memcpy(root, __FILE__, n);
		root[n] = '\0';
		assert_int_equal(chdir(root), 0);
	}
	assert_int_equal(access("configs/local/l7-0.conf", R_OK), 0);
}

static struct l7_snapshot *build_ok(const char *text)
{
	struct l7_snapshot *s = NULL;
	struct cfg_err err;
	int rc;

	cfg_err_init(&err);
	rc = l7_config_build_string(NAME, text, &s, &err);
	if (rc)
		fail_msg("unexpected error: %s", err.msg);
	assert_non_null(s);
	return s;
}

static void expect_error(const char *text, const char *msg)
{
	struct l7_snapshot *s = (void *)1;
	struct cfg_err err;

	cfg_err_init(&err);
	assert_int_equal(l7_config_build_string(NAME, text, &s, &err), -EINVAL);
	assert_null(s);
	assert_string_equal(err.msg, msg);
}

#define MIN_L                                                                                      \
	"listeners = ( { name = \"plain\"; listen = \"127.0.0.1:8100\"; trusted = "                \
	"\"127.0.0.0/8\"; } );\n"
#define MIN_U                                                                                      \
	"upstreams = ( { name = \"echo\"; servers = ( { address = \"127.0.0.1:8200\"; } ); } );\n"
#define MIN_R "routes = ( { name = \"default\"; upstream = \"echo\"; } );\n"

static void test_local_config_values(void **state)
{
	struct l7_snapshot *s;
	const struct l7_listener *l;
	const struct l7_upstream *u;
	const struct l7_route *r;
	struct addr a;
	struct cfg_err err;
	char buf[ADDR_STR_MAX];
	const char *why;

	cfg_err_init(&err);
	assert_int_equal(l7_config_build("configs/local/l7-0.conf", &s, &err), 0);
	assert_string_equal(s->node_name.ptr, "l7-0");
	assert_string_equal(s->admin.socket.ptr, "run/l7-0.sock");
	addr_format(&s->metrics_listen, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:9110");
	assert_int_equal(s->n_listeners, 2);
	l = l7_config_listener(s, "tls");
	assert_non_null(l);
	addr_format(&l->listen[0], buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:8140");
	assert_non_null(l->tls);
	assert_int_equal(l->tls->n_certs, 2);
	/* relative to the config file, so the stack runs from any directory */
	assert_string_equal(l->tls->certs[0].cert,
			    "configs/local/../../run/certs/localhost-ecdsa.pem");
	assert_true(l->tls->alpn_h2 && l->tls->tickets && !l->tls->refuse_authority_mismatch);
	assert_int_equal(l->tls->handshake_timeout_ms, 10000);
	assert_true(l->http2.enabled);
	assert_int_equal(l->http2.max_concurrent_streams, 100);
	l = l7_config_listener(s, "plain");
	assert_non_null(l);
	assert_null(l->tls);
	assert_false(l->http2.h2c);
	addr_format(&l->listen[0], buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:8100");
	assert_int_equal(l->proxy_protocol, L7_PP_REQUIRED);
	assert_int_equal(addr_parse("127.9.9.9:1", 11, 0, 0, &a, &why), 0);
	assert_true(cidr_list_match(&l->trusted, &a));
	assert_int_equal(l->trusted_forwarders.n, 0);
	assert_int_equal(l->fwd, (1u << L7_FWD__COUNT) - 1);
	u = l7_config_upstream(s, "echo");
	assert_non_null(u);
	assert_int_equal(u->n_servers, 3);
	assert_string_equal(u->servers[2].name.ptr, "be-2");
	addr_format(&u->servers[1].address, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:8201");
	assert_int_equal(u->balance, BALANCE_LEAST_CONN);
	assert_true(u->health.enabled);
	assert_int_equal(u->health.timeout_ms, 500);
	assert_int_equal(u->health.expect_lo, 200);
	assert_int_equal(u->health.expect_hi, 399);
	assert_int_equal(u->retry.on, (1u << L7_RETRY__COUNT) - 1);
	assert_int_equal(l7_config_upstream(s, "echo-hash")->balance, BALANCE_MAGLEV);
	assert_int_equal(l7_config_upstream(s, "echo-hash")->hash_key, L7_HASH_HEADER);
	assert_string_equal(l7_config_upstream(s, "echo-sticky")->sticky_cookie.ptr, "SERVERID");
	r = l7_config_route(s, "default");
	assert_non_null(r);
	assert_ptr_equal(r->upstream, u);
	assert_int_equal(r->max_body, 1u << 20);
	assert_int_equal(l7_config_route(s, "l7-status")->action, L7_ACT_RESPOND);
	assert_int_equal(l7_config_route(s, "moved")->action, L7_ACT_REDIRECT);
	assert_int_equal(s->limits.http1.max_header_bytes, 32768);
	assert_int_equal(s->timeouts.keepalive_ms, 60000);
	snap_put(&s->hdr);

	assert_int_equal(l7_config_build("configs/local/l7-1.conf", &s, &err), 0);
	addr_format(&s->listeners[0].listen[0], buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:8101");
	addr_format(&s->listeners[1].listen[0], buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1:8141");
	assert_string_equal(s->admin.socket.ptr, "run/l7-1.sock");
	snap_put(&s->hdr);
}

static void test_defaults(void **state)
{
	struct l7_snapshot *s = build_ok(MIN_L MIN_U MIN_R);
	const struct l7_upstream *u = &s->upstreams[0];
	const struct l7_listener *l = &s->listeners[0];

	assert_int_equal(s->workers, 0); /* one per online CPU */
	assert_null(s->user.ptr);
	assert_null(s->admin.socket.ptr);
	assert_int_equal(addr_family(&s->metrics_listen), AF_UNSPEC);
	assert_false(s->access_log.enabled);
	assert_string_equal(s->access_log.path.ptr, "stderr");
	assert_int_equal(s->log_level, LOG_LVL_INFO);
	assert_int_equal(s->limits.max_conns, 10000);
	assert_int_equal(s->limits.http1.max_request_line, 8192);
	assert_int_equal(s->limits.http1.max_headers, 100);
	assert_int_equal(s->timeouts.client_header_ms, 10000);
	assert_int_equal(s->timeouts.client_body_ms, 30000);
	assert_int_equal(s->timeouts.drain_ms, 30000);
	assert_int_equal(l->proxy_protocol, L7_PP_REQUIRED);
	assert_string_equal(l->health_path.ptr, "/healthz");
	assert_false(l->forwarded_by);
	/* the server's name defaults to its address */
	assert_string_equal(u->servers[0].name.ptr, "127.0.0.1:8200");
	assert_int_equal(u->servers[0].weight, 1);
	assert_false(u->servers[0].backup);
	assert_int_equal(u->balance, BALANCE_LEAST_CONN);
	assert_int_equal(u->sticky_cookie.len, 0);
	assert_int_equal(u->pool.max_idle_per_server, 1024);
	assert_int_equal(u->pool.idle_timeout_ms, 30000);
	assert_int_equal(u->pool.max_requests, 1000);
	assert_int_equal(u->timeouts.connect_ms, 2000);
	assert_int_equal(u->timeouts.send_ms, 10000);
	assert_int_equal(u->timeouts.read_ms, 30000);
	assert_int_equal(u->retry.tries, 2);
	assert_int_equal(u->retry.deadline_ms, 10000);
	assert_false(u->health.enabled);
	assert_string_equal(u->health.method.ptr, "GET");
	assert_string_equal(u->health.path.ptr, "/healthz");
	assert_int_equal(u->health.interval_ms, 1000);
	assert_int_equal(u->health.rise, 2);
	assert_int_equal(u->health.fall, 3);
	assert_int_equal(u->passive.failures, 5);
	assert_int_equal(u->passive.cooldown_ms, 10000);
	assert_int_equal(s->routes[0].match.need, 0);
	assert_false(s->routes[0].buffer_request);
	assert_true(s->node_name.len > 0);
	snap_put(&s->hdr);
}

static void test_match_precomputed(void **state)
{
	struct l7_snapshot *s = build_ok(
	    MIN_L MIN_U "routes = ( { name = \"r\"; upstream = \"echo\";\n"
			"  match = { host = [ \"Example.COM.\", \"*.Api.example.com\" ];\n"
			"            method = [ \"GET\", \"PROPFIND\" ]; path_prefix = \"/a/\";\n"
			"            path_regex = \"^/a/[0-9]+$\"; listeners = [ \"plain\" ];\n"
			"            header = { name = \"X-Env\"; }; cookie = { name = \"beta\"; "
			"value = \"1\"; };\n"
			"            query = { name = \"debug\"; value = \"on\"; }; source = "
			"\"10.0.0.0/8\"; };\n"
			"  request_headers = { set = ( [ \"X-Forwarded-Proto\", \"https\" ] );\n"
			"                      remove = [ \"x-request-id\" ]; add = ( [ \"X-A\", "
			"\"1\" ], [ \"X-A\", \"2\" ] ); }; } );\n");
	const struct l7_match *m = &s->routes[0].match;
	const struct l7_hdr_rules *rq = &s->routes[0].req_hdrs;

	assert_int_equal(m->n_hosts, 2);
	assert_string_equal(m->hosts[0].name.ptr, "example.com");
	assert_false(m->hosts[0].wildcard);
	assert_string_equal(m->hosts[1].name.ptr, ".api.example.com");
	assert_true(m->hosts[1].wildcard);
	assert_int_equal(m->methods, 1u << HTTP1_M_GET);
	assert_int_equal(m->n_other_methods, 1);
	assert_string_equal(m->other_methods[0].ptr, "PROPFIND");
	assert_non_null(m->regex);
	assert_int_equal(m->listeners, 1);
	assert_false(m->header.has_value);
	assert_true(m->cookie.has_value);
	assert_int_equal(m->source.n, 1);
	assert_int_equal(m->need, L7_M_HOST | L7_M_METHOD | L7_M_PREFIX | L7_M_REGEX |
				      L7_M_LISTENER | L7_M_HEADER | L7_M_COOKIE | L7_M_QUERY |
				      L7_M_SOURCE);
	assert_int_equal(rq->n_set, 1);
	assert_int_equal(rq->n_add, 2);
	assert_int_equal(rq->fwd_override, (1u << L7_FWD_PROTO) | (1u << L7_FWD_REQUEST_ID));
	snap_put(&s->hdr);
}

static void test_redirect_template(void **state)
{
	struct l7_snapshot *s =
	    build_ok(MIN_L "routes = ( { name = \"r\"; redirect = { location = "
			   "\"https://$host/x$$y$uri?q=$query$path\"; }; } );\n");
	const struct l7_route *r = &s->routes[0];
	/* "$$" ends one literal and starts the next with a '$' */
	static const uint8_t kinds[] = {L7_TMPL_TEXT, L7_TMPL_HOST, L7_TMPL_TEXT,  L7_TMPL_TEXT,
					L7_TMPL_URI,  L7_TMPL_TEXT, L7_TMPL_QUERY, L7_TMPL_PATH};

	assert_int_equal(r->redirect.status, 302);
	assert_int_equal(r->redirect.n_segs, 8);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(r->redirect.segs[i].kind, kinds[i]);
	assert_string_equal(r->redirect.segs[0].text.ptr, "https://");
	assert_string_equal(r->redirect.segs[2].text.ptr, "/x");
	assert_string_equal(r->redirect.segs[3].text.ptr, "$y");
	assert_string_equal(r->redirect.segs[5].text.ptr, "?q=");
	assert_int_equal(s->n_upstreams, 0);
	snap_put(&s->hdr);
}

struct bad_case {
	const char *text;
	const char *msg;
};

static const struct bad_case bad_cases[] = {
    {"listeners = ( );\n", NAME ":1: listeners: must hold 1 to 64 listeners"},
    {MIN_U MIN_R, NAME ":1: listeners: required key is missing"},
    {"wrokers = 2;\n" MIN_L, NAME ":1: wrokers: unknown key (did you mean 'workers'?)"},
    {"workers = 300;\n" MIN_L, NAME ":1: workers: must be between 0 and 256, got 300"},
    {"log_level = \"loud\";\n" MIN_L,
     NAME ":1: log_level: expected one of \"err\", \"warn\", \"info\", \"debug\", got \"loud\""},
    {"user = \"\";\n" MIN_L,
     NAME ":1: user: must not be empty (omit it to keep the starting user)"},
    {"group = \"g\";\n" MIN_L,
     NAME ":1: group: needs user (privileges are dropped to a user and its group together)"},
    {"cpu_affinity = [ 0, 0 ];\n" MIN_L, NAME ":1: cpu_affinity[1]: CPU 0 listed twice"},
    {"timeouts = { keepalive = \"1500us\"; };\n" MIN_L,
     NAME ":1: timeouts.keepalive: must be a whole number of milliseconds"},
    {"limits = { header_count = 101; };\n" MIN_L,
     NAME ":1: limits.header_count: must be between 1 and 100, got 101"},
    {"listeners = ( { name = \"a b\"; listen = \"127.0.0.1:1\"; proxy_protocol = \"off\"; } );\n",
     NAME ":1: listeners[0].name: must be 1 to 64 characters of A-Z a-z 0-9 . _ -, got \"a b\""},
    {"listeners = ( { name = \"a\"; listen = [ ]; proxy_protocol = \"off\"; } );\n",
     NAME ":1: listeners[0].listen: must list 1 to 16 addresses"},
    {"listeners = ( { name = \"a\"; listen = \"127.0.0.1:1\"; proxy_protocol = \"off\";\n"
     "  trusted = \"10.0.0.0/8\"; } );\n",
     NAME ":2: listeners[0].trusted: has no effect with proxy_protocol = \"off\""},
    {"listeners = ( { name = \"a\"; listen = \"127.0.0.1:1\"; proxy_protocol = \"off\";\n"
     "  health_path = \"/h?x\"; } );\n",
     NAME ":2: listeners[0].health_path: expected a path like \"/healthz\" (no query)"},
    {"listeners = ( { name = \"a\"; listen = \"127.0.0.1:1\"; proxy_protocol = \"off\";\n"
     "  forwarded_headers = { x_forwarded_four = true; }; } );\n",
     NAME ":2: listeners[0].forwarded_headers.x_forwarded_four: unknown key (did you mean "
	  "'x_forwarded_for'?)"},
};

static void test_bad_table(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
		expect_error(bad_cases[i].text, bad_cases[i].msg);
}

static const struct bad_case bad_upstreams[] = {
    {"upstreams = ( { name = \"u\"; servers = ( ); } );\n",
     NAME ":2: upstreams[0].servers: must hold 1 to 1024 servers"},
    {"upstreams = ( { name = \"u\"; servers = ( { address = \"127.0.0.1:1\"; backup = true; "
     "} ); } );\n",
     NAME ":2: upstreams[0].servers: no server can take requests: at least one must be a "
	  "primary (backup = false) with weight > 0"},
    {"upstreams = ( { name = \"u\"; servers = ( { address = \"127.0.0.1:1\"; },\n"
     "  { address = \"127.0.0.1:1\"; name = \"b\"; } ); } );\n",
     NAME ":3: upstreams[0].servers[1].address: same address as servers[0] "
	  "(\"127.0.0.1:1\")"},
    {"upstreams = ( { name = \"u\"; balance = \"leastconn\"; servers = ( { address = "
     "\"127.0.0.1:1\"; } ); } );\n",
     NAME ":2: upstreams[0].balance: expected one of \"least_conn\", \"round_robin\", "
	  "\"random2\", \"hash\", got \"leastconn\" (did you mean \"least_conn\"?)"},
    {"upstreams = ( { name = \"u\"; balance = \"hash\"; hash_key = \"ip\"; servers = ( { "
     "address = \"127.0.0.1:1\"; } ); } );\n",
     NAME ":2: upstreams[0].hash_key: expected \"client_ip\", \"header:NAME\" or "
	  "\"cookie:NAME\", got \"ip\""},
    {"upstreams = ( { name = \"u\"; sticky_cookie = \"a;b\"; servers = ( { address = "
     "\"127.0.0.1:1\"; } ); } );\n",
     NAME ":2: upstreams[0].sticky_cookie: expected \"\" (off) or a cookie name like "
	  "\"SERVERID\""},
    {"upstreams = ( { name = \"u\"; retry = { on = [ \"timeout\", \"500\" ]; }; servers = ( { "
     "address = \"127.0.0.1:1\"; } ); } );\n",
     NAME ":2: upstreams[0].retry.on[1]: expected one of \"connect_error\", \"timeout\", "
	  "\"502\", \"503\", \"504\", got \"500\""},
    {"upstreams = ( { name = \"u\"; retry = { tries = 0; }; servers = ( { address = "
     "\"127.0.0.1:1\"; } ); } );\n",
     NAME ":2: upstreams[0].retry.tries: must be between 1 and 16, got 0"},
    {"upstreams = ( { name = \"u\"; health = { interval = \"1s\"; timeout = \"2s\"; }; "
     "servers = ( { address = \"127.0.0.1:1\"; } ); } );\n",
     NAME ":2: upstreams[0].health.timeout: must not be longer than interval (1000ms)"},
    {"upstreams = ( { name = \"u\"; servers = ( { address = \"127.0.0.1:1\"; } ); },\n"
     "  { name = \"u\"; servers = ( { address = \"127.0.0.1:1\"; } ); } );\n",
     NAME ":3: upstreams[1].name: duplicate upstream name \"u\" (first at upstreams[0])"},
};

static void test_bad_upstreams(void **state)
{
	char text[1024];

	for (size_t i = 0; i < sizeof(bad_upstreams) / sizeof(bad_upstreams[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", MIN_L, bad_upstreams[i].text);
		expect_error(text, bad_upstreams[i].msg);
	}
}

static const struct bad_case bad_routes[] = {
    {"routes = ( { upstream = \"echo\"; } );\n",
     NAME ":3: routes[0].name: required key is missing"},
    {"routes = ( { name = \"a\"; upstream = \"echo\"; }, { name = \"a\"; upstream = \"echo\"; } "
     ");\n",
     NAME ":3: routes[1].name: duplicate route name \"a\" (first at routes[0])"},
    {"routes = ( { name = \"a\"; upstream = \"x\"; } );\n",
     NAME ":3: routes[0].upstream: unknown upstream \"x\""},
    {"routes = ( { name = \"a\"; respond = { status = 204; body = \"x\"; }; } );\n",
     NAME ":3: routes[0].respond.body: a 204 response has no body"},
    {"routes = ( { name = \"a\"; respond = { status = 100; }; } );\n",
     NAME ":3: routes[0].respond.status: must be between 200 and 599, got 100"},
    {"routes = ( { name = \"a\"; redirect = { status = 305; location = \"/\"; }; } );\n",
     NAME ":3: routes[0].redirect.status: expected 301, 302, 303, 307 or 308, got 305"},
    {"routes = ( { name = \"a\"; redirect = { status = 301; }; } );\n",
     NAME ":3: routes[0].redirect.location: required key is missing"},
    {"routes = ( { name = \"a\"; redirect = { location = \"/x$\"; }; } );\n",
     NAME ":3: routes[0].redirect.location: unknown variable \"$\" (known: $path, $host, "
	  "$query, $uri; $$ for a '$')"},
    {"routes = ( { name = \"a\"; respond = { }; request_headers = { }; } );\n",
     NAME ":3: routes[0].request_headers: only applies to routes with an upstream"},
    {"routes = ( { name = \"a\"; upstream = \"echo\"; match = { host = \"*\"; }; } );\n",
     NAME ":3: routes[0].match.host: \"*\" is not a pattern: omit host to match every host"},
    {"routes = ( { name = \"a\"; upstream = \"echo\"; match = { host = \"a.*.com\"; }; } );\n",
     NAME ":3: routes[0].match.host: only a leading \"*.\" wildcard is supported"},
    {"routes = ( { name = \"a\"; upstream = \"echo\"; match = { host = \"a.com:80\"; }; } );\n",
     NAME ":3: routes[0].match.host: host patterns match without the port"},
    {"routes = ( { name = \"a\"; upstream = \"echo\"; match = { path = \"api\"; }; } );\n",
     NAME ":3: routes[0].match.path: must start with '/'"},
    {"routes = ( { name = \"a\"; upstream = \"echo\"; match = { path_prefix = \"/a?b\"; }; } );\n",
     NAME ":3: routes[0].match.path_prefix: paths match without the query and hold URI "
	  "characters only (RFC 3986 §3.3)"},
    {"routes = ( { name = \"a\"; upstream = \"echo\"; match = { header = { value = \"1\"; }; }; "
     "} );\n",
     NAME ":3: routes[0].match.header.name: required key is missing"},
    {"routes = ( { name = \"a\"; upstream = \"echo\"; match = { listeners = \"plian\"; }; } );\n",
     NAME ":3: routes[0].match.listeners: unknown listener \"plian\" (did you mean \"plain\"?)"},
    {"routes = ( { name = \"a\"; upstream = \"echo\"; match = { source = [ ]; }; } );\n",
     NAME ":3: routes[0].match.source: must list at least one CIDR"},
    {"routes = ( { name = \"a\"; upstream = \"echo\"; match = { pth = \"/\"; }; } );\n",
     NAME ":3: routes[0].match.pth: unknown key (did you mean 'path'?)"},
    {"routes = ( { name = \"a\"; upstream = \"echo\";\n"
     "  request_headers = { add = ( [ \"Host\", \"x\" ] ); }; } );\n",
     NAME ":4: routes[0].request_headers.add[0]: Host can only be set, not added"},
    {"routes = ( { name = \"a\"; upstream = \"echo\";\n"
     "  request_headers = { set = ( [ \"X-A\", \"1\" ] ); remove = [ \"x-a\" ]; }; } );\n",
     NAME ":4: routes[0].request_headers.set: X-A is both set and removed"},
    {"routes = ( { name = \"a\"; upstream = \"echo\";\n"
     "  response_headers = { set = ( [ \"X-A\" ] ); }; } );\n",
     NAME ":4: routes[0].response_headers.set[0]: expected [ \"Name\", \"value\" ]"},
    {"routes = ( { name = \"a\"; upstream = \"echo\";\n"
     "  response_headers = { add = ( [ \"X-A\", \" padded\" ] ); }; } );\n",
     NAME ":4: routes[0].response_headers.add[0]: the value must be printable text without "
	  "leading or trailing spaces, at most 4096 bytes"},
    {"routes = ( { name = \"a\"; upstream = \"echo\";\n"
     "  response_headers = { remove = [ \"Transfer-Encoding\" ]; }; } );\n",
     NAME ":4: routes[0].response_headers.remove[0]: Transfer-Encoding is managed by the "
	  "proxy and cannot be changed"},
    {"routes = ( { name = \"a\"; upstream = \"echo\"; buffer_request = true; max_body = 0; } "
     ");\n",
     NAME ":3: routes[0].max_body: must be between 1 and 64m with buffer_request = true"},
    {"routes = ( { name = \"a\"; respond = { }; buffer_request = true; } );\n",
     NAME ":3: routes[0].buffer_request: only applies to routes with an upstream"},
};

static void test_bad_routes(void **state)
{
	char text[1024];

	for (size_t i = 0; i < sizeof(bad_routes) / sizeof(bad_routes[0]); i++) {
		snprintf(text, sizeof(text), "%s%s%s", MIN_L, MIN_U, bad_routes[i].text);
		expect_error(text, bad_routes[i].msg);
	}
}

#define TLS_L(extra)                                                                               \
	"listeners = ( { name = \"tls\"; listen = \"127.0.0.1:8140\"; proxy_protocol = "           \
	"\"off\"; " extra " } );\n"
#define CERTS "tls = { certificates = ( { cert = \"/x/a.pem\"; key = \"/x/a.key\"; } ); "

/* listeners[].tls and listeners[].http2: parsed into the snapshot (the
 * files are read when a generation is built, or by -t), ALPN follows the
 * http2 group, and the combinations that make no sense are refused. */
static void test_tls_http2_keys(void **state)
{
	struct l7_snapshot *s = build_ok(TLS_L(CERTS "client_verify = \"required\"; client_ca = "
						     "\"ca.pem\"; client_subject_header = "
						     "\"X-Client-Subject\"; authority_mismatch = "
						     "\"refuse\"; };") MIN_U MIN_R);
	const struct l7_tls_conf *t = s->listeners[0].tls;

	assert_non_null(t);
	assert_string_equal(t->certs[0].cert, "/x/a.pem");
	assert_string_equal(t->client_ca, "ca.pem"); /* t.conf has no directory */
	assert_string_equal(t->subject_header, "X-Client-Subject");
	assert_int_equal(t->verify, L7_TLS_VERIFY_REQUIRED);
	assert_true(t->refuse_authority_mismatch && t->alpn_h2);
	snap_put(&s->hdr);

	s = build_ok(TLS_L(CERTS "}; http2 = { enabled = false; };") MIN_U MIN_R);
	assert_false(s->listeners[0].tls->alpn_h2); /* ALPN offers http/1.1 only */
	snap_put(&s->hdr);

	s = build_ok(TLS_L("http2 = { h2c = true; max_concurrent_streams = 7; };") MIN_U MIN_R);
	assert_null(s->listeners[0].tls);
	assert_true(s->listeners[0].http2.h2c);
	assert_int_equal(s->listeners[0].http2.max_concurrent_streams, 7);
	snap_put(&s->hdr);

	expect_error(TLS_L(CERTS "}; http2 = { h2c = true; };") MIN_U MIN_R,
		     NAME ":1: listeners[0].http2.h2c: is for plaintext listeners; a TLS listener "
			  "offers h2 in ALPN");
	expect_error(TLS_L("http2 = { enabled = false; h2c = true; };") MIN_U MIN_R,
		     NAME ":1: listeners[0].http2.h2c: needs enabled = true");
	expect_error(TLS_L("tls = { };") MIN_U MIN_R,
		     NAME ":1: listeners[0].tls.certificates: required key is missing");
	expect_error(TLS_L("tls = 1;") MIN_U MIN_R,
		     NAME ":1: listeners[0].tls: expected a group { ... }, got 1");
	expect_error(TLS_L(CERTS "client_subject_header = \"X-S\"; };") MIN_U MIN_R,
		     NAME ":1: listeners[0].tls.client_subject_header: has no effect with "
			  "client_verify = \"off\"");
	expect_error(TLS_L("http2 = { max_concurrent_streams = 0; };") MIN_U MIN_R,
		     NAME ":1: listeners[0].http2.max_concurrent_streams: must be between 1 and "
			  "10000, got 0");
	expect_error(TLS_L("http = { };") MIN_U MIN_R,
		     NAME ":1: listeners[0].http: unknown key (did you mean 'http2'?)");
}

static void test_syntax_and_include(void **state)
{
	expect_error("workers = ;\n", NAME ":1: syntax error");
	expect_error(MIN_L "@include \"x.inc\"\n", NAME ":2: @include is not allowed here");
	expect_error("workers = 5000000000;\n" MIN_L, NAME
		     ":1: workers: integer 5000000000 does not fit in 32 bits (append L for 64 "
		     "bits)");
}

/* configs/bad/l7-*.conf carry their own "# expect:" line (configs/bad/README.md),
 * checked as `-t` does: the TLS ones name certificate files that load badly. */
static void test_bad_files(void **state)
{
	char line[1024], *nl;
	glob_t g;
	size_t checked = 0;

	assert_int_equal(chdir("configs/bad"), 0);
	assert_int_equal(glob("l7-*.conf", 0, NULL, &g), 0);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		FILE *f = fopen(g.gl_pathv[i], "r");
		void *s;
		struct cfg_err err;

		assert_non_null(f);
		assert_non_null(fgets(line, sizeof(line), f));
		fclose(f);
		assert_int_equal(strncmp(line, "# expect: ", 10), 0);
		if ((nl = strchr(line, '\n')))
			*nl = '\0';
		cfg_err_init(&err);
		assert_int_not_equal(l7_config_check_build(g.gl_pathv[i], &s, &err), 0);
		assert_null(s);
		assert_string_equal(err.msg, line + 10);
		checked++;
	}
	globfree(&g);
	assert_int_equal(chdir("../.."), 0);
	assert_true(checked >= 6);
}

static void test_refcount_and_check(void **state)
{
	struct l7_snapshot *s = build_ok(MIN_L MIN_U MIN_R);
	void *v = NULL;
	struct cfg_err err;

	assert_ptr_equal(snap_get(&s->hdr), &s->hdr);
	snap_put(&s->hdr); /* one left: still readable */
	assert_string_equal(s->listeners[0].name.ptr, "plain");
	snap_put(&s->hdr);
	cfg_err_init(&err);
	/* -t loads the certificates of the TLS listener: made on first use,
	 * as tools/stack does */
	assert_int_equal(system("tools/certs run/certs >/dev/null"), 0);
	assert_int_equal(l7_config_check_build("configs/local/l7-0.conf", &v, &err), 0);
	assert_non_null(v);
	l7_config_check_destroy(v);
	assert_int_not_equal(l7_config_check_build("configs/local/nope.conf", &v, &err), 0);
	assert_null(v);
	assert_string_equal(err.msg,
			    "configs/local/nope.conf: cannot read: No such file or directory");
	l7_snapshot_free(NULL);
	assert_string_equal(l7_pp_mode_name(L7_PP_OPTIONAL), "optional");
	assert_string_equal(l7_fwd_hdr_name(L7_FWD_FORWARDED), "Forwarded");
	assert_string_equal(l7_action_name(L7_ACT_REDIRECT), "redirect");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_local_config_values), cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_match_precomputed),	cmocka_unit_test(test_redirect_template),
	    cmocka_unit_test(test_bad_table),		cmocka_unit_test(test_bad_upstreams),
	    cmocka_unit_test(test_bad_routes),		cmocka_unit_test(test_syntax_and_include),
	    cmocka_unit_test(test_bad_files),		cmocka_unit_test(test_refcount_and_check),
	    cmocka_unit_test(test_tls_http2_keys),
	};

	go_to_root();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
