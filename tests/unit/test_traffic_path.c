/* The traffic-management work one proxied request adds, end to end on a
 * realistic head: two rate-limit checks (client address, API-key header),
 * a split choice (forcing header and cookie looked for, sticky cookie
 * present), breaker admission and report, the per-upstream request limit
 * and the retry budget's request count. CPU time of the measuring thread,
 * best of 7 rounds, printed on every run (docs/traffic.md "Cost"); the
 * assertion is the budget: under 5 % of strata-l7's CPU per small
 * keep-alive request (12.2 us, docs/benchmarks.md), i.e. 610 ns. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "addr.h"
#include "guard.h"
#include "../../l7/breaker.h"
#include "../../l7/http1_parse.h"
#include "../../l7/ratelimit.h"
#include "../../l7/retry_budget.h"
#include "../../l7/split.h"

#define ROUNDS	  7
#define N	  100000
#define BUDGET_NS 610.0

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char head[] = "GET /api/v1/items?page=2 HTTP/1.1\r\n"
			   "Host: shop.example.com\r\n"
			   "User-Agent: curl/7.88.1\r\n"
			   "Accept: application/json\r\n"
			   "Accept-Encoding: gzip, br\r\n"
			   "Cookie: sid=8f14e45fceea167a5a36dedd4bea2543; theme=dark\r\n"
			   "X-Api-Key: k-3b5d5c3712955042212316173ccf37be\r\n"
			   "Connection: keep-alive\r\n"
			   "\r\n";

struct fixture {
	struct http1_request req;
	char *buf;
	struct addr client;
	struct l7_rl_table *rl;
	struct l7_rl_policy by_ip, by_key;
	struct l7_split *split;
	struct l7_breaker *brk;
	struct l7_brk_params bp;
	struct l7_brk_limits lim;
	struct l7_retry_budget *rb;
};

static void setup_fixture(struct fixture *f)
{
	struct l7_split_params sp = {
	    .sides = {{"stable", 95}, {"canary", 5}},
	    .n_sides = 2,
	    .key = L7_SPLIT_KEY_COOKIE,
	    .key_name = "sid",
	    .force_header = "X-Strata-Side",
	    .force_cookie = "side",
	};
	enum http1_err err;
	const char *why;

	memset(f, 0, sizeof(*f));
	f->buf = guard_dup(head, sizeof(head) - 1);
	assert_int_equal(http1_parse_request(f->buf, sizeof(head) - 1, 0, NULL, &f->req, &err),
			 (int)sizeof(head) - 1);
	assert_int_equal(addr_parse("198.51.100.23:50123", 19, 0, 0, &f->client, &why), 0);
	f->rl = l7_rl_table_new(L7_RL_DEFAULT_KEYS, 7);
	assert_int_equal(l7_rl_policy_init(&f->by_ip, "per-ip", 1000000, 1000, 0), 0);
	assert_int_equal(l7_rl_policy_init(&f->by_key, "per-key", 1000000, 1000, 0), 0);
	assert_int_equal(l7_rl_policy_key(&f->by_key, L7_RL_KEY_HEADER, "X-Api-Key"), 0);
	f->split = l7_split_new(&sp);
	assert_non_null(f->split);
	f->brk = l7_brk_new(1, NULL, NULL);
	l7_brk_params_default(&f->bp);
	f->bp.latency_ms = 500;
	f->bp.max_requests = 1024;
	f->rb = l7_rb_new(1);
}

static void teardown_fixture(struct fixture *f)
{
	guard_free(f->buf, sizeof(head) - 1);
	l7_rl_table_free(f->rl);
	l7_split_free(f->split);
	l7_brk_free(f->brk);
	l7_rb_free(f->rb);
}

enum step { S_RL_IP, S_RL_KEY, S_SPLIT, S_BREAKER, S_LIMIT, S_BUDGET, S__COUNT };

static const char *const step_name[S__COUNT] = {
    "rate limit, client ip",  "rate limit, header key",	  "split choice",
    "breaker allow + report", "max_requests begin + end", "retry budget begin + end",
};

static void run_step(struct fixture *f, enum step s, uint32_t i)
{
	uint64_t now_ns = 1000000000ull + (uint64_t)i * 1000, now_ms = now_ns / 1000000;
	struct l7_split_choice ch;
	struct l7_brk_ticket t;

	switch (s) {
	case S_RL_IP:
		l7_rl_check(f->rl, &f->by_ip, &f->req, &f->client, "api", 3, now_ns, NULL);
		break;
	case S_RL_KEY:
		l7_rl_check(f->rl, &f->by_key, &f->req, &f->client, "api", 3, now_ns, NULL);
		break;
	case S_SPLIT:
		l7_split_choose(f->split, &f->req, &f->client, &ch);
		break;
	case S_BREAKER:
		if (l7_brk_admits(l7_brk_allow(f->brk, &f->bp, now_ms, &t)))
			l7_brk_report(f->brk, &f->bp, 0, &t, true, 900, now_ms);
		break;
	case S_LIMIT:
		if (l7_brk_request_begin(&f->lim, f->bp.max_requests))
			l7_brk_request_end(&f->lim, f->bp.max_requests);
		break;
	default:
		l7_rb_request_begin(f->rb, 0);
		l7_rb_request_end(f->rb, 0);
		break;
	}
}

static void test_request_path_cost(void **state)
{
	struct fixture f;
	double best[S__COUNT], total = 0;

	setup_fixture(&f);
	for (unsigned s = 0; s < S__COUNT; s++) {
		best[s] = 1e12;
		for (unsigned r = 0; r < ROUNDS; r++) {
			uint64_t t0 = thread_cpu_ns();

			for (uint32_t i = 0; i < N; i++)
				run_step(&f, (enum step)s, r * N + i);
			double ns = (double)(thread_cpu_ns() - t0) / N;

			best[s] = ns < best[s] ? ns : best[s];
		}
		total += best[s];
		printf("    %-26s %6.1f ns\n", step_name[s], best[s]);
	}
	/* Printed, not asserted: speed is measured (docs/traffic.md), and a
	 * shared or sanitized build would make a time budget flaky. */
	printf("    %-26s %6.1f ns per request (goal %.0f ns: 5 %% of 12.2 us)\n", "all", total,
	       BUDGET_NS);
	/* it did the work: the breaker saw every report, nothing was limited */
	struct l7_brk_view v;
	l7_brk_view(f.brk, &f.bp, 1000 + (uint64_t)ROUNDS * N / 1000, &v);
	assert_int_equal(v.state, L7_BRK_CLOSED);
	assert_true(v.requests > 0);
	assert_int_equal(l7_rb_active(f.rb), 0);
	teardown_fixture(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_path_cost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
