/* Tests for the strata-l4 `show stats` reader of the strata-l4 tracker
 * (l4/vrrp/vrrp_l4stats.c): whole answers, every split point, guard-page
 * buffers, overlong and malformed lines, the quiet and drained verdicts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../l4/vrrp/vrrp_l4stats.h"
#include "guard.h"

static const char ANSWER[] =
    "node l4-a\nconfig /etc/strata/l4.conf generation 3\nworkers 2\n"
    "active 17\naccept_paused 0\naccept_errors 0\ndraining 1\n"
    "draining_ms 1234\nreloads_ok 0\nservice http conns 9 bytes_in 1\nOK\n";

/* Feeds `text` in two pieces split at `at`, each in a guard-page buffer. */
static void feed_split(struct vrrp_l4stats *s, const char *text, size_t at)
{
	size_t len = strlen(text);
	char *a = guard_dup(text, at), *b = guard_dup(text + at, len - at);

	vrrp_l4stats_feed(s, a, at);
	vrrp_l4stats_feed(s, b, len - at);
	guard_free(a, at);
	guard_free(b, len - at);
}

static void test_whole_and_split_answers(void **state)
{
	for (size_t at = 0; at <= strlen(ANSWER); at++) {
		struct vrrp_l4stats s;

		vrrp_l4stats_reset(&s);
		feed_split(&s, ANSWER, at);
		assert_true(s.has_active);
		assert_int_equal(s.active, 17);
		assert_true(s.draining);
		assert_int_equal(s.draining_ms, 1234);
	}
}

static void test_byte_by_byte_with_crlf(void **state)
{
	const char *t = "active 0\r\ndraining 0\r\ndraining_ms 0\r\nOK\r\n";
	struct vrrp_l4stats s;

	vrrp_l4stats_reset(&s);
	for (size_t i = 0; t[i]; i++) {
		char *b = guard_dup(t + i, 1);

		vrrp_l4stats_feed(&s, b, 1);
		guard_free(b, 1);
	}
	assert_true(s.has_active);
	assert_int_equal(s.active, 0);
	assert_false(s.draining);
	assert_true(vrrp_l4stats_quiet(&s, 300));
	assert_false(vrrp_l4stats_drained(&s, 300));
}

static void test_bad_lines_are_ignored(void **state)
{
	struct vrrp_l4stats s;
	char longline[200];

	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "active ", 7);
	longline[sizeof(longline) - 1] = '\n';
	vrrp_l4stats_reset(&s);
	vrrp_l4stats_feed(&s, longline, sizeof(longline)); /* overlong: not ours */
	assert_false(s.has_active);
	const char *bad = "active\nactive -1\nactive 12x\nactive 99999999999\ndraining 2\n"
			  "draining_ms 18446744073709551616\nactiveX 3\n active 4\n";
	vrrp_l4stats_feed(&s, bad, strlen(bad));
	assert_false(s.has_active);
	assert_false(s.draining);
	assert_int_equal(s.draining_ms, 0);
	/* A partial last line counts only once its newline comes. */
	vrrp_l4stats_feed(&s, "active 5", 8);
	assert_false(s.has_active);
	vrrp_l4stats_feed(&s, "\n", 1);
	assert_true(s.has_active);
	assert_int_equal(s.active, 5);
	assert_false(vrrp_l4stats_quiet(&s, 0)); /* without an "active" line: false */
	vrrp_l4stats_reset(&s);
	assert_false(vrrp_l4stats_quiet(&s, 0));
}

static void test_quiet_needs_a_settled_drain(void **state)
{
	struct vrrp_l4stats s;
	const char *t = "active 0\ndraining 1\ndraining_ms 299\n";

	vrrp_l4stats_reset(&s);
	vrrp_l4stats_feed(&s, t, strlen(t));
	assert_false(vrrp_l4stats_quiet(&s, 300));
	assert_false(vrrp_l4stats_drained(&s, 300));
	vrrp_l4stats_feed(&s, "draining_ms 300\n", 16);
	assert_true(vrrp_l4stats_quiet(&s, 300));
	assert_true(vrrp_l4stats_drained(&s, 300));
	vrrp_l4stats_feed(&s, "active 1\n", 9);
	assert_false(vrrp_l4stats_drained(&s, 300));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whole_and_split_answers),
	    cmocka_unit_test(test_byte_by_byte_with_crlf),
	    cmocka_unit_test(test_bad_lines_are_ignored),
	    cmocka_unit_test(test_quiet_needs_a_settled_drain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
