/* CIDR parsing, matching and lists; see cidr.h. A cidr_list owns its array. */
#include "cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ::ffff:0:0/96, RFC 4291 §2.5.5.2 */
static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int fail(const char **why, const char *reason, int err)
{
	*why = reason;
	return err;
}

static bool has_letter(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		/* hex digits are letters in IPv6; only count the others */
		if ((c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z'))
			return true;
	}
	return false;
}

static int parse_ip(const char *s, size_t len, struct cidr *out, const char **why)
{
	char buf[INET6_ADDRSTRLEN];
	bool v6 = memchr(s, ':', len) != NULL;

	if (len == 0)
		return fail(why, "missing address before '/'", -EINVAL);
	if (len < sizeof(buf) && !memchr(s, '\0', len)) {
		memcpy(buf, s, len);
		buf[len] = '\0';
		if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, out->addr) == 1) {
			out->family = v6 ? AF_INET6 : AF_INET;
			return 0;
		}
	}
	if (!v6 && has_letter(s, len))
		return fail(why, "host names are not accepted, use an IP address", -EINVAL);
	/* one colon: an IPv4 address with a port, not an IPv6 address */
	if (v6 && memchr(s, ':', len) == memrchr(s, ':', len))
		return fail(why, "a CIDR has no port", -EINVAL);
	return fail(why, v6 ? "invalid IPv6 address" : "invalid IPv4 address", -EINVAL);
}

static int parse_prefix(const char *s, size_t len, unsigned max, uint8_t *out, const char **why)
{
	unsigned v = 0;

	if (len == 0)
		return fail(why, "missing prefix length after '/'", -EINVAL);
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return fail(why, "prefix length must be a decimal number", -EINVAL);
	}
	if (len > 1 && s[0] == '0')
		return fail(why, "leading zeros in prefix length", -EINVAL);
	if (len > 3)
		return fail(why, max == 32 ? "prefix length above 32" : "prefix length above 128",
			    -ERANGE);
	for (size_t i = 0; i < len; i++)
		v = v * 10 + (unsigned)(s[i] - '0');
	if (v > max)
		return fail(why, max == 32 ? "prefix length above 32" : "prefix length above 128",
			    -ERANGE);
	*out = (uint8_t)v;
	return 0;
}

int cidr_parse(const char *s, size_t len, unsigned flags, struct cidr *out, const char **why)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	unsigned max;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return fail(why, "empty CIDR", -EINVAL);
	rc = parse_ip(s, alen, out, why);
	if (rc)
		goto out_clear;
	max = out->family == AF_INET ? 32 : 128;
	out->prefix = (uint8_t)max;
	if (slash) {
		rc = parse_prefix(slash + 1, len - alen - 1, max, &out->prefix, why);
		if (rc)
			goto out_clear;
	}
	if (!(flags & CIDR_F_HOST_BITS) && cidr_has_host_bits(out)) {
		rc = fail(why, "host bits set", -EINVAL);
		goto out_clear;
	}
	return 0;
out_clear:
	memset(out, 0, sizeof(*out));
	return rc;
}

int cidr_format(const struct cidr *c, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	int n;

	if (c->family != AF_INET && c->family != AF_INET6)
		return -EINVAL;
	inet_ntop(c->family, c->addr, ip, sizeof(ip));
	n = snprintf(buf, len, "%s/%u", ip, c->prefix);
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

static size_t addr_bytes(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* The network bits of byte `i` under a prefix of `prefix` bits. */
static uint8_t byte_mask(unsigned prefix, size_t i)
{
	size_t first = i * 8;
	size_t keep = prefix >= first + 8 ? 8 : prefix > first ? prefix - first : 0;

	return (uint8_t)(0xff00u >> keep);
}

bool cidr_has_host_bits(const struct cidr *c)
{
	size_t nbytes = addr_bytes(c->family);

	for (size_t i = 0; i < nbytes; i++) {
		if (c->addr[i] & (uint8_t)~byte_mask(c->prefix, i))
			return true;
	}
	return false;
}

void cidr_mask(struct cidr *c)
{
	size_t nbytes = addr_bytes(c->family);

	for (size_t i = 0; i < nbytes; i++)
		c->addr[i] &= byte_mask(c->prefix, i);
}

bool cidr_equal(const struct cidr *a, const struct cidr *b)
{
	return a->family == b->family && a->prefix == b->prefix &&
	       memcmp(a->addr, b->addr, addr_bytes(a->family)) == 0;
}

/* Compares the first `bits` bits of two addresses. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

/* The address as the family it really is: v4-mapped IPv6 becomes IPv4. */
static int ip_view(const struct addr *a, uint8_t out[16])
{
	switch (addr_family(a)) {
	case AF_INET:
		memcpy(out, &a->u.in4.sin_addr, 4);
		return AF_INET;
	case AF_INET6:
		if (IN6_IS_ADDR_V4MAPPED(&a->u.in6.sin6_addr)) {
			memcpy(out, &a->u.in6.sin6_addr.s6_addr[12], 4);
			return AF_INET;
		}
		memcpy(out, &a->u.in6.sin6_addr, 16);
		return AF_INET6;
	default:
		return AF_UNSPEC;
	}
}

static bool match_view(const struct cidr *c, int af, const uint8_t ip[16])
{
	uint8_t mapped[16];

	if (c->family == af)
		return prefix_equal(c->addr, ip, c->prefix);
	if (c->family != AF_INET6 || af != AF_INET || c->prefix < 96)
		return false;
	memcpy(mapped, v4_mapped_prefix, 12);
	memcpy(mapped + 12, ip, 4);
	return prefix_equal(c->addr, mapped, c->prefix);
}

bool cidr_match(const struct cidr *c, const struct addr *a)
{
	uint8_t ip[16];
	int af = ip_view(a, ip);

	return af != AF_UNSPEC && match_view(c, af, ip);
}

void cidr_list_init(struct cidr_list *l)
{
	l->items = NULL;
	l->n = 0;
	l->cap = 0;
}

int cidr_list_add(struct cidr_list *l, const struct cidr *c)
{
	if (l->n >= CIDR_LIST_MAX)
		return -E2BIG;
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 8;
		struct cidr *items;

		if (cap > CIDR_LIST_MAX)
			cap = CIDR_LIST_MAX;
		items = realloc(l->items, cap * sizeof(*items));
		if (!items)
			return -ENOMEM;
		l->items = items;
		l->cap = cap;
	}
	l->items[l->n++] = *c;
	return 0;
}

bool cidr_list_match(const struct cidr_list *l, const struct addr *a)
{
	uint8_t ip[16];
	int af = ip_view(a, ip);

	if (af == AF_UNSPEC)
		return false;
	for (uint32_t i = 0; i < l->n; i++) {
		if (match_view(&l->items[i], af, ip))
			return true;
	}
	return false;
}

void cidr_list_free(struct cidr_list *l)
{
	free(l->items);
	cidr_list_init(l);
}
