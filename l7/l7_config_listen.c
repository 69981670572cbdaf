/* strata-l7 configuration: the `listeners` list (docs/l7-config.md
 * "listeners"): addresses, PROXY protocol trust, the local health path,
 * the forwarding header switches, and the `tls` and `http2` groups (parsed
 * by tls_conf.c and h2_conf.c; the certificate files are read when the
 * engine builds a generation, or by `-t`). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http1_parse.h"
#include "l7_config_int.h"
#include "tls_ctx.h"

static const char *const listener_keys[] = {"name",
					    "listen",
					    "proxy_protocol",
					    "trusted",
					    "health_path",
					    "trusted_forwarders",
					    "forwarded_headers",
					    "tls",
					    "http2",
					    "max_conns_per_ip",
					    "conn_limit_ipv4_prefix",
					    "conn_limit_ipv6_prefix",
					    NULL};
static const char *const fwd_keys[] = {"x_forwarded_for",  "x_real_ip", "x_forwarded_proto",
				       "x_forwarded_host", "forwarded", "x_request_id",
				       "forwarded_by",	   NULL};
static const char *const pp_modes[] = {"required", "optional", "off", NULL};

/* The fwd_keys entries in enum l7_fwd_hdr order; forwarded_by is separate. */
static int build_fwd(struct l7_build *b, const config_setting_t *lg, struct l7_listener *l)
{
	const config_setting_t *g;
	bool on;

	if (cfg_get_group(lg, "forwarded_headers", &g, b->err) ||
	    cfg_check_keys(g, fwd_keys, b->err))
		return -EINVAL;
	l->fwd = 0;
	for (int k = 0; k < L7_FWD__COUNT; k++) {
		if (cfg_get_bool(g, fwd_keys[k], true, &on, b->err))
			return -EINVAL;
		l->fwd |= on ? 1u << k : 0;
	}
	return cfg_get_bool(g, "forwarded_by", false, &l->forwarded_by, b->err);
}

/* An origin-form path without query: what req->path is compared with. */
static bool is_plain_path(const char *s, size_t len)
{
	if (len == 0 || s[0] != '/')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!(http1_cclass[(uint8_t)s[i]] & HTTP1_C_URI) || s[i] == '?')
			return false;
	}
	return true;
}

static int check_pp(struct l7_build *b, const config_setting_t *lg, struct l7_listener *l)
{
	/* DESIGN.md: a PROXY header is accepted only from configured trusted
	 * sources; a list that trusts nobody would refuse every connection */
	if (l->proxy_protocol != L7_PP_OFF && l->trusted.n == 0)
		return cfg_errf_key(b->err, lg, "trusted",
				    "must list who may send PROXY headers when proxy_protocol "
				    "is \"%s\"",
				    l7_pp_mode_name(l->proxy_protocol));
	if (l->proxy_protocol == L7_PP_OFF && l->trusted.n)
		return cfg_errf_key(b->err, lg, "trusted",
				    "has no effect with proxy_protocol = \"off\"");
	return 0;
}

/* http2 first: whether a TLS listener offers h2 in ALPN depends on it. */
static int build_tls_h2(struct l7_build *b, const config_setting_t *lg, struct l7_listener *l)
{
	const config_setting_t *h2 = NULL, *tls = NULL;

	if (cfg_get_group(lg, "http2", &h2, b->err) || l7_h2_conf_parse(h2, &l->http2, b->err) ||
	    cfg_get_group(lg, "tls", &tls, b->err))
		return -EINVAL;
	if (!tls) {
		if (!l->http2.enabled && l->http2.h2c)
			return cfg_errf_key(b->err, h2, "h2c", "needs enabled = true");
		return 0;
	}
	if (h2 && cfg_has(h2, "h2c") && l->http2.h2c)
		return cfg_errf_key(b->err, h2, "h2c",
				    "is for plaintext listeners; a TLS listener offers h2 in ALPN");
	/* freed by l7_snapshot_free, also when the parse fails half-way */
	if (!(l->tls = calloc(1, sizeof(*l->tls))))
		return l7b_oom(b, tls);
	l7_tls_conf_init(l->tls);
	return l7_tls_conf_parse(tls, l->http2.enabled, l->tls, b->err);
}

static int build_listener(struct l7_build *b, const config_setting_t *lg, struct l7_listener *l)
{
	struct addr *addrs;
	size_t n;
	int mode;

	if (cfg_expect_group(lg, b->err) || cfg_check_keys(lg, listener_keys, b->err) ||
	    l7b_name(b, lg, "name", NULL, &l->name) || cfg_require(lg, "listen", b->err))
		return -EINVAL;
	if (cfg_get_addr_list(lg, "listen", 0, 0, &addrs, &n, b->err))
		return -EINVAL;
	if (n == 0 || n > L7_MAX_LISTEN_ADDRS) {
		free(addrs);
		return cfg_errf_key(b->err, lg, "listen", "must list 1 to %d addresses",
				    L7_MAX_LISTEN_ADDRS);
	}
	l->listen = l7b_array(b, lg, n, sizeof(*addrs));
	if (l->listen)
		memcpy(l->listen, addrs, n * sizeof(*addrs));
	free(addrs);
	if (!l->listen)
		return -EINVAL;
	l->n_listen = (uint32_t)n;
	if (cfg_get_enum(lg, "proxy_protocol", pp_modes, L7_PP_REQUIRED, &mode, b->err) ||
	    cfg_get_cidr_list(lg, "trusted", &l->trusted, b->err))
		return -EINVAL;
	l->proxy_protocol = (enum l7_pp_mode)mode;
	if (check_pp(b, lg, l) || l7b_string(b, lg, "health_path", "/healthz", &l->health_path))
		return -EINVAL;
	if (!is_plain_path(l->health_path.ptr, l->health_path.len))
		return cfg_errf_key(b->err, lg, "health_path",
				    "expected a path like \"/healthz\" (no query)");
	if (cfg_get_cidr_list(lg, "trusted_forwarders", &l->trusted_forwarders, b->err) ||
	    build_fwd(b, lg, l) || l7_build_listener_limits(b, lg, l))
		return -EINVAL;
	return build_tls_h2(b, lg, l);
}

/* Names and addresses are unique across listeners: two binds of one
 * address would fail at start-up, later than `-t` should tell. */
static int check_unique(struct l7_build *b, const config_setting_t *list, uint32_t i)
{
	const struct l7_listener *l = &b->s->listeners[i];
	const config_setting_t *lg = config_setting_get_elem(list, i);

	for (uint32_t j = 0; j < i; j++) {
		const struct l7_listener *o = &b->s->listeners[j];

		if (o->name.len == l->name.len && !memcmp(o->name.ptr, l->name.ptr, l->name.len))
			return cfg_errf_key(b->err, lg, "name",
					    "duplicate listener name \"%s\" (first at "
					    "listeners[%u])",
					    l->name.ptr, j);
		for (uint32_t x = 0; x < l->n_listen; x++) {
			for (uint32_t y = 0; y < o->n_listen; y++) {
				char a[ADDR_STR_MAX];

				if (!addr_equal(&l->listen[x], &o->listen[y]))
					continue;
				addr_format(&l->listen[x], a, sizeof(a));
				return cfg_errf_key(b->err, lg, "listen",
						    "%s is already listened on by listeners[%u]", a,
						    j);
			}
		}
	}
	return 0;
}

int l7_build_listeners(struct l7_build *b, const config_setting_t *root)
{
	const config_setting_t *list;
	struct l7_snapshot *s = b->s;
	int n;

	if (cfg_require(root, "listeners", b->err) ||
	    cfg_get_list(root, "listeners", &list, b->err))
		return -EINVAL;
	n = config_setting_length(list);
	if (n == 0 || n > L7_MAX_LISTENERS)
		return cfg_errf(b->err, list, "must hold 1 to %d listeners", L7_MAX_LISTENERS);
	if (!(s->listeners = l7b_array(b, list, (size_t)n, sizeof(*s->listeners))))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		struct l7_listener *l = &s->listeners[i];

		/* counted first so the destroy frees the CIDR lists of a
		 * listener that failed half-way */
		s->n_listeners = (uint32_t)i + 1;
		cidr_list_init(&l->trusted);
		cidr_list_init(&l->trusted_forwarders);
		l->index = (uint32_t)i;
		if (build_listener(b, config_setting_get_elem(list, (unsigned)i), l) ||
		    check_unique(b, list, (uint32_t)i))
			return -EINVAL;
	}
	return 0;
}
