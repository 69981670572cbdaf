/* TLS on client connections (conn_tls.h): ciphertext queue, decryption
 * into private buffers, encryption of exchange batches, the handshake's
 * log line and counters, and the connection-level output sender. */
#include "conn_tls.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#include "client.h"
#include "conn_h2.h"
#include "exchange.h"
#include "l7_worker.h"
#include "tls_ctx.h"

int l7_ctls_new(struct l7_conn *c, struct l7_tls_set *set)
{
	struct l7_ctls *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	if (l7_tls_init(&s->t, set, c->id) < 0) {
		l7_tls_fini(&s->t);
		free(s);
		return -ENOMEM;
	}
	l7_inq_init(&s->cin);
	c->tls = s;
	return 0;
}

void l7_ctls_free(struct l7_conn *c)
{
	struct l7_ctls *s = c->tls;

	if (!s)
		return;
	l7_inq_clear(&s->cin, &c->w->bufs);
	l7_tls_fini(&s->t);
	free(s->authority);
	free(s->subject);
	free(s);
	c->tls = NULL;
}

int l7_ctls_set_authority(struct l7_conn *c, const uint8_t *p, size_t len)
{
	char *a = malloc(len + 1);

	if (!a)
		return -ENOMEM;
	memcpy(a, p, len);
	a[len] = '\0';
	free(c->tls->authority);
	c->tls->authority = a;
	return 0;
}

int l7_ctls_adopt(struct l7_conn *c)
{
	struct l7_bufs *b = &c->w->bufs;
	struct l7_ctls *s = c->tls;
	size_t left = l7_hbuf_avail(&c->hb);
	const char *p = c->hb.p + c->hb.off;

	/* A PROXY header that spanned reads was gathered in c->hb: the bytes
	 * behind it there are the first of the ClientHello. */
	while (left) {
		int bid = l7_pbuf_take(b);
		size_t n = left < b->size ? left : b->size;

		if (bid < 0)
			return -ENOBUFS;
		memcpy(l7_buf_ptr(b, (unsigned)bid), p, n);
		l7_inq_push(&s->cin, b, (unsigned)bid, 0, (unsigned)n);
		p += n;
		left -= n;
	}
	l7_hbuf_free(&c->hb);
	l7_inq_move(&s->cin, &c->in, b);
	return 0;
}

void l7_ctls_push(struct l7_conn *c, unsigned bid, unsigned len)
{
	l7_inq_push(&c->tls->cin, &c->w->bufs, bid, 0, len);
}

/* --- receiving ------------------------------------------------------------------ */

/* Where the next plaintext goes: the rest of the tail private buffer of
 * c->in when it has room (small records share a buffer), else a new one
 * (*nb >= 0). NULL when no private buffer is free. */
static char *plain_room(struct l7_conn *c, size_t *room, int *nb)
{
	struct l7_bufs *b = &c->w->bufs;
	struct l7_seg *tail;

	*nb = -1;
	*room = l7_inq_tail_room(&c->in, b);
	if (*room >= L7_TLS_ROOM_MIN) {
		tail = &b->seg[c->in.tail];
		return l7_buf_ptr(b, c->in.tail) + tail->off + tail->len;
	}
	*nb = l7_pbuf_take(b);
	if (*nb < 0)
		return NULL;
	*room = b->size;
	return l7_buf_ptr(b, (unsigned)*nb);
}

/* One l7_tls_recv() on the front of the queue. Returns its result. */
static ssize_t decrypt_one(struct l7_conn *c, bool *stop)
{
	struct l7_bufs *b = &c->w->bufs;
	struct l7_ctls *s = c->tls;
	struct l7_seg *sg = l7_inq_front(&s->cin, b);
	const char *in = sg ? l7_seg_ptr(b, s->cin.head) : NULL;
	size_t room, used = 0, len = sg ? sg->len : 0;
	int nb;
	char *dst = plain_room(c, &room, &nb);
	ssize_t r;

	if (!dst) {
		s->starved = true;
		c->w->pbuf_starved = true;
		*stop = true;
		return -EAGAIN;
	}
	r = l7_tls_recv(&s->t, in, len, &used, dst, room);
	if (used)
		l7_inq_consume(&s->cin, b, used);
	if (r > 0) {
		if (nb >= 0)
			l7_inq_push(&c->in, b, (unsigned)nb, 0, (unsigned)r);
		else
			l7_inq_extend(&c->in, b, (size_t)r);
	} else if (nb >= 0) {
		l7_buf_drop(b, (unsigned)nb);
	}
	*stop = r <= 0 && (r != -EAGAIN || !used);
	return r;
}

bool l7_ctls_waiting(const struct l7_conn *c)
{
	return c->tls->cin.n || SSL_pending(c->tls->t.ssl) > 0;
}

enum l7_ctls_ev l7_ctls_pump(struct l7_conn *c)
{
	struct l7_ctls *s = c->tls;
	enum l7_ctls_ev ev = L7_CTLS_NONE;
	bool stop = false;

	s->starved = false;
	/* SSL_pending: a record larger than the room left part of its
	 * plaintext inside OpenSSL, to be read without new input */
	while ((s->cin.n || SSL_pending(s->t.ssl) > 0) && c->in.bytes < L7_PAUSE_BYTES && !stop) {
		ssize_t r = decrypt_one(c, &stop);

		if (r > 0)
			ev = L7_CTLS_INPUT;
		else if (r == 0) {
			/* close_notify: the plaintext ends here, whatever follows */
			l7_inq_clear(&s->cin, &c->w->bufs);
			c->flags |= L7_CF_EOF;
			ev = L7_CTLS_INPUT;
		} else if (r == -EPROTO) {
			l7_ctls_failed(c, false);
			l7_cout_flush(c); /* the alert */
			return L7_CTLS_FAILED;
		}
	}
	if (s->eof_in && !s->cin.n && !(c->flags & L7_CF_EOF)) {
		/* A FIN without close_notify before the handshake is a failed
		 * handshake; after it, most clients simply close, and the
		 * HTTP state machine tells a clean close from an abort. */
		if (l7_tls_on_eof(&s->t) < 0 && !s->opened) {
			l7_ctls_failed(c, false);
			return L7_CTLS_FAILED;
		}
		c->flags |= L7_CF_EOF;
		ev = L7_CTLS_INPUT;
	}
	if (!s->opened && l7_tls_is_open(&s->t)) {
		/* The handshake's last output (TLS 1.3: the session ticket)
		 * waits for the first response when the request came with the
		 * client's Finished, else for the end of the turn: one send
		 * less per connection, and no client waits for a ticket. */
		s->opened = true;
		if (ev != L7_CTLS_INPUT)
			l7_conn_kick(c);
		return L7_CTLS_HANDSHAKE;
	}
	if (l7_cout_flush(c) < 0) {
		c->flags |= L7_CF_DEAD;
		return L7_CTLS_FAILED;
	}
	return ev;
}

/* --- sending -------------------------------------------------------------------- */

ssize_t l7_ctls_take(struct l7_conn *c, struct l7_tx *tx)
{
	struct l7_tls *t = &c->tls->t;
	size_t taken = 0;

	for (unsigned i = tx->first; i < tx->niov; i++) {
		ssize_t r = l7_tls_send(t, tx->iov[i].iov_base, tx->iov[i].iov_len);

		if (r == -EAGAIN)
			break;
		if (r < 0)
			return r;
		taken += (size_t)r;
		if ((size_t)r < tx->iov[i].iov_len)
			break;
	}
	return (ssize_t)taken;
}

/* The records of an exchange's batch leave at the end of the loop turn
 * (the kick pass sends the connection's output) rather than at once: by
 * then the exchange has decided whether the connection closes, and a last
 * response goes out in one send with the close_notify behind it, and the
 * batches of several exchanges or rounds share a send. Only states whose
 * kick does not send (FLUSH and LINGER send on their own) flush at once.
 * Returns true when the kick will send. */
static bool flush_later(struct l7_conn *c)
{
	if (c->state == L7_CS_FLUSH || c->state == L7_CS_LINGER || c->state == L7_CS_INTAKE)
		return false;
	l7_conn_kick(c);
	return true;
}

void l7_ctls_send_x(struct l7_exchange *x)
{
	struct l7_conn *c = x->c;
	ssize_t n = l7_ctls_take(c, &x->tx_cl);

	if (n < 0) {
		l7_tx_clear(&x->tx_cl, &x->w->bufs);
		c->flags |= L7_CF_DEAD;
		l7_conn_close(c, L7_TERM_TLS);
		return;
	}
	if (!flush_later(c) && l7_cout_flush(c) < 0) {
		c->flags |= L7_CF_DEAD;
		l7_conn_close(c, L7_TERM_INTERNAL);
		return;
	}
	if (n == 0) {
		c->tls->x_wait = true; /* l7_cout_done resumes it */
		return;
	}
	/* The plaintext is in records now: the exchange may go on (its
	 * buffers are released), the records leave at the socket's pace. */
	x->pending++;
	l7_x_on_client_sent(x, (int)n);
}

/* --- the connection-level output ------------------------------------------------- */

static struct l7_cout *cout_of(const struct l7_conn *c)
{
	return c->tls ? &c->tls->out : c->h2 ? &c->h2->out : NULL;
}

static struct l7_obuf *source_of(const struct l7_conn *c)
{
	return c->tls ? &c->tls->t.out : &c->h2->h2->out;
}

size_t l7_cout_bytes(const struct l7_conn *c)
{
	return cout_of(c) ? l7_obuf_bytes(source_of(c)) : 0;
}

bool l7_cout_busy(const struct l7_conn *c)
{
	const struct l7_cout *o = cout_of(c);

	return o && o->busy;
}

int l7_cout_flush(struct l7_conn *c)
{
	struct l7_cout *o = cout_of(c);
	unsigned n;
	int ret;

	if (!o || o->busy || c->state == L7_CS_CLOSING || (c->flags & L7_CF_DEAD))
		return 0;
	n = l7_obuf_iov(source_of(c), o->iov, L7_COUT_IOV);
	if (!n)
		return 0;
	memset(&o->msg, 0, sizeof(o->msg));
	o->msg.msg_iov = o->iov;
	o->msg.msg_iovlen = n;
	ret = loop_prep_sendmsg(c->w->loop, c->slot, L7_COP_OSEND, c->fd, &o->msg, 0);
	if (ret == 0)
		o->busy = true;
	return ret;
}

/* An idle connection keeps no output chunk (16.5 KiB each): the TLS
 * output's spare, and on HTTP/2 the session's, go back to the heap. */
static void trim_idle(struct l7_conn *c)
{
	bool idle = c->state == L7_CS_IDLE || (c->state == L7_CS_H2 && !l7_h2_active(c->h2->h2));

	if (!idle)
		return;
	if (c->tls)
		l7_obuf_trim(&c->tls->t.out);
	if (c->h2 && l7_obuf_empty(&c->h2->h2->out))
		l7_obuf_trim(&c->h2->h2->out);
}

void l7_cout_done(struct l7_conn *c, int res)
{
	struct l7_cout *o = cout_of(c);

	o->busy = false;
	if (c->state == L7_CS_CLOSING)
		return;
	if (res <= 0) {
		c->flags |= L7_CF_DEAD; /* the peer is gone: nothing more to send */
		l7_conn_close(c, L7_TERM_CLIENT_ABORT);
		return;
	}
	if (c->tls)
		l7_tls_out_consume(&c->tls->t, (size_t)res);
	else
		l7_h2_out_consume(c->h2->h2, (size_t)res);
	if (c->state == L7_CS_FLUSH) {
		l7_conn_flush_tls(c); /* a GOAWAY that did not fit, close_notify */
		if (!l7_cout_bytes(c))
			l7_conn_flushed(c);
		else if (l7_cout_flush(c) < 0)
			l7_conn_close(c, L7_TERM_INTERNAL);
		return;
	}
	if (c->tls && c->tls->x_wait && c->x) {
		c->tls->x_wait = false;
		l7_x_send_client(c->x);
	}
	if (c->h2)
		l7_ch2_output(c); /* frames waiting for room in the TLS output */
	if (c->state == L7_CS_CLOSING)
		return;
	if (l7_cout_flush(c) < 0) {
		l7_conn_close(c, L7_TERM_INTERNAL);
		return;
	}
	if (!l7_cout_busy(c))
		trim_idle(c);
}

/* --- facts, counters, log lines --------------------------------------------------- */

static struct l7m_listener *lm(const struct l7_conn *c)
{
	return &c->gen->lst[c->li].m;
}

static void keep_subject(struct l7_conn *c)
{
	struct l7_ctls *s = c->tls;
	char buf[L7_TLS_SUBJECT_MAX];
	int n;

	if (!s->t.set->subject_header || (n = l7_tls_peer_subject(&s->t, buf, sizeof(buf))) <= 0)
		return;
	if ((s->subject = malloc((size_t)n + 1))) {
		memcpy(s->subject, buf, (size_t)n + 1);
		s->subject_len = (uint16_t)n;
	}
}

bool l7_ctls_opened(struct l7_conn *c)
{
	struct l7_ctls *s = c->tls;
	const struct l7_gen_listener *gl = &c->gen->lst[c->li];
	const char *sni = l7_tls_sni(&s->t);
	bool resumed = l7_tls_resumed(&s->t);

	metrics_inc(c->w->mw, lm(c)->handshakes[resumed ? L7M_HS_RESUMED : L7M_HS_FULL]);
	log_debug("conn %llx: %s %s%s sni %s cert %s alpn %s", (unsigned long long)c->id,
		  l7_tls_version(&s->t), l7_tls_cipher(&s->t), resumed ? " resumed" : "",
		  sni ? sni : "-", l7_tls_cert_type(&s->t),
		  l7_tls_alpn(&s->t) == L7_ALPN_H2 ? "h2" : "http/1.1");
	keep_subject(c);
	/* The L4 tier peeked at the ClientHello's SNI and sent it as the
	 * PPv2 AUTHORITY: a difference means the client changed its mind
	 * between the two tiers, or something in between rewrote bytes. */
	if (!s->authority || l7_tls_sni_matches(&s->t, s->authority, strlen(s->authority)))
		return true;
	metrics_inc(c->w->mw, lm(c)->mismatch);
	log_rl(LOG_LVL_WARN,
	       "conn %llx: listener %s: TLS SNI '%s' differs from the PPv2 AUTHORITY "
	       "'%s' sent by strata-l4%s",
	       (unsigned long long)c->id, gl->cfg->name.ptr, sni ? sni : "", s->authority,
	       gl->cfg->tls->refuse_authority_mismatch ? ": refused" : "");
	return !gl->cfg->tls->refuse_authority_mismatch;
}

void l7_ctls_failed(struct l7_conn *c, bool timeout)
{
	const struct l7_gen_listener *gl = &c->gen->lst[c->li];
	char why[384];
	unsigned r = timeout ? L7M_TLS_HS_TIMEOUT : l7_tls_reason(&c->tls->t);

	if (r == L7_TLS_OK || r >= L7M_TLS_REASONS)
		r = L7_TLS_ERR_INTERNAL;
	metrics_inc(c->w->mw, lm(c)->tls_err[r]);
	if (timeout)
		snprintf(why, sizeof(why),
			 "tls handshake_timeout: handshake not complete within %u ms",
			 c->tls->t.set->handshake_timeout_ms);
	else
		l7_tls_describe(&c->tls->t, why, sizeof(why));
	log_rl(LOG_LVL_INFO, "conn %llx: listener %s: %s", (unsigned long long)c->id,
	       gl->cfg->name.ptr, why);
}
