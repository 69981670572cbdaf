/* strata-vrrp configuration: the `instances` list (one virtual router each);
 * see vrrp_config.h and docs/vrrp.md. */
#include "vrrp_config_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ADVER_MIN_US 10000ull	 /* 1 centisecond */
#define ADVER_MAX_US 40950000ull /* 4095 centiseconds (12-bit field) */

static const char *const inst_keys[] = {
    "name",
    "interface",
    "vrid",
    "priority",
    "advert_interval",
    "virtual_addresses",
    "preempt",
    "preempt_delay",
    "accept",
    "v3_checksum_as_v2",
    "use_vmac",
    "vmac_interface",
    "source_address",
    "unicast_peers",
    "track",
    "notify",
    "garp",
    "na_router_flag",
    NULL,
};

/* A list ( ... ), an array [ ... ] or a single string. */
static int strings_of(const config_setting_t *s, struct cfg_err *err)
{
	if (config_setting_type(s) == CONFIG_TYPE_STRING)
		return 1;
	if (!config_setting_is_aggregate(s) || config_setting_is_group(s))
		return cfg_errf(err, s, "expected a string or a list of strings");
	for (int i = 0; i < config_setting_length(s); i++)
		if (config_setting_type(config_setting_get_elem(s, (unsigned)i)) !=
		    CONFIG_TYPE_STRING)
			return cfg_errf(err, config_setting_get_elem(s, (unsigned)i),
					"expected a string");
	return config_setting_length(s);
}

static const config_setting_t *string_at(const config_setting_t *s, int i)
{
	return config_setting_type(s) == CONFIG_TYPE_STRING
		   ? s
		   : config_setting_get_elem(s, (unsigned)i);
}

static int parse_vips(const config_setting_t *g, struct vrrp_inst_cfg *ic, struct cfg_err *err)
{
	const config_setting_t *s = config_setting_get_member(g, "virtual_addresses");
	int n = strings_of(s, err);

	if (n < 0)
		return n;
	if (n == 0 || n > VRRP_MAX_ADDRS)
		return cfg_errf(err, s, "expected 1 to %d addresses", VRRP_MAX_ADDRS);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = string_at(s, i);
		struct vrrp_vip *v = &ic->vip[ic->nvip];
		const char *why;

		if (vrrp_vip_parse(config_setting_get_string(e), v, &why))
			return cfg_errf(err, e, "%s", why);
		/* RFC 5798 §5.1: one address family per virtual router. */
		if (ic->nvip && v->family != ic->vip[0].family)
			return cfg_errf(err, e,
					"mixes IPv4 and IPv6 (use one instance per family)");
		for (unsigned j = 0; j < ic->nvip; j++)
			if (vrrp_vip_equal(&ic->vip[j], v))
				return cfg_errf(err, e, "listed twice");
		ic->nvip++;
	}
	ic->family = ic->vip[0].family;
	return 0;
}

static int parse_ip(const config_setting_t *e, int family, union vrrp_pkt_ip *out,
		    struct cfg_err *err)
{
	const char *s = config_setting_get_string(e);

	if (!s || inet_pton(family, s, out) != 1)
		return cfg_errf(err, e, "expected an %s address like the virtual addresses",
				family == AF_INET ? "IPv4" : "IPv6");
	return 0;
}

static int parse_peers(const config_setting_t *g, struct vrrp_inst_cfg *ic, struct cfg_err *err)
{
	const config_setting_t *s = config_setting_get_member(g, "unicast_peers");
	int n, rc;

	if (!s)
		return 0;
	n = strings_of(s, err);
	if (n < 0)
		return n;
	if (n == 0 || n > VRRP_MAX_PEERS)
		return cfg_errf(err, s, "expected 1 to %d peer addresses", VRRP_MAX_PEERS);
	for (int i = 0; i < n; i++) {
		rc = parse_ip(string_at(s, i), ic->family, &ic->peer[i], err);
		if (rc)
			return rc;
		for (int j = 0; j < i; j++)
			if (memcmp(&ic->peer[j], &ic->peer[i], sizeof(ic->peer[i])) == 0)
				return cfg_errf(err, string_at(s, i), "listed twice");
	}
	ic->npeer = (unsigned)n;
	return 0;
}

static int parse_track(const config_setting_t *g, const struct vrrp_cfg *cfg,
		       struct vrrp_inst_cfg *ic, struct cfg_err *err)
{
	const config_setting_t *s = config_setting_get_member(g, "track");
	int n;

	if (!s)
		return 0;
	n = strings_of(s, err);
	if (n < 0)
		return n;
	if (n > VRRP_MAX_TRACK_PER_INST)
		return cfg_errf(err, s, "at most %d trackers per instance",
				VRRP_MAX_TRACK_PER_INST);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = string_at(s, i);
		const char *name = config_setting_get_string(e);
		int found = -1;

		for (unsigned t = 0; t < cfg->ntrack && found < 0; t++)
			if (strcmp(cfg->track[t].name, name) == 0)
				found = (int)t;
		if (found < 0)
			return cfg_errf(err, e, "no tracker named '%s' in trackers", name);
		for (unsigned j = 0; j < ic->ntrack; j++)
			if (ic->track[j] == found)
				return cfg_errf(err, e, "listed twice");
		ic->track[ic->ntrack++] = found;
	}
	return 0;
}

static int parse_timing(const config_setting_t *g, struct vrrp_inst_cfg *ic, struct cfg_err *err)
{
	long long vrid, prio;
	uint64_t adv;
	int rc;

	rc = cfg_get_int(g, "vrid", 0, 1, 255, &vrid, err);
	if (!rc)
		rc = cfg_get_int(g, "priority", 100, 1, 255, &prio, err);
	if (!rc)
		rc = cfg_get_duration(g, "advert_interval", 100000, ADVER_MIN_US, ADVER_MAX_US,
				      &adv, err);
	if (!rc)
		rc = cfg_get_bool(g, "preempt", true, &ic->preempt, err);
	if (!rc)
		rc = cfg_get_duration(g, "preempt_delay", 0, 0, 1000000000ull,
				      &ic->preempt_delay_us, err);
	if (rc)
		return rc;
	/* RFC 5798 §5.2.7: the interval travels in centiseconds. */
	if (adv % 10000)
		return cfg_errf_key(err, g, "advert_interval",
				    "must be a whole number of centiseconds (10ms steps)");
	ic->vrid = (uint8_t)vrid;
	ic->priority = (uint8_t)prio;
	ic->adver_int = (uint16_t)(adv / 10000);
	return 0;
}

static int parse_options(const config_setting_t *g, struct vrrp_inst_cfg *ic, struct cfg_err *err)
{
	const config_setting_t *src = config_setting_get_member(g, "source_address");
	bool accept;
	char def[IF_NAMESIZE];
	int rc;

	rc = cfg_get_bool(g, "accept", true, &accept, err);
	if (!rc && !accept)
		/* Without a firewall to drop traffic to the VIP, "not accepting"
		 * would mean not holding it; strata-l4 must answer on it. */
		return cfg_errf_key(err, g, "accept",
				    "false is not supported: strata-l4 must receive on the VIP");
	if (!rc)
		rc = cfg_get_bool(g, "v3_checksum_as_v2", false, &ic->csum_v2, err);
	if (!rc)
		rc = cfg_get_bool(g, "use_vmac", false, &ic->use_vmac, err);
	snprintf(def, sizeof(def), "vrrp.%u", ic->vrid); /* keepalived's name */
	if (!rc)
		rc = vcfg_copy(g, "vmac_interface", def, ic->vmac_name, sizeof(ic->vmac_name), err);
	if (!rc && cfg_has(g, "vmac_interface") && !ic->use_vmac)
		return cfg_errf_key(err, g, "vmac_interface", "set without use_vmac = true");
	if (!rc)
		rc = cfg_get_bool(g, "na_router_flag", true, &ic->na_router, err);
	if (!rc)
		rc = vcfg_copy(g, "notify", NULL, ic->notify, sizeof(ic->notify), err);
	if (!rc && src) {
		rc = parse_ip(src, ic->family, &ic->src, err);
		ic->has_src = rc == 0;
	}
	return rc;
}

/* Across instances: one VRID per interface and family, one owner per VIP. */
static int check_unique(const config_setting_t *g, const struct vrrp_cfg *cfg,
			const struct vrrp_inst_cfg *ic, struct cfg_err *err)
{
	for (unsigned i = 0; i < cfg->ninst; i++) {
		const struct vrrp_inst_cfg *o = &cfg->inst[i];

		if (strcmp(o->name, ic->name) == 0)
			return cfg_errf_key(err, g, "name", "instance '%s' defined twice",
					    ic->name);
		if (o->vrid == ic->vrid && o->family == ic->family &&
		    strcmp(o->ifname, ic->ifname) == 0)
			return cfg_errf_key(err, g, "vrid", "VRID %u already used on %s by '%s'",
					    ic->vrid, ic->ifname, o->name);
		for (unsigned a = 0; a < o->nvip; a++)
			for (unsigned b = 0; b < ic->nvip; b++)
				if (vrrp_vip_equal(&o->vip[a], &ic->vip[b]))
					return cfg_errf_key(err, g, "virtual_addresses",
							    "an address of '%s' too", o->name);
	}
	return 0;
}

static int parse_instance(const config_setting_t *g, struct vrrp_cfg *cfg,
			  const struct vrrp_garp_cfg *garp, struct cfg_err *err)
{
	struct vrrp_inst_cfg *ic = &cfg->inst[cfg->ninst];
	int rc;

	memset(ic, 0, sizeof(*ic));
	ic->group = -1;
	rc = cfg_expect_group(g, err);
	if (!rc)
		rc = cfg_check_keys(g, inst_keys, err);
	if (!rc)
		rc = cfg_require(g, "name", err) ?: cfg_require(g, "interface", err);
	if (!rc)
		rc = cfg_require(g, "vrid", err) ?: cfg_require(g, "virtual_addresses", err);
	if (!rc)
		rc = vcfg_copy(g, "name", NULL, ic->name, sizeof(ic->name), err);
	if (!rc)
		rc = vcfg_copy(g, "interface", NULL, ic->ifname, sizeof(ic->ifname), err);
	if (!rc)
		rc = parse_timing(g, ic, err);
	if (!rc)
		rc = parse_vips(g, ic, err);
	if (!rc)
		rc = parse_options(g, ic, err);
	if (!rc)
		rc = parse_peers(g, ic, err);
	if (!rc)
		rc = parse_track(g, cfg, ic, err);
	if (!rc)
		rc = vcfg_garp(g, garp, &ic->garp, err);
	if (!rc && !ic->name[0])
		rc = cfg_errf_key(err, g, "name", "must not be empty");
	if (!rc)
		rc = check_unique(g, cfg, ic, err);
	if (!rc)
		cfg->ninst++;
	return rc;
}

int vcfg_instances(const config_setting_t *root, struct vrrp_cfg *cfg,
		   const struct vrrp_garp_cfg *garp, struct cfg_err *err)
{
	const config_setting_t *list;
	int rc = cfg_require(root, "instances", err);

	if (!rc)
		rc = cfg_get_list(root, "instances", &list, err);
	if (rc)
		return rc;
	if (config_setting_length(list) == 0)
		return cfg_errf(err, list, "at least one instance is needed");
	for (int i = 0; i < config_setting_length(list); i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);

		if (cfg->ninst == VRRP_MAX_INSTANCES)
			return cfg_errf(err, g, "more than %d instances", VRRP_MAX_INSTANCES);
		rc = parse_instance(g, cfg, garp, err);
		if (rc)
			return rc;
	}
	return 0;
}
