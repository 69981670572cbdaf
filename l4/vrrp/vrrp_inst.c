/* One virtual router at run time: the state machine wired to the network.
 *
 * The FSM decides; this file carries it out: adverts out of the
 * interface's raw socket, every RFC 5798 §7.1 receive check the codec
 * cannot make (destination, unicast peer, address owner, address list),
 * the VIPs on entering and leaving MASTER, the announcements, the notify
 * script and the sync group. The daemon owns the instances.
 */
#include "vrrp_daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "vrrp_admin.h"
#include "vrrp_net.h"
#include "vrrp_notify.h"

static size_t alen(const struct vrrp_inst *in)
{
	return in->cfg->family == AF_INET ? 4 : 16;
}

static const char *ipstr(int family, const union vrrp_pkt_ip *ip, char *buf, size_t len)
{
	return inet_ntop(family, ip, buf, (socklen_t)len) ? buf : "?";
}

/* The advert source may appear late (DHCP, IPv6 DAD): look it up again. */
static bool have_src(struct vrrp_inst *in)
{
	/* IPv6 unicast to global peers: they list our global address. */
	bool global = in->cfg->family == AF_INET6 && in->cfg->npeer &&
		      !IN6_IS_ADDR_LINKLOCAL(&in->cfg->peer[0].v6);

	if (in->has_src || in->cfg->has_src)
		return true;
	if (vrrp_nl_primary_addr(in->d->nl, in->ifc->ifindex, in->cfg->family, global, &in->src) ==
	    0)
		in->has_src = true;
	return in->has_src;
}

static void send_one(struct vrrp_inst *in, uint8_t prio, const union vrrp_pkt_ip *dst)
{
	const struct vrrp_inst_cfg *c = in->cfg;
	uint8_t addrs[VRRP_MAX_ADDRS * 16], pkt[VRRP_PKT_MAX];
	struct vrrp_pkt_tx tx = {
	    .family = c->family,
	    .vrid = c->vrid,
	    .priority = prio,
	    .adver_int = c->adver_int,
	    .src = in->src,
	    .dst = *dst,
	    .naddr = c->nvip,
	    .addrs = addrs,
	    .flags = c->csum_v2 ? VRRP_PKT_F_CSUM_V2 : 0,
	};
	int n, rc;

	for (unsigned i = 0; i < c->nvip; i++)
		memcpy(addrs + i * alen(in), &c->vip[i].ip, alen(in));
	n = vrrp_pkt_build(pkt, sizeof(pkt), &tx, true);
	rc = n < 0 ? n
		   : vrrp_net_send(in->ifc->fd[VRRP_FAM_IDX(c->family)], c->family,
				   in->ifc->ifindex, pkt, (size_t)n, &in->src, dst);
	if (rc < 0) {
		in->st.send_errors++;
		log_rl(LOG_LVL_WARN, "%s: advert not sent: %s", c->name, strerror(-rc));
		return;
	}
	in->st.adverts_tx++;
	if (prio == 0)
		in->st.prio0_tx++;
}

static void on_send_advert(void *ctx, uint8_t prio)
{
	struct vrrp_inst *in = ctx;
	union vrrp_pkt_ip group;

	if (in->ifc->fd[VRRP_FAM_IDX(in->cfg->family)] < 0 || !have_src(in)) {
		in->st.send_errors++;
		log_rl(LOG_LVL_WARN, "%s: no usable socket or source address on %s yet",
		       in->cfg->name, in->ifc->name);
		return;
	}
	if (in->cfg->npeer) {
		for (unsigned i = 0; i < in->cfg->npeer; i++)
			send_one(in, prio, &in->cfg->peer[i]);
		return;
	}
	memset(&group, 0, sizeof(group));
	if (in->cfg->family == AF_INET)
		group.v4.s_addr = htonl(VRRP_MCAST4);
	else
		inet_pton(AF_INET6, "ff02::12", &group.v6);
	send_one(in, prio, &group);
}

static int vip_ifindex(const struct vrrp_inst *in)
{
	return in->vmac_ifindex ? in->vmac_ifindex : in->ifc->ifindex;
}

static void vips_add(struct vrrp_inst *in)
{
	char buf[64];

	if (in->vmac_ifindex)
		vrrp_nl_link_set_up(in->d->nl, in->vmac_ifindex, true);
	for (unsigned i = 0; i < in->cfg->nvip; i++) {
		int rc = vrrp_nl_addr_add(in->d->nl, vip_ifindex(in), &in->cfg->vip[i]);

		if (rc < 0 && rc != -EEXIST)
			log_err("%s: cannot add %s: %s", in->cfg->name,
				(vrrp_vip_format(&in->cfg->vip[i], buf, sizeof(buf)), buf),
				strerror(-rc));
	}
	in->vips_up = true;
}

static void vips_del(struct vrrp_inst *in)
{
	char buf[64];

	for (unsigned i = 0; i < in->cfg->nvip; i++) {
		int rc = vrrp_nl_addr_del(in->d->nl, vip_ifindex(in), &in->cfg->vip[i]);

		if (rc < 0 && rc != -EADDRNOTAVAIL && rc != -ENODEV)
			log_err("%s: cannot remove %s: %s", in->cfg->name,
				(vrrp_vip_format(&in->cfg->vip[i], buf, sizeof(buf)), buf),
				strerror(-rc));
	}
	if (in->vmac_ifindex)
		vrrp_nl_link_set_up(in->d->nl, in->vmac_ifindex, false);
	in->vips_up = false;
}

/* One gratuitous ARP / unsolicited NA per VIP. */
static void garp_round(struct vrrp_inst *in)
{
	const uint8_t *mac = in->vmac_ifindex ? in->vmac : in->ifc->mac;
	uint8_t frame[VRRP_GARP_NA_LEN];

	for (unsigned i = 0; i < in->cfg->nvip; i++) {
		const struct vrrp_vip *v = &in->cfg->vip[i];
		size_t n;

		if (v->family == AF_INET)
			n = vrrp_garp_build_arp(frame, mac, v->ip.v4);
		else if (have_src(in))
			n = vrrp_garp_build_na(frame, mac, &in->src.v6, &v->ip.v6,
					       in->cfg->na_router);
		else
			continue;
		if (vrrp_garp_send(in->d->garp_fd, vip_ifindex(in), frame, n) == 0)
			in->st.garp_tx++;
		else
			in->st.send_errors++;
	}
}

static const char *notify_state(enum vrrp_state st)
{
	return st == VRRP_ST_INIT ? "STOP" : vrrp_state_name(st);
}

static void sync_group(struct vrrp_inst *in, enum vrrp_state to, uint64_t now);

static void on_state(void *ctx, enum vrrp_state from, enum vrrp_state to, enum vrrp_cause cause)
{
	struct vrrp_inst *in = ctx;
	uint64_t now = vrrp_now_us();

	log_info("%s: %s -> %s (%s), priority %u", in->cfg->name, vrrp_state_name(from),
		 vrrp_state_name(to), vrrp_cause_name(cause), in->fsm.priority);
	in->st.transitions++;
	in->since_wall = (uint64_t)time(NULL);
	if (to == VRRP_ST_MASTER) {
		in->st.became_master++;
		vips_add(in);
		vrrp_garp_start(&in->garp, &in->cfg->garp, now);
		while (vrrp_garp_due(&in->garp, now))
			garp_round(in);
		in->master = in->src;
		in->has_master = in->has_src;
		in->master_prio = in->fsm.priority;
	} else if (from == VRRP_ST_MASTER) {
		vrrp_garp_stop(&in->garp);
		vips_del(in);
		in->has_master = false;
	}
	if (to != VRRP_ST_BACKUP && to != VRRP_ST_MASTER)
		in->has_master = false;
	vrrp_notify_run(in->cfg->notify, "INSTANCE", in->cfg->name, notify_state(to),
			in->fsm.priority);
	vrrp_notify_run(in->d->cfg->notify, "INSTANCE", in->cfg->name, notify_state(to),
			in->fsm.priority);
	vrrp_admin_publish(in->d, true);
	if (!in->syncing && in->cfg->group >= 0 && cause != VRRP_CAUSE_SHUTDOWN)
		sync_group(in, to, now);
}

static const struct vrrp_fsm_ops inst_ops = {
    .send_advert = on_send_advert,
    .on_state = on_state,
};

/* Sync groups move together (keepalived's vrrp_sync_group): a member that
 * becomes MASTER or BACKUP takes the others along; a member in FAULT puts
 * them in FAULT until it recovers. */
static void sync_group(struct vrrp_inst *in, enum vrrp_state to, uint64_t now)
{
	const struct vrrp_group_cfg *g = &in->d->cfg->group[in->cfg->group];
	bool fault = to == VRRP_ST_FAULT;

	for (unsigned i = 0; i < g->n; i++) {
		struct vrrp_inst *o = &in->d->inst[g->member[i]];

		if (o == in)
			continue;
		o->syncing = true;
		if (to == VRRP_ST_MASTER || to == VRRP_ST_BACKUP)
			vrrp_fsm_sync(&o->fsm, now, to);
		vrrp_inst_reevaluate(o, now);
		o->syncing = false;
	}
	if (fault || to == VRRP_ST_BACKUP || to == VRRP_ST_MASTER)
		vrrp_notify_run(g->notify, "GROUP", g->name, notify_state(to), in->fsm.priority);
}

/* A member of our sync group is in FAULT for its own reasons. */
static bool group_fault(const struct vrrp_inst *in)
{
	const struct vrrp_group_cfg *g;

	if (in->cfg->group < 0)
		return false;
	g = &in->d->cfg->group[in->cfg->group];
	for (unsigned i = 0; i < g->n; i++) {
		const struct vrrp_inst *o = &in->d->inst[g->member[i]];

		if (o != in && (o->link_fault || o->track_fault))
			return true;
	}
	return false;
}

uint8_t vrrp_inst_priority(const struct vrrp_inst *in)
{
	int prio = in->cfg->priority;

	/* RFC 5798 §6.1: 255 is the address owner, whatever else happens. */
	if (prio == VRRP_PRIO_OWNER)
		return VRRP_PRIO_OWNER;
	for (unsigned i = 0; i < in->cfg->ntrack; i++) {
		const struct vrrp_track *t = &in->d->tracks.t[in->cfg->track[i]];
		int w = t->cfg->weight;

		if ((w < 0 && !t->up) || (w > 0 && t->up))
			prio += w;
	}
	return (uint8_t)(prio < 1 ? 1 : prio > 254 ? 254 : prio);
}

void vrrp_inst_reevaluate(struct vrrp_inst *in, uint64_t now)
{
	bool tf = false;

	for (unsigned i = 0; i < in->cfg->ntrack; i++) {
		const struct vrrp_track *t = &in->d->tracks.t[in->cfg->track[i]];

		if (t->cfg->weight == 0 && !t->up)
			tf = true;
	}
	in->track_fault = tf;
	in->link_fault = !in->ifc->running;
	vrrp_fsm_set_priority(&in->fsm, now, vrrp_inst_priority(in));
	vrrp_fsm_set_fault(&in->fsm, now, in->link_fault || in->track_fault || group_fault(in));
}

int vrrp_inst_setup(struct vrrp_inst *in)
{
	const struct vrrp_inst_cfg *c = in->cfg;

	vrrp_fsm_init(&in->fsm, c->priority, c->adver_int, c->preempt, c->preempt_delay_us,
		      &inst_ops, in);
	if (c->has_src) {
		in->src = c->src;
		in->has_src = true;
	} else {
		have_src(in);
	}
	if (!in->has_src)
		log_warn("%s: no %s source address on %s yet; adverts wait for one", c->name,
			 c->family == AF_INET ? "IPv4" : "link-local IPv6", in->ifc->name);
	return 0;
}

void vrrp_inst_start(struct vrrp_inst *in, uint64_t now)
{
	vrrp_inst_reevaluate(in, now);
	vrrp_fsm_startup(&in->fsm, now);
	vrrp_admin_publish(in->d, true);
}

void vrrp_inst_teardown(struct vrrp_inst *in)
{
	if (in->vips_up)
		vips_del(in);
}

/* §7.1 checks beyond the codec's; returns OK or the reason to discard. */
static enum vrrp_pkt_reason check_rx(struct vrrp_inst *in, const struct vrrp_pkt_view *v)
{
	const struct vrrp_inst_cfg *c = in->cfg;
	size_t al = alen(in);
	bool mcast = c->family == AF_INET ? (ntohl(v->dst.v4.s_addr) >> 28) == 0xe
					  : IN6_IS_ADDR_MULTICAST(&v->dst.v6);

	if (c->npeer == 0) {
		union vrrp_pkt_ip g = {0};

		if (c->family == AF_INET)
			g.v4.s_addr = htonl(VRRP_MCAST4);
		else
			inet_pton(AF_INET6, "ff02::12", &g.v6);
		if (memcmp(&v->dst, &g, al) != 0)
			return VRRP_PKT_WRONG_DEST;
	} else {
		bool known = false;

		if (mcast)
			return VRRP_PKT_WRONG_DEST;
		for (unsigned i = 0; i < c->npeer && !known; i++)
			known = memcmp(&c->peer[i], &v->src, al) == 0;
		if (!known)
			return VRRP_PKT_UNKNOWN_PEER;
	}
	if (c->priority == VRRP_PRIO_OWNER && v->priority == VRRP_PRIO_OWNER)
		return VRRP_PKT_OWNER_CONFLICT;
	/* §7.1 MAY verify the addresses; keepalived drops on a mismatch, and
	 * so do we, so a mixed pair behaves the same on both sides. */
	if (v->naddr != c->nvip)
		return VRRP_PKT_ADDR_MISMATCH;
	for (unsigned i = 0; i < c->nvip; i++) {
		bool found = false;

		for (unsigned j = 0; j < v->naddr && !found; j++)
			found = memcmp(v->addrs + j * al, &c->vip[i].ip, al) == 0;
		if (!found)
			return VRRP_PKT_ADDR_MISMATCH;
	}
	return VRRP_PKT_OK;
}

static void rx_refused(struct vrrp_inst *in, enum vrrp_pkt_reason why, const union vrrp_pkt_ip *src)
{
	char buf[INET6_ADDRSTRLEN];

	in->st.bad[why]++;
	log_rl(LOG_LVL_WARN, "%s: advert from %s dropped: %s", in->cfg->name,
	       ipstr(in->cfg->family, src, buf, sizeof(buf)), vrrp_pkt_reason_text(why));
}

void vrrp_inst_rx(struct vrrp_inst *in, const uint8_t *buf, size_t len,
		  const struct vrrp_net_rx *rx, uint64_t now)
{
	const struct vrrp_inst_cfg *c = in->cfg;
	struct vrrp_pkt_view v;
	enum vrrp_pkt_reason why;
	int rc, cmp;

	if (rx->truncated) {
		rx_refused(in, VRRP_PKT_BAD_LENGTH, &rx->src);
		return;
	}
	if (c->family == AF_INET)
		rc = vrrp_pkt_parse4(buf, len, c->csum_v2 ? VRRP_PKT_F_CSUM_V2 : 0, &v, &why);
	else
		rc = vrrp_pkt_parse6(buf, len, &rx->src.v6, &rx->dst.v6, rx->hop_limit,
				     c->npeer > 0, &v, &why);
	if (rc < 0) {
		rx_refused(in, why, &rx->src);
		return;
	}
	if (in->has_src && memcmp(&v.src, &in->src, alen(in)) == 0)
		return; /* our own advert looped back */
	why = check_rx(in, &v);
	if (why != VRRP_PKT_OK) {
		rx_refused(in, why, &v.src);
		return;
	}
	in->st.adverts_rx++;
	if (v.priority == 0)
		in->st.prio0_rx++;
	/* §6.4.3 tie-break: the greater primary address wins (network order
	 * compares as a number). */
	cmp = in->has_src ? memcmp(&v.src, &in->src, alen(in)) : 1;
	vrrp_fsm_advert(&in->fsm, now, v.priority, v.max_adver_int, cmp);
	if (v.priority == 0 && in->has_master && memcmp(&in->master, &v.src, alen(in)) == 0)
		in->has_master = false; /* the master resigned */
	if (in->fsm.state == VRRP_ST_BACKUP && v.priority != 0 &&
	    (!in->has_master || memcmp(&in->master, &v.src, alen(in)) != 0 ||
	     in->master_prio != v.priority)) {
		in->master = v.src;
		in->has_master = true;
		in->master_prio = v.priority;
		vrrp_admin_publish(in->d, false);
	}
}

void vrrp_inst_timer(struct vrrp_inst *in, uint64_t now)
{
	vrrp_fsm_timer(&in->fsm, now);
	while (in->fsm.state == VRRP_ST_MASTER && vrrp_garp_due(&in->garp, now))
		garp_round(in);
}

uint64_t vrrp_inst_next(const struct vrrp_inst *in)
{
	uint64_t a = vrrp_fsm_next_deadline(&in->fsm), b = vrrp_garp_next(&in->garp);

	if (!a || (b && b < a))
		return b;
	return a;
}
