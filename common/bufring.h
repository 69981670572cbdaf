/* Provided-buffer ring: N receive buffers of S bytes the kernel picks from.
 *
 * One mapping holds the ring entries (page aligned, as the kernel requires)
 * followed by the buffers; it is registered with io_uring_register_buf_ring()
 * as group `bgid` (liburing 2.3 has no io_uring_setup_buf_ring()). In pool
 * mode (no buffer ring in the kernel, or forced off) the same buffers are
 * handed out in user space instead, so owners see one API in both modes.
 *
 * Ownership (single owner at every step, checked with assert()):
 *   KERNEL --CQE with IORING_CQE_F_BUFFER--> USER --bufring_put()--> PENDING
 *   PENDING --bufring_flush(), once per loop turn--> KERNEL
 * A buffer in USER state belongs to exactly one holder (the recv handler, then
 * the pending send that forwards it); whoever holds it last puts it back.
 * Putting a buffer twice, or one the kernel holds, aborts.
 *
 * The loop creates and destroys its bufring (loop_bufring()); owners only use
 * bufring_get(), bufring_put(), bufring_size() and bufring_avail().
 */
#ifndef STRATA_BUFRING_H
#define STRATA_BUFRING_H

#include <stdbool.h>
#include <stdint.h>

#include <liburing.h>

#define BUFRING_MAX_COUNT 32768u /* bids are 16 bits; the kernel caps entries at 32768 */

enum bufring_state {
	BUFRING_KERNEL,	 /* available: in the kernel ring or the free pool */
	BUFRING_USER,	 /* handed to the application by a completion */
	BUFRING_PENDING, /* put back, published at the next flush */
	BUFRING__COUNT
};

/* Private fields; the struct is visible so bufring_get() inlines. */
struct bufring {
	uint8_t *bufs;		      /* count * size bytes */
	struct io_uring_buf_ring *br; /* kernel ring, NULL in pool mode */
	void *map;		      /* the one mapping */
	size_t map_len;
	struct io_uring *ring;
	uint32_t size;
	uint16_t count;
	uint16_t mask;
	uint16_t bgid;
	uint16_t unpublished; /* puts written to the ring but not yet visible */
	uint32_t avail;	      /* buffers the kernel (or pool) can hand out */
	uint16_t *pool;	      /* pool mode: stack of free bids */
	uint8_t *state;	      /* enum bufring_state per bid */
};

/* Allocates `count` (power of two, 1..BUFRING_MAX_COUNT) buffers of `size`
 * bytes and, unless `pool_mode`, registers them with `ring` as group `bgid`.
 * All buffers start available. Returns 0 or -errno (-EINVAL on bad sizes,
 * the kernel's error when registration fails). */
int bufring_init(struct bufring *b, struct io_uring *ring, uint16_t bgid, unsigned count,
		 unsigned size, bool pool_mode);

/* Unregisters and unmaps. Every kernel request that could still pick a
 * buffer must have completed. Safe on a zeroed or already finished ring. */
void bufring_fini(struct bufring *b);

static inline void *bufring_get(const struct bufring *b, unsigned bid)
{
	return b->bufs + (size_t)bid * b->size;
}

static inline unsigned bufring_size(const struct bufring *b)
{
	return b->size;
}

static inline unsigned bufring_count(const struct bufring *b)
{
	return b->count;
}

static inline bool bufring_is_pool(const struct bufring *b)
{
	return b->br == NULL;
}

/* Buffers the kernel (or the pool) can hand out now, as far as completions
 * seen so far tell; puts count only after the next flush in ring mode. */
static inline unsigned bufring_avail(const struct bufring *b)
{
	return b->avail;
}

/* Returns buffer `bid` (which the caller owns, state USER). In ring mode the
 * kernel sees it after the next bufring_flush(), which the loop does once
 * per turn; in pool mode it is available at once. */
void bufring_put(struct bufring *b, unsigned bid);

/* Publishes the puts of this turn to the kernel with one store-release. */
void bufring_flush(struct bufring *b);

/* Loop side: a completion handed `bid` to the application (KERNEL -> USER). */
void bufring_take(struct bufring *b, unsigned bid);

/* Pool mode: takes a free buffer for a plain recv (KERNEL -> USER happens at
 * completion through bufring_take); returns its bid or -ENOBUFS. The buffer
 * stays accounted to the kernel side until then. */
int bufring_pool_pop(struct bufring *b);

/* Pool mode: gives back a buffer popped for a recv that brought no data. */
void bufring_pool_unpop(struct bufring *b, unsigned bid);

/* Ownership state of `bid`, for tests and assertions. */
enum bufring_state bufring_state(const struct bufring *b, unsigned bid);

#endif
