/* HTTP/1.x request head parser (RFC 9112 §2-§5); see echo_http.h. */
#include "echo_http.h"

#include <errno.h>
#include <strings.h>
#include <string.h>

/* Byte classes, one bit each. */
enum {
	CH_TCHAR = 1, /* token character, RFC 9110 §5.6.2 */
	CH_VCHAR = 2, /* visible or obs-text: allowed in targets and values */
};

#define R(a, b) [a... b]

static const unsigned char ch_class[256] = {
    ['!'] = CH_TCHAR | CH_VCHAR,
    ['"'] = CH_VCHAR,
    R('#', '\'') = CH_TCHAR | CH_VCHAR,
    R('(', ')') = CH_VCHAR,
    R('*', '+') = CH_TCHAR | CH_VCHAR,
    [','] = CH_VCHAR,
    R('-', '.') = CH_TCHAR | CH_VCHAR,
    ['/'] = CH_VCHAR,
    R('0', '9') = CH_TCHAR | CH_VCHAR,
    R(':', '@') = CH_VCHAR,
    R('A', 'Z') = CH_TCHAR | CH_VCHAR,
    ['['] = CH_VCHAR,
    ['\\'] = CH_VCHAR,
    [']'] = CH_VCHAR,
    R('^', '`') = CH_TCHAR | CH_VCHAR,
    R('a', 'z') = CH_TCHAR | CH_VCHAR,
    ['{'] = CH_VCHAR,
    ['|'] = CH_TCHAR | CH_VCHAR,
    ['}'] = CH_VCHAR,
    ['~'] = CH_TCHAR | CH_VCHAR,
    R(0x80, 0xff) = CH_VCHAR,
};

#undef R

static inline bool is_tchar(unsigned char c)
{
	return ch_class[c] & CH_TCHAR;
}

static inline bool is_vchar(unsigned char c)
{
	return ch_class[c] & CH_VCHAR;
}

static inline bool is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

bool echo_span_ieq(struct echo_span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && strncasecmp(s.ptr, lit, n) == 0;
}

/* Index just past the empty line that ends the head, or 0. Looks for "\n\n"
 * or "\n\r\n" from `from` on: RFC 9112 §2.2 lets a recipient take a bare LF
 * as a line terminator. */
static size_t find_head_end(const char *buf, size_t len, size_t from)
{
	const char *p = buf + from, *end = buf + len;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
		p++;
		if (p < end && p[0] == '\n')
			return (size_t)(p + 1 - buf);
		if (p + 1 < end && p[0] == '\r' && p[1] == '\n')
			return (size_t)(p + 2 - buf);
	}
	return 0;
}

/* Length of the line at p without its terminator; *next is past it. The
 * caller has checked that a '\n' lies before `end`. */
static size_t line_len(const char *p, const char *end, const char **next)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t n = (size_t)(nl - p);

	*next = nl + 1;
	if (n && p[n - 1] == '\r')
		n--;
	return n;
}

/* RFC 9112 §3: method SP request-target SP HTTP-version. One SP each. */
static int parse_request_line(const char *p, size_t n, struct echo_http_req *req,
			      enum echo_http_why *why)
{
	size_t i = 0, j;

	while (i < n && is_tchar((unsigned char)p[i]))
		i++;
	if (i == 0 || i == n || p[i] != ' ') {
		*why = ECHO_HTTP_BAD_METHOD;
		return -EBADMSG;
	}
	j = i + 1;
	while (j < n && is_vchar((unsigned char)p[j]))
		j++;
	if (j == i + 1 || j == n || p[j] != ' ') {
		*why = ECHO_HTTP_BAD_TARGET;
		return -EBADMSG;
	}
	req->method = (struct echo_span){p, i};
	req->target = (struct echo_span){p + i + 1, j - i - 1};
	p += j + 1;
	n -= j + 1;
	/* RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT */
	if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[5] < '0' || p[5] > '9' || p[6] != '.' ||
	    p[7] < '0' || p[7] > '9') {
		*why = ECHO_HTTP_BAD_VERSION;
		return -EBADMSG;
	}
	if (p[5] != '1') {
		*why = ECHO_HTTP_VERSION_UNSUPPORTED;
		return -EBADMSG;
	}
	req->minor = p[7] - '0';
	return 0;
}

/* RFC 9112 §5: field-name ":" OWS field-value OWS. */
static int parse_field_line(const char *p, size_t n, struct echo_http_req *req,
			    enum echo_http_why *why)
{
	struct echo_http_header *h;
	size_t i = 0, v, e;

	/* §5.2: obs-fold is refused rather than unfolded. */
	if (n && is_ows((unsigned char)p[0])) {
		*why = ECHO_HTTP_OBS_FOLD;
		return -EBADMSG;
	}
	while (i < n && is_tchar((unsigned char)p[i]))
		i++;
	/* §5.1: no whitespace between the field name and the colon. */
	if (i < n && is_ows((unsigned char)p[i])) {
		*why = ECHO_HTTP_SPACE_BEFORE_COLON;
		return -EBADMSG;
	}
	if (i == 0 || i == n || p[i] != ':') {
		*why = ECHO_HTTP_BAD_FIELD_NAME;
		return -EBADMSG;
	}
	v = i + 1;
	while (v < n && is_ows((unsigned char)p[v]))
		v++;
	for (e = v; e < n; e++) {
		if (!is_vchar((unsigned char)p[e]) && !is_ows((unsigned char)p[e])) {
			*why = ECHO_HTTP_BAD_FIELD_VALUE;
			return -EBADMSG;
		}
	}
	while (e > v && is_ows((unsigned char)p[e - 1]))
		e--;
	if (req->nheaders == ECHO_HTTP_MAX_HEADERS) {
		*why = ECHO_HTTP_TOO_MANY_HEADERS;
		return -E2BIG;
	}
	h = &req->headers[req->nheaders++];
	h->name = (struct echo_span){p, i};
	h->value = (struct echo_span){p + v, e - v};
	return 0;
}

/* RFC 9112 §2.2: skip a few empty lines before the request line. Returns the
 * offset of the request line, -EAGAIN or -EBADMSG. */
static int skip_empty_lines(const char *buf, size_t len, enum echo_http_why *why)
{
	size_t i = 0;
	int lines = 0;

	while (i < len && (buf[i] == '\r' || buf[i] == '\n')) {
		if (buf[i] == '\r') {
			if (i + 1 == len)
				return -EAGAIN;
			if (buf[i + 1] != '\n')
				goto bad;
			i++;
		}
		i++;
		if (++lines > ECHO_HTTP_MAX_EMPTY)
			goto bad;
	}
	return (int)i;
bad:
	*why = ECHO_HTTP_BAD_LINE;
	return -EBADMSG;
}

/* The head is incomplete: refuse it now if it is already too large or its
 * request line is visibly wrong, so garbage gets a 400 without a wait. */
static int check_partial(const char *buf, size_t len, size_t start, struct echo_http_req *req,
			 enum echo_http_why *why)
{
	const char *nl = memchr(buf + start, '\n', len - start), *next;
	size_t i, n;
	int r;

	if (len >= ECHO_HTTP_MAX_HEAD) {
		*why = nl ? ECHO_HTTP_HEAD_TOO_LARGE : ECHO_HTTP_LINE_TOO_LONG;
		return -E2BIG;
	}
	if (nl) {
		n = line_len(buf + start, buf + len, &next);
		r = parse_request_line(buf + start, n, req, why);
		return r < 0 ? r : -EAGAIN;
	}
	for (i = start; i < len && buf[i] != ' '; i++) {
		if (!is_tchar((unsigned char)buf[i])) {
			*why = ECHO_HTTP_BAD_METHOD;
			return -EBADMSG;
		}
	}
	return -EAGAIN;
}

int echo_http_parse_request(const char *buf, size_t len, size_t scanned, struct echo_http_req *req,
			    enum echo_http_why *why)
{
	const char *p, *end;
	size_t from, head_end, n;
	int start, r;

	start = skip_empty_lines(buf, len, why);
	if (start < 0)
		return start;
	from = scanned >= 2 ? scanned - 2 : 0;
	if (from < (size_t)start)
		from = (size_t)start;
	req->nheaders = 0;
	head_end = find_head_end(buf, len, from);
	if (!head_end)
		return check_partial(buf, len, (size_t)start, req, why);
	if (head_end > ECHO_HTTP_MAX_HEAD) {
		*why = ECHO_HTTP_HEAD_TOO_LARGE;
		return -E2BIG;
	}
	p = buf + start;
	end = buf + head_end;
	n = line_len(p, end, &p);
	r = parse_request_line(buf + start, n, req, why);
	if (r < 0)
		return r;
	for (;;) {
		const char *line = p;

		n = line_len(line, end, &p);
		if (n == 0)
			break;
		r = parse_field_line(line, n, req, why);
		if (r < 0)
			return r;
	}
	return (int)head_end;
}

static const struct {
	int status;
	const char *str;
} why_info[ECHO_HTTP_WHY__COUNT] = {
    [ECHO_HTTP_OK] = {200, "ok"},
    [ECHO_HTTP_BAD_METHOD] = {400, "malformed method"},
    [ECHO_HTTP_BAD_TARGET] = {400, "malformed request target"},
    [ECHO_HTTP_BAD_VERSION] = {400, "malformed HTTP version"},
    [ECHO_HTTP_VERSION_UNSUPPORTED] = {505, "HTTP major version is not 1"},
    [ECHO_HTTP_BAD_LINE] = {400, "malformed line ending"},
    [ECHO_HTTP_BAD_FIELD_NAME] = {400, "malformed header field name"},
    [ECHO_HTTP_SPACE_BEFORE_COLON] = {400, "whitespace before the colon of a header"},
    [ECHO_HTTP_OBS_FOLD] = {400, "obsolete line folding"},
    [ECHO_HTTP_BAD_FIELD_VALUE] = {400, "forbidden character in a header value"},
    [ECHO_HTTP_LINE_TOO_LONG] = {414, "request line too long"},
    [ECHO_HTTP_HEAD_TOO_LARGE] = {431, "request header section too large"},
    [ECHO_HTTP_TOO_MANY_HEADERS] = {431, "too many header fields"},
    [ECHO_HTTP_BAD_CONTENT_LENGTH] = {400, "invalid Content-Length"},
    [ECHO_HTTP_CL_AND_TE] = {400, "both Content-Length and Transfer-Encoding"},
    [ECHO_HTTP_TE_NOT_CHUNKED] = {400, "Transfer-Encoding does not end in chunked"},
    [ECHO_HTTP_TE_UNKNOWN] = {501, "unsupported transfer coding"},
    [ECHO_HTTP_TE_IN_HTTP10] = {400, "Transfer-Encoding in an HTTP/1.0 request"},
    [ECHO_HTTP_EXPECT_UNKNOWN] = {417, "unsupported expectation"},
    [ECHO_HTTP_BAD_CHUNK] = {400, "malformed chunked body"},
    [ECHO_HTTP_CHUNK_TOO_BIG] = {400, "chunk size or chunk line too large"},
    [ECHO_HTTP_BAD_PARAM] = {400, "bad parameter in the path"},
    [ECHO_HTTP_BAD_WS_KEY] = {400, "missing or malformed Sec-WebSocket-Key"},
    [ECHO_HTTP_WS_VERSION] = {426, "unsupported Sec-WebSocket-Version"},
};

int echo_http_why_status(enum echo_http_why why)
{
	return (unsigned)why < ECHO_HTTP_WHY__COUNT ? why_info[why].status : 400;
}

const char *echo_http_why_str(enum echo_http_why why)
{
	return (unsigned)why < ECHO_HTTP_WHY__COUNT ? why_info[why].str : "?";
}
