/* The request parser of the /metrics endpoint: a pure codec (no sockets, no
 * malloc) so the fuzzer links it alone. It accepts exactly what a Prometheus
 * scraper, curl or a browser sends: a request line and a head ending in a
 * blank line. */
#ifndef STRATA_METRICS_REQ_H
#define STRATA_METRICS_REQ_H

#include <stddef.h>

enum metrics_req_verdict {
	METRICS_REQ_OK,		/* GET or HEAD of /metrics (query ignored) */
	METRICS_REQ_NOT_FOUND,	/* well-formed, another path: 404 */
	METRICS_REQ_BAD_METHOD, /* well-formed, /metrics, not GET/HEAD: 405 */
	METRICS_REQ__COUNT
};

enum metrics_req_err {
	METRICS_REQ_ERR_NONE,
	METRICS_REQ_ERR_LINE,	 /* not "METHOD SP target SP HTTP/1.x" */
	METRICS_REQ_ERR_METHOD,	 /* method is not upper-case letters */
	METRICS_REQ_ERR_VERSION, /* not HTTP/1.0 or HTTP/1.1 */
	METRICS_REQ_ERR_TOO_BIG, /* no end of head within the limit */
	METRICS_REQ_ERR__COUNT
};

struct metrics_req {
	enum metrics_req_verdict verdict;
	int is_head; /* HEAD: answer without a body */
};

/* Looks at the bytes received so far. Returns the length of the head
 * (> 0) once it is complete and well-formed, filling *out; -EAGAIN when more
 * bytes are needed; -EBADMSG for a malformed request line; -E2BIG when len
 * reaches max without the end of the head. *why says which. Never reads
 * past len. */
int metrics_req_parse(const char *buf, size_t len, size_t max, struct metrics_req *out,
		      enum metrics_req_err *why);

#endif
