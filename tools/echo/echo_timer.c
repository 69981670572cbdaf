/* Binary min-heap of connection deadlines; see echo_timer.h. */
#include "echo_timer.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

static void place(struct echo_timer_heap *h, uint32_t i, struct echo_timer *t)
{
	h->v[i] = t;
	t->idx = (int32_t)i;
}

static void sift_up(struct echo_timer_heap *h, uint32_t i)
{
	struct echo_timer *t = h->v[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (h->v[parent]->deadline_ms <= t->deadline_ms)
			break;
		place(h, i, h->v[parent]);
		i = parent;
	}
	place(h, i, t);
}

static void sift_down(struct echo_timer_heap *h, uint32_t i)
{
	struct echo_timer *t = h->v[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1]->deadline_ms < h->v[c]->deadline_ms)
			c++;
		if (t->deadline_ms <= h->v[c]->deadline_ms)
			break;
		place(h, i, h->v[c]);
		i = c;
	}
	place(h, i, t);
}

static void remove_at(struct echo_timer_heap *h, uint32_t i)
{
	struct echo_timer *last = h->v[--h->n];

	h->v[i]->idx = -1;
	if (i == h->n)
		return;
	place(h, i, last);
	sift_down(h, i);
	sift_up(h, (uint32_t)last->idx);
}

int echo_timer_arm(struct echo_timer_heap *h, struct echo_timer *t, uint64_t deadline_ms)
{
	if (t->idx >= 0)
		remove_at(h, (uint32_t)t->idx);
	if (h->n == h->cap) {
		uint32_t cap = h->cap ? h->cap * 2 : 64;
		struct echo_timer **v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	t->deadline_ms = deadline_ms;
	h->v[h->n] = t;
	sift_up(h, h->n++);
	return 0;
}

void echo_timer_cancel(struct echo_timer_heap *h, struct echo_timer *t)
{
	if (t->idx >= 0)
		remove_at(h, (uint32_t)t->idx);
}

struct echo_timer *echo_timer_pop_due(struct echo_timer_heap *h, uint64_t now_ms)
{
	struct echo_timer *t;

	if (!h->n || h->v[0]->deadline_ms > now_ms)
		return NULL;
	t = h->v[0];
	remove_at(h, 0);
	return t;
}

int echo_timer_wait_ms(const struct echo_timer_heap *h, uint64_t now_ms)
{
	uint64_t d;

	if (!h->n)
		return -1;
	if (h->v[0]->deadline_ms <= now_ms)
		return 0;
	d = h->v[0]->deadline_ms - now_ms;
	return d > INT_MAX ? INT_MAX : (int)d;
}

void echo_timer_heap_free(struct echo_timer_heap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}
