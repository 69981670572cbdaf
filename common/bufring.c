/* Provided-buffer ring and its user-space pool fallback; see bufring.h.
 *
 * The bufring owns one anonymous mapping: the ring entries first (so the
 * ring address is page aligned, as io_uring_register_buf_ring() requires),
 * then the buffers. Puts are written straight into the ring at tail + n and
 * become visible with one tail store per loop turn (bufring_flush()), the
 * batching liburing's io_uring_buf_ring_advance() is built for.
 */
#include "bufring.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page_round(size_t n)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);

	return (n + ps - 1) & ~(ps - 1);
}

static int map_buffers(struct bufring *b, unsigned count, unsigned size)
{
	size_t ring_len = page_round((size_t)count * sizeof(struct io_uring_buf));

	b->map_len = ring_len + page_round((size_t)count * size);
	b->map = mmap(NULL, b->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->map == MAP_FAILED) {
		b->map = NULL;
		return -errno;
	}
	b->bufs = (uint8_t *)b->map + ring_len;
	b->state = calloc(count, sizeof(*b->state));
	b->pool = calloc(count, sizeof(*b->pool));
	if (!b->state || !b->pool)
		return -ENOMEM;
	return 0;
}

static int register_ring(struct bufring *b)
{
	struct io_uring_buf_reg reg = {
	    .ring_addr = (uint64_t)(uintptr_t)b->map,
	    .ring_entries = b->count,
	    .bgid = b->bgid,
	};
	int ret;

	b->br = b->map;
	io_uring_buf_ring_init(b->br);
	ret = io_uring_register_buf_ring(b->ring, &reg, 0);
	if (ret < 0) {
		b->br = NULL;
		return ret;
	}
	for (unsigned i = 0; i < b->count; i++)
		io_uring_buf_ring_add(b->br, bufring_get(b, i), b->size, (unsigned short)i, b->mask,
				      (int)i);
	io_uring_buf_ring_advance(b->br, b->count);
	return 0;
}

int bufring_init(struct bufring *b, struct io_uring *ring, uint16_t bgid, unsigned count,
		 unsigned size, bool pool_mode)
{
	int ret;

	memset(b, 0, sizeof(*b));
	if (count == 0 || count > BUFRING_MAX_COUNT || (count & (count - 1)) || size == 0)
		return -EINVAL;
	b->ring = ring;
	b->size = size;
	b->count = (uint16_t)count;
	b->mask = (uint16_t)(count - 1);
	b->bgid = bgid;
	ret = map_buffers(b, count, size);
	if (ret < 0)
		goto out_fini;
	if (!pool_mode) {
		ret = register_ring(b);
		if (ret < 0)
			goto out_fini;
	}
	for (unsigned i = 0; i < count; i++)
		b->pool[i] = (uint16_t)(count - 1 - i); /* pops 0 first */
	b->avail = count;
	return 0;

out_fini:
	bufring_fini(b);
	return ret;
}

void bufring_fini(struct bufring *b)
{
	if (b->br)
		io_uring_unregister_buf_ring(b->ring, b->bgid);
	if (b->map)
		munmap(b->map, b->map_len);
	free(b->state);
	free(b->pool);
	memset(b, 0, sizeof(*b));
}

void bufring_take(struct bufring *b, unsigned bid)
{
	assert(bid < b->count);
	assert(b->state[bid] == BUFRING_KERNEL);
	b->state[bid] = BUFRING_USER;
	if (b->br)
		b->avail--; /* pool mode counted it at bufring_pool_pop() */
}

void bufring_put(struct bufring *b, unsigned bid)
{
	assert(bid < b->count);
	assert(b->state[bid] == BUFRING_USER);
	if (!b->br) {
		b->state[bid] = BUFRING_KERNEL;
		b->pool[b->avail++] = (uint16_t)bid;
		return;
	}
	b->state[bid] = BUFRING_PENDING;
	io_uring_buf_ring_add(b->br, bufring_get(b, bid), b->size, (unsigned short)bid, b->mask,
			      b->unpublished++);
}

void bufring_flush(struct bufring *b)
{
	uint16_t tail;

	if (!b->unpublished)
		return;
	tail = b->br->tail;
	for (unsigned i = 0; i < b->unpublished; i++)
		b->state[b->br->bufs[(uint16_t)(tail + i) & b->mask].bid] = BUFRING_KERNEL;
	io_uring_buf_ring_advance(b->br, b->unpublished);
	b->avail += b->unpublished;
	b->unpublished = 0;
}

int bufring_pool_pop(struct bufring *b)
{
	assert(!b->br);
	if (b->avail == 0)
		return -ENOBUFS;
	return b->pool[--b->avail];
}

void bufring_pool_unpop(struct bufring *b, unsigned bid)
{
	assert(!b->br && bid < b->count && b->state[bid] == BUFRING_KERNEL);
	b->pool[b->avail++] = (uint16_t)bid;
}

enum bufring_state bufring_state(const struct bufring *b, unsigned bid)
{
	return bid < b->count ? (enum bufring_state)b->state[bid] : BUFRING__COUNT;
}
