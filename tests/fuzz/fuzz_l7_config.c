/* libFuzzer target for the strata-l7 config builder: arbitrary bytes as
 * libconfig text through l7_config_build_string() (config_read_string()
 * plus every l7 check; nothing touches the disk), and, when a snapshot
 * builds, one request through everything that reads it: route match, both
 * head builders, the route's own response, sticky and hash lookups.
 *
 * Invariants: nothing crashes, over-reads or leaks; a failure returns
 * -EINVAL with one error line naming the source and no snapshot; a success
 * returns a snapshot whose every route resolves (upstream routes point into
 * the snapshot's upstreams) and whose heads and responses fit or report
 * -E2BIG.
 *
 * Speed: libconfig 1.5 leaks a token on many syntax errors (cfg.c), and
 * libFuzzer answers every input that leaks with a full LeakSanitizer scan:
 * about 90 inputs a second instead of 2500. So the per-input scan is off by
 * default (LLVMFuzzerInitialize; an explicit -detect_leaks=1 still wins) and
 * LeakSanitizer runs every LEAK_CHECK_EVERY inputs instead (libconfig's own
 * leak is suppressed in common/cfg.c), naming the leaking stack. A per-input
 * heap balance is not used: libFuzzer's RSS-limit thread allocates at its
 * own pace, so the process-wide byte count moves under a single input. */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../l7/headers.h"
#include "../../l7/http1_parse.h"
#include "../../l7/l7_config.h"
#include "../../l7/respond.h"
#include "../../l7/route.h"
#include "../../l7/sticky.h"
#include "fuzz_config_common.h"

#if defined(__has_include)
#if __has_include(<sanitizer/lsan_interface.h>)
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() __lsan_do_recoverable_leak_check()
#endif
#endif
#ifndef LEAK_CHECK
#define LEAK_CHECK() 0
#endif

#define LEAK_CHECK_EVERY 4096

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool warming;
static const char warm_up[] =
    "listeners = ( { name = \"p\"; listen = \"127.0.0.1:1\"; proxy_protocol = \"off\"; } );\n"
    "routes = ( { name = \"r\"; match = { path_regex = \"^/\"; }; respond = { }; } );\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char flag[] = "-detect_leaks=0";
	static char *args[256];
	int n = *argc < 254 ? *argc : 254;

	/* right after the program name, so flags given by hand come later and win */
	args[0] = (*argv)[0];
	args[1] = flag;
	for (int i = 1; i < n; i++)
		args[i + 1] = (*argv)[i];
	args[n + 1] = NULL;
	*argc = n + 1;
	*argv = args;
	/* one-time allocations (time zone state behind gmtime_r(), PCRE2's JIT
	 * allocator) happen here, not inside the first measured input */
	warming = true;
	LLVMFuzzerTestOneInput((const uint8_t *)warm_up, sizeof(warm_up) - 1);
	warming = false;
	return 0;
}

static const char request[] = "GET /api/v1/x?debug=1&a=b HTTP/1.1\r\n"
			      "Host: www.example.com:8080\r\n"
			      "Cookie: beta=1; SERVERID=be-0\r\n"
			      "X-Env: canary\r\n"
			      "X-Forwarded-For: 1.2.3.4\r\n"
			      "Connection: keep-alive, X-Hop\r\n"
			      "X-Hop: 1\r\n"
			      "\r\n";
static const char response[] = "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 2\r\n\r\n";

static void check_routes(const struct l7_snapshot *s)
{
	for (uint32_t i = 0; i < s->n_routes; i++) {
		const struct l7_route *r = &s->routes[i];

		assert(r->name.ptr && r->name.len > 0);
		assert((r->action == L7_ACT_UPSTREAM) == (r->upstream != NULL));
		if (r->upstream)
			assert(r->upstream >= s->upstreams &&
			       r->upstream < s->upstreams + s->n_upstreams);
	}
	for (uint32_t i = 0; i < s->n_upstreams; i++)
		assert(s->upstreams[i].n_servers > 0);
	assert(s->n_listeners > 0);
}

static void exercise(const struct l7_snapshot *s)
{
	static struct http1_request req;
	static struct http1_response resp;
	static uint8_t out[65536 + 8192];
	struct l7_match_ctx mctx = {"www.example.com", 15, NULL};
	const struct l7_route *r;
	enum http1_err herr;
	struct addr client;
	const char *why;
	int n;

	assert(http1_parse_request(request, sizeof(request) - 1, 0, NULL, &req, &herr) > 0);
	assert(http1_parse_response(response, sizeof(response) - 1, 0, NULL, &resp, &herr) > 0);
	assert(addr_parse("10.1.2.3:4", 10, 0, 0, &client, &why) == 0);
	mctx.client = &client;
	r = l7_route_match(s, &s->listeners[0], &req, &mctx);
	if (!r)
		return;
	if (r->action == L7_ACT_SPLIT) {
		/* the engine proxies through the chosen side's upstream copy */
		assert(r->split && r->split->n_sides > 0 && r->split_routes);
		r = &r->split_routes[r->split->n_sides - 1];
		assert(r->action == L7_ACT_UPSTREAM && r->upstream);
	}
	if (r->action == L7_ACT_RESPOND) {
		n = l7_respond_fixed(out, sizeof(out), r, false, false);
		assert(n > 0 || n == -E2BIG);
		return;
	}
	if (r->action == L7_ACT_REDIRECT) {
		n = l7_respond_redirect(out, sizeof(out), r, &req, mctx.host, mctx.host_len, false,
					true);
		assert(n > 0 || n == -E2BIG);
		return;
	}
	struct l7_req_ctx rc = {.snap = s,
				.listener = &s->listeners[0],
				.route = r,
				.req = &req,
				.client = &client,
				.request_seq = 2,
				.framing = L7_FRAME_CHUNKED,
				.conn = L7_CONN_KEEP_ALIVE};
	struct l7_resp_ctx pc = {.route = r,
				 .resp = &resp,
				 .framing = L7_FRAME_LENGTH,
				 .content_length = 2,
				 .conn = L7_CONN_CLOSE,
				 .set_cookie = &r->upstream->servers[0]};

	n = l7_build_upstream_head(out, sizeof(out), &rc);
	assert(n > 0 || n == -E2BIG);
	n = l7_build_client_head(out, sizeof(out), &pc);
	assert(n > 0 || n == -E2BIG);
	(void)l7_sticky_server(r->upstream, &req);
	(void)l7_hash_request(r->upstream, &req, &client);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned long inputs;
	struct l7_snapshot *s = (void *)1;
	struct cfg_err err;
	char *text;
	int rc;

	/* @include is kept: the builder must refuse it itself */
	text = fuzz_cfg_text(data, size, FUZZ_CFG_KEEP_INCLUDE);
	if (!text)
		return 0;
	cfg_err_init(&err);
	rc = l7_config_build_string(FUZZ_CFG_NAME, text, &s, &err);
	if (rc) {
		assert(rc == -EINVAL);
		assert(s == NULL);
		fuzz_cfg_check_err(&err, FUZZ_CFG_NAME);
	} else {
		assert(s != NULL);
		check_routes(s);
		exercise(s);
		snap_put(&s->hdr);
	}
	free(text);
	l7_route_thread_exit(); /* the lazily made regex match data */
	if (!warming && ++inputs % LEAK_CHECK_EVERY == 0)
		assert(LEAK_CHECK() == 0);
	return 0;
}
