/* strata-l7 configuration: the `upstreams` list (docs/l7-config.md
 * "upstreams"): servers, balancing, stickiness, pools, timeouts, retries,
 * active and passive health. The breaker group and the retry budget keys
 * are parsed by l7_config_traffic.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http1_semantics.h"
#include "l7_config_int.h"

#define HOUR_MS 3600000u

static const char *const upstream_keys[] = {"name",    "balance", "hash_key", "sticky_cookie",
					    "servers", "pool",	  "timeouts", "retry",
					    "health",  "passive", "breaker",  NULL};
static const char *const server_keys[] = {"name", "address", "weight", "backup", NULL};
static const char *const pool_keys[] = {"max_idle_per_server", "idle_timeout", "max_requests",
					NULL};
static const char *const timeouts_keys[] = {"connect", "send", "read", NULL};
static const char *const retry_keys[] = {"on",	       "tries",	  "deadline",	 "budget_percent",
					 "budget_min", "backoff", "backoff_max", NULL};
static const char *const health_keys[] = {"enabled",  "method",	 "path", "host", "expect",
					  "interval", "timeout", "rise", "fall", NULL};
static const char *const passive_keys[] = {"failures", "cooldown", NULL};
/* enum l7_retry_on order */
static const char *const retry_names[] = {"connect_error", "timeout", "502", "503", "504", NULL};
static const char *const balance_names[] = {"least_conn", "round_robin", "random2", "hash", NULL};
static const enum balance_algo balance_algos[] = {BALANCE_LEAST_CONN, BALANCE_ROUND_ROBIN,
						  BALANCE_RANDOM2, BALANCE_MAGLEV};

static int sub_group(struct l7_build *b, const config_setting_t *g, const char *key,
		     const char *const keys[], const config_setting_t **out)
{
	if (cfg_get_group(g, key, out, b->err))
		return -EINVAL;
	return cfg_check_keys(*out, keys, b->err);
}

static int build_server(struct l7_build *b, const config_setting_t *sg, struct l7_server *srv)
{
	char text[ADDR_STR_MAX];
	int n;

	if (cfg_expect_group(sg, b->err) || cfg_check_keys(sg, server_keys, b->err) ||
	    cfg_require(sg, "address", b->err) ||
	    cfg_get_addr(sg, "address", ADDR_F_UNIX, 0, NULL, &srv->address, b->err) ||
	    l7b_uint(b, sg, "weight", 1, 0, 10000, &srv->weight) ||
	    cfg_get_bool(sg, "backup", false, &srv->backup, b->err))
		return -EINVAL;
	if (cfg_has(sg, "name"))
		return l7b_name(b, sg, "name", NULL, &srv->name);
	/* the address is the natural stable identity (balance.h, maglev.h) */
	n = addr_format(&srv->address, text, sizeof(text));
	if (n < 0 || n > L7_NAME_MAX)
		return cfg_errf_key(b->err, sg, "name",
				    "required key is missing (the address is too long to serve "
				    "as the name)");
	return l7b_copy(b, text, (size_t)n, &srv->name) ? 0 : l7b_oom(b, sg);
}

static int check_server_unique(struct l7_build *b, const config_setting_t *list,
			       const struct l7_upstream *u, uint32_t i)
{
	const config_setting_t *sg = config_setting_get_elem(list, i);
	const struct l7_server *srv = &u->servers[i];

	for (uint32_t j = 0; j < i; j++) {
		const struct l7_server *o = &u->servers[j];

		if (o->name.len == srv->name.len &&
		    !memcmp(o->name.ptr, srv->name.ptr, o->name.len))
			return cfg_errf_key(b->err, sg, "name",
					    "duplicate server name \"%s\" (first at servers[%u])",
					    srv->name.ptr, j);
		if (addr_equal(&o->address, &srv->address))
			return cfg_errf_key(b->err, sg, "address",
					    "same address as servers[%u] (\"%s\")", j, o->name.ptr);
	}
	return 0;
}

static int build_servers(struct l7_build *b, const config_setting_t *ug, struct l7_upstream *u)
{
	const config_setting_t *list;
	bool primary = false;
	int n;

	if (cfg_require(ug, "servers", b->err) || cfg_get_list(ug, "servers", &list, b->err))
		return -EINVAL;
	n = config_setting_length(list);
	if (n == 0 || n > L7_MAX_SERVERS)
		return cfg_errf(b->err, list, "must hold 1 to %d servers", L7_MAX_SERVERS);
	if (!(u->servers = l7b_array(b, list, (size_t)n, sizeof(*u->servers))))
		return -EINVAL;
	u->n_servers = (uint32_t)n;
	for (uint32_t i = 0; i < u->n_servers; i++) {
		u->servers[i].index = i;
		if (build_server(b, config_setting_get_elem(list, i), &u->servers[i]) ||
		    check_server_unique(b, list, u, i))
			return -EINVAL;
		primary |= !u->servers[i].backup && u->servers[i].weight > 0;
	}
	if (!primary)
		return cfg_errf(b->err, list,
				"no server can take requests: at least one must be a primary "
				"(backup = false) with weight > 0");
	return 0;
}

/* hash_key = "client_ip" | "header:NAME" | "cookie:NAME" */
static int build_hash_key(struct l7_build *b, const config_setting_t *ug, struct l7_upstream *u)
{
	const config_setting_t *s = config_setting_get_member(ug, "hash_key");
	const char *v, *name = NULL;

	u->hash_key = L7_HASH_CLIENT_IP;
	if (!s)
		return 0;
	if (u->balance != BALANCE_MAGLEV)
		return cfg_errf(b->err, s, "only used with balance = \"hash\"");
	if (cfg_get_string(ug, "hash_key", NULL, &v, b->err))
		return -EINVAL;
	if (!strcmp(v, "client_ip"))
		return 0;
	if (!strncmp(v, "header:", 7)) {
		u->hash_key = L7_HASH_HEADER;
		name = v + 7;
	} else if (!strncmp(v, "cookie:", 7)) {
		u->hash_key = L7_HASH_COOKIE;
		name = v + 7;
	}
	if (!name || !l7_is_token(name, strlen(name)) || strlen(name) > L7_NAME_MAX)
		return cfg_errf(b->err, s,
				"expected \"client_ip\", \"header:NAME\" or \"cookie:NAME\", got "
				"\"%.80s\"",
				v);
	return l7b_copy(b, name, strlen(name), &u->hash_name) ? 0 : l7b_oom(b, s);
}

static int build_balance(struct l7_build *b, const config_setting_t *ug, struct l7_upstream *u)
{
	int k;

	if (cfg_get_enum(ug, "balance", balance_names, 0, &k, b->err))
		return -EINVAL;
	u->balance = balance_algos[k];
	if (build_hash_key(b, ug, u) || l7b_string(b, ug, "sticky_cookie", "", &u->sticky_cookie))
		return -EINVAL;
	/* RFC 6265 §4.1.1: cookie-name is a token */
	if (u->sticky_cookie.len && (!l7_is_token(u->sticky_cookie.ptr, u->sticky_cookie.len) ||
				     u->sticky_cookie.len > L7_NAME_MAX))
		return cfg_errf_key(b->err, ug, "sticky_cookie",
				    "expected \"\" (off) or a cookie name like \"SERVERID\"");
	return 0;
}

static int build_pool_timeouts(struct l7_build *b, const config_setting_t *ug,
			       struct l7_upstream *u)
{
	const config_setting_t *p, *t, *pa;

	if (sub_group(b, ug, "pool", pool_keys, &p) ||
	    l7b_uint(b, p, "max_idle_per_server", 1024, 0, 10000, &u->pool.max_idle_per_server) ||
	    l7b_ms(b, p, "idle_timeout", 30000, 1, HOUR_MS, &u->pool.idle_timeout_ms) ||
	    l7b_uint(b, p, "max_requests", 1000, 0, 1000000000, &u->pool.max_requests))
		return -EINVAL;
	if (sub_group(b, ug, "timeouts", timeouts_keys, &t) ||
	    l7b_ms(b, t, "connect", 2000, 1, 600000, &u->timeouts.connect_ms) ||
	    l7b_ms(b, t, "send", 10000, 1, HOUR_MS, &u->timeouts.send_ms) ||
	    l7b_ms(b, t, "read", 30000, 1, HOUR_MS, &u->timeouts.read_ms))
		return -EINVAL;
	if (sub_group(b, ug, "passive", passive_keys, &pa) ||
	    l7b_uint(b, pa, "failures", 5, 0, 1000, &u->passive.failures) ||
	    l7b_ms(b, pa, "cooldown", 10000, 1, HOUR_MS, &u->passive.cooldown_ms))
		return -EINVAL;
	return 0;
}

static int build_retry(struct l7_build *b, const config_setting_t *ug, struct l7_upstream *u)
{
	const config_setting_t *r, *on;
	int n;

	if (sub_group(b, ug, "retry", retry_keys, &r) ||
	    l7b_uint(b, r, "tries", 2, 1, 16, &u->retry.tries) ||
	    l7b_ms(b, r, "deadline", 10000, 1, HOUR_MS, &u->retry.deadline_ms) ||
	    l7_build_retry_budget(b, r, u))
		return -EINVAL;
	n = l7b_items(b, r, "on", &on, 16, "a retry condition string");
	if (n < 0)
		return -EINVAL;
	if (!on) { /* nginx's error+timeout, and the gateway errors */
		u->retry.on = (1u << L7_RETRY__COUNT) - 1;
		return 0;
	}
	u->retry.on = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = l7b_item(on, i);
		const char *v = config_setting_get_string(e);
		int k;

		for (k = 0; retry_names[k] && strcmp(v, retry_names[k]); k++)
			;
		if (!retry_names[k])
			return cfg_errf(b->err, e,
					"expected one of \"connect_error\", \"timeout\", \"502\", "
					"\"503\", \"504\", got \"%.40s\"",
					v);
		if (u->retry.on & (1u << k))
			return cfg_errf(b->err, e, "\"%s\" listed twice", v);
		u->retry.on |= 1u << k;
	}
	return 0;
}

static bool parse_status(const char *p, size_t len, unsigned *out)
{
	if (len != 3)
		return false;
	*out = 0;
	for (size_t i = 0; i < 3; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		*out = *out * 10 + (unsigned)(p[i] - '0');
	}
	return *out >= 100 && *out <= 599;
}

/* "200-399" or "200": an inclusive status range */
static int parse_expect(struct l7_build *b, const config_setting_t *h, struct l7_health *hc)
{
	const char *dash;
	unsigned lo, hi;
	struct l7_str v;

	if (l7b_string(b, h, "expect", "200-399", &v))
		return -EINVAL;
	dash = memchr(v.ptr, '-', v.len);
	if (dash ? parse_status(v.ptr, (size_t)(dash - v.ptr), &lo) &&
		       parse_status(dash + 1, v.len - (size_t)(dash - v.ptr) - 1, &hi) && lo <= hi
		 : parse_status(v.ptr, v.len, &lo) && (hi = lo)) {
		hc->expect_lo = (uint16_t)lo;
		hc->expect_hi = (uint16_t)hi;
		return 0;
	}
	return cfg_errf_key(b->err, h, "expect",
			    "expected a status or a range like \"200-399\" within 100-599");
}

static int build_health(struct l7_build *b, const config_setting_t *ug, struct l7_upstream *u)
{
	struct l7_health *hc = &u->health;
	const config_setting_t *h;

	if (sub_group(b, ug, "health", health_keys, &h) ||
	    cfg_get_bool(h, "enabled", false, &hc->enabled, b->err) ||
	    l7b_string(b, h, "method", "GET", &hc->method) ||
	    l7b_string(b, h, "path", "/healthz", &hc->path) ||
	    l7b_string(b, h, "host", "", &hc->host) || parse_expect(b, h, hc) ||
	    l7b_ms(b, h, "interval", 1000, 10, HOUR_MS, &hc->interval_ms) ||
	    l7b_ms(b, h, "timeout", 500, 1, HOUR_MS, &hc->timeout_ms) ||
	    l7b_uint(b, h, "rise", 2, 1, 100, &hc->rise) ||
	    l7b_uint(b, h, "fall", 3, 1, 100, &hc->fall))
		return -EINVAL;
	if (!l7_is_token(hc->method.ptr, hc->method.len))
		return cfg_errf_key(b->err, h, "method", "expected a method like \"GET\"");
	if (hc->path.ptr[0] != '/' || !l7_is_field_value(hc->path.ptr, hc->path.len) ||
	    memchr(hc->path.ptr, ' ', hc->path.len))
		return cfg_errf_key(b->err, h, "path", "expected a path like \"/healthz\"");
	if (hc->host.len && !http1_is_valid_authority(hc->host.ptr, hc->host.len, false))
		return cfg_errf_key(b->err, h, "host", "expected a host like \"app.local\"");
	if (hc->timeout_ms > hc->interval_ms)
		return cfg_errf_key(b->err, h, "timeout", "must not be longer than interval (%ums)",
				    hc->interval_ms);
	return 0;
}

static int build_upstream(struct l7_build *b, const config_setting_t *ug, struct l7_upstream *u)
{
	if (cfg_expect_group(ug, b->err) || cfg_check_keys(ug, upstream_keys, b->err) ||
	    l7b_name(b, ug, "name", NULL, &u->name) || build_balance(b, ug, u) ||
	    build_servers(b, ug, u) || build_pool_timeouts(b, ug, u) || build_retry(b, ug, u) ||
	    build_health(b, ug, u) || l7_build_breaker(b, ug, u))
		return -EINVAL;
	return 0;
}

int l7_build_upstreams(struct l7_build *b, const config_setting_t *root)
{
	const config_setting_t *list;
	struct l7_snapshot *s = b->s;
	int n;

	if (cfg_get_list(root, "upstreams", &list, b->err))
		return -EINVAL;
	n = list ? config_setting_length(list) : 0;
	if (n > L7_MAX_UPSTREAMS)
		return cfg_errf(b->err, list, "too many upstreams (at most %d)", L7_MAX_UPSTREAMS);
	if (!(s->upstreams = l7b_array(b, root, (size_t)n, sizeof(*s->upstreams))))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		const config_setting_t *ug = config_setting_get_elem(list, (unsigned)i);
		struct l7_upstream *u = &s->upstreams[i];

		u->index = (uint32_t)i;
		if (build_upstream(b, ug, u))
			return -EINVAL;
		for (int j = 0; j < i; j++) {
			if (s->upstreams[j].name.len == u->name.len &&
			    !memcmp(s->upstreams[j].name.ptr, u->name.ptr, u->name.len))
				return cfg_errf_key(b->err, ug, "name",
						    "duplicate upstream name \"%s\" (first at "
						    "upstreams[%d])",
						    u->name.ptr, j);
		}
		s->n_upstreams = (uint32_t)i + 1;
	}
	return 0;
}
