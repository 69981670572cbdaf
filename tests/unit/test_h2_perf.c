/* HTTP/2 cost, in-process: requests per CPU-second of the server side
 * through struct l7_h2 (request view built, HTTP/1.1 response head
 * converted, body framed), against nghttp2's client, 100 streams in
 * flight; next to it a bare nghttp2 server session that answers from a
 * fixed header list (what any nghttp2 server pays). Only the server's
 * calls are timed (thread CPU time).
 *
 * As a unit test it runs briefly and checks a sane lower bound; with
 * STRATA_BENCH=1 it runs ten times longer; docs/http2.md quotes it. */
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

#include "h2_testkit.h"

static unsigned rounds = 1;
static double server_cpu;

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n"
			   "Date: Tue, 01 Dec 2026 20:00:00 GMT\r\nConnection: keep-alive\r\n\r\n";
static char body100[101];

static void answer(void *ctx, struct l7_h2_stream *st)
{
	l7_h2_respond_head(st, (const uint8_t *)head, sizeof(head) - 1, false);
	l7_h2_respond_body(st, body100, 100, true);
}

static void close_cb(void *ctx, struct l7_h2_stream *st, uint32_t code)
{
}

static const struct l7_h2_ops ops = {.on_request = answer, .on_close = close_cb};

/* A client with `inflight` GETs outstanding until `total` are answered. */
struct load {
	struct hk_client c;
	unsigned total, done, sent;
};

static const nghttp2_nv get_nva[] = {HK_NV(":method", "GET"),
				     HK_NV(":scheme", "https"),
				     HK_NV(":authority", "bench.test"),
				     HK_NV(":path", "/index.html"),
				     HK_NV("user-agent", "h2-perf/1.0"),
				     HK_NV("accept", "*/*"),
				     HK_NV("accept-encoding", "gzip, deflate")};

static void top_up(struct load *l, unsigned inflight)
{
	while (l->sent < l->total && l->sent - l->done < inflight) {
		nghttp2_submit_request(l->c.s, NULL, get_nva, 7, NULL, NULL);
		l->sent++;
	}
}

static int count_close(nghttp2_session *s, int32_t id, uint32_t code, void *u)
{
	((struct load *)u)->done++;
	return 0;
}

static void client_start(struct load *l, unsigned total)
{
	nghttp2_session_callbacks *cb;

	memset(l, 0, sizeof(*l));
	l->total = total;
	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, count_close);
	nghttp2_session_client_new(&l->c.s, cb, l);
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(l->c.s, NGHTTP2_FLAG_NONE, NULL, 0);
}

/* --- through l7_h2 ---------------------------------------------------------------- */

static double run_l7(unsigned total)
{
	struct l7_h2_conf conf;
	struct load l;
	struct l7_h2 *h2;
	double cpu = 0, t0;

	l7_h2_conf_init(&conf);
	client_start(&l, total);
	t0 = cpu_now();
	h2 = l7_h2_new(&conf, &ops, NULL, 1);
	cpu += cpu_now() - t0;
	while (l.done < total) {
		const uint8_t *p;
		ssize_t n;
		struct iovec iov[64];
		unsigned k;

		top_up(&l, 100);
		while ((n = nghttp2_session_mem_send(l.c.s, &p)) > 0) {
			t0 = cpu_now();
			assert_true(l7_h2_recv(h2, p, (size_t)n) == n);
			cpu += cpu_now() - t0;
		}
		while ((k = l7_h2_out_iov(h2, iov, 64)) > 0) {
			size_t sent = 0;

			for (unsigned i = 0; i < k; i++) {
				nghttp2_session_mem_recv(l.c.s, iov[i].iov_base, iov[i].iov_len);
				sent += iov[i].iov_len;
			}
			t0 = cpu_now();
			l7_h2_out_consume(h2, sent);
			cpu += cpu_now() - t0;
		}
	}
	t0 = cpu_now();
	l7_h2_free(h2);
	cpu += cpu_now() - t0;
	nghttp2_session_del(l.c.s);
	return cpu;
}

/* --- bare nghttp2 ------------------------------------------------------------------- */

static ssize_t bare_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *u)
{
	memcpy(buf, body100, 100);
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	return 100;
}

static int bare_frame(nghttp2_session *s, const nghttp2_frame *f, void *u)
{
	static const nghttp2_nv resp[] = {
	    HK_NV(":status", "200"), HK_NV("content-type", "text/plain"),
	    HK_NV("content-length", "100"), HK_NV("date", "Tue, 01 Dec 2026 20:00:00 GMT")};
	nghttp2_data_provider prd = {.read_callback = bare_read};

	if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST &&
	    (f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		nghttp2_submit_response(s, f->hd.stream_id, resp, 4, &prd);
	return 0;
}

static double run_bare(unsigned total)
{
	nghttp2_session_callbacks *cb;
	nghttp2_session *srv;
	struct load l;
	double cpu = 0, t0;

	client_start(&l, total);
	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, bare_frame);
	t0 = cpu_now();
	nghttp2_session_server_new(&srv, cb, NULL);
	nghttp2_submit_settings(srv, NGHTTP2_FLAG_NONE, NULL, 0);
	cpu += cpu_now() - t0;
	nghttp2_session_callbacks_del(cb);
	while (l.done < total) {
		const uint8_t *p;
		ssize_t n;

		top_up(&l, 100);
		while ((n = nghttp2_session_mem_send(l.c.s, &p)) > 0) {
			t0 = cpu_now();
			nghttp2_session_mem_recv(srv, p, (size_t)n);
			cpu += cpu_now() - t0;
		}
		for (;;) {
			t0 = cpu_now();
			n = nghttp2_session_mem_send(srv, &p);
			cpu += cpu_now() - t0;
			if (n <= 0)
				break;
			nghttp2_session_mem_recv(l.c.s, p, (size_t)n);
		}
	}
	nghttp2_session_del(srv);
	nghttp2_session_del(l.c.s);
	return cpu;
}

static void test_requests(void **state)
{
	unsigned n = 20000 * rounds;
	double a, b;

	memset(body100, 'x', 100);
	run_l7(1000); /* warm up */
	b = run_bare(n / 2);
	a = run_l7(n / 2);
	a += run_l7(n / 2);
	b += run_bare(n / 2);
	server_cpu = a;
	printf("  GET, 100-byte body, 100 in flight: %.0f req/CPU-s = %.2f us/req"
	       "  (bare nghttp2 %.0f req/CPU-s: ratio %.2f)\n",
	       n / a, a / n * 1e6, n / b, b / a);
	assert_true(n / a > 20000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_requests),
	};
	const char *bench = getenv("STRATA_BENCH");

	if (bench && *bench == '1')
		rounds = 10;
	printf("server-side HTTP/2 requests per CPU-second (in-process, one thread):\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
