/* Names and sentences of the termination reasons (term.h). */
#include "term.h"

#include <stddef.h>

static const char *const term_names[L7_TERM__COUNT] = {
    [L7_TERM_OK] = "ok",
    [L7_TERM_CLIENT_CLOSED] = "client_closed",
    [L7_TERM_CLIENT_ABORT] = "client_abort",
    [L7_TERM_HEADER_TIMEOUT] = "header_timeout",
    [L7_TERM_BODY_TIMEOUT] = "body_timeout",
    [L7_TERM_KEEPALIVE_TIMEOUT] = "keepalive_timeout",
    [L7_TERM_BAD_REQUEST] = "bad_request",
    [L7_TERM_BAD_BODY] = "bad_body",
    [L7_TERM_TOO_LARGE] = "too_large",
    [L7_TERM_NO_ROUTE] = "no_route",
    [L7_TERM_LOCAL] = "local",
    [L7_TERM_HEALTH] = "health",
    [L7_TERM_NO_SERVER] = "no_server",
    [L7_TERM_CONNECT_ERROR] = "connect_error",
    [L7_TERM_CONNECT_TIMEOUT] = "connect_timeout",
    [L7_TERM_UPSTREAM_RESET] = "upstream_reset",
    [L7_TERM_UPSTREAM_BAD] = "upstream_bad",
    [L7_TERM_UPSTREAM_TIMEOUT] = "upstream_timeout",
    [L7_TERM_SEND_TIMEOUT] = "send_timeout",
    [L7_TERM_CLIENT_STALLED] = "client_stalled",
    [L7_TERM_INTAKE_UNTRUSTED] = "intake_untrusted",
    [L7_TERM_INTAKE_MALFORMED] = "intake_malformed",
    [L7_TERM_INTAKE_MISSING] = "intake_missing",
    [L7_TERM_INTAKE_TIMEOUT] = "intake_timeout",
    [L7_TERM_DRAIN] = "drain",
    [L7_TERM_INTERNAL] = "internal",
    [L7_TERM_TUNNEL_DONE] = "tunnel_done",
    [L7_TERM_RELOAD] = "reload",
    [L7_TERM_TLS] = "tls",
    [L7_TERM_H2] = "h2",
};

const char *const l7_term_names[L7_TERM__COUNT + 1] = {"ok",
						       "client_closed",
						       "client_abort",
						       "header_timeout",
						       "body_timeout",
						       "keepalive_timeout",
						       "bad_request",
						       "bad_body",
						       "too_large",
						       "no_route",
						       "local",
						       "health",
						       "no_server",
						       "connect_error",
						       "connect_timeout",
						       "upstream_reset",
						       "upstream_bad",
						       "upstream_timeout",
						       "send_timeout",
						       "client_stalled",
						       "intake_untrusted",
						       "intake_malformed",
						       "intake_missing",
						       "intake_timeout",
						       "drain",
						       "internal",
						       "tunnel_done",
						       "reload",
						       "tls",
						       "h2",
						       NULL};

static const char *const term_texts[L7_TERM__COUNT] = {
    [L7_TERM_OK] = "completed",
    [L7_TERM_CLIENT_CLOSED] = "client closed the connection between requests",
    [L7_TERM_CLIENT_ABORT] = "client closed or reset the connection mid-exchange",
    [L7_TERM_HEADER_TIMEOUT] = "request head not complete within client_header",
    [L7_TERM_BODY_TIMEOUT] = "request body stalled for client_body",
    [L7_TERM_KEEPALIVE_TIMEOUT] = "idle keep-alive connection timed out",
    [L7_TERM_BAD_REQUEST] = "request head refused by the parser",
    [L7_TERM_BAD_BODY] = "malformed chunked request body",
    [L7_TERM_TOO_LARGE] = "request body over the route's max_body",
    [L7_TERM_NO_ROUTE] = "no route matched",
    [L7_TERM_LOCAL] = "fixed response or redirect",
    [L7_TERM_HEALTH] = "health answer on a PPv2 LOCAL connection",
    [L7_TERM_NO_SERVER] = "no usable server in the upstream",
    [L7_TERM_CONNECT_ERROR] = "upstream connect failed",
    [L7_TERM_CONNECT_TIMEOUT] = "upstream connect timed out",
    [L7_TERM_UPSTREAM_RESET] = "upstream closed or reset before the response was complete",
    [L7_TERM_UPSTREAM_BAD] = "malformed upstream response",
    [L7_TERM_UPSTREAM_TIMEOUT] = "upstream response timed out",
    [L7_TERM_SEND_TIMEOUT] = "sending to the upstream timed out",
    [L7_TERM_CLIENT_STALLED] = "client stopped reading the response",
    [L7_TERM_INTAKE_UNTRUSTED] = "PROXY header from an untrusted peer",
    [L7_TERM_INTAKE_MALFORMED] = "malformed PROXY header",
    [L7_TERM_INTAKE_MISSING] = "PROXY header missing where required",
    [L7_TERM_INTAKE_TIMEOUT] = "PROXY header not complete in time",
    [L7_TERM_DRAIN] = "idle connection closed while draining",
    [L7_TERM_INTERNAL] = "internal error (memory or ring)",
    [L7_TERM_TUNNEL_DONE] = "tunnel closed",
    [L7_TERM_RELOAD] = "listener removed by a reload",
    [L7_TERM_TLS] = "TLS handshake or record layer failed",
    [L7_TERM_H2] = "HTTP/2 connection error or abuse defence",
};

const char *l7_term_name(enum l7_term t)
{
	return t < L7_TERM__COUNT ? term_names[t] : "?";
}

const char *l7_term_text(enum l7_term t)
{
	return t < L7_TERM__COUNT ? term_texts[t] : "?";
}
