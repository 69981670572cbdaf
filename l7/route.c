/* Per-request route selection (route.h): the routes of a snapshot in
 * order, each condition checked cheapest first, regex last. Nothing here
 * allocates except the one PCRE2 match data block per thread. */
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "cidr.h"

#include "headers.h"
#include "http1_semantics.h"
#include "route.h"
#include "sticky.h"

/* Reused by every regex match on this thread: one ovector pair is enough,
 * routes only ask "does it match". */
static __thread pcre2_match_data *tl_md;

void l7_route_thread_exit(void)
{
	pcre2_match_data_free(tl_md);
	tl_md = NULL;
}

size_t l7_host_normalize(const char *host, size_t len, char out[L7_HOST_MAX + 1])
{
	size_t n = len, i;

	if (len == 0)
		return 0;
	if (host[0] == '[') { /* IP-literal: the port follows ']' */
		const char *close = memchr(host, ']', len);

		n = close ? (size_t)(close - host) + 1 : len;
	} else {
		const char *colon = memchr(host, ':', len);

		n = colon ? (size_t)(colon - host) : len;
	}
	if (n > 1 && host[n - 1] == '.')
		n--;
	if (n == 0 || n > L7_HOST_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = host[i];

		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	out[n] = '\0';
	return n;
}

bool l7_host_pat_match(const struct l7_host_pat *p, const char *host, size_t len)
{
	/* "*.example.com" is stored as ".example.com": at least one label
	 * before it, any depth (nginx's and HAProxy's "-m end" semantics) */
	if (p->wildcard)
		return len > p->name.len &&
		       !memcmp(host + len - p->name.len, p->name.ptr, p->name.len);
	return len == p->name.len && !memcmp(host, p->name.ptr, len);
}

static bool match_host(const struct l7_match *m, const struct l7_match_ctx *ctx)
{
	for (uint32_t i = 0; i < m->n_hosts; i++) {
		if (l7_host_pat_match(&m->hosts[i], ctx->host, ctx->host_len))
			return true;
	}
	return false;
}

static bool match_method(const struct l7_match *m, const struct http1_request *req)
{
	if (req->method_id != HTTP1_M_OTHER)
		return m->methods & (1u << req->method_id);
	for (uint32_t i = 0; i < m->n_other_methods; i++) {
		if (m->other_methods[i].len == req->method.len &&
		    !memcmp(m->other_methods[i].ptr, req->method.ptr, req->method.len))
			return true;
	}
	return false;
}

static bool match_header(const struct l7_kv_match *kv, const struct http1_request *req)
{
	for (unsigned i = 0; i < req->h.nheaders; i++) {
		const struct http1_header *f = &req->h.headers[i];

		if (f->name.len != kv->name.len ||
		    !l7_name_eq(f->name.ptr, kv->name.ptr, kv->name.len))
			continue;
		if (!kv->has_value || (f->value.len == kv->value.len &&
				       !memcmp(f->value.ptr, kv->value.ptr, kv->value.len)))
			return true;
	}
	return false;
}

static bool match_cookie(const struct l7_kv_match *kv, const struct http1_request *req)
{
	struct http1_view v;

	if (!l7_cookie_find(req, kv->name.ptr, kv->name.len, &v))
		return false;
	return !kv->has_value || (v.len == kv->value.len && !memcmp(v.ptr, kv->value.ptr, v.len));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Compares one form-encoded query component (application/x-www-form-urlencoded:
 * '+' is a space, %XX a byte) with the plain configured text. */
static bool query_eq(const char *s, size_t len, const struct l7_str *want)
{
	size_t i = 0, k = 0;

	while (i < len) {
		int c = (unsigned char)s[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%' && i + 2 < len && hexval(s[i + 1]) >= 0 &&
			   hexval(s[i + 2]) >= 0) {
			c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
			i += 2;
		}
		if (k == want->len || (unsigned char)want->ptr[k] != c)
			return false;
		i++;
		k++;
	}
	return k == want->len;
}

static bool match_query(const struct l7_kv_match *kv, const struct http1_request *req)
{
	const char *p = req->query.ptr, *end = p + req->query.len;

	while (req->has_query && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(pe - p));
		const char *ne = eq ? eq : pe;

		if (query_eq(p, (size_t)(ne - p), &kv->name)) {
			if (!kv->has_value)
				return true;
			if (eq && query_eq(eq + 1, (size_t)(pe - eq - 1), &kv->value))
				return true;
			if (!eq && kv->value.len == 0)
				return true;
		}
		p = pe + 1;
	}
	return false;
}

static bool match_regex(const struct l7_snapshot *snap, const struct l7_match *m,
			const struct http1_view *path)
{
	int rc;

	if (!tl_md && !(tl_md = pcre2_match_data_create(1, NULL)))
		return false; /* out of memory: no match, never a crash */
	rc = pcre2_match(m->regex, (PCRE2_SPTR)path->ptr, path->len, 0, 0, tl_md, snap->regex_mctx);
	/* a pattern that hits the match limit does not match */
	return rc >= 0;
}

bool l7_route_matches(const struct l7_snapshot *snap, const struct l7_route *route,
		      const struct l7_listener *lst, const struct http1_request *req,
		      const struct l7_match_ctx *ctx)
{
	const struct l7_match *m = &route->match;
	uint32_t need = m->need;
	struct http1_view path = req->path;

	if (!need)
		return true;
	if (path.len == 0) /* "http://h" and "OPTIONS *" are "/" for routing */
		path = (struct http1_view){"/", 1};
	if ((need & L7_M_LISTENER) && (!lst || !(m->listeners & (1ull << lst->index))))
		return false;
	if ((need & L7_M_METHOD) && !match_method(m, req))
		return false;
	if ((need & L7_M_HOST) && !match_host(m, ctx))
		return false;
	if ((need & L7_M_PATH) &&
	    (path.len != m->path.len || memcmp(path.ptr, m->path.ptr, path.len)))
		return false;
	if ((need & L7_M_PREFIX) && (path.len < m->path_prefix.len ||
				     memcmp(path.ptr, m->path_prefix.ptr, m->path_prefix.len)))
		return false;
	if ((need & L7_M_HEADER) && !match_header(&m->header, req))
		return false;
	if ((need & L7_M_COOKIE) && !match_cookie(&m->cookie, req))
		return false;
	if ((need & L7_M_QUERY) && !match_query(&m->query, req))
		return false;
	if ((need & L7_M_SOURCE) && (!ctx->client || !cidr_list_match(&m->source, ctx->client)))
		return false;
	return !(need & L7_M_REGEX) || match_regex(snap, m, &path);
}

const struct l7_route *l7_route_match(const struct l7_snapshot *snap, const struct l7_listener *lst,
				      const struct http1_request *req,
				      const struct l7_match_ctx *ctx)
{
	for (uint32_t i = 0; i < snap->n_routes; i++) {
		if (l7_route_matches(snap, &snap->routes[i], lst, req, ctx))
			return &snap->routes[i];
	}
	return NULL;
}
