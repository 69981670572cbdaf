/* OCSP stapling (RFC 6066 §8, RFC 6960) from a DER response file per
 * certificate, loaded and checked with the certificate (so a reload picks
 * up a refreshed response), stapled when the client asks for it.
 *
 * The response is checked when loaded: it must parse, be "successful",
 * carry a status for this certificate (issuer from the chain) that is not
 * "revoked", and not be past its nextUpdate: stapling a stale or foreign
 * response makes strict clients refuse the connection, which is worse than
 * stapling nothing. The signature is the client's to verify. */
#include <errno.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_ctx.h"

#define L7_OCSP_MAX_BYTES (64u << 10) /* a response is a few KiB */

static int read_file(const char *path, uint8_t **buf, size_t *len, char *why, size_t cap)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	size_t n;

	if (!f) {
		snprintf(why, cap, "%s: cannot read: %s", path, strerror(errno));
		return -EINVAL;
	}
	b = malloc(L7_OCSP_MAX_BYTES + 1);
	if (!b) {
		fclose(f);
		snprintf(why, cap, "%s: out of memory", path);
		return -EINVAL;
	}
	n = fread(b, 1, L7_OCSP_MAX_BYTES + 1, f);
	fclose(f);
	if (n == 0 || n > L7_OCSP_MAX_BYTES) {
		free(b);
		snprintf(why, cap, "%s: %s", path, n ? "larger than 64 KiB" : "empty file");
		return -EINVAL;
	}
	*buf = b;
	*len = n;
	return 0;
}

static X509 *find_issuer(X509 *cert, STACK_OF(X509) * chain)
{
	for (int i = 0; chain && i < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i);

		if (X509_check_issued(c, cert) == X509_V_OK)
			return c;
	}
	return NULL;
}

/* The response's status for cert: 0 when good or unknown and current. */
static int check_status(OCSP_BASICRESP *bs, X509 *cert, X509 *issuer, char *why, size_t cap)
{
	ASN1_GENERALIZEDTIME *this_upd = NULL, *next_upd = NULL, *rev = NULL;
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, cert, issuer);
	int status, reason;

	if (!id) {
		snprintf(why, cap, "cannot make the certificate id");
		return -EINVAL;
	}
	if (!OCSP_resp_find_status(bs, id, &status, &reason, &rev, &this_upd, &next_upd)) {
		OCSP_CERTID_free(id);
		snprintf(why, cap, "response is not for this certificate");
		return -EINVAL;
	}
	OCSP_CERTID_free(id);
	if (status == V_OCSP_CERTSTATUS_REVOKED) {
		snprintf(why, cap, "response says the certificate is revoked");
		return -EINVAL;
	}
	/* 5 minutes of clock skew either way, as openssl ocsp -validity_period */
	if (!OCSP_check_validity(this_upd, next_upd, 300, -1)) {
		snprintf(why, cap, "response is out of date (past nextUpdate or not yet valid)");
		return -EINVAL;
	}
	return 0;
}

int l7_tls_ocsp_load(const char *path, X509 *cert, STACK_OF(X509) * chain, uint8_t **der,
		     size_t *len, char *why, size_t why_cap)
{
	char detail[160];
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	const unsigned char *p;
	uint8_t *buf;
	size_t n;
	X509 *issuer;
	int rc = -EINVAL;

	if (read_file(path, &buf, &n, why, why_cap))
		return -EINVAL;
	p = buf;
	if (!(resp = d2i_OCSP_RESPONSE(NULL, &p, (long)n)) || p != buf + n) {
		snprintf(detail, sizeof(detail), "not a DER OCSP response");
		goto out;
	}
	if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		snprintf(detail, sizeof(detail), "response status is %s",
			 OCSP_response_status_str(OCSP_response_status(resp)));
		goto out;
	}
	if (!(bs = OCSP_response_get1_basic(resp))) {
		snprintf(detail, sizeof(detail), "no basic response inside");
		goto out;
	}
	if (!(issuer = find_issuer(cert, chain))) {
		snprintf(detail, sizeof(detail),
			 "the issuer of the certificate is not in its chain");
		goto out;
	}
	if (check_status(bs, cert, issuer, detail, sizeof(detail)))
		goto out;
	*der = buf;
	*len = n;
	buf = NULL;
	rc = 0;
out:
	if (rc)
		snprintf(why, why_cap, "%s: %s", path, detail);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	free(buf);
	return rc;
}

/* SSL_CTX_set_tlsext_status_cb(3), server side: runs once the certificate
 * is chosen, so SSL_get_certificate() names the one being served. OpenSSL
 * takes ownership of the copy it is given. */
static int on_status(SSL *ssl, void *arg)
{
	struct l7_tls_set *set = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), l7_tls_ctx_index());
	X509 *served = SSL_get_certificate(ssl);
	unsigned char *copy;

	if (!set || !served || SSL_get_tlsext_status_type(ssl) != TLSEXT_STATUSTYPE_ocsp)
		return SSL_TLSEXT_ERR_NOACK;
	for (unsigned i = 0; i < set->n_certs; i++) {
		const struct l7_tls_cert *c = &set->certs[i];

		if (c->x509 != served || !c->ocsp)
			continue;
		if (!(copy = OPENSSL_memdup(c->ocsp, c->ocsp_len)))
			return SSL_TLSEXT_ERR_NOACK;
		if (!SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)c->ocsp_len)) {
			OPENSSL_free(copy);
			return SSL_TLSEXT_ERR_NOACK;
		}
		return SSL_TLSEXT_ERR_OK;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

void l7_tls_ocsp_install(SSL_CTX *ctx)
{
	SSL_CTX_set_tlsext_status_cb(ctx, on_status);
}
