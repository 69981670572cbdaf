/* Tests for strata-l4's connection state machine (l4/lb/conn_state.c):
 * the transition table exactly as documented, set_state() following it
 * (and aborting on anything else), and a name and a sentence for every
 * termination reason. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../l4/lb/conn.h"

/* The table of conn_state.c's comment, spelled out: [from][to]. */
static const bool want[L4_ST__COUNT][L4_ST__COUNT] = {
    [L4_ST_NEW] = {[L4_ST_PEEK] = true, [L4_ST_CONNECT] = true, [L4_ST_CLOSING] = true},
    [L4_ST_PEEK] = {[L4_ST_CONNECT] = true, [L4_ST_CLOSING] = true},
    [L4_ST_CONNECT] = {[L4_ST_CONNECT] = true, [L4_ST_RELAY] = true, [L4_ST_CLOSING] = true},
    [L4_ST_RELAY] = {[L4_ST_CLOSING] = true},
};

static void test_table(void **state)
{
	for (int f = 0; f < L4_ST__COUNT; f++)
		for (int t = 0; t < L4_ST__COUNT; t++)
			if (l4_cstate_allowed((enum l4_cstate)f, (enum l4_cstate)t) != want[f][t])
				fail_msg("%s -> %s", l4_cstate_name((enum l4_cstate)f),
					 l4_cstate_name((enum l4_cstate)t));
	assert_false(l4_cstate_allowed(L4_ST__COUNT, L4_ST_NEW));
	assert_false(l4_cstate_allowed(L4_ST_NEW, L4_ST__COUNT));
	/* Nothing leaves CLOSING, and NEW is never re-entered. */
	for (int s = 0; s < L4_ST__COUNT; s++) {
		assert_false(l4_cstate_allowed(L4_ST_CLOSING, (enum l4_cstate)s));
		assert_false(l4_cstate_allowed((enum l4_cstate)s, L4_ST_NEW));
	}
}

static void test_set_state_walks_a_life(void **state)
{
	struct l4_conn c;

	memset(&c, 0, sizeof(c));
	l4_conn_set_state(&c, L4_ST_PEEK);
	l4_conn_set_state(&c, L4_ST_CONNECT);
	l4_conn_set_state(&c, L4_ST_CONNECT); /* a retry */
	l4_conn_set_state(&c, L4_ST_RELAY);
	l4_conn_set_state(&c, L4_ST_CLOSING);
	assert_int_equal(c.state, L4_ST_CLOSING);
}

static void test_illegal_transition_aborts(void **state)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct l4_conn c;

		memset(&c, 0, sizeof(c));
		close(2);			    /* keep the log line out of the test output */
		l4_conn_set_state(&c, L4_ST_RELAY); /* NEW -> RELAY skips connecting */
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

static void test_reasons_named(void **state)
{
	for (int a = 0; a < L4_END__COUNT; a++) {
		const char *n = l4_end_name((enum l4_end)a), *s = l4_end_sentence((enum l4_end)a);

		assert_true(n && *n && strchr(n, ' ') == NULL);
		assert_true(s && strlen(s) > 10 && s[strlen(s) - 1] == '.');
		for (int b = 0; b < a; b++)
			assert_string_not_equal(n, l4_end_name((enum l4_end)b));
	}
	assert_string_equal(l4_end_name(L4_END_CLIENT_RESET), "client_reset");
	assert_string_equal(l4_end_name(L4_END__COUNT), "?");
	for (int s = 0; s < L4_ST__COUNT; s++)
		assert_string_not_equal(l4_cstate_name((enum l4_cstate)s), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_set_state_walks_a_life),
	    cmocka_unit_test(test_illegal_transition_aborts),
	    cmocka_unit_test(test_reasons_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
