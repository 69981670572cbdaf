/* Connection I/O and state machine driver for strata-echo; see echo_conn.h.
 *
 * Edge-triggered epoll: can_read / can_write remember readiness until a
 * read or write comes up short, so no epoll_ctl() is needed per request.
 */
#include "echo_conn.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "echo_respond.h"
#include "echo_worker.h"
#include "log.h"

/* Read/process/write rounds per wake-up before other connections get a turn. */
#define ECHO_DRIVE_ROUNDS 16
/* Connections in the first slots keep their buffers for the next client. */
#define ECHO_KEEP_BUF_SLOTS 1024

#define BIT(s) (1u << (s))

/* Allowed transitions (the table in echo_conn.h); FREE is always allowed. */
static const uint16_t next_states[ECHO_ST__COUNT] = {
    [ECHO_ST_FREE] = BIT(ECHO_ST_HEAD),
    [ECHO_ST_HEAD] = BIT(ECHO_ST_HEAD) | BIT(ECHO_ST_BODY) | BIT(ECHO_ST_DELAY) |
		     BIT(ECHO_ST_STREAM) | BIT(ECHO_ST_WS) | BIT(ECHO_ST_TUNNEL) |
		     BIT(ECHO_ST_CLOSING),
    [ECHO_ST_BODY] = BIT(ECHO_ST_HEAD) | BIT(ECHO_ST_DELAY) | BIT(ECHO_ST_STREAM) |
		     BIT(ECHO_ST_WS) | BIT(ECHO_ST_TUNNEL) | BIT(ECHO_ST_CLOSING),
    [ECHO_ST_DELAY] = BIT(ECHO_ST_HEAD) | BIT(ECHO_ST_STREAM) | BIT(ECHO_ST_WS) |
		      BIT(ECHO_ST_TUNNEL) | BIT(ECHO_ST_CLOSING),
    [ECHO_ST_STREAM] = BIT(ECHO_ST_HEAD) | BIT(ECHO_ST_CLOSING),
    [ECHO_ST_WS] = BIT(ECHO_ST_CLOSING),
    [ECHO_ST_TUNNEL] = BIT(ECHO_ST_CLOSING),
    [ECHO_ST_CLOSING] = BIT(ECHO_ST_LINGER),
    [ECHO_ST_LINGER] = 0,
};

void echo_conn_set_state(struct echo_conn *c, enum echo_conn_state st)
{
	assert(st == ECHO_ST_FREE || (next_states[c->state] & BIT(st)));
	c->state = st;
	c->progress++;
}

const char *echo_term_name(enum echo_term term)
{
	static const char *const names[ECHO_TERM__COUNT] = {
	    [ECHO_TERM_NONE] = "none",
	    [ECHO_TERM_PEER_CLOSE] = "peer-close",
	    [ECHO_TERM_DONE] = "done",
	    [ECHO_TERM_TRUNCATED] = "truncated",
	    [ECHO_TERM_PROTOCOL] = "protocol",
	    [ECHO_TERM_WS] = "websocket",
	    [ECHO_TERM_IO] = "io",
	    [ECHO_TERM_NOMEM] = "nomem",
	    [ECHO_TERM_LINGER] = "linger",
	    [ECHO_TERM_SHUTDOWN] = "shutdown",
	};

	return (unsigned)term < ECHO_TERM__COUNT ? names[term] : "?";
}

void echo_conn_consume(struct echo_conn *c, size_t n)
{
	echo_buf_consume(&c->in, n);
	c->progress += n;
}

void echo_conn_open(struct echo_worker *w, int fd, const struct sockaddr *peer)
{
	struct echo_conn *c = echo_worker_conn_alloc(w);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
	int one = 1;

	if (!c) {
		log_rl(LOG_LVL_WARN, "out of memory for a connection; closing it");
		close(fd);
		return;
	}
	c->w = w;
	c->fd = fd;
	c->id = __atomic_add_fetch(&w->srv->next_conn_id, 1, __ATOMIC_RELAXED);
	c->requests = 0;
	c->term = ECHO_TERM_NONE;
	c->can_read = c->rd_eof = c->rdhup = false;
	c->can_write = true;
	c->head_scanned = 0;
	echo_timer_init(&c->timer);
	echo_addr_format(peer, c->peer, sizeof(c->peer));
	echo_conn_set_state(c, ECHO_ST_HEAD);
	/* Responses leave in one write each; Nagle would only hold them back. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ev.data.u64 = echo_worker_conn_key(c);
	echo_counter_inc(&w->ctr.conns_total);
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_rl(LOG_LVL_WARN, "conn %llu: epoll_ctl: %m", (unsigned long long)c->id);
		echo_conn_close(c, ECHO_TERM_IO);
	}
}

void echo_conn_close(struct echo_conn *c, enum echo_term term)
{
	struct echo_worker *w = c->w;
	size_t keep = c->slot < ECHO_KEEP_BUF_SLOTS ? ECHO_IN_INIT : 0;

	if (c->state == ECHO_ST_FREE)
		return;
	c->term = term;
	log_debug("conn %llu %s: closed (%s) after %llu requests", (unsigned long long)c->id,
		  c->peer, echo_term_name(term), (unsigned long long)c->requests);
	echo_timer_cancel(&w->timers, &c->timer);
	close(c->fd);
	c->fd = -1;
	echo_buf_reset(&c->in, keep);
	echo_buf_reset(&c->out, keep);
	echo_buf_reset(&c->pend, keep);
	echo_conn_set_state(c, ECHO_ST_FREE);
	echo_counter_inc(&w->ctr.conns_closed);
	echo_worker_conn_release(w, c);
}

/* How many bytes may be read now. A request head may grow the buffer up to
 * the head limit; other states read into the room they have. */
static size_t read_room(struct echo_conn *c)
{
	struct echo_buf *in = &c->in;

	switch (c->state) {
	case ECHO_ST_CLOSING:
		return 0;
	case ECHO_ST_LINGER:
		echo_buf_reset(in, ECHO_IN_INIT);
		break;
	case ECHO_ST_HEAD:
		if (!echo_buf_space(in) && echo_buf_pending(in) < ECHO_HTTP_MAX_HEAD)
			echo_buf_reserve(in, in->cap < ECHO_IN_INIT ? ECHO_IN_INIT : in->cap);
		break;
	default:
		if (!echo_buf_space(in) && in->off)
			echo_buf_compact(in);
		break;
	}
	if (!in->cap)
		echo_buf_reserve(in, ECHO_IN_INIT);
	return echo_buf_space(in);
}

static int conn_fill(struct echo_conn *c)
{
	while (c->can_read && !c->rd_eof) {
		size_t room = read_room(c);
		ssize_t n;

		if (!room)
			return echo_buf_ok(&c->in) ? 0 : -ENOMEM;
		n = read(c->fd, echo_buf_tail(&c->in), room);
		if (n > 0) {
			c->in.len += (size_t)n;
			c->progress += (size_t)n;
			/* A short read drained the socket: the next byte raises a
			 * new edge. Not after RDHUP, whose EOF raises none. */
			if ((size_t)n < room && !c->rdhup)
				c->can_read = false;
		} else if (n == 0) {
			c->rd_eof = true;
			c->can_read = false;
			c->progress++;
		} else if (errno == EAGAIN) {
			c->can_read = false;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

/* Queues the framing after a /size chunk: chunk CRLF, the next chunk's size
 * line or the last chunk. Ends the stream when the body is complete. */
static void stream_next(struct echo_conn *c)
{
	struct echo_stream *s = &c->stream;

	if (s->chunked)
		echo_buf_add(&c->out, "\r\n", 2);
	if (s->chunked && s->left) {
		s->chunk_left = s->left < ECHO_STREAM_CHUNK ? s->left : ECHO_STREAM_CHUNK;
		echo_buf_add_hex(&c->out, s->chunk_left);
		echo_buf_add(&c->out, "\r\n", 2);
		return;
	}
	if (s->chunked)
		echo_buf_add(&c->out, "0\r\n\r\n", 5);
	echo_conn_http_done(c);
}

/* Accounts n sent bytes: output buffer first, then stream pattern bytes. */
static void sent(struct echo_conn *c, size_t n)
{
	size_t from_out = echo_buf_pending(&c->out);

	c->progress += n;
	if (n < from_out) {
		echo_buf_consume(&c->out, n);
		return;
	}
	echo_buf_consume(&c->out, from_out);
	n -= from_out;
	if (c->state != ECHO_ST_STREAM)
		return;
	c->stream.chunk_left -= n;
	c->stream.left -= n;
	c->stream.pos += n;
	if (!c->stream.chunk_left)
		stream_next(c);
}

static int conn_flush(struct echo_conn *c)
{
	while (c->can_write) {
		struct iovec iov[2];
		struct msghdr msg = {.msg_iov = iov};
		size_t total;
		ssize_t n;

		if (echo_buf_pending(&c->out)) {
			iov[msg.msg_iovlen++] =
			    (struct iovec){echo_buf_head(&c->out), echo_buf_pending(&c->out)};
		}
		if (c->state == ECHO_ST_STREAM && c->stream.chunk_left) {
			size_t len;
			const char *p =
			    echo_respond_pattern(c->stream.pos, c->stream.chunk_left, &len);

			iov[msg.msg_iovlen++] = (struct iovec){(void *)p, len};
		}
		if (!msg.msg_iovlen)
			return 0;
		total = iov[0].iov_len + (msg.msg_iovlen > 1 ? iov[1].iov_len : 0);
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN) {
				c->can_write = false;
				return 0;
			}
			if (errno == EINTR)
				continue;
			return -errno;
		}
		sent(c, (size_t)n);
		/* A short write filled the socket buffer; EPOLLOUT follows. */
		if ((size_t)n < total)
			c->can_write = false;
	}
	return 0;
}

static int conn_process(struct echo_conn *c)
{
	switch (c->state) {
	case ECHO_ST_HEAD:
	case ECHO_ST_BODY:
		return echo_conn_http_process(c);
	case ECHO_ST_WS:
		return echo_conn_ws_process(c);
	case ECHO_ST_TUNNEL:
		return echo_conn_tunnel_process(c);
	case ECHO_ST_LINGER:
		echo_conn_consume(c, echo_buf_pending(&c->in));
		if (c->rd_eof)
			return -ECONNABORTED;
		return 0;
	default:
		return 0;
	}
}

/* CLOSING with nothing left to send: close, or half-close and linger. */
static int conn_settle(struct echo_conn *c)
{
	int unread = 0;

	if (c->state != ECHO_ST_CLOSING || echo_buf_pending(&c->out))
		return 0;
	if (c->rd_eof)
		return -ECONNABORTED;
	/* A clean end with nothing more from the peer closes at once; only
	 * unread input (which close() would answer with a reset that can
	 * destroy our last response in flight) or an error makes us linger. */
	if (c->term != ECHO_TERM_PROTOCOL && !echo_buf_pending(&c->in) &&
	    ioctl(c->fd, FIONREAD, &unread) == 0 && unread == 0)
		return -ECONNABORTED;
	shutdown(c->fd, SHUT_WR);
	echo_conn_set_state(c, ECHO_ST_LINGER);
	if (echo_timer_arm(&c->w->timers, &c->timer, c->w->now_ms + ECHO_LINGER_MS) < 0) {
		c->term = ECHO_TERM_NOMEM;
		return -ENOMEM;
	}
	return 0;
}

void echo_conn_drive(struct echo_conn *c)
{
	enum echo_term io_term = ECHO_TERM_IO;
	int r = 0;

	for (int round = 0; round < ECHO_DRIVE_ROUNDS; round++) {
		uint64_t before = c->progress;

		r = conn_fill(c);
		if (r == 0)
			r = conn_process(c);
		else
			io_term = r == -ENOMEM ? ECHO_TERM_NOMEM : ECHO_TERM_IO;
		if (r == 0 && !echo_buf_ok(&c->out)) {
			c->term = ECHO_TERM_NOMEM;
			r = -ENOMEM;
		}
		if (r == 0 && (r = conn_flush(c)) < 0)
			io_term = ECHO_TERM_IO;
		if (r == 0)
			r = conn_settle(c);
		if (r < 0)
			goto out_close;
		if (c->progress == before)
			return;
	}
	echo_worker_defer(c->w, c);
	return;
out_close:
	echo_conn_close(c, c->term != ECHO_TERM_NONE ? c->term : io_term);
}

void echo_conn_on_event(struct echo_conn *c, uint32_t events)
{
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->can_read = true;
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		c->rdhup = true;
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
		c->can_write = true;
	echo_conn_drive(c);
}

void echo_conn_on_timer(struct echo_conn *c)
{
	if (c->state == ECHO_ST_LINGER) {
		echo_conn_close(c, ECHO_TERM_LINGER);
		return;
	}
	if (c->state == ECHO_ST_DELAY) {
		c->req.delayed = true;
		if (echo_conn_http_respond(c) < 0) {
			echo_conn_close(c, c->term != ECHO_TERM_NONE ? c->term : ECHO_TERM_NOMEM);
			return;
		}
	}
	echo_conn_drive(c);
}
