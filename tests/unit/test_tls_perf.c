/* Handshake cost, in-process: full handshakes per CPU-second of the server
 * side with ECDSA P-256 and RSA-2048 certificates, and resumed ones (TLS
 * 1.3 tickets), through struct l7_tls; next to each, the same handshake on
 * a plain SSL object with OpenSSL's memory BIOs (what any OpenSSL server
 * pays), so the figure shows what our layer adds. Only the server's calls
 * are timed (thread CPU time), the client's work is excluded.
 *
 * As a unit test it runs briefly and checks sane lower bounds; with
 * STRATA_BENCH=1 it runs ten times longer and prints the table quoted in
 * docs/tls.md. */
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

#include "tls_testkit.h"
#include "../../l7/tls_ctx.h"

static struct tk_dir dir;
static X509 *ca;
static EVP_PKEY *cakey;
static struct l7_tls_set *set_ec, *set_rsa;
static unsigned rounds = 1;

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct l7_tls_set *make_set(bool rsa)
{
	struct tk_cert_opts lo = {.cn = "localhost", .san = "DNS:localhost", .not_after_days = 30};
	EVP_PKEY *k = tk_key(rsa);
	struct tk_cert_opts co = {.cn = "CA", .not_after_days = 30, .ca = true};
	struct l7_tls_cert_conf cc = {0};
	struct l7_tls_conf conf;
	struct l7_tls_set *set;
	struct cfg_err err;
	X509 *x;
	char cert[256], key[256];

	if (!ca) {
		cakey = tk_key(false);
		ca = tk_cert(cakey, &co, NULL, NULL);
	}
	x = tk_cert(k, &lo, ca, cakey);
	snprintf(cert, sizeof(cert), "%s", tk_write_cert(&dir, rsa ? "r.pem" : "e.pem", x, NULL));
	snprintf(key, sizeof(key), "%s", tk_write_key(&dir, rsa ? "r.key" : "e.key", k));
	cc.cert = cert;
	cc.key = key;
	l7_tls_conf_init(&conf);
	conf.certs = &cc;
	conf.n_certs = 1;
	cfg_err_init(&err);
	if (l7_tls_set_build(&conf, NULL, &set, &err))
		fail_msg("%s", err.msg);
	X509_free(x);
	EVP_PKEY_free(k);
	return set;
}

static int setup(void **state)
{
	const char *b = getenv("STRATA_BENCH");

	if (b && *b == '1')
		rounds = 10;
	tk_dir_make(&dir);
	set_ec = make_set(false);
	set_rsa = make_set(true);
	return 0;
}

static int teardown(void **state)
{
	l7_tls_set_put(set_ec);
	l7_tls_set_put(set_rsa);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	tk_dir_remove(&dir);
	return 0;
}

/* Server CPU seconds for n handshakes through l7_tls; sess: offer it. */
static double run_l7(struct l7_tls_set *set, SSL_CTX *cctx, SSL_SESSION *sess, unsigned n,
		     unsigned *resumed)
{
	static uint8_t scratch[4096];
	double cpu = 0;

	for (unsigned i = 0; i < n; i++) {
		struct tk_client c;
		struct l7_tls s;
		double t0;

		tk_client_new(&c, cctx, "localhost", NULL, 0);
		if (sess)
			SSL_set_session(c.ssl, sess);
		for (int step = 0; step < 8 && !SSL_is_init_finished(c.ssl); step++) {
			char *p;
			long len;
			size_t used;

			SSL_do_handshake(c.ssl);
			len = BIO_get_mem_data(c.wbio, &p);
			t0 = cpu_now();
			if (step == 0)
				l7_tls_init(&s, set, i);
			l7_tls_recv(&s, p, (size_t)len, &used, scratch, sizeof(scratch));
			cpu += cpu_now() - t0;
			BIO_reset(c.wbio);
			struct iovec iov[8];
			unsigned k = l7_tls_out_iov(&s, iov, 8);
			size_t sent = 0;

			for (unsigned j = 0; j < k; j++) {
				BIO_write(c.rbio, iov[j].iov_base, (int)iov[j].iov_len);
				sent += iov[j].iov_len;
			}
			l7_tls_out_consume(&s, sent);
		}
		SSL_do_handshake(c.ssl);
		assert_true(l7_tls_is_open(&s));
		*resumed += l7_tls_resumed(&s);
		t0 = cpu_now();
		l7_tls_fini(&s);
		cpu += cpu_now() - t0;
		tk_client_free(&c);
	}
	return cpu;
}

/* The yardstick: a bare SSL on memory BIOs from the same context. */
static double run_bare(struct l7_tls_set *set, SSL_CTX *cctx, unsigned n)
{
	double cpu = 0;

	for (unsigned i = 0; i < n; i++) {
		struct tk_client c;
		SSL *s = NULL;
		BIO *in = NULL, *out = NULL;
		double t0;

		tk_client_new(&c, cctx, "localhost", NULL, 0);
		for (int step = 0; step < 8 && !SSL_is_init_finished(c.ssl); step++) {
			char *p;
			long len;

			SSL_do_handshake(c.ssl);
			len = BIO_get_mem_data(c.wbio, &p);
			t0 = cpu_now();
			if (step == 0) {
				s = SSL_new(l7_tls_set_default(set));
				in = BIO_new(BIO_s_mem());
				out = BIO_new(BIO_s_mem());
				SSL_set_bio(s, in, out);
				SSL_set_accept_state(s);
			}
			BIO_write(in, p, (int)len);
			SSL_do_handshake(s);
			cpu += cpu_now() - t0;
			BIO_reset(c.wbio);
			len = BIO_get_mem_data(out, &p);
			BIO_write(c.rbio, p, (int)len);
			BIO_reset(out);
		}
		SSL_do_handshake(c.ssl);
		assert_true(SSL_is_init_finished(s));
		t0 = cpu_now();
		SSL_free(s);
		cpu += cpu_now() - t0;
		tk_client_free(&c);
	}
	return cpu;
}

static void report(const char *what, unsigned n, double l7_cpu, double bare_cpu)
{
	if (bare_cpu > 0)
		printf("  %-30s %6.0f /CPU-s  (bare OpenSSL %6.0f /CPU-s: ratio %.2f)\n", what,
		       n / l7_cpu, n / bare_cpu, bare_cpu / l7_cpu);
	else
		printf("  %-30s %6.0f /CPU-s\n", what, n / l7_cpu);
}

static void test_full_ecdsa(void **state)
{
	SSL_CTX *cctx = tk_client_ctx(ca);
	unsigned n = 300 * rounds, resumed = 0;
	double a, b;

	run_l7(set_ec, cctx, NULL, 20, &resumed); /* warm up */
	/* interleaved halves, so drift on a shared machine hits both alike */
	b = run_bare(set_ec, cctx, n / 2);
	a = run_l7(set_ec, cctx, NULL, n / 2, &resumed);
	a += run_l7(set_ec, cctx, NULL, n / 2, &resumed);
	b += run_bare(set_ec, cctx, n / 2);
	assert_int_equal(resumed, 0);
	report("full, ECDSA P-256, TLS 1.3", n, a, b);
	assert_true(n / a > 300);
	SSL_CTX_free(cctx);
}

static void test_full_rsa(void **state)
{
	SSL_CTX *cctx = tk_client_ctx(ca);
	unsigned n = 100 * rounds, resumed = 0;
	double a, b;

	run_l7(set_rsa, cctx, NULL, 5, &resumed);
	b = run_bare(set_rsa, cctx, n / 2);
	a = run_l7(set_rsa, cctx, NULL, n / 2, &resumed);
	a += run_l7(set_rsa, cctx, NULL, n / 2, &resumed);
	b += run_bare(set_rsa, cctx, n / 2);
	report("full, RSA-2048, TLS 1.3", n, a, b);
	assert_true(n / a > 100);
	SSL_CTX_free(cctx);
}

static void test_full_tls12(void **state)
{
	SSL_CTX *cctx = tk_client_ctx(ca);
	unsigned n = 300 * rounds, resumed = 0;
	double a;

	SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
	a = run_l7(set_ec, cctx, NULL, n, &resumed);
	report("full, ECDSA P-256, TLS 1.2", n, a, 0);
	assert_true(n / a > 300);
	SSL_CTX_free(cctx);
}

static void resumed(int max_version, const char *what)
{
	SSL_CTX *cctx = tk_client_ctx(ca);
	unsigned n = 1000 * rounds, resumed = 0;
	struct tk_client c;
	struct l7_tls s;
	SSL_SESSION *sess;
	char buf[8];
	double a;

	if (max_version)
		SSL_CTX_set_max_proto_version(cctx, max_version);
	assert_int_equal(l7_tls_init(&s, set_ec, 1), 0);
	tk_client_new(&c, cctx, "localhost", NULL, 0);
	assert_true(tk_handshake(&c, &s));
	tk_client_read(&c, buf, sizeof(buf));
	sess = SSL_get1_session(c.ssl);
	tk_client_free(&c);
	l7_tls_fini(&s);
	a = run_l7(set_ec, cctx, sess, n, &resumed);
	assert_int_equal(resumed, n);
	report(what, n, a, 0);
	assert_true(n / a > 600);
	SSL_SESSION_free(sess);
	SSL_CTX_free(cctx);
}

/* TLS 1.3 resumption still runs an (EC)DHE exchange (psk_dhe_ke, RFC
 * 8446 §4.2.9) and issues a new ticket; TLS 1.2's does neither. */
static void test_resumed(void **state)
{
	resumed(0, "resumed (ticket), TLS 1.3");
	resumed(TLS1_2_VERSION, "resumed (ticket), TLS 1.2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_ecdsa),
	    cmocka_unit_test(test_full_rsa),
	    cmocka_unit_test(test_full_tls12),
	    cmocka_unit_test(test_resumed),
	};

	printf("server-side TLS handshakes per CPU-second (in-process, one thread):\n");
	return cmocka_run_group_tests(tests, setup, teardown);
}
