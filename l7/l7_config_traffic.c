/* strata-l7 configuration: traffic management (docs/traffic.md): the
 * top-level `rate_limits` policies and `rate_limit_table`, a listener's
 * `max_conns_per_ip`, an upstream's `breaker` group and retry budget keys,
 * a route's `rate_limit` list and its `split` action.
 *
 * Values go through the modules' own checks (l7_rl_parse_rate,
 * l7_rl_policy_init, l7_brk_params_check, l7_split_new) so the engine never
 * holds a setting they would refuse. Everything lands in the snapshot's
 * arena; nothing here needs its own destructor. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#include "l7_config_int.h"

#define L7_MAX_RATE_LIMITS 256 /* policies of one config */
#define L7_MAX_ROUTE_RL	   16  /* policies one route names */
#define HOUR_MS		   3600000u
#define MINUTE_MS	   60000u

/* No "headers" key: RateLimit fields on allowed responses need the
 * response head builder to carry them; a 429 always has them. */
static const char *const rl_keys[] = {"name",	     "rate",	    "burst",   "key",
				      "ipv4_prefix", "ipv6_prefix", "dry_run", NULL};
static const char *const breaker_keys[] = {"enabled",
					   "consecutive",
					   "error_percent",
					   "min_requests",
					   "window",
					   "latency",
					   "latency_percentile",
					   "open",
					   "open_max",
					   "half_open_probes",
					   "count_5xx",
					   "on_open",
					   "max_requests",
					   "max_pending",
					   NULL};
static const char *const split_keys[] = {"sides", "sticky", "force_header", "force_cookie", NULL};
static const char *const side_keys[] = {"upstream", "weight", NULL};
static const char *const on_open_names[] = {"next", "fail", NULL}; /* enum l7_brk_on_open */

/* "client_ip" | "PREFIX:NAME" for one of two prefixes. Returns 0 (client
 * ip), 1 or 2 (which prefix) with *name pointing into `v`, or -1. */
static int parse_keyed(const char *v, const char *p1, const char *p2, const char **name)
{
	size_t n1 = strlen(p1), n2 = p2 ? strlen(p2) : 0;

	*name = NULL;
	if (!strcmp(v, "client_ip"))
		return 0;
	if (!strncmp(v, p1, n1))
		*name = v + n1;
	else if (p2 && !strncmp(v, p2, n2))
		*name = v + n2;
	if (!*name || !l7_is_token(*name, strlen(*name)) || strlen(*name) > L7_NAME_MAX)
		return -1;
	return *name == v + n1 ? 1 : 2;
}

/* --- rate_limits ------------------------------------------------------------ */

static int rl_key(struct l7_build *b, const config_setting_t *g, struct l7_rl_policy *p)
{
	const config_setting_t *s = config_setting_get_member(g, "key");
	const char *v, *name;
	int k;

	if (!s)
		return 0;
	if (cfg_get_string(g, "key", NULL, &v, b->err))
		return -EINVAL;
	if (!strcmp(v, "route"))
		return l7_rl_policy_key(p, L7_RL_KEY_ROUTE, NULL) ? l7b_oom(b, s) : 0;
	k = parse_keyed(v, "header:", NULL, &name);
	if (k < 0)
		return cfg_errf(
		    b->err, s,
		    "expected \"client_ip\", \"header:NAME\" or \"route\", got \"%.80s\"", v);
	if (k == 1 && l7_rl_policy_key(p, L7_RL_KEY_HEADER, name))
		return cfg_errf(b->err, s, "header name longer than %d bytes", L7_RL_HDR_NAME_MAX);
	return 0;
}

static int build_policy(struct l7_build *b, const config_setting_t *g, struct l7_rl_policy *p)
{
	const config_setting_t *rs;
	uint32_t count, period, burst, v4, v6;
	enum l7_rl_err why = L7_RL_ERR_NONE;
	struct l7_str name;
	const char *rate;

	if (cfg_expect_group(g, b->err) || cfg_check_keys(g, rl_keys, b->err) ||
	    l7b_name(b, g, "name", NULL, &name) || cfg_require(g, "rate", b->err) ||
	    cfg_get_string(g, "rate", NULL, &rate, b->err))
		return -EINVAL;
	rs = config_setting_get_member(g, "rate");
	if (l7_rl_parse_rate(rate, strlen(rate), &count, &period, &why) <= 0)
		return cfg_errf(b->err, rs, "%s", l7_rl_err_text(why));
	if (l7b_uint(b, g, "burst", count, 1, L7_RL_MAX_BURST, &burst) ||
	    l7b_uint(b, g, "ipv4_prefix", 32, 1, 32, &v4) ||
	    l7b_uint(b, g, "ipv6_prefix", 64, 1, 128, &v6))
		return -EINVAL;
	if (l7_rl_policy_init(p, name.ptr, count, period, burst))
		return cfg_errf_key(b->err, g, "burst",
				    "too large for this rate (burst x interval overflows)");
	p->v4_prefix = (uint8_t)v4;
	p->v6_prefix = (uint8_t)v6;
	if (rl_key(b, g, p) || cfg_get_bool(g, "dry_run", false, &p->dry_run, b->err))
		return -EINVAL;
	return 0;
}

int l7_build_rate_limits(struct l7_build *b, const config_setting_t *root)
{
	struct l7_snapshot *s = b->s;
	const config_setting_t *list;
	int n;

	if (l7b_uint(b, root, "rate_limit_table", L7_RL_DEFAULT_KEYS, L7_RL_MIN_KEYS,
		     L7_RL_MAX_KEYS, &s->rate_limit_table) ||
	    cfg_get_list(root, "rate_limits", &list, b->err))
		return -EINVAL;
	n = list ? config_setting_length(list) : 0;
	if (n > L7_MAX_RATE_LIMITS)
		return cfg_errf(b->err, list, "too many rate limits (at most %d)",
				L7_MAX_RATE_LIMITS);
	if (!(s->rate_limits = l7b_array(b, root, (size_t)n + 1, sizeof(*s->rate_limits))))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);

		if (build_policy(b, g, &s->rate_limits[i]))
			return -EINVAL;
		for (int j = 0; j < i; j++)
			if (!strcmp(s->rate_limits[j].name, s->rate_limits[i].name))
				return cfg_errf_key(b->err, g, "name",
						    "duplicate rate limit name \"%s\" (first at "
						    "rate_limits[%d])",
						    s->rate_limits[i].name, j);
		s->n_rate_limits = (uint32_t)i + 1;
	}
	return 0;
}

/* --- listeners ----------------------------------------------------------- */

int l7_build_listener_limits(struct l7_build *b, const config_setting_t *lg, struct l7_listener *l)
{
	uint32_t v4, v6;

	if (l7b_uint(b, lg, "max_conns_per_ip", 0, 0, 1000000, &l->max_conns_per_ip) ||
	    l7b_uint(b, lg, "conn_limit_ipv4_prefix", 32, 1, 32, &v4) ||
	    l7b_uint(b, lg, "conn_limit_ipv6_prefix", 64, 1, 128, &v6))
		return -EINVAL;
	l->cl_v4_prefix = (uint8_t)v4;
	l->cl_v6_prefix = (uint8_t)v6;
	/* the name, not the position: a reload that reorders listeners keeps
	 * each one's counts */
	l->cl_scope = (uint32_t)hash_bytes(l->name.ptr, l->name.len);
	return 0;
}

/* --- upstreams: breaker and retry budget ---------------------------------------- */

/* latency_percentile: 0.1 to 99.9, one decimal (an integer is fine too). */
static int percentile(struct l7_build *b, const config_setting_t *g, uint32_t *permille)
{
	const config_setting_t *s = g ? config_setting_get_member(g, "latency_percentile") : NULL;
	double v, tenths;

	if (!s)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
		v = config_setting_get_float(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = (double)config_setting_get_int(s);
	else
		return cfg_errf(b->err, s, "expected a number like 99.9");
	tenths = v * 10.0;
	if (!(v >= 0.1 && v <= 99.9) || fabs(tenths - round(tenths)) > 1e-6)
		return cfg_errf(b->err, s, "expected 0.1 to 99.9 with at most one decimal, got %g",
				v);
	*permille = (uint32_t)lround(tenths);
	return 0;
}

static int breaker_values(struct l7_build *b, const config_setting_t *g, struct l7_brk_params *p)
{
	int on_open;

	if (cfg_get_bool(g, "enabled", true, &p->enabled, b->err) ||
	    l7b_uint(b, g, "consecutive", 5, 0, 10000, &p->consecutive) ||
	    l7b_uint(b, g, "error_percent", 50, 0, 100, &p->error_percent) ||
	    l7b_uint(b, g, "min_requests", 20, 0, 1000000000, &p->min_requests) ||
	    l7b_ms(b, g, "window", 10000, L7_BRK_SLICES, L7_BRK_MAX_WINDOW, &p->window_ms) ||
	    l7b_ms(b, g, "latency", 0, 0, HOUR_MS, &p->latency_ms) ||
	    percentile(b, g, &p->latency_permille) ||
	    l7b_ms(b, g, "open", 5000, 1, L7_BRK_MAX_OPEN_MS, &p->open_ms) ||
	    l7b_ms(b, g, "open_max", p->open_ms > 60000 ? p->open_ms : 60000, 1, L7_BRK_MAX_OPEN_MS,
		   &p->open_max_ms) ||
	    l7b_uint(b, g, "half_open_probes", 3, 1, L7_BRK_MAX_PROBES, &p->half_open_probes) ||
	    cfg_get_bool(g, "count_5xx", true, &p->count_5xx, b->err) ||
	    cfg_get_enum(g, "on_open", on_open_names, L7_BRK_ON_OPEN_NEXT, &on_open, b->err) ||
	    l7b_uint(b, g, "max_requests", 0, 0, 1000000000, &p->max_requests) ||
	    l7b_uint(b, g, "max_pending", 0, 0, 1000000000, &p->max_pending))
		return -EINVAL;
	p->on_open = (uint8_t)on_open;
	return 0;
}

int l7_build_breaker(struct l7_build *b, const config_setting_t *ug, struct l7_upstream *u)
{
	struct l7_brk_params *p = &u->breaker;
	const config_setting_t *g;
	const char *why;

	l7_brk_params_default(p);
	if (cfg_get_group(ug, "breaker", &g, b->err) || cfg_check_keys(g, breaker_keys, b->err))
		return -EINVAL;
	if (!g) {
		p->enabled = false; /* no group: no breaker, no cost */
		return 0;
	}
	u->has_breaker = true;
	if (breaker_values(b, g, p))
		return -EINVAL;
	if (p->open_ms > p->open_max_ms)
		return cfg_errf_key(b->err, g, "open", "above open_max (%ums)", p->open_max_ms);
	if (l7_brk_params_check(p, &why))
		return cfg_errf_key(b->err, g, why, "out of range");
	return 0;
}

int l7_build_retry_budget(struct l7_build *b, const config_setting_t *r, struct l7_upstream *u)
{
	struct l7_rb_params *p = &u->retry_budget;
	uint32_t def_max;

	l7_rb_params_default(p);
	/* A budget only where asked for: without one, retries are bounded by
	 * tries and deadline alone, as before budgets existed. */
	u->has_retry_budget = r && (config_setting_get_member(r, "budget_percent") ||
				    config_setting_get_member(r, "budget_min"));
	if (l7b_uint(b, r, "budget_percent", L7_RB_DEFAULT_PERCENT, 0, 100, &p->percent) ||
	    l7b_uint(b, r, "budget_min", L7_RB_DEFAULT_MIN, 0, 1000000, &p->min_concurrent) ||
	    l7b_ms(b, r, "backoff", L7_RB_DEFAULT_BASE_MS, 0, MINUTE_MS, &p->backoff_base_ms))
		return -EINVAL;
	/* Envoy: the ceiling defaults to 10 x the base (250 ms for 25 ms) */
	def_max = p->backoff_base_ms * 10 > MINUTE_MS ? MINUTE_MS : p->backoff_base_ms * 10;
	if (l7b_ms(b, r, "backoff_max", def_max, 0, MINUTE_MS, &p->backoff_max_ms))
		return -EINVAL;
	if (p->backoff_max_ms < p->backoff_base_ms)
		return cfg_errf_key(b->err, r, "backoff_max", "must not be below backoff (%ums)",
				    p->backoff_base_ms);
	return l7_rb_params_check(p) ? cfg_errf_key(b->err, r, "backoff", "out of range") : 0;
}

/* --- routes: rate_limit and split ---------------------------------------------- */

static int resolve_policy(struct l7_build *b, const config_setting_t *e,
			  const struct l7_rl_policy **out)
{
	const struct l7_snapshot *s = b->s;
	const char *name = config_setting_get_string(e);
	struct l7_str *names;
	const char *hint;

	for (uint32_t i = 0; i < s->n_rate_limits; i++) {
		if (!strcmp(s->rate_limits[i].name, name)) {
			*out = &s->rate_limits[i];
			return 0;
		}
	}
	names = l7b_array(b, e, s->n_rate_limits + 1, sizeof(*names));
	if (!names)
		return -EINVAL;
	for (uint32_t i = 0; i < s->n_rate_limits; i++)
		names[i] = (struct l7_str){s->rate_limits[i].name,
					   (uint32_t)strlen(s->rate_limits[i].name)};
	hint = l7b_closest(name, names, sizeof(*names), s->n_rate_limits);
	if (hint)
		return cfg_errf(b->err, e, "unknown rate limit \"%.64s\" (did you mean \"%s\"?)",
				name, hint);
	return cfg_errf(b->err, e, "unknown rate limit \"%.64s\"", name);
}

int l7_build_route_limits(struct l7_build *b, const config_setting_t *rg, struct l7_route *r)
{
	const config_setting_t *list;
	int n = l7b_items(b, rg, "rate_limit", &list, L7_MAX_ROUTE_RL, "a rate limit name");

	if (n <= 0)
		return n;
	if (!(r->rate_limits = l7b_array(b, list, (size_t)n, sizeof(*r->rate_limits))))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = l7b_item(list, i);

		if (resolve_policy(b, e, &r->rate_limits[i]))
			return -EINVAL;
		for (int j = 0; j < i; j++)
			if (r->rate_limits[j] == r->rate_limits[i])
				return cfg_errf(b->err, e, "\"%s\" listed twice",
						r->rate_limits[i]->name);
		r->n_rate_limits = (uint32_t)i + 1;
	}
	return 0;
}

static int side_upstream(struct l7_build *b, const config_setting_t *sg,
			 const struct l7_upstream **out)
{
	const struct l7_snapshot *snap = b->s;
	const config_setting_t *s;
	const char *name, *hint;

	if (cfg_require(sg, "upstream", b->err) ||
	    cfg_get_string(sg, "upstream", NULL, &name, b->err))
		return -EINVAL;
	for (uint32_t i = 0; i < snap->n_upstreams; i++) {
		if (!strcmp(snap->upstreams[i].name.ptr, name)) {
			*out = &snap->upstreams[i];
			return 0;
		}
	}
	s = config_setting_get_member(sg, "upstream");
	hint = l7b_closest(name, &snap->upstreams[0].name, sizeof(snap->upstreams[0]),
			   snap->n_upstreams);
	if (hint)
		return cfg_errf(b->err, s, "unknown upstream \"%.64s\" (did you mean \"%s\"?)",
				name, hint);
	return cfg_errf(b->err, s, "unknown upstream \"%.64s\"", name);
}

static int build_sides(struct l7_build *b, const config_setting_t *g, struct l7_route *r)
{
	struct l7_split_params *p = r->split;
	const config_setting_t *list;
	uint64_t total = 0;
	int n;

	if (cfg_require(g, "sides", b->err) || cfg_get_list(g, "sides", &list, b->err))
		return -EINVAL;
	n = config_setting_length(list);
	if (n < 1 || n > L7_SPLIT_MAX_SIDES)
		return cfg_errf(b->err, list, "must hold 1 to %d sides", L7_SPLIT_MAX_SIDES);
	if (!(r->split_ups = l7b_array(b, list, (size_t)n, sizeof(*r->split_ups))))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		const config_setting_t *sg = config_setting_get_elem(list, (unsigned)i);

		if (cfg_expect_group(sg, b->err) || cfg_check_keys(sg, side_keys, b->err) ||
		    side_upstream(b, sg, &r->split_ups[i]) ||
		    l7b_uint(b, sg, "weight", 1, 0, L7_SPLIT_MAX_WEIGHT, &p->sides[i].weight))
			return -EINVAL;
		p->sides[i].name = r->split_ups[i]->name.ptr; /* a side is named by its upstream */
		for (int j = 0; j < i; j++)
			if (r->split_ups[j] == r->split_ups[i])
				return cfg_errf_key(b->err, sg, "upstream",
						    "\"%s\" is already sides[%d]", p->sides[i].name,
						    j);
		total += p->sides[i].weight;
	}
	p->n_sides = (unsigned)n;
	if (!total)
		return cfg_errf(b->err, list,
				"every weight is 0: at least one side must take "
				"requests");
	return 0;
}

/* A field name for force_header / force_cookie; unset when absent. */
static int field_name(struct l7_build *b, const config_setting_t *g, const char *key,
		      const char **out)
{
	struct l7_str v;

	if (l7b_string(b, g, key, NULL, &v))
		return -EINVAL;
	if (v.ptr && (!l7_is_token(v.ptr, v.len) || v.len > L7_SPLIT_FIELD_MAX))
		return cfg_errf_key(b->err, g, key, "expected a %s name like \"X-Strata-Side\"",
				    !strcmp(key, "force_cookie") ? "cookie" : "header");
	*out = v.ptr;
	return 0;
}

static int build_sticky(struct l7_build *b, const config_setting_t *g, struct l7_split_params *p)
{
	const config_setting_t *s = config_setting_get_member(g, "sticky");
	const char *v, *name;
	struct l7_str copy;
	int k;

	p->key = L7_SPLIT_KEY_CLIENT_IP;
	if (!s)
		return 0;
	if (cfg_get_string(g, "sticky", NULL, &v, b->err))
		return -EINVAL;
	k = parse_keyed(v, "cookie:", "header:", &name);
	if (k < 0 || (name && strlen(name) > L7_SPLIT_FIELD_MAX))
		return cfg_errf(b->err, s,
				"expected \"client_ip\", \"cookie:NAME\" or \"header:NAME\", got "
				"\"%.80s\"",
				v);
	if (k == 0)
		return 0;
	p->key = k == 1 ? L7_SPLIT_KEY_COOKIE : L7_SPLIT_KEY_HEADER;
	if (!l7b_copy(b, name, strlen(name), &copy))
		return l7b_oom(b, s);
	p->key_name = copy.ptr;
	return 0;
}

int l7_build_split(struct l7_build *b, const config_setting_t *rg, struct l7_route *r)
{
	const config_setting_t *g;
	struct l7_split *trial;

	if (cfg_get_group(rg, "split", &g, b->err) || cfg_check_keys(g, split_keys, b->err))
		return -EINVAL;
	if (!(r->split = l7b_array(b, g, 1, sizeof(*r->split))))
		return -EINVAL;
	if (build_sides(b, g, r) || build_sticky(b, g, r->split) ||
	    field_name(b, g, "force_header", &r->split->force_header) ||
	    field_name(b, g, "force_cookie", &r->split->force_cookie))
		return -EINVAL;
	/* the module's own verdict, so the engine's l7_split_new cannot fail
	 * on these params for anything but memory */
	trial = l7_split_new(r->split);
	if (!trial)
		return cfg_errf(b->err, g, "not a valid split (or out of memory)");
	l7_split_free(trial);
	return 0;
}
