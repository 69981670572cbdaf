/* Socket addresses as Strata writes them in configs and logs.
 *
 * One text syntax everywhere (configs, logs, stratactl):
 *   IPv4        1.2.3.4:80
 *   IPv6        [::1]:443, [fe80::1%eth0]:80 (scope by name or number)
 *   AF_UNIX     unix:/run/strata/l4.sock (relative paths allowed)
 * and, where the caller allows a default port, a bare "1.2.3.4", "[::1]" or
 * "::1". Host names are refused on purpose: a load balancer must start, and
 * reload, without asking DNS anything.
 *
 * struct addr is a plain value (no heap), safe to copy and compare.
 */
#ifndef STRATA_ADDR_H
#define STRATA_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Longest text addr_format() writes, NUL included: "unix:" + a 107-byte path,
 * or "[" + 45-byte IPv6 + "%" + 15-byte interface + "]:65535". */
#define ADDR_STR_MAX 128
/* Longest key addr_key() writes: a tag byte + a 108-byte path + 2 port bytes. */
#define ADDR_KEY_MAX 111
/* Longest AF_UNIX path (sun_path minus the terminating NUL). */
#define ADDR_UNIX_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

struct addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
		struct sockaddr_un un;
		struct sockaddr_storage ss;
	} u;
	socklen_t len; /* 0 when unset (family AF_UNSPEC) */
};

/* addr_parse() flags. */
enum {
	ADDR_F_UNIX = 1u << 0,		/* accept "unix:PATH" */
	ADDR_F_PORT_OPTIONAL = 1u << 1, /* a missing port means default_port */
	ADDR_F_NO_PORT = 1u << 2,	/* IP only ("10.0.0.1", "fe80::1%eth0"); port 0 */
};

/* Parses `len` bytes of `s` (no NUL needed; never reads past len) into *out.
 * Returns 0, -EINVAL (malformed; *why says how) or -ERANGE (port above 65535,
 * path too long). *why is a static string, set on error only. Interface names
 * in an IPv6 scope are resolved with if_nametoindex(), so an unknown
 * interface is an error. */
int addr_parse(const char *s, size_t len, unsigned flags, uint16_t default_port, struct addr *out,
	       const char **why);

/* Copies a kernel-filled address (getpeername, accept, recvfrom) into *out.
 * Returns 0, -EINVAL when `len` is too short for the family, or
 * -EAFNOSUPPORT for families other than AF_INET, AF_INET6 and AF_UNIX. */
int addr_from_sockaddr(struct addr *out, const struct sockaddr *sa, socklen_t len);

/* A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d. Rewrites
 * such an address into plain AF_INET (same port) so ACLs, logs and hashes see
 * one form per client. Returns true when it changed *a. */
bool addr_normalize(struct addr *a);

/* Writes the addr_parse() syntax (always with the port for IP addresses) and
 * a NUL. Returns the length written, or -ENOSPC when `len` is too small
 * (ADDR_STR_MAX always suffices); buf then holds a truncated string. */
int addr_format(const struct addr *a, char *buf, size_t len);

/* Writes only the IP ("1.2.3.4", "2001:db8::1"; no brackets, port or scope),
 * the form X-Forwarded-For and logs of client addresses want. Returns the
 * length, -ENOSPC, or -EAFNOSUPPORT for AF_UNIX/AF_UNSPEC. */
int addr_format_ip(const struct addr *a, char *buf, size_t len);

/* Total order: family, then address bytes, then port, then IPv6 scope. */
int addr_compare(const struct addr *a, const struct addr *b);
bool addr_equal(const struct addr *a, const struct addr *b);

/* Hash-friendly raw key for balancers: a tag byte (4, 6 or 'u'), the address
 * bytes (4, 16, or the unix path), then the port in network order when
 * `with_port`. Returns the key length (0 for an unset address). Normalise
 * v4-mapped addresses first if both forms must hash alike. */
size_t addr_key(const struct addr *a, bool with_port, uint8_t key[ADDR_KEY_MAX]);

static inline int addr_family(const struct addr *a)
{
	return a->len ? a->u.sa.sa_family : AF_UNSPEC;
}

static inline const struct sockaddr *addr_sockaddr(const struct addr *a)
{
	return &a->u.sa;
}

/* Port in host order; 0 for AF_UNIX and unset addresses. */
uint16_t addr_port(const struct addr *a);
/* Sets the port of an IP address; no-op for other families. */
void addr_set_port(struct addr *a, uint16_t port);

#endif
