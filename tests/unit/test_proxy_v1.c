/* Tests for the PROXY v1 codec (proxy_v1.c): lines written by hand from
 * doc/proxy-protocol.txt §2.1, one test per refusal, encoder output and
 * round trips. Every decode runs on a copy that ends at an unreadable page,
 * on every prefix, and split in two pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "guard.h"
#include "proxy.h"

#define V(lit) ((const uint8_t *)(lit)), (sizeof(lit) - 1)

static const char payload[] = "GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n";

/* --- helpers ----------------------------------------------------------------- */

/* Expects `line` (a complete header) to decode whole, with the payload after
 * it left alone, -EAGAIN on every shorter prefix, and the same result when
 * it arrives in two pieces. Returns the decoded header in *out. */
static void expect_ok(const char *line, struct proxy_hdr *out)
{
	size_t want = strlen(line), n = want + sizeof(payload) - 1;
	uint8_t v[256], rx[256];
	struct proxy_hdr tmp;
	enum proxy_err why;
	int rc;

	assert_true(n <= sizeof(v));
	memcpy(v, line, want);
	memcpy(v + want, payload, sizeof(payload) - 1);
	for (size_t k = 0; k <= n; k++) {
		uint8_t *g = guard_dup(v, k);

		rc = proxy_decode(g, k, &tmp, &why);
		if (rc != (k < want ? -EAGAIN : (int)want))
			fail_msg("%zu bytes of \"%s\": rc %d (%s)", k, line, rc,
				 proxy_strerror(why));
		assert_int_equal(why, PROXY_ERR_NONE);
		guard_free(g, k);

		memcpy(rx, v, k);
		assert_int_equal(proxy_decode(rx, k, &tmp, &why), k < want ? -EAGAIN : (int)want);
		memcpy(rx + k, v + k, n - k);
		assert_int_equal(proxy_decode(rx, n, &tmp, &why), (int)want);
	}
	{
		uint8_t *g = guard_dup(v, want);

		assert_int_equal(proxy_decode(g, want, out, &why), (int)want);
		guard_free(g, want);
	}
	assert_int_equal(out->version, 1);
	assert_int_equal(out->cmd, PROXY_CMD_PROXY);
	assert_int_equal(out->hdr_len, want);
}

/* Expects -EAGAIN for every prefix shorter than err_at and -EBADMSG with
 * `err` from err_at bytes on: the refusal comes as soon as the wrong byte is
 * in and never changes as more bytes come. err_at 0 means "the whole line". */
static void expect_err_at(const char *line, size_t err_at, enum proxy_err err)
{
	size_t n = strlen(line);
	struct proxy_hdr out;
	enum proxy_err why;

	if (err_at == 0)
		err_at = n;
	for (size_t k = 0; k <= n; k++) {
		uint8_t *g = guard_dup(line, k);
		int rc = proxy_decode(g, k, &out, &why);

		if (k < err_at && rc != -EAGAIN)
			fail_msg("%zu bytes of \"%s\": rc %d (%s), want -EAGAIN", k, line, rc,
				 proxy_strerror(why));
		if (k >= err_at && (rc != -EBADMSG || why != err))
			fail_msg("%zu bytes of \"%s\": rc %d (%s), want %s", k, line, rc,
				 proxy_strerror(why), proxy_strerror(err));
		guard_free(g, k);
	}
}

static void expect_err(const char *line, enum proxy_err err)
{
	expect_err_at(line, 0, err);
}

static const struct sockaddr_in *in4(const struct sockaddr_storage *ss)
{
	return (const struct sockaddr_in *)ss;
}

static const struct sockaddr_in6 *in6(const struct sockaddr_storage *ss)
{
	return (const struct sockaddr_in6 *)ss;
}

static void assert_in6(const struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct in6_addr a;

	assert_int_equal(inet_pton(AF_INET6, ip, &a), 1);
	assert_int_equal(in6(ss)->sin6_family, AF_INET6);
	assert_memory_equal(&in6(ss)->sin6_addr, &a, 16);
	assert_int_equal(ntohs(in6(ss)->sin6_port), port);
}

/* --- valid lines ----------------------------------------------------------------- */

/* The example of §2.1. */
static void test_tcp4(void **state)
{
	struct proxy_hdr h;

	expect_ok("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", &h);
	assert_true(h.has_addr);
	assert_int_equal(h.family, AF_INET);
	assert_int_equal(h.socktype, SOCK_STREAM);
	assert_int_equal(h.src_len, sizeof(struct sockaddr_in));
	assert_int_equal(in4(&h.src)->sin_family, AF_INET);
	assert_int_equal(ntohl(in4(&h.src)->sin_addr.s_addr), 0xC0A80001);
	assert_int_equal(ntohl(in4(&h.dst)->sin_addr.s_addr), 0xC0A8000B);
	assert_int_equal(ntohs(in4(&h.src)->sin_port), 56324);
	assert_int_equal(ntohs(in4(&h.dst)->sin_port), 443);
	assert_null(h.tlvs.ptr);
}

/* The 56-byte worst case for TCP4 of §2.1, and the smallest values. */
static void test_tcp4_limits(void **state)
{
	struct proxy_hdr h;

	expect_ok("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", &h);
	assert_int_equal(h.hdr_len, 56);
	assert_int_equal(in4(&h.src)->sin_addr.s_addr, 0xFFFFFFFF);
	assert_int_equal(ntohs(in4(&h.dst)->sin_port), 65535);
	expect_ok("PROXY TCP4 0.0.0.0 10.0.0.10 0 0\r\n", &h);
	assert_int_equal(in4(&h.src)->sin_addr.s_addr, 0);
	assert_int_equal(ntohl(in4(&h.dst)->sin_addr.s_addr), 0x0A00000A);
	assert_int_equal(in4(&h.src)->sin_port, 0);
}

static void test_tcp6(void **state)
{
	struct proxy_hdr h;

	expect_ok("PROXY TCP6 2001:db8::1 2001:db8::2 12345 443\r\n", &h);
	assert_int_equal(h.family, AF_INET6);
	assert_int_equal(h.src_len, sizeof(struct sockaddr_in6));
	assert_in6(&h.src, "2001:db8::1", 12345);
	assert_in6(&h.dst, "2001:db8::2", 443);

	/* "upper or lower case", full groups, the 104-byte worst case */
	expect_ok("PROXY TCP6 FFFF:ffff:FFFF:ffff:FFFF:ffff:FFFF:ffff "
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
		  &h);
	assert_int_equal(h.hdr_len, 104);
	assert_in6(&h.src, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
	expect_ok("PROXY TCP6 :: ::1 1 2\r\n", &h);
	assert_in6(&h.src, "::", 1);
	assert_in6(&h.dst, "::1", 2);
	expect_ok("PROXY TCP6 fe80:0000:0000:0000:0000:0000:0000:0001 1:2:3:4:5:6:7:8 80 8080\r\n",
		  &h);
	assert_in6(&h.src, "fe80::1", 80);
	assert_in6(&h.dst, "1:2:3:4:5:6:7:8", 8080);
}

/* §2.1: UNKNOWN is accepted, the rest of the line ignored, no address. */
static void test_unknown(void **state)
{
	struct proxy_hdr h;
	char line[PPV1_MAX_LINE + 1];

	expect_ok("PROXY UNKNOWN\r\n", &h);
	assert_int_equal(h.hdr_len, 15);
	assert_false(h.has_addr);
	assert_int_equal(h.family, AF_UNSPEC);
	assert_int_equal(h.src_len, 0);
	expect_ok("PROXY UNKNOWN 1.2.3.4 whatever, even  junk: 01 99999\r\n", &h);
	assert_false(h.has_addr);

	/* the 107-byte worst case of §2.1 is the longest line accepted */
	strcpy(line, "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n");
	assert_int_equal(strlen(line), PPV1_MAX_LINE);
	expect_ok(line, &h);
	assert_int_equal(h.hdr_len, PPV1_MAX_LINE);
}

/* --- refusals, one per check ----------------------------------------------------- */

static void test_err_sig(void **state)
{
	expect_err_at("PROXZ TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 5, PROXY_ERR_SIG);
	expect_err_at("PROXY\r\n", 6, PROXY_ERR_SIG);
	expect_err_at("proxy TCP4", 1, PROXY_ERR_SIG);
	expect_err_at("PR0XY", 3, PROXY_ERR_SIG);
}

static void test_err_line_too_long(void **state)
{
	char line[160];

	/* no CRLF in the first 107 bytes: refused at the 107th, no later */
	memset(line, 'a', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	strcpy(line + 150, "\r\n");
	expect_err_at(line, PPV1_MAX_LINE, PROXY_ERR_V1_TOO_LONG);
	/* a CR as the 107th byte would make a 108-byte line */
	line[PPV1_MAX_LINE - 1] = '\r';
	line[PPV1_MAX_LINE] = '\n';
	line[PPV1_MAX_LINE + 1] = '\0';
	expect_err_at(line, PPV1_MAX_LINE, PROXY_ERR_V1_TOO_LONG);
	/* a TCP6 line padded past the limit with valid characters */
	strcpy(line, "PROXY TCP6 0000:0000:0000:0000:0000:0000:0000:0000:0000:0000 "
		     "0000:0000:0000:0000:0000:0000:0000:0000:0000:0000 1 2\r\n");
	expect_err_at(line, PPV1_MAX_LINE, PROXY_ERR_V1_TOO_LONG);
}

static void test_err_missing_crlf(void **state)
{
	/* CR not followed by LF: refused when the byte after the CR is in */
	expect_err_at("PROXY UNKNOWN\rX", 15, PROXY_ERR_V1_CRLF);
	expect_err_at("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", 32, PROXY_ERR_V1_CRLF);
	expect_err_at("PROXY UNKNOWN \r ", 16, PROXY_ERR_V1_CRLF);
}

static void test_err_bare_lf(void **state)
{
	expect_err_at("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", 31, PROXY_ERR_V1_BARE_LF);
	expect_err_at("PROXY UNKNOWN\n", 14, PROXY_ERR_V1_BARE_LF);
	expect_err_at("PROXY UNKNOWN junk\nmore\r\n", 19, PROXY_ERR_V1_BARE_LF);
}

static void test_err_proto(void **state)
{
	expect_err_at("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", 10, PROXY_ERR_V1_PROTO);
	expect_err_at("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", 8, PROXY_ERR_V1_PROTO);
	expect_err_at("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", 7, PROXY_ERR_V1_PROTO);
	expect_err_at("PROXY UNKNOWNX\r\n", 14, PROXY_ERR_V1_PROTO);
	expect_err_at("PROXY TCP4\r\n", 11, PROXY_ERR_V1_PROTO);
	expect_err_at("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 7, PROXY_ERR_V1_PROTO);
	expect_err_at("PROXY \r\n", 7, PROXY_ERR_V1_PROTO);
}

static void test_err_fields(void **state)
{
	expect_err("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", PROXY_ERR_V1_FIELDS);
	expect_err("PROXY TCP4 1.2.3.4\r\n", PROXY_ERR_V1_FIELDS);
	expect_err("PROXY TCP4 \r\n", PROXY_ERR_V1_FIELDS);
	/* a fifth field is refused at the space that starts it */
	expect_err_at("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", 31, PROXY_ERR_V1_FIELDS);
	expect_err_at("PROXY TCP6 ::1 ::1 1 2 \r\n", 23, PROXY_ERR_V1_FIELDS);
}

static void test_err_addr_ipv4(void **state)
{
	/* §2.1: "Heading zeroes are not permitted" */
	expect_err("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", PROXY_ERR_V1_ADDR);
	expect_err("PROXY TCP4 1.2.3.4 5.6.7.00 1 2\r\n", PROXY_ERR_V1_ADDR);
	expect_err("PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n", PROXY_ERR_V1_ADDR);
	expect_err("PROXY TCP4 1.2.3.1000 5.6.7.8 1 2\r\n", PROXY_ERR_V1_ADDR);
	expect_err("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", PROXY_ERR_V1_ADDR);
	expect_err("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", PROXY_ERR_V1_ADDR);
	expect_err("PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", PROXY_ERR_V1_ADDR);
	expect_err("PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n", PROXY_ERR_V1_ADDR);
	expect_err("PROXY TCP4  1.2.3.4 5 6\r\n", PROXY_ERR_V1_ADDR); /* empty */
	/* an extra space shifts an address into a port field: seen at its '.' */
	expect_err_at("PROXY TCP4  1.2.3.4 5.6.7.8 1\r\n", 22, PROXY_ERR_V1_PORT);
	expect_err("PROXY TCP4 a.b.c.d 5.6.7.8 1 2\r\n", PROXY_ERR_V1_ADDR);
	/* a character no address has: refused at once */
	expect_err_at("PROXY TCP4 1.2.3.4/24 5.6.7.8 1 2\r\n", 19, PROXY_ERR_V1_ADDR);
	expect_err_at("PROXY TCP4 -1.2.3.4 5.6.7.8 1 2\r\n", 12, PROXY_ERR_V1_ADDR);
}

static void test_err_addr_ipv6(void **state)
{
	expect_err("PROXY TCP6 ::: ::1 1 2\r\n", PROXY_ERR_V1_ADDR);
	expect_err("PROXY TCP6 1::2::3 ::1 1 2\r\n", PROXY_ERR_V1_ADDR);
	expect_err("PROXY TCP6 12345::1 ::1 1 2\r\n", PROXY_ERR_V1_ADDR);
	expect_err("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", PROXY_ERR_V1_ADDR);
	expect_err("PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n", PROXY_ERR_V1_ADDR);
	expect_err("PROXY TCP6 :1 ::1 1 2\r\n", PROXY_ERR_V1_ADDR);
	expect_err("PROXY TCP6 1: ::1 1 2\r\n", PROXY_ERR_V1_ADDR);
	/* inet_pton() takes these; §2.1 wants hex groups only */
	expect_err("PROXY TCP6 ::ffff:1.2.3.4 ::1 1 2\r\n", PROXY_ERR_V1_ADDR);
	expect_err("PROXY TCP6 ::1 ::1.2.3.4 1 2\r\n", PROXY_ERR_V1_ADDR);
	expect_err_at("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", 19, PROXY_ERR_V1_ADDR);
	expect_err_at("PROXY TCP6 g::1 ::1 1 2\r\n", 12, PROXY_ERR_V1_ADDR);
	expect_err_at("PROXY TCP6 [::1] ::1 1 2\r\n", 12, PROXY_ERR_V1_ADDR);
}

static void test_err_port(void **state)
{
	expect_err("PROXY TCP4 1.2.3.4 5.6.7.8 080 443\r\n", PROXY_ERR_V1_PORT);
	expect_err("PROXY TCP4 1.2.3.4 5.6.7.8 80 00\r\n", PROXY_ERR_V1_PORT);
	expect_err("PROXY TCP4 1.2.3.4 5.6.7.8 65536 443\r\n", PROXY_ERR_V1_PORT);
	expect_err("PROXY TCP4 1.2.3.4 5.6.7.8 99999 443\r\n", PROXY_ERR_V1_PORT);
	expect_err("PROXY TCP4 1.2.3.4 5.6.7.8 100000 443\r\n", PROXY_ERR_V1_PORT);
	expect_err("PROXY TCP4 1.2.3.4 5.6.7.8 80 \r\n", PROXY_ERR_V1_PORT); /* empty */
	expect_err("PROXY TCP6 ::1 ::1  443\r\n", PROXY_ERR_V1_PORT);
	/* a non-digit in a port: refused at once */
	expect_err_at("PROXY TCP4 1.2.3.4 5.6.7.8 8a 443\r\n", 29, PROXY_ERR_V1_PORT);
	expect_err_at("PROXY TCP4 1.2.3.4 5.6.7.8 80 +1\r\n", 31, PROXY_ERR_V1_PORT);
}

static void test_err_family(void **state)
{
	expect_err("PROXY TCP4 ::1 ::1 1 2\r\n", PROXY_ERR_V1_FAMILY);
	expect_err("PROXY TCP4 1.2.3.4 2001:db8::1 1 2\r\n", PROXY_ERR_V1_FAMILY);
	expect_err("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", PROXY_ERR_V1_FAMILY);
	expect_err("PROXY TCP6 ::1 10.0.0.1 1 2\r\n", PROXY_ERR_V1_FAMILY);
}

/* --- encoder ---------------------------------------------------------------------- */

static void set4(struct sockaddr_in *s, const char *ip, uint16_t port)
{
	memset(s, 0, sizeof(*s));
	s->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, ip, &s->sin_addr), 1);
	s->sin_port = htons(port);
}

static void set6(struct sockaddr_in6 *s, const char *ip, uint16_t port)
{
	memset(s, 0, sizeof(*s));
	s->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, ip, &s->sin6_addr), 1);
	s->sin6_port = htons(port);
}

static void expect_line(const struct sockaddr *s, const struct sockaddr *d, const char *want)
{
	char buf[PPV1_MAX_LINE];
	int n = ppv1_encode(buf, sizeof(buf), s, d);

	assert_int_equal(n, (int)strlen(want));
	assert_memory_equal(buf, want, (size_t)n);
}

static void test_encode_tcp4(void **state)
{
	struct sockaddr_in s, d;

	set4(&s, "192.168.0.1", 56324);
	set4(&d, "192.168.0.11", 443);
	expect_line((struct sockaddr *)&s, (struct sockaddr *)&d,
		    "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
	set4(&s, "255.255.255.255", 65535);
	set4(&d, "0.0.0.0", 0);
	expect_line((struct sockaddr *)&s, (struct sockaddr *)&d,
		    "PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n");
}

/* RFC 5952 text: lower case, no heading zeroes, longest zero run (first on
 * a tie, two groups at least) as "::", never a dotted quad. */
static void test_encode_tcp6(void **state)
{
	static const struct {
		const char *in, *out;
	} c[] = {
	    {"2001:db8::1", "2001:db8::1"},
	    {"::", "::"},
	    {"::1", "::1"},
	    {"1::", "1::"},
	    {"1:0:0:2:0:0:0:3", "1:0:0:2::3"},
	    {"1:0:0:2:3:0:0:4", "1::2:3:0:0:4"},
	    {"1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"},
	    {"FFFF:ABCD:0:0:0:0:0:0", "ffff:abcd::"},
	    {"::ffff:192.0.2.1", "::ffff:c000:201"},
	    {"0:0:1::", "0:0:1::"},
	};
	struct sockaddr_in6 s, d;
	char want[PPV1_MAX_LINE];

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		set6(&s, c[i].in, 1);
		set6(&d, "2001:db8::2", 443);
		snprintf(want, sizeof(want), "PROXY TCP6 %s 2001:db8::2 1 443\r\n", c[i].out);
		expect_line((struct sockaddr *)&s, (struct sockaddr *)&d, want);
	}
	/* IPv4 paired with IPv6: the IPv4 side goes out IPv4-mapped, in hex */
	{
		struct sockaddr_in s4;

		set4(&s4, "192.0.2.1", 5000);
		expect_line((struct sockaddr *)&s4, (struct sockaddr *)&d,
			    "PROXY TCP6 ::ffff:c000:201 2001:db8::2 5000 443\r\n");
	}
}

static void test_encode_unknown_and_enospc(void **state)
{
	struct sockaddr_in s;
	struct sockaddr_un u = {.sun_family = AF_UNIX};
	char buf[PPV1_MAX_LINE];

	set4(&s, "10.0.0.1", 1);
	expect_line(NULL, NULL, "PROXY UNKNOWN\r\n");
	expect_line((struct sockaddr *)&s, NULL, "PROXY UNKNOWN\r\n");
	expect_line((struct sockaddr *)&u, (struct sockaddr *)&u, "PROXY UNKNOWN\r\n");
	for (size_t cap = 0; cap < 15; cap++) {
		memset(buf, 'z', sizeof(buf));
		assert_int_equal(ppv1_encode(buf, cap, NULL, NULL), -ENOSPC);
		assert_int_equal(buf[0], 'z');
	}
	assert_int_equal(ppv1_encode(buf, 15, NULL, NULL), 15);
}

/* Encode, then decode through every prefix: addresses come back as given. */
static void test_roundtrip(void **state)
{
	static const char *v6[] = {"::",
				   "::1",
				   "2001:db8::",
				   "fe80::1:2",
				   "2001:db8:85a3::8a2e:370:7334",
				   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
				   "1:0:0:1:0:0:0:1"};
	struct sockaddr_in s4, d4;
	struct sockaddr_in6 s6, d6;
	struct proxy_hdr h;
	char line[PPV1_MAX_LINE + 1];
	int n;

	set4(&s4, "203.0.113.250", 61000);
	set4(&d4, "10.77.0.9", 8100);
	n = ppv1_encode(line, sizeof(line), (struct sockaddr *)&s4, (struct sockaddr *)&d4);
	assert_true(n > 0);
	line[n] = '\0';
	expect_ok(line, &h);
	assert_memory_equal(&h.src, &s4, sizeof(s4));
	assert_memory_equal(&h.dst, &d4, sizeof(d4));

	for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++) {
		set6(&s6, v6[i], (uint16_t)(i * 1000));
		set6(&d6, v6[(i + 1) % 7], 65535);
		n = ppv1_encode(line, sizeof(line), (struct sockaddr *)&s6, (struct sockaddr *)&d6);
		assert_true(n > 0);
		line[n] = '\0';
		expect_ok(line, &h);
		assert_memory_equal(&h.src, &s6, sizeof(s6));
		assert_memory_equal(&h.dst, &d6, sizeof(d6));
	}

	n = ppv1_encode(line, sizeof(line), NULL, NULL);
	line[n] = '\0';
	expect_ok(line, &h);
	assert_false(h.has_addr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tcp4),
	    cmocka_unit_test(test_tcp4_limits),
	    cmocka_unit_test(test_tcp6),
	    cmocka_unit_test(test_unknown),
	    cmocka_unit_test(test_err_sig),
	    cmocka_unit_test(test_err_line_too_long),
	    cmocka_unit_test(test_err_missing_crlf),
	    cmocka_unit_test(test_err_bare_lf),
	    cmocka_unit_test(test_err_proto),
	    cmocka_unit_test(test_err_fields),
	    cmocka_unit_test(test_err_addr_ipv4),
	    cmocka_unit_test(test_err_addr_ipv6),
	    cmocka_unit_test(test_err_port),
	    cmocka_unit_test(test_err_family),
	    cmocka_unit_test(test_encode_tcp4),
	    cmocka_unit_test(test_encode_tcp6),
	    cmocka_unit_test(test_encode_unknown_and_enospc),
	    cmocka_unit_test(test_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
