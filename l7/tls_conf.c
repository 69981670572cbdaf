/* Parsing a listener's `tls = { ... }` group into struct l7_tls_conf
 * (tls_ctx.h; docs/tls.md "Configuration" lists every key). Only syntax and
 * values are checked here; the files are read by l7_tls_set_build(), which
 * reports problems at the line of the certificate entry. Relative paths are
 * taken from the directory of the config file, so a config works from any
 * working directory. Everything the conf keeps is copied into blocks it
 * owns (conf->owned), released by l7_tls_conf_free(). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1_parse.h"
#include "tls_ctx.h"
#include "tls_tickets.h"

#define L7_TLS_HEADER_MAX 64

static const char *const tls_keys[] = {"certificates",
				       "protocols",
				       "ciphers",
				       "ciphersuites",
				       "groups",
				       "prefer_server_ciphers",
				       "strict_sni",
				       "client_verify",
				       "client_ca",
				       "verify_depth",
				       "client_subject_header",
				       "session_tickets",
				       "ticket_rotate",
				       "ticket_key_file",
				       "session_cache",
				       "session_timeout",
				       "handshake_timeout",
				       "authority_mismatch",
				       NULL};
static const char *const cert_keys[] = {"cert", "key", "ocsp", "names", NULL};
static const char *const verify_names[] = {"off", "optional", "required", NULL};
static const char *const mismatch_names[] = {"log", "refuse", NULL};

struct blk {
	struct blk *next;
	max_align_t data[];
};

struct pctx {
	struct l7_tls_conf *c;
	struct cfg_err *err;
	const char *dir; /* of the config file, with the trailing '/'; "" for none */
	size_t dir_len;
};

static void *own(struct pctx *p, size_t n)
{
	struct blk *b = calloc(1, sizeof(*b) + n);

	if (!b)
		return NULL;
	b->next = p->c->owned;
	p->c->owned = b;
	return b->data;
}

void l7_tls_conf_free(struct l7_tls_conf *c)
{
	struct blk *b;

	if (!c)
		return;
	b = c->owned;
	while (b) {
		struct blk *next = b->next;

		free(b);
		b = next;
	}
	l7_tls_conf_init(c);
}

static const char *copy_str(struct pctx *p, const char *s)
{
	size_t n = strlen(s);
	char *d = own(p, n + 1);

	if (d)
		memcpy(d, s, n + 1);
	return d;
}

/* A path string: relative ones resolved against the config's directory. */
static int get_path(struct pctx *p, const config_setting_t *g, const char *key, const char **out)
{
	const char *s;
	char *d;
	size_t n;

	*out = NULL;
	if (cfg_get_string(g, key, NULL, &s, p->err))
		return -EINVAL;
	if (!s)
		return 0;
	if (!*s)
		return cfg_errf_key(p->err, g, key, "must not be empty");
	n = strlen(s);
	if (s[0] == '/' || !p->dir_len)
		return (*out = copy_str(p, s)) ? 0 : cfg_errf_key(p->err, g, key, "out of memory");
	if (!(d = own(p, p->dir_len + n + 1)))
		return cfg_errf_key(p->err, g, key, "out of memory");
	memcpy(d, p->dir, p->dir_len);
	memcpy(d + p->dir_len, s, n + 1);
	*out = d;
	return 0;
}

static int get_copy(struct pctx *p, const config_setting_t *g, const char *key, const char *def,
		    const char **out)
{
	const char *s;

	if (cfg_get_string(g, key, def, &s, p->err))
		return -EINVAL;
	if (s && !*s)
		return cfg_errf_key(p->err, g, key, "must not be empty");
	*out = s && s != def ? copy_str(p, s) : s;
	return (!s || *out) ? 0 : cfg_errf_key(p->err, g, key, "out of memory");
}

static void where_of(const config_setting_t *s, char *buf, size_t cap)
{
	char path[CFG_PATH_MAX];

	cfg_path(s, path, sizeof(path));
	/* a long path is cut: the line number still says where */
	if (snprintf(buf, cap, "%s:%u: %s", cfg_file(s), cfg_line(s), path) >= (int)cap)
		buf[cap - 1] = '\0';
}

static int parse_names(struct pctx *p, const config_setting_t *cg, struct l7_tls_cert_conf *cc)
{
	const config_setting_t *s = config_setting_get_member(cg, "names");
	int n;

	if (!s)
		return 0;
	if (!config_setting_is_aggregate(s) || config_setting_is_group(s))
		return cfg_errf(p->err, s,
				"expected a list of host names [ \"example.com\", ... ]");
	n = config_setting_length(s);
	if (n < 1 || n > L7_TLS_MAX_NAMES)
		return cfg_errf(p->err, s, "needs 1 to %d names", L7_TLS_MAX_NAMES);
	if (!(cc->names = own(p, (size_t)n * sizeof(*cc->names))))
		return cfg_errf(p->err, s, "out of memory");
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);

		if (!v || !*v || strlen(v) > L7_TLS_NAME_MAX)
			return cfg_errf(p->err, e, "expected a host name of 1 to %d bytes",
					L7_TLS_NAME_MAX);
		if (!(cc->names[i] = copy_str(p, v)))
			return cfg_errf(p->err, e, "out of memory");
	}
	cc->n_names = (unsigned)n;
	return 0;
}

static int parse_cert(struct pctx *p, const config_setting_t *cg, struct l7_tls_cert_conf *cc)
{
	if (cfg_expect_group(cg, p->err) || cfg_check_keys(cg, cert_keys, p->err) ||
	    cfg_require(cg, "cert", p->err) || get_path(p, cg, "cert", &cc->cert) ||
	    get_path(p, cg, "key", &cc->key) || get_path(p, cg, "ocsp", &cc->ocsp) ||
	    parse_names(p, cg, cc))
		return -EINVAL;
	where_of(cg, cc->where, sizeof(cc->where));
	return 0;
}

static int parse_certs(struct pctx *p, const config_setting_t *tls)
{
	const config_setting_t *list;
	int n;

	if (cfg_require(tls, "certificates", p->err) ||
	    cfg_get_list(tls, "certificates", &list, p->err))
		return -EINVAL;
	n = config_setting_length(list);
	if (n < 1 || n > L7_TLS_MAX_CERTS)
		return cfg_errf(p->err, list, "needs 1 to %d certificates", L7_TLS_MAX_CERTS);
	if (!(p->c->certs = own(p, (size_t)n * sizeof(*p->c->certs))))
		return cfg_errf(p->err, list, "out of memory");
	for (int i = 0; i < n; i++) {
		if (parse_cert(p, config_setting_get_elem(list, (unsigned)i), &p->c->certs[i]))
			return -EINVAL;
	}
	p->c->n_certs = (unsigned)n;
	return 0;
}

/* protocols = [ "TLSv1.2", "TLSv1.3" ]: the range from lowest to highest. */
static int parse_protocols(struct pctx *p, const config_setting_t *tls)
{
	const config_setting_t *s = config_setting_get_member(tls, "protocols");
	int lo = INT_MAX, hi = 0;

	if (!s)
		return 0;
	if (!config_setting_is_aggregate(s) || config_setting_is_group(s) ||
	    config_setting_length(s) < 1)
		return cfg_errf(p->err, s, "expected a list like [ \"TLSv1.2\", \"TLSv1.3\" ]");
	for (int i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);
		int ver;

		if (v && !strcmp(v, "TLSv1.2"))
			ver = TLS1_2_VERSION;
		else if (v && !strcmp(v, "TLSv1.3"))
			ver = TLS1_3_VERSION;
		else if (v &&
			 (!strcmp(v, "TLSv1") || !strcmp(v, "TLSv1.1") || !strncmp(v, "SSL", 3)))
			return cfg_errf(p->err, e, "%s is deprecated and refused (RFC 8996)", v);
		else
			return cfg_errf(p->err, e, "expected \"TLSv1.2\" or \"TLSv1.3\"");
		lo = ver < lo ? ver : lo;
		hi = ver > hi ? ver : hi;
	}
	p->c->min_version = lo;
	p->c->max_version = hi;
	return 0;
}

static int parse_verify(struct pctx *p, const config_setting_t *tls)
{
	struct l7_tls_conf *c = p->c;
	long long depth;
	int mode;

	if (cfg_get_enum(tls, "client_verify", verify_names, L7_TLS_VERIFY_OFF, &mode, p->err) ||
	    get_path(p, tls, "client_ca", &c->client_ca) ||
	    cfg_get_int(tls, "verify_depth", 4, 1, 16, &depth, p->err) ||
	    get_copy(p, tls, "client_subject_header", NULL, &c->subject_header))
		return -EINVAL;
	c->verify = (enum l7_tls_verify)mode;
	c->verify_depth = (unsigned)depth;
	if (c->verify != L7_TLS_VERIFY_OFF && !c->client_ca)
		return cfg_errf_key(p->err, tls, "client_ca",
				    "required when client_verify is \"%s\"", verify_names[mode]);
	if (c->verify == L7_TLS_VERIFY_OFF && (c->client_ca || c->subject_header))
		return cfg_errf_key(p->err, tls,
				    c->client_ca ? "client_ca" : "client_subject_header",
				    "has no effect with client_verify = \"off\"");
	if (c->subject_header) {
		size_t n = strlen(c->subject_header);

		for (size_t i = 0; i < n; i++) {
			if (!(http1_cclass[(uint8_t)c->subject_header[i]] & HTTP1_C_TCHAR))
				return cfg_errf_key(p->err, tls, "client_subject_header",
						    "is not a header name (a token)");
		}
		if (n > L7_TLS_HEADER_MAX)
			return cfg_errf_key(p->err, tls, "client_subject_header",
					    "longer than %d bytes", L7_TLS_HEADER_MAX);
	}
	return 0;
}

static int parse_sessions(struct pctx *p, const config_setting_t *tls)
{
	struct l7_tls_conf *c = p->c;
	uint64_t rot_us, life_us, hs_us;
	long long cache;

	if (cfg_get_bool(tls, "session_tickets", true, &c->tickets, p->err) ||
	    cfg_get_duration(tls, "ticket_rotate", (uint64_t)L7_TLS_ROTATE_DEFAULT * 1000000,
			     (uint64_t)L7_TLS_ROTATE_MIN_S * 1000000,
			     (uint64_t)L7_TLS_ROTATE_MAX_S * 1000000, &rot_us, p->err) ||
	    get_path(p, tls, "ticket_key_file", &c->ticket_key_file) ||
	    cfg_get_int(tls, "session_cache", 0, 0, 1000000, &cache, p->err) ||
	    cfg_get_duration(tls, "session_timeout", 3600ull * 1000000, 1000000,
			     7ull * 86400 * 1000000, &life_us, p->err) ||
	    cfg_get_duration(tls, "handshake_timeout", 10ull * 1000000, 100000, 300ull * 1000000,
			     &hs_us, p->err))
		return -EINVAL;
	if (!c->tickets && (c->ticket_key_file || cfg_has(tls, "ticket_rotate")))
		return cfg_errf_key(p->err, tls,
				    c->ticket_key_file ? "ticket_key_file" : "ticket_rotate",
				    "has no effect with session_tickets = false");
	if (c->ticket_key_file && cfg_has(tls, "ticket_rotate"))
		return cfg_errf_key(p->err, tls, "ticket_rotate",
				    "has no effect with a ticket_key_file (rotate the file)");
	c->ticket_rotate_s = (uint32_t)(rot_us / 1000000);
	c->session_cache = (uint32_t)cache;
	c->session_timeout_s = (uint32_t)(life_us / 1000000);
	c->handshake_timeout_ms = (uint32_t)(hs_us / 1000);
	return 0;
}

/* The directory of the config file, for relative paths. */
static void set_dir(struct pctx *p, const config_setting_t *tls)
{
	const char *file = cfg_file(tls);
	const char *slash = file ? strrchr(file, '/') : NULL;

	p->dir = file ? file : "";
	p->dir_len = slash ? (size_t)(slash - file) + 1 : 0;
}

static void set_name(struct pctx *p, const config_setting_t *tls)
{
	config_setting_t *parent = config_setting_parent(tls);
	const char *name = NULL;

	if (parent && config_setting_is_group(parent))
		config_setting_lookup_string(parent, "name", &name);
	p->c->name = name ? copy_str(p, name) : NULL;
}

int l7_tls_conf_parse(const config_setting_t *tls, bool h2, struct l7_tls_conf *c,
		      struct cfg_err *err)
{
	struct pctx p = {.c = c, .err = err};
	struct l7_tls_conf *d = c;
	int mismatch = 0;

	l7_tls_conf_init(c);
	c->alpn_h2 = h2;
	set_dir(&p, tls);
	where_of(tls, c->where, sizeof(c->where));
	set_name(&p, tls);
	if (cfg_expect_group(tls, err) || cfg_check_keys(tls, tls_keys, err) ||
	    parse_certs(&p, tls) || parse_protocols(&p, tls) ||
	    get_copy(&p, tls, "ciphers", L7_TLS_DEFAULT_CIPHERS, &d->ciphers) ||
	    get_copy(&p, tls, "ciphersuites", L7_TLS_DEFAULT_SUITES, &d->ciphersuites) ||
	    get_copy(&p, tls, "groups", L7_TLS_DEFAULT_GROUPS, &d->groups) ||
	    cfg_get_bool(tls, "prefer_server_ciphers", true, &d->prefer_server_ciphers, err) ||
	    cfg_get_bool(tls, "strict_sni", false, &d->strict_sni, err) || parse_verify(&p, tls) ||
	    parse_sessions(&p, tls) ||
	    cfg_get_enum(tls, "authority_mismatch", mismatch_names, 0, &mismatch, err)) {
		l7_tls_conf_free(c);
		return -EINVAL;
	}
	/* the SNI of the handshake against the name strata-l4 peeked */
	d->refuse_authority_mismatch = mismatch == 1;
	return 0;
}
