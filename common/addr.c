/* Socket address parsing, formatting, comparison and hashing keys; see addr.h.
 *
 * The parser is strict on purpose: a config value that could mean two things
 * ("080", "::1:80", "localhost:80") is refused with a reason rather than
 * guessed at.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int fail(const char **why, const char *reason, int err)
{
	*why = reason;
	return err;
}

/* Ports are plain decimal without leading zeros: "080" is either a typo or
 * somebody's idea of octal, and neither should pass. */
static int parse_port(const char *s, size_t len, uint16_t *out, const char **why)
{
	uint32_t v = 0;

	if (len == 0)
		return fail(why, "missing port after ':'", -EINVAL);
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return fail(why, "port must be a decimal number", -EINVAL);
	}
	if (len > 1 && s[0] == '0')
		return fail(why, "leading zeros in port", -EINVAL);
	if (len > 5)
		return fail(why, "port above 65535", -ERANGE);
	for (size_t i = 0; i < len; i++)
		v = v * 10 + (uint32_t)(s[i] - '0');
	if (v > 65535)
		return fail(why, "port above 65535", -ERANGE);
	*out = (uint16_t)v;
	return 0;
}

/* Letters, digits, dots and dashes with at least one letter: somebody wrote a
 * host name where an address belongs. */
static bool looks_like_hostname(const char *s, size_t len)
{
	bool letter = false;

	for (size_t i = 0; i < len; i++) {
		if (is_alpha(s[i]))
			letter = true;
		else if (!is_digit(s[i]) && s[i] != '.' && s[i] != '-')
			return false;
	}
	return letter;
}

static const char hostname_reason[] =
    "host names are not accepted, use an IP address (the configuration must not depend on DNS "
    "at start-up)";

static int parse_ipv4(const char *s, size_t len, struct in_addr *out, const char **why)
{
	char buf[INET_ADDRSTRLEN];

	/* glibc's inet_pton() takes exactly a.b.c.d in decimal, each part
	 * 0..255 without leading zeros: no "10.1", no octal, no hex. */
	if (len > 0 && len < sizeof(buf)) {
		memcpy(buf, s, len);
		buf[len] = '\0';
		if (memchr(buf, '\0', len) == NULL && inet_pton(AF_INET, buf, out) == 1)
			return 0;
	}
	if (len == 0 || (len == 1 && s[0] == '*'))
		return fail(why, "missing address (use 0.0.0.0 or [::] for any address)", -EINVAL);
	if (looks_like_hostname(s, len))
		return fail(why, hostname_reason, -EINVAL);
	return fail(why, "invalid IPv4 address", -EINVAL);
}

static int parse_scope(const char *s, size_t len, uint32_t *out, const char **why)
{
	char name[IF_NAMESIZE];
	uint64_t v = 0;
	bool numeric = true;

	if (len == 0)
		return fail(why, "empty IPv6 scope after '%'", -EINVAL);
	for (size_t i = 0; i < len; i++) {
		numeric = numeric && is_digit(s[i]);
		if (s[i] == '\0' || s[i] == '/' || s[i] == ' ')
			return fail(why, "invalid interface name in IPv6 scope", -EINVAL);
	}
	if (numeric) {
		if ((len > 1 && s[0] == '0') || len > 10)
			return fail(why, "invalid numeric IPv6 scope", -EINVAL);
		for (size_t i = 0; i < len; i++)
			v = v * 10 + (uint64_t)(s[i] - '0');
		if (v == 0 || v > UINT32_MAX)
			return fail(why, "invalid numeric IPv6 scope", -EINVAL);
		*out = (uint32_t)v;
		return 0;
	}
	if (len >= sizeof(name))
		return fail(why, "interface name in IPv6 scope is too long", -EINVAL);
	memcpy(name, s, len);
	name[len] = '\0';
	/* Link-local addresses only mean something on one interface; refusing
	 * an interface this host lacks beats binding to the wrong one. */
	*out = if_nametoindex(name);
	if (*out == 0)
		return fail(why, "unknown network interface in IPv6 scope", -EINVAL);
	return 0;
}

static int parse_ipv6(const char *s, size_t len, struct sockaddr_in6 *out, const char **why)
{
	char buf[INET6_ADDRSTRLEN];
	const char *pct = memchr(s, '%', len);
	size_t alen = pct ? (size_t)(pct - s) : len;

	if (alen == 0 || alen >= sizeof(buf) || memchr(s, '\0', alen))
		return fail(why, "invalid IPv6 address", -EINVAL);
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET6, buf, &out->sin6_addr) != 1)
		return fail(why, "invalid IPv6 address", -EINVAL);
	out->sin6_family = AF_INET6;
	out->sin6_scope_id = 0;
	if (pct)
		return parse_scope(pct + 1, len - alen - 1, &out->sin6_scope_id, why);
	return 0;
}

/* "unix:/path", "unix:relative/path", or "unix:@name" for Linux's abstract
 * namespace (no file, gone when the socket closes). */
static int parse_unix(const char *p, size_t len, unsigned flags, struct addr *out, const char **why)
{
	struct sockaddr_un *un = &out->u.un;

	if (!(flags & ADDR_F_UNIX))
		return fail(why, "unix sockets are not accepted here", -EINVAL);
	if (len == 0 || (len == 1 && p[0] == '@'))
		return fail(why, "empty unix socket path", -EINVAL);
	if (memchr(p, '\0', len))
		return fail(why, "NUL byte in unix socket path", -EINVAL);
	if (len > ADDR_UNIX_PATH_MAX)
		return fail(why, "unix socket path longer than 107 bytes", -ERANGE);
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, p, len);
	if (p[0] == '@') {
		un->sun_path[0] = '\0';
		out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	} else {
		un->sun_path[len] = '\0';
		out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	}
	return 0;
}

/* Resolves the port part: `p` points after the host (at ':' or the end). */
static int take_port(const char *p, size_t len, unsigned flags, uint16_t default_port,
		     const char *example, uint16_t *port, const char **why)
{
	if (len == 0) {
		if (flags & ADDR_F_NO_PORT)
			*port = 0;
		else if (flags & ADDR_F_PORT_OPTIONAL)
			*port = default_port;
		else
			return fail(why, example, -EINVAL);
		return 0;
	}
	if (p[0] != ':')
		return fail(why, "unexpected text after ']'", -EINVAL);
	if (flags & ADDR_F_NO_PORT)
		return fail(why, "a port is not accepted here", -EINVAL);
	return parse_port(p + 1, len - 1, port, why);
}

static int parse_bracketed(const char *s, size_t len, unsigned flags, uint16_t default_port,
			   struct addr *out, const char **why)
{
	const char *rb = memchr(s, ']', len);
	uint16_t port;
	int rc;

	if (!rb)
		return fail(why, "missing ']' after IPv6 address", -EINVAL);
	if (!memchr(s + 1, ':', (size_t)(rb - s - 1)))
		return fail(why, "brackets are only for IPv6 addresses", -EINVAL);
	rc = parse_ipv6(s + 1, (size_t)(rb - s - 1), &out->u.in6, why);
	if (rc)
		return rc;
	rc = take_port(rb + 1, len - (size_t)(rb + 1 - s), flags, default_port,
		       "missing port, like \"[::1]:443\"", &port, why);
	if (rc)
		return rc;
	out->u.in6.sin6_port = htons(port);
	out->len = sizeof(struct sockaddr_in6);
	return 0;
}

int addr_parse(const char *s, size_t len, unsigned flags, uint16_t default_port, struct addr *out,
	       const char **why)
{
	const char *colon;
	uint16_t port = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return fail(why, "empty address", -EINVAL);
	if (len >= 5 && memcmp(s, "unix:", 5) == 0)
		return parse_unix(s + 5, len - 5, flags, out, why);
	if (s[0] == '[')
		rc = parse_bracketed(s, len, flags, default_port, out, why);
	else if ((colon = memchr(s, ':', len)) &&
		 memchr(colon + 1, ':', len - (size_t)(colon + 1 - s))) {
		/* Bare IPv6 never carries a port: "::1:80" is an address. */
		if (!(flags & (ADDR_F_PORT_OPTIONAL | ADDR_F_NO_PORT)))
			return fail(
			    why, "an IPv6 address with a port needs brackets, like \"[::1]:443\"",
			    -EINVAL);
		rc = parse_ipv6(s, len, &out->u.in6, why);
		if (rc == 0) {
			out->u.in6.sin6_port = htons(flags & ADDR_F_NO_PORT ? 0 : default_port);
			out->len = sizeof(struct sockaddr_in6);
		}
	} else {
		size_t hlen = colon ? (size_t)(colon - s) : len;

		rc = parse_ipv4(s, hlen, &out->u.in4.sin_addr, why);
		if (rc == 0)
			rc = take_port(s + hlen, len - hlen, flags, default_port,
				       "missing port, like \"1.2.3.4:80\"", &port, why);
		if (rc == 0) {
			out->u.in4.sin_family = AF_INET;
			out->u.in4.sin_port = htons(port);
			out->len = sizeof(struct sockaddr_in);
		}
	}
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

int addr_from_sockaddr(struct addr *out, const struct sockaddr *sa, socklen_t len)
{
	size_t need;

	memset(out, 0, sizeof(*out));
	if (len < sizeof(sa_family_t))
		return -EINVAL;
	switch (sa->sa_family) {
	case AF_INET:
		need = sizeof(struct sockaddr_in);
		break;
	case AF_INET6:
		need = sizeof(struct sockaddr_in6);
		break;
	case AF_UNIX:
		/* An unnamed client socket comes back with just the family. */
		need = offsetof(struct sockaddr_un, sun_path);
		if (len > sizeof(struct sockaddr_un))
			return -EINVAL;
		break;
	default:
		return -EAFNOSUPPORT;
	}
	if (len < need)
		return -EINVAL;
	if (sa->sa_family != AF_UNIX)
		len = (socklen_t)need;
	memcpy(&out->u, sa, len);
	out->len = len;
	return 0;
}

bool addr_normalize(struct addr *a)
{
	struct sockaddr_in in4 = {.sin_family = AF_INET};

	if (addr_family(a) != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&a->u.in6.sin6_addr))
		return false;
	in4.sin_port = a->u.in6.sin6_port;
	memcpy(&in4.sin_addr, &a->u.in6.sin6_addr.s6_addr[12], 4);
	memset(&a->u, 0, sizeof(a->u));
	a->u.in4 = in4;
	a->len = sizeof(in4);
	return true;
}

/* The path bytes of an AF_UNIX address: for a filesystem path up to its NUL,
 * for an abstract name everything after the family (leading NUL included). */
static size_t unix_path(const struct addr *a, const char **p)
{
	size_t n = a->len - offsetof(struct sockaddr_un, sun_path);

	*p = a->u.un.sun_path;
	if (n > 0 && a->u.un.sun_path[0] != '\0')
		n = strnlen(a->u.un.sun_path, n);
	return n;
}

static int finish(int n, size_t len)
{
	return n < 0 || (size_t)n >= len ? -ENOSPC : n;
}

int addr_format(const struct addr *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN], scope[IF_NAMESIZE + 12] = "";
	const char *path;
	size_t n;

	if (len == 0)
		return -ENOSPC;
	switch (addr_family(a)) {
	case AF_INET:
		inet_ntop(AF_INET, &a->u.in4.sin_addr, ip, sizeof(ip));
		return finish(snprintf(buf, len, "%s:%u", ip, addr_port(a)), len);
	case AF_INET6:
		inet_ntop(AF_INET6, &a->u.in6.sin6_addr, ip, sizeof(ip));
		if (a->u.in6.sin6_scope_id) {
			char name[IF_NAMESIZE];

			if (if_indextoname(a->u.in6.sin6_scope_id, name))
				snprintf(scope, sizeof(scope), "%%%s", name);
			else
				snprintf(scope, sizeof(scope), "%%%u", a->u.in6.sin6_scope_id);
		}
		return finish(snprintf(buf, len, "[%s%s]:%u", ip, scope, addr_port(a)), len);
	case AF_UNIX:
		n = unix_path(a, &path);
		if (n > 0 && path[0] == '\0') /* abstract: print the name up to a NUL */
			return finish(snprintf(buf, len, "unix:@%.*s",
					       (int)strnlen(path + 1, n - 1), path + 1),
				      len);
		return finish(snprintf(buf, len, "unix:%.*s", (int)n, path), len);
	default:
		return finish(snprintf(buf, len, "(unset)"), len);
	}
}

int addr_format_ip(const struct addr *a, char *buf, size_t len)
{
	const void *src;
	int af = addr_family(a);

	if (af == AF_INET)
		src = &a->u.in4.sin_addr;
	else if (af == AF_INET6)
		src = &a->u.in6.sin6_addr;
	else
		return -EAFNOSUPPORT;
	if (!inet_ntop(af, src, buf, (socklen_t)(len > 0xffff ? 0xffff : len)))
		return -ENOSPC;
	return (int)strlen(buf);
}

static int sign(long v)
{
	return (v > 0) - (v < 0);
}

static int compare_unix(const struct addr *a, const struct addr *b)
{
	const char *pa, *pb;
	size_t na = unix_path(a, &pa), nb = unix_path(b, &pb);
	int c = memcmp(pa, pb, na < nb ? na : nb);

	return c ? sign(c) : sign((long)na - (long)nb);
}

int addr_compare(const struct addr *a, const struct addr *b)
{
	int fa = addr_family(a), fb = addr_family(b), c;

	if (fa != fb)
		return sign((long)fa - (long)fb);
	switch (fa) {
	case AF_INET:
		c = memcmp(&a->u.in4.sin_addr, &b->u.in4.sin_addr, 4);
		return c ? sign(c) : sign((long)addr_port(a) - (long)addr_port(b));
	case AF_INET6:
		c = memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr, 16);
		if (c)
			return sign(c);
		if (addr_port(a) != addr_port(b))
			return sign((long)addr_port(a) - (long)addr_port(b));
		return sign((long)a->u.in6.sin6_scope_id - (long)b->u.in6.sin6_scope_id);
	case AF_UNIX:
		return compare_unix(a, b);
	default:
		return 0;
	}
}

bool addr_equal(const struct addr *a, const struct addr *b)
{
	return addr_compare(a, b) == 0;
}

size_t addr_key(const struct addr *a, bool with_port, uint8_t key[ADDR_KEY_MAX])
{
	const char *path;
	size_t n;

	switch (addr_family(a)) {
	case AF_INET:
		key[0] = 4;
		memcpy(key + 1, &a->u.in4.sin_addr, 4);
		n = 5;
		if (with_port) {
			memcpy(key + n, &a->u.in4.sin_port, 2);
			n += 2;
		}
		return n;
	case AF_INET6:
		key[0] = 6;
		memcpy(key + 1, &a->u.in6.sin6_addr, 16);
		n = 17;
		if (with_port) {
			memcpy(key + n, &a->u.in6.sin6_port, 2);
			n += 2;
		}
		return n;
	case AF_UNIX:
		n = unix_path(a, &path);
		key[0] = 'u';
		memcpy(key + 1, path, n);
		return n + 1;
	default:
		return 0;
	}
}

uint16_t addr_port(const struct addr *a)
{
	switch (addr_family(a)) {
	case AF_INET:
		return ntohs(a->u.in4.sin_port);
	case AF_INET6:
		return ntohs(a->u.in6.sin6_port);
	default:
		return 0;
	}
}

void addr_set_port(struct addr *a, uint16_t port)
{
	if (addr_family(a) == AF_INET)
		a->u.in4.sin_port = htons(port);
	else if (addr_family(a) == AF_INET6)
		a->u.in6.sin6_port = htons(port);
}
