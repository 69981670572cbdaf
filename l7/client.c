/* Client connection state machine (client.h): accept, PROXY intake,
 * keep-alive, timeouts, lingering close. Request heads and everything after
 * them belong to the exchange (exchange.c); this file decides when one
 * starts and what happens when it is over.
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

#include "exchange.h"
#include "intake.h"
#include "l7_worker.h"

static void c_on_cqe(struct loop *loop, void *obj, unsigned op, const struct io_uring_cqe *cqe);
static void c_on_free(struct loop *loop, void *obj);
static void c_on_timer(struct loop *loop, struct timer *t);

static const struct loop_ops c_ops = {.on_cqe = c_on_cqe, .on_free = c_on_free};

static const char *const state_names[L7_CS__COUNT] = {"intake", "idle",	  "head",   "busy",
						      "tunnel", "linger", "closing"};

const char *l7_conn_state_name(enum l7_conn_state s)
{
	return s < L7_CS__COUNT ? state_names[s] : "?";
}

/* Allowed transitions, bit per target state (the table in client.h). */
#define B(s) (1u << (s))
static const unsigned allowed[L7_CS__COUNT] = {
    [L7_CS_INTAKE] = B(L7_CS_IDLE) | B(L7_CS_HEAD) | B(L7_CS_CLOSING),
    [L7_CS_IDLE] = B(L7_CS_HEAD) | B(L7_CS_CLOSING),
    [L7_CS_HEAD] = B(L7_CS_BUSY) | B(L7_CS_CLOSING),
    [L7_CS_BUSY] =
	B(L7_CS_HEAD) | B(L7_CS_IDLE) | B(L7_CS_TUNNEL) | B(L7_CS_LINGER) | B(L7_CS_CLOSING),
    [L7_CS_TUNNEL] = B(L7_CS_CLOSING),
    [L7_CS_LINGER] = B(L7_CS_CLOSING),
    [L7_CS_CLOSING] = 0,
};

static void set_state(struct l7_conn *c, enum l7_conn_state st)
{
	assert(allowed[c->state] & B(st));
	c->state = (uint8_t)st;
}

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

static void arm(struct l7_conn *c, uint32_t ms)
{
	loop_timer_arm(c->w->loop, &c->t, ms ? ms : 1);
}

static int arm_recv(struct l7_conn *c)
{
	int ret = loop_prep_recv(c->w->loop, c->slot, L7_COP_RECV, c->fd);

	if (ret == 0)
		c->flags |= L7_CF_RECV;
	return ret;
}

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
	c->state = gl->cfg->proxy_protocol == L7_PP_OFF ? L7_CS_IDLE : L7_CS_INTAKE;
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
	}
	arm(c, timeouts(c)->client_header_ms);
	if (arm_recv(c) < 0)
		l7_conn_close(c, L7_TERM_INTERNAL);
}

static int keep_header(struct l7_conn *c, const struct proxy_hdr *h)
{
	if (h->cmd == PROXY_CMD_LOCAL) {
		c->flags |= L7_CF_LOCAL;
		return 0;
	}
	if (h->has_addr && (h->family == AF_INET || h->family == AF_INET6)) {
		l7_sa_set(&c->peer, (const struct sockaddr *)&h->src, h->src_len);
		l7_sa_set(&c->local, (const struct sockaddr *)&h->dst, h->dst_len);
		c->flags |= L7_CF_HAS_DST;
	}
	if (h->unique_id.ptr && h->unique_id.len) {
		c->uid = malloc(h->unique_id.len);
		if (!c->uid)
			return -ENOMEM;
		memcpy(c->uid, h->unique_id.ptr, h->unique_id.len);
		c->uid_len = (uint8_t)h->unique_id.len;
	}
	return 0;
}

static enum l7_term refuse_term(enum l7m_refuse why)
{
	switch (why) {
	case L7M_REFUSE_UNTRUSTED:
		return L7_TERM_INTAKE_UNTRUSTED;
	case L7M_REFUSE_MISSING:
		return L7_TERM_INTAKE_MISSING;
	default:
		return L7_TERM_INTAKE_MALFORMED;
	}
}

/* The PROXY header: decoded from the first buffer, or from the head buffer
 * when it spans reads (rare: strata-l4 sends it in one segment). */
static void do_intake(struct l7_conn *c)
{
	const struct l7_gen_listener *gl = &c->gen->lst[c->li];
	struct proxy_hdr hdr;
	enum l7m_refuse why = L7M_REFUSE_MALFORMED;
	enum proxy_err perr;
	struct addr peer;
	const char *p;
	unsigned bid;
	size_t len;
	int ret;

	while (c->in.n > 1 || (c->in.n == 1 && c->hb.len)) {
		struct l7_seg *s = l7_inq_front(&c->in, &c->w->bufs);

		if (l7_hbuf_append(&c->hb, l7_seg_ptr(&c->w->bufs, c->in.head), s->len,
				   PPV2_MAX_HDR_LEN + 4096) < 0) {
			why = L7M_REFUSE_MALFORMED;
			goto refuse;
		}
		l7_inq_consume(&c->in, &c->w->bufs, s->len);
	}
	len = l7_conn_input(c, &p, &bid);
	l7_sa_to_addr(&c->peer, &peer);
	ret = l7_intake_check(gl->cfg->proxy_protocol, cidr_list_match(&gl->cfg->trusted, &peer),
			      (const uint8_t *)p, len, &hdr, &why, &perr);
	if (ret == -EAGAIN) {
		if (c->flags & L7_CF_EOF)
			l7_conn_close(c, L7_TERM_INTAKE_MISSING);
		else if (len && !c->hb.len) {
			if (l7_hbuf_append(&c->hb, p, len, PPV2_MAX_HDR_LEN + 4096) == 0)
				l7_inq_consume(&c->in, &c->w->bufs, len);
			else
				l7_conn_close(c, L7_TERM_INTERNAL);
		}
		return;
	}
	if (ret < 0)
		goto refuse;
	if (ret > 0 && keep_header(c, &hdr) < 0) {
		l7_conn_close(c, L7_TERM_INTERNAL);
		return;
	}
	l7_conn_consume(c, (size_t)ret);
	if (c->flags & L7_CF_LOCAL)
		metrics_inc(c->w->mw, gl->m.local_health);
	set_state(c, L7_CS_IDLE);
	if (l7_conn_input_bytes(c) || (c->flags & L7_CF_EOF)) {
		set_state(c, L7_CS_HEAD);
		c->x = l7_x_start(c);
		if (!c->x)
			l7_conn_close(c, L7_TERM_INTERNAL);
	}
	return;
refuse:
	metrics_inc(c->w->mw, gl->m.refused[why]);
	log_rl(LOG_LVL_WARN, "conn %llx: listener %s: PROXY header refused: %s%s%s",
	       (unsigned long long)c->id, gl->cfg->name.ptr,
	       why == L7M_REFUSE_UNTRUSTED ? "peer not in trusted"
	       : why == L7M_REFUSE_MISSING ? "missing"
					   : "malformed",
	       perr ? ": " : "", perr ? proxy_strerror(perr) : "");
	l7_conn_close(c, refuse_term(why));
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
	if (c->state == L7_CS_CLOSING || (c->flags & L7_CF_EOF))
		return;
	if (c->in.bytes >= L7_PAUSE_BYTES && (c->flags & L7_CF_RECV) &&
	    !(c->flags & L7_CF_PAUSED)) {
		c->flags |= L7_CF_PAUSED;
		loop_prep_cancel(c->w->loop, c->slot, L7_COP_RECV);
	} else if (c->in.bytes < L7_PAUSE_BYTES / 2 && !(c->flags & L7_CF_RECV)) {
		c->flags &= (uint8_t)~L7_CF_PAUSED;
		if (arm_recv(c) < 0)
			l7_conn_close(c, L7_TERM_INTERNAL);
	}
}

/* Bytes (or EOF) arrived: who gets them depends on the state. */
static void on_input(struct l7_conn *c)
{
	switch (c->state) {
	case L7_CS_INTAKE:
		do_intake(c);
		break;
	case L7_CS_IDLE:
		if (!l7_conn_input_bytes(c)) {
			l7_conn_close(c, L7_TERM_CLIENT_CLOSED);
			break;
		}
		set_state(c, L7_CS_HEAD);
		/* Slowloris defence: the head must be complete client_header
		 * after its first byte, however slowly the rest trickles in. */
		arm(c, timeouts(c)->client_header_ms);
		c->x = l7_x_start(c);
		if (!c->x)
			l7_conn_close(c, L7_TERM_INTERNAL);
		break;
	case L7_CS_HEAD:
	case L7_CS_BUSY:
	case L7_CS_TUNNEL:
		if (c->x)
			l7_x_on_client_input(c->x);
		break;
	case L7_CS_LINGER:
		l7_inq_clear(&c->in, &c->w->bufs);
		if (c->flags & L7_CF_EOF)
			l7_conn_close(c, L7_TERM_OK);
		break;
	default:
		break;
	}
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
		l7_inq_push(&c->in, &c->w->bufs, (unsigned)bid, 0, (unsigned)cqe->res);
		if (!more && !(c->flags & L7_CF_PAUSED) && arm_recv(c) < 0) {
			l7_conn_close(c, L7_TERM_INTERNAL);
			return;
		}
		on_input(c);
		if (c->state != L7_CS_CLOSING)
			l7_conn_flow(c);
		return;
	}
	if (cqe->res == -ENOBUFS || (cqe->res == -ECANCELED && (c->flags & L7_CF_PAUSED))) {
		if (!(c->flags & L7_CF_PAUSED) && arm_recv(c) < 0)
			l7_conn_close(c, L7_TERM_INTERNAL);
		return;
	}
	if (cqe->res == 0) {
		c->flags |= L7_CF_EOF;
		on_input(c);
		return;
	}
	/* A reset or another error: the client is gone. */
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
	case L7_CS_LINGER:
		l7_conn_close(c, L7_TERM_OK);
		break;
	default:
		break;
	}
}

/* --- end of an exchange, close ------------------------------------------------------- */

static void hbuf_after_exchange(struct l7_conn *c)
{
	size_t left = c->hb.len - c->hb.off;

	if (!left) {
		l7_hbuf_free(&c->hb);
		return;
	}
	memmove(c->hb.p, c->hb.p + c->hb.off, left);
	c->hb.len = (uint32_t)left;
	c->hb.off = 0;
}

void l7_conn_exchange_done(struct l7_conn *c, bool keep_alive, bool linger)
{
	struct l7_worker *w = c->w;

	if (c->state == L7_CS_CLOSING)
		return;
	hbuf_after_exchange(c);
	if (!keep_alive || (c->flags & L7_CF_CLOSE) || w->draining) {
		if (!linger || (c->flags & L7_CF_EOF) || c->state == L7_CS_TUNNEL) {
			l7_conn_close(c, L7_TERM_OK);
			return;
		}
		/* The client may still be sending (an error cut its request
		 * short): close only after it stops, so our answer is not
		 * destroyed by a reset (RFC 9112 §9.6, "lingering close"). */
		set_state(c, L7_CS_LINGER);
		l7_inq_clear(&c->in, &w->bufs);
		l7_hbuf_free(&c->hb);
		loop_prep_shutdown(w->loop, c->slot, L7_COP_SHUT, c->fd, SHUT_WR);
		arm(c, L7_LINGER_MS);
		c->flags &= (uint8_t)~L7_CF_PAUSED;
		if (!(c->flags & L7_CF_RECV) && arm_recv(c) < 0)
			l7_conn_close(c, L7_TERM_OK);
		return;
	}
	if (l7_conn_input_bytes(c) || (c->flags & L7_CF_EOF)) {
		set_state(c, L7_CS_HEAD);
		arm(c, timeouts(c)->client_header_ms);
		c->x = l7_x_start(c);
		if (!c->x)
			l7_conn_close(c, L7_TERM_INTERNAL);
		else
			l7_conn_flow(c);
		return;
	}
	set_state(c, L7_CS_IDLE);
	arm(c, timeouts(c)->keepalive_ms);
	l7_conn_flow(c);
}

void l7_conn_head_done(struct l7_conn *c)
{
	set_state(c, L7_CS_BUSY);
	loop_timer_cancel(c->w->loop, &c->t);
}

void l7_conn_body_timer(struct l7_conn *c, bool waiting)
{
	if (waiting)
		arm(c, timeouts(c)->client_body_ms);
	else
		loop_timer_cancel(c->w->loop, &c->t);
}

void l7_conn_to_tunnel(struct l7_conn *c)
{
	set_state(c, L7_CS_TUNNEL);
	loop_timer_cancel(c->w->loop, &c->t);
}

void l7_conn_close(struct l7_conn *c, int term)
{
	struct l7_worker *w = c->w;

	if (c->state == L7_CS_CLOSING)
		return;
	/* The exchange frees itself once its sends in flight are back; until
	 * then c->x still routes their completions to it. */
	if (c->x)
		l7_x_abort(c->x, term);
	c->term = (uint8_t)term;
	c->state = L7_CS_CLOSING;
	loop_timer_cancel(w->loop, &c->t);
	l7_inq_clear(&c->in, &w->bufs);
	l7_hbuf_free(&c->hb);
	/* One cancel for every request on the socket, and the close through
	 * the ring (batched with the turn's other requests): on_free runs
	 * once all of them are back. */
	if (loop_prep_cancel_fd(w->loop, c->slot, c->fd) < 0)
		loop_prep_cancel_slot(w->loop, c->slot);
	if (loop_prep_close(w->loop, c->slot, L7_COP_CLOSE, c->fd) == 0)
		c->fd = -1;
	loop_slot_close(w->loop, c->slot);
}

static void c_on_free(struct loop *loop, void *obj)
{
	struct l7_conn *c = obj;
	struct l7_worker *w = c->w;

	if (c->fd >= 0)
		close(c->fd);
	if (c->x) /* an aborted exchange still waits for an upstream send */
		c->x->c = NULL;
	l7_inq_clear(&c->in, &w->bufs);
	metrics_dec(w->mw, c->gen->lst[c->li].m.active);
	l7_gen_put(c->gen);
	free(c->uid);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns--;
	atomic_fetch_sub_explicit(&l7_proc.nconns, 1, memory_order_relaxed);
	l7_worker_conn_free(w, c);
	l7_worker_conn_gone(w);
}

void l7_conn_drain(struct l7_conn *c)
{
	c->flags |= L7_CF_CLOSE;
	if (c->state == L7_CS_IDLE || c->state == L7_CS_INTAKE)
		l7_conn_close(c, L7_TERM_DRAIN);
}
