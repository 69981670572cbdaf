/* Tests for cfgval: durations, sizes (good values, every refusal with its
 * reason, overflow), formatting round trips, edit-distance hints and the
 * scan for integer literals libconfig would truncate. Inputs sit right
 * before an unreadable page and are also fed at every prefix length. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cfgval.h"
#include "guard.h"

typedef int parse_fn(const char *, size_t, uint64_t *, const char **);

static int run(parse_fn *fn, const char *s, size_t n, uint64_t *v, const char **why)
{
	void *g = guard_dup(s, n);
	int rc = fn(g, n, v, why);

	guard_free(g, n);
	return rc;
}

static void expect_val(parse_fn *fn, const char *s, uint64_t want)
{
	uint64_t v = 0, tmp;
	const char *why = NULL;

	if (run(fn, s, strlen(s), &v, &why))
		fail_msg("\"%s\": %s", s, why);
	assert_int_equal(v, want);
	for (size_t n = 0; n < strlen(s); n++)
		(void)run(fn, s, n, &tmp, &why);
}

static void expect_err(parse_fn *fn, const char *s, int err, const char *reason)
{
	uint64_t v = 12345;
	const char *why = NULL;

	assert_int_equal(run(fn, s, strlen(s), &v, &why), err);
	assert_non_null(why);
	assert_string_equal(why, reason);
	assert_int_equal(v, 12345); /* untouched on error */
}

static void test_durations(void **state)
{
	expect_val(cfgval_duration, "250ms", 250000);
	expect_val(cfgval_duration, "2s", 2000000);
	expect_val(cfgval_duration, "1m", 60000000);
	expect_val(cfgval_duration, "1h", 3600000000ull);
	expect_val(cfgval_duration, "1.5s", 1500000);
	expect_val(cfgval_duration, "100us", 100);
	expect_val(cfgval_duration, "0s", 0);
	expect_val(cfgval_duration, "0.001ms", 1);
	expect_val(cfgval_duration, "1.5ms", 1500);
	expect_val(cfgval_duration, "0.25h", 900000000);
	expect_val(cfgval_duration, "0.123456s", 123456);
	expect_val(cfgval_duration, "0.000001s", 1);
	expect_val(cfgval_duration, "007s", 7000000);
	expect_val(cfgval_duration, "18446744073709551615us", UINT64_MAX);
}

static void test_duration_errors(void **state)
{
	const char *units = "unknown unit (use us, ms, s, m or h)";

	expect_err(cfgval_duration, "", -EINVAL, "empty value");
	expect_err(cfgval_duration, "25x", -EINVAL, units);
	expect_err(cfgval_duration, "1m30s", -EINVAL, units);
	expect_err(cfgval_duration, "1MS", -EINVAL, units);
	expect_err(cfgval_duration, "1S", -EINVAL, units);
	expect_err(cfgval_duration, "250", -EINVAL, "missing unit (us, ms, s, m or h)");
	expect_err(cfgval_duration, "-1s", -EINVAL, "negative values are not allowed");
	expect_err(cfgval_duration, "1.s", -EINVAL, "missing digits after '.'");
	expect_err(cfgval_duration, "1.", -EINVAL, "missing digits after '.'");
	expect_err(cfgval_duration, ".5s", -EINVAL, "must start with a number");
	expect_err(cfgval_duration, "ms", -EINVAL, "must start with a number");
	expect_err(cfgval_duration, "250 ms", -EINVAL, "spaces are not allowed");
	expect_err(cfgval_duration, " 1s", -EINVAL, "spaces are not allowed");
	expect_err(cfgval_duration, "0.5us", -EINVAL, "finer than a microsecond");
	expect_err(cfgval_duration, "1.0001ms", -EINVAL, "finer than a microsecond");
	expect_err(cfgval_duration, "1.0000000001s", -EINVAL, "too many decimal places");
	expect_err(cfgval_duration, "18446744073709551616us", -ERANGE, "value too large");
	expect_err(cfgval_duration, "6000000000h", -ERANGE, "value too large");
	expect_err(cfgval_duration, "99999999999999999999999s", -ERANGE, "value too large");
}

static void test_sizes(void **state)
{
	expect_val(cfgval_size, "512", 512);
	expect_val(cfgval_size, "0", 0);
	expect_val(cfgval_size, "16k", 16384);
	expect_val(cfgval_size, "16K", 16384);
	expect_val(cfgval_size, "16KiB", 16384);
	expect_val(cfgval_size, "4m", 4u << 20);
	expect_val(cfgval_size, "4MiB", 4u << 20);
	expect_val(cfgval_size, "1g", 1u << 30);
	expect_val(cfgval_size, "1GiB", 1u << 30);
	expect_val(cfgval_size, "1t", 1ull << 40);
	expect_val(cfgval_size, "1.5k", 1536);
	expect_val(cfgval_size, "0.5m", 512 * 1024);
	expect_val(cfgval_size, "16777215t", 16777215ull << 40);
}

static void test_size_errors(void **state)
{
	const char *amb = "ambiguous unit: sizes are binary, write k or KiB (1k = 1024 bytes)";
	const char *units = "unknown unit (use k, m, g, t or KiB, MiB, GiB, TiB)";

	expect_err(cfgval_size, "16kb", -EINVAL, amb);
	expect_err(cfgval_size, "16KB", -EINVAL, amb);
	expect_err(cfgval_size, "1MB", -EINVAL, amb);
	expect_err(cfgval_size, "1gb", -EINVAL, amb);
	expect_err(cfgval_size, "16x", -EINVAL, units);
	expect_err(cfgval_size, "16kib", -EINVAL, units);
	expect_err(cfgval_size, "512B", -EINVAL, units);
	expect_err(cfgval_size, "0.1k", -EINVAL, "not a whole number of bytes");
	expect_err(cfgval_size, "1.5", -EINVAL, "not a whole number of bytes");
	expect_err(cfgval_size, "-1", -EINVAL, "negative values are not allowed");
	expect_err(cfgval_size, "16 k", -EINVAL, "spaces are not allowed");
	expect_err(cfgval_size, "", -EINVAL, "empty value");
	expect_err(cfgval_size, "k", -EINVAL, "must start with a number");
	expect_err(cfgval_size, "16777216t", -ERANGE, "value too large");
	expect_err(cfgval_size, "18446744073709551616", -ERANGE, "value too large");
}

static void round_trip(uint64_t v, const char *want, int (*fmt)(uint64_t, char *, size_t),
		       parse_fn *parse)
{
	char buf[CFGVAL_STR_MAX];
	uint64_t back;
	const char *why;

	assert_int_equal(fmt(v, buf, sizeof(buf)), (int)strlen(want));
	assert_string_equal(buf, want);
	assert_int_equal(parse(buf, strlen(buf), &back, &why), 0);
	assert_int_equal(back, v);
}

static void test_format(void **state)
{
	char small[3];

	round_trip(0, "0s", cfgval_format_duration, cfgval_duration);
	round_trip(250000, "250ms", cfgval_format_duration, cfgval_duration);
	round_trip(1500000, "1500ms", cfgval_format_duration, cfgval_duration);
	round_trip(7200000000ull, "2h", cfgval_format_duration, cfgval_duration);
	round_trip(90000000, "90s", cfgval_format_duration, cfgval_duration);
	round_trip(17, "17us", cfgval_format_duration, cfgval_duration);
	round_trip(UINT64_MAX, "18446744073709551615us", cfgval_format_duration, cfgval_duration);
	round_trip(0, "0", cfgval_format_size, cfgval_size);
	round_trip(16384, "16k", cfgval_format_size, cfgval_size);
	round_trip(1536, "1536", cfgval_format_size, cfgval_size);
	round_trip(3ull << 30, "3g", cfgval_format_size, cfgval_size);
	round_trip(1ull << 50, "1024t", cfgval_format_size, cfgval_size);
	assert_int_equal(cfgval_format_size(16384, small, sizeof(small)), -ENOSPC);
}

static void test_edit_distance(void **state)
{
	static const char *const keys[] = {"listen", "backlog", "timeout", "port", NULL};
	char longer[CFGVAL_EDIT_MAX + 2];

	assert_int_equal(cfgval_edit_distance("kitten", 6, "sitting", 7), 3);
	assert_int_equal(cfgval_edit_distance("tiemout", 7, "timeout", 7), 1);
	assert_int_equal(cfgval_edit_distance("", 0, "abc", 3), 3);
	assert_int_equal(cfgval_edit_distance("abc", 3, "abc", 3), 0);
	assert_int_equal(cfgval_edit_distance("ab", 2, "ba", 2), 1);
	memset(longer, 'a', sizeof(longer));
	assert_int_equal(cfgval_edit_distance(longer, sizeof(longer), "a", 1), SIZE_MAX);
	assert_string_equal(cfgval_closest("lisen", keys), "listen");
	assert_string_equal(cfgval_closest("tiemout", keys), "timeout");
	assert_string_equal(cfgval_closest("backlgo", keys), "backlog");
	assert_string_equal(cfgval_closest("prt", keys), "port");
	assert_string_equal(cfgval_closest("Listen", keys), "listen");
	assert_null(cfgval_closest("xyz", keys));
	assert_null(cfgval_closest("servers", keys));
}

static int scan(const char *text, struct cfgval_span *at)
{
	size_t n = strlen(text);
	void *g = guard_dup(text, n);
	struct cfgval_span tmp;
	int rc = cfgval_find_int_overflow(g, n, at);

	for (size_t k = 0; k < n; k++)
		(void)cfgval_find_int_overflow(g, k, &tmp);
	guard_free(g, n);
	return rc;
}

static void expect_mangled(const char *text, unsigned line, const char *literal)
{
	struct cfgval_span at;

	assert_int_equal(scan(text, &at), -ERANGE);
	assert_int_equal(at.line, line);
	assert_int_equal(at.len, strlen(literal));
	assert_memory_equal(text + at.off, literal, at.len);
}

static void test_int_overflow_scan(void **state)
{
	struct cfgval_span at;

	expect_mangled("a = 5000000000;", 1, "5000000000");
	expect_mangled("a = 2147483648;", 1, "2147483648");
	expect_mangled("a = -2147483649;", 1, "-2147483649");
	expect_mangled("a = 99999999999999999999L;", 1, "99999999999999999999L");
	expect_mangled("a = 0x80000000;", 1, "0x80000000");
	expect_mangled("a = 0x1ffffffffffffffffL;", 1, "0x1ffffffffffffffffL");
	expect_mangled("l = [1, 2,\n 3000000000];", 2, "3000000000");
	expect_mangled("a = 1;\n/* x\n y */\nb = \"q\\\"\n\";\nc = 3000000000;", 6, "3000000000");
	assert_int_equal(scan("a = 2147483647; b = -2147483648; c = 0x7fffffff;", &at), 0);
	assert_int_equal(scan("a = 5000000000L; b = 0xffffffffffffffffL; c = 00001;", &at), 0);
	assert_int_equal(scan("a = \"5000000000\"; # 5000000000\n// 5000000000\n", &at), 0);
	assert_int_equal(scan("/* 5000000000 */ x5000000000 = 1; y-5000000000 = 2;", &at), 0);
	assert_int_equal(scan("a = 5000000000.0; b = 1e10; c = -3e+12; d = 1.5e-300;", &at), 0);
	assert_int_equal(scan("@include \"5000000000.conf\"\n", &at), 0);
	assert_int_equal(scan("a = \"unterminated 5000000000", &at), 0);
	assert_int_equal(scan("/* unterminated 5000000000", &at), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_duration_errors),
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_size_errors),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_edit_distance),
	    cmocka_unit_test(test_int_overflow_scan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
