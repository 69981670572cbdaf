/* Incremental chunked transfer coding decoder; see echo_chunked.h. */
#include "echo_chunked.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

void echo_chunked_init(struct echo_chunked *ck)
{
	ck->state = ECHO_CK_SIZE;
	ck->left = 0;
	ck->trailer_bytes = 0;
}

/* Finds the end of a line in buf; returns its length with terminator, 0 when
 * incomplete, or -E2BIG past the line limit. *n is the length without it. */
static long find_line(const char *buf, size_t len, size_t *n)
{
	size_t lim = len < ECHO_CHUNKED_MAX_LINE ? len : ECHO_CHUNKED_MAX_LINE;
	const char *nl = memchr(buf, '\n', lim);

	if (!nl)
		return len >= ECHO_CHUNKED_MAX_LINE ? -E2BIG : 0;
	*n = (size_t)(nl - buf);
	if (*n && buf[*n - 1] == '\r')
		(*n)--;
	return nl - buf + 1;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* chunk-size [chunk-ext] CRLF, chunk-size = 1*HEXDIG. Extensions
 * (";name=value") are skipped but must hold no control characters. */
static int parse_size_line(struct echo_chunked *ck, const char *p, size_t n,
			   enum echo_http_why *why)
{
	uint64_t size = 0;
	size_t i = 0;
	int d;

	while (i < n && (d = hexval((unsigned char)p[i])) >= 0) {
		if (size >> 60) {
			*why = ECHO_HTTP_CHUNK_TOO_BIG;
			return -E2BIG;
		}
		size = size << 4 | (uint64_t)d;
		i++;
	}
	if (i == 0)
		goto bad;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i < n && p[i] != ';')
		goto bad;
	for (; i < n; i++)
		if ((unsigned char)p[i] < 0x20 && p[i] != '\t')
			goto bad;
	ck->left = size;
	ck->state = size ? ECHO_CK_DATA : ECHO_CK_TRAILER;
	return 0;
bad:
	*why = ECHO_HTTP_BAD_CHUNK;
	return -EBADMSG;
}

static int on_line(struct echo_chunked *ck, const char *buf, size_t len, enum echo_http_why *why)
{
	size_t n = 0;
	long used = find_line(buf, len, &n);
	int r;

	if (used == 0)
		return -EAGAIN;
	if (used < 0) {
		*why = ECHO_HTTP_CHUNK_TOO_BIG;
		return -E2BIG;
	}
	if (ck->state == ECHO_CK_SIZE) {
		r = parse_size_line(ck, buf, n, why);
		return r < 0 ? r : (int)used;
	}
	/* Trailer section (RFC 9112 §7.1.2): field lines, then an empty line. */
	ck->trailer_bytes += (size_t)used;
	if (ck->trailer_bytes > ECHO_CHUNKED_MAX_TRAILERS) {
		*why = ECHO_HTTP_HEAD_TOO_LARGE;
		return -E2BIG;
	}
	if (n == 0)
		ck->state = ECHO_CK_DONE;
	else if (!memchr(buf, ':', n) || buf[0] == ' ' || buf[0] == '\t')
		goto bad;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 && buf[i] != '\t')
			goto bad;
	return (int)used;
bad:
	*why = ECHO_HTTP_BAD_CHUNK;
	return -EBADMSG;
}

int echo_chunked_next(struct echo_chunked *ck, const char *buf, size_t len, struct echo_span *data,
		      enum echo_http_why *why)
{
	size_t n;

	data->ptr = buf;
	data->len = 0;
	switch (ck->state) {
	case ECHO_CK_SIZE:
	case ECHO_CK_TRAILER:
		return on_line(ck, buf, len, why);
	case ECHO_CK_DATA:
		if (len == 0)
			return -EAGAIN;
		n = len < ck->left ? len : (size_t)ck->left;
		if (n > INT_MAX)
			n = INT_MAX;
		ck->left -= n;
		if (ck->left == 0)
			ck->state = ECHO_CK_DATA_END;
		data->len = n;
		return (int)n;
	case ECHO_CK_DATA_END:
		if (len == 0 || (buf[0] == '\r' && len == 1))
			return -EAGAIN;
		n = buf[0] == '\n' ? 1 : (buf[0] == '\r' && buf[1] == '\n') ? 2 : 0;
		if (n) {
			ck->state = ECHO_CK_SIZE;
			return (int)n;
		}
		*why = ECHO_HTTP_BAD_CHUNK;
		return -EBADMSG;
	default:
		return -EINVAL;
	}
}
