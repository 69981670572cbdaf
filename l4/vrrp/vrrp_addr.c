/* Route netlink for strata-vrrp through libnl; see vrrp_addr.h.
 *
 * Links are read through libnl-route's rtnl_link objects; addresses are
 * raw RTM_*ADDR messages built with libnl core, because libnl 3.7 does not
 * know IFA_PROTO, which marks the VIPs we own.
 */
#include "vrrp_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/route/link.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/link/macvlan.h>
#include <netlink/socket.h>

struct vrrp_nl {
	struct nl_sock *sk;
	int err; /* -errno of the last NLMSG_ERROR, 0 when none */
};

/* libnl folds kernel errnos into its own codes; keep the real one. */
static int on_nl_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct vrrp_nl *nl = arg;

	nl->err = e->error;
	return NL_STOP;
}

static int nl_fail(struct vrrp_nl *nl, int nlerr)
{
	if (nl->err)
		return nl->err;
	switch (-nlerr) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_AGAIN:
		return -EAGAIN;
	case NLE_OBJ_NOTFOUND:
		return -ENODEV;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_PERM:
		return -EPERM;
	default:
		return -EIO;
	}
}

int vrrp_nl_open(bool monitor, struct vrrp_nl **out)
{
	struct vrrp_nl *nl = calloc(1, sizeof(*nl));
	int rc = -ENOMEM;

	if (!nl)
		return -ENOMEM;
	nl->sk = nl_socket_alloc();
	if (!nl->sk)
		goto out_free;
	nl_socket_modify_err_cb(nl->sk, NL_CB_CUSTOM, on_nl_error, nl);
	if (monitor)
		nl_socket_disable_seq_check(nl->sk);
	rc = nl_connect(nl->sk, NETLINK_ROUTE);
	if (rc < 0) {
		rc = nl_fail(nl, rc);
		goto out_sock;
	}
	if (monitor) {
		/* Link events come in bursts when a bond or bridge flaps. */
		nl_socket_set_buffer_size(nl->sk, 1 << 20, 0);
		if (nl_socket_add_membership(nl->sk, RTNLGRP_LINK) < 0 ||
		    nl_socket_set_nonblocking(nl->sk) < 0) {
			rc = -EIO;
			goto out_sock;
		}
	}
	*out = nl;
	return 0;
out_sock:
	nl_socket_free(nl->sk);
out_free:
	free(nl);
	return rc;
}

void vrrp_nl_close(struct vrrp_nl *nl)
{
	if (!nl)
		return;
	nl_socket_free(nl->sk);
	free(nl);
}

int vrrp_nl_fd(const struct vrrp_nl *nl)
{
	return nl_socket_get_fd(nl->sk);
}

static void link_info_from(struct rtnl_link *l, struct vrrp_link_info *out)
{
	struct nl_addr *a = rtnl_link_get_addr(l);
	unsigned flags = rtnl_link_get_flags(l);
	const char *name = rtnl_link_get_name(l);

	memset(out, 0, sizeof(*out));
	out->ifindex = rtnl_link_get_ifindex(l);
	if (name)
		snprintf(out->name, sizeof(out->name), "%s", name);
	if (a && nl_addr_get_len(a) == 6)
		memcpy(out->mac, nl_addr_get_binary_addr(a), 6);
	out->admin_up = flags & IFF_UP;
	out->running = (flags & IFF_UP) && (flags & IFF_RUNNING);
	out->mtu = rtnl_link_get_mtu(l);
	out->parent = rtnl_link_get_link(l);
}

static int link_get(struct vrrp_nl *nl, int ifindex, const char *name, struct vrrp_link_info *out)
{
	struct rtnl_link *l = NULL;
	int rc;

	nl->err = 0;
	rc = rtnl_link_get_kernel(nl->sk, ifindex, name, &l);
	if (rc < 0)
		return nl->err == -EINVAL || !nl->err ? -ENODEV : nl->err;
	link_info_from(l, out);
	rtnl_link_put(l);
	return 0;
}

int vrrp_nl_link_by_name(struct vrrp_nl *nl, const char *name, struct vrrp_link_info *out)
{
	return link_get(nl, 0, name, out);
}

int vrrp_nl_link_by_index(struct vrrp_nl *nl, int ifindex, struct vrrp_link_info *out)
{
	return link_get(nl, ifindex, NULL, out);
}

struct monitor_ctx {
	vrrp_nl_link_fn cb;
	void *arg;
	bool gone;
};

static void on_link_object(struct nl_object *obj, void *arg)
{
	struct monitor_ctx *m = arg;
	struct vrrp_link_info info;

	if (strcmp(nl_object_get_type(obj), "route/link") != 0)
		return;
	link_info_from((struct rtnl_link *)obj, &info);
	m->cb(m->arg, &info, m->gone);
}

static int on_monitor_msg(struct nl_msg *msg, void *arg)
{
	struct monitor_ctx *m = arg;
	int type = nlmsg_hdr(msg)->nlmsg_type;

	if (type != RTM_NEWLINK && type != RTM_DELLINK)
		return NL_OK;
	m->gone = type == RTM_DELLINK;
	nl_msg_parse(msg, on_link_object, m);
	return NL_OK;
}

int vrrp_nl_monitor_read(struct vrrp_nl *nl, vrrp_nl_link_fn cb, void *arg)
{
	struct monitor_ctx m = {.cb = cb, .arg = arg};
	struct nl_cb *nlcb;
	int rc;

	nl_socket_modify_cb(nl->sk, NL_CB_VALID, NL_CB_CUSTOM, on_monitor_msg, &m);
	nlcb = nl_socket_get_cb(nl->sk); /* a reference: put below */
	/* One datagram per call; 0 once the socket is drained. */
	do {
		nl->err = 0;
		rc = nl_recvmsgs_report(nl->sk, nlcb);
	} while (rc > 0);
	nl_cb_put(nlcb);
	if (rc == 0 || rc == -NLE_AGAIN)
		return 0;
	if (rc == -NLE_NOMEM)
		return -ENOBUFS; /* the kernel dropped events: resync */
	return nl_fail(nl, rc);
}

static size_t alen_of(int family)
{
	return family == AF_INET ? 4 : 16;
}

static int addr_request(struct vrrp_nl *nl, int type, int flags, int ifindex,
			const struct vrrp_vip *vip)
{
	struct ifaddrmsg ifa = {
	    .ifa_family = (uint8_t)vip->family,
	    .ifa_prefixlen = vip->prefix,
	    .ifa_scope = RT_SCOPE_UNIVERSE,
	    .ifa_index = (uint32_t)ifindex,
	};
	struct nl_msg *msg = nlmsg_alloc_simple(type, flags);
	int rc = -ENOMEM;

	if (!msg)
		return -ENOMEM;
	if (nlmsg_append(msg, &ifa, sizeof(ifa), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, IFA_LOCAL, (int)alen_of(vip->family), &vip->ip) < 0 ||
	    nla_put(msg, IFA_ADDRESS, (int)alen_of(vip->family), &vip->ip) < 0)
		goto out;
	if (type == RTM_NEWADDR) {
		/* RFC 5798 elects the owner; DAD would only delay the VIP. */
		if (vip->family == AF_INET6 && nla_put_u32(msg, IFA_FLAGS, IFA_F_NODAD) < 0)
			goto out;
		if (nla_put_u8(msg, IFA_PROTO, VRRP_ADDR_PROTO) < 0)
			goto out;
	}
	nl->err = 0;
	rc = nl_send_auto(nl->sk, msg);
	if (rc >= 0)
		rc = nl_wait_for_ack(nl->sk);
	rc = rc < 0 ? nl_fail(nl, rc) : 0;
out:
	nlmsg_free(msg);
	return rc;
}

int vrrp_nl_addr_add(struct vrrp_nl *nl, int ifindex, const struct vrrp_vip *vip)
{
	return addr_request(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, vip);
}

int vrrp_nl_addr_del(struct vrrp_nl *nl, int ifindex, const struct vrrp_vip *vip)
{
	return addr_request(nl, RTM_DELADDR, 0, ifindex, vip);
}

/* One address of a dump, reduced to what the callers look at. */
struct dump_addr {
	int ifindex;
	int family;
	unsigned flags;
	unsigned scope;
	int proto;
	union vrrp_pkt_ip ip;
};

typedef void (*dump_fn)(void *arg, const struct dump_addr *a);

struct dump_ctx {
	dump_fn fn;
	void *arg;
};

static int on_addr_msg(struct nl_msg *msg, void *arg)
{
	struct dump_ctx *d = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);
	struct nlattr *tb[IFA_MAX + 1];
	struct ifaddrmsg *ifa = nlmsg_data(h);
	struct nlattr *ip;
	struct dump_addr a;

	if (h->nlmsg_type != RTM_NEWADDR || nlmsg_parse(h, sizeof(*ifa), tb, IFA_MAX, NULL) < 0)
		return NL_OK;
	/* IFA_LOCAL is the address itself; IFA_ADDRESS the peer on p2p links. */
	ip = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	if (!ip || (size_t)nla_len(ip) != alen_of(ifa->ifa_family))
		return NL_OK;
	memset(&a, 0, sizeof(a));
	a.ifindex = (int)ifa->ifa_index;
	a.family = ifa->ifa_family;
	a.flags = tb[IFA_FLAGS] ? nla_get_u32(tb[IFA_FLAGS]) : ifa->ifa_flags;
	a.scope = ifa->ifa_scope;
	a.proto = tb[IFA_PROTO] ? nla_get_u8(tb[IFA_PROTO]) : 0;
	memcpy(&a.ip, nla_data(ip), alen_of(ifa->ifa_family));
	d->fn(d->arg, &a);
	return NL_OK;
}

static int addr_dump(struct vrrp_nl *nl, int family, dump_fn fn, void *arg)
{
	struct ifaddrmsg ifa = {.ifa_family = (uint8_t)family};
	struct dump_ctx d = {.fn = fn, .arg = arg};
	int rc;

	nl->err = 0;
	nl_socket_modify_cb(nl->sk, NL_CB_VALID, NL_CB_CUSTOM, on_addr_msg, &d);
	rc = nl_send_simple(nl->sk, RTM_GETADDR, NLM_F_DUMP, &ifa, sizeof(ifa));
	if (rc >= 0)
		rc = nl_recvmsgs_default(nl->sk);
	nl_socket_modify_cb(nl->sk, NL_CB_VALID, NL_CB_DEFAULT, NULL, NULL);
	return rc < 0 ? nl_fail(nl, rc) : 0;
}

struct find_ctx {
	const struct vrrp_vip *vip;
	int found, ifindex;
	bool ours;
};

static void on_find(void *arg, const struct dump_addr *a)
{
	struct find_ctx *f = arg;

	if (f->found || memcmp(&a->ip, &f->vip->ip, alen_of(a->family)) != 0)
		return;
	f->found = 1;
	f->ifindex = a->ifindex;
	f->ours = a->proto == VRRP_ADDR_PROTO;
}

int vrrp_nl_addr_find(struct vrrp_nl *nl, const struct vrrp_vip *vip, int *ifindex, bool *ours)
{
	struct find_ctx f = {.vip = vip};
	int rc = addr_dump(nl, vip->family, on_find, &f);

	if (rc < 0)
		return rc;
	if (f.found) {
		*ifindex = f.ifindex;
		*ours = f.ours;
	}
	return f.found;
}

struct primary_ctx {
	int ifindex;
	bool global;
	bool found;
	union vrrp_pkt_ip ip;
};

static void on_primary(void *arg, const struct dump_addr *a)
{
	struct primary_ctx *p = arg;

	if (p->found || a->ifindex != p->ifindex || a->proto == VRRP_ADDR_PROTO)
		return;
	if (a->family == AF_INET && !(a->flags & IFA_F_SECONDARY)) {
		p->ip = a->ip;
		p->found = true;
	} else if (a->family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&a->ip.v6) != p->global &&
		   !(a->flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED))) {
		/* A tentative address cannot be a source yet: wait for DAD. */
		p->ip = a->ip;
		p->found = true;
	}
}

int vrrp_nl_primary_addr(struct vrrp_nl *nl, int ifindex, int family, bool global,
			 union vrrp_pkt_ip *out)
{
	struct primary_ctx p = {.ifindex = ifindex, .global = global};
	int rc = addr_dump(nl, family, on_primary, &p);

	if (rc < 0)
		return rc;
	if (!p.found)
		return -EADDRNOTAVAIL;
	*out = p.ip;
	return 0;
}

/* IPv6 address generation can only be switched off once the link exists
 * (the kernel refuses IFLA_AF_SPEC on RTM_NEWLINK with EAFNOSUPPORT). */
static int link_addrgen_none(struct vrrp_nl *nl, int ifindex)
{
	struct rtnl_link *orig = rtnl_link_alloc(), *chg = rtnl_link_alloc();
	int rc = -ENOMEM;

	if (!orig || !chg)
		goto out;
	rtnl_link_set_ifindex(orig, ifindex);
	rtnl_link_inet6_set_addr_gen_mode(chg, (uint8_t)rtnl_link_inet6_str2addrgenmode("none"));
	nl->err = 0;
	rc = rtnl_link_change(nl->sk, orig, chg, 0);
	rc = rc < 0 ? nl_fail(nl, rc) : 0;
out:
	rtnl_link_put(orig);
	rtnl_link_put(chg);
	return rc;
}

int vrrp_nl_macvlan_add(struct vrrp_nl *nl, int parent, const char *name, const uint8_t mac[6],
			int *ifindex)
{
	struct rtnl_link *l = rtnl_link_macvlan_alloc();
	struct nl_addr *a = nl_addr_build(AF_LLC, mac, 6);
	struct vrrp_link_info info = {0};
	int rc = -ENOMEM;

	if (!l || !a)
		goto out;
	rtnl_link_set_name(l, name);
	rtnl_link_set_link(l, parent);
	rtnl_link_set_addr(l, a);
	/* keepalived's default too: a backup's copy must never answer. */
	rtnl_link_macvlan_set_mode(l, (uint32_t)rtnl_link_macvlan_str2mode("private"));
	nl->err = 0;
	rc = rtnl_link_add(nl->sk, l, NLM_F_CREATE | NLM_F_EXCL);
	if (rc < 0) {
		rc = nl_fail(nl, rc);
		goto out;
	}
	rc = vrrp_nl_link_by_name(nl, name, &info);
	if (rc == 0)
		rc = link_addrgen_none(nl, info.ifindex);
	if (rc == 0)
		*ifindex = info.ifindex;
	else if (info.ifindex > 0)
		vrrp_nl_link_del(nl, info.ifindex);
out:
	nl_addr_put(a);
	rtnl_link_put(l);
	return rc;
}

int vrrp_nl_link_set_up(struct vrrp_nl *nl, int ifindex, bool up)
{
	struct rtnl_link *orig = rtnl_link_alloc(), *chg = rtnl_link_alloc();
	int rc = -ENOMEM;

	if (!orig || !chg)
		goto out;
	rtnl_link_set_ifindex(orig, ifindex);
	if (up)
		rtnl_link_set_flags(chg, IFF_UP);
	else
		rtnl_link_unset_flags(chg, IFF_UP);
	nl->err = 0;
	rc = rtnl_link_change(nl->sk, orig, chg, 0);
	rc = rc < 0 ? nl_fail(nl, rc) : 0;
out:
	rtnl_link_put(orig);
	rtnl_link_put(chg);
	return rc;
}

int vrrp_nl_link_del(struct vrrp_nl *nl, int ifindex)
{
	struct rtnl_link *l = rtnl_link_alloc();
	int rc;

	if (!l)
		return -ENOMEM;
	rtnl_link_set_ifindex(l, ifindex);
	nl->err = 0;
	rc = rtnl_link_delete(nl->sk, l);
	rtnl_link_put(l);
	return rc < 0 ? nl_fail(nl, rc) : 0;
}

int vrrp_vip_parse(const char *s, struct vrrp_vip *vip, const char **why)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long pfx, max;
	char *end;

	memset(vip, 0, sizeof(*vip));
	if (n == 0 || n >= sizeof(host)) {
		*why = "expected an IP address, optionally with /PREFIX";
		return -EINVAL;
	}
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &vip->ip.v4) == 1)
		vip->family = AF_INET;
	else if (inet_pton(AF_INET6, host, &vip->ip.v6) == 1)
		vip->family = AF_INET6;
	else {
		*why = "not an IPv4 or IPv6 address (host names are not accepted)";
		return -EINVAL;
	}
	pfx = max = vip->family == AF_INET ? 32 : 128;
	if (slash) {
		errno = 0;
		pfx = strtoul(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || pfx > max || pfx == 0) {
			*why = "bad prefix length";
			return -EINVAL;
		}
	}
	vip->prefix = (uint8_t)pfx;
	if (vip->family == AF_INET) {
		uint32_t h = ntohl(vip->ip.v4.s_addr);
		if (h == 0 || (h >> 28) >= 0xe || (h >> 24) == 127) {
			*why = "not a unicast address";
			return -EINVAL;
		}
	} else if (IN6_IS_ADDR_MULTICAST(&vip->ip.v6) || IN6_IS_ADDR_UNSPECIFIED(&vip->ip.v6) ||
		   IN6_IS_ADDR_LOOPBACK(&vip->ip.v6) || IN6_IS_ADDR_V4MAPPED(&vip->ip.v6)) {
		*why = "not a unicast address";
		return -EINVAL;
	}
	return 0;
}

int vrrp_vip_format(const struct vrrp_vip *vip, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (!inet_ntop(vip->family, &vip->ip, host, sizeof(host)))
		snprintf(host, sizeof(host), "?");
	return snprintf(buf, len, "%s/%u", host, vip->prefix);
}

bool vrrp_vip_equal(const struct vrrp_vip *a, const struct vrrp_vip *b)
{
	return a->family == b->family && memcmp(&a->ip, &b->ip, alen_of(a->family)) == 0;
}
