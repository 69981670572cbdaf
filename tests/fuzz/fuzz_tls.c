/* Fuzz target for the server TLS connection (tls.c over the contexts of
 * tls_ctx.c): arbitrary bytes as ClientHello and records into a server
 * SSL object, in pieces, with SNI, ALPN, OCSP and ticket callbacks live
 * (two names, RSA and ECDSA certificates, client certificates optional).
 *
 * Input: byte 0 picks the piece size, the rest is what the client sends.
 * Every outcome must be one of the contract's (plaintext, -EAGAIN, 0 after
 * close_notify, -EPROTO with a reason), output stays bounded, and nothing
 * crashes or leaks. The certificates are made once, in memory, and
 * written to a scratch directory for the set builder. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/tls_testkit.h"
#include "../../l7/tls_ctx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct l7_tls_set *set;

static void make_set(void)
{
	struct tk_cert_opts co = {.cn = "Fuzz CA", .not_after_days = 30, .ca = true};
	struct tk_cert_opts lo = {
	    .cn = "localhost", .san = "DNS:localhost,DNS:*.example.com", .not_after_days = 30};
	EVP_PKEY *cak = tk_key(false), *ek = tk_key(false), *rk = tk_key(true);
	X509 *ca = tk_cert(cak, &co, NULL, NULL), *ec = tk_cert(ek, &lo, ca, cak),
	     *rsa = tk_cert(rk, &lo, ca, cak);
	struct l7_tls_cert_conf certs[2] = {{0}, {0}};
	struct l7_tls_conf conf;
	struct cfg_err err;
	struct tk_dir dir;
	char paths[5][256];

	tk_dir_make(&dir);
	snprintf(paths[0], 256, "%s", tk_write_cert(&dir, "ec.pem", ec, ca));
	snprintf(paths[1], 256, "%s", tk_write_key(&dir, "ec.key", ek));
	snprintf(paths[2], 256, "%s", tk_write_cert(&dir, "rsa.pem", rsa, ca));
	snprintf(paths[3], 256, "%s", tk_write_key(&dir, "rsa.key", rk));
	snprintf(paths[4], 256, "%s", tk_write_cert(&dir, "ca.pem", ca, NULL));
	certs[0].cert = paths[0];
	certs[0].key = paths[1];
	certs[1].cert = paths[2];
	certs[1].key = paths[3];
	l7_tls_conf_init(&conf);
	conf.certs = certs;
	conf.n_certs = 2;
	conf.verify = L7_TLS_VERIFY_OPTIONAL;
	conf.client_ca = paths[4];
	conf.session_cache = 64;
	cfg_err_init(&err);
	if (l7_tls_set_build(&conf, NULL, &set, &err)) {
		fprintf(stderr, "fuzz_tls: %s\n", err.msg);
		abort();
	}
	tk_dir_remove(&dir);
	X509_free(ca);
	X509_free(ec);
	X509_free(rsa);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(ek);
	EVP_PKEY_free(rk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t plain[32768];
	struct l7_tls t;
	size_t off = 1, piece;

	if (!set)
		make_set();
	if (size < 1)
		return 0;
	piece = (size_t)data[0] * 8 + 1;
	if (l7_tls_init(&t, set, 1))
		return 0;
	while (off < size) {
		size_t n = size - off < piece ? size - off : piece, used = 0;
		ssize_t r = l7_tls_recv(&t, data + off, n, &used, plain, sizeof(plain));

		assert(used <= n);
		off += used;
		assert(l7_tls_out_bytes(&t) < L7_TLS_OUT_MAX);
		l7_tls_out_consume(&t, l7_tls_out_bytes(&t));
		if (r == -EPROTO) {
			char line[256];

			assert(l7_tls_reason(&t) != L7_TLS_OK);
			assert(l7_tls_state(&t) == L7_TLS_FAILED);
			l7_tls_describe(&t, line, sizeof(line));
			break;
		}
		assert(r == -EAGAIN || r >= 0);
		if (r == 0)
			break; /* close_notify */
		if (!used && r == -EAGAIN)
			break; /* nothing more taken: needs input we do not have */
	}
	if (l7_tls_is_open(&t)) {
		l7_tls_send(&t, "HTTP/1.1 200 OK\r\n\r\n", 19);
		l7_tls_close(&t);
	}
	l7_tls_on_eof(&t);
	l7_tls_fini(&t);
	return 0;
}
