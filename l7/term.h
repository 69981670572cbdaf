/* Termination reasons of strata-l7 connections and exchanges: one enum,
 * a short stable name for the access log and metrics, a sentence for the
 * error log (STYLE.md "Errors and ownership"). */
#ifndef STRATA_L7_TERM_H
#define STRATA_L7_TERM_H

/* Why an exchange (or a connection) ended: short names go to the access
 * log, sentences to the error log. */
enum l7_term {
	L7_TERM_OK,
	L7_TERM_CLIENT_CLOSED,	   /* client closed between requests */
	L7_TERM_CLIENT_ABORT,	   /* client closed or reset mid-exchange */
	L7_TERM_HEADER_TIMEOUT,	   /* client_header elapsed */
	L7_TERM_BODY_TIMEOUT,	   /* client_body elapsed */
	L7_TERM_KEEPALIVE_TIMEOUT, /* keepalive elapsed */
	L7_TERM_BAD_REQUEST,	   /* the parser refused the head (4xx/5xx) */
	L7_TERM_BAD_BODY,	   /* malformed chunked request body */
	L7_TERM_TOO_LARGE,	   /* body over max_body (413) */
	L7_TERM_NO_ROUTE,	   /* 404 */
	L7_TERM_LOCAL,		   /* fixed response or redirect */
	L7_TERM_HEALTH,		   /* PPv2 LOCAL health answer */
	L7_TERM_NO_SERVER,	   /* 503: no usable server */
	L7_TERM_CONNECT_ERROR,	   /* connect refused / failed */
	L7_TERM_CONNECT_TIMEOUT,   /* connect timeout */
	L7_TERM_UPSTREAM_RESET,	   /* reset or EOF before a complete response */
	L7_TERM_UPSTREAM_BAD,	   /* malformed response head or body */
	L7_TERM_UPSTREAM_TIMEOUT,  /* read timeout */
	L7_TERM_SEND_TIMEOUT,	   /* send to the upstream stalled */
	L7_TERM_CLIENT_STALLED,	   /* the client stopped reading the response */
	L7_TERM_INTAKE_UNTRUSTED,  /* PROXY header from an untrusted peer */
	L7_TERM_INTAKE_MALFORMED,  /* PROXY header malformed */
	L7_TERM_INTAKE_MISSING,	   /* no PROXY header where required */
	L7_TERM_INTAKE_TIMEOUT,	   /* PROXY header incomplete in time */
	L7_TERM_DRAIN,		   /* closed idle while draining */
	L7_TERM_INTERNAL,	   /* out of memory or ring full */
	L7_TERM_TUNNEL_DONE,	   /* a tunnel ended */
	L7_TERM_RELOAD,		   /* listener removed by a reload */
	L7_TERM_TLS,		   /* TLS handshake or record layer failed (tls.h reason) */
	L7_TERM_H2,		   /* HTTP/2 connection error or abuse (h2.h reason) */
	L7_TERM_INTAKE_PER_IP,	   /* max_conns_per_ip (traffic.h) */
	L7_TERM_RATE_LIMITED,	   /* 429 from a rate limit */
	L7_TERM_BREAKER_OPEN,	   /* 503: circuit breakers open */
	L7_TERM_OVERFLOW,	   /* 503: max_requests / max_pending */
	L7_TERM__COUNT
};

const char *l7_term_name(enum l7_term t);
const char *l7_term_text(enum l7_term t);
/* NULL-terminated list of short names, for the metrics registry. */
extern const char *const l7_term_names[L7_TERM__COUNT + 1];

#endif
