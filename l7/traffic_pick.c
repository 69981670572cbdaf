/* Server choice within an exchange's attempts: tried and refused servers
 * left out of the next pick, for upstreams of any size (traffic_pick.h). */
#include <string.h>

#include "l7_config.h"
#include "traffic_pick.h"

_Static_assert(L7_MAX_SERVERS - 1 <= UINT16_MAX, "a tried server's index fits the list");

static bool is_inline(uint32_t n_servers)
{
	return n_servers <= L7_TRIED_INLINE;
}

void l7_tried_add(struct l7_tried *t, uint32_t n_servers, uint32_t idx)
{
	if (is_inline(n_servers)) {
		t->flag[idx] = true;
		return;
	}
	/* One entry per attempt, and attempts are fewer than the list holds. */
	if (t->n < L7_TRIED_LIST)
		t->list[t->n++] = (uint16_t)idx;
}

void l7_tried_forget(struct l7_tried *t, uint32_t n_servers, uint32_t idx)
{
	if (is_inline(n_servers)) {
		t->flag[idx] = false;
		return;
	}
	for (unsigned i = t->n; i-- > 0;) {
		if (t->list[i] == idx) {
			t->list[i] = t->list[--t->n];
			return;
		}
	}
}

/* The flags of a large upstream's tried list, laid out in `flags`. */
static bool *lay_out(const struct l7_tried *t, uint32_t n_servers, bool *flags)
{
	memset(flags, 0, n_servers);
	for (unsigned i = 0; i < t->n; i++)
		flags[t->list[i]] = true;
	return flags;
}

int l7_pick_admitted(struct l7_tried *t, uint32_t n_servers, bool stop_on_reject, l7_pick_fn pick,
		     l7_admit_fn admit, void *ctx, bool *rejected)
{
	bool scratch[L7_MAX_SERVERS];
	bool *ex = NULL;
	int idx;

	/* A large upstream's first attempt excludes nothing: no flags to clear. */
	if (is_inline(n_servers))
		ex = t->flag;
	else if (t->n)
		ex = lay_out(t, n_servers, scratch);
	*rejected = false;
	idx = pick(ctx, ex);
	/* Each refusal leaves one more server out, so n_servers + 1 picks
	 * reach the end whatever the balancer does. */
	for (uint32_t k = 0; idx >= 0 && k <= n_servers; k++) {
		if (admit(ctx, idx))
			return idx;
		*rejected = true;
		if (stop_on_reject)
			return -1;
		if (!ex)
			ex = lay_out(t, n_servers, scratch);
		ex[idx] = true;
		idx = pick(ctx, ex);
	}
	return -1;
}
