/* Per-listener TLS contexts at handshake time: SNI selection and ALPN
 * (tls_ctx.h). Building the contexts from files is tls_reload.c; the set's
 * memory is freed here when its last reference goes. */
#include "tls_ctx.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tls.h"
#include "tls_tickets.h"

static int ssl_index = -1, ctx_index = -1;
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

static void make_indexes(void)
{
	ssl_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

int l7_tls_ssl_index(void)
{
	pthread_once(&index_once, make_indexes);
	return ssl_index;
}

int l7_tls_ctx_index(void)
{
	pthread_once(&index_once, make_indexes);
	return ctx_index;
}

void l7_tls_conf_init(struct l7_tls_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->min_version = TLS1_2_VERSION;
	c->max_version = TLS1_3_VERSION;
	c->ciphers = L7_TLS_DEFAULT_CIPHERS;
	c->ciphersuites = L7_TLS_DEFAULT_SUITES;
	c->groups = L7_TLS_DEFAULT_GROUPS;
	c->prefer_server_ciphers = true;
	c->alpn_h2 = true;
	c->alpn_http11 = true;
	c->verify = L7_TLS_VERIFY_OFF;
	c->verify_depth = 4;
	c->tickets = true;
	c->ticket_rotate_s = L7_TLS_ROTATE_DEFAULT;
	c->session_timeout_s = 3600;
	c->handshake_timeout_ms = 10000;
}

/* --- name lookup -------------------------------------------------------------- */

static int name_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct l7_tls_name *)elem)->name);
}

static const struct l7_tls_name *find(const struct l7_tls_name *t, unsigned n, const char *name)
{
	return n ? bsearch(name, t, n, sizeof(*t), name_cmp) : NULL;
}

SSL_CTX *l7_tls_set_lookup(const struct l7_tls_set *s, const char *name)
{
	char low[L7_TLS_NAME_MAX + 2];
	const struct l7_tls_name *hit;
	const char *dot;
	size_t len;

	if (!name || !*name)
		return s->strict_sni ? NULL : s->ctxs[0];
	len = strlen(name);
	if (len && name[len - 1] == '.')
		len--; /* an absolute name: same host */
	if (len == 0 || len > L7_TLS_NAME_MAX)
		return s->strict_sni ? NULL : s->ctxs[0];
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];

		low[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
	}
	low[len] = '\0';
	if ((hit = find(s->exact, s->n_exact, low)))
		return s->ctxs[hit->ctx];
	/* RFC 6125 §6.4.3: the wildcard stands for exactly the first label */
	dot = strchr(low, '.');
	if (dot && dot != low && (hit = find(s->wild, s->n_wild, dot)))
		return s->ctxs[hit->ctx];
	return s->strict_sni ? NULL : s->ctxs[0];
}

/* --- handshake callbacks ------------------------------------------------------ */

static struct l7_tls_set *set_of(SSL *ssl)
{
	return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), l7_tls_ctx_index());
}

/* Runs early in the ClientHello (also without SNI): switches the SSL to the
 * context whose certificates answer for the name. */
static int on_servername(SSL *ssl, int *alert, void *arg)
{
	struct l7_tls_set *set = set_of(ssl);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	SSL_CTX *ctx;

	if (!set)
		return SSL_TLSEXT_ERR_NOACK;
	ctx = l7_tls_set_lookup(set, name);
	if (!ctx) {
		struct l7_tls *t = SSL_get_ex_data(ssl, l7_tls_ssl_index());

		if (t)
			t->sni_refused = true;
		*alert = SSL_AD_UNRECOGNIZED_NAME; /* RFC 6066 §3 */
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	if (ctx != SSL_get_SSL_CTX(ssl) && SSL_set_SSL_CTX(ssl, ctx) != ctx) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

/* RFC 7301 §3.2: the server's preference wins; no protocol in common is a
 * fatal no_application_protocol alert. A client without ALPN gets none and
 * speaks HTTP/1.1. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned int inlen, void *arg)
{
	struct l7_tls_set *set = set_of(ssl);
	unsigned char *sel;

	if (!set || !set->alpn_len)
		return SSL_TLSEXT_ERR_NOACK;
	if (SSL_select_next_proto(&sel, outlen, set->alpn, set->alpn_len, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

int l7_tls_ctx_callbacks(SSL_CTX *ctx, struct l7_tls_set *set)
{
	if (!SSL_CTX_set_ex_data(ctx, l7_tls_ctx_index(), set))
		return -ENOMEM;
	SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
	SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
	l7_tls_ocsp_install(ctx);
	l7_tls_tickets_install(ctx, set->tickets);
	return 0;
}
