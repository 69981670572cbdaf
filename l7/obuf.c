/* Chained output buffer (obuf.h): fixed chunks that never move, one spare. */
#include "obuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct l7_obuf_chunk *chunk_get(struct l7_obuf *o)
{
	struct l7_obuf_chunk *c = o->spare;

	if (c)
		o->spare = NULL;
	else if (!(c = malloc(sizeof(*c))))
		return NULL;
	c->next = NULL;
	c->start = c->end = 0;
	return c;
}

static void chunk_put(struct l7_obuf *o, struct l7_obuf_chunk *c)
{
	if (!o->spare)
		o->spare = c;
	else
		free(c);
}

int l7_obuf_append(struct l7_obuf *o, const void *p, size_t n)
{
	const uint8_t *s = p;
	struct l7_obuf_chunk *fresh = NULL, **link = &fresh;
	size_t room = o->tail ? L7_OBUF_CHUNK - o->tail->end : 0;

	/* Get every chunk first, so a failure appends nothing. */
	for (; room < n; room += L7_OBUF_CHUNK) {
		struct l7_obuf_chunk *c = chunk_get(o);

		if (!c) {
			while (fresh) {
				struct l7_obuf_chunk *next = fresh->next;

				chunk_put(o, fresh);
				fresh = next;
			}
			return -ENOMEM;
		}
		*link = c;
		link = &c->next;
	}
	if (fresh) {
		if (o->tail)
			o->tail->next = fresh;
		else
			o->head = fresh;
	}
	for (struct l7_obuf_chunk *c = o->tail ? o->tail : fresh; n; c = c->next) {
		size_t k = L7_OBUF_CHUNK - c->end;

		if (k > n)
			k = n;
		memcpy(c->data + c->end, s, k);
		c->end += (uint32_t)k;
		s += k;
		n -= k;
		o->bytes += k;
		o->tail = c;
	}
	return 0;
}

unsigned l7_obuf_iov(const struct l7_obuf *o, struct iovec *iov, unsigned max)
{
	unsigned n = 0;

	for (const struct l7_obuf_chunk *c = o->head; c && n < max; c = c->next) {
		if (c->end == c->start)
			continue;
		iov[n].iov_base = (void *)(c->data + c->start);
		iov[n].iov_len = c->end - c->start;
		n++;
	}
	return n;
}

size_t l7_obuf_front(const struct l7_obuf *o, const uint8_t **p)
{
	const struct l7_obuf_chunk *c = o->head;

	while (c && c->end == c->start)
		c = c->next;
	if (!c) {
		*p = NULL;
		return 0;
	}
	*p = c->data + c->start;
	return c->end - c->start;
}

void l7_obuf_consume(struct l7_obuf *o, size_t n)
{
	if (n > o->bytes)
		n = o->bytes;
	o->bytes -= n;
	while (o->head) {
		struct l7_obuf_chunk *c = o->head;
		size_t k = c->end - c->start;

		if (k > n)
			k = n;
		c->start += (uint32_t)k;
		n -= k;
		if (c->start < c->end)
			break;
		o->head = c->next;
		if (!o->head)
			o->tail = NULL;
		chunk_put(o, c);
	}
}

size_t l7_obuf_read(struct l7_obuf *o, void *dst, size_t n)
{
	uint8_t *d = dst;
	size_t done = 0;

	while (done < n) {
		const uint8_t *p;
		size_t k = l7_obuf_front(o, &p);

		if (!k)
			break;
		if (k > n - done)
			k = n - done;
		memcpy(d + done, p, k);
		l7_obuf_consume(o, k);
		done += k;
	}
	return done;
}

void l7_obuf_trim(struct l7_obuf *o)
{
	free(o->spare);
	o->spare = NULL;
}

void l7_obuf_free(struct l7_obuf *o)
{
	struct l7_obuf_chunk *c = o->head;

	while (c) {
		struct l7_obuf_chunk *next = c->next;

		free(c);
		c = next;
	}
	free(o->spare);
	l7_obuf_init(o);
}
