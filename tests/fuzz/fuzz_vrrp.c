/* libFuzzer target for the VRRP packet parser (vrrp_pkt.c).
 *
 * The first byte picks the parser and its flags (IPv4 with either checksum
 * style, IPv6 multicast or unicast, hop limit 255 or not); the rest is the
 * datagram. Every accepted advertisement is rebuilt and parsed again: the
 * result must be the same advertisement, so builder and parser agree. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include "../../l4/vrrp/vrrp_pkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const struct vrrp_pkt_view *v, unsigned flags)
{
	struct vrrp_pkt_tx tx = {
	    .family = v->family,
	    .vrid = v->vrid,
	    .priority = v->priority,
	    .adver_int = v->max_adver_int,
	    .src = v->src,
	    .dst = v->dst,
	    .naddr = v->naddr,
	    .addrs = v->addrs,
	    .flags = flags,
	};
	uint8_t out[VRRP_PKT_MAX];
	struct vrrp_pkt_view w;
	enum vrrp_pkt_reason why;
	int n = vrrp_pkt_build(out, sizeof(out), &tx, true);

	assert(n > 0);
	if (v->family == AF_INET)
		assert(vrrp_pkt_parse4(out, (size_t)n, flags, &w, &why) == n);
	else
		assert(vrrp_pkt_parse6(out, (size_t)n, &v->src.v6, &v->dst.v6, 255, true, &w,
				       &why) == n);
	assert(why == VRRP_PKT_OK);
	assert(w.vrid == v->vrid && w.priority == v->priority && w.naddr == v->naddr);
	assert(w.max_adver_int == v->max_adver_int);
	assert(memcmp(w.addrs, v->addrs, v->naddr * (v->family == AF_INET ? 4u : 16u)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vrrp_pkt_view v;
	enum vrrp_pkt_reason why = VRRP_PKT__COUNT;
	struct in6_addr src, dst;
	unsigned mode, flags;
	int rc;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	flags = mode & 1 ? VRRP_PKT_F_CSUM_V2 : 0;
	if (!(mode & 2)) {
		rc = vrrp_pkt_parse4(data, size, flags, &v, &why);
	} else {
		inet_pton(AF_INET6, "fe80::1", &src);
		inet_pton(AF_INET6, "ff02::12", &dst);
		flags = 0;
		rc = vrrp_pkt_parse6(data, size, &src, &dst, mode & 4 ? 64 : 255, mode & 8, &v,
				     &why);
	}
	assert(rc == -EAGAIN || rc == -EBADMSG || rc == -E2BIG || (rc > 0 && (size_t)rc == size));
	assert(why < VRRP_PKT__COUNT && (rc > 0) == (why == VRRP_PKT_OK));
	assert(vrrp_pkt_reason_name(why) != NULL);
	if (rc > 0) {
		assert(vrrp_pkt_peek_vrid(v.family, data, size) == v.vrid);
		roundtrip(&v, flags);
	} else {
		(void)vrrp_pkt_peek_vrid(mode & 2 ? AF_INET6 : AF_INET, data, size);
	}
	return 0;
}
