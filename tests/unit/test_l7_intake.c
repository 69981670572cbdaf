/* Tests for strata-l7's intake policy (l7/intake.c): every row of the table
 * in intake.h, on guarded copies, on every prefix of the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "guard.h"
#include "../../l7/intake.h"

#define SIG "\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A"

/* PROXY v2, TCP over IPv4, 10.0.0.1:1000 -> 10.0.0.2:80, then HTTP. */
static const uint8_t v2[] = SIG "\x21\x11\x00\x0C"
				"\x0A\x00\x00\x01\x0A\x00\x00\x02\x03\xE8\x00\x50"
				"GET / HTTP/1.1\r\n";
#define V2_HDR 28
static const uint8_t v2_local[] = SIG "\x20\x00\x00\x00GET /healthz HTTP/1.1\r\n";
static const char v1[] = "PROXY TCP4 10.0.0.1 10.0.0.2 1000 80\r\nGET / HTTP/1.1\r\n";
static const char http[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
static const char post[] = "POST / HTTP/1.1\r\n";

static int check(enum l7_pp_mode m, bool trusted, const void *buf, size_t len, enum l7m_refuse *why)
{
	struct proxy_hdr h;
	enum proxy_err perr;
	void *g = guard_dup(buf, len);
	int ret = l7_intake_check(m, trusted, g, len, &h, why, &perr);

	guard_free(g, len);
	return ret;
}

/* Every prefix of a header answers -EAGAIN, the whole its length. */
static void expect_header(enum l7_pp_mode m, const void *buf, size_t total, size_t hdr)
{
	enum l7m_refuse why;

	for (size_t n = 1; n < hdr; n++)
		assert_int_equal(check(m, true, buf, n, &why), -EAGAIN);
	for (size_t n = hdr; n <= total; n++)
		assert_int_equal(check(m, true, buf, n, &why), (int)hdr);
}

static void test_off_never_reads_a_header(void **state)
{
	enum l7m_refuse why;

	assert_int_equal(check(L7_PP_OFF, false, v2, sizeof(v2) - 1, &why), 0);
	assert_int_equal(check(L7_PP_OFF, true, http, sizeof(http) - 1, &why), 0);
}

static void test_required_untrusted_is_refused_before_any_byte(void **state)
{
	enum l7m_refuse why = L7M_REFUSE__COUNT;

	assert_int_equal(
	    l7_intake_check(L7_PP_REQUIRED, false, NULL, 0, NULL, &why, &(enum proxy_err){0}),
	    -EPERM);
	assert_int_equal(why, L7M_REFUSE_UNTRUSTED);
	assert_int_equal(check(L7_PP_REQUIRED, false, v2, sizeof(v2) - 1, &why), -EPERM);
	assert_int_equal(why, L7M_REFUSE_UNTRUSTED);
}

static void test_required_trusted_takes_v2_v1_and_local(void **state)
{
	struct proxy_hdr h;
	enum proxy_err perr;
	enum l7m_refuse why;

	expect_header(L7_PP_REQUIRED, v2, sizeof(v2) - 1, V2_HDR);
	expect_header(L7_PP_REQUIRED, v1, sizeof(v1) - 1, 38);
	expect_header(L7_PP_REQUIRED, v2_local, sizeof(v2_local) - 1, 16);
	assert_int_equal(
	    l7_intake_check(L7_PP_REQUIRED, true, v2_local, sizeof(v2_local) - 1, &h, &why, &perr),
	    16);
	assert_int_equal(h.cmd, PROXY_CMD_LOCAL);
}

static void test_required_without_header_is_missing(void **state)
{
	enum l7m_refuse why;

	assert_int_equal(check(L7_PP_REQUIRED, true, http, 1, &why), -EPERM);
	assert_int_equal(why, L7M_REFUSE_MISSING);
	/* "P" could start "PROXY ": wait; "PO" cannot */
	assert_int_equal(check(L7_PP_REQUIRED, true, post, 1, &why), -EAGAIN);
	assert_int_equal(check(L7_PP_REQUIRED, true, post, 2, &why), -EPERM);
	assert_int_equal(why, L7M_REFUSE_MISSING);
}

static void test_malformed_header_is_refused(void **state)
{
	uint8_t bad[sizeof(v2)];
	enum l7m_refuse why;

	memcpy(bad, v2, sizeof(v2));
	bad[12] = 0x31; /* version 3 */
	assert_int_equal(check(L7_PP_REQUIRED, true, bad, sizeof(bad) - 1, &why), -EPERM);
	assert_int_equal(why, L7M_REFUSE_MALFORMED);
	assert_int_equal(check(L7_PP_OPTIONAL, true, "PROXY TCP9 x\r\n", 14, &why), -EPERM);
	assert_int_equal(why, L7M_REFUSE_MALFORMED);
}

static void test_optional_plain_http_and_untrusted_header(void **state)
{
	enum l7m_refuse why;

	for (size_t n = 1; n < sizeof(http); n++)
		assert_int_equal(check(L7_PP_OPTIONAL, false, http, n, &why), 0);
	assert_int_equal(check(L7_PP_OPTIONAL, true, http, sizeof(http) - 1, &why), 0);
	/* an untrusted peer: judged once the signature is complete */
	for (size_t n = 1; n < 12; n++)
		assert_int_equal(check(L7_PP_OPTIONAL, false, v2, n, &why), -EAGAIN);
	assert_int_equal(check(L7_PP_OPTIONAL, false, v2, 12, &why), -EPERM);
	assert_int_equal(why, L7M_REFUSE_UNTRUSTED);
	assert_int_equal(check(L7_PP_OPTIONAL, false, v1, 6, &why), -EPERM);
	assert_int_equal(why, L7M_REFUSE_UNTRUSTED);
	expect_header(L7_PP_OPTIONAL, v2, sizeof(v2) - 1, V2_HDR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_off_never_reads_a_header),
	    cmocka_unit_test(test_required_untrusted_is_refused_before_any_byte),
	    cmocka_unit_test(test_required_trusted_takes_v2_v1_and_local),
	    cmocka_unit_test(test_required_without_header_is_missing),
	    cmocka_unit_test(test_malformed_header_is_refused),
	    cmocka_unit_test(test_optional_plain_http_and_untrusted_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
