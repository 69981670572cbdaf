/* strata-l7 configuration builder: the top-level keys, the entry points and
 * the snapshot's destroy. Listeners, upstreams and routes are built by
 * l7_config_listen.c, l7_config_upstream.c and l7_config_route.c, in that
 * order, so that routes can resolve the names of the other two.
 *
 * The snapshot owns everything through its arena, plus the few objects
 * with their own destructors (CIDR lists, PCRE2 codes), freed here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "cfgval.h"

#include "l7_config_int.h"
#include "tls_ctx.h"

/* PCRE2 match limits (pcre2api(3) "pcre2_set_match_limit"): a path regex
 * written by an operator should need a few hundred steps; these stop a
 * catastrophic pattern from burning a worker on a hostile path. */
#define L7_REGEX_MATCH_LIMIT 100000
#define L7_REGEX_DEPTH_LIMIT 10000

static const char *const top_keys[] = {
    "node_name",	"workers",   "cpu_affinity", "user",	   "group",
    "log_level",	"admin",     "metrics",	     "access_log", "limits",
    "timeouts",		"listeners", "upstreams",    "routes",	   "rate_limits",
    "rate_limit_table", NULL};
static const char *const admin_keys[] = {"socket", "group", NULL};
static const char *const metrics_keys[] = {"listen", NULL};
static const char *const alog_keys[] = {"enabled", "path", NULL};
static const char *const limits_keys[] = {"max_conns", "request_line", "header_bytes",
					  "header_count", NULL};
static const char *const timeouts_keys[] = {"client_header", "client_body", "keepalive", "drain",
					    NULL};
static const char *const log_levels[] = {"err", "warn", "info", "debug", NULL};

static int get_group(struct l7_build *b, const config_setting_t *g, const char *key,
		     const char *const keys[], const config_setting_t **out)
{
	if (cfg_get_group(g, key, out, b->err))
		return -EINVAL;
	return cfg_check_keys(*out, keys, b->err);
}

static int build_node(struct l7_build *b, const config_setting_t *root)
{
	char host[256];

	if (gethostname(host, sizeof(host)) != 0 || !host[0])
		strcpy(host, "strata-l7");
	host[sizeof(host) - 1] = '\0';
	host[L7_NAME_MAX] = '\0'; /* a long host name still makes a valid default */
	for (char *p = host; *p; p++) {
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
			    *p))
			*p = '-';
	}
	return l7b_name(b, root, "node_name", host, &b->s->node_name);
}

static int build_cpus(struct l7_build *b, const config_setting_t *root)
{
	const config_setting_t *s = config_setting_get_member(root, "cpu_affinity");
	struct l7_snapshot *snap = b->s;
	int n;

	if (!s)
		return 0;
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return cfg_errf(b->err, s, "expected an array of CPU numbers like [ 0, 1 ]");
	n = config_setting_length(s);
	if (n == 0 || n > L7_MAX_CPUS)
		return cfg_errf(b->err, s, "must list 1 to %d CPU numbers", L7_MAX_CPUS);
	if (!(snap->cpu_affinity = l7b_array(b, s, (size_t)n, sizeof(int))))
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		long long v = config_setting_get_int64(e);

		if (config_setting_type(e) != CONFIG_TYPE_INT || v < 0 || v >= L7_MAX_CPUS)
			return cfg_errf(b->err, e, "expected a CPU number from 0 to %d",
					L7_MAX_CPUS - 1);
		for (int j = 0; j < i; j++) {
			if (snap->cpu_affinity[j] == v)
				return cfg_errf(b->err, e, "CPU %lld listed twice", v);
		}
		snap->cpu_affinity[i] = (int)v;
	}
	snap->n_cpu_affinity = (uint32_t)n;
	return 0;
}

static int nonempty(struct l7_build *b, const config_setting_t *g, const char *key,
		    struct l7_str *out, const char *hint)
{
	if (l7b_string(b, g, key, NULL, out))
		return -EINVAL;
	if (out->ptr && out->len == 0)
		return cfg_errf_key(b->err, g, key, "must not be empty (%s)", hint);
	return 0;
}

static int build_process(struct l7_build *b, const config_setting_t *root)
{
	struct l7_snapshot *s = b->s;
	int level;

	if (build_node(b, root) ||
	    l7b_uint(b, root, "workers", 0, 0, L7_MAX_WORKERS, &s->workers) ||
	    build_cpus(b, root) ||
	    nonempty(b, root, "user", &s->user, "omit it to keep the starting user") ||
	    nonempty(b, root, "group", &s->group, "omit it to keep the starting group") ||
	    cfg_get_enum(root, "log_level", log_levels, LOG_LVL_INFO, &level, b->err))
		return -EINVAL;
	s->log_level = (enum log_level)level;
	if (s->group.ptr && !s->user.ptr)
		return cfg_errf_key(b->err, root, "group",
				    "needs user (privileges are dropped "
				    "to a user and its group together)");
	return 0;
}

static int build_services(struct l7_build *b, const config_setting_t *root)
{
	const config_setting_t *admin, *metrics, *alog;
	struct l7_snapshot *s = b->s;

	if (get_group(b, root, "admin", admin_keys, &admin) ||
	    nonempty(b, admin, "socket", &s->admin.socket, "omit it for no admin socket") ||
	    l7b_string(b, admin, "group", "", &s->admin.group))
		return -EINVAL;
	if (s->admin.socket.len > ADDR_UNIX_PATH_MAX)
		return cfg_errf_key(b->err, admin, "socket", "longer than %zu bytes",
				    (size_t)ADDR_UNIX_PATH_MAX);
	if (get_group(b, root, "metrics", metrics_keys, &metrics) ||
	    cfg_get_addr(metrics, "listen", 0, 0, NULL, &s->metrics_listen, b->err))
		return -EINVAL;
	if (get_group(b, root, "access_log", alog_keys, &alog) ||
	    cfg_get_bool(alog, "enabled", false, &s->access_log.enabled, b->err) ||
	    nonempty(b, alog, "path", &s->access_log.path, "use \"stderr\" or a file"))
		return -EINVAL;
	if (!s->access_log.path.ptr && !l7b_copy(b, "stderr", 6, &s->access_log.path))
		return l7b_oom(b, root);
	return 0;
}

static int build_limits(struct l7_build *b, const config_setting_t *root)
{
	const config_setting_t *lim, *to;
	struct l7_limits *l = &b->s->limits;
	struct l7_timeouts *t = &b->s->timeouts;
	uint64_t line, hdr;

	if (get_group(b, root, "limits", limits_keys, &lim) ||
	    l7b_uint(b, lim, "max_conns", 10000, 1, 1000000, &l->max_conns) ||
	    cfg_get_size(lim, "request_line", HTTP1_DEFAULT_MAX_REQUEST_LINE, 256,
			 HTTP1_MAX_LIMIT_BYTES, &line, b->err) ||
	    cfg_get_size(lim, "header_bytes", HTTP1_DEFAULT_MAX_HEADER_BYTES, 1024,
			 HTTP1_MAX_LIMIT_BYTES, &hdr, b->err) ||
	    l7b_uint(b, lim, "header_count", HTTP1_DEFAULT_MAX_HEADERS, 1, HTTP1_MAX_HEADERS,
		     &l->http1.max_headers))
		return -EINVAL;
	l->http1.max_request_line = (uint32_t)line;
	l->http1.max_header_bytes = (uint32_t)hdr;
	if (get_group(b, root, "timeouts", timeouts_keys, &to) ||
	    l7b_ms(b, to, "client_header", 10000, 1, 3600000, &t->client_header_ms) ||
	    l7b_ms(b, to, "client_body", 30000, 1, 3600000, &t->client_body_ms) ||
	    l7b_ms(b, to, "keepalive", 60000, 0, 3600000, &t->keepalive_ms) ||
	    l7b_ms(b, to, "drain", 30000, 0, 3600000, &t->drain_ms))
		return -EINVAL;
	return 0;
}

static int build_all(struct l7_build *b, const config_setting_t *root, const char *path)
{
	pcre2_match_context *mctx;

	if (!l7b_copy(b, path, strlen(path), &b->s->path))
		return l7b_oom(b, root);
	mctx = pcre2_match_context_create(NULL);
	if (!mctx)
		return l7b_oom(b, root);
	pcre2_set_match_limit(mctx, L7_REGEX_MATCH_LIMIT);
	pcre2_set_depth_limit(mctx, L7_REGEX_DEPTH_LIMIT);
	b->s->regex_mctx = mctx;
	if (cfg_check_keys(root, top_keys, b->err) || build_process(b, root) ||
	    build_services(b, root) || build_limits(b, root) || l7_build_listeners(b, root) ||
	    l7_build_upstreams(b, root) || l7_build_rate_limits(b, root) ||
	    l7_build_routes(b, root))
		return -EINVAL;
	return 0;
}

static void snap_destroy(struct snap *hdr)
{
	l7_snapshot_free((struct l7_snapshot *)hdr);
}

static int build_from(config_t *cfg, const char *path, struct l7_snapshot **out,
		      struct cfg_err *err)
{
	struct l7_build b = {.err = err};
	int rc;

	b.s = calloc(1, sizeof(*b.s));
	b.arena = l7_arena_new();
	if (!b.s || !b.arena) {
		free(b.s);
		l7_arena_free(b.arena);
		return cfg_errf(err, config_root_setting(cfg), "out of memory");
	}
	snap_init(&b.s->hdr, snap_destroy);
	b.s->arena = b.arena;
	rc = build_all(&b, config_root_setting(cfg), path);
	if (rc) {
		l7_snapshot_free(b.s);
		return rc;
	}
	*out = b.s;
	return 0;
}

int l7_config_build(const char *path, struct l7_snapshot **out, struct cfg_err *err)
{
	config_t cfg;
	int rc;

	*out = NULL;
	rc = cfg_load(path, &cfg, err);
	if (rc)
		return rc;
	rc = build_from(&cfg, path, out, err);
	config_destroy(&cfg);
	return rc;
}

int l7_config_build_string(const char *name, const char *text, struct l7_snapshot **out,
			   struct cfg_err *err)
{
	const char *inc = strstr(text, "@include");
	config_t cfg;
	int rc;

	*out = NULL;
	if (inc) {
		unsigned line = 1;

		for (const char *p = text; p < inc; p++)
			line += *p == '\n';
		snprintf(err->msg, sizeof(err->msg), "%s:%u: @include is not allowed here", name,
			 line);
		return -EINVAL;
	}
	rc = cfg_load_string(name, text, &cfg, err);
	if (rc)
		return rc;
	rc = build_from(&cfg, name, out, err);
	config_destroy(&cfg);
	return rc;
}

void l7_snapshot_free(struct l7_snapshot *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; s->listeners && i < s->n_listeners; i++) {
		cidr_list_free(&s->listeners[i].trusted);
		cidr_list_free(&s->listeners[i].trusted_forwarders);
		l7_tls_conf_free(s->listeners[i].tls);
		free(s->listeners[i].tls);
	}
	l7_free_routes(s);
	pcre2_match_context_free(s->regex_mctx);
	l7_arena_free(s->arena);
	free(s);
}

/* `-t` goes one step further than a reload's parse: it loads every
 * certificate, key, CA and OCSP file as the engine will, so a bad file is
 * reported with its line before the daemon is (re)started. */
static int check_tls_files(const struct l7_snapshot *s, struct cfg_err *err)
{
	for (uint32_t i = 0; i < s->n_listeners; i++) {
		struct l7_tls_set *set;

		if (!s->listeners[i].tls)
			continue;
		if (l7_tls_set_build(s->listeners[i].tls, NULL, &set, err))
			return -EINVAL;
		l7_tls_set_put(set);
	}
	return 0;
}

int l7_config_check_build(const char *path, void **snapshot, struct cfg_err *err)
{
	struct l7_snapshot *s;
	int rc = l7_config_build(path, &s, err);

	if (rc == 0 && check_tls_files(s, err)) {
		snap_put(&s->hdr);
		s = NULL;
		rc = -EINVAL;
	}
	*snapshot = s;
	return rc;
}

void l7_config_check_destroy(void *snapshot)
{
	struct l7_snapshot *s = snapshot;

	if (s)
		snap_put(&s->hdr);
}

static bool str_is(const struct l7_str *s, const char *name, size_t len)
{
	return s->len == len && memcmp(s->ptr, name, len) == 0;
}

const struct l7_listener *l7_config_listener(const struct l7_snapshot *s, const char *name)
{
	for (uint32_t i = 0; i < s->n_listeners; i++) {
		if (str_is(&s->listeners[i].name, name, strlen(name)))
			return &s->listeners[i];
	}
	return NULL;
}

const struct l7_upstream *l7_config_upstream(const struct l7_snapshot *s, const char *name)
{
	for (uint32_t i = 0; i < s->n_upstreams; i++) {
		if (str_is(&s->upstreams[i].name, name, strlen(name)))
			return &s->upstreams[i];
	}
	return NULL;
}

const struct l7_route *l7_config_route(const struct l7_snapshot *s, const char *name)
{
	for (uint32_t i = 0; i < s->n_routes; i++) {
		if (str_is(&s->routes[i].name, name, strlen(name)))
			return &s->routes[i];
	}
	return NULL;
}

const struct l7_server *l7_config_server(const struct l7_upstream *u, const char *name, size_t len)
{
	for (uint32_t i = 0; i < u->n_servers; i++) {
		if (str_is(&u->servers[i].name, name, len))
			return &u->servers[i];
	}
	return NULL;
}

const char *l7_pp_mode_name(enum l7_pp_mode m)
{
	static const char *const names[L7_PP__COUNT] = {"required", "optional", "off"};

	return (unsigned)m < L7_PP__COUNT ? names[m] : "?";
}

const char *l7_action_name(enum l7_action a)
{
	static const char *const names[L7_ACT__COUNT] = {"upstream", "respond", "redirect",
							 "split"};

	return (unsigned)a < L7_ACT__COUNT ? names[a] : "?";
}

const char *l7_fwd_hdr_name(enum l7_fwd_hdr h)
{
	static const char *const names[L7_FWD__COUNT] = {"X-Forwarded-For",   "X-Real-IP",
							 "X-Forwarded-Proto", "X-Forwarded-Host",
							 "Forwarded",	      "X-Request-Id"};

	return (unsigned)h < L7_FWD__COUNT ? names[h] : "?";
}
