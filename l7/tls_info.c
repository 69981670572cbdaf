/* What the engine logs and forwards about a TLS connection (tls.h): the
 * reason table, the failure line, and the facts of an established session
 * (SNI, version, cipher, resumption, the verified client subject). */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "tls.h"

struct err_info {
	const char *name, *text;
};

static const struct err_info err_info[L7_TLS_ERR__COUNT] = {
    [L7_TLS_OK] = {"ok", "no error"},
    [L7_TLS_ERR_NOT_TLS] = {"not_tls", "the first bytes are not a TLS record (plain HTTP?)"},
    [L7_TLS_ERR_VERSION] = {"version", "no TLS version in common"},
    [L7_TLS_ERR_NO_SHARED] = {"no_shared", "no cipher, group or signature algorithm in common"},
    [L7_TLS_ERR_SNI_UNKNOWN] = {"sni_unknown", "no certificate for the requested name"},
    [L7_TLS_ERR_ALPN] = {"alpn", "no application protocol in common"},
    [L7_TLS_ERR_CLIENT_CERT_MISSING] = {"client_cert_missing", "no client certificate sent"},
    [L7_TLS_ERR_CLIENT_CERT_BAD] = {"client_cert_bad", "client certificate failed verification"},
    [L7_TLS_ERR_PEER_ALERT] = {"peer_alert", "the client sent a fatal alert"},
    [L7_TLS_ERR_BAD_RECORD] = {"bad_record", "a record failed to decrypt or authenticate"},
    [L7_TLS_ERR_PROTOCOL] = {"protocol", "TLS protocol violation"},
    [L7_TLS_ERR_TRUNCATED] = {"truncated", "connection closed without close_notify"},
    [L7_TLS_ERR_CLOSED] = {"closed", "closed before the handshake completed"},
    [L7_TLS_ERR_INTERNAL] = {"internal", "out of memory or TLS library failure"},
};

const char *l7_tls_err_name(enum l7_tls_err e)
{
	return (unsigned)e < L7_TLS_ERR__COUNT ? err_info[e].name : "?";
}

const char *l7_tls_err_text(enum l7_tls_err e)
{
	return (unsigned)e < L7_TLS_ERR__COUNT ? err_info[e].text : "?";
}

size_t l7_tls_describe(const struct l7_tls *t, char *buf, size_t cap)
{
	char ossl[160] = "";
	int n;

	if (!cap)
		return 0;
	if (t->ossl_err)
		ERR_error_string_n(t->ossl_err, ossl, sizeof(ossl));
	n = snprintf(buf, cap, "tls %s: %s%s%s", l7_tls_err_name(l7_tls_reason(t)),
		     l7_tls_err_text(l7_tls_reason(t)), *ossl ? " - " : "", ossl);
	if (n >= 0 && (size_t)n < cap && t->err == L7_TLS_ERR_CLIENT_CERT_BAD)
		n += snprintf(buf + n, cap - (size_t)n, " (%s)",
			      X509_verify_cert_error_string(t->verify_result));
	if (n < 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

const char *l7_tls_sni(const struct l7_tls *t)
{
	return t->ssl ? SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

bool l7_tls_sni_matches(const struct l7_tls *t, const char *host, size_t len)
{
	const char *sni = l7_tls_sni(t);
	size_t n;

	if (!sni)
		return false;
	/* drop a port: a reg-name or IPv4 has no ':', and SNI is never an IP
	 * literal (RFC 6066 §3), so a bracketed IPv6 host cannot match */
	const char *colon = memchr(host, ':', len);

	if (colon)
		len = (size_t)(colon - host);
	n = strlen(sni);
	return n == len && !strncasecmp(sni, host, len);
}

const char *l7_tls_version(const struct l7_tls *t)
{
	return t->ssl ? SSL_get_version(t->ssl) : "";
}

const char *l7_tls_cipher(const struct l7_tls *t)
{
	const SSL_CIPHER *c = t->ssl ? SSL_get_current_cipher(t->ssl) : NULL;

	return c ? SSL_CIPHER_standard_name(c) : "";
}

bool l7_tls_resumed(const struct l7_tls *t)
{
	return t->ssl && SSL_session_reused(t->ssl);
}

const char *l7_tls_cert_type(const struct l7_tls *t)
{
	X509 *x = t->ssl ? SSL_get_certificate(t->ssl) : NULL;
	EVP_PKEY *k = x ? X509_get0_pubkey(x) : NULL;

	if (!k)
		return "";
	return EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA ? "rsa" : "ecdsa";
}

int l7_tls_peer_subject(const struct l7_tls *t, char *buf, size_t cap)
{
	X509 *peer = t->ssl ? SSL_get0_peer_certificate(t->ssl) : NULL;
	BIO *mem;
	char *p;
	long n;

	if (!peer || !cap || SSL_get_verify_result(t->ssl) != X509_V_OK)
		return -ENOENT;
	if (!(mem = BIO_new(BIO_s_mem())))
		return -ENOMEM;
	/* RFC 2253 escapes specials; control and high bytes come out as \XX */
	X509_NAME_print_ex(mem, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253);
	n = BIO_get_mem_data(mem, &p);
	if (n < 0)
		n = 0;
	if ((size_t)n >= cap)
		n = (long)cap - 1;
	for (long i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		/* a header value takes VCHAR, SP and HTAB only (RFC 9110 §5.5) */
		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	buf[n] = '\0';
	BIO_free(mem);
	return (int)n;
}
