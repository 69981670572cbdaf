/* VRRP raw sockets for IPv4 and IPv6; see vrrp_net.h. The caller owns the
 * returned fd. */
#include "vrrp_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int setint(int fd, int level, int opt, int v)
{
	return setsockopt(fd, level, opt, &v, sizeof(v)) < 0 ? -errno : 0;
}

static int open4(int fd, int ifindex, bool join)
{
	struct ip_mreqn mr = {.imr_ifindex = ifindex};
	int rc;

	/* We write the IPv4 header: TTL 255 (RFC 5798 §5.1.1.3), TOS 0xc0. */
	rc = setint(fd, IPPROTO_IP, IP_HDRINCL, 1);
	if (!rc)
		rc = setint(fd, IPPROTO_IP, IP_MULTICAST_LOOP, 0);
	if (!rc)
		rc = setint(fd, IPPROTO_IP, IP_MULTICAST_TTL, VRRP_TTL);
	if (!rc && setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof(mr)) < 0)
		rc = -errno;
	if (!rc && join) {
		mr.imr_multiaddr.s_addr = htonl(VRRP_MCAST4);
		if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
			rc = -errno;
	}
	return rc;
}

static int open6(int fd, int ifindex, bool join)
{
	struct ipv6_mreq mr = {.ipv6mr_interface = (unsigned)ifindex};
	int rc;

	rc = setint(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, VRRP_TTL);
	if (!rc)
		rc = setint(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, VRRP_TTL);
	if (!rc)
		rc = setint(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
	if (!rc)
		rc = setint(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex);
	if (!rc)
		rc = setint(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1);
	if (!rc)
		rc = setint(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);
	if (!rc)
		rc = setint(fd, IPPROTO_IPV6, IPV6_TCLASS, 0xc0);
	if (!rc && join) {
		inet_pton(AF_INET6, "ff02::12", &mr.ipv6mr_multiaddr);
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mr, sizeof(mr)) < 0)
			rc = -errno;
	}
	return rc;
}

int vrrp_net_open(int family, int ifindex, const char *ifname, bool join)
{
	int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, VRRP_IPPROTO);
	int rc;

	if (fd < 0)
		return -errno;
	/* Adverts are link-local: only this interface's count (§7.1 "the
	 * VRID is configured on the receiving interface"). */
	rc = setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) < 0
		 ? -errno
		 : 0;
	if (!rc)
		rc = setint(fd, SOL_SOCKET, SO_PRIORITY, 6); /* TC_PRIO_INTERACTIVE */
	if (!rc)
		rc = family == AF_INET ? open4(fd, ifindex, join) : open6(fd, ifindex, join);
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

static int send6(int fd, int ifindex, const void *pkt, size_t len, const struct in6_addr *src,
		 const struct in6_addr *dst)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} ctl;
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = *dst};
	struct iovec iov = {.iov_base = (void *)pkt, .iov_len = len};
	struct msghdr mh = {
	    .msg_name = &sin6,
	    .msg_namelen = sizeof(sin6),
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = ctl.buf,
	    .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	struct in6_pktinfo pi = {.ipi6_addr = *src, .ipi6_ifindex = (unsigned)ifindex};

	if (IN6_IS_ADDR_LINKLOCAL(dst) || IN6_IS_ADDR_MC_LINKLOCAL(dst))
		sin6.sin6_scope_id = (uint32_t)ifindex;
	c->cmsg_level = IPPROTO_IPV6;
	c->cmsg_type = IPV6_PKTINFO;
	c->cmsg_len = CMSG_LEN(sizeof(pi));
	memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	return sendmsg(fd, &mh, 0) < 0 ? -errno : 0;
}

int vrrp_net_send(int fd, int family, int ifindex, const void *pkt, size_t len,
		  const union vrrp_pkt_ip *src, const union vrrp_pkt_ip *dst)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};

	if (family == AF_INET6)
		return send6(fd, ifindex, pkt, len, &src->v6, &dst->v6);
	sin.sin_addr = dst->v4;
	if (sendto(fd, pkt, len, 0, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		return -errno;
	return 0;
}

static void read_cmsgs(struct msghdr *mh, struct vrrp_net_rx *rx)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != IPPROTO_IPV6)
			continue;
		if (c->cmsg_type == IPV6_HOPLIMIT && c->cmsg_len >= CMSG_LEN(sizeof(int)))
			memcpy(&rx->hop_limit, CMSG_DATA(c), sizeof(int));
		else if (c->cmsg_type == IPV6_PKTINFO &&
			 c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			rx->dst.v6 = pi.ipi6_addr;
		}
	}
}

ssize_t vrrp_net_recv(int fd, int family, void *buf, size_t cap, struct vrrp_net_rx *rx)
{
	union {
		char buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo)) + 64];
		struct cmsghdr align;
	} ctl;
	struct sockaddr_storage from;
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	struct msghdr mh = {
	    .msg_name = &from,
	    .msg_namelen = sizeof(from),
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = ctl.buf,
	    .msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n;

	memset(rx, 0, sizeof(*rx));
	rx->family = family;
	rx->hop_limit = -1;
	n = recvmsg(fd, &mh, 0);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	rx->truncated = mh.msg_flags & MSG_TRUNC;
	if (family == AF_INET6) {
		if (from.ss_family == AF_INET6)
			rx->src.v6 = ((struct sockaddr_in6 *)&from)->sin6_addr;
		read_cmsgs(&mh, rx);
	} else if (from.ss_family == AF_INET) {
		rx->src.v4 = ((struct sockaddr_in *)&from)->sin_addr;
	}
	return n;
}
