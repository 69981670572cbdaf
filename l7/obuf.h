/* Chained output buffer for bytes produced by a library (TLS records from
 * OpenSSL, HTTP/2 frames from nghttp2) that wait for an asynchronous send.
 *
 * Bytes live in fixed-size heap chunks that never move, so an iovec handed
 * to a sendmsg in flight stays valid while more bytes are appended behind
 * it; a chunk is released only once every byte in it was consumed (sent).
 * The buffer owns its chunks and keeps at most one spare, so a connection
 * that sends steadily does not malloc per record; emptied chunks beyond
 * that go to a per-thread cache of L7_OBUF_CACHE that every buffer of the
 * thread draws from (freed when the thread exits). It has no limit of its
 * own: each producer bounds what it appends (L7_TLS_OUT_MAX, the HTTP/2
 * output high-water mark) and stops producing above it.
 */
#ifndef STRATA_L7_OBUF_H
#define STRATA_L7_OBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Payload bytes per chunk: one full TLS record (16 KiB + header and AEAD
 * overhead) fits, and a chunk with its header stays inside 17 KiB. */
#define L7_OBUF_CHUNK 16896
/* Emptied chunks a thread keeps for its buffers (about 540 KiB). */
#define L7_OBUF_CACHE 32

struct l7_obuf_chunk {
	struct l7_obuf_chunk *next;
	uint32_t start; /* first byte not consumed */
	uint32_t end;	/* first free byte */
	uint8_t data[L7_OBUF_CHUNK];
};

struct l7_obuf {
	struct l7_obuf_chunk *head, *tail;
	struct l7_obuf_chunk *spare; /* one emptied chunk kept for reuse */
	size_t bytes;		     /* appended and not consumed */
};

static inline void l7_obuf_init(struct l7_obuf *o)
{
	o->head = o->tail = o->spare = NULL;
	o->bytes = 0;
}

static inline size_t l7_obuf_bytes(const struct l7_obuf *o)
{
	return o->bytes;
}

static inline bool l7_obuf_empty(const struct l7_obuf *o)
{
	return o->bytes == 0;
}

/* Appends n bytes (copied). 0, or -ENOMEM with nothing appended. */
int l7_obuf_append(struct l7_obuf *o, const void *p, size_t n);

/* Up to `max` iovecs describing the bytes in order; returns how many. The
 * memory stays valid until those bytes are consumed. */
unsigned l7_obuf_iov(const struct l7_obuf *o, struct iovec *iov, unsigned max);

/* Contiguous bytes at the front: *p and the length (0 when empty). */
size_t l7_obuf_front(const struct l7_obuf *o, const uint8_t **p);

/* Consumes n bytes from the front (n <= l7_obuf_bytes). */
void l7_obuf_consume(struct l7_obuf *o, size_t n);

/* Copies up to n bytes from the front into dst and consumes them. */
size_t l7_obuf_read(struct l7_obuf *o, void *dst, size_t n);

/* Gives the spare chunk back (an idle connection then holds no chunk). */
void l7_obuf_trim(struct l7_obuf *o);

/* Gives every chunk back, the spare too; the buffer is empty and
 * reusable. */
void l7_obuf_free(struct l7_obuf *o);

/* Chunks in this thread's cache (for tests). */
unsigned l7_obuf_cached(void);

#endif
