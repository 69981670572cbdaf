/* strata-l4 config: top-level keys, the snapshot's life cycle, attaching it
 * to the run-time registry, and the `-t` builder. Services and instances
 * are parsed in config_service.c. The snapshot owns every string and array
 * it points to.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "state.h"

#define L4_DEFAULT_DRAIN_MS 10000u
#define L4_DRAIN_LINGER_MS  2000u /* drain: exit after this long with nothing open */
#define L4_DRAIN_IDLE_MS    50u	  /* drain: close a connection idle at a switch this long */
#define L4_DEFAULT_BACKLOG  4096u
#define L4_MAX_CONNS_LIMIT  1000000u
#define L4_MAX_WORKERS	    256u
#define L4_DEFAULT_ENTRIES  1024u
#define L4_DEFAULT_BUFFERS  1024u
#define L4_DEFAULT_BUF_SIZE (16u * 1024)
#define L4_DEFAULT_PIPES    64u

static const char *const top_keys[] = {
    "node_name",      "log_level", "workers",	    "cpus",	    "user",
    "group",	      "max_conns", "drain_timeout", "drain_linger", "drain_close_idle",
    "listen_backlog", "admin",	   "metrics",	    "access_log",   "io_uring",
    "services",	      NULL};
static const char *const admin_keys[] = {"socket", "group", NULL};
static const char *const metrics_keys[] = {"listen", NULL};
static const char *const ring_keys[] = {"entries",	  "buffers",	   "buffer_size", "pipes",
					"recv_multishot", "defer_taskrun", "send_inline", NULL};
static const char *const admin_names[] = {"ready", "drain", "maint", NULL};
static const char *const log_names[] = {"err", "warn", "info", "debug", NULL};

const char *l4_admin_name(enum l4_admin a)
{
	return (unsigned)a < L4_ADMIN__COUNT ? admin_names[a] : "?";
}

int l4_admin_parse(const char *name, enum l4_admin *out)
{
	for (int i = 0; admin_names[i]; i++) {
		if (strcmp(name, admin_names[i]) == 0) {
			*out = (enum l4_admin)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *l4_data_path_name(enum l4_data_path p)
{
	return p == L4_PATH_SPLICE ? "splice" : "copy";
}

const char *l4_check_name(enum l4_check c)
{
	static const char *const names[L4_CHECK__COUNT] = {"none", "tcp", "http"};

	return (unsigned)c < L4_CHECK__COUNT ? names[c] : "?";
}

static char *dup_opt(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

/* Node names become part of every connection id and a PPv2 TLV. */
static bool is_node_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > L4_NODE_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static int parse_node(const config_setting_t *root, struct l4_config *c, struct cfg_err *err)
{
	char host[256] = "";
	const char *name;
	int rc;

	if (gethostname(host, sizeof(host) - 1) < 0 || !is_node_name(host))
		strcpy(host, "l4");
	rc = cfg_get_string(root, "node_name", host, &name, err);
	if (rc)
		return rc;
	if (!is_node_name(name))
		return cfg_errf_key(err, root, "node_name",
				    "must be 1 to %d letters, digits, '-', '_' or '.'",
				    L4_NODE_MAX);
	strcpy(c->node_name, name);
	return 0;
}

static int parse_cpus(const config_setting_t *root, struct l4_config *c, struct cfg_err *err)
{
	const config_setting_t *l = config_setting_get_member(root, "cpus");
	int n;

	if (!l)
		return 0;
	if (!config_setting_is_aggregate(l))
		return cfg_errf(err, l, "expected a list of CPU numbers like [0, 1]");
	n = config_setting_length(l);
	if (n == 0)
		return 0;
	if (n > (int)L4_MAX_WORKERS)
		return cfg_errf(err, l, "at most %u CPUs", L4_MAX_WORKERS);
	c->cpus = calloc((size_t)n, sizeof(*c->cpus));
	if (!c->cpus)
		return cfg_errf(err, l, "out of memory");
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);

		if (config_setting_type(e) != CONFIG_TYPE_INT || config_setting_get_int(e) < 0 ||
		    config_setting_get_int(e) > 4095)
			return cfg_errf(err, e, "expected a CPU number between 0 and 4095");
		c->cpus[i] = config_setting_get_int(e);
	}
	c->ncpus = (unsigned)n;
	return 0;
}

static int parse_admin_metrics(const config_setting_t *root, struct l4_config *c,
			       struct cfg_err *err)
{
	const config_setting_t *g;
	const char *s;
	int rc;

	if ((rc = cfg_get_group(root, "admin", &g, err)) ||
	    (rc = cfg_check_keys(g, admin_keys, err)))
		return rc;
	if ((rc = cfg_get_string(g, "socket", NULL, &s, err)))
		return rc;
	c->admin_socket = dup_opt(s);
	if ((rc = cfg_get_string(g, "group", NULL, &s, err)))
		return rc;
	c->admin_group = dup_opt(s);
	if ((rc = cfg_get_group(root, "metrics", &g, err)) ||
	    (rc = cfg_check_keys(g, metrics_keys, err)))
		return rc;
	return cfg_get_addr(g, "listen", 0, 0, NULL, &c->metrics, err);
}

static int parse_ring(const config_setting_t *root, struct l4_config *c, struct cfg_err *err)
{
	const config_setting_t *g;
	long long v;
	uint64_t sz;
	int rc;

	if ((rc = cfg_get_group(root, "io_uring", &g, err)) ||
	    (rc = cfg_check_keys(g, ring_keys, err)))
		return rc;
	if ((rc = cfg_get_int(g, "entries", L4_DEFAULT_ENTRIES, 64, 32768, &v, err)))
		return rc;
	c->ring.entries = (unsigned)v;
	if ((rc = cfg_get_int(g, "buffers", L4_DEFAULT_BUFFERS, 16, 32768, &v, err)))
		return rc;
	if (v & (v - 1))
		return cfg_errf_key(err, g, "buffers", "must be a power of two, got %lld", v);
	c->ring.buffers = (unsigned)v;
	if ((rc = cfg_get_size(g, "buffer_size", L4_DEFAULT_BUF_SIZE, 1024, 1u << 20, &sz, err)))
		return rc;
	c->ring.buffer_size = (unsigned)sz;
	if ((rc = cfg_get_int(g, "pipes", L4_DEFAULT_PIPES, 0, 4096, &v, err)))
		return rc;
	c->ring.pipes = (unsigned)v;
	if ((rc = cfg_get_bool(g, "recv_multishot", true, &c->ring.recv_multishot, err)))
		return rc;
	if ((rc = cfg_get_bool(g, "send_inline", false, &c->ring.send_inline, err)))
		return rc;
	return cfg_get_bool(g, "defer_taskrun", true, &c->ring.defer_taskrun, err);
}

static int parse_globals(const config_setting_t *root, struct l4_config *c, struct cfg_err *err)
{
	const char *s;
	long long v;
	uint64_t us;
	int lvl, rc;

	if ((rc = parse_node(root, c, err)))
		return rc;
	if ((rc = cfg_get_enum(root, "log_level", log_names, LOG_LVL_INFO, &lvl, err)))
		return rc;
	c->log_level = (enum log_level)lvl;
	if ((rc = cfg_get_int(root, "workers", 0, 0, L4_MAX_WORKERS, &v, err)))
		return rc;
	c->workers = (unsigned)v;
	if ((rc = parse_cpus(root, c, err)))
		return rc;
	if ((rc = cfg_get_string(root, "user", NULL, &s, err)))
		return rc;
	c->user = dup_opt(s);
	if ((rc = cfg_get_string(root, "group", NULL, &s, err)))
		return rc;
	c->group = dup_opt(s);
	if ((rc = cfg_get_int(root, "max_conns", 0, 0, L4_MAX_CONNS_LIMIT, &v, err)))
		return rc;
	c->max_conns = (uint32_t)v;
	if ((rc = cfg_get_duration(root, "drain_timeout", L4_DEFAULT_DRAIN_MS * 1000ull, 0,
				   3600ull * 1000000, &us, err)))
		return rc;
	c->drain_timeout_ms = (uint32_t)(us / 1000);
	if ((rc = cfg_get_duration(root, "drain_linger", L4_DRAIN_LINGER_MS * 1000ull, 0,
				   3600ull * 1000000, &us, err)))
		return rc;
	c->drain_linger_ms = (uint32_t)(us / 1000);
	if ((rc = cfg_get_duration(root, "drain_close_idle", L4_DRAIN_IDLE_MS * 1000ull, 0,
				   3600ull * 1000000, &us, err)))
		return rc;
	c->drain_close_idle_ms = (uint32_t)(us / 1000);
	if ((rc = cfg_get_int(root, "listen_backlog", L4_DEFAULT_BACKLOG, 16, 65535, &v, err)))
		return rc;
	c->listen_backlog = (uint32_t)v;
	if ((rc = cfg_get_string(root, "access_log", NULL, &s, err)))
		return rc;
	c->access_log = dup_opt(s);
	if ((rc = parse_admin_metrics(root, c, err)))
		return rc;
	return parse_ring(root, c, err);
}

/* A listen address may belong to one service only. */
static int check_listen_unique(const config_setting_t *list, const struct l4_config *c, size_t upto,
			       struct cfg_err *err)
{
	const struct l4_service *s = &c->svc[upto];

	for (size_t i = 0; i < upto; i++)
		for (size_t a = 0; a < c->svc[i].n_listen; a++)
			for (size_t b = 0; b < s->n_listen; b++)
				if (addr_equal(&c->svc[i].listen[a].addr, &s->listen[b].addr)) {
					char buf[ADDR_STR_MAX];

					addr_format(&s->listen[b].addr, buf, sizeof(buf));
					return cfg_errf_key(
					    err, config_setting_get_elem(list, (unsigned)upto),
					    "listen", "%s is already used by service '%s'", buf,
					    c->svc[i].name);
				}
	return 0;
}

static int parse_services(const config_setting_t *root, struct l4_config *c, struct cfg_err *err)
{
	const config_setting_t *list;
	int rc, n;

	if ((rc = cfg_get_list(root, "services", &list, err)))
		return rc;
	if (!list || (n = config_setting_length(list)) == 0)
		return cfg_errf_key(err, root, "services", "at least one service is required");
	if (n > L4_MAX_SERVICES)
		return cfg_errf(err, list, "at most %d services", L4_MAX_SERVICES);
	c->svc = calloc((size_t)n, sizeof(*c->svc));
	if (!c->svc)
		return cfg_errf(err, list, "out of memory");
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(list, (unsigned)i);

		rc = l4_config_parse_service(s, &c->svc[i], err);
		c->n_svc = (size_t)i + 1;
		if (rc)
			return rc;
		for (int j = 0; j < i; j++)
			if (strcmp(c->svc[j].name, c->svc[i].name) == 0)
				return cfg_errf_key(err, s, "name", "duplicate service name '%s'",
						    c->svc[i].name);
		if ((rc = check_listen_unique(list, c, (size_t)i, err)))
			return rc;
	}
	return 0;
}

static void destroy_snapshot(struct snap *s)
{
	l4_config_free((struct l4_config *)(void *)s);
}

int l4_config_parse(const char *path, struct l4_config **out, struct cfg_err *err)
{
	struct l4_config *c;
	config_t cfg;
	int rc;

	*out = NULL;
	if ((rc = cfg_load(path, &cfg, err)))
		return rc;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		free(c);
		config_destroy(&cfg);
		return -ENOMEM;
	}
	snap_init(&c->hdr, destroy_snapshot);
	const config_setting_t *root = config_root_setting(&cfg);
	rc = cfg_check_keys(root, top_keys, err);
	if (rc == 0)
		rc = parse_globals(root, c, err);
	if (rc == 0)
		rc = parse_services(root, c, err);
	config_destroy(&cfg);
	if (rc) {
		l4_config_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void l4_config_free(struct l4_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_svc; i++)
		l4_config_free_service(&c->svc[i]);
	free(c->svc);
	free(c->cpus);
	free(c->user);
	free(c->group);
	free(c->admin_socket);
	free(c->admin_group);
	free(c->access_log);
	free(c->path);
	free(c);
}

static int attach_service(struct l4_service *s, struct l4_state *st, unsigned n_workers,
			  uint64_t seed, struct cfg_err *err)
{
	struct balance_member *m = calloc(s->n_inst, sizeof(*m));
	struct balance_params bp = {.algo = s->algo, .workers = n_workers, .seed = seed};
	int rc;

	if (!m)
		return -ENOMEM;
	s->rt = l4_state_service(st, s->name);
	rc = s->rt ? 0 : -ENOMEM;
	for (size_t i = 0; rc == 0 && i < s->n_inst; i++) {
		struct l4_instance *in = &s->inst[i];

		in->rt = l4_state_instance(st, s->name, in->name, in->state,
					   in->health.type != L4_CHECK_NONE);
		if (!in->rt) {
			rc = -ENOMEM;
			break;
		}
		m[i] = (struct balance_member){.name = in->name,
					       .weight = in->weight,
					       .backup = in->backup,
					       .live = &in->rt->live};
	}
	if (rc == 0)
		rc = balance_create(&bp, m, s->n_inst, &s->bal);
	free(m);
	if (rc)
		snprintf(err->msg, sizeof(err->msg), "%s: service '%s': cannot build balancer: %s",
			 "config", s->name, strerror(-rc));
	return rc;
}

int l4_config_attach(struct l4_config *c, struct l4_state *st, unsigned n_workers,
		     struct cfg_err *err)
{
	uint64_t seed = hash_str(c->node_name);
	int rc;

	c->n_workers = n_workers;
	for (size_t i = 0; i < c->n_svc; i++) {
		rc = attach_service(&c->svc[i], st, n_workers, seed + i, err);
		if (rc)
			return rc;
	}
	return 0;
}

const struct l4_service *l4_config_service(const struct l4_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_svc; i++)
		if (strcmp(c->svc[i].name, name) == 0)
			return &c->svc[i];
	return NULL;
}

int l4_service_instance(const struct l4_service *s, const char *name)
{
	for (size_t i = 0; i < s->n_inst; i++)
		if (strcmp(s->inst[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* -t: a scratch registry, so the balancers are built exactly as at start. */
struct check_ctx {
	struct l4_state st;
	struct l4_config *c;
};

int l4_config_check(const char *path, void **snapshot, struct cfg_err *err)
{
	struct check_ctx *x = calloc(1, sizeof(*x));
	int rc;

	*snapshot = NULL;
	if (!x || l4_state_init(&x->st, NULL)) {
		free(x);
		return -ENOMEM;
	}
	rc = l4_config_parse(path, &x->c, err);
	if (rc == 0)
		rc = l4_config_attach(x->c, &x->st, 1, err);
	if (rc) {
		l4_config_check_free(x);
		return rc;
	}
	*snapshot = x;
	return 0;
}

void l4_config_check_free(void *snapshot)
{
	struct check_ctx *x = snapshot;

	if (!x)
		return;
	if (x->c)
		snap_put(&x->c->hdr);
	l4_state_fini(&x->st);
	free(x);
}
