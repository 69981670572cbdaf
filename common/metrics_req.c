/* The /metrics request parser; see metrics_req.h. */
#include "metrics_req.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static bool is_method_char(char ch)
{
	return ch >= 'A' && ch <= 'Z';
}

/* Returns the offset just past the blank line ending the head, or 0. Bare
 * LF line ends are tolerated here: this endpoint answers monitoring tools,
 * not proxied traffic, so leniency costs nothing. */
static size_t head_end(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] != '\n')
			continue;
		if (p[i + 1] == '\n')
			return i + 2;
		if (p[i + 1] == '\r' && i + 2 < n && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static int fail(enum metrics_req_err *why, enum metrics_req_err e)
{
	*why = e;
	return e == METRICS_REQ_ERR_TOO_BIG ? -E2BIG : -EBADMSG;
}

/* RFC 9112 §3: request-line = method SP request-target SP HTTP-version. */
static int parse_line(const char *line, size_t len, struct metrics_req *out,
		      enum metrics_req_err *why)
{
	const char *sp1 = memchr(line, ' ', len), *sp2, *ver;
	size_t mlen, tlen, vlen;

	if (len && line[len - 1] == '\r')
		len--;
	if (!sp1 || sp1 == line)
		return fail(why, METRICS_REQ_ERR_LINE);
	sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line));
	if (!sp2 || sp2 == sp1 + 1)
		return fail(why, METRICS_REQ_ERR_LINE);
	mlen = (size_t)(sp1 - line);
	tlen = (size_t)(sp2 - sp1 - 1);
	ver = sp2 + 1;
	vlen = len - (size_t)(ver - line);
	for (size_t i = 0; i < mlen; i++)
		if (!is_method_char(line[i]))
			return fail(why, METRICS_REQ_ERR_METHOD);
	if (vlen != 8 || (memcmp(ver, "HTTP/1.1", 8) != 0 && memcmp(ver, "HTTP/1.0", 8) != 0))
		return fail(why, METRICS_REQ_ERR_VERSION);
	out->is_head = mlen == 4 && memcmp(line, "HEAD", 4) == 0;
	if (!(tlen == 8 || (tlen > 8 && sp1[9] == '?')) || memcmp(sp1 + 1, "/metrics", 8) != 0)
		out->verdict = METRICS_REQ_NOT_FOUND;
	else if (out->is_head || (mlen == 3 && memcmp(line, "GET", 3) == 0))
		out->verdict = METRICS_REQ_OK;
	else
		out->verdict = METRICS_REQ_BAD_METHOD;
	return 0;
}

int metrics_req_parse(const char *buf, size_t len, size_t max, struct metrics_req *out,
		      enum metrics_req_err *why)
{
	size_t end, line_len;
	const char *lf;
	int rc;

	*why = METRICS_REQ_ERR_NONE;
	if (len > max)
		len = max;
	end = head_end(buf, len);
	if (!end)
		return len >= max ? fail(why, METRICS_REQ_ERR_TOO_BIG) : -EAGAIN;
	lf = memchr(buf, '\n', end);
	line_len = (size_t)(lf - buf);
	rc = parse_line(buf, line_len, out, why);
	return rc < 0 ? rc : (int)end;
}
