/* SIGHUP: apply a new configuration to the running instances.
 *
 * What a reload may change is what needs no new socket, address or link:
 * priorities, preempt and its delay, advert interval, checksum style,
 * notify scripts, GARP settings, tracker weights and timings, log level.
 * Anything structural (instances, interfaces, VRIDs, VIPs, peers, the
 * virtual MAC, tracker targets, the admin/metrics endpoints) needs a
 * restart; such a config is refused whole and the old one stays, like a
 * config that does not parse. On success the daemon takes ownership of the
 * new snapshot and frees the old one.
 */
#include "vrrp_reload.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "vrrp_admin.h"

/* The first structural difference between two versions of an instance. */
static const char *inst_change(const struct vrrp_inst_cfg *a, const struct vrrp_inst_cfg *b,
			       const struct vrrp_cfg *ca, const struct vrrp_cfg *cb)
{
	if (strcmp(a->name, b->name))
		return "the list of instances";
	if (strcmp(a->ifname, b->ifname))
		return "interface";
	if (a->vrid != b->vrid)
		return "vrid";
	if (a->family != b->family || a->nvip != b->nvip ||
	    memcmp(a->vip, b->vip, sizeof(a->vip[0]) * a->nvip))
		return "virtual_addresses";
	if (a->use_vmac != b->use_vmac || strcmp(a->vmac_name, b->vmac_name))
		return "use_vmac";
	if (a->npeer != b->npeer || memcmp(a->peer, b->peer, sizeof(a->peer[0]) * a->npeer))
		return "unicast_peers";
	if (a->has_src != b->has_src || memcmp(&a->src, &b->src, sizeof(a->src)))
		return "source_address";
	if (a->ntrack != b->ntrack || memcmp(a->track, b->track, sizeof(int) * a->ntrack))
		return "track";
	if ((a->group < 0) != (b->group < 0) ||
	    (a->group >= 0 && strcmp(ca->group[a->group].name, cb->group[b->group].name)))
		return "sync_groups";
	return NULL;
}

static bool same_track(const struct vrrp_track_cfg *a, const struct vrrp_track_cfg *b)
{
	return strcmp(a->name, b->name) == 0 && a->type == b->type &&
	       strcmp(a->pid_file, b->pid_file) == 0 &&
	       strcmp(a->admin_socket, b->admin_socket) == 0 &&
	       strcmp(a->process_name, b->process_name) == 0 && strcmp(a->ifname, b->ifname) == 0;
}

/* Returns NULL when `n` can replace `o` in place, else what differs. */
static const char *structural_change(const struct vrrp_cfg *o, const struct vrrp_cfg *n, char *buf,
				     size_t len)
{
	const char *what;

	if (strcmp(o->admin_socket, n->admin_socket) || strcmp(o->admin_group, n->admin_group))
		return "admin_socket";
	if (!addr_equal(&o->metrics, &n->metrics))
		return "metrics";
	if (strcmp(o->state_file, n->state_file))
		return "state_file";
	if (o->rt_priority != n->rt_priority || o->lock_memory != n->lock_memory)
		return "realtime_priority / lock_memory";
	if (o->ntrack != n->ntrack)
		return "the list of trackers";
	for (unsigned i = 0; i < o->ntrack; i++)
		if (!same_track(&o->track[i], &n->track[i])) {
			snprintf(buf, len, "tracker '%s' (its name, type or target)",
				 o->track[i].name);
			return buf;
		}
	if (o->ninst != n->ninst || o->ngroup != n->ngroup)
		return "the list of instances or sync groups";
	for (unsigned i = 0; i < o->ninst; i++) {
		what = inst_change(&o->inst[i], &n->inst[i], o, n);
		if (what) {
			snprintf(buf, len, "instance '%s': %s", o->inst[i].name, what);
			return buf;
		}
	}
	return NULL;
}

static void apply(struct vrrp_daemon *d, struct vrrp_cfg *n, uint64_t now)
{
	for (unsigned i = 0; i < d->tracks.n; i++)
		d->tracks.t[i].cfg = &n->track[i];
	for (unsigned i = 0; i < d->ninst; i++) {
		struct vrrp_inst *in = &d->inst[i];
		const struct vrrp_inst_cfg *c = &n->inst[i];

		in->cfg = c;
		in->fsm.adver_int = c->adver_int;
		in->fsm.preempt = c->preempt;
		in->fsm.preempt_delay_us = c->preempt_delay_us;
		if (in->fsm.state != VRRP_ST_BACKUP)
			in->fsm.master_adver_int = c->adver_int;
		vrrp_inst_reevaluate(in, now);
	}
	log_set_level(n->log_level);
}

int vrrp_reload(struct vrrp_daemon *d, uint64_t now)
{
	struct vrrp_cfg *n = NULL, *old = d->cfg;
	struct cfg_err err;
	char buf[128];
	const char *why;

	cfg_err_init(&err);
	if (vrrp_config_load(old->path, &n, &err) < 0) {
		log_err("reload refused, the running configuration stays: %s", err.msg);
		return -1;
	}
	why = structural_change(old, n, buf, sizeof(buf));
	if (why) {
		log_err("reload refused, the running configuration stays: %s changed, which "
			"needs a restart",
			why);
		vrrp_config_free(n);
		return -1;
	}
	d->cfg = n;
	apply(d, n, now);
	vrrp_config_free(old);
	vrrp_admin_publish(d, true);
	log_info("configuration reloaded from %s", n->path);
	return 0;
}
