/* Upstream connections of one worker (uconn.h): connect, reuse from the
 * local idle list and the shared pool, detach to the pool, close. The
 * worker owns every struct l7_uconn; the slot's on_free is where a
 * descriptor goes to the pool or is closed, because only then is nothing
 * of this ring pending on it. */
#include "uconn.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#include "exchange.h"
#include "l7_metrics.h"
#include "l7_worker.h"
#include "upstream.h"

static void u_on_cqe(struct loop *loop, void *obj, unsigned op, const struct io_uring_cqe *cqe);
static void u_on_free(struct loop *loop, void *obj);

static const struct loop_ops u_ops = {.on_cqe = u_on_cqe, .on_free = u_on_free};

static void local_unlink(struct l7_uconn *u)
{
	struct l7_local_idle *li = &u->srv->local[u->w->index];

	if (u->prev)
		u->prev->next = u->next;
	else
		li->head = u->next;
	if (u->next)
		u->next->prev = u->prev;
	u->next = u->prev = NULL;
	li->n--;
}

static void local_push(struct l7_uconn *u)
{
	struct l7_local_idle *li = &u->srv->local[u->w->index];

	u->prev = NULL;
	u->next = li->head;
	if (li->head)
		li->head->prev = u;
	li->head = u;
	li->n++;
}

static int arm_recv(struct l7_uconn *u)
{
	int ret = loop_prep_recv(u->w->loop, u->slot, L7_UOP_RECV, u->fd);

	if (ret == 0)
		u->recv_armed = true;
	return ret;
}

/* Starts closing (or detaching): cancel what is pending; on_free ends it. */
static void u_shutdown(struct l7_uconn *u, enum l7_ustate st)
{
	if (u->state == L7_US_IDLE)
		local_unlink(u);
	/* u->x stays: a send still in flight reports to its exchange, which
	 * lets go of u when that completion arrives (exchange_up.c). */
	u->state = (uint8_t)st;
	l7_inq_clear(&u->in, &u->w->bufs);
	loop_prep_cancel_slot(u->w->loop, u->slot);
	loop_slot_close(u->w->loop, u->slot);
}

void l7_uconn_close(struct l7_uconn *u)
{
	if (u->state == L7_US_CLOSING || u->state == L7_US_DETACH)
		return;
	u_shutdown(u, L7_US_CLOSING);
}

static void u_on_free(struct loop *loop, void *obj)
{
	struct l7_uconn *u = obj;
	struct l7_worker *w = u->w;

	if (u->state == L7_US_DETACH && !u->got_bytes &&
	    l7_pool_put(&u->srv->pool, u->fd, u->requests, loop_now_ms(loop)))
		u->fd = -1;
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
	w->nuconns--;
	l7_worker_u_free(w, u);
}

static struct l7_uconn *u_new(struct l7_worker *w, struct l7_server_rt *srv, int fd, int *err)
{
	struct l7_uconn *u = l7_worker_u_alloc(w);

	if (!u) {
		*err = -ENOMEM;
		return NULL;
	}
	memset(u, 0, sizeof(*u));
	u->w = w;
	u->srv = srv;
	u->fd = fd;
	l7_inq_init(&u->in);
	u->slot = loop_slot_open(w->loop, &u_ops, u);
	if (u->slot < 0) {
		*err = u->slot;
		l7_worker_u_free(w, u);
		return NULL;
	}
	w->nuconns++;
	return u;
}

static struct l7_uconn *from_local(struct l7_worker *w, struct l7_server_rt *srv)
{
	struct l7_local_idle *li = &srv->local[w->index];
	struct l7_uconn *u = li->head;

	if (!u)
		return NULL;
	local_unlink(u);
	u->state = L7_US_ACTIVE;
	return u;
}

static struct l7_uconn *from_pool(struct l7_worker *w, struct l7_server_rt *srv, int *err)
{
	uint32_t requests;
	int fd = l7_pool_take(&srv->pool, loop_now_ms(w->loop), &requests);
	struct l7_uconn *u;

	if (fd < 0)
		return NULL;
	u = u_new(w, srv, fd, err);
	if (!u) {
		close(fd);
		return NULL;
	}
	u->requests = requests;
	u->state = L7_US_ACTIVE;
	if (arm_recv(u) < 0) {
		u_shutdown(u, L7_US_CLOSING);
		return NULL;
	}
	return u;
}

/* Calls fn for every server of the worker's current generation. */
static void each_server(struct l7_worker *w, void (*fn)(struct l7_worker *w,
							 struct l7_server_rt *srv, void *arg),
			void *arg)
{
	if (!w->gen)
		return;
	for (uint32_t i = 0; i < w->gen->cfg->n_upstreams; i++) {
		struct l7_up_rt *up = &w->gen->ups[i].rt;

		for (uint32_t s = 0; s < up->n; s++)
			fn(w, up->srv[s], arg);
	}
}

struct release_count {
	unsigned now_free, later;
};

static void release_server(struct l7_worker *w, struct l7_server_rt *srv, void *arg)
{
	struct release_count *n = arg;
	struct l7_local_idle *li = &srv->local[w->index];

	while (li->head) {
		u_shutdown(li->head, L7_US_CLOSING);
		n->later++;
	}
	n->now_free += l7_pool_flush(&srv->pool);
}

unsigned l7_uconn_release_idle(struct l7_worker *w)
{
	struct release_count n = {0, 0};
	unsigned now_free, later;

	each_server(w, release_server, &n);
	now_free = n.now_free;
	later = n.later;
	if (now_free + later) {
		metrics_add(w->mw, l7m.pool_released, now_free + later);
		log_rl(LOG_LVL_WARN,
		       "worker %u: out of descriptors: closed %u idle upstream connections",
		       w->index, now_free + later);
	}
	return now_free;
}

/* A socket for a new upstream connection. Out of descriptors, idle pooled
 * connections are worth less than a live request: they go, and socket() is
 * tried once more. The shared pools' descriptors are free at once; those of
 * the local lists once their slots are freed, for the requests after. */
static int upstream_socket(struct l7_worker *w, int fam)
{
	int fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
		int why = errno;

		if (l7_uconn_release_idle(w) == 0)
			return -why;
		fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	return fd < 0 ? -errno : fd;
}

static struct l7_uconn *connect_new(struct l7_worker *w, struct l7_server_rt *srv,
				    uint32_t connect_ms, int *err)
{
	int fam = addr_family(&srv->addr);
	int fd = upstream_socket(w, fam);
	struct l7_uconn *u;
	int one = 1;

	if (fd < 0) {
		*err = fd;
		return NULL;
	}
	if (fam != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	u = u_new(w, srv, fd, err);
	if (!u) {
		close(fd);
		return NULL;
	}
	u->state = L7_US_CONNECTING;
	u->addr_copy = srv->addr;
	*err = loop_prep_connect(w->loop, u->slot, L7_UOP_CONNECT, fd, addr_sockaddr(&u->addr_copy),
				 u->addr_copy.len, connect_ms);
	if (*err < 0) {
		u_shutdown(u, L7_US_CLOSING);
		return NULL;
	}
	return u;
}

struct l7_uconn *l7_uconn_get(struct l7_worker *w, struct l7_exchange *x, struct l7_server_rt *srv,
			      uint32_t connect_ms, bool fresh, bool *ready, int *err)
{
	struct l7_uconn *u = NULL;

	*err = 0;
	if (!fresh) {
		u = from_local(w, srv);
		if (!u)
			u = from_pool(w, srv, err);
	}
	if (u) {
		u->reused = true;
		*ready = true;
	} else {
		u = connect_new(w, srv, connect_ms, err);
		if (!u)
			return NULL;
		u->reused = false;
		*ready = false;
	}
	u->x = x;
	u->requests++;
	return u;
}

void l7_uconn_release(struct l7_uconn *u, bool reusable, uint32_t max_requests, bool current)
{
	struct l7_worker *w = u->w;

	u->x = NULL;
	if (max_requests && u->requests >= max_requests)
		reusable = false;
	if (!reusable || !u->recv_armed || !l7_inq_empty(&u->in) ||
	    atomic_load(&u->srv->admin) == L7_ADMIN_MAINT || w->draining) {
		u_shutdown(u, L7_US_CLOSING);
		return;
	}
	/* Only servers of the worker's current generation keep a local list
	 * (the worker empties it when the generation changes). */
	if (!current || u->srv->local[w->index].n >= atomic_load(&u->srv->pool.max_idle)) {
		u_shutdown(u, L7_US_DETACH);
		return;
	}
	u->state = L7_US_IDLE;
	u->idle_since = loop_now_ms(w->loop);
	local_push(u);
}

int l7_uconn_send(struct l7_uconn *u, struct l7_tx *tx)
{
	return l7_tx_submit(tx, u->w->loop, u->slot, L7_UOP_SEND, u->fd);
}

void l7_uconn_flow(struct l7_uconn *u)
{
	if (u->state != L7_US_ACTIVE)
		return;
	if (u->in.bytes >= L7_PAUSE_BYTES && u->recv_armed && !u->paused) {
		u->paused = true;
		loop_prep_cancel(u->w->loop, u->slot, L7_UOP_RECV);
	} else if (u->in.bytes < L7_PAUSE_BYTES / 2 && !u->recv_armed) {
		u->paused = false;
		if (arm_recv(u) < 0 && u->x)
			l7_x_on_upstream_eof(u->x, -EBUSY);
	}
}

/* A recv completion. Attached: to the exchange. Idle: anything but a clean
 * nothing ends the connection. */
static void on_recv(struct l7_uconn *u, const struct io_uring_cqe *cqe)
{
	int bid = loop_cqe_bid(cqe);
	bool more = loop_cqe_more(cqe);

	if (bid >= 0)
		l7_buf_take(&u->w->bufs, (unsigned)bid);
	if (!more)
		u->recv_armed = false;
	if (u->state == L7_US_CLOSING || u->state == L7_US_DETACH || u->state == L7_US_IDLE) {
		if (bid >= 0) {
			l7_buf_drop(&u->w->bufs, (unsigned)bid);
			u->got_bytes = true;
		}
		if (u->state == L7_US_IDLE)
			u_shutdown(u, L7_US_CLOSING); /* server closed it, or spoke out of turn */
		return;
	}
	if (cqe->res > 0) {
		l7_inq_push(&u->in, &u->w->bufs, (unsigned)bid, 0, (unsigned)cqe->res);
		/* paused: l7_uconn_flow re-arms once the exchange drained it */
		if (!more && !u->paused && arm_recv(u) < 0)
			u->recv_armed = false;
		if (u->x)
			l7_x_on_upstream_input(u->x);
		return;
	}
	if (cqe->res == -ENOBUFS || (cqe->res == -ECANCELED && u->paused)) {
		/* Paused: the input may have drained while the cancel was in
		 * flight, when l7_uconn_flow could not re-arm a live receive. */
		if (u->paused)
			l7_uconn_flow(u);
		else if (arm_recv(u) < 0 && u->x)
			l7_x_on_upstream_eof(u->x, -ENOBUFS);
		return;
	}
	if (u->x)
		l7_x_on_upstream_eof(u->x, cqe->res);
}

static void u_on_cqe(struct loop *loop, void *obj, unsigned op, const struct io_uring_cqe *cqe)
{
	struct l7_uconn *u = obj;

	switch (op) {
	case L7_UOP_RECV:
		on_recv(u, cqe);
		break;
	case L7_UOP_CONNECT:
		if (u->state != L7_US_CONNECTING)
			break;
		if (cqe->res == 0) {
			u->state = L7_US_ACTIVE;
			if (arm_recv(u) < 0) {
				if (u->x)
					l7_x_on_connected(u->x, -EBUSY);
				break;
			}
		}
		if (u->x)
			l7_x_on_connected(u->x, cqe->res);
		break;
	case L7_UOP_SEND:
		if (u->x)
			l7_x_on_upstream_sent(u->x, cqe->res);
		break;
	default:
		break;
	}
}

/* Detaches the server's local idle connections idle long enough (all of
 * them when *all). */
static void tick_server(struct l7_worker *w, struct l7_server_rt *srv, void *arg)
{
	const bool *all = arg;
	uint64_t now = loop_now_ms(w->loop);

	for (struct l7_uconn *u = srv->local[w->index].head, *next; u; u = next) {
		next = u->next;
		if (*all || now - u->idle_since >= L7_POOL_LOCAL_IDLE_MS)
			u_shutdown(u, L7_US_DETACH);
	}
}

void l7_uconn_tick(struct l7_worker *w, bool all)
{
	each_server(w, tick_server, &all);
}
