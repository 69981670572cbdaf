/* Tests for vrrp_garp.c: the gratuitous ARP and unsolicited NA frames byte
 * for byte (with a valid ICMPv6 checksum), and the announcement schedule
 * (keepalived's 5 + 5 after 5 s, spacing, refresh, stop). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "../../l4/vrrp/vrrp_garp.h"
#include "../../l4/vrrp/vrrp_pkt.h"

static const uint8_t mac[6] = {0x00, 0x00, 0x5e, 0x00, 0x01, 0x33};

static void test_arp_frame(void **state)
{
	static const uint8_t want[VRRP_GARP_ARP_LEN] = {
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x5e, 0x00, 0x01, 0x33, 0x08, 0x06,
	    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x00, 0x00, 0x5e, 0x00, 0x01, 0x33,
	    10,	  77,	1,    100,  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10,   77,   1,	  100,
	};
	uint8_t buf[VRRP_GARP_ARP_LEN];
	struct in_addr ip;

	inet_pton(AF_INET, "10.77.1.100", &ip);
	assert_int_equal(vrrp_garp_build_arp(buf, mac, ip), VRRP_GARP_ARP_LEN);
	assert_memory_equal(buf, want, sizeof(want));
}

static void test_na_frame(void **state)
{
	uint8_t buf[VRRP_GARP_NA_LEN], ph[8] = {0, 0, 0, 32, 0, 0, 0, 58};
	struct in6_addr src, target;
	uint32_t sum;

	inet_pton(AF_INET6, "fe80::1", &src);
	inet_pton(AF_INET6, "fd77::100", &target);
	assert_int_equal(vrrp_garp_build_na(buf, mac, &src, &target, true), VRRP_GARP_NA_LEN);
	assert_memory_equal(buf, ((const uint8_t[]){0x33, 0x33, 0, 0, 0, 1}), 6);
	assert_memory_equal(buf + 6, mac, 6);
	assert_int_equal(buf[12] << 8 | buf[13], 0x86dd);
	assert_int_equal(buf[14], 0x60);
	assert_int_equal(buf[18] << 8 | buf[19], 32); /* payload length */
	assert_int_equal(buf[20], 58);
	assert_int_equal(buf[21], 255);
	assert_memory_equal(buf + 22, &src, 16);
	assert_int_equal(buf[38], 0xff);
	assert_int_equal(buf[53], 0x01);
	assert_int_equal(buf[54], 136);
	assert_int_equal(buf[58], 0xa0); /* Router + Override, not Solicited */
	assert_memory_equal(buf + 62, &target, 16);
	assert_int_equal(buf[78], 2);
	assert_int_equal(buf[79], 1);
	assert_memory_equal(buf + 80, mac, 6);
	/* The checksum verifies over the pseudo-header and the message. */
	sum = vrrp_csum_add(0, buf + 22, 32);
	sum = vrrp_csum_add(sum, ph, 8);
	assert_int_equal(vrrp_csum_fold(vrrp_csum_add(sum, buf + 54, 32)), 0);
	vrrp_garp_build_na(buf, mac, &src, &target, false);
	assert_int_equal(buf[58], 0x20);
}

static unsigned drain(struct vrrp_garp_sched *s, uint64_t now)
{
	unsigned n = 0;

	while (vrrp_garp_due(s, now))
		n++;
	return n;
}

static void test_default_schedule(void **state)
{
	struct vrrp_garp_cfg cfg;
	struct vrrp_garp_sched s;
	uint64_t t0 = 1000000;

	vrrp_garp_cfg_default(&cfg);
	vrrp_garp_start(&s, &cfg, t0);
	assert_int_equal(drain(&s, t0), 5);
	assert_int_equal(vrrp_garp_next(&s), t0 + 5000000);
	assert_int_equal(drain(&s, t0 + 4999999), 0);
	assert_int_equal(drain(&s, t0 + 5000000), 5);
	assert_int_equal(vrrp_garp_next(&s), 0);
	assert_int_equal(drain(&s, t0 + 60000000), 0);
}

static void test_spaced_schedule_with_refresh(void **state)
{
	struct vrrp_garp_cfg cfg = {
	    .count = 3, .interval_us = 100000, .repeat_delay_us = 0, .refresh_us = 2000000};
	struct vrrp_garp_sched s;

	vrrp_garp_start(&s, &cfg, 0);
	assert_int_equal(drain(&s, 0), 1);
	assert_int_equal(vrrp_garp_next(&s), 100000);
	assert_int_equal(drain(&s, 100000), 1);
	assert_int_equal(drain(&s, 200000), 1);
	assert_int_equal(vrrp_garp_next(&s), 2200000);
	assert_int_equal(drain(&s, 2200000), 1);
	assert_int_equal(vrrp_garp_next(&s), 4200000);
	vrrp_garp_stop(&s);
	assert_int_equal(vrrp_garp_next(&s), 0);
	assert_int_equal(drain(&s, 9000000), 0);
}

static void test_zero_count_sends_nothing(void **state)
{
	struct vrrp_garp_cfg cfg = {.count = 0};
	struct vrrp_garp_sched s;

	vrrp_garp_start(&s, &cfg, 0);
	assert_int_equal(drain(&s, 0), 0);
	assert_int_equal(vrrp_garp_next(&s), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_arp_frame),
	    cmocka_unit_test(test_na_frame),
	    cmocka_unit_test(test_default_schedule),
	    cmocka_unit_test(test_spaced_schedule_with_refresh),
	    cmocka_unit_test(test_zero_count_sends_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
