/* Tests for strata-l7's health-check status line reader (l7/health.c) on
 * guarded copies and on every prefix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"

#include "../../l7/health.h"

static int status(const char *s, size_t n)
{
	void *g = guard_dup(s, n);
	int r = l7_health_status(g, n);

	guard_free(g, n);
	return r;
}

static void test_status_lines(void **state)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\n";
	static const char ten[] = "HTTP/1.0 503 Service Unavailable\r\n";

	for (size_t n = 0; n < 12; n++)
		assert_int_equal(status(ok, n), 0);
	assert_int_equal(status(ok, sizeof(ok) - 1), 200);
	assert_int_equal(status(ten, sizeof(ten) - 1), 503);
	assert_int_equal(status("HTTP/1.1 204", 12), 204);
}

static void test_not_status_lines(void **state)
{
	assert_int_equal(status("HTTX", 4), -1);
	assert_int_equal(status("SSH-2.0-OpenSSH", 15), -1);
	assert_int_equal(status("HTTP/1.1 2x0 OK", 15), -1);
	assert_int_equal(status("HTTP/1.1 099 X", 14), -1);
	assert_int_equal(status("HTTP/1.1x200 OK", 15), -1);
	assert_int_equal(status("HTTP/2.0 200 OK", 15), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_lines),
	    cmocka_unit_test(test_not_status_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
