/* Chained output buffer (obuf.h): fixed chunks that never move, one spare
 * per buffer, and a small per-thread cache of emptied chunks. */
#include "obuf.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Why a per-thread cache: an HTTP/2 response body and the frames and
 * records it becomes each take a chunk and give it back within the same
 * loop turn. With malloc and free per chunk, every request paid for a
 * 16.5 KiB allocation, and glibc's arena trimmed and regrew its heap
 * around them (madvise, mprotect and page faults in the profile). The
 * cache is per thread because each worker owns its connections; it is
 * bounded, and a thread's chunks are freed when the thread exits. */
static __thread struct l7_obuf_chunk *cache;
static __thread unsigned cached;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static bool cache_ok;

static void cache_drain(void *unused)
{
	while (cache) {
		struct l7_obuf_chunk *next = cache->next;

		free(cache);
		cache = next;
	}
	cached = 0;
}

static void cache_init(void)
{
	cache_ok = pthread_key_create(&cache_key, cache_drain) == 0;
}

/* Keeps c for reuse by any buffer of this thread, or frees it. */
static void cache_put(struct l7_obuf_chunk *c)
{
	if (!c)
		return;
	pthread_once(&cache_once, cache_init);
	if (!cache_ok || cached >= L7_OBUF_CACHE) {
		free(c);
		return;
	}
	if (!cached)
		pthread_setspecific(cache_key, c); /* non-NULL: the destructor runs */
	c->next = cache;
	cache = c;
	cached++;
}

static struct l7_obuf_chunk *chunk_get(struct l7_obuf *o)
{
	struct l7_obuf_chunk *c = o->spare;

	if (c) {
		o->spare = NULL;
	} else if (cache) {
		c = cache;
		cache = c->next;
		cached--;
	} else if (!(c = malloc(sizeof(*c)))) {
		return NULL;
	}
	c->next = NULL;
	c->start = c->end = 0;
	return c;
}

static void chunk_put(struct l7_obuf *o, struct l7_obuf_chunk *c)
{
	if (!o->spare)
		o->spare = c;
	else
		cache_put(c);
}

unsigned l7_obuf_cached(void)
{
	return cached;
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
	cache_put(o->spare);
	o->spare = NULL;
}

void l7_obuf_free(struct l7_obuf *o)
{
	struct l7_obuf_chunk *c = o->head;

	while (c) {
		struct l7_obuf_chunk *next = c->next;

		cache_put(c);
		c = next;
	}
	cache_put(o->spare);
	l7_obuf_init(o);
}
