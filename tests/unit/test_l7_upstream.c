/* Tests for strata-l7's server run-time state (l7/upstream.c): carried over
 * for the same name and address, fresh otherwise; availability from admin
 * state, health and passive ejection with its cool-down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "addr.h"

#include "../../l7/upstream.h"

static struct l7_server srv(const char *name, const char *address)
{
	struct l7_server s = {.name = {.ptr = name, .len = (uint32_t)strlen(name)}, .weight = 1};
	const char *why;

	assert_int_equal(addr_parse(address, strlen(address), 0, 0, &s.address, &why), 0);
	return s;
}

static void test_state_is_kept_for_the_same_name_and_address(void **state)
{
	struct l7_server a = srv("be-0", "127.0.0.1:8200");
	struct l7_server moved = srv("be-0", "127.0.0.1:9999");
	struct l7_server_rt *r1 = l7_server_rt_get("echo", &a);
	struct l7_server_rt *r2 = l7_server_rt_get("echo", &a);
	struct l7_server_rt *r3 = l7_server_rt_get("echo", &moved);
	struct l7_server_rt *r4 = l7_server_rt_get("other", &a);

	assert_ptr_equal(r1, r2);
	assert_ptr_not_equal(r1, r3);
	assert_ptr_not_equal(r1, r4);
	atomic_store(&r1->requests, 42);
	l7_server_rt_put(r2);
	/* a reload building the next generation before the old one is gone */
	r2 = l7_server_rt_get("echo", &a);
	assert_int_equal(atomic_load(&r2->requests), 42);
	l7_server_rt_put(r1);
	l7_server_rt_put(r2);
	l7_server_rt_put(r3);
	l7_server_rt_put(r4);
	/* all references gone: the next one starts fresh */
	r1 = l7_server_rt_get("echo", &a);
	assert_int_equal(atomic_load(&r1->requests), 0);
	l7_server_rt_put(r1);
}

static void test_availability_combines_admin_health_and_ejection(void **state)
{
	struct l7_server a = srv("be-1", "127.0.0.1:8201");
	struct l7_server_rt *rt = l7_server_rt_get("echo", &a);
	enum l7_admin_state st;

	assert_true(l7_server_available(rt));
	l7_server_set_admin(rt, L7_ADMIN_DRAIN);
	assert_false(l7_server_available(rt));
	l7_server_set_admin(rt, L7_ADMIN_READY);
	assert_true(l7_server_available(rt));
	atomic_store(&rt->health_up, false);
	assert_true(l7_server_update(rt, 0));
	assert_false(l7_server_available(rt));
	atomic_store(&rt->health_up, true);
	assert_true(l7_server_update(rt, 0));
	assert_false(l7_server_update(rt, 0)); /* nothing changed */
	assert_int_equal(l7_admin_state_parse("maint", &st), 0);
	assert_int_equal(st, L7_ADMIN_MAINT);
	assert_int_equal(l7_admin_state_parse("down", &st), -EINVAL);
	assert_string_equal(l7_admin_state_name(L7_ADMIN_DRAIN), "drain");
	l7_server_rt_put(rt);
}

static void test_passive_ejection_after_consecutive_failures(void **state)
{
	struct l7_server a = srv("be-2", "127.0.0.1:8202");
	struct l7_server_rt *rt = l7_server_rt_get("echo", &a);

	l7_server_report(rt, false, 3, 1000, 100);
	l7_server_report(rt, false, 3, 1000, 100);
	l7_server_report(rt, true, 3, 1000, 100); /* a success resets the count */
	l7_server_report(rt, false, 3, 1000, 100);
	l7_server_report(rt, false, 3, 1000, 100);
	assert_true(l7_server_available(rt));
	l7_server_report(rt, false, 3, 1000, 200);
	assert_false(l7_server_available(rt));
	assert_int_equal(atomic_load(&rt->ejections), 1);
	assert_false(l7_server_update(rt, 1199)); /* still cooling down */
	assert_true(l7_server_update(rt, 1200));
	assert_true(l7_server_available(rt));
	/* failures = 0: passive ejection off */
	for (int i = 0; i < 100; i++)
		l7_server_report(rt, false, 0, 1000, 300);
	assert_true(l7_server_available(rt));
	l7_server_rt_put(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_is_kept_for_the_same_name_and_address),
	    cmocka_unit_test(test_availability_combines_admin_health_and_ejection),
	    cmocka_unit_test(test_passive_ejection_after_consecutive_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
