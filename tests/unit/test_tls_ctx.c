/* tls_ctx.c, tls_policy.c, tls_ocsp.c at handshake time, against real
 * OpenSSL clients: SNI picks the certificate (exact, wildcard one label
 * deep, exact over wildcard, default, strict refusal), RSA or ECDSA by the
 * client's signature algorithms, ALPN h2 / http/1.1 / none / no overlap,
 * client certificates (accepted, expired, wrong CA, missing, optional),
 * the verified subject, OCSP stapling, and the cipher policy. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tls_testkit.h"
#include "../../l7/tls_ctx.h"

static struct tk_dir dir;
static X509 *ca, *ca2, *cl_good, *cl_expired, *cl_foreign;
static EVP_PKEY *cakey, *ca2key, *clkey;
static uint8_t *ocsp_a;
static size_t ocsp_a_len;
static char ca_file[256];

struct srv {
	const char *cn, *san;
	bool rsa;
};

/* A, B answer for example.com (RSA, ECDSA); C for *.wild.test; D for
 * exact.wild.test. A is first: the default. */
static const struct srv srvs[] = {
    {"A", "DNS:example.com,DNS:www.example.com", true},
    {"B", "DNS:example.com,DNS:www.example.com", false},
    {"C", "DNS:*.wild.test", false},
    {"D", "DNS:exact.wild.test", true},
};
#define NSRV (sizeof(srvs) / sizeof(srvs[0]))
static struct l7_tls_cert_conf certs[NSRV];

static char *sdup(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	return d;
}

static X509 *client_cert(X509 *issuer, EVP_PKEY *ikey, const char *cn, long after)
{
	struct tk_cert_opts o = {
	    .cn = cn, .not_before_days = -10, .not_after_days = after, .client = true};

	return tk_cert(clkey, &o, issuer, ikey);
}

static int setup(void **state)
{
	struct tk_cert_opts co = {.cn = "Test CA", .not_after_days = 30, .ca = true};
	char name[32];

	tk_dir_make(&dir);
	cakey = tk_key(false);
	ca2key = tk_key(false);
	clkey = tk_key(false);
	ca = tk_cert(cakey, &co, NULL, NULL);
	co.cn = "Other CA";
	ca2 = tk_cert(ca2key, &co, NULL, NULL);
	snprintf(ca_file, sizeof(ca_file), "%s", tk_write_cert(&dir, "ca.pem", ca, NULL));
	for (unsigned i = 0; i < NSRV; i++) {
		struct tk_cert_opts o = {
		    .cn = srvs[i].cn, .san = srvs[i].san, .not_after_days = 30};
		EVP_PKEY *k = tk_key(srvs[i].rsa);
		X509 *x = tk_cert(k, &o, ca, cakey);

		snprintf(name, sizeof(name), "%s.pem", srvs[i].cn);
		certs[i].cert = sdup(tk_write_cert(&dir, name, x, ca));
		snprintf(name, sizeof(name), "%s.key", srvs[i].cn);
		certs[i].key = sdup(tk_write_key(&dir, name, k));
		if (i == 0) {
			ocsp_a = tk_ocsp(x, ca, cakey, V_OCSP_CERTSTATUS_GOOD, 7, &ocsp_a_len);
			tk_write_bytes(&dir, "A.ocsp", ocsp_a, ocsp_a_len);
		}
		X509_free(x);
		EVP_PKEY_free(k);
	}
	cl_good = client_cert(ca, cakey, "client-1", 10);
	cl_expired = client_cert(ca, cakey, "client-old", -1);
	cl_foreign = client_cert(ca2, ca2key, "client-x", 10);
	return 0;
}

static int teardown(void **state)
{
	for (unsigned i = 0; i < NSRV; i++) {
		free((void *)certs[i].cert);
		free((void *)certs[i].key);
	}
	free(ocsp_a);
	X509_free(ca);
	X509_free(ca2);
	X509_free(cl_good);
	X509_free(cl_expired);
	X509_free(cl_foreign);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(ca2key);
	EVP_PKEY_free(clkey);
	tk_dir_remove(&dir);
	return 0;
}

static struct l7_tls_set *build(struct l7_tls_conf *conf)
{
	struct l7_tls_set *set = NULL;
	struct cfg_err err;

	cfg_err_init(&err);
	if (!conf->certs) {
		conf->certs = certs;
		conf->n_certs = NSRV;
	}
	if (l7_tls_set_build(conf, NULL, &set, &err))
		fail_msg("build: %s", err.msg);
	return set;
}

struct run {
	const char *sni;
	const char *sigalgs;	   /* client signature algorithms, or NULL */
	const unsigned char *alpn; /* wire format */
	unsigned alen;
	X509 *cert; /* client certificate, or NULL */
	bool ocsp;  /* ask for a staple */
	int max_version;
};

struct result {
	bool ok;
	char cn[64];	   /* served certificate */
	char subject[256]; /* l7_tls_peer_subject, "" */
	enum l7_tls_err err;
	enum l7_tls_alpn alpn;
	long staple_len;
	bool staple_same;
	char line[256];
};

static struct result connect_with(struct l7_tls_set *set, const struct run *r)
{
	SSL_CTX *cctx = tk_client_ctx(ca);
	struct result res = {0};
	struct tk_client c;
	struct l7_tls s;
	const unsigned char *st;
	X509 *peer;

	if (r->sigalgs)
		assert_int_equal(SSL_CTX_set1_sigalgs_list(cctx, r->sigalgs), 1);
	if (r->max_version)
		SSL_CTX_set_max_proto_version(cctx, r->max_version);
	if (r->cert) {
		assert_int_equal(SSL_CTX_use_certificate(cctx, r->cert), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey(cctx, clkey), 1);
	}
	assert_int_equal(l7_tls_init(&s, set, 1), 0);
	tk_client_new(&c, cctx, r->sni, r->alpn, r->alen);
	if (r->ocsp)
		SSL_set_tlsext_status_type(c.ssl, TLSEXT_STATUSTYPE_ocsp);
	res.ok = tk_handshake(&c, &s);
	/* TLS 1.3: the client finishes before the server judged its
	 * certificate; a write/read round settles it */
	if (res.ok && r->cert) {
		SSL_write(c.ssl, "x", 1);
		tk_pump(&c, &s, 0, NULL, 0, NULL);
		res.ok = l7_tls_is_open(&s);
	}
	res.err = l7_tls_reason(&s);
	res.alpn = l7_tls_alpn(&s);
	l7_tls_describe(&s, res.line, sizeof(res.line));
	if ((peer = SSL_get0_peer_certificate(c.ssl)))
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, res.cn,
					  sizeof(res.cn));
	if (l7_tls_peer_subject(&s, res.subject, sizeof(res.subject)) < 0)
		res.subject[0] = '\0';
	res.staple_len = SSL_get_tlsext_status_ocsp_resp(c.ssl, &st);
	res.staple_same = res.staple_len == (long)ocsp_a_len && !memcmp(st, ocsp_a, ocsp_a_len);
	tk_client_free(&c);
	l7_tls_fini(&s);
	SSL_CTX_free(cctx);
	return res;
}

static const char *served(struct l7_tls_set *set, const char *sni, const char *sigalgs)
{
	static char cn[64];
	struct run r = {.sni = sni, .sigalgs = sigalgs};
	struct result res = connect_with(set, &r);

	assert_true(res.ok);
	snprintf(cn, sizeof(cn), "%s", res.cn);
	return cn;
}

#define RSA_ALGS "rsa_pss_rsae_sha256:rsa_pkcs1_sha256"
#define EC_ALGS	 "ecdsa_secp256r1_sha256"

static void test_sni_selection(void **state)
{
	struct l7_tls_conf conf;
	struct l7_tls_set *set;

	l7_tls_conf_init(&conf);
	set = build(&conf);
	assert_int_equal(set->n_ctxs, 3); /* (A,B), C, D */
	assert_string_equal(served(set, "example.com", RSA_ALGS), "A");
	assert_string_equal(served(set, "WWW.Example.COM", EC_ALGS), "B");
	assert_string_equal(served(set, "foo.wild.test", NULL), "C");
	assert_string_equal(served(set, "exact.wild.test", NULL), "D"); /* exact wins */
	/* the wildcard stands for one label only: two deep gets the default */
	assert_string_equal(served(set, "a.b.wild.test", RSA_ALGS), "A");
	assert_string_equal(served(set, "wild.test", RSA_ALGS), "A");
	assert_string_equal(served(set, "unknown.org", EC_ALGS), "B");
	assert_string_equal(served(set, NULL, RSA_ALGS), "A");
	/* the lookup itself */
	assert_ptr_equal(l7_tls_set_lookup(set, "example.com."), set->ctxs[0]);
	assert_ptr_equal(l7_tls_set_lookup(set, "x.wild.test"),
			 l7_tls_set_lookup(set, "y.wild.test"));
	assert_ptr_not_equal(l7_tls_set_lookup(set, "x.wild.test"), set->ctxs[0]);
	assert_ptr_equal(l7_tls_set_lookup(set, ".wild.test"), set->ctxs[0]);
	l7_tls_set_put(set);
}

static void test_rsa_or_ecdsa(void **state)
{
	struct l7_tls_conf conf;
	struct l7_tls_set *set;
	struct run r = {.sni = "example.com", .sigalgs = RSA_ALGS, .max_version = TLS1_2_VERSION};

	l7_tls_conf_init(&conf);
	set = build(&conf);
	/* TLS 1.3 and 1.2, each key type */
	assert_string_equal(served(set, "example.com", RSA_ALGS), "A");
	assert_string_equal(served(set, "example.com", EC_ALGS), "B");
	assert_string_equal(connect_with(set, &r).cn, "A");
	r.sigalgs = EC_ALGS;
	assert_string_equal(connect_with(set, &r).cn, "B");
	/* a client that can only verify ECDSA gets nothing from an RSA-only name */
	r.sni = "exact.wild.test";
	r.max_version = 0;
	struct result res = connect_with(set, &r);
	assert_false(res.ok);
	assert_int_equal(res.err, L7_TLS_ERR_NO_SHARED);
	l7_tls_set_put(set);
}

static void test_strict_sni(void **state)
{
	struct l7_tls_conf conf;
	struct l7_tls_set *set;
	struct run r = {.sni = "unknown.org"};
	struct result res;

	l7_tls_conf_init(&conf);
	conf.strict_sni = true;
	set = build(&conf);
	res = connect_with(set, &r);
	assert_false(res.ok);
	assert_int_equal(res.err, L7_TLS_ERR_SNI_UNKNOWN);
	r.sni = NULL;
	assert_int_equal(connect_with(set, &r).err, L7_TLS_ERR_SNI_UNKNOWN);
	assert_null(l7_tls_set_lookup(set, "nope.org"));
	assert_string_equal(served(set, "foo.wild.test", NULL), "C");
	l7_tls_set_put(set);
}

static const unsigned char alpn_h2_h11[] = "\x02h2\x08http/1.1";
static const unsigned char alpn_h11[] = "\x08http/1.1";
static const unsigned char alpn_h2[] = "\x02h2";
static const unsigned char alpn_other[] = "\x06spdy/3";

static void test_alpn(void **state)
{
	struct l7_tls_conf conf;
	struct l7_tls_set *set, *h1only;
	struct run r = {.sni = "example.com", .alpn = alpn_h2_h11, .alen = 12};
	struct result res;

	l7_tls_conf_init(&conf);
	set = build(&conf);
	assert_int_equal(connect_with(set, &r).alpn, L7_ALPN_H2);
	r.alpn = alpn_h11;
	r.alen = 9;
	assert_int_equal(connect_with(set, &r).alpn, L7_ALPN_HTTP11);
	/* the server's order wins: h2 even when the client lists it last */
	static const unsigned char rev[] = "\x08http/1.1\x02h2";
	r.alpn = rev;
	r.alen = 12;
	assert_int_equal(connect_with(set, &r).alpn, L7_ALPN_H2);
	r.alpn = NULL;
	r.alen = 0;
	res = connect_with(set, &r);
	assert_true(res.ok);
	assert_int_equal(res.alpn, L7_ALPN_NONE);
	/* RFC 7301 §3.2: no overlap is a fatal no_application_protocol */
	r.alpn = alpn_other;
	r.alen = 7;
	res = connect_with(set, &r);
	assert_false(res.ok);
	assert_int_equal(res.err, L7_TLS_ERR_ALPN);
	l7_tls_set_put(set);

	/* a listener without HTTP/2 never offers h2 */
	l7_tls_conf_init(&conf);
	conf.alpn_h2 = false;
	h1only = build(&conf);
	r.alpn = alpn_h2_h11;
	r.alen = 12;
	assert_int_equal(connect_with(h1only, &r).alpn, L7_ALPN_HTTP11);
	r.alpn = alpn_h2;
	r.alen = 3;
	assert_int_equal(connect_with(h1only, &r).err, L7_TLS_ERR_ALPN);
	l7_tls_set_put(h1only);
}

static struct l7_tls_set *mtls_set(enum l7_tls_verify v)
{
	struct l7_tls_conf conf;

	l7_tls_conf_init(&conf);
	conf.verify = v;
	conf.client_ca = ca_file;
	conf.subject_header = "X-Client-Subject";
	conf.name = "mtls";
	return build(&conf);
}

static void test_mtls_required(void **state)
{
	struct l7_tls_set *set = mtls_set(L7_TLS_VERIFY_REQUIRED);
	struct run r = {.sni = "example.com", .cert = cl_good};
	struct result res;

	assert_string_equal(set->subject_header, "X-Client-Subject");
	res = connect_with(set, &r);
	assert_true(res.ok);
	assert_string_equal(res.subject, "CN=client-1");

	r.cert = cl_expired;
	res = connect_with(set, &r);
	assert_false(res.ok);
	assert_int_equal(res.err, L7_TLS_ERR_CLIENT_CERT_BAD);
	assert_non_null(strstr(res.line, "certificate has expired"));

	r.cert = cl_foreign;
	res = connect_with(set, &r);
	assert_false(res.ok);
	assert_int_equal(res.err, L7_TLS_ERR_CLIENT_CERT_BAD);
	assert_non_null(strstr(res.line, "unable to get local issuer certificate"));

	/* TLS 1.2 as well */
	r.cert = cl_expired;
	r.max_version = TLS1_2_VERSION;
	assert_int_equal(connect_with(set, &r).err, L7_TLS_ERR_CLIENT_CERT_BAD);

	r.cert = NULL;
	r.max_version = 0;
	res = connect_with(set, &r);
	assert_false(res.ok);
	assert_int_equal(res.err, L7_TLS_ERR_CLIENT_CERT_MISSING);
	l7_tls_set_put(set);
}

static void test_mtls_optional(void **state)
{
	struct l7_tls_set *set = mtls_set(L7_TLS_VERIFY_OPTIONAL);
	struct run r = {.sni = "example.com"};
	struct result res;

	res = connect_with(set, &r);
	assert_true(res.ok);
	assert_string_equal(res.subject, ""); /* -ENOENT: no certificate */
	r.cert = cl_good;
	res = connect_with(set, &r);
	assert_true(res.ok);
	assert_string_equal(res.subject, "CN=client-1");
	/* optional still refuses a certificate that fails verification */
	r.cert = cl_foreign;
	assert_false(connect_with(set, &r).ok);
	l7_tls_set_put(set);
}

static void test_ocsp_staple(void **state)
{
	struct l7_tls_cert_conf cs[NSRV];
	struct l7_tls_conf conf;
	struct l7_tls_set *set;
	struct run r = {.sni = "example.com", .sigalgs = RSA_ALGS, .ocsp = true};
	struct result res;

	memcpy(cs, certs, sizeof(cs));
	cs[0].ocsp = tk_path(&dir, "A.ocsp");
	l7_tls_conf_init(&conf);
	conf.certs = cs;
	conf.n_certs = NSRV;
	set = build(&conf);
	res = connect_with(set, &r);
	assert_true(res.ok);
	assert_true(res.staple_same);
	/* TLS 1.2 carries it in CertificateStatus, 1.3 in the Certificate entry */
	r.max_version = TLS1_2_VERSION;
	assert_true(connect_with(set, &r).staple_same);
	/* not asked: not sent */
	r.ocsp = false;
	r.max_version = 0;
	assert_true(connect_with(set, &r).staple_len <= 0);
	/* the ECDSA certificate has no response configured */
	r.ocsp = true;
	r.sigalgs = EC_ALGS;
	res = connect_with(set, &r);
	assert_true(res.ok);
	assert_string_equal(res.cn, "B");
	assert_true(res.staple_len <= 0);
	l7_tls_set_put(set);
}

/* Only TLS 1.3 configured: a 1.2-only client is refused; a cipher list
 * that allows nothing but one suite is what gets negotiated. */
static void test_policy(void **state)
{
	struct l7_tls_conf conf;
	struct l7_tls_set *set;
	struct run r = {.sni = "example.com", .max_version = TLS1_2_VERSION};

	l7_tls_conf_init(&conf);
	conf.min_version = TLS1_3_VERSION;
	set = build(&conf);
	assert_int_equal(connect_with(set, &r).err, L7_TLS_ERR_VERSION);
	l7_tls_set_put(set);

	l7_tls_conf_init(&conf);
	conf.ciphers = "ECDHE-ECDSA-CHACHA20-POLY1305";
	set = build(&conf);
	r.sigalgs = EC_ALGS;
	struct tk_client c;
	struct l7_tls s;
	SSL_CTX *cctx = tk_client_ctx(ca);

	SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
	assert_int_equal(l7_tls_init(&s, set, 1), 0);
	tk_client_new(&c, cctx, "example.com", NULL, 0);
	assert_true(tk_handshake(&c, &s));
	assert_string_equal(l7_tls_cipher(&s), "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256");
	tk_client_free(&c);
	l7_tls_fini(&s);
	/* a client offering only CBC suites finds nothing in common */
	SSL_CTX_set_cipher_list(cctx, "ECDHE-ECDSA-AES128-SHA");
	assert_int_equal(l7_tls_init(&s, set, 1), 0);
	tk_client_new(&c, cctx, "example.com", NULL, 0);
	assert_false(tk_handshake(&c, &s));
	assert_int_equal(l7_tls_reason(&s), L7_TLS_ERR_NO_SHARED);
	tk_client_free(&c);
	l7_tls_fini(&s);
	SSL_CTX_free(cctx);
	l7_tls_set_put(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sni_selection), cmocka_unit_test(test_rsa_or_ecdsa),
	    cmocka_unit_test(test_strict_sni),	  cmocka_unit_test(test_alpn),
	    cmocka_unit_test(test_mtls_required), cmocka_unit_test(test_mtls_optional),
	    cmocka_unit_test(test_ocsp_staple),	  cmocka_unit_test(test_policy),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
