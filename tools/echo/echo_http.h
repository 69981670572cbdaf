/* HTTP/1.x request head parser for strata-echo (RFC 9112 §2-§5).
 *
 * Pure codec: bytes in, views out. No allocation, no I/O, no logging; it
 * never reads past `len`. Parsed values are views (ptr, len) into the
 * caller's buffer and stay valid only while that buffer is unchanged.
 */
#ifndef STRATA_ECHO_HTTP_H
#define STRATA_ECHO_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* Request line + header fields + the empty line; more is 431 (RFC 6585 §5). */
#define ECHO_HTTP_MAX_HEAD 65536
/* Header fields kept per request; more is 431 too. */
#define ECHO_HTTP_MAX_HEADERS 512
/* Leading empty lines skipped before a request line (RFC 9112 §2.2). */
#define ECHO_HTTP_MAX_EMPTY 8

struct echo_span {
	const char *ptr;
	size_t len;
};

struct echo_http_header {
	struct echo_span name;	/* as received */
	struct echo_span value; /* without leading and trailing OWS */
};

struct echo_http_req {
	struct echo_span method;
	struct echo_span target;
	int minor; /* HTTP/1.minor */
	size_t nheaders;
	struct echo_http_header headers[ECHO_HTTP_MAX_HEADERS];
};

/* Why a request (or its body framing) was refused; each maps to a status. */
enum echo_http_why {
	ECHO_HTTP_OK,
	ECHO_HTTP_BAD_METHOD,
	ECHO_HTTP_BAD_TARGET,
	ECHO_HTTP_BAD_VERSION,
	ECHO_HTTP_VERSION_UNSUPPORTED,
	ECHO_HTTP_BAD_LINE,
	ECHO_HTTP_BAD_FIELD_NAME,
	ECHO_HTTP_SPACE_BEFORE_COLON,
	ECHO_HTTP_OBS_FOLD,
	ECHO_HTTP_BAD_FIELD_VALUE,
	ECHO_HTTP_LINE_TOO_LONG,
	ECHO_HTTP_HEAD_TOO_LARGE,
	ECHO_HTTP_TOO_MANY_HEADERS,
	ECHO_HTTP_BAD_CONTENT_LENGTH,
	ECHO_HTTP_CL_AND_TE,
	ECHO_HTTP_TE_NOT_CHUNKED,
	ECHO_HTTP_TE_UNKNOWN,
	ECHO_HTTP_TE_IN_HTTP10,
	ECHO_HTTP_EXPECT_UNKNOWN,
	ECHO_HTTP_BAD_CHUNK,
	ECHO_HTTP_CHUNK_TOO_BIG,
	ECHO_HTTP_BAD_PARAM,
	ECHO_HTTP_BAD_WS_KEY,
	ECHO_HTTP_WS_VERSION,
	ECHO_HTTP_WHY__COUNT
};

/* Parses one request head from buf[0..len). `scanned` is how many bytes of
 * the same head an earlier call already saw without finding its end (0 the
 * first time), so a head that trickles in is not searched from the start
 * each time.
 * Returns > 0: bytes of the head consumed (leading empty lines included);
 * -EAGAIN: incomplete; -EBADMSG: malformed; -E2BIG: over a limit above.
 * *why is set on errors. */
int echo_http_parse_request(const char *buf, size_t len, size_t scanned, struct echo_http_req *req,
			    enum echo_http_why *why);

/* The status a refusal answers with (400, 414, 417, 426, 431, 501, 505). */
int echo_http_why_status(enum echo_http_why why);

/* A short reason for logs and error bodies. */
const char *echo_http_why_str(enum echo_http_why why);

/* Case-insensitive equality of a span and a NUL-terminated string. */
bool echo_span_ieq(struct echo_span s, const char *lit);

#endif
