/* Test kit for the TLS modules: certificates made in-process with OpenSSL
 * (a CA, server and client certificates with chosen names, key types and
 * dates, OCSP responses), files in a scratch directory, client SSL objects
 * on memory BIOs, and a pump that moves bytes between such a client and a
 * server struct l7_tls until neither side makes progress.
 *
 * Header-only (static inline) so unit tests and fuzzers include it alone.
 */
#ifndef STRATA_TEST_TLS_TESTKIT_H
#define STRATA_TEST_TLS_TESTKIT_H

#include <dirent.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../l7/tls.h"

#define TK_DIE(...)                                                                                \
	do {                                                                                       \
		fprintf(stderr, "testkit: " __VA_ARGS__);                                          \
		fputc('\n', stderr);                                                               \
		ERR_print_errors_fp(stderr);                                                       \
		abort();                                                                           \
	} while (0)

static inline EVP_PKEY *tk_key(bool rsa)
{
	EVP_PKEY *k = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");

	if (!k)
		TK_DIE("key generation");
	return k;
}

static inline void tk_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!e || !X509_add_ext(x, e, -1))
		TK_DIE("extension %d=%s", nid, value);
	X509_EXTENSION_free(e);
}

/* What a test certificate says. san: "DNS:a,DNS:*.b" or NULL; days from
 * now for notBefore/notAfter (negative: in the past). */
struct tk_cert_opts {
	const char *cn;
	const char *san;
	long not_before_days, not_after_days;
	bool ca;
	bool client; /* extendedKeyUsage clientAuth, else serverAuth */
};

/* A certificate for `key`, signed by issuer/ikey (NULL: self-signed). */
static inline X509 *tk_cert(EVP_PKEY *key, const struct tk_cert_opts *o, X509 *issuer,
			    EVP_PKEY *ikey)
{
	static long serial = 1000;
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	if (!x || !name)
		TK_DIE("x509 alloc");
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), o->not_before_days * 86400);
	X509_gmtime_adj(X509_getm_notAfter(x), o->not_after_days * 86400);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)o->cn, -1, -1,
				   0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_NAME_free(name);
	if (o->ca) {
		tk_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
		tk_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		tk_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
		tk_ext(x, issuer, NID_ext_key_usage, o->client ? "clientAuth" : "serverAuth");
	}
	tk_ext(x, issuer, NID_subject_key_identifier, "hash");
	if (issuer)
		tk_ext(x, issuer, NID_authority_key_identifier, "keyid");
	if (o->san)
		tk_ext(x, issuer, NID_subject_alt_name, o->san);
	if (!X509_sign(x, ikey ? ikey : key, EVP_sha256()))
		TK_DIE("sign");
	return x;
}

/* --- scratch directory --------------------------------------------------------- */

struct tk_dir {
	char path[64];
};

static inline void tk_dir_make(struct tk_dir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/strata-tls-XXXXXX");
	if (!mkdtemp(d->path))
		TK_DIE("mkdtemp");
}

static inline void tk_dir_remove(struct tk_dir *d)
{
	DIR *dir = opendir(d->path);
	struct dirent *e;
	char p[512];

	while (dir && (e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", d->path, e->d_name);
		unlink(p);
	}
	if (dir)
		closedir(dir);
	rmdir(d->path);
}

/* Returns a static path buffer "DIR/name" (valid until the next call with
 * the same slot 0..7). */
static inline const char *tk_path(const struct tk_dir *d, const char *name)
{
	static char bufs[8][256];
	static unsigned next;
	char *b = bufs[next++ % 8];

	snprintf(b, 256, "%s/%s", d->path, name);
	return b;
}

/* Writes cert (+ optional chain cert) as PEM to DIR/name. */
static inline const char *tk_write_cert(const struct tk_dir *d, const char *name, X509 *x,
					X509 *chain)
{
	const char *p = tk_path(d, name);
	FILE *f = fopen(p, "w");

	if (!f || !PEM_write_X509(f, x) || (chain && !PEM_write_X509(f, chain)))
		TK_DIE("write %s", p);
	fclose(f);
	return p;
}

static inline const char *tk_write_key(const struct tk_dir *d, const char *name, EVP_PKEY *k)
{
	const char *p = tk_path(d, name);
	FILE *f = fopen(p, "w");

	if (!f || !PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL))
		TK_DIE("write %s", p);
	fclose(f);
	return p;
}

static inline const char *tk_write_bytes(const struct tk_dir *d, const char *name, const void *b,
					 size_t n)
{
	const char *p = tk_path(d, name);
	FILE *f = fopen(p, "wb");

	if (!f || fwrite(b, 1, n, f) != n)
		TK_DIE("write %s", p);
	fclose(f);
	return p;
}

/* A DER OCSP response for cert, signed by the issuer itself, with status
 * V_OCSP_CERTSTATUS_*; next update `next_days` from now. *len set; free(). */
static inline uint8_t *tk_ocsp(X509 *cert, X509 *issuer, EVP_PKEY *ikey, int status, long next_days,
			       size_t *len)
{
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, cert, issuer);
	ASN1_TIME *now = X509_gmtime_adj(NULL, -60),
		  *next = X509_gmtime_adj(NULL, next_days * 86400);
	ASN1_TIME *rev = status == V_OCSP_CERTSTATUS_REVOKED ? X509_gmtime_adj(NULL, -3600) : NULL;
	OCSP_RESPONSE *resp;
	unsigned char *der = NULL;
	int n;

	if (!bs || !id ||
	    !OCSP_basic_add1_status(bs, id, status, status == V_OCSP_CERTSTATUS_REVOKED ? 0 : -1,
				    rev, now, next) ||
	    !OCSP_basic_sign(bs, issuer, ikey, EVP_sha256(), NULL, 0))
		TK_DIE("ocsp");
	resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
	n = i2d_OCSP_RESPONSE(resp, &der);
	if (n <= 0)
		TK_DIE("ocsp der");
	*len = (size_t)n;
	uint8_t *out = malloc((size_t)n);
	memcpy(out, der, (size_t)n);
	OPENSSL_free(der);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	OCSP_CERTID_free(id);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	ASN1_TIME_free(rev);
	return out;
}

/* --- clients ----------------------------------------------------------------- */

/* A client context trusting `ca` (NULL: no verification), TLS 1.2..1.3. */
/* A test CA and an ECDSA "localhost" certificate it signs, written to `d`
 * (the chain file carries the CA) with their paths strdup'ed.
 * Returns the CA for the client side; tk_localhost_free() undoes it. */
static inline X509 *tk_localhost(struct tk_dir *d, char **cert_path, char **key_path)
{
	struct tk_cert_opts co = {.cn = "CA", .not_after_days = 30, .ca = true};
	struct tk_cert_opts lo = {.cn = "localhost", .san = "DNS:localhost", .not_after_days = 30};
	EVP_PKEY *cakey = tk_key(false), *k = tk_key(false);
	X509 *ca = tk_cert(cakey, &co, NULL, NULL);
	X509 *x = tk_cert(k, &lo, ca, cakey);

	*cert_path = strdup(tk_write_cert(d, "l.pem", x, ca));
	*key_path = strdup(tk_write_key(d, "l.key", k));
	X509_free(x);
	EVP_PKEY_free(k);
	EVP_PKEY_free(cakey);
	return ca;
}

static inline void tk_localhost_free(X509 *ca, char *cert_path, char *key_path)
{
	free(cert_path);
	free(key_path);
	X509_free(ca);
}

static inline SSL_CTX *tk_client_ctx(X509 *ca)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());

	if (!c)
		TK_DIE("client ctx");
	SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
	if (ca) {
		X509_STORE_add_cert(SSL_CTX_get_cert_store(c), ca);
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	}
	/* no client cache: freeing a context marks its cached sessions not
	 * resumable, and tests keep sessions across client contexts */
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	return c;
}

struct tk_client {
	SSL *ssl;
	BIO *rbio, *wbio; /* from the server / to the server */
};

/* A client on memory BIOs; sni and alpn (wire format, alen bytes) optional. */
static inline void tk_client_new(struct tk_client *c, SSL_CTX *ctx, const char *sni,
				 const unsigned char *alpn, unsigned alen)
{
	c->ssl = SSL_new(ctx);
	c->rbio = BIO_new(BIO_s_mem());
	c->wbio = BIO_new(BIO_s_mem());
	if (!c->ssl || !c->rbio || !c->wbio)
		TK_DIE("client");
	BIO_set_mem_eof_return(c->rbio, -1);
	SSL_set_bio(c->ssl, c->rbio, c->wbio);
	SSL_set_connect_state(c->ssl);
	if (sni)
		SSL_set_tlsext_host_name(c->ssl, sni);
	if (alpn)
		SSL_set_alpn_protos(c->ssl, alpn, alen);
}

/* Frees the client after a (one-sided) close_notify: OpenSSL marks the
 * session of an unclean close not resumable. */
static inline void tk_client_free(struct tk_client *c)
{
	if (SSL_is_init_finished(c->ssl))
		SSL_shutdown(c->ssl);
	SSL_free(c->ssl);
	c->ssl = NULL;
}

/* Moves the client's output into the server in pieces of at most `chunk`
 * bytes (0: whole), the server's output back, plaintext the server
 * decrypts into plain/plain_cap (appended at *plain_len). Stops when
 * neither side moves. Returns the server's last l7_tls_recv result. */
static inline ssize_t tk_pump(struct tk_client *c, struct l7_tls *s, size_t chunk, uint8_t *plain,
			      size_t plain_cap, size_t *plain_len)
{
	static uint8_t scratch[1 << 16];
	ssize_t last = -EAGAIN;
	bool moved = true;
	size_t dummy = 0;

	if (!plain_len)
		plain_len = &dummy;
	for (int round = 0; moved && round < 1000; round++) {
		char *p;
		long n;

		moved = false;
		if (!SSL_is_init_finished(c->ssl))
			SSL_do_handshake(c->ssl);
		n = BIO_get_mem_data(c->wbio, &p);
		size_t off = 0;

		do {
			size_t k = (size_t)n - off, used = 0;
			uint8_t *dst = plain ? plain + *plain_len : scratch;
			size_t cap = plain ? plain_cap - *plain_len : sizeof(scratch);

			if (chunk && k > chunk)
				k = chunk;
			last = l7_tls_recv(s, p + off, k, &used, dst, cap);
			if (last > 0 && plain)
				*plain_len += (size_t)last;
			off += used;
			if (used || last > 0)
				moved = true;
			if (!used && last <= 0)
				break;
		} while (off < (size_t)n);
		while (off > 0) { /* drop exactly what the server took */
			char sink[4096];
			int r =
			    BIO_read(c->wbio, sink, (int)(off > sizeof(sink) ? sizeof(sink) : off));

			if (r <= 0)
				break;
			off -= (size_t)r;
		}
		struct iovec iov[16];
		unsigned niov = l7_tls_out_iov(s, iov, 16);
		size_t sent = 0;

		for (unsigned i = 0; i < niov; i++) {
			BIO_write(c->rbio, iov[i].iov_base, (int)iov[i].iov_len);
			sent += iov[i].iov_len;
		}
		if (sent) {
			l7_tls_out_consume(s, sent);
			moved = true;
		}
	}
	return last;
}

/* Runs the handshake to its end (or failure); true when both sides
 * finished. */
static inline bool tk_handshake(struct tk_client *c, struct l7_tls *s)
{
	tk_pump(c, s, 0, NULL, 0, NULL);
	SSL_do_handshake(c->ssl);
	tk_pump(c, s, 0, NULL, 0, NULL);
	return SSL_is_init_finished(c->ssl) && l7_tls_is_open(s);
}

/* Reads what the client can decrypt into buf; returns bytes. */
static inline size_t tk_client_read(struct tk_client *c, void *buf, size_t cap)
{
	size_t total = 0, got;

	while (total < cap && SSL_read_ex(c->ssl, (char *)buf + total, cap - total, &got))
		total += got;
	ERR_clear_error();
	return total;
}

#endif
