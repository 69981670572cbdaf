/* Fuzzes the rate parser (l7_rl_parse_rate): any input gives a verdict with
 * a reason and never reads past its end; a rate it accepts always builds a
 * policy, whose buckets refuse with a Retry-After no longer than one
 * interval, and whose RateLimit fields and 429 fit the advertised maxima. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../l7/ratelimit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_policy(const struct l7_rl_policy *p)
{
	static struct l7_rl_table *t;
	static uint64_t key;
	struct l7_rl_result r;
	char hdrs[L7_RL_HDRS_MAX];
	uint8_t resp[L7_RL_429_MAX];
	uint64_t now = 1000000000ull;

	if (!t)
		t = l7_rl_table_new(L7_RL_MIN_KEYS, 1);
	assert(t);
	key++; /* a fresh bucket per input: it starts full */
	assert(l7_rl_take(t, p, key, now, &r) && r.remaining == p->burst - 1);
	for (unsigned i = 0; i < 2048 && r.allowed; i++)
		l7_rl_take(t, p, key, now, &r);
	if (!r.allowed)
		assert(r.retry_after_ns > 0 && r.retry_after_ns <= p->interval_ns);
	assert(l7_rl_format_headers(hdrs, sizeof(hdrs), p, &r) > 0);
	assert(l7_rl_respond_429(resp, sizeof(resp), p, &r, true) > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct l7_rl_policy p;
	uint32_t count = 0, period = 0;
	enum l7_rl_err why;
	int rc = l7_rl_parse_rate((const char *)data, size, &count, &period, &why);

	assert(rc == -EBADMSG || rc == -E2BIG || (rc > 0 && (size_t)rc == size));
	assert(strcmp(l7_rl_err_text(why), "?"));
	if (rc < 0) {
		assert(why != L7_RL_ERR_NONE);
		return 0;
	}
	assert(why == L7_RL_ERR_NONE && count && period && period <= L7_RL_MAX_PERIOD);
	assert(l7_rl_policy_init(&p, "fuzz", count, period, 0) == 0);
	check_policy(&p);
	return 0;
}
