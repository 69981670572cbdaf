/* strata-l7 configuration: a route's `match` conditions and its
 * request_headers / response_headers rules (docs/l7-config.md "match",
 * "Header rules"). Everything l7_route_match() and the head builders need
 * is precomputed here: lowercase host patterns, a method bitmask, a JIT
 * compiled regex, listener bits. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "fwd.h"
#include "http1_semantics.h"
#include "l7_config_int.h"

static const char *const match_keys[] = {"host",      "path",	"path_prefix", "path_regex",
					 "method",    "header", "cookie",      "query",
					 "listeners", "source", NULL};
static const char *const kv_keys[] = {"name", "value", NULL};
static const char *const rules_keys[] = {"add", "set", "remove", NULL};
/* Fields the proxy writes itself from the facts (RFC 9110 §7.6.1, RFC 9112
 * §6): a rule naming one would break framing or connection management. */
static const char *const managed[] = {"content-length", "transfer-encoding", "connection",
				      "keep-alive",	"proxy-connection",  "te",
				      "trailer",	"upgrade",	     NULL};

static bool is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

/* An IPv6 literal as a Host carries it: "[" hex digits and colons "]". */
static bool is_v6_literal(const char *s, size_t n)
{
	if (n < 4 || s[0] != '[' || s[n - 1] != ']')
		return false;
	for (size_t i = 1; i + 1 < n; i++) {
		if (!strchr("0123456789abcdef:.", s[i]))
			return false;
	}
	return true;
}

static int host_pattern(struct l7_build *b, const config_setting_t *e, struct l7_host_pat *p)
{
	const char *v = config_setting_get_string(e);
	char low[L7_HOST_MAX + 2];
	size_t n = strlen(v), i;

	if (n > L7_HOST_MAX + 2)
		return cfg_errf(b->err, e, "longer than %d bytes", L7_HOST_MAX);
	for (i = 0; i < n; i++) /* RFC 9110 §4.2.3: hosts compare case-insensitively */
		low[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
	if (n > 1 && low[n - 1] == '.')
		n--; /* "example.com." is the same name */
	if (n == 1 && low[0] == '*')
		return cfg_errf(b->err, e, "\"*\" is not a pattern: omit host to match every host");
	p->wildcard = n > 2 && low[0] == '*' && low[1] == '.';
	i = p->wildcard ? 1 : 0; /* a wildcard keeps its leading dot as the suffix */
	if (memchr(low + i, '*', n - i))
		return cfg_errf(b->err, e, "only a leading \"*.\" wildcard is supported");
	if (!is_v6_literal(low, n)) {
		for (size_t k = i; k < n; k++) {
			if (low[k] == ':')
				return cfg_errf(b->err, e, "host patterns match without the port");
			if (!is_host_char(low[k]))
				return cfg_errf(b->err, e,
						"expected a host like \"example.com\" or "
						"\"*.example.com\"");
		}
	}
	if (n - i == 0 || (p->wildcard && n - i < 2))
		return cfg_errf(b->err, e, "expected a host like \"example.com\"");
	return l7b_copy(b, low + i, n - i, &p->name) ? 0 : l7b_oom(b, e);
}

static int build_hosts(struct l7_build *b, const config_setting_t *mg, struct l7_match *m)
{
	const config_setting_t *s;
	int n = l7b_items(b, mg, "host", &s, L7_MAX_HOSTS, "a host string");

	if (n <= 0)
		return n == 0 && s ? cfg_errf(b->err, s, "must list at least one host") : n;
	if (!(m->hosts = l7b_array(b, s, (size_t)n, sizeof(*m->hosts))))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		struct l7_host_pat *p = &m->hosts[i];

		if (host_pattern(b, l7b_item(s, i), p))
			return -EINVAL;
		for (int j = 0; j < i; j++) {
			if (m->hosts[j].wildcard == p->wildcard &&
			    !strcmp(m->hosts[j].name.ptr, p->name.ptr))
				return cfg_errf(b->err, l7b_item(s, i), "duplicate of host[%d]", j);
		}
	}
	m->n_hosts = (uint32_t)n;
	m->need |= L7_M_HOST;
	return 0;
}

static int build_path(struct l7_build *b, const config_setting_t *mg, const char *key,
		      uint32_t flag, struct l7_match *m, struct l7_str *out)
{
	if (l7b_string(b, mg, key, NULL, out))
		return -EINVAL;
	if (!out->ptr)
		return 0;
	if (out->len == 0 || out->ptr[0] != '/')
		return cfg_errf_key(b->err, mg, key, "must start with '/'");
	for (uint32_t i = 0; i < out->len; i++) {
		if (!(http1_cclass[(uint8_t)out->ptr[i]] & HTTP1_C_URI) || out->ptr[i] == '?')
			return cfg_errf_key(b->err, mg, key,
					    "paths match without the query and hold URI "
					    "characters only (RFC 3986 §3.3)");
	}
	m->need |= flag;
	return 0;
}

static int build_regex(struct l7_build *b, const config_setting_t *mg, struct l7_match *m)
{
	PCRE2_UCHAR msg[120];
	PCRE2_SIZE off;
	pcre2_code *re;
	int code;

	if (l7b_string(b, mg, "path_regex", NULL, &m->path_regex))
		return -EINVAL;
	if (!m->path_regex.ptr)
		return 0;
	re = pcre2_compile((PCRE2_SPTR)m->path_regex.ptr, m->path_regex.len, 0, &code, &off, NULL);
	if (!re) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		return cfg_errf_key(b->err, mg, "path_regex",
				    "invalid regular expression at offset %zu: %s", (size_t)off,
				    (const char *)msg);
	}
	/* JIT is an optimisation: without it (or on failure) the interpreter runs */
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	m->regex = re;
	m->need |= L7_M_REGEX;
	return 0;
}

static int method_one(struct l7_build *b, const config_setting_t *e, struct l7_match *m)
{
	const char *v = config_setting_get_string(e);
	size_t n = strlen(v);

	if (!l7_is_token(v, n))
		return cfg_errf(b->err, e, "expected a method like \"GET\"");
	for (int k = 1; k < HTTP1_M__COUNT; k++) {
		const char *name = http1_method_name((enum http1_method)k);

		if (!strcmp(v, name)) {
			m->methods |= 1u << k;
			return 0;
		}
		if (!strcasecmp(v, name))
			return cfg_errf(b->err, e,
					"methods are case-sensitive (RFC 9110 §9.1): did you "
					"mean \"%s\"?",
					name);
	}
	if (!l7b_copy(b, v, n, &m->other_methods[m->n_other_methods++]))
		return l7b_oom(b, e);
	return 0;
}

static int build_methods(struct l7_build *b, const config_setting_t *mg, struct l7_match *m)
{
	const config_setting_t *s;
	int n = l7b_items(b, mg, "method", &s, L7_MAX_METHODS, "a method string");

	if (n <= 0)
		return n == 0 && s ? cfg_errf(b->err, s, "must list at least one method") : n;
	if (!(m->other_methods = l7b_array(b, s, (size_t)n, sizeof(struct l7_str))))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		if (method_one(b, l7b_item(s, i), m))
			return -EINVAL;
	}
	m->need |= L7_M_METHOD;
	return 0;
}

/* header = { name; value; } and the same for cookie and query. */
static int build_kv(struct l7_build *b, const config_setting_t *mg, const char *key, uint32_t flag,
		    struct l7_match *m, struct l7_kv_match *kv)
{
	const config_setting_t *g;
	bool ok;

	if (cfg_get_group(mg, key, &g, b->err))
		return -EINVAL;
	if (!g)
		return 0;
	if (cfg_check_keys(g, kv_keys, b->err) || cfg_require(g, "name", b->err) ||
	    l7b_string(b, g, "name", NULL, &kv->name) ||
	    l7b_string(b, g, "value", NULL, &kv->value))
		return -EINVAL;
	kv->has_value = kv->value.ptr != NULL;
	ok = flag == L7_M_QUERY ? kv->name.len > 0 && l7_is_field_value(kv->name.ptr, kv->name.len)
				: l7_is_token(kv->name.ptr, kv->name.len);
	if (!ok)
		return cfg_errf_key(b->err, g, "name", "expected a %s name", key);
	if (kv->has_value && !l7_is_field_value(kv->value.ptr, kv->value.len))
		return cfg_errf_key(b->err, g, "value", "must be printable text");
	m->need |= flag;
	return 0;
}

static int build_listener_mask(struct l7_build *b, const config_setting_t *mg, struct l7_match *m)
{
	const struct l7_snapshot *snap = b->s;
	const config_setting_t *s;
	int n = l7b_items(b, mg, "listeners", &s, L7_MAX_LISTENERS, "a listener name");

	if (n <= 0)
		return n == 0 && s ? cfg_errf(b->err, s, "must list at least one listener") : n;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = l7b_item(s, i);
		const char *v = config_setting_get_string(e), *hint;
		const struct l7_listener *l = l7_config_listener(snap, v);

		if (l) {
			m->listeners |= 1ull << l->index;
			continue;
		}
		hint = l7b_closest(v, &snap->listeners[0].name, sizeof(snap->listeners[0]),
				   snap->n_listeners);
		return hint ? cfg_errf(b->err, e,
				       "unknown listener \"%.64s\" (did you mean "
				       "\"%s\"?)",
				       v, hint)
			    : cfg_errf(b->err, e, "unknown listener \"%.64s\"", v);
	}
	m->need |= L7_M_LISTENER;
	return 0;
}

int l7_build_match(struct l7_build *b, const config_setting_t *route, struct l7_match *m)
{
	const config_setting_t *mg;

	if (cfg_get_group(route, "match", &mg, b->err) || cfg_check_keys(mg, match_keys, b->err))
		return -EINVAL;
	if (!mg)
		return 0;
	if (build_hosts(b, mg, m) || build_path(b, mg, "path", L7_M_PATH, m, &m->path) ||
	    build_path(b, mg, "path_prefix", L7_M_PREFIX, m, &m->path_prefix) ||
	    build_regex(b, mg, m) || build_methods(b, mg, m) ||
	    build_kv(b, mg, "header", L7_M_HEADER, m, &m->header) ||
	    build_kv(b, mg, "cookie", L7_M_COOKIE, m, &m->cookie) ||
	    build_kv(b, mg, "query", L7_M_QUERY, m, &m->query) || build_listener_mask(b, mg, m) ||
	    cfg_get_cidr_list(mg, "source", &m->source, b->err))
		return -EINVAL;
	if (cfg_has(mg, "source") && m->source.n == 0)
		return cfg_errf_key(b->err, mg, "source", "must list at least one CIDR");
	if (m->source.n)
		m->need |= L7_M_SOURCE;
	return 0;
}

/* --- header rules ---------------------------------------------------------- */

static bool name_in(const char *name, size_t len, const char *const list[])
{
	for (size_t i = 0; list[i]; i++) {
		if (strlen(list[i]) == len && http1_token_eq(name, len, list[i]))
			return true;
	}
	return false;
}

/* How a rule may name a field: `what` is "add", "set" or "remove". */
static int check_rule_name(struct l7_build *b, const config_setting_t *e, const struct l7_str *n,
			   bool request, const char *what)
{
	if (!l7_is_token(n->ptr, n->len) || n->len > 128)
		return cfg_errf(b->err, e, "expected a header name like \"X-Env\"");
	if (name_in(n->ptr, n->len, managed))
		return cfg_errf(b->err, e, "%s is managed by the proxy and cannot be changed",
				n->ptr);
	/* exactly one Host must reach the upstream (RFC 9112 §3.2) */
	if (request && strcmp(what, "set") && n->len == 4 && http1_token_eq(n->ptr, 4, "host"))
		return cfg_errf(b->err, e, "Host can only be set, not %s",
				strcmp(what, "add") ? "removed" : "added");
	return 0;
}

static int build_pairs(struct l7_build *b, const config_setting_t *g, const char *key, bool request,
		       struct l7_hdr_pair **out, uint32_t *nout)
{
	const config_setting_t *list;
	int n;

	if (cfg_get_list(g, key, &list, b->err))
		return -EINVAL;
	n = list ? config_setting_length(list) : 0;
	if (n > L7_MAX_HDR_RULES)
		return cfg_errf(b->err, list, "too many entries (at most %d)", L7_MAX_HDR_RULES);
	if (!(*out = l7b_array(b, g, (size_t)n, sizeof(**out))))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		const config_setting_t *ne = config_setting_get_elem(e, 0);
		const config_setting_t *ve = config_setting_get_elem(e, 1);
		struct l7_hdr_pair *p = &(*out)[i];

		if ((!config_setting_is_array(e) && !config_setting_is_list(e)) ||
		    config_setting_length(e) != 2 ||
		    config_setting_type(ne) != CONFIG_TYPE_STRING ||
		    config_setting_type(ve) != CONFIG_TYPE_STRING)
			return cfg_errf(b->err, e, "expected [ \"Name\", \"value\" ]");
		if (!l7b_copy(b, config_setting_get_string(ne),
			      strlen(config_setting_get_string(ne)), &p->name) ||
		    !l7b_copy(b, config_setting_get_string(ve),
			      strlen(config_setting_get_string(ve)), &p->value))
			return l7b_oom(b, e);
		if (check_rule_name(b, e, &p->name, request, key))
			return -EINVAL;
		if (p->value.len > L7_HDR_VALUE_MAX ||
		    !l7_is_field_value(p->value.ptr, p->value.len))
			return cfg_errf(b->err, e,
					"the value must be printable text without leading or "
					"trailing spaces, at most %d bytes",
					L7_HDR_VALUE_MAX);
	}
	*nout = (uint32_t)n;
	return 0;
}

static int build_removes(struct l7_build *b, const config_setting_t *g, bool request,
			 struct l7_hdr_rules *r)
{
	const config_setting_t *s;
	int n = l7b_items(b, g, "remove", &s, L7_MAX_HDR_RULES, "a header name");

	if (n < 0 || !(r->remove = l7b_array(b, g, (size_t)n, sizeof(*r->remove))))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		const char *v = config_setting_get_string(l7b_item(s, i));

		if (!l7b_copy(b, v, strlen(v), &r->remove[i]))
			return l7b_oom(b, g);
		if (check_rule_name(b, l7b_item(s, i), &r->remove[i], request, "remove"))
			return -EINVAL;
	}
	r->n_remove = (uint32_t)n;
	return 0;
}

static bool same_name(const struct l7_str *a, const struct l7_str *b)
{
	return a->len == b->len && !strncasecmp(a->ptr, b->ptr, a->len);
}

/* A field may be in one of remove / set / add only; set entries are unique. */
static int check_overlap(struct l7_build *b, const config_setting_t *g,
			 const struct l7_hdr_rules *r)
{
	for (uint32_t i = 0; i < r->n_set; i++) {
		for (uint32_t j = 0; j < i; j++) {
			if (same_name(&r->set[i].name, &r->set[j].name))
				return cfg_errf_key(b->err, g, "set", "%s is set twice",
						    r->set[i].name.ptr);
		}
		for (uint32_t j = 0; j < r->n_remove; j++) {
			if (same_name(&r->set[i].name, &r->remove[j]))
				return cfg_errf_key(b->err, g, "set", "%s is both set and removed",
						    r->set[i].name.ptr);
		}
		for (uint32_t j = 0; j < r->n_add; j++) {
			if (same_name(&r->set[i].name, &r->add[j].name))
				return cfg_errf_key(b->err, g, "set",
						    "%s is both set and added (set replaces, add "
						    "appends: pick one)",
						    r->set[i].name.ptr);
		}
	}
	for (uint32_t i = 0; i < r->n_add; i++) {
		for (uint32_t j = 0; j < r->n_remove; j++) {
			if (same_name(&r->add[i].name, &r->remove[j]))
				return cfg_errf_key(b->err, g, "add",
						    "%s is both added and removed",
						    r->add[i].name.ptr);
		}
	}
	return 0;
}

int l7_build_hdr_rules(struct l7_build *b, const config_setting_t *route, const char *key,
		       bool request, struct l7_hdr_rules *r)
{
	const config_setting_t *g;
	int k;

	if (cfg_get_group(route, key, &g, b->err) || cfg_check_keys(g, rules_keys, b->err) ||
	    build_pairs(b, g, "set", request, &r->set, &r->n_set) ||
	    build_pairs(b, g, "add", request, &r->add, &r->n_add) ||
	    build_removes(b, g, request, r) || (g && check_overlap(b, g, r)))
		return -EINVAL;
	for (uint32_t i = 0; i < r->n_set; i++)
		r->drop_lens |= 1ull << (r->set[i].name.len & 63);
	for (uint32_t i = 0; i < r->n_remove; i++)
		r->drop_lens |= 1ull << (r->remove[i].len & 63);
	/* a route that sets or removes a forwarding header takes it over */
	for (uint32_t i = 0; request && i < r->n_set; i++) {
		if ((k = l7_fwd_header_kind(r->set[i].name.ptr, r->set[i].name.len)) >= 0)
			r->fwd_override |= 1u << k;
	}
	for (uint32_t i = 0; request && i < r->n_remove; i++) {
		if ((k = l7_fwd_header_kind(r->remove[i].ptr, r->remove[i].len)) >= 0)
			r->fwd_override |= 1u << k;
	}
	return 0;
}
