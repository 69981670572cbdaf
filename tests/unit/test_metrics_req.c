/* Tests for the /metrics request parser (common/metrics_req.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "metrics_req.h"

#define MAX 4096

static int parse(const char *s, struct metrics_req *req, enum metrics_req_err *why)
{
	size_t len = strlen(s);
	char *g = guard_dup(s, len);
	int rc = metrics_req_parse(g, len, MAX, req, why);

	guard_free(g, len);
	return rc;
}

static void test_get_metrics_is_ok(void **state)
{
	const char *r = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct metrics_req req;
	enum metrics_req_err why;

	assert_int_equal(parse(r, &req, &why), (int)strlen(r));
	assert_int_equal(req.verdict, METRICS_REQ_OK);
	assert_false(req.is_head);
}

static void test_query_and_head_and_bare_lf(void **state)
{
	struct metrics_req req;
	enum metrics_req_err why;

	assert_true(parse("HEAD /metrics?x=1 HTTP/1.0\n\n", &req, &why) > 0);
	assert_int_equal(req.verdict, METRICS_REQ_OK);
	assert_true(req.is_head);
}

static void test_other_path_and_method(void **state)
{
	struct metrics_req req;
	enum metrics_req_err why;

	assert_true(parse("GET /metricsx HTTP/1.1\r\n\r\n", &req, &why) > 0);
	assert_int_equal(req.verdict, METRICS_REQ_NOT_FOUND);
	assert_true(parse("POST /metrics HTTP/1.1\r\n\r\n", &req, &why) > 0);
	assert_int_equal(req.verdict, METRICS_REQ_BAD_METHOD);
}

static void test_malformed_lines(void **state)
{
	static const struct {
		const char *req;
		enum metrics_req_err why;
	} cases[] = {
	    {"GET\r\n\r\n", METRICS_REQ_ERR_LINE},
	    {" /metrics HTTP/1.1\r\n\r\n", METRICS_REQ_ERR_LINE},
	    {"GET  HTTP/1.1\r\n\r\n", METRICS_REQ_ERR_LINE},
	    {"get /metrics HTTP/1.1\r\n\r\n", METRICS_REQ_ERR_METHOD},
	    {"GET /metrics HTTP/2.0\r\n\r\n", METRICS_REQ_ERR_VERSION},
	    {"GET /metrics HTTP/1.1 x\r\n\r\n", METRICS_REQ_ERR_VERSION},
	};
	struct metrics_req req;
	enum metrics_req_err why;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(cases[i].req, &req, &why), -EBADMSG);
		assert_int_equal(why, cases[i].why);
	}
}

static void test_every_prefix_needs_more(void **state)
{
	const char *r = "GET /metrics HTTP/1.1\r\nAccept: */*\r\n\r\n";
	size_t len = strlen(r);
	struct metrics_req req;
	enum metrics_req_err why;

	for (size_t n = 0; n < len; n++) {
		char *g = guard_dup(r, n);
		assert_int_equal(metrics_req_parse(g, n, MAX, &req, &why), -EAGAIN);
		guard_free(g, n);
	}
}

static void test_head_over_limit(void **state)
{
	char big[64];
	struct metrics_req req;
	enum metrics_req_err why;

	memset(big, 'a', sizeof(big));
	assert_int_equal(metrics_req_parse(big, sizeof(big), 32, &req, &why), -E2BIG);
	assert_int_equal(why, METRICS_REQ_ERR_TOO_BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_metrics_is_ok),
	    cmocka_unit_test(test_query_and_head_and_bare_lf),
	    cmocka_unit_test(test_other_path_and_method),
	    cmocka_unit_test(test_malformed_lines),
	    cmocka_unit_test(test_every_prefix_needs_more),
	    cmocka_unit_test(test_head_over_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
