/* libFuzzer target for the pure config value parsers: durations, sizes,
 * socket addresses, CIDRs, the integer literal scan and the edit distance.
 *
 * The first byte picks the parser (and addr_parse() flags); the rest is the
 * text, passed with its length and no NUL, so any over-read trips ASan.
 * Every accepted value is formatted and parsed again and must come back
 * equal: formatter and parser agree on one syntax. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "cfgval.h"
#include "cidr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_duration(const char *s, size_t n)
{
	char buf[CFGVAL_STR_MAX];
	uint64_t v, back;
	const char *why;
	int len;

	if (cfgval_duration(s, n, &v, &why) != 0) {
		assert(why != NULL);
		return;
	}
	len = cfgval_format_duration(v, buf, sizeof(buf));
	assert(len > 0);
	assert(cfgval_duration(buf, (size_t)len, &back, &why) == 0 && back == v);
}

static void fuzz_size(const char *s, size_t n)
{
	char buf[CFGVAL_STR_MAX];
	uint64_t v, back;
	const char *why;
	int len;

	if (cfgval_size(s, n, &v, &why) != 0) {
		assert(why != NULL);
		return;
	}
	len = cfgval_format_size(v, buf, sizeof(buf));
	assert(len > 0);
	assert(cfgval_size(buf, (size_t)len, &back, &why) == 0 && back == v);
}

static void fuzz_addr(const char *s, size_t n, unsigned flags)
{
	char buf[ADDR_STR_MAX], ip[ADDR_STR_MAX];
	uint8_t key[ADDR_KEY_MAX];
	struct addr a, back, copy;
	const char *why;
	int len;

	if (addr_parse(s, n, flags, 8080, &a, &why) != 0) {
		assert(why != NULL && addr_family(&a) == AF_UNSPEC);
		return;
	}
	len = addr_format(&a, buf, sizeof(buf));
	assert(len > 0);
	assert(addr_parse(buf, (size_t)len, (flags & ~ADDR_F_NO_PORT) | ADDR_F_UNIX, 0, &back,
			  &why) == 0);
	assert(addr_equal(&a, &back));
	assert(addr_key(&a, true, key) <= ADDR_KEY_MAX);
	(void)addr_format_ip(&a, ip, sizeof(ip));
	assert(addr_from_sockaddr(&copy, addr_sockaddr(&a), a.len) == 0);
	assert(addr_compare(&copy, &a) == 0);
	if (addr_normalize(&copy))
		assert(addr_family(&copy) == AF_INET && addr_port(&copy) == addr_port(&a));
}

static void fuzz_cidr(const char *s, size_t n, unsigned flags)
{
	char buf[CIDR_STR_MAX];
	struct cidr c, back;
	struct addr probe;
	const char *why;
	int len;

	if (cidr_parse(s, n, flags, &c, &why) != 0) {
		assert(why != NULL);
		return;
	}
	len = cidr_format(&c, buf, sizeof(buf));
	assert(len > 0);
	assert(cidr_parse(buf, (size_t)len, flags, &back, &why) == 0 && cidr_equal(&c, &back));
	if (cidr_has_host_bits(&c))
		return;
	/* the network address itself is always inside its own CIDR */
	memset(&probe, 0, sizeof(probe));
	if (c.family == AF_INET) {
		probe.u.in4.sin_family = AF_INET;
		memcpy(&probe.u.in4.sin_addr, c.addr, 4);
		probe.len = sizeof(probe.u.in4);
	} else {
		probe.u.in6.sin6_family = AF_INET6;
		memcpy(&probe.u.in6.sin6_addr, c.addr, 16);
		probe.len = sizeof(probe.u.in6);
	}
	assert(cidr_match(&c, &probe));
}

static void fuzz_scan(const char *s, size_t n)
{
	struct cfgval_span at;

	if (cfgval_find_int_overflow(s, n, &at) != 0)
		assert(at.off < n && at.len > 0 && at.off + at.len <= n && at.line >= 1);
}

static void fuzz_distance(const char *s, size_t n)
{
	size_t half = n / 2;
	size_t d = cfgval_edit_distance(s, half, s + half, n - half);
	size_t back = cfgval_edit_distance(s + half, n - half, s, half);

	assert(d == back); /* symmetric */
	if (d != SIZE_MAX)
		assert(d <= (half > n - half ? half : n - half));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data + 1;
	size_t n;

	if (size == 0)
		return 0;
	n = size - 1;
	switch (data[0] % 6) {
	case 0:
		fuzz_duration(s, n);
		break;
	case 1:
		fuzz_size(s, n);
		break;
	case 2:
		fuzz_addr(s, n,
			  (data[0] >> 3) & (ADDR_F_UNIX | ADDR_F_PORT_OPTIONAL | ADDR_F_NO_PORT));
		break;
	case 3:
		fuzz_cidr(s, n, (data[0] >> 3) & CIDR_F_HOST_BITS);
		break;
	case 4:
		fuzz_scan(s, n);
		break;
	default:
		fuzz_distance(s, n);
		break;
	}
	return 0;
}
