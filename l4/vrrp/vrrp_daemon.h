/* The strata-vrrp daemon: runtime objects and their owners.
 *
 * One struct vrrp_daemon owns everything: the config snapshot, the loop,
 * the netlink sockets, one struct vrrp_iface per interface in use (with its
 * raw sockets, shared by that interface's instances), one struct vrrp_inst
 * per virtual router, the trackers, and the admin/metrics side. All of it
 * is touched by the loop thread only, except the published status
 * (vrrp_admin.c), which the admin thread reads under a lock.
 */
#ifndef STRATA_VRRP_DAEMON_H
#define STRATA_VRRP_DAEMON_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "vrrp_addr.h"
#include "vrrp_config.h"
#include "vrrp_fsm.h"
#include "vrrp_garp.h"
#include "vrrp_loop.h"
#include "vrrp_net.h"
#include "vrrp_pkt.h"
#include "vrrp_track.h"

#define VRRP_FAM_IDX(f) ((f) == AF_INET6 ? 1 : 0)

enum vrrp_unmatched {
	VRRP_UNM_OTHER_VRID = VRRP_PKT__COUNT, /* a VRID nobody here runs: ignored */
	VRRP_UNM__COUNT
};

struct vrrp_daemon;

struct vrrp_iface {
	struct vrrp_daemon *d;
	char name[IF_NAMESIZE];
	int ifindex;
	uint8_t mac[6];
	bool running;
	int fd[2];    /* raw VRRP socket per family, -1 when unused */
	bool used[2]; /* some instance runs this family here */
	bool join[2]; /* some instance of that family uses multicast */
	/* packets no instance could take, by reason (codec or other VRID) */
	uint64_t unmatched[VRRP_UNM__COUNT];
	int saved_arp_ignore; /* restored at exit when a vmac changed it, else -1 */
	int saved_arp_filter;
	int saved_arp_announce;
};

struct vrrp_inst_stats {
	uint64_t adverts_tx, adverts_rx;
	uint64_t prio0_tx, prio0_rx;
	uint64_t transitions, became_master;
	uint64_t garp_tx, send_errors;
	uint64_t bad[VRRP_PKT__COUNT];
};

struct vrrp_inst {
	const struct vrrp_inst_cfg *cfg;
	struct vrrp_daemon *d;
	struct vrrp_iface *ifc;
	unsigned idx;
	struct vrrp_fsm fsm;
	int vmac_ifindex; /* 0 without use_vmac */
	uint8_t vmac[6];
	bool vips_up;	       /* our VIPs are on the interface */
	bool link_fault;       /* the instance's own interface is down */
	bool track_fault;      /* a weight-0 tracker is down */
	union vrrp_pkt_ip src; /* source of our adverts */
	bool has_src;
	union vrrp_pkt_ip master; /* address of the current master */
	bool has_master;
	uint8_t master_prio;
	uint64_t since_wall; /* unix time of the last transition */
	struct vrrp_garp_sched garp;
	struct vrrp_inst_stats st;
	bool syncing; /* being moved by its sync group: do not recurse */
};

struct vrrp_admin;

struct vrrp_daemon {
	struct vrrp_cfg *cfg;
	struct vrrp_loop *loop;
	struct vrrp_nl *nl;  /* commands */
	struct vrrp_nl *mon; /* RTNLGRP_LINK events */
	int garp_fd;
	int sig_fd;
	unsigned nifc;
	struct vrrp_iface ifc[VRRP_MAX_INSTANCES];
	unsigned ninst;
	struct vrrp_inst inst[VRRP_MAX_INSTANCES];
	struct vrrp_trackers tracks;
	struct vrrp_admin *admin;
	bool stopping;
	bool reload;
	/* SIGTERM as master: resign once strata-l4 is quiet or at the
	 * deadline (vrrp_daemon.c "shutdown wait"); 0 when not waiting. */
	uint64_t stop_wait_since, stop_wait_until;
};

/* --- vrrp_daemon.c --------------------------------------------------------- */

/* Everything from the snapshot up to a running loop; on failure logs why
 * (a missing interface, a VIP somebody else holds, ...) and undoes what it
 * did. Takes ownership of `cfg`. */
int vrrp_daemon_start(struct vrrp_daemon *d, struct vrrp_cfg *cfg);
/* Runs until SIGINT, or SIGTERM and the shutdown wait; returns the exit
 * status. */
int vrrp_daemon_run(struct vrrp_daemon *d);
/* Resigns (priority 0) as master, removes VIPs and the vmac, frees all. */
void vrrp_daemon_stop(struct vrrp_daemon *d);

/* --- vrrp_shutdown.c --------------------------------------------------------- */

/* SIGTERM: as master tracking a live strata-l4 with shutdown_wait set,
 * starts the wait (fast probes); otherwise, or when already waiting, sets
 * `stopping` (resign now). */
void vrrp_shutdown_begin(struct vrrp_daemon *d);
/* Every loop turn: ends the wait (sets `stopping`) once strata-l4 has
 * nothing open or exited, we are no longer master, or shutdown_wait is
 * over; logs which. */
void vrrp_shutdown_check(struct vrrp_daemon *d, uint64_t now);

/* --- vrrp_inst.c ----------------------------------------------------------- */

int vrrp_inst_setup(struct vrrp_inst *in);
void vrrp_inst_teardown(struct vrrp_inst *in);
void vrrp_inst_start(struct vrrp_inst *in, uint64_t now);
/* A datagram from the instance's interface socket, already matched by VRID. */
void vrrp_inst_rx(struct vrrp_inst *in, const uint8_t *buf, size_t len,
		  const struct vrrp_net_rx *rx, uint64_t now);
void vrrp_inst_timer(struct vrrp_inst *in, uint64_t now);
uint64_t vrrp_inst_next(const struct vrrp_inst *in);
/* Recomputes priority and FAULT from the link and the trackers. */
void vrrp_inst_reevaluate(struct vrrp_inst *in, uint64_t now);
/* The priority we would advertise now (base +/- tracker weights). */
uint8_t vrrp_inst_priority(const struct vrrp_inst *in);

#endif
