/* Route netlink for strata-vrrp (libnl): interfaces, VIPs, the virtual MAC
 * interface, and the link-state subscription.
 *
 * A struct vrrp_nl is one libnl socket, owned by its creator and freed by
 * vrrp_nl_close(). Command sockets are blocking (a request waits for the
 * kernel's ack, which takes microseconds); the monitor socket is
 * non-blocking and read from the event loop. Every call returns 0 or -errno
 * as the kernel reported it (-EEXIST, -EADDRNOTAVAIL, -ENODEV, ...).
 *
 * VIPs we add carry IFA_PROTO = VRRP_ADDR_PROTO, so a later start can tell a
 * leftover of ours (after a crash) from an address somebody else configured.
 */
#ifndef STRATA_VRRP_ADDR_H
#define STRATA_VRRP_ADDR_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "vrrp_pkt.h"

#define VRRP_ADDR_PROTO 0xf5 /* IFA_PROTO of our VIPs; outside the kernel's 0-3 */

struct vrrp_vip {
	int family; /* AF_INET / AF_INET6 */
	union vrrp_pkt_ip ip;
	uint8_t prefix; /* /32 or /128 when the config gives none (keepalived's default) */
};

struct vrrp_link_info {
	int ifindex;
	char name[IF_NAMESIZE];
	uint8_t mac[6];
	bool admin_up; /* IFF_UP */
	bool running;  /* IFF_RUNNING: carrier and operationally up */
	unsigned mtu;
	int parent; /* IFLA_LINK (macvlan's lower device), 0 when none */
};

struct vrrp_nl;

/* A command socket; or with `monitor` a non-blocking socket subscribed to
 * RTNLGRP_LINK (link up/down/removed) for vrrp_nl_monitor_read(). */
int vrrp_nl_open(bool monitor, struct vrrp_nl **out);
void vrrp_nl_close(struct vrrp_nl *nl);
int vrrp_nl_fd(const struct vrrp_nl *nl);

int vrrp_nl_link_by_name(struct vrrp_nl *nl, const char *name, struct vrrp_link_info *out);
int vrrp_nl_link_by_index(struct vrrp_nl *nl, int ifindex, struct vrrp_link_info *out);

/* Calls `cb` for every link event queued on a monitor socket; `gone` when
 * the link was removed. Returns 0 once drained, or -errno. After -ENOBUFS
 * (events lost) the caller should re-read the links it cares about. */
typedef void (*vrrp_nl_link_fn)(void *arg, const struct vrrp_link_info *link, bool gone);
int vrrp_nl_monitor_read(struct vrrp_nl *nl, vrrp_nl_link_fn cb, void *arg);

/* Adds / removes a VIP on `ifindex` (IPv6 with IFA_F_NODAD so it answers at
 * once: VRRP, not DAD, guarantees there is one owner). */
int vrrp_nl_addr_add(struct vrrp_nl *nl, int ifindex, const struct vrrp_vip *vip);
int vrrp_nl_addr_del(struct vrrp_nl *nl, int ifindex, const struct vrrp_vip *vip);

/* Looks for `vip` on every interface. Returns 0 when absent, 1 when found
 * (*ifindex where, *ours when it carries our IFA_PROTO), or -errno. */
int vrrp_nl_addr_find(struct vrrp_nl *nl, const struct vrrp_vip *vip, int *ifindex, bool *ours);

/* The address adverts are sent from: IPv4 the first address on `ifindex`
 * that is not one of ours (RFC 5798 §5.1.1.1 "primary address"), IPv6 its
 * link-local address (§5.1.2.1), or with `global` its first global one
 * (unicast to peers named by global addresses). -EADDRNOTAVAIL when there
 * is none. */
int vrrp_nl_primary_addr(struct vrrp_nl *nl, int ifindex, int family, bool global,
			 union vrrp_pkt_ip *out);

/* Creates a macvlan `name` on `parent` with MAC `mac`, mode private, IPv6
 * address generation off (no link-local, no DAD, no MLD from a backup's
 * copy), down. *ifindex gets the new link. */
int vrrp_nl_macvlan_add(struct vrrp_nl *nl, int parent, const char *name, const uint8_t mac[6],
			int *ifindex);
int vrrp_nl_link_set_up(struct vrrp_nl *nl, int ifindex, bool up);
int vrrp_nl_link_del(struct vrrp_nl *nl, int ifindex);

/* "10.77.0.100/24" or "fd77::100" into *vip; 0 or -EINVAL with *why set. */
int vrrp_vip_parse(const char *s, struct vrrp_vip *vip, const char **why);
/* "10.77.0.100/24"; returns the length written. */
int vrrp_vip_format(const struct vrrp_vip *vip, char *buf, size_t len);
bool vrrp_vip_equal(const struct vrrp_vip *a, const struct vrrp_vip *b);

#endif
