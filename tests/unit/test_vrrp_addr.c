/* Tests for the pure part of vrrp_addr.c: VIP strings as the config gives
 * them (default prefixes as keepalived's, refused forms) and back. The
 * netlink calls are exercised by tests/system/test_vrrp.py in namespaces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "../../l4/vrrp/vrrp_addr.h"

static void test_parse_and_format(void **state)
{
	struct vrrp_vip v, w;
	const char *why = NULL;
	char buf[64];

	assert_int_equal(vrrp_vip_parse("10.77.1.100/24", &v, &why), 0);
	assert_int_equal(v.family, AF_INET);
	assert_int_equal(v.prefix, 24);
	vrrp_vip_format(&v, buf, sizeof(buf));
	assert_string_equal(buf, "10.77.1.100/24");
	/* No prefix: a host address, as keepalived assumes. */
	assert_int_equal(vrrp_vip_parse("10.77.1.100", &w, &why), 0);
	assert_int_equal(w.prefix, 32);
	assert_true(vrrp_vip_equal(&v, &w)); /* same address, prefix aside */
	assert_int_equal(vrrp_vip_parse("fd77::100", &v, &why), 0);
	assert_int_equal(v.family, AF_INET6);
	assert_int_equal(v.prefix, 128);
	assert_false(vrrp_vip_equal(&v, &w));
	assert_int_equal(vrrp_vip_parse("fd77::100/64", &v, &why), 0);
	vrrp_vip_format(&v, buf, sizeof(buf));
	assert_string_equal(buf, "fd77::100/64");
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
	    "",
	    "/24",
	    "vip.example.com",
	    "10.77.1.100/33",
	    "10.77.1.100/0",
	    "10.77.1.100/",
	    "10.77.1.100/24x",
	    "224.0.0.18",
	    "0.0.0.0",
	    "127.0.0.1",
	    "255.255.255.255",
	    "ff02::12",
	    "::",
	    "::1",
	    "::ffff:10.0.0.1",
	    "fd77::1/129",
	    "10.77.1.1 /24",
	};
	struct vrrp_vip v;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *why = NULL;

		assert_int_equal(vrrp_vip_parse(bad[i], &v, &why), -EINVAL);
		assert_non_null(why);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_and_format),
	    cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
