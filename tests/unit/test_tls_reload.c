/* tls_conf.c and tls_reload.c: the `tls` group parsed from config text
 * (every key, defaults, relative paths, each refusal with its exact line),
 * set builds that fail with "FILE:LINE: KEY: PATH: why" (missing file, not
 * PEM, key mismatch, weak or unsupported key, expired, no names, bad CA,
 * bad OCSP responses, bad ciphers), and reload: a bad certificate keeps
 * the old set, a good one is published, an open connection made from the
 * old set keeps working, and tickets issued before the reload resume. */
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
#include "../../l7/tls_tickets.h"

static struct tk_dir dir;
static X509 *ca, *leaf;
static EVP_PKEY *cakey;
static char conf_name[256];

static void write_leaf(const char *base, bool rsa, long after, const char *san, const char *cn)
{
	struct tk_cert_opts o = {
	    .cn = cn, .san = san, .not_before_days = after < 0 ? -30 : 0, .not_after_days = after};
	EVP_PKEY *k = tk_key(rsa);
	X509 *x = tk_cert(k, &o, ca, cakey);
	char name[64];

	snprintf(name, sizeof(name), "%s.pem", base);
	tk_write_cert(&dir, name, x, ca);
	snprintf(name, sizeof(name), "%s.key", base);
	tk_write_key(&dir, name, k);
	if (!leaf && after > 0)
		leaf = X509_dup(x);
	X509_free(x);
	EVP_PKEY_free(k);
}

static int setup(void **state)
{
	struct tk_cert_opts co = {.cn = "CA", .not_after_days = 30, .ca = true};
	EVP_PKEY *weak;
	size_t n;
	uint8_t *der;

	tk_dir_make(&dir);
	snprintf(conf_name, sizeof(conf_name), "%s", tk_path(&dir, "l7.conf"));
	cakey = tk_key(false);
	ca = tk_cert(cakey, &co, NULL, NULL);
	tk_write_cert(&dir, "ca.pem", ca, NULL);
	write_leaf("a", false, 30, "DNS:a.test", "a.test"); /* also `leaf` */
	write_leaf("b", true, 30, "DNS:b.test", "b.test");
	write_leaf("old", false, -1, "DNS:old.test", "old.test");
	write_leaf("nosan", false, 30, NULL, "cn-only.test");
	/* a 1024-bit RSA key with a certificate */
	weak = EVP_RSA_gen(1024);
	struct tk_cert_opts wo = {.cn = "weak", .san = "DNS:weak.test", .not_after_days = 30};
	X509 *wx = tk_cert(weak, &wo, ca, cakey);
	tk_write_cert(&dir, "weak.pem", wx, ca);
	tk_write_key(&dir, "weak.key", weak);
	X509_free(wx);
	EVP_PKEY_free(weak);
	tk_write_bytes(&dir, "junk.pem", "not a certificate\n", 18);
	/* OCSP responses for a: good, revoked, stale; one for b */
	der = tk_ocsp(leaf, ca, cakey, V_OCSP_CERTSTATUS_GOOD, 7, &n);
	tk_write_bytes(&dir, "a.ocsp", der, n);
	free(der);
	der = tk_ocsp(leaf, ca, cakey, V_OCSP_CERTSTATUS_REVOKED, 7, &n);
	tk_write_bytes(&dir, "a-revoked.ocsp", der, n);
	free(der);
	der = tk_ocsp(leaf, ca, cakey, V_OCSP_CERTSTATUS_GOOD, -1, &n);
	tk_write_bytes(&dir, "a-stale.ocsp", der, n);
	free(der);
	return 0;
}

static int teardown(void **state)
{
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(cakey);
	tk_dir_remove(&dir);
	return 0;
}

/* Parses "listeners = ( { name = "web"; tls = { BODY }; } );" */
static int parse(const char *body, struct l7_tls_conf *c, struct cfg_err *err)
{
	static char text[4096];
	config_t cfg;
	int r;

	snprintf(text, sizeof(text), "listeners = ( { name = \"web\";\n tls = {\n%s\n };\n } );\n",
		 body);
	cfg_err_init(err);
	if (cfg_load_string(conf_name, text, &cfg, err))
		return -EINVAL;
	r = l7_tls_conf_parse(config_lookup(&cfg, "listeners.[0].tls"), true, c, err);
	config_destroy(&cfg);
	return r;
}

static void parse_ok(const char *body, struct l7_tls_conf *c)
{
	struct cfg_err err;

	if (parse(body, c, &err))
		fail_msg("%s", err.msg);
}

/* The error line, with the scratch directory written as DIR. */
static const char *parse_err(const char *body)
{
	static char out[CFG_ERR_MAX + 64];
	struct l7_tls_conf c;
	struct cfg_err err;
	char *at;

	assert_int_equal(parse(body, &c, &err), -EINVAL);
	snprintf(out, sizeof(out), "%s", err.msg);
	while ((at = strstr(out, dir.path))) {
		size_t n = strlen(dir.path);

		memmove(at + 3, at + n, strlen(at + n) + 1);
		memcpy(at, "DIR", 3);
	}
	return out;
}

static void test_parse_all_keys(void **state)
{
	struct l7_tls_conf c;

	parse_ok("certificates = ( { cert = \"a.pem\"; key = \"a.key\"; ocsp = \"a.ocsp\"; },\n"
		 "  { cert = \"/abs/b.pem\"; names = [ \"B.test\", \"*.b.test\" ]; } );\n"
		 "protocols = [ \"TLSv1.3\" ];\n ciphers = \"ECDHE-RSA-AES128-GCM-SHA256\";\n"
		 "ciphersuites = \"TLS_AES_128_GCM_SHA256\";\n groups = \"X25519\";\n"
		 "prefer_server_ciphers = false;\n strict_sni = true;\n"
		 "client_verify = \"optional\";\n client_ca = \"ca.pem\";\n verify_depth = 2;\n"
		 "client_subject_header = \"X-Client-DN\";\n session_tickets = true;\n"
		 "ticket_rotate = \"10m\";\n session_cache = 5000;\n session_timeout = \"30m\";\n"
		 "handshake_timeout = \"5s\";",
		 &c);
	assert_int_equal(c.n_certs, 2);
	assert_string_equal(c.certs[0].cert, tk_path(&dir, "a.pem"));
	assert_string_equal(c.certs[0].key, tk_path(&dir, "a.key"));
	assert_string_equal(c.certs[0].ocsp, tk_path(&dir, "a.ocsp"));
	assert_string_equal(c.certs[1].cert, "/abs/b.pem");
	assert_null(c.certs[1].key);
	assert_int_equal(c.certs[1].n_names, 2);
	assert_string_equal(c.certs[1].names[1], "*.b.test");
	assert_non_null(strstr(c.certs[1].where, "l7.conf:4: listeners[0].tls.certificates[1]"));
	assert_int_equal(c.min_version, TLS1_3_VERSION);
	assert_int_equal(c.max_version, TLS1_3_VERSION);
	assert_string_equal(c.ciphers, "ECDHE-RSA-AES128-GCM-SHA256");
	assert_string_equal(c.ciphersuites, "TLS_AES_128_GCM_SHA256");
	assert_string_equal(c.groups, "X25519");
	assert_false(c.prefer_server_ciphers);
	assert_true(c.strict_sni);
	assert_int_equal(c.verify, L7_TLS_VERIFY_OPTIONAL);
	assert_string_equal(c.client_ca, tk_path(&dir, "ca.pem"));
	assert_int_equal(c.verify_depth, 2);
	assert_string_equal(c.subject_header, "X-Client-DN");
	assert_true(c.tickets);
	assert_int_equal(c.ticket_rotate_s, 600);
	assert_int_equal(c.session_cache, 5000);
	assert_int_equal(c.session_timeout_s, 1800);
	assert_int_equal(c.handshake_timeout_ms, 5000);
	assert_string_equal(c.name, "web");
	assert_true(c.alpn_h2 && c.alpn_http11);
	l7_tls_conf_free(&c);
	assert_null(c.certs);
	l7_tls_conf_free(&c); /* twice is fine */
}

static void test_parse_defaults(void **state)
{
	struct l7_tls_conf c;

	parse_ok("certificates = ( { cert = \"a.pem\"; } );", &c);
	assert_int_equal(c.min_version, TLS1_2_VERSION);
	assert_int_equal(c.max_version, TLS1_3_VERSION);
	assert_string_equal(c.ciphers, L7_TLS_DEFAULT_CIPHERS);
	assert_string_equal(c.ciphersuites, L7_TLS_DEFAULT_SUITES);
	assert_string_equal(c.groups, L7_TLS_DEFAULT_GROUPS);
	assert_true(c.prefer_server_ciphers);
	assert_false(c.strict_sni);
	assert_int_equal(c.verify, L7_TLS_VERIFY_OFF);
	assert_null(c.subject_header);
	assert_true(c.tickets);
	assert_int_equal(c.ticket_rotate_s, 3600);
	assert_null(c.ticket_key_file);
	assert_int_equal(c.session_cache, 0);
	assert_int_equal(c.session_timeout_s, 3600);
	assert_int_equal(c.handshake_timeout_ms, 10000);
	l7_tls_conf_free(&c);
}

static void test_parse_errors(void **state)
{
	assert_string_equal(
	    parse_err("certificate = ( { cert = \"a.pem\"; } );"),
	    "DIR/l7.conf:3: listeners[0].tls.certificate: unknown key (did you mean "
	    "'certificates'?)");
	assert_string_equal(
	    parse_err("strict_sni = false;"),
	    "DIR/l7.conf:2: listeners[0].tls.certificates: required key is missing");
	assert_string_equal(parse_err("certificates = ( { key = \"a.key\"; } );"),
			    "DIR/l7.conf:3: listeners[0].tls.certificates[0].cert: required key is "
			    "missing");
	assert_string_equal(
	    parse_err("certificates = ( { cert = \"a.pem\"; } );\nprotocols = [ \"TLSv1.1\" ];"),
	    "DIR/l7.conf:4: listeners[0].tls.protocols[0]: TLSv1.1 is deprecated and refused (RFC "
	    "8996)");
	assert_string_equal(
	    parse_err("certificates = ( { cert = \"a.pem\"; } );\nprotocols = [ \"TLSv2\" ];"),
	    "DIR/l7.conf:4: listeners[0].tls.protocols[0]: expected \"TLSv1.2\" or \"TLSv1.3\"");
	assert_string_equal(
	    parse_err("certificates = ( { cert = \"a.pem\"; } );\nclient_verify = \"required\";"),
	    "DIR/l7.conf:2: listeners[0].tls.client_ca: required when client_verify is "
	    "\"required\"");
	assert_string_equal(
	    parse_err("certificates = ( { cert = \"a.pem\"; } );\nclient_ca = \"ca.pem\";"),
	    "DIR/l7.conf:4: listeners[0].tls.client_ca: has no effect with client_verify = "
	    "\"off\"");
	assert_string_equal(
	    parse_err("certificates = ( { cert = \"a.pem\"; } );\nclient_verify = \"optional\";\n"
		      "client_ca = \"ca.pem\";\nclient_subject_header = \"X Client\";"),
	    "DIR/l7.conf:6: listeners[0].tls.client_subject_header: is not a header name (a "
	    "token)");
	assert_string_equal(
	    parse_err("certificates = ( { cert = \"a.pem\"; } );\nsession_tickets = false;\n"
		      "ticket_rotate = \"1h\";"),
	    "DIR/l7.conf:5: listeners[0].tls.ticket_rotate: has no effect with session_tickets = "
	    "false");
	assert_string_equal(
	    parse_err("certificates = ( { cert = \"a.pem\"; } );\nticket_rotate = \"0s\";"),
	    "DIR/l7.conf:4: listeners[0].tls.ticket_rotate: must be between 1s and 168h, got "
	    "\"0s\"");
	assert_string_equal(parse_err("certificates = ( { cert = \"a.pem\"; names = [ ]; } );"),
			    "DIR/l7.conf:3: listeners[0].tls.certificates[0].names: needs 1 to 64 "
			    "names");
	assert_string_equal(parse_err("certificates = ( );"),
			    "DIR/l7.conf:3: listeners[0].tls.certificates: needs 1 to 256 "
			    "certificates");
	assert_string_equal(parse_err("certificates = ( { cert = \"\"; } );"),
			    "DIR/l7.conf:3: listeners[0].tls.certificates[0].cert: must not be "
			    "empty");
}

/* Builds from config text; returns the error line with DIR, or "ok". */
static const char *build_msg(const char *body, struct l7_tls_set **out)
{
	static char msg[CFG_ERR_MAX + 64];
	struct l7_tls_conf c;
	struct cfg_err err;
	struct l7_tls_set *set = NULL;
	char *at;

	parse_ok(body, &c);
	cfg_err_init(&err);
	if (l7_tls_set_build(&c, NULL, &set, &err) == 0) {
		l7_tls_conf_free(&c);
		if (out)
			*out = set;
		else
			l7_tls_set_put(set);
		return "ok";
	}
	l7_tls_conf_free(&c);
	snprintf(msg, sizeof(msg), "%s", err.msg);
	while ((at = strstr(msg, dir.path))) {
		size_t n = strlen(dir.path);

		memmove(at + 3, at + n, strlen(at + n) + 1);
		memcpy(at, "DIR", 3);
	}
	return msg;
}

#define PRE "DIR/l7.conf:3: listeners[0].tls.certificates[0]: "

static void test_build_errors(void **state)
{
	assert_string_equal(
	    build_msg("certificates = ( { cert = \"a.pem\"; key = \"a.key\"; } );", NULL), "ok");
	assert_string_equal(build_msg("certificates = ( { cert = \"none.pem\"; } );", NULL),
			    PRE "DIR/none.pem: cannot read: No such file or directory");
	assert_string_equal(build_msg("certificates = ( { cert = \"junk.pem\"; } );", NULL),
			    PRE "DIR/junk.pem: no PEM certificate (no start line)");
	assert_string_equal(build_msg("certificates = ( { cert = \"a.pem\"; } );", NULL),
			    PRE "DIR/a.pem: no usable PEM private key (missing or encrypted)");
	assert_string_equal(
	    build_msg("certificates = ( { cert = \"a.pem\"; key = \"b.key\"; } );", NULL),
	    PRE "DIR/b.key: the key does not match the certificate DIR/a.pem");
	assert_string_equal(
	    build_msg("certificates = ( { cert = \"weak.pem\"; key = \"weak.key\"; } );", NULL),
	    PRE "DIR/weak.key: RSA key of 1024 bits, at least 2048 needed");
	assert_string_equal(
	    build_msg("certificates = ( { cert = \"old.pem\"; key = \"old.key\"; } );", NULL),
	    PRE "DIR/old.pem: certificate has expired");
	assert_string_equal(
	    build_msg("certificates = ( { cert = \"a.pem\"; key = \"a.key\"; names = [ \"a..b\" ]; "
		      "} );",
		      NULL),
	    PRE "DIR/a.pem: name 'a..b' is not a DNS name or *.wildcard");
	/* a certificate without SAN answers for its CN */
	struct l7_tls_set *set = NULL;
	assert_string_equal(
	    build_msg("certificates = ( { cert = \"nosan.pem\"; key = \"nosan.key\"; } );", &set),
	    "ok");
	assert_int_equal(set->n_exact, 1);
	assert_string_equal(set->exact[0].name, "cn-only.test");
	l7_tls_set_put(set);
	/* OCSP responses */
	assert_string_equal(
	    build_msg(
		"certificates = ( { cert = \"a.pem\"; key = \"a.key\"; ocsp = \"a.ocsp\"; } );",
		NULL),
	    "ok");
	assert_string_equal(build_msg("certificates = ( { cert = \"a.pem\"; key = \"a.key\"; "
				      "ocsp = \"a-revoked.ocsp\"; } );",
				      NULL),
			    PRE "DIR/a-revoked.ocsp: response says the certificate is revoked");
	assert_string_equal(build_msg("certificates = ( { cert = \"a.pem\"; key = \"a.key\"; "
				      "ocsp = \"a-stale.ocsp\"; } );",
				      NULL),
			    PRE "DIR/a-stale.ocsp: response is out of date (past nextUpdate or not "
				"yet valid)");
	assert_string_equal(build_msg("certificates = ( { cert = \"b.pem\"; key = \"b.key\"; "
				      "ocsp = \"a.ocsp\"; } );",
				      NULL),
			    PRE "DIR/a.ocsp: response is not for this certificate");
	assert_string_equal(build_msg("certificates = ( { cert = \"a.pem\"; key = \"a.key\"; "
				      "ocsp = \"junk.pem\"; } );",
				      NULL),
			    PRE "DIR/junk.pem: not a DER OCSP response");
	/* policy and CA problems point at the tls group */
	assert_string_equal(build_msg("certificates = ( { cert = \"a.pem\"; key = \"a.key\"; } );\n"
				      "ciphers = \"NOPE\";",
				      NULL),
			    "DIR/l7.conf:2: listeners[0].tls: ciphers: 'NOPE' selects no cipher "
			    "(no cipher match)");
	assert_string_equal(
	    build_msg("certificates = ( { cert = \"a.pem\"; key = \"a.key\"; } );\n"
		      "client_verify = \"required\"; client_ca = \"junk.pem\";",
		      NULL),
	    "DIR/l7.conf:2: listeners[0].tls: client_ca: DIR/junk.pem: no usable CA "
	    "certificate (no certificate or crl found)");
}

/* Reload through a slot: bad keeps old, good replaces; connections on the
 * old set live on; tickets survive. */
static void test_reload(void **state)
{
	struct snap_slot slot;
	struct l7_tls_conf good, good2, bad;
	struct l7_tls_set *s1, *s2, *now;
	struct cfg_err err;
	SSL_CTX *cctx = tk_client_ctx(ca);
	struct tk_client c, c2;
	struct l7_tls s, t;
	SSL_SESSION *sess;
	char buf[16];

	snap_slot_init(&slot);
	parse_ok("certificates = ( { cert = \"a.pem\"; key = \"a.key\"; } );", &good);
	parse_ok("certificates = ( { cert = \"b.pem\"; key = \"b.key\"; } );", &good2);
	parse_ok("certificates = ( { cert = \"b.pem\"; key = \"a.key\"; } );", &bad);
	cfg_err_init(&err);
	assert_int_equal(l7_tls_reload(&slot, &good, &err), 0);
	s1 = (struct l7_tls_set *)(void *)snap_slot_acquire(&slot);

	/* an open connection on the first set, with a ticket */
	assert_int_equal(l7_tls_init(&s, s1, 1), 0);
	tk_client_new(&c, cctx, "a.test", NULL, 0);
	assert_true(tk_handshake(&c, &s));
	tk_client_read(&c, buf, sizeof(buf));
	sess = SSL_get1_session(c.ssl);

	/* a bad key: refused, the old set stays published */
	assert_int_equal(l7_tls_reload(&slot, &bad, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "the key does not match"));
	now = (struct l7_tls_set *)(void *)snap_slot_acquire(&slot);
	assert_ptr_equal(now, s1);
	l7_tls_set_put(now);

	/* a good one: published; same ticket keys */
	cfg_err_init(&err);
	assert_int_equal(l7_tls_reload(&slot, &good2, &err), 0);
	s2 = (struct l7_tls_set *)(void *)snap_slot_acquire(&slot);
	assert_ptr_not_equal(s2, s1);
	assert_ptr_equal(s2->tickets, s1->tickets);
	l7_tls_set_put(s1); /* only the connection holds the old set now */

	/* the old connection still carries data both ways */
	SSL_write(c.ssl, "ping", 4);
	uint8_t plain[16];
	size_t got = 0;
	tk_pump(&c, &s, 0, plain, sizeof(plain), &got);
	assert_int_equal(got, 4);
	assert_int_equal(l7_tls_send(&s, "pong", 4), 4);
	tk_pump(&c, &s, 0, NULL, 0, NULL);
	assert_int_equal(tk_client_read(&c, buf, sizeof(buf)), 4);

	/* a new connection gets the new certificate, and resumes the ticket
	 * made before the reload */
	assert_int_equal(l7_tls_init(&t, s2, 2), 0);
	tk_client_new(&c2, cctx, "a.test", NULL, 0);
	SSL_set_session(c2.ssl, sess);
	assert_true(tk_handshake(&c2, &t));
	assert_true(l7_tls_resumed(&t));
	tk_client_free(&c2);
	l7_tls_fini(&t);
	assert_int_equal(l7_tls_init(&t, s2, 3), 0);
	tk_client_new(&c2, cctx, "b.test", NULL, 0);
	assert_true(tk_handshake(&c2, &t));
	char cn[32];
	X509_NAME_get_text_by_NID(X509_get_subject_name(SSL_get0_peer_certificate(c2.ssl)),
				  NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "b.test");

	tk_client_free(&c2);
	l7_tls_fini(&t);
	tk_client_free(&c);
	l7_tls_fini(&s); /* drops the last reference to the first set */
	SSL_SESSION_free(sess);
	l7_tls_set_put(s2);
	snap_slot_destroy(&slot);
	SSL_CTX_free(cctx);
	l7_tls_conf_free(&good);
	l7_tls_conf_free(&good2);
	l7_tls_conf_free(&bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_all_keys), cmocka_unit_test(test_parse_defaults),
	    cmocka_unit_test(test_parse_errors),   cmocka_unit_test(test_build_errors),
	    cmocka_unit_test(test_reload),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
