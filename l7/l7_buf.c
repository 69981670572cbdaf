/* Buffer references, input queues, head buffers and batched sends (l7_buf.h).
 *
 * The refcount array belongs to the worker; queues and batches only borrow
 * references from it.
 */
#include "l7_buf.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"

int l7_bufs_init(struct l7_bufs *b, struct bufring *br)
{
	unsigned all;

	memset(b, 0, sizeof(*b));
	b->br = br;
	b->count = bufring_count(br);
	b->size = bufring_size(br);
	all = b->count + L7_PBUF_MAX;
	b->refs = calloc(all, sizeof(*b->refs));
	b->seg = calloc(all, sizeof(*b->seg));
	/* the private part costs address space only until it is used */
	b->pmem = calloc(L7_PBUF_MAX, sizeof(*b->pmem));
	b->pfree = calloc(L7_PBUF_MAX, sizeof(*b->pfree));
	if (!b->refs || !b->seg || !b->pmem || !b->pfree)
		return -ENOMEM;
	/* popped from the top: the lowest bids first */
	for (unsigned i = 0; i < L7_PBUF_MAX; i++)
		b->pfree[i] = (uint16_t)(b->count + L7_PBUF_MAX - 1 - i);
	b->n_pfree = L7_PBUF_MAX;
	return 0;
}

void l7_bufs_fini(struct l7_bufs *b)
{
	for (unsigned i = 0; b->pmem && i < L7_PBUF_MAX; i++)
		free(b->pmem[i]);
	free(b->pmem);
	free(b->pfree);
	free(b->refs);
	free(b->seg);
	b->refs = NULL;
	b->seg = NULL;
	b->pmem = NULL;
	b->pfree = NULL;
}

void l7_buf_take(struct l7_bufs *b, unsigned bid)
{
	assert(bid < b->count && b->refs[bid] == 0);
	b->refs[bid] = 1;
	b->held++;
}

void l7_buf_hold(struct l7_bufs *b, unsigned bid)
{
	assert(bid < b->count + L7_PBUF_MAX && b->refs[bid] > 0 && b->refs[bid] < UINT16_MAX);
	b->refs[bid]++;
}

int l7_pbuf_take(struct l7_bufs *b)
{
	unsigned bid, i;

	if (!b->n_pfree)
		return -ENOBUFS;
	bid = b->pfree[b->n_pfree - 1];
	i = bid - b->count;
	if (b->pmem[i]) {
		b->pcached--;
	} else if (!(b->pmem[i] = malloc(b->size))) {
		return -ENOBUFS;
	}
	b->n_pfree--;
	b->refs[bid] = 1;
	b->pheld++;
	return (int)bid;
}

static void pbuf_put(struct l7_bufs *b, unsigned bid)
{
	unsigned i = bid - b->count;

	/* a burst of TLS connections must not leave its peak allocated */
	if (b->pcached >= L7_PBUF_KEEP) {
		free(b->pmem[i]);
		b->pmem[i] = NULL;
	} else {
		b->pcached++;
	}
	b->pheld--;
	b->pfree[b->n_pfree++] = (uint16_t)bid;
}

void l7_buf_drop(struct l7_bufs *b, unsigned bid)
{
	assert(bid < b->count + L7_PBUF_MAX && b->refs[bid] > 0);
	if (--b->refs[bid] != 0)
		return;
	if (bid >= b->count) {
		pbuf_put(b, bid);
		return;
	}
	b->held--;
	bufring_put(b->br, bid);
}

/* --- input queue ----------------------------------------------------------- */

void l7_inq_push(struct l7_inq *q, struct l7_bufs *b, unsigned bid, unsigned off, unsigned len)
{
	assert(bid < b->count + L7_PBUF_MAX && b->refs[bid] > 0);
	b->seg[bid] = (struct l7_seg){.next = L7_NOBID, .off = (uint16_t)off, .len = (uint16_t)len};
	if (q->n)
		b->seg[q->tail].next = (uint16_t)bid;
	else
		q->head = (uint16_t)bid;
	q->tail = (uint16_t)bid;
	q->n++;
	q->bytes += len;
}

static void inq_pop(struct l7_inq *q, struct l7_bufs *b)
{
	unsigned bid = q->head;

	q->head = b->seg[bid].next;
	if (--q->n == 0)
		q->head = q->tail = L7_NOBID;
	l7_buf_drop(b, bid);
}

void l7_inq_consume(struct l7_inq *q, struct l7_bufs *b, size_t n)
{
	struct l7_seg *s = &b->seg[q->head];

	assert(q->n && n <= s->len);
	s->off = (uint16_t)(s->off + n);
	s->len = (uint16_t)(s->len - n);
	q->bytes -= (uint32_t)n;
	if (!s->len)
		inq_pop(q, b);
}

void l7_inq_clear(struct l7_inq *q, struct l7_bufs *b)
{
	while (q->n)
		inq_pop(q, b);
	l7_inq_init(q);
}

void l7_inq_extend(struct l7_inq *q, struct l7_bufs *b, size_t n)
{
	struct l7_seg *s = &b->seg[q->tail];

	assert(q->n && q->tail >= b->count && s->off + s->len + n <= b->size);
	s->len = (uint16_t)(s->len + n);
	q->bytes += (uint32_t)n;
}

void l7_inq_move(struct l7_inq *to, struct l7_inq *from, struct l7_bufs *b)
{
	if (!from->n)
		return;
	if (to->n)
		b->seg[to->tail].next = from->head;
	else
		to->head = from->head;
	to->tail = from->tail;
	to->n = (uint16_t)(to->n + from->n);
	to->bytes += from->bytes;
	l7_inq_init(from);
}

/* --- head buffer ------------------------------------------------------------- */

int l7_hbuf_append(struct l7_hbuf *h, const char *s, size_t n, size_t max)
{
	size_t need = (size_t)h->len + n;

	if (need > max)
		return -E2BIG;
	if (need > h->cap) {
		size_t cap = h->cap ? h->cap : L7_HBUF_INIT;
		char *p;

		while (cap < need)
			cap *= 2;
		if (cap > max)
			cap = max;
		p = realloc(h->p, cap);
		if (!p)
			return -ENOMEM;
		h->p = p;
		h->cap = (uint32_t)cap;
	}
	memcpy(h->p + h->len, s, n);
	h->len = (uint32_t)need;
	return 0;
}

void l7_hbuf_free(struct l7_hbuf *h)
{
	free(h->p);
	*h = (struct l7_hbuf){0};
}

/* --- batched sends -------------------------------------------------------------- */

void l7_tx_init(struct l7_tx *t)
{
	/* Counters only: iovecs and references are written before use. */
	t->niov = t->first = t->nrefs = 0;
	t->busy = t->cork = false;
	t->sent = t->total = 0;
}

void l7_tx_add(struct l7_tx *t, const void *p, size_t n)
{
	if (!n)
		return;
	assert(t->niov < L7_TX_IOV && !t->busy);
	t->iov[t->niov++] = (struct iovec){.iov_base = (void *)p, .iov_len = n};
	t->total += n;
}

void l7_tx_add_buf(struct l7_tx *t, struct l7_bufs *b, unsigned bid, const void *p, size_t n)
{
	if (!n)
		return;
	assert(t->nrefs < L7_TX_REFS);
	l7_buf_hold(b, bid);
	t->refs[t->nrefs++] = (uint16_t)bid;
	l7_tx_add(t, p, n);
}

int l7_tx_submit(struct l7_tx *t, struct loop *loop, int slot, unsigned op, int fd)
{
	int flags = t->cork ? MSG_MORE : 0;
	int ret;

	assert(!t->busy && t->first < t->niov);
	if (t->niov - t->first == 1) {
		/* One piece: a plain send skips the msghdr copy and the iovec
		 * import of sendmsg. */
		ret = loop_prep_send(loop, slot, op, fd, t->iov[t->first].iov_base,
				     t->iov[t->first].iov_len, flags);
		if (ret == 0)
			t->busy = true;
		return ret;
	}
	memset(&t->msg, 0, sizeof(t->msg));
	t->msg.msg_iov = &t->iov[t->first];
	t->msg.msg_iovlen = (size_t)(t->niov - t->first);
	ret = loop_prep_sendmsg(loop, slot, op, fd, &t->msg, flags);
	if (ret == 0)
		t->busy = true;
	return ret;
}

static void tx_release(struct l7_tx *t, struct l7_bufs *b)
{
	for (unsigned i = 0; i < t->nrefs; i++)
		l7_buf_drop(b, t->refs[i]);
	t->nrefs = 0;
	t->niov = t->first = 0;
	t->sent = t->total = 0;
	t->cork = false;
}

int l7_tx_done(struct l7_tx *t, struct l7_bufs *b, int res)
{
	size_t left;

	t->busy = false;
	if (res == 0)
		res = -EPIPE; /* nothing taken: the peer is gone */
	if (res < 0) {
		tx_release(t, b);
		return res;
	}
	t->sent += (uint64_t)res;
	left = (size_t)res;
	while (t->first < t->niov && left >= t->iov[t->first].iov_len)
		left -= t->iov[t->first++].iov_len;
	if (t->first == t->niov) {
		tx_release(t, b);
		return 1;
	}
	t->iov[t->first].iov_base = (char *)t->iov[t->first].iov_base + left;
	t->iov[t->first].iov_len -= left;
	return 0;
}

void l7_tx_clear(struct l7_tx *t, struct l7_bufs *b)
{
	assert(!t->busy);
	tx_release(t, b);
}
