/* VRRP raw sockets: one per (interface, family), shared by every instance
 * (VRID) on that interface, for sending and receiving.
 *
 * IPv4: IPPROTO_VRRP with IP_HDRINCL, so the advert leaves with exactly the
 * header keepalived sends (TOS 0xc0, TTL 255, our primary address) and the
 * receiver sees the whole IP header (TTL included). IPv6: IPPROTO_VRRP with
 * hop limit 255 set on the socket, source and destination by IPV6_PKTINFO,
 * hop limit received with IPV6_RECVHOPLIMIT; the checksum is computed by
 * vrrp_pkt.c both ways (not IPV6_CHECKSUM) so a bad one is counted, not
 * silently dropped by the kernel. Both are bound to the device
 * (SO_BINDTODEVICE), join the VRRP group there, and do not loop back.
 */
#ifndef STRATA_VRRP_NET_H
#define STRATA_VRRP_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vrrp_pkt.h"

#define VRRP_NET_RX_BUF 2048 /* above any advert; bigger ones arrive MSG_TRUNC */

struct vrrp_net_rx {
	int family;
	union vrrp_pkt_ip src; /* IPv6 from the socket; IPv4 also in the header */
	union vrrp_pkt_ip dst; /* IPv6 from IPV6_PKTINFO */
	int hop_limit;	       /* IPv6 from IPV6_HOPLIMIT, -1 when absent */
	bool truncated;	       /* MSG_TRUNC: bigger than the buffer */
};

/* Opens the socket for `family` on interface `ifname`/`ifindex`, joining
 * 224.0.0.18 / ff02::12 when `join` (not needed for unicast-only).
 * Returns the fd (non-blocking, close-on-exec) or -errno. */
int vrrp_net_open(int family, int ifindex, const char *ifname, bool join);

/* IPv4: `pkt` is a whole datagram from vrrp_pkt_build(ip_header = true);
 * IPv6: the message, sent from `src` (our link-local address) to `dst`. */
int vrrp_net_send(int fd, int family, int ifindex, const void *pkt, size_t len,
		  const union vrrp_pkt_ip *src, const union vrrp_pkt_ip *dst);

/* Reads one datagram. Returns its length, -EAGAIN when none is queued, or
 * -errno. */
ssize_t vrrp_net_recv(int fd, int family, void *buf, size_t cap, struct vrrp_net_rx *rx);

#endif
