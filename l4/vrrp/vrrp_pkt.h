/* VRRPv3 advertisement codec (RFC 5798 §5) for IPv4 and IPv6: pure, no I/O.
 *
 * Parsers take the bytes a raw socket delivered and return a view into them;
 * builders write an advertisement into a caller buffer. Nothing here
 * allocates, logs or touches a socket, so the unit tests and the fuzzer link
 * this file alone.
 *
 * Contract (STYLE.md): > 0 bytes consumed, -EAGAIN the datagram is shorter
 * than its headers say (for a datagram that means truncated), -EBADMSG
 * malformed, -E2BIG over a limit; *why says which check failed.
 */
#ifndef STRATA_VRRP_PKT_H
#define STRATA_VRRP_PKT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VRRP_IPPROTO	   112	/* RFC 5798 §5.1.1.3 */
#define VRRP_VERSION	   3	/* RFC 5798 §5.2.1 */
#define VRRP_TYPE_ADVERT   1	/* RFC 5798 §5.2.2: the only type */
#define VRRP_TTL	   255	/* RFC 5798 §5.1.1.3 / §5.1.2.3 */
#define VRRP_HDR_LEN	   8	/* fixed part before the address list */
#define VRRP_MAX_ADDRS	   32	/* per instance; 32 IPv6 addresses fit a 1500 MTU */
#define VRRP_MAX_ADVER_INT 4095 /* 12-bit field, centiseconds (RFC 5798 §5.2.7) */
#define VRRP_PRIO_OWNER	   255	/* RFC 5798 §5.2.4: address owner */
#define VRRP_PRIO_STOP	   0	/* RFC 5798 §5.2.4: master is leaving */
#define VRRP_IP4_HDR_LEN   20	/* what we send: no options */
#define VRRP_PKT_MAX	   (60 + VRRP_HDR_LEN + VRRP_MAX_ADDRS * 16)
#define VRRP_MCAST4	   0xe0000012u /* 224.0.0.18, host order (RFC 5798 §5.1.1.2) */

/* Why a packet was refused. The first group is found by the codec, the
 * second by the receiving instance (vrrp_inst.c); one enum so metrics and
 * logs name every reason the same way. */
enum vrrp_pkt_reason {
	VRRP_PKT_OK,
	VRRP_PKT_TRUNCATED,	 /* shorter than the headers say */
	VRRP_PKT_BAD_IP,	 /* IPv4 header: version, IHL, length, protocol, fragment */
	VRRP_PKT_BAD_TTL,	 /* TTL / hop limit is not 255 */
	VRRP_PKT_BAD_VERSION,	 /* VRRP version is not 3 */
	VRRP_PKT_BAD_TYPE,	 /* type is not ADVERTISEMENT */
	VRRP_PKT_BAD_LENGTH,	 /* length does not match the address count */
	VRRP_PKT_BAD_CHECKSUM,	 /* checksum does not match the configured style */
	VRRP_PKT_BAD_INTERVAL,	 /* Max Adver Int is zero */
	VRRP_PKT_BAD_SOURCE,	 /* source not usable (IPv6 not link-local, multicast) */
	VRRP_PKT_TOO_MANY_ADDRS, /* more addresses than VRRP_MAX_ADDRS */
	VRRP_PKT_WRONG_DEST,	 /* not 224.0.0.18/ff02::12, or multicast in unicast mode */
	VRRP_PKT_UNKNOWN_PEER,	 /* unicast mode: source is not a configured peer */
	VRRP_PKT_ADDR_MISMATCH,	 /* address list differs from ours (misconfiguration) */
	VRRP_PKT_OWNER_CONFLICT, /* we own the addresses and so does the sender */
	VRRP_PKT__COUNT
};

/* Checksum styles for VRRPv3 over IPv4. RFC 5798 §5.2.8 includes the IPv4
 * pseudo-header (keepalived's default); some peers sum the message only, as
 * VRRPv2 did (keepalived's `v3_checksum_as_v2`, RFC 9568's reading). IPv6
 * always includes its pseudo-header (RFC 8200 §8.1). */
#define VRRP_PKT_F_CSUM_V2 0x1u

union vrrp_pkt_ip {
	struct in_addr v4;
	struct in6_addr v6;
};

/* A parsed advertisement: every pointer is a view into the parsed buffer. */
struct vrrp_pkt_view {
	int family; /* AF_INET or AF_INET6 */
	union vrrp_pkt_ip src, dst;
	uint8_t ttl; /* TTL or hop limit */
	uint8_t vrid;
	uint8_t priority;
	uint8_t naddr;
	uint16_t max_adver_int; /* centiseconds */
	uint16_t checksum;
	const uint8_t *addrs; /* naddr addresses of 4 or 16 bytes, network order */
};

/* What to send. `addrs` holds naddr addresses of the family's size. */
struct vrrp_pkt_tx {
	int family;
	uint8_t vrid;
	uint8_t priority;
	uint16_t adver_int; /* centiseconds, 1..4095 */
	union vrrp_pkt_ip src, dst;
	unsigned naddr;
	const uint8_t *addrs;
	unsigned flags; /* VRRP_PKT_F_CSUM_V2 */
};

/* Parses an IPv4 datagram as a raw IPPROTO_VRRP socket returns it: IPv4
 * header (options allowed) then the advertisement. Checks the IP header,
 * TTL 255, version 3, type, length against the address count, a non-zero
 * interval and the checksum in the style `flags` selects. */
int vrrp_pkt_parse4(const void *buf, size_t len, unsigned flags, struct vrrp_pkt_view *out,
		    enum vrrp_pkt_reason *why);

/* Parses an IPv6 advertisement (the payload only: an IPv6 raw socket strips
 * the header); src, dst and hop limit come from the socket's ancillary data.
 * Checks hop limit 255, a link-local source (RFC 5798 §5.1.2.1) unless
 * `unicast`, and the checksum over the IPv6 pseudo-header. */
int vrrp_pkt_parse6(const void *buf, size_t len, const struct in6_addr *src,
		    const struct in6_addr *dst, int hop_limit, bool unicast,
		    struct vrrp_pkt_view *out, enum vrrp_pkt_reason *why);

/* The VRID of a datagram, to find the instance (and its checksum style)
 * before the full parse: IPv4 datagram with its header, or IPv6 message.
 * Returns 1..255, 0 for VRID 0 (never configured), or -EAGAIN when the
 * datagram is too short to hold one. */
int vrrp_pkt_peek_vrid(int family, const void *buf, size_t len);

/* Writes an advertisement into buf: for IPv4 with `ip_header` an IPv4 header
 * first (TOS 0xc0, TTL 255, protocol 112, header checksum filled) for an
 * IP_HDRINCL socket, else the VRRP message alone. The VRRP checksum covers the
 * pseudo-header built from tx->src and tx->dst (unless VRRP_PKT_F_CSUM_V2 on
 * IPv4). Returns the length written, -E2BIG if buf is too small or there are
 * too many addresses, -EINVAL for a bad family or interval. */
int vrrp_pkt_build(void *buf, size_t cap, const struct vrrp_pkt_tx *tx, bool ip_header);

/* The VRRP checksum of the advertisement `msg` of `len` bytes, summed with
 * its checksum field as it stands: 0 when a received message verifies; over
 * a message whose field is zero, the value to store (host order, written
 * big-endian into bytes 6-7). */
uint16_t vrrp_pkt_checksum(int family, const union vrrp_pkt_ip *src, const union vrrp_pkt_ip *dst,
			   const void *msg, size_t len, unsigned flags);

/* RFC 1071 one's complement sum helpers, shared with the NA builder: add
 * `len` bytes (big-endian 16-bit words, odd tail padded with zero) to a
 * running sum, then fold and complement into a host-order 16-bit value. */
uint32_t vrrp_csum_add(uint32_t sum, const void *data, size_t len);
uint16_t vrrp_csum_fold(uint32_t sum);

/* Short name ("bad_ttl") for metrics labels, and a sentence for logs. */
const char *vrrp_pkt_reason_name(enum vrrp_pkt_reason why);
const char *vrrp_pkt_reason_text(enum vrrp_pkt_reason why);

#endif
