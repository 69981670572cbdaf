/* tls.c: one server connection driven from memory against a real OpenSSL
 * client: full handshake (TLS 1.3 and 1.2), data both ways whole and one
 * byte at a time, plaintext backpressure (a full output buffer keeps the
 * input), the output bound, close_notify both ways, truncation, a tampered
 * record, plain HTTP on the TLS port, garbage, and the facts the engine
 * logs. */
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
#include "tls_testkit.h"
#include "../../l7/tls_ctx.h"

static struct tk_dir dir;
static X509 *ca;
static struct l7_tls_set *set;
static SSL_CTX *cctx;

static int setup(void **state)
{
	struct tk_cert_opts ca_o = {.cn = "Test CA", .not_after_days = 30, .ca = true};
	struct tk_cert_opts leaf = {
	    .cn = "localhost", .san = "DNS:localhost", .not_after_days = 30};
	EVP_PKEY *cakey = tk_key(false), *k = tk_key(false);
	struct l7_tls_cert_conf cc = {0};
	struct l7_tls_conf conf;
	struct cfg_err err;
	X509 *x;

	tk_dir_make(&dir);
	ca = tk_cert(cakey, &ca_o, NULL, NULL);
	x = tk_cert(k, &leaf, ca, cakey);
	cc.cert = strdup(tk_write_cert(&dir, "leaf.pem", x, ca));
	cc.key = strdup(tk_write_key(&dir, "leaf.key", k));
	l7_tls_conf_init(&conf);
	conf.certs = &cc;
	conf.n_certs = 1;
	cfg_err_init(&err);
	if (l7_tls_set_build(&conf, NULL, &set, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	free((void *)cc.cert);
	free((void *)cc.key);
	X509_free(x);
	EVP_PKEY_free(k);
	EVP_PKEY_free(cakey);
	cctx = tk_client_ctx(ca);
	return 0;
}

static int teardown(void **state)
{
	SSL_CTX_free(cctx);
	l7_tls_set_put(set);
	X509_free(ca);
	tk_dir_remove(&dir);
	return 0;
}

static void pair(struct tk_client *c, struct l7_tls *s, const char *sni)
{
	assert_int_equal(l7_tls_init(s, set, 7), 0);
	tk_client_new(c, cctx, sni, NULL, 0);
}

static void done(struct tk_client *c, struct l7_tls *s)
{
	tk_client_free(c);
	l7_tls_fini(s);
}

static void test_handshake_and_data(void **state)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	static const char resp[] = "HTTP/1.1 204 No Content\r\n\r\n";
	uint8_t plain[256];
	size_t got = 0;
	char back[64];
	struct tk_client c;
	struct l7_tls s;

	pair(&c, &s, "localhost");
	assert_int_equal(l7_tls_state(&s), L7_TLS_HANDSHAKE);
	assert_int_equal(l7_tls_send(&s, "x", 1), -EAGAIN); /* not before the handshake */
	assert_true(tk_handshake(&c, &s));
	assert_string_equal(l7_tls_version(&s), "TLSv1.3");
	assert_string_equal(l7_tls_sni(&s), "localhost");
	assert_true(l7_tls_sni_matches(&s, "LOCALHOST:8443", 14));
	assert_false(l7_tls_sni_matches(&s, "example.com", 11));
	assert_false(l7_tls_resumed(&s));
	assert_string_equal(l7_tls_cert_type(&s), "ecdsa");
	assert_int_equal(l7_tls_alpn(&s), L7_ALPN_NONE);
	assert_int_equal(SSL_write(c.ssl, req, (int)strlen(req)), (int)strlen(req));
	tk_pump(&c, &s, 0, plain, sizeof(plain), &got);
	assert_int_equal(got, strlen(req));
	assert_memory_equal(plain, req, got);
	assert_int_equal(l7_tls_send(&s, resp, strlen(resp)), (ssize_t)strlen(resp));
	tk_pump(&c, &s, 0, NULL, 0, NULL);
	assert_int_equal(tk_client_read(&c, back, sizeof(back)), strlen(resp));
	assert_memory_equal(back, resp, strlen(resp));
	done(&c, &s);
}

/* Every flight fed one byte at a time, each byte from a guard page. */
static void test_byte_at_a_time(void **state)
{
	static const char msg[] = "hello, split world";
	struct tk_client c;
	struct l7_tls s;
	uint8_t plain[64];
	size_t got = 0;

	pair(&c, &s, "localhost");
	for (int round = 0; round < 20 && !l7_tls_is_open(&s); round++) {
		char *p;
		long n;

		SSL_do_handshake(c.ssl);
		n = BIO_get_mem_data(c.wbio, &p);
		for (long i = 0; i < n; i++) {
			uint8_t *g = guard_dup(p + i, 1);
			size_t used;
			ssize_t r = l7_tls_recv(&s, g, 1, &used, plain, sizeof(plain));

			assert_true(r == -EAGAIN || r > 0);
			assert_int_equal(used, 1);
			guard_free(g, 1);
		}
		BIO_reset(c.wbio);
		tk_pump(&c, &s, 0, NULL, 0, NULL);
	}
	assert_true(l7_tls_is_open(&s));
	SSL_write(c.ssl, msg, (int)strlen(msg));
	tk_pump(&c, &s, 1, plain, sizeof(plain), &got);
	assert_int_equal(got, strlen(msg));
	assert_memory_equal(plain, msg, got);
	done(&c, &s);
}

/* TLS 1.2 with a client that offers only 1.2. */
static void test_tls12(void **state)
{
	struct tk_client c;
	struct l7_tls s;

	pair(&c, &s, "localhost");
	SSL_set_max_proto_version(c.ssl, TLS1_2_VERSION);
	assert_true(tk_handshake(&c, &s));
	assert_string_equal(l7_tls_version(&s), "TLSv1.2");
	/* ECDHE + AEAD only (tls_ctx.h defaults) */
	assert_non_null(strstr(l7_tls_cipher(&s), "ECDHE"));
	assert_non_null(strstr(l7_tls_cipher(&s), "GCM"));
	done(&c, &s);
}

/* A client limited to TLS 1.1 finds no version in common. */
static void test_old_version_refused(void **state)
{
	struct tk_client c;
	struct l7_tls s;

	pair(&c, &s, "localhost");
	SSL_set_security_level(c.ssl, 0);
	SSL_set_min_proto_version(c.ssl, TLS1_VERSION);
	SSL_set_max_proto_version(c.ssl, TLS1_1_VERSION);
	assert_false(tk_handshake(&c, &s));
	assert_int_equal(l7_tls_state(&s), L7_TLS_FAILED);
	assert_int_equal(l7_tls_reason(&s), L7_TLS_ERR_VERSION);
	done(&c, &s);
}

/* Plaintext that does not fit stays in the caller's input. */
static void test_plain_backpressure(void **state)
{
	static uint8_t big[40000], out[100000];
	struct tk_client c;
	struct l7_tls s;
	size_t got = 0, used, off = 0;
	char *p;
	long n;
	ssize_t r;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	pair(&c, &s, "localhost");
	assert_true(tk_handshake(&c, &s));
	assert_int_equal(SSL_write(c.ssl, big, sizeof(big)), (int)sizeof(big));
	n = BIO_get_mem_data(c.wbio, &p);
	/* out has room for 1000 bytes per call: the input is taken in steps */
	while (got < sizeof(big)) {
		r = l7_tls_recv(&s, p + off, (size_t)n - off, &used, out + got, 1000);
		off += used;
		if (r > 0)
			got += (size_t)r;
		else
			assert_int_equal(r, -EAGAIN);
		assert_true(r > 0 || used > 0);
	}
	assert_int_equal(off, (size_t)n);
	assert_memory_equal(out, big, sizeof(big));
	/* cap 0 takes nothing */
	assert_int_equal(l7_tls_recv(&s, p, 0, &used, out, 0), -EAGAIN);
	BIO_reset(c.wbio);
	done(&c, &s);
}

/* The output stops taking plaintext at L7_TLS_OUT_MAX. */
static void test_output_bound(void **state)
{
	static uint8_t chunk[10000];
	struct tk_client c;
	struct l7_tls s;
	size_t total = 0;
	ssize_t r;

	pair(&c, &s, "localhost");
	assert_true(tk_handshake(&c, &s));
	while ((r = l7_tls_send(&s, chunk, sizeof(chunk))) > 0)
		total += (size_t)r;
	assert_int_equal(r, -EAGAIN);
	assert_true(l7_tls_out_bytes(&s) >= L7_TLS_OUT_MAX);
	assert_true(l7_tls_out_bytes(&s) < L7_TLS_OUT_MAX + L7_TLS_RECORD_MAX + 1024);
	assert_true(total >= L7_TLS_OUT_MAX - 2048);
	/* sending some frees room again */
	l7_tls_out_consume(&s, 30000);
	assert_true(l7_tls_send(&s, chunk, sizeof(chunk)) > 0);
	done(&c, &s);
}

static void test_close_notify_from_client(void **state)
{
	struct tk_client c;
	struct l7_tls s;
	uint8_t plain[16];
	size_t used;

	pair(&c, &s, "localhost");
	assert_true(tk_handshake(&c, &s));
	SSL_shutdown(c.ssl);
	assert_int_equal(tk_pump(&c, &s, 0, plain, sizeof(plain), NULL), 0);
	assert_int_equal(l7_tls_state(&s), L7_TLS_PEER_CLOSED);
	/* we may still answer, then say goodbye ourselves */
	assert_int_equal(l7_tls_send(&s, "bye", 3), 3);
	assert_int_equal(l7_tls_close(&s), 0);
	assert_int_equal(l7_tls_state(&s), L7_TLS_CLOSED);
	assert_int_equal(l7_tls_recv(&s, "", 0, &used, plain, sizeof(plain)), 0);
	assert_int_equal(l7_tls_on_eof(&s), 0);
	tk_pump(&c, &s, 0, NULL, 0, NULL);
	assert_int_equal(tk_client_read(&c, plain, sizeof(plain)), 3);
	assert_int_equal(SSL_get_shutdown(c.ssl) & SSL_RECEIVED_SHUTDOWN, SSL_RECEIVED_SHUTDOWN);
	done(&c, &s);
}

static void test_close_notify_from_server(void **state)
{
	struct tk_client c;
	struct l7_tls s;
	char buf[8];

	pair(&c, &s, "localhost");
	assert_true(tk_handshake(&c, &s));
	assert_int_equal(l7_tls_close(&s), 0);
	assert_int_equal(l7_tls_state(&s), L7_TLS_CLOSING);
	assert_int_equal(l7_tls_send(&s, "x", 1), -EPIPE);
	tk_pump(&c, &s, 0, NULL, 0, NULL);
	assert_int_equal(SSL_read(c.ssl, buf, sizeof(buf)), 0);
	assert_int_equal(SSL_get_error(c.ssl, 0), SSL_ERROR_ZERO_RETURN);
	SSL_shutdown(c.ssl); /* the client answers */
	tk_pump(&c, &s, 0, NULL, 0, NULL);
	assert_int_equal(l7_tls_state(&s), L7_TLS_CLOSED);
	done(&c, &s);
}

static void test_truncation(void **state)
{
	struct tk_client c;
	struct l7_tls s;

	pair(&c, &s, "localhost");
	assert_true(tk_handshake(&c, &s));
	assert_int_equal(l7_tls_on_eof(&s), -EPROTO);
	assert_int_equal(l7_tls_reason(&s), L7_TLS_ERR_TRUNCATED);
	done(&c, &s);
}

/* A flipped bit in an application record fails authentication. */
static void test_tampered_record(void **state)
{
	struct tk_client c;
	struct l7_tls s;
	uint8_t plain[64];
	size_t used;
	char *p;
	long n;
	char line[256];

	pair(&c, &s, "localhost");
	assert_true(tk_handshake(&c, &s));
	SSL_write(c.ssl, "secret data", 11);
	n = BIO_get_mem_data(c.wbio, &p);
	assert_true(n > 20);
	p[n - 3] ^= 0x40;
	assert_int_equal(l7_tls_recv(&s, p, (size_t)n, &used, plain, sizeof(plain)), -EPROTO);
	assert_int_equal(l7_tls_reason(&s), L7_TLS_ERR_BAD_RECORD);
	assert_true(l7_tls_out_bytes(&s) > 0); /* the bad_record_mac alert */
	l7_tls_describe(&s, line, sizeof(line));
	assert_non_null(strstr(line, "bad_record"));
	/* a failed connection stays failed */
	assert_int_equal(l7_tls_recv(&s, p, 1, &used, plain, sizeof(plain)), -EPROTO);
	assert_int_equal(used, 0);
	assert_int_equal(l7_tls_send(&s, "x", 1), -EPROTO);
	assert_int_equal(l7_tls_close(&s), -EPROTO);
	BIO_reset(c.wbio);
	done(&c, &s);
}

static void feed_raw(const char *bytes, size_t n, enum l7_tls_err want)
{
	struct l7_tls s;
	uint8_t plain[64];
	size_t used;
	uint8_t *g = guard_dup(bytes, n);

	assert_int_equal(l7_tls_init(&s, set, 1), 0);
	assert_int_equal(l7_tls_recv(&s, g, n, &used, plain, sizeof(plain)), -EPROTO);
	assert_int_equal(l7_tls_reason(&s), want);
	guard_free(g, n);
	l7_tls_fini(&s);
}

static void test_not_tls(void **state)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	/* a handshake record whose ClientHello is cut short and padded */
	static const char junk[] = "\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00";
	/* a record type that does not exist */
	static const char type[] = "\x42\x03\x03\x00\x02\x00\x00";

	feed_raw(http, strlen(http), L7_TLS_ERR_NOT_TLS);
	feed_raw(junk, sizeof(junk) - 1, L7_TLS_ERR_PROTOCOL);
	feed_raw(type, sizeof(type) - 1, L7_TLS_ERR_NOT_TLS);
}

static void test_names(void **state)
{
	for (int e = 0; e < L7_TLS_ERR__COUNT; e++) {
		assert_string_not_equal(l7_tls_err_name((enum l7_tls_err)e), "?");
		assert_true(strlen(l7_tls_err_text((enum l7_tls_err)e)) > 3);
	}
	assert_string_equal(l7_tls_err_name(L7_TLS_ERR__COUNT), "?");
	assert_string_equal(l7_tls_state_name(L7_TLS_OPEN), "open");
	/* fini on a zeroed struct and twice is safe */
	struct l7_tls z;
	memset(&z, 0, sizeof(z));
	l7_tls_fini(&z);
	l7_tls_fini(&z);
	l7_tls_fini(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake_and_data),
	    cmocka_unit_test(test_byte_at_a_time),
	    cmocka_unit_test(test_tls12),
	    cmocka_unit_test(test_old_version_refused),
	    cmocka_unit_test(test_plain_backpressure),
	    cmocka_unit_test(test_output_bound),
	    cmocka_unit_test(test_close_notify_from_client),
	    cmocka_unit_test(test_close_notify_from_server),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_tampered_record),
	    cmocka_unit_test(test_not_tls),
	    cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
