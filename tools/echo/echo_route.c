/* Request target to endpoint mapping; see echo_route.h. */
#include "echo_route.h"

#include <errno.h>
#include <string.h>

/* Strips "scheme://authority" from an absolute-form target (RFC 9112 §3.2.2)
 * so "http://a/size/3" routes like "/size/3". */
static struct echo_span origin_path(struct echo_span t)
{
	const char *sep = t.len > 3 ? memchr(t.ptr, ':', t.len) : NULL;
	const char *end = t.ptr + t.len, *p;

	if (!sep || t.ptr[0] == '/' || end - sep < 3 || sep[1] != '/' || sep[2] != '/')
		return t;
	p = memchr(sep + 3, '/', (size_t)(end - sep - 3));
	if (!p)
		return (struct echo_span){"/", 1};
	return (struct echo_span){p, (size_t)(end - p)};
}

static bool has_prefix(struct echo_span s, const char *lit, size_t n)
{
	return s.len >= n && memcmp(s.ptr, lit, n) == 0;
}

/* Decimal number of 1..10 digits; returns false otherwise. */
static bool parse_num(struct echo_span s, uint64_t *out)
{
	uint64_t v = 0;

	if (s.len == 0 || s.len > 10)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		if (s.ptr[i] < '0' || s.ptr[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s.ptr[i] - '0');
	}
	*out = v;
	return true;
}

/* True when the query holds the parameter "chunked=1". */
static bool query_chunked(struct echo_span q)
{
	const char *p = q.ptr, *end = q.ptr + q.len;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		size_t n = (size_t)((amp ? amp : end) - p);

		if (n == 9 && memcmp(p, "chunked=1", 9) == 0)
			return true;
		p += n + 1;
	}
	return false;
}

static const struct {
	const char *prefix;
	enum echo_route_kind kind;
	bool takes_arg;
} routes[] = {
    {"/echo-body", ECHO_R_ECHO_BODY, false}, {"/size/", ECHO_R_SIZE, true},
    {"/status/", ECHO_R_STATUS, true},	     {"/delay/", ECHO_R_DELAY, true},
    {"/close", ECHO_R_CLOSE, false},	     {"/stats", ECHO_R_STATS, false},
    {"/healthz", ECHO_R_HEALTHZ, false},
};

static bool arg_in_range(enum echo_route_kind kind, uint64_t v)
{
	switch (kind) {
	case ECHO_R_SIZE:
		return v <= ECHO_ROUTE_MAX_SIZE;
	case ECHO_R_STATUS:
		/* 1xx are interim responses, not something to end a request with. */
		return v >= 200 && v <= 599;
	case ECHO_R_DELAY:
		return v <= ECHO_ROUTE_MAX_DELAY_MS;
	default:
		return true;
	}
}

int echo_route_parse(struct echo_span target, struct echo_route *out, enum echo_http_why *why)
{
	struct echo_span path = origin_path(target), query = {"", 0};
	const char *q = memchr(path.ptr, '?', path.len);

	if (q) {
		query = (struct echo_span){q + 1, (size_t)(path.ptr + path.len - q - 1)};
		path.len = (size_t)(q - path.ptr);
	}
	*out = (struct echo_route){.kind = ECHO_R_ECHO};
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		size_t n = strlen(routes[i].prefix);
		struct echo_span arg;

		if (!has_prefix(path, routes[i].prefix, n))
			continue;
		if (!routes[i].takes_arg) {
			if (path.len != n)
				continue;
			out->kind = routes[i].kind;
			return 0;
		}
		arg = (struct echo_span){path.ptr + n, path.len - n};
		if (!parse_num(arg, &out->arg) || !arg_in_range(routes[i].kind, out->arg)) {
			*why = ECHO_HTTP_BAD_PARAM;
			return -EBADMSG;
		}
		out->kind = routes[i].kind;
		out->chunked = routes[i].kind == ECHO_R_SIZE && query_chunked(query);
		return 0;
	}
	return 0;
}

const char *echo_route_name(enum echo_route_kind kind)
{
	static const char *const names[ECHO_R__COUNT] = {
	    [ECHO_R_ECHO] = "echo",	[ECHO_R_ECHO_BODY] = "echo-body", [ECHO_R_SIZE] = "size",
	    [ECHO_R_STATUS] = "status", [ECHO_R_DELAY] = "delay",	  [ECHO_R_CLOSE] = "close",
	    [ECHO_R_STATS] = "stats",	[ECHO_R_HEALTHZ] = "healthz",
	};

	return (unsigned)kind < ECHO_R__COUNT ? names[kind] : "?";
}
