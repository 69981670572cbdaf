/* libFuzzer target for strata-vrrp's reader of strata-l4's `show stats`
 * answer (vrrp_l4stats.c).
 *
 * The input is fed whole, then again in pieces whose sizes come from the
 * first byte: the reader must reach the same figures however the answer is
 * split, never read past a piece, and keep its line buffer terminated. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../l4/vrrp/vrrp_l4stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct vrrp_l4stats *a, const struct vrrp_l4stats *b)
{
	assert(a->has_active == b->has_active && a->active == b->active);
	assert(a->draining == b->draining && a->draining_ms == b->draining_ms);
	assert(vrrp_l4stats_quiet(a, 300) == vrrp_l4stats_quiet(b, 300));
	assert(vrrp_l4stats_drained(a, 300) == vrrp_l4stats_drained(b, 300));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vrrp_l4stats whole, split;
	size_t step, off = 0;

	if (size < 1)
		return 0;
	step = (size_t)(data[0] % 16) + 1;
	data++;
	size--;
	vrrp_l4stats_reset(&whole);
	vrrp_l4stats_feed(&whole, (const char *)data, size);
	vrrp_l4stats_reset(&split);
	while (off < size) {
		size_t n = size - off < step ? size - off : step;

		vrrp_l4stats_feed(&split, (const char *)data + off, n);
		off += n;
	}
	same(&whole, &split);
	assert(whole.len < sizeof(whole.line));
	return 0;
}
