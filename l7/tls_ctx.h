/* Per-listener TLS contexts: certificates chosen by SNI (exact and wildcard
 * names, a default), RSA and ECDSA side by side for the same names, ALPN,
 * protocol and cipher policy, optional client certificates (mTLS), OCSP
 * stapling and session resumption (tls_tickets.h).
 *
 * A struct l7_tls_set is built once from a struct l7_tls_conf
 * (l7_tls_set_build, tls_reload.c), off the hot path, and is immutable
 * afterwards: every worker thread creates its connections' SSL objects from
 * the same set (OpenSSL's SSL_CTX is thread-safe for that). It is
 * refcounted through the embedded struct snap (snapshot.h): each l7_tls
 * holds a reference, so a reload can publish a new set while connections
 * made from the old one keep it alive until they close.
 *
 * Certificates: each configured certificate (a PEM chain and its key)
 * answers for the DNS names of its subjectAltName (its CN when it has no
 * SAN), or for the names configured with it. For each name the first RSA
 * and the first ECDSA certificate listed that answer for it are served
 * together from one SSL_CTX, and OpenSSL picks between them by the
 * client's signature algorithms. A ClientHello whose SNI matches no name
 * (or has none) gets the context of the first certificate's first name,
 * unless strict_sni refuses it. Wildcards follow RFC 6125 §6.4.3: "*" is
 * the whole left-most label and matches exactly one label.
 */
#ifndef STRATA_L7_TLS_CTX_H
#define STRATA_L7_TLS_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "cfg.h"
#include "snapshot.h"

struct l7_tls_tickets;

#define L7_TLS_MAX_CERTS    256 /* certificates of one listener */
#define L7_TLS_MAX_NAMES    64	/* names configured with one certificate */
#define L7_TLS_NAME_MAX	    253 /* RFC 1035 §2.3.4, without the final dot */
#define L7_TLS_WHERE_MAX    192 /* "FILE:LINE: KEY" of a conf entry */
#define L7_TLS_MIN_RSA_BITS 2048
#define L7_TLS_TICKETS_SENT 1 /* TLS 1.3 tickets after a handshake (OpenSSL: 2) */

enum l7_tls_verify {
	L7_TLS_VERIFY_OFF,	/* no certificate requested */
	L7_TLS_VERIFY_OPTIONAL, /* requested; a client without one is let in */
	L7_TLS_VERIFY_REQUIRED, /* a client without a valid one is refused */
	L7_TLS_VERIFY__COUNT
};

/* One configured certificate. Strings are NUL-terminated, owned by
 * whoever owns the conf (l7_tls_conf_parse: the conf itself). */
struct l7_tls_cert_conf {
	const char *cert;   /* PEM: the leaf first, then its chain */
	const char *key;    /* PEM private key; NULL: in the cert file */
	const char *ocsp;   /* DER OCSP response to staple; NULL: none */
	const char **names; /* overrides the certificate's own names; NULL: use them */
	unsigned n_names;
	char where[L7_TLS_WHERE_MAX]; /* "FILE:LINE: KEY" for errors; "" when unknown */
};

/* listeners[].tls (docs/tls.md "Configuration"). Defaults: l7_tls_conf_init. */
struct l7_tls_conf {
	struct l7_tls_cert_conf *certs; /* n_certs >= 1 */
	unsigned n_certs;
	int min_version, max_version; /* TLS1_2_VERSION, TLS1_3_VERSION */
	const char *ciphers;	      /* TLS 1.2 cipher list (OpenSSL syntax) */
	const char *ciphersuites;     /* TLS 1.3 suites */
	const char *groups;	      /* key exchange groups */
	bool prefer_server_ciphers;
	bool strict_sni; /* refuse names no certificate answers for */
	bool alpn_h2;	 /* offer "h2" (the listener serves HTTP/2) */
	bool alpn_http11;
	enum l7_tls_verify verify;
	const char *client_ca; /* PEM CA bundle; required unless verify is off */
	unsigned verify_depth;
	const char *subject_header;	/* header carrying the verified subject; NULL: none */
	bool tickets;			/* stateless resumption (RFC 5077, RFC 8446 §4.6.1) */
	uint32_t ticket_rotate_s;	/* a key encrypts this long, then decrypts as long again */
	const char *ticket_key_file;	/* keys shared across machines; NULL: generated */
	uint32_t session_cache;		/* stateful cache entries; 0: off */
	uint32_t session_timeout_s;	/* lifetime of a session (ticket or cache entry) */
	uint32_t handshake_timeout_ms;	/* for the engine's timer */
	bool refuse_authority_mismatch; /* SNI != PPv2 AUTHORITY: refuse (else log only) */
	const char *name;		/* listener name: part of the session id context */
	char where[L7_TLS_WHERE_MAX];	/* the tls group, for errors not tied to a cert */
	void *owned;			/* storage l7_tls_conf_free releases */
};

/* Secure defaults (docs/tls.md): TLS 1.2-1.3, ECDHE with AEAD only, server
 * order, X25519/P-256/P-384, ALPN h2 + http/1.1, tickets rotated hourly. */
#define L7_TLS_DEFAULT_CIPHERS                                                                     \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define L7_TLS_DEFAULT_SUITES                                                                      \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define L7_TLS_DEFAULT_GROUPS "X25519:P-256:P-384"

void l7_tls_conf_init(struct l7_tls_conf *c);
/* Frees what l7_tls_conf_parse allocated; NULL-safe; the conf is then empty. */
void l7_tls_conf_free(struct l7_tls_conf *c);

/* Parses a `tls = { ... }` group (tls_conf.c) into *c (initialised here).
 * `h2` says whether the listener serves HTTP/2 (ALPN offers "h2"). Errors
 * read "FILE:LINE: KEY: what is wrong"; nothing is read from disk here: the
 * files are loaded by l7_tls_set_build(). */
int l7_tls_conf_parse(const config_setting_t *tls, bool h2, struct l7_tls_conf *c,
		      struct cfg_err *err);

/* One loaded certificate of a set. */
struct l7_tls_cert {
	X509 *x509;
	EVP_PKEY *key;
	STACK_OF(X509) * chain;
	int type;     /* EVP_PKEY_RSA or EVP_PKEY_EC */
	char **names; /* lowercase; wildcards as written ("*.example.com") */
	unsigned n_names;
	uint8_t *ocsp; /* DER response to staple, or NULL */
	size_t ocsp_len;
};

struct l7_tls_set {
	struct snap hdr; /* refcount; snap_put() frees the set */
	SSL_CTX **ctxs;	 /* ctxs[0] serves connections without a known name */
	unsigned n_ctxs;
	struct l7_tls_cert *certs;
	unsigned n_certs;
	struct l7_tls_name *exact, *wild; /* sorted name tables */
	unsigned n_exact, n_wild;
	struct l7_tls_tickets *tickets; /* reference held; NULL when tickets are off */
	unsigned char alpn[32];		/* server preference, wire format */
	unsigned alpn_len;
	bool strict_sni;
	enum l7_tls_verify verify;
	char *subject_header; /* NULL: not configured */
	uint32_t handshake_timeout_ms;
};

/* Takes / drops a reference (NULL-safe). */
static inline struct l7_tls_set *l7_tls_set_get(struct l7_tls_set *s)
{
	return s ? (struct l7_tls_set *)(void *)snap_get(&s->hdr) : NULL;
}
static inline void l7_tls_set_put(struct l7_tls_set *s)
{
	if (s)
		snap_put(&s->hdr);
}

/* Loads every file of `conf` and builds the contexts (tls_reload.c).
 * `tickets`: the ticket keys to use (a reference is taken), or NULL to make
 * new ones when conf->tickets (l7_tls_tickets_for keeps them across
 * reloads). On success *out holds one reference (the caller's). On failure
 * returns -EINVAL with "FILE:LINE: KEY: PATH: why" in err, *out untouched. */
int l7_tls_set_build(const struct l7_tls_conf *conf, struct l7_tls_tickets *tickets,
		     struct l7_tls_set **out, struct cfg_err *err);

/* Reload: builds a new set from conf, keeping the ticket keys of the set
 * now published in `slot` when the ticket settings did not change (so
 * tickets issued before the reload still resume), and publishes it. On
 * failure the slot keeps the old set and err says why (-EINVAL).
 * Connections made from the old set keep it until they close. */
int l7_tls_reload(struct snap_slot *slot, const struct l7_tls_conf *conf, struct cfg_err *err);

/* The context serving `name` (an SNI host name, any case; NULL or "" for
 * none): exact match, then a wildcard one label up, then the default. NULL
 * only when strict_sni refuses the name. */
SSL_CTX *l7_tls_set_lookup(const struct l7_tls_set *s, const char *name);

/* The default context (the one SSL objects are created from). */
static inline SSL_CTX *l7_tls_set_default(const struct l7_tls_set *s)
{
	return s->ctxs[0];
}

/* Index of the SSL ex_data slot holding the struct l7_tls of a connection
 * (tls.c sets it; callbacks read it). */
int l7_tls_ssl_index(void);

/* --- internal to tls_*.c ---------------------------------------------------- */
struct l7_tls_name {
	char *name; /* lowercase; a wildcard is stored as its suffix ".example.com" */
	unsigned ctx;
};

/* Installs the SNI, ALPN and OCSP callbacks on a context of `set`. */
int l7_tls_ctx_callbacks(SSL_CTX *ctx, struct l7_tls_set *set);

/* tls_policy.c: builds set->ctxs and the name tables from set->certs
 * (loaded), applying conf's policy to every context. */
int l7_tls_set_groups(struct l7_tls_set *set, const struct l7_tls_conf *conf, struct cfg_err *err);

/* tls_reload.c: records "WHERE: fmt" in err unless an error is already
 * there (the first wins, as in cfg.h); returns -EINVAL. */
int l7_tls_fail(struct cfg_err *err, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* OpenSSL's reason for the last failure (thread-local text); clears the
 * error queue. */
const char *l7_tls_ossl_why(void);

/* Index of the SSL_CTX ex_data slot pointing at the owning set. */
int l7_tls_ctx_index(void);

/* tls_ocsp.c: loads and checks the DER response `path` for cert (issuer
 * from chain); *der is malloc'ed. 0 or -EINVAL with `why` filled. */
int l7_tls_ocsp_load(const char *path, X509 *cert, STACK_OF(X509) * chain, uint8_t **der,
		     size_t *len, char *why, size_t why_cap);
/* Installs the status callback that staples each certificate's response. */
void l7_tls_ocsp_install(SSL_CTX *ctx);

#endif
