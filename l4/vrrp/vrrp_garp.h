/* Announcing VIPs: gratuitous ARP (IPv4) and unsolicited neighbour
 * advertisements (IPv6), and when to send them.
 *
 * Without an announcement a client keeps the old master's MAC until its ARP
 * entry expires: a 30-40 s outage. The frame builders are pure (tested
 * byte for byte); the sender is one AF_PACKET socket that never receives.
 * The schedule is pure too: a burst on becoming master, a repeat burst after
 * a delay (keepalived: 5 at once, 5 more after 5 s), optional refreshes.
 */
#ifndef STRATA_VRRP_GARP_H
#define STRATA_VRRP_GARP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VRRP_GARP_ARP_LEN   42 /* Ethernet + ARP for IPv4 */
#define VRRP_GARP_NA_LEN    86 /* Ethernet + IPv6 + NA + target link-layer option */
#define VRRP_GARP_MAX_COUNT 100

struct vrrp_garp_cfg {
	unsigned count;		  /* rounds in the first burst (1..100) */
	uint64_t interval_us;	  /* between rounds of a burst; 0 = back to back */
	uint64_t repeat_delay_us; /* from becoming master to the second burst; 0 = none */
	unsigned repeat_count;	  /* rounds in the second burst */
	uint64_t refresh_us;	  /* then one round every refresh_us; 0 = never */
};

enum vrrp_garp_phase {
	VRRP_GARP_IDLE,
	VRRP_GARP_FIRST,
	VRRP_GARP_WAIT_REPEAT,
	VRRP_GARP_REPEAT,
	VRRP_GARP_REFRESH,
	VRRP_GARP__COUNT
};

struct vrrp_garp_sched {
	struct vrrp_garp_cfg cfg;
	enum vrrp_garp_phase phase;
	unsigned left;	/* rounds left in the current burst */
	uint64_t next;	/* when the next round is due */
	uint64_t start; /* when we became master */
};

/* keepalived 2.2's defaults: 5 rounds now, 5 more after 5 s. */
void vrrp_garp_cfg_default(struct vrrp_garp_cfg *cfg);

void vrrp_garp_start(struct vrrp_garp_sched *s, const struct vrrp_garp_cfg *cfg, uint64_t now);
void vrrp_garp_stop(struct vrrp_garp_sched *s);
/* True when a round (one frame per VIP) is due at `now`; consumes it. Call
 * until it returns false. */
bool vrrp_garp_due(struct vrrp_garp_sched *s, uint64_t now);
/* When the next round is due, 0 when none is planned. */
uint64_t vrrp_garp_next(const struct vrrp_garp_sched *s);

/* ARP request announcing `ip` at `mac` (sender = target = ip, RFC 5227
 * §2.3 announcement; Linux updates an existing entry on it even within
 * its locktime). Returns VRRP_GARP_ARP_LEN. */
size_t vrrp_garp_build_arp(uint8_t buf[VRRP_GARP_ARP_LEN], const uint8_t mac[6], struct in_addr ip);

/* Unsolicited NA to ff02::1 (RFC 4861 §7.2.6) for `target` from `src`
 * (our link-local address), Override set, Router set when `router`
 * (RFC 5798 §6.4.1 asks for it). Returns VRRP_GARP_NA_LEN. */
size_t vrrp_garp_build_na(uint8_t buf[VRRP_GARP_NA_LEN], const uint8_t mac[6],
			  const struct in6_addr *src, const struct in6_addr *target, bool router);

/* The send-only AF_PACKET socket (CAP_NET_RAW). Returns the fd or -errno. */
int vrrp_garp_open(void);
/* Sends a frame built above out of `ifindex`; 0 or -errno. */
int vrrp_garp_send(int fd, int ifindex, const uint8_t *frame, size_t len);

#endif
