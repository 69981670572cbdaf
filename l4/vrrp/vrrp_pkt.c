/* VRRPv3 advertisement codec for IPv4 and IPv6; see vrrp_pkt.h.
 *
 * Wire format (RFC 5798 §5.1):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |(rsvd) |     Max Adver Int     |          Checksum             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                       IPvX Address(es)                        |
 */
#include "vrrp_pkt.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#define IP4_MIN_HDR 20
#define IP4_MF	    0x2000
#define IP4_OFFMASK 0x1fff

static const char *const reason_names[VRRP_PKT__COUNT] = {
    [VRRP_PKT_OK] = "ok",
    [VRRP_PKT_TRUNCATED] = "truncated",
    [VRRP_PKT_BAD_IP] = "bad_ip_header",
    [VRRP_PKT_BAD_TTL] = "bad_ttl",
    [VRRP_PKT_BAD_VERSION] = "bad_version",
    [VRRP_PKT_BAD_TYPE] = "bad_type",
    [VRRP_PKT_BAD_LENGTH] = "bad_length",
    [VRRP_PKT_BAD_CHECKSUM] = "bad_checksum",
    [VRRP_PKT_BAD_INTERVAL] = "bad_interval",
    [VRRP_PKT_BAD_SOURCE] = "bad_source",
    [VRRP_PKT_TOO_MANY_ADDRS] = "too_many_addrs",
    [VRRP_PKT_WRONG_DEST] = "wrong_dest",
    [VRRP_PKT_UNKNOWN_PEER] = "unknown_peer",
    [VRRP_PKT_ADDR_MISMATCH] = "addr_mismatch",
    [VRRP_PKT_OWNER_CONFLICT] = "owner_conflict",
};

static const char *const reason_texts[VRRP_PKT__COUNT] = {
    [VRRP_PKT_OK] = "valid advertisement",
    [VRRP_PKT_TRUNCATED] = "packet shorter than its headers say",
    [VRRP_PKT_BAD_IP] = "malformed IPv4 header",
    [VRRP_PKT_BAD_TTL] = "TTL/hop limit is not 255 (RFC 5798 §7.1)",
    [VRRP_PKT_BAD_VERSION] = "VRRP version is not 3",
    [VRRP_PKT_BAD_TYPE] = "VRRP type is not ADVERTISEMENT",
    [VRRP_PKT_BAD_LENGTH] = "length does not match the address count",
    [VRRP_PKT_BAD_CHECKSUM] = "checksum mismatch (check v3_checksum_as_v2 on both peers)",
    [VRRP_PKT_BAD_INTERVAL] = "advertisement interval is zero",
    [VRRP_PKT_BAD_SOURCE] = "unusable source address",
    [VRRP_PKT_TOO_MANY_ADDRS] = "more addresses than supported",
    [VRRP_PKT_WRONG_DEST] = "destination is not the VRRP group (or multicast in unicast mode)",
    [VRRP_PKT_UNKNOWN_PEER] = "source is not a configured unicast peer",
    [VRRP_PKT_ADDR_MISMATCH] = "virtual addresses differ from ours (misconfiguration)",
    [VRRP_PKT_OWNER_CONFLICT] = "sender claims priority 255 but we own the addresses",
};

const char *vrrp_pkt_reason_name(enum vrrp_pkt_reason why)
{
	return (unsigned)why < VRRP_PKT__COUNT ? reason_names[why] : "unknown";
}

const char *vrrp_pkt_reason_text(enum vrrp_pkt_reason why)
{
	return (unsigned)why < VRRP_PKT__COUNT ? reason_texts[why] : "unknown reason";
}

uint32_t vrrp_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t acc = sum;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		acc += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint32_t)acc;
}

uint16_t vrrp_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

uint16_t vrrp_pkt_checksum(int family, const union vrrp_pkt_ip *src, const union vrrp_pkt_ip *dst,
			   const void *msg, size_t len, unsigned flags)
{
	uint8_t ph[40];
	uint32_t sum = 0;

	if (family == AF_INET6) {
		/* RFC 8200 §8.1: src, dst, 32-bit length, 3 zero bytes, next header. */
		memcpy(ph, &src->v6, 16);
		memcpy(ph + 16, &dst->v6, 16);
		ph[32] = (uint8_t)(len >> 24);
		ph[33] = (uint8_t)(len >> 16);
		ph[34] = (uint8_t)(len >> 8);
		ph[35] = (uint8_t)len;
		ph[36] = ph[37] = ph[38] = 0;
		ph[39] = VRRP_IPPROTO;
		sum = vrrp_csum_add(0, ph, 40);
	} else if (!(flags & VRRP_PKT_F_CSUM_V2)) {
		/* RFC 5798 §5.2.8 as keepalived reads it: the IPv4 pseudo-header
		 * (src, dst, zero, protocol, 16-bit length) is summed too. */
		memcpy(ph, &src->v4, 4);
		memcpy(ph + 4, &dst->v4, 4);
		ph[8] = 0;
		ph[9] = VRRP_IPPROTO;
		put16(ph + 10, (uint16_t)len);
		sum = vrrp_csum_add(0, ph, 12);
	}
	return vrrp_csum_fold(vrrp_csum_add(sum, msg, len));
}

/* The VRRP message proper: `msg` has exactly `mlen` bytes (what follows the
 * IP header). Fills everything but the addresses' family and the IP fields. */
static int parse_msg(const uint8_t *msg, size_t mlen, size_t alen, struct vrrp_pkt_view *out,
		     enum vrrp_pkt_reason *why)
{
	size_t need;

	if (mlen < VRRP_HDR_LEN) {
		*why = VRRP_PKT_TRUNCATED;
		return -EAGAIN;
	}
	/* RFC 5798 §7.1: MUST verify the version; §5.2.2: only type 1 exists. */
	if (msg[0] >> 4 != VRRP_VERSION) {
		*why = VRRP_PKT_BAD_VERSION;
		return -EBADMSG;
	}
	if ((msg[0] & 0x0f) != VRRP_TYPE_ADVERT) {
		*why = VRRP_PKT_BAD_TYPE;
		return -EBADMSG;
	}
	out->vrid = msg[1];
	out->priority = msg[2];
	out->naddr = msg[3];
	/* §5.2.6: the 4 reserved bits are ignored on reception. */
	out->max_adver_int = get16(msg + 4) & 0x0fff;
	out->checksum = get16(msg + 6);
	if (out->naddr > VRRP_MAX_ADDRS) {
		*why = VRRP_PKT_TOO_MANY_ADDRS;
		return -E2BIG;
	}
	/* §7.1: MUST verify the packet holds the complete address list. */
	need = VRRP_HDR_LEN + out->naddr * alen;
	if (mlen < need) {
		*why = VRRP_PKT_TRUNCATED;
		return -EAGAIN;
	}
	if (mlen > need) {
		*why = VRRP_PKT_BAD_LENGTH;
		return -EBADMSG;
	}
	/* RFC 9568 §7.1: a zero Max Advertise Interval is discarded. */
	if (out->max_adver_int == 0) {
		*why = VRRP_PKT_BAD_INTERVAL;
		return -EBADMSG;
	}
	out->addrs = msg + VRRP_HDR_LEN;
	return 0;
}

static bool ip4_src_usable(struct in_addr a)
{
	uint32_t h = ntohl(a.s_addr);

	return h != 0 && h != 0xffffffffu && (h >> 28) != 0xe;
}

/* IPv4 header checks; returns the header length or a negative error. */
static int parse_ip4_hdr(const uint8_t *p, size_t len, struct vrrp_pkt_view *out,
			 enum vrrp_pkt_reason *why)
{
	size_t hl, tot;

	if (len < IP4_MIN_HDR) {
		*why = VRRP_PKT_TRUNCATED;
		return -EAGAIN;
	}
	hl = (size_t)(p[0] & 0x0f) * 4;
	if (p[0] >> 4 != 4 || hl < IP4_MIN_HDR) {
		*why = VRRP_PKT_BAD_IP;
		return -EBADMSG;
	}
	tot = get16(p + 2);
	if (len < hl || len < tot) {
		*why = VRRP_PKT_TRUNCATED;
		return -EAGAIN;
	}
	if (tot < hl || len > tot) {
		*why = tot < hl ? VRRP_PKT_BAD_IP : VRRP_PKT_BAD_LENGTH;
		return -EBADMSG;
	}
	/* The kernel reassembles before raw delivery; a fragment here is forged. */
	if ((get16(p + 6) & (IP4_MF | IP4_OFFMASK)) != 0 || p[9] != VRRP_IPPROTO) {
		*why = VRRP_PKT_BAD_IP;
		return -EBADMSG;
	}
	out->ttl = p[8];
	memcpy(&out->src.v4, p + 12, 4);
	memcpy(&out->dst.v4, p + 16, 4);
	if (!ip4_src_usable(out->src.v4)) {
		*why = VRRP_PKT_BAD_SOURCE;
		return -EBADMSG;
	}
	/* RFC 5798 §7.1: MUST verify that the IPv4 TTL is 255. */
	if (out->ttl != VRRP_TTL) {
		*why = VRRP_PKT_BAD_TTL;
		return -EBADMSG;
	}
	return (int)hl;
}

int vrrp_pkt_parse4(const void *buf, size_t len, unsigned flags, struct vrrp_pkt_view *out,
		    enum vrrp_pkt_reason *why)
{
	const uint8_t *p = buf;
	int hl, rc;
	size_t tot;

	memset(out, 0, sizeof(*out));
	out->family = AF_INET;
	hl = parse_ip4_hdr(p, len, out, why);
	if (hl < 0)
		return hl;
	tot = get16(p + 2);
	rc = parse_msg(p + hl, tot - (size_t)hl, 4, out, why);
	if (rc < 0)
		return rc;
	/* §7.1: MUST verify the VRRP checksum. */
	if (vrrp_pkt_checksum(AF_INET, &out->src, &out->dst, p + hl, tot - (size_t)hl, flags)) {
		*why = VRRP_PKT_BAD_CHECKSUM;
		return -EBADMSG;
	}
	*why = VRRP_PKT_OK;
	return (int)tot;
}

int vrrp_pkt_parse6(const void *buf, size_t len, const struct in6_addr *src,
		    const struct in6_addr *dst, int hop_limit, bool unicast,
		    struct vrrp_pkt_view *out, enum vrrp_pkt_reason *why)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->family = AF_INET6;
	out->src.v6 = *src;
	out->dst.v6 = *dst;
	out->ttl = hop_limit >= 0 && hop_limit <= 255 ? (uint8_t)hop_limit : 0;
	if (len > 0xffff) {
		*why = VRRP_PKT_BAD_LENGTH;
		return -EBADMSG;
	}
	rc = parse_msg(buf, len, 16, out, why);
	if (rc < 0)
		return rc;
	/* RFC 5798 §7.1: MUST verify that the IPv6 Hop Limit is 255. */
	if (hop_limit != VRRP_TTL) {
		*why = VRRP_PKT_BAD_TTL;
		return -EBADMSG;
	}
	/* §5.1.2.1: the source is the sender's link-local address. */
	if (IN6_IS_ADDR_MULTICAST(src) || IN6_IS_ADDR_UNSPECIFIED(src) ||
	    (!unicast && !IN6_IS_ADDR_LINKLOCAL(src))) {
		*why = VRRP_PKT_BAD_SOURCE;
		return -EBADMSG;
	}
	if (vrrp_pkt_checksum(AF_INET6, &out->src, &out->dst, buf, len, 0)) {
		*why = VRRP_PKT_BAD_CHECKSUM;
		return -EBADMSG;
	}
	*why = VRRP_PKT_OK;
	return (int)len;
}

int vrrp_pkt_peek_vrid(int family, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t off = 0;

	if (family == AF_INET) {
		if (len < 1)
			return -EAGAIN;
		off = (size_t)(p[0] & 0x0f) * 4;
	}
	return len > off + 1 ? p[off + 1] : -EAGAIN;
}

static void build_ip4(uint8_t *p, size_t tot, const struct vrrp_pkt_tx *tx)
{
	p[0] = 0x45;
	p[1] = 0xc0; /* Internetwork Control, as routers and keepalived send */
	put16(p + 2, (uint16_t)tot);
	put16(p + 4, 0); /* id: the kernel fills it on an IP_HDRINCL socket */
	put16(p + 6, 0);
	p[8] = VRRP_TTL;
	p[9] = VRRP_IPPROTO;
	put16(p + 10, 0);
	memcpy(p + 12, &tx->src.v4, 4);
	memcpy(p + 16, &tx->dst.v4, 4);
	put16(p + 10, vrrp_csum_fold(vrrp_csum_add(0, p, VRRP_IP4_HDR_LEN)));
}

int vrrp_pkt_build(void *buf, size_t cap, const struct vrrp_pkt_tx *tx, bool ip_header)
{
	size_t alen, mlen, off, tot;
	uint8_t *p = buf, *m;

	if (tx->family != AF_INET && tx->family != AF_INET6)
		return -EINVAL;
	if (tx->adver_int == 0 || tx->adver_int > VRRP_MAX_ADVER_INT)
		return -EINVAL;
	if (tx->naddr > VRRP_MAX_ADDRS)
		return -E2BIG;
	alen = tx->family == AF_INET ? 4 : 16;
	mlen = VRRP_HDR_LEN + tx->naddr * alen;
	off = ip_header && tx->family == AF_INET ? VRRP_IP4_HDR_LEN : 0;
	tot = off + mlen;
	if (cap < tot)
		return -E2BIG;
	m = p + off;
	m[0] = VRRP_VERSION << 4 | VRRP_TYPE_ADVERT;
	m[1] = tx->vrid;
	m[2] = tx->priority;
	m[3] = (uint8_t)tx->naddr;
	put16(m + 4, tx->adver_int & 0x0fff);
	put16(m + 6, 0);
	if (tx->naddr)
		memcpy(m + VRRP_HDR_LEN, tx->addrs, tx->naddr * alen);
	put16(m + 6, vrrp_pkt_checksum(tx->family, &tx->src, &tx->dst, m, mlen, tx->flags));
	if (off)
		build_ip4(p, tot, tx);
	return (int)tot;
}
