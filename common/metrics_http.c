/* The /metrics HTTP endpoint: one blocking server thread (poll + accept),
 * off the hot path, plus the `metrics` admin command. The server owns its
 * listening socket, its client sockets and their buffers.
 *
 * Each connection gets one request and one answer (Connection: close),
 * within METRICS_HTTP_TIMEOUT_MS from accept, so a slow or silent client
 * costs one of METRICS_HTTP_MAX_CLIENTS slots for a bounded time and never
 * blocks the others. Requests are bounded (METRICS_HTTP_MAX_REQUEST) and
 * anything that is not a well-formed request line gets a 400.
 */
#include "metrics.h"

#include "admin.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics_req.h"
#include "nofile.h"

enum mh_state {
	MH_FREE,
	MH_READ,  /* waiting for the end of the request head */
	MH_WRITE, /* sending the answer */
	MH_DRAIN, /* answer sent, write side shut: read until EOF so close sends no RST */
	MH__STATE_COUNT
};

struct mh_client {
	enum mh_state state;
	int fd;
	uint64_t deadline_ms;
	size_t in_len;
	char in[METRICS_HTTP_MAX_REQUEST];
	char *out;
	size_t out_len, out_off;
};

struct metrics_http {
	struct metrics_reg *reg;
	int lfd;
	int wake[2]; /* a byte on wake[1] stops the thread */
	int port;
	uint64_t accept_after_ms; /* out of descriptors: the listener rests until then */
	pthread_t thread;
	struct mh_client clients[METRICS_HTTP_MAX_CLIENTS];
};

#define MH_DRAIN_MS 1000

static void client_close(struct mh_client *c)
{
	close(c->fd);
	free(c->out);
	c->out = NULL;
	c->fd = -1;
	c->state = MH_FREE;
}

/* Prepares status line, headers and (unless HEAD) body; takes `body`. */
static void client_answer(struct mh_client *c, const char *status, const char *ctype,
			  const char *extra, char *body, size_t body_len, bool head)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			 "Connection: close\r\n\r\n",
			 status, ctype, body_len, extra);
	size_t send_body = head ? 0 : body_len;

	c->out = malloc((size_t)n + send_body);
	if (!c->out) {
		free(body);
		client_close(c);
		return;
	}
	memcpy(c->out, hdr, (size_t)n);
	if (send_body)
		memcpy(c->out + n, body, send_body);
	free(body);
	c->out_len = (size_t)n + send_body;
	c->out_off = 0;
	c->state = MH_WRITE;
}

static void client_error(struct mh_client *c, const char *status, const char *extra, bool head)
{
	size_t n = strlen(status) + 1;
	char *body = malloc(n + 1);

	if (body)
		snprintf(body, n + 1, "%s\n", status);
	client_answer(c, status, "text/plain; charset=utf-8", extra, body, body ? n : 0, head);
}

static void client_request(struct metrics_http *h, struct mh_client *c,
			   const struct metrics_req *req)
{
	if (req->verdict == METRICS_REQ_NOT_FOUND)
		return client_error(c, "404 Not Found", "", req->is_head);
	if (req->verdict == METRICS_REQ_BAD_METHOD)
		return client_error(c, "405 Method Not Allowed", "Allow: GET, HEAD\r\n", false);

	size_t len = 0;
	char *body = metrics_render(h->reg, &len);

	if (!body)
		return client_error(c, "503 Service Unavailable", "", req->is_head);
	client_answer(c, "200 OK", METRICS_CONTENT_TYPE, "", body, len, req->is_head);
}

static void on_client_readable(struct metrics_http *h, struct mh_client *c)
{
	char sink[512];
	struct metrics_req req;
	enum metrics_req_err why;
	ssize_t r;
	int rc;

	if (c->state == MH_WRITE) { /* an error or hang-up while answering */
		client_close(c);
		return;
	}
	if (c->state == MH_DRAIN) {
		r = recv(c->fd, sink, sizeof(sink), 0);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			client_close(c);
		return;
	}
	r = recv(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len, 0);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(c);
		return;
	}
	if (r < 0)
		return;
	c->in_len += (size_t)r;
	rc = metrics_req_parse(c->in, c->in_len, sizeof(c->in) - 1, &req, &why);
	if (rc > 0)
		client_request(h, c, &req);
	else if (rc == -E2BIG)
		client_error(c, "431 Request Header Fields Too Large", "", false);
	else if (rc != -EAGAIN)
		client_error(c, "400 Bad Request", "", false);
}

static void on_client_writable(struct mh_client *c, uint64_t now)
{
	ssize_t w =
	    send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR)
			client_close(c);
		return;
	}
	c->out_off += (size_t)w;
	if (c->out_off < c->out_len)
		return;
	free(c->out);
	c->out = NULL;
	shutdown(c->fd, SHUT_WR);
	c->state = MH_DRAIN;
	if (c->deadline_ms > now + MH_DRAIN_MS)
		c->deadline_ms = now + MH_DRAIN_MS;
}

static struct mh_client *free_slot(struct metrics_http *h)
{
	for (int i = 0; i < METRICS_HTTP_MAX_CLIENTS; i++)
		if (h->clients[i].state == MH_FREE)
			return &h->clients[i];
	return NULL;
}

static void on_accept(struct metrics_http *h, uint64_t now)
{
	struct mh_client *c;
	int fd;

	while ((c = free_slot(h)) != NULL) {
		fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (nofile_accept_exhausted(-errno))
				h->accept_after_ms = now + NOFILE_ACCEPT_RETRY_MS;
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_rl(LOG_LVL_WARN, "metrics: accept: %s", strerror(errno));
			return;
		}
		c->fd = fd;
		c->state = MH_READ;
		c->in_len = 0;
		c->deadline_ms = now + METRICS_HTTP_TIMEOUT_MS;
	}
}

/* Fills pollfds: [0] wake, [1] listener (only while a slot is free, so a full
 * server leaves new connections in the backlog, and not while it rests after
 * running out of descriptors), then clients. */
static nfds_t build_pollset(struct metrics_http *h, struct pollfd *pfd, int *map, uint64_t now,
			    int *timeout)
{
	nfds_t n = 2;
	uint64_t next = UINT64_MAX;

	pfd[0] = (struct pollfd){.fd = h->wake[0], .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = free_slot(h) && now >= h->accept_after_ms ? h->lfd : -1,
				 .events = POLLIN};
	if (h->accept_after_ms > now)
		next = h->accept_after_ms;
	for (int i = 0; i < METRICS_HTTP_MAX_CLIENTS; i++) {
		struct mh_client *c = &h->clients[i];

		if (c->state == MH_FREE)
			continue;
		pfd[n] =
		    (struct pollfd){.fd = c->fd, .events = c->state == MH_WRITE ? POLLOUT : POLLIN};
		map[n++] = i;
		if (c->deadline_ms < next)
			next = c->deadline_ms;
	}
	*timeout = next == UINT64_MAX ? -1 : next <= now ? 0 : (int)(next - now);
	return n;
}

static void *server_main(void *arg)
{
	struct metrics_http *h = arg;
	struct pollfd pfd[METRICS_HTTP_MAX_CLIENTS + 2];
	int map[METRICS_HTTP_MAX_CLIENTS + 2], timeout;

	for (;;) {
		uint64_t now = log_now_ms();
		nfds_t n = build_pollset(h, pfd, map, now, &timeout);

		if (poll(pfd, n, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		now = log_now_ms();
		for (nfds_t i = 2; i < n; i++) {
			struct mh_client *c = &h->clients[map[i]];

			if (pfd[i].revents & POLLOUT)
				on_client_writable(c, now);
			else if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				on_client_readable(h, c);
			if (c->state != MH_FREE && now >= c->deadline_ms)
				client_close(c);
		}
		if (pfd[1].revents & POLLIN)
			on_accept(h, now);
	}
	return NULL;
}

int metrics_http_start(struct metrics_reg *reg, const struct sockaddr *addr, socklen_t addrlen,
		       struct metrics_http **out)
{
	struct metrics_http *h = calloc(1, sizeof(*h));
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int one = 1, err;

	if (!h)
		return -ENOMEM;
	h->reg = reg;
	h->wake[0] = h->wake[1] = -1;
	for (int i = 0; i < METRICS_HTTP_MAX_CLIENTS; i++)
		h->clients[i].fd = -1;
	h->lfd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->lfd < 0 || setsockopt(h->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(h->lfd, addr, addrlen) < 0 || listen(h->lfd, 64) < 0 ||
	    getsockname(h->lfd, (struct sockaddr *)&ss, &sl) < 0 ||
	    pipe2(h->wake, O_CLOEXEC | O_NONBLOCK) < 0)
		goto out_errno;
	if (ss.ss_family == AF_INET)
		h->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6)
		h->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	err = pthread_create(&h->thread, NULL, server_main, h);
	if (err) {
		errno = err;
		goto out_errno;
	}
	*out = h;
	return 0;
out_errno:
	err = -errno;
	if (h->lfd >= 0)
		close(h->lfd);
	if (h->wake[0] >= 0) {
		close(h->wake[0]);
		close(h->wake[1]);
	}
	free(h);
	return err;
}

int metrics_http_port(const struct metrics_http *h)
{
	return h->port;
}

void metrics_http_stop(struct metrics_http *h)
{
	if (!h)
		return;
	while (write(h->wake[1], "x", 1) < 0 && errno == EINTR)
		;
	pthread_join(h->thread, NULL);
	for (int i = 0; i < METRICS_HTTP_MAX_CLIENTS; i++)
		if (h->clients[i].state != MH_FREE)
			client_close(&h->clients[i]);
	close(h->lfd);
	close(h->wake[0]);
	close(h->wake[1]);
	free(h);
}

/* Family name of an exposition line: the third word of "# HELP x"/"# TYPE x",
 * else the first word up to '{' or ' '. */
static bool line_matches(const char *line, size_t len, const char *prefix, size_t plen)
{
	if (len >= 7 && line[0] == '#') {
		line += 7;
		len -= 7;
	}
	return len >= plen && memcmp(line, prefix, plen) == 0;
}

int metrics_admin_cmd(void *arg, int argc, char **argv, struct admin_out *out)
{
	size_t len, plen = argc > 1 ? strlen(argv[1]) : 0;
	char *text, *p, *nl;

	if (argc > 2)
		return admin_fail(out, "usage: metrics [PREFIX]");
	text = metrics_render(arg, &len);
	if (!text)
		return admin_fail(out, "out of memory");
	for (p = text; p < text + len; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(text + len - p));
		if (!nl)
			break;
		if (!plen || line_matches(p, (size_t)(nl - p), argv[1], plen))
			admin_write(out, p, (size_t)(nl - p + 1));
	}
	free(text);
	return 0;
}
