/* Tests for the PROXY v2 codec (proxy_v2.c, proxy.c): vectors written by
 * hand from doc/proxy-protocol.txt §2.2, one test per refusal, encoder
 * round trips for every family and TLV. Every decode runs on a copy that
 * ends at an unreadable page, on every prefix, and split in two pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "crc32c.h"
#include "guard.h"
#include "proxy.h"

#define SIG    "\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A"
#define SIGLEN 12
#define V(lit) ((const uint8_t *)(lit)), (sizeof(lit) - 1)

static const char payload[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

/* --- helpers ----------------------------------------------------------------- */

/* Expects v[0..n) to start with a complete header of `want` bytes. Every
 * shorter prefix must answer -EAGAIN with no error; the header must also
 * decode when its bytes arrive in two pieces into one receive buffer; any
 * trailing bytes are left alone. Returns the guarded copy the views in *out
 * point into (free with guard_free(g, n)). */
static uint8_t *expect_ok(const uint8_t *v, size_t n, size_t want, struct proxy_hdr *out)
{
	static uint8_t rx[PPV2_MAX_HDR_LEN + 256];
	struct proxy_hdr tmp;
	enum proxy_err why;
	uint8_t *g;
	int rc;

	assert_true(n <= sizeof(rx));
	for (size_t k = 0; k <= n; k++) {
		g = guard_dup(v, k);
		rc = proxy_decode(g, k, &tmp, &why);
		if (rc != (k < want ? -EAGAIN : (int)want))
			fail_msg("prefix %zu/%zu: rc %d (%s)", k, want, rc, proxy_strerror(why));
		assert_int_equal(why, PROXY_ERR_NONE);
		guard_free(g, k);

		/* Two writes: k bytes, then the rest, into the same buffer. */
		memcpy(rx, v, k);
		rc = proxy_decode(rx, k, &tmp, &why);
		assert_int_equal(rc, k < want ? -EAGAIN : (int)want);
		memcpy(rx + k, v + k, n - k);
		assert_int_equal(proxy_decode(rx, n, &tmp, &why), (int)want);
	}
	g = guard_dup(v, n);
	assert_int_equal(proxy_decode(g, n, out, &why), (int)want);
	assert_int_equal(out->hdr_len, want);
	return g;
}

/* Expects every prefix shorter than err_at to be -EAGAIN, and every longer
 * one (up to n) to fail with rc/err: the wrong byte is reported as soon as
 * it is present, and never changes its verdict as more bytes come. */
static void expect_err(const uint8_t *v, size_t n, size_t err_at, int rc_want, enum proxy_err err)
{
	struct proxy_hdr out;
	enum proxy_err why;

	for (size_t k = 0; k <= n; k++) {
		uint8_t *g = guard_dup(v, k);
		int rc = proxy_decode(g, k, &out, &why);

		if (k < err_at && rc != -EAGAIN)
			fail_msg("prefix %zu < %zu: rc %d (%s)", k, err_at, rc,
				 proxy_strerror(why));
		if (k >= err_at && (rc != rc_want || why != err))
			fail_msg("prefix %zu >= %zu: rc %d (%s), want %s", k, err_at, rc,
				 proxy_strerror(why), proxy_strerror(err));
		guard_free(g, k);
	}
}

static size_t with_payload(uint8_t *dst, const uint8_t *hdr, size_t n)
{
	memcpy(dst, hdr, n);
	memcpy(dst + n, payload, sizeof(payload) - 1);
	return n + sizeof(payload) - 1;
}

static const struct sockaddr_in *in4(const struct sockaddr_storage *ss)
{
	return (const struct sockaddr_in *)ss;
}

static const struct sockaddr_in6 *in6(const struct sockaddr_storage *ss)
{
	return (const struct sockaddr_in6 *)ss;
}

static void assert_view(struct proxy_view v, const char *s)
{
	assert_non_null(v.ptr);
	assert_int_equal(v.len, strlen(s));
	assert_memory_equal(v.ptr, s, v.len);
}

/* --- hand-written valid vectors ---------------------------------------------------- */

/* §2.2 TCP over IPv4: 192.168.0.1:56324 -> 192.168.0.11:443, no TLVs. */
static const char v_tcp4[] = SIG "\x21\x11\x00\x0C"
				 "\xC0\xA8\x00\x01"
				 "\xC0\xA8\x00\x0B"
				 "\xDC\x04\x01\xBB";

/* TCP over IPv6 [2001:db8::1]:12345 -> [2001:db8::2]:443, AUTHORITY
 * "example.com", UNIQUE_ID "conn-001", CRC32C (value filled by the test; the
 * literal was computed offline over the header with the field zeroed). */
#define V_TCP6_CRC_OFF (SIGLEN + 4 + 36 + 14 + 11 + 3)
static const char v_tcp6[] = SIG "\x21\x21\x00\x44"
				 "\x20\x01\x0D\xB8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
				 "\x20\x01\x0D\xB8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02"
				 "\x30\x39\x01\xBB"
				 "\x02\x00\x0B"
				 "example.com"
				 "\x05\x00\x08"
				 "conn-001"
				 "\x03\x00\x04"
				 "\x00\x00\x00\x00";
#define V_TCP6_CRC 0xFCEF5F97u

static void fill_tcp6(uint8_t *b)
{
	memcpy(b, v_tcp6, sizeof(v_tcp6) - 1);
	b[V_TCP6_CRC_OFF] = (uint8_t)(V_TCP6_CRC >> 24);
	b[V_TCP6_CRC_OFF + 1] = (uint8_t)(V_TCP6_CRC >> 16);
	b[V_TCP6_CRC_OFF + 2] = (uint8_t)(V_TCP6_CRC >> 8);
	b[V_TCP6_CRC_OFF + 3] = (uint8_t)V_TCP6_CRC;
}

static void test_tcp4_no_tlv(void **state)
{
	uint8_t buf[128];
	size_t n = with_payload(buf, V(v_tcp4));
	struct proxy_hdr h;
	uint8_t *g = expect_ok(buf, n, 28, &h);

	assert_int_equal(h.version, 2);
	assert_int_equal(h.cmd, PROXY_CMD_PROXY);
	assert_true(h.has_addr);
	assert_int_equal(h.family, AF_INET);
	assert_int_equal(h.socktype, SOCK_STREAM);
	assert_int_equal(h.src_len, sizeof(struct sockaddr_in));
	assert_int_equal(in4(&h.src)->sin_family, AF_INET);
	assert_int_equal(ntohl(in4(&h.src)->sin_addr.s_addr), 0xC0A80001);
	assert_int_equal(ntohl(in4(&h.dst)->sin_addr.s_addr), 0xC0A8000B);
	assert_int_equal(ntohs(in4(&h.src)->sin_port), 56324);
	assert_int_equal(ntohs(in4(&h.dst)->sin_port), 443);
	assert_int_equal(h.n_tlvs, 0);
	assert_int_equal(h.tlvs.len, 0);
	assert_false(h.has_crc32c);
	assert_null(h.unique_id.ptr);
	guard_free(g, n);
}

/* The CRC expected by the vector is recomputed here from the §2.2.3 rule
 * (software CRC over the header with the field zeroed), independently of
 * the decoder, and checked against the literal. */
static void test_tcp6_uid_authority_crc(void **state)
{
	uint8_t hdr[sizeof(v_tcp6)], buf[256];
	struct proxy_hdr h;
	struct in6_addr a;
	size_t n;
	uint8_t *g;

	assert_int_equal(crc32c_sw(0, v_tcp6, sizeof(v_tcp6) - 1), V_TCP6_CRC);
	fill_tcp6(hdr);
	n = with_payload(buf, hdr, sizeof(v_tcp6) - 1);
	g = expect_ok(buf, n, 84, &h);
	assert_int_equal(h.family, AF_INET6);
	assert_int_equal(h.src_len, sizeof(struct sockaddr_in6));
	inet_pton(AF_INET6, "2001:db8::1", &a);
	assert_memory_equal(&in6(&h.src)->sin6_addr, &a, 16);
	inet_pton(AF_INET6, "2001:db8::2", &a);
	assert_memory_equal(&in6(&h.dst)->sin6_addr, &a, 16);
	assert_int_equal(ntohs(in6(&h.src)->sin6_port), 12345);
	assert_int_equal(ntohs(in6(&h.dst)->sin6_port), 443);
	assert_view(h.authority, "example.com");
	assert_view(h.unique_id, "conn-001");
	assert_true(h.has_crc32c);
	assert_true(h.crc32c_ok);
	assert_int_equal(h.crc32c, V_TCP6_CRC);
	assert_int_equal(h.n_tlvs, 3);
	/* views point into the decoded buffer, not copies */
	assert_ptr_equal(h.authority.ptr, g + 16 + 36 + 3);
	guard_free(g, n);
}

/* §2.2: LOCAL "must accept ... and discard the protocol block". */
static void test_local(void **state)
{
	static const char bare[] = SIG "\x20\x00\x00\x00";
	static const char with_addr[] = SIG "\x20\x11\x00\x0C"
					    "\x0A\x00\x00\x01\x0A\x00\x00\x02\x00\x50\x00\x51";
	static const char short_block[] = SIG "\x20\x21\x00\x04"
					      "\x01\x02\x03\x04";
	struct proxy_hdr h;
	uint8_t *g;

	g = expect_ok(V(bare), 16, &h);
	assert_int_equal(h.cmd, PROXY_CMD_LOCAL);
	assert_false(h.has_addr);
	assert_int_equal(h.family, AF_UNSPEC);
	assert_int_equal(h.src_len, 0);
	guard_free(g, 16);

	g = expect_ok(V(with_addr), 28, &h);
	assert_int_equal(h.cmd, PROXY_CMD_LOCAL);
	assert_false(h.has_addr);
	assert_int_equal(h.n_tlvs, 0);
	guard_free(g, 28);

	/* "must not assume zero is presented": 4 bytes are consumed, ignored */
	g = expect_ok(V(short_block), 20, &h);
	assert_false(h.has_addr);
	assert_int_equal(h.n_tlvs, 0);
	guard_free(g, 20);
}

/* HAProxy's health checks: LOCAL, family UNSPEC, TLVs right after. */
static void test_local_unspec_with_crc(void **state)
{
	static const char v[] = SIG "\x20\x00\x00\x07"
				    "\x03\x00\x04\xA9\xB8\x7E\x8F";
	struct proxy_hdr h;
	uint8_t *g = expect_ok(V(v), 23, &h);

	assert_int_equal(h.cmd, PROXY_CMD_LOCAL);
	assert_false(h.has_addr);
	assert_true(h.crc32c_ok);
	assert_int_equal(h.crc32c, 0xA9B87E8F);
	guard_free(g, 23);
}

/* PROXY with UNSPEC family: accepted, reported as no address (§2.2). */
static void test_proxy_unspec(void **state)
{
	static const char v[] = SIG "\x21\x00\x00\x03"
				    "\x04\x00\x00";
	struct proxy_hdr h;
	uint8_t *g = expect_ok(V(v), 19, &h);

	assert_int_equal(h.cmd, PROXY_CMD_PROXY);
	assert_false(h.has_addr);
	assert_int_equal(h.n_tlvs, 1);
	guard_free(g, 19);
}

static void fill_unix_vector(uint8_t *b)
{
	memset(b, 0, 16 + 216);
	memcpy(b, SIG "\x21\x31\x00\xD8", 16);
	memcpy(b + 16, "/run/a.sock", 11);
	memcpy(b + 16 + 108, "/run/b.sock", 11);
}

static void test_unix(void **state)
{
	uint8_t v[16 + 216];
	struct proxy_hdr h;
	const struct sockaddr_un *su;
	uint8_t *g;

	fill_unix_vector(v);
	g = expect_ok(v, sizeof(v), sizeof(v), &h);
	assert_int_equal(h.family, AF_UNIX);
	assert_int_equal(h.socktype, SOCK_STREAM);
	su = (const struct sockaddr_un *)&h.src;
	assert_int_equal(su->sun_family, AF_UNIX);
	assert_string_equal(su->sun_path, "/run/a.sock");
	assert_int_equal(h.src_len, offsetof(struct sockaddr_un, sun_path) + 12);
	su = (const struct sockaddr_un *)&h.dst;
	assert_string_equal(su->sun_path, "/run/b.sock");
	guard_free(g, sizeof(v));

	/* abstract name: leading NUL, length runs to the last non-zero byte */
	v[16] = 0;
	g = expect_ok(v, sizeof(v), sizeof(v), &h);
	su = (const struct sockaddr_un *)&h.src;
	assert_int_equal(h.src_len, offsetof(struct sockaddr_un, sun_path) + 11);
	assert_memory_equal(su->sun_path, "\0run/a.sock", 11);
	guard_free(g, sizeof(v));
}

static void test_udp4_dgram(void **state)
{
	static const char v[] = SIG "\x21\x12\x00\x0C"
				    "\x7F\x00\x00\x01\x7F\x00\x00\x02\x00\x35\x00\x35";
	struct proxy_hdr h;
	uint8_t *g = expect_ok(V(v), 28, &h);

	assert_int_equal(h.family, AF_INET);
	assert_int_equal(h.socktype, SOCK_DGRAM);
	assert_int_equal(ntohs(in4(&h.dst)->sin_port), 53);
	guard_free(g, 28);
}

/* Every TLV type Strata knows, plus NOOP and an unknown one, in one header. */
#define SSL_TLV                                                                                    \
	"\x20\x00\x29"                                                                             \
	"\x07\x00\x00\x00\x00"                                                                     \
	"\x21\x00\x07TLSv1.3"                                                                      \
	"\x22\x00\x05"                                                                             \
	"alice"                                                                                    \
	"\x23\x00\x07"                                                                             \
	"AES-GCM"                                                                                  \
	"\x24\x00\x00"                                                                             \
	"\x25\x00\x02"                                                                             \
	"EC"
static const char v_all[] = SIG "\x21\x11\x00\x58"
				"\x0A\x00\x00\x01\x0A\x00\x00\x02\x04\xD2\x00\x50"
				"\x01\x00\x02h2"
				"\x04\x00\x03\x00\x00\x00" SSL_TLV "\x30\x00\x04"
				"blue"
				"\xE0\x00\x04"
				"l4-a"
				"\xEE\x00\x01X"
				"\xF0\x00\x00";

static void test_all_tlvs(void **state)
{
	struct proxy_hdr h;
	uint8_t *g = expect_ok(V(v_all), sizeof(v_all) - 1, &h);
	static const uint8_t types[] = {0x01, 0x04, 0x20, 0x30, 0xE0, 0xEE, 0xF0};
	struct proxy_view val;
	size_t pos = 0, i = 0;
	uint8_t type;

	assert_int_equal(sizeof(v_all) - 1, 16 + 0x58);
	assert_view(h.alpn, "h2");
	assert_view(h.netns, "blue");
	assert_view(h.node, "l4-a");
	assert_true(h.ssl.present);
	assert_int_equal(h.ssl.client,
			 PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN | PP2_CLIENT_CERT_SESS);
	assert_int_equal(h.ssl.verify, 0);
	assert_view(h.ssl.version, "TLSv1.3");
	assert_view(h.ssl.cn, "alice");
	assert_view(h.ssl.cipher, "AES-GCM");
	assert_view(h.ssl.sig_alg, "");
	assert_view(h.ssl.key_alg, "EC");
	assert_null(h.authority.ptr);
	assert_int_equal(h.n_tlvs, 7);
	while (ppv2_tlv_next(h.tlvs, &pos, &type, &val)) {
		assert_true(i < sizeof(types));
		assert_int_equal(type, types[i++]);
		if (type == 0xEE)
			assert_memory_equal(val.ptr, "X", 1);
	}
	assert_int_equal(i, sizeof(types));
	assert_int_equal(pos, h.tlvs.len);
	guard_free(g, sizeof(v_all) - 1);
}

/* The hard limit itself is accepted; one byte more is -E2BIG. */
static void test_max_header(void **state)
{
	static uint8_t v[PPV2_MAX_HDR_LEN];
	struct proxy_hdr h;
	enum proxy_err why;
	size_t noop = PPV2_MAX_HDR_LEN - 16 - 12 - 3;
	uint8_t *g;

	memset(v, 0, sizeof(v));
	memcpy(v, SIG "\x21\x11", 14);
	v[14] = (uint8_t)((PPV2_MAX_HDR_LEN - 16) >> 8);
	v[15] = (uint8_t)(PPV2_MAX_HDR_LEN - 16);
	v[28] = PP2_TYPE_NOOP;
	v[29] = (uint8_t)(noop >> 8);
	v[30] = (uint8_t)noop;
	g = guard_dup(v, sizeof(v));
	assert_int_equal(proxy_decode(g, sizeof(v), &h, &why), PPV2_MAX_HDR_LEN);
	assert_int_equal(proxy_decode(g, sizeof(v) - 1, &h, &why), -EAGAIN);
	/* a lower limit set by the caller applies as soon as the length is in */
	assert_int_equal(proxy_decode_max(g, 16, 1024, &h, &why), -E2BIG);
	assert_int_equal(why, PROXY_ERR_TOO_BIG);
	guard_free(g, sizeof(v));
}

/* --- refusals, one per check --------------------------------------------------------- */

static void test_err_sig_v2(void **state)
{
	/* the 5th byte must be NUL: wrong at once, not after 16 bytes */
	expect_err(V("\x0D\x0A\x0D\x0A\x01\x0D\x0A\x51\x55\x49\x54\x0A\x21\x11\x00\x00"), 5,
		   -EBADMSG, PROXY_ERR_SIG);
	/* the last signature byte, and nothing more needed to see it */
	expect_err(V("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0B"), 12, -EBADMSG,
		   PROXY_ERR_SIG);
}

static void test_err_sig_other(void **state)
{
	expect_err(V("GET / HTTP/1.1\r\n"), 1, -EBADMSG, PROXY_ERR_SIG);
	expect_err(V("\x16\x03\x01\x02\x00"), 1, -EBADMSG, PROXY_ERR_SIG);
	expect_err(V("\x0D\x0D"), 2, -EBADMSG, PROXY_ERR_SIG);
}

static void test_err_version(void **state)
{
	expect_err(V(SIG "\x11\x11\x00\x0C"), 13, -EBADMSG, PROXY_ERR_VERSION);
	expect_err(V(SIG "\x31\x11\x00\x0C"), 13, -EBADMSG, PROXY_ERR_VERSION);
}

static void test_err_command(void **state)
{
	expect_err(V(SIG "\x22\x11\x00\x0C"), 13, -EBADMSG, PROXY_ERR_COMMAND);
	expect_err(V(SIG "\x2F\x11\x00\x0C"), 13, -EBADMSG, PROXY_ERR_COMMAND);
}

static void test_err_family(void **state)
{
	expect_err(V(SIG "\x21\x41\x00\x0C"), 14, -EBADMSG, PROXY_ERR_FAMILY);
	expect_err(V(SIG "\x21\x13\x00\x0C"), 14, -EBADMSG, PROXY_ERR_FAMILY);
	/* the family byte is checked for LOCAL too */
	expect_err(V(SIG "\x20\xF0\x00\x00"), 14, -EBADMSG, PROXY_ERR_FAMILY);
}

static void test_err_addr_len(void **state)
{
	expect_err(V(SIG "\x21\x11\x00\x0B"
			 "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0A\x0B"),
		   16, -EBADMSG, PROXY_ERR_ADDR_LEN);
	expect_err(V(SIG "\x21\x21\x00\x0C"
			 "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0A\x0B\x0C"),
		   16, -EBADMSG, PROXY_ERR_ADDR_LEN);
	expect_err(V(SIG "\x21\x31\x00\x24"), 16, -EBADMSG, PROXY_ERR_ADDR_LEN);
}

static void test_err_too_big(void **state)
{
	/* 16 + 0x0FF1 = 4097 bytes announced: refused from the length alone */
	expect_err(V(SIG "\x21\x11\x0F\xF1"
			 "\x01\x02"),
		   16, -E2BIG, PROXY_ERR_TOO_BIG);
	expect_err(V(SIG "\x21\x11\xFF\xFF"), 16, -E2BIG, PROXY_ERR_TOO_BIG);
}

static void test_err_truncated(void **state)
{
	/* 12 address bytes then 2 bytes: too short for any TLV */
	expect_err(V(SIG "\x21\x11\x00\x0E"
			 "\x0A\x00\x00\x01\x0A\x00\x00\x02\x00\x50\x00\x51"
			 "\x04\x00"),
		   16, -EBADMSG, PROXY_ERR_TRUNCATED);
}

static void test_err_tlv_overrun(void **state)
{
	/* NOOP claims 16 bytes, 4 remain in the header: refused once the
	 * length bytes are in, before the rest of the header is waited for */
	expect_err(V(SIG "\x21\x11\x00\x13"
			 "\x0A\x00\x00\x01\x0A\x00\x00\x02\x00\x50\x00\x51"
			 "\x04\x00\x10\x00\x00\x00\x00"),
		   31, -EBADMSG, PROXY_ERR_TLV_OVERRUN);
	/* the second TLV is the one that overruns */
	expect_err(V(SIG "\x21\x00\x00\x07"
			 "\x04\x00\x00"
			 "\xE0\x00\x02X"),
		   22, -EBADMSG, PROXY_ERR_TLV_OVERRUN);
}

static void test_err_unique_id_too_long(void **state)
{
	uint8_t v[16 + 12 + 3 + 129];

	memset(v, 'u', sizeof(v));
	memcpy(v, SIG "\x21\x11\x00\x90", 16); /* 12 + 3 + 129 = 0x90 */
	memset(v + 16, 0, 12);
	memcpy(v + 28, "\x05\x00\x81", 3);
	expect_err(v, sizeof(v), 31, -EBADMSG, PROXY_ERR_TLV_LEN);
	/* 128 is the limit and is fine */
	v[15] = 0x8F;
	v[30] = 0x80;
	{
		struct proxy_hdr h;
		uint8_t *g = expect_ok(v, sizeof(v) - 1, sizeof(v) - 1, &h);

		assert_int_equal(h.unique_id.len, PPV2_UNIQUE_ID_MAX);
		guard_free(g, sizeof(v) - 1);
	}
}

static void test_err_ssl_short(void **state)
{
	/* SSL value of 4 bytes: no room for client + verify */
	expect_err(V(SIG "\x21\x00\x00\x07"
			 "\x20\x00\x04\x01\x00\x00\x00"),
		   23, -EBADMSG, PROXY_ERR_TLV_LEN);
	/* a sub-TLV running past the SSL value */
	expect_err(V(SIG "\x21\x00\x00\x0B"
			 "\x20\x00\x08\x01\x00\x00\x00\x00\x21\x00\x05"),
		   27, -EBADMSG, PROXY_ERR_TLV_LEN);
	/* a sub-TLV header cut short */
	expect_err(V(SIG "\x21\x00\x00\x0A"
			 "\x20\x00\x07\x01\x00\x00\x00\x00\x22\x00"),
		   26, -EBADMSG, PROXY_ERR_TLV_LEN);
}

static void test_err_tlv_dup(void **state)
{
	expect_err(V(SIG "\x21\x00\x00\x08"
			 "\x02\x00\x01"
			 "a"
			 "\x02\x00\x01"
			 "b"),
		   23, -EBADMSG, PROXY_ERR_TLV_DUP);
	expect_err(V(SIG "\x21\x00\x00\x0E"
			 "\x03\x00\x04\x00\x00\x00\x00"
			 "\x03\x00\x04\x00\x00\x00\x00"),
		   26, -EBADMSG, PROXY_ERR_TLV_DUP);
	/* inside the SSL TLV as well */
	expect_err(V(SIG "\x21\x00\x00\x0E"
			 "\x20\x00\x0B\x01\x00\x00\x00\x00\x22\x00\x00\x22\x00\x00"),
		   30, -EBADMSG, PROXY_ERR_TLV_DUP);
}

static void test_err_crc_len(void **state)
{
	expect_err(V(SIG "\x21\x00\x00\x06"
			 "\x03\x00\x03\x00\x00\x00"),
		   19, -EBADMSG, PROXY_ERR_CRC_LEN);
	expect_err(V(SIG "\x21\x00\x00\x08"
			 "\x03\x00\x05\x00\x00\x00\x00\x00"),
		   19, -EBADMSG, PROXY_ERR_CRC_LEN);
}

static void test_err_crc_mismatch(void **state)
{
	uint8_t v[sizeof(v_tcp6) - 1];

	/* a flipped address bit */
	fill_tcp6(v);
	v[20] ^= 0x01;
	expect_err(v, sizeof(v), sizeof(v), -EBADMSG, PROXY_ERR_CRC_MISMATCH);
	/* a wrong checksum value */
	fill_tcp6(v);
	v[V_TCP6_CRC_OFF + 3] ^= 0x80;
	expect_err(v, sizeof(v), sizeof(v), -EBADMSG, PROXY_ERR_CRC_MISMATCH);
	/* the all-zero field of the raw vector is not the checksum either */
	expect_err(V(v_tcp6), sizeof(v_tcp6) - 1, -EBADMSG, PROXY_ERR_CRC_MISMATCH);
}

/* The version-specific entry points refuse the other version's signature,
 * and take an empty buffer (even NULL) as "need more". */
static void test_direct_entry_points(void **state)
{
	struct proxy_hdr h;
	enum proxy_err why;

	assert_int_equal(ppv2_decode(NULL, 0, PPV2_MAX_HDR_LEN, &h, &why), -EAGAIN);
	assert_int_equal(ppv1_decode(NULL, 0, &h, &why), -EAGAIN);
	assert_int_equal(proxy_decode(NULL, 0, &h, &why), -EAGAIN);
	assert_int_equal(why, PROXY_ERR_NONE);
	assert_int_equal(ppv2_decode(V("PROXY "), PPV2_MAX_HDR_LEN, &h, &why), -EBADMSG);
	assert_int_equal(why, PROXY_ERR_SIG);
	assert_int_equal(ppv1_decode(V(v_tcp4), &h, &why), -EBADMSG);
	assert_int_equal(why, PROXY_ERR_SIG);
	assert_int_equal(ppv2_decode(V(v_tcp4), PPV2_MAX_HDR_LEN, &h, &why), 28);
	/* limits below 16 bytes are raised to 16, so only an empty header fits */
	assert_int_equal(proxy_decode_max(V(v_tcp4), 0, &h, &why), -E2BIG);
	assert_int_equal(proxy_decode_max(V(SIG "\x20\x00\x00\x00"), 0, &h, &why), 16);
	assert_int_equal(proxy_decode_max(V(v_tcp4), 28, &h, &why), 28);
	assert_int_equal(proxy_decode_max(V(v_tcp4), 27, &h, &why), -E2BIG);
}

/* --- maybe_header and strerror ------------------------------------------------------- */

static void test_maybe_header(void **state)
{
	assert_true(proxy_maybe_header(V("")));
	assert_true(proxy_maybe_header(V("P")));
	assert_true(proxy_maybe_header(V("PROX")));
	assert_true(proxy_maybe_header(V("PROXY TCP4 1.2.3.4")));
	assert_true(proxy_maybe_header(V("\r\n\r")));
	assert_true(proxy_maybe_header(V(SIG)));
	assert_true(proxy_maybe_header(V(SIG "\x21\x11")));
	assert_false(proxy_maybe_header(V("GET / HTTP/1.1")));
	assert_false(proxy_maybe_header(V("PRI * HTTP/2.0")));
	assert_false(proxy_maybe_header(V("POST")));
	assert_false(proxy_maybe_header(V("PROXX")));
	assert_false(proxy_maybe_header(V("\x16\x03\x01")));
	assert_false(proxy_maybe_header(V("\r\n\r\n\x01")));
	assert_true(proxy_maybe_header(V("\r\n\r\n\0")));
}

static void test_strerror(void **state)
{
	for (int i = 0; i < PROXY_ERR__COUNT; i++) {
		const char *s = proxy_strerror(i);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(s, proxy_strerror(j));
	}
	assert_string_equal(proxy_strerror(PROXY_ERR__COUNT), "unknown error");
	assert_string_equal(proxy_strerror(PROXY_ERR_CRC_MISMATCH), "crc32c mismatch");
}

/* --- encoder ------------------------------------------------------------------------ */

static void set4(struct sockaddr_in *s, const char *ip, uint16_t port)
{
	memset(s, 0, sizeof(*s));
	s->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &s->sin_addr);
	s->sin_port = htons(port);
}

static void set6(struct sockaddr_in6 *s, const char *ip, uint16_t port)
{
	memset(s, 0, sizeof(*s));
	s->sin6_family = AF_INET6;
	inet_pton(AF_INET6, ip, &s->sin6_addr);
	s->sin6_port = htons(port);
}

static struct proxy_view sv(const char *s)
{
	return (struct proxy_view){(const uint8_t *)s, strlen(s)};
}

/* Encodes into a buffer that ends at a guard page, decodes it back. */
static uint8_t *encode_decode(const struct ppv2_enc *in, struct proxy_hdr *h, size_t *n)
{
	uint8_t tmp[PPV2_MAX_HDR_LEN];
	int len = ppv2_encode(tmp, sizeof(tmp), in);
	uint8_t *g;

	assert_true(len >= 16);
	assert_int_equal(len, ppv2_encoded_len(in));
	*n = (size_t)len;
	g = expect_ok(tmp, *n, *n, h);
	return g;
}

static void test_encode_tcp4_exact(void **state)
{
	struct sockaddr_in s, d;
	struct ppv2_enc in = {.cmd = PROXY_CMD_PROXY};
	uint8_t buf[64];

	set4(&s, "192.168.0.1", 56324);
	set4(&d, "192.168.0.11", 443);
	in.src = (struct sockaddr *)&s;
	in.dst = (struct sockaddr *)&d;
	assert_int_equal(ppv2_encode(buf, sizeof(buf), &in), 28);
	assert_memory_equal(buf, v_tcp4, 28);
}

static void test_encode_tcp6_exact(void **state)
{
	struct sockaddr_in6 s, d;
	struct ppv2_enc in = {.cmd = PROXY_CMD_PROXY, .crc32c = true};
	uint8_t buf[128], want[sizeof(v_tcp6)];

	set6(&s, "2001:db8::1", 12345);
	set6(&d, "2001:db8::2", 443);
	in.src = (struct sockaddr *)&s;
	in.dst = (struct sockaddr *)&d;
	in.authority = sv("example.com");
	in.unique_id = sv("conn-001");
	fill_tcp6(want);
	assert_int_equal(ppv2_encode(buf, sizeof(buf), &in), 84);
	assert_memory_equal(buf, want, 84);
}

static void test_roundtrip_families(void **state)
{
	struct sockaddr_in s4, d4;
	struct sockaddr_in6 s6, d6;
	struct sockaddr_un su, du;
	struct ppv2_enc in = {.cmd = PROXY_CMD_PROXY};
	struct proxy_hdr h;
	size_t n;
	uint8_t *g;

	set4(&s4, "203.0.113.7", 40000);
	set4(&d4, "10.77.0.1", 8100);
	in.src = (struct sockaddr *)&s4;
	in.dst = (struct sockaddr *)&d4;
	g = encode_decode(&in, &h, &n);
	assert_int_equal(h.family, AF_INET);
	assert_memory_equal(&h.src, &s4, sizeof(s4));
	assert_memory_equal(&h.dst, &d4, sizeof(d4));
	guard_free(g, n);

	in.socktype = SOCK_DGRAM;
	g = encode_decode(&in, &h, &n);
	assert_int_equal(h.fam_byte, 0x12);
	assert_int_equal(h.socktype, SOCK_DGRAM);
	guard_free(g, n);
	in.socktype = 0;

	set6(&s6, "2001:db8:1::ff", 1);
	set6(&d6, "fe80::1", 65535);
	in.src = (struct sockaddr *)&s6;
	in.dst = (struct sockaddr *)&d6;
	g = encode_decode(&in, &h, &n);
	assert_int_equal(h.family, AF_INET6);
	assert_memory_equal(&h.src, &s6, sizeof(s6));
	assert_memory_equal(&h.dst, &d6, sizeof(d6));
	guard_free(g, n);

	/* IPv4 client with an IPv6 destination: sent as IPv4-mapped IPv6 */
	in.src = (struct sockaddr *)&s4;
	g = encode_decode(&in, &h, &n);
	assert_int_equal(h.family, AF_INET6);
	set6(&s6, "::ffff:203.0.113.7", 40000);
	assert_memory_equal(&h.src, &s6, sizeof(s6));
	guard_free(g, n);

	memset(&su, 0, sizeof(su));
	memset(&du, 0, sizeof(du));
	su.sun_family = du.sun_family = AF_UNIX;
	strcpy(su.sun_path, "/run/strata/l4.sock");
	memcpy(du.sun_path, "\0abstract", 9);
	in.src = (struct sockaddr *)&su;
	in.dst = (struct sockaddr *)&du;
	in.src_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 20);
	in.dst_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 9);
	g = encode_decode(&in, &h, &n);
	assert_int_equal(h.family, AF_UNIX);
	assert_int_equal(n, 16 + 216);
	assert_int_equal(h.src_len, in.src_len);
	assert_int_equal(h.dst_len, in.dst_len);
	assert_memory_equal(&h.src, &su, h.src_len);
	assert_memory_equal(&h.dst, &du, h.dst_len);
	guard_free(g, n);

	/* PROXY without addresses is UNSPEC; LOCAL never carries them */
	in.src = in.dst = NULL;
	g = encode_decode(&in, &h, &n);
	assert_int_equal(n, 16);
	assert_int_equal(h.cmd, PROXY_CMD_PROXY);
	assert_false(h.has_addr);
	guard_free(g, n);
	in.cmd = PROXY_CMD_LOCAL;
	in.src = (struct sockaddr *)&s4;
	in.dst = (struct sockaddr *)&d4;
	g = encode_decode(&in, &h, &n);
	assert_int_equal(n, 16);
	assert_int_equal(h.cmd, PROXY_CMD_LOCAL);
	assert_int_equal(h.fam_byte, 0x00);
	guard_free(g, n);
}

static void test_roundtrip_tlvs(void **state)
{
	struct sockaddr_in6 s, d;
	static const uint8_t blob[300] = {1, 2, 3};
	struct ppv2_tlv extra[] = {
	    {.type = PP2_TYPE_NOOP, .len = 5, .val = NULL},
	    {.type = 0xE5, .len = sizeof(blob), .val = blob},
	    {.type = 0xE1, .len = 0, .val = ""},
	};
	struct ppv2_ssl_enc ssl = {.client = PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN, .verify = 7};
	struct ppv2_enc in = {.cmd = PROXY_CMD_PROXY, .crc32c = true};
	struct proxy_view val;
	struct proxy_hdr h;
	size_t n, pos = 0;
	uint8_t type, *g;
	unsigned int seen = 0;

	set6(&s, "2001:db8::10", 5555);
	set6(&d, "2001:db8::20", 443);
	in.src = (struct sockaddr *)&s;
	in.dst = (struct sockaddr *)&d;
	in.alpn = sv("h2");
	in.authority = sv("www.example.org");
	in.unique_id = (struct proxy_view){blob, PPV2_UNIQUE_ID_MAX};
	in.netns = sv("st-ns1");
	in.node = sv("l4-node-a");
	ssl.version = sv("TLSv1.3");
	ssl.cn = sv("client.example");
	ssl.cipher = sv("TLS_AES_128_GCM_SHA256");
	ssl.sig_alg = sv("RSA-SHA256");
	ssl.key_alg = sv("RSA2048");
	in.ssl = &ssl;
	in.extra = extra;
	in.n_extra = 3;
	g = encode_decode(&in, &h, &n);
	assert_view(h.alpn, "h2");
	assert_view(h.authority, "www.example.org");
	assert_int_equal(h.unique_id.len, PPV2_UNIQUE_ID_MAX);
	assert_memory_equal(h.unique_id.ptr, blob, PPV2_UNIQUE_ID_MAX);
	assert_view(h.netns, "st-ns1");
	assert_view(h.node, "l4-node-a");
	assert_true(h.ssl.present);
	assert_int_equal(h.ssl.client, PP2_CLIENT_SSL | PP2_CLIENT_CERT_CONN);
	assert_int_equal(h.ssl.verify, 7);
	assert_view(h.ssl.version, "TLSv1.3");
	assert_view(h.ssl.cn, "client.example");
	assert_view(h.ssl.cipher, "TLS_AES_128_GCM_SHA256");
	assert_view(h.ssl.sig_alg, "RSA-SHA256");
	assert_view(h.ssl.key_alg, "RSA2048");
	assert_true(h.crc32c_ok);
	assert_int_equal(h.n_tlvs, 10);
	while (ppv2_tlv_next(h.tlvs, &pos, &type, &val)) {
		if (type == PP2_TYPE_NOOP) {
			assert_int_equal(val.len, 5);
			assert_memory_equal(val.ptr, "\0\0\0\0\0", 5);
			seen |= 1;
		} else if (type == 0xE5) {
			assert_int_equal(val.len, sizeof(blob));
			assert_memory_equal(val.ptr, blob, sizeof(blob));
			seen |= 2;
		} else if (type == 0xE1) {
			assert_int_equal(val.len, 0);
			seen |= 4;
		}
	}
	assert_int_equal(seen, 7);
	guard_free(g, n);

	/* without the CRC the header is 7 bytes shorter and has no checksum */
	in.crc32c = false;
	g = encode_decode(&in, &h, &n);
	assert_false(h.has_crc32c);
	assert_false(h.crc32c_ok);
	guard_free(g, n);
}

/* -ENOSPC for every capacity below the size, and nothing written then. */
static void test_encode_enospc(void **state)
{
	struct sockaddr_in s, d;
	struct ppv2_enc in = {.cmd = PROXY_CMD_PROXY, .crc32c = true};
	uint8_t buf[128];
	int total;

	set4(&s, "192.0.2.1", 1);
	set4(&d, "192.0.2.2", 2);
	in.src = (struct sockaddr *)&s;
	in.dst = (struct sockaddr *)&d;
	in.unique_id = sv("abc");
	total = ppv2_encoded_len(&in);
	assert_int_equal(total, 16 + 12 + 6 + 7);
	for (int cap = 0; cap < total; cap++) {
		memset(buf, 0xAA, sizeof(buf));
		assert_int_equal(ppv2_encode(buf, (size_t)cap, &in), -ENOSPC);
		for (size_t i = 0; i < sizeof(buf); i++)
			assert_int_equal(buf[i], 0xAA);
	}
	/* exactly enough, into memory that ends at a guard page */
	{
		uint8_t *g = guard_dup(buf, (size_t)total);

		assert_int_equal(ppv2_encode(g, (size_t)total, &in), total);
		guard_free(g, (size_t)total);
	}
}

static void test_encode_einval(void **state)
{
	struct sockaddr_in s4;
	struct sockaddr_un su;
	struct sockaddr sa = {.sa_family = AF_APPLETALK};
	struct ppv2_tlv crc_extra = {.type = PP2_TYPE_CRC32C, .len = 4, .val = "\0\0\0\0"};
	struct ppv2_tlv big = {.type = PP2_TYPE_NOOP, .len = 0xFFFF, .val = NULL};
	uint8_t blob[PPV2_UNIQUE_ID_MAX + 1] = {0}, buf[64];
	struct ppv2_enc in = {.cmd = PROXY_CMD_PROXY};

	set4(&s4, "192.0.2.1", 1);
	memset(&su, 0, sizeof(su));
	su.sun_family = AF_UNIX;
	in.src = (struct sockaddr *)&s4; /* one address only */
	assert_int_equal(ppv2_encode(buf, sizeof(buf), &in), -EINVAL);
	in.dst = (struct sockaddr *)&su; /* IPv4 with UNIX */
	assert_int_equal(ppv2_encode(buf, sizeof(buf), &in), -EINVAL);
	in.dst = &sa; /* unsupported family */
	assert_int_equal(ppv2_encode(buf, sizeof(buf), &in), -EINVAL);
	in.dst = (struct sockaddr *)&s4;
	in.unique_id = (struct proxy_view){blob, sizeof(blob)}; /* §2.2.5 */
	assert_int_equal(ppv2_encode(buf, sizeof(buf), &in), -EINVAL);
	in.unique_id = (struct proxy_view){NULL, 0};
	in.extra = &crc_extra; /* use .crc32c instead */
	in.n_extra = 1;
	assert_int_equal(ppv2_encode(buf, sizeof(buf), &in), -EINVAL);
	in.extra = &big; /* 12 + 3 + 65535 does not fit the length field */
	assert_int_equal(ppv2_encoded_len(&in), -EINVAL);
	in.extra = NULL;
	in.n_extra = 0;
	in.cmd = 5;
	assert_int_equal(ppv2_encode(buf, sizeof(buf), &in), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tcp4_no_tlv),
	    cmocka_unit_test(test_tcp6_uid_authority_crc),
	    cmocka_unit_test(test_local),
	    cmocka_unit_test(test_local_unspec_with_crc),
	    cmocka_unit_test(test_proxy_unspec),
	    cmocka_unit_test(test_unix),
	    cmocka_unit_test(test_udp4_dgram),
	    cmocka_unit_test(test_all_tlvs),
	    cmocka_unit_test(test_max_header),
	    cmocka_unit_test(test_err_sig_v2),
	    cmocka_unit_test(test_err_sig_other),
	    cmocka_unit_test(test_err_version),
	    cmocka_unit_test(test_err_command),
	    cmocka_unit_test(test_err_family),
	    cmocka_unit_test(test_err_addr_len),
	    cmocka_unit_test(test_err_too_big),
	    cmocka_unit_test(test_err_truncated),
	    cmocka_unit_test(test_err_tlv_overrun),
	    cmocka_unit_test(test_err_unique_id_too_long),
	    cmocka_unit_test(test_err_ssl_short),
	    cmocka_unit_test(test_err_tlv_dup),
	    cmocka_unit_test(test_err_crc_len),
	    cmocka_unit_test(test_err_crc_mismatch),
	    cmocka_unit_test(test_direct_entry_points),
	    cmocka_unit_test(test_maybe_header),
	    cmocka_unit_test(test_strerror),
	    cmocka_unit_test(test_encode_tcp4_exact),
	    cmocka_unit_test(test_encode_tcp6_exact),
	    cmocka_unit_test(test_roundtrip_families),
	    cmocka_unit_test(test_roundtrip_tlvs),
	    cmocka_unit_test(test_encode_enospc),
	    cmocka_unit_test(test_encode_einval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
