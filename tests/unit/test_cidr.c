/* Tests for cidr: parsing with exact reasons (inputs before a guard page,
 * every prefix length), host bits, matching for IPv4, IPv6 and v4-mapped
 * addresses, and lists. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cidr.h"
#include "guard.h"

static int parse_n(const char *s, size_t n, unsigned flags, struct cidr *c, const char **why)
{
	void *g = guard_dup(s, n);
	int rc = cidr_parse(g, n, flags, c, why);

	guard_free(g, n);
	return rc;
}

static struct cidr C(const char *s) {
	struct cidr c;
	const char *why = NULL;

	if (parse_n(s, strlen(s), 0, &c, &why))
		fail_msg("\"%s\": %s", s, why);
	return c;
}

static struct addr
A(const char *s) {
	struct addr a;
	const char *why = NULL;

	if (addr_parse(s, strlen(s), ADDR_F_PORT_OPTIONAL | ADDR_F_UNIX, 1, &a, &why))
		fail_msg("\"%s\": %s", s, why);
	return a;
}

static bool
M(const struct cidr *c, const char *s)
{
	struct addr a = A(s);

	return cidr_match(c, &a);
}

static bool LM(const struct cidr_list *l, const char *s)
{
	struct addr a = A(s);

	return cidr_list_match(l, &a);
}

static void expect_ok(const char *s, const char *text)
{
	char buf[CIDR_STR_MAX];
	struct cidr c = C(s), tmp;
	const char *why;

	assert_true(cidr_format(&c, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, text);
	for (size_t n = 0; n < strlen(s); n++)
		(void)parse_n(s, n, 0, &tmp, &why);
}

static void expect_err(const char *s, unsigned flags, int err, const char *reason)
{
	struct cidr c;
	const char *why = NULL;

	assert_int_equal(parse_n(s, strlen(s), flags, &c, &why), err);
	assert_non_null(why);
	assert_string_equal(why, reason);
}

static void test_parse_good(void **state)
{
	expect_ok("10.0.0.0/8", "10.0.0.0/8");
	expect_ok("0.0.0.0/0", "0.0.0.0/0");
	expect_ok("127.0.0.1", "127.0.0.1/32");
	expect_ok("192.168.1.128/25", "192.168.1.128/25");
	expect_ok("::1/128", "::1/128");
	expect_ok("::1", "::1/128");
	expect_ok("::/0", "::/0");
	expect_ok("2001:db8::/32", "2001:db8::/32");
	expect_ok("::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104");
	assert_int_equal(C("10.0.0.0/8").prefix, 8);
	assert_int_equal(C("10.0.0.0/8").family, AF_INET);
	assert_int_equal(C("::1").prefix, 128);
}

static void test_parse_errors(void **state)
{
	expect_err("", 0, -EINVAL, "empty CIDR");
	expect_err("10.0.0.1/8", 0, -EINVAL, "host bits set");
	expect_err("192.168.1.129/25", 0, -EINVAL, "host bits set");
	expect_err("2001:db8::1/32", 0, -EINVAL, "host bits set");
	expect_err("10.0.0.0/33", 0, -ERANGE, "prefix length above 32");
	expect_err("10.0.0.0/1000", 0, -ERANGE, "prefix length above 32");
	expect_err("::/129", 0, -ERANGE, "prefix length above 128");
	expect_err("10.0.0.0/", 0, -EINVAL, "missing prefix length after '/'");
	expect_err("10.0.0.0/08", 0, -EINVAL, "leading zeros in prefix length");
	expect_err("10.0.0.0/8x", 0, -EINVAL, "prefix length must be a decimal number");
	expect_err("10.0.0.0/-8", 0, -EINVAL, "prefix length must be a decimal number");
	expect_err("/8", 0, -EINVAL, "missing address before '/'");
	expect_err("10.0.0/8", 0, -EINVAL, "invalid IPv4 address");
	expect_err("10.0.0.0.0/8", 0, -EINVAL, "invalid IPv4 address");
	expect_err("1.2.3.4:80", 0, -EINVAL, "a CIDR has no port");
	expect_err("1.2.3.4:80/32", 0, -EINVAL, "a CIDR has no port");
	expect_err("::g/64", 0, -EINVAL, "invalid IPv6 address");
	expect_err("fe80::1%lo/64", 0, -EINVAL, "invalid IPv6 address");
	expect_err("localhost/32", 0, -EINVAL, "host names are not accepted, use an IP address");
}

static void test_host_bits_flag(void **state)
{
	char buf[CIDR_STR_MAX];
	struct cidr c;
	const char *why;

	assert_int_equal(parse_n("10.0.0.5/24", 11, CIDR_F_HOST_BITS, &c, &why), 0);
	assert_true(cidr_has_host_bits(&c));
	cidr_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.5/24");
	cidr_mask(&c);
	assert_false(cidr_has_host_bits(&c));
	cidr_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.0/24");
	assert_int_equal(parse_n("2001:db8::ff/121", 16, CIDR_F_HOST_BITS, &c, &why), 0);
	cidr_mask(&c);
	cidr_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::80/121");
	expect_err("10.0.0.0/33", CIDR_F_HOST_BITS, -ERANGE, "prefix length above 32");
}

static void test_match_ipv4(void **state)
{
	struct cidr net = C("10.1.0.0/16"), host = C("127.0.0.1"), all = C("0.0.0.0/0");
	struct cidr odd = C("192.168.1.128/25");

	assert_true(M(&net, "10.1.0.0"));
	assert_true(M(&net, "10.1.255.255:80"));
	assert_false(M(&net, "10.2.0.0"));
	assert_false(M(&net, "11.1.0.1"));
	assert_true(M(&host, "127.0.0.1:9"));
	assert_false(M(&host, "127.0.0.2"));
	assert_true(M(&all, "203.0.113.9"));
	assert_true(M(&odd, "192.168.1.200"));
	assert_false(M(&odd, "192.168.1.127"));
	/* IPv4 CIDRs never match IPv6 clients, nor unix peers */
	assert_false(M(&all, "::1"));
	assert_false(M(&all, "unix:/x"));
}

static void test_match_ipv6(void **state)
{
	struct cidr net = C("2001:db8::/32"), any = C("::/0"), lo = C("::1");

	assert_true(M(&net, "[2001:db8:ffff::1]:80"));
	assert_false(M(&net, "2001:db9::1"));
	assert_true(M(&lo, "::1"));
	assert_true(M(&any, "fe80::1%lo"));
	/* "::/0" is every IPv6 client, not every client */
	assert_false(M(&any, "1.2.3.4"));
	assert_false(M(&lo, "0.0.0.1"));
}

static void test_match_v4_mapped(void **state)
{
	struct cidr v4 = C("127.0.0.0/8"), mapped = C("::ffff:10.0.0.0/104");
	struct cidr short6 = C("::/64");
	struct addr m = A("[::ffff:127.0.0.5]:4000"), plain = A("10.9.9.9");

	/* a dual-stack listener reports v4 clients as ::ffff:a.b.c.d */
	assert_true(cidr_match(&v4, &m));
	assert_false(M(&v4, "::ffff:128.0.0.1"));
	/* a v4-mapped CIDR matches the plain and the mapped form alike */
	assert_true(cidr_match(&mapped, &plain));
	assert_true(M(&mapped, "::ffff:10.1.2.3"));
	assert_false(M(&mapped, "11.0.0.1"));
	/* shorter IPv6 prefixes contain ::ffff:0:0/96 but do not match IPv4 */
	assert_false(cidr_match(&short6, &plain));
	assert_false(cidr_match(&short6, &m));
}

static void test_list(void **state)
{
	struct cidr_list l;
	struct cidr c = C("10.0.0.0/8");
	int rc = 0;

	cidr_list_init(&l);
	assert_false(LM(&l, "10.0.0.1"));
	assert_int_equal(cidr_list_add(&l, &c), 0);
	c = C("2001:db8::/32");
	assert_int_equal(cidr_list_add(&l, &c), 0);
	c = C("127.0.0.1");
	assert_int_equal(cidr_list_add(&l, &c), 0);
	assert_true(LM(&l, "10.200.0.1"));
	assert_true(LM(&l, "2001:db8::5"));
	assert_true(LM(&l, "::ffff:127.0.0.1"));
	assert_false(LM(&l, "127.0.0.2"));
	assert_false(LM(&l, "unix:/x"));
	cidr_list_free(&l);
	assert_int_equal(l.n, 0);
	cidr_list_free(&l); /* safe twice */

	/* the hard limit keeps the linear match bounded */
	for (int i = 0; i < CIDR_LIST_MAX && rc == 0; i++)
		rc = cidr_list_add(&l, &c);
	assert_int_equal(rc, 0);
	assert_int_equal(cidr_list_add(&l, &c), -E2BIG);
	assert_true(LM(&l, "127.0.0.1"));
	cidr_list_free(&l);
}

static void test_equal_and_format_space(void **state)
{
	struct cidr a = C("10.0.0.0/8"), b = C("10.0.0.0/8"), c = C("10.0.0.0/9");
	char buf[CIDR_STR_MAX];

	assert_true(cidr_equal(&a, &b));
	assert_false(cidr_equal(&a, &c));
	assert_int_equal(cidr_format(&a, buf, 10), -ENOSPC);
	assert_int_equal(cidr_format(&a, buf, 11), 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),	   cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_host_bits_flag), cmocka_unit_test(test_match_ipv4),
	    cmocka_unit_test(test_match_ipv6),	   cmocka_unit_test(test_match_v4_mapped),
	    cmocka_unit_test(test_list),	   cmocka_unit_test(test_equal_and_format_space),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
