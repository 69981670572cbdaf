/* Which of strata-echo's endpoints a request target names, and its
 * parameter. Pure: looks only at the target bytes. */
#ifndef STRATA_ECHO_ROUTE_H
#define STRATA_ECHO_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#include "echo_http.h"

/* /size/N answers at most this many bytes. */
#define ECHO_ROUTE_MAX_SIZE (1ull << 30)
/* /delay/MS waits at most this long. */
#define ECHO_ROUTE_MAX_DELAY_MS 600000u

enum echo_route_kind {
	ECHO_R_ECHO,	  /* any other path: the JSON echo */
	ECHO_R_ECHO_BODY, /* /echo-body: the request body back */
	ECHO_R_SIZE,	  /* /size/N[?chunked=1] */
	ECHO_R_STATUS,	  /* /status/CODE */
	ECHO_R_DELAY,	  /* /delay/MS */
	ECHO_R_CLOSE,	  /* /close */
	ECHO_R_STATS,	  /* /stats */
	ECHO_R_HEALTHZ,	  /* /healthz */
	ECHO_R__COUNT
};

struct echo_route {
	enum echo_route_kind kind;
	uint64_t arg; /* N, CODE or MS */
	bool chunked; /* /size/N?chunked=1 */
};

/* Maps a request target (origin-form, or absolute-form whose path is used)
 * to a route. Returns 0, or -EBADMSG (*why = ECHO_HTTP_BAD_PARAM) for a
 * special path with a bad or out-of-range number. */
int echo_route_parse(struct echo_span target, struct echo_route *out, enum echo_http_why *why);

const char *echo_route_name(enum echo_route_kind kind);

#endif
