/* strata-l7 configuration: the `routes` list (docs/l7-config.md "routes"):
 * names, the one action of each route (upstream, respond, redirect, with
 * the redirect's location split at its variables, or split), body limits.
 * Match conditions and header rules are built by l7_config_match.c, the
 * split and the rate_limit list by l7_config_traffic.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "l7_config_int.h"

static const char *const route_keys[] = {"name",
					 "match",
					 "upstream",
					 "respond",
					 "redirect",
					 "request_headers",
					 "response_headers",
					 "max_body",
					 "buffer_request",
					 "rate_limit",
					 "split",
					 NULL};
static const char *const respond_keys[] = {"status", "body", "content_type", NULL};
static const char *const redirect_keys[] = {"status", "location", NULL};
static const char *const action_keys[L7_ACT__COUNT] = {"upstream", "respond", "redirect", "split"};

/* Which action keys the route has, in file order; errors at the second. */
static int find_action(struct l7_build *b, const config_setting_t *rg, enum l7_action *out)
{
	int found = -1;

	for (int i = 0; i < config_setting_length(rg); i++) {
		const config_setting_t *m = config_setting_get_elem(rg, (unsigned)i);

		for (int a = 0; a < L7_ACT__COUNT; a++) {
			if (strcmp(config_setting_name(m), action_keys[a]))
				continue;
			if (found >= 0)
				return cfg_errf(b->err, m,
						"a route has exactly one action, and %s is already "
						"set",
						action_keys[found]);
			found = a;
		}
	}
	if (found < 0)
		return cfg_errf(b->err, rg,
				"needs an action: upstream, split, respond or redirect");
	*out = (enum l7_action)found;
	return 0;
}

static int resolve_upstream(struct l7_build *b, const config_setting_t *rg, struct l7_route *r)
{
	const config_setting_t *s = config_setting_get_member(rg, "upstream");
	const struct l7_snapshot *snap = b->s;
	const char *name, *hint;

	if (cfg_get_string(rg, "upstream", NULL, &name, b->err))
		return -EINVAL;
	for (uint32_t i = 0; i < snap->n_upstreams; i++) {
		if (!strcmp(snap->upstreams[i].name.ptr, name)) {
			r->upstream = &snap->upstreams[i];
			return 0;
		}
	}
	hint = l7b_closest(name, &snap->upstreams[0].name, sizeof(snap->upstreams[0]),
			   snap->n_upstreams);
	if (hint)
		return cfg_errf(b->err, s, "unknown upstream \"%.64s\" (did you mean \"%s\"?)",
				name, hint);
	return cfg_errf(b->err, s, "unknown upstream \"%.64s\"", name);
}

static int build_respond(struct l7_build *b, const config_setting_t *rg, struct l7_route *r)
{
	const config_setting_t *g;
	uint32_t status;

	if (cfg_get_group(rg, "respond", &g, b->err) || cfg_check_keys(g, respond_keys, b->err) ||
	    l7b_uint(b, g, "status", 200, 200, 599, &status) ||
	    l7b_string(b, g, "body", "", &r->respond.body) ||
	    l7b_string(b, g, "content_type", "text/plain", &r->respond.content_type))
		return -EINVAL;
	r->respond.status = (uint16_t)status;
	if (r->respond.body.len > L7_BODY_MAX)
		return cfg_errf_key(b->err, g, "body", "longer than %d bytes", L7_BODY_MAX);
	/* RFC 9110 §15.3.5, §15.4.5: 204 and 304 never have content */
	if ((status == 204 || status == 304) && r->respond.body.len)
		return cfg_errf_key(b->err, g, "body", "a %u response has no body", status);
	if (!l7_is_field_value(r->respond.content_type.ptr, r->respond.content_type.len) ||
	    !r->respond.content_type.len)
		return cfg_errf_key(b->err, g, "content_type",
				    "expected a media type like \"text/plain\"");
	return 0;
}

static int add_seg(struct l7_build *b, const config_setting_t *at, struct l7_route *r,
		   enum l7_tmpl_kind kind, const char *text, size_t len)
{
	struct l7_tmpl_seg *seg = &r->redirect.segs[r->redirect.n_segs];

	if (kind == L7_TMPL_TEXT && len == 0)
		return 0;
	seg->kind = (uint8_t)kind;
	if (kind == L7_TMPL_TEXT && !l7b_copy(b, text, len, &seg->text))
		return l7b_oom(b, at);
	r->redirect.n_segs++;
	return 0;
}

/* Splits "https://$host$uri" into segments. "$$" is a literal '$'. */
static int parse_location(struct l7_build *b, const config_setting_t *at, struct l7_route *r)
{
	static const char *const vars[] = {"path", "host", "query", "uri"};
	static const enum l7_tmpl_kind kinds[] = {L7_TMPL_PATH, L7_TMPL_HOST, L7_TMPL_QUERY,
						  L7_TMPL_URI};
	const char *p = r->redirect.location.ptr, *end = p + r->redirect.location.len, *lit = p;

	/* at most one segment per byte, plus one */
	r->redirect.segs =
	    l7b_array(b, at, r->redirect.location.len + 1, sizeof(struct l7_tmpl_seg));
	if (!r->redirect.segs)
		return -EINVAL;
	while (p < end) {
		const char *v = p + 1;
		size_t k, n;

		if (*p != '$') {
			p++;
			continue;
		}
		if (add_seg(b, at, r, L7_TMPL_TEXT, lit, (size_t)(p - lit)))
			return -EINVAL;
		if (v < end && *v == '$') {
			lit = v; /* the second '$' starts the next literal */
			p = v + 1;
			continue;
		}
		for (n = 0; v + n < end && ((v[n] >= 'a' && v[n] <= 'z') || v[n] == '_'); n++)
			;
		for (k = 0; k < 4 && (strlen(vars[k]) != n || memcmp(vars[k], v, n)); k++)
			;
		if (k == 4)
			return cfg_errf(b->err, at,
					"unknown variable \"$%.*s\" (known: $path, $host, $query, "
					"$uri; $$ for a '$')",
					(int)(n > 32 ? 32 : n), v);
		if (add_seg(b, at, r, kinds[k], NULL, 0))
			return -EINVAL;
		p = lit = v + n;
	}
	return add_seg(b, at, r, L7_TMPL_TEXT, lit, (size_t)(p - lit));
}

static int build_redirect(struct l7_build *b, const config_setting_t *rg, struct l7_route *r)
{
	const config_setting_t *g;
	uint32_t status;

	if (cfg_get_group(rg, "redirect", &g, b->err) || cfg_check_keys(g, redirect_keys, b->err) ||
	    l7b_uint(b, g, "status", 302, 301, 308, &status) ||
	    cfg_require(g, "location", b->err) ||
	    l7b_string(b, g, "location", NULL, &r->redirect.location))
		return -EINVAL;
	if (status == 304 || status == 305 || status == 306)
		return cfg_errf_key(b->err, g, "status",
				    "expected 301, 302, 303, 307 or 308, got %u", status);
	r->redirect.status = (uint16_t)status;
	if (!r->redirect.location.len || r->redirect.location.len > L7_HDR_VALUE_MAX ||
	    !l7_is_field_value(r->redirect.location.ptr, r->redirect.location.len))
		return cfg_errf_key(b->err, g, "location",
				    "expected a URL like \"https://example.com$uri\" (printable, "
				    "at most %d bytes)",
				    L7_HDR_VALUE_MAX);
	return parse_location(b, config_setting_get_member(g, "location"), r);
}

static int build_body_opts(struct l7_build *b, const config_setting_t *rg, struct l7_route *r)
{
	if (cfg_get_size(rg, "max_body", 1u << 20, 0, 1ull << 40, &r->max_body, b->err) ||
	    cfg_get_bool(rg, "buffer_request", false, &r->buffer_request, b->err))
		return -EINVAL;
	if (!r->buffer_request)
		return 0;
	if (r->action != L7_ACT_UPSTREAM && r->action != L7_ACT_SPLIT)
		return cfg_errf_key(b->err, rg, "buffer_request",
				    "only applies to routes with an upstream");
	if (r->max_body == 0 || r->max_body > L7_MAX_BUFFERED_BODY)
		return cfg_errf_key(b->err, rg, "max_body",
				    "must be between 1 and 64m with buffer_request = true");
	return 0;
}

static int build_action(struct l7_build *b, const config_setting_t *rg, struct l7_route *r)
{
	if (find_action(b, rg, &r->action))
		return -EINVAL;
	switch (r->action) {
	case L7_ACT_UPSTREAM:
		return resolve_upstream(b, rg, r);
	case L7_ACT_RESPOND:
		return build_respond(b, rg, r);
	case L7_ACT_REDIRECT:
		return build_redirect(b, rg, r);
	case L7_ACT_SPLIT:
		return l7_build_split(b, rg, r);
	case L7_ACT__COUNT:
		break;
	}
	return -EINVAL;
}

/* A split route proxies through one copy of itself per side, each an
 * upstream route to that side's upstream: everything after the choice
 * (headers, body limits, retries, logs) is the plain upstream path. The
 * copies share the route's arrays (the arena owns them; the destroy walks
 * the routes only). */
static int split_copies(struct l7_build *b, const config_setting_t *rg, struct l7_route *r)
{
	unsigned n = r->split->n_sides;

	if (!(r->split_routes = l7b_array(b, rg, n, sizeof(*r->split_routes))))
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		struct l7_route *c = &r->split_routes[i];

		*c = *r;
		c->action = L7_ACT_UPSTREAM;
		c->upstream = r->split_ups[i];
		c->split_routes = NULL;
	}
	return 0;
}

static int build_route(struct l7_build *b, const config_setting_t *rg, struct l7_route *r)
{
	if (cfg_expect_group(rg, b->err) || cfg_check_keys(rg, route_keys, b->err) ||
	    l7b_name(b, rg, "name", NULL, &r->name) || build_action(b, rg, r) ||
	    l7_build_match(b, rg, &r->match) || l7_build_route_limits(b, rg, r))
		return -EINVAL;
	if (r->action != L7_ACT_UPSTREAM && r->action != L7_ACT_SPLIT &&
	    cfg_has(rg, "request_headers"))
		return cfg_errf_key(b->err, rg, "request_headers",
				    "only applies to routes with an upstream");
	if (l7_build_hdr_rules(b, rg, "request_headers", true, &r->req_hdrs) ||
	    l7_build_hdr_rules(b, rg, "response_headers", false, &r->resp_hdrs) ||
	    build_body_opts(b, rg, r))
		return -EINVAL;
	return r->action == L7_ACT_SPLIT ? split_copies(b, rg, r) : 0;
}

int l7_build_routes(struct l7_build *b, const config_setting_t *root)
{
	const config_setting_t *list;
	struct l7_snapshot *s = b->s;
	int n;

	if (cfg_get_list(root, "routes", &list, b->err))
		return -EINVAL;
	n = list ? config_setting_length(list) : 0;
	if (n > L7_MAX_ROUTES)
		return cfg_errf(b->err, list, "too many routes (at most %d)", L7_MAX_ROUTES);
	if (!(s->routes = l7b_array(b, root, (size_t)n, sizeof(*s->routes))))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		const config_setting_t *rg = config_setting_get_elem(list, (unsigned)i);
		struct l7_route *r = &s->routes[i];

		/* counted first: the destroy frees what a failed route holds */
		s->n_routes = (uint32_t)i + 1;
		r->index = (uint32_t)i;
		cidr_list_init(&r->match.source);
		if (build_route(b, rg, r))
			return -EINVAL;
		for (int j = 0; j < i; j++) {
			if (!strcmp(s->routes[j].name.ptr, r->name.ptr))
				return cfg_errf_key(b->err, rg, "name",
						    "duplicate route name \"%s\" (first at "
						    "routes[%d])",
						    r->name.ptr, j);
		}
	}
	return 0;
}

void l7_free_routes(struct l7_snapshot *s)
{
	for (uint32_t i = 0; s->routes && i < s->n_routes; i++) {
		pcre2_code_free(s->routes[i].match.regex);
		cidr_list_free(&s->routes[i].match.source);
	}
}
