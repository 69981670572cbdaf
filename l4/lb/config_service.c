/* strata-l4 config: one service, its instances and their health checks.
 * The defaults here are the documented ones (docs/l4.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define SVC_DEFAULT_SNI_TIMEOUT_US     (5ull * 1000000)
#define SVC_DEFAULT_CONNECT_TIMEOUT_US (2ull * 1000000)
#define SVC_DEFAULT_IDLE_TIMEOUT_US    (600ull * 1000000)
#define SVC_DEFAULT_RETRIES	       2
#define SVC_DEFAULT_QUEUE_LIMIT	       (64u * 1024)
#define HC_DEFAULT_INTERVAL_US	       (2ull * 1000000)
#define HC_DEFAULT_TIMEOUT_US	       (1ull * 1000000)
#define HC_DEFAULT_RISE		       2
#define HC_DEFAULT_FALL		       3
#define HOUR_US			       (3600ull * 1000000)

static const char *const svc_keys[] = {"name",
				       "listen",
				       "balance",
				       "hash_key",
				       "data_path",
				       "sni",
				       "sni_timeout",
				       "proxy_authority",
				       "proxy_crc32c",
				       "connect_timeout",
				       "connect_retries",
				       "idle_timeout",
				       "max_conns",
				       "queue_limit",
				       "health",
				       "instances",
				       NULL};
static const char *const inst_keys[] = {"address", "weight", "backup", "state", "health", NULL};
static const char *const health_keys[] = {"type", "interval", "timeout", "rise",       "fall",
					  "path", "host",     "expect",	 "send_proxy", NULL};
static const char *const algo_names[] = {"round_robin", "least_conn", "random2", "maglev", NULL};
static const char *const hash_names[] = {"ip", "ip_port", NULL};
static const char *const path_names[] = {"copy", "splice", NULL};
static const char *const check_names[] = {"none", "tcp", "http", NULL};
static const char *const admin_names[] = {"ready", "drain", "maint", NULL};

static bool is_service_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > L4_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static int get_ms(const config_setting_t *g, const char *key, uint64_t def_us, uint64_t min_us,
		  uint64_t max_us, uint32_t *ms, struct cfg_err *err)
{
	uint64_t us;
	int rc = cfg_get_duration(g, key, def_us, min_us, max_us, &us, err);

	if (rc == 0)
		*ms = (uint32_t)(us / 1000);
	return rc;
}

/* Printable path/host for the HTTP check request line (no spaces, no CR/LF). */
static int get_token(const config_setting_t *g, const char *key, const char *def, char *out,
		     struct cfg_err *err)
{
	const char *s;
	int rc = cfg_get_string(g, key, def, &s, err);

	if (rc)
		return rc;
	if (strlen(s) >= L4_HTTP_PATH_MAX || !*s)
		return cfg_errf_key(err, g, key, "must be 1 to %d characters",
				    L4_HTTP_PATH_MAX - 1);
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return cfg_errf_key(err, g, key,
					    "must not contain spaces or control "
					    "characters");
	if (s != out) /* absent: s is the default, already in out */
		memmove(out, s, strlen(s) + 1);
	return 0;
}

/* `g` (may be NULL) overrides `h`, which holds the defaults on entry. */
static int parse_health(const config_setting_t *g, struct l4_health *h, struct cfg_err *err)
{
	long long v;
	int t, rc;

	if ((rc = cfg_check_keys(g, health_keys, err)))
		return rc;
	if ((rc = cfg_get_enum(g, "type", check_names, (int)h->type, &t, err)))
		return rc;
	h->type = (enum l4_check)t;
	if ((rc = get_ms(g, "interval", h->interval_ms * 1000ull, 100000, HOUR_US, &h->interval_ms,
			 err)) ||
	    (rc = get_ms(g, "timeout", h->timeout_ms * 1000ull, 10000, 60ull * 1000000,
			 &h->timeout_ms, err)))
		return rc;
	if (h->timeout_ms > h->interval_ms)
		return cfg_errf_key(err, g, "timeout",
				    "must not be longer than the interval (%u ms)", h->interval_ms);
	if ((rc = cfg_get_int(g, "rise", h->rise, 1, 100, &v, err)))
		return rc;
	h->rise = (uint16_t)v;
	if ((rc = cfg_get_int(g, "fall", h->fall, 1, 100, &v, err)))
		return rc;
	h->fall = (uint16_t)v;
	if ((rc = cfg_get_int(g, "expect", h->expect, 100, 599, &v, err)))
		return rc;
	h->expect = (uint16_t)v;
	if ((rc = cfg_get_bool(g, "send_proxy", h->send_proxy, &h->send_proxy, err)))
		return rc;
	if ((rc = get_token(g, "path", h->path, h->path, err)))
		return rc;
	if (h->path[0] != '/')
		return cfg_errf_key(err, g, "path", "must start with '/'");
	return get_token(g, "host", h->host, h->host, err);
}

static int parse_instance(const config_setting_t *s, const struct l4_service *svc,
			  struct l4_instance *in, struct cfg_err *err)
{
	const config_setting_t *hg;
	long long v;
	int st, rc;

	if ((rc = cfg_expect_group(s, err)) || (rc = cfg_check_keys(s, inst_keys, err)) ||
	    (rc = cfg_require(s, "address", err)))
		return rc;
	if ((rc = cfg_get_addr(s, "address", 0, 0, NULL, &in->addr, err)))
		return rc;
	addr_format(&in->addr, in->name, sizeof(in->name));
	if ((rc = cfg_get_int(s, "weight", 1, 0, L4_WEIGHT_MAX, &v, err)))
		return rc;
	in->weight = (uint32_t)v;
	if ((rc = cfg_get_bool(s, "backup", false, &in->backup, err)))
		return rc;
	if ((rc = cfg_get_enum(s, "state", admin_names, L4_ADMIN_READY, &st, err)))
		return rc;
	in->state = (enum l4_admin)st;
	in->health = svc->health;
	if ((rc = cfg_get_group(s, "health", &hg, err)))
		return rc;
	return hg ? parse_health(hg, &in->health, err) : 0;
}

static int parse_instances(const config_setting_t *s, struct l4_service *svc, struct cfg_err *err)
{
	const config_setting_t *list;
	int rc, n;

	if ((rc = cfg_get_list(s, "instances", &list, err)))
		return rc;
	if (!list || (n = config_setting_length(list)) == 0)
		return cfg_errf_key(err, s, "instances", "at least one instance is required");
	if (n > L4_MAX_INSTANCES)
		return cfg_errf(err, list, "at most %d instances", L4_MAX_INSTANCES);
	svc->inst = calloc((size_t)n, sizeof(*svc->inst));
	if (!svc->inst)
		return cfg_errf(err, list, "out of memory");
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);

		if ((rc = parse_instance(e, svc, &svc->inst[i], err)))
			return rc;
		svc->n_inst = (size_t)i + 1;
		for (int j = 0; j < i; j++)
			if (addr_equal(&svc->inst[j].addr, &svc->inst[i].addr))
				return cfg_errf_key(err, e, "address",
						    "duplicate instance %s in service '%s'",
						    svc->inst[i].name, svc->name);
	}
	return 0;
}

static int parse_listen(const config_setting_t *s, struct l4_service *svc, struct cfg_err *err)
{
	struct addr *a;
	size_t n;
	int rc;

	if ((rc = cfg_require(s, "listen", err)) ||
	    (rc = cfg_get_addr_list(s, "listen", 0, 0, &a, &n, err)))
		return rc;
	if (n == 0 || n > L4_MAX_LISTEN) {
		free(a);
		return cfg_errf_key(err, s, "listen", "expected 1 to %d addresses", L4_MAX_LISTEN);
	}
	svc->listen = calloc(n, sizeof(*svc->listen));
	if (!svc->listen) {
		free(a);
		return cfg_errf_key(err, s, "listen", "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		svc->listen[i].addr = a[i];
	svc->n_listen = n;
	free(a);
	return 0;
}

static int parse_timeouts(const config_setting_t *s, struct l4_service *svc, struct cfg_err *err)
{
	long long v;
	int rc;

	if ((rc = get_ms(s, "sni_timeout", SVC_DEFAULT_SNI_TIMEOUT_US, 10000, 600ull * 1000000,
			 &svc->sni_timeout_ms, err)) ||
	    (rc = get_ms(s, "connect_timeout", SVC_DEFAULT_CONNECT_TIMEOUT_US, 10000,
			 600ull * 1000000, &svc->connect_timeout_ms, err)) ||
	    (rc = get_ms(s, "idle_timeout", SVC_DEFAULT_IDLE_TIMEOUT_US, 100000, 24 * HOUR_US,
			 &svc->idle_timeout_ms, err)))
		return rc;
	if ((rc = cfg_get_int(s, "connect_retries", SVC_DEFAULT_RETRIES, 0, L4_MAX_RETRIES, &v,
			      err)))
		return rc;
	svc->connect_retries = (unsigned)v;
	return 0;
}

static int parse_options(const config_setting_t *s, struct l4_service *svc, struct cfg_err *err)
{
	uint64_t sz;
	long long v;
	int e, rc;

	if ((rc = cfg_get_enum(s, "balance", algo_names, BALANCE_MAGLEV, &e, err)))
		return rc;
	svc->algo = (enum balance_algo)e;
	if ((rc = cfg_get_enum(s, "hash_key", hash_names, 0, &e, err)))
		return rc;
	svc->hash_port = e == 1;
	if ((rc = cfg_get_enum(s, "data_path", path_names, L4_PATH_SPLICE, &e, err)))
		return rc;
	svc->data_path = (enum l4_data_path)e;
	if ((rc = cfg_get_bool(s, "sni", false, &svc->sni, err)) ||
	    (rc = cfg_get_bool(s, "proxy_authority", svc->sni, &svc->pp_authority, err)) ||
	    (rc = cfg_get_bool(s, "proxy_crc32c", false, &svc->pp_crc32c, err)))
		return rc;
	if (svc->pp_authority && !svc->sni)
		return cfg_errf_key(err, s, "proxy_authority", "needs sni = true");
	if ((rc = cfg_get_int(s, "max_conns", 0, 0, 1000000, &v, err)))
		return rc;
	svc->max_conns = (uint32_t)v;
	if ((rc = cfg_get_size(s, "queue_limit", SVC_DEFAULT_QUEUE_LIMIT, 1024, 64u << 20, &sz,
			       err)))
		return rc;
	svc->queue_limit = (uint32_t)sz;
	return parse_timeouts(s, svc, err);
}

int l4_config_parse_service(const config_setting_t *s, struct l4_service *svc, struct cfg_err *err)
{
	const config_setting_t *hg;
	const char *name;
	int rc;

	if ((rc = cfg_expect_group(s, err)) || (rc = cfg_check_keys(s, svc_keys, err)) ||
	    (rc = cfg_require(s, "name", err)) ||
	    (rc = cfg_get_string(s, "name", NULL, &name, err)))
		return rc;
	if (!is_service_name(name))
		return cfg_errf_key(err, s, "name",
				    "must be 1 to %d letters, digits, '-', '_' or '.'",
				    L4_NAME_MAX);
	strcpy(svc->name, name);
	if ((rc = parse_listen(s, svc, err)) || (rc = parse_options(s, svc, err)))
		return rc;
	svc->health = (struct l4_health){
	    .type = L4_CHECK_NONE,
	    .interval_ms = HC_DEFAULT_INTERVAL_US / 1000,
	    .timeout_ms = HC_DEFAULT_TIMEOUT_US / 1000,
	    .rise = HC_DEFAULT_RISE,
	    .fall = HC_DEFAULT_FALL,
	    .expect = 200,
	    .send_proxy = true,
	    .path = "/healthz",
	    .host = "localhost",
	};
	if ((rc = cfg_get_group(s, "health", &hg, err)))
		return rc;
	if (hg && (rc = parse_health(hg, &svc->health, err)))
		return rc;
	return parse_instances(s, svc, err);
}

void l4_config_free_service(struct l4_service *s)
{
	balance_free(s->bal);
	s->bal = NULL;
	free(s->inst);
	for (size_t i = 0; i < s->n_listen; i++)
		free(s->listen[i].fds);
	free(s->listen);
	s->inst = NULL;
	s->listen = NULL;
}
