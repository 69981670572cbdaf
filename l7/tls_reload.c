/* Building a listener's TLS context set from its conf (tls_ctx.h), off the
 * hot path: at start-up and on every reload. Everything is loaded and
 * checked before anything is published, so a bad certificate, key, CA file
 * or OCSP response fails the build with "FILE:LINE: KEY: PATH: why" and
 * the caller keeps the set it had. The set owns what it loads; its destroy
 * (the last l7_tls_set_put) is here too. */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_ctx.h"
#include "tls_tickets.h"

struct build {
	const struct l7_tls_conf *conf;
	struct l7_tls_set *set;
	struct cfg_err *err;
};

int l7_tls_fail(struct cfg_err *err, const char *where, const char *fmt, ...)
{
	char msg[CFG_ERR_MAX];
	va_list ap;

	if (cfg_err_is_set(err))
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* cut at CFG_ERR_MAX: the start of the line names the place */
	if (snprintf(err->msg, sizeof(err->msg), "%s%s%s", where && *where ? where : "",
		     where && *where ? ": " : "", msg) >= (int)sizeof(err->msg))
		err->msg[sizeof(err->msg) - 1] = '\0';
	return -EINVAL;
}

#define fail(b, where, ...) l7_tls_fail((b)->err, where, __VA_ARGS__)

const char *l7_tls_ossl_why(void)
{
	static __thread char buf[160];
	unsigned long e = ERR_peek_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	snprintf(buf, sizeof(buf), "%s", r ? r : "unknown OpenSSL error");
	ERR_clear_error();
	return buf;
}

/* Why BIO_new_file failed: fopen's errno says it best. */
static const char *read_why(void)
{
	int e = errno;

	ERR_clear_error();
	return strerror(e);
}

/* --- one certificate ------------------------------------------------------------ */

static int read_chain(struct build *b, const struct l7_tls_cert_conf *cc, struct l7_tls_cert *c)
{
	BIO *bio = BIO_new_file(cc->cert, "r");
	X509 *x;

	if (!bio)
		return fail(b, cc->where, "%s: cannot read: %s", cc->cert, read_why());
	c->x509 = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);
	if (!c->x509) {
		BIO_free(bio);
		return fail(b, cc->where, "%s: no PEM certificate (%s)", cc->cert,
			    l7_tls_ossl_why());
	}
	c->chain = sk_X509_new_null();
	while (c->chain && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (!sk_X509_push(c->chain, x)) {
			X509_free(x);
			break;
		}
	}
	ERR_clear_error(); /* the read past the last certificate */
	BIO_free(bio);
	return c->chain ? 0 : fail(b, cc->where, "%s: out of memory", cc->cert);
}

/* An encrypted key fails instead of OpenSSL prompting on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return 0;
}

static int read_key(struct build *b, const struct l7_tls_cert_conf *cc, struct l7_tls_cert *c)
{
	const char *path = cc->key ? cc->key : cc->cert;
	BIO *bio = BIO_new_file(path, "r");

	if (!bio)
		return fail(b, cc->where, "%s: cannot read: %s", path, read_why());
	c->key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (!c->key) {
		/* OpenSSL 3's decoders only say "unsupported" here */
		ERR_clear_error();
		return fail(b, cc->where, "%s: no usable PEM private key (missing or encrypted)",
			    path);
	}
	if (X509_check_private_key(c->x509, c->key) != 1)
		return fail(b, cc->where, "%s: the key does not match the certificate %s", path,
			    cc->cert);
	c->type = EVP_PKEY_get_base_id(c->key);
	if (c->type != EVP_PKEY_RSA && c->type != EVP_PKEY_EC)
		return fail(b, cc->where, "%s: key type %s is not RSA or ECDSA", path,
			    OBJ_nid2sn(c->type));
	if (c->type == EVP_PKEY_RSA && EVP_PKEY_get_bits(c->key) < L7_TLS_MIN_RSA_BITS)
		return fail(b, cc->where, "%s: RSA key of %d bits, at least %d needed", path,
			    EVP_PKEY_get_bits(c->key), L7_TLS_MIN_RSA_BITS);
	return 0;
}

static int check_dates(struct build *b, const struct l7_tls_cert_conf *cc, X509 *x)
{
	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
		return fail(b, cc->where, "%s: certificate has expired", cc->cert);
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		return fail(b, cc->where, "%s: certificate is not valid yet", cc->cert);
	return 0;
}

/* A DNS name or "*.suffix" (RFC 6125 §6.4.3): letters, digits, '-', '.',
 * '_' in labels; lowercased into out. */
static bool name_ok(const char *s, size_t len, char *out)
{
	size_t i = 0;

	if (len == 0 || len > L7_TLS_NAME_MAX)
		return false;
	if (s[0] == '*') {
		if (len < 3 || s[1] != '.')
			return false;
		out[0] = '*';
		i = 1;
	}
	for (; i < len; i++) {
		char ch = s[i];

		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch + 32);
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '.' || ch == '_'))
			return false;
		if (ch == '.' && (i + 1 == len || s[i + 1] == '.'))
			return false;
		out[i] = ch;
	}
	out[len] = '\0';
	return true;
}

static int add_name(struct build *b, const struct l7_tls_cert_conf *cc, struct l7_tls_cert *c,
		    const char *s, size_t len)
{
	char low[L7_TLS_NAME_MAX + 1];
	char **names;

	if (!name_ok(s, len, low))
		return fail(b, cc->where, "%s: name '%.*s' is not a DNS name or *.wildcard",
			    cc->cert, (int)(len > 64 ? 64 : len), s);
	names = realloc(c->names, (c->n_names + 1) * sizeof(*names));
	if (!names)
		return fail(b, cc->where, "out of memory");
	c->names = names;
	if (!(names[c->n_names] = strdup(low)))
		return fail(b, cc->where, "out of memory");
	c->n_names++;
	return 0;
}

/* The configured names, else the SAN DNS names, else the CN. */
static int cert_names(struct build *b, const struct l7_tls_cert_conf *cc, struct l7_tls_cert *c)
{
	GENERAL_NAMES *san;
	int r = 0;

	if (cc->names) {
		for (unsigned i = 0; i < cc->n_names && !r; i++)
			r = add_name(b, cc, c, cc->names[i], strlen(cc->names[i]));
		return r;
	}
	san = X509_get_ext_d2i(c->x509, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; san && i < sk_GENERAL_NAME_num(san) && !r; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(san, i);

		if (g->type == GEN_DNS)
			r = add_name(b, cc, c, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
				     (size_t)ASN1_STRING_length(g->d.dNSName));
	}
	GENERAL_NAMES_free(san);
	if (r || c->n_names)
		return r;
	char cn[L7_TLS_NAME_MAX + 1];
	int n = X509_NAME_get_text_by_NID(X509_get_subject_name(c->x509), NID_commonName, cn,
					  sizeof(cn));
	if (n <= 0)
		return fail(b, cc->where, "%s: certificate names no host (no DNS SAN, no CN)",
			    cc->cert);
	return add_name(b, cc, c, cn, (size_t)n);
}

static int load_cert(struct build *b, const struct l7_tls_cert_conf *cc, struct l7_tls_cert *c)
{
	char why[CFG_ERR_MAX];

	if (read_chain(b, cc, c) || read_key(b, cc, c) || check_dates(b, cc, c->x509) ||
	    cert_names(b, cc, c))
		return -EINVAL;
	if (cc->ocsp &&
	    l7_tls_ocsp_load(cc->ocsp, c->x509, c->chain, &c->ocsp, &c->ocsp_len, why, sizeof(why)))
		return fail(b, cc->where, "%s", why);
	return 0;
}

static void cert_free(struct l7_tls_cert *c)
{
	X509_free(c->x509);
	EVP_PKEY_free(c->key);
	sk_X509_pop_free(c->chain, X509_free);
	for (unsigned i = 0; i < c->n_names; i++)
		free(c->names[i]);
	free(c->names);
	free(c->ocsp);
}

/* --- the set -------------------------------------------------------------------- */

static void set_destroy(struct snap *s)
{
	struct l7_tls_set *set = (struct l7_tls_set *)(void *)s;

	for (unsigned i = 0; i < set->n_ctxs; i++)
		SSL_CTX_free(set->ctxs[i]);
	free(set->ctxs);
	for (unsigned i = 0; i < set->n_certs; i++)
		cert_free(&set->certs[i]);
	free(set->certs);
	for (unsigned i = 0; i < set->n_exact; i++)
		free(set->exact[i].name);
	for (unsigned i = 0; i < set->n_wild; i++)
		free(set->wild[i].name);
	free(set->exact);
	free(set->wild);
	free(set->subject_header);
	l7_tls_tickets_put(set->tickets);
	free(set);
}

static int alpn_wire(struct l7_tls_set *set, const struct l7_tls_conf *conf)
{
	/* RFC 7301 §3.1: length-prefixed names, server preference first */
	static const unsigned char h2[] = "\x02h2", h11[] = "\x08http/1.1";

	set->alpn_len = 0;
	if (conf->alpn_h2) {
		memcpy(set->alpn, h2, 3);
		set->alpn_len = 3;
	}
	if (conf->alpn_http11) {
		memcpy(set->alpn + set->alpn_len, h11, 9);
		set->alpn_len += 9;
	}
	return 0;
}

static int make_tickets(struct build *b, struct l7_tls_tickets *given)
{
	const struct l7_tls_conf *c = b->conf;
	char why[CFG_ERR_MAX];

	if (!c->tickets)
		return 0;
	if (given) {
		b->set->tickets = l7_tls_tickets_get(given);
		return 0;
	}
	b->set->tickets =
	    l7_tls_tickets_for(NULL, c->ticket_rotate_s, c->ticket_key_file, why, sizeof(why));
	return b->set->tickets ? 0 : fail(b, c->where, "%s", why);
}

int l7_tls_set_build(const struct l7_tls_conf *conf, struct l7_tls_tickets *tickets,
		     struct l7_tls_set **out, struct cfg_err *err)
{
	struct build b = {.conf = conf, .err = err};
	struct l7_tls_set *set;

	if (!conf->n_certs)
		return fail(&b, conf->where, "certificates: at least one certificate is needed");
	if (conf->n_certs > L7_TLS_MAX_CERTS)
		return fail(&b, conf->where, "certificates: more than %d", L7_TLS_MAX_CERTS);
	if (!(set = calloc(1, sizeof(*set))))
		return fail(&b, conf->where, "out of memory");
	snap_init(&set->hdr, set_destroy);
	b.set = set;
	set->strict_sni = conf->strict_sni;
	set->verify = conf->verify;
	set->handshake_timeout_ms = conf->handshake_timeout_ms;
	alpn_wire(set, conf);
	if (conf->subject_header && !(set->subject_header = strdup(conf->subject_header)))
		goto out_fail;
	if (!(set->certs = calloc(conf->n_certs, sizeof(*set->certs))))
		goto out_fail;
	set->n_certs = conf->n_certs;
	for (unsigned i = 0; i < conf->n_certs; i++) {
		if (load_cert(&b, &conf->certs[i], &set->certs[i]))
			goto out_fail;
	}
	if (make_tickets(&b, tickets) || l7_tls_set_groups(set, conf, err))
		goto out_fail;
	*out = set;
	return 0;
out_fail:
	fail(&b, conf->where, "out of memory");
	l7_tls_set_put(set);
	return -EINVAL;
}

int l7_tls_reload(struct snap_slot *slot, const struct l7_tls_conf *conf, struct cfg_err *err)
{
	struct l7_tls_set *old = (struct l7_tls_set *)(void *)snap_slot_acquire(slot);
	struct l7_tls_tickets *tk = NULL;
	struct l7_tls_set *set;
	char why[CFG_ERR_MAX];
	int r;

	if (conf->tickets) {
		tk = l7_tls_tickets_for(old ? old->tickets : NULL, conf->ticket_rotate_s,
					conf->ticket_key_file, why, sizeof(why));
		if (!tk) {
			l7_tls_set_put(old);
			struct build b = {.conf = conf, .err = err};
			return fail(&b, conf->where, "%s", why);
		}
	}
	r = l7_tls_set_build(conf, tk, &set, err);
	l7_tls_tickets_put(tk);
	l7_tls_set_put(old);
	if (r)
		return r;
	snap_slot_publish(slot, &set->hdr);
	return 0;
}
