/* CIDR blocks ("10.0.0.0/8", "2001:db8::/32") and lists of them.
 *
 * Used per connection at L7 intake to decide whether a peer may send a PROXY
 * header, and wherever else a config names "these networks". A CIDR is a
 * plain value; a cidr_list owns a heap array and is freed with
 * cidr_list_free().
 *
 * Matching rules:
 *   - an IPv4 address matches IPv4 CIDRs, and IPv6 CIDRs inside the
 *     v4-mapped range ::ffff:0:0/96 with a prefix of at least /96;
 *   - a v4-mapped IPv6 address (what a dual-stack listener reports for an
 *     IPv4 client) is matched as the IPv4 address it carries;
 *   - IPv6 CIDRs shorter than /96 never match IPv4 clients, so "::/0" means
 *     "every IPv6 client", not "everyone";
 *   - the IPv6 scope id is ignored; AF_UNIX and unset addresses match nothing.
 */
#ifndef STRATA_CIDR_H
#define STRATA_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* Longest cidr_format() output, NUL included ("ffff:...:ffff/128"). */
#define CIDR_STR_MAX 50

/* Lists are matched linearly: one pass over at most CIDR_LIST_MAX entries
 * (a few nanoseconds each) once per accepted connection. That is cheaper
 * than any tree for the few dozen entries real trust lists hold, and the
 * limit keeps the worst case (about 5 us) bounded. */
#define CIDR_LIST_MAX 1024

struct cidr {
	uint8_t family;	  /* AF_INET or AF_INET6 */
	uint8_t prefix;	  /* 0..32 or 0..128 */
	uint8_t addr[16]; /* network order; IPv4 uses the first 4 bytes */
};

/* cidr_parse() flags. */
enum {
	/* Accept and keep host bits ("10.0.0.5/24"): for interface addresses,
	 * where the host part is the point. Without it they are an error. */
	CIDR_F_HOST_BITS = 1u << 0,
};

/* Parses `len` bytes of `s` (no NUL needed, never reads past len): an IPv4 or
 * IPv6 address with an optional "/prefix"; a bare address is a host (/32 or
 * /128). Returns 0, -EINVAL or -ERANGE (prefix too long) with a static
 * reason in *why. Host bits set beyond the prefix are -EINVAL ("host bits
 * set") unless CIDR_F_HOST_BITS: a typo like 10.0.0.1/8 must not silently
 * widen or narrow a trust list. */
int cidr_parse(const char *s, size_t len, unsigned flags, struct cidr *out, const char **why);

/* Writes "ADDR/PREFIX" and a NUL; returns the length or -ENOSPC. */
int cidr_format(const struct cidr *c, char *buf, size_t len);

/* True when bits beyond the prefix are set (only after CIDR_F_HOST_BITS). */
bool cidr_has_host_bits(const struct cidr *c);
/* Clears the bits beyond the prefix: "10.0.0.5/24" becomes "10.0.0.0/24". */
void cidr_mask(struct cidr *c);

bool cidr_equal(const struct cidr *a, const struct cidr *b);
bool cidr_match(const struct cidr *c, const struct addr *a);

struct cidr_list {
	struct cidr *items;
	uint32_t n;
	uint32_t cap;
};

void cidr_list_init(struct cidr_list *l);
/* Appends a copy of *c. Returns 0, -E2BIG past CIDR_LIST_MAX, or -ENOMEM. */
int cidr_list_add(struct cidr_list *l, const struct cidr *c);
/* True when any entry matches; an empty list matches nothing. */
bool cidr_list_match(const struct cidr_list *l, const struct addr *a);
/* Frees the entries and leaves an empty list; safe on an empty list. */
void cidr_list_free(struct cidr_list *l);

#endif
