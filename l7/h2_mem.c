/* nghttp2's allocations from small per-thread free lists (h2_mem.h).
 *
 * Every block carries a 16-byte header with its size class, so free needs
 * no size and realloc knows what it holds. Classes are powers of two from
 * 64 to 1024 bytes (header included); larger blocks go straight to malloc.
 * Each class keeps at most L7_H2_MEM_MAX blocks per thread (the rest go
 * back to malloc): enough for the streams a busy thread has in flight, so
 * the ups and downs of a steady load allocate nothing. l7_h2_mem_trim()
 * gives back what stayed unused since its last call, down to
 * L7_H2_MEM_KEEP per class, so a burst does not stay allocated for good;
 * what a thread keeps is freed when it exits. A block
 * freed on another thread than the one that allocated it simply joins that
 * thread's lists: blocks are plain malloc memory.
 *
 * Under AddressSanitizer a block on a free list is poisoned past its
 * header, so a use after nghttp2 freed it is still reported although the
 * memory never went back to malloc. */
#include <pthread.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asan.h"
#include "h2_mem.h"

#define L7_H2_MEM_CLASSES 5    /* 64, 128, 256, 512, 1024 */
#define L7_H2_MEM_MIN_LOG 6    /* the smallest class: 1 << 6 */
#define L7_H2_MEM_MAX	  1024 /* blocks kept per class and thread */
#define L7_H2_MEM_KEEP	  32   /* kept however long they stay unused */
#define L7_H2_MEM_LARGE	  0xff

struct mem_hdr {
	alignas(16) uint8_t cls; /* class index, or L7_H2_MEM_LARGE */
	struct mem_hdr *next;	 /* while on a free list */
};

_Static_assert(sizeof(struct mem_hdr) == 16, "the header keeps malloc's 16-byte alignment");

struct mem_cache {
	struct mem_hdr *head[L7_H2_MEM_CLASSES];
	unsigned n[L7_H2_MEM_CLASSES];
	unsigned low[L7_H2_MEM_CLASSES]; /* fewest kept since the last trim */
	bool armed;			 /* the thread-exit destructor is registered */
};

static __thread struct mem_cache cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static bool cache_ok;

static void block_unpark(struct mem_hdr *h);

static void cache_drain(void *unused)
{
	(void)unused;
	for (unsigned c = 0; c < L7_H2_MEM_CLASSES; c++) {
		while (cache.head[c]) {
			struct mem_hdr *h = cache.head[c];

			cache.head[c] = h->next;
			block_unpark(h);
			free(h);
		}
		cache.n[c] = cache.low[c] = 0;
	}
	cache.armed = false;
}

static void cache_init(void)
{
	cache_ok = pthread_key_create(&cache_key, cache_drain) == 0;
}

static size_t class_size(unsigned c)
{
	return (size_t)1 << (c + L7_H2_MEM_MIN_LOG);
}

/* A block joins or leaves a free list: only its header stays usable. */
static void block_park(struct mem_hdr *h)
{
	asan_park(h + 1, class_size(h->cls) - sizeof(*h));
}

static void block_unpark(struct mem_hdr *h)
{
	asan_unpark(h + 1, class_size(h->cls) - sizeof(*h));
}

/* The class whose blocks hold `size` bytes after the header, or
 * L7_H2_MEM_LARGE. */
static unsigned class_of(size_t size)
{
	size_t need = size + sizeof(struct mem_hdr);
	unsigned c;

	if (need <= class_size(0))
		return 0;
	c = (unsigned)(64 - __builtin_clzll((unsigned long long)need - 1)) - L7_H2_MEM_MIN_LOG;
	return c < L7_H2_MEM_CLASSES ? c : L7_H2_MEM_LARGE;
}

static void *mem_malloc(size_t size, void *ud)
{
	unsigned c = class_of(size);
	struct mem_hdr *h;

	(void)ud;
	if (size > SIZE_MAX / 2)
		return NULL;
	if (c != L7_H2_MEM_LARGE && (h = cache.head[c])) {
		cache.head[c] = h->next;
		if (--cache.n[c] < cache.low[c])
			cache.low[c] = cache.n[c];
		block_unpark(h);
		return h + 1;
	}
	h = malloc(c == L7_H2_MEM_LARGE ? size + sizeof(*h) : class_size(c));
	if (!h)
		return NULL;
	h->cls = (uint8_t)c;
	return h + 1;
}

static void mem_free(void *p, void *ud)
{
	struct mem_hdr *h;
	unsigned c;

	(void)ud;
	if (!p)
		return;
	h = (struct mem_hdr *)p - 1;
	c = h->cls;
	if (c == L7_H2_MEM_LARGE || cache.n[c] >= L7_H2_MEM_MAX) {
		free(h);
		return;
	}
	if (!cache.armed) {
		pthread_once(&cache_once, cache_init);
		/* a non-NULL value makes the destructor run at thread exit */
		if (!cache_ok || pthread_setspecific(cache_key, &cache)) {
			free(h);
			return;
		}
		cache.armed = true;
	}
	h->next = cache.head[c];
	cache.head[c] = h;
	cache.n[c]++;
	block_park(h);
}

static void *mem_calloc(size_t n, size_t size, void *ud)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	p = mem_malloc(n * size, ud);
	if (p)
		memset(p, 0, n * size);
	return p;
}

static void *mem_realloc(void *p, size_t size, void *ud)
{
	struct mem_hdr *h, *g;
	size_t held;
	void *q;

	if (!p)
		return mem_malloc(size, ud);
	h = (struct mem_hdr *)p - 1;
	if (h->cls == L7_H2_MEM_LARGE) {
		g = realloc(h, size + sizeof(*h));
		return g ? g + 1 : NULL;
	}
	held = class_size(h->cls) - sizeof(*h);
	if (size <= held)
		return p;
	if (!(q = mem_malloc(size, ud)))
		return NULL;
	memcpy(q, p, held);
	mem_free(p, ud);
	return q;
}

static nghttp2_mem mem = {
    .malloc = mem_malloc,
    .free = mem_free,
    .calloc = mem_calloc,
    .realloc = mem_realloc,
};

nghttp2_mem *l7_h2_mem(void)
{
	return &mem;
}

void l7_h2_mem_trim(void)
{
	for (unsigned c = 0; c < L7_H2_MEM_CLASSES; c++) {
		unsigned excess = cache.low[c] > L7_H2_MEM_KEEP ? cache.low[c] - L7_H2_MEM_KEEP : 0;

		for (; excess && cache.head[c]; excess--) {
			struct mem_hdr *h = cache.head[c];

			cache.head[c] = h->next;
			cache.n[c]--;
			block_unpark(h);
			free(h);
		}
		cache.low[c] = cache.n[c];
	}
}

unsigned l7_h2_mem_cached(void)
{
	unsigned n = 0;

	for (unsigned c = 0; c < L7_H2_MEM_CLASSES; c++)
		n += cache.n[c];
	return n;
}
