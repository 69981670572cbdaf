/* Received bytes and bytes to send, over the loop's provided-buffer ring.
 *
 * Ownership: a provided buffer handed over by a recv completion belongs to
 * the worker's struct l7_bufs, which counts references to it: the input
 * queue segment that holds the bytes, a parsed head whose views point into
 * it, a pending send that forwards part of it. The last l7_buf_drop() puts
 * it back on the ring (bufring_put). Nothing here allocates on the hot path:
 * the refcount array is sized once for the ring.
 *
 * An idle connection holds no buffer at all (its input queue is empty); a
 * head that spans several reads is copied into a small heap buffer owned by
 * the connection (l7_hbuf), so buffers go back to the ring at once.
 *
 * Private buffers: bids from `count` on name heap buffers of the same size
 * that the worker allocates itself (l7_pbuf_take), for bytes the kernel did
 * not deliver directly: TLS plaintext decrypted out of the ring buffers.
 * They are referenced, queued and sent exactly like ring buffers, so the
 * HTTP/1 parser, the exchange and the tunnel code run unchanged on a TLS
 * connection; the last l7_buf_drop() puts one on the worker's free stack
 * (at most L7_PBUF_KEEP keep their memory).
 */
#ifndef STRATA_L7_BUF_H
#define STRATA_L7_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "bufring.h"

struct loop;

#define L7_TX_IOV    32 /* iovecs in one sendmsg */
#define L7_TX_REFS   L7_TX_IOV
#define L7_HBUF_INIT 2048 /* first size of a head that spans reads */
#define L7_PBUF_MAX  8192 /* private buffers per worker (bids count..count+MAX-1) */
#define L7_PBUF_KEEP 64	  /* free private buffers that keep their memory */

struct l7_bufs {
	struct bufring *br;
	uint16_t *refs;	    /* per bid: ring buffers, then private ones */
	struct l7_seg *seg; /* per bid: its place in an input queue */
	unsigned count;	    /* ring buffers: bids 0..count-1 */
	unsigned size;	    /* bytes per buffer, ring and private alike */
	unsigned held;	    /* ring buffers with refs > 0, for metrics and tests */
	char **pmem;	    /* private buffer memory by bid - count; NULL: none yet */
	uint16_t *pfree;    /* stack of free private bids */
	unsigned n_pfree;
	unsigned pheld;	  /* private buffers in use */
	unsigned pcached; /* free private buffers that kept their memory */
};

int l7_bufs_init(struct l7_bufs *b, struct bufring *br);
void l7_bufs_fini(struct l7_bufs *b);

/* The first reference to a buffer a completion handed over. */
void l7_buf_take(struct l7_bufs *b, unsigned bid);
void l7_buf_hold(struct l7_bufs *b, unsigned bid);
/* Drops one reference; the last puts the buffer back on the ring. */
void l7_buf_drop(struct l7_bufs *b, unsigned bid);

static inline char *l7_buf_ptr(const struct l7_bufs *b, unsigned bid)
{
	return bid < b->count ? (char *)bufring_get(b->br, bid) : b->pmem[bid - b->count];
}

/* A private buffer of b->size bytes with one reference (the caller's), or
 * -ENOBUFS when L7_PBUF_MAX are in use or memory is short. */
int l7_pbuf_take(struct l7_bufs *b);

/* --- input queue: received segments in arrival order ---------------------
 * A buffer is in at most one queue at a time, so the queue links live in
 * a per-bid array of the worker: a queue is two bids and two counters, and
 * there is no cap to overflow when a multishot recv delivers a burst. */

#define L7_NOBID 0xFFFFu

struct l7_seg {
	uint16_t next; /* next bid in the queue, or L7_NOBID */
	uint16_t off;
	uint16_t len;
};

struct l7_inq {
	uint16_t head, tail; /* L7_NOBID when empty */
	uint16_t n;
	uint32_t bytes; /* total queued */
};

static inline void l7_inq_init(struct l7_inq *q)
{
	q->head = q->tail = L7_NOBID;
	q->n = 0;
	q->bytes = 0;
}

static inline bool l7_inq_empty(const struct l7_inq *q)
{
	return q->n == 0;
}

/* The front segment, or NULL. */
static inline struct l7_seg *l7_inq_front(const struct l7_inq *q, const struct l7_bufs *b)
{
	return q->n ? &b->seg[q->head] : NULL;
}

static inline char *l7_seg_ptr(const struct l7_bufs *b, unsigned bid)
{
	return l7_buf_ptr(b, bid) + b->seg[bid].off;
}

/* Appends buffer `bid` holding `len` bytes from `off`; the queue takes over
 * the caller's reference. */
void l7_inq_push(struct l7_inq *q, struct l7_bufs *b, unsigned bid, unsigned off, unsigned len);
/* Consumes n bytes of the front segment (n <= its length); an emptied
 * segment drops its reference. */
void l7_inq_consume(struct l7_inq *q, struct l7_bufs *b, size_t n);
/* Drops every segment. */
void l7_inq_clear(struct l7_inq *q, struct l7_bufs *b);

/* Free bytes after the tail segment when the tail is a private buffer
 * (bytes may be written there and added with l7_inq_extend), else 0. */
static inline size_t l7_inq_tail_room(const struct l7_inq *q, const struct l7_bufs *b)
{
	const struct l7_seg *s;

	if (!q->n || q->tail < b->count)
		return 0;
	s = &b->seg[q->tail];
	return b->size - (size_t)(s->off + s->len);
}
/* The tail segment grows by n bytes written right after it (n <= room):
 * bytes already queued, parsed or being sent do not move. */
void l7_inq_extend(struct l7_inq *q, struct l7_bufs *b, size_t n);
/* Moves every segment of `from` behind those of `to` (references too). */
void l7_inq_move(struct l7_inq *to, struct l7_inq *from, struct l7_bufs *b);

/* --- heap buffer for heads that span reads -------------------------------- */

struct l7_hbuf {
	char *p;
	uint32_t len, cap;
	uint32_t off; /* bytes before this were consumed */
};

/* Appends bytes, growing up to `max` total; -E2BIG beyond, -ENOMEM. */
int l7_hbuf_append(struct l7_hbuf *h, const char *s, size_t n, size_t max);
static inline size_t l7_hbuf_avail(const struct l7_hbuf *h)
{
	return h->len - h->off;
}
void l7_hbuf_free(struct l7_hbuf *h);

/* --- one sendmsg with the buffers it forwards ------------------------------ */

struct l7_tx {
	struct msghdr msg;
	struct iovec iov[L7_TX_IOV];
	uint16_t refs[L7_TX_REFS];
	uint8_t niov, first, nrefs;
	bool busy; /* a sendmsg is in flight */
	/* The last batch before the connection closes: sent with MSG_MORE,
	 * so what is left under a segment waits for the FIN that the close
	 * sends next (client_close.c) and leaves with it, one segment
	 * instead of a data segment and a FIN segment. */
	bool cork;
	uint64_t sent;	/* bytes of the current batch sent so far */
	uint64_t total; /* bytes of the current batch */
};

void l7_tx_init(struct l7_tx *t);
/* Room for `n` more iovecs / one more reference. */
static inline bool l7_tx_room(const struct l7_tx *t, unsigned n)
{
	return t->niov + n <= L7_TX_IOV && t->nrefs < L7_TX_REFS;
}
/* Queues memory the caller keeps valid until the batch completes. */
void l7_tx_add(struct l7_tx *t, const void *p, size_t n);
/* Queues a part of a received buffer; the batch holds a reference. */
void l7_tx_add_buf(struct l7_tx *t, struct l7_bufs *b, unsigned bid, const void *p, size_t n);
static inline bool l7_tx_empty(const struct l7_tx *t)
{
	return t->niov == t->first;
}
/* Queues the sendmsg for what remains of the batch. */
int l7_tx_submit(struct l7_tx *t, struct loop *loop, int slot, unsigned op, int fd);
/* Accounts a send completion of `res` bytes. Returns 1 when the batch is all
 * sent (references dropped, ready for a new one), 0 when the rest must be
 * submitted again, -errno for a failed send (references dropped). */
int l7_tx_done(struct l7_tx *t, struct l7_bufs *b, int res);
/* Drops what is queued (after the send failed or the peer went away). */
void l7_tx_clear(struct l7_tx *t, struct l7_bufs *b);

#endif
