/* Tests for vrrp_pkt.c: adverts captured from keepalived 2.2.7 (VRRPv3,
 * IPv4 and IPv6) parse and are rebuilt byte for byte, every receive check
 * refuses what it should with the right reason, and no parse reads past the
 * buffer (every input sits right before an unreadable page). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "guard.h"
#include "../../l4/vrrp/vrrp_pkt.h"

/* keepalived 2.2.7, vrid 51, priority 200, advert_int 0.1, VIPs
 * 10.77.9.100 and .101, from 10.77.9.1 to 224.0.0.18 (tcpdump -xx). */
static const uint8_t ka_v4[] = {
    0x45, 0xc0, 0x00, 0x24, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xc7, 0x48,
    0x0a, 0x4d, 0x09, 0x01, 0xe0, 0x00, 0x00, 0x12, 0x31, 0x33, 0xc8, 0x02,
    0x00, 0x0a, 0xeb, 0x7b, 0x0a, 0x4d, 0x09, 0x64, 0x0a, 0x4d, 0x09, 0x65,
};

/* keepalived 2.2.7, vrid 52, priority 150, advert_int 0.1, VIP fd77::100,
 * from fe80::909f:bbff:fe58:8e43 to ff02::12: the payload of the IPv6 packet. */
static const uint8_t ka_v6[] = {
    0x31, 0x34, 0x96, 0x01, 0x00, 0x0a, 0x62, 0xee, 0xfd, 0x77, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
};
static const char ka_v6_src[] = "fe80::909f:bbff:fe58:8e43";

static int parse4(const uint8_t *data, size_t len, unsigned flags, struct vrrp_pkt_view *v,
		  enum vrrp_pkt_reason *why)
{
	uint8_t *g = guard_dup(data, len);
	int rc = vrrp_pkt_parse4(g, len, flags, v, why);

	guard_free(g, len);
	return rc;
}

static int parse6(const uint8_t *data, size_t len, const char *src, int hops, bool unicast,
		  enum vrrp_pkt_reason *why)
{
	struct in6_addr s, d;
	struct vrrp_pkt_view v;
	uint8_t *g = guard_dup(data, len);
	int rc;

	inet_pton(AF_INET6, src, &s);
	inet_pton(AF_INET6, "ff02::12", &d);
	rc = vrrp_pkt_parse6(g, len, &s, &d, hops, unicast, &v, why);
	guard_free(g, len);
	return rc;
}

/* Fixes the VRRP checksum of an IPv4 packet after a test mutated it, so the
 * check under test is the one that fires. */
static void refresh_csum4(uint8_t *p, unsigned flags)
{
	union vrrp_pkt_ip s, d;
	size_t hl = (size_t)(p[0] & 0x0f) * 4, tot = (size_t)(p[2] << 8 | p[3]);
	uint16_t c;

	memcpy(&s.v4, p + 12, 4);
	memcpy(&d.v4, p + 16, 4);
	p[hl + 6] = p[hl + 7] = 0;
	c = vrrp_pkt_checksum(AF_INET, &s, &d, p + hl, tot - hl, flags);
	p[hl + 6] = (uint8_t)(c >> 8);
	p[hl + 7] = (uint8_t)c;
}

static void test_keepalived_v4_parses(void **state)
{
	struct vrrp_pkt_view v;
	enum vrrp_pkt_reason why;
	char buf[INET_ADDRSTRLEN];

	assert_int_equal(parse4(ka_v4, sizeof(ka_v4), 0, &v, &why), sizeof(ka_v4));
	assert_int_equal(why, VRRP_PKT_OK);
	assert_int_equal(v.family, AF_INET);
	assert_int_equal(v.vrid, 51);
	assert_int_equal(v.priority, 200);
	assert_int_equal(v.naddr, 2);
	assert_int_equal(v.max_adver_int, 10);
	assert_int_equal(v.ttl, 255);
	assert_string_equal(inet_ntop(AF_INET, &v.src.v4, buf, sizeof(buf)), "10.77.9.1");
	assert_string_equal(inet_ntop(AF_INET, &v.dst.v4, buf, sizeof(buf)), "224.0.0.18");
}

static void test_keepalived_v4_refused_as_v2_checksum(void **state)
{
	struct vrrp_pkt_view v;
	enum vrrp_pkt_reason why;

	assert_int_equal(parse4(ka_v4, sizeof(ka_v4), VRRP_PKT_F_CSUM_V2, &v, &why), -EBADMSG);
	assert_int_equal(why, VRRP_PKT_BAD_CHECKSUM);
}

static void test_build_v4_matches_keepalived(void **state)
{
	struct vrrp_pkt_tx tx = {.family = AF_INET, .vrid = 51, .priority = 200, .adver_int = 10};
	uint8_t out[64], addrs[8];
	struct vrrp_pkt_view v;
	enum vrrp_pkt_reason why;
	int n;

	memcpy(addrs, ka_v4 + 28, 8);
	memcpy(&tx.src.v4, ka_v4 + 12, 4);
	memcpy(&tx.dst.v4, ka_v4 + 16, 4);
	tx.naddr = 2;
	tx.addrs = addrs;
	n = vrrp_pkt_build(out, sizeof(out), &tx, true);
	assert_int_equal(n, sizeof(ka_v4));
	/* VRRP part identical; the IP id differs (keepalived counts, we leave it
	 * to the kernel), so compare the IP header without id and checksum. */
	assert_memory_equal(out + 20, ka_v4 + 20, 16);
	assert_memory_equal(out, ka_v4, 4);
	assert_memory_equal(out + 6, ka_v4 + 6, 4);
	assert_memory_equal(out + 12, ka_v4 + 12, 8);
	assert_int_equal(vrrp_csum_fold(vrrp_csum_add(0, out, 20)), 0);
	assert_int_equal(parse4(out, (size_t)n, 0, &v, &why), n);
	/* Without the IP header: the message alone. */
	assert_int_equal(vrrp_pkt_build(out, sizeof(out), &tx, false), 16);
	assert_memory_equal(out, ka_v4 + 20, 16);
}

static void test_csum_v2_roundtrip(void **state)
{
	struct vrrp_pkt_tx tx = {.family = AF_INET, .vrid = 7, .priority = 100, .adver_int = 100};
	uint8_t out[64], addr[4] = {10, 77, 0, 100};
	struct vrrp_pkt_view v;
	enum vrrp_pkt_reason why;
	int n;

	inet_pton(AF_INET, "10.77.0.1", &tx.src.v4);
	inet_pton(AF_INET, "224.0.0.18", &tx.dst.v4);
	tx.naddr = 1;
	tx.addrs = addr;
	tx.flags = VRRP_PKT_F_CSUM_V2;
	n = vrrp_pkt_build(out, sizeof(out), &tx, true);
	assert_int_equal(n, 32);
	assert_int_equal(parse4(out, 32, VRRP_PKT_F_CSUM_V2, &v, &why), 32);
	assert_int_equal(v.max_adver_int, 100);
	/* The message-only sum verifies on its own, no pseudo-header. */
	assert_int_equal(vrrp_csum_fold(vrrp_csum_add(0, out + 20, 12)), 0);
	assert_int_equal(parse4(out, 32, 0, &v, &why), -EBADMSG);
	assert_int_equal(why, VRRP_PKT_BAD_CHECKSUM);
}

static void test_every_prefix_is_truncated(void **state)
{
	struct vrrp_pkt_view v;
	enum vrrp_pkt_reason why;

	for (size_t len = 0; len < sizeof(ka_v4); len++) {
		assert_int_equal(parse4(ka_v4, len, 0, &v, &why), -EAGAIN);
		assert_int_equal(why, VRRP_PKT_TRUNCATED);
	}
	for (size_t len = 0; len < sizeof(ka_v6); len++) {
		assert_int_equal(parse6(ka_v6, len, ka_v6_src, 255, false, &why), -EAGAIN);
		assert_int_equal(why, VRRP_PKT_TRUNCATED);
	}
}

struct mutation {
	size_t off;
	uint8_t val;
	bool fix_csum;
	int rc;
	enum vrrp_pkt_reason why;
};

static void test_v4_checks(void **state)
{
	static const struct mutation m[] = {
	    {8, 64, true, -EBADMSG, VRRP_PKT_BAD_TTL},	      /* §7.1 TTL */
	    {8, 254, true, -EBADMSG, VRRP_PKT_BAD_TTL},	      /* one hop away */
	    {20, 0x21, true, -EBADMSG, VRRP_PKT_BAD_VERSION}, /* VRRPv2 */
	    {20, 0x32, true, -EBADMSG, VRRP_PKT_BAD_TYPE},
	    {25, 0x00, true, -EBADMSG, VRRP_PKT_BAD_INTERVAL},
	    {23, 0x01, true, -EBADMSG, VRRP_PKT_BAD_LENGTH}, /* count 1, two addresses */
	    {23, 0x03, true, -EAGAIN, VRRP_PKT_TRUNCATED},   /* count 3, two addresses */
	    {23, 0x40, true, -E2BIG, VRRP_PKT_TOO_MANY_ADDRS},
	    {27, 0x7c, false, -EBADMSG, VRRP_PKT_BAD_CHECKSUM},
	    {9, 17, true, -EBADMSG, VRRP_PKT_BAD_IP},	     /* protocol UDP */
	    {0, 0x65, true, -EBADMSG, VRRP_PKT_BAD_IP},	     /* IPv6 version nibble */
	    {0, 0x44, true, -EBADMSG, VRRP_PKT_BAD_IP},	     /* IHL 4 */
	    {6, 0x20, true, -EBADMSG, VRRP_PKT_BAD_IP},	     /* more fragments */
	    {12, 0xe0, true, -EBADMSG, VRRP_PKT_BAD_SOURCE}, /* multicast source */
	    {3, 0x14, true, -EBADMSG, VRRP_PKT_BAD_LENGTH},  /* tot_len 20 < bytes */
	};
	struct vrrp_pkt_view v;
	enum vrrp_pkt_reason why;
	uint8_t p[sizeof(ka_v4)];

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		memcpy(p, ka_v4, sizeof(p));
		p[m[i].off] = m[i].val;
		if (m[i].fix_csum && m[i].off >= 20)
			refresh_csum4(p, 0);
		assert_int_equal(parse4(p, sizeof(p), 0, &v, &why), m[i].rc);
		assert_int_equal(why, m[i].why);
	}
}

static void test_v4_trailing_byte_refused(void **state)
{
	uint8_t p[sizeof(ka_v4) + 1];
	struct vrrp_pkt_view v;
	enum vrrp_pkt_reason why;

	memcpy(p, ka_v4, sizeof(ka_v4));
	p[sizeof(ka_v4)] = 0;
	assert_int_equal(parse4(p, sizeof(p), 0, &v, &why), -EBADMSG);
	assert_int_equal(why, VRRP_PKT_BAD_LENGTH);
}

static void test_v4_reserved_bits_ignored(void **state)
{
	uint8_t p[sizeof(ka_v4)];
	struct vrrp_pkt_view v;
	enum vrrp_pkt_reason why;

	memcpy(p, ka_v4, sizeof(p));
	p[24] |= 0xf0; /* RFC 5798 §5.2.6: ignored on reception */
	refresh_csum4(p, 0);
	assert_int_equal(parse4(p, sizeof(p), 0, &v, &why), sizeof(p));
	assert_int_equal(v.max_adver_int, 10);
}

static void test_v4_ip_options_accepted(void **state)
{
	uint8_t p[sizeof(ka_v4) + 4];
	struct vrrp_pkt_view v;
	enum vrrp_pkt_reason why;

	memcpy(p, ka_v4, 20);
	memset(p + 20, 1, 4); /* four NOP options */
	memcpy(p + 24, ka_v4 + 20, 16);
	p[0] = 0x46;
	p[3] = sizeof(p);
	assert_int_equal(parse4(p, sizeof(p), 0, &v, &why), sizeof(p));
	assert_int_equal(v.vrid, 51);
}

static void test_keepalived_v6_parses(void **state)
{
	struct in6_addr s, d;
	struct vrrp_pkt_view v;
	enum vrrp_pkt_reason why;
	uint8_t *g = guard_dup(ka_v6, sizeof(ka_v6));

	inet_pton(AF_INET6, ka_v6_src, &s);
	inet_pton(AF_INET6, "ff02::12", &d);
	assert_int_equal(vrrp_pkt_parse6(g, sizeof(ka_v6), &s, &d, 255, false, &v, &why),
			 sizeof(ka_v6));
	assert_int_equal(v.vrid, 52);
	assert_int_equal(v.priority, 150);
	assert_int_equal(v.naddr, 1);
	assert_int_equal(v.max_adver_int, 10);
	assert_memory_equal(v.addrs, ka_v6 + 8, 16);
	guard_free(g, sizeof(ka_v6));
}

static void test_build_v6_matches_keepalived(void **state)
{
	struct vrrp_pkt_tx tx = {.family = AF_INET6, .vrid = 52, .priority = 150, .adver_int = 10};
	uint8_t out[64];

	inet_pton(AF_INET6, ka_v6_src, &tx.src.v6);
	inet_pton(AF_INET6, "ff02::12", &tx.dst.v6);
	tx.naddr = 1;
	tx.addrs = ka_v6 + 8;
	/* No IPv4 header for IPv6, whatever ip_header says. */
	assert_int_equal(vrrp_pkt_build(out, sizeof(out), &tx, true), sizeof(ka_v6));
	assert_memory_equal(out, ka_v6, sizeof(ka_v6));
}

static void test_v6_checks(void **state)
{
	enum vrrp_pkt_reason why;
	uint8_t p[sizeof(ka_v6)];

	assert_int_equal(parse6(ka_v6, sizeof(ka_v6), ka_v6_src, 64, false, &why), -EBADMSG);
	assert_int_equal(why, VRRP_PKT_BAD_TTL);
	assert_int_equal(parse6(ka_v6, sizeof(ka_v6), ka_v6_src, -1, false, &why), -EBADMSG);
	assert_int_equal(why, VRRP_PKT_BAD_TTL);
	/* §5.1.2.1: multicast mode needs a link-local source... */
	assert_int_equal(parse6(ka_v6, sizeof(ka_v6), "fd77::1", 255, false, &why), -EBADMSG);
	assert_int_equal(why, VRRP_PKT_BAD_SOURCE);
	/* ...unicast peers may use global addresses (the checksum then fails,
	 * as the pseudo-header changed: proof that it is covered). */
	assert_int_equal(parse6(ka_v6, sizeof(ka_v6), "fd77::1", 255, true, &why), -EBADMSG);
	assert_int_equal(why, VRRP_PKT_BAD_CHECKSUM);
	memcpy(p, ka_v6, sizeof(p));
	p[9] ^= 1;
	assert_int_equal(parse6(p, sizeof(p), ka_v6_src, 255, false, &why), -EBADMSG);
	assert_int_equal(why, VRRP_PKT_BAD_CHECKSUM);
}

static void test_build_limits(void **state)
{
	struct vrrp_pkt_tx tx = {.family = AF_INET, .vrid = 1, .priority = 100, .adver_int = 100};
	uint8_t out[VRRP_PKT_MAX], addrs[VRRP_MAX_ADDRS * 16 + 16] = {0};

	tx.addrs = addrs;
	tx.naddr = 1;
	assert_int_equal(vrrp_pkt_build(out, 31, &tx, true), -E2BIG);
	assert_int_equal(vrrp_pkt_build(out, 32, &tx, true), 32);
	tx.naddr = VRRP_MAX_ADDRS + 1;
	assert_int_equal(vrrp_pkt_build(out, sizeof(out), &tx, true), -E2BIG);
	tx.naddr = VRRP_MAX_ADDRS;
	tx.family = AF_INET6;
	assert_int_equal(vrrp_pkt_build(out, sizeof(out), &tx, false), 8 + 16 * VRRP_MAX_ADDRS);
	tx.adver_int = 0;
	assert_int_equal(vrrp_pkt_build(out, sizeof(out), &tx, false), -EINVAL);
	tx.adver_int = 4096;
	assert_int_equal(vrrp_pkt_build(out, sizeof(out), &tx, false), -EINVAL);
	tx.adver_int = 4095;
	tx.family = AF_UNIX;
	assert_int_equal(vrrp_pkt_build(out, sizeof(out), &tx, false), -EINVAL);
}

static void test_reason_names(void **state)
{
	for (int i = 0; i < VRRP_PKT__COUNT; i++) {
		assert_non_null(vrrp_pkt_reason_name((enum vrrp_pkt_reason)i));
		assert_string_not_equal(vrrp_pkt_reason_name((enum vrrp_pkt_reason)i), "unknown");
		assert_string_not_equal(vrrp_pkt_reason_text((enum vrrp_pkt_reason)i),
					"unknown reason");
	}
	assert_string_equal(vrrp_pkt_reason_name(VRRP_PKT__COUNT), "unknown");
	assert_string_equal(vrrp_pkt_reason_name(VRRP_PKT_BAD_TTL), "bad_ttl");
}

static void test_peek_vrid(void **state)
{
	uint8_t *g = guard_dup(ka_v4, sizeof(ka_v4));

	assert_int_equal(vrrp_pkt_peek_vrid(AF_INET, g, sizeof(ka_v4)), 51);
	guard_free(g, sizeof(ka_v4));
	for (size_t len = 0; len <= 21; len++) {
		g = guard_dup(ka_v4, len); /* every prefix up to the VRID byte */
		assert_int_equal(vrrp_pkt_peek_vrid(AF_INET, g, len), -EAGAIN);
		guard_free(g, len);
	}
	g = guard_dup(ka_v6, sizeof(ka_v6));
	assert_int_equal(vrrp_pkt_peek_vrid(AF_INET6, g, sizeof(ka_v6)), 52);
	assert_int_equal(vrrp_pkt_peek_vrid(AF_INET6, g + sizeof(ka_v6) - 1, 1), -EAGAIN);
	guard_free(g, sizeof(ka_v6));
}

static void test_csum_odd_length(void **state)
{
	/* RFC 1071 §3 example bytes, plus an odd tail padded with zero. */
	static const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	static const uint8_t odd[] = {0x01};

	assert_int_equal(vrrp_csum_add(0, b, 8), 0xddf2);
	assert_int_equal(vrrp_csum_fold(0xddf2), 0x220d);
	assert_int_equal(vrrp_csum_add(0, odd, 1), 0x0100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keepalived_v4_parses),
	    cmocka_unit_test(test_keepalived_v4_refused_as_v2_checksum),
	    cmocka_unit_test(test_build_v4_matches_keepalived),
	    cmocka_unit_test(test_csum_v2_roundtrip),
	    cmocka_unit_test(test_every_prefix_is_truncated),
	    cmocka_unit_test(test_v4_checks),
	    cmocka_unit_test(test_v4_trailing_byte_refused),
	    cmocka_unit_test(test_v4_reserved_bits_ignored),
	    cmocka_unit_test(test_v4_ip_options_accepted),
	    cmocka_unit_test(test_keepalived_v6_parses),
	    cmocka_unit_test(test_build_v6_matches_keepalived),
	    cmocka_unit_test(test_v6_checks),
	    cmocka_unit_test(test_build_limits),
	    cmocka_unit_test(test_reason_names),
	    cmocka_unit_test(test_peek_vrid),
	    cmocka_unit_test(test_csum_odd_length),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
