/* Client connection state machine (client.h): accept, input (plain, or
 * decrypted by conn_tls.c), the choice between HTTP/1 and HTTP/2, and the
 * timers. Request heads and everything after them belong to the exchange
 * (exchange.c) or, on HTTP/2, to the session (conn_h2.c); the PROXY header
 * to client_intake.c; the end of an exchange and the close to
 * client_close.c.
 */
#include "client.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cidr.h"
#include "log.h"
#include "proxy.h"

#include "conn_h2.h"
#include "conn_tls.h"
#include "exchange.h"
#include "l7_worker.h"
#include "tls_ctx.h"
#include "traffic.h"

static void c_on_cqe(struct loop *loop, void *obj, unsigned op, const struct io_uring_cqe *cqe);
static void c_on_timer(struct loop *loop, struct timer *t);

static const struct loop_ops c_ops = {.on_cqe = c_on_cqe, .on_free = l7_conn_on_free};

static const char *const state_names[L7_CS__COUNT] = {
    "intake", "handshake", "idle", "head", "busy", "tunnel", "h2", "linger", "flush", "closing"};

const char *l7_conn_state_name(enum l7_conn_state s)
{
	return s < L7_CS__COUNT ? state_names[s] : "?";
}

/* Allowed transitions, bit per target state (the table in client.h). */
#define B(s) (1u << (s))
static const unsigned allowed[L7_CS__COUNT] = {
    [L7_CS_INTAKE] = B(L7_CS_IDLE) | B(L7_CS_HANDSHAKE) | B(L7_CS_CLOSING),
    [L7_CS_HANDSHAKE] = B(L7_CS_IDLE) | B(L7_CS_H2) | B(L7_CS_FLUSH) | B(L7_CS_CLOSING),
    [L7_CS_IDLE] = B(L7_CS_HEAD) | B(L7_CS_H2) | B(L7_CS_FLUSH) | B(L7_CS_CLOSING),
    [L7_CS_HEAD] = B(L7_CS_BUSY) | B(L7_CS_FLUSH) | B(L7_CS_CLOSING),
    [L7_CS_BUSY] = B(L7_CS_HEAD) | B(L7_CS_IDLE) | B(L7_CS_TUNNEL) | B(L7_CS_LINGER) |
		   B(L7_CS_FLUSH) | B(L7_CS_CLOSING),
    [L7_CS_TUNNEL] = B(L7_CS_FLUSH) | B(L7_CS_CLOSING),
    [L7_CS_H2] = B(L7_CS_FLUSH) | B(L7_CS_CLOSING),
    [L7_CS_LINGER] = B(L7_CS_CLOSING),
    [L7_CS_FLUSH] = B(L7_CS_LINGER) | B(L7_CS_CLOSING),
    [L7_CS_CLOSING] = 0,
};

void l7_conn_set_state(struct l7_conn *c, enum l7_conn_state st)
{
	assert(allowed[c->state] & B(st));
	c->state = (uint8_t)st;
}

#define set_state l7_conn_set_state

void l7_sa_set(struct l7_sa *s, const struct sockaddr *sa, socklen_t len)
{
	memset(s, 0, sizeof(*s));
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		memcpy(&s->u.in4, sa, sizeof(s->u.in4));
		s->len = sizeof(s->u.in4);
	} else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		struct addr a;

		/* A dual-stack listener's ::ffff:a.b.c.d is stored as IPv4 once,
		 * so every request sees one form per client. */
		if (addr_from_sockaddr(&a, sa, len) == 0 && addr_normalize(&a)) {
			memcpy(&s->u.in4, &a.u.in4, sizeof(s->u.in4));
			s->len = sizeof(s->u.in4);
			return;
		}
		memcpy(&s->u.in6, sa, sizeof(s->u.in6));
		s->len = sizeof(s->u.in6);
	}
}

void l7_sa_to_addr(const struct l7_sa *s, struct addr *out)
{
	/* Per request: a copy of what l7_sa_set() checked and normalised. */
	memcpy(&out->u, &s->u, s->len);
	out->len = s->len;
}

static const struct l7_timeouts *timeouts(const struct l7_conn *c)
{
	return &c->gen->cfg->timeouts;
}

void l7_conn_timer(struct l7_conn *c, uint32_t ms)
{
	loop_timer_arm(c->w->loop, &c->t, ms ? ms : 1);
}

#define arm l7_conn_timer

int l7_conn_arm_recv(struct l7_conn *c)
{
	int ret = loop_prep_recv(c->w->loop, c->slot, L7_COP_RECV, c->fd);

	if (ret == 0)
		c->flags |= L7_CF_RECV;
	return ret;
}

#define arm_recv l7_conn_arm_recv

/* --- accept and intake -------------------------------------------------------- */

static bool refuse_limit(struct l7_worker *w, const struct l7_gen_listener *gl, int fd)
{
	uint32_t max = w->gen->cfg->limits.max_conns;

	if (max && atomic_load_explicit(&l7_proc.nconns, memory_order_relaxed) >= max) {
		metrics_inc(w->mw, gl->m.refused[L7M_REFUSE_LIMIT]);
		log_rl(LOG_LVL_WARN, "listener %s: max_conns %u reached, connection refused",
		       gl->cfg->name.ptr, max);
		close(fd);
		return true;
	}
	return false;
}

static void conn_addrs(struct l7_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	/* DESIGN.md pitfalls: multishot accept shares one address buffer.
	 * The local address is only ever the PPv2 destination (Forwarded
	 * by=), so no getsockname() per connection. */
	if (getpeername(c->fd, (struct sockaddr *)&ss, &len) == 0)
		l7_sa_set(&c->peer, (struct sockaddr *)&ss, len);
}

void l7_conn_accept(struct l7_worker *w, uint32_t li, int fd)
{
	struct l7_gen_listener *gl = &w->gen->lst[li];
	struct l7_conn *c;

	if (refuse_limit(w, gl, fd))
		return;
	c = l7_worker_conn_alloc(w);
	if (!c) {
		close(fd);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->w = w;
	c->fd = fd;
	c->li = (uint16_t)li;
	c->gen = l7_gen_get(w->gen);
	c->id = ((uint64_t)(w->index + 1) << 48) | ++w->conn_seq;
	l7_inq_init(&c->in);
	timer_init(&c->t, c_on_timer);
	c->slot = loop_slot_open(w->loop, &c_ops, c);
	if (c->slot < 0) {
		l7_gen_put(c->gen);
		l7_worker_conn_free(w, c);
		close(fd);
		return;
	}
	conn_addrs(c); /* TCP_NODELAY comes from the listener (runtime.c) */
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	atomic_fetch_add_explicit(&l7_proc.nconns, 1, memory_order_relaxed);
	metrics_inc(w->mw, gl->m.conns);
	metrics_inc(w->mw, gl->m.active);
	c->state = gl->cfg->proxy_protocol != L7_PP_OFF ? L7_CS_INTAKE
		   : gl->tls				? L7_CS_HANDSHAKE
							: L7_CS_IDLE;
	/* the TLS state is made at once, so the PPv2 AUTHORITY has a home */
	if (gl->tls && l7_ctls_new(c, gl->tls) < 0) {
		l7_conn_close(c, L7_TERM_INTERNAL);
		return;
	}
	if (c->state == L7_CS_INTAKE) {
		/* Untrusted peers are refused before any byte is read. */
		struct addr a;

		l7_sa_to_addr(&c->peer, &a);
		if (gl->cfg->proxy_protocol == L7_PP_REQUIRED &&
		    !cidr_list_match(&gl->cfg->trusted, &a)) {
			metrics_inc(w->mw, gl->m.refused[L7M_REFUSE_UNTRUSTED]);
			log_rl(LOG_LVL_WARN,
			       "conn %llx: PROXY header required but peer is not trusted",
			       (unsigned long long)c->id);
			l7_conn_close(c, L7_TERM_INTAKE_UNTRUSTED);
			return;
		}
	} else if (l7_traffic_conn_admit(c, &c->cl_ticket) < 0) {
		/* no PROXY header: the socket peer is the client (intake counts
		 * the others once the header named them) */
		l7_conn_close(c, L7_TERM_INTAKE_PER_IP);
		return;
	}
	arm(c, c->state == L7_CS_HANDSHAKE ? gl->tls->handshake_timeout_ms
					   : timeouts(c)->client_header_ms);
	if (arm_recv(c) < 0)
		l7_conn_close(c, L7_TERM_INTERNAL);
}

/* --- input ----------------------------------------------------------------------- */

size_t l7_conn_input(struct l7_conn *c, const char **p, unsigned *bid)
{
	struct l7_seg *s;

	if (c->hb.len > c->hb.off) {
		*p = c->hb.p + c->hb.off;
		*bid = L7_NOBID;
		return c->hb.len - c->hb.off;
	}
	s = l7_inq_front(&c->in, &c->w->bufs);
	if (!s)
		return 0;
	*p = l7_seg_ptr(&c->w->bufs, c->in.head);
	*bid = c->in.head;
	return s->len;
}

void l7_conn_consume(struct l7_conn *c, size_t n)
{
	if (c->hb.len > c->hb.off) {
		c->hb.off += (uint32_t)n;
		return;
	}
	if (n)
		l7_inq_consume(&c->in, &c->w->bufs, n);
}

size_t l7_conn_input_bytes(const struct l7_conn *c)
{
	return (c->hb.len - c->hb.off) + c->in.bytes;
}

void l7_conn_flow(struct l7_conn *c)
{
	size_t held = c->in.bytes;

	if (c->state == L7_CS_CLOSING || c->state == L7_CS_FLUSH || c->state == L7_CS_LINGER ||
	    (c->flags & L7_CF_EOF))
		return;
	if (c->tls) {
		if (c->tls->eof_in)
			return;
		/* room again for plaintext: decrypt what waits, at the end of
		 * the turn (the caller is still inside its own handler) */
		if (c->in.bytes < L7_PAUSE_BYTES && l7_ctls_waiting(c))
			l7_conn_kick(c);
		held += c->tls->cin.bytes;
	}
	if (held >= L7_PAUSE_BYTES && (c->flags & L7_CF_RECV) && !(c->flags & L7_CF_PAUSED)) {
		c->flags |= L7_CF_PAUSED;
		loop_prep_cancel(c->w->loop, c->slot, L7_COP_RECV);
	} else if (held < L7_PAUSE_BYTES / 2 && !(c->flags & L7_CF_RECV)) {
		c->flags &= (uint8_t)~L7_CF_PAUSED;
		if (arm_recv(c) < 0)
			l7_conn_close(c, L7_TERM_INTERNAL);
	}
}

/* The first bytes of an h2c connection (RFC 9113 §3.3): up to the 24 of
 * the preface, across segments. */
static size_t peek(struct l7_conn *c, uint8_t *buf, size_t cap)
{
	struct l7_bufs *b = &c->w->bufs;
	size_t n = 0;

	for (unsigned bid = c->in.head; bid != L7_NOBID && n < cap; bid = b->seg[bid].next) {
		size_t k = b->seg[bid].len < cap - n ? b->seg[bid].len : cap - n;

		memcpy(buf + n, l7_seg_ptr(b, bid), k);
		n += k;
	}
	return n;
}

static bool start_h2(struct l7_conn *c)
{
	if (l7_ch2_start(c) < 0) {
		l7_conn_close(c, L7_TERM_INTERNAL);
		return false;
	}
	set_state(c, L7_CS_H2);
	l7_conn_kick(c); /* our SETTINGS go out at the end of the turn */
	return true;
}

/* IDLE with bytes: an h2c preface on a listener that takes it, else the
 * first byte of an HTTP/1 head. */
static void idle_input(struct l7_conn *c)
{
	const struct l7_listener *l = c->gen->lst[c->li].cfg;
	uint8_t pre[L7_H2_PREFACE_LEN];

	if (!l7_conn_input_bytes(c)) {
		l7_conn_close(c, L7_TERM_CLIENT_CLOSED);
		return;
	}
	if (l->http2.h2c && !c->tls && !c->requests && !c->hb.len) {
		int r = l7_h2_sniff(pre, peek(c, pre, sizeof(pre)));

		if (r == -EAGAIN && !(c->flags & L7_CF_EOF))
			return; /* a prefix of the preface so far */
		if (r == 1) {
			if (start_h2(c))
				l7_ch2_input(c);
			return;
		}
	}
	set_state(c, L7_CS_HEAD);
	/* Slowloris defence: the head must be complete client_header after
	 * its first byte, however slowly the rest trickles in. */
	arm(c, timeouts(c)->client_header_ms);
	c->x = l7_x_start(c);
	if (!c->x)
		l7_conn_close(c, L7_TERM_INTERNAL);
}

/* Plaintext (or its end) arrived: who gets it depends on the state. */
static void dispatch(struct l7_conn *c)
{
	switch (c->state) {
	case L7_CS_IDLE:
		idle_input(c);
		break;
	case L7_CS_HEAD:
	case L7_CS_BUSY:
	case L7_CS_TUNNEL:
		if (c->x)
			l7_x_on_client_input(c->x);
		break;
	case L7_CS_H2:
		l7_ch2_input(c);
		break;
	case L7_CS_LINGER:
	case L7_CS_FLUSH:
		l7_inq_clear(&c->in, &c->w->bufs);
		if (c->flags & L7_CF_EOF)
			l7_conn_close(c, L7_TERM_OK);
		break;
	default:
		break;
	}
}

/* The handshake completed: HTTP/2 if ALPN chose it, else HTTP/1.1. */
static bool tls_opened(struct l7_conn *c)
{
	if (!l7_ctls_opened(c)) {
		l7_conn_close(c, L7_TERM_TLS); /* authority_mismatch = "refuse" */
		return false;
	}
	if (l7_tls_alpn(&c->tls->t) == L7_ALPN_H2)
		return start_h2(c);
	set_state(c, L7_CS_IDLE);
	arm(c, timeouts(c)->client_header_ms);
	return true;
}

static void tls_input(struct l7_conn *c)
{
	switch (l7_ctls_pump(c)) {
	case L7_CTLS_FAILED:
		l7_conn_close(c, L7_TERM_TLS);
		return;
	case L7_CTLS_HANDSHAKE:
		if (!tls_opened(c))
			return;
		if (c->state == L7_CS_H2 || l7_conn_input_bytes(c) || (c->flags & L7_CF_EOF))
			dispatch(c);
		return;
	case L7_CTLS_INPUT:
		dispatch(c);
		return;
	default:
		return;
	}
}

static void on_input(struct l7_conn *c)
{
	if (c->state == L7_CS_INTAKE)
		l7_conn_intake(c);
	else if (c->tls && c->state != L7_CS_FLUSH && c->state != L7_CS_LINGER)
		tls_input(c);
	else
		dispatch(c);
}

void l7_conn_ready(struct l7_conn *c)
{
	/* strata-l4's health checks (PPv2 LOCAL) speak plain HTTP on every
	 * listener: the answer says whether this instance takes traffic */
	if (c->tls && (c->flags & L7_CF_LOCAL))
		l7_ctls_free(c);
	if (c->tls) {
		set_state(c, L7_CS_HANDSHAKE);
		arm(c, c->gen->lst[c->li].tls->handshake_timeout_ms);
		if (l7_ctls_adopt(c) < 0) {
			l7_conn_close(c, L7_TERM_INTERNAL);
			return;
		}
		if (c->tls->cin.n || c->tls->eof_in || (c->flags & L7_CF_EOF)) {
			c->tls->eof_in |= (c->flags & L7_CF_EOF) != 0;
			c->flags &= (uint8_t)~L7_CF_EOF;
			tls_input(c);
		}
		return;
	}
	set_state(c, L7_CS_IDLE);
	if (l7_conn_input_bytes(c) || (c->flags & L7_CF_EOF))
		dispatch(c);
}

void l7_conn_on_kick(struct l7_conn *c)
{
	if (c->state == L7_CS_CLOSING)
		return;
	if (c->tls && c->state != L7_CS_INTAKE && c->state != L7_CS_FLUSH &&
	    c->state != L7_CS_LINGER)
		tls_input(c);
	if (c->h2 && c->state == L7_CS_H2)
		l7_ch2_output(c);
}

/* Bytes arrived on a connection that is only finishing: dropped. */
static void drop_input(struct l7_conn *c, int bid, bool more)
{
	l7_buf_drop(&c->w->bufs, (unsigned)bid);
	if (!more && !(c->flags & L7_CF_PAUSED) && arm_recv(c) < 0)
		l7_conn_close(c, L7_TERM_OK);
}

static void on_bytes(struct l7_conn *c, int bid, int res, bool more)
{
	if (c->state == L7_CS_LINGER || c->state == L7_CS_FLUSH) {
		drop_input(c, bid, more);
		return;
	}
	if (c->tls && c->state != L7_CS_INTAKE)
		l7_ctls_push(c, (unsigned)bid, (unsigned)res);
	else
		l7_inq_push(&c->in, &c->w->bufs, (unsigned)bid, 0, (unsigned)res);
	if (!more && !(c->flags & L7_CF_PAUSED) && arm_recv(c) < 0) {
		l7_conn_close(c, L7_TERM_INTERNAL);
		return;
	}
	on_input(c);
	if (c->state != L7_CS_CLOSING)
		l7_conn_flow(c);
}

static void on_eof(struct l7_conn *c)
{
	if (c->state == L7_CS_FLUSH) {
		c->flags |= L7_CF_EOF; /* still sending: the peer may only have half-closed */
		return;
	}
	/* TLS: the plaintext ends only once everything before the FIN is
	 * decrypted (l7_ctls_pump sets L7_CF_EOF then) */
	if (c->tls && c->state != L7_CS_INTAKE && c->state != L7_CS_LINGER)
		c->tls->eof_in = true;
	else
		c->flags |= L7_CF_EOF;
	on_input(c);
}

static void on_recv(struct l7_conn *c, const struct io_uring_cqe *cqe)
{
	int bid = loop_cqe_bid(cqe);
	bool more = loop_cqe_more(cqe);

	if (bid >= 0)
		l7_buf_take(&c->w->bufs, (unsigned)bid);
	if (!more)
		c->flags &= (uint8_t)~L7_CF_RECV;
	if (c->state == L7_CS_CLOSING) {
		if (bid >= 0)
			l7_buf_drop(&c->w->bufs, (unsigned)bid);
		return;
	}
	if (cqe->res > 0) {
		on_bytes(c, bid, cqe->res, more);
		return;
	}
	if (cqe->res == -ENOBUFS || (cqe->res == -ECANCELED && (c->flags & L7_CF_PAUSED))) {
		/* Paused: the held input may have drained while the cancel
		 * was in flight, and l7_conn_flow could not re-arm a receive
		 * that was still live; it decides again now. */
		if (c->flags & L7_CF_PAUSED)
			l7_conn_flow(c);
		else if (arm_recv(c) < 0)
			l7_conn_close(c, L7_TERM_INTERNAL);
		return;
	}
	if (cqe->res == 0) {
		on_eof(c);
		return;
	}
	/* A reset or another error: the client is gone. */
	c->flags |= L7_CF_DEAD;
	if (c->x && c->state != L7_CS_IDLE)
		l7_x_on_client_error(c->x, cqe->res);
	else
		l7_conn_close(c, c->state == L7_CS_IDLE ? L7_TERM_CLIENT_CLOSED
							: L7_TERM_CLIENT_ABORT);
}

static void c_on_cqe(struct loop *loop, void *obj, unsigned op, const struct io_uring_cqe *cqe)
{
	struct l7_conn *c = obj;

	switch (op) {
	case L7_COP_RECV:
		on_recv(c, cqe);
		break;
	case L7_COP_SEND:
		if (c->x)
			l7_x_on_client_sent(c->x, cqe->res);
		break;
	case L7_COP_OSEND:
		l7_cout_done(c, cqe->res);
		break;
	default:
		break; /* L7_COP_SHUT: nothing to do */
	}
}

static void c_on_timer(struct loop *loop, struct timer *t)
{
	struct l7_conn *c = timer_owner(t, struct l7_conn, t);

	switch (c->state) {
	case L7_CS_INTAKE:
		l7_conn_close(c, L7_TERM_INTAKE_TIMEOUT);
		break;
	case L7_CS_HANDSHAKE:
		l7_ctls_failed(c, true);
		c->flags |= L7_CF_DEAD; /* a client that does not read gets nothing more */
		l7_conn_close(c, L7_TERM_TLS);
		break;
	case L7_CS_IDLE:
		l7_conn_close(c, c->requests ? L7_TERM_KEEPALIVE_TIMEOUT : L7_TERM_HEADER_TIMEOUT);
		break;
	case L7_CS_HEAD:
		if (c->x)
			l7_x_on_header_timeout(c->x);
		else
			l7_conn_close(c, L7_TERM_HEADER_TIMEOUT);
		break;
	case L7_CS_BUSY:
		/* Reading a request body stalled for client_body. */
		l7_conn_close(c, L7_TERM_BODY_TIMEOUT);
		break;
	case L7_CS_H2:
		l7_ch2_on_timer(c);
		break;
	case L7_CS_LINGER:
		l7_conn_close(c, L7_TERM_OK);
		break;
	case L7_CS_FLUSH:
		c->flags |= L7_CF_DEAD; /* the client stopped reading our last records */
		l7_conn_close(c, c->term);
		break;
	default:
		break;
	}
}
