/* Gratuitous ARP and unsolicited NA: frames, schedule, sender; see
 * vrrp_garp.h. The socket is created once at start-up (before capabilities
 * are dropped) and owned by the daemon. */
#include "vrrp_garp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vrrp_pkt.h"

#define ETH_HDR	      14
#define IP6_HDR	      40
#define NA_LEN	      32 /* ICMPv6 NA (24) + target link-layer option (8) */
#define ND_NA	      136
#define NA_F_ROUTER   0x80
#define NA_F_SOLICIT  0x40
#define NA_F_OVERRIDE 0x20

void vrrp_garp_cfg_default(struct vrrp_garp_cfg *cfg)
{
	/* keepalived: vrrp_garp_master_repeat 5, vrrp_garp_master_delay 5,
	 * vrrp_garp_interval 0, garp_master_refresh 0. */
	*cfg = (struct vrrp_garp_cfg){
	    .count = 5,
	    .interval_us = 0,
	    .repeat_delay_us = 5000000,
	    .repeat_count = 5,
	    .refresh_us = 0,
	};
}

void vrrp_garp_start(struct vrrp_garp_sched *s, const struct vrrp_garp_cfg *cfg, uint64_t now)
{
	s->cfg = *cfg;
	s->start = now;
	s->phase = cfg->count ? VRRP_GARP_FIRST : VRRP_GARP_IDLE;
	s->left = cfg->count;
	s->next = now;
}

void vrrp_garp_stop(struct vrrp_garp_sched *s)
{
	s->phase = VRRP_GARP_IDLE;
	s->left = 0;
	s->next = 0;
}

/* After a burst: the repeat burst, then refreshes, then nothing. */
static void after_burst(struct vrrp_garp_sched *s, uint64_t now)
{
	if (s->phase == VRRP_GARP_FIRST && s->cfg.repeat_delay_us && s->cfg.repeat_count) {
		s->phase = VRRP_GARP_WAIT_REPEAT;
		s->next = s->start + s->cfg.repeat_delay_us;
		if (s->next < now)
			s->next = now;
	} else if (s->cfg.refresh_us) {
		s->phase = VRRP_GARP_REFRESH;
		s->next = now + s->cfg.refresh_us;
	} else {
		vrrp_garp_stop(s);
	}
}

bool vrrp_garp_due(struct vrrp_garp_sched *s, uint64_t now)
{
	if (s->phase == VRRP_GARP_IDLE || now < s->next)
		return false;
	switch (s->phase) {
	case VRRP_GARP_WAIT_REPEAT:
		s->phase = VRRP_GARP_REPEAT;
		s->left = s->cfg.repeat_count;
		/* fall through */
	case VRRP_GARP_FIRST:
	case VRRP_GARP_REPEAT:
		if (--s->left == 0)
			after_burst(s, now);
		else
			s->next = now + s->cfg.interval_us;
		return true;
	case VRRP_GARP_REFRESH:
		s->next = now + s->cfg.refresh_us;
		return true;
	default:
		return false;
	}
}

uint64_t vrrp_garp_next(const struct vrrp_garp_sched *s)
{
	return s->phase == VRRP_GARP_IDLE ? 0 : s->next;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

size_t vrrp_garp_build_arp(uint8_t buf[VRRP_GARP_ARP_LEN], const uint8_t mac[6], struct in_addr ip)
{
	uint8_t *a = buf + ETH_HDR;

	memset(buf, 0xff, 6); /* broadcast */
	memcpy(buf + 6, mac, 6);
	put16(buf + 12, ETH_P_ARP);
	put16(a, 1);		/* hardware: Ethernet */
	put16(a + 2, ETH_P_IP); /* protocol: IPv4 */
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1); /* request: what keepalived and arping -U send */
	memcpy(a + 8, mac, 6);
	memcpy(a + 14, &ip, 4);
	memset(a + 18, 0, 6); /* RFC 5227 §2.3: target hardware address ignored */
	memcpy(a + 24, &ip, 4);
	return VRRP_GARP_ARP_LEN;
}

size_t vrrp_garp_build_na(uint8_t buf[VRRP_GARP_NA_LEN], const uint8_t mac[6],
			  const struct in6_addr *src, const struct in6_addr *target, bool router)
{
	static const uint8_t all_nodes[16] = {0xff, 0x02, [15] = 0x01};
	uint8_t *ip = buf + ETH_HDR, *na = ip + IP6_HDR, ph[8] = {0};
	uint32_t sum;

	/* RFC 2464 §7: ff02::1 maps to 33:33:00:00:00:01. */
	memcpy(buf, (const uint8_t[]){0x33, 0x33, 0, 0, 0, 1}, 6);
	memcpy(buf + 6, mac, 6);
	put16(buf + 12, ETH_P_IPV6);
	memset(ip, 0, IP6_HDR);
	ip[0] = 0x60;
	put16(ip + 4, NA_LEN);
	ip[6] = 58;  /* ICMPv6 */
	ip[7] = 255; /* RFC 4861 §7.1.2: hop limit 255 or the NA is ignored */
	memcpy(ip + 8, src, 16);
	memcpy(ip + 24, all_nodes, 16);
	memset(na, 0, NA_LEN);
	na[0] = ND_NA;
	/* §7.2.6: unsolicited, Override so caches take the new MAC at once. */
	na[4] = NA_F_OVERRIDE | (router ? NA_F_ROUTER : 0);
	memcpy(na + 8, target, 16);
	na[24] = 2; /* target link-layer address option */
	na[25] = 1; /* length in units of 8 bytes */
	memcpy(na + 26, mac, 6);
	/* RFC 8200 §8.1 pseudo-header: src, dst, length, next header. */
	sum = vrrp_csum_add(0, ip + 8, 32);
	put16(ph + 2, NA_LEN);
	ph[7] = 58;
	sum = vrrp_csum_add(sum, ph, 8);
	put16(na + 2, vrrp_csum_fold(vrrp_csum_add(sum, na, NA_LEN)));
	return VRRP_GARP_NA_LEN;
}

int vrrp_garp_open(void)
{
	/* Protocol 0: the socket is bound to nothing and receives nothing. */
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	return fd < 0 ? -errno : fd;
}

int vrrp_garp_send(int fd, int ifindex, const uint8_t *frame, size_t len)
{
	struct sockaddr_ll sll = {
	    .sll_family = AF_PACKET,
	    .sll_ifindex = ifindex,
	    .sll_halen = 6,
	};

	if (len < ETH_HDR)
		return -EINVAL;
	memcpy(sll.sll_addr, frame, 6);
	memcpy(&sll.sll_protocol, frame + 12, 2); /* the EtherType, network order */
	if (sendto(fd, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	return 0;
}
