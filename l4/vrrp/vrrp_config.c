/* strata-vrrp configuration: top level, GARP, trackers and sync groups; the
 * instances are in vrrp_config_inst.c. See vrrp_config.h and docs/vrrp.md.
 * The snapshot is one heap block owned by the caller. */
#include "vrrp_config.h"
#include "vrrp_config_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const top_keys[] = {
    "log_level",	 "admin_socket", "admin_group",	  "metrics", "state_file", "notify",
    "realtime_priority", "lock_memory",	 "shutdown_wait", "garp",    "trackers",   "sync_groups",
    "instances",	 NULL,
};

static const char *const garp_keys[] = {
    "count", "interval", "repeat_delay", "repeat_count", "refresh", NULL,
};

static const char *const track_keys[] = {
    "name",	"type",		"weight",	"interval",  "timeout", "rise", "fall",
    "pid_file", "admin_socket", "process_name", "interface", "command", NULL,
};

static const char *const group_keys[] = {"name", "instances", "notify", NULL};

static const char *const track_type_names[VRRP_TRACK__COUNT + 1] = {
    [VRRP_TRACK_L4] = "strata-l4",
    [VRRP_TRACK_IFACE] = "interface",
    [VRRP_TRACK_SCRIPT] = "script",
    [VRRP_TRACK__COUNT] = NULL,
};

static const char *const level_names[] = {"err", "warn", "info", "debug", NULL};

const char *vrrp_track_type_name(enum vrrp_track_type t)
{
	return (unsigned)t < VRRP_TRACK__COUNT ? track_type_names[t] : "?";
}

int vcfg_copy(const config_setting_t *group, const char *key, const char *def, char *dst,
	      size_t cap, struct cfg_err *err)
{
	const char *s = NULL;
	int rc = cfg_get_string(group, key, def, &s, err);

	if (rc)
		return rc;
	if (!s)
		s = "";
	if (strlen(s) >= cap)
		return cfg_errf_key(err, group, key, "too long (at most %zu bytes)", cap - 1);
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

int vcfg_garp(const config_setting_t *group, const struct vrrp_garp_cfg *def,
	      struct vrrp_garp_cfg *out, struct cfg_err *err)
{
	const config_setting_t *g;
	long long count, repeat;
	int rc;

	*out = *def;
	rc = cfg_get_group(group, "garp", &g, err);
	if (rc || !g)
		return rc;
	rc = cfg_check_keys(g, garp_keys, err);
	if (!rc)
		rc = cfg_get_int(g, "count", def->count, 0, VRRP_GARP_MAX_COUNT, &count, err);
	if (!rc)
		rc = cfg_get_duration(g, "interval", def->interval_us, 0, 10000000,
				      &out->interval_us, err);
	if (!rc)
		rc = cfg_get_duration(g, "repeat_delay", def->repeat_delay_us, 0, 3600000000ull,
				      &out->repeat_delay_us, err);
	if (!rc)
		rc = cfg_get_int(g, "repeat_count", def->repeat_count, 0, VRRP_GARP_MAX_COUNT,
				 &repeat, err);
	if (!rc)
		rc = cfg_get_duration(g, "refresh", def->refresh_us, 0, 86400000000ull,
				      &out->refresh_us, err);
	if (rc)
		return rc;
	out->count = (unsigned)count;
	out->repeat_count = (unsigned)repeat;
	if (out->refresh_us && out->refresh_us < 1000000)
		return cfg_errf_key(err, g, "refresh", "must be 0 (off) or at least 1s");
	return 0;
}

/* Keys that only make sense for some tracker types. */
static int track_type_keys(const config_setting_t *t, enum vrrp_track_type type,
			   struct cfg_err *err)
{
	static const struct {
		const char *key;
		unsigned types; /* bit set of types that take it */
	} only[] = {
	    {"pid_file", 1u << VRRP_TRACK_L4},
	    {"admin_socket", 1u << VRRP_TRACK_L4},
	    {"process_name", 1u << VRRP_TRACK_L4},
	    {"interface", 1u << VRRP_TRACK_IFACE},
	    {"command", 1u << VRRP_TRACK_SCRIPT},
	    {"interval", 1u << VRRP_TRACK_L4 | 1u << VRRP_TRACK_SCRIPT},
	    {"timeout", 1u << VRRP_TRACK_L4 | 1u << VRRP_TRACK_SCRIPT},
	    {"rise", 1u << VRRP_TRACK_L4 | 1u << VRRP_TRACK_SCRIPT},
	    {"fall", 1u << VRRP_TRACK_L4 | 1u << VRRP_TRACK_SCRIPT},
	};

	for (size_t i = 0; i < sizeof(only) / sizeof(only[0]); i++)
		if (!(only[i].types & (1u << type)) && cfg_has(t, only[i].key))
			return cfg_errf_key(err, t, only[i].key,
					    "not used by trackers of type \"%s\"",
					    vrrp_track_type_name(type));
	return 0;
}

static int track_required(const config_setting_t *t, struct vrrp_track_cfg *tc, struct cfg_err *err)
{
	switch (tc->type) {
	case VRRP_TRACK_L4:
		if (!tc->pid_file[0] && !tc->admin_socket[0])
			return cfg_errf(err, t,
					"a strata-l4 tracker needs pid_file, admin_socket "
					"or both");
		break;
	case VRRP_TRACK_IFACE:
		if (!tc->ifname[0])
			return cfg_errf_key(err, t, "interface", "required key is missing");
		break;
	case VRRP_TRACK_SCRIPT:
		if (!tc->command[0])
			return cfg_errf_key(err, t, "command", "required key is missing");
		break;
	default:
		break;
	}
	return 0;
}

static int parse_tracker(const config_setting_t *t, struct vrrp_cfg *cfg, struct cfg_err *err)
{
	struct vrrp_track_cfg *tc = &cfg->track[cfg->ntrack];
	long long weight, rise, fall;
	int type, rc;

	memset(tc, 0, sizeof(*tc));
	rc = cfg_expect_group(t, err);
	if (!rc)
		rc = cfg_check_keys(t, track_keys, err);
	if (!rc)
		rc = cfg_require(t, "name", err) ?: cfg_require(t, "type", err);
	if (!rc)
		rc = vcfg_copy(t, "name", NULL, tc->name, sizeof(tc->name), err);
	if (!rc)
		rc = cfg_get_enum(t, "type", track_type_names, 0, &type, err);
	if (rc)
		return rc;
	tc->type = (enum vrrp_track_type)type;
	rc = track_type_keys(t, tc->type, err);
	if (!rc)
		rc = cfg_get_int(t, "weight", 0, -254, 254, &weight, err);
	if (!rc)
		rc = cfg_get_duration(t, "interval", 1000000, 10000, 3600000000ull,
				      &tc->interval_us, err);
	if (!rc)
		rc = cfg_get_duration(t, "timeout", tc->type == VRRP_TRACK_L4 ? 250000 : 1000000,
				      1000, 3600000000ull, &tc->timeout_us, err);
	if (!rc)
		rc = cfg_get_int(t, "rise", 1, 1, 100, &rise, err);
	if (!rc)
		rc = cfg_get_int(t, "fall", 1, 1, 100, &fall, err);
	if (!rc)
		rc = vcfg_copy(t, "pid_file", NULL, tc->pid_file, sizeof(tc->pid_file), err);
	if (!rc)
		rc = vcfg_copy(t, "admin_socket", NULL, tc->admin_socket, sizeof(tc->admin_socket),
			       err);
	if (!rc)
		rc = vcfg_copy(t, "process_name", NULL, tc->process_name, sizeof(tc->process_name),
			       err);
	if (!rc)
		rc = vcfg_copy(t, "interface", NULL, tc->ifname, sizeof(tc->ifname), err);
	if (!rc)
		rc = vcfg_copy(t, "command", NULL, tc->command, sizeof(tc->command), err);
	if (rc)
		return rc;
	tc->weight = (int)weight;
	tc->rise = (unsigned)rise;
	tc->fall = (unsigned)fall;
	rc = track_required(t, tc, err);
	if (rc)
		return rc;
	for (unsigned i = 0; i < cfg->ntrack; i++)
		if (strcmp(cfg->track[i].name, tc->name) == 0)
			return cfg_errf_key(err, t, "name", "tracker '%s' defined twice", tc->name);
	cfg->ntrack++;
	return 0;
}

static int parse_trackers(const config_setting_t *root, struct vrrp_cfg *cfg, struct cfg_err *err)
{
	const config_setting_t *list;
	int rc = cfg_get_list(root, "trackers", &list, err);

	if (rc || !list)
		return rc;
	for (int i = 0; i < config_setting_length(list); i++) {
		const config_setting_t *t = config_setting_get_elem(list, (unsigned)i);

		if (cfg->ntrack == VRRP_MAX_TRACKERS)
			return cfg_errf(err, t, "more than %d trackers", VRRP_MAX_TRACKERS);
		rc = parse_tracker(t, cfg, err);
		if (rc)
			return rc;
	}
	return 0;
}

int vcfg_find_inst(const struct vrrp_cfg *cfg, const char *name)
{
	for (unsigned i = 0; i < cfg->ninst; i++)
		if (strcmp(cfg->inst[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int group_member(const config_setting_t *e, struct vrrp_cfg *cfg, int g, struct cfg_err *err)
{
	struct vrrp_group_cfg *gc = &cfg->group[g];
	const char *name = config_setting_get_string(e);
	int idx;

	if (!name)
		return cfg_errf(err, e, "expected an instance name");
	idx = vcfg_find_inst(cfg, name);
	if (idx < 0)
		return cfg_errf(err, e, "no instance named '%s'", name);
	if (cfg->inst[idx].group >= 0)
		return cfg_errf(err, e, "instance '%s' is already in sync group '%s'", name,
				cfg->group[cfg->inst[idx].group].name);
	cfg->inst[idx].group = g;
	gc->member[gc->n++] = idx;
	return 0;
}

static int parse_group(const config_setting_t *s, struct vrrp_cfg *cfg, struct cfg_err *err)
{
	struct vrrp_group_cfg *gc = &cfg->group[cfg->ngroup];
	const config_setting_t *m;
	int rc;

	memset(gc, 0, sizeof(*gc));
	rc = cfg_expect_group(s, err);
	if (!rc)
		rc = cfg_check_keys(s, group_keys, err);
	if (!rc)
		rc = cfg_require(s, "name", err) ?: cfg_require(s, "instances", err);
	if (!rc)
		rc = vcfg_copy(s, "name", NULL, gc->name, sizeof(gc->name), err);
	if (!rc)
		rc = vcfg_copy(s, "notify", NULL, gc->notify, sizeof(gc->notify), err);
	if (rc)
		return rc;
	m = config_setting_get_member(s, "instances");
	if (!config_setting_is_aggregate(m) || config_setting_length(m) < 2)
		return cfg_errf(err, m, "expected a list of at least two instance names");
	for (int i = 0; i < config_setting_length(m); i++) {
		rc = group_member(config_setting_get_elem(m, (unsigned)i), cfg, (int)cfg->ngroup,
				  err);
		if (rc)
			return rc;
	}
	cfg->ngroup++;
	return 0;
}

static int parse_groups(const config_setting_t *root, struct vrrp_cfg *cfg, struct cfg_err *err)
{
	const config_setting_t *list;
	int rc = cfg_get_list(root, "sync_groups", &list, err);

	if (rc || !list)
		return rc;
	for (int i = 0; i < config_setting_length(list); i++) {
		const config_setting_t *s = config_setting_get_elem(list, (unsigned)i);

		if (cfg->ngroup == VRRP_MAX_GROUPS)
			return cfg_errf(err, s, "more than %d sync groups", VRRP_MAX_GROUPS);
		rc = parse_group(s, cfg, err);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_global(const config_setting_t *root, struct vrrp_cfg *cfg,
			struct vrrp_garp_cfg *garp, struct cfg_err *err)
{
	struct vrrp_garp_cfg def;
	long long rt;
	int level, rc;

	vrrp_garp_cfg_default(&def);
	rc = cfg_check_keys(root, top_keys, err);
	if (!rc)
		rc = cfg_get_enum(root, "log_level", level_names, LOG_LVL_INFO, &level, err);
	if (!rc)
		rc = vcfg_copy(root, "admin_socket", NULL, cfg->admin_socket,
			       sizeof(cfg->admin_socket), err);
	if (!rc)
		rc = vcfg_copy(root, "admin_group", NULL, cfg->admin_group,
			       sizeof(cfg->admin_group), err);
	if (!rc)
		rc = cfg_get_addr(root, "metrics", 0, 0, NULL, &cfg->metrics, err);
	if (!rc)
		rc = vcfg_copy(root, "state_file", NULL, cfg->state_file, sizeof(cfg->state_file),
			       err);
	if (!rc)
		rc = vcfg_copy(root, "notify", NULL, cfg->notify, sizeof(cfg->notify), err);
	/* keepalived's vrrp_rt_priority; 0 keeps SCHED_OTHER. */
	if (!rc)
		rc = cfg_get_int(root, "realtime_priority", 50, 0, 99, &rt, err);
	if (!rc)
		rc = cfg_get_bool(root, "lock_memory", true, &cfg->lock_memory, err);
	/* SIGTERM as master: how long to wait for strata-l4 to finish its
	 * connections before resigning (docs/vrrp.md "Planned maintenance"). */
	if (!rc)
		rc = cfg_get_duration(root, "shutdown_wait", VRRP_SHUTDOWN_WAIT_US, 0, 600000000ull,
				      &cfg->shutdown_wait_us, err);
	if (!rc)
		rc = vcfg_garp(root, &def, garp, err);
	if (rc)
		return rc;
	cfg->log_level = (enum log_level)level;
	cfg->rt_priority = (int)rt;
	return 0;
}

static int build(config_t *lc, const char *path, struct vrrp_cfg **out, struct cfg_err *err)
{
	const config_setting_t *root = config_root_setting(lc);
	struct vrrp_cfg *cfg = calloc(1, sizeof(*cfg));
	struct vrrp_garp_cfg garp;
	int rc;

	if (!cfg)
		return -ENOMEM;
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	rc = parse_global(root, cfg, &garp, err);
	if (!rc)
		rc = parse_trackers(root, cfg, err);
	if (!rc)
		rc = vcfg_instances(root, cfg, &garp, err);
	if (!rc)
		rc = parse_groups(root, cfg, err);
	if (rc) {
		free(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

int vrrp_config_load(const char *path, struct vrrp_cfg **out, struct cfg_err *err)
{
	config_t lc;
	int rc;

	*out = NULL;
	rc = cfg_load(path, &lc, err);
	if (rc)
		return rc;
	rc = build(&lc, path, out, err);
	config_destroy(&lc);
	return rc;
}

int vrrp_config_load_string(const char *name, const char *text, struct vrrp_cfg **out,
			    struct cfg_err *err)
{
	config_t lc;
	int rc;

	*out = NULL;
	rc = cfg_load_string(name, text, &lc, err);
	if (rc)
		return rc;
	rc = build(&lc, name, out, err);
	config_destroy(&lc);
	return rc;
}

void vrrp_config_free(struct vrrp_cfg *cfg)
{
	free(cfg);
}

int vrrp_config_build(const char *path, void **snapshot, struct cfg_err *err)
{
	struct vrrp_cfg *cfg = NULL;
	int rc = vrrp_config_load(path, &cfg, err);

	*snapshot = cfg;
	return rc;
}

void vrrp_config_destroy(void *snapshot)
{
	vrrp_config_free(snapshot);
}
