/* Tests for strata-l4's health-check status-line parser
 * (l4_health_status in l4/lb/health.c): every prefix of a valid line asks
 * for more, wrong bytes are refused as soon as they are seen, and nothing
 * is read past the end (guard pages). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../l4/lb/health.h"
#include "guard.h"

static int status_of(const char *s, size_t n)
{
	char *g = guard_dup(s, n);
	int rc = l4_health_status(g, n);

	guard_free(g, n);
	return rc;
}

static void expect(const char *line, int code)
{
	size_t n = strlen(line);

	assert_int_equal(status_of(line, n), code);
	if (code <= 0)
		return;
	for (size_t k = 0; k < 12; k++)
		assert_int_equal(status_of(line, k), 0);
}

static void test_valid(void **state)
{
	expect("HTTP/1.1 200 OK\r\n", 200);
	expect("HTTP/1.0 503 Service Unavailable\r\n", 503);
	expect("HTTP/1.1 204\r\n", 204);
	expect("HTTP/1.1 301 Moved", 301);
	assert_int_equal(status_of("HTTP/1.1 200", 12), 200);
}

static void test_refused(void **state)
{
	expect("HTTP/2 200 OK\r\n", -1);
	expect("HTTP/1.2 200 OK\r\n", -1);
	expect("http/1.1 200 OK\r\n", -1);
	expect("HTTP/1.1 2x0 OK\r\n", -1);
	expect("HTTP/1.1 099 OK\r\n", -1);
	expect("HTTP/1.1  200 OK\r\n", -1);
	expect("HTTP/1.1 2000 OK\r\n", -1);
	expect("SSH-2.0-OpenSSH\r\n", -1);
	/* Refused at the first wrong byte, before a full line is there. */
	assert_int_equal(status_of("X", 1), -1);
	assert_int_equal(status_of("HTTP/2", 6), -1);
	assert_int_equal(status_of("", 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
