/* Tests for addr: parsing (good, bad with exact reasons, every prefix length
 * before a guard page), formatting, comparison, keys, kernel addresses and
 * v4-mapped normalisation. */
#include <errno.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "addr.h"
#include "guard.h"

static int parse_n(const char *s, size_t n, unsigned flags, uint16_t port, struct addr *a,
		   const char **why)
{
	void *g = guard_dup(s, n);
	int rc = addr_parse(g, n, flags, port, a, why);

	guard_free(g, n);
	return rc;
}

static int parse(const char *s, unsigned flags, uint16_t port, struct addr *a, const char **why)
{
	return parse_n(s, strlen(s), flags, port, a, why);
}

/* Parses s, checks it formats as `text`, and that every prefix of s parses
 * or fails without reading past its end. */
static void expect_ok(const char *s, unsigned flags, uint16_t port, const char *text)
{
	char buf[ADDR_STR_MAX];
	struct addr a, b;
	const char *why = NULL;
	int rc = parse(s, flags, port, &a, &why);

	if (rc)
		fail_msg("\"%s\": %d %s", s, rc, why);
	assert_true(addr_format(&a, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, text);
	/* the formatted text parses back to the same address */
	assert_int_equal(parse(buf, (flags & ~ADDR_F_NO_PORT) | ADDR_F_UNIX, port, &b, &why), 0);
	assert_true(addr_equal(&a, &b));
	for (size_t n = 0; n < strlen(s); n++)
		(void)parse_n(s, n, flags, port, &b, &why);
}

static void expect_err(const char *s, unsigned flags, int err, const char *reason)
{
	struct addr a;
	const char *why = NULL;

	assert_int_equal(parse(s, flags, 80, &a, &why), err);
	assert_non_null(why);
	assert_string_equal(why, reason);
	assert_int_equal(addr_family(&a), AF_UNSPEC);
}

static void test_parse_ipv4(void **state)
{
	struct addr a;
	const char *why;

	expect_ok("1.2.3.4:80", 0, 0, "1.2.3.4:80");
	expect_ok("0.0.0.0:0", 0, 0, "0.0.0.0:0");
	expect_ok("255.255.255.255:65535", 0, 0, "255.255.255.255:65535");
	assert_int_equal(parse("10.1.2.3:8080", 0, 0, &a, &why), 0);
	assert_int_equal(addr_family(&a), AF_INET);
	assert_int_equal(addr_port(&a), 8080);
	assert_int_equal(a.len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohl(a.u.in4.sin_addr.s_addr), 0x0a010203);
}

static void test_parse_ipv6(void **state)
{
	char want[64];
	struct addr a;
	const char *why;

	expect_ok("[::1]:443", 0, 0, "[::1]:443");
	expect_ok("[2001:db8::1:0]:80", 0, 0, "[2001:db8::1:0]:80");
	expect_ok("[::]:0", 0, 0, "[::]:0");
	expect_ok("[fe80::1%lo]:80", 0, 0, "[fe80::1%lo]:80");
	assert_int_equal(parse("[fe80::1%lo]:80", 0, 0, &a, &why), 0);
	assert_int_equal(a.u.in6.sin6_scope_id, if_nametoindex("lo"));
	/* a numeric scope formats by name when the interface exists */
	snprintf(want, sizeof(want), "[fe80::1%%%u]:80", if_nametoindex("lo"));
	expect_ok(want, 0, 0, "[fe80::1%lo]:80");
	expect_ok("[fe80::1%4000000000]:80", 0, 0, "[fe80::1%4000000000]:80");
}

static void test_parse_unix(void **state)
{
	char long_path[160] = "unix:/";
	struct addr a;
	const char *why;

	expect_ok("unix:/path/to.sock", ADDR_F_UNIX, 0, "unix:/path/to.sock");
	expect_ok("unix:run/l4.sock", ADDR_F_UNIX, 0, "unix:run/l4.sock");
	expect_ok("unix:@strata-test", ADDR_F_UNIX, 0, "unix:@strata-test");
	assert_int_equal(parse("unix:/a", ADDR_F_UNIX, 0, &a, &why), 0);
	assert_int_equal(addr_family(&a), AF_UNIX);
	assert_int_equal(addr_port(&a), 0);
	assert_string_equal(a.u.un.sun_path, "/a");
	/* 107 bytes fit sun_path with its NUL; 108 do not */
	memset(long_path + 6, 'x', 106);
	assert_int_equal(parse(long_path, ADDR_F_UNIX, 0, &a, &why), 0);
	long_path[6 + 106] = 'y';
	expect_err(long_path, ADDR_F_UNIX, -ERANGE, "unix socket path longer than 107 bytes");
	expect_err("unix:/x", 0, -EINVAL, "unix sockets are not accepted here");
	expect_err("unix:", ADDR_F_UNIX, -EINVAL, "empty unix socket path");
	expect_err("unix:@", ADDR_F_UNIX, -EINVAL, "empty unix socket path");
}

static void test_default_and_no_port(void **state)
{
	expect_ok("1.2.3.4", ADDR_F_PORT_OPTIONAL, 8080, "1.2.3.4:8080");
	expect_ok("1.2.3.4:81", ADDR_F_PORT_OPTIONAL, 8080, "1.2.3.4:81");
	expect_ok("::1", ADDR_F_PORT_OPTIONAL, 8080, "[::1]:8080");
	expect_ok("[::1]", ADDR_F_PORT_OPTIONAL, 8080, "[::1]:8080");
	/* bare IPv6 never carries a port: the last group is part of the address */
	expect_ok("2001:db8::80", ADDR_F_PORT_OPTIONAL, 8080, "[2001:db8::80]:8080");
	expect_ok("10.0.0.1", ADDR_F_NO_PORT, 8080, "10.0.0.1:0");
	expect_ok("fe80::1%lo", ADDR_F_NO_PORT, 8080, "[fe80::1%lo]:0");
	expect_err("10.0.0.1:80", ADDR_F_NO_PORT, -EINVAL, "a port is not accepted here");
	expect_err("[::1]:80", ADDR_F_NO_PORT, -EINVAL, "a port is not accepted here");
	expect_err("1.2.3.4", 0, -EINVAL, "missing port, like \"1.2.3.4:80\"");
	expect_err("[::1]", 0, -EINVAL, "missing port, like \"[::1]:443\"");
	expect_err("::1", 0, -EINVAL,
		   "an IPv6 address with a port needs brackets, like \"[::1]:443\"");
}

static void test_parse_errors(void **state)
{
	const char *hostname =
	    "host names are not accepted, use an IP address (the configuration must not "
	    "depend on DNS at start-up)";

	expect_err("", 0, -EINVAL, "empty address");
	expect_err("localhost:80", 0, -EINVAL, hostname);
	expect_err("backend-1.example.com:443", 0, -EINVAL, hostname);
	expect_err("localhost", ADDR_F_PORT_OPTIONAL, -EINVAL, hostname);
	expect_err("1.2.3.4:080", 0, -EINVAL, "leading zeros in port");
	expect_err("1.2.3.4:00", 0, -EINVAL, "leading zeros in port");
	expect_err("1.2.3.4:65536", 0, -ERANGE, "port above 65535");
	expect_err("1.2.3.4:9999999", 0, -ERANGE, "port above 65535");
	expect_err("1.2.3.4:", 0, -EINVAL, "missing port after ':'");
	expect_err("1.2.3.4:8a", 0, -EINVAL, "port must be a decimal number");
	expect_err("1.2.3.4:-1", 0, -EINVAL, "port must be a decimal number");
	expect_err("1.2.3.4: 80", 0, -EINVAL, "port must be a decimal number");
	expect_err("01.2.3.4:80", 0, -EINVAL, "invalid IPv4 address");
	expect_err("1.2.3:80", 0, -EINVAL, "invalid IPv4 address");
	expect_err("1.2.3.256:80", 0, -EINVAL, "invalid IPv4 address");
	expect_err("*:80", 0, -EINVAL, "missing address (use 0.0.0.0 or [::] for any address)");
	expect_err(":80", 0, -EINVAL, "missing address (use 0.0.0.0 or [::] for any address)");
	expect_err("[::1", 0, -EINVAL, "missing ']' after IPv6 address");
	expect_err("[1.2.3.4]:80", 0, -EINVAL, "brackets are only for IPv6 addresses");
	expect_err("[::1]x", 0, -EINVAL, "unexpected text after ']'");
	expect_err("[::1]:", 0, -EINVAL, "missing port after ':'");
	expect_err("[::g]:80", 0, -EINVAL, "invalid IPv6 address");
	expect_err("[]:80", 0, -EINVAL, "brackets are only for IPv6 addresses");
	expect_err("[fe80::1%]:80", 0, -EINVAL, "empty IPv6 scope after '%'");
	expect_err("[fe80::1%st-nosuch0]:80", 0, -EINVAL,
		   "unknown network interface in IPv6 scope");
	expect_err("[fe80::1%0]:80", 0, -EINVAL, "invalid numeric IPv6 scope");
	expect_err("[fe80::1%01]:80", 0, -EINVAL, "invalid numeric IPv6 scope");
	expect_err("[fe80::1%a/b]:80", 0, -EINVAL, "invalid interface name in IPv6 scope");
	expect_err("[fe80::1%abcdefghijklmnopq]:80", 0, -EINVAL,
		   "interface name in IPv6 scope is too long");
}

static void test_embedded_nul_is_refused(void **state)
{
	struct addr a;
	const char *why;

	assert_int_equal(parse_n("1.2.3.4\0:80", 11, 0, 0, &a, &why), -EINVAL);
	assert_int_equal(parse_n("1.2.3.4:8\0", 10, 0, 0, &a, &why), -EINVAL);
	assert_int_equal(parse_n("unix:/a\0b", 9, ADDR_F_UNIX, 0, &a, &why), -EINVAL);
	assert_string_equal(why, "NUL byte in unix socket path");
}

static void test_from_sockaddr(void **state)
{
	struct sockaddr_in in4 = {.sin_family = AF_INET, .sin_port = htons(1234)};
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	struct sockaddr sa = {.sa_family = AF_PACKET};
	char buf[ADDR_STR_MAX];
	struct addr a;

	in4.sin_addr.s_addr = htonl(0x7f000001);
	assert_int_equal(addr_from_sockaddr(&a, (struct sockaddr *)&in4, sizeof(in4)), 0);
	assert_int_equal(addr_format(&a, buf, sizeof(buf)), 14);
	assert_string_equal(buf, "127.0.0.1:1234");
	assert_int_equal(addr_from_sockaddr(&a, (struct sockaddr *)&in4, 8), -EINVAL);
	assert_int_equal(addr_from_sockaddr(&a, &sa, sizeof(sa)), -EAFNOSUPPORT);
	/* an unnamed unix client reports only its family */
	assert_int_equal(addr_from_sockaddr(&a, (struct sockaddr *)&un, sizeof(sa_family_t)), 0);
	assert_int_equal(addr_family(&a), AF_UNIX);
	assert_int_equal(addr_format(&a, buf, sizeof(buf)), 5);
	assert_string_equal(buf, "unix:");
}

static void test_normalize_mapped(void **state)
{
	char buf[ADDR_STR_MAX];
	struct addr a, v4;
	const char *why;

	assert_int_equal(parse("[::ffff:1.2.3.4]:80", 0, 0, &a, &why), 0);
	assert_int_equal(parse("1.2.3.4:80", 0, 0, &v4, &why), 0);
	assert_false(addr_equal(&a, &v4));
	assert_true(addr_normalize(&a));
	assert_int_equal(addr_family(&a), AF_INET);
	assert_int_equal(a.len, sizeof(struct sockaddr_in));
	assert_true(addr_equal(&a, &v4));
	addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "1.2.3.4:80");
	assert_false(addr_normalize(&a));
	assert_int_equal(parse("[2001:db8::1]:80", 0, 0, &a, &why), 0);
	assert_false(addr_normalize(&a));
	assert_int_equal(addr_family(&a), AF_INET6);
}

static void test_compare_and_key(void **state)
{
	struct addr a, b, c, u;
	uint8_t key[ADDR_KEY_MAX];
	const char *why;

	assert_int_equal(parse("10.0.0.1:80", 0, 0, &a, &why), 0);
	assert_int_equal(parse("10.0.0.1:81", 0, 0, &b, &why), 0);
	assert_int_equal(parse("[::1]:80", 0, 0, &c, &why), 0);
	assert_int_equal(parse("unix:/x", ADDR_F_UNIX, 0, &u, &why), 0);
	assert_true(addr_compare(&a, &b) < 0);
	assert_true(addr_compare(&b, &a) > 0);
	assert_int_equal(addr_compare(&a, &a), 0);
	assert_true(addr_compare(&a, &c) < 0); /* AF_INET sorts before AF_INET6 */
	assert_int_not_equal(addr_compare(&c, &u), 0);

	assert_int_equal(addr_key(&a, true, key), 7);
	assert_memory_equal(key, "\x04\x0a\x00\x00\x01\x00\x50", 7);
	assert_int_equal(addr_key(&a, false, key), 5);
	assert_int_equal(addr_key(&c, false, key), 17);
	assert_int_equal(key[0], 6);
	assert_int_equal(key[16], 1);
	assert_int_equal(addr_key(&c, true, key), 19);
	assert_int_equal(addr_key(&u, true, key), 3);
	assert_memory_equal(key, "u/x", 3);
	memset(&u, 0, sizeof(u));
	assert_int_equal(addr_key(&u, true, key), 0);
}

static void test_format_ip_and_space(void **state)
{
	char buf[ADDR_STR_MAX];
	struct addr a;
	const char *why;

	assert_int_equal(parse("[fe80::1%lo]:80", 0, 0, &a, &why), 0);
	assert_int_equal(addr_format_ip(&a, buf, sizeof(buf)), 7);
	assert_string_equal(buf, "fe80::1");
	assert_int_equal(addr_format(&a, buf, 8), -ENOSPC);
	assert_int_equal(addr_format(&a, buf, 0), -ENOSPC);
	assert_int_equal(addr_format_ip(&a, buf, 4), -ENOSPC);
	assert_int_equal(parse("1.2.3.4:80", 0, 0, &a, &why), 0);
	assert_int_equal(addr_format(&a, buf, 11), 10);
	assert_int_equal(addr_format(&a, buf, 10), -ENOSPC);
	addr_set_port(&a, 443);
	assert_int_equal(addr_port(&a), 443);
	assert_int_equal(parse("unix:/x", ADDR_F_UNIX, 0, &a, &why), 0);
	assert_int_equal(addr_format_ip(&a, buf, sizeof(buf)), -EAFNOSUPPORT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_ipv4),	    cmocka_unit_test(test_parse_ipv6),
	    cmocka_unit_test(test_parse_unix),	    cmocka_unit_test(test_default_and_no_port),
	    cmocka_unit_test(test_parse_errors),    cmocka_unit_test(test_embedded_nul_is_refused),
	    cmocka_unit_test(test_from_sockaddr),   cmocka_unit_test(test_normalize_mapped),
	    cmocka_unit_test(test_compare_and_key), cmocka_unit_test(test_format_ip_and_space),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
