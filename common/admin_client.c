/* Admin socket client: one request, one answer, bounded in time. Used by
 * stratactl and the tests. The caller owns the reply and its callback. */
#include "admin.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

struct reader {
	char *buf;
	size_t start, len; /* unconsumed bytes are buf[start, len) */
	struct admin_reply *r;
};

static int set_msg(struct admin_reply *r, int err, const char *what)
{
	snprintf(r->message, sizeof(r->message), "%s", what);
	return err;
}

static int remaining_ms(uint64_t deadline)
{
	uint64_t now = log_now_ms();

	return now >= deadline ? 0 : (int)(deadline - now);
}

/* Blocking connect bounded by SO_SNDTIMEO: a unix listener with a full
 * backlog makes connect wait (and a non-blocking one fail with EAGAIN). */
static int open_conn(const char *path, int timeout_ms, struct admin_reply *r)
{
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, err;

	if (strlen(path) >= sizeof(sun.sun_path))
		return set_msg(r, -ENAMETOOLONG, strerror(ENAMETOOLONG));
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return set_msg(r, -errno, strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		err = errno == EAGAIN || errno == EINPROGRESS ? ETIMEDOUT : errno;
		close(fd);
		return set_msg(r, -err, strerror(err));
	}
	r->connected = true;
	return fd;
}

static int send_all(int fd, const char *p, size_t n, uint64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};

	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (poll(&pfd, 1, remaining_ms(deadline)) == 0)
			return -ETIMEDOUT;
	}
	return 0;
}

/* Hands every complete line to the callback except the last one seen, which
 * may be the status line: it is only known to be body once another line
 * follows it. */
static void emit_body_lines(struct reader *rd)
{
	for (;;) {
		char *b = rd->buf + rd->start;
		size_t avail = rd->len - rd->start;
		char *nl = memchr(b, '\n', avail);

		if (!nl || !memchr(nl + 1, '\n', avail - (size_t)(nl + 1 - b)))
			return;
		if (rd->r->on_line)
			rd->r->on_line(rd->r->arg, b, (size_t)(nl - b));
		rd->start += (size_t)(nl + 1 - b);
	}
}

/* What is left at EOF is the status line (its '\n' is optional). */
static int parse_status(struct reader *rd)
{
	char *s = rd->buf + rd->start;
	size_t n = rd->len - rd->start;

	if (n && s[n - 1] == '\n')
		n--;
	if (n && s[n - 1] == '\r')
		n--;
	if (memchr(s, '\n', n))
		return set_msg(rd->r, -EPROTO, "malformed answer");
	if (n == 2 && memcmp(s, "OK", 2) == 0)
		return 0;
	if (n >= 4 && memcmp(s, "ERR ", 4) == 0) {
		snprintf(rd->r->message, sizeof(rd->r->message), "%.*s", (int)(n - 4), s + 4);
		return 1;
	}
	if (n == 3 && memcmp(s, "ERR", 3) == 0)
		return set_msg(rd->r, 1, "");
	return set_msg(rd->r, -EPROTO,
		       n ? "answer without a status line" : "connection closed without an answer");
}

static int read_answer(int fd, struct reader *rd, uint64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	const size_t cap = 2 * (ADMIN_CLIENT_LINE_MAX + 1);

	for (;;) {
		ssize_t n;

		if (rd->start && rd->len == cap) { /* compact */
			memmove(rd->buf, rd->buf + rd->start, rd->len - rd->start);
			rd->len -= rd->start;
			rd->start = 0;
		}
		if (rd->len == cap)
			return set_msg(rd->r, -EMSGSIZE, "answer line too long");
		n = recv(fd, rd->buf + rd->len, cap - rd->len, MSG_DONTWAIT);
		if (n == 0)
			return parse_status(rd);
		if (n > 0) {
			rd->len += (size_t)n;
			emit_body_lines(rd);
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			return set_msg(rd->r, -errno, strerror(errno));
		if (poll(&pfd, 1, remaining_ms(deadline)) == 0)
			return set_msg(rd->r, -ETIMEDOUT, "no complete answer in time");
	}
}

int admin_request(const char *path, const char *line, struct admin_reply *r, int timeout_ms)
{
	uint64_t deadline = log_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 1);
	struct reader rd = {.r = r};
	size_t n = strlen(line);
	char *req;
	int fd, ret;

	r->connected = false;
	r->message[0] = '\0';
	if (memchr(line, '\n', n))
		return set_msg(r, -EINVAL, "the request holds a newline");
	fd = open_conn(path, timeout_ms > 0 ? timeout_ms : 1, r);
	if (fd < 0)
		return fd;
	req = malloc(n + 1);
	rd.buf = malloc(2 * (ADMIN_CLIENT_LINE_MAX + 1));
	if (!req || !rd.buf) {
		ret = set_msg(r, -ENOMEM, strerror(ENOMEM));
		goto out;
	}
	memcpy(req, line, n);
	req[n] = '\n';
	ret = send_all(fd, req, n + 1, deadline);
	if (ret == -EPIPE || ret == -ECONNRESET)
		ret = 0; /* the server may answer (line too long) before reading all */
	if (ret < 0)
		set_msg(r, ret, ret == -ETIMEDOUT ? "request not sent in time" : strerror(-ret));
	else
		ret = read_answer(fd, &rd, deadline);
out:
	free(req);
	free(rd.buf);
	close(fd);
	return ret;
}
