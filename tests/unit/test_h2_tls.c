/* The two modules composed as the engine will use them: an OpenSSL client
 * offering ALPN h2 with nghttp2 on top, against l7_tls + l7_h2 in memory.
 * Plaintext from l7_tls_recv goes into l7_h2_recv; frames from l7_h2 go
 * through l7_tls_send, with both output bounds respected (a full TLS
 * output leaves the rest of the frames in h2->out). A GET and a 300 kB
 * POST answered with a 300 kB body cross in both directions; then a
 * graceful GOAWAY and close_notify end the connection cleanly. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "h2_testkit.h"
#include "tls_testkit.h"
#include "../../l7/tls_ctx.h"

static struct tk_dir dir;
static X509 *ca;
static struct l7_tls_set *set;

static int setup(void **state)
{
	struct tk_cert_opts co = {.cn = "CA", .not_after_days = 30, .ca = true};
	struct tk_cert_opts lo = {.cn = "localhost", .san = "DNS:localhost", .not_after_days = 30};
	EVP_PKEY *cak = tk_key(false), *k = tk_key(false);
	struct l7_tls_cert_conf cc = {0};
	struct l7_tls_conf conf;
	struct cfg_err err;
	X509 *x;
	char cert[256], key[256];

	tk_dir_make(&dir);
	ca = tk_cert(cak, &co, NULL, NULL);
	x = tk_cert(k, &lo, ca, cak);
	snprintf(cert, sizeof(cert), "%s", tk_write_cert(&dir, "l.pem", x, ca));
	snprintf(key, sizeof(key), "%s", tk_write_key(&dir, "l.key", k));
	cc.cert = cert;
	cc.key = key;
	l7_tls_conf_init(&conf);
	conf.certs = &cc;
	conf.n_certs = 1;
	cfg_err_init(&err);
	if (l7_tls_set_build(&conf, NULL, &set, &err))
		return -1;
	X509_free(x);
	EVP_PKEY_free(k);
	EVP_PKEY_free(cak);
	return 0;
}

static int teardown(void **state)
{
	l7_tls_set_put(set);
	X509_free(ca);
	tk_dir_remove(&dir);
	return 0;
}

struct conn {
	struct tk_client tc; /* the TLS client */
	struct hk_client hc; /* nghttp2 on top of it */
	struct l7_tls tls;
	struct hk_engine e;
};

/* The engine's glue, server side: frames into TLS records while the TLS
 * output has room; what does not fit stays in h2->out for later. */
static void server_send(struct conn *c)
{
	struct iovec iov[16];
	unsigned k;

	while ((k = l7_h2_out_iov(c->e.h2, iov, 16)) > 0) {
		size_t taken = 0;
		bool full = false;

		for (unsigned i = 0; i < k && !full; i++) {
			ssize_t r = l7_tls_send(&c->tls, iov[i].iov_base, iov[i].iov_len);

			if (r < 0) {
				full = true;
				break;
			}
			taken += (size_t)r;
			full = (size_t)r < iov[i].iov_len;
		}
		if (taken)
			l7_h2_out_consume(c->e.h2, taken);
		if (full || !taken)
			break;
	}
}

/* The engine's glue, receive side: each received segment through TLS,
 * the plaintext into HTTP/2. */
static void server_recv(struct conn *c, const char *p, size_t n)
{
	uint8_t plain[16384];
	size_t off = 0;

	for (;;) {
		size_t used = 0;
		ssize_t r = l7_tls_recv(&c->tls, p + off, n - off, &used, plain, sizeof(plain));

		off += used;
		if (r > 0)
			assert_true(l7_h2_recv(c->e.h2, plain, (size_t)r) == r);
		if (r <= 0 && off == n)
			break;
		assert_true(r != -EPROTO);
	}
}

/* One round of the network: client frames out, server in and out. */
static bool pump(struct conn *c)
{
	const uint8_t *p;
	ssize_t n;
	bool moved = false;
	char *q;
	long len;
	uint8_t buf[16384];
	size_t got;
	struct iovec iov[16];
	unsigned k;

	while ((n = nghttp2_session_mem_send(c->hc.s, &p)) > 0) {
		assert_int_equal(SSL_write(c->tc.ssl, p, (int)n), (int)n);
		moved = true;
	}
	len = BIO_get_mem_data(c->tc.wbio, &q);
	if (len > 0) {
		server_recv(c, q, (size_t)len);
		BIO_reset(c->tc.wbio);
		moved = true;
	}
	server_send(c);
	/* the TLS output never holds much more than its bound */
	assert_true(l7_tls_out_bytes(&c->tls) < L7_TLS_OUT_MAX + 2 * L7_TLS_RECORD_MAX);
	while ((k = l7_tls_out_iov(&c->tls, iov, 16)) > 0) {
		size_t sent = 0;

		for (unsigned i = 0; i < k; i++) {
			BIO_write(c->tc.rbio, iov[i].iov_base, (int)iov[i].iov_len);
			sent += iov[i].iov_len;
		}
		l7_tls_out_consume(&c->tls, sent);
		moved = true;
	}
	while (SSL_read_ex(c->tc.ssl, buf, sizeof(buf), &got)) {
		nghttp2_session_mem_recv(c->hc.s, buf, got);
		moved = true;
	}
	ERR_clear_error();
	return moved;
}

static void run(struct conn *c)
{
	for (int i = 0; i < 10000 && pump(c); i++)
		;
}

static void test_h2_over_tls(void **state)
{
	static const unsigned char alpn[] = "\x02h2\x08http/1.1";
	static uint8_t up[300000], down[300000];
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n";
	struct l7_h2_conf hconf;
	SSL_CTX *cctx = tk_client_ctx(ca);
	struct conn c;
	nghttp2_nv get[] = {HK_NV(":method", "GET"), HK_NV(":scheme", "https"),
			    HK_NV(":authority", "localhost"), HK_NV(":path", "/")};
	nghttp2_nv post[] = {HK_NV(":method", "POST"), HK_NV(":scheme", "https"),
			     HK_NV(":authority", "localhost"), HK_NV(":path", "/up"),
			     HK_NV("content-length", "300000")};
	struct l7_h2_stream *st;
	size_t off = 0;

	for (size_t i = 0; i < sizeof(up); i++) {
		up[i] = (uint8_t)(i * 13);
		down[i] = (uint8_t)(i * 7 + 1);
	}
	memset(&c, 0, sizeof(c));
	assert_int_equal(l7_tls_init(&c.tls, set, 9), 0);
	tk_client_new(&c.tc, cctx, "localhost", alpn, 12);
	assert_true(tk_handshake(&c.tc, &c.tls));
	assert_int_equal(l7_tls_alpn(&c.tls), L7_ALPN_H2);
	l7_h2_conf_init(&hconf);
	hk_engine_start(&c.e, &hconf);
	c.e.auto_consume = true;
	c.e.auto_head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
	c.e.auto_body = "ok";
	hk_client_start(&c.hc, 0);
	hk_request(&c.hc, get, 4, NULL, 0);
	run(&c);
	assert_int_equal(hk_resp(&c.hc, 1)->status, 200);
	assert_int_equal(hk_resp(&c.hc, 1)->blen, 2);

	/* the big exchange: the engine answers by hand, chunk by chunk */
	c.e.auto_head = NULL;
	hk_request(&c.hc, post, 5, up, sizeof(up));
	run(&c);
	st = hk_stream(&c.e, 3);
	assert_non_null(st);
	assert_int_equal(st->body_in, sizeof(up));
	assert_true(l7_h2_body_done(st));
	assert_int_equal(l7_h2_respond_head(st, (const uint8_t *)head, strlen(head), false), 0);
	while (off < sizeof(down) && (st = hk_stream(&c.e, 3))) {
		ssize_t n = l7_h2_respond_body(st, down + off, sizeof(down) - off, true);

		assert_true(n >= 0);
		off += (size_t)n;
		run(&c);
	}
	run(&c);
	assert_int_equal(off, sizeof(down));
	assert_int_equal(hk_resp(&c.hc, 3)->status, 200);
	assert_int_equal(hk_resp(&c.hc, 3)->blen, sizeof(down));
	assert_memory_equal(hk_resp(&c.hc, 3)->body, down, sizeof(down));

	/* shutdown: GOAWAY, then close_notify once the session is done */
	l7_h2_shutdown(c.e.h2, false);
	run(&c);
	assert_true(c.hc.goaways >= 1);
	assert_true(l7_h2_done(c.e.h2));
	assert_int_equal(l7_tls_close(&c.tls), 0);
	run(&c);
	SSL_shutdown(c.tc.ssl);
	run(&c);
	assert_int_equal(l7_tls_state(&c.tls), L7_TLS_CLOSED);

	hk_client_free(&c.hc);
	l7_h2_free(c.e.h2);
	tk_client_free(&c.tc);
	l7_tls_fini(&c.tls);
	SSL_CTX_free(cctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_h2_over_tls),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
