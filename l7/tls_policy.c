/* From loaded certificates to SSL contexts (tls_ctx.h): which certificates
 * serve which names, one context per distinct (RSA, ECDSA) pair, and the
 * protocol, cipher, session and client-certificate policy of each.
 *
 * Every name gets the first RSA and the first ECDSA certificate listed
 * that answer for it; names with the same pair share a context. ctxs[0]
 * is the pair of the first certificate's first name: the default. */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "tls_ctx.h"

struct entry {
	const char *name;
	unsigned cert;
};

struct pair {
	int rsa, ec; /* certificate index, -1 */
};

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->cert < y->cert ? -1 : x->cert > y->cert;
}

/* Sets the protocol and cipher policy on ctx. */
static int apply_policy(SSL_CTX *ctx, const struct l7_tls_conf *c, struct cfg_err *err)
{
	uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_SINGLE_ECDH_USE;

	if (!SSL_CTX_set_min_proto_version(ctx, c->min_version) ||
	    !SSL_CTX_set_max_proto_version(ctx, c->max_version))
		return l7_tls_fail(err, c->where, "protocols: unsupported version range");
	if (!SSL_CTX_set_cipher_list(ctx, c->ciphers))
		return l7_tls_fail(err, c->where, "ciphers: '%s' selects no cipher (%s)",
				   c->ciphers, l7_tls_ossl_why());
	if (!SSL_CTX_set_ciphersuites(ctx, c->ciphersuites))
		return l7_tls_fail(err, c->where, "ciphersuites: '%s' is not a TLS 1.3 suite list",
				   c->ciphersuites);
	if (!SSL_CTX_set1_groups_list(ctx, c->groups))
		return l7_tls_fail(err, c->where, "groups: '%s' is not a group list (%s)",
				   c->groups, l7_tls_ossl_why());
	/* server order, but a client that puts ChaCha20 first (no AES
	 * hardware, typically) gets it */
	if (c->prefer_server_ciphers)
		opts |= SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA;
	SSL_CTX_set_options(ctx, opts);
	/* an idle connection gives its 34 KiB of record buffers back */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_timeout(ctx, (long)c->session_timeout_s);
	return 0;
}

/* The session id context: a resumed session must come from a listener
 * with the same name and client-certificate policy, or a session made
 * without a client certificate could skip mTLS elsewhere. */
static int apply_sessions(SSL_CTX *ctx, const struct l7_tls_conf *c, struct cfg_err *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	int ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL);
	char verify = (char)('0' + c->verify);

	ok = ok && EVP_DigestUpdate(h, "strata-l7", 10);
	ok = ok && EVP_DigestUpdate(h, c->name ? c->name : "", c->name ? strlen(c->name) + 1 : 1);
	ok = ok && EVP_DigestUpdate(h, &verify, 1);
	if (c->client_ca)
		ok = ok && EVP_DigestUpdate(h, c->client_ca, strlen(c->client_ca));
	ok = ok && EVP_DigestFinal_ex(h, md, &md_len);
	EVP_MD_CTX_free(h);
	if (!ok || !SSL_CTX_set_session_id_context(ctx, md, SSL_MAX_SID_CTX_LENGTH))
		return l7_tls_fail(err, c->where, "cannot set the session id context");
	/* RFC 8446 §4.6.1 lets a server send several tickets, and OpenSSL
	 * sends two after every TLS 1.3 handshake. One is enough for the next
	 * connection (a resumption brings a fresh one), and each costs a
	 * session encoding, an encryption, an HMAC and an HKDF expansion
	 * (docs/tls.md "Measured costs"). With nothing to resume from (no
	 * tickets, no cache) a stateful ticket could never be used: none. */
	SSL_CTX_set_num_tickets(ctx, c->tickets || c->session_cache ? L7_TLS_TICKETS_SENT : 0);
	if (c->session_cache) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
		SSL_CTX_sess_set_cache_size(ctx, (long)c->session_cache);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	return 0;
}

static int apply_verify(SSL_CTX *ctx, const struct l7_tls_conf *c, struct cfg_err *err)
{
	STACK_OF(X509_NAME) * names;
	int mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;

	if (c->verify == L7_TLS_VERIFY_OFF)
		return 0;
	if (!c->client_ca)
		return l7_tls_fail(err, c->where, "client_ca: needed when client_verify is on");
	if (SSL_CTX_load_verify_locations(ctx, c->client_ca, NULL) != 1)
		return l7_tls_fail(err, c->where, "client_ca: %s: no usable CA certificate (%s)",
				   c->client_ca, l7_tls_ossl_why());
	/* the CA names go into CertificateRequest so clients pick the right
	 * certificate (RFC 8446 §4.2.4) */
	if (!(names = SSL_load_client_CA_file(c->client_ca)))
		return l7_tls_fail(err, c->where, "client_ca: %s: no CA names (%s)", c->client_ca,
				   l7_tls_ossl_why());
	SSL_CTX_set_client_CA_list(ctx, names);
	if (c->verify == L7_TLS_VERIFY_REQUIRED)
		mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(ctx, mode, NULL);
	SSL_CTX_set_verify_depth(ctx, (int)c->verify_depth);
	return 0;
}

static int use_cert(SSL_CTX *ctx, const struct l7_tls_cert *cert, const struct l7_tls_conf *c,
		    struct cfg_err *err)
{
	if (SSL_CTX_use_cert_and_key(ctx, cert->x509, cert->key, cert->chain, 1) != 1)
		return l7_tls_fail(err, c->where, "cannot use certificate (%s)", l7_tls_ossl_why());
	return 0;
}

static SSL_CTX *make_ctx(struct l7_tls_set *set, const struct l7_tls_conf *c, struct pair p,
			 struct cfg_err *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		l7_tls_fail(err, c->where, "cannot make an SSL context (%s)", l7_tls_ossl_why());
		return NULL;
	}
	if (apply_policy(ctx, c, err) || apply_sessions(ctx, c, err) || apply_verify(ctx, c, err) ||
	    (p.rsa >= 0 && use_cert(ctx, &set->certs[p.rsa], c, err)) ||
	    (p.ec >= 0 && use_cert(ctx, &set->certs[p.ec], c, err)) ||
	    l7_tls_ctx_callbacks(ctx, set)) {
		l7_tls_fail(err, c->where, "out of memory");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static int pair_index(struct pair *pairs, unsigned *n, struct pair p)
{
	for (unsigned i = 0; i < *n; i++) {
		if (pairs[i].rsa == p.rsa && pairs[i].ec == p.ec)
			return (int)i;
	}
	pairs[*n] = p;
	return (int)(*n)++;
}

/* Sweeps the sorted (name, cert) entries: one table entry per name. */
static int fill_tables(struct l7_tls_set *set, struct entry *e, size_t n, struct pair *pairs,
		       unsigned *n_pairs)
{
	for (size_t i = 0; i < n;) {
		struct pair p = {-1, -1};
		const char *name = e[i].name;
		struct l7_tls_name *slot;
		bool wild = name[0] == '*';

		for (; i < n && !strcmp(e[i].name, name); i++) {
			int *which = set->certs[e[i].cert].type == EVP_PKEY_RSA ? &p.rsa : &p.ec;

			if (*which < 0)
				*which = (int)e[i].cert;
		}
		slot = wild ? &set->wild[set->n_wild++] : &set->exact[set->n_exact++];
		slot->ctx = (unsigned)pair_index(pairs, n_pairs, p);
		if (!(slot->name = strdup(wild ? name + 1 : name)))
			return -ENOMEM;
	}
	return 0;
}

static unsigned swap_index(unsigned x, unsigned d)
{
	return x == d ? 0 : x == 0 ? d : x;
}

/* Makes ctxs[0] the default: the pair serving the first certificate's
 * first name. */
static void move_default_first(struct l7_tls_set *set, struct pair *pairs)
{
	const char *first = set->certs[0].names[0];
	bool wild = first[0] == '*';
	struct l7_tls_name *t = wild ? set->wild : set->exact;
	unsigned n = wild ? set->n_wild : set->n_exact, d = 0;
	struct pair tmp;

	for (unsigned i = 0; i < n; i++) {
		if (!strcmp(t[i].name, wild ? first + 1 : first))
			d = t[i].ctx;
	}
	if (d == 0)
		return;
	tmp = pairs[0];
	pairs[0] = pairs[d];
	pairs[d] = tmp;
	for (unsigned i = 0; i < set->n_exact; i++)
		set->exact[i].ctx = swap_index(set->exact[i].ctx, d);
	for (unsigned i = 0; i < set->n_wild; i++)
		set->wild[i].ctx = swap_index(set->wild[i].ctx, d);
}

int l7_tls_set_groups(struct l7_tls_set *set, const struct l7_tls_conf *conf, struct cfg_err *err)
{
	size_t n = 0, k = 0;
	struct entry *e;
	struct pair *pairs = NULL;
	unsigned n_pairs = 0;
	int r = -EINVAL;

	for (unsigned i = 0; i < set->n_certs; i++)
		n += set->certs[i].n_names;
	e = calloc(n, sizeof(*e));
	pairs = calloc(n, sizeof(*pairs));
	set->exact = calloc(n, sizeof(*set->exact));
	set->wild = calloc(n, sizeof(*set->wild));
	if (!e || !pairs || !set->exact || !set->wild)
		goto out;
	for (unsigned i = 0; i < set->n_certs; i++) {
		for (unsigned j = 0; j < set->certs[i].n_names; j++)
			e[k++] = (struct entry){set->certs[i].names[j], i};
	}
	qsort(e, n, sizeof(*e), entry_cmp);
	if (fill_tables(set, e, n, pairs, &n_pairs))
		goto out;
	move_default_first(set, pairs);
	if (!(set->ctxs = calloc(n_pairs, sizeof(*set->ctxs))))
		goto out;
	for (unsigned i = 0; i < n_pairs; i++) {
		if (!(set->ctxs[i] = make_ctx(set, conf, pairs[i], err))) {
			free(e);
			free(pairs);
			return -EINVAL; /* n_ctxs counts those made: the set frees them */
		}
		set->n_ctxs++;
	}
	r = 0;
out:
	free(e);
	free(pairs);
	if (r)
		l7_tls_fail(err, conf->where, "out of memory");
	return r;
}
