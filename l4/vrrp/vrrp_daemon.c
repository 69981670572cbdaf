/* The strata-vrrp daemon: start-up checks, interfaces and their sockets,
 * the event loop, signals, netlink link events, and a clean stop; see
 * vrrp_daemon.h. Everything here runs on the loop thread.
 */
#include "vrrp_daemon.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "vrrp_admin.h"
#include "vrrp_net.h"
#include "vrrp_reload.h"
#include "vrrp_sched.h"

#define PUBLISH_US 1000000 /* counters reach metrics at least this often */

/* --- sysctls for the virtual MAC ------------------------------------------- */

static int sysctl_rw(const char *ifname, const char *key, int set)
{
	char path[128], buf[16];
	int fd, old = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/%s", ifname, key);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = '\0';
		old = atoi(buf);
	}
	if (set >= 0 && old != set) {
		n = snprintf(buf, sizeof(buf), "%d\n", set);
		if (pwrite(fd, buf, (size_t)n, 0) != n)
			log_warn("cannot set %s: %s", path, strerror(errno));
	}
	close(fd);
	return old;
}

/* With the VIP on the macvlan the parent must not answer ARP for it with
 * its own MAC (arp_ignore=1, arp_filter=1, as keepalived sets), nor ask
 * for a client's MAC with the VIP as sender (arp_announce=2): a client
 * would file the VIP under the parent's MAC and the virtual MAC would not
 * survive the next reply. Saved here, restored at exit. */
static void vmac_sysctls(struct vrrp_iface *ifc, const char *vmac)
{
	if (ifc->saved_arp_ignore < 0) {
		ifc->saved_arp_ignore = sysctl_rw(ifc->name, "arp_ignore", 1);
		ifc->saved_arp_filter = sysctl_rw(ifc->name, "arp_filter", 1);
		ifc->saved_arp_announce = sysctl_rw(ifc->name, "arp_announce", 2);
	}
	/* The macvlan itself: answer only for its own addresses, take packets
	 * from the local parent (keepalived does the same). */
	sysctl_rw(vmac, "arp_ignore", 1);
	sysctl_rw(vmac, "accept_local", 1);
	sysctl_rw(vmac, "rp_filter", 0);
}

/* --- interfaces ------------------------------------------------------------ */

static void on_sock(void *arg, int fd, uint32_t events);

static struct vrrp_iface *iface_get(struct vrrp_daemon *d, const char *name)
{
	struct vrrp_iface *ifc;
	struct vrrp_link_info li;
	int rc;

	for (unsigned i = 0; i < d->nifc; i++)
		if (strcmp(d->ifc[i].name, name) == 0)
			return &d->ifc[i];
	rc = vrrp_nl_link_by_name(d->nl, name, &li);
	if (rc < 0) {
		log_err("interface %s: %s", name,
			rc == -ENODEV ? "no such interface" : strerror(-rc));
		return NULL;
	}
	ifc = &d->ifc[d->nifc++];
	memset(ifc, 0, sizeof(*ifc));
	ifc->d = d;
	snprintf(ifc->name, sizeof(ifc->name), "%s", name);
	ifc->ifindex = li.ifindex;
	memcpy(ifc->mac, li.mac, 6);
	ifc->running = li.running;
	ifc->fd[0] = ifc->fd[1] = -1;
	ifc->saved_arp_ignore = ifc->saved_arp_filter = ifc->saved_arp_announce = -1;
	if (!li.running)
		log_warn("interface %s is down: its instances start in FAULT", name);
	return ifc;
}

static void iface_close(struct vrrp_iface *ifc)
{
	for (int f = 0; f < 2; f++) {
		if (ifc->fd[f] < 0)
			continue;
		if (ifc->d->loop)
			vrrp_loop_unwatch(ifc->d->loop, ifc->fd[f]);
		close(ifc->fd[f]);
		ifc->fd[f] = -1;
	}
}

static int iface_open(struct vrrp_iface *ifc)
{
	for (int f = 0; f < 2; f++) {
		int fd, rc;

		if (!ifc->used[f] || ifc->fd[f] >= 0)
			continue;
		fd = vrrp_net_open(f ? AF_INET6 : AF_INET, ifc->ifindex, ifc->name, ifc->join[f]);
		if (fd < 0) {
			log_err("interface %s: VRRP socket: %s", ifc->name, strerror(-fd));
			return fd;
		}
		rc = vrrp_loop_watch(ifc->d->loop, fd, EPOLLIN, on_sock, ifc);
		if (rc < 0) {
			close(fd);
			return rc;
		}
		ifc->fd[f] = fd;
	}
	return 0;
}

static struct vrrp_inst *find_inst(struct vrrp_daemon *d, const struct vrrp_iface *ifc, int family,
				   int vrid)
{
	for (unsigned i = 0; i < d->ninst; i++) {
		struct vrrp_inst *in = &d->inst[i];

		if (in->ifc == ifc && in->cfg->family == family && in->cfg->vrid == vrid)
			return in;
	}
	return NULL;
}

static void on_sock(void *arg, int fd, uint32_t events)
{
	struct vrrp_iface *ifc = arg;
	int family = fd == ifc->fd[1] ? AF_INET6 : AF_INET;
	uint8_t buf[VRRP_NET_RX_BUF];
	struct vrrp_net_rx rx;
	ssize_t n;

	/* Bounded, so a flood cannot keep the loop from its timers. */
	for (int i = 0; i < 64; i++) {
		struct vrrp_inst *in;
		int vrid;

		n = vrrp_net_recv(fd, family, buf, sizeof(buf), &rx);
		if (n < 0)
			break;
		vrid = vrrp_pkt_peek_vrid(family, buf, (size_t)n);
		if (vrid < 0) {
			ifc->unmatched[VRRP_PKT_TRUNCATED]++;
			continue;
		}
		in = find_inst(ifc->d, ifc, family, vrid);
		if (!in) {
			/* §7.1: not our VRID: not an error, not acted on. */
			ifc->unmatched[VRRP_UNM_OTHER_VRID]++;
			continue;
		}
		vrrp_inst_rx(in, buf, (size_t)n, &rx, vrrp_now_us());
	}
}

/* A link went up or down, or came back under its name with a new ifindex
 * (deleted and re-created): the sockets are bound to the old one. */
static void on_link(void *arg, const struct vrrp_link_info *li, bool gone)
{
	struct vrrp_daemon *d = arg;
	uint64_t now = vrrp_now_us();

	vrrp_track_link_event(&d->tracks, li, gone);
	for (unsigned i = 0; i < d->nifc; i++) {
		struct vrrp_iface *ifc = &d->ifc[i];
		bool was = ifc->running;

		if (strcmp(ifc->name, li->name) != 0)
			continue;
		if (gone) {
			if (li->ifindex == ifc->ifindex)
				ifc->running = false;
		} else {
			if (li->ifindex != ifc->ifindex) {
				log_warn("interface %s is back as ifindex %d", ifc->name,
					 li->ifindex);
				iface_close(ifc);
				ifc->ifindex = li->ifindex;
				memcpy(ifc->mac, li->mac, 6);
				iface_open(ifc);
			}
			ifc->running = li->running;
		}
		if (was != ifc->running)
			log_warn("interface %s is %s", ifc->name, ifc->running ? "up" : "DOWN");
	}
	for (unsigned i = 0; i < d->ninst; i++)
		vrrp_inst_reevaluate(&d->inst[i], now);
}

static void resync_links(struct vrrp_daemon *d)
{
	for (unsigned i = 0; i < d->nifc; i++) {
		struct vrrp_link_info li;

		if (vrrp_nl_link_by_name(d->nl, d->ifc[i].name, &li) == 0)
			on_link(d, &li, false);
		else {
			snprintf(li.name, sizeof(li.name), "%s", d->ifc[i].name);
			li.ifindex = d->ifc[i].ifindex;
			on_link(d, &li, true);
		}
	}
}

static void on_monitor(void *arg, int fd, uint32_t events)
{
	struct vrrp_daemon *d = arg;

	if (vrrp_nl_monitor_read(d->mon, on_link, d) == -ENOBUFS) {
		log_warn("netlink: link events lost, re-reading the interfaces");
		resync_links(d);
	}
}

static void on_track(void *ctx, struct vrrp_track *t)
{
	struct vrrp_daemon *d = ctx;
	uint64_t now = vrrp_now_us();

	for (unsigned i = 0; i < d->ninst; i++)
		vrrp_inst_reevaluate(&d->inst[i], now);
	vrrp_admin_publish(d, false);
}

static void reap_children(struct vrrp_daemon *d)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		vrrp_track_child_exit(&d->tracks, pid, status, vrrp_now_us());
}

static void on_signal(void *arg, int fd, uint32_t events)
{
	struct vrrp_daemon *d = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
			vrrp_shutdown_begin(d);
			break;
		case SIGINT:
			log_info("signal %d: resigning and stopping", (int)si.ssi_signo);
			d->stopping = true;
			break;
		case SIGHUP:
			d->reload = true;
			break;
		case SIGCHLD:
			reap_children(d);
			break;
		default:
			break;
		}
	}
}

/* --- start-up -------------------------------------------------------------- */

static int open_signals(struct vrrp_daemon *d)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	d->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sig_fd < 0)
		return -errno;
	return vrrp_loop_watch(d->loop, d->sig_fd, EPOLLIN, on_signal, d);
}

/* A VIP already configured is refused, unless it is a leftover of ours
 * (IFA_PROTO) from a run that could not clean up, which we remove. */
static int check_vips(struct vrrp_daemon *d)
{
	for (unsigned i = 0; i < d->cfg->ninst; i++) {
		const struct vrrp_inst_cfg *c = &d->cfg->inst[i];

		for (unsigned v = 0; v < c->nvip; v++) {
			char buf[64], dev[IF_NAMESIZE] = "?";
			int ifindex = 0, rc;
			bool ours = false;

			vrrp_vip_format(&c->vip[v], buf, sizeof(buf));
			rc = vrrp_nl_addr_find(d->nl, &c->vip[v], &ifindex, &ours);
			if (rc < 0) {
				log_err("cannot list addresses: %s", strerror(-rc));
				return rc;
			}
			if (rc == 0)
				continue;
			if_indextoname((unsigned)ifindex, dev);
			if (!ours) {
				log_err("%s: VIP %s is already present on %s and was not added by "
					"strata-vrrp: remove it (ip addr del %s dev %s) or fix the "
					"config",
					c->name, buf, dev, buf, dev);
				return -EADDRINUSE;
			}
			log_warn("%s: removing VIP %s left on %s by an earlier run", c->name, buf,
				 dev);
			vrrp_nl_addr_del(d->nl, ifindex, &c->vip[v]);
		}
	}
	return 0;
}

static int setup_vmac(struct vrrp_inst *in)
{
	const struct vrrp_inst_cfg *c = in->cfg;
	struct vrrp_link_info li;
	int rc;

	/* RFC 5798 §7.3: 00-00-5E-00-01-{VRID} (IPv4), 00-00-5E-00-02-{VRID} (IPv6). */
	memcpy(in->vmac, (const uint8_t[]){0x00, 0x00, 0x5e, 0x00, 0x01, c->vrid}, 6);
	if (c->family == AF_INET6)
		in->vmac[4] = 0x02;
	if (vrrp_nl_link_by_name(in->d->nl, c->vmac_name, &li) == 0) {
		if (li.parent != in->ifc->ifindex || memcmp(li.mac, in->vmac, 6) != 0) {
			log_err("%s: interface %s exists and is not our virtual MAC on %s", c->name,
				c->vmac_name, in->ifc->name);
			return -EEXIST;
		}
		log_warn("%s: reusing %s left by an earlier run", c->name, c->vmac_name);
		in->vmac_ifindex = li.ifindex;
		vrrp_nl_link_set_up(in->d->nl, li.ifindex, false);
	} else {
		rc = vrrp_nl_macvlan_add(in->d->nl, in->ifc->ifindex, c->vmac_name, in->vmac,
					 &in->vmac_ifindex);
		if (rc < 0) {
			log_err("%s: cannot create macvlan %s: %s", c->name, c->vmac_name,
				strerror(-rc));
			return rc;
		}
	}
	if (c->family == AF_INET)
		vmac_sysctls(in->ifc, c->vmac_name);
	return 0;
}

/* A configured source address must be ours, on the instance's interface:
 * adverts from an address we do not hold would be a spoof. */
static bool source_is_local(struct vrrp_daemon *d, const struct vrrp_inst *in)
{
	struct vrrp_vip v = {.family = in->cfg->family, .ip = in->cfg->src};
	char buf[INET6_ADDRSTRLEN];
	int ifindex = 0;
	bool ours;

	if (vrrp_nl_addr_find(d->nl, &v, &ifindex, &ours) == 1 && ifindex == in->ifc->ifindex &&
	    !ours)
		return true;
	inet_ntop(v.family, &v.ip, buf, sizeof(buf));
	log_err("%s: source_address %s is not an address of %s", in->cfg->name, buf, in->ifc->name);
	return false;
}

static int setup_instances(struct vrrp_daemon *d)
{
	for (unsigned i = 0; i < d->cfg->ninst; i++) {
		const struct vrrp_inst_cfg *c = &d->cfg->inst[i];
		struct vrrp_inst *in = &d->inst[i];
		int f = VRRP_FAM_IDX(c->family);

		memset(in, 0, sizeof(*in));
		in->cfg = c;
		in->d = d;
		in->idx = i;
		in->ifc = iface_get(d, c->ifname);
		if (!in->ifc)
			return -ENODEV;
		d->ninst = i + 1;
		in->ifc->used[f] = true;
		in->ifc->join[f] |= c->npeer == 0;
		if (c->has_src && !source_is_local(d, in))
			return -EADDRNOTAVAIL;
		if (c->use_vmac && setup_vmac(in) < 0)
			return -EEXIST;
		vrrp_inst_setup(in);
	}
	for (unsigned i = 0; i < d->nifc; i++) {
		int rc = iface_open(&d->ifc[i]);

		if (rc < 0)
			return rc;
	}
	return 0;
}

static int tune_process(const struct vrrp_cfg *cfg)
{
	int rc;

	if (cfg->lock_memory) {
		rc = vrrp_sched_lock_memory();
		if (rc == -ENOTSUP)
			log_info("memory not locked: sanitizer build");
		else if (rc < 0)
			log_warn("cannot lock memory: %s", strerror(-rc));
		else if (rc == 0)
			log_info("memory locked (current pages only: RLIMIT_MEMLOCK cannot be "
				 "raised here)");
	}
	rc = vrrp_sched_realtime(cfg->rt_priority);
	if (rc < 0)
		log_warn("cannot use SCHED_RR priority %d: %s", cfg->rt_priority, strerror(-rc));
	return rc;
}

static int start_io(struct vrrp_daemon *d)
{
	int rc;

	rc = vrrp_loop_new(&d->loop);
	if (!rc)
		rc = vrrp_nl_open(false, &d->nl);
	if (!rc)
		rc = vrrp_nl_open(true, &d->mon);
	if (rc < 0) {
		log_err("netlink: %s", strerror(-rc));
		return rc;
	}
	rc = vrrp_loop_watch(d->loop, vrrp_nl_fd(d->mon), EPOLLIN, on_monitor, d);
	if (!rc)
		rc = open_signals(d);
	d->garp_fd = vrrp_garp_open();
	if (d->garp_fd < 0) {
		log_err("AF_PACKET socket for gratuitous ARP: %s", strerror(-d->garp_fd));
		return d->garp_fd;
	}
	return rc;
}

int vrrp_daemon_start(struct vrrp_daemon *d, struct vrrp_cfg *cfg)
{
	uint64_t now;
	int rc;

	memset(d, 0, sizeof(*d));
	d->cfg = cfg;
	d->garp_fd = d->sig_fd = -1;
	rc = start_io(d);
	if (!rc)
		rc = check_vips(d);
	if (!rc)
		rc = setup_instances(d);
	if (!rc)
		rc = vrrp_track_init(&d->tracks, cfg, d->loop, d->nl, on_track, d, vrrp_now_us());
	if (!rc) {
		vrrp_sched_thread_stacks(VRRP_SCHED_THREAD_STACK);
		rc = vrrp_admin_start(d);
	}
	if (rc < 0)
		return rc;
	bool realtime = tune_process(cfg) == 0 && cfg->rt_priority > 0;
	rc = vrrp_caps_drop();
	if (rc < 0) {
		log_err("cannot drop capabilities: %s", strerror(-rc));
		return rc;
	}
	now = vrrp_now_us();
	for (unsigned i = 0; i < d->ninst; i++)
		vrrp_inst_start(&d->inst[i], now);
	/* Say what the process really runs with: an operator reading this line
	 * must not believe adverts are real-time when the switch failed. */
	if (realtime)
		log_info("started: %u instance(s) on %u interface(s), SCHED_RR %d, capabilities "
			 "CAP_NET_RAW+CAP_NET_ADMIN",
			 d->ninst, d->nifc, cfg->rt_priority);
	else
		log_info("started: %u instance(s) on %u interface(s), normal scheduling (%s), "
			 "capabilities CAP_NET_RAW+CAP_NET_ADMIN",
			 d->ninst, d->nifc,
			 cfg->rt_priority > 0 ? "SCHED_RR refused" : "rt_priority 0");
	return 0;
}

/* --- running --------------------------------------------------------------- */

static uint64_t next_deadline(struct vrrp_daemon *d, uint64_t publish_at)
{
	uint64_t next = publish_at, t;

	for (unsigned i = 0; i < d->ninst; i++) {
		t = vrrp_inst_next(&d->inst[i]);
		if (t && t < next)
			next = t;
	}
	t = vrrp_track_next(&d->tracks);
	if (t && t < next)
		next = t;
	if (d->stop_wait_until && d->stop_wait_until < next)
		next = d->stop_wait_until;
	return next;
}

int vrrp_daemon_run(struct vrrp_daemon *d)
{
	uint64_t publish_at = vrrp_now_us() + PUBLISH_US;

	while (!d->stopping) {
		uint64_t now;
		int rc = vrrp_loop_run_once(d->loop, next_deadline(d, publish_at));

		if (rc < 0 && rc != -EINTR) {
			log_err("event loop: %s", strerror(-rc));
			return 1;
		}
		now = vrrp_now_us();
		for (unsigned i = 0; i < d->ninst; i++)
			vrrp_inst_timer(&d->inst[i], now);
		vrrp_track_timer(&d->tracks, now);
		vrrp_shutdown_check(d, now);
		if (d->reload) {
			d->reload = false;
			vrrp_reload(d, now);
		}
		if (now >= publish_at) {
			vrrp_admin_publish(d, false);
			publish_at = now + PUBLISH_US;
		}
	}
	return 0;
}

void vrrp_daemon_stop(struct vrrp_daemon *d)
{
	uint64_t now = vrrp_now_us();

	/* Masters send priority 0 first (§6.4.3) so backups take over after
	 * Skew_Time, then the VIPs go. */
	for (unsigned i = 0; i < d->ninst; i++)
		vrrp_fsm_shutdown(&d->inst[i].fsm, now);
	for (unsigned i = 0; i < d->ninst; i++) {
		struct vrrp_inst *in = &d->inst[i];

		vrrp_inst_teardown(in);
		if (in->vmac_ifindex && d->nl)
			vrrp_nl_link_del(d->nl, in->vmac_ifindex);
	}
	vrrp_admin_publish(d, true);
	vrrp_track_fini(&d->tracks);
	vrrp_admin_stop(d);
	for (unsigned i = 0; i < d->nifc; i++) {
		struct vrrp_iface *ifc = &d->ifc[i];

		iface_close(ifc);
		if (ifc->saved_arp_ignore >= 0)
			sysctl_rw(ifc->name, "arp_ignore", ifc->saved_arp_ignore);
		if (ifc->saved_arp_filter >= 0)
			sysctl_rw(ifc->name, "arp_filter", ifc->saved_arp_filter);
		if (ifc->saved_arp_announce >= 0)
			sysctl_rw(ifc->name, "arp_announce", ifc->saved_arp_announce);
	}
	if (d->garp_fd >= 0)
		close(d->garp_fd);
	if (d->sig_fd >= 0)
		close(d->sig_fd);
	vrrp_nl_close(d->mon);
	vrrp_nl_close(d->nl);
	vrrp_loop_free(d->loop);
	vrrp_config_free(d->cfg);
	d->cfg = NULL;
}
