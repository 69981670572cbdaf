/* Fuzzes the split weight parser (l7_split_parse_weights, what stratactl's
 * `set split` hands the daemon): any input gives a verdict with a reason
 * and never reads past its end; weights it accepts are always valid for
 * l7_split_set_weights, and the split then still picks a side. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../l7/split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct l7_split *get_split(void)
{
	static struct l7_split *sp;
	struct l7_split_params p = {
	    .sides = {{"blue", 50}, {"green", 50}, {"canary", 0}},
	    .n_sides = 3,
	};

	if (!sp)
		sp = l7_split_new(&p);
	assert(sp);
	return sp;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct l7_split *sp = get_split();
	uint32_t w[L7_SPLIT_MAX_SIDES];
	enum l7_split_err why;
	int rc = l7_split_parse_weights(sp, (const char *)data, size, w, &why);

	assert(rc == -EBADMSG || rc == -E2BIG || (rc > 0 && (size_t)rc == size));
	assert(strcmp(l7_split_err_text(why), "?"));
	if (rc < 0) {
		assert(why != L7_SPLIT_ERR_NONE);
		return 0;
	}
	assert(why == L7_SPLIT_ERR_NONE);
	assert(l7_split_set_weights(sp, w, 3) == 0);
	for (uint32_t b = 0; b < L7_SPLIT_BUCKETS; b += 997) {
		int side = l7_split_pick(sp, b);

		assert(side >= 0 && side < 3 && w[side] > 0);
	}
	return 0;
}
