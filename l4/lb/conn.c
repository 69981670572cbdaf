/* A connection's life outside the data path (conn.h): accept, SNI peek,
 * choosing an instance, connect with timeout and retries, close, and the
 * release of everything in on_free. The state machine is in conn_state.c,
 * the byte paths in relay.c and splice.c.
 */
#include "conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "lbworker.h"
#include "log.h"
#include "pphdr.h"
#include "proc.h"
#include "state.h"

static void on_cqe(struct loop *loop, void *obj, unsigned op, const struct io_uring_cqe *cqe);
static void on_free(struct loop *loop, void *obj);
static void on_timer(struct loop *loop, struct timer *t);

static const struct loop_ops conn_ops = {.on_cqe = on_cqe, .on_free = on_free};

static void set_nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* close() that sends a RST (SO_LINGER 0) instead of a FIN. */
static void close_reset(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

void l4_conn_reject(struct l4_worker *w, unsigned svc_idx, int fd)
{
	const struct l4_service *s = &w->cfg->svc[svc_idx];

	metrics_inc(w->mw, s->rt->m_rejected);
	close_reset(fd);
}

static void count_open(struct l4_conn *c)
{
	struct l4_worker *w = c->w;

	atomic_fetch_add_explicit(&w->proc->st.active, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->svc->rt->active, 1, memory_order_relaxed);
	metrics_inc(w->mw, w->proc->st.m.conns_active);
	metrics_inc(w->mw, c->svc->rt->m_active);
	metrics_inc(w->mw, c->svc->rt->m_conns);
}

static void count_close(struct l4_conn *c)
{
	struct l4_worker *w = c->w;

	atomic_fetch_sub_explicit(&w->proc->st.active, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&c->svc->rt->active, 1, memory_order_relaxed);
	metrics_dec(w->mw, w->proc->st.m.conns_active);
	metrics_dec(w->mw, c->svc->rt->m_active);
	metrics_inc(w->mw, c->svc->rt->m_close[c->end]);
	if (c->flags & L4_CF_CONNECTED)
		metrics_dec(w->mw, c->irt->m_active);
	if (c->flags & L4_CF_PICKED)
		balance_conn_end(&c->irt->live);
}

static struct l4_setup *setup_new(const struct l4_service *s)
{
	struct l4_setup *st = malloc(sizeof(*st) + s->n_inst);

	if (!st)
		return NULL;
	st->hdr_len = st->hdr_sent = 0;
	memset(st->excluded, 0, s->n_inst);
	if (s->sni)
		sni_init(&st->sni);
	return st;
}

static int conn_init(struct l4_worker *w, struct l4_conn *c, unsigned svc_idx, int fd)
{
	c->fd[L4_CLIENT] = fd;
	c->fd[L4_SERVER] = -1;
	c->inst = -1;
	for (unsigned d = 0; d < 2; d++) {
		c->dir[d].head = c->dir[d].tail = L4_NO_BID;
		c->dir[d].pipe = -1;
	}
	c->peer_len = sizeof(c->peer);
	if (getpeername(fd, &c->peer.sa, &c->peer_len) < 0)
		return -errno; /* gone already (ENOTCONN) */
	c->svc = &w->cfg->svc[svc_idx];
	c->setup = setup_new(c->svc);
	if (!c->setup)
		return -ENOMEM;
	c->id = loop_slot_open(w->loop, &conn_ops, c);
	if (c->id < 0) {
		free(c->setup);
		return c->id;
	}
	c->cfg = w->cfg;
	snap_get(&c->cfg->hdr);
	c->svc_idx = (uint16_t)svc_idx;
	c->seq = ++w->seq;
	c->start_ms = c->last_ms = loop_now_ms(w->loop);
	timer_init(&c->timer, on_timer);
	return 0;
}

void l4_conn_accept(struct l4_worker *w, unsigned svc_idx, int fd, const struct addr *local)
{
	struct l4_conn *c = l4_worker_conn_get(w);
	int rc = c ? conn_init(w, c, svc_idx, fd) : -ENOMEM;

	if (rc) {
		if (rc != -ENOTCONN)
			log_rl(LOG_LVL_WARN, "worker %u: dropping a client: %s", w->index,
			       strerror(-rc));
		close_reset(fd);
		if (c)
			l4_worker_conn_put(w, c);
		return;
	}
	count_open(c);
	c->local = local; /* TCP_NODELAY comes from the listener (proc.c) */
	if (c->svc->sni) {
		l4_conn_set_state(c, L4_ST_PEEK);
		loop_timer_arm(w->loop, &c->timer, c->svc->sni_timeout_ms);
		l4_relay_arm_recv(c, L4_C2S);
		return;
	}
	/* Plain services connect at once: server-speaks-first protocols
	 * (SMTP, SSH) must not wait for the client. */
	l4_relay_arm_recv(c, L4_C2S);
	if (c->state != L4_ST_CLOSING)
		l4_conn_connect(c);
}

/* --- choosing and connecting ------------------------------------------------ */

static enum l4_cerr classify(int res)
{
	switch (res) {
	case -ECONNREFUSED:
		return L4_CERR_REFUSED;
	case -ETIMEDOUT:
		return L4_CERR_TIMEOUT;
	case -ENETUNREACH:
	case -EHOSTUNREACH:
	case -EHOSTDOWN:
	case -ENETDOWN:
		return L4_CERR_UNREACHABLE;
	case -EMFILE:
	case -ENFILE:
	case -ENOBUFS:
	case -ENOMEM:
		return L4_CERR_RESOURCE;
	default:
		return L4_CERR_OTHER;
	}
}

static int open_server_socket(struct l4_conn *c, const struct l4_instance *in)
{
	int fd = socket(addr_family(&in->addr), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	set_nodelay(fd);
	return fd;
}

/* A failed attempt on the current instance: count it, exclude it, retry
 * on another one while tries are left. */
static void connect_failed(struct l4_conn *c, int res)
{
	const struct l4_service *s = c->svc;
	char id[L4_CONN_ID_MAX];

	metrics_inc(c->w->mw, c->irt->m_cerr[classify(res)]);
	l4_conn_id(c, id, sizeof(id));
	log_rl(LOG_LVL_WARN, "conn %s: connect to %s (service %s) failed: %s", id,
	       s->inst[c->inst].name, s->name, strerror(-res));
	if (c->fd[L4_SERVER] >= 0) {
		close(c->fd[L4_SERVER]);
		c->fd[L4_SERVER] = -1;
	}
	balance_conn_end(&c->irt->live);
	c->flags &= (uint8_t)~L4_CF_PICKED;
	c->setup->excluded[c->inst] = true;
	if (res == -EMFILE || res == -ENFILE) {
		for (struct l4_listener *l = c->w->listeners; l; l = l->next)
			l4_listener_pause(l, L4_LP_FD, true);
		c->w->fd_retry_ms = loop_now_ms(c->w->loop) + L4_TICK_MS;
	}
	if (c->tries <= s->connect_retries) {
		metrics_inc(c->w->mw, s->rt->m_retries);
		l4_conn_connect(c);
		return;
	}
	l4_conn_close(c, L4_END_CONNECT_FAILED);
}

void l4_conn_connect(struct l4_conn *c)
{
	const struct l4_service *s = c->svc;
	struct balance_worker *bw = balance_worker(s->bal, c->w->index);
	uint64_t key = balance_uses_key(s->bal) ? balance_key_addr(&c->peer.sa, s->hash_port) : 0;
	int i = balance_pick(bw, key, c->setup->excluded), fd, rc;

	l4_conn_set_state(c, L4_ST_CONNECT);
	if (i < 0) {
		metrics_inc(c->w->mw, s->rt->m_no_instance);
		l4_conn_close(c, c->tries ? L4_END_CONNECT_FAILED : L4_END_NO_INSTANCE);
		return;
	}
	c->inst = (int16_t)i;
	c->irt = s->inst[i].rt;
	balance_conn_begin(&c->irt->live);
	c->flags |= L4_CF_PICKED;
	c->tries++;
	fd = open_server_socket(c, &s->inst[i]);
	if (fd < 0) {
		connect_failed(c, fd);
		return;
	}
	c->fd[L4_SERVER] = fd;
	/* connect_timeout runs on the connection's wheel timer, not as a
	 * linked timeout: that would be one more request and completion (and
	 * a kernel hrtimer) per connection. On expiry on_timer cancels the
	 * connect, whose completion (-ECANCELED, read as -ETIMEDOUT) still
	 * comes before a retry closes this socket. */
	c->flags &= (uint8_t)~L4_CF_CTIMEOUT;
	rc = loop_prep_connect(c->w->loop, c->id, L4_OP_CONNECT, fd,
			       addr_sockaddr(&s->inst[i].addr), s->inst[i].addr.len, 0);
	if (rc) {
		l4_conn_close(c, L4_END_INTERNAL);
		return;
	}
	loop_timer_arm(c->w->loop, &c->timer, s->connect_timeout_ms);
}

void l4_conn_connected(struct l4_conn *c)
{
	struct l4_worker *w = c->w;
	const char *sni = (c->flags & L4_CF_SNI_FOUND) ? c->setup->sni.name : NULL;
	int n;

	l4_conn_set_state(c, L4_ST_RELAY);
	c->flags |= L4_CF_CONNECTED;
	metrics_inc(w->mw, c->irt->m_active);
	metrics_inc(w->mw, c->irt->m_conns);
	n = l4_pphdr_build(c, sni, c->setup->hdr, sizeof(c->setup->hdr));
	if (n < 0) {
		log_rl(LOG_LVL_WARN, "conn %llu: cannot build the PROXY header: %s",
		       (unsigned long long)c->seq, strerror(-n));
		l4_conn_close(c, -n == ENOTCONN ? L4_END_CLIENT_RESET : L4_END_INTERNAL);
		return;
	}
	c->setup->hdr_len = (uint16_t)n;
	loop_timer_arm(w->loop, &c->timer, c->svc->idle_timeout_ms);
	l4_relay_arm_recv(c, L4_S2C);
	l4_relay_kick(c, L4_C2S);
	l4_relay_arm_recv(c, L4_C2S);
}

static void on_connect(struct l4_conn *c, int res)
{
	if (c->state != L4_ST_CONNECT)
		return; /* closing: cancelled */
	if (res == -ECANCELED && (c->flags & L4_CF_CTIMEOUT))
		res = -ETIMEDOUT; /* on_timer cancelled it */
	c->flags &= (uint8_t)~L4_CF_CTIMEOUT;
	if (res == 0)
		l4_conn_connected(c);
	else
		connect_failed(c, res);
}

/* --- SNI peek ------------------------------------------------------------------ */

static void peek_done(struct l4_conn *c)
{
	loop_timer_cancel(c->w->loop, &c->timer);
	l4_conn_connect(c);
}

void l4_conn_peek(struct l4_conn *c, const uint8_t *buf, size_t len)
{
	struct l4_svc_rt *rt = c->svc->rt;
	enum sni_err why;
	int rc = sni_feed(&c->setup->sni, buf, len, &why);

	if (rc == -EAGAIN) {
		/* Still undecided with the queue full: go without the name. */
		if (c->dir[L4_C2S].queued >= c->svc->queue_limit)
			peek_done(c);
		return;
	}
	if (rc > 0 && c->setup->sni.found) {
		c->flags |= L4_CF_SNI_FOUND;
		metrics_inc(c->w->mw, rt->m_sni_found);
	} else if (rc > 0) {
		metrics_inc(c->w->mw, rt->m_sni_none);
	} else {
		metrics_inc(c->w->mw, rt->m_sni_not_tls);
		log_debug("conn %llu: no SNI: %s", (unsigned long long)c->seq, sni_strerror(why));
	}
	peek_done(c);
}

void l4_conn_peek_eof(struct l4_conn *c)
{
	if (c->dir[L4_C2S].queued == 0) {
		l4_conn_close(c, L4_END_CLIENT_GONE);
		return;
	}
	metrics_inc(c->w->mw, c->svc->rt->m_sni_none);
	peek_done(c);
}

/* --- timers and dispatch -------------------------------------------------------- */

static void on_timer(struct loop *loop, struct timer *t)
{
	struct l4_conn *c = timer_owner(t, struct l4_conn, timer);
	uint64_t now = loop_now_ms(loop), idle = c->svc->idle_timeout_ms;

	if (c->state == L4_ST_PEEK) {
		metrics_inc(c->w->mw, c->svc->rt->m_sni_timeout);
		if (c->dir[L4_C2S].queued == 0)
			l4_conn_close(c, L4_END_SNI_TIMEOUT);
		else
			peek_done(c);
		return;
	}
	if (c->state == L4_ST_CONNECT) {
		/* connect_timeout: the connect completes with -ECANCELED and
		 * on_connect counts a timeout (and retries). */
		c->flags |= L4_CF_CTIMEOUT;
		if (loop_prep_cancel(loop, c->id, L4_OP_CONNECT))
			l4_conn_close(c, L4_END_INTERNAL);
		return;
	}
	if (c->state != L4_ST_RELAY)
		return;
	/* Lazy idle timer: activity only stores last_ms; re-arm when it moved. */
	if (now - c->last_ms >= idle)
		l4_conn_close(c, L4_END_IDLE);
	else
		loop_timer_arm(loop, t, c->last_ms + idle - now);
}

static void on_cqe(struct loop *loop, void *obj, unsigned op, const struct io_uring_cqe *cqe)
{
	struct l4_conn *c = obj;
	unsigned d = L4_OP_DIR(op);

	switch (op) {
	case L4_OP_RECV(0):
	case L4_OP_RECV(1):
		l4_relay_on_recv(c, d, cqe);
		break;
	case L4_OP_SEND(0):
	case L4_OP_SEND(1):
		l4_relay_on_send(c, d, cqe);
		break;
	case L4_OP_SPIN(0):
	case L4_OP_SPIN(1):
		l4_splice_on_in(c, d, cqe);
		break;
	case L4_OP_SPOUT(0):
	case L4_OP_SPOUT(1):
		l4_splice_on_out(c, d, cqe);
		break;
	case L4_OP_CONNECT:
		on_connect(c, cqe->res);
		break;
	default:
		if (loop_cqe_bid(cqe) >= 0)
			bufring_put(loop_bufring(loop), (unsigned)loop_cqe_bid(cqe));
		break;
	}
}

/* --- closing -------------------------------------------------------------------- */

/* Cancels exactly what is in flight (a cleanly finished connection has
 * nothing left, so closing it costs no cancel at all). */
static void cancel_inflight(struct l4_conn *c, enum l4_cstate was)
{
	struct loop *loop = c->w->loop;

	if (was == L4_ST_CONNECT && c->fd[L4_SERVER] >= 0)
		loop_prep_cancel(loop, c->id, L4_OP_CONNECT);
	for (unsigned d = 0; d < 2; d++) {
		uint16_t f = c->dir[d].flags;

		if (f & L4_DF_RECV)
			loop_prep_cancel(loop, c->id, L4_OP_RECV(d));
		if (f & L4_DF_SEND)
			loop_prep_cancel(loop, c->id, L4_OP_SEND(d));
		if (f & L4_DF_SPIN)
			loop_prep_cancel(loop, c->id, L4_OP_SPIN(d));
		if (f & L4_DF_SPOUT)
			loop_prep_cancel(loop, c->id, L4_OP_SPOUT(d));
	}
}

void l4_conn_close(struct l4_conn *c, enum l4_end why)
{
	enum l4_cstate was = (enum l4_cstate)c->state;

	if (was == L4_ST_CLOSING)
		return;
	c->end = (uint8_t)why;
	l4_conn_set_state(c, L4_ST_CLOSING);
	loop_timer_cancel(c->w->loop, &c->timer);
	if (loop_slot_inflight(c->w->loop, c->id))
		cancel_inflight(c, was);
	loop_slot_close(c->w->loop, c->id);
}

static void log_access(struct l4_conn *c)
{
	struct json_buf *j = alog_begin(c->w->alog);
	char buf[L4_CONN_ID_MAX];
	struct addr a;

	l4_conn_id(c, buf, sizeof(buf));
	json_key(j, "conn");
	json_cstr(j, buf);
	json_key(j, "client");
	if (addr_from_sockaddr(&a, &c->peer.sa, c->peer_len) == 0) {
		addr_normalize(&a);
		addr_format(&a, buf, sizeof(buf));
		json_cstr(j, buf);
	} else {
		json_null(j);
	}
	json_key(j, "service");
	json_cstr(j, c->svc->name);
	json_key(j, "instance");
	json_cstr(j, c->inst >= 0 ? c->svc->inst[c->inst].name : NULL);
	json_key(j, "bytes_in");
	json_uint(j, c->dir[L4_C2S].bytes);
	json_key(j, "bytes_out");
	json_uint(j, c->dir[L4_S2C].bytes);
	json_key(j, "duration_ms");
	json_uint(j, loop_now_ms(c->w->loop) - c->start_ms);
	json_key(j, "tries");
	json_uint(j, c->tries);
	json_key(j, "reason");
	json_cstr(j, l4_end_name((enum l4_end)c->end));
	alog_commit(c->w->alog);
}

static void close_side(struct l4_conn *c, enum l4_side side, unsigned rst_flag)
{
	int fd = c->fd[side];

	if (fd < 0)
		return;
	if (c->flags & rst_flag)
		close_reset(fd);
	else
		close(fd);
	c->fd[side] = -1;
}

static void on_free(struct loop *loop, void *obj)
{
	struct l4_conn *c = obj;
	struct l4_worker *w = c->w;

	for (unsigned d = 0; d < 2; d++) {
		l4_relay_drop_queue(c, d);
		l4_splice_release(c, d);
		if (c->dir[d].sv)
			l4_worker_sendv_put(w, c->dir[d].sv);
	}
	/* Nothing is in flight: no late splice or shutdown can reach these. */
	close_side(c, L4_CLIENT, L4_CF_RST_CLIENT);
	close_side(c, L4_SERVER, L4_CF_RST_SERVER);
	count_close(c);
	if (w->alog)
		log_access(c);
	free(c->setup);
	snap_put(&c->cfg->hdr);
	l4_worker_conn_put(w, c);
	l4_worker_conn_closed(w);
}
